"""Per-sample element contributions: known truth on a correlated synthetic survey.

Background: six features driven by two factors plus noise (unequal scales and offsets, which the
detectors' standardisation undoes).  Planted rows are ordinary background rows with one or two
features raised by 6 standard deviations: off the structure, so the raised feature must carry the
largest contribution.  Where a score is a sum, the contributions of a row must add up to it:
exactly for the float64 detectors (rtol 1e-9), to float32 rounding for the deep ones (the network
runs in float32 and the detector sums in another order: rtol 1e-4, atol 1e-4 nats).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from geoanomaly.detect import contributions as contrib_module
from geoanomaly.detect.autoencoder import AutoencoderDetector
from geoanomaly.detect.base import training_rank
from geoanomaly.detect.classic import IsolationForestDetector, MCDDetector, PCADetector
from geoanomaly.detect.contributions import (Contributions, background_excess,
                                             element_contributions, feature_contributions,
                                             top_element_shares, top_elements)
from geoanomaly.detect.pcvae import PCVAEDetector
from geoanomaly.detect.ppca import PPCADetector
from geoanomaly.detect.vae import SCORES, VAEDetector
from geoanomaly.errors import InputError

NAMES = ["Cu", "Zn", "Pb", "As", "Au", "Ni"]
N, D = 400, len(NAMES)
SCALES = np.array([1.0, 2.0, 0.5, 3.0, 1.0, 10.0])
TINY = dict(hidden=(12,), latent_dim=2, epochs=40, batch_size=32, patience=None, seed=3)


def _bulk() -> np.ndarray:
    rng = np.random.default_rng(7)
    loadings = np.array([[1.0, 0.9, 0.8, 0.9, 1.0, 0.7], [0.6, -0.5, 0.4, -0.6, 0.0, 0.3]])
    bulk = rng.normal(size=(N, 2)) @ loadings + 0.3 * rng.normal(size=(N, D))
    return bulk * SCALES + np.array([0, 5, -3, 1, 2, 100.0])


BULK = _bulk()
SD = BULK.std(axis=0)


def _spiked(features, rows=(0, 1, 2, 3), size=6.0) -> np.ndarray:
    """Copies of background rows with ``features`` raised by ``size`` standard deviations."""
    out = BULK[list(rows)].copy()
    for j in np.atleast_1d(features):
        out[:, j] += size * SD[j]
    return out


@functools.lru_cache(maxsize=None)
def _vae(**params) -> VAEDetector:
    return VAEDetector(**{**TINY, "score": "enrich-elbo", **params}).fit(BULK)


@functools.lru_cache(maxsize=None)
def _ae() -> AutoencoderDetector:
    return AutoencoderDetector(**TINY, score="enrich").fit(BULK)


@functools.lru_cache(maxsize=None)
def _ppca(score="enrich-elbo") -> PPCADetector:
    return PPCADetector(latent_dim=2, score=score).fit(BULK)


def _scored(detector, score, X):
    """(contributions, the detector's own score) of ``X`` with ``score``."""
    detector.set_params(score=score)
    return feature_contributions(detector, X, NAMES), detector.anomaly_score(X)


def _planted() -> np.ndarray:
    return np.vstack([BULK[:60], _spiked(2), _spiked(4)])


# -- sums ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("score", [s for s in SCORES if s != "combined"])
def test_vae_contributions_sum_to_every_additive_score(score):
    vae = _vae()
    X = _planted()
    result, scores = _scored(vae, score, X)
    assert result.values.shape == X.shape and result.feature_names == NAMES
    np.testing.assert_allclose(result.values.sum(axis=1), scores, rtol=1e-4, atol=1e-4)
    assert "sum to its score" in result.method


@pytest.mark.parametrize("score", [s for s in SCORES if s != "combined"])
def test_ppca_contributions_sum_to_every_additive_score(score):
    ppca = _ppca(score)
    X = _planted()
    result = feature_contributions(ppca, X, NAMES)
    np.testing.assert_allclose(result.values.sum(axis=1), ppca.anomaly_score(X), rtol=1e-9,
                               atol=1e-9)


def test_combined_is_the_training_rank_of_the_chosen_part():
    X = _planted()
    for detector in (_vae(), _ppca("combined")):
        result, scores = _scored(detector, "combined", X)
        parts = {part: _scored(detector, part, X)[0].values for part in ("enrich", "enrich-kl")}
        ranks = {part: training_rank(reference, parts[part].sum(axis=1)) for part, reference in
                 (("enrich", detector.train_enrich_), ("enrich-kl", detector.train_enrich_kl_))}
        kl_wins = ranks["enrich-kl"] > ranks["enrich"]
        assert 0 < kl_wins.sum() < len(X)  # both parts are shown somewhere
        np.testing.assert_allclose(result.values, np.where(kl_wins[:, None], parts["enrich-kl"],
                                                           parts["enrich"]))
        # the part shown is the one whose rank is the score
        np.testing.assert_allclose(np.where(kl_wins, ranks["enrich-kl"], ranks["enrich"]),
                                   scores, atol=1e-5)
        assert "training rank" in result.method


def test_weighted_and_per_sample_variance_vae_still_sum():
    weights = [3.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    vae = _vae(feature_weights=tuple(weights), decoder_variance="sample", epochs=8)
    X = _planted()
    for score in ("enrich-elbo", "enrich", "nll"):
        result, scores = _scored(vae, score, X)
        np.testing.assert_allclose(result.values.sum(axis=1), scores, rtol=1e-4, atol=1e-4)


def test_autoencoder_mcd_and_pca_sum_to_their_scores():
    X = _planted()
    for detector in (_ae(), MCDDetector(seed=0).fit(BULK), PCADetector(n_components=2).fit(BULK)):
        result = feature_contributions(detector, X, NAMES)
        exact = not isinstance(detector, AutoencoderDetector)
        np.testing.assert_allclose(result.values.sum(axis=1), detector.anomaly_score(X),
                                   rtol=1e-9 if exact else 1e-4, atol=1e-9 if exact else 1e-4)
    ae = _ae()
    assert (feature_contributions(ae, X).values >= 0).all()  # enrich: squares of excesses


def test_chunks_give_the_same_numbers(monkeypatch):
    X = _planted()
    mcd = MCDDetector(seed=0).fit(BULK)
    whole = feature_contributions(mcd, X).values
    monkeypatch.setattr(contrib_module, "_CLASSIC_CHUNK_ROWS", 7)
    np.testing.assert_allclose(feature_contributions(mcd, X).values, whole, rtol=1e-12)


# -- known truth: the spiked element leads -------------------------------------------------------

def _z(X):
    """The classic detectors do not standardise: give them scaled features, as the pipeline
    does (its transform scales every feature)."""
    return (X - BULK.mean(axis=0)) / SD


def _detectors():
    return {"vae": _vae(), "ae": _ae(), "ppca": _ppca(),
            "mcd": MCDDetector(seed=0).fit(_z(BULK)),
            "pca": PCADetector(n_components=2).fit(_z(BULK))}


@pytest.mark.parametrize("model", ["vae", "ae", "ppca", "mcd", "pca"])
def test_a_spiked_element_is_the_top_contribution(model):
    detector = _detectors()[model]
    if model == "vae":
        detector.set_params(score="enrich-elbo")
    for j in (0, 2, 4, 5):
        X = _z(_spiked(j)) if model in ("mcd", "pca") else _spiked(j)
        result = feature_contributions(detector, X, NAMES)
        assert (result.values.argmax(axis=1) == j).all(), (model, j, result.values.round(2))
        assert top_elements(result.values, NAMES, k=1) == [NAMES[j]] * 4


@pytest.mark.parametrize("model", ["vae", "ae", "ppca"])
def test_two_spiked_elements_are_both_listed(model):
    detector = _detectors()[model]
    if model == "vae":
        detector.set_params(score="enrich-elbo")
    result = feature_contributions(detector, _spiked([1, 4]), NAMES)
    for listed in top_elements(result.values, NAMES, k=2):
        assert set(listed.split(", ")) == {"Zn", "Au"}


def test_latent_term_goes_to_the_elements_the_code_moves():
    """A PPCA row far out ALONG the structure: reconstructed almost exactly, so its one-sided
    ELBO is nearly all latent, and the latent part is shared by each element's decoded shift
    squared (the decoder's noise variance is one number for PPCA)."""
    ppca = _ppca()
    axis = ppca.components_[:, 0] / np.linalg.norm(ppca.components_[:, 0])
    axis = axis * np.sign(axis.sum())
    along = 6.0 * np.sqrt(ppca.explained_variance_[0]) * axis
    X = np.vstack([ppca.mean_ + ppca.scale_ * along, ppca.mean_ - ppca.scale_ * along])
    both = feature_contributions(ppca, X).values
    values = both[0]
    x_hat = along @ ppca.components_ @ np.linalg.pinv(ppca.components_)  # decoded mean
    expected = np.square(x_hat) / np.square(x_hat).sum() * ppca.anomaly_score(X)[0]
    np.testing.assert_allclose(values, expected, rtol=0.02)
    assert (values > 0).all()
    # the depleted twin: no enriched code, so enrich-elbo gives it (almost) nothing, and the
    # signed KL puts its negative score on the depleted elements
    assert both[1].sum() < 0.02 * values.sum()
    ppca_signed = _ppca("enrich-kl")
    signed = feature_contributions(ppca_signed, X).values[1]
    assert (signed < 0).all()
    np.testing.assert_allclose(signed.sum(), ppca_signed.anomaly_score(X)[1], rtol=1e-9)


# -- determinism, None -------------------------------------------------------------------------

def test_same_seed_same_contributions():
    X = _planted()
    first = _vae()
    second = VAEDetector(**{**TINY, "score": "elbo"}).fit(BULK)
    first.set_params(score="elbo")
    a = feature_contributions(first, X).values
    np.testing.assert_array_equal(a, feature_contributions(first, X).values)
    np.testing.assert_array_equal(a, feature_contributions(second, X).values)


def test_detectors_without_contributions_give_none():
    forest = IsolationForestDetector(n_estimators=20, seed=0).fit(BULK)
    assert feature_contributions(forest, BULK) is None
    assert feature_contributions(PCVAEDetector(), BULK) is None  # guided: not a plain VAE
    assert feature_contributions(object(), BULK) is None


def test_dataframe_names_and_bad_shapes():
    frame = pd.DataFrame(_spiked(3), columns=NAMES)
    result = feature_contributions(_ppca(), frame)
    assert result.feature_names == NAMES and top_elements(result.values, NAMES, 1)[0] == "As"
    with pytest.raises(InputError):
        feature_contributions(_ppca(), BULK, NAMES[:3])
    with pytest.raises(InputError):
        feature_contributions(_ppca(), BULK[:, :4])


# -- features to elements ------------------------------------------------------------------------

def test_element_mapping_identity_alr_and_ilr():
    values = np.array([[1.0, 2.0, 3.0]])
    c = Contributions(values=values, method="m", feature_names=["Zn", "Cu", "Au"])
    np.testing.assert_array_equal(element_contributions(c, None, ["Cu", "Zn", "Pb", "Au"]),
                                  [[2.0, 1.0, 0.0, 3.0]])
    np.testing.assert_array_equal(
        element_contributions(values, ["Cu/Zr", "Zn/Zr", "Au/Zr"], ["Cu", "Zn", "Au", "Zr"]),
        [[1.0, 2.0, 3.0, 0.0]])
    ilr = ["ilr1[Cu|Zn,Au,Zr]", "ilr2[Zn|Au,Zr]", "ilr3[Au|Zr]"]
    assert element_contributions(values, ilr, ["Cu", "Zn", "Au", "Zr"]) is None
    assert element_contributions(values, ["PC1", "PC2", "PC3"], ["Cu", "Zn", "Au"]) is None
    with pytest.raises(InputError):
        element_contributions(values, ["Cu", "Zn"], ["Cu", "Zn"])


# -- the descriptive fallback --------------------------------------------------------------------

def test_background_excess_is_a_robust_z_of_log10():
    frame = pd.DataFrame({"Cu": 10.0 ** np.array([0.0, 1, 2, 3, 4]), "Zn": [5.0] * 5,
                          "Au": [0.1, 0.1, np.nan, 0.1, 10.0]}, index=list("abcde"))
    z = background_excess(frame)
    assert list(z.columns) == ["Cu", "Zn", "Au"] and list(z.index) == list("abcde")
    np.testing.assert_allclose(z["Cu"], (np.arange(5) - 2.0) / 1.4826)
    np.testing.assert_allclose(z["Zn"], 0.0)  # no spread at all: scale 1, not a division by 0
    # Au: median -1, MAD 0, IQR of [-1, -1, -1, 1] = 0.5 -> scale 0.5 / 1.349
    assert np.isnan(z.loc["c", "Au"])
    np.testing.assert_allclose(z.loc["e", "Au"], 2.0 / (0.5 / 1.349))
    assert top_elements(z, k=2)[4] == "Au, Cu"
    with pytest.raises(InputError, match="Zn"):
        background_excess(frame.assign(Zn=[5.0, 0.0, 5.0, 5.0, 5.0]))


# -- naming -------------------------------------------------------------------------------------

def test_top_elements_only_positive_and_shares():
    matrix = np.array([[1.0, 5.0, -2.0, 3.0], [-1.0, -1.0, np.nan, 0.0], [0.0, 2.0, 0.0, 0.0]])
    names = ["Cu", "Zn", "Pb", "Au"]
    assert top_elements(matrix, names) == ["Zn, Au, Cu", "", "Zn"]
    assert top_elements(matrix, names, k=1) == ["Zn", "", "Zn"]
    assert top_element_shares(matrix, names) == ["Zn 56%, Au 33%, Cu 11%", "", "Zn 100%"]
