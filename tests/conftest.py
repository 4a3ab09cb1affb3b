"""Shared fixtures: small self-made surveys (CSV and GeoTIFF) and the optional real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def halo_map(scale=(1.0, 1.0, 1.0), shift=(0.0, 0.0, 0.0)):
    """(GridInput, halo cells) of the map-model tests (mcae, pccae, ganomaly-map; import it
    with ``from conftest import halo_map``): 40 x 50 cells of 2 km with a no-data hole, 3
    channels -- two correlated smooth backgrounds and a noisier one, times ``scale`` plus
    ``shift`` -- and two compact Gaussian halos (sigma 1 cell) on every channel at (10, 12) and
    (28, 36); the halo cells are the 3 x 3 around each centre."""
    from affine import Affine
    from scipy import ndimage

    from geoanomaly.grid.windows import GridInput
    from geoanomaly.survey import Grid

    height, width = 40, 50
    rng = np.random.default_rng(0)
    smooth = [ndimage.gaussian_filter(rng.normal(size=(height, width)), 3.0) for _ in range(3)]
    smooth = [s / s.std() for s in smooth]
    noisy = 0.4 * smooth[2] + rng.normal(size=(height, width))
    images = np.stack([smooth[0], 0.6 * smooth[0] + 0.8 * smooth[1], noisy])
    rr, cc = np.mgrid[:height, :width]
    halo = np.zeros((height, width), dtype=bool)
    for r, c in ((10, 12), (28, 36)):
        bump = np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / 2.0)
        images = images + 6.0 * bump[None] * np.array([1.0, 0.8, 1.2])[:, None, None]
        halo |= (np.abs(rr - r) <= 1) & (np.abs(cc - c) <= 1)
    images = images * np.array(scale)[:, None, None] + np.array(shift)[:, None, None]
    valid = np.ones((height, width), dtype=bool)
    valid[18:23, 5:10] = False  # a no-data hole
    grid = Grid(Affine(2000, 0, 0, 0, -2000, height * 2000), width, height, None, valid)
    masks = np.broadcast_to(valid, images.shape).copy()
    images = np.where(masks, images, 0.0).astype(np.float32)
    return GridInput(images, masks, grid, ("A", "B", "C")), grid.from_image(halo)


def assert_unobserved_values_ignored(fit, X, stored) -> None:
    """A map model must see no value marked unobserved: each (place, value) of ``stored`` (a
    (channel, row, column) index, ``np.s_`` slices allowed) is masked in two copies of the
    GridInput ``X``, holding 0 in one and ``value`` in the other; ``fit(copy)`` (a fitted
    detector) must give the same scores on both copies and when fitted on either."""
    from geoanomaly.grid.windows import GridInput

    masks = X.masks.copy()
    for place, _ in stored:
        masks[place] = False
    low = GridInput(np.where(masks, X.images, 0.0).astype(np.float32), masks, X.grid)
    high_images = low.images.copy()
    for place, value in stored:
        high_images[place] = value
    high = GridInput(high_images, masks, X.grid)
    detector = fit(low)
    assert np.array_equal(detector.anomaly_score(low), detector.anomaly_score(high))
    assert np.array_equal(fit(high).anomaly_score(high), detector.anomaly_score(low))


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
