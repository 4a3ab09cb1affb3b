"""Geology control layers (--control): vector distances, 0/1 masks, continuous rasters, errors."""

import numpy as np
import pytest

from geoanomaly.errors import InputError
from geoanomaly.io.controls import read_controls

geopandas = pytest.importorskip("geopandas")
rasterio = pytest.importorskip("rasterio")
shapely = pytest.importorskip("shapely")

UTM = "EPSG:32650"
# A 4 x 3 km rectangle in UTM 50N; distances from it are easy to write down.
LEFT, BOTTOM, RIGHT, TOP = 448_000.0, 2_763_000.0, 452_000.0, 2_766_000.0


def _rectangle():
    return shapely.box(LEFT, BOTTOM, RIGHT, TOP)


def _write_vector(path, geometries, crs=UTM, layer=None):
    frame = geopandas.GeoDataFrame({"name": [f"f{i}" for i in range(len(geometries))]},
                                   geometry=list(geometries), crs=crs)
    frame.to_file(path, layer=layer, engine="pyogrio",
                  mode="a" if layer and path.exists() else "w")
    return path


def _write_raster(path, data, transform, crs, nodata=None, dtype=None):
    data = np.asarray(data)
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": dtype or data.dtype.name, "transform": transform, "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]), 1)
    return path


def _affine(left, top, res_x, res_y):
    from affine import Affine

    return Affine(res_x, 0.0, left, 0.0, -res_y, top)


def test_polygon_distance_is_zero_inside_and_metres_outside(tmp_path):
    path = _write_vector(tmp_path / "intrusions.gpkg", [_rectangle()])
    controls = read_controls([path], UTM)
    assert controls.names == ["intrusions"] and controls.kinds == ["distance"]
    assert "1 polygon" in controls.descriptions[0] and "0 inside" in controls.descriptions[0]
    x = np.array([450_000.0, LEFT + 1.0, RIGHT + 300.0, 450_000.0, RIGHT + 300.0])
    y = np.array([2_764_500.0, BOTTOM + 1.0, 2_764_000.0, BOTTOM - 1234.5, TOP + 400.0])
    values = controls.values_at(x, y)
    assert values.shape == (5, 1) and values.dtype == np.float64
    np.testing.assert_allclose(values[:, 0], [0.0, 0.0, 300.0, 1234.5, 500.0], atol=1e-6)
    assert controls.outside == [0] and controls.nodata == [0] and controls.value_notes == []


def test_polygon_in_lonlat_is_reprojected_and_says_so(tmp_path):
    lonlat = geopandas.GeoSeries([_rectangle()], crs=UTM).to_crs("EPSG:4326")
    path = _write_vector(tmp_path / "granite.geojson", list(lonlat), crs="EPSG:4326")
    controls = read_controls([path], 32650)
    assert "reprojected from EPSG:4326 to EPSG:32650" in controls.descriptions[0]
    values = controls.values_at([450_000.0, RIGHT + 300.0], [2_764_500.0, 2_764_000.0])[:, 0]
    assert values[0] == 0.0
    assert abs(values[1] - 300.0) < 1.0  # straight edges in lon/lat bend by centimetres here


def test_lines_and_points_give_distance_to_the_nearest_feature(tmp_path):
    faults = [shapely.LineString([(440_000, 2_760_000), (440_000, 2_770_000)]),
              shapely.LineString([(445_000, 2_765_000), (455_000, 2_765_000)])]
    path = _write_vector(tmp_path / "faults.shp", faults)
    controls = read_controls([path], UTM)
    assert "2 lines" in controls.descriptions[0] and "0 inside" not in controls.descriptions[0]
    x = np.array([440_250.0, 450_000.0, 458_000.0, 442_000.0])
    y = np.array([2_765_000.0, 2_765_700.0, 2_769_000.0, 2_765_000.0])
    np.testing.assert_allclose(controls.values_at(x, y)[:, 0],
                               [250.0, 700.0, 5000.0, 2000.0], atol=1e-6)

    points = _write_vector(tmp_path / "vents.gpkg", [shapely.Point(450_000, 2_765_000)])
    both = read_controls([path, points], UTM)
    assert both.names == ["faults", "vents"]
    np.testing.assert_allclose(both.values_at([453_000.0], [2_769_000.0]), [[4000.0, 5000.0]])


def test_a_file_with_several_layers_gives_one_control_per_layer(tmp_path):
    path = tmp_path / "geology.gpkg"
    _write_vector(path, [_rectangle()], layer="intrusions")
    _write_vector(path, [shapely.LineString([(440_000, 2_760_000), (440_000, 2_770_000)])],
                  layer="faults")
    controls = read_controls([path], UTM)
    assert controls.names == ["geology:intrusions", "geology:faults"]
    assert "layer 'faults'" in controls.descriptions[1]
    np.testing.assert_allclose(controls.values_at([441_000.0], [2_764_500.0]),
                               [[7000.0, 1000.0]])


def test_mask_raster_in_lonlat_matches_the_vector_distance_within_a_cell(tmp_path):
    from rasterio import features

    polygon = shapely.Polygon([(445_000, 2_760_000), (452_000, 2_761_000),
                               (454_000, 2_768_000), (447_000, 2_769_000)])
    vector = _write_vector(tmp_path / "intrusion.gpkg", [polygon])
    in_lonlat = geopandas.GeoSeries([polygon], crs=UTM).to_crs("EPSG:4326").iloc[0]
    res = 0.002  # about 200 m
    west, south, east, north = in_lonlat.bounds
    transform = _affine(west - 0.08, north + 0.08, res, res)
    shape = (int((north - south + 0.16) / res), int((east - west + 0.16) / res))
    mask = features.rasterize([(in_lonlat, 1)], out_shape=shape, transform=transform, fill=0,
                              dtype="uint8")
    mask[:5, :5] = 255  # a no-data corner
    raster = _write_raster(tmp_path / "intrusion_mask.tif", mask, transform, "EPSG:4326",
                           nodata=255)
    controls = read_controls([vector, raster], UTM)
    assert controls.kinds == ["distance", "distance"]
    assert "0/1 mask" in controls.descriptions[1]
    assert "reprojected from EPSG:4326 to EPSG:32650 (nearest)" in controls.descriptions[1]
    cell = float(controls.descriptions[1].split(" onto ")[1].split(" m cells")[0])
    assert 150 < cell < 250

    rng = np.random.default_rng(0)
    x = rng.uniform(441_000, 458_000, 3000)
    y = rng.uniform(2_756_000, 2_773_000, 3000)
    values = controls.values_at(x, y)
    known = np.isfinite(values[:, 1])
    assert known.mean() > 0.99
    error = np.abs(values[known, 1] - values[known, 0])
    assert np.mean(error <= cell) > 0.9
    assert error.max() <= 2 * cell
    inside = values[:, 0] == 0
    assert np.mean(values[inside & known, 1] == 0) > 0.95

    # outside the raster and on its no-data: NaN, counted separately
    far_x, far_y = np.array([500_000.0]), np.array([2_765_000.0])
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    corner = to_utm.transform(transform.c + 2.5 * res, transform.f - 2.5 * res)
    got = controls.values_at(np.r_[far_x, corner[0]], np.r_[far_y, corner[1]])
    assert np.isnan(got[:, 1]).all() and np.isfinite(got[:, 0]).all()
    assert controls.outside == [0, 1] and controls.nodata == [0, 1]
    assert "1 outside its extent and 1 on its no-data" in controls.value_notes[0]


def test_continuous_raster_is_resampled_and_used_as_it_is(tmp_path):
    from pyproj import Transformer

    # A ramp in lon/lat: value = 100 x (longitude - 116.4), about 0 to 20 across the raster.
    res = 0.002
    transform = _affine(116.40, 25.05, res, res)
    cols = np.arange(100)
    ramp = np.tile(100.0 * (cols + 0.5) * res, (50, 1)).astype("float32")
    ramp[20:25, 40:45] = -9999.0
    path = _write_raster(tmp_path / "favourability.tif", ramp, transform, "EPSG:4326",
                         nodata=-9999.0)
    controls = read_controls([path], UTM)
    assert controls.kinds == ["continuous"]
    description = controls.descriptions[0]
    assert "bilinear" in description and "continuous raster" in description

    to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    rng = np.random.default_rng(1)
    lon = rng.uniform(116.41, 116.59, 400)
    lat = rng.uniform(24.96, 25.04, 400)
    x, y = to_utm.transform(lon, lat)
    values = controls.values_at(x, y)[:, 0]
    hole = (lon > 116.40 + 40 * res) & (lon < 116.40 + 45 * res) & \
        (lat < 25.05 - 20 * res) & (lat > 25.05 - 25 * res)
    assert np.isnan(values[hole]).all()
    # within about one source cell (0.2 units) of the true ramp value
    np.testing.assert_allclose(values[~hole], 100.0 * (lon[~hole] - 116.40), atol=0.25)
    assert controls.nodata == [int(hole.sum())] and controls.outside == [0]


def test_mask_raster_already_in_the_survey_crs_is_used_on_its_own_grid(tmp_path):
    mask = np.zeros((20, 30), dtype="uint8")
    mask[5, 10] = 1
    transform = _affine(440_000.0, 2_770_000.0, 500.0, 500.0)
    path = _write_raster(tmp_path / "vent.tif", mask, transform, UTM, nodata=255)
    controls = read_controls([path], UTM)
    assert "used on its own grid" in controls.descriptions[0]
    centre_x, centre_y = 440_000.0 + 10.5 * 500, 2_770_000.0 - 5.5 * 500
    got = controls.values_at([centre_x, centre_x + 1500, centre_x + 1500],
                             [centre_y, centre_y, centre_y - 2000])[:, 0]
    np.testing.assert_allclose(got, [0.0, 1500.0, 2500.0])


@pytest.mark.parametrize("case", ["missing", "unreadable_vector", "unreadable_raster",
                                  "no_geometry", "raster_without_crs", "vector_without_crs",
                                  "extension", "empty_mask"])
def test_bad_control_files_raise_input_error_naming_the_file(tmp_path, case):
    if case == "missing":
        path = tmp_path / "nowhere.gpkg"
    elif case == "unreadable_vector":
        path = tmp_path / "broken.gpkg"
        path.write_bytes(b"this is not a geopackage")
    elif case == "unreadable_raster":
        path = tmp_path / "broken.tif"
        path.write_bytes(b"this is not a tiff")
    elif case == "no_geometry":
        path = tmp_path / "empty.gpkg"
        geopandas.GeoDataFrame({"name": []}, geometry=[], crs=UTM).to_file(path,
                                                                              engine="pyogrio")
    elif case == "raster_without_crs":
        path = _write_raster(tmp_path / "nocrs.tif", np.ones((4, 4), "float32"),
                             _affine(0.0, 10.0, 1.0, 1.0), None)
    elif case == "vector_without_crs":
        with pytest.warns(UserWarning, match="crs"):  # pyogrio warns on writing it
            path = _write_vector(tmp_path / "nocrs.shp", [_rectangle()], crs=None)
    elif case == "extension":
        path = tmp_path / "intrusions.csv"
        path.write_text("x,y\n1,2\n")
    else:
        path = _write_raster(tmp_path / "zeros.tif", np.zeros((4, 4), "uint8"),
                             _affine(440_000.0, 2_770_000.0, 100.0, 100.0), UTM)
    with pytest.raises(InputError) as info:
        read_controls([path], UTM)
    message = str(info.value)
    assert path.name in message
    assert message.endswith(".") and ". " not in message  # one sentence
    expected = {"missing": "does not exist", "unreadable_vector": "Cannot read",
                "unreadable_raster": "Cannot read", "no_geometry": "holds no geometries",
                "raster_without_crs": "has no CRS", "vector_without_crs": "has no CRS",
                "extension": "unsupported extension", "empty_mask": "no 1-cell"}[case]
    assert expected in message


def test_the_survey_crs_must_be_projected_in_metres(tmp_path):
    path = _write_vector(tmp_path / "intrusions.gpkg", [_rectangle()])
    with pytest.raises(InputError, match="projected CRS in metres"):
        read_controls([path], "EPSG:4326")


def test_values_at_refuses_mismatched_coordinates(tmp_path):
    controls = read_controls([_write_vector(tmp_path / "i.gpkg", [_rectangle()])], UTM)
    with pytest.raises(InputError):
        controls.values_at([1.0, 2.0], [1.0])
