"""Put each event on the IRIS grid: from its IRIS code, or from its coordinates.

A row with coordinates is located by point-in-polygon on the territory's IRIS contours.
A point on a boundary shared by two IRIS touches both: it goes to exactly one, the IRIS
with the lowest code (a deterministic rule, documented in ``docs/journaux.md``). A row
that only has a commune or QPV code stays at that level: it is never invented down to
an IRIS. Coordinates are dropped once used: no person-level position is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from fragility.conventions import CRS_WGS84, check_iris_frame, require_crs


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
    out = events.copy()
    for col in ("geo_iris", "geo_commune", "geo_qpv"):
        if col not in out:
            out[col] = None
    has_xy = pd.Series(False, index=out.index)
    if {"latitude", "longitude"} <= set(out.columns):
        has_xy = out["latitude"].notna() & out["longitude"].notna() & out["geo_iris"].isna()
    rejected = pd.Series(False, index=out.index)
    boundary = 0
    if has_xy.any():
        sub = out.loc[has_xy]
        points = gpd.GeoSeries(
            gpd.points_from_xy(sub["longitude"], sub["latitude"]), crs=CRS_WGS84, index=sub.index
        ).to_crs(iris.crs)
        codes = np.asarray(iris.index, dtype=object)
        left, right = iris.sindex.query(points.to_numpy(), predicate="intersects")
        pairs = pd.DataFrame({"row": left, "code": codes[right]})
        counts = pairs.groupby("row").size()
        boundary = int((counts > 1).sum())
        first = pairs.sort_values(["row", "code"]).drop_duplicates("row")
        found = pd.Series(first["code"].to_numpy(), index=sub.index[first["row"].to_numpy()])
        out.loc[found.index, "geo_iris"] = found
        missing = sub.index.difference(found.index)
        rejected[missing] = True
    commune_of = (
        iris["commune"]
        if "commune" in iris
        else pd.Series([c[:5] for c in iris.index], index=iris.index)
    )
    with_iris = out["geo_iris"].notna()
    out.loc[with_iris, "geo_commune"] = (
        out.loc[with_iris, "geo_iris"]
        .map(commune_of)
        .fillna(out.loc[with_iris, "geo_iris"].str[:5])
    )
    out["geo_level"] = np.select(
        [out["geo_iris"].notna(), out["geo_commune"].notna(), out["geo_qpv"].notna()],
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
    located = out.loc[~rejected].drop(
        columns=[c for c in ("latitude", "longitude") if c in out.columns]
    )
    return Located(
        events=located,
        rejects=rejects.reset_index(drop=True),
        from_coordinates=int(has_xy.sum() - rejected.sum()),
        on_boundary=boundary,
    )
