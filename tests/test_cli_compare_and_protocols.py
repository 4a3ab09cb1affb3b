"""compare, the OpenGADBench protocols, levelling and fractal / WofE thresholds through the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geoanomaly.cli import main

FAST = ["--epochs", "6", "--patience", "3", "--n-boot", "100"]


def test_compare_writes_table_scores_and_report(small_csv, tmp_path, capsys):
    survey, deposits = small_csv
    out = tmp_path / "cmp"
    rc = main(["compare", str(survey), "--crs", "EPSG:32750", "--deposits", str(deposits),
               "--out", str(out), "--models", "vae,mcd,pca,univariate", "--target", "Cu",
               "--threshold", "ca", "--radius", "1500", "--stratify-by", "LAB_BATCH", *FAST])
    assert rc == 0
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["model"]) == ["vae", "mcd", "pca", "univariate"]
    for col in ("samples AUC", "opengad AUC", "opengad std", "opengad-stratified AUC"):
        assert table[col].between(0, 1).all(), col
    scores = pd.read_csv(out / "scores.csv")
    assert {"score_vae", "score_mcd", "class_pca", "near_deposit"} <= set(scores.columns)
    html = (out / "report.html").read_text()
    assert "concentration-area" in html and "Comparison table" in html
    assert html.count("data:image/png;base64") >= 6


def test_run_with_target_levelling_protocols_and_t_threshold(small_csv, tmp_path):
    survey, deposits = small_csv
    out = tmp_path / "run"
    rc = main(["run", str(survey), "--crs", "EPSG:32750", "--deposits", str(deposits),
               "--out", str(out), "--target", "Fe-poly", "--level-by", "LAB_BATCH",
               "--stratify-by", "LAB_BATCH", "--threshold", "t", "--score", "enrich",
               "--smooth-k", "4", "--radius", "1500", *FAST])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["protocols"]) == {"samples", "opengad", "opengad-stratified"}
    assert metrics["protocols"]["opengad"]["n_draws"] == 20
    assert "enrichment-only" in metrics["score"] and "4 nearest" in metrics["score"]
    assert metrics["weights_of_evidence"]["t_max_threshold"] is not None
    assert 0 <= metrics["success_rate"]["auc"] <= 1
    import re

    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (out / "report.html").read_text())
    assert "Eilu" not in html and "Luo, Z." in html  # the Fe-poly set's citation is reported
    assert "levelled per LAB_BATCH" in html


def test_bad_level_by_column(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    rc = main(["run", str(survey), "--crs", "EPSG:32750", "--level-by", "SURVEY",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "SURVEY" in capsys.readouterr().err


def test_stratified_needs_a_column(small_csv, tmp_path, capsys):
    survey, deposits = small_csv
    rc = main(["run", str(survey), "--crs", "EPSG:32750", "--deposits", str(deposits),
               "--protocols", "opengad-stratified", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "--stratify-by" in capsys.readouterr().err
