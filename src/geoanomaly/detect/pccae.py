"""Local phase-constrained convolutional autoencoder (PC-CAE) of Liu et al. (2024, Computers &
Geosciences 191), a map model.

What the paper says [abstract]: a convolutional autoencoder learns the geochemical background of
gridded multi-element data; a *local* Fourier transform extracts phase information from the
original and the reconstructed data, and the local phase difference between them is added to the
loss "to preserve the local data structure related to geology setting"; an adaptive weighting
strategy "mitigates overfitting"; the samples with high reconstruction errors are the anomalies
(stream sediments of the Jiaodong gold province; better than a plain CAE and than spectrum-area
filtering). The full text is not available here: window size, layers, the exact phase
difference, the weighting rule and the phase term's weight are unknown. Every choice below is
this module's own and is stated where it is made.

Design (every choice, in order):

* **Channels and scaling.** One network over *all* element channels at once (the paper's
  multivariate CAE; unlike the MCAE's one network per element). Each channel is robustly
  standardised over its observed valid cells: ``(x - median) / (1.4826 MAD)`` (the standard
  deviation where the MAD is 0, then 1), kept as ``center_`` / ``scale_``. The pipeline has
  already scaled the features; this makes the detector's squared errors comparable across
  elements for any input (raw test maps included) and does not change already scaled data much.
* **Input.** ``window`` x ``window`` masked windows (:mod:`geoanomaly.grid.windows`): 2C
  channels, the C standardised element windows (0 where not observed) followed by their C masks
  (1.0 = observed), so a masked 0 is not mistaken for a value. ``window`` = 9 by default, fixed,
  not from Moran's I as in the MCAE: one network shares one window across elements, and the
  local Fourier phase needs a window holding several wavelengths (a 3 x 3 window, which Moran's
  I gives a noisy element, has only one non-trivial frequency per axis). 9 is the MCAE's
  largest window, 18 km on a 2 km grid.
* **Network.** Encoder: conv 1x1 (2C -> ``filters[0]`` = 16) - ReLU - conv 3x3 (16 -> 16,
  padding 1) - ReLU - conv 3x3 stride 2 (-> ``filters[1]`` = 32; 9 x 9 -> 5 x 5) - ReLU -
  flatten - linear to a ``latent_dim`` = 8 bottleneck. Decoder: linear back to 32 x 5 x 5 -
  ReLU - transposed conv 3x3 stride 2 (-> 16; 5 x 5 -> 9 x 9) - ReLU - conv 3x3 (16 -> 16) -
  ReLU - conv 1x1 to C channels (linear output). The 1x1 convolutions mix the elements (and
  masks) of a cell before and after the spatial layers: a 3x3 convolution straight on 2C = 78
  channels was the costliest layer (a training step 0.15 s against 0.09 s at batch 256 on one
  core). The dense bottleneck is what stops a padded conv stack from learning the identity
  (which would reconstruct an anomaly as well as the background).
* **Local phase.** For each window and channel, the *masked* values (unobserved pixels 0) have
  their mean over the observed pixels removed and are tapered with a 2-D Hann window
  ``w(n) = sin^2(pi (n + 1) / (s + 1))`` (no zero end weights, so edge pixels count); the
  2-D DFT of that window is its local (short-time) Fourier transform, centred on the window's
  cell: "local" because each cell's phase describes only its own s x s neighbourhood. The DFT
  is two matrix products with a cos / sin basis at the (s^2 - 1) / 2 frequencies that are not
  DC and not the conjugate of another (the input is real, so the rest repeat them): for 9 x 9
  windows about 8x faster than ``torch.fft.fft2`` on the CPU, where tiny FFTs are overhead. The
  reconstruction gets the same treatment with the *input's* mask. By the shift theorem a
  structure moved by d pixels turns the phase of frequency k by 2 pi k.d / s, so the phase
  encodes *where* highs, lows and edges lie in the window and what shape they have, while the
  amplitude holds their contrast.
* **Phase loss.** ``P = sum w_k (1 - cos(phi_x,k - phi_r,k)) / (sum w_k + eps)`` over the
  mini-batch's windows, channels and frequencies (the DC term left out), with weights
  ``w_k = |F_x,k| |F_r,k|``, i.e. ``P = sum (|F_x||F_r| - Re(F_x conj F_r)) / sum |F_x||F_r|``.
  A frequency counts in proportion to its amplitude in the input *and* the reconstruction, so a
  phase of near-zero amplitude (pure noise, undefined) does not count; unlike weighting by the
  input amplitude alone, its gradient has no 1 / |F_r| singularity. ``P`` is 0 when the
  reconstruction equals the input (or any positive multiple of it plus a constant: contrast and
  level are the MSE's job) and grows when a structure is displaced or reshaped. What it
  rewards: keeping the position and shape of structures, which a squared error trades against
  amplitude (the MSE-optimal output of an uncertain position is a blurred, displaced average).
  A monogenic / Gabor-bank local phase was not chosen: it adds filter scales to choose, and
  the windowed FFT is the local Fourier transform the abstract names.
* **Masked MSE.** ``M = sum(mask * (recon - x)^2) / sum(mask)`` over the mini-batch's windows
  and channels; unobserved pixels count for nothing.
* **Adaptive weighting.** The gradient of a mini-batch is ``grad M + w_phase * grad P`` with
  ``w_phase = phase_weight * |dM/dr| / |dP/dr|``, the two gradients taken with respect to the
  reconstruction ``r`` of that batch (``dM/dr`` in closed form, ``dP/dr`` by one autograd call
  through the loss alone, not the network), detached, recomputed on every mini-batch: the
  phase term pulls on the reconstruction as hard as the MSE does (``phase_weight`` = 1: equal
  pull, untuned), whatever their units and however both shrink while training. It has no state
  and no learnt parameters, so it is deterministic for a seed. Why gradients and not loss
  sizes: ``P`` is scale-free in ``r``, so a tiny reconstruction with the right phases makes it
  small; matching loss *sizes* (``w = M / P``, the gradient of ``log M + log P``, and Kendall
  et al.'s 2018 uncertainty weighting, whose optimum is the same) then gave the phase term
  ever more weight (``w`` rose 1 -> 65 within 17 epochs on a 184 x 184 x 39 test map) and the
  MSE never fell below 1.0: the network learnt phases and dropped amplitude. Matching gradient
  norms cannot collapse that way: the smaller ``r``, the steeper ``P``, the smaller
  ``w_phase``. The history holds ``mse``, ``phase`` and the epoch's mean ``w_phase``;
  ``phase_weight_`` is ``w_phase`` at the best epoch; ``w_phase`` is capped at
  ``MAX_PHASE_WEIGHT`` (reached only if the phase gradient vanishes). ``phase_weight=0``
  trains the plain masked-MSE CAE (the paper's baseline).
* **Training and the monitored loss.** The loss passed to the optimiser is written
  ``M + w_phase * (P - P.detach())``: its value is the masked MSE, its gradient the one above.
  So the logged ``loss`` and ``val_loss`` are masked MSEs, and early stopping watches the
  validation masked MSE: a quantity comparable across epochs (a weighted sum whose weight
  changes is not) and the one the score is made of. The phase term acts as the regulariser
  the paper describes ("mitigates overfitting"); its validation value is logged as
  ``val_phase``. Adam, learning rate 1e-3, ``epochs`` = 30, batch size "auto" (about 32 steps an
  epoch), early stopping (``patience`` 5) with the best weights restored
  (:func:`geoanomaly.detect.torch_training.train_network`). A mini-batch is a column of
  valid-cell indices; the windows are cut from the padded images inside the loss, so a map's
  full window set (33,813 x 78 x 9 x 9 floats = 855 MB on xinjiang_au) is never held in memory.
  (A consequence of that column: ``train_network`` sees one "feature" and trains on one torch
  thread, the project's rule for small CPU batches on shared machines.)
* **Validation split and window sample.** :func:`geoanomaly.grid.windows.blocked_split`
  (``validation_fraction`` = 0.2, block side ``block_cells``, default
  ``min(4 s, max(s, min(height, width) // 4))`` as the MCAE); never a random split of
  overlapping windows. At most ``max_windows`` = 8,192 training windows are used (a seeded draw
  without replacement, fixed for the fit) and at most ``max_windows // 4`` validation windows,
  so a fit costs the same on any larger map (30 epochs on a 184 x 184 x 39 map: about 2 CPU
  minutes, 216 s wall on a loaded 2-core machine; a whole xinjiang_au run on its 7 Au pathfinders: 72 s);
  ``max_windows=None`` uses every window. ``validation_fraction=0`` trains on every window and
  watches the training MSE.
* **Score.** The paper scores by reconstruction error; here: the sum over elements of the
  squared reconstruction error of the window's *centre* cell (standardised units), an element
  whose centre value is unobserved adding 0 (as the MCAE). Centre rather than window mean: a
  window mean smears a one-cell anomaly over its s x s neighbours. The phase discrepancy is not
  added to the score: it is scale-free (a weighted mean of ``1 - cos``) and describes the whole
  window, so it would spread one anomaly over every window that contains it. Scoring runs in
  chunks of ``SCORE_CHUNK`` windows.
* **Seeding.** The split uses ``seed`` and the window draw ``default_rng(seed + 17)``; the
  network is built with ``build_seeded(seed)`` and trained with explicit generators; torch's
  global RNG is never touched; same seed -> bit-identical scores on CPU.

The input check, the robust scaling, the window cutter, the blocked split, the chunked scoring
and save / load are the map models' shared ones (:mod:`geoanomaly.detect.map_models`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .map_models import (MapDetector, WindowCutter, check_grid_input, check_map_params,
                         check_max_windows, check_window, draw_windows, robust_statistics,
                         score_cells, standardised_images, window_split)

#: how the errors name the model
MODEL = "the PC-CAE"

#: windows per scoring chunk: 2,048 x 78 x 9 x 9 float32 = 52 MB of input with 39 elements
SCORE_CHUNK = 2048
#: guards the phase-loss denominator
EPS = 1e-8
#: upper bound of the adaptive phase weight (reached only if the phase gradient vanishes)
MAX_PHASE_WEIGHT = 1e6


class PCCAEDetector(MapDetector):
    """Local phase-constrained convolutional autoencoder (Liu et al. 2024): one masked
    multi-channel convolutional AE on map windows, trained on masked MSE plus an adaptively
    weighted local Fourier phase loss; score = summed centre-cell reconstruction error. See the
    module docstring for every design choice.

    ``fit(X: GridInput)`` / ``anomaly_score(X: GridInput)`` -> one float64 per valid cell (grid
    row order), higher = more anomalous. ``y`` is ignored.
    """

    name = "pccae"
    input_kind = "windows"
    _saved_ints = (*MapDetector._saved_ints, "n_train_windows_", "n_val_windows_")
    _saved_floats = ("phase_weight_",)
    _saved_arrays = ("center_", "scale_")

    def __init__(self, window=9, filters=(16, 32), latent_dim=8, phase_weight=1.0,
                 learning_rate=1e-3, epochs=30, batch_size="auto", max_windows=8192,
                 validation_fraction=0.2, block_cells=None, patience=5, tol=1e-4, seed=0,
                 device="cpu", progress=False):
        self.window = window
        self.filters = filters
        self.latent_dim = latent_dim
        self.phase_weight = phase_weight
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
    def fit(self, X, y=None):
        """Standardise, split the map into blocks, train the phase-constrained AE; returns
        self."""
        import torch

        from . import torch_training as tt

        images, masks, grid = check_grid_input(X, MODEL)
        self._check_params()
        device = tt.resolve_device(self.device)
        size = int(self.window)
        n_channels = images.shape[0]
        self.n_features_in_ = n_channels
        self.center_, self.scale_ = robust_statistics(images, masks, grid, min_observed=2)
        cutter = WindowCutter(standardised_images(images, masks, self.center_, self.scale_),
                              masks, grid, size, device)
        train_idx, val_idx = window_split(grid, size, self.validation_fraction, self.seed,
                                          self.block_cells)
        train_idx, val_idx = draw_windows(train_idx, val_idx, self.max_windows, self.seed)
        self.n_train_windows_, self.n_val_windows_ = int(train_idx.size), int(val_idx.size)

        network = tt.build_seeded(lambda: self._build_network(n_channels), int(self.seed), device)
        loss = PhaseConstrainedLoss(cutter, float(self.phase_weight))

        def as_column(idx):
            return torch.from_numpy(np.asarray(idx, dtype=np.int64)[:, None]).to(device)

        result = tt.train_network(
            network, loss, as_column(train_idx), as_column(val_idx), epochs=self.epochs,
            batch_size=self.batch_size, learning_rate=self.learning_rate,
            patience=self.patience, tol=float(self.tol), seed=int(self.seed),
            progress=self.progress)
        self.network_ = network.eval()
        self.history_ = result.history
        self.n_epochs_ = int(result.n_epochs)
        self.best_epoch_ = int(result.best_epoch)
        self.batch_size_ = int(result.batch_size)
        self.phase_weight_ = float(result.history["w_phase"][result.best_epoch - 1])
        self.device_ = str(device)
        return self

    def _check_params(self) -> None:
        from . import torch_training as tt

        check_window(self.window, 3)
        check_map_params(self, (16, 32))
        tt.check_at_least_one(self, "latent_dim")
        tt.check_finite_nonnegative(self, "phase_weight")
        check_max_windows(self.max_windows)

    def _build_network(self, n_channels: int):
        from torch import nn

        size = int(self.window)
        inner = (size + 1) // 2  # a 3x3 stride-2 convolution with padding 1 on an odd size
        f1, f2 = (int(f) for f in self.filters)
        latent = int(self.latent_dim)
        encoder = nn.Sequential(
            nn.Conv2d(2 * n_channels, f1, 1), nn.ReLU(),
            nn.Conv2d(f1, f1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f1, f2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(f2 * inner * inner, latent))
        decoder = nn.Sequential(
            nn.Linear(latent, f2 * inner * inner), nn.ReLU(), nn.Unflatten(1, (f2, inner, inner)),
            nn.ConvTranspose2d(f2, f1, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(f1, f1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f1, n_channels, 1))
        return nn.Sequential(encoder, decoder)

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """Sum over elements of the squared centre-cell reconstruction error (0 for an element
        whose centre value is unobserved); one float64 per valid cell, grid row order."""
        import torch

        check_is_fitted(self, "network_")
        images, masks, grid = check_grid_input(X, MODEL, n_channels=self.n_features_in_)
        device = torch.device(self.device_)
        size = int(self.window)
        cutter = WindowCutter(standardised_images(images, masks, self.center_, self.scale_),
                              masks, grid, size, device)
        c = size // 2
        self.network_.eval()

        def centre_error(idx):
            batch = cutter(idx)
            values, mask = cutter.split(batch)
            recon = self.network_(batch)
            error = (recon[..., c, c] - values[..., c, c]).square() * mask[..., c, c]
            return error.sum(dim=1)

        return score_cells(centre_error, cutter.n_cells, device, SCORE_CHUNK)


# -- the training-window sample -----------------------------------------------------------------
# -- losses -------------------------------------------------------------------------------------
def hann_taper(size: int, device=None):
    """(size, size) 2-D Hann taper without zero end weights: outer product of
    ``sin^2(pi (n + 1) / (size + 1))``."""
    import torch

    n = torch.arange(size, dtype=torch.float64, device=device)
    w = torch.sin(math.pi * (n + 1) / (size + 1)).square()
    return (w[:, None] * w[None, :]).float()


def frequencies(size: int) -> np.ndarray:
    """(F, 2) integer frequencies (k1, k2) of an odd ``size`` x ``size`` window, one of each
    conjugate pair (k, -k) and no DC: (size^2 - 1) / 2 of them."""
    half = size // 2
    k = np.arange(-half, half + 1)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    k1, k2 = k1.ravel(), k2.ravel()
    keep = (k1 > 0) | ((k1 == 0) & (k2 > 0))
    return np.stack([k1[keep], k2[keep]], axis=1)


def dft_basis(size: int, device=None):
    """(cos, -sin) matrices, each (size^2, F): a flattened window times them gives the real and
    imaginary parts of its 2-D DFT at :func:`frequencies` (``fft2`` at those bins)."""
    import torch

    freq = frequencies(size).astype(np.float64)
    n1, n2 = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    angle = 2 * np.pi * (np.outer(n1.ravel(), freq[:, 0]) + np.outer(n2.ravel(), freq[:, 1])) \
        / size
    return (torch.from_numpy(np.cos(angle)).float().to(device),
            torch.from_numpy(-np.sin(angle)).float().to(device))


class LocalPhase:
    """The local Fourier spectra of window batches and their phase discrepancy, for one odd
    window size (the taper and the DFT basis are built once)."""

    def __init__(self, size: int, device=None):
        self.size = int(size)
        self.taper = hann_taper(self.size, device)
        self.cos, self.sin = dft_basis(self.size, device)

    def spectra(self, x, mask):
        """(real, imaginary) parts, each (n * C, F), of the 2-D DFT of every (n, C, s, s) window
        channel: masked, its mean over the observed pixels removed, Hann-tapered. The DFT is two
        matrix products over the (s^2 - 1) / 2 non-redundant frequencies: for 9 x 9 windows
        about 8x faster than ``torch.fft.fft2`` on the CPU, where a tiny FFT is all overhead."""
        count = mask.sum(dim=(-2, -1), keepdim=True).clamp_min(1.0)
        mean = (x * mask).sum(dim=(-2, -1), keepdim=True) / count
        y = ((x - mean) * mask * self.taper).reshape(-1, self.size * self.size)
        return y @ self.cos, y @ self.sin

    def loss(self, x, recon, mask, eps: float = EPS):
        """``sum w (1 - cos(dphi)) / (sum w + eps)`` with ``w = |F_x| |F_r|`` over the batch's
        windows, channels and non-DC frequencies (each conjugate pair once: the pair's two
        terms are equal, so the ratio is the full spectrum's). 0 for ``recon == x`` (or any
        positive multiple plus a constant), at most 2. ``mask`` is the input's, applied to both.
        ``w (1 - cos dphi) = |F_x||F_r| - Re(F_x conj F_r)``; the amplitude product is
        ``sqrt(|F_x|^2 |F_r|^2 + 1e-30)`` so its gradient stays finite at a zero amplitude."""
        import torch

        xr, xi = self.spectra(x, mask)
        rr, ri = self.spectra(recon, mask)
        amplitude = torch.sqrt((xr.square() + xi.square()) * (rr.square() + ri.square())
                               + 1e-30)
        agreement = xr * rr + xi * ri
        return (amplitude - agreement).sum() / (amplitude.sum() + eps)


def local_phase_loss(x, recon, mask, eps: float = EPS):
    """The phase loss of :class:`LocalPhase` for one batch of (n, C, s, s) windows."""
    return LocalPhase(x.shape[-1], x.device).loss(x, recon, mask, eps)


def masked_mse(x, recon, mask):
    """``sum(mask * (recon - x)^2) / sum(mask)``."""
    return (recon - x).square().mul(mask).sum() / mask.sum().clamp_min(1.0)


def adaptive_phase_weight(mse_gradient, phase_gradient, phase_weight: float):
    """``phase_weight * |dM/dr| / |dP/dr|`` (detached, at most ``MAX_PHASE_WEIGHT``): the weight
    that makes the phase term pull on the reconstruction ``r`` as hard as the MSE does."""
    import torch

    ratio = mse_gradient.detach().norm() / (phase_gradient.detach().norm() + 1e-12)
    return torch.clamp(float(phase_weight) * ratio, max=MAX_PHASE_WEIGHT)


class PhaseConstrainedLoss:
    """The training loss of a batch of valid-cell indices (a ``torch_training.BatchLoss``).

    Training: value ``M`` (the masked MSE), gradient ``grad M + w_phase grad P`` with
    ``w_phase`` from :func:`adaptive_phase_weight` (written ``M + w_phase (P - P.detach())``, so
    the logged loss stays the MSE). Evaluation (no gradients): ``M``, the quantity early
    stopping watches. Parts: mse, phase (and w_phase in training)."""

    def __init__(self, cutter: WindowCutter, phase_weight: float):
        self.cutter = cutter
        self.phase_weight = float(phase_weight)
        self.phase = LocalPhase(cutter.size, cutter.padded.device)

    def __call__(self, network, batch, generator):
        import torch

        windows = self.cutter(batch)
        values, mask = self.cutter.split(windows)
        recon = network(windows)
        mse = masked_mse(values, recon, mask)
        phase = self.phase.loss(values, recon, mask)
        parts = {"mse": mse.detach(), "phase": phase.detach()}
        if not (network.training and torch.is_grad_enabled()):
            return mse, parts
        if self.phase_weight == 0:
            parts["w_phase"] = torch.zeros((), device=mse.device)
            return mse, parts
        mse_gradient = 2.0 * (recon - values).detach() * mask / mask.sum().clamp_min(1.0)
        (phase_gradient,) = torch.autograd.grad(phase, recon, retain_graph=True)
        weight = adaptive_phase_weight(mse_gradient, phase_gradient, self.phase_weight)
        parts["w_phase"] = weight
        return mse + weight * (phase - phase.detach()), parts
