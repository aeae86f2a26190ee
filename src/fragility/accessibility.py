"""Spatial accessibility from IRIS (demand) to service points (supply).

Reference: ``logs-and-privacy.md`` §D.3 (2SFCA to France Services and mediation supply)
and ``ecosystem-notes.md`` §2.3 (PySAL ``access``).

Distances are straight-line (Euclidean) distances in metres, computed in a projected CRS
(Lambert-93 in metropolitan France, the IGN UTM projection overseas); a geographic CRS
(degrees) is refused. They are computed on **sparse pairs**: a k-d tree
(:class:`scipy.spatial.cKDTree`) returns only the origin–destination pairs within the
catchment, never the dense ``n × m`` matrix (49,000 IRIS × 2,800 France Services at
national scale, about half a million pairs at 20 km instead of 137 million).

Functions
---------
* :func:`demand_points`: one point per IRIS, population-weighted mean of a population
  grid when one is given, otherwise the centroid (or a point surely inside the polygon).
* :func:`distance_pairs`: every pair within ``max_distance``, in long format.
* :func:`nearest_distance`: distance to, and label of, the nearest service.
* :func:`two_step_fca`: two-step floating catchment area (2SFCA, Luo & Wang 2003) and its
  Gaussian-decay variant (E2SFCA), vectorised with :func:`numpy.bincount` over the pairs.

Agreement with PySAL ``access`` (1.1.10)
----------------------------------------
:func:`two_step_fca` gives the same values as
``access.Access(...).two_stage_fca(max_cost=max_distance)`` (``decay="step"``) and
``two_stage_fca(max_cost=max_distance, weight_fn=access.weights.gaussian(sigma))``
(``decay="gaussian"``), fed with the pairs of :func:`distance_pairs`; the tests check it to
1e-9. The conventions followed are those of ``access``:

* a pair at exactly ``max_distance`` is inside the catchment (``cost <= max_cost``);
* the Gaussian weight is ``exp(-d * d / (2 * sigma**2))``, without the
  ``1 / sqrt(2 pi sigma²)`` factor, so that ``f(0) = 1``; it is applied in both steps,
  and only to pairs within ``max_distance`` (the Gaussian is truncated at the cutoff);
* ``normalize=True`` divides by the population-weighted mean of the access values,
  ``Σ_i P_i A_i / Σ_i P_i``, the mean of ``access.helpers.normalized_access``.

Three deliberate differences, all on degenerate cases: a demand point with no service in
reach gets 0 (``access`` leaves it missing); a service whose catchment holds no
population gets ``R_j = 0`` (``access`` divides by zero, giving ``inf`` or a missing
value); with ``supply_value=None`` each service counts for 1 (``access`` refuses to run
the FCA methods without a supply column).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from fragility.errors import InputError

__all__ = ["demand_points", "distance_pairs", "nearest_distance", "two_step_fca"]

#: Relative and absolute slack added to the k-d tree radius; the exact test is then made
#: on the distance computed here (``numpy.hypot``), so that ``d <= max_distance`` holds
#: whatever the rounding of the tree's own distance.
_RTOL = 1e-9
_ATOL = 1e-6

_DECAYS = ("step", "gaussian")


# --------------------------------------------------------------------------- checks


def _check_projected(crs, what: str) -> None:
    """Raise unless ``crs`` is a projected CRS in metres."""
    if crs is None:
        raise InputError(
            f"{what} n'a pas de système de coordonnées (CRS) : déclarez-le avec set_crs() "
            "puis reprojetez en Lambert-93 avec to_crs('EPSG:2154')."
        )
    if not crs.is_projected:
        raise InputError(
            f"{what} est en coordonnées géographiques ({crs.to_string()}, en degrés) : les "
            "distances doivent être calculées en mètres dans un système projeté ; reprojetez "
            "avec to_crs('EPSG:2154') (Lambert-93) ou la projection du département d'outre-mer."
        )
    units = {(axis.unit_name or "").lower() for axis in crs.axis_info}
    if not units <= {"metre", "meter", "metres", "meters"}:
        raise InputError(
            f"{what} est dans un système projeté dont l'unité n'est pas le mètre "
            f"({crs.to_string()}, unité : {', '.join(sorted(units))}) : reprojetez avec "
            "to_crs('EPSG:2154')."
        )


def _check_same_crs(first, second, what: str) -> None:
    """Raise when two projected CRSs differ."""
    if first is not None and second is not None and not first.equals(second):
        raise InputError(
            f"{what} ne sont pas dans le même système de coordonnées ({first.to_string()} et "
            f"{second.to_string()}) : reprojetez l'une avec to_crs()."
        )


def _check_distance(value, name: str, *, strict: bool = False) -> float:
    """Return ``value`` as a finite float ``>= 0`` (``> 0`` when ``strict``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} doit être un nombre de mètres (reçu : {value!r})."
        ) from None
    if not math.isfinite(number) or number < 0 or (strict and number == 0):
        bound = "strictement positif" if strict else "positif ou nul"
        raise InputError(
            f"{name} doit être un nombre de mètres fini et {bound} (reçu : {value!r})."
        )
    return number


def _geoms(frame, what: str) -> gpd.GeoSeries:
    """Return the geometry of a GeoSeries or GeoDataFrame, or raise."""
    if isinstance(frame, gpd.GeoDataFrame):
        return frame.geometry
    if isinstance(frame, gpd.GeoSeries):
        return frame
    raise InputError(
        f"{what} doit être une GeoSeries ou un GeoDataFrame (reçu : {type(frame).__name__})."
    )


def _check_geometries(geoms: gpd.GeoSeries, what: str) -> None:
    """Raise on missing or empty geometries."""
    bad = geoms.isna().to_numpy() | geoms.is_empty.to_numpy()
    if bad.any():
        labels = ", ".join(map(str, geoms.index[bad][:5]))
        raise InputError(f"{what} contient {int(bad.sum())} géométrie(s) vide(s) ou manquante(s) "
                         f"(par exemple {labels}).")


def _coords(points, what: str) -> tuple[np.ndarray, pd.Index, object]:
    """Return ``(xy, labels, crs)`` of points given as geometries or as an ``(n, 2)`` array.

    Geometric inputs must be points in a projected CRS in metres and give their index
    labels; arrays give their positions (``RangeIndex``) and no CRS.
    """
    if isinstance(points, gpd.GeoSeries | gpd.GeoDataFrame):
        geoms = _geoms(points, what)
        _check_projected(geoms.crs, what)
        _check_geometries(geoms, what)
        kinds = shapely.get_type_id(geoms.array)
        if (kinds != shapely.GeometryType.POINT).any():
            other = sorted(set(geoms.geom_type[kinds != shapely.GeometryType.POINT]))
            raise InputError(
                f"{what} doit contenir des points (trouvé : {', '.join(other)}) : passez par "
                "demand_points() pour ramener chaque polygone à un point."
            )
        xy = shapely.get_coordinates(geoms.array).astype(float, copy=False)
        return xy.reshape(-1, 2), points.index, geoms.crs
    if isinstance(points, pd.DataFrame | pd.Series):
        raise InputError(
            f"{what} doit être une GeoSeries, un GeoDataFrame ou un tableau (n, 2) de "
            f"coordonnées (reçu : {type(points).__name__} sans géométrie)."
        )
    try:
        xy = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} doit être une GeoSeries, un GeoDataFrame ou un tableau (n, 2) de "
            "coordonnées en mètres."
        ) from None
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(
            f"{what} doit être un tableau de forme (n, 2) (forme reçue : {xy.shape})."
        )
    if not np.isfinite(xy).all():
        raise InputError(f"{what} contient des coordonnées manquantes ou infinies.")
    return xy, pd.RangeIndex(len(xy)), None


def _values(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Return a non-negative finite float column of ``frame``, or raise."""
    if column not in frame.columns:
        raise InputError(
            f"{what} n'a pas de colonne « {column} » (colonnes : "
            f"{', '.join(map(str, frame.columns[:10]))}).",
            field=column,
        )
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"la colonne « {column} » de {what} doit être numérique.",
                         field=column) from None
    missing = ~np.isfinite(values)
    if missing.any():
        raise InputError(
            f"la colonne « {column} » de {what} a {int(missing.sum())} valeur(s) manquante(s) "
            "ou infinie(s) : complétez-les (par exemple par la médiane) ou retirez ces lignes.",
            field=column,
        )
    if (values < 0).any():
        raise InputError(
            f"la colonne « {column} » de {what} a {int((values < 0).sum())} valeur(s) "
            "négative(s).",
            field=column,
        )
    return values


# --------------------------------------------------------------------------- demand points


def demand_points(gdf, *, grid=None, weight: str = "population") -> gpd.GeoSeries:
    """Return one demand point per IRIS (or any polygon).

    With a population ``grid`` (e.g. the INSEE 200 m gridded population, *Filosofi
    carroyée*), the point is the population-weighted mean of the grid points that fall in
    the polygon: the place where the inhabitants are, not the middle of the fields. A grid
    point on a boundary shared by two polygons goes to the first of them in ``gdf`` order.
    That mean may fall outside a non-convex polygon (a town in two valleys); it is kept,
    as it is the point that best summarises distances from the inhabitants.

    Without a grid, or for a polygon that holds no populated grid point, the point is the
    centroid when it lies inside the polygon, else :meth:`~geopandas.GeoSeries.
    representative_point` (a point surely inside). This is an **approximation**: the
    centroid of a large rural IRIS can be kilometres away from its villages.

    Point geometries are returned unchanged.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        Polygons (IRIS contours), in a projected CRS in metres (Lambert-93).
    grid : geopandas.GeoDataFrame, optional
        Grid points (or cells, reduced to their centroid) in the same CRS, with a
        population column named by ``weight``.
    weight : str, default "population"
        Population column of ``grid``.

    Returns
    -------
    geopandas.GeoSeries
        Points, indexed like ``gdf``, in its CRS.

    Raises
    ------
    InputError
        When ``gdf`` or ``grid`` is not in a projected CRS in metres, when they differ,
        when a geometry is empty or missing, or when the ``weight`` column is missing,
        negative or incomplete.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> iris = gpd.GeoDataFrame(geometry=[box(0, 0, 2000, 2000)], crs="EPSG:2154")
    >>> demand_points(iris).iloc[0].wkt
    'POINT (1000 1000)'
    """
    geoms = _geoms(gdf, "la couche des IRIS")
    _check_projected(geoms.crs, "la couche des IRIS")
    _check_geometries(geoms, "la couche des IRIS")
    array = geoms.array
    is_point = shapely.get_type_id(array) == shapely.GeometryType.POINT

    centroids = shapely.centroid(array)
    inside = shapely.contains(array, centroids) | is_point
    points = np.where(inside, centroids, shapely.point_on_surface(array))
    points = np.where(is_point, array, points)

    if grid is not None:
        if not isinstance(grid, gpd.GeoDataFrame):
            raise InputError(
                "la grille de population doit être un GeoDataFrame avec une colonne de "
                f"population « {weight} » (reçu : {type(grid).__name__})."
            )
        cells = _geoms(grid, "la grille de population")
        _check_projected(cells.crs, "la grille de population")
        _check_same_crs(geoms.crs, cells.crs, "la couche des IRIS et la grille de population")
        population = _values(grid, weight, "la grille de population")
        cell_points = cells.array
        not_point = shapely.get_type_id(cell_points) != shapely.GeometryType.POINT
        if not_point.any():
            cell_points = np.where(not_point, shapely.centroid(cell_points), cell_points)
        valid = ~(shapely.is_missing(cell_points) | shapely.is_empty(cell_points))
        valid &= population > 0
        cell_idx = np.flatnonzero(valid)
        tree = shapely.STRtree(array)
        hit_cell, hit_iris = tree.query(cell_points[cell_idx], predicate="intersects")
        if hit_cell.size:
            # A cell on a shared boundary counts once, for the first polygon.
            order = np.lexsort((hit_iris, hit_cell))
            hit_cell, hit_iris = hit_cell[order], hit_iris[order]
            first = np.r_[True, hit_cell[1:] != hit_cell[:-1]]
            hit_cell, hit_iris = cell_idx[hit_cell[first]], hit_iris[first]
            xy = shapely.get_coordinates(cell_points[hit_cell])
            w = population[hit_cell]
            n = len(array)
            total = np.bincount(hit_iris, weights=w, minlength=n)
            mx = np.bincount(hit_iris, weights=w * xy[:, 0], minlength=n)
            my = np.bincount(hit_iris, weights=w * xy[:, 1], minlength=n)
            has = (total > 0) & ~is_point
            if has.any():
                weighted = shapely.points(mx[has] / total[has], my[has] / total[has])
                points = points.copy()
                points[has] = weighted

    return gpd.GeoSeries(points, index=geoms.index, crs=geoms.crs, name="geometry")


# --------------------------------------------------------------------------- distances


def _pairs(xy_o: np.ndarray, xy_d: np.ndarray, max_distance: float):
    """Return position arrays ``(i, j, d)`` of the pairs with ``d <= max_distance``.

    Sorted by origin then destination position; ``d = hypot(dx, dy)``.
    """
    if len(xy_o) == 0 or len(xy_d) == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty.copy(), np.empty(0, dtype=float)
    tree_o = cKDTree(xy_o, balanced_tree=False, compact_nodes=False)
    tree_d = cKDTree(xy_d, balanced_tree=False, compact_nodes=False)
    radius = max_distance * (1 + _RTOL) + _ATOL
    found = tree_o.sparse_distance_matrix(tree_d, radius, output_type="ndarray")
    i = found["i"].astype(np.intp, copy=False)
    j = found["j"].astype(np.intp, copy=False)
    d = np.hypot(xy_o[i, 0] - xy_d[j, 0], xy_o[i, 1] - xy_d[j, 1])
    keep = d <= max_distance
    i, j, d = i[keep], j[keep], d[keep]
    order = np.argsort(i.astype(np.int64) * len(xy_d) + j, kind="stable")
    return i[order], j[order], d[order]


def distance_pairs(origins, destinations, max_distance: float) -> pd.DataFrame:
    """Return every origin–destination pair within ``max_distance`` metres.

    Computed with two k-d trees (:meth:`scipy.spatial.cKDTree.sparse_distance_matrix`):
    memory grows with the number of pairs found, never with ``n × m``.

    Parameters
    ----------
    origins : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shape (n, 2)
        Origin points (e.g. :func:`demand_points`). Geometric inputs are identified by
        their index labels, arrays by their positions.
    destinations : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shape (m, 2)
        Destination points (services), same conventions.
    max_distance : float
        Catchment radius in metres; a pair at exactly this distance is kept
        (``distance <= max_distance``, as in PySAL ``access``).

    Returns
    -------
    pandas.DataFrame
        Columns ``origin``, ``destination`` (labels or positions) and ``distance``
        (metres, float, ``hypot(dx, dy)``), sorted by origin then destination in the order
        of the inputs, with a ``RangeIndex``. ``attrs["max_distance"]`` records the radius
        so that :func:`two_step_fca` can check that reused pairs are wide enough.

    Raises
    ------
    InputError
        On a geographic or missing CRS, two different CRSs, non-point geometries, a
        malformed array or a negative or infinite ``max_distance``.

    Examples
    --------
    >>> import numpy as np
    >>> distance_pairs(np.array([[0.0, 0.0]]), np.array([[3000.0, 4000.0], [9e4, 0.0]]), 5000)
       origin  destination  distance
    0       0            0    5000.0
    """
    max_distance = _check_distance(max_distance, "max_distance")
    xy_o, labels_o, crs_o = _coords(origins, "les origines")
    xy_d, labels_d, crs_d = _coords(destinations, "les destinations")
    _check_same_crs(crs_o, crs_d, "les origines et les destinations")
    i, j, d = _pairs(xy_o, xy_d, max_distance)
    frame = pd.DataFrame(
        {
            "origin": labels_o.take(i) if len(labels_o) else labels_o[:0],
            "destination": labels_d.take(j) if len(labels_d) else labels_d[:0],
            "distance": d,
        }
    )
    frame.attrs["max_distance"] = max_distance
    return frame


def _label_rank(labels: pd.Index) -> np.ndarray:
    """Rank of each label in sorted order (positions when labels cannot be sorted)."""
    try:
        order = np.argsort(labels.to_numpy(), kind="stable")
    except TypeError:
        return np.arange(len(labels))
    rank = np.empty(len(labels), dtype=np.intp)
    rank[order] = np.arange(len(labels))
    return rank


def _missing_labels(labels: pd.Index, positions: np.ndarray):
    """Take ``labels`` at ``positions``, with a missing value where the position is -1."""
    found = positions >= 0
    safe = np.where(found, positions, 0)
    if len(labels) == 0:
        return pd.array([None] * len(positions), dtype=object)
    values = labels.take(safe)
    if pd.api.types.is_integer_dtype(values.dtype):
        out = pd.array(np.asarray(values, dtype=np.int64), dtype="Int64")
        out[~found] = pd.NA
        return out
    out = np.asarray(values, dtype=object).copy()
    out[~found] = None
    return pd.array(out, dtype=object)


def nearest_distance(origins, destinations, *, max_distance: float | None = None) -> pd.DataFrame:
    """Return, for each origin, the distance to the nearest destination and its label.

    Parameters
    ----------
    origins : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shape (n, 2)
        Origin points; see :func:`distance_pairs`.
    destinations : geopandas.GeoSeries, geopandas.GeoDataFrame or array-like of shape (m, 2)
        Destination points.
    max_distance : float, optional
        Search radius in metres (inclusive). Beyond it, or when there is no destination,
        the origin gets a missing distance and nearest label.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``origins`` (``RangeIndex`` for an array), with columns ``distance``
        (metres, NaN when none) and ``nearest`` (label or position of the nearest
        destination; ties go to the lowest label, or the lowest position when labels
        cannot be compared; missing when none).

    Raises
    ------
    InputError
        On the same inputs as :func:`distance_pairs`.

    Examples
    --------
    >>> import numpy as np
    >>> nearest_distance(np.array([[0.0, 0.0], [5e4, 0.0]]), np.array([[0.0, 300.0]]),
    ...                  max_distance=20_000)
       distance  nearest
    0     300.0        0
    1       NaN     <NA>
    """
    if max_distance is not None:
        max_distance = _check_distance(max_distance, "max_distance")
    xy_o, labels_o, crs_o = _coords(origins, "les origines")
    xy_d, labels_d, crs_d = _coords(destinations, "les destinations")
    _check_same_crs(crs_o, crs_d, "les origines et les destinations")
    n, m = len(xy_o), len(xy_d)
    best_d = np.full(n, np.nan)
    best_j = np.full(n, -1, dtype=np.intp)
    if n and m:
        tree = cKDTree(xy_d)
        rank = _label_rank(labels_d)
        bound = np.inf if max_distance is None else max_distance * (1 + _RTOL) + _ATOL
        pending = np.arange(n)
        k = min(4, m)
        while pending.size:
            tree_d, jj = tree.query(xy_o[pending], k=k, distance_upper_bound=bound)
            tree_d, jj = tree_d.reshape(len(pending), k), jj.reshape(len(pending), k)
            valid = jj < m
            safe = np.where(valid, jj, 0)
            d = np.hypot(xy_o[pending, 0, None] - xy_d[safe, 0],
                         xy_o[pending, 1, None] - xy_d[safe, 1])
            ok = valid if max_distance is None else valid & (d <= max_distance)
            d = np.where(ok, d, np.inf)
            dmin = d.min(axis=1)
            # Ties beyond the k candidates are possible when the k-th one is as close as
            # the best: those rows are asked again with twice as many neighbours.
            limit = np.where(np.isfinite(dmin), dmin, bound) * (1 + _RTOL) + _ATOL
            more = valid[:, -1] & (tree_d[:, -1] <= limit) & (k < m)
            done = ~more
            key = np.where(ok & (d == dmin[:, None]), rank[safe], m)
            pick = key.argmin(axis=1)
            rows = pending[done]
            chosen = jj[np.arange(len(pending)), pick][done]
            hit = np.isfinite(dmin[done])
            best_d[rows[hit]] = dmin[done][hit]
            best_j[rows[hit]] = chosen[hit]
            pending = pending[more]
            k = min(2 * k, m)
    return pd.DataFrame(
        {"distance": best_d, "nearest": _missing_labels(labels_d, best_j)},
        index=labels_o,
    )


# --------------------------------------------------------------------------- 2SFCA


def _points_of(frame, what: str) -> gpd.GeoSeries:
    """Points of a demand or supply frame (polygons go through :func:`demand_points`)."""
    geoms = _geoms(frame, what)
    _check_projected(geoms.crs, what)
    _check_geometries(geoms, what)
    if (shapely.get_type_id(geoms.array) != shapely.GeometryType.POINT).any():
        return demand_points(geoms)
    return geoms


def _positions(labels: pd.Series, index: pd.Index) -> np.ndarray:
    """Positions of ``labels`` in ``index`` (-1 when absent), hashing each label once."""
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    mapped = np.append(index.get_indexer(uniques), -1)  # code -1 (missing) -> -1
    return mapped[codes]


def _pairs_positions(pairs: pd.DataFrame, demand_index: pd.Index, supply_index: pd.Index,
                     max_distance: float):
    """Map a precomputed pairs table onto positions and keep ``distance <= max_distance``."""
    missing = {"origin", "destination", "distance"} - set(pairs.columns)
    if missing:
        raise InputError(
            "la table de paires doit avoir les colonnes origin, destination et distance "
            f"(produites par distance_pairs) ; il manque : {', '.join(sorted(missing))}."
        )
    wide = pairs.attrs.get("max_distance")
    if wide is not None and float(wide) < max_distance:
        raise InputError(
            f"la table de paires a été calculée jusqu'à {float(wide):g} m, moins que "
            f"max_distance = {max_distance:g} m : recalculez-la avec distance_pairs()."
        )
    for index, what in ((demand_index, "la demande"), (supply_index, "l'offre")):
        if not index.is_unique:
            raise InputError(
                f"l'index de {what} contient des doublons : impossible de relier la table de "
                "paires à ses lignes."
            )
    d = pd.to_numeric(pairs["distance"], errors="coerce").to_numpy(dtype=float)
    if (~np.isfinite(d)).any() or (d < 0).any():
        raise InputError("la colonne distance de la table de paires doit être finie et positive.",
                         field="distance")
    keep = d <= max_distance
    i = _positions(pairs["origin"], demand_index)[keep]
    j = _positions(pairs["destination"], supply_index)[keep]
    for pos, what in ((i, "origines absentes de la demande"),
                      (j, "destinations absentes de l'offre")):
        if (pos < 0).any():
            raise InputError(
                f"la table de paires contient {int((pos < 0).sum())} {what} : a-t-elle été "
                "calculée sur les mêmes couches ?"
            )
    return i.astype(np.intp), j.astype(np.intp), d[keep]


def two_step_fca(
    demand,
    supply,
    *,
    demand_value: str,
    supply_value: str | None = None,
    max_distance: float = 20_000,
    decay: str = "step",
    sigma: float | None = None,
    pairs: pd.DataFrame | None = None,
    normalize: bool = False,
) -> pd.Series:
    r"""Two-step floating catchment area accessibility (2SFCA / Gaussian E2SFCA).

    Step 1 gives each service its supply-to-demand ratio, step 2 sums the ratios within
    reach of each demand point (Luo & Wang 2003)::

        R_j = S_j / Σ_{k : d_kj <= d0} P_k f(d_kj)
        A_i = Σ_{j : d_ij <= d0} R_j f(d_ij)

    with ``f = 1`` (``decay="step"``, classic 2SFCA) or the Gaussian
    ``f(d) = exp(-d * d / (2 * sigma**2))`` truncated at ``d0`` (``decay="gaussian"``,
    E2SFCA), exactly the weight of ``access.weights.gaussian(sigma)``. For step 2SFCA,
    ``Σ_i P_i A_i`` equals the total capacity of the services that have demand in reach.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand locations (IRIS) with the ``demand_value`` column. Polygons are reduced
        to points with :func:`demand_points` (centroid approximation: call it yourself
        with a population grid for better points). May be a plain DataFrame when
        ``pairs`` is given.
    supply : geopandas.GeoDataFrame
        Service points (France Services, mediation permanences...). Same rules.
    demand_value : str
        Demand column (population, or need-weighted population ``P_POP × NRI / 100``).
    supply_value : str, optional
        Capacity column (weekly opening hours, agents, FTE). ``None``: each service
        counts for 1.
    max_distance : float, default 20000
        Catchment radius ``d0`` in metres, inclusive.
    decay : {"step", "gaussian"}, default "step"
        Distance decay inside the catchment.
    sigma : float, optional
        Width of the Gaussian, in metres; default ``max_distance / 2`` (weight
        ``exp(-2) ≈ 0.135`` at the cutoff). Only with ``decay="gaussian"``.
    pairs : pandas.DataFrame, optional
        Output of :func:`distance_pairs` (``demand`` points as origins, ``supply`` points
        as destinations) computed for a radius at least ``max_distance``; pairs beyond
        ``max_distance`` are ignored. Reuses one distance computation across calls.
    normalize : bool, default False
        Divide by the population-weighted mean access ``Σ P_i A_i / Σ P_i``, as
        ``access`` does with ``normalize=True`` (1 = territory average). Left as is
        when that mean is 0.

    Returns
    -------
    pandas.Series
        Named ``access_2sfca`` or ``access_e2sfca``, indexed like ``demand``: supply per
        unit of demand (e.g. opening hours per inhabitant), 0 where no service is within
        reach. A service whose catchment holds no demand gets ``R_j = 0``.

    Raises
    ------
    InputError
        On a bad CRS, missing or invalid value columns (missing, negative or infinite
        values), an unknown ``decay``, a ``sigma`` without Gaussian decay, a non-positive
        distance, or a pairs table that does not match the inputs.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> iris = gpd.GeoDataFrame({"pop": [100, 300]}, geometry=[Point(0, 0), Point(1000, 0)],
    ...                         crs="EPSG:2154")
    >>> fs = gpd.GeoDataFrame({"heures": [40.0]}, geometry=[Point(500, 0)], crs="EPSG:2154")
    >>> two_step_fca(iris, fs, demand_value="pop", supply_value="heures").tolist()
    [0.1, 0.1]
    """
    if decay not in _DECAYS:
        raise InputError(
            f"decay doit valoir « step » ou « gaussian » (reçu : {decay!r})."
        )
    max_distance = _check_distance(max_distance, "max_distance", strict=True)
    if decay == "step" and sigma is not None:
        raise InputError("sigma ne s'emploie qu'avec decay='gaussian'.")
    if decay == "gaussian":
        sigma = max_distance / 2 if sigma is None else _check_distance(sigma, "sigma",
                                                                         strict=True)
    if not isinstance(demand, pd.DataFrame) or not isinstance(supply, pd.DataFrame):
        raise InputError("demand et supply doivent être des (Geo)DataFrame.")

    population = _values(demand, demand_value, "la demande")
    capacity = (np.ones(len(supply)) if supply_value is None
                else _values(supply, supply_value, "l'offre"))

    if pairs is None:
        demand_pts = _points_of(demand, "la demande")
        supply_pts = _points_of(supply, "l'offre")
        _check_same_crs(demand_pts.crs, supply_pts.crs, "la demande et l'offre")
        i, j, d = _pairs(shapely.get_coordinates(demand_pts.array),
                         shapely.get_coordinates(supply_pts.array), max_distance)
    else:
        i, j, d = _pairs_positions(pairs, demand.index, supply.index, max_distance)

    if decay == "gaussian":
        weight = np.exp(-d * d / (2 * sigma**2))
    else:
        weight = np.ones(len(d))

    n, m = len(demand), len(supply)
    reached = np.bincount(j, weights=population[i] * weight, minlength=m)
    ratio = np.divide(capacity, reached, out=np.zeros(m), where=reached > 0)
    score = np.bincount(i, weights=ratio[j] * weight, minlength=n)

    if normalize:
        total = population.sum()
        mean = (population * score).sum() / total if total > 0 else 0.0
        if mean > 0:
            score = score / mean

    name = "access_2sfca" if decay == "step" else "access_e2sfca"
    return pd.Series(score, index=demand.index, name=name)


# ------------------------------------------------------------------- user service lists

#: Minimum weekly opening hours of a France services (label charter: at least 24 hours
#: over 5 days a week): the capacity given to France services when a user list gives
#: weekly opening hours for its own points.
FRANCE_SERVICES_MIN_HOURS = 24.0

_NAME_COLUMNS = ("nom", "name", "libelle", "label")
_HOURS_COLUMNS = ("heures_hebdo", "heures", "hours", "heures_semaine")
_LONLAT = (("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"))
_XY = (("x", "y"), ("lambert_x", "lambert_y"), ("x_l93", "y_l93"))


def read_service_points(path, *, crs) -> gpd.GeoDataFrame:
    """Read a user's list of service points (e.g. mediation permanences).

    Parameters
    ----------
    path : str or os.PathLike
        A CSV file (separator ``;``, ``,`` or tab; UTF-8 or Windows-1252) with a name
        column (``nom``/``name``), coordinates as ``lon``/``lat`` (WGS84 degrees, decimal
        point or comma) or ``x``/``y`` (metres in ``crs``), and optionally weekly opening
        hours (``heures_hebdo``); or a GeoPackage / GeoJSON / shapefile of points.
    crs : str or pyproj.CRS
        Projected CRS of the territory; the points are returned in it.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``hours`` (NaN when not given), ``source`` (``"liste"``) and point
        geometries, in ``crs``.

    Raises
    ------
    InputError
        Unreadable file, missing coordinates, or a row whose coordinates are not numbers
        or fall outside France (the message names the file, the line and the field).
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError("fichier de points de service introuvable.", path=path)
    if path.suffix.lower() in (".gpkg", ".geojson", ".json", ".shp"):
        frame = gpd.read_file(path)
        if frame.crs is None:
            raise InputError("points de service sans système de coordonnées.", path=path)
        lower = {c.lower(): c for c in frame.columns}
        name = next((lower[c] for c in _NAME_COLUMNS if c in lower), None)
        hours = next((lower[c] for c in _HOURS_COLUMNS if c in lower), None)
        out = gpd.GeoDataFrame(
            {"name": frame[name].astype(str) if name else None,
             "hours": pd.to_numeric(frame[hours], errors="coerce") if hours else np.nan,
             "source": "liste"},
            geometry=frame.geometry.representative_point(), crs=frame.crs,
        )
        return out.to_crs(crs)
    text = None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = path.read_text(encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    import csv
    import io

    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=";,\t")
        sep = dialect.delimiter
    except (csv.Error, IndexError):
        sep = ";"
    frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    lower = {c.strip().lower(): c for c in frame.columns}
    name = next((lower[c] for c in _NAME_COLUMNS if c in lower), None)
    hours = next((lower[c] for c in _HOURS_COLUMNS if c in lower), None)
    pair = next(((lower[a], lower[b]) for a, b in _LONLAT if a in lower and b in lower), None)
    source_crs = "EPSG:4326"
    if pair is None:
        pair = next(((lower[a], lower[b]) for a, b in _XY if a in lower and b in lower), None)
        source_crs = crs
    if pair is None:
        raise InputError("colonnes de coordonnées absentes (attendu lon/lat ou x/y).",
                         path=path, line=1, field="coordonnées")
    coords = {}
    for column in pair:
        values = pd.to_numeric(frame[column].str.strip().str.replace(",", ".", regex=False),
                               errors="coerce")
        bad = values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"coordonnée illisible « {frame[column].iloc[row]} ».",
                             path=path, line=row + 2, field=column)
        coords[column] = values.to_numpy()
    x, y = coords[pair[0]], coords[pair[1]]
    if source_crs == "EPSG:4326":
        from pyproj import CRS

        area = CRS.from_user_input(crs).area_of_use
        west, south, east, north = (area.west, area.south, area.east, area.north) if area \
            else (-62.0, -22.0, 56.0, 52.0)
        outside = ~((x >= west - 1) & (x <= east + 1) & (y >= south - 1) & (y <= north + 1))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise InputError("point hors de la zone du territoire (longitude et latitude "
                             "inversées ?).",
                             path=path, line=row + 2, field=pair[0])
    hours_values = np.nan
    if hours:
        hours_values = pd.to_numeric(
            frame[hours].str.strip().str.replace(",", ".", regex=False), errors="coerce")
        bad = frame[hours].str.strip().ne("") & hours_values.isna()
        if bad.any() or (hours_values < 0).any():
            row = int(np.flatnonzero((bad | (hours_values < 0)).to_numpy())[0])
            raise InputError(f"heures d'ouverture invalides « {frame[hours].iloc[row]} ».",
                             path=path, line=row + 2, field=hours)
    out = gpd.GeoDataFrame(
        {"name": frame[name].astype(str) if name else [f"point {i + 1}" for i in
                                                        range(len(frame))],
         "hours": hours_values, "source": "liste"},
        geometry=gpd.points_from_xy(x, y), crs=source_crs,
    )
    return out.to_crs(crs)
