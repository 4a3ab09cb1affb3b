"""Reading point-sample tables: formats, coordinates, CRS and the errors users meet."""

import numpy as np
import pandas as pd
import pytest

from geoanomaly.errors import InputError
from geoanomaly.io import read_survey
from geoanomaly.io.samples import read_samples


def write(path, text):
    path.write_text(text)
    return path


def test_csv_keeps_lab_strings_and_numbers(tmp_path):
    f = write(tmp_path / "lab.csv",
              "SampleID,Easting,Northing,Cu_ppm,Au_ppb,Fe2O3_%\n"
              "007,500000,6400000,<0.5,12,3.1\n"
              "008,500100,6400050,14,BDL,2.5\n")
    s = read_samples(f, crs="32750")
    assert s.elements == ["Cu", "Au", "Fe2O3"]
    assert s.units == {"Cu": "ppm", "Au": "ppb", "Fe2O3": "pct"}
    assert s.columns["Fe2O3"] == "Fe2O3_%"
    assert list(s.values["Cu"]) == ["<0.5", "14"]  # strings survive for the cleaner
    assert s.values["Fe2O3"].dtype == np.float64 and s.values["Fe2O3"].tolist() == [3.1, 2.5]
    assert s.x.tolist() == [500000.0, 500100.0] and s.y.tolist() == [6400000.0, 6400050.0]
    assert s.crs.to_epsg() == 32750
    assert s.meta["SampleID"].tolist() == ["007", "008"]  # ids keep leading zeros
    assert s.sources == [str(f)]


def test_semicolon_with_decimal_comma_and_y_before_x(tmp_path):
    f = write(tmp_path / "eu.csv", "Y;X;Cu;Pb\n-31,5;119,25;12,5;3\n-31,6;119,5;<0,5;4\n")
    s = read_samples(f)
    assert s.x.tolist() == [119.25, 119.5] and s.y.tolist() == [-31.5, -31.6]
    assert s.values["Cu"].tolist() == ["12.5", "<0.5"]
    assert s.crs.to_epsg() == 4326
    assert any("longitude/latitude" in n for n in s.notes)


def test_tab_separated_txt(tmp_path):
    f = write(tmp_path / "lab.txt", "x\ty\tCu\tZn\n1\t2\t3\t4\n5\t6\t7\t8\n")
    s = read_samples(f)
    assert s.values.to_numpy().tolist() == [[3.0, 4.0], [7.0, 8.0]]
    assert s.crs is None and any("CRS unknown" in n for n in s.notes)  # integer local grid


def test_bad_coordinate_row_is_named_by_spreadsheet_line(tmp_path):
    f = write(tmp_path / "lab.csv", "x,y,Cu\n1,2,3\n4,5,6\n7,,9\n10,abc,1\n")
    with pytest.raises(InputError, match=r"lab\.csv line 4: coordinate column y is empty \(1 more"):
        read_samples(f)


def test_xlsx_sheet_and_parquet(tmp_path):
    df = pd.DataFrame({"lon": [120.1, 120.2], "lat": [-30.1, -30.2], "Au_ppb": [5, "<1"],
                       "Cu_ppm": [1.5, 2.5]})
    xlsx = tmp_path / "lab.xlsx"
    with pd.ExcelWriter(xlsx) as w:
        pd.DataFrame({"a": [1]}).to_excel(w, sheet_name="readme", index=False)
        df.to_excel(w, sheet_name="assays", index=False)
    s = read_samples(xlsx, sheet="assays")
    assert s.values["Au"].tolist() == ["5", "<1"] and s.values["Cu"].tolist() == [1.5, 2.5]
    assert s.crs.to_epsg() == 4326
    with pytest.raises(InputError, match="no sheet 'nope'.*readme, assays"):
        read_samples(xlsx, sheet="nope")
    pq = tmp_path / "lab.parquet"
    df.assign(Au_ppb=[5.0, 0.5]).to_parquet(pq)
    p = read_samples(pq)
    assert p.values["Au"].tolist() == [5.0, 0.5] and p.x.tolist() == [120.1, 120.2]


def test_geopackage_points_give_coordinates_and_crs(tmp_path):
    import geopandas
    from shapely.geometry import Point

    gdf = geopandas.GeoDataFrame({"id": ["a", "b"], "Cu_ppm": [10.0, 20.0]},
                                 geometry=[Point(400000, 7000000), Point(401000, 7001000)],
                                 crs="EPSG:32750")
    path = tmp_path / "pts.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    s = read_samples(path, crs="EPSG:4326")
    assert s.crs.to_epsg() == 32750  # the file's CRS wins over --crs
    assert s.x.tolist() == [400000.0, 401000.0] and s.values["Cu"].tolist() == [10.0, 20.0]
    assert any("ignored" in n for n in s.notes)
    shp = tmp_path / "pts.shp"
    gdf.to_file(shp, engine="pyogrio")
    assert read_samples(shp).y.tolist() == [7000000.0, 7001000.0]


def test_errors_missing_unknown_unreadable(tmp_path):
    with pytest.raises(InputError, match="nope.csv does not exist"):
        read_samples(tmp_path / "nope.csv")
    odd = write(tmp_path / "data.json", "{}")
    with pytest.raises(InputError, match=r"data\.json has an unsupported file type.*CSV"):
        read_samples(odd)
    broken = write(tmp_path / "broken.xlsx", "not a workbook")
    with pytest.raises(InputError, match=r"Cannot read .*broken\.xlsx"):
        read_samples(broken)
    ragged = write(tmp_path / "ragged.csv", "x,y,Cu\n1,2,3\n4,5,6,7,8\n")
    with pytest.raises(InputError, match=r"Cannot read .*ragged\.csv"):
        read_samples(ragged)


def test_errors_no_coordinates_no_elements_bad_names_bad_crs(tmp_path):
    f = write(tmp_path / "lab.csv", "id,Cu,Pb\na,1,2\n")
    with pytest.raises(InputError, match=r"lab\.csv.*--x and --y"):
        read_samples(f)
    g = write(tmp_path / "meta.csv", "x,y,name,date\n1.5,2.5,a,2020\n")
    with pytest.raises(InputError, match=r"No element columns found in .*meta\.csv"):
        read_samples(g)
    h = write(tmp_path / "ok.csv", "E,N,Cu\n1,2,3\n")
    with pytest.raises(InputError, match=r"ok\.csv has no column 'Est'"):
        read_samples(h, x="Est", y="N")
    with pytest.raises(InputError, match=r"ok\.csv has no element column 'Au'.*Cu"):
        read_samples(h, x="E", y="N", elements=["Au"])
    with pytest.raises(InputError, match=r"Cannot understand the CRS 'EPSG:99999999'.*EPSG:32750"):
        read_samples(h, x="E", y="N", crs="EPSG:99999999")


def test_read_survey_joins_matching_tables_and_refuses_others(tmp_path):
    a = write(tmp_path / "a.csv", "x,y,Cu_ppm\n1.5,2.5,3\n")
    b = write(tmp_path / "b.csv", "x,y,Cu_ppm\n4.5,5.5,6\n")
    c = write(tmp_path / "c.csv", "x,y,Pb_ppm\n4.5,5.5,6\n")
    s = read_survey([str(a), str(b)])
    assert s.n == 2 and s.values["Cu"].tolist() == [3.0, 6.0]
    assert s.meta["source_file"].tolist() == ["a.csv", "b.csv"]
    with pytest.raises(InputError, match="merge them"):
        read_survey([str(a), str(c)])
