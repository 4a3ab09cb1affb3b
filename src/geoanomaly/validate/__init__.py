"""Validate: measure anomaly scores against known deposits (deposits never train anything).

Protocols (shared/benchmarks/PROTOCOLS.md): "samples" (:func:`evaluate_samples`), "opengad"
(:func:`evaluate_opengad`) and "opengad-stratified" (:func:`evaluate_opengad_stratified`); each
returns a JSON-safe dict naming its protocol, parameters, counts and an interval or spread.
"""

from .curves import PredictionArea, SuccessRateCurve, prediction_area, success_rate_curve
from .labels import (
    EARTH_RADIUS_M,
    CellLabels,
    cell_labels,
    distance_to_nearest,
    nearest_samples,
    sample_labels,
)
from .protocols import (
    downsample_curve,
    evaluate_opengad,
    evaluate_opengad_stratified,
    evaluate_samples,
)
from .roc import bootstrap_auc_ci, roc_auc, roc_curve

__all__ = [
    "EARTH_RADIUS_M", "CellLabels", "PredictionArea", "SuccessRateCurve",
    "bootstrap_auc_ci", "cell_labels", "distance_to_nearest", "downsample_curve",
    "evaluate_opengad", "evaluate_opengad_stratified", "evaluate_samples", "nearest_samples",
    "prediction_area", "roc_auc", "roc_curve", "sample_labels", "success_rate_curve",
]
