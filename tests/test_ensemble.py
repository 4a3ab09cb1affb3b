"""Ensembles (--ensemble N, ensemble_architectures) and fusion (--model vae+mcd): the rank
maths, the member plan, determinism, the outputs (score_std, uncertainty.tif, model/member_K)
and the refusals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import geoanomaly
from geoanomaly.cli import main
from geoanomaly.config import make_config
from geoanomaly.ensemble import combine_ranks, fit_ensemble, percentile_rank, plan_members
from geoanomaly.errors import InputError

FAST = ["--epochs", "6", "--patience", "3", "--n-boot", "100"]
FAST_OPTIONS = dict(epochs=6, patience=3, n_boot=100, progress=False)


# ------------------------------------------------------------------ pure maths and planning

def test_combine_ranks_mean_and_std():
    ranks = np.array([[0.1, 0.5, 1.0],
                      [0.3, 0.5, 0.0]])
    mean, std = combine_ranks(ranks)
    np.testing.assert_allclose(mean, [0.2, 0.5, 0.5])
    np.testing.assert_allclose(std, [0.1, 0.0, 0.5])  # population std of the member ranks
    mean, std = combine_ranks(ranks, [3, 1])  # normalised weights 0.75 / 0.25
    np.testing.assert_allclose(mean, [0.15, 0.5, 0.75])
    np.testing.assert_allclose(std, np.sqrt([0.75 * 0.05 ** 2 + 0.25 * 0.15 ** 2, 0.0,
                                             0.75 * 0.25 ** 2 + 0.25 * 0.75 ** 2]))
    one, zero = combine_ranks(ranks[:1])
    np.testing.assert_allclose(one, ranks[0])
    assert not zero.any()
    with pytest.raises(ValueError):
        combine_ranks(ranks, [1.0])


def test_percentile_rank_lies_in_0_1_and_keeps_order():
    r = percentile_rank([5.0, -2.0, 100.0, 5.0])
    np.testing.assert_allclose(r, [0.625, 0.25, 1.0, 0.625])  # ties share their mean rank


def test_plan_members_seeds_architectures_and_weights():
    members = plan_members("vae", 4, seed=7, architectures=[[24, 12], [16, 8]])
    assert [m.seed for m in members] == [7, 8, 9, 10]
    assert [m.hidden for m in members] == [(24, 12), (16, 8), (24, 12), (16, 8)]
    assert all(m.weight == pytest.approx(0.25) for m in members)

    fused = plan_members("vae+mcd", 3, seed=0, fusion_weights=[2, 1], hidden=[24, 12])
    assert [m.model for m in fused] == ["vae", "vae", "vae", "mcd"]
    assert [m.weight for m in fused] == pytest.approx([2 / 9, 2 / 9, 2 / 9, 1 / 3])
    assert fused[-1].hidden is None and not fused[-1].seeded
    assert sum(m.weight for m in fused) == pytest.approx(1.0)

    assert len(plan_members("iforest+pca", 1)) == 2


# ------------------------------------------------------------------ fitting

def _prepared(small_csv, **options):
    from geoanomaly.pipeline import prepare

    survey, deposits = small_csv
    config = make_config(sources=[str(survey)], crs="EPSG:32750", **FAST_OPTIONS, **options)
    return config, prepare(config)


def test_same_seed_same_ensemble_and_members_differ(small_csv):
    config, data = _prepared(small_csv, ensemble=2)
    first = fit_ensemble(config, data)
    again = fit_ensemble(config, data)
    np.testing.assert_array_equal(first.score_, again.score_)
    np.testing.assert_array_equal(first.score_std_, again.score_std_)
    assert [m.seed for m in first.members] == [0, 1]
    # two seeds, two different fits: their ranks differ, so the spread is not zero
    assert not np.array_equal(first.ranks_[0], first.ranks_[1])
    assert first.score_std_.max() > 0
    np.testing.assert_allclose(first.score_, first.ranks_.mean(axis=0))
    # seeds 1, 2: the seed-1 member is the same fit as in the first ensemble, the score differs
    other = fit_ensemble(dataclasses.replace(config, seed=1), data)
    np.testing.assert_array_equal(other.ranks_[0], first.ranks_[1])
    assert not np.array_equal(first.score_, other.score_)


def test_grid_ensemble_writes_uncertainty_on_the_anomaly_grid(small_grid, tmp_path):
    import rasterio

    folder, deposits = small_grid
    out = tmp_path / "out"
    assert main(["run", str(folder), "--deposits", str(deposits), "--out", str(out),
                 "--ensemble", "2", "--ensemble-architectures", "24-12,16-8", *FAST]) == 0
    with rasterio.open(out / "anomaly.tif") as a, rasterio.open(out / "uncertainty.tif") as u:
        assert (u.width, u.height, u.transform, u.crs) == (a.width, a.height, a.transform, a.crs)
        assert u.tags()["INTERPOLATED"] == "no"
        assert np.array_equal(a.read(1, masked=True).mask, u.read(1, masked=True).mask)
    scores = pd.read_csv(out / "scores.csv")
    assert "score_std" in scores.columns and (scores["score_std"] >= 0).all()
    assert scores["score"].between(0, 1).all()
    metrics = json.loads((out / "metrics.json").read_text())
    members = metrics["ensemble"]["members"]
    assert metrics["ensemble"]["combine"] == "mean percentile rank"
    assert [(m["seed"], m["hidden"]) for m in members] == [(0, [24, 12]), (1, [16, 8])]
    for k in (1, 2):
        assert (out / f"model/member_{k}/model.json").is_file()
    saved = json.loads((out / "model/ensemble.json").read_text())
    assert [m["folder"] for m in saved["members"]] == ["member_1", "member_2"]
    html = (out / "report.html").read_text()
    assert "Uncertainty (score_std)" in html and "Ensemble of 2 members" in html


def test_fusion_via_cli_on_points_with_weights(small_csv, tmp_path):
    import geopandas as gpd
    import rasterio

    survey, deposits = small_csv
    out = tmp_path / "out"
    assert main(["run", str(survey), "--deposits", str(deposits), "--out", str(out), "--crs",
                 "EPSG:32750", "--radius", "1500", "--model", "vae+mcd", "--fusion-weights",
                 "2,1", *FAST]) == 0
    with rasterio.open(out / "anomaly.tif") as a, rasterio.open(out / "uncertainty.tif") as u:
        assert (u.width, u.height, u.transform, u.crs) == (a.width, a.height, a.transform, a.crs)
        assert "yes" in u.tags()["INTERPOLATED"]
        assert np.array_equal(a.read(1, masked=True).mask, u.read(1, masked=True).mask)
    scores = pd.read_csv(out / "scores.csv")
    assert "score_std" in scores.columns
    points = gpd.read_file(out / "anomalies.gpkg")
    np.testing.assert_allclose(points["score_std"], scores["score_std"])
    ens = json.loads((out / "metrics.json").read_text())["ensemble"]
    assert [m["model"] for m in ens["members"]] == ["vae", "mcd"]
    assert [m["weight"] for m in ens["members"]] == pytest.approx([2 / 3, 1 / 3])
    assert ens["combine"] == "weighted mean percentile rank"
    assert "Fusion of 2 members" in (out / "report.html").read_text()


def test_fusion_and_ensemble_via_python_api(small_csv, tmp_path):
    survey, deposits = small_csv
    result = geoanomaly.run(sources=[str(survey)], deposits=str(deposits), crs="EPSG:32750",
                            out=str(tmp_path / "api"), model="iforest+mcd", ensemble=2,
                            fusion_weights=[1, 1], **FAST_OPTIONS)
    members = result.detector.members
    assert [(m.model, m.seed) for m in members] == [("iforest", 0), ("iforest", 1), ("mcd", 0)]
    assert result.score_std is not None and len(result.score_std) == len(result.scores)
    assert (tmp_path / "api" / "uncertainty.tif").is_file()
    assert result.metrics["ensemble"]["members"][2]["deterministic"] is True


def test_single_run_outputs_unchanged(small_grid, tmp_path):
    folder, deposits = small_grid
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--model", "pca"]) == 0
    assert not (out / "uncertainty.tif").exists()
    assert "score_std" not in pd.read_csv(out / "scores.csv").columns
    assert not (out / "model" / "ensemble.json").exists()


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("args, message", [
    (["--model", "vae+foo"], "'foo' is not one of vae, pcvae, ppca"),
    (["--model", "bogus"], "model = 'bogus' is not one of"),
    (["--model", "mcd", "--ensemble", "3"], "Model mcd is deterministic"),
    (["--model", "pca+mcd", "--ensemble", "2"], "is deterministic"),
    (["--model", "vae+mcd", "--fusion-weights", "2,1,1"], "3 weights for the 2 detectors"),
    (["--model", "vae", "--fusion-weights", "2"], "fused model"),
    (["--model", "vae+vae"], "more than once"),
    (["--ensemble", "0"], "must be a whole number"),
    (["--ensemble", "2", "--ensemble-architectures", "24-12,16-8,8"], "--ensemble 3 or more"),
    (["--model", "iforest", "--ensemble", "2", "--ensemble-architectures", "8"], "vae or ae"),
])
def test_bad_combinations_exit_2_with_a_sentence(small_csv, tmp_path, capsys, args, message):
    survey, _ = small_csv
    rc = main(["run", str(survey), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.startswith("geoanomaly: error: ")
    assert not (tmp_path / "out").exists()


def test_config_parses_the_text_forms():
    config = make_config(sources=["x.csv"], model="ae+iforest", ensemble=3,
                         ensemble_architectures="24-12,16-8", fusion_weights="2,1")
    assert config.ensemble_architectures == [[24, 12], [16, 8]]
    assert config.fusion_weights == [2.0, 1.0]
    yaml_like = make_config(sources=["x.csv"], ensemble=2,
                            ensemble_architectures=[[24, 12], "16-8"])
    assert yaml_like.ensemble_architectures == [[24, 12], [16, 8]]
    with pytest.raises(InputError, match="hidden-layer widths"):
        make_config(sources=["x.csv"], ensemble=2, ensemble_architectures="24-x")
