"""Masked windows for the map models and the blocked split that keeps validation honest."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from geoanomaly.errors import InputError
from geoanomaly.grid.windows import blocked_split, extract_windows, feature_images
from geoanomaly.survey import Grid


def _grid(height=30, width=40, hole=True):
    valid = np.ones((height, width), dtype=bool)
    if hole:
        valid[10:14, 10:14] = False
    return Grid(Affine(100, 0, 0, 0, -100, height * 100), width, height, None, valid)


def test_windows_carry_the_features_and_mask_holes_edges_and_imputed_values():
    grid = _grid()
    n = int(grid.valid.sum())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2)) + 5.0
    observed = np.ones_like(X, dtype=bool)
    observed[0, 1] = False  # an imputed value in the first cell (row 0, col 0)
    images, masks = feature_images(grid, X, observed)
    windows = extract_windows(images, masks, grid, 3)
    assert windows.patches.shape == (n, 2, 3, 3) and windows.patches.dtype == np.float32
    # the centre of each window is its own cell's value
    assert np.allclose(windows.patches[:, 0, 1, 1], X[:, 0])
    # first cell: top-left corner of the map -> the outer ring is outside, masked and zero
    first = windows
    assert not first.masks[0, :, 0, :].any() and (first.patches[0, :, 0, :] == 0).all()
    assert not first.masks[0, 1, 1, 1] and first.patches[0, 1, 1, 1] == 0.0  # imputed
    assert first.masks[0, 0, 1, 1]
    # a window next to the hole masks the hole's cells
    rows, cols = grid.cell_rows_cols()
    k = int(np.flatnonzero((rows == 11) & (cols == 9))[0])
    assert not windows.masks[k, :, 1, 2].any()


def test_blocked_split_never_lets_a_training_window_see_a_validation_cell():
    grid = _grid()
    train, val = blocked_split(grid, size=5, validation_fraction=0.2, seed=3)
    assert len(set(train) & set(val)) == 0 and 0.1 < val.size / grid.valid.sum() < 0.45
    rows, cols = grid.cell_rows_cols()
    held = np.zeros(grid.valid.shape, dtype=bool)
    held[rows[val], cols[val]] = True
    for t in train:
        r, c = rows[t], cols[t]
        assert not held[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3].any()
    again = blocked_split(grid, size=5, validation_fraction=0.2, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)


def test_bad_window_sizes_and_fractions_are_input_errors():
    grid = _grid()
    images, masks = feature_images(grid, np.zeros((int(grid.valid.sum()), 1)))
    with pytest.raises(InputError, match="odd"):
        extract_windows(images, masks, grid, 4)
    with pytest.raises(InputError, match="validation_fraction"):
        blocked_split(grid, 3, 1.5, 0)
    with pytest.raises(InputError, match="valid cells"):
        feature_images(grid, np.zeros((3, 1)))


def test_cleaning_records_which_values_it_imputed():
    import pandas as pd

    from geoanomaly.clean import CleaningOptions, clean
    from geoanomaly.survey import Survey

    values = pd.DataFrame({"Cu": ["10", "12", "", "9", "11", "13"],
                           "Zn": ["50", "55", "60", "52", "58", "57"]})
    x = np.arange(6, dtype=float)
    survey = Survey(values=values, x=x, y=x * 0, crs=None)
    cleaned, report = clean(survey, CleaningOptions())
    assert report.imputed.shape == (cleaned.n, 2)
    assert report.imputed["Cu"].sum() == 1 and not report.imputed["Zn"].any()


def test_prepared_data_says_which_features_were_measured(small_grid):
    from geoanomaly.config import make_config
    from geoanomaly.pipeline import prepare

    folder, _ = small_grid
    data = prepare(make_config(sources=[str(folder)], out="unused"))
    observed = data.observed
    assert observed.shape == data.X.shape and observed.dtype == bool
    images, masks = feature_images(data.survey.grid, data.X, observed)
    assert images.shape[0] == data.X.shape[1] and masks.sum() == observed.sum()


def test_map_input_of_a_grid_and_of_a_gridded_point_survey(small_grid, small_csv):
    from geoanomaly.config import make_config
    from geoanomaly.grid.windows import GridInput, PointsOnGrid, map_input
    from geoanomaly.pipeline import prepare

    folder, _ = small_grid
    config = make_config(sources=[str(folder)], out="unused")
    data = prepare(config)
    on_grid = map_input(config, data)
    assert isinstance(on_grid, GridInput) and not isinstance(on_grid, PointsOnGrid)
    assert on_grid.n_cells == data.survey.n and on_grid.n_channels == data.X.shape[1]

    samples, _ = small_csv
    config = make_config(sources=[str(samples)], out="unused")
    data = prepare(config)
    points = map_input(config, data)
    assert isinstance(points, PointsOnGrid) and points.n_channels == data.X.shape[1]
    back = points.to_samples(np.arange(points.n_cells, dtype=float))
    assert back.shape == (data.survey.n,) and np.isfinite(back).all()
    assert any("gridded" in note for note in data.notes)
