"""Spectrum-area (S-A) fractal filtering of gridded maps (Cheng, Xu & Grunsky 2000; Cheng 2004).

A map is the sum of a regional background and local anomalies, and the two differ in the
frequency domain: the power spectrum of the background is concentrated in a few strong, mostly
low-frequency components, that of local anomalies spread over many weaker ones. S-A plots
log(area of the frequency plane with power >= E) against log(E); straight segments with
different slopes are different scaling regimes, and the breakpoint E_c between them defines
two filters: components with power >= E_c make the background, the weaker ones the anomaly
map. Both come back to the map by the inverse FFT.

Choices (the papers leave them open): the breakpoints are found by the same least-squares
segmentation as the C-A threshold (``threshold.fractal.ca_thresholds``), with TWO breaks by
default: the weakest, flat segment (area barely changes with power: white noise) is dropped,
the middle band is the anomaly component and the strongest segment the background -- with one
break the "anomaly" side is mostly that noise floor (measured on the demo grid: samples AUC
0.53). ``max_breaks=1`` gives the two-way split; the zero frequency (the map mean) always goes to the background; no-data
cells and holes are filled with the mean of the valid cells before the FFT (a neutral value
that adds no power away from zero frequency) and are masked again afterwards. A filtered map
is a property of the whole map: the same cells give the same filter, whatever is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class SADecomposition:
    """One map split into anomaly and background (per valid cell), with the S-A fit."""

    anomaly: np.ndarray
    background: np.ndarray
    threshold: float  # E_c: power at the upper breakpoint (background at and above it)
    noise_threshold: float | None  # power below which components are dropped as noise
    fit: object  # threshold.fractal.CAFit on the power spectrum


def sa_decompose(grid, values, max_breaks: int = 2) -> SADecomposition:
    """The S-A anomaly and background components of one map (values per valid cell)."""
    from ..threshold.fractal import ca_thresholds

    values = np.asarray(values, dtype=np.float64)
    if values.size < 16:
        raise InputError("the S-A filter needs a map of at least 16 valid cells.")
    mean = float(values.mean())
    image = grid.to_image(values, fill=mean)
    spectrum = np.fft.fft2(image - mean)
    power = np.abs(spectrum) ** 2
    nonzero = power.ravel()[1:]  # the zero frequency is the mean: background by definition
    nonzero = nonzero[nonzero > 0]
    if nonzero.size < 16:
        raise InputError("the map is (nearly) constant: the S-A filter has no spectrum to split.")
    fit = ca_thresholds(nonzero, max_breaks=max_breaks, min_breaks=max_breaks, n_levels=50)
    threshold = float(fit.thresholds[-1])
    noise = float(fit.thresholds[0]) if len(fit.thresholds) > 1 else None
    strong = power >= threshold
    strong[0, 0] = True
    band = ~strong if noise is None else (~strong & (power >= noise))
    anomaly = np.real(np.fft.ifft2(spectrum * band))
    background = np.real(np.fft.ifft2(spectrum * strong)) + mean
    return SADecomposition(grid.from_image(anomaly), grid.from_image(background + 0.0),
                           threshold, noise, fit)


def sa_filter_features(grid, X, feature_names, max_breaks: int = 2):
    """Each feature column replaced by its S-A anomaly component; returns (filtered X, {name:
    SADecomposition}) so the report can draw each fit."""
    X = np.asarray(X, dtype=np.float64)
    filtered = np.empty_like(X)
    parts = {}
    for j, name in enumerate(feature_names):
        part = sa_decompose(grid, X[:, j], max_breaks=max_breaks)
        filtered[:, j] = part.anomaly
        parts[str(name)] = part
    return filtered, parts


def sa_plot_details(part: SADecomposition, name: str) -> dict:
    """What figures.ca_plot needs to draw one S-A fit, labelled for the power spectrum."""
    details = part.fit.to_dict()
    details.update(x_label=f"log10(spectral power E) of {name}",
                   y_label="log10(area of the frequency plane with power >= E)")
    return details
