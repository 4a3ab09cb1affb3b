"""The CNN with pixel-pair features (Zhang, Zuo & Xiong 2021; Li et al. 2017): a supervised map
model trained on labelled cells, scored by a soft vote of each cell's pairs with its neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.detect.ppf_cnn import (DEPOSIT, PPFCNNDetector, draw_pairs,
                                       labelled_block_split, neighbour_pairs)
from geoanomaly.errors import InputError
from geoanomaly.grid.windows import GridInput
from geoanomaly.survey import Grid

HEIGHT, WIDTH, CHANNELS = 40, 50, 6
SIGNATURE = np.array([1.5, 1.2, 1.0, -1.0, 0.0, 0.0])  # the deposits' multi-element signature
FAST = dict(epochs=8, pairs_per_epoch=1800, validation_pairs=600, seed=0)


def _data(seed=0, n_deposits=36):
    """Six channels (smooth background + noise); deposits at scattered cells, each with a
    compact halo of SIGNATURE; a no-data hole and a few unobserved values."""
    rng = np.random.default_rng(seed)
    smooth = [ndimage.gaussian_filter(rng.normal(size=(HEIGHT, WIDTH)), 2.0) for _ in
              range(CHANNELS)]
    images = np.stack([0.7 * s / s.std() + 0.5 * rng.normal(size=(HEIGHT, WIDTH))
                       for s in smooth])
    deposits: list[tuple[int, int]] = []
    while len(deposits) < n_deposits:
        r, c = int(rng.integers(1, HEIGHT - 1)), int(rng.integers(1, WIDTH - 1))
        if all(max(abs(r - a), abs(c - b)) >= 4 for a, b in deposits) and \
                not (17 <= r <= 23 and 4 <= c <= 10):
            deposits.append((r, c))
    rr, cc = np.mgrid[:HEIGHT, :WIDTH]
    label = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for r, c in deposits:
        bump = np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * 0.8 ** 2))
        images = images + SIGNATURE[:, None, None] * bump[None]
        label[r, c] = True
    valid = np.ones((HEIGHT, WIDTH), dtype=bool)
    valid[18:23, 5:10] = False  # a no-data hole
    grid = Grid(Affine(1000, 0, 0, 0, -1000, HEIGHT * 1000), WIDTH, HEIGHT, None, valid)
    masks = np.broadcast_to(valid, images.shape).copy()
    masks[2, 30:33, 3:6] = False  # a few unobserved values of one channel
    images = np.where(masks, images, 0.0).astype(np.float32)
    X = GridInput(images, masks, grid, tuple("ABCDEF"))
    truth = grid.from_image(label).astype(np.int64)
    hidden = grid.cell_rows_cols()[1] >= 34  # the held-out area: the east third of the map
    return X, truth, hidden


X, TRUTH, HIDDEN = _data()
Y = np.where(HIDDEN, -1, TRUTH)  # what a fold of the pipeline passes: held-out cells unlabelled

_CACHE: dict = {}


def _detector(seed=0):
    """One fit per seed for the whole module."""
    if seed not in _CACHE:
        _CACHE[seed] = PPFCNNDetector(**{**FAST, "seed": seed}).fit(X, Y)
    return _CACHE[seed]


def _scores(seed=0):
    return _detector(seed).anomaly_score(X)


def test_fit_returns_self_and_one_finite_probability_per_valid_cell():
    detector = PPFCNNDetector(**FAST)
    assert detector.fit(X, Y) is detector
    _CACHE.setdefault(0, detector)
    scores = detector.anomaly_score(X)
    assert scores.dtype == np.float64 and scores.shape == (X.n_cells,)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()
    assert detector.n_features_in_ == CHANNELS and 1 <= detector.best_epoch_ <= FAST["epochs"]


def test_held_out_deposits_score_higher_than_held_out_negatives():
    # the hidden area's labels were never seen: AUC of its true deposits against the rest
    scores = _scores(0)
    assert TRUTH[HIDDEN].sum() >= 8
    auc = roc_auc_score(TRUTH[HIDDEN], scores[HIDDEN])
    assert auc > 0.8, auc


def test_same_seed_identical_other_seed_differs_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = PPFCNNDetector(**FAST).fit(X, Y).anomaly_score(X)
    assert torch.equal(before, torch.get_rng_state())
    assert np.array_equal(again, _scores(0))
    assert not np.array_equal(_scores(1), _scores(0))


def test_unlabelled_cells_never_give_a_label():
    detector = _detector(0)
    used = np.concatenate([detector.train_cells_, detector.validation_cells_])
    assert used.size and not HIDDEN[used].any() and (Y[used] >= 0).all()
    assert (Y[detector.validation_cells_] == 1).any()  # the validation holds deposits
    # the hidden area's true labels, flipped, hidden again: the same model, the same scores
    flipped = np.where(HIDDEN, 1 - TRUTH, TRUTH)
    y_flipped = np.where(HIDDEN, -1, flipped)
    assert np.array_equal(PPFCNNDetector(**FAST).fit(X, y_flipped).anomaly_score(X),
                          _scores(0))
    # whereas -1 is not read as 0: labelling the hidden area as negatives changes the model
    y_zero = np.where(HIDDEN, 0, TRUTH)
    assert not np.array_equal(PPFCNNDetector(**FAST).fit(X, y_zero).anomaly_score(X),
                              _scores(0))


def test_pairs_are_balanced_and_drawn_within_their_classes():
    rng = np.random.default_rng(0)
    positives, negatives = np.array([3, 7, 11]), np.arange(100, 200)
    first, second, labels = draw_pairs(rng, positives, negatives, 50)
    assert np.bincount(labels, minlength=3).tolist() == [50, 50, 50]
    is_pos = np.isin(first, positives), np.isin(second, positives)
    assert (is_pos[0] & is_pos[1])[labels == DEPOSIT].all()
    assert (~is_pos[0] & ~is_pos[1])[labels == 0].all()
    mixed = labels == 2
    assert (is_pos[0] ^ is_pos[1])[mixed].all() and 0 < is_pos[0][mixed].sum() < 50


def test_validation_blocks_hold_deposits_and_training_keeps_away_from_them():
    train, validation = labelled_block_split(X.grid, Y, 0.2, 4, seed=0)
    assert (Y[validation] == 1).any() and (Y[train] == 1).any()
    assert not np.intersect1d(train, validation).size
    rows, cols = X.grid.cell_rows_cols()
    gap = np.maximum(np.abs(rows[train][:, None] - rows[validation][None]),
                     np.abs(cols[train][:, None] - cols[validation][None]))
    assert gap.min() >= 2  # no training cell touches a validation cell
    # one positive: no validation set, everything labelled trains
    one = np.where(np.arange(Y.size) == np.flatnonzero(Y == 1)[0], 1, np.minimum(Y, 0))
    train, validation = labelled_block_split(X.grid, one, 0.2, 4, seed=0)
    assert validation.size == 0 and train.size == (one >= 0).sum()


def test_neighbour_pairs_skip_holes_and_fall_back_to_the_cell_itself():
    valid = np.zeros((5, 6), dtype=bool)
    valid[1:4, 1:4] = True
    valid[0, 5] = True  # an isolated cell
    grid = Grid(Affine(1, 0, 0, 0, -1, 5), 6, 5, None, valid)
    usable = np.ones(int(valid.sum()), dtype=bool)
    first, second = neighbour_pairs(grid, usable)
    counts = np.bincount(first, minlength=usable.size)
    rows, cols = grid.cell_rows_cols()
    centre = np.flatnonzero((rows == 2) & (cols == 2))[0]
    lone = np.flatnonzero((rows == 0) & (cols == 5))[0]
    assert counts[centre] == 8 and counts[lone] == 1
    assert second[first == lone].tolist() == [lone]
    # a neighbour without any observed value is not paired
    usable[centre] = False
    first, second = neighbour_pairs(grid, usable)
    assert centre not in second and np.bincount(first)[centre] == 8


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    fitted = _detector(0)
    save_detector(fitted, tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is PPFCNNDetector and loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.train_cells_, fitted.train_cells_)
    assert np.array_equal(loaded.anomaly_score(X), _scores(0))


def test_bad_labels_and_rows_are_input_errors():
    quick = PPFCNNDetector(epochs=1, pairs_per_epoch=30)
    with pytest.raises(InputError, match="supervised"):
        quick.fit(X)
    with pytest.raises(InputError, match="shape"):
        quick.fit(X, Y[:-1])
    with pytest.raises(InputError, match="shape"):
        quick.fit(X, Y[:, None])
    with pytest.raises(InputError, match="no deposit"):
        quick.fit(X, np.where(Y == 1, 0, Y))
    with pytest.raises(InputError, match="no deposit"):
        quick.fit(X, np.where(Y == 1, -1, Y))  # positives exist only among unlabelled cells
    with pytest.raises(InputError, match="no negative"):
        quick.fit(X, np.where(Y == 0, -1, Y))
    with pytest.raises(InputError, match="only 1"):
        quick.fit(X, np.where(Y == 1, 2, Y))
    with pytest.raises(InputError, match="GridInput"):
        quick.fit(np.zeros((50, CHANNELS)), np.zeros(50, dtype=int))
    with pytest.raises(InputError, match="GridInput"):
        _detector(0).anomaly_score(np.zeros((50, CHANNELS)))
    with pytest.raises(InputError, match="channels"):
        _detector(0).anomaly_score(GridInput(X.images[:2], X.masks[:2], X.grid))
