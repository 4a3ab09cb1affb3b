"""A 1 M-sample point survey end to end (issue 8, item 3: "Large point surveys").

    .venv/bin/python benchmarks/large_points.py [--rows 1000000] [--elements 40] [--epochs 5]
        [--workdir DIR] [--keep] [--profile FILE.prof]

What it does: writes a seeded lab CSV of ``--rows`` samples x ``--elements`` elements
(:func:`write_point_survey`; generation is not timed, and a CSV already in ``--workdir`` with the
same size and seed is reused), then runs ``geoanomaly run CSV --out DIR --epochs 5 --crs
EPSG:32750`` in a child process and reports its wall time, its peak resident memory
(``getrusage(RUSAGE_CHILDREN)``: the child is the only process this script waits for) and a
per-stage profile that the child writes: each stage of the flow (read, clean, transform, fit,
score, spatial context, linear twin, IDW map, scores.csv, GeoPackage, report figures ...) timed
by wrapping the package's own functions, so the profile needs no change to the package.

The machine is usually shared: the load average is printed before and after; compare runs made
minutes apart, not against numbers from another day.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: 40 elements with a typical unit and a typical detection limit (in that unit), roughly the
#: order of a multi-element ICP-MS soil suite; more are drawn from EXTRA when asked for.
ELEMENTS = [
    ("Au", "ppb", 1.0), ("Ag", "ppm", 0.05), ("As", "ppm", 0.5), ("Sb", "ppm", 0.05),
    ("Bi", "ppm", 0.05), ("W", "ppm", 0.1), ("Mo", "ppm", 0.1), ("Cu", "ppm", 0.5),
    ("Pb", "ppm", 0.5), ("Zn", "ppm", 1.0), ("Ni", "ppm", 0.5), ("Co", "ppm", 0.2),
    ("Cr", "ppm", 1.0), ("V", "ppm", 1.0), ("Mn", "ppm", 5.0), ("Fe", "pct", 0.01),
    ("Al", "pct", 0.01), ("Ca", "pct", 0.01), ("Mg", "pct", 0.01), ("Na", "pct", 0.01),
    ("K", "pct", 0.01), ("Ti", "pct", 0.005), ("P", "ppm", 10.0), ("S", "pct", 0.01),
    ("Ba", "ppm", 5.0), ("Sr", "ppm", 1.0), ("Rb", "ppm", 0.2), ("Cs", "ppm", 0.05),
    ("Li", "ppm", 0.5), ("Be", "ppm", 0.1), ("Sn", "ppm", 0.2), ("Te", "ppm", 0.05),
    ("Hg", "ppb", 5.0), ("Tl", "ppm", 0.02), ("Cd", "ppm", 0.02), ("In", "ppm", 0.01),
    ("La", "ppm", 0.5), ("Ce", "ppm", 0.5), ("Th", "ppm", 0.2), ("U", "ppm", 0.05),
]
EXTRA = [("Y", "ppm", 0.1), ("Zr", "ppm", 1.0), ("Nb", "ppm", 0.1), ("Sc", "ppm", 0.5),
         ("Ga", "ppm", 0.2), ("Ge", "ppm", 0.05), ("Se", "ppm", 0.2), ("Hf", "ppm", 0.1)]

#: column medians relative to the detection limit: most elements sit 5-200 limits above it,
#: a few (Au, Te, Hg, Bi) close to it, so "<limit" codes are common there
_NEAR_LIMIT = {"Au": 2.0, "Te": 1.5, "Hg": 2.0, "Bi": 3.0, "Ag": 2.5, "In": 3.0, "W": 4.0}

CRS = "EPSG:32750"  # WGS 84 / UTM zone 50S (Western Australia)


def write_point_survey(path, n_rows: int, n_elements: int = 40, seed: int = 0,
                       block: int = 100_000) -> Path:
    """Write a seeded synthetic lab CSV of point samples and return its path.

    Realistic in what a reader must cope with: ``SampleID`` (text ids), ``Easting`` /
    ``Northing`` in metres (UTM 50S, samples scattered over a 300 x 300 km block, denser along a
    few traverses), a ``Batch`` text column, and ``<El>_<unit>`` assays that are lognormal with a
    correlated structure (four latent lithology factors mixed into the log concentrations, plus
    a handful of mineralised halos that enrich Au-As-Sb-Bi-W-Cu together). Values below an
    element's detection limit are written "<DL" (e.g. "<0.5"); about 0.1 % of cells are the
    -9999 sentinel and a few are empty. Numbers are written with 4 significant digits, as labs do.
    Written in blocks of ``block`` rows so that memory stays small at any size.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    table = (ELEMENTS + EXTRA)[:n_elements]
    if len(table) < n_elements:
        raise ValueError(f"at most {len(ELEMENTS + EXTRA)} elements are known here")
    names = [e for e, _, _ in table]
    limits = np.array([dl for _, _, dl in table])
    median = limits * np.array([_NEAR_LIMIT.get(e, rng.uniform(5, 200)) for e in names])
    log_sd = rng.uniform(0.25, 0.6, n_elements)  # log10 spread per element
    mixing = rng.normal(0, 1, (4, n_elements)) * rng.uniform(0.3, 1.0, (4, 1))
    halo_gain = np.array([1.2 if e in ("Au", "As", "Sb", "Bi", "W", "Cu", "Ag", "Te") else 0.0
                          for e in names])
    x0, y0, side = 300_000.0, 6_500_000.0, 300_000.0
    halos = np.column_stack([x0 + rng.uniform(0.1, 0.9, 12) * side,
                             y0 + rng.uniform(0.1, 0.9, 12) * side])
    halo_radius = 3_000.0
    # elements whose low values a lab reports as "<DL" strings; the others wrote numbers only
    coded = set(rng.choice(n_elements, size=max(1, n_elements // 4), replace=False).tolist())
    coded |= {i for i, e in enumerate(names) if e in _NEAR_LIMIT}
    header = (["SampleID", "Easting", "Northing", "Batch"]
              + [f"{e}_{u}" for e, u, _ in table])
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(",".join(header) + "\n")
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            # positions: 80 % scattered, 20 % along east-west traverses every 10 km
            x = x0 + rng.uniform(0, side, n)
            y = y0 + rng.uniform(0, side, n)
            on_line = rng.random(n) < 0.2
            y[on_line] = y0 + np.round((y[on_line] - y0) / 10_000.0) * 10_000.0 + \
                rng.normal(0, 50, on_line.sum())
            # lithology: smooth in space (sines of position) plus per-sample noise
            factors = np.column_stack([np.sin(x / 23_000.0 + k) + np.cos(y / 31_000.0 - k)
                                       for k in range(4)]) + rng.normal(0, 0.5, (n, 4))
            log_c = (np.log10(median) + 0.15 * factors @ mixing
                     + rng.normal(0, 1, (n, n_elements)) * log_sd)
            d = np.min(np.hypot(x[:, None] - halos[:, 0], y[:, None] - halos[:, 1]), axis=1)
            log_c += np.exp(-(d / halo_radius) ** 2)[:, None] * halo_gain
            conc = 10.0 ** log_c
            cells = np.char.mod("%.4g", conc).astype(object)
            below = conc < limits
            for j in range(n_elements):
                col_below = below[:, j]
                if j in coded:
                    cells[col_below, j] = f"<{limits[j]:g}"
                else:  # the lab wrote half the limit as a number
                    cells[col_below, j] = f"{limits[j] / 2:g}"
            cells[rng.random((n, n_elements)) < 0.001] = "-9999"
            cells[rng.random((n, n_elements)) < 0.0002] = ""
            ids = np.char.add("S", np.char.zfill(np.arange(start, start + n).astype(str), 8))
            batch = np.char.add("B", (np.arange(start, start + n) // 5000).astype(str))
            lead = np.column_stack([ids, np.char.mod("%.1f", x), np.char.mod("%.1f", y), batch])
            rows = np.concatenate([lead.astype(object), cells], axis=1)
            out.write("\n".join(",".join(r) for r in rows.tolist()) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# the child: one run, with each stage timed


#: (module, attribute) of the functions timed in the child, in the order of the flow; a name
#: with a dot is a method of a class in that module. Nested calls are timed too (fit inside
#: detect_and_validate); the table shows them indented.
STAGES = [
    ("geoanomaly.pipeline", "prepare"),
    ("geoanomaly.io", "read_survey"),
    ("geoanomaly.clean", "clean"),
    ("geoanomaly.transform", "Transformer.fit_transform"),
    ("geoanomaly.pipeline", "metric_coordinates"),
    ("geoanomaly.pipeline", "detect_and_validate"),
    ("geoanomaly.detect.autoencoder", "DeepDetector.fit"),
    ("geoanomaly.detect.vae", "VAEDetector.anomaly_score"),
    ("geoanomaly.pipeline", "spatial_context"),
    ("geoanomaly.pipeline", "threshold_scores"),
    ("geoanomaly.pipeline", "linear_twin"),
    ("geoanomaly.detect.ppca", "PPCADetector.fit"),
    ("geoanomaly.detect.ppca", "PPCADetector.anomaly_score"),
    ("geoanomaly.explain", "explain"),
    ("geoanomaly.detect.contributions", "feature_contributions"),
    ("geoanomaly.export.outputs", "write_outputs"),
    ("geoanomaly.explain", "Explanation.columns"),
    ("geoanomaly.export.outputs", "_map_grid"),
    ("geoanomaly.delineate", "delineate_targets"),
    ("geoanomaly.delineate", "write_targets_gpkg"),
    ("geoanomaly.export.writers", "write_scores_csv"),
    ("geoanomaly.export.writers", "write_grid_geotiff"),
    ("geoanomaly.export.writers", "write_points_gpkg"),
    ("geoanomaly.detect.persistence", "save_detector"),
    ("geoanomaly.export.outputs", "_report_context"),
    ("geoanomaly.export.figures", "score_map"),
    ("geoanomaly.export.figures", "score_histogram"),
    ("geoanomaly.export.figures", "overview_map"),
    ("geoanomaly.export.figures", "element_small_multiples"),
    ("geoanomaly.export.figures", "target_signatures"),
    ("geoanomaly.export.report", "build_report"),
    ("geoanomaly.export.qgis", "write_styles"),
]


def _child(args) -> None:
    """Run the flow once with the stage functions wrapped by timers; write timings as JSON."""
    import functools
    import importlib

    timings: dict[str, list] = {}
    depth = [0]

    def wrap(key, fn):
        @functools.wraps(fn)
        def timed(*a, **k):
            entry = timings.setdefault(key, [0.0, 0, depth[0], 0.0])  # in order of first call
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                depth[0] -= 1
                entry[0] += time.perf_counter() - start
                entry[3] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                entry[1] += 1
        return timed

    for module_name, attr in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner, name = module, attr
        if "." in attr:
            cls, name = attr.split(".")
            owner = getattr(module, cls, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, wrap(f"{module_name.split('.')[-1]}.{attr}", getattr(owner, name)))

    import geoanomaly
    from geoanomaly.pipeline import run

    start = time.perf_counter()
    options = dict(sources=[args.csv], out=args.out, epochs=args.epochs, crs=CRS, seed=0,
                   progress=args.progress)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(run, **options)
        profiler.dump_stats(args.profile)
    else:
        result = run(**options)
    wall = time.perf_counter() - start
    Path(args.timings).write_text(json.dumps({
        "wall_s": wall, "n_samples": int(result.data.survey.n),
        "n_features": len(result.data.feature_names), "version": geoanomaly.__version__,
        "stages": [[key, *timings[key]] for key in timings]}))


# --------------------------------------------------------------------------------------------
# the parent: generate, run the child, report


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--elements", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None,
                        help="folder for the CSV and the outputs (default: a temp folder; the "
                             "CSV is reused when it is already there)")
    parser.add_argument("--profile", default=None, help="also write a cProfile of the run here")
    parser.add_argument("--progress", action="store_true", help="show the progress bars")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--timings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return {}

    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "geoanomaly_large_points")
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"points_{args.rows}x{args.elements}_seed{args.seed}.csv"
    if not csv.exists():
        start = time.perf_counter()
        partial = csv.with_suffix(".partial")
        write_point_survey(partial, args.rows, args.elements, args.seed)
        partial.rename(csv)
        print(f"generated {csv} ({csv.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - start:.0f} s (not timed below)")
    out = workdir / "out"
    timings = workdir / "timings.json"
    command = [sys.executable, __file__, "--child", "--csv", str(csv), "--out", str(out),
               "--epochs", str(args.epochs), "--timings", str(timings)]
    if args.profile:
        command += ["--profile", args.profile]
    if args.progress:
        command += ["--progress"]
    print(f"{_load()} before")
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(f"{_load()} after")
    record = json.loads(timings.read_text())
    print(f"\n{args.rows:,} samples x {args.elements} elements, {args.epochs} epochs, "
          f"{os.cpu_count()} cores: wall {wall:.1f} s (child process, imports included; "
          f"run() itself {record['wall_s']:.1f} s), peak RSS {peak_mb:,.0f} MB")
    print(f"{'stage':<44}{'seconds':>9}{'calls':>7}{'% of run':>10}{'peak RSS MB':>13}")
    for key, seconds, calls, level, peak in record["stages"]:
        print(f"{'  ' * level + key:<44}{seconds:9.2f}{calls:7d}"
              f"{100 * seconds / record['wall_s']:9.1f}%{peak:13,.0f}")
    print("(peak RSS: the process's peak so far when the stage ended)")
    return {"wall_s": wall, "peak_rss_mb": peak_mb, **record}


if __name__ == "__main__":
    main()
