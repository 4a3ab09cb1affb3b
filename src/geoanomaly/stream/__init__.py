"""Streamed grids: the flow of pipeline.py for rasters too large to hold, window by window.

``stack.py`` describes the bands and reads windows; ``sample.py`` draws the seeded sample of
cells everything is fitted on; ``cells.py`` is the cleaning as a per-cell function;
``scoring.py`` scores one window (the unit of work of a thread or a Dask worker); ``cog.py``
writes the maps window by window and publishes them as Cloud Optimized GeoTIFFs; ``run.py``
wires them together.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

#: cells x bands above which ``--stream auto`` streams a grid: the in-memory path holds about
#: 60 bytes per value (float64 copies), so 50 M values already take about 3 GB
STREAM_AUTO_VALUES = 50_000_000


def is_grid_input(sources) -> bool:
    from ..io import _is_raster_source

    paths = [Path(s) for s in sources]
    return bool(paths) and all(p.exists() and _is_raster_source(p) for p in paths)


def should_stream(config) -> bool:
    """Whether this run goes window by window (``config.stream``; auto: by the grid's size)."""
    if config.stream == "off":
        if config.scheduler and is_grid_input(config.sources):
            raise InputError("--scheduler scores a grid window by window: drop --stream off, "
                             "or drop --scheduler.")
        return False
    if not all(Path(s).exists() for s in config.sources):
        return False  # the reader says which path is missing
    if not is_grid_input(config.sources):
        if config.stream == "on":
            raise InputError(f"--stream on works on grids (GeoTIFFs); "
                             f"{', '.join(map(str, config.sources))} is a table of samples: "
                             "leave it out (a large table is read whole; --scheduler scores "
                             "its rows on a cluster).")
        return False  # a table: with --scheduler its rows are scored on the cluster
    if config.stream == "on" or config.scheduler:
        return True
    from .stack import open_stack, stack_values

    return stack_values(open_stack(config.sources)) > STREAM_AUTO_VALUES
