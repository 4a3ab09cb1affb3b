"""A Dask cluster for the work that splits into independent pieces (``--scheduler ADDRESS``).

Two kinds of work go to a cluster: the windows of a streamed grid (stream/run.py) and the
rows of a large point survey (pipeline.py). In both the model is fitted where geoanomaly runs;
the workers receive the fitted object once (scattered) and apply it to pieces whose boundaries
do not depend on the cluster, so the result is the same, bit for bit, as a local run. Results
come back to the client, which writes them: the workers need the input paths (grids) but
never write into the output folder.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

#: rows per task when a point survey is scored on a cluster: a multiple of the detectors'
#: scoring chunk, so that each row is scored in the same chunk as locally
ROWS_PER_TASK = 8192 * 32


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Fail before the fit, not after it, when nothing listens at the scheduler's address."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise InputError(f"--scheduler {address} is not an address like tcp://host:8786.")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout).close()
    except OSError as err:
        raise InputError(f"Cannot reach the Dask scheduler at {address} ({err.strerror or err}); "
                         "start one with `dask scheduler` and workers with `dask worker "
                         "ADDRESS`, or leave --scheduler out.") from None


def _client(address: str):
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("--scheduler needs the package distributed (pip install "
                         "'dask[distributed]').") from None
    check_scheduler(address)
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError) as err:
        raise InputError(f"Cannot reach the Dask scheduler at {address} ({err}); start one "
                         "with `dask scheduler` and workers with `dask worker ADDRESS`.") from None
    n_workers = len(client.scheduler_info().get("workers", {}))
    if n_workers == 0:
        client.close()
        raise InputError(f"The Dask scheduler at {address} has no workers: start some with "
                         f"`dask worker {address}`.")
    return client, n_workers


def apply_to(function, piece):
    """A task: ``function(piece)`` (module level, so that workers can import it)."""
    return function(piece)


def map_on_cluster(address: str, function, pieces, take) -> str:
    """``take(function(piece))`` for every piece, the calls run on the cluster's workers, at
    most four tasks per worker in flight (so results never pile up in memory); ``take`` is
    called on the client as results arrive, in any order. Returns where it ran, in words."""
    from distributed import as_completed

    client, n_workers = _client(address)
    with client:
        remote = client.scatter(function, broadcast=True)
        queue = iter(pieces)
        first = [client.submit(apply_to, remote, piece, pure=False)
                 for _, piece in zip(range(4 * n_workers), queue)]
        running = as_completed(first)
        for future in running:
            take(future.result())
            future.release()
            piece = next(queue, None)
            if piece is not None:
                running.add(client.submit(apply_to, remote, piece, pure=False))
    return f"the Dask scheduler {address} ({n_workers} workers)"


class RowScorer:
    """A fitted detector applied to a slice of rows, on one torch thread (as windows are)."""

    def __init__(self, detector, X):
        self.detector = detector
        self.X = X

    def __call__(self, bounds):
        from .stream.scoring import configure_worker

        configure_worker()
        start, stop = bounds
        return start, np.asarray(self.detector.anomaly_score(self.X[start:stop]),
                                 dtype=np.float64)


def score_rows_on_cluster(address: str, detector, X) -> tuple[np.ndarray, str]:
    """The detector's scores of every row of ``X``, computed on the cluster's workers in
    slices of ``ROWS_PER_TASK`` rows (the rows travel with the scattered scorer)."""
    n = int(X.shape[0])
    scores = np.empty(n, dtype=np.float64)

    def take(result):
        start, values = result
        scores[start:start + values.size] = values

    where = map_on_cluster(address, RowScorer(detector, X),
                           [(s, min(s + ROWS_PER_TASK, n)) for s in range(0, n, ROWS_PER_TASK)],
                           take)
    return scores, where
