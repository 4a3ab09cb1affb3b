"""Concentration-area (C-A) fractal thresholds (Cheng, Agterberg & Ballantyne 1994).

The area A(v) where the score is at least v follows power laws A ~ v^-a whose exponent changes
between geochemical populations, so log A against log v is piecewise straight and its breaks
separate background from anomaly classes. Here the breaks are found automatically:

1. Scores must be positive to take logs. Anomaly scores need not be (robust z-scores, centred
   log-ratios), so they are shifted by ``offset``: by default 0 when every score is already
   positive, else ``offset = -min + 0.01 * (max - min)`` so the lowest score sits at 1 % of the
   range. The offset changes the shape of the low end of the curve, so it is reported, can be set
   explicitly, and thresholds are given back in the original score units (v - offset).
2. ``n_levels`` levels log-spaced from the lowest shifted score up to the ``min_count``-th
   highest (default 5: below a few samples, log A is dominated by counting steps, and BIC would
   spend a break on them); A(v) = number of samples / cells with shifted score >= v, times
   ``cell_area`` (1 for points: a count).
3. log10 A against log10 v is fitted by 1..max_breaks + 1 independent straight segments, each of
   at least ``min_points`` levels; for each number of breaks the segmentation with the least
   total squared error is found exactly (dynamic programming over all segmentations, the same
   optimum as an exhaustive search). The number of breaks is chosen by BIC =
   n ln(SSE / n) + (3 b + 2) ln n (two parameters per segment plus one per break).
4. A break's value is where the two neighbouring fitted lines cross, clipped to the gap between
   the last level of the lower segment and the first level of the upper one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: residual variance below this (log10 units squared) counts as an exact fit in the BIC
_SSE_FLOOR = 1e-12


@dataclass
class CAFit:
    """A fitted C-A curve: the thresholds (original score units) and what the report draws."""

    thresholds: list[float]
    offset: float
    cell_area: float
    log_v: np.ndarray  # log10 of the shifted score levels
    log_area: np.ndarray  # log10 of A(v)
    segments: list[dict]  # per segment: first/last level index, slope, intercept (log10 space)
    break_log_v: list[float]
    n_breaks: int
    bic: dict[int, float]  # BIC per number of breaks tried
    sse: dict[int, float]

    def to_dict(self) -> dict:
        return {
            "thresholds": [float(t) for t in self.thresholds],
            "offset": float(self.offset),
            "cell_area": float(self.cell_area),
            "log10_v": [float(v) for v in self.log_v],
            "log10_area": [float(a) for a in self.log_area],
            "segments": self.segments,
            "break_log10_v": [float(b) for b in self.break_log_v],
            "n_breaks": int(self.n_breaks),
            "bic": {str(k): float(v) for k, v in self.bic.items()},
            "sse": {str(k): float(v) for k, v in self.sse.items()},
        }


def _line_sse(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line through (x, y): slope, intercept, sum of squared residuals."""
    xc, yc = x - x.mean(), y - y.mean()
    sxx = float((xc * xc).sum())
    slope = float((xc * yc).sum() / sxx) if sxx > 0 else 0.0
    intercept = float(y.mean() - slope * x.mean())
    residual = y - (slope * x + intercept)
    return slope, intercept, float((residual * residual).sum())


def _best_segmentations(x, y, max_segments: int, min_points: int):
    """Exact least-SSE split of the points into k contiguous segments, for k = 1..max_segments.

    Returns {k: (sse, [start index of each segment])}; k is missing when too few points.
    """
    n = x.size
    cost = np.full((n, n), np.inf)  # cost[i, j]: SSE of one line through points i..j inclusive
    for i in range(n):
        for j in range(i + min_points - 1, n):
            cost[i, j] = _line_sse(x[i:j + 1], y[i:j + 1])[2]
    # best[k][j]: least SSE covering points 0..j with k segments; start[k][j]: last segment's start
    best = np.full((max_segments + 1, n), np.inf)
    start = np.zeros((max_segments + 1, n), dtype=np.int64)
    best[1] = cost[0]
    for k in range(2, max_segments + 1):
        for j in range(n):
            candidates = best[k - 1, : j] + cost[1: j + 1, j]  # last segment i..j, i >= 1
            if candidates.size and np.isfinite(candidates).any():
                i = int(np.argmin(candidates))
                best[k, j], start[k, j] = candidates[i], i + 1
    result = {}
    for k in range(1, max_segments + 1):
        if not np.isfinite(best[k, n - 1]):
            continue
        starts, j = [], n - 1
        for kk in range(k, 1, -1):
            s = int(start[kk, j])
            starts.append(s)
            j = s - 1
        result[k] = (float(best[k, n - 1]), [0] + starts[::-1])
    return result


def ca_thresholds(scores, max_breaks: int = 3, n_levels: int = 50, offset: float | None = None,
                  cell_area: float = 1.0, min_points: int = 3, min_breaks: int = 1,
                  min_count: int = 5) -> CAFit:
    """C-A fractal thresholds of anomaly scores; see the module docstring for every choice."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size < 2 or values.max() == values.min():
        raise InputError("the C-A fractal threshold needs at least two different finite scores.")
    if not 1 <= min_breaks <= max_breaks:
        raise InputError(f"C-A breaks: need 1 <= min_breaks <= max_breaks, got {min_breaks} and "
                         f"{max_breaks}.")
    if n_levels < (max_breaks + 1) * min_points:
        raise InputError(f"C-A fit: {n_levels} levels cannot hold {max_breaks + 1} segments of "
                         f"{min_points} points; raise n_levels or lower max_breaks.")
    if offset is None:
        low, high = values.min(), values.max()
        offset = 0.0 if low > 0 else float(-low + 0.01 * (high - low))
    shifted = values + offset
    if shifted.min() <= 0:
        raise InputError(f"C-A offset {offset:g} leaves scores <= 0 (lowest score "
                         f"{values.min():g}); use a larger offset or leave it automatic.")
    sorted_shifted = np.sort(shifted)
    top = sorted_shifted[-min(int(min_count), shifted.size)]
    if top <= sorted_shifted[0]:
        raise InputError(f"the C-A fractal threshold needs more than {min_count} samples above "
                         "the lowest score.")
    levels = np.logspace(np.log10(sorted_shifted[0]), np.log10(top), n_levels)
    levels[0], levels[-1] = sorted_shifted[0], top  # no rounding past the data's ends
    count = shifted.size - np.searchsorted(sorted_shifted, levels, side="left")
    log_v = np.log10(levels)
    log_area = np.log10(count * float(cell_area))

    fits = _best_segmentations(log_v, log_area, max_breaks + 1, min_points)
    n = log_v.size
    bic, sse = {}, {}
    for k, (k_sse, _) in fits.items():
        b = k - 1
        sse[b] = k_sse
        bic[b] = n * np.log(max(k_sse / n, _SSE_FLOOR)) + (3 * b + 2) * np.log(n)
    allowed = [b for b in bic if min_breaks <= b <= max_breaks]
    if not allowed:
        raise InputError("the C-A curve has too few levels for a break; raise n_levels.")
    n_breaks = min(allowed, key=lambda b: (bic[b], b))
    starts = fits[n_breaks + 1][1]
    ends = [s - 1 for s in starts[1:]] + [n - 1]
    segments = []
    for first, last in zip(starts, ends):
        slope, intercept, seg_sse = _line_sse(log_v[first:last + 1], log_area[first:last + 1])
        segments.append({"first": int(first), "last": int(last), "slope": slope,
                         "intercept": intercept, "sse": seg_sse,
                         "log10_v_start": float(log_v[first]), "log10_v_end": float(log_v[last])})
    break_log_v = []
    for lower, upper in zip(segments[:-1], segments[1:]):
        gap_low, gap_high = log_v[lower["last"]], log_v[upper["first"]]
        d_slope = lower["slope"] - upper["slope"]
        crossing = ((upper["intercept"] - lower["intercept"]) / d_slope if d_slope != 0
                    else (gap_low + gap_high) / 2)
        break_log_v.append(float(np.clip(crossing, gap_low, gap_high)))
    thresholds = [float(10.0 ** b - offset) for b in break_log_v]
    return CAFit(thresholds=thresholds, offset=float(offset), cell_area=float(cell_area),
                 log_v=log_v, log_area=log_area, segments=segments, break_log_v=break_log_v,
                 n_breaks=int(n_breaks), bic={k: float(v) for k, v in bic.items()},
                 sse={k: float(v) for k, v in sse.items()})
