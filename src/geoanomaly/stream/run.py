"""A streamed grid run: sample -> fit -> score window by window -> thresholds -> classes -> report.

1. Draw the sample (stream/sample.py) and run the in-memory preparation on it
   (``pipeline.prepare``: cleaning, target elements, transform): every decision the in-memory
   path makes from whole columns is made here from the sample, with the same code.
2. Fit the detector on the sample, as ``pipeline.detect_and_validate`` fits it on all rows.
3. Score the sample once more through the per-window path: its sorted raw scores are what each
   cell's percentile rank is read from (the spatial context).
4. Score every window (threads here, or the workers of a Dask scheduler), writing anomaly.tif
   window by window and keeping the final scores of the probe cells: the sample, from which the
   thresholds are taken, and the deposits' cells, the positives of protocol "samples".
5. Classes from the thresholds (a second, one-band pass over anomaly.tif), validation, the maps
   published as COGs, the report; everything through the atomic staging folder.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .sample import quantile_error


@dataclass
class StreamedRunResult:
    """What a streamed run produced. ``scores`` / ``classes`` are those of the sampled cells
    (the whole map is in anomaly.tif / classes.tif)."""

    config: object
    data: object  # PreparedData of the sample
    detector: object
    scores: np.ndarray
    classes: np.ndarray
    thresholds: object
    metrics: dict | None
    out_dir: Path
    files: list[str]
    seconds: float
    streamed: dict
    score_std: None = None

    def summary(self) -> str:
        s = self.streamed
        lines = [f"geoanomaly: {self.config.model} on a streamed grid of {s['height']} x "
                 f"{s['width']} cells ({s['n_valid']:,} valid) x {len(self.data.feature_names)} "
                 f"features in {self.seconds:.1f} s",
                 f"  fitted on {s['sample']}",
                 f"  {s['n_windows']} windows of {s['window']} cells on "
                 f"{s['executor']}"]
        if self.metrics:
            from ..pipeline import describe_metric

            for name, m in self.metrics.get("protocols", {}).items():
                lines.append("  " + describe_metric(name, m))
        else:
            lines.append("  no deposits given: no validation")
        lines.append(f"  report: {self.out_dir / 'report.html'}")
        lines.append(f"  outputs in {self.out_dir}: {', '.join(self.files)}")
        return "\n".join(lines)


def check_streamable(config) -> None:
    """Refuse, with the reason, what a streamed run does not do (yet)."""
    from ..config import is_ensemble
    from ..detect.registry import REGISTRY

    entry = REGISTRY.get(config.model)
    why = None
    if is_ensemble(config):
        why = "ensembles and fused models are not streamed yet"
    elif entry is None or entry.input_kind not in ("features", "windows"):
        why = (f"model {config.model} reads the cleaned compositions whole, and only models of "
               "rows (vae, ae, ppca, mcd, pca, iforest, univariate, ganomaly, igan) and "
               "unsupervised map models (mcae, pccae, ganomaly-map) are streamed yet")
    elif entry.guidance != "none":
        why = f"model {config.model} learns from deposits or geology, which is not streamed yet"
    elif config.filter:
        why = "--filter sa transforms whole maps"
    elif config.train_away_from_deposits is not None:
        why = "--train-away-from-deposits is not streamed yet"
    elif config.level_by or config.stratify_by:
        why = "grids have no batch or survey column (--level-by, --stratify-by)"
    if why:
        raise InputError(f"This grid is streamed (--stream {config.stream}), but {why}: run it "
                         "with --stream off if it fits in memory, or choose another model.")


def run_streamed(config) -> StreamedRunResult:
    """The whole streamed run (see the module docstring)."""
    from ..io import apply_grid_options
    from ..pipeline import prepare
    from .stack import close_handles, open_stack

    from .scoring import configure_worker

    check_streamable(config)
    if config.scheduler:
        from ..cluster import check_scheduler

        check_scheduler(config.scheduler)
    start = time.perf_counter()
    configure_worker(torch_threads=False)  # GDAL's cache bounded before the first block read
    stack = open_stack(config.sources)
    try:
        is_map = _is_map_model(config)
        sample = _draw(config, stack, is_map)
        stages = {"sample": time.perf_counter() - start}
        if is_map:
            survey, real_rows, real_cols, interior = sample.mosaic(stack)
        else:
            survey = sample.to_survey(stack)
        raw = apply_grid_options(survey, crs=config.crs, elements=config.elements)
        if stack.rio_crs is None and raw.crs is not None:
            from ..export.writers import _rasterio_crs

            stack.rio_crs = _rasterio_crs(raw.crs)
        data = prepare(config, raw=raw, with_deposits=False)
        data.notes.append(f"Streamed grid: cleaning rules, the transform's statistics and the "
                          f"model were fitted on {sample.describe()}; every cell was then "
                          f"scored window by window ({config.stream_window} x "
                          f"{config.stream_window} cells).")
        if not sample.whole_grid:
            data.notes.append("The grid no-data block rule (contiguous zero blocks read as no "
                              "data) needs the whole map and was not applied: zeros are below "
                              "detection.")
        mark = time.perf_counter()
        if is_map:
            detector, scorer = _fit_map(config, data, stack, real_rows, real_cols, interior)
        else:
            detector, scorer = _fit(config, data, stack, sample)
        stages["prepare"] = mark - start - stages["sample"]
        stages["fit"] = time.perf_counter() - mark
        deposits, dep_rows, dep_cols = _deposits_on_grid(config, data, stack)
        n_sample_probes = scorer.probe_rows.size
        if dep_rows is not None:
            scorer.probe_rows = np.concatenate([scorer.probe_rows, dep_rows])
            scorer.probe_cols = np.concatenate([scorer.probe_cols, dep_cols])
        return _score_and_write(config, data, stack, sample, detector, scorer, deposits,
                                n_sample_probes, start, stages)
    finally:
        close_handles()


def _is_map_model(config) -> bool:
    from ..detect.registry import spec

    return spec(config.model).input_kind == "windows"


def _draw(config, stack, is_map: bool):
    from .sample import draw_pieces, draw_sample

    if is_map:
        return draw_pieces(stack, config.stream_sample, config.seed,
                           workers=_local_workers(config))
    bar = _bar(config, "sampling blocks")
    sample = draw_sample(stack, config.stream_sample, config.seed,
                         progress=(lambda done, total: bar.update(1)) if bar else None,
                         workers=_local_workers(config))
    if bar:
        bar.close()
    return sample


def _fit(config, data, stack, sample):
    """Fit the detector on the sample; the scorer with its rank reference and probes."""
    from ..compare import model_features
    from ..pipeline import build_detector, cleaning_options, smoothing_k
    from ..grid.smoothing import window_size
    from .cells import CellCleaner
    from .scoring import WindowScorer

    X = model_features(config.model, config, data)
    detector = build_detector(config, data.feature_names)
    detector.fit(X)
    cleaner = CellCleaner.fit(list(data.transformer.elements_), stack.keys, sample.values,
                              data.survey.values, data.cleaning.imputed, cleaning_options(config))
    k = smoothing_k(config, True)
    size = window_size(k) if k > 1 else 1
    scorer = WindowScorer(stack=stack, cleaner=cleaner, transformer=data.transformer,
                          detector=detector, reference=None, smooth_size=size,
                          probe_rows=sample.rows, probe_cols=sample.cols)
    # the sample's raw scores through the per-window path: the reference of percentile ranks
    values, valid = cleaner.apply(np.ascontiguousarray(sample.values[:, cleaner.bands].T))
    raw_scores = scorer.raw_scores(values)
    _rank_reference(scorer, data, raw_scores, size, "" if sample.whole_grid else
                    f" (the rank of a cell is exact to about "
                    f"+-{quantile_error(raw_scores.size):.4f} near the 99th percentile)")
    scorer.probe_rows, scorer.probe_cols = sample.rows[valid], sample.cols[valid]
    return detector, scorer


def map_model_reach(detector) -> int:
    """How many cells a map model's window reaches from the cell it scores."""
    sizes = getattr(detector, "window_sizes_", None) or [getattr(detector, "window")]
    return max(int(size) for size in sizes) // 2


def _fit_map(config, data, stack, real_rows, real_cols, interior):
    """A map model fitted on the mosaic of pieces; the rank reference and the probes are the
    pieces' cells that its window sees whole (at least its reach from a piece's edge)."""
    from ..compare import model_features
    from ..grid.smoothing import window_size
    from ..pipeline import build_detector, cleaning_options, smoothing_k
    from .cells import CellCleaner
    from .scoring import WindowScorer

    X = model_features(config.model, config, data)
    detector = build_detector(config, data.feature_names)
    detector.fit(X)
    reach = map_model_reach(detector)
    raw_values = data.raw.values.to_numpy(dtype=np.float32)
    cleaner = CellCleaner.fit(list(data.transformer.elements_), stack.keys, raw_values,
                              data.survey.values, data.cleaning.imputed, cleaning_options(config))
    kept = np.asarray(data.cleaning.row_map) >= 0  # mosaic cells the cleaning kept
    inside = interior(reach)[kept]
    raw_scores = np.asarray(detector.anomaly_score(X), dtype=np.float64)[inside]
    k = smoothing_k(config, True)
    size = window_size(k) if k > 1 else 1
    scorer = WindowScorer(stack=stack, cleaner=cleaner, transformer=data.transformer,
                          detector=detector, reference=None, smooth_size=size,
                          probe_rows=real_rows[kept][inside], probe_cols=real_cols[kept][inside],
                          model_reach=reach, crs=data.survey.crs)
    data.notes.append(f"Map model on a streamed grid: each window is read with {reach} more "
                      f"cells on every side (its window's reach) and the spatial context's "
                      "halo, so that no cell's score sees a window edge.")
    _rank_reference(scorer, data, raw_scores, size, " whose window lay inside their piece")
    return detector, scorer


def _rank_reference(scorer, data, raw_scores, size: int, which: str) -> None:
    """With a spatial context, the sorted raw scores of the sample become the reference that
    every cell's percentile rank is read from."""
    if size <= 1:
        return
    scorer.reference = np.sort(raw_scores)
    data.notes.append(
        f"Spatial context: each score is the mean percentile rank of the raw score over the "
        f"valid cells of the {size} x {size} window around its cell; ranks are read from the "
        f"raw scores of the {raw_scores.size:,} sampled cells{which}.")


def _deposits_on_grid(config, data, stack):
    """Deposits read in the grid's CRS, and the grid cell of each one inside the grid."""
    if not config.deposits:
        return None, None, None
    from ..io import read_deposits

    deposits = read_deposits(config.deposits, data.survey.crs, crs=config.deposits_crs,
                             x=config.deposits_x, y=config.deposits_y)
    inv = ~stack.transform
    dx, dy = np.asarray(deposits.x, float), np.asarray(deposits.y, float)
    cols = np.floor(inv.a * dx + inv.b * dy + inv.c)
    rows = np.floor(inv.d * dx + inv.e * dy + inv.f)
    inside = np.isfinite(rows) & np.isfinite(cols) & (rows >= 0) & (cols >= 0) & \
        (rows < stack.height) & (cols < stack.width)
    data.deposits = deposits
    rows = np.where(inside, rows, -1).astype(np.int64)
    cols = np.where(inside, cols, -1).astype(np.int64)
    return deposits, rows, cols


def _score_and_write(config, data, stack, sample, detector, scorer, deposits,
                     n_sample_probes, start, stages):
    from ..export.atomic import OutputStaging
    from ..export.qgis import geotiff_tags, write_styles
    from ..pipeline import score_description, threshold_scores
    from ..threshold import classify
    from .cog import WindowedRaster

    out_dir = Path(config.out)
    windows = stack.windows(config.stream_window)
    description = score_description(config, detector, data.transformer.method)
    tags = {"SCORE": description, "INTERPOLATED": "no", "MODEL": config.model,
            "SEED": str(config.seed), "STREAMED": f"fitted on {sample.describe()}"}
    with OutputStaging(out_dir) as staging:
        anomaly = WindowedRaster(staging.path("anomaly.tif"), height=stack.height,
                                 width=stack.width, transform=stack.transform,
                                 crs=data.survey.crs, dtype="float32",
                                 description="anomaly score, higher = more anomalous",
                                 tags={**tags, **geotiff_tags("anomaly.tif")})
        classes_tif = None
        try:
            mark = time.perf_counter()
            probes, n_valid, executor = _score_windows(config, scorer, windows, anomaly)
            stages["score"] = time.perf_counter() - mark
            sample_scores = probes[:n_sample_probes]
            sample_scores = sample_scores[np.isfinite(sample_scores)]
            labels = None
            metrics = None
            if deposits is not None:
                dep_scores = probes[n_sample_probes:]
                metrics, labels_all, scores_all = _validate(config, data, scorer, deposits,
                                                            dep_scores, probes[:n_sample_probes],
                                                            n_sample_probes)
                labels = (scores_all, labels_all)
            if config.threshold == "t":
                if labels is None:
                    raise InputError("The weights-of-evidence threshold (--threshold t) needs "
                                     "--deposits.")
                thresholds, _ = threshold_scores(config, labels[0], labels[1])
            else:
                thresholds, _ = threshold_scores(config, sample_scores)
            sample_classes = classify(sample_scores, thresholds.thresholds)
            classes_tif = WindowedRaster(
                staging.path("classes.tif"), height=stack.height, width=stack.width,
                transform=stack.transform, crs=data.survey.crs, dtype="uint8",
                description="anomaly class",
                tags={**tags, **{f"CLASS_{i}": n for i, n in enumerate(thresholds.class_names)},
                      "THRESHOLDS": ", ".join(f"{t:.6g}" for t in thresholds.thresholds),
                      "THRESHOLDS_FROM": f"{sample_scores.size} sampled cells",
                      **geotiff_tags("classes.tif")})
            counts = np.zeros(len(thresholds.class_names), dtype=np.int64)
            mark = time.perf_counter()
            _write_classes(anomaly, classes_tif, windows, thresholds, counts)
            stages["classes"] = time.perf_counter() - mark
            mark = time.perf_counter()
            anomaly.publish()
            classes_tif.publish()
            stages["publish"] = time.perf_counter() - mark
        finally:
            anomaly.close()
            if classes_tif is not None:
                classes_tif.close()
        seconds = time.perf_counter() - start
        streamed = {"height": stack.height, "width": stack.width, "n_valid": int(n_valid),
                    "sample": sample.describe(), "sample_size": int(sample.n),
                    "whole_grid": sample.whole_grid, "window": config.stream_window,
                    "n_windows": len(windows), "executor": executor,
                    "class_counts": {n: int(c) for n, c in zip(thresholds.class_names, counts)},
                    "thresholds_from": f"the final scores of the {sample_scores.size:,} "
                                       "sampled cells",
                    "cells_table": "left out: a per-cell table of a streamed grid repeats "
                                   "anomaly.tif and classes.tif row by row (coordinates follow "
                                   "from the grid)",
                    "seconds": stages}
        if metrics is not None:
            metrics["score"] = description
            metrics["threshold"] = {"method": thresholds.method,
                                    "chosen_with_deposits": thresholds.method == "t"}
            metrics["trained_with_deposits"] = False
            metrics["streamed"] = streamed
        _write_records(config, data, detector, scorer, staging, metrics, seconds, description,
                       streamed)
        mark = time.perf_counter()
        targets = _write_targets(staging, data, thresholds, deposits,
                                 (streamed["height"], streamed["width"]))
        stages["targets"] = time.perf_counter() - mark
        mark = time.perf_counter()
        _write_report(config, data, staging, thresholds, sample_scores, counts, metrics,
                      seconds, description, streamed, deposits, targets)
        write_styles(staging.staging_dir, thresholds)
        stages["report"] = time.perf_counter() - mark
    files = sorted({str(p.relative_to(out_dir)).split("/")[0] for p in staging.published})
    return StreamedRunResult(config=config, data=data, detector=detector, scores=sample_scores,
                             classes=sample_classes, thresholds=thresholds, metrics=metrics,
                             out_dir=out_dir, files=files, seconds=seconds, streamed=streamed)


def _bar(config, what: str, total: int | None = None):
    if not config.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="window" if total else "block", leave=False)


def _score_windows(config, scorer, windows, anomaly):
    """Every window scored (threads, or a Dask scheduler's workers) and written as it arrives;
    returns the probe cells' final scores, the count of valid cells and where it ran."""
    probes = np.full(scorer.probe_rows.size, np.nan, dtype=np.float32)
    n_valid = 0
    bar = _bar(config, "scoring windows", len(windows))

    def take(result):
        nonlocal n_valid
        anomaly.write(result.window, result.scores)
        probes[result.probe_index] = result.probe_scores
        n_valid += result.n_valid
        if bar:
            bar.update(1)

    try:
        if config.scheduler:
            from ..cluster import map_on_cluster

            executor = map_on_cluster(config.scheduler, scorer, windows, take)
        else:
            executor = _on_threads(config, scorer, windows, take)
    finally:
        if bar:
            bar.close()
    return probes, n_valid, executor


def _local_workers(config) -> int:
    return config.workers or len(os.sched_getaffinity(0))


def _on_threads(config, scorer, windows, take) -> str:
    import torch

    from .scoring import configure_worker

    workers = _local_workers(config)
    threads_before = torch.get_num_threads()
    configure_worker()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = set()
            for window in windows:
                pending.add(pool.submit(scorer, window))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        take(future.result())
            for future in pending:
                take(future.result())
    finally:
        torch.set_num_threads(threads_before)
    return f"{workers} local thread{'s' if workers > 1 else ''}"


def _write_classes(anomaly, classes_tif, windows, thresholds, counts) -> None:
    """classes.tif from anomaly.tif, window by window (one band read back)."""
    from ..threshold import classify

    anomaly.dst.close()  # reopen the part file for reading
    import rasterio

    anomaly.dst = rasterio.open(anomaly.part, "r+")
    for window in windows:
        scores = anomaly.read(window)
        cls = classify(scores.ravel(), thresholds.thresholds).reshape(scores.shape)
        counts += np.bincount(cls[cls >= 0], minlength=counts.size)[:counts.size]
        classes_tif.write(window, np.where(cls >= 0, cls, classes_tif.nodata).astype(np.uint8))


def _validate(config, data, scorer, deposits, dep_scores, sample_scores, n_sample):
    """Protocol "samples" on the grid: positives are the cells holding a deposit, negatives the
    sampled cells that hold none (an unbiased estimate of all other cells)."""
    from ..validate import evaluate_samples

    n_dep = dep_scores.size
    dep_rows = scorer.probe_rows[n_sample:]
    dep_cols = scorer.probe_cols[n_sample:]
    inside = (dep_rows >= 0) & np.isfinite(dep_scores)
    cell_id = dep_rows * scorer.stack.width + dep_cols
    positive_ids, first = np.unique(cell_id[inside], return_index=True)
    pos_scores = dep_scores[inside][first]
    sample_ids = scorer.probe_rows[:n_sample] * scorer.stack.width + scorer.probe_cols[:n_sample]
    neg = np.isfinite(sample_scores) & ~np.isin(sample_ids, positive_ids)
    scores = np.concatenate([pos_scores, sample_scores[neg]]).astype(np.float64)
    labels = np.concatenate([np.ones(pos_scores.size, bool), np.zeros(int(neg.sum()), bool)])
    data.deposits_inside = inside
    metrics = {"protocols": {}, "n_deposits": int(n_dep),
               "n_deposits_outside": int((~inside).sum())}
    if pos_scores.size and neg.any():
        m = evaluate_samples(scores, labels, n_boot=config.n_boot, seed=config.seed)
        m["positives"] = "cells containing a deposit"
        m["negatives"] = (f"a seeded random sample of {int(neg.sum()):,} valid cells holding no "
                          "deposit (the streamed run's sample)")
        metrics["protocols"]["samples"] = m
        from ..pipeline import primary_protocol

        metrics = {**primary_protocol(metrics["protocols"]), **metrics}
    else:
        data.warnings.append("No deposit lies in a valid cell of the grid: no validation.")
    if config.protocols and set(config.protocols) - {"samples"}:
        data.warnings.append("A streamed grid is validated with protocol samples only "
                             "(OpenGADBench's protocols pair deposits with nearest samples of "
                             "a point survey).")
    return metrics, labels, scores


def _write_records(config, data, detector, scorer, staging, metrics, seconds, description,
                   streamed) -> None:
    from ..detect.persistence import save_detector
    from ..export.outputs import run_record
    from ..export.writers import write_json, write_yaml

    if metrics is not None:
        write_json(staging.path("metrics.json"), metrics)
    record = run_record(config, data, detector, seconds, description)
    record["inputs"]["kind"] = "grid (streamed)"
    record["inputs"]["n_rows_read"] = int(streamed["n_valid"])
    record["streamed"] = streamed
    write_yaml(staging.path("run.yaml"), record)
    save_detector(detector, staging.path("model"))
    survey = data.survey
    write_json(staging.path("model/preprocessing.json"), {
        "elements": survey.elements, "units": survey.units,
        "transform": data.transformer.to_dict(), "features": list(data.feature_names),
        "cell_cleaning": scorer.cleaner.to_dict()})


#: a streamed map is delineated on at most this many cells a side (read from the published
#: map's overviews): 25 M cells take about 10 s and 0.7 GB (BENCHMARKS.md, issue 9)
TARGET_MAX_SIDE = 5000


def _write_targets(staging, data, thresholds, deposits, shape):
    """targets.gpkg of a streamed grid: delineated on the published map (its overview when it
    has more than TARGET_MAX_SIDE cells a side), without element signatures (the cells'
    concentrations are not in memory)."""
    from ..delineate import delineate_targets, write_targets_gpkg
    from ..export.outputs import _deposit_names
    from ..export.qgis import layer_text

    image, grid = _overview(staging.path("anomaly.tif"), data.survey.crs, TARGET_MAX_SIDE)
    targets = delineate_targets(
        grid, image, thresholds.thresholds, thresholds.class_names,
        deposits_xy=None if deposits is None else np.column_stack([deposits.x, deposits.y]),
        deposit_names=None if deposits is None else _deposit_names(deposits))
    note = ("Streamed grid: targets delineated on "
            + (f"an overview of {grid.height:,} x {grid.width:,} cells (cell means)"
               if (grid.height, grid.width) != tuple(shape) else "the published map")
            + ", without element signatures (the cells' concentrations are not kept).")
    targets.description = f"{targets.description} {note}"
    write_targets_gpkg(staging.path("targets.gpkg"), targets, description=(
        layer_text("targets.gpkg", targets.description)["description"]))
    return targets


def _write_report(config, data, staging, thresholds, sample_scores, counts, metrics, seconds,
                  description, streamed, deposits, targets=None) -> None:
    import yaml

    from ..export import figures
    from ..export.outputs import metric_rows
    from ..export.report import MAX_TARGET_ROWS, ReportContext, build_report

    image, grid = _overview(staging.path("anomaly.tif"), data.survey.crs)
    dep = None if deposits is None else (deposits.x, deposits.y)
    names = list(thresholds.class_names)
    decimated = (grid.height, grid.width) != (streamed["height"], streamed["width"])
    map_png = figures.score_map(image, grid=grid, deposits=dep,
                                title=f"Anomaly score ({config.model})" + (
                                    f", overview of {grid.height} x {grid.width} cells (cell "
                                    "means)" if decimated else ""))
    overview_png = figures.overview_map(image, grid=grid, thresholds=thresholds.thresholds,
                                        class_names=names, deposits=dep, crs=data.survey.crs,
                                        targets=None if targets is None else targets.frame)
    roc_png = None
    notes = []
    if metrics is not None and "samples" in metrics["protocols"]:
        m = metrics["protocols"]["samples"]
        if m.get("roc_curve"):
            roc_png = figures.roc_figure({f"{config.model} (samples)": (
                m["roc_curve"]["fpr"], m["roc_curve"]["tpr"], m["roc_auc"],
                m.get("roc_auc_ci"))})
        notes.append("Protocol 'samples' on a streamed grid: positives are the cells holding a "
                     "deposit; negatives are " + m["negatives"] + ". AUC = Mann-Whitney, "
                     "interval = percentile bootstrap. Deposits were used only here, never in "
                     "training.")
    lower = {name: (float("-inf") if i == 0 else float(thresholds.thresholds[i - 1]))
             for i, name in enumerate(names)}
    threshold_lines = dict(zip(names[1:], thresholds.thresholds))
    cleaning = data.cleaning
    build_report(staging.path("report.html"), ReportContext(
        title=f"geoanomaly: {description}",
        input_files=list(data.raw.sources), deposits_file=config.deposits,
        n_samples=streamed["n_valid"], is_grid=True,
        grid_shape=(streamed["height"], streamed["width"]),
        crs=None if data.survey.crs is None else data.survey.crs.to_string(),
        elements=data.survey.elements, units=data.survey.units, model=config.model,
        score=description, transform=f"{data.transformer.method}, {config.scale} scaling",
        threshold_method=thresholds.method, seed=config.seed,
        summary_extra={"streamed": f"{streamed['n_windows']} windows of "
                                   f"{streamed['window']} cells on {streamed['executor']}",
                       "fitted on": streamed["sample"],
                       "thresholds from": streamed["thresholds_from"],
                       "per-cell table": streamed["cells_table"],
                       "features": len(data.feature_names),
                       "run time (s)": round(seconds, 1)},
        n_deposits=None if deposits is None else len(deposits.x),
        metrics=None if metrics is None else metric_rows(metrics),
        validation_notes=notes, roc_png=roc_png, score_map_png=map_png,
        histogram_png=figures.score_histogram(sample_scores, threshold_lines,
                                              title="Score distribution (sampled cells)"),
        class_counts={n: int(c) for n, c in zip(names, counts)}, class_lower_bounds=lower,
        overview_png=overview_png,
        targets=None if targets is None else targets.records(MAX_TARGET_ROWS),
        n_targets_total=None if targets is None else len(targets),
        targets_text=None if targets is None else targets.description,
        cleaning_table=cleaning.to_html(),
        cleaning_notes=[f"Counts over the {data.raw.n:,} sampled cells."] + list(cleaning.notes),
        reader_notes=list(data.raw.notes) + list(data.notes)
        + ([] if deposits is None else list(deposits.notes)),
        warnings=list(data.warnings),
        config_yaml=yaml.safe_dump(config.to_dict(), sort_keys=False)))


def _overview(path, crs, max_side: int = 1200):
    """The published map decimated to at most ``max_side`` cells a side (read from its
    overviews), as an image and the Grid it lies on."""
    import rasterio
    from rasterio.enums import Resampling

    from ..survey import Grid

    with rasterio.open(path) as src:
        factor = max(1, int(np.ceil(max(src.height, src.width) / max_side)))
        height, width = max(1, src.height // factor), max(1, src.width // factor)
        data = src.read(1, out_shape=(height, width), resampling=Resampling.average,
                        masked=True).astype(np.float64).filled(np.nan)
        transform = src.transform * src.transform.scale(src.width / width, src.height / height)
    grid = Grid(transform=transform, width=width, height=height, crs=crs,
                valid=np.isfinite(data))
    return data, grid
