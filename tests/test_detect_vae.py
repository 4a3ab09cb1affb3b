"""The VAE really is a VAE (KL on), its scores are right and repeatable, and training stops
early with the best weights restored."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from geoanomaly.detect import torch_training as tt
from geoanomaly.detect.vae import VAEDetector
from geoanomaly.errors import InputError

FAST = {"epochs": 20, "batch_size": 32}
#: the KL starts near 0 (the decoder variance explains the data first) and grows once the
#: latent code becomes useful: ~500 Adam steps get past that phase on this data
KL_FAST = {"epochs": 30, "batch_size": 16}


def _structured(n=300, p=6, seed=0) -> np.ndarray:
    """Rows on a noisy 2-d nonlinear manifold: the latent code carries information, so an
    honest ELBO keeps KL(q(z|x) || p(z)) well above 0."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    return np.tanh(z @ rng.normal(size=(2, p))) * 2 + 0.1 * rng.normal(size=(n, p))


X = _structured()


@functools.lru_cache(maxsize=None)
def _vae(**params):
    return VAEDetector(**{**KL_FAST, **params}).fit(X)


def test_kl_term_is_really_on():
    vae = _vae()
    assert vae.kl_ > 0.3  # nats per sample (0.8 measured); with the KL off it would be ~0
    assert all(k > 0 for k in vae.history_["kl"])
    assert set(vae.history_) == {"loss", "recon", "kl", "val_loss", "val_recon", "val_kl"}
    # the loss is the negative ELBO: recon + beta * KL, batch-weighted per epoch
    assert np.allclose(vae.history_["val_loss"],
                       np.add(vae.history_["val_recon"], vae.history_["val_kl"]), rtol=1e-5)


def test_beta_zero_trains_a_different_model_with_a_looser_posterior():
    with_kl, without_kl = _vae(), _vae(beta=0.0)
    assert not np.allclose(with_kl.anomaly_score(X), without_kl.anomaly_score(X))
    assert without_kl.kl_ > with_kl.kl_  # nothing pulls q(z|x) towards N(0, I)


def test_rp_score_matches_a_direct_computation_and_is_repeatable():
    vae = VAEDetector(**FAST, score="rp", n_samples=20).fit(X)
    rows = X[:40]
    scores = vae.anomaly_score(rows)
    assert np.array_equal(scores, vae.anomaly_score(rows))
    # the same draws, probabilities averaged directly in float64 (fine for ordinary rows)
    with torch.inference_mode():
        z_in = torch.from_numpy(((rows - vae.mean_) / vae.scale_).astype(np.float32))
        mu, logvar = vae._encode(vae.network_, z_in)
        generator = tt.make_generator(vae.seed, torch.device("cpu"))
        eps = torch.randn((20, *mu.shape), generator=generator)
        x_mu, x_logvar = vae._decode(vae.network_, mu + (0.5 * logvar).exp() * eps)
    x_mu, var = x_mu.double().numpy(), np.exp(x_logvar.double().numpy())
    residual = z_in.double().numpy()[None] - x_mu
    density = np.prod(np.exp(-0.5 * residual ** 2 / var) / np.sqrt(2 * math.pi * var), axis=-1)
    assert np.allclose(scores, -np.log(density.mean(axis=0)), rtol=1e-4, atol=1e-4)


def test_rp_and_recon_stay_finite_and_ordered_for_far_outliers():
    rp = VAEDetector(**FAST, score="rp").fit(X)
    far = np.vstack([X[:5], np.full((1, X.shape[1]), 1e4)])
    scores = rp.anomaly_score(far)
    assert np.isfinite(scores).all() and scores[-1] > 1e3 + scores[:5].max()
    recon = rp.set_params(score="recon").anomaly_score(far)
    assert np.isfinite(recon).all() and recon[-1] > recon[:5].max()


def test_early_stopping_stops_before_epochs_and_restores_the_best_weights():
    patience = 3
    vae = VAEDetector(epochs=300, batch_size=32, patience=patience, tol=1e-2).fit(X)
    assert vae.n_epochs_ < 300
    assert vae.n_epochs_ == vae.best_epoch_ + patience
    # recompute the validation loss with the restored weights: it is the best epoch's
    train_idx, val_idx = tt.train_validation_split(len(X), vae.validation_fraction, vae.seed)
    z = torch.from_numpy(((X[val_idx] - vae.mean_) / vae.scale_).astype(np.float32))
    again = tt.evaluate_loss(vae.network_, vae._batch_loss, z,
                             vae.seed + tt.VALIDATION_SEED_OFFSET)
    val = vae.history_["val_loss"]
    assert again["loss"] == pytest.approx(val[vae.best_epoch_ - 1], rel=1e-6)
    assert val[-1] != pytest.approx(again["loss"], rel=1e-9)


@pytest.mark.parametrize("variance", ["unit", "sample"])
def test_decoder_variance_options_train(variance):
    vae = VAEDetector(epochs=5, batch_size=32, decoder_variance=variance, score="rp").fit(X)
    assert np.isfinite(vae.anomaly_score(X)).all() and vae.kl_ > 0


def test_fitting_leaves_the_global_torch_rng_alone_and_reports_progress():
    calls = []
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    vae = VAEDetector(epochs=4, batch_size=64,
                      progress=lambda epoch, epochs, record: calls.append((epoch, epochs))).fit(X)
    assert torch.equal(torch.rand(3), expected)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)] and vae.n_epochs_ == 4


def test_bad_options_are_input_errors():
    with pytest.raises(InputError, match="decoder_variance"):
        VAEDetector(decoder_variance="diag").fit(X)
    with pytest.raises(InputError, match="score"):
        VAEDetector(score="likelihood").fit(X)
    with pytest.raises(InputError, match="activation"):
        VAEDetector(activation="gelu2").fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            VAEDetector(device="cuda").fit(X)
