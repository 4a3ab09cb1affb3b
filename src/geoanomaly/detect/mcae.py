"""Multi-convolutional autoencoder (MCAE) of Chen et al. (2019, Minerals 9:270), a map model.

What the paper fixes [Chen et al. 2019]: the element images are ZCA-whitened; each element gets
its own convolution window size, taken from its spatial autocorrelation range (Moran's I); one
convolutional autoencoder is trained per element; the anomaly of a cell is its reconstruction
error (their Fujian data: a 78 x 88 grid of 2 km cells, AUC 0.89 against 0.61 for a plain AE on
the same region). Layer sizes beyond that outline are not published; the choices below are this
module's own and are stated where they are made.

Design (every choice, in order):

* **Whitening (ZCA).** Mean ``mean_`` (C,) and covariance over the valid cells where *every*
  channel is observed (cells with any unobserved channel are left out of the statistics);
  ``zca_ = U diag(1 / sqrt(l + eps)) U^T`` with ``eps = zca_epsilon * max(l)``. Before a cell is
  whitened, its unobserved channels are set to the fit-time mean (a centred value of 0), so an
  imputed or missing value can never leak into the whitened value of another channel; the
  whitened images keep the input masks (a whitened value is "observed" exactly where the input
  value was) and are 0 where not observed.
* **Window size per element (Moran's I).** For each channel, over its observed cells (input
  values; Moran's I is unchanged by the scaling that whitening applies), Moran's I with
  row-standardised *ring* weights: the neighbours of a cell at ring ``r`` are the observed cells at
  Chebyshev distance exactly ``r`` (``I_r = sum_i z_i lag_r(i) / sum_i z_i^2``, the statistic of
  :mod:`geoanomaly.validate.moran` with ring instead of kNN neighbours). The autocorrelation range
  ``R`` is the last ring before ``I_r`` first drops below ``moran_threshold`` (0.1); the window
  is ``2 R + 1`` clipped to ``[min_window, max_window]`` = [3, 9] (never below threshold up to
  ring 4 -> 9; white noise -> 3). ``window_sizes`` (one odd size per channel) overrides it.
* **Network (one per element).** Input: 2 channels, the element's whitened window and its mask
  (so a masked 0 is not mistaken for a value). Encoder: conv 3x3 (8 filters, padding 1) - ReLU -
  conv 3x3 (16 filters) - ReLU - flatten - linear to a ``latent_dim`` = 4 bottleneck; decoder:
  linear back to 16 x s x s - ReLU - transposed conv 3x3 (8) - ReLU - transposed conv 3x3 to
  one channel (linear output). The dense bottleneck is what stops a padded conv stack from
  learning the identity.
* **Loss.** Masked squared error: ``sum(mask * (recon - x)^2) / sum(mask)`` over a mini-batch;
  unobserved pixels count for nothing. Adam, learning rate 1e-3, ``epochs`` = 30, batch size
  "auto" (about 32 steps an epoch), early stopping (``patience`` 5) on the validation loss with
  the best weights restored (:func:`geoanomaly.detect.torch_training.train_network`).
* **Validation split.** :func:`geoanomaly.grid.windows.blocked_split` per element (its window
  size), ``validation_fraction`` = 0.2, block side ``block_cells`` (default
  ``min(4 s, max(s, min(height, width) // 4))``, so a small map still has several blocks);
  never a random split of overlapping windows. ``validation_fraction=0`` trains on every window
  and watches the training loss.
* **Score.** Sum over elements of the squared reconstruction error of the window's *centre*
  pixel (whitened units, so elements weigh alike); an element whose centre value is unobserved
  at a cell adds 0 there. Centre rather than window mean: a window mean smears a one-cell
  anomaly over its s x s neighbours. Scoring runs in chunks of ``SCORE_CHUNK`` windows.
* **Seeding.** Element ``j`` is built and trained with seed ``seed + 101 j`` through
  ``build_seeded`` / explicit generators; torch's global RNG is never touched; same seed ->
  bit-identical scores on CPU.

The input check, the windows, the blocked split and the chunked scoring are the map models'
shared ones (:mod:`geoanomaly.detect.map_models`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .base import Detector
from .map_models import WindowCutter, check_grid_input, check_map_params, score_cells, window_split

#: how the errors name the model
MODEL = "the MCAE"

#: windows per scoring chunk (one element at a time): 4,096 x 2 x 9 x 9 float32 = 2.6 MB input
SCORE_CHUNK = 4096
#: seed step between the elements' networks
ELEMENT_SEED_STEP = 101


class MCAEDetector(Detector):
    """Multi-convolutional autoencoder (Chen et al. 2019): ZCA whitening, a Moran's-I window
    per element, one masked convolutional AE per element; score = summed centre-pixel
    reconstruction error. See the module docstring for every design choice.

    ``fit(X: GridInput)`` / ``anomaly_score(X: GridInput)`` -> one float64 per valid cell (grid
    row order), higher = more anomalous. ``y`` is ignored.
    """

    name = "mcae"
    input_kind = "windows"

    def __init__(self, window_sizes=None, min_window=3, max_window=9, moran_threshold=0.1,
                 filters=(8, 16), latent_dim=4, learning_rate=1e-3, epochs=30,
                 batch_size="auto", validation_fraction=0.2, block_cells=None, patience=5,
                 tol=1e-4, zca_epsilon=1e-6, seed=0, device="cpu", progress=False):
        self.window_sizes = window_sizes
        self.min_window = min_window
        self.max_window = max_window
        self.moran_threshold = moran_threshold
        self.filters = filters
        self.latent_dim = latent_dim
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.block_cells = block_cells
        self.patience = patience
        self.tol = tol
        self.zca_epsilon = zca_epsilon
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Whiten, choose the windows, train one convolutional AE per element; returns self."""
        import torch

        from . import torch_training as tt

        images, masks, grid = check_grid_input(X, MODEL)
        self._check_params()
        device = tt.resolve_device(self.device)
        n_channels = images.shape[0]
        self.n_features_in_ = n_channels
        self.mean_, self.zca_ = zca_statistics(images, masks, grid, float(self.zca_epsilon))
        white = self._whiten(images, masks, grid)
        self.morans_ = [ring_morans_i(images[j], masks[j], int(self.max_window) // 2)
                        for j in range(n_channels)]
        if self.window_sizes is None:
            sizes = [window_from_morans(m, float(self.moran_threshold), int(self.min_window),
                                        int(self.max_window)) for m in self.morans_]
        else:
            sizes = [int(s) for s in self.window_sizes]
            if len(sizes) != n_channels:
                raise InputError(f"window_sizes has {len(sizes)} sizes for {n_channels} "
                                 "channels; give one odd size per channel or None.")
        self.window_sizes_ = sizes

        networks, histories, n_epochs, best_epochs, batch_sizes = [], [], [], [], []
        for j, size in enumerate(sizes):
            seed = int(self.seed) + ELEMENT_SEED_STEP * j
            cutter = WindowCutter(white[j:j + 1], masks[j:j + 1], grid, size, device)
            windows = cutter(torch.arange(cutter.n_cells, device=device))
            train_idx, val_idx = window_split(grid, size, self.validation_fraction, self.seed,
                                              self.block_cells)
            network = tt.build_seeded(lambda s=size: self._build_network(s), seed, device)
            result = tt.train_network(
                network, _masked_loss, windows[torch.from_numpy(train_idx).to(device)],
                windows[torch.from_numpy(val_idx).to(device)], epochs=self.epochs,
                batch_size=self.batch_size, learning_rate=self.learning_rate,
                patience=self.patience, tol=float(self.tol), seed=seed, progress=self.progress)
            networks.append(network.eval())
            histories.append(result.history)
            n_epochs.append(result.n_epochs)
            best_epochs.append(result.best_epoch)
            batch_sizes.append(result.batch_size)
        self.networks_ = networks
        self.history_ = histories
        self.n_epochs_ = n_epochs
        self.best_epoch_ = best_epochs
        self.batch_size_ = batch_sizes
        self.device_ = str(device)
        return self

    def _check_params(self) -> None:
        from . import torch_training as tt

        lo, hi = int(self.min_window), int(self.max_window)
        if lo < 1 or hi < lo or lo % 2 == 0 or hi % 2 == 0:
            raise InputError(f"min_window / max_window must be odd with 1 <= min <= max, got "
                             f"{self.min_window} / {self.max_window}.")
        if self.window_sizes is not None and any(int(s) < 1 or int(s) % 2 == 0
                                                 for s in self.window_sizes):
            raise InputError(f"window_sizes must be positive odd numbers, got "
                             f"{self.window_sizes!r}.")
        check_map_params(self, (8, 16))
        tt.check_at_least_one(self, "latent_dim")

    def _build_network(self, size: int):
        from torch import nn

        f1, f2 = (int(f) for f in self.filters)
        latent = int(self.latent_dim)
        encoder = nn.Sequential(
            nn.Conv2d(2, f1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f1, f2, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(f2 * size * size, latent))
        decoder = nn.Sequential(
            nn.Linear(latent, f2 * size * size), nn.ReLU(), nn.Unflatten(1, (f2, size, size)),
            nn.ConvTranspose2d(f2, f1, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(f1, 1, 3, padding=1))
        return nn.Sequential(encoder, decoder)

    def _whiten(self, images, masks, grid) -> np.ndarray:
        """(C, H, W) float32 whitened images, 0 where not observed (the masks are kept)."""
        rows, cols = grid.cell_rows_cols()
        values = images[:, rows, cols].astype(np.float64)
        observed = masks[:, rows, cols]
        centred = np.where(observed, values - self.mean_[:, None], 0.0)
        white = np.where(observed, self.zca_ @ centred, 0.0)
        out = np.zeros(images.shape, dtype=np.float32)
        out[:, rows, cols] = white
        return out

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """Sum over elements of the squared centre-pixel reconstruction error (0 for an element
        whose centre value is unobserved); one float64 per valid cell, grid row order."""
        import torch

        check_is_fitted(self, "networks_")
        images, masks, grid = check_grid_input(X, MODEL, n_channels=self.n_features_in_)
        device = torch.device(self.device_)
        white = self._whiten(images, masks, grid)
        scores = np.zeros(int(np.asarray(grid.valid).sum()), dtype=np.float64)
        for j, (size, network) in enumerate(zip(self.window_sizes_, self.networks_)):
            network.eval()
            cutter = WindowCutter(white[j:j + 1], masks[j:j + 1], grid, size, device)

            def centre_error(idx, network=network, cutter=cutter, c=size // 2):
                batch = cutter(idx)
                recon = network(batch)[:, 0, c, c]
                return (recon - batch[:, 0, c, c]).square() * batch[:, 1, c, c]

            scores += score_cells(centre_error, cutter.n_cells, device, SCORE_CHUNK)
        return scores

    # -- persistence (used by geoanomaly.detect.persistence) ------------------------------------
    def _fitted_state(self):
        """(JSON-able scalars, {name: tensor}); the window sizes in the scalars give the network
        shapes on load."""
        import torch

        from . import torch_training as tt

        check_is_fitted(self, "networks_")
        scalars = {"n_features_in_": int(self.n_features_in_),
                   "window_sizes_": [int(s) for s in self.window_sizes_],
                   "morans_": [[float(v) for v in m] for m in self.morans_],
                   "n_epochs_": [int(n) for n in self.n_epochs_],
                   "best_epoch_": [int(n) for n in self.best_epoch_],
                   "batch_size_": [int(n) for n in self.batch_size_],
                   "history_": self.history_}
        tensors = {k: v for j, net in enumerate(self.networks_)
                   for k, v in tt.network_tensors(net, f"network{j}.").items()}
        tensors["mean_"] = torch.from_numpy(np.ascontiguousarray(self.mean_))
        tensors["zca_"] = torch.from_numpy(np.ascontiguousarray(self.zca_))
        return scalars, tensors

    def _restore_state(self, scalars: dict, tensors: dict) -> None:
        from . import torch_training as tt

        device = tt.resolve_device(self.device)
        self.n_features_in_ = int(scalars["n_features_in_"])
        self.window_sizes_ = [int(s) for s in scalars["window_sizes_"]]
        self.morans_ = [list(m) for m in scalars["morans_"]]
        self.n_epochs_ = list(scalars["n_epochs_"])
        self.best_epoch_ = list(scalars["best_epoch_"])
        self.batch_size_ = list(scalars["batch_size_"])
        self.history_ = scalars["history_"]
        self.mean_ = tensors["mean_"].numpy().astype(np.float64)
        self.zca_ = tensors["zca_"].numpy().astype(np.float64)
        self.networks_ = [tt.load_network(self._build_network(size), tensors, device,
                                          f"network{j}.")
                          for j, size in enumerate(self.window_sizes_)]
        self.device_ = str(device)


# -- helpers ------------------------------------------------------------------------------------
def zca_statistics(images, masks, grid, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean (C,), ZCA matrix (C, C)) over the valid cells where every channel is observed."""
    rows, cols = grid.cell_rows_cols()
    complete = masks[:, rows, cols].all(axis=0)
    values = images[:, rows, cols][:, complete].astype(np.float64)
    n_channels = images.shape[0]
    if values.shape[1] < n_channels + 1:
        raise InputError(f"ZCA whitening of {n_channels} channels needs at least "
                         f"{n_channels + 1} cells where every channel is observed, got "
                         f"{values.shape[1]}.")
    mean = values.mean(axis=1)
    covariance = np.atleast_2d(np.cov(values))
    eigenvalues, vectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    floor = float(epsilon) * max(float(eigenvalues.max()), 1e-300)
    zca = (vectors * (1.0 / np.sqrt(eigenvalues + floor))) @ vectors.T
    return mean, zca


def ring_morans_i(image, mask, max_ring: int) -> list[float]:
    """Moran's I of one channel at rings 1..max_ring (row-standardised weights over the observed
    cells at Chebyshev distance exactly r); NaN where undefined."""
    mask = np.asarray(mask, dtype=bool)
    values = np.asarray(image, dtype=np.float64)
    if mask.sum() < 3:
        return [float("nan")] * int(max_ring)
    z = np.where(mask, values - values[mask].mean(), 0.0)
    denominator = float(np.sum(z[mask] ** 2))
    height, width = z.shape
    out = []
    for r in range(1, int(max_ring) + 1):
        zp = np.pad(z, r)
        mp = np.pad(mask.astype(np.float64), r)
        total = np.zeros_like(z)
        count = np.zeros_like(z)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if max(abs(dy), abs(dx)) != r:
                    continue
                total += zp[r + dy:r + dy + height, r + dx:r + dx + width]
                count += mp[r + dy:r + dy + height, r + dx:r + dx + width]
        use = mask & (count > 0)
        if not denominator > 0 or not use.any():
            out.append(float("nan"))
            continue
        lag = total[use] / count[use]
        out.append(float(np.dot(z[use], lag) / np.sum(z[use] ** 2)))
    return out


def window_from_morans(morans, threshold: float, min_window: int, max_window: int) -> int:
    """``2 R + 1`` clipped to [min_window, max_window], R = the last ring before Moran's I first
    drops below ``threshold`` (NaN counts as below)."""
    reach = len(morans)
    for r, value in enumerate(morans, start=1):
        if not (value >= threshold):
            reach = r - 1
            break
    return int(min(max(2 * reach + 1, min_window), max_window))


def _masked_loss(network, batch, generator):
    """Squared error over the observed pixels only (channel 1 of the batch is the mask)."""
    target, mask = batch[:, :1], batch[:, 1:]
    error = (network(batch) - target).square().mul(mask).sum()
    return error / mask.sum().clamp_min(1.0), {}
