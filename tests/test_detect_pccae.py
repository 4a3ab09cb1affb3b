"""The local phase-constrained convolutional autoencoder (Liu et al. 2024): a map model on masked
windows, trained on masked MSE plus an adaptively weighted local Fourier phase loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_unobserved_values_ignored, halo_map

from geoanomaly.detect.map_models import WindowCutter, standardised_images
from geoanomaly.detect.pccae import (LocalPhase, PCCAEDetector, PhaseConstrainedLoss,
                                     adaptive_phase_weight, dft_basis, frequencies, hann_taper,
                                     local_phase_loss)
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.errors import InputError
from geoanomaly.grid.windows import GridInput, extract_windows

FAST = dict(epochs=4, seed=0)

#: the channels on different scales
X, HALO = halo_map(scale=(1.0, 20.0, 0.05), shift=(0, 100, -3))
_CACHE: dict = {}


def _detector(seed=0):
    """One fit per seed for the whole module (a fit takes a few seconds)."""
    if seed not in _CACHE:
        _CACHE[seed] = PCCAEDetector(**{**FAST, "seed": seed}).fit(X)
    return _CACHE[seed]


def _scores(seed=0):
    return _detector(seed).anomaly_score(X)


def _ranks(scores):
    return scores.argsort().argsort() / (scores.size - 1)


# -- the detector -------------------------------------------------------------------------------
def test_fit_returns_self_and_one_finite_float64_score_per_valid_cell():
    detector = PCCAEDetector(**FAST)
    assert detector.fit(X) is detector
    _CACHE.setdefault(0, detector)
    scores = detector.anomaly_score(X)
    assert scores.dtype == np.float64 and scores.shape == (X.n_cells,)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert detector.n_features_in_ == 3 and detector.n_epochs_ <= 4


def test_planted_compact_halos_rank_high():
    assert _ranks(_scores(0))[HALO].mean() > 0.85


def test_same_seed_identical_other_seed_differs_y_ignored_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = PCCAEDetector(**FAST).fit(X, np.zeros(X.n_cells)).anomaly_score(X)  # y is ignored
    assert torch.equal(before, torch.get_rng_state())
    assert np.array_equal(again, _scores(0))
    assert not np.array_equal(_scores(1), _scores(0))


def test_score_is_the_summed_squared_centre_cell_error_in_standardised_units():
    detector = _detector(0)
    cells = np.array([0, 17, 600, X.n_cells - 1])
    standard = (X.images - detector.center_[:, None, None].astype(np.float32)) \
        / detector.scale_[:, None, None].astype(np.float32)
    standard = np.where(X.masks, standard, 0.0).astype(np.float32)
    windows = extract_windows(standard, X.masks, X.grid, 9, cells)
    batch = torch.from_numpy(np.concatenate(
        [windows.patches, windows.masks.astype(np.float32)], axis=1))
    with torch.no_grad():
        recon = detector.network_(batch).numpy()
    expected = ((recon[:, :, 4, 4] - windows.patches[:, :, 4, 4]) ** 2).sum(axis=1)
    np.testing.assert_allclose(detector.anomaly_score(X)[cells], expected, rtol=1e-4, atol=1e-6)


def test_window_cutter_matches_extract_windows_at_edges_and_holes():
    masks = X.masks.copy()
    masks[1, 5, 40] = False
    images = np.where(masks, X.images, 0.0).astype(np.float32)
    cells = np.arange(0, X.n_cells, 37)
    windows = extract_windows(images, masks, X.grid, 5, cells)
    for channels_last in (False, True):  # the layouts of pccae / mcae / ganomaly-map and ssmvae
        cutter = WindowCutter(images, masks, X.grid, 5, torch.device("cpu"), channels_last)
        batch = cutter(torch.from_numpy(cells))
        assert batch.is_contiguous(memory_format=torch.channels_last if channels_last
                                   else torch.contiguous_format)
        values, mask = cutter.split(batch)
        assert np.array_equal(values.numpy(), windows.patches)
        assert np.array_equal(mask.numpy(), windows.masks.astype(np.float32))


def test_unobserved_values_do_not_change_fit_or_scores():
    assert_unobserved_values_ignored(lambda data: PCCAEDetector(window=5, epochs=2).fit(data), X,
                                     [((1, 5, 40), 1e6)])


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    fitted = _detector(0)
    save_detector(fitted, tmp_path / "model")
    loaded = load_detector(tmp_path / "model")
    assert type(loaded) is PCCAEDetector and loaded.get_params() == fitted.get_params()
    assert loaded.phase_weight_ == fitted.phase_weight_
    assert loaded.history_ == fitted.history_
    assert np.array_equal(loaded.anomaly_score(X), _scores(0))


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="GridInput"):
        PCCAEDetector().fit(np.zeros((50, 3)))
    with pytest.raises(InputError, match="window"):
        PCCAEDetector(window=8).fit(X)
    with pytest.raises(InputError, match="phase_weight"):
        PCCAEDetector(phase_weight=-1.0).fit(X)
    with pytest.raises(InputError, match="channels"):
        _detector(0).anomaly_score(GridInput(X.images[:2], X.masks[:2], X.grid))


# -- the phase loss and its weight --------------------------------------------------------------
def _bump_windows(shift=0, size=9):
    """(1, 2, size, size): an elongated bump and a ridge, moved ``shift`` cells to the right."""
    rr, cc = np.mgrid[:size, :size].astype(float)
    bump = np.exp(-((rr - 4) ** 2 / 2.0 + (cc - 3 - shift) ** 2 / 0.8))
    ridge = np.exp(-((cc - rr - shift) ** 2) / 1.5)
    return torch.from_numpy(np.stack([bump, ridge])[None].astype(np.float32))


def test_phase_loss_is_zero_for_a_perfect_reconstruction_and_grows_with_a_shift():
    x = _bump_windows(0)
    mask = torch.ones_like(x)
    assert float(local_phase_loss(x, x, mask)) < 1e-6
    # contrast and level are the MSE's job: a positive multiple plus a constant costs nothing
    assert float(local_phase_loss(x, 3.0 * x + 5.0, mask)) < 1e-6
    losses = [float(local_phase_loss(x, _bump_windows(d), mask)) for d in (1, 2, 3)]
    assert 0.05 < losses[0] < losses[1] < losses[2] <= 2.0
    assert float(local_phase_loss(x, -x, mask)) == pytest.approx(2.0, abs=1e-5)


def test_phase_loss_ignores_unobserved_pixels_and_has_finite_gradients():
    x = _bump_windows(0)
    mask = torch.ones_like(x)
    mask[:, :, 0, :] = 0.0
    recon = x.clone()
    recon[:, :, 0, :] = 50.0  # wrong only where nothing was observed
    assert float(local_phase_loss(x, recon, mask)) < 1e-6
    flat = torch.full_like(x, 2.0, requires_grad=True)  # a constant output: zero amplitude
    loss = local_phase_loss(x, flat, mask)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and torch.isfinite(flat.grad).all()


def test_dft_basis_gives_the_fft_at_one_of_each_conjugate_pair():
    size = 7
    y = torch.randn(5, size, size, generator=torch.Generator().manual_seed(0))
    cos, sin = dft_basis(size)
    real, imag = y.reshape(5, -1) @ cos, y.reshape(5, -1) @ sin
    k = frequencies(size)
    assert k.shape == ((size * size - 1) // 2, 2) and not (k == 0).all(axis=1).any()
    assert len({(a, b) for a, b in k} | {(-a, -b) for a, b in k}) == size * size - 1
    fft = torch.fft.fft2(y)[:, k[:, 0] % size, k[:, 1] % size]
    np.testing.assert_allclose(real.numpy(), fft.real.numpy(), atol=1e-4)
    np.testing.assert_allclose(imag.numpy(), fft.imag.numpy(), atol=1e-4)
    taper = hann_taper(size)
    assert (taper > 0).all() and torch.allclose(taper, taper.T) and float(taper.max()) <= 1.0
    assert LocalPhase(size).spectra(y[:, None], torch.ones(5, 1, size, size))[0].shape == \
        (5, k.shape[0])


def test_adaptive_weight_is_finite_positive_and_balances_the_pulls():
    detector = _detector(0)
    assert all(math.isfinite(w) and w > 0 for w in detector.history_["w_phase"])
    assert math.isfinite(detector.phase_weight_) and detector.phase_weight_ > 0
    # the rule: the weighted phase gradient is as long as phase_weight times the MSE gradient
    mse_gradient, phase_gradient = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 2.0])
    for phase_weight in (1.0, 0.5):
        w = float(adaptive_phase_weight(mse_gradient, phase_gradient, phase_weight))
        assert w * 2.0 == pytest.approx(phase_weight * 5.0)
    # in training the loss's value is the masked MSE and its gradient adds w_phase * grad P
    standard = standardised_images(X.images, X.masks, detector.center_, detector.scale_)
    cutter = WindowCutter(standard, X.masks, X.grid, 9, torch.device("cpu"))
    network = PCCAEDetector(**FAST)._build_network(3).train()
    batch = torch.arange(0, 400, 7)[:, None]
    value, parts = PhaseConstrainedLoss(cutter, 1.0)(network, batch, None)
    assert float(value.detach()) == pytest.approx(float(parts["mse"]))
    assert math.isfinite(float(parts["w_phase"])) and float(parts["w_phase"]) > 0
    # phase_weight=0 is the plain masked-MSE convolutional AE
    plain = PCCAEDetector(window=5, epochs=1, phase_weight=0.0).fit(X)
    assert plain.phase_weight_ == 0.0 and np.isfinite(plain.anomaly_score(X)).all()


def test_a_channel_constant_up_to_rounding_does_not_make_training_diverge():
    """sed1 gridded: a pathfinder constant to 1e-15 once blew its rounding noise up to units."""
    from geoanomaly.detect.map_models import robust_statistics

    from conftest import halo_map

    X, _ = halo_map()
    X.images[1] = np.where(X.masks[1], 1e-15 * np.sin(np.arange(X.images[1].size)).reshape(
        X.images[1].shape), 0.0)
    _, scale = robust_statistics(X.images, X.masks, X.grid)
    assert scale[1] == 1.0
    scores = PCCAEDetector(epochs=2).fit(X).anomaly_score(X)
    assert np.isfinite(scores).all()
