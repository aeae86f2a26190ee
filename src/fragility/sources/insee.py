"""INSEE files: census IRIS bases, Filosofi (IRIS and communes), BPE.

Each reader accepts the official layout *and* the third-party extracts found in the
wild (column subsets, rounded values, département extracts). Vintage-prefixed columns
(``P17_POP``, ``C21_MENPSEUL``, ``DISP_TP6019``) are renamed to vintage-free names
(``P_POP``, ``C_MENPSEUL``, ``DISP_TP60``); the vintage is kept in :class:`Parsed`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fragility.conventions import COMMUNE_RE, IRIS_RE
from fragility.errors import InputError
from fragility.sources._model import LICENCE_OUVERTE, Layer, Parsed, Source
from fragility.sources._read import (
    check_unique,
    codes,
    count_missing,
    read_table,
    strip_vintage,
    to_numeric,
    vintage_from_name,
)

CENSUS_RE = re.compile(r"^(?P<kind>[PC])(?P<yy>\d{2})_(?P<rest>.+)$")
FILOSOFI_IRIS_RE = re.compile(r"^(?P<kind>DISP|DEC)_(?P<rest>.+?)(?P<yy>\d{2})$")
FILOSOFI_COM_RE = re.compile(r"^(?P<rest>[A-Z][A-Z0-9_]*?)(?P<yy>\d{2})$")

#: Identity columns of the census IRIS bases (official layout).
CENSUS_IDENTITY = (
    "IRIS", "REG", "DEP", "UU2010", "UU2020", "COM", "LIBCOM", "TRIRIS", "GRD_QUART",
    "LIBIRIS", "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS",
)
_OFFICIAL_IDENTITY = {"IRIS", "COM", "LIBCOM", "LIBIRIS", "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS"}

#: The five census bases: layer name -> (French title, a signature column, vintage-free).
CENSUS_BASES = {
    "census_population": ("Recensement — évolution et structure de la population", "P_POP"),
    "census_familles": ("Recensement — couples, familles, ménages", "C_MEN"),
    "census_logement": ("Recensement — logement", "P_LOG"),
    "census_diplomes": ("Recensement — diplômes et formation", "P_NSCOL15P_"),
    "census_activite": ("Recensement — activité des résidents", "P_ACT1564"),
}

LAYERS = [
    *(Layer(name, title, "iris") for name, (title, _) in CENSUS_BASES.items()),
    Layer("census_car_derived", "Part des ménages sans voiture (indicateur dérivé tiers)", "iris"),
    Layer("filosofi_iris", "Filosofi — revenus disponibles à l'IRIS", "iris"),
    Layer("filosofi_iris_dec", "Filosofi — revenus déclarés à l'IRIS", "iris"),
    Layer("filosofi_commune", "Filosofi — revenus disponibles à la commune", "commune"),
    Layer("bpe", "Base permanente des équipements (BPE)", "point"),
]


def census_layer(columns: list[str]) -> str | None:
    """Tell which census base a header belongs to (``None`` if it is not one)."""
    if "IRIS" not in columns:
        return None
    stripped = {CENSUS_RE.sub(r"\g<kind>_\g<rest>", c) for c in columns if CENSUS_RE.match(c)}
    if not stripped:
        return None
    # Order matters: the population base also has P_PMEN, the family base P_POP15P...
    if any(c.startswith("P_NSCOL15P_") for c in stripped):
        return "census_diplomes"
    if "P_ACT1564" in stripped or "P_CHOM1564" in stripped:
        return "census_activite"
    if "P_LOG" in stripped or "P_RP" in stripped:
        return "census_logement"
    if "C_MEN" in stripped or "C_FAM" in stripped:
        return "census_familles"
    if "P_POP" in stripped:
        return "census_population"
    return None


def _iris_index(table: pd.DataFrame, path: Path, column: str = "IRIS") -> pd.Series:
    iris = codes(table[column], 9, IRIS_RE, path=path, field=column)
    check_unique(iris, path=path, field=column)
    return iris


def _numeric_block(table: pd.DataFrame, mapping: dict[str, str], path: Path) -> pd.DataFrame:
    return pd.DataFrame(
        {new: to_numeric(table[old], path=path, field=old) for new, old in mapping.items()},
        index=table.index,
    )


def read_census(path: str | Path, member: str | None = None) -> Parsed:
    """Read one census IRIS base (official ``base-ic-*`` layout or an extract).

    Parameters
    ----------
    path : str or pathlib.Path
        CSV (or zip holding it), ``;``-separated as INSEE publishes.
    member : str, optional
        CSV member inside a zip archive.

    Returns
    -------
    Parsed
        ``frame`` indexed by ``iris`` with ``commune``, ``iris_type`` (when present),
        ``iris_label`` and the vintage-free value columns (float, NaN = secret/blank).
    """
    path = Path(path)
    table = read_table(path, member)
    layer = census_layer(list(table.columns))
    if layer is None:
        raise InputError(
            "ce fichier n'a pas la structure d'une base infracommunale du recensement "
            "(colonne IRIS et colonnes Pxx_/Cxx_ attendues).",
            path=path,
        )
    iris = _iris_index(table, path)
    mapping, vintage = strip_vintage(table.columns, CENSUS_RE, "{kind}_{rest}")
    values = _numeric_block(table, mapping, path)
    frame = pd.DataFrame(index=table.index)
    frame["iris"] = iris
    if "COM" in table:
        frame["commune"] = codes(table["COM"], 5, COMMUNE_RE, path=path, field="COM")
    else:
        frame["commune"] = iris.str[:5]
    if "TYP_IRIS" in table:
        frame["iris_type"] = table["TYP_IRIS"].str.strip().str.upper()
    if "LIBIRIS" in table:
        frame["iris_name"] = table["LIBIRIS"].str.strip()
    if "LAB_IRIS" in table:
        frame["iris_label"] = table["LAB_IRIS"].str.strip()
    secret = count_missing(values)
    frame = pd.concat([frame, values], axis=1)
    missing_identity = sorted(_OFFICIAL_IDENTITY - set(table.columns))
    layout = "officiel" if not missing_identity else (
        "extrait tiers (colonnes absentes : " + ", ".join(missing_identity) + ")"
    )
    parsed = Parsed(
        layer=layer,
        frame=frame.set_index("iris"),
        vintage=vintage,
        path=path,
        layout=layout,
        columns=mapping,
        secret=pd.Series(secret.to_numpy(), index=iris.to_numpy()),
    )
    return parsed


def read_car_derived(path: str | Path, member: str | None = None) -> Parsed:
    """Read the third-party ``IRIS,perc_voit`` file (share of households without a car).

    The formula is not published by its author (presumably ``1 - P_RP_VOIT1P / P_RP``);
    the value is kept as ``households_without_car_share`` and marked as derived.
    """
    path = Path(path)
    table = read_table(path, member)
    iris = _iris_index(table, path)
    share = to_numeric(table["perc_voit"], path=path, field="perc_voit")
    frame = pd.DataFrame(
        {"households_without_car_share": share.to_numpy()}, index=pd.Index(iris, name="iris")
    )
    return Parsed(
        layer="census_car_derived",
        frame=frame,
        vintage=vintage_from_name(path),
        path=path,
        layout="indicateur dérivé tiers (formule non publiée)",
        columns={"households_without_car_share": "perc_voit"},
        secret=pd.Series(share.isna().astype(int).to_numpy(), index=iris.to_numpy()),
    )


def read_filosofi_iris(path: str | Path, member: str | None = None) -> Parsed:
    """Read Filosofi at IRIS level (``BASE_TD_FILO_DISP_IRIS_yyyy`` or an extract).

    Blank cells are INSEE's statistical secret and become NaN (counted in ``secret``).
    """
    path = Path(path)
    table = read_table(path, member)
    iris = _iris_index(table, path)
    mapping, vintage = strip_vintage(table.columns, FILOSOFI_IRIS_RE, "{kind}_{rest}")
    if not mapping:
        raise InputError("aucune colonne Filosofi (DISP_… ou DEC_…) reconnue.", path=path)
    values = _numeric_block(table, mapping, path)
    kind = "filosofi_iris_dec" if all(k.startswith("DEC_") for k in mapping) else "filosofi_iris"
    frame = values.copy()
    frame.index = pd.Index(iris.to_numpy(), name="iris")
    extra = [c for c in table.columns if c not in mapping.values() and c not in ("IRIS",)]
    layout = "officiel" if set(extra) <= {"LIBIRIS", "COM", "LIBCOM"} else (
        "extrait tiers (colonnes ajoutées : " + ", ".join(extra) + ")"
    )
    return Parsed(
        layer=kind,
        frame=frame,
        vintage=vintage,
        path=path,
        layout=layout,
        columns=mapping,
        secret=pd.Series(count_missing(values).to_numpy(), index=iris.to_numpy()),
    )


def read_filosofi_commune(path: str | Path, member: str | None = None) -> Parsed:
    """Read Filosofi at commune level (``base-cc-filosofi-yyyy``: ``CODGEO;MED19;TP6019…``).

    Columns are renamed to the IRIS names (``MED19`` -> ``DISP_MED``, ``TP6019`` ->
    ``DISP_TP60``) so that a commune value can stand in for an IRIS value.
    """
    path = Path(path)
    table = read_table(path, member)
    commune = codes(table["CODGEO"], 5, COMMUNE_RE, path=path, field="CODGEO")
    check_unique(commune, path=path, field="CODGEO")
    mapping, vintage = strip_vintage(
        [c for c in table.columns if c not in ("CODGEO", "LIBGEO")], FILOSOFI_COM_RE, "DISP_{rest}"
    )
    values = _numeric_block(table, mapping, path)
    values.index = pd.Index(commune.to_numpy(), name="commune")
    return Parsed(
        layer="filosofi_commune",
        frame=values,
        vintage=vintage,
        path=path,
        layout="officiel",
        columns=mapping,
        secret=pd.Series(count_missing(values).to_numpy(), index=commune.to_numpy()),
    )


def read_bpe(path: str | Path, member: str | None = None) -> Parsed:
    """Read the BPE with coordinates (``bpeYY_ensemble_xy``: ``DEPCOM;DCIRIS;TYPEQU;LAMBERT_X;…``).

    Returns a GeoDataFrame of points in the file's Lambert-93 coordinates, with
    ``commune``, ``iris`` (when given) and ``typequ``. Rows without coordinates are kept
    with an empty geometry and counted in the notes.
    """
    import geopandas as gpd

    path = Path(path)
    table = read_table(path, member)
    commune = codes(table["DEPCOM"], 5, COMMUNE_RE, path=path, field="DEPCOM")
    x = to_numeric(table["LAMBERT_X"], path=path, field="LAMBERT_X")
    y = to_numeric(table["LAMBERT_Y"], path=path, field="LAMBERT_Y")
    frame = pd.DataFrame({"commune": commune, "typequ": table["TYPEQU"].str.strip()})
    if "DCIRIS" in table:
        frame["iris"] = table["DCIRIS"].str.replace("_", "", regex=False).str.strip()
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs="EPSG:2154")
    gdf.loc[x.isna() | y.isna(), "geometry"] = None
    year = table["AN"].iloc[0] if "AN" in table and len(table) else vintage_from_name(path)
    notes = []
    if (x.isna() | y.isna()).any():
        notes.append(f"{int((x.isna() | y.isna()).sum())} équipement(s) sans coordonnées.")
    return Parsed(layer="bpe", frame=gdf, vintage=year, path=path, notes=notes)


def _census_sources() -> list[Source]:
    # Official download URLs of the "bases infracommunales" (IRIS), pinned per vintage.
    pages = {
        "2017": {
            "census_population": ("4799309", "base-ic-evol-struct-pop-2017"),
            "census_logement": ("4799305", "base-ic-logement-2017"),
            "census_familles": ("4799278", "base-ic-couples-familles-menages-2017"),
            "census_diplomes": ("4799302", "base-ic-diplomes-formation-2017"),
            "census_activite": ("4799323", "base-ic-activite-residents-2017"),
        },
        "2020": {
            "census_population": ("7704076", "base-ic-evol-struct-pop-2020"),
            "census_logement": ("7704078", "base-ic-logement-2020"),
            "census_familles": ("7704080", "base-ic-couples-familles-menages-2020"),
            "census_diplomes": ("7704084", "base-ic-diplomes-formation-2020"),
            "census_activite": ("7704082", "base-ic-activite-residents-2020"),
        },
    }
    geography = {"2017": "IRIS 2019", "2020": "IRIS 2022"}
    out = []
    for vintage, bases in pages.items():
        for layer, (page, stem) in bases.items():
            out.append(
                Source(
                    name=f"insee_rp{vintage}_{layer.removeprefix('census_')}",
                    layer=layer,
                    title_fr=f"{CENSUS_BASES[layer][0]} (RP {vintage}, IRIS)",
                    publisher="INSEE",
                    vintage=vintage,
                    licence=LICENCE_OUVERTE,
                    url=f"https://www.insee.fr/fr/statistiques/fichier/{page}/{stem}_csv.zip",
                    filename=f"{stem}_csv.zip",
                    homepage=f"https://www.insee.fr/fr/statistiques/{page}",
                    member=f"{stem}*.CSV",
                    geography=geography[vintage],
                )
            )
    return out


SOURCES = [
    *_census_sources(),
    Source(
        name="insee_filosofi2019_iris_disp",
        layer="filosofi_iris",
        title_fr="Filosofi 2019 — revenus disponibles, pauvreté et niveau de vie à l'IRIS",
        publisher="INSEE",
        vintage="2019",
        licence=LICENCE_OUVERTE,
        url="https://www.insee.fr/fr/statistiques/fichier/6049648/BASE_TD_FILO_DISP_IRIS_2019.zip",
        filename="BASE_TD_FILO_DISP_IRIS_2019.zip",
        homepage="https://www.insee.fr/fr/statistiques/6049648",
        member="BASE_TD_FILO_DISP_IRIS_2019*.csv",
        geography="IRIS 2021",
        notes_fr="Diffusé pour les IRIS des communes de 10 000 habitants ou plus (5 000 à "
        "partir du millésime 2020) ; cellules vides = secret statistique.",
    ),
    Source(
        name="insee_filosofi2020_iris_disp",
        layer="filosofi_iris",
        title_fr="Filosofi 2020 — revenus disponibles, pauvreté et niveau de vie à l'IRIS",
        publisher="INSEE",
        vintage="2020",
        licence=LICENCE_OUVERTE,
        url="https://www.insee.fr/fr/statistiques/fichier/7233950/BASE_TD_FILO_DISP_IRIS_2020_CSV.zip",
        filename="BASE_TD_FILO_DISP_IRIS_2020_CSV.zip",
        homepage="https://www.insee.fr/fr/statistiques/7233950",
        member="BASE_TD_FILO_DISP_IRIS_2020*.csv",
        geography="IRIS 2022",
        notes_fr="IRIS des communes de 5 000 habitants ou plus ; les autres prennent la "
        "valeur communale (base-cc-filosofi), marquée comme telle.",
    ),
    Source(
        name="insee_filosofi2020_communes",
        layer="filosofi_commune",
        title_fr="Filosofi 2020 — revenus et pauvreté des communes (base-cc-filosofi)",
        publisher="INSEE",
        vintage="2020",
        licence=LICENCE_OUVERTE,
        url="https://www.insee.fr/fr/statistiques/fichier/6692392/base-cc-filosofi-2020_CSV.zip",
        filename="base-cc-filosofi-2020_CSV.zip",
        homepage="https://www.insee.fr/fr/statistiques/6692392",
        member="cc_filosofi_2020_COM*.csv",
        geography="COG 2022",
    ),
    Source(
        name="insee_bpe2023_xy",
        layer="bpe",
        title_fr="Base permanente des équipements 2023, équipements géolocalisés",
        publisher="INSEE",
        vintage="2023",
        licence=LICENCE_OUVERTE,
        url="https://www.insee.fr/fr/statistiques/fichier/8217525/BPE23.zip",
        filename="BPE23.zip",
        homepage="https://www.insee.fr/fr/statistiques/8217525",
        member="BPE23*.csv",
        geography="COG 2024",
    ),
]
