"""The clean stage: raw survey in, strictly positive float survey and a report out.

Log-ratio transforms need every value > 0 and every detector needs a full matrix, so this stage
decides, by documented and configurable rules, what each code, zero, sentinel and gap becomes,
and counts every change per element so that the report can say exactly what was done to the
user's data. The input survey is never modified.

Steps, in order (each counted per element in :class:`CleaningReport`):

a. parse the cells (:func:`geoanomaly.clean.values.parse_values`);
b. drop exact duplicate samples (same coordinates and identical assays; GSWA reports one
   physical sample under several surveys), remembering which input rows each kept row stands for;
c. keep one of an element and its oxide forms (Fe, Fe2O3, Fe2O3T, FeO), the best populated;
d. zeros: in a sample that is zero in at least half (and at least two) of its reported elements
   (a short analytical suite that wrote 0 for "not analysed") zeros become missing; other zeros
   are below detection with an unknown limit (grid cells are not analysed samples: skipped);
e. grids: mask large contiguous blocks of zero cells and the interpolation ramp around them as
   no-data (an unsampled area, not a below-detection area);
f. replace below-detection cells by the chosen rule; drop elements with too many missing or too
   few detected values;
g. impute the remaining gaps (element median) or drop those rows.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from ..errors import InputError
from ..progress import bar
from ..survey import Grid, Survey
from .values import DEFAULT_SENTINELS, ParsedColumn, parse_values

BELOW_DETECTION_RULES = ("half", "limit", "sqrt2", "factor")
IMPUTE_RULES = ("median", "drop")

_OXIDE_RE = re.compile(r"^([A-Z][a-z]?)\d*O\d*T?$")


@dataclass
class CleaningOptions:
    """How raw cells become numbers. Every default is a choice, documented here.

    below_detection: value given to a below-detection cell with limit L: "half" = 0.5 L (the
        common geochemical convention), "limit" = L, "sqrt2" = L / sqrt(2) (the geometric middle
        of (0, L) under a log-uniform assumption), "factor" = ``below_detection_factor`` * L.
        "zero" is not offered: log-ratios need values > 0.
    below_detection_factor: the factor used by the "factor" rule.
    missing_sentinels: numbers that mean "not analysed" (checked before negative codes, so
        -9999 is missing, not a limit of 9999).
    negative_is_detection_limit: read other negative numbers as minus the detection limit
        (GSWA coding); when False a negative number is an input error.
    drop_duplicates: drop samples with the same coordinates and identical assays (points only).
    merge_oxide_duplicates: when an element and its oxide forms are all present (Al, Al2O3), keep
        only the one with most values (ties: most detected values, then the plain element).
    short_suite_zero_fraction: a sample (not a grid cell) that is zero in at least this fraction,
        and at least two, of its reported elements has its zeros set to missing (a short suite
        that wrote 0 for "not analysed").
    mask_nodata_blocks: on grids, set contiguous blocks of at least ``nodata_min_cells`` zero
        cells, and the connected ramp of cells more than ``nodata_ramp_ratio`` times below the
        element's 1st percentile outside the block, to missing.
    max_missing_fraction: elements missing in more than this fraction of rows are dropped.
    min_detected_fraction: elements with measured (above-detection, non-zero) values in fewer
        than this fraction of their non-missing rows are dropped: such a column is mostly
        substituted constants and turns its few real values into extreme outliers.
    max_row_missing_fraction: rows missing more than this fraction of the kept elements are
        dropped (a row with no value at all is always dropped: imputing it would invent a sample).
    impute: "median" fills remaining gaps with the element median (counted); "drop" drops rows
        that still have a gap.
    """

    below_detection: str = "half"
    below_detection_factor: float = 0.5
    missing_sentinels: tuple[float, ...] = DEFAULT_SENTINELS
    negative_is_detection_limit: bool = True
    drop_duplicates: bool = True
    merge_oxide_duplicates: bool = True
    short_suite_zero_fraction: float = 0.5
    mask_nodata_blocks: bool = True
    nodata_min_cells: int = 100
    nodata_ramp_ratio: float = 10.0
    max_missing_fraction: float = 0.4
    min_detected_fraction: float = 0.1
    max_row_missing_fraction: float = 1.0
    impute: str = "median"

    def validate(self) -> None:
        if self.below_detection not in BELOW_DETECTION_RULES:
            raise InputError(
                f"below_detection must be one of {', '.join(BELOW_DETECTION_RULES)}, got "
                f"{self.below_detection!r} (log-ratios need values > 0, so 'zero' is not offered).")
        if not 0 < self.below_detection_factor <= 1:
            raise InputError("below_detection_factor must be in (0, 1], got "
                             f"{self.below_detection_factor}.")
        if self.impute not in IMPUTE_RULES:
            raise InputError(f"impute must be one of {', '.join(IMPUTE_RULES)}, got "
                             f"{self.impute!r}.")
        for name in ("max_missing_fraction", "min_detected_fraction",
                     "max_row_missing_fraction", "short_suite_zero_fraction"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise InputError(f"{name} must be between 0 and 1, got {value}.")
        if self.nodata_min_cells < 1 or self.nodata_ramp_ratio < 1:
            raise InputError("nodata_min_cells and nodata_ramp_ratio must be at least 1.")

    def substitute(self, limit: np.ndarray) -> np.ndarray:
        """The number that stands for a value below ``limit``."""
        factor = {"half": 0.5, "limit": 1.0, "sqrt2": 1 / np.sqrt(2),
                  "factor": self.below_detection_factor}[self.below_detection]
        return factor * np.asarray(limit, dtype=float)


_REPORT_COLUMNS = [
    "element", "column", "unit", "kept", "dropped_reason", "n_values", "n_detected",
    "n_below_detection", "detection_limit_min", "detection_limit_max", "n_unknown_limit",
    "n_missing", "n_sentinel", "n_above_limit", "n_zero", "n_zero_to_missing", "n_zero_floored",
    "zero_floor", "n_nodata_block", "n_imputed",
]


@dataclass
class CleaningReport:
    """What cleaning changed, per element and in total.

    ``per_element`` has one row per input element; all counts are over the rows left after
    removing duplicate samples (``n_rows_in - n_duplicates``): n_values (non-missing cells),
    n_detected (measured, > 0), n_below_detection (replaced by the rule; detection limits seen:
    detection_limit_min / _max; n_unknown_limit of them had no limit written), n_missing (blank,
    code or sentinel in the file), n_sentinel, n_above_limit (">x" kept as x), n_zero,
    n_zero_to_missing (zeros of short-suite rows), n_zero_floored (other zeros set to the rule
    applied to ``zero_floor``), n_nodata_block (grid cells masked as no-data), n_imputed.
    ``row_map[i]`` is the output row that input row i ended in (-1: dropped for missing values;
    duplicates map to the row they duplicate), so a later stage can collect, for each kept
    sample, every survey it was reported in (see :meth:`input_rows`).
    """

    per_element: pd.DataFrame
    n_rows_in: int
    n_rows_out: int
    n_duplicates: int
    n_rows_dropped_missing: int
    row_map: np.ndarray
    notes: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    imputed: pd.DataFrame | None = None
    """bool per output row and kept element: True where the value was filled in (imputed), not
    measured -- map models mask these cells instead of seeing a median as data."""

    @property
    def kept_elements(self) -> list[str]:
        return [str(e) for e in self.per_element.loc[self.per_element["kept"], "element"]]

    @property
    def dropped_elements(self) -> dict[str, str]:
        dropped = self.per_element.loc[~self.per_element["kept"]]
        return dict(zip(dropped["element"].astype(str), dropped["dropped_reason"].astype(str)))

    def input_rows(self) -> list[np.ndarray]:
        """For each output row, the input row indices it stands for (itself plus duplicates)."""
        order = np.argsort(self.row_map, kind="stable")
        ends = np.searchsorted(self.row_map[order], np.arange(self.n_rows_out + 1))
        return [order[ends[k]:ends[k + 1]] for k in range(self.n_rows_out)]

    def to_dict(self) -> dict:
        """JSON-safe summary (no per-row arrays)."""
        table = self.per_element.astype(object).where(self.per_element.notna(), None)
        rows = []
        for record in table.to_dict(orient="records"):
            rows.append({k: (v.item() if isinstance(v, np.generic) else v)
                         for k, v in record.items()})
        return {
            "n_rows_in": int(self.n_rows_in),
            "n_rows_out": int(self.n_rows_out),
            "n_duplicates": int(self.n_duplicates),
            "n_rows_dropped_missing": int(self.n_rows_dropped_missing),
            "kept_elements": self.kept_elements,
            "dropped_elements": self.dropped_elements,
            "notes": list(self.notes),
            "options": _json_safe(self.options),
            "per_element": rows,
        }

    def to_html(self) -> str:
        """A plain HTML fragment: the notes as a list, then the per-element table."""
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        table = self.per_element.to_html(index=False, na_rep="", float_format="{:.4g}".format,
                                         classes="cleaning-report", border=0)
        caption = (f"<p>{self.n_rows_in} rows in, {self.n_duplicates} duplicates removed, "
                   f"{self.n_rows_dropped_missing} rows dropped for missing values, "
                   f"{self.n_rows_out} rows out; counts are over the rows left after removing "
                   "duplicates.</p>")
        return f'<section class="cleaning">{caption}<ul>{notes}</ul>{table}</section>'


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _source_name(survey: Survey) -> str:
    return survey.sources[0] if len(survey.sources) == 1 else "the survey"


def _base_element(name: str) -> str:
    """Fe for Fe, Fe2O3, Fe2O3T and FeO; other names stand for themselves."""
    match = _OXIDE_RE.match(name)
    return match.group(1) if match else name


def _duplicate_groups(survey: Survey, parsed: dict[str, ParsedColumn]) -> np.ndarray:
    """Group number of each row; rows with the same number are exact duplicates.

    Groups are numbered in order of first appearance, so the first row of each group is kept.
    A below-detection cell compares by its limit (coded as minus the limit) and a missing cell
    compares equal only to another missing cell.
    """
    x, y = np.asarray(survey.x, dtype=float), np.asarray(survey.y, dtype=float)
    n = len(x)
    # only rows that share their coordinates can be duplicates: compare the assays of those
    # alone (a survey of a million distinct sites then costs one pass over x, y)
    shared = pd.DataFrame({"_x": x, "_y": y}).duplicated(keep=False).to_numpy()
    if not shared.any():
        return np.arange(n)
    key = {"_x": x[shared], "_y": y[shared]}
    for element, column in parsed.items():
        code = column.values[shared]
        below = column.below_detection[shared]
        code[below] = -np.nan_to_num(column.detection_limit[shared][below], nan=np.inf)
        code[column.missing[shared]] = np.nan
        key[element] = code
    frame = pd.DataFrame(key)
    labels = np.arange(n)  # a row with coordinates of its own is a group of its own
    labels[shared] = n + frame.groupby(list(frame.columns), dropna=False).ngroup().to_numpy()
    _, first_row, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first_row.size, dtype=np.int64)
    rank[np.argsort(first_row)] = np.arange(first_row.size)
    return rank[inverse]


def _choose_oxide_forms(parsed: dict[str, ParsedColumn]) -> dict[str, str]:
    """For every element with several forms present, {dropped form: kept form}."""
    forms: dict[str, list[str]] = {}
    for element in parsed:
        forms.setdefault(_base_element(element), []).append(element)
    replaced = {}
    for base, names in forms.items():
        if len(names) < 2:
            continue

        def rank(name):
            column = parsed[name]
            n_values = int((~column.missing).sum())
            n_detected = int((np.nan_to_num(column.values) > 0).sum())
            return (-n_values, -n_detected, name != base, names.index(name))

        best = min(names, key=rank)
        for name in names:
            if name != best:
                replaced[name] = best
    return replaced


def _nodata_blocks(values: np.ndarray, grid: Grid, min_cells: int, ramp_ratio: float
                   ) -> np.ndarray:
    """Rows (valid cells) of one element that lie in a no-data block or its ramp.

    A block is a group of at least ``min_cells`` 8-connected cells that are zero (or more than
    three orders of magnitude below the 1st percentile of positive values, for grids that fill
    no-data with tiny numbers). Interpolation then smears the block into a ramp; cells connected
    to a block that are more than ``ramp_ratio`` times below the 1st percentile of the positive
    values away from the blocks belong to it too.
    """
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return np.zeros(values.shape, dtype=bool)
    image = grid.to_image(values)
    near_zero = np.isfinite(image) & (image <= np.percentile(positive, 1) * 1e-3)
    structure = np.ones((3, 3), dtype=bool)
    labels, n_labels = ndimage.label(near_zero, structure=structure)
    if n_labels == 0:
        return np.zeros(values.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    big = np.flatnonzero(sizes >= min_cells)
    big = big[big > 0]
    if big.size == 0:
        return np.zeros(values.shape, dtype=bool)
    block = np.isin(labels, big)
    # the element's normal low level, measured well away from the blocks and their ramps
    far = ~ndimage.binary_dilation(block, structure=structure, iterations=10)
    outside = image[far & np.isfinite(image) & (image > 0)]
    if outside.size == 0:
        outside = positive
    low = np.isfinite(image) & (image < np.percentile(outside, 1) / ramp_ratio)
    ramp_labels, _ = ndimage.label(low | block, structure=structure)
    touching = np.unique(ramp_labels[block])
    masked = np.isin(ramp_labels, touching[touching > 0])
    return grid.from_image(masked)


def clean(survey: Survey, options: CleaningOptions | None = None
          ) -> tuple[Survey, CleaningReport]:
    """Clean a survey: returns a NEW survey (float, no NaN, every value > 0) and a report.

    Raises :class:`InputError` for cells that are not numbers or codes, and when no element
    survives cleaning.
    """
    options = options or CleaningOptions()
    options.validate()
    source = _source_name(survey)
    if not survey.elements:
        raise InputError(f"{source}: no element columns to clean; check the column names.")
    n_in = survey.n

    # a. parse every element column
    parsed = {}
    with bar(len(survey.elements), "cleaning", unit="element") as progress:
        for element in survey.elements:
            parsed[element] = parse_values(
                survey.values[element], survey.columns.get(element, element), source,
                sentinels=options.missing_sentinels,
                negative_codes_limit=options.negative_is_detection_limit,
                unit=survey.units.get(element, ""))
            progress.update()
    notes: list[str] = []
    decimal_comma = [survey.columns.get(e, e) for e, p in parsed.items() if p.decimal_comma]
    if decimal_comma:
        notes.append(f"Read comma decimals in {', '.join(decimal_comma)}.")

    # b. exact duplicates (points only: grid cells are distinct by construction)
    if options.drop_duplicates and not survey.is_grid:
        groups = _duplicate_groups(survey, parsed)
        first = np.zeros(n_in, dtype=bool)
        first[np.unique(groups, return_index=True)[1]] = True  # groups are in order of rows
    else:
        groups = np.arange(n_in)
        first = np.ones(n_in, dtype=bool)
    n_duplicates = int(n_in - first.sum())
    if n_duplicates:
        notes.append(f"Dropped {n_duplicates} duplicate samples (same coordinates and identical "
                     "assays, e.g. one sample reported by several surveys); the first of each "
                     "set is kept.")
    keep_idx = np.flatnonzero(first)

    values, limits, below, missing, zero = {}, {}, {}, {}, {}
    stats: dict[str, dict] = {}
    every_row = len(keep_idx) == n_in  # no duplicate: the parsed arrays are used as they are
    for element, column in parsed.items():  # (they are this function's own; saves a copy)
        if every_row:
            values[element], below[element] = column.values, column.below_detection
            limits[element], missing[element] = column.detection_limit, column.missing
            zero[element] = column.zero
        else:
            values[element] = column.values[keep_idx].copy()
            below[element] = column.below_detection[keep_idx].copy()
            limits[element] = column.detection_limit[keep_idx].copy()
            missing[element] = column.missing[keep_idx].copy()
            zero[element] = column.zero[keep_idx].copy()
        seen = limits[element][np.isfinite(limits[element])]
        stats[element] = {
            "element": element, "column": survey.columns.get(element, element),
            "unit": survey.units.get(element, ""), "kept": True, "dropped_reason": "",
            "n_values": int((~missing[element]).sum()),
            "n_detected": int((np.nan_to_num(values[element]) > 0).sum()),
            "n_below_detection": int(below[element].sum()),
            "detection_limit_min": float(seen.min()) if seen.size else np.nan,
            "detection_limit_max": float(seen.max()) if seen.size else np.nan,
            "n_unknown_limit": int((below[element] & ~np.isfinite(limits[element])).sum()),
            "n_missing": int(missing[element].sum()),
            "n_sentinel": int(column.sentinel[keep_idx].sum()),
            "n_above_limit": int(column.above_limit[keep_idx].sum()),
            "n_zero": int(zero[element].sum()),
            "n_zero_to_missing": 0, "n_zero_floored": 0, "zero_floor": np.nan,
            "n_nodata_block": 0, "n_imputed": 0,
        }
    n_above = sum(s["n_above_limit"] for s in stats.values())
    if n_above:
        notes.append(f"Kept {n_above} values reported above an upper limit ('>x') at that limit.")

    def drop(element: str, reason: str) -> None:
        stats[element]["kept"] = False
        stats[element]["dropped_reason"] = reason

    def alive() -> list[str]:
        return [e for e in parsed if stats[e]["kept"]]

    # c. element / oxide duplicates
    if options.merge_oxide_duplicates:
        replaced = _choose_oxide_forms({e: parsed[e] for e in alive()})
        for element, kept in replaced.items():
            drop(element, f"same element as {kept}, which has more values")
        if replaced:
            notes.append("Kept one form per element: " + "; ".join(
                f"{kept} instead of {dropped}" for dropped, kept in replaced.items()) + ".")

    parsed = dict.fromkeys(parsed)  # the names from here on; the arrays live in the dicts above

    # d. zeros of short-suite rows are "not analysed"
    names = alive()
    zero_matrix = np.column_stack([zero[e] for e in names])
    reported = np.column_stack([~missing[e] for e in names]).sum(axis=1)
    n_zero = zero_matrix.sum(axis=1)
    short = (n_zero >= options.short_suite_zero_fraction * reported) & (n_zero >= 2)
    if short.any() and not survey.is_grid:
        for element in names:
            hit = zero[element] & short
            stats[element]["n_zero_to_missing"] = int(hit.sum())
            missing[element] |= hit
            zero[element] &= ~hit
            values[element][hit] = np.nan
        notes.append(f"{int(short.sum())} rows were zero in at least "
                     f"{options.short_suite_zero_fraction:.0%} of their reported elements; their "
                     "zeros were read as 'not analysed' (missing).")

    # e. grids: no-data blocks
    if survey.is_grid and options.mask_nodata_blocks:
        for element in names:
            filled = np.where(zero[element], 0.0, values[element])
            block = _nodata_blocks(filled, survey.grid, options.nodata_min_cells,
                                   options.nodata_ramp_ratio) & ~missing[element]
            if block.any():
                stats[element]["n_nodata_block"] = int(block.sum())
                missing[element] |= block
                zero[element] &= ~block
                below[element] &= ~block
                values[element][block] = np.nan
                notes.append(
                    f"{stats[element]['column']}: {int(block.sum())} cells form a contiguous block "
                    "of zero / near-zero values with its interpolation ramp, read as no-data "
                    "(not below detection) and set to missing.")

    # f. below-detection and zero replacement, then drop poor elements
    for element in names:
        known = limits[element][np.isfinite(limits[element])]
        measured = values[element][np.isfinite(values[element]) & (values[element] > 0)]
        # an unknown limit (a zero, a bare "BDL"): the smallest limit the lab reported, or else
        # the 1st percentile of the measured values
        unknown_limit = known.min() if known.size else (
            np.percentile(measured, 1) if measured.size else np.nan)
        lim = np.where(np.isfinite(limits[element]), limits[element], unknown_limit)
        values[element] = np.where(below[element], options.substitute(lim), values[element])
        if zero[element].any():
            stats[element]["zero_floor"] = float(unknown_limit)
            stats[element]["n_zero_floored"] = int(zero[element].sum()) if np.isfinite(
                unknown_limit) else 0
            values[element][zero[element]] = options.substitute(unknown_limit)
        now_missing = ~np.isfinite(values[element])
        missing[element] = now_missing
        n_nonmissing = int((~now_missing).sum())
        n_detected = int(measured.size)
        if n_nonmissing == 0:
            drop(element, "missing in every row")
        elif now_missing.mean() > options.max_missing_fraction:
            drop(element, f"missing in {now_missing.mean():.0%} of rows "
                          f"(more than max_missing_fraction {options.max_missing_fraction:.0%})")
        elif n_detected < options.min_detected_fraction * n_nonmissing:
            drop(element, f"measured above detection in only {n_detected} of {n_nonmissing} "
                          f"rows (less than min_detected_fraction "
                          f"{options.min_detected_fraction:.0%})")

    empty = [stats[e]["column"] for e in parsed if stats[e]["dropped_reason"] ==
             "missing in every row"]
    if empty:
        notes.append(f"Empty in every row: {', '.join(empty)}.")
    names = alive()
    if not names:
        raise InputError(
            f"{source}: every element was empty or dropped during cleaning "
            f"({len(parsed)} elements, e.g. {stats[next(iter(parsed))]['column']}: "
            f"{stats[next(iter(parsed))]['dropped_reason']}); check the element columns or "
            "relax max_missing_fraction / min_detected_fraction.")
    dropped = [f"{stats[e]['column']} ({stats[e]['dropped_reason']})" for e in parsed
               if not stats[e]["kept"] and stats[e]["dropped_reason"] != "missing in every row"
               and not stats[e]["dropped_reason"].startswith("same element")]
    if dropped:
        notes.append(f"Dropped {len(dropped)} elements: " + "; ".join(dropped) + ".")

    del limits, below, zero  # not needed any more: a million-row survey's worth of memory

    # g. rows with too many gaps are dropped, the rest imputed
    gap = np.column_stack([missing[e] for e in names])
    row_gap = gap.mean(axis=1)
    drop_row = (row_gap > options.max_row_missing_fraction) | (row_gap == 1.0)
    if options.impute == "drop":
        drop_row |= gap.any(axis=1)
    n_rows_dropped = int(drop_row.sum())
    if n_rows_dropped:
        if options.impute == "drop":
            why = "a gap left after cleaning, impute='drop'"
        elif options.max_row_missing_fraction >= 1:
            why = "no kept element measured"
        else:
            why = f"more than {options.max_row_missing_fraction:.0%} of kept elements missing"
        notes.append(f"Dropped {n_rows_dropped} rows ({why}).")
    keep_row = ~drop_row
    for element in names:
        fill = missing[element] & keep_row
        if fill.any():
            median = float(np.median(values[element][keep_row & ~missing[element]]))
            values[element][fill] = median
            stats[element]["n_imputed"] = int(fill.sum())
    n_imputed = sum(stats[e]["n_imputed"] for e in names)
    if n_imputed:
        notes.append(f"Filled {n_imputed} missing values with the element median.")

    # assemble the new survey; input rows map to output rows
    out_row = np.full(len(keep_idx), -1)
    out_row[keep_row] = np.arange(int(keep_row.sum()))
    row_map = out_row[groups]
    table = pd.DataFrame({e: values[e] for e in names})
    kept_survey = Survey(
        values=table, x=np.asarray(survey.x)[keep_idx], y=np.asarray(survey.y)[keep_idx],
        crs=survey.crs,
        units={e: survey.units[e] for e in names if e in survey.units},
        columns={e: survey.columns[e] for e in names if e in survey.columns},
        meta=None if survey.meta is None else survey.meta.iloc[keep_idx].reset_index(drop=True),
        grid=survey.grid, sources=list(survey.sources), notes=list(survey.notes),
    )
    if not keep_row.all():
        kept_survey = kept_survey.subset(keep_row)
    for element in names:  # column by column: no second copy of the table
        result = kept_survey.values[element].to_numpy(dtype=float)
        if not (np.isfinite(result).all() and (result > 0).all()):  # pragma: no cover - a bug
            raise AssertionError("cleaning left a non-positive or missing value")
    per_element = pd.DataFrame([stats[e] for e in parsed], columns=_REPORT_COLUMNS)
    imputed = pd.DataFrame({e: (missing[e] & keep_row)[keep_row] for e in names})
    report = CleaningReport(
        per_element=per_element, n_rows_in=n_in, n_rows_out=kept_survey.n,
        n_duplicates=n_duplicates, n_rows_dropped_missing=n_rows_dropped, row_map=row_map,
        notes=notes, options=asdict(options), imputed=imputed)
    return kept_survey, report

