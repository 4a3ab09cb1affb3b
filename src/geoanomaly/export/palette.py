"""The colours of the anomaly classes, in one place: the report's maps and the QGIS styles
(``qgis.py``) use the same ones, so a class looks the same on screen, on paper and in QGIS.

Background is a light grey that recedes; the anomaly classes run from orange to dark red
(ColorBrewer YlOrRd / RdYlBu hues), readable in print and by most colour-blind readers because
they differ in lightness, not only in hue.
"""

from __future__ import annotations

#: background, then the anomaly classes from the lowest threshold up
CLASS_COLOURS = ("#d9d9d9", "#fdae61", "#f46d43", "#d73027", "#a50026", "#67001f")
#: known deposits on every map
DEPOSIT_COLOUR = "#1f78b4"
#: target outlines on light backgrounds
TARGET_OUTLINE = "#000000"


def class_colours(n_classes: int) -> list[str]:
    """``n_classes`` colours (background first). Fewer anomaly classes than the palette holds
    take evenly spaced ones, so the classes stay far apart in lightness; one class is red."""
    if n_classes < 1:
        return []
    anomaly = list(CLASS_COLOURS[1:])
    k = n_classes - 1
    if k > len(anomaly):  # many C-A breaks or percentiles: blend along the same colours
        return [CLASS_COLOURS[0]] + [_blend(anomaly, i / (k - 1)) for i in range(k)]
    if k == 1:
        return [CLASS_COLOURS[0], anomaly[2]]
    picks = [round(i * (len(anomaly) - 1) / (k - 1)) for i in range(k)]
    return [CLASS_COLOURS[0]] + [anomaly[i] for i in picks]


def _blend(colours: list[str], at: float) -> str:
    """The colour at ``at`` (0..1) along ``colours``, linear in RGB between neighbours."""
    position = at * (len(colours) - 1)
    i = min(int(position), len(colours) - 2)
    f = position - i
    a, b = (tuple(int(c[j:j + 2], 16) for j in (1, 3, 5)) for c in colours[i:i + 2])
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))
