"""Several detectors on the same prepared data, validated the same way, in one report.

``geoanomaly compare SOURCE --models vae,ae,mcd,pca,iforest --deposits FILE --out DIR`` reads,
cleans and transforms once, then fits each detector with the same seed, applies the same spatial
context and thresholds, and evaluates every protocol. The table (comparison.csv / .json),
every model's scores (scores.csv) and overlaid ROC and success-rate curves go to ``DIR``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import MODELS, SCORES, SEEDED_MODELS, RunConfig, check_model, model_parts
from .errors import InputError
from .pipeline import (PreparedData, deposit_labels, detect_and_validate, prepare,
                       score_description)


@dataclass
class ModelResult:
    model: str
    config: RunConfig
    scores: np.ndarray
    classes: np.ndarray
    thresholds: object
    metrics: dict | None
    seconds: float
    description: str = ""


@dataclass
class CompareResult:
    data: PreparedData
    results: list[ModelResult]
    table: object  # pandas DataFrame
    out_dir: Path

    def summary(self) -> str:
        lines = [f"geoanomaly compare: {len(self.results)} detectors on {self.data.survey.n} "
                 f"{'cells' if self.data.survey.is_grid else 'samples'} x "
                 f"{len(self.data.feature_names)} features"]
        lines.append(self.table.to_string(index=False))
        lines.append(f"  report: {self.out_dir / 'report.html'}")
        return "\n".join(lines)


def model_features(model: str, config: RunConfig, data: PreparedData) -> np.ndarray:
    """The input a detector takes (its registry ``input_kind``): the shared features, full-rank
    ilr ones on clr data for a model that needs full rank (MCD), or the cleaned compositions for
    a model that does its own log-ratio transform (Info-DAN)."""
    from .detect.registry import spec

    entry = spec(model)
    if entry.input_kind == "composition":
        return data.survey.values.to_numpy(dtype=np.float64)
    if entry.input_kind == "windows":
        from .grid.windows import map_input

        return map_input(config, data)
    if entry.full_rank and data.transformer.method == "clr":
        from .transform import Transformer

        return Transformer(method="ilr", scale=config.scale).fit_transform(data.survey.values)
    return data.X


def run_model(model: str, config: RunConfig, data: PreparedData, labels) -> ModelResult:
    """Fit, score, add spatial context, threshold and validate one detector (or one fused
    ``a+b`` model; with --ensemble N the seeded models get N members, the others one)."""
    if len(model_parts(model)) > 1:
        cfg = dataclasses.replace(config, model=model)
    else:
        allowed = SCORES.get(model, ("enrich",))
        score = config.score if config.score in allowed else "enrich"
        cfg = dataclasses.replace(config, model=model, score=score)
        if model not in SEEDED_MODELS:
            cfg = dataclasses.replace(cfg, ensemble=1, ensemble_architectures=None)
        elif model not in ("vae", "ae"):
            cfg = dataclasses.replace(cfg, ensemble_architectures=None)
        cfg = dataclasses.replace(cfg, fusion_weights=None)
    X = model_features(model, cfg, data)
    detector, scores, thresholds, classes, metrics, seconds = detect_and_validate(
        cfg, data, labels, X=X)
    return ModelResult(model, cfg, scores, classes, thresholds, metrics, seconds,
                       score_description(cfg, detector, data.transformer.method))


def comparison_table(results: list[ModelResult]):
    """One row per detector: each protocol's AUC with its interval or spread, and the time."""
    import pandas as pd

    rows = []
    for r in results:
        row = {"model": r.model, "score": r.description or score_description(r.config)}
        for name, m in (r.metrics or {}).get("protocols", {}).items():
            row[f"{name} AUC"] = round(float(m["roc_auc"]), 3)
            if m.get("roc_auc_ci") is not None:
                lo, hi = m["roc_auc_ci"]
                row[f"{name} 95% CI"] = f"{lo:.3f}-{hi:.3f}"
            elif "roc_auc_std" in m:
                row[f"{name} std"] = round(float(m["roc_auc_std"]), 3)
        if r.metrics and "success_rate" in r.metrics:
            row["success-rate AUC"] = round(r.metrics["success_rate"]["auc"], 3)
        row["C-A thresholds"] = ", ".join(f"{t:.3g}" for t in r.thresholds.thresholds)
        row["seconds"] = round(r.seconds, 2)
        rows.append(row)
    return pd.DataFrame(rows)


def compare(config: RunConfig, models: list[str]) -> CompareResult:
    """Run ``models`` on one prepared survey and write the comparison to ``config.out``."""
    if not models:
        raise InputError("Name at least one model with --models, e.g. --models vae,mcd.")
    unknown = [p for m in models for p in model_parts(m) if p not in MODELS]
    if unknown:
        raise InputError(f"Unknown model(s) {', '.join(unknown)}; use {', '.join(MODELS)}.")
    for m in models:
        if len(model_parts(m)) > 1:
            check_model(dataclasses.replace(config, model=m))
    if any("univariate" in model_parts(m) for m in models) and not config.target:
        raise InputError("The univariate model needs --target (e.g. --target Au).")
    if not config.out:
        raise InputError("No output folder given: add --out DIR.")
    data = prepare(dataclasses.replace(config, model="vae"))
    labels = deposit_labels(config, data) if data.deposits is not None else None
    results = [run_model(m, config, data, labels) for m in models]
    table = comparison_table(results)
    from .export.comparison import write_comparison

    write_comparison(config, data, results, table, labels)
    return CompareResult(data, results, table, Path(config.out))
