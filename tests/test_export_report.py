"""The HTML report: one self-contained, escaped file."""

import base64
import re

import numpy as np
import pandas as pd

from geoanomaly.export.report import ReportContext, build_report, render_report

# A valid 1 x 1 PNG, so most report tests need no matplotlib.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _full_context(**overrides):
    base = dict(
        title="Fujian skarn test",
        input_files=["data/<script>alert(1)</script>.csv", "b&c.tif"],
        deposits_file="deposits.csv",
        n_samples=6864, is_grid=True, grid_shape=(78, 88), crs="EPSG:32650",
        elements=["Cu", "Fe2O3"], units={"Cu": "ppm", "Fe2O3": "pct"},
        model="vae", score="reconstruction probability", transform="clr", seed=42,
        date="2026-01-02T03:04:05", version="9.9.9", n_deposits=12,
        metrics=[{"protocol": "all cells", "auc": 0.8567, "ci": (0.79, 0.91), "n_deposits": 12,
                  "description": "deposit cells vs all others, bootstrap 95 % interval"},
                 {"protocol": "blocked", "auc": 0.81, "ci_low": 0.7, "ci_high": 0.88, "description": "x < y"}],
        roc_png=TINY_PNG, success_rate_png=TINY_PNG, score_map_png=TINY_PNG, histogram_png=TINY_PNG,
        class_counts={"background": 900, "weak": 80, "strong": 20},
        cleaning_table=pd.DataFrame({"element": ["Cu<b>"], "below detection": [3]}),
        cleaning_notes=["3 values '<0.5' set to half the limit"],
        reader_notes=["read x from column 'E'"], warnings=["Cd has a <zero> block"],
        config_yaml="model:\n  name: vae  # <tag>\n",
    )
    base.update(overrides)
    return ReportContext(**base)


def test_report_is_one_self_contained_file(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    path = build_report(out / "report.html", _full_context())
    assert [p.name for p in out.iterdir()] == ["report.html"]
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 4
    assert not re.search(r"https?://", text)
    assert not re.search(r"<script", text, re.IGNORECASE)  # neither src= nor inline
    assert not re.search(r"<link|@import|url\(", text, re.IGNORECASE)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in text and "b&amp;c.tif" in text
    assert "Cu&lt;b&gt;" in text and "&lt;zero&gt;" in text and "# &lt;tag&gt;" in text


def test_report_contents(tmp_path):
    text = render_report(_full_context())
    for heading in ("Run summary", "Validation", "Score map", "Score distribution and thresholds",
                    "Cleaning", "Reader notes", "Warnings", "Configuration"):
        assert f">{heading}</h2>" in text
    assert "0.857" in text and "0.790 - 0.910" in text and "0.700 - 0.880" in text
    assert "x &lt; y" in text
    assert "Cu (ppm), Fe2O3 (pct)" in text and "6,864 valid grid cells on a 78 x 88 grid" in text
    assert ">42<" in text and "9.9.9" in text and "2026-01-02T03:04:05" in text
    # Class table: counts and shares.
    assert re.search(r"weak</td><td class=\"num\">80</td><td class=\"num\">8.0<", text)
    assert "No deposits given" not in text


def test_report_without_deposits_says_so_and_marks_interpolation():
    text = render_report(_full_context(metrics=None, roc_png=None, success_rate_png=None, n_deposits=None,
                                       is_grid=False, map_interpolated=True))
    assert "No deposits given: no validation" in text
    assert "INTERPOLATED" in text
    minimal = render_report(ReportContext())
    assert "No deposits given" in minimal and "No configuration recorded" in minimal


def test_report_with_real_figures(tmp_path):
    from geoanomaly.export import figures

    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    png = figures.score_histogram(scores, {"p95": float(np.percentile(scores, 95))})
    text = render_report(ReportContext(histogram_png=png, metrics=pd.DataFrame(
        {"protocol": ["p"], "auc": [0.7], "ci_low": [0.6], "ci_high": [0.8]})))
    encoded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1)
    assert base64.b64decode(encoded) == png
    assert "0.600 - 0.800" in text


def test_report_accepts_pipeline_metrics_shape():
    metrics = {"protocols": {"samples": {"roc_auc": 0.9123, "roc_auc_ci": [0.85, 0.95], "n_positive": 10,
                                         "fpr": [0.0, 1.0], "positives": "cells containing a deposit"}},
               "n_deposits": 10}
    text = render_report(ReportContext(metrics=metrics))
    assert "0.912" in text and "0.850 - 0.950" in text and ">10<" in text
    assert "cells containing a deposit" in text and "[0.0, 1.0]" not in text  # curves are not columns
    assert "Known deposits used: 10." in text
