import pandas as pd
import pytest
from typer.testing import CliRunner

from fragility.cli import app
from fragility.errors import UnknownCodeError

runner = CliRunner()


@pytest.mark.real_data
def test_territory_epci(real_data, tmp_path):
    out = tmp_path / "dm"
    result = runner.invoke(
        app, ["territory", "--epci", "242100410", "--data-dir", str(real_data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "121 IRIS" in result.output
    csv = pd.read_csv(out / "iris.csv", sep=";", dtype=str)
    assert list(csv.columns[:2]) == ["iris", "commune"] and len(csv) == 121
    assert (out / "iris.gpkg").exists() and (out / "couverture.md").exists()


@pytest.mark.real_data
def test_unknown_epci_is_one_french_sentence(real_data, tmp_path):
    result = runner.invoke(
        app,
        ["territory", "--epci", "999999999", "--data-dir", str(real_data), "--out", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Erreur : EPCI inconnu")
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.real_data
def test_debug_shows_the_exception(real_data, tmp_path):
    result = runner.invoke(
        app,
        [
            "--debug",
            "territory",
            "--epci",
            "999999999",
            "--data-dir",
            str(real_data),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownCodeError)


def test_exactly_one_territory(tmp_path):
    result = runner.invoke(app, ["territory", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "indiquez exactement un territoire" in result.output


def test_sources_list_and_describe():
    result = runner.invoke(app, ["sources", "list"])
    assert result.exit_code == 0
    assert "anct_france_services_20240801" in result.output
    result = runner.invoke(app, ["sources", "describe", "ign_contours_iris_2024"])
    assert result.exit_code == 0 and "Licence Ouverte" in result.output
    result = runner.invoke(app, ["sources", "describe", "ign_contours_iris_2042"])
    assert result.exit_code == 1 and "Vouliez-vous dire" in result.output


def test_unpinned_fetch_is_refused():
    result = runner.invoke(app, ["sources", "fetch", "ign_contours_iris_2024"])
    assert result.exit_code == 1
    assert "--accepter-non-verifie" in result.output


@pytest.mark.real_data
def test_sources_scan(real_data):
    result = runner.invoke(app, ["sources", "scan", str(real_data)])
    assert result.exit_code == 0
    assert "Contours des IRIS" in result.output
    assert "= anct_france_services_20240801" in result.output


def test_help_is_french():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "diagnostic territorial" in result.output


def test_diagnose_demo(demo_run):
    # `fragility diagnose --demo --out <dossier>`, run once for the session (conftest)
    assert demo_run.exit_code == 0, demo_run.output
    assert "Territoire de démonstration — données synthétiques" in demo_run.output
    assert (demo_run.out / "figures" / "taux_pauvrete.png").stat().st_size > 10_000


def test_demo_refuses_data_dir(tmp_path):
    result = runner.invoke(
        app, ["territory", "--demo", "--data-dir", str(tmp_path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and "--data-dir ne s'utilise pas avec --demo" in result.output


def test_logs_simulate_check_import(tmp_path, monkeypatch):
    export = tmp_path / "export.csv"
    result = runner.invoke(
        app, ["logs", "simulate", "--demo", "--n", "3000", "--seed", "2", "--out", str(export)]
    )
    assert result.exit_code == 0, result.output
    assert export.exists() and (tmp_path / "export_verite.csv").exists()
    result = runner.invoke(app, ["logs", "check", str(export)])
    assert result.exit_code == 0, result.output
    assert "Lignes lues : 3000 = acceptées" in result.output
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY", raising=False)
    result = runner.invoke(
        app, ["logs", "import", str(export), "--demo", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and "clé" in result.output
    key = tmp_path / "cle.txt"
    key.write_text("5f" * 32, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "logs",
            "import",
            str(export),
            "--demo",
            "--key-file",
            str(key),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "rejets.csv").exists()
    assert (tmp_path / "out" / "contacts_iris.csv").exists()
    assert "rejetées" in result.output


def test_logs_check_with_territory(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(
        "Date;Registre;Thématique;Code IRIS\n"
        "12/03/2024;Présence active;Santé;960010101\n"
        "12/03/2024;Présence active;Santé;212310101\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["logs", "check", str(export), "--demo"])
    assert result.exit_code == 0, result.output
    assert "Lignes lues : 2 = acceptées 1 + rejetées 1" in result.output
    assert "ligne 3" in result.output


@pytest.mark.slow
@pytest.mark.real_data
def test_diagnose_real_territory_with_logs(real_data, tmp_path, monkeypatch):
    import hashlib
    import json


    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY", raising=False)
    export = tmp_path / "export.csv"
    territory = ["--epci", "242100410", "--data-dir", str(real_data)]
    result = runner.invoke(
        app, ["logs", "simulate", *territory, "--n", "8000", "--sous-desservis", "4",
              "--out", str(export)],
    )
    assert result.exit_code == 0, result.output
    key = tmp_path / "cle.txt"
    key.write_text("7a" * 32, encoding="utf-8")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = runner.invoke(
            app, ["diagnose", *territory, "--logs", str(export), "--key-file", str(key),
                  "--out", str(out)],
        )
        assert result.exit_code == 0, result.output
        runs.append(out)
    out = runs[0]
    assert "Couverture (journal de médiation)" in result.output
    for name in ("iris.csv", "iris.gpkg", "manifest.json", "rejets.csv", "couverture.md",
                 "figures/zones_sous_desservies.png"):
        assert (out / name).exists(), name
    table = pd.read_csv(out / "iris.csv", sep=";", dtype={"iris": str, "commune": str})
    required = ["iris", "commune", "population", "isolation_index", "non_recours_index",
                "contacts", "persons", "expected_contacts", "coverage_ratio",
                "coverage_ratio_low", "coverage_ratio_high", "flag", "reasons"]
    assert set(required) <= set(table.columns)
    assert len(table) == 121 and table["iris"].str.len().eq(9).all()
    for column in ("contacts", "persons"):
        assert not table[column].dropna().between(1, 10).any()
    assert table["reasons"].notna().all() and table["phrase"].notna().all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256(export.read_bytes()).hexdigest()
    assert manifest["journal"]["fichier"] == "export.csv"
    assert manifest["journal"]["sha256"] == digest
    assert manifest["graine"] == 0 and manifest["versions"]["statsmodels"]
    assert manifest["evaluation"]["mode"] == "journal"
    assert manifest["evaluation"]["couverture"]["modele"]["n_iris"] > 30
    # Same inputs and seed: identical tables and manifests but for the one timestamp.
    assert (runs[0] / "iris.csv").read_bytes() == (runs[1] / "iris.csv").read_bytes()
    second = json.loads((runs[1] / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("horodatage"), second.pop("horodatage")
    assert manifest == second


def test_diagnose_zone_errors_name_the_code(tmp_path):
    result = runner.invoke(
        app, ["diagnose", "--demo", "--potentiel", "--zone", "12345", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "12345" in result.output and "zone d'intervention" in result.output
