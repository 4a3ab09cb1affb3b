"""Pathfinder selection, spatial context and the enrichment-only score."""

from __future__ import annotations

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.grid.neighbours import neighbour_mean
from geoanomaly.targets import PATHFINDERS, select_pathfinders, target_element


def test_every_set_has_a_citation_and_its_target_first_or_named():
    for pset in PATHFINDERS.values():
        assert pset.citation and "(" in pset.citation  # author (year) ...
        assert len(pset.elements) >= 4


def test_au_pathfinders_keep_only_present_elements():
    chosen, missing, citation = select_pathfinders("au", ["Au", "As", "Cu", "Fe", "SiO2", "Sb"])
    assert chosen == ["Au", "As", "Sb", "Cu"]
    assert "Bi" in missing and "Eilu" in citation
    assert target_element("Au", chosen) == "Au"


def test_oxide_aliases_and_errors():
    chosen, _, _ = select_pathfinders("Fe-poly", ["Cu", "Pb", "MnO", "Zn", "Fe2O3T"])
    assert chosen == ["Cu", "Pb", "MnO", "Zn", "Fe2O3T"]
    with pytest.raises(InputError, match="Unobtainium"):
        select_pathfinders("Unobtainium", ["Cu"])
    with pytest.raises(InputError, match="at least two"):
        select_pathfinders("Li", ["Li", "Cu"])


def test_neighbour_mean_averages_k_nearest_including_self():
    x = np.array([0.0, 1.0, 2.0, 100.0])
    y = np.zeros(4)
    s = np.array([1.0, 2.0, 3.0, 10.0])
    out = neighbour_mean(x, y, s, 2)
    assert out[0] == pytest.approx(1.5) and out[3] == pytest.approx((10 + 3) / 2)
    assert np.array_equal(neighbour_mean(x, y, s, 0), s)


@pytest.mark.parametrize("cls", ["vae", "ae"])
def test_enrichment_score_counts_only_the_excess(cls):
    """Same network, two scores: enrich = the part of recon where x lies above its reconstruction."""
    from geoanomaly.detect import make_detector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    X[:, 1] = X[:, 0] + 0.05 * rng.normal(size=400)
    det = make_detector(cls, score="recon", epochs=30, seed=0).fit(X)
    probe = X[:20].copy()
    probe[:10, 1] += 6.0   # enriched far above what feature 0 predicts
    probe[10:, 1] -= 6.0   # depleted as far below
    recon = det.anomaly_score(probe)
    enrich = det.set_params(score="enrich").anomaly_score(probe)
    assert (enrich <= recon + 1e-9).all()
    # the parts below the reconstruction are left out (the network spreads a shift of one
    # correlated feature over both, so each row has parts of both signs)
    assert (enrich > 0).all() and enrich.sum() < 0.9 * recon.sum()
    if cls == "vae":  # a 3-d latent keeps x1 tied to x0: the depleted rows lose most of theirs
        assert enrich[10:].sum() < 0.5 * recon[10:].sum()
        assert enrich[:10].mean() > 2 * enrich[10:].mean()
