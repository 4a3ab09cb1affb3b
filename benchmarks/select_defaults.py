"""Choose the VAE's default score and target-element policy, leave one dataset out.

    .venv/bin/python benchmarks/select_defaults.py [--data-root ../shared/data]
        [--out benchmarks/results] [--datasets ...] [--quick]

Why: a default chosen by looking at the AUC it is then reported with is an in-sample result.
Here every candidate default (a target-element policy x a VAE score) is scored on every dataset
we have -- the shared real surveys and the synthetic surveys with known truth (the four anomaly
kinds of ``geoanomaly.demo.kinds`` and the Fe-polymetallic demo grid) -- against the best simple
baseline of that dataset (univariate target element with and without spatial context, MCD, PCA,
Isolation Forest). For each dataset D the candidate is chosen on the OTHER datasets only, by the
rule "maximise the worst gap to the best baseline" (maximin: a default must not collapse on any
survey), and D's result is reported for that choice: out of sample. The package default is the
choice made on all datasets; where it differs from a dataset's leave-one-out choice, that
dataset's number for the package default is in-sample and is marked so.

Everything runs through the package's own code path (``pipeline.prepare``, ``build_detector``,
``spatial_context``, ``protocol_metrics``); one VAE fit per dataset and element set is scored
under every score (the score is used only at scoring time; the weights too).

Writes ``select_defaults.json`` (every AUC) and ``select_defaults.md`` (the tables) to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import (DATASETS, DEFAULT_DATA_ROOT, DEFAULT_OUT, git_commit,  # noqa: E402
                            log, machine_info)

#: with the package's spatial context (mean neighbour rank, 8 samples / 3 x 3 cells) and without
SPATIAL_CONTEXTS = ("context", "raw")
SCORES = ("enrich", "recon", "kl", "enrich-kl", "elbo", "enrich-elbo", "nll", "combined")
#: (the order of SCORES breaks near-ties too: the issue-3 default first)
#: order = the tie-break between candidates that score the same on the datasets chosen on
#: ("auto" and "pathfinders" coincide wherever the pathfinder set is not thin): "auto" first,
#: because the issue asks that a thin set not throw away the suite's signal -- a reason from
#: the method, not from a score. (Set after a first run showed such ties; recorded here.)
POLICIES = ("auto", "pathfinders", "weighted-suite", "suite")
BASELINES = ("univariate", "univariate+knn8", "mcd", "pca", "iforest")
#: the protocol each dataset's choice is judged on: the confound-free one where surveys are
#: known (PROTOCOLS.md), "samples" for grids and synthetic surveys
PRIMARY = {"sed1": "opengad-stratified", "soil1": "opengad-stratified",
           "rock2": "opengad-stratified", "li4": "opengad-stratified"}
#: bootstrap resamples of the intervals here (the choice uses point AUCs; run_benchmarks.py
#: reports the final intervals with 1,000)
SELECT_N_BOOT = 200
SYNTHETIC = ("off-structure", "joint", "mixed", "point-source", "demo")


@dataclass
class Dataset:
    name: str
    config: object  # RunConfig
    synthetic: bool


def real_datasets(data_root: Path, names, quick: bool) -> list[Dataset]:
    from run_benchmarks import dataset_config, missing_reason

    out = []
    for name in names:
        spec = DATASETS[name]
        reason = missing_reason(spec, data_root)
        if reason:
            log(f"[{name}] skipped: {reason}")
            continue
        config = dataclasses.replace(dataset_config(spec, data_root, quick), n_boot=SELECT_N_BOOT)
        out.append(Dataset(name, config, False))
    return out


def synthetic_datasets(root: Path, names, quick: bool) -> list[Dataset]:
    from geoanomaly.config import make_config
    from geoanomaly.demo import write_demo_inputs
    from geoanomaly.demo.kinds import make_kind_survey, write_kind_inputs

    out = []
    extra = dict(epochs=3, n_boot=SELECT_N_BOOT) if quick else dict(n_boot=SELECT_N_BOOT)
    for name in names:
        if name == "demo":
            paths = write_demo_inputs(root / "demo", seed=0)
            config = make_config(sources=[str(paths.grid_dir)], deposits=str(paths.deposits_csv),
                                 target="Fe-poly", protocols=["samples"], seed=0, **extra)
        else:
            truth = make_kind_survey(name, seed=0)
            paths = write_kind_inputs(name, root / name, seed=0)
            config = make_config(sources=[str(paths.samples_csv)], deposits=str(paths.deposits_csv),
                                 crs=truth.crs, target=truth.target, radius=truth.halo_radius,
                                 protocols=["samples"], seed=0, **extra)
        out.append(Dataset(name, config, True))
    return out


def primary_protocol(name: str) -> str:
    return PRIMARY.get(name, "samples")


def score_dataset(ds: Dataset) -> dict:
    """{candidate or baseline name: {protocol: AUC}} for one dataset."""
    from geoanomaly.compare import model_features
    from geoanomaly.pipeline import (build_detector, deposit_labels, prepare, protocol_metrics,
                                     spatial_context, target_weights)

    results: dict[str, dict] = {}

    def record(key, config, data, labels, raw, contexts=SPATIAL_CONTEXTS):
        for context in contexts:
            cfg = dataclasses.replace(config, smooth_k=None if context == "context" else 0)
            scores = spatial_context(cfg, data, np.asarray(raw, dtype=np.float64))
            name = key if len(contexts) == 1 else f"{key}|{context}"
            results[name] = {}
            for p, m in protocol_metrics(cfg, data, scores, labels).items():
                results[name][p] = float(m["roc_auc"])
                results[name][p + " interval"] = m.get("roc_auc_ci") or m.get("roc_auc_std")

    prepared = {}
    for element_set, policy in (("pathfinders", "pathfinders"), ("suite", "weighted-suite")):
        config = dataclasses.replace(ds.config, model="vae", target_elements=policy)
        t0 = time.perf_counter()
        data = prepare(config)
        labels = deposit_labels(config, data)
        prepared[element_set] = (config, data, labels)
        log(f"[{ds.name}] {element_set}: {data.survey.n} x {len(data.feature_names)} "
            f"({', '.join(data.feature_names[:12])}{' ...' if len(data.feature_names) > 12 else ''})"
            f", transform {data.transformer.method}, prepared in {time.perf_counter() - t0:.1f} s")
        for model in ("vae", "ppca"):
            t0 = time.perf_counter()
            detector = build_detector(dataclasses.replace(config, model=model), data.feature_names)
            detector.fit(data.X)
            fitted = time.perf_counter() - t0
            policies = ["pathfinders"] if element_set == "pathfinders" else ["suite",
                                                                            "weighted-suite"]
            for pol in policies:
                weights = target_weights(dataclasses.replace(config, target_elements=pol),
                                         data.feature_names)
                for score in SCORES:
                    detector.set_params(score=score, feature_weights=weights)
                    raw = detector.anomaly_score(data.X)
                    record(f"{model}|{pol}|{score}", config, data, labels, raw)
            log(f"[{ds.name}] {element_set} {model}: fitted in {fitted:.1f} s, " + ", ".join(
                f"{s} {results[f'{model}|{policies[-1]}|{s}|context'][primary_protocol(ds.name)]:.3f}"
                for s in SCORES))
    # auto = pathfinders or weighted-suite, as the package resolves it for this survey
    from geoanomaly.targets import resolve_target_policy

    config, data, _ = prepared["suite"]
    auto = resolve_target_policy("auto", config.target, list(data.survey.elements))
    for model in ("vae", "ppca"):
        for score in SCORES:
            for context in SPATIAL_CONTEXTS:
                results[f"{model}|auto|{score}|{context}"] = \
                    results[f"{model}|{auto}|{score}|{context}"]
    results["_auto_resolves_to"] = auto

    # simple baselines on the pathfinders (raw, and the univariate with spatial context)
    config, data, labels = prepared["pathfinders"]
    for name in BASELINES:
        model = "univariate" if name.startswith("univariate") else name
        cfg = dataclasses.replace(config, model=model)
        if name == "univariate+knn8":  # the spatial baseline of BASELINES.md: 8 neighbours
            raw_cfg = dataclasses.replace(cfg, smooth_k=8)
        else:
            raw_cfg = dataclasses.replace(cfg, smooth_k=0)
        try:
            detector = build_detector(cfg, data.feature_names)
            X = model_features(model, cfg, data)
            raw = detector.fit(X).anomaly_score(X)
        except Exception as exc:  # noqa: BLE001 - a failing baseline is recorded, not fatal
            log(f"[{ds.name}] baseline {name} failed: {exc}")
            continue
        scores = spatial_context(raw_cfg, data, np.asarray(raw, dtype=np.float64))
        record(f"baseline|{name}", raw_cfg, data, labels, scores, contexts=("raw",))
    return results


#: candidates within this of the best worst gap AND the best mean gap are ties, broken by the
#: candidates' order (POLICIES, then SCORES, then SPATIAL_CONTEXTS). 0.005 is far below what
#: these AUCs resolve (their intervals are 0.05-0.2 wide). Added after the first full run, where
#: "pathfinders" beat "auto" by 0.001 on soil1 (their only difference); recorded in DESIGN.md.
TIE_TOLERANCE = 0.005


def choose(candidates: list[str], datasets: list[str], table: dict) -> tuple[str, float, float]:
    """The candidate with the best worst-case gap to the best baseline over ``datasets``
    (then the best mean gap; near-ties go to the earlier candidate): (candidate, worst, mean)."""
    keys = {}
    for c in candidates:
        gaps = [gap(table, d, c) for d in datasets]
        keys[c] = (min(gaps), float(np.mean(gaps)))
    best_worst, best_mean = max(keys.values())
    chosen = next(c for c in candidates if keys[c][0] >= best_worst - TIE_TOLERANCE
                  and keys[c][1] >= best_mean - TIE_TOLERANCE)
    return chosen, keys[chosen][0], keys[chosen][1]


def best_baseline(table: dict, d: str) -> tuple[str, float]:
    p = primary_protocol(d)
    items = [(k.split("|", 1)[1], v[p]) for k, v in table[d].items()
             if k.startswith("baseline|")]
    return max(items, key=lambda kv: kv[1])


def gap(table: dict, d: str, candidate: str) -> float:
    return table[d][candidate][primary_protocol(d)] - best_baseline(table, d)[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--datasets", default=",".join(list(DATASETS) + list(SYNTHETIC)))
    parser.add_argument("--quick", action="store_true", help="3 epochs, n_boot 200 (tests)")
    parser.add_argument("--from-json", type=Path, metavar="FILE",
                        help="re-run only the choice on the AUC table of an earlier "
                             "select_defaults.json (no fitting)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    start = time.perf_counter()
    if args.from_json:
        table = json.loads(args.from_json.read_text())["table"]
        return report_choices(args, argv, {d: table[d] for d in names if d in table}, start)
    with tempfile.TemporaryDirectory() as tmp:
        datasets = real_datasets(args.data_root, [n for n in names if n in DATASETS], args.quick)
        datasets += synthetic_datasets(Path(tmp), [n for n in names if n in SYNTHETIC], args.quick)
        table = {}
        for ds in datasets:
            t0 = time.perf_counter()
            table[ds.name] = score_dataset(ds)
            log(f"[{ds.name}] done in {time.perf_counter() - t0:.0f} s")
    return report_choices(args, argv, table, start)


def report_choices(args, argv, table: dict, start: float) -> int:
    """Choose on all datasets and leaving each out; write the json and markdown reports."""
    names = list(table)
    candidates = [f"vae|{p}|{s}|{c}" for p in POLICIES for s in SCORES for c in SPATIAL_CONTEXTS]
    overall, worst, mean = choose(candidates, names, table)
    lodo = {}
    for d in names:
        others = [o for o in names if o != d] or [d]  # one dataset alone: in-sample only
        chosen, _, _ = choose(candidates, others, table)
        lodo[d] = {"chosen_without_it": chosen, "auc": table[d][chosen][primary_protocol(d)],
                   "gap": gap(table, d, chosen), "default_auc":
                   table[d][overall][primary_protocol(d)],
                   "default_is_out_of_sample": chosen == overall and others != [d],
                   "best_baseline": best_baseline(table, d)}
    report = {"command": " ".join(["benchmarks/select_defaults.py"] + (sys.argv[1:] if argv is None
                                                                       else list(argv))),
              "git_commit": git_commit(), "machine": machine_info(),
              "seconds": round(time.perf_counter() - start, 1), "rule":
              "maximise the worst gap (AUC - best simple baseline) over the datasets chosen on",
              "primary_protocols": {d: primary_protocol(d) for d in names},
              "chosen_on_all": {"candidate": overall, "worst_gap": worst, "mean_gap": mean},
              "leave_one_dataset_out": lodo, "table": table}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "select_defaults.json").write_text(json.dumps(report, indent=1, default=str))
    (args.out / "select_defaults.md").write_text(markdown(report, candidates))
    log(f"chosen on all datasets: {overall} (worst gap {worst:+.3f}, mean {mean:+.3f}); "
        f"wrote {args.out / 'select_defaults.md'} in {report['seconds'] / 60:.1f} min")
    return 0


def markdown(report: dict, candidates: list[str]) -> str:
    table, lodo = report["table"], report["leave_one_dataset_out"]
    names = list(table)
    lines = [f"Command: `{report['command']}` (commit {report['git_commit']}, "
             f"{report['machine']['cpu']}, {report['machine']['nproc']} cores, "
             f"{report['seconds'] / 60:.1f} min)", "",
             f"Rule: {report['rule']}. Chosen on all datasets: "
             f"`{report['chosen_on_all']['candidate']}` (worst gap "
             f"{report['chosen_on_all']['worst_gap']:+.3f}, mean "
             f"{report['chosen_on_all']['mean_gap']:+.3f}).", "",
             "## Leave one dataset out", "",
             "| dataset | protocol | chosen without it | its AUC there (out of sample) | "
             "best simple baseline | gap | package default's AUC | default out of sample? |",
             "|---|---|---|---|---|---|---|---|"]
    for d in names:
        r = lodo[d]
        base = r["best_baseline"]
        lines.append(f"| {d} | {primary_protocol(d)} | `{r['chosen_without_it']}` | "
                     f"{r['auc']:.3f} | {base[0]} {base[1]:.3f} | {r['gap']:+.3f} | "
                     f"{r['default_auc']:.3f} | "
                     f"{'yes' if r['default_is_out_of_sample'] else 'no (in-sample)'} |")
    lines += ["", "## Every candidate (primary protocol AUC; VAE then its linear twin PPCA)", "",
              "| candidate | " + " | ".join(names) + " | worst gap |",
              "|---|" + "---|" * (len(names) + 1)]
    for c in candidates + [c.replace("vae|", "ppca|", 1) for c in candidates]:
        aucs = [table[d][c][primary_protocol(d)] for d in names]
        worst = min(gap(table, d, c) for d in names)
        lines.append(f"| {c} | " + " | ".join(f"{a:.3f}" for a in aucs) + f" | {worst:+.3f} |")
    for b in BASELINES:
        key = f"baseline|{b}"
        lines.append(f"| {key} | " + " | ".join(
            f"{table[d][key][primary_protocol(d)]:.3f}" if key in table[d] else "-"
            for d in names) + " | |")
    lines += ["", "auto resolves to: " + ", ".join(f"{d} {table[d]['_auto_resolves_to']}"
                                                   for d in names)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
