"""The grid spatial context is a masked window mean: holes and edges add no cells."""

from __future__ import annotations

import numpy as np
from affine import Affine

from geoanomaly.grid.smoothing import masked_window_mean, window_size
from geoanomaly.survey import Grid


def _grid(valid):
    valid = np.asarray(valid, dtype=bool)
    return Grid(Affine(1, 0, 0, 0, -1, valid.shape[0]), valid.shape[1], valid.shape[0], None,
                valid)


def test_window_size_is_the_odd_side_of_about_k_cells():
    assert [window_size(k) for k in (1, 4, 9, 16, 25)] == [1, 3, 3, 5, 5]


def test_interior_cell_is_the_plain_3x3_mean():
    grid = _grid(np.ones((4, 4)))
    values = np.arange(16, dtype=float)
    out = grid.to_image(masked_window_mean(grid, values, 3))
    image = values.reshape(4, 4)
    assert np.isclose(out[1, 1], image[0:3, 0:3].mean())
    assert np.isclose(out[0, 0], image[0:2, 0:2].mean())  # the edge averages its 4 real cells


def test_holes_do_not_count_and_keep_no_value():
    valid = np.ones((3, 3), dtype=bool)
    valid[1, 0] = False
    grid = _grid(valid)
    values = np.arange(8, dtype=float) + 1.0
    out = masked_window_mean(grid, values, 3)
    assert out.shape == (8,)
    image = grid.to_image(values)
    assert np.isclose(grid.to_image(out)[0, 0], np.nanmean(image[0:2, 0:2]))
    assert np.isclose(grid.to_image(out)[1, 1], np.nanmean(image))


def test_to_image_and_from_image_round_trip():
    valid = np.array([[True, False], [True, True]])
    grid = _grid(valid)
    values = np.array([1.0, 2.0, 3.0])
    image = grid.to_image(values)
    assert np.isnan(image[0, 1]) and np.array_equal(grid.from_image(image), values)
