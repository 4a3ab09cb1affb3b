"""A seeded sample of the valid cells of a large grid: what the cleaning rules, the transform's
statistics and the model are fitted on, and what percentile ranks and thresholds are read from.

A uniform sample of single cells would touch every block of every band, which costs as much
I/O as the scoring pass itself. The sample is drawn in two stages instead: blocks (the files'
own tiles or strips) in a seeded random order until they hold several times the sample size and
at least ``MIN_BLOCKS`` of them (so that it spreads over the map), then cells uniformly among the
valid cells of those blocks. When the sample size reaches the number of cells, every valid cell is
taken, in the grid's row-major order: then the streamed run is fitted on exactly what the
in-memory run is fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..survey import Survey
from .stack import RasterStack, Window

#: blocks read at least (or all of them), so that the sample spreads over the map
MIN_BLOCKS = 64
#: the blocks read hold at least this many times the sample size in cells
OVERSAMPLE = 3


@dataclass
class CellSample:
    """Sampled cells: grid rows / columns (row-major order) and their raw band values."""

    rows: np.ndarray  # int64
    cols: np.ndarray
    values: np.ndarray  # (n, bands) float32, NaN = no data
    n_blocks_read: int
    n_blocks: int
    cells_read: int
    whole_grid: bool  # every valid cell was taken

    @property
    def n(self) -> int:
        return int(self.rows.size)

    def describe(self) -> str:
        if self.whole_grid:
            return f"every valid cell ({self.n:,}) of the grid"
        return (f"a seeded random sample of {self.n:,} valid cells, drawn from "
                f"{self.n_blocks_read:,} of the grid's {self.n_blocks:,} blocks chosen at random "
                f"({self.cells_read:,} cells read)")

    def to_survey(self, stack: RasterStack) -> Survey:
        """The sampled cells as a table of points (no grid: neighbours are not sampled)."""
        x, y = stack.cell_centres(self.rows, self.cols)
        values = pd.DataFrame({key: self.values[:, b].astype(np.float64)
                               for b, key in enumerate(stack.keys)})
        return Survey(values=values, x=x, y=y, crs=stack.crs, units=dict(stack.units),
                      columns=dict(stack.columns), meta=None, grid=None,
                      sources=stack.sources, notes=list(stack.notes))


def _checked_size(size) -> int:
    size = int(size)
    if size < 100:
        raise InputError(f"--stream-sample {size} is too small to fit a model: give at least "
                         "100 cells (default 200,000).")
    return size


def sample_blocks(stack: RasterStack) -> list[Window]:
    """The grid cut into the files' own blocks (tiles; strips grouped to at least 16 rows)."""
    block_rows, block_cols = stack.block_shape()
    if block_cols >= stack.width:  # strips: a few rows at a time
        block_rows = max(block_rows, 16)
        block_cols = stack.width
    return [Window(r, min(r + block_rows, stack.height), c, min(c + block_cols, stack.width))
            for r in range(0, stack.height, block_rows)
            for c in range(0, stack.width, block_cols)]


def draw_sample(stack: RasterStack, size: int, seed: int, bands: list[int] | None = None,
                progress=None, workers: int = 1) -> CellSample:
    """Draw ``size`` valid cells (see the module docstring); ``bands`` limits what is read and
    what makes a cell valid (a value in any of them). Blocks are read ``workers`` at a time in
    threads; the result does not depend on ``workers``."""
    from concurrent.futures import ThreadPoolExecutor

    size = _checked_size(size)
    rng = np.random.default_rng(seed)
    blocks = sample_blocks(stack)
    take_all = size >= stack.n_cells
    order = np.arange(len(blocks)) if take_all else rng.permutation(len(blocks))
    need_cells = OVERSAMPLE * size
    workers = max(1, int(workers))

    def read(i):
        window = blocks[i]
        data = stack.read(window, bands)  # (bands, r, c)
        flat = data.reshape(data.shape[0], -1)
        valid = ~np.isnan(flat[0])
        for band in flat[1:]:
            valid |= ~np.isnan(band)
        index = np.flatnonzero(valid)
        r, c = np.divmod(index, window.shape[1])
        return (r + window.row0, c + window.col0, np.take(flat, index, axis=1),
                window.shape[0] * window.shape[1])

    # bottom-k sampling: every valid cell read gets a random key (drawn in block order, so the
    # same seed gives the same sample) and the ``size`` smallest keys are kept -- a uniform
    # sample of the cells read, in memory bounded by a few times the sample
    parts: list[tuple] = []
    held = n_read = cells_read = n_valid = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, len(order), 2 * workers):
            for rows, cols, values, n_cells in pool.map(read, order[first:first + 2 * workers]):
                parts.append((rng.random(rows.size), rows, cols, values))
                held += rows.size
                n_read += 1
                cells_read += n_cells
                n_valid += rows.size
                if progress is not None:
                    progress(n_read, len(order) if take_all else None)
            if held > 4 * size:
                parts = [_smallest_keys(parts, size)]
                held = parts[0][0].size
            if not take_all and n_valid >= need_cells and n_read >= min(MIN_BLOCKS, len(blocks)):
                break
    keys, rows_all, cols_all, values_all = _smallest_keys(parts, size)
    values_all = values_all.T  # cells as rows from here on
    if rows_all.size == 0:
        raise InputError(f"Every cell of {', '.join(map(str, stack.sources))} that was read is "
                         "nodata: check the files' nodata value.")
    whole = n_read == len(blocks) and rows_all.size == n_valid
    order_rm = np.lexsort((cols_all, rows_all))  # row-major, as the in-memory reader
    return CellSample(rows=rows_all[order_rm], cols=cols_all[order_rm],
                      values=np.ascontiguousarray(values_all[order_rm]), n_blocks_read=n_read, n_blocks=len(blocks),
                      cells_read=cells_read, whole_grid=bool(whole))


def _smallest_keys(parts: list[tuple], size: int) -> tuple:
    """The parts (keys, rows, cols, values) joined, keeping the ``size`` smallest keys; each
    part's values are gathered only for its kept cells (the values are the bulk)."""
    keys = np.concatenate([p[0] for p in parts])
    limit = np.partition(keys, size - 1)[size - 1] if keys.size > size else np.inf
    kept = []
    for part in parts:
        keep = np.flatnonzero(part[0] <= limit)
        kept.append((part[0][keep], part[1][keep], part[2][keep],
                     np.take(part[3], keep, axis=1)))  # values are (bands, cells)
    return (*(np.concatenate([p[k] for p in kept]) for k in range(3)),
            np.concatenate([p[3] for p in kept], axis=1))


def quantile_error(n: int, p: float = 0.99) -> float:
    """Standard error of a sample quantile's rank: sqrt(p (1 - p) / n) (for a simple random
    sample; a sample drawn by blocks is somewhat less precise)."""
    return math.sqrt(p * (1 - p) / max(n, 1))


#: side of the square pieces a map model's sample is cut into, and the masked gap between them
#: in the mosaic it is fitted on (wider than any map model's window: no window spans two pieces)
PIECE = 64
GAP = 16


@dataclass
class PieceSample:
    """Square pieces of the grid for a map model: windows and their raw band values."""

    pieces: list  # [(Window, (bands, rows, cols) float32)]
    n_blocks: int
    whole_grid: bool

    @property
    def n(self) -> int:
        return int(sum(np.isfinite(d).any(axis=0).sum() for _, d in self.pieces))

    def describe(self) -> str:
        if self.whole_grid:
            return f"every valid cell ({self.n:,}) of the grid"
        return (f"{len(self.pieces)} pieces of {PIECE} x {PIECE} cells ({self.n:,} valid cells) "
                f"drawn at random from the grid's {self.n_blocks:,}, fitted as a mosaic with "
                f"masked gaps of {GAP} cells between them")

    def mosaic(self, stack: RasterStack):
        """(Survey on a mosaic grid, grid rows, grid columns, piece-interior reach) of the pieces:
        a map model is fitted on it as on a map. The rows / columns say where each valid
        mosaic cell lies on the real grid (row-major mosaic order); ``interior(reach)`` is True
        for the cells at least ``reach`` cells from their piece's edge. The whole grid is one
        piece on the grid's own transform (then the fit is the in-memory one)."""
        from ..survey import Grid

        if self.whole_grid:
            window, data = self.pieces[0]
            transform, (height, width), step = stack.transform, window.shape, 0
            per_row = 1
        else:
            per_row = int(np.ceil(np.sqrt(len(self.pieces))))
            n_rows = int(np.ceil(len(self.pieces) / per_row))
            step = PIECE + GAP
            height, width = n_rows * step - GAP, per_row * step - GAP
            transform = stack.transform
        image = np.full((len(stack.bands), height, width), np.nan, dtype=np.float32)
        real_row = np.full((height, width), -1, dtype=np.int64)
        real_col = np.full((height, width), -1, dtype=np.int64)
        edge = np.full((height, width), -1, dtype=np.int64)  # distance to the piece's edge
        for k, (window, data) in enumerate(self.pieces):
            r0, c0 = (0, 0) if self.whole_grid else ((k // per_row) * step, (k % per_row) * step)
            h, w = window.shape
            image[:, r0:r0 + h, c0:c0 + w] = data
            rr, cc = np.mgrid[:h, :w]
            real_row[r0:r0 + h, c0:c0 + w] = rr + window.row0
            real_col[r0:r0 + h, c0:c0 + w] = cc + window.col0
            edge[r0:r0 + h, c0:c0 + w] = np.minimum(np.minimum(rr, h - 1 - rr),
                                                    np.minimum(cc, w - 1 - cc))
        valid = np.isfinite(image).any(axis=0)
        rows, cols = np.nonzero(valid)
        x, y = stack.cell_centres(rows, cols)
        values = pd.DataFrame({key: image[b][valid].astype(np.float64)
                               for b, key in enumerate(stack.keys)})
        grid = Grid(transform=transform, width=width, height=height, crs=stack.crs, valid=valid)
        survey = Survey(values=values, x=x, y=y, crs=stack.crs, units=dict(stack.units),
                        columns=dict(stack.columns), meta=None, grid=grid,
                        sources=stack.sources, notes=list(stack.notes))
        distance = edge[valid]
        whole = self.whole_grid

        def interior(reach: int) -> np.ndarray:
            return np.ones(distance.size, bool) if whole else distance >= reach

        return survey, real_row[valid], real_col[valid], interior


def draw_pieces(stack: RasterStack, size: int, seed: int, workers: int = 1) -> PieceSample:
    """Pieces of ``PIECE`` x ``PIECE`` cells in a seeded random order until they hold ``size``
    valid cells (at least ``MIN_BLOCKS`` // 4 pieces, or all); the whole grid as one piece when
    ``size`` reaches the number of cells."""
    from concurrent.futures import ThreadPoolExecutor

    size = _checked_size(size)
    if size >= stack.n_cells:
        whole = Window(0, stack.height, 0, stack.width)
        return PieceSample([(whole, stack.read(whole))], 1, True)
    windows = [Window(r, min(r + PIECE, stack.height), c, min(c + PIECE, stack.width))
               for r in range(0, stack.height, PIECE) for c in range(0, stack.width, PIECE)]
    order = np.random.default_rng(seed).permutation(len(windows))
    pieces, n_valid = [], 0
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        for first in range(0, len(order), 4 * max(1, int(workers))):
            chosen = [windows[i] for i in order[first:first + 4 * max(1, int(workers))]]
            for window, data in zip(chosen, pool.map(stack.read, chosen)):
                count = int(np.isfinite(data).any(axis=0).sum())
                if count:
                    pieces.append((window, data))
                    n_valid += count
            if n_valid >= size and len(pieces) >= MIN_BLOCKS // 4:
                break
    if not pieces:
        raise InputError(f"Every cell of {', '.join(map(str, stack.sources))} is nodata: check "
                         "the files' nodata value.")
    return PieceSample(pieces, len(windows), False)
