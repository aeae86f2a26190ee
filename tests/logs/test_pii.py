import json
import uuid

import numpy as np
import pandas as pd
import pytest

from fragility.errors import PrivacyError
from fragility.logs import pii
from fragility.logs.pii import (
    PII_KINDS,
    assert_no_pii,
    iban_is_valid,
    nir_key,
    scan_file,
    scan_frame,
    scan_text,
)
from fragility.logs.pseudonymise import pseudonym


def make_nir(first13: str) -> str:
    """Append the key, computed independently of the module (2A -> 19, 2B -> 18)."""
    dept = first13[5:7].upper()
    number = first13[:5] + {"2A": "19", "2B": "18"}.get(dept, dept) + first13[7:]
    return f"{first13}{97 - int(number) % 97:02d}"


def wrong_key(nir: str) -> str:
    key = int(nir[-2:])
    return f"{nir[:-2]}{key % 97 + 1:02d}"


def make_iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def spaced_nir(nir: str) -> str:
    return " ".join([nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]])


# --- NIR ---------------------------------------------------------------------------------

VALID_NIRS = [
    make_nir("1850578006084"),
    make_nir("2990121231045"),
    make_nir("185052A004123"),  # Corse-du-Sud
    make_nir("285122B033045"),  # Haute-Corse
    make_nir("7123499001002"),  # temporary number
    "295109912611193",  # python-stdnum examples
    "253072B07300470",
    "253072A07300443",
]


def test_nir_key_helper_matches_independent_computation():
    assert nir_key("2951099126111") == 93
    assert nir_key("253072B073004") == 70
    assert nir_key("253072A073004") == 43
    for nir in VALID_NIRS:
        assert nir_key(nir[:13]) == int(nir[13:])


@pytest.mark.parametrize("nir", VALID_NIRS)
def test_valid_nir_detected_compact_spaced_and_in_text(nir):
    assert scan_text(nir) == ["nir"]
    assert scan_text(spaced_nir(nir)) == ["nir"]
    assert scan_text(nir.lower()) == ["nir"]
    assert scan_text(f"Son numéro de sécu est le {spaced_nir(nir)}, à vérifier.") == ["nir"]
    assert scan_text(f"NIR:{nir}.") == ["nir"]


@pytest.mark.parametrize("nir", VALID_NIRS)
def test_nir_with_wrong_key_is_not_a_nir(nir):
    bad = wrong_key(nir)
    assert scan_text(bad) == []
    assert scan_text(spaced_nir(bad)) == []
    assert scan_text(f"numéro {spaced_nir(bad)} et autre chose") == []


def test_corsica_key_uses_substitution():
    nir_2a = make_nir("185052A004123")
    # the key of the 2B number differs: swapping the département must break the checksum
    swapped = nir_2a[:5] + "2B" + nir_2a[7:]
    assert scan_text(swapped) == []
    assert scan_text("295109912611199") == []  # python-stdnum invalid example


def test_nir_without_key_and_overseas():
    assert scan_text("1850578006084") == ["nir"]
    assert scan_text("1 85 05 78 006 084") == ["nir"]
    overseas = make_nir("2850597105123")
    assert scan_text("2 85 05 971 05 123 " + overseas[-2:]) == ["nir"]
    assert scan_text("12345678901234") == []  # 14 digits: neither a NIR nor a phone
    assert scan_text("0850578006084") == []  # sex digit 0 does not exist


# --- Telephone ---------------------------------------------------------------------------

@pytest.mark.parametrize("phone", [
    "06 12 34 56 78", "0612345678", "06.12.34.56.78", "06-12-34-56-78", "01 23 45 67 89",
    "+33 6 12 34 56 78", "+33612345678", "+33 (0)6 12 34 56 78", "+33 06 12 34 56 78",
    "0033612345678", "0033 6 12 34 56 78", "+262 692 12 34 56",
    "09\u00a078\u00a012\u00a034\u00a056",
])
def test_phones(phone):
    assert scan_text(phone) == ["telephone"]
    assert scan_text(f"Tél. : {phone}.") == ["telephone"]
    assert scan_text(f"rappeler au {phone} demain") == ["telephone"]


@pytest.mark.parametrize("text", [
    "06 12 34 56", "061234567", "12345678901234", "0612345678901", "a0612345678b",
    "f3a90612345678", "0532 0130 00", "DE89 3704 0044 0532 0130 00", "06 1234 5678",
])
def test_not_phones(text):
    assert "telephone" not in scan_text(text)


# --- E-mail ------------------------------------------------------------------------------

@pytest.mark.parametrize("email", [
    "jean.dupont@example.fr", "Contact : marie-claire+suivi@mairie-dijon.fr.",
    "JEAN@EXEMPLE.COM", "j.d (at) exemple.com", "prenom.nom[at]laposte.net",
])
def test_emails(email):
    assert scan_text(email) == ["email"]


@pytest.mark.parametrize("text", ["@fragility", "a@b", "rendez-vous @ la mairie", "at home"])
def test_not_emails(text):
    assert scan_text(text) == []


# --- IBAN --------------------------------------------------------------------------------

def test_iban_valid_and_invalid():
    examples = [
        "FR76 3000 6000 0112 3456 7890 189",
        "FR7630006000011234567890189",
        make_iban("FR", "20041010050500013M02606"),
        make_iban("FR", "1027807841000204512345"[:23].ljust(23, "7")),
        "BE68 5390 0754 7034",
        "DE89 3704 0044 0532 0130 00",
    ]
    for iban in examples:
        assert iban_is_valid(iban), iban
        assert scan_text(iban) == ["iban"], iban
        assert scan_text(f"IBAN : {iban} BIC AGRIFRPP") == ["iban"], iban
    assert scan_text("fr76 3000 6000 0112 3456 7890 189") == ["iban"]
    assert scan_text("BE68 5390 0754 7034 ABCD") == ["iban"]
    assert scan_text("FR76 3000 6000 0112 3456 7890 188") == []  # bad check digits
    assert scan_text("FR77 3000 6000 0112 3456 7890 189") == []
    assert scan_text("FR76 3000 6000 0112 3456 7890 18") == []  # wrong length
    assert not iban_is_valid("FR76300060000112345678901891")


# --- Dates of birth ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "né le 12/03/2015", "Née le 3 mars 2012", "date de naissance : 2012-03-15",
    "DDN 12/03/85", "né(e) le 01.02.2011", "12/03/2016 (naissance)", "nee le 05-06-2014",
    "Ne le 12/03/2013", "D.D.N. : 1er janvier 2012", "naiss. 02/02/2012",
    "12/03/1985", "01-02-1999", "1er janvier 1970", "le 29/02/1996 à Dijon", "31.12.2009",
])
def test_birth_dates(text):
    assert scan_text(text) == ["date_naissance"]


@pytest.mark.parametrize("text", [
    "12/03/2024", "RDV le 05/01/2023 à 14h", "1985-03-12", "2024-03", "12/03/85",
    "31/02/1985", "01/01/2010", "il ne sait pas, revenir le 12/03/2024",
    "reconnaissance de dette du 12/03/2024", "période 2005-2009", "2010-01-01",
])
def test_not_birth_dates(text):
    assert scan_text(text) == []


# --- Addresses ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "12 rue de la Liberté", "3 bis, avenue Foch", "12b rue des Godrans", "8 place Darcy",
    "5 bd Carnot", "10 boulevard de Sévigné", "4 allée des Tilleuls", "7 impasse du moulin",
    "15 chemin de la Fontaine", "1 route de Dijon", "2 quai Nicolas Rolin",
    "3 cours de la Libération", "habite au 45 rue jean jaurès, 21000 Dijon",
    "12 Rue Berbisey", "6 av. Jean Jaurès",
])
def test_addresses(text):
    assert scan_text(text) == ["adresse"]


@pytest.mark.parametrize("text", [
    "2 places disponibles", "3 cours de français", "1 place libre", "rue de la Liberté",
    "4 chemins possibles", "3 rue", "2 routes barrées", "12 avril",
])
def test_not_addresses(text):
    assert scan_text(text) == []


def test_administrative_numbers():
    assert scan_text("numéro allocataire : 1234567") == ["identifiant_administratif"]
    assert scan_text("identifiant France Travail 1234567A") == ["identifiant_administratif"]
    assert scan_text("allocataire RSA depuis 2019") == []


# --- False positives that must pass --------------------------------------------------------

@pytest.mark.parametrize("text", [
    "212310101", "2A0040101", "21231", "2A004", "1 234,56 €", "12/03/2024", "QN02101M",
    "QP021007", "21000", "Dijon 21000", "242100410", "21210231600018", "156 920 habitants",
    "12,5 %", "presence_active", "P21_POP80P_PSEUL", "DISP_TP6021", "2024-03", "2024-T1",
    "event 000123", "1 234 567,89 €", "0,75", "12:30", "v1.2.3",
])
def test_false_positives(text):
    assert scan_text(text) == []


def test_scan_text_missing_values():
    assert scan_text(None) == []
    assert scan_text(float("nan")) == []
    assert scan_text(pd.NA) == []
    assert scan_text("") == []
    assert scan_text(185057800608436) == []  # key 36 is wrong for this number
    assert scan_text(int(VALID_NIRS[0])) == ["nir"]


def test_several_kinds_in_one_text_in_fixed_order():
    text = "Jean, 06 12 34 56 78, jean@exemple.fr, né le 12/03/2015, 3 rue Berbisey"
    assert scan_text(text) == ["telephone", "email", "date_naissance", "adresse"]
    assert set(scan_text(text)) <= set(PII_KINDS)


def test_realistic_log_columns_are_clean():
    rng = np.random.default_rng(1)
    n = 30_000
    ids = pd.Series(rng.integers(0, 20_000, n)).map("P{:05d}".format)
    frame = pd.DataFrame({
        "event_id": [uuid.UUID(int=int(x)).hex for x in rng.integers(0, 2**62, n)],
        "event_uuid": [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n)],
        "person_key": pseudonym(ids, bytes(range(32))),
        "mediator_key": pseudonym(ids.str[:3], bytes(range(32)), scope="mediator"),
        "geo_iris": rng.choice(["212310101", "212310102", "2A0040101"], n),
        "geo_commune": rng.choice(["21231", "21166", "2A004"], n),
        "geo_qpv": rng.choice(["QN02101M", "QN02102M", None], n),
        "period_month": rng.choice(["2024-01", "2024-02", "2023-12"], n),
        "registre": "presence_active",
        "montant": rng.choice(["1 234,56 €", "12,00 €"], n),
        "n_participants": rng.integers(1, 9, n),
    })
    found = scan_frame(frame)
    assert found.empty, found.groupby(["colonne", "type"]).size()
    assert_no_pii(frame, what="journal réaliste")


# --- Frames ------------------------------------------------------------------------------

PHONE = "06 12 34 56 78"
EMAIL = "marie.durand@exemple.fr"


def _dirty():
    return pd.DataFrame({
        "registre": ["presence_active", "gestion_conflits", "presence_active"],
        "remarque": ["RAS", f"rappeler au {PHONE}", f"{EMAIL} / {PHONE}"],
        "n": [1, 2, 3],
        "categorie": pd.Categorical(["a", "b", EMAIL]),
        "texte": pd.array([None, "né le 12/03/2015", "ok"], dtype="string"),
    }, index=pd.Index([10, 11, 12]))


def test_scan_frame_locates_without_values():
    found = scan_frame(_dirty())
    assert list(found.columns) == ["ligne", "colonne", "type"]
    rows = set(found.itertuples(index=False, name=None))
    assert rows == {(11, "remarque", "telephone"), (12, "remarque", "telephone"),
                    (12, "remarque", "email"), (12, "categorie", "email"),
                    (11, "texte", "date_naissance")}
    dumped = found.to_csv()
    assert PHONE not in dumped and EMAIL not in dumped and "12/03/2015" not in dumped


def test_scan_frame_selected_and_numeric_columns():
    frame = _dirty().assign(nir=[0, int(VALID_NIRS[0]), 0])
    assert "nir" not in set(scan_frame(frame)["colonne"])  # numbers are not scanned by default
    found = scan_frame(frame, columns=["nir", "registre"])
    assert found.to_dict("records") == [{"ligne": 11, "colonne": "nir", "type": "nir"}]
    with pytest.raises(KeyError):
        scan_frame(frame, columns=["absente"])


def test_scan_frame_index_and_column_names():
    frame = pd.DataFrame({EMAIL: [1, 2], "x": ["a", "b"]}, index=["Dijon", PHONE])
    found = scan_frame(frame)
    rows = set(found.itertuples(index=False, name=None))
    assert rows == {(1, "(index)", "telephone"), (None, "(nom de la colonne n° 1)", "email")}
    assert PHONE not in found.to_csv() and EMAIL not in found.to_csv()


def test_scan_frame_clean_and_empty():
    clean = pd.DataFrame({"a": ["x", None, "21231"], "b": [1.5, np.nan, 3]})
    found = scan_frame(clean)
    assert found.empty and list(found.columns) == ["ligne", "colonne", "type"]
    assert scan_frame(pd.DataFrame()).empty
    assert scan_frame(pd.Series([PHONE], name="s")).to_dict("records") == [
        {"ligne": 0, "colonne": "s", "type": "telephone"}]


def test_scan_frame_scans_each_distinct_value_once(monkeypatch):
    calls = []
    real = pii.scan_text

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(pii, "scan_text", counting)
    frame = pd.DataFrame({"a": ["x", PHONE, "y"] * 10_000})
    found = scan_frame(frame)
    assert len(found) == 10_000
    assert calls.count(PHONE) == 1  # text without a digit is left out before scan_text
    assert all(calls.count(v) <= 1 for v in ("x", "y"))


def test_scan_frame_unhashable_cells():
    frame = pd.DataFrame({"a": [["ok"], [EMAIL], None]})
    assert scan_frame(frame).to_dict("records") == [{"ligne": 1, "colonne": "a", "type": "email"}]


def test_assert_no_pii_message_never_shows_values():
    with pytest.raises(PrivacyError) as info:
        assert_no_pii(_dirty(), what="journal de test")
    message = str(info.value)
    assert message.startswith("journal de test : 4 valeur(s) ressemblant à des données "
                              "directement identifiantes (types : telephone, email, "
                              "date_naissance) dans les colonnes « remarque », « categorie », "
                              "« texte »")
    for value in (PHONE, EMAIL, "12/03/2015", "rappeler"):
        assert value not in message
    assert set(info.value.findings.columns) == {"ligne", "colonne", "type"}


def test_assert_no_pii_passes_clean_frame():
    assert assert_no_pii(pd.DataFrame({"a": ["presence_active"], "b": [1]}), what="x") is None


# --- Files -------------------------------------------------------------------------------

def test_scan_file_csv_gives_line(tmp_path):
    path = tmp_path / "sortie.csv"
    path.write_text("iris;contacts;libelle\n212310101;12;Centre\n212310102;15;tel 0612345678\n"
                    "212310103;1 234,56 €;12/03/2024\n", encoding="utf-8")
    assert scan_file(path) == [(3, "telephone")]


def test_scan_file_json_html_markdown(tmp_path):
    data = {"cellules": [{"iris": "212310101", "n": 12},
                         {"note": "n\u00e9e le 12/03/2015", "mail": EMAIL}]}
    json_path = tmp_path / "manifest.json"
    json_path.write_text(json.dumps(data, indent=1), encoding="utf-8")  # ASCII escapes
    assert "\\u00e9" in json_path.read_text()
    lines = {kind: n for n, kind in scan_file(json_path)}
    assert set(lines) == {"date_naissance", "email"}
    html_path = tmp_path / "carte.html"
    html_path.write_text("<html>\n<td>212310101</td>\n<td>06&nbsp;12&nbsp;34&nbsp;56&nbsp;78"
                         "</td>\n</html>\n", encoding="utf-8")
    assert scan_file(html_path) == [(3, "telephone")]
    md_path = tmp_path / "rapport.md"
    md_path.write_text("# Rapport\n\nIRIS 212310101 : 12 contacts, période 2024-03.\n",
                       encoding="utf-8")
    assert scan_file(md_path) == []


def test_uuids_are_not_ibans():
    import uuid

    from fragility.logs.pii import scan_text

    ids = [str(uuid.UUID(int=i * 7919 ** 5 % (1 << 128))) for i in range(1, 20000)]
    ids.append("be84584e-30fa-443f-9a51-3c1f0b6b1d2e")
    assert [i for i in ids if scan_text(i)] == []
    assert scan_text("IBAN FR76 3000 6000 0112 3456 7890 189") == ["iban"]
