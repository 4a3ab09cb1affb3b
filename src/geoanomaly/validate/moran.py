"""Global Moran's I: how strongly a value is spatially clustered (label-free).

With k-nearest-neighbour weights, row-standardised (each sample's k neighbours weigh 1/k each,
the sample itself excluded), the statistic is

    I = (n / S0) * sum_ij w_ij z_i z_j / sum_i z_i^2,   z = value - mean,  S0 = sum_ij w_ij = n

so I = sum_i z_i * (mean of z over i's k neighbours) / sum_i z_i^2. I near 1: neighbours carry
similar values (a smooth field, a gradient); near the expectation -1 / (n - 1) (about 0): no
spatial pattern; negative: neighbours differ (a checkerboard). ``geoanomaly study`` uses it as
the spatial-coherence criterion of a score: a mineralised footprint (dispersion train, halo)
spans several samples, single-sample noise does not.

Coordinates must be in metres or any other isotropic unit (the pipeline's ``metric_x`` /
``metric_y``), not longitude / latitude.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def knn_indices(x, y, k: int) -> np.ndarray:
    """(n, k) indices of each point's k nearest other points (itself excluded).

    Duplicate positions are handled: a point is dropped from its own list even when other points
    share its position, and the others count as neighbours at distance 0.
    """
    from scipy.spatial import cKDTree

    points = np.column_stack([np.asarray(x, dtype=np.float64).ravel(),
                              np.asarray(y, dtype=np.float64).ravel()])
    n = points.shape[0]
    k = int(k)
    if k < 1:
        raise InputError(f"Moran's I needs at least one neighbour, got k = {k}.")
    if n < k + 1:
        raise InputError(f"Moran's I with k = {k} neighbours needs at least {k + 1} points, "
                         f"got {n}.")
    _, index = cKDTree(points).query(points, k=k + 1)
    index = np.asarray(index).reshape(n, k + 1)
    not_self = index != np.arange(n)[:, None]
    # stable: keep the order by distance, push the point itself (where found) to the end
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(index, order, axis=1)


def morans_i(values, x, y, k: int = 8, neighbours: np.ndarray | None = None) -> float:
    """Global Moran's I of ``values`` at points (x, y) with row-standardised kNN weights.

    ``neighbours`` (from :func:`knn_indices`) may be passed to reuse one neighbour search for
    many value vectors. Returns NaN for a constant vector (no variance: I is undefined).
    """
    z = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(z).all():
        raise InputError(f"Moran's I needs finite values; got {int((~np.isfinite(z)).sum())} "
                         "missing or infinite.")
    index = knn_indices(x, y, k) if neighbours is None else np.asarray(neighbours)
    if index.shape[0] != z.size:
        raise InputError(f"got {z.size} values but {index.shape[0]} points; they must match "
                         "row for row.")
    z = z - z.mean()
    denominator = float(np.dot(z, z))
    if not denominator > 0:
        return float("nan")
    lag = z[index].mean(axis=1)  # row-standardised spatial lag
    return float(np.dot(z, lag) / denominator)


def morans_i_expected(n: int) -> float:
    """E[I] under no spatial autocorrelation: -1 / (n - 1)."""
    return -1.0 / (int(n) - 1)
