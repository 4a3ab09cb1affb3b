"""Spatially blocked folds: whole blocks per fold, balanced, seeded, deposits follow blocks."""

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.validate.spatial_folds import spatial_folds


def _points(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 50_000, n), rng.uniform(0, 30_000, n)


def test_every_block_lies_in_one_fold_and_folds_are_balanced():
    x, y = _points()
    folds = spatial_folds(x, y, n_folds=5, seed=3)
    assert set(np.unique(folds.fold)) == {0, 1, 2, 3, 4}
    bx = np.floor((x - folds.origin[0]) / folds.block_size)
    by = np.floor((y - folds.origin[1]) / folds.block_size)
    for key in set(zip(bx, by)):
        inside = (bx == key[0]) & (by == key[1])
        assert np.unique(folds.fold[inside]).size == 1
    sizes = np.bincount(folds.fold)
    assert sizes.max() - sizes.min() <= np.bincount(
        np.unique(np.column_stack([bx, by]), axis=0, return_inverse=True)[1].ravel()).max()
    assert "5 spatially blocked folds" in folds.describe()


def test_same_seed_same_folds_other_seed_other_folds():
    x, y = _points()
    a = spatial_folds(x, y, seed=1).fold
    assert np.array_equal(a, spatial_folds(x, y, seed=1).fold)
    assert not np.array_equal(a, spatial_folds(x, y, seed=2).fold)


def test_a_deposit_takes_the_fold_of_its_block_and_none_outside():
    x, y = _points()
    folds = spatial_folds(x, y, n_folds=4, block_size=10_000)
    assert np.array_equal(folds.fold_of_points(x[:50], y[:50]), folds.fold[:50])
    assert folds.fold_of_points([1e7], [1e7])[0] == -1


def test_impossible_folds_are_refused():
    x, y = _points(100)
    with pytest.raises(InputError):
        spatial_folds(x, y, n_folds=1)
    with pytest.raises(InputError):
        spatial_folds(x, y, n_folds=5, block_size=1e6)  # one block
    with pytest.raises(InputError):
        spatial_folds(x, y, block_size=-1)
