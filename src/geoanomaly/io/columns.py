"""Recognising columns by name: which are coordinates, which are element assays, in what unit.

Lab files name the same thing in many ways (``Cu``, ``Cu_ppm``, ``CU (PPM)``, ``Cu_ppm_511``,
``Fe2O3_%``). Recognition is by name only, never by column order (the GSWA soil file has ``Y``
before ``X``), so that a reordered file reads the same. What cannot be recognised is reported to
the user with the options (``--x/--y``, ``--elements``) that settle it.
"""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError

# --------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------

# (x name, y name) pairs after normalisation (lower case, non-alphanumerics -> "_"), best first.
COORDINATE_PAIRS: list[tuple[str, str]] = [
    ("x", "y"),
    ("easting", "northing"), ("east", "north"), ("easting_m", "northing_m"),
    ("longitude", "latitude"), ("lon", "lat"), ("long", "lat"), ("lng", "lat"),
    ("lon_dd", "lat_dd"), ("long_dd", "lat_dd"), ("longitude_dd", "latitude_dd"),
    ("dec_lon", "dec_lat"), ("decimal_longitude", "decimal_latitude"),
    ("xcoo", "ycoo"), ("x_coord", "y_coord"), ("xcoord", "ycoord"), ("coord_x", "coord_y"),
    ("x_coordinate", "y_coordinate"), ("x_m", "y_m"), ("x_utm", "y_utm"), ("point_x", "point_y"),
    ("utm_e", "utm_n"), ("utme", "utmn"), ("utm_east", "utm_north"),
    ("utm_easting", "utm_northing"),
    ("mga_e", "mga_n"), ("mga_east", "mga_north"), ("mga_easting", "mga_northing"),
    ("amg_e", "amg_n"), ("amg_east", "amg_north"), ("gda94_e", "gda94_n"),
    ("e", "n"),  # only as a pair: a lone "N" is nitrogen
]

LONLAT_NAMES = {"lon", "long", "lng", "longitude", "lat", "latitude", "lon_dd", "lat_dd",
                "long_dd", "longitude_dd", "latitude_dd", "dec_lon", "dec_lat",
                "decimal_longitude", "decimal_latitude"}


def normalise_name(name: str) -> str:
    """Lower case, every run of non-alphanumerics -> "_": ``"Easting (m)"`` -> ``"easting_m"``."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def is_lonlat_name(name: str) -> bool:
    return normalise_name(name) in LONLAT_NAMES


def close_matches(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Column names that look like ``name`` (for "did you mean" in error messages)."""
    lower = {str(c).lower(): str(c) for c in candidates}
    found = difflib.get_close_matches(str(name).lower(), list(lower), n=n, cutoff=0.5)
    return [lower[f] for f in found]


def _resolve_named_column(name: str, columns: list[str], option: str, source: str) -> str:
    """The column the user named; a unique case-insensitive match is accepted too."""
    if name in columns:
        return name
    same_but_case = [c for c in columns if str(c).lower() == str(name).lower()]
    if len(same_but_case) == 1:
        return same_but_case[0]
    near = close_matches(name, columns)
    hint = f"; close matches: {', '.join(near)}" if near else f"; columns are: {_short_list(columns)}"
    raise InputError(f"{source or 'the input'} has no column '{name}' (given with {option}){hint}.")


def _short_list(items: list[str], limit: int = 12) -> str:
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def find_coordinate_columns(columns: list[str], x: str | None = None, y: str | None = None,
                            source: str = "", *, options: tuple[str, str] = ("--x", "--y")
                            ) -> tuple[str, str]:
    """Names of the x and y columns: the ones given, else the first common pair found by name.

    ``options`` are the command-line options that name them, for the error messages.
    """
    xopt, yopt = options
    columns = [str(c) for c in columns]
    where = source or "the input"
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError(f"Only one of {xopt} / {yopt} was given for {where}: pass both, "
                             f"e.g. {xopt} Easting {yopt} Northing.")
        return (_resolve_named_column(x, columns, xopt, source),
                _resolve_named_column(y, columns, yopt, source))

    by_normal: dict[str, str] = {}
    for c in columns:
        by_normal.setdefault(normalise_name(c), c)
    for xn, yn in COORDINATE_PAIRS:
        if xn in by_normal and yn in by_normal:
            return by_normal[xn], by_normal[yn]
    # Looser: exactly one column mentioning east(ing)/lon and one mentioning north(ing)/lat.
    for xkey, ykey in (("east", "north"), ("lon", "lat")):
        xs = [c for c in columns if xkey in normalise_name(c)]
        ys = [c for c in columns if ykey in normalise_name(c)]
        if len(xs) == 1 and len(ys) == 1 and xs[0] != ys[0]:
            return xs[0], ys[0]
    raise InputError(f"Could not find coordinate columns in {where} (looked for x/y, "
                     f"easting/northing, lon/lat and similar names): pass {xopt} and {yopt} "
                     f"with the column names; columns are: {_short_list(columns)}.")


# --------------------------------------------------------------------------------------------
# Element columns
# --------------------------------------------------------------------------------------------

# Elements that appear in geochemical assays: H..U without noble gases and short-lived
# radioactive elements (so "No", "Ra", "At" ... are never taken as elements).
ELEMENTS = (
    "H Li Be B C N O F Na Mg Al Si P S Cl K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Rb "
    "Sr Y Zr Nb Mo Ru Rh Pd Ag Cd In Sn Sb Te I Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Th U"
).split()

OXIDES = (
    "SiO2 Al2O3 Fe2O3 Fe2O3T FeO FeOT MgO CaO Na2O K2O TiO2 P2O5 MnO MnO2 Cr2O3 BaO SrO ZrO2 "
    "HfO2 CeO2 La2O3 Pr2O3 Pr6O11 Nd2O3 Sm2O3 Eu2O3 Gd2O3 Tb2O3 Tb4O7 Dy2O3 Ho2O3 Er2O3 Tm2O3 "
    "Yb2O3 Lu2O3 Y2O3 Sc2O3 ThO2 UO2 U3O8 WO3 MoO3 Nb2O5 Ta2O5 V2O5 Sb2O3 Sb2O5 As2O3 SnO2 "
    "Cs2O Rb2O Li2O BeO B2O3 Ga2O3 GeO2 ZnO CuO PbO NiO CoO"
).split()

# Compounds and bulk properties that look like formulae but are not element assays.
NOT_ELEMENTS = {"loi", "h2o", "h2oneg", "h2opos", "h2o_", "co2", "so3", "so4", "toc", "tot"}

_CANONICAL = {s.lower(): s for s in ELEMENTS + OXIDES}
assert len(_CANONICAL) == len(ELEMENTS) + len(OXIDES), "element/oxide names collide by case"

# Unit spellings (lower case) -> normalised unit.  g/t is ppm by definition.
UNITS = {
    "ppm": "ppm", "mg/kg": "ppm", "ug/g": "ppm", "µg/g": "ppm", "g/t": "ppm", "gpt": "ppm",
    "ppb": "ppb", "ug/kg": "ppb", "µg/kg": "ppb", "ng/g": "ppb", "mg/t": "ppb",
    "pct": "pct", "%": "pct", "wt%": "pct", "wt.%": "pct", "wtpct": "pct", "percent": "pct",
    "perc": "pct", "per": "pct",
    "ppt": "ppt",
}
_UNIT_SUFFIX = re.compile(r"^(?P<el>[A-Za-z][A-Za-z0-9]*?)(?P<unit>ppm|ppb|pct|%)$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s_()\[\]{},;:\-]+")


def _canonical_symbol(token: str) -> str | None:
    if token.lower() in NOT_ELEMENTS:
        return None
    return _CANONICAL.get(token.lower())


def parse_element_column(name: str) -> tuple[str, str] | None:
    """(element, unit) from a column name, or None when the name is not an element assay.

    The element (or oxide) comes first; a unit may follow, after which anything else (a lab
    method code such as ``511`` or ``FA``) is ignored.  Without a unit the name must be the bare
    symbol, in its canonical case or all upper case (``Cu``, ``CU``; not ``cu`` or ``Au_SITES``),
    which keeps words such as ``in`` or ``As_is`` out.  Unit "" means the name gave none.
    """
    text = str(name).strip()
    if not text:
        return None
    tokens = [t for t in _SEPARATORS.split(text) if t]
    if not tokens:
        return None
    first, rest = tokens[0], tokens[1:]
    element = _canonical_symbol(first)
    if element is None:
        glued = _UNIT_SUFFIX.match(first)  # "Fe2O3%", "Cuppm"
        if glued:
            element = _canonical_symbol(glued["el"])
            if element is not None:
                return element, UNITS[glued["unit"].lower()]
        return None
    if not rest:
        if first == element or (first == first.upper() and first != first.lower()):
            return element, ""
        return None
    unit_tokens = [t.lower() for t in rest]
    if unit_tokens[0] == "wt" and len(unit_tokens) > 1:  # "SiO2_wt_pct", "SiO2 wt %"
        unit_tokens = ["wt" + unit_tokens[1]] + unit_tokens[2:]
    unit = UNITS.get(unit_tokens[0])
    if unit is None:
        return None
    return element, unit


#: Words GIS software and geostatisticians put around an element in the name of a gridded map
#: ("Idw_Li", "Kriging_Mn_ppm", "cu_ordinary_kriging", "IDW-Au_ppb"): the interpolation method,
#: not part of the element's name.
MAP_METHOD_WORDS = {
    "idw", "kriging", "kriged", "krige", "krig", "ok", "uk", "sk", "ordinary", "universal",
    "simple", "cokriging", "interp", "interpolated", "interpolation", "grid", "gridded", "map",
    "raster", "spline", "rbf", "tin", "nn", "natural", "neighbour", "neighbor", "nearest",
    "linear", "cubic", "minimum", "curvature", "mc", "est", "estimate", "estimated", "pred",
    "prediction", "surface",
}


def parse_map_name(name: str) -> tuple[str, str] | None:
    """(element, unit) from the name of a gridded element map (a file stem or a band
    description), or None. The rules of :func:`parse_element_column` (one place), with what a
    map's name adds: interpolation-method words anywhere (``Idw_Li``, ``Kriging_Mn_ppm``,
    ``cu_ordinary_kriging``) are dropped, and a bare symbol may be in any case (``zn``): a map
    file is an element map, so the caution that keeps a table's ``in`` or ``As_is`` columns out
    is not needed."""
    parsed = parse_element_column(name)
    if parsed is not None:
        return parsed
    tokens = [t for t in _SEPARATORS.split(str(name).strip()) if t]
    kept = [t for t in tokens if t.lower() not in MAP_METHOD_WORDS]
    if not kept or len(kept) > 2:
        return None
    element = _canonical_symbol(kept[0])
    if element is None:
        glued = _UNIT_SUFFIX.match(kept[0])  # "Mnppm"
        element = _canonical_symbol(glued["el"]) if glued else None
        return (element, UNITS[glued["unit"].lower()]) if element and len(kept) == 1 else None
    if len(kept) == 1:
        return element, ""
    unit = UNITS.get(kept[1].lower())
    return (element, unit) if unit is not None else None


# --------------------------------------------------------------------------------------------
# Choosing the element columns of a table
# --------------------------------------------------------------------------------------------

# Strings a lab writes instead of a number that still make the column an assay column.
_FLAG_VALUE = re.compile(
    r"^\s*(?:[<>]\s*=?\s*[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?|bdl|b\.d\.l\.?|bd|nd|n\.d\.?|n/d|na|n\.a\.?|"
    r"n/a|nan|lnr|l\.n\.r\.?|is|i\.s\.?|ns|n\.s\.?|nr|x|tr|trace|-+|--|\?|null|none|missing|"
    r"not analysed|not analyzed|<dl|<ld|<lod|bld|ld)\s*$",
    re.IGNORECASE,
)


def text_fraction(column: pd.Series) -> float:
    """Share of the non-empty values that are neither numbers nor below-detection flags."""
    if column.dtype.kind in "biufc":
        return 0.0
    # decided once per distinct value, weighted by how often it occurs (a lab column of a
    # million rows holds a few thousand distinct texts)
    codes, uniques = pd.factorize(column)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    if (pd.to_numeric(distinct, errors="coerce").notna() == distinct.notna()).all():
        return 0.0  # fast path: every value a number
    text = distinct.astype(str)
    filled = (text.str.strip() != "").to_numpy()
    if not (counts * filled).sum():
        return 0.0
    numeric = pd.to_numeric(text.str.strip(), errors="coerce").notna().to_numpy()
    flags = text.str.match(_FLAG_VALUE).to_numpy(dtype=bool)
    n_text = ((~numeric & ~flags & filled) * counts).sum()
    return float(n_text) / float((counts * filled).sum())


def select_element_columns(df: pd.DataFrame, exclude: set[str], elements: list[str] | None,
                           source: str, *, notes: list[str] | None = None
                           ) -> list[tuple[str, str, str]]:
    """The element columns of a table as (column, element key, unit), in table order.

    ``elements`` (the --elements option) picks by exact column name, element key or element
    symbol (``Cu`` picks every Cu column).  Without it every recognised element column is
    taken, except mostly-text columns (metadata) and, when some columns carry units, bare
    unit-less names (in such files a bare ``S`` or ``Y`` is usually a code or coordinate).
    The same element in two columns (two labs, two units) is refused: the user picks one by
    its column name in --elements.
    """
    where = source or "the input"
    notes = notes if notes is not None else []
    columns = [str(c) for c in df.columns if str(c) not in exclude]
    for c in columns:  # pandas reads a repeated header "Cu" as "Cu.1"
        mangled = re.fullmatch(r"(.+)\.\d+", c)
        if columns.count(c) > 1 or (mangled and mangled.group(1) in columns
                                    and parse_element_column(mangled.group(1))):
            base = mangled.group(1) if mangled and columns.count(c) == 1 else c
            refuse_duplicate(where, base, base, f"{base}.1",
                             [k for k in columns if k != c and parse_element_column(k)])
    parsed = {c: parse_element_column(c) for c in columns}
    recognised = [c for c in columns if parsed[c] is not None]

    if elements:
        chosen: list[str] = []
        for want in elements:
            want = str(want).strip()
            if want in columns:
                hits = [want]
            else:
                symbol = _canonical_symbol(want) or want
                hits = [c for c in recognised if parsed[c][0] == symbol]
            if not hits:
                available = ", ".join(recognised) if recognised else "none recognised"
                raise InputError(f"{where} has no element column '{want}' (from --elements); "
                                 f"element columns are: {available}.")
            chosen += [h for h in hits if h not in chosen]
        pick = chosen
    else:
        with_unit = [c for c in recognised if parsed[c][1] != ""]
        if with_unit:
            bare = [c for c in recognised if parsed[c][1] == ""]
            if bare:
                notes.append(f"Columns {', '.join(bare)} look like bare element names but were not "
                             "used because other element columns carry units; name them in "
                             "--elements to use them.")
            pick = with_unit
        else:
            pick = recognised
        texty = [c for c in pick if text_fraction(df[c]) > 0.5]
        if texty:
            notes.append(f"Columns {', '.join(texty)} have element-like names but mostly text "
                         "values, so they were kept as metadata.")
        pick = [c for c in pick if c not in texty]

    if not pick:
        raise InputError(f"No element columns found in {where} (expected names like Cu, Cu_ppm, "
                         "Au_ppb, Fe2O3_pct): rename the assay columns or pass --elements with "
                         f"their names; columns are: {_short_list(columns)}.")

    result: list[tuple[str, str, str]] = []
    first: dict[str, str] = {}
    for c in pick:
        element, unit = parsed[c] if parsed[c] is not None else (c, "")
        if element in first:
            refuse_duplicate(where, element, first[element], c, [p for p in pick if p != c])
        first[element] = c
        result.append((c, element, unit))
    return result


def refuse_duplicate(where: str, element: str, one: str, other: str, keep: list[str],
                     noun: str = "columns") -> None:
    """Two columns (files, bands) of one element are two labs or methods on two scales: scored
    side by side they make one element count twice and their difference look anomalous. The
    user chooses which to use."""
    twice = re.fullmatch(re.escape(one) + r"\.\d+", other)
    what = (f"the header {one} appears twice" if twice else
            f"{noun} {one} and {other} both hold {element}")
    raise InputError(f"{where}: {what} (two labs or methods, or a copied column); choose one "
                     f"with --elements naming it, e.g. --elements "
                     f"{','.join(keep[:4])}{',...' if len(keep) > 4 else ''}, or remove the "
                     "other.")
