import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from geoanomaly.errors import InputError
from geoanomaly.validate import bootstrap_auc_ci, roc_auc, roc_curve


def test_auc_by_hand_with_ties():
    # pairs: 3>1 3>2 3=3 | 2>1 2=2 2<3 -> (1+1+.5+1+.5+0)/6
    assert roc_auc([3, 2], [1, 2, 3]) == pytest.approx(4 / 6)
    assert roc_auc([5], [1, 2]) == 1.0
    assert np.isnan(roc_auc([], [1.0]))
    with pytest.raises(InputError):
        roc_auc([np.nan], [1.0])


def test_auc_agrees_with_sklearn_on_tied_scores():
    rng = np.random.default_rng(3)
    pos = rng.integers(0, 5, 40).astype(float)
    neg = rng.integers(0, 4, 300).astype(float)
    y = np.r_[np.ones(40), np.zeros(300)]
    assert roc_auc(pos, neg) == pytest.approx(roc_auc_score(y, np.r_[pos, neg]), abs=1e-12)


def test_bootstrap_matches_naive_resampling():
    rng = np.random.default_rng(5)
    pos = np.round(rng.normal(1, 1, 15), 1)
    neg = np.round(rng.normal(0, 1, 80), 1)
    ci = bootstrap_auc_ci(pos, neg, n_boot=200, seed=7)
    # naive: same draws (positives, then negatives from the SORTED negatives), full AUC each
    naive_rng = np.random.default_rng(7)
    neg_sorted = np.sort(neg)
    aucs = []
    for _ in range(200):
        p = pos[naive_rng.integers(0, pos.size, pos.size)]
        n = neg_sorted[naive_rng.integers(0, neg.size, neg.size)]
        aucs.append(roc_auc(p, n))
    assert [ci["low"], ci["high"]] == pytest.approx(np.quantile(aucs, [0.025, 0.975]).tolist())
    assert ci["low"] < roc_auc(pos, neg) < ci["high"]
    assert bootstrap_auc_ci(pos, neg, n_boot=200, seed=7) == ci  # seeded


def test_roc_curve_endpoints():
    fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr[0] == 0 and tpr[-1] == 1 and fpr[-1] == 1
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)
