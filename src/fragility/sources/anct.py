"""ANCT files: France Services list, QPV (priority neighbourhoods) contours and lists."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from fragility.conventions import COMMUNE_RE, CRS_WGS84
from fragility.errors import InputError
from fragility.sources._model import LICENCE_OUVERTE, Layer, Parsed, Source
from fragility.sources._read import codes, read_table, to_numeric, vintage_from_name

QPV_FIELDS = {
    "qpv": ("code_qp", "CODE_QP", "code_quartier", "CODE_QUART"),
    "qpv_name": ("lib_qp", "NOM_QP", "nom_qp", "lib_quartier"),
    "communes": ("insee_com", "COMMUNE_QP", "CODE_COM", "code_insee", "depcom"),
}
FS_DAYS = ("h_lundi", "h_mardi", "h_mercredi", "h_jeudi", "h_vendredi", "h_samedi")
_SLOT_RE = re.compile(r"(\d{1,2})[:hH](\d{2})\s*-\s*(\d{1,2})[:hH](\d{2})")

LAYERS = [
    Layer("france_services", "Structures labellisées France services (ANCT)", "point"),
    Layer("qpv_contours", "Quartiers prioritaires de la politique de la ville — contours", "qpv"),
    Layer("qpv_list", "Quartiers prioritaires de la politique de la ville — liste par commune",
          "qpv"),
]


def _pick(columns, candidates):
    return next((c for c in candidates if c in columns), None)


def qpv_fields_present(columns) -> bool:
    """Whether a set of attribute names looks like a QPV layer."""
    return _pick(columns, QPV_FIELDS["qpv"]) is not None


def weekly_hours(row: Mapping[str, object]) -> float:
    """Sum the opening slots (``"09:00 - 12:00 / 13:30 - 17:00"``) of the six days, in hours.

    Returns NaN when no day carries any slot (hours not published). Overlapping or
    repeated slots of one day (``"08:30 - 17:00 / 08:30 - 17:00"``, found in the
    published list) are counted once.
    """
    total, seen = 0.0, False
    for day in FS_DAYS:
        slots = sorted(
            (int(h1) * 60 + int(m1), int(h2) * 60 + int(m2))
            for h1, m1, h2, m2 in _SLOT_RE.findall(str(row.get(day, "") or ""))
        )
        seen = seen or bool(slots)
        end = None
        for start, stop in slots:
            start = start if end is None else max(start, end)
            if stop > start:
                total += (stop - start) / 60
                end = stop
    return total if seen else float("nan")


def _weekly_hours_column(table: pd.DataFrame) -> list[float]:
    """:func:`weekly_hours` of every row, reading only the day columns."""
    days = [d for d in FS_DAYS if d in table]
    if not days:
        return [float("nan")] * len(table)
    rows = zip(*(table[d].tolist() for d in days), strict=True)
    return [weekly_hours(dict(zip(days, values, strict=True))) for values in rows]


def read_france_services(path: str | Path) -> Parsed:
    """Read the ANCT list of France services (``liste-fs-AAAAMMJJ.csv``).

    Returns a GeoDataFrame of points (EPSG:4326, as published) with ``fs_id``, ``name``,
    ``commune``, ``format``, ``fs_type`` and ``weekly_hours``. Records without
    coordinates are kept with an empty geometry and counted in the notes.
    """
    path = Path(path)
    table = read_table(path)
    for needed in ("id_fs", "insee_com", "latitude", "longitude"):
        if needed not in table:
            raise InputError(f"colonne « {needed} » absente de la liste France services.",
                             path=path)
    lat = to_numeric(table["latitude"], path=path, field="latitude")
    lon = to_numeric(table["longitude"], path=path, field="longitude")
    commune = codes(table["insee_com"], 5, COMMUNE_RE, path=path, field="insee_com")
    # Swapped latitude/longitude stay within ±90/±180 in France: check metropolitan
    # records against the metropolitan bounding box as well.
    metro = ~commune.str.startswith(("97", "98"))
    outside = metro & ~(lat.between(41.0, 51.5) & lon.between(-5.5, 10.0))
    bad = (lat.abs() > 90) | (lon.abs() > 180) | (outside & lat.notna() & lon.notna())
    if bad.any():
        line = int(lat.index[bad.to_numpy()][0])
        raise InputError("coordonnées hors limites (latitude/longitude inversées ?).",
                         path=path, line=line, field="latitude")
    frame = pd.DataFrame(
        {
            "fs_id": table["id_fs"].str.strip(),
            "name": table.get("lib_fs", pd.Series("", index=table.index)).str.strip(),
            "commune": commune,
            "format": table.get("format_fs", pd.Series("", index=table.index)).str.strip(),
            "fs_type": table.get("type_fs", pd.Series("", index=table.index)).str.strip(),
            "weekly_hours": _weekly_hours_column(table),
        }
    )
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=CRS_WGS84)
    missing = lat.isna() | lon.isna()
    gdf.loc[missing, "geometry"] = None
    notes = [f"{int(missing.sum())} structure(s) sans coordonnées."] if missing.any() else []
    return Parsed(layer="france_services", frame=gdf.reset_index(drop=True),
                  vintage=vintage_from_name(path), path=path, notes=notes)


def qpv_geography(code: str) -> str:
    """``qpv_2024`` for ``QN…`` codes, ``qpv_2015`` for ``QP…`` codes."""
    return "qpv_2024" if code.upper().startswith("QN") else "qpv_2015"


def read_qpv(path: str | Path, *, crs: str | None = None) -> Parsed:
    """Read QPV contours (2015 ``QP_METROPOLE_LB93`` or 2024 GeoJSON) or a QPV list.

    Polygon layers give ``qpv_contours``; point layers (e.g. one point per commune with
    comma-joined codes) give ``qpv_list``, one row per (QPV, commune).
    """
    path = Path(path)
    gdf = gpd.read_file(path)
    code = _pick(gdf.columns, QPV_FIELDS["qpv"])
    if code is None:
        raise InputError("champ code_qp (ou CODE_QP) introuvable.", path=path)
    name = _pick(gdf.columns, QPV_FIELDS["qpv_name"])
    com = _pick(gdf.columns, QPV_FIELDS["communes"])
    polygons = gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all() and len(gdf) > 0
    if polygons:
        out = gpd.GeoDataFrame(
            {"qpv": gdf[code].astype(str).str.strip(),
             "qpv_name": gdf[name] if name else None,
             "communes": gdf[com].astype(str) if com else None},
            geometry=gdf.geometry, crs=gdf.crs,
        )
        out["geography"] = out["qpv"].map(qpv_geography)
        if crs is not None:
            out = out.to_crs(crs)
        return Parsed(layer="qpv_contours", frame=out.set_index("qpv"),
                      vintage=vintage_from_name(path), path=path,
                      layout="officiel")
    rows = []
    for _, rec in gdf.iterrows():
        codes_ = [c.strip() for c in str(rec[code]).split(",") if c.strip()]
        names = [n.strip() for n in str(rec[name]).split(",")] if name else []
        names = names if len(names) == len(codes_) else [None] * len(codes_)
        for qcode, qname in zip(codes_, names, strict=True):
            rows.append({"qpv": qcode, "qpv_name": qname, "commune": str(rec[com]).zfill(5)})
    out = pd.DataFrame(rows, columns=["qpv", "qpv_name", "commune"])
    out["geography"] = out["qpv"].map(qpv_geography)
    return Parsed(layer="qpv_list", frame=out, vintage=vintage_from_name(path), path=path,
                  layout="liste par commune (sans contours)")


SOURCES = [
    Source(
        name="anct_france_services_20240801",
        layer="france_services",
        title_fr="Liste des structures labellisées France services au 1er août 2024",
        publisher="ANCT",
        vintage="2024-08-01",
        licence=LICENCE_OUVERTE,
        url="https://raw.githubusercontent.com/anct-carto/france_services/"
        "77f42baab04eae687d5eef1acdc79ee395f9562b/data/liste-fs-20240801.csv",
        filename="liste-fs-20240801.csv",
        sha256="6eabcb0792c8681af513e65560a7dea08e15d3e72b070a14ca1fed032164efad",
        homepage="https://www.data.gouv.fr/fr/datasets/liste-des-structures-france-services/",
        notes_fr="Copie publiée par l'ANCT dans son dépôt de cartographie ; coordonnées WGS84, "
        "horaires d'ouverture par jour.",
    ),
    Source(
        name="anct_qpv_2024_contours",
        layer="qpv_contours",
        title_fr="Quartiers prioritaires 2024 — contours (France hexagonale et outre-mer, WGS84)",
        publisher="ANCT (SIG Ville)",
        vintage="2024",
        licence=LICENCE_OUVERTE,
        url="https://www.data.gouv.fr/api/1/datasets/r/942d4ee8-8142-4556-8ea1-335537ce1119",
        filename="QP2024_ANCT.zip",
        homepage="https://www.data.gouv.fr/datasets/5a561801c751df42d7fca9b6",
        member="GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson",
        geography="qpv_2024",
        notes_fr="Archive zip (dossiers GEOJSON/ et SHP/) ; champs code_qp, lib_qp, insee_com.",
    ),
    Source(
        name="anct_qpv_2015_contours",
        layer="qpv_contours",
        title_fr="Quartiers prioritaires 2015 — contours métropole (QP_METROPOLE_LB93)",
        publisher="ANCT (SIG Ville)",
        vintage="2015",
        licence=LICENCE_OUVERTE,
        url="",
        filename="QP_METROPOLE_LB93.zip",
        homepage="https://sig.ville.gouv.fr/",
        member="*.shp",
        geography="qpv_2015",
        notes_fr="Adresse de téléchargement directe non confirmée : placez le fichier dans "
        "--data-dir (champs CODE_QP, NOM_QP, COMMUNE_QP), il est reconnu par son contenu.",
    ),
]
