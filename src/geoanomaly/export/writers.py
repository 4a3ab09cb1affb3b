"""File writers for a run's outputs: scores CSV, GeoTIFF maps, GeoPackage points, JSON, YAML.

Every writer takes the exact path to write (normally ``OutputStaging.path(name)``), so the
atomic publishing lives in one place (:mod:`geoanomaly.export.atomic`), not in each writer.

Raster conventions (chosen once, here):

- scores are float32 with ``nodata = -9999`` (``SCORE_NODATA``) outside valid cells and where a
  score is not finite. -9999 rather than NaN because many GIS tools and older GDAL drivers treat
  a NaN nodata value inconsistently; -9999 is never a plausible anomaly score in practice;
- classes go to a separate single-band uint8 GeoTIFF (``CLASS_NODATA = 255``), because a
  categorical band is styled differently in GIS and GeoTIFF bands must share one data type;
- LZW compression; 256 x 256 tiles when the grid is 512 cells or more on a side.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

import numpy as np

from geoanomaly.survey import Grid

SCORE_NODATA = -9999.0
CLASS_NODATA = 255
TILE_THRESHOLD = 512  # grids this wide or tall (or more) are written tiled
TILE_SIZE = 256


# ---------------------------------------------------------------- tables

def write_scores_csv(path, x, y, score, cls=None, class_names=None, extra: Mapping | None = None) -> Path:
    """Write one row per sample / valid cell: x, y, score, class, class_name, then ``extra``.

    ``cls`` holds integer classes (0 = background, higher = more anomalous) or None when no
    threshold was applied (both class columns are then left empty). ``class_names`` is a
    sequence indexed by class or a mapping class -> name; without it the name is the number.
    ``extra`` adds columns in the given order (e.g. ``{"sample_id": ids, "near_deposit": flag}``).
    """
    import pandas as pd

    n = len(np.asarray(score))
    table = pd.DataFrame({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float),
                          "score": np.asarray(score, dtype=float)})
    if cls is None:
        table["class"] = pd.array([pd.NA] * n, dtype="Int64")
        table["class_name"] = ""
    else:
        cls = np.asarray(cls)
        if len(cls) != n:
            raise ValueError(f"cls has {len(cls)} entries for {n} scores")
        table["class"] = pd.array(cls, dtype="Int64")
        # each class named once, then spread over the rows (a million rows, a handful of classes)
        codes, distinct = pd.factorize(pd.Series(cls), use_na_sentinel=False)
        names = np.asarray([_class_name(c, class_names) for c in distinct] + [""], dtype=object)
        table["class_name"] = names[codes]
    for name, column in (extra or {}).items():
        column = np.asarray(column)
        if len(column) != n:
            raise ValueError(f"extra column {name!r} has {len(column)} entries for {n} scores")
        if str(name) in table.columns:
            raise ValueError(f"extra column {name!r} clashes with a standard column")
        table[str(name)] = column
    path = Path(path)
    _write_csv_fast(path, table)
    return path


def _write_csv_fast(path: Path, table) -> None:
    """``table.to_csv(path, index=False, float_format="%.10g", lineterminator="\\n")``, the same
    bytes, about twice as fast on a million rows: each column is formatted once into a list of
    strings (floats with "%.10g", empty where missing) and the rows go through the csv writer
    that pandas itself uses, with its quoting. Column kinds it does not know go to pandas."""
    import csv

    import pandas as pd

    for name in table.columns:
        column = table[name]
        if not (column.dtype.kind in "fiub" or isinstance(column.dtype, pd.Int64Dtype) or
                (column.dtype.kind in "OU" and all(
                    isinstance(v, str) or v is None or v is pd.NA or
                    (isinstance(v, float) and math.isnan(v)) for v in pd.unique(column)))):
            table.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
            return  # pragma: no cover - no such column in a run's scores
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([str(c) for c in table.columns])
        for start in range(0, len(table), _CSV_CHUNK_ROWS):  # a chunk's strings at a time
            chunk = table.iloc[start:start + _CSV_CHUNK_ROWS]
            writer.writerows(zip(*(_csv_text(chunk[name]) for name in table.columns)))


_CSV_CHUNK_ROWS = 100_000


def _csv_text(column) -> list[str]:
    """The cells of one column as pandas' to_csv writes them (floats "%.10g", "" if missing)."""
    import pandas as pd

    if column.dtype.kind == "f":
        values = column.to_numpy()
        text = ["%.10g" % v for v in values.tolist()]
        missing = np.flatnonzero(np.isnan(values))
    elif column.dtype.kind in "OU":
        text = column.to_numpy(dtype=object).tolist()
        missing = np.flatnonzero(column.isna().to_numpy())
    else:  # integers, nullable integers, booleans
        text = [str(v) for v in column.to_numpy(dtype=object, na_value=None).tolist()]
        missing = np.flatnonzero(column.isna().to_numpy())
    for i in missing.tolist():
        text[i] = ""
    return text


def _class_name(value, class_names) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    key = int(value)
    if class_names is None:
        return str(key)
    if isinstance(class_names, Mapping):
        return str(class_names.get(key, key))
    return str(class_names[key]) if 0 <= key < len(class_names) else str(key)


# ---------------------------------------------------------------- rasters

def write_grid_geotiff(path, grid: Grid, values_per_valid_cell, *, description: str = "anomaly score",
                       tags: Mapping | None = None) -> Path:
    """Write one float32 band on exactly ``grid`` (transform, size, CRS) with nodata -9999.

    ``values_per_valid_cell`` follows the survey's row order: the valid cells of ``grid.valid``
    in row-major ``np.nonzero`` order. ``description`` becomes the band description and
    ``tags`` dataset metadata (e.g. ``{"SCORE": "vae recon", "INTERPOLATED": "no"}``).
    """
    values = np.asarray(values_per_valid_cell, dtype=float).ravel()
    image = _scatter_to_grid(grid, values, fill=SCORE_NODATA)
    image[~np.isfinite(image)] = SCORE_NODATA
    return _write_single_band(path, grid, image.astype(np.float32), "float32", SCORE_NODATA,
                              description, tags, predictor=3)


def write_image_geotiff(path, grid: Grid, image, *, description: str = "anomaly score",
                        tags: Mapping | None = None) -> Path:
    """Write a full (height, width) float image (NaN = empty), e.g. an IDW map, as float32."""
    image = np.array(image, dtype=float)
    if image.shape != (grid.height, grid.width):
        raise ValueError(f"image shape {image.shape} does not match grid {(grid.height, grid.width)}")
    image[~np.isfinite(image)] = SCORE_NODATA
    return _write_single_band(path, grid, image.astype(np.float32), "float32", SCORE_NODATA,
                              description, tags, predictor=3)


def write_class_geotiff(path, grid: Grid, classes_per_valid_cell, *, class_names=None,
                        description: str = "anomaly class", tags: Mapping | None = None) -> Path:
    """Write integer classes (0..254) as a uint8 band on ``grid``, nodata 255.

    Class names go into the tags as ``CLASS_<k>=<name>`` so a GIS user can read the legend.
    """
    classes = np.asarray(classes_per_valid_cell).ravel()
    if classes.size and (classes.min() < 0 or classes.max() >= CLASS_NODATA):
        raise ValueError("classes must lie in 0..254 to fit a uint8 band with nodata 255")
    image = _scatter_to_grid(grid, classes.astype(float), fill=CLASS_NODATA).astype(np.uint8)
    all_tags = dict(tags or {})
    if class_names is not None:
        items = class_names.items() if isinstance(class_names, Mapping) else enumerate(class_names)
        for key, name in items:
            all_tags[f"CLASS_{int(key)}"] = str(name)
    return _write_single_band(path, grid, image, "uint8", CLASS_NODATA, description, all_tags, predictor=2)


def _scatter_to_grid(grid: Grid, values: np.ndarray, fill: float) -> np.ndarray:
    return grid.to_image(values, fill)


def _write_single_band(path, grid, image, dtype, nodata, description, tags, predictor) -> Path:
    import rasterio

    profile = {
        "driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1, "dtype": dtype,
        "crs": _rasterio_crs(grid.crs), "transform": grid.transform, "nodata": nodata,
        "compress": "lzw", "predictor": predictor,
    }
    if max(grid.width, grid.height) >= TILE_THRESHOLD:
        profile.update(tiled=True, blockxsize=TILE_SIZE, blockysize=TILE_SIZE)
    path = Path(path)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image, 1)
        dst.set_band_description(1, str(description))
        if tags:
            dst.update_tags(**{str(k): _tag_text(v) for k, v in tags.items()})
    return path


def _tag_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _rasterio_crs(crs):
    """pyproj CRS (or anything rasterio understands) -> rasterio CRS; None stays None."""
    if crs is None:
        return None
    from rasterio.crs import CRS as RioCRS

    if isinstance(crs, RioCRS):
        return crs
    if hasattr(crs, "to_wkt"):  # pyproj.CRS
        return RioCRS.from_wkt(crs.to_wkt())
    return RioCRS.from_user_input(crs)


# ---------------------------------------------------------------- vectors

def write_points_gpkg(path, x, y, crs, columns: Mapping | None = None, layer: str = "anomalies",
                      *, description: str | None = None, identifier: str | None = None) -> Path:
    """Write points with attribute ``columns`` as one layer of a GeoPackage (via pyogrio).

    ``crs`` is a pyproj CRS, anything pyproj reads, or None (layer without CRS). Writing a
    second layer name to the same file adds the layer; the same name replaces it.

    The layer goes to GDAL in one call as an Arrow table (geometry as WKB), not row by row
    through Python objects; a million points with 45 attributes take seconds, most of it the
    spatial index, which QGIS needs to draw the layer quickly. SQLite's journal and fsync are
    off while writing: the file is written into the run's staging folder and only moved into
    place when the whole run succeeded, so an interrupted write is thrown away anyway.

    ``identifier`` (a title) and ``description`` (what the layer holds) go into the
    GeoPackage's gpkg_contents, where GIS software shows them (see ``export.qgis.layer_text``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    data = {}
    for name, column in (columns or {}).items():
        column = np.asarray(column)
        if len(column) != len(x):
            raise ValueError(f"column {name!r} has {len(column)} entries for {len(x)} points")
        if str(name).lower() in ("geometry", "geom", "fid"):
            raise ValueError(f"column name {name!r} is reserved in a GeoPackage")
        data[str(name)] = column
    path = Path(path)
    options = {key: str(value) for key, value in
               (("IDENTIFIER", identifier), ("DESCRIPTION", description)) if value is not None}
    try:
        _write_points_arrow(path, x, y, crs, data, layer, options)
    except (ImportError, NotImplementedError):  # pragma: no cover - GDAL < 3.8 or old pyogrio
        import geopandas as gpd

        frame = gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(x, y), crs=crs)
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", layer_options=options)
    return path


#: GDAL settings while a GeoPackage is written (see write_points_gpkg): no rollback journal,
#: no fsync, and a page cache large enough for the R-tree of a million points (MB)
_GPKG_WRITE_OPTIONS = {"OGR_SQLITE_JOURNAL": "OFF", "OGR_SQLITE_SYNCHRONOUS": "OFF",
                       "OGR_SQLITE_CACHE": "256"}


def _write_points_arrow(path: Path, x, y, crs, data: dict, layer: str, options=None) -> None:
    import pyarrow as pa
    import pyogrio
    import shapely

    columns = {}
    for name, column in data.items():
        if column.dtype.kind == "O":  # text (ids, class names): strings, null where missing
            try:
                column = pa.array(column, type=pa.string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all str: written as text
                column = pa.array([None if _missing(v) else str(v) for v in column],
                                  type=pa.string())
        columns[name] = column
    columns["geometry"] = shapely.to_wkb(shapely.points(x, y))
    table = pa.table(columns)
    previous = {key: pyogrio.get_gdal_config_option(key) for key in _GPKG_WRITE_OPTIONS}
    pyogrio.set_gdal_config_options(_GPKG_WRITE_OPTIONS)
    try:
        with warnings.catch_warnings():  # a survey without a CRS gets a layer without one
            warnings.filterwarnings("ignore", message="'crs' was not provided")
            pyogrio.write_arrow(table, path, layer=layer, driver="GPKG",
                                geometry_name="geometry", geometry_type="Point",
                                crs=_crs_text(crs), encoding="UTF-8",
                                layer_options=options or None)
    finally:
        pyogrio.set_gdal_config_options(previous)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _crs_text(crs) -> str | None:
    """"EPSG:n" when the CRS has a code (what GIS tools show), else its WKT; None: no CRS."""
    if crs is None:
        return None
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg else parsed.to_wkt()


# ---------------------------------------------------------------- JSON / YAML

def to_plain(obj):
    """Convert numpy / pandas / pathlib / dataclass values to plain JSON types; NaN and inf -> None."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.ndarray):
        return [to_plain(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (set, frozenset)):
        return [to_plain(v) for v in sorted(obj, key=str)]
    if isinstance(obj, (Sequence,)) and not isinstance(obj, (bytes, bytearray)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if type(obj).__module__.startswith(("pyproj", "rasterio")) and hasattr(obj, "to_string"):  # CRS -> "EPSG:32645"
        return obj.to_string()
    if hasattr(obj, "to_dict") and callable(obj.to_dict):  # pandas Series / DataFrame
        try:
            return to_plain(obj.to_dict())
        except TypeError:
            pass
    try:
        import pandas as pd

        if obj is pd.NA or obj is pd.NaT:
            return None
        if isinstance(obj, pd.Timestamp):
            return obj.isoformat()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, np.generic):
        return to_plain(obj.item())
    return str(obj)


def write_json(path, obj, *, indent: int = 2) -> Path:
    """Write ``obj`` as strict JSON (no NaN tokens: non-finite numbers become null)."""
    path = Path(path)
    text = json.dumps(to_plain(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_yaml(path, obj) -> Path:
    """Write ``obj`` as block-style YAML, keys in the given order (for the resolved config)."""
    import yaml

    path = Path(path)
    text = yaml.safe_dump(to_plain(obj), sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.write_text(text, encoding="utf-8")
    return path
