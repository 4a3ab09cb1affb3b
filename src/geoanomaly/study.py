"""The paper's parameter experiments as one label-free command: ``geoanomaly study``.

Luo, Xiong & Zuo (2020) chose 24-12-3-12-24 after "various experiments to determine the optimal
parameters". This module repeats such experiments on the user's own survey, without looking at
the deposits: every model configuration of a grid is fitted with several seeds, scored in every
way of the grid, and judged by criteria that need no labels. The pick is written as
``chosen.yaml``, which ``geoanomaly run --config chosen.yaml SOURCE --out DIR`` accepts.

The default grid (:data:`DEFAULT_ARCHITECTURES`, :data:`DEFAULT_SCORES`)
-----------------------------------------------------------------------
model configurations ("architectures": encoder widths, latent size, KL weight, Adam step):

====================  ======  ====  =========  ============================================
hidden (encoder)      latent  beta  lr         why
====================  ======  ====  =========  ============================================
24, 12                3       1     1e-3       the paper's network
24                    3       1     1e-3       shallower
32, 16                3       1     1e-3       wider
16, 8                 3       1     1e-3       narrower
24, 12                2       1     1e-3       smaller latent space
24, 12                4       1     1e-3       larger latent space
24, 12                3       0.5   1e-3       weaker KL term (compared on the true ELBO)
24, 12                3       1     3e-3       larger learning rate
====================  ======  ====  =========  ============================================

epochs: the run's maximum (200 by default) with its early stopping. Each configuration is fitted
ONCE per seed and scored under every score of the grid (the score is applied only at scoring
time): enrich, kl, elbo, nll, enrich-elbo, combined, recon.

Measured on sed1 (866 samples x 5 pathfinders, ``--target Au``), the default grid = 24 fits,
most of them running the full 200 epochs (15-20 s each on one core): 7 min 8 s wall with the
CLI's default ``--jobs 2`` on 2 cores shared with other work (load average 3-4; 6.4 CPU
minutes), 9 min 21 s with ``--jobs 1`` under the same load. On a free 2-core machine that is
about 3.5 minutes; scoring (7 scores x 24 fits) and the criteria take seconds.

A custom grid (``--grid FILE.yaml`` / ``grid=`` a path or a dict)::

    scores: [enrich, kl, elbo, nll, enrich-elbo, combined, recon]   # VAE score names
    epochs: 200                  # optional: the most epochs (default: the run's epochs)
    architectures:               # each key optional; missing ones are the paper's value
      - {hidden: [24, 12], latent_dim: 3, beta: 1.0, learning_rate: 0.001}
      - {hidden: [24]}
      - {hidden: [24, 12], beta: 0.5, epochs: 100}   # epochs may be set per configuration
    holdout_fraction: 0.1        # rows held out for the validation ELBO
    stability_tolerance: 0.05    # label-free rule, step 1
    min_stability: 0.8           # label-free rule, step 3
    candidate_scores: [enrich, enrich-kl, enrich-elbo, combined]  # the scores step 3 may
                                 # choose (default: the package's default score only)
    moran_k: 8                   # neighbours of Moran's I
    blocks: 5                    # spatial blocks of --select-by blocked-auc

Unknown keys are rejected by name.

Criteria (per configuration = architecture x score)
---------------------------------------------------
* ``val_neg_elbo``: every fit sees the same seeded 90 % of the rows (``holdout_fraction``); the
  mean per-row negative ELBO (score "elbo": beta = 1, seeded draws, every feature weighted
  once even when --target weights the scores) of the held-out 10 % is a bound on the held-out
  negative log-likelihood, comparable across depth, width, latent size and beta. It belongs to
  the architecture, not to the score. Mean over the seeds (and its std). The held-out rows are
  scored too (criteria below use all rows); ``geoanomaly run`` later fits on every row.
* ``stability``: mean pairwise Spearman rank correlation, over the seeds, of the per-sample
  scores of ALL rows (the fits of the 90 % scored on every row).
* ``morans_i``: global Moran's I of the score's percentile ranks with row-standardised k = 8
  nearest-neighbour weights on the metric coordinates (``validate.moran``), mean over the
  seeds. Ranks, because scores are heavy-tailed and differ in kind: one extreme sample must not
  decide, and "kl" and "recon" must be comparable.
* ``fit_seconds`` + ``score_seconds`` = ``seconds``.

The label-free selection rule (:func:`select_label_free`)
---------------------------------------------------------
1. Architecture stability = the mean stability of its scores. Keep the architectures within
   ``stability_tolerance`` (0.05) of the most stable one: a model whose ranking of the samples
   changes with the seed is not reproducible, whatever its likelihood.
2. Among them take the lowest validation negative ELBO: the held-out likelihood bound is the
   one label-free measure of how well a model describes the survey's background population,
   and it is comparable across architectures (with beta = 1 for every model).
3. The score: by default the package's default score (``RunConfig.score``, enrich-elbo), which
   was chosen leave-one-dataset-out over ten surveys (benchmarks/select_defaults.py): a choice
   made across surveys beats one made on the survey at hand with a weak label-free proxy. The
   other scores are still fitted, tabled and mapped for comparison. A grid that names several
   ``candidate_scores`` lets Moran's I choose among them: among the candidates with stability
   >= ``min_stability`` (0.8) the one with the highest Moran's I wins (the most stable
   candidate when none reaches 0.8). Why Moran's I there: the ELBO cannot rank scores (they are
   different functions of one model), and a mineralisation footprint is spatially continuous
   where analytical noise is not. Why only one-sided candidates by default in that case:
   exploration looks for enrichment, and among two-sided scores Moran's I rewards mapping the
   regional background. Measured on sed1 (default grid, --target Au; these observations used
   the deposits and shaped the rule, which itself reads no label): the most coherent two-sided
   score was "kl" (Moran's I 0.41, samples AUC 0.53), and among one-sided ones "combined"
   (32-16-3: samples AUC 0.81 against 0.88 for enrich on the same fits) -- Moran's I is a weak
   proxy, hence the default above.

Deposits (``--deposits``) add the AUC of each configuration under the run's protocols to
study.csv / study.html for information; the label-free rule never reads them (a test checks).
With ``select_by="blocked-auc"`` the deposits DO choose: the area is split into ``blocks``
spatial blocks -- strips across the survey's long axis, cut half-way between deposits so that
each strip holds about the same number of deposits (5 k-means blocks left sed1's deposits in
a single scorable block); for each block the configuration with the best AUC
(protocol "samples", with the run's spatial context) on the other blocks is chosen and its AUC
on the held-out block reported (an honest estimate of the selection); the final pick is the
configuration with the best mean per-block AUC. Every output then says deposits chose the model.
The blocks are checked before any fit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .config import RunConfig
#: every score name the VAE knows; a grid may only name these
from .detect.registry import PROBABILISTIC_SCORES as KNOWN_SCORES
from .errors import InputError

DEFAULT_SCORES = ("enrich", "kl", "elbo", "nll", "enrich-elbo", "combined", "recon")
SELECT_BY = ("label-free", "blocked-auc")
#: fits run at once by default (processes; results do not depend on it)
DEFAULT_JOBS = 2
#: scores that count only enrichment (elements above their reconstruction, or a latent shift to
#: the enriched side): the default candidates of the label-free score choice
ONE_SIDED_SCORES = ("enrich", "enrich-kl", "enrich-elbo", "combined")

_PAPER = dict(hidden=(24, 12), latent_dim=3, beta=1.0, learning_rate=1e-3)
#: the default model configurations (see the module docstring for why each)
DEFAULT_ARCHITECTURES = (
    dict(_PAPER),
    dict(_PAPER, hidden=(24,)),
    dict(_PAPER, hidden=(32, 16)),
    dict(_PAPER, hidden=(16, 8)),
    dict(_PAPER, latent_dim=2),
    dict(_PAPER, latent_dim=4),
    dict(_PAPER, beta=0.5),
    dict(_PAPER, learning_rate=3e-3),
)

ARCHITECTURE_KEYS = ("hidden", "latent_dim", "beta", "learning_rate", "epochs")
GRID_KEYS = ("architectures", "scores", "epochs", "holdout_fraction", "stability_tolerance",
             "min_stability", "candidate_scores", "moran_k", "blocks")

LABEL_FREE_RULE = (
    "1. Each architecture's stability is the mean, over its scores, of the mean pairwise "
    "Spearman rank correlation of the per-sample scores between seeds; architectures within "
    "{tol:g} of the most stable one are kept (a ranking that changes with the seed is not "
    "reproducible). "
    "2. Among them, the one with the lowest validation negative ELBO (mean per-row -ELBO, "
    "beta = 1, of the same held-out {hold:.0%} of the rows for every fit) is chosen: the "
    "held-out likelihood bound measures how well a model describes the survey's background "
    "and is comparable across depth, width, latent size and KL weight. "
    "3. The score: among that architecture's candidate scores ({candidates}) with stability "
    ">= {min_stab:g}, the one with the highest Moran's I (k = {k} nearest neighbours, on the "
    "score's ranks; the most stable candidate if none reaches {min_stab:g}). By default the "
    "only candidate is the package's default score, which was chosen leave-one-dataset-out "
    "across ten surveys: Moran's I is a weak proxy for a footprint (on sed1 it preferred "
    "'kl', a map of the regional latent structure, and among one-sided scores 'combined', "
    "below 'enrich' on the same fits), so it only chooses when a grid lists several "
    "candidate_scores. The other scores are fitted, tabled and mapped for comparison. "
    "No deposit was used.")

BLOCKED_RULE = (
    "DEPOSITS CHOSE THE MODEL. The area was split into {blocks} spatial blocks (strips across "
    "the survey's long axis, cut half-way between deposits so that each holds about the same "
    "number of deposits). For each block, the configuration with the best AUC (protocol "
    "'samples', with the run's spatial context, mean over seeds) on the other blocks was chosen "
    "and its AUC on the held-out block recorded (the honest estimate of this selection: "
    "{nested}). The final pick is the configuration with the best mean per-block AUC. The AUC "
    "of the pick on the whole area is optimistic: it was chosen on those deposits.")


# ------------------------------------------------------------------------------------------
# the grid


@dataclass(frozen=True)
class Architecture:
    """One model configuration: fitted once per seed, scored in every way of the grid."""

    hidden: tuple[int, ...] = (24, 12)
    latent_dim: int = 3
    beta: float = 1.0
    learning_rate: float = 1e-3
    epochs: int | None = None  # None = the grid's / the run's epochs

    @property
    def label(self) -> str:
        text = f"{'-'.join(str(h) for h in self.hidden)}-{self.latent_dim}"
        if self.beta != 1.0:
            text += f" beta {self.beta:g}"
        if self.learning_rate != 1e-3:
            text += f" lr {self.learning_rate:g}"
        if self.epochs is not None:
            text += f" {self.epochs} ep"
        return text


@dataclass
class StudyGrid:
    """What a study tries and the constants of its criteria and rule (module docstring)."""

    architectures: list[Architecture] = field(
        default_factory=lambda: [Architecture(**a) for a in DEFAULT_ARCHITECTURES])
    scores: tuple[str, ...] = DEFAULT_SCORES
    epochs: int | None = None
    holdout_fraction: float = 0.1
    stability_tolerance: float = 0.05
    min_stability: float = 0.8
    candidate_scores: tuple[str, ...] | None = None  # None = the package default score
    moran_k: int = 8
    blocks: int = 5


def load_grid(path) -> StudyGrid:
    """A grid from a YAML file (format in the module docstring)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"Grid file {path} does not exist; check the path given to --grid.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"Grid file {path} is not valid YAML ({exc.__class__.__name__}); "
                         "fix its syntax.") from None
    return grid_from_dict(data or {}, source=f"Grid file {path}")


def grid_from_dict(data: dict, source: str = "The grid") -> StudyGrid:
    """A checked :class:`StudyGrid` from a mapping; unknown keys are rejected by name."""
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a mapping (architectures:, scores:, ...).")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(GRID_KEYS))
    if unknown:
        raise InputError(f"{source} has unknown key(s) {', '.join(unknown)}; valid keys are: "
                         f"{', '.join(GRID_KEYS)}.")
    grid = StudyGrid()
    if "architectures" in data:
        entries = data["architectures"]
        if not isinstance(entries, list) or not entries:
            raise InputError(f"{source}: architectures must be a non-empty list of mappings "
                             "such as {hidden: [24, 12], latent_dim: 3}.")
        grid.architectures = [_architecture(e, f"{source}, architecture {i + 1}")
                              for i, e in enumerate(entries)]
    if "scores" in data:
        scores = data["scores"]
        if isinstance(scores, str):
            scores = [s.strip() for s in scores.split(",") if s.strip()]
        if not isinstance(scores, list) or not scores:
            raise InputError(f"{source}: scores must be a non-empty list, e.g. [enrich, elbo].")
        bad = [str(s) for s in scores if s not in KNOWN_SCORES]
        if bad:
            raise InputError(f"{source} names unknown score(s) {', '.join(bad)}; VAE scores "
                             f"are: {', '.join(KNOWN_SCORES)}.")
        grid.scores = tuple(dict.fromkeys(str(s) for s in scores))
    if data.get("epochs") is not None:
        grid.epochs = _positive_int(data["epochs"], f"{source}: epochs")
    if "holdout_fraction" in data:
        grid.holdout_fraction = _number(data["holdout_fraction"], f"{source}: holdout_fraction")
        if not 0.0 < grid.holdout_fraction < 0.5:
            raise InputError(f"{source}: holdout_fraction must lie in (0, 0.5), got "
                             f"{grid.holdout_fraction:g}.")
    for key in ("stability_tolerance", "min_stability"):
        if key in data:
            value = _number(data[key], f"{source}: {key}")
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{source}: {key} must lie in [0, 1], got {value:g}.")
            setattr(grid, key, value)
    if data.get("candidate_scores") is not None:
        candidates = data["candidate_scores"]
        if isinstance(candidates, str):
            candidates = [c.strip() for c in candidates.split(",") if c.strip()]
        if not isinstance(candidates, list) or not candidates:
            raise InputError(f"{source}: candidate_scores must be a non-empty list of scores.")
        bad = [str(c) for c in candidates if c not in grid.scores]
        if bad:
            raise InputError(f"{source}: candidate score(s) {', '.join(bad)} are not among the "
                             f"grid's scores ({', '.join(grid.scores)}).")
        grid.candidate_scores = tuple(dict.fromkeys(str(c) for c in candidates))
    if "moran_k" in data:
        grid.moran_k = _positive_int(data["moran_k"], f"{source}: moran_k")
    if "blocks" in data:
        grid.blocks = _positive_int(data["blocks"], f"{source}: blocks")
        if grid.blocks < 2:
            raise InputError(f"{source}: blocks must be at least 2, got {grid.blocks}.")
    labels = [a.label for a in grid.architectures]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise InputError(f"{source} lists architecture {duplicates[0]} more than once.")
    return grid


def _architecture(entry, where: str) -> Architecture:
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a mapping such as {{hidden: [24, 12], latent_dim: 3}}.")
    entry = {str(k).replace("-", "_"): v for k, v in entry.items()}
    unknown = sorted(set(entry) - set(ARCHITECTURE_KEYS))
    if unknown:
        raise InputError(f"{where} has unknown key(s) {', '.join(unknown)}; valid keys are: "
                         f"{', '.join(ARCHITECTURE_KEYS)}.")
    values = dict(_PAPER)
    if "hidden" in entry:
        hidden = entry["hidden"]
        if isinstance(hidden, int):
            hidden = [hidden]
        if isinstance(hidden, str):
            hidden = [h for h in hidden.replace(",", " ").split()]
        try:
            hidden = tuple(int(h) for h in hidden)
        except (TypeError, ValueError):
            raise InputError(f"{where}: hidden must be a list of layer widths such as "
                             f"[24, 12], got {entry['hidden']!r}.") from None
        if not hidden or min(hidden) < 1:
            raise InputError(f"{where}: hidden must list positive layer widths, got "
                             f"{entry['hidden']!r}.")
        values["hidden"] = hidden
    if "latent_dim" in entry:
        values["latent_dim"] = _positive_int(entry["latent_dim"], f"{where}: latent_dim")
    if "beta" in entry:
        values["beta"] = _number(entry["beta"], f"{where}: beta")
        if values["beta"] < 0:
            raise InputError(f"{where}: beta must be >= 0, got {values['beta']:g}.")
    if "learning_rate" in entry:
        values["learning_rate"] = _number(entry["learning_rate"], f"{where}: learning_rate")
        if not values["learning_rate"] > 0:
            raise InputError(f"{where}: learning_rate must be positive.")
    if entry.get("epochs") is not None:
        values["epochs"] = _positive_int(entry["epochs"], f"{where}: epochs")
    return Architecture(**values)


def _number(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise InputError(f"{where} must be a finite number, got {value!r}.")
    return number


def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{where} must be a positive integer, got {value!r}.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{where} must be a positive integer, got {value!r}.") from None
    if number < 1 or float(value) != number:
        raise InputError(f"{where} must be a positive integer, got {value!r}.")
    return number


def _as_grid(grid) -> StudyGrid:
    if grid is None:
        return StudyGrid()
    if isinstance(grid, StudyGrid):
        return grid
    if isinstance(grid, dict):
        return grid_from_dict(grid)
    if isinstance(grid, (str, Path)):
        return load_grid(grid)
    raise InputError(f"grid must be None, a StudyGrid, a mapping or a YAML path, got "
                     f"{type(grid).__name__}.")


# ------------------------------------------------------------------------------------------
# results


@dataclass
class StudyResult:
    """What a study found. ``table`` has one row per architecture x score (study.csv)."""

    config: RunConfig
    grid: StudyGrid
    seeds: list[int]
    select_by: str
    table: object  # pandas DataFrame
    chosen: dict  # architecture, score, row index, rule text
    chosen_config: RunConfig
    chosen_yaml: str
    label_free_choice: dict  # the label-free pick (the same as chosen with select_by label-free)
    blocked: dict | None
    data: object  # pipeline.PreparedData
    notes: list[str]
    seconds: float
    out_dir: Path | None = None
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        c = self.chosen
        lines = [f"geoanomaly study: {len(self.grid.architectures)} architectures x "
                 f"{len(self.scored_names)} scores x {len(self.seeds)} seeds on "
                 f"{self.data.survey.n} {'cells' if self.data.survey.is_grid else 'samples'} "
                 f"x {len(self.data.feature_names)} features in {self.seconds:.0f} s"]
        by = ("DEPOSITS (spatially blocked AUC)" if self.select_by == "blocked-auc"
              else "label-free criteria (no deposit used)")
        lines.append(f"  chosen by {by}: {c['architecture']}, score {c['score']}")
        row = self.table.iloc[c["row"]]
        lines.append(f"    validation -ELBO {row['val_neg_elbo']:.3f}, stability "
                     f"{row['stability']:.3f}, Moran's I {row['morans_i']:.3f}"
                     + (f", blocked AUC {row['blocked_auc']:.3f}" if "blocked_auc" in row else ""))
        if self.out_dir is not None:
            lines.append(f"  report: {self.out_dir / 'study.html'}")
            lines.append(f"  rerun: geoanomaly run --config {self.out_dir / 'chosen.yaml'} "
                         f"SOURCE --out DIR")
        return "\n".join(lines)

    @property
    def scored_names(self) -> list[str]:
        return list(dict.fromkeys(self.table["score"]))


# ------------------------------------------------------------------------------------------
# scoring helpers


def usable_scores(scores) -> tuple[list[str], list[str]]:
    """(scores both the VAE and ``geoanomaly run`` accept, notes on the others)."""
    from .config import SCORES as RUN_SCORES
    from .detect import vae as vae_module

    usable, notes = [], []
    for s in scores:
        if s not in getattr(vae_module, "SCORES", ()):
            notes.append(f"Score {s} skipped: this version of the VAE does not provide it.")
        elif s not in RUN_SCORES.get("vae", ()):
            notes.append(f"Score {s} skipped: geoanomaly run does not accept it yet, so it "
                         "could not be written to chosen.yaml.")
        else:
            usable.append(s)
    return usable, notes


def negative_elbo(detector, X) -> np.ndarray:
    """Per-row true negative ELBO of a fitted VAE: score "elbo" (beta = 1, seeded draws) with
    every feature weighted once (a --target weighting of the scores is switched off here, so the
    criterion is the model's likelihood bound, not a weighted one)."""
    from .detect import vae as vae_module

    if "elbo" not in getattr(vae_module, "SCORES", ()):
        raise InputError("This version of the VAE has no score 'elbo'; the study needs it for "
                         "the validation ELBO criterion.")
    previous = detector.get_params()["score"], detector.get_params()["feature_weights"]
    detector.set_params(score="elbo", feature_weights=None)
    try:
        return np.asarray(detector.anomaly_score(X), dtype=np.float64)
    finally:
        detector.set_params(score=previous[0], feature_weights=previous[1])


def holdout_split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's fixed seeded (train, held-out) rows, the same for every fit."""
    n_hold = int(round(n_rows * fraction))
    if n_hold < 2 or n_rows - n_hold < 20:
        raise InputError(f"The survey has {n_rows} rows: too few to hold out "
                         f"{fraction:.0%} for the validation ELBO and fit on the rest; a study "
                         "needs at least about 30 samples.")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def mean_pairwise_spearman(score_sets) -> float:
    """Mean Spearman correlation over all pairs of score vectors (NaN for fewer than two)."""
    from scipy.stats import rankdata

    ranks = [rankdata(s) for s in score_sets]
    values = []
    for a, b in itertools.combinations(ranks, 2):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            values.append(0.0)
            continue
        values.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(values)) if values else float("nan")


# ------------------------------------------------------------------------------------------
# selection


def select_label_free(table, grid: StudyGrid) -> dict:
    """The label-free pick from the criteria columns only (module docstring, rule 1-3).

    Reads ``architecture``, ``architecture_stability``, ``val_neg_elbo``, ``score``,
    ``stability`` and ``morans_i``; never an AUC column. Returns the row index, architecture,
    score and the steps taken, for the report.
    """
    arch = (table.groupby("architecture", sort=False)
            .agg(stability=("architecture_stability", "first"),
                 elbo=("val_neg_elbo", "first")))
    finite = arch[np.isfinite(arch["stability"]) & np.isfinite(arch["elbo"])]
    if finite.empty:
        raise InputError("No architecture of the study has a finite validation ELBO and "
                         "stability; check the data (all fits diverged).")
    best_stability = float(finite["stability"].max())
    kept = finite[finite["stability"] >= best_stability - grid.stability_tolerance]
    chosen_arch = str(kept["elbo"].idxmin())
    candidates = candidate_scores(grid, list(dict.fromkeys(table["score"])))
    rows = table[(table["architecture"] == chosen_arch) & table["score"].isin(candidates)]
    rows = rows[np.isfinite(rows["stability"])]
    if rows.empty:
        raise InputError(f"No candidate score ({', '.join(candidates)}) of architecture "
                         f"{chosen_arch} has finite scores; check the grid's candidate_scores.")
    stable = rows[(rows["stability"] >= grid.min_stability) & np.isfinite(rows["morans_i"])]
    if not stable.empty:
        index = stable["morans_i"].idxmax()
        step3 = (f"highest Moran's I among the {len(stable)} candidate score(s) "
                 f"({', '.join(candidates)}) with stability >= {grid.min_stability:g}")
    else:
        index = rows["stability"].idxmax()
        step3 = (f"no candidate score ({', '.join(candidates)}) reached stability "
                 f"{grid.min_stability:g}: the most stable one")
    return {"row": int(table.index.get_loc(index)), "architecture": chosen_arch,
            "score": str(table.loc[index, "score"]),
            "kept_architectures": [str(a) for a in kept.index],
            "best_architecture_stability": best_stability, "step3": step3}


def candidate_scores(grid: StudyGrid, scored: list[str]) -> list[str]:
    """The scores step 3 may choose: the grid's ``candidate_scores``, else the package default
    score, else the grid's one-sided scores, else all of them (only those actually scored)."""
    if grid.candidate_scores is not None:
        wanted = list(grid.candidate_scores)
    elif RunConfig.score in scored:
        wanted = [RunConfig.score]
    else:
        wanted = [s for s in scored if s in ONE_SIDED_SCORES] or list(scored)
    chosen = [s for s in scored if s in wanted]
    return chosen or list(scored)


def spatial_blocks(x, y, n_blocks: int, anchor_x, anchor_y) -> np.ndarray:
    """Block id per sample: strips across the long axis of the points (x, y), cut half-way
    between consecutive anchors (the deposits) so that each strip holds about the same number
    of anchors. Deposits often cluster in one belt: compact blocks (k-means, tiles) would leave
    most blocks without any. Fewer anchors than blocks give one block per anchor."""
    points = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    anchors = np.column_stack([np.asarray(anchor_x, float).ravel(),
                               np.asarray(anchor_y, float).ravel()])
    if anchors.shape[0] < 2:
        raise InputError(f"Blocked AUC selection needs at least 2 deposits inside the survey, "
                         f"got {anchors.shape[0]}.")
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    axis = vt[0] * (1.0 if vt[0][np.argmax(np.abs(vt[0]))] > 0 else -1.0)  # a fixed sign
    along = (points - centre) @ axis
    a = np.sort((anchors - centre) @ axis)
    k = int(min(n_blocks, a.size))
    cuts = []
    for i in range(1, k):
        j = int(round(i * a.size / k))
        cuts.append(0.5 * (a[j - 1] + a[j]))
    return np.searchsorted(np.asarray(cuts), along, side="right").astype(int)


def check_blocks(labels: np.ndarray, blocks: np.ndarray) -> list[int]:
    """The blocks holding both positives and negatives; an InputError when fewer than 2."""
    block_ids = sorted(set(int(b) for b in blocks))
    valid = [b for b in block_ids if labels[blocks == b].any() and (~labels[blocks == b]).any()]
    if len(valid) < 2:
        raise InputError(f"Only {len(valid)} of {len(block_ids)} spatial blocks hold both "
                         "samples near a deposit and others; blocked AUC selection needs at "
                         "least 2 (set fewer blocks in the grid or a larger --radius).")
    return valid


def select_blocked_auc(final_scores: dict, labels: np.ndarray, blocks: np.ndarray,
                       keys: list) -> dict:
    """Spatially blocked selection by AUC; ``final_scores[key]`` is a list (one per seed).

    Returns per-configuration mean per-block AUC, the per-block choices with their held-out
    AUCs, the nested estimate and the pick (index into ``keys``).
    """
    from .validate import roc_auc

    block_ids = sorted(set(int(b) for b in blocks))
    valid_blocks = check_blocks(labels, blocks)

    def auc(scores_list, mask):
        lab = labels[mask]
        if not lab.any() or lab.all():
            return float("nan")
        return float(np.mean([roc_auc(s[mask][lab], s[mask][~lab]) for s in scores_list]))

    inside = np.full((len(keys), len(valid_blocks)), np.nan)
    outside = np.full((len(keys), len(valid_blocks)), np.nan)
    for i, key in enumerate(keys):
        for j, b in enumerate(valid_blocks):
            inside[i, j] = auc(final_scores[key], blocks == b)
            outside[i, j] = auc(final_scores[key], blocks != b)
    folds = []
    for j, b in enumerate(valid_blocks):
        column = np.where(np.isfinite(outside[:, j]), outside[:, j], -np.inf)
        pick = int(np.argmax(column))
        folds.append({"block": int(b), "n_samples": int((blocks == b).sum()),
                      "n_positive": int(labels[blocks == b].sum()),
                      "chosen_on_other_blocks": pick, "auc_other_blocks": float(outside[pick, j]),
                      "auc_held_out": float(inside[pick, j])})
    mean_inside = np.nanmean(inside, axis=1)
    pick = int(np.nanargmax(mean_inside))
    nested = float(np.nanmean([f["auc_held_out"] for f in folds]))
    return {"blocks": [int(b) for b in block_ids], "valid_blocks": valid_blocks,
            "n_blocks": len(block_ids), "mean_block_auc": mean_inside, "folds": folds,
            "nested_auc": nested, "pick": pick}


# ------------------------------------------------------------------------------------------
# the study


def run_study(config: RunConfig, grid=None, seeds: int = 3, select_by: str = "label-free",
              log: Callable[[str], None] | None = None, jobs: int | None = 1) -> StudyResult:
    """Fit every architecture of ``grid`` with ``seeds`` seeds, score each in every way, judge
    the configurations label-free, pick one, and (when ``config.out`` is set) write study.csv,
    study.html and chosen.yaml there.

    ``grid``: None (the default grid), a :class:`StudyGrid`, a mapping or a YAML path.
    ``seeds``: fits per architecture (seeds ``config.seed`` .. ``config.seed + seeds - 1``).
    ``select_by``: "label-free" (the default rule) or "blocked-auc" (deposits choose; every
    output says so). ``log``: called with one line per fit (progress). ``jobs``: fits run in
    this many processes at once (1 = in this process; None = ``DEFAULT_JOBS``, 2, or 1 on a
    one-core machine; the CLI's default). Every fit is seeded on its own, so the results do not
    depend on it; a small survey's fit uses one core, so 2 processes nearly halve the time on a
    free 2-core machine. The processes are spawned, so a script that asks for jobs > 1 needs
    the usual ``if __name__ == "__main__":`` guard.
    """
    import pandas as pd

    from .pipeline import deposit_labels, prepare

    start = time.perf_counter()
    grid = _as_grid(grid)
    say = log or (lambda line: None)
    if select_by not in SELECT_BY:
        raise InputError(f"select_by = {select_by!r} is not one of {', '.join(SELECT_BY)}.")
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 2:
        raise InputError(f"A study needs at least 2 seeds (stability compares them), got "
                         f"{seeds!r}.")
    if jobs is None:
        jobs = min(DEFAULT_JOBS, os.cpu_count() or 1)
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise InputError(f"jobs must be a positive number of processes, got {jobs!r}.")
    if config.model != "vae":
        raise InputError(f"The study tunes the VAE; model {config.model!r} cannot be studied "
                         "(drop --model).")
    if getattr(config, "ensemble", 1) != 1 or getattr(config, "ensemble_architectures", None):
        raise InputError("The study compares single VAE fits; drop --ensemble / "
                         "--ensemble-architectures (add them to chosen.yaml afterwards).")
    if select_by == "blocked-auc" and not config.deposits:
        raise InputError("--select-by blocked-auc chooses by deposits: give them with "
                         "--deposits FILE.")
    scores, notes = usable_scores(grid.scores)
    if not scores:
        raise InputError(f"None of the grid's scores ({', '.join(grid.scores)}) is available in "
                         "this version of geoanomaly: " + " ".join(notes))
    base = dataclasses.replace(config, progress=False)
    if grid.epochs is not None:
        base = dataclasses.replace(base, epochs=grid.epochs)
    seed_list = [int(config.seed) + i for i in range(int(seeds))]

    data = prepare(base)
    labels = deposit_labels(base, data) if data.deposits is not None else None
    X = data.X
    train, hold = holdout_split(X.shape[0], grid.holdout_fraction, int(config.seed))
    from .validate.moran import knn_indices

    neighbours = knn_indices(data.metric_x, data.metric_y, grid.moran_k)
    block_ids = None
    if select_by == "blocked-auc":  # checked before the (long) fits
        block_ids = spatial_blocks(data.metric_x, data.metric_y, grid.blocks,
                                   *_deposits_metric(data))
        check_blocks(labels[0], block_ids)

    raw: dict[tuple[int, str], list[np.ndarray]] = {}
    fit_seconds: dict[int, list[float]] = {}
    score_seconds: dict[tuple[int, str], list[float]] = {}
    val_elbo: dict[int, list[float]] = {}
    epochs_run: dict[int, list[int]] = {}
    tasks = [(a, seed, dataclasses.replace(arch_config(base, arch, scores[0]), seed=seed))
             for a, arch in enumerate(grid.architectures) for seed in seed_list]
    done = 0

    def report(a, seed, fit):
        nonlocal done
        done += 1
        elapsed = time.perf_counter() - start
        say(f"[{done}/{len(tasks)}] {grid.architectures[a].label}, seed {seed}: "
            f"{fit['epochs']} epochs, fit {fit['fit_seconds']:.1f} s, held-out -ELBO "
            f"{fit['val_elbo']:.3f} (elapsed {elapsed:.0f} s, about "
            f"{elapsed / done * (len(tasks) - done):.0f} s left)")

    fits = _run_fits(tasks, X, train, hold, data.feature_names, scores, int(jobs), report)
    for (a, seed, _), fit in zip(tasks, fits):  # in task order: the same tables for any jobs
        fit_seconds.setdefault(a, []).append(fit["fit_seconds"])
        epochs_run.setdefault(a, []).append(fit["epochs"])
        val_elbo.setdefault(a, []).append(fit["val_elbo"])
        for s in scores:
            raw.setdefault((a, s), []).append(fit["raw"][s])
            score_seconds.setdefault((a, s), []).append(fit["score_seconds"][s])

    keys = [(a, s) for a in range(len(grid.architectures)) for s in scores]
    rows = []
    finals: dict[tuple[int, str], list[np.ndarray]] = {}
    for a, s in keys:
        arch = grid.architectures[a]
        sets = raw[(a, s)]
        finite = all(np.isfinite(v).all() for v in sets)
        if not finite:
            notes.append(f"{arch.label}, score {s}: non-finite scores; its criteria are left "
                         "empty.")
        row = {"architecture": arch.label,
               "hidden": "-".join(str(h) for h in arch.hidden),
               "latent_dim": arch.latent_dim, "beta": arch.beta,
               "learning_rate": arch.learning_rate,
               "epochs": arch.epochs or base.epochs, "score": s,
               "val_neg_elbo": float(np.mean(val_elbo[a])),
               "val_neg_elbo_std": float(np.std(val_elbo[a])),
               "stability": mean_pairwise_spearman(sets) if finite else float("nan"),
               "morans_i": (float(np.mean([_rank_moran(v, neighbours) for v in sets]))
                            if finite else float("nan")),
               "morans_i_std": (float(np.std([_rank_moran(v, neighbours) for v in sets]))
                                if finite else float("nan")),
               "epochs_run": float(np.mean(epochs_run[a])),
               "fit_seconds": float(np.mean(fit_seconds[a])),
               "score_seconds": float(np.mean(score_seconds[(a, s)]))}
        row["seconds"] = row["fit_seconds"] + row["score_seconds"]
        if labels is not None and finite:
            cfg = arch_config(base, arch, s)
            finals[(a, s)] = [_final_scores(cfg, data, v) for v in sets]
            row.update(_protocol_aucs(base, data, finals[(a, s)], labels))
        rows.append(row)
    table = pd.DataFrame(rows)
    stab = table.groupby("architecture", sort=False)["stability"].mean()
    table.insert(table.columns.get_loc("stability") + 1, "architecture_stability",
                 table["architecture"].map(stab).astype(float))

    label_free = select_label_free(table, grid)
    blocked = None
    if select_by == "blocked-auc":
        usable = [k for k in keys if k in finals]
        blocked = select_blocked_auc(finals, labels[0], block_ids, usable)
        blocked["block_of_sample"] = block_ids
        per_key = dict(zip(usable, blocked["mean_block_auc"]))
        table["blocked_auc"] = [per_key.get(k, float("nan")) for k in keys]
        for fold in blocked["folds"]:
            a, s = usable[fold["chosen_on_other_blocks"]]
            fold["chosen"] = f"{grid.architectures[a].label} / {s}"
        a, s = usable[blocked["pick"]]
        row_index = keys.index((a, s))
        chosen = {"row": row_index, "architecture": grid.architectures[a].label, "score": s,
                  "rule": BLOCKED_RULE.format(blocks=len(set(block_ids.tolist())),
                                              nested=f"mean held-out AUC "
                                                     f"{blocked['nested_auc']:.3f}")}
    else:
        chosen = dict(label_free)
        chosen["rule"] = LABEL_FREE_RULE.format(
            tol=grid.stability_tolerance, hold=grid.holdout_fraction,
            min_stab=grid.min_stability, k=grid.moran_k,
            candidates=", ".join(candidate_scores(grid, scores)))
    table["kept_by_stability"] = table["architecture"].isin(label_free["kept_architectures"])
    table["candidate_score"] = table["score"].isin(candidate_scores(grid, scores))
    table["label_free_choice"] = [i == label_free["row"] for i in range(len(table))]
    table["chosen"] = [i == chosen["row"] for i in range(len(table))]
    table["selected_by"] = ("deposits: spatially blocked AUC" if select_by == "blocked-auc"
                            else "label-free (no deposit used)")

    arch = grid.architectures[keys[chosen["row"]][0]]
    chosen_config = arch_config(base, arch, chosen["score"])
    chosen_yaml = chosen_yaml_text(chosen_config, select_by, chosen, table)
    result = StudyResult(config=config, grid=grid, seeds=seed_list, select_by=select_by,
                         table=table, chosen=chosen, chosen_config=chosen_config,
                         chosen_yaml=chosen_yaml, label_free_choice=label_free, blocked=blocked,
                         data=data, notes=notes, seconds=time.perf_counter() - start)
    if config.out:
        from .export.study_report import write_study

        result.out_dir = Path(config.out)
        result.seconds = time.perf_counter() - start
        result.files = write_study(result, raw_scores=raw, keys=keys)
    return result


def _fit_and_score(config: RunConfig, X, train, hold, feature_names, scores) -> dict:
    """One fit on the training rows, its validation -ELBO, and every score on all rows."""
    import torch  # noqa: F401 - imported before the clock starts: it is not the fit's time

    from .detect import torch_training  # noqa: F401
    from .pipeline import build_detector

    detector = build_detector(config, feature_names)
    t0 = time.perf_counter()
    detector.fit(X[train])
    out = {"fit_seconds": time.perf_counter() - t0, "epochs": int(detector.n_epochs_),
           "val_elbo": float(np.mean(negative_elbo(detector, X[hold]))), "raw": {},
           "score_seconds": {}}
    for s in scores:
        detector.set_params(score=s)
        t0 = time.perf_counter()
        out["raw"][s] = np.asarray(detector.anomaly_score(X), dtype=np.float64)
        out["score_seconds"][s] = time.perf_counter() - t0
    return out


_WORKER: dict = {}


def _init_worker(X, train, hold, feature_names, scores) -> None:
    _WORKER.update(X=X, train=train, hold=hold, feature_names=feature_names, scores=scores)


def _worker_fit(config: RunConfig) -> dict:
    w = _WORKER
    return _fit_and_score(config, w["X"], w["train"], w["hold"], w["feature_names"],
                          w["scores"])


def _run_fits(tasks, X, train, hold, feature_names, scores, jobs: int, report) -> list[dict]:
    """Every (architecture, seed) fit, in task order; ``jobs`` > 1 runs them in spawned
    processes (not forked: a forked torch can hang on its thread pool)."""
    if jobs == 1 or len(tasks) == 1:
        fits = []
        for a, seed, cfg in tasks:
            fits.append(_fit_and_score(cfg, X, train, hold, feature_names, scores))
            report(a, seed, fits[-1])
        return fits
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context,
                             initializer=_init_worker,
                             initargs=(X, train, hold, list(feature_names), list(scores))) as pool:
        futures = {pool.submit(_worker_fit, cfg): i for i, (_, _, cfg) in enumerate(tasks)}
        fits: list[dict | None] = [None] * len(tasks)
        for future in as_completed(futures):
            i = futures[future]
            fits[i] = future.result()
            report(tasks[i][0], tasks[i][1], fits[i])
    return fits


def arch_config(config: RunConfig, arch: Architecture, score: str) -> RunConfig:
    """``config`` with the model keys of ``arch`` and ``score``."""
    return dataclasses.replace(config, model="vae", hidden=[int(h) for h in arch.hidden],
                               latent_dim=int(arch.latent_dim), beta=float(arch.beta),
                               learning_rate=float(arch.learning_rate),
                               epochs=int(arch.epochs or config.epochs), score=score)


def _deposits_metric(data) -> tuple[np.ndarray, np.ndarray]:
    """The deposits inside the surveyed area, in the metric coordinates of the samples."""
    from .export.outputs import _deposits_in

    x, y = _deposits_in(data.deposits, data.metric_crs, data.survey.crs)
    inside = (np.ones(len(x), bool) if data.deposits_inside is None
              else np.asarray(data.deposits_inside, bool))
    return np.asarray(x, float)[inside], np.asarray(y, float)[inside]


def _rank_moran(values, neighbours) -> float:
    from .grid.neighbours import percentile_ranks
    from .validate.moran import morans_i

    return morans_i(percentile_ranks(values), None, None, neighbours=neighbours)


def _final_scores(config: RunConfig, data, values) -> np.ndarray:
    """The score a run would report: the raw score with the run's spatial context."""
    from .pipeline import spatial_context

    return np.asarray(spatial_context(config, data, values), dtype=np.float64)


def _protocol_aucs(config: RunConfig, data, score_sets, labels) -> dict:
    """Mean AUC over the seeds under each of the run's protocols (for information only)."""
    from .pipeline import default_protocols, is_geographic
    from .validate import evaluate_opengad, evaluate_opengad_stratified, roc_auc

    survey, dep = data.survey, data.deposits
    geographic = is_geographic(survey.crs)
    positives = labels[0]
    out = {}
    for name in default_protocols(config):
        values = []
        for s in score_sets:
            if name == "samples":
                if not positives.any() or positives.all():
                    values.append(float("nan"))
                    continue
                values.append(roc_auc(s[positives], s[~positives]))
            elif name == "opengad":
                values.append(evaluate_opengad(s, survey.x, survey.y, dep.x, dep.y, geographic,
                                               min_dist=config.min_dist)["roc_auc"])
            else:
                if data.strata is None:
                    raise InputError("Protocol opengad-stratified needs --stratify-by COLUMN.")
                m = evaluate_opengad_stratified(s, survey.x, survey.y, dep.x, dep.y, geographic,
                                                data.strata, min_dist=config.min_dist,
                                                n_boot=1, seed=config.seed)
                values.append(m["roc_auc"])
        out[f"auc_{name}"] = float(np.mean(values))
    return out


# ------------------------------------------------------------------------------------------
# chosen.yaml

#: keys written to chosen.yaml whatever their value; the others only when the study's
#: configuration set them to something other than the default
_MODEL_KEYS = ("model", "hidden", "latent_dim", "beta", "learning_rate", "epochs", "score",
               "seed")
_NOT_WRITTEN = ("out", "progress")
_PATH_KEYS = ("deposits",)


def chosen_options(config: RunConfig) -> dict:
    """The RunConfig options of chosen.yaml: the model keys, then every other option the study
    ran with that differs from the default (inputs as absolute paths)."""
    from .export.writers import to_plain as plain

    defaults = RunConfig()
    options = {k: plain(getattr(config, k)) for k in _MODEL_KEYS}
    for f in dataclasses.fields(RunConfig):
        name = f.name
        if name in _MODEL_KEYS or name in _NOT_WRITTEN:
            continue
        value = getattr(config, name)
        if value == getattr(defaults, name):
            continue
        if name == "sources":
            value = [str(Path(s).resolve()) for s in value]
        elif name in _PATH_KEYS and value:
            value = str(Path(value).resolve())
        options[name] = plain(value)
    return options


def chosen_yaml_text(config: RunConfig, select_by: str, chosen: dict, table) -> str:
    import yaml

    row = table.iloc[chosen["row"]]
    if select_by == "blocked-auc":
        head = ["# geoanomaly study: DEPOSITS CHOSE THIS MODEL (--select-by blocked-auc).",
                "# The configuration with the best mean AUC over spatial blocks; its AUC on these",
                "# deposits is optimistic (it was chosen on them). Not a label-free choice.",
                f"# blocked AUC {row['blocked_auc']:.3f}, validation -ELBO "
                f"{row['val_neg_elbo']:.3f}, stability {row['stability']:.3f}, "
                f"Moran's I {row['morans_i']:.3f}"]
    else:
        head = ["# geoanomaly study: chosen label-free (no deposit was used to choose).",
                "# Rule: stable architectures (within the tolerance of the most stable), the",
                "# lowest validation -ELBO among them; the score is the package default unless",
                "# the grid lists candidate_scores, then Moran's I chooses (see study.html).",
                f"# validation -ELBO {row['val_neg_elbo']:.3f}, stability "
                f"{row['stability']:.3f}, Moran's I {row['morans_i']:.3f}"]
    head.append("# Use: geoanomaly run --config chosen.yaml SOURCE --out DIR")
    body = yaml.safe_dump(chosen_options(config), sort_keys=False, default_flow_style=None)
    return "\n".join(head) + "\n" + body + ensemble_hint(table)


def ensemble_hint(table, n: int = 3) -> str:
    """Commented YAML lines for an ensemble over the study's best architectures: the ``n``
    distinct hidden-layer shapes with the lowest held-out -ELBO among the seed-stable ones
    (label-free)."""
    by_arch = table.drop_duplicates("architecture")
    if "kept_by_stability" in by_arch and by_arch["kept_by_stability"].any():
        by_arch = by_arch[by_arch["kept_by_stability"].astype(bool)]
    by_arch = by_arch.sort_values("val_neg_elbo")
    shapes = []
    for hidden in by_arch["hidden"]:
        shape = [int(v) for v in str(hidden).replace("(", "").replace(")", "").replace(
            "[", "").replace("]", "").replace("-", ",").split(",") if v.strip()]
        if shape and shape not in shapes:
            shapes.append(shape)
        if len(shapes) == n:
            break
    if len(shapes) < 2:
        return ""
    return ("# An ensemble over the study's best stable architectures (lowest held-out -ELBO), with\n"
            "# an uncertainty map: uncomment both lines.\n"
            f"# ensemble: {len(shapes)}\n"
            f"# ensemble_architectures: {shapes}\n")
