"""Outputs of ``geoanomaly study``: study.csv, study.html and chosen.yaml.

Written through the same atomic staging as a run (:class:`~geoanomaly.export.atomic.OutputStaging`):
a failed study leaves the output folder as it was. study.html is self-contained like report.html
(figures as base64 PNGs, inline CSS, no JavaScript); every text from the data is escaped.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from .atomic import OutputStaging

#: study.csv columns in order (AUC / blocked columns follow when present)
CRITERIA_COLUMNS = ["architecture", "hidden", "latent_dim", "beta", "learning_rate", "epochs",
                    "score", "val_neg_elbo", "val_neg_elbo_std", "stability",
                    "architecture_stability", "morans_i", "morans_i_std", "epochs_run",
                    "fit_seconds", "score_seconds", "seconds"]
FLAG_COLUMNS = ["kept_by_stability", "candidate_score", "label_free_choice", "chosen",
                "selected_by"]

_HIGHLIGHT = "#d62728"


def study_columns(table) -> list[str]:
    """The column order of study.csv: criteria, AUC columns, blocked AUC, flags."""
    aucs = [c for c in table.columns if c.startswith("auc_")]
    blocked = ["blocked_auc"] if "blocked_auc" in table.columns else []
    return [c for c in CRITERIA_COLUMNS if c in table.columns] + aucs + blocked + FLAG_COLUMNS


def write_study(result, raw_scores=None, keys=None) -> list[str]:
    """Write study.csv, study.html and chosen.yaml into ``result.out_dir``; returns their names."""
    out_dir = Path(result.out_dir)
    table = result.table[study_columns(result.table)]
    html = render_study_html(result, raw_scores, keys)
    with OutputStaging(out_dir) as staging:
        table.to_csv(staging.path("study.csv"), index=False, float_format="%.6g")
        staging.path("chosen.yaml").write_text(result.chosen_yaml, encoding="utf-8")
        staging.path("study.html").write_text(html, encoding="utf-8")
    return sorted(str(p.relative_to(out_dir)) for p in staging.published)


# ------------------------------------------------------------------------------------------
# HTML


def render_study_html(result, raw_scores=None, keys=None) -> str:
    from .. import __version__
    from .report import _CSS, _e

    t = result.table
    chosen = result.chosen
    row = t.iloc[chosen["row"]]
    blocked = result.select_by == "blocked-auc"
    has_auc = any(c.startswith("auc_") for c in t.columns)
    title = "geoanomaly study: model and score selection"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(title)}</title>", f"<style>{_CSS}</style>", "</head><body>",
             f"<h1>{_e(title)}</h1>"]
    if blocked:
        parts.append('<p class="warn"><strong>DEPOSITS CHOSE THE MODEL</strong> '
                     "(--select-by blocked-auc): the configuration below was selected by its "
                     "AUC against the known deposits in spatially blocked cross-validation. It "
                     "is not a label-free choice, and its AUC on these deposits is optimistic."
                     "</p>")
    else:
        parts.append('<p class="note"><strong>Chosen label-free</strong>: no deposit was used '
                     "to choose." + (" The AUCs shown beside the criteria are for information "
                                     "only; the selection never reads them." if has_auc else "")
                     + "</p>")

    parts.append('<h2 id="chosen">Chosen configuration</h2>')
    items = [("Architecture (encoder-latent)", chosen["architecture"]),
             ("Score", chosen["score"]),
             ("Hidden layers", row["hidden"]), ("Latent size", row["latent_dim"]),
             ("beta", row["beta"]), ("Learning rate", row["learning_rate"]),
             ("Most epochs (early stopping)", row["epochs"]),
             ("Validation -ELBO", _num(row["val_neg_elbo"])),
             ("Stability (mean pairwise Spearman)", _num(row["stability"])),
             ("Moran's I (k = %d)" % result.grid.moran_k, _num(row["morans_i"]))]
    for c in t.columns:
        if c.startswith("auc_"):
            items.append((f"AUC, protocol {c[4:]} (mean over seeds)", _num(row[c])))
    if blocked:
        items.append(("Mean per-block AUC", _num(row["blocked_auc"])))
        items.append(("Held-out blocked AUC of the selection", _num(result.blocked["nested_auc"])))
    parts.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                     for k, v in items) + "</table>")
    parts.append("<p>Rerun it on the whole survey with <code>geoanomaly run --config "
                 "chosen.yaml SOURCE --out DIR</code>; chosen.yaml:</p>")
    parts.append(f"<pre>{_e(result.chosen_yaml)}</pre>")

    parts.append('<h2 id="rule">Selection rule</h2>')
    css = ' class="warn"' if blocked else ""
    parts.append(f"<p{css}>{_e(chosen['rule'])}</p>")
    lf = result.label_free_choice
    steps = [f"Architectures kept by stability (best {lf['best_architecture_stability']:.3f}, "
             f"tolerance {result.grid.stability_tolerance:g}): "
             f"{', '.join(lf['kept_architectures'])}.",
             f"Lowest validation -ELBO among them: {lf['architecture']}.",
             f"Score: {lf['step3']}: {lf['score']}."]
    if blocked:
        parts.append(f"<p>For comparison, the label-free rule would have chosen "
                     f"{_e(lf['architecture'])} with score {_e(lf['score'])}:</p>")
    parts.append("<ol>" + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ol>")
    if blocked:
        parts += _blocked_section(result)

    parts.append('<h2 id="criteria">Criteria</h2>')
    figures = _figures(result, raw_scores, keys)
    for caption, png in figures:
        parts.append(_fig(png, caption))

    parts.append('<h2 id="table">All configurations (study.csv)</h2>')
    shown = t[study_columns(t)].copy()
    parts.append(shown.to_html(index=False, border=0, escape=True,
                               float_format=lambda v: f"{v:.4g}", na_rep=""))
    parts.append('<p class="muted">val_neg_elbo: mean per-row negative ELBO (beta = 1, every '
                 f"feature weighted once) of the held-out {result.grid.holdout_fraction:.0%} "
                 "of the rows, mean over seeds (the same for every score of an architecture). "
                 "stability: mean pairwise Spearman correlation of the per-sample scores "
                 "between seeds. morans_i: global "
                 f"Moran's I of the score's ranks, k = {result.grid.moran_k} nearest neighbours, "
                 "mean over seeds. seconds: fit + scoring, mean over seeds."
                 + (" auc_*: AUC of the score with the run's spatial context under each of the "
                    "run's protocols, mean over seeds." if has_auc else "") + "</p>")

    data = result.data
    survey = data.survey
    info = [("Input files", ", ".join(str(s) for s in survey.sources)),
            ("Deposits file", result.config.deposits or "none"),
            ("Survey", f"{survey.n} {'valid cells' if survey.is_grid else 'samples'}"),
            ("Features", ", ".join(data.feature_names)),
            ("Transform", f"{data.transformer.method}, {result.config.scale} scaling"),
            ("Seeds", ", ".join(str(s) for s in result.seeds)),
            ("Held out for the validation ELBO",
             f"{result.grid.holdout_fraction:.0%} of the rows (seeded with {result.config.seed}, "
             "the same rows for every fit)"),
            ("Scores", ", ".join(result.scored_names)),
            ("Study time", f"{result.seconds:.0f} s")]
    parts.append('<h2 id="inputs">Inputs</h2>')
    parts.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                     for k, v in info) + "</table>")
    notes = list(result.notes) + list(data.raw.notes) + list(data.notes)
    parts.append('<h2 id="notes">Notes</h2>')
    parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>" if notes
                 else '<p class="muted">None.</p>')
    date = _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
    parts.append(f'<p class="muted">Generated by geoanomaly {_e(__version__)} on {_e(date)}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _blocked_section(result) -> list[str]:
    from .report import _e

    b = result.blocked
    parts = [f"<p>{len(b['valid_blocks'])} of {b['n_blocks']} blocks hold samples near a "
             "deposit and others; only those are scored.</p>",
             "<table><tr><th>Held-out block</th><th>Samples</th><th>Positives</th>"
             "<th>Chosen on the other blocks</th><th>AUC on the other blocks</th>"
             "<th>AUC on the held-out block</th></tr>"]
    for f in b["folds"]:
        parts.append(f"<tr><td>{f['block']}</td><td class=\"num\">{f['n_samples']}</td>"
                     f"<td class=\"num\">{f['n_positive']}</td><td>{_e(f['chosen'])}</td>"
                     f"<td class=\"num\">{_num(f['auc_other_blocks'])}</td>"
                     f"<td class=\"num\">{_num(f['auc_held_out'])}</td></tr>")
    parts.append(f"<tr><th colspan=\"5\">Mean held-out AUC (the estimate of this selection)"
                 f"</th><td class=\"num\">{_num(b['nested_auc'])}</td></tr></table>")
    return parts


def _num(value, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if not np.isfinite(v) else f"{v:.{digits}f}"


def _fig(png: bytes, caption: str) -> str:
    from .report import _figure

    return _figure(png, caption)


# ------------------------------------------------------------------------------------------
# figures


def _figures(result, raw_scores, keys) -> list[tuple[str, bytes]]:
    t = result.table
    chosen_row = result.chosen["row"]
    out = [("Validation negative ELBO per architecture (mean over seeds, bar = std; lower is "
            "better). Grey: left out by the stability rule; red: the chosen architecture.",
            _elbo_figure(result)),
           ("Stability per configuration: mean pairwise Spearman correlation of the scores "
            "between seeds (red box: the chosen configuration).",
            _heatmap(t, "stability", chosen_row, "stability (Spearman)", "viridis")),
           (f"Spatial coherence per configuration: Moran's I of the score's ranks, k = "
            f"{result.grid.moran_k} nearest neighbours (red box: chosen).",
            _heatmap(t, "morans_i", chosen_row, "Moran's I", "viridis")),
           ("The criteria against each other: Moran's I against stability per configuration "
            "(left), validation -ELBO against architecture stability (right); the chosen "
            "configuration is the red star.", _criteria_scatter(result))]
    auc_cols = [c for c in t.columns if c.startswith("auc_")]
    if auc_cols:
        label = ("used to choose" if result.select_by == "blocked-auc"
                 else "for information, never used to choose")
        for c in auc_cols:
            out.append((f"AUC, protocol {c[4:]}, per configuration ({label}; red box: chosen).",
                        _heatmap(t, c, chosen_row, f"AUC ({c[4:]})", "RdYlGn", (0.0, 1.0))))
        out.append((f"AUC beside the label-free criteria ({label}): each dot is one "
                    "configuration; red star: chosen.", _auc_scatter(result, auc_cols[0])))
    if "blocked_auc" in t.columns:
        out.append(("Mean per-block AUC (protocol samples) per configuration: the deposits' "
                    "criterion of --select-by blocked-auc (red box: chosen).",
                    _heatmap(t, "blocked_auc", chosen_row, "mean block AUC", "RdYlGn",
                             (0.0, 1.0))))
    try:
        out += _maps(result, raw_scores, keys)
    except Exception as exc:  # a map must never break the study's outputs
        result.notes.append(f"The map of the chosen score could not be drawn ({exc}).")
    return out


def _elbo_figure(result) -> bytes:
    from .figures import _new_figure, _png_bytes

    t = result.table
    arch = t.groupby("architecture", sort=False).agg(
        elbo=("val_neg_elbo", "first"), std=("val_neg_elbo_std", "first"),
        kept=("kept_by_stability", "first"))
    chosen_arch = t.iloc[result.chosen["row"]]["architecture"]
    fig = _new_figure(7.0, 0.45 * len(arch) + 1.6)
    ax = fig.add_subplot()
    y = np.arange(len(arch))
    colours = [_HIGHLIGHT if a == chosen_arch else ("#4a78b0" if k else "#bbbbbb")
               for a, k in zip(arch.index, arch["kept"])]
    ax.barh(y, arch["elbo"], xerr=arch["std"], color=colours, capsize=3)
    ax.set_yticks(y, list(arch.index))
    ax.invert_yaxis()
    lo = float(np.nanmin(arch["elbo"] - arch["std"]))
    hi = float(np.nanmax(arch["elbo"] + arch["std"]))
    pad = 0.15 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("validation negative ELBO per sample (nats, lower = better)")
    ax.set_title("Held-out negative ELBO per architecture")
    return _png_bytes(fig)


def _matrix(t, column):
    archs = list(dict.fromkeys(t["architecture"]))
    scores = list(dict.fromkeys(t["score"]))
    m = np.full((len(archs), len(scores)), np.nan)
    for _, r in t.iterrows():
        m[archs.index(r["architecture"]), scores.index(r["score"])] = r[column]
    return archs, scores, m


def _heatmap(t, column, chosen_row, label, cmap, limits=None) -> bytes:
    from matplotlib.patches import Rectangle

    from .figures import _new_figure, _png_bytes

    archs, scores, m = _matrix(t, column)
    fig = _new_figure(1.0 * len(scores) + 3.2, 0.42 * len(archs) + 1.8)
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    vmin, vmax = limits or ((float(finite.min()), float(finite.max())) if finite.size
                            else (0.0, 1.0))
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(len(archs)):
        for j in range(len(scores)):
            if np.isfinite(m[i, j]):
                shade = (m[i, j] - vmin) / (vmax - vmin)
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if (cmap == "viridis" and shade < 0.55) else "black")
    r = t.iloc[chosen_row]
    ci, cj = archs.index(r["architecture"]), scores.index(r["score"])
    ax.add_patch(Rectangle((cj - 0.5, ci - 0.5), 1, 1, fill=False, edgecolor=_HIGHLIGHT, lw=2.5))
    ax.set_xticks(range(len(scores)), scores, rotation=30, ha="right")
    ax.set_yticks(range(len(archs)), archs)
    fig.colorbar(image, ax=ax, shrink=0.9).set_label(label)
    return _png_bytes(fig)


def _score_colours(scores):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {s: cmap(i % 10) for i, s in enumerate(scores)}


def _criteria_scatter(result) -> bytes:
    from .figures import _new_figure, _png_bytes

    t = result.table
    g = result.grid
    row = t.iloc[result.chosen["row"]]
    colours = _score_colours(list(dict.fromkeys(t["score"])))
    fig = _new_figure(11.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    for s, c in colours.items():
        sub = t[t["score"] == s]
        ax1.scatter(sub["stability"], sub["morans_i"], color=c, label=s, s=28)
    ax1.scatter([row["stability"]], [row["morans_i"]], marker="*", s=260, color=_HIGHLIGHT,
                edgecolors="black", zorder=5, label="chosen")
    ax1.axvline(g.min_stability, color="grey", ls="--", lw=0.8)
    ax1.set_xlabel("stability (mean pairwise Spearman between seeds)")
    ax1.set_ylabel("Moran's I of the score's ranks")
    ax1.legend(fontsize="small", loc="best")
    arch = t.groupby("architecture", sort=False).agg(
        stab=("architecture_stability", "first"), elbo=("val_neg_elbo", "first"))
    ax2.scatter(arch["stab"], arch["elbo"], color="#4a78b0", s=30)
    for name, r in arch.iterrows():
        ax2.annotate(name, (r["stab"], r["elbo"]), fontsize=7, xytext=(3, 3),
                     textcoords="offset points")
    best = float(np.nanmax(arch["stab"]))
    ax2.axvspan(best - g.stability_tolerance, best, color="#4a78b0", alpha=0.1,
                label="kept by stability")
    ax2.scatter([row["architecture_stability"]], [row["val_neg_elbo"]], marker="*", s=260,
                color=_HIGHLIGHT, edgecolors="black", zorder=5, label="chosen")
    ax2.set_xlabel("architecture stability (mean over its scores)")
    ax2.set_ylabel("validation negative ELBO (lower = better)")
    ax2.legend(fontsize="small", loc="best")
    return _png_bytes(fig)


def _auc_scatter(result, auc_col) -> bytes:
    from .figures import _new_figure, _png_bytes

    t = result.table
    row = t.iloc[result.chosen["row"]]
    colours = _score_colours(list(dict.fromkeys(t["score"])))
    fig = _new_figure(12.0, 4.2)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (col, xlabel) in zip(axes, [("val_neg_elbo", "validation -ELBO"),
                                        ("stability", "stability"),
                                        ("morans_i", "Moran's I")]):
        for s, c in colours.items():
            sub = t[t["score"] == s]
            ax.scatter(sub[col], sub[auc_col], color=c, s=24, label=s)
        ax.scatter([row[col]], [row[auc_col]], marker="*", s=240, color=_HIGHLIGHT,
                   edgecolors="black", zorder=5)
        ax.axhline(0.5, color="grey", lw=0.7, ls=":")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(f"AUC ({auc_col[4:]})")
    axes[-1].legend(fontsize="x-small", loc="best")
    return _png_bytes(fig)


def _maps(result, raw_scores, keys) -> list[tuple[str, bytes]]:
    if raw_scores is None or keys is None:
        return []
    from ..grid.neighbours import percentile_ranks
    from . import figures
    from .outputs import _deposits_in

    data = result.data
    survey = data.survey
    key = keys[result.chosen["row"]]
    ranks = np.mean([percentile_ranks(v) for v in raw_scores[key]], axis=0)
    deposits = None
    out = []
    title = (f"Chosen: {result.chosen['architecture']}, score {result.chosen['score']} "
             "(rank, mean over seeds)")
    caption = ("Map of the chosen score (percentile rank of the raw score, mean over seeds, "
               "without spatial context): check that its spatial pattern is not only "
               "lithology or survey boundaries.")
    if survey.is_grid:
        if data.deposits is not None:
            deposits = (data.deposits.x, data.deposits.y)
        out.append((caption, figures.score_map(ranks, grid=survey.grid, deposits=deposits,
                                               title=title)))
    else:
        if data.deposits is not None:
            deposits = _deposits_in(data.deposits, data.metric_crs, survey.crs)
        out.append((caption, figures.score_map(ranks, x=data.metric_x, y=data.metric_y,
                                               deposits=deposits, crs=data.metric_crs,
                                               title=title)))
    if result.blocked is not None:
        out.append(("The spatial blocks of the blocked cross-validation (strips across the "
                    "survey's long axis, cut between deposits).", _blocks_map(result, deposits)))
    return out


def _blocks_map(result, deposits) -> bytes:
    from .figures import DEPOSIT_STYLE, _new_figure, _png_bytes

    data = result.data
    blocks = result.blocked["block_of_sample"]
    fig = _new_figure(7.0, 6.0)
    ax = fig.add_subplot()
    for b in sorted(set(int(v) for v in blocks)):
        mask = blocks == b
        ax.scatter(data.metric_x[mask], data.metric_y[mask], s=8, label=f"block {b}")
    if deposits is not None:
        ax.scatter(*deposits, label="known deposits", **DEPOSIT_STYLE)
    ax.set_aspect("equal", adjustable="datalim")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.legend(fontsize="small", loc="best")
    ax.set_title("Spatial blocks")
    return _png_bytes(fig)
