"""GANomaly on sample vectors: the detector contract, the published loss weights, gradients
that train each network with its own loss only, seeded discriminator re-initialisation, and
weight selection that never sees labels."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from geoanomaly.detect import DETECTORS
from geoanomaly.detect import torch_training as tt
from geoanomaly.detect.ganomaly import REINIT_SEED_OFFSET, GANomalyDetector
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.errors import InputError

N_BULK, N_OUT, N_FEATURES = 296, 4, 5
#: ~270 Adam steps at 10x the published learning rate: enough to learn the 2-factor structure
#: (at 2e-4 the same needs ~200 epochs; planted outliers then rank above 98 % of the bulk in
#: seeds 0-4, measured)
FAST = {"epochs": 30, "batch_size": 32, "learning_rate": 2e-3}


def _data() -> tuple[np.ndarray, np.ndarray]:
    """(training rows, scored rows): a correlated Gaussian bulk (2 factors) and the same bulk
    plus 4 outliers that break the correlation (+4 on even features, -4 on odd ones); the
    same construction as tests/test_detect_contract.py."""
    rng = np.random.default_rng(42)
    factors = rng.normal(size=(N_BULK, 2))
    bulk = factors @ rng.normal(size=(2, N_FEATURES)) + 0.3 * rng.normal(size=(N_BULK, N_FEATURES))
    bulk = (bulk - bulk.mean(0)) / bulk.std(0)
    outliers = np.where(np.arange(N_FEATURES) % 2 == 0, 4.0, -4.0) \
        + 0.3 * rng.normal(size=(N_OUT, N_FEATURES))
    return bulk, np.vstack([bulk, outliers])


X_TRAIN, X = _data()
IS_OUTLIER = np.arange(len(X)) >= N_BULK


@functools.lru_cache(maxsize=None)
def _fitted(seed) -> GANomalyDetector:
    return GANomalyDetector(**FAST, seed=seed).fit(X_TRAIN)


@functools.lru_cache(maxsize=None)
def _scores(seed) -> np.ndarray:
    return _fitted(seed).anomaly_score(X)


# -- the contract -------------------------------------------------------------------------------
def test_scores_have_the_promised_shape_and_sign():
    scores = _scores(0)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and (scores >= 0).all()
    bulk, outliers = scores[~IS_OUTLIER], scores[IS_OUTLIER]
    assert outliers.min() > np.quantile(bulk, 0.95), (outliers, np.quantile(bulk, 0.95))


def test_fit_returns_self_and_same_seed_is_bitwise_identical():
    detector = GANomalyDetector(**FAST)
    assert detector.fit(X_TRAIN) is detector
    assert np.array_equal(detector.anomaly_score(X), _scores(0))
    assert np.array_equal(detector.anomaly_score(X), detector.anomaly_score(X))


def test_different_seed_gives_different_scores():
    assert not np.allclose(_scores(0), _scores(1))


def test_fit_leaves_the_global_torch_rng_alone():
    before = torch.random.get_rng_state()
    GANomalyDetector(epochs=2, batch_size=64, d_reinit_below=10.0).fit(X_TRAIN)
    assert torch.equal(before, torch.random.get_rng_state())


def test_scoring_before_fit_raises():
    with pytest.raises(NotFittedError):
        GANomalyDetector().anomaly_score(X)


def test_wrong_feature_count_and_nan_are_input_errors():
    with pytest.raises(InputError, match="features"):
        _fitted(0).anomaly_score(X[:, :-1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="row 3, feature 1"):
        GANomalyDetector(**FAST).fit(bad)
    with pytest.raises(InputError, match="row 3, feature 1"):
        _fitted(0).anomaly_score(bad)


@pytest.mark.parametrize("params, match", [
    ({"activation": "swish"}, "activation"), ({"w_rec": -1}, "w_rec"),
    ({"beta1": 1.0}, "beta1"), ({"latent_dim": 0}, "latent_dim"), ({"epochs": 0}, "epochs"),
    ({"patience": 0}, "patience"), ({"learning_rate": 0}, "learning_rate")])
def test_bad_parameters_are_input_errors(params, match):
    with pytest.raises(InputError, match=match):
        GANomalyDetector(**params).fit(X_TRAIN)


def test_clone_gives_an_unfitted_copy_with_the_same_params():
    fitted = _fitted(0)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        copy.anomaly_score(X)


def test_save_load_round_trip_gives_identical_scores(tmp_path, monkeypatch):
    # the detector is not registered yet; saving needs a registry name
    monkeypatch.setitem(DETECTORS, "ganomaly", GANomalyDetector)
    save_detector(_fitted(0), tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == \
        ["model.json", "model.safetensors"]
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is GANomalyDetector
    assert loaded.get_params() == _fitted(0).get_params()
    assert loaded.n_d_reinit_ == _fitted(0).n_d_reinit_
    assert loaded.best_epoch_ == _fitted(0).best_epoch_
    assert np.array_equal(loaded.anomaly_score(X), _scores(0))


# -- the method ---------------------------------------------------------------------------------
def test_defaults_are_the_published_ones():
    params = GANomalyDetector().get_params()
    assert (params["w_adv"], params["w_rec"], params["w_enc"]) == (1.0, 50.0, 1.0)
    assert (params["learning_rate"], params["beta1"], params["beta2"]) == (2e-4, 0.5, 0.999)
    assert params["d_reinit_below"] == 1e-5
    assert (params["hidden"], params["latent_dim"]) == ((24, 12), 3)


def test_score_is_the_mean_squared_latent_difference():
    detector = _fitted(0)
    rows = X[-10:]
    Z = torch.from_numpy(((rows - detector.mean_) / detector.scale_).astype(np.float32))
    net = detector.network_
    with torch.no_grad():
        z = net["encoder"](Z)
        z_hat = net["encoder2"](net["decoder"](z))
    expected = ((z - z_hat) ** 2).mean(dim=1).double().numpy()
    assert np.allclose(detector.anomaly_score(rows), expected, rtol=1e-5, atol=1e-7)


def test_each_network_is_trained_by_its_own_loss_only():
    """The gradients of one step equal those of the reference formulation: G from
    w_adv * feature matching + w_rec * L1 + w_enc * latent (D frozen), D from the BCE on x and
    on the DETACHED reconstruction."""
    detector = GANomalyDetector(w_adv=1.5, w_rec=7.0, w_enc=2.0)
    detector.n_features_in_ = N_FEATURES
    net = tt.build_seeded(lambda: detector._build_network(N_FEATURES), 3, torch.device("cpu"))
    batch = torch.from_numpy(X_TRAIN[:20].astype(np.float32))
    g_params = [p for k in ("encoder", "decoder", "encoder2") for p in net[k].parameters()]
    d_params = [p for k in ("disc_features", "disc_head") for p in net[k].parameters()]
    g_loss, d_loss, _ = detector._losses(net, batch)
    g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
    d_grads = torch.autograd.grad(d_loss, d_params)

    z = net["encoder"](batch)
    x_hat = net["decoder"](z)
    z_hat = net["encoder2"](x_hat)
    f = net["disc_features"]
    reference_g = (1.5 * torch.mean((f(batch) - f(x_hat)) ** 2)
                   + 7.0 * torch.nn.L1Loss()(x_hat, batch) + 2.0 * torch.mean((z_hat - z) ** 2))
    prob_real = torch.sigmoid(net["disc_head"](f(batch))).squeeze(1)
    prob_fake = torch.sigmoid(net["disc_head"](f(x_hat.detach()))).squeeze(1)
    bce = torch.nn.BCELoss()
    reference_d = 0.5 * (bce(prob_real, torch.ones(20)) + bce(prob_fake, torch.zeros(20)))
    assert torch.allclose(g_loss, reference_g) and torch.allclose(d_loss, reference_d)
    for ours, theirs in zip(g_grads, torch.autograd.grad(reference_g, g_params)):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    for ours, theirs in zip(d_grads, torch.autograd.grad(reference_d, d_params)):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_discriminator_is_reinitialised_from_the_seed_when_its_loss_collapses():
    # a threshold above any BCE value forces a re-initialisation after every step
    steps = int(np.ceil(round(len(X_TRAIN) * 0.9) / 64))
    detector = GANomalyDetector(epochs=1, batch_size=64, d_reinit_below=10.0, seed=5)
    detector.fit(X_TRAIN)
    assert detector.n_d_reinit_ == steps
    fresh = tt.build_seeded(lambda: torch.nn.ModuleDict(detector._discriminator(N_FEATURES)),
                            5 + REINIT_SEED_OFFSET + steps, torch.device("cpu"))
    for key in ("disc_features", "disc_head"):
        for ours, theirs in zip(detector.network_[key].parameters(), fresh[key].parameters()):
            assert torch.equal(ours, theirs)
    assert GANomalyDetector(epochs=1, batch_size=64, d_reinit_below=0.0).fit(X_TRAIN) \
        .n_d_reinit_ == 0


def test_weights_are_chosen_without_labels():
    """fit ignores y, and the kept epoch is the minimum of the held-out w_rec*L1 + w_enc*latent
    loss (with tol=0: the plain argmin), a quantity computed from the rows alone."""
    labels = IS_OUTLIER[:len(X_TRAIN)] | (np.arange(len(X_TRAIN)) % 7 == 0)
    with_labels = GANomalyDetector(**FAST).fit(X_TRAIN, y=labels)
    assert np.array_equal(with_labels.anomaly_score(X), _scores(0))

    detector = GANomalyDetector(epochs=12, batch_size=32, learning_rate=2e-3, tol=0.0,
                                patience=None).fit(X_TRAIN)
    history = detector.history_
    assert set(history) == {f"{prefix}{key}" for prefix in ("", "val_")
                            for key in ("loss", "adv", "rec", "enc", "d_loss", "monitor")}
    assert np.allclose(history["val_monitor"],
                       50.0 * np.array(history["val_rec"]) + np.array(history["val_enc"]))
    assert np.allclose(history["val_loss"], np.array(history["val_monitor"])
                       + np.array(history["val_adv"]), rtol=1e-5)
    assert detector.best_epoch_ == int(np.argmin(history["val_monitor"])) + 1
    assert detector.n_epochs_ == 12


def test_without_a_validation_set_the_training_criterion_is_watched():
    detector = GANomalyDetector(epochs=3, batch_size=64, validation_fraction=0.0, tol=0.0,
                                patience=None).fit(X_TRAIN)
    assert not any(key.startswith("val_") for key in detector.history_)
    assert detector.best_epoch_ == int(np.argmin(detector.history_["monitor"])) + 1


def test_training_away_from_deposits_is_run_through_the_pipeline_and_flagged(small_csv, tmp_path):
    """Luo et al. (2021) trained on non-mineralised samples: the run fits on the far samples only
    and says everywhere that the deposits shaped the model."""
    import json

    import geoanomaly

    samples, deposits = small_csv
    result = geoanomaly.run(sources=[str(samples)], deposits=str(deposits), out=str(tmp_path / "g"),
                            model="ganomaly", epochs=3, n_boot=50, train_away_from_deposits=500.0)
    metrics = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert metrics["trained_with_deposits"] is True
    assert any(n.startswith("TRAINED WITH DEPOSITS") for n in result.data.notes)
    assert "TRAINED WITH DEPOSITS" in result.summary()
    assert "TRAINED WITH DEPOSITS" in (tmp_path / "g" / "report.html").read_text()


def test_training_away_from_deposits_needs_deposits(small_csv, tmp_path):
    from geoanomaly.cli import main

    samples, _ = small_csv
    assert main(["run", str(samples), "--out", str(tmp_path / "x"), "--model", "ganomaly",
                 "--train-away-from-deposits", "500", "--epochs", "2"]) == 2
    assert not (tmp_path / "x").exists()
