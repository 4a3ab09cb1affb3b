"""Models that learn from more than the chemistry: geology priors and deposit labels.

Two kinds of registered detector are not unsupervised (registry ``guidance``):

* **"prior"** (pcvae, ssmvae): the loss pulls the model towards a per-cell geological prior in
  [0, 1] built from ``--control`` layers (intrusions, faults, favourability rasters). With
  ``--prior deposits`` the prior is the *controlling function* (deposit density against distance
  to each control, ``validate/controlling.py``), which is fitted on deposits, so it is fitted
  inside spatially blocked folds: the model that scores fold k was trained with a prior fitted
  on the other folds' deposits only, and the map is made of those held-out scores. With
  ``--prior geology`` the prior comes from the layers alone (closer to a control = more
  favourable), one model is fitted on everything, and no deposit is used.
* **"labels"** (ppf-cnn): supervised on deposit cells, so always fitted in spatially blocked
  folds; the map is made of out-of-fold predictions only.

Every output of such a run says what it used (``metrics.json["guidance"]``, the notes, the
report): a knowledge-guided or supervised AUC is not that of an unsupervised model.

Fold scores come from different models, whose raw scores need not share a scale: each held-out
score is replaced by its percentile rank among that fold model's scores of every row, which
makes the folds comparable before the map is assembled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

PRIOR_CHOICES = ("auto", "deposits", "geology")


@dataclass
class GuidedModels:
    """The fitted detectors of a fold run (one per spatial fold) and what they used."""

    folds_: list
    info: dict = field(default_factory=dict)

    def anomaly_score(self, X):  # pragma: no cover - the map is made of held-out scores
        raise InputError("a fold-fitted model has no single score for new data: each fold's "
                         "model scores its own held-out area (model/fold_K/).")


def guidance_of(model: str) -> str:
    from .detect.registry import REGISTRY

    entry = REGISTRY.get(model)
    return "none" if entry is None else entry.guidance


def resolve_prior(config, has_deposits: bool) -> str:
    """'deposits' (the controlling function, in folds) or 'geology' (label-free)."""
    if config.prior not in PRIOR_CHOICES:
        raise InputError(f"--prior must be one of {', '.join(PRIOR_CHOICES)}, got "
                         f"{config.prior!r}.")
    if config.prior == "auto":
        return "deposits" if has_deposits else "geology"
    if config.prior == "deposits" and not has_deposits:
        raise InputError("--prior deposits fits the controlling function on known deposits: "
                         "give --deposits, or use --prior geology.")
    return config.prior


# ------------------------------------------------------------------------------------------
# where the model's rows are, and which of them are deposits


@dataclass
class ModelRows:
    """The rows a guided model fits and scores (survey rows, or the cells of a gridded point
    survey), their metric coordinates, and how deposits become labels on them."""

    x: np.ndarray
    y: np.ndarray
    grid: object | None  # a Grid: labels = cells containing a deposit; None: within radius
    radius: float | None

    def positives(self, dep_x, dep_y) -> np.ndarray:
        """True for rows that the deposits (metric coordinates) label positive."""
        if dep_x.size == 0:
            return np.zeros(self.x.size, dtype=bool)
        if self.grid is not None:
            from .validate.labels import cell_labels

            return np.asarray(cell_labels(self.grid, dep_x, dep_y).labels, dtype=bool)
        from .io.metres import distance_to_nearest

        dist, _ = distance_to_nearest(self.x, self.y, dep_x, dep_y, False)
        return dist <= self.radius


def model_rows(config, data, X) -> ModelRows:
    if hasattr(X, "to_samples"):  # a point survey gridded for a map model: its cells
        grid = X.grid
        rows, cols = grid.cell_rows_cols()
        x, y = grid.transform * (cols + 0.5, rows + 0.5)
        return ModelRows(np.asarray(x, float), np.asarray(y, float), grid, None)
    if data.survey.is_grid:
        grid = data.survey.grid
        if data.metric_crs is not None and data.survey.crs is not None and \
                data.metric_crs != data.survey.crs:
            raise InputError("guided models need a grid in projected (metric) coordinates; "
                             "reproject the rasters to a projected CRS first.")
        return ModelRows(np.asarray(data.metric_x, float), np.asarray(data.metric_y, float),
                         grid, None)
    if data.deposits is None:  # a geology prior alone: no deposit becomes a label
        return ModelRows(np.asarray(data.metric_x, float), np.asarray(data.metric_y, float),
                         None, None)
    from .validate.labels import protocol_positives

    _, how = protocol_positives(data.survey, data.deposits, data.metric_x, data.metric_y,
                                config.radius or None)
    return ModelRows(np.asarray(data.metric_x, float), np.asarray(data.metric_y, float), None,
                     float(how["radius_m"]))


def metric_deposits(data) -> tuple[np.ndarray, np.ndarray]:
    """Deposit coordinates in the metres of ``data.metric_x`` (the survey's projected CRS, or
    the UTM zone a lon/lat survey was projected to)."""
    x = np.asarray(data.deposits.x, dtype=float)
    y = np.asarray(data.deposits.y, dtype=float)
    if data.survey.crs is None or data.metric_crs is None or data.metric_crs == data.survey.crs:
        return x, y
    from pyproj import Transformer

    mx, my = Transformer.from_crs(data.survey.crs, data.metric_crs,
                                  always_xy=True).transform(x, y)
    return np.asarray(mx, float), np.asarray(my, float)


# ------------------------------------------------------------------------------------------
# the run


def fit_score_guided(config, data, X, build):
    """Fit and score a guided detector; returns (detector or GuidedModels, raw scores per model
    row, guidance info for metrics.json). ``build()`` makes an unfitted detector."""
    guidance = guidance_of(config.model)
    if config.train_away_from_deposits is not None:
        raise InputError(f"--train-away-from-deposits does not apply to {config.model}: it "
                         "already learns from the deposits or the geology; leave it out.")
    rows = model_rows(config, data, X) if data.deposits is not None or config.control else None
    if guidance == "labels":
        if data.deposits is None:
            raise InputError(f"model {config.model} is supervised: it learns from known deposits; "
                             "give --deposits.")
        return _fit_in_folds(config, data, X, build, rows, prior_layers=None)
    layers = _control_layers(config, data, rows)
    prior_kind = resolve_prior(config, data.deposits is not None)
    if prior_kind == "geology":
        from .validate.controlling import geology_prior

        prior = _mean_prior([geology_prior(layers.values[:, j], kind)
                             for j, kind in enumerate(layers.kinds)])
        detector = build()
        penalty = _penalty_for(detector, prior)
        detector.fit(X, prior=prior)
        scores = np.asarray(detector.anomaly_score(X), dtype=np.float64)
        info = {"kind": "knowledge-guided (geology prior, label-free)", "penalty": penalty,
                "uses_deposits": False, "prior": "geology",
                "controls": layers.descriptions,
                "prior_rule": "closer to a control (or higher on a continuous layer) = more "
                              "favourable; no deposit was used",
                "control_weight": config.control_weight}
        data.notes.append(
            f"KNOWLEDGE-GUIDED (geology, no deposits): {config.model} was trained with a "
            f"penalty (weight {config.control_weight:g}) pulling its scores towards a prior made "
            f"from {', '.join(layers.names)} alone; it is not a chemistry-only model.")
        return detector, scores, info
    return _fit_in_folds(config, data, X, build, rows, prior_layers=layers)


def _control_layers(config, data, rows):
    if not config.control:
        raise InputError(f"model {config.model} needs geology: give --control FILE (polygons of "
                         "intrusions, fault lines, or a raster).")
    from .io.controls import read_controls

    controls = read_controls(config.control, data.metric_crs)
    values = np.asarray(controls.values_at(rows.x, rows.y), dtype=np.float64)
    for description in (list(controls.descriptions) + list(getattr(controls, "notes", []))
                        + list(getattr(controls, "value_notes", []))):
        note = f"Control layer: {description}"
        if note not in data.notes:
            data.notes.append(note)
    return _Layers(controls.names, controls.kinds, controls.descriptions, values)


@dataclass
class _Layers:
    names: list
    kinds: list
    descriptions: list
    values: np.ndarray  # (n_rows, n_layers)


def _mean_prior(priors) -> np.ndarray:
    prior = np.mean(np.column_stack(priors), axis=1)
    return np.clip(np.where(np.isfinite(prior), prior, 0.5), 0.0, 1.0)


#: a prior whose range is below this carries no information
FLAT_PRIOR = 1e-6


def _penalty_for(detector, prior) -> str:
    """Switch the penalty off for a flat prior (no controlling function in this fold, or a
    layer without variation): pulling every score towards one value can only even the scores
    out, never point at favourable ground. Returns what was done, for the outputs."""
    if np.ptp(prior) < FLAT_PRIOR and "lam" in detector.get_params():
        detector.set_params(lam=0.0)
        return "off: the prior is flat (no controlling function), so the model is unconstrained"
    return "on"


def _fold_prior(layers, labelled, positive):
    """The prior of every row for one fold: per distance layer the controlling function fitted
    on the fold's labelled training rows; continuous layers label-free."""
    from .validate.controlling import fit_controlling_function, geology_prior

    priors, functions = [], []
    for j, kind in enumerate(layers.kinds):
        values = layers.values[:, j]
        if kind == "distance":
            use = labelled & np.isfinite(values)
            function = fit_controlling_function(values[use], positive[use])
            priors.append(np.where(np.isfinite(values), function.prior(np.nan_to_num(values)),
                                   np.nan))
            functions.append({"layer": layers.names[j], "form": function.form,
                              "description": function.describe()})
        else:
            priors.append(geology_prior(values, kind))
            functions.append({"layer": layers.names[j], "form": "continuous, min-max",
                              "description": "used as given, scaled to [0, 1]"})
    return _mean_prior(priors), functions


def _fit_in_folds(config, data, X, build, rows, prior_layers):
    """One model per spatial fold; the map is made of each model's held-out scores."""
    from .detect.base import training_rank
    from .validate.spatial_folds import spatial_folds

    folds = spatial_folds(rows.x, rows.y, n_folds=config.folds, seed=config.seed)
    dep_x, dep_y = metric_deposits(data)
    deposit_fold = folds.fold_of_points(dep_x, dep_y)
    scores = np.full(rows.x.size, np.nan)
    models, per_fold = [], []
    for k in range(folds.n_folds):
        train_dep = deposit_fold != k
        held_dep = ~train_dep
        positive = rows.positives(dep_x[train_dep], dep_y[train_dep])
        near_held = rows.positives(dep_x[held_dep], dep_y[held_dep])
        # labelled = training-fold rows not touched by a held-out deposit's label
        labelled = (folds.fold != k) & ~near_held
        if not (positive & labelled).any():
            raise InputError(f"spatial fold {k + 1} of {folds.n_folds} leaves no known deposit "
                             f"to learn from; use fewer folds (--folds) or more deposits.")
        detector = build()
        record = {"fold": k, "n_rows_held_out": int((folds.fold == k).sum()),
                  "n_positive_training": int((positive & labelled).sum()),
                  "n_deposits_held_out": int(held_dep.sum())}
        if prior_layers is None:
            y = np.where(labelled, positive.astype(np.int64), -1)
            detector.fit(X, y)
        else:
            prior, functions = _fold_prior(prior_layers, labelled, positive)
            record["controlling_functions"] = functions
            record["penalty"] = _penalty_for(detector, prior)
            detector.fit(X, prior=prior)
        fold_scores = np.asarray(detector.anomaly_score(X), dtype=np.float64)
        held = folds.fold == k
        scores[held] = training_rank(np.sort(fold_scores), fold_scores[held])
        models.append(detector)
        per_fold.append(record)
    supervised = prior_layers is None
    info = {"kind": ("supervised (deposit labels), spatially blocked folds" if supervised else
                     "knowledge-guided (controlling function fitted on deposits), spatially "
                     "blocked folds"),
            "uses_deposits": True, "folds": folds.describe(), "n_folds": folds.n_folds,
            "block_size_m": folds.block_size, "per_fold": per_fold,
            "map": "each row's score is its held-out fold model's score, as a percentile rank "
                   "among that model's scores of every row"}
    if not supervised:
        info.update(prior="deposits", controls=prior_layers.descriptions,
                    control_weight=config.control_weight)
        text = (f"KNOWLEDGE-GUIDED (uses deposits): {config.model}'s loss was pulled towards the "
                f"controlling function of {', '.join(prior_layers.names)} (deposit density "
                f"against distance, weight {config.control_weight:g}), fitted on the deposits of "
                f"the other folds in {folds.n_folds} spatially blocked folds; the map is made of "
                "held-out scores. It is not an unsupervised result.")
    else:
        text = (f"SUPERVISED (uses deposits): {config.model} was trained on deposit labels in "
                f"{folds.n_folds} spatially blocked folds; the map is made of out-of-fold "
                "predictions only. Its AUC is a supervised model's, not an unsupervised one's.")
    data.notes.append(text)
    return GuidedModels(models, info), scores, info
