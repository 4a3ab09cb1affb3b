"""Parse one assay column into numbers plus what each cell meant.

Lab files mix measured values with codes: "<0.5" (below a detection limit of 0.5), "BDL"
(below an unknown limit), ">10000" (above the upper limit), "-" or "N/A" (not analysed), numeric
sentinels (-9999) and, in the GSWA compilations, negative numbers that mean "below the detection
limit |x|". This module only reads the cells and records what each one was; the rules that turn
codes into replacement numbers live in :mod:`geoanomaly.clean.cleaning`, so that every
replacement is counted and reported in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

#: numeric codes that mean "not analysed" (GSWA and many lab exports use -9999)
DEFAULT_SENTINELS: tuple[float, ...] = (-9999.0, -999.0, -99.0)

#: cell texts (compared lower-case, stripped) that mean "no value"
MISSING_CODES = frozenset({
    "", "-", "--", "---", "na", "n.a.", "n/a", "nan", "null", "none", "nr", "n.r.", "ns", "n.s.",
    "is", "i.s.", "lnr", "not analysed", "not analyzed", "missing",
})

#: cell texts that mean "below the detection limit", with the limit not given
BELOW_DETECTION_CODES = frozenset({
    "bdl", "b.d.l.", "bd", "b.d.", "nd", "n.d.", "ld", "l.d.", "<ld", "<l.d.", "<dl", "<d.l.",
    "dl", "<lod", "lod", "<lld", "<mdl",
})

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNIT = r"(ppm|ppb|ppt|pct|%|wt%|wt\.%|g/t|mg/kg|ug/kg|µg/kg)?"
_VALUE_RE = re.compile(rf"^({_NUMBER})\s*{_UNIT}$", re.IGNORECASE)
_BELOW_RE = re.compile(rf"^<\s*=?\s*({_NUMBER})\s*{_UNIT}$", re.IGNORECASE)
_ABOVE_RE = re.compile(rf"^>\s*=?\s*({_NUMBER})\s*{_UNIT}$", re.IGNORECASE)
_COMMA_DECIMAL_RE = re.compile(r"\d,\d")
_DOT_DECIMAL_RE = re.compile(r"\d\.\d|(?:^|[^\d])\.\d")

#: unit tokens written inside a cell -> the unit names of Survey.units
_UNIT_NAMES = {"ppm": "ppm", "mg/kg": "ppm", "g/t": "ppm", "ppb": "ppb", "ug/kg": "ppb",
               "µg/kg": "ppb", "ppt": "ppt", "pct": "pct", "%": "pct", "wt%": "pct",
               "wt.%": "pct"}

# what a cell turned out to be
_VALUE, _BELOW, _ABOVE, _MISSING, _SENTINEL = range(5)


@dataclass
class ParsedColumn:
    """One element column after reading the codes; arrays all have the column's length.

    ``values`` holds the measured number (zeros and above-limit numbers included) and NaN where
    the cell was below detection or missing; ``detection_limit`` holds the limit of a
    below-detection cell (NaN when the code gave none, e.g. "BDL"). ``missing`` includes the
    ``sentinel`` cells. ``zero`` marks measured zeros, which the cleaning stage must floor or
    treat as missing before a log-ratio.
    """

    column: str
    values: np.ndarray
    below_detection: np.ndarray
    detection_limit: np.ndarray
    missing: np.ndarray
    sentinel: np.ndarray
    above_limit: np.ndarray
    zero: np.ndarray
    decimal_comma: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {
            "n_below_detection": int(self.below_detection.sum()),
            "n_missing": int(self.missing.sum()),
            "n_sentinel": int(self.sentinel.sum()),
            "n_above_limit": int(self.above_limit.sum()),
            "n_zero": int(self.zero.sum()),
        }


def _line_number(index: pd.Index, position: int) -> int:
    """Line in the file of a row: header is line 1, so a default index i is line i + 2."""
    label = index[position]
    if isinstance(label, (int, np.integer)):
        return int(label) + 2
    return position + 2


def _junk_error(source: str, column: str, line: int, text: str, hint: str = "") -> InputError:
    return InputError(
        f"{source}: column '{column}' row {line} holds {text!r}, which is not a number, a "
        f"detection-limit code ('<0.5', 'BDL') or a missing code{hint}; fix or blank it.")


def _classify_text(text: str, unit: str) -> tuple[int, float] | None:
    """(kind, number) for one stripped cell text, or None when it is not understood."""
    low = text.lower()
    if low in MISSING_CODES:
        return _MISSING, np.nan
    if low in BELOW_DETECTION_CODES:
        return _BELOW, np.nan
    for pattern, kind in ((_VALUE_RE, _VALUE), (_BELOW_RE, _BELOW), (_ABOVE_RE, _ABOVE)):
        match = pattern.match(text)
        if match:
            written_unit = match.group(2)
            if written_unit and unit and _UNIT_NAMES[written_unit.lower()] != unit:
                return None
            return kind, float(match.group(1))
    return None


def parse_values(series: pd.Series, column: str, source: str,
                 sentinels=DEFAULT_SENTINELS, negative_codes_limit: bool = True,
                 unit: str = "") -> ParsedColumn:
    """Read one assay column (strings or numbers) into a :class:`ParsedColumn`.

    ``column`` and ``source`` (the file) name the column in error messages. A number equal to
    one of ``sentinels`` is missing. Any other negative number is, with
    ``negative_codes_limit``, a below-detection cell whose limit is its absolute value (the GSWA
    coding, -0.001 = "<0.001"); without it a negative number is an error. Comma decimals
    ("0,5") are read only when no cell of the column uses a decimal point, because "1,234" in a
    column that also holds "0.5" is more likely a thousands separator or a typo. A unit written
    in a cell ("<0.5ppm") must agree with ``unit`` when that is known. Non-finite numbers (NaN,
    inf, e.g. raster nodata) are missing. Anything else raises :class:`InputError` naming the
    row (``index + 2``: line 1 is the header).
    """
    n = len(series)
    kind = np.full(n, _VALUE, dtype=np.int8)
    number = np.full(n, np.nan)
    sentinel_set = {float(s) for s in sentinels}

    raw = series.to_numpy()
    if raw.dtype.kind in "biuf":
        number = raw.astype(np.float64)
        kind[~np.isfinite(number)] = _MISSING
        decimal_comma = False
    else:
        # each distinct cell is read once (a million-row column holds a few thousand distinct
        # texts), then spread back over the rows by its code
        codes, uniques = pd.factorize(series)  # a Categorical's own codes: no hashing
        uniques = np.asarray(uniques, dtype=object)
        texts = {v for v in uniques if isinstance(v, str)}
        decimal_comma = (any(_COMMA_DECIMAL_RE.search(t) for t in texts)
                         and not any(_DOT_DECIMAL_RE.search(t) for t in texts))
        unique_kind = np.full(len(uniques) + 1, _MISSING, dtype=np.int8)  # last: empty cells
        unique_number = np.full(len(uniques) + 1, np.nan)
        understood = np.ones(len(uniques) + 1, dtype=bool)
        plain = np.zeros(len(uniques), dtype=bool)
        if not decimal_comma:
            plain = _plain_numbers(uniques, unique_kind, unique_number)
        for i in np.flatnonzero(~plain):
            value = uniques[i]
            parsed = _classify_value(value, decimal_comma, unit)
            if parsed is None:
                understood[i] = False
            else:
                unique_kind[i], unique_number[i] = parsed
        codes = np.where(codes < 0, len(uniques), codes)
        if not understood.all():
            position = int(np.flatnonzero(~understood[codes])[0])
            text = str(raw[position]).strip()
            hint = ""
            if _COMMA_DECIMAL_RE.search(text):
                hint = (" (comma decimals are read only when the whole column uses them, "
                        "and this column also holds decimal points)")
            raise _junk_error(source, column, _line_number(series.index, position), text, hint)
        kind = unique_kind[codes]
        number = unique_number[codes]

    is_number = kind == _VALUE
    is_sentinel = is_number & np.isin(number, list(sentinel_set))
    kind[is_sentinel] = _SENTINEL
    negative = (kind == _VALUE) & (number < 0)
    if negative.any():
        if not negative_codes_limit:
            position = int(np.flatnonzero(negative)[0])
            raise InputError(
                f"{source}: column '{column}' row {_line_number(series.index, position)} holds "
                f"the negative value {number[position]:g}, which is not a concentration; blank "
                "it, or read negative numbers as detection limits "
                "(negative_is_detection_limit=True).")
        kind[negative] = _BELOW
        number[negative] = -number[negative]
    # a "<x" or negative code gives the limit; "<0" or a limit in a sentinel is no limit at all
    below = kind == _BELOW
    limit = np.where(below & (number > 0), number, np.nan)
    values = np.where((kind == _VALUE) | (kind == _ABOVE), number, np.nan)
    return ParsedColumn(
        column=column,
        values=values,
        below_detection=below,
        detection_limit=limit,
        missing=(kind == _MISSING) | (kind == _SENTINEL),
        sentinel=kind == _SENTINEL,
        above_limit=kind == _ABOVE,
        zero=(kind == _VALUE) & (number == 0),
        decimal_comma=bool(decimal_comma),
    )


#: a plain decimal number, optionally padded with spaces (ASCII only: anything else, codes
#: included, is read by _classify_text one by one)
_PLAIN_NUMBER = r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$"


def _plain_numbers(uniques, kind: np.ndarray, number: np.ndarray) -> np.ndarray:
    """Mark the distinct cells that are texts of plain numbers and read them all at once.

    pyarrow's parser rounds correctly, as Python's float() in _classify_text does, so the
    numbers are the same to the bit; returns the mask of the cells read here (kind and number
    filled in place)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_text = np.fromiter((isinstance(v, str) for v in uniques), dtype=bool, count=len(uniques))
    done = np.zeros(len(uniques), dtype=bool)
    if not is_text.any():
        return done
    where = np.flatnonzero(is_text)
    texts = pa.array(np.asarray(uniques, dtype=object)[where], type=pa.string())
    match = pc.match_substring_regex(texts, _PLAIN_NUMBER).to_numpy(zero_copy_only=False)
    if not match.any():
        return done
    picked = texts.filter(pa.array(match))
    values = pc.cast(pc.utf8_trim_whitespace(picked), pa.float64()).to_numpy(
        zero_copy_only=False)
    rows = where[match]
    kind[rows] = _VALUE
    number[rows] = values
    done[rows] = True
    return done


def _classify_value(value, decimal_comma: bool, unit: str) -> tuple[int, float] | None:
    """(kind, number) of one distinct cell (text or number), or None when not understood."""
    if isinstance(value, str):
        text = value.strip()
        if decimal_comma:
            text = text.replace(",", ".")
        return _classify_text(text, unit)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return _MISSING, np.nan
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return None
    return (_VALUE, as_float) if np.isfinite(as_float) else (_MISSING, np.nan)
