"""Geology control layers (``--control FILE...``): what a cell's position says about the geology.

The physically constrained VAE of Xiong, Zuo, Luo & Wang (2022, Math. Geosci. 54:783-806)
turns "how far is this cell from an ore-controlling feature" (granitic intrusions, faults) into
a prior. This module only reads the layers and gives their value at survey positions; turning
values into a prior is :mod:`geoanomaly.validate.controlling`.

Choices (the paper gives none of these; they are ours):

* Two kinds of layer. ``"distance"``: vector files (polygons, lines, points) and rasters whose
  valid values are only 0 and 1 (a mask: 1 = the control) give the distance in metres to the
  nearest feature, 0 inside a polygon or on a 1-cell. ``"continuous"``: any other raster
  (a density or favourability map) is used as it is; higher must mean more favourable.
* Vectors (.gpkg, .shp, .geojson / .json) are read with geopandas + pyogrio, reprojected to the
  survey CRS, and measured with shapely 2's vectorised nearest search (an STRtree): exact
  planar distances in the survey's projected CRS, no rasterisation. A file with several layers
  gives one control per layer, named ``file:layer``; layers with no geometry (attribute tables
  in a GeoPackage) are skipped and noted.
* Rasters (.tif / .tiff, band 1 only; more bands are noted) are reprojected with
  ``rasterio.warp.reproject`` onto a north-up grid in the survey CRS that covers the raster's
  extent at about its own resolution (``calculate_default_transform``); a north-up raster
  already in the survey CRS is used on its own grid, unresampled. A mask is resampled with
  ``nearest`` (a 0/1 value must stay 0/1), then ``scipy.ndimage.distance_transform_edt`` with
  ``sampling`` = the cell size gives metres from each cell centre to the nearest 1-cell centre;
  a point takes the value of the cell it falls in (nearest cell), so a mask distance is good to
  about one cell. A continuous raster is resampled ``bilinear`` and also sampled at the cell a
  point falls in (nearest cell of the bilinear grid; a second interpolation would only smooth
  twice). Distances near a mask's edge are upper bounds: a 1-cell beyond the raster is unknown.
* A point outside a raster's extent or on its no-data (both tested in the raster's own CRS and
  grid) gets NaN; the caller decides what NaN means (``geology_prior`` reads it as unknown, 0.5).
  :meth:`ControlLayers.values_at` keeps the counts of the last call in ``outside`` / ``nodata``
  and one sentence per affected layer in ``value_notes``, so a report can say it.
* Reprojection and distance transforms are never written here: pyproj, GDAL (through rasterio
  and geopandas), shapely and scipy do them.

Every user error (missing or unreadable file, no geometry, no CRS, an unsupported extension, a
survey CRS that is not projected in metres) is an :class:`~geoanomaly.errors.InputError` naming
the file and what to do. Heavy imports happen inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoanomaly.errors import InputError
from geoanomaly.io.crs import crs_from_rasterio, crs_label, parse_crs

VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json"}
RASTER_SUFFIXES = {".tif", ".tiff"}
SUPPORTED = ("a GeoPackage (.gpkg), Shapefile (.shp), GeoJSON (.geojson) or GeoTIFF (.tif, "
             ".tiff)")
_METRE_UNITS = {"metre", "meter", "m", "metres", "meters"}


# --------------------------------------------------------------------------------------------
# layers


@dataclass
class _VectorLayer:
    """Geometries of one vector layer, in the survey CRS, with a nearest-feature tree."""

    geometries: np.ndarray  # shapely geometries (object array)

    def __post_init__(self):
        import shapely

        self._tree = shapely.STRtree(self.geometries)

    def sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int, int]:
        import shapely

        values = np.full(len(x), np.nan)
        finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if finite.size:
            points = shapely.points(x[finite], y[finite])
            pairs, distances = self._tree.query_nearest(points, return_distance=True,
                                                        all_matches=False)
            values[finite[pairs[0]]] = distances
        return values, int(len(x) - finite.size), 0


@dataclass
class _RasterLayer:
    """A raster reprojected onto a north-up grid in the survey CRS (float64, NaN = no data).

    "Outside" and "no-data" are decided in the raster's own CRS and grid: a point off the source
    grid is outside; one whose source cell is no-data is on no-data; a point inside
    but on a NaN cell of the reprojected grid (a sliver at the edge that the warp leaves empty)
    also counts as outside.
    """

    grid: np.ndarray
    transform: object  # affine of ``grid``
    source_valid: np.ndarray  # bool, the source raster's cells with data
    source_transform: object
    to_source: object  # pyproj Transformer survey CRS -> raster CRS (always_xy)

    def sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int, int]:
        values = np.full(len(x), np.nan)
        nodata = np.zeros(len(x), dtype=bool)
        finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        sx, sy = self.to_source.transform(x[finite], y[finite])
        srow, scol = _cell_of(self.source_transform, sx, sy, self.source_valid.shape)
        inside = srow >= 0
        nodata[finite[inside]] = ~self.source_valid[srow[inside], scol[inside]]
        row, col = _cell_of(self.transform, x[finite], y[finite], self.grid.shape)
        on_grid = inside & (row >= 0)
        values[finite[on_grid]] = self.grid[row[on_grid], col[on_grid]]
        values[nodata] = np.nan
        n_nodata = int(nodata.sum())
        return values, int(np.isnan(values).sum()) - n_nodata, n_nodata


def _cell_of(transform, x: np.ndarray, y: np.ndarray,
             shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the cell holding each point (any affine grid); -1, -1 off the grid."""
    inverse = ~transform  # written out: affine's operator for this changed between versions
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    col_f = inverse.a * x + inverse.b * y + inverse.c
    row_f = inverse.d * x + inverse.e * y + inverse.f
    good = np.isfinite(col_f) & np.isfinite(row_f)
    row = np.full(len(x), -1, dtype=np.int64)
    col = np.full(len(x), -1, dtype=np.int64)
    row[good] = np.floor(row_f[good]).astype(np.int64)
    col[good] = np.floor(col_f[good]).astype(np.int64)
    off = (row < 0) | (row >= shape[0]) | (col < 0) | (col >= shape[1])
    row[off] = -1
    col[off] = -1
    return row, col


@dataclass
class ControlLayers:
    """Control layers read by :func:`read_controls`, ready to be sampled in the survey CRS.

    ``names`` (``file`` or ``file:layer``), ``kinds`` ("distance" or "continuous") and
    ``descriptions`` (one sentence each on how the file was read) run in the same order as the
    columns of :meth:`values_at`. After each call of :meth:`values_at`, ``outside`` and
    ``nodata`` hold per layer how many points fell outside the layer's extent or on its no-data
    (both NaN in the result) and ``value_notes`` one sentence per layer with any.
    """

    names: list[str]
    kinds: list[str]
    descriptions: list[str]
    crs: object  # the survey's pyproj CRS
    notes: list[str] = field(default_factory=list)
    outside: list[int] = field(default_factory=list)
    nodata: list[int] = field(default_factory=list)
    value_notes: list[str] = field(default_factory=list)
    _layers: list = field(default_factory=list, repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.names)

    def values_at(self, x, y) -> np.ndarray:
        """Layer values at survey-CRS coordinates: (n, n_layers) float64; NaN where unknown.

        Distance layers give metres to the nearest feature (0 inside / on it); continuous
        layers their resampled value. Non-finite coordinates give NaN (counted as outside).
        """
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise InputError(f"x and y must have the same length to sample the control layers, "
                             f"got {x.size} and {y.size}.")
        out = np.full((x.size, self.n_layers), np.nan)
        self.outside, self.nodata, self.value_notes = [], [], []
        for k, (name, layer) in enumerate(zip(self.names, self._layers)):
            values, n_outside, n_nodata = layer.sample(x, y)
            out[:, k] = values
            self.outside.append(n_outside)
            self.nodata.append(n_nodata)
            if n_outside or n_nodata:
                parts = []
                if n_outside:
                    parts.append(f"{n_outside} outside its extent")
                if n_nodata:
                    parts.append(f"{n_nodata} on its no-data")
                self.value_notes.append(
                    f"Control {name}: {' and '.join(parts)} of {x.size} points; their value is "
                    "unknown (NaN).")
        return out


# --------------------------------------------------------------------------------------------
# reading


def read_controls(paths, crs) -> ControlLayers:
    """Read ``paths`` (vector files and / or GeoTIFFs) as control layers in the survey ``crs``.

    ``crs`` is the survey's projected CRS in metres (a pyproj CRS or anything pyproj accepts);
    every distance is measured in it.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    target = parse_crs(crs, option="the survey CRS") if crs is not None else None
    if target is None or not target.is_projected or not _in_metres(target):
        raise InputError(f"Control layers need the survey in a projected CRS in metres (got "
                         f"{crs_label(target)}): give --crs for the survey, or let geoanomaly "
                         "project a lon/lat survey to UTM first.")
    layers = ControlLayers(names=[], kinds=[], descriptions=[], crs=target)
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"Control file {path} does not exist: check the path.")
        if not path.is_file():
            raise InputError(f"Control {path} is not a file: give {SUPPORTED} file.")
        suffix = path.suffix.lower()
        if suffix in VECTOR_SUFFIXES:
            found = _read_vector(path, target, layers.notes)
        elif suffix in RASTER_SUFFIXES:
            found = [_read_raster(path, target)]
        else:
            raise InputError(f"Control file {path} has an unsupported extension "
                             f"'{path.suffix}': give {SUPPORTED}.")
        for name, kind, description, layer in found:
            layers.names.append(_unique(name, layers.names, path))
            layers.kinds.append(kind)
            layers.descriptions.append(description)
            layers._layers.append(layer)
    return layers


def _in_metres(crs) -> bool:
    units = {(axis.unit_name or "").lower() for axis in crs.axis_info}
    return bool(units) and units <= _METRE_UNITS


def _unique(name: str, taken: list[str], path: Path) -> str:
    if name not in taken:
        return name
    candidate = name.replace(path.stem, path.name, 1)
    k = 2
    while candidate in taken:
        candidate = f"{name}#{k}"
        k += 1
    return candidate


def _one_line(err: Exception, limit: int = 160) -> str:
    """A library's error text as a clause inside our one sentence."""
    text = " ".join(str(err).split()).replace(".;", ";").replace(". ", "; ").rstrip(".")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read_vector(path: Path, target, notes: list[str]) -> list[tuple]:
    import geopandas
    import pyogrio
    import shapely

    try:
        listed = pyogrio.list_layers(path)
    except Exception as err:
        raise InputError(f"Cannot read control file {path} as a GIS layer ({_one_line(err)}): "
                         f"give {SUPPORTED} file that opens in a GIS.") from None
    layer_names = [str(row[0]) for row in listed]
    spatial = [str(row[0]) for row in listed if row[1] is not None]
    skipped = [n for n in layer_names if n not in spatial]
    results = []
    for layer_name in spatial:
        try:
            frame = geopandas.read_file(path, layer=layer_name, engine="pyogrio")
        except Exception as err:
            raise InputError(f"Cannot read layer '{layer_name}' of control file {path} "
                             f"({_one_line(err)}): check the file in a GIS.") from None
        geoms = frame.geometry.to_numpy() if frame.active_geometry_name else np.array([])
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else []
        geoms = geoms[keep] if len(geoms) else geoms
        if len(geoms) == 0:
            skipped.append(layer_name)
            continue
        if frame.crs is None:
            which = f" (layer '{layer_name}')" if len(layer_names) > 1 else ""
            raise InputError(f"Control file {path}{which} has no CRS: set its CRS in a GIS "
                             "(a .prj beside a shapefile) and run again.")
        source = parse_crs(frame.crs.to_wkt())
        geoms = geopandas.GeoSeries(geoms, crs=frame.crs)
        if source.equals(target):
            where = f"in {crs_label(target)}"
        else:
            geoms = geoms.to_crs(target)
            where = f"reprojected from {crs_label(source)} to {crs_label(target)}"
        geoms = geoms.to_numpy()
        valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        geoms = geoms[valid]
        if len(geoms) == 0:
            raise InputError(f"Control file {path} (layer '{layer_name}') has no geometry "
                             f"left after reprojection to {crs_label(target)}: check its CRS.")
        single = len(spatial) == 1 or len(layer_names) == 1
        name = path.stem if single else f"{path.stem}:{layer_name}"
        label = path.name if single else f"{path.name} layer '{layer_name}'"
        has_area = bool(np.isin(shapely.get_type_id(geoms), (3, 6)).any() or any(
            shapely.get_type_id(g) == 7 and shapely.area(g) > 0 for g in geoms))
        inside = " (0 inside)" if has_area else ""
        description = (f"{label}: {_count_types(geoms)}, {where}; value = distance in metres "
                       f"to the nearest feature{inside}.")
        results.append((name, "distance", description, _VectorLayer(geoms)))
    if not results:
        raise InputError(f"Control file {path} holds no geometries: give a file with the "
                         "polygons, lines or points of the control (intrusions, faults).")
    if skipped:
        notes.append(f"{path.name}: layer(s) {', '.join(skipped)} hold no geometry and were "
                     "skipped.")
    return results


def _count_types(geoms: np.ndarray) -> str:
    import shapely

    words = {0: "point", 1: "line", 2: "line", 3: "polygon", 4: "point", 5: "line",
             6: "polygon", 7: "geometry collection"}
    counts: dict[str, int] = {}
    for type_id in shapely.get_type_id(geoms):
        word = words.get(int(type_id), "geometry")
        counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for word, n in counts.items())


def _read_raster(path: Path, target) -> tuple:
    import rasterio
    from pyproj import Transformer
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    try:
        src = rasterio.open(path)
    except Exception as err:
        raise InputError(f"Cannot read control file {path} as a GeoTIFF ({_one_line(err)}): "
                         f"give {SUPPORTED} file that opens in a GIS.") from None
    with src:
        if src.crs is None:
            raise InputError(f"Control raster {path} has no CRS: assign one (for example "
                             "gdal_edit.py -a_srs EPSG:32750 FILE) and run again.")
        src_crs = src.crs
        source = crs_from_rasterio(src_crs)
        try:
            data = src.read(1, masked=True)
        except Exception as err:
            raise InputError(f"Cannot read the values of control raster {path} "
                             f"({_one_line(err)}): check the file in a GIS.") from None
        band_note = f" (band 1 of {src.count})" if src.count > 1 else ""
        src_transform, bounds = src.transform, src.bounds
        res_x, res_y = src.res
        nodata_value = src.nodata
    values = np.ma.filled(data.astype(np.float64), np.nan)
    values[~np.isfinite(values)] = np.nan
    if nodata_value is not None and np.isfinite(nodata_value):
        values[values == nodata_value] = np.nan
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise InputError(f"Control raster {path} holds only no-data: give a raster with values "
                         "over the survey.")
    is_mask = bool(np.isin(finite, (0.0, 1.0)).all())
    if is_mask and not (finite == 1.0).any():
        raise InputError(f"Control raster {path} is a 0/1 mask with no 1-cell, so there is "
                         "nothing to measure distance to: mark the control with 1.")

    method = "nearest" if is_mask else "bilinear"
    if source.equals(target) and src_transform.b == 0 and src_transform.d == 0:
        grid, dst_transform = values, src_transform  # already a metric grid: no resampling
        where = f"in {crs_label(target)}, used on its own grid"
    else:
        dst_transform, width, height = calculate_default_transform(
            src_crs, target.to_wkt(), values.shape[1], values.shape[0], *bounds)
        grid = np.full((height, width), np.nan)
        reproject(values, grid, src_transform=src_transform, src_crs=src_crs, src_nodata=np.nan,
                  dst_transform=dst_transform, dst_crs=target.to_wkt(), dst_nodata=np.nan,
                  resampling=Resampling[method])
        where = (f"reprojected from {crs_label(source)} to {crs_label(target)} ({method}) onto "
                 f"{abs(dst_transform.a):.0f} m cells")
    cell_x, cell_y = abs(dst_transform.a), abs(dst_transform.e)
    size = _cell_size_text(res_x, res_y, source)
    if is_mask:
        from scipy import ndimage

        ones = grid == 1.0
        distance = ndimage.distance_transform_edt(~ones, sampling=(cell_y, cell_x))
        distance[np.isnan(grid)] = np.nan
        grid = distance
        kind = "distance"
        description = (f"{path.name}{band_note}: 0/1 mask raster of {size} cells, {where}; "
                       "value = distance in metres from "
                       "the cell a point falls in to the nearest 1-cell (0 on one), good to "
                       "about one cell; outside the raster or on no-data: unknown.")
    else:
        kind = "continuous"
        description = (f"{path.name}{band_note}: continuous raster of {size} cells, {where}, "
                       "sampled at the cell a point falls in; value used as it is (higher = "
                       "more favourable); outside the raster or on no-data: unknown.")
    to_source = Transformer.from_crs(target, source, always_xy=True)
    return (path.stem, kind, description,
            _RasterLayer(grid=grid, transform=dst_transform, source_valid=np.isfinite(values),
                         source_transform=src_transform, to_source=to_source))


def _cell_size_text(res_x: float, res_y: float, crs) -> str:
    if crs.is_geographic:
        return f"{res_x:.6g} x {res_y:.6g} degree"
    if np.isclose(res_x, res_y):
        return f"{res_x:.6g} m"
    return f"{res_x:.6g} x {res_y:.6g} m"
