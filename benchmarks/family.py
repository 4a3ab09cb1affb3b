"""The seed's whole family on the same data, validated the same way: one row per model.

    .venv/bin/python benchmarks/family.py [--data-root ../shared/data]
        [--datasets demo,xinjiang_au,sed1] [--models vae,ae,...] [--xinjiang-control FILE]
        [--out benchmarks/results/family] [--quick]

Datasets: the demo grid (generated, with its geology.gpkg of intrusions and faults), xinjiang_au
(39-element 1 km grid) and sed1 (stream sediment points; map models see it gridded and their
cell scores come back to the samples). Each is prepared once with the package defaults and its
pathfinder set (as run_benchmarks.py's "pathfinders" rows), and every model runs through
``geoanomaly.compare.run_model`` with the package defaults: the same labels, protocols and
intervals for all.

Guided models: pcvae / ssmvae need a geology layer. The demo brings its own; for xinjiang_au give
``--xinjiang-control`` (see BENCHMARKS.md for how the fault mask used there was derived); sed1 has
no shared geology, so they are skipped there with that reason. They run twice where they can:
with the controlling function fitted on deposits inside spatial folds ("deposits") and with the
label-free geology prior ("geology"). ppf-cnn is supervised (spatially blocked folds).
Every row says what the model used: unsupervised, knowledge-guided or supervised.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_benchmarks import (DATASETS as SHARED, DEFAULT_DATA_ROOT, PATHFINDERS,  # noqa: E402
                            dataset_config, git_commit, interval_text, log, machine_info,
                            metric_rows)

from geoanomaly.detect.registry import REGISTRY  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "family"
#: the simple baselines each model must beat, run beside the family
BASELINES = ("iforest", "univariate")
DEFAULT_MODELS = tuple(n for n, s in REGISTRY.items() if not s.simple_baseline) + BASELINES
QUICK_EPOCHS = 2


def uses(model: str, prior: str | None) -> str:
    guidance = REGISTRY[model].guidance
    if guidance == "labels":
        return "supervised (deposits, blocked folds)"
    if guidance == "prior":
        return ("knowledge-guided (geology + deposits, blocked folds)" if prior == "deposits"
                else "knowledge-guided (geology only)")
    return "unsupervised"


def demo_config(work: Path, quick: bool):
    from geoanomaly.config import make_config
    from geoanomaly.demo import write_demo_inputs

    paths = write_demo_inputs(work / "demo", seed=0)
    control = getattr(paths, "geology_gpkg", None)
    config = make_config(sources=[str(paths.grid_dir)], deposits=str(paths.deposits_csv),
                         target="Fe-poly", seed=0, epochs=QUICK_EPOCHS if quick else None,
                         n_boot=200 if quick else None)
    return config, ([str(control)] if control else None)


def runs_for(model: str, control) -> list[tuple[str, dict] | tuple[str, str]]:
    """(row name, config overrides) per run of ``model``, or (row name, skip reason)."""
    if REGISTRY[model].guidance != "prior":
        return [(model, {})]
    if not control:
        return [(model, "no geology layer for this dataset")]
    return [(f"{model} (deposits prior)", {"control": control, "prior": "deposits"}),
            (f"{model} (geology prior)", {"control": control, "prior": "geology"})]


def run_dataset(name: str, config, control, models, rows, skipped, errors, journal=None):
    from geoanomaly.compare import run_model
    from geoanomaly.pipeline import deposit_labels, prepare

    start = time.perf_counter()
    data = prepare(dataclasses.replace(config, model="vae"))
    labels = deposit_labels(config, data)
    log(f"[{name}] {data.survey.n} {'cells' if data.survey.is_grid else 'samples'} x "
        f"{len(data.feature_names)} features, prepared in {time.perf_counter() - start:.1f} s")
    for model in models:
        for row_name, overrides in runs_for(model, control):
            if isinstance(overrides, str):
                skipped.append({"dataset": name, "model": row_name, "reason": overrides})
                log(f"[{name}] {row_name}: skipped ({overrides})")
                continue
            cfg = dataclasses.replace(config, **overrides)
            try:
                result = run_model(model, cfg, data, labels)
            except Exception as exc:  # one broken model must not cost the others' results
                errors.append({"dataset": name, "model": row_name,
                               "error": f"{type(exc).__name__}: {exc}"})
                log(f"[{name}] {row_name}: FAILED {type(exc).__name__}: {exc}")
                continue
            new = metric_rows(name, PATHFINDERS, row_name, result, len(data.feature_names))
            for row in new:
                row["uses"] = uses(model, overrides.get("prior"))
            rows.extend(new)
            if journal is not None:  # kept row by row: a stopped run loses nothing measured
                with open(journal, "a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in new)
            log(f"[{name}] {row_name}: {result.seconds:.1f} s; " +
                ", ".join(f"{r['protocol']} {r['auc']:.3f}" for r in new))


def markdown(report: dict) -> str:
    lines = [f"Machine: {report['machine']['cpu']}, {report['machine']['nproc']} cores; "
             f"commit {report['commit']}; {report['seconds']:.0f} s in all.", "",
             "| dataset | model | uses | protocol | AUC | interval | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['dataset']} | {r['model']} | {r['uses']} | {r['protocol']} | "
                     f"{r['auc']:.3f} | {interval_text(r)} | {r['seconds']:.1f} |")
    for s in report["skipped"]:
        lines.append(f"\nSkipped: {s['dataset']} {s['model']}: {s['reason']}")
    for e in report["errors"]:
        lines.append(f"\nFAILED: {e['dataset']} {e['model']}: {e['error']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--datasets", default="demo,xinjiang_au,sed1")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--xinjiang-control", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="2 epochs, 200 bootstraps")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in REGISTRY]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.jsonl").unlink(missing_ok=True)
    rows, skipped, errors = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [d for d in args.datasets.split(",") if d]:
            if name == "demo":
                config, control = demo_config(Path(tmp), args.quick)
            elif name in SHARED:
                spec = SHARED[name]
                if not all(p.exists() for p in spec.paths(args.data_root)):
                    skipped.append({"dataset": name, "model": "*",
                                    "reason": f"data not found under {args.data_root}"})
                    continue
                config = dataset_config(spec, args.data_root, args.quick)
                control = None
                if name == "xinjiang_au" and args.xinjiang_control:
                    control = [str(args.xinjiang_control)]
            else:
                parser.error(f"unknown dataset {name}")
            run_dataset(name, config, control, models, rows, skipped, errors,
                        journal=args.out / "rows.jsonl")
    report = {"commit": git_commit(), "machine": machine_info(),
              "seconds": time.perf_counter() - start, "rows": rows, "skipped": skipped,
              "errors": errors, "command": " ".join(["benchmarks/family.py"] + (argv or
                                                                                  sys.argv[1:]))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    (args.out / "results.md").write_text(markdown(report))
    print(markdown(report))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
