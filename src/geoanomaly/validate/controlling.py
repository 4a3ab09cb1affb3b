"""The controlling function (deposit density against distance to a control) and geology priors.

Xiong, Zuo, Luo & Wang (2022, Math. Geosci. 54:783-806) quantify how granitic intrusions control
W mineralisation (Fry analysis, standard-deviation ellipses, fractal analysis) and add the
resulting non-linear "controlling function" to the VAE loss as a penalty. The group's pattern:
deposit density against distance to an ore-controlling feature, often a power law, becomes a
per-cell prior in [0, 1]. The paper does not give a fitting recipe we can follow line by line;
these are our choices:

* :func:`fit_controlling_function` bins the distances into ``n_bins`` quantile classes (equal
  cell counts, so every bin's density rests on as many cells; duplicate edges, e.g. many cells
  at 0 inside polygons, are merged, and so are bins left empty), takes density = deposits /
  cells per bin, and fits BOTH a power law ``rho = a (d + d0)^-b`` and an exponential
  ``rho = a exp(-d / s)`` by weighted least squares on log density, weights = cells in the bin,
  over the bins that hold at least one deposit (log 0 is undefined; this leaves out the emptiest
  bins, so the fit overstates density where deposits are sparse: the prior is a relative shape,
  not a calibrated probability). ``d0`` is half the first bin's upper edge, so that d = 0 (inside
  a polygon) is finite and the curve is not dominated by the first few metres. A bin's model
  density is the mean of the curve over the bin's cells, not the curve at the bin's mean
  distance: within a wide bin a convex curve's mean lies above its value at the mean, and that
  shortcut overstated a power law's b by 5-9 % on data drawn from one. So a straight line of
  log density against log(d + d0) (or d) gives the trend's sign and a start, ``a`` has a closed
  form for a given slope, and the slope (b, or 1 / s) is refined by a bounded 1-D search
  (within a factor 10 of the start). The form with the smaller weighted mean squared log
  residual is kept (a tie, e.g. when only two bins hold deposits and both forms fit them
  exactly, goes to the power law, the form the literature reports most). A form whose straight
  line says density *rises* with distance (b <= 0, s <= 0) is rejected; if both are, or fewer
  than 2 bins hold a deposit, the result is ``form == "none"``: a constant density, no
  control, and the description says why.
* The prior of a fitted function is density / its maximum over the fitted distance range
  (clipped to [0, 1]); for a decreasing function that maximum is at the smallest distance seen.
  ``form == "none"`` gives 0.5 everywhere (unknown, the same value :func:`geology_prior` gives a
  missing value), not the formula's constant 1, because "no control" should not read as "every
  cell favourable". NaN distances also give 0.5.
* Deposits are labels: the caller fits this only on training-fold cells (spatial folds), so a
  model that uses the prior is "knowledge-guided", and its validation stays out of sample.
* :func:`geology_prior` is the LABEL-FREE prior (no deposits): a distance layer gives
  ``exp(-d / L)`` with ``L`` the median distance over the cells / samples given (a data-derived
  scale: a cell closer to the control than the typical cell gets more than 1/e); if at
  least half the cells lie at distance 0, ``L`` is the median of the non-zero distances. A
  continuous layer (the user supplies one where higher = more favourable) is min-max scaled to
  [0, 1] over its finite values (a constant layer gives 0.5). NaN (outside a raster, no-data)
  gives 0.5: unknown, neither favourable nor not. Several layers: the mean of their priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from geoanomaly.errors import InputError

FORMS = ("power law", "exponential", "none")
UNKNOWN_PRIOR = 0.5


@dataclass
class ControllingFunction:
    """A fitted deposit density against distance to a control, and its bin table.

    ``parameters``: power law {"a", "b", "d0"}, exponential {"a", "s"}, none {"rate"} (the
    overall density). The bin table (``bin_edges`` k + 1 in metres, ``bin_distance`` the mean
    distance of each bin's cells, ``bin_cells``, ``bin_positives``, ``bin_density``) is what a
    report plots (:meth:`table`); :meth:`density` evaluates the fitted curve.
    ``residuals`` holds each tried form's weighted mean squared log residual (NaN if not fitted).
    """

    form: str
    parameters: dict[str, float]
    bin_edges: np.ndarray
    bin_distance: np.ndarray
    bin_cells: np.ndarray
    bin_positives: np.ndarray
    bin_density: np.ndarray
    bin_fitted: np.ndarray  # the fitted curve's mean over each bin's cells (what the fit matched)
    residuals: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def n_cells(self) -> int:
        return int(self.bin_cells.sum())

    @property
    def n_positives(self) -> int:
        return int(self.bin_positives.sum())

    def density(self, d) -> np.ndarray:
        """The fitted density (deposits per cell) at distances ``d`` in metres."""
        d = np.asarray(d, dtype=np.float64)
        p = self.parameters
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if self.form == "power law":
                return p["a"] * np.power(np.maximum(d, 0.0) + p["d0"], -p["b"])
            if self.form == "exponential":
                return p["a"] * np.exp(-np.maximum(d, 0.0) / p["s"])
        return np.where(np.isnan(d), np.nan, p["rate"])

    def prior(self, d) -> np.ndarray:
        """Values in [0, 1]: density / its maximum over the fitted range; 0.5 for "none" / NaN."""
        d = np.asarray(d, dtype=np.float64)
        if self.form == "none":
            return np.full(d.shape, UNKNOWN_PRIOR)
        top = float(self.density(self.bin_edges[0]))
        prior = np.clip(self.density(d) / top, 0.0, 1.0)
        return np.where(np.isnan(d), UNKNOWN_PRIOR, prior)

    def describe(self) -> str:
        """One sentence: the form, its parameters, what it was fitted on."""
        p = self.parameters
        on = (f"{self.n_positives} deposit cells among {self.n_cells} cells in "
              f"{len(self.bin_cells)} distance bins")
        if self.form == "none":
            return (f"No controlling function: {self.reason}, so deposit density is taken as "
                    f"constant ({p['rate']:.3g} per cell; {on}).")
        if self.form == "power law":
            formula = (f"power law, density = {p['a']:.3g} x (d + {p['d0']:.0f} m)^-{p['b']:.3g}")
        else:
            formula = f"exponential, density = {p['a']:.3g} x exp(-d / {p['s']:.0f} m)"
        near, far = self.density(self.bin_edges[0]), self.density(self.bin_edges[-1])
        other = "exponential" if self.form == "power law" else "power law"
        other_text = ("" if not math.isfinite(self.residuals.get(other, math.nan))
                      else f" vs {self.residuals[other]:.3g} for the {other}")
        return (f"Controlling function: {formula} (d = distance to the control), falling from "
                f"{near:.3g} at {self.bin_edges[0]:.0f} m to {far:.3g} per cell at "
                f"{self.bin_edges[-1]:.0f} m; weighted log residual "
                f"{self.residuals[self.form]:.3g}{other_text}; fitted on {on}"
                f"{self.reason_suffix()}.")

    def reason_suffix(self) -> str:
        return f" ({self.reason})" if self.reason else ""

    def table(self):
        """The bin table as a pandas DataFrame: lower_m, upper_m, distance_m (mean of the bin's
        cells), cells, positives, density, fitted (the curve's mean over the bin's cells, what
        the fit matched) and curve (the curve at distance_m)."""
        import pandas as pd

        return pd.DataFrame({
            "lower_m": self.bin_edges[:-1], "upper_m": self.bin_edges[1:],
            "distance_m": self.bin_distance, "cells": self.bin_cells,
            "positives": self.bin_positives, "density": self.bin_density,
            "fitted": self.bin_fitted, "curve": self.density(self.bin_distance),
        })

    def to_dict(self) -> dict:
        """JSON-safe form (report, saved models)."""
        return {
            "form": self.form, "parameters": {k: float(v) for k, v in self.parameters.items()},
            "bin_edges": self.bin_edges.tolist(), "bin_distance": self.bin_distance.tolist(),
            "bin_cells": self.bin_cells.astype(int).tolist(),
            "bin_positives": self.bin_positives.astype(int).tolist(),
            "bin_density": self.bin_density.tolist(),
            "bin_fitted": self.bin_fitted.tolist(),
            "residuals": {k: (float(v) if math.isfinite(v) else None)
                          for k, v in self.residuals.items()},
            "reason": self.reason, "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, state: dict) -> ControllingFunction:
        return cls(
            form=state["form"], parameters=dict(state["parameters"]),
            bin_edges=np.asarray(state["bin_edges"], dtype=np.float64),
            bin_distance=np.asarray(state["bin_distance"], dtype=np.float64),
            bin_cells=np.asarray(state["bin_cells"], dtype=np.int64),
            bin_positives=np.asarray(state["bin_positives"], dtype=np.int64),
            bin_density=np.asarray(state["bin_density"], dtype=np.float64),
            bin_fitted=np.asarray(state["bin_fitted"], dtype=np.float64),
            residuals={k: (math.nan if v is None else float(v))
                       for k, v in state.get("residuals", {}).items()},
            reason=state.get("reason", ""),
        )


def _quantile_bins(d: np.ndarray, n_bins: int) -> np.ndarray:
    """Quantile edges at data values, duplicates merged, and no bin left empty."""
    edges = np.unique(np.quantile(d, np.linspace(0.0, 1.0, n_bins + 1), method="inverted_cdf"))
    if edges.size == 1:
        return np.array([edges[0], edges[0]])
    counts = np.bincount(_bin_index(d, edges), minlength=edges.size - 1)
    # an inner edge whose bin is empty is dropped (merging it into the next bin)
    while (counts == 0).any():
        empty = int(np.flatnonzero(counts == 0)[0])
        edges = np.delete(edges, empty + 1 if empty + 1 < edges.size - 1 else empty)
        counts = np.bincount(_bin_index(d, edges), minlength=edges.size - 1)
    return edges


def _bin_index(d: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bins [e0, e1), [e1, e2), ..., [e_{k-1}, e_k] (the last one closed)."""
    return np.clip(np.searchsorted(edges, d, side="right") - 1, 0, edges.size - 2)


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Intercept, slope and weighted mean squared residual of y ~ x."""
    w = w / w.sum()
    xm, ym = float(w @ x), float(w @ y)
    sxx = float(w @ (x - xm) ** 2)
    slope = float(w @ ((x - xm) * (y - ym))) / sxx if sxx > 0 else 0.0
    intercept = ym - slope * xm
    residual = float(w @ (y - intercept - slope * x) ** 2)
    return intercept, slope, residual


def _refine(log_shape, start: float, d: np.ndarray, log_rho: np.ndarray, w: np.ndarray,
            index: np.ndarray, used: np.ndarray, k: int) -> tuple[float, float, float]:
    """Slope parameter, log a and weighted mean squared log residual of ``rho = a g_theta(d)``,
    where each bin's model density is the MEAN of the curve over the bin's cells.

    ``log_shape(theta, d)`` gives log g, decreasing in d; log a has a closed form for fixed
    theta (the weighted mean residual), so only theta is searched, within [start / 10,
    10 start].
    """
    from scipy.optimize import minimize_scalar

    cells = np.bincount(index, minlength=k)
    sw = float(w.sum())
    nearest = np.full(k, np.inf)
    np.minimum.at(nearest, index, d)  # each bin's smallest distance: where g is largest

    def fit(theta: float) -> tuple[float, float]:
        log_g = log_shape(theta, d)
        top = log_shape(theta, nearest)  # per-bin shift keeps exp() from underflowing
        mean_g = np.bincount(index, weights=np.exp(log_g - top[index]), minlength=k) / cells
        r = log_rho - (top + np.log(mean_g))[used]
        log_a = float(w @ r) / sw
        return float(w @ (r - log_a) ** 2) / sw, log_a

    found = minimize_scalar(lambda t: fit(t)[0], bounds=(start / 10.0, start * 10.0),
                            method="bounded", options={"xatol": start * 1e-9})
    theta = float(found.x)
    residual, log_a = fit(theta)
    return theta, log_a, residual


def fit_controlling_function(distance, positive, n_bins: int = 10) -> ControllingFunction:
    """Deposit density against distance to a control, as a power law or an exponential.

    ``distance``: (n,) metres from each cell / sample to the control (non-finite ones are left
    out); ``positive``: (n,) bool, the cell / sample is a deposit (or within the label radius).
    Pass only training-fold cells: the function is fitted on labels.
    """
    d = np.asarray(distance, dtype=np.float64).ravel()
    pos = np.asarray(positive).ravel()
    if d.shape != pos.shape:
        raise InputError(f"distance and positive must have the same length to fit a "
                         f"controlling function, got {d.size} and {pos.size}.")
    if pos.dtype != bool:
        if not np.isin(pos, (0, 1)).all():
            raise InputError("positive must be True/False (or 0/1) per cell to fit a "
                             "controlling function.")
        pos = pos.astype(bool)
    if int(n_bins) < 2:
        raise InputError(f"n_bins must be at least 2 to fit a controlling function, got {n_bins}.")
    finite = np.isfinite(d)
    d, pos = d[finite], pos[finite]
    if d.size == 0:
        raise InputError("No finite distance to fit a controlling function on: the cells lie "
                         "outside every control layer.")
    if (d < 0).any():
        raise InputError("Distances to a control must be >= 0 metres; got negative values.")

    edges = _quantile_bins(d, int(n_bins))
    index = _bin_index(d, edges)
    k = edges.size - 1
    cells = np.bincount(index, minlength=k).astype(np.int64)
    positives = np.bincount(index, weights=pos.astype(np.float64), minlength=k).astype(np.int64)
    mean_d = np.bincount(index, weights=d, minlength=k) / cells
    density = positives / cells
    rate = float(pos.mean())
    residuals = {"power law": math.nan, "exponential": math.nan}

    def none(reason: str) -> ControllingFunction:
        return ControllingFunction(form="none", parameters={"rate": rate}, bin_edges=edges,
                                   bin_distance=mean_d, bin_cells=cells,
                                   bin_positives=positives, bin_density=density,
                                   bin_fitted=np.full(k, rate), residuals=residuals,
                                   reason=reason)

    used = positives > 0
    n_used = int(used.sum())
    if n_used < 2:
        held = "no distance bin holds" if n_used == 0 else "only 1 distance bin holds"
        return none(f"{held} a deposit (need 2)")

    d0 = 0.5 * float(edges[1])
    w = cells[used].astype(np.float64)
    log_rho = np.log(density[used])
    fits: dict[str, dict[str, float]] = {}
    # Straight lines give the sign of the trend and a start; the slope is then refined against
    # the bin-averaged curve (profile over a, 1-D bounded search).
    _, slope, _ = _weighted_line(np.log(mean_d[used] + d0), log_rho, w)
    if slope < 0:
        b, log_a, residuals["power law"] = _refine(
            lambda b_, x: -b_ * np.log1p(x / d0), -slope, d, log_rho, w, index, used, k)
        fits["power law"] = {"a": math.exp(log_a + b * math.log(d0)), "b": b, "d0": d0}
    _, slope, _ = _weighted_line(mean_d[used], log_rho, w)
    if slope < 0:
        rate_k, log_a, residuals["exponential"] = _refine(
            lambda k_, x: -k_ * x, -slope, d, log_rho, w, index, used, k)
        fits["exponential"] = {"a": math.exp(log_a), "s": 1.0 / rate_k}
    if not fits:
        return none("deposit density does not fall with distance to the control")
    # a tie within rounding (e.g. two bins, fitted exactly by both) goes to the power law
    form = min(fits, key=lambda f: (round(residuals[f], 12), FORMS.index(f)))
    parameters = fits[form]
    shape = (np.power(d + parameters["d0"], -parameters["b"]) if form == "power law"
             else np.exp(-d / parameters["s"]))
    fitted = parameters["a"] * np.bincount(index, weights=shape, minlength=k) / cells
    reason = ""
    if len(fits) == 1:
        dropped = "exponential" if form == "power law" else "power law"
        reason = f"the {dropped} fit had density rising with distance and was rejected"
    elif n_used == 2:
        reason = "only 2 bins hold a deposit, so both forms fit them exactly; power law kept"
    return ControllingFunction(form=form, parameters=parameters, bin_edges=edges,
                               bin_distance=mean_d, bin_cells=cells, bin_positives=positives,
                               bin_density=density, bin_fitted=fitted, residuals=residuals,
                               reason=reason)


def geology_prior(values, kind) -> np.ndarray:
    """The label-free prior in [0, 1] per cell / sample from control-layer values (no deposits).

    ``values``: (n,) or (n, n_layers) as :meth:`~geoanomaly.io.controls.ControlLayers.values_at`
    gives them, for ALL the survey's cells / samples (the distance scale is their median);
    ``kind``: "distance" or "continuous", one per layer. Distance: ``exp(-d / median d)``;
    continuous: min-max to [0, 1] (higher = more favourable); NaN -> 0.5; layers averaged.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise InputError(f"Control values must be (n,) or (n, layers), got shape {values.shape}.")
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if len(kinds) != values.shape[1]:
        raise InputError(f"{values.shape[1]} control layers but {len(kinds)} kinds given: give "
                         "one kind per layer.")
    if values.shape[1] == 0:
        raise InputError("No control layer to build a geology prior from.")
    priors = np.empty_like(values)
    for j, layer_kind in enumerate(kinds):
        column = values[:, j]
        finite = np.isfinite(column)
        prior = np.full(column.shape, UNKNOWN_PRIOR)
        if layer_kind == "distance":
            if (column[finite] < 0).any():
                raise InputError(f"Control layer {j + 1} is a distance layer with negative "
                                 "values: distances must be >= 0 metres.")
            if finite.any():
                scale = float(np.median(column[finite]))
                if scale <= 0:
                    nonzero = column[finite & (column > 0)]
                    scale = float(np.median(nonzero)) if nonzero.size else 0.0
                if scale > 0:
                    prior[finite] = np.exp(-column[finite] / scale)
                else:  # every cell on the control
                    prior[finite] = 1.0
        elif layer_kind == "continuous":
            if finite.any():
                low, high = float(column[finite].min()), float(column[finite].max())
                if high > low:
                    prior[finite] = (column[finite] - low) / (high - low)
        else:
            raise InputError(f"Control layer kind '{layer_kind}' is not 'distance' or "
                             "'continuous'.")
        priors[:, j] = prior
    return np.clip(priors.mean(axis=1), 0.0, 1.0)
