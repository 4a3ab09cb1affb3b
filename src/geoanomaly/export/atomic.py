"""Atomic outputs: a crash must never leave a file that looks complete but is not.

Every output of a run is first written into a hidden staging folder *inside* the output
directory (same filesystem, so :func:`os.replace` is an atomic rename), and only moved into
place when the whole run has succeeded. On any exception the staging folder is deleted and the
output directory is exactly as it was before the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

STAGING_PREFIX = ".geoanomaly-staging-"


def check_output_folder(out: str | os.PathLike) -> Path:
    """The output folder, refused with one sentence before any work when it is a file or
    cannot be created or written to."""
    from ..errors import InputError

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is a file, not a folder: give a folder for the results.")
    parent = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: {parent} cannot be written to; give a folder you can "
                         "write to.")
    return path


class OutputStaging:
    """Context manager that stages a run's output files and publishes them all at the end.

    >>> with OutputStaging(out_dir) as staging:            # doctest: +SKIP
    ...     write_scores_csv(staging.path("scores.csv"), ...)
    ...     write_grid_geotiff(staging.path("maps/score.tif"), ...)

    On clean exit each staged file replaces the file of the same name in ``out_dir`` (files the
    run did not write are left alone) and the staging folder is removed. On exception nothing
    in ``out_dir`` changes. ``published`` lists the final paths after a successful exit.
    """

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        self.staging_dir: Path | None = None
        self.published: list[Path] = []

    def __enter__(self) -> "OutputStaging":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out_dir))
        return self

    def path(self, name: str | os.PathLike) -> Path:
        """Where to write output ``name`` (relative to ``out_dir``; sub-folders are created)."""
        if self.staging_dir is None:
            raise RuntimeError("OutputStaging.path() used outside its 'with' block")
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"output name {str(name)!r} must be a relative path inside the output folder")
        target = self.staging_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def __exit__(self, exc_type, exc, tb) -> bool:
        staging_dir, self.staging_dir = self.staging_dir, None
        try:
            if exc_type is None:
                self._publish(staging_dir)
        finally:
            shutil.rmtree(staging_dir, ignore_errors=True)
        return False  # never swallow the exception

    def _publish(self, staging_dir: Path) -> None:
        # Sorted so that the order is deterministic; files only (folders are recreated).
        staged = sorted(p for p in staging_dir.rglob("*") if p.is_file())
        for src in staged:
            rel = src.relative_to(staging_dir)
            dest = self.out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            self.published.append(dest)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
