"""Read a mediation export as it comes (CSV, XLSX, Parquet) into text cells with field names.

Nothing is inferred here: every cell stays the text that was written (codes keep their
leading zeros), and the index is the line number in the source file, so that every
message of :mod:`fragility.logs.validate` can name the line the user has to fix.

What this module decides:

* **Format**: from the extension (``.csv``/``.txt``/``.tsv``, ``.xlsx``/``.xlsm``,
  ``.parquet``/``.pq``), otherwise from the first bytes (``PK`` = XLSX, ``PAR1`` =
  Parquet, anything else = delimited text). ``.xls`` (Excel 97-2003) is refused.
* **Encoding** (CSV): a UTF-8 byte-order mark gives ``"utf-8-sig"`` (a UTF-16 mark,
  Excel's "texte Unicode", gives ``"utf-16"``); otherwise strict UTF-8 is tried, then
  Windows-1252 (``"cp1252"``). The encoding used is recorded in
  :attr:`RawExport.encoding` so that reports state it; a file that is neither is refused.
* **Separator** (CSV): the most frequent of ``;``, tab and ``,`` in the header line,
  quoted text excluded, unless the mapping file says ``separateur``.
* **Headers**: French headers as people write them, compared after
  :func:`~fragility.logs.schema.fold` (accents, case and punctuation ignored); see
  :data:`HEADER_ALIASES`. A header recognised for a field already taken by a
  higher-priority header (e.g. "Mois" when "Date" exists) is reported with the unknown
  columns. Unknown columns are reported in :attr:`RawExport.unknown_columns` and *not*
  kept.
* **Direct identifiers** (name, phone, e-mail, address, NIR, birth date, comments,
  allocataire number) are recognised (:data:`IDENTIFIER_ALIASES`, then
  :data:`~fragility.logs.schema.FORBIDDEN_COLUMNS_RE`) and kept under their kind name
  only so that pseudonymisation can use them and then drop them. When two headers are of
  the same kind (two phone columns), only the first is kept; all are listed in
  :attr:`RawExport.identifier_columns`.
* **Line numbers**: header = line 1; a quoted cell spanning several lines shifts the
  following rows accordingly. Rows whose cells are all empty (blank lines, ``;;;;``) are
  not data and are left out. XLSX rows keep their sheet row number; Parquet rows are
  numbered as if the table were written as CSV with a header (first row = 2).
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import io
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragility.errors import InputError
from fragility.logs.schema import (
    DIRECT_IDENTIFIERS,
    FIELDS,
    FORBIDDEN_COLUMNS_RE,
    VOCABULARIES,
    fold,
    match_value,
)

#: Fields a column of an export can feed (``date_raw``: the date or month as written;
#: ``year_raw``: a separate year column, combined with a month column by validation;
#: ``person_id`` / ``mediator_id``: raw identifiers, pseudonymised later;
#: ``latitude`` / ``longitude``: WGS84 degrees, used for location then dropped).
READ_FIELDS = (
    "date_raw", "year_raw", "source_system", "structure_id", "team_id", "mediator_id",
    "person_id", "contact_kind", "n_participants", "registre", "conflit_mode",
    "conflit_type", "accord_statut", "thematique", "thematiques_secondaires",
    "droit_organisme", "droit_domaine", "lieu_type", "mode", "initiative",
    "orientation_partenaire", "orientation_niveau", "suivi_statut", "non_recours_observe",
    "age_band", "sexe", "menage_type", "barriere_langue", "geo_iris", "geo_basis",
    "geo_qpv", "geo_commune", "latitude", "longitude", "duree_band",
)

#: field -> headers that mean it, highest priority first (compared after ``fold``).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "date_raw": ("Date de l'intervention", "Date d'intervention", "Date de l'action",
                 "Date du contact", "Date de contact", "Date de la demande", "Date", "Jour",
                 "Mois", "Période", "Mois de l'intervention", "period_month", "date"),
    "year_raw": ("Année", "Annee", "Année de l'intervention"),
    "source_system": ("Logiciel source", "Logiciel", "Source"),
    "structure_id": ("Structure", "Code structure", "Identifiant structure", "Id structure"),
    "team_id": ("Équipe", "Antenne", "Équipe / antenne", "Code équipe"),
    "mediator_id": ("Identifiant médiateur", "Médiateur", "Médiatrice", "Médiateur/trice",
                    "Médiateur·rice", "Médiateur-trice", "N° médiateur", "Intervenant",
                    "Intervenante", "Agent"),
    "person_id": ("Identifiant usager", "N° usager", "Numéro usager", "Num usager",
                  "Id usager", "Identifiant personne", "N° personne", "Identifiant bénéficiaire",
                  "N° bénéficiaire", "N° dossier", "Numéro de dossier", "Usager", "Bénéficiaire"),
    "contact_kind": ("Nature du contact", "Type de contact", "Individuel / collectif",
                     "Type d'activité"),
    "n_participants": ("Nombre de participants", "Nb participants", "Nombre de personnes",
                       "Participants"),
    "registre": ("Registre d'intervention", "Registre", "Registre AFNOR",
                 "Registres d'intervention"),
    "conflit_mode": ("Mode de gestion du conflit", "Gestion du conflit", "Mode de gestion"),
    "conflit_type": ("Type de conflit", "Nature du conflit", "Conflit"),
    "accord_statut": ("Accord", "Suivi de l'accord", "Accord / suivi de l'accord",
                      "Statut de l'accord"),
    "thematique": ("Thématique principale", "Thématique", "Thème", "Thème principal", "Motif",
                   "Motif de la demande", "Motif principal"),
    "thematiques_secondaires": ("Thématiques secondaires", "Thématique secondaire",
                                "Autres thématiques", "Thèmes secondaires", "Motifs secondaires"),
    "droit_organisme": ("Organisme", "Organismes", "Organisme concerné", "Droit concerné",
                        "Organisme / droit concerné"),
    "droit_domaine": ("Domaine", "Domaine de démarche", "Domaine de la démarche"),
    "lieu_type": ("Type de lieu", "Lieu", "Lieu de l'intervention", "Lieu d'intervention"),
    "mode": ("Modalité", "Mode", "Canal", "Modalité d'intervention"),
    "initiative": ("Initiative", "Origine du contact", "Origine", "Origine de la demande"),
    "orientation_partenaire": ("Orientation vers", "Partenaire", "Partenaires",
                               "Orienté vers", "Orientation", "Structure de redirection",
                               "Partenaire de mise en relation"),
    "orientation_niveau": ("Intensité de l'orientation", "Niveau d'orientation",
                           "Type d'orientation"),
    "suivi_statut": ("Suivi", "Résultat", "Résultat / suivi", "Statut", "Issue",
                     "Degré de finalisation"),
    "non_recours_observe": ("Type de non-recours", "Non-recours", "Non-recours repéré",
                            "Type de non-recours repéré"),
    "age_band": ("Tranche d'âge", "Âge", "Age", "Tranche d'age", "Classe d'âge"),
    "sexe": ("Sexe", "Genre"),
    "menage_type": ("Type de ménage", "Composition du ménage", "Situation familiale", "Ménage"),
    "barriere_langue": ("Barrière de langue", "Besoin d'interprétariat", "Interprétariat",
                        "Barrière linguistique"),
    "geo_iris": ("Code IRIS", "IRIS", "Code Iris de résidence", "IRIS de résidence",
                 "Code IRIS de l'intervention"),
    "geo_basis": ("Base de localisation", "Localisation"),
    "geo_qpv": ("Code QPV", "QPV", "Quartier prioritaire", "Code quartier prioritaire"),
    "geo_commune": ("Code commune", "Code INSEE", "Code INSEE commune", "Code commune INSEE",
                    "Commune", "Code COG", "INSEE"),
    "latitude": ("Latitude", "Lat"),
    "longitude": ("Longitude", "Lon", "Lng", "Long"),
    "duree_band": ("Durée", "Durée de l'intervention", "Temps passé", "Durée (min)"),
}

#: direct-identifier kind -> headers that mean it (compared after ``fold``).
IDENTIFIER_ALIASES: dict[str, tuple[str, ...]] = {
    "nom": ("Nom", "Nom de famille", "Nom usager", "Nom de l'usager", "Nom du bénéficiaire",
            "Nom de naissance", "Nom d'usage", "Name", "Surname", "Last name"),
    "prenom": ("Prénom", "Prénom usager", "Prénom de l'usager", "Prénom du bénéficiaire",
               "First name"),
    "telephone": ("Téléphone", "Tél", "Tel", "Portable", "Mobile", "Téléphone portable",
                  "Téléphone fixe", "N° de téléphone", "Numéro de téléphone", "N° tél", "Phone"),
    "email": ("Email", "E-mail", "Courriel", "Mail", "Adresse mail", "Adresse e-mail",
              "Adresse électronique", "Adresse courriel"),
    "adresse": ("Adresse", "Adresse postale", "Rue", "Adresse de l'usager",
                "Adresse du bénéficiaire", "Address"),
    "nir": ("NIR", "N° de sécurité sociale", "Numéro de sécurité sociale", "N° SS", "NSS",
            "Sécurité sociale", "N° sécu", "Secu"),
    "date_naissance": ("Date de naissance", "Né le", "Née le", "Né(e) le", "Naissance", "DDN",
                       "Birth", "Date of birth"),
    "commentaire": ("Commentaire", "Commentaires", "Observations", "Observation", "Notes",
                    "Note", "Remarques", "Remarque", "Texte libre", "Précisions"),
    "numero_allocataire": ("N° allocataire", "Numéro allocataire", "Numéro d'allocataire",
                           "N° CAF", "Numéro CAF", "Caf num", "Num allocataire",
                           "Identifiant France Travail", "Identifiant FT", "N° France Travail"),
}

#: Fallback kinds for headers matched by FORBIDDEN_COLUMNS_RE only.
_FORBIDDEN_KIND = {
    "name": "nom", "surname": "nom", "tel": "telephone", "phone": "telephone",
    "mail": "email", "address": "adresse", "secu": "nir", "caf_num": "numero_allocataire",
    "num_allocataire": "numero_allocataire", "identifiant_ft": "numero_allocataire",
    "birth": "date_naissance", "note": "commentaire", "notes": "commentaire",
}

#: Names a mapping file may use for ``date_raw``.
_TARGET_SYNONYMS = {"date": "date_raw", "period_month": "date_raw", "mois": "date_raw",
                    "annee": "year_raw"}
_IGNORE_TARGETS = {"ignorer", "ignore", "aucun"}
_MAPPING_KEYS = {"colonnes", "valeurs", "feuille", "separateur", "encodage"}
_SEPARATOR_NAMES = {"tab": "\t", "tabulation": "\t", "\\t": "\t", "point-virgule": ";",
                    "point virgule": ";", "virgule": ",", "pipe": "|", "barre": "|"}
_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".tab": "csv", ".xlsx": "xlsx",
            ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}


def _alias_index() -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
    fields: dict[str, tuple[str, int]] = {}
    for name, headers in HEADER_ALIASES.items():
        for rank, header in enumerate(headers):
            fields.setdefault(fold(header), (name, rank))
    for name in READ_FIELDS:  # field names and schema labels, lowest priority
        fields.setdefault(fold(name), (name, 100))
        if name in FIELDS:
            fields.setdefault(fold(FIELDS[name]), (name, 101))
    identifiers: dict[str, str] = {}
    for kind, headers in IDENTIFIER_ALIASES.items():
        identifiers[fold(kind)] = kind
        for header in headers:
            identifiers.setdefault(fold(header), kind)
    return fields, identifiers


_FIELD_INDEX, _IDENTIFIER_INDEX = _alias_index()


@dataclass(frozen=True)
class RawExport:
    """An export read as text, with its columns renamed to field names.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per data row, every cell a ``str`` (empty string when blank), nothing
        inferred. Columns are field names (:data:`READ_FIELDS`) and, for direct
        identifiers, their kind (:data:`~fragility.logs.schema.DIRECT_IDENTIFIERS`).
        The index, named ``ligne``, is the 1-based line number in the source file
        (header = line 1), or the sheet row number for XLSX.
    path : pathlib.Path
        File read.
    file_format : str
        ``"csv"``, ``"xlsx"`` or ``"parquet"``.
    encoding : str or None
        Encoding detected or imposed (``"utf-8"``, ``"utf-8-sig"``, ``"cp1252"``...);
        ``None`` for XLSX and Parquet.
    separator : str or None
        Field separator of a CSV (``";"``, ``","`` or a tab); ``None`` otherwise.
    columns : dict
        Original header -> field name, for the columns kept as fields.
    unknown_columns : list of str
        Original headers not recognised (or superseded by a higher-priority header):
        reported, not kept.
    identifier_columns : dict
        Original header -> direct-identifier kind (``"Nom"`` -> ``"nom"``).
    value_synonyms : dict
        field -> {written value -> code}, from the mapping file.
    n_rows : int
        Number of data rows in :attr:`frame`.
    """

    frame: pd.DataFrame
    path: Path
    file_format: str
    encoding: str | None
    separator: str | None
    columns: dict[str, str]
    unknown_columns: list[str]
    identifier_columns: dict[str, str]
    value_synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    n_rows: int = 0


@dataclass(frozen=True)
class ExportMapping:
    """A checked user mapping (see :func:`load_mapping`).

    Attributes
    ----------
    columns : dict
        Folded header -> field name or identifier kind (``None``: column ignored).
    values : dict
        field -> {written value -> code}.
    sheet : str or int or None
        XLSX sheet name, or 1-based number.
    separator, encoding : str or None
        Imposed CSV separator and encoding.
    """

    columns: dict[str, str | None]
    values: dict[str, dict[str, str]]
    sheet: str | int | None
    separator: str | None
    encoding: str | None


# --------------------------------------------------------------------------- mapping file


def load_mapping(mapping: str | os.PathLike | Mapping | None) -> ExportMapping:
    """Read and check a user mapping (YAML or TOML file, or an already-parsed dict).

    Parameters
    ----------
    mapping : str, os.PathLike, dict or None
        ``colonnes: {"En-tête": field}``, ``valeurs: {field: {"valeur écrite": code}}``
        and optionally ``feuille`` (XLSX sheet name, or 1-based number), ``separateur``
        and ``encodage``. A column mapped to ``ignorer`` (or to nothing) is dropped
        without being reported as unknown.

    Returns
    -------
    ExportMapping
        The checked mapping (headers folded, targets and codes resolved).

    Raises
    ------
    InputError
        Unreadable file, invalid YAML/TOML, unknown key, field, vocabulary code,
        separator or encoding; the message names the file and the key.
    """
    if mapping is None:
        return ExportMapping({}, {}, None, None, None)
    if isinstance(mapping, ExportMapping):
        return mapping
    path = None
    if isinstance(mapping, Mapping):
        data = dict(mapping)
    else:
        path = Path(mapping)
        data = _parse_mapping_file(path)

    def fail(reason: str, key: str | None = None) -> InputError:
        return InputError(reason, path=path, field=key)

    unknown = sorted(set(map(str, data)) - _MAPPING_KEYS)
    if unknown:
        raise fail(f"clé inconnue « {unknown[0]} » dans le fichier de correspondance "
                   f"(clés possibles : {', '.join(sorted(_MAPPING_KEYS))}).", unknown[0])

    columns: dict[str, str | None] = {}
    raw_columns = data.get("colonnes") or {}
    if not isinstance(raw_columns, Mapping):
        raise fail("« colonnes » doit associer chaque en-tête du fichier à un champ.", "colonnes")
    allowed = set(READ_FIELDS) | set(DIRECT_IDENTIFIERS)
    for header, target in raw_columns.items():
        if target is None or (isinstance(target, str) and fold(target) in _IGNORE_TARGETS):
            columns[fold(header)] = None
            continue
        name = str(target).strip()
        name = _TARGET_SYNONYMS.get(name, name)
        if name not in allowed:
            raise fail(f"champ inconnu « {target} » pour la colonne « {header} » (champs "
                       f"possibles : {', '.join(sorted(allowed))}).", str(header))
        columns[fold(header)] = name

    values: dict[str, dict[str, str]] = {}
    raw_values = data.get("valeurs") or {}
    if not isinstance(raw_values, Mapping):
        raise fail("« valeurs » doit associer chaque champ à ses valeurs écrites.", "valeurs")
    for name, synonyms in raw_values.items():
        name = str(name)
        if name not in VOCABULARIES:
            raise fail(f"champ inconnu « {name} » dans « valeurs » (champs à vocabulaire : "
                       f"{', '.join(sorted(VOCABULARIES))}).", name)
        if not isinstance(synonyms, Mapping):
            raise fail(f"« valeurs.{name} » doit associer chaque valeur écrite à un code.", name)
        resolved = {}
        for written, code in synonyms.items():
            target = code if code in VOCABULARIES[name] else match_value(name, code)
            if target is None:
                raise fail(f"code inconnu « {code} » pour « {written} » dans « valeurs.{name} » "
                           f"(codes possibles : {', '.join(VOCABULARIES[name])}).", name)
            resolved[str(written)] = target
        values[name] = resolved

    sheet = data.get("feuille")
    if sheet is not None and not isinstance(sheet, str | int):
        raise fail("« feuille » doit être un nom de feuille ou un numéro (1 = première).",
                   "feuille")
    separator = data.get("separateur")
    if separator is not None:
        separator = _SEPARATOR_NAMES.get(str(separator).strip().lower(), str(separator))
        if len(separator) != 1:
            raise fail(f"séparateur « {data['separateur']} » invalide : un seul caractère "
                       "attendu (« ; », « , », « tab »).", "separateur")
    encoding = data.get("encodage")
    if encoding is not None:
        try:
            encoding = codecs.lookup(str(encoding)).name
        except LookupError:
            raise fail(f"encodage « {encoding} » inconnu (exemples : utf-8, cp1252).",
                       "encodage") from None
    return ExportMapping(columns, values, sheet, separator, encoding)


def _parse_mapping_file(path: Path) -> dict:
    if not path.is_file():
        raise InputError("fichier de correspondance introuvable.", path=path)
    suffix = path.suffix.lower()
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if suffix in (".yml", ".yaml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" à la ligne {mark.line + 1}" if mark is not None else ""
            raise InputError(f"fichier de correspondance illisible : YAML invalide{where}.",
                             path=path, line=None if mark is None else mark.line + 1) from None
    elif suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"fichier de correspondance illisible : TOML invalide ({exc}).",
                             path=path) from None
    else:
        raise InputError("fichier de correspondance : extension .yml, .yaml ou .toml attendue.",
                         path=path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InputError("le fichier de correspondance doit contenir des clés (colonnes, "
                         "valeurs...).", path=path)
    return dict(data)


# --------------------------------------------------------------------------- readers


def read_export(path: str | os.PathLike, *,
                mapping: str | os.PathLike | Mapping | None = None) -> RawExport:
    """Read a mediation export (CSV, XLSX or Parquet) as text cells with field names.

    Parameters
    ----------
    path : str or os.PathLike
        The export.
    mapping : str, os.PathLike or dict, optional
        YAML or TOML mapping file (or its parsed content), see :func:`load_mapping`:
        headers -> fields, written values -> codes, ``feuille``, ``separateur``,
        ``encodage``. Its entries take priority over the built-in header aliases.

    Returns
    -------
    RawExport

    Raises
    ------
    InputError
        Missing or empty file, unreadable encoding or format, malformed CSV line, no
        recognisable column, or a bad mapping file (French message naming the file).
    """
    path = Path(path)
    spec = load_mapping(mapping)
    _check_file(path)
    file_format = _format_of(path)
    encoding = separator = None
    if file_format == "csv":
        headers, cells, lines, encoding, separator = _read_csv(path, spec)
    elif file_format == "xlsx":
        headers, cells, lines = _read_xlsx(path, spec)
    else:
        headers, cells, lines = _read_parquet(path)

    frame, columns, unknown, identifiers = _rename(headers, cells, spec, path)
    frame.index = pd.Index(lines, name="ligne")
    if len(frame.columns):
        blank = (frame == "").all(axis=1).to_numpy()
        if blank.any():
            frame = frame.loc[~blank]
    if frame.empty:
        raise InputError("le fichier ne contient aucune ligne de données (seulement l'en-tête).",
                         path=path)
    return RawExport(frame=frame, path=path, file_format=file_format, encoding=encoding,
                     separator=separator, columns=columns, unknown_columns=unknown,
                     identifier_columns=identifiers, value_synonyms=spec.values,
                     n_rows=len(frame))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("fichier introuvable.", path=path)
    if not path.is_file():
        raise InputError("ce chemin n'est pas un fichier.", path=path)
    if path.stat().st_size == 0:
        raise InputError("fichier vide.", path=path)


def iter_export(path: str | os.PathLike, *, rows: int = 1_000_000,
                mapping: str | os.PathLike | Mapping | None = None) -> Iterator[RawExport]:
    """Read an export piece by piece, in bounded memory: :func:`read_export` in slices.

    A CSV is never held whole: its encoding is checked in a first pass over the bytes
    (the same rules as :func:`read_export`, Windows-1252 fallback and damaged-UTF-8
    check included), then it is parsed ``rows`` records at a time. The pieces, put end
    to end, are exactly :attr:`read_export(path).frame <RawExport.frame>`: same cells,
    same line numbers (multi-line cells counted), same blank rows left out. XLSX and
    Parquet files are read whole (a spreadsheet holds at most about a million rows),
    then sliced.

    Parameters
    ----------
    path : str or os.PathLike
        The export.
    rows : int, default 1_000_000
        Records per piece (a piece may hold fewer once blank rows are left out).
    mapping : str, os.PathLike or dict, optional
        As for :func:`read_export`.

    Yields
    ------
    RawExport
        One per piece; ``unknown_columns`` holds the unknown columns seen so far (a
        header-less column is reported once one of its cells is filled).

    Raises
    ------
    InputError
        As :func:`read_export` (raised when the piece holding the fault is read), and a
        ``rows`` below 1.
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InputError(f"nombre de lignes par morceau invalide : {rows!r} (entier positif "
                         "attendu).", field="rows")
    path = Path(path)
    spec = load_mapping(mapping)
    _check_file(path)
    if _format_of(path) != "csv":
        whole = read_export(path, mapping=spec)
        for start in range(0, whole.n_rows, rows):
            piece = whole.frame.iloc[start:start + rows]
            yield dataclasses.replace(whole, frame=piece, n_rows=len(piece))
        return
    yield from _iter_csv(path, spec, rows)


_BLOCK_BYTES = 1 << 24


def _first_fault(path: Path, encoding: str, mojibake: bool = False) -> int | None:
    """Line of the first undecodable byte, by blocks; ``None`` when there is none.

    With ``mojibake``, the line where UTF-8 text read as Windows-1252 shows up instead.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line, tail = 1, ""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK_BYTES)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return line + bytes(exc.object[:exc.start]).count(b"\n")
            if mojibake and _MOJIBAKE_RE.search(tail + text):
                return line
            if not block:
                return None
            tail = text[-1:]
            line += block.count(b"\n")


def _stream_encoding(path: Path, imposed: str | None) -> str:
    """The encoding :func:`_decode` would choose, without holding the file in memory."""
    if imposed is not None:
        line = _first_fault(path, imposed)
        if line is not None:
            raise InputError(f"le fichier n'est pas en {imposed} comme l'indique le fichier de "
                             "correspondance (octet illisible).", path=path, line=line)
        return imposed
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "cp1252")
    utf8_fault = None
    for encoding in candidates:
        fault = _first_fault(path, encoding)
        if fault is not None:
            utf8_fault = utf8_fault or fault
            continue
        if utf8_fault is not None and _first_fault(path, encoding, mojibake=True) is not None:
            raise InputError("fichier en UTF-8 abîmé : cette ligne contient un octet invalide "
                             "alors que le reste est en UTF-8 ; corrigez-la ou indiquez "
                             "« encodage » dans le fichier de correspondance.",
                             path=path, line=utf8_fault)
        return encoding
    raise InputError("encodage illisible : ni UTF-8 ni Windows-1252 ; réenregistrez le fichier "
                     "en UTF-8 ou indiquez « encodage » dans le fichier de correspondance.",
                     path=path)


def _extra_newlines(table: pd.DataFrame) -> np.ndarray:
    """Line breaks inside the cells of each record (0 for most files)."""
    extra = np.zeros(len(table), dtype=np.int64)
    for column in table.columns:
        values = table[column].to_numpy(dtype=object)
        if "\n" in "".join(values):
            extra += np.fromiter((v.count("\n") for v in values), dtype=np.int64,
                                 count=len(values))
    return extra


def _iter_csv(path: Path, spec: ExportMapping, rows: int) -> Iterator[RawExport]:
    encoding = _stream_encoding(path, spec.encoding)
    with open(path, encoding=encoding, newline="") as handle:
        first = handle.readline().rstrip("\r\n")
    hint = _SEP_HINT_RE.match(first)
    offset = 1 if hint else 0
    if hint:
        with open(path, encoding=encoding, newline="") as handle:
            handle.readline()
            first = handle.readline().rstrip("\r\n")
    separator = spec.separator or (hint.group(1) if hint else sniff_separator(first))
    headers: list[str] | None = None
    next_line, seen_unknown, n_data = 1, [], 0
    handle = open(path, encoding=encoding, newline="")
    try:
        if hint:
            handle.readline()
        reader = pd.read_csv(handle, sep=separator, header=None, dtype=object,
                             keep_default_na=False, na_filter=False, skip_blank_lines=False,
                             quotechar='"', engine="c", chunksize=rows)
        while True:
            try:
                table = next(reader, None)
            except pd.errors.ParserError as exc:
                raise _parser_error(exc, path, separator) from None
            except pd.errors.EmptyDataError:
                raise InputError("fichier vide.", path=path) from None
            if table is None:
                break
            extra = _extra_newlines(table)
            starts = next_line + np.arange(len(table)) + np.concatenate(
                [[0], np.cumsum(extra)[:-1]]).astype(np.int64)
            next_line += len(table) + int(extra.sum())
            if headers is None:
                headers = [str(h) for h in table.iloc[0].tolist()]
                table, starts = table.iloc[1:], starts[1:]
            cells = {i: table.iloc[:, i] for i in range(table.shape[1])}
            frame, columns, unknown, identifiers = _rename(headers, cells, spec, path)
            seen_unknown += [u for u in unknown if u not in seen_unknown]
            frame.index = pd.Index(starts + offset, name="ligne")
            if len(frame.columns):
                blank = (frame == "").all(axis=1).to_numpy()
                if blank.any():
                    frame = frame.loc[~blank]
            n_data += len(frame)
            yield RawExport(frame=frame, path=path, file_format="csv", encoding=encoding,
                            separator=separator, columns=columns,
                            unknown_columns=list(seen_unknown),
                            identifier_columns=identifiers, value_synonyms=spec.values,
                            n_rows=len(frame))
    finally:
        handle.close()
    if headers is None:
        raise InputError("fichier vide.", path=path)
    if n_data == 0:
        raise InputError("le fichier ne contient aucune ligne de données (seulement l'en-tête).",
                         path=path)


def _parser_error(exc: Exception, path: Path, separator: str) -> InputError:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if found:
        expected, line, seen = (int(g) for g in found.groups())
        return InputError(
            f"{seen} champs au lieu de {expected} : vérifiez le séparateur « {separator} » "
            "et les guillemets de cette ligne.", path=path, line=line)
    return InputError(f"fichier CSV illisible ({exc}).", path=path)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError("format Excel 97-2003 (.xls) non pris en charge : enregistrez le "
                         "fichier en .xlsx ou en CSV.", path=path)
    if suffix in _FORMATS:
        return _FORMATS[suffix]
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        return "xlsx"
    if magic == b"PAR1":
        return "parquet"
    return "csv"


#: UTF-8 accented letters read as Windows-1252 ("Ã©", "Ã¨", "Ã " ...).
_MOJIBAKE_RE = re.compile("Ã[\u00a0-\u00bf]|Ã[\u0152\u0153\u0160\u0161\u0178\u017d"
                          "\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")
_SEP_HINT_RE = re.compile(r"^sep=(.)\r?$")


def _decode(raw: bytes, path: Path, imposed: str | None) -> tuple[str, str]:
    if imposed is not None:
        try:
            return raw.decode(imposed), imposed
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InputError(f"le fichier n'est pas en {imposed} comme l'indique le fichier de "
                             "correspondance (octet illisible).", path=path, line=line) from None
    if raw.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "cp1252")
    first_error: UnicodeDecodeError | None = None
    for encoding in candidates:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            first_error = exc
            continue
        if first_error is not None and _MOJIBAKE_RE.search(text):
            line = raw[: first_error.start].count(b"\n") + 1
            raise InputError("fichier en UTF-8 abîmé : cette ligne contient un octet invalide "
                             "alors que le reste est en UTF-8 ; corrigez-la ou indiquez "
                             "« encodage » dans le fichier de correspondance.",
                             path=path, line=line)
        return text, encoding
    raise InputError("encodage illisible : ni UTF-8 ni Windows-1252 ; réenregistrez le fichier "
                     "en UTF-8 ou indiquez « encodage » dans le fichier de correspondance.",
                     path=path)


def sniff_separator(header_line: str) -> str:
    """Pick the separator of a header line among ``;``, tab and ``,`` (quoted text excluded).

    Parameters
    ----------
    header_line : str
        First line of the file.

    Returns
    -------
    str
        The most frequent candidate; ``";"`` when none occurs (single column).
    """
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {sep: unquoted.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ";"


def _read_csv(path: Path, spec: ExportMapping):
    text, encoding = _decode(path.read_bytes(), path, spec.encoding)
    if not text.strip():
        raise InputError("fichier vide.", path=path)
    first = text.split("\n", 1)[0]
    hint = _SEP_HINT_RE.match(first)  # Excel's "sep=;" line before the header
    offset = 0
    if hint:
        text = text.split("\n", 1)[1] if "\n" in text else ""
        first, offset = text.split("\n", 1)[0], 1
    separator = spec.separator or (hint.group(1) if hint else sniff_separator(first))
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, header=None, dtype=object,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False,
                            quotechar='"', engine="c")
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, path, separator) from None
    except pd.errors.EmptyDataError:
        raise InputError("fichier vide.", path=path) from None
    headers = [str(h) for h in table.iloc[0].tolist()]
    cells = {i: table.iloc[1:, i] for i in range(table.shape[1])}
    lines = _line_numbers(text, table) + offset
    return headers, cells, lines, encoding, separator


def _line_numbers(text: str, table: pd.DataFrame) -> np.ndarray:
    """Source line of each data record (header = line 1), multi-line cells counted."""
    n_records = len(table)
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines == n_records:
        return np.arange(2, n_records + 1)
    extra = np.zeros(n_records, dtype=np.int64)
    for column in table.columns:
        extra += np.fromiter((v.count("\n") for v in table[column].to_numpy(dtype=object)),
                             dtype=np.int64, count=n_records)
    starts = 1 + np.concatenate([[0], np.cumsum(extra + 1)[:-1]])
    return starts[1:]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "vrai" if value else "faux"
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: Path, spec: ExportMapping):
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise InputError(f"classeur Excel illisible ({type(exc).__name__}).", path=path) from None
    try:
        names = book.sheetnames
        sheet = spec.sheet
        if sheet is None:
            sheet_name = names[0]
        elif isinstance(sheet, int):
            if not 1 <= sheet <= len(names):
                raise InputError(f"feuille n° {sheet} absente (le classeur en a {len(names)}).",
                                 path=path)
            sheet_name = names[sheet - 1]
        else:
            matches = [n for n in names if fold(n) == fold(sheet)]
            if not matches:
                raise InputError(f"feuille « {sheet} » absente (feuilles : {', '.join(names)}).",
                                 path=path)
            sheet_name = matches[0]
        rows = book[sheet_name].iter_rows(min_row=1, values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise InputError("fichier vide (feuille sans aucune ligne).", path=path)
        headers = [_cell_text(v).strip() for v in header_row]
        width = len(headers)
        data = [[_cell_text(v) for v in row[:width]] for row in rows]
    finally:
        book.close()
    data = [row + [""] * (width - len(row)) for row in data]
    array = np.array(data, dtype=object).reshape(len(data), width)
    cells = {i: pd.Series(array[:, i], dtype=object) for i in range(width)}
    return headers, cells, np.arange(2, len(data) + 2)


def _series_text(values: pd.Series) -> pd.Series:
    """Text form of a Parquet column, as a spreadsheet user would have written it."""
    if pd.api.types.is_bool_dtype(values):
        out = values.map({True: "vrai", False: "faux"})
    elif pd.api.types.is_datetime64_any_dtype(values):
        stamp = values.dt.strftime("%Y-%m-%d %H:%M:%S")
        out = stamp.str.replace(" 00:00:00", "", regex=False)
    elif pd.api.types.is_float_dtype(values):
        out = values.map(_cell_text)
    elif pd.api.types.is_numeric_dtype(values):
        out = values.astype("Int64").astype(str).replace("<NA>", "")
    else:
        out = values.astype(object).map(_cell_text)
    return out.fillna("").astype(object)


def _read_parquet(path: Path):
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow.ArrowInvalid, OSError...
        raise InputError(f"fichier Parquet illisible ({type(exc).__name__}).", path=path) from None
    table = table.reset_index(drop=True)
    headers = [str(c) for c in table.columns]
    cells = {i: _series_text(table.iloc[:, i]) for i in range(table.shape[1])}
    return headers, cells, np.arange(2, len(table) + 2)


# --------------------------------------------------------------------------- headers


def _identifier_kind(header: str) -> str | None:
    key = fold(header)
    if key in _IDENTIFIER_INDEX:
        return _IDENTIFIER_INDEX[key]
    underscored = key.replace(" ", "_")
    if FORBIDDEN_COLUMNS_RE.match(underscored):
        return _FORBIDDEN_KIND.get(underscored, underscored if underscored in DIRECT_IDENTIFIERS
                                   else "commentaire")
    return None


def _rename(headers: list[str], cells: dict[int, pd.Series], spec: ExportMapping, path: Path):
    """Map headers to fields and identifier kinds; build the text frame."""
    chosen: dict[str, tuple[int, int]] = {}  # field -> (priority, position)
    identifiers: dict[str, str] = {}
    kept_identifiers: dict[str, int] = {}
    unknown: list[str] = []
    superseded: list[int] = []
    cleaned = [h.replace("\ufeff", "").strip() for h in headers]
    for position, header in enumerate(cleaned):
        key = fold(header)
        if not header:
            if any(str(v).strip() for v in _as_text(cells[position])):
                unknown.append(f"(colonne {position + 1} sans en-tête)")
            continue
        target: str | None
        if key in spec.columns:
            target, priority = spec.columns[key], -1
            if target is None:
                continue
        elif key in _FIELD_INDEX:
            target, priority = _FIELD_INDEX[key]
        else:
            target, priority = _identifier_kind(header), 0
            if target is None:
                unknown.append(header)
                continue
        if target in DIRECT_IDENTIFIERS:
            identifiers[_unique_key(identifiers, header)] = target
            kept_identifiers.setdefault(target, position)
            continue
        if target in chosen:
            if priority < chosen[target][0]:
                superseded.append(chosen[target][1])
                chosen[target] = (priority, position)
            else:
                superseded.append(position)
        else:
            chosen[target] = (priority, position)
    if not chosen:
        raise InputError(
            "aucune colonne reconnue (en-têtes attendus : « Date de l'intervention », "
            "« Registre », « Thématique », « Code IRIS »... ou un fichier de correspondance).",
            path=path)
    unknown += [cleaned[p] for p in sorted(superseded)]
    order = sorted([(pos, name) for name, (_, pos) in chosen.items()]
                   + [(pos, kind) for kind, pos in kept_identifiers.items()])
    data = {name: _as_text(cells[pos]) for pos, name in order}
    frame = pd.DataFrame(data, dtype=object)
    columns = {cleaned[pos]: name for name, (_, pos) in sorted(chosen.items(),
                                                               key=lambda kv: kv[1][1])}
    return frame, columns, unknown, identifiers


def _as_text(values: pd.Series) -> np.ndarray:
    out = values.to_numpy(dtype=object)
    missing = pd.isna(out)
    if missing.any():
        out = out.copy()
        out[missing] = ""
    return out


def _unique_key(existing: dict[str, str], header: str) -> str:
    if header not in existing:
        return header
    n = 2
    while f"{header} ({n})" in existing:
        n += 1
    return f"{header} ({n})"


__all__ = ["HEADER_ALIASES", "IDENTIFIER_ALIASES", "READ_FIELDS", "RawExport", "iter_export",
           "load_mapping", "read_export", "sniff_separator"]
