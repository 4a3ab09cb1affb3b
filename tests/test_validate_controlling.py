"""The controlling function (deposit density vs distance to a control) and the geology priors."""

import json

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.validate.controlling import (
    ControllingFunction,
    fit_controlling_function,
    geology_prior,
)


def _power_law_data(b, n=60_000, seed=0):
    """Cells uniform over 0-20 km; deposits drawn from 0.3 ((d + 1 km) / 1 km)^-b. With deciles
    the first bin ends near 2 km, so the fitted d0 (half of it) is near the true 1 km."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.0, 20_000.0, n)
    positive = rng.random(n) < 0.3 * ((d + 1000.0) / 1000.0) ** -b
    return d, positive


def _exponential_data(s, n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.0, 20_000.0, n)
    positive = rng.random(n) < 0.3 * np.exp(-d / s)
    return d, positive


@pytest.mark.parametrize("b", [0.8, 1.5])
def test_power_law_is_recovered(b):
    d, positive = _power_law_data(b)
    fitted = fit_controlling_function(d, positive)
    assert fitted.form == "power law"
    assert abs(fitted.parameters["b"] - b) < 0.1 * b
    assert fitted.parameters["d0"] == pytest.approx(0.5 * fitted.bin_edges[1])
    assert 900 < fitted.parameters["d0"] < 1100
    # the curve goes through the data: density at 5 km within 20 %
    truth = 0.3 * (6.0 ** -b)
    assert fitted.density(5000.0) == pytest.approx(truth, rel=0.2)
    assert fitted.residuals["power law"] < fitted.residuals["exponential"]


def test_exponential_is_recovered_and_chosen_over_the_power_law():
    d, positive = _exponential_data(5000.0)
    fitted = fit_controlling_function(d, positive)
    assert fitted.form == "exponential"
    assert abs(fitted.parameters["s"] - 5000.0) < 500.0
    assert fitted.parameters["a"] == pytest.approx(0.3, rel=0.1)
    assert "exponential" in fitted.describe() and "exp(-d /" in fitted.describe()


def test_bin_table_counts_every_cell_and_merges_duplicate_edges():
    rng = np.random.default_rng(3)
    d = np.concatenate([np.zeros(4000), rng.uniform(0, 10_000, 6000)])  # 40 % inside (d = 0)
    positive = rng.random(d.size) < np.where(d == 0, 0.05, 0.01)
    fitted = fit_controlling_function(d, positive, n_bins=10)
    edges = fitted.bin_edges
    assert np.all(np.diff(edges) > 0)
    assert len(fitted.bin_cells) == len(edges) - 1 < 10  # the zero quantiles were merged
    assert fitted.bin_cells.sum() == d.size and (fitted.bin_cells > 0).all()
    assert fitted.bin_positives.sum() == positive.sum()
    np.testing.assert_allclose(fitted.bin_density, fitted.bin_positives / fitted.bin_cells)
    table = fitted.table()
    assert list(table.columns) == ["lower_m", "upper_m", "distance_m", "cells", "positives",
                                   "density", "fitted", "curve"]
    assert np.isfinite(fitted.prior(0.0))  # d = 0 works thanks to d0


def test_no_positives_gives_none():
    d = np.random.default_rng(0).uniform(0, 10_000, 2000)
    fitted = fit_controlling_function(d, np.zeros(d.size, dtype=bool))
    assert fitted.form == "none"
    assert "no distance bin holds a deposit" in fitted.describe()
    np.testing.assert_array_equal(fitted.prior([0.0, 5000.0, np.nan]), [0.5, 0.5, 0.5])


def test_one_bin_with_deposits_or_density_rising_with_distance_gives_none():
    d = np.random.default_rng(1).uniform(0, 10_000, 2000)
    one_bin = fit_controlling_function(d, d > 9_900)
    assert one_bin.form == "none" and "only 1 distance bin" in one_bin.describe()
    rising = fit_controlling_function(d, np.random.default_rng(2).random(d.size) < d / 20_000)
    assert rising.form == "none"
    assert "does not fall with distance" in rising.describe()


def test_prior_is_in_unit_interval_decreasing_and_half_for_unknown():
    d, positive = _power_law_data(1.2)
    fitted = fit_controlling_function(d, positive)
    grid = np.linspace(0.0, 30_000.0, 200)
    prior = fitted.prior(grid)
    assert prior.min() >= 0.0 and prior.max() <= 1.0
    assert prior[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(prior) < 0)
    assert fitted.prior(np.array([np.nan]))[0] == 0.5


def test_to_dict_is_json_safe_and_round_trips():
    d, positive = _exponential_data(4000.0, n=20_000)
    fitted = fit_controlling_function(d, positive)
    state = json.loads(json.dumps(fitted.to_dict()))
    again = ControllingFunction.from_dict(state)
    assert again.form == fitted.form and again.parameters == fitted.parameters
    np.testing.assert_array_equal(again.prior(d[:50]), fitted.prior(d[:50]))
    assert again.describe() == fitted.describe()


def test_fitting_is_deterministic_and_refuses_bad_input():
    d, positive = _power_law_data(1.0, n=10_000)
    a = fit_controlling_function(d, positive)
    b = fit_controlling_function(d, positive)
    assert a.parameters == b.parameters
    with pytest.raises(InputError):
        fit_controlling_function(d[:10], positive[:9])
    with pytest.raises(InputError):
        fit_controlling_function(-d, positive)
    with pytest.raises(InputError):
        fit_controlling_function(d, positive, n_bins=1)
    with pytest.raises(InputError):
        fit_controlling_function(np.full(5, np.nan), np.zeros(5, dtype=bool))


def test_label_free_distance_prior_is_exp_of_distance_over_its_median():
    d = np.array([0.0, 500.0, 1000.0, 2000.0, 4000.0, np.nan])
    prior = geology_prior(d, "distance")
    assert prior.shape == (6,) and prior.min() >= 0.0 and prior.max() <= 1.0
    np.testing.assert_allclose(prior[:5], np.exp(-d[:5] / 1000.0))  # median of finite = 1000
    assert prior[5] == 0.5
    assert np.all(np.diff(prior[:5]) < 0)


def test_label_free_prior_median_zero_uses_nonzero_distances():
    d = np.array([0.0, 0.0, 0.0, 100.0, 300.0])
    np.testing.assert_allclose(geology_prior(d, "distance"), np.exp(-d / 200.0))


def test_label_free_continuous_prior_is_min_max_and_layers_are_averaged():
    density = np.array([2.0, 4.0, 6.0, np.nan])
    np.testing.assert_allclose(geology_prior(density, "continuous"), [0.0, 0.5, 1.0, 0.5])
    distance = np.array([0.0, 1000.0, 1000.0, 3000.0])
    both = geology_prior(np.column_stack([distance, density]), ["distance", "continuous"])
    expected = (np.exp(-distance / 1000.0) + np.array([0.0, 0.5, 1.0, 0.5])) / 2
    np.testing.assert_allclose(both, expected)
    np.testing.assert_allclose(geology_prior(np.ones(3), "continuous"), 0.5)


def test_label_free_prior_refuses_bad_kinds_and_negative_distances():
    with pytest.raises(InputError):
        geology_prior(np.ones((3, 2)), ["distance"])
    with pytest.raises(InputError):
        geology_prior(np.ones(3), "favourability")
    with pytest.raises(InputError):
        geology_prior(np.array([-1.0, 2.0]), "distance")
