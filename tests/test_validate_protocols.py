import json

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.validate import (
    evaluate_opengad, evaluate_opengad_stratified, evaluate_samples, roc_auc,
)


def test_samples_protocol_dict():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=2000)
    labels = np.zeros(2000, bool)
    labels[:40] = True
    scores[:40] += 1.0
    out = json.loads(json.dumps(evaluate_samples(scores, labels, n_boot=300)))
    assert out["protocol"] == "samples" and out["n_positive"] == 40 and out["n_negative"] == 1960
    assert out["roc_auc"] == pytest.approx(roc_auc(scores[:40], scores[40:]))
    assert out["roc_auc_ci"][0] < out["roc_auc"] < out["roc_auc_ci"][1]
    assert len(out["roc_curve"]["fpr"]) <= 500
    assert out["roc_curve"]["fpr"][0] == 0 and out["roc_curve"]["tpr"][-1] == 1
    with pytest.raises(InputError):
        evaluate_samples(scores, np.zeros(2000, bool))


def _line_survey():
    """Samples on a line every 1 km (metres), deposits at 0 m and 30 km."""
    x = np.arange(0.0, 40_001.0, 1000.0)
    scores = np.sin(x / 3000.0) + (x < 2500) * 2.0
    return x, np.zeros_like(x), scores, np.array([100.0, 30_200.0]), np.zeros(2)


def test_opengad_follows_the_protocol_draw_by_draw():
    x, y, scores, dx, dy = _line_survey()
    out = evaluate_opengad(scores, x, y, dx, dy, geographic=False, min_dist=5000.0)
    # by hand: positives = samples at 0 m and 30 km; pool = samples >= 5 km from both
    pos = scores[[0, 30]]
    far = np.flatnonzero((np.abs(x - 100) >= 5000) & (np.abs(x - 30_200) >= 5000))
    rng = np.random.default_rng(42)
    aucs = [roc_auc(pos, scores[rng.choice(far, size=2, replace=True)]) for _ in range(20)]
    assert out["roc_auc"] == pytest.approx(np.mean(aucs))
    assert out["roc_auc_std"] == pytest.approx(np.std(aucs))  # ddof 0
    assert out["n_eligible_negatives"] == far.size and out["n_positive"] == 2
    assert out["distance"] == "euclidean"
    json.dumps(out)


def test_opengad_falls_back_to_all_samples():
    x, y, scores, dx, dy = _line_survey()
    out = evaluate_opengad(scores, x, y, dx, dy, geographic=False, min_dist=1e6)
    assert out["n_eligible_negatives"] == x.size
    assert out["negative_pool"].startswith("all samples")


def test_stratified_by_hand():
    # deposits at 0, 100, 200; samples >= 10 m from every deposit are eligible negatives
    x = np.array([1.0, 101.0, 201.0, 50.0, 60.0, 70.0, 80.0, 85.0])
    scores = np.array([5.0, 2.0, 7.0, 1.0, 5.0, 9.0, 1.0, 3.0])
    strata = [frozenset("a"), frozenset("ab"), frozenset("c"), frozenset("a"), frozenset("a"),
              frozenset("a"), frozenset("ab"), frozenset("b")]
    out = evaluate_opengad_stratified(scores, x, np.zeros(8), [0.0, 100.0, 200.0], np.zeros(3),
                                      geographic=False, strata=strata, min_dist=10.0, n_boot=200)
    # positive 5 (a) vs 1, 5, 9 -> 1.5 of 3; positive 2 (ab) vs 1 -> 1 of 1; 7 (c): none
    assert out["roc_auc"] == pytest.approx(2.5 / 4)
    assert out["n_pairs"] == 4 and out["n_positive"] == 2 and out["n_positive_excluded"] == 1
    assert out["n_negative"] == 4
    assert out["roc_auc_ci"][0] <= out["roc_auc"] <= out["roc_auc_ci"][1]
    by_set = {tuple(s["stratum"]): s for s in out["per_stratum"]}
    assert by_set[("a",)]["roc_auc"] == pytest.approx(0.5) and by_set[("c",)]["roc_auc"] is None
    json.dumps(out)


def test_stratified_indicator_of_a_survey_scores_one_half():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 50_000, 400), rng.uniform(0, 50_000, 400)
    survey = np.where(x < 25_000, "s1", "s2")
    indicator = (survey == "s1").astype(float)
    dx, dy = x[:6] + 10, y[:6]
    out = evaluate_opengad_stratified(indicator, x, y, dx, dy, geographic=False,
                                      strata=survey, min_dist=2000.0, n_boot=100)
    assert out["roc_auc"] == 0.5
