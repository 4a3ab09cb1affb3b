"""Anomaly classes -> ranked target polygons for explorers (``targets.gpkg``).

A target is one connected area (8-neighbour: cells touching at a corner belong together) of
valid map cells whose class is at least k, for each anomaly class k >= 1. The classes are
cumulative, so targets are nested: a ">= p95" target lies inside a ">= p90" target (its
``parent_id``), and the same ground is listed once per class it reaches. That is what a
geologist reads off a classed map: the p90 outline of a halo and the p99 core within it.

Point surveys are delineated on their IDW display map (``export.outputs._map_grid``): an
interpolated blob is kept only when at least one *sample* of its class lies inside it, because
a blob that no sample reaches is an artefact of the interpolation, not an observation.

Ranking (1 = most prospective): class descending, then peak score descending, then area
descending, then position (the first cell in row-major order) so that ranks are deterministic.
``target_id`` is "T" + the rank, zero-padded ("T001"), so the same inputs give the same ids.

Areas are n_cells x cell area: metric cells for projected grids (the CRS's unit converted to
metres; a grid without CRS is taken to be in metres, as everywhere in the package), and for
lon/lat grids the geodesic area of each row's cell on the CRS's ellipsoid (exact for a
north-up grid; a rotated lon/lat grid falls back to the geodesic area of the polygon).
Distances to deposits are planar in a projected CRS and, for lon/lat grids, measured in the
UTM zone of the targets (``io.metres.metric_coordinates``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .threshold.simple import classify

#: at most this many targets per class are kept; beyond it the highest peak scores are kept
#: (a noisy map at p90 can hold hundreds of thousands of one-cell blobs nobody will visit)
MAX_TARGETS_PER_CLASS = 10_000
#: elements named in ``top_elements``
N_TOP_ELEMENTS = 3

#: the columns of a targets layer, in order, with their dtypes (an empty layer keeps them)
COLUMNS = {
    "target_id": "object", "rank": "int64", "class": "int64", "class_name": "object",
    "parent_id": "object", "area_km2": "float64", "n_cells": "int64", "peak_score": "float64",
    "mean_score": "float64", "n_samples": "int64", "n_anomalous_samples": "int64",
    "top_elements": "object", "distance_to_deposit_m": "float64", "nearest_deposit": "object",
    "centroid_x": "float64", "centroid_y": "float64",
}


@dataclass
class Targets:
    """The targets of one map: ``frame`` (a GeoDataFrame in the grid's CRS, one row per target,
    in rank order, columns :data:`COLUMNS` + geometry), ``signature`` (index target_id, one
    column per element: the median robust z of log10 concentration inside the target, or None
    without concentrations), ``description`` (one or two sentences for the report) and
    ``left_out`` (per class name: how many areas were dropped as too small, as interpolation
    artefacts, or by the per-class cap)."""

    frame: object  # geopandas.GeoDataFrame
    signature: pd.DataFrame | None
    description: str
    left_out: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def records(self, limit: int | None = None) -> list[dict]:
        """The attribute rows (no geometry) as plain dicts in rank order, NaN as None: what a
        report table needs."""
        table = pd.DataFrame(self.frame.drop(columns="geometry"))
        if limit is not None:
            table = table.head(limit)
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
                for row in rows]


def delineate_targets(grid, cell_scores, thresholds, class_names, *, samples_xy=None,
                      sample_classes=None, contributions=None, contribution_rows=None,
                      elements=None, deposits_xy=None, deposit_names=None,
                      signature_values=None, min_cells: int = 1,
                      max_per_class: int = MAX_TARGETS_PER_CLASS) -> Targets:
    """Delineate, measure and rank the targets of a classed map.

    ``grid``: a :class:`geoanomaly.survey.Grid`; ``cell_scores``: one score per valid cell (the
    survey's row order) or a (height, width) image. Cells are classed with ``thresholds``
    (ascending) as :func:`geoanomaly.threshold.classify` does; ``class_names`` has one more
    entry (background first).

    Point surveys pass ``samples_xy`` ((n, 2), the grid's CRS) and ``sample_classes`` (each
    sample's class from its own score); areas that hold no sample of their class are dropped.
    ``contributions`` ((rows, m), higher = pushes towards anomalous) and ``signature_values``
    ((rows, m) positive concentrations, a DataFrame) have one row per sample or per valid cell:
    ``contribution_rows`` "samples" or "cells", by default samples for a point survey and
    cells for a grid. ``elements`` names their columns (default: the DataFrame's columns).
    ``deposits_xy`` ((d, 2), the grid's CRS) and optional ``deposit_names`` give the distance to
    the nearest deposit (0 when one lies inside the target).

    Areas of fewer than ``min_cells`` cells are dropped; of the rest at most ``max_per_class``
    per class are kept, those with the highest peak scores (``left_out`` counts the others).
    """
    import geopandas as gpd
    import shapely

    valid = np.asarray(grid.valid, dtype=bool)
    height, width = int(grid.height), int(grid.width)
    if valid.shape != (height, width):
        raise InputError(f"the grid's valid mask has shape {valid.shape} but the grid is "
                         f"{height} x {width} cells; rebuild the grid.")
    scores = _scores_per_cell(cell_scores, valid)
    thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
    class_names = [str(c) for c in class_names]
    if len(class_names) != thresholds.size + 1:
        raise InputError(f"{thresholds.size} thresholds need {thresholds.size + 1} class names "
                         f"(background first), got {len(class_names)}.")
    if thresholds.size and np.any(np.diff(thresholds) < 0):
        raise InputError("the thresholds must be ascending; sort them with their class names.")
    if min_cells < 1 or max_per_class < 1:
        raise InputError(f"min_cells and max_per_class must be at least 1, got {min_cells} and "
                         f"{max_per_class}.")

    points = samples_xy is not None
    sample_rc = sample_cls = None
    if points:
        samples = np.asarray(samples_xy, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != 2:
            raise InputError(f"samples_xy must be an (n, 2) array of x, y, got shape "
                             f"{samples.shape}.")
        if sample_classes is None:
            raise InputError("a point survey needs sample_classes (each sample's class) to "
                             "tell real anomalies from interpolation artefacts.")
        sample_cls = np.asarray(sample_classes).astype(np.int64).ravel()
        if sample_cls.size != samples.shape[0]:
            raise InputError(f"sample_classes has {sample_cls.size} entries for "
                             f"{samples.shape[0]} samples.")
        sample_rc = _cells_of(grid, samples)
    rows_kind = contribution_rows or ("samples" if points else "cells")
    if rows_kind not in ("samples", "cells"):
        raise InputError(f"contribution_rows must be 'samples' or 'cells', got {rows_kind!r}.")
    if rows_kind == "samples" and not points:
        raise InputError("contribution_rows='samples' needs samples_xy; a grid survey has one "
                         "row per valid cell ('cells').")
    n_rows = sample_cls.size if rows_kind == "samples" else scores.size
    contrib, elements = _contributions(contributions, elements, signature_values, n_rows,
                                       rows_kind)
    z = None if signature_values is None else _robust_z(signature_values, n_rows)

    cell_area = _cell_area_m2(grid)  # scalar, per-row array, or None (polygon areas)
    cls_cells = classify(scores, thresholds) if thresholds.size else np.zeros(scores.size, int)
    cls_img = np.full((height, width), -1, dtype=np.int8)
    cls_img[valid] = cls_cells

    from scipy import ndimage

    structure = np.ones((3, 3), dtype=bool)
    parts, parents, signatures, left_out = [], [], [], {}
    previous = None  # (labels image, {label: part index}) of class k - 1
    for k in range(1, thresholds.size + 1):
        mask = cls_img >= k
        labels, n = ndimage.label(mask, structure=structure)
        counts_out = {"smaller than min_cells": 0, "interpolation artefacts": 0,
                      "over the per-class cap": 0}
        left_out[class_names[k]] = counts_out
        if n == 0:
            previous = (labels, {})
            continue
        inside = cls_cells >= k
        lab = labels[mask]  # row-major, aligned with scores[inside]
        sc = scores[inside]
        n_cells = np.bincount(lab, minlength=n + 1)
        sums = np.bincount(lab, weights=sc, minlength=n + 1)
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, lab, sc)
        if np.ndim(cell_area) == 1:
            area = np.bincount(lab, weights=cell_area[np.nonzero(mask)[0]], minlength=n + 1)
        elif cell_area is not None:
            area = n_cells * float(cell_area)
        else:
            area = None
        keep = np.ones(n + 1, dtype=bool)
        keep[0] = False
        small = keep & (n_cells < min_cells)
        counts_out["smaller than min_cells"] = int(small.sum())
        keep &= ~small
        if points:
            s_lab = _labels_at(labels, sample_rc)
            n_in = np.bincount(s_lab, minlength=n + 1)
            n_anom = np.bincount(s_lab[sample_cls >= k], minlength=n + 1)
            artefact = keep & (n_anom == 0)
            counts_out["interpolation artefacts"] = int(artefact.sum())
            keep &= ~artefact
        else:
            s_lab = None
            n_in = n_anom = n_cells
        kept = np.flatnonzero(keep)
        if kept.size > max_per_class:
            order = np.lexsort((kept, -peak[kept]))  # highest peak first, then position
            counts_out["over the per-class cap"] = int(kept.size - max_per_class)
            kept = np.sort(kept[order[:max_per_class]])
        if kept.size == 0:
            previous = (labels, {})
            continue

        first = _first_cells(lab, n)  # index into lab of each label's first cell
        parent_of = {}
        if previous is not None:
            prev_lab = previous[0][mask]
            parent_of = {int(l): previous[1].get(int(prev_lab[first[l]]))
                         for l in kept.tolist()}
        geoms = _polygons(labels, kept, grid.transform)
        if contrib is not None:
            row_lab = s_lab if rows_kind == "samples" else lab
            row_sel = None if rows_kind == "samples" else inside
            means = _group_means(contrib, row_lab, row_sel, n)
        if z is not None:
            row_lab = s_lab if rows_kind == "samples" else lab
            row_sel = None if rows_kind == "samples" else inside
            signatures.append(_group_medians(z, row_lab, row_sel, kept))
        index_of = {}
        for j, l in enumerate(kept.tolist()):
            index_of[l] = len(parts)
            parents.append(parent_of.get(l))
            top = ""
            if contrib is not None:
                top = _top_names(means[l], elements)
            parts.append({
                "class": k, "class_name": class_names[k], "n_cells": int(n_cells[l]),
                "area_m2": None if area is None else float(area[l]),
                "peak_score": float(peak[l]), "mean_score": float(sums[l] / n_cells[l]),
                "n_samples": int(n_in[l]), "n_anomalous_samples": int(n_anom[l]),
                "top_elements": top, "geometry": geoms[j],
            })
        previous = (labels, index_of)
    del previous

    crs = grid.crs
    if not parts:
        frame = _empty_frame(crs)
        signature = None if z is None else pd.DataFrame(
            columns=list(z.columns), index=pd.Index([], name="target_id"), dtype=float)
        return Targets(frame, signature, _description(frame, class_names, left_out, points),
                       left_out)

    table = pd.DataFrame(parts)
    geometry = gpd.GeoSeries(table.pop("geometry").to_list(), crs=crs)
    if table["area_m2"].isna().any():  # rotated lon/lat grid: geodesic polygon areas
        table["area_m2"] = _geodesic_areas(geometry, crs)
    first_cell_order = np.arange(len(table))  # parts are in class, then label (scan) order
    order = np.lexsort((first_cell_order, -table["area_m2"].to_numpy(),
                        -table["peak_score"].to_numpy(), -table["class"].to_numpy()))
    rank = np.empty(len(table), dtype=np.int64)
    rank[order] = np.arange(1, len(table) + 1)
    digits = max(3, len(str(len(table))))
    ids = np.array([f"T{r:0{digits}d}" for r in rank], dtype=object)
    parent = [None if p is None else ids[p] for p in parents]
    centroids = shapely.centroid(geometry.to_numpy())  # planar, also in degrees: a map label
    dist, nearest = _deposit_distances(geometry, deposits_xy, deposit_names, crs)
    frame = gpd.GeoDataFrame({
        "target_id": ids, "rank": rank, "class": table["class"].astype(np.int64),
        "class_name": table["class_name"].astype(object), "parent_id": parent,
        "area_km2": table["area_m2"] / 1e6, "n_cells": table["n_cells"].astype(np.int64),
        "peak_score": table["peak_score"], "mean_score": table["mean_score"],
        "n_samples": table["n_samples"].astype(np.int64),
        "n_anomalous_samples": table["n_anomalous_samples"].astype(np.int64),
        "top_elements": table["top_elements"].astype(object),
        "distance_to_deposit_m": dist, "nearest_deposit": nearest,
        "centroid_x": shapely.get_x(centroids), "centroid_y": shapely.get_y(centroids),
    }, geometry=geometry, crs=crs)
    frame = frame.iloc[order].reset_index(drop=True)
    signature = None
    if z is not None:
        values = np.vstack(signatures)  # rows in the order of parts
        signature = pd.DataFrame(values[order], columns=list(z.columns),
                                 index=pd.Index(list(ids[order]), name="target_id"))
    return Targets(frame, signature, _description(frame, class_names, left_out, points),
                   left_out)


def write_targets_gpkg(path, targets: Targets, layer: str = "targets",
                       description: str | None = None):
    """Write the targets as one polygon layer (MultiPolygon) of a GeoPackage; returns the path.

    ``description`` (default: the targets' own sentence) goes into the layer's DESCRIPTION
    (gpkg_contents.description, which QGIS shows as the layer abstract). With no targets the
    layer is still written, empty, with the same columns and types, so a script or a QGIS
    project that opens targets.gpkg works for every run.
    """
    import warnings
    from pathlib import Path

    import pyogrio

    path = Path(path)
    frame = targets.frame
    if len(frame) == 0:
        frame = _empty_frame(frame.crs)
    text = targets.description if description is None else description
    layer_options = {"DESCRIPTION": " ".join(str(text).split())} if text else None
    with warnings.catch_warnings():  # a survey without CRS is told in the report already
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG",
                                geometry_type="MultiPolygon", promote_to_multi=True,
                                layer_options=layer_options)
    return path


# ---------------------------------------------------------------- inputs

def _scores_per_cell(cell_scores, valid: np.ndarray) -> np.ndarray:
    """Scores of the valid cells in row-major order (from a per-cell vector or an image)."""
    scores = np.asarray(cell_scores, dtype=np.float64)
    if scores.shape == valid.shape and scores.ndim == 2:
        return scores[valid]
    scores = scores.ravel()
    n_valid = int(valid.sum())
    if scores.size != n_valid:
        raise InputError(f"got {scores.size} cell scores for {n_valid} valid cells; give one "
                         "score per valid cell or a (height, width) image.")
    return scores


def _cells_of(grid, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the cell holding each point; -1 for points off the grid."""
    t = grid.transform
    det = t.a * t.e - t.b * t.d
    dx, dy = xy[:, 0] - t.c, xy[:, 1] - t.f
    with np.errstate(invalid="ignore"):
        col = np.floor((t.e * dx - t.b * dy) / det)
        row = np.floor((-t.d * dx + t.a * dy) / det)
    # a point on the grid's far edge (the IDW map's edge can fall exactly on the outermost
    # samples of a survey on round coordinates) belongs to the last cell, not off the grid
    col = np.where(col == grid.width, grid.width - 1, col)
    row = np.where(row == grid.height, grid.height - 1, row)
    inside = (np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < grid.width)
              & (row >= 0) & (row < grid.height))
    row = np.where(inside, row, -1).astype(np.int64)
    col = np.where(inside, col, -1).astype(np.int64)
    return row, col


def _labels_at(labels: np.ndarray, rc) -> np.ndarray:
    row, col = rc
    out = np.zeros(row.size, dtype=np.int64)
    on = row >= 0
    out[on] = labels[row[on], col[on]]
    return out


def _contributions(contributions, elements, signature_values, n_rows: int, rows_kind: str):
    """(contributions as float (n_rows, m) or None, element names or None), checked."""
    if contributions is None:
        names = None if elements is None else [str(e) for e in elements]
        if names is None and signature_values is not None:
            names = [str(c) for c in getattr(signature_values, "columns", [])] or None
        return None, names
    if elements is None and isinstance(contributions, pd.DataFrame):
        elements = list(contributions.columns)
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != n_rows:
        raise InputError(f"contributions must have one row per {rows_kind[:-1]} ({n_rows} "
                         f"rows), got shape {values.shape}; check contribution_rows.")
    if elements is None and signature_values is not None and \
            np.shape(signature_values)[1] == values.shape[1]:
        elements = list(getattr(signature_values, "columns", []))
    if elements is None or len(elements) != values.shape[1]:
        raise InputError(f"contributions have {values.shape[1]} columns; give the same number "
                         "of element names (elements=...).")
    return values, [str(e) for e in elements]


@dataclass
class _RobustZ:
    """Robust z of log10 concentration per element over the whole survey (the scale of the
    descriptive top elements, ``detect.contributions.log_background``), computed only for the
    rows asked for: a survey of a million samples needs it inside its targets alone."""

    logs: np.ndarray  # (rows, m) log10 concentration, NaN where missing or not positive
    centre: np.ndarray
    spread: np.ndarray
    columns: list

    def rows(self, select) -> np.ndarray:
        return (self.logs[select] - self.centre) / self.spread


def _robust_z(signature_values, n_rows: int) -> _RobustZ:
    """The robust z of ``signature_values`` ((rows, m) concentrations); non-positive or missing
    concentrations are left out (NaN)."""
    from .detect.contributions import log_background

    columns = [str(c) for c in getattr(signature_values, "columns", [])]
    values = np.asarray(signature_values, dtype=np.float64)
    if values.ndim != 2 or len(values) != n_rows:
        raise InputError(f"signature_values has {len(values)} rows, expected {n_rows} (one per "
                         "sample of a point survey, one per valid cell of a grid).")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log10(values), np.nan)
    centre, spread = log_background(logs)
    return _RobustZ(logs, centre, spread, columns or [str(k) for k in range(values.shape[1])])


# ---------------------------------------------------------------- per-target statistics

def _first_cells(lab: np.ndarray, n: int) -> np.ndarray:
    """For labels 0..n, the index in ``lab`` of the label's first cell (row-major)."""
    first = np.zeros(n + 1, dtype=np.int64)
    uniq, idx = np.unique(lab, return_index=True)
    first[uniq] = idx
    return first


def _group_means(values: np.ndarray, row_lab: np.ndarray, row_sel, n: int) -> np.ndarray:
    """(n + 1, m) mean of each column over the rows of each label, NaN ignored."""
    if row_sel is not None:
        values = values[row_sel]
    inside = row_lab > 0  # label 0 is outside every target: most rows, none of them needed
    values, row_lab = values[inside], row_lab[inside]
    out = np.full((n + 1, values.shape[1]), np.nan)
    for j in range(values.shape[1]):
        column = values[:, j]
        ok = np.isfinite(column)
        total = np.bincount(row_lab[ok], weights=column[ok], minlength=n + 1)
        count = np.bincount(row_lab[ok], minlength=n + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _group_medians(z: _RobustZ, row_lab: np.ndarray, row_sel, kept: np.ndarray) -> np.ndarray:
    """(len(kept), m) median robust z of each element over the rows of each kept label."""
    rows = np.arange(len(z.logs)) if row_sel is None else np.flatnonzero(row_sel)
    on = np.isin(row_lab, kept)
    grouped = pd.DataFrame(z.rows(rows[on])).groupby(row_lab[on]).median()
    return grouped.reindex(kept).to_numpy(dtype=np.float64)


def _top_names(mean_row: np.ndarray, elements) -> str:
    """The elements with the largest positive mean contribution, "Cu, Zn, Pb" ('' if none)."""
    from .detect.contributions import top_elements

    return top_elements(np.asarray(mean_row, dtype=np.float64)[None, :], list(elements),
                        k=N_TOP_ELEMENTS)[0]


# ---------------------------------------------------------------- geometry

def _polygons(labels: np.ndarray, kept: np.ndarray, transform) -> list:
    """One (Multi)Polygon per kept label, in the order of ``kept``: GDAL's polygonize (4-connected
    pieces, holes kept) dissolved per label, so pieces that touch only at a corner make one
    MultiPolygon. Only the bounding box of the kept labels is polygonised."""
    import shapely
    from rasterio import features
    from shapely.geometry import shape

    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    image = lut[labels]
    on = image > 0
    rows = np.flatnonzero(on.any(axis=1))
    cols = np.flatnonzero(on.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    block = np.ascontiguousarray(image[r0:r1, c0:c1])
    del image, on
    window_transform = transform * transform.translation(c0, r0)
    pieces: list[list] = [[] for _ in range(kept.size)]
    for geom, value in features.shapes(block, mask=block > 0, connectivity=4,
                                       transform=window_transform):
        pieces[int(value) - 1].append(shape(geom))
    return [p[0] if len(p) == 1 else shapely.union_all(p) for p in pieces]


def _metre_factor(crs) -> float:
    """Metres per unit of a projected CRS (1 when there is no CRS)."""
    if crs is None:
        return 1.0
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (AttributeError, IndexError):  # pragma: no cover - a CRS without axis info
        return 1.0


def _cell_area_m2(grid):
    """Cell area in m^2: a scalar (projected), one value per row (north-up lon/lat: geodesic on
    the CRS's ellipsoid), or None (rotated lon/lat: polygons are measured instead)."""
    from .io.metres import is_geographic

    t = grid.transform
    if not is_geographic(grid.crs):
        return abs(t.a * t.e - t.b * t.d) * _metre_factor(grid.crs) ** 2
    if t.b != 0 or t.d != 0:
        return None
    geod = grid.crs.get_geod()
    lon0, lon1 = t.c, t.c + t.a
    areas = np.empty(grid.height)
    for r in range(grid.height):
        lat0, lat1 = t.f + t.e * r, t.f + t.e * (r + 1)
        area, _ = geod.polygon_area_perimeter([lon0, lon1, lon1, lon0],
                                              [lat0, lat0, lat1, lat1])
        areas[r] = abs(area)
    return areas


def _geodesic_areas(geometry, crs) -> np.ndarray:
    geod = crs.get_geod()
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in geometry])


def _deposit_distances(geometry, deposits_xy, deposit_names, crs):
    """Metres from each target to its nearest deposit (0 inside) and that deposit's name (or
    index as text: the column keeps one type whether names are given or not)."""
    n = len(geometry)
    if deposits_xy is None:
        return np.full(n, np.nan), [None] * n
    import shapely

    deposits = np.asarray(deposits_xy, dtype=np.float64).reshape(-1, 2)
    if deposits.shape[0] == 0:
        return np.full(n, np.nan), [None] * n
    if not np.isfinite(deposits).all():
        raise InputError("deposit coordinates hold missing values; drop those deposits first.")
    if deposit_names is not None and len(deposit_names) != deposits.shape[0]:
        raise InputError(f"{len(deposit_names)} deposit names for {deposits.shape[0]} "
                         "deposits; give one name per deposit.")
    from .io.metres import is_geographic, metric_coordinates

    geoms = np.asarray(geometry.to_numpy(), dtype=object)
    factor = _metre_factor(crs)
    if is_geographic(crs):
        from pyproj import Transformer

        centres = shapely.centroid(geoms)
        _, _, utm, _ = metric_coordinates(shapely.get_x(centres), shapely.get_y(centres), crs)
        to_utm = Transformer.from_crs(crs, utm, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(
            to_utm.transform(xy[:, 0], xy[:, 1])))
        deposits = np.column_stack(to_utm.transform(deposits[:, 0], deposits[:, 1]))
        factor = 1.0
    tree = shapely.STRtree(shapely.points(deposits))
    (which, nearest), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
    out_dist = np.full(n, np.nan)
    out_idx = np.full(n, -1, dtype=np.int64)
    out_dist[which] = dist * factor
    out_idx[which] = nearest
    names = [None if i < 0 else (str(deposit_names[i]) if deposit_names is not None else str(i))
             for i in out_idx.tolist()]
    return out_dist, names


def _empty_frame(crs):
    import geopandas as gpd

    data = {name: pd.Series([], dtype=dtype) for name, dtype in COLUMNS.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _description(frame, class_names, left_out: dict, points: bool) -> str:
    """One or two sentences for the report: how many targets of which class and what they are."""
    if len(frame) == 0:
        text = "No target: no connected area of cells reached an anomaly class"
        text += " with a sample of that class inside." if points else "."
    else:
        counts = frame["class_name"].value_counts()
        per_class = "; ".join(f"{int(counts[name])} {name}" for name in reversed(class_names[1:])
                              if name in counts.index)
        text = (f"{len(frame)} targets ({per_class}): connected areas (8-neighbour) of map cells "
                "at or above each class, nested (a higher class lies inside a lower one), ranked "
                "by class, then peak score.")
        if points:
            text += (" Drawn on the interpolated (IDW) map and kept only where a sample of the "
                     "class lies inside.")
    dropped = []
    for name, counts_out in left_out.items():
        for why, count in counts_out.items():
            if count:
                dropped.append(f"{count} {name} {why}")
    if dropped:
        text += " Left out: " + "; ".join(dropped) + "."
    return text
