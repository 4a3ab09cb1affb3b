"""AUC of every VAE and PPCA score on each synthetic anomaly kind (geoanomaly.demo.kinds).

    .venv/bin/python benchmarks/scores_by_kind.py [--samples 600] [--epochs 40] [--seed 0]

The printed table is the measurement behind tests/test_scores_by_kind.py and the table in
BENCHMARKS.md: features = log10 of the Au pathfinders, target-weighted as ``--target Au`` weighs
them, no spatial context, positives = samples inside a deposit halo. For the point-source kind a
second row gives the AUC of contaminated against barren samples (deposit samples left out).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from geoanomaly.demo.kinds import ANOMALY_KINDS, PATHFINDERS, make_kind_survey
from geoanomaly.detect import PPCADetector, VAEDetector
from geoanomaly.targets import target_feature_weights

SCORES = ("recon", "enrich", "kl", "enrich-kl", "elbo", "enrich-elbo", "nll", "combined")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    weights = target_feature_weights("pathfinders", "Au", list(PATHFINDERS))
    print("| kind | model | fit s | " + " | ".join(SCORES) + " |")
    print("|---|---|---|" + "---|" * len(SCORES))
    for kind in ANOMALY_KINDS:
        survey = make_kind_survey(kind, seed=args.seed, n_samples=args.samples)
        X = np.log10(survey.table[list(PATHFINDERS)].to_numpy())
        for name, detector in (("vae", VAEDetector(epochs=args.epochs, seed=args.seed,
                                                   feature_weights=weights)),
                               ("ppca", PPCADetector(feature_weights=weights))):
            start = time.perf_counter()
            detector.fit(X)
            seconds = time.perf_counter() - start
            scores = {s: detector.set_params(score=s).anomaly_score(X) for s in SCORES}
            row = [f"{roc_auc_score(survey.positive, scores[s]):.2f}" for s in SCORES]
            print(f"| {kind} | {name} | {seconds:.1f} | " + " | ".join(row) + " |")
            if kind == "point-source":
                keep = ~survey.positive
                row = [f"{roc_auc_score(survey.contamination[keep], scores[s][keep]):.2f}"
                       for s in SCORES]
                print(f"| contamination vs barren | {name} | | " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
