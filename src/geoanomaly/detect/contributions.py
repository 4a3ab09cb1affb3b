"""Why is this sample anomalous: the part of its score each feature (element) adds.

``feature_contributions(detector, X)`` splits a fitted detector's score of each row into one
number per feature, higher = pushes the sample towards anomalous, for the detectors whose score
is (or contains) a sum over features:

* VAE (``vae.VAEDetector``, every score) and PPCA (``ppca.PPCADetector``, the VAE's linear limit,
  the same scores in closed form): the per-feature terms of the score exactly as the detector
  computes them (squared residuals for "recon" / "enrich"; the decoder-variance Gaussian
  negative log-likelihood, one-sided for "enrich-elbo", with the score's likelihood weights).
  The latent (KL) part has no feature of its own; it is shared among the features in
  proportion to each one's evidence for the latent shift,

      e_j = w_j * (x_hat_j(mu) - x_hat_j(0))^2 / sigma_j^2,

  the Gaussian log-likelihood ratio, in feature j, of the sample's decoded latent mean against
  the decoded background code (z = 0, the prior mean), in the decoder's noise units.  Why: the
  KL measures how far the code lies from the background, and the decoder is what says which
  elements that distance moves and by how many noise standard deviations; the shares are
  non-negative and sum to one, so the row still sums to the score.  For the one-sided scores
  ("enrich-kl", "enrich-elbo") only the features the code moves to the side the score counts
  share it (above the background for an enriched code; below for the negative "enrich-kl" of a
  depleted one).  A code at the background itself (all e_j = 0) spreads the term evenly.
  Sampled scores: "elbo" is the mean over the detector's own draws (same seed, same chunks,
  same draws) of per-feature terms plus the KL; "rp" and "nll" are -log of a mean over draws,
  split exactly by the identity -log mean_l exp(a_l) = -sum_l pi_l a_l - H(pi) + log L
  (pi = softmax(a)): each feature gets its pi-weighted negative log-likelihood; the rest
  (log L - H(pi), and for "nll" the pi-weighted log q(z|x) - log p(z)) is latent and shared as
  above.  "combined" (the larger of two training ranks) is not a sum: its contributions are
  those of the part ("enrich" or "enrich-kl") whose rank is the larger, and
  ``training_rank(detector.train_<part>_, row sum)`` is the score.
* Deep autoencoder: per-feature squared residuals (one-sided for "enrich", weighted); they sum to
  the score.
* Covariance detectors (MCD) and PCA reconstruction error: Mahalanobis contributions
  c_j = (x - m)_j [P (x - m)]_j with the fitted precision P (they sum to the score, d^2, which
  can put a negative number on a feature that sits closer than its correlations predict), and
  per-feature squared PCA residuals.
* Anything else (isolation forest, Info-DAN, GANs, guided models, map models, ensembles,
  the univariate map): None; a subclass counts as something else, since its score may differ.

Deep detectors are run in float32 on the detector's device, chunk by chunk as they score
(``_score_chunk_rows``: memory O(chunk x features), times the draws for sampled scores); the
result is float64.  ``element_contributions`` maps features back to elements,
``background_excess`` is the descriptive fallback for detectors without contributions, and
``top_elements`` / ``top_element_shares`` name the leading elements of each row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

_LOG_2PI = math.log(2.0 * math.pi)
_MAD_TO_SD = 1.4826
_IQR_TO_SD = 1.349

#: what ``background_excess`` numbers are, for reports
BACKGROUND_EXCESS_METHOD = (
    "Descriptive, not a model attribution: how far each element lies above the survey's "
    "background, as a robust z-score of log10 concentration (median and 1.4826 x MAD of the "
    "survey).")


@dataclass
class Contributions:
    """Per-row, per-feature parts of a detector's score (higher = more anomalous)."""

    values: np.ndarray
    """(n, p) float64"""
    method: str
    """one sentence: what the numbers are"""
    feature_names: list[str]
    above: np.ndarray | None = None
    """(n, p) bool: the feature lies above the model's background (the decoded background
    code, the training mean, MCD's location); a two-sided score also rises for a feature far
    below it, which explorers do not read as "driven by" that element"""


# -- entry point -------------------------------------------------------------------------------

def feature_contributions(detector, X, feature_names=None) -> Contributions | None:
    """Contributions of each feature of ``X`` (the matrix the detector scores) to its score, or
    None for a detector whose score has no per-feature form (module docstring).

    ``feature_names``: names of the columns (default: a DataFrame's columns, else x0, x1, ...).
    """
    from .autoencoder import AutoencoderDetector
    from .classic import MCDDetector, PCADetector
    from .ppca import PPCADetector
    from .vae import VAEDetector

    handlers = {VAEDetector: _vae, PPCADetector: _ppca, AutoencoderDetector: _autoencoder,
                MCDDetector: _mcd, PCADetector: _pca}
    handler = handlers.get(type(detector))  # exact type: a subclass (guided pcvae) is left out
    if handler is None:
        return None
    if feature_names is None and isinstance(X, pd.DataFrame):
        feature_names = [str(c) for c in X.columns]
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    values, method = handler(detector, X)
    names = ([f"x{j}" for j in range(values.shape[1])] if feature_names is None
             else [str(n) for n in feature_names])
    if len(names) != values.shape[1]:
        raise InputError(f"feature_names lists {len(names)} names for {values.shape[1]} "
                         "features; give one name per column of X.")
    return Contributions(values=values, method=method, feature_names=names,
                         above=np.asarray(X) > _background(detector))


def _background(detector) -> np.ndarray:
    """The model's background in the detector's input units: the VAE's decoded background
    code, MCD's robust location, otherwise the training mean."""
    if hasattr(detector, "location_"):
        return np.asarray(detector.location_, dtype=np.float64)
    if hasattr(detector, "_decode") and hasattr(detector, "network_"):
        import torch

        with torch.inference_mode():
            origin = torch.zeros((1, int(detector.latent_dim)), dtype=torch.float32,
                                 device=torch.device(detector.device_))
            decoded = _numpy(detector._decode(detector.network_, origin)[0])[0]
        return decoded * detector.scale_ + detector.mean_
    return np.asarray(detector.mean_, dtype=np.float64)


# -- shared arithmetic (float64 numpy) ---------------------------------------------------------

def _latent_shares(delta, precision, weights, side: int) -> np.ndarray:
    """(n, d) shares summing to 1 per row: e_j = w_j precision_j delta_j^2 over the features
    moved to ``side`` (+1 up, -1 down, 0 both); rows with no evidence get even shares."""
    if side > 0:
        delta = np.maximum(delta, 0.0)
    elif side < 0:
        delta = np.minimum(delta, 0.0)
    evidence = np.square(delta) * precision * weights
    total = evidence.sum(axis=1, keepdims=True)
    even = np.full_like(evidence, 1.0 / evidence.shape[1])
    return np.divide(evidence, total, out=even, where=total > 0)


def _softmax_split(log_lik, extra=None):
    """-log mean_l exp(a_l), a_l = sum_j log_lik[l, :, j] (+ extra[l]), split into per-feature
    terms (n, d) and a latent remainder (n,) by -log mean exp(a) = -sum pi a - H(pi) + log L."""
    a = log_lik.sum(axis=2)
    if extra is not None:
        a = a + extra
    log_pi = a - np.logaddexp.reduce(a, axis=0, keepdims=True)
    pi = np.exp(log_pi)
    features = -np.einsum("ln,lnj->nj", pi, log_lik)
    remainder = (pi * log_pi).sum(axis=0) + math.log(a.shape[0])   # log L - H(pi) >= 0
    if extra is not None:
        remainder = remainder - (pi * extra).sum(axis=0)
    return features, remainder


def _terms(score, s, x_hat, precision, w, w_hat, kl, delta, sign, sampled=None):
    """(per-feature terms, latent part, shares) of one score on standardised rows ``s``.

    ``precision``: the decoder's 1 / variance (broadcasts to (n, d)); ``w``: raw weights (the
    "recon" / "enrich" sums), ``w_hat``: likelihood weights (mean 1); ``delta``: decoded latent
    mean minus the decoded background; ``sign``: the detector's enrichment side per row;
    ``sampled``: (per-feature log-likelihoods (L, n, d), extra (L, n) or None) of the draws.
    """
    residual = s - x_hat
    zero = np.zeros(s.shape[0])
    if score in ("recon", "enrich"):
        part = np.maximum(residual, 0.0) if score == "enrich" else residual
        return np.square(part) * w, zero, None
    if score == "kl":
        return np.zeros_like(s), kl, _latent_shares(delta, precision, w, 0)
    if score == "enrich-kl":
        signed = sign * kl
        up = _latent_shares(delta, precision, w, 1)
        down = _latent_shares(delta, precision, w, -1)
        return np.zeros_like(s), signed, np.where((sign > 0)[:, None], up, down)
    if score == "enrich-elbo":
        terms = 0.5 * np.square(np.maximum(residual, 0.0)) * precision * w_hat
        return terms, np.maximum(sign * kl, 0.0), _latent_shares(delta, precision, w, 1)
    shares = _latent_shares(delta, precision, w, 0)
    log_lik, extra = sampled
    if score == "elbo":
        return -log_lik.mean(axis=0), kl, shares
    terms, remainder = _softmax_split(log_lik, extra)  # "rp" (extra None) and "nll"
    return terms, remainder, shares


def _assemble(terms, latent, shares) -> np.ndarray:
    return terms if shares is None else terms + latent[:, None] * shares


def _pick_combined(detector, parts: dict) -> np.ndarray:
    """"combined": the contributions of the part with the larger training rank (ties: enrich)."""
    from .base import training_rank

    rank_enrich = training_rank(detector.train_enrich_, parts["enrich"].sum(axis=1))
    rank_kl = training_rank(detector.train_enrich_kl_, parts["enrich-kl"].sum(axis=1))
    return np.where((rank_kl > rank_enrich)[:, None], parts["enrich-kl"], parts["enrich"])


def _latent_words(score: str) -> str:
    if score in ("recon", "enrich"):
        return ""
    if score == "combined":
        return (" For each sample the part of the 'combined' score whose training rank is the "
                "larger is shown (the enrichment error or the signed latent KL); that rank is "
                "the score.")
    return (" The latent part (how far the sample's code lies from the background's) is shared "
            "among the elements by how many noise units the decoder moves each of them"
            + (" up" if score in ("enrich-elbo", "enrich-kl") else "") + ".")


_SCORE_WORDS = {
    "recon": "squared reconstruction error of the element (standardised units)",
    "enrich": "squared excess of the element above its reconstruction (standardised units; "
              "elements below it add nothing)",
    "kl": "share, in nats, of the latent KL divergence from the prior",
    "enrich-kl": "share, in nats, of the latent KL signed by the side of the background "
                 "(enriched positive)",
    "elbo": "part, in nats, of the negative ELBO: the element's negative log-likelihood under "
            "the decoder, averaged over latent draws",
    "enrich-elbo": "part, in nats, of the one-sided negative ELBO: the element's negative "
                   "log-likelihood above its reconstruction (elements below it add nothing)",
    "rp": "part, in nats, of the -log reconstruction probability: the element's negative "
          "log-likelihood, weighted over latent draws by how well each draw explains the sample",
    "nll": "part, in nats, of the importance-weighted -log p(x): the element's negative "
           "log-likelihood, weighted over latent draws by their importance",
    "combined": "part of the enrichment error or of the signed latent KL",
}


def _method(model: str, score: str) -> str:
    total = ("they sum to that part's score" if score == "combined"
             else "a sample's numbers sum to its score")
    return (f"{model} score: each number is the element's {_SCORE_WORDS[score]}; "
            f"{total}." + _latent_words(score))


# -- VAE ---------------------------------------------------------------------------------------

def _vae(detector, X):
    import torch
    from sklearn.utils.validation import check_is_fitted

    from .base import check_finite_rows, check_matrix

    check_is_fitted(detector, "network_")
    X = check_matrix(X, n_features=detector.n_features_in_, dtype=None, check_finite=False)
    score = detector.score
    wanted = ("enrich", "enrich-kl") if score == "combined" else (score,)
    n, d = X.shape
    device = torch.device(detector.device_)
    inverse = torch.as_tensor(1.0 / detector.scale_, dtype=torch.float32, device=device)
    shift = torch.as_tensor(-detector.mean_ / detector.scale_, dtype=torch.float32, device=device)
    network = detector.network_
    network.eval()
    generator = detector._scoring_state(device)  # the detector's own seeded draws
    rows = detector._score_chunk_rows()
    raw = (np.ones(d) if detector.feature_weights is None
           else np.asarray(list(detector.feature_weights), dtype=np.float64))
    likelihood = detector._likelihood_weights()
    w_hat = np.ones(d) if likelihood is None else np.asarray(likelihood, dtype=np.float64)
    out = {name: np.empty((n, d)) for name in wanted}
    with torch.inference_mode():
        origin = torch.zeros((1, int(detector.latent_dim)), dtype=torch.float32, device=device)
        background = _numpy(detector._decode(network, origin)[0])
        for start in range(0, n, rows):
            chunk = np.ascontiguousarray(X[start:start + rows])
            check_finite_rows(chunk, start)
            batch = torch.addcmul(shift, torch.from_numpy(chunk).to(device, torch.float32),
                                  inverse)
            z_mu, z_logvar, kl = detector._latent(batch)
            x_mu, x_logvar = detector._decode(network, z_mu)
            sign = _numpy(detector._enrichment_sign(x_mu))
            s, x_hat = _numpy(batch), _numpy(x_mu)
            precision = np.exp(-_numpy(x_logvar))
            sampled = None
            if score in ("elbo", "rp", "nll"):
                sampled = _vae_draws(detector, batch, z_mu, z_logvar, generator, w_hat, score)
            for name in wanted:
                terms, latent, shares = _terms(name, s, x_hat, precision, raw, w_hat,
                                               _numpy(kl), x_hat - background, sign, sampled)
                out[name][start:start + s.shape[0]] = _assemble(terms, latent, shares)
    values = _pick_combined(detector, out) if score == "combined" else out[score]
    return values, _method("VAE", score)


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().to("cpu").double().numpy()


def _vae_draws(detector, batch, z_mu, z_logvar, generator, w_hat, score):
    """The draws of the detector's sampled scores, made as it makes them (one randn of shape
    (L, rows, latent) per chunk from the same generator): per-feature weighted Gaussian
    log-likelihoods (L, n, d) and, for "nll", log p(z) - log q(z|x) per draw."""
    import torch

    eps = torch.randn((int(detector.n_samples), *z_mu.shape), generator=generator,
                      device=z_mu.device, dtype=z_mu.dtype)
    z = z_mu + (0.5 * z_logvar).exp() * eps
    x_mu, x_logvar = detector._decode(detector.network_, z)
    per_feature = -0.5 * (_LOG_2PI + x_logvar + (batch - x_mu).square() * (-x_logvar).exp())
    log_lik = _numpy(per_feature) * w_hat
    extra = None
    if score == "nll":
        log_prior = -0.5 * (z.square() + _LOG_2PI).sum(dim=-1)
        log_q = -0.5 * (eps.square() + _LOG_2PI + z_logvar).sum(dim=-1)
        extra = _numpy(log_prior - log_q)
    return log_lik, extra


# -- PPCA --------------------------------------------------------------------------------------

def _ppca(detector, X):
    from sklearn.utils.validation import check_is_fitted

    from .base import check_matrix
    from .ppca import SCORE_CHUNK_ROWS

    check_is_fitted(detector, "components_")
    X = check_matrix(X, n_features=detector.n_features_in_)
    score = detector.score
    wanted = ("enrich", "enrich-kl") if score == "combined" else (score,)
    post = detector._posterior()
    W, sigma2 = post["W"], post["sigma2"]
    n, d = X.shape
    w = detector._weights(d)
    w_hat = w * d / w.sum()
    precision = np.full(d, 1.0 / sigma2)
    draws = None
    rows = SCORE_CHUNK_ROWS
    if score in ("rp", "nll"):  # the detector's K draws, the same for every row
        eps = np.random.default_rng(int(detector.seed)).standard_normal(
            (int(detector.n_samples), post["q"]))
        offset = eps @ post["chol"].T
        draws = (eps, offset, offset @ W.T)
        rows = max(16, SCORE_CHUNK_ROWS // int(detector.n_samples))
    out = {name: np.empty((n, d)) for name in wanted}
    for start in range(0, n, rows):
        S = (X[start:start + rows] - detector.mean_) / detector.scale_
        m = S @ post["proj"]
        x_hat = m @ W.T
        kl = 0.5 * np.einsum("ik,ik->i", m, m) + post["kl_const"]
        sign = np.sign(x_hat @ w)
        sampled = None
        if score == "elbo":  # closed form: the expected squared residual adds W S W^T
            residual = S - x_hat
            terms = w_hat * (np.square(residual) + post["decoder_var"]) / (2.0 * sigma2) \
                + w_hat * 0.5 * math.log(2.0 * math.pi * sigma2)
            shares = _latent_shares(x_hat, precision, w, 0)
            out[score][start:start + S.shape[0]] = _assemble(terms, kl, shares)
            continue
        if draws is not None:
            sampled = _ppca_draws(S - x_hat, m, post, draws, w_hat, score)
        for name in wanted:
            terms, latent, shares = _terms(name, S, x_hat, precision, w, w_hat, kl, x_hat,
                                           sign, sampled)
            out[name][start:start + S.shape[0]] = _assemble(terms, latent, shares)
    values = _pick_combined(detector, out) if score == "combined" else out[score]
    return values, _method("PPCA", score)


def _ppca_draws(residual, m, post, draws, w_hat, score):
    """Per-feature log-likelihoods (L, n, d) of z_k = m + L eps_k (the draws of the PPCA's
    "rp" / "nll") and, for "nll", log p(z_k) - log q(z_k|s)."""
    eps, offset, B = draws
    sigma2 = post["sigma2"]
    diff = residual[None, :, :] - B[:, None, :]
    log_lik = -0.5 * w_hat * (np.square(diff) / sigma2 + math.log(2.0 * math.pi * sigma2))
    extra = None
    if score == "nll":
        extra = (-0.5 * (np.einsum("ik,ik->i", m, m)[:, None] + 2.0 * m @ offset.T
                         + np.einsum("kq,kq->k", offset, offset)[None, :])
                 + 0.5 * np.einsum("kq,kq->k", eps, eps)[None, :] + 0.5 * post["logdet"]).T
    return log_lik, extra


# -- autoencoder, MCD, PCA ---------------------------------------------------------------------

def _autoencoder(detector, X):
    import torch
    from sklearn.utils.validation import check_is_fitted

    from .base import check_finite_rows, check_matrix

    check_is_fitted(detector, "network_")
    X = check_matrix(X, n_features=detector.n_features_in_, dtype=None, check_finite=False)
    n, d = X.shape
    device = torch.device(detector.device_)
    inverse = torch.as_tensor(1.0 / detector.scale_, dtype=torch.float32, device=device)
    shift = torch.as_tensor(-detector.mean_ / detector.scale_, dtype=torch.float32, device=device)
    weights = (np.ones(d) if detector.feature_weights is None
               else np.asarray(list(detector.feature_weights), dtype=np.float64))
    detector.network_.eval()
    out = np.empty((n, d))
    rows = detector._score_chunk_rows()
    with torch.inference_mode():
        for start in range(0, n, rows):
            chunk = np.ascontiguousarray(X[start:start + rows])
            check_finite_rows(chunk, start)
            batch = torch.addcmul(shift, torch.from_numpy(chunk).to(device, torch.float32),
                                  inverse)
            error = batch - detector.network_(batch)
            if detector.score == "enrich":
                error = error.clamp_min(0.0)
            out[start:start + chunk.shape[0]] = _numpy(error.square()) * weights
    return out, _method("autoencoder", detector.score)


def mahalanobis_contributions(centred: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """c_j = (x - m)_j [P (x - m)]_j per row: they sum to the squared Mahalanobis distance."""
    return centred * (centred @ precision)


#: rows at a time for the float64 closed-form detectors
_CLASSIC_CHUNK_ROWS = 8192


def _mcd(detector, X):
    from sklearn.utils.validation import check_is_fitted

    from .base import check_matrix

    check_is_fitted(detector, "precision_")
    X = check_matrix(X, n_features=detector.n_features_in_)
    out = np.empty(X.shape)
    for start in range(0, X.shape[0], _CLASSIC_CHUNK_ROWS):
        chunk = X[start:start + _CLASSIC_CHUNK_ROWS]
        out[start:start + chunk.shape[0]] = mahalanobis_contributions(
            chunk - detector.location_, detector.precision_)
    return out, ("Each number is the element's part of the squared robust Mahalanobis distance "
                 "(MCD), (x - m)_j times [P (x - m)]_j; a sample's numbers sum to its score. A "
                 "negative number marks an element closer to the background than its "
                 "correlations with the others predict.")


def mcd_clr_contributions(detector, clr: np.ndarray, basis: np.ndarray, center, scale
                          ) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-element parts of MCD's squared distance when it was fitted on scaled ilr balances
    z = (clr @ basis - center) / scale: with e = clr - clr0, where clr0 = basis (center +
    scale * location) is the background's composition, d^2 = e' A e for A = basis S^-1 P S^-1
    basis', so e_j (A e)_j are one number per element that sum to d^2 exactly (the basis is
    orthonormal and both clr vectors lie in its plane). (n, D) numbers, (n, D) clr above the
    background's, and their sentence."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(detector, "precision_")
    basis = np.asarray(basis, dtype=np.float64)
    inverse = 1.0 / np.asarray(scale, dtype=np.float64)
    reference = basis @ (np.asarray(center, dtype=np.float64)
                         + np.asarray(scale, dtype=np.float64) * detector.location_)
    A = (basis * inverse) @ detector.precision_ @ (basis * inverse).T
    clr = np.asarray(clr, dtype=np.float64)
    out = np.empty(clr.shape)
    for start in range(0, clr.shape[0], _CLASSIC_CHUNK_ROWS):
        chunk = clr[start:start + _CLASSIC_CHUNK_ROWS]
        out[start:start + chunk.shape[0]] = mahalanobis_contributions(chunk - reference, A)
    return out, clr > reference, (
                 "Each number is the element's part of the squared robust Mahalanobis distance "
                 "(MCD, fitted on ilr balances), taken back to the elements' clr values: "
                 "(c - c0)_j [A (c - c0)]_j, c0 the background's composition; a sample's "
                 "numbers sum to its score. A negative number marks an element closer to the "
                 "background than its correlations with the others predict.")


def _pca(detector, X):
    from sklearn.utils.validation import check_is_fitted

    from .base import check_matrix

    check_is_fitted(detector, "components_")
    X = check_matrix(X, n_features=detector.n_features_in_)
    out = np.empty(X.shape)
    components = detector.components_
    for start in range(0, X.shape[0], _CLASSIC_CHUNK_ROWS):
        centred = X[start:start + _CLASSIC_CHUNK_ROWS] - detector.mean_
        residual = centred - (centred @ components.T) @ components
        out[start:start + centred.shape[0]] = np.square(residual)
    return out, ("Each number is the element's squared PCA reconstruction error (the part the "
                 "kept components do not explain); a sample's numbers sum to its score.")


# -- features back to elements -----------------------------------------------------------------

def element_contributions(contrib, feature_names, elements) -> np.ndarray | None:
    """(n, m) contributions per element of ``elements``, or None without a mapping.

    ``contrib``: a :class:`Contributions` or an (n, p) array; ``feature_names``: its p names
    (None = ``contrib.feature_names``).  Mappings: a feature named as an element (log10, clr,
    none, and the spectrum-area filter, which keeps the names) is that element; an alr feature
    "A/R" goes wholly to its numerator A (the reference R is the common denominator of every
    feature); elements without a feature get 0.  ilr balances return None: a balance contrasts
    one part with the geometric mean of all later parts, so a part late in the order is in
    every balance, and no split of a balance's contribution without the model is right for
    every part.
    """
    values = contrib.values if isinstance(contrib, Contributions) else np.asarray(contrib)
    if feature_names is None:
        if not isinstance(contrib, Contributions):
            raise InputError("give the feature names of the contributions.")
        feature_names = contrib.feature_names
    names = [str(f) for f in feature_names]
    elements = [str(e) for e in elements]
    if values.ndim != 2 or values.shape[1] != len(names):
        raise InputError(f"the contributions have shape {values.shape} but {len(names)} "
                         "feature names were given; give one name per column.")
    position = {e: i for i, e in enumerate(elements)}
    targets = []
    for name in names:
        if name in position:
            targets.append(position[name])
        elif "/" in name and name.split("/", 1)[0] in position and \
                name.split("/", 1)[1] in position:
            targets.append(position[name.split("/", 1)[0]])
        else:  # ilr balances, or names that are not elements: no mapping
            return None
    if len(set(targets)) != len(targets):
        return None
    out = np.zeros((values.shape[0], len(elements)))
    out[:, targets] = values
    return out


# -- the descriptive fallback ------------------------------------------------------------------

def log_background(logs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, spread) per column of log10 concentrations (NaN = missing): the median and
    1.4826 x MAD; a zero MAD (a column mostly at one substituted detection limit) falls back to
    IQR / 1.349, then the standard deviation, then 1."""
    centre = np.full(logs.shape[1], np.nan)
    spread = np.full(logs.shape[1], np.nan)
    for j in range(logs.shape[1]):  # a column at a time: 4x faster than median(axis=0)
        column = logs[:, j]
        column = column[~np.isnan(column)]
        if column.size:
            centre[j] = np.median(column)
            spread[j] = _MAD_TO_SD * np.median(np.abs(column - centre[j]))
    flat = ~(spread > 0)
    if flat.any():
        with np.errstate(all="ignore"):
            q75, q25 = np.nanpercentile(logs[:, flat], [75, 25], axis=0)
            for fallback in ((q75 - q25) / _IQR_TO_SD, np.nanstd(logs[:, flat], axis=0)):
                spread[flat] = np.where(spread[flat] > 0, spread[flat], fallback)
    return centre, np.where(spread > 0, spread, 1.0)


def background_excess(raw_positive_values: pd.DataFrame) -> pd.DataFrame:
    """Robust z of log10 concentration per element: (log10 x - median) / (1.4826 MAD), medians
    over the survey (a zero MAD falls back to IQR / 1.349, then the standard deviation, then 1).

    Descriptive, not a model attribution (``BACKGROUND_EXCESS_METHOD``): for the detectors
    without contributions.  Missing values stay missing; values <= 0 are refused.
    """
    if not isinstance(raw_positive_values, pd.DataFrame):
        raise InputError("background_excess needs a table (DataFrame) of concentrations.")
    values = raw_positive_values.to_numpy(dtype=np.float64)
    bad = ~(values > 0) & ~np.isnan(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"element '{raw_positive_values.columns[col]}' holds "
                         f"{values[row, col]:g} at row {row}; background excess needs positive "
                         "concentrations (clean the survey first).")
    logs = np.log10(values)
    centre, spread = log_background(logs)
    return pd.DataFrame((logs - centre) / spread, index=raw_positive_values.index,
                        columns=raw_positive_values.columns)


# -- naming the leading elements ---------------------------------------------------------------

def _matrix_and_names(matrix, names):
    if isinstance(matrix, pd.DataFrame):
        names = [str(c) for c in matrix.columns] if names is None else names
        matrix = matrix.to_numpy(dtype=np.float64)
    values = np.asarray(matrix, dtype=np.float64)
    if names is None or values.ndim != 2 or values.shape[1] != len(names):
        raise InputError("give one name per column of the contribution matrix.")
    return values, [str(n) for n in names]


#: rows named at a time: the temporaries stay a few MB whatever the survey's size
_NAMING_CHUNK_ROWS = 65536


def _ranked(values: np.ndarray, k: int, among: np.ndarray | None = None):
    """Per row: the up to k largest positive values in order (n, k) (0 where fewer are
    positive), their column indices (n, k), and the row's positive total (n,); with
    ``among`` ((n, m) bool) only those columns are named, the total still counts all."""
    k = min(max(int(k), 0), values.shape[1])
    n = values.shape[0]
    top = np.zeros((n, k))
    order = np.zeros((n, k), dtype=np.int64)
    total = np.zeros(n)
    for start in range(0, n, _NAMING_CHUNK_ROWS):
        block = values[start:start + _NAMING_CHUNK_ROWS]
        positive = np.where(np.isfinite(block) & (block > 0), block, 0.0)
        total[start:start + len(block)] = positive.sum(axis=1)
        if among is not None:
            positive = np.where(among[start:start + len(block)], positive, 0.0)
        if k == 0:
            continue
        if k < block.shape[1]:  # the k largest, then in order: no full sort of every row
            idx = np.argpartition(-positive, k - 1, axis=1)[:, :k]
            idx.sort(axis=1)  # ties keep the column order, as a stable sort would
        else:
            idx = np.broadcast_to(np.arange(k), (len(block), k)).copy()
        vals = np.take_along_axis(positive, idx, axis=1)
        within = np.argsort(-vals, axis=1, kind="stable")
        order[start:start + len(block)] = np.take_along_axis(idx, within, axis=1)
        top[start:start + len(block)] = np.take_along_axis(vals, within, axis=1)
    return top, order, total


def top_elements(matrix, names=None, k: int = 3, among=None) -> list[str]:
    """Per row, the k elements with the largest positive contribution, as "Cu, Zn, Pb"
    ("" when no contribution is positive); ``among`` ((n, m) bool) limits the candidates."""
    return top_elements_and_shares(matrix, names, k, among)[0]


def top_element_shares(matrix, names=None, k: int = 3, among=None) -> list[str]:
    """Per row, the same elements with their share of the row's positive total, as
    "Cu 52%, Zn 30%, Pb 9%" ("" when no contribution is positive)."""
    return top_elements_and_shares(matrix, names, k, among)[1]


def top_elements_and_shares(matrix, names=None, k: int = 3, among=None
                            ) -> tuple[list[str], list[str]]:
    """Both lists above from one ranking of the rows (a million rows rank in about a second)."""
    values, names = _matrix_and_names(matrix, names)
    top, order, total = _ranked(values, k, None if among is None else np.asarray(among, bool))
    picked = np.asarray(names, dtype=object)[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.rint(np.where(total[:, None] > 0, 100.0 * top / total[:, None], 0.0))
    suffix = np.asarray([f" {p}%" for p in range(101)], dtype=object)[percent.astype(np.int64)]
    return _joined(picked, top > 0), _joined(picked + suffix, top > 0)


def _joined(parts: np.ndarray, keep: np.ndarray) -> list[str]:
    """Per row, the kept entries of ``parts`` (n, k) joined by ", " -- as whole columns of
    strings, not row by row: a million rows take a second, not ten."""
    if parts.shape[1] == 0:
        return [""] * parts.shape[0]
    out = np.where(keep[:, 0], parts[:, 0], "")
    for j in range(1, parts.shape[1]):  # positives come first, so a kept entry follows one
        out = np.where(keep[:, j], out + ", " + parts[:, j], out)
    return out.tolist()
