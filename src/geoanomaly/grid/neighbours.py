"""Spatial context: each score averaged with its nearest neighbours.

Geochemical maps are read smoothed: a single high sample is less convincing than a cluster, and
catchment / interpolation noise is local. Averaging a score over the k nearest samples (the
sample itself included) is label-free and uses only the sample positions.
"""

from __future__ import annotations

import numpy as np


def percentile_ranks(scores) -> np.ndarray:
    """Scores as percentile ranks in (0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    return rankdata(scores) / scores.size


def neighbour_rank_mean(x, y, scores, k: int, index=None) -> np.ndarray:
    """Mean percentile rank over the k nearest neighbours: the default spatial context.

    Ranks first, so that one extreme sample cannot dominate its neighbourhood (reconstruction
    errors are heavy-tailed); the result is in (0, 1], higher = more anomalous. ``index``: the
    neighbours from :func:`nearest_index`, when several scores share one set of points.
    """
    return neighbour_mean(x, y, percentile_ranks(scores), k, index=index)


def nearest_index(x, y, k: int) -> np.ndarray:
    """(n, k) indices of each point's ``k`` nearest points (itself included), nearest first.

    Every core answers queries (a million samples: seconds on one); the neighbours, and so
    every mean taken over them, do not depend on how the queries are shared out."""
    from scipy.spatial import cKDTree

    points = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    k = min(int(k), len(points))
    _, index = cKDTree(points).query(points, k=k, workers=-1)
    return index.reshape(len(points), k)


def neighbour_mean(x, y, scores, k: int, index=None) -> np.ndarray:
    """Mean of ``scores`` over each point's ``k`` nearest points (itself included), in metres.

    ``k <= 1`` returns the scores unchanged. Works for samples and for grid cell centres (k = 9
    on a regular grid is the 3 x 3 window, fewer at edges and holes). ``index`` (from
    :func:`nearest_index` with the same points and k) saves the search.
    """
    scores = np.asarray(scores, dtype=np.float64)
    k = int(k)
    if k <= 1 or scores.size <= 1:
        return scores.copy()
    if index is None:
        index = nearest_index(x, y, k)
    return scores[index].mean(axis=1)
