"""Reading mediation exports: encodings, separators, XLSX, Parquet, headers, mapping files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fragility.errors import InputError
from fragility.logs.read import (
    RawExport,
    iter_export,
    load_mapping,
    read_export,
    sniff_separator,
)

HEADER = "Date de l'intervention;Registre d'intervention;Thématique;Code IRIS;Tranche d'âge"
ROW = "15/03/2024;Présence active;Santé;010010000;25-39 ans"


def write(tmp_path: Path, lines: list[str], *, encoding: str = "utf-8", name: str = "export.csv",
          newline: str = "\r\n") -> Path:
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode(encoding))
    return path


# --------------------------------------------------------------------------- encodings


def test_windows_1252_semicolon_file_is_detected(tmp_path):
    path = write(tmp_path, [HEADER, ROW, "16/03/2024;Veille;Éducation, scolarité;212310101;"],
                 encoding="cp1252")
    raw = read_export(path)
    assert isinstance(raw, RawExport)
    assert raw.encoding == "cp1252"
    assert raw.separator == ";"
    assert raw.file_format == "csv"
    assert raw.columns == {
        "Date de l'intervention": "date_raw", "Registre d'intervention": "registre",
        "Thématique": "thematique", "Code IRIS": "geo_iris", "Tranche d'âge": "age_band"}
    assert raw.frame.loc[3, "thematique"] == "Éducation, scolarité"
    assert raw.n_rows == 2


def test_utf8_with_bom_is_reported_as_such(tmp_path):
    path = write(tmp_path, [HEADER, ROW], encoding="utf-8-sig")
    raw = read_export(path)
    assert raw.encoding == "utf-8-sig"
    assert "date_raw" in raw.frame.columns  # the BOM did not spoil the first header


def test_plain_utf8(tmp_path):
    raw = read_export(write(tmp_path, [HEADER, ROW]))
    assert raw.encoding == "utf-8"
    assert raw.frame.loc[2, "thematique"] == "Santé"


def test_unreadable_encoding_is_refused(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(HEADER.encode("utf-8") + b"\r\n15/03/2024;\x81\x8d;x;212310101;\r\n")
    with pytest.raises(InputError, match="encodage illisible") as info:
        read_export(path)
    assert info.value.path == str(path)


def test_utf8_file_with_one_bad_byte_is_not_read_as_windows_1252(tmp_path):
    path = tmp_path / "export.csv"
    good = (HEADER + "\r\n" + ROW + "\r\n").encode("utf-8")
    path.write_bytes(good + b"16/03/2024;Veille;Sant\xe9;212310101;\r\n")
    with pytest.raises(InputError, match="UTF-8 abîmé") as info:
        read_export(path)
    assert info.value.line == 3


def test_mapping_can_impose_the_encoding(tmp_path):
    path = write(tmp_path, [HEADER, ROW], encoding="cp1252")
    raw = read_export(path, mapping={"encodage": "latin-1"})
    assert raw.encoding == "iso8859-1"
    with pytest.raises(InputError, match="n'est pas en utf-8"):
        read_export(path, mapping={"encodage": "utf-8"})


# --------------------------------------------------------------------------- separators


@pytest.mark.parametrize(("separator", "name"), [(",", "virgule"), ("\t", "tabulation")])
def test_comma_and_tab_separators(tmp_path, separator, name):
    lines = [
        separator.join(["Date", "Registre", "Thématique", "Code IRIS"]),
        separator.join(["15/03/2024", "Veille", '"Logement, habitat"', "212310101"]),
    ]
    raw = read_export(write(tmp_path, lines, name=f"{name}.csv"))
    assert raw.separator == separator
    assert raw.frame.loc[2, "thematique"] == "Logement, habitat"
    assert raw.frame.loc[2, "geo_iris"] == "212310101"


def test_excel_separator_hint_line(tmp_path):
    raw = read_export(write(tmp_path, ["sep=,", "Date,Registre,IRIS", "15/03/2024,Veille,01"]))
    assert raw.separator == ","
    assert list(raw.frame.index) == [3]  # physical line: the hint is line 1
    assert raw.frame.loc[3, "geo_iris"] == "01"


def test_sniff_separator_ignores_quoted_text():
    assert sniff_separator('"a;b;c",x,y') == ","
    assert sniff_separator("a;b,c;d") == ";"
    assert sniff_separator("seule") == ";"


def test_mapping_can_impose_the_separator(tmp_path):
    path = write(tmp_path, ["Date|Registre|Thématique|IRIS", "15/03/2024|Veille|Santé|212310101"])
    raw = read_export(path, mapping={"separateur": "pipe"})
    assert raw.separator == "|"
    assert raw.frame.loc[2, "registre"] == "Veille"


# --------------------------------------------------------------------------- lines and text


def test_codes_keep_their_leading_zeros(tmp_path):
    raw = read_export(write(tmp_path, [HEADER + ";Code commune", ROW + ";01001"]))
    assert raw.frame.loc[2, "geo_iris"] == "010010000"
    assert raw.frame.loc[2, "geo_commune"] == "01001"
    assert all(isinstance(v, str) for v in raw.frame.to_numpy().ravel())


def test_index_is_the_source_line_even_with_multiline_cells_and_blank_lines(tmp_path):
    lines = [HEADER + ";Commentaire", ROW + ';"première ligne', 'deuxième ligne"', "",
             ";;;;;", ROW.replace("15/03", "16/03") + ";ok"]
    raw = read_export(write(tmp_path, lines))
    assert list(raw.frame.index) == [2, 6]
    assert raw.frame.index.name == "ligne"
    assert raw.frame.loc[6, "date_raw"] == "16/03/2024"
    assert raw.n_rows == 2


def test_ragged_line_names_the_line(tmp_path):
    path = write(tmp_path, [HEADER, ROW, ROW + ";en trop"])
    with pytest.raises(InputError, match="6 champs au lieu de 5") as info:
        read_export(path)
    assert info.value.line == 3


# --------------------------------------------------------------------------- XLSX and Parquet


def test_xlsx_first_sheet_with_dates_and_numeric_codes(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Activité"
    sheet.append(["Date", "Registre", "Thématique", "Code commune", "Code IRIS", "Latitude"])
    sheet.append([dt.datetime(2024, 3, 15), "Veille", "Santé", 1001, "010010000", 47.3215])
    sheet.append([None, None, None, None, None, None])
    sheet.append([45366, "Veille", "Santé", 21231, 212310101, None])
    path = tmp_path / "export.xlsx"
    book.save(path)
    raw = read_export(path)
    assert raw.file_format == "xlsx"
    assert raw.encoding is None and raw.separator is None
    assert list(raw.frame.index) == [2, 4]  # sheet row numbers, empty row left out
    assert raw.frame.loc[2, "date_raw"] == "2024-03-15"
    assert raw.frame.loc[2, "geo_commune"] == "1001"  # text of the number; zeros restored later
    assert raw.frame.loc[2, "geo_iris"] == "010010000"
    assert raw.frame.loc[2, "latitude"] == "47.3215"
    assert raw.frame.loc[4, "date_raw"] == "45366"
    assert raw.frame.loc[4, "geo_iris"] == "212310101"


def test_xlsx_sheet_chosen_by_the_mapping(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Notice"])
    data = book.create_sheet("Données")
    data.append(["Date", "Registre", "Thématique", "IRIS"])
    data.append(["15/03/2024", "Veille", "Santé", "212310101"])
    path = tmp_path / "export.xlsx"
    book.save(path)
    assert read_export(path, mapping={"feuille": "donnees"}).frame.loc[2, "registre"] == "Veille"
    assert read_export(path, mapping={"feuille": 2}).n_rows == 1
    with pytest.raises(InputError, match="feuille « Absente » absente"):
        read_export(path, mapping={"feuille": "Absente"})


def test_xlsx_written_by_pandas(tmp_path):
    frame = pd.DataFrame({"Date de l'intervention": ["15/03/2024"], "Registre": ["Veille"],
                          "Thématique": ["Santé"], "QPV": ["QN02101M"]})
    path = tmp_path / "export.xlsx"
    frame.to_excel(path, index=False)
    raw = read_export(path)
    assert raw.frame.loc[2, "geo_qpv"] == "QN02101M"


def test_parquet(tmp_path):
    frame = pd.DataFrame({
        "Date": pd.to_datetime(["2024-03-15", "2024-04-01"]),
        "Registre": ["Veille", "Présence active"],
        "Thématique": ["Santé", "Numérique"],
        "Code IRIS": ["010010000", "212310101"],
        "Nombre de participants": [1, 12],
        "Latitude": [47.32, None],
        "Barrière de langue": [True, False],
    })
    path = tmp_path / "export.parquet"
    frame.to_parquet(path)
    raw = read_export(path)
    assert raw.file_format == "parquet"
    assert raw.encoding is None
    assert list(raw.frame.index) == [2, 3]
    assert raw.frame.loc[2, "date_raw"] == "2024-03-15"
    assert raw.frame.loc[2, "geo_iris"] == "010010000"
    assert raw.frame.loc[3, "n_participants"] == "12"
    assert raw.frame.loc[3, "latitude"] == ""
    assert raw.frame.loc[2, "barriere_langue"] == "vrai"


def test_corrupt_xlsx_and_parquet_are_refused(tmp_path):
    for name in ("export.xlsx", "export.parquet"):
        path = tmp_path / name
        path.write_bytes(b"PK\x03\x04 pas un classeur")
        with pytest.raises(InputError, match="illisible"):
            read_export(path)


def test_xls_is_refused_with_advice(tmp_path):
    path = tmp_path / "export.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=r"\.xls.*enregistrez"):
        read_export(path)


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(("header", "field"), [
    ("Date de l'intervention", "date_raw"), ("DATE", "date_raw"), ("Mois", "date_raw"),
    ("Registre d'intervention", "registre"), ("registre", "registre"),
    ("Thématique", "thematique"), ("THEMATIQUE PRINCIPALE", "thematique"),
    ("Motif", "thematique"), ("Thématiques secondaires", "thematiques_secondaires"),
    ("Code IRIS", "geo_iris"), ("iris", "geo_iris"), ("Commune", "geo_commune"),
    ("Code commune", "geo_commune"), ("Code INSEE", "geo_commune"), ("QPV", "geo_qpv"),
    ("Code QPV", "geo_qpv"), ("Latitude", "latitude"), ("Longitude", "longitude"),
    ("Tranche d'âge", "age_band"), ("Âge", "age_band"), ("Sexe", "sexe"),
    ("Orientation vers", "orientation_partenaire"), ("Partenaire", "orientation_partenaire"),
    ("Suivi", "suivi_statut"), ("Résultat", "suivi_statut"),
    ("Identifiant usager", "person_id"), ("N° usager", "person_id"),
    ("Médiateur", "mediator_id"), ("Identifiant médiateur", "mediator_id"),
    ("Structure", "structure_id"), ("Équipe", "team_id"), ("Nature du contact", "contact_kind"),
    ("Nombre de participants", "n_participants"), ("Lieu", "lieu_type"),
    ("Type de lieu", "lieu_type"), ("Modalité", "mode"), ("Mode", "mode"),
    ("Initiative", "initiative"), ("Origine du contact", "initiative"),
    ("Type de non-recours", "non_recours_observe"), ("Non-recours", "non_recours_observe"),
    ("Base de localisation", "geo_basis"), ("Durée", "duree_band"),
    ("Type de ménage", "menage_type"), ("Barrière de langue", "barriere_langue"),
    ("Organisme", "droit_organisme"), ("Domaine", "droit_domaine"),
    ("Mode de gestion du conflit", "conflit_mode"), ("Type de conflit", "conflit_type"),
    ("Accord", "accord_statut"), ("  code iris  ", "geo_iris"),
])
def test_header_variants(tmp_path, header, field):
    raw = read_export(write(tmp_path, [header, "x"]))
    assert raw.columns == {header.strip(): field}
    assert field in raw.frame.columns


@pytest.mark.parametrize(("header", "kind"), [
    ("Nom", "nom"), ("Prénom", "prenom"), ("Téléphone", "telephone"), ("Tél", "telephone"),
    ("Email", "email"), ("Courriel", "email"), ("Mail", "email"), ("Adresse", "adresse"),
    ("NIR", "nir"), ("N° de sécurité sociale", "nir"), ("Date de naissance", "date_naissance"),
    ("Commentaire", "commentaire"), ("Observations", "commentaire"), ("Notes", "commentaire"),
    ("N° allocataire", "numero_allocataire"), ("phone", "telephone"), ("birth", "date_naissance"),
])
def test_direct_identifier_headers(tmp_path, header, kind):
    raw = read_export(write(tmp_path, ["Registre;" + header, "Veille;secret"]))
    assert raw.identifier_columns == {header: kind}
    assert header not in raw.columns
    assert raw.frame.loc[2, kind] == "secret"  # kept only for the pseudonymiser


def test_unknown_columns_are_reported_not_kept(tmp_path):
    raw = read_export(write(tmp_path, [HEADER + ";Couleur préférée;", ROW + ";bleu;"]))
    assert raw.unknown_columns == ["Couleur préférée"]  # the empty trailing column is ignored
    assert "bleu" not in raw.frame.to_numpy().ravel()


def test_a_lower_priority_duplicate_header_is_reported(tmp_path):
    raw = read_export(write(tmp_path, ["Mois;Date;Registre", "03/2024;15/03/2024;Veille"]))
    assert raw.columns == {"Date": "date_raw", "Registre": "registre"}
    assert raw.unknown_columns == ["Mois"]
    assert raw.frame.loc[2, "date_raw"] == "15/03/2024"


def test_two_columns_of_the_same_identifier_kind_keep_one(tmp_path):
    raw = read_export(write(tmp_path, ["Registre;Téléphone;Portable", "Veille;01;06"]))
    assert raw.identifier_columns == {"Téléphone": "telephone", "Portable": "telephone"}
    assert list(raw.frame.columns) == ["registre", "telephone"]


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="fichier introuvable") as info:
        read_export(tmp_path / "absent.csv")
    assert "absent.csv" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "vide.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="vide") as info:
        read_export(path)
    assert "vide.csv" in str(info.value)


def test_header_only_file(tmp_path):
    with pytest.raises(InputError, match="aucune ligne de données"):
        read_export(write(tmp_path, [HEADER]))


def test_no_recognisable_column(tmp_path):
    path = write(tmp_path, ["Couleur;Taille", "bleu;grand"])
    with pytest.raises(InputError, match="aucune colonne reconnue") as info:
        read_export(path)
    assert info.value.path == str(path)


# --------------------------------------------------------------------------- mapping files

YAML_MAPPING = """\
colonnes:
  "Quand": date
  "Type d'acte": registre
  "Sujet": thematique
  "Zone": geo_iris
  "Notes internes": commentaire
  "Colonne inutile": ignorer
valeurs:
  registre:
    "RDV partenaire": mise_en_relation_partenaire
  thematique:
    "CAF": Accès aux droits
"""

TOML_MAPPING = """\
separateur = ";"
[colonnes]
"Quand" = "date"
"Type d'acte" = "registre"
"Sujet" = "thematique"
"Zone" = "geo_iris"
"Notes internes" = "commentaire"
"Colonne inutile" = "ignorer"
[valeurs.registre]
"RDV partenaire" = "mise_en_relation_partenaire"
[valeurs.thematique]
"CAF" = "acces_droits"
"""


@pytest.mark.parametrize(("name", "text"), [("map.yml", YAML_MAPPING),
                                            ("map.toml", TOML_MAPPING)])
def test_mapping_file_columns_and_values(tmp_path, name, text):
    mapping = tmp_path / name
    mapping.write_text(text, encoding="utf-8")
    path = write(tmp_path, ["Quand;Type d'acte;Sujet;Zone;Notes internes;Colonne inutile",
                            "15/03/2024;RDV partenaire;CAF;212310101;appeler;x"])
    raw = read_export(path, mapping=mapping)
    assert raw.columns == {"Quand": "date_raw", "Type d'acte": "registre",
                           "Sujet": "thematique", "Zone": "geo_iris"}
    assert raw.identifier_columns == {"Notes internes": "commentaire"}
    assert raw.unknown_columns == []
    assert raw.value_synonyms == {"registre": {"RDV partenaire": "mise_en_relation_partenaire"},
                                  "thematique": {"CAF": "acces_droits"}}


def test_mapping_overrides_a_builtin_header(tmp_path):
    path = write(tmp_path, ["Date;Mois;Registre", "xx;03/2024;Veille"])
    raw = read_export(path, mapping={"colonnes": {"mois": "date", "Date": "ignorer"}})
    assert raw.columns == {"Mois": "date_raw", "Registre": "registre"}
    assert raw.unknown_columns == []


@pytest.mark.parametrize(("text", "key"), [
    ("colonnes:\n  Quand: dateuh\n", "Quand"),
    ("valeurs:\n  couleur:\n    bleu: x\n", "couleur"),
    ("valeurs:\n  registre:\n    RDV: pas_un_code\n", "registre"),
    ("colonne:\n  Quand: date\n", "colonne"),
])
def test_mapping_unknown_names_the_file_and_the_key(tmp_path, text, key):
    mapping = tmp_path / "correspondance.yaml"
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="inconnu") as info:
        read_export(write(tmp_path, [HEADER, ROW]), mapping=mapping)
    assert info.value.path == str(mapping)
    assert info.value.field == key
    assert "correspondance.yaml" in str(info.value)
    assert key in str(info.value)


@pytest.mark.parametrize(("name", "text"), [("bad.yml", "colonnes: [a, b\n  c: :"),
                                            ("bad.toml", "[colonnes\nx = 1")])
def test_invalid_mapping_syntax(tmp_path, name, text):
    mapping = tmp_path / name
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="invalide") as info:
        load_mapping(mapping)
    assert info.value.path == str(mapping)


def test_mapping_file_missing_or_wrong_extension(tmp_path):
    with pytest.raises(InputError, match="introuvable"):
        load_mapping(tmp_path / "absent.yml")
    other = tmp_path / "map.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match=r"\.yml, \.yaml ou \.toml"):
        load_mapping(other)


# --------------------------------------------------------------------------- in pieces


def _pieces(path: Path, rows: int, **kwargs) -> list[RawExport]:
    return list(iter_export(path, rows=rows, **kwargs))


def _same_as_whole(path: Path, rows: int, **kwargs) -> list[RawExport]:
    whole = read_export(path, **kwargs)
    pieces = _pieces(path, rows, **kwargs)
    joined = pd.concat([p.frame for p in pieces])
    pd.testing.assert_frame_equal(joined, whole.frame)
    last = pieces[-1]
    assert (last.encoding, last.separator, last.columns, last.unknown_columns,
            last.identifier_columns) == (whole.encoding, whole.separator, whole.columns,
                                         whole.unknown_columns, whole.identifier_columns)
    assert sum(p.n_rows for p in pieces) == whole.n_rows
    return pieces


@pytest.mark.parametrize("rows", [1, 2, 3, 1000])
def test_pieces_equal_the_whole_with_multiline_cells_blank_rows_and_cp1252(tmp_path, rows):
    lines = [HEADER + ";Commentaire;Nom", ROW + ';"première ligne', 'deuxième ligne";Durand', "",
             ";;;;;;", ROW.replace("15/03", "16/03") + ';"a\r\nb\r\nc";Éloi',
             ROW.replace("Santé", "Logement") + ";ok;Zoé"]
    path = write(tmp_path, lines, encoding="cp1252")
    pieces = _same_as_whole(path, rows)
    assert pieces[-1].encoding == "cp1252"
    assert list(pd.concat([p.frame for p in pieces]).index) == [2, 6, 9]


@pytest.mark.parametrize("lines, encoding", [
    (["sep=,", "Date,Registre,IRIS,", "15/03/2024,Veille,01,", "16/03/2024,Veille,02,x"],
     "utf-8"),
    ([HEADER, ROW, ROW.replace("Santé", "Éducation, scolarité")], "utf-8-sig"),
    ([HEADER.replace(";", "\t"), ROW.replace(";", "\t")], "utf-16"),
])
def test_pieces_equal_the_whole_for_hints_boms_and_headerless_columns(tmp_path, lines, encoding):
    _same_as_whole(write(tmp_path, lines, encoding=encoding), 1)


def test_pieces_of_a_spreadsheet_or_parquet_are_slices(tmp_path):
    path = tmp_path / "export.parquet"
    pd.DataFrame({"Date": ["15/03/2024", "16/03/2024", "17/03/2024"],
                  "Registre": ["Veille"] * 3}).to_parquet(path)
    assert [p.n_rows for p in _same_as_whole(path, 2)] == [2, 1]


def test_pieces_keep_the_errors_of_the_whole(tmp_path):
    ragged = write(tmp_path, [HEADER, ROW, ROW, ROW + ";en trop"], name="ragged.csv")
    with pytest.raises(InputError, match="6 champs au lieu de 5") as info:
        _pieces(ragged, 1)
    assert info.value.line == 4
    damaged = tmp_path / "abime.csv"
    damaged.write_bytes((HEADER + "\n" + ROW + "\n").encode("utf-8") + b"\xe9t\xe9;x\n")
    with pytest.raises(InputError, match="UTF-8 abîmé") as info:
        _pieces(damaged, 1)
    assert info.value.line == 3
    with pytest.raises(InputError, match="aucune ligne de données"):
        _pieces(write(tmp_path, [HEADER, ";;;;"], name="entete.csv"), 1)
    with pytest.raises(InputError, match="invalide"):
        _pieces(ragged, 0)


def test_a_mapping_imposed_encoding_is_checked_in_pieces(tmp_path):
    path = write(tmp_path, [HEADER, ROW], encoding="cp1252")
    with pytest.raises(InputError, match="n'est pas en utf-8") as info:
        _pieces(path, 1, mapping={"encodage": "utf-8"})
    assert info.value.line == 1
