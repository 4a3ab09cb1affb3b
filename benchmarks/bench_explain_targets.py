"""What the explorer's outputs of issue 9 cost: element contributions against the score they
explain, and target delineation against the size of the map.

    .venv/bin/python benchmarks/bench_explain_targets.py [--rows 200000] [--side 5000]

Prints seconds and ratios (contributions / scoring of the same rows; delineation per million
cells) and the peak memory the delineation allocated (tracemalloc, numpy included).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np


def contributions_against_scoring(rows: int, seed: int = 0) -> None:
    import torch

    from geoanomaly.detect.contributions import feature_contributions
    from geoanomaly.detect.ppca import PPCADetector
    from geoanomaly.detect.vae import VAEDetector

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((rows, 2))
    X = factors @ rng.standard_normal((2, 7)) + 0.3 * rng.standard_normal((rows, 7))
    fit_rows = X[:20_000]
    for name, detector in (("vae", VAEDetector(epochs=5, seed=seed, score="enrich-elbo")),
                           ("ppca", PPCADetector(score="enrich-elbo"))):
        detector.fit(fit_rows)
        start = time.perf_counter()
        detector.anomaly_score(X)
        score_s = time.perf_counter() - start
        start = time.perf_counter()
        contrib = feature_contributions(detector, X)
        contrib_s = time.perf_counter() - start
        gap = np.abs(contrib.values.sum(axis=1) - detector.anomaly_score(X)).max()
        print(f"{name:5s} {rows:,} rows x 7: score {score_s:.2f} s, contributions "
              f"{contrib_s:.2f} s ({contrib_s / score_s:.1f}x the score); largest gap between "
              f"the row sum and the score {gap:.2g}")


def delineation(side: int, seed: int = 0) -> None:
    from affine import Affine
    from scipy import ndimage

    from geoanomaly.delineate import delineate_targets
    from geoanomaly.survey import Grid

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((side, side)).astype(np.float32), 8)
    grid = Grid(transform=Affine(100.0, 0, 500_000.0, 0, -100.0, 7_000_000.0), width=side,
                height=side, crs=None, valid=np.ones((side, side), dtype=bool))
    thresholds = np.quantile(field[::7, ::7], [0.90, 0.95, 0.99])
    deposits = np.column_stack([rng.uniform(500_000, 500_000 + 100 * side, 200),
                                rng.uniform(7_000_000 - 100 * side, 7_000_000, 200)])
    tracemalloc.start()
    start = time.perf_counter()
    targets = delineate_targets(grid, field, thresholds, ["background", "p90", "p95", "p99"],
                                deposits_xy=deposits)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cells = side * side / 1e6
    print(f"delineation {side} x {side} ({cells:.0f} M cells, smooth field): {len(targets):,} "
          f"targets in {seconds:.1f} s ({seconds / cells:.2f} s per M cells), peak "
          f"{peak / 2**30:.2f} GB allocated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--side", type=int, action="append")
    args = parser.parse_args()
    contributions_against_scoring(args.rows)
    for side in args.side or [1000, 5000]:
        delineation(side)


if __name__ == "__main__":
    main()
