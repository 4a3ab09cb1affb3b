import json

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.validate import prediction_area, success_rate_curve


def test_success_rate_by_hand():
    scores = np.array([9.0, 8.0, 7.0, 6.0])
    curve = success_rate_curve(scores, [True, False, True, False])
    assert curve.area_fraction.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert curve.captured_fraction.tolist() == [0, 0.5, 0.5, 1.0, 1.0]
    assert curve.auc == pytest.approx(0.25 * (0.25 + 0.5 + 0.75 + 1.0))
    # deposit counts: two deposits on the best sample
    hits = success_rate_curve(scores, [2, 0, 1, 0])
    assert hits.captured_fraction[1] == pytest.approx(2 / 3)
    json.dumps(curve.to_dict())


def test_ties_enter_together():
    curve = success_rate_curve([1.0, 1.0, 0.0], [False, True, False])
    assert curve.area_fraction.tolist() == pytest.approx([0, 2 / 3, 1])
    assert curve.captured_fraction.tolist() == [0, 1, 1]
    with pytest.raises(InputError):
        success_rate_curve([1.0, 2.0], [False, False])


def test_prediction_area_intersection():
    scores = np.arange(10.0)  # deposits on the two best of ten samples
    labels = scores >= 8
    pa = prediction_area(scores, labels, thresholds=[0, 2, 4, 6, 8, 9])
    assert pa.pct_area.tolist() == [100, 80, 60, 40, 20, 10]
    assert pa.pct_deposits.tolist() == [100, 100, 100, 100, 100, 50]
    # deposits + area - 100 = 100, 80, 60, 40, 20, -40: crosses between 8 and 9, 1/3 of the way
    at = pa.intersection
    assert at["threshold"] == pytest.approx(8 + 1 / 3)
    assert at["pct_deposits"] + at["pct_area"] == pytest.approx(100)
    assert at["normalized_density"] == pytest.approx(at["pct_deposits"] / at["pct_area"])
    json.dumps(pa.to_dict())
