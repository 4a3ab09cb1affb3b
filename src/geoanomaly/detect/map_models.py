"""What the map models (registry ``input_kind = "windows"``: mcae, pccae, ppf_cnn, ganomaly_map,
ssmvae) share: the check of their ``GridInput``, per-channel scaling, windows cut batch by batch,
the blocked split, chunked scoring over cells, the common parameter checks and the save / load
hooks of a single fitted network.

Why one module: each model had its own copy of these, and a rule that is the same for all of them
(a masked value never reaches a model, rows are refused with the same sentence, a window beyond
the map edge is 0 and masked) must not drift apart between copies. What differs between the
models (their networks, losses, scores, ZCA whitening, the labelled split of the PPF-CNN) stays
in their own modules.

torch is imported inside the functions: the registry imports this module through the detectors,
and ``--help`` must stay cheap.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import Detector

_COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


# -- input --------------------------------------------------------------------------------------
def check_grid_input(X, model: str, *, n_channels: int | None = None, rows_advice: str = "",
                     need_cells: bool = False):
    """(images float32, 0 where not observed; masks bool, restricted to the valid cells; grid)
    of a GridInput, or an InputError that names ``model`` ("the MCAE"). A feature matrix is
    refused (``rows_advice`` is appended to that sentence), as are images and masks of another
    shape than the grid, a missing or infinite value at an observed cell, another channel count
    than ``n_channels`` (the fitted one, when scoring) and, with ``need_cells``, a grid without
    valid cells."""
    for attribute in ("images", "masks", "grid"):
        if not hasattr(X, attribute):
            raise InputError(f"{model} is a map model: fit and score it on a GridInput "
                             f"(geoanomaly.grid.windows), not on a feature matrix{rows_advice}.")
    images = np.asarray(X.images, dtype=np.float32)
    masks = np.asarray(X.masks, dtype=bool)
    grid = X.grid
    valid = np.asarray(grid.valid, dtype=bool)
    if images.ndim != 3 or masks.shape != images.shape or images.shape[1:] != valid.shape:
        raise InputError(f"images {images.shape} and masks {masks.shape} must both be "
                         f"(channels, {valid.shape[0]}, {valid.shape[1]}).")
    if need_cells and not valid.any():
        raise InputError("the grid has no valid cell to score.")
    masks = masks & valid[None]
    if not np.isfinite(images[masks]).all():
        raise InputError("the grid images hold a missing or infinite value at an observed cell; "
                         "mark it unobserved in the mask.")
    images = np.where(masks, images, np.float32(0.0))
    if n_channels is not None and images.shape[0] != n_channels:
        raise InputError(f"the grid has {images.shape[0]} channels but the detector was "
                         f"fitted on {n_channels}.")
    return images, masks, grid


# -- per-channel scaling --------------------------------------------------------------------------
#: a channel scale below this is a constant channel up to rounding (the features are already
#: standardised): scale 1, so it adds nothing instead of blowing rounding noise up to units
#: (sed1 gridded: a pathfinder constant to 1e-15 made the PC-CAE diverge)
CONSTANT_SCALE = 1e-9


def robust_statistics(images, masks, grid, *, min_observed: int = 0):
    """(median (C,), 1.4826 MAD (C,)) of each channel over its observed valid cells; the
    standard deviation where the MAD is 0, then 1; (0, 1) for a channel observed nowhere. A
    channel with fewer than ``min_observed`` observed cells is an InputError."""
    rows, cols = grid.cell_rows_cols()
    values = images[:, rows, cols].astype(np.float64)
    observed = masks[:, rows, cols]
    centre = np.zeros(images.shape[0])
    scale = np.ones(images.shape[0])
    for j in range(images.shape[0]):
        v = values[j][observed[j]]
        if v.size < min_observed:
            raise InputError(f"channel {j} has {v.size} observed valid cells; a map model "
                             f"needs at least {min_observed} per element.")
        if v.size == 0:
            continue
        centre[j] = np.median(v)
        mad = 1.4826 * np.median(np.abs(v - centre[j]))
        std = float(v.std())
        scale[j] = mad if mad > CONSTANT_SCALE else (std if std > CONSTANT_SCALE else 1.0)
    return centre, scale


def mean_std_statistics(images, masks):
    """(mean (C,), standard deviation (C,)) of each channel over its observed cells; (0, 1)
    for a channel observed nowhere, scale 1 for a constant one."""
    n_channels = images.shape[0]
    mean, scale = np.zeros(n_channels), np.ones(n_channels)
    for j in range(n_channels):
        values = images[j][masks[j]].astype(np.float64)
        if values.size:
            mean[j] = values.mean()
            std = values.std()
            scale[j] = std if std > CONSTANT_SCALE else 1.0
    return mean, scale


def standardised_images(images, masks, center, scale, dtype=np.float64) -> np.ndarray:
    """(C, H, W) float32: ``(x - center) / scale`` per channel, computed in ``dtype``, where
    observed; 0 elsewhere. (ganomaly_map computes in float32, the others in float64: each keeps
    what it was fitted with, so a saved model scores as before.)"""
    out = (images.astype(dtype) - np.asarray(center).astype(dtype)[:, None, None]) \
        / np.asarray(scale).astype(dtype)[:, None, None]
    return np.where(masks, out, 0.0).astype(np.float32)


# -- windows --------------------------------------------------------------------------------------
class WindowCutter:
    """Cuts (n, 2C, s, s) windows around valid cells from the zero-padded images held once as a
    tensor: the C values, then the C masks as 1.0 / 0.0, as
    :func:`geoanomaly.grid.windows.extract_windows` lays them out (beyond the map edge: 0 and
    masked).

    Why batch by batch: a map's full window set is too large to hold (33,813 x 78 x 9 x 9
    floats = 855 MB on xinjiang_au). The padded image is stored channels-last, so cutting a
    window gathers whole rows of 2C values; the windows come out contiguous, or with
    ``channels_last=True`` in the channels-last layout of a network that runs in it (ssmvae).
    """

    def __init__(self, values, masks, grid, size: int, device, channels_last: bool = False):
        import torch

        half = size // 2
        stacked = np.concatenate([values, masks.astype(np.float32)], axis=0)
        padded = np.pad(stacked, ((0, 0), (half, half), (half, half))).transpose(1, 2, 0)
        self.padded = torch.from_numpy(np.ascontiguousarray(padded)).to(device)
        rows, cols = grid.cell_rows_cols()
        self.rows = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(device)
        self.cols = torch.from_numpy(np.asarray(cols, dtype=np.int64)).to(device)
        self.offsets = torch.arange(size, device=device)
        self.n_channels = int(values.shape[0])
        self.n_cells = int(rows.size)
        self.size = int(size)
        self.channels_last = bool(channels_last)

    def __call__(self, idx):
        """Windows of the valid cells ``idx`` (a long tensor of any shape, flattened)."""
        idx = idx.reshape(-1)
        rr = (self.rows[idx][:, None] + self.offsets[None, :])[:, :, None]  # (n, s, 1)
        cc = (self.cols[idx][:, None] + self.offsets[None, :])[:, None, :]  # (n, 1, s)
        windows = self.padded[rr, cc].permute(0, 3, 1, 2)
        return windows if self.channels_last else windows.contiguous()

    def split(self, batch):
        """(values, masks) halves of a window batch, each (n, C, s, s)."""
        return batch[:, :self.n_channels], batch[:, self.n_channels:]


def window_split(grid, size: int, fraction: float, seed: int, block_cells=None):
    """(training, validation) valid-cell indices of ``size`` x ``size`` windows:
    :func:`geoanomaly.grid.windows.blocked_split` with blocks of ``block_cells`` a side
    (default ``min(4 s, max(s, min(height, width) // 4))``, so a small map still has several
    blocks); every cell trains when ``fraction`` is 0 (early stopping then watches the
    training loss). Never a random split: neighbouring windows share most of their cells."""
    from ..grid.windows import blocked_split

    if float(fraction) <= 0:
        return np.arange(int(np.asarray(grid.valid).sum())), np.arange(0)
    block = block_cells or min(4 * size, max(size, min(grid.height, grid.width) // 4))
    return blocked_split(grid, size, float(fraction), int(seed), block_cells=int(block))


# -- scoring --------------------------------------------------------------------------------------
#: seed offset of the draw of training / validation windows (``draw_windows``)
DRAW_SEED_OFFSET = 17


def check_max_windows(limit) -> None:
    if limit is not None and int(limit) < 4:
        raise InputError(f"max_windows must be at least 4 (or None for every window), got "
                         f"{limit!r}.")


def draw_windows(train_idx, val_idx, limit, seed: int):
    """At most ``limit`` training and ``limit // 4`` validation windows, drawn without
    replacement (seeded, fixed for the fit): on a large map an epoch over every window costs
    minutes while neighbouring windows repeat each other; None keeps every window."""
    if limit is None:
        return train_idx, val_idx
    rng = np.random.default_rng(int(seed) + DRAW_SEED_OFFSET)
    train_idx = _draw(train_idx, int(limit), rng)
    return train_idx, _draw(val_idx, max(1, int(limit) // 4), rng)


def _draw(idx: np.ndarray, limit: int, rng) -> np.ndarray:
    """At most ``limit`` of ``idx`` (sorted), drawn without replacement."""
    if idx.size <= limit:
        return idx
    return np.sort(rng.choice(idx, size=limit, replace=False))


def score_cells(score_fn, n_cells: int, device, chunk: int) -> np.ndarray:
    """One float64 per valid cell: ``score_fn(idx)`` (one score per index) over chunks of
    ``chunk`` valid-cell indices, long tensors on ``device``, under inference mode. Chunks keep
    a map's windows and activations from being held at once."""
    import torch

    scores = np.empty(n_cells, dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, n_cells, chunk):
            idx = torch.arange(start, min(start + chunk, n_cells), device=device)
            scores[start:start + idx.numel()] = score_fn(idx).double().cpu().numpy()
    return scores


# -- parameters -----------------------------------------------------------------------------------
def check_window(window, smallest: int) -> None:
    """An InputError unless ``window`` is a whole, odd number of cells >= ``smallest``."""
    try:
        whole = not isinstance(window, bool) and int(window) == window
    except (TypeError, ValueError):
        whole = False
    if not whole or window < smallest or int(window) % 2 == 0:
        what = ("a positive odd number of cells" if smallest <= 1
                else f"an odd number of cells >= {smallest}")
        raise InputError(f"window must be {what}, got {window!r}.")


def check_map_params(detector, filters_example: tuple) -> None:
    """The parameters every map model has: ``filters`` (as many positive counts as
    ``filters_example``, the model's default), ``learning_rate`` > 0 and
    ``validation_fraction`` in [0, 1)."""
    from . import torch_training as tt

    filters = detector.filters
    if len(tuple(filters)) != len(filters_example) or any(int(f) < 1 for f in filters):
        count = _COUNT_WORDS.get(len(filters_example), str(len(filters_example)))
        raise InputError(f"filters must be {count} positive filter counts such as "
                         f"{filters_example}, got {filters!r}.")
    tt.check_positive(detector, "learning_rate")
    if not 0.0 <= float(detector.validation_fraction) < 1.0:
        raise InputError(f"validation_fraction must lie in [0, 1), got "
                         f"{detector.validation_fraction!r}.")


# -- the base of the single-network map models ---------------------------------------------------
class MapDetector(Detector):
    """Save / load hooks (``persistence.py``) of a map model with one fitted ``network_`` built by
    ``_build_network(n_features_in_)`` (pccae, ppf_cnn, ganomaly_map, ssmvae; the mcae, with one
    network per element, has its own): the ints in ``_saved_ints``, the floats in
    ``_saved_floats``, ``history_``, the float64 arrays in ``_saved_arrays`` and the int64 ones in
    ``_saved_index_arrays`` (see ``torch_training.fitted_network_state``). Subclasses list what
    they fit; the names and layout of the saved tensors are those of the earlier per-model hooks,
    so models saved before load unchanged."""

    _saved_ints: tuple = ("n_features_in_", "n_epochs_", "best_epoch_", "batch_size_")
    _saved_floats: tuple = ()
    _saved_arrays: tuple = ("mean_", "scale_")
    _saved_index_arrays: tuple = ()

    def _fitted_state(self):
        from . import torch_training as tt

        return tt.fitted_network_state(self)

    def _restore_state(self, scalars: dict, tensors: dict) -> None:
        from . import torch_training as tt

        tt.restore_network_state(self, scalars, tensors)
