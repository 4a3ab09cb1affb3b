"""The detector registry: one entry per model drives everything that names models.

The pipeline builds a detector from its entry (``parameters``), the CLI lists the entries in
``--model``'s help, ``compare`` runs the entries marked ``in_compare``, the run's description of
the score comes from ``describe``, and the benchmark runs every entry. So a new detector is one
module (the class, following ``detect.base.Detector``) plus one ``DetectorSpec`` below.

Builders receive the resolved run configuration (any object with RunConfig's attributes: this
module does not import geoanomaly.config, which imports it), the feature names, the score the
model uses (``effective_score``) and the target weights of the features (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import InputError
from .autoencoder import AutoencoderDetector
from .base import Detector
from .classic import IsolationForestDetector, MCDDetector, PCADetector, UnivariateDetector
from .ganomaly import GANomalyDetector
from .ganomaly_map import GANomalyMapDetector
from .igan import IGANDetector
from .infodan import InfoDANDetector
from .mcae import MCAEDetector
from .pccae import PCCAEDetector
from .pcvae import PCVAEDetector
from .ppca import PPCADetector
from .ppf_cnn import PPFCNNDetector
from .ssmvae import SSMVAEDetector
from .vae import SCORES as PROBABILISTIC_SCORES
from .vae import VAEDetector

#: the AE has no latent density: its scores are the reconstruction ones
RECONSTRUCTION_SCORES = ("recon", "enrich")

#: the score a one-score-kind model falls back to when asked for the run's default score
FALLBACK_SCORE = "enrich"


@dataclass(frozen=True)
class DetectorSpec:
    """What the rest of the package needs to know about one detector."""

    name: str
    cls: type[Detector]
    summary: str
    """one line for --help and the README"""
    parameters: Callable[..., dict]
    """(config, feature_names, score, weights) -> the detector's constructor parameters"""
    describe: Callable[..., str]
    """(config, score) -> what the score is, in words (reports, metrics.json)"""
    scores: tuple[str, ...] = ()
    """the --score values it takes (empty: one fixed score)"""
    seeded: bool = False
    """different seeds give different fits, so ensembles of it make sense"""
    architecture: bool = False
    """has hidden layers (--hidden, --ensemble-architectures)"""
    full_rank: bool = False
    """needs full-rank features: clr is replaced by ilr for it"""
    needs_target: bool = False
    """needs --target (it scores the target element)"""
    in_compare: bool = True
    """run by ``compare`` when no --models are given"""
    spatial_context_in_benchmark: bool = False
    """the benchmark runs it with the package's spatial context (the VAE family), not raw (the
    simple baselines, as BASELINES.md ran them)"""
    simple_baseline: bool = False
    """one of the simple baselines every method must beat (also run on all elements)"""
    input_kind: str = "features"
    """what ``fit`` takes: "features" (the transformed, scaled rows) or "composition" (the
    cleaned positive concentrations, for a model that does its own log-ratio transform)"""
    guidance: str = "none"
    """what it learns from besides the chemistry: "none" (unsupervised), "prior" (a geology
    prior from --control, with the controlling function fitted on deposits in spatial folds or
    from geology alone: knowledge-guided) or "labels" (deposit labels in spatial folds:
    supervised); guided.py runs the last two"""
    notes: tuple[str, ...] = field(default_factory=tuple)
    size_rule: str = "none"
    """how many samples it needs beyond the run's minimum: "deep" (a network trained with early
    stopping on a held-out tenth: DEEP_MIN_SAMPLES) or "covariance" (a covariance matrix of the
    features: COVARIANCE_SAMPLES_PER_FEATURE per feature); map models check their windows"""


# -- builders -------------------------------------------------------------------------------

def _deep(config, feature_names, score, weights) -> dict:
    params = dict(score=score, hidden=tuple(config.hidden), latent_dim=config.latent_dim,
                  epochs=config.epochs, learning_rate=config.learning_rate,
                  patience=config.patience, validation_fraction=config.validation_fraction,
                  seed=config.seed, device=config.device, progress=config.progress)
    if config.batch_size:
        params["batch_size"] = config.batch_size
    if weights is not None:
        params["feature_weights"] = weights
    return params


def _vae(config, feature_names, score, weights) -> dict:
    return {**_deep(config, feature_names, score, weights), "beta": config.beta,
            "n_samples": config.n_samples}


def _pcvae(config, feature_names, score, weights) -> dict:
    return {**_vae(config, feature_names, score, weights), "lam": config.control_weight}


def _ppca(config, feature_names, score, weights) -> dict:
    params = dict(score=score, latent_dim=config.latent_dim, seed=config.seed,
                  n_samples=config.n_samples)
    if weights is not None:
        params["feature_weights"] = weights
    return params


def _seed_only(config, feature_names, score, weights) -> dict:
    return {"seed": config.seed}


def _no_parameters(config, feature_names, score, weights) -> dict:
    return {}


def _ganomaly(config, feature_names, score, weights) -> dict:
    """The run's architecture, epochs and seed; the published optimiser (Adam 2e-4, beta1 0.5)
    and the detector's own patience, not the VAE's --learning-rate / --patience."""
    params = dict(hidden=tuple(config.hidden), latent_dim=config.latent_dim, epochs=config.epochs,
                  validation_fraction=config.validation_fraction, seed=config.seed,
                  device=config.device, progress=config.progress)
    if config.batch_size:
        params["batch_size"] = config.batch_size
    return params


def _map_model(epoch_cap: int, *, guided: bool = False):
    """Builder of a map model: its own epoch cap (--epochs, whose default 200 is the VAE's, can
    only lower it), the seed and device; a guided one also takes --control-weight."""
    def build(config, feature_names, score, weights) -> dict:
        params = dict(epochs=min(int(config.epochs), epoch_cap), seed=config.seed,
                      device=config.device, progress=config.progress)
        if guided:
            params["lam"] = config.control_weight
        return params
    return build


def _infodan(config, feature_names, score, weights) -> dict:
    params = dict(seed=config.seed, device=config.device, progress=config.progress)
    return params


def _univariate(config, feature_names, score, weights) -> dict:
    from ..targets import PATHFINDERS, target_element

    target = config.target
    if target.lower() in PATHFINDERS:
        target = target_element(target, feature_names) or target
    matches = [i for i, f in enumerate(feature_names) if f == target]
    if not matches:
        raise InputError(f"Target element {target!r} is not among the features used "
                         f"({', '.join(feature_names)}); pick one of them with --target.")
    return {"feature": matches[0], "feature_names": list(feature_names)}


# -- descriptions ---------------------------------------------------------------------------

def _probabilistic_words(name: str, score: str, n_samples: int) -> str:
    return {"recon": f"{name} reconstruction error of the decoded latent mean",
            "enrich": f"{name} enrichment-only reconstruction error (elements above their "
                      "reconstruction)",
            "rp": f"{name} -log reconstruction probability (An & Cho 2015, L={n_samples})",
            "kl": f"{name} latent KL divergence from the prior",
            "enrich-kl": f"{name} latent KL divergence, signed by the side of the background "
                         "it lies on (enriched positive)",
            "elbo": f"{name} negative ELBO (L={n_samples})",
            "enrich-elbo": f"{name} one-sided negative ELBO (enrichment above the "
                           "reconstruction + KL of an enriched latent code)",
            "nll": f"{name} importance-weighted -log p(x) (K={n_samples})",
            "combined": f"{name} larger training rank of the enrichment-only error and the "
                        "signed latent KL"}[score]


def _words(name):
    return lambda config, score: _probabilistic_words(name, score, config.n_samples)


def _fixed(text):
    return lambda config, score: text


#: a deep network on sample rows holds out a tenth for early stopping: below 100 samples that
#: is fewer than 10 rows, so stopping follows noise, while the network's ~1,000 weights (the
#: 24-12-3 VAE) can fit the rest exactly
DEEP_MIN_SAMPLES = 100
#: a covariance estimate wants n > 5p (Rousseeuw & Van Driessen 1999, FAST-MCD: "n/p > 5")
COVARIANCE_SAMPLES_PER_FEATURE = 5


def minimum_samples(name: str, n_features: int) -> tuple[int, str, str]:
    """(the fewest samples model ``name`` can be fitted on with ``n_features`` features, why,
    what to do instead); (0, "", "") when the run's own minimum is enough."""
    rule = spec(name).size_rule
    if rule == "deep":
        return (DEEP_MIN_SAMPLES, "its early stopping holds out a tenth of them, which must be "
                "at least 10", "use a model without a network, e.g. --model iforest (or mcd "
                "with few elements)")
    if rule == "covariance":
        return (COVARIANCE_SAMPLES_PER_FEATURE * n_features,
                f"a covariance matrix of {n_features} features needs "
                f"{COVARIANCE_SAMPLES_PER_FEATURE} samples per feature, Rousseeuw & Van "
                "Driessen 1999", "name fewer elements with --elements, or use --model iforest")
    return 0, "", ""


# -- the registry ---------------------------------------------------------------------------

REGISTRY: dict[str, DetectorSpec] = {spec.name: spec for spec in (
    DetectorSpec("vae", VAEDetector,
                 "variational autoencoder of Luo, Xiong & Zuo (2020), 24-12-3-12-24 (default)",
                 _vae, _words("VAE"), scores=PROBABILISTIC_SCORES, seeded=True,
                 architecture=True, spatial_context_in_benchmark=True,
                 size_rule="deep"),
    DetectorSpec("pcvae", PCVAEDetector,
                 "physically constrained VAE (Xiong et al. 2022): the VAE with a geological "
                 "prior (--control; the controlling function fitted on deposits in spatial "
                 "folds, or geology alone) as a penalty in its loss: KNOWLEDGE-GUIDED",
                 _pcvae, _words("PCVAE"), scores=PROBABILISTIC_SCORES, seeded=True,
                 architecture=True, spatial_context_in_benchmark=True, in_compare=False,
                 guidance="prior",
                 size_rule="deep"),
    DetectorSpec("ppca", PPCADetector,
                 "probabilistic PCA, the VAE's linear limit, with the same scores",
                 _ppca, _words("PPCA"), scores=PROBABILISTIC_SCORES,
                 spatial_context_in_benchmark=True,
                 size_rule="covariance"),
    DetectorSpec("ae", AutoencoderDetector,
                 "deep autoencoder (DAN, Xiong & Zuo 2016), reconstruction error",
                 _deep, lambda config, score: _probabilistic_words("autoencoder", score, 0),
                 scores=RECONSTRUCTION_SCORES, seeded=True, architecture=True,
                 spatial_context_in_benchmark=True,
                 size_rule="deep"),
    DetectorSpec("ganomaly", GANomalyDetector,
                 "GANomaly (Luo et al. 2021; Akcay et al. 2018) on sample vectors: "
                 "encoder-decoder-encoder generator, latent-distance score", _ganomaly,
                 _fixed("GANomaly squared distance between the two latent codes"),
                 seeded=True, architecture=True,
                 size_rule="deep"),
    DetectorSpec("ganomaly-map", GANomalyMapDetector,
                 "GANomaly on masked map windows (Luo et al. 2021; Akcay et al. 2018): "
                 "convolutional encoder-decoder-encoder generator, latent-distance score per "
                 "cell (a map model)", _map_model(30),
                 _fixed("GANomaly squared distance between the two latent codes of the map "
                        "window centred on the cell"),
                 seeded=True, input_kind="windows", in_compare=False),
    DetectorSpec("igan", IGANDetector,
                 "improved GAN (Zhang & Zuo 2021; its design is not published): a documented "
                 "stand-in, f-AnoGAN (WGAN-GP + encoder), on sample vectors", _ganomaly,
                 _fixed("f-AnoGAN izi_f score: squared residual x - G(E(x)) + critic-feature "
                        "residual (stand-in for Zhang & Zuo 2021)"),
                 seeded=True, architecture=True,
                 size_rule="deep"),
    DetectorSpec("infodan", InfoDANDetector,
                 "Info-DAN (Esmaeiloghli et al. 2023): ilr, Infomax ICA, min-max, tanh "
                 "autoencoder 32-24-16-8, reconstruction error", _infodan,
                 _fixed("Info-DAN reconstruction error of the min-max scaled Infomax sources"),
                 seeded=True, input_kind="composition",
                 size_rule="deep"),
    DetectorSpec("mcae", MCAEDetector,
                 "multi-convolutional autoencoder (Chen et al. 2019): one masked convolutional "
                 "AE per element on map windows sized by Moran's I (a map model)", _map_model(30),
                 _fixed("MCAE summed centre-cell reconstruction error of the whitened elements"),
                 seeded=True, input_kind="windows", in_compare=False),
    DetectorSpec("pccae", PCCAEDetector,
                 "local phase-constrained convolutional autoencoder (Liu et al. 2024): one "
                 "masked multi-channel convolutional AE on 9 x 9 map windows, loss = masked MSE + "
                 "adaptively weighted local Fourier phase difference (a map model)", _map_model(30),
                 _fixed("PC-CAE summed centre-cell reconstruction error of the standardised "
                        "elements"),
                 seeded=True, input_kind="windows", in_compare=False),
    DetectorSpec("ssmvae", SSMVAEDetector,
                 "geologically constrained VAE with a spectrum-separable module (Zhao et al. "
                 "2023): depthwise + pointwise convolutions on map windows, the geological prior "
                 "of pcvae in its loss: KNOWLEDGE-GUIDED (a map model)",
                 _map_model(30, guided=True),
                 _fixed("SSMVAE one-sided negative log-likelihood of the window's centre cell "
                        "(elements above their reconstruction)"),
                 seeded=True, input_kind="windows", in_compare=False, guidance="prior"),
    DetectorSpec("ppf-cnn", PPFCNNDetector,
                 "CNN with pixel-pair features (Zhang, Zuo & Xiong 2021; Li et al. 2017): "
                 "SUPERVISED on deposit cells, spatially blocked folds, out-of-fold map "
                 "(a map model)", _map_model(40),
                 _fixed("PPF-CNN mean probability of the deposit class over each cell's pairs "
                        "with its 8 neighbours (supervised, out-of-fold)"),
                 seeded=True, input_kind="windows", in_compare=False, guidance="labels"),
    DetectorSpec("mcd", MCDDetector, "robust Mahalanobis distance (Minimum Covariance "
                 "Determinant)", _seed_only, _fixed("robust Mahalanobis distance (MCD)"),
                 full_rank=True, simple_baseline=True,
                 size_rule="covariance"),
    DetectorSpec("pca", PCADetector, "PCA reconstruction error", _no_parameters,
                 _fixed("PCA reconstruction error"), simple_baseline=True,
                 size_rule="covariance"),
    DetectorSpec("iforest", IsolationForestDetector, "Isolation Forest", _seed_only,
                 _fixed("Isolation Forest anomaly score"), seeded=True, simple_baseline=True),
    DetectorSpec("univariate", UnivariateDetector,
                 "the target element alone (needs --target)", _univariate,
                 lambda config, score: f"transformed {config.target}", needs_target=True,
                 simple_baseline=True),
)}

MODELS: tuple[str, ...] = tuple(REGISTRY)
#: model -> the --score values it takes (models with one fixed score are absent)
SCORES: dict[str, tuple[str, ...]] = {n: s.scores for n, s in REGISTRY.items() if s.scores}
SEEDED_MODELS: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.seeded)
ARCHITECTURE_MODELS: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.architecture)


def spec(name: str) -> DetectorSpec:
    """The registry entry of ``name``; an InputError naming the valid ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def effective_score(model: str, score: str, default_score: str) -> str:
    """The score ``model`` uses when asked for ``score``: a model without a latent density falls
    back from the run's default (a latent-aware score) to "enrich", its one-sided
    reconstruction part; any other score it lacks is left for the config check to reject."""
    allowed = SCORES.get(model)
    if allowed is None or score in allowed:
        return score
    return FALLBACK_SCORE if score == default_score and FALLBACK_SCORE in allowed else score


def models_help() -> str:
    """One line per registered model, for --help."""
    return "; ".join(f"{name} = {s.summary}" for name, s in REGISTRY.items())
