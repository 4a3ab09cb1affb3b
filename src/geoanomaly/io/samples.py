"""Reading point samples (lab tables, GIS layers) into a :class:`~geoanomaly.survey.Survey`.

Assays are read as text and only turned into floats when every value of a column is a plain
number, so that lab strings ("<0.5", "BDL", "n.a.") reach the cleaning stage untouched and are
handled there by a reported rule, not silently turned into NaN here.  Columns stay named as the
user named them in every message; rows are named by the line number a spreadsheet shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError
from geoanomaly.io.columns import (find_coordinate_columns, parse_element_column,
                                   select_element_columns)
from geoanomaly.io.crs import crs_label, guess_lonlat, parse_crs
from geoanomaly.survey import Survey

TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
VECTOR_SUFFIXES = {".gpkg", ".shp"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TABLE_SUFFIXES = TEXT_SUFFIXES | EXCEL_SUFFIXES | VECTOR_SUFFIXES | PARQUET_SUFFIXES
SUPPORTED = "CSV/TSV/TXT, XLSX, Parquet, GeoPackage (.gpkg) or Shapefile (.shp)"

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DECIMAL_COMMA = re.compile(r"^\s*[<>]?\s*[-+]?\d+,\d+\s*$")


@dataclass
class Table:
    """A table as read from one file, before any column is interpreted.

    ``frame`` keeps the reader's row index, so ``row_name(i)`` can say where row ``i`` is in
    the file ("line 7" for text and spreadsheets, header = line 1; "feature 7" for GIS layers).
    ``geom_x`` / ``geom_y`` / ``crs`` come from a GIS layer's geometry (None for plain tables).
    """

    frame: pd.DataFrame
    path: Path
    geom_x: np.ndarray | None = None
    geom_y: np.ndarray | None = None
    crs: object | None = None
    row_word: str = "line"
    row_offset: int = 2
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    def row_name(self, position: int) -> str:
        return f"{self.row_word} {int(self.frame.index[position]) + self.row_offset}"


# --------------------------------------------------------------------------------------------
# Reading raw tables
# --------------------------------------------------------------------------------------------

def _sniff_text(path: Path) -> tuple[str, str]:
    """(encoding, delimiter) of a delimited text file, from its first non-empty line."""
    head = path.read_bytes()[:65536]
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as err:
        # A cut multi-byte character at the end of the sample is still UTF-8.
        encoding = "utf-8-sig" if err.start >= len(head) - 3 else "latin-1"
    text = head.decode(encoding, errors="ignore")
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in _DELIMITER_NAMES}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        delimiter = ","
    return encoding, delimiter


def _read_text(path: Path) -> Table:
    encoding, delimiter = _sniff_text(path)
    kwargs = dict(sep=delimiter, dtype=str, keep_default_na=False, na_values=[""],
                  skip_blank_lines=False)
    try:
        try:
            frame = pd.read_csv(path, encoding=encoding, **kwargs)
        except UnicodeDecodeError:
            encoding = "latin-1"
            frame = pd.read_csv(path, encoding=encoding, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: give a table with a header line and one row per "
                         "sample.") from None
    except (pd.errors.ParserError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise InputError(f"Cannot read {path} as a {_DELIMITER_NAMES[delimiter]}-separated "
                         f"table ({reason}); supported formats: {SUPPORTED}.") from None
    table = Table(frame=frame, path=path, delimiter=delimiter)
    table.notes.append(f"Read {path.name} as a {_DELIMITER_NAMES[delimiter]}-separated table "
                       f"({encoding.replace('-sig', '')}).")
    return table


def _read_excel(path: Path, sheet) -> Table:
    try:
        workbook = pd.ExcelFile(path)
    except ImportError:
        raise InputError(f"Cannot read {path}: old .xls workbooks need the xlrd package; save it "
                         "as .xlsx or CSV.") from None
    except Exception as err:  # zip/xml errors from openpyxl for a file that is not a workbook
        raise InputError(f"Cannot read {path} as a spreadsheet ({type(err).__name__}); "
                         f"supported formats: {SUPPORTED}.") from None
    names = [str(s) for s in workbook.sheet_names]
    if sheet is None:
        chosen = workbook.sheet_names[0]
    elif str(sheet) in names:
        chosen = workbook.sheet_names[names.index(str(sheet))]
    elif isinstance(sheet, int) and 0 <= sheet < len(names):
        chosen = workbook.sheet_names[sheet]
    else:
        raise InputError(f"{path} has no sheet '{sheet}'; its sheets are: {', '.join(names)}.")
    frame = workbook.parse(chosen, dtype=object)
    table = Table(frame=frame, path=path)
    note = f"Read sheet '{chosen}' of {path.name}"
    if len(names) > 1:
        note += f" (other sheets ignored: {', '.join(n for n in names if n != str(chosen))})"
    table.notes.append(note + ".")
    return table


def _geometry_xy(geometry, path: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """x, y of point geometries; other shapes use a point inside them (noted)."""
    types = set(geometry.geom_type.dropna().unique())
    if types - {"Point"}:
        notes.append(f"{path.name} holds {', '.join(sorted(types))} geometries; each one is "
                     "represented by a point inside it.")
        geometry = geometry.representative_point()
    empty = geometry.isna() | geometry.is_empty
    x = np.full(len(geometry), np.nan)
    y = np.full(len(geometry), np.nan)
    good = ~empty.to_numpy()
    if good.any():
        x[good] = geometry[good].x.to_numpy(dtype=float)
        y[good] = geometry[good].y.to_numpy(dtype=float)
    return x, y


def _read_vector(path: Path, layer) -> Table:
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as err:
        raise InputError(f"Cannot read {path} as a GIS layer ({' '.join(str(err).split())}); "
                         f"supported formats: {SUPPORTED}.") from None
    notes: list[str] = []
    if layer is not None and str(layer) not in layers:
        raise InputError(f"{path} has no layer '{layer}'; its layers are: {', '.join(layers)}.")
    if layer is None and len(layers) > 1:
        notes.append(f"{path.name} has layers {', '.join(layers)}; read the first, '{layers[0]}'.")
    import geopandas

    frame = geopandas.read_file(path, layer=layer if layer is not None else layers[0],
                                engine="pyogrio")
    return _table_from_geoframe(frame, path, notes)


def _table_from_geoframe(frame, path: Path, notes: list[str]) -> Table:
    """Attributes plus point coordinates; a layer without geometry is a plain table."""
    import geopandas

    table = Table(frame=pd.DataFrame(frame), path=path, row_word="feature", row_offset=1,
                  notes=notes)
    if isinstance(frame, geopandas.GeoDataFrame) and frame.active_geometry_name is not None:
        geometry = frame.geometry
        table.frame = table.frame.drop(columns=[frame.active_geometry_name])
        if geometry.notna().any():
            table.geom_x, table.geom_y = _geometry_xy(geometry, path, table.notes)
            table.crs = parse_crs(frame.crs.to_wkt()) if frame.crs is not None else None
    return table


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        if b"geo" in metadata:
            import geopandas

            return _table_from_geoframe(geopandas.read_parquet(path), path, [])
        frame = pd.read_parquet(path)
    except Exception as err:
        raise InputError(f"Cannot read {path} as Parquet ({' '.join(str(err).split())[:200]}); "
                         f"supported formats: {SUPPORTED}.") from None
    return Table(frame=frame, path=path, row_word="row", row_offset=1)


def read_table(path, *, sheet=None) -> Table:
    """The raw table of one file (no column interpreted yet); formats chosen by extension."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a table: give a {SUPPORTED} file, or a "
                         "folder of GeoTIFFs for gridded data.")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        table = _read_text(path)
    elif suffix in EXCEL_SUFFIXES:
        table = _read_excel(path, sheet)
    elif suffix in VECTOR_SUFFIXES:
        table = _read_vector(path, sheet)
    elif suffix in PARQUET_SUFFIXES:
        table = _read_parquet(path)
    else:
        raise InputError(f"{path} has an unsupported file type '{path.suffix or '(none)'}': "
                         f"give a {SUPPORTED} file, or GeoTIFFs for gridded data.")
    table.frame.columns = [str(c).strip() for c in table.frame.columns]
    if table.geom_x is None:  # spreadsheets often end in rows that are empty but for commas
        empty_rows = table.frame.isna().all(axis=1)
        if empty_rows.any():
            table.notes.append(f"{int(empty_rows.sum())} empty rows of {path.name} ignored.")
            table.frame = table.frame[~empty_rows]
    if len(table.frame) == 0:
        raise InputError(f"{path} has no data rows: give a table with one row per sample.")
    return table


# --------------------------------------------------------------------------------------------
# Interpreting columns
# --------------------------------------------------------------------------------------------

def _as_text(column: pd.Series) -> pd.Series:
    """Values as stripped strings, NaN where empty."""
    text = column.where(column.isna(), column.astype(str)).str.strip()
    return text.mask(text == "")


def coordinate_values(table: Table, column: str, decimal_comma: bool = False) -> np.ndarray:
    """Coordinates of one column as floats; any missing or non-numeric value is an InputError."""
    raw = table.frame[column]
    if raw.dtype.kind in "biuf":
        values = raw.to_numpy(dtype=float)
        text = raw
    else:
        text = _as_text(raw)
        parse = text.str.replace(",", ".", regex=False) if decimal_comma else text
        values = pd.to_numeric(parse, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        first = bad[0]
        shown = text.iloc[first]
        what = "is empty" if pd.isna(shown) else f"is '{shown}', not a number"
        more = f" ({bad.size - 1} more rows have the same problem)" if bad.size > 1 else ""
        raise InputError(f"{table.path} {table.row_name(first)}: coordinate column {column} "
                         f"{what}{more}; fix or delete those rows.")
    return values


def assay_column(column: pd.Series, decimal_comma: bool = False) -> pd.Series:
    """float64 when every non-empty value is a number; else stripped strings for the cleaner."""
    if column.dtype.kind in "biuf":
        return column.astype("float64")
    numbers = pd.to_numeric(column, errors="coerce")
    if not decimal_comma and (numbers.notna() == column.notna()).all():
        return numbers.astype("float64")  # fast path: a clean numeric column
    text = _as_text(column)
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    if (numbers.notna() | text.isna()).all():
        return numbers.astype("float64")
    return text.astype(object)


def _uses_decimal_comma(table: Table, columns: list[str]) -> bool:
    """Semicolon files from European locales write 1,5 for 1.5."""
    if table.delimiter != ";":
        return False
    for c in columns:
        text = _as_text(table.frame[c]).dropna()
        if len(text) and text.str.match(_DECIMAL_COMMA).mean() > 0.5:
            return True
    return False


def _units_note(selected: list[tuple[str, str, str]]) -> str:
    counts: dict[str, int] = {}
    for _, _, unit in selected:
        counts[unit or "none in name"] = counts.get(unit or "none in name", 0) + 1
    summary = ", ".join(f"{u}: {n}" for u, n in counts.items())
    plural = "s" if len(selected) != 1 else ""
    return f"Elements: {len(selected)} column{plural} read ({summary})."


def read_samples(path, *, x=None, y=None, crs=None, elements=None, sheet=None) -> Survey:
    """One table of point samples as a Survey (element values possibly still text).

    CRS precedence: the file's own (GeoPackage/Shapefile/GeoParquet) > ``crs`` > lon/lat
    recognised by names or ranges (EPSG:4326) > unknown (None, with a note).
    ``sheet`` names the spreadsheet sheet or the GeoPackage layer.
    """
    table = read_table(path, sheet=sheet)
    source = str(table.path)
    notes = list(table.notes)
    frame = table.frame
    user_crs = parse_crs(crs) if crs is not None else None

    use_geometry = table.geom_x is not None and x is None and y is None
    if use_geometry:
        missing = np.flatnonzero(~(np.isfinite(table.geom_x) & np.isfinite(table.geom_y)))
        if missing.size:
            raise InputError(f"{source} {table.row_name(missing[0])} has no geometry "
                             f"({missing.size} features in all); fix or delete those features.")
        xs, ys = table.geom_x, table.geom_y
        coord_columns: list[str] = []
        where = "the point geometry"
    else:
        xcol, ycol = find_coordinate_columns(list(frame.columns), x, y, source=source)
        coord_columns = [xcol, ycol]
        decimal_comma = _uses_decimal_comma(table, coord_columns)
        xs = coordinate_values(table, xcol, decimal_comma)
        ys = coordinate_values(table, ycol, decimal_comma)
        where = f"columns {xcol}, {ycol}"

    if table.crs is not None:
        survey_crs = table.crs
        notes.append(f"Coordinates: {where}; CRS {crs_label(survey_crs)} from the file.")
        if user_crs is not None and not user_crs.equals(table.crs):
            notes.append(f"--crs {crs} ignored: {table.path.name} declares "
                         f"{crs_label(table.crs)}.")
    elif user_crs is not None:
        survey_crs = user_crs
        notes.append(f"Coordinates: {where}; CRS {crs_label(user_crs)} as given with --crs.")
    else:
        names = coord_columns if coord_columns else ["x", "y"]
        is_lonlat, sentence = guess_lonlat(xs, ys, names[0], names[1])
        survey_crs = parse_crs("EPSG:4326") if is_lonlat else None
        notes.append(sentence if coord_columns else
                     sentence.replace("columns x, y", "the point geometry"))

    # Element-like columns become float once here when they are clean numbers; the rest stay
    # text for the cleaner.  Metadata keeps the file's text (ids keep their leading zeros).
    candidates = [c for c in frame.columns
                  if c not in coord_columns and (parse_element_column(c) or elements)]
    decimal_comma = _uses_decimal_comma(table, candidates)
    if decimal_comma:
        notes.append(f"{table.path.name} writes decimals with a comma (1,5); read as 1.5.")
    assays = frame.assign(**{c: assay_column(frame[c], decimal_comma) for c in candidates})
    selected = select_element_columns(assays, set(coord_columns), elements, source, notes=notes)
    values = pd.DataFrame({key: assays[col].to_numpy() for col, key, _ in selected})
    notes.append(_units_note(selected))
    used = set(coord_columns) | {col for col, _, _ in selected}
    meta = frame[[c for c in frame.columns if c not in used]].reset_index(drop=True)
    return Survey(
        values=values,
        x=np.asarray(xs, dtype=float), y=np.asarray(ys, dtype=float),
        crs=survey_crs,
        units={key: unit for _, key, unit in selected},
        columns={key: col for col, key, _ in selected},
        meta=meta,
        sources=[source],
        notes=notes,
    )
