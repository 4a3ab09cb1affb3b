"""Infomax independent component analysis as R's ``ica::icaimax`` (Helwig, package ``ica``
1.0-3) computes it: the ICA step of Info-DAN (Esmaeiloghli, Tabatabaei & Carranza 2023).

What ``icaimax`` does, and so what :func:`infomax_ica` does (n rows, p columns, k components):

1. Centre the columns (``center=True``).
2. Whiten by the eigen-decomposition of the covariance with divisor n: C = X'X / n = E L E'
   (eigenvalues in decreasing order).  With n >= p: P = E_k L_k^(-1/2), the whitened data
   Y = X P, and the "partial mixing" Mp = L_k^(1/2) E_k'.  With n < p the decomposition is of
   XX' / n and Y = E_k sqrt(n) (the package's second branch).  Eigenvalues not above
   ``eps * largest`` count as zero; k is lowered to the numerical rank with a warning.
3. Rotate: start from R = ``Rmat`` (identity by default) and repeat at most ``max_iter`` times

       S = Y R
       gradient:  R_new = R - rate * Y' f(S) / n
       newton:    R_new = R - (Y' f(S) / n) / H,  H[i, j] = mean of f'(S[:, j])
       R_new = U V'  (U, V from the SVD of R_new: the nearest orthogonal matrix)
       change = 1 - min_j |<R[:, j], R_new[:, j]>|;  stop once change <= tol

   with f = tanh ("tanh"), 2 / (1 + exp(-s)) - 1 ("log") or s + sign_j tanh(s) ("ext", signs
   re-estimated every iteration from the sign of mean(sech^2 s - s tanh s) when
   ``sign_switch``).  The step is a gradient step on the negative log-likelihood of sources with
   density proportional to 1 / cosh(s) (for "tanh"), kept on the orthogonal group.
   ``rate_anneal = (angle, factor)`` multiplies the gradient rate by ``factor`` whenever the
   change corresponds to an angle (degrees, acos(1 - change)) below ``angle``.
4. Order components by variance accounted for: M = R' Mp (k x p), vaf_j = n * sum_i M[j, i]^2 /
   sum(X^2) (X centred), decreasing; the sources are S = Y R, the unmixing matrix W = (P R)'
   (k x p, S = X W') and the mixing matrix M' (p x k, X ~ S M).

Everything is deterministic.  The only free choice is the sign of each eigenvector, which LAPACK
leaves open: here the entry of largest magnitude of every eigenvector is made positive.  Because
all three nonlinearities are odd and the start is diagonal, flipping an eigenvector only flips
the sign of sources, so results equal R's up to the sign of each source.

Info-DAN calls ``icaimax(x, nc = 8, alg = "gradient", fun = "tanh", rate = 1, maxit = 100,
tol = 1e-6, Rmat = diag(nc))``; note that ``icaimax``'s own default algorithm is "newton", while
:func:`infomax_ica` defaults to Info-DAN's "gradient".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

ALGORITHMS = ("gradient", "newton")
NONLINEARITIES = ("tanh", "log", "ext")


@dataclass
class InfomaxResult:
    """What :func:`infomax_ica` found (names follow ``ica::icaimax``'s list in brackets).

    sources (S): (n, k) estimated sources, ordered by variance accounted for.
    unmixing (W): (k, p); ``sources = (X - mean) @ unmixing.T``.
    mixing (t(M)): (p, k); ``X - mean ~ sources @ mixing.T``.
    whitened (Y): (n, k) whitened data; whitening (t(Q)): (p, k), ``whitened = Xc @ whitening``.
    rotation (R): (k, k) orthogonal rotation, ``sources = whitened @ rotation``.
    vafs: (k,) proportion of the (centred) variance each source accounts for, decreasing.
    mean: (p,) column means removed (zeros with ``center=False``).
    n_iter (iter), converged, change: iterations run, whether change <= tol, the last change.
    signs: the "ext" signs per source (None for "tanh" and "log").
    """

    sources: np.ndarray
    unmixing: np.ndarray
    mixing: np.ndarray
    whitened: np.ndarray
    whitening: np.ndarray
    rotation: np.ndarray
    vafs: np.ndarray
    mean: np.ndarray
    n_iter: int
    converged: bool
    change: float
    algorithm: str
    nonlinearity: str
    rate: float
    signs: np.ndarray | None = None

    def transform(self, X) -> np.ndarray:
        """Sources of new rows: ``(X - mean) @ unmixing.T``."""
        X = np.asarray(X, dtype=np.float64)
        return (X - self.mean) @ self.unmixing.T


def infomax_ica(X, n_components: int | None = None, *, center: bool = True, max_iter: int = 100,
                tol: float = 1e-6, rotation=None, algorithm: str = "gradient",
                nonlinearity: str = "tanh", signs=None, sign_switch: bool = True,
                rate: float = 1.0, rate_anneal=None) -> InfomaxResult:
    """Infomax ICA of the rows of ``X`` exactly as ``ica::icaimax`` (module docstring).

    ``n_components``: k (None = min(n, p)); ``rotation``: the k x k start (None = identity,
    ``Rmat = diag(nc)``); ``signs`` / ``sign_switch``: only for ``nonlinearity="ext"``
    (None = all +1, i.e. super-Gaussian); ``rate`` / ``rate_anneal``: only for the gradient
    algorithm.  Raises InputError on invalid arguments.
    """
    X = np.array(X, dtype=np.float64, copy=True)
    if X.ndim != 2:
        raise InputError(f"Infomax ICA needs a 2-D array, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise InputError("Infomax ICA needs finite values; the input holds NaN or infinity.")
    n, p = X.shape
    k = min(n, p) if n_components is None else int(n_components)
    if k < 1:
        raise InputError(f"n_components must be at least 1, got {n_components!r}.")
    if k > min(n, p):
        raise InputError(f"too many components: n_components={k} but the data are {n} x {p}; "
                         f"use at most {min(n, p)}.")
    max_iter = int(max_iter)
    if max_iter < 1:
        raise InputError(f"max_iter must be at least 1, got {max_iter}.")
    if not float(tol) > 0:
        raise InputError(f"tol must be positive, got {tol!r}.")
    if algorithm not in ALGORITHMS:
        raise InputError(f"algorithm={algorithm!r} is not known; use one of "
                         f"{', '.join(ALGORITHMS)}.")
    if nonlinearity not in NONLINEARITIES:
        raise InputError(f"nonlinearity={nonlinearity!r} is not known; use one of "
                         f"{', '.join(NONLINEARITIES)}.")
    R = np.eye(k) if rotation is None else np.array(rotation, dtype=np.float64)
    if R.shape != (k, k):
        raise InputError(f"rotation must be a {k} x {k} orthogonal matrix, got shape {R.shape}.")
    if nonlinearity == "ext":
        sgn = np.ones(k) if signs is None else np.sign(np.asarray(signs, dtype=np.float64))
        if sgn.shape != (k,):
            raise InputError(f"signs must hold {k} values, one per component.")
    else:
        sgn, sign_switch = None, False
    rate = float(rate)
    if algorithm == "gradient":
        if not rate > 0:
            raise InputError(f"rate must be positive, got {rate!r}.")
        if rate_anneal is not None:
            rate_anneal = [float(v) for v in rate_anneal]
            if len(rate_anneal) != 2:
                raise InputError("rate_anneal must be (angle in degrees, factor).")
            if not 0 < rate_anneal[0] < 90:
                raise InputError("rate_anneal[0] (angle) must lie in (0, 90) degrees.")
            if not 0 < rate_anneal[1] <= 1:
                raise InputError("rate_anneal[1] (factor) must lie in (0, 1].")

    # 1-2. centre and whiten -------------------------------------------------------------------
    mean = X.mean(axis=0) if center else np.zeros(p)
    X -= mean
    if n >= p:
        values, vectors = np.linalg.eigh(X.T @ X / n)
    else:
        values, vectors = np.linalg.eigh(X @ X.T / n)
    values, vectors = values[::-1], _fix_signs(vectors[:, ::-1])
    rank = int(np.sum(values > values[0] * np.finfo(np.float64).eps))
    if rank < k:
        warnings.warn(f"the numerical rank of X ({rank}) is below n_components ({k}); "
                      f"{rank} components are estimated.", RuntimeWarning, stacklevel=2)
        k, R = rank, np.eye(rank)
        if sgn is not None:
            sgn = sgn[:k]
    root = np.sqrt(values[:k])
    E = vectors[:, :k]
    if n >= p:
        partial_mixing = root[:, None] * E.T            # Mp = D E' (k x p)
        whitening = E / root                            # P = E D^-1 (p x k)
        Y = X @ whitening
    else:
        partial_mixing = E.T @ X / math.sqrt(n)          # k x p
        whitening = partial_mixing.T / values[:k]       # P = Mp' D^-2 (p x k)
        Y = E * math.sqrt(n)

    # 3. rotate ----------------------------------------------------------------------------------
    n_iter, change = 0, 1.0
    if k == 1:
        R, change, n_iter = np.eye(1), 0.0, 0
    else:
        f, df = _nonlinearity(nonlinearity)
        while change > tol and n_iter < max_iter:
            S = Y @ R
            if sign_switch:
                sgn = np.sign(np.mean(np.cosh(S) ** -2 - np.tanh(S) * S, axis=0))
            step = Y.T @ f(S, sgn) / n
            if algorithm == "gradient":
                R_new = R - rate * step
            else:
                R_new = R - step / np.mean(df(S, sgn), axis=0)[None, :]
            U, _, Vt = np.linalg.svd(R_new)
            R_new = U @ Vt
            change = 1.0 - float(np.min(np.abs(np.sum(R * R_new, axis=0))))
            n_iter += 1
            R = R_new
            if (algorithm == "gradient" and rate_anneal is not None
                    and math.degrees(math.acos(min(1.0, max(-1.0, 1.0 - change))))
                    < rate_anneal[0]):
                rate *= rate_anneal[1]

    # 4. order by variance accounted for -----------------------------------------------------------
    M = R.T @ partial_mixing                              # k x p
    vafs = np.sum(M ** 2, axis=1)
    order = np.argsort(-vafs, kind="stable")
    M, R = M[order], R[:, order]
    vafs = n * vafs[order] / np.sum(X ** 2)
    if sgn is not None:
        sgn = sgn[order]
    return InfomaxResult(sources=Y @ R, unmixing=(whitening @ R).T, mixing=M.T, whitened=Y,
                         whitening=whitening, rotation=R, vafs=vafs, mean=mean, n_iter=n_iter,
                         converged=bool(change <= tol), change=float(change),
                         algorithm=algorithm, nonlinearity=nonlinearity, rate=rate, signs=sgn)


def _nonlinearity(name: str):
    """(f, f') of ``icaimax``: both take the sources and the "ext" signs (ignored otherwise)."""
    if name == "log":
        return (lambda s, sgn: 2.0 / (1.0 + np.exp(-s)) - 1.0,
                lambda s, sgn: 1.0 / (np.cosh(s) + 1.0))
    if name == "ext":
        return (lambda s, sgn: s + np.tanh(s) * sgn[None, :],
                lambda s, sgn: 1.0 + (1.0 - np.tanh(s) ** 2) * sgn[None, :])
    return (lambda s, sgn: np.tanh(s),
            lambda s, sgn: 1.0 - np.tanh(s) ** 2)


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Each column with its largest-magnitude entry positive (first such entry on ties)."""
    pivots = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(pivots < 0, -1.0, 1.0)[None, :]
