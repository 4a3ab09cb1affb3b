"""The one interface every detector follows (scikit-learn style).

``__init__`` only stores parameters; ``fit(X)`` learns from an (n, p) float array and returns
self; fitted state ends in ``_``; ``anomaly_score(X)`` returns one float per row with ONE sign
convention everywhere: higher = more anomalous. ``save(dir)`` / ``load(dir)`` keep a fitted
detector without pickle (JSON parameters + safetensors / npz arrays).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import InputError


def check_matrix(X, *, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """Validate a feature matrix: 2-D, finite, float64, at least two rows."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of samples x features, got shape {X.shape}.")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise InputError(f"{name} needs at least 2 samples and 1 feature, got shape {X.shape}.")
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise InputError(
            f"{name} holds a missing or infinite value at row {bad[0]}, feature {bad[1]}; "
            "clean and transform the data before scoring.")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features but the detector was fitted on "
                         f"{n_features}.")
    return X


def training_rank(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 1] of ``values`` within the sorted ``reference`` scores (the
    training distribution), interpolated between order statistics at (i + 0.5) / n."""
    n = len(reference)
    return np.interp(values, reference, (np.arange(n) + 0.5) / n, left=0.0, right=1.0)


class Detector(BaseEstimator):
    """Base class: subclasses implement ``fit`` and ``anomaly_score``."""

    #: short name used by ``--model``
    name: str = ""

    def fit(self, X, y=None):  # pragma: no cover - interface
        raise NotImplementedError

    def anomaly_score(self, X) -> np.ndarray:  # pragma: no cover - interface
        """One score per row; higher = more anomalous."""
        raise NotImplementedError

    def fit_score(self, X) -> np.ndarray:
        return self.fit(X).anomaly_score(X)

    def save(self, directory):
        """Write the fitted detector to ``directory`` (JSON + safetensors / npz, no pickle)."""
        from .persistence import save_detector

        return save_detector(self, directory)

    @staticmethod
    def load(directory, X=None):
        """A fitted detector from ``directory`` (``X`` only for models saved without arrays)."""
        from .persistence import load_detector

        return load_detector(directory, X)
