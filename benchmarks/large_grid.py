"""A large synthetic stack of element rasters, and what rasterio alone needs to read it.

``write_stack`` writes ``n_bands`` single-band float32 GeoTIFFs (tiled 256 x 256, uncompressed,
as survey grids usually come) of a square grid: lognormal concentrations around a smooth regional
field shared by groups of elements, a few hundred enriched spots, and an unsurveyed corner of
nodata. ``rasterio_baseline`` reads every band and writes one band of the same size, window by
window, in one thread: the I/O a streamed run cannot avoid.

    python benchmarks/large_grid.py --cells 4e6 --out /tmp/ga_grid   # writes the stack
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

ELEMENTS = ["Ag", "Al", "As", "Au", "B", "Ba", "Be", "Bi", "Ca", "Cd", "Co", "Cr", "Cu", "F",
            "Fe", "Hg", "K", "La", "Li", "Mg", "Mn", "Mo", "Na", "Nb", "Ni", "P", "Pb", "Sb",
            "Sn", "Sr", "Th", "Ti", "U", "V", "W", "Y", "Zn", "Zr", "Ga"]
NODATA = -9999.0
TILE = 256


def write_stack(folder, cells: float, n_bands: int = 39, seed: int = 0) -> list[Path]:
    """Write the stack into ``folder`` (one ``<element>_ppm.tif`` per band); returns the paths.
    Generated strip by strip, so memory stays at a few hundred MB whatever the size."""
    import rasterio
    from rasterio.transform import from_origin

    side = int(math.sqrt(cells))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coarse = 64  # the regional field: 64 x 64 knots, upsampled by repetition and smoothing
    groups = rng.standard_normal((4, coarse, coarse)).astype(np.float32)
    loading = rng.uniform(0.2, 0.8, (n_bands, 4)).astype(np.float32)
    level = rng.uniform(0.0, 3.0, n_bands).astype(np.float32)
    spots = rng.integers(0, side, (300, 2))
    profile = {"driver": "GTiff", "height": side, "width": side, "count": 1,
               "dtype": "float32", "crs": "EPSG:32750", "nodata": NODATA,
               "transform": from_origin(300000.0, 7000000.0 + side * 100.0, 100.0, 100.0),
               "tiled": True, "blockxsize": TILE, "blockysize": TILE, "BIGTIFF": "IF_SAFER"}
    paths = []
    strip = TILE * 4
    knot = side / coarse
    for b in range(n_bands):
        path = folder / f"{ELEMENTS[b % len(ELEMENTS)]}{'' if b < len(ELEMENTS) else b}_ppm.tif"
        band_rng = np.random.default_rng([seed, b])
        with rasterio.open(path, "w", **profile) as dst:
            for r0 in range(0, side, strip):
                rows = min(strip, side - r0)
                ki = np.minimum(((np.arange(r0, r0 + rows) + 0.5) / knot).astype(int), coarse - 1)
                kj = np.minimum(((np.arange(side) + 0.5) / knot).astype(int), coarse - 1)
                field = np.tensordot(loading[b], groups[:, ki][:, :, kj], axes=1)
                values = field + level[b]
                values += 0.5 * band_rng.standard_normal((rows, side), dtype=np.float32)
                for (sr, sc) in spots[b % 7::7]:  # each band enriched at some spots
                    if r0 <= sr < r0 + rows:
                        values[sr - r0, max(sc - 20, 0):sc + 20] += 2.0
                np.exp(values, out=values)
                # an unsurveyed corner
                corner = np.arange(r0, r0 + rows)[:, None] + np.arange(side)[None, :] < side // 8
                values[corner] = NODATA
                dst.write(values, 1, window=rasterio.windows.Window(0, r0, side, rows))
        paths.append(path)
    return paths


def rasterio_baseline(paths, out_path, window: int = 512) -> float:
    """Seconds to read every band and write one float32 band of the same grid, window by
    window in one thread, with rasterio alone (the mean of the bands is written)."""
    import rasterio
    from rasterio.windows import Window

    start = time.perf_counter()
    sources = [rasterio.open(p) for p in paths]
    profile = dict(sources[0].profile)
    profile.update(tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER")
    with rasterio.open(out_path, "w", **profile) as dst:
        for r0 in range(0, dst.height, window):
            for c0 in range(0, dst.width, window):
                w = Window(c0, r0, min(window, dst.width - c0), min(window, dst.height - r0))
                total = np.zeros((w.height, w.width), dtype=np.float32)
                for src in sources:
                    total += src.read(1, window=w)
                dst.write(total / len(sources), 1, window=w)
    for src in sources:
        src.close()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=float, default=4e6)
    parser.add_argument("--bands", type=int, default=39)
    parser.add_argument("--out", default="/tmp/ga_grid")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_stack(Path(args.out) / "grids", args.cells, args.bands)
    size = sum(p.stat().st_size for p in paths) / 1e9
    print(f"wrote {len(paths)} bands, {size:.1f} GB, in {time.perf_counter() - start:.0f} s")
    print(f"rasterio alone: {rasterio_baseline(paths, Path(args.out) / 'baseline.tif'):.1f} s")


if __name__ == "__main__":
    main()
