"""The registry is the one place that names models: config, CLI, compare and the benchmark all
read it, and every entry can be built from a run configuration and described."""

from __future__ import annotations

import numpy as np
import pytest

from geoanomaly.cli import build_parser
from geoanomaly.config import MODELS, SCORES, SEEDED_MODELS, make_config
from geoanomaly.detect import DETECTORS, make_detector
from geoanomaly.detect.registry import REGISTRY, spec
from geoanomaly.errors import InputError
from geoanomaly.pipeline import _score_description, build_detector

FEATURES = ["Au", "As", "W", "Ag", "Cu"]


def test_every_list_of_models_is_the_registry():
    assert MODELS == tuple(REGISTRY) == tuple(DETECTORS)
    assert set(SCORES) == {n for n, s in REGISTRY.items() if s.scores}
    assert set(SEEDED_MODELS) == {n for n, s in REGISTRY.items() if s.seeded}
    help_text = build_parser().format_help() + build_parser()._subparsers._group_actions[0] \
        .choices["run"].format_help()
    for name in REGISTRY:
        assert name in help_text


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_builds_from_a_run_config_and_describes_its_score(name):
    config = make_config(sources=["x.csv"], out="o", model=name, target="Au", epochs=2)
    detector = build_detector(config, FEATURES)
    assert isinstance(detector, REGISTRY[name].cls)
    text = _score_description(config)
    assert isinstance(text, str) and text


def test_an_unknown_model_is_named_with_the_valid_ones():
    with pytest.raises(InputError, match=", ".join(REGISTRY)):
        spec("gan")


@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items()
                                         if s.input_kind != "windows" and s.guidance == "none"))
def test_unsupervised_detectors_ignore_y(name):
    """scikit-learn's convention: y is accepted and ignored (deposits never train them)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    if REGISTRY[name].input_kind == "composition":
        X = np.exp(X)
    y = np.zeros(120, dtype=bool)
    y[:10] = True
    config = make_config(sources=["x.csv"], out="o", model=name, target="Au", epochs=2)
    plain = build_detector(config, FEATURES).fit(X).anomaly_score(X)
    with_y = build_detector(config, FEATURES).fit(X, y).anomaly_score(X)
    assert np.array_equal(plain, with_y)


def test_input_errors_are_value_errors_as_in_scikit_learn():
    with pytest.raises(ValueError):
        make_detector("vae", epochs=2).fit(np.full((10, 3), np.nan))
