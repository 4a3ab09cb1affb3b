import numpy as np
import pytest
from affine import Affine

from geoanomaly.errors import InputError
from geoanomaly.survey import Grid
from geoanomaly.validate import (
    EARTH_RADIUS_M, cell_labels, distance_to_nearest, nearest_samples, sample_labels,
)


def test_haversine_one_degree_of_latitude():
    dist, idx = distance_to_nearest([10.0], [-31.0], [10.0, 50.0], [-30.0, 0.0], geographic=True)
    assert dist[0] == pytest.approx(np.pi / 180 * EARTH_RADIUS_M, rel=1e-9)
    assert idx[0] == 0
    # along a parallel at 60 degrees a degree of longitude is about half as long
    dist, _ = distance_to_nearest([1.0], [60.0], [0.0], [60.0], geographic=True)
    assert dist[0] == pytest.approx(np.pi / 180 * EARTH_RADIUS_M * 0.5, rel=1e-3)


def test_sample_labels_euclidean_and_geographic():
    x = np.array([0.0, 1000.0, 2000.0, 2001.0])
    lab = sample_labels(x, np.zeros(4), [0.0], [0.0], radius=2000.0, geographic=False)
    assert lab.tolist() == [True, True, True, False]
    with pytest.raises(InputError):  # metres passed as degrees
        sample_labels(x, np.full(4, 6.5e6), [0.0], [0.0], radius=10.0, geographic=True)
    idx, dist = nearest_samples(x, np.zeros(4), [1900.0, -5.0], [0.0, 0.0], geographic=False)
    assert idx.tolist() == [2, 0] and dist.tolist() == pytest.approx([100.0, 5.0])


def test_cell_labels_maps_deposits_and_counts_the_lost():
    # 3 x 4 grid of 10 m cells, top-left corner (100, 200); cell (row 1, col 2) has no data
    valid = np.ones((3, 4), bool)
    valid[1, 2] = False
    grid = Grid(Affine(10, 0, 100, 0, -10, 200), width=4, height=3, crs=None, valid=valid)
    dep_x = [105.0, 125.0, 135.0, 135.0, 500.0, 100.0]
    dep_y = [195.0, 185.0, 175.0, 172.0, 195.0, 200.0]
    res = cell_labels(grid, dep_x, dep_y)
    # rows in row-major order of valid cells: (0,0)=0 ... (1,2) missing, (2,3) = 10
    assert res.deposit_row.tolist() == [0, -1, 10, 10, -1, 0]
    assert np.flatnonzero(res.labels).tolist() == [0, 10]
    assert res.n_outside_grid == 1 and res.n_in_invalid_cell == 1
    assert res.summary()["n_deposits_in_valid_cells"] == 4
