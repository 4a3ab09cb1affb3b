"""Weights of evidence over thresholds (Bonham-Carter 1994): which threshold best separates the
samples near deposits from the rest.

For a threshold t the binary pattern B is "score >= t"; D marks deposit samples / cells. Each
sample is one unit cell, so the counts are sample counts:

    W+ = ln( P(B|D) / P(B|~D) ),   W- = ln( P(~B|D) / P(~B|~D) ),   C = W+ - W-,
    s(C) = sqrt( 1/n(B&D) + 1/n(B&~D) + 1/n(~B&D) + 1/n(~B&~D) ),   t = C / s(C).

A weight whose count is zero is undefined (NaN), and so are C, s(C) and t then. The threshold
with the largest t is the statistically most significant cut, not merely the most contrasting.
This uses the deposits, so it is a supervised threshold: report it as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def _scores_and_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if scores.shape != labels.shape:
        raise InputError(f"got {scores.size} scores but {labels.size} deposit labels; they must "
                         "match row for row.")
    keep = np.isfinite(scores)
    scores, labels = scores[keep], labels[keep]
    if labels.sum() == 0 or labels.sum() == labels.size:
        raise InputError("weights of evidence need samples both with and without a deposit; "
                         "check the deposits' CRS and the positive radius.")
    return scores, labels


def candidate_thresholds(scores, n: int = 99) -> np.ndarray:
    """Default candidates: the distinct score values at percentiles 1..99 (n evenly spaced)."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    return np.unique(np.percentile(scores, np.linspace(1, 99, n)))


def woe_table(scores, labels, thresholds) -> pd.DataFrame:
    """One row per threshold: the four counts, W+, W-, C, s(C) and the studentised contrast t."""
    scores, labels = _scores_and_labels(scores, labels)
    thresholds = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    pattern = scores[None, :] >= thresholds[:, None]  # (thresholds, samples)
    n_d = labels.sum()
    n_not_d = labels.size - n_d
    b_d = (pattern & labels).sum(axis=1).astype(np.float64)
    b_not_d = (pattern & ~labels).sum(axis=1).astype(np.float64)
    not_b_d = n_d - b_d
    not_b_not_d = n_not_d - b_not_d
    with np.errstate(divide="ignore", invalid="ignore"):
        w_plus = np.log((b_d / n_d) / (b_not_d / n_not_d))
        w_minus = np.log((not_b_d / n_d) / (not_b_not_d / n_not_d))
        s_contrast = np.sqrt(1 / b_d + 1 / b_not_d + 1 / not_b_d + 1 / not_b_not_d)
    counts = np.stack([b_d, b_not_d, not_b_d, not_b_not_d])
    w_plus[(b_d == 0) | (b_not_d == 0)] = np.nan
    w_minus[(not_b_d == 0) | (not_b_not_d == 0)] = np.nan
    s_contrast[(counts == 0).any(axis=0)] = np.nan
    contrast = w_plus - w_minus
    return pd.DataFrame({
        "threshold": thresholds,
        "n_pattern": (b_d + b_not_d).astype(np.int64),
        "n_pattern_deposit": b_d.astype(np.int64),
        "n_pattern_no_deposit": b_not_d.astype(np.int64),
        "n_outside_deposit": not_b_d.astype(np.int64),
        "n_outside_no_deposit": not_b_not_d.astype(np.int64),
        "w_plus": w_plus,
        "w_minus": w_minus,
        "contrast": contrast,
        "s_contrast": s_contrast,
        "t": contrast / s_contrast,
    })


def t_threshold(scores, labels, thresholds=None) -> float:
    """The candidate threshold with the largest studentised contrast t (first one on a tie).

    Candidates default to :func:`candidate_thresholds`. Raises InputError when t is undefined at
    every candidate (e.g. too few deposit samples).
    """
    if thresholds is None:
        thresholds = candidate_thresholds(scores)
    table = woe_table(scores, labels, thresholds)
    t = table["t"].to_numpy()
    if not np.isfinite(t).any():
        raise InputError("the weights-of-evidence t is undefined at every candidate threshold "
                         "(a count is zero everywhere); use a percentile or C-A threshold.")
    return float(table["threshold"].iloc[int(np.nanargmax(t))])
