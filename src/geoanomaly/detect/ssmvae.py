"""Geologically constrained VAE with a spectrum-separable module (Zhao et al. 2023, Applied
Geochemistry 156:105765), a map model.

What the paper says [paper, partly inferred]: a VAE on element maps (Shangluo) whose encoder has
a spectrum-separable module -- convolutions separable across the element channels: each element
channel filtered spatially on its own, then the elements' "spectrum" mixed -- and a
fractal-derived geological constraint added to the loss; factor analysis and EM thresholding of
the results come after and are not part of the detector. The layers are not published; every
choice below is this module's own and is stated where it is made.

What this module takes: a :class:`geoanomaly.grid.windows.GridInput` (registry ``input_kind =
"windows"``; rows are refused) and, in ``fit``, the PRIOR: one value in [0, 1] per valid cell
(grid row order; higher = geologically more favourable), made elsewhere (a controlling function
fitted on deposits inside spatial folds, or a label-free one from geology alone).
``anomaly_score(X)`` needs no prior: the scores come from the trained network only. ``y`` is
ignored.

Design (every choice, in order):

* **Standardisation.** Each element channel is centred and scaled by its mean and standard
  deviation over the observed valid cells (``mean_``, ``scale_``); unobserved values (outside
  the survey, no-data, imputed) are 0 and masked, never filled (grid/windows.py). No whitening:
  mixing the elements is the pointwise convolutions' job.
* **Windows.** A ``window`` x ``window`` square (odd, default 7) around every valid cell, cut on
  the fly from one padded image held in memory (no (n, channels, 7, 7) copy of the map: 33,813
  cells x 78 channels would be 0.5 GB); beyond the map edge zero and masked. Input channels:
  the C standardised elements and their C masks (1 = observed), so a masked 0 is not mistaken
  for a value.
* **Encoder with the spectrum-separable module.** depthwise 3x3 conv (groups = 2C, padding 1:
  one spatial filter per element / mask channel) -> pointwise 1x1 conv 2C -> 32 (mixes the
  spectrum) -> ReLU -> depthwise 3x3 (groups = 32) -> pointwise 32 -> 16 -> ReLU -> flatten ->
  one linear layer to (mu, log-variance) of a 4-d latent (``filters = (32, 16)``,
  ``latent_dim = 4``). The dense bottleneck stops a padded conv stack from learning the
  identity (as in mcae.py). The convolutions run in the channels-last memory layout: on a CPU
  the depthwise ones are several times faster in it (a 184 x 184 x 39 map would otherwise take
  over twice as long).
* **Decoder** (the module mirrored): linear 4 -> 16 x w x w -> ReLU -> depthwise 3x3 (16) ->
  pointwise 16 -> 32 -> ReLU -> depthwise 3x3 (32) -> pointwise 32 -> C: the means of the C
  element channels of the window (linear output; masks are not reconstructed).
* **Likelihood.** Gaussian with one LEARNT log-variance per element (as the project's VAE;
  clamped to [-8, 8] like it), masked: unobserved pixels count for nothing. Loss per window =
  the masked Gaussian negative log-likelihood summed over the window's observed values +
  ``beta`` (1) x KL(q(z|x) || N(0, I)), averaged over the batch; one reparameterised draw per
  window and step.
* **Geological constraint** (the paper's fractal-derived constraint; the prior replaces it
  here): the penalty of :mod:`geoanomaly.detect.pcvae` on the window's CENTRE cell. ``e`` =
  the centre's one-sided error of the latent-mean decode, ``sum_j m_j max(0, x_j - xhat_j)^2 /
  sigma_j^2`` (twice the score below; the variance detached), ``s = e / (e + median_batch(e) +
  1e-6)`` (a sigmoid of the log error standardised by the batch, 0.5 at the median, detached
  median), penalty ``lam * C * w^2 * mean_batch (s_i - prior_i)^2`` with ``w`` the window
  side: the window's loss is a sum over its C x w x w values, so ``lam`` weighs
  the penalty against the loss PER VALUE, as pcvae weighs it against the loss per feature
  (``lam = 0.1`` means the same on 3 and on 39 elements, on 5 x 5 and 9 x 9 windows). The
  network sees only chemistry: to meet the penalty it reconstructs the centre enrichment
  patterns typical of favourable ground less faithfully and those of unfavourable ground more
  faithfully, so at scoring time cells whose chemistry resembles favourable ground score
  higher; the prior is never copied into the scores. ``lam = 0`` trains the plain model (the
  prior is then checked but unused). A flat prior carries no information: the penalty can then
  only even the centre errors out towards their median (use ``lam = 0``).
* **Warm-up.** ``min(warmup, epochs // 2)`` epochs (``warmup`` = 5 of 30) of the plain model
  with no early stopping, the best of them restored, then a second run of the rest with the
  penalty on, early stopping and the best epoch restored (two runs so that early stopping never
  compares losses with and without the penalty; the second run has a fresh Adam state and draws
  its shuffles and noise from ``seed + 1``). The validation loss of both runs includes the
  penalty (reported, not trained, in the warm-up; ``history_["penalty"]`` = mean (s - prior)^2).
* **Validation split.** :func:`geoanomaly.grid.windows.blocked_split` (``validation_fraction``
  0.2, block side ``block_cells``, default ``min(4 w, max(w, min(height, width) // 4))`` as
  mcae), never a random split of overlapping windows; ``validation_fraction = 0`` trains on
  every window and watches the training loss. Early stopping ``patience`` 5 (``tol`` 1e-4).
* **Training windows.** At most ``max_windows`` = 8,192 training and 2,048 validation windows,
  a seeded draw after the blocked split, fixed for the fit (as pccae and ganomaly-map): an
  epoch over all 33,813 windows of xinjiang_au took about 6 s x 30 epochs, and in spatial folds
  five times that, while neighbouring windows repeat each other. ``None`` keeps every window.
* **Training.** Adam 1e-3, ``epochs`` = 30 at most, batch size "auto" (about 32 steps an epoch)
  through :func:`geoanomaly.detect.torch_training.train_network`; the training tensor holds one
  row per window (its centre cell's index and its prior), so the split and the shuffled batches
  carry each window's prior with it and the batch loss cuts the windows.
* **Score.** The centre cell's one-sided negative log-likelihood (nats, the decoder's learnt
  variances, latent MEAN decoded, no sampling): ``0.5 sum_j m_j max(0, x_j - xhat_j)^2 /
  sigma_j^2`` over the elements observed at the centre -- the likelihood part of the VAE's
  ``enrich-elbo``, one-sided because exploration looks for enrichment, the centre because a
  window mean smears a one-cell anomaly over its neighbours. One float64 per valid cell, grid
  row order; a cell with no observed element scores 0. (The window's KL is left out: it is a
  property of the whole window, not of its centre.)
* **Seeding.** Weights through ``build_seeded``, shuffles and noise through explicit
  generators; torch's global RNG is never touched; same seed -> bit-identical scores on CPU.

The input check, the standardisation, the window cutter (channels-last here), the blocked split,
the chunked scoring and save / load are the map models' shared ones
(:mod:`geoanomaly.detect.map_models`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .map_models import (MapDetector, WindowCutter, check_grid_input, check_map_params,
                         check_max_windows, check_window, draw_windows, mean_std_statistics,
                         score_cells, standardised_images, window_split)
from .pcvae import (CONSTRAINED_SEED_OFFSET, check_constraint_params, check_prior,
                    merge_histories, prior_penalty, warmup_epochs)

#: windows per scoring chunk: 2,048 x 78 x 7 x 7 float32 = 31 MB for a 39-element map
SCORE_CHUNK = 2048
#: log-variances (latent and decoder) are clamped to this range, as in vae.py
LOGVAR_MIN, LOGVAR_MAX = -8.0, 8.0
_LOG_2PI = math.log(2.0 * math.pi)
#: cell indices travel as float32 in the training tensor: exact below 2**24
MAX_CELLS = 2 ** 24
#: how the errors name the model
MODEL = "the ssmvae"


class SSMVAEDetector(MapDetector):
    """Geologically constrained VAE with a spectrum-separable module (Zhao et al. 2023), a map
    model. See the module docstring for every design choice.

    Parameters
    ----------
    window : odd window side in cells (7).
    filters : channels after the two pointwise convolutions (32, 16).
    latent_dim : latent size (4).
    beta : weight of the KL term (1 = the ELBO).
    lam : weight of the prior penalty against the loss per value (0.1; 0 = no constraint).
    warmup : epochs of unconstrained training first (5; at most half of ``epochs``).
    learning_rate, epochs, batch_size : Adam 1e-3, at most 30 epochs, "auto" batch size.
    validation_fraction, block_cells, patience, tol : blocked validation split (0.2, block side
        None = automatic) and early stopping (5 epochs without a relative improvement of 1e-4).
    seed, device, progress : as the other deep detectors.

    ``fit(X: GridInput, y=None, prior=...)`` with ``prior`` (n_valid_cells,) in [0, 1];
    ``anomaly_score(X: GridInput)`` -> one float64 per valid cell (grid row order), higher =
    more anomalous. Fitted attributes: ``network_``, ``mean_``, ``scale_``, ``n_features_in_``,
    ``history_``, ``n_epochs_``, ``best_epoch_``, ``warmup_epochs_``, ``batch_size_``.
    """

    name = "ssmvae"
    input_kind = "windows"
    _saved_ints = (*MapDetector._saved_ints, "warmup_epochs_", "n_train_windows_",
                   "n_val_windows_")

    def __init__(self, window=7, filters=(32, 16), latent_dim=4, beta=1.0, lam=0.1, warmup=5,
                 learning_rate=1e-3, epochs=30, batch_size="auto", max_windows=8192,
                 validation_fraction=0.2, block_cells=None, patience=5, tol=1e-4, seed=0,
                 device="cpu", progress=False):
        self.window = window
        self.filters = filters
        self.latent_dim = latent_dim
        self.beta = beta
        self.lam = lam
        self.warmup = warmup
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_windows = max_windows
        self.validation_fraction = validation_fraction
        self.block_cells = block_cells
        self.patience = patience
        self.tol = tol
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None, prior=None):
        """Standardise, split by blocks, warm up, train with the prior penalty; returns self."""
        import torch

        from . import torch_training as tt

        images, masks, grid = check_grid_input(X, MODEL)
        n_cells = int(np.asarray(grid.valid).sum())
        prior = check_prior(prior, n_cells, self.name, what="valid cells")
        self._check_params()
        if n_cells >= MAX_CELLS:
            raise InputError(f"the map has {n_cells} valid cells; the {self.name} model takes "
                             f"fewer than {MAX_CELLS}: use a coarser grid.")
        device = tt.resolve_device(self.device)
        self.n_features_in_ = images.shape[0]
        self.mean_, self.scale_ = mean_std_statistics(images, masks)
        source = self._cutter(images, masks, grid, device)
        train_idx, val_idx = window_split(grid, int(self.window), self.validation_fraction,
                                          self.seed, self.block_cells)
        train_idx, val_idx = draw_windows(train_idx, val_idx, self.max_windows, self.seed)
        self.n_train_windows_, self.n_val_windows_ = int(train_idx.size), int(val_idx.size)
        # one row per window: its centre cell (as float32, exact below MAX_CELLS) and its prior
        table = torch.from_numpy(np.stack([np.arange(n_cells), prior], 1).astype(np.float32))
        table = table.to(device)
        train = table[torch.from_numpy(train_idx).to(device)]
        val = table[torch.from_numpy(val_idx).to(device)]
        network = tt.build_seeded(lambda: self._build_network(self.n_features_in_),
                                  int(self.seed), device)
        common = dict(batch_size=self.batch_size, learning_rate=self.learning_rate,
                      tol=float(self.tol), progress=self.progress)

        def loss(constrained):
            return lambda net, batch, gen: self._batch_loss(net, batch, gen, source, constrained)

        constrained = float(self.lam) > 0
        warm = warmup_epochs(self.warmup, self.epochs) if constrained else 0
        history, offset = {}, 0
        if warm > 0:
            first = tt.train_network(network, loss(False), train, val, epochs=warm,
                                     patience=None, seed=int(self.seed), **common)
            history, offset = first.history, first.n_epochs
        second = tt.train_network(
            network, loss(constrained), train, val, epochs=int(self.epochs) - warm,
            patience=self.patience,
            seed=int(self.seed) + (CONSTRAINED_SEED_OFFSET if warm > 0 else 0), **common)
        self.network_ = network.eval()
        self.device_ = str(device)
        self.history_ = merge_histories(history, second.history)
        self.warmup_epochs_ = offset
        self.n_epochs_ = offset + second.n_epochs
        self.best_epoch_ = offset + second.best_epoch
        self.batch_size_ = second.batch_size
        return self

    def _check_params(self) -> None:
        from . import torch_training as tt

        check_window(self.window, 3)
        check_map_params(self, (32, 16))
        tt.check_at_least_one(self, "latent_dim")
        if float(self.beta) < 0:
            raise InputError(f"beta must be >= 0, got {self.beta!r}.")
        check_constraint_params(self.lam, self.warmup)
        check_max_windows(self.max_windows)

    def _build_network(self, n_channels: int):
        """ModuleDict: encoder (two separable blocks), latent heads, decoder, and one learnt
        log-variance per element."""
        import torch
        from torch import nn

        f1, f2 = (int(f) for f in self.filters)
        size, latent, inputs = int(self.window), int(self.latent_dim), 2 * n_channels
        network = nn.ModuleDict({
            "encoder": nn.Sequential(
                nn.Conv2d(inputs, inputs, 3, padding=1, groups=inputs),  # spatial, per channel
                nn.Conv2d(inputs, f1, 1), nn.ReLU(),                      # spectral mixing
                nn.Conv2d(f1, f1, 3, padding=1, groups=f1),
                nn.Conv2d(f1, f2, 1), nn.ReLU(),
                nn.Flatten()),
            "z_params": nn.Linear(f2 * size * size, 2 * latent),
            "decoder": nn.Sequential(
                nn.Linear(latent, f2 * size * size), nn.ReLU(),
                nn.Unflatten(1, (f2, size, size)),
                nn.Conv2d(f2, f2, 3, padding=1, groups=f2),
                nn.Conv2d(f2, f1, 1), nn.ReLU(),
                nn.Conv2d(f1, f1, 3, padding=1, groups=f1),
                nn.Conv2d(f1, n_channels, 1)),
        })
        network.register_parameter("x_logvar", nn.Parameter(torch.zeros(n_channels)))
        # channels-last convolutions: on a CPU the depthwise ones run several times faster
        return network.to(memory_format=torch.channels_last)

    @staticmethod
    def _encode(network, windows):
        mu, logvar = network["z_params"](network["encoder"](windows)).chunk(2, dim=-1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def _batch_loss(self, network, batch, generator, source, constrained: bool):
        """Masked Gaussian NLL of the window + beta KL, plus (when ``constrained``) the prior
        penalty on the centre cell; the penalty is reported either way."""
        import torch

        channels = self.n_features_in_
        windows = source(batch[:, 0].long())
        x, m = windows[:, :channels], windows[:, channels:]
        z_mu, z_logvar = self._encode(network, windows)
        eps = torch.randn(z_mu.shape, generator=generator, device=z_mu.device, dtype=z_mu.dtype)
        z = z_mu + (0.5 * z_logvar).exp() * eps
        # one decoder pass for the draw and the latent mean (the penalty decodes the mean)
        decoded = network["decoder"](torch.cat([z, z_mu]))
        x_mu, mean_mu = decoded[:z.shape[0]], decoded[z.shape[0]:]
        logvar = network.x_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)[:, None, None]
        nll = 0.5 * (m * ((x - x_mu).square() * (-logvar).exp() + logvar + _LOG_2PI))
        recon = nll.sum(dim=(1, 2, 3)).mean()
        kl = (0.5 * (z_mu.square() + z_logvar.exp() - 1.0 - z_logvar).sum(dim=-1)).mean()
        loss = recon + float(self.beta) * kl
        c = int(self.window) // 2
        excess = (x[:, :, c, c] - mean_mu[:, :, c, c]).clamp_min(0.0).square() \
            * (-logvar[:, 0, 0].detach()).exp() * m[:, :, c, c]
        penalty = prior_penalty(excess.sum(dim=1), batch[:, 1])
        if constrained:
            loss = loss + float(self.lam) * channels * int(self.window) ** 2 * penalty
        return loss, {"recon": recon.detach(), "kl": kl.detach(), "penalty": penalty.detach()}

    def _cutter(self, images, masks, grid, device) -> WindowCutter:
        """Windows of the standardised images, channels-last (the layout the network runs in,
        see ``_build_network``)."""
        return WindowCutter(standardised_images(images, masks, self.mean_, self.scale_), masks,
                            grid, int(self.window), device, channels_last=True)

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """The centre cell's one-sided negative log-likelihood (latent mean decoded); one
        float64 per valid cell, grid row order."""
        import torch

        check_is_fitted(self, "network_")
        images, masks, grid = check_grid_input(X, MODEL, n_channels=self.n_features_in_)
        device = torch.device(self.device_)
        source = self._cutter(images, masks, grid, device)
        c = int(self.window) // 2
        channels = self.n_features_in_
        network = self.network_.eval()
        precision = (-network.x_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)).exp()

        def centre_nll(index):
            windows = source(index)
            z_mu, _ = self._encode(network, windows)
            centre = network["decoder"](z_mu)[:, :, c, c]
            excess = (windows[:, :channels, c, c] - centre).clamp_min(0.0).square()
            excess = excess * precision * windows[:, channels:, c, c]
            return 0.5 * excess.sum(dim=1)

        return score_cells(centre_nll, source.n_cells, device, SCORE_CHUNK)
