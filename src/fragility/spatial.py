"""Spatial weights and spatial autocorrelation: thin, seeded wrappers over libpysal and esda.

Reference: ``ecosystem-notes.md`` §2.4 (esda pitfalls).

Weights type
------------
Every graph is a :class:`libpysal.graph.Graph` (the modern libpysal API), not a legacy
:class:`libpysal.weights.W`. esda (≥ 2.6) accepts a ``Graph`` in ``Moran`` and
``Moran_Local``, and a ``Graph`` is immutable: ``esda.Moran(y, w, transformation="r")``
mutates the ``transform`` of a ``W`` it is given, never a ``Graph``. A ``W`` passed to
:func:`moran`, :func:`lisa` or :func:`graph_summary` is converted with
``Graph.from_W`` (the caller's object is left untouched).

Building the graph (:func:`weights`)
------------------------------------
* ``kind="queen"`` / ``"rook"``: contiguity of the polygons as they are (multipart
  polygons included), from shared vertices (queen) or shared edges (rook), libpysal's
  ``Graph.build_contiguity(strict=False)``. This assumes a clean coverage, which the IGN
  IRIS contours are.
* ``kind="knn"``: the ``k`` nearest neighbours of each representative point
  (``representative_point()``, always inside its polygon). The graph is not symmetric.
* ``kind="distance"``: every representative point within ``distance`` metres.

Then, whatever the kind, two repairs so that no observation is left out (esda #204):

1. **Islands** (an IRIS with no neighbour: a real island, a detached enclave, an IRIS
   far from any other within the distance band) are linked to their ``k`` nearest
   representative points for contiguity, to their single nearest one for a distance
   band. Links are added in both directions.
2. **Disconnected components** are joined one at a time: the smallest component (ties:
   the one holding the first observation in frame order) is linked, in both
   directions, by the shortest pair of representative points between it and the rest
   of the graph, until a single (weakly) connected component is left.

The repaired graph is binary then row-standardised (transformation ``"R"``). What was
repaired is recorded on the graph and reported by :func:`graph_summary`. Everything is
deterministic: same frame, same graph.

Missing values
--------------
:func:`moran` and :func:`lisa` drop observations whose value is missing (IRIS without
data exist: secret, too few inhabitants) and work on the subgraph of the others,
row-standardised again. An observation whose neighbours all lack a value becomes
isolated in that subgraph; it is dropped as well, with a :class:`FragilityWarning`. Both
counts are recorded (``MoranResult.n_missing`` / ``n_isolated``, ``DataFrame.attrs`` of
:func:`lisa`), and :func:`lisa` labels those rows ``"non évalué"``.

Randomness
----------
Permutation inference is always seeded. ``esda.Moran`` draws from NumPy's global
generator and has no ``seed``: :func:`moran` seeds it for the call and restores its state
afterwards. ``esda.Moran_Local`` receives ``seed``; it also reseeds the global generator
when numba is absent, so its state is restored as well. Two calls with the same seed and
the same environment give identical p-values; the values themselves may differ between
an environment with numba and one without (esda draws its permutations differently).
The save-and-restore of the global generator is not thread-safe.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fragility.conventions import CRS_L93
from fragility.errors import FragilityWarning, InputError

if TYPE_CHECKING:  # heavy imports (several seconds) deferred to first use
    import geopandas as gpd
    from libpysal.graph import Graph

__all__ = [
    "CLUSTER_CODES",
    "CLUSTER_LABELS",
    "KINDS",
    "NOT_EVALUATED",
    "MoranResult",
    "graph_summary",
    "lisa",
    "moran",
    "weights",
]

#: Kinds of graph built by :func:`weights`.
KINDS = ("queen", "rook", "knn", "distance")

#: esda quadrant (``geoda_quads=False``) -> cluster code.
CLUSTER_CODES = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
#: Cluster code -> French label.
CLUSTER_LABELS = {
    "HH": "élevé-élevé",
    "LL": "faible-faible",
    "HL": "élevé-faible",
    "LH": "faible-élevé",
    "ns": "non significatif",
    "na": "non évalué",
}
#: Label of an observation without value (or isolated once missing values are dropped).
NOT_EVALUATED = CLUSTER_LABELS["na"]

# Attribute of the Graph holding what weights() repaired (read by graph_summary).
_REPAIRS_ATTR = "_fragility_repairs"
# libpysal / esda warnings about islands and components that this module handles itself.
_HANDLED_WARNINGS = r"(?is).*(island|isolate|disconnected|not fully connected|component)"
_MAX_SEED = 2**32 - 1


# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------


def weights(
    gdf: gpd.GeoDataFrame,
    *,
    kind: str = "queen",
    k: int = 4,
    distance: float | None = None,
) -> Graph:
    """Build a row-standardised spatial graph with no isolated observation.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One row per area (IRIS), indexed by unique identifiers (IRIS codes, strings),
        in a projected CRS (metres): Lambert-93 in metropolitan France.
    kind : {"queen", "rook", "knn", "distance"}, default "queen"
        Contiguity by shared vertex (queen) or shared edge (rook), ``k`` nearest
        neighbours, or distance band, the last two on representative points.
    k : int, default 4
        Number of neighbours for ``kind="knn"``, and number of nearest neighbours given
        to an island by the contiguity kinds (capped at ``n - 1``).
    distance : float, optional
        Band in metres, required for ``kind="distance"``.

    Returns
    -------
    libpysal.graph.Graph
        Row-standardised graph (transformation ``"R"``) whose ids are the index of
        ``gdf``, in the same order. Islands and disconnected components are repaired
        as described in the module docstring; see :func:`graph_summary`.

    Raises
    ------
    InputError
        Geographic or missing CRS, unknown ``kind``, bad ``k`` or ``distance``,
        duplicated index, missing or empty geometries, non-polygon geometries for the
        contiguity kinds, coincident representative points for ``kind="knn"``, or fewer
        than 2 rows.
    """
    from libpysal.graph import Graph

    if kind not in KINDS:
        raise InputError(
            f"type de voisinage inconnu : {kind!r} (attendu : {', '.join(KINDS)}).",
            field="kind",
        )
    _check_frame(gdf, polygons=kind in ("queen", "rook"))
    n = len(gdf)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k doit être un entier supérieur ou égal à 1 (reçu : {k!r}).")
    if kind == "knn" and k > n - 1:
        raise InputError(
            f"k = {k} voisins demandés, mais la couche n'a que {n} zones (k ≤ {n - 1})."
        )
    if kind == "distance":
        if distance is None:
            raise InputError(
                "le voisinage par distance demande une distance en mètres (distance=...)."
            )
        if not np.isfinite(distance) or distance <= 0:
            raise InputError(f"la distance doit être positive, en mètres (reçu : {distance!r}).")

    ids = gdf.index
    points = gdf.geometry.representative_point()
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HANDLED_WARNINGS)
        if kind in ("queen", "rook"):
            base = Graph.build_contiguity(gdf.geometry, rook=kind == "rook", strict=False)
            island_k = min(int(k), n - 1)
        elif kind == "knn":
            _check_distinct_points(xy, ids)
            base = Graph.build_knn(points, k=int(k))
            island_k = 1
        else:
            base = Graph.build_distance_band(points, float(distance), binary=True)
            island_k = 1

    rows, cols = _edges_of(base, ids)
    adjacency = _adjacency_matrix(rows, cols, n)
    adjacency, islands = _repair_islands(adjacency, xy, island_k)
    adjacency, links = _link_components(adjacency, xy)

    graph = _graph_from_matrix(adjacency, ids).transform("r")
    setattr(
        graph,
        _REPAIRS_ATTR,
        {
            "kind": kind,
            "k": int(k),
            "distance": None if distance is None else float(distance),
            "repaired_islands": [ids[i] for i in islands],
            "component_links": [(ids[i], ids[j]) for i, j in links],
        },
    )
    return graph


def _check_frame(gdf, *, polygons: bool) -> None:
    """Check CRS, index and geometries of the frame given to :func:`weights`."""
    if not hasattr(gdf, "geometry") or not hasattr(gdf, "crs"):
        raise InputError("une GeoDataFrame (géométries des IRIS) est attendue.")
    if gdf.crs is None:
        raise InputError(
            "la couche n'a pas de système de coordonnées (CRS) : déclarez-le avec "
            f"set_crs() (Lambert-93 : {CRS_L93})."
        )
    if not gdf.crs.is_projected:
        raise InputError(
            f"la couche est en coordonnées géographiques ({gdf.crs.to_string()}) : les "
            f"voisinages se calculent en mètres, reprojetez avec to_crs('{CRS_L93}') "
            "(ou la projection IGN d'outre-mer)."
        )
    if len(gdf) < 2:
        raise InputError(f"au moins 2 zones sont nécessaires (reçu : {len(gdf)}).")
    index = gdf.index
    if index.hasnans:
        raise InputError("l'index de la couche (codes IRIS) contient des valeurs manquantes.")
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"l'index de la couche contient des codes en double : {', '.join(map(str, dup))}."
        )
    geometry = gdf.geometry
    bad = index[(geometry.isna() | geometry.is_empty).to_numpy()]
    if len(bad):
        raise InputError(f"{len(bad)} zone(s) sans géométrie : {', '.join(map(str, bad[:5]))}.")
    if polygons:
        types = geometry.geom_type.to_numpy()
        wrong = index[~np.isin(types, ["Polygon", "MultiPolygon"])]
        if len(wrong):
            raise InputError(
                "la contiguïté demande des polygones ; géométries d'un autre type pour : "
                f"{', '.join(map(str, wrong[:5]))} (utilisez kind='knn' ou 'distance')."
            )


def _check_distinct_points(xy: np.ndarray, ids: pd.Index) -> None:
    """Raise when two representative points coincide (k nearest neighbours undefined)."""
    frame = pd.DataFrame(xy, columns=["x", "y"])
    dup = frame.duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(
            "des zones ont le même point représentatif (géométries en double ?) : "
            f"{', '.join(map(str, ids[dup][:5]))}."
        )


def _edges_of(graph: Graph, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in ``ids``) of the non-zero, non-self edges of a libpysal graph."""
    adjacency = graph.adjacency
    keep = (adjacency.to_numpy() != 0) & (
        adjacency.index.get_level_values("focal") != adjacency.index.get_level_values("neighbor")
    )
    adjacency = adjacency[keep]
    rows = ids.get_indexer(adjacency.index.get_level_values("focal"))
    cols = ids.get_indexer(adjacency.index.get_level_values("neighbor"))
    if (rows < 0).any() or (cols < 0).any():  # pragma: no cover - libpysal invariant
        raise RuntimeError("libpysal a renvoyé des identifiants absents de la couche.")
    return rows, cols


def _adjacency_matrix(rows, cols, n: int):
    """Binary CSR matrix of the edges ``rows[i] -> cols[i]`` (no self-loop)."""
    from scipy import sparse

    matrix = sparse.csr_array(
        (np.ones(len(rows), dtype=float), (np.asarray(rows), np.asarray(cols))), shape=(n, n)
    )
    matrix.sum_duplicates()
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    return matrix


def _with_edges(matrix, pairs: list[tuple[int, int]]):
    """Add the edges ``i -> j`` and ``j -> i`` of ``pairs`` to a binary CSR matrix."""
    if not pairs:
        return matrix
    coo = matrix.tocoo()
    extra = np.asarray(pairs, dtype=np.int64)
    rows = np.concatenate([coo.row, extra[:, 0], extra[:, 1]])
    cols = np.concatenate([coo.col, extra[:, 1], extra[:, 0]])
    return _adjacency_matrix(rows, cols, matrix.shape[0])


def _repair_islands(matrix, xy: np.ndarray, k: int):
    """Link every observation without neighbour to its ``k`` nearest points, both ways.

    Returns the new matrix and the positions of the islands, in frame order.
    """
    from scipy.spatial import cKDTree

    islands = np.flatnonzero(np.diff(matrix.indptr) == 0)
    if len(islands) == 0:
        return matrix, []
    tree = cKDTree(xy)
    _, found = tree.query(xy[islands], k=k + 1)
    found = np.asarray(found).reshape(len(islands), k + 1)
    pairs = []
    for island, candidates in zip(islands, found, strict=True):
        others = [int(j) for j in candidates if j != island][:k]
        pairs.extend((int(island), j) for j in others)
    return _with_edges(matrix, pairs), [int(i) for i in islands]


def _link_components(matrix, xy: np.ndarray):
    """Join weakly connected components by their shortest link until one is left.

    Returns the new matrix and the links added as ``(i, j)`` position pairs, ``i`` in
    the component being joined.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    links: list[tuple[int, int]] = []
    while True:
        count, labels = connected_components(matrix, directed=True, connection="weak")
        if count <= 1:
            return matrix, links
        sizes = np.bincount(labels, minlength=count)
        first = np.full(count, len(labels))
        np.minimum.at(first, labels, np.arange(len(labels)))
        smallest = min(range(count), key=lambda c: (sizes[c], first[c]))
        inside = np.flatnonzero(labels == smallest)
        outside = np.flatnonzero(labels != smallest)
        distances, nearest = cKDTree(xy[outside]).query(xy[inside], k=1)
        best = int(np.argmin(distances))  # first minimum: deterministic
        pair = (int(inside[best]), int(outside[nearest[best]]))
        links.append(pair)
        matrix = _with_edges(matrix, [pair])


def _graph_from_matrix(matrix, ids: pd.Index) -> Graph:
    """Build the libpysal Graph of a binary CSR matrix, ids in frame order (no isolate left)."""
    from libpysal.graph import Graph

    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    labels = np.asarray(ids, dtype=object)
    return Graph.from_arrays(labels[rows], labels[cols], np.ones(len(rows), dtype=float))


# --------------------------------------------------------------------------------------
# Graph description
# --------------------------------------------------------------------------------------


def graph_summary(w) -> dict[str, Any]:
    """Describe a spatial graph: size, repairs, connectivity, neighbour counts.

    Parameters
    ----------
    w : libpysal.graph.Graph or libpysal.weights.W
        Graph, ideally built by :func:`weights`.

    Returns
    -------
    dict
        ``n`` (observations), ``kind``, ``islands_repaired`` (islands linked to their
        nearest neighbours by :func:`weights`), ``repaired_islands`` (their ids),
        ``components_linked`` (links added to join disconnected components),
        ``components`` (weakly connected components now), ``islands`` (observations
        still without neighbour), ``mean_neighbours``, ``min_neighbours`` and
        ``max_neighbours``. ``kind`` and the repair entries are ``None`` for a graph
        not built by :func:`weights` (or transformed since, which drops the record).
    """
    graph = _as_graph(w)
    cardinalities = graph.cardinalities.to_numpy()
    repairs = getattr(graph, _REPAIRS_ATTR, None)
    return {
        "n": int(graph.n),
        "kind": None if repairs is None else repairs["kind"],
        "islands_repaired": None if repairs is None else len(repairs["repaired_islands"]),
        "repaired_islands": None if repairs is None else list(repairs["repaired_islands"]),
        "components_linked": None if repairs is None else len(repairs["component_links"]),
        "components": int(graph.n_components),
        "islands": len(graph.isolates),
        "mean_neighbours": float(cardinalities.mean()),
        "min_neighbours": int(cardinalities.min()),
        "max_neighbours": int(cardinalities.max()),
    }


def _as_graph(w) -> Graph:
    """Return ``w`` as a libpysal Graph (a W is converted, never modified)."""
    from libpysal.graph import Graph
    from libpysal.weights import W

    if isinstance(w, Graph):
        return w
    if isinstance(w, W):
        return Graph.from_W(w)
    raise InputError(
        "un graphe de voisinage libpysal est attendu (fragility.spatial.weights) ; "
        f"reçu : {type(w).__name__}."
    )


# --------------------------------------------------------------------------------------
# Global and local Moran
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoranResult:
    """Global Moran's I of one variable (``esda.Moran``, row-standardised weights).

    Attributes
    ----------
    I : float
        Moran's I.
    expected_I : float
        Its expectation under spatial randomness, ``-1 / (n - 1)``.
    z : float
        z-value under the normality assumption (esda's ``z_norm``).
    p_norm : float
        Two-sided p-value under the normality assumption.
    p_sim : float
        Pseudo p-value from the seeded permutations (esda's folded one-sided
        convention); ``nan`` when ``permutations`` is 0.
    permutations : int
        Number of permutations.
    n : int
        Number of observations used.
    n_missing : int
        Observations dropped because their value is missing.
    n_isolated : int
        Observations dropped because all their neighbours lack a value.
    seed : int
        Seed of the permutations.
    """

    I: float  # noqa: E741 - the statistic's name
    expected_I: float
    z: float
    p_norm: float
    p_sim: float
    permutations: int
    n: int
    n_missing: int = 0
    n_isolated: int = 0
    seed: int = 0


def moran(values: pd.Series, w, *, permutations: int = 999, seed: int = 0) -> MoranResult:
    """Global Moran's I of a variable, with a seeded permutation test.

    Parameters
    ----------
    values : pandas.Series
        One numeric value per observation of ``w``, indexed by the same ids (any
        order). Missing values are dropped (see the module docstring).
    w : libpysal.graph.Graph or libpysal.weights.W
        Spatial graph, usually from :func:`weights`; row-standardised again here.
    permutations : int, default 999
        Number of random permutations (0 skips the permutation test).
    seed : int, default 0
        Seed of the permutations.

    Returns
    -------
    MoranResult
        Statistic, expectation, z-value, p-values and counts.

    Raises
    ------
    InputError
        Values not a numeric Series, ids different from the graph's, fewer than 3
        usable observations, constant values, bad ``permutations`` or ``seed``.
    """
    import esda

    _check_permutations(permutations, minimum=0)
    _check_seed(seed)
    prepared = _prepare(values, w)
    with _seeded_global_rng(seed), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HANDLED_WARNINGS)
        result = esda.Moran(
            prepared.y, prepared.graph, transformation="r", permutations=int(permutations)
        )
    return MoranResult(
        I=float(result.I),
        expected_I=float(result.EI),
        z=float(result.z_norm),
        p_norm=float(result.p_norm),
        p_sim=float(result.p_sim) if permutations else float("nan"),
        permutations=int(permutations),
        n=len(prepared.y),
        n_missing=prepared.n_missing,
        n_isolated=prepared.n_isolated,
        seed=int(seed),
    )


def lisa(
    values: pd.Series,
    w,
    *,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    fdr: bool = False,
) -> pd.DataFrame:
    """Local Moran's I (LISA) with seeded conditional permutations and French labels.

    Parameters
    ----------
    values : pandas.Series
        One numeric value per observation of ``w``, indexed by the same ids (any
        order). Missing values are not evaluated (see the module docstring).
    w : libpysal.graph.Graph or libpysal.weights.W
        Spatial graph, usually from :func:`weights`; row-standardised again here.
    permutations : int, default 999
        Number of conditional permutations (at least 1). Anselin's ``p < 0.005`` needs
        many of them.
    seed : int, default 0
        Seed of the permutations (esda's ``seed``): same seed, same p-values.
    alpha : float, default 0.05
        Significance level.
    fdr : bool, default False
        When true, an observation is significant when its pseudo p-value is below the
        Benjamini-Hochberg threshold ``esda.fdr(p, alpha)`` computed over the evaluated
        observations; otherwise when it is below ``alpha``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``values`` (same order), with columns ``lisa_i`` (local I),
        ``lisa_p`` (pseudo p-value, folded one-sided as esda), ``lisa_q`` (esda quadrant:
        1 high-high, 2 low-high, 3 low-low, 4 high-low; nullable integer),
        ``lisa_cluster`` (``"élevé-élevé"``, ``"faible-faible"``, ``"élevé-faible"``,
        ``"faible-élevé"``, ``"non significatif"`` or ``"non évalué"``) and
        ``lisa_cluster_code`` (``"HH"``, ``"LL"``, ``"HL"``, ``"LH"``, ``"ns"`` or
        ``"na"``). Non-evaluated rows have missing ``lisa_i``, ``lisa_p`` and
        ``lisa_q``. ``attrs`` records ``permutations``, ``seed``, ``alpha``, ``fdr``,
        ``threshold`` (the p-value cut-off used), ``n``, ``n_missing`` and
        ``n_isolated``.

    Raises
    ------
    InputError
        Same cases as :func:`moran`, plus ``alpha`` outside ]0, 1[.
    """
    import esda

    _check_permutations(permutations, minimum=1)
    _check_seed(seed)
    if not 0 < alpha < 1:
        raise InputError(f"alpha doit être compris entre 0 et 1 (reçu : {alpha!r}).")
    prepared = _prepare(values, w)
    with _seeded_global_rng(seed), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HANDLED_WARNINGS)
        warnings.filterwarnings(
            "ignore", message="The alternative hypothesis", category=DeprecationWarning
        )
        local = esda.Moran_Local(
            prepared.y,
            prepared.graph,
            transformation="r",
            permutations=int(permutations),
            n_jobs=1,
            keep_simulations=False,
            seed=int(seed),
        )
    # Without kept simulations esda returns float32 p-values: back to exact fractions.
    scale = permutations + 1
    p_values = np.round(np.asarray(local.p_sim, dtype=float) * scale) / scale
    threshold = float(esda.fdr(p_values, alpha)) if fdr else float(alpha)
    quadrants = np.asarray(local.q, dtype=int)
    codes = np.where(p_values < threshold, [CLUSTER_CODES[q] for q in quadrants], "ns").astype(
        object
    )

    used = pd.Index(prepared.ids)
    out = pd.DataFrame(
        {
            "lisa_i": pd.Series(np.asarray(local.Is, dtype=float), index=used),
            "lisa_p": pd.Series(p_values, index=used),
            "lisa_q": pd.Series(quadrants, index=used, dtype="Int64"),
            "lisa_cluster_code": pd.Series(codes, index=used, dtype=object),
        }
    ).reindex(values.index)
    out["lisa_q"] = out["lisa_q"].astype("Int64")
    out["lisa_cluster_code"] = (
        out["lisa_cluster_code"].astype(object).where(out["lisa_cluster_code"].notna(), "na")
    )
    out["lisa_cluster"] = out["lisa_cluster_code"].map(CLUSTER_LABELS).astype(object)
    out = out[["lisa_i", "lisa_p", "lisa_q", "lisa_cluster", "lisa_cluster_code"]]
    out.attrs.update(
        {
            "permutations": int(permutations),
            "seed": int(seed),
            "alpha": float(alpha),
            "fdr": bool(fdr),
            "threshold": threshold,
            "n": len(prepared.y),
            "n_missing": prepared.n_missing,
            "n_isolated": prepared.n_isolated,
        }
    )
    return out


@dataclass(frozen=True)
class _Prepared:
    """Values and row-standardised graph restricted to the usable observations."""

    y: np.ndarray
    graph: Graph
    ids: list
    n_missing: int
    n_isolated: int


def _prepare(values, w) -> _Prepared:
    """Align values on the graph ids, drop missing values and the isolates they leave."""
    graph = _as_graph(w)
    if not isinstance(values, pd.Series):
        raise InputError(
            "les valeurs doivent être une pandas.Series indexée par les mêmes codes que "
            f"le graphe (reçu : {type(values).__name__})."
        )
    if not values.index.is_unique:
        dup = values.index[values.index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"les valeurs contiennent des codes en double : {', '.join(map(str, dup))}."
        )
    ids = list(graph.unique_ids)
    absent = [i for i in ids if i not in values.index]
    if absent:
        raise InputError(
            f"{len(absent)} zone(s) du graphe sans ligne dans les valeurs : "
            f"{', '.join(map(str, absent[:5]))} (mettez NaN pour une valeur manquante)."
        )
    known = set(ids)
    extra = [i for i in values.index if i not in known]
    if extra:
        raise InputError(
            f"{len(extra)} code(s) des valeurs absents du graphe : "
            f"{', '.join(map(str, extra[:5]))} (millésimes IRIS différents ?)."
        )
    try:
        y = pd.to_numeric(values.reindex(ids), errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"les valeurs doivent être numériques ({exc}).") from exc
    if np.isinf(y).any():
        raise InputError("les valeurs contiennent des infinis.")

    keep = ~np.isnan(y)
    n_missing = int((~keep).sum())
    n_isolated = 0
    if n_missing:
        while True:
            kept_ids = [i for i, ok in zip(ids, keep, strict=True) if ok]
            if len(kept_ids) < 3:
                break
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_HANDLED_WARNINGS)
                graph_used = graph.subgraph(kept_ids)
            isolates = set(graph_used.isolates)
            if not isolates:
                break
            n_isolated += len(isolates)
            keep &= np.array([i not in isolates for i in ids])
        if n_isolated:
            warnings.warn(
                f"{n_isolated} zone(s) écartée(s) : tous leurs voisins sont sans valeur, "
                "elles ne sont pas évaluées.",
                FragilityWarning,
                stacklevel=3,
            )
    kept_ids = [i for i, ok in zip(ids, keep, strict=True) if ok]
    if len(kept_ids) < 3:
        raise InputError(
            f"au moins 3 zones avec une valeur sont nécessaires (reçu : {len(kept_ids)})."
        )
    y = y[keep]
    if np.ptp(y) == 0:
        raise InputError(
            "les valeurs sont toutes égales : l'autocorrélation spatiale n'est pas définie."
        )
    if n_missing:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_HANDLED_WARNINGS)
            graph = graph.subgraph(kept_ids)
    return _Prepared(
        y=y,
        graph=graph.transform("r"),
        ids=kept_ids,
        n_missing=n_missing,
        n_isolated=n_isolated,
    )


def _check_permutations(permutations, *, minimum: int) -> None:
    """Raise unless ``permutations`` is an integer at least ``minimum``."""
    if (
        isinstance(permutations, bool)
        or not isinstance(permutations, (int, np.integer))
        or permutations < minimum
    ):
        raise InputError(
            f"le nombre de permutations doit être un entier ≥ {minimum} (reçu : {permutations!r})."
        )


def _check_seed(seed) -> None:
    """Raise unless ``seed`` is an integer accepted by NumPy's legacy generator."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(
            f"la graine (seed) doit être un entier, pour des p-valeurs reproductibles "
            f"(reçu : {seed!r})."
        )
    if not 0 <= seed <= _MAX_SEED:
        raise InputError(f"la graine (seed) doit être comprise entre 0 et {_MAX_SEED}.")


@contextlib.contextmanager
def _seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator for the block, then restore its previous state."""
    state = np.random.get_state()
    np.random.seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(state)
