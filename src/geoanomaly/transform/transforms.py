"""Log-ratio transforms and scaling, with a state that can be saved as JSON.

Geochemical values are compositional and strongly skewed: detectors compare samples far better
on log-ratios than on raw concentrations. The transforms here work on any strictly positive
table and do NOT require closed rows (rows need not sum to 1e6 or 100 %), and they keep element
names, unlike toolkits that rename columns V1..Vn.

Units: clr and ilr are computed on the numbers as given. Mixing ppm and wt % (Fe2O3 in %, Cu in
ppm) multiplies a part by a constant c, which shifts every clr feature by a per-feature constant
(ln c_i minus the mean of ln c); centring (the "robust" or "standard" scale) removes exactly that
shift, so mixed units do not matter once the features are scaled. With ``scale="none"`` they do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

#: the transform methods offered by :class:`Transformer`
TRANSFORMS = ("none", "log10", "clr", "ilr", "alr")
SCALES = ("robust", "standard", "none")

_MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation
_IQR_TO_SD = 1.349   # IQR of a normal distribution divided by this is its standard deviation


def pivot_basis(n_parts: int) -> np.ndarray:
    """Orthonormal pivot (Helmert-type) basis, shape (D, D-1): ilr = clr @ basis.

    Balance i (1-based) contrasts part i with the geometric mean of parts i+1..D:
    ilr_i = sqrt((D-i)/(D-i+1)) * ln(x_i / g(x_{i+1..D})). Columns are orthonormal and
    orthogonal to the vector of ones, so ilr is an isometry of clr.
    """
    basis = np.zeros((n_parts, n_parts - 1))
    for i in range(n_parts - 1):
        rest = n_parts - i - 1
        basis[i, i] = np.sqrt(rest / (rest + 1))
        basis[i + 1:, i] = -1.0 / np.sqrt(rest * (rest + 1))
    return basis


def ilr_names(elements: list[str]) -> list[str]:
    """Balance names "ilr<i>[<pivot>|<rest>]": the rest lists up to three elements, then "+k".

    e.g. ["Cu", "Pb", "Zn", "As", "Au"] gives "ilr1[Cu|Pb,Zn,As,+1]", ..., "ilr4[As|Au]".
    """
    names = []
    for i, pivot in enumerate(elements[:-1]):
        rest = elements[i + 1:]
        shown = ",".join(rest[:3]) + (f",+{len(rest) - 3}" if len(rest) > 3 else "")
        names.append(f"ilr{i + 1}[{pivot}|{shown}]")
    return names


def _robust_centre_scale(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and 1.4826 * MAD per column; a zero MAD falls back to IQR / 1.349, then to the
    standard deviation, then to 1 (a constant column stays constant instead of dividing by 0)."""
    columns = np.ascontiguousarray(features.T)  # medians partition each column: contiguous
    centre = np.median(columns, axis=1)
    spread = _MAD_TO_SD * np.median(np.abs(columns - centre[:, None]), axis=1)
    flat = ~(spread > 0)
    if flat.any():  # the fallbacks only where the MAD is zero
        q75, q25 = np.percentile(columns[flat], [75, 25], axis=1)
        for fallback in ((q75 - q25) / _IQR_TO_SD, columns[flat].std(axis=1),
                         np.ones(int(flat.sum()))):
            spread[flat] = np.where(spread[flat] > 0, spread[flat], fallback)
    return centre, spread


class Transformer:
    """Log / log-ratio transform then per-feature scaling, fitted on one table.

    method: "none", "log10", "clr" (natural log minus the row mean of logs), "ilr" (pivot
    balances, see :func:`pivot_basis`; features named by :func:`ilr_names`), "alr" (natural log
    ratio to ``alr_reference``, default the last element; features named "Cu/Zr").
    scale: "robust" (median and 1.4826 * MAD, see :func:`_robust_centre_scale`), "standard"
    (mean and standard deviation, a zero one replaced by 1) or "none".
    ``fit`` remembers the element order, so ``transform`` of new data selects the columns by
    name; ``to_dict`` / ``from_dict`` save and restore that state as JSON.
    """

    def __init__(self, method: str = "clr", scale: str = "robust", alr_reference: str | None = None):
        if method not in TRANSFORMS:
            raise InputError(f"transform must be one of {', '.join(TRANSFORMS)}, got {method!r}.")
        if scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}.")
        self.method = method
        self.scale = scale
        self.alr_reference = alr_reference

    # -- the transform without scaling ---------------------------------------------------
    def _table(self, values) -> tuple[np.ndarray, list[str]]:
        if isinstance(values, pd.DataFrame):
            names = [str(c) for c in values.columns]
            if hasattr(self, "elements_"):
                absent = [e for e in self.elements_ if e not in names]
                if absent:
                    raise InputError(
                        f"the data lack the element(s) {', '.join(absent)} that the transform "
                        "was fitted on; supply the same elements.")
                values = values[self.elements_]
                names = list(self.elements_)
            return values.to_numpy(dtype=float), names
        array = np.asarray(values, dtype=float)
        if array.ndim != 2:
            raise InputError(f"expected a 2-D table of samples x elements, got shape {array.shape}.")
        if hasattr(self, "elements_"):
            if array.shape[1] != len(self.elements_):
                raise InputError(f"expected {len(self.elements_)} element columns, got "
                                 f"{array.shape[1]}.")
            return array, list(self.elements_)
        return array, [f"x{i}" for i in range(array.shape[1])]

    def _raw(self, array: np.ndarray, names: list[str]) -> np.ndarray:
        if not np.isfinite(array).all():
            row, col = np.argwhere(~np.isfinite(array))[0]
            raise InputError(f"element '{names[col]}' is missing or infinite at row {row}; clean "
                             "the survey first (geoanomaly.clean).")
        if self.method == "none":
            return array.copy()
        if (array <= 0).any():
            row, col = np.argwhere(array <= 0)[0]
            raise InputError(
                f"element '{names[col]}' holds {array[row, col]:g} at row {row}, but the "
                f"{self.method} transform needs every value > 0; clean the survey first "
                "(geoanomaly.clean floors zeros and below-detection values).")
        if self.method == "log10":
            return np.log10(array)
        logs = np.log(array)
        if self.method == "clr":
            return logs - logs.mean(axis=1, keepdims=True)
        if self.method == "ilr":
            if array.shape[1] < 2:
                raise InputError("the ilr transform needs at least 2 elements.")
            clr = logs - logs.mean(axis=1, keepdims=True)
            return clr @ pivot_basis(array.shape[1])
        reference = names.index(self.reference_)
        return np.delete(logs - logs[:, [reference]], reference, axis=1)

    # -- public API -----------------------------------------------------------------------
    def fit(self, values) -> "Transformer":
        self._fit_features(values)
        return self

    def _fit_features(self, values) -> np.ndarray:
        """Fit, and return the unscaled features (``fit_transform`` scales them in place
        instead of computing them twice: on a million rows that is seconds)."""
        array, names = self._table(values)
        self.elements_ = names
        if self.method == "alr":
            reference = self.alr_reference or names[-1]
            if reference not in names:
                raise InputError(f"alr_reference {reference!r} is not one of the elements "
                                 f"({', '.join(names)}).")
            self.reference_ = reference
        features = self._raw(array, names)
        if self.method in ("none", "log10", "clr"):
            self.feature_names_ = list(names)
        elif self.method == "ilr":
            self.feature_names_ = ilr_names(names)
        else:
            self.feature_names_ = [f"{e}/{self.reference_}" for e in names if e != self.reference_]
        n_features = features.shape[1]
        if self.scale == "robust":
            self.center_, self.scale_ = _robust_centre_scale(features)
        elif self.scale == "standard":
            self.center_ = features.mean(axis=0)
            std = features.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
        else:
            self.center_, self.scale_ = np.zeros(n_features), np.ones(n_features)
        return features

    def transform(self, values) -> np.ndarray:
        if not hasattr(self, "feature_names_"):
            raise RuntimeError("Transformer.transform called before fit")
        array, names = self._table(values)
        return (self._raw(array, names) - self.center_) / self.scale_

    def transform_columns(self, columns: np.ndarray) -> np.ndarray:
        """Cleaned float32 values as columns ((elements, n): finite, > 0, the fitted elements
        in order) -> scaled float32 features as columns, in place where the shape allows:
        the per-window step of a streamed grid (stream/scoring.py), without the checks and the
        float64 copies of ``transform``. Equal to ``transform`` to float32 rounding."""
        a = np.asarray(columns, dtype=np.float32)
        if self.method == "log10":
            np.log10(a, out=a)
        elif self.method != "none":
            np.log(a, out=a)
            if self.method in ("clr", "ilr"):
                a -= a.mean(axis=0, dtype=np.float32)
                if self.method == "ilr":
                    a = pivot_basis(a.shape[0]).T.astype(np.float32) @ a
            elif self.method == "alr":
                reference = self.elements_.index(self.reference_)
                a = np.delete(a - a[reference], reference, axis=0)
        inverse = (1.0 / np.asarray(self.scale_, dtype=np.float64)).astype(np.float32)
        shift = (-np.asarray(self.center_, dtype=np.float64) * inverse).astype(np.float32)
        for k in range(a.shape[0]):  # row by row: each row stays in cache
            a[k] *= inverse[k]
            a[k] += shift[k]
        return a

    def fit_transform(self, values) -> np.ndarray:
        features = self._fit_features(values)
        if features is values or np.shares_memory(features, np.asarray(values)):
            features = features.copy()  # "none" may return the caller's array: never change it
        features -= self.center_
        features /= self.scale_
        return features

    def to_dict(self) -> dict:
        """JSON-safe parameters and fitted state."""
        state = {"method": self.method, "scale": self.scale, "alr_reference": self.alr_reference}
        if hasattr(self, "feature_names_"):
            state.update({
                "elements": list(self.elements_), "feature_names": list(self.feature_names_),
                "reference": getattr(self, "reference_", None),
                "center": [float(v) for v in self.center_],
                "scale_values": [float(v) for v in self.scale_],
            })
        return state

    @classmethod
    def from_dict(cls, state: dict) -> "Transformer":
        transformer = cls(state["method"], state["scale"], state.get("alr_reference"))
        if "elements" in state:
            transformer.elements_ = list(state["elements"])
            transformer.feature_names_ = list(state["feature_names"])
            if state.get("reference") is not None:
                transformer.reference_ = state["reference"]
            transformer.center_ = np.asarray(state["center"], dtype=float)
            transformer.scale_ = np.asarray(state["scale_values"], dtype=float)
        return transformer


def level_by_group(values: pd.DataFrame, groups) -> pd.DataFrame:
    """Level each element per group (survey, lab batch): x / median_group * median_all.

    Surveys analysed by different methods (weak leach vs total digest) differ by a roughly
    constant factor per element; dividing each group by its own median and multiplying by the
    overall median removes that factor (in log space: subtract the group median of the logs, add
    the overall one) while keeping the values in their units. It also removes any real
    difference between the groups' median levels, and a group of a few samples is levelled on a
    noisy median, so use it only when the groups are different lab methods / surveys.
    Medians ignore NaN; values must be > 0 (as after cleaning).
    """
    groups = np.asarray(groups)
    if len(groups) != len(values):
        raise InputError(f"the grouping has {len(groups)} entries but the table has "
                         f"{len(values)} rows; give one group per sample.")
    numbers = values.astype(float)
    if (numbers <= 0).any().any():
        bad = numbers.columns[(numbers <= 0).any()][0]
        raise InputError(f"element '{bad}' holds a value <= 0; clean the survey before levelling.")
    overall = numbers.median()
    group_median = numbers.groupby(groups, dropna=False).transform("median")
    return numbers / group_median * overall
