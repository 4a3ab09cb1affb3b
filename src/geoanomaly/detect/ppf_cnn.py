"""CNN with pixel-pair features (PPF-CNN) of Zhang, Zuo & Xiong (2021, Applied Geochemistry 130),
a SUPERVISED map model.

What is known [paper, abstract level]: pairs of labelled cells enlarge a tiny training set (a few
tens of deposit cells) for a convolutional classifier of geochemical cells. The pixel-pair idea
is Li et al. (2017, IEEE TGRS 55:844, hyperspectral classification): a pair of two labelled
pixels gets their class when both share it and a separate "mixed" class otherwise; the pair is
stacked as a 2 x B image (B spectral bands) for a CNN; at test time a pixel is paired with each
of its neighbours and the pairs' predictions vote. The layer sizes, the pair sampling and the
vote of the geochemical paper are not reachable; every choice below is this module's own and is
stated where it is made.

Labels (``fit(X, y)``): ``y`` holds one int per valid cell (grid row order): 1 = deposit
(positive), 0 = negative, -1 = unlabelled (the held-out fold of a spatially blocked
cross-validation, or its buffer). An unlabelled cell never gives a label: it is in no training
or validation pair (``train_cells_`` / ``validation_cells_`` list the cells that did). Its
*features* are used, as everybody's are: in the label-free standardisation and as a neighbour at
test time. The folds themselves are the caller's (the pipeline's); this model only sees ``y``.

Design (every choice, in order):

* **Pixel features.** A cell is its element vector, the GridInput channels at that cell, robust
  standardised per channel (median and 1.4826 MAD over the observed valid cells, label-free;
  the standard deviation where the MAD is 0, 1 where both are): the pipeline usually hands in
  robust-scaled features already, and then this is close to the identity, but a CNN must not
  depend on the caller's units. Unobserved values (mask False: outside, no-data, imputed) are 0
  and a second plane carries the mask (1 = observed), so a masked 0 is not read as a value.
  A cell is a (2 planes, C elements) array; a pair stacks two cells as the rows of an image.
* **Pair classes** (Li et al. 2017): deposit-deposit -> "deposit", negative-negative ->
  "background", deposit-negative (either order) -> "mixed"; logits in the order
  ``CLASSES = (background, deposit, mixed)``.
* **Pair sampling.** Pairs are drawn among ALL labelled training cells, not among neighbours:
  positives are a few tens of scattered cells, so neighbour pairs would give almost no
  deposit-deposit pairs, and Li et al. also pair any two training pixels. Every epoch draws a
  fresh, seeded set with the three classes balanced (a third each: positives are tens, negatives
  tens of thousands, so an unbalanced draw would be almost all background): both cells uniform
  with replacement within their class (a cell may be paired with itself: the test-time
  fallback for a cell without neighbours is exactly such a self-pair), the order of a mixed pair
  drawn at random. ``pairs_per_epoch`` = 6,000 caps an epoch (a tiny training set draws at most
  as many pairs per class as there are distinct ordered pairs in its largest class). Why 6,000
  and not 20,000: with a few tens of positives the deposit pairs of one 20,000-pair epoch
  already repeat every positive pair several times, and on xinjiang_au (5 or 6 training
  deposits a fold) the validation loss was lowest after the first epoch in every fold; smaller
  epochs give early stopping a finer step and cost a third of the time per epoch. A new draw
  each epoch (rather than one fixed set) shows the network many more background cells.
* **Validation split: positive-stratified spatial blocks.** The map is cut into squares of
  ``block_cells`` a side (default ``max(3, min(height, width) // 10)``); blocks are visited in a
  seeded order and a block holding training positives is held out while fewer than
  ``max(1, round(validation_fraction * n_positive))`` positives are held out (never the last
  one), a block without positives while fewer than ``validation_fraction`` of the negatives are.
  Labelled cells of held-out blocks validate; labelled cells within one cell (Chebyshev) of a
  held-out block are dropped from training (interpolated maps make neighbours near-copies).
  Why not :func:`geoanomaly.grid.windows.blocked_split`: it draws blocks by valid-cell count and
  ignores labels, so with a few tens of clustered positives it often holds out none (or most)
  of them, and a validation loss without deposit pairs cannot stop the training of a deposit
  classifier. Under two positives, with ``validation_fraction=0``, or when no block can be held
  out without taking the last training positive or negative, there is no validation set and
  early stopping watches the training loss (as :mod:`torch_training` does).
  Validation pairs (``validation_pairs``, 3,000, a third per class) are drawn once, seeded,
  among the validation cells only, so validation never reuses a training cell.
* **Network** (a CNN over the pair stacked as a 2 x C image, convolutions along the element
  axis): two convolutions with 1 x k kernels (``kernel_size`` k = 3, padding keeps the C
  positions) 2 planes -> f1 -> f2 with ReLU, applied to each row (cell) alone with the same
  weights; a 2 x 1 convolution f2 -> f3 that merges the two rows position by position; ReLU -
  flatten (f3 x C) - linear to ``hidden`` (32) - ReLU - linear to the 3 logits;
  ``filters = (f1, f2, f3) = (8, 16, 16)``. Written as 1-D convolutions (``nn.Conv1d`` on each
  row, the merge as a kernel-1 ``Conv1d`` over the two rows' stacked features; the same
  arithmetic as the 2-D kernels; the 2 x 1 ``Conv2d`` merge took 3.5 times as long on
  CPU); see :func:`pair_logits`. The
  element axis has no natural order (it is the feature order), so the convolution's locality is
  arbitrary there; it is kept because a CNN over the pair image is the method, and the dense
  layers see every element anyway. Small on purpose: tens of positives cannot support a large
  network, and a 33,813-cell, 39-element grid must fit and score in seconds on two cores.
* **Training.** Cross-entropy over the balanced pairs; Adam (``learning_rate`` 1e-3),
  ``batch_size`` 256, up to ``epochs`` = 40 epochs, early stopping on the validation loss
  (``patience`` 8; an improvement must beat the best by ``tol * max(1, |best|)``) with the best
  epoch's weights restored. No dropout, weight decay or input noise: each was tried on
  xinjiang_au's spatial folds and none moved the out-of-fold AUC beyond its noise (see below).
* **Score** (one float64 per valid cell, higher = more prospective): the cell is paired with
  each of its 8 neighbours that is a valid cell with at least one observed channel (itself when
  it has none), each pair is classified in both orders (the network is not symmetric by
  construction; training saw random orders), and the score is the mean predicted probability of
  "deposit" over all these pairs: a SOFT vote. Li et al. take a majority vote of the predicted
  classes; here most cells' pairs are "background" or "mixed", a majority of "deposit" among at
  most 8 pairs gives ties and a score of a handful of values, and ranking (AUC, success-rate,
  thresholds) needs a continuous score. Speed: the merge is linear in each row, so the row
  layers and the two halves of the merge run once per cell and a pair costs one addition and
  the head (the same function as :func:`pair_logits`, to float rounding); pairs are scored in
  chunks of ``SCORE_CHUNK`` on one torch thread (measured faster on a busy machine; see there).
* **What to expect.** A supervised model is only as good as its labels. On xinjiang_au (10
  deposit cells; 5 spatially blocked folds, 5-6 training deposits each) the pooled
  out-of-fold AUC was about 0.5 (0.53 with these defaults; 0.39-0.55 over the variants
  above), as was a class-balanced logistic regression on the same features and folds
  (0.47-0.52): ten heterogeneous deposits do not teach a classifier that transfers between
  folds. On a synthetic map whose deposits share a multi-element signature it separates held-out
  deposits well (tests/test_detect_ppf_cnn.py).
* **Seeding.** Weights through ``torch_training.build_seeded``; the split, the pairs of every
  epoch (shuffled, which sets the mini-batches) and the validation pairs from
  ``numpy.random.default_rng`` streams derived from ``seed``; torch's global RNG is never
  touched. Same seed -> bit-identical scores on CPU.

The input check, the robust scaling and save / load are the map models' shared ones
(:mod:`geoanomaly.detect.map_models`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .map_models import (MapDetector, check_grid_input, check_map_params, robust_statistics,
                         standardised_images)

#: how the errors name the model
MODEL = "the PPF-CNN"

#: the pair classes, in the order of the network's logits
CLASSES = ("background", "deposit", "mixed")
BACKGROUND, DEPOSIT, MIXED = 0, 1, 2

#: pairs (and cells) per scoring chunk: a chunk's gathered rows (2,048 x 16 x 39 float32 = 5 MB
#: each) stay near the cache; scoring runs on ONE torch thread. Measured on xinjiang_au (33,813
#: cells, 39 channels) on 2 shared, busy cores: 2.3 s wall with 1 thread and chunks of 2,048,
#: 5.7 s with 2 threads and 8,192, 13.7 s with 2 threads and 2,048 (identical scores).
SCORE_CHUNK = 2048

#: seed offsets of the independent random streams (split and pairs / validation pairs)
VALIDATION_SEED_OFFSET = 7919
PAIR_SEED_OFFSET = 104729

#: the 8 neighbours of a cell (row, column offsets)
NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class PPFCNNDetector(MapDetector):
    """CNN with pixel-pair features (Zhang, Zuo & Xiong 2021; Li et al. 2017), supervised.

    ``fit(X: GridInput, y)`` with ``y`` one int per valid cell (1 deposit, 0 negative,
    -1 unlabelled) trains a classifier of cell pairs (deposit / background / mixed);
    ``anomaly_score(X: GridInput)`` -> one float64 per valid cell (grid row order), the mean
    probability of "deposit" over the cell's pairs with its neighbours (higher = more
    prospective). See the module docstring for every design choice.
    """

    name = "ppf-cnn"
    input_kind = "windows"
    supervised = True
    _saved_ints = ("n_features_in_", "n_epochs_", "best_epoch_", "n_train_pairs_")
    _saved_arrays = ("center_", "scale_")
    _saved_index_arrays = ("train_cells_", "validation_cells_")

    def __init__(self, filters=(8, 16, 16), kernel_size=3, hidden=32, pairs_per_epoch=6000,
                 validation_pairs=3000, epochs=40, batch_size=256, learning_rate=1e-3,
                 patience=8, tol=1e-4, validation_fraction=0.2, block_cells=None, seed=0,
                 device="cpu", progress=False):
        self.filters = filters
        self.kernel_size = kernel_size
        self.hidden = hidden
        self.pairs_per_epoch = pairs_per_epoch
        self.validation_pairs = validation_pairs
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.block_cells = block_cells
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train the pair classifier on the labelled cells of ``y``; returns self."""
        import torch

        from . import torch_training as tt

        images, masks, grid = check_grid_input(X, MODEL)
        n_cells = int(np.asarray(grid.valid).sum())
        y = _check_labels(y, n_cells)
        self._check_params()
        device = tt.resolve_device(self.device)
        self.n_features_in_ = int(images.shape[0])
        self.center_, self.scale_ = robust_statistics(images, masks, grid)
        cells = torch.from_numpy(self._cell_planes(images, masks, grid)).to(device)

        seed = int(self.seed)
        block = self.block_cells or max(3, min(grid.height, grid.width) // 10)
        train, validation = labelled_block_split(grid, y, float(self.validation_fraction),
                                                 int(block), seed)
        self.train_cells_, self.validation_cells_ = train, validation
        train_pos, train_neg = train[y[train] == 1], train[y[train] == 0]
        val_pos, val_neg = validation[y[validation] == 1], validation[y[validation] == 0]
        self.n_train_pairs_ = 3 * _pairs_per_class(int(self.pairs_per_epoch), train_pos.size,
                                                   train_neg.size)
        if validation.size:
            n_val = _pairs_per_class(int(self.validation_pairs), val_pos.size, val_neg.size)
            val_pairs = draw_pairs(np.random.default_rng(seed + VALIDATION_SEED_OFFSET),
                                   val_pos, val_neg, n_val)
        else:
            val_pairs = None

        network = tt.build_seeded(lambda: self._build_network(self.n_features_in_), seed,
                                  device)
        batch_size = int(self.batch_size)
        with tt.torch_threads(tt.training_threads(batch_size, 4 * self.n_features_in_,
                                                  device)):
            result = self._train(network, cells, train_pos, train_neg, val_pairs,
                                 np.random.default_rng(seed + PAIR_SEED_OFFSET), device)
        self.network_ = network.eval()
        self.history_ = result["history"]
        self.n_epochs_ = result["n_epochs"]
        self.best_epoch_ = result["best_epoch"]
        self.device_ = str(device)
        return self

    def fit_score(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).anomaly_score(X)

    def _train(self, network, cells, train_pos, train_neg, val_pairs, rng, device) -> dict:
        """Adam on a fresh balanced set of pairs every epoch; early stopping on the validation
        loss (the training loss without a validation set); the best weights put back."""
        import torch
        import torch.nn.functional as F

        from . import torch_training as tt

        optimizer = torch.optim.Adam(network.parameters(), lr=float(self.learning_rate))
        epochs, batch_size = int(self.epochs), int(self.batch_size)
        per_class = _pairs_per_class(int(self.pairs_per_epoch), train_pos.size, train_neg.size)
        report = tt._progress_reporter(self.progress, epochs)
        history: dict = {"loss": []}
        if val_pairs is not None:
            history["val_loss"] = []
        stopping = tt.EarlyStopping(network, self.patience, self.tol)
        n_epochs = 0
        network.train()
        try:
            for epoch in range(1, epochs + 1):
                first, second, labels = draw_pairs(rng, train_pos, train_neg, per_class)
                first = torch.from_numpy(first).to(device)
                second = torch.from_numpy(second).to(device)
                labels = torch.from_numpy(labels).to(device)
                total = torch.zeros((), dtype=torch.float64, device=device)
                for start in range(0, labels.shape[0], batch_size):
                    part = slice(start, start + batch_size)
                    logits = pair_logits(network, cells.index_select(0, first[part]),
                                         cells.index_select(0, second[part]))
                    loss = F.cross_entropy(logits, labels[part])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach().double() * logits.shape[0]
                record = {"loss": float(total) / labels.shape[0]}
                if val_pairs is not None:
                    record["val_loss"] = _pair_loss(network, cells, val_pairs, device)
                    network.train()
                for key, value in record.items():
                    history[key].append(value)
                n_epochs = epoch
                stop = stopping.update(network, epoch, record.get("val_loss", record["loss"]))
                report(epoch, record)
                if stop:
                    break
        finally:
            report.close()
        stopping.restore(network)
        network.eval()
        return {"history": history, "n_epochs": n_epochs, "best_epoch": stopping.best_epoch}

    def _check_params(self) -> None:
        from . import torch_training as tt

        check_map_params(self, (8, 16, 16))
        if int(self.kernel_size) < 1 or int(self.kernel_size) % 2 == 0:
            raise InputError(f"kernel_size must be a positive odd number, got "
                             f"{self.kernel_size!r}.")
        for name in ("hidden", "pairs_per_epoch", "validation_pairs", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}.")
        tt.check_patience(self.patience)
        if self.block_cells is not None and int(self.block_cells) < 1:
            raise InputError(f"block_cells must be a positive number of cells or None, got "
                             f"{self.block_cells!r}.")

    def _build_network(self, n_channels: int):
        """nn.ModuleDict: "cell" runs on each cell (row of the pair image) alone, "merge" joins
        the two rows position by position, "head" classifies (see ``pair_logits``)."""
        from torch import nn

        f1, f2, f3 = (int(f) for f in self.filters)
        k = int(self.kernel_size)
        return nn.ModuleDict({
            "cell": nn.Sequential(nn.Conv1d(2, f1, k, padding=k // 2), nn.ReLU(),
                                  nn.Conv1d(f1, f2, k, padding=k // 2), nn.ReLU()),
            "merge": nn.Conv1d(2 * f2, f3, 1),
            "head": nn.Sequential(nn.ReLU(), nn.Flatten(),
                                  nn.Linear(f3 * n_channels, int(self.hidden)), nn.ReLU(),
                                  nn.Linear(int(self.hidden), len(CLASSES)))})

    def _cell_planes(self, images, masks, grid) -> np.ndarray:
        """(n, 2, C) float32 of the valid cells (grid row order): the standardised values (0
        where unobserved) and the mask."""
        rows, cols = grid.cell_rows_cols()
        standard = standardised_images(images, masks, self.center_, self.scale_)[:, rows, cols]
        planes = np.stack([standard.T, masks[:, rows, cols].T.astype(np.float32)], axis=1)
        return np.ascontiguousarray(planes)

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X) -> np.ndarray:
        """Mean probability of "deposit" over the pairs of each valid cell with its observed
        neighbours, both orders (itself when it has none); float64, grid row order."""
        import torch

        from . import torch_training as tt

        check_is_fitted(self, "network_")
        images, masks, grid = check_grid_input(X, MODEL, n_channels=self.n_features_in_)
        device = torch.device(self.device_)
        rows, cols = grid.cell_rows_cols()
        first, second = neighbour_pairs(grid, masks[:, rows, cols].any(axis=0))
        n_cells = rows.size
        probability = np.empty(first.size, dtype=np.float64)
        network = self.network_.eval()
        with torch.inference_mode(), tt.torch_threads(1):
            # the merge is linear in each row: its two halves are applied once per cell, so a
            # pair costs one addition and the head (the same function as ``pair_logits``)
            planes = torch.from_numpy(self._cell_planes(images, masks, grid)).to(device)
            f2 = int(self.filters[1])
            weight, bias = network["merge"].weight, network["merge"].bias
            top, bottom = [], []
            for s in range(0, n_cells, SCORE_CHUNK):
                rows = network["cell"](planes[s:s + SCORE_CHUNK])
                top.append(torch.nn.functional.conv1d(rows, weight[:, :f2]))
                bottom.append(torch.nn.functional.conv1d(rows, weight[:, f2:], bias))
            top, bottom = torch.cat(top), torch.cat(bottom)
            head = network["head"][1:]  # after its ReLU, which runs in place below
            for start in range(0, first.size, SCORE_CHUNK):
                a = torch.from_numpy(first[start:start + SCORE_CHUNK]).to(device)
                b = torch.from_numpy(second[start:start + SCORE_CHUNK]).to(device)
                ab = top.index_select(0, a).add_(bottom.index_select(0, b)).relu_()
                ba = top.index_select(0, b).add_(bottom.index_select(0, a)).relu_()
                p = (torch.softmax(head(ab), dim=1)[:, DEPOSIT].double()
                     + torch.softmax(head(ba), dim=1)[:, DEPOSIT].double())
                probability[start:start + a.shape[0]] = (0.5 * p).cpu().numpy()
        counts = np.bincount(first, minlength=n_cells)
        return np.bincount(first, weights=probability, minlength=n_cells) / counts


# -- helpers ------------------------------------------------------------------------------------
def _check_labels(y, n_cells: int) -> np.ndarray:
    """``y`` as int64 (n_cells,) of 1 / 0 / -1 with at least one 1 and one 0 (InputError)."""
    if y is None:
        raise InputError("the PPF-CNN is supervised: call fit(X, y) with y holding one label per "
                         "valid cell (1 deposit, 0 negative, -1 unlabelled).")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_cells:
        raise InputError(f"y has shape {y.shape} but the grid has {n_cells} valid cells; give "
                         "one label (1, 0 or -1) per valid cell in the grid's row order.")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all() \
            or not np.isin(y, (-1, 0, 1)).all():
        raise InputError("y must hold only 1 (deposit), 0 (negative) and -1 (unlabelled).")
    y = y.astype(np.int64)
    if not (y == 1).any():
        raise InputError("y has no deposit cell (1) among the labelled cells; the PPF-CNN needs "
                         "at least one positive and one negative cell to learn from.")
    if not (y == 0).any():
        raise InputError("y has no negative cell (0) among the labelled cells; the PPF-CNN needs "
                         "at least one positive and one negative cell to learn from.")
    return y


def _pairs_per_class(cap: int, n_positive: int, n_negative: int) -> int:
    """A third of ``cap``, at most the distinct ordered pairs of the largest class."""
    largest = max(n_positive ** 2, 2 * n_positive * n_negative, n_negative ** 2)
    return int(max(1, min(cap // 3, largest)))


def draw_pairs(rng, positives, negatives, per_class: int):
    """(first, second, class) int64 arrays of ``3 * per_class`` shuffled pairs of cell indices:
    ``per_class`` deposit (both positives), background (both negatives) and mixed pairs (one of
    each, in a random order); cells uniform with replacement within their class."""
    positives, negatives = np.asarray(positives), np.asarray(negatives)

    def pick(pool):
        return pool[rng.integers(0, pool.size, per_class)]

    deposit = (pick(positives), pick(positives))
    background = (pick(negatives), pick(negatives))
    p, n = pick(positives), pick(negatives)
    swap = rng.random(per_class) < 0.5
    mixed = (np.where(swap, n, p), np.where(swap, p, n))
    first = np.concatenate([deposit[0], background[0], mixed[0]]).astype(np.int64)
    second = np.concatenate([deposit[1], background[1], mixed[1]]).astype(np.int64)
    labels = np.repeat(np.array([DEPOSIT, BACKGROUND, MIXED], dtype=np.int64), per_class)
    order = rng.permutation(labels.size)
    return first[order], second[order], labels[order]


def labelled_block_split(grid, y, fraction: float, block: int, seed: int):
    """(training cells, validation cells), indices into the valid cells, labelled cells only:
    positive-stratified spatial blocks (see the module docstring); no validation cells when
    fewer than two positives, ``fraction == 0``, or no block can be held out."""
    labelled = y >= 0
    everything = (np.flatnonzero(labelled), np.zeros(0, dtype=np.int64))
    n_positive, n_negative = int((y == 1).sum()), int((y == 0).sum())
    if fraction <= 0 or n_positive < 2:
        return everything
    rows, cols = grid.cell_rows_cols()
    block_id = (rows // block) * (grid.width // block + 1) + cols // block
    blocks, inverse = np.unique(block_id, return_inverse=True)
    positives_in = np.bincount(inverse, weights=(y == 1), minlength=blocks.size).astype(int)
    negatives_in = np.bincount(inverse, weights=(y == 0), minlength=blocks.size).astype(int)
    positive_target = min(max(1, int(round(fraction * n_positive))), n_positive - 1)
    negative_target = fraction * n_negative
    chosen = np.zeros(blocks.size, dtype=bool)
    held_positive = held_negative = 0
    for k in np.random.default_rng(seed).permutation(blocks.size):
        p, q = positives_in[k], negatives_in[k]
        if p + q == 0:
            continue
        if p > 0:
            take = held_positive < positive_target and held_positive + p <= n_positive - 1 \
                and held_negative + q < n_negative
        else:
            take = held_negative < negative_target and held_negative + q < n_negative
        if take:
            chosen[k] = True
            held_positive += p
            held_negative += q
    in_validation = chosen[inverse]
    held_out = np.zeros((grid.height, grid.width), dtype=bool)
    held_out[rows[in_validation], cols[in_validation]] = True
    from scipy import ndimage

    near = ndimage.maximum_filter(held_out, size=3, mode="constant", cval=False)[rows, cols]
    train = np.flatnonzero(labelled & ~near)
    validation = np.flatnonzero(labelled & in_validation)
    if not ((y[validation] == 1).any() and (y[train] == 1).any() and (y[train] == 0).any()
            and (y[validation] == 0).any()):
        return everything
    return train, validation


def neighbour_pairs(grid, usable) -> tuple[np.ndarray, np.ndarray]:
    """(cell, neighbour) index pairs over the valid cells: each cell with each of its 8
    neighbours that is a valid cell with ``usable`` True; a cell without any, with itself.
    Sorted by cell, so every cell's pairs are contiguous."""
    rows, cols = grid.cell_rows_cols()
    n_cells = rows.size
    index = np.full((grid.height + 2, grid.width + 2), -1, dtype=np.int64)
    index[rows + 1, cols + 1] = np.where(usable, np.arange(n_cells), -1)
    firsts, seconds = [], []
    for dr, dc in NEIGHBOUR_OFFSETS:
        neighbour = index[rows + 1 + dr, cols + 1 + dc]
        keep = neighbour >= 0
        firsts.append(np.flatnonzero(keep))
        seconds.append(neighbour[keep])
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    alone = np.setdiff1d(np.arange(n_cells), first)
    first, second = np.concatenate([first, alone]), np.concatenate([second, alone])
    order = np.argsort(first, kind="stable")
    return first[order], second[order]


def pair_logits(network, first, second):
    """Logits (n, 3) of the pairs of cell planes ``first`` and ``second`` (n, 2, C each): the
    1 x k convolutions on each row of the pair image, the 2 x 1 merge (a kernel-1 convolution
    over the two rows' stacked features), the head."""
    import torch

    rows = torch.cat([network["cell"](first), network["cell"](second)], dim=1)
    return network["head"](network["merge"](rows))


def _pair_loss(network, cells, pairs, device) -> float:
    """Mean cross-entropy of the fixed validation pairs (a third per class)."""
    import torch
    import torch.nn.functional as F

    first, second, labels = (torch.from_numpy(a).to(device) for a in pairs)
    network.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, labels.shape[0], SCORE_CHUNK):
            part = slice(start, start + SCORE_CHUNK)
            logits = pair_logits(network, cells.index_select(0, first[part]),
                                         cells.index_select(0, second[part]))
            total += float(F.cross_entropy(logits, labels[part], reduction="sum"))
    return total / labels.shape[0]

