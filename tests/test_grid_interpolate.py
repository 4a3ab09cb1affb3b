"""IDW gridding: exact at samples, close to a plane, empty far from samples."""

from pathlib import Path

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.grid import cell_centres, idw_grid


def _jittered_lattice(spacing=100.0, nx=30, ny=25, seed=0):
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing)
    jitter = 0.3 * spacing
    return (gx.ravel() + rng.uniform(-jitter, jitter, gx.size),
            gy.ravel() + rng.uniform(-jitter, jitter, gx.size))


def test_values_at_sample_locations_are_exact():
    # Samples exactly on cell centres of a 10 m grid, including two sharing one location.
    x = np.array([5.0, 15.0, 45.0, 95.0, 95.0, 55.0])
    y = np.array([5.0, 35.0, 85.0, 95.0, 95.0, 45.0])
    v = np.array([1.0, 7.0, -3.0, 10.0, 20.0, 4.5])
    image, grid = idw_grid(x, y, v, cell_size=10.0, bounds=(0, 0, 100, 100), max_distance=1000.0)
    assert (grid.width, grid.height) == (10, 10)
    from rasterio.transform import rowcol

    rows, cols = rowcol(grid.transform, x, y)
    got = image[np.asarray(rows), np.asarray(cols)]
    np.testing.assert_allclose(got, [1.0, 7.0, -3.0, 15.0, 15.0, 4.5])  # shared location: mean


def test_plane_is_reproduced_closely_inside_the_survey():
    x, y = _jittered_lattice()
    z = 0.01 * x + 0.02 * y + 5.0  # range about 77
    image, grid = idw_grid(x, y, z)
    cx, cy = cell_centres(grid)
    truth = 0.01 * cx + 0.02 * cy + 5.0
    inner = (cx > 300) & (cx < 2600) & (cy > 300) & (cy < 2100)
    err = np.abs(image - truth)[inner]
    assert np.isfinite(err).all()
    assert err.mean() < 0.3 and err.max() < 1.5  # < 2 % of the range everywhere inside


def test_default_cell_size_and_max_distance_follow_sample_spacing():
    x, y = _jittered_lattice(spacing=100.0)
    image, grid = idw_grid(x, y, np.ones_like(x), crs="EPSG:32650")
    cell = grid.transform.a
    assert cell in (20.0, 25.0, 50.0)  # half the ~90 m median spacing, rounded down to a nice number
    assert grid.transform.e == -cell
    assert grid.transform.c % cell == 0 and grid.transform.f % cell == 0  # snapped origin
    assert grid.crs.to_epsg() == 32650
    assert image.shape == (grid.height, grid.width)
    np.testing.assert_allclose(image[grid.valid], 1.0)
    assert grid.valid.mean() > 0.9


def test_cells_far_from_samples_are_empty():
    # Two clusters 10 km apart: the gap between them must not be filled.
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 500, (200, 2))
    b = rng.uniform(0, 500, (200, 2)) + [10_000, 0]
    pts = np.vstack([a, b])
    values = np.r_[np.zeros(200), np.ones(200)]
    image, grid = idw_grid(pts[:, 0], pts[:, 1], values)
    cx, cy = cell_centres(grid)
    gap = (cx > 2000) & (cx < 8000)
    assert gap.any() and np.isnan(image[gap]).all()
    assert not grid.valid[gap].any()
    assert np.nanmax(image[cx < 500]) == 0.0 and np.nanmin(image[cx > 10_000]) == 1.0


def test_non_finite_samples_are_ignored_and_geographic_crs_refused():
    x, y = _jittered_lattice(nx=5, ny=5)
    v = np.arange(x.size, dtype=float)
    v[3] = np.nan
    image, _ = idw_grid(x, y, v, cell_size=50.0)
    assert np.isfinite(image).any()
    with pytest.raises(InputError, match="project"):
        idw_grid(x, y, v, crs="EPSG:4326")
    with pytest.raises(InputError, match="one location"):
        idw_grid([1.0, 1.0], [2.0, 2.0], [3.0, 4.0])


@pytest.fixture
def shared_data():
    root = Path(__file__).parents[2] / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"real data folder {root} is absent")
    return root


@pytest.mark.realdata
def test_idw_on_real_stream_sediment_points(shared_data):
    import pandas as pd
    from pyproj import Transformer

    table = pd.read_csv(shared_data / "gswa" / "geochemical" / "area1_sediment_au.csv", usecols=["X", "Y"])
    east, north = Transformer.from_crs("EPSG:4326", "EPSG:32750", always_xy=True).transform(
        table["X"].to_numpy(), table["Y"].to_numpy())
    image, grid = idw_grid(east, north, east, crs="EPSG:32750")  # a plane in easting
    cx, _ = cell_centres(grid)
    err = np.abs(image - cx)[grid.valid]
    assert grid.valid.sum() > 100
    assert np.median(err) < grid.transform.a * 20
