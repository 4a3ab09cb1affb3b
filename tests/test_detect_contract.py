"""One contract, every registered detector: a new detector cannot silently break fitting,
the score sign, seeding, input checks, cloning or save/load."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from geoanomaly.detect import DETECTORS, make_detector
from geoanomaly.detect.registry import REGISTRY
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.errors import InputError

N_BULK, N_OUT, N_FEATURES = 296, 4, 5
#: few epochs keep the deep models fast; enough to rank far outliers above the bulk
FAST = {"vae": {"epochs": 15, "batch_size": 32}, "ae": {"epochs": 15, "batch_size": 32},
        "iforest": {"n_estimators": 50},
        # the published Adam 2e-4 needs ~5,000 steps; a larger step gets there in 30 epochs
        "ganomaly": {"epochs": 30, "batch_size": 32, "learning_rate": 2e-3},
        "igan": {"epochs": 40, "batch_size": 32, "learning_rate": 3e-3,
                 "encoder_learning_rate": 1e-2, "encoder_epochs": 60}}
SEEDED = ["vae", "ae", "iforest", "infodan", "ganomaly", "igan"]
#: models that save/load to identical scores without refitting
ROUND_TRIP = ["vae", "ae", "ppca", "infodan", "ganomaly", "igan", "mcd", "pca", "univariate"]


def _data() -> tuple[np.ndarray, np.ndarray]:
    """(training rows, scored rows): a correlated Gaussian bulk (2-factor structure) to fit on,
    and the same bulk plus 4 outliers that break the correlation (+4 on even features, -4 on
    odd ones; feature 0, the univariate one, goes up).  Fitting on the bulk only tests the sign
    convention, not how well a model resists outliers inside its training data (masking)."""
    rng = np.random.default_rng(42)
    factors = rng.normal(size=(N_BULK, 2))
    bulk = factors @ rng.normal(size=(2, N_FEATURES)) + 0.3 * rng.normal(size=(N_BULK, N_FEATURES))
    bulk = (bulk - bulk.mean(0)) / bulk.std(0)
    outliers = np.where(np.arange(N_FEATURES) % 2 == 0, 4.0, -4.0) \
        + 0.3 * rng.normal(size=(N_OUT, N_FEATURES))
    return bulk, np.vstack([bulk, outliers])


X_TRAIN, X = _data()
IS_OUTLIER = np.arange(len(X)) >= N_BULK


def _input(name, rows):
    """What the detector takes: feature rows, or for a model that does its own log-ratio
    transform (registry input_kind "composition") positive compositions exp(rows)."""
    return np.exp(rows) if REGISTRY[name].input_kind == "composition" else rows


def _make(name, **params):
    return make_detector(name, **{**FAST.get(name, {}), **params})


@functools.lru_cache(maxsize=None)
def _fitted(name, seed=None):
    params = {} if seed is None else {"seed": seed}
    return _make(name, **params).fit(_input(name, X_TRAIN))


@functools.lru_cache(maxsize=None)
def _scores(name, seed=None):
    return _fitted(name, seed).anomaly_score(_input(name, X))


#: row models; map models (input_kind "windows") have their own contract,
#: tests/test_detect_contract_maps.py
#: the unsupervised row models (guided ones need a prior or labels: test_detect_contract_guided)
ROW_MODELS = sorted(n for n in DETECTORS if REGISTRY[n].input_kind != "windows"
                    and REGISTRY[n].guidance == "none")
names = pytest.mark.parametrize("name", ROW_MODELS)


@names
def test_scores_have_the_promised_shape_and_sign(name):
    scores = _scores(name)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    bulk, outliers = scores[~IS_OUTLIER], scores[IS_OUTLIER]
    # higher = more anomalous: every planted outlier beats 95 % of the bulk
    assert outliers.min() > np.quantile(bulk, 0.95), (outliers, np.quantile(bulk, 0.95))


@names
def test_fit_returns_self_and_same_seed_gives_bitwise_identical_scores(name):
    detector = _make(name)
    assert detector.fit(_input(name, X_TRAIN)) is detector
    assert np.array_equal(detector.anomaly_score(_input(name, X)), _scores(name))


@pytest.mark.parametrize("name", SEEDED)
def test_different_seed_gives_different_scores(name):
    assert not np.allclose(_scores(name), _scores(name, seed=1))


@names
def test_scoring_before_fit_raises(name):
    with pytest.raises((NotFittedError, InputError)):
        _make(name).anomaly_score(_input(name, X))


@names
def test_wrong_feature_count_is_an_input_error(name):
    with pytest.raises(InputError, match="features"):
        _fitted(name).anomaly_score(_input(name, X[:, :-1]))


@names
def test_nan_input_is_an_input_error(name):
    bad = _input(name, X).copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="row 3, feature 1"):
        _make(name).fit(bad)
    with pytest.raises(InputError, match="row 3, feature 1"):
        _fitted(name).anomaly_score(bad)


@names
def test_clone_gives_an_unfitted_copy_with_the_same_params(name):
    fitted = _fitted(name)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises((NotFittedError, InputError)):
        copy.anomaly_score(_input(name, X))
    if name not in ("vae", "ae"):  # the deep ones are covered by the same-seed test
        assert np.array_equal(copy.fit(_input(name, X_TRAIN)).anomaly_score(_input(name, X)),
                              _scores(name))


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_save_load_round_trip_gives_identical_scores(name, tmp_path):
    save_detector(_fitted(name), tmp_path / "model")
    assert not list((tmp_path / "model").glob("*.pkl"))
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is type(_fitted(name))
    assert loaded.get_params() == _fitted(name).get_params()
    assert np.array_equal(loaded.anomaly_score(_input(name, X)), _scores(name))


def test_isolation_forest_is_saved_as_parameters_and_refitted_on_load(tmp_path):
    save_detector(_fitted("iforest"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    with pytest.raises(InputError, match="refit with the same seed"):
        load_detector(tmp_path)
    refitted = load_detector(tmp_path, X_TRAIN)
    assert np.array_equal(refitted.anomaly_score(X), _scores("iforest"))


def test_make_detector_names_what_is_valid():
    with pytest.raises(InputError, match=", ".join(DETECTORS)):
        make_detector("gan")
    with pytest.raises(InputError, match="'epoch'.*epochs"):
        make_detector("vae", epoch=3)
    assert make_detector("pca", n_components=2).n_components == 2
