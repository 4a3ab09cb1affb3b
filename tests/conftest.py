"""Shared fixtures: small self-made surveys (CSV and GeoTIFF) and the optional real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real survey data of ../shared/data; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


def _field(rng, n, xs, ys, centres, scale):
    field = np.zeros(n)
    for cx, cy in centres:
        d2 = (xs - cx) ** 2 + (ys - cy) ** 2
        field += np.exp(-d2 / (2 * scale ** 2))
    return field


@pytest.fixture
def small_csv(tmp_path) -> tuple[Path, Path]:
    """A 400-sample CSV in lab style (ids, '<0.5' strings, -9999) and a deposits CSV, EPSG:32750."""
    rng = np.random.default_rng(7)
    n = 400
    xs = 400000 + rng.uniform(0, 20000, n)
    ys = 6400000 + rng.uniform(0, 20000, n)
    deposits = [(405000.0, 6405000.0), (415000.0, 6412000.0), (409000.0, 6417000.0)]
    halo = _field(rng, n, xs, ys, deposits, 1200.0)
    base = rng.normal(size=(n, 1))
    cu = np.exp(3.0 + 0.4 * base[:, 0] + 0.3 * rng.normal(size=n) + 2.0 * halo)
    pb = np.exp(2.5 + 0.3 * base[:, 0] + 0.3 * rng.normal(size=n) + 1.5 * halo)
    zn = np.exp(4.0 + 0.3 * base[:, 0] + 0.3 * rng.normal(size=n) + 1.5 * halo)
    mn = np.exp(6.5 + 0.3 * rng.normal(size=n) + 0.5 * halo)
    fe = np.exp(1.0 + 0.2 * rng.normal(size=n) + 0.4 * halo)
    table = pd.DataFrame({
        "SAMPLE_ID": [f"S{i:04d}" for i in range(n)],
        "EASTING": xs.round(1), "NORTHING": ys.round(1),
        "Cu_ppm": cu.round(2).astype(object), "Pb_ppm": pb.round(2).astype(object),
        "Zn_ppm": zn.round(1), "Mn_ppm": mn.round(0), "Fe2O3_pct": fe.round(3),
        "LAB_BATCH": rng.choice(["B1", "B2"], n), "DATE": "2021-05-04",
    })
    table.loc[[3, 17, 40], "Cu_ppm"] = "<2"
    table.loc[[5, 50], "Pb_ppm"] = "< 1"
    table.loc[[8], "Zn_ppm"] = -9999
    survey = tmp_path / "survey.csv"
    table.to_csv(survey, index=False)
    dep = tmp_path / "deposits.csv"
    pd.DataFrame({"name": ["A", "B", "C"], "x": [d[0] for d in deposits],
                  "y": [d[1] for d in deposits]}).to_csv(dep, index=False)
    return survey, dep


@pytest.fixture
def small_grid(tmp_path) -> tuple[Path, Path]:
    """A folder of five single-band GeoTIFFs (40 x 50 cells, 1 km, EPSG:32650) and deposits."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(11)
    h, w = 40, 50
    transform = from_origin(500000.0, 2800000.0, 1000.0, 1000.0)
    rows, cols = np.mgrid[0:h, 0:w]
    dep_rc = [(10, 12), (25, 30), (33, 8)]
    halo = sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 4.0) for r, c in dep_rc)
    folder = tmp_path / "grid"
    folder.mkdir()
    base = rng.normal(size=(h, w))
    for name, mean, k in [("Cu", 3.0, 2.0), ("Pb", 2.5, 1.5), ("Zn", 4.0, 1.5),
                          ("Mn", 6.5, 0.4), ("Fe2O3", 1.0, 0.3)]:
        values = np.exp(mean + 0.3 * base + 0.2 * rng.normal(size=(h, w)) + k * halo)
        values = values.astype("float32")
        values[0, :3] = -9999.0  # a nodata corner
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", height=h, width=w, count=1,
                           dtype="float32", crs="EPSG:32650", transform=transform,
                           nodata=-9999.0) as dst:
            dst.write(values, 1)
    dep = tmp_path / "grid_deposits.csv"
    xs = [transform.c + (c + 0.5) * 1000.0 for _, c in dep_rc]
    ys = [transform.f - (r + 0.5) * 1000.0 for r, _ in dep_rc]
    pd.DataFrame({"x": xs, "y": ys}).to_csv(dep, index=False)
    return folder, dep
