"""Figures: each returns a real PNG of a sensible size, for every kind of input."""

import io

import numpy as np
import pytest
from pyproj import CRS

from geoanomaly.export import figures
from geoanomaly.survey import Grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(png: bytes) -> np.ndarray:
    from PIL import Image

    assert png.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _has_deposit_red(pixels) -> bool:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return bool(((r > 200) & (g < 60) & (b < 60)).sum() > 20)


@pytest.fixture
def grid():
    from rasterio.transform import from_origin

    valid = np.ones((30, 40), dtype=bool)
    valid[:5, :5] = False
    return Grid(from_origin(500000, 4000000, 1000, 1000), 40, 30, CRS.from_epsg(32645), valid)


def test_grid_score_map_has_deposits_and_is_small(grid):
    score = np.linspace(0, 1, int(grid.valid.sum()))
    classes = (score > 0.5).astype(int) + (score > 0.9)
    png = figures.score_map(score, grid=grid, deposits=([510500.0], [3985500.0]), classes=classes)
    pixels = _image(png)
    assert pixels.shape[1] == int(7.5 * figures.DPI)
    assert _has_deposit_red(pixels)
    assert len(png) < 300_000
    without = _image(figures.score_map(score, grid=grid))
    assert not _has_deposit_red(without)


def test_point_score_map_with_idw_background(grid):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5000, 300), rng.uniform(0, 5000, 300)
    score = x / 5000
    from geoanomaly.grid import idw_grid

    background = idw_grid(x, y, score, crs="EPSG:32750")
    png = figures.score_map(score, x=x, y=y, classes=(score > 0.8).astype(int), class_names=["bg", "high"],
                            background=background, deposits=(np.array([2500.0]), np.array([2500.0])),
                            crs="EPSG:32750")
    assert _has_deposit_red(_image(png))
    with pytest.raises(ValueError):
        figures.score_map(score)


def test_axis_labels_come_from_the_crs():
    assert figures._axis_labels(CRS.from_epsg(32645)) == ("Easting (metre)", "Northing (metre)")
    assert figures._axis_labels("EPSG:4326") == ("Geodetic longitude (degree)", "Geodetic latitude (degree)")
    assert figures._axis_labels(None) == ("x", "y")


def test_interval_text_and_percent_scaling():
    assert figures._interval_text((0.7, 0.9)) == " [0.700, 0.900]"
    assert figures._interval_text(None) == "" and figures._interval_text((np.nan, 1)) == ""
    np.testing.assert_allclose(figures._as_percent([0, 0.5, 1]), [0, 50, 100])
    np.testing.assert_allclose(figures._as_percent([0, 50, 100]), [0, 50, 100])


def test_histogram_roc_success_ca_pa_are_pngs():
    rng = np.random.default_rng(0)
    scores = rng.gamma(2.0, size=500)
    fpr = np.linspace(0, 1, 30)
    outputs = [
        figures.score_histogram(scores, {"p95": np.percentile(scores, 95), "missing": None}),
        figures.roc_figure({"vae": (fpr, np.sqrt(fpr), 0.8, (0.7, 0.9)), "pca": (fpr, fpr, 0.5, None)}),
        figures.success_rate_figure({"vae": (fpr, np.sqrt(fpr), 0.8), "dict": {"area": fpr * 100, "deposits": fpr * 100}}),
        figures.ca_plot({"log_v": [0, 1, 2], "log_area": [3, 2, 0], "segments": [(0, 1, -1, 3), (1, 2, -2, 4)],
                         "breaks": [1.0]}),
        figures.ca_plot({}),  # missing keys: still a figure
        figures.pa_plot(fpr, 1 - fpr, fpr),
    ]
    for png in outputs:
        pixels = _image(png)
        assert pixels.shape[0] > 300 and 1_000 < len(png) < 200_000


def test_ca_plot_reads_the_threshold_module_shape():
    log_v = np.linspace(0, 2, 12)
    details = {"log10_v": log_v, "log10_area": 3 - log_v,
               "segments": [{"first": 0, "last": 5, "slope": -1.0, "intercept": 3.0},
                            {"log10_v_start": 1.1, "log10_v_end": 2.0, "slope": -1.0, "intercept": 3.0}],
               "break_log10_v": [1.05]}
    assert figures._segment_line(details["segments"][0], log_v) == (0.0, float(log_v[5]), -1.0, 3.0)
    assert figures._segment_line({"slope": 1}, log_v) is None
    assert _image(figures.ca_plot(details)).shape[0] > 300
