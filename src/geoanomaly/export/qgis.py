"""QGIS-ready outputs: layer styles (QML), styles stored inside GeoPackages, layer titles.

A run's folder opened in QGIS should look like the report: the anomaly classes in the palette
of :mod:`geoanomaly.export.palette`, named as in the report, no data transparent. QGIS loads a
sidecar style of the same base name when it opens a file (``anomaly.qml`` beside
``anomaly.tif``), and for a GeoPackage layer the default style in the file's ``layer_styles``
table, so a GeoPackage mailed on its own keeps its look.

The QML is the XML QGIS 3.x writes, kept to the elements QGIS 3.22 and later read (checked
against QGIS's own readers: ``QgsColorRampShader``, ``QgsPalettedRasterRenderer``,
``QgsCategorizedSymbolRenderer``, ``QgsPalLayerSettings``). Two of its rules matter here:

- a DISCRETE colour ramp gives a value the colour of the first item whose value is >= it, and
  draws nothing above the last item; so each class's item sits just below the next threshold
  (the largest double below it: a score equal to a threshold is in the class above, as in
  ``threshold.classify``) and the top class ends at ``inf``;
- category values are compared as text, so integer classes are written as ``type="long"``.

The ``layer_styles`` table has the columns and SQL types GDAL gives the table QGIS creates
(``QgsOgrProviderMetadata::saveStyle``); like GDAL, it is registered in ``gpkg_contents`` as an
attributes table (no geometry: GDAL lists it as a layer without geometry type, never as a
spatial layer) and counted in ``gpkg_ogr_contents`` with GDAL's triggers.
"""

from __future__ import annotations

import math
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from .palette import TARGET_OUTLINE, class_colours

#: the QGIS version whose style format is written (the oldest the styles are meant for)
QGIS_VERSION = "3.22.0"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
#: stops of the uncertainty ramp (sampled from the report's UNCERTAINTY_CMAP)
UNCERTAINTY_STOPS = 5
#: marker diameters (mm): background points small, each anomaly class larger than the last
BACKGROUND_SIZE = 1.2
ANOMALY_SIZE = 2.2
SIZE_STEP = 0.7
#: target polygons: fill opacity (0-255) and outline width (mm)
TARGET_FILL_ALPHA = 140
TARGET_OUTLINE_WIDTH = 0.5

#: what each output layer holds: file -> (layer name, title, description)
LAYERS = {
    "anomaly.tif": ("anomaly", "Anomaly score",
                    "Anomaly score per cell, higher = more anomalous; -9999 = no data. Styled "
                    "in the anomaly classes of the report (anomaly.qml)."),
    "classes.tif": ("classes", "Anomaly classes",
                    "Anomaly class per cell: 0 = background, 1 and up = the classes above each "
                    "threshold (names in the CLASS_<k> tags); 255 = no data."),
    "uncertainty.tif": ("uncertainty", "Ensemble uncertainty",
                        "Spread (standard deviation) of the ensemble members' percentile ranks "
                        "per cell: higher = the members disagree more; -9999 = no data."),
    "anomalies.gpkg": ("anomalies", "Anomaly scores of the samples",
                       "One point per sample: score (higher = more anomalous), class (0 = "
                       "background) and class_name, top_elements (the elements behind the "
                       "score), the element values and the sample id."),
    "targets.gpkg": ("targets", "Ranked exploration targets",
                     "One polygon per target: target_id, rank (1 = best), class, area_km2, "
                     "peak_score, top_elements and the distance to the nearest known deposit."),
}


# ---------------------------------------------------------------- layer titles and descriptions

def layer_text(file_name: str, detail: str = "") -> dict[str, str]:
    """``{"identifier": title, "description": what it holds}`` of an output file (a name of
    :data:`LAYERS`), ``detail`` appended (e.g. "Interpolated (IDW) from the samples."): the
    keywords of ``writers.write_points_gpkg`` for a GeoPackage layer."""
    _, title, description = _layer(file_name)
    return {"identifier": title, "description": _join(description, detail)}


def geotiff_tags(file_name: str, detail: str = "") -> dict[str, str]:
    """TIFF tags naming a GeoTIFF output (merge them into the ``tags`` of the GeoTIFF writers):
    GDAL writes these two as the TIFF's own DocumentName / ImageDescription, which QGIS and
    ``gdalinfo`` show with the layer."""
    _, title, description = _layer(file_name)
    return {"TIFFTAG_DOCUMENTNAME": title,
            "TIFFTAG_IMAGEDESCRIPTION": _join(f"{title}: {description}", detail)}


def _layer(file_name: str) -> tuple[str, str, str]:
    try:
        return LAYERS[Path(file_name).name]
    except KeyError:
        raise ValueError(f"no layer description for {file_name!r}; known: "
                         f"{', '.join(LAYERS)}") from None


def _join(text: str, detail: str) -> str:
    return f"{text} {detail.strip()}" if detail and detail.strip() else text


# ---------------------------------------------------------------- raster styles

def score_raster_qml(thresholds: Sequence[float], class_names: Sequence[str], vmin: float,
                     vmax: float) -> str:
    """Style of ``anomaly.tif``: band 1 in discrete classes at ``thresholds`` (ascending), in
    the palette colours, labelled with ``class_names`` (background first, one more than the
    thresholds); ``vmin`` / ``vmax``: the score range QGIS shows. No data stays transparent."""
    thresholds = [float(t) for t in thresholds]
    names = [str(n) for n in class_names]
    if len(names) != len(thresholds) + 1:
        raise ValueError(f"{len(thresholds)} thresholds need {len(thresholds) + 1} class names, "
                         f"got {len(names)}")
    if any(not math.isfinite(t) for t in thresholds) or thresholds != sorted(thresholds):
        raise ValueError("thresholds must be finite and ascending")
    vmin, vmax = _range(vmin, vmax)
    colours = class_colours(len(names))
    # class k is [t_k, t_k+1): its item is the largest double below t_k+1 (see module doc)
    uppers = [math.nextafter(t, -math.inf) for t in thresholds] + [math.inf]
    return _pseudocolour("DISCRETE", vmin, vmax, zip(uppers, colours, names))


def class_raster_qml(class_names: Sequence[str]) -> str:
    """Style of ``classes.tif``: one palette entry per class value (0 = background), in the
    palette colours and labelled with the class names; 255 (no data) stays transparent."""
    names = [str(n) for n in class_names]
    if not names:
        raise ValueError("no class names")
    root = _root("Symbology")
    renderer = _raster_renderer(root, "paletted")
    palette = ET.SubElement(renderer, "colorPalette")
    for value, (colour, name) in enumerate(zip(class_colours(len(names)), names)):
        ET.SubElement(palette, "paletteEntry", {"value": str(value), "color": colour,
                                                "alpha": "255", "label": name})
    _raster_tail(root)
    return _text(root)


def uncertainty_raster_qml(vmin: float, vmax: float) -> str:
    """Style of ``uncertainty.tif``: a continuous ramp from ``vmin`` to ``vmax`` in the colours
    of the report's uncertainty map (YlOrRd: pale = members agree, dark red = they disagree);
    values beyond the range take the end colours, no data stays transparent."""
    vmin, vmax = _range(vmin, vmax)
    colours = uncertainty_colours()
    values = [vmin + (vmax - vmin) * k / (len(colours) - 1) for k in range(len(colours))]
    return _pseudocolour("INTERPOLATED", vmin, vmax,
                         ((v, c, f"{v:.4g}") for v, c in zip(values, colours)))


def _pseudocolour(ramp_type: str, vmin: float, vmax: float, items) -> str:
    """A single-band pseudocolour style of band 1: ``items`` are (value, colour, label) of a
    DISCRETE (each value the top of its class) or INTERPOLATED colour ramp."""
    root = _root("Symbology")
    renderer = _raster_renderer(root, "singlebandpseudocolor", classificationMin=_num(vmin),
                                classificationMax=_num(vmax))
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader", {
        "colorRampType": ramp_type, "classificationMode": "1", "clip": "0",
        "minimumValue": _num(vmin), "maximumValue": _num(vmax), "labelPrecision": "4"})
    for value, colour, label in items:
        ET.SubElement(shader, "item", {"value": _num(value), "color": colour, "alpha": "255",
                                       "label": label})
    _raster_tail(root)
    return _text(root)


def uncertainty_colours() -> list[str]:
    """The uncertainty ramp's stops as "#rrggbb", sampled from the colormap of the report's
    uncertainty map, so QGIS and the report agree."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from .figures import UNCERTAINTY_CMAP

    cmap = colormaps[UNCERTAINTY_CMAP]
    return [to_hex(cmap(k / (UNCERTAINTY_STOPS - 1))) for k in range(UNCERTAINTY_STOPS)]


def _raster_renderer(root: ET.Element, kind: str, **attrs: str) -> ET.Element:
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", {
        "type": kind, "band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": "", **attrs})
    ET.SubElement(renderer, "rasterTransparency")
    origin = ET.SubElement(renderer, "minMaxOrigin")
    for tag, value in (("limits", "None"), ("extent", "WholeRaster"),
                       ("statAccuracy", "Estimated"), ("cumulativeCutLower", "0.02"),
                       ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        ET.SubElement(origin, tag).text = value
    return renderer


def _raster_tail(root: ET.Element) -> None:
    pipe = root.find("pipe")
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(pipe, "huesaturation", {
        "saturation": "0", "grayscaleMode": "0", "invertColors": "0", "colorizeOn": "0",
        "colorizeRed": "255", "colorizeGreen": "128", "colorizeBlue": "128",
        "colorizeStrength": "100"})
    # no zoomed-in / out resampler: nearest neighbour, so class edges stay sharp
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"


# ---------------------------------------------------------------- vector styles

def points_qml(class_names: Sequence[str]) -> str:
    """Style of ``anomalies.gpkg``: points categorized on the integer column ``class``, in the
    palette colours labelled with the class names; background points small and grey without
    an outline, each higher class larger and drawn above the lower ones (symbol levels)."""
    names = _names(class_names)
    colours = class_colours(len(names))
    symbols = []
    for k, colour in enumerate(colours):
        if k == 0:
            size, outline, outline_style = BACKGROUND_SIZE, colour, "no"
        else:
            size = ANOMALY_SIZE + SIZE_STEP * (k - 1)
            outline, outline_style = TARGET_OUTLINE, "solid"
        symbols.append(("marker", "SimpleMarker", {
            "angle": "0", "color": _rgba(colour), "horizontal_anchor_point": "1",
            "joinstyle": "bevel", "name": "circle", "offset": "0,0", "offset_unit": "MM",
            "outline_color": _rgba(outline), "outline_style": outline_style,
            "outline_width": "0.2", "outline_width_unit": "MM", "scale_method": "diameter",
            "size": _num(round(size, 3)), "size_unit": "MM", "vertical_anchor_point": "1"}))
    root = _root("Symbology|Labeling", labelsEnabled="0")
    _categorized(root, "class", names, symbols)
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "0"  # points
    return _text(root)


def targets_qml(class_names: Sequence[str]) -> str:
    """Style of ``targets.gpkg``: polygons categorized on ``class``, filled semi-transparent in
    the palette colours with a dark outline, labelled "T003 (#3)" (target_id and rank; the id
    alone where a target has no rank)."""
    names = _names(class_names)
    symbols = [("fill", "SimpleFill", {
        "color": _rgba(colour, TARGET_FILL_ALPHA), "style": "solid", "joinstyle": "bevel",
        "offset": "0,0", "offset_unit": "MM", "outline_color": _rgba(TARGET_OUTLINE),
        "outline_style": "solid", "outline_width": _num(TARGET_OUTLINE_WIDTH),
        "outline_width_unit": "MM"}) for colour in class_colours(len(names))]
    root = _root("Symbology|Labeling", labelsEnabled="1")
    _categorized(root, "class", names, symbols)
    _labels(root, TARGET_LABEL, layer_type="PolygonGeometry")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "2"  # polygons
    return _text(root)


#: QGIS expression of a target's label: "T003 (#3)", or the id alone without a rank
TARGET_LABEL = ("CASE WHEN \"rank\" IS NULL THEN \"target_id\" "
                "ELSE concat(\"target_id\", ' (#', \"rank\", ')') END")


def _names(class_names: Sequence[str]) -> list[str]:
    names = [str(n) for n in class_names]
    if not names:
        raise ValueError("no class names")
    return names


def _categorized(root: ET.Element, field: str, names: list[str], symbols: list) -> None:
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "categorizedSymbol", "attr": field, "symbollevels": "1", "enableorderby": "0",
        "forceraster": "0", "referencescale": "-1"})
    categories = ET.SubElement(renderer, "categories")
    for value, name in enumerate(names):
        ET.SubElement(categories, "category", {"value": str(value), "type": "long",
                                               "symbol": str(value), "label": name,
                                               "render": "true"})
    symbols_elem = ET.SubElement(renderer, "symbols")
    for value, (kind, layer_class, props) in enumerate(symbols):
        symbol = ET.SubElement(symbols_elem, "symbol", {
            "type": kind, "name": str(value), "alpha": "1", "clip_to_extent": "1",
            "force_rhr": "0"})
        # the rendering pass: with symbol levels on, higher classes are drawn last (on top)
        layer = ET.SubElement(symbol, "layer", {"class": layer_class, "pass": str(value),
                                                "enabled": "1", "locked": "0"})
        options = ET.SubElement(layer, "Option", {"type": "Map"})
        for key, text in props.items():
            ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": text})
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")


def _labels(root: ET.Element, expression: str, layer_type: str) -> None:
    settings = ET.SubElement(ET.SubElement(root, "labeling", {"type": "simple"}), "settings",
                             {"calloutType": "simple"})
    style = ET.SubElement(settings, "text-style", {
        "fieldName": expression, "isExpression": "1", "fontSize": "9", "fontSizeUnit": "Point",
        "fontWeight": "75", "fontItalic": "0", "textColor": "0,0,0,255", "textOpacity": "1",
        "blendMode": "0", "multilineHeight": "1", "useSubstitutions": "0"})
    ET.SubElement(style, "text-buffer", {
        "bufferDraw": "1", "bufferSize": "1", "bufferSizeUnits": "MM",
        "bufferColor": "255,255,255,255", "bufferOpacity": "0.8", "bufferNoFill": "1",
        "bufferJoinStyle": "128", "bufferBlendMode": "0"})
    ET.SubElement(settings, "text-format", {"wrapChar": "", "multilineAlign": "0",
                                            "formatNumbers": "0", "plussign": "0"})
    # 1 = "offset from centroid", kept inside the polygon
    ET.SubElement(settings, "placement", {
        "placement": "1", "layerType": layer_type, "centroidInside": "1", "centroidWhole": "0",
        "dist": "0", "xOffset": "0", "yOffset": "0", "priority": "5", "offsetType": "0"})
    ET.SubElement(settings, "rendering", {
        "drawLabels": "1", "obstacle": "1", "scaleVisibility": "0", "upsidedownLabels": "0",
        "labelPerPart": "0", "mergeLines": "0", "limitNumLabels": "0", "displayAll": "0"})


# ---------------------------------------------------------------- shared XML helpers

def _root(categories: str, **attrs: str) -> ET.Element:
    return ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": categories, **attrs})


def _text(root: ET.Element) -> str:
    """The QML text as QGIS writes it: the DOCTYPE line, then the indented XML (ElementTree
    escapes &, <, > and quotes in text and attributes)."""
    ET.indent(root, space="  ")
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def _num(value: float) -> str:
    """A number as QGIS reads it back exactly (shortest round-trip text; "inf")."""
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value) if value != int(value) or abs(value) >= 1e16 else str(int(value))


def _rgba(colour: str, alpha: int = 255) -> str:
    """"#rrggbb" -> QGIS's "r,g,b,a"."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {colour!r} is not #rrggbb")
    r, g, b = (int(text[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{int(alpha)}"


def _range(vmin: float, vmax: float) -> tuple[float, float]:
    vmin, vmax = float(vmin), float(vmax)
    if not (math.isfinite(vmin) and math.isfinite(vmax)):
        raise ValueError(f"the value range must be finite, got {vmin}, {vmax}")
    if vmax <= vmin:  # a constant map: any non-empty range draws it
        vmax = vmin + (abs(vmin) or 1.0) * 1e-6
    return vmin, vmax


# ---------------------------------------------------------------- styles in a GeoPackage

#: the layer_styles table as GDAL creates it for QGIS (field widths as TEXT(n), a boolean, a
#: timestamp defaulting to now in GeoPackage's format)
_LAYER_STYLES_SQL = (
    'CREATE TABLE "layer_styles" ( "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
    '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
    '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT, '
    '"useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30), '
    '"update_time" DATETIME DEFAULT (strftime(\'%Y-%m-%dT%H:%M:%fZ\',\'now\')))')
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


def store_gpkg_style(gpkg: str | os.PathLike, layer: str, qml: str, *,
                     style_name: str | None = None, description: str = "") -> int:
    """Store ``qml`` in ``gpkg``'s ``layer_styles`` table as the default style of ``layer`` (a
    previous default of that layer is unset, a style of the same name replaced), creating and
    registering the table as QGIS (through GDAL) does when it is missing. Returns the row id.

    Plain sqlite3: the file must not be open for writing elsewhere (call it after the layer
    is written, in the staging folder)."""
    path = Path(gpkg)
    if not path.is_file():
        raise FileNotFoundError(f"no GeoPackage {path}")
    name = style_name or layer
    # one explicit transaction: the new table, its registration and the row, or nothing
    with closing(sqlite3.connect(path, isolation_level=None)) as con, con:
        con.execute("BEGIN IMMEDIATE")
        geometry = _geometry_column(con, path, layer)
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'layer_styles'").fetchone():
            _create_layer_styles(con)
        key = (layer, geometry)
        con.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_schema = '' AND "
                    "f_table_name = ? AND f_geometry_column = ? AND useAsDefault", key)
        row = con.execute("SELECT id FROM layer_styles WHERE f_table_schema = '' AND "
                          "f_table_name = ? AND f_geometry_column = ? AND styleName = ?",
                          (*key, name)).fetchone()
        if row is None:
            cur = con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '')",
                (*key, name, qml, description))
            row_id = int(cur.lastrowid)
        else:
            row_id = int(row[0])
            con.execute(f"UPDATE layer_styles SET styleQML = ?, styleSLD = '', useAsDefault = 1, "
                        f"description = ?, update_time = {_NOW} WHERE id = ?",
                        (qml, description, row_id))
        con.execute(f"UPDATE gpkg_contents SET last_change = {_NOW} "
                    "WHERE table_name = 'layer_styles'")
    return row_id


def _geometry_column(con: sqlite3.Connection, path: Path, layer: str) -> str:
    """The layer's geometry column ("" for a table without geometry), refusing a name that is
    not a layer of the GeoPackage."""
    if not con.execute("SELECT 1 FROM gpkg_contents WHERE table_name = ?", (layer,)).fetchone():
        raise ValueError(f"{path} has no layer {layer!r}")
    row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                      (layer,)).fetchone()
    return row[0] if row else ""


def _create_layer_styles(con: sqlite3.Connection) -> None:
    """The table, its gpkg_contents row (an attributes table, as GDAL registers one) and, where
    the file keeps GDAL's feature counts, its count row and the triggers that keep it."""
    con.execute(_LAYER_STYLES_SQL)
    srs = con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys WHERE srs_id = 0").fetchone()
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                f"last_change, srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', '', "
                f"{_NOW}, ?)", (srs[0] if srs else None,))
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                   "name = 'gpkg_ogr_contents'").fetchone():
        con.execute("INSERT OR REPLACE INTO gpkg_ogr_contents (table_name, feature_count) "
                    "VALUES ('layer_styles', 0)")
        for event, sign in (("insert", "+"), ("delete", "-")):
            con.execute(
                f'CREATE TRIGGER "trigger_{event}_feature_count_layer_styles" AFTER '
                f'{event.upper()} ON "layer_styles" BEGIN UPDATE gpkg_ogr_contents SET '
                f"feature_count = feature_count {sign} 1 WHERE lower(table_name) = "
                "lower('layer_styles'); END")


# ---------------------------------------------------------------- a run's folder

def write_styles(folder: str | os.PathLike, thresholds, *,
                 score_range: tuple[float, float] | None = None,
                 uncertainty_range: tuple[float, float] | None = None) -> list[Path]:
    """Style every known output found in ``folder`` (normally the run's staging folder, after
    all layers are written): a sidecar ``<name>.qml`` beside anomaly.tif, classes.tif,
    uncertainty.tif, anomalies.gpkg and targets.gpkg, and for the GeoPackages the same style as
    the layer's default in its ``layer_styles`` table. Returns the .qml files written.

    ``thresholds``: the run's ``ThresholdResult`` (``thresholds``, ``class_names``).
    ``score_range`` / ``uncertainty_range``: (min, max) QGIS shows; read from the rasters when
    None (from an overview-sized read: a streamed map is never read whole)."""
    from .atomic import atomic_write_text

    folder = Path(folder)
    cuts = [float(t) for t in thresholds.thresholds]
    names = [str(n) for n in thresholds.class_names]
    written = []

    def sidecar(file_name: str, qml: str) -> None:
        written.append(atomic_write_text(folder / (Path(file_name).stem + ".qml"), qml))

    if (folder / "anomaly.tif").is_file():
        vmin, vmax = score_range or _raster_range(folder / "anomaly.tif", (0.0, 100.0))
        sidecar("anomaly.tif", score_raster_qml(cuts, names, vmin, vmax))
    if (folder / "classes.tif").is_file():
        sidecar("classes.tif", class_raster_qml(names))
    if (folder / "uncertainty.tif").is_file():
        # the report's uncertainty map stretches to the 99th percentile: so does QGIS
        vmin, vmax = uncertainty_range or _raster_range(folder / "uncertainty.tif", (0.0, 99.0))
        sidecar("uncertainty.tif", uncertainty_raster_qml(vmin, vmax))
    for file_name, style in (("anomalies.gpkg", points_qml), ("targets.gpkg", targets_qml)):
        gpkg = folder / file_name
        if gpkg.is_file():
            qml = style(names)
            sidecar(file_name, qml)
            layer, title, _ = LAYERS[file_name]
            store_gpkg_style(gpkg, _spatial_layer(gpkg, layer), qml, style_name=layer,
                             description=f"geoanomaly: {title}, in the report's classes")
    return written


def _spatial_layer(gpkg: Path, preferred: str) -> str:
    """``preferred`` when the GeoPackage has that feature layer, else its only feature layer."""
    with closing(sqlite3.connect(gpkg)) as con:
        layers = [row[0] for row in con.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
    if preferred in layers:
        return preferred
    if len(layers) == 1:
        return layers[0]
    raise ValueError(f"{gpkg} has no layer {preferred!r} and {len(layers)} other feature layers")


def _raster_range(path: Path, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Percentiles of band 1's valid values, read at most 1024 cells a side (GDAL takes an
    overview when the file has one); (0, 1) when nothing is valid."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        scale = max(1.0, max(src.height, src.width) / 1024)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        band = src.read(1, out_shape=shape, masked=True)
    values = np.asarray(band.compressed(), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, percentiles)
    return float(low), float(high)
