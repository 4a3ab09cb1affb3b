"""The self-contained HTML report: one file a geologist can email and open anywhere.

Everything is inside the file: figures as base64 PNG data URIs, CSS inline, no JavaScript, no
external links. All text that comes from the user or the data (file names, element names,
notes, warnings, the configuration) is HTML-escaped. The one exception is
``ReportContext.cleaning_table`` when given as a string: it is trusted HTML produced by the
cleaning stage (e.g. ``DataFrame.to_html()``, which escapes its cells); pass a DataFrame to have
it rendered and escaped here.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoanomaly.export.atomic import atomic_write_text

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 60em; margin: 1.5em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #bbb; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.pair { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.pair figure { flex: 1 1 22em; margin: .5em 0; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .6em; overflow-x: auto; font-size: .85em; }
.note { background: #eef4fb; border-left: 4px solid #4a78b0; padding: .5em .8em; }
.warn { background: #fff4e0; border-left: 4px solid #d08a00; padding: .5em .8em; }
.muted { color: #666; }
"""


@dataclass
class ReportContext:
    """Everything the report shows; every field is optional and has a sensible default.

    ``metrics`` holds one entry per validation protocol: a mapping with keys ``protocol``,
    ``description``, ``auc`` (or ``roc_auc``), ``ci`` (or ``roc_auc_ci``; ``(low, high)``) or
    ``ci_low`` / ``ci_high``, and any further scalar keys (``n_positive``...), which become extra
    columns; a DataFrame, ``{protocol: row}`` or ``{"protocols": {protocol: row}}`` work too. ``class_counts`` maps class name -> count in class
    order; ``class_lower_bounds`` optionally maps class name -> lowest score in the class.
    Figures are PNG bytes (see :mod:`geoanomaly.export.figures`); ``None`` leaves them out.
    """

    title: str = "geoanomaly report"
    input_files: Sequence[str] = ()
    deposits_file: str | None = None
    n_samples: int | None = None
    is_grid: bool = False
    grid_shape: tuple[int, int] | None = None  # (height, width) for grid surveys
    crs: str | None = None
    elements: Sequence[str] = ()
    units: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    score: str | None = None
    transform: str | None = None
    threshold_method: str | None = None
    seed: int | None = None
    date: str | None = None  # default: now, local time, ISO format
    version: str | None = None  # default: geoanomaly.__version__
    summary_extra: Mapping[str, object] = field(default_factory=dict)

    n_deposits: int | None = None
    metrics: object = None  # list of mappings or a DataFrame, one row per protocol
    validation_notes: Sequence[str] = ()
    roc_png: bytes | None = None
    success_rate_png: bytes | None = None
    pa_png: bytes | None = None

    score_map_png: bytes | None = None
    map_interpolated: bool = False  # point survey drawn over an IDW background
    uncertainty_map_png: bytes | None = None  # ensembles / fusion: score_std, beside the map
    ensemble_text: str | None = None  # how many members, which, how combined
    histogram_png: bytes | None = None
    ca_png: bytes | None = None
    class_counts: Mapping[str, int] = field(default_factory=dict)
    class_lower_bounds: Mapping[str, float] = field(default_factory=dict)

    cleaning_table: object = None  # trusted HTML string, or a DataFrame (escaped here)
    cleaning_notes: Sequence[str] = ()
    reader_notes: Sequence[str] = ()
    warnings: Sequence[str] = ()
    config_yaml: str | None = None
    extra_figures: Mapping[str, bytes] = field(default_factory=dict)  # caption -> PNG
    extra_sections: Mapping[str, str] = field(default_factory=dict)  # heading -> trusted HTML


def build_report(path, context: ReportContext) -> Path:
    """Write the report for ``context`` to ``path`` (one HTML file) and return the path."""
    return atomic_write_text(path, render_report(context))


def render_report(context: ReportContext) -> str:
    """The report as one HTML string."""
    c = context
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(c.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{_e(c.title)}</h1>",
    ]
    if c.warnings:
        parts.append(f'<p class="warn">This run produced {len(c.warnings)} warning(s); '
                     'see <a href="#warnings">Warnings</a>.</p>')
    parts += _summary_section(c)
    parts += _validation_section(c)
    for heading, html_text in c.extra_sections.items():
        parts.append(f"<h2>{_e(heading)}</h2>")
        parts.append(html_text)
    parts += _map_section(c)
    parts += _threshold_section(c)
    parts += _cleaning_section(c)
    parts += _list_section("reader-notes", "Reader notes",
                           "Decisions taken automatically while reading the input.", c.reader_notes)
    parts += _list_section("warnings", "Warnings", None, c.warnings, css="warn")
    if c.extra_figures:
        parts.append('<h2 id="more-figures">More figures</h2>')
        parts += [_figure(png, caption) for caption, png in c.extra_figures.items() if png]
    parts.append('<h2 id="configuration">Configuration</h2>')
    if c.config_yaml:
        parts.append("<p>The resolved configuration of this run (rerun with it to reproduce the results):</p>")
        parts.append(f"<pre>{_e(c.config_yaml)}</pre>")
    else:
        parts.append('<p class="muted">No configuration recorded.</p>')
    parts.append(f'<p class="muted">Generated by geoanomaly {_e(_version(c))} on {_e(_date(c))}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- sections

def _summary_section(c: ReportContext) -> list[str]:
    rows: list[tuple[str, str]] = []
    if c.input_files:
        rows.append(("Input files", "<br>".join(_e(f) for f in c.input_files)))
    if c.deposits_file:
        rows.append(("Deposits file", _e(c.deposits_file)))
    if c.n_samples is not None:
        what = "valid grid cells" if c.is_grid else "samples"
        text = f"{int(c.n_samples):,} {what}"
        if c.is_grid and c.grid_shape:
            text += f" on a {int(c.grid_shape[0])} x {int(c.grid_shape[1])} grid (rows x columns)"
        rows.append(("Survey", _e(text)))
    if c.crs:
        rows.append(("Coordinate reference system", _e(c.crs)))
    if c.elements:
        listed = []
        for element in c.elements:
            unit = c.units.get(element, "") if c.units else ""
            listed.append(f"{_e(element)} ({_e(unit)})" if unit else f"{_e(element)} (unit unknown)")
        rows.append((f"Elements used ({len(c.elements)})", ", ".join(listed)))
    for label, value in (("Model", c.model), ("Score", c.score), ("Transform", c.transform),
                         ("Threshold method", c.threshold_method)):
        if value:
            rows.append((label, _e(value)))
    rows.append(("Seed", _e(c.seed) if c.seed is not None else "not set"))
    for label, value in (c.summary_extra or {}).items():
        rows.append((_e(label), _e(value)))
    rows.append(("Date", _e(_date(c))))
    rows.append(("geoanomaly version", _e(_version(c))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return ['<h2 id="summary">Run summary</h2>', f"<table>{body}</table>"]


def _validation_section(c: ReportContext) -> list[str]:
    parts = ['<h2 id="validation">Validation</h2>']
    rows = _metric_rows(c.metrics)
    has_figures = any((c.roc_png, c.success_rate_png, c.pa_png))
    if not rows and not has_figures:
        parts.append('<p class="note">No deposits given: no validation. The scores rank samples by '
                     "how unusual they are, but nothing here shows whether they point to mineralisation.</p>")
        parts += [f"<p>{_e(note)}</p>" for note in c.validation_notes]
        return parts
    n_deposits = c.n_deposits
    if n_deposits is None and isinstance(c.metrics, Mapping):
        n_deposits = c.metrics.get("n_deposits")
    if n_deposits is not None:
        parts.append(f"<p>Known deposits used: {int(n_deposits)}.</p>")
    if rows:
        parts.append(_metrics_table(rows))
        parts.append('<p class="muted">AUC: area under the ROC curve (0.5 = random, 1 = every deposit '
                     "scores above every background sample); the interval is the confidence interval "
                     "reported by the protocol.</p>")
    parts += [f"<p>{_e(note)}</p>" for note in c.validation_notes]
    if c.roc_png:
        parts.append(_figure(c.roc_png, "ROC curves of the anomaly score against known deposits."))
    if c.success_rate_png:
        parts.append(_figure(c.success_rate_png, "Success rate: share of known deposits captured "
                                                 "against share of area, ranked by decreasing score."))
    if c.pa_png:
        parts.append(_figure(c.pa_png, "Prediction-area plot."))
    return parts


def _metric_rows(metrics) -> list[dict]:
    """One plain dict per protocol, from a list, a DataFrame, {protocol: row} or
    {"protocols": {protocol: row}, ...} (the pipeline's metrics.json shape)."""
    if metrics is None:
        return []
    if hasattr(metrics, "to_dict") and hasattr(metrics, "columns"):  # DataFrame
        rows = [dict(r) for r in metrics.to_dict(orient="records")]
    elif isinstance(metrics, Mapping):
        protocols = metrics.get("protocols", metrics)
        rows = [{"protocol": name, **dict(row)} for name, row in protocols.items() if isinstance(row, Mapping)]
    else:
        rows = [dict(r) for r in metrics]
    for row in rows:  # accept the validate stage's names too
        if "auc" not in row and "roc_auc" in row:
            row["auc"] = row.pop("roc_auc")
        if "ci" not in row and "roc_auc_ci" in row:
            row["ci"] = row.pop("roc_auc_ci")
    return rows


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool)) or hasattr(value, "dtype") and \
        getattr(value, "ndim", 1) == 0


def _metrics_table(rows: list[dict]) -> str:
    standard = ("protocol", "auc", "ci", "ci_low", "ci_high", "description")
    extra = []
    for row in rows:  # scalar extras only: curves and nested details belong in metrics.json
        extra += [k for k, v in row.items() if k not in standard and k not in extra and _is_scalar(v)]
    head = ["Protocol", "AUC", "Interval"] + [str(k).replace("_", " ") for k in extra] + ["Description"]
    lines = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        ci = row.get("ci")
        if ci is None and ("ci_low" in row or "ci_high" in row):
            ci = (row.get("ci_low"), row.get("ci_high"))
        cells = [f"<td>{_e(row.get('protocol', ''))}</td>",
                 f'<td class="num">{_e(_number(row.get("auc")))}</td>',
                 f'<td class="num">{_e(_interval(ci))}</td>']
        cells += [f'<td class="num">{_e(_number(row.get(k)))}</td>' for k in extra]
        cells.append(f"<td>{_e(row.get('description', ''))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "".join(lines)


def _map_section(c: ReportContext) -> list[str]:
    parts = ['<h2 id="map">Score map</h2>']
    if not c.score_map_png:
        parts.append('<p class="muted">No map produced.</p>')
        return parts
    if c.map_interpolated:
        from .figures import MAX_SCATTER_POINTS

        samples = ("the highest sample score in each pixel (too many samples to draw one dot "
                   "each)" if (c.n_samples or 0) > MAX_SCATTER_POINTS else
                   "the samples (dots, larger for higher classes)")
        caption = (f"Anomaly score of {samples} with known deposits (stars). The coloured "
                   "background is INTERPOLATED by inverse distance weighting between samples "
                   "for display only; it is not a measured value.")
    elif c.is_grid:
        caption = "Anomaly score on the input grid, with known deposits (stars)."
    else:
        caption = "Anomaly score of the samples, with known deposits (stars)."
    if c.ensemble_text:
        parts.append(f'<p class="note">{_e(c.ensemble_text)}</p>')
    if not c.uncertainty_map_png:
        parts.append(_figure(c.score_map_png, caption))
        return parts
    where = ("interpolated by IDW between samples for display, like the score map"
             if c.map_interpolated else "on the same grid as the score")
    parts.append('<div class="pair">' + _figure(c.score_map_png, caption) + _figure(
        c.uncertainty_map_png, "Uncertainty (score_std): standard deviation of the members' "
        f"percentile ranks, {where}; pale = the members agree, dark red = they disagree. Read a "
        "high score as firm where the uncertainty is low.") + "</div>")
    return parts


def _threshold_section(c: ReportContext) -> list[str]:
    parts = ['<h2 id="thresholds">Score distribution and thresholds</h2>']
    if c.threshold_method == "t":
        parts.append('<p class="warn"><strong>Chosen with the deposits.</strong> The '
                     "threshold is the weights-of-evidence Student-t maximum over the known "
                     "deposits: it is supervised, and the anomaly classes below are fitted to "
                     "the same deposits they would be judged against (in-sample).</p>")
    if c.histogram_png:
        parts.append(_figure(c.histogram_png, "Histogram of anomaly scores with the thresholds (dashed)."))
    if c.ca_png:
        parts.append(_figure(c.ca_png, "Concentration-area fractal plot with fitted segments and breakpoints."))
    if c.class_counts:
        total = sum(int(v) for v in c.class_counts.values())
        bounds = c.class_lower_bounds or {}
        show_bounds = bool(bounds)
        head = "<tr><th>Class</th>" + ("<th>Lowest score</th>" if show_bounds else "") + \
               "<th>Count</th><th>% of total</th></tr>"
        lines = [f'<table class="classes">{head}']
        for name, count in c.class_counts.items():
            share = 100.0 * int(count) / total if total else float("nan")
            bound = f'<td class="num">{_e(_number(bounds.get(name)))}</td>' if show_bounds else ""
            lines.append(f"<tr><td>{_e(name)}</td>{bound}<td class=\"num\">{int(count):,}</td>"
                         f'<td class="num">{_e(_number(share, digits=1))}</td></tr>')
        lines.append(f"<tr><th>Total</th>{'<td></td>' if show_bounds else ''}"
                     f'<td class="num">{total:,}</td><td class="num">100.0</td></tr></table>')
        parts.append("".join(lines))
    elif not (c.histogram_png or c.ca_png):
        parts.append('<p class="muted">No thresholds applied.</p>')
    return parts


def _cleaning_section(c: ReportContext) -> list[str]:
    parts = ['<h2 id="cleaning">Cleaning</h2>']
    table = c.cleaning_table
    if table is not None and hasattr(table, "to_html"):
        parts.append(table.to_html(escape=True, border=0, na_rep=""))
    elif isinstance(table, str) and table.strip():
        parts.append(table)  # trusted HTML from the cleaning stage (see module docstring)
    if c.cleaning_notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in c.cleaning_notes) + "</ul>")
    if len(parts) == 1:
        parts.append('<p class="muted">No cleaning summary recorded.</p>')
    return parts


def _list_section(anchor: str, heading: str, intro: str | None, items: Sequence[str], css: str = "") -> list[str]:
    parts = [f'<h2 id="{anchor}">{_e(heading)}</h2>']
    if not items:
        parts.append('<p class="muted">None.</p>')
        return parts
    if intro:
        parts.append(f"<p>{_e(intro)}</p>")
    cls = f' class="{css}"' if css else ""
    parts.append(f"<ul{cls}>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>")
    return parts


# ---------------------------------------------------------------- helpers

def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _number(value, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number.is_integer() and abs(number) < 1e15 and not isinstance(value, float):
        return f"{int(number):,}"
    return f"{number:.{digits}f}" if abs(number) >= 10 ** -digits or number == 0 else f"{number:.3g}"


def _interval(ci) -> str:
    if ci is None:
        return ""
    try:
        low, high = (float(v) for v in ci)
    except (TypeError, ValueError):
        return ""
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"{low:.3f} - {high:.3f}"


def _date(c: ReportContext) -> str:
    return c.date or _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


def _version(c: ReportContext) -> str:
    if c.version:
        return c.version
    from geoanomaly import __version__

    return __version__
