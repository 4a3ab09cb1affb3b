"""The contract of the guided models (registry guidance "prior" or "labels"): they refuse to
run without what they learn from, are seeded and saved like the others, the fold runner never
lets a model see the labels of the area it scores, and every output says what was used."""

from __future__ import annotations

import numpy as np
import pytest

from geoanomaly.detect import make_detector
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.detect.registry import REGISTRY
from geoanomaly.errors import InputError

GUIDED = sorted(n for n, s in REGISTRY.items() if s.guidance != "none")
FAST = {"pcvae": {"epochs": 3, "warmup": 1}, "ssmvae": {"epochs": 2, "warmup": 1},
        "ppf-cnn": {"epochs": 2}}


def test_the_guided_models_are_registered_and_out_of_default_compare():
    assert {"pcvae", "ssmvae", "ppf-cnn"} <= set(GUIDED)
    assert all(not REGISTRY[n].in_compare for n in GUIDED)


def _map_input():
    from affine import Affine

    from geoanomaly.grid.windows import GridInput
    from geoanomaly.survey import Grid

    rng = np.random.default_rng(3)
    h, w = 24, 30
    grid = Grid(Affine(1000, 0, 0, 0, -1000, h * 1000), w, h, None, np.ones((h, w), bool))
    X = rng.normal(size=(h * w, 3))
    return GridInput.from_rows(grid, X, None, ("Cu", "Pb", "Zn"))


def _input(name):
    return _map_input() if REGISTRY[name].input_kind == "windows" else \
        np.random.default_rng(3).normal(size=(300, 4))


def _guide(name, n):
    rng = np.random.default_rng(5)
    if REGISTRY[name].guidance == "labels":
        y = np.zeros(n, dtype=np.int64)
        y[rng.choice(n, 12, replace=False)] = 1
        return {"y": y}
    return {"prior": rng.uniform(size=n)}


def _n(X):
    return X.n_cells if hasattr(X, "n_cells") else len(X)


@pytest.mark.parametrize("name", GUIDED)
def test_without_a_prior_or_labels_the_model_refuses_with_an_input_error(name):
    with pytest.raises(InputError):
        make_detector(name, **FAST[name]).fit(_input(name))


@pytest.mark.parametrize("name", GUIDED)
def test_seeded_finite_scores_that_survive_save_and_load(name, tmp_path):
    X = _input(name)
    guide = _guide(name, _n(X))
    a = make_detector(name, **FAST[name]).fit(X, **guide)
    b = make_detector(name, **FAST[name]).fit(X, **guide)
    scores = a.anomaly_score(X)
    assert scores.shape == (_n(X),) and np.isfinite(scores).all()
    assert np.array_equal(scores, b.anomaly_score(X))
    save_detector(a, tmp_path / "m")
    assert np.array_equal(load_detector(tmp_path / "m").anomaly_score(X), scores)


@pytest.mark.parametrize("name", [n for n in GUIDED if REGISTRY[n].guidance == "prior"])
def test_a_prior_model_ignores_y(name):
    X = _input(name)
    prior = _guide(name, _n(X))["prior"]
    y = np.zeros(_n(X), dtype=bool)
    y[:10] = True
    plain = make_detector(name, **FAST[name]).fit(X, prior=prior).anomaly_score(X)
    with_y = make_detector(name, **FAST[name]).fit(X, y, prior=prior).anomaly_score(X)
    assert np.array_equal(plain, with_y)


# -- the fold runner ------------------------------------------------------------------------

class _Spy:
    """Records what the fold runner gives each fold's model; scores = row index."""

    calls: list = []

    def fit(self, X, y=None, prior=None):
        _Spy.calls.append({"y": None if y is None else np.array(y),
                           "prior": None if prior is None else np.array(prior)})
        return self

    def anomaly_score(self, X):
        return np.arange(len(X), dtype=float)


def _points_data(n=900, n_deposits=9, seed=0):
    """A PreparedData-like object of a point survey on a 30 km square, deposits at samples."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 30_000, n), rng.uniform(0, 30_000, n)
    dep = rng.choice(n, n_deposits, replace=False)
    survey = SimpleNamespace(is_grid=False, crs=None, x=x, y=y, n=n)
    deposits = SimpleNamespace(x=x[dep], y=y[dep])
    return SimpleNamespace(survey=survey, deposits=deposits, metric_x=x, metric_y=y,
                           metric_crs=None, notes=[])


def test_a_fold_model_never_sees_the_labels_of_the_area_it_scores():
    from geoanomaly.config import make_config
    from geoanomaly.guided import _fit_in_folds, model_rows
    from geoanomaly.validate.spatial_folds import spatial_folds

    data = _points_data()
    config = make_config(sources=["x.csv"], model="ppf-cnn", radius=1500.0, folds=3)
    X = np.zeros((data.survey.n, 2))
    rows = model_rows(config, data, X)
    _Spy.calls = []
    models, scores, info = _fit_in_folds(config, data, X, _Spy, rows, prior_layers=None)
    folds = spatial_folds(rows.x, rows.y, n_folds=3, seed=config.seed).fold
    fold_of_deposit = spatial_folds(rows.x, rows.y, n_folds=3, seed=config.seed) \
        .fold_of_points(data.deposits.x, data.deposits.y)
    assert len(_Spy.calls) == 3 and info["uses_deposits"]
    for k, call in enumerate(_Spy.calls):
        y = call["y"]
        assert (y[folds == k] == -1).all()  # the held-out area is unlabelled
        held = fold_of_deposit == k
        dist = np.hypot(rows.x[:, None] - data.deposits.x[held][None, :],
                        rows.y[:, None] - data.deposits.y[held][None, :])
        near_held = (dist <= 1500.0).any(axis=1)
        assert (y[near_held] == -1).all()  # nor is anything a held-out deposit labels
        assert (y == 1).any() and (y == 0).any()
    # the map is made of held-out scores only, each a rank in [0, 1]
    assert np.isfinite(scores).all() and scores.min() >= 0 and scores.max() <= 1
    assert any("SUPERVISED" in note for note in data.notes)


def test_a_fold_without_training_deposits_is_refused_with_advice():
    from geoanomaly.config import make_config
    from geoanomaly.guided import _fit_in_folds, model_rows

    data = _points_data(n_deposits=1)
    config = make_config(sources=["x.csv"], model="ppf-cnn", radius=1500.0, folds=3)
    X = np.zeros((data.survey.n, 2))
    with pytest.raises(InputError, match="folds"):
        _fit_in_folds(config, data, X, _Spy, model_rows(config, data, X), prior_layers=None)


# -- end to end -----------------------------------------------------------------------------

@pytest.fixture
def geology(small_grid, tmp_path):
    """A fault through the fixture's deposits, and one barren fault, as a GeoPackage."""
    import geopandas
    from shapely.geometry import LineString

    folder, deposits = small_grid
    x0, y0 = 500000.0, 2800000.0
    lines = [LineString([(x0 + 12_500, y0 - 10_500), (x0 + 30_500, y0 - 25_500),
                         (x0 + 8_500, y0 - 33_500)]),
             LineString([(x0 + 45_000, y0 - 2_000), (x0 + 48_000, y0 - 38_000)])]
    path = tmp_path / "faults.gpkg"
    geopandas.GeoDataFrame({"name": ["mineralised", "barren"]}, geometry=lines,
                           crs="EPSG:32650").to_file(path, layer="faults")
    return folder, deposits, path


def test_pcvae_with_deposits_runs_in_folds_and_every_output_says_so(geology, tmp_path):
    import json

    import geoanomaly

    folder, deposits, faults = geology
    result = geoanomaly.run(sources=[str(folder)], deposits=str(deposits), model="pcvae",
                            control=[str(faults)], folds=2, epochs=3, n_boot=50,
                            out=str(tmp_path / "o"))
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["trained_with_deposits"] is True
    assert metrics["guidance"]["uses_deposits"] and metrics["guidance"]["n_folds"] == 2
    assert "KNOWLEDGE-GUIDED" in result.summary()
    assert any("KNOWLEDGE-GUIDED (uses deposits)" in n for n in result.data.notes)
    assert (tmp_path / "o" / "model" / "fold_2" / "model.json").exists()
    report = (tmp_path / "o" / "report.html").read_text()
    assert "What this model learned from" in report and "controlling function" in report.lower()
    assert np.isfinite(result.scores).all()


def test_pcvae_geology_prior_uses_no_deposits(geology, tmp_path):
    import geoanomaly

    folder, _, faults = geology
    result = geoanomaly.run(sources=[str(folder)], model="pcvae", control=[str(faults)],
                            epochs=3, out=str(tmp_path / "o"))
    assert result.data.guidance["uses_deposits"] is False
    assert any("geology, no deposits" in n for n in result.data.notes)


def test_pcvae_geology_prior_runs_on_a_point_survey_without_deposits(geology, tmp_path):
    """A point survey has no cells to label; without deposits it needs no label radius either
    (this once ended in an AttributeError)."""
    import geoanomaly
    import pandas as pd
    import rasterio

    folder, _, faults = geology
    rng = np.random.default_rng(5)
    with rasterio.open(folder / "Cu.tif") as src:
        rows, cols = rng.integers(0, src.height, 300), rng.integers(0, src.width, 300)
        x, y = src.xy(rows, cols)
    table = {"x": x, "y": y}
    for name in ("Cu", "Pb", "Zn", "Mn", "Fe2O3"):
        with rasterio.open(folder / f"{name}.tif") as src:
            table[name] = src.read(1)[rows, cols]
    pd.DataFrame(table).to_csv(tmp_path / "samples.csv", index=False)
    result = geoanomaly.run(sources=[str(tmp_path / "samples.csv")], model="pcvae",
                            control=[str(faults)], epochs=3, crs="EPSG:32650",
                            out=str(tmp_path / "o"))
    assert result.data.guidance["uses_deposits"] is False
    assert np.isfinite(result.scores).all() and (tmp_path / "o" / "targets.gpkg").exists()


def test_guided_models_refuse_to_run_without_what_they_learn_from(small_grid, tmp_path):
    import geoanomaly

    folder, deposits = small_grid
    with pytest.raises(InputError, match="--control"):
        geoanomaly.run(sources=[str(folder)], model="pcvae", epochs=2, out=str(tmp_path / "a"))
    with pytest.raises(InputError, match="--deposits"):
        geoanomaly.run(sources=[str(folder)], model="ppf-cnn", epochs=2, out=str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


def test_a_flat_prior_switches_the_penalty_off():
    from geoanomaly.guided import _penalty_for

    detector = make_detector("pcvae", lam=1.0)
    assert _penalty_for(detector, np.full(50, 0.5)).startswith("off") and detector.lam == 0.0
    detector = make_detector("pcvae", lam=1.0)
    assert _penalty_for(detector, np.linspace(0, 1, 50)) == "on" and detector.lam == 1.0
