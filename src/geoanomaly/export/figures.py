"""Report figures, each returned as PNG bytes (matplotlib, Agg, no pyplot global state).

Figures are built on :class:`matplotlib.figure.Figure` directly rather than through pyplot, so
they never touch a GUI backend, never leak open figures, and are safe to call from anywhere.

Conventions: scores use the perceptually uniform ``viridis`` colormap (high = yellow), with
colour limits at the 1st and 99th percentile of the scores by default so that a few extreme
samples do not wash the map out (the colour bar shows arrows where values are clipped);
known deposits are red stars with a black edge; dpi 110. Two widths only, so the report's
figures line up on screen and in print: ``FULL_WIDTH`` (maps, histograms, panels) and
``HALF_WIDTH`` (curves drawn in pairs). The class maps of the report (:func:`overview_map`)
use the class palette of :mod:`geoanomaly.export.palette`, not viridis, with deposits in the
palette's blue so they stand out from the red anomaly classes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import numpy as np

DPI = 110
#: inches: maps, histograms and panel figures; curves drawn two side by side use HALF_WIDTH
FULL_WIDTH = 7.5
HALF_WIDTH = 5.6
SCORE_CMAP = "viridis"
SCORE_LABEL = "anomaly score (higher = more anomalous)"
#: the uncertainty map of an ensemble (score_std): another colormap, so it is never read as a score
UNCERTAINTY_CMAP = "YlOrRd"
UNCERTAINTY_LABEL = "score_std: spread of the member ranks (higher = less certain)"
DEPOSIT_STYLE = dict(marker="*", s=140, c="red", edgecolors="black", linewidths=0.7, zorder=5)
#: above this many samples a point map is drawn as a raster of the highest score per pixel: a
#: million-dot scatter takes most of a large run's time and its dots overlap into the same
#: picture anyway
MAX_SCATTER_POINTS = 200_000
#: pixels along the longer side of that raster (the map's axes are about 600 pixels wide)
AGGREGATE_PIXELS = 500


def _get(obj, *names, default=None):
    """First of ``names`` present in a mapping (key) or an object (attribute): tolerant inputs."""
    if obj is None:
        return default
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj and obj[name] is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return default


def _new_figure(width: float = 7.0, height: float = 5.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png_bytes(fig, palette=None) -> bytes:
    """PNG bytes of ``fig``. ``palette`` (RGB colours, at most 256) re-encodes it as an 8-bit
    palette PNG, each pixel the nearest palette colour without dithering: many small noisy
    panels then take about a quarter of the bytes. A fixed palette, not an adaptive one, so
    that black text stays black however few pixels it has."""
    buffer = io.BytesIO()
    # No "Software" metadata: smaller files and identical bytes across matplotlib versions.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    if palette is None:
        return buffer.getvalue()
    from PIL import Image

    colours = np.clip(np.round(np.asarray(palette, dtype=float)[:256, :3]), 0, 255)
    rgb = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    # nearest palette colour of each distinct pixel colour (a few thousand), then per pixel
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    distinct, inverse = np.unique(code.ravel(), return_inverse=True)
    pixels = np.stack([(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], axis=1)
    nearest = ((colours ** 2).sum(axis=1)[None, :] - 2.0 * pixels @ colours.T).argmin(axis=1)
    indexed = Image.fromarray(nearest[inverse].reshape(code.shape).astype(np.uint8), mode="P")
    indexed.putpalette(colours.astype(np.uint8).ravel().tolist())
    out = io.BytesIO()
    indexed.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _axis_labels(crs) -> tuple[str, str]:
    """Axis labels with units from the CRS ("Easting (metre)"), or plain x / y when unknown."""
    if crs is None:
        return "x", "y"
    try:
        from pyproj import CRS

        parsed = CRS.from_user_input(crs)
        by_direction = {a.direction.lower(): a for a in parsed.axis_info}
        east, north = by_direction.get("east"), by_direction.get("north")
        if east is None or north is None:
            return "x", "y"
        return f"{east.name} ({east.unit_name})", f"{north.name} ({north.unit_name})"
    except Exception:  # a label must never break a report
        return "x", "y"


def _map_axes(ax, crs, title: str) -> None:
    """Axis labels with units, equal scale, plain coordinates and the title of a map."""
    xlabel, ylabel = _axis_labels(crs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal", adjustable="datalim")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(title)


def _colour_limits(values, clip_percentiles) -> tuple[float, float]:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    if clip_percentiles is None:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = (float(v) for v in np.percentile(finite, clip_percentiles))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _grid_extent(grid) -> tuple[float, float, float, float]:
    t = grid.transform
    left, top = t.c, t.f
    right, bottom = left + grid.width * t.a, top + grid.height * t.e
    return left, right, bottom, top


def _grid_image(grid, values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape == (grid.height, grid.width):
        return values
    return grid.to_image(values)


def _plot_deposits(ax, deposits, label):
    if deposits is None:
        return None
    dx, dy = (np.asarray(v, dtype=float).ravel() for v in deposits)
    if dx.size == 0:
        return None
    return ax.scatter(dx, dy, label=f"{label} ({dx.size})", **DEPOSIT_STYLE)


def aggregate_points(x, y, values, pixels: int = AGGREGATE_PIXELS):
    """(image, extent): the highest value of the points in each square pixel of a raster whose
    longer side has ``pixels`` pixels (NaN where no point falls), and its extent (left, right,
    bottom, top) for ``imshow(origin="upper")``. The highest, not the mean, so that an
    anomalous sample stays visible among its neighbours; points with a NaN value are left out."""
    x, y, values = (np.asarray(v, dtype=float).ravel() for v in (x, y, values))
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(values)
    x, y, values = x[keep], y[keep], values[keep]
    if x.size == 0:
        return np.full((1, 1), np.nan), (0.0, 1.0, 0.0, 1.0)
    left, top = float(x.min()), float(y.max())
    span = max(float(x.max()) - left, top - float(y.min()))
    size = span / pixels if span > 0 else 1.0
    width = max(1, min(pixels, math.ceil((float(x.max()) - left) / size - 1e-9)))
    height = max(1, min(pixels, math.ceil((top - float(y.min())) / size - 1e-9)))
    col = np.minimum(((x - left) / size).astype(np.int64), width - 1)
    row = np.minimum(((top - y) / size).astype(np.int64), height - 1)
    image = np.full(height * width, -np.inf)
    np.maximum.at(image, row * width + col, values)
    image[np.isneginf(image)] = np.nan
    return image.reshape(height, width), (left, left + width * size, top - height * size, top)


def score_map(
    score,
    *,
    grid=None,
    x=None,
    y=None,
    deposits=None,
    classes=None,
    class_names=None,
    background=None,
    crs=None,
    title: str = "Anomaly score",
    deposit_label: str = "known deposits",
    clip_percentiles: tuple[float, float] | None = (1.0, 99.0),
    cmap: str = SCORE_CMAP,
    colorbar_label: str = SCORE_LABEL,
    max_points: int = MAX_SCATTER_POINTS,
) -> bytes:
    """Map of anomaly scores with known deposits; PNG bytes.

    Grid survey: pass ``grid`` (a :class:`geoanomaly.survey.Grid`) and ``score`` per valid cell
    (or a full (height, width) image); ``classes`` (same shape) adds class-boundary contours.
    Point survey: pass ``x``, ``y`` and ``score`` per sample; markers are coloured by score and
    larger for higher ``classes``; ``background=(image, grid)`` (e.g. from
    :func:`geoanomaly.grid.idw_grid`) is drawn underneath and noted as interpolated.
    ``deposits`` is ``(x, y)`` arrays in the same CRS. ``crs`` defaults to ``grid.crs``.
    ``cmap`` / ``colorbar_label`` restyle it for another quantity (the uncertainty map).
    More than ``max_points`` samples are drawn as a raster of the highest score per pixel
    (:func:`aggregate_points`), said in the title, instead of one dot each.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patheffects import withStroke

    fig = _new_figure(FULL_WIDTH, 6.0)
    ax = fig.add_subplot()
    if crs is None and grid is not None:
        crs = grid.crs
    vmin, vmax = _colour_limits(score, clip_percentiles)
    common = dict(cmap=cmap, vmin=vmin, vmax=vmax)
    handles = []

    if grid is not None:
        image = _grid_image(grid, score)
        mappable = ax.imshow(np.ma.masked_invalid(image), extent=_grid_extent(grid), origin="upper",
                             interpolation="nearest", **common)
        if classes is not None:
            class_image = _grid_image(grid, np.asarray(classes, dtype=float))
            levels = np.unique(class_image[np.isfinite(class_image)])
            if levels.size > 1:
                cx = np.linspace(_grid_extent(grid)[0], _grid_extent(grid)[1], grid.width, endpoint=False)
                cx += abs(grid.transform.a) / 2
                cy = grid.transform.f + (np.arange(grid.height) + 0.5) * grid.transform.e
                ax.contour(cx, cy, np.ma.masked_invalid(class_image), levels=levels[1:] - 0.5,
                           colors="white", linewidths=0.8)
                handles.append(Line2D([], [], color="white", lw=1.2, label="class boundaries",
                                      path_effects=[withStroke(linewidth=2.8, foreground="black")]))
    else:
        if x is None or y is None:
            raise ValueError("score_map needs either grid= or x= and y=")
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        score_arr = np.asarray(score, dtype=float)
        if background is not None:
            bg_image, bg_grid = background
            ax.imshow(np.ma.masked_invalid(np.asarray(bg_image, dtype=float)), extent=_grid_extent(bg_grid),
                      origin="upper", interpolation="nearest", alpha=0.55, **common)
        if len(x) > max_points:
            image, extent = aggregate_points(x, y, score_arr)
            mappable = ax.imshow(np.ma.masked_invalid(image), extent=extent, origin="upper",
                                 interpolation="nearest", **common)
            drawn = (f"{len(x):,} samples: highest score per pixel "
                     f"({image.shape[1]} x {image.shape[0]})")
            classes = None  # no dot sizes to show them by
        if classes is not None:
            cls = np.nan_to_num(np.asarray(classes, dtype=float), nan=0.0)
            sizes = 8.0 + 16.0 * np.clip(cls, 0, None)
        else:
            cls, sizes = None, np.full(len(x), 10.0)
        if len(x) <= max_points:
            order = np.argsort(np.nan_to_num(score_arr, nan=-np.inf))  # high scores on top
            mappable = ax.scatter(x[order], y[order], c=score_arr[order], s=sizes[order],
                                  edgecolors="none", **common)
        if cls is not None:
            for level in np.unique(cls.astype(int)):
                name = _name_for(level, class_names)
                handles.append(ax.scatter([], [], s=8.0 + 16.0 * max(level, 0), c="grey",
                                          label=f"class {name}"))
        if len(x) > max_points:
            title = f"{title}\n{drawn}" + (", IDW behind" if background is not None else "")
        elif background is not None:
            title = f"{title} (background interpolated by IDW; dots are samples)"

    deposit_handle = _plot_deposits(ax, deposits, deposit_label)
    if deposit_handle is not None:
        handles.append(deposit_handle)
    colorbar = fig.colorbar(mappable, ax=ax, shrink=0.85, extend=_extend(score, vmin, vmax))
    colorbar.set_label(colorbar_label)
    _map_axes(ax, crs, title)
    if handles:
        ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.8)
    return _png_bytes(fig)


def _extend(values, vmin, vmax) -> str:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return "neither"
    low, high = finite.min() < vmin, finite.max() > vmax
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low, high), "neither")


def _name_for(level, class_names) -> str:
    if class_names is None:
        return str(level)
    if isinstance(class_names, Mapping):
        return str(class_names.get(level, level))
    return str(class_names[level]) if 0 <= level < len(class_names) else str(level)


def score_histogram(scores, thresholds: Mapping[str, float] | None = None, *, bins: int = 60,
                    title: str = "Score distribution", log_count: bool = False) -> bytes:
    """Histogram of scores with one labelled vertical line per threshold; PNG bytes."""
    import matplotlib

    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    fig = _new_figure(FULL_WIDTH, 4.2)
    ax = fig.add_subplot()
    if scores.size:
        ax.hist(scores, bins=bins, color="0.6", edgecolor="0.35", linewidth=0.4, log=log_count)
    colours = matplotlib.colormaps["tab10"].colors
    for i, (name, value) in enumerate((thresholds or {}).items()):
        if value is None or not math.isfinite(float(value)):
            continue
        colour = colours[i % len(colours)]
        ax.axvline(float(value), color=colour, lw=1.5, ls="--", label=f"{name} = {float(value):.4g}")
    ax.set_xlabel(SCORE_LABEL)
    ax.set_ylabel("number of samples / cells")
    ax.set_title(f"{title} (n = {scores.size})")
    if thresholds:
        ax.legend(title="thresholds", fontsize="small", loc="best")
    return _png_bytes(fig)


def _interval_text(ci) -> str:
    if ci is None:
        return ""
    try:
        lo, hi = (float(v) for v in ci)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f" [{lo:.3f}, {hi:.3f}]"


def roc_figure(curves: Mapping[str, tuple], *, title: str = "ROC against known deposits") -> bytes:
    """Overlay ROC curves; ``curves`` maps name -> (fpr, tpr, auc, ci) with ci = (low, high) or None.

    A curve may also be a mapping / object with ``fpr``, ``tpr``, ``auc`` (or ``roc_auc``) and
    ``ci`` (or ``roc_auc_ci``).
    """
    fig = _new_figure(HALF_WIDTH, 5.2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1, label="random (AUC 0.5)")
    for name, curve in curves.items():
        if isinstance(curve, (tuple, list)):
            fpr, tpr, auc, ci = (list(curve) + [None, None])[:4]
        else:
            fpr, tpr = _get(curve, "fpr"), _get(curve, "tpr")
            auc, ci = _get(curve, "auc", "roc_auc"), _get(curve, "ci", "roc_auc_ci")
        label = str(name)
        if auc is not None and math.isfinite(float(auc)):
            label += f": AUC {float(auc):.3f}{_interval_text(ci)}"
        ax.plot(np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float), lw=1.8, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (background samples above threshold)")
    ax.set_ylabel("true positive rate (deposits above threshold)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return _png_bytes(fig)


def _as_percent(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return values * 100.0 if finite.size and finite.max() <= 1.0 + 1e-9 else values


def success_rate_figure(curves: Mapping[str, object], *, title: str = "Success rate") -> bytes:
    """Cumulative % of deposits against % of area ranked by score, one line per curve.

    Each curve is ``(area, deposits)`` or ``(area, deposits, auc)``, as fractions (0..1) or
    percents, or a mapping / object with ``area`` (or ``area_fraction``), ``deposits`` (or
    ``captured_fraction``) and optionally ``auc`` (e.g. ``validate.SuccessRateCurve``).
    """
    fig = _new_figure(HALF_WIDTH, 5.2)
    ax = fig.add_subplot()
    ax.plot([0, 100], [0, 100], color="0.5", ls=":", lw=1, label="random")
    for name, curve in curves.items():
        if isinstance(curve, (tuple, list)):
            area, hits, auc = (list(curve) + [None])[:3]
        else:
            area = _get(curve, "area", "area_fraction")
            hits = _get(curve, "deposits", "captured_fraction")
            auc = _get(curve, "auc")
        if area is None or hits is None:
            continue
        label = str(name) if auc is None else f"{name}: area under curve {float(auc):.3f}"
        ax.plot(_as_percent(area), _as_percent(hits), lw=1.8, label=label)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.set_aspect("equal")
    ax.set_xlabel("% of study area (ranked by decreasing score)")
    ax.set_ylabel("% of known deposits captured")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return _png_bytes(fig)


def ca_plot(details, *, title: str = "Concentration-area (C-A) fractal plot") -> bytes:
    """Log-log C-A points with the fitted segments and breakpoints, drawing whatever is given.

    ``details`` is a mapping or an object (e.g. ``threshold.CAFit`` or its ``to_dict()``) with,
    all optional: ``log_v`` / ``log10_v`` and ``log_area`` / ``log10_area`` (the points);
    ``segments``, each ``(x0, x1, slope, intercept)`` or a mapping with ``slope``, ``intercept``
    and its range as ``log10_v_start`` / ``log10_v_end``, ``x0`` / ``x1`` or ``first`` / ``last``
    indices into the points; ``breaks`` / ``break_log_v`` / ``break_log10_v`` (on the log_v
    axis); ``x_label`` / ``y_label``.
    """
    fig = _new_figure(HALF_WIDTH, 4.6)
    ax = fig.add_subplot()
    log_v = _get(details, "log_v", "log10_v")
    log_area = _get(details, "log_area", "log10_area")
    log_v = None if log_v is None else np.asarray(log_v, dtype=float)
    drew = False
    if log_v is not None and log_area is not None:
        ax.plot(log_v, np.asarray(log_area, dtype=float), "o", ms=3, color="0.35", label="C-A points")
        drew = True
    for i, segment in enumerate(_get(details, "segments", default=[])):
        line = _segment_line(segment, log_v)
        if line is None:
            continue
        x0, x1, slope, intercept = line
        xs = np.array([x0, x1])
        ax.plot(xs, slope * xs + intercept, lw=2, label=f"segment {i + 1} (slope {slope:.2f})")
        drew = True
    for i, value in enumerate(_get(details, "breaks", "break_log_v", "break_log10_v", default=[])):
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        ax.axvline(value, color="crimson", ls="--", lw=1, label="breakpoint" if i == 0 else None)
        ax.annotate(f"{value:.3g}", xy=(value, 0.02), xycoords=("data", "axes fraction"),
                    xytext=(3, 0), textcoords="offset points", fontsize="small", color="crimson")
        drew = True
    if not drew:
        ax.text(0.5, 0.5, "no C-A data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(_get(details, "x_label", default="log10(score)"))
    ax.set_ylabel(_get(details, "y_label", default="log10(area with score >= value)"))
    ax.set_title(title)
    if drew:
        ax.legend(fontsize="small")
    return _png_bytes(fig)


def _segment_line(segment, log_v):
    """(x0, x1, slope, intercept) from a tuple or a mapping; None when it cannot be read."""
    try:
        if isinstance(segment, Mapping):
            slope, intercept = float(segment["slope"]), float(segment["intercept"])
            if "log10_v_start" in segment:
                x0, x1 = segment["log10_v_start"], segment["log10_v_end"]
            elif "x0" in segment:
                x0, x1 = segment["x0"], segment["x1"]
            elif "first" in segment and log_v is not None:
                x0, x1 = log_v[int(segment["first"])], log_v[int(segment["last"])]
            else:
                return None
            return float(x0), float(x1), slope, intercept
        x0, x1, slope, intercept = (float(v) for v in list(segment)[:4])
        return x0, x1, slope, intercept
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def pa_plot(thresholds, deposit_percent, area_percent, *, title: str = "Prediction-area (P-A) plot") -> bytes:
    """P-A plot: % of deposits predicted and % of area occupied against the score threshold.

    The crossing of the two curves is the threshold where the anomalies' share of deposits
    equals 100 minus their share of area; it is marked when the curves cross.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    deposits = _as_percent(deposit_percent)
    area = _as_percent(area_percent)
    fig = _new_figure(HALF_WIDTH, 4.6)
    ax = fig.add_subplot()
    ax.plot(thresholds, deposits, color="crimson", lw=1.8, label="% of deposits in area above threshold")
    ax.set_ylabel("% of known deposits (prediction rate)", color="crimson")
    ax.set_ylim(0, 101)
    right = ax.twinx()
    right.plot(thresholds, 100.0 - area, color="navy", lw=1.8, label="100 - % of area above threshold")
    right.set_ylabel("100 - % of occupied area", color="navy")
    right.set_ylim(0, 101)
    diff = deposits - (100.0 - area)
    crossing = np.nonzero(np.diff(np.sign(diff)) != 0)[0]
    if crossing.size:
        i = crossing[0]
        t0, t1, d0, d1 = thresholds[i], thresholds[i + 1], diff[i], diff[i + 1]
        at = t0 if d1 == d0 else t0 - d0 * (t1 - t0) / (d1 - d0)
        ax.axvline(at, color="0.3", ls="--", lw=1)
        ax.annotate(f"crossing at {at:.4g}", xy=(at, 3), xytext=(4, 0), textcoords="offset points",
                    fontsize="small")
    ax.set_xlabel(SCORE_LABEL)
    ax.set_title(title)
    lines = ax.get_lines()[:1] + right.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize="small", loc="center left")
    return _png_bytes(fig)


# ---------------------------------------------------------------- overview, targets, elements

def _class_palette(n_classes: int) -> list[str]:
    """The report palette for ``n_classes`` (background first), shared with the QGIS styles."""
    from .palette import class_colours

    return class_colours(n_classes)


def _geometry_path(geom):
    """A matplotlib Path of a (Multi)Polygon with its holes (exteriors counter-clockwise,
    holes clockwise, so a hole stays empty under either fill rule); None when nothing to draw."""
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    if geom is None or geom.is_empty:
        return None
    vertices, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        poly = orient(poly, 1.0)
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords, dtype=float)[:, :2]
            if len(xy) < 4:
                continue
            vertices.append(xy)
            codes.append([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    if not vertices:
        return None
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


#: a target narrower than this fraction of the map's span is marked with a ring
SMALL_TARGET = 0.012


def _draw_targets(ax, targets, colours, top_n: int) -> tuple[int, int]:
    """Fill the ``top_n`` best-ranked targets with their class colour, outline them and write
    their rank inside; returns (drawn, total). Higher classes are drawn last, so a nested
    ">= p99" target sits visibly on top of the ">= p90" one around it, and the enclosing
    target's number goes into its own visible ring (:func:`_label_points`)."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import PathPatch
    from matplotlib.patheffects import withStroke

    from .palette import TARGET_OUTLINE

    if targets is None or len(targets) == 0:
        return 0, 0
    geometry = targets.geometry if hasattr(targets, "geometry") else targets["geometry"]
    ranks = np.asarray(targets["rank"], dtype=float)
    classes = (np.asarray(targets["class"], dtype=float) if "class" in targets.columns
               else np.full(len(targets), np.nan))
    best = np.argsort(ranks, kind="stable")[:max(int(top_n), 0)]
    order = sorted((i for i in best if _geometry_path(geometry.iloc[i]) is not None),
                   key=lambda j: (np.nan_to_num(classes[j], nan=0.0), -ranks[j]))
    for i in order:
        k = int(classes[i]) if np.isfinite(classes[i]) and 0 <= classes[i] < len(colours) else None
        face = to_rgba(colours[k], 0.6) if k is not None else "none"
        ax.add_patch(PathPatch(_geometry_path(geometry.iloc[i]), facecolor=face,
                               edgecolor=TARGET_OUTLINE, linewidth=0.8, zorder=3))
    span = max(ax.dataLim.width, ax.dataLim.height)
    span = span if np.isfinite(span) and span > 0 else 1.0
    for i in order:  # a target a few pixels wide gets a ring, so that its number points at it
        x0, y0, x1, y1 = geometry.iloc[i].bounds
        if max(x1 - x0, y1 - y0) < SMALL_TARGET * span:
            point = geometry.iloc[i].representative_point()
            ax.scatter([point.x], [point.y], s=70, facecolors="none", edgecolors=TARGET_OUTLINE,
                       linewidths=1.1, zorder=4)
    labels = _label_points([geometry.iloc[i] for i in order], np.nan_to_num(classes[order]),
                           [int(ranks[i]) for i in order], min_gap=0.03 * span)
    for (px, py), text in labels:
        ax.text(px, py, text, ha="center", va="center", fontsize=7.5,
                fontweight="bold", zorder=6,
                path_effects=[withStroke(linewidth=2.4, foreground="white")])
    return len(order), len(targets)


def _label_points(geoms, classes, ranks, min_gap: float) -> list[tuple[tuple[float, float], str]]:
    """The rank numbers and where they go: each inside the part of its target that no
    higher-class target covers (so nested targets' numbers do not sit on one another); numbers
    closer than ``min_gap`` to one already placed join it ("3, 8": a target and the one of a
    lower class with the same outline), so every number stays on its own target."""
    from shapely.ops import unary_union

    groups: list[tuple[tuple[float, float], list[int]]] = []
    for i in sorted(range(len(geoms)), key=lambda j: (-classes[j], ranks[j])):
        higher = [geoms[j] for j in range(len(geoms)) if classes[j] > classes[i]]
        own = geoms[i]
        if higher:
            try:
                rest = own.difference(unary_union(higher))
                own = rest if not rest.is_empty and rest.area > 0 else own
            except Exception:  # a topology error must not stop the report
                pass
        point = own.representative_point()
        for (qx, qy), members in groups:
            if math.hypot(point.x - qx, point.y - qy) < min_gap:
                members.append(ranks[i])
                break
        else:
            groups.append(((point.x, point.y), [ranks[i]]))
    return [(xy, ", ".join(str(r) for r in sorted(members))) for xy, members in groups]


def overview_map(
    score=None,
    *,
    grid=None,
    x=None,
    y=None,
    classes=None,
    class_names=None,
    thresholds=None,
    targets=None,
    deposits=None,
    background=None,
    crs=None,
    top_n: int = 15,
    title: str = "Anomaly classes and ranked targets",
    deposit_label: str = "known deposits",
    max_points: int = MAX_SCATTER_POINTS,
) -> bytes:
    """The report's first map: anomaly classes in the class palette, the ``top_n`` ranked
    targets filled with their class colour, outlined and numbered by rank, and known deposits;
    PNG bytes.

    Inputs as :func:`score_map`: ``grid`` with one value per valid cell (or a full image), or
    ``x`` / ``y`` per sample. ``classes`` (0 = background) may be left out when ``score`` and
    ascending ``thresholds`` are given. ``targets``: a GeoDataFrame with ``rank``, ``class`` and
    ``geometry`` in the map's coordinates (None or empty: no targets drawn). A point survey's
    ``background=(image, grid)`` (the IDW score map the targets were cut from) is drawn in
    class colours, faintly, when ``thresholds`` are given. ``deposits`` is ``(x, y)``.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from .palette import DEPOSIT_COLOUR, TARGET_OUTLINE

    cuts = None if thresholds is None else np.sort(np.asarray(list(thresholds), dtype=float))

    def classify(values):
        values = np.asarray(values, dtype=float)
        out = np.searchsorted(cuts, values, side="right").astype(float)
        out[~np.isfinite(values)] = np.nan
        return out

    if classes is None:
        if score is None or cuts is None:
            raise ValueError("overview_map needs classes= or a score with thresholds=")
        classes = classify(score)
    cls = np.asarray(classes, dtype=float)
    cls = np.where(cls < 0, np.nan, cls)  # -1 = no score
    if class_names is not None:
        n_classes = len(class_names)
    elif cuts is not None:
        n_classes = cuts.size + 1
    else:
        n_classes = int(np.nanmax(cls)) + 1 if np.isfinite(cls).any() else 1
    n_classes = max(n_classes, 2)
    colours = _class_palette(n_classes)
    style = dict(cmap=ListedColormap(colours), norm=BoundaryNorm(np.arange(n_classes + 1) - 0.5,
                                                                 n_classes))
    if grid is not None:
        extent = _grid_extent(grid)
    else:
        extent = (np.nanmin(x), np.nanmax(x), np.nanmin(y), np.nanmax(y)) \
            if x is not None and y is not None and len(x) else (0.0, 1.0, 0.0, 1.0)
    fig = _new_figure(FULL_WIDTH, _map_height(extent))
    ax = fig.add_subplot()
    if crs is None and grid is not None:
        crs = grid.crs
    if grid is not None:
        image = _grid_image(grid, cls)
        ax.imshow(np.ma.masked_invalid(image), extent=_grid_extent(grid), origin="upper",
                  interpolation="nearest", zorder=1, **style)
    else:
        if x is None or y is None:
            raise ValueError("overview_map needs either grid= or x= and y=")
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if background is not None and cuts is not None:
            bg_image, bg_grid = background
            ax.imshow(np.ma.masked_invalid(classify(bg_image)), extent=_grid_extent(bg_grid),
                      origin="upper", interpolation="nearest", alpha=0.4, zorder=1, **style)
        if len(x) > max_points:
            image, extent = aggregate_points(x, y, cls)
            ax.imshow(np.ma.masked_invalid(image), extent=extent, origin="upper",
                      interpolation="nearest", zorder=2, **style)
        else:
            for level in range(n_classes):  # higher classes drawn last, on top
                keep = cls == level
                if keep.any():
                    ax.scatter(x[keep], y[keep], s=3.0 if level == 0 else 7.0 + 6.0 * level,
                               c=colours[level], edgecolors="none", zorder=2)
    handles = [Patch(facecolor=colour, edgecolor="0.5",
                     label=_name_for(level, class_names) if class_names is not None
                     else ("background" if level == 0 else f"class {level}"))
               for level, colour in enumerate(colours)]
    drawn, total = _draw_targets(ax, targets, colours, top_n)
    if drawn:
        handles.append(Patch(facecolor="none", edgecolor=TARGET_OUTLINE,
                             label=f"targets (number = rank; top {drawn} of {total})"))
        title = f"{title}\n{total} target{'s' if total != 1 else ''}, the best {drawn} numbered"
    elif targets is not None:
        title = f"{title}\nno targets delineated"
    if deposits is not None:
        dx, dy = (np.asarray(v, dtype=float).ravel() for v in deposits)
        if dx.size:
            handles.append(ax.scatter(dx, dy, marker="*", s=150, c=DEPOSIT_COLOUR,
                                      edgecolors="white", linewidths=0.8, zorder=7,
                                      label=f"{deposit_label} ({dx.size})"))
    _map_axes(ax, crs, title)
    x0, x1, y0, y1 = (min(extent[0], extent[1]), max(extent[0], extent[1]),
                      min(extent[2], extent[3]), max(extent[2], extent[3]))
    if background is not None:
        bx0, bx1, by0, by1 = _grid_extent(background[1])
        x0, x1, y0, y1 = min(x0, bx0), max(x1, bx1), min(y0, by0), max(y1, by1)
    if targets is not None and len(targets):
        tx0, ty0, tx1, ty1 = targets.total_bounds
        x0, x1, y0, y1 = min(x0, tx0), max(x1, tx1), min(y0, ty0), max(y1, ty1)
    pad = 0.02 * max(x1 - x0, y1 - y0, 1e-9)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal", adjustable="box")  # the figure was sized to the map: keep it whole
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               fontsize="small", frameon=False)
    return _png_bytes(fig)


def _map_height(extent) -> float:
    """Figure height (inches) for a map of ``extent`` (x0, x1, y0, y1) at FULL_WIDTH: a tall
    survey gets a tall figure instead of a narrow strip in a wide one (title, axis labels and
    the legend below take about 2 inches)."""
    width = abs(float(extent[1]) - float(extent[0]))
    height = abs(float(extent[3]) - float(extent[2]))
    aspect = height / width if width > 0 and np.isfinite(height / width) else 0.75
    return float(np.clip((FULL_WIDTH - 1.4) * aspect + 2.0, 4.5, 10.5))


#: robust z at or above which a target's element is drawn as clearly enriched
SIGNATURE_STRONG_Z = 2.0


def _placeholder(text: str, width: float = FULL_WIDTH, height: float = 1.6) -> bytes:
    fig = _new_figure(width, height)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")
    return _png_bytes(fig)


def target_signatures(signature, top: int = 6, *, title: str = "Target signatures") -> bytes:
    """One small bar panel per target (the first ``top`` rows, in rank order as given), PNG.

    ``signature``: DataFrame, index = target id, columns = elements, values = median robust z
    of log10 concentration inside the target (0 = the survey's background, +2 = two robust
    standard deviations above it). Every panel lists the elements in the same order (highest
    mean over the panels first) on a shared scale, so targets compare at a glance; bars at or
    above +2 are dark red, positive ones orange, negative ones grey.
    """
    from .palette import CLASS_COLOURS

    if signature is None or len(signature) == 0 or len(signature.columns) == 0:
        return _placeholder("no targets: no signature to show")
    table = signature.iloc[:max(int(top), 1)].astype(float)
    table = table.loc[:, table.notna().any(axis=0)]
    if table.shape[1] == 0:
        return _placeholder("no element values inside the targets")
    order = table.mean(axis=0, skipna=True).sort_values(ascending=False, kind="stable").index
    table = table[order]
    n, m = table.shape
    fig = _new_figure(FULL_WIDTH, 1.2 + 0.9 * n)
    axes = fig.subplots(n, 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    positions = np.arange(m)
    for ax, (target_id, row) in zip(axes, table.iterrows()):
        z = row.to_numpy(dtype=float)
        colours = np.where(z >= SIGNATURE_STRONG_Z, CLASS_COLOURS[3],
                           np.where(z > 0, CLASS_COLOURS[1], "#bdbdbd"))
        ax.bar(positions, np.nan_to_num(z, nan=0.0), color=colours, width=0.8 if m > 8 else 0.5)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axhline(SIGNATURE_STRONG_Z, color="0.5", lw=0.6, ls=":")
        ax.set_ylabel(str(target_id), rotation=0, ha="right", va="center", fontsize=8,
                      fontweight="bold", labelpad=6)
        ax.tick_params(axis="y", labelsize=7)
    axes[-1].set_xticks(positions)
    axes[-1].set_xticklabels([str(e) for e in order], rotation=90 if m > 8 else 0,
                             fontsize=7 if m > 20 else 8)
    axes[-1].set_xlim(-0.6, m - 0.4)
    shown = f"top {n} of {len(signature)} targets" if len(signature) > n else f"{n} targets"
    fig.suptitle(f"{title} ({shown}): median robust z of log10 concentration inside each "
                 f"target\n0 = survey background, dotted line = +{SIGNATURE_STRONG_Z:g} robust SD",
                 fontsize=9)
    return _png_bytes(fig)


#: pixels along the longer side of one small-multiple panel (about what it is shown at)
PANEL_PIXELS = 160
#: above this many samples a small-multiple panel is drawn as a raster (highest value per pixel)
PANEL_MAX_DOTS = 20_000
#: colour levels of the panels (a stepped viridis); their PNG holds only these, their blends
#: with white (dot edges) and greys (text, frames): see _panel_palette
PANEL_LEVELS = 32


def _stretch(values) -> tuple[np.ndarray, bool]:
    """Values mapped to 0..1 between their 2nd and 98th percentiles, of log10 when every value
    is positive (concentrations), so that one hot spot does not flatten a panel; NaN stays."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    log = bool(finite.any() and (values[finite] > 0).all())
    out = np.full(values.shape, np.nan)
    if not finite.any():
        return out, log
    v = np.log10(values[finite]) if log else values[finite]
    lo, hi = np.percentile(v, (2.0, 98.0))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    out[finite] = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    return out, log


def _panel_palette(cmap) -> np.ndarray:
    """RGB 0..255: the stepped colormap's levels, each blended a third and two thirds with
    white (antialiased dot edges), and 64 greys from black to white (text, frames)."""
    levels = np.asarray(cmap(np.linspace(0.0, 1.0, cmap.N)))[:, :3] * 255.0
    blends = [levels * (1 - w) + 255.0 * w for w in (0.0, 1 / 3, 2 / 3)]
    greys = np.repeat(np.linspace(0.0, 255.0, 64)[:, None], 3, axis=1)
    return np.concatenate(blends + [greys])


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the finite values in each ``factor`` x ``factor`` block (NaN where none):
    a large grid reduced to what a small panel can show."""
    if factor <= 1:
        return image
    h, w = image.shape
    H, W = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.full((H, W), np.nan)
    padded[:h, :w] = image
    blocks = padded.reshape(H // factor, factor, W // factor, factor)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def element_small_multiples(values, *, grid=None, x=None, y=None, crs=None,
                            max_panels: int = 24, ncols: int = 6) -> bytes:
    """One small map per input element (the first ``max_panels`` columns of ``values``), PNG.

    Each panel has its own colour stretch (:func:`_stretch`: log10 of positive values, 2nd to
    98th percentile, dark = low, yellow = high) and no colour bar: the panels show where each
    element is high, not how high. ``values``: DataFrame, one column per element and one row per
    valid grid cell (``grid``) or per sample (``x`` / ``y``). Grids are block-averaged to about
    ``PANEL_PIXELS`` a side, large point sets drawn as the highest value per pixel, which keeps
    the PNG small. ``crs`` is accepted for the same call as :func:`score_map`; the panels have
    no axes to label.
    """
    names = [str(c) for c in values.columns]
    if not names:
        return _placeholder("no element values")
    n_total = len(names)
    columns = list(values.columns)[:max(int(max_panels), 1)]
    n = len(columns)
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    if grid is not None:
        left, right, bottom, top = _grid_extent(grid)
    else:
        if x is None or y is None:
            raise ValueError("element_small_multiples needs either grid= or x= and y=")
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        keep_xy = np.isfinite(x) & np.isfinite(y)
        if not keep_xy.any():
            return _placeholder("no sample coordinates")
        left, right = float(x[keep_xy].min()), float(x[keep_xy].max())
        bottom, top = float(y[keep_xy].min()), float(y[keep_xy].max())
    span_x, span_y = abs(right - left), abs(top - bottom)
    aspect = float(np.clip(span_y / span_x, 0.4, 2.5)) if span_x > 0 and span_y > 0 else 1.0
    panel_w = FULL_WIDTH / ncols
    fig = _new_figure(FULL_WIDTH, 0.45 + nrows * (panel_w * aspect + 0.22))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.axis("off")
    import matplotlib

    style = dict(cmap=matplotlib.colormaps[SCORE_CMAP].resampled(PANEL_LEVELS), vmin=0.0, vmax=1.0)
    dot_area = (panel_w * 72.0) ** 2 * aspect  # points^2 of one panel, shared by its dots
    for ax, column in zip(axes, columns):
        stretched, log = _stretch(values[column])
        if grid is not None:
            image = _grid_image(grid, stretched)
            factor = max(1, math.ceil(max(image.shape) / PANEL_PIXELS))
            ax.imshow(np.ma.masked_invalid(_block_mean(image, factor)),
                      extent=_grid_extent(grid), origin="upper", interpolation="nearest",
                      **style)
        else:
            keep = keep_xy & np.isfinite(stretched)
            if keep.sum() > PANEL_MAX_DOTS:
                image, extent = aggregate_points(x[keep], y[keep], stretched[keep],
                                                 pixels=PANEL_PIXELS)
                ax.imshow(np.ma.masked_invalid(image), extent=extent, origin="upper",
                          interpolation="nearest", **style)
            elif keep.any():
                order = np.argsort(stretched[keep], kind="stable")  # high values on top
                size = float(np.clip(0.9 * dot_area / keep.sum(), 0.3, 10.0))
                ax.scatter(x[keep][order], y[keep][order], c=stretched[keep][order], s=size,
                           edgecolors="none", **style)
        if not np.isfinite(stretched).any():
            ax.text(0.5, 0.5, "no values", ha="center", va="center", fontsize=7,
                    transform=ax.transAxes, color="0.4")
        ax.set_xlim(min(left, right), max(left, right))
        ax.set_ylim(min(bottom, top), max(bottom, top))
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.7")
        ax.set_title(str(column) + ("" if log else " (linear)"), fontsize=8, pad=2)
    shown = f"{n} of {n_total} elements" if n < n_total else f"{n} elements"
    fig.suptitle(f"Input elements ({shown}); each panel its own stretch: 2nd-98th percentile of "
                 "log10, dark = low, yellow = high", fontsize=8)
    return _png_bytes(fig, palette=_panel_palette(style["cmap"]))
