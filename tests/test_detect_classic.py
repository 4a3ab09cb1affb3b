"""Classic baselines give the textbook numbers; the shared training helpers behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import MinCovDet
from sklearn.decomposition import PCA

from geoanomaly.detect import make_detector
from geoanomaly.errors import InputError

rng = np.random.default_rng(3)
X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))


def test_mcd_score_is_the_squared_robust_mahalanobis_distance():
    detector = make_detector("mcd", seed=5).fit(X)
    reference = MinCovDet(random_state=5).fit(X)
    assert np.allclose(detector.anomaly_score(X), reference.mahalanobis(X), rtol=1e-10)


def test_mcd_refuses_closed_clr_data_with_advice():
    positive = np.exp(rng.normal(size=(100, 4)))
    clr = np.log(positive) - np.log(positive).mean(axis=1, keepdims=True)
    with pytest.raises(InputError, match="ilr"):
        make_detector("mcd").fit(clr)


def test_pca_keeps_enough_components_for_90_percent_but_never_all():
    detector = make_detector("pca").fit(X)
    ratios = PCA().fit(X).explained_variance_ratio_
    expected = int(np.searchsorted(np.cumsum(ratios), 0.9) + 1)
    assert detector.n_components_ == min(expected, X.shape[1] - 1)
    two = make_detector("pca", n_components=2).fit(X)
    centred = X - X.mean(axis=0)
    pca = PCA(n_components=2).fit(X)
    residual = centred - pca.inverse_transform(pca.transform(X)) + X.mean(axis=0)
    assert np.allclose(two.anomaly_score(X), (residual ** 2).sum(axis=1))
    # 100 % of the variance would need all components: capped at p - 1, scores not all zero
    assert make_detector("pca", n_components=4).fit(X).anomaly_score(X).max() > 0
    with pytest.raises(InputError, match="variance fraction"):
        make_detector("pca", n_components=1.5).fit(X)


def test_iforest_score_is_minus_score_samples():
    detector = make_detector("iforest", n_estimators=30, seed=2).fit(X)
    assert np.array_equal(detector.anomaly_score(X), -detector.forest_.score_samples(X))


def test_univariate_picks_a_column_by_index_or_name():
    names = ["Cu", "Pb", "Zn", "Au"]
    assert np.array_equal(make_detector("univariate", feature=2).fit(X).anomaly_score(X), X[:, 2])
    by_name = make_detector("univariate", feature="au", feature_names=names).fit(X)
    assert by_name.feature_index_ == 3
    with pytest.raises(InputError, match="'Ag' is not among the features"):
        make_detector("univariate", feature="Ag", feature_names=names).fit(X)
    with pytest.raises(InputError, match="no feature_names"):
        make_detector("univariate", feature="Cu").fit(X)
    with pytest.raises(InputError, match="out of range"):
        make_detector("univariate", feature=4).fit(X)


def test_training_helpers():
    from geoanomaly.detect import torch_training as tt

    assert tt.resolve_batch_size("auto", 90_000) == 2813   # 32 steps per epoch
    assert tt.resolve_batch_size("auto", 270) == 16        # small survey: floor
    assert tt.resolve_batch_size("auto", 10_000_000) == 4096
    assert tt.resolve_batch_size(100, 5) == 100
    with pytest.raises(InputError, match="batch_size"):
        tt.resolve_batch_size("big", 10)
    train, val = tt.train_validation_split(50, 0.1, seed=0)
    assert len(val) == 5 and len(train) == 45 and not set(train) & set(val)
    assert np.array_equal(val, tt.train_validation_split(50, 0.1, seed=0)[1])
    assert not np.array_equal(val, tt.train_validation_split(50, 0.1, seed=1)[1])
    assert len(tt.train_validation_split(3, 0.1, seed=0)[1]) == 1
    assert len(tt.train_validation_split(50, 0.0, seed=0)[1]) == 0
    with pytest.raises(InputError, match="device"):
        tt.resolve_device("tpu")


def test_patience_none_runs_every_epoch_and_no_validation_watches_training_loss():
    vae = make_detector("vae", epochs=6, patience=None, validation_fraction=0.0,
                        batch_size=64).fit(X)
    assert vae.n_epochs_ == 6 and "val_loss" not in vae.history_
    assert vae.best_epoch_ == int(np.argmin(vae.history_["loss"])) + 1
