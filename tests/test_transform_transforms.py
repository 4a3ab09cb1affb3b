"""Transformer and level_by_group: checked against hand-computed values."""

import json

import numpy as np
import pandas as pd
import pytest

from geoanomaly.errors import InputError
from geoanomaly.transform import TRANSFORMS, Transformer, level_by_group, pivot_basis


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    return pd.DataFrame(np.exp(rng.normal(size=(50, 5))) * [1, 10, 100, 1e4, 0.01],
                        columns=["Cu", "Pb", "Zn", "Fe2O3", "Au"])


def test_transform_names():
    assert TRANSFORMS == ("none", "log10", "clr", "ilr", "alr")


def test_clr_rows_sum_to_zero_and_keep_names(table):
    t = Transformer("clr", scale="none").fit(table)
    z = t.transform(table)
    assert np.allclose(z.sum(axis=1), 0)
    assert t.feature_names_ == ["Cu", "Pb", "Zn", "Fe2O3", "Au"]
    logs = np.log(table.to_numpy())
    assert np.allclose(z[:, 0], logs[:, 0] - logs.mean(axis=1))


def test_clr_needs_no_closure_and_units_only_shift(table):
    # rescaling one part (ppm -> %) and whole rows (closure) changes nothing after centring
    changed = table.copy()
    changed["Fe2O3"] /= 1e4
    changed = changed.mul(np.arange(1, 51), axis=0)
    a = Transformer("clr", "robust").fit_transform(table)
    b = Transformer("clr", "robust").fit_transform(changed)
    assert np.allclose(a, b)


def test_ilr_two_parts_is_log_ratio_over_sqrt2():
    values = pd.DataFrame({"Cu": [1.0, 4.0, 10.0], "Pb": [2.0, 1.0, 10.0]})
    t = Transformer("ilr", scale="none").fit(values)
    z = t.transform(values)[:, 0]
    assert np.allclose(np.abs(z), np.abs(np.log(values.Cu / values.Pb) / np.sqrt(2)))
    assert t.feature_names_ == ["ilr1[Cu|Pb]"]


def test_ilr_is_isometry_of_clr(table):
    clr = Transformer("clr", "none").fit_transform(table)
    ilr = Transformer("ilr", "none").fit_transform(table)
    assert ilr.shape == (50, 4)
    d_clr = np.linalg.norm(clr[:, None] - clr[None], axis=2)
    d_ilr = np.linalg.norm(ilr[:, None] - ilr[None], axis=2)
    assert np.allclose(d_clr, d_ilr)
    basis = pivot_basis(5)
    assert np.allclose(basis.T @ basis, np.eye(4)) and np.allclose(basis.sum(axis=0), 0)
    names = Transformer("ilr").fit(table).feature_names_
    assert names[0] == "ilr1[Cu|Pb,Zn,Fe2O3,+1]" and names[-1] == "ilr4[Fe2O3|Au]"


def test_alr_and_log10(table):
    t = Transformer("alr", "none", alr_reference="Zn").fit(table)
    z = t.transform(table)
    assert t.feature_names_ == ["Cu/Zn", "Pb/Zn", "Fe2O3/Zn", "Au/Zn"]
    assert np.allclose(z[:, 0], np.log(table.Cu / table.Zn))
    assert np.allclose(Transformer("log10", "none").fit_transform(table), np.log10(table))


def test_robust_scale_median_zero_mad_one(table):
    z = Transformer("clr", "robust").fit_transform(table)
    assert np.allclose(np.median(z, axis=0), 0)
    assert np.allclose(1.4826 * np.median(np.abs(z), axis=0), 1)
    s = Transformer("log10", "standard").fit_transform(table)
    assert np.allclose(s.mean(axis=0), 0) and np.allclose(s.std(axis=0), 1)


def test_zero_mad_falls_back_to_iqr_then_one():
    values = pd.DataFrame({"A": [1.0] * 6 + [10.0] * 4, "B": [5.0] * 10})
    t = Transformer("log10", "robust").fit(values)
    assert t.scale_[0] == pytest.approx(1 / 1.349)  # IQR of log10 values is 1
    assert t.scale_[1] == 1.0


def test_rejects_non_positive_with_element_name(table):
    bad = table.copy()
    bad.loc[3, "Zn"] = 0.0
    with pytest.raises(InputError, match=r"element 'Zn' holds 0 at row 3.*clr"):
        Transformer("clr").fit(bad)
    assert Transformer("none").fit(bad).transform(bad).shape == (50, 5)


def test_saved_state_transforms_new_data_by_name(table):
    t = Transformer("ilr", "robust").fit(table)
    restored = Transformer.from_dict(json.loads(json.dumps(t.to_dict())))
    shuffled = table[["Au", "Cu", "Zn", "Pb", "Fe2O3"]]
    assert np.allclose(restored.transform(shuffled), t.transform(table))
    assert restored.feature_names_ == t.feature_names_
    with pytest.raises(InputError, match="lack the element"):
        restored.transform(table.drop(columns="Pb"))


def test_level_by_group_removes_lab_factor():
    values = pd.DataFrame({"Cu": [1.0, 2.0, 4.0, 10.0, 20.0, 40.0]})
    groups = np.array(["weak", "weak", "weak", "total", "total", "total"])
    levelled = level_by_group(values, groups)
    overall = np.median(values.Cu)  # 7
    assert levelled.Cu.tolist() == pytest.approx([0.5 * overall, overall, 2 * overall] * 2)
    with pytest.raises(InputError, match="one group per sample"):
        level_by_group(values, groups[:3])
