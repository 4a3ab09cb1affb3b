"""Any survey size (issue 8): every target measured in one run.

    .venv/bin/python benchmarks/bench_large.py --workdir /tmp/ga_large [--cells 1e8]
        [--epochs 30] [--points 1000000] [--skip-grid] [--skip-cluster] [--skip-points]

1. Grid: a float32 stack of ``--cells`` cells x 39 bands (benchmarks/large_grid.py; generated
   once into the workdir and kept), then (a) rasterio alone reading every band and writing one
   band, window by window (the I/O floor), (b) ``geoanomaly run --stream on`` in a child
   process: wall time, its stages (from run.yaml), the wall time without training, and the
   peak resident memory of the process (sampled every 50 ms), (c) the same run with
   ``--scheduler`` on a two-worker LocalCluster (workers of one thread) and whether its
   anomaly.tif and classes.tif are identical to (b)'s, value for value.
2. Points: a ``--points`` x 40 CSV with lab codes (benchmarks/large_points.py) run end to end
   with 5 epochs: wall time and peak memory.
3. Scoring: rows/s of the VAE's recon, enrich and enrich-elbo on 39 features, on the streamed
   path's columns (two threads of one torch thread each, as a streamed run scores), beside a
   plain torch forward pass of the same network (rows, torch on 2 threads).

``--window-profile GRIDS`` instead times each step of one window (read, clean, transform,
score, rank, smooth) on one thread.

The machine (cores, load average) is printed: compare ratios more than absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_child(args: list[str], env=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the child and its children, its output)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    peak = 0
    done = threading.Event()

    def poll():
        nonlocal peak
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = parent.memory_info().rss + sum(
                    c.memory_info().rss for c in parent.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    output, _ = proc.communicate()
    done.set()
    watcher.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{output[-3000:]}")
    return time.perf_counter() - start, peak / 2**20, output


def geoanomaly_cmd() -> list[str]:
    return [sys.executable, "-m", "geoanomaly.cli"]


def same_raster(a: Path, b: Path) -> bool:
    """Value for value (nodata included), read block by block."""
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        if (x.height, x.width) != (y.height, y.width):
            return False
        for _, window in x.block_windows(1):
            if not np.array_equal(x.read(1, window=window), y.read(1, window=window)):
                return False
    return True


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only); False where that is not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


class dask_cluster:
    """A scheduler and two one-thread workers started as a user would (README), in their own
    processes: the client's environment stays that of a plain run (a LocalCluster started in
    the calling process sets OMP_NUM_THREADS=1 there, which changes torch's training threads
    and so the fitted network)."""

    def __init__(self, work: Path):
        self.file = work / "scheduler.json"

    def __enter__(self) -> str:
        bin_dir = Path(sys.executable).parent
        self.file.unlink(missing_ok=True)
        self.procs = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--no-dashboard",
                                        "--scheduler-file", str(self.file), "--port", "0"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        for _ in range(600):
            if self.file.exists() and self.file.stat().st_size:
                break
            time.sleep(0.1)
        self.procs.append(subprocess.Popen(
            [str(bin_dir / "dask"), "worker", "--scheduler-file", str(self.file), "--nworkers",
             "2", "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(scheduler_file=str(self.file)) as client:
            client.wait_for_workers(2, timeout=120)
            return client.scheduler.address

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(timeout=60)
        return False


def grid_part(args, work: Path) -> dict:
    from large_grid import rasterio_baseline, write_stack

    grids = work / f"grid_{int(args.cells)}"
    marker = grids / "done"
    if not marker.exists():
        start = time.perf_counter()
        write_stack(grids, args.cells)
        marker.write_text("ok")
        print(f"generated the stack in {time.perf_counter() - start:.0f} s", flush=True)
    paths = sorted(grids.glob("*.tif"))
    size_gb = sum(p.stat().st_size for p in paths) / 1e9
    result = {"cells": int(args.cells), "bands": len(paths), "stack_GB": round(size_gb, 1)}
    print(f"grid: {len(paths)} bands, {size_gb:.1f} GB, {load()}", flush=True)
    import yaml

    # The page cache decides what "I/O" costs: a 16 GB stack read from disk takes tens of seconds,
    # from memory a few. Both are measured: "cold" drops the cache before each of the two runs
    # (needs root; skipped otherwise), "warm" reads the stack first so that both find it cached.
    out = work / "out_local"
    for cache in (["cold"] if drop_page_cache() else []) + ["warm"]:
        if cache == "cold":
            drop_page_cache()
        else:
            rasterio_baseline(paths, work / "baseline.tif")  # warm the cache
        baseline = rasterio_baseline(paths, work / "baseline.tif")
        if cache == "cold":
            drop_page_cache()
        wall, peak, _ = run_child(geoanomaly_cmd() + [
            "run", str(grids), "--out", str(out), "--stream", "on", "--epochs",
            str(args.epochs), "--no-progress"])
        record = yaml.safe_load((out / "run.yaml").read_text())["streamed"]
        stages = record["seconds"]
        without = wall - stages["fit"]
        result[cache] = {"rasterio_s": round(baseline, 1), "geoanomaly_s": round(wall, 1),
                         "peak_MB": round(peak),
                         "stages_s": {k: round(v, 1) for k, v in stages.items()},
                         "without_training_s": round(without, 1),
                         "ratio_to_rasterio": round(without / baseline, 2)}
        result["valid_cells"] = record["n_valid"]
        print(f"{cache} cache: rasterio alone (read all bands, write one) {baseline:.1f} s; "
              f"geoanomaly streamed {wall:.1f} s, of which training {stages['fit']:.1f} s; "
              f"without training {without:.1f} s = {without / baseline:.2f} x rasterio; peak "
              f"{peak:.0f} MB; stages {json.dumps(result[cache]['stages_s'])}; {load()}",
              flush=True)

    if not args.skip_cluster:
        out_dask = work / "out_dask"
        with dask_cluster(work) as address:
            wall_d, peak_d, _ = run_child(geoanomaly_cmd() + [
                "run", str(grids), "--out", str(out_dask), "--stream", "on", "--epochs",
                str(args.epochs), "--no-progress", "--scheduler", address])
        same = all(same_raster(out / n, out_dask / n) for n in ("anomaly.tif", "classes.tif"))
        stages_d = yaml.safe_load((out_dask / "run.yaml").read_text())["streamed"]["seconds"]
        result.update({"cluster_s": round(wall_d, 1), "cluster_identical": same,
                       "cluster_client_peak_MB": round(peak_d),
                       "cluster_score_s": round(stages_d["score"], 1)})
        print(f"two-worker LocalCluster: {wall_d:.1f} s (scoring {stages_d['score']:.1f} s), "
              f"anomaly.tif and classes.tif identical to the local run: {same}", flush=True)
    return result


def points_part(args, work: Path) -> dict:
    import large_points

    csv = work / f"points_{args.points}.csv"
    if not csv.exists():
        large_points.write_point_survey(csv, args.points, 40, seed=0)
    out = work / "out_points"
    wall, peak, output = run_child(geoanomaly_cmd() + [
        "run", str(csv), "--out", str(out), "--epochs", "5", "--crs", "EPSG:32750",
        "--no-progress"])
    print(f"points: {args.points:,} x 40 CSV, 5 epochs: {wall:.1f} s, peak {peak:.0f} MB; "
          f"{load()}", flush=True)
    return {"rows": args.points, "wall_s": round(wall, 1), "peak_MB": round(peak)}


def scoring_part(rows: int = 2_000_000) -> dict:
    import torch

    from geoanomaly.detect import make_detector
    from geoanomaly.detect import torch_training as tt

    rng = np.random.default_rng(0)
    fit = rng.standard_normal((20000, 39)).astype(np.float32)
    columns = np.ascontiguousarray(rng.standard_normal((39, rows)).astype(np.float32))
    result = {}
    for score in ("recon", "enrich", "enrich-elbo"):
        detector = make_detector("vae", score=score, epochs=2, seed=0).fit(fit)

        def streamed_threads():
            from concurrent.futures import ThreadPoolExecutor

            torch.set_num_threads(1)
            halves = np.array_split(np.arange(rows), 2)
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda idx: detector.score_columns(
                    np.ascontiguousarray(columns[:, idx[0]:idx[-1] + 1])), halves))

        best = min(_timed(streamed_threads) for _ in range(2))
        result[score] = round(rows / best / 1e6, 2)
    torch.set_num_threads(2)
    detector = make_detector("vae", score="recon", epochs=2, seed=0).fit(fit)
    net = detector.network_
    X = torch.from_numpy(np.ascontiguousarray(columns.T))

    def plain():
        with torch.inference_mode():
            for start in range(0, rows, tt.SCORE_CHUNK_ROWS):
                z = net["z_params"](net["encoder"](X[start:start + tt.SCORE_CHUNK_ROWS]))
                net["x_mu"](net["decoder"](z[:, :3]))

    result["plain_torch_forward"] = round(rows / min(_timed(plain) for _ in range(2)) / 1e6, 2)
    print("scoring, M rows/s on 2 cores: " + ", ".join(f"{k} {v}" for k, v in result.items())
          + f"; {load()}", flush=True)
    return result


def window_profile(grids: str, repeats: int = 5) -> dict:
    """M cells/s of each step of one 512 x 512 window (one thread, the sixth window of the
    grid), after a fit on a 20,000-cell sample with 2 epochs."""
    import torch

    from geoanomaly.config import make_config
    from geoanomaly.pipeline import prepare
    from geoanomaly.stream import run as streamed
    from geoanomaly.stream.sample import draw_sample
    from geoanomaly.stream.scoring import configure_worker, masked_mean, percentile_rank
    from geoanomaly.stream.stack import open_stack

    config = make_config(sources=[grids], out="unused", epochs=2, stream="on",
                         stream_sample=20000)
    stack = open_stack(config.sources)
    sample = draw_sample(stack, 20000, 0)
    data = prepare(config, raw=sample.to_survey(stack), with_deposits=False)
    _, scorer = streamed._fit(config, data, stack, sample)
    configure_worker()
    torch.set_num_threads(1)
    window = stack.windows(512)[min(5, len(stack.windows(512)) - 1)]
    seconds: dict[str, float] = {}

    def step(name, fn):
        start = time.perf_counter()
        out = fn()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return out

    for _ in range(repeats):
        raw = step("read", lambda: stack.read(window, scorer.cleaner.bands))
        values, valid = step("clean", lambda: scorer.cleaner.apply(
            raw.reshape(raw.shape[0], -1)))
        X = step("transform", lambda: scorer.transformer.transform_columns(values))
        raw_scores = step("score", lambda: scorer.detector.score_columns(X))
        ranks = step("rank", lambda: percentile_rank(raw_scores, scorer.reference))

        def smooth():
            image = np.zeros(valid.size)
            image[valid] = ranks
            return masked_mean(image.reshape(window.shape), valid.reshape(window.shape), 3)

        step("smooth", smooth)
        step("whole window", lambda: scorer(window))
    cells = repeats * window.shape[0] * window.shape[1]
    rates = {k: round(cells / v / 1e6, 2) for k, v in seconds.items()}
    print("one window, one thread, M cells/s: " + ", ".join(f"{k} {v}" for k, v in
                                                            rates.items()) + f"; {load()}")
    return rates


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/ga_large")
    parser.add_argument("--cells", type=float, default=1e8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--skip-points", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--window-profile", metavar="GRIDS",
                        help="only time each step of one window of this folder of grids")
    args = parser.parse_args(argv)
    if args.window_profile:
        window_profile(args.window_profile)
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {len(os.sched_getaffinity(0))} cores, {load()}", flush=True)
    results = {}
    if not args.skip_grid:
        results["grid"] = grid_part(args, work)
    if not args.skip_points:
        results["points"] = points_part(args, work)
    if not args.skip_scoring:
        results["scoring_M_rows_per_s"] = scoring_part()
    print(json.dumps(results, indent=1))
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
