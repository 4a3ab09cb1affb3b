"""Reading gridded element maps (GeoTIFFs) into a :class:`~geoanomaly.survey.Survey`.

Each valid cell becomes one sample row so that every detector sees the same n x p matrix as
for point data, and :class:`~geoanomaly.survey.Grid` keeps what is needed to put scores back
on exactly the same cells.  Grids are never resampled here: bands on different grids are an
error that tells the user how to align them, because silent resampling would blur anomalies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError
from geoanomaly.io.columns import parse_map_name
from geoanomaly.io.crs import crs_from_rasterio, crs_label
from geoanomaly.survey import Grid, Survey

RASTER_SUFFIXES = {".tif", ".tiff"}


@dataclass
class _Band:
    name: str  # band description or file-derived name
    label: str  # where it came from, for messages: "Cu.tif" or "stack.tif band 2"
    path: Path
    index: int  # 1-based band index in its file


@dataclass
class _RefGrid:
    """The first file's grid, kept after its dataset is closed, to compare the others with."""

    height: int
    width: int
    transform: object
    crs: object


def expand_raster_paths(paths: list[str]) -> list[Path]:
    """Files as given, folders replaced by their *.tif / *.tiff files in name order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path} does not exist: check the path.")
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
            if not found:
                raise InputError(f"Folder {path} holds no GeoTIFF (.tif/.tiff) files: give the "
                                 "folder of element grids, or the files themselves.")
            files += found
        else:
            files.append(path)
    return files


def _band_name(path: Path, index: int, count: int, description: str | None) -> str:
    if description and description.strip():
        return description.strip()
    return path.stem if count == 1 else f"{path.stem}_b{index}"


def _same_transform(a, b, tolerance: float) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(tuple(a)[:6], tuple(b)[:6]))


def _describe_grid(src) -> str:
    return f"{src.height} x {src.width} cells"


def _check_same_grid(src, ref, path: Path, ref_path: Path) -> None:
    fix = "; resample them onto one grid first, e.g. with gdalwarp -te ... -tr ... -r bilinear."
    if (src.height, src.width) != (ref.height, ref.width):
        raise InputError(f"{path.name} has {_describe_grid(src)} but {ref_path.name} has "
                         f"{_describe_grid(ref)}{fix}")
    cell = max(abs(ref.transform.a), abs(ref.transform.e), 1e-300)
    if not _same_transform(src.transform, ref.transform, 1e-6 * cell):
        raise InputError(f"{path.name} is not aligned with {ref_path.name} (origin "
                         f"{src.transform.c:g}, {src.transform.f:g} and cell "
                         f"{src.transform.a:g} x {-src.transform.e:g} against "
                         f"{ref.transform.c:g}, {ref.transform.f:g} and "
                         f"{ref.transform.a:g} x {-ref.transform.e:g}){fix}")
    if (src.crs is None) != (ref.crs is None) or (src.crs is not None and src.crs != ref.crs):
        raise InputError(f"{path.name} has CRS {src.crs.to_string() if src.crs else 'none'} but "
                         f"{ref_path.name} has {ref.crs.to_string() if ref.crs else 'none'}"
                         "; reproject them onto one grid first, e.g. with gdalwarp -t_srs.")


def element_keys(bands: list[_Band]) -> tuple[list[str], dict[str, str], dict[str, str], list[str]]:
    """Each band's element key (Cu, Cu_2 for a second Cu band), its unit and source label, and
    the band names that are not named like elements. One rule for the in-memory and the
    streamed reader (stream/stack.py), so both give the same columns."""
    keys: list[str] = []
    units: dict[str, str] = {}
    columns: dict[str, str] = {}
    unnamed: list[str] = []
    for band in bands:
        parsed = parse_map_name(band.name)
        element, unit = parsed if parsed is not None else (band.name, "")
        if parsed is None:
            unnamed.append(band.name)
        key, k = element, 2
        while key in units:
            key, k = f"{element}_{k}", k + 1
        keys.append(key)
        units[key] = unit
        columns[key] = band.label
    return keys, units, columns, unnamed


def damaged(label: str, err) -> InputError:
    """The error for a raster whose header opens but whose cells cannot be read."""
    return InputError(f"Cannot read the cells of {label}: the file is damaged or truncated "
                      f"({' '.join(str(err).split())[:200]}); export or copy it again.")


def naming_note(bands: list[_Band], keys: list[str], units: dict[str, str]) -> str | None:
    """One sentence saying how the bands whose names are not plain element names were read
    ("Idw_Li.tif -> Li; Kriging_Mn_ppm.tif -> Mn (ppm)"), or None when every name was plain."""
    read_as = [f"{band.label} -> {key}" + (f" ({units[key]})" if units.get(key) else "")
               for band, key in zip(bands, keys) if band.name != key]
    if not read_as:
        return None
    return "Band names read as elements: " + "; ".join(read_as) + "."


def scan_bands(files: list[Path]) -> tuple[list[_Band], list[float | None], _RefGrid]:
    """Every band of ``files`` (names, labels, nodata values) after checking that all lie on
    the first file's grid; no cell is read. Shared by the in-memory and the streamed reader."""
    import rasterio
    from rasterio.errors import RasterioIOError

    bands: list[_Band] = []
    nodata: list[float | None] = []
    ref: _RefGrid | None = None
    for path in files:
        try:
            src = rasterio.open(path)
        except RasterioIOError as err:
            raise InputError(f"Cannot read {path} as a GeoTIFF ({' '.join(str(err).split())}); "
                             "give GeoTIFF element grids.") from None
        with src:
            if ref is None:
                ref = _RefGrid(src.height, src.width, src.transform, src.crs)
            else:
                _check_same_grid(src, ref, path, files[0])
            for index in range(1, src.count + 1):
                name = _band_name(path, index, src.count, src.descriptions[index - 1])
                label = path.name if src.count == 1 else f"{path.name} band {index}"
                bands.append(_Band(name, label, path, index))
                nodata.append(src.nodatavals[index - 1])
    return bands, nodata, ref


def read_rasters(paths: list[str]) -> Survey:
    """Element grids (one multi-band file, several single-band files, or folders) as a Survey."""
    import rasterio
    from rasterio.errors import RasterioIOError

    files = expand_raster_paths([str(p) for p in paths])
    if not files:
        raise InputError("No GeoTIFF given: pass a folder of element grids or .tif files.")
    notes: list[str] = []
    bands, _, ref = scan_bands(files)
    ref_path = files[0]
    arrays: list[np.ndarray] = []
    for path in dict.fromkeys(b.path for b in bands):
        with rasterio.open(path) as src:
            for band in (b for b in bands if b.path == path):
                try:
                    data = src.read(band.index, masked=True).astype("float64")
                except RasterioIOError as err:
                    raise damaged(band.label, err) from None
                arrays.append(np.ma.filled(data, np.nan))

    height, width, transform, rio_crs = ref.height, ref.width, ref.transform, ref.crs
    stack = np.stack(arrays)  # (bands, height, width)
    stack[~np.isfinite(stack)] = np.nan
    valid = np.isfinite(stack).any(axis=0)
    if not valid.any():
        raise InputError(f"Every cell of {', '.join(p.name for p in files)} is nodata: "
                         "check the files' nodata value.")
    rows, cols = np.nonzero(valid)

    keys, units, columns, unnamed = element_keys(bands)
    values = {key: grid_values[rows, cols] for key, grid_values in zip(keys, stack)}
    note = naming_note(bands, keys, units)
    if note:
        notes.append(note)
    if unnamed:
        notes.append(f"Bands {', '.join(unnamed)} are not named like elements (Cu, Cu_ppm, ...); "
                     "kept under those names.")
    missing_units = [k for k, u in units.items() if not u]
    notes.append(f"Grid: {len(values)} bands, {height} x {width} cells, {int(valid.sum())} with "
                 "data" + (f"; units not given in the names of {len(missing_units)} bands."
                           if missing_units else "."))

    crs = crs_from_rasterio(rio_crs)
    if crs is None:
        notes.append(f"{ref_path.name} has no CRS: CRS unknown, pass --crs.")
    else:
        notes.append(f"CRS {crs_label(crs)} from {ref_path.name}.")

    xs = transform.c + transform.a * (cols + 0.5) + transform.b * (rows + 0.5)
    ys = transform.f + transform.d * (cols + 0.5) + transform.e * (rows + 0.5)
    return Survey(
        values=pd.DataFrame(values),
        x=np.asarray(xs, dtype=float), y=np.asarray(ys, dtype=float),
        crs=crs, units=units, columns=columns, meta=None,
        grid=Grid(transform=transform, width=width, height=height, crs=crs, valid=valid),
        sources=[str(p) for p in files], notes=notes,
    )

