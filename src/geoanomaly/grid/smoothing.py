"""Spatial context on grids: a masked moving-window mean.

On a grid the neighbours of a cell are the cells of the window around it. A filter that divides
the windowed sum of the values by the windowed count of valid cells averages only real cells:
no-data holes and the survey's edge do not pull in cells from across the gap, as a k-nearest
search would (k = 9 at the edge of a hole finds cells two or three cells away).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def window_size(k: int) -> int:
    """The odd window side whose full window holds about ``k`` cells (9 -> 3, 25 -> 5)."""
    side = max(1, int(round(math.sqrt(max(int(k), 1)))))
    return side if side % 2 == 1 else side + 1


def masked_window_mean(grid, values, size: int) -> np.ndarray:
    """Mean of ``values`` (one per valid cell) over the ``size`` x ``size`` window of each valid
    cell, counting valid cells only; returned per valid cell, in the survey's row order."""
    if size <= 1:
        return np.asarray(values, dtype=np.float64).copy()
    image = grid.to_image(values, fill=0.0)
    valid = np.asarray(grid.valid, dtype=float)
    total = ndimage.uniform_filter(image, size=size, mode="constant", cval=0.0)
    count = ndimage.uniform_filter(valid, size=size, mode="constant", cval=0.0)
    return grid.from_image(total / np.where(count > 0, count, 1.0))
