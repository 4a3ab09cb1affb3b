"""Outputs of ``geoanomaly compare``: one table, every model's scores, one report.

Written through the same atomic staging as a single run, so a failed comparison leaves nothing
that looks complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import OutputStaging


def write_comparison(config, data, results, table, labels) -> list[str]:
    import pandas as pd
    import yaml

    from . import figures
    from .outputs import package_versions
    from .report import ReportContext, build_report
    from .writers import write_json, write_yaml

    survey = data.survey
    out_dir = Path(config.out)
    columns = {"x": survey.x, "y": survey.y}
    for r in results:
        columns[f"score_{r.model}"] = r.scores
        columns[f"class_{r.model}"] = r.classes
    if labels is not None:
        columns["near_deposit"] = np.asarray(labels[0], dtype=int)
    scores_table = pd.DataFrame(columns)

    deposits = None if data.deposits is None else (data.deposits.x, data.deposits.y)
    roc_curves, success_curves, extra = {}, {}, {}
    for r in results:
        if r.metrics:
            for name, m in r.metrics["protocols"].items():
                if m.get("roc_curve"):
                    roc_curves[r.model] = (m["roc_curve"]["fpr"], m["roc_curve"]["tpr"],
                                           m["roc_auc"], m.get("roc_auc_ci"))
            from ..validate import success_rate_curve

            success_curves[r.model] = success_rate_curve(r.scores, labels[0])
        if survey.is_grid:
            extra[f"{r.model}: score map"] = figures.score_map(
                r.scores, grid=survey.grid, deposits=deposits, classes=r.classes,
                class_names=list(r.thresholds.class_names), title=r.model)
        else:
            extra[f"{r.model}: score map (samples)"] = figures.score_map(
                r.scores, x=survey.x, y=survey.y, deposits=deposits, classes=r.classes,
                class_names=list(r.thresholds.class_names), crs=survey.crs, title=r.model)
        if r.thresholds.method == "ca" and r.thresholds.details is not None:
            extra[f"{r.model}: concentration-area fit and thresholds"] = \
                figures.ca_plot(r.thresholds.details)

    record = {
        "config": config.to_dict(), "seed": config.seed,
        "models": [r.model for r in results],
        "inputs": {"sources": [str(s) for s in survey.sources],
                   "n_rows_read": int(data.raw.n), "n_rows_used": int(survey.n),
                   "features": list(data.feature_names)},
        "versions": package_versions()}
    metric_rows = []
    for r in results:
        for name, m in (r.metrics or {}).get("protocols", {}).items():
            row = {"model": r.model, "protocol": name, "roc_auc": m["roc_auc"]}
            if m.get("roc_auc_ci") is not None:
                row["roc_auc_ci"] = m["roc_auc_ci"]
            if "roc_auc_std" in m:
                row["roc_auc_std"] = m["roc_auc_std"]
            row["n_positive"] = m.get("n_positive")
            row["n_negative"] = m.get("n_negative")
            metric_rows.append(row)

    with OutputStaging(out_dir) as staging:
        table.to_csv(staging.path("comparison.csv"), index=False)
        write_json(staging.path("comparison.json"), {
            "table": table.to_dict(orient="records"),
            "metrics": {r.model: r.metrics for r in results}})
        scores_table.to_csv(staging.path("scores.csv"), index=False)
        write_yaml(staging.path("run.yaml"), record)
        context = ReportContext(
            title=f"geoanomaly comparison: {', '.join(r.model for r in results)}",
            input_files=[str(s) for s in survey.sources], deposits_file=config.deposits,
            n_samples=survey.n, is_grid=survey.is_grid, crs=None if survey.crs is None
            else survey.crs.to_string(), elements=survey.elements, units=survey.units,
            model=", ".join(r.model for r in results), transform=f"{data.transformer.method}, "
            f"{config.scale} scaling", threshold_method=config.threshold, seed=config.seed,
            n_deposits=None if data.deposits is None else len(data.deposits.x),
            metrics=metric_rows or None,
            validation_notes=["Every detector saw the same cleaned and transformed data and "
                              "was validated by the same protocols; deposits were used only "
                              "for validation."],
            roc_png=figures.roc_figure(roc_curves) if roc_curves else None,
            success_rate_png=(figures.success_rate_figure(success_curves)
                              if success_curves else None),
            histogram_png=figures.score_histogram(results[0].scores, {
                n: t for n, t in zip(list(results[0].thresholds.class_names)[1:],
                                     results[0].thresholds.thresholds)},
                title=f"{results[0].model} score distribution"),
            cleaning_table=data.cleaning.to_html(), cleaning_notes=list(data.cleaning.notes),
            reader_notes=list(data.raw.notes) + list(data.notes),
            extra_sections={"Comparison table": table.to_html(index=False, border=0)},
            extra_figures=extra,
            config_yaml=yaml.safe_dump(record["config"], sort_keys=False))
        build_report(staging.path("report.html"), context)
    return sorted(str(p.relative_to(out_dir)) for p in staging.published)
