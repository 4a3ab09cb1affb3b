"""The cleaning rules of clean/cleaning.py as a per-cell function, fitted on the sample.

The in-memory cleaning looks at a whole column to decide (the smallest reported detection limit,
the element median, which elements to drop). A streamed run makes those decisions once, on the
sample, with the same code (``clean.clean`` on the sampled cells), and this class then applies
them to every window: sentinels and nodata are missing, a negative value is below a detection
limit of its absolute value, a zero is below an unknown limit (the one the sample gave), gaps are
filled with the sample's element median, and a cell with none of the model's elements is no
data. Only the grid no-data block rule (a connected-component search over the whole map) has no
per-cell form; the run's notes say it was not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..clean import CleaningOptions


@dataclass
class CellCleaner:
    """Fitted per-cell cleaning for the model's elements (in the transformer's order)."""

    elements: list[str]
    bands: list[int]  # position of each element's band in the stack
    sentinels: np.ndarray  # float32
    below_factor: float  # a value below a limit L becomes below_factor * L
    zero_value: np.ndarray  # per element: what a zero becomes (below the unknown limit)
    fill: np.ndarray  # per element: the median that fills a gap

    @classmethod
    def fit(cls, elements: list[str], keys: list[str], raw: np.ndarray, cleaned,
            imputed, options: CleaningOptions) -> "CellCleaner":
        """``raw``: the sample's band values (n, bands); ``cleaned`` / ``imputed``: the cleaned
        sample (DataFrame) and what cleaning filled in it (``CleaningReport.imputed``)."""
        sentinels = np.asarray(options.missing_sentinels, dtype=np.float32)
        factor = float(options.substitute(1.0))
        bands, zero_value, fill = [], [], []
        for element in elements:
            b = keys.index(element)
            column = raw[:, b].astype(np.float64)
            present = np.isfinite(column) & ~np.isin(column, sentinels)
            limits = -column[present & (column < 0)]
            measured = column[present & (column > 0)]
            unknown = limits.min() if limits.size else (
                np.percentile(measured, 1) if measured.size else np.nan)
            values = cleaned[element].to_numpy(dtype=float)
            filled = imputed[element].to_numpy(dtype=bool) if element in imputed else \
                np.zeros(values.size, dtype=bool)
            bands.append(b)
            zero_value.append(factor * unknown)
            fill.append(float(np.median(values[~filled])))
        return cls(elements=list(elements), bands=bands, sentinels=sentinels,
                   below_factor=factor, zero_value=np.asarray(zero_value, dtype=np.float32),
                   fill=np.asarray(fill, dtype=np.float32))

    def apply(self, raw: np.ndarray, imputed: bool = False):
        """Band values of the model's elements as columns ((p, n) float32, changed in place)
        -> (cleaned (p, n_valid) float32, valid (n,) bool), and with ``imputed`` a third
        (p, n_valid) bool array: True where a gap was filled (a map model masks those).
        Band by band, so that each pass works on one row that stays in cache."""
        valid = np.zeros(raw.shape[1], dtype=bool)
        filled = np.empty(raw.shape, dtype=bool) if imputed else None
        missing = np.empty(raw.shape[1], dtype=bool)
        scratch = np.empty(raw.shape[1], dtype=bool)
        for k in range(raw.shape[0]):
            v = raw[k]
            if filled is not None:
                missing = filled[k]
            np.isnan(v, out=missing)  # the reader made nodata and infinities NaN
            for sentinel in self.sentinels:
                missing |= np.equal(v, sentinel, out=scratch)
            np.logical_not(missing, out=scratch)
            valid |= scratch
            np.less(v, 0, out=scratch)
            scratch &= ~missing
            np.multiply(v, -self.below_factor, out=v, where=scratch)
            v[v == 0] = self.zero_value[k]
            v[missing] = self.fill[k]
        if valid.all():
            return (raw, valid) if filled is None else (raw, valid, filled)
        if filled is None:
            return raw[:, valid], valid
        return raw[:, valid], valid, filled[:, valid]

    def to_dict(self) -> dict:
        return {"elements": self.elements, "bands": self.bands,
                "sentinels": [float(v) for v in self.sentinels],
                "below_detection_factor": self.below_factor,
                "zero_value": [float(v) for v in self.zero_value],
                "fill": [float(v) for v in self.fill]}
