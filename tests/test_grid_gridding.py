"""A point survey gridded for the map models: shared grid, log-space IDW, scores back to the
samples through their cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoanomaly.errors import InputError
from geoanomaly.grid.gridding import grid_point_survey, sample_cells, scores_at_samples
from geoanomaly.survey import Survey


def _points(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10_000, n)
    y = rng.uniform(0, 8_000, n)
    cu = 10 ** (1.0 + x / 10_000)            # log10 Cu rises west to east
    zn = 10 ** (2.0 + y / 8_000)             # log10 Zn rises south to north
    values = pd.DataFrame({"Cu": cu, "Zn": zn})
    return Survey(values=values, x=x, y=y, crs=None, units={"Cu": "ppm", "Zn": "ppm"}), x, y


def test_every_element_lands_on_one_grid_and_follows_the_field():
    survey, x, y = _points()
    gridded = grid_point_survey(survey, x, y, cell_size=500.0)
    g = gridded.survey
    assert g.is_grid and g.elements == ["Cu", "Zn"] and gridded.cell_size == 500.0
    expected_cu = 1.0 + g.x / 10_000
    assert np.abs(np.log10(g.values["Cu"].to_numpy()) - expected_cu).max() < 0.1
    assert "IDW" in gridded.description and "500 m" in gridded.description


def test_scores_come_back_to_the_sample_in_each_cell():
    survey, x, y = _points()
    gridded = grid_point_survey(survey, x, y, cell_size=500.0)
    cell_scores = np.arange(gridded.survey.n, dtype=float)
    back = scores_at_samples(gridded, cell_scores)
    assert back.shape == (len(x),)
    inside = gridded.sample_cell >= 0
    assert inside.mean() > 0.95
    # the cell a sample falls in contains it
    cells = gridded.sample_cell[inside]
    assert np.all(np.abs(gridded.survey.x[cells] - x[inside]) <= 250.0 + 1e-6)
    assert np.all(np.abs(gridded.survey.y[cells] - y[inside]) <= 250.0 + 1e-6)
    assert np.array_equal(back[inside], cell_scores[cells])


def test_points_outside_the_grid_get_no_cell():
    survey, x, y = _points()
    grid = grid_point_survey(survey, x, y, cell_size=500.0).survey.grid
    assert list(sample_cells(grid, [-1e6, 1e9], [0.0, 0.0])) == [-1, -1]


def test_a_grid_or_unclean_values_are_refused():
    survey, x, y = _points()
    bad = Survey(values=survey.values.assign(Cu=-1.0), x=x, y=y, crs=None)
    with pytest.raises(InputError, match="positive"):
        grid_point_survey(bad, x, y)
    gridded = grid_point_survey(survey, x, y, cell_size=500.0).survey
    with pytest.raises(InputError, match="already a grid"):
        grid_point_survey(gridded, gridded.x, gridded.y)
