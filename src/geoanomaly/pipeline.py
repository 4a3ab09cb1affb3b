"""The flow of one run: read -> clean -> transform -> detect -> threshold -> validate -> export.

Each stage lives in its own sub-package; this module only wires them together, in the order of
docs/DESIGN.md, so the whole path a survey takes can be read in one screen. The CLI and the
Python API (``geoanomaly.run``) both end here.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import RunConfig, make_config
from .errors import InputError
from .io.metres import is_geographic
from .io.metres import metric_coordinates as metric_coordinates_of
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
    strata: list[frozenset] | None = None  # per sample: the set of surveys it was reported in
    spectrum_area: dict | None = None  # --filter sa: {feature: SADecomposition}
    guidance: dict | None = None  # what a guided model (pcvae, ppf-cnn) used: guided.py
    #: k -> (metric_x, the k nearest samples of every sample): the spatial context of the
    #: model, its linear twin and ensemble members share one search (seconds on 1 M samples)
    neighbours: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def observed(self) -> np.ndarray:
        """(rows, features) bool: True where the feature rests on measured values only.

        A value the cleaning imputed is not measured; a log-ratio feature (clr, ilr) of a row
        with any imputed element is not either. Map models mask what is False
        (grid/windows.py); the grid itself (``survey.grid``: transform, shape, CRS, valid
        cells) says where the rows lie."""
        imputed = getattr(self.cleaning, "imputed", None)
        shape = (self.survey.n, len(self.feature_names))
        if imputed is None or imputed.shape[0] != self.survey.n:
            return np.ones(shape, dtype=bool)
        measured = ~imputed.reindex(columns=self.survey.elements, fill_value=False).to_numpy()
        if self.transformer.method in ("clr", "ilr"):
            return np.repeat(measured.all(axis=1, keepdims=True), shape[1], axis=1)
        return measured


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
    score_std: np.ndarray | None = None  # ensembles / fusion: spread of the member ranks

    def summary(self) -> str:
        lines = [f"geoanomaly: {self.config.model} on {self.data.survey.n} "
                 f"{'cells' if self.data.survey.is_grid else 'samples'} x "
                 f"{len(self.data.feature_names)} features in {self.seconds:.1f} s"]
        members = getattr(self.detector, "members", None)
        if members:
            lines.append(f"  {len(members)} members ({'; '.join(m.label() for m in members)}), "
                         f"score = {self.detector.combine}, spread in score_std / "
                         "uncertainty.tif")
        if self.metrics:
            for name, m in self.metrics.get("protocols", {}).items():
                lines.append("  " + describe_metric(name, m))
        else:
            lines.append("  no deposits given: no validation")
        if self.thresholds.method == "t":
            lines.append("  threshold: weights-of-evidence t maximum, CHOSEN WITH THE DEPOSITS "
                         "(supervised; the anomaly classes are in-sample)")
        guidance = self.data.guidance
        if guidance is not None:
            lines.append(f"  {guidance['kind'].upper()}" +
                         (f": {guidance['folds']}" if "folds" in guidance else ""))
        if self.config.train_away_from_deposits is not None:
            lines.append(f"  TRAINED WITH DEPOSITS: fitted only on samples "
                         f"{self.config.train_away_from_deposits:g} m or more from every deposit")
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


def cleaning_options(config: RunConfig):
    """The clean stage's options from a run configuration."""
    from .clean import CleaningOptions

    return CleaningOptions(
        below_detection=config.below_detection,
        below_detection_factor=config.below_detection_factor,
        max_missing_fraction=config.max_missing,
        drop_duplicates=config.drop_duplicates,
        min_detected_fraction=config.min_detected,
    )


def prepare(config: RunConfig, raw: Survey | None = None,
            with_deposits: bool = True) -> PreparedData:
    """Read the survey and deposits, clean and transform: everything before the detector.

    ``raw``: a survey already read (a streamed grid's sampled cells, stream/run.py);
    ``with_deposits=False`` leaves the deposits to the caller (a streamed run places them on
    the whole grid, not on the sample)."""
    from .clean import clean
    from .io import deposits_inside, read_deposits, read_survey
    from .progress import showing
    from .transform import Transformer

    with showing(config.progress):  # bars for reading and cleaning a large survey
        if raw is None:
            raw = read_survey(config.sources, x=config.x, y=config.y, crs=config.crs,
                              elements=config.elements)
        options = cleaning_options(config)
        check_values(raw)
        survey, report = clean(raw, options)
    check_cleaned(config, raw, survey, report)
    notes: list[str] = []
    survey = select_target_elements(config, survey, notes)
    if config.level_by:
        from .transform import level_by_group

        groups = meta_column(raw, survey, config.level_by, "--level-by")
        survey.values = level_by_group(survey.values, groups)
        notes.append(f"Each element levelled per {config.level_by} (divided by the batch median, "
                     f"times the overall median) before the transform: "
                     f"{len(set(groups))} batches.")
    strata = None
    if config.stratify_by:
        column = meta_column(raw, survey, config.stratify_by, "--stratify-by", raw_rows=True)
        strata = [frozenset(str(v) for v in column[rows]) for rows in report.input_rows()]
    method = resolve_transform(config, len(survey.elements))
    if config.transform == "auto":
        notes.append(f"Transform {method}: " + (
            f"{len(survey.elements)} elements, fewer than {MIN_CLR_ELEMENTS} (log10; a clr over "
            "a few elements would divide by their own geometric mean and cancel their common "
            "enrichment)." if method == "log10" else
            f"{len(survey.elements)} elements, a broad suite (clr: log-ratios to the geometric "
            "mean of all elements)."))
    from .detect.registry import REGISTRY

    entry = REGISTRY.get(config.model)  # None for a fusion: compare.model_features per member
    if entry is not None and entry.full_rank and method == "clr":
        # clr parts sum to zero, so their covariance is singular; ilr spans the same space with
        # full rank (Mahalanobis distances on ilr equal those on clr with a pseudo-inverse).
        method = "ilr"
        notes.append(f"Model {config.model} needs full-rank features: the clr transform was "
                     "replaced by ilr, which spans the same log-ratio space.")
    transformer = Transformer(method=method, scale=config.scale)
    X = transformer.fit_transform(survey.values)
    spectrum_area = None
    if config.filter == "sa":
        if not survey.is_grid:
            raise InputError("--filter sa works on grids (a spectrum of a map); this survey is "
                             "a table of points: leave --filter out.")
        from .grid.spectrum_area import sa_filter_features

        X, spectrum_area = sa_filter_features(survey.grid, X, transformer.feature_names_)
        notes.append("Spectrum-area filter: every feature map was replaced by its S-A anomaly "
                     "component (the spectral band between the noise floor and the background, "
                     "two S-A breakpoints fitted per feature; plots in the report).")
    metric_x, metric_y, metric_crs = metric_coordinates(survey, notes)

    deposits = inside = None
    if config.deposits and with_deposits:
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
                        metric_crs=metric_crs, notes=notes, strata=strata,
                        spectrum_area=spectrum_area)


#: Fewer samples (or cells) than this after cleaning cannot give a score distribution, a
#: threshold or a held-out validation set worth reporting.
MIN_SAMPLES = 20


def check_values(raw: Survey) -> None:
    """An infinite number in a table is a broken export, not a missing value: refused with its
    column and row (a grid's nodata is NaN already, and handled as missing)."""
    if raw.is_grid:
        return
    for element in raw.elements:
        column = raw.values[element]
        if column.dtype.kind != "f":
            continue
        bad = np.flatnonzero(np.isinf(column.to_numpy()))
        if bad.size:
            raise InputError(
                f"{', '.join(map(str, raw.sources))}: column {raw.columns.get(element, element)} "
                f"holds an infinite value at data row {int(bad[0]) + 1} ({bad.size} in all); "
                "fix or blank those cells.")


def check_cleaned(config: RunConfig, raw: Survey, survey: Survey, report) -> None:
    """Refuse what cleaning leaves unusable, naming the element or the count: an element asked
    for with --elements that cleaning dropped, an element with one value in every row, too few
    samples for any model."""
    source = ", ".join(map(str, raw.sources))
    if config.elements:
        table = report.per_element
        for _, row in table[~table["kept"]].iterrows():
            if not str(row["dropped_reason"]).startswith("same element"):
                raise InputError(f"{source}: element {row['column']} given in --elements was "
                                 f"dropped by cleaning ({row['dropped_reason']}); leave it out "
                                 "of --elements or relax --max-missing / --min-detected.")
    values = survey.values.to_numpy(dtype=float)
    if survey.n:
        constant = [e for e, col in zip(survey.elements, values.T) if np.ptp(col) == 0]
        if constant:
            e = constant[0]
            raise InputError(f"{source}: element {survey.columns.get(e, e)} has the same value "
                             f"({survey.values[e].iloc[0]:g}) in every "
                             f"{'cell' if survey.is_grid else 'sample'} after cleaning, so it "
                             "carries no information; leave it out with --elements.")
    if survey.n < MIN_SAMPLES:
        raise InputError(f"{source}: only {survey.n} {'cells' if survey.is_grid else 'samples'} "
                         f"are left after cleaning; at least {MIN_SAMPLES} are needed for a "
                         "score distribution and a threshold.")


#: A clr needs a broad suite: its reference, the geometric mean of all parts, should stand for
#: the rock, not for the few elements being looked at (over a handful of pathfinders it cancels
#: their common enrichment). The "auto" transform follows the data it is given, not the flags.
MIN_CLR_ELEMENTS = 10


def resolve_transform(config: RunConfig, n_elements: int) -> str:
    """The transform used: "auto" = clr on a broad suite (>= MIN_CLR_ELEMENTS), else log10."""
    if config.transform != "auto":
        return config.transform
    return "clr" if n_elements >= MIN_CLR_ELEMENTS else "log10"


def select_target_elements(config: RunConfig, survey: Survey, notes: list[str]) -> Survey:
    """With --target (and no --elements): keep the elements its policy keeps
    (``--target-elements``, targets.TARGET_ELEMENT_POLICIES)."""
    if not config.target or config.elements:
        return survey
    import dataclasses

    from .targets import resolve_target_policy, select_pathfinders

    chosen, missing, citation = select_pathfinders(config.target, survey.elements)
    policy = resolve_target_policy(config.target_elements, config.target, survey.elements)
    notes.append(f"Target {config.target}: pathfinder elements {', '.join(chosen)}"
                 + (f" (not in the survey after cleaning: {', '.join(missing)})" if missing else "")
                 + f". Source: {citation}")
    if policy != "pathfinders":
        why = (" (auto: fewer than half of the target's set survived cleaning)"
               if config.target_elements == "auto" else "")
        notes.append(f"Target elements {policy}{why}: the model sees all {len(survey.elements)} "
                     "elements" + (", the score is weighted towards the pathfinders "
                                   "(a third on the target element, a third on its other "
                                   "pathfinders, a third on the rest)."
                                   if policy == "weighted-suite" else ", weighed equally."))
        return survey
    return dataclasses.replace(survey, values=survey.values[chosen].copy(),
                               units={e: survey.units.get(e, "") for e in chosen},
                               columns={e: survey.columns.get(e, e) for e in chosen})


def meta_column(raw: Survey, survey: Survey, name: str, option: str, raw_rows: bool = False):
    """A metadata column (survey / lab batch) as strings, of the cleaned or of the raw rows."""
    source = raw if raw_rows else survey
    if source.meta is None or name not in source.meta.columns:
        have = [] if source.meta is None else [str(c) for c in source.meta.columns]
        raise InputError(f"Column {name!r} given to {option} is not in "
                         f"{', '.join(map(str, raw.sources))}; metadata columns are: "
                         f"{', '.join(have) or 'none'}.")
    return source.meta[name].astype(str).to_numpy()


def metric_coordinates(survey: Survey, notes: list[str]):
    """Coordinates in metres for distances and maps (io/metres.py), the choice noted."""
    mx, my, crs, note = metric_coordinates_of(survey.x, survey.y, survey.crs)
    if note:
        notes.append(note)
    return mx, my, crs


# ------------------------------------------------------------------------------------------
# detect


def target_weights(config: RunConfig, feature_names: list[str]) -> list[float] | None:
    """Score weights of the features under --target's policy (see targets.target_weights)."""
    from .targets import target_weights as weights_of_target

    return weights_of_target(config, feature_names)


def build_detector(config: RunConfig, feature_names: list[str]):
    """The configured detector, built from its registry entry (detect/registry.py)."""
    from .config import effective_score
    from .detect import make_detector
    from .detect.registry import spec

    entry = spec(config.model)
    params = entry.parameters(config, list(feature_names),
                              effective_score(config.model, config.score),
                              target_weights(config, feature_names))
    return make_detector(config.model, **params)


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
    """Positives of protocol "samples" (the rule lives in validate/labels.py)."""
    from .validate.labels import protocol_positives

    return protocol_positives(data.survey, data.deposits, data.metric_x, data.metric_y,
                              config.radius or None)


def smoothing_k(config: RunConfig, is_grid: bool) -> int:
    """The neighbour count of the spatial context: explicit, or 8 samples / the 3 x 3 window."""
    if config.smooth_k is None:
        return 9 if is_grid else 8
    return int(config.smooth_k)


def spatial_context(config: RunConfig, data: PreparedData, scores: np.ndarray) -> np.ndarray:
    """Mean percentile rank over the k nearest samples, or over the window of valid cells
    around each grid cell (masked: holes and edges add no cells; label-free; k <= 1: unchanged)."""
    k = smoothing_k(config, data.survey.is_grid)
    if k <= 1:
        return scores
    from .grid.neighbours import neighbour_rank_mean, percentile_ranks

    if data.survey.is_grid:
        from .grid.smoothing import masked_window_mean, window_size

        size = window_size(k)
        note = (f"Spatial context: each score is the mean percentile rank of the raw score over "
                f"the valid cells of the {size} x {size} window around its cell.")
        if note not in data.notes:
            data.notes.append(note)
        return masked_window_mean(data.survey.grid, percentile_ranks(scores), size)
    note = (f"Spatial context: each score is the mean percentile rank of the raw score over its "
            f"{k} nearest samples (itself included).")
    if note not in data.notes:
        data.notes.append(note)
    from .grid.neighbours import nearest_index

    cache = getattr(data, "neighbours", None)
    points, index = (None, None) if cache is None else cache.get(k, (None, None))
    if (points is not data.metric_x or len(index) != len(scores)) and len(scores) > 1:
        index = nearest_index(data.metric_x, data.metric_y, k)
        if cache is not None:
            cache[k] = (data.metric_x, index)
    return neighbour_rank_mean(data.metric_x, data.metric_y, scores, k, index=index)


def default_protocols(config: RunConfig) -> list[str]:
    if config.protocols:
        return list(config.protocols)
    return ["samples", "opengad"] + (["opengad-stratified"] if config.stratify_by else [])


def protocol_metrics(config: RunConfig, data: PreparedData, scores: np.ndarray, labels) -> dict:
    """{protocol name: metrics} for every requested protocol (ROC AUC with interval / spread)."""
    from .validate import evaluate_opengad, evaluate_opengad_stratified, evaluate_samples

    survey, dep = data.survey, data.deposits
    geographic = is_geographic(survey.crs)
    protocols = {}
    for name in default_protocols(config):
        if name == "samples":
            m = evaluate_samples(scores, labels[0], n_boot=config.n_boot, seed=config.seed)
            m.update(labels[1])
        elif name == "opengad":
            m = evaluate_opengad(scores, survey.x, survey.y, dep.x, dep.y, geographic,
                                 min_dist=config.min_dist)
        else:
            if data.strata is None:
                raise InputError("Protocol opengad-stratified needs --stratify-by COLUMN.")
            m = evaluate_opengad_stratified(scores, survey.x, survey.y, dep.x, dep.y, geographic,
                                            data.strata, min_dist=config.min_dist,
                                            n_boot=config.n_boot, seed=config.seed)
            m["stratify_by"] = config.stratify_by
        protocols[name] = m
    return protocols


def validate_scores(config: RunConfig, data: PreparedData, scores: np.ndarray, labels,
                    thresholds=None) -> dict:
    """Every requested protocol, plus success-rate, P-A and weights of evidence (protocol samples)."""
    from .threshold import t_threshold, woe_table
    from .validate import prediction_area, success_rate_curve

    dep = data.deposits
    protocols = protocol_metrics(config, data, scores, labels)
    positives = labels[0]
    result = {**primary_protocol(protocols), "protocols": protocols,
              "n_deposits": int(len(dep.x)),
              "n_deposits_outside": int((~data.deposits_inside).sum())}
    if positives.any() and (~positives).any():
        src = success_rate_curve(scores, positives)
        result["success_rate"] = {"auc": float(src.auc), "positives": "protocol samples",
                                  **src.to_dict(max_points=200)}
        result["prediction_area"] = prediction_area(scores, positives).to_dict()
        cuts = list(thresholds.thresholds) if thresholds is not None else []
        table = woe_table(scores, positives, cuts) if cuts else None
        try:
            t_best = float(t_threshold(scores, positives))
        except InputError:  # t undefined everywhere (e.g. all positives in the top class)
            t_best = None
        result["weights_of_evidence"] = {
            "at_class_thresholds": [] if table is None else _records(table),
            "t_max_threshold": t_best,
        }
    return result


#: the keys metrics.json keeps at its top level for the primary protocol (the first one run)
PRIMARY_KEYS = ("roc_auc", "roc_auc_ci", "n_positive", "n_negative")


def primary_protocol(protocols: dict) -> dict:
    """{"protocol": name, "roc_auc", "roc_auc_ci", "n_positive", "n_negative"} of the first
    protocol run ("samples" by default): the contract of metrics.json's top level, beside the
    per-protocol detail (a protocol without an interval gives None there)."""
    if not protocols:
        return {}
    name, m = next(iter(protocols.items()))
    return {"protocol": name, **{key: m.get(key) for key in PRIMARY_KEYS}}


def _records(table) -> list[dict]:
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                 (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


# ------------------------------------------------------------------------------------------
# the whole run


def check_model_size(config: RunConfig, data: PreparedData) -> None:
    """Refuse a model that the survey is too small for (detect/registry.minimum_samples), with
    the reason and what to do, before anything is fitted."""
    from .config import model_parts
    from .detect.registry import minimum_samples

    unit = "cells" if data.survey.is_grid else "samples"
    n = int(training_rows(config, data).sum())
    for model in model_parts(config.model):
        need, why, advice = minimum_samples(model, len(data.feature_names))
        if n < need:
            raise InputError(
                f"{data.survey.sources[0] if data.survey.sources else 'the survey'}: model "
                f"{model} needs at least {need} {unit} ({why}), this run has {n}; {advice}.")


def training_rows(config: RunConfig, data: PreparedData) -> np.ndarray:
    """The rows a detector is fitted on: all of them, or with --train-away-from-deposits D only
    the samples / cells at least D metres from every known deposit (Luo et al. 2021 trained
    GANomaly on non-mineralised samples). Then the deposits shaped the model, and the notes,
    metrics.json and the summary say so."""
    distance = config.train_away_from_deposits
    if distance is None:
        return np.ones(data.survey.n, dtype=bool)
    if data.deposits is None:
        raise InputError("--train-away-from-deposits needs --deposits (the known deposits to "
                         "keep away from).")
    from .validate import sample_labels

    near = sample_labels(data.survey.x, data.survey.y, data.deposits.x, data.deposits.y,
                         float(distance), geographic=is_geographic(data.survey.crs))
    keep = ~near
    if keep.sum() < 10:
        raise InputError(f"Only {int(keep.sum())} samples lie {distance:g} m or more from every "
                         "deposit; lower --train-away-from-deposits.")
    note = (f"TRAINED WITH DEPOSITS: the detector was fitted only on the {int(keep.sum())} "
            f"samples / cells at least {distance:g} m from every known deposit ({int(near.sum())} "
            "left out), so the deposits shaped the model; its AUC is not that of an "
            "unsupervised model.")
    if note not in data.notes:
        data.notes.append(note)
    return keep


def fitting_input(config: RunConfig, data: PreparedData, X):
    """What ``fit`` gets: the rows ``training_rows`` keeps (all, unless trained away from the
    deposits); a map model's input is the whole map."""
    rows = training_rows(config, data)
    if isinstance(X, np.ndarray):
        return X[rows]
    if not rows.all():
        raise InputError("--train-away-from-deposits is not available for map models yet; "
                         "run them without it.")
    return X


def detect_and_validate(config: RunConfig, data: PreparedData, labels, X=None):
    """Fit and score one detector, add spatial context, threshold, validate (with labels).

    Returns (detector, scores, thresholds, classes, metrics or None, seconds of fit + score +
    spatial context); ``X`` overrides the shared features (compare gives MCD full-rank ilr
    features). With ``--ensemble N > 1`` or a fused model (``vae+mcd``) the detector is a
    fitted :class:`geoanomaly.ensemble.Ensemble` (its members, ``score_std_`` = the spread of
    their ranks), the scores the combined mean rank, and metrics get an "ensemble" entry.
    """
    from .config import is_ensemble

    check_model_size(config, data)
    start = time.perf_counter()
    guidance = None
    if is_ensemble(config):
        from .ensemble import fit_ensemble

        detector = fit_ensemble(config, data, X=X)
        scores = detector.score_
    else:
        if X is None:
            from .compare import model_features

            X = model_features(config.model, config, data)
        from .guided import fit_score_guided, guidance_of

        from .progress import bar, showing

        with showing(config.progress), bar(3, f"fitting {config.model}") as steps:
            if guidance_of(config.model) != "none":
                detector, scores, guidance = fit_score_guided(
                    config, data, X, lambda: build_detector(config, data.feature_names))
            else:
                detector = build_detector(config, data.feature_names)
                detector.fit(fitting_input(config, data, X))
                steps.update()
                steps.set_description(f"scoring {data.survey.n:,} rows")
                scores = score_rows(config, data, detector, X)
            if hasattr(X, "to_samples"):  # a map model on a gridded point survey
                scores = X.to_samples(scores)
            steps.update()
            steps.set_description("spatial context")
            scores = spatial_context(config, data, scores)
            steps.update()
    seconds = time.perf_counter() - start
    data.guidance = guidance
    thresholds, classes = threshold_scores(config, scores, None if labels is None else labels[0])
    metrics = None
    if labels is not None:
        metrics = validate_scores(config, data, scores, labels, thresholds)
        metrics["score"] = score_description(config, detector, data.transformer.method)
        if hasattr(detector, "describe"):
            metrics["ensemble"] = detector.describe()
        metrics["threshold"] = {"method": thresholds.method,
                                "chosen_with_deposits": thresholds.method == "t"}
        metrics["trained_with_deposits"] = (config.train_away_from_deposits is not None or
                                            bool(guidance and guidance["uses_deposits"]))
        if guidance is not None:
            metrics["guidance"] = guidance
    return detector, scores, thresholds, classes, metrics, seconds


def score_rows(config: RunConfig, data: PreparedData, detector, X) -> np.ndarray:
    """The fitted detector's scores of ``X``: here, or with ``--scheduler`` (rows only) on the
    workers of a Dask cluster (cluster.py), with the same result."""
    if config.scheduler and isinstance(X, np.ndarray):
        from .cluster import score_rows_on_cluster

        scores, where = score_rows_on_cluster(config.scheduler, detector, X)
        data.notes.append(f"Rows scored on {where}.")
        return scores
    return np.asarray(detector.anomaly_score(X), dtype=np.float64)


#: rank correlation above which the VAE's map is called the same as its linear twin's
SAME_MAP_CORRELATION = 0.95


def linear_twin(config: RunConfig, data: PreparedData, detector, scores: np.ndarray,
                labels, metrics: dict | None = None) -> dict:
    """What the non-linear network adds: the same score from PPCA, the VAE's linear limit
    (same features, weights, latent size and spatial context), compared with the VAE's.

    Label-free: the Spearman correlation of the two maps. With deposits: the twin's AUC under
    every protocol beside the VAE's (taken from the run's ``metrics``, not recomputed). The
    verdict goes into the report's notes in one sentence.
    """
    from scipy.stats import spearmanr

    twin_config = dataclasses.replace(config, model="ppca")
    rows = twin_fit_rows(len(data.X), config.seed)
    twin = build_detector(twin_config, data.feature_names).fit(
        data.X if rows is None else data.X[rows])
    if rows is not None:
        data.notes.append(f"Linear twin (PPCA) fitted on a seeded sample of {len(rows):,} of "
                          f"the {len(data.X):,} rows (its closed-form fit needs only their "
                          "covariance) and scored on every row.")
    twin_scores = spatial_context(config, data, twin.anomaly_score(data.X))
    rho = float(spearmanr(scores, twin_scores).statistic)
    result = {"model": "ppca", "score": config.score, "spearman_with_vae": rho}
    if labels is not None:
        result["protocols"] = {name: {k: m[k] for k in ("roc_auc", "roc_auc_ci", "roc_auc_std")
                                      if k in m}
                               for name, m in protocol_metrics(config, data, twin_scores,
                                                               labels).items()}
    result["verdict"] = _twin_verdict(rho, result.get("protocols"),
                                      None if metrics is None else metrics["protocols"])
    data.notes.append(result["verdict"])
    return result


#: above this many rows the linear twin is fitted on a seeded sample of them: a covariance of
#: 40 features from 200,000 rows is as good as from all, and a full SVD of a million rows takes
#: seconds that a diagnostic should not cost
TWIN_FIT_ROWS = 200_000


def twin_fit_rows(n_rows: int, seed: int) -> np.ndarray | None:
    """Sorted row indices the linear twin is fitted on, or None for all rows (small surveys)."""
    if n_rows <= TWIN_FIT_ROWS:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=TWIN_FIT_ROWS, replace=False))


def _twin_verdict(rho, twin_protocols, vae_protocols) -> str:
    same = rho >= SAME_MAP_CORRELATION
    text = (f"Linear twin (PPCA, the VAE's linear limit, same score): rank correlation "
            f"{rho:.2f} with the VAE map")
    if twin_protocols and vae_protocols:
        vae = vae_protocols
        diffs = {n: vae[n]["roc_auc"] - twin_protocols[n]["roc_auc"] for n in twin_protocols}
        text += "; AUC " + ", ".join(f"{n} VAE {vae[n]['roc_auc']:.3f} vs PPCA "
                                     f"{twin_protocols[n]['roc_auc']:.3f}" for n in diffs)
        if all(d <= 0.0 for d in diffs.values()):
            return text + ". The non-linear network adds nothing here: the linear model scores " \
                          "as well or better."
        if same:
            return text + ". The maps are nearly the same: the network adds little here."
        return text + "."
    return text + (". The maps are nearly the same: the non-linear network adds little here."
                   if same else ": the network's map differs from the linear one.")


def run(config: RunConfig | None = None, **options) -> RunResult:
    """Run the whole flow. ``geoanomaly.run("survey.csv", out="results", deposits=...)``."""
    if config is None:
        if "sources" not in options:
            raise InputError("run() needs sources=[...] (a table of samples or GeoTIFFs).")
        config = make_config(**options)
    if not config.out:
        raise InputError("No output folder given: pass out=DIR (--out DIR).")
    from .export.atomic import check_output_folder

    check_output_folder(config.out)
    from .stream import should_stream

    if should_stream(config):
        from .stream.run import run_streamed

        return run_streamed(config)
    start = time.perf_counter()
    data = prepare(config)
    labels = deposit_labels(config, data) if data.deposits is not None else None
    detector, scores, thresholds, classes, metrics, _ = detect_and_validate(config, data, labels)
    if config.model == "vae" and config.ensemble == 1:
        twin = linear_twin(config, data, detector, scores, labels, metrics)
        if metrics is not None:
            metrics["linear_twin"] = twin

    from .export.outputs import write_outputs

    score_std = getattr(detector, "score_std_", None)
    seconds = time.perf_counter() - start
    description = score_description(config, detector, data.transformer.method)
    from .explain import explain

    files = write_outputs(config, data, detector, scores, classes, thresholds, metrics,
                          None if labels is None else labels[0], seconds, score_std=score_std,
                          description=description, explanation=explain(config, data, detector))
    return RunResult(config=config, data=data, detector=detector, scores=scores, classes=classes,
                     thresholds=thresholds, metrics=metrics, out_dir=Path(config.out), files=files,
                     seconds=seconds, score_std=score_std)


def score_description(config: RunConfig, detector=None, transform: str | None = None) -> str:
    """What the score is, in words; for the univariate model the element actually scored."""
    from .config import is_ensemble

    if is_ensemble(config):
        base = _ensemble_description(config, transform)
    elif config.model == "univariate" and detector is not None:
        element = detector.feature_names[detector.feature]
        base = f"{transform or 'transformed'}{'-transformed' if transform else ''} {element} " \
               "(univariate)"
    else:
        base = _score_description(config)
    k = smoothing_k(config, False) if config.smooth_k is not None else None
    smooth = (f", mean percentile rank over {k} nearest neighbours" if k and k > 1 else
              ", mean percentile rank over the nearest neighbours (8 samples / 3 x 3 cells)"
              if k is None else "")
    if smooth and is_ensemble(config):
        smooth = "; each member's score first smoothed to the" + smooth[1:]
    return base + smooth


def _ensemble_description(config: RunConfig, transform: str | None = None) -> str:
    """"mean percentile rank of 5 members: VAE ..." for ensembles and fusion (the members are
    listed in metrics.json's "ensemble")."""
    from .ensemble import combine_name, member_config, members_of

    members = members_of(config)
    models = list(dict.fromkeys(m.model for m in members))
    parts = []
    for model in models:
        ms = [m for m in members if m.model == model]
        text = _score_description(member_config(config, ms[0]))
        if len(ms) > 1 and len(models) > 1:
            text += f" ({len(ms)} members)"
        parts.append(text)
    return (f"{combine_name(members)} of {len(members)} member{'s' if len(members) > 1 else ''}"
            f": " + " + ".join(parts))


def _score_description(config: RunConfig) -> str:
    from .config import effective_score
    from .detect.registry import spec

    return spec(config.model).describe(config, effective_score(config.model, config.score))


def run_demo(out: str | Path, *, seed: int = 0, epochs: int | None = None,
             progress: bool = True, kind: str | None = None) -> RunResult:
    """Generate a synthetic survey in ``out/data`` and run the default VAE on it.

    Without ``kind``: the Fe-polymetallic skarn grid with the paper's five elements, run with
    ``target="Fe-poly"`` as a user of such a survey would. With ``kind`` (one of
    ``demo.kinds.ANOMALY_KINDS``): a point survey of gold pathfinders whose deposit halos are
    of that kind (off-structure, joint, mixed, point-source), run with ``target="Au"`` and the
    halo radius as the validation radius, so a user can see which kind the default catches.
    """
    out = Path(out)
    if kind is not None:
        from .demo.kinds import ANOMALY_KINDS, HALO_RADIUS_M, CRS, write_kind_inputs

        if kind not in ANOMALY_KINDS:
            raise InputError(f"Demo kind {kind!r} is not one of {', '.join(ANOMALY_KINDS)}.")
        paths = write_kind_inputs(kind, out / "data", seed=seed)
        options = dict(sources=[str(paths.samples_csv)], deposits=str(paths.deposits_csv),
                       crs=CRS, radius=HALO_RADIUS_M, target="Au")
    else:
        from .demo import write_demo_inputs

        paths = write_demo_inputs(out / "data", seed=seed)
        options = dict(sources=[str(paths.grid_dir)], deposits=str(paths.deposits_csv),
                       target="Fe-poly")
    options.update(out=str(out), seed=seed, progress=progress)
    if epochs:
        options["epochs"] = epochs
    return run(make_config(**options))
