"""Probabilistic PCA (Tipping & Bishop 1999) as an anomaly detector with the VAE's scores.

PPCA is the linear limit of the VAE: a Gaussian latent z ~ N(0, I_q), a linear decoder
x | z ~ N(W z, sigma^2 I) and, because everything is linear-Gaussian, an exact posterior
q(z|x) = N(M^-1 W^T x, sigma^2 M^-1) with M = W^T W + sigma^2 I.  The maximum-likelihood fit is
closed form (no training, no seed dependence), so scoring the same data with the same score
names as :class:`~geoanomaly.detect.vae.VAEDetector` is the fair test of what the VAE's
non-linear encoder and decoder add.

Fit: standardise with the training mean/std exactly like the VAE, eigen-decompose the sample
covariance (ddof=1, as ``sklearn.decomposition.PCA``), sigma^2 = mean of the d - q discarded
eigenvalues (floored at ``NOISE_FLOOR`` x the total variance so rank-deficient data do not divide
by zero), W = U_q (Lambda_q - sigma^2 I)^(1/2).  The model is then the one sklearn's
``PCA(n_components=q).get_covariance()`` describes.

Scores (higher = more anomalous), all on the standardised row s; w = ``feature_weights`` (None =
all ones), w_hat = w d / sum(w) in the likelihood terms so they keep their scale against the KL:

* ``"recon"``: sum_j w_j (s_j - x_hat_j)^2, x_hat = W m(s) the decoded posterior mean.
* ``"enrich"``: the same over positive residuals only (enrichment above the reconstruction).
* ``"rp"``: An & Cho (2015) reconstruction probability, -log mean_l p(s | z_l), z_l ~ q(z|s).
* ``"kl"``: KL(q(z|s) || N(0, I)) in nats: how far out along the modelled structure s lies.
* ``"enrich-kl"``: kl signed by the weighted sum of x_hat: positive for samples out along the
  structure on the enriched side, negative for depleted ones.
* ``"elbo"``: the negative ELBO in closed form (equals -log p(s) when unweighted: the posterior
  is exact).
* ``"enrich-elbo"``: one-sided likelihood term (positive residuals) plus max(0, enrich-kl).
* ``"nll"``: importance-weighted -log p(s) with ``n_samples`` draws from q(z|s).
* ``"combined"``: the larger of the training-set percentile ranks of "enrich" and "enrich-kl"
  (high when either kind of anomaly is).

The sampled scores ("rp", "nll") draw K standard-normal vectors from
``numpy.random.default_rng(seed)`` anew at every call and use the SAME K draws for every row
(z_ik = m_i + L eps_k), so a row's score depends only on that row, the fitted state and the seed,
never on which other rows are scored with it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .autoencoder import _standardisation
from .base import Detector, check_matrix, training_rank

SCORES = ("recon", "enrich", "rp", "kl", "enrich-kl", "elbo", "enrich-elbo", "nll", "combined")

#: sigma^2 is at least NOISE_FLOOR x the total variance (trace of the sample covariance)
NOISE_FLOOR = 1e-6
#: rows scored at a time; the sampled scores hold (rows x n_samples) arrays
SCORE_CHUNK_ROWS = 8192

_LOG_2PI = math.log(2.0 * math.pi)


class PPCADetector(Detector):
    """Probabilistic PCA, the linear limit of the VAE, with the VAE's scores (module docstring).

    Parameters
    ----------
    latent_dim : latent size q (clipped to d - 1: with q = d there is no noise subspace).
    score : one of ``SCORES``.
    n_samples : latent draws K for "rp" and "nll".
    standardize : centre and scale features with the training mean/std (like the VAE).
    seed : seeds the "rp" / "nll" draws; the fit itself is deterministic.
    feature_weights : None or one non-negative weight per feature (refit after changing it:
        "combined" ranks against training scores computed with the weights at fit time).

    Fitted attributes: ``mean_``, ``scale_``, ``components_`` (W, d x q), ``noise_variance_``
    (sigma^2), ``explained_variance_`` (the q leading eigenvalues), ``n_components_`` (q),
    ``n_features_in_``, ``train_enrich_`` / ``train_enrich_kl_`` (sorted training scores that
    "combined" ranks against).
    """

    name = "ppca"

    def __init__(self, latent_dim=3, score="enrich", n_samples=50, standardize=True, seed=0,
                 feature_weights=None):
        self.latent_dim = latent_dim
        self.score = score
        self.n_samples = n_samples
        self.standardize = standardize
        self.seed = seed
        self.feature_weights = feature_weights

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Closed-form maximum-likelihood PPCA on the standardised rows; ``y`` is ignored."""
        from sklearn.decomposition import PCA

        X = check_matrix(X)
        self._check_score(self.score)
        if int(self.latent_dim) < 1:
            raise InputError(f"latent_dim must be at least 1, got {self.latent_dim!r}.")
        if int(self.n_samples) < 1:
            raise InputError(f"n_samples must be at least 1, got {self.n_samples!r}.")
        n_rows, d = X.shape
        if d < 2:
            raise InputError("PPCA needs at least 2 features (a latent space plus a noise "
                             "subspace); use the 'univariate' model for a single element.")
        self._weights(d)  # validate early
        q = min(int(self.latent_dim), d - 1)
        mean, scale = _standardisation(X, bool(self.standardize))
        S = (X - mean) / scale
        pca = PCA(svd_solver="full").fit(S)
        # eigenvalues of the (ddof=1) sample covariance; fewer rows than features leaves zeros
        eigenvalues = np.zeros(d)
        k = min(d, pca.explained_variance_.shape[0])
        eigenvalues[:k] = pca.explained_variance_[:k]
        total = float(eigenvalues.sum())
        floor = NOISE_FLOOR * total if total > 0 else NOISE_FLOOR
        sigma2 = max(float(eigenvalues[q:].mean()), floor)
        W = np.zeros((d, q))
        kq = min(q, k)
        W[:, :kq] = pca.components_[:kq].T * np.sqrt(np.maximum(eigenvalues[:kq] - sigma2, 0.0))

        self.n_features_in_ = d
        self.n_components_ = q
        self.mean_ = mean
        self.scale_ = scale
        self.components_ = W
        self.noise_variance_ = sigma2
        self.explained_variance_ = eigenvalues[:q].copy()
        train = self._score_standardised(S, ("enrich", "enrich-kl"))
        self.train_enrich_ = np.sort(train["enrich"])
        self.train_enrich_kl_ = np.sort(train["enrich-kl"])
        return self

    # -- scoring ------------------------------------------------------------------------------
    def anomaly_score(self, X, *, score=None) -> np.ndarray:
        """One float64 score per row, higher = more anomalous; ``score`` overrides
        ``self.score`` for this call (score one fitted model several ways)."""
        check_is_fitted(self, "components_")
        X = check_matrix(X, n_features=self.n_features_in_)
        score = self.score if score is None else score
        self._check_score(score)
        out = np.empty(X.shape[0])
        for start in range(0, X.shape[0], SCORE_CHUNK_ROWS):
            chunk = X[start:start + SCORE_CHUNK_ROWS]
            S = (chunk - self.mean_) / self.scale_
            out[start:start + chunk.shape[0]] = self._score_standardised(S, (score,))[score]
        return out

    @staticmethod
    def _check_score(score) -> None:
        if score not in SCORES:
            raise InputError(f"score={score!r} is not known for PPCA; use one of "
                             f"{', '.join(SCORES)}.")

    def _weights(self, d: int) -> np.ndarray:
        """Feature weights w (all ones when None), validated against d features."""
        if self.feature_weights is None:
            return np.ones(d)
        w = np.asarray(list(self.feature_weights), dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != d:
            raise InputError(f"feature_weights has {w.size} weights for {d} features.")
        if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise InputError("feature_weights must be finite, non-negative and not all zero.")
        return w

    def _posterior(self) -> dict:
        """Fitted quantities shared by every row: M^-1, the posterior covariance and its
        Cholesky factor, log det, trace, and diag(W S W^T)."""
        W, sigma2, q = self.components_, float(self.noise_variance_), self.components_.shape[1]
        M = W.T @ W + sigma2 * np.eye(q)
        M_inv = np.linalg.inv(M)
        M_inv = 0.5 * (M_inv + M_inv.T)
        cov = sigma2 * M_inv
        logdet_cov = float(np.linalg.slogdet(cov)[1])
        return {"W": W, "sigma2": sigma2, "q": q, "proj": W @ M_inv, "cov": cov,
                "chol": np.linalg.cholesky(cov), "logdet": logdet_cov,
                "kl_const": 0.5 * (float(np.trace(cov)) - q - logdet_cov),
                "decoder_var": np.einsum("jk,kl,jl->j", W, cov, W)}

    def _score_standardised(self, S: np.ndarray, names) -> dict:
        """{score name: one value per row} for standardised rows S (n x d)."""
        post = self._posterior()
        W, sigma2 = post["W"], post["sigma2"]
        d = S.shape[1]
        w = self._weights(d)
        w_hat = w * d / w.sum()
        m = S @ post["proj"]                                   # posterior means (n x q)
        x_hat = m @ W.T                                        # decoded means (n x d)
        residual = S - x_hat
        positive = np.maximum(residual, 0.0)
        kl = 0.5 * np.einsum("ik,ik->i", m, m) + post["kl_const"]
        log_norm = 0.5 * math.log(2.0 * math.pi * sigma2) * w_hat.sum()
        out = {}
        for name in names:
            if name == "recon":
                out[name] = np.square(residual) @ w
            elif name == "enrich":
                out[name] = np.square(positive) @ w
            elif name == "kl":
                out[name] = kl
            elif name == "enrich-kl":
                out[name] = np.sign(x_hat @ w) * kl
            elif name == "elbo":
                expected = np.square(residual) @ w_hat + float(post["decoder_var"] @ w_hat)
                out[name] = expected / (2.0 * sigma2) + log_norm + kl
            elif name == "enrich-elbo":
                enrich_kl = np.sign(x_hat @ w) * kl
                out[name] = 0.5 * (np.square(positive) @ w_hat) / sigma2 \
                    + np.maximum(enrich_kl, 0.0)
            elif name in ("rp", "nll"):
                out[name] = self._sampled(name, residual, m, post, w_hat, log_norm)
            elif name == "combined":
                parts = self._score_standardised(S, ("enrich", "enrich-kl"))
                out[name] = np.maximum(training_rank(self.train_enrich_, parts["enrich"]),
                                       training_rank(self.train_enrich_kl_, parts["enrich-kl"]))
        return out

    def _sampled(self, name, residual, m, post, w_hat, log_norm) -> np.ndarray:
        """-log mean_k of p(s|z_k) ("rp") or of p(s|z_k) p(z_k) / q(z_k|s) ("nll"), with
        z_k = m + L eps_k and the same eps_k (fresh from ``seed``) for every row."""
        n_draws = int(self.n_samples)
        eps = np.random.default_rng(int(self.seed)).standard_normal((n_draws, post["q"]))
        offset = eps @ post["chol"].T                          # L eps_k (K x q)
        B = offset @ post["W"].T                               # W L eps_k (K x d)
        # sum_j w_hat_j (residual_ij - B_kj)^2, expanded into matrix products (n x K)
        sq = (np.square(residual) @ w_hat)[:, None] - 2.0 * (residual * w_hat) @ B.T \
            + (np.square(B) @ w_hat)[None, :]
        log_lik = -0.5 * np.maximum(sq, 0.0) / post["sigma2"] - log_norm
        if name == "nll":
            # log N(z; 0, I) - log N(z; m, S) with z = m + L eps
            log_lik = log_lik - 0.5 * (np.einsum("ik,ik->i", m, m)[:, None]
                                       + 2.0 * m @ offset.T
                                       + np.einsum("kq,kq->k", offset, offset)[None, :]) \
                + 0.5 * np.einsum("kq,kq->k", eps, eps)[None, :] + 0.5 * post["logdet"]
        return -(logsumexp(log_lik, axis=1) - math.log(n_draws))

    # -- persistence (used by geoanomaly.detect.persistence) ------------------------------------
    def _fitted_state(self):
        check_is_fitted(self, "components_")
        return ({"n_features_in_": int(self.n_features_in_),
                 "n_components_": int(self.n_components_)},
                {"mean_": self.mean_, "scale_": self.scale_, "components_": self.components_,
                 "noise_variance_": np.asarray(self.noise_variance_, dtype=np.float64),
                 "explained_variance_": self.explained_variance_,
                 "train_enrich_": self.train_enrich_, "train_enrich_kl_": self.train_enrich_kl_})

    def _restore_state(self, scalars, arrays) -> None:
        self.n_features_in_ = int(scalars["n_features_in_"])
        self.n_components_ = int(scalars["n_components_"])
        for key in ("mean_", "scale_", "components_", "explained_variance_", "train_enrich_",
                    "train_enrich_kl_"):
            setattr(self, key, np.asarray(arrays[key], dtype=np.float64))
        self.noise_variance_ = float(arrays["noise_variance_"])


