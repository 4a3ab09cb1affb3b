"""A stack of element rasters read window by window, never whole.

:class:`RasterStack` is a small, picklable description of the bands (files, band indices, nodata
values, the one grid they share). ``read`` returns one window of every band as float32 with NaN
where a band has no data; each thread (or Dask worker) opens its own dataset handles, because a
GDAL handle must not be shared between threads. The checks are those of the in-memory reader
(io/rasters.py): the same grid, the same CRS, the same element names for the bands.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.crs import crs_from_rasterio
from ..io.rasters import (_Band, damaged, element_keys, expand_raster_paths, naming_note,
                          scan_bands)

#: GDAL's block cache per process while streaming (its default is 5 % of the machine's memory,
#: which alone can pass the memory a streamed run promises to stay under)
GDAL_CACHE_BYTES = 64 * 2**20

_handles = threading.local()


@dataclass(frozen=True)
class Window:
    """Rows ``row0:row1`` and columns ``col0:col1`` of the grid (end exclusive)."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.row1 - self.row0, self.col1 - self.col0

    def grown(self, halo: int, height: int, width: int) -> "Window":
        """This window with ``halo`` more cells on every side, clipped to the grid."""
        return Window(max(self.row0 - halo, 0), min(self.row1 + halo, height),
                      max(self.col0 - halo, 0), min(self.col1 + halo, width))

    def to_rasterio(self):
        from rasterio.windows import Window as RioWindow

        return RioWindow(self.col0, self.row0, self.col1 - self.col0, self.row1 - self.row0)


@dataclass
class RasterStack:
    """The bands of a raster survey: where they are, what they are called, their one grid."""

    bands: list[_Band]
    keys: list[str]  # element key per band, as io/rasters.py names them
    units: dict[str, str]
    columns: dict[str, str]
    nodata: list[float | None]  # per band
    height: int
    width: int
    transform: object
    rio_crs: object
    notes: list[str] = field(default_factory=list)

    @property
    def crs(self):
        return crs_from_rasterio(self.rio_crs)

    @property
    def n_cells(self) -> int:
        return self.height * self.width

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(str(b.path) for b in self.bands))

    def windows(self, size: int) -> list[Window]:
        """Square windows of ``size`` cells covering the grid, in row-major order."""
        size = max(int(size), 1)
        return [Window(r, min(r + size, self.height), c, min(c + size, self.width))
                for r in range(0, self.height, size) for c in range(0, self.width, size)]

    def read(self, window: Window, bands: list[int] | None = None) -> np.ndarray:
        """(bands, rows, cols) float32 of ``window``; NaN where a band is nodata or not finite.

        ``bands`` are positions in ``self.bands`` (default: all)."""
        from rasterio.errors import RasterioIOError

        chosen = range(len(self.bands)) if bands is None else bands
        rows, cols = window.shape
        out = np.empty((len(chosen), rows, cols), dtype=np.float32)
        rio_window = window.to_rasterio()
        for k, b in enumerate(chosen):
            band = self.bands[b]
            src = _open(band.path)
            try:
                src.read(band.index, window=rio_window, out=out[k])
            except RasterioIOError as err:
                raise damaged(band.label, err) from None
            nodata = self.nodata[b]
            if nodata is not None and np.isfinite(nodata):
                out[k][out[k] == np.float32(nodata)] = np.nan
            out[k][np.isinf(out[k])] = np.nan
        return out

    def cell_centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.transform
        x = t.c + t.a * (cols + 0.5) + t.b * (rows + 0.5)
        y = t.f + t.d * (cols + 0.5) + t.e * (rows + 0.5)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def block_shape(self) -> tuple[int, int]:
        """The first band's internal block (tile or strip) size: rows, cols."""
        src = _open(self.bands[0].path)
        rows, cols = src.block_shapes[self.bands[0].index - 1]
        return int(rows), int(cols)


def _open(path: Path):
    """This thread's open dataset for ``path`` (opened once per thread or worker)."""
    import rasterio

    cache = getattr(_handles, "datasets", None)
    if cache is None:
        cache = _handles.datasets = {}
    src = cache.get(str(path))
    if src is None:
        src = cache[str(path)] = rasterio.open(path)
    return src


def close_handles() -> None:
    """Close this thread's dataset handles (the end of a streamed run)."""
    for src in getattr(_handles, "datasets", {}).values():
        src.close()
    _handles.datasets = {}


def open_stack(paths: list[str]) -> RasterStack:
    """Describe the element rasters of ``paths`` (files or folders) without reading their cells."""
    files = expand_raster_paths([str(p) for p in paths])
    if not files:
        raise InputError("No GeoTIFF given: pass a folder of element grids or .tif files.")
    bands, nodata, ref = scan_bands(files)
    keys, units, columns, unnamed = element_keys(bands)
    notes = [note for note in [naming_note(bands, keys, units)] if note]
    if unnamed:
        notes.append(f"Bands {', '.join(unnamed)} are not named like elements (Cu, Cu_ppm, ...); "
                     "kept under those names.")
    return RasterStack(bands=bands, keys=keys, units=units, columns=columns, nodata=nodata,
                       height=ref.height, width=ref.width, transform=ref.transform,
                       rio_crs=ref.crs, notes=notes)


def stack_values(stack: RasterStack) -> int:
    """Cells x bands: what the in-memory reader would hold (in float64, several copies)."""
    return stack.n_cells * len(stack.bands)
