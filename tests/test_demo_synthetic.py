"""The synthetic survey generator: determinism, plausible values, hidden truth, difficulty."""

import time

import numpy as np
import pytest
from sklearn.covariance import MinCovDet
from sklearn.metrics import roc_auc_score

from geoanomaly.demo import (
    DETECTION_LIMITS,
    ELEMENTS,
    LITHOLOGIES,
    SyntheticSurvey,
    make_synthetic_survey,
)


@pytest.fixture(scope="module")
def survey() -> SyntheticSurvey:
    return make_synthetic_survey(seed=0)


def _log_matrix(survey: SyntheticSurvey) -> np.ndarray:
    return np.log(np.column_stack([survey.reported(e)[survey.valid] for e in ELEMENTS]))


def test_same_seed_gives_identical_survey_and_other_seed_differs(survey):
    again = make_synthetic_survey(seed=0)
    for element in ELEMENTS:
        assert np.array_equal(survey.elements[element], again.elements[element], equal_nan=True)
    assert np.array_equal(survey.lithology, again.lithology)
    assert np.array_equal(survey.halo, again.halo)
    assert survey.deposits.equals(again.deposits)
    assert survey.false_anomalies.equals(again.false_anomalies)

    other = make_synthetic_survey(seed=1)
    assert not np.array_equal(survey.elements["Cu"], other.elements["Cu"], equal_nan=True)
    assert not np.array_equal(survey.lithology, other.lithology)


def test_grid_geometry_is_southwest_fujian_in_utm_50n(survey):
    from pyproj import Transformer

    assert survey.shape == (78, 88)
    assert survey.crs == "EPSG:32650"
    assert (survey.transform.a, survey.transform.e) == (2000.0, -2000.0)
    x, y = survey.cell_centres()
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(
        x[39, 44], y[39, 44])
    assert abs(lon - 116.5) < 0.1 and abs(lat - 25.0) < 0.1


def test_values_are_plausible_in_their_units(survey):
    valid = survey.valid
    assert 0.9 < valid.mean() < 0.995  # a few cells of sea, no more
    for element in ELEMENTS:
        grid = survey.elements[element]
        assert np.all(np.isnan(grid[~valid]))
        assert np.all(np.isfinite(grid[valid])) and np.all(grid[valid] > 0)
    fe = survey.elements["Fe2O3"][valid]  # wt %
    assert 0.5 < np.percentile(fe, 1) and np.percentile(fe, 99) < 15
    cu = survey.elements["Cu"][valid]  # ppm
    assert 5 < np.median(cu) < 60
    assert 2 < np.percentile(cu, 1) and np.percentile(cu, 99) < 500
    mn = survey.elements["Mn"][valid]
    assert 200 < np.median(mn) < 2000


def test_background_reflects_rock_units(survey):
    valid = survey.valid & ~survey.halo
    assert set(np.unique(survey.lithology)) == set(range(len(LITHOLOGIES)))
    assert np.all(survey.lithology[survey.intrusion] == LITHOLOGIES.index("granite"))

    def median(element, unit):
        return np.median(survey.elements[element][valid
                                                  & (survey.lithology == LITHOLOGIES.index(unit))])

    assert median("Mn", "carbonate") > 1.5 * median("Mn", "granite")
    assert median("Fe2O3", "volcanic") > 2 * median("Fe2O3", "carbonate")
    assert median("Pb", "granite") > 1.4 * median("Pb", "clastic")
    # Fe2O3-Mn (Fe-Mn oxides) and Pb-Zn go together, over the whole map and within each unit
    logs = np.log(np.column_stack([survey.elements[e][valid] for e in ELEMENTS]))
    units = survey.lithology[valid]
    within = logs.copy()
    for unit in np.unique(units):
        within[units == unit] -= np.median(logs[units == unit], axis=0)
    fe, mn, pb, zn = (ELEMENTS.index(e) for e in ("Fe2O3", "Mn", "Pb", "Zn"))
    for corr in (np.corrcoef(logs, rowvar=False), np.corrcoef(within, rowvar=False)):
        assert corr[fe, mn] > 0.35 and corr[pb, zn] > 0.4


def test_deposits_sit_mostly_in_the_contact_zone(survey):
    from rasterio.transform import rowcol

    deposits = survey.deposits
    assert 8 <= len(deposits) <= 12
    rows, cols = deposits["row"].to_numpy(), deposits["col"].to_numpy()
    in_contact = survey.contact_zone[rows, cols]
    assert in_contact.mean() >= 0.7
    assert (deposits["host"][in_contact] == "carbonate").mean() >= 0.5
    assert not survey.intrusion[rows, cols].any()
    assert survey.valid[rows, cols].all()
    # x, y are exact positions inside the deposit's cell
    cell_rows, cell_cols = rowcol(survey.transform, deposits["x"], deposits["y"])
    assert np.array_equal(cell_rows, rows) and np.array_equal(cell_cols, cols)
    assert (survey.contact_zone & survey.intrusion).sum() == 0


def test_halo_cells_are_enriched_in_base_metals(survey):
    """Compare each halo cell with the median barren cell of its own rock unit."""
    background = survey.valid & ~survey.halo & (survey.halo_intensity < 0.05)
    ratios = {}
    for element in ELEMENTS:
        values = survey.elements[element]
        per_cell = []
        for unit in range(len(LITHOLOGIES)):
            in_unit = survey.lithology == unit
            if not (survey.halo & in_unit).any():
                continue
            per_cell.append(values[survey.halo & in_unit]
                            / np.median(values[background & in_unit]))
        ratios[element] = float(np.median(np.concatenate(per_cell)))
    for element in ("Cu", "Pb", "Zn"):
        assert ratios[element] > 2, ratios
    for element in ("Mn", "Fe2O3"):
        assert 1.05 < ratios[element] < ratios["Cu"], ratios


def test_false_anomalies_are_single_element_highs_away_from_deposits(survey):
    expected = {"Mn-rich carbonate": "Mn", "Pb-rich granite": "Pb", "Cu-rich mafic lens": "Cu"}
    assert set(survey.false_anomalies["kind"]) == set(expected)
    deposit_rc = survey.deposits[["row", "col"]].to_numpy()
    for row in survey.false_anomalies.itertuples():
        assert not survey.halo[row.row, row.col]
        assert np.min(np.hypot(*(deposit_rc - [row.row, row.col]).T)) >= 8
        element = expected[row.kind]
        same_unit = survey.valid & (survey.lithology == survey.lithology[row.row, row.col])
        unit_values = survey.elements[element][same_unit]
        assert survey.elements[element][row.row, row.col] > np.percentile(unit_values, 90)


def test_censoring_hits_a_few_percent_of_cu_and_pb(survey):
    for element in ("Cu", "Pb"):
        censored = survey.below_detection(element)
        assert 0.005 < censored.sum() / survey.valid.sum() < 0.1
        reported = survey.reported(element)
        assert np.all(reported[censored] == DETECTION_LIMITS[element] / 2)
        assert np.all(reported[survey.valid & ~censored] >= DETECTION_LIMITS[element])


def _aucs(seed: int, with_mahalanobis: bool) -> dict[str, float]:
    survey = make_synthetic_survey(seed=seed)
    labels = survey.deposit_cells()[survey.valid]
    logs = _log_matrix(survey)
    z = (logs - np.median(logs, axis=0)) / logs.std(axis=0)
    aucs = {"Cu": roc_auc_score(labels, logs[:, ELEMENTS.index("Cu")]),
            "Cu+Pb+Zn": roc_auc_score(labels, z[:, :3].sum(axis=1))}
    if with_mahalanobis:
        # MCD fitted on every 3rd cell: the same answer within noise, in a third of the time
        distance = MinCovDet(random_state=0).fit(logs[::3]).mahalanobis(logs)
        aucs["Mahalanobis"] = roc_auc_score(labels, distance)
    return aucs


def test_default_demo_is_learnable_but_not_trivial():
    """With ~10 positives one seed's AUC is noisy (over seeds 0-59, AUC of log Cu runs from
    0.59 to 0.95, median 0.83), so check the shipped seed here and the typical case below."""
    aucs = _aucs(0, with_mahalanobis=True)
    print("seed 0 AUCs:", {k: round(v, 3) for k, v in aucs.items()})
    assert 0.6 < aucs["Cu"] < 0.95
    assert aucs["Mahalanobis"] > 0.7
    assert aucs["Cu+Pb+Zn"] > aucs["Cu"]  # the joint signature beats one element


def test_typical_seed_is_learnable_but_not_trivial():
    per_seed = [_aucs(seed, with_mahalanobis=False) for seed in range(1, 6)]
    cu = np.median([a["Cu"] for a in per_seed])
    joint = np.median([a["Cu+Pb+Zn"] for a in per_seed])
    assert 0.6 < cu < 0.95
    assert joint > cu


def test_generation_is_fast():
    start = time.perf_counter()
    make_synthetic_survey(seed=3)
    assert time.perf_counter() - start < 2.0


def test_other_grid_sizes_work_and_tiny_grids_are_refused():
    small = make_synthetic_survey(seed=2, shape=(40, 50), cell_size=1000.0)
    assert small.shape == (40, 50) and small.transform.a == 1000.0
    assert len(small.deposits) >= 8
    with pytest.raises(ValueError):
        make_synthetic_survey(shape=(10, 10))


def test_to_survey_gives_the_reported_valid_cells(survey):
    converted = survey.to_survey()
    assert converted.elements == list(ELEMENTS)
    assert converted.n == int(survey.valid.sum())
    assert converted.is_grid and converted.grid.valid.sum() == converted.n
    assert converted.crs.to_epsg() == 32650
    assert converted.units["Fe2O3"] == "pct" and converted.units["Cu"] == "ppm"
    assert not converted.values.isna().any().any()
    rows, cols = converted.grid.cell_rows_cols()
    assert np.array_equal(converted.values["Cu"].to_numpy(), survey.reported("Cu")[rows, cols])
