"""The flow of one run: read -> clean -> transform -> detect -> threshold -> validate -> export.

Each stage lives in its own sub-package; this module only wires them together, in the order of
docs/DESIGN.md, so the whole path a survey takes can be read in one screen. The CLI and the
Python API (``geoanomaly.run``) both end here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import RunConfig, make_config
from .errors import InputError
from .survey import Survey


@dataclass
class PreparedData:
    """A survey made ready for a detector: cleaned, transformed, with deposits in its CRS."""

    raw: Survey
    survey: Survey  # cleaned
    cleaning: object  # clean.CleaningReport
    transformer: object  # transform.Transformer
    X: np.ndarray
    feature_names: list[str]
    deposits: object | None  # io.Deposits
    deposits_inside: np.ndarray | None
    metric_x: np.ndarray  # coordinates in metres (projected) for distances and maps
    metric_y: np.ndarray
    metric_crs: object | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """What a run produced; ``scores`` has one value per (cleaned) sample or valid cell."""

    config: RunConfig
    data: PreparedData
    detector: object
    scores: np.ndarray
    classes: np.ndarray
    thresholds: object  # threshold.ThresholdResult
    metrics: dict | None
    out_dir: Path
    files: list[str]
    seconds: float

    def summary(self) -> str:
        lines = [f"geoanomaly: {self.config.model} on {self.data.survey.n} "
                 f"{'cells' if self.data.survey.is_grid else 'samples'} x "
                 f"{len(self.data.feature_names)} features in {self.seconds:.1f} s"]
        if self.metrics:
            for name, m in self.metrics.get("protocols", {}).items():
                lines.append("  " + describe_metric(name, m))
        else:
            lines.append("  no deposits given: no validation")
        lines.append(f"  report: {self.out_dir / 'report.html'}")
        lines.append(f"  outputs in {self.out_dir}: {', '.join(self.files)}")
        return "\n".join(lines)


def describe_metric(name: str, m: dict) -> str:
    """One line: protocol, AUC and its interval, counts."""
    if "roc_auc_ci" in m and m["roc_auc_ci"] is not None:
        lo, hi = m["roc_auc_ci"]
        return (f"ROC AUC ({name}): {m['roc_auc']:.3f} (95 % CI {lo:.3f}-{hi:.3f}), "
                f"{m['n_positive']} positive / {m['n_negative']} negative")
    if "roc_auc_std" in m:
        return (f"ROC AUC ({name}): {m['roc_auc']:.3f} +- {m['roc_auc_std']:.3f} over "
                f"{m.get('n_draws', '?')} draws")
    return f"ROC AUC ({name}): {m.get('roc_auc')}"


# ------------------------------------------------------------------------------------------
# read / clean / transform


def prepare(config: RunConfig) -> PreparedData:
    """Read the survey and deposits, clean and transform: everything before the detector."""
    from .clean import CleaningOptions, clean
    from .io import deposits_inside, read_deposits, read_survey
    from .transform import Transformer

    raw = read_survey(config.sources, x=config.x, y=config.y, crs=config.crs,
                      elements=config.elements)
    options = CleaningOptions(
        below_detection=config.below_detection,
        below_detection_factor=config.below_detection_factor,
        max_missing_fraction=config.max_missing,
        drop_duplicates=config.drop_duplicates,
        min_detected_fraction=config.min_detected,
    )
    survey, report = clean(raw, options)
    notes: list[str] = []
    method = config.transform
    if config.model == "mcd" and method == "clr":
        # clr parts sum to zero, so their covariance is singular; ilr spans the same space with
        # full rank (Mahalanobis distances on ilr equal those on clr with a pseudo-inverse).
        method = "ilr"
        notes.append("Model mcd needs full-rank features: the clr transform was replaced by "
                     "ilr, which spans the same log-ratio space.")
    transformer = Transformer(method=method, scale=config.scale)
    X = transformer.fit_transform(survey.values)
    metric_x, metric_y, metric_crs = metric_coordinates(survey, notes)

    deposits = inside = None
    if config.deposits:
        if survey.crs is None and config.deposits_crs is None:
            notes.append("The survey has no CRS: deposit coordinates are taken to be in the "
                         "same coordinates as the samples.")
        deposits = read_deposits(config.deposits, survey.crs, crs=config.deposits_crs,
                                 x=config.deposits_x, y=config.deposits_y)
        margin = config.radius if config.radius else 0.0
        inside = deposits_inside(deposits, survey, margin=margin)
        n_out = int((~inside).sum())
        if n_out:
            notes.append(f"{n_out} of {len(inside)} deposits lie outside the surveyed area and "
                         "cannot be matched by any sample or cell; they are kept in the counts.")
    return PreparedData(raw=raw, survey=survey, cleaning=report, transformer=transformer, X=X,
                        feature_names=list(transformer.feature_names_), deposits=deposits,
                        deposits_inside=inside, metric_x=metric_x, metric_y=metric_y,
                        metric_crs=metric_crs, notes=notes)


def is_geographic(crs) -> bool:
    return crs is not None and getattr(crs, "is_geographic", False)


def metric_coordinates(survey: Survey, notes: list[str]):
    """Coordinates in metres for distances and interpolated maps.

    A lon/lat survey is projected to the UTM zone of its centre (pyproj picks the zone), so that
    radii and map cells are in metres; a projected survey is used as it is.
    """
    if not is_geographic(survey.crs):
        return survey.x, survey.y, survey.crs
    from pyproj import CRS, Transformer
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    aoi = AreaOfInterest(float(np.min(survey.x)), float(np.min(survey.y)),
                         float(np.max(survey.x)), float(np.max(survey.y)))
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)
    lon0 = float(np.median(survey.x))
    zone = int((lon0 + 180) // 6) + 1
    epsg = (32600 if np.median(survey.y) >= 0 else 32700) + zone
    chosen = next((i for i in infos if i.code == str(epsg)), None)
    utm = CRS.from_epsg(int(chosen.code) if chosen else epsg)
    to_utm = Transformer.from_crs(survey.crs, utm, always_xy=True)
    mx, my = to_utm.transform(survey.x, survey.y)
    notes.append(f"Longitude/latitude projected to {utm.name} (EPSG:{utm.to_epsg()}) for "
                 "distances and the interpolated map.")
    return np.asarray(mx), np.asarray(my), utm


# ------------------------------------------------------------------------------------------
# detect


def build_detector(config: RunConfig, feature_names: list[str]):
    """The configured detector with the options that apply to it."""
    from .detect import make_detector

    if config.model in ("vae", "ae"):
        params = dict(hidden=tuple(config.hidden), latent_dim=config.latent_dim,
                      epochs=config.epochs, learning_rate=config.learning_rate,
                      patience=config.patience, validation_fraction=config.validation_fraction,
                      seed=config.seed, device=config.device, progress=config.progress)
        if config.batch_size:
            params["batch_size"] = config.batch_size
        if config.model == "vae":
            params.update(beta=config.beta, score=config.score, n_samples=config.n_samples)
        return make_detector(config.model, **params)
    if config.model in ("mcd", "iforest"):
        return make_detector(config.model, seed=config.seed)
    if config.model == "pca":
        return make_detector("pca")
    if config.model == "univariate":
        target = config.target
        matches = [i for i, f in enumerate(feature_names) if f == target]
        if not matches:
            raise InputError(f"Target element {target!r} is not among the features used "
                             f"({', '.join(feature_names)}); pick one of them with --target.")
        return make_detector("univariate", feature=matches[0], feature_names=list(feature_names))
    raise InputError(f"Unknown model {config.model!r}.")  # pragma: no cover - checked earlier


# ------------------------------------------------------------------------------------------
# threshold / validate


def threshold_scores(config: RunConfig, scores: np.ndarray, labels=None):
    from .threshold import classify, compute_thresholds

    if config.threshold == "percentile":
        result = compute_thresholds(scores, "percentile", percentiles=tuple(config.percentiles))
    elif config.threshold == "mad":
        result = compute_thresholds(scores, "mad", ks=tuple(config.mad_k))
    elif config.threshold == "t":
        if labels is None:
            raise InputError("The weights-of-evidence threshold (--threshold t) needs --deposits.")
        result = compute_thresholds(scores, "t", labels=labels)
    else:
        result = compute_thresholds(scores, config.threshold)
    return result, classify(scores, result.thresholds)


def deposit_labels(config: RunConfig, data: PreparedData) -> tuple[np.ndarray, dict]:
    """Positives of protocol "samples": cells holding a deposit, or samples within the radius."""
    from .validate import cell_labels, sample_labels

    survey, dep = data.survey, data.deposits
    if survey.is_grid:
        cells = cell_labels(survey.grid, dep.x, dep.y)
        return np.asarray(cells.labels, dtype=bool), {"positives": "cells containing a deposit",
                                                      "deposit_cells": cells.summary()}
    radius = config.radius or 2.0 * median_spacing(data.metric_x, data.metric_y)
    geographic = is_geographic(survey.crs)
    labels = sample_labels(survey.x, survey.y, dep.x, dep.y, radius, geographic=geographic)
    return np.asarray(labels, dtype=bool), {
        "positives": f"samples within {radius:.0f} m of a deposit", "radius_m": float(radius),
        "radius_rule": "given" if config.radius else "twice the median nearest-sample spacing"}


def median_spacing(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    pts = np.column_stack([x, y])
    d, _ = cKDTree(pts).query(pts, k=2)
    spacing = float(np.median(d[:, 1]))
    return spacing if spacing > 0 else float(np.mean(d[:, 1]) or 1.0)


def validate_scores(config: RunConfig, data: PreparedData, scores: np.ndarray, labels) -> dict:
    from .validate import evaluate_samples

    info = labels[1]
    samples = evaluate_samples(scores, labels[0], n_boot=config.n_boot, seed=config.seed)
    samples.update(info)
    return {"protocols": {"samples": samples},
            "n_deposits": int(len(data.deposits.x)),
            "n_deposits_outside": int((~data.deposits_inside).sum())}


# ------------------------------------------------------------------------------------------
# the whole run


def run(config: RunConfig | None = None, **options) -> RunResult:
    """Run the whole flow. ``geoanomaly.run("survey.csv", out="results", deposits=...)``."""
    if config is None:
        if "sources" not in options:
            raise InputError("run() needs sources=[...] (a table of samples or GeoTIFFs).")
        config = make_config(**options)
    if not config.out:
        raise InputError("No output folder given: pass out=DIR (--out DIR).")
    start = time.perf_counter()
    data = prepare(config)
    detector = build_detector(config, data.feature_names)
    detector.fit(data.X)
    scores = np.asarray(detector.anomaly_score(data.X), dtype=np.float64)

    labels = deposit_labels(config, data) if data.deposits is not None else None
    thresholds, classes = threshold_scores(config, scores, None if labels is None else labels[0])
    metrics = validate_scores(config, data, scores, labels) if labels is not None else None
    if metrics is not None:
        metrics["score"] = score_description(config)

    from .export.outputs import write_outputs

    seconds = time.perf_counter() - start
    files = write_outputs(config, data, detector, scores, classes, thresholds, metrics,
                          None if labels is None else labels[0], seconds)
    return RunResult(config=config, data=data, detector=detector, scores=scores, classes=classes,
                     thresholds=thresholds, metrics=metrics, out_dir=Path(config.out), files=files,
                     seconds=seconds)


def score_description(config: RunConfig) -> str:
    if config.model == "vae":
        return {"recon": "VAE reconstruction error of the decoded latent mean",
                "rp": f"VAE -log reconstruction probability (An & Cho 2015, L={config.n_samples})"
                }[config.score]
    return {"ae": "autoencoder reconstruction error", "mcd": "robust Mahalanobis distance (MCD)",
            "pca": "PCA reconstruction error", "iforest": "Isolation Forest anomaly score",
            "univariate": f"transformed {config.target}"}[config.model]


def run_demo(out: str | Path, *, seed: int = 0, epochs: int | None = None,
             progress: bool = True) -> RunResult:
    """Generate the synthetic demo survey in ``out/data`` and run the default VAE on it."""
    from .demo import write_demo_inputs

    out = Path(out)
    paths = write_demo_inputs(out / "data", seed=seed)
    options = dict(sources=[str(paths.grid_dir)], deposits=str(paths.deposits_csv), out=str(out),
                   seed=seed, progress=progress)
    if epochs:
        options["epochs"] = epochs
    return run(make_config(**options))
