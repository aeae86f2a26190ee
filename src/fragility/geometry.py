"""Geometric helpers shared by the maps, the assessment and the consolidation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from fragility.conventions import isin


def dissolve(gdf: gpd.GeoDataFrame, by: str, columns: list[str] | None = None,
             ) -> gpd.GeoDataFrame:
    """Union the geometries of each ``by`` group; ``gdf.dissolve(by)`` for many groups.

    ``GeoDataFrame.dissolve`` unions every group, one Python call each, though most
    communes of France hold a single IRIS. Here one-member
    groups keep their geometry and only the others are unioned. Other columns take
    the group's first value, as ``dissolve``'s default ``aggfunc="first"``.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Frame to dissolve.
    by : str
        Grouping column.
    columns : list of str, optional
        Columns to keep besides the geometry (default: none).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``by`` (sorted), with ``columns`` and ``geometry``; same CRS.
    """
    columns = list(columns or [])
    keys = gdf[by]
    geometry = gdf.geometry.to_numpy()
    first = pd.DataFrame({c: gdf[c].to_numpy() for c in columns},
                         index=pd.Index(keys.to_numpy(), name=by))
    first = first[~first.index.duplicated(keep="first")].sort_index()
    sizes = keys.value_counts()
    several = set(sizes.index[sizes.to_numpy() > 1])
    position = pd.Series(np.arange(len(gdf)), index=pd.Index(keys.to_numpy()))
    grouped = isin(position.index, several)
    single = position[~grouped]
    merged = {code: shapely.union_all(geometry[group.to_numpy()])
              for code, group in position[grouped].groupby(level=0)}
    shapes = pd.Series(geometry[single.to_numpy()], index=single.index, dtype=object)
    if merged:
        shapes = pd.concat([shapes, pd.Series(merged, dtype=object)])
    return gpd.GeoDataFrame(first, geometry=shapes.reindex(first.index).to_numpy(),
                            crs=gdf.crs)
