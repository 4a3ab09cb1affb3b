"""Command line: a thin shell that parses options into a RunConfig and calls the pipeline.

Nothing heavy is imported at module level so that ``geoanomaly --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument("--deposits", metavar="FILE",
                   help="known deposits (CSV with x/y or lon/lat, GeoPackage, Shapefile); used only "
                        "to validate, never to train")
    g.add_argument("--deposits-crs", metavar="CRS", help="CRS of a deposits CSV (default: lon/lat "
                   "recognised by range, else the survey's CRS)")
    g.add_argument("--deposits-x", metavar="COLUMN", help="x / longitude column of the deposits")
    g.add_argument("--deposits-y", metavar="COLUMN", help="y / latitude column of the deposits")
    g.add_argument("--x", metavar="COLUMN", help="x / easting / longitude column (auto-detected)")
    g.add_argument("--y", metavar="COLUMN", help="y / northing / latitude column (auto-detected)")
    g.add_argument("--crs", help="CRS of the survey when the file has none, e.g. EPSG:32750")
    g.add_argument("--elements", type=_csv_list, metavar="LIST",
                   help="elements to use, e.g. Cu,Pb,Zn,Mn,Fe2O3 (default: all recognised, or "
                        "the pathfinders of --target)")
    g.add_argument("--target", metavar="COMMODITY",
                   help="Au, Cu, Fe-poly, Li, Ni, W or Pb-Zn: use its pathfinder elements "
                        "(cited in the report) and its element for --model univariate")
    g.add_argument("--target-elements", choices=["auto", "pathfinders", "suite", "weighted-suite"],
                   help="what --target keeps: its pathfinders only, the whole suite, or the whole "
                        "suite with the score weighted towards the pathfinders; auto (default) = "
                        "pathfinders when at least half of the set survived cleaning, else "
                        "weighted-suite")
    g.add_argument("--level-by", metavar="COLUMN",
                   help="survey / lab-batch column: level each element per batch before the "
                        "transform (mixed lab methods)")

    g = p.add_argument_group("clean")
    g.add_argument("--below-detection", choices=["half", "sqrt2", "limit", "factor"],
                   help="replacement of '<DL' values (default: half the detection limit)")
    g.add_argument("--below-detection-factor", type=float, metavar="F")
    g.add_argument("--max-missing", type=float, metavar="FRACTION",
                   help="drop elements with more missing values than this (default 0.4)")
    g.add_argument("--min-detected", type=float, metavar="FRACTION",
                   help="drop elements detected in fewer than this fraction of rows (default 0.1)")
    g.add_argument("--keep-duplicates", dest="drop_duplicates", action="store_const", const=False,
                   help="keep exact duplicate samples (dropped by default)")

    g = p.add_argument_group("transform")
    g.add_argument("--transform", choices=["auto", "none", "log10", "clr", "ilr"],
                   help="default auto: clr on a broad suite (10 elements or more), log10 on "
                        "fewer")
    g.add_argument("--scale", choices=["robust", "standard", "none"], help="default robust")
    g.add_argument("--filter", choices=["sa"],
                   help="sa: spectrum-area fractal filter (grids only): each feature map is "
                        "replaced by its S-A anomaly component before the detector; the S-A "
                        "plots go to the report")

    g = p.add_argument_group("model")
    from .detect.registry import SEEDED_MODELS, models_help

    g.add_argument("--model", metavar="NAME",
                   help=f"detector: {models_help()}. Several joined by + are fused "
                        "(e.g. vae+mcd: the mean of their percentile ranks)")
    g.add_argument("--ensemble", type=int, metavar="N",
                   help=f"fit N members of each seeded model ({', '.join(SEEDED_MODELS)}) with seeds "
                        "SEED .. SEED+N-1; score = mean percentile rank, score_std and "
                        "uncertainty.tif = their spread (default 1)")
    g.add_argument("--ensemble-architectures", metavar="LIST",
                   help="hidden layers the vae / ae members cycle through, e.g. 24-12,32-16 "
                        "(needs --ensemble at least their number)")
    g.add_argument("--fusion-weights", type=_float_list, metavar="LIST",
                   help="weights of the detectors of a fused --model, e.g. 2,1 (normalised; "
                        "default equal)")
    g.add_argument("--score", choices=["recon", "enrich", "rp", "kl", "enrich-kl", "elbo",
                                       "enrich-elbo", "nll", "combined"],
                   help="VAE / PPCA score. Off the background structure: recon (squared "
                        "reconstruction error), enrich (only elements above their "
                        "reconstruction), rp (An & Cho reconstruction probability). Along it: "
                        "kl (latent KL from the prior), enrich-kl (the same, signed: enriched "
                        "side positive). Both: elbo (negative ELBO), nll (importance-weighted "
                        "-log p(x)), enrich-elbo (one-sided ELBO), combined (larger rank of "
                        "enrich and enrich-kl). The AE takes recon or enrich.")
    g.add_argument("--seed", type=int, help="one seed for everything (default 0)")
    g.add_argument("--device", choices=["cpu", "cuda", "auto"], help="default cpu")
    g.add_argument("--hidden", type=_int_list, metavar="LIST", help="hidden layers, default 24,12")
    g.add_argument("--latent-dim", type=int, metavar="N", help="default 3")
    g.add_argument("--beta", type=float, help="weight of the KL term (default 1)")
    g.add_argument("--epochs", type=int, help="maximum epochs (default 200)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 20)")
    g.add_argument("--validation-fraction", type=float)
    g.add_argument("--n-samples", type=int, metavar="L",
                   help="latent draws of the sampled scores rp, elbo, nll (50)")
    g.add_argument("--train-away-from-deposits", type=float, metavar="METRES",
                   help="fit only on samples / cells this far from every known deposit (as "
                        "GANomaly's authors did); the deposits then shape the model and every "
                        "output says so (needs --deposits)")
    g.add_argument("--control", nargs="+", metavar="FILE",
                   help="geology for the knowledge-guided models pcvae / ssmvae: polygons of "
                        "intrusions, fault lines (GeoPackage, shapefile, GeoJSON) or rasters "
                        "(a 0/1 mask becomes a distance; other rasters are used as they are, "
                        "higher = more favourable)")
    g.add_argument("--prior", choices=["auto", "deposits", "geology"],
                   help="prior of pcvae / ssmvae: deposits = the controlling function (deposit "
                        "density against distance to each control) fitted inside spatial folds; "
                        "geology = from the layers alone, no deposits; auto (default) = "
                        "deposits when --deposits are given. Every output says which")
    g.add_argument("--control-weight", type=float, metavar="LAMBDA",
                   help="weight of the geology penalty in the pcvae / ssmvae loss (default 1)")
    g.add_argument("--folds", type=int, metavar="K",
                   help="spatially blocked folds of the models that learn from deposits "
                        "(ppf-cnn; pcvae / ssmvae with the controlling function), default 5")
    g.add_argument("--smooth-k", type=int, metavar="K",
                   help="spatial context: mean percentile rank over the K nearest samples / "
                        "cells (default 8 samples, 3 x 3 cells; 0 = off)")

    g = p.add_argument_group("threshold and validation")
    g.add_argument("--threshold", choices=["percentile", "mad", "ca", "t"],
                   help="anomaly classes by percentiles (default) or median + k MAD")
    g.add_argument("--percentiles", type=_float_list, metavar="LIST", help="default 90,95,99")
    g.add_argument("--mad-k", type=_float_list, metavar="LIST", help="default 2,3")
    g.add_argument("--radius", type=float, metavar="METRES",
                   help="protocol 'samples' for points: positives within this distance of a deposit "
                        "(default: twice the median sample spacing)")
    g.add_argument("--protocols", type=_csv_list, metavar="LIST",
                   help="samples, opengad, opengad-stratified (default: samples,opengad and "
                        "opengad-stratified when --stratify-by is given)")
    g.add_argument("--stratify-by", metavar="COLUMN",
                   help="survey / lab-batch column for protocol opengad-stratified")
    g.add_argument("--min-dist", type=float, metavar="METRES",
                   help="opengad negatives lie this far from every deposit (5000)")
    g.add_argument("--n-boot", type=int, help="bootstrap resamples for AUC intervals (1000)")
    g.add_argument("--cell-size", type=float, metavar="METRES",
                   help="cell size of the interpolated map of a point survey")

    g = p.add_argument_group("large grids")
    g.add_argument("--stream", choices=["auto", "on", "off"],
                   help="read, score and write a grid window by window (default auto: for grids "
                        "of more than about 50 M values)")
    g.add_argument("--stream-sample", type=int, metavar="N",
                   help="cells the model of a streamed grid is fitted on (default 200000)")
    g.add_argument("--stream-window", type=int, metavar="CELLS",
                   help="window side of a streamed grid (default 512)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786) whose workers score a streamed "
                        "grid's windows or a table's rows")
    g.add_argument("--workers", type=int, metavar="N",
                   help="local threads scoring a streamed grid (default: the cores available)")

    g = p.add_argument_group("run")
    g.add_argument("--config", metavar="FILE.yaml", help="options from a YAML file "
                   "(same names, with underscores); command-line options win")
    g.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                   help="no progress bar")
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geoanomaly",
        description="Multivariate geochemical anomaly detection (VAE of Luo, Xiong & Zuo 2020 and "
                    "baselines) with honest validation against known deposits.")
    parser.add_argument("--version", action="version", version=f"geoanomaly {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="score a survey and write the anomaly map and report",
                         description="Read a survey, clean, transform, train the detector, "
                                     "score, threshold, validate against deposits and write "
                                     "scores.csv, anomaly.tif, report.html, ...")
    run.add_argument("sources", nargs="*", metavar="SOURCE",
                     help="a table of samples, or GeoTIFF files / a folder of GeoTIFFs")
    run.add_argument("--out", metavar="DIR", help="output folder (required)")
    _add_run_options(run)

    comp = sub.add_parser("compare", help="run several detectors on the same data; one table "
                          "and one report", description="Read, clean and transform once, run "
                          "each detector with the same seed, validate each the same way, and "
                          "write comparison.csv, scores.csv and report.html.")
    comp.add_argument("sources", nargs="*", metavar="SOURCE")
    comp.add_argument("--out", metavar="DIR", help="output folder (required)")
    comp.add_argument("--models", type=_csv_list, metavar="LIST", default=None,
                      help="detectors to compare (default vae,ppca,ae,mcd,pca,iforest, plus "
                           "univariate with --target)")
    _add_run_options(comp)

    study = sub.add_parser(
        "study", help="the paper's parameter experiments: fit a grid of VAE configurations "
        "with several seeds and choose one label-free",
        description="Read, clean and transform once; fit every architecture of the grid once "
                    "per seed on a fixed 90 %% of the rows and score it in every way of the "
                    "grid; judge each configuration by the validation -ELBO, the stability "
                    "across seeds and the spatial coherence (Moran's I) of its scores; write "
                    "study.csv, study.html and chosen.yaml (for geoanomaly run --config). "
                    "Deposits, when given, only add AUCs for information, unless "
                    "--select-by blocked-auc.")
    study.add_argument("sources", nargs="*", metavar="SOURCE")
    study.add_argument("--out", metavar="DIR", help="output folder (required)")
    study.add_argument("--grid", metavar="FILE.yaml", dest="study_grid",
                       help="custom grid (architectures, scores, ...; format in "
                            "geoanomaly.study); default: the documented 8 architectures x 7 "
                            "scores")
    study.add_argument("--seeds", type=int, metavar="N", dest="study_seeds", default=3,
                       help="fits per architecture, seeds SEED .. SEED+N-1 (default 3)")
    study.add_argument("--select-by", choices=["label-free", "blocked-auc"],
                       dest="study_select_by", default="label-free",
                       help="label-free (default): stability, validation -ELBO, Moran's I; "
                            "blocked-auc: DEPOSITS choose, by spatially blocked cross-validated "
                            "AUC (every output says so)")
    study.add_argument("--jobs", type=int, metavar="N", dest="study_jobs", default=None,
                       help="fits run at once in N processes (default 2, 1 on a one-core "
                            "machine; the results do not depend on N)")
    _add_run_options(study)

    demo = sub.add_parser("demo", help="generate the synthetic demo survey and run the VAE on it")
    demo.add_argument("--out", metavar="DIR", default="demo-out", help="output folder (demo-out)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument("--kind", choices=["off-structure", "joint", "mixed", "point-source"],
                      help="a gold point survey whose deposit halos are of this kind (default: "
                           "the Fe-polymetallic grid of the paper's five elements)")
    demo.add_argument("--no-progress", dest="progress", action="store_const", const=False)
    demo.add_argument("--debug", action="store_true")
    return parser


def _run_options(args: argparse.Namespace) -> dict:
    skip = {"command", "config", "debug"}
    return {k: v for k, v in vars(args).items() if k not in skip and v is not None}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .errors import InputError

    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "compare":
            return _cmd_compare(args)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "study":
            return _cmd_study(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"geoanomaly: error: {exc}", file=sys.stderr)
        return InputError.exit_code
    except KeyboardInterrupt:
        print("geoanomaly: interrupted; no outputs were moved into place.", file=sys.stderr)
        return 130
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config_file, make_config
    from .errors import InputError
    from .pipeline import run

    base = load_config_file(args.config) if args.config else {}
    options = _run_options(args)
    if not options.get("sources"):
        options.pop("sources", None)
    options.setdefault("progress", sys.stderr.isatty())
    config = make_config(base, **options)
    if not config.sources:
        raise InputError("No survey given: name a table of samples or GeoTIFF files, "
                         "e.g. geoanomaly run samples.csv --out results.")
    if not config.out:
        raise InputError("No output folder given: add --out DIR.")
    result = run(config)
    print(result.summary())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare
    from .config import load_config_file, make_config
    from .errors import InputError

    base = load_config_file(args.config) if args.config else {}
    options = _run_options(args)
    models = options.pop("models", None)
    if not options.get("sources"):
        options.pop("sources", None)
    options.setdefault("progress", False)
    config = make_config(base, **options)
    if not config.sources:
        raise InputError("No survey given: name a table of samples or GeoTIFF files.")
    if models is None:
        from .detect.registry import REGISTRY

        models = [name for name, entry in REGISTRY.items()
                  if entry.in_compare and (config.target or not entry.needs_target)]
    print(compare(config, models).summary())
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from .config import load_config_file, make_config
    from .errors import InputError
    from .study import run_study

    base = load_config_file(args.config) if args.config else {}
    options = _run_options(args)
    grid = options.pop("study_grid", None)
    seeds = options.pop("study_seeds", 3)
    select_by = options.pop("study_select_by", "label-free")
    jobs = options.pop("study_jobs", None)
    if not options.get("sources"):
        options.pop("sources", None)
    show = options.pop("progress", None) is not False
    set_by_grid = [k for k in ("hidden", "latent_dim", "beta", "learning_rate", "score")
                   if k in options]
    config = make_config(base, **options)
    if not config.sources:
        raise InputError("No survey given: name a table of samples or GeoTIFF files, "
                         "e.g. geoanomaly study samples.csv --out study.")
    if not config.out:
        raise InputError("No output folder given: add --out DIR.")
    if set_by_grid:
        print("geoanomaly study: the grid sets " + ", ".join(
            "--" + k.replace("_", "-") for k in set_by_grid) + "; the value given is ignored "
            "(use --grid FILE.yaml).", file=sys.stderr)
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if show else None
    print(run_study(config, grid=grid, seeds=seeds, select_by=select_by, log=log,
                    jobs=jobs).summary())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .pipeline import run_demo

    result = run_demo(args.out, seed=args.seed, epochs=args.epochs,
                      progress=args.progress is not False, kind=args.kind)
    print(result.summary())
    if args.kind is None:
        data = Path(args.out) / "data"
        print(f"  the demo's inputs are in {data}; to try the knowledge-guided VAE with its "
              f"geology:\n    geoanomaly run {data / 'grid'} --deposits {data / 'deposits.csv'} "
              f"--target Fe-poly --model pcvae --control {data / 'geology.gpkg'} "
              f"--out {Path(args.out) / 'pcvae'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
