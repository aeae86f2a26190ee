"""The whole edge: simulated export -> read_log -> outputs, with nothing lost or leaked."""

import geopandas as gpd
import pandas as pd
import pytest

from fragility.errors import PseudonymisationKeyError
from fragility.iris_table import build_iris_table
from fragility.logs import event_schema, read_log, simulate_export, write_export
from fragility.logs.pii import scan_file
from fragility.publish import import_and_publish
from fragility.territory import Territory

KEY = "a3" * 32


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
        table = build_iris_table(Territory.demo())
        sim = simulate_export(table, seed=3)  # the default export (20 000 rows)
        path = write_export(sim, tmp_path_factory.mktemp("export") / "export.csv")
        yield table, sim, path


def test_round_trip_counts(demo):
    table, sim, path = demo
    log = read_log(path, table.gdf, key=KEY)
    report = log.report
    assert report["encodage"] == "cp1252" and report["separateur"] == ";"
    assert report["lues"] == len(sim.frame)
    assert report["lues"] == report["acceptees"] + report["rejetees"]
    assert report["rejetees"] == len(sim.messy_lines)
    assert set(log.rejects["ligne"]) == set(sim.messy_lines["line"])
    assert report["doublons"] == (sim.messy_lines["kind"] == "doublon_exact").sum()
    event_schema().validate(log.events, lazy=True)
    # Month granularity only, no coordinates, no identifiers, keys are pseudonyms.
    assert log.events["period_month"].str.fullmatch(r"20\d\d-\d\d").all()
    for forbidden in (
        "latitude",
        "longitude",
        "nom",
        "prenom",
        "telephone",
        "commentaire",
        "person_id",
        "mediator_id",
        "date_raw",
    ):
        assert forbidden not in log.events.columns
    keys = log.events["person_key"].dropna()
    assert keys.str.fullmatch(r"[A-Z2-7]{26}").all()
    # Rows located at IRIS level land in the IRIS the simulator drew them in.
    at_iris = log.events[log.events["geo_level"] == "iris"]
    truth = sim.row_iris.reindex(at_iris["source_line"].astype(int) - 2)
    assert (at_iris["geo_iris"].to_numpy() == truth.to_numpy()).mean() > 0.999


def test_no_key_refuses_before_reading(demo, monkeypatch):
    table, _, path = demo
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY", raising=False)
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY_FILE", raising=False)
    with pytest.raises(PseudonymisationKeyError, match="clé"):
        read_log(path, table.gdf)


def test_same_key_same_pseudonyms_other_key_others(demo, tmp_path):
    table, _, path = demo
    key_file = tmp_path / "cle.txt"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    first = read_log(path, table.gdf, key_file=key_file)
    second = read_log(path, table.gdf, key=KEY)
    other = read_log(path, table.gdf, key="b4" * 32)
    assert first.events["person_key"].equals(second.events["person_key"])
    assert first.events["mediator_key"].equals(second.events["mediator_key"])
    shared = set(first.events["person_key"].dropna()) & set(other.events["person_key"].dropna())
    assert not shared


def test_no_planted_identifier_in_any_output(demo, tmp_path):
    table, sim, path = demo
    out = tmp_path / "sortie"
    _result, _paths = import_and_publish(path, table.territory, out, key=KEY)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {
        "evenements.parquet",
        "rejets.csv",
        "rapport_import.json",
        "contacts_iris.csv",
    }
    planted = [p for p in sim.planted_pii if len(p) >= 6]
    assert planted
    for file in written:
        if file.suffix == ".parquet":
            text = pd.read_parquet(file).to_csv(sep=";")
        else:
            text = file.read_text(encoding="utf-8")
            assert scan_file(file) == [], file.name
        leaked = [p for p in planted if p in text]
        assert leaked == [], (file.name, leaked[:3])
    assert scan_file(out / "rejets.csv") == []


def test_published_tables_have_no_small_cells(demo, tmp_path):
    table, _, path = demo
    _, paths = import_and_publish(path, table.territory, tmp_path, key=KEY, k=11)
    tables = [p for p in paths if p.name.startswith("contacts_")]
    assert len(tables) == 4
    for file in tables:
        frame = pd.read_csv(file, sep=";")
        published = frame[frame["statut"] == "publie"]
        assert not published["persons"].between(1, 10).any(), file.name
        hidden = frame[frame["statut"] != "publie"]
        assert hidden[["persons", "contacts"]].isna().all().all(), file.name
    margins = pd.read_csv(tmp_path / "contacts_commune_registre.csv", sep=";")
    grand = margins[(margins["commune"] == "Ensemble") & (margins["registre"] == "Ensemble")]
    cells = margins[(margins["commune"] != "Ensemble") & (margins["registre"] != "Ensemble")]
    # Distinct persons: the grand total is not the sum of the cells (people meet
    # mediators under several registres).
    assert grand["persons"].iloc[0] < cells["persons"].sum()


@pytest.mark.real_data
def test_coordinates_in_real_contours(real_data, tmp_path):
    table = build_iris_table(Territory.from_epci("242100410", data_dir=real_data))
    gdf = table.gdf
    points = gpd.GeoSeries(gdf.geometry.representative_point(), crs=gdf.crs).to_crs(4326)
    export = pd.DataFrame(
        {
            "Date de l'intervention": "15/03/2024",
            "Registre d'intervention": "Assurer une présence active de proximité",
            "Thématique": "Accès aux droits",
            "Latitude": points.y.round(7).astype(str).str.replace(".", ",", regex=False),
            "Longitude": points.x.round(7).astype(str).str.replace(".", ",", regex=False),
        }
    )
    outside = {
        "Date de l'intervention": "15/03/2024",
        "Registre d'intervention": "Présence active",
        "Thématique": "Santé",
        "Latitude": "48,8566",
        "Longitude": "2,3522",
    }
    export = pd.concat([export, pd.DataFrame([outside])], ignore_index=True)
    path = tmp_path / "export.csv"
    export.to_csv(path, sep=";", index=False, encoding="cp1252")
    log = read_log(path, gdf, key=KEY)
    assert list(log.events["geo_iris"]) == list(gdf.index)
    assert list(log.rejects["ligne"]) == [len(gdf) + 2]
    assert log.report["lues"] == len(gdf) + 1
