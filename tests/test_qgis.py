"""QGIS-ready outputs: QML styles, styles stored in GeoPackages, layer titles, file permissions."""

import os
import sqlite3
import stat
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

from geoanomaly.export import qgis
from geoanomaly.export.atomic import OutputStaging, atomic_write_text
from geoanomaly.export.palette import class_colours

NAMES = ["background", ">= p90", ">= p95", ">= p99"]
THRESHOLDS = [0.5, 0.8, 0.95]


def _parse(qml: str) -> ET.Element:
    assert qml.startswith("<!DOCTYPE qgis")
    return ET.fromstring(qml)  # raises on malformed or unescaped XML


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    return ",".join(str(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5)) + f",{alpha}"


def _discrete_colour(items, value):
    """What QGIS's DISCRETE ramp draws for ``value``: the first item whose value is >= it."""
    for item in items:
        if value <= float(item.get("value")):
            return item.get("color")
    return None  # above the last item: not drawn


def test_score_raster_qml_classes_at_thresholds():
    qml = qgis.score_raster_qml(THRESHOLDS, NAMES, 0.0, 1.0)
    assert "&gt;= p90" in qml and ">= p90" not in qml  # escaped, not raw
    root = _parse(qml)
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor" and renderer.get("band") == "1"
    assert renderer.get("nodataColor") == ""  # no data transparent
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "DISCRETE"
    items = shader.findall("item")
    assert [i.get("label") for i in items] == NAMES
    assert [i.get("color") for i in items] == class_colours(4)
    assert items[-1].get("value") == "inf"
    # each score gets the colour of its class, a score equal to a threshold the class above
    colours = class_colours(4)
    for score, cls in ((0.1, 0), (0.4999, 0), (0.5, 1), (0.79, 1), (0.8, 2), (0.95, 3),
                       (7.0, 3), (-3.0, 0)):
        assert _discrete_colour(items, score) == colours[cls], score


def test_score_raster_qml_refuses_mismatched_names():
    with pytest.raises(ValueError, match="class names"):
        qgis.score_raster_qml(THRESHOLDS, NAMES[:3], 0, 1)
    with pytest.raises(ValueError, match="ascending"):
        qgis.score_raster_qml([0.9, 0.5, 0.95], NAMES, 0, 1)


def test_class_raster_qml_palette():
    root = _parse(qgis.class_raster_qml(NAMES))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [e.get("value") for e in entries] == ["0", "1", "2", "3"]
    assert [e.get("color") for e in entries] == class_colours(4)
    assert [e.get("label") for e in entries] == NAMES


def test_uncertainty_raster_qml_ramp():
    root = _parse(qgis.uncertainty_raster_qml(2.0, 12.0))
    shader = root.find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert shader.get("colorRampType") == "INTERPOLATED"
    items = shader.findall("item")
    values = [float(i.get("value")) for i in items]
    assert values[0] == 2.0 and values[-1] == 12.0 and values == sorted(values)
    # YlOrRd: pale yellow to dark red, ever darker
    lightness = [sum(int(i.get("color")[k:k + 2], 16) for k in (1, 3, 5)) for i in items]
    assert lightness == sorted(lightness, reverse=True)
    assert [i.get("color") for i in items] == qgis.uncertainty_colours()


@pytest.mark.parametrize("make, kind", [(qgis.points_qml, "marker"), (qgis.targets_qml, "fill")])
def test_vector_qml_categories(make, kind):
    root = _parse(make(NAMES))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "class"
    categories = renderer.findall("categories/category")
    assert [c.get("value") for c in categories] == ["0", "1", "2", "3"]
    assert [c.get("label") for c in categories] == NAMES
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    alpha = 255 if kind == "marker" else qgis.TARGET_FILL_ALPHA
    for category, colour in zip(categories, class_colours(4)):
        symbol = symbols[category.get("symbol")]
        assert symbol.get("type") == kind
        props = {o.get("name"): o.get("value") for o in symbol.findall("layer/Option/Option")}
        assert props["color"] == _rgba(colour, alpha)


def test_points_qml_background_small_higher_classes_larger():
    root = _parse(qgis.points_qml(NAMES))
    sizes = [float(o.get("value")) for o in root.findall(
        "renderer-v2/symbols/symbol/layer/Option/Option[@name='size']")]
    assert sizes[0] < sizes[1] < sizes[2] < sizes[3]
    passes = [int(layer.get("pass")) for layer in root.findall("renderer-v2/symbols/symbol/layer")]
    assert passes == [0, 1, 2, 3]  # higher classes drawn on top
    assert root.find("layerGeometryType").text == "0"


def test_targets_qml_labels_and_outline():
    root = _parse(qgis.targets_qml(NAMES))
    assert root.get("labelsEnabled") == "1"
    style = root.find("labeling/settings/text-style")
    assert style.get("isExpression") == "1"
    assert '"target_id"' in style.get("fieldName") and '"rank"' in style.get("fieldName")
    outline = root.find("renderer-v2/symbols/symbol/layer/Option/Option[@name='outline_color']")
    assert outline.get("value") == "0,0,0,255"
    assert root.find("layerGeometryType").text == "2"


def _points_gpkg(path, crs="EPSG:32750"):
    from geoanomaly.export.writers import write_points_gpkg

    cls = np.array([0, 0, 1, 2, 3, 0])
    names = np.asarray(NAMES, dtype=object)[cls]
    return write_points_gpkg(path, 500_000 + 100.0 * np.arange(6), 7_000_000 + 50.0 * np.arange(6),
                             crs, {"score": np.linspace(0, 1, 6), "class": cls,
                                   "class_name": names},
                             **qgis.layer_text("anomalies.gpkg"))


def test_gpkg_style_is_default_and_layer_still_reads(tmp_path):
    import pyogrio

    path = _points_gpkg(tmp_path / "anomalies.gpkg")
    before = pyogrio.read_dataframe(path, layer="anomalies")
    qml = qgis.points_qml(NAMES)
    first = qgis.store_gpkg_style(path, "anomalies", "<qgis/>", style_name="old")
    row = qgis.store_gpkg_style(path, "anomalies", qml, style_name="anomalies")
    assert qgis.store_gpkg_style(path, "anomalies", qml, style_name="anomalies") == row  # replaced
    layers = {name: geom for name, geom in pyogrio.list_layers(path)}
    assert [n for n, g in layers.items() if g is not None] == ["anomalies"]  # the only spatial one
    assert layers["layer_styles"] is None
    after = pyogrio.read_dataframe(path, layer="anomalies")
    assert after.equals(before)
    styles = pyogrio.read_dataframe(path, layer="layer_styles")
    assert list(styles["useAsDefault"]) == [False, True]  # the new default unset the old one
    default = styles[styles["useAsDefault"]].iloc[0]
    assert default["styleQML"] == qml and default["f_table_name"] == "anomalies"
    geometry = pyogrio.read_info(path, layer="anomalies")["geometry_name"]
    assert default["f_geometry_column"] == geometry
    info = pyogrio.read_info(path, layer="layer_styles")
    types = dict(zip(info["fields"], info["ogr_subtypes"]))
    assert types["useAsDefault"] == "OFSTBoolean" and info["features"] == 2
    with sqlite3.connect(path) as con:
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents"))
        counts = dict(con.execute("SELECT table_name, feature_count FROM gpkg_ogr_contents"))
        meta = con.execute("SELECT identifier, description FROM gpkg_contents "
                           "WHERE table_name = 'anomalies'").fetchone()
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert contents == {"anomalies": "features", "layer_styles": "attributes"}
    assert counts["layer_styles"] == 2 and first != row
    assert meta == (qgis.LAYERS["anomalies.gpkg"][1], qgis.LAYERS["anomalies.gpkg"][2])


def test_gpkg_style_refuses_unknown_layer(tmp_path):
    path = _points_gpkg(tmp_path / "a.gpkg")
    with pytest.raises(ValueError, match="no layer 'targets'"):
        qgis.store_gpkg_style(path, "targets", "<qgis/>")


def test_write_styles_sidecars(tmp_path):
    import pyogrio
    from affine import Affine

    from geoanomaly.export.writers import write_class_geotiff, write_grid_geotiff
    from geoanomaly.survey import Grid

    valid = np.ones((4, 5), dtype=bool)
    valid[0, 0] = False
    grid = Grid(transform=Affine(100, 0, 500_000, 0, -100, 7_000_400), width=5, height=4,
                crs=None, valid=valid)
    scores = np.linspace(0.0, 1.0, valid.sum())
    write_grid_geotiff(tmp_path / "anomaly.tif", grid, scores,
                       tags=qgis.geotiff_tags("anomaly.tif"))
    write_class_geotiff(tmp_path / "classes.tif", grid,
                        np.searchsorted(THRESHOLDS, scores, "right"), class_names=NAMES)
    write_grid_geotiff(tmp_path / "uncertainty.tif", grid, 0.1 + scores / 10)
    _points_gpkg(tmp_path / "anomalies.gpkg")
    result = SimpleNamespace(thresholds=THRESHOLDS, class_names=NAMES)
    written = qgis.write_styles(tmp_path, result)
    assert sorted(p.name for p in written) == ["anomalies.qml", "anomaly.qml", "classes.qml",
                                                "uncertainty.qml"]
    anomaly = _parse((tmp_path / "anomaly.qml").read_text())
    assert anomaly.find("pipe/rasterrenderer").get("classificationMin") == "0"  # read from file
    assert float(anomaly.find("pipe/rasterrenderer").get("classificationMax")) == 1.0
    styles = pyogrio.read_dataframe(tmp_path / "anomalies.gpkg", layer="layer_styles")
    assert list(styles["styleQML"]) == [(tmp_path / "anomalies.qml").read_text()]
    import rasterio

    with rasterio.open(tmp_path / "anomaly.tif") as src:
        tags = src.tags()
    assert tags["TIFFTAG_DOCUMENTNAME"] == "Anomaly score"
    assert tags["TIFFTAG_IMAGEDESCRIPTION"].startswith("Anomaly score: ")


def test_layer_text_names_every_output():
    assert qgis.layer_text("targets.gpkg", "Interpolated.")["description"].endswith("Interpolated.")
    with pytest.raises(ValueError, match="no layer description"):
        qgis.geotiff_tags("other.tif")


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                        (0o077, 0o600, 0o700)])
def test_published_outputs_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    import tempfile

    umask(mask)
    out = tmp_path / "out"
    with OutputStaging(out) as staging:
        staging.path("scores.csv").write_text("x")
        fd, private = tempfile.mkstemp(dir=staging.path("model/a").parent)  # made 0600
        os.close(fd)
        os.replace(private, staging.path("model/weights.bin"))
        atomic_write_text(staging.path("report.html"), "<html>")
    for name in ("scores.csv", "model/weights.bin", "report.html"):
        assert _mode(out / name) == file_mode, name
    assert _mode(out / "model") == dir_mode
    written = atomic_write_text(tmp_path / "new" / "config.yaml", "a: 1\n")
    assert _mode(written) == file_mode and _mode(written.parent) == dir_mode


def test_more_classes_than_the_palette_holds_blend_its_colours_for_maps_and_styles():
    colours = class_colours(8)
    assert len(set(colours)) == 8 and colours[0] == class_colours(2)[0]
    assert colours[1] == "#fdae61" and colours[-1] == "#67001f"  # the palette's two ends
    names = ["background"] + [f">= p{p}" for p in (50, 60, 70, 80, 90, 95, 99)]
    root = ET.fromstring(qgis.score_raster_qml([50, 60, 70, 80, 90, 95, 99], names, 0, 1))
    assert [i.get("color") for i in root.iter("item")] == colours
