"""Physically constrained VAE (Xiong, Zuo, Luo & Wang 2022, Mathematical Geosciences 54:783-806).

What the paper says [paper]: Fry analysis, standard-deviation ellipses and fractal analysis
quantify how granitic intrusions control W mineralisation; the resulting non-linear "controlling
function" of the ore-controlling feature is added to the VAE's loss as a penalty, so that the
network's anomalies agree with where the geology says mineralisation is likely. The exact form of
the penalty, its weight and any warm-up are not published. The same group's public GK-DCN code
adds ``0.1 * MSE(output, sigmoid(a * w + b))`` to a CNN's loss, with ``w`` a min-max normalised
geology raster [code]; this module follows that pattern.

What this module takes: the PRIOR, one value in [0, 1] per training row (higher = geologically
more favourable), made elsewhere (a controlling function fitted on deposits inside spatial
folds, or a label-free one from geology alone: the caller's business). ``fit(X, y=None,
prior=...)`` needs it; ``anomaly_score(X)`` does not: scores come from the trained network only,
so a fitted model scores any rows, with or without a prior for them. ``y`` is ignored.

Design (every choice, in order):

* **Network, VAE loss and scores**: those of :class:`geoanomaly.detect.vae.VAEDetector`, which
  this class subclasses (same architecture 24-12-3-12-24, learned per-feature decoder variance,
  the nine ``score`` values, seeding, persistence). With ``lam = 0`` the fit IS the VAE's fit:
  the scores are bit-identical to ``VAEDetector`` with the same parameters.
* **The per-row anomaly value s_i** (the "output" of the GK-DCN pattern): with ``e_i`` the row's
  one-sided reconstruction term of the latent-mean decode, ``sum_j w_j max(0, x_ij -
  xhat_ij)^2 / sigma_j^2`` (twice the likelihood part of the package's default score
  ``enrich-elbo``; ``w`` the likelihood weights of ``feature_weights``, normalised to mean 1;
  the decoder variance ``sigma^2`` detached, so the penalty moves the reconstruction, not the
  likelihood's variances), ``s_i = e_i / (e_i + m + 1e-6)`` with ``m`` the batch median of ``e``
  (detached). Why: ``s = sigmoid(log e_i - log m)``, a sigmoid of the row's log error
  standardised by the batch, like GK-DCN's sigmoid output; it lies in [0, 1), is 0.5 at the
  median row, is differentiable, and is unchanged by a global scale of the errors (so the
  penalty cannot be met by inflating or deflating every error at once: only the ORDER and spread
  of the rows' errors can answer it). A batch median (at least 16 rows with ``batch_size``
  "auto") needs no state across batches; validation chunks use their own median.
* **Penalty**: ``lam * p * mean_batch (s_i - prior_i)^2`` added to the negative ELBO (per row,
  averaged), ``p`` the number of features. Why ``p``: the VAE's loss per row is a sum of ``p``
  per-feature log-likelihoods, so ``lam`` weighs the penalty against the loss PER FEATURE (the
  GK-DCN form ``loss + 0.1 * MSE`` with the VAE's loss per feature in place of the classifier's
  per-sample loss): ``lam = 0.1`` means the same on 5 and on 39 features. Default ``lam = 0.1``.
* **How the penalty pushes favourable ground up**: the network sees only chemistry. The penalty
  asks for rows on favourable ground (prior near 1) to have enrichment errors above the batch
  median and rows on unfavourable ground (prior near 0) below it. The network can only meet that
  through a function of the chemistry: it reconstructs the enrichment patterns typical of
  favourable ground less faithfully (the decoder pulls them towards the background) and those
  typical of unfavourable ground more faithfully (they become background). At scoring time, with
  no prior, a sample whose chemistry resembles that of favourable ground therefore scores
  higher, wherever it lies; the prior is not copied into the scores. Rows whose every feature
  is below its reconstruction have ``e = 0`` and no gradient through the one-sided error: the
  penalty cannot raise them, and they are the least anomalous ones under the enrichment scores.
* **Warm-up**: the first ``min(warmup, epochs // 2)`` epochs (``warmup`` = 20 of the VAE's 200)
  train the plain VAE with no early stopping (the background is learnt first; an s_i of an
  untrained network is noise); the best of those epochs is restored and a second run of
  ``epochs`` minus the warm-up trains the constrained loss with early stopping (``patience``)
  and the best epoch restored. Two runs, not one with the penalty switched on part-way, because
  early stopping compares validation losses across epochs: a loss that gains a term part-way
  would let a penalty-free warm-up epoch win and undo the constraint. The second run starts a
  fresh Adam state and draws its shuffles and noise from ``seed + 1`` (the first from
  ``seed``). The validation loss of both runs includes the penalty (in the warm-up it is
  reported, not trained: ``history_["penalty"]`` is the mean (s - prior)^2, unscaled).
* **The prior follows the rows**: it is appended to the standardised training tensor as one more
  column, so the seeded train/validation split and the shuffled batches carry it with its row;
  the batch loss strips it off.

Fitted attributes beyond the VAE's: ``warmup_epochs_`` (epochs of the warm-up run; 0 when
``lam`` is 0). ``n_epochs_`` and ``best_epoch_`` count both runs; ``history_`` holds both, in
order, with the extra part ``penalty``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .autoencoder import _standardisation, weighted_sum
from .base import check_matrix
from .vae import SCORES, VAEDetector  # noqa: F401 - SCORES: the registry's --score values

#: added to the batch median in s_i = e / (e + median + eps): keeps s defined when most rows of a
#: batch have no enrichment (e = 0)
PRIOR_EPS = 1e-6

#: the constrained run's shuffles and noise come from seed + this (the warm-up's from seed)
CONSTRAINED_SEED_OFFSET = 1


def check_prior(prior, n_rows: int, model: str, what: str = "rows") -> np.ndarray:
    """The prior as float64 (n_rows,): required, finite, within [0, 1] (an InputError with one
    sentence otherwise)."""
    if prior is None:
        raise InputError(f"model {model} needs a geological prior: give --control FILE.")
    try:
        prior = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"the geological prior of model {model} must be numbers, one per "
                         f"{what[:-1]}.") from None
    if prior.ndim == 2 and prior.shape[1] == 1:
        prior = prior[:, 0]
    if prior.shape != (n_rows,):
        raise InputError(f"the geological prior of model {model} has shape {prior.shape} but "
                         f"the input has {n_rows} {what}; give one value per {what[:-1]}.")
    if not np.isfinite(prior).all():
        raise InputError(f"the geological prior of model {model} holds a missing or infinite "
                         f"value at {what[:-1]} {int(np.flatnonzero(~np.isfinite(prior))[0])}.")
    if prior.min() < 0.0 or prior.max() > 1.0:
        raise InputError(f"the geological prior of model {model} must lie in [0, 1], got values "
                         f"from {prior.min():.6g} to {prior.max():.6g}.")
    return prior


def anomaly_value(error):
    """s = e / (e + median(e) + eps): a per-row anomaly value in [0, 1), 0.5 at the batch median
    (the median is detached: it sets the scale, the rows' own errors carry the gradient)."""
    median = error.detach().median()
    return error / (error + median + PRIOR_EPS)


def prior_penalty(error, prior):
    """mean (s_i - prior_i)^2 over the batch, s from ``anomaly_value``."""
    return (anomaly_value(error) - prior).square().mean()


def check_constraint_params(lam, warmup) -> None:
    if not float(lam) >= 0.0:
        raise InputError(f"lam (the weight of the geological prior) must be >= 0, got {lam!r}.")
    if int(warmup) < 0:
        raise InputError(f"warmup must be a number of epochs >= 0, got {warmup!r}.")


def warmup_epochs(warmup, epochs) -> int:
    """The warm-up run's length: ``min(warmup, epochs // 2)``, so the constrained run always
    has at least half of the epochs."""
    return int(min(int(warmup), int(epochs) // 2))


def merge_histories(first: dict, second: dict) -> dict:
    """Per-epoch histories of two consecutive runs, in order."""
    keys = list(dict.fromkeys([*first, *second]))
    return {key: [*first.get(key, []), *second.get(key, [])] for key in keys}


class PCVAEDetector(VAEDetector):
    """The VAE with a geological prior as a soft constraint in its loss (Xiong et al. 2022).

    Parameters: those of :class:`geoanomaly.detect.vae.VAEDetector`, plus

    lam : weight of the prior penalty against the VAE's loss per feature (0.1; 0 = the VAE).
    warmup : epochs of plain VAE training before the penalty comes on (20; at most half of
        ``epochs``).

    ``fit(X, y=None, prior=None)``: ``prior`` (n_rows,) in [0, 1] is required (higher =
    geologically more favourable); ``y`` is ignored. ``anomaly_score(X)`` needs no prior. See the
    module docstring for every design choice.
    """

    name = "pcvae"

    def __init__(self, hidden=(24, 12), latent_dim=3, decoder_hidden=None, activation="relu",
                 decoder_variance="feature", beta=1.0, learning_rate=1e-3, epochs=200,
                 batch_size="auto", validation_fraction=0.1, patience=20, tol=1e-4, score="recon",
                 n_samples=50, standardize=True, seed=0, device="cpu", progress=False,
                 feature_weights=None, lam=0.1, warmup=20):
        super().__init__(hidden=hidden, latent_dim=latent_dim, decoder_hidden=decoder_hidden,
                         activation=activation, decoder_variance=decoder_variance, beta=beta,
                         learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                         validation_fraction=validation_fraction, patience=patience, tol=tol,
                         score=score, n_samples=n_samples, standardize=standardize, seed=seed,
                         device=device, progress=progress, feature_weights=feature_weights)
        self.lam = lam
        self.warmup = warmup

    def _check_params(self) -> None:
        super()._check_params()
        check_constraint_params(self.lam, self.warmup)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None, prior=None):
        """Standardise, split, warm up as a plain VAE, then train with the prior penalty."""
        import torch

        from . import torch_training as tt

        X = check_matrix(X)
        prior = check_prior(prior, X.shape[0], self.name)
        self._check_params()
        if float(self.lam) == 0.0:  # exactly the VAE
            super().fit(X)
            self.warmup_epochs_ = 0
            return self
        device = tt.resolve_device(self.device)
        self.n_features_in_ = X.shape[1]
        self.mean_, self.scale_ = _standardisation(X, self.standardize)
        Z = torch.from_numpy(((X - self.mean_) / self.scale_).astype(np.float32)).to(device)
        # the prior rides along as the last column: split and batches keep it with its row
        ZP = torch.cat([Z, torch.from_numpy(prior.astype(np.float32)).to(device)[:, None]], 1)
        train_idx, val_idx = tt.train_validation_split(X.shape[0], float(self.validation_fraction),
                                                       int(self.seed))
        train = ZP[torch.from_numpy(train_idx).to(device)]
        val = ZP[torch.from_numpy(val_idx).to(device)]
        network = tt.build_seeded(lambda: self._build_network(X.shape[1]), int(self.seed), device)
        common = dict(batch_size=self.batch_size, learning_rate=self.learning_rate,
                      tol=float(self.tol), progress=self.progress)

        warm = warmup_epochs(self.warmup, self.epochs)
        history, offset = {}, 0
        if warm > 0:
            first = tt.train_network(
                network, lambda net, batch, gen: self._constrained_loss(net, batch, gen, False),
                train, val, epochs=warm, patience=None, seed=int(self.seed), **common)
            history, offset = first.history, first.n_epochs
        second = tt.train_network(
            network, lambda net, batch, gen: self._constrained_loss(net, batch, gen, True),
            train, val, epochs=int(self.epochs) - warm, patience=self.patience,
            seed=int(self.seed) + CONSTRAINED_SEED_OFFSET, **common)
        self.network_ = network
        self.device_ = str(device)
        self.history_ = merge_histories(history, second.history)
        self.warmup_epochs_ = offset
        self.n_epochs_ = offset + second.n_epochs
        self.best_epoch_ = offset + second.best_epoch
        self.batch_size_ = second.batch_size
        self._after_fit(Z)
        return self

    def _constrained_loss(self, network, batch, generator, constrained: bool):
        """The VAE's negative ELBO on the features (all columns but the last) plus, when
        ``constrained``, ``lam * p * mean (s - prior)^2``; the penalty is reported either way."""
        import torch

        x, prior = batch[:, :-1].contiguous(), batch[:, -1]
        z_mu, z_logvar = self._encode(network, x)
        eps = torch.randn(z_mu.shape, generator=generator, device=z_mu.device, dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps
        x_mu, x_logvar = self._decode(network, z)
        recon = -self._gaussian_log_likelihood(x, x_mu, x_logvar).mean()
        kl = self._kl_to_standard_normal(z_mu, z_logvar).mean()
        loss = recon + float(self.beta) * kl
        # s_i from the decoded latent MEAN (what the scores decode), decoder variance detached
        mean_mu, mean_logvar = self._decode(network, z_mu)
        excess = (x - mean_mu).clamp_min(0.0).square() * (-mean_logvar.detach()).exp()
        penalty = prior_penalty(weighted_sum(excess, self._likelihood_weights()), prior)
        if constrained:
            loss = loss + float(self.lam) * x.shape[1] * penalty
        return loss, {"recon": recon.detach(), "kl": kl.detach(), "penalty": penalty.detach()}

    # -- persistence ----------------------------------------------------------------------------
    def _fitted_state(self):
        scalars, tensors = super()._fitted_state()
        scalars["warmup_epochs_"] = int(self.warmup_epochs_)
        return scalars, tensors

    def _restore_state(self, scalars, tensors) -> None:
        super()._restore_state(scalars, tensors)
        self.warmup_epochs_ = int(scalars.get("warmup_epochs_", 0))
