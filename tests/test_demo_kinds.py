"""Synthetic surveys by anomaly kind: determinism, truth, files, and that each kind tests what it
claims, checked with label-free baselines (no VAE here)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import MinCovDet
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from geoanomaly.demo.kinds import (
    ANOMALY_KINDS,
    ELEMENTS,
    PATHFINDERS,
    PLUME_REACH_M,
    KindSurvey,
    make_kind_survey,
    write_kind_inputs,
)


@pytest.fixture(scope="module")
def surveys() -> dict[str, KindSurvey]:
    return {kind: make_kind_survey(kind, seed=0) for kind in ANOMALY_KINDS}


def _features(survey: KindSurvey) -> np.ndarray:
    """log10 of the seven Au pathfinders, robust-standardised (median, IQR / 1.349)."""
    logs = np.log10(survey.table[list(PATHFINDERS)].to_numpy())
    q25, median, q75 = np.percentile(logs, [25, 50, 75], axis=0)
    return (logs - median) / ((q75 - q25) / 1.349)


def _pca_residual(z: np.ndarray, components: int) -> np.ndarray:
    pca = PCA(components).fit(z)
    return ((z - pca.inverse_transform(pca.transform(z))) ** 2).sum(axis=1)


def _distance_to(survey: KindSurvey, points: pd.DataFrame) -> np.ndarray:
    x, y = survey.table["x"].to_numpy(), survey.table["y"].to_numpy()
    return np.hypot(x[:, None] - points["x"].to_numpy()[None, :],
                    y[:, None] - points["y"].to_numpy()[None, :]).min(axis=1)


# --------------------------------------------------------------------------------------------
# determinism, shapes, truth


def test_same_seed_gives_identical_survey_and_other_seed_differs(surveys):
    for kind in ("joint", "point-source"):
        again = make_kind_survey(kind, seed=0)
        assert again.table.equals(surveys[kind].table)
        assert again.deposits.equals(surveys[kind].deposits)
        assert again.sources.equals(surveys[kind].sources)
        assert np.array_equal(again.positive, surveys[kind].positive)
        assert np.array_equal(again.contamination, surveys[kind].contamination)
        other = make_kind_survey(kind, seed=1)
        assert not np.array_equal(other.table["Au"], surveys[kind].table["Au"])
        assert not np.array_equal(other.deposits["x"][:3], surveys[kind].deposits["x"][:3])


def test_kinds_share_positions_geology_and_deposits_for_one_seed(surveys):
    base = surveys["off-structure"]
    far = _distance_to(base, base.deposits) > 3 * base.halo_radius
    for kind, survey in surveys.items():
        assert survey.table[["x", "y"]].equals(base.table[["x", "y"]])
        assert np.array_equal(survey.lithology, base.lithology)
        assert survey.deposits[["x", "y"]].equals(base.deposits[["x", "y"]])
        assert np.array_equal(survey.positive, base.positive)
        quiet = far & ~survey.contamination
        if len(survey.sources):
            quiet &= _distance_to(survey, survey.sources) > 3 * PLUME_REACH_M  # > downwind
        np.testing.assert_allclose(survey.table.loc[quiet, list(ELEMENTS)],
                                   base.table.loc[quiet, list(ELEMENTS)], rtol=2e-3)


def test_shapes_columns_units_and_magnitudes(surveys):
    for kind, survey in surveys.items():
        assert survey.kind == kind and survey.target == "Au" and survey.crs == "EPSG:32750"
        assert list(survey.table.columns) == ["x", "y", *ELEMENTS]
        assert survey.n == 1500 and len(ELEMENTS) >= 8
        assert set(PATHFINDERS) <= set(ELEMENTS)
        assert survey.units["Au"] == "ppb" and survey.units["Cu"] == "ppm"
        for array in (survey.positive, survey.contamination, survey.halo_kind, survey.lithology):
            assert len(array) == survey.n
        values = survey.table[list(ELEMENTS)].to_numpy()
        assert np.all(np.isfinite(values)) and np.all(values > 0)
        x, y = survey.table["x"], survey.table["y"]
        assert 55_000 < x.max() - x.min() <= 60_000 and 55_000 < y.max() - y.min() <= 60_000
        assert survey.description and "\n" not in survey.description
        assert 8 <= len(survey.deposits) <= 12
        assert set(survey.deposits.columns) >= {"x", "y", "kind"}
    barren = surveys["joint"].table[~surveys["joint"].positive]
    assert 0.5 < barren["Au"].median() < 10  # ppb
    assert 10 < barren["Cu"].median() < 100  # ppm
    assert 2 < barren["As"].median() < 30
    assert 0.02 < barren["Ag"].median() < 0.3
    assert len(set(surveys["joint"].lithology)) == 3


def test_truth_positives_lie_near_deposits_and_contamination_only_in_point_source(surveys):
    from geoanomaly.validate.labels import sample_labels

    for kind, survey in surveys.items():
        deposits = survey.deposits
        distance = _distance_to(survey, deposits)
        assert np.array_equal(survey.positive, distance <= survey.halo_radius)
        # the same labels as protocol "samples" with --radius halo_radius
        labels = sample_labels(survey.table["x"].to_numpy(), survey.table["y"].to_numpy(),
                               deposits["x"].to_numpy(), deposits["y"].to_numpy(),
                               survey.halo_radius, geographic=False)
        assert np.array_equal(labels, survey.positive)
        assert 40 <= survey.positive.sum() <= 250
        assert set(survey.halo_kind[survey.positive]) <= {"off-structure", "joint"}
        assert set(survey.halo_kind[~survey.positive]) == {""}
        if kind == "point-source":
            assert survey.contamination.sum() >= 10 and 4 <= len(survey.sources) <= 6
            assert not (survey.contamination & survey.positive).any()
        else:
            assert not survey.contamination.any() and len(survey.sources) == 0
    kinds = {kind: set(s.deposits["kind"]) for kind, s in surveys.items()}
    assert kinds == {"off-structure": {"off-structure"}, "joint": {"joint"},
                     "mixed": {"off-structure", "joint"}, "point-source": {"off-structure"}}
    mixed = surveys["mixed"].deposits["kind"]
    assert abs((mixed == "joint").sum() - (mixed == "off-structure").sum()) <= 1


def test_halos_enrich_what_their_kind_says(surveys):
    """Median log ratio (halo core / barren) per element: Au alone, or all pathfinders."""
    def core_log_ratio(survey):
        core = _distance_to(survey, survey.deposits) < 0.5 * survey.halo_radius
        barren = ~survey.positive & ~survey.contamination
        logs = np.log(survey.table[list(ELEMENTS)])
        return logs[core].median() - logs[barren].median()

    off = core_log_ratio(surveys["off-structure"])
    assert off["Au"] > 1.5
    # the others only vary as the background does around a handful of deposits
    assert off.drop("Au").abs().max() < min(0.6, off["Au"] / 4), off
    joint = core_log_ratio(surveys["joint"])
    assert (joint[list(PATHFINDERS)] > 1.0).all(), joint
    # in proportion to the first-factor loadings: Au, As, Sb (loading 0.9) move most
    assert joint[["Au", "As", "Sb"]].min() > joint[["Cu", "Ni"]].max()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown anomaly kind"):
        make_kind_survey("plume")


# --------------------------------------------------------------------------------------------
# files


def test_written_files_read_back_with_the_project_readers(tmp_path, surveys):
    from geoanomaly.io import read_deposits, read_survey

    paths = write_kind_inputs("point-source", tmp_path / "ps", seed=0)
    for path in (paths.samples_csv, paths.deposits_csv, paths.truth_csv, paths.readme):
        assert path.is_file()
    survey = surveys["point-source"]
    read = read_survey([str(paths.samples_csv)], crs="EPSG:32750")
    assert read.elements == list(ELEMENTS)
    assert read.units == survey.units
    np.testing.assert_array_equal(read.x, survey.table["x"])
    np.testing.assert_array_equal(read.y, survey.table["y"])
    np.testing.assert_allclose(read.values[list(ELEMENTS)].to_numpy(float),
                               survey.table[list(ELEMENTS)].to_numpy(), rtol=1e-12)
    header = paths.samples_csv.read_text().splitlines()[0].split(",")
    assert "Au_ppb" in header and "Cu_ppm" in header

    deposits = read_deposits(str(paths.deposits_csv), read.crs)
    np.testing.assert_allclose(deposits.x, survey.deposits["x"])
    np.testing.assert_allclose(deposits.y, survey.deposits["y"])

    truth = pd.read_csv(paths.truth_csv, keep_default_na=False)
    assert truth["positive"].to_numpy().tolist() == survey.positive.tolist()
    assert truth["contamination"].to_numpy().tolist() == survey.contamination.tolist()
    readme = paths.readme.read_text()
    assert "SYNTHETIC" in readme and "point-source" in readme and "EPSG:32750" in readme

    again = write_kind_inputs("point-source", tmp_path / "again", seed=0)
    assert again.samples_csv.read_bytes() == paths.samples_csv.read_bytes()


# --------------------------------------------------------------------------------------------
# calibration: each kind tests what it claims, with label-free baselines


def test_joint_is_seen_by_density_scores_and_missed_by_reconstruction(surveys):
    survey = surveys["joint"]
    z, positive = _features(survey), survey.positive
    mahalanobis = MinCovDet(random_state=0).fit(z).mahalanobis(z)
    assert roc_auc_score(positive, mahalanobis) >= 0.95
    assert roc_auc_score(positive, z.sum(axis=1)) >= 0.95
    for components in (2, 3):
        assert roc_auc_score(positive, _pca_residual(z, components)) <= 0.7


def test_off_structure_is_seen_by_au_and_by_reconstruction(surveys):
    survey = surveys["off-structure"]
    z, positive = _features(survey), survey.positive
    assert roc_auc_score(positive, z[:, PATHFINDERS.index("Au")]) >= 0.95
    assert roc_auc_score(positive, _pca_residual(z, 2)) >= 0.95
    # a sum of pathfinders dilutes one element among seven
    assert roc_auc_score(positive, z.sum(axis=1)) < 0.9


def test_mixed_needs_both_kinds_of_score(surveys):
    survey = surveys["mixed"]
    z, positive = _features(survey), survey.positive
    residual = _pca_residual(z, 2)
    joint = positive & (survey.halo_kind == "joint")
    off = positive & (survey.halo_kind == "off-structure")
    assert roc_auc_score(joint[joint | ~positive], residual[joint | ~positive]) <= 0.7
    assert roc_auc_score(off[off | ~positive], residual[off | ~positive]) >= 0.95
    total = z.sum(axis=1)
    assert roc_auc_score(joint[joint | ~positive], total[joint | ~positive]) >= 0.95


def test_point_sources_fool_a_pathfinder_sum_but_not_au(surveys):
    survey = surveys["point-source"]
    z, positive, contaminated = _features(survey), survey.positive, survey.contamination
    barren = ~positive & ~contaminated
    total, au = z.sum(axis=1), z[:, PATHFINDERS.index("Au")]
    vs_barren = contaminated | barren
    # the sum ranks contamination high: most contaminated samples in its top 10 %
    rank = total.argsort().argsort() / len(total)
    assert np.median(rank[contaminated]) >= 0.85
    assert roc_auc_score(contaminated[vs_barren], total[vs_barren]) >= 0.85
    # Au does not: contamination looks like background, the deposits rank above it
    assert roc_auc_score(contaminated[vs_barren], au[vs_barren]) <= 0.75
    assert roc_auc_score(positive[positive | contaminated],
                         au[positive | contaminated]) >= 0.95
    assert roc_auc_score(positive, au) >= 0.95


def test_the_demo_command_runs_a_survey_of_a_chosen_kind(tmp_path):
    from geoanomaly.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--kind", "joint", "--out", str(out), "--epochs", "3",
                 "--no-progress"]) == 0
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    assert metrics["protocols"]["samples"]["radius_m"] == 2500.0
    assert any(out.glob("data/**/samples.csv"))
