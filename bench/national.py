"""Synthetic national-scale territory for the benchmarks: generated once, cached, deterministic.

About 49,000 IRIS over a France-shaped outline in Lambert-93: some 2,000 cities split into
IRIS (Zipf-like sizes, from 2 to 900 IRIS, denser towards their centre) and about 33,500
unsplit rural communes (one IRIS each), grouped into 94 départements and about 1,250
EPCI. Contours are Voronoi cells, densified and warped by a smooth displacement field so
that they have realistic vertex counts (about 60 on average) and wiggly shared edges
while still tiling the territory. The census and Filosofi tables are drawn by the very
generators of :mod:`fragility.demo` (same latent model, same official layouts), then
come about 1,360 QPV, 2,800 France services, the COG (communes and EPCI), simulated
mediation exports of 1 M and 10 M events (:func:`fragility.logs.simulate_export`, in
chunks of 1 M rows) and 10 M coordinates for the point-location benchmark.

Everything comes from fixed seeds. The cache folder is
``$FRAGILITY_BENCH_CACHE`` (default: the user cache of ``fragility``, ``bench/``), then
``national-{scale}-{key}`` where ``key`` hashes the parameters and the source of this
module, :mod:`fragility.demo` and :mod:`fragility.logs.simulate`: a change of generator
gives a new folder, never a stale one. A folder is written beside its final place and
moved in one step, with a ``.complete`` marker.

Run ``python bench/national.py [--quick]`` to generate (or find) the data and print the
folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from fragility import demo
from fragility._files import atomic_path, atomic_write
from fragility.conventions import CRS_L93, CRS_WGS84

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1

#: Rough outline of metropolitan France (longitude, latitude), projected to Lambert-93.
_OUTLINE_LONLAT = [
    (2.55, 51.08), (4.2, 49.95), (5.8, 49.55), (6.4, 49.47), (8.2, 48.98), (7.6, 47.6),
    (6.9, 47.4), (6.1, 46.4), (7.0, 45.9), (6.7, 45.1), (7.0, 44.2), (7.5, 43.78),
    (6.6, 43.1), (5.0, 43.3), (4.0, 43.5), (3.1, 43.0), (3.2, 42.45), (1.7, 42.5),
    (-0.3, 42.8), (-1.8, 43.35), (-1.3, 44.5), (-1.2, 46.2), (-2.2, 47.1), (-4.5, 47.9),
    (-4.8, 48.4), (-3.0, 48.85), (-1.6, 48.65), (-1.9, 49.7), (-1.2, 49.4), (0.2, 49.5),
    (1.6, 50.2), (1.6, 50.9),
]
#: Metropolitan département codes (Corsica left out: its codes are not numeric).
_DEPARTEMENTS = [f"{d:02d}" for d in range(1, 96) if d != 20]


@dataclass(frozen=True)
class Scale:
    """Sizes of the synthetic territory and of its logs.

    Attributes
    ----------
    name : str
        ``"national"`` or ``"quick"``.
    split_iris : int
        IRIS of the communes split into IRIS (cities).
    rural : int
        Unsplit communes (one IRIS each).
    biggest_city : int
        IRIS of the largest city (Zipf-like sizes below it).
    services : int
        France services.
    qpv : int
        Priority neighbourhoods (QPV).
    events : tuple of int
        Sizes of the simulated exports (rows); the largest is written in chunks.
    chunk : int
        Rows simulated at once.
    points : int
        Coordinates drawn for the point-location benchmark.
    seed : int
        Seed of everything.
    """

    name: str
    split_iris: int
    rural: int
    biggest_city: int
    services: int
    qpv: int
    events: tuple[int, ...]
    chunk: int
    points: int
    seed: int = 2154


NATIONAL = Scale("national", split_iris=15_500, rural=33_500, biggest_city=900,
                 services=2_800, qpv=1_360, events=(1_000_000, 10_000_000),
                 chunk=1_000_000, points=10_000_000)
QUICK = Scale("quick", split_iris=700, rural=900, biggest_city=120, services=90, qpv=40,
              events=(20_000, 60_000), chunk=20_000, points=100_000)


@dataclass(frozen=True)
class NationalData:
    """Paths of a generated national territory.

    Attributes
    ----------
    root : pathlib.Path
        The cache folder.
    data_dir : pathlib.Path
        Official-layout files (contours, census, Filosofi, QPV, France services, COG).
    exports : dict of int to pathlib.Path
        Simulated exports (CSV, Windows-1252, ``;``) by number of rows.
    points : pathlib.Path
        ``.npz`` with ``lon``, ``lat`` (WGS84) and ``iris`` (the IRIS each point was
        drawn in).
    epci : str
        SIREN of the EPCI used for the one-EPCI benchmarks.
    info : dict
        Counts (IRIS, communes, EPCI, QPV, services, population) and generation times.
    """

    root: Path
    data_dir: Path
    exports: dict[int, Path]
    points: Path
    epci: str
    info: dict


def cache_home() -> Path:
    """Cache folder of the benchmark data (``$FRAGILITY_BENCH_CACHE`` or the user cache)."""
    if os.environ.get("FRAGILITY_BENCH_CACHE"):
        return Path(os.environ["FRAGILITY_BENCH_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("fragility")) / "bench"


def cache_key(scale: Scale) -> str:
    """Hash of the parameters and of the generators' source code."""
    import fragility.logs.simulate as simulate

    digest = hashlib.sha256(json.dumps(asdict(scale), sort_keys=True).encode())
    digest.update(str(GENERATOR_VERSION).encode())
    for module in (Path(__file__), Path(demo.__file__), Path(simulate.__file__)):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:12]


# ── geography ───────────────────────────────────────────────────────────────────────────────


def _outline() -> shapely.Polygon:
    lon, lat = np.array(_OUTLINE_LONLAT).T
    x, y = Transformer.from_crs(CRS_WGS84, CRS_L93, always_xy=True).transform(lon, lat)
    return shapely.Polygon(np.c_[x, y])


def _uniform_in(rng, shape, n: int, exclude=None) -> np.ndarray:
    """``n`` uniform points inside ``shape``, optionally outside the discs ``exclude``."""
    minx, miny, maxx, maxy = shape.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform([minx, miny], [maxx, maxy], (2 * n, 2))
        keep = shapely.contains_xy(shape, xy[:, 0], xy[:, 1])
        if exclude is not None:
            centres, radii = exclude
            dist, idx = cKDTree(centres).query(xy, k=min(8, len(centres)))
            dist, idx = dist.reshape(len(xy), -1), idx.reshape(len(xy), -1)
            keep &= (dist >= radii[idx]).all(1)
        out = np.vstack([out, xy[keep]])
    return out[:n]


def _city_sizes(scale: Scale) -> np.ndarray:
    """IRIS per city: Zipf-like (900 r^-0.8), at least 2, summing to ``split_iris``."""
    sizes = []
    rank, total = 1, 0
    while total < scale.split_iris:
        size = max(2, int(scale.biggest_city * rank ** -0.8))
        size = min(size, scale.split_iris - total)
        if size < 2:
            sizes[-1] += size
            break
        sizes.append(size)
        total += size
        rank += 1
    return np.array(sizes)


def _seeds(rng, scale: Scale, outline):
    """IRIS seeds: city clusters then rural communes; commune of each seed."""
    sizes = _city_sizes(scale)
    radius = np.sqrt(sizes * 0.6e6 / np.pi)  # 0.6 km² per urban IRIS
    centres = np.empty((0, 2))
    inner = shapely.buffer(outline, -5_000)
    for r in radius:  # biggest first, never overlapping a bigger one
        while True:
            c = _uniform_in(rng, inner, 1)
            if not len(centres) or (np.hypot(*(centres - c).T)
                                    > radius[:len(centres)] + r + 2_000).all():
                centres = np.vstack([centres, c])
                break
    xy, commune, rank = [], [], []
    for k, (n, r) in enumerate(zip(sizes, radius, strict=True)):
        rho = r * rng.random(n) ** 0.65  # denser towards the centre
        theta = rng.uniform(0, 2 * np.pi, n)
        pts = centres[k] + np.c_[rho * np.cos(theta), rho * np.sin(theta)]
        order = np.argsort(rho)
        xy.append(pts[order])
        commune += [k] * n
        rank.append(np.arange(n))
    rural = _uniform_in(rng, outline, scale.rural, exclude=(centres, radius * 1.1))
    xy = np.vstack([*xy, rural])
    commune = np.r_[commune, len(sizes) + np.arange(scale.rural)]
    rank = np.r_[np.concatenate(rank), np.zeros(scale.rural, dtype=int)]
    return xy, commune.astype(int), rank.astype(int), sizes, centres


def _densify(cells: np.ndarray, tree: cKDTree) -> np.ndarray:
    """Add vertices on every edge: as many as the local IRIS spacing asks.

    The number of pieces of an edge depends on its midpoint only, so the two cells
    sharing an edge get the same new vertices.
    """
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(cells), return_index=True)
    a, b = coords[:-1], coords[1:]
    same = ring[:-1] == ring[1:]
    a, b, seg_ring = a[same], b[same], ring[:-1][same]
    mid = (a + b) / 2
    spacing = tree.query(mid, k=2)[0][:, 1]
    length = np.hypot(*(b - a).T)
    pieces = np.clip(np.ceil(length / (spacing / 7.0)), 1, 200).astype(int)
    rep = np.repeat(np.arange(len(a)), pieces)
    t = (np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / pieces[rep]
    pts = a[rep] + (b[rep] - a[rep]) * t[:, None]
    pts_ring = seg_ring[rep]
    # close each ring with its first point
    first = np.r_[0, np.flatnonzero(np.diff(pts_ring)) + 1]
    closed = np.insert(pts, np.r_[first[1:], len(pts)], pts[first], axis=0)
    closed_ring = np.insert(pts_ring, np.r_[first[1:], len(pts)], pts_ring[first])
    rings = shapely.linearrings(closed, indices=closed_ring)
    return shapely.polygons(rings)


def _warp(xy: np.ndarray, rng_state: int) -> np.ndarray:
    """Smooth displacement field (a diffeomorphism: each term's slope is at most 0.075)."""
    rng = np.random.default_rng(rng_state)
    out = xy.copy()
    for wavelength in (6_000.0, 2_000.0, 700.0, 250.0):
        amplitude = 0.075 * wavelength / (2 * np.pi)
        for axis in (0, 1):
            angle = rng.uniform(0, 2 * np.pi)
            k = 2 * np.pi / wavelength * np.array([np.cos(angle), np.sin(angle)])
            out[:, axis] += amplitude * np.sin(xy @ k + rng.uniform(0, 2 * np.pi))
    return out


def _geography(rng, scale: Scale):
    outline = _outline()
    xy, commune, rank, sizes, centres = _seeds(rng, scale, outline)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy),
                                                       extend_to=outline, ordered=True))
    cells = shapely.intersection(cells, outline)
    multi = shapely.get_type_id(cells) != 3
    for i in np.flatnonzero(multi):  # a coastal cell cut in two keeps its larger part
        parts = shapely.get_parts(cells[i])
        parts = parts[shapely.get_type_id(parts) == 3]
        cells[i] = parts[np.argmax(shapely.area(parts))]
    tree = cKDTree(xy)
    cells = _densify(cells, tree)
    cells = shapely.transform(cells, lambda c: _warp(c, scale.seed + 1))
    cells = shapely.make_valid(cells)
    bad = shapely.get_type_id(cells) != 3
    for i in np.flatnonzero(bad):  # rare: keep the polygon part
        parts = shapely.get_parts(cells[i])
        parts = parts[shapely.get_type_id(parts) == 3]
        cells[i] = parts[np.argmax(shapely.area(parts))]

    n_city = len(sizes)
    seed_of_commune = np.vstack([centres, xy[commune >= n_city]])
    # départements: balanced k-means of the commune seeds
    dep_centre = seed_of_commune[rng.choice(len(seed_of_commune), len(_DEPARTEMENTS),
                                            replace=False)]
    for _ in range(12):
        dep_of = cKDTree(dep_centre).query(seed_of_commune)[1]
        for d in range(len(dep_centre)):
            if (dep_of == d).any():
                dep_centre[d] = seed_of_commune[dep_of == d].mean(0)
    dep_of = cKDTree(dep_centre).query(seed_of_commune)[1]
    n_communes = len(seed_of_commune)
    code = np.empty(n_communes, dtype=object)
    epci_of = np.empty(n_communes, dtype=object)
    for d, dep in enumerate(_DEPARTEMENTS):
        members = np.flatnonzero(dep_of == d)
        if len(members) > 999:
            raise RuntimeError("département de plus de 999 communes")
        order = members[np.lexsort((seed_of_commune[members, 0],
                                    -seed_of_commune[members, 1]))]
        code[order] = [f"{dep}{j + 1:03d}" for j in range(len(order))]
        n_epci = max(1, round(len(members) / 28))
        pts = seed_of_commune[members]
        ec = pts[rng.choice(len(pts), n_epci, replace=False)]
        for _ in range(8):
            lab = cKDTree(ec).query(pts)[1]
            for e in range(n_epci):
                if (lab == e).any():
                    ec[e] = pts[lab == e].mean(0)
        lab = cKDTree(ec).query(pts)[1]
        epci_of[members] = [demo._luhn(f"2{dep}{e + 1:05d}") for e in lab]

    n = len(xy)
    com = code[commune]
    is_city = commune < n_city
    size = np.where(is_city, sizes[np.minimum(commune, n_city - 1)], 1)
    kind = np.where(~is_city, "rural", np.where(size >= 20, "city", "suburb"))
    kind = np.where(is_city & (size >= 20) & (rank < np.maximum(2, size // 12)), "centre", kind)
    typ = np.where(is_city, "H", "Z").astype(object)
    u = rng.random(n)
    far = is_city & (rank > 0.7 * size) & (size >= 5)
    typ[far & (u < 0.10)] = "A"
    typ[far & (u > 0.97)] = "D"
    iris4 = np.where(is_city, [f"{r // 90 + 1:02d}{r % 90 + 1:02d}" for r in rank], "0000")
    nom_commune = np.array([f"Commune {c}" for c in code], dtype=object)
    generic = np.array(demo._NAMES, dtype=object)
    nom_iris = np.where(is_city, generic[(rank * 7 + commune) % len(generic)] + " "
                        + (rank + 1).astype(str), nom_commune[commune])
    iris = gpd.GeoDataFrame({
        "com": com, "nom_commune": nom_commune[commune], "kind": kind, "typ": typ,
        "nom_iris": nom_iris, "iris": iris4, "rank": rank}, geometry=cells, crs=CRS_L93)
    iris["code_iris"] = iris["com"] + iris["iris"]
    communes = pd.DataFrame({"code": code, "epci": epci_of, "x": seed_of_commune[:, 0],
                             "y": seed_of_commune[:, 1],
                             "city_iris": np.r_[sizes, np.ones(n - is_city.sum(), int)]})
    return iris.sort_values("code_iris").set_index("code_iris", drop=False), communes


def _qpv(rng, scale: Scale, iris: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """QPV blobs around vertices of city IRIS (bigger cities get more of them)."""
    city = iris[iris["kind"].isin(["city", "centre"]) & (iris["typ"] == "H")]
    weight = np.sqrt(city.area.to_numpy()) ** -1.0
    picks = rng.choice(len(city), min(scale.qpv, len(city)), replace=False,
                       p=weight / weight.sum())
    rows = []
    per_dep: dict[str, int] = {}
    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    for k in picks:
        host = city.iloc[k]
        ring = shapely.get_coordinates(host.geometry.exterior)
        node = ring[rng.integers(len(ring))]
        radius = np.sqrt(host.geometry.area / np.pi) * rng.uniform(0.5, 0.9)
        r = radius * (1 + 0.12 * np.cos(3 * theta + rng.uniform(0, 6.3)))
        blob = shapely.Polygon(node + np.c_[r * np.cos(theta), r * np.sin(theta)])
        dep = host["com"][:2]
        per_dep[dep] = per_dep.get(dep, 0) + 1
        rows.append(dict(code_qp=f"QN{int(dep):03d}{per_dep[dep]:03d}",
                         lib_qp=f"Quartier prioritaire {dep}-{per_dep[dep]}",
                         insee_com=host["com"], lib_com=host["nom_commune"],
                         insee_dep=f"{int(dep):03d}", geometry=blob))
    return gpd.GeoDataFrame(rows, crs=CRS_L93)


def _france_services(rng, scale: Scale, iris, population: pd.Series) -> list[list]:
    """France services: one per big commune, the rest drawn by population."""
    inhabited = iris[population.reindex(iris.index).fillna(0).to_numpy() > 0]
    p = population.reindex(inhabited.index).to_numpy(float) ** 0.6
    picks = rng.choice(len(inhabited), scale.services, replace=False, p=p / p.sum())
    chosen = inhabited.iloc[np.sort(picks)]
    points = chosen.geometry.representative_point()
    lonlat = points.to_crs(CRS_WGS84)
    rows = []
    for k, (_code, row) in enumerate(chosen.iterrows()):
        lon, lat = lonlat.iloc[k].coords[0]
        hours = [demo._HOURS[int(rng.integers(0, 2))]] * 5
        rows.append([str(100_000 + k), row["com"][:2], f"France services {row['nom_commune']}",
                     f"{rng.integers(1, 40)} Place de la Mairie", "", row["com"],
                     f"{row['com'][:2]}{rng.integers(0, 1000):03d}", row["nom_commune"],
                     round(lat, 6), round(lon, 6), f"fs{k}@exemple.invalid", "",
                     *hours, "", "Non", "Structure fictive (données synthétiques)",
                     "Principal", "Fixe", "", "Espace labellisé 01/01/2022"])
    return rows


def _cog(iris, communes: pd.DataFrame, population: pd.Series) -> tuple[list, list]:
    """Etalab COG objects: current communes and EPCI with their members."""
    pop = population.groupby(iris["com"]).sum().round().astype(int)
    objects, members = [], {}
    for c in communes.itertuples(index=False):
        municipale = int(pop.get(c.code, 0))
        siren = demo._luhn(f"21{c.code[:2]}0{c.code[2:]}")
        objects.append({"code": c.code, "nom": f"Commune {c.code}", "typeLiaison": 0,
                        "zone": "metro", "arrondissement": f"{c.code[:2]}1",
                        "departement": c.code[:2], "region": "00",
                        "type": "commune-actuelle", "rangChefLieu": 0, "siren": siren,
                        "codesPostaux": [f"{c.code[:2]}000"], "population": municipale})
        members.setdefault(c.epci, []).append(
            {"code": c.code, "siren": siren, "nom": f"Commune {c.code}",
             "populationTotale": municipale, "populationMunicipale": municipale})
    epci = []
    for code, mem in sorted(members.items()):
        mem.sort(key=lambda m: -m["populationMunicipale"])
        total = sum(m["populationMunicipale"] for m in mem)
        epci.append({"code": code, "nom": f"EPCI {code} (données synthétiques)",
                     "type": "CA" if total > 50_000 else "CC", "modeFinancement": "FPU",
                     "populationTotale": total, "populationMunicipale": total,
                     "membres": mem})
    return objects, epci


def write_national_data(directory: Path, scale: Scale) -> dict:
    """Write the official-layout files of the synthetic national territory.

    Returns
    -------
    dict
        Counts and the SIREN of the EPCI chosen for the one-EPCI benchmarks.
    """
    rng = np.random.default_rng(scale.seed)
    iris, communes = _geography(rng, scale)
    qpv = _qpv(rng, scale, iris)
    tree = shapely.STRtree(qpv.geometry.values)
    left, right = tree.query(iris.geometry.values, predicate="intersects")
    share = np.zeros(len(iris))
    if len(left):
        inter = shapely.area(shapely.intersection(iris.geometry.values[left],
                                                  qpv.geometry.values[right]))
        np.add.at(share, left, inter)
    iris["qpv"] = np.clip(share / iris.area.to_numpy(), 0, 1)
    census, lat = demo._census(rng, iris)
    filo_iris, filo_com = demo._filosofi(rng, iris, lat)
    population = pd.Series(lat.pop, index=iris.index)
    fs = _france_services(rng, scale, iris, population)
    cog, epci = _cog(iris, communes, population)

    layer = iris.rename(columns={"com": "code_insee", "typ": "type_iris"})[
        ["code_insee", "nom_commune", "iris", "code_iris", "nom_iris", "type_iris", "geometry"]]
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00Z"})
    try:
        with atomic_path(directory / "iris" / "contours_iris_national_2024.gpkg") as tmp:
            layer.reset_index(drop=True).to_file(
                tmp, layer="contours_iris", driver="GPKG", engine="pyogrio",
                promote_to_multi=True, layer_options={"GEOMETRY_NAME": "geometrie"})
        with atomic_path(directory / "qpv" / "QP2024_national_WGS84.geojson") as tmp:
            qpv.to_crs(CRS_WGS84).to_file(tmp, layer="QP2024_national_WGS84",
                                          driver="GeoJSON", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    ids = demo._census_ids(iris)
    for name, table in census.items():
        demo._write_csv(directory / "recensement" / f"base-ic-{name}-2020.CSV",
                        pd.concat([ids, table], axis=1))
    demo._write_csv(directory / "filosofi" / "BASE_TD_FILO_DISP_IRIS_2020.csv", filo_iris)
    demo._write_csv(directory / "filosofi" / "base-cc-filosofi-2020.CSV", filo_com)
    with atomic_write(directory / "france_services" / "liste-fs-national.csv",
                      encoding="utf-8", newline="") as handle:
        handle.write("\n".join([",".join(f'"{c}"' for c in demo._FS_COLS)]
                               + [demo._fs_line(r) for r in fs]) + "\n")
    for name, obj in (("communes", cog), ("epci", epci)):
        with atomic_write(directory / "cog" / f"{name}.json", encoding="utf-8") as handle:
            handle.write(json.dumps(obj, ensure_ascii=False))
    # one EPCI like Dijon Métropole: the EPCI of the tenth biggest city
    city_codes = communes["code"].to_numpy()[np.argsort(-communes["city_iris"].to_numpy(),
                                                        kind="stable")]
    epci_pick = communes.set_index("code").loc[city_codes[min(9, len(city_codes) - 1)], "epci"]
    n_vertices = shapely.get_num_coordinates(iris.geometry.values)
    return {"iris": len(iris), "communes": len(communes), "epci": len(epci),
            "departements": len(_DEPARTEMENTS), "qpv": len(qpv), "france_services": len(fs),
            "population": round(population.sum()),
            "sommets_moyens": round(float(n_vertices.mean()), 1),
            "sommets_medians": int(np.median(n_vertices)),
            "epci_banc": str(epci_pick)}


def national_territory(data_dir: Path, info: dict):
    """The synthetic national territory (every commune), marked synthetic."""
    from fragility.territory import Territory, load_cog

    cog = load_cog(data_dir)
    communes = tuple(sorted(cog.current.index))
    return Territory(name="France synthétique (données synthétiques)", kind="communes",
                     code=None, communes=communes,
                     departements=tuple(sorted({c[:2] for c in communes})),
                     data_dir=Path(data_dir), is_synthetic=True)


def epci_territory(data_dir: Path, siren: str):
    """One EPCI of the synthetic territory, marked synthetic."""
    import dataclasses

    from fragility.territory import Territory

    return dataclasses.replace(Territory.from_epci(siren, data_dir=data_dir),
                               is_synthetic=True)


def _write_exports(table, scale: Scale, folder: Path) -> dict[int, Path]:
    """Simulated exports: chunk k (seed ``seed + k``) appended without its header."""
    from fragility.logs.simulate import simulate_export, write_export

    paths = {}
    biggest = max(scale.events)
    chunks = -(-biggest // scale.chunk)
    target = folder / f"export_{biggest}.csv"
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            written = 0
            for k in range(chunks):
                n = min(scale.chunk, biggest - written)
                sim = simulate_export(table, n=n, seed=scale.seed + k)
                part = folder / f".chunk_{k}.csv"
                write_export(sim, part)
                data = part.read_bytes()
                part.unlink()
                out.write(data if k == 0 else data.split(b"\r\n", 1)[1])
                written += n
                for size in scale.events:
                    if size == written and size != biggest:
                        out.flush()
                        shutil.copyfile(tmp, folder / f"export_{size}.csv")
                        paths[size] = folder / f"export_{size}.csv"
    paths[biggest] = target
    return paths


def _write_points(table, scale: Scale, path: Path) -> None:
    """Points drawn uniformly inside IRIS picked by population; WGS84 lon/lat + true IRIS."""
    rng = np.random.default_rng(scale.seed + 99)
    gdf = table.gdf
    pop = pd.to_numeric(gdf["population"], errors="coerce").fillna(0).to_numpy() + 1.0
    which = rng.choice(len(gdf), scale.points, p=pop / pop.sum())
    geoms = gdf.geometry.values
    bounds = shapely.bounds(geoms)
    x = np.empty(scale.points)
    y = np.empty(scale.points)
    todo = np.arange(scale.points)
    while len(todo):
        b = bounds[which[todo]]
        cx = rng.uniform(b[:, 0], b[:, 2])
        cy = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(geoms[which[todo]], cx, cy)
        x[todo[ok]], y[todo[ok]] = cx[ok], cy[ok]
        todo = todo[~ok]
    lon, lat = Transformer.from_crs(CRS_L93, CRS_WGS84, always_xy=True).transform(x, y)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, lon=lon, lat=lat, iris=np.asarray(gdf.index[which], dtype="U9"))


def national_data(scale: Scale = NATIONAL, *, progress: bool = True) -> NationalData:
    """Return the cached national territory for ``scale``, generating it on first use."""
    from fragility.iris_table import build_iris_table

    target = cache_home() / f"national-{scale.name}-{cache_key(scale)}"
    if not (target / ".complete").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            times = {}
            start = time.perf_counter()
            info = write_national_data(tmp / "donnees", scale)
            times["tables_s"] = round(time.perf_counter() - start, 1)
            if progress:
                print(f"  tables : {info['iris']} IRIS ({times['tables_s']} s)", flush=True)
            table = build_iris_table(national_territory(tmp / "donnees", info))
            start = time.perf_counter()
            _write_exports(table, scale, tmp)
            times["journaux_s"] = round(time.perf_counter() - start, 1)
            if progress:
                print(f"  journaux : {times['journaux_s']} s", flush=True)
            start = time.perf_counter()
            _write_points(table, scale, tmp / f"points_{scale.points}.npz")
            times["points_s"] = round(time.perf_counter() - start, 1)
            info["generation"] = times
            (tmp / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            (tmp / ".complete").write_text(f"{scale.name} {cache_key(scale)}\n",
                                           encoding="utf-8")
            try:
                os.replace(tmp, target)
            except OSError:
                if not (target / ".complete").is_file():
                    shutil.rmtree(target)
                    os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    info = json.loads((target / "info.json").read_text(encoding="utf-8"))
    exports = {n: target / f"export_{n}.csv" for n in scale.events}
    return NationalData(root=target, data_dir=target / "donnees", exports=exports,
                        points=target / f"points_{scale.points}.npz", epci=info["epci_banc"],
                        info=info)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="petite taille (essai rapide)")
    args = parser.parse_args()
    start = time.perf_counter()
    data = national_data(QUICK if args.quick else NATIONAL)
    print(data.root, json.dumps(data.info, ensure_ascii=False), sep="\n")
    print(f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
