"""Scoring at the limit (issue 8, item 4): float32 input is scored without a float64 copy, gives
the scores of the same rows in float64 (to float32 rounding), is refused where not finite, and
the same seed still gives bit-identical scores."""

import tracemalloc

import numpy as np
import pytest
import torch

from geoanomaly.detect import AutoencoderDetector, VAEDetector
from geoanomaly.detect import torch_training as tt
from geoanomaly.detect.base import check_matrix
from geoanomaly.errors import InputError

N_ROWS, N_FEATURES = 200_000, 39


@pytest.fixture(scope="module")
def survey():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(N_ROWS, 3)).astype(np.float32)
    mixing = rng.normal(size=(3, N_FEATURES)).astype(np.float32)
    noise = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    return np.tanh(latent @ mixing) * 3 + 0.3 * noise


def fitted(cls, survey, **params):
    return cls(epochs=1, patience=None, seed=5, **params).fit(survey[:2_000])


MODELS = [(VAEDetector, "recon"), (VAEDetector, "enrich"), (VAEDetector, "enrich-elbo"),
          (AutoencoderDetector, "recon"), (AutoencoderDetector, "enrich")]


@pytest.mark.parametrize("cls,score", MODELS)
def test_float32_input_is_not_copied_to_float64(survey, cls, score):
    detector = fitted(cls, survey, score=score)
    assert survey.dtype == np.float32
    detector.anomaly_score(survey[:1_000])  # warm-up outside the measurement
    tracemalloc.start()
    try:
        scores = detector.anomaly_score(survey)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a float64 copy alone is 2x the input; the float64 scores are 8 bytes per row
    assert peak < 0.25 * survey.nbytes + 2 * scores.nbytes, peak
    assert scores.dtype == np.float64 and scores.shape == (N_ROWS,)


@pytest.mark.parametrize("cls,score", MODELS)
def test_float32_and_float64_input_give_the_same_scores(survey, cls, score):
    detector = fitted(cls, survey, score=score)
    rows = survey[:20_000]
    single = detector.anomaly_score(rows)
    double = detector.anomaly_score(rows.astype(np.float64))
    np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-5)
    assert np.isfinite(single).all()


def test_same_seed_bit_identical_scores(survey):
    for cls, score in MODELS:
        a = fitted(cls, survey, score=score).anomaly_score(survey[:30_000])
        b = fitted(cls, survey, score=score).anomaly_score(survey[:30_000])
        assert np.array_equal(a, b), (cls.name, score)


def test_non_finite_row_in_a_late_chunk_is_refused_with_its_position(survey):
    detector = fitted(VAEDetector, survey)
    bad = survey[:50_000].copy()
    bad[41_234, 7] = np.nan
    with pytest.raises(InputError, match="row 41234, feature 7"):
        detector.anomaly_score(bad)
    bad[41_234, 7] = -np.inf  # "enrich" clamps a -inf excess to 0: still refused
    with pytest.raises(InputError, match="row 41234, feature 7"):
        detector.set_params(score="enrich").anomaly_score(bad)


def test_non_contiguous_input_scores_as_contiguous(survey):
    detector = fitted(AutoencoderDetector, survey)
    wide = np.repeat(survey[:5_000], 2, axis=1)[:, ::2]  # a strided view of the same values
    assert not wide.flags.c_contiguous
    np.testing.assert_array_equal(detector.anomaly_score(wide),
                                  detector.anomaly_score(survey[:5_000]))


def test_check_matrix_keeps_its_float64_default_and_preserves_float32_on_request(survey):
    rows = survey[:100]
    assert check_matrix(rows).dtype == np.float64
    kept = check_matrix(rows, dtype=None)
    assert kept.dtype == np.float32 and np.shares_memory(kept, rows)
    assert check_matrix(rows.astype(np.int64), dtype=None).dtype == np.float64
    bad = rows.copy()
    bad[70, 2] = np.inf
    with pytest.raises(InputError, match="row 70, feature 2"):
        check_matrix(bad, dtype=None)


def test_feature_major_forward_matches_the_sequential_network():
    generator = torch.Generator().manual_seed(0)
    network = tt.build_seeded(lambda: torch.nn.Sequential(
        tt.mlp([39, 24, 12, 3], "tanh", last_activation=False),
        tt.mlp([3, 12, 24, 39], "relu", last_activation=False)), 0, torch.device("cpu"))
    x = torch.randn(3_000, 39, generator=generator)
    with torch.inference_mode():
        torch.testing.assert_close(tt.feature_major_forward(tt.linear_chain(network), x),
                                   network(x), rtol=1e-5, atol=1e-5)
