"""geoanomaly study (label-free model selection) and Moran's I."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml

from geoanomaly.cli import main
from geoanomaly.config import load_config_file, make_config
from geoanomaly.errors import InputError
from geoanomaly.study import (DEFAULT_SCORES, StudyGrid, candidate_scores, grid_from_dict,
                              load_grid, run_study, select_label_free, spatial_blocks)
from geoanomaly.validate.moran import knn_indices, morans_i

# ------------------------------------------------------------------------------ Moran's I


def test_morans_i_hand_computed():
    # points at x = 0, 1, 3, 6: nearest neighbours 0->1, 1->0, 2->1, 3->2 (no ties)
    # z = -1.5, -0.5, 0.5, 1.5; sum z*lag = 0.75 + 0.75 - 0.25 + 0.75 = 2; sum z^2 = 5
    x = np.array([0.0, 1.0, 3.0, 6.0])
    assert morans_i([1, 2, 3, 4], x, np.zeros(4), k=1) == pytest.approx(0.4)


def test_morans_i_checkerboard_and_gradient():
    rows, cols = np.mgrid[0:10, 0:10]
    x, y = cols.ravel() * 100.0, rows.ravel() * 100.0
    checker = ((rows + cols) % 2 * 2 - 1).ravel()
    # k = 4: 64 interior cells see 4 opposite rook neighbours (lag = -z), 32 edge cells 3
    # opposite + 1 diagonal of their own sign (lag = -z/2), 4 corners 2 + 2 (lag 0):
    # I = (-64 - 16) / 100 whatever the tie-breaking (tied candidates share their sign)
    assert morans_i(checker, x, y, k=4) == pytest.approx(-0.8)
    assert morans_i(x, x, y, k=8) > 0.85  # a smooth west-east gradient
    rng = np.random.default_rng(0)
    assert abs(morans_i(rng.normal(size=100), x, y, k=8)) < 0.2  # no pattern


def test_morans_i_matches_dense_weights_and_skips_self_duplicates():
    rng = np.random.default_rng(3)
    x, y, v = rng.uniform(0, 1000, 60), rng.uniform(0, 1000, 60), rng.normal(size=60)
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.fill_diagonal(d, np.inf)
    w = np.zeros_like(d)
    for i, row in enumerate(np.argsort(d, axis=1)[:, :5]):
        w[i, row] = 1 / 5
    z = v - v.mean()
    dense = len(v) / w.sum() * (z @ w @ z) / (z @ z)
    assert morans_i(v, x, y, k=5) == pytest.approx(dense)
    xd, yd = np.repeat(x[:10], 3), np.repeat(y[:10], 3)  # three samples per position
    index = knn_indices(xd, yd, 2)
    assert not (index == np.arange(30)[:, None]).any()
    assert np.isnan(morans_i(np.ones(30), xd, yd, k=2))
    with pytest.raises(InputError):
        morans_i([1.0, np.nan, 2.0], [0, 1, 2], [0, 0, 0], k=1)


# ------------------------------------------------------------------------------ the study

GRID = {"architectures": [{"hidden": [8]}, {"hidden": [12, 6], "latent_dim": 2}],
        "scores": ["enrich", "kl", "elbo", "recon"], "blocks": 3}
FAST = ["--seeds", "2", "--epochs", "4", "--patience", "2", "--n-boot", "20", "--no-progress",
        "--jobs", "1"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """300 samples on a 20 km square (EPSG:32750), Cu-Pb-Zn halos around 4 deposits."""
    rng = np.random.default_rng(5)
    n = 300
    xs = 400000 + rng.uniform(0, 20000, n)
    ys = 6400000 + rng.uniform(0, 20000, n)
    deposits = [(404000.0, 6404000.0), (416000.0, 6405000.0), (405000.0, 6416000.0),
                (415000.0, 6415000.0)]
    halo = sum(np.exp(-((xs - dx) ** 2 + (ys - dy) ** 2) / (2 * 1500.0 ** 2))
               for dx, dy in deposits)
    base = rng.normal(size=n)
    table = pd.DataFrame({
        "EASTING": xs, "NORTHING": ys,
        "Cu_ppm": np.exp(3.0 + 0.4 * base + 0.3 * rng.normal(size=n) + 2.0 * halo),
        "Pb_ppm": np.exp(2.5 + 0.3 * base + 0.3 * rng.normal(size=n) + 1.5 * halo),
        "Zn_ppm": np.exp(4.0 + 0.3 * base + 0.3 * rng.normal(size=n) + 1.5 * halo),
        "Mn_ppm": np.exp(6.5 + 0.3 * rng.normal(size=n) + 0.5 * halo)})
    folder = tmp_path_factory.mktemp("study")
    path, dep = folder / "survey.csv", folder / "deposits.csv"
    table.to_csv(path, index=False)
    pd.DataFrame({"x": [d[0] for d in deposits], "y": [d[1] for d in deposits]}).to_csv(
        dep, index=False)
    grid = folder / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    return folder, path, dep, grid


def _options(path, **more):
    return dict(sources=[str(path)], crs="EPSG:32750", epochs=4, patience=2, n_boot=20, **more)


@pytest.fixture(scope="module")
def label_free_cli(survey):
    folder, path, dep, grid = survey
    out = folder / "lf"
    rc = main(["study", str(path), "--crs", "EPSG:32750", "--deposits", str(dep), "--radius",
               "1500", "--grid", str(grid), "--out", str(out), *FAST])
    assert rc == 0
    return out


def test_study_writes_outputs_and_columns(label_free_cli):
    out = label_free_cli
    assert {p.name for p in out.iterdir()} == {"study.csv", "study.html", "chosen.yaml"}
    table = pd.read_csv(out / "study.csv")
    for column in ("architecture", "hidden", "latent_dim", "beta", "learning_rate", "epochs",
                   "score", "val_neg_elbo", "stability", "architecture_stability", "morans_i",
                   "fit_seconds", "score_seconds", "seconds", "auc_samples", "auc_opengad",
                   "kept_by_stability", "label_free_choice", "chosen", "selected_by"):
        assert column in table.columns, column
    assert len(table) == 2 * 4 and table["chosen"].sum() == 1
    # only one-sided (enrichment) scores are candidates of the label-free score choice
    assert set(table.loc[table["candidate_score"], "score"]) == {"enrich"}
    assert table.loc[table["chosen"], "score"].iloc[0] == "enrich"
    assert (table["chosen"] == table["label_free_choice"]).all()
    assert table["selected_by"].str.startswith("label-free").all()
    # the validation ELBO belongs to the architecture: one value per architecture
    assert (table.groupby("architecture")["val_neg_elbo"].nunique() == 1).all()
    assert table["stability"].between(-1, 1).all() and table["auc_samples"].between(0, 1).all()
    html = (out / "study.html").read_text()
    assert "Chosen label-free" in html and "lowest validation negative ELBO" in html
    assert "never reads them" in html and "DEPOSITS CHOSE" not in html
    assert html.count("data:image/png;base64") >= 6 and "http://" not in html


def test_chosen_yaml_round_trips_into_run(label_free_cli, survey, tmp_path):
    folder, path, dep, _ = survey
    chosen = label_free_cli / "chosen.yaml"
    text = chosen.read_text()
    assert text.startswith("# geoanomaly study: chosen label-free")
    options = load_config_file(chosen)
    row = pd.read_csv(label_free_cli / "study.csv").query("chosen").iloc[0]
    config = make_config(options, sources=[str(path)], out=str(tmp_path / "run"))
    assert config.score == row["score"] and config.latent_dim == row["latent_dim"]
    assert "-".join(map(str, config.hidden)) == str(row["hidden"])
    assert config.epochs == 4 and config.crs == "EPSG:32750" and config.radius == 1500
    rc = main(["run", "--config", str(chosen), str(path), "--out", str(tmp_path / "run"),
               "--no-progress"])
    assert rc == 0 and (tmp_path / "run" / "scores.csv").is_file()


@pytest.fixture(scope="module")
def no_deposits(survey):
    _, path, _, grid = survey
    return run_study(make_config(**_options(path)), grid=grid, seeds=2, jobs=1)


def test_deposits_never_change_the_label_free_pick(label_free_cli, no_deposits):
    with_deposits = pd.read_csv(label_free_cli / "study.csv")
    result = no_deposits
    assert not any(c.startswith("auc_") for c in result.table.columns)
    criteria = ["val_neg_elbo", "stability", "morans_i"]
    np.testing.assert_allclose(result.table[criteria].to_numpy(),
                               with_deposits[criteria].to_numpy(), rtol=1e-5)
    assert result.table["chosen"].tolist() == with_deposits["chosen"].tolist()
    # the rule reads no AUC column: scrambling the AUCs changes nothing
    table = with_deposits.copy()
    before = select_label_free(table, StudyGrid())
    table["auc_samples"] = np.random.default_rng(1).uniform(size=len(table))
    table["auc_opengad"] = 1.0 - table["auc_samples"]
    assert select_label_free(table, StudyGrid()) == before
    assert select_label_free(table.drop(columns=["auc_samples", "auc_opengad"]),
                             StudyGrid()) == before


def test_study_is_deterministic_for_a_seed(survey, no_deposits):
    _, path, _, grid = survey
    a = no_deposits.table
    b = run_study(make_config(**_options(path)), grid=grid, seeds=2, jobs=1).table
    timing = [c for c in a.columns if "seconds" in c]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))


def test_blocked_auc_marks_every_output(survey):
    folder, path, dep, grid = survey
    out = folder / "blocked"
    rc = main(["study", str(path), "--crs", "EPSG:32750", "--deposits", str(dep), "--radius",
               "1500", "--grid", str(grid), "--out", str(out), "--select-by", "blocked-auc",
               *FAST])
    assert rc == 0
    table = pd.read_csv(out / "study.csv")
    assert table["selected_by"].str.contains("deposits").all()
    assert table["blocked_auc"].between(0, 1).all()
    assert table.loc[table["chosen"], "blocked_auc"].iloc[0] == table["blocked_auc"].max()
    assert (out / "chosen.yaml").read_text().startswith(
        "# geoanomaly study: DEPOSITS CHOSE THIS MODEL")
    html = (out / "study.html").read_text()
    assert "DEPOSITS CHOSE THE MODEL" in html and "Held-out block" in html
    make_config(load_config_file(out / "chosen.yaml"))  # still a valid run configuration


def test_spatial_blocks_are_strips_cut_between_deposits():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 40000, 500), rng.uniform(0, 10000, 500)  # long axis: x
    dep_x = np.array([5000.0, 6000, 7000, 21000, 22000, 23000])
    blocks = spatial_blocks(x, y, 3, dep_x, np.full(6, 5000.0))
    # cuts half-way between the 2nd/3rd and 4th/5th deposits along x: 6500 and 21500
    order = np.argsort(x)
    assert (np.diff(blocks[order]) >= 0).all() or (np.diff(blocks[order]) <= 0).all()
    inner = blocks[(x > 6600) & (x < 21400)]
    assert len(set(inner)) == 1 and len(set(blocks)) == 3
    assert len(set(spatial_blocks(x, y, 9, dep_x[:2], np.zeros(2)))) == 2  # one per deposit


def test_bad_input(survey, tmp_path, capsys):
    _, path, _, grid = survey
    with pytest.raises(InputError, match="colour"):
        grid_from_dict({"architectures": [{"hidden": [8]}], "colour": "red"})
    with pytest.raises(InputError, match="dropout"):
        grid_from_dict({"architectures": [{"hidden": [8], "dropout": 0.1}]})
    with pytest.raises(InputError, match="sparkle"):
        grid_from_dict({"scores": ["enrich", "sparkle"]})
    with pytest.raises(InputError, match="nll"):
        grid_from_dict({"scores": ["enrich", "kl"], "candidate_scores": ["nll"]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("architectures: [{hidden: [8], width: 3}]\n")
    with pytest.raises(InputError, match="width"):
        load_grid(bad)
    config = make_config(**_options(path))
    with pytest.raises(InputError, match="2 seeds"):
        run_study(config, grid=grid, seeds=1)
    with pytest.raises(InputError, match="jobs"):
        run_study(config, grid=grid, jobs=0)
    with pytest.raises(InputError, match="deposits"):
        run_study(config, grid=grid, select_by="blocked-auc")
    with pytest.raises(InputError, match="VAE"):
        run_study(dataclasses.replace(config, model="ae"), grid=grid)
    with pytest.raises(InputError, match="ensemble"):
        run_study(dataclasses.replace(config, ensemble=3), grid=grid)
    rc = main(["study", str(path), "--crs", "EPSG:32750", "--grid", str(bad), "--out",
               str(tmp_path / "o"), *FAST])
    assert rc == 2 and "width" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_default_grid_is_the_documented_one():
    grid = StudyGrid()
    labels = [a.label for a in grid.architectures]
    assert labels == ["24-12-3", "24-3", "32-16-3", "16-8-3", "24-12-2", "24-12-4",
                      "24-12-3 beta 0.5", "24-12-3 lr 0.003"]
    assert grid.scores == DEFAULT_SCORES and grid.epochs is None
    assert set(DEFAULT_SCORES) == {"enrich", "kl", "elbo", "nll", "enrich-elbo", "combined",
                                   "recon"}
    # the score: the package default (chosen across surveys), else the one-sided scores, else
    # every score; a grid's own candidate list wins
    assert candidate_scores(grid, list(DEFAULT_SCORES)) == ["enrich-elbo"]
    assert candidate_scores(grid, ["enrich", "kl", "combined"]) == ["enrich", "combined"]
    assert candidate_scores(grid, ["recon", "kl"]) == ["recon", "kl"]
    custom = grid_from_dict({"scores": ["enrich", "kl"], "candidate_scores": ["kl"]})
    assert candidate_scores(custom, ["enrich", "kl"]) == ["kl"]



def test_the_python_api_runs_a_study_like_the_cli(survey, no_deposits, tmp_path):
    import geoanomaly

    _, path, _, grid = survey
    result = geoanomaly.run_study(grid=grid, seeds=2, out=str(tmp_path / "api"), **_options(path))
    assert (tmp_path / "api" / "chosen.yaml").is_file()
    assert result.chosen_config.hidden == no_deposits.chosen_config.hidden


def test_the_ensemble_hint_lists_the_best_stable_architectures_and_parses(tmp_path):
    import pandas as pd

    from geoanomaly.config import load_config_file
    from geoanomaly.study import ensemble_hint

    table = pd.DataFrame({"architecture": ["24-12-3", "24-12-3", "32-16-3", "24-3", "16-8-3"],
                          "hidden": ["24-12", "24-12", "32-16", "24", "16-8"],
                          "val_neg_elbo": [5.0, 5.0, 4.8, 4.9, 4.0],
                          "kept_by_stability": [True, True, True, True, False]})
    hint = ensemble_hint(table)
    lines = [line[2:] for line in hint.splitlines() if line.startswith("# ensemble")]
    assert lines == ["ensemble: 3", "ensemble_architectures: [[32, 16], [24], [24, 12]]"]
    path = tmp_path / "ensemble.yaml"
    path.write_text("sources: [x.csv]\n" + "\n".join(lines) + "\n")
    options = load_config_file(path)
    make_config(**options)
    assert ensemble_hint(table.iloc[:2]) == ""  # one architecture: no ensemble to offer
