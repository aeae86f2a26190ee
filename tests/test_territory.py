import json

import pytest

from fragility.errors import InputError, UnknownCodeError
from fragility.territory import Territory

pytestmark = pytest.mark.real_data

DM = "242100410"


def test_from_epci_by_code_and_by_name(real_data):
    by_code = Territory.from_epci(DM, data_dir=real_data)
    by_name = Territory.from_epci("dijon metropole", data_dir=real_data)
    assert by_code.name == "Dijon Métropole"
    assert by_code.communes == by_name.communes
    assert len(by_code.communes) == 23
    assert "21231" in by_code.communes and "21452" in by_code.communes
    assert by_code.departements == ("21",)
    assert by_code.crs == "EPSG:2154"
    assert not by_code.is_synthetic


def test_unknown_epci_lists_closest(real_data):
    with pytest.raises(UnknownCodeError, match=r"EPCI inconnu.*Codes proches : 242100410"):
        Territory.from_epci("242100411", data_dir=real_data)


def test_ambiguous_epci_name(real_data):
    with pytest.raises(UnknownCodeError, match="ambigu"):
        Territory.from_epci("CC du Pays", data_dir=real_data)


def test_from_communes(real_data):
    t = Territory.from_communes(["21231", 21166], data_dir=real_data)
    assert t.communes == ("21166", "21231")
    assert t.kind == "communes"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("21999", r"commune inconnue : « 21999 »\. Codes proches"),
        ("abc", "code commune mal formé"),
        ("21213", r"n'existe plus : elle fait partie de 21452"),
    ],
)
def test_from_communes_errors(real_data, code, message):
    with pytest.raises(UnknownCodeError, match=message):
        Territory.from_communes([code], data_dir=real_data)


def test_from_departement(real_data):
    t = Territory.from_departement("21", data_dir=real_data)
    assert len(t.communes) == 698
    with pytest.raises(UnknownCodeError, match="départements présents : 21"):
        Territory.from_departement("75", data_dir=real_data)


def test_every_epci_of_the_pack_resolves(real_data):
    epcis = json.loads((real_data / "cog" / "epci_dep21.json").read_text(encoding="utf-8"))
    for epci in epcis:
        t = Territory.from_epci(epci["code"], data_dir=real_data)
        assert set(t.communes) == {m["code"] for m in epci["membres"]}


def test_missing_data_dir():
    with pytest.raises(InputError, match="dossier de données introuvable"):
        Territory.from_epci(DM, data_dir="/nonexistent/folder")
