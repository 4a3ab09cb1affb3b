"""Coordinate reference systems: parsing what the user typed, and guessing lon/lat honestly.

Every reader needs the same two decisions (is the --crs value usable; may we call these
coordinates longitude/latitude), so they live here once, and each guess leaves a note.
"""

from __future__ import annotations

import numpy as np

from geoanomaly.errors import InputError
from geoanomaly.io.columns import is_lonlat_name

LONLAT_EPSG = "EPSG:4326"


def parse_crs(value, option: str = "--crs"):
    """A pyproj CRS from anything pyproj accepts, plus a bare EPSG number ("32750")."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if value is None:
        return None
    if isinstance(value, CRS):
        return value
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return CRS.from_user_input(text)
    except CRSError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(f"Cannot understand the CRS '{shown}' given with {option}: give an EPSG "
                         "code such as EPSG:32750 (or 32750), a WKT string or a PROJ string.") from None


def crs_from_rasterio(crs):
    """pyproj CRS from a rasterio CRS (None stays None)."""
    if crs is None:
        return None
    from pyproj import CRS

    return CRS.from_user_input(crs.to_wkt())


def crs_label(crs) -> str:
    """Short human name of a CRS for notes: "EPSG:32750" when it has one, else its name."""
    if crs is None:
        return "unknown"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def guess_lonlat(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> tuple[bool, str]:
    """Whether coordinates are longitude/latitude, and the sentence saying why (or why not).

    Lon/lat needs all |x| <= 180 and |y| <= 90, and either lon/lat-like column names or
    non-integer values (a local grid in metres with small integer coordinates stays unknown).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    in_range = bool(x.size) and bool(np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90))
    named = is_lonlat_name(x_name) or is_lonlat_name(y_name)
    fractional = bool(np.any(x != np.round(x)) or np.any(y != np.round(y)))
    cols = f"columns {x_name}, {y_name}"
    if in_range and named:
        return True, (f"Coordinates: {cols}; read as longitude/latitude ({LONLAT_EPSG}) "
                      "because of their names and values within +-180/+-90.")
    if in_range and fractional:
        return True, (f"Coordinates: {cols}; read as longitude/latitude ({LONLAT_EPSG}) because "
                      "values lie within +-180/+-90; pass --crs if they are not.")
    if named:
        return False, (f"Coordinates: {cols}; named like longitude/latitude but values exceed "
                       "+-180/+-90, so the CRS is unknown: pass --crs.")
    return False, f"Coordinates: {cols}; CRS unknown: pass --crs."
