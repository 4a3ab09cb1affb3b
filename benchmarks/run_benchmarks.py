"""Every detector on every shared dataset under every protocol that applies, in one command.

    .venv/bin/python benchmarks/run_benchmarks.py [--data-root ../shared/data]
        [--out benchmarks/results] [--models vae,ae,mcd,pca,iforest,univariate]
        [--datasets sed1,soil1,rock2,li4,xinjiang_au] [--quick]

Writes ``results.json`` (every number with its protocol, interval, counts and the configuration
that produced it) and ``results.md`` (one markdown table) to ``--out``.

It uses the package's own flow (``geoanomaly.compare.prepare`` / ``run_model``) and the package
DEFAULTS for every model setting; only what is specific to a dataset (files, validation radius,
target commodity, survey column for the stratified protocol) is set here, from
../shared/benchmarks/PROTOCOLS.md and the data READMEs.  So when the defaults change, rerunning
this script measures the new defaults.

Each dataset is run with two element sets:
- "pathfinders": ``target`` set, so the package keeps the target's pathfinder elements (the
  configuration a user gets with ``--target``), every requested model;
- "all elements": every element the cleaning keeps, the simple baselines only (mcd, pca, iforest,
  univariate), for comparison with ../shared/benchmarks/BASELINES.md, which used all elements.
Each element set also gets the spatial baseline "univariate+knn8": the transformed target element
averaged over each sample's (cell's) 8 nearest neighbours (``smooth_k=8``, model univariate).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance.py beside this script

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results"
from geoanomaly.detect.registry import REGISTRY  # noqa: E402 - every registered detector

#: every registered detector that `compare` runs by default (slow map models such as mcae run
#: with --models mcae)
DEFAULT_MODELS = tuple(n for n, s in REGISTRY.items() if s.in_compare)
#: the detectors that run with the package's spatial context (the VAE family, so that "what the
#: network adds" compares like with like); the simple baselines run raw, as BASELINES.md did
CONTEXT_MODELS = tuple(n for n, s in REGISTRY.items() if s.spatial_context_in_benchmark)
#: The detectors run on all elements too (the simple baselines of BASELINES.md).
SIMPLE_BASELINES = tuple(n for n, s in REGISTRY.items() if s.simple_baseline)
SPATIAL_BASELINE = "univariate+knn8"
SPATIAL_K = 8
#: --quick: just enough training and resampling to exercise every path in a test.
QUICK_EPOCHS = 3
QUICK_N_BOOT = 200

PATHFINDERS = "pathfinders"
ALL_ELEMENTS = "all elements"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a shared dataset lives and the settings that belong to it (not to a model)."""

    name: str
    folder: str                       # relative to the data root
    survey: str                       # relative to the folder
    deposits: str                     # relative to the folder
    target: str
    protocols: tuple[str, ...]
    radius: float | None = None       # metres, protocol "samples" for points
    stratify_by: str | None = None

    def paths(self, data_root: Path) -> tuple[Path, Path]:
        base = data_root / self.folder
        return base / self.survey, base / self.deposits


GSWA_PROTOCOLS = ("samples", "opengad", "opengad-stratified")


def _gswa(name: str, file: str, radius: float, target: str = "Au") -> DatasetSpec:
    return DatasetSpec(name, "gswa", f"geochemical/{file}.csv", f"site/{file}_site.csv", target,
                       GSWA_PROTOCOLS, radius=radius, stratify_by="WAMEX_A_NO")


DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (
    _gswa("sed1", "area1_sediment_au", 2000.0),
    _gswa("soil1", "area6_soil_au", 100.0),
    _gswa("rock2", "area4_rockchip_au", 50.0),
    _gswa("li4", "area4_rockchip_li", 50.0, target="Li"),
    DatasetSpec("xinjiang_au", "xinjiang_au", "elements", "deposits.csv", "Au",
                ("samples", "opengad")),
)}


# ------------------------------------------------------------------------------------------
# running


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def dataset_config(spec: DatasetSpec, data_root: Path, quick: bool):
    """The RunConfig of one dataset: its files and validation settings, package defaults else."""
    from geoanomaly.config import make_config

    survey, deposits = spec.paths(data_root)
    return make_config(
        sources=[str(survey)], deposits=str(deposits), target=spec.target, radius=spec.radius,
        stratify_by=spec.stratify_by, protocols=list(spec.protocols), seed=0,
        epochs=QUICK_EPOCHS if quick else None, n_boot=QUICK_N_BOOT if quick else None)


def missing_reason(spec: DatasetSpec, data_root: Path) -> str | None:
    survey, deposits = spec.paths(data_root)
    for path in (survey, deposits):
        if not path.exists():
            return f"{path} not found"
    return None


def metric_rows(dataset: str, elements: str, model: str, result, n_features: int) -> list[dict]:
    """One row per protocol of a ModelResult: AUC with its interval (samples, stratified) or std."""
    rows = []
    for protocol, m in (result.metrics or {}).get("protocols", {}).items():
        row = {"dataset": dataset, "elements": elements, "model": model, "protocol": protocol,
               "auc": float(m["roc_auc"]), "ci95": None, "std": None,
               "n_positive": m.get("n_positive"), "n_negative": m.get("n_negative"),
               "n_features": n_features, "score": result.metrics.get("score"),
               "seconds": float(result.seconds)}
        if m.get("roc_auc_ci") is not None:
            row["ci95"] = [float(v) for v in m["roc_auc_ci"]]
        if m.get("roc_auc_std") is not None:
            row["std"] = float(m["roc_auc_std"])
        rows.append(row)
    return rows


def run_element_set(spec: DatasetSpec, config, elements: str, models: list[str],
                    errors: list[dict]) -> tuple[list[dict], dict]:
    """Prepare the survey once with this element set and run each model on it."""
    from geoanomaly.compare import run_model
    from geoanomaly.pipeline import deposit_labels, prepare

    # With target=None the package keeps every element; the target stays in `config` so the
    # univariate model still knows which element to score.
    prep_config = dataclasses.replace(config, model="vae",
                                      target=config.target if elements == PATHFINDERS else None)
    start = time.perf_counter()
    data = prepare(prep_config)
    labels = deposit_labels(prep_config, data)
    info = {"n": int(data.survey.n), "is_grid": bool(data.survey.is_grid),
            "elements": list(data.survey.elements), "features": list(data.feature_names),
            "n_deposits": int(len(data.deposits.x)),
            "n_deposits_outside": int((~data.deposits_inside).sum()),
            "positives": labels[1].get("positives"),
            "prepare_seconds": round(time.perf_counter() - start, 2), "notes": list(data.notes)}
    log(f"[{spec.name}] {elements}: {info['n']} {'cells' if info['is_grid'] else 'samples'} x "
        f"{len(info['features'])} features ({', '.join(info['elements'])}), "
        f"prepared in {info['prepare_seconds']} s")
    rows: list[dict] = []
    # Classic baselines run raw, as in BASELINES.md; the deep models with the package defaults
    # (which include the spatial context), plus a raw VAE row so its effect is visible.
    runs = [(m, m, config if m in CONTEXT_MODELS else dataclasses.replace(config, smooth_k=0))
            for m in models]
    if "vae" in models:
        runs.append(("vae (no spatial context)", "vae", dataclasses.replace(config, smooth_k=0)))
    if "univariate" in models:
        runs.append((SPATIAL_BASELINE, "univariate",
                     dataclasses.replace(config, smooth_k=SPATIAL_K)))
    for name, model, cfg in runs:
        try:
            result = run_model(model, cfg, data, labels)
        except Exception as exc:  # a broken model must not cost the other 40 minutes of results
            errors.append({"dataset": spec.name, "elements": elements, "model": name,
                           "error": f"{type(exc).__name__}: {exc}"})
            log(f"[{spec.name}] {elements} {name}: FAILED {type(exc).__name__}: {exc}")
            continue
        new = metric_rows(spec.name, elements, name, result, len(data.feature_names))
        if name == "vae" and elements == PATHFINDERS:  # the package default on this dataset
            from provenance import sample_status

            for row in new:
                row["sample_status"] = sample_status(spec.name)
        if model == "univariate":  # the element actually scored (a target may lack its own)
            from geoanomaly.targets import target_element

            feature = target_element(config.target, list(data.feature_names)) or config.target
            for row in new:
                row["feature"] = feature
        rows.extend(new)
        aucs = ", ".join(f"{r['protocol']} {r['auc']:.3f}" for r in new)
        log(f"[{spec.name}] {elements} {name}: {result.seconds:.1f} s; {aucs}")
    return rows, info


def run_dataset(spec: DatasetSpec, data_root: Path, models: list[str], quick: bool,
                errors: list[dict]) -> tuple[list[dict], dict]:
    config = dataset_config(spec, data_root, quick)
    rows, info = [], {"target": spec.target, "radius_m": spec.radius,
                      "stratify_by": spec.stratify_by, "protocols": list(spec.protocols),
                      "sources": config.sources, "deposits": config.deposits}
    element_sets = [(PATHFINDERS, models),
                    (ALL_ELEMENTS, [m for m in models if m in SIMPLE_BASELINES])]
    for elements, chosen in element_sets:
        if not chosen:
            continue
        try:
            new, set_info = run_element_set(spec, config, elements, chosen, errors)
        except Exception as exc:
            errors.append({"dataset": spec.name, "elements": elements, "model": None,
                           "error": f"{type(exc).__name__}: {exc}"})
            log(f"[{spec.name}] {elements}: FAILED to prepare: {type(exc).__name__}: {exc}")
            continue
        rows.extend(new)
        info[elements] = set_info
    return rows, info


# ------------------------------------------------------------------------------------------
# reporting


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def model_defaults() -> dict:
    """The package defaults in force for this run (recorded, never set, by the benchmark)."""
    from geoanomaly.config import RunConfig

    skip = {"sources", "out", "deposits", "deposits_crs", "deposits_x", "deposits_y", "x", "y",
            "crs", "elements", "target", "radius", "protocols", "stratify_by", "progress"}
    return {k: v for k, v in dataclasses.asdict(RunConfig()).items() if k not in skip}


def short_status(status: str) -> str:
    """"out of sample", or "in-sample: 2 defaults" for a table cell (full text in the json)."""
    if not status.startswith("in-sample"):
        return status
    return f"in-sample: {status.count(';') + 1} default(s)"


def interval_text(row: dict) -> str:
    if row.get("ci95"):
        return f"{row['ci95'][0]:.3f}-{row['ci95'][1]:.3f}"
    if row.get("std") is not None:
        return f"+- {row['std']:.3f}"
    return ""


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# geoanomaly benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {m['cpu']}, {m['nproc']} CPU cores, Python {m['python']}"
        + (f", torch {m['torch']}" if "torch" in m else "") + "  ",
        f"Package {report['package_version']} (commit {report['git_commit']}), "
        f"total {report['total_seconds'] / 60:.1f} min"
        + (" (--quick: few epochs, n_boot 200)" if report["quick"] else "") + "  ",
        "Element sets: *pathfinders* = the target's pathfinder elements (`--target`); "
        "*all elements* = everything the cleaning keeps. Interval: bootstrap 95 % CI "
        "(samples, opengad-stratified) or +- std over 20 draws (opengad). Seconds: fit + score.",
        "",
        "Default VAE rows are marked *out of sample* or *in-sample* with the defaults whose "
        "choice looked at that dataset (benchmarks/provenance.py).",
        "",
        "| dataset | elements | model | protocol | AUC | interval or std | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        model = r["model"] + (f" ({r['feature']})" if r.get("feature") else "")
        if r.get("sample_status"):
            model += f" [{short_status(r['sample_status'])}]"
        lines.append(f"| {r['dataset']} | {r['elements']} ({r['n_features']}) | {model} | "
                     f"{r['protocol']} | {r['auc']:.3f} | {interval_text(r)} | "
                     f"{r['seconds']:.2f} |")
    if report["skipped"]:
        lines += ["", "Skipped:"] + [f"- {k}: {v}" for k, v in report["skipped"].items()]
    if report["errors"]:
        lines += ["", "Errors:"] + [f"- {e['dataset']} / {e['elements']} / {e['model']}: "
                                    f"{e['error']}" for e in report["errors"]]
    from provenance import in_sample_defaults

    lines += ["", "In-sample defaults per dataset (their choice looked at its AUC):"]
    lines += [f"- {name}: " + ("; ".join(in_sample_defaults(name)) or "none (out of sample)")
              for name in report["datasets"]]
    lines += ["", "Elements used:"]
    for name, info in report["datasets"].items():
        for elements in (PATHFINDERS, ALL_ELEMENTS):
            if elements in info:
                s = info[elements]
                lines.append(f"- {name}, {elements}: {s['n']} {'cells' if s['is_grid'] else 'samples'}"
                             f", {s['positives']}; {', '.join(s['elements'])}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# command line


def parse_list(text: str, allowed, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in items if t not in allowed]
    if unknown or not items:
        raise SystemExit(f"Unknown {what} {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(allowed)}.")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs and n_boot {QUICK_N_BOOT} (for tests)")
    args = parser.parse_args(argv)

    from geoanomaly import __version__
    from geoanomaly.config import MODELS

    models = parse_list(args.models, MODELS, "model(s)")
    datasets = parse_list(args.datasets, list(DATASETS), "dataset(s)")
    start = time.perf_counter()
    rows: list[dict] = []
    infos: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    errors: list[dict] = []
    for name in datasets:
        spec = DATASETS[name]
        reason = missing_reason(spec, args.data_root)
        if reason:
            skipped[name] = reason
            log(f"[{name}] skipped: {reason}")
            continue
        t0 = time.perf_counter()
        new, info = run_dataset(spec, args.data_root, models, args.quick, errors)
        info["seconds"] = round(time.perf_counter() - t0, 1)
        rows.extend(new)
        infos[name] = info
        log(f"[{name}] done in {info['seconds']} s")

    report = {
        "command": " ".join(["benchmarks/run_benchmarks.py"] + (sys.argv[1:] if argv is None
                                                                 else list(argv))),
        "package_version": __version__, "git_commit": git_commit(), "machine": machine_info(),
        "quick": bool(args.quick), "models": models, "datasets_requested": datasets,
        "data_root": str(args.data_root), "defaults": model_defaults(),
        "total_seconds": round(time.perf_counter() - start, 1),
        "datasets": infos, "skipped": skipped, "errors": errors, "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=1, default=str))
    (args.out / "results.md").write_text(markdown(report))
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'} "
        f"({len(rows)} rows, {report['total_seconds'] / 60:.1f} min)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
