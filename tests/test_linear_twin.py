"""Every VAE run says what the non-linear network adds over its linear twin (PPCA)."""

from __future__ import annotations

import json

import geoanomaly
from geoanomaly.pipeline import _twin_verdict


def test_a_vae_run_reports_its_linear_twin(small_csv, tmp_path):
    samples, deposits = small_csv
    result = geoanomaly.run(sources=[str(samples)], deposits=str(deposits), out=str(tmp_path / "o"),
                            epochs=5, n_boot=50)
    twin = json.loads((tmp_path / "o" / "metrics.json").read_text())["linear_twin"]
    assert twin["model"] == "ppca" and -1 <= twin["spearman_with_vae"] <= 1
    assert set(twin["protocols"]) == set(result.metrics["protocols"])
    assert twin["verdict"] in result.data.notes
    assert "Linear twin" in (tmp_path / "o" / "report.html").read_text()


def test_without_deposits_the_verdict_reads_the_map_correlation():
    text = _twin_verdict(0.99, None, None)
    assert "adds little" in text
    text = _twin_verdict(0.5, None, None)
    assert "differs from the linear one" in text
