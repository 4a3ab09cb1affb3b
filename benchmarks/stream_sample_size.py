"""How much the size of a streamed run's fitting sample changes its map and its AUC.

A streamed grid fits cleaning, transform and model on ``--stream-sample`` cells and reads
percentile ranks and thresholds from them. For each size this runs the default VAE (streamed,
several seeds) and reports the Spearman correlation of its anomaly.tif with the map fitted on
every cell (same seed), and the AUC of protocol "samples" where deposits are given. Seeds vary
the sample and the network together, so the spread between seeds at the full size is the floor
that a smaller sample has to be compared with.

    python benchmarks/stream_sample_size.py --data-root ../shared/data --out /tmp/sss
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def read_map(path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1, masked=True)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    both = ~(np.ma.getmaskarray(a) | np.ma.getmaskarray(b))
    return float(spearmanr(np.asarray(a)[both], np.asarray(b)[both]).statistic)


def study(name, sources, deposits, sizes, seeds, out: Path, extra: dict) -> list[dict]:
    import geoanomaly

    rows = []
    for seed in seeds:
        full = out / name / f"full_s{seed}"
        geoanomaly.run(sources=sources, deposits=deposits, out=str(full), seed=seed,
                       stream="on", stream_sample=10**12, **extra)
        reference = read_map(full / "anomaly.tif")
        for size in sizes + [None]:
            target = full if size is None else out / name / f"n{size}_s{seed}"
            start = time.perf_counter()
            if size is not None:
                result = geoanomaly.run(sources=sources, deposits=deposits, out=str(target),
                                        seed=seed, stream="on", stream_sample=size, **extra)
            metrics = json.loads((target / "metrics.json").read_text()) if deposits else None
            auc = metrics["protocols"]["samples"] if metrics else None
            row = {"dataset": name, "seed": seed, "sample": size or "all",
                   "spearman_with_all": spearman(read_map(target / "anomaly.tif"), reference),
                   "auc": None if auc is None else round(auc["roc_auc"], 3),
                   "auc_ci": None if auc is None else [round(v, 3) for v in auc["roc_auc_ci"]],
                   "seconds": round(time.perf_counter() - start, 1) if size else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
    # seed-to-seed agreement of the full fits: the floor
    fulls = [read_map(out / name / f"full_s{s}" / "anomaly.tif") for s in seeds]
    for i in range(1, len(fulls)):
        row = {"dataset": name, "seed_pair": [seeds[0], seeds[i]], "sample": "all",
               "spearman_between_seeds": spearman(fulls[0], fulls[i])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] /
                                                   "shared" / "data"))
    parser.add_argument("--out", default="/tmp/stream_sample_size")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--synthetic", help="folder of a large_grid.py stack to add")
    args = parser.parse_args(argv)
    out = Path(args.out)
    seeds = list(range(args.seeds))
    rows = []
    xinjiang = Path(args.data_root) / "xinjiang_au"
    if xinjiang.exists():
        rows += study("xinjiang_au", [str(xinjiang / "elements")],
                      str(xinjiang / "deposits.csv"), [1000, 3000, 10000], seeds, out,
                      {"target": "Au"})
    if args.synthetic:
        rows += study("synthetic", [args.synthetic], None, [10000, 50000, 200000], seeds, out,
                      {"epochs": 30})
    (out / "rows.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
