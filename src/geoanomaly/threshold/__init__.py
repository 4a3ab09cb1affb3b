"""Threshold: turn continuous anomaly scores into background / anomaly classes.

:func:`compute_thresholds` is the one entry point (methods "percentile", "mad", "ca" fractal,
"t" weights of evidence); :func:`classify` maps scores to classes 0 (background), 1, 2, ...
"""

from .fractal import CAFit, ca_thresholds
from .simple import (
    MAD_TO_SD,
    METHODS,
    ThresholdResult,
    class_names,
    classify,
    compute_thresholds,
    mad_thresholds,
    percentile_thresholds,
)
from .woe import candidate_thresholds, t_threshold, woe_table

__all__ = [
    "CAFit", "MAD_TO_SD", "METHODS", "ThresholdResult", "ca_thresholds", "candidate_thresholds",
    "class_names", "classify", "compute_thresholds", "mad_thresholds", "percentile_thresholds",
    "t_threshold", "woe_table",
]
