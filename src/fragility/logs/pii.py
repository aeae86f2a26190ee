"""Fail-closed scanner for direct identifiers left in text (ingestion and export guard).

Reference: ``logs-and-privacy.md`` §B.5. Free-text columns are dropped at import; this
scanner is the second line of defence, run on every kept string column of the event log
and on every string of an output. It reports *where* (row label, column, kind), never the
matched value, so that its own report cannot leak what it found.

Detectors (kind -> rule), compiled once, case-insensitive:

``nir``
    French social-security number: sex digit ``[1-478]``, year, month (``01``-``12`` or
    ``20``-``99`` for incomplete civil records), département (two digits, ``2A``/``2B``,
    or ``97x`` with a two-digit commune), commune, order, then the optional two-digit key;
    spaces, dots or dashes allowed between groups. With a key, the key must equal
    ``97 - (first 13 digits mod 97)`` (``2A`` -> ``19``, ``2B`` -> ``18``): a 15-digit
    string with a wrong key is *not* a NIR. Without a key, the 13-character structure
    alone is reported (lower confidence, but the guard fails closed).
``telephone``
    French numbers: ``0`` + ``[1-9]`` + 8 digits, either run together or all in pairs
    separated by a space, dot or dash (``06 12 34 56 78``, ``06.12.34.56.78``); ``+33`` /
    ``0033`` forms (optional ``(0)`` or ``0`` after the country code, then 9 digits run
    together, in ``6 12 34 56 78`` or ``692 12 34 56`` groups); overseas ``+262``,
    ``+269``, ``+508``, ``+590``, ``+594``, ``+596`` forms. Not part of a longer
    alphanumeric run (so hexadecimal identifiers and IBAN blocks do not match).
``email``
    ``local@domain.tld``, and the obfuscated ``local (at) domain.tld`` /
    ``local [at] domain.tld``.
``iban``
    Two letters, two check digits, then the account (spaces allowed every four
    characters), of the exact length of that country (FR and MC: 27 characters), passing
    the ISO 7064 mod-97 check.
``date_naissance``
    A full date (day, month, year) that is (a) written ``jj/mm/aaaa`` (separators ``/``,
    ``.`` or ``-``) or ``12 mars 1985`` with a year from 1900 to 2009, anywhere; or (b) any
    full date, including two-digit years (``12/03/85``) and ISO ``1985-03-12``, within 40
    characters after or 20 characters before a birth word: ``né``, ``née``, ``nés``,
    ``nées``, ``né(e)``, ``nee``, ``ne le``, ``naissance``, ``naiss.``, ``DDN``, ``DOB``,
    ``born``. Rationale: an event log holds no exact date older than 2010, so a
    ``jj/mm/aaaa`` date before 2010 is taken as a birth date; a recent date such as an
    intervention date (``12/03/2024``) is flagged only with a birth word. ISO dates
    without a birth word are never flagged (metadata and manifests carry such dates).
    Impossible calendar dates (``31/02/1985``) are ignored.
``adresse``
    Street number (``12``, ``12 bis``, ``12b``, optional comma) + street type + name.
    Unambiguous types (``rue``, ``avenue``/``av.``, ``boulevard``/``bd``, ``allée``,
    ``impasse``, ``quai``, ``faubourg``, ``chaussée``, ``ruelle``, ``résidence``) may be
    followed by any word; types that are also common nouns (``place``, ``cours``,
    ``route``, ``chemin``, ``passage``, ``square``, ``cité``, ``hameau``, ``lieu-dit``...)
    need a capitalised name, optionally after an article (``8 place Darcy``, ``3 cours de
    la Libération``), so that ``2 places disponibles`` or ``3 cours de français`` pass.
``identifiant_administratif``
    A keyword (``allocataire``, ``n° CAF``, ``identifiant France Travail`` / ``Pôle
    emploi``, ``n° fiscal``, ``SPI``) followed, within 20 characters, by a 7 to 13
    character code containing a digit (exact formats unverified, hence keyword-triggered).

Names cannot be detected by regular expressions; the policy stays to drop free text.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from fragility.errors import PrivacyError

#: Kinds reported, in the order they are tested.
PII_KINDS = ("nir", "telephone", "email", "iban", "date_naissance", "adresse",
             "identifiant_administratif")

_FLAGS = re.IGNORECASE | re.VERBOSE
_SEP = r"[\s.\-]?"

# --- NIR ---------------------------------------------------------------------------------
_NIR_RE = re.compile(
    rf"""
    (?<![0-9A-Za-z])
    (?P<sex>[1-478]) {_SEP} (?P<year>\d{{2}}) {_SEP}
    (?P<month>0[1-9]|1[0-2]|[2-9]\d) {_SEP}
    (?P<place>(?:\d{{2}}|2[AB]) {_SEP} \d{{3}} | 97\d {_SEP} \d{{2}}) {_SEP}
    (?P<order>\d{{3}})
    (?: {_SEP} (?P<key>\d{{2}}) )?
    (?![0-9A-Za-z]) (?![\s.\-]\d)
    """,
    _FLAGS,
)


def nir_key(first13: str) -> int:
    """Return the NIR key of a 13-character NIR (Corsica ``2A``/``2B`` -> 19/18).

    Parameters
    ----------
    first13 : str
        Sex, year, month, département, commune and order, without separators.

    Returns
    -------
    int
        ``97 - (number mod 97)``, between 1 and 97.
    """
    number = first13.upper()
    number = number[:5] + number[5:7].replace("2A", "19").replace("2B", "18") + number[7:]
    return 97 - int(number) % 97


def _is_nir(match: re.Match) -> bool:
    compact = re.sub(r"[\s.\-]", "", match.group(0))
    if match.group("key") is None:
        return True
    return nir_key(compact[:13]) == int(compact[13:])


# --- Telephone ---------------------------------------------------------------------------
# Digits either all run together or all separated in pairs: "0532 0130 00" (a block of an
# IBAN or of an account number) is not a phone number, "05 32 01 30 00" is.
_PAIR_SEP = r"[\s.\-]"
_PHONE_RE = re.compile(
    rf"""
    (?<![0-9A-Za-z+])
    (?:
        (?:\+|00) (?:33|262|269|508|590|594|596) {_SEP} (?:\(0\) {_SEP} | 0 {_SEP})?
        (?: [1-9]\d{{8}} | [1-9] (?:{_PAIR_SEP}\d{{2}}){{4}}
          | [1-9]\d{{2}} (?:{_PAIR_SEP}\d{{2}}){{3}} )
      | 0 [1-9] (?: \d{{8}} | (?:{_PAIR_SEP}\d{{2}}){{4}} )
    )
    (?![0-9A-Za-z])
    """,
    _FLAGS,
)

# --- E-mail ------------------------------------------------------------------------------
_EMAIL_RE = re.compile(
    r"""
    [A-Z0-9._%+\-]+
    (?: @ | \s?[\[(]\s?at\s?[\])]\s? )
    [A-Z0-9\-]+ (?:\.[A-Z0-9\-]+)* \.[A-Z]{2,}
    """,
    _FLAGS,
)

# --- IBAN --------------------------------------------------------------------------------
#: IBAN length per country (France and the countries most present in the field).
IBAN_LENGTHS = {
    "FR": 27, "MC": 27, "AD": 24, "BE": 16, "CH": 21, "DE": 22, "DZ": 26, "ES": 24,
    "GB": 22, "IE": 22, "IT": 27, "LU": 20, "MA": 28, "NL": 18, "PL": 28, "PT": 25,
    "RO": 24, "SN": 28, "TN": 24, "TR": 26, "AT": 20, "BG": 22, "GR": 27, "HR": 21,
}
_IBAN_RE = re.compile(
    r"""
    (?<![0-9A-Z])
    [A-Z]{2}\d{2} (?:[ \-]?[0-9A-Z]{4}){2,7} (?:[ \-]?[0-9A-Z]{1,3})?
    (?![0-9A-Z])
    """,
    _FLAGS,
)
_PSEUDONYM_SHAPE = re.compile(r"^[A-Z2-7]{26}$")
_UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def iban_is_valid(iban: str) -> bool:
    """Check the length and the ISO 7064 mod-97 digits of an IBAN.

    Parameters
    ----------
    iban : str
        Candidate, with or without spaces.

    Returns
    -------
    bool
    """
    compact = re.sub(r"[\s\-]", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[0-9A-Z]+", compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _is_iban(match: re.Match) -> bool:
    text = match.group(0)
    compact = re.sub(r"[\s\-]", "", text).upper()
    if _PSEUDONYM_SHAPE.match(compact):  # a person_key, not an account number
        return False
    start, end = match.span()
    if any(u.start() < end and start < u.end() for u in _UUID_RE.finditer(match.string)):
        return False  # an event_id (UUID), not an account number
    if iban_is_valid(compact):
        return True
    # "FR76 3000 ... 189 ABCD": a trailing word was taken as a group; retry without it.
    groups = re.split(r"[ \-]", text)
    while len(groups) > 2:
        groups = groups[:-1]
        if iban_is_valid("".join(groups)):
            return True
    return False


# --- Dates of birth ----------------------------------------------------------------------
_MONTHS = {
    "janvier": 1, "fevrier": 2, "février": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
    "juillet": 7, "aout": 8, "août": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "decembre": 12, "décembre": 12,
}
_NUMERIC_DATE_RE = re.compile(
    r"""
    (?<![0-9A-Za-z/.\-])
    (?P<d>0?[1-9]|[12]\d|3[01]) (?P<s>[/.\-]) (?P<m>0?[1-9]|1[0-2]) (?P=s)
    (?P<y>(?:19|20)\d{2}|\d{2})
    (?![0-9A-Za-z]|[/.\-]\d)
    """,
    _FLAGS,
)
_TEXT_DATE_RE = re.compile(
    rf"""
    (?<![0-9A-Za-z])
    (?P<d>1er|0?[1-9]|[12]\d|3[01]) \s+ (?P<m>{"|".join(_MONTHS)}) \s+
    (?P<y>(?:19|20)\d{{2}})
    (?!\d)
    """,
    _FLAGS,
)
_ISO_DATE_RE = re.compile(
    r"""
    (?<![0-9A-Za-z/.\-])
    (?P<y>(?:19|20)\d{2}) - (?P<m>0[1-9]|1[0-2]) - (?P<d>0[1-9]|[12]\d|3[01])
    (?!\d)
    """,
    _FLAGS,
)
_BIRTH_WORD_RE = re.compile(
    r"""
    (?<!\w)
    (?: n[ée]\s?\(e\) | née?s? | nee | ne \s+ le | naissance | naiss\. | ddn | d\.d\.n\.?
      | dob | born )
    (?!\w)
    """,
    _FLAGS,
)
_CONTEXT_BEFORE = 40
_CONTEXT_AFTER = 20
_LAST_BIRTH_YEAR_WITHOUT_CONTEXT = 2009


def _date_parts(match: re.Match) -> tuple[int, int, int, bool] | None:
    day = match.group("d").lower()
    day_n = 1 if day == "1er" else int(day)
    month = match.group("m").lower()
    month_n = _MONTHS[month] if month in _MONTHS else int(month)
    year = match.group("y")
    four_digits = len(year) == 4
    year_n = int(year) if four_digits else 2000  # leap year: 29/02/yy stays possible
    try:
        dt.date(year_n, month_n, day_n)
    except ValueError:
        return None
    return day_n, month_n, year_n, four_digits


def _has_birth_word(text: str, start: int, end: int) -> bool:
    window = text[max(0, start - _CONTEXT_BEFORE):start] + " \n " + text[end:end + _CONTEXT_AFTER]
    return _BIRTH_WORD_RE.search(window) is not None


def _find_birth_date(text: str) -> bool:
    for regex, old_counts in ((_NUMERIC_DATE_RE, True), (_TEXT_DATE_RE, True),
                              (_ISO_DATE_RE, False)):
        for match in regex.finditer(text):
            parts = _date_parts(match)
            if parts is None:
                continue
            _, _, year, four_digits = parts
            if (old_counts and four_digits and year <= _LAST_BIRTH_YEAR_WITHOUT_CONTEXT):
                return True
            if _has_birth_word(text, match.start(), match.end()):
                return True
    return False


# --- Postal address ----------------------------------------------------------------------
_STRONG_STREET = (r"rue|avenue|av\.?|boulevard|bd|boul\.|all[ée]e|impasse|imp\.|quai"
                  r"|faubourg|fbg|chauss[ée]e|ruelle|r[ée]sidence")
_WEAK_STREET = (r"place|pl\.|cours|route|rte|chemin|passage|square|cit[ée]|hameau"
                r"|lieu[- ]dit|esplanade|promenade|parvis|sentier|traverse|villa|voie|mail"
                r"|clos|rond[- ]point")
_ARTICLE = r"(?:(?:de\s+la|de\s+l['’]|du|des|de|d['’]|la|le|les|l['’])\s*)?"
_ADDRESS_RE = re.compile(
    rf"""
    (?<![0-9A-Za-z/.,\-])
    \d{{1,4}} (?:\s*(?:bis|ter|quater)|[a-d])? \s*,?\s*
    (?:
        (?:{_STRONG_STREET}) (?!\w) \s* [^\W\d_]
      | (?:{_WEAK_STREET}) (?!\w) \s* {_ARTICLE} (?-i:[A-ZÀ-ÖØ-Þ])
    )
    """,
    _FLAGS,
)

# --- Administrative numbers --------------------------------------------------------------
_ADMIN_RE = re.compile(
    r"""
    (?<!\w)
    (?: allocataire | n[°o]\.?\s*caf | num[ée]ro\s+caf | caf\s*n[°o]
      | identifiant\s+(?:p[ôo]le|france)\s+(?:emploi|travail) | n[°o]\.?\s*fiscal
      | num[ée]ro\s+fiscal | spi )
    (?!\w) [^0-9\n]{0,20}?
    (?<![0-9A-Za-z]) (?=[0-9A-Z]*\d)[0-9A-Z]{7,13} (?![0-9A-Za-z])
    """,
    _FLAGS,
)

_AT_RE = re.compile(r"@|[\[(]\s?at\s?[\])]", re.IGNORECASE)
_PREFILTER_RE = re.compile(r"[0-9]|" + _AT_RE.pattern, re.IGNORECASE)


def _find(regex: re.Pattern, check=None, needs: re.Pattern | None = None):
    def detect(text: str) -> bool:
        if needs is not None and not needs.search(text):
            return False
        for match in regex.finditer(text):
            if check is None or check(match):
                return True
        return False
    return detect


_DETECTORS = (
    ("nir", _find(_NIR_RE, _is_nir)),
    ("telephone", _find(_PHONE_RE)),
    ("email", _find(_EMAIL_RE, needs=_AT_RE)),
    ("iban", _find(_IBAN_RE, _is_iban)),
    ("date_naissance", _find_birth_date),
    ("adresse", _find(_ADDRESS_RE)),
    ("identifiant_administratif", _find(_ADMIN_RE)),
)


def scan_text(text: str) -> list[str]:
    """Return the kinds of direct identifiers found in a text.

    Parameters
    ----------
    text : str
        Any text (a non-string is scanned as ``str(text)``; ``None`` and NaN give ``[]``).

    Returns
    -------
    list of str
        Distinct kinds among :data:`PII_KINDS`, in that order (empty when clean).
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return []
    if not isinstance(text, str):
        text = str(text)
    if (not _PREFILTER_RE.search(text) or _PSEUDONYM_SHAPE.match(text)
            or _UUID_SHAPE.match(text)):
        # no digit nor "@"; or a pseudonymous key (26 x [A-Z2-7]) or an event id (UUID,
        # hexadecimal groups of 8-4-4-4-12 characters): no detector can match those shapes
        return []
    return [kind for kind, detect in _DETECTORS if detect(text)]


# --- Frames ------------------------------------------------------------------------------
FINDING_COLUMNS = ["ligne", "colonne", "type"]


def _is_text_dtype(dtype) -> bool:
    return (pd.api.types.is_object_dtype(dtype)
            or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(dtype))


#: Superset of the values :func:`scan_text` looks into (a digit, "@", or the "(" / "[" of
#: "(at)"), and the shapes it skips, as RE2 patterns for Arrow's vectorised matching.
_ARROW_MAYBE = r"[0-9@(\[]"
_ARROW_SKIP = (r"^(?:[A-Z2-7]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
               r"[0-9a-f]{12})$")


def _worth_scanning(text) -> np.ndarray:
    """Which strings of an Arrow array may hold an identifier (checked by :func:`scan_text`).

    A cheap vectorised superset: the values left out are exactly those :func:`scan_text`
    returns ``[]`` for without running any detector.
    """
    import pyarrow.compute as pc

    maybe = pc.and_(pc.match_substring_regex(text, _ARROW_MAYBE),
                    pc.invert(pc.match_substring_regex(text, _ARROW_SKIP)))
    return pc.fill_null(maybe, False).to_numpy(zero_copy_only=False)


def _arrow_strings(values: pd.Series | pd.Index):
    """The Arrow string array behind ``values``, or None when it is not Arrow-backed."""
    import pyarrow as pa

    array = values.array
    if not isinstance(array, pd.arrays.ArrowStringArray) and not (
            isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_string(
                values.dtype.pyarrow_dtype)):
        return None
    arrow = pa.array(array)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    return arrow


def _codes_and_uniques(values: pd.Series | pd.Index):
    """Factorise ``values``; return codes (-1: missing), uniques and which to scan."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = _arrow_strings(values)
    if arrow is not None:  # Arrow strings: never turned into a million Python strings
        encoded = pc.dictionary_encode(arrow)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        dictionary = encoded.dictionary
        worth = _worth_scanning(dictionary)
        uniques = np.empty(len(dictionary), dtype=object)
        uniques[worth] = dictionary.filter(pa.array(worth)).to_pylist()
        return codes, uniques, worth
    values = pd.Series(np.asarray(values, dtype=object))
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): scan their text form
        codes, uniques = pd.factorize(values.map(str), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    is_str = np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques))
    worth = ~is_str  # anything but a plain string goes through scan_text
    if is_str.any():
        worth[is_str] = _worth_scanning(pa.array(uniques[is_str].tolist(),
                                                 type=pa.large_string()))
    return codes, uniques, worth


def _scan_values(values: pd.Series | pd.Index) -> tuple[np.ndarray, list[list[str]]]:
    """Return the positions with a hit and the kinds found at each of them."""
    codes, uniques, worth = _codes_and_uniques(values)
    kinds: list[list[str]] = [[] for _ in range(len(uniques))]
    for i in np.flatnonzero(worth):
        kinds[i] = scan_text(uniques[i])
    hit_codes = np.flatnonzero([bool(k) for k in kinds])
    if hit_codes.size == 0:
        return np.empty(0, dtype=np.intp), []
    positions = np.flatnonzero(np.isin(codes, hit_codes))
    return positions, [kinds[c] for c in codes[positions]]


def _findings(labels, column: str, kinds: list[list[str]]) -> pd.DataFrame:
    found = pd.DataFrame({"ligne": pd.Series(list(labels), dtype=object), "colonne": column,
                          "type": pd.Series(kinds, dtype=object)})
    return found.explode("type", ignore_index=True)


def scan_frame(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Locate direct identifiers in a table, without ever reporting the values.

    Each column is scanned over its distinct values only, then the hits are mapped back to
    the rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to scan (a Series is scanned as a one-column frame).
    columns : iterable of str, optional
        Columns to scan, whatever their dtype. By default every text column (object,
        string or categorical dtype), **plus** the text levels of the index (reported as
        column ``"(index)"``, ``ligne`` being then the row position, since the label is
        the suspect value) and the column names themselves (reported as ``"(nom de la
        colonne n° i)"``, ``ligne`` empty).

    Returns
    -------
    pandas.DataFrame
        Columns ``ligne`` (index label of the row), ``colonne`` and ``type`` (one of
        :data:`PII_KINDS`); one row per cell and kind; empty when the table is clean.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    parts = []
    if columns is None:
        selected = [j for j in range(frame.shape[1]) if _is_text_dtype(frame.dtypes.iloc[j])]
        for level in range(frame.index.nlevels):
            values = frame.index.get_level_values(level)
            if _is_text_dtype(values.dtype):
                positions, kinds = _scan_values(values)
                if kinds:
                    parts.append(_findings(positions, "(index)", kinds))
        positions, kinds = _scan_values(pd.Index([str(c) for c in frame.columns]))
        for position, found in zip(positions, kinds, strict=True):
            parts.append(_findings([None], f"(nom de la colonne n° {position + 1})", [found]))
    else:
        wanted = list(columns)
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise KeyError(f"colonnes absentes du tableau : {', '.join(map(str, missing))}")
        selected = [j for j, c in enumerate(frame.columns) if c in set(wanted)]
    for j in selected:
        positions, kinds = _scan_values(frame.iloc[:, j])
        if kinds:
            parts.append(_findings(frame.index[positions], str(frame.columns[j]), kinds))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS})
    return pd.concat(parts, ignore_index=True)[FINDING_COLUMNS]


def assert_no_pii(frame: pd.DataFrame, *, what: str) -> None:
    """Refuse a table that holds anything looking like a direct identifier (fails closed).

    Parameters
    ----------
    frame : pandas.DataFrame
        Table about to be kept or released.
    what : str
        French description of the table for the message (``"journal importé depuis
        export.csv"``).

    Raises
    ------
    PrivacyError
        Something was found. The message gives the number of cells, the kinds and the
        columns, never a value; the findings (``ligne``, ``colonne``, ``type``) are in
        the ``findings`` attribute of the error.
    """
    found = scan_frame(frame)
    if found.empty:
        return
    n_cells = len(found.drop_duplicates(["ligne", "colonne"]))
    kinds = [k for k in PII_KINDS if k in set(found["type"])]
    columns = list(dict.fromkeys(found["colonne"]))
    error = PrivacyError(
        f"{what} : {n_cells} valeur(s) ressemblant à des données directement identifiantes "
        f"(types : {', '.join(kinds)}) dans les colonnes "
        f"{', '.join(f'« {c} »' for c in columns)} ; supprimez ou corrigez ces valeurs "
        "avant de continuer."
    )
    error.findings = found
    raise error


_JSON_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(line: str) -> str:
    line = _JSON_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), line)
    return html.unescape(line.replace("\\/", "/"))


def scan_file(path: str | os.PathLike) -> list[tuple[int, str]]:
    r"""Scan a text file (CSV, JSON, HTML, Markdown...) line by line.

    JSON ``\uXXXX`` escapes and HTML entities (``&nbsp;``, ``&eacute;``) are decoded
    before scanning; undecodable bytes are replaced.

    Parameters
    ----------
    path : str or os.PathLike
        File to scan.

    Returns
    -------
    list of tuple (int, str)
        ``(line number, kind)`` for every kind found on a line (1-based line numbers);
        empty when the file is clean.
    """
    found = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            found.extend((number, kind) for kind in scan_text(_unescape(line)))
    return found
