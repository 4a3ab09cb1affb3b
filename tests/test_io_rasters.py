"""Reading element grids: naming, nodata, valid cells, cell centres and grid checks."""

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.io import read_survey
from geoanomaly.io.rasters import read_rasters

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

TRANSFORM = from_origin(1000.0, 5000.0, 100.0, 100.0)  # 100 m cells, top-left at (1000, 5000)


def write_tif(path, bands, *, transform=TRANSFORM, crs="EPSG:32645", nodata=-9999.0,
              descriptions=None):
    bands = np.asarray(bands, dtype="float32")
    if bands.ndim == 2:
        bands = bands[None]
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                       count=bands.shape[0], dtype="float32", transform=transform, crs=crs,
                       nodata=nodata) as dst:
        dst.write(bands)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def test_folder_of_single_band_files(tmp_path):
    cu = np.array([[1, 2, 3], [4, -9999, 6]])
    au = np.array([[10, 20, np.nan], [40, -9999, 60]])
    write_tif(tmp_path / "Cu_ppm.tif", cu)
    write_tif(tmp_path / "Au.tif", au)
    s = read_rasters([str(tmp_path)])
    assert s.elements == ["Au", "Cu"]  # files in name order
    assert s.units == {"Au": "", "Cu": "ppm"} and s.columns["Cu"] == "Cu_ppm.tif"
    expected_valid = np.array([[True, True, True], [True, False, True]])
    assert (s.grid.valid == expected_valid).all() and s.n == 5
    assert s.values["Cu"].tolist() == [1, 2, 3, 4, 6]
    assert np.isnan(s.values["Au"][2]) and s.values["Au"].dtype == np.float64
    # cell centres in row-major order
    assert s.x.tolist() == [1050, 1150, 1250, 1050, 1250]
    assert s.y.tolist() == [4950, 4950, 4950, 4850, 4850]
    assert s.crs.to_epsg() == 32645 and s.grid.crs.to_epsg() == 32645
    assert (s.grid.width, s.grid.height) == (3, 2)


def test_multiband_names_from_descriptions_or_stem(tmp_path):
    data = np.arange(12).reshape(2, 2, 3) + 1
    write_tif(tmp_path / "stack.tif", data, descriptions=["Pb_ppm", "Zn_ppm"])
    s = read_rasters([str(tmp_path / "stack.tif")])
    assert s.elements == ["Pb", "Zn"] and s.columns["Zn"] == "stack.tif band 2"
    write_tif(tmp_path / "plain.tif", data)
    p = read_rasters([str(tmp_path / "plain.tif")])
    assert p.elements == ["plain_b1", "plain_b2"]
    assert p.values["plain_b2"].tolist() == list(range(7, 13))


def test_different_grids_are_refused_with_the_file_named(tmp_path):
    write_tif(tmp_path / "Cu.tif", np.ones((2, 3)))
    write_tif(tmp_path / "Pb.tif", np.ones((3, 3)))
    with pytest.raises(InputError, match=r"Pb\.tif has 3 x 3 cells but Cu\.tif has 2 x 3.*gdalwarp"):
        read_rasters([str(tmp_path / "Cu.tif"), str(tmp_path / "Pb.tif")])
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    write_tif(shifted / "A.tif", np.ones((2, 3)))
    write_tif(shifted / "B.tif", np.ones((2, 3)), transform=from_origin(1050.0, 5000.0, 100, 100))
    with pytest.raises(InputError, match=r"B\.tif is not aligned with A\.tif"):
        read_rasters([str(shifted)])
    other_crs = tmp_path / "crs"
    other_crs.mkdir()
    write_tif(other_crs / "A.tif", np.ones((2, 3)))
    write_tif(other_crs / "B.tif", np.ones((2, 3)), crs="EPSG:32650")
    with pytest.raises(InputError, match=r"B\.tif has CRS EPSG:32650 but A\.tif"):
        read_rasters([str(other_crs)])


def test_tiny_transform_differences_are_tolerated(tmp_path):
    write_tif(tmp_path / "A.tif", np.ones((2, 3)))
    write_tif(tmp_path / "B.tif", np.ones((2, 3)), transform=from_origin(1000.00001, 5000, 100, 100))
    assert read_rasters([str(tmp_path)]).n == 6


def test_read_survey_grid_elements_and_crs_option(tmp_path):
    write_tif(tmp_path / "Cu.tif", np.ones((2, 3)), crs=None)
    write_tif(tmp_path / "Pb.tif", 2 * np.ones((2, 3)), crs=None)
    s = read_survey([str(tmp_path)], elements=["Pb"], crs="EPSG:32645")
    assert s.elements == ["Pb"] and s.crs.to_epsg() == 32645 and s.grid.crs.to_epsg() == 32645
    with pytest.raises(InputError, match="Cu.tif has no CRS.*--crs"):
        read_survey([str(tmp_path)])
    with pytest.raises(InputError, match="no element 'Au'.*Cu, Pb"):
        read_survey([str(tmp_path)], elements=["Au"])
    with pytest.raises(InputError, match="Cannot understand the CRS 'utm please'"):
        read_survey([str(tmp_path)], crs="utm please")


def test_unreadable_and_empty_folder(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    with pytest.raises(InputError, match=r"Cannot read .*bad\.tif as a GeoTIFF"):
        read_rasters([str(bad)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no GeoTIFF"):
        read_survey([str(empty)])


MAP_NAMES = {  # file stem or band description as GIS software writes it -> (element, unit)
    "Idw_Li": ("Li", ""), "Kriging_Mn_ppm": ("Mn", "ppm"), "zn": ("Zn", ""),
    "IDW-Au_ppb": ("Au", "ppb"), "cu_ordinary_kriging": ("Cu", ""), "Fe2O3_pct": ("Fe2O3", "pct"),
    "Mnppm": ("Mn", "ppm"), "Li_idw": ("Li", ""), "As": ("As", ""), "PB": ("Pb", ""),
}


@pytest.mark.parametrize("name,expected", sorted(MAP_NAMES.items()))
def test_map_names_with_method_words_units_and_any_case(name, expected):
    from geoanomaly.io.columns import parse_map_name

    assert parse_map_name(name) == expected


@pytest.mark.parametrize("name", ["kriging", "Band_1", "LOI", "Au_sites", "As_is", "x"])
def test_names_that_are_not_element_maps(name):
    from geoanomaly.io.columns import parse_map_name

    assert parse_map_name(name) is None


def test_gis_exported_grids_are_read_as_elements_and_the_report_says_how(tmp_path):
    grid = np.arange(12, dtype=float).reshape(3, 4) + 1
    for stem in ("Idw_Li", "Kriging_Mn_ppm", "zn", "IDW-Au_ppb"):
        write_tif(tmp_path / f"{stem}.tif", grid)
    write_tif(tmp_path / "stack.tif", [grid, grid], descriptions=["cu_ordinary_kriging", "Idw_Pb"])
    survey = read_rasters([str(tmp_path)])
    assert sorted(survey.elements) == ["Au", "Cu", "Li", "Mn", "Pb", "Zn"]
    assert survey.units["Mn"] == "ppm" and survey.units["Au"] == "ppb"
    note = next(n for n in survey.notes if n.startswith("Band names read as elements"))
    assert "Idw_Li.tif -> Li" in note and "Kriging_Mn_ppm.tif -> Mn (ppm)" in note
    assert "stack.tif band 2 -> Pb" in note
    # --elements and the streamed reader see the same names
    assert read_survey([str(tmp_path)], elements=["Cu", "Li"]).elements == ["Cu", "Li"]
    from geoanomaly.stream.stack import open_stack

    stack = open_stack([str(tmp_path)])
    assert sorted(stack.keys) == sorted(survey.elements) and stack.notes[0] == note
