"""Everything measured in metres, in one place.

Radii, ``min_dist``, map cells and sample spacing are metres whatever the survey's CRS: lon/lat
surveys are projected to the UTM zone of their centre for maps and spacing, and nearest
distances to deposits are great-circle (haversine, mean Earth radius) on lon/lat and Euclidean
on projected coordinates.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def is_geographic(crs) -> bool:
    """True for a longitude/latitude CRS (distances need the great circle or a projection)."""
    return crs is not None and getattr(crs, "is_geographic", False)


def metric_coordinates(x, y, crs):
    """(x in metres, y in metres, their CRS, a note or None).

    A lon/lat survey is projected to the UTM zone of its centre (pyproj picks the zone among
    those covering the area), so that radii and map cells are in metres; a projected survey is
    returned as it is.
    """
    if not is_geographic(crs):
        return x, y, crs, None
    from pyproj import CRS, Transformer
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    aoi = AreaOfInterest(float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y)))
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)
    zone = int((float(np.median(x)) + 180) // 6) + 1
    epsg = (32600 if np.median(y) >= 0 else 32700) + zone
    chosen = next((i for i in infos if i.code == str(epsg)), None)
    utm = CRS.from_epsg(int(chosen.code) if chosen else epsg)
    mx, my = Transformer.from_crs(crs, utm, always_xy=True).transform(x, y)
    note = (f"Longitude/latitude projected to {utm.name} (EPSG:{utm.to_epsg()}) for distances "
            "and the interpolated map.")
    return np.asarray(mx), np.asarray(my), utm, note


def median_spacing(x, y) -> float:
    """Median distance from each distinct location to its nearest neighbour, in the units of
    (x, y) (0 with fewer than two distinct locations: co-located duplicates are one place)."""
    from scipy.spatial import cKDTree

    distinct = np.unique(np.column_stack([np.asarray(x, float), np.asarray(y, float)]), axis=0)
    if len(distinct) < 2:
        return 0.0
    dist, _ = cKDTree(distinct).query(distinct, k=2)
    return float(np.median(dist[:, 1]))


#: mean Earth radius (IUGG R1) in metres, used for haversine distances
EARTH_RADIUS_M = 6371008.8


def as_xy(x, y, what: str, geographic: bool) -> np.ndarray:
    """(n, 2) float coordinates, checked: same lengths, finite, and degrees when geographic."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputError(f"{what} x and y have different lengths ({x.size} and {y.size}).")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError(f"{what} coordinates hold missing values; drop those rows first.")
    if geographic and x.size and (np.abs(y).max() > 90 or np.abs(x).max() > 360):
        raise InputError(f"{what} coordinates are not longitude/latitude degrees (|y| up to "
                         f"{np.abs(y).max():.6g}); pass geographic=False for projected metres.")
    return np.column_stack([x, y])


def nearest_index_tree(points_xy: np.ndarray, geographic: bool):
    """A nearest-neighbour index over the points: haversine BallTree on lon/lat, KDTree else."""
    from sklearn.neighbors import BallTree, KDTree

    if geographic:  # BallTree's haversine wants (lat, lon) in radians
        return BallTree(np.radians(points_xy[:, ::-1]), metric="haversine")
    return KDTree(points_xy)


def query_nearest(tree, points_xy: np.ndarray, geographic: bool) -> tuple[np.ndarray, np.ndarray]:
    """(metres to the nearest indexed point, its index) for every query point."""
    query = np.radians(points_xy[:, ::-1]) if geographic else points_xy
    dist, idx = tree.query(query, k=1)
    dist = dist[:, 0] * (EARTH_RADIUS_M if geographic else 1.0)
    return dist, idx[:, 0]


def distance_to_nearest(x, y, ref_x, ref_y, geographic: bool) -> tuple[np.ndarray, np.ndarray]:
    """For every point (x, y): metres to the nearest reference point, and that point's index."""
    points = as_xy(x, y, "sample", geographic)
    refs = as_xy(ref_x, ref_y, "deposit", geographic)
    if refs.shape[0] == 0:
        raise InputError("the deposit list is empty; give at least one deposit to validate against.")
    if points.shape[0] == 0:
        return np.empty(0), np.empty(0, dtype=np.intp)
    return query_nearest(nearest_index_tree(refs, geographic), points, geographic)
