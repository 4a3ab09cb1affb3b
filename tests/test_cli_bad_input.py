"""Bad input: one sentence naming the file / column / row, exit code 2, no traceback, no outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoanomaly.cli import main


def run_bad(args, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    message = err.strip()
    assert message.startswith("geoanomaly: error: ")
    assert "\n" not in message  # one sentence, one line
    return message


def assert_no_outputs(out):
    assert not out.exists() or not any(p for p in out.rglob("*") if p.is_file())


def test_missing_file(tmp_path, capsys):
    out = tmp_path / "out"
    msg = run_bad(["run", str(tmp_path / "nope.csv"), "--out", str(out)], capsys)
    assert "nope.csv" in msg
    assert_no_outputs(out)


def test_unreadable_format(tmp_path, capsys):
    bad = tmp_path / "survey.docx"
    bad.write_bytes(b"\x00\x01 not a table")
    out = tmp_path / "out"
    msg = run_bad(["run", str(bad), "--out", str(out)], capsys)
    assert "survey.docx" in msg
    assert_no_outputs(out)


def test_no_coordinates(tmp_path, capsys):
    f = tmp_path / "s.csv"
    pd.DataFrame({"id": range(10), "Cu_ppm": np.arange(10) + 1.0,
                  "Pb_ppm": np.arange(10) + 2.0}).to_csv(f, index=False)
    msg = run_bad(["run", str(f), "--out", str(tmp_path / "o")], capsys)
    assert "s.csv" in msg and "--x" in msg


def test_no_elements(tmp_path, capsys):
    f = tmp_path / "s.csv"
    pd.DataFrame({"x": np.arange(10.0) * 1000, "y": np.arange(10.0) * 1000,
                  "name": list("abcdefghij")}).to_csv(f, index=False)
    msg = run_bad(["run", str(f), "--out", str(tmp_path / "o")], capsys)
    assert "s.csv" in msg and "element" in msg.lower()


def test_named_column_missing(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    msg = run_bad(["run", str(survey), "--x", "LONGITUDE", "--y", "NORTHING", "--out", str(tmp_path / "o")], capsys)
    assert "LONGITUDE" in msg


def test_named_element_missing(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    msg = run_bad(["run", str(survey), "--elements", "Cu,Unobtainium", "--crs", "EPSG:32750",
                   "--out", str(tmp_path / "o")], capsys)
    assert "Unobtainium" in msg


def test_all_missing_element(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    table = pd.read_csv(survey)
    table["Pb_ppm"] = -9999
    f = tmp_path / "allmissing.csv"
    table.to_csv(f, index=False)
    out = tmp_path / "o"
    # An element missing everywhere is dropped and reported, not fatal; but if it is the only
    # element asked for, the run cannot go on.
    msg = run_bad(["run", str(f), "--elements", "Pb", "--crs", "EPSG:32750", "--out", str(out)],
                  capsys)
    assert "Pb" in msg
    assert_no_outputs(out)


def test_junk_value_names_row_and_column(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    table = pd.read_csv(survey, dtype=str)
    table.loc[9, "Zn_ppm"] = "see note"
    f = tmp_path / "junk.csv"
    table.to_csv(f, index=False)
    out = tmp_path / "o"
    msg = run_bad(["run", str(f), "--crs", "EPSG:32750", "--out", str(out)], capsys)
    assert "Zn_ppm" in msg and "11" in msg and "see note" in msg  # row 9 = line 11 of the file
    assert_no_outputs(out)


def test_rasters_on_different_grids(small_grid, tmp_path, capsys):
    import rasterio
    from rasterio.transform import from_origin

    folder, _ = small_grid
    with rasterio.open(folder / "Zn.tif", "w", driver="GTiff", height=30, width=50, count=1,
                       dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000.0, 2800000.0, 1000.0, 1000.0)) as dst:
        dst.write(np.ones((30, 50), dtype="float32"), 1)
    msg = run_bad(["run", str(folder), "--out", str(tmp_path / "o")], capsys)
    assert "Zn.tif" in msg


def test_unparseable_crs(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    msg = run_bad(["run", str(survey), "--crs", "EPSG:99999999", "--out", str(tmp_path / "o")],
                  capsys)
    assert "EPSG:99999999" in msg


def test_deposits_without_coordinates(small_csv, tmp_path, capsys):
    survey, _ = small_csv
    dep = tmp_path / "dep.csv"
    pd.DataFrame({"x": ["", "n/a"], "y": ["", "n/a"], "name": ["a", "b"]}).to_csv(dep, index=False)
    out = tmp_path / "o"
    msg = run_bad(["run", str(survey), "--crs", "EPSG:32750", "--deposits", str(dep), "--out",
                   str(out)], capsys)
    assert "dep.csv" in msg
    assert_no_outputs(out)


def test_bad_config_option(tmp_path, small_csv, capsys):
    survey, _ = small_csv
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epocs: 5\n")
    msg = run_bad(["run", str(survey), "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert "epocs" in msg


def test_debug_shows_traceback(tmp_path):
    from geoanomaly.errors import InputError

    with pytest.raises(InputError):
        main(["run", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"), "--debug"])


def test_failed_run_keeps_earlier_outputs(small_grid, tmp_path, capsys):
    """A failing rerun into a folder with earlier results leaves those results as they were."""
    folder, _ = small_grid
    out = tmp_path / "o"
    out.mkdir()
    (out / "scores.csv").write_text("earlier results\n")
    run_bad(["run", str(folder), "--elements", "Nope", "--out", str(out)], capsys)
    assert (out / "scores.csv").read_text() == "earlier results\n"
