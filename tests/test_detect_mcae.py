"""The multi-convolutional autoencoder (Chen et al. 2019): a map model on masked windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_unobserved_values_ignored, halo_map
from scipy import ndimage

from geoanomaly.detect import DETECTORS
from geoanomaly.detect.mcae import MCAEDetector, ring_morans_i, window_from_morans
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.errors import InputError
from geoanomaly.grid.windows import GridInput

FAST = dict(epochs=4, seed=0)

X, HALO = halo_map()


def _fitted(seed=0, X=X, **params):
    return MCAEDetector(**{**FAST, "seed": seed, **params}).fit(X)


_CACHE: dict = {}


def _detector(seed=0):
    """One fit per seed for the whole module (a fit takes a few seconds)."""
    if seed not in _CACHE:
        _CACHE[seed] = _fitted(seed)
    return _CACHE[seed]


def _scores(seed=0):
    return _detector(seed).anomaly_score(X)


def test_fit_returns_self_and_one_finite_float64_score_per_valid_cell():
    detector = MCAEDetector(**FAST)
    assert detector.fit(X) is detector
    _CACHE.setdefault(0, detector)
    scores = detector.anomaly_score(X)
    assert scores.dtype == np.float64 and scores.shape == (X.n_cells,)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert len(detector.networks_) == 3 and detector.n_features_in_ == 3


def test_halo_cells_rank_high():
    scores = _scores(0)
    ranks = scores.argsort().argsort() / (scores.size - 1)
    assert ranks[HALO].mean() > 0.9


def test_same_seed_identical_other_seed_differs_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = MCAEDetector(**FAST).fit(X, np.zeros(X.n_cells)).anomaly_score(X)  # y is ignored
    assert torch.equal(before, torch.get_rng_state())
    assert np.array_equal(again, _scores(0))
    assert not np.array_equal(_scores(1), _scores(0))


def test_unobserved_values_do_not_change_the_fit_or_the_scores():
    # neither the whitening statistics nor the training windows nor the scores
    assert_unobserved_values_ignored(
        lambda data: _fitted(0, X=data, window_sizes=(3, 5, 3), epochs=2), X, [((1, 5, 40), 1e6)])


def test_windows_from_morans_i_are_odd_in_range_and_smoother_gets_wider():
    sizes = _detector(0).window_sizes_
    assert all(s % 2 == 1 and 3 <= s <= 9 for s in sizes)
    assert sizes[0] >= sizes[2]  # channel 0 is smooth, channel 2 mostly white noise
    # a direct check of the rule: white noise -> 3, a very smooth field -> 9
    rng = np.random.default_rng(0)
    mask = np.ones((60, 60), dtype=bool)
    noise = rng.normal(size=(60, 60))
    smooth = ndimage.gaussian_filter(rng.normal(size=(60, 60)), 6.0)
    assert window_from_morans(ring_morans_i(noise, mask, 4), 0.1, 3, 9) == 3
    assert window_from_morans(ring_morans_i(smooth, mask, 4), 0.1, 3, 9) == 9
    # an override is used as given
    assert _fitted(0, window_sizes=(3, 5, 3), epochs=1).window_sizes_ == [3, 5, 3]


def test_save_load_round_trip_gives_identical_scores(tmp_path, monkeypatch):
    monkeypatch.setitem(DETECTORS, "mcae", MCAEDetector)  # the lead registers it
    fitted = _detector(0)
    save_detector(fitted, tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is MCAEDetector and loaded.get_params() == fitted.get_params()
    assert loaded.window_sizes_ == fitted.window_sizes_
    assert np.array_equal(loaded.anomaly_score(X), _scores(0))


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="GridInput"):
        MCAEDetector().fit(np.zeros((10, 3)))
    with pytest.raises(InputError, match="window_sizes"):
        MCAEDetector(window_sizes=(4, 5, 3)).fit(X)
    with pytest.raises(InputError, match="channels"):
        _detector(0).anomaly_score(GridInput(X.images[:2], X.masks[:2], X.grid))
