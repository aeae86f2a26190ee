"""IGN files: CONTOURS-IRIS (GeoPackage or shapefile in a 7z, or GeoJSON extracts)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from fragility.conventions import COMMUNE_RE, IRIS_RE
from fragility.errors import InputError
from fragility.sources._model import LICENCE_OUVERTE, Layer, Parsed, Source
from fragility.sources._read import check_unique, codes, vintage_from_name

#: Field names of the successive CONTOURS-IRIS editions -> our names.
IRIS_FIELDS = {
    "iris": ("CODE_IRIS", "code_iris", "DCOMIRIS"),
    "commune": ("INSEE_COM", "code_insee", "DEPCOM"),
    "commune_name": ("NOM_COM", "nom_commune"),
    "iris_name": ("NOM_IRIS", "nom_iris"),
    "iris_type": ("TYP_IRIS", "type_iris"),
}
COMMUNE_FIELDS = {"commune": ("code", "INSEE_COM", "code_insee"), "commune_name": ("nom", "NOM")}

LAYERS = [
    Layer("iris_contours", "Contours des IRIS (IGN CONTOURS-IRIS)", "iris", required=True),
    Layer("commune_contours", "Contours des communes (IGN Admin Express)", "commune"),
]


def _pick(columns, candidates) -> str | None:
    return next((c for c in candidates if c in columns), None)


def iris_fields_present(columns) -> bool:
    """Whether a set of attribute names looks like CONTOURS-IRIS."""
    return _pick(columns, IRIS_FIELDS["iris"]) is not None


def _read_vector(path: Path, wanted) -> gpd.GeoDataFrame:
    import pyogrio

    layer = None
    if path.suffix.lower() == ".gpkg":
        for name, _ in pyogrio.list_layers(path):
            fields = pyogrio.read_info(path, layer=name)["fields"]
            if _pick(list(fields), wanted):
                layer = name
                break
    return gpd.read_file(path, layer=layer)


def read_iris_contours(path: str | Path, *, crs: str | None = None) -> Parsed:
    """Read IRIS contours (CONTOURS-IRIS 2.x upper-case or 3.x lower-case fields).

    Parameters
    ----------
    path : str or pathlib.Path
        GeoPackage, shapefile or GeoJSON.
    crs : str, optional
        Projected CRS to reproject to on read (the territory's computation CRS).

    Returns
    -------
    Parsed
        GeoDataFrame indexed by ``iris`` with ``commune``, ``commune_name``, ``iris_name``,
        ``iris_type`` and ``geometry``. Invalid geometries are repaired (noted).
    """
    path = Path(path)
    gdf = _read_vector(path, IRIS_FIELDS["iris"])
    if gdf.crs is None:
        raise InputError("le fichier de contours IRIS ne déclare pas de système de coordonnées.",
                         path=path)
    rename = {}
    for ours, candidates in IRIS_FIELDS.items():
        found = _pick(gdf.columns, candidates)
        if found is None and ours in ("iris",):
            raise InputError("champ CODE_IRIS (ou code_iris) introuvable.", path=path)
        if found is not None:
            rename[found] = ours
    # Select before renaming: CONTOURS-IRIS 3.0 has both ``iris`` (4-character code in
    # the commune) and ``code_iris``, which would give two columns named "iris".
    gdf = gdf[[*rename, "geometry"]].rename(columns=rename)
    gdf.index = pd.RangeIndex(1, len(gdf) + 1, name="objet")
    gdf["iris"] = codes(gdf["iris"], 9, IRIS_RE, path=path, field="CODE_IRIS")
    check_unique(gdf["iris"], path=path, field="CODE_IRIS")
    if "commune" in gdf:
        gdf["commune"] = codes(gdf["commune"], 5, COMMUNE_RE, path=path, field="INSEE_COM")
    else:
        gdf["commune"] = gdf["iris"].str[:5]
    if "iris_type" in gdf:
        gdf["iris_type"] = gdf["iris_type"].astype(str).str.strip().str.upper()
    notes = []
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        gdf.loc[invalid, "geometry"] = gdf.geometry[invalid].make_valid()
        notes.append(f"{int(invalid.sum())} géométrie(s) invalide(s) réparée(s) (make_valid).")
    source_crs = gdf.crs.to_string()
    if crs is not None and not gdf.crs.equals(crs):
        gdf = gdf.to_crs(crs)
        notes.append(f"reprojeté de {source_crs} vers {crs}.")
    gdf = gdf.set_index("iris")
    return Parsed(
        layer="iris_contours",
        frame=gdf,
        vintage=vintage_from_name(path),
        path=path,
        layout="officiel" if path.suffix.lower() in (".gpkg", ".shp") else "extrait (GeoJSON)",
        notes=notes,
    )


def read_commune_contours(path: str | Path, *, crs: str | None = None) -> Parsed:
    """Read commune contours (Admin Express or the ``code``/``nom`` GeoJSON extracts)."""
    path = Path(path)
    gdf = _read_vector(path, COMMUNE_FIELDS["commune"])
    code = _pick(gdf.columns, COMMUNE_FIELDS["commune"])
    name = _pick(gdf.columns, COMMUNE_FIELDS["commune_name"])
    out = gpd.GeoDataFrame(
        {"commune": codes(gdf[code], 5, COMMUNE_RE, path=path, field=code),
         "commune_name": gdf[name] if name else None},
        geometry=gdf.geometry, crs=gdf.crs,
    )
    if crs is not None:
        out = out.to_crs(crs)
    return Parsed(layer="commune_contours", frame=out.set_index("commune"),
                  vintage=vintage_from_name(path), path=path)


SOURCES = [
    Source(
        name="ign_contours_iris_2020",
        layer="iris_contours",
        title_fr="CONTOURS-IRIS® édition 2020 (France métropolitaine, Lambert-93)",
        publisher="IGN / INSEE",
        vintage="2020",
        licence=LICENCE_OUVERTE,
        url="https://data.geopf.fr/telechargement/download/CONTOURS-IRIS/"
        "CONTOURS-IRIS_2-1__SHP__FRA_2020-01-01/CONTOURS-IRIS_2-1__SHP__FRA_2020-01-01.7z",
        filename="CONTOURS-IRIS_2-1__SHP__FRA_2020-01-01.7z",
        homepage="https://geoservices.ign.fr/contoursiris",
        member="*LAMB93*FXX*/CONTOURS-IRIS.*",
        geography="IRIS 2020",
        notes_fr="Archive 7z (extraite par fragility avec py7zr) ; champs INSEE_COM, NOM_COM, "
        "IRIS, CODE_IRIS, NOM_IRIS, TYP_IRIS.",
    ),
    Source(
        name="ign_contours_iris_2024",
        layer="iris_contours",
        title_fr="CONTOURS-IRIS® 3.0 édition 2024 (France métropolitaine, GeoPackage Lambert-93)",
        publisher="IGN / INSEE",
        vintage="2024",
        licence=LICENCE_OUVERTE,
        url="https://data.geopf.fr/telechargement/download/CONTOURS-IRIS/"
        "CONTOURS-IRIS_3-0__GPKG_LAMB93_FXX_2024-01-01/"
        "CONTOURS-IRIS_3-0__GPKG_LAMB93_FXX_2024-01-01.7z",
        filename="CONTOURS-IRIS_3-0__GPKG_LAMB93_FXX_2024-01-01.7z",
        homepage="https://geoservices.ign.fr/contoursiris",
        member="*.gpkg",
        geography="IRIS 2024",
        notes_fr="Champs en minuscules (code_insee, nom_commune, iris, code_iris, nom_iris, "
        "type_iris).",
    ),
]
