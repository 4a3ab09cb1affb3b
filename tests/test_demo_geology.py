"""The demo's geology layer (geology.gpkg): intrusions and faults, without touching the survey."""

import numpy as np
import pandas as pd
import pytest

from geoanomaly.demo.synthetic import (
    ELEMENTS,
    make_demo_geology,
    make_synthetic_survey,
    write_demo_inputs,
)
from geoanomaly.io.controls import read_controls
from geoanomaly.validate.controlling import fit_controlling_function

# Recorded from the generator BEFORE the geology layer existed (seed 0): deposit cells and sums
# of two grids. Any change to the existing random streams or values shows up here.
SEED0_DEPOSIT_CELLS = [(46, 35), (34, 29), (30, 36), (38, 27), (31, 44), (46, 41), (30, 40),
                       (37, 43), (31, 33), (43, 45), (10, 47), (58, 33)]
SEED0_SUM_REPORTED_CU = 142996.49504762408
SEED0_SUM_ZN = 502624.4189147457


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("demo_geology"), seed=0)


@pytest.fixture(scope="module")
def survey():
    return make_synthetic_survey(seed=0)


def _fingerprint(survey):
    arrays = [survey.elements[e] for e in ELEMENTS] + [
        survey.valid, survey.lithology, survey.intrusion, survey.contact_zone, survey.halo,
        survey.halo_intensity]
    return [a.copy() for a in arrays], survey.deposits.copy(), survey.false_anomalies.copy()


def test_survey_values_match_the_generator_before_geology_existed(survey):
    cells = list(zip(survey.deposits["row"].tolist(), survey.deposits["col"].tolist()))
    assert cells == SEED0_DEPOSIT_CELLS
    assert np.nansum(survey.reported("Cu")) == pytest.approx(SEED0_SUM_REPORTED_CU, rel=1e-9)
    assert np.nansum(survey.elements["Zn"]) == pytest.approx(SEED0_SUM_ZN, rel=1e-9)


def test_survey_does_not_depend_on_whether_geology_is_generated(survey):
    before_arrays, before_deposits, before_false = _fingerprint(survey)
    make_demo_geology(survey)  # must not touch the survey
    after_arrays, after_deposits, after_false = _fingerprint(survey)
    fresh = _fingerprint(make_synthetic_survey(seed=0))
    for a, b, c in zip(before_arrays, after_arrays, fresh[0]):
        assert np.array_equal(a, b, equal_nan=True) and np.array_equal(a, c, equal_nan=True)
    assert before_deposits.equals(after_deposits) and before_deposits.equals(fresh[1])
    assert before_false.equals(after_false) and before_false.equals(fresh[2])


def test_demo_writes_geology_gpkg_with_both_layers(written, survey):
    import geopandas
    import pyogrio

    assert written.geology_gpkg == written.root / "geology.gpkg"
    assert written.geology_gpkg.is_file()
    assert not list(written.root.rglob("*.part")) and not list(written.root.rglob("*.part.*"))
    layers = {str(name): str(kind) for name, kind in pyogrio.list_layers(written.geology_gpkg)}
    assert layers == {"intrusions": "Polygon", "faults": "LineString"}
    intrusions = geopandas.read_file(written.geology_gpkg, layer="intrusions", engine="pyogrio")
    faults = geopandas.read_file(written.geology_gpkg, layer="faults", engine="pyogrio")
    assert intrusions.crs.to_epsg() == 32650 and faults.crs.to_epsg() == 32650
    assert 3 <= len(faults) <= 6 and faults.geometry.is_valid.all()
    assert set(faults.columns) == {"name", "geometry"}  # no truth in the input file

    # the polygons are exactly the intrusion mask
    from rasterio import features

    burnt = features.rasterize([(g, 1) for g in intrusions.geometry], out_shape=survey.shape,
                               transform=survey.transform, fill=0, dtype="uint8")
    assert np.array_equal(burnt.astype(bool), survey.intrusion)

    # the other outputs are those of the survey (unchanged files)
    deposits = pd.read_csv(written.deposits_csv)
    np.testing.assert_allclose(deposits[["x", "y"]], survey.deposits[["x", "y"]], atol=0.06)


def test_faults_are_seeded_and_some_control_deposits_while_others_are_barren(survey):
    import shapely

    geology = make_demo_geology(survey)
    again = make_demo_geology(make_synthetic_survey(seed=0))
    assert all(a.equals_exact(b, 0.0) for a, b in zip(geology.faults, again.faults))
    other = make_demo_geology(make_synthetic_survey(seed=1))
    assert not geology.faults[0].equals(other.faults[0])

    cell = survey.cell_size
    deposits = shapely.points(survey.deposits["x"], survey.deposits["y"])
    flags = geology.fault_mineralised
    assert any(flags) and not all(flags)
    for fault, mineralised in zip(geology.faults, flags):
        distances = shapely.distance(deposits, fault)
        if mineralised:
            assert (distances <= 3 * cell).sum() >= 2  # within a few cells of several deposits
        else:
            assert distances.min() >= 5 * cell


def test_deposit_density_falls_with_distance_to_the_intrusions(written, survey):
    controls = read_controls([written.geology_gpkg], survey.crs)
    assert controls.names == ["geology:intrusions", "geology:faults"]
    x, y = survey.cell_centres()
    values = controls.values_at(x[survey.valid], y[survey.valid])
    positive = survey.deposit_cells()[survey.valid]
    fitted = fit_controlling_function(values[:, 0], positive)
    assert fitted.form in ("power law", "exponential")
    assert fitted.prior(0.0) > 0.99 and fitted.prior(30_000.0) < 0.3
    assert fitted.bin_density[0] == fitted.bin_density.max()
    # deposits sit at the contact: the first distance bin holds most of them
    assert fitted.bin_positives[0] >= 0.6 * positive.sum()
