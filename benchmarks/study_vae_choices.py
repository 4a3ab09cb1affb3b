"""Measured study: which label-free choices let the VAE pipeline beat the simple baselines.

Deposits are used only to evaluate.  The runs behind benchmarks/STUDY.md (1 torch thread each;
a VAE fit takes 20-110 s on a shared 2-core machine, the whole set about 25 min):

    PY=.venv/bin/python; S=benchmarks/study_vae_choices.py
    $PY $S --datasets sed1                                              # stage 1, 13 fits
    $PY $S --datasets xinjiang_au --sets broad,core --methods clr,log10 # stage 1, 4 fits
    $PY $S --datasets sed1 --stage 2 --config core,log10,0 --seeds 0    # VAE settings, 4 fits
    $PY $S --datasets sed1 --stage 3 --config core,log10,0 --seeds 0,1,2
    $PY $S --datasets sed1 --stage 3 --config core,clr,0 --seeds 0,1,2
    $PY $S --datasets xinjiang_au --stage 3 --config core,clr,0 --seeds 0,1,2
    $PY $S --datasets rock2,soil1 --sets core --methods log10,clr       # check, 4 fits

Each prints markdown table rows.  Choices studied (see benchmarks/STUDY.md for why):
element set (all / core / broad gold pathfinders), transform (log10 / clr / ilr, robust scaling),
per-survey levelling by ``WAMEX_A_NO``, VAE score (recon / rp / enrichment-only), spatial
smoothing of the score (mean over the k nearest samples, 3x3 mean on grids), and VAE settings.
Baselines (univariate Au, 8-NN mean of log Au, MCD, PCA, Isolation Forest) are computed on the
same preprocessing so every comparison is like for like.

The study is an ablation ladder, not a grid search: stage 1 crosses element set x transform x
levelling for the default VAE (seed 0); stage 2 varies the VAE settings on one configuration;
stage 3 reruns the candidate defaults with several seeds.  Every configuration tried is printed,
so the reader can judge the selection bias.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoanomaly.clean import CleaningOptions, clean
from geoanomaly.detect import IsolationForestDetector, MCDDetector, PCADetector, VAEDetector
from geoanomaly.io import read_deposits, read_survey
from geoanomaly.transform import Transformer, level_by_group
from geoanomaly.transform.transforms import pivot_basis
from geoanomaly.validate import (cell_labels, evaluate_opengad, evaluate_opengad_stratified,
                                 evaluate_samples, sample_labels)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: Gold pathfinders.  Core: the elements most consistently enriched around orogenic gold
#: (Boyle 1979, GSC Bulletin 280; Eilu & Groves 2001, GEEA 1:183-200, Yilgarn haloes).
#: Broad: core plus the elements also reported in orogenic / epithermal haloes and dispersion
#: trains (Te, Mo, Pb, Zn, Hg; Levinson 1974; Eilu & Groves 2001).
GOLD_CORE = ["Au", "As", "Sb", "Bi", "W", "Ag", "Cu"]
GOLD_BROAD = ["Au", "As", "Sb", "Bi", "Te", "W", "Mo", "Ag", "Cu", "Pb", "Zn", "Hg"]
ELEMENT_SETS = {"all": None, "core": GOLD_CORE, "broad": GOLD_BROAD}

#: a WAMEX report with fewer samples than this is not levelled (its median would be noise)
MIN_LEVEL_GROUP = 20


# -- datasets ----------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    survey: object            # cleaned Survey
    dep_x: np.ndarray
    dep_y: np.ndarray
    geographic: bool
    groups: np.ndarray | None = None      # WAMEX_A_NO of the kept row (levelling)
    strata: list | None = None            # frozenset of WAMEX_A_NO per kept row (stratified)
    radius: float | None = None           # "samples" protocol radius (points)
    min_dist: float = 5000.0
    protocols: tuple = ("opengad",)
    neighbours: dict = field(default_factory=dict)  # k -> (n, k) index array


def load_points(name, csv, site, radius, protocols):
    raw = read_survey([str(DATA / "gswa" / "geochemical" / csv)])
    survey, report = clean(raw, CleaningOptions())
    deposits = read_deposits(DATA / "gswa" / "site" / site, survey.crs)
    wamex = raw.meta["WAMEX_A_NO"].astype(str).to_numpy()
    rows = report.input_rows()
    strata = [frozenset(wamex[r]) for r in rows]
    groups = np.array([wamex[r[0]] for r in rows])
    return Dataset(name, survey, deposits.x, deposits.y, geographic=True, groups=groups,
                   strata=strata, radius=radius, protocols=protocols)


def load_xinjiang():
    raw = read_survey([str(DATA / "xinjiang_au" / "elements")])
    survey, _ = clean(raw, CleaningOptions())
    deposits = read_deposits(DATA / "xinjiang_au" / "deposits.csv", survey.crs)
    return Dataset("xinjiang_au", survey, deposits.x, deposits.y, geographic=False,
                   protocols=("samples",))


LOADERS = {
    "sed1": lambda: load_points("sed1", "area1_sediment_au.csv", "area1_sediment_au_site.csv",
                                2000.0, ("opengad", "opengad-stratified", "samples")),
    "soil1": lambda: load_points("soil1", "area6_soil_au.csv", "area6_soil_au_site.csv",
                                 100.0, ("opengad", "samples")),
    "rock2": lambda: load_points("rock2", "area4_rockchip_au.csv", "area4_rockchip_au_site.csv",
                                 50.0, ("opengad", "samples")),
    "xinjiang_au": load_xinjiang,
}


# -- evaluation --------------------------------------------------------------------------------
def evaluate(ds: Dataset, scores: np.ndarray) -> dict:
    """AUC per protocol: opengad -> (mean, std); stratified / samples -> (auc, lo, hi)."""
    s = ds.survey
    out = {}
    if "opengad" in ds.protocols:
        r = evaluate_opengad(scores, s.x, s.y, ds.dep_x, ds.dep_y, ds.geographic, ds.min_dist)
        out["opengad"] = (r["roc_auc"], r["roc_auc_std"])
    if "opengad-stratified" in ds.protocols:
        r = evaluate_opengad_stratified(scores, s.x, s.y, ds.dep_x, ds.dep_y, ds.geographic,
                                        ds.strata, ds.min_dist, n_boot=500)
        out["opengad-stratified"] = (r["roc_auc"], *r["roc_auc_ci"])
    if "samples" in ds.protocols:
        if s.is_grid:
            labels = cell_labels(s.grid, ds.dep_x, ds.dep_y).labels
        else:
            labels = sample_labels(s.x, s.y, ds.dep_x, ds.dep_y, ds.radius, ds.geographic)
        r = evaluate_samples(scores, labels, n_boot=500)
        out["samples"] = (r["roc_auc"], *r["roc_auc_ci"])
    return out


# -- spatial context ---------------------------------------------------------------------------
def neighbour_index(ds: Dataset, k: int) -> np.ndarray:
    """(n, k) indices of each sample's k nearest samples, itself included (great-circle for
    lon/lat).  Cached per dataset."""
    if k not in ds.neighbours:
        from sklearn.neighbors import BallTree
        s = ds.survey
        if ds.geographic:
            pts = np.radians(np.column_stack([s.y, s.x]))
            tree = BallTree(pts, metric="haversine")
        else:
            pts = np.column_stack([s.x, s.y])
            tree = BallTree(pts)
        ds.neighbours[k] = tree.query(pts, k=k)[1]
    return ds.neighbours[k]


def smooth(ds: Dataset, scores: np.ndarray, k: int) -> np.ndarray:
    """Label-free spatial context: mean of the score's percentile rank over the k nearest
    samples (points) or over a (k=9 -> 3x3, k=25 -> 5x5) window (grids).  Ranks, not raw
    scores, so that one extreme sample does not paint its neighbours."""
    if k <= 1:
        return scores
    ranks = pd.Series(scores).rank(pct=True).to_numpy()
    s = ds.survey
    if s.is_grid:
        from scipy.ndimage import uniform_filter
        size = int(round(np.sqrt(k)))
        image = np.full(s.grid.valid.shape, np.nan)
        rows, cols = s.grid.cell_rows_cols()
        image[rows, cols] = ranks
        filled = np.where(np.isnan(image), 0.0, image)
        weight = uniform_filter((~np.isnan(image)).astype(float), size=size, mode="constant")
        mean = uniform_filter(filled, size=size, mode="constant") / np.maximum(weight, 1e-12)
        return mean[rows, cols]
    return ranks[neighbour_index(ds, k)].mean(axis=1)


# -- preprocessing -----------------------------------------------------------------------------
@dataclass
class Prepared:
    X: np.ndarray
    elements: list
    transformer: Transformer
    pathfinder_cols: list     # element indices counted by the enrichment score
    target_col: int | None


def prepare(ds: Dataset, element_set: str, method: str, level: bool) -> Prepared:
    values = ds.survey.values
    wanted = ELEMENT_SETS[element_set]
    elements = list(values.columns) if wanted is None else [e for e in wanted if e in values]
    table = values[elements].astype(float)
    if level and ds.groups is not None:
        levelled = level_by_group(table, ds.groups)
        sizes = pd.Series(ds.groups).map(pd.Series(ds.groups).value_counts()).to_numpy()
        big = np.repeat((sizes >= MIN_LEVEL_GROUP)[:, None], table.shape[1], axis=1)
        table = levelled.where(big, table)
    transformer = Transformer(method=method, scale="robust")
    X = transformer.fit_transform(table)
    pathfinders = [i for i, e in enumerate(elements) if e in GOLD_BROAD]
    target = elements.index("Au") if "Au" in elements else None
    return Prepared(X, elements, transformer, pathfinders, target)


# -- scores ------------------------------------------------------------------------------------
def vae_scores(prep: Prepared, seed=0, beta=1.0, latent=3, epochs=200) -> dict:
    """Fit one VAE and return its scores: recon, rp, enrich (pathfinders), enrich_au."""
    import torch

    det = VAEDetector(beta=beta, latent_dim=latent, epochs=epochs, seed=seed, score="recon")
    det.fit(prep.X)
    out = {"recon": det.anomaly_score(prep.X)}
    det.score = "rp"
    out["rp"] = det.anomaly_score(prep.X)
    det.score = "recon"
    Z = ((prep.X - det.mean_) / det.scale_).astype(np.float32)
    with torch.inference_mode():
        mu, _ = det._encode(det.network_, torch.from_numpy(Z))
        x_hat, _ = det._decode(det.network_, mu)
    resid = Z - x_hat.numpy().astype(np.float64)        # detector-standardised feature units
    t = prep.transformer
    if t.method == "ilr":
        # back to element (clr) residuals: undo both scalings, rotate, rescale per clr column
        raw = resid * det.scale_ * t.scale_
        V = pivot_basis(len(prep.elements))
        clr_resid = raw @ V.T
        clr_data = (prep.X * t.scale_ + t.center_) @ V.T
        mad = 1.4826 * np.median(np.abs(clr_data - np.median(clr_data, axis=0)), axis=0)
        resid = clr_resid / np.where(mad > 0, mad, 1.0)
    pos = np.maximum(resid, 0.0) ** 2
    cols = prep.pathfinder_cols or list(range(resid.shape[1]))
    out["enrich"] = pos[:, cols].sum(axis=1)
    if prep.target_col is not None:
        weights = np.zeros(resid.shape[1])
        others = [c for c in cols if c != prep.target_col]
        weights[others] = 1.0 / max(len(others), 1)
        weights[prep.target_col] = 1.0   # half the weight on the target element
        out["enrich_au"] = pos @ weights
    return out


def baseline_scores(ds: Dataset, prep: Prepared) -> dict:
    au = ds.survey.values["Au"].to_numpy(float)
    out = {"Au": au}
    # MCD on the ilr coordinates of the same clr: clr parts sum to zero (singular covariance)
    # and Mahalanobis distance is the same in any basis of that subspace
    ilr = prep.X * prep.transformer.scale_ + prep.transformer.center_
    ilr = ilr @ pivot_basis(ilr.shape[1]) if prep.transformer.method == "clr" else prep.X
    out["MCD"] = MCDDetector(seed=0).fit(ilr).anomaly_score(ilr)
    out["PCA"] = PCADetector().fit(prep.X).anomaly_score(prep.X)
    out["IForest"] = IsolationForestDetector(seed=0).fit(prep.X).anomaly_score(prep.X)
    return out


# -- the study ---------------------------------------------------------------------------------
PROTOCOL_ORDER = ("opengad", "opengad-stratified", "samples")
SMOOTH_K = (1, 4, 8, 12)


def fmt(value) -> str:
    if len(value) == 2:
        return f"{value[0]:.3f} +- {value[1]:.3f}"
    return f"{value[0]:.3f} ({value[1]:.2f}-{value[2]:.2f})"


class Table:
    def __init__(self, ds):
        self.ds = ds
        self.rows = []

    def add(self, config: str, score: str, k: int, result: dict):
        self.rows.append((config, score, k, result))
        cells = " | ".join(fmt(result[p]) for p in PROTOCOL_ORDER if p in result)
        print(f"| {self.ds.name} | {config} | {score} | {k} | {cells} |", flush=True)

    def header(self):
        names = " | ".join(p for p in PROTOCOL_ORDER if p in self.ds.protocols)
        print(f"\n| data | configuration | score | k | {names} |", flush=True)
        print("|---" * (4 + len([p for p in PROTOCOL_ORDER if p in self.ds.protocols])) + "|",
              flush=True)


def grid_k(ds):
    return (1, 9) if ds.survey.is_grid else SMOOTH_K


def run_dataset(ds: Dataset, seeds: list[int], quick: bool, sets=("all", "core", "broad"),
                epochs=200, baselines=True, methods=None):
    table = Table(ds)
    table.header()
    levels = (False, True) if ds.groups is not None and ds.name == "sed1" else (False,)
    ks = grid_k(ds)
    # baselines on each element set (log10 robust is the baseline's natural scale; clr as well)
    baseline_preps = [("all", False), ("broad", False)] + [("broad", True)] * (len(levels) > 1)
    for element_set, level in baseline_preps if baselines else []:
        prep = prepare(ds, element_set, "clr", level)
        for name, score in baseline_scores(ds, prep).items():
            if name == "Au" and (element_set != "all" or level):
                continue
            for k in ks:
                score_k = smooth(ds, score, k)
                if name == "Au" and k > 1 and not ds.survey.is_grid:
                    # the BASELINES.md spatial baseline: mean of log Au (not of its ranks)
                    mean_log = np.log(score)[neighbour_index(ds, k)].mean(axis=1)
                    table.add("baseline", "mean log Au", k, evaluate(ds, mean_log))
                table.add(f"baseline {element_set} clr{' level' if level else ''}"
                          if name != "Au" else "baseline",
                          name, k, evaluate(ds, score_k))
    # stage 1: element set x transform x levelling, default VAE, seed 0
    methods = tuple(methods.split(",")) if methods else (
        ("clr",) if quick else ("log10", "clr", "ilr"))
    for element_set in sets:
        for method in methods:
            for level in levels:
                if element_set == "all" and (method != "clr" or level):
                    continue   # the all-element reference is run once, as in BASELINES.md
                prep = prepare(ds, element_set, method, level)
                t0 = time.time()
                scores = vae_scores(prep, seed=seeds[0], epochs=epochs)
                config = (f"{element_set}({len(prep.elements)}) {method}"
                          f"{' level' if level else ''} fit {time.time() - t0:.0f}s")
                for name, score in scores.items():
                    for k in ks:
                        table.add(config, name, k, evaluate(ds, smooth(ds, score, k)))
    return table


def run_settings(ds: Dataset, element_set, method, level, seeds, settings, score_names, ks):
    """Stage 2/3: VAE settings and seeds on one preprocessing; mean and std over seeds."""
    prep = prepare(ds, element_set, method, level)
    print(f"\n### {ds.name}: {element_set}({','.join(prep.elements)}) {method}"
          f"{' levelled' if level else ''}, seeds {seeds}")
    print("| setting | score | k | " + " | ".join(p for p in PROTOCOL_ORDER
                                                  if p in ds.protocols) + " |")
    print("|---" * (3 + len([p for p in PROTOCOL_ORDER if p in ds.protocols])) + "|")
    for label, params in settings.items():
        per_seed = [vae_scores(prep, seed=s, **params) for s in seeds]
        for name in score_names:
            for k in ks:
                results = [evaluate(ds, smooth(ds, sc[name], k)) for sc in per_seed]
                cells = []
                for p in PROTOCOL_ORDER:
                    if p in ds.protocols:
                        aucs = np.array([r[p][0] for r in results])
                        cells.append(f"{aucs.mean():.3f} +- {aucs.std():.3f}")
                print(f"| {label} | {name} | {k} | " + " | ".join(cells) + " |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="sed1,xinjiang_au")
    parser.add_argument("--stage", default="1", help="1 (ladder), 2 (VAE settings), 3 (seeds)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true", help="clr only in stage 1")
    parser.add_argument("--sets", default="all,core,broad", help="stage 1 element sets")
    parser.add_argument("--methods", default=None, help="stage 1 transforms (default all 3)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--config", default="broad,clr,1",
                        help="stage 2/3 preprocessing: element set, transform, level (0/1)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(1)  # tiny network: more threads only add sync overhead
    seeds = [int(s) for s in args.seeds.split(",")]
    element_set, method, level = args.config.split(",")
    for name in args.datasets.split(","):
        ds = LOADERS[name]()
        print(f"\n## {name}: {ds.survey.n} samples, elements after cleaning: "
              f"{','.join(ds.survey.elements)}", flush=True)
        for set_name in ("core", "broad"):
            kept = [e for e in ELEMENT_SETS[set_name] if e in ds.survey.elements]
            print(f"- {set_name} pathfinders present: {','.join(kept)}")
        if args.stage == "1":
            run_dataset(ds, seeds, args.quick, tuple(args.sets.split(",")), args.epochs,
                        not args.no_baselines, args.methods)
        elif args.stage == "2":
            settings = {"beta1 z3": {}, "beta0.5 z3": {"beta": 0.5}, "beta1 z2": {"latent": 2},
                        "beta1 z3 100ep": {"epochs": 100}}
            run_settings(ds, element_set, method, level == "1" and name == "sed1", seeds[:1],
                         settings, ("recon", "enrich", "enrich_au"), grid_k(ds))
        else:
            run_settings(ds, element_set, method, level == "1" and name == "sed1", seeds,
                         {"beta1 z3": {}}, ("recon", "rp", "enrich", "enrich_au"), grid_k(ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
