"""Column recognition: coordinates and element assays by name."""

import pandas as pd
import pytest

from geoanomaly.errors import InputError
from geoanomaly.io.columns import (find_coordinate_columns, parse_element_column,
                                   select_element_columns)


@pytest.mark.parametrize("name, expected", [
    ("Cu", ("Cu", "")),
    ("Cu_ppm", ("Cu", "ppm")),
    ("Au_ppb", ("Au", "ppb")),
    ("Fe2O3_pct", ("Fe2O3", "pct")),
    ("Fe2O3_%", ("Fe2O3", "pct")),
    ("Fe2O3%", ("Fe2O3", "pct")),
    ("Cu_ppm_511", ("Cu", "ppm")),
    ("Cu ppm", ("Cu", "ppm")),
    ("Cu (ppm)", ("Cu", "ppm")),
    ("CU_PPM", ("Cu", "ppm")),
    ("cu_ppm", ("Cu", "ppm")),
    ("Au_ppb_FA", ("Au", "ppb")),
    ("SiO2_wt%", ("SiO2", "pct")),
    ("SiO2_wt_pct", ("SiO2", "pct")),
    ("Fe2O3T_pct", ("Fe2O3T", "pct")),
    ("Au_g/t", ("Au", "ppm")),
    ("Pt_ppt", ("Pt", "ppt")),
    ("CeO2_ppm", ("CeO2", "ppm")),
    ("U3O8_ppm", ("U3O8", "ppm")),
    ("S_pct", ("S", "pct")),
    ("B_ppm", ("B", "ppm")),
    ("I_ppm", ("I", "ppm")),
    ("Y", ("Y", "")),
])
def test_parse_element_column_recognises(name, expected):
    assert parse_element_column(name) == expected


@pytest.mark.parametrize("name", [
    "SAMPLEID", "WAMEX_A_NO", "OBJECTID_x", "LABnegNR_N", "LOI_pct", "H2Oneg_pct",
    "H2Opos_pct", "CO2_pct", "SO3_pct", "X", "x", "lat", "Date", "Au_SITES", "in", "No",
    "cu", "Comments", "", "SAMPLETYPE",
])
def test_parse_element_column_rejects(name):
    assert parse_element_column(name) is None


@pytest.mark.parametrize("columns, expected", [
    (["id", "x", "y", "Cu"], ("x", "y")),
    (["Y", "X", "Cu_ppm"], ("X", "Y")),  # GSWA soil order: by name, not position
    (["Easting", "Northing", "Au"], ("Easting", "Northing")),
    (["LATITUDE", "LONGITUDE", "Au"], ("LONGITUDE", "LATITUDE")),
    (["lat", "long"], ("long", "lat")),
    (["MGA_E", "MGA_N"], ("MGA_E", "MGA_N")),
    (["XCOO", "YCOO"], ("XCOO", "YCOO")),
    (["POINT_X", "POINT_Y"], ("POINT_X", "POINT_Y")),
    (["Easting (m)", "Northing (m)"], ("Easting (m)", "Northing (m)")),
])
def test_find_coordinate_columns_by_name(columns, expected):
    assert find_coordinate_columns(columns) == expected


def test_explicit_coordinate_columns_win_and_bad_ones_name_file_and_matches():
    assert find_coordinate_columns(["x", "y", "E", "N"], x="E", y="N") == ("E", "N")
    assert find_coordinate_columns(["x", "y", "Easting", "Northing"], x="easting",
                                   y="northing") == ("Easting", "Northing")
    with pytest.raises(InputError, match=r"lab\.csv has no column 'Eastng'.*Easting"):
        find_coordinate_columns(["Easting", "Northing"], x="Eastng", y="Northing",
                                source="lab.csv")


def test_no_coordinates_says_pass_x_and_y():
    with pytest.raises(InputError, match=r"lab\.csv.*--x and --y"):
        find_coordinate_columns(["id", "Cu", "Pb"], source="lab.csv")


def test_select_prefers_unit_columns_and_skips_text_and_bare_names():
    df = pd.DataFrame({
        "X": [1.0, 2.0], "Y": [3.0, 4.0], "S": ["a", "b"], "Cu_ppm": ["<0.5", "3"],
        "Au_ppb": ["BDL", "n.a."], "Cl_ppm": ["see note", "lost"], "Pb": [1, 2],
    })
    notes: list[str] = []
    chosen = select_element_columns(df, {"X", "Y"}, None, "f.csv", notes=notes)
    assert chosen == [("Cu_ppm", "Cu", "ppm"), ("Au_ppb", "Au", "ppb")]
    assert any("Cl_ppm" in n and "metadata" in n for n in notes)
    assert any("Pb" in n and "--elements" in n for n in notes)


def test_select_bare_names_when_no_units_anywhere():
    df = pd.DataFrame({"x": [0.0], "y": [0.0], "Cu": [1.0], "Pb": [2.0], "Zn": [3.0]})
    assert [e for _, e, _ in select_element_columns(df, {"x", "y"}, None, "f")] == ["Cu", "Pb", "Zn"]


def test_one_element_in_two_columns_is_refused_until_elements_picks_one():
    df = pd.DataFrame({"Cu_ppm_AAS": [1.0], "Cu_ppm_ICP": [2.0], "Pb_ppm": [3.0], "Zn": [4.0]})
    with pytest.raises(InputError, match="columns Cu_ppm_AAS and Cu_ppm_ICP both hold Cu.*"
                                         "--elements Cu_ppm_AAS,Zn"):
        select_element_columns(df, set(), ["Cu", "Zn"], "f")
    with pytest.raises(InputError, match="both hold Cu"):
        select_element_columns(df, set(), None, "f")
    assert select_element_columns(df, set(), ["Cu_ppm_ICP"], "f") == [("Cu_ppm_ICP", "Cu", "ppm")]


def test_a_header_written_twice_is_named_as_such():
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["Cu", "Cu.1", "Zn"])
    with pytest.raises(InputError, match="the header Cu appears twice"):
        select_element_columns(df, set(), None, "f")


def test_select_unknown_element_lists_available():
    df = pd.DataFrame({"Cu_ppm": [1.0], "Pb_ppm": [3.0]})
    with pytest.raises(InputError, match=r"lab\.csv has no element column 'Au'.*Cu_ppm, Pb_ppm"):
        select_element_columns(df, set(), ["Au"], "lab.csv")


def test_select_nothing_found():
    df = pd.DataFrame({"x": [1.0], "y": [2.0], "name": ["a"]})
    with pytest.raises(InputError, match=r"No element columns found in lab\.csv"):
        select_element_columns(df, {"x", "y"}, None, "lab.csv")
