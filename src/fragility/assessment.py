"""Coverage assessment of a territory: from need, logs and services to publishable flags.

One stage of :func:`fragility.diagnose.diagnose`, usable on its own in a notebook:

1. contacts and distinct persons per IRIS from the imported log;
2. accessibility: nearest France Services and E2SFCA from population points;
3. expected contacts, funnel limits, Empirical-Bayes ratio (:mod:`fragility.coverage`),
   or, without logs, the *potential* mode (need × accessibility);
4. spatial statistics: Moran's I of need and of coverage, LISA clusters of low coverage;
5. flags, reasons and sentences (:mod:`fragility.underserved`);
6. where next: the best sites for new permanences (:mod:`fragility.siting`);
7. the disclosure gate: counts under the threshold (and the cells that would give them
   away by difference) are suppressed, and every value derived from a suppressed count
   (ratio, interval, probability) is blanked in the published columns.
"""

from __future__ import annotations

import secrets
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragility.conventions import isin
from fragility.coverage import CoverageResult, CoverageSettings, assess_coverage
from fragility.disclosure import DEFAULT_K, TOTAL_LABEL, SuppressionManifest, protect
from fragility.errors import FragilityWarning, InputError
from fragility.geometry import dissolve
from fragility.logs.aggregate import aggregate_with_margins
from fragility.logs.importer import LogImport, read_log
from fragility.underserved import FlagSettings, flag_underserved

#: Columns of ``iris.csv`` produced by this stage, in order.
PUBLISHED_COLUMNS = [
    "contacts",
    "persons",
    "counts_status",
    "expected_contacts",
    "coverage_ratio",
    "coverage_ratio_low",
    "coverage_ratio_high",
    "coverage_ratio_raw",
    "p_shortfall",
    "q_value",
    "flag",
    "mode",
    "confidence",
    "reasons",
    "phrase",
    "in_zone",
    "fs_distance_m",
    "access_2sfca",
    "lisa_coverage",
    "proposed_site",
]

#: Values computed from the observed count: blank when the count is not published.
_DERIVED = ["coverage_ratio", "coverage_ratio_low", "coverage_ratio_high",
            "coverage_ratio_raw", "p_shortfall", "q_value"]


@dataclass(frozen=True)
class AssessmentSettings:
    """Parameters of :func:`assess` (recorded in the manifest).

    Attributes
    ----------
    k : int
        Disclosure threshold (distinct persons per published cell).
    catchment_m : float
        Catchment of the E2SFCA (metres, Euclidean).
    decay : str
        Distance decay of the 2SFCA: ``"gaussian"`` (E2SFCA) or ``"step"``.
    sites : int
        Number of new permanences to propose (0: none).
    site_radius_m : float
        Radius a permanence is taken to cover (metres).
    permutations : int
        Permutations of Moran's I and LISA.
    coverage : CoverageSettings
        Parameters of the expected-contacts model and shrinkage.
    flags : FlagSettings
        Thresholds of the flags.
    """

    k: int = DEFAULT_K
    catchment_m: float = 20_000.0
    decay: str = "gaussian"
    sites: int = 3
    site_radius_m: float = 3_000.0
    permutations: int = 999
    coverage: CoverageSettings = field(default_factory=CoverageSettings)
    flags: FlagSettings = field(default_factory=FlagSettings)


def settings_from_dict(data: dict) -> AssessmentSettings:
    """Rebuild :class:`AssessmentSettings` from its manifest dict (``dataclasses.asdict``)."""
    data = dict(data)
    coverage = CoverageSettings(**data.pop("coverage", {}))
    flags = FlagSettings(**data.pop("flags", {}))
    return AssessmentSettings(**data, coverage=coverage, flags=flags)


@dataclass(frozen=True)
class Assessment:
    """Result of :func:`assess`.

    Attributes
    ----------
    frame : pandas.DataFrame
        Every column of the stage per IRIS, **before** the disclosure gate (stays on the
        analyst's machine).
    published : pandas.DataFrame
        The columns of :data:`PUBLISHED_COLUMNS` per IRIS after the disclosure gate.
    mode : str
        ``journal`` (with logs) or ``potentiel`` (need × accessibility, lower confidence).
    coverage : CoverageResult or None
        The statistics (None in potential mode).
    sites : SitingResult or None
        Proposed permanences.
    spatial : dict
        Moran's I of need and of coverage (``I``, ``p_sim``), graph summary.
    suppression : SuppressionManifest or None
        What the disclosure gate suppressed.
    log : dict or None
        The log import report (counts), without any identifier.
    settings : AssessmentSettings
        Parameters used.
    totals : dict or None
        The published ``Ensemble`` row over the territory: ``contacts``, ``persons``
        (None when suppressed) and ``statut``.
    """

    frame: pd.DataFrame
    published: pd.DataFrame
    mode: str
    coverage: CoverageResult | None
    sites: object | None
    spatial: dict
    suppression: SuppressionManifest | None
    log: dict | None
    settings: AssessmentSettings
    totals: dict | None = None

    def to_dict(self) -> dict:
        """Parameters, model diagnostics and counts, JSON-ready, for the manifest."""
        from dataclasses import asdict

        flags = self.published["flag"].value_counts().to_dict()
        out = {
            "mode": self.mode,
            "parametres": asdict(self.settings),
            "signalements": {str(k): int(v) for k, v in sorted(flags.items())},
            "statistiques_spatiales": self.spatial,
        }
        if self.coverage is not None:
            out["couverture"] = self.coverage.to_dict()
        if self.suppression is not None:
            out["secret"] = self.suppression.to_dict()
        if self.sites is not None:
            out["sites_proposes"] = {
                "methode": self.sites.method,
                "optimal": bool(self.sites.optimal),
                "ecart_optimalite": _finite(self.sites.gap),
                "part_couverte": _finite(self.sites.covered_share),
                "resume": self.sites.summary_fr(),
            }
        if self.log is not None:
            out["journal"] = self.log
        if self.totals is not None:
            out["totaux"] = self.totals
        return out

    def summary_lines(self) -> list[str]:
        """French lines for the terminal summary."""
        counts = self.published["flag"].value_counts()
        label = "journal de médiation" if self.mode == "journal" else (
            "mode potentiel : besoin × accessibilité, sans journal (confiance faible)")
        lines = [f"  Couverture ({label}) :"]
        for flag, text in (("sous_desservi_probable", "sous-desservi(s) probable(s)"),
                           ("a_surveiller", "à surveiller"), ("conforme", "conforme(s)"),
                           ("sur_sollicite", "sur-sollicité(s)"),
                           ("donnees_insuffisantes", "non évalué(s)")):
            if counts.get(flag, 0):
                lines.append(f"    {int(counts[flag])} IRIS {text}")
        if self.sites is not None:
            lines.append("    " + self.sites.summary_fr())
        return lines


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def simulated_log(table, *, seed: int = 0, n: int = 20_000, planted: int = 6) -> LogImport:
    """Simulate a mediation export for a (synthetic) territory and import it.

    The export is written to a temporary folder and read back through
    :func:`fragility.logs.importer.read_log`, exactly like a real file, with a random
    key used once (the pseudonyms never leave the function's result).
    """
    from fragility.logs.simulate import simulate_export, write_export

    sim = simulate_export(table, n=n, seed=seed, planted_under_served=planted)
    with tempfile.TemporaryDirectory(prefix="fragility-") as tmp:
        path = Path(tmp) / "journal_simule.csv"
        write_export(sim, path)
        result = read_log(path, table.gdf, key=secrets.token_bytes(32))
    report = dict(result.report)
    report["fichier"] = f"journal simulé (graine {seed}, {n} lignes)"
    return LogImport(events=result.events, rejects=result.rejects, report=report)


def _need(gdf: pd.DataFrame) -> pd.DataFrame:
    need = pd.DataFrame(index=gdf.index)
    for column in ("isolation_index", "non_recours_index", "qpv_share"):
        if column in gdf and pd.to_numeric(gdf[column], errors="coerce").notna().any():
            need[column] = pd.to_numeric(gdf[column], errors="coerce")
    return need


def _supply(services, extra, crs):
    """France services and the user's points, with a capacity column.

    Capacity is 1 per point, unless the user's list gives weekly opening hours for every
    point: then its points weigh their hours and each France services the label's
    minimum (:data:`fragility.accessibility.FRANCE_SERVICES_MIN_HOURS`).
    """
    import geopandas as gpd

    from fragility.accessibility import FRANCE_SERVICES_MIN_HOURS

    parts = []
    hours = extra is not None and len(extra) and extra["hours"].notna().all()
    if services is not None and len(services):
        fs = services.to_crs(crs)[["geometry"]].assign(
            kind="france_services", capacity=FRANCE_SERVICES_MIN_HOURS if hours else 1.0)
        parts.append(fs)
    if extra is not None and len(extra):
        own = extra.to_crs(crs)[["geometry"]].assign(
            kind="liste", capacity=extra["hours"].to_numpy(float) if hours else 1.0)
        parts.append(own)
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)


def _accessibility(gdf, services, extra, settings: AssessmentSettings) -> pd.DataFrame:
    from fragility.accessibility import demand_points, nearest_distance, two_step_fca

    out = pd.DataFrame(index=gdf.index)
    out["fs_distance_m"] = np.nan
    out["access_2sfca"] = np.nan
    supply = _supply(services, extra, gdf.crs)
    if supply is None:
        return out
    points = demand_points(gdf)
    fs = supply[supply["kind"] == "france_services"]
    if len(fs):
        nearest = nearest_distance(points, fs.geometry)
        out["fs_distance_m"] = nearest["distance"].round(1)
    demand = gdf[["population"]].assign(geometry=points.values)
    demand = demand.set_geometry("geometry", crs=gdf.crs)
    demand["population"] = pd.to_numeric(demand["population"], errors="coerce").fillna(0.0)
    access = two_step_fca(demand, supply, demand_value="population", supply_value="capacity",
                          max_distance=settings.catchment_m, decay=settings.decay)
    # capacity (points or weekly hours) per 10,000 inhabitants within reach
    out["access_2sfca"] = (access * 10_000).round(6)
    return out


def _spatial(gdf, need: pd.DataFrame, ratio: pd.Series | None, settings, seed: int):
    """Moran's I of need and of coverage; LISA cluster code of coverage per IRIS."""
    from fragility.spatial import graph_summary, lisa, moran, weights

    out: dict = {}
    clusters = pd.Series(None, index=gdf.index, dtype=object)
    if len(gdf) < 5:
        return out, clusters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = weights(gdf)
        out["graphe"] = {k: _finite(v) if isinstance(v, float) else v
                         for k, v in graph_summary(w).items()}
        series = {c: need[c] for c in ("isolation_index", "non_recours_index") if c in need}
        if ratio is not None:
            series["coverage_ratio"] = np.log(ratio.where(ratio > 0))
        for name, values in series.items():
            if values.notna().sum() < 5:
                continue
            result = moran(values, w, permutations=settings.permutations, seed=seed)
            out[f"moran_{name}"] = {"I": _finite(result.I), "p_sim": _finite(result.p_sim),
                                     "n": int(result.n)}
        if ratio is not None and series["coverage_ratio"].notna().sum() >= 5:
            local = lisa(series["coverage_ratio"], w, permutations=settings.permutations,
                         seed=seed)
            clusters = local["lisa_cluster_code"].where(
                local["lisa_cluster_code"].isin(["HH", "LL", "HL", "LH"]))
    return out, clusters


def _thematic(events: pd.DataFrame) -> pd.DataFrame:
    located = events[events["geo_level"].eq("iris")]
    rights = located["thematique"].eq("acces_droits")
    per_iris = rights.groupby(located["geo_iris"]).agg(["mean", "size"])
    per_iris.columns = ["access_rights_share", "contacts"]
    per_iris["zone_share"] = float(rights.mean()) if len(rights) else np.nan
    return per_iris


def _protect_counts(events: pd.DataFrame, index: pd.Index, k: int):
    counts = aggregate_with_margins(events, level="iris")
    safe, manifest = protect(counts, keys=["iris"], persons="persons", counts=("contacts",),
                             top_share="top_share", k=k)
    row = safe[safe["iris"] == TOTAL_LABEL]
    totals = None if row.empty else {
        "contacts": None if pd.isna(row["contacts"].iat[0]) else int(row["contacts"].iat[0]),
        "persons": None if pd.isna(row["persons"].iat[0]) else int(row["persons"].iat[0]),
        "statut": str(row["statut"].iat[0]),
    }
    cells = safe[safe["iris"] != TOTAL_LABEL].set_index("iris")
    raw = counts[counts["iris"] != TOTAL_LABEL].set_index("iris")
    published = pd.DataFrame(index=index)
    published["contacts"] = cells["contacts"].reindex(index)
    published["persons"] = cells["persons"].reindex(index)
    published["counts_status"] = cells["statut"].reindex(index)
    zero = ~isin(index, raw.index)
    published.loc[zero, ["contacts", "persons"]] = 0
    published.loc[zero, "counts_status"] = "publie"
    published[["contacts", "persons"]] = published[["contacts", "persons"]].astype("Int64")
    masked = set(published.index[published["counts_status"] != "publie"])
    persons = raw["persons"].reindex(index).fillna(0).astype(int)
    return published, masked, manifest, persons, totals


def _propose(gdf, services, extra, flags, coverage_table, need, settings):
    from fragility.siting import candidate_points, propose_sites

    if settings.sites < 1:
        return None, pd.Series(None, index=gdf.index, dtype=object)
    flagged = flags["flag"].isin(["sous_desservi_probable", "a_surveiller"])
    if coverage_table is not None:
        unmet = (coverage_table["expected"] - coverage_table["observed"]).clip(lower=0)
    else:
        score = need[[c for c in ("isolation_index", "non_recours_index") if c in need]]
        unmet = gdf["population"] * score.max(axis=1) / 100.0
    unmet = unmet.where(flagged, 0.0).fillna(0.0)
    if unmet.sum() <= 0:
        return None, pd.Series(None, index=gdf.index, dtype=object)
    demand = gdf[["geometry"]].assign(unmet=unmet.to_numpy())
    columns = ["commune_name"] if "commune_name" in gdf else []
    communes = dissolve(gdf, "commune", columns).reset_index()
    nearby = None
    if services is not None and len(services):
        box = gdf.total_bounds
        svc = services.to_crs(gdf.crs)
        nearby = svc.cx[box[0] - 5000:box[2] + 5000, box[1] - 5000:box[3] + 5000]
    candidates = candidate_points(communes, nearby, extra, crs=gdf.crs)
    result = propose_sites(demand, candidates, weight="unmet", k=settings.sites,
                           radius=settings.site_radius_m)
    return result, result.coverage.reindex(gdf.index).where(unmet > 0)


def assess(
    gdf,
    *,
    services=None,
    extra_services=None,
    log_import: LogImport | None = None,
    zone: Iterable[str] | None = None,
    settings: AssessmentSettings | None = None,
    seed: int = 0,
) -> Assessment:
    """Assess mediation coverage on a territory's IRIS frame.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The IRIS frame with its indices (``population``, ``isolation_index``,
        ``non_recours_index``, ``qpv_share``, ``iris_type``, ``commune``), projected CRS.
    services : geopandas.GeoDataFrame, optional
        France Services points (``IrisTable.services``).
    extra_services : geopandas.GeoDataFrame, optional
        The user's own service points (e.g. mediation permanences), as read by
        :func:`fragility.accessibility.read_service_points` (``name``, ``hours``): they
        enter the E2SFCA supply and the candidate sites.
    log_import : LogImport, optional
        The imported log; without it, the potential mode.
    zone : iterable of str, optional
        IRIS codes of the intervention zone (default: every IRIS).
    settings : AssessmentSettings, optional
        Parameters.
    seed : int, default 0
        Seed of the permutation tests.

    Returns
    -------
    Assessment
    """
    settings = settings or AssessmentSettings()
    index = gdf.index
    if zone is not None:
        zone = [str(z) for z in zone]
        unknown = sorted(set(zone) - set(index))
        if unknown:
            raise InputError(
                f"{len(unknown)} code(s) de la zone d'intervention hors du territoire "
                f"(ex. {unknown[0]}).", field="zone")
    need = _need(gdf)
    access = _accessibility(gdf, services, extra_services, settings)
    frame = pd.DataFrame(index=index)
    frame = frame.join(access)
    coverage = None
    masked: set[str] = set()
    suppression = None
    totals = None
    thematic = None
    log = None
    if log_import is not None:
        events = log_import.events
        published_counts, masked, suppression, persons, totals = _protect_counts(
            events, index, settings.k)
        located = events[events["geo_level"].eq("iris")]
        observed = located.groupby("geo_iris").size()
        coverage = assess_coverage(observed, gdf["population"], need, zone=zone,
                                   iris_type=gdf.get("iris_type"), settings=settings.coverage)
        thematic = _thematic(events)
        t = coverage.table
        frame["contacts"] = t["observed"].astype(int)
        frame["persons"] = persons
        frame["expected_contacts"] = t["expected"]
        frame["coverage_ratio"] = t["eb_ratio"]
        frame["coverage_ratio_low"] = t["eb_low"]
        frame["coverage_ratio_high"] = t["eb_high"]
        frame["coverage_ratio_raw"] = t["ratio"]
        frame["p_shortfall"] = t["p_shortfall"]
        frame["q_value"] = t["q_value"]
        frame["in_zone"] = t["in_zone"]
        log = {k: log_import.report.get(k) for k in
               ("fichier", "lues", "acceptees", "rejetees", "doublons")}
        log["hors_iris"] = int((~events["geo_level"].eq("iris")).sum())
    else:
        frame["in_zone"] = True if zone is None else isin(index, zone)
    spatial, clusters = _spatial(
        gdf, need, None if coverage is None else coverage.table["eb_ratio"], settings, seed)
    frame["lisa_coverage"] = clusters
    flags = flag_underserved(coverage, need, access=access, lisa=clusters, thematic=thematic,
                             zone=zone, masked=masked, settings=settings.flags, index=index)
    frame = frame.join(flags)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FragilityWarning)
        sites, proposed = _propose(gdf, services, extra_services, flags,
                                   None if coverage is None else coverage.table, need, settings)
    frame["proposed_site"] = proposed
    published = frame.copy()
    if log_import is not None:
        published[["contacts", "persons", "counts_status"]] = published_counts
        hidden = isin(published.index, masked)
        published.loc[hidden, _DERIVED] = np.nan
    for column in PUBLISHED_COLUMNS:
        if column not in published:
            published[column] = pd.NA if column in ("contacts", "persons") else np.nan
    published = published[PUBLISHED_COLUMNS]
    return Assessment(
        frame=frame,
        published=published,
        mode="potentiel" if log_import is None else "journal",
        coverage=coverage,
        sites=sites,
        spatial=spatial,
        suppression=suppression,
        log=log,
        settings=settings,
        totals=totals,
    )
