"""Progress bars for the stages that take seconds on a large survey (read, clean, detect, write).

The run's ``progress`` setting is switched on for a stretch of the flow with
``with showing(config.progress):`` instead of being handed down through every reader and
cleaner; code deep in a stage asks for a ``bar(...)``, which is silent unless showing is on.
A bar appears only when its stage lasts more than ``BAR_DELAY_S`` seconds, so small surveys
print nothing even with progress on. Bars go to stderr (tqdm), never into any output file.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

_SHOWING = contextvars.ContextVar("geoanomaly_progress", default=False)

#: a bar shows only once its stage has lasted this long (tqdm's ``delay``)
BAR_DELAY_S = 1.0


@contextmanager
def showing(enabled: bool):
    """Within the block, ``bar`` shows progress when ``enabled`` (the run's ``progress``)."""
    token = _SHOWING.set(bool(enabled))
    try:
        yield
    finally:
        _SHOWING.reset(token)


def is_showing() -> bool:
    return _SHOWING.get()


def bar(total: int | None, desc: str, unit: str = "step"):
    """A tqdm bar, disabled unless progress is showing; use as a context manager."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not _SHOWING.get(),
                delay=BAR_DELAY_S, leave=False, dynamic_ncols=True)
