import json

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.threshold import (
    ThresholdResult, class_names, classify, compute_thresholds, mad_thresholds,
    percentile_thresholds,
)


def test_percentile_thresholds_match_numpy_and_ignore_nan():
    scores = np.r_[np.arange(1.0, 101.0), np.nan]
    got = percentile_thresholds(scores, (99, 90))
    assert got == pytest.approx([np.percentile(np.arange(1.0, 101.0), 90),
                                 np.percentile(np.arange(1.0, 101.0), 99)])
    with pytest.raises(InputError):
        percentile_thresholds(scores, (0, 50))


def test_mad_thresholds_by_hand():
    scores = [1.0, 2.0, 3.0, 4.0, 100.0]  # median 3, |dev| = 2,1,0,1,97 -> MAD 1
    assert mad_thresholds(scores, ks=(3, 2)) == pytest.approx([3 + 2 * 1.4826, 3 + 3 * 1.4826])


def test_classify_counts_thresholds_reached():
    scores = np.array([0.0, 1.0, 1.5, 2.0, 5.0, np.nan])
    assert classify(scores, [2.0, 1.0]).tolist() == [0, 1, 1, 2, 2, -1]
    named = classify(scores, [1.0, 2.0], labels=[10, 20, 30])
    assert named.tolist() == [10, 20, 20, 30, 30, -1]
    with pytest.raises(InputError):
        classify(scores, [1.0], labels=[1, 2, 3])


def test_class_names_are_readable():
    assert class_names("percentile", [90, 95, 99.5]) == [
        "background", ">= p90", ">= p95", ">= p99.5"]
    assert class_names("mad", [2, 3]) == ["background", ">= median+2MAD", ">= median+3MAD"]
    with pytest.raises(InputError):
        class_names("kmeans", [1])


def test_compute_thresholds_dispatch_and_json():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=500)
    res = compute_thresholds(scores, "percentile", percentiles=(90, 99))
    assert isinstance(res, ThresholdResult)
    assert res.thresholds == pytest.approx(np.percentile(scores, [90, 99]).tolist())
    assert len(res.class_names) == 3
    res = compute_thresholds(scores, "mad", ks=(2,))
    assert res.details["median"] == pytest.approx(np.median(scores))
    labels = scores > 1.5  # perfect separation at 1.5
    labels[:3] = True
    res = compute_thresholds(scores, "t", labels=labels)
    assert len(res.thresholds) == 1 and res.details["max_t"] > 0
    json.dumps(res.to_dict())
    with pytest.raises(InputError):
        compute_thresholds(scores, "t")
    with pytest.raises(InputError):
        compute_thresholds(scores, "percentile", ks=(2,))
    with pytest.raises(InputError):
        compute_thresholds(scores, "otsu")
