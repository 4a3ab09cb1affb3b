"""The contract for map models (registry input_kind "windows"): a score per valid cell, the
sign, seeding, y ignored, rows refused, save/load."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from affine import Affine

from geoanomaly.detect import make_detector
from geoanomaly.detect.persistence import load_detector, save_detector
from geoanomaly.detect.registry import REGISTRY
from geoanomaly.errors import InputError
from geoanomaly.grid.windows import GridInput
from geoanomaly.survey import Grid

#: the unsupervised map models (guided ones need a prior or labels: test_detect_contract_guided)
MAP_MODELS = sorted(n for n, s in REGISTRY.items()
                    if s.input_kind == "windows" and s.guidance == "none")
FAST = {"mcae": {"epochs": 3}, "pccae": {"epochs": 3}, "ganomaly-map": {"epochs": 8, "learning_rate": 2e-3}}
names = pytest.mark.parametrize("name", MAP_MODELS)


def _map():
    """A 30 x 40 map of 3 smooth correlated channels with a hole and two compact halos."""
    rng = np.random.default_rng(7)
    h, w = 30, 40
    rows, cols = np.mgrid[0:h, 0:w]
    from scipy import ndimage

    base = ndimage.gaussian_filter(rng.normal(size=(h, w)), 3) * 5
    halo = sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 3.0) for r, c in [(8, 10), (20, 30)])
    images = np.stack([base + 0.2 * rng.normal(size=(h, w)) + k * halo for k in (3, 2, 2.5)])
    valid = np.ones((h, w), dtype=bool)
    valid[14:18, 2:6] = False
    grid = Grid(Affine(1000, 0, 0, 0, -1000, h * 1000), w, h, None, valid)
    X = np.stack([grid.from_image(im) for im in images], axis=1)
    halo_cells = grid.from_image(halo) > 0.5
    return GridInput.from_rows(grid, X, None, ("Cu", "Pb", "Zn")), halo_cells


MAP, HALO = _map()


@functools.lru_cache(maxsize=None)
def _scores(name, seed=0):
    return make_detector(name, **FAST.get(name, {}), seed=seed).fit(MAP).anomaly_score(MAP)


@names
def test_one_finite_score_per_valid_cell_higher_on_the_halos(name):
    scores = _scores(name)
    assert scores.shape == (MAP.n_cells,) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    ranks = scores.argsort().argsort() / (scores.size - 1)
    assert ranks[HALO].mean() > 0.75


@names
def test_same_seed_same_scores_other_seed_other_scores_y_ignored(name):
    def scores(seed, y=None):  # two epochs: determinism needs no trained model
        return make_detector(name, epochs=2, seed=seed).fit(MAP, y).anomaly_score(MAP)

    first = scores(0)
    assert np.array_equal(scores(0, np.zeros(MAP.n_cells)), first)
    assert not np.array_equal(scores(1), first)


@names
def test_rows_are_refused_with_an_input_error(name):
    with pytest.raises(InputError):
        make_detector(name, **FAST.get(name, {})).fit(np.zeros((50, 3)))


@names
def test_save_load_gives_identical_scores(name, tmp_path):
    detector = make_detector(name, epochs=2).fit(MAP)
    save_detector(detector, tmp_path / "m")
    assert np.array_equal(load_detector(tmp_path / "m").anomaly_score(MAP),
                          detector.anomaly_score(MAP))


@names
def test_a_point_survey_runs_through_a_map_model_and_scores_every_sample(name, small_csv,
                                                                         tmp_path):
    import geoanomaly

    samples, deposits = small_csv
    result = geoanomaly.run(sources=[str(samples)], deposits=str(deposits), model=name,
                            epochs=2, n_boot=50, out=str(tmp_path / "o"))
    assert result.scores.shape == (result.data.survey.n,) and np.isfinite(result.scores).all()
    assert any("gridded" in note for note in result.data.notes)
