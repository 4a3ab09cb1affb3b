"""Reading point samples (lab tables, GIS layers) into a :class:`~geoanomaly.survey.Survey`.

Assays are read as text and only turned into floats when every value of a column is a plain
number, so that lab strings ("<0.5", "BDL", "n.a.") reach the cleaning stage untouched and are
handled there by a reported rule, not silently turned into NaN here.  Columns stay named as the
user named them in every message; rows are named by the line number a spreadsheet shows.

Delimited text is read by pyarrow's multi-threaded CSV reader when it can read the file exactly
as pandas would (UTF-8, a clean header, rows of equal length); the columns that may hold numbers
(element and coordinate columns) are converted there, in C++, when every value is a short plain
number, and every other case keeps the text for the rules below. Anything the fast reader cannot
read the same way goes to the pandas reader, whose messages the user sees.
"""

from __future__ import annotations

import csv
import functools
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoanomaly.errors import InputError
from geoanomaly.io.columns import (COORDINATE_PAIRS, find_coordinate_columns, normalise_name,
                                   parse_element_column, select_element_columns)
from geoanomaly.io.crs import crs_label, guess_lonlat, parse_crs
from geoanomaly.progress import bar
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
    #: column -> a function that reads the file's text of a column the fast CSV reader turned
    #: into numbers (a pyarrow array), so that metadata keeps the text as written
    source_text: dict = field(default_factory=dict)

    def row_name(self, position: int) -> str:
        return f"{self.row_word} {int(self.frame.index[position]) + self.row_offset}"

    def text(self, column: str) -> pd.Series:
        """The column as the file wrote it: text (NaN where empty) for a column that was
        converted to numbers while reading, else the frame's column itself."""
        if column not in self.source_text:
            return self.frame[column]
        values = _object_strings(self.source_text[column]())
        return pd.Series(values, name=column).loc[self.frame.index]


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


#: Numbers written with at most this many characters are parsed by pyarrow to exactly the
#: float pandas gives (checked on millions of random values); longer ones ("0.1234567890123")
#: can differ in the last bit, so they are parsed by pandas as before.
_ARROW_EXACT_CHARS = 12


def _object_strings(array, categorical: bool = False):
    """A pyarrow string array as an object array of str with NaN where empty (what pandas'
    ``dtype=str`` reader gives); with ``categorical`` and few distinct texts, a pandas
    Categorical instead (assay columns holding lab codes: each distinct text is stored once and
    the cleaner reads it once, by its code)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.num_chunks != 1:
        array = pa.chunked_array([array.combine_chunks()])
    chunk = array.chunk(0)
    if categorical and len(chunk) > 10_000:
        encoded = pc.dictionary_encode(chunk)
        if len(encoded.dictionary) * 4 < len(chunk):
            words = encoded.dictionary.to_pylist()
            index = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            return pd.Categorical.from_codes(index, pd.Index(words, dtype=object))
    values = np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=object)
    if chunk.null_count:
        values[chunk.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return values


def _arrow_numbers(array):
    """float64 values of a pyarrow string column when every non-empty value is a finite plain
    number, as pandas would read it; None when any value is not (the text path decides)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        numbers = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = np.array(numbers.to_numpy(zero_copy_only=False))  # NaN where empty; writable
    present = ~array.is_null().to_numpy(zero_copy_only=False)
    if not np.isfinite(values[present]).all():  # "nan", "inf", "1e400": the text rules decide
        return None
    long_text = (pc.utf8_length(array).to_numpy(zero_copy_only=False) > _ARROW_EXACT_CHARS) \
        & present
    if long_text.any():  # bit-identical to the pandas reader for long numbers too
        strings = pd.Series(array.filter(pa.array(long_text)).to_pylist(), dtype=object)
        values[long_text] = pd.to_numeric(strings, errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values[long_text]).all():
            return None
    return values


def _has_quotes(path: Path) -> bool:
    """Whether the file holds a double quote anywhere (a quoted value may then span lines)."""
    import mmap

    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view.find(b'"') >= 0


def _arrow_csv(path: Path, delimiter: str, names: list[str], include=None):
    """The file as a pyarrow table of text columns, read the way the pandas reader reads it:
    empty = missing, blank lines kept as empty rows, every value checked to be UTF-8. Lines
    are split in parallel unless a quote in the file may hold a line break."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(use_threads=True, encoding="utf8"),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                        newlines_in_values=_has_quotes(path)),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=True, check_utf8=True,
            include_columns=include))


def _column_text(path: Path, delimiter: str, names: list[str], name: str):
    """One column of the file as text (a pyarrow array), read again."""
    return _arrow_csv(path, delimiter, names, include=[name]).column(0)


def _read_text_arrow(path: Path, delimiter: str, numeric) -> tuple[pd.DataFrame, dict] | None:
    """(frame, source_text) read by pyarrow, or None when pandas must read the file.

    Every column is read as text; the columns ``numeric(name)`` names become float64 when every
    value is a finite plain number (``source_text`` can read their text again, for metadata),
    the others stay text. The file is refused (None) on any parse error, invalid UTF-8, or a
    header pandas would rename (empty or repeated names). Each column is released once
    converted, and the numbers go into one float block, so a big file is held about once."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        with open(path, "rb") as handle:
            header = handle.readline().decode("utf-8-sig").rstrip("\r\n")
        names = next(csv.reader([header], delimiter=delimiter), [])
        if not names or any(n == "" for n in names) or len(set(names)) != len(names):
            return None
        table = _arrow_csv(path, delimiter, names)
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError):
        return None
    if table.column_names != names:
        return None
    wanted = [numeric is not None and numeric(name.strip()) for name in names]
    block = np.empty((sum(wanted), table.num_rows))
    numbers, texts, source_text = [], {}, {}
    with bar(len(names), f"reading {path.name}", unit="column") as progress:
        for name, may_be_number in zip(names, wanted):
            array = table.column(name)
            table = table.drop_columns([name])  # release the column's text once read
            values = _arrow_numbers(array) if may_be_number else None
            if values is not None:
                block[len(numbers)] = values
                numbers.append(name)
                source_text[name] = functools.partial(_column_text, path, delimiter, names,
                                                      name)
            else:
                texts[name] = _object_strings(array, categorical=may_be_number)
            del array, values
            progress.update()
    frame = pd.DataFrame(block[:len(numbers)].T, columns=numbers, copy=False)  # a view
    with warnings.catch_warnings():  # one block per text column is fine here
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for position, name in enumerate(names):
            if name in texts:
                frame.insert(position, name, texts.pop(name))
    return frame, source_text


def _read_text(path: Path, numeric=None) -> Table:
    encoding, delimiter = _sniff_text(path)
    fast = _read_text_arrow(path, delimiter, numeric) if encoding == "utf-8-sig" else None
    if fast is not None:
        frame, source_text = fast
        if len(frame.columns) and len(frame):
            table = Table(frame=frame, path=path, delimiter=delimiter,
                          source_text=source_text)
            table.notes.append(f"Read {path.name} as a {_DELIMITER_NAMES[delimiter]}-separated "
                               "table (utf-8).")
            return table
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

    if path.suffix.lower() == ".shp" and not any(
            path.with_suffix(ext).exists() for ext in (".dbf", ".DBF")):
        raise InputError(f"{path}: its attribute file {path.with_suffix('.dbf').name} is "
                         "missing, and the assays live there; copy the .shp together with its "
                         ".dbf, .shx and .prj.")
    try:
        listed = pyogrio.list_layers(path)
    except Exception as err:
        raise InputError(f"Cannot read {path} as a GIS layer ({' '.join(str(err).split())}); "
                         f"supported formats: {SUPPORTED}.") from None
    # layers with geometry first: a GeoPackage may hold tables too (QGIS's layer_styles)
    layers = [str(name) for name, kind in listed if kind] + \
        [str(name) for name, kind in listed if not kind]
    notes: list[str] = []
    if layer is not None and str(layer) not in layers:
        raise InputError(f"{path} has no layer '{layer}'; its layers are: {', '.join(layers)}.")
    if layer is None and sum(1 for _, kind in listed if kind) > 1:
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


def read_table(path, *, sheet=None, numeric=None) -> Table:
    """The raw table of one file (no column interpreted yet); formats chosen by extension.

    ``numeric(name) -> bool`` names the columns of a delimited text file that may be read as
    numbers straight away when every value is a plain number (element and coordinate columns);
    without it every text column stays text."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a table: give a {SUPPORTED} file, or a "
                         "folder of GeoTIFFs for gridded data.")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        table = _read_text(path, numeric)
    elif suffix in EXCEL_SUFFIXES:
        table = _read_excel(path, sheet)
    elif suffix in VECTOR_SUFFIXES:
        table = _read_vector(path, sheet)
    elif suffix in PARQUET_SUFFIXES:
        table = _read_parquet(path)
    else:
        raise InputError(f"{path} has an unsupported file type '{path.suffix or '(none)'}': "
                         f"give a {SUPPORTED} file, or GeoTIFFs for gridded data.")
    stripped = [str(c).strip() for c in table.frame.columns]
    table.source_text = {str(c).strip(): v for c, v in table.source_text.items()}
    table.frame.columns = stripped
    if table.geom_x is None:  # spreadsheets often end in rows that are empty but for commas
        empty_rows = pd.Series(np.ones(len(table.frame), dtype=bool), index=table.frame.index)
        for i in range(table.frame.shape[1]):  # column by column: no copy of the table
            empty_rows &= table.frame.iloc[:, i].isna().to_numpy()
        if empty_rows.any():
            table.notes.append(f"{int(empty_rows.sum())} empty rows of {path.name} ignored.")
            table.frame = table.frame[~empty_rows]
    if len(table.frame) == 0:
        raise InputError(f"{path} has no data rows: give a table with a header line and one "
                         "row per sample (or deposit).")
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
    """float64 when every non-empty value is a number; else stripped strings for the cleaner.

    Decided once per distinct value (a million-row column of lab values holds a few thousand),
    then spread back over the rows."""
    if column.dtype.kind in "biuf":
        return column.astype("float64")
    codes, uniques = pd.factorize(column)
    result = _assay_values(pd.Series(np.asarray(uniques, dtype=object), dtype=object),
                           decimal_comma)
    values = np.asarray(result.to_numpy(), dtype=result.dtype)
    missing = codes < 0
    if result.dtype.kind == "f":
        out = values[np.where(missing, 0, codes)] if len(values) else \
            np.full(len(codes), np.nan)
        out[missing] = np.nan
        return pd.Series(out, index=column.index, name=column.name, dtype="float64")
    # text for the cleaner, as a Categorical: each distinct text is stored (and read) once
    text_codes, texts = pd.factorize(values)  # the stripped texts; NaN where empty
    codes = np.where(missing, -1, text_codes[np.where(missing, 0, codes)] if len(values)
                     else -1)
    text = pd.Categorical.from_codes(codes, pd.Index(np.asarray(texts, dtype=object),
                                                     dtype=object))
    return pd.Series(text, index=column.index, name=column.name)


def _assay_values(column: pd.Series, decimal_comma: bool) -> pd.Series:
    """The rule of :func:`assay_column` on a column of values (no empty ones)."""
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
        if table.frame[c].dtype.kind in "biuf":  # read as plain numbers: no comma in them
            continue
        codes, uniques = pd.factorize(table.frame[c])  # each distinct text once, by count
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        text = _as_text(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
        filled = text.notna().to_numpy()
        n_filled = int(counts[filled].sum())
        if n_filled and (int(counts[filled & text.str.match(_DECIMAL_COMMA).fillna(False)
                                   .to_numpy(dtype=bool)].sum()) / n_filled) > 0.5:
            return True
    return False


def _units_note(selected: list[tuple[str, str, str]]) -> str:
    counts: dict[str, int] = {}
    for _, _, unit in selected:
        counts[unit or "none in name"] = counts.get(unit or "none in name", 0) + 1
    summary = ", ".join(f"{u}: {n}" for u, n in counts.items())
    plural = "s" if len(selected) != 1 else ""
    return f"Elements: {len(selected)} column{plural} read ({summary})."


def _may_be_numeric(x, y, elements):
    """Which columns the CSV reader may turn into numbers at once: element and coordinate
    columns by name, and whatever --x, --y and --elements name. Other columns (ids, dates,
    batches) keep their text."""
    named = {str(v).strip() for v in (x, y, *(elements or ())) if v is not None}
    coordinate_names = {n for pair in COORDINATE_PAIRS for n in pair}

    def numeric(name: str) -> bool:
        norm = normalise_name(name)
        return (name in named or parse_element_column(name) is not None
                or norm in coordinate_names
                or any(word in norm for word in ("east", "north", "lon", "lat")))
    return numeric


def read_samples(path, *, x=None, y=None, crs=None, elements=None, sheet=None) -> Survey:
    """One table of point samples as a Survey (element values possibly still text).

    CRS precedence: the file's own (GeoPackage/Shapefile/GeoParquet) > ``crs`` > lon/lat
    recognised by names or ranges (EPSG:4326) > unknown (None, with a note).
    ``sheet`` names the spreadsheet sheet or the GeoPackage layer.
    """
    table = read_table(path, sheet=sheet, numeric=_may_be_numeric(x, y, elements))
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
    assays = frame.copy(deep=False)  # the converted columns replace the text ones, no copy
    with bar(len(candidates), f"reading assays of {table.path.name}", unit="column") as progress:
        for c in candidates:
            if frame[c].dtype != np.float64:  # numbers already: kept as they are, no copy
                assays[c] = assay_column(frame[c], decimal_comma)
            progress.update()
    selected = select_element_columns(assays, set(coord_columns), elements, source, notes=notes)
    values = pd.DataFrame({key: assays[col].array if isinstance(assays[col].dtype,
                                                                pd.CategoricalDtype)
                           else assays[col].to_numpy() for col, key, _ in selected})
    notes.append(_units_note(selected))
    used = set(coord_columns) | {col for col, _, _ in selected}
    meta_columns = [c for c in frame.columns if c not in used]
    meta = pd.DataFrame({c: table.text(c) for c in meta_columns}, index=frame.index,
                        columns=pd.Index(meta_columns, dtype=object)).reset_index(drop=True)
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
