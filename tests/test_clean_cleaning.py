"""clean(): rules, counts, duplicates, oxide forms, no-data blocks, and an untouched input."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from geoanomaly.clean import CleaningOptions, clean
from geoanomaly.errors import InputError
from geoanomaly.survey import Grid, Survey

DATA = Path(__file__).parents[2] / "shared" / "data"


def make_survey(values: dict, x=None, y=None, meta=None, units=None) -> Survey:
    table = pd.DataFrame(values)
    n = len(table)
    return Survey(
        values=table, x=np.arange(n, dtype=float) if x is None else np.asarray(x, float),
        y=np.zeros(n) if y is None else np.asarray(y, float), crs=None,
        units=units or {e: "ppm" for e in table.columns},
        columns={e: f"{e}_ppm" for e in table.columns}, meta=meta, sources=["lab.csv"])


def row(report, element):
    return report.per_element.set_index("element").loc[element]


def test_below_detection_rules_and_counts():
    survey = make_survey({"Cu": ["<0.5", "-0.001", "2", "4", "-9999"],
                          "Pb": ["1", "2", "3", "4", "5"]})
    out, report = clean(survey)
    # the gap gets the median of the cleaned values (0.25, 0.0005, 2, 4)
    assert out.values["Cu"].tolist() == pytest.approx([0.25, 0.0005, 2, 4, 1.125])
    cu = row(report, "Cu")
    assert (cu.n_below_detection, cu.n_sentinel, cu.n_missing, cu.n_imputed) == (2, 1, 1, 1)
    assert (cu.detection_limit_min, cu.detection_limit_max) == pytest.approx((0.001, 0.5))
    out, _ = clean(survey, CleaningOptions(below_detection="sqrt2"))
    assert out.values["Cu"][0] == pytest.approx(0.5 / np.sqrt(2))
    out, _ = clean(survey, CleaningOptions(below_detection="factor", below_detection_factor=0.2))
    assert out.values["Cu"][0] == pytest.approx(0.1)
    with pytest.raises(InputError, match="below_detection must be one of"):
        clean(survey, CleaningOptions(below_detection="zero"))


def test_result_is_positive_float_and_input_untouched():
    survey = make_survey({"Cu": ["<0.5", "0", "2", "BDL", "3", "9"], "Pb": [1, 2, 0, 4, 5, 6],
                          "Zn": ["1", "2", "3", "4", "5", "6"]})
    before = survey.values.copy()
    out, report = clean(survey)
    assert survey.values.equals(before) and survey.values["Cu"][0] == "<0.5"
    assert out is not survey and out.values.dtypes.eq(float).all()
    assert (out.values.to_numpy() > 0).all()
    # zeros and a bare "BDL" are below an unknown limit: the smallest written limit (0.5) here
    assert out.values["Cu"][1] == pytest.approx(0.25) and out.values["Cu"][3] == pytest.approx(0.25)
    # Pb has no written limit: half the 1st percentile of its positive values
    assert out.values["Pb"][2] == pytest.approx(0.5 * np.percentile([1, 2, 4, 5, 6], 1))
    assert row(report, "Pb").n_zero_floored == 1


def test_exact_duplicates_dropped_and_mapped():
    survey = make_survey(
        {"Cu": ["1", "2", "1", "1", "<0.5"], "Pb": ["5", "6", "5", "5", "5"]},
        x=[0, 1, 0, 9, 0], y=[0, 0, 0, 0, 0],
        meta=pd.DataFrame({"survey": ["A", "A", "B", "B", "B"]}))
    out, report = clean(survey)
    # row 2 repeats row 0 (same place, same assays); row 3 is elsewhere; row 4 has other assays
    assert report.n_duplicates == 1 and report.n_rows_out == 4 and out.n == 4
    assert report.row_map.tolist() == [0, 1, 0, 2, 3]
    assert [r.tolist() for r in report.input_rows()] == [[0, 2], [1], [3], [4]]
    assert out.meta["survey"].tolist() == ["A", "A", "B", "B"]
    assert out.x.tolist() == [0, 1, 9, 0]


def test_element_over_missing_threshold_dropped_and_all_empty_named():
    survey = make_survey({"Cu": ["1", "2", "3", "4", "5"], "Ag": ["1", "-", "-", "-", "2"],
                          "Hg": ["", "", "", "", ""]})
    out, report = clean(survey)
    assert out.elements == ["Cu"]
    assert "missing in 60% of rows" in row(report, "Ag").dropped_reason
    assert row(report, "Hg").dropped_reason == "missing in every row"
    assert any("Hg_ppm" in note for note in report.notes)
    with pytest.raises(InputError, match="lab.csv: every element was empty"):
        clean(make_survey({"Hg": ["", "-", "NA"]}))


def test_mostly_undetected_element_dropped():
    survey = make_survey({"Cu": ["1", "2", "3", "4", "5", "6"],
                          "Bi": ["<0.1", "<0.1", "<0.1", "<0.1", "<0.1", "0.3"]})
    out, report = clean(survey, CleaningOptions(min_detected_fraction=0.2))
    assert "Bi" not in out.elements and "only 1 of 6" in row(report, "Bi").dropped_reason
    out, _ = clean(survey, CleaningOptions(min_detected_fraction=0.0))
    assert out.values["Bi"].tolist() == pytest.approx([0.05] * 5 + [0.3])


def test_oxide_forms_keep_best_populated():
    survey = make_survey({"Fe": ["1", "2", "3", "4"], "Fe2O3": ["1", "-", "-", "2"],
                          "Al2O3": ["1", "2", "3", "4"], "Al": ["-", "-", "1", "2"],
                          "Co": ["1", "2", "3", "4"], "CO2": ["1", "2", "3", "4"]})
    out, report = clean(survey)
    assert out.elements == ["Fe", "Al2O3", "Co", "CO2"]
    assert row(report, "Fe2O3").dropped_reason.startswith("same element as Fe")
    assert row(report, "Al").dropped_reason.startswith("same element as Al2O3")


def test_short_suite_zeros_are_missing():
    survey = make_survey({"Cu": ["1", "2", "3", "0"], "Pb": ["1", "2", "3", "0"],
                          "Zn": ["1", "2", "3", "7"]})
    out, report = clean(survey)
    assert row(report, "Cu").n_zero_to_missing == 1 and row(report, "Cu").n_imputed == 1
    assert out.values["Cu"][3] == 2.0  # median, not a floored zero


def test_row_with_nothing_left_is_dropped():
    survey = make_survey({"Cu": ["1", "2", "-", "4"], "Pb": ["1", "2", "-9999", "4"]})
    out, report = clean(survey)
    assert out.n == 3 and report.n_rows_dropped_missing == 1
    assert report.row_map.tolist() == [0, 1, -1, 2]


def test_grid_nodata_block_and_ramp_masked():
    rng = np.random.default_rng(0)
    height, width = 30, 40
    cd = np.exp(rng.normal(np.log(100), 0.3, size=(height, width)))
    cd[:12, :12] = 0.0                      # a no-data corner
    cd[12, :13] = 1e-20                     # the interpolation ramp around it
    cd[:13, 12] = 0.5
    cd[25, 30] = 0.0                        # one isolated zero: below detection, floored
    cu = np.exp(rng.normal(np.log(20), 0.3, size=(height, width)))
    valid = np.ones((height, width), dtype=bool)
    grid = Grid(Affine(1, 0, 0, 0, -1, height), width, height, None, valid)
    survey = Survey(pd.DataFrame({"Cd": cd.ravel(), "Cu": cu.ravel()}),
                    x=np.zeros(cd.size), y=np.zeros(cd.size), crs=None, grid=grid,
                    sources=["Cd.tif", "Cu.tif"])
    out, report = clean(survey)
    cd_row = row(report, "Cd")
    assert cd_row.n_nodata_block == 144 + 13 + 12
    assert cd_row.n_zero_floored == 1 and cd_row.n_imputed == 169
    assert out.values["Cd"].min() > 10
    assert any("contiguous block" in note for note in report.notes)
    json.dumps(report.to_dict())
    assert "<table" in report.to_html()
    out, report = clean(survey, CleaningOptions(mask_nodata_blocks=False))
    assert row(report, "Cd").n_nodata_block == 0 and out.values["Cd"].min() < 1


@pytest.fixture
def shared_data():
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}")
    return DATA


@pytest.mark.realdata
def test_gswa_sediment_counts(shared_data):
    frame = pd.read_csv(shared_data / "gswa" / "geochemical" / "area1_sediment_au.csv")
    assays = [c for c in frame.columns if c.rsplit("_", 1)[-1] in ("ppm", "ppb", "pct")]
    names = {c: c.rsplit("_", 1)[0] for c in assays}
    survey = Survey(frame[assays].rename(columns=names), frame["X"].to_numpy(),
                    frame["Y"].to_numpy(), None,
                    units={names[c]: c.rsplit("_", 1)[1] for c in assays},
                    columns={names[c]: c for c in assays}, meta=frame[["WAMEX_A_NO"]],
                    sources=["area1_sediment_au.csv"])
    out, report = clean(survey)
    assert report.n_rows_in == 1392 and report.n_duplicates == 526 and out.n == 866
    assert {"Au", "As", "Cu", "Pb", "Zn"} <= set(out.elements)
    assert (out.values.to_numpy() > 0).all()
