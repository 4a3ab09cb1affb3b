"""The report reads map first: section order, headline, targets table, and the new figures."""

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from pyproj import CRS

from geoanomaly.export import figures
from geoanomaly.export.palette import DEPOSIT_COLOUR, class_colours
from geoanomaly.export.report import MAX_TARGET_ROWS, ReportContext, render_report
from geoanomaly.survey import Grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ORDER = ["At a glance", "Targets", "Validation", "Score map", "Score distribution and thresholds",
         "Input elements", "Run summary", "Cleaning", "Reader notes", "Warnings", "Configuration"]


def _targets(n):
    rng = np.random.default_rng(1)
    ranks = rng.permutation(np.arange(1, n + 1))  # given out of order: the report sorts
    return [{"rank": int(r), "target_id": f"T{r:03d}", "class_name": ">= p99" if r < 4 else ">= p90",
             "area_km2": 0.25 * r, "n_samples": 3 * r, "peak_score": 1.0 - r / 100,
             "mean_score": 0.9 - r / 100, "top_elements": "Cu, Zn",
             "distance_to_deposit_m": 0.0 if r == 1 else 1500.0 * r} for r in ranks]


def _context(**overrides):
    base = dict(
        title="layout test", n_samples=1000, is_grid=True, model="vae", threshold_method="percentile",
        overview_png=TINY_PNG, signature_png=TINY_PNG, elements_png=TINY_PNG, score_map_png=TINY_PNG,
        histogram_png=TINY_PNG, roc_png=TINY_PNG, success_rate_png=TINY_PNG, pa_png=TINY_PNG,
        ca_png=TINY_PNG, n_deposits=14,
        metrics=[{"protocol": "samples", "auc": 0.9123, "ci": (0.834, 0.967)}],
        headline={"auc": 0.9123, "ci": (0.834, 0.967), "protocol": "samples", "n_deposits": 14,
                  "threshold_method": "percentile", "thresholds": {">= p90": 0.81, ">= p99": 0.9512},
                  "n_targets": 5},
        targets=_targets(5), class_counts={"background": 900, ">= p90": 100},
        cleaning_notes=["nothing"], reader_notes=["read x"], warnings=["w1", "w2"],
        config_yaml="model: vae\n")
    base.update(overrides)
    return ReportContext(**base)


def _heading_positions(text):
    return {m.group(1): m.start() for m in re.finditer(r'<h2 id="[^"]+">([^<]+)</h2>', text)}


def test_sections_come_map_first_in_the_agreed_order():
    text = render_report(_context())
    found = _heading_positions(text)
    positions = [found[h] for h in ORDER]
    assert positions == sorted(positions)
    # At a glance is the first section after the title (the contents line sits between them)
    assert min(found.values()) == found["At a glance"] > text.index("<h1>")
    # every link of the table of contents lands on a section
    toc = re.search(r'<nav class="toc">(.*?)</nav>', text).group(1)
    links = re.findall(r'href="#([^"]+)"', toc)
    assert len(links) == len(found) and all(f'id="{a}"' in text for a in links)
    # the P-A plot moved to the thresholds, next to the C-A plot
    thresholds = text[found["Score distribution and thresholds"]:found["Input elements"]]
    assert thresholds.count("data:image/png") == 3 and "Prediction-area" in thresholds
    assert "@media print" in text and "break-inside: avoid" in text


def test_old_callers_still_get_a_report_without_the_new_parts():
    text = render_report(ReportContext())
    found = _heading_positions(text)
    assert "Input elements" not in found and "At a glance" in found
    assert "No targets delineated" in text and "Not validated: no deposits given" in text
    assert text.count("data:image/png") == 0


def test_headline_shows_auc_interval_protocol_thresholds_targets_warnings():
    text = render_report(_context())
    assert "ROC AUC 0.91 (0.83-0.97), protocol samples, 14 deposits" in text
    assert "percentile: &gt;= p90 0.81, &gt;= p99 0.9512" in text
    assert "5 ranked targets" in text
    assert "2 warnings</a>" in text


def test_headline_is_derived_from_metrics_when_not_given():
    metrics = {"protocols": {"opengad": {"roc_auc": 0.70},
                             "samples": {"roc_auc": 0.8765, "roc_auc_ci": [0.8, 0.93]}}}
    text = render_report(ReportContext(metrics=metrics, n_deposits=1, threshold_method="mad",
                                       class_lower_bounds={"background": float("-inf"),
                                                           ">= 2 MAD": 1.5}))
    assert "ROC AUC 0.88 (0.80-0.93), protocol samples, 1 deposit<" in text  # not opengad's 0.70
    assert "mad: &gt;= 2 MAD 1.5" in text
    several = render_report(ReportContext(metrics=[{"model": "a", "protocol": "samples", "auc": 0.9},
                                                   {"model": "b", "protocol": "samples", "auc": 0.6}]))
    assert "ROC AUC per model: see Validation" in several and "ROC AUC 0.90" not in several


def _target_rows(text):
    table = re.search(r'<table class="targets">(.*?)</table>', text).group(1)
    return re.findall(r'<tr><td class="num">([\d,]+)</td><td>([^<]*)</td>', table)


def test_targets_table_is_ranked_and_capped():
    text = render_report(_context(targets=_targets(MAX_TARGET_ROWS + 5), n_targets_total=40))
    rows = _target_rows(text)
    assert [int(r) for r, _ in rows] == list(range(1, MAX_TARGET_ROWS + 1))
    assert rows[0][1] == "T001"
    assert "10 more in targets.gpkg" in text
    # a deposit inside the target reads as such; distances in metres with separators
    assert "0 (inside)" in text and "3,000" in text
    short = render_report(_context(targets=_targets(3), n_targets_total=None))
    assert [int(r) for r, _ in _target_rows(short)] == [1, 2, 3]
    assert "more in targets.gpkg" not in short
    assert "No anomaly class formed a target" in render_report(_context(targets=[]))


def test_user_text_in_targets_and_headline_is_escaped():
    targets = _targets(2)
    targets[0]["top_elements"] = ["<Cu>", "Zn&Pb"]
    targets[1]["class_name"] = "<script>x</script>"
    text = render_report(_context(targets=targets, headline={"note": "<b>bold</b>"}))
    assert "&lt;Cu&gt;, Zn&amp;Pb" in text and "<Cu>" not in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script" not in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


# ---------------------------------------------------------------- figures

def _image(png: bytes) -> np.ndarray:
    from PIL import Image

    assert png.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _count_colour(pixels, hex_colour, tol=6) -> int:
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return int((np.abs(pixels - rgb).max(axis=2) <= tol).sum())


@pytest.fixture
def grid():
    from rasterio.transform import from_origin

    valid = np.ones((40, 50), dtype=bool)
    valid[:4, :4] = False
    return Grid(from_origin(500000, 4000000, 1000, 1000), 50, 40, CRS.from_epsg(32645), valid)


def _grid_classes(grid):
    """Class 2 in a 6 x 6 block, class 1 in the ring of 2 cells around it, 0 elsewhere."""
    image = np.zeros((grid.height, grid.width))
    image[10:20, 20:30] = 1
    image[12:18, 22:28] = 2
    return grid.from_image(image)


def _square_targets(crs="EPSG:32645"):
    import geopandas as gpd
    from shapely.geometry import box

    x0, y0 = 500000, 4000000
    outer = box(x0 + 20000, y0 - 20000, x0 + 30000, y0 - 10000)
    inner = box(x0 + 22000, y0 - 18000, x0 + 28000, y0 - 12000)
    return gpd.GeoDataFrame({"rank": [2, 1], "class": [1, 2]}, geometry=[outer, inner], crs=crs)


def test_overview_map_grid_draws_palette_classes_targets_and_deposits(grid):
    import geopandas as gpd

    classes = _grid_classes(grid)
    names = ["background", ">= p90", ">= p99"]
    deposits = ([525000.0], [3985000.0])
    with_targets = figures.overview_map(grid=grid, classes=classes, class_names=names,
                                        targets=_square_targets(), deposits=deposits)
    empty = figures.overview_map(grid=grid, classes=classes, class_names=names,
                                 targets=gpd.GeoDataFrame({"rank": [], "class": []}, geometry=[]),
                                 deposits=deposits)
    none = figures.overview_map(grid=grid, classes=classes, class_names=names)
    for png in (with_targets, empty, none):
        assert png.startswith(PNG_MAGIC) and len(png) < 300_000
    plain = _image(none)
    colours = class_colours(3)
    assert _count_colour(plain, colours[0]) > 10_000  # background grey fills most of the map
    assert _count_colour(plain, colours[2]) > 500  # the class-2 block in the palette's dark red
    assert _count_colour(plain, "#fde725", tol=20) == 0  # no viridis yellow: not a score map
    assert _count_colour(plain, DEPOSIT_COLOUR, tol=10) == 0
    assert _count_colour(_image(empty), DEPOSIT_COLOUR, tol=10) > 20
    # the targets add black outlines and their rank numbers
    black = lambda p: int((p.max(axis=2) < 40).sum())  # noqa: E731
    assert black(_image(with_targets)) > black(_image(empty)) + 100


def test_overview_map_points_classes_from_thresholds():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 20000, 400), rng.uniform(0, 20000, 400)
    score = x / 20000
    from geoanomaly.grid import idw_grid

    background = idw_grid(x, y, score, crs="EPSG:32750")
    targets = _square_targets("EPSG:32750")
    targets["geometry"] = targets.geometry.translate(-500000 - 10000, -4000000 + 25000)
    for t in (targets, targets.iloc[:0], None):
        png = figures.overview_map(score, x=x, y=y, thresholds=[0.9, 0.5], background=background,
                                   targets=t, deposits=([1000.0], [1000.0]), crs="EPSG:32750")
        assert png.startswith(PNG_MAGIC)
    pixels = _image(png)
    # thresholds are sorted: scores above 0.9 are class 2, drawn in the palette's darkest red
    assert _count_colour(pixels, class_colours(3)[2]) > 50
    with pytest.raises(ValueError):
        figures.overview_map(score, x=x, y=y)  # neither classes nor thresholds


def test_target_labels_of_nested_targets_do_not_coincide():
    targets = _square_targets()
    labels = dict((text, xy) for xy, text in figures._label_points(
        list(targets.geometry), np.array([1.0, 2.0]), [2, 1], min_gap=500.0))
    outer, inner = targets.geometry
    from shapely.geometry import Point

    assert inner.contains(Point(labels["1"]))
    assert outer.contains(Point(labels["2"])) and not inner.contains(Point(labels["2"]))


def test_numbers_of_targets_with_one_outline_are_written_together_on_it():
    from shapely.geometry import Point, box

    same = [box(0, 0, 10, 10), box(0, 0, 10, 10), box(100, 100, 101, 101)]
    labels = figures._label_points(same, np.array([2.0, 1.0, 1.0]), [3, 8, 5], min_gap=5.0)
    texts = {text: xy for xy, text in labels}
    assert set(texts) == {"3, 8", "5"}
    assert same[0].contains(Point(texts["3, 8"])) and same[2].contains(Point(texts["5"]))


def test_geometry_path_keeps_holes():
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch
    from shapely.geometry import Polygon

    # the hole listed clockwise and counter-clockwise: both must stay empty when filled
    for hole in ([(3, 3), (7, 3), (7, 7), (3, 7)], [(3, 3), (3, 7), (7, 7), (7, 3)]):
        ring = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [hole])
        fig = Figure(figsize=(1, 1), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        ax.axis("off")
        ax.add_patch(PathPatch(figures._geometry_path(ring), facecolor="black", edgecolor="none"))
        pixels = _image(figures._png_bytes(fig))
        assert pixels[50, 50].tolist() == [255, 255, 255]  # the hole
        assert pixels[5, 5].tolist() == [0, 0, 0]  # the ring
    assert figures._geometry_path(Polygon()) is None


def test_target_signatures_png_and_element_order():
    signature = pd.DataFrame({"Zn": [0.5, 0.2, 1.0], "Cu<": [4.0, 3.0, np.nan], "Pb": [-1, -2, -1.5]},
                             index=["T001", "T002", "T003"])
    assert figures.target_signatures(signature, top=2).startswith(PNG_MAGIC)
    assert figures.target_signatures(signature.iloc[:0]).startswith(PNG_MAGIC)
    assert figures.target_signatures(None).startswith(PNG_MAGIC)
    # more targets drawn = a taller figure (one panel each)
    one = _image(figures.target_signatures(signature, top=1))
    three = _image(figures.target_signatures(signature, top=3))
    assert three.shape[0] > one.shape[0] + 100


def test_stretch_and_block_mean_known_values():
    stretched, log = figures._stretch(np.r_[np.logspace(0, 4, 101), np.nan])
    assert log and np.isnan(stretched[-1])
    # log10 values 0..4 evenly spaced: the 2nd-98th percentiles are 0.08 and 3.92
    np.testing.assert_allclose(stretched[50], 0.5, atol=1e-9)
    assert stretched[0] == 0.0 and stretched[100] == 1.0
    linear, log = figures._stretch([-1.0, 0.0, 1.0])
    assert not log and linear[1] == pytest.approx(0.5)
    image = np.arange(16, dtype=float).reshape(4, 4)
    image[0, 0] = np.nan
    reduced = figures._block_mean(image, 2)
    np.testing.assert_allclose(reduced, [[(1 + 4 + 5) / 3, (2 + 3 + 6 + 7) / 4],
                                         [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]])


def test_element_small_multiples_grid_and_points_stay_small(grid):
    rng = np.random.default_rng(0)
    n = int(grid.valid.sum())
    values = pd.DataFrame(np.exp(rng.normal(size=(n, 39))), columns=[f"E{i}" for i in range(39)])
    all_panels = figures.element_small_multiples(values, grid=grid, max_panels=39)
    assert all_panels.startswith(PNG_MAGIC) and len(all_panels) < 400_000
    capped = figures.element_small_multiples(values, grid=grid)  # default: 24 panels
    assert _image(capped).shape[0] < _image(all_panels).shape[0]
    x, y = rng.uniform(0, 30000, 1500), rng.uniform(0, 20000, 1500)
    points = pd.DataFrame(np.exp(rng.normal(size=(1500, 39))), columns=values.columns)
    png = figures.element_small_multiples(points, x=x, y=y, max_panels=39)
    assert png.startswith(PNG_MAGIC) and len(png) < 400_000
    # a palette PNG keeps black text black and white paper white
    pixels = _image(png)
    assert pixels[2, 2].tolist() == [255, 255, 255] and (pixels.max(axis=2) == 0).any()
