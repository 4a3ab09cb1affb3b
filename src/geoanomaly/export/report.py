"""The self-contained HTML report: one file a geologist can email and open anywhere.

Everything is inside the file: figures as base64 PNG data URIs, CSS inline, no JavaScript, no
external links. All text that comes from the user or the data (file names, element names,
notes, warnings, the configuration) is HTML-escaped. The one exception is
``ReportContext.cleaning_table`` when given as a string: it is trusted HTML produced by the
cleaning stage (e.g. ``DataFrame.to_html()``, which escapes its cells); pass a DataFrame to have
it rendered and escaped here.

Order, for a reader who looks at the map first: At a glance (the class map with the ranked
targets and deposits, beside the headline numbers), Targets (ranked table, signatures),
Validation, Score map and thresholds, Input elements, Run summary, Cleaning, Reader notes,
Warnings, Configuration; a table of contents under the title links them. Figures keep their
PNG size on screen (two widths, see ``figures.FULL_WIDTH``) and print full width, never split
across pages.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoanomaly.export.atomic import atomic_write_text

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 68em; margin: 1.5em auto; padding: 0 1em;
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
nav.toc { font-size: .9em; color: #555; margin: .4em 0 1em; }
nav.toc a { color: #2a5d9f; text-decoration: none; margin-right: .2em; }
.glance { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.glance figure { flex: 3 1 36em; margin: .3em 0; }
.headline { flex: 1 1 15em; }
.headline p.big { font-size: 1.3em; font-weight: bold; margin: .3em 0 .6em; }
.headline table { font-size: .95em; }
table.targets td:nth-child(8) { max-width: 14em; }
@page { margin: 15mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  figure, table, tr, pre, .headline, .note, .warn, nav.toc { break-inside: avoid; page-break-inside: avoid; }
  h1, h2 { break-after: avoid; page-break-after: avoid; }
  .glance, .pair { display: block; }
  figure img { width: 100%; height: auto; max-height: 24cm; object-fit: contain; border: none; }
  a { color: inherit; text-decoration: none; }
  pre { white-space: pre-wrap; }
}
"""

#: rows of the targets table; the rest are in targets.gpkg
MAX_TARGET_ROWS = 30


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

    # At a glance: the class map with targets and deposits (figures.overview_map), and the
    # headline numbers: a mapping with any of auc, ci (low, high), protocol, n_deposits,
    # threshold_method, thresholds ({class name: value} or values), n_targets; what is missing
    # is taken from the fields above (metrics, threshold_method, class_lower_bounds...).
    overview_png: bytes | None = None
    headline: Mapping[str, object] | None = None
    # Targets: one dict per target (rank, target_id, class_name, area_km2, n_samples,
    # peak_score, mean_score, top_elements, distance_to_deposit_m); None = not delineated,
    # [] = none found. n_targets_total: how many targets.gpkg holds (default len(targets)).
    targets: Sequence[Mapping[str, object]] | None = None
    n_targets_total: int | None = None
    signature_png: bytes | None = None  # figures.target_signatures
    targets_text: str | None = None  # how the targets were delineated (delineate.Targets)
    explanation_text: str | None = None  # what "top elements" are (explain.Explanation)
    elements_png: bytes | None = None  # figures.element_small_multiples


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
    sections = [_glance_section(c), _targets_section(c), _validation_section(c)]
    for i, (heading, html_text) in enumerate(c.extra_sections.items()):
        sections.append([f'<h2 id="extra-{i + 1}">{_e(heading)}</h2>', html_text])
    sections += [_map_section(c), _threshold_section(c)]
    if c.elements_png:
        sections.append(_elements_section(c))
    sections += [
        _summary_section(c),
        _cleaning_section(c),
        _list_section("reader-notes", "Reader notes",
                      "Decisions taken automatically while reading the input.", c.reader_notes),
        _list_section("warnings", "Warnings", None, c.warnings, css="warn"),
    ]
    if c.extra_figures:
        sections.append(['<h2 id="more-figures">More figures</h2>']
                        + [_figure(png, caption) for caption, png in c.extra_figures.items() if png])
    configuration = ['<h2 id="configuration">Configuration</h2>']
    if c.config_yaml:
        configuration.append("<p>The resolved configuration of this run (rerun with it to "
                             "reproduce the results):</p>")
        configuration.append(f"<pre>{_e(c.config_yaml)}</pre>")
    else:
        configuration.append('<p class="muted">No configuration recorded.</p>')
    sections.append(configuration)
    parts.append(_contents(sections))
    for section in sections:
        parts += section
    parts.append(f'<p class="muted">Generated by geoanomaly {_e(_version(c))} on {_e(_date(c))}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _contents(sections: list[list[str]]) -> str:
    """The table of contents: one link per section, read from its (already escaped) heading."""
    links = []
    for section in sections:
        match = re.match(r'<h2 id="([^"]+)">(.*)</h2>$', section[0]) if section else None
        if match:
            links.append(f'<a href="#{match.group(1)}">{match.group(2)}</a>')
    return '<nav class="toc"><strong>Contents:</strong> ' + " &middot; ".join(links) + "</nav>"


# ---------------------------------------------------------------- sections

_HEADLINE_KEYS = ("auc", "ci", "protocol", "n_deposits", "threshold_method", "thresholds", "n_targets",
                  "several_models")


def _glance_section(c: ReportContext) -> list[str]:
    """The class map with the ranked targets beside the few numbers a reader asks first."""
    h = _headline(c)
    lines = [f'<p class="big">{_e(_auc_sentence(h))}</p>']
    rows: list[tuple[str, str]] = []
    if h.get("thresholds") or h.get("threshold_method"):
        rows.append(("Thresholds", _e(_threshold_text(h))))
    n_targets = h.get("n_targets")
    if n_targets is not None:
        n = int(n_targets)
        rows.append(("Targets", _e(f"{n:,} ranked target{'s' if n != 1 else ''}, all in "
                                   "targets.gpkg") if n else "no targets delineated"))
    if c.model:
        rows.append(("Model", _e(c.model)))
    if c.n_samples is not None:
        rows.append(("Survey", _e(f"{int(c.n_samples):,} " + ("valid grid cells" if c.is_grid
                                                               else "samples"))))
    for key, value in h.items():  # anything else the caller put in the headline
        if key not in _HEADLINE_KEYS and value is not None:
            rows.append((_e(str(key).replace("_", " ")), _e(value)))
    n_warn = len(c.warnings)
    warn_row = (f'<td class="warn"><a href="#warnings">{n_warn} warning{"s" if n_warn != 1 else ""}'
                "</a>: read them before the map</td>" if n_warn else "<td>none</td>")
    lines.append("<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
                 + f"<tr><th>Warnings</th>{warn_row}</tr></table>")
    block = '<div class="headline">' + "".join(lines) + "</div>"
    parts = ['<h2 id="glance">At a glance</h2>']
    if c.overview_png:
        if c.map_interpolated:
            how = ("Dots are the samples, coloured by class; the pale background and the "
                   "target outlines follow the map INTERPOLATED between samples (IDW), for "
                   "display only.")
        else:
            how = "Cells coloured by anomaly class."
        caption = (f"Anomaly classes, the best-ranked targets (filled with their class colour, "
                   f"outlined, numbered by rank) and known deposits (blue stars). {how}")
        parts.append('<div class="glance">' + _figure(c.overview_png, caption) + block + "</div>")
    else:
        parts.append(block)
    return parts


def _headline(c: ReportContext) -> dict:
    """The caller's headline, completed from the other fields: the AUC of protocol "samples"
    (else the first protocol), the threshold method and values, the number of targets."""
    h = dict(c.headline or {})
    rows = _metric_rows(c.metrics)
    if "auc" not in h and rows:
        models = {str(r["model"]) for r in rows if r.get("model") is not None}
        if len(models) > 1:
            h["several_models"] = True
        else:
            row = next((r for r in rows if r.get("protocol") == "samples"), rows[0])
            h["auc"] = row.get("auc")
            ci = row.get("ci")
            if ci is None and ("ci_low" in row or "ci_high" in row):
                ci = (row.get("ci_low"), row.get("ci_high"))
            h.setdefault("ci", ci)
            h.setdefault("protocol", row.get("protocol"))
    if h.get("n_deposits") is None:
        h["n_deposits"] = c.n_deposits
    if h.get("threshold_method") is None:
        h["threshold_method"] = c.threshold_method
    if h.get("thresholds") is None and c.class_lower_bounds:
        h["thresholds"] = {name: value for name, value in c.class_lower_bounds.items()
                           if _float(value) is not None}
    if h.get("n_targets") is None:
        h["n_targets"] = c.n_targets_total if c.n_targets_total is not None else (
            None if c.targets is None else len(c.targets))
    return h


def _auc_sentence(h: Mapping) -> str:
    """'ROC AUC 0.91 (0.83-0.97), protocol samples, 14 deposits', or why there is none."""
    n_dep = h.get("n_deposits")
    deposits = "" if n_dep is None else f", {int(n_dep)} deposit{'s' if int(n_dep) != 1 else ''}"
    if h.get("several_models"):
        return "ROC AUC per model: see Validation" + deposits
    auc = _float(h.get("auc"))
    if auc is None:
        return "Not validated: no deposits given" if not n_dep else \
            "No AUC computed" + deposits
    text = f"ROC AUC {auc:.2f}"
    low = high = None
    if h.get("ci") is not None:
        try:
            low, high = (_float(v) for v in list(h["ci"])[:2])
        except (TypeError, ValueError):
            low = high = None
    if low is not None and high is not None:
        text += f" ({low:.2f}-{high:.2f})"
    if h.get("protocol"):
        text += f", protocol {h['protocol']}"
    return text + deposits


def _threshold_text(h: Mapping) -> str:
    method = h.get("threshold_method")
    values = h.get("thresholds")
    if isinstance(values, Mapping):
        listed = ", ".join(f"{name} {_short(v)}" for name, v in values.items())
    elif values is not None and not isinstance(values, str):
        listed = ", ".join(_short(v) for v in values)
    else:
        listed = "" if values is None else str(values)
    text = f"{method}: {listed}" if method and listed else (method or listed)
    if method == "t":
        text += " (chosen with the deposits: supervised)"
    return text


def _targets_section(c: ReportContext) -> list[str]:
    parts = ['<h2 id="targets">Targets</h2>']
    if c.targets is None:
        parts.append('<p class="muted">No targets delineated for this run.</p>')
    elif len(c.targets) == 0:
        parts.append("<p>No anomaly class formed a target.</p>")
    else:
        rows = sorted(c.targets, key=lambda r: (_float(r.get("rank")) is None,
                                                _float(r.get("rank")) or 0.0))
        shown = rows[:MAX_TARGET_ROWS]
        total = int(c.n_targets_total) if c.n_targets_total is not None else len(rows)
        what = "cells" if c.is_grid else "samples"
        parts.append("<p>Contiguous areas of each anomaly class, ranked: 1 = most prospective. "
                     "A target of a higher class lies inside one of a lower class. Top elements: "
                     "the elements that raise the score most inside the target.</p>")
        if c.targets_text:
            parts.append(f"<p>{_e(c.targets_text)}</p>")
        if c.explanation_text:
            parts.append(f'<p class="muted">Top elements: {_e(c.explanation_text)}</p>')
        head = ["Rank", "Target", "Class", "Area (km²)", f"{what.capitalize()}", "Peak score",
                "Mean score", "Top elements", "Nearest deposit (m)"]
        lines = ['<table class="targets"><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
        for r in shown:
            cells = [_num_cell(_integer(r.get("rank"))), f"<td>{_e(r.get('target_id', ''))}</td>",
                     f"<td>{_e(r.get('class_name', ''))}</td>",
                     _num_cell(_fixed(r.get("area_km2"), 2)),
                     _num_cell(_integer(r.get("n_samples"))),
                     _num_cell(_fixed(r.get("peak_score"), 3)),
                     _num_cell(_fixed(r.get("mean_score"), 3)),
                     f"<td>{_e(_elements_text(r.get('top_elements')))}</td>",
                     _num_cell(_distance(r.get("distance_to_deposit_m")))]
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</table>")
        parts.append("".join(lines))
        if total > len(shown):
            more = total - len(shown)
            parts.append(f'<p class="muted">The table shows the first {len(shown)} by rank; '
                         f"{more:,} more in targets.gpkg.</p>")
        else:
            parts.append('<p class="muted">All targets, with their outlines, are in targets.gpkg.</p>')
    if c.signature_png:
        parts.append(_figure(c.signature_png, "Signature of the best-ranked targets: for each "
                             "element, the median robust z of log10 concentration inside the "
                             "target, i.e. how many robust standard deviations above (or below) "
                             "the survey's background it lies; 0 = background."))
    return parts


def _elements_section(c: ReportContext) -> list[str]:
    what = "cells" if c.is_grid else "samples (one dot each)"
    return ['<h2 id="elements">Input elements</h2>',
            _figure(c.elements_png, f"The input elements, one panel each, on the {what}. Every "
                    "panel has its own colour stretch (log10 of the values, linear where an "
                    "element has zero or negative values; 2nd to 98th percentile; dark = low, "
                    "yellow = high): it shows where an element is high, not how high.")]


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
    parts += _pair([(c.roc_png, "ROC curves of the anomaly score against known deposits."),
                    (c.success_rate_png, "Success rate: share of known deposits captured "
                                         "against share of area, ranked by decreasing score.")])
    return parts


def _pair(figures: list[tuple[bytes | None, str]]) -> list[str]:
    """Half-width figures side by side on a wide screen (one under the other in print)."""
    shown = [_figure(png, caption) for png, caption in figures if png]
    if len(shown) < 2:
        return shown
    return ['<div class="pair">' + "".join(shown) + "</div>"]


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
    parts += _pair([(c.ca_png, "Concentration-area fractal plot with fitted segments and breakpoints."),
                    (c.pa_png, "Prediction-area plot: where the share of deposits predicted "
                               "meets the share of area left out.")])
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
    elif not (c.histogram_png or c.ca_png or c.pa_png):
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


def _float(value) -> float | None:
    """A finite float, or None (missing, NaN, text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _short(value) -> str:
    number = _float(value)
    return str(value) if number is None else f"{number:.4g}"


def _integer(value) -> str:
    number = _float(value)
    return "" if number is None else f"{int(round(number)):,}"


def _fixed(value, digits: int) -> str:
    number = _float(value)
    return "" if number is None else f"{number:,.{digits}f}"


def _distance(value) -> str:
    """Metres to the nearest deposit; 0 says the deposit lies inside; "-" without deposits."""
    number = _float(value)
    if number is None:
        return "-"
    return "0 (inside)" if number == 0 else f"{number:,.0f}"


def _elements_text(value) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    try:
        return ", ".join(str(v) for v in value)
    except TypeError:
        return str(value)


def _num_cell(text: str) -> str:
    return f'<td class="num">{_e(text)}</td>'


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
