"""Targets from classed maps (geoanomaly.delineate): synthetic maps whose targets are known."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from pyproj import CRS

from geoanomaly.delineate import COLUMNS, delineate_targets, write_targets_gpkg
from geoanomaly.errors import InputError
from geoanomaly.survey import Grid

NAMES = ["background", ">= p90", ">= p95", ">= p99"]
THRESHOLDS = [1.0, 2.0, 3.0]
CELL = 100.0  # metres
X0, Y0 = 500000.0, 4000000.0  # top-left corner, EPSG:32650


def _grid(height=60, width=60, crs="EPSG:32650", valid=None):
    if valid is None:
        valid = np.ones((height, width), dtype=bool)
    return Grid(Affine(CELL, 0, X0, 0, -CELL, Y0), width, height,
                None if crs is None else CRS.from_user_input(crs), valid)


def _centre(row, col):
    """Map coordinates of the centre of cell (row, col)."""
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def _three_blobs():
    """A: 5 x 5 at class 1 around 3 x 3 at class 2 around one class-3 cell (score 5);
    B: 4 x 4 all class 3 (peak 4); C: 3 x 3 class 1 plus one cell touching it at a corner."""
    image = np.zeros((60, 60))
    image[5:10, 5:10] = 1.5
    image[6:9, 6:9] = 2.5
    image[7, 7] = 5.0
    image[30:34, 30:34] = 3.2
    image[31, 31] = 4.0
    image[40:43, 5:8] = 1.2
    image[43, 8] = 1.1  # diagonal neighbour of (42, 7)
    valid = np.ones((60, 60), dtype=bool)
    valid[50:, 50:] = False  # a no-data corner: scores come per valid cell
    image[50:, 50:] = 9.0  # would be a target if it were valid
    return image, _grid(valid=valid)


def test_two_p99_blobs_and_one_p90_blob_give_the_known_nested_ranked_targets():
    image, grid = _three_blobs()
    targets = delineate_targets(grid, grid.from_image(image), THRESHOLDS, NAMES)
    f = targets.frame
    assert list(f.columns) == list(COLUMNS) + ["geometry"]
    # rank: class descending, then peak: A3 (5), B3 (4), A2, B2, A1, B1, C1
    assert f["class"].tolist() == [3, 3, 2, 2, 1, 1, 1]
    assert f["peak_score"].tolist() == [5.0, 4.0, 5.0, 4.0, 5.0, 4.0, 1.2]
    assert f["n_cells"].tolist() == [1, 16, 9, 16, 25, 16, 10]
    assert f["rank"].tolist() == list(range(1, 8))
    assert f["target_id"].tolist() == [f"T00{i}" for i in range(1, 8)]
    assert f["class_name"].tolist() == [NAMES[c] for c in f["class"]]
    expected_mean = [5.0, 3.25, 25 / 9, 3.25, (16 * 1.5 + 8 * 2.5 + 5) / 25, 3.25, 1.19]
    np.testing.assert_allclose(f["mean_score"], expected_mean)
    # area = n_cells x cell area, and the polygons are exactly the cells
    np.testing.assert_allclose(f["area_km2"], f["n_cells"] * CELL * CELL / 1e6)
    np.testing.assert_allclose(f.geometry.area, f["n_cells"] * CELL * CELL)
    # grid: every cell counts as a sample and all of them reach the class
    assert (f["n_samples"] == f["n_cells"]).all() and (f["n_anomalous_samples"] == f["n_cells"]).all()
    # nesting: the p99 core of A lies inside A's p95 target, which lies inside A's p90 one
    by_id = f.set_index("target_id")
    assert by_id.loc["T001", "parent_id"] == "T003" and by_id.loc["T003", "parent_id"] == "T005"
    assert by_id.loc["T002", "parent_id"] == "T004" and by_id.loc["T004", "parent_id"] == "T006"
    assert by_id.loc["T005", "parent_id"] is None
    assert by_id.loc["T001", "geometry"].within(by_id.loc["T003", "geometry"])
    assert by_id.loc["T003", "geometry"].within(by_id.loc["T005", "geometry"])
    np.testing.assert_allclose([by_id.loc["T001", "centroid_x"], by_id.loc["T001", "centroid_y"]],
                               _centre(7, 7))
    # no deposits, no contributions
    assert f["distance_to_deposit_m"].isna().all() and f["nearest_deposit"].isna().all()
    assert (f["top_elements"] == "").all() and targets.signature is None
    assert "7 targets" in targets.description and "nested" in targets.description
    assert targets.records(1)[0]["target_id"] == "T001"


def test_cells_touching_at_a_corner_form_one_target():
    image, grid = _three_blobs()
    f = delineate_targets(grid, image, THRESHOLDS, NAMES).frame  # an image works too
    c = f[f["peak_score"] == 1.2]
    assert len(c) == 1 and c["n_cells"].item() == 10
    geometry = c.geometry.item()
    assert geometry.geom_type == "MultiPolygon" and len(geometry.geoms) == 2
    assert geometry.area == pytest.approx(10 * CELL * CELL)


def test_holes_are_kept():
    image = np.zeros((20, 20))
    image[5:10, 5:10] = 1.5
    image[7, 7] = 0.0  # a background cell inside a ring
    f = delineate_targets(_grid(20, 20), image, THRESHOLDS, NAMES).frame
    assert len(f) == 1 and f["n_cells"].item() == 24
    polygon = f.geometry.item()
    assert polygon.geom_type == "Polygon" and len(polygon.interiors) == 1
    assert polygon.area == pytest.approx(24 * CELL * CELL)


def test_deposit_inside_is_at_distance_zero_and_outside_at_its_metric_distance():
    image, grid = _three_blobs()
    inside_a = _centre(7, 7)
    east_of_b = (X0 + 34 * CELL + 250.0, _centre(31, 31)[1])  # 250 m east of B's edge
    f = delineate_targets(grid, grid.from_image(image), THRESHOLDS, NAMES,
                          deposits_xy=[inside_a, east_of_b], deposit_names=["Alpha", "Beta"]).frame
    a = f[f["peak_score"] == 5.0]
    b = f[f["peak_score"] == 4.0]
    assert (a["distance_to_deposit_m"] == 0).all() and (a["nearest_deposit"] == "Alpha").all()
    np.testing.assert_allclose(b["distance_to_deposit_m"], 250.0)
    assert (b["nearest_deposit"] == "Beta").all()
    # C (rows 40-43, cols 5-8): nearest is Beta, from C's corner (x0 + 800, y0 - 4000)
    c = f[f["peak_score"] == 1.2]
    expected = np.hypot(east_of_b[0] - (X0 + 8 * CELL), (Y0 - 40 * CELL) - east_of_b[1])
    assert c["distance_to_deposit_m"].item() == pytest.approx(expected)
    # without names the deposit's index, as text
    f = delineate_targets(grid, grid.from_image(image), THRESHOLDS, NAMES,
                          deposits_xy=[inside_a, east_of_b]).frame
    assert f.loc[f["peak_score"] == 5.0, "nearest_deposit"].tolist() == ["0", "0", "0"]


def test_geographic_grid_area_is_close_to_the_metric_truth():
    """A 6 x 4 cell blob on a lon/lat grid near 45 N on the UTM central meridian: its area
    in UTM (scale factor 0.9996 -> area 0.08 % small there) is the metric truth."""
    import shapely
    from pyproj import Transformer

    d = 0.001  # degrees
    image = np.zeros((30, 30))
    image[10:14, 12:18] = 2.5
    grid = Grid(Affine(d, 0, 116.99, 0, -d, 45.02), 30, 30, CRS.from_epsg(4326),
                np.ones((30, 30), dtype=bool))
    f = delineate_targets(grid, image, THRESHOLDS, NAMES).frame
    assert f["n_cells"].tolist() == [24, 24]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    polygon = shapely.segmentize(f.geometry.iloc[0], d / 20)
    utm = shapely.transform(polygon, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    truth_km2 = utm.area / 0.9996**2 / 1e6
    assert f["area_km2"].iloc[0] == pytest.approx(truth_km2, rel=1e-5)
    # a cell of 0.001 degrees at 45 N is about 111 m x 79 m
    assert f["area_km2"].iloc[0] == pytest.approx(24 * 111.1 * 78.7 / 1e6, rel=1e-2)
    # a tall blob of 0.1 degree cells over 3 degrees of latitude: cells shrink northwards
    tall = np.zeros((40, 10))
    tall[5:35, 4:6] = 2.5
    big = Grid(Affine(0.1, 0, 116.9, 0, -0.1, 46.0), 10, 40, CRS.from_epsg(4326),
               np.ones((40, 10), dtype=bool))
    tall_target = delineate_targets(big, tall, THRESHOLDS, NAMES).frame.iloc[0]
    area = tall_target["area_km2"]
    polygon = shapely.segmentize(tall_target.geometry, 0.002)
    utm = shapely.transform(polygon, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    assert area == pytest.approx(utm.area / 0.9996**2 / 1e6, rel=2e-4)
    # distance in metres: a deposit 0.002 degrees of latitude north of the blob (~222 m)
    f = delineate_targets(grid, image, THRESHOLDS, NAMES,
                          deposits_xy=[(117.005, 45.02 - 10 * d + 2 * d)]).frame
    assert f["distance_to_deposit_m"].iloc[0] == pytest.approx(222.2, rel=5e-3)


def test_point_survey_drops_blobs_without_an_anomalous_sample_and_counts_samples():
    image = np.zeros((40, 40))
    image[5:10, 5:10] = 3.5  # blob 1: holds an anomalous sample
    image[25:30, 25:30] = 3.5  # blob 2: only a background sample (an IDW artefact)
    samples = np.array([_centre(6, 6), _centre(8, 8), _centre(9, 5), _centre(27, 27),
                        _centre(20, 20), (X0 - 500.0, Y0 + 500.0)])  # the last is off the grid
    sample_classes = np.array([3, 1, 0, 0, 3, 2])
    targets = delineate_targets(_grid(40, 40), image, THRESHOLDS, NAMES, samples_xy=samples,
                                sample_classes=sample_classes)
    f = targets.frame
    assert f["class"].tolist() == [3, 2, 1]
    assert (f["n_cells"] == 25).all()
    assert all(g.within(_box(5, 5, 10, 10)) for g in f.geometry)
    assert f["n_samples"].tolist() == [3, 3, 3]
    # class >= 3: one sample; >= 2: still one; >= 1: two
    assert f["n_anomalous_samples"].tolist() == [1, 1, 2]
    assert all(v["interpolation artefacts"] == 1 for v in targets.left_out.values())
    assert "interpolation artefacts" in targets.description
    with pytest.raises(InputError, match="sample_classes"):
        delineate_targets(_grid(40, 40), image, THRESHOLDS, NAMES, samples_xy=samples)


def _box(r0, c0, r1, c1):
    from shapely.geometry import box

    return box(X0 + c0 * CELL, Y0 - r1 * CELL, X0 + c1 * CELL, Y0 - r0 * CELL)


def test_top_elements_from_the_contributions_inside_each_target():
    blobs, grid = _three_blobs()
    elements = ["Cu", "Zn", "Pb", "Au"]
    rng = np.random.default_rng(1)
    contrib_img = rng.normal(0.0, 0.1, size=(60, 60, 4))
    contrib_img[5:10, 5:10] = [1.0, 5.0, 2.0, -1.0]  # A: Zn dominates, then Pb, Cu
    contrib_img[30:34, 30:34] = [-0.5, -0.5, -0.5, 3.0]  # B: only Au is positive
    contrib = contrib_img[grid.valid]
    f = delineate_targets(grid, grid.from_image(blobs), THRESHOLDS, NAMES,
                          contributions=contrib, elements=elements).frame
    assert (f.loc[f["peak_score"] == 5.0, "top_elements"] == "Zn, Pb, Cu").all()
    assert (f.loc[f["peak_score"] == 4.0, "top_elements"] == "Au").all()
    # per sample on a point survey: the mean over the samples inside
    image = np.zeros((20, 20))
    image[2:6, 2:6] = 2.5
    samples = np.array([_centre(3, 3), _centre(4, 4), _centre(15, 15)])
    per_sample = pd.DataFrame([[0.1, 4.0, 0.0, 0.0], [0.3, 2.0, 0.0, 5.0],
                               [9.0, 0.0, 0.0, 0.0]], columns=elements)
    f = delineate_targets(_grid(20, 20), image, THRESHOLDS, NAMES, samples_xy=samples,
                          sample_classes=[2, 0, 0], contributions=per_sample).frame
    assert f["top_elements"].tolist() == ["Zn, Au, Cu"] * 2  # means 3.0, 2.5, 0.2; Pb is 0
    with pytest.raises(InputError, match="element names"):
        delineate_targets(grid, grid.from_image(blobs), THRESHOLDS, NAMES,
                          contributions=contrib)


def test_signature_is_the_median_robust_z_of_log10_concentration_inside():
    image, grid = _three_blobs()
    rng = np.random.default_rng(2)
    logs = 1.0 + rng.normal(0.0, 0.1, size=(60, 60, 2))  # Cu, Zn around 10 ppm, sd 0.1 log10
    logs[30:34, 30:34, 1] += 2.0  # Zn 100 x background in B
    values = pd.DataFrame(10 ** logs[grid.valid], columns=["Cu", "Zn"])
    targets = delineate_targets(grid, grid.from_image(image), THRESHOLDS, NAMES,
                                signature_values=values)
    sig = targets.signature
    assert list(sig.columns) == ["Cu", "Zn"]
    assert list(sig.index) == targets.frame["target_id"].tolist()
    b_ids = targets.frame.loc[targets.frame["peak_score"] == 4.0, "target_id"]
    assert sig.loc[b_ids, "Zn"].between(17, 23).all()  # 2.0 / 0.1 robust SD
    assert sig["Cu"].abs().max() < 1.0  # Cu is background everywhere
    others = sig.drop(index=b_ids)
    assert others["Zn"].abs().max() < 1.0


def test_cap_keeps_the_highest_peaks_and_min_cells_drops_small_areas():
    image = np.zeros((30, 30))
    image[:15:3, ::3] = 1.0 + np.arange(50).reshape(5, 10) / 100  # 50 one-cell blobs
    image[20:24, 20:24] = 2.5  # one 16-cell p95 blob, away from them
    f_all = delineate_targets(_grid(30, 30), image, [1.0, 2.0], NAMES[:3]).frame
    targets = delineate_targets(_grid(30, 30), image, [1.0, 2.0], NAMES[:3], max_per_class=5)
    f = targets.frame
    top = f_all[f_all["class"] == 1].nlargest(5, "peak_score")["peak_score"].tolist()
    assert f.loc[f["class"] == 1, "peak_score"].tolist() == top
    assert int((f_all["class"] == 1).sum()) == 51
    assert targets.left_out[">= p90"]["over the per-class cap"] == 46
    assert targets.left_out[">= p95"]["over the per-class cap"] == 0
    assert "over the per-class cap" in targets.description
    f = delineate_targets(_grid(30, 30), image, [1.0, 2.0], NAMES[:3], min_cells=2).frame
    assert f["n_cells"].tolist() == [16, 16]


def test_gpkg_round_trip_keeps_targets_crs_and_description(tmp_path):
    import pyogrio

    image, grid = _three_blobs()
    targets = delineate_targets(grid, grid.from_image(image), THRESHOLDS, NAMES,
                                deposits_xy=[_centre(7, 7)])
    path = write_targets_gpkg(tmp_path / "targets.gpkg", targets)
    back = pyogrio.read_dataframe(path, layer="targets")
    assert len(back) == 7 and back.crs.equals(CRS.from_epsg(32650))
    assert back["target_id"].tolist() == targets.frame["target_id"].tolist()
    np.testing.assert_allclose(back.geometry.area, targets.frame.geometry.area)
    assert set(back.geom_type) == {"MultiPolygon"}
    with sqlite3.connect(path) as db:
        text = db.execute("select description from gpkg_contents where table_name = 'targets'"
                          ).fetchone()[0]
    assert text.startswith("7 targets")


def test_no_targets_still_writes_an_empty_layer_with_the_columns(tmp_path):
    import pyogrio

    grid = _grid(10, 10)
    targets = delineate_targets(grid, np.zeros(100), THRESHOLDS, NAMES,
                                signature_values=pd.DataFrame({"Cu": np.full(100, 5.0)}))
    assert len(targets) == 0 and targets.signature is not None and targets.signature.empty
    assert targets.description.startswith("No target")
    path = write_targets_gpkg(tmp_path / "targets.gpkg", targets, description="nothing found")
    info = pyogrio.read_info(path, layer="targets")
    assert info["features"] == 0 and info["geometry_type"] == "MultiPolygon"
    assert list(info["fields"]) == list(COLUMNS)
    assert info["ogr_types"][list(COLUMNS).index("rank")] == "OFTInteger64"
    assert info["ogr_types"][list(COLUMNS).index("target_id")] == "OFTString"
    assert CRS.from_user_input(info["crs"]).equals(CRS.from_epsg(32650))
    assert len(pyogrio.read_dataframe(path)) == 0


def test_bad_inputs_are_refused_in_one_sentence():
    grid = _grid(10, 10)
    with pytest.raises(InputError, match="class names"):
        delineate_targets(grid, np.zeros(100), THRESHOLDS, NAMES[:3])
    with pytest.raises(InputError, match="valid cells"):
        delineate_targets(grid, np.zeros(99), THRESHOLDS, NAMES)
    with pytest.raises(InputError, match="samples_xy"):
        delineate_targets(grid, np.zeros(100), THRESHOLDS, NAMES, contribution_rows="samples",
                          contributions=np.zeros((100, 1)), elements=["Cu"])


def test_samples_on_the_far_edge_of_an_idw_map_count_inside_it():
    """A survey on round coordinates puts its last column of samples exactly on the IDW map's
    east edge; a target reached only by such a sample must not be dropped as an artefact."""
    from geoanomaly.grid import idw_grid

    xs, ys = np.meshgrid(np.arange(0, 2000, 100.0) + 400_000, np.arange(0, 2000, 100.0) + 7e6)
    x, y = xs.ravel(), ys.ravel()
    score = np.random.default_rng(0).normal(size=x.size) * 0.1
    corner = np.argmax(x + 1e-6 * y)  # the north-east sample
    score[corner] = 10.0
    image, grid = idw_grid(x, y, score)
    targets = delineate_targets(grid, image[grid.valid], [3.0], ["background", "hot"],
                                samples_xy=np.column_stack([x, y]),
                                sample_classes=(score >= 3.0).astype(int))
    assert len(targets) == 1 and targets.frame["n_anomalous_samples"].iloc[0] == 1
