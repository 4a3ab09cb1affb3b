import json

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.threshold import ca_thresholds, compute_thresholds


def power_law_scores(break_log_v, exponents, n_total=10_000):
    """Scores whose count above v is exactly a piecewise power law of v (breaks known).

    log10 N(v) falls from log10(n_total) at v = 1 with slope -exponents[i] in segment i; the
    sample of rank k (k samples at or above it) gets the v where N(v) = k.
    """
    knots_x, knots_y = [0.0], [np.log10(n_total)]
    for i, b in enumerate(break_log_v):
        knots_y.append(knots_y[-1] - exponents[i] * (b - knots_x[-1]))
        knots_x.append(b)
    target = np.log10(np.arange(1, n_total + 1))
    seg = np.searchsorted(-np.asarray(knots_y), -target, side="right") - 1
    x = np.asarray(knots_x)[seg] + (np.asarray(knots_y)[seg] - target) / np.asarray(exponents)[seg]
    return 10.0 ** x


def test_two_breaks_recovered():
    scores = power_law_scores([0.5, 1.0], [0.3, 1.5, 4.0])
    fit = ca_thresholds(scores)
    assert fit.n_breaks == 2
    assert fit.thresholds == pytest.approx([10 ** 0.5, 10.0], rel=0.05)
    assert fit.segments[0]["slope"] == pytest.approx(-0.3, abs=0.05)
    assert fit.segments[1]["slope"] == pytest.approx(-1.5, abs=0.1)


def test_three_breaks_recovered():
    scores = power_law_scores([0.4, 0.9, 1.3], [0.2, 1.0, 2.5, 5.0])
    fit = ca_thresholds(scores)
    assert fit.n_breaks == 3
    assert fit.thresholds == pytest.approx(10 ** np.array([0.4, 0.9, 1.3]), rel=0.05)


def test_sampled_data_finds_the_known_breaks():
    exact = power_law_scores([0.5, 1.0], [0.3, 1.5, 4.0])
    drawn = np.quantile(exact, np.random.default_rng(1).uniform(size=3000))
    found = np.array(ca_thresholds(drawn).thresholds)
    for known in (10 ** 0.5, 10.0):
        assert np.min(np.abs(found / known - 1)) < 0.1


def test_negative_scores_with_offset_report_original_units():
    scores = power_law_scores([0.5, 1.0], [0.3, 1.5, 4.0]) - 5.0
    fit = ca_thresholds(scores, offset=5.0)
    assert fit.thresholds == pytest.approx([10 ** 0.5 - 5.0, 5.0], rel=0.05, abs=0.05)
    auto = ca_thresholds(scores)  # automatic offset: -min + 1 % of the range
    assert auto.offset == pytest.approx(-scores.min() + 0.01 * np.ptp(scores))
    with pytest.raises(InputError):
        ca_thresholds(scores, offset=1.0)


def test_details_json_and_result_classes():
    scores = power_law_scores([0.5, 1.0], [0.3, 1.5, 4.0], n_total=2000)
    res = compute_thresholds(scores, "ca", max_breaks=2)
    details = json.loads(json.dumps(res.to_dict()))["details"]
    assert len(details["log10_v"]) == len(details["log10_area"]) == 50
    assert len(details["segments"]) == len(res.thresholds) + 1
    assert res.class_names[0] == "background"
    assert details["log10_area"][0] == pytest.approx(np.log10(2000))
    with pytest.raises(InputError):
        ca_thresholds(np.ones(10))
