"""Everything a run leaves in ``--out DIR``, written through one atomic staging folder.

scores.csv, anomaly.tif, anomalies.gpkg (points), targets.gpkg, metrics.json (with deposits),
run.yaml, model/ (no pickle), report.html, and a QGIS style (.qml) beside each map layer.
Nothing is moved into DIR until all of them are written.
An ensemble / fusion run (geoanomaly.ensemble) adds score_std to scores.csv and
anomalies.gpkg, uncertainty.tif (score_std on exactly the grid of anomaly.tif), one
model/member_K/ per member with model/ensemble.json, and the uncertainty map in the report.
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from .atomic import OutputStaging

PACKAGES = ("geoanomaly", "numpy", "pandas", "scipy", "scikit-learn", "torch", "rasterio", "pyproj",
            "geopandas", "pyogrio", "shapely", "matplotlib")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - optional
            versions[name] = "not installed"
    return versions


def run_record(config, data, detector, seconds: float, description: str) -> dict:
    """The resolved configuration plus what is needed to reproduce and audit the run
    (``description``: what the score is, in words, from pipeline.score_description)."""
    survey = data.survey
    return {
        "geoanomaly_run": {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("geoanomaly") else None,
            "seconds": round(float(seconds), 3),
        },
        "config": config.to_dict(),
        "seed": config.seed,
        "inputs": {
            "sources": [str(s) for s in survey.sources],
            "kind": "grid" if survey.is_grid else "points",
            "crs": None if survey.crs is None else survey.crs.to_string(),
            "n_rows_read": int(data.raw.n),
            "n_rows_used": int(survey.n),
            "elements": {e: survey.units.get(e, "") for e in survey.elements},
            "features": list(data.feature_names),
            "deposits": config.deposits,
        },
        "model": _model_record(detector),
        "metrics_label": description,
        "guidance": data.guidance,
        "notes": list(data.raw.notes) + list(getattr(data.cleaning, "notes", [])) + list(data.notes),
        "versions": package_versions(),
    }


def _model_record(detector) -> dict:
    if hasattr(detector, "members"):  # an ensemble / fusion (geoanomaly.ensemble.Ensemble)
        described = detector.describe()
        members = [dict(info, **{"class": type(d).__name__,
                                 "params": _jsonable(d.get_params()),
                                 "fitted": _fitted_summary(d)})
                   for info, d in zip(described["members"], detector.detectors)]
        return {"class": "Ensemble", "combine": described["combine"], "members": members}
    if hasattr(detector, "folds_"):  # a guided model fitted per spatial fold
        return {"class": "GuidedModels", "guidance": detector.info.get("kind"),
                "folds": [{"class": type(d).__name__, "params": _jsonable(d.get_params()),
                           "fitted": _fitted_summary(d)} for d in detector.folds_]}
    return {"class": type(detector).__name__, "params": _jsonable(detector.get_params()),
            "fitted": _fitted_summary(detector)}


def _fitted_summary(detector) -> dict:
    out = {}
    for name in ("n_epochs_", "best_epoch_", "kl_"):
        if hasattr(detector, name):
            out[name.rstrip("_")] = _jsonable(getattr(detector, name))
    return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_outputs(config, data, detector, scores, classes, thresholds, metrics, labels,
                  seconds: float, score_std=None, description: str = "",
                  explanation=None) -> list[str]:
    """Write every output into ``config.out``; returns the published names.

    ``description`` says what the score is (the pipeline's score_description): passed in, so
    that export does not import the pipeline that calls it.

    ``score_std`` (ensembles / fusion): the spread of the member ranks per sample / cell; it
    adds the score_std column and uncertainty.tif. None (a single detector) leaves them out.
    ``explanation`` (``geoanomaly.explain``): the elements behind each score; it adds the
    top_elements columns and names the elements of each target.
    """
    from ..progress import showing

    with showing(getattr(config, "progress", False)):
        return _write_outputs(config, data, detector, scores, classes, thresholds, metrics,
                              labels, seconds, score_std, description, explanation)


def _write_outputs(config, data, detector, scores, classes, thresholds, metrics, labels,
                   seconds, score_std, description, explanation) -> list[str]:
    from ..delineate import write_targets_gpkg
    from ..detect.persistence import save_detector
    from ..progress import bar
    from .qgis import geotiff_tags, layer_text, write_styles
    from .report import build_report
    from .writers import write_grid_geotiff, write_json, write_points_gpkg, write_scores_csv, write_yaml

    survey = data.survey
    out_dir = Path(config.out)
    steps = bar(7 + (score_std is not None) + (not survey.is_grid),
                "writing: interpolating the map", unit="file")
    extra = {}
    id_col = _sample_id_column(survey)
    if id_col is not None:
        extra["sample_id"] = survey.meta[id_col].astype(str).to_numpy()
    if labels is not None:
        extra["near_deposit"] = np.asarray(labels, dtype=int)
    if score_std is not None:
        score_std = np.asarray(score_std, dtype=float)
        extra = {"score_std": score_std, **extra}
    if explanation is not None:
        extra.update({k: np.asarray(v, dtype=object) for k, v in explanation.columns().items()})

    try:
        map_grid, map_values, interpolated = _map_grid(config, data, scores)
        std_values = None
        steps.set_description("writing: delineating targets")
        targets = _targets(data, scores, classes, thresholds, map_grid, map_values,
                           explanation)
        if score_std is not None:
            std_grid, std_values, _ = _map_grid(config, data, score_std)
            if (std_grid.transform, std_grid.width, std_grid.height) != \
                    (map_grid.transform, map_grid.width, map_grid.height) or \
                    not np.array_equal(std_grid.valid, map_grid.valid):  # pragma: no cover
                raise RuntimeError("uncertainty map grid differs from the anomaly map grid")
    except BaseException:
        steps.close()
        raise
    steps.update()
    with steps, OutputStaging(out_dir) as staging:
        steps.set_description("writing scores.csv")
        write_scores_csv(staging.path("scores.csv"), survey.x, survey.y, scores, classes,
                         class_names=thresholds.class_names, extra=extra)
        steps.update()
        steps.set_description("writing anomaly.tif")
        tags = {"SCORE": metrics["score"] if metrics else config.model,
                "INTERPOLATED": "yes (inverse distance weighting of sample scores)"
                if interpolated else "no", "MODEL": config.model, "SEED": str(config.seed)}
        write_grid_geotiff(staging.path("anomaly.tif"), map_grid, map_values,
                           description=("interpolated anomaly score (IDW), higher = more anomalous"
                                        if interpolated else "anomaly score, higher = more anomalous"),
                           tags={**tags, **geotiff_tags(
                               "anomaly.tif", "Interpolated (IDW) from the samples."
                               if interpolated else "")})
        steps.update()
        if score_std is not None:
            steps.set_description("writing uncertainty.tif")
            members = getattr(detector, "members", [])
            write_grid_geotiff(
                staging.path("uncertainty.tif"), map_grid, std_values,
                description=("interpolated score_std (IDW): standard deviation of the member "
                             "percentile ranks, higher = members disagree more" if interpolated
                             else "score_std: standard deviation of the member percentile "
                                  "ranks, higher = members disagree more"),
                tags={**tags, "SCORE": "score_std of " + tags["SCORE"],
                      "MEMBERS": "; ".join(m.label() for m in members),
                      "COMBINE": getattr(detector, "combine", ""),
                      **geotiff_tags("uncertainty.tif")})
            steps.update()
        steps.set_description("writing the model")
        if metrics is not None:
            write_json(staging.path("metrics.json"), metrics)
        record = run_record(config, data, detector, seconds, description or config.model)
        if hasattr(detector, "describe"):
            record["ensemble"] = detector.describe()
        if explanation is not None:
            record["explanation"] = {"method": explanation.method,
                                     "attribution": explanation.attribution}
        record["targets"] = targets.description
        write_yaml(staging.path("run.yaml"), record)
        if hasattr(detector, "folds_"):  # a guided model fitted per spatial fold
            for k, fold_model in enumerate(detector.folds_):
                save_detector(fold_model, staging.path(f"model/fold_{k + 1}"))
            write_json(staging.path("model/guidance.json"), detector.info)
        elif hasattr(detector, "members"):
            from ..ensemble import save_ensemble

            save_ensemble(detector, staging.path("model"))
        else:
            save_detector(detector, staging.path("model"))
            if hasattr(detector, "export_tables"):  # e.g. Info-DAN: ilr.csv and sources.csv
                detector.export_tables(staging.path("model"))
        write_json(staging.path("model/preprocessing.json"), {
            "elements": survey.elements, "units": survey.units,
            "transform": data.transformer.to_dict(), "features": list(data.feature_names)})
        steps.update()
        steps.set_description("writing targets.gpkg")
        write_targets_gpkg(staging.path("targets.gpkg"), targets, description=(
            layer_text("targets.gpkg", targets.description)["description"]))
        steps.update()
        steps.set_description("writing report.html")
        build_report(staging.path("report.html"), _report_context(
            config, data, scores, classes, thresholds, metrics, labels, record,
            map_grid, map_values, interpolated,
            uncertainty=None if score_std is None else (score_std, std_values, detector),
            targets=targets, explanation=explanation))
        steps.update()
        if not survey.is_grid:
            steps.set_description("writing anomalies.gpkg")
            columns = {"score": scores, "class": classes,
                       "class_name": np.asarray(thresholds.class_names, dtype=object)[classes]}
            columns.update(extra)
            for element in survey.elements:
                columns[f"{element}_{survey.units.get(element) or 'value'}"] = \
                    survey.values[element].to_numpy()
            write_points_gpkg(staging.path("anomalies.gpkg"), survey.x, survey.y, survey.crs,
                              columns, **layer_text("anomalies.gpkg"))
            steps.update()
        steps.set_description("writing QGIS styles")
        write_styles(staging.staging_dir, thresholds)
        steps.update()
    return sorted({str(p.relative_to(out_dir)).split("/")[0] for p in staging.published})


def _targets(data, scores, classes, thresholds, map_grid, map_values, explanation):
    """The ranked targets of the map that anomaly.tif holds (``delineate.py``): a grid's own
    cells, or a point survey's IDW map with its samples and their classes."""
    from ..delineate import delineate_targets

    survey = data.survey
    deposits_xy = names = None
    if data.deposits is not None:
        dx, dy = (_deposits_in(data.deposits, data.metric_crs, survey.crs)
                  if not survey.is_grid else (data.deposits.x, data.deposits.y))
        deposits_xy = np.column_stack([dx, dy])
        names = _deposit_names(data.deposits)
    samples = None if survey.is_grid else np.column_stack([data.metric_x, data.metric_y])
    return delineate_targets(
        map_grid, map_values, thresholds.thresholds, thresholds.class_names,
        samples_xy=samples, sample_classes=None if survey.is_grid else classes,
        contributions=None if explanation is None else explanation.named_values(),
        elements=list(survey.elements), deposits_xy=deposits_xy, deposit_names=names,
        signature_values=survey.values)


#: deposit attribute columns that name a deposit, most specific first (MINEDEX: SITE_TITLE)
DEPOSIT_NAME_COLUMNS = ("name", "deposit", "deposit_name", "site_title", "site_name", "title",
                        "occurrence", "prospect")


def _deposit_names(deposits) -> list[str] | None:
    table = getattr(deposits, "table", None)
    if table is None:
        return None
    by_lower = {str(c).lower(): c for c in table.columns}
    for name in DEPOSIT_NAME_COLUMNS:
        if name in by_lower:
            return table[by_lower[name]].astype(str).tolist()
    return None


def _sample_id_column(survey):
    if survey.meta is None:
        return None
    for col in survey.meta.columns:
        low = str(col).lower()
        if low in ("sampleid", "sample_id", "sample", "id", "sample no", "sampleno", "sample_no"):
            return col
    return None


def _map_grid(config, data, scores):
    """Grid input: the input grid itself. Points: an IDW surface in metres, labelled interpolated."""
    survey = data.survey
    if survey.is_grid:
        return survey.grid, scores, False
    from ..grid import idw_grid

    surface, grid = idw_grid(data.metric_x, data.metric_y, scores, cell_size=config.cell_size,
                             crs=data.metric_crs)
    return grid, surface[grid.valid], True


def _report_context(config, data, scores, classes, thresholds, metrics, labels, record,
                    map_grid, map_values, interpolated, uncertainty=None, targets=None,
                    explanation=None):
    """Turn the run's results into the display-ready fields of the report.

    ``uncertainty``: (score_std per sample / cell, per map cell, the ensemble) or None;
    ``targets``: delineate.Targets; ``explanation``: explain.Explanation.
    """
    import yaml

    from . import figures
    from .report import MAX_TARGET_ROWS, ReportContext

    survey = data.survey
    deposits = None if data.deposits is None else (data.deposits.x, data.deposits.y)
    names = list(thresholds.class_names)
    if survey.is_grid:
        map_png = figures.score_map(scores, grid=survey.grid, deposits=deposits, classes=classes,
                                    class_names=names, title=f"Anomaly score ({config.model})")
    else:
        # the map is drawn in metres, like the interpolated background
        dep_m = None
        if data.deposits is not None:
            dep_m = _deposits_in(data.deposits, data.metric_crs, survey.crs)
        background = (_full_image(map_grid, map_values), map_grid)
        map_png = figures.score_map(scores, x=data.metric_x, y=data.metric_y, deposits=dep_m,
                                    classes=classes, class_names=names, background=background,
                                    crs=data.metric_crs, title=f"Anomaly score ({config.model})")
    frame = None if targets is None else targets.frame
    if survey.is_grid:
        overview_png = figures.overview_map(scores, grid=survey.grid, classes=classes,
                                            class_names=names, targets=frame, deposits=deposits,
                                            crs=survey.crs)
        elements_png = figures.element_small_multiples(survey.values, grid=survey.grid)
    else:
        overview_png = figures.overview_map(
            scores, x=data.metric_x, y=data.metric_y, classes=classes, class_names=names,
            thresholds=thresholds.thresholds, background=background, targets=frame,
            deposits=dep_m, crs=data.metric_crs)
        elements_png = figures.element_small_multiples(survey.values, x=data.metric_x,
                                                       y=data.metric_y)
    uncertainty_png = ensemble_text = None
    if uncertainty is not None:
        std, std_map, ensemble = uncertainty
        n_members = len(getattr(ensemble, "members", []))
        style = dict(cmap=figures.UNCERTAINTY_CMAP, colorbar_label=figures.UNCERTAINTY_LABEL,
                     title=f"Uncertainty, {n_members} members",
                     clip_percentiles=(0.0, 99.0))
        if survey.is_grid:
            uncertainty_png = figures.score_map(std, grid=survey.grid, deposits=deposits,
                                                **style)
        else:
            uncertainty_png = figures.score_map(
                std, x=data.metric_x, y=data.metric_y, deposits=dep_m,
                background=(_full_image(map_grid, std_map), map_grid), crs=data.metric_crs,
                **style)
        if hasattr(ensemble, "sentence"):
            ensemble_text = ensemble.sentence(
                survey.n, "valid cells" if survey.is_grid else "samples")
    threshold_lines = {name: value for name, value in zip(names[1:], thresholds.thresholds)}
    counts = {name: int((classes == i).sum()) for i, name in enumerate(names)}
    lower = {name: (float("-inf") if i == 0 else float(thresholds.thresholds[i - 1]))
             for i, name in enumerate(names)}

    roc_png = success_png = ca_png = pa_png = None
    validation_notes = []
    extra_sections = {}
    if data.guidance is not None:
        extra_sections["What this model learned from (not an unsupervised result)"] = \
            _guidance_html(data.guidance)
    if metrics is not None:
        from ..validate import success_rate_curve

        curves = {}
        for name, m in metrics["protocols"].items():
            curve = m.get("roc_curve")
            if curve:
                curves[f"{config.model} ({name})"] = (curve["fpr"], curve["tpr"], m["roc_auc"],
                                                      m.get("roc_auc_ci"))
        roc_png = figures.roc_figure(curves) if curves else None
        src = success_rate_curve(scores, labels)
        success_png = figures.success_rate_figure({config.model: src})
        validation_notes.append(
            "Protocol 'samples': positives are " + metrics["protocols"]["samples"]["positives"]
            + "; negatives are every other valid sample / cell. AUC = Mann-Whitney (ties count "
            "one half); interval = percentile bootstrap with positives and negatives resampled "
            "separately. Deposits were used only here, never in training.")
        for name, m in metrics["protocols"].items():
            if name.startswith("opengad"):
                validation_notes.append(_protocol_note(name, m))
        pa = metrics.get("prediction_area")
        if pa:
            pa_png = figures.pa_plot(pa["thresholds"], pa["pct_deposits"], pa["pct_area"])
        woe = metrics.get("weights_of_evidence")
        if woe and woe["at_class_thresholds"]:
            import pandas as pd

            table = pd.DataFrame(woe["at_class_thresholds"])
            extra_sections["Weights of evidence at the class thresholds (protocol samples)"] = (
                table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-",
                              border=0)
                + ("<p>The Student t of the contrast is undefined at every candidate "
                   "threshold.</p>" if woe["t_max_threshold"] is None else
                   f"<p>The threshold that maximises the Student t of the contrast is "
                   f"{woe['t_max_threshold']:.4g} (--threshold t uses it).</p>"))
        if metrics.get("n_deposits_outside"):
            validation_notes.append(f"{metrics['n_deposits_outside']} of {metrics['n_deposits']} "
                                    "deposits lie outside the surveyed area.")
    details = getattr(thresholds, "details", None)
    if thresholds.method == "ca" and details is not None:
        ca_png = figures.ca_plot(details)

    cleaning = data.cleaning
    return ReportContext(
        title=f"geoanomaly: {record['metrics_label']}",
        input_files=[str(s) for s in survey.sources], deposits_file=config.deposits,
        n_samples=survey.n, is_grid=survey.is_grid,
        grid_shape=(survey.grid.height, survey.grid.width) if survey.is_grid else None,
        crs=record["inputs"]["crs"], elements=survey.elements, units=survey.units,
        model=config.model, score=record["metrics_label"], transform=f"{data.transformer.method}, "
        f"{config.scale} scaling", threshold_method=thresholds.method, seed=config.seed,
        date=record["geoanomaly_run"]["date"], version=record["versions"]["geoanomaly"],
        summary_extra={"samples / cells read": data.raw.n, "features": len(data.feature_names),
                       "run time (s)": round(record["geoanomaly_run"]["seconds"], 1)},
        n_deposits=None if data.deposits is None else len(data.deposits.x),
        metrics=None if metrics is None else metric_rows(metrics),
        validation_notes=validation_notes, roc_png=roc_png, success_rate_png=success_png,
        pa_png=pa_png, extra_sections=extra_sections,
        score_map_png=map_png, map_interpolated=interpolated,
        uncertainty_map_png=uncertainty_png, ensemble_text=ensemble_text,
        histogram_png=figures.score_histogram(scores, threshold_lines),
        extra_figures=_spectrum_area_figures(data),
        ca_png=ca_png, class_counts=counts, class_lower_bounds=lower,
        overview_png=overview_png, elements_png=elements_png,
        targets=None if targets is None else targets.records(MAX_TARGET_ROWS),
        n_targets_total=None if targets is None else len(targets),
        targets_text=None if targets is None else targets.description,
        signature_png=None if targets is None or not len(targets) else
        figures.target_signatures(targets.signature),
        explanation_text=None if explanation is None else explanation.method,
        cleaning_table=cleaning.to_html(), cleaning_notes=list(cleaning.notes),
        reader_notes=list(data.raw.notes) + list(data.notes)
        + ([] if data.deposits is None else list(data.deposits.notes)) + _map_notes(survey),
        warnings=list(data.warnings),
        config_yaml=yaml.safe_dump(record["config"], sort_keys=False))


def _map_notes(survey) -> list[str]:
    """How the score map was drawn when it is not one dot per sample."""
    from .figures import MAX_SCATTER_POINTS

    if survey.is_grid or survey.n <= MAX_SCATTER_POINTS:
        return []
    return [f"Score map: the {survey.n:,} samples (more than {MAX_SCATTER_POINTS:,}) are drawn "
            "as a raster of the highest score of the samples in each pixel, not as one dot "
            "each; scores.csv and anomalies.gpkg hold every sample."]


def _guidance_html(guidance: dict) -> str:
    """The guided model's inputs in words: kind, controls, folds, and per fold the deposits it
    learnt from and its controlling functions (escaped: the text holds file names)."""
    from html import escape

    items = [f"<li><b>{escape(guidance['kind'])}</b></li>"]
    items += [f"<li>control: {escape(c)}</li>" for c in guidance.get("controls", [])]
    if "folds" in guidance:
        items.append(f"<li>{escape(guidance['folds'])} {escape(guidance['map'])}.</li>")
    html = "<ul>" + "".join(items) + "</ul>"
    rows = []
    for fold in guidance.get("per_fold", []):
        functions = "<br>".join(f"{escape(f['layer'])}: {escape(f['description'])}"
                                for f in fold.get("controlling_functions", []))
        if fold.get("penalty", "on") != "on":
            functions += f"<br><i>penalty {escape(fold['penalty'])}</i>"
        rows.append(f"<tr><td>{fold['fold'] + 1}</td><td>{fold['n_rows_held_out']}</td>"
                    f"<td>{fold['n_deposits_held_out']}</td><td>{fold['n_positive_training']}</td>"
                    f"<td>{functions or '-'}</td></tr>")
    if rows:
        html += ("<table><tr><th>fold</th><th>rows held out</th><th>deposits held out</th>"
                 "<th>positive rows it learnt from</th><th>controlling functions</th></tr>"
                 + "".join(rows) + "</table>")
    return html


METRIC_COLUMNS = ("protocol", "roc_auc", "roc_auc_ci", "roc_auc_std", "n_draws", "n_positive",
                  "n_negative", "n_pairs", "positives", "stratify_by")


def metric_rows(metrics: dict) -> list[dict]:
    """The few columns a reader needs per protocol (metrics.json keeps everything)."""
    rows = []
    for name, m in metrics["protocols"].items():
        row = {k: m[k] for k in METRIC_COLUMNS if k in m and m[k] is not None}
        row["protocol"] = name
        rows.append(row)
    return rows


def _protocol_note(name: str, m: dict) -> str:
    if name == "opengad":
        return ("Protocol 'opengad' (OpenGADBench): positive = the sample nearest each deposit; "
                f"negatives = as many random samples drawn among those at least "
                f"{m.get('min_dist_m', 5000):.0f} m from every deposit; {m.get('n_draws', 20)} "
                "draws, mean +- std. Comparable with published OpenGADBench numbers, but open to "
                "the survey confound: check 'opengad-stratified'.")
    return ("Protocol 'opengad-stratified': each positive is compared only with eligible "
            f"negatives of the same survey set ({m.get('stratify_by')}); AUC = fraction of "
            "pairs won, interval by bootstrap over positives. A score that only separates "
            "surveys gets about 0.5 here.")


def _spectrum_area_figures(data) -> dict:
    """{caption: PNG} of the S-A fits when --filter sa was used."""
    parts = getattr(data, "spectrum_area", None)
    if not parts:
        return {}
    from . import figures
    from ..grid.spectrum_area import sa_plot_details

    return {f"Spectrum-area plot of {name}: the break splits the spectrum into background "
            f"(power >= {part.threshold:.3g}) and the anomaly component used as input":
            figures.ca_plot(sa_plot_details(part, name), title=f"S-A plot: {name}")
            for name, part in parts.items()}


def _full_image(grid, values_per_valid_cell):
    return grid.to_image(values_per_valid_cell)


def _deposits_in(deposits, target_crs, source_crs):
    """Deposit coordinates in the metric CRS of the map (they are read in the survey's CRS)."""
    if target_crs is None or source_crs is None or target_crs == source_crs:
        return deposits.x, deposits.y
    from pyproj import Transformer

    tr = Transformer.from_crs(source_crs, target_crs, always_xy=True)
    x, y = tr.transform(deposits.x, deposits.y)
    return np.asarray(x), np.asarray(y)
