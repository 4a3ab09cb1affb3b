"""Success-rate and prediction-area (P-A) curves: how much of the known mineralisation a score
captures in how little ground.

Both rank samples (or cells) by descending score. "Area" is the fraction of samples / cells, i.e.
every sample stands for the same area; for grids that is exact, for irregular points it is the
usual approximation. Deposits are weights per sample: a bool label (1 per positive sample) or a
count (how many deposits fall to that sample / cell), so several deposits in one cell count fully.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .roc import _as_scores


def _deposit_weights(labels_or_hits, n: int) -> np.ndarray:
    weights = np.asarray(labels_or_hits).ravel()
    if weights.size != n:
        raise InputError(f"got {n} scores but {weights.size} deposit labels; they must match row "
                         "for row.")
    weights = weights.astype(np.float64)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise InputError("deposit labels must be True/False or non-negative deposit counts.")
    if weights.sum() == 0:
        raise InputError("no sample carries a deposit; check the deposits' CRS and the radius.")
    return weights


@dataclass
class SuccessRateCurve:
    """Cumulative fraction of deposits against fraction of area, best-scored area first.

    Points start at (0, 0) and step once per distinct score (tied samples enter together, so
    the curve does not depend on row order). ``score_at[i]`` is the lowest score inside the first
    ``area_fraction[i]`` of the area. ``auc`` is the trapezoid area under the curve (0.5 = random).
    """

    area_fraction: np.ndarray
    captured_fraction: np.ndarray
    score_at: np.ndarray
    auc: float

    def to_dict(self, max_points: int = 500) -> dict:
        idx = np.arange(self.area_fraction.size)
        if idx.size > max_points:
            idx = np.unique(np.round(np.linspace(0, idx.size - 1, max_points)).astype(np.int64))
        return {"area_fraction": [float(v) for v in self.area_fraction[idx]],
                "captured_fraction": [float(v) for v in self.captured_fraction[idx]],
                "auc": float(self.auc)}


def success_rate_curve(scores, labels_or_deposit_hits) -> SuccessRateCurve:
    """Success-rate curve of a score against deposit labels or per-sample deposit counts."""
    scores = _as_scores(scores, "scores")
    weights = _deposit_weights(labels_or_deposit_hits, scores.size)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    captured = np.cumsum(weights[order]) / weights.sum()
    # keep only the last sample of every run of tied scores: ties enter the area together
    last_of_tie = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    area = np.r_[0.0, (last_of_tie + 1) / scores.size]
    captured = np.r_[0.0, captured[last_of_tie]]
    score_at = np.r_[np.inf, sorted_scores[last_of_tie]]
    auc = float(np.sum(np.diff(area) * (captured[1:] + captured[:-1]) / 2.0))  # trapezoids
    return SuccessRateCurve(area, captured, score_at, auc)


@dataclass
class PredictionArea:
    """Prediction-area plot (Yousefi & Carranza 2015) at a set of thresholds.

    ``pct_deposits[i]`` = % of deposits in samples with score >= thresholds[i];
    ``pct_area[i]`` = % of area (samples / cells) with score >= thresholds[i]. The plot draws
    ``pct_deposits`` and ``100 - pct_area`` against the threshold; where they cross, X % of the
    deposits lie in (100 - X) % of the area, and the larger X is, the better the score.
    """

    thresholds: np.ndarray
    pct_deposits: np.ndarray
    pct_area: np.ndarray
    intersection: dict | None

    def to_dict(self) -> dict:
        return {"thresholds": [float(v) for v in self.thresholds],
                "pct_deposits": [float(v) for v in self.pct_deposits],
                "pct_area": [float(v) for v in self.pct_area],
                "intersection": self.intersection}


def prediction_area(scores, labels, thresholds=None, n_thresholds: int = 101) -> PredictionArea:
    """P-A curve values at ``thresholds`` (default: ``n_thresholds`` score quantiles from 0 to 1).

    The intersection is where ``pct_deposits + pct_area = 100``, linearly interpolated between the
    two neighbouring thresholds where that sum crosses 100; it carries the threshold, the % of
    deposits, the % of area, the normalised density ``pct_deposits / pct_area`` and the weight
    ``ln(density)`` (Mihalasky & Bonham-Carter 2001). None when the curves never cross.
    """
    scores = _as_scores(scores, "scores")
    weights = _deposit_weights(labels, scores.size)
    if thresholds is None:
        thresholds = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, n_thresholds)))
    thresholds = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    if thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise InputError("prediction-area thresholds must be finite numbers, at least one.")
    above = scores[None, :] >= thresholds[:, None]
    pct_deposits = 100.0 * (above * weights[None, :]).sum(axis=1) / weights.sum()
    pct_area = 100.0 * above.mean(axis=1)
    return PredictionArea(thresholds, pct_deposits, pct_area,
                          _pa_intersection(thresholds, pct_deposits, pct_area))


def _pa_intersection(thresholds, pct_deposits, pct_area) -> dict | None:
    # excess falls with the threshold: 100 + something at the lowest, below 0 at the highest
    excess = pct_deposits + pct_area - 100.0
    crossing = np.flatnonzero((excess[:-1] >= 0) & (excess[1:] <= 0))
    if crossing.size == 0:
        return None
    i = int(crossing[0])
    span = excess[i] - excess[i + 1]
    frac = 0.0 if span == 0 else excess[i] / span
    at = {
        "threshold": thresholds[i] + frac * (thresholds[i + 1] - thresholds[i]),
        "pct_deposits": pct_deposits[i] + frac * (pct_deposits[i + 1] - pct_deposits[i]),
        "pct_area": pct_area[i] + frac * (pct_area[i + 1] - pct_area[i]),
    }
    density = at["pct_deposits"] / at["pct_area"] if at["pct_area"] > 0 else float("nan")
    at["normalized_density"] = density
    at["weight"] = float(np.log(density)) if density > 0 else float("nan")
    return {k: float(v) for k, v in at.items()}
