"""Bad input ends in one sentence naming the file, column, row or option, exit code 2, and no
output; generated tables and values either read or raise the project's own error (issue 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoanomaly.cli import main
from geoanomaly.errors import InputError


def table(n=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.uniform(0, 1e4, n), "y": rng.uniform(0, 1e4, n),
                         "Cu": np.exp(rng.standard_normal(n)),
                         "Pb": np.exp(rng.standard_normal(n)),
                         "Zn": np.exp(rng.standard_normal(n))})


def run_cli(tmp_path, csv, *extra, out="out"):
    code = main(["run", str(csv), "--out", str(tmp_path / out), "--epochs", "1",
                 "--crs", "EPSG:32750", "--no-progress", *extra])
    return code


CASES = {
    "all_missing_element_asked_for": (lambda t: t.assign(Cu=np.nan), ["--elements", "Cu,Pb"],
                                      "element Cu given in --elements was dropped"),
    "constant_element": (lambda t: t.assign(Zn=5.0), [], "element Zn has the same value"),
    "infinite_value": (lambda t: t.assign(Pb=t["Pb"].where(t.index != 3, np.inf)), [],
                       "column Pb holds an infinite value at data row 4"),
    "too_few_samples": (lambda t: t.head(5), [], "only 5 samples are left"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_tables_are_refused_with_one_sentence_and_no_output(case, tmp_path, capsys):
    change, options, message = CASES[case]
    csv = tmp_path / "survey.csv"
    change(table()).to_csv(csv, index=False)
    assert run_cli(tmp_path, csv, *options) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "survey.csv" in err
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    csv = tmp_path / "survey.csv"
    table().to_csv(csv, index=False)
    (tmp_path / "out").write_text("not a folder")
    assert run_cli(tmp_path, csv) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "not a folder"


def test_a_truncated_geotiff_is_refused_with_its_name(tmp_path, capsys):
    import rasterio
    from rasterio.transform import from_origin

    good = tmp_path / "Cu.tif"
    with rasterio.open(good, "w", driver="GTiff", width=40, height=40, count=1,
                       dtype="float32", crs="EPSG:32750",
                       transform=from_origin(0, 4000, 100, 100)) as dst:
        dst.write(np.ones((1, 40, 40), dtype="float32"))
    broken = tmp_path / "grids" / "Pb.tif"
    broken.parent.mkdir()
    broken.write_bytes(good.read_bytes()[:300])
    assert main(["run", str(broken), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Pb.tif" in err and "Traceback" not in err


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-10**6, 10**6),
    st.sampled_from(["<0.5", "BDL", "-", "", "n.d.", ">1000", "0,5", "1.2e3", "-9999", "abc",
                     "< 2", "NA", " 7 ", "1,234.5"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=25))
def test_generated_tables_read_and_clean_or_raise_input_error(cells, tmp_path):
    """Whatever a lab file holds in its assay cells, reading and cleaning either work or end
    in an InputError -- never another exception."""
    from geoanomaly.clean import clean
    from geoanomaly.io import read_survey

    n = len(cells)
    frame = pd.DataFrame(cells, columns=["Cu_ppm", "Pb_ppm", "Zn_ppm"], dtype=object)
    frame.insert(0, "y", np.arange(n) * 10.0)
    frame.insert(0, "x", np.arange(n) * 7.0)
    csv = tmp_path / "generated.csv"
    frame.to_csv(csv, index=False)
    try:
        survey = read_survey([str(csv)], crs="EPSG:32750")
        cleaned, _ = clean(survey)
    except InputError:
        return
    values = cleaned.values.to_numpy(dtype=float)
    assert np.isfinite(values).all() and (values > 0).all()
