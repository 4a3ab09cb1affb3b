"""Scoring throughput of the VAE and the AE at the limit (issue 8, item 4).

    .venv/bin/python benchmarks/bench_scoring.py [--rows 2000000] [--repeats 3]
        [--chunks 16384,65536,262144,1048576] [--save DIR | --compare DIR]

What it does: a seeded 2,000,000 x 39 float32 survey (a 3-d nonlinear structure plus noise);
a VAE and an AE fitted for 2 epochs on a seeded 20,000-row sample (the fit is the same run to
run, so scores can be compared across code versions); then, for "recon", "enrich" and
"enrich-elbo" (VAE) and "recon", "enrich" (AE), ``anomaly_score`` on the float32 input and on a
float64 copy of it: rows/s (best of ``--repeats``), and the peak of numpy allocations during
one call (tracemalloc, in a separate untimed call: tracemalloc slows allocation), which is where
a float64 copy of the input shows.  Side by side: a plain torch forward pass of the same network
over the same rows already standardised (chunked the same way), the rate of a chunk-size sweep
(``SCORE_CHUNK_ROWS``), and the FLOP bound: the measured float32 GEMM rate of this machine
divided by the multiply-adds of one row through the network.

Torch threads are left as the package leaves them (torch's default).  The machine is shared:
the load average is printed before and after; compare ratios (float32 vs float64, before vs
after a change) more than absolute rates.

``--save DIR`` writes the scores of every (model, score) on the first 200,000 rows (float32
and float64 input) to ``DIR/before_<model>_<score>_<dtype>.npy``; ``--compare DIR`` prints the
largest relative difference of the current scores from those files.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np

SCORES = {"vae": ("recon", "enrich", "enrich-elbo"), "ae": ("recon", "enrich")}


def synthetic_survey(n_rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    """Seeded float32 rows: tanh of a 3-d latent through a random mixing, rotated, plus noise;
    generated in blocks so no float64 (n, d) array is ever made."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(3, n_features))
    rotation = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
    out = np.empty((n_rows, n_features), dtype=np.float32)
    block = 200_000
    for start in range(0, n_rows, block):
        n = min(block, n_rows - start)
        latent = rng.normal(size=(n, 3))
        out[start:start + n] = (np.tanh(latent @ mixing) @ rotation * 3
                                + 0.3 * rng.normal(size=(n, n_features)))
    return out


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def numpy_peak(fn) -> int:
    """Peak bytes of traced (numpy / Python) allocations during ``fn()``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def gemm_flops_per_s(repeats: int) -> float:
    """Measured float32 GEMM rate (FLOP/s) with torch's threads: the ceiling for a network whose
    cost is its matrix products."""
    import torch

    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    a @ b
    seconds = best_time(lambda: a @ b, repeats + 2)
    return 2 * 2048 ** 3 / seconds


def network_macs(detector) -> int:
    """Multiply-adds of one row through every Linear layer of the detector's network."""
    from torch import nn

    return sum(m.in_features * m.out_features for m in detector.network_.modules()
               if isinstance(m, nn.Linear))


def plain_forward(detector, Z, chunk_rows: int):
    """The network's forward pass alone on standardised float32 rows (VAE: encoder, latent
    heads, decoder on the latent mean; AE: the Sequential), chunked like the scoring."""
    import torch

    net = detector.network_
    with torch.inference_mode():
        for start in range(0, Z.shape[0], chunk_rows):
            x = Z[start:start + chunk_rows]
            if detector.name == "vae":
                mu, _ = net["z_params"](net["encoder"](x)).chunk(2, dim=-1)
                net["x_mu"](net["decoder"](mu))
            else:
                net(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=39)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", default="16384,65536,262144,1048576",
                        help="SCORE_CHUNK_ROWS values to sweep (VAE recon, float32 input)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: as the package leaves it); on a "
                             "shared machine 2 spinning threads can be 20x slower than 1")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--save", type=Path, help="write reference scores to this folder")
    parser.add_argument("--compare", type=Path, help="compare with scores saved by --save")
    args = parser.parse_args()

    import torch

    from geoanomaly.detect import AutoencoderDetector, VAEDetector
    from geoanomaly.detect import torch_training as tt

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# bench_scoring: {args.rows:,} x {args.features} float32, torch {torch.__version__},"
          f" {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; {load()}")
    X32 = synthetic_survey(args.rows, args.features)
    sample = X32[np.random.default_rng(1).choice(args.rows, args.fit_rows, replace=False)]
    models = {
        "vae": VAEDetector(epochs=args.epochs, patience=None, seed=0).fit(sample),
        "ae": AutoencoderDetector(epochs=args.epochs, patience=None, seed=0).fit(sample),
    }
    X64 = X32.astype(np.float64)
    input_mb = X32.nbytes / 1e6
    default_chunk = tt.SCORE_CHUNK_ROWS

    gemm = gemm_flops_per_s(args.repeats)
    print(f"float32 GEMM 2048^3: {gemm / 1e9:.1f} GFLOP/s")
    for name, det in models.items():
        macs = network_macs(det)
        print(f"{name}: {macs} multiply-adds per row -> FLOP bound "
              f"{gemm / (2 * macs) / 1e6:.1f} M rows/s")
    print(f"SCORE_CHUNK_ROWS = {default_chunk}; input {input_mb:.0f} MB float32\n")

    print("| model | score | input | M rows/s | s per call | peak numpy alloc MB |")
    print("|---|---|---|---:|---:|---:|")
    rates = {}
    for name, det in models.items():
        for score in SCORES[name]:
            det.set_params(score=score)
            for label, X in (("float32", X32), ("float64", X64)):
                det.anomaly_score(X[:10_000])  # warm-up
                seconds = best_time(lambda: det.anomaly_score(X), args.repeats)
                peak = ("" if args.no_memory
                        else f"{numpy_peak(lambda: det.anomaly_score(X)) / 1e6:.0f}")
                rates[name, score, label] = args.rows / seconds
                print(f"| {name} | {score} | {label} | {args.rows / seconds / 1e6:.2f} | "
                      f"{seconds:.3f} | {peak} |", flush=True)
    for name, det in models.items():
        Z = torch.from_numpy((X32 - det.mean_.astype(np.float32))
                             / det.scale_.astype(np.float32))
        plain_forward(det, Z[:10_000], default_chunk)
        seconds = best_time(lambda: plain_forward(det, Z, default_chunk), args.repeats)
        print(f"| {name} | plain torch forward (standardised float32 tensor) | float32 | "
              f"{args.rows / seconds / 1e6:.2f} | {seconds:.3f} | |", flush=True)
        del Z

    print("\nchunk sweep (VAE recon, float32 input; AE recon):\n")
    print("| SCORE_CHUNK_ROWS | VAE recon M rows/s | AE recon M rows/s |")
    print("|---:|---:|---:|")
    models["vae"].set_params(score="recon")
    models["ae"].set_params(score="recon")
    try:
        for chunk in [int(c) for c in args.chunks.split(",")]:
            tt.SCORE_CHUNK_ROWS = chunk
            cells = []
            for name in ("vae", "ae"):
                seconds = best_time(lambda: models[name].anomaly_score(X32), args.repeats)
                cells.append(f"{args.rows / seconds / 1e6:.2f}")
            print(f"| {chunk} | {' | '.join(cells)} |", flush=True)
    finally:
        tt.SCORE_CHUNK_ROWS = default_chunk

    if args.save or args.compare:
        n = min(200_000, args.rows)
        worst = 0.0
        for name, det in models.items():
            for score in SCORES[name]:
                det.set_params(score=score)
                for label, X in (("float32", X32[:n]), ("float64", X64[:n])):
                    scores = det.anomaly_score(X)
                    again = det.anomaly_score(X)
                    assert np.array_equal(scores, again), "scores differ run to run"
                    assert scores.dtype == np.float64 and scores.shape == (n,)
                    path_name = f"before_{name}_{score}_{label}.npy"
                    if args.save:
                        args.save.mkdir(parents=True, exist_ok=True)
                        np.save(args.save / path_name, scores)
                    if args.compare:
                        before = np.load(args.compare / path_name)
                        rel = np.abs(scores - before) / np.maximum(np.abs(before), 1e-6)
                        worst = max(worst, float(rel.max()))
                        print(f"{name} {score} {label}: max |after - before| / |before| = "
                              f"{rel.max():.3g} (max abs {np.abs(scores - before).max():.3g}, "
                              f"bit-identical {np.array_equal(scores, before)})")
        if args.compare:
            print(f"largest relative difference over all scores: {worst:.3g}")
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
