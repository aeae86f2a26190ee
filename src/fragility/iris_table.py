"""The IRIS base table: one row per IRIS of a territory, every available layer joined.

Nothing is dropped silently: the :class:`IrisTable` carries a coverage report that says,
for every layer, which IRIS have no data and why (absent from the file, statistical
secret, different geography vintage, outside the Filosofi IRIS scope...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from fragility._files import atomic_path, atomic_write, write_csv
from fragility.conventions import IRIS_INDEX, check_iris_frame, isin
from fragility.errors import InputError
from fragility.sources import LAYERS, Catalogue, LocalFile, Parsed, discover
from fragility.sources.insee import CENSUS_BASES
from fragility.territory import Territory, catalogue_for

#: Reasons used in the coverage report, with their French wording.
REASONS = {
    "absent_du_fichier": "IRIS absent du fichier",
    "secret_statistique": "valeurs masquées (secret statistique)",
    "millesime_different": "code IRIS d'une autre géographie (millésime différent)",
    "hors_champ_filosofi_iris": "commune sous le seuil de diffusion de Filosofi à l'IRIS",
    "valeur_communale": "valeur communale de Filosofi utilisée faute de valeur à l'IRIS",
    "couche_absente": "aucun fichier de cette couche dans les données",
    "contours_qpv_absents": "commune comptant un QPV, mais contours des QPV absents",
    "commune_absente_des_contours": "commune du territoire absente du fichier de contours",
    "population_estimee": "population estimée à partir de la population communale du COG",
}


def filosofi_iris_threshold(vintage: str | None) -> int:
    """Population from which INSEE publishes Filosofi at IRIS level for a commune.

    10 000 inhabitants up to the 2019 vintage, 5 000 from the 2020 vintage on.
    """
    return (
        10000
        if vintage is not None and vintage[:4].isdigit() and int(vintage[:4]) <= 2019
        else 5000
    )


@dataclass(frozen=True)
class IrisTable:
    """Result of :func:`build_iris_table`.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        One row per IRIS, indexed by ``iris``, in the territory's projected CRS.
        Columns: ``commune``, ``commune_name``, ``iris_name``, ``iris_type``, ``epci``,
        ``population`` and ``population_status`` (``recensement``, ``cog_commune`` —
        exact for a commune not split into IRIS —, ``estimee_surface`` or ``inconnue``),
        the census variables with vintage-free names (``P_POP``, ``C_MENPSEUL``…),
        Filosofi (``DISP_TP60``…, with ``filosofi_level``: ``iris``/``commune``),
        ``qpv_share`` (area share of the IRIS inside a QPV), ``qpv_codes``,
        ``qpv_status``, ``fs_distance_m`` and ``fs_nearest`` (nearest France services).
    coverage : pandas.DataFrame
        One row per (layer, IRIS or commune) without data: ``layer``, ``iris``,
        ``commune``, ``reason`` (a key of :data:`REASONS`), ``detail`` (French).
    layers : pandas.DataFrame
        One row per layer: title, files, vintage, layout, IRIS with data, notes.
    variables : pandas.DataFrame
        One row per joined variable: ``column``, ``layer``, ``original`` name in the
        file and ``vintage``.
    warnings : list of str
        French sentences on vintage mismatches and other cautions.
    territory : Territory
        The territory the table describes.
    provenance : list of LocalFile
        Every file read, with its SHA-256.
    services : geopandas.GeoDataFrame or None
        Every France services point of the data (``name``, ``commune``, ``geometry``), in
        the table's CRS, those just outside the territory included (they serve it too);
        ``None`` without the layer.
    """

    gdf: gpd.GeoDataFrame
    coverage: pd.DataFrame
    layers: pd.DataFrame
    variables: pd.DataFrame
    warnings: list[str]
    territory: Territory
    provenance: list[LocalFile] = field(default_factory=list)
    services: gpd.GeoDataFrame | None = None

    def coverage_markdown(self) -> str:
        """The coverage report in French Markdown (what ``couverture.md`` holds)."""
        return _coverage_markdown(self)

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``iris.gpkg``, ``iris.csv`` (column ``iris`` first) and ``couverture.md``.

        Every file is written atomically. Returns the paths written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        gpkg, csv, md = out / "iris.gpkg", out / "iris.csv", out / "couverture.md"
        with atomic_path(gpkg) as tmp:
            self.gdf.reset_index().to_file(tmp, layer="iris", driver="GPKG")
        with atomic_write(csv, "w", encoding="utf-8", newline="") as handle:
            write_csv(pd.DataFrame(self.gdf.drop(columns="geometry")).reset_index(), handle)
        with atomic_write(md, "w", encoding="utf-8") as handle:
            handle.write(self.coverage_markdown())
        return [gpkg, csv, md]


def _local_catalogue(territory: Territory, sources) -> Catalogue:
    if territory.data_dir is not None:
        catalogue = catalogue_for(territory.data_dir)
        catalogue = Catalogue(
            root=catalogue.root, files=dict(catalogue.files), ignored=list(catalogue.ignored)
        )
    else:
        catalogue = Catalogue(root=None)
    for layer, path in (sources or {}).items():
        if layer not in LAYERS:
            raise InputError(f"couche inconnue : « {layer} » (couches : {', '.join(LAYERS)}).")
        found = discover(Path(path).parent)
        files = [f for f in found.files.get(layer, []) if f.path.resolve() == Path(path).resolve()]
        if not files:
            raise InputError(f"le fichier ne contient pas la couche « {layer} ».", path=path)
        catalogue.files[layer] = files
    return catalogue


class _Builder:
    """Accumulates the table, the coverage rows and the layer summaries."""

    def __init__(self, territory: Territory, catalogue: Catalogue):
        self.territory = territory
        self.catalogue = catalogue
        self.crs = territory.crs
        self.services = None
        self.coverage: list[dict] = []
        self.summaries: list[dict] = []
        self.variables: list[dict] = []
        self.warnings: list[str] = []
        self.provenance: list[LocalFile] = []
        self.mismatches: list[tuple] = []

    def vintage_warning(self) -> None:
        """One sentence on every layer whose IRIS geography differs from the contours'."""
        if not self.mismatches:
            return
        parts = [
            f"{title} {vintage} (géographie {geo})" for title, vintage, geo, _, _ in self.mismatches
        ]
        unmatched = sum(m[3] for m in self.mismatches)
        merged = sum(m[4] for m in self.mismatches)
        self.warnings.insert(
            0,
            f"Millésimes différents des contours IRIS {self.contours_vintage} : "
            + " ; ".join(parts)
            + f". Codes sans correspondance : {unmatched}"
            + (f" ; lignes de communes fusionnées réaffectées : {merged}" if merged else "")
            + " (détail dans la couverture).",
        )

    def read(self, layer: str) -> Parsed | None:
        parsed = self.catalogue.read(layer, crs=self.crs)
        if parsed is not None:
            self.provenance.extend(
                f
                for f in self.catalogue.files[layer]
                if (f.vintage or "") == (parsed.vintage or "")
                or len(self.catalogue.files[layer]) == 1
            )
        return parsed

    def missing(self, layer: str, iris, reason: str, detail: str | None = None, commune=None):
        for code in iris:
            self.coverage.append(
                {
                    "layer": layer,
                    "iris": code,
                    "commune": commune if commune is not None else code[:5],
                    "reason": reason,
                    "detail": detail or REASONS[reason],
                }
            )

    def summary(self, layer: str, parsed: Parsed | None, with_data: int | None, notes=()):
        self.summaries.append(
            {
                "layer": layer,
                "title_fr": LAYERS[layer].title_fr,
                "files": ""
                if parsed is None
                else ", ".join(sorted({f.path.name for f in self.catalogue.files.get(layer, [])})),
                "vintage": None if parsed is None else parsed.vintage,
                "layout": None if parsed is None else parsed.layout,
                "iris_with_data": with_data,
                "notes": " ".join([*(parsed.notes if parsed else []), *notes]),
            }
        )


def build_iris_table(
    territory: Territory,
    *,
    sources: dict[str, str | os.PathLike] | None = None,
    progress: bool = False,
) -> IrisTable:
    """Build the IRIS base table of a territory.

    Parameters
    ----------
    territory : Territory
        The study area.
    sources : dict, optional
        Layer name -> file, to force a given file for a layer (otherwise every layer
        is recognised by content in ``territory.data_dir``).
    progress : bool, default False
        Show a progress bar over the layers.

    Returns
    -------
    IrisTable

    Raises
    ------
    InputError
        When no IRIS contours are available for the territory.

    Examples
    --------
    >>> table = build_iris_table(Territory.demo())  # doctest: +SKIP
    >>> table.gdf.shape  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    catalogue = _local_catalogue(territory, sources)
    b = _Builder(territory, catalogue)
    steps = [_contours, _census, _car, _filosofi, _population, _qpv, _france_services]
    gdf = None
    for step in tqdm(steps, desc="Table IRIS", disable=not progress, unit="couche"):
        gdf = step(b, gdf)
    b.vintage_warning()
    check_iris_frame(gdf)
    coverage = pd.DataFrame(b.coverage, columns=["layer", "iris", "commune", "reason", "detail"])
    return IrisTable(
        gdf=gdf,
        coverage=coverage,
        layers=pd.DataFrame(b.summaries),
        variables=pd.DataFrame(b.variables, columns=["column", "layer", "original", "vintage"]),
        warnings=b.warnings,
        territory=territory,
        provenance=b.provenance,
        services=b.services,
    )


def _contours(b: _Builder, _gdf) -> gpd.GeoDataFrame:
    parsed = b.read("iris_contours")
    if parsed is None:
        raise InputError(
            "aucun fichier de contours IRIS (IGN CONTOURS-IRIS) n'a été trouvé"
            + (f" dans {b.territory.data_dir}" if b.territory.data_dir else "")
            + " : ajoutez-le au dossier de données (--data-dir)."
        )
    cog = b.territory.cog()
    b.cog = cog
    contours = parsed.frame
    current = contours["commune"].map(_current_codes(cog, contours["commune"]))
    moved = contours.index[current != contours["commune"]]
    if len(moved):
        b.warnings.append(
            f"{len(moved)} IRIS des contours portent un code de commune qui n'existe plus dans "
            "le COG : rattachés à la commune actuelle."
        )
    contours = contours.assign(commune=current)
    wanted = set(b.territory.communes)
    gdf = contours[isin(contours["commune"], wanted)].copy()
    b.contour_codes = set(contours.index)
    b.contour_index = pd.Index(contours.index, dtype=object)
    absent = sorted(wanted - set(gdf["commune"]))
    for code in absent:
        name = cog.communes["name"].get(code, "")
        b.missing(
            "iris_contours",
            [""],
            "commune_absente_des_contours",
            f"commune {code} {name} absente du fichier de contours (autre département ?)",
            commune=code,
        )
    if gdf.empty:
        raise InputError(
            f"aucun IRIS du territoire dans le fichier de contours ({parsed.path.name})."
        )
    names = cog.communes["name"]
    if "commune_name" not in gdf:
        gdf["commune_name"] = None
    gdf["commune_name"] = gdf["commune"].map(names).fillna(gdf["commune_name"])
    for col in ("iris_name", "iris_type"):
        if col not in gdf:
            gdf[col] = None
    epci_of = cog.epci.drop_duplicates("commune").set_index("commune")["epci"]
    gdf["epci"] = gdf["commune"].map(epci_of)
    gdf = gdf[["commune", "commune_name", "iris_name", "iris_type", "epci", "geometry"]]
    gdf = gdf.sort_index()
    gdf.index.name = IRIS_INDEX
    b.summary(
        "iris_contours",
        parsed,
        len(gdf),
        [f"{len(absent)} commune(s) du territoire sans contours."] if absent else [],
    )
    return gdf


def _current_codes(cog, codes: pd.Series) -> dict[str, str]:
    """Distinct commune code -> current code (``cog.current_code(c) or c``), vectorised."""
    distinct = pd.unique(codes)
    current = cog.current_codes(distinct)
    return {c: now or c for c, now in zip(distinct, current, strict=True)}


def _geography_year(layer: str, vintage: str | None) -> int | None:
    """Year of the IRIS geography a layer's codes follow (RP n: 1 Jan n+2; Filosofi: n+2)."""
    if vintage is None or not vintage[:4].isdigit():
        return None
    year = int(vintage[:4])
    return year + 2 if layer in CENSUS_BASES or layer.startswith("filosofi") else year


def _harmonise(b: _Builder, parsed: Parsed, additive: bool) -> tuple[pd.DataFrame, list[str]]:
    """Re-key rows of communes merged since the file's geography onto today's IRIS.

    Counts of a former commune are added to the single IRIS of the commune it merged
    into; non-additive values (medians, rates) are never summed.
    """
    frame = parsed.frame
    notes = []
    inside = isin(frame.index, b.contour_index)
    outside = frame.index[~inside]
    # Only codes of the territory's communes (or of communes merged into one of them)
    # matter below; a national file read for one EPCI has tens of thousands of others.
    communes = pd.Index(outside.str[:5], dtype=object)
    parents = b.cog.current_codes(communes)
    ours = isin(communes, b.territory.communes) | isin(parents, b.territory.communes)
    for code, parent in zip(outside[ours], parents[ours], strict=True):
        target = f"{parent}0000" if parent else None
        if (
            additive
            and parent
            and parent != code[:5]
            and target in b.contour_codes
            and parent in b.territory.communes
        ):
            numeric = frame.select_dtypes("number").columns
            frame.loc[target, numeric] = frame.loc[[target, code], numeric].sum(min_count=1)
            notes.append(f"{code} (commune fusionnée) ajouté à {target}.")
        elif code[:5] in b.territory.communes or (parent in b.territory.communes):
            b.missing(
                parsed.layer,
                [code],
                "millesime_different",
                f"code {code} du fichier absent des contours (géographie différente)",
            )
    return frame[inside], notes


def _join_values(b: _Builder, gdf, parsed: Parsed, skip=()) -> gpd.GeoDataFrame:
    frame, notes = _harmonise(b, parsed, additive=parsed.layer in CENSUS_BASES)
    columns = [c for c in parsed.columns if c not in gdf.columns and c not in skip]
    clash = [c for c in parsed.columns if c in gdf.columns]
    if clash:
        notes.append(f"variables déjà présentes, non reprises : {', '.join(clash)}.")
    gdf = gdf.join(frame[columns])
    for col in columns:
        b.variables.append(
            {
                "column": col,
                "layer": parsed.layer,
                "original": parsed.columns[col],
                "vintage": parsed.vintage,
            }
        )
    present = isin(gdf.index, frame.index)
    b.missing(parsed.layer, gdf.index[~present], "absent_du_fichier")
    if parsed.secret is not None:
        secret = parsed.secret.reindex(gdf.index).fillna(0)
        b.missing(parsed.layer, gdf.index[present & (secret > 0).to_numpy()], "secret_statistique")
    geo_year = _geography_year(parsed.layer, parsed.vintage)
    contour_year = _geography_year("iris_contours", b.contours_vintage)
    if geo_year and contour_year and geo_year != contour_year:
        unmatched = sum(
            1
            for r in b.coverage
            if r["layer"] == parsed.layer and r["reason"] == "millesime_different"
        )
        b.mismatches.append(
            (LAYERS[parsed.layer].title_fr, parsed.vintage, geo_year, unmatched, len(notes))
        )
    b.summary(parsed.layer, parsed, int(present.sum()), notes)
    return gdf


def _census(b: _Builder, gdf):
    b.contours_vintage = next(
        (s["vintage"] for s in b.summaries if s["layer"] == "iris_contours"), None
    )
    for layer in CENSUS_BASES:
        parsed = b.read(layer)
        if parsed is None:
            b.missing(layer, gdf.index, "couche_absente")
            b.summary(layer, None, 0)
            continue
        if "iris_type" in parsed.frame:
            fill = parsed.frame["iris_type"].reindex(gdf.index)
            gdf["iris_type"] = gdf["iris_type"].fillna(fill)
        gdf = _join_values(b, gdf, parsed)
    return gdf


def _car(b: _Builder, gdf):
    parsed = b.read("census_car_derived")
    if parsed is not None:
        gdf = _join_values(b, gdf, parsed)
    return gdf


def _filosofi(b: _Builder, gdf):
    parsed = b.read("filosofi_iris")
    communal = b.read("filosofi_commune")
    if parsed is None and communal is None:
        b.missing("filosofi_iris", gdf.index, "couche_absente")
        b.summary("filosofi_iris", None, 0)
        return gdf
    n_before = len(b.coverage)
    if parsed is not None:
        gdf = _join_values(b, gdf, parsed)
        level = pd.Series(
            np.where(isin(gdf.index, parsed.frame.index), "iris", None),
            index=gdf.index,
            dtype=object,
        )
    else:
        level = pd.Series(None, index=gdf.index, dtype=object)
        b.summary("filosofi_iris", None, 0)
    # Rewrite "absent" rows: say why (commune too small, commune value used instead).
    pops = b.cog.communes["population"]
    vintage = (parsed or communal).vintage
    threshold = filosofi_iris_threshold(vintage)
    kept = b.coverage[:n_before]
    with_communal = set() if communal is None else set(communal.frame.index)
    fallback: list[tuple[str, str]] = []  # (IRIS, commune) given the commune's value
    for row in b.coverage[n_before:]:
        if row["layer"] == "filosofi_iris" and row["reason"] in (
            "absent_du_fichier",
            "couche_absente",
        ):
            code, commune = row["iris"], row["commune"]
            if commune in with_communal:
                fallback.append((code, commune))
                row = {**row, "reason": "valeur_communale", "detail": REASONS["valeur_communale"]}
            elif pd.notna(pops.get(commune)) and pops.get(commune) < threshold:
                row = {
                    **row,
                    "reason": "hors_champ_filosofi_iris",
                    "detail": f"commune de moins de {threshold:,} habitants (seuil de "
                    f"diffusion de Filosofi {vintage} à l'IRIS)".replace(",", "\u202f"),
                }
        kept.append(row)
    b.coverage = kept
    if fallback:  # one assignment per column, not per cell: 35,000 communes nationally
        codes = [code for code, _ in fallback]
        communes = [commune for _, commune in fallback]
        for col in [c for c in communal.frame.columns if c.startswith("DISP_")]:
            if col not in gdf:
                gdf[col] = np.nan
                b.variables.append(
                    {
                        "column": col,
                        "layer": "filosofi_commune",
                        "original": communal.columns.get(col, col),
                        "vintage": communal.vintage,
                    }
                )
            gdf.loc[codes, col] = communal.frame[col].loc[communes].to_numpy()
        level[codes] = "commune"
    gdf["filosofi_level"] = level
    if communal is not None:
        b.summary("filosofi_commune", communal, int((level == "commune").sum()))
    return gdf


def _population(b: _Builder, gdf):
    pops = b.cog.communes["population"]
    population = gdf["P_POP"].astype(float) if "P_POP" in gdf else pd.Series(np.nan, gdf.index)
    status = pd.Series(
        np.where(population.notna(), "recensement", None), index=gdf.index, dtype=object
    )
    for commune, rows in gdf[population.isna()].groupby("commune"):
        total = pops.get(commune)
        members = gdf.index[gdf["commune"] == commune]
        if pd.isna(total):
            status[rows.index] = "inconnue"
            continue
        if len(members) == 1:
            population[rows.index] = float(total)
            status[rows.index] = "cog_commune"
            continue
        known = population[members].sum(min_count=1)
        rest = max(float(total) - (0.0 if pd.isna(known) else float(known)), 0.0)
        area = rows.geometry.area
        population[rows.index] = rest * area / area.sum()
        status[rows.index] = "estimee_surface"
    gdf["population"] = population
    gdf["population_status"] = status
    estimated = gdf.index[status.isin(["cog_commune", "estimee_surface"])]
    b.missing("population", estimated, "population_estimee")
    return gdf


def _qpv(b: _Builder, gdf):
    contours = b.read("qpv_contours")
    gdf["qpv_share"] = np.nan
    gdf["qpv_codes"] = ""
    if contours is not None:
        qpv = contours.frame.to_crs(gdf.crs)
        pairs = gpd.sjoin(gdf[["geometry"]], qpv[["geometry"]], predicate="intersects")
        pairs = pairs[pairs.index.notna()]
        iris_geometry = gdf.geometry.loc[pairs.index].to_numpy()
        shared = shapely.area(shapely.intersection(
            iris_geometry, qpv.geometry.loc[pairs["qpv"]].to_numpy()))
        # Area in QPV: the pair's intersection, or, for an IRIS meeting several QPV
        # (which may overlap), the intersection with their union. Only the IRIS that
        # meet a QPV are intersected: the national union has thousands of parts.
        several = pairs.index.duplicated(keep=False)
        inter = pd.Series(shared[~several], index=pairs.index[~several], dtype=float)
        for iris, group in pairs[several].groupby(level=0, sort=False)["qpv"]:
            union = shapely.union_all(qpv.geometry.loc[group].to_numpy())
            inter[iris] = gdf.geometry[iris].intersection(union).area
        area = gdf.geometry.area
        gdf["qpv_share"] = (inter.reindex(gdf.index).fillna(0.0) / area).clip(0, 1).round(6)
        kept = shared > 0.001 * shapely.area(iris_geometry)
        codes = pd.Series(pairs["qpv"].to_numpy()[kept], index=pairs.index[kept])
        joined = codes.groupby(level=0).agg(lambda c: ",".join(sorted(c)))
        gdf["qpv_codes"] = joined.reindex(gdf.index).fillna("").tolist()
        gdf["qpv_status"] = "contours"
        geos = sorted(set(contours.frame["geography"]))
        b.summary(
            "qpv_contours",
            contours,
            int((gdf["qpv_share"] > 0).sum()),
            [f"géographie : {', '.join(geos)} ; part = surface de l'IRIS en QPV."],
        )
        return gdf
    listing = b.read("qpv_list")
    gdf["qpv_status"] = "couche_absente"
    if listing is None:
        b.missing("qpv", gdf.index, "couche_absente")
        b.summary("qpv_list", None, 0)
        return gdf
    by_commune = listing.frame.groupby("commune")["qpv"].apply(lambda s: ",".join(sorted(s)))
    in_qpv_commune = isin(gdf["commune"], by_commune.index)
    gdf["qpv_status"] = np.where(in_qpv_commune, "contours_absents", "aucun_qpv_dans_la_commune")
    gdf["qpv_commune_codes"] = gdf["commune"].map(by_commune).fillna("")
    b.missing("qpv", gdf.index[in_qpv_commune], "contours_qpv_absents")
    b.summary(
        "qpv_list",
        listing,
        0,
        [
            f"{int(in_qpv_commune.sum())} IRIS dans une commune comptant un QPV ; part en QPV "
            "non calculable sans contours."
        ],
    )
    b.warnings.append(
        "Contours des QPV absents : seule la liste des QPV par commune est "
        "disponible, la part de chaque IRIS en QPV n'est pas calculée."
    )
    return gdf


def _france_services(b: _Builder, gdf):
    parsed = b.read("france_services")
    if parsed is None:
        gdf["fs_distance_m"] = np.nan
        gdf["fs_nearest"] = None
        b.missing("france_services", gdf.index, "couche_absente")
        b.summary("france_services", None, 0)
        return gdf
    points = parsed.frame[parsed.frame.geometry.notna()].to_crs(gdf.crs)
    b.services = points[["name", "commune", "geometry"]].copy()
    origins = gpd.GeoDataFrame(geometry=gdf.geometry.representative_point(), crs=gdf.crs)
    nearest = gpd.sjoin_nearest(
        origins, points[["name", "commune", "geometry"]], how="left", distance_col="fs_distance_m"
    )
    nearest = nearest[~nearest.index.duplicated(keep="first")]
    gdf["fs_distance_m"] = nearest["fs_distance_m"].round(1)
    gdf["fs_nearest"] = nearest["name"]
    inside = points[isin(points["commune"], b.territory.communes)]
    b.summary(
        "france_services",
        parsed,
        len(gdf),
        [
            f"{len(inside)} structure(s) dans le territoire ; distance à vol d'oiseau depuis un "
            "point intérieur de chaque IRIS."
        ],
    )
    return gdf


def _coverage_markdown(table: IrisTable) -> str:
    t = table.territory
    lines = [f"# Couverture des données — {t.label}", ""]
    if t.is_synthetic:
        lines += [
            "> **Territoire de démonstration — données synthétiques.** Aucune valeur n'est réelle.",
            "",
        ]
    gdf = table.gdf
    lines += [
        f"- IRIS : **{len(gdf)}** dans {gdf['commune'].nunique()} commune(s) "
        f"({len(t.communes)} commune(s) dans le territoire).",
        f"- Système de coordonnées : {gdf.crs.to_string()}.",
        "- Population : "
        + ", ".join(
            f"{n} IRIS « {s} »"
            for s, n in gdf["population_status"].value_counts().sort_index().items()
        )
        + ".",
        "",
        "## Couches",
        "",
        "| couche | fichier(s) | millésime | présentation | IRIS avec données | remarques |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for _, s in table.layers.iterrows():
        count = "—" if pd.isna(s["iris_with_data"]) else int(s["iris_with_data"])
        lines.append(
            f"| {s['title_fr']} | {s['files'] or '—'} | "
            f"{'—' if pd.isna(s['vintage']) else s['vintage']} | "
            f"{s['layout'] or '—'} | {count} / {len(gdf)} | {s['notes'] or ''} |"
        )
    if table.warnings:
        lines += ["", "## Avertissements", ""] + [f"- {w}" for w in table.warnings]
    lines += ["", "## IRIS sans données, par couche et par raison", ""]
    cov = table.coverage
    if cov.empty:
        lines.append("Aucune donnée manquante.")
    for (layer, reason), rows in cov.groupby(["layer", "reason"], sort=True):
        title = LAYERS[layer].title_fr if layer in LAYERS else layer
        codes = [c or f"commune {m}" for c, m in zip(rows["iris"], rows["commune"], strict=True)]
        shown = ", ".join(codes[:60]) + (f" … (+{len(codes) - 60})" if len(codes) > 60 else "")
        lines += [f"### {title} — {REASONS.get(reason, reason)} ({len(rows)})", "", shown, ""]
        details = sorted(set(rows["detail"]) - {REASONS.get(reason)})
        lines += [f"- {d}" for d in details[:20]] + ([""] if details else [])
    if table.provenance:
        lines += [
            "## Fichiers lus",
            "",
            "| fichier | couche | millésime | SHA-256 |",
            "| --- | --- | --- | --- |",
        ]
        for f in table.provenance:
            lines.append(f"| {f.path.name} | {f.layer} | {f.vintage or '—'} | `{f.sha256[:16]}…` |")
    return "\n".join(lines) + "\n"


#: Publisher and product of each layer, for the "Sources : …" line.
_LAYER_SOURCE_NAMES = {
    "iris_contours": "IGN CONTOURS-IRIS",
    "census_population": "INSEE RP",
    "filosofi_iris": "INSEE Filosofi",
    "france_services": "ANCT France services",
}


def source_line(table: IrisTable) -> str:
    """The "Sources : …" line printed under every map and table.

    Parameters
    ----------
    table : IrisTable
        The table the figures come from.

    Returns
    -------
    str
        Publishers and vintages of the layers used; for the synthetic demo territory, a
        line saying that no value is real.
    """
    if table.territory.is_synthetic:
        return ("Sources : données synthétiques générées par fragility (aucune valeur réelle) ; "
                "traitement fragility")
    parts = []
    for _, row in table.layers.iterrows():
        name = _LAYER_SOURCE_NAMES.get(row["layer"])
        if name and row["files"]:
            vintage = row["vintage"] if isinstance(row["vintage"], str) else ""
            parts.append(f"{name} {vintage}".strip())
    return "Sources : " + ", ".join(parts) + " ; traitement fragility"
