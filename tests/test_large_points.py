"""Large point surveys (issue 8, item 3), checked on small data: the pyarrow CSV reader gives the
same Survey as the pandas reader, cleaning by distinct values gives the same numbers, the map
of many points is aggregated only above the limit, the GeoPackage holds every point, and the
progress bars show only when asked for."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geoanomaly.clean import clean
from geoanomaly.clean.values import parse_values
from geoanomaly.errors import InputError
from geoanomaly.io import read_survey
from geoanomaly.io import samples as samples_module

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "large_points.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("large_points", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_both(path, monkeypatch, **kwargs):
    """(fast survey, table used the fast reader, pandas survey) of one file."""
    used = {}
    original = samples_module._read_text_arrow

    def spy(*args):
        result = original(*args)
        used["arrow"] = result is not None
        return result

    monkeypatch.setattr(samples_module, "_read_text_arrow", spy)
    fast = read_survey([str(path)], **kwargs)
    monkeypatch.setattr(samples_module, "_read_text_arrow", lambda *args: None)
    slow = read_survey([str(path)], **kwargs)
    monkeypatch.setattr(samples_module, "_read_text_arrow", original)
    return fast, used.get("arrow", False), slow


def assert_same_survey(a, b):
    pd.testing.assert_frame_equal(a.values, b.values, check_exact=True)
    pd.testing.assert_frame_equal(a.meta, b.meta, check_exact=True)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert (a.units, a.columns, a.notes) == (b.units, b.columns, b.notes)
    ca, ra = clean(a)
    cb, rb = clean(b)
    pd.testing.assert_frame_equal(ca.values, cb.values, check_exact=True)
    pd.testing.assert_frame_equal(ra.per_element, rb.per_element, check_exact=True)
    assert ra.notes == rb.notes


TRICKY = """SampleID,Easting,Northing,Batch,Date,Cu_ppm,Au_ppb,As_ppm,Pb_ppm,Zn_ppm,Ag_ppm,Longitude
00017,500000.5,6500000.25,B1,2020-01-03,12.5,<1,3.2,0.12345678901234567,45,-0.05,116.50
00018,500100,6500100,B1,2020-01-03,-9999,BDL,< 0.5,17,46, 0.2,116.50
00019,500200,6500200,,2020-01-04, 13 ,2,n.a.,18.25,,0.3,116.50
,,,,,,,,,,,
00020,500300,6500300,B2,2020-01-05,1e1,>1000,4,19,-,0.4,116.50

00021,500400,6500400,B2,2020-01-06,0,3,5,1.5E+1,48,<0.05ppm,116.50
00022,500500.123456789,6500500,"B 3",2020-01-07,14,4,6,20,49,0.5,116.50
"""


def test_arrow_reader_matches_pandas_on_lab_codes(tmp_path, monkeypatch):
    """Codes, sentinels, negative limits, blanks, blank lines, padded and long numbers, ids
    with leading zeros and text columns: the same Survey and the same cleaning."""
    path = tmp_path / "tricky.csv"
    path.write_text(TRICKY, encoding="utf-8")
    fast, used_arrow, slow = read_both(path, monkeypatch)
    assert used_arrow
    assert_same_survey(fast, slow)
    assert fast.meta["SampleID"].iloc[0] == "00017"  # ids keep their text
    assert fast.meta["Longitude"].iloc[0] == "116.50"  # read as a number, kept as text
    # a long number is read as pandas reads it (which is not always Python's float), as before
    assert fast.values["Pb"].iloc[0] == pd.to_numeric(pd.Series(["0.12345678901234567"]))[0]


def test_arrow_reader_matches_pandas_on_generated_survey(tmp_path, monkeypatch):
    path = load_bench().write_point_survey(tmp_path / "points.csv", 3000, 40, seed=1)
    fast, used_arrow, slow = read_both(path, monkeypatch, crs="EPSG:32750")
    assert used_arrow
    assert_same_survey(fast, slow)
    assert fast.n == 3000 and len(fast.elements) == 40


def test_arrow_reader_comma_decimals_and_bom(tmp_path, monkeypatch):
    path = tmp_path / "euro.csv"
    text = ("X;Y;Cu_ppm;Zn_ppm;Au_ppb\n1,5;2,5;12,5;3;<0,5\n2,5;3,5;13;4,25;1,5\n"
            "3,5;4,5;14,5;5;2\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    fast, used_arrow, slow = read_both(path, monkeypatch)
    assert used_arrow
    assert_same_survey(fast, slow)
    assert fast.x.tolist() == [1.5, 2.5, 3.5]


@pytest.mark.parametrize("content, encoding", [
    ("x,y,Cu,\n1,2,3,4\n5,6,7,8\n", "utf-8"),            # unnamed column
    ("x,y,Cu,Zn\n1,2,3,4\n5,6,7\n", "utf-8"),             # short row
    ("x,y,Cu,Site\n1,2,3,Zürich\n5,6,7,Köln\n", "latin-1"),
])
def test_files_the_fast_reader_refuses_read_as_before(tmp_path, monkeypatch, content, encoding):
    path = tmp_path / "odd.csv"
    path.write_bytes(content.encode(encoding))
    fast, used_arrow, slow = read_both(path, monkeypatch)
    assert not used_arrow
    assert_same_survey(fast, slow)


def test_a_repeated_header_is_refused_the_same_way_by_both_readers(tmp_path, monkeypatch):
    path = tmp_path / "twice.csv"
    path.write_text("x,y,Cu,Cu,Zn\n1,2,3,4,5\n5,6,7,8,9\n", encoding="utf-8")
    messages = errors_of_both_readers(monkeypatch, lambda: read_survey([str(path)]))
    assert messages[0] == messages[1] and "the header Cu appears twice" in messages[0]


def test_junk_cell_error_names_the_same_line(tmp_path, monkeypatch):
    path = tmp_path / "junk.csv"
    path.write_text("x,y,Cu_ppm\n1,2,3\n2,3,4\n3,4,abc\n", encoding="utf-8")
    messages = errors_of_both_readers(monkeypatch, lambda: clean(read_survey([str(path)])))
    assert messages[0] == messages[1] and "row 4" in messages[0]


def errors_of_both_readers(monkeypatch, read) -> list[str]:
    """The InputError messages of ``read()`` with the fast (arrow) reader and with pandas."""
    messages = []
    for reader in (samples_module._read_text_arrow, lambda *args: None):
        monkeypatch.setattr(samples_module, "_read_text_arrow", reader)
        with pytest.raises(InputError) as err:
            read()
        messages.append(str(err.value))
    return messages


def test_parse_values_reads_plain_numbers_as_python_floats():
    texts = [" 12.5", "0.12345678901234567", "1e-3", "<0.5", "BDL", "-9999", "-0.01", "7",
             "3.3e+2 ", None, "", "1.5ppm"] * 50
    parsed = parse_values(pd.Series(texts, dtype=object), "Cu_ppm", "test.csv", unit="ppm")
    for i, text in enumerate(texts[:12]):
        if text in (" 12.5", "0.12345678901234567", "1e-3", "7", "3.3e+2 "):
            assert parsed.values[i] == float(text.strip())
    assert parsed.counts == {"n_below_detection": 150, "n_missing": 150, "n_sentinel": 50,
                             "n_above_limit": 0, "n_zero": 0}
    assert parsed.values[11] == 1.5 and parsed.detection_limit[3] == 0.5


def text_fraction_rows(column: pd.Series) -> float:
    """The row-by-row rule text_fraction had before it worked on distinct values."""
    from geoanomaly.io.columns import _FLAG_VALUE

    if column.dtype.kind in "biufc":
        return 0.0
    if (pd.to_numeric(column, errors="coerce").notna() == column.notna()).all():
        return 0.0
    values = column.dropna().astype(str)
    values = values[values.str.strip() != ""]
    if values.empty:
        return 0.0
    numeric = pd.to_numeric(values.str.strip(), errors="coerce").notna()
    flags = values[~numeric].str.match(_FLAG_VALUE)
    return float((~numeric).sum() - flags.sum()) / len(values)


@pytest.mark.parametrize("values", [
    ["1", "2", "<0.5", "abc", "abc", None, "  ", "BDL", "x1"],
    ["1", "2", "3"], [None, None], ["a", "b", "a"], [" ", ""], [1.0, "a", np.nan, "<1"],
])
def test_text_fraction_by_distinct_values_is_unchanged(values):
    from geoanomaly.io.columns import text_fraction

    column = pd.Series(values * 7, dtype=object)
    assert text_fraction(column) == pytest.approx(text_fraction_rows(column), abs=0)


# ------------------------------------------------------------------------------ the map


def test_aggregated_map_only_above_the_limit(monkeypatch):
    from geoanomaly.export import figures

    calls = []
    original = figures.aggregate_points
    monkeypatch.setattr(figures, "aggregate_points",
                        lambda *a, **k: calls.append(len(a[0])) or original(*a, **k))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, 3000), rng.uniform(0, 500, 3000)
    score = rng.random(3000)
    png = figures.score_map(score, x=x, y=y, classes=(score > 0.9).astype(int),
                            max_points=2000)
    assert calls == [3000] and png.startswith(b"\x89PNG")
    figures.score_map(score[:1500], x=x[:1500], y=y[:1500], max_points=2000)
    assert calls == [3000]


def test_aggregate_points_keeps_the_highest_score_per_pixel():
    from geoanomaly.export.figures import aggregate_points

    x = np.array([0.0, 0.1, 9.9, 10.0, 5.0])
    y = np.array([0.0, 0.1, 0.0, 5.0, np.nan])
    image, extent = aggregate_points(x, y, np.array([1.0, 3.0, 2.0, 4.0, 99.0]), pixels=2)
    assert image.shape == (1, 2)  # 10 x 5 units, 5-unit pixels: 2 wide, 1 high
    assert image.tolist() == [[3.0, 4.0]]
    assert extent == (0.0, 10.0, 0.0, 5.0)


# ------------------------------------------------------------------------------ GeoPackage


def test_gpkg_holds_every_point_with_its_attributes(tmp_path):
    import pyogrio

    from geoanomaly.export.writers import write_points_gpkg

    rng = np.random.default_rng(2)
    n = 3000
    x, y = rng.uniform(3e5, 4e5, n), rng.uniform(6.5e6, 6.6e6, n)
    ids = np.array([f"S{i:05d}" for i in range(n)], dtype=object)
    ids[7] = None
    columns = {"score": rng.random(n), "class": rng.integers(0, 4, n),
               "class_name": np.array(["background", "p95", "p99", "p99.9"],
                                      dtype=object)[rng.integers(0, 4, n)],
               "sample_id": ids, "Cu_ppm": rng.lognormal(3, 1, n)}
    path = write_points_gpkg(tmp_path / "a.gpkg", x, y, "EPSG:32750", columns)
    back = pyogrio.read_dataframe(path)
    info = pyogrio.read_info(path)
    assert info["features"] == n and info["geometry_type"] == "Point"
    assert back.crs.to_epsg() == 32750
    np.testing.assert_array_equal(back.geometry.x.to_numpy(), x)
    np.testing.assert_array_equal(back.geometry.y.to_numpy(), y)
    for name, column in columns.items():
        got = back[name].to_numpy()
        if name == "sample_id":
            assert got[7] is None and list(got[:7]) == list(column[:7])
        else:
            np.testing.assert_array_equal(got, column)
    assert list(back.columns[:-1]) == list(columns)


# ------------------------------------------------------------------------------ progress


def test_progress_bars_only_when_asked(tmp_path, capsys, monkeypatch):
    from geoanomaly import progress

    monkeypatch.setattr(progress, "BAR_DELAY_S", 0.0)
    path = load_bench().write_point_survey(tmp_path / "points.csv", 300, 8, seed=0)
    with progress.showing(False):
        clean(read_survey([str(path)]))
    assert capsys.readouterr().err == ""
    with progress.showing(True):
        clean(read_survey([str(path)]))
    err = capsys.readouterr().err
    assert re.search(r"reading points\.csv", err) and "cleaning" in err


# ------------------------------------------------------------------------------ scores.csv


def test_scores_csv_has_the_bytes_pandas_wrote(tmp_path):
    from geoanomaly.export.writers import write_scores_csv

    rng = np.random.default_rng(4)
    n = 3000
    x, y = rng.uniform(3e5, 4e5, n), rng.uniform(6.5e6, 6.6e6, n)
    score = rng.lognormal(0, 3, n)
    score[[1, 2, 3, 4]] = [np.nan, np.inf, -0.0, 1e-300]
    cls = rng.integers(0, 4, n)
    ids = np.array([f"S{i}" for i in range(n)], dtype=object)
    ids[5], ids[6], ids[7] = "a,b", 'say "x"', None
    extra = {"score_std": rng.random(n), "sample_id": ids,
             "near_deposit": rng.integers(0, 2, n)}
    for classes in (cls, None):
        path = write_scores_csv(tmp_path / "fast.csv", x, y, score, classes,
                                class_names=["background", "p95", "p99", "p99.9"], extra=extra)
        table = pd.DataFrame({"x": x, "y": y, "score": score})
        table["class"] = pd.array([pd.NA] * n if classes is None else classes, dtype="Int64")
        table["class_name"] = "" if classes is None else \
            np.array(["background", "p95", "p99", "p99.9"], dtype=object)[classes]
        for name, column in extra.items():
            table[name] = column
        table.to_csv(tmp_path / "pandas.csv", index=False, float_format="%.10g",
                     lineterminator="\n")
        assert path.read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_quoted_line_breaks_read_as_pandas_reads_them(tmp_path, monkeypatch):
    path = tmp_path / "quoted.csv"
    path.write_text('x,y,Cu_ppm,Note\n1,2,3,"two\nlines"\n4,5,6,plain\n7,8,<1,"a, b"\n',
                    encoding="utf-8")
    fast, used_arrow, slow = read_both(path, monkeypatch)
    assert used_arrow
    assert_same_survey(fast, slow)
    assert fast.meta["Note"].tolist() == ["two\nlines", "plain", "a, b"]


def test_run_shows_stage_bars_only_with_progress(tmp_path, capsys, monkeypatch):
    import geoanomaly
    from geoanomaly import progress

    monkeypatch.setattr(progress, "BAR_DELAY_S", 0.0)
    path = load_bench().write_point_survey(tmp_path / "points.csv", 400, 8, seed=0)
    for shown in (False, True):
        geoanomaly.run(sources=[str(path)], out=str(tmp_path / f"out_{shown}"), model="pca",
                       crs="EPSG:32750", progress=shown)
        err = capsys.readouterr().err
        for stage in ("reading points.csv", "cleaning", "fitting pca", "writing"):
            assert (stage in err) == shown, stage
