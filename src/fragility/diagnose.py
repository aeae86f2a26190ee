"""The main job: from a territory to the files of its diagnostic.

The only module that knows the whole order of the stages: IRIS base table → indicators,
composite indices and typology → log import (or simulation on the demo territory) →
coverage assessment (:mod:`fragility.assessment`) → files (``fragility diagnose`` /
``make demo``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from fragility._files import atomic_write, sha256_of
from fragility.accessibility import read_service_points
from fragility.assessment import Assessment, AssessmentSettings, assess, simulated_log
from fragility.bilan import Bilan, BilanSettings, compute_bilan
from fragility.composite import INDEX_COLUMNS, IndexResult, load_config, territory_indices
from fragility.errors import InputError
from fragility.geometry import dissolve
from fragility.iris_table import IrisTable, build_iris_table, source_line
from fragility.logs.importer import read_log
from fragility.maps import static_map, write_interactive_map
from fragility.report import write_report
from fragility.territory import Territory


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
    assessment : Assessment or None
        Coverage, flags and proposed sites (see :mod:`fragility.assessment`).
    bilan : Bilan or None
        Activity of the log over its months (see :mod:`fragility.bilan`), when there is
        a log; the report shows it without its per-area tables.
    """

    territory: Territory
    table: IrisTable
    files: list[Path]
    indices: dict[str, IndexResult] | None = None
    assessment: Assessment | None = None
    bilan: Bilan | None = None

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
        if self.assessment is not None:
            lines += self.assessment.summary_lines()
        if self.files:
            lines.append(f"Résultats écrits dans {self.files[0].parent.resolve()} :")
            lines += [f"  - {p.relative_to(self.files[0].parent)}" for p in self.files]
        return "\n".join(lines)


def _versions() -> dict[str, str]:
    out = {}
    for name in ("fragility", "geopandas", "pandas", "numpy", "shapely", "pyproj", "scipy",
                 "statsmodels", "libpysal", "esda", "scikit-learn"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "inconnue"
    return out


def _indices(table: IrisTable, seed: int) -> tuple[pd.DataFrame, dict[str, IndexResult]]:
    """Base indicators, the composite indices and the typology, as IRIS columns."""
    import warnings

    from fragility.errors import FragilityWarning
    from fragility.typology import Typology

    frame, results = territory_indices(table, seed=seed)
    index_columns = {f"{name}_{c}" for name in results for c in INDEX_COLUMNS}
    keys = [c for c in frame.columns
            if c not in index_columns and not c.endswith(("_status", "_denominator"))]
    classifiable = frame[keys].notna().sum(axis=1) > len(keys) / 2
    parts = [frame]
    if classifiable.sum() >= 6:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)
            typology = Typology(n_profiles=min(5, int(classifiable.sum()) // 3), seed=seed)
            parts.append(typology.fit(frame[keys]).to_frame())
    return pd.concat(parts, axis=1), results


def with_indices(table: IrisTable, *, seed: int = 0):
    """The IRIS frame with its indicators, composite indices and typology joined.

    ``non_recours_index`` is the barrier variant of the non-recours index (the one
    the coverage model and the maps use).

    Returns
    -------
    gdf : geopandas.GeoDataFrame
    results : dict of IndexResult
    """
    extra, results = _indices(table, seed)
    extra = extra.drop(columns=[c for c in extra.columns if c in table.gdf.columns])
    gdf = table.gdf.join(extra)
    if "non_recours_barrier_index" in gdf:
        gdf["non_recours_index"] = gdf["non_recours_barrier_index"]
    return gdf, results


def _figures(gdf, territory, table, out: Path, assessment) -> list[Path]:
    """Static maps of the run (density, poverty, indices, coverage, flags)."""
    from fragility.underserved import FLAGS

    subtitle = (
        "Territoire de démonstration — données synthétiques" if territory.is_synthetic else None
    )
    line = source_line(table)
    short = territory.name.split(" (")[0]
    dissolved = dissolve(gdf, "commune")
    common = {"subtitle": subtitle, "source_line": line, "borders": dissolved}
    files = []
    density = gdf.assign(density=gdf["population"] / (gdf.geometry.area / 1e6))
    files.append(static_map(density, "density", out / "figures" / "densite_population.png",
                            title=f"Densité de population — {short}",
                            legend_title="habitants / km²", cmap="Blues", **common))
    if "DISP_TP60" in gdf and gdf["DISP_TP60"].notna().any():
        files.append(static_map(gdf, "DISP_TP60", out / "figures" / "taux_pauvrete.png",
                                title=f"Taux de pauvreté (seuil 60 %) — {short}",
                                legend_title="% des personnes", **common))
    for name, title in (
        ("isolation", "Indice de risque d'isolement"),
        ("non_recours_barrier", "Indice de risque de non-recours (barrières)"),
    ):
        column = f"{name}_index"
        if column in gdf and gdf[column].notna().any():
            files.append(static_map(gdf, column, out / "figures" / f"indice_{name}.png",
                                    title=f"{title} — {short}", legend_title="indice (0-100)",
                                    cmap="OrRd", **common))
    published = gdf[["geometry"]].join(assessment.published)
    if published["coverage_ratio"].notna().any():
        files.append(static_map(published, "coverage_ratio",
                                out / "figures" / "couverture_mediation.png",
                                title=f"Contacts observés / attendus (lissé) — {short}",
                                legend_title="rapport (1 = attendu)", cmap="RdYlGn",
                                fmt="{:.2f}", **common))
    colours = {"sous_desservi_probable": "#b2182b", "a_surveiller": "#ef8a62",
               "conforme": "#d9f0d3", "sur_sollicite": "#5aae61",
               "donnees_insuffisantes": "#bdbdbd"}
    mode = "" if assessment.mode == "journal" else " (potentiel, sans journal)"
    files.append(static_map(published, "flag", out / "figures" / "zones_sous_desservies.png",
                            title=f"Zones sous-desservies{mode} — {short}",
                            legend_title="signalement",
                            categories={k: (FLAGS[k], c) for k, c in colours.items()},
                            **common))
    return files


def diagnose(
    territory: Territory,
    out_dir: str | os.PathLike,
    *,
    logs: str | os.PathLike | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike | None = None,
    mapping: str | os.PathLike | None = None,
    zone: Iterable[str] | str | os.PathLike | None = None,
    services: str | os.PathLike | None = None,
    simulate: bool | None = None,
    settings: AssessmentSettings | None = None,
    progress: bool = True,
    seed: int = 0,
    pdf: bool = False,
) -> Diagnostic:
    """Run the main job on a territory and write its outputs to ``out_dir``.

    Writes ``diagnostic.html`` (the report), ``carte.html`` (interactive map),
    ``iris.gpkg``, ``iris.csv`` (one row per IRIS: indices, contacts, expected
    contacts, coverage ratio, flag and reasons; published cells pass the disclosure gate),
    ``couverture.md``, ``figures/*.png``, ``sites_proposes.csv``, ``rejets.csv`` when a
    log is given, and ``manifest.json`` (inputs with SHA-256, parameters, seed, versions,
    one timestamp).

    Parameters
    ----------
    territory : Territory
        The study area.
    out_dir : str or os.PathLike
        Output folder (created).
    logs : str or os.PathLike, optional
        Mediation export (CSV, XLSX, Parquet). Without it: the potential mode (need ×
        accessibility), except on the synthetic demo territory, whose simulated log is
        used (see ``simulate``).
    key, key_file : optional
        Pseudonymisation key, or a file holding it (otherwise ``FRAGILITY_PSEUDO_KEY``).
    mapping : str or os.PathLike, optional
        Header/value mapping of the export.
    zone : iterable of str or path, optional
        Intervention zone: IRIS or commune codes, or a text/CSV file of them (one per
        line, or a column ``iris``/``commune``). IRIS outside are "hors zone".
    services : str or os.PathLike, optional
        The user's own service points (mediation permanences...), a CSV with ``nom``,
        ``lon``/``lat`` (or ``x``/``y``) and optionally ``heures_hebdo`` (see
        :func:`fragility.accessibility.read_service_points`).
    simulate : bool, optional
        Simulate the log (synthetic territories only). Default: on the demo territory
        when no ``logs`` are given.
    settings : AssessmentSettings, optional
        Coverage, accessibility, disclosure and siting parameters.
    progress : bool, default True
        Show progress bars.
    seed : int, default 0
        Seed of every random step (Monte-Carlo, permutations, simulation).
    pdf : bool, default False
        Also write ``diagnostic.pdf`` (printed by headless Chromium).

    Returns
    -------
    Diagnostic
    """
    import dataclasses

    from tqdm.auto import tqdm

    settings = settings or AssessmentSettings()
    out = Path(out_dir)
    steps = tqdm(total=5, desc="Diagnostic", disable=not progress, unit="étape")
    table = build_iris_table(territory, progress=progress)
    steps.update()
    gdf, results = with_indices(table, seed=seed)
    steps.update()
    if simulate is None:
        simulate = territory.is_synthetic and logs is None
    if simulate and not territory.is_synthetic:
        raise InputError("la simulation de journal est réservée au territoire de démonstration.")
    log_import, log_input = None, None
    if logs is not None:
        log_import = read_log(logs, table.gdf, key=key, key_file=key_file, mapping=mapping)
        log_input = {"fichier": Path(logs).name, "sha256": sha256_of(logs),
                     "chemin": str(Path(logs).resolve())}
    elif simulate:
        log_import = simulated_log(table, seed=seed)
        log_input = {"fichier": log_import.report["fichier"], "sha256": None}
    steps.update()
    zone_codes = resolve_zone(zone, gdf)
    extra, services_input = None, None
    if services is not None:
        extra = read_service_points(services, crs=gdf.crs)
        services_input = {"fichier": Path(services).name, "sha256": sha256_of(services),
                          "points": len(extra), "chemin": str(Path(services).resolve())}
    assessment = assess(gdf, services=table.services, extra_services=extra,
                        log_import=log_import, zone=zone_codes, settings=settings, seed=seed)
    steps.update()
    published = gdf.drop(columns=[c for c in assessment.published if c in gdf]).join(
        assessment.published
    )
    table = dataclasses.replace(table, gdf=published)
    files = table.write(out)
    if log_import is not None:
        rejects = out / "rejets.csv"
        with atomic_write(rejects, "w", encoding="utf-8", newline="") as handle:
            log_import.rejects.to_csv(handle, index=False, sep=";", lineterminator="\n")
        files.append(rejects)
    if assessment.sites is not None:
        sites_path = out / "sites_proposes.csv"
        # covered_weight (expected - observed summed over the IRIS a site covers) could
        # give a suppressed count away by difference: only the rounded share is published.
        sites = assessment.sites.sites.drop(
            columns=["demand_covered", "covered_weight"], errors="ignore"
        ).assign(covered_share=lambda f: f["covered_share"].round(2))
        with atomic_write(sites_path, "w", encoding="utf-8", newline="") as handle:
            sites.to_csv(handle, index=False, sep=";", float_format="%.6g",
                         lineterminator="\n")
        files.append(sites_path)
    files += _figures(published, territory, table, out, assessment)
    files.append(_interactive(published, territory, table, out, assessment, settings))
    steps.update()
    steps.close()
    manifest = {
        "fragility": _versions()["fragility"],
        "territoire": {
            "nom": territory.name,
            "type": territory.kind,
            "code": territory.code,
            "communes": list(territory.communes),
            "synthetique": territory.is_synthetic,
            "dossier_donnees": None if territory.data_dir is None else str(territory.data_dir),
            "graine_demo": _demo_seed(territory),
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
        "journal": log_input,
        "points_de_service": services_input,
        "zone_intervention": None if zone_codes is None else sorted(zone_codes),
        "sorties": [str(p.relative_to(out)) for p in files] + ["diagnostic.html"],
        "graine": seed,
        "configuration": load_config().to_dict(),
        "evaluation": assessment.to_dict(),
        "versions": _versions(),
        "horodatage": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    manifest_path = out / "manifest.json"
    with atomic_write(manifest_path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=2, default=_json_default)
    files.append(manifest_path)
    bilan = None
    if log_import is not None:
        bilan = compute_bilan(
            log_import.events, settings=BilanSettings(k=settings.k),
            territory={"label": territory.label, "name": territory.name,
                       "code": territory.code, "synthetic": bool(territory.is_synthetic)})
    result = Diagnostic(territory=territory, table=table, files=files, indices=results,
                        assessment=assessment, bilan=bilan)
    report = write_report(result, out / "diagnostic.html", pdf=pdf)
    files.insert(len(files) - 1, report)
    if pdf:
        files.insert(len(files) - 1, report.with_suffix(".pdf"))
    return result


def _interactive(published, territory, table, out: Path, assessment, settings) -> Path:
    """``carte.html``: the interactive map (layers, legend, tooltips), offline-safe."""
    from fragility.territory import catalogue_for

    qpv = None
    if territory.data_dir is not None:
        parsed = catalogue_for(territory.data_dir).read("qpv_contours", crs=str(published.crs))
        qpv = None if parsed is None else parsed.frame
    short = territory.name.split(" (")[0]
    return write_interactive_map(
        published,
        out / "carte.html",
        services=table.services,
        qpv=qpv,
        sites=None if assessment.sites is None else assessment.sites.sites,
        title=f"Diagnostic territorial — {short}",
        source_line=source_line(table),
        synthetic=territory.is_synthetic,
        disclosure_k=settings.k,
    )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return sorted(value)
    raise TypeError(f"valeur non sérialisable : {type(value).__name__}")


def resolve_zone(zone, gdf) -> list[str] | None:
    """IRIS codes of an intervention zone given as codes (IRIS or commune) or a file.

    Parameters
    ----------
    zone : iterable of str, str, os.PathLike or None
        IRIS codes (9 characters), commune codes (5 characters, every IRIS of the
        commune), or the path of a text/CSV file holding them (one per line, or in a
        column named ``iris``, ``commune`` or ``code``).
    gdf : pandas.DataFrame
        IRIS frame (index ``iris``, column ``commune``).

    Returns
    -------
    list of str or None
        IRIS codes, or None when no zone is given.
    """
    if zone is None:
        return None
    if isinstance(zone, (str, os.PathLike)) and Path(zone).is_file():
        path = Path(zone)
        frame = pd.read_csv(path, sep=None, engine="python", dtype=str, header=None)
        first = frame.iloc[0].str.strip().str.lower().tolist()
        column = next((i for i, v in enumerate(first) if v in ("iris", "commune", "code")), None)
        values = frame.iloc[1:, column] if column is not None else frame.iloc[:, 0]
        codes = [str(v).strip() for v in values.dropna() if str(v).strip()]
        where = str(path)
    elif isinstance(zone, str):
        codes = [c.strip() for c in zone.split(",") if c.strip()]
        where = "--zone"
    else:
        codes = [str(c).strip() for c in zone]
        where = "zone"
    iris = set()
    for line, code in enumerate(codes, start=1):
        if code in gdf.index:
            iris.add(code)
        elif (gdf["commune"] == code).any():
            iris |= set(gdf.index[gdf["commune"] == code])
        else:
            raise InputError(
                f"code « {code} » de la zone d'intervention : ni un IRIS ni une commune du "
                "territoire.", path=where if where.endswith((".csv", ".txt")) else None,
                line=line, field="zone",
            )
    if not iris:
        raise InputError("zone d'intervention vide.", field="zone")
    return sorted(iris)


def _demo_seed(territory: Territory) -> int | None:
    import re

    if not territory.is_synthetic or territory.data_dir is None:
        return None
    match = re.search(r"seed(\d+)$", Path(territory.data_dir).name)
    return int(match.group(1)) if match else None


#: Manifest fields that legitimately differ between two runs of the same analysis
#: (the time, and where the files sit on each machine).
VOLATILE = ("horodatage",)
_LOCAL_PATHS = (("territoire", "dossier_donnees"), ("journal", "chemin"),
                ("points_de_service", "chemin"))


def _comparable(manifest: dict) -> dict:
    out = json.loads(json.dumps(manifest))
    for key in VOLATILE:
        out.pop(key, None)
    for section, key in _LOCAL_PATHS:
        if isinstance(out.get(section), dict):
            out[section].pop(key, None)
    return out


@dataclass(frozen=True)
class Reproduction:
    """Result of :func:`reproduce`.

    Attributes
    ----------
    identical : bool
        ``iris.csv`` byte for byte, and the manifest but for its timestamp and local
        paths, are identical.
    differences : list of str
        French sentences naming what differs (empty when identical).
    out_dir : pathlib.Path
        Folder of the new run.
    """

    identical: bool
    differences: list[str]
    out_dir: Path

    def summary(self) -> str:
        """French summary."""
        if self.identical:
            return (f"Reproduction identique : iris.csv et manifest.json (hors horodatage) "
                    f"sont les mêmes ({self.out_dir}).")
        return "Reproduction DIFFÉRENTE :\n" + "\n".join(f"  - {d}" for d in self.differences)


def reproduce(
    published: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    logs: str | os.PathLike | None = None,
    key_file: str | os.PathLike | None = None,
    progress: bool = True,
) -> Reproduction:
    """Rerun a published analysis from its ``manifest.json`` and compare the outputs.

    The territory, the intervention zone, the parameters and the seed come from the
    manifest; every input file is checked by SHA-256 before the run (an input that changed
    is an error, not a silent difference). The log is re-imported with the key given
    (pseudonyms never reach the outputs, so any key gives the same counts).

    Parameters
    ----------
    published : str or os.PathLike
        The folder of the published analysis, or its ``manifest.json``.
    out_dir : str or os.PathLike, optional
        Where to rerun (default: ``<folder>/reproduction``).
    data_dir : str or os.PathLike, optional
        Data folder, when it moved since the run (default: the one in the manifest).
    logs : str or os.PathLike, optional
        The log file, when it moved (default: the path in the manifest).
    key_file : str or os.PathLike, optional
        Pseudonymisation key file (otherwise ``FRAGILITY_PSEUDO_KEY``).
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    Reproduction

    Raises
    ------
    InputError
        Missing manifest, an input file missing or with another checksum.
    """
    import dataclasses

    from fragility.assessment import settings_from_dict

    folder = Path(published)
    manifest_path = folder if folder.suffix == ".json" else folder / "manifest.json"
    folder = manifest_path.parent
    if not manifest_path.is_file():
        raise InputError("manifeste introuvable.", path=manifest_path)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    where = manifest["territoire"]
    if where["synthetique"]:
        territory = Territory.demo(seed=where.get("graine_demo") or 0)
    else:
        root = data_dir or where["dossier_donnees"]
        kind, code = where["type"], where["code"]
        if kind == "epci":
            territory = Territory.from_epci(code, data_dir=root)
        elif kind == "departement":
            territory = Territory.from_departement(code, data_dir=root)
        else:
            territory = Territory.from_communes(where["communes"], data_dir=root)
        territory = dataclasses.replace(territory, name=where["nom"]) \
            if territory.name != where["nom"] and kind == "communes" else territory
    log_path = None
    if manifest.get("journal") and manifest["journal"].get("sha256"):
        log_path = Path(logs or manifest["journal"]["chemin"])
        if not log_path.is_file():
            raise InputError("journal de la publication introuvable : indiquez-le (--logs).",
                             path=log_path)
        if sha256_of(log_path) != manifest["journal"]["sha256"]:
            raise InputError("le journal a changé depuis la publication (empreinte SHA-256 "
                             "différente).", path=log_path)
    services = None
    if manifest.get("points_de_service"):
        services = Path(manifest["points_de_service"]["chemin"])
        if sha256_of(services) != manifest["points_de_service"]["sha256"]:
            raise InputError("la liste de points de service a changé (empreinte SHA-256).",
                             path=services)
    if manifest.get("configuration") != load_config().to_dict():
        raise InputError("configuration des indices différente de celle de la publication "
                         "(fichier diagnostic.toml modifié ou autre version).",
                         path=manifest_path, field="configuration")
    out = Path(out_dir) if out_dir is not None else folder / "reproduction"
    settings = settings_from_dict(manifest["evaluation"]["parametres"])
    zone = manifest.get("zone_intervention")
    result = diagnose(
        territory, out, logs=log_path, key_file=key_file, zone=zone, services=services,
        simulate=manifest.get("journal") is not None and log_path is None,
        settings=settings, progress=progress, seed=manifest["graine"],
    )
    differences = []
    new = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    expected_inputs = {(e["couche"], e["sha256"]) for e in manifest["entrees"]}
    found_inputs = {(e["couche"], e["sha256"]) for e in new["entrees"]}
    for layer, digest in sorted(expected_inputs - found_inputs):
        differences.append(f"fichier d'entrée de la couche « {layer} » absent ou modifié "
                           f"(SHA-256 attendu {digest[:12]}…)")
    if not (folder / "iris.csv").is_file():
        differences.append("iris.csv absent de la publication")
    elif (folder / "iris.csv").read_bytes() != (out / "iris.csv").read_bytes():
        differences.append("iris.csv diffère")
    old, now = _comparable(manifest), _comparable(new)
    for key in sorted(set(old) | set(now)):
        if old.get(key) != now.get(key):
            differences.append(f"manifest.json : « {key} » diffère")
    del result
    return Reproduction(identical=not differences, differences=differences, out_dir=out)
