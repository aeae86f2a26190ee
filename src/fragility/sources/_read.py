"""Low-level readers shared by the publisher modules: text tables, codes, vintages."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fragility.conventions import normalise_code
from fragility.errors import InputError

#: Cell values read as "missing" (statistical secret, not available).
MISSING_TOKENS = {"", "s", "nd", "n.d.", "na", "nan", "null", "secret", "c", "x", "-"}
_ENCODINGS = ("utf-8-sig", "cp1252")
_VINTAGE_RE = re.compile(r"(?<!\d)(20[0-4]\d)(?:[-_]?(\d{2})[-_]?(\d{2}))?(?!\d)")


def open_text(path: Path, member: str | None = None) -> tuple[str, str]:
    """Return the decoded text of a file (or of a CSV inside a zip) and its encoding.

    UTF-8 (with or without BOM) is tried first, then Windows-1252; the encoding used is
    returned so that callers can report it.

    Parameters
    ----------
    path : pathlib.Path
        Text file, or ``.zip`` archive.
    member : str, optional
        Member to read inside a zip archive (default: its only CSV).

    Returns
    -------
    tuple of (str, str)
        Text and encoding name.
    """
    raw = read_bytes(path, member)
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise InputError("encodage illisible (ni UTF-8 ni Windows-1252).", path=path)


def read_bytes(path: Path, member: str | None = None) -> bytes:
    """Read a file's bytes, or those of one CSV member of a zip archive."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        if member is not None:
            names = [n for n in archive.namelist() if n == member]
        else:
            names = zip_tables(archive.namelist())
        if len(names) != 1:
            raise InputError(
                f"archive zip : un seul fichier CSV attendu, {len(names)} trouvé(s).", path=path
            )
        return archive.read(names[0])


def zip_tables(names: Iterable[str]) -> list[str]:
    """Data tables (CSV/TXT) among zip member names, without INSEE's ``meta_*`` dictionaries.

    INSEE zips hold the data file and its variable dictionary
    (``base-ic-logement-2021.CSV`` + ``meta_base-ic-logement-2021.CSV``).
    """
    tables = [n for n in names if n.lower().endswith((".csv", ".txt"))]
    data = [n for n in tables if not Path(n).name.lower().startswith("meta_")]
    return data or tables


def sniff_separator(first_line: str) -> str:
    """Pick the separator of a header line among ``;``, tab and ``,``."""
    counts = {sep: first_line.count(sep) for sep in (";", "\t", ",")}
    return max(counts, key=counts.get) if max(counts.values()) else ";"


def read_header(path: Path, member: str | None = None) -> list[str]:
    """Return the column names of a delimited text file (cheap: first 64 KiB only)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = zip_tables(archive.namelist()) if member is None else [member]
            if len(names) != 1:
                return []
            with archive.open(names[0]) as handle:
                raw = handle.read(65536)
    else:
        with open(path, "rb") as handle:
            raw = handle.read(65536)
    # A cut in the middle of a multi-byte character must not spoil the first line.
    raw = raw.split(b"\n", 1)[0] if b"\n" in raw else raw
    for encoding in _ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return []
    line = text.splitlines()[0] if text else ""
    return [c.strip().strip('"') for c in next(csv.reader([line], delimiter=sniff_separator(line)))]


def _arrow_csv(text: str, sep: str, first: str) -> pd.DataFrame | None:
    """``text`` parsed by pandas' pyarrow engine (several times faster on national files).

    ``None`` when pyarrow refuses the text (ragged rows, odd quoting…) or when a header
    name is blank or repeated: the C engine then reads it, with its usual messages.
    """
    names = [n.strip() for n in next(csv.reader([first], delimiter=sep), [])]
    if len(set(names)) != len(names) or "" in names:  # pandas renames these its own way
        return None
    try:
        return pd.read_csv(io.BytesIO(text.encode("utf-8")), sep=sep, dtype=str,
                           keep_default_na=False, quotechar='"', engine="pyarrow")
    except Exception:  # any refusal: the C engine decides
        return None


def read_table(path: Path, member: str | None = None) -> pd.DataFrame:
    """Read a delimited text file with every cell as a string (nothing inferred).

    Codes keep their leading zeros and Corsican letters; numeric conversion is done
    later, column by column, with :func:`to_numeric`.

    Parameters
    ----------
    path : pathlib.Path
        CSV file (``;``, ``,`` or tab; UTF-8, UTF-8-BOM or Windows-1252), or zip.
    member : str, optional
        Member of a zip archive.

    Returns
    -------
    pandas.DataFrame
        All columns of dtype ``object`` (str); the index is the file line number
        (header = line 1), so that messages can name the line.
    """
    text, _ = open_text(path, member)
    first = text.split("\n", 1)[0]
    sep = sniff_separator(first)
    frame = _arrow_csv(text, sep, first)
    if frame is None:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quotechar='"',
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="ligne")
    return frame


def _arrow_floats(values: pd.Series) -> pd.Series | None:
    """Blank-free pyarrow string column parsed at once by pyarrow (blanks give NaN).

    ``None`` when the column is not pyarrow strings or holds any other non-number
    (then pandas parses it cell by cell).
    """
    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    chunked = values.array.__arrow_array__()
    blank = pc.equal(chunked, "")
    try:
        parsed = pc.cast(pc.if_else(blank, pa.scalar(None, chunked.type), chunked), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=values.index, dtype=float)


def to_numeric(values: pd.Series, *, path: Path, field: str) -> pd.Series:
    """Convert a string column to float; missing tokens become NaN.

    Decimal commas are accepted. Any other non-numeric text is an error naming the
    file, the line and the field.

    Parameters
    ----------
    values : pandas.Series
        Strings, indexed by file line number.
    path : pathlib.Path
        File, for the message.
    field : str
        Column name, for the message.

    Returns
    -------
    pandas.Series
        Float values.
    """
    # Fast path: plain numbers parse at once; only the rest (missing tokens, decimal
    # commas, spaces, errors) goes through the cleaning below, which gives the same
    # value for any cell the fast path accepts.
    numbers = _arrow_floats(values)
    if numbers is None:
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
    todo = numbers.isna().to_numpy()
    if not todo.any():
        return numbers
    rest = values[todo]
    text = rest.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_TOKENS)
    cleaned = text.where(~missing, None).str.replace(",", ".", regex=False)
    cleaned = cleaned.str.replace("\u202f", "", regex=False).str.replace(" ", "", regex=False)
    parsed = pd.to_numeric(cleaned, errors="coerce")
    bad = parsed.isna() & ~missing
    if bad.any():
        line = int(rest.index[bad.to_numpy()][0])
        raise InputError(
            f"valeur non numérique « {values[line]} » ({int(bad.sum())} cellule(s) de ce type).",
            path=path,
            line=line,
            field=field,
        )
    numbers[todo] = parsed.astype(float).to_numpy()
    return numbers


def normalised_codes(values: pd.Series, width: int) -> pd.Series:
    """:func:`~fragility.conventions.normalise_code` over a column, vectorised.

    Cells that already hold ``width`` letters or digits (the usual case) are only
    stripped and upper-cased, which is what ``normalise_code`` does to them; the others
    (lost leading zeros, ``.0`` suffixes, blanks, numbers) go through ``normalise_code``.

    Parameters
    ----------
    values : pandas.Series
        Raw codes.
    width : int
        Expected width (9 for IRIS, 5 for communes).

    Returns
    -------
    pandas.Series
        Normalised codes (``str``), missing where the cell is blank.
    """
    try:
        stripped = values.str.strip().str.upper()
    except AttributeError:  # not a column of strings
        return values.map(lambda v: normalise_code(v, width)).astype("str")
    fast = stripped.str.fullmatch(rf"[0-9A-Z]{{{width}}}").fillna(False).astype(bool)
    out = stripped.astype("str")
    if not fast.all():
        slow = ~fast.to_numpy()
        out[slow] = values[slow].map(lambda v: normalise_code(v, width)).astype("str")
    return out


def codes(
    values: pd.Series, width: int, pattern: re.Pattern, *, path: Path, field: str
) -> pd.Series:
    """Normalise and validate a column of codes (IRIS, commune), naming the first bad line."""
    out = normalised_codes(values, width)
    bad = out.isna() | ~out.fillna("").str.match(pattern)
    if bad.any():
        line = int(values.index[bad.to_numpy()][0])
        raise InputError(
            f"code mal formé « {values[line]} » ({width} caractères attendus).",
            path=path,
            line=line,
            field=field,
        )
    return out


def check_unique(keys: pd.Series, *, path: Path, field: str) -> None:
    """Raise if a key column has duplicates, naming the first duplicated line."""
    dup = keys.duplicated(keep="first")
    if dup.any():
        line = int(keys.index[dup.to_numpy()][0])
        raise InputError(
            f"code « {keys[line]} » présent plusieurs fois ({int(dup.sum())} doublon(s)).",
            path=path,
            line=line,
            field=field,
        )


def strip_vintage(
    columns: Iterable[str], pattern: re.Pattern, template: str
) -> tuple[dict[str, str], str | None]:
    """Map vintage-prefixed (or suffixed) column names to vintage-free names.

    Parameters
    ----------
    columns : iterable of str
        Column names as in the file.
    pattern : re.Pattern
        Regex with named groups ``yy`` (two-digit year) and whatever ``template`` uses.
    template : str
        Format string of the vintage-free name, using the pattern's named groups.

    Returns
    -------
    mapping : dict
        Vintage-free name -> original name, for columns of the dominant vintage.
    vintage : str or None
        Four-digit year of that vintage.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for column in columns:
        match = pattern.match(column)
        if match:
            found.setdefault(match.group("yy"), []).append(
                (template.format(**match.groupdict()), column)
            )
    if not found:
        return {}, None
    yy = max(found, key=lambda k: len(found[k]))
    return dict(found[yy]), f"20{yy}"


def vintage_from_name(path: Path) -> str | None:
    """Guess a vintage from a file name (``liste-fs-20240801`` -> ``2024-08-01``)."""
    matches = list(_VINTAGE_RE.finditer(Path(path).name))
    if not matches:
        return None
    year, month, day = matches[-1].groups()
    if month and day and 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
        return f"{year}-{month}-{day}"
    return year


def count_missing(values: pd.DataFrame) -> pd.Series:
    """Number of NaN cells per row (statistical-secret blanks)."""
    return pd.Series(np.isnan(values.to_numpy(dtype=float)).sum(axis=1), index=values.index)
