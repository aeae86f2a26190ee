"""Synthetic demonstration territory, written in the official open-data layouts.

:func:`write_demo_data` draws from a seed a plausible but entirely fictitious
intercommunality (in département ``96``, a code no real département uses) and writes it as
the files the publishers distribute: IGN CONTOURS-IRIS, INSEE census IRIS bases and
Filosofi, ANCT QPV contours and France Services list, Etalab COG. The very parsers and
pipeline used on real data then run on it unchanged. No value is real; the ``LISEZMOI.md``
written beside the files, the EPCI name and the France Services comments say so.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from fragility._files import atomic_path, atomic_write
from fragility.conventions import CRS_L93, CRS_WGS84
from fragility.errors import ConfigError

#: Département code of the demo territory (unassigned metropolitan code, never a real one).
DEMO_DEPARTEMENT = "96"
#: SIREN of the demo intercommunality.
DEMO_EPCI = "249600016"
#: Name of the demo intercommunality.
DEMO_EPCI_NAME = "CA de démonstration (données synthétiques)"
#: French label shown wherever the demo territory appears.
DEMO_LABEL = "Territoire de démonstration — données synthétiques"
#: Version of the generator: bumped whenever the same seed would give different files.
DEMO_VERSION = 1

_REGION = "00"
_ORIGIN = np.array([830_000.0, 6_700_000.0])  # Lambert-93, eastern France
_CITY = "Valbourg"
_SUBURBS = ["Saint-Aubin-des-Prés", "Montfleury-la-Rivière", "Le Plessis-Verdier",
            "Sainte-Odile-les-Vignes"]
_SUBURB_IRIS = [9, 9, 8, 6]
_CITY_IRIS = 52
_RURAL = ["Aubrecourt", "Vernanges", "Champlieu-les-Bois", "Saint-Martin-d'Orvaux",
          "Lavaudière", "Fontclaire", "Marsigny-le-Haut", "Les Essarts-Boisseau", "Roncelay",
          "Villebrune-sur-Lize", "Orsanne", "Pruniers-en-Forêt", "La Combe-Morel",
          "Le Mesnil-Aubert", "Brévannes-la-Côte", "Écuelles-sur-Vaulde", "Orvillers-Sainte-Anne",
          "Cressange-le-Vieux"]
_DELEGUEE = "Vaux-sur-Lize"
_CENTRE_NAMES = ["Centre-Ville", "Hôtel de Ville", "Gare", "Cathédrale", "Les Halles",
                 "Saint-Pierre", "Les Remparts", "Quartier Latin", "Le Marché"]
_NAMES = ["Les Tilleuls", "Le Clos Fleuri", "Les Acacias", "La Roseraie", "Les Marronniers",
          "Le Moulin", "La Source", "Les Vignes", "Le Parc", "Les Peupliers", "La Fontaine",
          "Les Côteaux", "Le Stade", "Les Jardins", "La Prairie", "Le Lavoir", "Les Chênes",
          "La Butte", "Le Pré Vert", "Les Sablons", "La Croix-Blanche", "Les Rives",
          "Le Champ de Foire", "Les Glycines", "La Maladrerie", "Les Hauts", "Le Bois Joli",
          "Les Lilas", "La Garenne", "Les Forges", "Le Val Fleuri", "Les Bruyères",
          "La Pépinière", "Les Cerisiers", "Le Clos Saint-Jean", "Les Ormes", "La Chapelle",
          "Les Charmilles", "Le Plateau", "Les Mésanges", "La Cité Jardin", "Les Aulnes"]
_QPV_NAMES = ["Les Hauts de Valbourg", "La Croix-Verte", "Plein Soleil", "Les Érables",
              "Le Clos des Lys"]
_ID_COLS = ["IRIS", "REG", "DEP", "UU2020", "COM", "LIBCOM", "TRIRIS", "GRD_QUART", "LIBIRIS",
            "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS"]
_FS_COLS = ["id_fs", "insee_dep", "lib_fs", "adresse", "complement_adresse", "insee_com",
            "code_postal", "lib_com", "latitude", "longitude", "mail", "telephone", "h_lundi",
            "h_mardi", "h_mercredi", "h_jeudi", "h_vendredi", "h_samedi", "prise_rdv",
            "commentaire", "type_fs", "format_fs", "groupe_fs", "labellisation_fs"]
_FILO_IRIS_COLS = ["IRIS", "DISP_TP6020", "DISP_Q120", "DISP_MED20", "DISP_Q320", "DISP_EQ20",
                   "DISP_D120", "DISP_D920", "DISP_RD20", "DISP_S80S2020", "DISP_GI20",
                   "DISP_PACT20", "DISP_PTSA20", "DISP_PCHO20", "DISP_PBEN20", "DISP_PPEN20",
                   "DISP_PPAT20", "DISP_PPSOC20", "DISP_PPFAM20", "DISP_PPMINI20",
                   "DISP_PPLOGT20", "DISP_PIMPOT20", "DISP_NOTE20"]
_FILO_COM_COLS = ["CODGEO", "NBMENFISC20", "NBPERSMENFISC20", "MED20", "PIMP20", "TP6020",
                  "PACT20", "PTSA20", "PCHO20", "PBEN20", "PPEN20", "PPAT20", "PPSOC20",
                  "PPFAM20", "PPMINI20", "PPLOGT20", "PIMPOT20", "D120", "D920", "RD20"]
_SHARES = ["PACT", "PTSA", "PCHO", "PBEN", "PPEN", "PPAT", "PPSOC", "PPFAM", "PPMINI", "PPLOGT",
           "PIMPOT"]
_POVERTY_LINE = 13_260.0  # 60 % of the national median disposable income per UC, 2020
_HOURS = ["09:00 - 12:00 / 13:30 - 17:00", "08:30 - 12:00 / 13:30 - 17:30", "09:00 - 12:30",
          "14:00 - 17:00", "09:00 - 12:00 / 14:00 - 18:00"]


# ── small helpers ───────────────────────────────────────────────────────────────────────────


def _num(value: float) -> str:
    """Format a census value as INSEE does: up to 15 significant digits, blank if missing."""
    if value is None or not np.isfinite(value):
        return ""
    return np.format_float_positional(float(value), precision=15, unique=False,
                                      fractional=False, trim="-")


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` with ``;``, no quotes, LF; strings as is, numbers through `_num`."""
    lines = [";".join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(";".join(v if isinstance(v, str) else _num(v) for v in row))
    with atomic_write(path, encoding="utf-8", newline="") as handle:
        handle.write("\n".join(lines) + "\n")


def _phi(x: np.ndarray) -> np.ndarray:
    """Return the standard normal cumulative distribution function at ``x``."""
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, dtype=float) / math.sqrt(2.0)))


def _luhn(digits: str) -> str:
    """Append the Luhn check digit (the SIREN key) to ``digits``."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def _slug(text: str) -> str:
    """Lower-case ASCII form of a name, for the fictitious e-mail addresses."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() else "-" for c in ascii_text.lower()).strip("-")


# ── geography ───────────────────────────────────────────────────────────────────────────────


def _outer_boundary(rng: np.random.Generator) -> shapely.Polygon:
    """Irregular star-shaped outline of the EPCI (local metres, centred on the city)."""
    theta = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    radius = np.full(theta.size, 12_000.0)
    for k in range(2, 9):
        radius *= 1.0 + rng.normal(0.0, 0.10 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    radius *= 1.0 + rng.normal(0.0, 0.003, theta.size)
    return shapely.Polygon(np.c_[radius * np.cos(theta), radius * np.sin(theta)])


def _voronoi(points: np.ndarray, clip: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of ``points`` (in input order) clipped to ``clip``."""
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=clip, ordered=True)
    return shapely.intersection(shapely.get_parts(cells), clip)


def _commune_seeds(rng: np.random.Generator, boundary: shapely.Polygon) -> np.ndarray:
    """Seeds: city at the centre, a ring of suburbs, two rings of rural communes."""
    turn = rng.uniform(0, 2 * np.pi)
    sub_angle = turn + np.arange(4) * np.pi / 2 + rng.uniform(-0.25, 0.25, 4)
    sub_r = rng.uniform(5_000, 5_800, 4)
    near_angle = sub_angle + np.pi / 4 + rng.uniform(-0.15, 0.15, 4)
    near_r = rng.uniform(6_300, 7_300, 4)
    n_far = len(_RURAL) - 4
    far_angle = turn + (np.arange(n_far) + 0.5) * 2 * np.pi / n_far + rng.uniform(-0.1, 0.1, n_far)
    far_r = []
    for a in far_angle:
        ray = shapely.LineString([(0, 0), (40_000 * np.cos(a), 40_000 * np.sin(a))])
        edge = shapely.get_coordinates(ray.intersection(boundary.exterior))
        far_r.append(np.hypot(*edge.T).min() * rng.uniform(0.72, 0.8))
    angle = np.r_[sub_angle, near_angle, far_angle]
    radius = np.r_[sub_r, near_r, far_r]
    centre = rng.normal(0, 150, 2)
    return np.vstack([centre, np.c_[radius * np.cos(angle), radius * np.sin(angle)]])


def _iris_seeds(rng, cell, n: int, centre: np.ndarray, scale: float) -> np.ndarray:
    """``n`` well-spread IRIS seeds in ``cell``, denser near ``centre`` (weighted k-means)."""
    minx, miny, maxx, maxy = cell.bounds
    cand = np.empty((0, 2))
    while len(cand) < 40 * n:
        xy = rng.uniform([minx, miny], [maxx, maxy], (400 * n, 2))
        keep = shapely.contains_xy(cell, xy[:, 0], xy[:, 1])
        keep &= rng.random(len(xy)) < np.exp(-np.hypot(*(xy - centre).T) / scale)
        cand = np.vstack([cand, xy[keep]])
    cand = cand[: 40 * n]
    seeds = cand[rng.choice(len(cand), n, replace=False)]
    for _ in range(10):
        label = ((cand[:, None, :] - seeds[None]) ** 2).sum(-1).argmin(1)
        for k in range(n):
            if (label == k).any():
                seeds[k] = cand[label == k].mean(0)
    return seeds


def _roughen(rng: np.random.Generator, cells: np.ndarray) -> np.ndarray:
    """Wiggle every straight shared edge once, re-polygonise, return one geometry per cell.

    Edges are noded once and each is displaced once, so neighbours share exactly the same
    vertices: the cells still tile the territory without gap or overlap.
    """
    lines = shapely.line_merge(shapely.union_all(shapely.boundary(cells), grid_size=0.01))
    base, shift = [], []
    for line in shapely.get_parts(lines):
        xy = shapely.get_coordinates(line)
        if len(xy) != 2:
            base.append(xy)
            shift.append(np.zeros_like(xy))
            continue
        (a, b), length = xy, float(np.hypot(*(xy[1] - xy[0])))
        t = np.linspace(0.0, 1.0, int(np.clip(length / 45.0, 3, 70)) + 1)
        k = np.arange(1, 5)[:, None]
        wave = (rng.normal(0, 1, 4)[:, None] / k * np.sin(k * np.pi * t)).sum(0)
        offset = min(0.08 * length, 300.0) * np.sin(np.pi * t) * (wave + rng.normal(0, .2, t.size))
        offset[[0, -1]] = 0.0  # sin(pi) is not exactly 0: keep the nodes exactly shared
        normal = np.array([a[1] - b[1], b[0] - a[0]]) / length
        base.append(a + np.outer(t, b - a))
        base[-1][[0, -1]] = xy
        shift.append(np.outer(offset, normal))
    tree, total = shapely.STRtree(cells), shapely.area(cells).sum()
    for amplitude in (1.0, 0.5, 0.25, 0.0):  # smaller wiggles if edges ever cross
        edges = [shapely.LineString(b + amplitude * s) for b, s in zip(base, shift, strict=True)]
        faces = shapely.get_parts(shapely.polygonize(edges))
        crossing = shapely.STRtree(edges).query(edges, predicate="crosses").size
        valid = shapely.is_valid(faces).all()
        if crossing or not valid or abs(shapely.area(faces).sum() / total - 1) > 1e-6:
            continue
        owner = np.empty(len(faces), dtype=int)
        for i, face in enumerate(faces):
            idx = tree.query(face, predicate="intersects")
            owner[i] = idx[np.argmax(shapely.area(shapely.intersection(face, cells[idx])))]
        if len(set(owner)) == len(cells):
            out = np.empty(len(cells), dtype=object)
            for i in range(len(cells)):  # a cell cut in two by the outline keeps both parts
                mine = faces[owner == i]
                out[i] = mine[0] if len(mine) == 1 else shapely.union_all(mine)
            return out
    raise RuntimeError("demo geometry could not be built")  # pragma: no cover


def _geography(rng: np.random.Generator) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Draw communes and IRIS; return the IRIS GeoDataFrame and the commune table."""
    boundary = _outer_boundary(rng)
    seeds = _commune_seeds(rng, boundary)
    com_cells = _voronoi(seeds, boundary)
    names = [_CITY, *_SUBURBS, *_RURAL]
    kinds = ["city"] + ["suburb"] * 4 + ["rural"] * len(_RURAL)
    n_iris = [_CITY_IRIS, *_SUBURB_IRIS] + [1] * len(_RURAL)
    rows, cells = [], []
    for c, (name, kind, n) in enumerate(zip(names, kinds, n_iris, strict=True)):
        code = f"{DEMO_DEPARTEMENT}{c + 1:03d}"
        if n == 1:
            rows.append(dict(com=code, nom_commune=name, kind=kind, iris="0000", typ="Z",
                             nom_iris=name, rank=0))
            cells.append(com_cells[c])
            continue
        pts = _iris_seeds(rng, com_cells[c], n, seeds[c], 1_800.0 if kind == "city" else 2_500.0)
        rel = pts - seeds[c]
        dist = np.hypot(*rel.T)
        n_gq = math.ceil(n / 6)
        sector = ((np.arctan2(rel[:, 1], rel[:, 0]) + np.pi) / (2 * np.pi) * n_gq).astype(int)
        far = np.argsort(-dist)
        types = np.full(n, "H")
        if kind == "city":
            types[far[:2]], types[far[2]] = "A", "D"
        elif c == 1:
            types[far[0]] = "A"
        generic = list(rng.permutation(_NAMES))
        n_centre = 9 if kind == "city" else 1
        centre_names = _CENTRE_NAMES if kind == "city" else ["Centre"]
        a_names = iter(["Zone industrielle Nord", "Zone d'activités des Échats"]
                       if kind == "city" else ["Zone artisanale"])
        counter: dict[int, int] = {}
        for rank, i in enumerate(np.argsort(dist)):
            gq = int(min(sector[i], n_gq - 1)) + 1
            counter[gq] = counter.get(gq, 0) + 1
            if types[i] == "A":
                nom = next(a_names)
            elif types[i] == "D":
                nom = "Parc du Château"
            else:
                nom = centre_names[rank] if rank < n_centre else generic.pop()
            rows.append(dict(com=code, nom_commune=name, kind=kind, typ=types[i], nom_iris=nom,
                             iris=f"{gq:02d}{counter[gq]:02d}", rank=rank))
        cells.extend(_voronoi(pts, com_cells[c])[np.argsort(dist)])  # same order as rows
    geoms = _roughen(rng, np.array(cells, dtype=object))
    geoms = shapely.transform(geoms, lambda xy: xy + _ORIGIN)
    iris = gpd.GeoDataFrame(rows, geometry=list(geoms), crs=CRS_L93)
    iris["code_iris"] = iris["com"] + iris["iris"]
    iris.loc[(iris["kind"] == "city") & (iris["rank"] < 9), "kind"] = "centre"
    communes = pd.DataFrame({"code": iris["com"].unique(), "nom": names, "kind": kinds})
    communes["geometry"] = [shapely.coverage_union_all(iris.geometry[iris["com"] == c].values)
                            for c in communes["code"]]
    communes["seed"] = list(seeds + _ORIGIN)
    return iris.sort_values("code_iris").set_index("code_iris", drop=False), communes


def _qpv(rng, iris: gpd.GeoDataFrame, communes: pd.DataFrame) -> gpd.GeoDataFrame:
    """Draw 3-5 QPV blobs over IRIS junctions of the city and two suburbs."""
    hosts = [0] * int(rng.integers(1, 4)) + [1, 2]
    rows, placed = [], []
    for k, c in enumerate(hosts):
        com = communes.iloc[c]
        sub = iris[(iris["com"] == com["code"]) & (iris["typ"] == "H")]
        radius = np.sqrt(sub.area.median() / np.pi)
        xy, count = np.unique(shapely.get_coordinates(sub.geometry.values), axis=0,
                              return_counts=True)
        xy = xy[count >= 3]
        inner = shapely.distance(com["geometry"].boundary, shapely.points(xy)) > 1.4 * radius
        dist = np.hypot(*(xy - com["seed"]).T)
        ok = inner & ((dist > 1_300) & (dist < 3_200) if c == 0 else True)
        for p in placed:
            ok &= np.hypot(*(xy - p).T) > 2.5 * radius + 500
        ok = ok if ok.any() else inner if inner.any() else np.ones(len(xy), bool)
        node = xy[rng.choice(np.flatnonzero(ok))]
        near = sub.geometry.values[shapely.distance(sub.geometry.values, shapely.Point(node)) < 1]
        host = near[rng.integers(len(near))]
        radius = min(np.sqrt(host.area / np.pi), 1.3 * radius) * rng.uniform(0.75, 0.9)
        centre = node + rng.uniform(0.6, 0.85) * (shapely.get_coordinates(host.centroid)[0] - node)
        placed.append(centre)
        theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        r = radius * (1 + sum(rng.normal(0, 0.08) * np.cos(j * theta + rng.uniform(0, 6.3))
                              for j in range(2, 6)))
        stretch, turn = rng.uniform(0.7, 1.2), rng.uniform(0, np.pi)
        x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
        blob = shapely.Polygon(centre + np.c_[x * np.cos(turn) - y * np.sin(turn),
                                              x * np.sin(turn) + y * np.cos(turn)])
        geom = blob.intersection(com["geometry"])
        if geom.geom_type != "Polygon":
            geom = max(shapely.get_parts(geom), key=lambda g: g.area)
        code = f"QN{int(DEMO_DEPARTEMENT):03d}{k + 1:02d}{'N' if k == 3 else 'M'}"
        rows.append(dict(code_qp=code, lib_qp=_QPV_NAMES[k], insee_com=com["code"],
                         lib_com=com["nom"], insee_dep=f"{int(DEMO_DEPARTEMENT):03d}",
                         geometry=geom))
    return gpd.GeoDataFrame(rows, crs=CRS_L93)


# ── census ──────────────────────────────────────────────────────────────────────────────────


def _band(ages: np.ndarray, lo: int, hi: int = 100) -> np.ndarray:
    """Sum single-year age columns ``lo`` to ``hi - 1``."""
    return ages[:, lo:hi].sum(1)


def _latent(rng, iris: gpd.GeoDataFrame) -> SimpleNamespace:
    """Draw the hidden per-IRIS factors every published value derives from.

    ``pop`` inhabitants, ``old`` ageing, ``stud`` student presence, ``dep`` deprivation
    (0-1, driven by the QPV share ``q``), ``ages`` the population by single year of age.
    """
    n = len(iris)
    kind, typ, q = iris["kind"].to_numpy(), iris["typ"].to_numpy(), iris["qpv"].to_numpy()
    lat = SimpleNamespace(n=n, kind=kind, typ=typ, q=q, centre=kind == "centre",
                          rural=kind == "rural", noise=lambda sd: rng.normal(0.0, sd, n),
                          pick=lambda values: np.array([values[k] for k in kind], dtype=float))
    pop = np.where(typ == "H", 1_700 + rng.gamma(2.0, 140.0, n), 0.0) * (1 + 0.45 * q)
    pop = np.where(kind == "suburb", pop * 0.96, pop)
    pop = np.where(typ == "A", rng.uniform(60, 400, n), pop)
    pop = np.where(typ == "D", rng.uniform(8, 45, n), pop)
    rural = np.exp(rng.normal(np.log(650), 0.8, n)).clip(150, 3_000)
    villages = np.flatnonzero(lat.rural)  # 4 periurban, the bourg, ..., 2 hamlets
    rural[villages[:4]] *= 1.7
    rural[villages[4]] = rng.uniform(3_000, 4_200)
    rural[villages[-2:]] = rng.uniform(150, 320, 2)
    lat.pop = np.where(lat.rural, rural.clip(150, 4_900), pop) * np.exp(lat.noise(0.002))
    lat.old = ((lat.pick({"centre": .35, "city": .35, "suburb": .4, "rural": .5})
                + .15 * (lat.pop < 500) + lat.noise(.08)).clip(.05, .95) * (1 - .6 * q))
    lat.stud = lat.pick({"centre": .75, "city": .2, "suburb": .08, "rural": .03})
    base = lat.pick({"centre": .35, "city": .35, "suburb": .22, "rural": .3})
    lat.dep = (base + (1 - base) * np.minimum(1, 1.4 * q ** .6)
               + (1 - q) * lat.noise(.06)).clip(.02, 1)
    a = np.arange(100)
    w = np.where(a < 60, 1.2, 1.2 * np.exp(-(((a - 60) / 24.0) ** 2)))[None, :].repeat(n, 0)
    w[:, 60:] *= ((0.6 + 1.4 * lat.old) * (1 - 0.3 * q))[:, None]
    w[:, 18:36] *= (1.3 - 0.6 * lat.old)[:, None]
    w[:, 18:28] *= (1 + 2.5 * lat.stud)[:, None]
    w[:, :15] *= (1 - 0.4 * lat.stud + 0.5 * q)[:, None]
    w[lat.rural, 18:30] *= 0.7
    w *= np.exp(rng.normal(0, 0.06, (n, 1)) + rng.normal(0, 0.04, (n, 100)))
    lat.ages = w / w.sum(1, keepdims=True) * lat.pop[:, None]
    lat.p15 = _band(lat.ages, 15)
    lat.sixty = _band(lat.ages, 60) / lat.p15  # share of 60+ among 15+
    lat.students = (_band(lat.ages, 15, 18) * 0.96
                    + _band(lat.ages, 18, 25) * (0.35 + 0.35 * lat.stud)
                    + _band(lat.ages, 25, 30) * 0.05 * lat.stud)
    hors = 0.015 + 0.025 * lat.centre + 0.02 * (lat.rural & (lat.old > .6)) + .035 * (typ == "A")
    lat.phormen = np.where(typ == "D", 0.0, lat.pop * hors * np.exp(lat.noise(0.2)))
    lat.pmen = lat.pop - lat.phormen
    return lat


def _structure(rng, lat: SimpleNamespace) -> dict:
    """Columns of ``base-ic-evol-struct-pop``: ages, sex, social category, nationality."""
    ages, q = lat.ages, lat.q
    bands = [(0, 3), (3, 6), (6, 11), (11, 18), (18, 25), (25, 40), (40, 55), (55, 65), (65, 80)]
    fine = {f"P20_POP{lo:02d}{hi - 1:02d}": _band(ages, lo, hi) for lo, hi in bands}
    fine["P20_POP80P"] = _band(ages, 80)
    out = {"P20_POP": sum(fine.values())} | fine
    for lo, hi in [(0, 15), (15, 30), (30, 45), (45, 60), (60, 75)]:
        out[f"P20_POP{lo:02d}{hi - 1:02d}"] = _band(ages, lo, hi)
    out |= {"P20_POP75P": _band(ages, 75), "P20_POP0019": _band(ages, 0, 20),
            "P20_POP2064": _band(ages, 20, 65), "P20_POP65P": _band(ages, 65)}
    women = lat.pop * (0.515 + 0.03 * lat.old + lat.noise(0.01))
    out |= {"P20_POPH": out["P20_POP"] - women, "P20_POPF": women}
    c15 = lat.p15 * np.exp(lat.noise(0.004))
    retired = (0.92 * lat.sixty).clip(0, 0.5)
    inactive = (lat.students / lat.p15 + 0.06 + 0.1 * q).clip(0, 0.4)
    dep = lat.dep[:, None]
    prof = (1 - dep) * np.array([.005, .06, .18, .27, .27, .215]) + dep * np.array(
        [0, .05, .04, .14, .37, .40])
    prof[lat.centre] = [0, .05, .35, .3, .2, .1]
    prof[lat.rural] = [.05, .08, .12, .25, .25, .25]
    prof = prof * np.exp(rng.normal(0, .1, prof.shape)) + 1e-4
    prof = prof / prof.sum(1, keepdims=True) * (1 - retired - inactive)[:, None]
    shares = np.c_[prof, retired, inactive]
    out["C20_POP15P"] = c15
    out |= {f"C20_POP15P_CS{j + 1}": c15 * shares[:, j] for j in range(8)}
    foreign = (0.05 + 0.2 * q + 0.03 * lat.centre - 0.035 * lat.rural) * np.exp(lat.noise(0.2))
    return out | {"P20_POP_FR": lat.pop * (1 - foreign), "P20_POP_ETR": lat.pop * foreign,
                  "P20_POP_IMM": lat.pop * (1.45 * foreign + 0.02), "P20_PMEN": lat.pmen,
                  "P20_PHORMEN": lat.phormen}


def _households(rng, lat: SimpleNamespace) -> dict:
    """Columns of ``base-ic-couples-familles-menages``; also sets ``lat.men`` (households)."""
    q, n = lat.q, lat.n
    bands = [(15, 20), (20, 25), (25, 40), (40, 55), (55, 65), (65, 80), (80, 100)]
    rate = np.array([.02, .18, .15, .12, .17, .25, .42])[None, :].repeat(n, 0)  # living alone
    rate[lat.centre, 1:5] *= 2.5
    rate[lat.centre, 5:] *= 1.5
    rate[lat.rural, 6] *= 1.2
    rate[:, 3:5] *= (1 + .2 * q)[:, None]
    rate = (rate * np.exp(rng.normal(0, .08, rate.shape))).clip(0, .9)
    tags = ["80P" if lo == 80 else f"{lo:02d}{hi - 1:02d}" for lo, hi in bands]
    by_band = {t: _band(lat.ages, lo, hi) for t, (lo, hi) in zip(tags, bands, strict=True)}
    pseul = {f"P20_POP{t}_PSEUL": by_band[t] * (lat.pmen / lat.pop) * rate[:, j]
             for j, t in enumerate(tags)}
    alone = sum(pseul.values())
    out = {"P20_POP15P": lat.p15} | {f"P20_POP{t}": v for t, v in by_band.items()}
    out |= {"P20_POP15P_PSEUL": alone} | pseul
    size = (lat.pick({"centre": 2.25, "city": 2.75, "suburb": 2.8, "rural": 2.6}) + 0.5 * q
            + lat.noise(.05))  # mean size of households of two or more
    lat.men = men = alone + (lat.pmen - alone) / size
    sfam = (men - alone) * (0.04 + 0.08 * lat.stud)
    fam = men - alone - sfam
    mono = (0.13 + 0.22 * q + 0.04 * lat.centre + lat.noise(.015)).clip(.05, .6)
    coup0 = (0.30 + 0.35 * lat.old - 0.1 * q + lat.noise(.02)).clip(.1, .9 - mono)
    women = 0.55 + 0.15 * (pseul["P20_POP6579_PSEUL"] + pseul["P20_POP80P_PSEUL"]) / alone
    f = np.exp(lat.noise(0.004))  # complementary exploitation differs slightly
    out |= {"C20_MEN": men * f, "C20_MENPSEUL": alone * f,
            "C20_MENHSEUL": alone * f * (1 - women), "C20_MENFSEUL": alone * f * women,
            "C20_MENSFAM": sfam * f, "C20_MENFAM": fam * f, "C20_MENCOUPSENF": fam * f * coup0,
            "C20_MENCOUPAENF": fam * f * (1 - coup0 - mono), "C20_MENFAMMONO": fam * f * mono,
            "C20_PMEN": lat.pmen * f}
    g = f * rng.uniform(1.0, 1.02, n)  # a few households hold two families
    out |= {"C20_FAM": fam * g, "C20_COUPAENF": fam * g * (1 - coup0 - mono),
            "C20_FAMMONO": fam * g * mono, "C20_HMONO": fam * g * mono * .16,
            "C20_FMONO": fam * g * mono * .84, "C20_COUPSENF": fam * g * coup0}
    none = out["C20_COUPSENF"] + 0.06 * (out["C20_COUPAENF"] + out["C20_FAMMONO"])
    kids = (1 - q[:, None]) * np.array([.42, .38, .14, .06]) + q[:, None] * np.array(
        [.35, .33, .19, .13])
    out["C20_NE24F0"] = none
    out |= {f"C20_NE24F{t}": (out["C20_FAM"] - none) * kids[:, j]
            for j, t in enumerate(["1", "2", "3", "4P"])}
    return out


def _housing(lat: SimpleNamespace) -> dict:
    """Columns of ``base-ic-logement``: dwellings, tenure, social housing, cars."""
    q, men, pick, noise = lat.q, lat.men, lat.pick, lat.noise
    vac = pick({"centre": .09, "city": .075, "suburb": .065, "rural": .1}) * np.exp(noise(.15))
    sec = pick({"centre": .03, "city": .015, "suburb": .012, "rural": .07}) * np.exp(noise(.2))
    log = men / (1 - vac - sec)
    house = (pick({"centre": .05, "city": .3, "suburb": .6, "rural": .9}) - .5 * q
             + noise(.04)).clip(.02, .97)
    hlm = (pick({"centre": .06, "city": .12, "suburb": .1, "rural": .03}) * np.exp(noise(.3))
           + .85 * q ** .6 + noise(.03)).clip(.005, .9)
    grat = 0.015 * np.exp(noise(.2))
    priv = np.minimum(pick({"centre": .5, "city": .25, "suburb": .17, "rural": .12})
                      * np.exp(noise(.1)), 1 - hlm - grat - .04)
    carless = (pick({"centre": .45, "city": .2, "suburb": .12, "rural": .06}) + .3 * q
               + noise(.02)).clip(.02, .7)
    two = (pick({"centre": .12, "city": .25, "suburb": .42, "rural": .58}) - .2 * q).clip(.05, .8)
    car = men * (1 - carless)
    return {"P20_LOG": log, "P20_RP": men, "P20_RSECOCC": log * sec, "P20_LOGVAC": log * vac,
            "P20_MAISON": log * house * .995, "P20_APPART": log * (1 - house) * .995,
            "P20_RP_PROP": men * (1 - hlm - priv - grat), "P20_RP_LOC": men * (hlm + priv),
            "P20_RP_LOCHLMV": men * hlm, "P20_RP_GRAT": men * grat, "P20_RP_VOIT1P": car,
            "P20_RP_VOIT1": car * (1 - two), "P20_RP_VOIT2P": car * two, "P20_MEN": men,
            "P20_NPER_RP": lat.pmen}


def _diplomas_activity(rng, lat: SimpleNamespace) -> tuple[dict, dict]:
    """Columns of ``base-ic-diplomes-formation`` and ``base-ic-activite-residents``."""
    nscol = lat.p15 - lat.students
    base = np.array([[.20, .05, .25, .17, .12, .12, .09]]).repeat(lat.n, 0)
    base[lat.centre] = [.10, .03, .12, .17, .12, .20, .26]
    base[lat.rural] = [.20, .05, .33, .17, .11, .09, .05]
    mix = ((lat.dep - .3) / .7).clip(0, 1)[:, None]
    dipl = (1 - mix) * base + mix * np.array([.40, .06, .26, .14, .06, .05, .03])
    dipl[:, 0] *= 1 + 0.5 * lat.sixty
    dipl *= np.exp(rng.normal(0, .08, dipl.shape))
    dipl /= dipl.sum(1, keepdims=True)
    levels = ["DIPLMIN", "BEPC", "CAPBEP", "BAC", "SUP2", "SUP34", "SUP5"]
    diploma = {"P20_NSCOL15P": nscol} | {f"P20_NSCOL15P_{lv}": nscol * dipl[:, j]
                                         for j, lv in enumerate(levels)}
    p1564 = _band(lat.ages, 15, 65)
    retr = _band(lat.ages, 55, 65) * (0.3 + 0.05 * lat.rural)
    other = p1564 * (0.05 + 0.10 * lat.q)
    act = p1564 - lat.students - retr - other
    unemp = (np.where(lat.rural, .08, .10) + .22 * lat.q + lat.noise(.01)).clip(.04, .45)
    activity = {"P20_POP1564": p1564, "P20_ACT1564": act, "P20_ACTOCC1564": act * (1 - unemp),
                "P20_CHOM1564": act * unemp, "P20_INACT1564": lat.students + retr + other,
                "P20_ETUD1564": lat.students, "P20_RETR1564": retr, "P20_AINACT1564": other}
    return diploma, activity


def _census(rng, iris: gpd.GeoDataFrame) -> tuple[dict[str, pd.DataFrame], SimpleNamespace]:
    """Draw the five census bases (RP 2020), with statistical-secret blanks, and the factors."""
    lat = _latent(rng, iris)
    tables = {"evol-struct-pop": _structure(rng, lat),
              "couples-familles-menages": _households(rng, lat), "logement": _housing(lat)}
    tables["diplomes-formation"], tables["activite-residents"] = _diplomas_activity(rng, lat)
    out = {name: pd.DataFrame(cols, index=iris.index) for name, cols in tables.items()}
    tiny = (lat.typ == "D") | (lat.pop == lat.pop[lat.typ == "A"].min())
    for name in ("evol-struct-pop", "couples-familles-menages"):
        cols = [c for c in out[name] if c.startswith("C20_")]
        out[name].loc[iris.index[tiny], cols] = np.nan
    return out, lat


def _census_ids(iris: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the twelve identity columns of the INSEE IRIS bases."""
    z = iris["typ"] == "Z"
    dep = iris["com"].str[:2]  # DEMO_DEPARTEMENT on the demo territory
    triris = dep + iris["com"].str[3:] + iris["iris"].str[:2]  # one per quarter
    return pd.DataFrame({
        "IRIS": iris["code_iris"], "REG": _REGION, "DEP": dep,
        "UU2020": np.where(iris["kind"] == "rural", dep + "000", dep + "701"),
        "COM": iris["com"], "LIBCOM": iris["nom_commune"],
        "TRIRIS": np.where(z, "ZZZZZZ", triris),
        "GRD_QUART": np.where(z, iris["com"] + "00", iris["code_iris"].str[:7]),
        "LIBIRIS": iris["nom_iris"], "TYP_IRIS": iris["typ"], "MODIF_IRIS": "00",
        "LAB_IRIS": iris["typ"].map({"H": "1", "A": "3", "D": "3", "Z": "5"})}, index=iris.index)


# ── Filosofi ────────────────────────────────────────────────────────────────────────────────


def _income(rng, iris: gpd.GeoDataFrame, lat: SimpleNamespace) -> pd.DataFrame:
    """Unrounded disposable-income statistics per IRIS, from a lognormal model."""
    n, dep, kind = lat.n, lat.dep, lat.kind
    sigma = (0.48 - 0.1 * dep + 0.1 * (kind == "centre") - 0.04 * (kind == "rural")
             + rng.normal(0, .02, n))
    low, high = sigma, 1.05 * sigma
    med = 27_500 * np.exp(-0.72 * dep + rng.normal(0, .02, n)) * np.where(kind == "rural", .96, 1)
    mid = (low + high) / 2
    inc = pd.DataFrame({
        "TP60": 100 * _phi(np.log(_POVERTY_LINE / med) / low), "MED": med,
        "Q1": med * np.exp(-0.6745 * low), "Q3": med * np.exp(0.6745 * high),
        "D1": med * np.exp(-1.2816 * low), "D9": med * np.exp(1.2816 * high),
        "S80S20": (1 - _phi(0.8416 - mid)) / _phi(-0.8416 - mid),
        "GI": 2 * _phi(mid / math.sqrt(2)) - 1,
        "PPEN": 85 * lat.sixty, "PPSOC": 3 + 22 * dep ** 2,
        "PPAT": (14 - 10 * dep + 4 * lat.old + rng.normal(0, 1, n)).clip(2, 25),
        "PIMPOT": -(17 - 11 * dep), "PCHO": 1.5 + 4 * dep,
        "PBEN": np.select([kind == "rural", kind == "city"], [9.0, 4.0], 5.0)
        * np.exp(rng.normal(0, .15, n))}, index=iris.index)
    inc["PIMP"] = (52 + (med - 22_000) / 250).clip(20, 80)
    return inc


def _round_income(inc: pd.DataFrame) -> pd.DataFrame:
    """Round as INSEE publishes, keeping PACT = PTSA + PCHO + PBEN and the sum to 100."""
    out = pd.DataFrame(index=inc.index)
    for col in ("MED", "Q1", "Q3", "D1", "D9"):
        out[col] = (inc[col] / 10).round() * 10
    out["TP60"], out["PIMP"] = inc["TP60"].round(1), inc["PIMP"].round()
    out["EQ"] = ((out["Q3"] - out["Q1"]) / out["MED"]).round(2)
    out["RD"], out["S80S20"] = (out["D9"] / out["D1"]).round(1), inc["S80S20"].round(1)
    out["GI"] = inc["GI"].round(3)
    for col in ("PPEN", "PPAT", "PIMPOT", "PCHO", "PBEN"):
        out[col] = inc[col].round(1)
    soc = inc["PPSOC"]
    out["PPFAM"], out["PPMINI"] = (soc * .28).round(1), (soc * .42).round(1)
    out["PPLOGT"] = (soc * .30).round(1)
    out["PPSOC"] = (out["PPFAM"] + out["PPMINI"] + out["PPLOGT"]).round(1)
    out["PACT"] = (100 - out["PPEN"] - out["PPAT"] - out["PPSOC"] - out["PIMPOT"]).round(1)
    out["PTSA"] = (out["PACT"] - out["PCHO"] - out["PBEN"]).round(1)
    return out


def _filosofi(rng, iris, lat: SimpleNamespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IRIS file (communes of 5 000 inhabitants or more, secret blanks) and commune file."""
    latent = pd.DataFrame({"pop": lat.pop, "pmen": lat.pmen, "men": lat.men}, index=iris.index)
    inc = _income(rng, iris, lat)
    com_pop = latent["pop"].groupby(iris["com"]).sum()
    rounded = _round_income(inc)
    keep = iris["com"].map(com_pop).to_numpy() >= 5_000
    rows = rounded[keep].copy()
    small_h = latent["pop"][keep & (iris["typ"] == "H").to_numpy()].idxmin()
    rows.loc[small_h, "TP60"] = np.nan
    rows.loc[iris.index[keep & iris["typ"].isin(["A", "D"]).to_numpy()]] = np.nan
    fmt = {"TP60": "{:.1f}", "EQ": "{:.2f}", "RD": "{:.1f}", "S80S20": "{:.1f}", "GI": "{:.3f}"}
    fmt |= {c: "{:.1f}" for c in _SHARES}
    filo_iris = pd.DataFrame({"IRIS": rows.index})
    for col in _FILO_IRIS_COLS[1:-1]:
        key = col[5:-2]
        filo_iris[col] = [fmt.get(key, "{:.0f}").format(v) if np.isfinite(v) else ""
                          for v in rows[key]]
    filo_iris["DISP_NOTE20"] = "0"
    weight = latent["pmen"]
    com_inc = inc.mul(weight, axis=0).groupby(iris["com"]).sum().div(
        weight.groupby(iris["com"]).sum(), axis=0)
    com = _round_income(com_inc)
    men = latent["men"].groupby(iris["com"]).sum()
    nbmen = (men * 0.975).round()
    filo_com = pd.DataFrame({"CODGEO": com.index,
                             "NBMENFISC20": nbmen.map("{:.0f}".format).to_numpy(),
                             "NBPERSMENFISC20": (weight.groupby(iris["com"]).sum() * .975)
                             .map("{:.0f}".format).to_numpy()})
    for col in _FILO_COM_COLS[3:]:
        key = col[:-2]
        digits = 0 if key in ("MED", "PIMP", "D1", "D9") else 1
        secret = key in ("TP60", "D1", "D9", "RD")
        filo_com[col] = [("" if secret and m < 200 else f"{v:.{digits}f}")
                         for v, m in zip(com[key], nbmen, strict=True)]
    return filo_iris, filo_com


# ── France Services, COG ────────────────────────────────────────────────────────────────────


def _postcode(c: int) -> str:
    """Postcode of the ``c``-th commune: city, suburbs, then rural groups of four."""
    return f"{DEMO_DEPARTEMENT}{c * 10 if c < 5 else 100 + 10 * ((c - 5) // 4):03d}"


def _france_services(rng, iris, communes) -> list[list]:
    """3-5 France Services: city edge, two suburbs, the rural bourg, maybe another village."""
    city = iris[(iris["kind"] == "city") & (iris["typ"] == "H")]
    edge = city.geometry.centroid.distance(shapely.Point(communes["seed"][0])).idxmax()
    sites = [(0, city.geometry[edge]), (1, None), (2, None), (9, None)]
    if rng.random() < 0.5:
        sites.append((int(rng.integers(10, len(communes))), None))
    rows = []
    for k, (c, geom) in enumerate(sites):
        com = communes.iloc[c]
        geom = com["geometry"] if geom is None else geom
        point = shapely.Point(com["seed"] + rng.normal(0, 150, 2))
        if not geom.contains(point):
            point = geom.point_on_surface()
        lon, lat = gpd.GeoSeries([point], crs=CRS_L93).to_crs(CRS_WGS84).iloc[0].coords[0]
        hours = [_HOURS[int(rng.integers(0, 2))]] * 5
        hours[int(rng.integers(0, 5))] = _HOURS[int(rng.integers(2, 5))]
        rows.append([str(9601 + k), DEMO_DEPARTEMENT, f"France services {com['nom']}",
                     f"{rng.integers(1, 40)} {('Place de la Mairie', 'Rue de la Gare')[k % 2]}",
                     "", com["code"], _postcode(c), com["nom"], round(lat, 6), round(lon, 6),
                     f"france-services.{_slug(com['nom'])}@exemple.invalid",
                     f"01 99 00 {int(rng.integers(10, 99))} {int(rng.integers(10, 99))}",
                     *hours, "09:00 - 12:00" if k == 0 else "", ["Non", "Oui"][k % 2],
                     "Structure fictive (données synthétiques)", "Principal", "Fixe", "",
                     "Espace labellisé 01/01/2022"])
    return rows


def _fs_line(row: list) -> str:
    """Format an ANCT row: strings quoted, coordinates bare, empty cells empty."""
    return ",".join("" if v == "" else repr(v) if isinstance(v, float) else
                    '"' + str(v).replace('"', '""') + '"' for v in row)


def _liaison(name: str) -> int:
    """Return the COG ``typeLiaison`` (article of the name: 0 none, 1 d', 2 Le...)."""
    for prefix, code in (("Les ", 4), ("Le ", 2), ("La ", 3), ("L'", 5)):
        if name.startswith(prefix):
            return code
    return 1 if name[0] in "AEIOUYÉÈÊÎÔ" else 0


def _cog(rng, communes: pd.DataFrame, pop: pd.Series) -> tuple[list, list]:
    """Etalab COG objects: communes (with one merged former commune) and the EPCI."""
    merged, objects, members = len(communes) - 1, [], []
    for c, com in communes.iterrows():
        code, nom = com["code"], com["nom"]
        siren = _luhn(f"21{DEMO_DEPARTEMENT}0{code[2:]}")
        obj = {"code": code, "nom": nom, "typeLiaison": _liaison(nom), "zone": "metro",
               "arrondissement": f"{DEMO_DEPARTEMENT}{1 + (c >= 9)}",
               "departement": DEMO_DEPARTEMENT, "region": _REGION, "type": "commune-actuelle",
               "rangChefLieu": 0}
        if c == merged:
            obj["anciensCodes"] = [f"{DEMO_DEPARTEMENT}{len(communes) + 1:03d}"]
            siren = _luhn("20009600")
        municipale = int(np.rint(pop[code] * rng.uniform(0.985, 1.015)))
        obj |= {"siren": siren, "codesPostaux": [_postcode(c)], "population": municipale}
        objects.append(obj)
        members.append({"code": code, "siren": siren, "nom": nom,
                        "populationTotale": int(np.rint(municipale * 1.015)),
                        "populationMunicipale": municipale})
    objects.append({"code": objects[merged]["anciensCodes"][0], "nom": _DELEGUEE,
                    "typeLiaison": _liaison(_DELEGUEE), "zone": "metro",
                    "type": "commune-deleguee", "chefLieu": objects[merged]["code"],
                    "arrondissement": objects[merged]["arrondissement"],
                    "departement": DEMO_DEPARTEMENT, "region": _REGION})
    members.sort(key=lambda m: -m["populationMunicipale"])
    epci = [{"code": DEMO_EPCI, "nom": DEMO_EPCI_NAME, "type": "CA", "modeFinancement": "FPU",
             "populationTotale": sum(m["populationTotale"] for m in members),
             "populationMunicipale": sum(m["populationMunicipale"] for m in members),
             "membres": members}]
    return objects, epci


_README = """{label}
{underline}

Ce dossier a été produit par `fragility.demo` (version du générateur {version}, graine {seed}).
Il décrit une intercommunalité **fictive** :

- « {epci} », SIREN {siren} ;
- département {dep}, code qu'aucun département réel n'utilise ;
- {n_com} communes, {n_iris} IRIS, {n_qpv} quartiers prioritaires, {n_fs} France services.

**Aucune valeur n'est réelle** : noms, contours, effectifs, revenus, adresses et horaires sont
tirés au hasard, avec des ordres de grandeur et des corrélations plausibles. Ne les citez pas
comme des statistiques.

Chaque fichier imite la présentation officielle de son producteur, pour que les mêmes lecteurs
s'appliquent qu'aux données réelles :

| fichier | présentation imitée |
|---|---|
| `iris/contours_iris_demo_2024.gpkg` | IGN, CONTOURS-IRIS 3.0 (GeoPackage, Lambert-93) |
| `recensement/base-ic-*-2020.CSV` | INSEE, recensement 2020, bases infracommunales IRIS |
| `filosofi/BASE_TD_FILO_DISP_IRIS_2020.csv` | INSEE, Filosofi 2020, revenu disponible par IRIS |
| `filosofi/base-cc-filosofi-2020.CSV` | INSEE, Filosofi 2020, chiffres clés communaux |
| `qpv/QP2024_demo_WGS84.geojson` | ANCT, quartiers prioritaires 2024 (WGS84) |
| `france_services/liste-fs-demo.csv` | ANCT, liste des France services |
| `cog/communes.json`, `cog/epci.json` | Etalab, découpage administratif (COG) |
"""


# ── public API ──────────────────────────────────────────────────────────────────────────────


def write_demo_data(directory: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the synthetic demo territory as official-layout files into ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder to write to (created if needed; existing files of the same names are replaced).
    seed : int, default 0
        Seed of the :func:`numpy.random.default_rng` generator. The same seed always gives
        byte-identical files (for a given :data:`DEMO_VERSION`).

    Returns
    -------
    pathlib.Path
        ``directory``, holding ``iris/``, ``recensement/``, ``filosofi/``, ``qpv/``,
        ``france_services/``, ``cog/`` and ``LISEZMOI.md``.

    Raises
    ------
    ConfigError
        If ``seed`` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"la graine doit être un entier positif ou nul (reçu : {seed!r}).")
    out = Path(directory)
    rng = np.random.default_rng(seed)
    iris, communes = _geography(rng)
    qpv = _qpv(rng, iris, communes)
    covered = shapely.intersection(iris.geometry.values, shapely.union_all(qpv.geometry.values))
    iris["qpv"] = shapely.area(covered) / iris.area.to_numpy()
    census, lat = _census(rng, iris)
    filo_iris, filo_com = _filosofi(rng, iris, lat)
    fs = _france_services(rng, iris, communes)
    cog, epci = _cog(rng, communes, pd.Series(lat.pop).groupby(iris["com"].to_numpy()).sum())

    layer = iris.rename(columns={"com": "code_insee", "typ": "type_iris"})[
        ["code_insee", "nom_commune", "iris", "code_iris", "nom_iris", "type_iris", "geometry"]]
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00Z"})
    try:
        with atomic_path(out / "iris" / "contours_iris_demo_2024.gpkg") as tmp:
            layer.reset_index(drop=True).to_file(
                tmp, layer="contours_iris", driver="GPKG", engine="pyogrio",
                promote_to_multi=True, layer_options={"GEOMETRY_NAME": "geometrie"})
        with atomic_path(out / "qpv" / "QP2024_demo_WGS84.geojson") as tmp:
            qpv.to_crs(CRS_WGS84).to_file(tmp, layer="QP2024_demo_WGS84", driver="GeoJSON",
                                          engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    ids = _census_ids(iris)
    for name, table in census.items():
        path = out / "recensement" / f"base-ic-{name}-2020.CSV"
        _write_csv(path, pd.concat([ids, table], axis=1))
    _write_csv(out / "filosofi" / "BASE_TD_FILO_DISP_IRIS_2020.csv", filo_iris)
    _write_csv(out / "filosofi" / "base-cc-filosofi-2020.CSV", filo_com)
    with atomic_write(out / "france_services" / "liste-fs-demo.csv", encoding="utf-8",
                      newline="") as handle:
        handle.write("\n".join([",".join(f'"{c}"' for c in _FS_COLS)]
                               + [_fs_line(r) for r in fs]) + "\n")
    for name, obj in (("communes", cog), ("epci", epci)):
        with atomic_write(out / "cog" / f"{name}.json", encoding="utf-8") as handle:
            handle.write(json.dumps(obj, ensure_ascii=False))
    with atomic_write(out / "LISEZMOI.md", encoding="utf-8") as handle:
        handle.write(_README.format(
            label=DEMO_LABEL, underline="=" * len(DEMO_LABEL), version=DEMO_VERSION, seed=seed,
            epci=DEMO_EPCI_NAME, siren=DEMO_EPCI, dep=DEMO_DEPARTEMENT, n_com=len(communes),
            n_iris=len(iris), n_qpv=len(qpv), n_fs=len(fs)))
    return out


def _data_home(data_home: str | os.PathLike | None) -> Path:
    if data_home is not None:
        return Path(data_home)
    if os.environ.get("FRAGILITY_DATA_DIR"):
        return Path(os.environ["FRAGILITY_DATA_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("fragility"))


def demo_data_dir(*, seed: int = 0, data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder of the demo files for ``seed``, generating it on first use.

    The folder is ``<data_home>/demo/v{DEMO_VERSION}-seed{seed}``. It is written into a
    temporary sibling and moved into place in one step, so a half-written folder never
    appears; a ``.complete`` marker tells a finished folder, which is then reused as is.

    Parameters
    ----------
    seed : int, default 0
        Seed passed to :func:`write_demo_data`.
    data_home : str or os.PathLike, optional
        Data home; defaults to ``FRAGILITY_DATA_DIR``, else the user cache of ``fragility``
        (:func:`platformdirs.user_cache_dir`).

    Returns
    -------
    pathlib.Path
        The folder holding the demo files.

    Raises
    ------
    ConfigError
        If ``seed`` is not a non-negative integer.
    """
    target = _data_home(data_home) / "demo" / f"v{DEMO_VERSION}-seed{seed}"
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_demo_data(tmp, seed=seed)
        (tmp / ".complete").write_text(f"fragility demo v{DEMO_VERSION} seed {seed}\n",
                                       encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / ".complete").is_file():  # stale leftover, not a finished folder
                shutil.rmtree(target)
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
