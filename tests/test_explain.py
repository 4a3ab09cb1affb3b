"""What a run tells explorers beyond a score (issue 9): the elements behind each sample's score,
ranked targets, QGIS styles. Checked on synthetic surveys whose anomalies are known: the
off-structure deposits enrich Au alone; the point-source plumes enrich Pb-Zn-Cu-Sb-As-Ag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio
import pytest
import yaml

from geoanomaly.demo.kinds import write_kind_inputs
from geoanomaly.pipeline import run

PLUME_ELEMENTS = {"Pb", "Zn", "Cu", "Sb", "As", "Ag"}


@pytest.fixture(scope="module")
def point_source(tmp_path_factory):
    """A point-source survey run with --target Au through the deterministic PPCA (all of the
    survey's elements weighted towards the Au pathfinders), with deposits."""
    root = tmp_path_factory.mktemp("kind")
    paths = write_kind_inputs("point-source", root / "inputs", seed=0)
    out = root / "out"
    result = run(sources=[str(paths.samples_csv)], out=str(out), deposits=str(paths.deposits_csv),
                 model="ppca", crs="EPSG:32750", progress=False)
    truth = pd.read_csv(paths.truth_csv)
    return result, out, truth


def test_the_elements_named_for_anomalous_samples_are_the_ones_that_were_planted(point_source):
    _, out, truth = point_source
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    first = scores["top_elements"].str.split(", ").str[0]
    anomalous = scores["class"].to_numpy() >= 1
    halo = truth["positive"].to_numpy() & anomalous
    plume = truth["contamination"].to_numpy() & anomalous & ~truth["positive"].to_numpy()
    assert halo.sum() >= 20 and plume.sum() >= 5
    assert (first[halo] == "Au").mean() >= 0.9
    assert first[plume].isin(PLUME_ELEMENTS).mean() >= 0.8
    # shares: the leading element's share is the largest and they add up to at most 100 %
    shares = scores.loc[halo, "top_shares"].str.findall(r"(\d+)%").apply(lambda s: list(map(int, s)))
    assert all(s == sorted(s, reverse=True) and sum(s) <= 101 for s in shares)


def test_targets_gpkg_ranks_the_anomalies_and_measures_them(point_source):
    result, out, _ = point_source
    targets = pyogrio.read_dataframe(out / "targets.gpkg", layer="targets")
    assert len(targets) > 0 and targets.crs is not None
    assert list(targets["rank"]) == list(range(1, len(targets) + 1))
    assert (targets["area_km2"] > 0).all() and (targets["n_anomalous_samples"] >= 1).all()
    # every target holds a sample of its class, and its peak is at least its class threshold
    lower = np.r_[-np.inf, result.thresholds.thresholds]
    assert (targets["peak_score"].to_numpy() >= lower[targets["class"].to_numpy()] - 1e-9).all()
    at_deposits = targets[targets["distance_to_deposit_m"] == 0]
    assert len(at_deposits) and at_deposits["top_elements"].str.startswith("Au").mean() >= 0.8
    report = (out / "report.html").read_text()
    assert report.index("At a glance") < report.index('id="targets"') < report.index(
        'id="validation"') < report.index('id="cleaning"') < report.index('id="configuration"')
    assert "T001" in report and "protocol samples" in report


def test_every_layer_has_its_qgis_style_and_is_readable_by_the_group(point_source):
    _, out, _ = point_source
    for layer in ("anomaly", "anomalies", "targets"):
        assert (out / f"{layer}.qml").exists()
    assert "layer_styles" in {name for name, _ in pyogrio.list_layers(out / "targets.gpkg")}
    for path in out.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o040, f"{path.name} is not group-readable"


def test_run_yaml_says_what_the_top_elements_are(point_source):
    _, out, _ = point_source
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["explanation"]["attribution"] is True
    assert "sum to its score" in record["explanation"]["method"]
    assert "targets" in record["targets"]


def test_a_detector_without_contributions_gets_the_labelled_background_excess(tmp_path):
    paths = write_kind_inputs("off-structure", tmp_path / "inputs", seed=1, n_samples=400)
    out = tmp_path / "out"
    run(sources=[str(paths.samples_csv)], out=str(out), model="iforest", crs="EPSG:32750",
        target="Au", progress=False)
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["explanation"]["attribution"] is False
    assert "not a model attribution" in record["explanation"]["method"]
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert "top_elements" in scores and "top_shares" not in scores
    truth = pd.read_csv(paths.truth_csv)
    halo = truth["positive"].to_numpy() & (scores["class"].to_numpy() >= 2)
    assert (scores.loc[halo, "top_elements"].str.split(", ").str[0] == "Au").mean() >= 0.8


def test_anomalies_gpkg_reads_back_as_a_survey_despite_its_style_table(point_source):
    from geoanomaly.io import read_survey

    _, out, _ = point_source
    survey = read_survey([str(out / "anomalies.gpkg")])
    assert survey.n == 1500 and not any("has layers" in note for note in survey.notes)


def test_mcd_on_balances_is_taken_back_to_the_elements_and_names_what_was_planted(tmp_path):
    """MCD runs on ilr balances of a broad suite; its Mahalanobis terms, taken back to the
    elements' clr values, sum to its score, and only elements above the background are named
    (in clr terms a plume lowers every other element, which a two-sided distance also sees)."""
    from geoanomaly.compare import model_features
    from geoanomaly.explain import explain

    paths = write_kind_inputs("point-source", tmp_path / "inputs", seed=0)
    out = tmp_path / "out"
    result = run(sources=[str(paths.samples_csv)], out=str(out), model="mcd", crs="EPSG:32750",
                 progress=False)
    assert result.data.transformer.method == "ilr"
    explanation = explain(result.config, result.data, result.detector)
    score = result.detector.anomaly_score(model_features("mcd", result.config, result.data))
    np.testing.assert_allclose(explanation.values.sum(axis=1), score, rtol=1e-9, atol=1e-9)
    truth = pd.read_csv(paths.truth_csv)
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    first = scores["top_elements"].str.split(", ").str[0]
    anomalous = scores["class"].to_numpy() >= 1
    plume = truth["contamination"].to_numpy() & anomalous & ~truth["positive"].to_numpy()
    halo = truth["positive"].to_numpy() & anomalous
    assert (first[halo] == "Au").mean() >= 0.9 and first[plume].isin(PLUME_ELEMENTS).mean() >= 0.8
