"""Validate a raw export: each row ends accepted or rejected, never lost, never both.

Every check is vectorised: a column is factorised once and each rule runs on its distinct
values (a 1-million-row export has a few thousand distinct dates and a few dozen
distinct registres), then the result is spread back to the rows. A row breaking several
rules gives one reject row, with the most important reason in ``motif`` and the others in
``autres_motifs``. The accounting ``n_read == len(accepted) + len(rejects)`` is checked
before returning, never assumed.

Choices (documented here because the reference leaves them open):

* **Dates**: ``jj/mm/aaaa``, ``jj-mm-aaaa``, ``jj.mm.aaaa`` (optionally followed by a
  time), ``jj/mm/aa`` (two-digit years are 20xx, or 19xx when 20xx would be in the
  future), ``aaaa-mm-jj`` (ISO, with or without time), ``mm/aaaa``, ``aaaa-mm``, French
  month names (``mars 2024``, ``févr. 24``), Excel serial numbers (5 digits, as a
  spreadsheet gives an unformatted date cell). A separate year column (``year_raw``) is
  appended to a month-only value (``3`` + ``2024``). Only the month (``period_month``)
  is kept.
* **geo_basis** defaults to ``lieu_intervention`` when the export has no "Base de
  localisation" column or leaves it blank: an activity log records where the mediator
  acted, and counting such rows as residences would overstate reach. A structure that
  records residences says so in that column (or with a ``valeurs`` synonym).
* **contact_kind** defaults to ``individuel``, or ``collectif`` when the row gives two
  participants or more.
* **Multi-valued fields** (:data:`~fragility.logs.schema.MULTI_FIELDS`) are split on
  ``,`` ``;`` ``|`` ``/`` — but pieces that together form a label ("Logement, habitat",
  "CPAM / Ameli") stay one value — and stored as codes joined by ``|``.
* **Numbers written for bands**: an age in years gives its ``age_band``, a duration in
  minutes (``45``, ``1h30``, ``01:30``) its ``duree_band``: the exact value is not kept.
* **Location**: a code that is present but malformed, or outside the territory, rejects
  the row even when another location is valid, because the row is self-contradictory.
  The commune is derived from the IRIS code when absent (first 5 characters); an IRIS
  whose commune prefix contradicts the commune given rejects the row (Paris, Lyon and
  Marseille arrondissements are accepted for their commune). ``geo_level`` is ``iris``,
  else ``commune``, else ``qpv``; it stays empty for rows located by coordinates only,
  which :func:`fragility.logs.locate.locate` fills.
* **Coordinates** are WGS84 degrees inside metropolitan France or an overseas
  département (bounding boxes, :data:`FRANCE_BOXES`); a pair that fits only once swapped
  is reported as swapped; values in metres (Lambert-93) are reported as such. Their
  values are never echoed in the rejects: a point can be a home.
* **Echoed values** (``valeur`` and the value in ``motif``) are never shown for
  identifying or free-text fields (:data:`NEVER_ECHOED`), and any other value that looks
  like an e-mail, a phone number or a NIR, or is longer than 80 characters, is masked.
* **Exact duplicates** (same text in every column, identifiers included) are kept once;
  each extra copy is rejected with ``doublon exact de la ligne N``. An export holding
  only months and no per-event identifier can contain genuinely identical rows: give it
  a column that tells them apart (an intervention number) if that is the case.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragility.conventions import COMMUNE_RE, IRIS_RE, normalise_code
from fragility.errors import InputError
from fragility.logs.read import RawExport
from fragility.logs.schema import (
    DIRECT_IDENTIFIERS,
    FIELDS,
    MULTI_FIELDS,
    QPV_PATTERN,
    SCHEMA_VERSION,
    VOCABULARIES,
    fold,
    match_value,
)

#: Columns of an accepted event, in order (then the identifier columns present).
ACCEPTED_COLUMNS = (*(f for f in FIELDS if f not in ("person_key", "mediator_key")),
                    "person_id", "mediator_id", "latitude", "longitude")
#: Columns of the rejects table.
REJECT_COLUMNS = ("ligne", "champ", "motif", "valeur", "autres_motifs")
#: Fields whose value is never written in a reject (identifying or free text).
NEVER_ECHOED = frozenset({"person_id", "mediator_id", "latitude", "longitude",
                          "structure_id", "team_id", *DIRECT_IDENTIFIERS})
#: (lat_min, lat_max, lon_min, lon_max) of metropolitan France and the DROM, padded.
FRANCE_BOXES = {
    "France métropolitaine": (41.2, 51.2, -5.3, 9.7),
    "Guadeloupe": (15.8, 16.6, -61.9, -60.9),
    "Martinique": (14.3, 14.95, -61.3, -60.75),
    "Guyane": (2.0, 5.9, -54.7, -51.5),
    "La Réunion": (-21.45, -20.8, 55.15, 55.9),
    "Mayotte": (-13.1, -12.55, 44.9, 45.35),
}
#: Arrondissements municipaux -> their commune (Paris, Lyon, Marseille).
PLM_ARRONDISSEMENTS = {
    **{f"751{i:02d}": "75056" for i in range(1, 21)},
    **{f"6938{i}": "69123" for i in range(1, 10)},
    **{f"132{i:02d}": "13055" for i in range(1, 17)},
}

#: Built-in synonyms (written value -> code) added to the vocabulary labels.
BUILTIN_SYNONYMS: dict[str, dict[str, str]] = {
    "registre": {
        "gestion de conflit": "gestion_conflits", "gestion de conflits": "gestion_conflits",
        "gestion des conflits": "gestion_conflits", "conflit": "gestion_conflits",
        "conflits": "gestion_conflits", "prevention des conflits": "gestion_conflits",
        "mediation de conflit": "gestion_conflits", "veille": "veille_sociale_technique",
        "veille technique": "veille_sociale_technique",
        "veille sociale": "veille_sociale_technique", "presence": "presence_active",
        "information": "information_sensibilisation_formation",
        "sensibilisation": "information_sensibilisation_formation",
        "formation": "information_sensibilisation_formation",
        "orientation": "mise_en_relation_partenaire",
    },
    "thematique": {
        "droits": "acces_droits", "demarches administratives": "acces_droits",
        "demarche administrative": "acces_droits", "habitat": "logement_habitat",
        "insertion": "emploi_insertion", "scolarite": "education_scolarite",
        "lien social": "isolement_lien_social", "budget": "energie_eau_budget",
        "transport": "mobilite_transport", "transports": "mobilite_transport",
        "parentalite": "famille_parentalite", "tranquillite publique": "tranquillite_conflits",
    },
    "sexe": {"h": "M", "f": "F", "masculin": "M", "feminin": "F", "homme": "M", "femme": "F"},
    "age_band": {"75+": "75_plus", "75 et plus": "75_plus", "plus de 75 ans": "75_plus",
                 "moins de 18 ans": "0_17", "mineur": "0_17", "- de 18 ans": "0_17"},
    "geo_basis": {"domicile": "residence", "lieu de residence": "residence",
                  "lieu d intervention": "lieu_intervention",
                  "intervention": "lieu_intervention", "lieu": "lieu_intervention"},
    "contact_kind": {"individuelle": "individuel", "collective": "collectif",
                     "atelier": "collectif", "sans personne": "sans_personne"},
}
BUILTIN_SYNONYMS["thematiques_secondaires"] = BUILTIN_SYNONYMS["thematique"]

#: Cells meaning "not filled in" (compared on the stripped text, case ignored).
_EMPTY_RE = re.compile(r"^[\W_]*(?:nan|n/?a|null|none|nr|nc|non[ -]renseign[ée]e?|"
                       r"non[ -]communiqu[ée]e?)?[\W_]*$", re.IGNORECASE)
_BLANK_IDS = ["", "nan", "na", "n/a", "null", "none", "nr", "-", "?"]
_TRUE = {"oui", "o", "vrai", "true", "1", "x", "yes", "y"}
_FALSE = {"non", "n", "faux", "false", "0", "no"}
_MONTHS = {
    "janvier": 1, "janv": 1, "jan": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "mar": 3,
    "avril": 4, "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8,
    "septembre": 9, "sept": 9, "sep": 9, "octobre": 10, "oct": 10, "novembre": 11, "nov": 11,
    "decembre": 12, "dec": 12,
}
_TIME = r"(?:[ t]\d{1,2}[:h]\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+\-]\d{2}:?\d{2})?)?"
_DATE_FORMATS = (  # (regex on the lower-cased value, order of the groups)
    (re.compile(rf"^(\d{{1,2}})[/.\-](\d{{1,2}})[/.\-](\d{{4}}){_TIME}$"), "dmy"),
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2})$"), "dmy2"),
    (re.compile(rf"^(\d{{4}})[/.\-](\d{{1,2}})[/.\-](\d{{1,2}}){_TIME}$"), "ymd"),
    (re.compile(r"^(\d{1,2})[/.\- ](\d{4})$"), "my"),
    (re.compile(r"^(\d{4})[/.\-](\d{1,2})$"), "ym"),
)
_SERIAL_RE = re.compile(r"^(\d{5})(?:\.\d+)?$")
_MONTH_NAME_RE = re.compile(r"^([a-z]+) (\d{4}|\d{2})$")
_SPLIT_RE = re.compile(r"\s*[,;|/]\s*")
_PII_RE = re.compile(
    r"@|(?<!\d)(?:(?:\+|00)33[\s.\-]?(?:\(0\)[\s.\-]?)?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)"
    r"|(?<![0-9A-Z])[1-478]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}(?:\s?\d{2})?"
    r"(?![0-9A-Z])", re.IGNORECASE)
_DIGIT_RUN_RE = re.compile(r"\d(?:[\s.\-]?\d){5,}")
_MASKED = "valeur masquée"


@dataclass(frozen=True)
class Validation:
    """Result of :func:`validate_events`.

    Attributes
    ----------
    accepted : pandas.DataFrame
        Accepted events indexed by source line (``ligne``): the columns of
        :data:`ACCEPTED_COLUMNS` (schema fields except the pseudonyms, plus the raw
        ``person_id`` / ``mediator_id`` and the ``latitude`` / ``longitude`` floats),
        then the direct-identifier columns of the export, left for the pseudonymiser to
        use and drop. Multi-valued fields hold codes joined by ``|``; missing values
        are NA.
    rejects : pandas.DataFrame
        One row per rejected input row, sorted by line: ``ligne``, ``champ`` (the
        column as headed in the file; ``localisation`` or ``ligne entière`` when no
        single column is at fault), ``motif`` (French), ``valeur`` (the value as
        written; empty for identifying or free-text fields) and ``autres_motifs``
        (the other reasons, ``champ : motif`` joined by `` ; ``).
    duplicates : int
        Extra copies of exact duplicate rows (each is also a reject row).
    n_read : int
        Rows read; always ``len(accepted) + len(rejects)``.
    """

    accepted: pd.DataFrame
    rejects: pd.DataFrame
    duplicates: int
    n_read: int


class _Problems:
    """Reasons collected per rule, merged into one reject row per input row."""

    def __init__(self, raw: RawExport):
        self.parts: list[pd.DataFrame] = []
        self.headers = {name: header for header, name in raw.columns.items()}

    def header(self, name: str) -> str:
        return self.headers.get(name, name)

    def add(self, rank: int, positions: np.ndarray, champ: str, motif, valeur="") -> None:
        if len(positions) == 0:
            return
        self.parts.append(pd.DataFrame({
            "pos": positions, "rank": rank, "champ": champ, "motif": motif, "valeur": valeur}))

    def add_unique(self, rank: int, column: _Column, failed: np.ndarray, motif, name: str,
                   ) -> None:
        """Flag the rows whose distinct value failed.

        ``motif`` is a template with ``{}`` for the (masked) value, or one string per
        distinct value.
        """
        if not failed.any():
            return
        echo = column.echo(failed)
        if isinstance(motif, str):
            motif = np.array([motif.format(e) if f else "" for e, f in
                              zip(echo, failed, strict=True)], dtype=object)
        positions = np.flatnonzero(failed[column.codes])
        picked = column.codes[positions]
        valeur = "" if name in NEVER_ECHOED else echo[picked]
        self.add(rank, positions, self.header(name), motif[picked], valeur)

    def merged(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"pos": np.array([], dtype=np.int64), "champ": [], "motif": [],
                                 "valeur": [], "autres_motifs": []})
        table = pd.concat(self.parts, ignore_index=True)
        table = table.sort_values(["pos", "rank"], kind="stable", ignore_index=True)
        first = ~table["pos"].duplicated().to_numpy()
        out = table.loc[first, ["pos", "champ", "motif", "valeur"]].reset_index(drop=True)
        others = table.loc[~first]
        if len(others):
            text = (others["champ"].astype(str) + " : " + others["motif"].astype(str))
            joined = text.groupby(others["pos"].to_numpy()).agg(" ; ".join)
            out["autres_motifs"] = out["pos"].map(joined).fillna("")
        else:
            out["autres_motifs"] = ""
        return out


class _Column:
    """A text column factorised once: row codes and stripped distinct values."""

    def __init__(self, values: pd.Series):
        codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
        self.codes = np.asarray(codes, dtype=np.intp)
        self.uniques = np.array([_clean(u) for u in uniques], dtype=object)
        self.empty = np.array([_EMPTY_RE.match(u) is not None for u in self.uniques],
                              dtype=bool)

    def rows(self, per_unique: np.ndarray) -> np.ndarray:
        return per_unique[self.codes]

    def echo(self, where: np.ndarray | None = None) -> np.ndarray:
        """Printable form of the distinct values (``""`` outside ``where``)."""
        out = np.full(len(self.uniques), "", dtype=object)
        for i in np.flatnonzero(where) if where is not None else range(len(self.uniques)):
            out[i] = _safe_echo(self.uniques[i])
        return out


def _text(values: pd.Series) -> pd.Series:
    """Stripped text of a column as an object Series (fast for Python strings)."""
    array = values.to_numpy(dtype=object)
    return pd.Series([v.strip() if isinstance(v, str) else _clean(v) for v in array],
                     index=values.index, dtype=object)


def _clean(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(str(value).split())


def _safe_echo(value: str) -> str:
    if len(value) > 80 or _PII_RE.search(value):
        return _MASKED
    return value


def _safe_echo_text(value: str) -> str:
    """Echo for vocabulary fields: also mask any run of 6 digits or more."""
    masked = _safe_echo(value)
    return _MASKED if masked != _MASKED and _DIGIT_RUN_RE.search(value) else masked


# --------------------------------------------------------------------------- entry point


def validate_events(raw: RawExport, *, communes: Iterable[str] | None = None,
                    iris: Iterable[str] | None = None, qpv: Iterable[str] | None = None,
                    today: dt.date | None = None) -> Validation:
    """Check every row of an export; return the accepted events and the rejects.

    Parameters
    ----------
    raw : RawExport
        Output of :func:`fragility.logs.read.read_export`.
    communes, iris, qpv : iterable of str, optional
        Valid commune, IRIS and QPV codes of the territory; a code outside them is
        rejected ("IRIS hors du territoire"). Not checked when omitted.
    today : datetime.date, optional
        Reference date for the "future date" rule (default: today).

    Returns
    -------
    Validation

    Raises
    ------
    InputError
        When a required column (date, registre, thématique) or every location column is
        missing from the export: a file-level problem, not one per row.
    RuntimeError
        If the accounting ``read == accepted + rejected`` breaks (a bug, never expected).
    """
    today = today or dt.date.today()
    if isinstance(today, dt.datetime):
        today = today.date()
    frame = raw.frame
    n = len(frame)
    _check_columns(raw)
    problems = _Problems(raw)
    lines = np.asarray(frame.index, dtype=np.int64)
    columns = {name: _Column(frame[name]) for name in frame.columns if name in _FACTORISED}
    out: dict[str, object] = {}

    dup_pos, dup_first = _duplicates(frame)
    _dates(frame, problems, out, today, n)
    _vocabularies(raw, columns, problems, out, n)
    _locations(columns, problems, out, n, communes, iris, qpv)
    _coordinates(frame, problems, out, n)
    _others(columns, problems, out, n)
    _identifiers(frame, out)

    table = problems.merged()
    if len(dup_pos):  # a duplicate's own reasons are those of its first copy
        table = table[~np.isin(table["pos"].to_numpy(), dup_pos)]
        dups = pd.DataFrame({"pos": dup_pos, "champ": "ligne entière",
                             "motif": [f"doublon exact de la ligne {lines_}" for lines_ in
                                       lines[dup_first]],
                             "valeur": "", "autres_motifs": ""})
        table = pd.concat([table, dups], ignore_index=True).sort_values("pos", kind="stable")
    rejected = np.zeros(n, dtype=bool)
    rejected[table["pos"].to_numpy(dtype=np.int64)] = True
    keep = np.flatnonzero(~rejected)

    accepted = _assemble(frame, out, keep, lines, raw)
    rejects = pd.DataFrame({
        "ligne": lines[table["pos"].to_numpy(dtype=np.int64)],
        "champ": table["champ"].astype(str).to_numpy(),
        "motif": table["motif"].astype(str).to_numpy(),
        "valeur": table["valeur"].astype(str).to_numpy(),
        "autres_motifs": table["autres_motifs"].astype(str).to_numpy(),
    }, columns=list(REJECT_COLUMNS))
    if (n != len(accepted) + len(rejects) or rejects["ligne"].duplicated().any()
            or np.isin(rejects["ligne"].to_numpy(), accepted.index.to_numpy()).any()):
        raise RuntimeError(
            f"comptage incohérent : {n} lignes lues, {len(accepted)} acceptées, "
            f"{len(rejects)} rejetées ({raw.path.name}) ; signalez ce fichier aux développeurs.")
    return Validation(accepted=accepted, rejects=rejects, duplicates=len(dup_pos), n_read=n)


def _check_columns(raw: RawExport) -> None:
    present = set(raw.frame.columns)
    for name, label in (("date_raw", "date de l'intervention (ou mois)"),
                        ("registre", "registre d'intervention"),
                        ("thematique", "thématique")):
        if name not in present:
            raise InputError(f"colonne obligatoire absente : {label} (ajoutez-la ou indiquez "
                             "son en-tête dans le fichier de correspondance).",
                             path=raw.path, field=name)
    if not present & {"geo_iris", "geo_commune", "geo_qpv"} and not (
            {"latitude", "longitude"} <= present):
        raise InputError("aucune colonne de localisation (Code IRIS, Code commune, QPV, ou "
                         "Latitude et Longitude).", path=raw.path, field="localisation")


def _duplicates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the extra copies of exact duplicates, and of their first copy."""
    if frame.shape[1] == 0 or len(frame) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty
    groups = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(groups, return_index=True)  # first occurrence of each group 0..G-1
    dup = first[groups] != np.arange(len(frame))
    return np.flatnonzero(dup), first[groups[dup]]


# --------------------------------------------------------------------------- dates


def _dates(frame, problems: _Problems, out, today: dt.date, n: int) -> None:
    values = frame["date_raw"]
    if "year_raw" in frame:  # "3" + "2024" -> "3 2024"
        year = _text(frame["year_raw"])
        text = _text(values)
        join = (year != "") & (text != "") & ~text.str.contains(r"\d{4}", regex=True)
        values = text.where(~join, text + " " + year)
    column = _Column(values)
    year, month, _, status = _parse_dates(column.uniques, column.empty, today)
    period = np.array([f"{y:04d}-{m:02d}" if s == "ok" else None
                       for y, m, s in zip(year, month, status, strict=True)], dtype=object)
    out["period_month"] = column.rows(period)
    failed = status != "ok"
    echo = column.echo(failed)
    motif = np.full(len(status), "", dtype=object)
    for i in np.flatnonzero(failed):
        motif[i] = _DATE_MOTIFS[status[i]].format(echo[i])
    problems.add_unique(10, column, failed, motif, "date_raw")


_DATE_MOTIFS = {
    "missing": "date manquante",
    "unreadable": "date illisible ({}) : jj/mm/aaaa, aaaa-mm-jj ou mm/aaaa attendu",
    "impossible": "date impossible ({})",
    "old": "date antérieure à 2000 ({})",
    "future": "date future ({})",
}


def _parse_dates(uniques: np.ndarray, empty: np.ndarray, today: dt.date):
    """Year, month, day and status (ok, missing, unreadable, impossible, old, future)."""
    k = len(uniques)
    text = pd.Series(uniques, dtype=object).str.lower()
    year = np.zeros(k, dtype=np.int64)
    month = np.zeros(k, dtype=np.int64)
    day = np.ones(k, dtype=np.int64)
    exact = np.zeros(k, dtype=bool)  # a day was given
    found = np.zeros(k, dtype=bool)
    for regex, order in _DATE_FORMATS:
        todo = np.flatnonzero(~found & ~empty)
        if not len(todo):
            break
        parts = text.iloc[todo].str.extract(regex).to_numpy()
        matched = ~pd.isna(parts[:, 0])
        if not matched.any():
            continue
        hit = todo[matched]
        parts = parts[matched]
        a, b = parts[:, 0].astype(np.int64), parts[:, 1].astype(np.int64)
        if order in ("dmy", "dmy2", "ymd"):
            c = parts[:, 2].astype(np.int64)
            if order == "ymd":
                year[hit], month[hit], day[hit] = a, b, c
            else:
                y = c
                if order == "dmy2":
                    y = np.where(2000 + c <= today.year, 2000 + c, 1900 + c)
                year[hit], month[hit], day[hit] = y, b, a
            exact[hit] = True
        elif order == "my":
            year[hit], month[hit] = b, a
        else:
            year[hit], month[hit] = a, b
        found[hit] = True
    # Excel serial numbers (days since 1899-12-30).
    todo = np.flatnonzero(~found & ~empty)
    serial = text.iloc[todo].str.extract(_SERIAL_RE)[0].to_numpy()
    hit = todo[~pd.isna(serial)]
    if len(hit):
        days = serial[~pd.isna(serial)].astype(np.int64)
        stamps = pd.Timestamp("1899-12-30") + pd.to_timedelta(days, unit="D")
        year[hit], month[hit], day[hit] = stamps.year, stamps.month, stamps.day
        exact[hit] = found[hit] = True
    # French month names ("mars 2024", "févr. 24").
    rest = np.flatnonzero(~found & ~empty)
    for i in rest:
        match = _MONTH_NAME_RE.match(fold(uniques[i]))
        if match and match.group(1) in _MONTHS:
            y = int(match.group(2))
            year[i] = y if y >= 100 else (2000 + y if 2000 + y <= today.year else 1900 + y)
            month[i] = _MONTHS[match.group(1)]
            found[i] = True

    stamps = pd.to_datetime(pd.DataFrame({"year": np.where(found, year, 2000),
                                          "month": np.where(found, month, 1),
                                          "day": np.where(found, day, 1)}),
                            errors="coerce")
    valid = found & ~np.asarray(stamps.isna())
    status = np.full(k, "ok", dtype=object)
    status[~found] = "unreadable"
    status[found & ~valid] = "impossible"
    status[valid & (year < 2000)] = "old"
    ymd = year * 10000 + month * 100 + np.where(exact, day, 1)
    limit = today.year * 10000 + today.month * 100 + today.day
    month_limit = today.year * 10000 + today.month * 100 + 1
    future = np.where(exact, ymd > limit, ymd > month_limit)
    status[valid & (year >= 2000) & future] = "future"
    status[empty] = "missing"
    return year, month, day, status


# --------------------------------------------------------------------------- vocabularies


_VOCAB_MOTIFS = {"registre": ("registre d'intervention manquant", "registre inconnu ({})"),
                 "thematique": ("thématique manquante", "thématique inconnue ({})")}
_RANKS = {"registre": 20, "thematique": 21}


def _vocabularies(raw: RawExport, columns, problems: _Problems, out, n: int) -> None:
    for name in VOCABULARIES:
        column = columns.get(name)
        if column is None:
            out[name] = None
            continue
        extra = {**BUILTIN_SYNONYMS.get(name, {}), **raw.value_synonyms.get(name, {})}
        extra = {fold(k): v for k, v in extra.items()}
        convert = _SPECIAL.get(name)
        codes = np.empty(len(column.uniques), dtype=object)
        bad = np.empty(len(column.uniques), dtype=object)  # the unknown (sub-)value
        for i, value in enumerate(column.uniques):
            if column.empty[i]:
                codes[i] = bad[i] = None
                continue
            code = convert(value) if convert else None
            if code is None:
                code, bad[i] = _match(name, value, extra)
            else:
                bad[i] = None
            codes[i] = code
        out[name] = column.rows(codes)
        unknown = np.array([b is not None for b in bad], dtype=bool)
        missing_label, unknown_label = _VOCAB_MOTIFS.get(
            name, (None, f"valeur inconnue pour « {FIELDS.get(name, name)} » ({{}})"))
        echo = np.array([_safe_echo_text(b) if b is not None else "" for b in bad],
                        dtype=object)
        motif = np.array([unknown_label.format(e) for e in echo], dtype=object)
        rank = _RANKS.get(name, 60)
        if unknown.any():
            positions = np.flatnonzero(unknown[column.codes])
            picked = column.codes[positions]
            problems.add(rank, positions, problems.header(name), motif[picked], echo[picked])
        if missing_label is not None:
            problems.add(rank, np.flatnonzero(column.rows(column.empty)),
                         problems.header(name), missing_label)


def _match(name: str, value: str, extra: dict[str, str]) -> tuple[str | None, str | None]:
    """Code(s) of a written value, and the first unknown (sub-)value if any.

    A multi-valued cell is split on its separators; at each position the longest run of
    pieces that is exactly a code, a label or a synonym wins ("Logement, habitat" stays
    one value, "France services / PIMMS" gives two), then the longest run that
    :func:`~fragility.logs.schema.match_value` recognises.
    """
    pieces = [p for p in _SPLIT_RE.split(value) if p] if name in MULTI_FIELDS else [value]
    if len(pieces) <= 1:
        code = match_value(name, value, extra)
        return (code, None) if code is not None else (None, value)
    exact = {**_EXACT[name], **extra}
    found: list[str] = []
    i = 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            code = exact.get(fold(" ".join(pieces[i:j])))
            if code is not None:
                break
        else:
            for j in range(len(pieces), i, -1):
                code = match_value(name, " ".join(pieces[i:j]), extra)
                if code is not None:
                    break
            else:
                return None, pieces[i]
        if code not in found:
            found.append(code)
        i = j
    return "|".join(found), None


_EXACT = {name: {**{fold(c): c for c in voc}, **{fold(label): c for c, label in voc.items()}}
          for name, voc in VOCABULARIES.items()}


def _age_band(value: str) -> str | None:
    text = value.replace("ans", "").strip()
    if not text.isdigit() or int(text) > 120:
        return None
    age = int(text)
    for limit, band in ((17, "0_17"), (24, "18_24"), (39, "25_39"), (59, "40_59"),
                        (74, "60_74")):
        if age <= limit:
            return band
    return "75_plus"


_DURATION_RE = re.compile(
    r"^(?:(?P<h>\d{1,2}) ?(?:h|:) ?(?P<hm>\d{1,2})?|(?P<m>\d{1,4}) ?(?:min|mn|minutes?)?)$")


def _duree_band(value: str) -> str | None:
    match = _DURATION_RE.match(value.strip().lower())
    if not match:
        return None
    if match.group("m") is not None:
        minutes = int(match.group("m"))
    else:
        minutes = 60 * int(match.group("h")) + int(match.group("hm") or 0)
    if minutes < 30:
        return "lt30"
    if minutes < 60:
        return "30_60"
    return "60_120" if minutes < 120 else "ge120"


_SPECIAL = {"age_band": _age_band, "duree_band": _duree_band}
#: Columns checked value by value (factorised once).
_FACTORISED = frozenset({*VOCABULARIES, "geo_iris", "geo_commune", "geo_qpv", "n_participants",
                         "barriere_langue"})


# --------------------------------------------------------------------------- locations


def _commune_test(communes: set[str]):
    """Membership test accepting an arrondissement for its commune and the reverse."""
    parents = {PLM_ARRONDISSEMENTS[c] for c in communes if c in PLM_ARRONDISSEMENTS}

    def inside(code: str) -> bool:
        return code in communes or code in parents or PLM_ARRONDISSEMENTS.get(code) in communes

    return inside


def _codes(column: _Column, width: int, patterns) -> tuple[np.ndarray, np.ndarray]:
    """Normalised distinct codes and whether each is malformed (present but bad)."""
    codes = np.array([None if e else normalise_code(u, width)
                      for u, e in zip(column.uniques, column.empty, strict=True)], dtype=object)
    # A spreadsheet can drop one leading zero (département 01-09), never two.
    short = np.array([u.removesuffix(".0").isdigit() and len(u.removesuffix(".0")) < width - 1
                      for u in column.uniques], dtype=bool)
    bad = short | np.array([c is not None and not any(p.match(c) for p in patterns)
                            for c in codes], dtype=bool)
    return codes, bad


def _locations(columns, problems: _Problems, out, n, communes, iris, qpv) -> None:
    communes = None if communes is None else {str(c) for c in communes}
    in_communes = None if communes is None else _commune_test(communes)
    iris = None if iris is None else {str(c) for c in iris}
    qpv = None if qpv is None else {str(c) for c in qpv}
    none = np.full(n, None, dtype=object)
    present = np.zeros(n, dtype=bool)

    iris_rows = none
    if "geo_iris" in columns:
        col = columns["geo_iris"]
        codes, bad = _codes(col, 9, (IRIS_RE,))
        problems.add_unique(30, col, bad, "code IRIS mal formé ({}) : 9 caractères attendus",
                            "geo_iris")
        ok = np.array([c is not None for c in codes]) & ~bad
        if iris is not None:
            out_ = ok & np.array([c not in iris for c in codes], dtype=bool)
            problems.add_unique(31, col, out_, "IRIS hors du territoire ({})", "geo_iris")
        elif communes is not None:
            out_ = ok & np.array([c is not None and not in_communes(c[:5]) for c in codes],
                                 dtype=bool)
            problems.add_unique(31, col, out_, "IRIS hors du territoire ({})", "geo_iris")
        iris_rows = col.rows(np.where(ok, codes, None))
        present |= col.rows(~col.empty)

    commune_rows = none
    if "geo_commune" in columns:
        col = columns["geo_commune"]
        codes, bad = _codes(col, 5, (COMMUNE_RE,))
        problems.add_unique(32, col, bad, "code commune mal formé ({}) : code INSEE à 5 "
                            "caractères attendu", "geo_commune")
        ok = np.array([c is not None for c in codes]) & ~bad
        if communes is not None:
            out_ = ok & np.array([c is not None and not in_communes(c) for c in codes],
                                 dtype=bool)
            problems.add_unique(33, col, out_, "commune hors du territoire ({})", "geo_commune")
        commune_rows = col.rows(np.where(ok, codes, None))
        present |= col.rows(~col.empty)

    both = np.flatnonzero(pd.notna(iris_rows) & pd.notna(commune_rows))
    if len(both):
        prefix = pd.Series(iris_rows[both], dtype=object).str[:5].to_numpy()
        given = commune_rows[both]
        parent = pd.Series(prefix).map(PLM_ARRONDISSEMENTS).to_numpy()
        clash = (prefix != given) & (parent != given)
        idx = both[clash]
        problems.add(34, idx, problems.header("geo_iris"),
                     [f"IRIS et commune incohérents (IRIS {i}, commune {c})"
                      for i, c in zip(iris_rows[idx], commune_rows[idx], strict=True)],
                     iris_rows[idx])

    qpv_rows = none
    if "geo_qpv" in columns:
        col = columns["geo_qpv"]
        codes = np.array([None if e else u.upper().replace(" ", "")
                          for u, e in zip(col.uniques, col.empty, strict=True)], dtype=object)
        bad = np.array([c is not None and not QPV_PATTERN.match(c) for c in codes], dtype=bool)
        problems.add_unique(35, col, bad, "code QPV mal formé ({})", "geo_qpv")
        ok = np.array([c is not None for c in codes]) & ~bad
        if qpv is not None:
            out_ = ok & np.array([c not in qpv for c in codes], dtype=bool)
            problems.add_unique(36, col, out_, "QPV hors du territoire ({})", "geo_qpv")
        qpv_rows = col.rows(np.where(ok, codes, None))
        present |= col.rows(~col.empty)

    derived = pd.Series(iris_rows, dtype=object).str[:5].to_numpy()
    out["geo_iris"] = iris_rows
    out["geo_commune"] = np.where(pd.notna(commune_rows), commune_rows, derived)
    out["geo_qpv"] = qpv_rows
    out["_present"] = present


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats (decimal comma accepted) and whether each cell is blank."""
    text = _text(values)
    array = text.to_numpy(dtype=object)
    blank = np.array([v == "" or v.lower() in ("nan", "na", "null") for v in array], dtype=bool)
    numbers = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(dtype=float,
                                                                                 copy=True)
    retry = np.flatnonzero(np.isnan(numbers) & ~blank)  # "47,32", "47 320,5"...
    if len(retry):
        cleaned = pd.Series(array[retry], dtype=object).str.replace(",", ".", regex=False)
        cleaned = cleaned.str.replace(r"\s", "", regex=True)
        numbers[retry] = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float)
    return numbers, blank


def _coordinates(frame, problems: _Problems, out, n: int) -> None:
    lat = lon = np.full(n, np.nan)
    if {"latitude", "longitude"} <= set(frame.columns):
        lat, lat_blank = _numbers(frame["latitude"])
        lon, lon_blank = _numbers(frame["longitude"])
        champ = f"{problems.header('latitude')} / {problems.header('longitude')}"
        partial = lat_blank ^ lon_blank
        given = ~lat_blank & ~lon_blank
        nonnum = given & (np.isnan(lat) | np.isnan(lon))
        numeric = given & ~nonnum
        inside = _in_france(lat, lon)
        swapped = numeric & ~inside & _in_france(lon, lat)
        metres = numeric & ~inside & ~swapped & ((np.abs(lat) > 1000) | (np.abs(lon) > 1000))
        outside = numeric & ~inside & ~swapped & ~metres
        for rank, mask, motif in (
                (40, partial, "coordonnées incomplètes (latitude ou longitude manquante)"),
                (41, nonnum, "coordonnées non numériques"),
                (42, swapped, "latitude et longitude inversées ?"),
                (43, metres, "coordonnées en mètres (Lambert-93 ?) : degrés WGS84 attendus"),
                (44, outside, "coordonnées hors de France")):
            problems.add(rank, np.flatnonzero(mask), champ, motif)
        ok = numeric & inside
        lat = np.where(ok, lat, np.nan)
        lon = np.where(ok, lon, np.nan)
        present = out["_present"] | given | partial
    else:
        present = out["_present"]
        for name in ("latitude", "longitude"):  # one coordinate alone cannot locate
            if name in frame:
                present = present | (_text(frame[name]) != "").to_numpy()
    out["latitude"], out["longitude"] = lat, lon
    problems.add(45, np.flatnonzero(~present), "localisation",
                 "aucune localisation (ni IRIS, ni commune, ni QPV, ni coordonnées)")


def _in_france(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    inside = np.zeros(len(lat), dtype=bool)
    with np.errstate(invalid="ignore"):
        for lat0, lat1, lon0, lon1 in FRANCE_BOXES.values():
            inside |= (lat >= lat0) & (lat <= lat1) & (lon >= lon0) & (lon <= lon1)
    return inside


# --------------------------------------------------------------------------- other fields


def _others(columns, problems: _Problems, out, n: int) -> None:
    participants = np.full(n, np.nan)
    if "n_participants" in columns:
        col = columns["n_participants"]
        parsed = np.array([_count(u) if not e else np.nan
                           for u, e in zip(col.uniques, col.empty, strict=True)], dtype=float)
        bad = ~col.empty & np.isnan(parsed)
        problems.add_unique(70, col, bad, "nombre de participants invalide ({}) : entier "
                            "positif attendu", "n_participants")
        participants = col.rows(parsed)
    out["n_participants"] = participants

    language = np.full(n, None, dtype=object)
    if "barriere_langue" in columns:
        col = columns["barriere_langue"]
        folded = [fold(u) for u in col.uniques]
        parsed = np.array([True if f in _TRUE else False if f in _FALSE else None
                           for f in folded], dtype=object)
        bad = ~col.empty & np.array([p is None for p in parsed], dtype=bool)
        problems.add_unique(71, col, bad, "valeur inconnue pour « barrière de langue » ({}) : "
                            "oui ou non attendu", "barriere_langue")
        language = col.rows(np.where(col.empty, None, parsed))
    out["barriere_langue"] = language



def _identifiers(frame: pd.DataFrame, out) -> None:
    """Free identifiers and codes, stripped; blank markers become missing."""
    for name in ("structure_id", "team_id", "person_id", "mediator_id", *DIRECT_IDENTIFIERS):
        if name in frame:
            text = _text(frame[name])
            blank = text.str.lower().isin(_BLANK_IDS).to_numpy()
            values = text.to_numpy(dtype=object, copy=True)
            values[blank] = None
            out[name] = values
        elif name not in DIRECT_IDENTIFIERS:
            out[name] = None


def _count(value: str) -> float:
    text = value.replace(",", ".").strip()
    try:
        number = float(text)
    except ValueError:
        return np.nan
    return number if number >= 1 and number.is_integer() else np.nan


# --------------------------------------------------------------------------- assembly


def _uuid4_strings(n: int) -> np.ndarray:
    """``n`` random UUID4 strings (os-level randomness, vectorised)."""
    if n == 0:
        return np.array([], dtype=object)
    raw = np.frombuffer(secrets.token_bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    slots = [*range(0, 8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)]
    text[:, slots] = hexed
    return text.view("S36").ravel().astype(str).astype(object)


def _assemble(frame: pd.DataFrame, out: dict, keep: np.ndarray, lines: np.ndarray,
              raw: RawExport) -> pd.DataFrame:
    m = len(keep)

    def take(name):
        value = out.get(name)
        if value is None:
            return np.full(m, None, dtype=object)
        return np.asarray(value)[keep]

    contact = take("contact_kind")
    participants = take("n_participants")
    group = pd.isna(contact) & (np.nan_to_num(participants.astype(float)) >= 2)
    contact = np.where(group, "collectif", np.where(pd.isna(contact), "individuel", contact))
    basis = take("geo_basis")
    basis = np.where(pd.isna(basis), "lieu_intervention", basis)
    iris_ = take("geo_iris")
    commune = take("geo_commune")
    qpv_ = take("geo_qpv")
    level = np.select([pd.notna(iris_), pd.notna(commune), pd.notna(qpv_)],
                      ["iris", "commune", "qpv"], default="")
    data = {
        "event_id": _uuid4_strings(m),
        "schema_version": np.full(m, SCHEMA_VERSION, dtype=object),
        "source_line": lines[keep],
        "contact_kind": contact,
        "geo_basis": basis,
        "geo_level": np.where(level == "", None, level).astype(object),
    }
    accepted = {}
    for name in ACCEPTED_COLUMNS:
        if name in data:
            accepted[name] = data[name]
        elif name == "n_participants":
            accepted[name] = pd.array(participants, dtype="Int64")
        elif name == "barriere_langue":
            accepted[name] = pd.array(take(name), dtype="boolean")
        elif name in ("latitude", "longitude"):
            accepted[name] = take(name).astype(float)
        else:
            accepted[name] = take(name)
    for name in frame.columns:
        if name in DIRECT_IDENTIFIERS:
            accepted[name] = take(name)
    index = pd.Index(lines[keep], name="ligne")
    return pd.DataFrame({name: pd.Series(values, index=index, dtype=object)
                         if isinstance(values, np.ndarray) and values.dtype == object
                         else pd.Series(values, index=index)
                         for name, values in accepted.items()}, index=index)


__all__ = ["ACCEPTED_COLUMNS", "BUILTIN_SYNONYMS", "FRANCE_BOXES", "NEVER_ECHOED",
           "REJECT_COLUMNS", "Validation", "validate_events"]
