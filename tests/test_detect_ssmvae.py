"""The geologically constrained VAE with a spectrum-separable module (Zhao et al. 2023): a map
model that takes a geological prior in fit and scores from the network alone."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from affine import Affine
from conftest import assert_unobserved_values_ignored
from scipy import ndimage

from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.detect.ssmvae import SSMVAEDetector
from geoanomaly.errors import InputError
from geoanomaly.grid.windows import GridInput
from geoanomaly.survey import Grid

HEIGHT, WIDTH = 28, 36
#: halos of group A (enriched in channels 0 and 1) and group B (channels 2 and 3)
A_CENTRES, B_CENTRES = ((6, 7), (21, 27)), ((6, 27), (21, 8))
FAST = dict(epochs=8, warmup=3, seed=0)


def _map(amplitude):
    """4 channels on 2 smooth factors plus noise, a no-data hole, and two groups of compact
    halos equally strong but in different elements; a prior of 1 on the A halos, 0 on the B
    halos, 0.5 elsewhere. Returns (GridInput, prior, A cells, B cells)."""
    rng = np.random.default_rng(0)
    factors = [ndimage.gaussian_filter(rng.normal(size=(HEIGHT, WIDTH)), 3.0) for _ in range(2)]
    factors = np.stack([f / f.std() for f in factors])
    images = np.einsum("kc,khw->chw", rng.normal(size=(2, 4)), factors) \
        + 0.3 * rng.normal(size=(4, HEIGHT, WIDTH))
    rr, cc = np.mgrid[:HEIGHT, :WIDTH]
    prior = np.full((HEIGHT, WIDTH), 0.5)
    groups = {}
    for name, centres, channels, value in (("A", A_CENTRES, (0, 1), 1.0),
                                           ("B", B_CENTRES, (2, 3), 0.0)):
        cells = np.zeros((HEIGHT, WIDTH), dtype=bool)
        for r, c in centres:
            bump = np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / 2.0)
            images[list(channels)] += amplitude * bump
            near = (np.abs(rr - r) <= 1) & (np.abs(cc - c) <= 1)
            cells |= near
            prior[near] = value
        groups[name] = cells
    valid = np.ones((HEIGHT, WIDTH), dtype=bool)
    valid[12:15, 15:19] = False
    grid = Grid(Affine(1000, 0, 0, 0, -1000, HEIGHT * 1000), WIDTH, HEIGHT, None, valid)
    masks = np.broadcast_to(valid, images.shape).copy()
    X = GridInput(np.where(masks, images, 0.0).astype(np.float32), masks, grid,
                  ("Cu", "Pb", "Zn", "Au"))
    return (X, grid.from_image(prior), grid.from_image(groups["A"]),
            grid.from_image(groups["B"]))


#: strong halos for the detection tests, weaker ones (room to move) for the prior's effect
X, _, A, B = _map(2.5)
HALO = A | B
#: a smooth prior unrelated to the halos (west 0 -> east 1)
SMOOTH_PRIOR = X.grid.cell_rows_cols()[1] / (WIDTH - 1.0)
X_WEAK, PRIOR, A_WEAK, B_WEAK = _map(1.2)


@functools.lru_cache(maxsize=None)
def _fitted(seed=0):
    return SSMVAEDetector(**{**FAST, "seed": seed}).fit(X, prior=SMOOTH_PRIOR)


@functools.lru_cache(maxsize=None)
def _quick(seed=0, lam=0.1, flat_prior=False):
    """Two epochs: enough to compare seeds and priors, not to detect anything."""
    prior = np.full(X.n_cells, 0.25) if flat_prior else SMOOTH_PRIOR
    return SSMVAEDetector(epochs=2, warmup=1, seed=seed, lam=lam).fit(X, prior=prior)


@functools.lru_cache(maxsize=None)
def _weak(lam):
    return SSMVAEDetector(epochs=12, warmup=3, seed=0, lam=lam).fit(X_WEAK, prior=PRIOR)


def _ranks(scores):
    return scores.argsort().argsort() / (scores.size - 1)


def test_one_finite_float64_score_per_valid_cell_and_planted_halos_rank_high():
    detector = _fitted()
    scores = detector.anomaly_score(X)
    assert scores.dtype == np.float64 and scores.shape == (X.n_cells,)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert _ranks(scores)[HALO].mean() > 0.9  # 0.99 measured
    assert detector.n_epochs_ == 8 and detector.warmup_epochs_ == 3
    assert len(detector.history_["val_penalty"]) == 8


def test_same_seed_identical_other_seed_differs_y_ignored_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = SSMVAEDetector(**FAST).fit(X, np.zeros(X.n_cells), prior=SMOOTH_PRIOR)
    assert torch.equal(before, torch.get_rng_state())
    assert np.array_equal(again.anomaly_score(X), _fitted().anomaly_score(X))
    assert not np.array_equal(_quick(seed=1).anomaly_score(X), _quick().anomaly_score(X))


def test_the_prior_raises_the_group_it_favours():
    """Two groups of halos equally anomalous in different elements; the prior favours A (1) and
    disfavours B (0). With the penalty, A's halos rank higher and B's lower than without it.
    Measured (seeds 0 / 1 / 2, lam 3 vs 0): mean rank of A 0.66 -> 0.94, 0.80 -> 0.90,
    0.74 -> 0.94; gap A - B -0.19 -> 0.16, 0.00 -> 0.58, -0.09 -> 0.32."""
    plain, constrained = (_ranks(_weak(lam).anomaly_score(X_WEAK)) for lam in (0.0, 3.0))
    assert constrained[A_WEAK].mean() > plain[A_WEAK].mean() + 0.05
    gap = lambda r: r[A_WEAK].mean() - r[B_WEAK].mean()  # noqa: E731
    assert gap(constrained) > gap(plain) + 0.15
    assert _weak(3.0).history_["val_penalty"][-1] < _weak(0.0).history_["val_penalty"][-1]


def test_lam_zero_ignores_the_prior_and_lam_above_zero_does_not():
    assert np.array_equal(_quick(lam=0.0).anomaly_score(X),
                          _quick(lam=0.0, flat_prior=True).anomaly_score(X))
    assert _quick(lam=0.0).warmup_epochs_ == 0 and _quick().warmup_epochs_ == 1
    assert not np.array_equal(_quick().anomaly_score(X),
                              _quick(flat_prior=True).anomaly_score(X))


@pytest.mark.parametrize("prior, message", [
    (None, "needs a geological prior: give --control FILE"),
    (np.full(10, 0.5), "one value per valid cell"),
    (np.full(X.n_cells, 1.5), r"\[0, 1\]"),
    (np.r_[np.nan, np.full(X.n_cells - 1, 0.5)], "missing or infinite"),
])
def test_a_missing_or_bad_prior_is_an_input_error(prior, message):
    with pytest.raises(InputError, match=message):
        SSMVAEDetector(**FAST).fit(X, prior=prior)


def test_rows_and_bad_parameters_are_refused():
    with pytest.raises(InputError, match="map model"):
        SSMVAEDetector(**FAST).fit(np.zeros((50, 4)), prior=np.full(50, 0.5))
    with pytest.raises(InputError, match="map model"):
        _fitted().anomaly_score(np.zeros((50, 4)))
    with pytest.raises(InputError, match="window"):
        SSMVAEDetector(window=4).fit(X, prior=SMOOTH_PRIOR)
    with pytest.raises(InputError, match="lam"):
        SSMVAEDetector(lam=-1).fit(X, prior=SMOOTH_PRIOR)
    three = GridInput(X.images[:3], X.masks[:3], X.grid)
    with pytest.raises(InputError, match="channels"):
        _fitted().anomaly_score(three)


def test_unobserved_values_do_not_change_the_fit_or_the_scores():
    assert_unobserved_values_ignored(
        lambda data: SSMVAEDetector(epochs=2, warmup=1, seed=0).fit(data, prior=SMOOTH_PRIOR), X,
        [((1, 5, 30), 1e6)])


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    fitted = _fitted()
    save_detector(fitted, tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is SSMVAEDetector and loaded.get_params() == fitted.get_params()
    assert loaded.history_ == fitted.history_ and loaded.best_epoch_ == fitted.best_epoch_
    assert np.array_equal(loaded.anomaly_score(X), fitted.anomaly_score(X))
