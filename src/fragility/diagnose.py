"""The main job: from a territory to the files of its diagnostic.

Today it builds the IRIS base table, its coverage report and the first maps; the
indices, coverage flags and report (later stages) plug in here without changing the
command (``fragility diagnose`` / ``make demo``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from fragility._files import atomic_write
from fragility.composite import IndexResult, compute_index, load_config
from fragility.indicators import compute_indicators
from fragility.iris_table import IrisTable, build_iris_table
from fragility.maps import static_map
from fragility.territory import Territory

_LAYER_SOURCE_NAMES = {
    "iris_contours": "IGN CONTOURS-IRIS",
    "census_population": "INSEE RP",
    "filosofi_iris": "INSEE Filosofi",
    "france_services": "ANCT France services",
}


def source_line(table: IrisTable) -> str:
    """The "Sources : …" line printed under every map and table."""
    if table.territory.is_synthetic:
        return (
            "Sources : données synthétiques générées par fragility (aucune valeur réelle) ; "
            "traitement fragility"
        )
    parts = []
    for _, row in table.layers.iterrows():
        name = _LAYER_SOURCE_NAMES.get(row["layer"])
        if name and row["files"]:
            parts.append(f"{name} {row['vintage'] or ''}".strip())
    return "Sources : " + ", ".join(parts) + " ; traitement fragility"


@dataclass(frozen=True)
class Diagnostic:
    """What :func:`diagnose` produced.

    Attributes
    ----------
    territory : Territory
        The territory.
    table : IrisTable
        The IRIS base table and its coverage report.
    files : list of pathlib.Path
        Every file written, manifest last.
    indices : dict of IndexResult
        Composite indices by name (isolation, non-recours), with their uncertainty.
    """

    territory: Territory
    table: IrisTable
    files: list[Path]
    indices: dict[str, IndexResult] | None = None

    def summary(self) -> str:
        """A short French summary for the terminal."""
        gdf = self.table.gdf
        lines = [
            f"Territoire : {self.territory.label}",
            f"  {len(gdf)} IRIS, {gdf['commune'].nunique()} communes, population "
            + f"{gdf['population'].sum():,.0f}".replace(",", "\u202f"),
            f"  {len(self.table.coverage)} absence(s) de données signalée(s) (voir couverture.md)",
        ]
        for result in (self.indices or {}).values():
            scored = int(result.values["index"].notna().sum())
            robust = int(result.values["robust_top"].fillna(False).astype(bool).sum())
            lines.append(
                f"  {result.spec.label_fr} : {scored} IRIS classés, dont {robust} "
                "robustement dans le groupe de tête"
            )
        if self.files:
            lines.append(f"Résultats écrits dans {self.files[0].parent.resolve()} :")
            lines += [f"  - {p.relative_to(self.files[0].parent)}" for p in self.files]
        return "\n".join(lines)


def _versions() -> dict[str, str]:
    out = {}
    for name in ("fragility", "geopandas", "pandas", "numpy", "shapely", "pyproj"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "inconnue"
    return out


INDEX_COLUMNS = ["index", "rank", "rank_low", "rank_high", "p_top", "robust_top", "status"]


def _indices(table: IrisTable, seed: int) -> tuple[pd.DataFrame, dict[str, IndexResult]]:
    """Base indicators, the composite indices and the typology, as IRIS columns."""
    import warnings

    from fragility.errors import FragilityWarning
    from fragility.typology import Typology

    gdf = table.gdf
    indicators = compute_indicators(table)
    config = load_config()
    results, parts = {}, [indicators]
    for name in config.indices:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)  # reported in the status
            result = compute_index(
                indicators,
                name,
                population=gdf["population"],
                iris_type=gdf["iris_type"],
                seed=seed,
                config=config,
            )
        results[name] = result
        parts.append(result.values[INDEX_COLUMNS].add_prefix(f"{name}_"))
    keys = [c for c in indicators.columns if not c.endswith(("_status", "_denominator"))]
    classifiable = indicators[keys].notna().sum(axis=1) > len(keys) / 2
    if classifiable.sum() >= 6:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)
            typology = Typology(n_profiles=min(5, int(classifiable.sum()) // 3), seed=seed)
            parts.append(typology.fit(indicators[keys]).to_frame())
    return pd.concat(parts, axis=1), results


def diagnose(
    territory: Territory, out_dir: str | os.PathLike, *, progress: bool = True, seed: int = 0
) -> Diagnostic:
    """Run the main job on a territory and write its outputs to ``out_dir``.

    Writes ``iris.gpkg``, ``iris.csv``, ``couverture.md``, ``figures/*.png`` and
    ``manifest.json`` (inputs with SHA-256 and vintage, territory, versions, one
    timestamp).

    Parameters
    ----------
    territory : Territory
        The study area.
    out_dir : str or os.PathLike
        Output folder (created).
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    Diagnostic
    """
    import dataclasses

    out = Path(out_dir)
    table = build_iris_table(territory, progress=progress)
    extra, results = _indices(table, seed)
    extra = extra.drop(columns=[c for c in extra.columns if c in table.gdf.columns])
    table = dataclasses.replace(table, gdf=table.gdf.join(extra))
    files = table.write(out)
    gdf = table.gdf
    subtitle = (
        "Territoire de démonstration — données synthétiques" if territory.is_synthetic else None
    )
    line = source_line(table)
    dissolved = gdf.dissolve(by="commune")[["geometry"]]
    density = gdf.assign(density=gdf["population"] / (gdf.geometry.area / 1e6))
    files.append(
        static_map(
            density,
            "density",
            out / "figures" / "densite_population.png",
            title=f"Densité de population — {territory.name.split(' (')[0]}",
            subtitle=subtitle,
            legend_title="habitants / km²",
            source_line=line,
            borders=dissolved,
            cmap="Blues",
        )
    )
    if "DISP_TP60" in gdf and gdf["DISP_TP60"].notna().any():
        files.append(
            static_map(
                gdf,
                "DISP_TP60",
                out / "figures" / "taux_pauvrete.png",
                title=f"Taux de pauvreté (seuil 60 %) — {territory.name.split(' (')[0]}",
                subtitle=subtitle,
                legend_title="% des personnes",
                source_line=line,
                borders=dissolved,
            )
        )
    for name, title in (
        ("isolation", "Indice de risque d'isolement"),
        ("non_recours_barrier", "Indice de risque de non-recours (barrières)"),
    ):
        column = f"{name}_index"
        if column in gdf and gdf[column].notna().any():
            files.append(
                static_map(
                    gdf,
                    column,
                    out / "figures" / f"indice_{name}.png",
                    title=f"{title} — {territory.name.split(' (')[0]}",
                    subtitle=subtitle,
                    legend_title="indice (0-100)",
                    source_line=line,
                    borders=dissolved,
                    cmap="OrRd",
                )
            )
    manifest = {
        "fragility": _versions()["fragility"],
        "territoire": {
            "nom": territory.name,
            "type": territory.kind,
            "code": territory.code,
            "communes": list(territory.communes),
            "synthetique": territory.is_synthetic,
            "dossier_donnees": None if territory.data_dir is None else str(territory.data_dir),
        },
        "entrees": [
            {
                "fichier": f.path.name,
                "couche": f.layer,
                "millesime": f.vintage,
                "sha256": f.sha256,
                "source_registre": f.source,
            }
            for f in table.provenance
        ],
        "sorties": [str(p.relative_to(out)) for p in files],
        "graine": seed,
        "configuration": load_config().to_dict(),
        "versions": _versions(),
        "horodatage": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    manifest_path = out / "manifest.json"
    with atomic_write(manifest_path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=2)
    files.append(manifest_path)
    return Diagnostic(territory=territory, table=table, files=files, indices=results)
