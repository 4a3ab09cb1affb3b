"""Compare geoanomaly's Info-DAN with the authors' published R outputs.

The authors (Esmaeiloghli, Tabatabaei & Carranza 2023) ship 100 test samples and the outputs of
their R script in GitHub Saeid1986/Info-DAN.  That repository states no licence, so its files are
not copied into this project: point this script at a copy of it.

    python benchmarks/check_infodan_fidelity.py PATH

PATH: a checkout (a folder holding ``Input/Test data.txt`` and ``Output/...``) or a bare git
directory of the repository (read with ``git show HEAD:<file>``).  Prints the numbers; exits 1 when
a fidelity check fails.  tests/test_detect_infodan.py runs the same comparison when the
environment variable GEOANOMALY_INFODAN_REPO names such a PATH.

What is compared:
* ilr coordinates with the ``compositions`` default basis: max |ours - R| (must be ~1e-12);
* Infomax sources (``ica::icaimax``, gradient, tanh, 100 iterations): |r| of each published source
  with ours at the same position (order by variance accounted for), the sign-aligned max |diff|
  of sources and unmixing matrix, and the variances accounted for;
* the score definition: R's reconstructions of its min-max scaled sources give R's anomaly scores
  with our formula (mean over sources of the squared error);
* the trained scores: not reproducible bit for bit (the authors ran unseeded); reported as the
  Spearman correlation and the mean of our seed-0 scores (published settings) against theirs.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FILES = {
    "data": "Input/Test data.txt",
    "ilr": "Output/ILR data.txt",
    "sources": "Output/Source Signals (S).txt",
    "unmixing": "Output/Unmixing Matrix (W).txt",
    "vafs": "Output/Variances.txt",
    "scores": "Output/Anomaly Scores of Info-DAN.txt",
    "reconstruction": "Output/Reconstruct of Info-DAN.txt",
}

#: the checks that must hold (name: (value key, comparison, bound))
ILR_TOLERANCE = 1e-9
MIN_ABS_R = 0.99


def _read_text(path: Path, name: str) -> str:
    if (path / name).is_file():
        return (path / name).read_text()
    try:
        shown = subprocess.run(["git", f"--git-dir={path}", "show", f"HEAD:{name}"],
                               capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FileNotFoundError(f"{name} is neither under {path} nor in a git directory there "
                                f"({exc})") from None
    return shown.stdout.decode("utf-8")


def load_reference(path) -> dict:
    """The published inputs and outputs as DataFrames / arrays."""
    path = Path(path)
    text = {key: _read_text(path, name) for key, name in FILES.items()}

    def table(key, **kw):
        return pd.read_csv(io.StringIO(text[key]), sep=r"\s+", **kw)

    return {
        "data": table("data"),
        "ilr": table("ilr").to_numpy(dtype=float),
        "sources": table("sources").to_numpy(dtype=float),
        "unmixing": table("unmixing").to_numpy(dtype=float),  # first column = row names
        "vafs": table("vafs").to_numpy(dtype=float).ravel(),
        "scores": np.loadtxt(io.StringIO(text["scores"])),
        "reconstruction": np.loadtxt(io.StringIO(text["reconstruction"])),
    }


def compare(reference: dict, *, train: bool = True, seed: int = 0) -> dict:
    """The fidelity numbers (module docstring)."""
    from scipy.stats import spearmanr

    from geoanomaly.detect.infodan import InfoDANDetector
    from geoanomaly.detect.infomax import infomax_ica
    from geoanomaly.transform.ilr_base import ilr_coordinates

    data = reference["data"]
    coords = ilr_coordinates(data).to_numpy()
    out = {"n_samples": int(data.shape[0]), "elements": list(data.columns),
           "ilr_max_abs_diff": float(np.abs(coords - reference["ilr"]).max())}

    R_S = reference["sources"]
    k = R_S.shape[1]
    ica = infomax_ica(coords, k, algorithm="gradient", nonlinearity="tanh", rate=1.0,
                      max_iter=100, tol=1e-6)
    corr = np.corrcoef(ica.sources.T, R_S.T)[:k, k:]
    same_position = np.diag(corr)
    signs = np.sign(same_position)
    out.update(
        abs_r_same_position=[float(v) for v in np.abs(same_position)],
        max_one_minus_abs_r=float(np.max(1.0 - np.abs(same_position))),
        signs_vs_published=[int(v) for v in signs],
        best_match=[int(i) for i in np.abs(corr).argmax(axis=0)],
        sources_max_abs_diff_sign_aligned=float(np.abs(ica.sources * signs - R_S).max()),
        unmixing_max_abs_diff_sign_aligned=float(
            np.abs(ica.unmixing * signs[:, None] - reference["unmixing"]).max()),
        vafs_max_abs_diff=float(np.abs(ica.vafs - reference["vafs"]).max()),
        ica_iterations=int(ica.n_iter), ica_converged=bool(ica.converged),
        ica_last_change=float(ica.change))

    R_U = (R_S - R_S.min(0)) / (R_S.max(0) - R_S.min(0))
    recomputed = np.mean((reference["reconstruction"] - R_U) ** 2, axis=1)
    out["score_definition_max_abs_diff"] = float(np.abs(recomputed - reference["scores"]).max())

    if train:
        detector = InfoDANDetector(seed=seed).fit(data)
        scores = detector.anomaly_score(data)
        out.update(
            trained_scores_spearman=float(spearmanr(scores, reference["scores"])[0]),
            trained_scores_mean=float(scores.mean()),
            published_scores_mean=float(reference["scores"].mean()),
            top10_overlap=int(len(set(np.argsort(-scores)[:10])
                                  & set(np.argsort(-reference["scores"])[:10]))))
    return out


def failures(numbers: dict) -> list[str]:
    """The fidelity checks that fail (empty when all hold)."""
    bad = []
    if not numbers["ilr_max_abs_diff"] < ILR_TOLERANCE:
        bad.append(f"ilr differs by {numbers['ilr_max_abs_diff']:.3g}")
    weak = [i for i, r in enumerate(numbers["abs_r_same_position"]) if not r >= MIN_ABS_R]
    if weak:
        bad.append(f"sources {weak} have |r| < {MIN_ABS_R}")
    return bad


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.split("\n\n")[0] + "\n\nusage: check_infodan_fidelity.py PATH",
              file=sys.stderr)
        return 2
    numbers = compare(load_reference(argv[0]))
    for key, value in numbers.items():
        if isinstance(value, list) and value and isinstance(value[0], float):
            value = "[" + ", ".join(f"{v:.6f}" for v in value) + "]"
        elif isinstance(value, float):
            value = f"{value:.6g}"
        print(f"{key:38s} {value}")
    bad = failures(numbers)
    print("FAIL: " + "; ".join(bad) if bad else "all fidelity checks hold")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
