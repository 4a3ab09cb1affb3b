"""Variational autoencoder detector: the reference method of Luo, Xiong & Zuo (2020).

Network: encoder d -> 24 -> 12 -> (mu, log-variance) of a 3-d latent; decoder 3 -> 12 -> 24 -> a
Gaussian over the d features.  Loss: the negative ELBO, Gaussian negative log-likelihood plus
``beta`` times KL(q(z|x) || N(0, I)).  The KL term is really on (beta=1 by default): some other
libraries clamp it to a zero "capacity" and so train a noisy plain autoencoder (METHODS.md, 4).

Two scores, both higher = more anomalous:

* ``"recon"`` (default): squared reconstruction error of the decoded latent *mean*, summed over
  features; deterministic, no sampling.
* ``"enrich"``: like "recon" but only features *above* their reconstruction count
  (sum of max(0, x - x_hat)^2): mineralisation shows as enrichment of pathfinder elements, and
  a score that rewards depletion as much dilutes it (docs/DESIGN.md, "Choices").
* ``"rp"``: reconstruction probability of An & Cho (2015): ``-log mean_l p(x | mu_x_l,
  sigma_x_l)`` over ``n_samples`` latent draws, computed with log-sum-exp so that far outliers
  give large finite scores instead of ``-log 0``.  The draws come from a generator seeded with
  ``seed`` at every call, so the score is repeatable.

Both are computed on standardised features (see ``standardize``).
"""

from __future__ import annotations

import math

from ..errors import InputError
from .autoencoder import DeepDetector, weighted_sum

#: log-variances (latent and decoder) are clamped to [LOGVAR_MIN, LOGVAR_MAX]: a variance
#: between 3e-4 and 3e3 on standardised data.  Without the lower bound a feature the decoder
#: reconstructs well drives its variance to 0 and the likelihood to infinity.
LOGVAR_MIN, LOGVAR_MAX = -8.0, 8.0

_LOG_2PI = math.log(2.0 * math.pi)
DECODER_VARIANCES = ("feature", "unit", "sample")
SCORES = ("recon", "rp", "enrich")


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
    score : "recon", "enrich" or "rp" (see the module docstring); ``n_samples`` latent draws for "rp".
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
    all fitted rows with the restored weights), ``mean_``, ``scale_``, ``n_features_in_``.
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
        import torch

        from . import torch_training as tt

        total = 0.0
        with torch.inference_mode():
            for start in range(0, Z.shape[0], tt.SCORE_CHUNK_ROWS):
                mu, logvar = self._encode(self.network_, Z[start:start + tt.SCORE_CHUNK_ROWS])
                total += float(self._kl_to_standard_normal(mu, logvar).double().sum())
        self.kl_ = total / Z.shape[0]

    # -- scoring ------------------------------------------------------------------------------
    def _scoring_state(self, device):
        """The "rp" draws restart from ``seed`` at every call: same input, same scores."""
        from . import torch_training as tt

        return tt.make_generator(int(self.seed), device) if self.score == "rp" else None

    def _score_chunk_rows(self) -> int:
        from . import torch_training as tt

        if self.score == "rp":  # the L draws multiply the activations by n_samples
            return max(16, tt.SCORE_CHUNK_ROWS // int(self.n_samples))
        return tt.SCORE_CHUNK_ROWS

    def _score_tensor(self, batch, generator=None):
        """Standardised float32 rows -> one score per row (higher = more anomalous)."""
        if self.score == "rp":
            return self._negative_log_reconstruction_probability(batch, generator)
        z_mu, _ = self._encode(self.network_, batch)
        x_mu, _ = self._decode(self.network_, z_mu)
        if self.score == "enrich":
            return weighted_sum(batch.sub(x_mu).clamp_min_(0.0).square_(), self.feature_weights)
        # in place: no extra (n, d) buffers
        return weighted_sum(x_mu.sub_(batch).square_(), self.feature_weights)

    def _negative_log_reconstruction_probability(self, batch, generator):
        """-log( mean_l p(x | z_l) ), z_l ~ q(z|x), in log space (An & Cho 2015)."""
        import torch

        n_draws = int(self.n_samples)
        z_mu, z_logvar = self._encode(self.network_, batch)
        eps = torch.randn((n_draws, *z_mu.shape), generator=generator, device=z_mu.device,
                          dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps                     # (L, n, latent)
        x_mu, x_logvar = self._decode(self.network_, z)             # (L, n, d)
        log_p = self._gaussian_log_likelihood(batch, x_mu, x_logvar)  # (L, n)
        return -(torch.logsumexp(log_p, dim=0) - math.log(n_draws))

    # -- persistence ----------------------------------------------------------------------------
    def _fitted_state(self):
        scalars, tensors = super()._fitted_state()
        scalars["kl_"] = float(self.kl_)
        return scalars, tensors

    def _restore_state(self, scalars, tensors) -> None:
        super()._restore_state(scalars, tensors)
        self.kl_ = float(scalars["kl_"])
