"""One window of a streamed grid, from band values to the final score.

:class:`WindowScorer` holds everything fitted on the sample (cleaning, transform, detector, the
sorted raw scores that percentile ranks are read from) and is called once per window: read the
window with a halo of the spatial context's reach, clean, transform, score, rank, average over
the masked window, cut the halo off. It is a plain picklable object, so the same call runs in a
local thread or on a Dask worker and gives the same float32 result bit for bit (torch on one
thread per call: a matrix product's summation order then never depends on how many threads a
worker has).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .cells import CellCleaner
from .stack import GDAL_CACHE_BYTES, RasterStack, Window

_configured = False


def configure_worker(torch_threads: bool = True) -> None:
    """A bounded GDAL block cache (once per process; GDAL reads the setting at its first
    block read) and, in a thread or worker that scores windows, torch on one thread per call."""
    global _configured
    if torch_threads:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
    if _configured:
        return
    from rasterio.env import set_gdal_config

    set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)
    _configured = True


@dataclass
class WindowResult:
    """The final scores of one window (NaN = no data) and the values at its probe cells."""

    window: Window
    scores: np.ndarray  # (rows, cols) float32
    probe_index: np.ndarray  # positions in the scorer's probe list that fall in this window
    probe_scores: np.ndarray  # float32 final scores there (NaN = no data)
    n_valid: int


def percentile_rank(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Percentile ranks of ``scores`` among the sorted ``reference`` scores, ties at their mean
    rank: for a score of the reference itself this is scipy's rankdata / n (the in-memory
    spatial context), so a reference of every cell gives the in-memory ranks exactly."""
    # numpy's search narrows each key from the previous one, so sorted keys are several times
    # faster than a window's scores in grid order (sort + search + scatter included)
    order = np.argsort(scores)
    below = np.empty(scores.size, dtype=np.int64)
    below[order] = np.searchsorted(reference, scores[order], side="left")
    rank = below + 0.5
    # only a score equal to a reference score has ties to count (the sampled cells' own scores)
    tied = np.flatnonzero(reference[np.minimum(below, reference.size - 1)] == scores)
    if tied.size:
        upto = np.searchsorted(reference, scores[tied], side="right")
        rank[tied] = (below[tied] + upto) * 0.5 + 0.5
    rank /= reference.size
    return rank


@dataclass
class WindowScorer:
    """Everything fitted on the sample, applied to one window at a time."""

    stack: RasterStack
    cleaner: CellCleaner
    transformer: object  # transform.Transformer, fitted
    detector: object  # fitted, unsupervised, row input
    reference: np.ndarray | None  # sorted raw scores of the sample (None: no spatial context)
    smooth_size: int  # side of the masked window mean (1 = none)
    probe_rows: np.ndarray  # cells whose final score the run needs (sample, deposits)
    probe_cols: np.ndarray
    model_reach: int = 0  # a map model: how far (cells) its window reaches from a cell
    crs: object = None  # the grid's CRS, for a map model's GridInput

    @property
    def halo(self) -> int:
        return self.smooth_size // 2 if self.reference is not None else 0

    def map_scores(self, values, valid, imputed, window: Window) -> np.ndarray:
        """A map model's raw scores of the valid cells of ``window``: the window as a
        GridInput (features as images, masked where not observed, as grid.windows.map_input
        builds it for a whole map)."""
        from ..grid.windows import GridInput
        from ..survey import Grid

        X = self.transformer.transform_columns(values)
        observed = ~imputed
        if self.transformer.method in ("clr", "ilr"):  # PreparedData.observed's rule
            observed = np.broadcast_to(observed.all(axis=0), X.shape)
        rows, cols = window.shape
        images = np.zeros((X.shape[0], rows * cols), dtype=np.float32)
        masks = np.zeros((X.shape[0], rows * cols), dtype=bool)
        images[:, valid] = np.where(observed, X, 0.0)
        masks[:, valid] = observed
        t = self.stack.transform
        grid = Grid(transform=t * t.translation(window.col0, window.row0), width=cols,
                    height=rows, crs=self.crs, valid=valid.reshape(rows, cols))
        gi = GridInput(images.reshape(-1, rows, cols), masks.reshape(-1, rows, cols), grid,
                       tuple(self.transformer.feature_names_))
        return np.asarray(self.detector.anomaly_score(gi), dtype=np.float64)

    def raw_scores(self, values: np.ndarray) -> np.ndarray:
        """Cleaned cell values as columns ((p, n) float32, used as scratch) -> raw anomaly
        scores (float64)."""
        X = self.transformer.transform_columns(values)
        if hasattr(self.detector, "score_columns"):
            return np.asarray(self.detector.score_columns(X), dtype=np.float64)
        return np.asarray(self.detector.anomaly_score(X.T), dtype=np.float64)

    def __call__(self, window: Window) -> WindowResult:
        configure_worker()
        stack = self.stack
        grown = window.grown(self.halo + self.model_reach, stack.height, stack.width)
        raw = stack.read(grown, self.cleaner.bands)
        shape = grown.shape
        if self.model_reach:
            values, valid_flat, imputed = self.cleaner.apply(raw.reshape(raw.shape[0], -1),
                                                             imputed=True)
        else:
            values, valid_flat = self.cleaner.apply(raw.reshape(raw.shape[0], -1))
        valid = valid_flat.reshape(shape)
        scores = np.full(shape, np.nan, dtype=np.float32)
        if values.shape[1]:
            raw_score = (self.map_scores(values, valid_flat, imputed, grown)
                         if self.model_reach else self.raw_scores(values))
            if self.reference is None:
                scores[valid] = raw_score
            else:
                ranks = np.zeros(shape, dtype=np.float64)
                ranks[valid] = percentile_rank(raw_score, self.reference)
                scores[valid] = masked_mean(ranks, valid, self.smooth_size)[valid]
        r0, c0 = window.row0 - grown.row0, window.col0 - grown.col0
        rows, cols = window.shape
        scores = np.ascontiguousarray(scores[r0:r0 + rows, c0:c0 + cols])
        inside = np.flatnonzero((self.probe_rows >= window.row0) & (self.probe_rows < window.row1)
                                & (self.probe_cols >= window.col0) &
                                (self.probe_cols < window.col1))
        probe_scores = scores[self.probe_rows[inside] - window.row0,
                              self.probe_cols[inside] - window.col0]
        return WindowResult(window=window, scores=scores, probe_index=inside,
                            probe_scores=probe_scores,
                            n_valid=int(valid[r0:r0 + rows, c0:c0 + cols].sum()))


def masked_mean(image: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """Mean of ``image`` over the valid cells of the ``size`` x ``size`` window of each cell
    (grid/smoothing.py's rule: holes and the grid's edge add no cells)."""
    if size <= 1:
        return image
    total = ndimage.uniform_filter(np.where(valid, image, 0.0), size=size, mode="constant",
                                   cval=0.0)
    count = ndimage.uniform_filter(valid.astype(np.float64), size=size, mode="constant",
                                   cval=0.0)
    return total / np.where(count > 0, count, 1.0)
