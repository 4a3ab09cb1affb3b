"""Streamed grids (stream/): the same result as the in-memory path where they can be compared,
sampling, per-cell cleaning, column-wise transform and scores, COG outputs, a Dask cluster,
refusals. Small rasters and tiny windows keep it fast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import geoanomaly
from geoanomaly.errors import InputError

ELEMENTS = ["Cu", "Pb", "Zn", "As", "Sb", "Fe", "Mn", "Ni"]


def write_grid(folder: Path, height=48, width=56, seed=0, tiled=False) -> Path:
    """Eight element rasters with the traps of real grids: nodata -9999 in a corner, a few
    negative-coded detection limits, zeros, NaN cells, two enriched spots."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    base = rng.standard_normal((2, height, width)).cumsum(axis=1).cumsum(axis=2) / 30
    rr, cc = np.mgrid[:height, :width]
    spot = np.exp(-((rr - 12) ** 2 + (cc - 15) ** 2) / 6.0) + \
        np.exp(-((rr - 35) ** 2 + (cc - 40) ** 2) / 6.0)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
               "dtype": "float32", "crs": "EPSG:32750", "nodata": -9999.0,
               "transform": from_origin(400000, 7000000, 100, 100)}
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    for k, element in enumerate(ELEMENTS):
        values = np.exp(1 + base[k % 2] * (0.5 + 0.1 * k) + 0.3 * rng.standard_normal(
            (height, width)) + (2.0 * spot if element in ("Cu", "As", "Sb") else 0.0))
        values = values.astype(np.float32)
        values[:6, :8] = -9999.0  # an unsurveyed corner
        values[rng.random((height, width)) < 0.01] = -0.5  # below a detection limit of 0.5
        if element == "Ni":
            values[rng.random((height, width)) < 0.02] = 0.0
            values[20, 20] = np.nan
        with rasterio.open(folder / f"{element}_ppm.tif", "w", **profile) as dst:
            dst.write(values, 1)
    pd.DataFrame({"name": ["a", "b", "c"], "x": [400000 + 15.5 * 100, 400000 + 40.5 * 100,
                                                 400000 + 3.5 * 100],
                  "y": [7000000 - 12.5 * 100, 7000000 - 35.5 * 100, 7000000 - 2.5 * 100]}
                 ).to_csv(folder.parent / "deposits.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory) -> Path:
    return write_grid(tmp_path_factory.mktemp("stream") / "grids")


def read_band(path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1, masked=True)


def run_streamed(grid_dir, out, **options):
    common = dict(sources=[str(grid_dir)], deposits=str(grid_dir.parent / "deposits.csv"),
                  epochs=4, seed=0, stream="on", stream_window=16)
    common.update(options)
    return geoanomaly.run(out=str(out), **common)


def test_streamed_equals_in_memory_when_the_sample_is_the_whole_grid(grid_dir, tmp_path):
    memory = geoanomaly.run(sources=[str(grid_dir)], out=str(tmp_path / "mem"), epochs=4,
                            seed=0, deposits=str(grid_dir.parent / "deposits.csv"),
                            stream="off")
    streamed = run_streamed(grid_dir, tmp_path / "str", stream_sample=10**9)
    a, b = read_band(tmp_path / "mem" / "anomaly.tif"), read_band(tmp_path / "str" /
                                                                   "anomaly.tif")
    assert np.array_equal(a.mask, b.mask)
    # float32 transform and column-wise network against float64 / row-wise: the raw scores
    # agree to float32 rounding, which is enough to break the tie of a cell with its own copy in
    # the rank reference (or to swap two near-equal scores): ranks within one step 1 / n
    n = int((~a.mask).sum())
    assert float(np.abs(a - b).max()) <= 1.0 / n
    auc_m = memory.metrics["protocols"]["samples"]["roc_auc"]
    auc_s = streamed.metrics["protocols"]["samples"]["roc_auc"]
    assert auc_s == pytest.approx(auc_m, abs=1e-3)
    for metrics in (memory.metrics, streamed.metrics):  # the top-level contract of metrics.json
        primary = metrics["protocols"]["samples"]
        assert metrics["protocol"] == "samples"
        assert all(metrics[k] == primary[k] for k in ("roc_auc", "roc_auc_ci", "n_positive",
                                                     "n_negative"))
    assert streamed.streamed["whole_grid"]
    assert streamed.streamed["n_valid"] == int((~a.mask).sum())


@pytest.fixture(scope="module")
def sampled_run(grid_dir, tmp_path_factory):
    """One streamed run fitted on 600 sampled cells, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("sampled") / "out"
    return run_streamed(grid_dir, out, stream_sample=600), out


def test_streamed_outputs_are_cogs_with_classes_metrics_and_report(sampled_run):
    import rasterio

    result, out = sampled_run
    assert {"anomaly.tif", "classes.tif", "metrics.json", "report.html", "run.yaml",
            "model"} <= set(result.files)
    assert not list(out.rglob("*.part.tif")) and not list(out.glob(".geoanomaly-staging-*"))
    with rasterio.open(out / "anomaly.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags()["MODEL"] == "vae" and "sample" in src.tags()["STREAMED"]
        scores = src.read(1, masked=True)
    with rasterio.open(out / "classes.tif") as src:
        classes = src.read(1, masked=True)
        tags = src.tags()
    assert tags["CLASS_0"] == result.thresholds.class_names[0]
    assert np.array_equal(scores.mask, classes.mask)
    # the classes follow the thresholds taken from the sampled cells
    cuts = result.thresholds.thresholds
    assert np.array_equal(np.asarray(classes[~classes.mask]),
                          np.searchsorted(cuts, np.asarray(scores[~scores.mask]), side="right"))
    metrics = json.loads((out / "metrics.json").read_text())
    samples = metrics["protocols"]["samples"]
    assert samples["n_positive"] == 2  # the third deposit lies in the nodata corner
    assert samples["roc_auc_ci"] is not None and "sample" in samples["negatives"]
    assert metrics["n_deposits_outside"] == 1
    assert metrics["streamed"]["sample_size"] == 600 and not metrics["streamed"]["whole_grid"]
    report = (out / "report.html").read_text()
    assert "fitted on" in report and "Counts over the 600 sampled cells" in report


def test_streamed_targets_are_the_classed_map_and_every_layer_is_styled(sampled_run):
    import pyogrio
    from scipy import ndimage

    result, out = sampled_run
    assert {"targets.gpkg", "anomaly.qml", "classes.qml", "targets.qml"} <= set(result.files)
    targets = pyogrio.read_dataframe(out / "targets.gpkg", layer="targets")
    import rasterio

    with rasterio.open(out / "classes.tif") as src:
        classes = src.read(1, masked=True)
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
    # one target per 8-connected region of each class and above, with its cells' area
    for k in range(1, len(result.thresholds.class_names)):
        _, n_regions = ndimage.label(np.asarray(classes.filled(0)) >= k, np.ones((3, 3)))
        assert (targets["class"] == k).sum() == n_regions
        assert targets.loc[targets["class"] == k, "area_km2"].sum() == pytest.approx(
            int((np.asarray(classes.filled(0)) >= k).sum()) * cell_km2)
    report = (out / "report.html").read_text()
    assert "At a glance" in report and "Streamed grid: targets delineated on the published map" \
        in report


def test_same_seed_same_map_and_window_size_changes_nothing_but_rounding(grid_dir, tmp_path,
                                                                         sampled_run):
    run_streamed(grid_dir, tmp_path / "b", stream_sample=600)
    run_streamed(grid_dir, tmp_path / "c", stream_sample=600, stream_window=40)
    a = read_band(sampled_run[1] / "anomaly.tif")
    assert np.array_equal(a, read_band(tmp_path / "b" / "anomaly.tif"))
    c = read_band(tmp_path / "c" / "anomaly.tif")
    # another window size puts cells at other places in the network's chunks: float32
    # rounding, ranks within one step of the 600-cell reference
    assert float(np.abs(a - c).max()) <= 1.0 / 600


@pytest.fixture(scope="module")
def cluster_address():
    """A real two-worker LocalCluster (worker processes of one thread), shared by the tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_two_worker_dask_cluster_gives_the_same_map_bit_for_bit(grid_dir, tmp_path,
                                                                  sampled_run, cluster_address):
    result = run_streamed(grid_dir, tmp_path / "dask", stream_sample=600,
                          scheduler=cluster_address)
    assert "2 workers" in result.streamed["executor"]
    for name in ("anomaly.tif", "classes.tif"):
        local, remote = read_band(sampled_run[1] / name), read_band(tmp_path / "dask" / name)
        assert np.array_equal(local.filled(0), remote.filled(0))
        assert np.array_equal(local.mask, remote.mask)


def test_rows_of_a_point_survey_are_scored_on_the_cluster_with_the_same_scores(
        cluster_address, monkeypatch):
    import geoanomaly.cluster as cluster
    from geoanomaly import pipeline
    from geoanomaly.config import make_config
    from geoanomaly.detect import make_detector

    monkeypatch.setattr(cluster, "ROWS_PER_TASK", 8192)  # several tasks on a small survey
    X = np.random.default_rng(0).standard_normal((30000, 6)).astype(np.float32)
    detector = make_detector("vae", epochs=1, seed=0).fit(X[:3000])
    scores, where = cluster.score_rows_on_cluster(cluster_address, detector, X)
    assert "2 workers" in where
    np.testing.assert_array_equal(scores, detector.anomaly_score(X))
    # the pipeline sends rows there when --scheduler is given with a table

    class Data:
        notes: list = []

    config = make_config(sources=["x.csv"], out="o", scheduler=cluster_address)
    np.testing.assert_array_equal(pipeline.score_rows(config, Data, detector, X[:9000]),
                                  scores[:9000])
    assert "Rows scored on the Dask scheduler" in Data.notes[-1]


def test_the_sample_is_seeded_uniform_and_independent_of_threads(grid_dir):
    from geoanomaly.stream.sample import draw_sample
    from geoanomaly.stream.stack import open_stack

    stack = open_stack([str(grid_dir)])
    one = draw_sample(stack, 500, seed=3, workers=1)
    two = draw_sample(stack, 500, seed=3, workers=3)
    assert np.array_equal(one.rows, two.rows) and np.array_equal(one.cols, two.cols)
    assert np.array_equal(one.values, two.values, equal_nan=True)
    other = draw_sample(stack, 500, seed=4)
    assert not np.array_equal(one.rows * 1000 + one.cols, other.rows * 1000 + other.cols)
    assert one.n == 500 and (np.diff(one.rows * stack.width + one.cols) > 0).all()
    everything = draw_sample(stack, 10**9, seed=0)
    from geoanomaly.io.rasters import read_rasters

    assert everything.whole_grid and everything.n == read_rasters([str(grid_dir)]).n


def test_blocks_of_a_tiled_grid_spread_the_sample(tmp_path):
    from geoanomaly.stream.sample import draw_sample
    from geoanomaly.stream.stack import open_stack

    stack = open_stack([str(write_grid(tmp_path / "g", 96, 96, tiled=True))])
    assert stack.block_shape() == (16, 16)
    sample = draw_sample(stack, 300, seed=0)
    assert sample.n_blocks == 36 and sample.n_blocks_read == 36  # at least MIN_BLOCKS or all
    # uniform within the blocks read: every block holds some of the sample
    blocks = set(zip(sample.rows // 16, sample.cols // 16))
    assert len(blocks) >= 30


def test_cell_cleaning_applies_the_rules_fitted_on_the_sample():
    from geoanomaly.clean import CleaningOptions, clean
    from geoanomaly.stream.cells import CellCleaner
    from geoanomaly.survey import Survey

    rng = np.random.default_rng(0)
    raw = np.exp(rng.standard_normal((400, 3))).astype(np.float32)
    raw[::17, 0] = -0.25  # below 0.25
    raw[::13, 1] = 0.0  # below an unknown limit
    raw[::11, 2] = -9999.0  # not analysed
    raw[5, :] = np.nan  # no data at all
    raw[7, 1] = np.nan
    survey = Survey(values=pd.DataFrame(raw.astype(float), columns=["A", "B", "C"]),
                    x=np.arange(400.0), y=np.zeros(400), crs=None, units={}, columns={},
                    meta=None, grid=None, sources=["test"], notes=[])
    cleaned, report = clean(survey, CleaningOptions())
    cleaner = CellCleaner.fit(["A", "B", "C"], ["A", "B", "C"], raw, cleaned.values,
                              report.imputed, CleaningOptions())
    values, valid = cleaner.apply(np.ascontiguousarray(raw.T))
    assert valid.sum() == cleaned.n and not valid[5]
    np.testing.assert_allclose(values.T, cleaned.values.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("method", ["log10", "clr", "ilr", "alr", "none"])
def test_transform_columns_equals_transform(method):
    from geoanomaly.transform import Transformer

    rng = np.random.default_rng(1)
    values = pd.DataFrame(np.exp(rng.standard_normal((300, 5))), columns=list("ABCDE"))
    t = Transformer(method=method).fit(values)
    columns = np.ascontiguousarray(values.to_numpy(np.float32).T)
    np.testing.assert_allclose(t.transform_columns(columns).T, t.transform(values),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model,score", [("vae", "enrich-elbo"), ("vae", "recon"),
                                         ("vae", "enrich"), ("vae", "kl"), ("ae", "enrich"),
                                         ("vae", "rp")])
def test_score_columns_equals_anomaly_score(model, score):
    from geoanomaly.detect import make_detector

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 6)).astype(np.float32)
    X[:30] += 3.0
    params = dict(score=score, epochs=3, seed=0, **({"n_samples": 5} if score == "rp" else {}))
    if score == "enrich-elbo":
        params["feature_weights"] = [3, 1, 1, 1, 1, 1]
    detector = make_detector(model, **params).fit(X)
    expected = detector.anomaly_score(X)
    got = detector.score_columns(np.ascontiguousarray(X.T))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_percentile_rank_of_the_reference_itself_is_rankdata():
    from scipy.stats import rankdata

    from geoanomaly.stream.scoring import percentile_rank

    scores = np.round(np.random.default_rng(0).standard_normal(1000), 1)  # many ties
    np.testing.assert_allclose(percentile_rank(scores, np.sort(scores)),
                               rankdata(scores) / scores.size)


def test_what_is_not_streamed_is_refused_with_the_reason(grid_dir, tmp_path):
    csv = tmp_path / "points.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "Cu": [1.0, 2.0]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match="table of samples"):
        geoanomaly.run(sources=[str(csv)], out=str(tmp_path / "o1"), stream="on")
    with pytest.raises(InputError, match="infodan reads the cleaned compositions"):
        geoanomaly.run(sources=[str(grid_dir)], out=str(tmp_path / "o2"), stream="on",
                       model="infodan")
    with pytest.raises(InputError, match="pcvae learns from deposits or geology"):
        geoanomaly.run(sources=[str(grid_dir)], out=str(tmp_path / "o2"), stream="on",
                       model="pcvae")
    with pytest.raises(InputError, match="at least 100"):
        geoanomaly.run(sources=[str(grid_dir)], out=str(tmp_path / "o3"), stream="on",
                       stream_sample=10)
    with pytest.raises(InputError, match="Cannot reach the Dask scheduler"):
        geoanomaly.run(sources=[str(grid_dir)], out=str(tmp_path / "o4"), epochs=2,
                       scheduler="tcp://127.0.0.1:9", stream_sample=500)
    for name in ("o1", "o2", "o3", "o4"):
        assert not (tmp_path / name / "anomaly.tif").exists()


def test_a_failure_while_scoring_leaves_the_output_folder_as_it_was(grid_dir, tmp_path,
                                                                    monkeypatch):
    from geoanomaly.stream import scoring

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    calls = {"n": 0}
    original = scoring.WindowScorer.__call__

    def failing(self, window):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("disk gone")
        return original(self, window)

    monkeypatch.setattr(scoring.WindowScorer, "__call__", failing)
    with pytest.raises(RuntimeError, match="disk gone"):
        run_streamed(grid_dir, out, stream_sample=500, workers=1)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_auto_streams_only_large_grids(grid_dir, monkeypatch):
    import geoanomaly.stream as stream
    from geoanomaly.config import make_config

    config = make_config(sources=[str(grid_dir)], out="x")
    assert not stream.should_stream(config)
    monkeypatch.setattr(stream, "STREAM_AUTO_VALUES", 1000)
    assert stream.should_stream(config)
    assert not stream.should_stream(make_config(sources=[str(grid_dir)], out="x",
                                                stream="off"))


def test_cli_streams_with_options(grid_dir, tmp_path):
    from geoanomaly.cli import main

    code = main(["run", str(grid_dir), "--out", str(tmp_path / "cli"), "--stream", "on",
                 "--stream-sample", "700", "--stream-window", "20", "--epochs", "2",
                 "--workers", "1", "--no-progress"])
    assert code in (0, None)
    record = (tmp_path / "cli" / "run.yaml").read_text()
    assert "grid (streamed)" in record and "stream_window: 20" in record


def test_a_streamed_map_model_equals_the_in_memory_one_on_the_whole_grid(tmp_path):
    """A map model's windows reach across window borders: each streamed window is read with that
    reach as a halo, so the map is the in-memory map (to float32 rounding of the ranks)."""
    small = write_grid(tmp_path / "small" / "grids", 30, 36)
    common = dict(sources=[str(small)], model="ganomaly-map", epochs=2, seed=0)
    geoanomaly.run(out=str(tmp_path / "mem"), stream="off", **common)
    result = geoanomaly.run(out=str(tmp_path / "str"), stream="on", stream_window=16,
                            stream_sample=10**9, **common)
    a, b = read_band(tmp_path / "mem" / "anomaly.tif"), read_band(tmp_path / "str" /
                                                                   "anomaly.tif")
    assert np.array_equal(a.mask, b.mask)
    assert float(np.abs(a - b).max()) <= 1.0 / int((~a.mask).sum())
    assert any("reach" in note for note in result.data.notes)


def test_map_model_pieces_form_a_mosaic_that_maps_back_to_the_grid(tmp_path):
    from geoanomaly.stream import sample as sampling
    from geoanomaly.stream.stack import open_stack

    stack = open_stack([str(write_grid(tmp_path / "g", 150, 170, tiled=True))])
    pieces = sampling.draw_pieces(stack, 5000, seed=1)
    assert not pieces.whole_grid and len(pieces.pieces) >= 2
    survey, rows, cols, interior = pieces.mosaic(stack)
    assert survey.n == pieces.n == rows.size
    full = stack.read(sampling.Window(0, stack.height, 0, stack.width))
    key = stack.keys.index("Cu")
    np.testing.assert_array_equal(survey.values["Cu"].to_numpy(np.float32),
                                  full[key][rows, cols])
    # pieces never touch in the mosaic: no window of reach GAP - 1 spans two of them
    gap = survey.grid.valid.copy()
    assert gap.sum() == survey.n
    assert interior(4).sum() < survey.n and interior(0).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) == rows.size  # no cell twice
