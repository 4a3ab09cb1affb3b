"""The resolved run configuration: one flat, documented set of options.

The CLI, a ``--config FILE.yaml`` and the Python API all fill the same :class:`RunConfig`, so every
option has one name everywhere (``--batch-size`` on the command line is ``batch_size`` in YAML and
in ``geoanomaly.run(...)``). The resolved config is written to ``run.yaml`` with every output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import InputError
from .targets import TARGET_ELEMENT_POLICIES

MODELS = ("vae", "ae", "ppca", "mcd", "pca", "iforest", "univariate")
#: scores of the probabilistic models (VAE and its linear twin PPCA); see detect/vae.py
PROBABILISTIC_SCORES = ("recon", "enrich", "rp", "kl", "enrich-kl", "elbo", "enrich-elbo", "nll",
                        "combined")
SCORES = {"vae": PROBABILISTIC_SCORES, "ppca": PROBABILISTIC_SCORES, "ae": ("recon", "enrich")}
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
    scale: str = "robust"
    """Per-feature standardisation after the transform: robust | standard | none."""

    # --- detect -------------------------------------------------------------------------
    model: str = "vae"
    """Detector: vae | ae | ppca (| mcd | pca | iforest | univariate)."""
    score: str = "enrich"
    """VAE / PPCA score: recon | enrich | rp | kl | enrich-kl | elbo | enrich-elbo | nll |
    combined (detect/vae.py says what each sees); the AE takes recon | enrich."""
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

    smooth_k: int | None = None
    """Spatial context: each score becomes the mean percentile rank over its k nearest samples /
    cells (itself included). None = 8 for samples, 9 (the 3 x 3 window) for grids; 0 = off."""

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
    """Cell size (metres) of the interpolated map of a point survey; None = from sample spacing."""
    progress: bool = False
    """Show a progress bar while training."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    config = RunConfig(**merged)
    check_config(config)
    return config


def check_config(config: RunConfig) -> None:
    """Reject impossible option values with one sentence each."""
    def choice(name, value, allowed):
        if value not in allowed:
            raise InputError(f"Option {name} = {value!r} is not one of {', '.join(allowed)}.")

    choice("model", config.model, MODELS)
    choice("transform", config.transform, TRANSFORMS)
    choice("target_elements", config.target_elements, TARGET_ELEMENT_POLICIES)
    choice("scale", config.scale, ("robust", "standard", "none"))
    choice("threshold", config.threshold, THRESHOLDS)
    choice("device", config.device, ("cpu", "cuda", "auto"))
    choice("below_detection", config.below_detection, ("half", "sqrt2", "limit", "factor"))
    if config.model in SCORES:
        choice(f"score (for model {config.model})", config.score, SCORES[config.model])
    if not 0.0 < config.max_missing <= 1.0:
        raise InputError(f"Option max_missing = {config.max_missing} must lie in (0, 1].")
    if config.radius is not None and config.radius <= 0:
        raise InputError(f"Option radius = {config.radius} must be a positive distance in metres.")
    for name in config.protocols or []:
        choice("protocols", name, PROTOCOLS)
    if config.protocols and "opengad-stratified" in config.protocols and not config.stratify_by:
        raise InputError("Protocol opengad-stratified needs --stratify-by COLUMN (the survey or "
                         "lab-batch column, e.g. WAMEX_A_NO).")
    if config.smooth_k is not None and config.smooth_k < 0:
        raise InputError(f"Option smooth_k = {config.smooth_k} must be 0 (off) or a count of "
                         "neighbours.")
    if config.model == "univariate" and not config.target:
        raise InputError("Model univariate needs --target ELEMENT (e.g. --target Au).")
