"""Atomic output staging: a failed run leaves the output folder untouched."""

import os

import pytest

from geoanomaly.export.atomic import STAGING_PREFIX, OutputStaging, atomic_write_text


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_success_publishes_files_and_removes_staging(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("old")
    (out / "keep.txt").write_text("not ours")
    with OutputStaging(out) as staging:
        staged = staging.path("scores.csv")
        assert staged.parent.name.startswith(STAGING_PREFIX) and staged.parent.parent == out
        staged.write_text("new")
        staging.path("maps/score.tif").write_bytes(b"tif")
        assert (out / "scores.csv").read_text() == "old"  # nothing visible before the end
    assert (out / "scores.csv").read_text() == "new"
    assert (out / "maps" / "score.tif").read_bytes() == b"tif"
    assert (out / "keep.txt").read_text() == "not ours"
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert sorted(p.name for p in staging.published) == ["score.tif", "scores.csv"]


def test_exception_leaves_out_dir_unchanged(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("old")
    (out / "sub").mkdir()
    (out / "sub" / "a.txt").write_text("a")
    before = _snapshot(out)
    with pytest.raises(RuntimeError, match="boom"):
        with OutputStaging(out) as staging:
            staging.path("scores.csv").write_text("half written")
            staging.path("report.html").write_text("<html>")
            raise RuntimeError("boom")
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["scores.csv", "sub"]


def test_creates_missing_out_dir_and_rejects_escaping_names(tmp_path):
    out = tmp_path / "new" / "dir"
    with OutputStaging(out) as staging:
        with pytest.raises(ValueError):
            staging.path("../evil.txt")
        staging.path("a.txt").write_text("x")
    assert (out / "a.txt").read_text() == "x"


def test_atomic_write_text_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("old")
    atomic_write_text(target, "new: 1\n")
    assert target.read_text() == "new: 1\n"
    assert os.listdir(tmp_path) == ["config.yaml"]
