"""Put each event on the IRIS grid: from its IRIS code, or from its coordinates.

A row with coordinates is located by point-in-polygon on the territory's IRIS contours.
A point on a boundary shared by two IRIS touches both: it goes to exactly one, the IRIS
with the lowest code (a deterministic rule, documented in ``docs/journaux.md``). A row
that only has a commune or QPV code stays at that level: it is never invented down to
an IRIS. Coordinates are dropped once used: no person-level position is kept.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from fragility.conventions import CRS_WGS84, check_iris_frame, require_crs

#: Points per chunk of :func:`_point_in_iris`; chunks run on ``_THREADS`` threads.
_CHUNK = 500_000
_THREADS = 2


@dataclass(frozen=True)
class Located:
    """Result of :func:`locate`.

    Attributes
    ----------
    events : pandas.DataFrame
        The located events (same index as the input, minus the rejected rows), with
        ``geo_iris``, ``geo_commune``, ``geo_qpv`` and ``geo_level`` (``iris``,
        ``commune`` or ``qpv``); ``latitude``/``longitude`` removed.
    rejects : pandas.DataFrame
        ``ligne``, ``champ``, ``motif``, ``valeur`` for rows whose coordinates fall
        outside every IRIS of the territory.
    from_coordinates : int
        Rows located from their coordinates.
    on_boundary : int
        Of those, points touching several IRIS (resolved to the lowest code).
    """

    events: pd.DataFrame
    rejects: pd.DataFrame
    from_coordinates: int
    on_boundary: int


def _point_in_iris(
    lon: np.ndarray, lat: np.ndarray, iris: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (point position, IRIS position) of WGS84 points touching each IRIS contour.

    The same pairs as ``geopandas.sjoin(points, iris, predicate="intersects")``. Beyond
    one chunk, the points go in chunks on two threads (pyproj, whose ``Transformer`` is
    thread-safe since 3.1, and shapely release the GIL): the STR tree gives the candidate
    contours by bounding box, then ``shapely.intersects_xy`` tests each candidate on a
    prepared contour (an indexed point-in-polygon test).
    """
    transformer = Transformer.from_crs(CRS_WGS84, iris.crs, always_xy=True)
    tree = iris.sindex  # built once, before the threads share it
    if len(lon) <= _CHUNK or _THREADS < 2:
        x, y = transformer.transform(lon, lat)
        return tree.query(shapely.points(x, y), predicate="intersects")

    contours = np.asarray(iris.geometry.array, dtype=object)
    local = threading.local()

    def prepared() -> np.ndarray:
        # GEOS builds the point index of a prepared polygon lazily, at its first use: each
        # thread tests on its own prepared copies (exact, through WKB), never shared ones.
        if not hasattr(local, "contours"):
            local.contours = shapely.from_wkb(shapely.to_wkb(contours))
            shapely.prepare(local.contours)
        return local.contours

    def chunk(start: int) -> tuple[np.ndarray, np.ndarray]:
        stop = min(len(lon), start + _CHUNK)
        x, y = transformer.transform(lon[start:stop], lat[start:stop])
        left, right = tree.query(shapely.points(x, y))  # bounding boxes only
        inside = shapely.intersects_xy(prepared()[right], x[left], y[left])
        return left[inside] + start, right[inside]

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        parts = list(pool.map(chunk, range(0, len(lon), _CHUNK)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def locate(events: pd.DataFrame, iris: gpd.GeoDataFrame) -> Located:
    """Locate validated events on the IRIS of a territory.

    Parameters
    ----------
    events : pandas.DataFrame
        Validated events (columns ``geo_iris``, ``geo_commune``, ``geo_qpv``, and
        optionally ``latitude``/``longitude`` in WGS84).
    iris : geopandas.GeoDataFrame
        IRIS contours indexed by ``iris`` (an IRIS table), in a projected CRS.

    Returns
    -------
    Located
    """
    check_iris_frame(iris, what="les contours IRIS")
    require_crs(iris, what="les contours IRIS")
    xy = [c for c in ("latitude", "longitude") if c in events.columns]
    out = events.drop(columns=xy)  # a copy: coordinates never leave this function
    n = len(out)
    geo = {
        col: (
            out[col].to_numpy(dtype=object, copy=True)
            if col in out
            else np.full(n, None, dtype=object)
        )
        for col in ("geo_iris", "geo_commune", "geo_qpv")
    }
    given = pd.notna(geo["geo_iris"])
    # IRIS in code order, and the commune of each
    codes = np.asarray(iris.index, dtype=object)
    by_code = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_code]
    prefix = np.array([c[:5] for c in sorted_codes], dtype=object)
    commune_of = iris["commune"].to_numpy(dtype=object)[by_code] if "commune" in iris else prefix
    commune_of = np.where(pd.notna(commune_of), commune_of, prefix)
    has_xy = np.zeros(n, dtype=bool)
    if len(xy) == 2:
        has_xy = (events["latitude"].notna() & events["longitude"].notna()).to_numpy() & ~given
    rejected = np.zeros(n, dtype=bool)
    boundary = 0
    if has_xy.any():
        rows = np.flatnonzero(has_xy)
        left, right = _point_in_iris(
            events["longitude"].to_numpy(dtype=float)[rows],
            events["latitude"].to_numpy(dtype=float)[rows],
            iris,
        )
        hits = np.bincount(left, minlength=len(rows))
        boundary = int((hits > 1).sum())
        # among the IRIS a point touches, the one with the lowest code
        rank_of = np.empty(len(codes), dtype=np.int64)
        rank_of[by_code] = np.arange(len(codes))
        best = np.full(len(rows), len(codes), dtype=np.int64)
        np.minimum.at(best, left, rank_of[right])
        found = hits > 0
        geo["geo_iris"][rows[found]] = sorted_codes[best[found]]
        geo["geo_commune"][rows[found]] = commune_of[best[found]]
        rejected[rows[~found]] = True
    if given.any():  # IRIS given in the log: its commune, or its first five characters
        lookup = pd.Series(commune_of, index=pd.Index(sorted_codes))
        mapped = pd.Series(geo["geo_iris"][given]).map(lookup).to_numpy(dtype=object)
        derived = np.array([c[:5] for c in geo["geo_iris"][given]], dtype=object)
        geo["geo_commune"][given] = np.where(pd.notna(mapped), mapped, derived)
    for col, values in geo.items():  # each column keeps its dtype (object: no inference)
        dtype = events[col].dtype if col in events else object
        out[col] = pd.Series(values, index=out.index, dtype=dtype, copy=False)
    out["geo_level"] = np.select(
        [pd.notna(geo["geo_iris"]), pd.notna(geo["geo_commune"]), pd.notna(geo["geo_qpv"])],
        ["iris", "commune", "qpv"],
        default=None,
    )
    rejects = pd.DataFrame(
        {
            "ligne": out.index[rejected],
            "champ": "Latitude / Longitude",
            "motif": "coordonnées hors des IRIS du territoire",
            "valeur": "",
        }
    )
    located = out[~rejected] if rejected.any() else out
    return Located(
        events=located,
        rejects=rejects.reset_index(drop=True),
        from_coordinates=int(has_xy.sum() - rejected.sum()),
        on_boundary=boundary,
    )
