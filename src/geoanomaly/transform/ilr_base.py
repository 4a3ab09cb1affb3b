"""The default ilr basis of the R package ``compositions`` (``ilrBase(D=D)``) and ilr coordinates
with it, as Info-DAN (Esmaeiloghli, Tabatabaei & Carranza 2023) computes them.

``compositions::ilrBase`` builds its default ("basic") basis from R's Helmert contrasts
(``contr.helmert(D)``) with every contrast scaled to unit length.  Column j (1-based,
j = 1 .. D-1) of the (D, D-1) matrix V is

    V[i, j] = -1 / sqrt(j (j + 1))   for i = 1 .. j,
    V[j + 1, j] = j / sqrt(j (j + 1)),
    V[i, j] = 0                      for i > j + 1,

so ilr_j = sqrt(j / (j + 1)) * ln(x_{j+1} / g(x_1 .. x_j)), g the geometric mean: each new part
against the geometric mean of the parts before it (ilr1 = ln(x2 / x1) / sqrt(2)).  The columns
are orthonormal and orthogonal to the vector of ones.  ``compositions::ilr(x, V)`` is
``clr(x) %*% V`` with ``clr(x) = ln(x) - mean(ln(x))`` per row; since V is orthogonal to the ones,
``ln(x) %*% V`` gives the same numbers and the closure of the rows does not matter.

This is NOT the pivot basis of :func:`geoanomaly.transform.transforms.pivot_basis` (the project's
own "ilr" transform, first part against the rest): the two give different coordinates of the same
log-ratio space, related by an orthogonal rotation.  Use this module where a published workflow
fixes the R default (Info-DAN's fidelity to its published outputs depends on it).

Zeros, negatives and missing values are rejected (``compositions::clr`` would silently treat them
as missing parts); replace below-detection values before (the cleaning stage does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def ilr_base(n_parts: int) -> np.ndarray:
    """The (D, D-1) default basis of ``compositions::ilrBase(D = n_parts)`` (module docstring)."""
    D = int(n_parts)
    if D < 2:
        raise InputError(f"an ilr basis needs at least 2 parts, got {n_parts!r}.")
    V = np.zeros((D, D - 1))
    for j in range(1, D):  # 1-based contrast number, as in contr.helmert
        norm = np.sqrt(j * (j + 1.0))
        V[:j, j - 1] = -1.0 / norm
        V[j, j - 1] = j / norm
    return V


def ilr_names(n_parts: int) -> list[str]:
    """Coordinate names ``ilr1 .. ilr{D-1}`` (R writes them V1 .. V{D-1})."""
    return [f"ilr{j}" for j in range(1, int(n_parts))]


def ilr_coordinates(x, V: np.ndarray | None = None):
    """ilr coordinates ``clr(x) @ V`` of positive compositions ``x`` (rows = samples).

    ``x``: an (n, D) array or DataFrame of positive, finite values (any closure: ppm, %, ...).
    ``V``: a (D, D-1) basis; None = :func:`ilr_base` (the ``compositions`` default).
    Returns an (n, D-1) float64 array, or a DataFrame with columns ``ilr1 ..`` and the input's
    index when ``x`` is a DataFrame.  A single composition (1-d input) gives a 1-d result.
    """
    frame = x if isinstance(x, pd.DataFrame) else None
    values = np.asarray(frame.to_numpy(dtype=np.float64) if frame is not None else x,
                        dtype=np.float64)
    one_row = values.ndim == 1
    values = np.atleast_2d(values)
    if values.ndim != 2:
        raise InputError(f"compositions must be a 2-D table of samples x parts, got shape "
                         f"{np.shape(x)}.")
    check_positive(values, columns=None if frame is None else list(frame.columns))
    D = values.shape[1]
    basis = ilr_base(D) if V is None else np.asarray(V, dtype=np.float64)
    if basis.shape != (D, D - 1):
        raise InputError(f"the ilr basis has shape {basis.shape}; {D} parts need ({D}, {D - 1}).")
    logs = np.log(values)
    clr = logs - logs.mean(axis=1, keepdims=True)
    coords = clr @ basis
    if frame is not None:
        return pd.DataFrame(coords, index=frame.index, columns=ilr_names(D))
    return coords[0] if one_row else coords


def check_positive(values: np.ndarray, columns: list[str] | None = None) -> None:
    """InputError naming the first cell that is not a positive finite number."""
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        where = f"row {row}, feature {col}" + (f" ({columns[col]})" if columns else "")
        raise InputError(
            f"log-ratio coordinates need positive, finite concentrations; {where} holds "
            f"{float(values[row, col])!r}. Replace zeros, below-detection and missing values "
            "before (the cleaning stage does).")
