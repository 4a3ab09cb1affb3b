"""The demo files as a user receives them: GeoTIFFs, deposits.csv, a lab-style samples.csv."""

import numpy as np
import pandas as pd
import pytest

from geoanomaly.demo import DETECTION_LIMITS, ELEMENTS, make_synthetic_survey, write_demo_inputs

SAMPLE_COLUMNS = ["SAMPLE_ID", "EASTING", "NORTHING", "Cu_ppm", "Pb_ppm", "Zn_ppm", "Mn_ppm",
                  "Fe2O3_pct", "LAB_BATCH", "DATE"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("demo"), seed=0)


@pytest.fixture(scope="module")
def survey():
    return make_synthetic_survey(seed=0)


@pytest.fixture(scope="module")
def samples(written):
    return pd.read_csv(written.samples_csv, dtype=str, keep_default_na=False)


def test_all_files_are_there_and_nothing_half_written(written):
    for element in ELEMENTS:
        assert written.element_grids[element] == written.grid_dir / f"{element}.tif"
        assert written.element_grids[element].is_file()
    for path in (written.deposits_csv, written.samples_csv, written.readme,
                 written.truth_dir / "halo.tif", written.truth_dir / "lithology.tif"):
        assert path.is_file()
    assert not list(written.root.rglob("*.part"))
    assert sorted(p.name for p in written.grid_dir.iterdir()) == sorted(
        f"{e}.tif" for e in ELEMENTS)


def test_geotiffs_carry_crs_nodata_band_name_and_reported_values(written, survey):
    import rasterio

    for element in ELEMENTS:
        with rasterio.open(written.element_grids[element]) as src:
            assert src.count == 1 and src.dtypes[0] == "float32"
            assert src.crs.to_epsg() == 32650
            assert src.nodata == -9999
            assert src.descriptions == (element,)
            assert src.transform == survey.transform
            data = src.read(1)
        nodata = data == -9999
        assert np.array_equal(nodata, ~survey.valid)
        assert 0.005 < nodata.mean() < 0.1
        expected = survey.reported(element)[survey.valid].astype(np.float32)
        assert np.array_equal(data[survey.valid], expected)
    with rasterio.open(written.element_grids["Cu"]) as src:
        cu = src.read(1)
    censored = survey.below_detection("Cu")
    assert censored.any() and np.all(cu[censored] == np.float32(DETECTION_LIMITS["Cu"] / 2))


def test_deposits_csv_has_name_x_y_in_the_grid_crs(written, survey):
    deposits = pd.read_csv(written.deposits_csv)
    assert list(deposits.columns) == ["name", "x", "y"]
    assert len(deposits) == len(survey.deposits)
    assert deposits["name"].is_unique
    np.testing.assert_allclose(deposits[["x", "y"]], survey.deposits[["x", "y"]], atol=0.06)
    left, top = survey.transform.c, survey.transform.f
    assert deposits["x"].between(left, left + 88 * 2000).all()
    assert deposits["y"].between(top - 78 * 2000, top).all()


def test_samples_csv_looks_like_a_real_lab_file(samples):
    assert list(samples.columns) == SAMPLE_COLUMNS
    assert 3 <= samples.duplicated().sum() <= 5
    assert len(samples.drop_duplicates()) == 1500
    assert samples["SAMPLE_ID"].str.fullmatch(r"SWF\d{5}").all()
    assert samples["SAMPLE_ID"].iloc[0] == "SWF00001"  # leading zeros: ids are text
    for column in ("Cu_ppm", "Pb_ppm"):
        below = samples[column].str.startswith("<")
        assert 0.005 < below.mean() < 0.15
    assert set(samples.loc[samples["Cu_ppm"].str.startswith("<"), "Cu_ppm"]) == {"<5"}
    element_cells = samples[SAMPLE_COLUMNS[3:8]]
    assert (element_cells == "-9999").to_numpy().sum() >= 3
    assert (element_cells == "").to_numpy().sum() >= 3
    assert samples["LAB_BATCH"].nunique() == 15
    assert pd.to_datetime(samples["DATE"], format="%Y-%m-%d").notna().all()


def test_samples_follow_the_grid_they_were_drawn_from(samples, survey):
    from rasterio.transform import rowcol

    points = samples.drop_duplicates()
    x = points["EASTING"].astype(float).to_numpy()
    y = points["NORTHING"].astype(float).to_numpy()
    rows, cols = rowcol(survey.transform, x, y)
    rows, cols = np.clip(rows, 0, 77), np.clip(cols, 0, 87)
    assert survey.valid[rows, cols].mean() > 0.99  # only rounding can nudge one out
    cu = pd.to_numeric(points["Cu_ppm"], errors="coerce").to_numpy()
    usable = np.isfinite(cu) & (cu > 0) & survey.valid[rows, cols]
    cell_cu = survey.elements["Cu"][rows[usable], cols[usable]]
    assert np.corrcoef(np.log(cu[usable]), np.log(cell_cu))[0, 1] > 0.8


def test_readme_says_synthetic_crs_and_seed(written):
    text = written.readme.read_text()
    assert "SYNTHETIC" in text and "EPSG:32650" in text and "seed=0" in text


def test_writing_is_deterministic_per_seed(tmp_path, written):
    import rasterio

    again = write_demo_inputs(tmp_path / "again", seed=0)
    other = write_demo_inputs(tmp_path / "other", seed=1)
    for name in ("samples.csv", "deposits.csv", "README.txt"):
        assert (again.root / name).read_bytes() == (written.root / name).read_bytes()
        assert (other.root / name).read_bytes() != (written.root / name).read_bytes()
    with rasterio.open(again.element_grids["Zn"]) as a, \
            rasterio.open(written.element_grids["Zn"]) as b, \
            rasterio.open(other.element_grids["Zn"]) as c:
        assert np.array_equal(a.read(1), b.read(1))
        assert not np.array_equal(a.read(1), c.read(1))
