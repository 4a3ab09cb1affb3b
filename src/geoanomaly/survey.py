"""The in-memory survey: what every reader produces and every later stage consumes.

One object for both kinds of input so that the rest of the flow does not care whether the
samples came from a lab CSV or from gridded element maps. For grids, rows are the valid cells
in row-major order and :class:`Grid` carries what is needed to put scores back on the same grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Grid:
    """Geometry of a raster survey: scores go back onto exactly this grid."""

    transform: object  # affine.Affine (rasterio's), maps (col, row) -> (x, y) of the cell corner
    width: int
    height: int
    crs: object | None  # pyproj.CRS or None
    valid: np.ndarray  # bool (height, width): True where the cell holds a sample row

    def cell_rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column index of every valid cell, in the order of the survey's rows."""
        return np.nonzero(self.valid)

    def to_image(self, values, fill: float = np.nan) -> np.ndarray:
        """One value per valid cell (the survey's row order) -> a (height, width) float image,
        ``fill`` outside the valid cells. The one place that puts rows back on the grid."""
        values = np.asarray(values, dtype=float).ravel()
        valid = np.asarray(self.valid, dtype=bool)
        if valid.shape != (self.height, self.width):
            raise ValueError(f"grid.valid has shape {valid.shape}, expected "
                             f"{(self.height, self.width)}")
        n_valid = int(valid.sum())
        if values.size != n_valid:
            raise ValueError(f"got {values.size} values for {n_valid} valid grid cells")
        image = np.full((self.height, self.width), fill, dtype=float)
        image[valid] = values
        return image

    def from_image(self, image) -> np.ndarray:
        """The valid cells of a (height, width) image, in the survey's row order."""
        return np.asarray(image)[np.asarray(self.valid, dtype=bool)]


@dataclass
class Survey:
    """Samples (or valid grid cells) with their element values, units and coordinates.

    ``values`` holds one column per element, named by element (``Cu``, ``Fe2O3``); before
    cleaning it may hold raw strings ("<0.5", "BDL"); after cleaning it is float with NaN only
    where a value is still missing. ``units`` maps element -> "ppm" | "ppb" | "pct" | "" (unknown),
    ``columns`` maps element -> the column / file / band it came from. ``meta`` keeps the
    non-element columns (ids, survey numbers, dates) with the same index; they are never scored.
    """

    values: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    crs: object | None  # pyproj.CRS or None when unknown
    units: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    meta: pd.DataFrame | None = None
    grid: Grid | None = None
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader decided, for the report

    @property
    def elements(self) -> list[str]:
        return [str(c) for c in self.values.columns]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def is_grid(self) -> bool:
        return self.grid is not None

    def subset(self, keep: np.ndarray) -> "Survey":
        """A copy keeping the rows where ``keep`` is True (points only: a grid keeps its cells)."""
        keep = np.asarray(keep, dtype=bool)
        if self.grid is not None and not keep.all():
            grid = Grid(self.grid.transform, self.grid.width, self.grid.height, self.grid.crs,
                        self.grid.valid.copy())
            rows, cols = grid.cell_rows_cols()
            grid.valid[rows[~keep], cols[~keep]] = False
        else:
            grid = self.grid
        return Survey(
            values=self.values.loc[keep].reset_index(drop=True),
            x=self.x[keep], y=self.y[keep], crs=self.crs,
            units=dict(self.units), columns=dict(self.columns),
            meta=None if self.meta is None else self.meta.loc[keep].reset_index(drop=True),
            grid=grid, sources=list(self.sources), notes=list(self.notes),
        )
