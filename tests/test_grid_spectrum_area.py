"""The spectrum-area filter splits a map into background and local anomalies."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage

from geoanomaly.errors import InputError
from geoanomaly.grid.spectrum_area import sa_decompose
from geoanomaly.survey import Grid


def _map(hole=True):
    rng = np.random.default_rng(4)
    h, w = 64, 64
    valid = np.ones((h, w), dtype=bool)
    if hole:
        valid[5:9, 40:46] = False
    grid = Grid(Affine(1000, 0, 0, 0, -1000, h * 1000), w, h, None, valid)
    rows, cols = np.mgrid[0:h, 0:w]
    background = 3.0 * np.sin(rows / 14.0) + 2.0 * np.cos(cols / 18.0)
    spikes = np.zeros((h, w))
    for r, c in [(20, 20), (45, 50), (50, 12)]:
        spikes += 2.5 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 2.0)
    noise = 0.05 * rng.normal(size=(h, w))
    return grid, background, spikes, grid.from_image(background + spikes + noise)


def test_the_anomaly_component_sits_on_the_local_anomalies_and_the_background_on_the_trend():
    grid, background, spikes, values = _map()
    part = sa_decompose(grid, values)
    anomaly = grid.to_image(part.anomaly)
    at_spikes = np.abs(anomaly[spikes > 1.0]).mean()
    elsewhere = np.abs(anomaly[(spikes < 0.01) & grid.valid]).mean()
    assert at_spikes > 5 * elsewhere
    assert np.corrcoef(part.background, grid.from_image(background))[0, 1] > 0.9
    assert part.noise_threshold is not None and part.noise_threshold < part.threshold


def test_with_one_break_the_two_components_add_up_to_the_map():
    grid, _, _, values = _map(hole=False)
    part = sa_decompose(grid, values, max_breaks=1)
    assert part.noise_threshold is None
    assert np.allclose(part.anomaly + part.background, values, atol=1e-9)


def test_points_and_flat_maps_are_refused(small_csv, tmp_path):
    from geoanomaly.cli import main

    grid, _, _, values = _map()
    with pytest.raises(InputError, match="constant"):
        sa_decompose(grid, np.ones_like(values))
    samples, _ = small_csv
    assert main(["run", str(samples), "--filter", "sa", "--out", str(tmp_path / "x")]) == 2


def test_a_grid_run_with_the_filter_notes_it_and_draws_the_fits(small_grid, tmp_path):
    import geoanomaly

    folder, deposits = small_grid
    result = geoanomaly.run(sources=[str(folder)], deposits=str(deposits), filter="sa",
                            epochs=3, n_boot=50, out=str(tmp_path / "o"))
    assert any("Spectrum-area filter" in n for n in result.data.notes)
    assert "Spectrum-area plot" in (tmp_path / "o" / "report.html").read_text()
