"""The CLI on the real surveys of ../shared/data, with auto-detection only (no hand-edited files).

Skipped with a reason when ../shared/data is absent (a user's fresh clone).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from geoanomaly.cli import main

pytestmark = pytest.mark.realdata


def test_gswa_sed1_auto_detected(shared_data, tmp_path):
    gswa = shared_data / "gswa"
    out = tmp_path / "sed1"
    rc = main(["run", str(gswa / "geochemical" / "area1_sediment_au.csv"),
               "--deposits", str(gswa / "site" / "area1_sediment_au_site.csv"),
               "--out", str(out), "--radius", "2000", "--epochs", "40", "--n-boot", "300"])
    assert rc == 0
    record = yaml.safe_load((out / "run.yaml").read_text())
    # lon/lat recognised, -9999 / negative-coded limits parsed, duplicates dropped (1,392 -> 866)
    assert record["inputs"]["crs"] in ("EPSG:4326", "OGC:CRS84") or "4326" in record["inputs"]["crs"]
    assert record["inputs"]["n_rows_read"] == 1392
    assert record["inputs"]["n_rows_used"] == 866
    assert "Au" in record["inputs"]["elements"]
    assert "WAMEX_A_NO" not in record["inputs"]["elements"]
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["protocols"]["samples"]
    assert m["n_positive"] + m["n_negative"] == 866
    assert 0.0 < m["roc_auc"] < 1.0 and len(m["roc_auc_ci"]) == 2
    assert len(pd.read_csv(out / "scores.csv")) == 866
    assert (out / "anomalies.gpkg").is_file() and (out / "report.html").is_file()


def test_xinjiang_grid_auto_detected(shared_data, tmp_path):
    xj = shared_data / "xinjiang_au"
    out = tmp_path / "xj"
    rc = main(["run", str(xj / "elements"), "--deposits", str(xj / "deposits.csv"),
               "--out", str(out), "--epochs", "15", "--n-boot", "300"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["protocols"]["samples"]
    assert m["n_positive"] == 10 and m["n_positive"] + m["n_negative"] == 33813
    import rasterio
    with rasterio.open(xj / "elements" / "Au.tif") as ref, rasterio.open(out / "anomaly.tif") as got:
        assert got.transform == ref.transform and got.crs == ref.crs
        assert got.shape == ref.shape
