"""Atomic outputs: a crash must never leave a file that looks complete but is not.

Every output of a run is first written into a hidden staging folder *inside* the output
directory (same filesystem, so :func:`os.replace` is an atomic rename), and only moved into
place when the whole run has succeeded. On any exception the staging folder is deleted and the
output directory is exactly as it was before the run.

Published files and folders get the permissions any file the user makes would get (0644 / 0755
under the usual umask 022, stricter under a stricter umask): a run's results are often read by
colleagues, and temporary-file helpers (``mkstemp`` 0600, ``mkdtemp`` 0700) would otherwise make
them owner-only. The umask is learnt from a folder made with mode 0777, never by setting it:
``os.umask`` is process-wide, and a streamed run writes from several threads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
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
    if not parent.is_dir():
        raise InputError(f"--out {path}: {parent} is a file, not a folder; give a folder for "
                         "the results.")
    try:  # os.access says yes to root on a read-only mount: try it
        tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=parent).cleanup()
    except OSError as err:
        raise InputError(f"--out {path}: {parent} cannot be written to ({err.strerror}); give "
                         "a folder you can write to.") from None
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
        self._file_mode = 0o644  # set from the umask in __enter__

    def __enter__(self) -> "OutputStaging":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir = _make_folder(self.out_dir, STAGING_PREFIX)
        # a folder made with 0777 has the umask's folder mode; files get the same less execute
        self._file_mode = stat.S_IMODE(self.staging_dir.stat().st_mode) & 0o666
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
            os.chmod(src, self._file_mode)  # whatever made it (mkstemp: 0600), a normal file
            os.replace(src, dest)
            self.published.append(dest)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename.

    The file gets the mode a newly created file gets under the user's umask (0644 with 022),
    not ``mkstemp``'s 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp_file(path)
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


def _make_folder(parent: Path, prefix: str) -> Path:
    """A new folder ``parent/prefix<random>`` made with mode 0777, so the umask decides its
    permissions as for any folder the user makes (``mkdtemp`` would force 0700)."""
    for _ in range(100):
        candidate = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            os.mkdir(candidate, 0o777)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free staging folder name in {parent}")  # pragma: no cover


def _create_temp_file(path: Path) -> tuple[int, str]:
    """(descriptor, name) of a new, empty hidden file beside ``path``, created with mode 0666
    so the umask decides its permissions; O_EXCL: never an existing file or a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name beside {path}")  # pragma: no cover
