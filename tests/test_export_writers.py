"""Writers: GeoTIFF, GeoPackage, CSV, JSON and YAML round trips."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import CRS

from geoanomaly.export.writers import (
    CLASS_NODATA, SCORE_NODATA, write_class_geotiff, write_grid_geotiff, write_image_geotiff,
    write_json, write_points_gpkg, write_scores_csv, write_yaml,
)
from geoanomaly.survey import Grid


def _grid(width=7, height=5, crs="EPSG:32645"):
    from rasterio.transform import from_origin

    valid = np.ones((height, width), dtype=bool)
    valid[0, :3] = False
    valid[4, 6] = False
    return Grid(transform=from_origin(565000.0, 4624000.0, 1000.0, 1000.0), width=width, height=height,
                crs=None if crs is None else CRS.from_user_input(crs), valid=valid)


def test_geotiff_round_trip_keeps_grid_values_and_nodata(tmp_path):
    import rasterio

    grid = _grid()
    n = int(grid.valid.sum())
    values = np.linspace(-2.5, 7.25, n)
    values[4] = np.nan  # a valid cell without a score becomes nodata too
    path = write_grid_geotiff(tmp_path / "score.tif", grid, values, description="vae score",
                              tags={"SCORE": "vae recon", "INTERPOLATED": False})
    with rasterio.open(path) as src:
        assert (src.width, src.height, src.count) == (grid.width, grid.height, 1)
        assert src.transform == grid.transform
        assert CRS.from_wkt(src.crs.to_wkt()).equals(grid.crs)
        assert src.nodata == SCORE_NODATA and src.dtypes[0] == "float32"
        assert src.descriptions[0] == "vae score"
        assert src.tags()["SCORE"] == "vae recon" and src.tags()["INTERPOLATED"] == "no"
        assert src.profile["compress"].lower() == "lzw"
        band = src.read(1)
    expected = values.astype(np.float32)
    got = band[np.nonzero(grid.valid)]
    np.testing.assert_array_equal(got[np.isfinite(expected)], expected[np.isfinite(expected)])
    assert got[4] == SCORE_NODATA
    assert (band[~grid.valid] == SCORE_NODATA).all()
    assert band[0, 3] == np.float32(values[0])  # first valid cell in row-major order


def test_geotiff_large_grid_is_tiled_and_crs_may_be_missing(tmp_path):
    import rasterio

    grid = _grid(width=600, height=20, crs=None)
    path = write_grid_geotiff(tmp_path / "big.tif", grid, np.zeros(int(grid.valid.sum())))
    with rasterio.open(path) as src:
        assert src.profile.get("tiled") and src.block_shapes[0] == (256, 256)
        assert src.crs is None


def test_geotiff_rejects_wrong_number_of_values(tmp_path):
    with pytest.raises(ValueError, match="valid grid cells"):
        write_grid_geotiff(tmp_path / "x.tif", _grid(), np.zeros(3))


def test_class_and_image_geotiffs(tmp_path):
    import rasterio

    grid = _grid()
    classes = np.arange(int(grid.valid.sum())) % 3
    write_class_geotiff(tmp_path / "cls.tif", grid, classes, class_names=["background", "weak", "strong"])
    with rasterio.open(tmp_path / "cls.tif") as src:
        band = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == CLASS_NODATA
        assert src.tags()["CLASS_2"] == "strong"
    np.testing.assert_array_equal(band[np.nonzero(grid.valid)], classes)
    assert (band[~grid.valid] == CLASS_NODATA).all()

    image = np.full((grid.height, grid.width), np.nan)
    image[2, 2] = 3.5
    write_image_geotiff(tmp_path / "idw.tif", grid, image, tags={"INTERPOLATED": "idw"})
    with rasterio.open(tmp_path / "idw.tif") as src:
        band = src.read(1, masked=True)
    assert band.count() == 1 and band[2, 2] == 3.5


def test_points_gpkg_round_trip(tmp_path):
    import geopandas as gpd

    x = np.array([500000.0, 501000.5, 502000.25])
    y = np.array([7000000.0, 7000100.0, 7000200.0])
    path = write_points_gpkg(tmp_path / "points.gpkg", x, y, CRS.from_epsg(32750),
                             {"sample_id": np.array(["A1", "A2", "A3"]), "score": np.array([0.1, 2.5, np.nan]),
                              "class": np.array([0, 2, 1])})
    frame = gpd.read_file(path, layer="anomalies")
    assert list(frame.columns) == ["sample_id", "score", "class", "geometry"]
    assert frame.crs.to_epsg() == 32750
    np.testing.assert_allclose(frame.geometry.x, x)
    np.testing.assert_allclose(frame.geometry.y, y)
    assert frame["sample_id"].tolist() == ["A1", "A2", "A3"]
    assert frame["score"].iloc[1] == 2.5 and np.isnan(frame["score"].iloc[2])
    assert frame["class"].tolist() == [0, 2, 1]


def test_scores_csv_columns_and_class_names(tmp_path):
    path = write_scores_csv(tmp_path / "scores.csv", [1.0, 2.0], [3.0, 4.0], [0.123456789012, -1.0], [0, 2],
                            class_names={0: "background", 2: "strong"},
                            extra={"sample_id": ["s1", "s2"], "near_deposit": [False, True]})
    table = pd.read_csv(path)
    assert list(table.columns) == ["x", "y", "score", "class", "class_name", "sample_id", "near_deposit"]
    assert table["class"].tolist() == [0, 2]
    assert table["class_name"].tolist() == ["background", "strong"]
    assert table["score"].iloc[0] == pytest.approx(0.123456789012, rel=1e-9)
    assert table["near_deposit"].tolist() == [False, True]

    write_scores_csv(tmp_path / "plain.csv", [1.0], [2.0], [0.5])
    assert Path(tmp_path / "plain.csv").read_text().splitlines() == ["x,y,score,class,class_name", "1,2,0.5,,"]


def test_json_and_yaml_convert_numpy_and_nan(tmp_path):
    import yaml

    obj = {"auc": np.float32(0.75), "n": np.int64(3), "ci": np.array([0.5, np.nan]), "ok": np.bool_(True),
           "path": tmp_path / "a.csv", "crs": CRS.from_epsg(32645), "inf": float("inf")}
    text = write_json(tmp_path / "m.json", obj).read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data == {"auc": 0.75, "n": 3, "ci": [0.5, None], "ok": True, "path": str(tmp_path / "a.csv"),
                    "crs": "EPSG:32645", "inf": None}
    loaded = yaml.safe_load(write_yaml(tmp_path / "c.yaml", {"b": 1, "a": np.float64(2.5)}).read_text())
    assert loaded == {"b": 1, "a": 2.5}
    assert (tmp_path / "c.yaml").read_text().startswith("b: 1")  # order kept


@pytest.fixture
def shared_data():
    root = Path(__file__).parents[2] / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"real data folder {root} is absent")
    return root


@pytest.mark.realdata
def test_geotiff_round_trip_on_real_grid(shared_data, tmp_path):
    import rasterio

    with rasterio.open(shared_data / "xinjiang_au" / "elements" / "Au.tif") as src:
        au = src.read(1)
        grid = Grid(src.transform, src.width, src.height, CRS.from_wkt(src.crs.to_wkt()), np.isfinite(au))
    write_grid_geotiff(tmp_path / "au.tif", grid, au[grid.valid], description="Au copy")
    with rasterio.open(tmp_path / "au.tif") as out:
        assert out.transform == grid.transform and out.crs.to_epsg() == 32645
        np.testing.assert_array_equal(out.read(1)[grid.valid], au[grid.valid])
