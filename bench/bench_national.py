"""National-scale benchmark suite: every step of a diagnostic, against its plain peer.

Data: the synthetic national territory of ``bench/national.py`` (about 49,000 IRIS,
2,800 France services, 1,360 QPV, simulated exports of 1 M and 10 M events, 10 M
coordinates), generated once and cached.

Each step runs in a fresh child process that first loads its inputs (untimed), then
runs the step ``--repeats`` times: the table gives the median and every trial, rows per
second, and the peak memory of that process (``VmHWM`` of ``/proc/self/status``, inputs
included: the real resident peak, C libraries and Arrow buffers counted). Peers run in
their own child, in the same invocation, on the same inputs:

* log import: ours (:func:`fragility.logs.read_log`: read, validate, pseudonymise, PII
  guard, locate) against ``pandas.read_csv`` then a row-by-row ``DataFrame.apply``
  validation and an HMAC per row; the pseudonyms of the rows both accept are compared;
* point location: :func:`fragility.logs.locate` against ``geopandas.sjoin`` as in its
  tutorial (points from ``points_from_xy``, ``to_crs``, ``sjoin`` with its defaults);
  the IRIS of every point the tutorial join finds exactly once are compared;
* 2SFCA: :func:`fragility.accessibility.two_step_fca` end to end against PySAL
  ``access`` end to end: the cost table built by ``geopandas.sjoin(predicate="dwithin")``
  (``access.create_euclidean_distance`` would cross-join 137 million pairs), then
  ``Access(...)`` and ``two_stage_fca`` as its documentation shows; results compared;
* LISA: ours is ``esda.Moran_Local`` behind a seeded wrapper
  (:func:`fragility.spatial.lisa`), measured against ``esda.Moran_Local`` with its
  defaults on the same graph and values; the local I are compared.

Run ``python bench/bench_national.py`` (``make bench``): writes ``bench/results.md``
and ``bench/results.json``. ``--quick`` runs a small territory (a smoke test) and
writes into the user cache unless ``--out`` is given. ``--profil DIR`` also profiles
every step with pyinstrument (``DIR/<step>.html`` and ``.txt``, the first trial's call
tree): the timed trials then carry the profiler's overhead, so profile and measure in
separate runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import national  # noqa: E402  (bench/ is not a package)

KEY = "banc-national-" + "0" * 40
MAX_DISTANCE = 20_000.0

#: step id -> (French label, target in seconds or None, peer step id or None)
STEPS = {
    "import_1m": ("import d'un export de {small} événements (lecture, validation, "
                  "pseudonymisation, contrôle des données identifiantes, localisation)",
                  None, "import_1m_pair"),
    "import_10m": ("import d'un export de {large} événements (moteur Dask, 2 processus : "
                   "conversion en Parquet partitionné par morceaux, puis lecture, validation, "
                   "pseudonymisation, contrôle, localisation ; événements écrits en Parquet)",
                   60.0, None),
    "locate": ("localisation de points dans les IRIS (point dans polygone)", 30.0,
               "locate_pair"),
    "aggregate": ("agrégation des événements par IRIS (contacts, personnes distinctes)",
                  None, None),
    "indicators": ("indicateurs de base", None, None),
    "indices": ("indices composites, 1 000 tirages de Monte-Carlo (tous les indices "
                "configurés)", 10.0, None),
    "coverage": ("modèle de contacts attendus et signalements", None, None),
    "2sfca": ("accessibilité 2SFCA (rayon 20 km), de bout en bout", 2.0, "2sfca_pair"),
    "lisa": ("LISA, 999 permutations", None, "lisa_pair"),
    "diagnose_epci": ("diagnose d'un EPCI (journal simulé)", 15.0, None),
    "report_epci": ("rapport HTML d'un EPCI", None, None),
    "diagnose_national": ("diagnose national (journal de {small} événements)", 300.0,
                          None),
    "dask_1m": ("import de {small} événements, moteur Dask (comparé au moteur pandas)",
                None, None),
}
PEERS = {
    "import_1m_pair": "pandas.read_csv + apply ligne à ligne",
    "locate_pair": "geopandas.sjoin (tutoriel)",
    "2sfca_pair": "access (sjoin dwithin + Access.two_stage_fca)",
    "lisa_pair": "esda.Moran_Local (défauts)",
}
#: Steps of several minutes each: at most this many trials (the table says how many),
#: so that a plain ``make bench`` fills every row within the per-step time limit.
MAX_TRIALS = {"import_10m": 1, "diagnose_national": 1}
TARGET_RATIO_2SFCA = 20.0
TARGET_MEMORY_MB = 8_000.0  # whole national diagnose


# ── measurement helpers ─────────────────────────────────────────────────────────────────────


def peak_memory_mb() -> float:
    """Peak resident memory of this process (``VmHWM``), in MB (10^6 bytes)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _timed(function, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def _machine() -> dict:
    mem = float("nan")
    model = platform.processor() or "inconnu"
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            mem = int(next(li for li in handle if li.startswith("MemTotal:")).split()[1]) / 2**20
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((li.split(":", 1)[1].strip() for li in handle
                          if li.startswith("model name")), model)
    except (OSError, StopIteration):
        pass
    versions = {}
    for name in ("fragility", "numpy", "pandas", "geopandas", "shapely", "pyarrow", "esda",
                 "access", "dask"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"coeurs": os.cpu_count(), "memoire_gio": round(mem, 1), "processeur": model,
            "python": sys.version.split()[0], "systeme": platform.platform(),
            "versions": versions}


# ── inputs shared by the children ───────────────────────────────────────────────────────────


class Context:
    """Inputs of a child: the national data and the files of earlier steps."""

    def __init__(self, scale: national.Scale, work: Path):
        self.scale = scale
        self.work = work
        self.data = national.national_data(scale, progress=False)

    def territory(self):
        """The national territory."""
        return national.national_territory(self.data.data_dir, self.data.info)

    def table(self):
        """The IRIS table built by the ``prepare`` child."""
        import pickle

        with open(self.work / "table.pkl", "rb") as handle:
            return pickle.load(handle)

    def indexed(self):
        """The IRIS frame with its indicators and indices (``prepare`` child)."""
        import pickle

        with open(self.work / "gdf.pkl", "rb") as handle:
            return pickle.load(handle)

    def events(self):
        """The largest imported log (events) and its number of rows read.

        A step run without the import steps (``--steps coverage``) imports the smaller
        export first, untimed.
        """
        import pandas as pd

        for n in sorted(self.scale.events, reverse=True):
            path = self.work / f"events_{n}.parquet"
            if path.is_file():
                return pd.read_parquet(path), n
        from fragility.logs import read_log

        log = read_log(self.export("small"), self.table().gdf, key=KEY)
        n = log.report["lues"]
        log.events.to_parquet(self.work / f"events_{n}.parquet")
        return log.events, n

    def export(self, which: str) -> Path:
        """The smaller (``"small"``) or larger export file."""
        sizes = sorted(self.scale.events)
        return self.data.exports[sizes[0] if which == "small" else sizes[-1]]


def _prepare(ctx: Context, repeats: int) -> dict:
    """Build the IRIS table and its indices once, for the other children."""
    import pickle

    from fragility.diagnose import with_indices
    from fragility.iris_table import build_iris_table

    start = time.perf_counter()
    table = build_iris_table(ctx.territory())
    built = time.perf_counter() - start
    gdf, _ = with_indices(table, seed=0)
    for name, obj in (("table.pkl", table), ("gdf.pkl", gdf)):
        with open(ctx.work / name, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return {"times": [built], "rows": len(table.gdf)}


# ── steps ───────────────────────────────────────────────────────────────────────────────────


def _import(ctx: Context, repeats: int, which: str) -> dict:
    from fragility.logs import read_log

    table = ctx.table()
    path = ctx.export(which)
    times, log = _timed(lambda: read_log(path, table.gdf, key=KEY), repeats)
    n = log.report["lues"]
    log.events.to_parquet(ctx.work / f"events_{n}.parquet")
    log.events[["source_line", "person_key"]].to_parquet(ctx.work / f"keys_{n}.parquet")
    return {"times": times, "rows": n,
            "check": {"acceptees": log.report["acceptees"],
                      "rejetees": log.report["rejetees"]}}


def _import_large(ctx: Context, repeats: int) -> dict:
    """The larger export through the Dask engine, on a local cluster of 2 processes.

    Held whole, ten million rows would take several times this machine's memory: the
    export is converted piece by piece (:func:`to_partitioned_parquet`), then each
    worker imports its partitions and writes its events (``events_out``). Peak memory
    adds this process's to each worker's.
    """
    from distributed import Client, LocalCluster

    from fragility.logs.dask_engine import read_log_dask, to_partitioned_parquet

    table = ctx.table()
    path = ctx.export("large")
    parts, events_dir = ctx.work / "partitions_large", ctx.work / "evenements_large"
    conversions: list[float] = []

    def run():
        start = time.perf_counter()
        to_partitioned_parquet(path, parts, rows_per_partition=1_000_000)
        conversions.append(time.perf_counter() - start)
        shutil.rmtree(events_dir, ignore_errors=True)
        return read_log_dask(parts, table.gdf, key=KEY, client=client, events_out=events_dir)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        times, log = _timed(run, repeats)
        workers = client.run(_worker_peak_mb)
    shutil.rmtree(parts, ignore_errors=True)
    shutil.rmtree(events_dir, ignore_errors=True)
    return {"times": times, "rows": log.report["lues"],
            "peak_mb_extra": sum(workers.values()),
            "check": {"acceptees": log.report["acceptees"],
                      "rejetees": log.report["rejetees"],
                      "conversion_parquet_s": [round(t, 1) for t in conversions],
                      "pic_memoire_processus_dask_mo": [round(v) for v in workers.values()]}}


def _worker_peak_mb() -> float:
    """``VmHWM`` of a Dask worker process, in MB (sent to the workers by value)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        return next(int(li.split()[1]) * 1024 / 1e6 for li in handle if li.startswith("VmHWM:"))


def _import_pair(ctx: Context, repeats: int) -> dict:
    """``pandas.read_csv`` then row-by-row checks (``apply``) and an HMAC per row.

    Vocabularies are matched with the library's own matcher
    (:func:`fragility.logs.schema.match_value`), so both accept the same registres.
    """
    import base64
    import datetime as dt
    import hashlib
    import hmac

    import pandas as pd

    from fragility.logs.pseudonymise import load_key, normalise_identifier
    from fragility.logs.schema import match_value

    table = ctx.table()
    iris_codes = set(table.gdf.index)
    communes = set(table.gdf["commune"])
    secret = load_key(KEY)
    today = dt.date.today()
    path = ctx.export("small")

    def number(text):
        return float(text.replace(",", ".")) if text else None

    def valid(row) -> bool:
        try:
            day = dt.datetime.strptime(row["Date de l'intervention"], "%d/%m/%Y").date()
        except ValueError:
            return False
        if day > today or day.year < 2000:
            return False
        if match_value("registre", row["Registre d'intervention"]) is None:
            return False
        if match_value("thematique", row["Thématique"]) is None:
            return False
        iris, commune = row["Code IRIS"].strip(), row["Code commune"].strip()
        if iris and iris not in iris_codes:
            return False
        if commune and commune not in communes:
            return False
        try:
            lat, lon = number(row["Latitude"]), number(row["Longitude"])
        except ValueError:
            return False
        if (lat is None) != (lon is None):
            return False
        if lat is not None and not (41.2 <= lat <= 51.2 and -5.3 <= lon <= 9.7):
            return False
        return bool(iris or commune or lat is not None or row["QPV"].strip())

    def pseudonym(value):
        norm = normalise_identifier(value)
        if norm is None:
            return None
        mac = hmac.new(secret, ("person\x1f" + norm).encode("utf-8"), hashlib.sha256)
        return base64.b32encode(mac.digest()[:17]).decode("ascii")[:26]

    def run():
        frame = pd.read_csv(path, sep=";", encoding="cp1252", dtype=str,
                            keep_default_na=False)
        frame = frame[frame.apply(valid, axis=1)].drop_duplicates()
        frame["person_key"] = frame["Identifiant usager"].apply(pseudonym)
        return frame.drop(columns=["Nom", "Prénom", "Téléphone", "Commentaire",
                                   "Identifiant usager", "Médiateur"])

    times, frame = _timed(run, repeats)
    check = {"acceptees": len(frame)}
    keys_path = ctx.work / f"keys_{ctx.scale.events[0]}.parquet"
    if keys_path.is_file():
        ours = pd.read_parquet(keys_path).set_index("source_line")["person_key"]
        theirs = frame["person_key"].set_axis(frame.index + 2)
        common = ours.index.intersection(theirs.index)
        same = (ours.loc[common].fillna("") == theirs.loc[common].fillna("")).to_numpy()
        check |= {"lignes_acceptees_par_les_deux": len(common),
                  "pseudonymes_identiques": bool(same.all())}
    return {"times": times, "rows": int(sum(1 for _ in open(path, "rb")) - 1),
            "check": check}


def _points(ctx: Context):
    import numpy as np

    with np.load(ctx.data.points) as data:
        return data["lon"], data["lat"], data["iris"]


def _locate(ctx: Context, repeats: int) -> dict:
    import numpy as np
    import pandas as pd

    from fragility.logs import locate

    table = ctx.table()
    lon, lat, truth = _points(ctx)
    events = pd.DataFrame({"latitude": lat, "longitude": lon, "geo_iris": None,
                           "geo_commune": None, "geo_qpv": None},
                          index=pd.RangeIndex(len(lon), name="ligne"))
    times, located = _timed(lambda: locate(events, table.gdf), repeats)
    found = located.events["geo_iris"].reindex(events.index).to_numpy(dtype=object)
    np.save(ctx.work / "locate.npy", found.astype("U9"))
    return {"times": times, "rows": len(lon),
            "check": {"comme_le_point_tire": int((found == truth).sum()),
                      "hors_iris": len(located.rejects),
                      "sur_une_limite": located.on_boundary}}


def _locate_pair(ctx: Context, repeats: int) -> dict:
    import geopandas as gpd
    import numpy as np

    table = ctx.table()
    iris = table.gdf[["geometry"]]
    lon, lat, _ = _points(ctx)

    def run():
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        return gpd.sjoin(points.to_crs(iris.crs), iris)

    times, joined = _timed(run, repeats)
    column = next(c for c in joined.columns if c != "geometry")
    once = ~joined.index.duplicated(keep=False)
    check = {"trouves_une_fois": int(once.sum())}
    ours_path = ctx.work / "locate.npy"
    if ours_path.is_file():
        ours = np.load(ours_path)
        theirs = joined.loc[once, column].astype(str)
        check["identiques"] = int((ours[theirs.index.to_numpy()] == theirs.to_numpy()).sum())
        check["differents"] = check["trouves_une_fois"] - check["identiques"]
    return {"times": times, "rows": len(lon), "check": check}


def _aggregate(ctx: Context, repeats: int) -> dict:
    from fragility.logs import aggregate

    events, _ = ctx.events()
    times, result = _timed(lambda: aggregate(events, level="iris"), repeats)
    return {"times": times, "rows": len(events), "check": {"cellules": len(result)}}


def _indicators(ctx: Context, repeats: int) -> dict:
    from fragility.indicators import compute_indicators

    table = ctx.table()
    times, result = _timed(lambda: compute_indicators(table), repeats)
    return {"times": times, "rows": len(result), "check": {"colonnes": result.shape[1]}}


def _indices(ctx: Context, repeats: int) -> dict:
    import warnings

    from fragility.composite import compute_index, load_config
    from fragility.errors import FragilityWarning
    from fragility.indicators import compute_indicators

    table = ctx.table()
    gdf = table.gdf
    indicators = compute_indicators(table)
    config = load_config()

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)
            return {name: compute_index(indicators, name, population=gdf["population"],
                                        iris_type=gdf["iris_type"], seed=0, config=config)
                    for name in config.indices}

    times, results = _timed(run, repeats)
    return {"times": times, "rows": len(gdf),
            "check": {"indices": list(results),
                      "tirages": [int(r.draws) if hasattr(r, "draws") else None
                                  for r in results.values()]}}


def _need(gdf):
    import pandas as pd

    need = pd.DataFrame(index=gdf.index)
    for column in ("isolation_index", "non_recours_index", "qpv_share"):
        if column in gdf:
            need[column] = pd.to_numeric(gdf[column], errors="coerce")
    return need


def _coverage(ctx: Context, repeats: int) -> dict:
    from fragility.coverage import assess_coverage
    from fragility.underserved import flag_underserved

    gdf = ctx.indexed()
    events, n = ctx.events()
    located = events[events["geo_level"].eq("iris")]
    observed = located.groupby("geo_iris").size()
    del events, located
    need = _need(gdf)

    def run():
        cov = assess_coverage(observed, gdf["population"], need, iris_type=gdf["iris_type"])
        return flag_underserved(cov, need, index=gdf.index)

    times, flags = _timed(run, repeats)
    return {"times": times, "rows": len(gdf),
            "check": {"evenements": n,
                      "signalements": {str(k): int(v) for k, v in
                                       flags["flag"].value_counts().items()}}}


def _2sfca_inputs(ctx: Context):
    import geopandas as gpd
    import pandas as pd

    from fragility.accessibility import demand_points

    table = ctx.table()
    gdf = table.gdf
    demand = gpd.GeoDataFrame(
        {"population": pd.to_numeric(gdf["population"], errors="coerce").fillna(0.0)},
        geometry=demand_points(gdf).values, index=gdf.index, crs=gdf.crs)
    services = table.services.to_crs(gdf.crs)
    supply = gpd.GeoDataFrame(
        {"capacity": 1.0}, geometry=services.geometry.values, crs=gdf.crs,
        index=pd.Index([f"FS{k:05d}" for k in range(len(services))], name="site"))
    return demand, supply


def _2sfca(ctx: Context, repeats: int) -> dict:
    from fragility.accessibility import distance_pairs, two_step_fca

    demand, supply = _2sfca_inputs(ctx)
    times, result = _timed(lambda: two_step_fca(
        demand, supply, demand_value="population", supply_value="capacity",
        max_distance=MAX_DISTANCE), repeats)
    result.to_frame("a").to_parquet(ctx.work / "2sfca.parquet")
    pairs = distance_pairs(demand, supply, MAX_DISTANCE)
    return {"times": times, "rows": len(demand),
            "check": {"services": len(supply), "paires": len(pairs)}}


def _2sfca_pair(ctx: Context, repeats: int) -> dict:
    import logging

    import access
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    logging.getLogger("access").setLevel(logging.WARNING)
    demand, supply = _2sfca_inputs(ctx)

    def run():
        joined = gpd.sjoin(demand[["geometry"]], supply[["geometry"]], predicate="dwithin",
                           distance=MAX_DISTANCE)
        right = joined[next(c for c in joined.columns if c != "geometry")]
        cost = pd.DataFrame({
            "origin": joined.index.to_numpy(), "dest": right.to_numpy(),
            "cost": shapely.distance(joined.geometry.values,
                                     supply.geometry.loc[right].values)})
        model = access.Access(demand_df=pd.DataFrame(demand.drop(columns="geometry")),
                              demand_value="population",
                              supply_df=pd.DataFrame(supply.drop(columns="geometry")),
                              supply_value="capacity", cost_df=cost, cost_origin="origin",
                              cost_dest="dest", cost_name="cost")
        return model.two_stage_fca(name="a", max_cost=MAX_DISTANCE)["a_capacity"]

    times, theirs = _timed(run, repeats)
    check = {}
    ours_path = ctx.work / "2sfca.parquet"
    if ours_path.is_file():
        ours = pd.read_parquet(ours_path)["a"]
        gap = np.abs(ours.to_numpy() - theirs.reindex(ours.index).fillna(0.0).to_numpy())
        check = {"ecart_max": float(gap.max()),
                 "ecart_relatif_max": float(gap.max() / np.abs(ours.to_numpy()).max())}
    return {"times": times, "rows": len(demand), "check": check}


def _lisa_inputs(ctx: Context):
    from fragility.spatial import weights

    gdf = ctx.indexed()
    values = gdf["isolation_index"].astype(float)
    values = values.fillna(values.median())
    return values, weights(gdf)


def _lisa(ctx: Context, repeats: int) -> dict:
    from fragility.spatial import lisa

    values, w = _lisa_inputs(ctx)
    times, result = _timed(lambda: lisa(values, w, permutations=999, seed=0), repeats)
    result[["lisa_i"]].to_parquet(ctx.work / "lisa.parquet")
    return {"times": times, "rows": len(values), "check": {}}


def _lisa_pair(ctx: Context, repeats: int) -> dict:
    import esda
    import numpy as np
    import pandas as pd

    values, w = _lisa_inputs(ctx)
    y = values.reindex(w.unique_ids).to_numpy()
    times, local = _timed(lambda: esda.Moran_Local(y, w), repeats)
    check = {}
    path = ctx.work / "lisa.parquet"
    if path.is_file():
        ours = pd.read_parquet(path)["lisa_i"].reindex(w.unique_ids).to_numpy()
        check = {"ecart_max_i_local": float(np.nanmax(np.abs(ours - local.Is)))}
    return {"times": times, "rows": len(y), "check": check}


def _diagnose_epci(ctx: Context, repeats: int) -> dict:
    import pickle

    from fragility.diagnose import diagnose

    territory = national.epci_territory(ctx.data.data_dir, ctx.data.epci)
    runs = iter(range(repeats))
    times, result = _timed(
        lambda: diagnose(territory, ctx.work / f"epci_{next(runs)}", progress=False), repeats)
    with open(ctx.work / "epci.pkl", "wb") as handle:  # for the report step
        pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return {"times": times, "rows": len(result.table.gdf),
            "check": {"epci": ctx.data.epci, "fichiers": len(result.files)}}


def _report_epci(ctx: Context, repeats: int) -> dict:
    import pickle

    from fragility.report import write_report

    with open(ctx.work / "epci.pkl", "rb") as handle:
        result = pickle.load(handle)
    out = ctx.work / "epci_report"
    times, _ = _timed(lambda: write_report(result, out / "rapport.html"), repeats)
    return {"times": times, "rows": len(result.table.gdf),
            "check": {"epci": ctx.data.epci}}


def _diagnose_national(ctx: Context, repeats: int) -> dict:
    from fragility.diagnose import diagnose

    territory = ctx.territory()
    logs = ctx.export("small")
    runs = iter(range(repeats))

    def run():
        out = ctx.work / f"national_{next(runs)}"
        try:
            return diagnose(territory, out, logs=logs, key=KEY, progress=False)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    times, result = _timed(run, repeats)
    return {"times": times, "rows": len(result.table.gdf),
            "check": {"evenements": int(result.assessment.log["lues"])}}


def _dask(ctx: Context, repeats: int) -> dict:
    import pandas as pd

    try:
        from fragility.logs.dask_engine import read_log_dask
    except ImportError as exc:
        return {"times": [], "rows": 0, "skipped": f"moteur Dask absent ({exc})"}
    from fragility.logs import read_log

    table = ctx.table()
    path = ctx.export("small")
    times, theirs = _timed(lambda: read_log_dask(path, table.gdf, key=KEY), repeats)
    ours = read_log(path, table.gdf, key=KEY)

    def comparable(events):
        return events.drop(columns=["event_id"]).sort_index()

    try:
        pd.testing.assert_frame_equal(comparable(ours.events), comparable(theirs.events))
        pd.testing.assert_frame_equal(ours.rejects.reset_index(drop=True),
                                      theirs.rejects.reset_index(drop=True))
        identical = ours.report == theirs.report
    except AssertionError:
        identical = False
    return {"times": times, "rows": ours.report["lues"],
            "check": {"identique_au_moteur_pandas": bool(identical)}}


CHILDREN = {
    "prepare": _prepare,
    "import_1m": lambda c, r: _import(c, r, "small"),
    "import_1m_pair": _import_pair,
    "import_10m": _import_large,
    "locate": _locate,
    "locate_pair": _locate_pair,
    "aggregate": _aggregate,
    "indicators": _indicators,
    "indices": _indices,
    "coverage": _coverage,
    "2sfca": _2sfca,
    "2sfca_pair": _2sfca_pair,
    "lisa": _lisa,
    "lisa_pair": _lisa_pair,
    "diagnose_epci": _diagnose_epci,
    "report_epci": _report_epci,
    "diagnose_national": _diagnose_national,
    "dask_1m": _dask,
}


def child(step: str, scale: national.Scale, repeats: int, work: Path, result: Path,
          profile: Path | None = None) -> None:
    """Run one step in this process and write its measures to ``result``.

    With ``profile`` (a folder), the step runs under pyinstrument and its call tree is
    written to ``<profile>/<step>.html`` and ``.txt``.
    """
    import warnings

    warnings.simplefilter("ignore")
    load = os.getloadavg()[0]
    ctx = Context(scale, work)
    if profile is None:
        out = CHILDREN[step](ctx, repeats)
    else:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        with profiler:
            out = CHILDREN[step](ctx, repeats)
        profile.mkdir(parents=True, exist_ok=True)
        (profile / f"{step}.html").write_text(profiler.output_html(), encoding="utf-8")
        (profile / f"{step}.txt").write_text(
            profiler.output_text(unicode=True, color=False), encoding="utf-8")
    out["peak_mb"] = peak_memory_mb() + out.pop("peak_mb_extra", 0.0)
    out["load_1min"] = load
    result.write_text(json.dumps(out, ensure_ascii=False, default=str), encoding="utf-8")


# ── orchestration and output ────────────────────────────────────────────────────────────────


#: Limits of one child on a shared machine: resident memory (MB) and duration (s).
LIMITS = {"memoire_mo": 12_000.0, "duree_s": 3_600.0}


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


def _watch(proc: subprocess.Popen, memory_mb: float, seconds: float) -> str | None:
    """Wait for ``proc``; stop it past the memory or time limit and say why (French)."""
    start = time.perf_counter()
    while proc.poll() is None:
        elapsed = time.perf_counter() - start
        rss = _rss_mb(proc.pid)
        if rss > memory_mb or elapsed > seconds:
            proc.kill()
            proc.wait()
            if rss > memory_mb:
                return (f"arrêté par le banc : mémoire résidente {rss:,.0f} Mo > limite "
                        f"{memory_mb:,.0f} Mo après {elapsed:,.0f} s").replace(",", "\u202f")
            return f"arrêté par le banc : plus de {seconds:,.0f} s".replace(",", "\u202f")
        time.sleep(0.2)
    return None


def _run_child(step: str, scale: national.Scale, repeats: int, work: Path,
               in_process: bool = False, profile: Path | None = None) -> dict:
    result = work / f"{step}.json"
    if in_process:  # smoke tests: no child process, peak memory of the whole process
        start = time.perf_counter()
        try:
            child(step, scale, repeats, work, result, profile)
        except Exception as exc:
            return {"times": [], "rows": 0, "error": f"{type(exc).__name__}: {exc}",
                    "wall_s": time.perf_counter() - start}
        out = json.loads(result.read_text(encoding="utf-8"))
        out["wall_s"] = time.perf_counter() - start
        return out
    start = time.perf_counter()
    log = work / f"{step}.log"
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", step, "--scale",
             scale.name, "--repeats", str(repeats), "--work", str(work), "--result",
             str(result), *([] if profile is None else ["--profil", str(profile)])],
            stdout=handle, stderr=subprocess.STDOUT, text=True)
        stopped = _watch(proc, LIMITS["memoire_mo"], LIMITS["duree_s"])
    wall = time.perf_counter() - start
    if stopped:
        return {"times": [], "rows": 0, "error": stopped, "wall_s": wall}
    if proc.returncode != 0 or not result.is_file():
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return {"times": [], "rows": 0, "error": " | ".join(lines[-3:]) or
                f"processus arrêté (code {proc.returncode})", "wall_s": wall}
    out = json.loads(result.read_text(encoding="utf-8"))
    out["wall_s"] = wall
    return out


def _summary(raw: dict) -> dict:
    times = raw.get("times") or []
    median = statistics.median(times) if times else None
    return {"mediane_s": median, "essais_s": [round(t, 3) for t in times],
            "lignes": raw.get("rows"),
            "lignes_par_s": round(raw["rows"] / median) if median else None,
            "pic_memoire_mo": round(raw["peak_mb"]) if raw.get("peak_mb") else None,
            "charge_1min": raw.get("load_1min"), "verification": raw.get("check"),
            "erreur": raw.get("error") or raw.get("skipped")}


def _status(step: str, row: dict) -> tuple[str, str]:
    target = STEPS[step][1]
    median = row["mediane_s"]
    if target is None and step not in ("2sfca",):
        return "—", "—"
    parts, met = [], True
    if target is not None:
        parts.append(f"< {target:g} s")
        met &= median is not None and median < target
    if step == "2sfca":
        parts.append(f"≥ × {TARGET_RATIO_2SFCA:g} vs access")
        met &= (row.get("ratio") or 0) >= TARGET_RATIO_2SFCA
    if step == "diagnose_national":
        parts.append(f"< {TARGET_MEMORY_MB / 1000:g} Go")
        met &= (row["pic_memoire_mo"] or float("inf")) < TARGET_MEMORY_MB
    return " et ".join(parts), "atteint" if met else "non atteint"


def _fr(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}".replace(",", "\u202f")
    return text.replace(".", ",")


def _seconds(value) -> str:
    if value is None:
        return "—"
    return _fr(value, 3 if value < 1 else 2 if value < 10 else 1) + " s"


def write_results(rows: dict, meta: dict, out: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": meta["machine"], "mode": meta["mode"], "essais": meta["repeats"],
               "donnees": meta["info"], "duree_totale_s": meta["total_s"],
               "charge_1min_debut": meta["load_start"],
               "etapes_relancees": meta.get("rerun", []), "etapes": rows}
    json_path = out / "results.json"
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n",
                         encoding="utf-8")
    m = meta["machine"]
    info = meta["info"]
    loads = [r["charge_1min"] for r in rows.values() if r.get("charge_1min") is not None]
    lines = [
        "# Banc d'essai national (données synthétiques)",
        "",
        "*Produit par `make bench` (`bench/bench_national.py`) ; ne pas modifier à la main.*",
        "",
        f"Machine : {m['coeurs']} cœurs ({m['processeur']}), {_fr(m['memoire_gio'], 1)} Gio "
        f"de mémoire, Python {m['python']} ; pandas {m['versions']['pandas']}, geopandas "
        f"{m['versions']['geopandas']}, esda {m['versions']['esda']}, access "
        f"{m['versions']['access']}.",
        "",
        f"Territoire synthétique ({meta['mode']}) : {_fr(info['iris'])} IRIS "
        f"({_fr(info['sommets_moyens'], 1)} sommets en moyenne), {_fr(info['communes'])} "
        f"communes, {_fr(info['epci'])} EPCI, {_fr(info['qpv'])} QPV, "
        f"{_fr(info['france_services'])} France services, {_fr(info['population'])} habitants "
        f"fictifs ; EPCI du banc : {info['epci_banc']}.",
        "",
        f"Chaque étape : médiane de {meta['repeats']} essais (1 seul pour "
        + ", ".join(sorted(MAX_TRIALS)) + ", longues de plusieurs minutes), dans un processus "
        "neuf qui charge d'abord ses entrées (non chronométré). Pic mémoire : `VmHWM` du "
        "processus (mémoire résidente maximale, entrées comprises). Les pairs sont mesurés "
        "dans la même exécution, sur les mêmes entrées. Charge moyenne de la machine (1 min) "
        "au début des étapes : "
        + (f"{_fr(min(loads), 1)} à {_fr(max(loads), 1)}" if loads else "inconnue")
        + " (au-delà de 1, d'autres processus partageaient les 2 cœurs). Une étape est "
        f"arrêtée au-delà de {_fr(LIMITS['memoire_mo'])} Mo de mémoire résidente ou de "
        f"{_fr(LIMITS['duree_s'])} s (machine partagée)."
        + (" Étapes relancées seules ensuite (`--fusionner`, "
           "voir la colonne « essais »), "
           "les autres lignes gardant leur mesure : " + ", ".join(meta["rerun"]) + "."
           if meta.get("rerun") else ""),
        "",
        "| étape | lignes | médiane | essais | lignes/s | pic mémoire | pair | médiane du pair "
        "| ratio | objectif | statut |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for step, row in rows.items():
        peer = row.get("pair")
        trials = " ; ".join(_fr(t, 2) for t in row["essais_s"]) or "—"
        label = STEPS[step][0].format(small=_fr(min(meta["events"])),
                                      large=_fr(max(meta["events"])))
        if row.get("erreur"):
            label += f" — **{row['erreur']}**"
        lines.append(
            f"| {label} | {_fr(row['lignes'])} | {_seconds(row['mediane_s'])} | {trials} | "
            f"{_fr(row['lignes_par_s'])} | "
            f"{_fr(row['pic_memoire_mo']) + ' Mo' if row['pic_memoire_mo'] else '—'} | "
            f"{PEERS[STEPS[step][2]] if peer else '—'} | "
            f"{_seconds(peer['mediane_s']) if peer else '—'} | "
            f"{'× ' + _fr(row['ratio'], 1) if row.get('ratio') else '—'} | "
            f"{row['objectif']} | {row['statut']} |")
    lines += ["", "## Vérifications", ""]
    for step, row in rows.items():
        checks = {"nous": row.get("verification")}
        if row.get("pair"):
            checks["pair"] = row["pair"].get("verification")
            checks["pic mémoire du pair (Mo)"] = row["pair"].get("pic_memoire_mo")
        lines.append(f"- **{step}** : `{json.dumps(checks, ensure_ascii=False)}`")
    lines += [
        "",
        "Notes :",
        "",
        "- Localisation : points tirés uniformément dans des IRIS choisis selon la "
        "population ; « comme le point tiré » compte ceux rendus à l'IRIS où ils ont été "
        "tirés. La jointure du tutoriel (`predicate=\"intersects\"`) compte deux fois un point "
        "sur une limite : seuls les points qu'elle trouve une seule fois sont comparés.",
        "- 2SFCA : `access.create_euclidean_distance` ferait un produit cartésien dense "
        "(IRIS × services, 137 millions de lignes au niveau national) ; la table des coûts "
        "d'access est donc construite par `geopandas.sjoin(predicate=\"dwithin\")`, "
        "chronométrée avec access. Les IRIS sans service à portée, manquants chez access, "
        "valent 0.",
        "- LISA : notre `lisa` est `esda.Moran_Local` avec une graine fixe et le graphe "
        "réparé (sans île) ; le pair est `esda.Moran_Local(y, w)` avec ses défauts "
        "(graine aléatoire), sur le même graphe : les I locaux sont identiques, les "
        "p-valeurs dépendent des permutations.",
        "- Import, pair : `pandas.read_csv` puis `apply` ligne à ligne (date, registre, "
        "thématique, codes, coordonnées), doublons retirés, HMAC par ligne ; il ne fait ni "
        "le relevé des rejets ligne à ligne, ni le contrôle des données identifiantes, ni la "
        "localisation : les nombres de lignes acceptées diffèrent, les pseudonymes des lignes "
        "acceptées par les deux sont comparés.",
        "- diagnose national : toutes les étapes et toutes les sorties (table, cartes, "
        "carte interactive, rapport, manifeste) avec le plus petit des deux journaux.",
    ]
    md_path = out / "results.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md_path, json_path


def main(quick: bool = False, repeats: int | None = None, out: Path | None = None,
         steps: list[str] | None = None, *, scale: national.Scale | None = None,
         in_process: bool = False, merge: bool = False, profile: Path | None = None) -> dict:
    """Run the suite (each step in its own child process) and write the result files.

    Parameters
    ----------
    quick : bool, default False
        Small territory (:data:`national.QUICK`); results outside the repository.
    repeats : int, optional
        Trials per step (default 3, 2 with ``quick``).
    out : pathlib.Path, optional
        Folder of ``results.md`` and ``results.json`` (default ``bench/``).
    steps : list of str, optional
        Steps to run (default: all of :data:`STEPS`).
    scale : national.Scale, optional
        Any other size (tests use a tiny one).
    in_process : bool, default False
        Run the steps in this process (smoke tests); peak memory is then the process's.
    merge : bool, default False
        Keep the other steps of the ``results.json`` already in ``out`` (same territory)
        and replace only the steps run now; the result files list the steps rerun.
    profile : pathlib.Path, optional
        Folder of a pyinstrument profile per step (``<step>.html``, ``<step>.txt``);
        the result files go there too unless ``out`` is given.

    Returns
    -------
    dict
        ``rows`` (the measures by step), ``markdown`` and ``json`` (the files written).
    """
    scale = scale or (national.QUICK if quick else national.NATIONAL)
    repeats = repeats or (2 if quick else 3)
    if out is None and profile is not None:  # profiled timings never replace bench/results
        out = profile
    if out is None:
        out = HERE if scale is national.NATIONAL else national.cache_home() / "resultats"
    start_all = time.perf_counter()
    load_start = os.getloadavg()[0]
    print(f"Données ({scale.name})…", flush=True)
    data = national.national_data(scale)
    home = national.cache_home()
    home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="travail-", dir=home))
    rows: dict[str, dict] = {}
    try:
        prep = _run_child("prepare", scale, 1, work, in_process)
        if prep.get("error"):
            raise RuntimeError(f"préparation impossible : {prep['error']}")
        for step in steps or list(STEPS):
            trials = min(repeats, MAX_TRIALS.get(step, repeats))
            raw = _run_child(step, scale, trials, work, in_process, profile)
            row = _summary(raw)
            peer_id = STEPS[step][2]
            if peer_id:
                peer = _summary(_run_child(peer_id, scale, trials, work, in_process))
                row["pair"] = peer
                if row["mediane_s"] and peer["mediane_s"]:
                    row["ratio"] = peer["mediane_s"] / row["mediane_s"]
            row["objectif"], row["statut"] = _status(step, row)
            if row.get("erreur") and row["statut"] != "—":
                row["statut"] = "non mesuré"
            rows[step] = row
            print(f"  {step} : {_seconds(row['mediane_s'])}"
                  + (f" (pair {_seconds(row['pair']['mediane_s'])})" if row.get("pair") else "")
                  + (f" — {row['erreur']}" if row.get("erreur") else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"machine": _machine(), "mode": scale.name, "repeats": repeats, "info": data.info,
            "events": scale.events,
            "total_s": round(time.perf_counter() - start_all, 1), "load_start": load_start,
            "rerun": []}
    if merge and (out / "results.json").is_file():
        previous = json.loads((out / "results.json").read_text(encoding="utf-8"))
        if previous.get("mode") != scale.name:
            raise RuntimeError("fusion impossible : les résultats existants portent sur un "
                               f"autre territoire ({previous.get('mode')}).")
        meta["rerun"] = sorted(set(previous.get("etapes_relancees", [])) | set(rows))
        meta["rerun_repeats"], meta["repeats"] = repeats, previous["essais"]
        meta["total_s"] = round(meta["total_s"] + previous["duree_totale_s"], 1)
        rows = {step: rows.get(step, previous["etapes"].get(step)) for step in STEPS
                if step in rows or step in previous["etapes"]}
    md_path, json_path = write_results(rows, meta, out)
    print(md_path.read_text(encoding="utf-8"))
    return {"rows": rows, "markdown": md_path, "json": json_path}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="petit territoire (essai rapide) ; résultats hors du dépôt")
    parser.add_argument("--repeats", type=int, default=None,
                        help="essais par étape (défaut : 3, 2 en --quick)")
    parser.add_argument("--out", type=Path, default=None,
                        help="dossier des fichiers de résultats (défaut : bench/)")
    parser.add_argument("--steps", nargs="*", default=None, help="étapes à lancer")
    parser.add_argument("--fusionner", action="store_true",
                        help="garder les autres étapes des résultats existants")
    parser.add_argument("--memoire-max", type=float, default=LIMITS["memoire_mo"],
                        help="mémoire résidente maximale d'une étape, en Mo (défaut 12 000)")
    parser.add_argument("--duree-max", type=float, default=LIMITS["duree_s"],
                        help="durée maximale d'une étape (tous essais), en s (défaut 3 600)")
    parser.add_argument("--profil", type=Path, default=None,
                        help="dossier où écrire le profil pyinstrument de chaque étape "
                        "(<étape>.html et .txt) ; les durées mesurées en portent le surcoût")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scale", default="national", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    LIMITS.update(memoire_mo=args.memoire_max, duree_s=args.duree_max)
    if args.child:
        child(args.child, national.QUICK if args.scale == "quick" else national.NATIONAL,
              args.repeats or 1, args.work, args.result, args.profil)
    else:
        main(quick=args.quick, repeats=args.repeats, out=args.out, steps=args.steps,
             merge=args.fusionner, profile=args.profil)
