"""A fault-zone mask for xinjiang_au, the geology the knowledge-guided models need there.

    .venv/bin/python benchmarks/xinjiang_faults.py GEOLOGY_WEIGHTS_TIF ELEMENT_TIF OUT_TIF

The shared xinjiang_au folder has no geology. The GK-DCN repository it comes from
(GitHub Aleksiyu/Recognizing-geochemical-spatial-patterns-using-DCN-guided-with-geological-
knowledge, GPL-3.0, file research/New_data/geology_weights.tif, "fracture weights") has a
117 x 292 raster of 12 classes decreasing away from mapped fractures (1 on them, 0 outside the
mapped area). Its georeference disagrees with the element grids (another origin, three more
columns) while the GK-DCN code indexes it by array row and column like the element arrays, so it
is aligned here the same way: its first 289 columns on the element grid. Kept: the fracture
class (1 -> 1), the other mapped classes (0 < w < 1 -> 0), unmapped cells (0 -> no-data 255).
The models then see a 0/1 mask, which becomes a distance to the fracture zones; the controlling
function is fitted on deposits inside spatial folds, never taken from the weights themselves
(how the authors derived their weights is not documented; they may have used the deposits).
The file is written outside the repository: data from elsewhere are not copied into it.
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv=None) -> int:
    import rasterio

    weights_path, element_path, out_path = (argv or sys.argv[1:])[:3]
    with rasterio.open(element_path) as ref:
        profile = ref.profile
        width = ref.width
    with rasterio.open(weights_path) as src:
        w = src.read(1)[:, :width]
    mask = np.where(w == 1, 1, np.where(w > 0, 0, 255)).astype("uint8")
    profile.update(dtype="uint8", nodata=255, count=1)
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(mask, 1)
    print(f"{out_path}: fracture cells {np.mean(mask == 1):.3f}, unmapped {np.mean(mask == 255):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
