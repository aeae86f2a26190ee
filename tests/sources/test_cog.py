"""COG readers: communes (Etalab JSON, INSEE v_commune) and EPCI composition (JSON, CSV, XLSX)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fragility.errors import InputError
from fragility.sources import cog

# --------------------------------------------------------------------------- helpers

ETALAB_COMMUNES = [
    {"code": "01001", "nom": "L'Abergement-Clémenciat", "departement": "01", "region": "84",
     "type": "commune-actuelle", "population": 859},
    {"code": "21213", "nom": "Crimolois", "departement": "21", "region": "27",
     "type": "commune-deleguee", "chefLieu": "21452"},
    {"code": "21452", "nom": "Neuilly-Crimolois", "departement": "21", "region": "27",
     "type": "commune-actuelle", "population": 3588},
    {"code": "21452", "nom": "Neuilly-lès-Dijon", "departement": "21", "region": "27",
     "type": "commune-deleguee", "chefLieu": "21452"},
    {"code": "2A004", "nom": "Ajaccio", "departement": "2A", "region": "94",
     "type": "commune-actuelle", "population": 73_615},
]

V_COMMUNE_HEADER = "TYPECOM;COM;REG;DEP;CTCD;ARR;TNCC;NCC;NCCENR;LIBELLE;CAN;COMPARENT"
V_COMMUNE_ROWS = [
    "COM;01001;84;01;01D;012;5;ABERGEMENT CLEMENCIAT;Abergement-Clémenciat;"
    "L'Abergement-Clémenciat;0108;",
    "COMD;21213;;;;;0;CRIMOLOIS;Crimolois;Crimolois;;21452",
    "COM;21452;27;21;21D;212;0;NEUILLY CRIMOLOIS;Neuilly-Crimolois;Neuilly-Crimolois;2106;",
    "COMD;21452;;;;;0;NEUILLY LES DIJON;Neuilly-lès-Dijon;Neuilly-lès-Dijon;;21452",
    "COMA;21443;;;;;0;MORNAY;Mornay;Mornay;;21433",
    "COM;21433;27;21;21D;212;0;MONTIGNY MORNAY VILLENEUVE SUR VINGEANNE;"
    "Montigny-Mornay-Villeneuve-sur-Vingeanne;Montigny-Mornay-Villeneuve-sur-Vingeanne;2104;",
    "COM;2A004;94;2A;2AD;2A1;0;AJACCIO;Ajaccio;Ajaccio;2A98;",
    "COM;2B033;94;2B;2BD;2B2;0;BASTIA;Bastia;Bastia;2B97;",
    "ARM;75101;11;75;75C;751;0;PARIS 1ER ARRONDISSEMENT;Paris 1er Arrondissement;"
    "Paris 1er Arrondissement;7598;75056",
]

EPCI_HEADER = "CODGEO;LIBGEO;EPCI;LIBEPCI;DEP;REG"
EPCI_ROWS = [
    ["01001", "L'Abergement-Clémenciat", "200069193", "CC de la Dombes", "01", "84"],
    ["21231", "Dijon", "242100410", "Dijon Métropole", "21", "27"],
    ["21166", "Chenôve", "242100410", "Dijon Métropole", "21", "27"],
    ["29155", "Ouessant", "ZZZZZZZZZ", "Sans objet", "29", "53"],
    ["2A004", "Ajaccio", "242010056", "CA du Pays Ajaccien", "2A", "94"],
]


def write_etalab_communes(path: Path, records=ETALAB_COMMUNES) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def write_v_commune(path: Path, rows=V_COMMUNE_ROWS) -> Path:
    path.write_text("\n".join([V_COMMUNE_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def write_epci_csv(path: Path, rows=EPCI_ROWS) -> Path:
    lines = [EPCI_HEADER, *(";".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_epci_xlsx(path: Path, rows=EPCI_ROWS, *, numeric_codes: bool = False) -> Path:
    """The INSEE ``Intercommunalite_Metropole_au_01-01-AAAA.xlsx`` layout: 5 title rows."""
    book = openpyxl.Workbook()
    first = book.active
    first.title = "EPCI"
    first.append(["Liste des EPCI à fiscalité propre au 1er janvier 2024"])
    composition = book.create_sheet("Composition_communale")
    for title in (
        "Composition communale des EPCI à fiscalité propre au 1er janvier 2024",
        "Découpage de la France en communes au 1er janvier 2024",
        "Source : Insee, DGCL",
        "",
        "",
    ):
        composition.append([title] if title else [])
    composition.append(EPCI_HEADER.split(";"))
    for row in rows:
        cells = list(row)
        if numeric_codes and cells[0].isdigit():
            cells[0] = int(cells[0])  # a spreadsheet turns 01001 into 1001
        composition.append(cells)
    book.save(path)
    return path


# -------------------------------------------------------------------------- communes


def test_etalab_json_communes(tmp_path):
    parsed = cog.read_communes(write_etalab_communes(tmp_path / "communes.json"))
    frame = parsed.frame
    assert parsed.layer == "cog_communes"
    assert parsed.layout == "Etalab decoupage-administratif (JSON)"
    assert frame.index.name == "commune"
    assert sorted(frame.index) == ["01001", "21213", "21452", "2A004"]
    assert frame.loc["21452", "type"] == "commune-actuelle"  # not the déléguée sharing its code
    assert frame.loc["21452", "name"] == "Neuilly-Crimolois"
    assert frame.loc["21452", "population"] == 3588
    assert frame.loc["2A004", "departement"] == "2A"
    assert frame["population"].dtype == "Int64"
    assert pd.isna(frame.loc["21213", "population"])
    assert frame.loc["21213", "chef_lieu"] == "21452"
    assert len(parsed.notes) == 1 and parsed.notes[0].startswith("1 commune(s) déléguée(s)")


def test_insee_v_commune_csv(tmp_path):
    parsed = cog.read_communes(write_v_commune(tmp_path / "v_commune_2024.csv"))
    frame = parsed.frame
    assert parsed.layout == "officiel (INSEE v_commune)"
    assert parsed.vintage == "2024"
    assert sorted(frame.index) == ["01001", "21213", "21433", "21443", "21452", "2A004", "2B033",
                                   "75101"]
    assert frame.loc["21452", "type"] == "commune-actuelle"
    assert frame.loc["21452", "name"] == "Neuilly-Crimolois"
    assert frame.loc["21213", "type"] == "commune-deleguee"
    assert frame.loc["21443", "type"] == "commune-associee"
    assert frame.loc["75101", "type"] == "arrondissement-municipal"
    assert frame.loc["01001", "name"] == "L'Abergement-Clémenciat"
    assert frame.loc["2A004", "departement"] == "2A"
    assert frame.loc["2B033", "region"] == "94"
    # former communes have no DEP in the INSEE file: inherited from their parent
    assert frame.loc["21213", "departement"] == "21"
    assert frame.loc["21213", "chef_lieu"] == "21452"
    assert pd.isna(frame.loc["21452", "chef_lieu"])
    assert frame["population"].isna().all()
    assert parsed.notes and parsed.notes[0].startswith("1 commune(s) déléguée(s)")


def test_v_commune_without_typecom(tmp_path):
    path = tmp_path / "communes.csv"
    path.write_text("COM;LIBELLE\n21231;Dijon\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"communes\.csv : colonne TYPECOM absente"):
        cog.read_communes(path)


def test_v_commune_malformed_code(tmp_path):
    rows = [*V_COMMUNE_ROWS[:2], V_COMMUNE_ROWS[2].replace(";21452;", ";2145X;", 1)]
    path = write_v_commune(tmp_path / "v_commune_2024.csv", rows)
    with pytest.raises(InputError, match=r"ligne 4, champ « COM » : code mal formé « 2145X »"):
        cog.read_communes(path)


@pytest.mark.parametrize("writer", [write_v_commune, write_etalab_communes])
def test_cog_current_code(tmp_path, writer):
    suffix = ".csv" if writer is write_v_commune else ".json"
    communes = cog.read_communes(writer(tmp_path / f"communes{suffix}")).frame
    c = cog.Cog(communes, pd.DataFrame())
    assert c.current_code("21213") == "21452"  # Crimolois, commune déléguée
    assert c.current_code("21452") == "21452"
    assert c.current_code("2A004") == "2A004"
    assert c.current_code("99999") is None
    assert "21213" not in c.current.index
    assert set(c.current["type"]) == {"commune-actuelle"}
    if writer is write_v_commune:
        assert c.current_code("21443") == "21433"  # Mornay, commune associée
        assert c.current_code("75101") is None  # parent 75056 is not in this file
    queried = ["21213", "21452", "2A004", "99999", "21443", "75101", "21213", None]
    many = c.current_codes(queried)
    assert many.tolist() == [None if q is None else c.current_code(q) for q in queried]


# ------------------------------------------------------------------------------ EPCI


def expected_epci_rows() -> list[dict]:
    return [
        {"epci": "200069193", "epci_name": "CC de la Dombes", "commune": "01001"},
        {"epci": "242100410", "epci_name": "Dijon Métropole", "commune": "21231"},
        {"epci": "242100410", "epci_name": "Dijon Métropole", "commune": "21166"},
        {"epci": "242010056", "epci_name": "CA du Pays Ajaccien", "commune": "2A004"},
    ]


def test_epci_composition_csv(tmp_path):
    parsed = cog.read_epci(write_epci_csv(tmp_path / "EPCI_au_01-01-2024.csv"))
    frame = parsed.frame
    assert parsed.layer == "cog_epci"
    assert parsed.layout == "officiel (INSEE composition communale des EPCI)"
    assert "ZZZZZZZZZ" not in set(frame["epci"])
    assert "29155" not in set(frame["commune"])  # Ouessant, no EPCI
    assert frame[["epci", "epci_name", "commune"]].to_dict("records") == expected_epci_rows()


@pytest.mark.parametrize("numeric_codes", [False, True])
def test_epci_composition_xlsx(tmp_path, numeric_codes):
    path = write_epci_xlsx(tmp_path / "Intercommunalite_Metropole_au_01-01-2024.xlsx",
                           numeric_codes=numeric_codes)
    parsed = cog.read_epci(path)
    assert parsed.vintage == "2024"
    assert parsed.frame[["epci", "epci_name", "commune"]].to_dict("records") == (
        expected_epci_rows()
    )


def test_epci_xlsx_without_composition_sheet(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "EPCI"
    path = tmp_path / "epci.xlsx"
    book.save(path)
    with pytest.raises(InputError, match="feuille « Composition_communale » introuvable"):
        cog.read_epci(path)


def test_epci_csv_without_epci_column(tmp_path):
    path = tmp_path / "epci.csv"
    path.write_text("CODGEO;LIBGEO\n21231;Dijon\n", encoding="utf-8")
    with pytest.raises(InputError, match="colonne EPCI absente de la composition des EPCI"):
        cog.read_epci(path)


def test_epci_etalab_json(tmp_path):
    path = tmp_path / "epci.json"
    path.write_text(json.dumps([
        {"code": "242100410", "nom": "Dijon Métropole", "type": "METRO",
         "membres": [{"code": "21231", "nom": "Dijon"}, {"code": "21166", "nom": "Chenôve"}]},
        {"code": "242010056", "nom": "CA du Pays Ajaccien", "type": "CA",
         "membres": [{"code": "2A004", "nom": "Ajaccio"}]},
    ], ensure_ascii=False), encoding="utf-8")
    parsed = cog.read_epci(path)
    assert parsed.frame.to_dict("records") == [
        {"epci": "242100410", "epci_name": "Dijon Métropole", "epci_type": "METRO",
         "commune": "21231"},
        {"epci": "242100410", "epci_name": "Dijon Métropole", "epci_type": "METRO",
         "commune": "21166"},
        {"epci": "242010056", "epci_name": "CA du Pays Ajaccien", "epci_type": "CA",
         "commune": "2A004"},
    ]


def test_json_kind():
    assert cog.json_kind({"code": "242100410", "membres": []}) == "cog_epci"
    assert cog.json_kind({"code": "21231", "type": "commune-actuelle"}) == "cog_communes"
    assert cog.json_kind({"code": "21", "nom": "Côte-d'Or"}) is None


# ---------------------------------------------------------------------- real data

DIJON_METROPOLE = {
    "21003", "21105", "21106", "21166", "21171", "21192", "21223", "21231", "21263", "21270",
    "21278", "21315", "21355", "21370", "21390", "21452", "21473", "21481", "21485", "21515",
    "21540", "21605", "21617",
}


@pytest.mark.real_data
def test_real_cog(real_data):
    communes = cog.read_communes(real_data / "cog" / "communes_dep21.json")
    epci = cog.read_epci(real_data / "cog" / "epci_dep21.json")
    c = cog.Cog(communes.frame, epci.frame)
    assert len(communes.frame) == 706  # 711 objects, 5 déléguées sharing their parent's code
    assert len(c.current) == 698
    assert (c.current["departement"] == "21").all()
    assert communes.frame.loc["21231", "population"] == 161_830
    assert communes.frame.loc["21231", "name"] == "Dijon"
    assert c.current_code("21213") == "21452"  # Crimolois
    assert c.current_code("21507") == "21183"  # Premières
    assert c.current_code("21443") == "21433"  # Mornay, commune associée
    every = list(communes.frame.index)
    assert c.current_codes(every).tolist() == [c.current_code(code) for code in every]
    assert epci.frame["epci"].nunique() == 19
    members = set(epci.frame.loc[epci.frame["epci"] == "242100410", "commune"])
    assert members == DIJON_METROPOLE
    assert epci.frame.loc[epci.frame["epci"] == "242100410", "epci_name"].iloc[0] == (
        "Dijon Métropole"
    )
    assert len(epci.frame) == 703
