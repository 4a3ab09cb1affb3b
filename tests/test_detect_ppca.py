"""PPCA, the linear limit of the VAE: closed form, the VAE's scores, and what each score sees.

The planted outliers separate the two kinds of anomaly the scores are built for: one OFF the
modelled structure (a single feature +5 sd: a reconstruction / likelihood anomaly, ordinary in
the latent space) and one ALONG it (+6 sd along the first principal axis: reconstructed well,
extreme in the latent space), plus the same along-structure sample depleted.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.decomposition import PCA

from geoanomaly.detect import DETECTORS
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.detect.ppca import SCORES, PPCADetector
from geoanomaly.errors import InputError

N, D, Q = 400, 6, 2


def _bulk() -> np.ndarray:
    """A correlated Gaussian bulk: one factor loading every feature positively, a second
    contrast factor, noise 0.3, then unequal scales and offsets (standardisation must undo them)."""
    rng = np.random.default_rng(7)
    loadings = np.array([[1.0, 0.9, 0.8, 0.9, 1.0, 0.7], [0.6, -0.5, 0.4, -0.6, 0.0, 0.3]])
    bulk = rng.normal(size=(N, 2)) @ loadings + 0.3 * rng.normal(size=(N, D))
    return bulk * np.array([1.0, 2.0, 0.5, 3.0, 1.0, 10.0]) + np.array([0, 5, -3, 1, 2, 100.0])


BULK = _bulk()


@functools.lru_cache(maxsize=None)
def _fitted(**params) -> PPCADetector:
    return PPCADetector(latent_dim=Q, **params).fit(BULK)


def _standardised(detector, X):
    return (X - detector.mean_) / detector.scale_


def _outliers(detector) -> dict:
    """Raw-scale rows: off-structure (+5 sd on feature 2 alone), along the first principal
    axis (+6 sd of that axis, oriented so all features rise) and the same depleted."""
    u1 = detector.components_[:, 0] / np.linalg.norm(detector.components_[:, 0])
    u1 = u1 * np.sign(u1.sum())
    assert (u1 > 0).all()  # the first factor enriches every feature
    along = 6.0 * np.sqrt(detector.explained_variance_[0]) * u1
    raw = {"off": 5.0 * np.eye(D)[2], "along": along, "depleted": -along}
    return {key: detector.mean_ + detector.scale_ * s for key, s in raw.items()}


@functools.lru_cache(maxsize=None)
def _ranks(score: str) -> dict:
    """Fraction of the bulk each outlier beats under ``score`` (1 = above every bulk row)."""
    detector = _fitted()
    outliers = _outliers(detector)
    scores = detector.anomaly_score(np.vstack([BULK, *outliers.values()]), score=score)
    bulk = scores[:N]
    return {key: float((bulk < value).mean()) for key, value in zip(outliers, scores[N:])}


def _exact_nll(detector, X) -> np.ndarray:
    """-log N(s; 0, W W^T + sigma^2 I) on the standardised rows."""
    W = detector.components_
    covariance = W @ W.T + detector.noise_variance_ * np.eye(W.shape[0])
    return -multivariate_normal(np.zeros(W.shape[0]), covariance).logpdf(
        _standardised(detector, X))


# -- fit ----------------------------------------------------------------------------------------
def test_closed_form_matches_sklearn_pca():
    detector = _fitted()
    S = (BULK - BULK.mean(0)) / BULK.std(0)
    assert np.allclose(_standardised(detector, BULK), S)
    pca = PCA(n_components=Q, svd_solver="full").fit(S)
    assert detector.components_.shape == (D, Q) and detector.n_components_ == Q
    assert np.isclose(detector.noise_variance_, pca.noise_variance_, rtol=1e-12)
    assert np.allclose(detector.explained_variance_, pca.explained_variance_, rtol=1e-12)
    # W^T W = Lambda_q - sigma^2 I, and the implied covariance is sklearn's PPCA covariance
    W = detector.components_
    assert np.allclose(W.T @ W, np.diag(pca.explained_variance_ - pca.noise_variance_))
    assert np.allclose(W @ W.T + detector.noise_variance_ * np.eye(D), pca.get_covariance())


def test_latent_dim_is_clipped_and_one_feature_is_an_input_error():
    assert PPCADetector(latent_dim=50).fit(BULK).components_.shape == (D, D - 1)
    with pytest.raises(InputError, match="at least 2 features"):
        PPCADetector().fit(BULK[:, :1])
    with pytest.raises(InputError, match="latent_dim"):
        PPCADetector(latent_dim=0).fit(BULK)


@pytest.mark.parametrize("X", [np.hstack([BULK, BULK[:, :1]]),      # duplicated column
                               BULK[:4],                               # fewer rows than features
                               np.hstack([BULK, np.ones((N, 1))])],    # a constant column
                         ids=["duplicate", "few-rows", "constant"])
def test_rank_deficient_data_give_finite_scores(X):
    detector = PPCADetector(latent_dim=5).fit(X)
    assert detector.noise_variance_ > 0
    for score in SCORES:
        assert np.isfinite(detector.anomaly_score(X, score=score)).all(), score


def test_y_is_accepted_and_ignored():
    with_y = PPCADetector(latent_dim=Q).fit(BULK, y=np.arange(N) % 2)
    assert np.array_equal(with_y.anomaly_score(BULK), _fitted().anomaly_score(BULK))


# -- every score --------------------------------------------------------------------------------
@pytest.mark.parametrize("score", SCORES)
def test_every_score_is_finite_float64_per_row_and_deterministic(score):
    detector = _fitted()
    X = np.vstack([BULK, *_outliers(detector).values()])
    scores = detector.anomaly_score(X, score=score)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    # same input, same scores; a refit gives the same model
    assert np.array_equal(scores, detector.anomaly_score(X, score=score))
    assert np.array_equal(scores, PPCADetector(latent_dim=Q, score=score).fit(BULK)
                          .anomaly_score(X))
    # a row's score does not depend on the other rows scored with it
    order = np.random.default_rng(0).permutation(len(X))
    assert np.allclose(detector.anomaly_score(X[order], score=score), scores[order],
                       rtol=1e-12, atol=1e-12)
    assert np.allclose(detector.anomaly_score(X[-3:], score=score), scores[-3:],
                       rtol=1e-12, atol=1e-12)


def test_unknown_score_is_an_input_error_naming_the_valid_ones():
    with pytest.raises(InputError, match="recon, enrich, rp, kl, enrich-kl, elbo"):
        PPCADetector(score="mse").fit(BULK)
    with pytest.raises(InputError, match="combined"):
        _fitted().anomaly_score(BULK, score="mse")


def test_clone_and_scoring_before_fit():
    from sklearn.exceptions import NotFittedError

    copy = clone(_fitted())
    assert copy.get_params() == _fitted().get_params()
    with pytest.raises(NotFittedError):
        copy.anomaly_score(BULK)


def test_only_rp_depends_on_the_seed():
    """The posterior is exact, so every importance weight of "nll" is p(s): no Monte Carlo
    error; "rp" (draws scored by p(s|z) alone) does change with the draws."""
    other = PPCADetector(latent_dim=Q, seed=1).fit(BULK)
    assert not np.allclose(other.anomaly_score(BULK, score="rp"),
                           _fitted().anomaly_score(BULK, score="rp"))
    assert np.allclose(other.anomaly_score(BULK, score="nll"),
                       _fitted().anomaly_score(BULK, score="nll"), rtol=1e-10)


# -- likelihoods ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n_samples", [1, 3, 500])
def test_nll_and_elbo_equal_the_exact_marginal(n_samples):
    detector = PPCADetector(latent_dim=Q, n_samples=n_samples).fit(BULK)
    X = np.vstack([BULK, *_outliers(detector).values()])
    exact = _exact_nll(detector, X)
    assert np.allclose(detector.anomaly_score(X, score="nll"), exact, rtol=1e-9, atol=1e-9)
    assert np.allclose(detector.anomaly_score(X, score="elbo"), exact, rtol=1e-9, atol=1e-9)
    # and sklearn's own PPCA log-likelihood
    pca = PCA(n_components=Q, svd_solver="full").fit(_standardised(detector, BULK))
    assert np.allclose(exact, -pca.score_samples(_standardised(detector, X)), rtol=1e-9)


def test_kl_closed_form():
    detector = _fitted()
    S = _standardised(detector, BULK[:5])
    W, sigma2 = detector.components_, detector.noise_variance_
    M = W.T @ W + sigma2 * np.eye(Q)
    m = np.linalg.solve(M, W.T @ S.T).T
    cov = sigma2 * np.linalg.inv(M)
    kl = 0.5 * ((m ** 2).sum(1) + np.trace(cov) - Q - np.log(np.linalg.det(cov)))
    assert np.allclose(detector.anomaly_score(BULK[:5], score="kl"), kl)
    recon = ((S - m @ W.T) ** 2).sum(1)
    assert np.allclose(detector.anomaly_score(BULK[:5], score="recon"), recon)


def test_feature_weights_scale_the_sums_but_not_the_likelihoods():
    """recon/enrich use w as given; the likelihood scores use w * d / sum(w), so multiplying
    every weight by a constant leaves them unchanged."""
    weights = [3.0, 1.0, 1.0, 0.5, 0.5, 1.0]
    once = PPCADetector(latent_dim=Q, feature_weights=weights).fit(BULK)
    twice = PPCADetector(latent_dim=Q, feature_weights=[2 * w for w in weights]).fit(BULK)
    X = BULK[:20]
    assert np.allclose(twice.anomaly_score(X, score="recon"),
                       2 * once.anomaly_score(X, score="recon"))
    for score in ("elbo", "enrich-elbo", "nll", "rp", "kl", "enrich-kl", "combined"):
        assert np.allclose(twice.anomaly_score(X, score=score),
                           once.anomaly_score(X, score=score), rtol=1e-10), score
    assert not np.allclose(once.anomaly_score(X, score="elbo"),
                           _fitted().anomaly_score(X, score="elbo"))
    with pytest.raises(InputError, match="3 weights for 6 features"):
        PPCADetector(feature_weights=[1, 1, 1]).fit(BULK)
    with pytest.raises(InputError, match="non-negative"):
        PPCADetector(feature_weights=[1, 1, 1, 1, 1, -1]).fit(BULK)


def test_combined_is_the_larger_training_percentile_of_enrich_and_enrich_kl():
    detector = _fitted()
    combined = detector.anomaly_score(BULK, score="combined")
    assert ((combined >= 0) & (combined <= 1)).all()
    assert np.array_equal(detector.train_enrich_, np.sort(detector.anomaly_score(BULK)))
    # each part's ranks on the training rows are uniform plotting positions; their maximum
    # lies between the mean 1/2 of one and the 2/3 of two independent uniforms
    assert 0.5 < combined.mean() < 0.7
    top = np.vstack([BULK, _outliers(detector)["off"]])
    assert detector.anomaly_score(top, score="combined").argmax() == N


# -- which anomaly each score sees ----------------------------------------------------------------
@pytest.mark.parametrize("score", ["recon", "enrich", "rp", "elbo", "enrich-elbo", "nll"])
def test_an_outlier_off_the_structure_is_top_under_the_likelihood_scores(score):
    assert _ranks(score)["off"] == 1.0


@pytest.mark.parametrize("score", ["kl", "enrich-kl"])
def test_an_outlier_off_the_structure_is_ordinary_in_the_latent_space(score):
    assert _ranks(score)["off"] < 0.9


@pytest.mark.parametrize("score", ["kl", "enrich-kl", "elbo", "enrich-elbo", "nll"])
def test_an_outlier_along_the_structure_is_top_under_the_latent_scores(score):
    assert _ranks(score)["along"] == 1.0


@pytest.mark.parametrize("score", ["recon", "enrich", "rp"])
def test_an_outlier_along_the_structure_reconstructs_well(score):
    assert _ranks(score)["along"] < 0.5


def test_a_depleted_outlier_along_the_structure_is_top_under_kl_but_bottom_under_enrich_kl():
    assert _ranks("kl")["depleted"] == 1.0
    assert _ranks("enrich-kl")["depleted"] == 0.0
    assert _ranks("enrich-elbo")["depleted"] == 0.0


# -- persistence --------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"feature_weights": [3.0, 1.0, 1.0, 0.5, 0.5, 1.0],
                                         "n_samples": 7, "seed": 3, "standardize": False}],
                         ids=["default", "weighted"])
def test_save_load_round_trip_gives_identical_scores(params, tmp_path, monkeypatch):
    monkeypatch.setitem(DETECTORS, "ppca", PPCADetector)  # the lead registers it
    detector = PPCADetector(latent_dim=Q, **params).fit(BULK)
    save_detector(detector, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "model.npz"]
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is PPCADetector
    assert loaded.get_params() == detector.get_params()
    X = np.vstack([BULK, *_outliers(detector).values()])
    for score in SCORES:
        assert np.array_equal(loaded.anomaly_score(X, score=score),
                              detector.anomaly_score(X, score=score)), score
