"""Validation of mediation exports: nothing lost, every reject explained, nothing leaked."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import uuid
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fragility.errors import InputError
from fragility.logs import validate as validate_module
from fragility.logs.read import read_export
from fragility.logs.schema import FIELDS, MONTH_PATTERN, SCHEMA_VERSION
from fragility.logs.validate import ACCEPTED_COLUMNS, REJECT_COLUMNS, validate_events

TODAY = dt.date(2024, 6, 30)
IRIS = {"212310101", "212310102", "010010000"}
COMMUNES = {"21231", "21232", "01001"}
HEADER = ["Date de l'intervention", "Registre d'intervention", "Thématique", "Code IRIS",
          "Code commune", "QPV", "Latitude", "Longitude"]
GOOD = {"Date de l'intervention": "15/03/2024", "Registre d'intervention": "Présence active",
        "Thématique": "Santé", "Code IRIS": "212310101"}


def run(tmp_path: Path, rows: list[dict], *, header: list[str] | None = None, mapping=None,
        **kwargs):
    """Write rows as a Windows-1252 ``;`` CSV, read it back and validate it."""
    header = header or HEADER
    lines = [";".join(header)] + [";".join(str(r.get(h, "")) for h in header) for r in rows]
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    raw = read_export(path, mapping=mapping)
    kwargs.setdefault("today", TODAY)
    return validate_events(raw, **kwargs)


def only_reject(result):
    assert len(result.rejects) == 1, result.rejects
    return result.rejects.iloc[0]


# --------------------------------------------------------------------------- accepted rows


def test_valid_row_gives_a_complete_event(tmp_path):
    result = run(tmp_path, [GOOD])
    assert result.n_read == 1 and result.rejects.empty and result.duplicates == 0
    event = result.accepted.loc[2]
    assert list(result.accepted.columns) == list(ACCEPTED_COLUMNS)
    assert set(FIELDS) - set(result.accepted.columns) == {"person_key", "mediator_key"}
    assert event["period_month"] == "2024-03"
    assert event["registre"] == "presence_active"
    assert event["thematique"] == "sante"
    assert event["geo_iris"] == "212310101"
    assert event["geo_commune"] == "21231"  # derived from the IRIS code
    assert event["geo_level"] == "iris"
    assert event["geo_basis"] == "lieu_intervention"
    assert event["contact_kind"] == "individuel"
    assert event["schema_version"] == SCHEMA_VERSION
    assert event["source_line"] == 2
    assert uuid.UUID(event["event_id"]).version == 4
    assert result.accepted.index.name == "ligne"
    assert list(result.rejects.columns) == list(REJECT_COLUMNS)


def test_event_ids_are_random_and_unique(tmp_path):
    rows = [dict(GOOD, **{"Code IRIS": code}) for code in sorted(IRIS)]
    first = run(tmp_path, rows).accepted["event_id"]
    second = run(tmp_path, rows).accepted["event_id"]
    assert first.is_unique and len(first) == 3
    assert not set(first) & set(second)


@pytest.mark.parametrize(("written", "month"), [
    ("15/03/2024", "2024-03"), ("5/3/2024", "2024-03"), ("15/03/24", "2024-03"),
    ("2024-03-15", "2024-03"), ("15-03-2024", "2024-03"), ("15.03.2024", "2024-03"),
    ("03/2024", "2024-03"), ("2024-03", "2024-03"), ("2024-03-15 14:30:00", "2024-03"),
    ("2024-03-15T14:30:00", "2024-03"), ("15/03/2024 14:30", "2024-03"), ("45366", "2024-03"),
    ("mars 2024", "2024-03"), ("Févr. 2024", "2024-02"), ("2024-06-30", "2024-06"),
    ("06/2024", "2024-06"), ("01/01/2000", "2000-01"),
])
def test_date_formats(tmp_path, written, month):
    result = run(tmp_path, [dict(GOOD, **{"Date de l'intervention": written})])
    assert result.rejects.empty, result.rejects.to_dict("records")
    assert result.accepted["period_month"].tolist() == [month]
    assert MONTH_PATTERN.match(month)


def test_month_and_year_in_two_columns(tmp_path):
    header = ["Mois", "Année", "Registre", "Thématique", "IRIS"]
    row = {"Mois": "3", "Année": "2024", "Registre": "Veille", "Thématique": "Santé",
           "IRIS": "212310101"}
    result = run(tmp_path, [row], header=header)
    assert result.accepted["period_month"].tolist() == ["2024-03"]


def test_excel_dates_in_xlsx(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Date", "Registre", "Thématique", "Code IRIS", "Code commune"])
    sheet.append([dt.datetime(2024, 3, 15, 10, 30), "Veille", "Santé", 10010000, 1001])
    sheet.append([45366, "Veille", "Santé", 212310101, 21231])
    path = tmp_path / "export.xlsx"
    book.save(path)
    result = validate_events(read_export(path), today=TODAY, iris=IRIS, communes=COMMUNES)
    assert result.rejects.empty, result.rejects.to_dict("records")
    assert result.accepted["period_month"].tolist() == ["2024-03", "2024-03"]
    assert result.accepted["geo_iris"].tolist() == ["010010000", "212310101"]
    assert result.accepted["geo_commune"].tolist() == ["01001", "21231"]


def test_codes_keep_their_leading_zeros(tmp_path):
    result = run(tmp_path, [dict(GOOD, **{"Code IRIS": "010010000", "Code commune": "01001"})],
                 iris=IRIS, communes=COMMUNES)
    assert result.accepted["geo_iris"].tolist() == ["010010000"]
    assert result.accepted["geo_commune"].tolist() == ["01001"]


def test_vocabulary_written_as_people_write_it(tmp_path):
    header = ["Date", "Registre", "Thématique", "Thématiques secondaires", "Orientation vers",
              "Sexe", "Tranche d'âge", "Durée", "Barrière de langue", "Base de localisation",
              "Nature du contact", "Nombre de participants", "IRIS"]
    rows = [
        {"Date": "15/03/2024", "Registre": "MISE EN RELATION AVEC UN PARTENAIRE",
         "Thématique": "acces aux droits", "Thématiques secondaires": "Logement, habitat | Santé",
         "Orientation vers": "France services / PIMMS", "Sexe": "H", "Tranche d'âge": "34",
         "Durée": "1h30", "Barrière de langue": "Oui", "Base de localisation": "Domicile",
         "IRIS": "212310101"},
        {"Date": "16/03/2024", "Registre": "Gestion des conflits", "Thématique": "Tranquillité",
         "Nature du contact": "", "Nombre de participants": "12", "Durée": "45",
         "Tranche d'âge": "75 ans et plus", "IRIS": "212310102"},
    ]
    result = run(tmp_path, rows, header=header)
    assert result.rejects.empty, result.rejects.to_dict("records")
    first, second = result.accepted.loc[2], result.accepted.loc[3]
    assert first["registre"] == "mise_en_relation_partenaire"
    assert first["thematique"] == "acces_droits"
    assert first["thematiques_secondaires"] == "logement_habitat|sante"
    assert first["orientation_partenaire"] == "france_services|pimms"
    assert (first["sexe"], first["age_band"], first["duree_band"]) == ("M", "25_39", "60_120")
    assert bool(first["barriere_langue"]) is True
    assert first["geo_basis"] == "residence"
    assert second["registre"] == "gestion_conflits"
    assert (second["contact_kind"], second["n_participants"]) == ("collectif", 12)
    assert (second["duree_band"], second["age_band"]) == ("30_60", "75_plus")


def test_mapping_synonyms_are_used(tmp_path):
    mapping = {"valeurs": {"registre": {"RDV partenaire": "mise_en_relation_partenaire"}}}
    result = run(tmp_path, [dict(GOOD, **{"Registre d'intervention": "rdv Partenaire"})],
                 mapping=mapping)
    assert result.accepted["registre"].tolist() == ["mise_en_relation_partenaire"]


def test_location_by_commune_qpv_or_coordinates_only(tmp_path):
    rows = [
        {**GOOD, "Code IRIS": "", "Code commune": "21231"},
        {**GOOD, "Code IRIS": "", "QPV": "QN02101M"},
        {**GOOD, "Code IRIS": "", "Latitude": "47,3220", "Longitude": "5,0415"},
        {**GOOD, "Code IRIS": "", "Latitude": "-21.115", "Longitude": "55.536"},  # La Réunion
    ]
    result = run(tmp_path, rows)
    assert result.rejects.empty, result.rejects.to_dict("records")
    accepted = result.accepted
    assert accepted["geo_level"].tolist()[:2] == ["commune", "qpv"]
    assert accepted["geo_level"].isna().tolist()[2:] == [True, True]  # located later
    assert accepted.loc[4, "latitude"] == pytest.approx(47.322)
    assert accepted.loc[4, "longitude"] == pytest.approx(5.0415)
    assert accepted["geo_qpv"].tolist()[1] == "QN02101M"


def test_paris_arrondissement_iris_matches_the_commune(tmp_path):
    result = run(tmp_path, [{**GOOD, "Code IRIS": "751010101", "Code commune": "75056"}],
                 communes={"75056"})
    assert result.rejects.empty
    assert result.accepted["geo_commune"].tolist() == ["75056"]


def test_identifier_columns_are_left_for_the_pseudonymiser(tmp_path):
    header = [*HEADER[:4], "Nom", "Identifiant usager", "Médiateur"]
    result = run(tmp_path, [{**GOOD, "Nom": "Dupont", "Identifiant usager": " U42 ",
                             "Médiateur": "Julie"}], header=header)
    event = result.accepted.loc[2]
    assert (event["nom"], event["person_id"], event["mediator_id"]) == ("Dupont", "U42", "Julie")


# --------------------------------------------------------------------------- reject kinds


@pytest.mark.parametrize(("changes", "champ", "motif", "valeur"), [
    ({"Date de l'intervention": "31/02/2024"}, "Date de l'intervention",
     "date impossible (31/02/2024)", "31/02/2024"),
    ({"Date de l'intervention": "13/2024"}, "Date de l'intervention",
     "date impossible (13/2024)", "13/2024"),
    ({"Date de l'intervention": "01/07/2024"}, "Date de l'intervention",
     "date future (01/07/2024)", "01/07/2024"),
    ({"Date de l'intervention": "07/2024"}, "Date de l'intervention",
     "date future (07/2024)", "07/2024"),
    ({"Date de l'intervention": "31/12/1999"}, "Date de l'intervention",
     "date antérieure à 2000 (31/12/1999)", "31/12/1999"),
    ({"Date de l'intervention": "hier"}, "Date de l'intervention",
     "date illisible (hier) : jj/mm/aaaa, aaaa-mm-jj ou mm/aaaa attendu", "hier"),
    ({"Date de l'intervention": ""}, "Date de l'intervention", "date manquante", ""),
    ({"Registre d'intervention": "Truc"}, "Registre d'intervention",
     "registre inconnu (Truc)", "Truc"),
    ({"Registre d'intervention": ""}, "Registre d'intervention",
     "registre d'intervention manquant", ""),
    ({"Thématique": "Jardinage"}, "Thématique", "thématique inconnue (Jardinage)", "Jardinage"),
    ({"Code IRIS": "212319999"}, "Code IRIS", "IRIS hors du territoire (212319999)",
     "212319999"),
    ({"Code IRIS": "21231-01"}, "Code IRIS",
     "code IRIS mal formé (21231-01) : 9 caractères attendus", "21231-01"),
    ({"Code IRIS": "", "Code commune": "Dijon"}, "Code commune",
     "code commune mal formé (Dijon) : code INSEE à 5 caractères attendu", "Dijon"),
    ({"Code IRIS": "", "Code commune": "21000"}, "Code commune",
     "commune hors du territoire (21000)", "21000"),
    ({"Code commune": "21232"}, "Code IRIS",
     "IRIS et commune incohérents (IRIS 212310101, commune 21232)", "212310101"),
    ({"Code IRIS": "", "QPV": "QX123"}, "QPV", "code QPV mal formé (QX123)", "QX123"),
    ({"Code IRIS": "", "QPV": "QN02199M"}, "QPV", "QPV hors du territoire (QN02199M)",
     "QN02199M"),
    ({"Code IRIS": ""}, "localisation",
     "aucune localisation (ni IRIS, ni commune, ni QPV, ni coordonnées)", ""),
    ({"Code IRIS": "", "Latitude": "40.7", "Longitude": "-74.0"}, "Latitude / Longitude",
     "coordonnées hors de France", ""),
    ({"Code IRIS": "", "Latitude": "5.0", "Longitude": "47.3"}, "Latitude / Longitude",
     "latitude et longitude inversées ?", ""),
    ({"Code IRIS": "", "Latitude": "6700000", "Longitude": "850000"}, "Latitude / Longitude",
     "coordonnées en mètres (Lambert-93 ?) : degrés WGS84 attendus", ""),
    ({"Code IRIS": "", "Latitude": "47.3", "Longitude": "est"}, "Latitude / Longitude",
     "coordonnées non numériques", ""),
    ({"Code IRIS": "", "Latitude": "47.3"}, "Latitude / Longitude",
     "coordonnées incomplètes (latitude ou longitude manquante)", ""),
])
def test_each_reject_kind(tmp_path, changes, champ, motif, valeur):
    row = {**GOOD, **changes}
    result = run(tmp_path, [GOOD, row], iris=IRIS, communes=COMMUNES, qpv={"QN02101M"})
    assert result.n_read == 2 and len(result.accepted) == 1
    reject = only_reject(result)
    assert (reject["ligne"], reject["champ"], reject["motif"], reject["valeur"]) == (
        3, champ, motif, valeur)


@pytest.mark.parametrize("code", ["2123101", "123", "21231010100"])
def test_iris_code_too_short_or_long_is_malformed_not_padded(tmp_path, code):
    reject = only_reject(run(tmp_path, [{**GOOD, "Code IRIS": code}]))
    assert reject["motif"].startswith(f"code IRIS mal formé ({code})")


def test_unknown_sub_value_of_a_multi_valued_field(tmp_path):
    header = [*HEADER[:4], "Orientation vers"]
    result = run(tmp_path, [{**GOOD, "Orientation vers": "CAF, Boulangerie"}], header=header)
    reject = only_reject(result)
    assert reject["motif"] == (
        "valeur inconnue pour « partenaire de mise en relation » (Boulangerie)")
    assert reject["champ"] == "Orientation vers"


def test_exact_duplicate_is_kept_once(tmp_path):
    other = {**GOOD, "Code IRIS": "212310102"}
    result = run(tmp_path, [GOOD, other, GOOD, GOOD])
    assert result.duplicates == 2
    assert result.accepted.index.tolist() == [2, 3]
    assert result.rejects["ligne"].tolist() == [4, 5]
    assert set(result.rejects["motif"]) == {"doublon exact de la ligne 2"}
    assert set(result.rejects["champ"]) == {"ligne entière"}


def test_a_row_with_several_problems_gives_one_reject_with_the_others_listed(tmp_path):
    row = {**GOOD, "Date de l'intervention": "31/02/2024", "Registre d'intervention": "Truc",
           "Code IRIS": "XX"}
    reject = only_reject(run(tmp_path, [row]))
    assert reject["motif"] == "date impossible (31/02/2024)"
    assert "Registre d'intervention : registre inconnu (Truc)" in reject["autres_motifs"]
    assert "Code IRIS : code IRIS mal formé (XX)" in reject["autres_motifs"]


def test_missing_required_column_is_a_file_level_error(tmp_path):
    with pytest.raises(InputError, match="colonne obligatoire absente : registre") as info:
        run(tmp_path, [GOOD], header=["Date de l'intervention", "Thématique", "Code IRIS"])
    assert info.value.path.endswith("export.csv")
    with pytest.raises(InputError, match="aucune colonne de localisation"):
        run(tmp_path, [GOOD], header=HEADER[:3])


def test_accounting_check_raises_when_broken(tmp_path, monkeypatch):
    original = validate_module._Problems.merged

    def twice(self):
        table = original(self)
        return pd.concat([table, table], ignore_index=True)

    monkeypatch.setattr(validate_module._Problems, "merged", twice)
    with pytest.raises(RuntimeError, match="comptage incohérent"):
        run(tmp_path, [GOOD, {**GOOD, "Registre d'intervention": "Truc"}])


# --------------------------------------------------------------------------- privacy

NAME, PHONE, EMAIL, NIR = "Bénédicte Quasimodo", "06 12 34 56 78", "bq@exemple.fr", \
    "2 95 10 99 126 111 93"
COMMENT = "Mme Quasimodo rappelle demain, très inquiète"


def test_rejects_never_contain_identifiers(tmp_path):
    header = [*HEADER[:4], "Nom", "Téléphone", "Email", "NIR", "Commentaire",
              "Identifiant usager", "Orientation vers"]
    pii = {"Nom": NAME, "Téléphone": PHONE, "Email": EMAIL, "NIR": NIR, "Commentaire": COMMENT,
           "Identifiant usager": "USAGER-QUASIMODO"}
    rows = [
        {**GOOD, **pii, "Date de l'intervention": "31/02/2024"},
        {**GOOD, **pii, "Registre d'intervention": f"appeler {PHONE}"},
        {**GOOD, **pii, "Thématique": EMAIL},
        {**GOOD, **pii, "Orientation vers": f"CAF, {NIR}"},
        {**GOOD, **pii, "Code IRIS": "0612345678"},
        {**GOOD, **pii, "Code IRIS": "", "Latitude": "47.3", "Longitude": "140.0"},
        {**GOOD, **pii},
        {**GOOD, **pii},
    ]
    result = run(tmp_path, rows, header=header)
    assert len(result.rejects) == 7
    text = result.rejects.to_csv()
    for secret in (NAME, "Quasimodo", PHONE, "0612345678", EMAIL, NIR, COMMENT, "USAGER"):
        assert secret not in text
    assert "valeur masquée" in text


# --------------------------------------------------------------------------- property


VALID = st.fixed_dictionaries({
    "Date de l'intervention": st.dates(dt.date(2000, 1, 1), TODAY).map(
        lambda d: d.strftime("%d/%m/%Y")),
    "Registre d'intervention": st.sampled_from(["Présence active", "Veille",
                                                "Mise en relation avec un partenaire"]),
    "Thématique": st.sampled_from(["Santé", "Numérique", "Logement, habitat"]),
    "Code IRIS": st.sampled_from(sorted(IRIS)),
})
BROKEN = st.fixed_dictionaries({
    "Date de l'intervention": st.sampled_from(["31/02/2024", "15/03/2031", "", "hier",
                                               "15/03/2024"]),
    "Registre d'intervention": st.sampled_from(["Truc", "", "Veille"]),
    "Thématique": st.sampled_from(["Santé", "?", "Jardinage"]),
    "Code IRIS": st.sampled_from(["", "ABC", "999999999", "212310101"]),
    "Latitude": st.sampled_from(["", "5.0", "47.3", "x"]),
    "Longitude": st.sampled_from(["", "47.3", "5.0", "200"]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.one_of(VALID, BROKEN), min_size=1, max_size=40))
def test_property_read_equals_accepted_plus_rejected(rows):
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), rows, iris=IRIS)
    assert result.n_read == len(rows)
    assert result.n_read == len(result.accepted) + len(result.rejects)
    lines = set(result.accepted.index) | set(result.rejects["ligne"])
    assert lines == set(range(2, len(rows) + 2))
    assert not set(result.accepted.index) & set(result.rejects["ligne"])
    assert result.rejects["ligne"].is_unique
    for column in ("champ", "motif"):
        assert (result.rejects[column].str.len() > 0).all()
    assert result.accepted["period_month"].map(lambda m: bool(MONTH_PATTERN.match(m))).all()
    assert result.accepted["registre"].notna().all()
    assert result.accepted["thematique"].notna().all()
    doubles = pd.DataFrame(rows).fillna("").duplicated().sum()
    assert result.duplicates == doubles


def test_property_style_check_on_a_large_random_mix(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    rows = pd.DataFrame({
        "Date de l'intervention": rng.choice(["15/03/2024", "31/02/2024", "2024-05", ""], n),
        "Registre d'intervention": rng.choice(["Veille", "Truc", "Présence active"], n),
        "Thématique": rng.choice(["Santé", "Jardinage"], n),
        "Code IRIS": rng.choice(["212310101", "XX", "", "212319999"], n),
        "Latitude": rng.choice(["", "47.3", "5.0"], n),
        "Longitude": rng.choice(["", "5.0", "47.3"], n),
    }).to_dict("records")
    result = run(tmp_path, rows, iris=IRIS)
    assert result.n_read == n == len(result.accepted) + len(result.rejects)
    assert result.rejects["motif"].map(lambda m: bool(re.match(r"\w", m))).all()
