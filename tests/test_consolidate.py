"""Consolidation of three simulated structures over one territory."""

from __future__ import annotations

import json
import secrets
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fragility import Territory
from fragility.bilan import TABLES, BilanSettings, run_bilan
from fragility.cli import app
from fragility.consolidate import consolidate, read_release
from fragility.disclosure import TOTAL_LABEL
from fragility.errors import InputError
from fragility.iris_table import build_iris_table
from fragility.logs.simulate import simulate_export, write_export

K = 11


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    """Three structures' bilan folders (small logs: many suppressed cells)."""
    territory = Territory.demo()
    table = build_iris_table(territory)
    base = tmp_path_factory.mktemp("structures")
    folders = []
    for i, n in enumerate((1500, 900, 2500), start=1):
        export = base / f"journal_{i}.csv"
        write_export(simulate_export(table, n=n, seed=20 + i), export)
        folder = base / f"structure_{i}"
        run_bilan(territory, folder, logs=export, key=secrets.token_bytes(32),
                  settings=BilanSettings(period=("2024-01", "2024-12"),
                                         structure=f"Structure {i}", k=K))
        folders.append(folder)
    return territory, folders


@pytest.fixture(scope="module")
def consolidated(structures, tmp_path_factory):
    territory, folders = structures
    out = tmp_path_factory.mktemp("consolidation")
    return consolidate(folders, out, territory=territory), out


def _key(row, keys):
    return tuple(str(row[k]) for k in keys)


@pytest.mark.parametrize("name", list(TABLES))
def test_contacts_are_the_sum_of_the_structures(structures, consolidated, name):
    _, folders = structures
    result, _ = consolidated
    keys = list(TABLES[name].keys)
    singles = [read_release(f).tables[name] for f in folders]
    merged = result.tables[name]
    for _, row in merged.iterrows():
        parts = [t[(t[keys].astype(str) == pd.Series(_key(row, keys), index=keys)).all(axis=1)]
                 for t in singles]
        present = [p.iloc[0] for p in parts if len(p)]
        if any(p["statut"] != "publie" for p in present):
            assert row["statut"] == "secret_structure"
            assert pd.isna(row["contacts"]) and pd.isna(row["persons_min"])
            continue
        assert row["statut"] == "publie"
        assert row["contacts"] == sum(int(p["contacts"]) for p in present)
        assert row["persons_min"] == max(int(p["persons"]) for p in present)
        assert row["persons_max"] == sum(int(p["persons"]) for p in present)


def test_grand_total_is_the_sum_of_the_three(structures, consolidated):
    _, folders = structures
    result, _ = consolidated
    totals = [read_release(f).tables["registre"].set_index("registre").loc[TOTAL_LABEL]
              for f in folders]
    assert result.total()["contacts"] == sum(int(t["contacts"]) for t in totals)
    assert result.total()["persons_min"] == max(int(t["persons"]) for t in totals)
    assert result.total()["persons_max"] == sum(int(t["persons"]) for t in totals)


def test_persons_never_presented_as_exact(consolidated):
    result, out = consolidated
    for name, table in result.tables.items():
        assert "persons" not in table.columns, name
        written = pd.read_csv(out / "consolidation" / f"{name}.csv", sep=";")
        assert "persons" not in written.columns
        assert {"persons_min", "persons_max"} <= set(written.columns)
    summary = result.summary()
    assert "entre" in summary and "le nombre exact n'est pas connu" in summary
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "fourchette" in manifest["personnes"]
    assert [s["nom"] for s in manifest["structures"]] == [f"Structure {i}" for i in (1, 2, 3)]


def test_no_small_count_and_map_written(consolidated):
    _, out = consolidated
    for path in (out / "consolidation").glob("*.csv"):
        table = pd.read_csv(path, sep=";")
        for column in ("contacts", "persons_min", "persons_max"):
            values = pd.to_numeric(table[column], errors="coerce").dropna()
            assert not ((values > 0) & (values < K)).any(), (path.name, column)
    assert (out / "figures" / "contacts_commune.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------- differencing


def _equations(singles, consolidated_table, keys, *, naive_truth=None):
    """Linear system an attacker holds on the contacts of a 1-D table.

    Unknowns: the true contacts of every cell (total included) of every structure.
    Equations: each structure's line (cells add up to its total), each published
    single-structure cell, each published consolidated cell (sum over structures).
    With ``naive_truth`` the consolidated table publishes every cell's true sum (what a
    careless consolidation would do).
    """
    cells = sorted({_key(r, keys) for t in singles for _, r in t.iterrows()})
    index = {(s, c): i for s in range(len(singles)) for i_c, c in enumerate(cells)
             for i in [s * len(cells) + i_c]}
    rows, values = [], []

    def equation(coefs, value):
        row = np.zeros(len(index))
        for position, coef in coefs:
            row[position] = coef
        rows.append(row)
        values.append(value)

    total = tuple([TOTAL_LABEL] * len(keys))
    for s, table in enumerate(singles):
        inner = [c for c in cells if c != total]
        equation([(index[(s, c)], 1.0) for c in inner] + [(index[(s, total)], -1.0)], 0.0)
        present = {_key(r, keys): r for _, r in table.iterrows()}
        for c in cells:
            r = present.get(c)
            if r is None:  # absent cell: a published zero
                equation([(index[(s, c)], 1.0)], 0.0)
            elif r["statut"] == "publie":
                equation([(index[(s, c)], 1.0)], float(r["contacts"]))
    merged = {_key(r, keys): r for _, r in consolidated_table.iterrows()}
    for c in cells:
        r = merged.get(c)
        if naive_truth is not None:
            equation([(index[(s, c)], 1.0) for s in range(len(singles))], naive_truth[c])
        elif r is not None and r["statut"] == "publie":
            equation([(index[(s, c)], 1.0) for s in range(len(singles))], float(r["contacts"]))
    return np.array(rows), index, cells


def _recoverable(matrix, index, singles, keys):
    """Suppressed single-structure cells whose value the system determines exactly."""
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for s, table in enumerate(singles):
        for _, r in table.iterrows():
            if r["statut"] == "publie":
                continue
            unit = np.zeros(matrix.shape[1])
            unit[index[(s, _key(r, keys))]] = 1.0
            if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
                found.append((s, _key(r, keys)))
    return found


@pytest.mark.parametrize("name", ["commune", "registre", "mois", "thematique"])
def test_no_suppressed_cell_recoverable_by_differencing(structures, consolidated, name):
    _, folders = structures
    result, _ = consolidated
    keys = list(TABLES[name].keys)
    singles = [read_release(f).tables[name] for f in folders]
    matrix, index, _ = _equations(singles, result.tables[name], keys)
    assert _recoverable(matrix, index, singles, keys) == []


def test_the_differencing_check_can_fail(structures, tmp_path):
    """A careless consolidation (true sums of every cell) does leak: the check sees it."""
    territory, folders = structures
    keys = ["commune"]
    singles = [read_release(f).tables["commune"] for f in folders]
    assert any(t["statut"].ne("publie").any() for t in singles)
    # the true sums, as a consolidator holding the logs would publish them
    truth = {}
    for i, folder in enumerate(folders, start=1):
        from fragility.logs.importer import read_log

        key = secrets.token_bytes(32)
        events = read_log(folder.parent / f"journal_{i}.csv",
                          build_iris_table(territory).gdf, key=key).events
        for commune, n in events.groupby("geo_commune").size().items():
            truth[(commune,)] = truth.get((commune,), 0) + int(n)
    truth[(TOTAL_LABEL,)] = sum(v for c, v in truth.items())
    result = consolidate(folders)
    cells = sorted({_key(r, keys) for t in singles for _, r in t.iterrows()})
    matrix, index, _ = _equations(singles, result.tables["commune"], keys,
                                  naive_truth={c: truth.get(c, 0) for c in cells})
    assert _recoverable(matrix, index, singles, keys) != []


# ---------------------------------------------------------------------------- checks


def _copy(folder, tmp_path, name, edit):
    target = tmp_path / name
    shutil.copytree(folder, target)
    path = target / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(periode={"debut": "2023-01", "fin": "2023-12"}), "période différente"),
    (lambda m: m["secret"].update(k=15), "secret statistique différente"),
    (lambda m: m.update(schema_journal="fragility-log/2.0"), "version du schéma"),
])
def test_releases_must_share_their_frame(structures, tmp_path, edit, message):
    _, folders = structures
    other = _copy(folders[1], tmp_path, "autre", lambda m: (edit(m), m.update(structure="X")))
    with pytest.raises(InputError, match=message) as error:
        consolidate([folders[0], other])
    assert "autre" in str(error.value)


def test_refusals(structures, tmp_path):
    _, folders = structures
    with pytest.raises(InputError, match="au moins deux"):
        consolidate(folders[:1])
    with pytest.raises(InputError, match="deux fois"):
        consolidate([folders[0], folders[0]])
    (tmp_path / "vide").mkdir()
    with pytest.raises(InputError, match=r"manifest\.json"):
        consolidate([folders[0], tmp_path / "vide"])
    broken = _copy(folders[1], tmp_path, "sans_table", lambda m: m.update(structure="Y"))
    (broken / "bilan" / "mois.csv").unlink()
    with pytest.raises(InputError, match="mois"):
        consolidate([folders[0], broken])


def test_cli_consolider(structures, tmp_path):
    _, folders = structures
    result = CliRunner().invoke(app, ["consolider", *map(str, folders), "--out",
                                      str(tmp_path / "c"), "--demo"])
    assert result.exit_code == 0, result.output
    assert "Consolidation de 3 structures" in result.output
    assert (tmp_path / "c" / "figures" / "contacts_commune.png").is_file()
    assert {p.stem for p in (tmp_path / "c" / "consolidation").glob("*.csv")} == set(TABLES)
    failed = CliRunner().invoke(app, ["consolider", str(folders[0]), "--out",
                                      str(tmp_path / "d")])
    assert failed.exit_code == 1 and "au moins deux" in failed.output
