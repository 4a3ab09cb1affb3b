"""Spatially blocked folds for every model that learns from deposits.

Neighbouring samples share their chemistry and, through the label radius, their labels: a random
K-fold puts a deposit's neighbours on both sides of the split and reports memory as skill. Here
the survey is cut into square blocks and whole blocks go to a fold, so a held-out fold is a set
of areas the model never saw labelled (Roberts et al. 2017, Ecography 40:913, on blocked
cross-validation for spatial data).

Rules (stated in the outputs):

* block side: ``block_size`` metres, default the side that cuts the bounding box of the samples
  into about ``BLOCKS_PER_FOLD x n_folds`` blocks, so every fold holds several blocks spread
  over the survey rather than one region;
* blocks are dealt to folds in a seeded random order, each to the fold with the fewest samples
  so far (folds of near-equal size);
* a deposit belongs to the fold of the block it lies in (``fold_of_points``): a model fitted
  for fold k may use the deposits of the other folds only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: blocks per fold of the default block size
BLOCKS_PER_FOLD = 5


@dataclass
class SpatialFolds:
    """Fold of every sample / cell, and the block geometry that assigns points to folds."""

    fold: np.ndarray  # (n,) int in [0, n_folds)
    n_folds: int
    block_size: float  # metres
    origin: tuple[float, float]
    block_fold: dict  # (block column, block row) -> fold

    def fold_of_points(self, x, y) -> np.ndarray:
        """Fold of arbitrary metric points (deposits): that of their block; -1 for a point in a
        block without samples (it is in no fold's training set and in no held-out area)."""
        bx, by = self._blocks(x, y)
        return np.array([self.block_fold.get((int(i), int(j)), -1) for i, j in zip(bx, by)],
                        dtype=np.int64)

    def _blocks(self, x, y):
        x0, y0 = self.origin
        return (np.floor((np.asarray(x, float) - x0) / self.block_size).astype(np.int64),
                np.floor((np.asarray(y, float) - y0) / self.block_size).astype(np.int64))

    def describe(self) -> str:
        sizes = np.bincount(self.fold, minlength=self.n_folds)
        return (f"{self.n_folds} spatially blocked folds: square blocks of {self.block_size:.0f} m "
                f"({len(self.block_fold)} blocks holding samples) dealt to folds in a seeded "
                f"order; {', '.join(str(int(s)) for s in sizes)} samples / cells per fold.")


def spatial_folds(x, y, n_folds: int = 5, block_size: float | None = None,
                  seed: int = 0) -> SpatialFolds:
    """Blocked folds of the points (x, y) in metres; see the module docstring."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n_folds = int(n_folds)
    if n_folds < 2:
        raise InputError(f"spatial folds need at least 2 folds, got {n_folds}.")
    if x.size < n_folds:
        raise InputError(f"{x.size} samples cannot be split into {n_folds} spatial folds.")
    x0, y0 = float(x.min()), float(y.min())
    if block_size is None:
        area = max(float(x.max() - x0), 1.0) * max(float(y.max() - y0), 1.0)
        block_size = float(np.sqrt(area / (BLOCKS_PER_FOLD * n_folds)))
    block_size = float(block_size)
    if not block_size > 0:
        raise InputError(f"the spatial block size must be a positive distance in metres, got "
                         f"{block_size}.")
    bx = np.floor((x - x0) / block_size).astype(np.int64)
    by = np.floor((y - y0) / block_size).astype(np.int64)
    keys, block_of_point, counts = np.unique(np.column_stack([bx, by]), axis=0,
                                             return_inverse=True, return_counts=True)
    if len(keys) < n_folds:
        raise InputError(f"only {len(keys)} spatial blocks of {block_size:.0f} m hold samples, "
                         f"fewer than the {n_folds} folds; use fewer folds or smaller blocks.")
    order = np.random.default_rng(int(seed)).permutation(len(keys))
    sizes = np.zeros(n_folds, dtype=np.int64)
    fold_of_block = np.empty(len(keys), dtype=np.int64)
    for b in order:
        k = int(np.argmin(sizes))
        fold_of_block[b] = k
        sizes[k] += counts[b]
    block_fold = {(int(i), int(j)): int(fold_of_block[b]) for b, (i, j) in enumerate(keys)}
    return SpatialFolds(fold=fold_of_block[np.ravel(block_of_point)], n_folds=n_folds,
                        block_size=block_size, origin=(x0, y0), block_fold=block_fold)
