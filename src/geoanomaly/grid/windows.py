"""Masked image windows for the map models, and spatially blocked train/validation splits.

Convolutional and window models see a square of cells around each valid cell. Two rules keep
them honest:

* **Masks, not fake patches.** Cells outside the survey, no-data cells and values the cleaning
  imputed (an element median) are zero in the window *and* False in its mask, so a model can
  weigh its loss and its score by the mask; it never learns a median as if it were a sample.
* **Blocked splits.** Neighbouring windows share most of their cells, so a random split puts
  near-copies of the training windows into validation and early stopping learns nothing.
  ``blocked_split`` holds out whole square blocks of the map and drops the training windows
  whose footprint reaches into a held-out block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class WindowSet:
    """Windows centred on valid cells, with their masks."""

    patches: np.ndarray  # (n, channels, size, size) float32, 0 where not observed
    masks: np.ndarray  # (n, channels, size, size) bool: True = an observed value
    centres: np.ndarray  # (n,) index into the grid's valid cells of each window's centre
    size: int

    def __len__(self) -> int:
        return int(self.patches.shape[0])


def feature_images(grid, X, observed=None) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks), each (channels, height, width): the features of the valid cells put
    back on the grid, and True where a value was observed. ``observed`` (n_cells, channels)
    marks measured values (False where the cleaning imputed one); None = every valid cell."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != int(np.asarray(grid.valid).sum()):
        raise InputError(f"features of shape {X.shape} do not match the grid's "
                         f"{int(np.asarray(grid.valid).sum())} valid cells.")
    if observed is None:
        observed = np.ones(X.shape, dtype=bool)
    observed = np.asarray(observed, dtype=bool)
    if observed.shape != X.shape:
        raise InputError(f"the observed mask {observed.shape} does not match the features "
                         f"{X.shape}.")
    images = np.stack([grid.to_image(np.where(observed[:, j], X[:, j], 0.0), fill=0.0)
                       for j in range(X.shape[1])]).astype(np.float32)
    masks = np.stack([grid.to_image(observed[:, j].astype(float), fill=0.0) > 0.5
                      for j in range(X.shape[1])])
    return images, masks


def extract_windows(images: np.ndarray, masks: np.ndarray, grid, size: int,
                    centres: np.ndarray | None = None) -> WindowSet:
    """The ``size`` x ``size`` windows (odd size) around the valid cells ``centres`` (indices
    into the valid cells; None = all). Beyond the map edge a window is zero and masked."""
    size = int(size)
    if size < 1 or size % 2 == 0:
        raise InputError(f"window size must be a positive odd number of cells, got {size}.")
    half = size // 2
    rows, cols = grid.cell_rows_cols()
    if centres is None:
        centres = np.arange(rows.size)
    centres = np.asarray(centres, dtype=np.int64)
    padded = np.pad(images, ((0, 0), (half, half), (half, half)))
    padded_mask = np.pad(masks, ((0, 0), (half, half), (half, half)))
    r, c = rows[centres], cols[centres]
    offsets = np.arange(size)
    rr = (r[:, None] + offsets[None, :])[:, :, None]  # (n, size, 1) in padded coordinates
    cc = (c[:, None] + offsets[None, :])[:, None, :]  # (n, 1, size)
    patches = padded[:, rr, cc].transpose(1, 0, 2, 3)  # (n, channels, size, size)
    window_masks = padded_mask[:, rr, cc].transpose(1, 0, 2, 3)
    return WindowSet(np.ascontiguousarray(patches), np.ascontiguousarray(window_masks),
                     centres, size)


def blocked_split(grid, size: int, validation_fraction: float, seed: int,
                  block_cells: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training centres, validation centres), indices into the valid cells.

    The map is cut into square blocks of ``block_cells`` cells a side (default: four window
    widths); whole blocks are drawn, seeded, until they hold ``validation_fraction`` of the
    valid cells. A training window whose ``size`` x ``size`` footprint touches a validation
    block is dropped, so no validation cell is ever seen in training.
    """
    if not 0.0 < float(validation_fraction) < 1.0:
        raise InputError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
    size = int(size)
    block = int(block_cells or max(4 * size, 2))
    rows, cols = grid.cell_rows_cols()
    block_id = (rows // block) * (grid.width // block + 1) + cols // block
    blocks, counts = np.unique(block_id, return_counts=True)
    order = np.random.default_rng(int(seed)).permutation(blocks.size)
    target = float(validation_fraction) * rows.size
    chosen, total = [], 0
    for k in order:
        if total >= target:
            break
        chosen.append(blocks[k])
        total += counts[k]
    in_validation = np.isin(block_id, chosen)
    held_out = np.zeros((grid.height, grid.width), dtype=bool)
    held_out[rows[in_validation], cols[in_validation]] = True
    # a training window may not reach into a held-out cell: dilate the held-out area by the
    # window's half width (a maximum filter over the footprint)
    from scipy import ndimage

    reach = ndimage.maximum_filter(held_out, size=size, mode="constant", cval=False)
    touches = reach[rows, cols]
    train = np.flatnonzero(~in_validation & ~touches)
    validation = np.flatnonzero(in_validation)
    if train.size == 0 or validation.size == 0:
        raise InputError("the survey is too small for a blocked train/validation split with "
                         f"{size} x {size} windows; use smaller windows or blocks.")
    return train, validation


@dataclass
class GridInput:
    """What a map model (registry ``input_kind = "windows"``) takes in ``fit`` and
    ``anomaly_score``: the feature images, their observed masks, and the grid; a score comes
    back for every valid cell, in the grid's row order."""

    images: np.ndarray  # (channels, height, width) float32, 0 where not observed
    masks: np.ndarray  # (channels, height, width) bool
    grid: object  # survey.Grid
    feature_names: tuple[str, ...] = ()

    @property
    def n_cells(self) -> int:
        return int(np.asarray(self.grid.valid).sum())

    @property
    def n_channels(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_rows(cls, grid, X, observed=None, feature_names=()) -> "GridInput":
        images, masks = feature_images(grid, X, observed)
        return cls(images, masks, grid, tuple(feature_names))


@dataclass
class PointsOnGrid(GridInput):
    """A point survey gridded for a map model: scores of the cells come back to the samples
    through the cell holding each one (``to_samples``)."""

    sample_cell: np.ndarray | None = None
    description: str = ""

    def to_samples(self, cell_scores) -> np.ndarray:
        """Per sample, the score of its cell; a sample in no valid cell gets the lowest score
        (least anomalous) rather than a guess."""
        cell_scores = np.asarray(cell_scores, dtype=np.float64)
        out = np.full(self.sample_cell.shape, np.nan)
        inside = self.sample_cell >= 0
        out[inside] = cell_scores[self.sample_cell[inside]]
        if not inside.all():
            out[~inside] = np.nanmin(cell_scores)
        return out


def map_input(config, data) -> GridInput:
    """The input of a map model for a prepared survey: the grid's own cells, or for a point
    survey its elements gridded (``gridding.grid_point_survey``, ``--cell-size``) and
    transformed with the transform fitted on the samples."""
    if data.survey.is_grid:
        return GridInput.from_rows(data.survey.grid, data.X, data.observed, data.feature_names)
    from .gridding import grid_point_survey

    gridded = grid_point_survey(data.survey, data.metric_x, data.metric_y, data.metric_crs,
                                cell_size=config.cell_size)
    X = data.transformer.transform(gridded.survey.values)
    note = f"Map model input: the point survey gridded: {gridded.description}"
    if note not in data.notes:
        data.notes.append(note)
    images, masks = feature_images(gridded.survey.grid, X)
    return PointsOnGrid(images, masks, gridded.survey.grid, tuple(data.feature_names),
                        sample_cell=gridded.sample_cell, description=gridded.description)
