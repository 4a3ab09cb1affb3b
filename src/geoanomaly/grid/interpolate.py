"""Inverse distance weighting (IDW) of scattered point values onto a regular raster.

Used to draw a map behind a point survey's samples, never to create new "samples" for scoring:
an interpolated cell is a picture of nearby samples, so cells farther than ``max_distance``
from every sample are left empty (NaN) instead of being extrapolated.

Coordinates must be projected (metres, or any planar unit): distances in degrees are not
isotropic, so the caller projects lon/lat first.

Default rules (both derived from the median nearest-neighbour spacing ``s`` of the distinct
sample locations, so that they follow the survey's own density):

- ``cell_size``: ``s / 2`` rounded *down* to a "nice" number (1, 2, 2.5 or 5 times a power of
  ten), so a cell is smaller than the typical gap between samples and the map does not look
  blocky; if that would exceed ``MAX_DEFAULT_CELLS`` cells, the smallest nice cell size that
  fits is used instead.
- ``max_distance``: ``3 * s``: a cell needs a sample within three typical spacings.
- ``bounds``: the sample extent, snapped outwards to whole multiples of the cell size.
"""

from __future__ import annotations

import math

import numpy as np

from ..io.metres import median_spacing as spacing_of

from geoanomaly.errors import InputError
from geoanomaly.survey import Grid

MAX_DEFAULT_CELLS = 4_000_000  # cap for the automatic cell size (about 30 MB of float64)
MAX_DISTANCE_SPACINGS = 3.0  # default max_distance, in median nearest-neighbour spacings
_QUERY_CHUNK = 250_000  # cells per KD-tree query, to bound memory on big maps


def idw_grid(
    x,
    y,
    values,
    *,
    cell_size: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    power: float = 2.0,
    k: int = 12,
    max_distance: float | None = None,
    crs=None,
) -> tuple[np.ndarray, Grid]:
    """Interpolate ``values`` at points (x, y) onto a raster by inverse distance weighting.

    Each cell centre takes the weighted mean of its ``k`` nearest samples within
    ``max_distance``, weights ``1 / d**power``; a cell centre that coincides with a sample
    takes that sample's value exactly (the mean, if several samples share the location).
    Samples with a non-finite coordinate or value are ignored.

    ``bounds`` is ``(xmin, ymin, xmax, ymax)``. Returns ``(image, grid)``: ``image`` is float64
    of shape ``(grid.height, grid.width)`` with NaN where no sample is near, and ``grid`` is a
    :class:`geoanomaly.survey.Grid` whose ``valid`` mask marks the filled cells and whose
    ``transform`` is north-up (``rasterio.transform.from_origin``).
    """
    from rasterio.transform import from_origin
    from scipy.spatial import cKDTree

    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if not (len(x) == len(y) == len(values)):
        raise ValueError(f"x, y and values differ in length ({len(x)}, {len(y)}, {len(values)})")
    if power <= 0:
        raise InputError(f"IDW power must be positive, got {power}; use e.g. 2.")
    if k < 1:
        raise InputError(f"IDW needs at least one neighbour (k >= 1), got k={k}.")
    crs = _checked_crs(crs)

    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(values)
    x, y, values = x[keep], y[keep], values[keep]
    if len(x) == 0:
        raise InputError("IDW gridding got no sample with finite coordinates and score; check the scores and coordinates.")

    points = np.column_stack([x, y])
    spacing = median_spacing(points)
    if cell_size is None or max_distance is None:
        if not spacing > 0:
            raise InputError(
                "IDW gridding cannot choose a cell size because all samples share one location; "
                "give cell_size and max_distance explicitly."
            )
    if max_distance is None:
        max_distance = MAX_DISTANCE_SPACINGS * spacing
    if not max_distance > 0:
        raise InputError(f"IDW max_distance must be positive, got {max_distance}.")

    auto_bounds = bounds is None
    if auto_bounds:
        bounds = (x.min(), y.min(), x.max(), y.max())
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    if not (xmax >= xmin and ymax >= ymin):
        raise InputError(f"IDW bounds must be (xmin, ymin, xmax, ymax) with max >= min, got {bounds}.")

    if cell_size is None:
        cell_size = _nice_floor(spacing / 2.0)
        area = max(xmax - xmin, cell_size) * max(ymax - ymin, cell_size)
        if area / cell_size**2 > MAX_DEFAULT_CELLS:
            cell_size = _nice_ceil(math.sqrt(area / MAX_DEFAULT_CELLS))
    cell_size = float(cell_size)
    if not cell_size > 0:
        raise InputError(f"IDW cell_size must be positive, got {cell_size}.")

    if auto_bounds:  # snap outwards so that cell edges fall on multiples of the cell size
        xmin = math.floor(xmin / cell_size) * cell_size
        ymin = math.floor(ymin / cell_size) * cell_size
        xmax = math.ceil(xmax / cell_size) * cell_size
        ymax = math.ceil(ymax / cell_size) * cell_size
    width = max(1, int(math.ceil((xmax - xmin) / cell_size - 1e-9)))
    height = max(1, int(math.ceil((ymax - ymin) / cell_size - 1e-9)))
    transform = from_origin(xmin, ymax, cell_size, cell_size)

    cx = xmin + (np.arange(width) + 0.5) * cell_size
    cy = ymax - (np.arange(height) + 0.5) * cell_size
    tree = cKDTree(points)
    k_eff = min(int(k), len(x))
    image = np.full(height * width, np.nan)
    # Distances below this are "at the sample": exact value instead of a 1/0 weight.
    coincide = 1e-9 * max(cell_size, 1.0)
    for start in range(0, height * width, _QUERY_CHUNK):
        flat = np.arange(start, min(start + _QUERY_CHUNK, height * width))
        centres = np.column_stack([cx[flat % width], cy[flat // width]])
        dist, idx = tree.query(centres, k=k_eff, distance_upper_bound=max_distance,
                               workers=-1)  # all cores; the same neighbours
        dist = dist.reshape(len(flat), k_eff)
        idx = idx.reshape(len(flat), k_eff)
        found = np.isfinite(dist)  # missing neighbours come back as inf, index len(x)
        vals = np.where(found, values[np.minimum(idx, len(x) - 1)], 0.0)
        at_sample = found & (dist <= coincide)
        with np.errstate(divide="ignore"):
            weights = np.where(found, 1.0 / np.maximum(dist, coincide) ** power, 0.0)
        weights = np.where(at_sample.any(axis=1, keepdims=True), at_sample.astype(float), weights)
        total = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            image[flat] = np.where(total > 0, (weights * vals).sum(axis=1) / total, np.nan)

    image = image.reshape(height, width)
    grid = Grid(transform=transform, width=width, height=height, crs=crs, valid=np.isfinite(image))
    return image, grid


def median_spacing(points: np.ndarray) -> float:
    """Median distance from each distinct sample location to its nearest neighbour (0 if < 2)."""
    points = np.asarray(points, dtype=float)
    return spacing_of(points[:, 0], points[:, 1])


def cell_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (x, y) of every cell centre, each of shape (height, width)."""
    cols, rows = np.meshgrid(np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5)
    t = grid.transform
    return t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f


def _nice_floor(value: float) -> float:
    """Largest of 1, 2, 2.5, 5 times a power of ten that is <= value (readable cell sizes)."""
    exponent = math.floor(math.log10(value))
    base = 10.0**exponent
    for step in (5.0, 2.5, 2.0, 1.0):
        if step * base <= value * (1 + 1e-12):
            return step * base
    return base


def _nice_ceil(value: float) -> float:
    """Smallest of 1, 2, 2.5, 5 times a power of ten that is >= value."""
    exponent = math.floor(math.log10(value))
    base = 10.0**exponent
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * base >= value * (1 - 1e-12):
            return step * base
    return 10.0 * base


def _checked_crs(crs):
    """Parse ``crs`` with pyproj; refuse a geographic CRS (degrees are not a distance)."""
    if crs is None:
        return None
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError with a long message
        raise InputError(f"IDW gridding cannot read the CRS {crs!r}; give an EPSG code such as 'EPSG:32650'.") from exc
    if parsed.is_geographic:
        raise InputError(
            f"IDW gridding needs projected coordinates but the CRS {parsed.to_string()} is in degrees; "
            "project the samples (e.g. to UTM) first."
        )
    return parsed
