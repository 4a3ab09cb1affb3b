"""Map outputs of a streamed run written window by window, published as Cloud Optimized GeoTIFFs.

GDAL's COG driver only copies a finished raster, so each map is first written window by window
into a tiled, uncompressed GeoTIFF beside the output (no compression to pay twice), its
overviews are built (averages for scores, nearest for classes), and a COG copy with ZSTD
compression (level 1), a floating-point predictor for scores and the overviews is what the
user gets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export.writers import CLASS_NODATA, SCORE_NODATA, _rasterio_crs, _tag_text

TILE = 512


class WindowedRaster:
    """One band, written window by window into ``path + '.part.tif'``; ``publish`` makes the COG."""

    def __init__(self, path, *, height: int, width: int, transform, crs, dtype: str,
                 description: str, tags: dict | None = None):
        import rasterio

        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part.tif")
        self.dtype = dtype
        self.nodata = SCORE_NODATA if dtype == "float32" else CLASS_NODATA
        tiled = min(height, width) >= TILE
        profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
                   "dtype": dtype, "crs": _rasterio_crs(crs), "transform": transform,
                   "nodata": self.nodata, "BIGTIFF": "IF_SAFER"}
        if tiled:
            profile.update(tiled=True, blockxsize=TILE, blockysize=TILE)
        self.dst = rasterio.open(self.part, "w", **profile)
        self.dst.set_band_description(1, description)
        if tags:
            self.dst.update_tags(**{str(k): _tag_text(v) for k, v in tags.items()})

    def write(self, window, values: np.ndarray) -> None:
        """``values`` (rows, cols) of ``window`` (stream.stack.Window); NaN -> nodata."""
        data = np.asarray(values)
        if self.dtype == "float32":
            data = np.where(np.isfinite(data), data, self.nodata).astype(np.float32)
        self.dst.write(data, 1, window=window.to_rasterio())

    def read(self, window) -> np.ndarray:
        """What was written in ``window`` (NaN where nodata, for scores)."""
        data = self.dst.read(1, window=window.to_rasterio())
        if self.dtype == "float32":
            data = data.astype(np.float32)
            data[data == self.nodata] = np.nan
        return data

    def publish(self) -> Path:
        """Overviews, then the COG copy; the part file is removed."""
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.shutil import copy as rio_copy

        factors = []
        size = max(self.dst.height, self.dst.width)
        while size // (2 ** (len(factors) + 1)) >= 256:
            factors.append(2 ** (len(factors) + 1))
        resampling = Resampling.average if self.dtype == "float32" else Resampling.nearest
        if factors:
            self.dst.build_overviews(factors, resampling)
        self.dst.close()
        # ZSTD level 1: on a 100 M-cell score map 5x faster than the default level 9 for a
        # file 1 % larger (scores are percentile ranks: little to gain from harder work)
        options = {"compress": "ZSTD", "level": 1,
                   "predictor": 3 if self.dtype == "float32" else 2,
                   "blocksize": TILE, "overviews": "FORCE_USE_EXISTING" if factors else "NONE",
                   "BIGTIFF": "IF_SAFER", "num_threads": "ALL_CPUS"}
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rio_copy(self.part, self.path, driver="COG", **options)
        self.part.unlink()
        return self.path

    def close(self) -> None:
        if not self.dst.closed:
            self.dst.close()
