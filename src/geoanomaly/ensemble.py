"""Ensembles (several seeds / architectures of one model) and fusion across detectors.

``--ensemble N`` fits N members of the chosen model with seeds ``seed .. seed+N-1`` (and,
with ``ensemble_architectures``, hidden layers cycling through the listed architectures);
``--model vae+mcd`` fuses registered detectors, each built as a single run would build it
(MCD on a clr survey gets full-rank ilr features, ``compare.model_features``). Both together:
every seeded detector contributes N members, every deterministic one a single member.

How members are combined (the same for ensembles and fusion):

1. each member's raw score goes through the run's spatial context
   (``pipeline.spatial_context``), exactly as a single run's score does;
2. it becomes a percentile rank in (0, 1] over the scored samples / cells (ties share their
   mean rank), so that scores on different scales (an ELBO, a Mahalanobis distance) can be
   averaged;
3. the score is the weighted mean of the member ranks, ``score_std`` the weighted standard
   deviation of the member ranks (population form, weights summing to one): 0 where every
   member puts a sample at the same rank.

Weights: each detector of a fusion gets its share of ``fusion_weights`` (equal by default;
normalised to sum to one), split equally over its members. ``vae+mcd --ensemble 5`` thus gives
five VAE members of weight 0.1 and one MCD member of weight 0.5: adding seeds refines a
detector's vote, it does not outvote the other detector.

Deterministic models (ppca, mcd, pca, univariate: the same data give the same fit whatever the
seed) contribute one member; ``--ensemble N > 1`` on one of them alone is refused by
``config.check_config`` (N copies of one score would show a zero uncertainty that means
nothing).

:func:`plan_members` and :func:`combine_ranks` are pure numpy; :func:`fit_ensemble` fits and
scores the members of a prepared survey.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import SCORES, SEEDED_MODELS, RunConfig, model_parts
# models whose fit depends on the hidden layers (ensemble_architectures applies to them)
from .detect.registry import ARCHITECTURE_MODELS, REGISTRY

COMBINE = "mean percentile rank"
WEIGHTED_COMBINE = "weighted mean percentile rank"


@dataclass(frozen=True)
class Member:
    """One member of an ensemble / fusion: a model, its seed, its hidden layers, its weight."""

    model: str
    seed: int
    hidden: tuple[int, ...] | None  # vae / ae only
    weight: float
    seeded: bool  # False: deterministic model, the seed does not change its fit

    def label(self) -> str:
        text = self.model + (f" seed {self.seed}" if self.seeded else " (deterministic)")
        if self.hidden is not None:
            text += f", hidden {'-'.join(str(h) for h in self.hidden)}"
        return text

    def to_dict(self) -> dict:
        return {"model": self.model, "seed": int(self.seed) if self.seeded else None,
                "hidden": None if self.hidden is None else [int(h) for h in self.hidden],
                "weight": float(self.weight), "deterministic": not self.seeded}


def plan_members(model: str, ensemble: int = 1, seed: int = 0, *,
                 architectures=None, fusion_weights=None, hidden=(24, 12)) -> list[Member]:
    """The members of a run: per detector of ``model`` (``a+b`` fuses), N seeded members
    (seeds ``seed .. seed+N-1``, hidden layers cycling through ``architectures``) or one
    deterministic member; weights = the detector's normalised fusion weight / its members."""
    parts = model_parts(model)
    weights = np.ones(len(parts)) if fusion_weights is None else \
        np.asarray(fusion_weights, dtype=float)
    if len(weights) != len(parts):
        raise ValueError(f"{len(weights)} fusion weights for {len(parts)} detectors")
    weights = weights / weights.sum()
    archs = [tuple(int(h) for h in a) for a in architectures] if architectures else \
        [tuple(int(h) for h in hidden)]
    members = []
    for part, share in zip(parts, weights):
        seeded = part in SEEDED_MODELS
        n = int(ensemble) if seeded else 1
        for k in range(n):
            members.append(Member(
                model=part, seed=int(seed) + k if seeded else int(seed),
                hidden=archs[k % len(archs)] if part in ARCHITECTURE_MODELS else None,
                weight=float(share) / n, seeded=seeded))
    return members


def percentile_rank(scores) -> np.ndarray:
    """Scores as percentile ranks in (0, 1] over the scored rows (ties share their mean rank)."""
    from .grid.neighbours import percentile_ranks

    return percentile_ranks(scores)


def combine_ranks(ranks, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and weighted (population) standard deviation of member ranks.

    ``ranks``: (members, rows); ``weights``: one per member (normalised here; None = equal).
    Returns (score, score_std), one value per row.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 2 or ranks.shape[0] < 1:
        raise ValueError(f"ranks must be (members, rows), got shape {ranks.shape}")
    w = np.ones(ranks.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (ranks.shape[0],) or not np.all(w >= 0) or not w.sum() > 0:
        raise ValueError("weights must be one non-negative number per member, not all zero")
    w = w / w.sum()
    mean = w @ ranks
    var = w @ (ranks - mean) ** 2
    return mean, np.sqrt(np.maximum(var, 0.0))


def combine_name(members: list[Member]) -> str:
    weights = np.array([m.weight for m in members])
    return COMBINE if np.allclose(weights, weights[0]) else WEIGHTED_COMBINE


def member_config(config: RunConfig, member: Member) -> RunConfig:
    """The single-model configuration that builds ``member`` (pipeline.build_detector)."""
    allowed = SCORES.get(member.model)
    score = config.score if allowed is None or config.score in allowed else "enrich"
    changes = dict(model=member.model, seed=member.seed, score=score, ensemble=1,
                   ensemble_architectures=None, fusion_weights=None)
    if member.hidden is not None:
        changes["hidden"] = list(member.hidden)
    return dataclasses.replace(config, **changes)


def members_of(config: RunConfig) -> list[Member]:
    return plan_members(config.model, config.ensemble, config.seed,
                        architectures=config.ensemble_architectures,
                        fusion_weights=config.fusion_weights, hidden=config.hidden)


@dataclass
class Ensemble:
    """A fitted ensemble / fusion: its members, their fitted detectors and per-row ranks.

    Stands in for the detector of a single run (``detect_and_validate`` returns it); the
    combined score is ``score_``, the spread ``score_std_``.
    """

    config: RunConfig
    members: list[Member]
    detectors: list
    features: list[str]  # per member: "shared" or the transform of its own features
    ranks_: np.ndarray  # (members, rows)
    score_: np.ndarray
    score_std_: np.ndarray
    notes: list[str] = field(default_factory=list)

    name = "ensemble"

    @property
    def combine(self) -> str:
        return combine_name(self.members)

    def describe(self) -> dict:
        """The ``ensemble`` entry of metrics.json and run.yaml."""
        members = []
        for m, features in zip(self.members, self.features):
            entry = m.to_dict()
            if features != "shared":
                entry["features"] = features
            members.append(entry)
        return {"members": members, "combine": self.combine,
                "score_std": "standard deviation of the member percentile ranks"
                             + (" (weighted)" if self.combine == WEIGHTED_COMBINE else ""),
                "rank": "each member's score after the spatial context, as a percentile rank "
                        "over the scored samples / cells"}

    def sentence(self, n_rows: int | None = None, what: str = "samples / cells") -> str:
        """How many members, which seeds / architectures / detectors, how combined: one
        paragraph for the report."""
        groups = []
        parts = list(dict.fromkeys(m.model for m in self.members))
        total = {p: sum(m.weight for m in self.members if m.model == p) for p in parts}
        for part in parts:
            ms = [m for m in self.members if m.model == part]
            if ms[0].seeded:
                text = f"{part} with seed{'s' if len(ms) > 1 else ''} {_seed_text(ms)}"
                archs = list(dict.fromkeys(m.hidden for m in ms if m.hidden is not None))
                if archs:
                    text += (" (hidden layers " + ", ".join(
                        "-".join(str(h) for h in a) for a in archs)
                        + (", in turn" if len(archs) > 1 else "") + ")")
            else:
                text = f"{part} (deterministic: one member)"
            if len(parts) > 1:
                text += f", weight {total[part]:.3g}"
            groups.append(text)
        rows = f" over the {n_rows:,} {what}" if n_rows else ""
        how = ("the weighted mean" if self.combine == WEIGHTED_COMBINE else "the mean")
        kind = "Fusion" if len(parts) > 1 else "Ensemble"
        return (f"{kind} of {len(self.members)} member{'s' if len(self.members) > 1 else ''}: "
                + "; ".join(groups) + ". Each member's score went through the same spatial "
                f"context as a single run and was turned into a percentile rank{rows}; the "
                f"score is {how} of the member ranks ({self.combine}), and score_std (the "
                "uncertainty map) is the "
                + ("weighted " if self.combine == WEIGHTED_COMBINE else "")
                + "standard deviation of the member ranks: 0 where every member ranks a "
                "place the same, larger where they disagree.")


def _seed_text(members: list[Member]) -> str:
    seeds = [m.seed for m in members]
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def fit_ensemble(config: RunConfig, data, X=None) -> Ensemble:
    """Fit and score every member on the prepared survey ``data`` and combine their ranks.

    ``X`` replaces the shared features of a single-model ensemble (as in
    ``detect_and_validate``); the detectors of a fusion each take the features a single run of
    them would (``compare.model_features``).
    """
    from .compare import model_features
    from .pipeline import build_detector, fitting_input, spatial_context

    members = members_of(config)
    single = len(model_parts(config.model)) == 1
    detectors, ranks, features, notes = [], [], [], []
    cache: dict[str, np.ndarray] = {}
    for member in members:
        cfg = member_config(config, member)
        if single and X is not None:
            Xm = X
        else:
            if member.model not in cache:
                cache[member.model] = model_features(member.model, cfg, data)
            Xm = cache[member.model]
        own = not (Xm is data.X) and not (single and X is not None)
        if REGISTRY[member.model].input_kind in ("composition", "windows"):
            features.append({"composition": "compositions",
                              "windows": "map windows"}[REGISTRY[member.model].input_kind])
        else:
            features.append("ilr" if own else "shared")
        if cfg.score != config.score and member.model in SCORES:
            note = (f"Member model {member.model} has no score {config.score!r}: it uses "
                    f"{cfg.score}.")
            if note not in notes:
                notes.append(note)
        detector = build_detector(cfg, data.feature_names)
        detector.fit(fitting_input(config, data, Xm))
        raw = np.asarray(detector.anomaly_score(Xm), dtype=np.float64)
        if hasattr(Xm, "to_samples"):  # a map model on a gridded point survey
            raw = Xm.to_samples(raw)
        ranks.append(percentile_rank(spatial_context(cfg, data, raw)))
        detectors.append(detector)
    if "ilr" in features:
        notes.append("Member model mcd needs full-rank features: it sees ilr coordinates of "
                     "the same elements (the shared transform is clr).")
    ranks = np.vstack(ranks)
    score, score_std = combine_ranks(ranks, [m.weight for m in members])
    for note in notes:
        if note not in data.notes:
            data.notes.append(note)
    return Ensemble(config=config, members=members, detectors=detectors, features=features,
                    ranks_=ranks, score_=score, score_std_=score_std, notes=notes)


def save_ensemble(ensemble: Ensemble, directory) -> Path:
    """Every member under ``directory/member_K/`` (K = 1..N, save_detector: JSON +
    safetensors / npz, no pickle) and the member list in ``directory/ensemble.json``."""
    from .detect.persistence import save_detector

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, (detector, info) in enumerate(zip(ensemble.detectors,
                                             ensemble.describe()["members"]), start=1):
        folder = f"member_{k}"
        save_detector(detector, directory / folder)
        entries.append({"folder": folder, **info})
    meta = {"format": "geoanomaly-ensemble", "format_version": 1,
            "model": ensemble.config.model, "combine": ensemble.combine,
            "spatial_context_k": ensemble.config.smooth_k,
            "members": entries,
            "how": "score = weighted mean over members of the percentile rank (over the scored "
                   "rows) of each member's score after the spatial context; members with "
                   "features 'ilr' see ilr coordinates of the elements instead of the shared "
                   "transform (model/preprocessing.json)"}
    (directory / "ensemble.json").write_text(json.dumps(meta, indent=2) + "\n")
    return directory
