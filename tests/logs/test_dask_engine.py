"""The Dask engine gives the in-memory result, on a local Dask cluster with several partitions."""

import json
import math
import sys
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

from typer.testing import CliRunner  # noqa: E402

from fragility import cli  # noqa: E402
from fragility.errors import ConfigError, InputError, PrivacyError  # noqa: E402
from fragility.logs import read_log, simulate_export, write_export  # noqa: E402
from fragility.logs.aggregate import aggregate  # noqa: E402
from fragility.logs.dask_engine import (  # noqa: E402
    METADATA_FILE,
    _Context,
    _Secret,
    aggregate_dask,
    read_log_dask,
    to_partitioned_parquet,
)
from fragility.logs.pii import scan_file  # noqa: E402
from fragility.logs.read import read_export  # noqa: E402

KEY = "c5" * 32
ROWS_PER_PARTITION = 400
N_SIMULATED = 1600
MIDDLE = 800


def _grid(crs="EPSG:2154") -> gpd.GeoDataFrame:
    """4 x 3 square IRIS of 500 m in one commune (Lambert-93, near Dijon)."""
    x0, y0, side = 853_000.0, 6_690_000.0, 500.0
    cells = [box(x0 + i * side, y0 + j * side, x0 + (i + 1) * side, y0 + (j + 1) * side)
             for i in range(4) for j in range(3)]
    codes = [f"21231{k:04d}" for k in range(len(cells))]
    gdf = gpd.GeoDataFrame(
        {"commune": "21231", "epci": "242100410", "population": 800 + 100 * np.arange(len(cells))},
        geometry=cells, crs="EPSG:2154", index=pd.Index(codes, name="iris"))
    return gdf.to_crs(crs)


def _events(log) -> pd.DataFrame:
    return log.events.drop(columns="event_id")  # a random UUID, different at every run


def _assert_same(expected, got) -> None:
    pd.testing.assert_frame_equal(_events(expected), _events(got))
    pd.testing.assert_frame_equal(expected.rejects, got.rejects)
    assert expected.report == got.report


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def grid():
    return _grid()


@pytest.fixture(scope="module")
def export(grid, tmp_path_factory):
    """A simulated export with extra duplicates far from their first copy."""
    sim = simulate_export(grid, n=N_SIMULATED, seed=5)
    frame = sim.frame
    messy = sim.messy_lines
    bad = int(messy.loc[messy["kind"] == "date_impossible", "line"].iloc[0]) - 2
    assert bad < MIDDLE and bad not in (ROWS_PER_PARTITION - 1, ROWS_PER_PARTITION)
    copies = [3, 7, bad]  # positions copied to the end (bad: a rejected row)
    frame = pd.concat([frame.iloc[:MIDDLE], frame.iloc[[7]], frame.iloc[MIDDLE:],
                       frame.iloc[copies]], ignore_index=True)
    # A pair straddling the first partition boundary (lines 401 and 402).
    frame.iloc[ROWS_PER_PARTITION] = frame.iloc[ROWS_PER_PARTITION - 1]
    path = write_export(frame, tmp_path_factory.mktemp("export") / "export.csv")
    n = len(frame)
    rows = frame.apply(tuple, axis=1)
    first = {row: i for i, row in reversed(list(enumerate(rows)))}
    planted = {  # line of an extra copy -> line of its first copy (found by brute force)
        i + 2: first[rows[i]] + 2 for i in (MIDDLE, n - 3, n - 2, n - 1, ROWS_PER_PARTITION)
    }
    assert planted[n - 1 + 2] == bad + 2 and planted[MIDDLE + 2] == 7 + 2
    return SimpleNamespace(path=path, frame=frame, planted=planted, sim=sim)


@pytest.fixture(scope="module")
def in_memory(export, grid):
    return read_log(export.path, grid, key=KEY)


@pytest.fixture(scope="module")
def partitions(export, tmp_path_factory):
    out = tmp_path_factory.mktemp("partitions") / "export_partitions"
    return to_partitioned_parquet(export.path, out, rows_per_partition=ROWS_PER_PARTITION)


def test_raw_export_same_result_as_in_memory(export, grid, in_memory, client):
    log = read_log_dask(export.path, grid, key=KEY, client=client, npartitions=5)
    _assert_same(in_memory, log)
    assert log.report["lues"] == log.report["acceptees"] + log.report["rejetees"]
    motifs = log.rejects.set_index("ligne")["motif"]
    for copy, first in export.planted.items():
        assert motifs[copy] == f"doublon exact de la ligne {first}"
    assert log.report["localisees_par_coordonnees"] > 0


def test_partitioned_parquet_round_trip(export, grid, in_memory, partitions, client):
    description = json.loads((partitions / METADATA_FILE).read_text(encoding="utf-8"))
    n = len(export.frame)
    assert description["fichier"] == "export.csv" and description["lignes"] == n
    assert len(description["partitions"]) == math.ceil(n / ROWS_PER_PARTITION) >= 5
    parts = [pd.read_parquet(partitions / name) for name in description["partitions"]]
    assert all(len(p) <= ROWS_PER_PARTITION for p in parts)
    stored = pd.concat(parts).set_index("ligne")
    raw = read_export(export.path).frame
    # Same cells and same source lines, direct identifiers replaced by a fingerprint.
    assert stored.index.tolist() == raw.index.tolist()
    kept = [c for c in raw.columns if c not in ("nom", "prenom", "telephone", "commentaire")]
    assert stored.columns.tolist() == [*kept, "_empreinte_identifiants"]
    pd.testing.assert_frame_equal(stored[kept].astype(object), raw[kept], check_names=False)
    assert stored["_empreinte_identifiants"].str.fullmatch(r"[0-9a-f]{32}").all()
    # No phone number or comment of the export is copied (person and mediator ids are:
    # they are pseudonymised at import, with the key).
    copied = {v for c in ("telephone", "commentaire") for v in raw[c] if len(v) >= 10}
    text = stored.to_csv(sep=";")
    assert copied and not [v for v in copied if v in text]

    # Through read_log's engine option (on the active client), one partition per file.
    _assert_same(in_memory, read_log(partitions, grid, key=KEY, engine="dask"))
    # Repartitioned: the duplicates of the boundary pair now share a partition.
    _assert_same(in_memory, read_log_dask(partitions, grid, key=KEY, client=client,
                                          npartitions=3))


def test_partitioned_directory_checks(export, partitions, grid, tmp_path):
    with pytest.raises(InputError, match="correspondance s'applique à la conversion"):
        read_log_dask(partitions, grid, key=KEY, mapping=tmp_path / "m.yml")
    (tmp_path / "autre.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="pas vide"):
        to_partitioned_parquet(export.path, tmp_path, rows_per_partition=1000)
    with pytest.raises(InputError, match=METADATA_FILE):
        read_log_dask(tmp_path, grid, key=KEY)
    # A previous conversion is replaced, not mixed with the new one.
    target = tmp_path / "parts"
    to_partitioned_parquet(export.path, target, rows_per_partition=400)
    to_partitioned_parquet(export.path, target, rows_per_partition=1000)
    assert sorted(p.name for p in target.glob("part-*.parquet")) == [
        "part-00000.parquet", "part-00001.parquet"]
    with pytest.raises(InputError, match="lignes par partition"):
        to_partitioned_parquet(export.path, tmp_path / "x", rows_per_partition=0)


def test_points_on_a_boundary_go_to_the_lowest_code(export, client, tmp_path):
    contours = _grid("EPSG:4326")  # vertices shared exactly by neighbouring IRIS
    corners = {}
    for code, geometry in contours.geometry.items():
        for x, y in geometry.exterior.coords[:-1]:
            corners.setdefault((x, y), []).append(code)
    shared = sorted((xy, codes) for xy, codes in corners.items() if len(codes) > 1)
    frame = export.frame.iloc[:800].copy()
    clean = set(range(len(frame))) - {line - 2 for line in export.sim.messy_lines["line"]}
    with_xy = [i for i in sorted(clean)
               if frame.iloc[i]["Latitude"] and not frame.iloc[i]["Code IRIS"]][:len(shared)]
    lat, lon = frame.columns.get_loc("Latitude"), frame.columns.get_loc("Longitude")
    for i, ((x, y), _) in zip(with_xy, shared, strict=True):
        frame.iloc[i, lat], frame.iloc[i, lon] = repr(y), repr(x)
    path = write_export(frame, tmp_path / "limites.csv")
    expected = read_log(path, contours, key=KEY)
    log = read_log_dask(path, contours, key=KEY, client=client, npartitions=3)
    _assert_same(expected, log)
    assert log.report["points_sur_une_limite"] >= len(shared) > 4
    located = log.events.set_index("source_line")["geo_iris"]
    for i, (_, codes) in zip(with_xy, shared, strict=True):
        assert located[i + 2] == min(codes)


@pytest.mark.parametrize("kwargs", [
    {},
    {"level": "commune", "by": ["registre"]},
    {"by": ["suivi_statut", "period_month"], "period": ("2024-03", "2024-09")},
    {"level": "epci", "by": ["thematique"], "epci_of": {"21231": "242100410"}},
], ids=["iris", "commune-registre", "avec-manquants-periode", "epci"])
def test_aggregates_identical(in_memory, client, kwargs):
    expected = aggregate(in_memory.events, **kwargs)
    with dask.config.set({"dataframe.convert-string": False}):  # object text, as in memory
        events = dd.from_pandas(in_memory.events, npartitions=3)
    got = aggregate_dask(events, **kwargs)
    pd.testing.assert_frame_equal(expected, got)
    assert expected.attrs == got.attrs


def test_aggregate_of_a_pandas_frame(in_memory, client):
    expected = aggregate(in_memory.events, level="qpv")
    got = aggregate_dask(in_memory.events, level="qpv")
    pd.testing.assert_frame_equal(expected, got)
    assert expected.attrs == got.attrs


def test_aggregate_errors(in_memory):
    with pytest.raises(InputError, match="niveau inconnu"):
        aggregate_dask(in_memory.events, level="canton")
    with pytest.raises(InputError, match="champ inconnu"):
        aggregate_dask(in_memory.events, by=["pointure"])
    with pytest.raises(InputError, match="EPCI"):
        aggregate_dask(in_memory.events, level="epci")


def test_read_log_engine_errors(export, grid, partitions):
    with pytest.raises(InputError, match="moteur inconnu : « spark »"):
        read_log(export.path, grid, key=KEY, engine="spark")
    with pytest.raises(InputError, match="moteur dask"):
        read_log(partitions, grid, key=KEY)


def test_missing_dask_says_how_to_install(export, grid, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_geopandas", None)  # import fails
    monkeypatch.delitem(sys.modules, "fragility.logs.dask_engine")
    with pytest.raises(ConfigError, match=r"pip install 'fragility\[dask\]'"):
        read_log(export.path, grid, key=KEY, engine="dask")


def test_privacy_guard_same_error(export, grid, client, tmp_path):
    frame = export.frame.iloc[:600].copy()
    frame["Structure"] = "S01"
    frame.loc[[10, 500], "Structure"] = "06 12 34 56 78"  # a phone number, two partitions
    path = write_export(frame, tmp_path / "fuite.csv")
    with pytest.raises(PrivacyError) as memory:
        read_log(path, grid, key=KEY)
    with pytest.raises(PrivacyError) as dask_error:
        read_log_dask(path, grid, key=KEY, client=client, npartitions=3)
    assert str(dask_error.value) == str(memory.value)
    assert "06 12" not in str(dask_error.value)
    pd.testing.assert_frame_equal(dask_error.value.findings, memory.value.findings)


def test_key_never_shown():
    secret = _Secret(bytes.fromhex(KEY))
    assert KEY not in repr(secret) and "c5c5" not in str(secret)
    context = _Context(raw=SimpleNamespace(path=SimpleNamespace(name="export.csv")),
                       secret=secret, communes=None, iris=frozenset(), qpv=None,
                       today=None, duplicates={})
    assert KEY not in repr(context)


def _run_cli(monkeypatch, grid, args, key_file):
    territory = SimpleNamespace(kind="communes", is_synthetic=False, code="21231",
                                communes=("21231",), label="grille")
    monkeypatch.setattr(cli, "_territory", lambda *a, **k: territory)
    monkeypatch.setattr("fragility.publish.build_iris_table", lambda t: SimpleNamespace(gdf=grid))
    return CliRunner().invoke(
        cli.app, ["logs", "import", *args, "--communes", "21231", "--key-file", str(key_file)])


def test_cli_engine_dask(export, grid, partitions, client, monkeypatch, tmp_path):
    key_file = tmp_path / "cle.txt"
    key_file.write_text(KEY, encoding="utf-8")
    outs = {}
    for name, args in {
        "pandas": [str(export.path)],
        "grappe": [str(partitions), "--engine", "dask", "--scheduler", client.scheduler.address],
    }.items():
        outs[name] = tmp_path / name
        result = _run_cli(monkeypatch, grid, [*args, "--out", str(outs[name])], key_file)
        assert result.exit_code == 0, result.output
        assert f"Lignes lues : {len(export.frame)} = acceptées" in result.output
    assert client.status == "running"  # the CLI closed only its own connection
    reference = outs["pandas"]
    written = sorted(p.name for p in reference.iterdir()
                     if p.suffix == ".csv" or p.name == "rapport_import.json")
    assert "contacts_iris.csv" in written and "rejets.csv" in written
    for file in written:
        assert (outs["grappe"] / file).read_bytes() == (reference / file).read_bytes(), file
    pd.testing.assert_frame_equal(
        pd.read_parquet(outs["grappe"] / "evenements.parquet").drop(columns="event_id"),
        pd.read_parquet(reference / "evenements.parquet").drop(columns="event_id"))
    assert scan_file(outs["grappe"] / "rejets.csv") == []
    for args, message in (
        (["--engine", "spark"], "moteur inconnu"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler ne s'utilise qu'avec --engine dask"),
    ):
        result = _run_cli(monkeypatch, grid,
                          [str(export.path), "--out", str(tmp_path / "x"), *args], key_file)
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_events_written_by_the_workers_equal_the_in_memory_ones(grid, in_memory, partitions,
                                                                client, tmp_path):
    out = tmp_path / "evenements"
    log = read_log_dask(partitions, grid, key=KEY, client=client, events_out=out)
    assert isinstance(log.events, dd.DataFrame)
    assert sorted(p.name for p in out.iterdir()) == [
        f"part-{k:05d}.parquet" for k in range(log.events.npartitions)]
    # Same rows and cells as the in-memory events (a column empty in one partition is
    # stored there without a string type: values are compared, not dtypes).
    def plain(frame):
        frame = frame.drop(columns="event_id").astype(object)
        return frame.where(frame.notna(), None)

    got = pd.concat([pd.read_parquet(f) for f in sorted(out.iterdir())])
    pd.testing.assert_frame_equal(plain(in_memory.events), plain(got))
    pd.testing.assert_frame_equal(plain(log.events.compute()), plain(got))
    pd.testing.assert_frame_equal(in_memory.rejects, log.rejects)
    assert in_memory.report == log.report
    # The written events aggregate as the in-memory ones.
    pd.testing.assert_frame_equal(aggregate_dask(log.events, level="commune"),
                                  aggregate(in_memory.events, level="commune"),
                                  check_dtype=False)
    with pytest.raises(InputError, match="dossier neuf ou vide"):
        read_log_dask(partitions, grid, key=KEY, client=client, events_out=out)


def test_cli_partitionner(export, tmp_path):
    out = tmp_path / "partitions"
    result = CliRunner().invoke(cli.app, ["logs", "partitionner", str(export.path), "--out",
                                          str(out), "--lignes-par-partition", "700"])
    assert result.exit_code == 0, result.output
    description = json.loads((out / METADATA_FILE).read_text(encoding="utf-8"))
    assert f"{len(export.frame)} lignes de export.csv en {len(description['partitions'])}" \
        in result.output
    assert "Téléphone" in result.output  # the identifying columns not copied are named
    assert description["lignes_par_partition"] == 700
    result = CliRunner().invoke(cli.app, ["logs", "partitionner", str(tmp_path / "absent.csv"),
                                          "--out", str(tmp_path / "y")])
    assert result.exit_code == 1 and "introuvable" in result.output
    assert "Traceback" not in result.output
