"""Anomaly detectors: one registry name per model, all with the Detector interface.

``make_detector("vae", epochs=100)`` builds one from a config; an unknown name or parameter is an
InputError that lists what is valid.  torch is only imported when a deep detector is fitted.
"""

from __future__ import annotations

from ..errors import InputError
from .autoencoder import AutoencoderDetector
from .base import Detector, check_matrix
from .classic import IsolationForestDetector, MCDDetector, PCADetector, UnivariateDetector
from .ppca import PPCADetector
from .registry import REGISTRY
from .vae import VAEDetector

#: registry name -> class (the entries themselves, with what the package needs to know of each
#: model, are in registry.py)
DETECTORS: dict[str, type[Detector]] = {name: spec.cls for name, spec in REGISTRY.items()}


def make_detector(name: str, **params) -> Detector:
    """An unfitted detector of registry ``name`` with ``params`` (the rest at their defaults)."""
    if name not in DETECTORS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(DETECTORS)}.")
    cls = DETECTORS[name]
    valid = sorted(cls._get_param_names())
    unknown = [key for key in params if key not in valid]
    if unknown:
        raise InputError(f"model {name!r} has no parameter {unknown[0]!r}; valid parameters "
                         f"are {', '.join(valid)}.")
    return cls(**params)


__all__ = ["DETECTORS", "Detector", "make_detector", "check_matrix", "VAEDetector",
           "AutoencoderDetector", "PPCADetector", "MCDDetector", "PCADetector", "IsolationForestDetector",
           "UnivariateDetector"]
