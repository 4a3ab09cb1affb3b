"""benchmarks/run_benchmarks.py on a tiny self-made GSWA-like data root (two fast models, --quick)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run_benchmarks.py"
DEPOSITS = [(117.08, -33.08), (117.22, -33.22)]  # lon, lat
PATHFINDER_COLUMNS = ["Au_ppm", "As_ppm", "Sb_ppm", "Cu_ppm", "Pb_ppm", "Zn_ppm"]
OTHER_COLUMNS = ["Fe_pct", "Mn_ppm", "Ni_ppm"]


def load_runner():
    spec = importlib.util.spec_from_file_location("run_benchmarks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def write_mini_gswa(root: Path) -> None:
    """sed1 only: lon/lat samples of two surveys, Au (and As) enriched within ~1.5 km of 2 sites."""
    rng = np.random.default_rng(3)
    lon = list(rng.uniform(117.0, 117.3, 220))
    lat = list(rng.uniform(-33.3, -33.0, 220))
    for dx, dy in DEPOSITS:  # a few samples close to each site, so protocol samples has positives
        lon += list(dx + rng.uniform(-0.008, 0.008, 6))
        lat += list(dy + rng.uniform(-0.008, 0.008, 6))
    lon, lat = np.array(lon), np.array(lat)
    n = lon.size
    km = np.min([np.hypot((lon - dx) * 93.0, (lat - dy) * 111.0) for dx, dy in DEPOSITS], axis=0)
    halo = np.exp(-(km / 1.5) ** 2)
    table = pd.DataFrame({"X": lon, "Y": lat, "SAMPLEID": [f"S{i}" for i in range(n)],
                          "WAMEX_A_NO": np.where(lon < 117.15, 90001, 90002)})
    for column in PATHFINDER_COLUMNS + OTHER_COLUMNS:
        table[column] = np.exp(rng.normal(1.0, 0.4, n))
    table["Au_ppm"] = 0.002 * np.exp(rng.normal(0, 0.3, n)) * (1 + 30 * halo)
    table["As_ppm"] *= 1 + 5 * halo
    table.loc[::17, "As_ppm"] = -0.5       # below detection, GSWA coding
    table.loc[::23, "Ni_ppm"] = -9999      # missing, GSWA coding
    (root / "gswa" / "geochemical").mkdir(parents=True)
    (root / "gswa" / "site").mkdir(parents=True)
    table.to_csv(root / "gswa" / "geochemical" / "area1_sediment_au.csv", index=False)
    pd.DataFrame({"X": [d[0] for d in DEPOSITS], "Y": [d[1] for d in DEPOSITS],
                  "SITE_CODE": ["S1", "S2"]}).to_csv(
        root / "gswa" / "site" / "area1_sediment_au_site.csv", index=False)


@pytest.fixture
def quick_run(tmp_path):
    runner = load_runner()
    root, out = tmp_path / "data", tmp_path / "results"
    write_mini_gswa(root)
    rc = runner.main(["--data-root", str(root), "--out", str(out), "--models", "pca,univariate",
                      "--quick"])
    return rc, json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


def test_runs_every_model_element_set_and_protocol(quick_run):
    rc, report, _ = quick_run
    assert rc == 0 and report["errors"] == []
    assert report["quick"] is True and report["models"] == ["pca", "univariate"]
    assert set(report["skipped"]) == {"soil1", "rock2", "li4", "xinjiang_au"}
    assert all("not found" in reason for reason in report["skipped"].values())
    rows = report["rows"]
    combos = {(r["elements"], r["model"], r["protocol"]) for r in rows}
    expected = {(e, m, p) for e in ("pathfinders", "all elements")
                for m in ("pca", "univariate", "univariate+knn8")
                for p in ("samples", "opengad", "opengad-stratified")}
    assert combos == expected and len(rows) == len(expected)
    # --target Au keeps the 4 core Au pathfinders present (Au, As, Sb, Cu); "all elements" all 9
    features = {r["elements"]: r["n_features"] for r in rows}
    assert features == {"pathfinders": 4, "all elements": 9}
    info = report["datasets"]["sed1"]
    assert info["pathfinders"]["n"] == 232 and info["radius_m"] == 2000.0
    assert "Fe" not in info["pathfinders"]["elements"] and "Fe" in info["all elements"]["elements"]


def test_numbers_are_real_and_carry_their_interval(quick_run):
    _, report, _ = quick_run
    by_key = {(r["elements"], r["model"], r["protocol"]): r for r in report["rows"]}
    for r in report["rows"]:
        assert 0.0 <= r["auc"] <= 1.0 and r["seconds"] >= 0.0
        if r["protocol"] == "opengad":
            assert r["std"] is not None and r["ci95"] is None
        if r["protocol"] == "samples":
            lo, hi = r["ci95"]
            assert lo <= r["auc"] <= hi
    # Au is planted around both sites: the single element finds them, smoothing keeps that
    uni = by_key[("pathfinders", "univariate", "samples")]
    assert uni["feature"] == "Au" and uni["auc"] > 0.9 and uni["n_positive"] >= 10
    assert by_key[("pathfinders", "univariate+knn8", "opengad")]["auc"] > 0.8
    assert by_key[("pathfinders", "univariate+knn8", "samples")]["score"].endswith(
        "mean percentile rank over 8 nearest neighbours")


def test_markdown_table_matches_json(quick_run):
    _, report, text = quick_run
    header = "| dataset | elements | model | protocol | AUC | interval or std | seconds |"
    assert header in text
    table = [line for line in text.splitlines() if line.startswith("| sed1 |")]
    assert len(table) == len(report["rows"])
    first = report["rows"][0]
    assert f"| {first['auc']:.3f} |" in table[0]
    assert "| sed1 | pathfinders (4) | univariate (Au) | samples |" in text
    assert "xinjiang_au" in text  # listed as skipped
    assert f"{report['machine']['nproc']} CPU cores" in text


def test_unknown_dataset_is_refused(tmp_path):
    runner = load_runner()
    with pytest.raises(SystemExit, match="sed9"):
        runner.main(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--datasets", "sed9"])


def test_the_family_benchmark_runs_guided_models_on_the_demo_and_says_what_they_used(tmp_path):
    """benchmarks/family.py on the demo only, with a supervised and a knowledge-guided model."""
    load_runner()  # family.py imports run_benchmarks from beside it
    path = RUNNER.parent / "family.py"
    spec = importlib.util.spec_from_file_location("family", path)
    family = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = family
    spec.loader.exec_module(family)
    code = family.main(["--datasets", "demo", "--models", "ppf-cnn,pcvae,iforest", "--quick",
                        "--out", str(tmp_path)])
    report = json.loads((tmp_path / "results.json").read_text())
    assert code == 0 and not report["errors"]
    uses = {r["model"]: r["uses"] for r in report["rows"]}
    assert uses["ppf-cnn"].startswith("supervised")
    assert uses["pcvae (deposits prior)"].startswith("knowledge-guided (geology + deposits")
    assert uses["pcvae (geology prior)"] == "knowledge-guided (geology only)"
    assert uses["iforest"] == "unsupervised"
    assert all(r["ci95"] or r["std"] for r in report["rows"])
    assert "| demo | ppf-cnn |" in (tmp_path / "results.md").read_text()
