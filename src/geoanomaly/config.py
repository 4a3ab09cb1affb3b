"""The resolved run configuration: one flat, documented set of options.

The CLI, a ``--config FILE.yaml`` and the Python API all fill the same :class:`RunConfig`, so every
option has one name everywhere (``--batch-size`` on the command line is ``batch_size`` in YAML and
in ``geoanomaly.run(...)``). The resolved config is written to ``run.yaml`` with every output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

from .detect.registry import MODELS, PROBABILISTIC_SCORES, REGISTRY, SCORES, SEEDED_MODELS
from .detect.registry import effective_score as _registry_effective_score
from .errors import InputError
from .targets import TARGET_ELEMENT_POLICIES

# MODELS, SCORES (model -> its --score values) and SEEDED_MODELS (models whose fit depends on
# the seed, so an --ensemble of them means something) come from the detector registry.
__all__ = ["MODELS", "PROBABILISTIC_SCORES", "SCORES", "SEEDED_MODELS", "RunConfig",
           "make_config", "check_config", "load_config_file", "effective_score"]
TRANSFORMS = ("auto", "none", "log10", "clr", "ilr")
THRESHOLDS = ("percentile", "mad", "ca", "t")
PROTOCOLS = ("samples", "opengad", "opengad-stratified")


@dataclass
class RunConfig:
    """Every option of a run. Defaults are the documented choices of docs/DESIGN.md."""

    # --- inputs -------------------------------------------------------------------------
    sources: list[str] = field(default_factory=list)
    """Survey file(s): one table (CSV, TSV, XLSX, Parquet, GeoPackage, Shapefile), or GeoTIFFs / a folder."""
    out: str | None = None
    """Output folder (created if missing)."""
    deposits: str | None = None
    """Known deposits (CSV with x/y or lon/lat, GeoPackage, Shapefile), used ONLY for validation."""
    deposits_crs: str | None = None
    """CRS of a deposits CSV when it is not lon/lat and differs from the survey's."""
    deposits_x: str | None = None
    """x / longitude column of the deposits table (auto-detected when omitted)."""
    deposits_y: str | None = None
    """y / latitude column of the deposits table (auto-detected when omitted)."""
    x: str | None = None
    """Name of the x / easting / longitude column (auto-detected when omitted)."""
    y: str | None = None
    """Name of the y / northing / latitude column (auto-detected when omitted)."""
    crs: str | None = None
    """CRS of the survey when the file carries none (e.g. EPSG:32750); lon/lat is recognised."""
    elements: list[str] | None = None
    """Elements to use (names or column names); default: every recognised element column."""

    target: str | None = None
    """Target commodity (Au, Cu, Fe-poly, Li, Ni, W, Pb-Zn): picks its pathfinder elements
    (see geoanomaly.targets, each set with its citation) and the univariate model's element."""
    target_elements: str = "auto"
    """How --target shapes the features: auto | pathfinders | suite | weighted-suite
    (geoanomaly.targets.TARGET_ELEMENT_POLICIES says what each keeps and weighs)."""
    level_by: str | None = None
    """Column of survey / lab batch ids: each element is levelled to a common median per batch
    before the transform (for surveys that mix lab methods)."""

    # --- clean --------------------------------------------------------------------------
    below_detection: str = "half"
    """Replacement of below-detection values: half | sqrt2 | limit | factor."""
    below_detection_factor: float = 0.5
    """Factor of the detection limit when below_detection = factor."""
    max_missing: float = 0.4
    """Elements with a larger fraction of missing values are dropped."""
    drop_duplicates: bool = True
    """Drop exact duplicate samples (same position and assays)."""
    min_detected: float = 0.1
    """Elements detected (above the limit, non-zero) in fewer than this fraction of rows are dropped."""

    # --- transform ----------------------------------------------------------------------
    transform: str = "auto"
    """auto | log10 | clr | ilr | none. auto = clr on a broad suite (10 elements or more), log10
    on fewer: a clr over a few pathfinders divides by their own geometric mean and so cancels the
    co-enrichment that marks mineralisation (docs/DESIGN.md). It follows the data, not the flags."""
    filter: str | None = None
    """sa = spectrum-area fractal filter (grids): each transformed feature map is replaced by
    its S-A anomaly component before any detector (grid/spectrum_area.py); None = off."""
    scale: str = "robust"
    """Per-feature standardisation after the transform: robust | standard | none."""

    # --- detect -------------------------------------------------------------------------
    model: str = "vae"
    """Detector: vae | ae | ppca (| mcd | pca | iforest | univariate); registered models joined
    by + (e.g. vae+mcd) are fused: the mean of their percentile ranks (geoanomaly.ensemble)."""
    score: str = "enrich-elbo"
    """VAE / PPCA score: recon | enrich | rp | kl | enrich-kl | elbo | enrich-elbo | nll |
    combined (detect/vae.py says what each sees). Default enrich-elbo: it sees enrichment off and
    along the background structure; chosen leave-one-dataset-out (docs/DESIGN.md). The AE has
    no latent distribution: it takes recon | enrich, and the default becomes enrich for it."""
    seed: int = 0
    """One seed for everything: same seed, same scores."""
    device: str = "cpu"
    """cpu | cuda | auto."""
    hidden: list[int] = field(default_factory=lambda: [24, 12])
    """Encoder hidden layers (the decoder mirrors them)."""
    latent_dim: int = 3
    beta: float = 1.0
    """Weight of the KL term of the VAE (1 = the ELBO)."""
    epochs: int = 200
    batch_size: int | None = None
    """Mini-batch size; None = the model's documented default."""
    learning_rate: float = 1e-3
    patience: int = 20
    """Early stopping: epochs without improvement of the held-out loss."""
    validation_fraction: float = 0.1
    n_samples: int = 50
    """Latent draws L (K) of the sampled scores: rp, elbo, nll."""

    ensemble: int = 1
    """Members per seeded detector (vae, ae, iforest): seeds seed .. seed+N-1; the score is the
    mean of the members' percentile ranks and score_std (uncertainty.tif) their standard
    deviation. Refused (N > 1) for a deterministic model alone (ppca, mcd, pca, univariate)."""
    ensemble_architectures: list[list[int]] | None = None
    """Hidden layers the vae / ae members cycle through (e.g. [[24, 12], [32, 16]]; on the
    command line 24-12,32-16); needs ensemble >= the number of architectures."""
    fusion_weights: list[float] | None = None
    """Weights of the detectors of a fused model (vae+mcd: e.g. [2, 1]), normalised to sum to
    one; each detector's weight is split over its members. None = equal."""

    train_away_from_deposits: float | None = None
    """Metres: fit the detector only on samples / cells at least this far from every known
    deposit (as Luo et al. 2021 trained GANomaly on non-mineralised samples). The deposits then
    shape the model, and every output says so. None = train on everything (unsupervised)."""
    control: list[str] | None = None
    """Geology for the knowledge-guided models (pcvae, ssmvae): vector files of intrusions,
    faults (distance to the nearest feature) or rasters (a 0/1 mask becomes a distance, any
    other raster is used as it is, higher = more favourable); resampled to the survey."""
    prior: str = "auto"
    """Prior of the knowledge-guided models: deposits (the controlling function, deposit
    density against distance, fitted inside spatial folds) | geology (the layers alone, no
    deposits) | auto (deposits when --deposits are given)."""
    control_weight: float = 1.0
    """Weight lambda of the geology penalty in the loss of pcvae / ssmvae (relative to the loss
    per feature). 1, not GK-DCN's 0.1: on the synthetic two-group check of
    tests/test_detect_pcvae.py (known truth, no real data looked at) 0.1 moved no score
    (rank gap -0.01 to -0.03), 1 moved them (0.16-0.26), 3 strongly (0.38-0.62)."""
    folds: int = 5
    """Spatially blocked folds of the models that learn from deposits (ppf-cnn; pcvae and
    ssmvae with --prior deposits)."""
    smooth_k: int | None = None
    """Spatial context: each score becomes the mean percentile rank over its k nearest samples
    (itself included), or on grids over the valid cells of the odd window of about k cells
    (9 = 3 x 3, 25 = 5 x 5). None = 8 for samples, 9 for grids; 0 = off."""

    # --- threshold ----------------------------------------------------------------------
    threshold: str = "percentile"
    """percentile | mad (| ca | t)."""
    percentiles: list[float] = field(default_factory=lambda: [90.0, 95.0, 99.0])
    mad_k: list[float] = field(default_factory=lambda: [2.0, 3.0])

    # --- validate -----------------------------------------------------------------------
    radius: float | None = None
    """Protocol "samples" for points: positives lie within this many metres of a deposit.
    None = twice the median sample spacing (reported in metrics.json)."""
    protocols: list[str] | None = None
    """Validation protocols: samples, opengad, opengad-stratified. None = samples and opengad,
    plus opengad-stratified when stratify_by is given."""
    stratify_by: str | None = None
    """Survey / lab-batch column for protocol opengad-stratified (e.g. WAMEX_A_NO)."""
    min_dist: float = 5000.0
    """OpenGADBench negatives lie at least this many metres from every deposit."""
    n_boot: int = 1000
    """Bootstrap resamples for AUC intervals."""

    # --- export -------------------------------------------------------------------------
    cell_size: float | None = None
    """Cell size (metres) of the interpolated map of a point survey and of the grid a map model
    sees; None = from the sample spacing (half of it for the map, all of it for a map model's
    grid: finer cells would hold only interpolated values)."""
    progress: bool = False
    """Show progress bars (training, and the windows of a streamed grid)."""

    # --- large grids --------------------------------------------------------------------
    stream: str = "auto"
    """Grids read, scored and written window by window instead of whole: on | off | auto
    (auto: when cells x bands exceed stream.STREAM_AUTO_VALUES, about 1.3 M cells of 39 bands,
    beyond which the in-memory path needs several GB). Only for grids (GeoTIFFs)."""
    stream_sample: int = 200_000
    """Cells of a streamed grid that cleaning, the transform's statistics and the model are
    fitted on, and that percentile ranks and thresholds are read from (seeded; blocks drawn at
    random, cells uniformly within them). The effect of its size is in BENCHMARKS.md."""
    stream_window: int = 512
    """Side in cells of the windows a streamed grid is scored in (memory grows with its square)."""
    scheduler: str | None = None
    """Address of a Dask scheduler (tcp://host:8786): the windows of a streamed grid (or the
    rows of a table) are scored on its workers, which must read the same input paths; the
    result is the same bit for bit."""
    workers: int | None = None
    """Threads scoring the windows of a streamed grid locally; None = the cores available."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def effective_score(model: str, score: str) -> str:
    """The score a model uses for ``score``: the default (a latent-aware one-sided score) falls
    back to "enrich", its one-sided reconstruction part, on models without a latent density."""
    return _registry_effective_score(model, score, RunConfig.score)


def option_names() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def load_config_file(path: str | Path) -> dict:
    """Read a YAML config file into a dict of options, rejecting unknown keys by name."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"Config file {path} does not exist; check the path given to --config.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"Config file {path} is not valid YAML ({exc.__class__.__name__}); "
                         "fix its syntax.") from None
    if not isinstance(data, dict):
        raise InputError(f"Config file {path} must hold a mapping of option: value.")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(option_names()))
    if unknown:
        raise InputError(f"Config file {path} has unknown option(s) {', '.join(unknown)}; "
                         f"valid options are: {', '.join(option_names())}.")
    if isinstance(data.get("sources"), str):
        data["sources"] = [data["sources"]]
    return data


def make_config(base: dict | None = None, **overrides) -> RunConfig:
    """Merge file options and explicit options (explicit win) and check them."""
    merged = dict(base or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(merged) - set(option_names()))
    if unknown:
        raise InputError(f"Unknown option(s) {', '.join(unknown)}; valid options are: "
                         f"{', '.join(option_names())}.")
    if isinstance(merged.get("sources"), (str, Path)):
        merged["sources"] = [merged["sources"]]
    if "sources" in merged:
        merged["sources"] = [str(s) for s in merged["sources"]]
    if isinstance(merged.get("protocols"), str):
        merged["protocols"] = [p.strip() for p in merged["protocols"].split(",") if p.strip()]
    if isinstance(merged.get("elements"), str):
        merged["elements"] = [e.strip() for e in merged["elements"].split(",") if e.strip()]
    if isinstance(merged.get("fusion_weights"), str):
        merged["fusion_weights"] = _number_list(merged["fusion_weights"], "fusion_weights")
    if merged.get("ensemble_architectures") is not None:
        merged["ensemble_architectures"] = parse_architectures(merged["ensemble_architectures"])
    config = RunConfig(**merged)
    check_config(config)
    return config


def model_parts(model: str) -> list[str]:
    """The detectors of a model name: ``"vae+mcd"`` -> ``["vae", "mcd"]``."""
    return [p.strip() for p in str(model).split("+")]


def is_ensemble(config: RunConfig) -> bool:
    """Several members (seeds, architectures or fused detectors) instead of one detector."""
    return config.ensemble > 1 or len(model_parts(config.model)) > 1


def _number_list(text: str, name: str) -> list[float]:
    try:
        return [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise InputError(f"Option {name} = {text!r} must be numbers separated by commas, "
                         "e.g. 2,1.") from None


def parse_architectures(value) -> list[list[int]]:
    """``"24-12,32-16"``, ``["24-12", "32-16"]`` or ``[[24, 12], [32, 16]]`` -> lists of
    hidden-layer widths."""
    items = [t for t in value.split(",") if t.strip()] if isinstance(value, str) else value
    out = []
    try:
        for item in items:
            if isinstance(item, str):
                item = [t for t in item.replace("-", " ").split() if t]
            elif isinstance(item, int):
                item = [item]
            layers = [int(h) for h in item]
            if not layers or min(layers) < 1:
                raise ValueError
            out.append(layers)
    except (TypeError, ValueError):
        raise InputError(f"Option ensemble_architectures = {value!r} must list hidden-layer "
                         "widths per architecture, e.g. 24-12,32-16 (YAML: [[24, 12], "
                         "[32, 16]]).") from None
    if not out:
        raise InputError("Option ensemble_architectures is empty; list at least one "
                         "architecture, e.g. 24-12,32-16.")
    return out


def check_model(config: RunConfig) -> None:
    """The model name (one registered model or several joined by +) and the ensemble options."""
    parts = model_parts(config.model)
    if len(parts) == 1:
        if parts[0] not in MODELS:
            raise InputError(f"Option model = {config.model!r} is not one of "
                             f"{', '.join(MODELS)} (join several with + to fuse them, e.g. "
                             "vae+mcd).")
    else:
        unknown = [p for p in parts if p not in MODELS]
        if unknown:
            raise InputError(f"Option model = {config.model!r}: "
                             f"{', '.join(repr(p) for p in unknown)} "
                             f"{'is' if len(unknown) == 1 else 'are'} not one of "
                             f"{', '.join(MODELS)}; join registered models with +, e.g. "
                             "vae+mcd.")
        twice = sorted({p for p in parts if parts.count(p) > 1})
        if twice:
            raise InputError(f"Option model = {config.model!r} names {', '.join(twice)} more "
                             "than once; use --ensemble N for several fits of one model.")
        scored = [p for p in parts if p in SCORES]
        if scored and not any(effective_score(p, config.score) in SCORES[p] for p in scored):
            raise InputError(f"Option score = {config.score!r} is not a score of "
                             f"{' or '.join(scored)}; use one of "
                             f"{', '.join(SCORES[scored[0]])}.")
    if isinstance(config.ensemble, bool) or not isinstance(config.ensemble, int) \
            or config.ensemble < 1:
        raise InputError(f"Option ensemble = {config.ensemble!r} must be a whole number of "
                         "members, 1 or more.")
    if config.ensemble > 1 and not any(p in SEEDED_MODELS for p in parts):
        raise InputError(f"Model {config.model} is deterministic (the same data give the same "
                         f"fit whatever the seed), so --ensemble {config.ensemble} would repeat "
                         f"one score; use --ensemble with {', '.join(SEEDED_MODELS)}, or fuse "
                         f"with one of them (e.g. --model vae+{parts[0]}).")
    if config.ensemble_architectures is not None:
        n = len(config.ensemble_architectures)
        if not any(p in ("vae", "ae") for p in parts):
            raise InputError(f"Option ensemble_architectures sets hidden layers, which model "
                             f"{config.model} does not have; use it with vae or ae.")
        if config.ensemble < max(n, 2):
            raise InputError(f"Option ensemble_architectures lists {n} architecture"
                             f"{'s' if n > 1 else ''} but --ensemble is {config.ensemble}: set "
                             f"--ensemble {max(n, 2)} or more so that each is used (for one "
                             "architecture alone use --hidden).")
    if config.fusion_weights is not None:
        w = list(config.fusion_weights)
        if len(parts) == 1:
            raise InputError(f"Option fusion_weights weighs the detectors of a fused model "
                             f"such as vae+mcd, but model is {config.model}.")
        if len(w) != len(parts):
            raise InputError(f"Option fusion_weights has {len(w)} weight"
                             f"{'s' if len(w) != 1 else ''} for the {len(parts)} detectors of "
                             f"{config.model}; give one per detector, e.g. --fusion-weights "
                             f"{','.join(['1'] * len(parts))}.")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                   and v < float("inf") for v in w):
            raise InputError(f"Option fusion_weights = {w} must hold positive numbers.")


def check_config(config: RunConfig) -> None:
    """Reject impossible option values with one sentence each."""
    def choice(name, value, allowed):
        if value not in allowed:
            raise InputError(f"Option {name} = {value!r} is not one of {', '.join(allowed)}.")

    check_model(config)
    choice("transform", config.transform, TRANSFORMS)
    choice("stream", config.stream, ("auto", "on", "off"))
    if config.stream_window < 8:
        raise InputError(f"Option stream_window = {config.stream_window} is too small: give at "
                         "least 8 cells (default 512).")
    if config.workers is not None and config.workers < 1:
        raise InputError(f"Option workers = {config.workers} must be at least 1.")
    if config.filter is not None:
        choice("filter", config.filter, ("sa",))
    choice("target_elements", config.target_elements, TARGET_ELEMENT_POLICIES)
    choice("scale", config.scale, ("robust", "standard", "none"))
    choice("threshold", config.threshold, THRESHOLDS)
    choice("device", config.device, ("cpu", "cuda", "auto"))
    choice("below_detection", config.below_detection, ("half", "sqrt2", "limit", "factor"))
    if config.model in SCORES:
        choice(f"score (for model {config.model})", effective_score(config.model, config.score),
               SCORES[config.model])
    if not 0.0 < config.max_missing <= 1.0:
        raise InputError(f"Option max_missing = {config.max_missing} must lie in (0, 1].")
    if config.radius is not None and config.radius <= 0:
        raise InputError(f"Option radius = {config.radius} must be a positive distance in metres.")
    for name in config.protocols or []:
        choice("protocols", name, PROTOCOLS)
    if config.protocols and "opengad-stratified" in config.protocols and not config.stratify_by:
        raise InputError("Protocol opengad-stratified needs --stratify-by COLUMN (the survey or "
                         "lab-batch column, e.g. WAMEX_A_NO).")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise InputError(f"Option seed = {config.seed!r} must be a whole number, 0 or more.")
    if config.batch_size is not None and (isinstance(config.batch_size, bool) or
                                          not isinstance(config.batch_size, int) or
                                          config.batch_size < 1):
        raise InputError(f"Option batch_size = {config.batch_size!r} must be a number of rows, "
                         "1 or more (leave it out for the automatic size).")
    if config.smooth_k is not None and config.smooth_k < 0:
        raise InputError(f"Option smooth_k = {config.smooth_k} must be 0 (off) or a count of "
                         "neighbours.")
    choice("prior", config.prior, ("auto", "deposits", "geology"))
    if not (isinstance(config.control_weight, (int, float)) and config.control_weight >= 0):
        raise InputError(f"Option control_weight = {config.control_weight!r} must be 0 or a "
                         "positive weight.")
    if isinstance(config.folds, bool) or not isinstance(config.folds, int) or config.folds < 2:
        raise InputError(f"Option folds = {config.folds!r} must be a whole number, 2 or more.")
    if isinstance(config.control, str):
        config.control = [config.control]
    guided = [p for p in model_parts(config.model)
              if p in REGISTRY and REGISTRY[p].guidance != "none"]
    if guided and (len(model_parts(config.model)) > 1 or config.ensemble > 1):
        raise InputError(f"Model {guided[0]} learns from geology or deposits in spatial folds; "
                         "it cannot be fused or ensembled yet: run it alone.")
    if "univariate" in model_parts(config.model) and not config.target:
        raise InputError("Model univariate needs --target ELEMENT (e.g. --target Au).")
