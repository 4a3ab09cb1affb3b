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


def check_matrix(X, *, n_features: int | None = None, name: str = "X", dtype=np.float64,
                 check_finite: bool = True) -> np.ndarray:
    """Validate a feature matrix: 2-D, finite, at least two rows.

    ``dtype=np.float64`` (the default) returns float64.  ``dtype=None`` keeps float32 and
    float64 input as it is, without a copy (any other dtype becomes float64): the scoring path
    of the deep detectors, which works in float32, so a float32 survey is never doubled in
    memory.  ``check_finite=False`` leaves the finiteness check to the caller (the deep
    detectors check each chunk as they score it); otherwise a ``dtype=None`` matrix is checked in
    row blocks, so the check needs no (n, p) temporary either.
    """
    if dtype is None:
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    else:
        X = np.asarray(X, dtype=dtype)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of samples x features, got shape {X.shape}.")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise InputError(f"{name} needs at least 2 samples and 1 feature, got shape {X.shape}.")
    if check_finite:
        block = X.shape[0] if dtype is not None else FINITE_CHECK_ROWS
        for start in range(0, X.shape[0], block):
            check_finite_rows(X[start:start + block], start, name)
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features but the detector was fitted on "
                         f"{n_features}.")
    return X


#: rows per block of the finiteness check of a ``dtype=None`` matrix (a 2.5 MB bool temporary
#: for 39 features)
FINITE_CHECK_ROWS = 65536


def check_finite_rows(rows: np.ndarray, first_row: int = 0, name: str = "X") -> None:
    """An InputError naming the first missing or infinite value of ``rows`` (whose first row is
    row ``first_row`` of ``name``)."""
    if not np.isfinite(rows).all():
        bad = np.argwhere(~np.isfinite(rows))[0]
        raise InputError(
            f"{name} holds a missing or infinite value at row {first_row + bad[0]}, feature "
            f"{bad[1]}; clean and transform the data before scoring.")


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
