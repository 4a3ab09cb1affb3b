"""Which samples or cells count as "near a deposit", and how far things are from deposits.

Deposits are only ever used to measure a result, never to fit. Points: a sample is positive when
it lies within a radius of any deposit. Grids: a valid cell is positive when a deposit lies in
it. Distances are great-circle (haversine, mean Earth radius) for lon/lat and Euclidean for
projected metres, so a radius or ``min_dist`` is always in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

from ..io.metres import EARTH_RADIUS_M, as_xy as _as_xy, distance_to_nearest  # noqa: F401
from ..io.metres import nearest_index_tree as _tree, query_nearest as _query


def nearest_samples(x, y, dep_x, dep_y, geographic: bool) -> tuple[np.ndarray, np.ndarray]:
    """For every deposit: the index of its nearest sample and the distance to it in metres."""
    samples = _as_xy(x, y, "sample", geographic)
    deposits = _as_xy(dep_x, dep_y, "deposit", geographic)
    if samples.shape[0] == 0:
        raise InputError("there are no samples to compare with the deposits.")
    if deposits.shape[0] == 0:
        raise InputError("the deposit list is empty; give at least one deposit to validate against.")
    dist, idx = _query(_tree(samples, geographic), deposits, geographic)
    return idx, dist


def sample_labels(x, y, dep_x, dep_y, radius: float, geographic: bool) -> np.ndarray:
    """True for samples within ``radius`` metres of any deposit (protocol "samples", points)."""
    if not radius > 0:
        raise InputError(f"the positive radius must be a positive distance in metres, got {radius}.")
    dist, _ = distance_to_nearest(x, y, dep_x, dep_y, geographic)
    return dist <= radius


@dataclass
class CellLabels:
    """Positive cells of a grid survey and where every deposit went.

    ``labels`` is one bool per valid cell (the survey's row order); ``deposit_row`` gives, per
    deposit, the survey row of the valid cell it falls in, or -1 when it falls outside the grid
    or in a cell without data. Deposits sharing a cell make one positive cell.
    """

    labels: np.ndarray
    deposit_row: np.ndarray
    n_deposits: int
    n_outside_grid: int
    n_in_invalid_cell: int

    @property
    def n_positive(self) -> int:
        return int(self.labels.sum())

    def summary(self) -> dict:
        """JSON-safe counts for the report."""
        return {"n_deposits": self.n_deposits, "n_positive_cells": self.n_positive,
                "n_deposits_in_valid_cells": int((self.deposit_row >= 0).sum()),
                "n_deposits_outside_grid": self.n_outside_grid,
                "n_deposits_in_cells_without_data": self.n_in_invalid_cell}


def cell_labels(grid, dep_x, dep_y) -> CellLabels:
    """Positive cells = valid cells that contain a deposit (protocol "samples", grids).

    Deposit x/y must be in the grid's CRS. They map to (col, row) through the inverse of the grid's
    affine transform; a point exactly on a cell's left/top edge belongs to that cell.
    """
    deposits = _as_xy(dep_x, dep_y, "deposit", geographic=False)
    valid = np.asarray(grid.valid, dtype=bool)
    # survey row of every valid cell, -1 elsewhere (rows are valid cells in row-major order)
    row_of_cell = np.full(valid.shape, -1, dtype=np.int64)
    row_of_cell[valid] = np.arange(int(valid.sum()))
    inv = ~grid.transform  # (x, y) -> (col, row); written out so any affine version works
    col = np.floor(inv.a * deposits[:, 0] + inv.b * deposits[:, 1] + inv.c).astype(np.int64)
    row = np.floor(inv.d * deposits[:, 0] + inv.e * deposits[:, 1] + inv.f).astype(np.int64)
    inside = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    deposit_row = np.full(deposits.shape[0], -1, dtype=np.int64)
    deposit_row[inside] = row_of_cell[row[inside], col[inside]]
    labels = np.zeros(int(valid.sum()), dtype=bool)
    labels[deposit_row[deposit_row >= 0]] = True
    return CellLabels(labels=labels, deposit_row=deposit_row, n_deposits=int(deposits.shape[0]),
                      n_outside_grid=int((~inside).sum()),
                      n_in_invalid_cell=int((inside & (deposit_row < 0)).sum()))


def protocol_positives(survey, deposits, metric_x, metric_y, radius: float | None
                       ) -> tuple[np.ndarray, dict]:
    """The label rule of protocol "samples": on grids the cells holding a deposit; on points the
    samples within ``radius`` metres of one (None = twice the median nearest-sample spacing,
    measured on the metric coordinates). Returns (labels, how they were made)."""
    from ..io.metres import is_geographic, median_spacing

    if survey.is_grid:
        cells = cell_labels(survey.grid, deposits.x, deposits.y)
        return np.asarray(cells.labels, dtype=bool), {"positives": "cells containing a deposit",
                                                      "deposit_cells": cells.summary()}
    given = radius is not None
    if not given:
        radius = 2.0 * (median_spacing(metric_x, metric_y) or 1.0)
    labels = sample_labels(survey.x, survey.y, deposits.x, deposits.y, radius,
                           geographic=is_geographic(survey.crs))
    return np.asarray(labels, dtype=bool), {
        "positives": f"samples within {radius:.0f} m of a deposit", "radius_m": float(radius),
        "radius_rule": "given" if given else "twice the median nearest-sample spacing"}
