"""Known deposits: points in the survey's CRS, used only to evaluate results.

Deposit lists are small and hand-made, so the reader is forgiving (rows without coordinates
are dropped and counted) but never silent: every guess and every drop is a note, and deposits
that fall outside the surveyed area are flagged by :func:`deposits_inside` for the caller to
report rather than removed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError
from geoanomaly.io.columns import find_coordinate_columns
from geoanomaly.io.crs import crs_label, guess_lonlat, parse_crs
from geoanomaly.io.samples import read_table
from geoanomaly.survey import Survey

METRES_PER_DEGREE = 111_320.0


@dataclass
class Deposits:
    """Deposit points (x, y in ``crs``) with their attribute table (same row order)."""

    x: np.ndarray
    y: np.ndarray
    table: pd.DataFrame
    crs: object | None
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.x)


def read_deposits(path, target_crs, *, crs=None, x=None, y=None) -> Deposits:
    """Deposits from CSV/TSV/XLSX (x/y or lon/lat columns), GeoPackage or Shapefile.

    Source CRS: the file's own > ``crs`` (--deposits-crs) > lon/lat by names or ranges
    (EPSG:4326) > assumed to be ``target_crs`` (noted).  Points are reprojected to
    ``target_crs`` (left as they are when it is None).
    """
    table = read_table(path)
    source = str(table.path)
    notes = [f"Deposits: {n}" for n in table.notes]
    frame = _numeric_where_clean(table.frame.reset_index(drop=True))
    target = parse_crs(target_crs) if target_crs is not None else None
    user_crs = parse_crs(crs, option="--deposits-crs") if crs is not None else None

    if table.geom_x is not None and x is None and y is None:
        xs, ys = table.geom_x.copy(), table.geom_y.copy()
        names = None
    else:
        xcol, ycol = find_coordinate_columns(list(frame.columns), x, y, source=source,
                                             options=("--deposits-x", "--deposits-y"))
        names = (xcol, ycol)
        xs = _numbers(frame[xcol])
        ys = _numbers(frame[ycol])

    usable = np.isfinite(xs) & np.isfinite(ys)
    if not usable.any():
        where = f"columns {names[0]}, {names[1]}" if names else "geometry"
        raise InputError(f"{source} has no deposit with usable coordinates (checked {where}): "
                         "give numeric x/y or lon/lat values in every row you want used.")
    if not usable.all():
        notes.append(f"Deposits: {int((~usable).sum())} of {len(usable)} rows of "
                     f"{table.path.name} have no usable coordinates and were dropped.")
    xs, ys, frame = xs[usable], ys[usable], frame[usable].reset_index(drop=True)

    if table.crs is not None:
        source_crs = table.crs
        notes.append(f"Deposits: CRS {crs_label(source_crs)} from {table.path.name}.")
    elif user_crs is not None:
        source_crs = user_crs
        notes.append(f"Deposits: CRS {crs_label(source_crs)} as given with --deposits-crs.")
    else:
        is_lonlat, sentence = guess_lonlat(xs, ys, *(names or ("x", "y")))
        if is_lonlat:
            source_crs = parse_crs("EPSG:4326")
            notes.append("Deposits: " + sentence)
        else:
            source_crs = target
            notes.append(f"Deposits: {table.path.name} gives no CRS; assumed to be the survey's "
                         f"({crs_label(target)}); pass --deposits-crs if it is not.")

    if target is not None and source_crs is not None and not source_crs.equals(target):
        xs, ys = _reproject(xs, ys, source_crs, target)
        moved = np.isfinite(xs) & np.isfinite(ys)
        if not moved.any():
            raise InputError(f"No deposit of {source} can be placed in the survey CRS "
                             f"{crs_label(target)} from {crs_label(source_crs)}: check "
                             "--deposits-crs.")
        if not moved.all():
            notes.append(f"Deposits: {int((~moved).sum())} could not be reprojected to "
                         f"{crs_label(target)} and were dropped.")
            xs, ys, frame = xs[moved], ys[moved], frame[moved].reset_index(drop=True)
        notes.append(f"Deposits: reprojected from {crs_label(source_crs)} to {crs_label(target)}.")
    elif target is None and source_crs is not None:
        notes.append("Deposits: the survey CRS is unknown, so deposits are used as given.")

    return Deposits(x=np.asarray(xs, dtype=float), y=np.asarray(ys, dtype=float), table=frame,
                    crs=target if target is not None else source_crs, source=source, notes=notes)


def _numeric_where_clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Attribute columns whose every value is a number become numbers (row, col, tonnage)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].notna().any():
            numbers = pd.to_numeric(frame[column], errors="coerce")
            if (numbers.notna() == frame[column].notna()).all():
                frame[column] = numbers
    return frame


def _numbers(column: pd.Series) -> np.ndarray:
    if column.dtype.kind in "biuf":
        return column.to_numpy(dtype=float)
    text = column.map(lambda v: v if pd.isna(v) else str(v).strip())
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)


def _reproject(xs, ys, source_crs, target_crs) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    transformer = Transformer.from_crs(source_crs, target_crs, always_xy=True)
    tx, ty = transformer.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float),
                                   errcheck=False)
    return np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)


def deposits_inside(deposits: Deposits, survey: Survey, margin: float) -> np.ndarray:
    """True for each deposit that lies within the surveyed area.

    Grid: the deposit's cell is a valid cell.  Points: within the convex hull of the samples
    grown by ``margin`` (in metres for a projected survey; for a geographic survey the hull is
    built in a local equirectangular projection, so ``margin`` is still metres).
    """
    dx = np.asarray(deposits.x, dtype=float)
    dy = np.asarray(deposits.y, dtype=float)
    if survey.grid is not None:
        grid = survey.grid
        inv = ~grid.transform  # coefficients used directly: works across affine versions
        cols = np.floor(inv.a * dx + inv.b * dy + inv.c)
        rows = np.floor(inv.d * dx + inv.e * dy + inv.f)
        inside = (np.isfinite(cols) & np.isfinite(rows) & (cols >= 0) & (rows >= 0)
                  & (cols < grid.width) & (rows < grid.height))
        result = np.zeros(len(dx), dtype=bool)
        result[inside] = grid.valid[rows[inside].astype(int), cols[inside].astype(int)]
        return result

    import shapely

    sx = np.asarray(survey.x, dtype=float)
    sy = np.asarray(survey.y, dtype=float)
    if survey.crs is not None and survey.crs.is_geographic:
        lat0 = float(np.mean(sy))
        x0 = float(np.mean(sx))
        scale_x = METRES_PER_DEGREE * np.cos(np.radians(lat0))
        sx, dx = (sx - x0) * scale_x, (dx - x0) * scale_x
        sy, dy = (sy - lat0) * METRES_PER_DEGREE, (dy - lat0) * METRES_PER_DEGREE
    hull = shapely.MultiPoint(np.column_stack([sx, sy])).convex_hull.buffer(float(margin))
    return np.asarray(shapely.intersects_xy(hull, dx, dy), dtype=bool)
