"""GANomaly on masked map windows: the window (map) variant of Luo, Zuo, Xiong & Wang (2021,
Applied Geochemistry 131:105043) after Akcay, Atapour-Abarghouei & Breckon (2018, arXiv
1805.06725), a map model (registry ``input_kind = "windows"``).

What is published and kept: the generator is an encoder -> decoder -> second encoder with its
own weights, the discriminator is an encoder with one output whose penultimate features serve
the feature-matching loss; generator loss = 1 * feature matching + 50 * L1 reconstruction +
1 * latent distance; discriminator loss = BCE real / fake; Adam 2e-4, betas (0.5, 0.999); the
discriminator is re-initialised when its loss collapses below 1e-5; score = mean squared
difference of the two latent codes [paper; code: samet-akcay/ganomaly].  Luo et al. (2021)
worked on sample vectors (see ganomaly.py); a later geochemical GANomaly describes a
convolutional AE + GAN on image patches (METHODS.md).  Everything about the windows below is
this module's own choice, stated where it is made.

Design (every choice, in order):

* **Input.** A ``GridInput`` (grid.windows): every element channel, standardised per channel
  with the mean and standard deviation of its observed valid cells (``standardize``), and its
  mask.  The window around a valid cell is ``window`` x ``window`` cells (default 7: enough for
  a halo of a few cells with background around it, and half the pixels of a 9 x 9 window, so
  the 39-element xinjiang_au map trains in minutes); it holds the C standardised element values
  (0 where not observed) and the C masks, 2C channels (so a masked 0 is never read as a value).
  Outside the survey, no-data cells and imputed values are unobserved (grid.windows).
* **Networks** (LeakyReLU 0.2 as the reference; no batch normalisation: a tiny network, and a
  score that must not depend on which windows share a batch).  Encoder (``G_E``, ``E`` and the
  discriminator's trunk have the same shape): 1 x 1 convolution 2C -> ``filters[0]`` (mixes the
  elements at each cell, cheap with 78 channels) - 3 x 3 convolution stride 2 -> ``filters[1]``
  - 3 x 3 convolution stride 2 -> ``filters[1]`` - flatten - linear to ``latent_dim`` = 16
  (the reference's images use 100; a 7 x 7 x 2C window is far smaller).  Decoder ``G_D``: the
  mirror (linear, two stride-2 transposed convolutions back to the window size, 1 x 1
  convolution to C element channels, linear output).  The second encoder reads the
  reconstruction with the input's masks, ``[x_hat * m, m]``, and the discriminator reads
  ``[x, m]`` and ``[x_hat * m, m]``: an unobserved pixel is 0 in both, so it can add nothing to
  any loss or to the score.  The discriminator's features ``f`` are its flattened trunk (the
  input of its one-logit head).
* **Losses** per Adam step, from one forward pass, each network updated by its own loss only
  (as ganomaly.py): generator ``1 * mean (f(x) - f(x_hat))^2 + 50 * sum(m |x - x_hat|) / sum(m)
  + 1 * mean (z - z_hat)^2`` (masked L1: unobserved pixels count for nothing); discriminator
  ``(BCE(D(x), 1) + BCE(D(x_hat), 0)) / 2`` on logits; a collapsed discriminator (loss below
  ``d_reinit_below``) gets fresh weights from a seed derived from ``seed`` and the count, and a
  fresh Adam state.
* **Training windows.** :func:`geoanomaly.grid.windows.blocked_split` (``validation_fraction``
  0.2, block side ``block_cells``, default ``min(4 s, max(s, min(height, width) // 4))`` as the
  MCAE) -- never a random split of overlapping windows.  Each epoch draws, seeded, at most
  ``windows_per_epoch`` = 8,192 of the training windows (all of them, shuffled, on a smaller
  map), so an epoch costs the same on any map; batch ``"auto"`` = about 32 Adam steps an epoch.
  The validation windows are a fixed seeded sample of at most ``max_validation_windows`` =
  4,096, the same every epoch.  Windows are cut from the padded images batch by batch (the
  whole xinjiang_au window set would be 0.5 GB).
* **Label-free checkpoint** (as ganomaly.py): the weights kept are those of the epoch with the
  lowest held-out ``w_rec * L1 + w_enc * latent`` loss (the adversarial term is measured through
  a discriminator that changes every step, so its values from different epochs are not
  comparable); training stops after ``patience`` epochs without a relative improvement of
  ``tol``; at most ``epochs`` = 30 epochs (the registry caps ``--epochs`` at that).
  ``fit`` has no access to labels (``y`` is ignored).
* **Score.** Per valid cell, the mean squared difference of the two latent codes of the window
  centred on it (``mean_k (z_k - z_hat_k)^2``), NOT min-max scaled over the scored set as the
  reference does (a cell's score must not depend on which other cells are scored).  One float64
  per valid cell in the grid's row order, higher = more anomalous.
* **Seeding.** Weights through ``build_seeded``; the split through ``blocked_split(seed)``;
  window sampling and shuffling from explicit torch generators; torch's global RNG is never
  touched; same seed -> bit-identical scores on CPU.
* **Threads.** One torch thread on the CPU: on 2 shared, busy cores a second intra-op thread
  made a training step slower, not faster (256 windows x 78 channels: 100-116 ms with one
  thread, 250-270 ms with two, measured).
* **Speed** (measured on a random smooth 5-factor map of xinjiang_au's size: 184 x 184 cells,
  33,813 valid, 39 elements): the defaults (30 epochs of 8,192 windows, 7 x 7) fit in 125 s of
  CPU time (one thread; 9 minutes of wall time on a 2-core machine shared with three other
  jobs) and score every cell in 4 s.

The adversarial training loop, the discriminator's re-initialisation and the loss weights are
GANomaly's own (:class:`geoanomaly.detect.ganomaly.AdversarialTraining`, shared with the row
detector); the input check, the window cutter, the blocked split, the chunked scoring and save /
load are the map models' (:mod:`geoanomaly.detect.map_models`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .ganomaly import LEAKY_SLOPE, AdversarialTraining
from .map_models import (MapDetector, WindowCutter, check_grid_input, check_map_params,
                         check_window, mean_std_statistics, score_cells, standardised_images,
                         window_split)

#: how the errors name the model, and what they advise for rows
MODEL = "GANomaly on windows"
ROWS_ADVICE = "; use the model 'ganomaly' for sample rows"
#: seed offset of the fixed sample of validation windows
VALIDATION_SEED_OFFSET = 7919
#: windows per scoring / evaluation chunk: 2,048 x 78 x 7 x 7 float32 = 31 MB
SCORE_CHUNK = 2048


class GANomalyMapDetector(AdversarialTraining, MapDetector):
    """GANomaly (Akcay et al. 2018; Luo et al. 2021) on masked map windows: a convolutional
    encoder-decoder-encoder generator and a convolutional discriminator; score = latent distance
    of the window centred on each valid cell.  See the module docstring for every choice.

    ``fit(X: GridInput)`` / ``anomaly_score(X: GridInput)`` -> one float64 per valid cell (grid
    row order), higher = more anomalous.  ``y`` is ignored.

    Parameters
    ----------
    window : odd window side in cells (7).
    filters : channels of the 1 x 1 and of the two 3 x 3 stride-2 convolutions (16, 32).
    latent_dim : latent code size (16).
    w_adv, w_rec, w_enc : generator loss weights (1, 50, 1 as published).
    learning_rate, beta1, beta2 : Adam for both networks (2e-4, 0.5, 0.999 as published).
    d_reinit_below : re-initialise the discriminator when its loss falls below this (1e-5 as
        the reference; 0 switches it off).
    epochs, windows_per_epoch, batch_size : the most epochs (30), training windows drawn per
        epoch (8,192) and windows per Adam step (``"auto"``: about 32 steps an epoch).
    validation_fraction, block_cells, max_validation_windows : the blocked hold-out (0.2 of the
        cells, block side, at most 4,096 windows evaluated); ``validation_fraction=0`` watches
        the training criterion instead.
    patience, tol : early stopping on the held-out ``w_rec * L1 + w_enc * latent`` loss (10
        epochs; ``None`` runs all epochs).
    standardize : standardise each channel over its observed valid cells.
    seed, device, progress : as the other deep detectors.

    Fitted attributes: ``network_`` (ModuleDict: encoder, decoder, encoder2, disc_features,
    disc_head), ``history_``, ``n_epochs_``, ``best_epoch_`` (1-based), ``batch_size_``,
    ``n_d_reinit_``, ``mean_``, ``scale_`` (per channel), ``n_features_in_`` (channels).
    """

    name = "ganomaly-map"
    input_kind = "windows"
    _saved_ints = (*MapDetector._saved_ints, "n_d_reinit_")

    def __init__(self, window=7, filters=(16, 32), latent_dim=16, w_adv=1.0, w_rec=50.0,
                 w_enc=1.0, learning_rate=2e-4, beta1=0.5, beta2=0.999, d_reinit_below=1e-5,
                 epochs=30, windows_per_epoch=8192, batch_size="auto", validation_fraction=0.2,
                 block_cells=None, max_validation_windows=4096, patience=10, tol=1e-4,
                 standardize=True, seed=0, device="cpu", progress=False):
        self.window = window
        self.filters = filters
        self.latent_dim = latent_dim
        self.w_adv = w_adv
        self.w_rec = w_rec
        self.w_enc = w_enc
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.d_reinit_below = d_reinit_below
        self.epochs = epochs
        self.windows_per_epoch = windows_per_epoch
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.block_cells = block_cells
        self.max_validation_windows = max_validation_windows
        self.patience = patience
        self.tol = tol
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- parameters and networks ----------------------------------------------------------------
    def _check_params(self) -> None:
        from . import torch_training as tt

        check_window(self.window, 1)
        check_map_params(self, (16, 32))
        tt.check_at_least_one(self, "latent_dim", "windows_per_epoch", "max_validation_windows")
        self._check_adversarial_params()

    def _sizes(self) -> tuple[int, int, int]:
        """(window, after the first stride-2 convolution, after the second)."""
        window = int(self.window)
        first = (window - 1) // 2 + 1
        return window, first, (first - 1) // 2 + 1

    def _trunk(self, n_channels: int):
        """1x1 conv - 3x3/2 conv - 3x3/2 conv - flatten (the encoders' and D's shared shape)."""
        from torch import nn

        f1, f2 = (int(f) for f in self.filters)
        return nn.Sequential(
            nn.Conv2d(2 * n_channels, f1, 1), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(f1, f2, 3, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(f2, f2, 3, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Flatten())

    def _encoder(self, n_channels: int):
        from torch import nn

        f2, (_, _, q) = int(self.filters[1]), self._sizes()
        return nn.Sequential(self._trunk(n_channels), nn.Linear(f2 * q * q, int(self.latent_dim)))

    def _decoder(self, n_channels: int):
        """latent -> linear -> two stride-2 transposed convolutions -> 1x1 conv to C channels;
        ``output_padding`` restores the exact sizes of the encoder (odd or even)."""
        from torch import nn

        f1, f2 = (int(f) for f in self.filters)
        window, first, q = self._sizes()
        return nn.Sequential(
            nn.Linear(int(self.latent_dim), f2 * q * q), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Unflatten(1, (f2, q, q)),
            nn.ConvTranspose2d(f2, f2, 3, stride=2, padding=1, output_padding=first - (2 * q - 1)),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.ConvTranspose2d(f2, f1, 3, stride=2, padding=1,
                               output_padding=window - (2 * first - 1)),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(f1, n_channels, 1))

    def _discriminator(self, n_channels: int) -> dict:
        from torch import nn

        f2, (_, _, q) = int(self.filters[1]), self._sizes()
        return {"disc_features": self._trunk(n_channels), "disc_head": nn.Linear(f2 * q * q, 1)}

    def _build_network(self, n_channels: int):
        from torch import nn

        return nn.ModuleDict({"encoder": self._encoder(n_channels),
                              "decoder": self._decoder(n_channels),
                              "encoder2": self._encoder(n_channels),
                              **self._discriminator(n_channels)})

    # -- data ---------------------------------------------------------------------------------
    def _prepared(self, images, masks, grid, device) -> WindowCutter:
        """The window cutter of the standardised images (computed in float32, as fitted)."""
        values = standardised_images(images, masks, self.mean_, self.scale_, dtype=np.float32)
        return WindowCutter(values, masks, grid, int(self.window), device)

    @staticmethod
    def _windows(cutter, centres):
        """(values (n, C, s, s), masks (n, C, s, s)), each contiguous, of the windows around
        ``centres`` (a long tensor of valid-cell indices)."""
        values, masks = cutter.split(cutter(centres))
        return values.contiguous(), masks.contiguous()

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Standardise, split the windows into spatial blocks, train G and D adversarially with
        label-free early stopping; returns self.  ``y`` is ignored (unsupervised)."""
        import torch

        from . import torch_training as tt

        images, masks, grid = check_grid_input(X, MODEL, rows_advice=ROWS_ADVICE,
                                               need_cells=True)
        self._check_params()
        device = tt.resolve_device(self.device)
        seed = int(self.seed)
        n_channels = images.shape[0]
        self.n_features_in_ = n_channels
        if self.standardize:
            self.mean_, self.scale_ = mean_std_statistics(images, masks)
        else:
            self.mean_, self.scale_ = np.zeros(n_channels), np.ones(n_channels)
        cutter = self._prepared(images, masks, grid, device)
        train_idx, val_idx = window_split(grid, int(self.window), self.validation_fraction, seed,
                                          self.block_cells)
        if val_idx.size > int(self.max_validation_windows):
            rng = np.random.default_rng(seed + VALIDATION_SEED_OFFSET)
            val_idx = np.sort(rng.choice(val_idx, int(self.max_validation_windows),
                                         replace=False))
        per_epoch = min(int(self.windows_per_epoch), train_idx.size)
        batch_size = tt.resolve_batch_size(self.batch_size, per_epoch)
        network = tt.build_seeded(lambda: self._build_network(n_channels), seed, device)
        train_idx = torch.from_numpy(train_idx).to(device)
        val_idx = torch.from_numpy(val_idx).to(device)

        def epoch_batches(shuffle):
            drawn = train_idx[torch.randperm(train_idx.numel(), generator=shuffle,
                                             device=device)[:per_epoch]]
            for start in range(0, per_epoch, batch_size):
                yield self._windows(cutter, drawn[start:start + batch_size])

        evaluate = ((lambda net: self._evaluate(net, cutter, val_idx)) if val_idx.numel() > 0
                    else None)
        with tt.torch_threads(1 if device.type == "cpu" else None):
            self._train_adversarial(network, epoch_batches, per_epoch, evaluate, device)
        self.network_ = network.eval()
        self.device_ = str(device)
        self.batch_size_ = batch_size
        return self

    def _forward(self, network, x, m):
        """(z, x_hat masked, z_hat) of windows ``x`` (0 where unobserved) with masks ``m``."""
        import torch

        z = network["encoder"](torch.cat([x, m], dim=1))
        x_hat = network["decoder"](z) * m
        z_hat = network["encoder2"](torch.cat([x_hat, m], dim=1))
        return z, x_hat, z_hat

    def _losses(self, network, x, m):
        """(generator loss, discriminator loss, [adv, rec, enc] detached) of one batch; one pass
        of D over [x; x_hat] serves both losses (as ganomaly.py)."""
        import torch

        n = x.shape[0]
        z, x_hat, z_hat = self._forward(network, x, m)
        features = network["disc_features"](torch.cat([torch.cat([x, m], dim=1),
                                                       torch.cat([x_hat, m], dim=1)]))
        adv = (features[:n].detach() - features[n:]).square().mean()
        rec = (x - x_hat).abs().sum() / m.sum().clamp_min(1.0)
        enc = (z - z_hat).square().mean()
        g_loss = self._generator_loss(adv, rec, enc)
        d_loss = self._discriminator_loss(network, features)
        return g_loss, d_loss, [adv.detach(), rec.detach(), enc.detach()]

    def _evaluate(self, network, cutter, centres) -> dict:
        """Held-out means with the current weights: the masked L1 over all observed pixels and
        the latent / feature / BCE means over all windows (chunked, no gradients)."""
        import torch

        sums = torch.zeros(6, dtype=torch.float64)  # g, adv, rec-sum, enc, d, mask-sum
        network.eval()
        with torch.inference_mode():
            for start in range(0, centres.numel(), SCORE_CHUNK):
                x, m = self._windows(cutter, centres[start:start + SCORE_CHUNK])
                g_loss, d_loss, (adv, rec, enc) = self._losses(network, x, m)
                n, observed = x.shape[0], m.sum()
                sums += torch.stack([g_loss * n, adv * n, rec * observed.clamp_min(1.0),
                                     enc * n, d_loss * n, observed]).double().cpu()
        network.train()
        n = centres.numel()
        rec = float(sums[2] / sums[5].clamp_min(1.0))
        adv, enc = float(sums[1] / n), float(sums[3] / n)
        return self._record([self._generator_loss(adv, rec, enc), adv, rec, enc,
                             float(sums[4] / n)])

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """``mean_k (z_k - z_hat_k)^2`` of the window centred on each valid cell; one float64
        per valid cell, grid row order."""
        import torch

        from . import torch_training as tt

        check_is_fitted(self, "network_")
        images, masks, grid = check_grid_input(X, MODEL, n_channels=self.n_features_in_,
                                               rows_advice=ROWS_ADVICE, need_cells=True)
        device = torch.device(self.device_)
        cutter = self._prepared(images, masks, grid, device)
        network = self.network_.eval()

        def latent_distance(centres):
            z, _, z_hat = self._forward(network, *self._windows(cutter, centres))
            return (z - z_hat).square().mean(dim=1)

        with tt.torch_threads(1 if device.type == "cpu" else None):
            return score_cells(latent_distance, cutter.n_cells, device, SCORE_CHUNK)
