"""Variational autoencoder detector: the reference method of Luo, Xiong & Zuo (2020).

Network: encoder d -> 24 -> 12 -> (mu, log-variance) of a 3-d latent; decoder 3 -> 12 -> 24 -> a
Gaussian over the d features.  Loss: the negative ELBO, Gaussian negative log-likelihood plus
``beta`` times KL(q(z|x) || N(0, I)).  The KL term is really on (beta=1 by default): some other
libraries clamp it to a zero "capacity" and so train a noisy plain autoencoder (METHODS.md, 4).

Scores, all higher = more anomalous, all deterministic for a seed (draws come from a generator
seeded with ``seed`` at every call).  Two kinds of anomaly need two kinds of evidence
(../shared/METHODS.md 2b): a sample OFF the background structure the network learned is
reconstructed badly (reconstruction scores); a sample far out ALONG it (every pathfinder
enriched in its usual proportions) is reconstructed well but its latent code lies far from the
prior (latent scores).

* ``"recon"``: squared error of the decoded latent *mean*, summed over features.
* ``"enrich"``: the same over the features *above* their reconstruction only
  (sum of max(0, x - x_hat)^2): mineralisation shows as enrichment (docs/DESIGN.md, "Choices").
* ``"rp"``: reconstruction probability of An & Cho (2015), ``-log mean_l p(x | z_l)`` over
  ``n_samples`` latent draws, in log space.
* ``"kl"``: KL(q(z|x) || N(0, I)), the latent-space extremeness, in nats.
* ``"enrich-kl"``: the KL with the sign of the shift it stands for: positive when the decoded
  latent mean lies above the background (the decoded prior mean, z = 0) in the weighted sum of
  features, negative when below -- a sample far out along the structure on the *depleted* side
  is not what exploration looks for.
* ``"elbo"``: the negative ELBO, E_q[-log p(x|z)] + KL, expectation over ``n_samples`` draws.
* ``"enrich-elbo"``: the one-sided ELBO: the Gaussian negative log-likelihood (in nats, with the
  decoder's variance) of the features above their reconstruction, plus the KL of an enriched
  latent code (max(0, enrich-kl)).  Both terms are nats of one model, so neither kind of
  anomaly needs a hand-set weight against the other.
* ``"nll"``: importance-weighted -log p(x) (Burda et al. 2016) with ``n_samples`` draws from
  q(z|x): the density of the sample under the model, blind to the sign of a shift.
* ``"combined"``: the larger of the percentile ranks of "enrich" and "enrich-kl", each rank taken
  against that score's distribution on the training rows (stored at fit): scale-free, and high
  when EITHER kind of anomaly is (a mean of ranks would halve a one-kind anomaly).

Likelihood-based scores (elbo, enrich-elbo, nll, rp) weigh each feature's log-likelihood by
``feature_weights`` normalised to mean 1, so weighting elements does not change the balance of
likelihood against KL.  All scores are computed on standardised features (see ``standardize``).
"""

from __future__ import annotations

import copy
import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .autoencoder import DeepDetector, weighted_sum
from .base import training_rank

#: log-variances (latent and decoder) are clamped to [LOGVAR_MIN, LOGVAR_MAX]: a variance
#: between 3e-4 and 3e3 on standardised data.  Without the lower bound a feature the decoder
#: reconstructs well drives its variance to 0 and the likelihood to infinity.
LOGVAR_MIN, LOGVAR_MAX = -8.0, 8.0

_LOG_2PI = math.log(2.0 * math.pi)
DECODER_VARIANCES = ("feature", "unit", "sample")
SCORES = ("recon", "enrich", "rp", "kl", "enrich-kl", "elbo", "enrich-elbo", "nll", "combined")
#: scores that draw latent samples (memory per scored row grows with n_samples)
SAMPLED_SCORES = ("rp", "elbo", "nll")


class VAEDetector(DeepDetector):
    """The VAE of Luo, Xiong & Zuo (2020) as an anomaly detector.

    Parameters
    ----------
    hidden, latent_dim, decoder_hidden : encoder widths (24, 12), latent size 3, decoder widths
        (None = the encoder mirrored: 12, 24).
    activation : hidden-layer activation ("relu", "tanh", "elu", "leaky_relu", ...).
    decoder_variance : "feature" (one learned log-variance per feature, default), "unit" (fixed
        variance 1: the reconstruction term becomes half the squared error plus a constant) or
        "sample" (a log-variance head, one variance per sample and feature).
    beta : weight of the KL term (1 = the true ELBO).
    learning_rate, epochs, batch_size : Adam step size, the most epochs, rows per Adam step.
        ``"auto"`` (default) picks about 32 steps per epoch (16 to 4,096 rows): the network is
        so small that a step costs mostly fixed overhead, so this brings 50 epochs on 100,000 x
        39 to ~10-13 s on 2 shared CPU cores while a 500-sample survey still gets 16-row batches
        (torch_training.AUTO_STEPS_PER_EPOCH explains the trade-off).  The value used is
        ``batch_size_``.
    validation_fraction, patience, tol : a seeded held-out fraction for early stopping; stop
        after ``patience`` epochs without a relative improvement of ``tol`` (None = never stop
        early); the best epoch's weights are restored.
    score : one of ``SCORES`` (see the module docstring); ``n_samples`` latent draws for the
        sampled scores ("rp", "elbo", "nll").  The score is used only when scoring, so one
        fitted detector can be scored several ways (``set_params(score=...)``).
    standardize : centre and scale features with the training mean/std inside the detector.
    seed : seeds weights, split, shuffling, training noise and "rp" draws; same seed = bitwise
        identical scores on CPU.
    device : "cpu", "cuda" or "auto".
    feature_weights : None (every feature counts once) or one weight per feature for the
        "recon" / "enrich" sums; with ``--target`` the pipeline gives the target element half
        of the total weight and its pathfinders the other half.
    progress : False, True (a tqdm bar per epoch) or ``callable(epoch, epochs, record)``.

    Fitted attributes: ``network_``, ``history_`` (per-epoch lists: loss, recon, kl and their
    ``val_`` versions), ``n_epochs_``, ``best_epoch_`` (1-based), ``kl_`` (mean KL in nats over
    all fitted rows with the restored weights), ``mean_``, ``scale_``, ``n_features_in_``,
    ``train_enrich_`` and ``train_enrich_kl_`` (sorted training scores: the reference
    distributions of "combined").
    """

    name = "vae"

    def __init__(self, hidden=(24, 12), latent_dim=3, decoder_hidden=None, activation="relu",
                 decoder_variance="feature", beta=1.0, learning_rate=1e-3, epochs=200,
                 batch_size="auto", validation_fraction=0.1, patience=20, tol=1e-4, score="recon",
                 n_samples=50, standardize=True, seed=0, device="cpu", progress=False,
                 feature_weights=None):
        self.feature_weights = feature_weights
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.decoder_variance = decoder_variance
        self.beta = beta
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.score = score
        self.n_samples = n_samples
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- network ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        if self.decoder_variance not in DECODER_VARIANCES:
            raise InputError(f"decoder_variance={self.decoder_variance!r} is not known; use one "
                             f"of {', '.join(DECODER_VARIANCES)}.")
        if self.score not in SCORES:
            raise InputError(f"score={self.score!r} is not known; use one of "
                             f"{', '.join(SCORES)}.")
        if float(self.beta) < 0:
            raise InputError(f"beta must be >= 0, got {self.beta!r}.")
        if int(self.n_samples) < 1:
            raise InputError(f"n_samples must be at least 1, got {self.n_samples!r}.")

    def _build_network(self, n_features: int):
        """A ModuleDict: encoder trunk, mu / log-variance heads, decoder trunk, decoder mean and
        (per ``decoder_variance``) a log-variance head or a per-feature log-variance."""
        import torch
        from torch import nn

        from . import torch_training as tt

        encoder, decoder = self._layer_sizes(n_features)
        latent = int(self.latent_dim)
        parts = {
            "encoder": tt.mlp(encoder, self.activation, last_activation=True),
            # one layer for both latent heads: [mu | log-variance] (one matmul instead of two)
            "z_params": nn.Linear(encoder[-1], 2 * latent),
            "decoder": tt.mlp(decoder, self.activation, last_activation=True),
            "x_mu": nn.Linear(decoder[-1], n_features),
        }
        if self.decoder_variance == "sample":
            parts["x_logvar"] = nn.Linear(decoder[-1], n_features)
        network = nn.ModuleDict(parts)
        if self.decoder_variance == "feature":
            network.register_parameter("x_logvar_feature", nn.Parameter(torch.zeros(n_features)))
        return network

    def _encode(self, network, x):
        mu, logvar = network["z_params"](network["encoder"](x)).chunk(2, dim=-1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def _decode(self, network, z):
        """Mean and log-variance of p(x|z); the log-variance broadcasts against the mean."""
        import torch

        h = network["decoder"](z)
        mu = network["x_mu"](h)
        if self.decoder_variance == "sample":
            logvar = network["x_logvar"](h)
        elif self.decoder_variance == "feature":
            logvar = network.x_logvar_feature
        else:
            logvar = torch.zeros((), dtype=mu.dtype, device=mu.device)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    @staticmethod
    def _gaussian_log_likelihood(x, mu, logvar):
        """log N(x; mu, exp(logvar)) summed over the last (feature) axis.

        With one log-variance per feature (a 0-d or 1-d ``logvar``) the weighted sum of squares
        is one matrix-vector product and the log-variances are summed once, not per row: the
        training step's elementwise passes are a large part of its cost.
        """
        n_features = x.shape[-1]
        if logvar.dim() <= 1:
            precision = (-logvar).exp().expand(n_features)
            weighted = (x - mu).square() @ precision
            return -0.5 * (weighted + logvar.expand(n_features).sum() + n_features * _LOG_2PI)
        return -0.5 * (_LOG_2PI + logvar + (x - mu).square() * (-logvar).exp()).sum(dim=-1)

    @staticmethod
    def _kl_to_standard_normal(mu, logvar):
        """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats."""
        return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=-1)

    def _batch_loss(self, network, batch, generator):
        """Negative ELBO per row, averaged: Gaussian NLL + beta * KL, one reparameterised draw."""
        import torch

        z_mu, z_logvar = self._encode(network, batch)
        eps = torch.randn(z_mu.shape, generator=generator, device=z_mu.device, dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps
        x_mu, x_logvar = self._decode(network, z)
        recon = -self._gaussian_log_likelihood(batch, x_mu, x_logvar).mean()
        kl = self._kl_to_standard_normal(z_mu, z_logvar).mean()
        return recon + float(self.beta) * kl, {"recon": recon.detach(), "kl": kl.detach()}

    def _after_fit(self, Z) -> None:
        """Mean KL, and the training distributions of the two parts of "combined"."""
        import torch

        from . import torch_training as tt

        kl, enrich, enrich_kl = [], [], []
        with torch.inference_mode():
            for start in range(0, Z.shape[0], tt.SCORE_CHUNK_ROWS):
                batch = Z[start:start + tt.SCORE_CHUNK_ROWS]
                kl.append(self._latent(batch)[2].double())
                enrich.append(self._score_named(batch, "enrich", None).double())
                enrich_kl.append(self._score_named(batch, "enrich-kl", None).double())
        self.kl_ = float(torch.cat(kl).sum()) / Z.shape[0]
        self.train_enrich_ = np.sort(torch.cat(enrich).cpu().numpy())
        self.train_enrich_kl_ = np.sort(torch.cat(enrich_kl).cpu().numpy())

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """One score per row (``score``); "combined" takes the larger of two training ranks."""
        if self.score != "combined":
            return super().anomaly_score(X)
        check_is_fitted(self, "train_enrich_")
        ranks = [training_rank(reference, self._with_score(part).anomaly_score(X))
                 for part, reference in (("enrich", self.train_enrich_),
                                         ("enrich-kl", self.train_enrich_kl_))]
        return np.maximum(ranks[0], ranks[1])

    def _with_score(self, score):
        """A shallow copy of this fitted detector that scores with ``score``."""
        other = copy.copy(self)
        other.score = score
        return other

    def _scoring_state(self, device):
        """The draws restart from ``seed`` at every call: same input, same scores."""
        from . import torch_training as tt

        return tt.make_generator(int(self.seed), device) if self.score in SAMPLED_SCORES else None

    def _score_chunk_rows(self) -> int:
        from . import torch_training as tt

        if self.score in SAMPLED_SCORES:  # the L draws multiply the activations by n_samples
            return max(16, tt.SCORE_CHUNK_ROWS // int(self.n_samples))
        return tt.SCORE_CHUNK_ROWS

    def _score_tensor(self, batch, generator=None):
        """Standardised float32 rows -> one score per row (higher = more anomalous)."""
        return self._score_named(batch, self.score, generator)

    def _latent(self, batch):
        """(mu, log-variance, KL) of q(z|x) per row."""
        z_mu, z_logvar = self._encode(self.network_, batch)
        return z_mu, z_logvar, self._kl_to_standard_normal(z_mu, z_logvar)

    def _likelihood_weights(self) -> list[float] | None:
        """Per-feature weights of the log-likelihood, normalised to mean 1 (None = all 1)."""
        if self.feature_weights is None:
            return None
        w = [float(v) for v in self.feature_weights]
        return [v * len(w) / sum(w) for v in w]

    def _score_named(self, batch, score, generator):
        import torch

        if score == "rp":
            return self._negative_log_reconstruction_probability(batch, generator)
        if score in ("elbo", "nll"):
            return self._sampled_bound(batch, generator, importance_weighted=score == "nll")
        if score in ("recon", "enrich"):  # the decoded latent mean only: no KL, no variances
            from . import torch_training as tt

            net = self.network_
            encoder = tt.linear_chain(net["encoder"], net["z_params"])
            x_mu = tt.feature_major_forward(
                encoder + tt.linear_chain(net["decoder"], net["x_mu"]), batch,
                keep_rows=(len(encoder) - 1, int(self.latent_dim)))
            if score == "recon":  # in place: no extra (n, d) buffers
                return weighted_sum(x_mu.sub_(batch).square_(), self.feature_weights)
            return weighted_sum(torch.sub(batch, x_mu, out=x_mu).clamp_min_(0.0).square_(),
                                self.feature_weights)
        z_mu, z_logvar, kl = self._latent(batch)
        if score == "kl":
            return kl
        x_mu, x_logvar = self._decode(self.network_, z_mu)
        signed_kl = self._enrichment_sign(x_mu) * kl
        if score == "enrich-kl":
            return signed_kl
        if score == "enrich-elbo":
            excess = batch.sub(x_mu).clamp_min_(0.0).square_().mul_((-x_logvar).exp())
            return 0.5 * weighted_sum(excess, self._likelihood_weights()) \
                + signed_kl.clamp_min(0.0)
        raise InputError(f"score={score!r} is not known; use one of {', '.join(SCORES)}.")

    def _has_columns_score(self) -> bool:
        return self.score in ("recon", "enrich", "kl", "enrich-elbo") and \
            self.decoder_variance != "sample"

    def _columns_score(self, xT):
        """recon, enrich, kl and enrich-elbo of (d, n) columns (scratch: xT), with the
        activations feature-major throughout; the same formulas as ``_score_named``."""
        import torch

        from . import torch_training as tt
        from .autoencoder import column_weighted_sum

        net = self.network_
        latent = int(self.latent_dim)
        z = tt.forward_columns(tt.linear_chain(net["encoder"], net["z_params"]), xT)
        z_mu = z[:latent]
        x_mu = tt.forward_columns(tt.linear_chain(net["decoder"], net["x_mu"]), z_mu)
        if self.score in ("recon", "enrich"):
            error = xT.sub_(x_mu)
            if self.score == "enrich":
                error.clamp_min_(0.0)
            return column_weighted_sum(error.square_(), self.feature_weights)
        z_logvar = z[latent:].clamp(LOGVAR_MIN, LOGVAR_MAX)
        kl = 0.5 * (z_mu.square() + z_logvar.exp() - 1.0 - z_logvar).sum(dim=0)
        if self.score == "kl":
            return kl
        origin = torch.zeros((1, latent), dtype=x_mu.dtype)
        background, x_logvar = self._decode(net, origin)
        # the side of the background: the weighted sum is linear, so w.(x_mu - b) = w.x_mu - w.b
        sign = (column_weighted_sum(x_mu, self.feature_weights)
                - column_weighted_sum(background.reshape(-1, 1), self.feature_weights)).sign()
        excess = torch.sub(xT, x_mu, out=xT).clamp_min_(0.0).square_()
        precision = (-x_logvar).exp().expand(x_mu.shape[0])
        weights = self._likelihood_weights()
        if weights is not None:
            precision = precision * torch.as_tensor(weights, dtype=precision.dtype)
        return 0.5 * (precision @ excess) + (sign * kl).clamp_min(0.0)

    def _enrichment_sign(self, x_mu):
        """+1 where the decoded latent mean lies above the decoded prior mean (z = 0) in the
        weighted sum of features, -1 below: the side of the background a latent shift is on."""
        import torch

        origin = torch.zeros((1, int(self.latent_dim)), dtype=x_mu.dtype, device=x_mu.device)
        background, _ = self._decode(self.network_, origin)
        return weighted_sum(x_mu - background, self.feature_weights).sign()

    def _sampled_bound(self, batch, generator, importance_weighted: bool):
        """Negative ELBO (mean over draws) or importance-weighted -log p(x) (log-mean-exp)."""
        import torch

        n_draws = int(self.n_samples)
        z_mu, z_logvar, kl = self._latent(batch)
        eps = torch.randn((n_draws, *z_mu.shape), generator=generator, device=z_mu.device,
                          dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps                          # (L, n, latent)
        x_mu, x_logvar = self._decode(self.network_, z)                  # (L, n, d)
        log_px = self._weighted_log_likelihood(batch, x_mu, x_logvar)     # (L, n)
        if not importance_weighted:
            return -log_px.mean(dim=0) + kl
        log_prior = -0.5 * (z.square() + _LOG_2PI).sum(dim=-1)
        log_q = -0.5 * (eps.square() + _LOG_2PI + z_logvar).sum(dim=-1)
        return -(torch.logsumexp(log_px + log_prior - log_q, dim=0) - math.log(n_draws))

    def _weighted_log_likelihood(self, batch, x_mu, x_logvar):
        """sum_j w_j log N(x_j; mu_j, exp(logvar_j)), weights normalised to mean 1."""
        weights = self._likelihood_weights()
        if weights is None:
            return self._gaussian_log_likelihood(batch, x_mu, x_logvar)
        per_feature = -0.5 * (_LOG_2PI + x_logvar + (batch - x_mu).square() * (-x_logvar).exp())
        return weighted_sum(per_feature, weights)

    def _negative_log_reconstruction_probability(self, batch, generator):
        """-log( mean_l p(x | z_l) ), z_l ~ q(z|x), in log space (An & Cho 2015)."""
        import torch

        n_draws = int(self.n_samples)
        z_mu, z_logvar = self._encode(self.network_, batch)
        eps = torch.randn((n_draws, *z_mu.shape), generator=generator, device=z_mu.device,
                          dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps                     # (L, n, latent)
        x_mu, x_logvar = self._decode(self.network_, z)             # (L, n, d)
        log_p = self._weighted_log_likelihood(batch, x_mu, x_logvar)  # (L, n)
        return -(torch.logsumexp(log_p, dim=0) - math.log(n_draws))

    # -- persistence ----------------------------------------------------------------------------
    def _fitted_state(self):
        import torch

        scalars, tensors = super()._fitted_state()
        scalars["kl_"] = float(self.kl_)
        tensors["train_enrich_"] = torch.from_numpy(np.ascontiguousarray(self.train_enrich_))
        tensors["train_enrich_kl_"] = torch.from_numpy(np.ascontiguousarray(self.train_enrich_kl_))
        return scalars, tensors

    def _restore_state(self, scalars, tensors) -> None:
        super()._restore_state(scalars, tensors)
        self.kl_ = float(scalars["kl_"])
        for name in ("train_enrich_", "train_enrich_kl_"):
            if name in tensors:  # models saved before "combined" existed lack them
                setattr(self, name, tensors[name].numpy().astype(np.float64))

