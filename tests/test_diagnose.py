import json

import pytest

from fragility.diagnose import _indices
from fragility.iris_table import build_iris_table
from fragility.territory import Territory

SCORED = {"ok", "partiel"}
REASONS = {"trop_petit", "iris_activite", "donnees_insuffisantes", "population_inconnue"}


def _check_every_iris(table):
    columns, results = _indices(table, seed=0)
    assert set(results) >= {"isolation", "non_recours_gap", "non_recours_barrier"}
    for name in results:
        status = columns[f"{name}_status"]
        scored = status.str.split("+").str[0].isin(SCORED)
        # Scored IRIS have a value and a rank interval ...
        ok = columns.loc[scored]
        assert ok[f"{name}_index"].notna().all(), name
        assert (ok[f"{name}_rank_low"] <= ok[f"{name}_rank_high"]).all(), name
        # ... the others a stated reason and no made-up value.
        rest = columns.loc[~scored]
        assert rest[f"{name}_index"].isna().all(), name
        assert status[~scored].isin(REASONS).all(), (name, set(status[~scored]))
    return columns


def test_demo_every_iris_scored_or_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAGILITY_DATA_DIR", str(tmp_path))
    columns = _check_every_iris(build_iris_table(Territory.demo()))
    assert columns["isolation_index"].notna().sum() > 80
    assert "profile" in columns


@pytest.mark.real_data
def test_real_territories_every_iris_scored_or_explained(real_data, pack_tables):
    epcis = json.loads((real_data / "cog" / "epci_dep21.json").read_text(encoding="utf-8"))
    assert list(pack_tables) == [epci["code"] for epci in epcis]
    for table in pack_tables.values():  # built once for the session (conftest)
        _check_every_iris(table)


@pytest.mark.slow
def test_reproduce_from_manifest(tmp_path, monkeypatch):
    from fragility.diagnose import diagnose, reproduce

    monkeypatch.setenv("FRAGILITY_DATA_DIR", str(tmp_path / "cache"))
    published = tmp_path / "publie"
    diagnose(Territory.demo(), published, progress=False, seed=3,
             zone=["96001", "96002", "96003", "96004", "96005"])
    result = reproduce(published, progress=False)
    assert result.identical, result.differences
    assert "identique" in result.summary()
    # A published table that does not match its inputs is caught.
    with open(published / "iris.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")
    result = reproduce(published, tmp_path / "encore", progress=False)
    assert not result.identical and "iris.csv diffère" in result.differences


def test_reproduce_refuses_a_changed_log(tmp_path):
    from fragility.diagnose import reproduce
    from fragility.errors import InputError

    log = tmp_path / "journal.csv"
    log.write_text("a;b\n1;2\n", encoding="utf-8")
    manifest = {
        "territoire": {"synthetique": True, "graine_demo": 0},
        "journal": {"fichier": "journal.csv", "sha256": "0" * 64, "chemin": str(log)},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InputError, match="journal a changé"):
        reproduce(tmp_path, progress=False)
    with pytest.raises(InputError, match="manifeste introuvable"):
        reproduce(tmp_path / "ailleurs", progress=False)
