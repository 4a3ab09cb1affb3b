"""Thresholds that turn a continuous anomaly score into background / anomaly classes.

Percentiles and median + k MAD need no deposits; the fractal (C-A) and weights-of-evidence
thresholds live in their own modules. Every method returns ascending thresholds; a sample's
class is how many thresholds its score reaches (0 = background).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

#: scales the MAD to the standard deviation of a normal distribution
MAD_TO_SD = 1.4826

METHODS = ("percentile", "mad", "ca", "t")


def _finite_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        raise InputError("there are no finite anomaly scores to threshold.")
    return finite


def percentile_thresholds(scores, percentiles=(90, 95, 99)) -> list[float]:
    """Score values at the given percentiles (NaN scores ignored)."""
    pct = np.asarray(percentiles, dtype=np.float64)
    if pct.size == 0 or (pct <= 0).any() or (pct >= 100).any():
        raise InputError(f"percentiles must lie strictly between 0 and 100, got {list(percentiles)}.")
    return [float(v) for v in np.percentile(_finite_scores(scores), np.sort(pct))]


def mad_thresholds(scores, ks=(2, 3)) -> list[float]:
    """median + k * 1.4826 * MAD for each k: robust analogues of mean + k standard deviations."""
    ks = np.sort(np.asarray(ks, dtype=np.float64))
    if ks.size == 0 or (ks <= 0).any():
        raise InputError(f"MAD multipliers k must be positive, got {list(ks)}.")
    finite = _finite_scores(scores)
    median = np.median(finite)
    mad = np.median(np.abs(finite - median))
    return [float(median + k * MAD_TO_SD * mad) for k in ks]


def classify(scores, thresholds, labels=None) -> np.ndarray:
    """Class of every score: 0 below the lowest threshold, i when it reaches the i-th (ascending).

    A score equal to a threshold is in the class above it. NaN scores get -1. With ``labels``
    (one value per class, len(thresholds) + 1), those values replace 0..k, NaN scores still -1.
    """
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    if not np.isfinite(thresholds).all():
        raise InputError("thresholds must be finite numbers.")
    classes = np.searchsorted(thresholds, scores, side="right").astype(np.int64)
    classes[np.isnan(scores)] = -1
    if labels is None:
        return classes
    labels = np.asarray(labels)
    if labels.size != thresholds.size + 1:
        raise InputError(f"{thresholds.size} thresholds need {thresholds.size + 1} class labels, "
                         f"got {labels.size}.")
    out = np.where(classes >= 0, labels[np.clip(classes, 0, None)], -1)
    return out


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"


def class_names(method: str, params) -> list[str]:
    """Readable class names: "background" then one per threshold, e.g. ">= p90", ">= median+2MAD".

    ``params`` are the percentiles ("percentile"), the k values ("mad") or the threshold score
    values ("ca" fractal breaks, "t" the weights-of-evidence threshold).
    """
    params = sorted(float(p) for p in params)
    if method == "percentile":
        names = [f">= p{_fmt(p)}" for p in params]
    elif method == "mad":
        names = [f">= median+{_fmt(k)}MAD" for k in params]
    elif method == "ca":
        names = [f">= C-A break {i + 1} ({_fmt(v)})" for i, v in enumerate(params)]
    elif method == "t":
        names = [f">= max-t threshold ({_fmt(v)})" for v in params]
    else:
        raise InputError(f"unknown threshold method {method!r}; use one of {', '.join(METHODS)}.")
    return ["background"] + names


@dataclass
class ThresholdResult:
    """Ascending thresholds, one more class name than thresholds, and method details for the
    report (JSON-safe: the C-A points and fitted segments, or the weights-of-evidence table)."""

    method: str
    thresholds: list[float]
    class_names: list[str]
    details: dict = field(default_factory=dict)

    def classify(self, scores) -> np.ndarray:
        return classify(scores, self.thresholds)

    def to_dict(self) -> dict:
        return {"method": self.method, "thresholds": [float(t) for t in self.thresholds],
                "class_names": list(self.class_names), "details": self.details}


def compute_thresholds(scores, method: str = "percentile", **params) -> ThresholdResult:
    """Thresholds by one method; ``params`` go to that method.

    percentile: ``percentiles=(90, 95, 99)``; mad: ``ks=(2, 3)``; ca: see
    :func:`geoanomaly.threshold.fractal.ca_thresholds`; t: ``labels`` (required, deposit labels
    per sample) and optional ``thresholds`` (candidates), see
    :func:`geoanomaly.threshold.woe.t_threshold`.
    """
    if method == "percentile":
        percentiles = params.pop("percentiles", (90, 95, 99))
        _no_extra(method, params)
        thresholds = percentile_thresholds(scores, percentiles)
        return ThresholdResult(method, thresholds, class_names(method, percentiles),
                               {"percentiles": sorted(float(p) for p in percentiles)})
    if method == "mad":
        ks = params.pop("ks", (2, 3))
        _no_extra(method, params)
        thresholds = mad_thresholds(scores, ks)
        finite = _finite_scores(scores)
        median = float(np.median(finite))
        return ThresholdResult(method, thresholds, class_names(method, ks),
                               {"ks": sorted(float(k) for k in ks), "median": median,
                                "mad": float(np.median(np.abs(finite - median)))})
    if method == "ca":
        from .fractal import ca_thresholds

        fit = ca_thresholds(scores, **params)
        return ThresholdResult(method, fit.thresholds, class_names(method, fit.thresholds),
                               fit.to_dict())
    if method == "t":
        from .woe import candidate_thresholds, t_threshold, woe_table

        if "labels" not in params:
            raise InputError("the weights-of-evidence threshold (method 't') needs deposit "
                             "labels per sample; give known deposits or choose another method.")
        labels = params.pop("labels")
        candidates = params.pop("thresholds", None)
        _no_extra(method, params)
        if candidates is None:
            candidates = candidate_thresholds(scores)
        best = t_threshold(scores, labels, candidates)
        table = woe_table(scores, labels, candidates)
        max_t = float(table["t"].max())
        json_table = {col: [None if not np.isfinite(v) else float(v) for v in table[col]]
                      for col in table.columns}
        return ThresholdResult(method, [best], class_names(method, [best]),
                               {"max_t": max_t, "table": json_table,
                                "chosen_with_deposits": True})
    raise InputError(f"unknown threshold method {method!r}; use one of {', '.join(METHODS)}.")


def _no_extra(method: str, params: dict) -> None:
    if params:
        raise InputError(f"threshold method {method!r} takes no option(s) "
                         f"{', '.join(sorted(params))}.")
