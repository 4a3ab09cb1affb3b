"""The whole path a user walks, through the CLI, on small generated CSV and GeoTIFF inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from geoanomaly.cli import main

FAST = ["--epochs", "8", "--patience", "3", "--n-boot", "200"]


def test_csv_survey_end_to_end(small_csv, tmp_path, capsys):
    survey, deposits = small_csv
    out = tmp_path / "out"
    before = survey.read_bytes()
    rc = main(["run", str(survey), "--deposits", str(deposits), "--out", str(out), "--crs",
               "EPSG:32750", "--radius", "1500", *FAST])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "ROC AUC (samples)" in printed and "report.html" in printed
    assert survey.read_bytes() == before  # the user's file is never modified

    for name in ("scores.csv", "anomaly.tif", "anomalies.gpkg", "metrics.json", "run.yaml",
                 "report.html", "model/model.json", "model/preprocessing.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".geoanomaly-staging-*"))

    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns[:4]) == ["x", "y", "score", "class"]
    assert len(scores) == 400
    assert np.isfinite(scores["score"]).all()

    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["protocols"]["samples"]
    assert m["protocol"] == "samples"
    lo, hi = m["roc_auc_ci"]
    assert lo <= m["roc_auc"] <= hi
    assert m["n_positive"] > 0 and m["n_negative"] > 0
    # the planted halos are strong: the VAE must find them even after a few epochs
    assert m["roc_auc"] > 0.7

    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["seed"] == 0 and record["config"]["model"] == "vae"
    assert "torch" in record["versions"]

    import rasterio
    with rasterio.open(out / "anomaly.tif") as src:
        assert "yes" in src.tags()["INTERPOLATED"]
        assert src.crs.to_epsg() == 32750

    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "http://" not in html


def test_grid_survey_keeps_the_input_grid(small_grid, tmp_path):
    import rasterio

    folder, deposits = small_grid
    out = tmp_path / "out"
    assert main(["run", str(folder), "--deposits", str(deposits), "--out", str(out), *FAST]) == 0
    with rasterio.open(folder / "Cu.tif") as ref, rasterio.open(out / "anomaly.tif") as got:
        assert got.transform == ref.transform and got.crs == ref.crs
        assert (got.width, got.height) == (ref.width, ref.height)
        band = got.read(1, masked=True)
        assert band.mask[0, :3].all()  # the nodata corner stays nodata
        assert got.tags()["INTERPOLATED"] == "no"
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 40 * 50 - 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocols"]["samples"]["n_positive"] == 3
    assert not (out / "anomalies.gpkg").exists()


def test_same_seed_same_scores(small_grid, tmp_path):
    folder, _ = small_grid
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["run", str(folder), "--out", str(a), "--seed", "3", *FAST]) == 0
    assert main(["run", str(folder), "--out", str(b), "--seed", "3", *FAST]) == 0
    assert main(["run", str(folder), "--out", str(c), "--seed", "4", *FAST]) == 0
    sa, sb, sc = (pd.read_csv(p / "scores.csv")["score"].to_numpy() for p in (a, b, c))
    assert np.array_equal(sa, sb)
    assert not np.array_equal(sa, sc)
    assert not (a / "metrics.json").exists()  # no deposits, no metrics


def test_config_file_and_other_models(small_csv, tmp_path):
    survey, deposits = small_csv
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"crs": "EPSG:32750", "model": "ae", "epochs": 5,
                                   "threshold": "mad", "transform": "ilr", "n_boot": 100}))
    out = tmp_path / "out"
    assert main(["run", str(survey), "--out", str(out), "--config", str(cfg),
                 "--deposits", str(deposits)]) == 0
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["config"]["model"] == "ae" and record["config"]["transform"] == "ilr"
    scores = pd.read_csv(out / "scores.csv")
    assert scores["class_name"].str.contains("MAD").any()


def test_rp_score_runs(small_grid, tmp_path):
    folder, deposits = small_grid
    out = tmp_path / "out"
    assert main(["run", str(folder), "--deposits", str(deposits), "--out", str(out), "--score",
                 "rp", "--n-samples", "10", *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "reconstruction probability" in metrics["score"]


def test_python_api(small_grid, tmp_path):
    import geoanomaly

    folder, deposits = small_grid
    result = geoanomaly.run(sources=[str(folder)], deposits=str(deposits), out=str(tmp_path / "o"),
                            epochs=5, n_boot=100)
    assert result.scores.shape == (40 * 50 - 3,)
    assert 0.0 <= result.metrics["protocols"]["samples"]["roc_auc"] <= 1.0


def test_help_is_fast_and_light():
    code = ("import sys; from geoanomaly.cli import build_parser; build_parser().format_help(); "
            "assert 'torch' not in sys.modules and 'geopandas' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run([sys.executable, "-m", "geoanomaly.cli", "run", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "--deposits" in done.stdout


@pytest.mark.parametrize("model", ["mcd", "pca", "iforest"])
def test_classic_models_through_cli(small_csv, tmp_path, model):
    survey, deposits = small_csv
    out = tmp_path / model
    assert main(["run", str(survey), "--crs", "EPSG:32750", "--deposits", str(deposits),
                 "--out", str(out), "--model", model, "--n-boot", "100"]) == 0
    assert (out / "report.html").is_file()


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "10", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "ROC AUC (samples)" in printed and str(out / "report.html") in printed
    metrics = json.loads((out / "metrics.json").read_text())
    # the demo's halos are strong: even 10 epochs find them well above chance
    assert metrics["protocols"]["samples"]["roc_auc"] > 0.75
    assert (out / "data" / "grid" / "Cu.tif").is_file()
