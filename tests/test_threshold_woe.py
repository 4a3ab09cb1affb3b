import math

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.threshold import t_threshold, woe_table

SCORES = np.arange(1.0, 11.0)  # 1..10
LABELS = np.isin(SCORES, [4.0, 9.0, 10.0])  # 3 deposit samples out of 10


def test_woe_table_hand_computed():
    table = woe_table(SCORES, LABELS, [8.0, 5.0]).set_index("threshold")
    row = table.loc[8.0]  # B = {8, 9, 10}: B&D 2, B&~D 1, ~B&D 1, ~B&~D 6
    assert (row.n_pattern_deposit, row.n_pattern_no_deposit,
            row.n_outside_deposit, row.n_outside_no_deposit) == (2, 1, 1, 6)
    assert row.w_plus == pytest.approx(math.log((2 / 3) / (1 / 7)))
    assert row.w_minus == pytest.approx(math.log((1 / 3) / (6 / 7)))
    assert row.contrast == pytest.approx(math.log(12.0))
    assert row.s_contrast == pytest.approx(math.sqrt(1 / 2 + 1 + 1 + 1 / 6))
    assert row.t == pytest.approx(math.log(12.0) / math.sqrt(1 / 2 + 1 + 1 + 1 / 6))
    row = table.loc[5.0]  # B&D 2, B&~D 4, ~B&D 1, ~B&~D 3
    assert row.contrast == pytest.approx(math.log(1.5))
    assert row.t == pytest.approx(math.log(1.5) / math.sqrt(1 / 2 + 1 / 4 + 1 + 1 / 3))


def test_zero_counts_give_nan():
    table = woe_table(SCORES, LABELS, [1.0, 9.0, 11.0]).set_index("threshold")
    assert np.isnan(table.loc[1.0, "w_minus"]) and np.isfinite(table.loc[1.0, "w_plus"])
    assert np.isnan(table.loc[9.0, "w_plus"]) and np.isnan(table.loc[9.0, "t"])  # no B&~D
    assert np.isnan(table.loc[11.0, "t"])


def test_t_threshold_picks_max_t():
    assert t_threshold(SCORES, LABELS, [2.0, 5.0, 8.0, 9.0]) == 8.0
    with pytest.raises(InputError):
        t_threshold(SCORES, LABELS, [11.0])
    with pytest.raises(InputError):
        woe_table(SCORES, np.zeros(10, bool), [5.0])
