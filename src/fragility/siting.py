r"""Siting of new mediation permanences: a maximal covering location model (MCLP).

Once under-served IRIS are known, :func:`propose_sites` answers "where should the next
``k`` permanences go?". Each demand point (an IRIS, represented by a point inside it)
carries an **unmet need** (a non-negative weight: expected minus observed contacts,
population times need...). Among candidate points (commune centres, France services, a
user list: see :func:`candidate_points`), the model of Church & ReVelle (1974) chooses
``k`` sites that maximise the total unmet need of the demand points lying within
``radius`` metres (straight-line distance) of at least one chosen site.

Method
------
1. **Points**: polygons are replaced by ``representative_point()`` (a point always inside
   the polygon). Distances are Euclidean in the layers' projected CRS, in metres; a
   geographic CRS (degrees) is refused.
2. **Existing sites** (``existing``): a demand point within ``radius`` of an existing site
   is already covered; its need is reported in ``already_covered_weight`` and counts for
   nothing in the optimisation nor in the new sites' ``covered_weight``.
3. **Coverage sets**: the (demand, candidate) pairs closer than ``radius`` (distance
   ``<= radius``) come from :meth:`scipy.spatial.cKDTree.query_ball_point` and are kept in
   a sparse matrix: no dense demand × candidate matrix is ever built.
4. **Exact solver** (``solver="exact"``, method ``"milp-highs"``): the 0-1 programme

   .. math::

      \max \sum_i w_i y_i \quad \text{s.t.} \quad \sum_j x_j = k, \quad
      y_i \le \sum_{j \in N_i} x_j, \quad x_j \in \{0, 1\}, \quad 0 \le y_i \le 1,

   where :math:`N_i` is the set of candidates within ``radius`` of demand point ``i``, is
   solved by :func:`scipy.optimize.milp` (HiGHS branch and bound, relative gap tolerance
   0, ``time_limit`` seconds). Only demand points with a positive remaining need that some
   candidate covers, and only candidates covering one of them, enter the programme. The
   ``y_i`` are declared continuous: once the ``x_j`` are integers, the maximum sets each
   ``y_i`` to ``min(1, Σ x_j)``, which is 0 or 1, so the programme is the 0-1 MCLP. When
   HiGHS stops at the time limit with a solution, the result gives its best bound and the
   optimality gap ``(bound - objective) / bound``; when it stops without a solution (or
   fails), the greedy heuristic is used instead and ``notes`` says so. Among solutions of
   equal coverage, a chosen site is then swapped for an earlier candidate (in the order of
   ``candidates``) whenever the swap keeps the coverage, until no such swap remains.
5. **Greedy heuristic** (``solver="greedy"``, method ``"glouton"``): repeatedly choose the
   candidate covering the most still-uncovered need (ties: the first candidate in the
   order of ``candidates``). Its guarantee is a ``1 - 1/e ≈ 63 %`` share of the optimum
   (Nemhauser, Wolsey & Fisher, 1978); the result states an **upper bound** on the optimum,
   the smallest of the linear-programming relaxation of the programme above
   (:func:`scipy.optimize.linprog`, HiGHS), of ``greedy / (1 - 1/e)`` and of the need that
   all candidates together could cover, hence a proven gap.
6. **Ranking**: the chosen sites are listed in order of marginal contribution (the site
   covering the most need, then the one adding the most need to it, and so on; ties by
   candidate order). ``covered_weight`` of a site is the need it covers that no site
   ranked before it covers, so the sites' values add up to the total.
7. **Exactly k sites** (``min(k, number of candidates)``): when fewer sites already cover
   all the need that can be covered, the sites that would add nothing are replaced by the
   first candidates in candidate order (the choice is then deterministic), and ``notes``
   says so.

Missing need (NaN) is refused rather than read as zero: replace it explicitly
(``fillna(0)``) when a missing value means "no unmet need".

References
----------
Church, R. & ReVelle, C. (1974). The maximal covering location problem. *Papers of the
Regional Science Association*, 32, 101-118.

Examples
--------
>>> from fragility.siting import candidate_points, propose_sites
>>> candidates = candidate_points(communes_gdf=communes, services=france_services)  # doctest: +SKIP
>>> result = propose_sites(iris, candidates, weight="need", k=3, radius=5_000)  # doctest: +SKIP
>>> print(result.summary_fr())  # doctest: +SKIP
3 permanences proposées couvriraient 62 % du besoin non couvert (solution optimale, ...).
>>> result.sites[["rank", "candidate", "covered_weight", "covered_share"]]  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.spatial import cKDTree

from fragility.conventions import CRS_L93, normalise_code
from fragility.errors import InputError

#: Method name of the exact solver.
METHOD_MILP = "milp-highs"
#: Method name of the greedy heuristic.
METHOD_GREEDY = "glouton"
#: Columns searched, in this order, for a candidate's display name.
NAME_COLUMNS = ("name", "label", "nom")
#: Share of the optimum the greedy heuristic always reaches (Nemhauser et al., 1978).
GREEDY_GUARANTEE = 1.0 - 1.0 / math.e

_SOLVERS = ("exact", "greedy")
_METHOD_FR = {
    METHOD_MILP: "programme linéaire en nombres entiers, HiGHS",
    METHOD_GREEDY: "heuristique gloutonne",
}


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Sites proposed by :func:`propose_sites`, with the coverage they reach and its proof.

    Attributes
    ----------
    sites : pandas.DataFrame
        One row per chosen site, in order of marginal contribution: ``rank`` (1, 2...),
        ``candidate`` (label: index of the candidates frame), ``name`` (when the candidates
        have a ``name``/``label``/``nom`` column), ``x``, ``y`` (coordinates in the layers'
        CRS), ``covered_weight`` (unmet need covered by this site and by no site ranked
        before it, nor by an existing site), ``covered_share`` (that need as a share of
        ``total_weight``), ``demand_covered`` (list of the ids of those demand points, with
        a positive need) and ``n_demand_covered`` (their number).
    total_weight : float
        Total unmet need of the demand points.
    covered_weight : float
        Need newly covered by the chosen sites (the objective).
    covered_share : float
        ``covered_weight / total_weight`` (0 when there is no need).
    already_covered_weight : float
        Need within ``radius`` of an existing site (0 without ``existing``).
    coverable_weight : float
        Need not yet covered that lies within ``radius`` of at least one candidate: what
        all candidates together would cover, whatever ``k``.
    method : str
        ``"milp-highs"`` (exact solver) or ``"glouton"`` (greedy heuristic, also after a
        fallback from the exact solver).
    optimal : bool
        Whether the solution is proven optimal.
    gap : float
        Proven relative optimality gap ``(bound - covered_weight) / bound``; 0 when the
        solution is proven optimal (or when there is no need to cover).
    bound : float
        Upper bound on the best coverage reachable with ``k`` sites (equal to
        ``covered_weight`` when the solution is proven optimal).
    radius : float
        Service radius, in metres.
    k : int
        Number of sites asked for (``sites`` has ``min(k, number of candidates)`` rows).
    coverage : pandas.Series
        Indexed by demand id (the index of ``demand``): label of the best-ranked chosen site
        within ``radius`` of the point, or ``None``. Filled for every demand point, including
        points of zero need or already covered by an existing site.
    already_covered : pandas.Series
        Indexed by demand id: ``True`` when the point is within ``radius`` of an existing
        site.
    time_limit : float or None
        Time limit given to the exact solver, in seconds (``None`` when it did not run).
    status : str
        Solver status (HiGHS message, or a French description).
    notes : tuple of str
        French remarks: fallback to the greedy heuristic, time limit reached, ``k`` larger
        than the number of candidates, sites adding no need...
    """

    sites: pd.DataFrame
    total_weight: float
    covered_weight: float
    covered_share: float
    already_covered_weight: float
    coverable_weight: float
    method: str
    optimal: bool
    gap: float
    bound: float
    radius: float
    k: int
    coverage: pd.Series
    already_covered: pd.Series
    time_limit: float | None = None
    status: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary_fr(self) -> str:
        """Return a French summary of the proposal.

        Returns
        -------
        str
            E.g. "3 permanences proposées couvriraient 62 % du besoin non couvert (solution
            optimale, programme linéaire en nombres entiers, HiGHS, rayon 5 km)."
        """
        n = len(self.sites)
        head = (
            f"{n} permanence proposée couvrirait"
            if n == 1
            else f"{n} permanences proposées couvriraient"
        )
        if self.optimal:
            quality = "solution optimale"
        else:
            quality = f"écart à l'optimum au plus {_pct_up(self.gap)}"
        details = f"{quality}, {_METHOD_FR[self.method]}, rayon {_distance_fr(self.radius)}"
        text = f"{head} {_pct(self.covered_share)} du besoin non couvert ({details})."
        if self.already_covered_weight > 0 and self.total_weight > 0:
            share = self.already_covered_weight / self.total_weight
            text += f" Les sites existants en couvrent déjà {_pct(share)}."
        if any("repli" in note for note in self.notes):
            text += " Le solveur exact n'a pas abouti : repli sur l'heuristique gloutonne."
        return text


def propose_sites(
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    weight: str,
    k: int = 3,
    radius: float = 5_000,
    existing: gpd.GeoDataFrame | None = None,
    solver: str = "exact",
    time_limit: float | None = 30,
) -> SitingResult:
    """Propose ``k`` sites maximising the unmet need covered within ``radius`` (MCLP).

    See the module docstring for the model and the solvers.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points (or polygons, replaced by a representative point), in a projected CRS
        in metres, with a unique index (the demand ids) and the ``weight`` column.
    candidates : geopandas.GeoDataFrame
        Candidate sites (points, or polygons replaced by a representative point), in the CRS
        of ``demand``, with a unique index (the labels), optionally a ``name``, ``label`` or
        ``nom`` column. :func:`candidate_points` builds one.
    weight : str
        Column of ``demand`` holding the unmet need: finite, non-negative, no missing value.
    k : int, default 3
        Number of sites to propose (at least 1). Larger than the number of candidates: all
        candidates are chosen, with a note.
    radius : float, default 5000
        Service radius in metres (straight-line distance).
    existing : geopandas.GeoDataFrame, optional
        Existing sites, in the CRS of ``demand``: the need within ``radius`` of one of them
        is already covered.
    solver : {"exact", "greedy"}, default "exact"
        ``"exact"``: 0-1 programme solved by HiGHS (greedy fallback if it finds no
        solution); ``"greedy"``: greedy heuristic with a proven bound.
    time_limit : float or None, default 30
        Time limit of the exact solver (and of the bound's linear programme), in seconds;
        ``None`` for no limit.

    Returns
    -------
    SitingResult
        Chosen sites, coverage, method, optimality gap and bound.

    Raises
    ------
    InputError
        Missing or geographic CRS, different CRSs, missing weight column, negative, infinite
        or missing need, duplicated ids, empty geometry, ``k < 1``, non-positive radius or
        unknown solver.
    """
    _check_parameters(k, radius, solver, time_limit)
    radius = float(radius)
    _check_layer(demand, "la couche de demande")
    _check_layer(candidates, "la couche des sites candidats")
    _same_crs(candidates, demand, "les sites candidats")
    if existing is not None:
        _check_layer(existing, "la couche des sites existants", allow_empty=True)
        _same_crs(existing, demand, "les sites existants")
    w = _weights(demand, weight)

    dem_xy = _coordinates(demand, "la couche de demande")
    cand_xy = _coordinates(candidates, "la couche des sites candidats")
    labels = list(candidates.index)
    name_col = next((c for c in NAME_COLUMNS if c in candidates.columns), None)
    n_dem, n_cand = len(dem_xy), len(cand_xy)

    # Coverage pairs (demand i, candidate j) with distance <= radius, as a sparse matrix.
    cover = _pairs(cKDTree(cand_xy), dem_xy, radius, n_cand)

    already = np.zeros(n_dem, dtype=bool)
    if existing is not None and len(existing):
        exist_xy = _coordinates(existing, "la couche des sites existants")
        already = cKDTree(exist_xy).query_ball_point(dem_xy, r=radius, return_length=True) > 0
    residual = np.where(already, 0.0, w)

    notes: list[str] = []
    k_eff = min(int(k), n_cand)
    if k > n_cand:
        notes.append(
            f"k = {k} dépasse le nombre de sites candidats ({n_cand}) : tous sont retenus."
        )

    # Reduced problem: demand with remaining need that some candidate covers.
    rows = np.flatnonzero((residual > 0) & (np.diff(cover.indptr) > 0))
    reduced = cover[rows].tocsc()
    w_red = residual[rows]
    coverable = float(w_red.sum())
    useful = np.flatnonzero(np.diff(reduced.indptr) > 0)

    method = METHOD_MILP if solver == "exact" else METHOD_GREEDY
    used_time_limit = None
    status = ""
    bound = coverable
    optimal = False
    if len(useful) <= k_eff:
        # Every useful candidate fits: all the coverable need is covered.
        chosen = list(useful)
        optimal = True
        status = "solution directe : tous les candidats utiles sont retenus"
    elif solver == "exact":
        used_time_limit = None if time_limit is None else float(time_limit)
        outcome = _solve_milp(reduced[:, useful], w_red, k_eff, time_limit)
        status = outcome["status"]
        if outcome["chosen"] is None:
            notes.append(
                f"Le solveur exact n'a pas trouvé de solution ({status}) : repli sur "
                "l'heuristique gloutonne."
            )
            method = METHOD_GREEDY
        else:
            chosen = [int(useful[j]) for j in outcome["chosen"]]
            chosen = _prefer_earlier(reduced, w_red, chosen)
            optimal = outcome["optimal"]
            if not optimal:
                bound = min(bound, outcome["bound"])
                notes.append(
                    f"Le solveur exact s'est arrêté avant la preuve d'optimalité ({status}) : "
                    "solution réalisable, écart à l'optimum indiqué."
                )
    if method == METHOD_GREEDY and not optimal:
        chosen = _greedy(reduced, w_red, k_eff)
        status = status or "heuristique gloutonne"

    # Drop chosen sites adding nothing, complete to k_eff sites (candidate order for ties).
    order, gains = _greedy_rank(reduced, w_red, chosen)
    kept = [j for j, g in zip(order, gains, strict=True) if g > 0]
    chosen = _greedy(reduced, w_red, k_eff, start=kept)
    order, gains = _greedy_rank(reduced, w_red, chosen)
    idle = sum(1 for g in gains if g <= 0)
    if idle and coverable > 0:
        notes.append(
            f"{idle} site(s) retenu(s) n'ajoute(nt) aucun besoin couvert : "
            f"{k_eff - idle} site(s) suffisent à couvrir tout le besoin couvrable."
        )
    elif coverable == 0:
        notes.append("Aucun besoin restant n'est à portée d'un site candidat.")

    covered_mask = np.zeros(len(rows), dtype=bool)
    if order:
        covered_mask = np.asarray(reduced[:, order].sum(axis=1)).ravel() > 0
    objective = float(w_red[covered_mask].sum())

    if method == METHOD_GREEDY and not optimal:
        bound = min(
            bound, objective / GREEDY_GUARANTEE, _lp_bound(reduced, w_red, k_eff, time_limit)
        )
    if optimal:
        bound = objective
    bound = max(bound, objective)
    gap = 0.0 if bound <= 0 else (bound - objective) / bound
    if gap <= 1e-9:
        gap, optimal, bound = 0.0, True, objective

    # Coverage of every demand point by the best-ranked chosen site.
    first = _first_covering(cover, order)
    coverage_labels = [None if f < 0 else labels[order[f]] for f in first]
    coverage = pd.Series(coverage_labels, index=demand.index, dtype=object, name="site")
    counted = residual > 0

    total = float(w.sum())
    records = []
    for rank, j in enumerate(order, start=1):
        newly = (first == rank - 1) & counted
        covered_j = float(residual[newly].sum())
        record = {"rank": rank, "candidate": labels[j]}
        if name_col is not None:
            record["name"] = candidates[name_col].iloc[j]
        record.update(
            x=float(cand_xy[j, 0]),
            y=float(cand_xy[j, 1]),
            covered_weight=covered_j,
            covered_share=covered_j / total if total > 0 else 0.0,
            demand_covered=list(demand.index[newly]),
            n_demand_covered=int(newly.sum()),
        )
        records.append(record)
    columns = ["rank", "candidate", *(["name"] if name_col else []), "x", "y"]
    columns += ["covered_weight", "covered_share", "demand_covered", "n_demand_covered"]
    sites = pd.DataFrame.from_records(records, columns=columns)

    return SitingResult(
        sites=sites,
        total_weight=total,
        covered_weight=objective,
        covered_share=objective / total if total > 0 else 0.0,
        already_covered_weight=float(w[already].sum()),
        coverable_weight=coverable,
        method=method,
        optimal=bool(optimal),
        gap=float(gap),
        bound=float(bound),
        radius=radius,
        k=int(k),
        coverage=coverage,
        already_covered=pd.Series(already, index=demand.index, name="already_covered"),
        time_limit=used_time_limit,
        status=status,
        notes=tuple(notes),
    )


def candidate_points(
    communes_gdf: gpd.GeoDataFrame | None = None,
    services: gpd.GeoDataFrame | None = None,
    extra: gpd.GeoDataFrame | None = None,
    *,
    crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Gather candidate sites from commune polygons, service points and a user list.

    Parameters
    ----------
    communes_gdf : geopandas.GeoDataFrame, optional
        Commune polygons. The commune code is read from the ``commune`` column, else the
        ``code`` column, else the index; rows sharing a code (e.g. the IRIS of a commune)
        are merged. Each commune gives its representative point, labelled
        ``"commune:<code>"``.
    services : geopandas.GeoDataFrame, optional
        Service points (France services...), labelled ``"service:<index>"``.
    extra : geopandas.GeoDataFrame, optional
        User list of sites, labelled ``"extra:<index>"``.
    crs : str, optional
        Output CRS (projected, in metres). Default: the CRS of the first layer given. The
        other layers are reprojected to it.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by label (index named ``candidate``), with ``source`` (``"commune"``,
        ``"service"`` or ``"extra"``), ``name`` (from a ``name``/``nom``/``label`` column,
        or the commune's ``commune_name``; else ``None``) and point geometries.

    Raises
    ------
    InputError
        No layer, a layer without CRS, a geographic output CRS or duplicated labels.
    """
    layers = [("commune", communes_gdf), ("service", services), ("extra", extra)]
    layers = [(source, gdf) for source, gdf in layers if gdf is not None]
    if not layers:
        raise InputError(
            "aucune couche de sites candidats : donnez des communes, des services ou une liste."
        )
    for source, gdf in layers:
        if gdf.crs is None:
            raise InputError(
                f"la couche « {source} » n'a pas de système de coordonnées (CRS) : "
                "déclarez-le avec set_crs()."
            )
    target = crs if crs is not None else layers[0][1].crs
    probe = gpd.GeoDataFrame(geometry=[], crs=target)
    _check_projected(probe, "le système de coordonnées des sites candidats")

    parts = []
    for source, gdf in layers:
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(probe.crs)
        if source == "commune":
            if "commune" in gdf.columns:
                codes = gdf["commune"]
            elif "code" in gdf.columns:
                codes = gdf["code"]
            else:
                codes = pd.Series(gdf.index, index=gdf.index)
            codes = codes.map(lambda c: normalise_code(c, 5))
            gdf = gdf.assign(_code=codes.to_numpy())
            if gdf["_code"].duplicated().any():
                gdf = gdf.dissolve(by="_code", as_index=False, sort=False)
            keys = gdf["_code"].tolist()
            name_cols = ("commune_name", *NAME_COLUMNS)
        else:
            keys = list(gdf.index)
            name_cols = NAME_COLUMNS
        name_col = next((c for c in name_cols if c in gdf.columns), None)
        names = gdf[name_col].tolist() if name_col else [None] * len(gdf)
        parts.append(
            gpd.GeoDataFrame(
                {
                    "candidate": [f"{source}:{key}" for key in keys],
                    "source": source,
                    "name": names,
                },
                geometry=gdf.geometry.representative_point().to_numpy(),
                crs=probe.crs,
            )
        )
    out = pd.concat(parts, ignore_index=True).set_index("candidate")
    if not out.index.is_unique:
        dup = out.index[out.index.duplicated()].unique()[:5].tolist()
        raise InputError(f"sites candidats en double : {', '.join(map(str, dup))}.")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=probe.crs)


# --- checks -------------------------------------------------------------------------------


def _check_parameters(k, radius, solver, time_limit) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InputError(
            f"k (nombre de sites à proposer) doit être un entier supérieur ou égal à 1 : "
            f"reçu {k!r}.",
            field="k",
        )
    if (
        isinstance(radius, bool)
        or not isinstance(radius, numbers.Real)
        or not math.isfinite(radius)
        or radius <= 0
    ):
        raise InputError(
            f"le rayon de service doit être un nombre de mètres strictement positif : "
            f"reçu {radius!r}.",
            field="radius",
        )
    if solver not in _SOLVERS:
        raise InputError(
            f"solveur inconnu : {solver!r} (choix possibles : « exact », « greedy »).",
            field="solver",
        )
    if time_limit is not None and (not isinstance(time_limit, numbers.Real) or not time_limit > 0):
        raise InputError(
            f"la limite de temps doit être un nombre de secondes positif ou None : "
            f"reçu {time_limit!r}.",
            field="time_limit",
        )


def _check_projected(gdf, what: str) -> None:
    if gdf.crs is None:
        raise InputError(
            f"{what} n'a pas de système de coordonnées (CRS) : déclarez-le avec set_crs()."
        )
    if not gdf.crs.is_projected:
        raise InputError(
            f"{what} est en coordonnées géographiques ({gdf.crs.to_string()}) : les distances "
            f"seraient en degrés. Reprojetez en mètres, par exemple avec "
            f"to_crs('{CRS_L93}') (Lambert-93)."
        )
    unit = gdf.crs.axis_info[0].unit_name if gdf.crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise InputError(
            f"{what} est en {gdf.crs.to_string()}, dont l'unité ({unit}) n'est pas le mètre : "
            f"reprojetez, par exemple avec to_crs('{CRS_L93}')."
        )


def _check_layer(gdf, what: str, *, allow_empty: bool = False) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} doit être un GeoDataFrame (reçu {type(gdf).__name__}).")
    if not allow_empty and len(gdf) == 0:
        raise InputError(f"{what} est vide.")
    _check_projected(gdf, what)
    if not gdf.index.is_unique:
        dup = gdf.index[gdf.index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"{what} contient des identifiants en double : {', '.join(map(str, dup))}."
        )
    bad = gdf.geometry.isna() | gdf.geometry.is_empty
    if bad.any():
        ids = gdf.index[bad.to_numpy()][:5].tolist()
        raise InputError(
            f"{what} contient {int(bad.sum())} géométrie(s) vide(s) ou manquante(s) : "
            f"{', '.join(map(str, ids))}."
        )


def _same_crs(gdf, demand, what: str) -> None:
    if not gdf.crs.equals(demand.crs):
        target = demand.crs.to_string()
        raise InputError(
            f"{what} sont en {gdf.crs.to_string()} alors que la demande est en {target} : "
            f"reprojetez avec to_crs('{target}')."
        )


def _weights(demand, weight: str) -> np.ndarray:
    if weight not in demand.columns:
        raise InputError(
            f"colonne de besoin « {weight} » absente de la couche de demande.", field=weight
        )
    values = pd.to_numeric(demand[weight], errors="coerce")
    raw_missing = demand[weight].isna()
    if (values.isna() & ~raw_missing).any():
        raise InputError(
            "le besoin non couvert doit être numérique : valeurs non numériques trouvées.",
            field=weight,
        )
    w = values.to_numpy(dtype=float)
    if np.isnan(w).any():
        raise InputError(
            f"{int(np.isnan(w).sum())} valeur(s) de besoin manquante(s) : remplacez-les "
            "(par 0 avec fillna(0) si l'absence de valeur signifie aucun besoin non couvert).",
            field=weight,
        )
    if np.isinf(w).any():
        raise InputError("le besoin non couvert contient une valeur infinie.", field=weight)
    if (w < 0).any():
        ids = demand.index[w < 0][:5].tolist()
        raise InputError(
            f"le besoin non couvert ne peut pas être négatif ({int((w < 0).sum())} valeur(s) "
            f"négative(s), ex. {', '.join(map(str, ids))}) : ramenez-le à 0 avec clip(lower=0).",
            field=weight,
        )
    return w


def _coordinates(gdf, what: str) -> np.ndarray:
    points = gdf.geometry.representative_point()
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    if not np.isfinite(xy).all():
        raise InputError(f"{what} contient des coordonnées non finies.")
    return xy


# --- model ---------------------------------------------------------------------------------


def _pairs(tree: cKDTree, points: np.ndarray, radius: float, n_cols: int) -> sparse.csr_matrix:
    """Sparse 0/1 matrix points × tree points, 1 where the distance is <= radius."""
    neighbours = tree.query_ball_point(points, r=radius)
    lengths = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(points))
    cols = np.fromiter(
        itertools.chain.from_iterable(neighbours), dtype=np.int64, count=int(lengths.sum())
    )
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sparse.csr_matrix((np.ones(len(cols)), cols, indptr), shape=(len(points), n_cols))
    matrix.sort_indices()
    return matrix


def _solve_milp(cover: sparse.csc_matrix, w: np.ndarray, k: int, time_limit) -> dict:
    """Solve the MCLP on a reduced coverage matrix (demand × candidates) with HiGHS."""
    m, n = cover.shape
    link = sparse.hstack([-cover, sparse.identity(m, format="csc")], format="csr")
    card = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
    constraints = [
        LinearConstraint(link, -np.inf, 0.0),
        LinearConstraint(card, k, k),
    ]
    options = {"mip_rel_gap": 0.0, "disp": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        c=np.r_[np.zeros(n), -w],
        constraints=constraints,
        integrality=np.r_[np.ones(n), np.zeros(m)],
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    status = str(getattr(res, "message", "")) or f"statut {res.status}"
    x = getattr(res, "x", None)
    if x is None or res.status not in (0, 1):
        return {"chosen": None, "status": status}
    chosen = [int(j) for j in np.flatnonzero(np.asarray(x)[:n] > 0.5)]
    dual = getattr(res, "mip_dual_bound", None)
    bound = -float(dual) if dual is not None and np.isfinite(dual) else np.inf
    return {"chosen": chosen, "status": status, "optimal": res.status == 0, "bound": bound}


def _greedy(cover: sparse.csc_matrix, w: np.ndarray, k: int, start=()) -> list[int]:
    """Greedy MCLP: add the column covering the most uncovered weight (first on ties)."""
    chosen = list(start)
    uncovered = np.ones(cover.shape[0], dtype=bool)
    for j in chosen:
        uncovered[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = False
    available = np.ones(cover.shape[1], dtype=bool)
    available[chosen] = False
    while len(chosen) < k and available.any():
        gains = cover.T @ np.where(uncovered, w, 0.0)
        gains[~available] = -1.0
        j = int(np.argmax(gains))
        chosen.append(j)
        available[j] = False
        uncovered[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = False
    return chosen


def _greedy_rank(cover: sparse.csc_matrix, w: np.ndarray, chosen) -> tuple[list[int], list]:
    """Order chosen columns by marginal contribution (ties: column order), with the gains."""
    chosen = sorted(int(j) for j in chosen)
    if not chosen:
        return [], []
    sub = cover[:, chosen].tocsc()
    picks = _greedy(sub, w, len(chosen))
    order, gains = [], []
    uncovered = np.ones(cover.shape[0], dtype=bool)
    for p in picks:
        rows = sub.indices[sub.indptr[p] : sub.indptr[p + 1]]
        gains.append(float(w[rows][uncovered[rows]].sum()))
        uncovered[rows] = False
        order.append(chosen[p])
    return order, gains


def _prefer_earlier(cover: sparse.csc_matrix, w: np.ndarray, chosen) -> list[int]:
    """Swap chosen columns for earlier ones while the covered weight does not decrease."""
    chosen = sorted(int(j) for j in chosen)
    tol = 1e-12 * max(1.0, float(w.sum()))
    changed = True
    while changed:
        changed = False
        for s in chosen:
            uncovered = np.ones(cover.shape[0], dtype=bool)
            for j in chosen:
                if j != s:
                    uncovered[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = False
            gains = cover.T @ np.where(uncovered, w, 0.0)
            better = gains[:s] >= gains[s] - tol
            better[[j for j in chosen if j < s]] = False
            if better.any():
                chosen = sorted([j for j in chosen if j != s] + [int(np.argmax(better))])
                changed = True
                break
    return chosen


def _lp_bound(cover: sparse.csc_matrix, w: np.ndarray, k: int, time_limit) -> float:
    """Upper bound on the MCLP optimum: value of its linear-programming relaxation."""
    m, n = cover.shape
    if m == 0:
        return 0.0
    a_ub = sparse.hstack([-cover, sparse.identity(m, format="csc")], format="csr")
    a_eq = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
    options = {} if time_limit is None else {"time_limit": float(time_limit)}
    res = linprog(
        c=np.r_[np.zeros(n), -w],
        A_ub=a_ub,
        b_ub=np.zeros(m),
        A_eq=a_eq,
        b_eq=[min(k, n)],
        bounds=(0.0, 1.0),
        method="highs",
        options=options,
    )
    if res.status != 0:
        return np.inf
    # The dual value bounds the optimum; the primal value is within HiGHS' tolerance of it.
    return -float(res.fun) * (1 + 1e-9) + 1e-9


def _first_covering(cover: sparse.csr_matrix, order: list[int]) -> np.ndarray:
    """For each row, the position in ``order`` of the first column covering it, or -1."""
    first = np.full(cover.shape[0], -1, dtype=np.int64)
    if not order:
        return first
    sub = cover[:, order].tocsr()
    sub.sort_indices()
    has = np.diff(sub.indptr) > 0
    first[has] = sub.indices[sub.indptr[:-1][has]]
    return first


# --- French formatting ---------------------------------------------------------------------


def _pct(share: float) -> str:
    value = 100.0 * share
    if 0 < value < 1 or 99 < value < 100:
        return f"{value:.1f} %".replace(".", ",")
    return f"{round(value)} %"


def _pct_up(share: float) -> str:
    """Percentage rounded up (to 0.1 below 10 %, to 1 above): for an upper bound."""
    value = 100.0 * share
    step = 10.0 if value < 10 else 1.0
    rounded = math.ceil(value * step - 1e-9) / step
    return f"{rounded:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " %"


def _distance_fr(metres: float) -> str:
    if metres >= 1000:
        km = f"{metres / 1000:.1f}".rstrip("0").rstrip(".")
        return f"{km.replace('.', ',')} km"
    return f"{round(metres)} m"
