"""The three validation protocols of shared/benchmarks/PROTOCOLS.md, each returning a JSON-safe dict.

- "samples": every valid sample / cell; positives near (points) or under (cells) a deposit; AUC
  with a bootstrap interval. The research line's usual ROC.
- "opengad": OpenGADBench's protocol, kept exactly so numbers compare with its published table:
  one positive per deposit (its nearest sample), as many random far-away negatives, 20 draws.
- "opengad-stratified": the same positives, each compared only with far-away negatives of its own
  survey set, which removes the survey / lab confound that inflates "opengad" on sed1.

A number is meaningful only with its protocol, so every dict carries the protocol name, its
parameters and the counts it rests on.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .labels import distance_to_nearest, nearest_samples
from .roc import _as_scores, bootstrap_auc_ci, roc_auc, roc_curve

#: the report draws ROC curves from at most this many points
MAX_CURVE_POINTS = 500


def downsample_curve(fpr: np.ndarray, tpr: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> dict:
    """At most ``max_points`` evenly spaced points of a curve, first and last kept."""
    n = len(fpr)
    if n > max_points:
        keep = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}


def evaluate_samples(scores, labels, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Protocol "samples": AUC of all positive against all negative samples, with a bootstrap CI."""
    scores = _as_scores(scores, "scores")
    labels = np.asarray(labels).astype(bool).ravel()
    if labels.shape != scores.shape:
        raise InputError(f"got {scores.size} scores but {labels.size} labels; they must match "
                         "row for row.")
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise InputError(f"protocol 'samples' needs positives and negatives, got {n_pos} samples "
                         f"near a deposit and {n_neg} others; check the deposits' CRS and the "
                         "positive radius.")
    pos, neg = scores[labels], scores[~labels]
    ci = bootstrap_auc_ci(pos, neg, n_boot=n_boot, seed=seed, level=level)
    fpr, tpr, _ = roc_curve(labels, scores)
    return {
        "protocol": "samples",
        "roc_auc": roc_auc(pos, neg),
        "roc_auc_ci": [ci["low"], ci["high"]],
        "ci_level": ci["level"],
        "ci_method": "percentile bootstrap, positives and negatives resampled separately",
        "n_boot": ci["n_boot"],
        "seed": ci["seed"],
        "n_positive": n_pos,
        "n_negative": n_neg,
        "roc_curve": downsample_curve(fpr, tpr),
    }


def _opengad_pools(x, y, dep_x, dep_y, geographic: bool, min_dist: float, n_scores: int):
    """Positive rows (nearest sample per deposit) and the negative pool (far samples, else all)."""
    if not min_dist >= 0:
        raise InputError(f"min_dist must be a distance in metres >= 0, got {min_dist}.")
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size != n_scores:
        raise InputError(f"got {n_scores} scores but {x.size} sample coordinates; they must match "
                         "row for row.")
    positive_rows, positive_dist = nearest_samples(x, y, dep_x, dep_y, geographic)
    dist_to_deposit, _ = distance_to_nearest(x, y, dep_x, dep_y, geographic)
    far_rows = np.flatnonzero(dist_to_deposit >= min_dist)
    fallback = far_rows.size == 0
    pool = np.arange(n_scores) if fallback else far_rows
    return positive_rows, positive_dist, pool, fallback


def _common_params(min_dist, geographic, pool, fallback, positive_dist) -> dict:
    return {
        "min_dist_m": float(min_dist),
        "distance": "haversine" if geographic else "euclidean",
        "n_eligible_negatives": int(pool.size),
        "negative_pool": ("all samples (none is min_dist from every deposit)" if fallback
                          else "samples at least min_dist from every deposit"),
        "max_deposit_to_positive_m": float(positive_dist.max()),
    }


def evaluate_opengad(scores, x, y, dep_x, dep_y, geographic: bool, min_dist: float = 5000.0,
                     n_draws: int = 20, seed: int = 42) -> dict:
    """Protocol "opengad" (OpenGADBench): mean and std of the AUC over random negative draws.

    Positive = the score of the sample nearest each deposit (one per deposit, a sample may repeat).
    Each draw takes as many negatives as deposits, with replacement, from the samples at least
    ``min_dist`` metres from every deposit (all samples when none is). One
    ``numpy.random.default_rng(seed)`` serves all draws in order, each drawing with
    ``rng.choice(pool, size=n_deposits, replace=True)``. The std is numpy's default (ddof = 0).
    """
    scores = _as_scores(scores, "scores")
    positive_rows, positive_dist, pool, fallback = _opengad_pools(
        x, y, dep_x, dep_y, geographic, min_dist, scores.size)
    if n_draws < 1:
        raise InputError(f"n_draws must be at least 1, got {n_draws}.")
    pos = scores[positive_rows]
    rng = np.random.default_rng(seed)
    aucs = np.array([roc_auc(pos, scores[rng.choice(pool, size=pos.size, replace=True)])
                     for _ in range(n_draws)])
    return {
        "protocol": "opengad",
        "roc_auc": float(aucs.mean()),
        "roc_auc_std": float(aucs.std()),
        "std_ddof": 0,
        "roc_auc_draws": [float(a) for a in aucs],
        "n_positive": int(pos.size),
        "n_negative": int(pos.size),
        "n_draws": int(n_draws),
        "seed": int(seed),
        **_common_params(min_dist, geographic, pool, fallback, positive_dist),
    }


def _stratum_codes(strata, n: int) -> tuple[np.ndarray, list[frozenset]]:
    """Integer code per sample for its stratum set; plain values count as one-element sets."""
    strata = list(strata)
    if len(strata) != n:
        raise InputError(f"got {n} scores but {len(strata)} strata; give one survey set per sample.")
    code_of: dict[frozenset, int] = {}
    codes = np.empty(n, dtype=np.int64)
    for i, stratum in enumerate(strata):
        key = stratum if isinstance(stratum, frozenset) else frozenset([stratum])
        codes[i] = code_of.setdefault(key, len(code_of))
    return codes, list(code_of)


def evaluate_opengad_stratified(scores, x, y, dep_x, dep_y, geographic: bool, strata,
                                min_dist: float = 5000.0, n_boot: int = 1000, seed: int = 0,
                                level: float = 0.95) -> dict:
    """Protocol "opengad-stratified": each positive against far negatives of its own stratum.

    ``strata`` gives one frozenset of survey ids per sample (a sample reported under several
    surveys belongs to the set of them; a plain value means a one-survey set). Positives are the
    samples nearest each deposit; a positive is compared with every eligible negative (at least
    ``min_dist`` metres from every deposit; all samples when none is) with the SAME set. AUC = the
    fraction of those pairs the positive wins, ties one half, pooled over positives. Positives
    with no same-stratum negative are excluded and counted. The interval resamples the included
    positives with replacement (``default_rng(seed)``), keeping each one's pairs.
    """
    scores = _as_scores(scores, "scores")
    codes, stratum_sets = _stratum_codes(strata, scores.size)
    positive_rows, positive_dist, pool, fallback = _opengad_pools(
        x, y, dep_x, dep_y, geographic, min_dist, scores.size)
    pool_codes = codes[pool]
    wins = np.zeros(positive_rows.size)
    pairs = np.zeros(positive_rows.size, dtype=np.int64)
    for i, row in enumerate(positive_rows):
        negatives = scores[pool[pool_codes == codes[row]]]
        pairs[i] = negatives.size
        wins[i] = (negatives < scores[row]).sum() + 0.5 * (negatives == scores[row]).sum()
    included = pairs > 0
    if not included.any():
        raise InputError("no deposit's nearest sample shares its survey with any sample "
                         f"{min_dist:g} m from the deposits; the stratified protocol cannot compare "
                         "them, so report protocol 'opengad' with that caveat.")
    auc = float(wins[included].sum() / pairs[included].sum())
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1, got {n_boot}.")
    rng = np.random.default_rng(seed)
    inc_wins, inc_pairs = wins[included], pairs[included]
    boot = np.empty(n_boot)
    for b in range(n_boot):
        weight = np.bincount(rng.integers(0, inc_wins.size, inc_wins.size),
                             minlength=inc_wins.size)
        boot[b] = (weight * inc_wins).sum() / (weight * inc_pairs).sum()
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    used_codes = np.unique(codes[positive_rows[included]])
    per_stratum = []
    for code in np.unique(codes[positive_rows]):
        mine = codes[positive_rows] == code
        n_pairs = int(pairs[mine].sum())
        per_stratum.append({
            "stratum": sorted(str(s) for s in stratum_sets[code]),
            "n_positive": int(mine.sum()),
            "n_negative": int((pool_codes == code).sum()),
            "roc_auc": float(wins[mine].sum() / n_pairs) if n_pairs else None,
        })
    return {
        "protocol": "opengad-stratified",
        "roc_auc": auc,
        "roc_auc_ci": [float(low), float(high)],
        "ci_level": float(level),
        "ci_method": "percentile bootstrap over positives (each keeps its pairs)",
        "n_boot": int(n_boot),
        "seed": int(seed),
        "n_positive": int(included.sum()),
        "n_positive_excluded": int((~included).sum()),
        "n_negative": int(np.isin(pool_codes, used_codes).sum()),
        "n_pairs": int(pairs.sum()),
        "per_stratum": per_stratum,
        **_common_params(min_dist, geographic, pool, fallback, positive_dist),
    }
