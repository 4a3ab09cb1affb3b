"""Deposits: CRS decisions, reprojection, dropped rows and the inside-the-survey test."""

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geoanomaly.errors import InputError
from geoanomaly.io import Deposits, deposits_inside, read_deposits
from geoanomaly.survey import Grid, Survey


def write(path, text):
    path.write_text(text)
    return path


def test_lonlat_deposits_are_reprojected_to_the_survey_crs(tmp_path):
    f = write(tmp_path / "sites.csv", "Name,Longitude,Latitude\nA,117.5,-33.5\nB,,-33.6\n"
                                      "C,117.6,-33.7\n")
    d = read_deposits(f, "EPSG:32750")
    ex, ey = Transformer.from_crs(4326, 32750, always_xy=True).transform([117.5, 117.6],
                                                                         [-33.5, -33.7])
    np.testing.assert_allclose(d.x, ex, atol=1e-6)
    np.testing.assert_allclose(d.y, ey, atol=1e-6)
    assert d.table["Name"].tolist() == ["A", "C"] and d.crs.to_epsg() == 32750
    assert any("1 of 3 rows" in n for n in d.notes)


def test_without_crs_deposits_are_assumed_in_the_survey_crs(tmp_path):
    f = write(tmp_path / "dep.csv", "x,y,row,col\n616821.0,4618525.0,5,51\n")
    d = read_deposits(f, "EPSG:32645")
    assert d.x.tolist() == [616821.0] and d.table["row"].tolist() == [5]
    assert any("assumed to be the survey's" in n for n in d.notes)


def test_deposits_crs_option_and_bad_values(tmp_path):
    f = write(tmp_path / "dep.csv", "E,N\n400000,7000000\n")
    d = read_deposits(f, "EPSG:4326", crs="32750")
    lon, lat = Transformer.from_crs(32750, 4326, always_xy=True).transform(400000, 7000000)
    assert d.x[0] == pytest.approx(lon) and d.y[0] == pytest.approx(lat)
    with pytest.raises(InputError, match="Cannot understand the CRS 'bogus' given with --deposits-crs"):
        read_deposits(f, "EPSG:4326", crs="bogus")


def test_no_usable_coordinates_is_an_error(tmp_path):
    f = write(tmp_path / "dep.csv", "x,y,name\n,,a\nabc,1,b\n")
    with pytest.raises(InputError, match=r"dep\.csv has no deposit with usable coordinates"):
        read_deposits(f, "EPSG:32750")
    g = write(tmp_path / "names.csv", "name,commodity\na,Au\n")
    with pytest.raises(InputError, match=r"names\.csv.*--deposits-x and --deposits-y"):
        read_deposits(g, "EPSG:32750")


def test_polygon_deposits_become_points(tmp_path):
    import geopandas
    from shapely.geometry import Polygon

    gdf = geopandas.GeoDataFrame({"name": ["pit"]},
                                 geometry=[Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])],
                                 crs="EPSG:32750")
    path = tmp_path / "pits.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    d = read_deposits(path, "EPSG:32750")
    assert 0 < d.x[0] < 10 and 0 < d.y[0] < 10
    assert any("Polygon" in n for n in d.notes)


def _deposits(x, y, crs=None):
    return Deposits(x=np.asarray(x, float), y=np.asarray(y, float), table=pd.DataFrame(index=range(len(x))),
                    crs=crs, source="t")


def test_inside_grid_uses_valid_cells():
    from rasterio.transform import from_origin

    valid = np.array([[True, True], [False, True]])
    grid = Grid(from_origin(0, 200, 100, 100), 2, 2, None, valid)
    survey = Survey(values=pd.DataFrame({"Cu": [1.0, 2, 3]}), x=np.zeros(3), y=np.zeros(3),
                    crs=None, grid=grid)
    d = _deposits([50, 150, 50, 150, 250], [150, 150, 50, 50, 50])
    assert deposits_inside(d, survey, 0).tolist() == [True, True, False, True, False]


def test_inside_points_uses_buffered_hull_in_metres():
    sx = np.array([0.0, 1000, 1000, 0])
    sy = np.array([0.0, 0, 1000, 1000])
    survey = Survey(values=pd.DataFrame({"Cu": np.ones(4)}), x=sx, y=sy, crs=None)
    d = _deposits([500, 1100, 1300], [500, 500, 500])
    assert deposits_inside(d, survey, 200).tolist() == [True, True, False]

    from pyproj import CRS

    lat0 = -30.0
    deg_x = 1 / (111_320 * np.cos(np.radians(lat0)))
    geo = Survey(values=pd.DataFrame({"Cu": np.ones(4)}), x=120 + sx * deg_x,
                 y=lat0 + sy / 111_320 - 500 / 111_320, crs=CRS.from_epsg(4326))
    d = _deposits(120 + np.array([500, 1100, 1300]) * deg_x, np.full(3, lat0))
    assert deposits_inside(d, geo, 200).tolist() == [True, True, False]
