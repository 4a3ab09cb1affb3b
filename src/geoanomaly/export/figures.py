"""Report figures, each returned as PNG bytes (matplotlib, Agg, no pyplot global state).

Figures are built on :class:`matplotlib.figure.Figure` directly rather than through pyplot, so
they never touch a GUI backend, never leak open figures, and are safe to call from anywhere.

Conventions: scores use the perceptually uniform ``viridis`` colormap (high = yellow), with
colour limits at the 1st and 99th percentile of the scores by default so that a few extreme
samples do not wash the map out (the colour bar shows arrows where values are clipped);
known deposits are red stars with a black edge; dpi 110.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import numpy as np

DPI = 110
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


def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: smaller files and identical bytes across matplotlib versions.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


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

    fig = _new_figure(7.5, 6.0)
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
    xlabel, ylabel = _axis_labels(crs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal", adjustable="datalim")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(title)
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
    fig = _new_figure(7.0, 4.2)
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
    fig = _new_figure(5.6, 5.2)
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
    fig = _new_figure(5.6, 5.2)
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
    fig = _new_figure(6.4, 4.8)
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
    fig = _new_figure(6.4, 4.6)
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
