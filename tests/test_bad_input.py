"""Bad input ends in one sentence naming the file, column, row or option, exit code 2, and no
output; generated tables and values either read or raise the project's own error (issue 9)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
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


def copy_header(t: pd.DataFrame) -> pd.DataFrame:
    return t.set_axis(["x", "y", "Cu", "Cu", "Zn"], axis=1)


CASES = {
    "all_missing_element_asked_for": (lambda t: t.assign(Cu=np.nan), ["--elements", "Cu,Pb"],
                                      "element Cu given in --elements was dropped"),
    "constant_element": (lambda t: t.assign(Zn=5.0), [], "element Zn has the same value"),
    "infinite_value": (lambda t: t.assign(Pb=t["Pb"].where(t.index != 3, np.inf)), [],
                       "column Pb holds an infinite value at data row 4"),
    "too_few_samples": (lambda t: t.head(5), [], "only 5 samples are left"),
    "one_element_two_columns": (lambda t: t.rename(columns={"Cu": "Cu_ppm"}).assign(
        Cu_pct=t["Cu"] / 1e4), [], "columns Cu_ppm and Cu_pct both hold Cu"),
    "header_twice": (copy_header, [], "the header Cu appears twice"),
    "too_few_for_a_network": (lambda t: t, ["--model", "vae"],
                              "model vae needs at least 100 samples"),
    "too_few_for_a_covariance": (lambda t: t.head(25).assign(
        **{e: np.exp(np.random.default_rng(3).standard_normal(25)) for e in
           ("As", "Sb", "Bi", "Ag", "Mo")}), ["--model", "mcd"],
        "model mcd needs at least 40 samples"),
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


RASTER_NAMES = st.sampled_from(["Cu", "cu", "Idw_Pb", "Kriging_Zn_ppm", "Au_ppb", "band",
                                "Fe2O3_pct", "zn_ordinary_kriging", "Cu_ppm", "x"])
RASTER_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                         st.sampled_from([0.0, -9999.0, -1.0, 1e-30, 3e38]))


@st.composite
def raster_folders(draw):
    """2-3 small single-band GeoTIFFs: generated names, dtypes, nodata values and cells, and
    sometimes one cut short."""
    size = draw(st.integers(2, 6))
    names = draw(st.lists(RASTER_NAMES, min_size=2, max_size=3, unique=True))
    bands = []
    for name in names:
        dtype = draw(st.sampled_from(["float32", "float64", "int16", "uint8"]))
        cells = draw(st.lists(RASTER_VALUE, min_size=size * size, max_size=size * size))
        nodata = draw(st.sampled_from([None, -9999.0, 0.0, float("nan")]))
        bands.append((name, dtype, cells, nodata))
    cut = draw(st.one_of(st.none(), st.integers(8, 400)))
    return size, bands, cut


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=raster_folders())
def test_generated_rasters_read_and_clean_or_raise_input_error(folder, tmp_path):
    """Whatever element grids hold (odd names, dtypes, nodata, inf, a file cut short), reading
    and cleaning either work or end in an InputError -- never another exception."""
    import shutil

    import rasterio
    from rasterio.transform import from_origin

    from geoanomaly.clean import clean
    from geoanomaly.io import read_survey

    size, bands, cut = folder
    where = tmp_path / "grids"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir()
    for name, dtype, cells, nodata in bands:
        image = np.asarray(cells, dtype=float).reshape(size, size)
        if dtype in ("int16", "uint8"):
            info = np.iinfo(dtype)
            image = np.clip(np.nan_to_num(image, nan=0, posinf=info.max, neginf=info.min),
                            info.min, info.max)
            if nodata is not None and not (np.isfinite(nodata) and info.min <= nodata <= info.max):
                nodata = None
        with rasterio.open(where / f"{name}.tif", "w", driver="GTiff", width=size,
                           height=size, count=1, dtype=dtype, crs="EPSG:32750", nodata=nodata,
                           transform=from_origin(0, 1000, 100, 100)) as dst:
            dst.write(image.astype(dtype)[None])
    if cut is not None:
        victim = where / f"{bands[-1][0]}.tif"
        victim.write_bytes(victim.read_bytes()[:cut])
    try:
        survey = read_survey([str(where)])
        cleaned, _ = clean(survey)
    except InputError:
        event("refused")
        return
    event("read")
    values = cleaned.values.to_numpy(dtype=float)
    assert np.isfinite(values).all() and (values > 0).all()


def single_band(path, crs="EPSG:32750", seed=0):
    import rasterio
    from rasterio.transform import from_origin

    image = np.exp(np.random.default_rng(seed).standard_normal((1, 30, 30))).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=30, height=30, count=1, dtype="float32",
                       crs=crs, transform=from_origin(0, 3000, 100, 100)) as dst:
        dst.write(image)


def test_grids_without_a_crs_are_refused_unless_crs_is_given(tmp_path, capsys):
    (tmp_path / "grids").mkdir()
    for seed, name in enumerate(("Cu", "Pb", "Zn")):
        single_band(tmp_path / "grids" / f"{name}.tif", crs=None, seed=seed)
    args = ["run", str(tmp_path / "grids"), "--out", str(tmp_path / "out"), "--no-progress",
            "--model", "iforest"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Cu.tif has no CRS" in err and "--crs" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert main(args + ["--crs", "EPSG:32750"]) == 0


def test_two_maps_of_one_element_are_refused_until_elements_picks_one(tmp_path, capsys):
    (tmp_path / "grids").mkdir()
    for seed, name in enumerate(("Cu", "Idw_Cu_ppm", "Pb", "Zn")):
        single_band(tmp_path / "grids" / f"{name}.tif", seed=seed)
    args = ["run", str(tmp_path / "grids"), "--out", str(tmp_path / "out"), "--no-progress",
            "--model", "iforest"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "maps Cu.tif and Idw_Cu_ppm.tif both hold Cu" in err and "--elements" in err
    assert main(args + ["--elements", "Idw_Cu_ppm,Pb,Zn"]) == 0
    import pandas as pd

    assert list(pd.read_csv(tmp_path / "out" / "scores.csv", nrows=1).columns)[:2] == ["x", "y"]


def test_a_file_that_is_not_a_geotiff_is_refused_with_its_name(tmp_path, capsys):
    (tmp_path / "grids").mkdir()
    single_band(tmp_path / "grids" / "Cu.tif")
    (tmp_path / "grids" / "Pb.tif").write_text("not a raster")
    assert main(["run", str(tmp_path / "grids"), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Cannot read" in err and "Pb.tif" in err and "Traceback" not in err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc, which no one "
                    "can write to, not even root")
def test_an_output_folder_that_cannot_be_written_is_refused(tmp_path, capsys):
    csv = tmp_path / "survey.csv"
    table().to_csv(csv, index=False)
    assert run_cli(tmp_path, csv, out="/proc/geoanomaly-out") == 2
    assert "cannot be written to" in capsys.readouterr().err
    assert run_cli(tmp_path, csv, out="survey.csv/sub") == 2
    assert "survey.csv is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (["--seed", "-1"], "Option seed = -1 must be a whole number, 0 or more"),
    (["--batch-size", "0"], "Option batch_size = 0 must be a number of rows"),
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--smooth-k", "-1"], "Option smooth_k = -1 must be 0 (off)"),
    (["--percentiles", "abc"], "argument --percentiles: expected numbers"),
])
def test_bad_options_are_refused_with_one_sentence_and_no_output(options, message, tmp_path,
                                                                 capsys):
    csv = tmp_path / "survey.csv"
    table(n=120).to_csv(csv, index=False)
    try:
        code = run_cli(tmp_path, csv, *options)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_missing_control_file_is_named_for_a_guided_model_without_deposits(tmp_path, capsys):
    csv = tmp_path / "survey.csv"
    table(n=120).to_csv(csv, index=False)
    assert run_cli(tmp_path, csv, "--model", "pcvae", "--control",
                   str(tmp_path / "geology.gpkg")) == 2
    err = capsys.readouterr().err
    assert "geology.gpkg does not exist" in err and "Traceback" not in err


def test_a_shapefile_without_its_dbf_is_refused_with_the_missing_file(tmp_path):
    import geopandas

    from geoanomaly.io import read_survey

    t = table()
    geopandas.GeoDataFrame(t[["Cu", "Pb", "Zn"]], geometry=geopandas.points_from_xy(t.x, t.y),
                           crs="EPSG:32750").to_file(tmp_path / "pts.shp")
    (tmp_path / "pts.dbf").unlink()
    with pytest.raises(InputError, match="its attribute file pts.dbf is missing"):
        read_survey([str(tmp_path / "pts.shp")])
