"""Geometric helpers: ``dissolve`` gives what ``GeoDataFrame.dissolve`` gives."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from fragility.geometry import dissolve


def test_dissolve_matches_geopandas():
    rng = np.random.default_rng(0)
    n = 400
    gdf = gpd.GeoDataFrame(
        {"commune": rng.integers(0, 250, n).astype(str), "nom": [f"n{i}" for i in range(n)]},
        geometry=[box(i % 20, i // 20, i % 20 + 1, i // 20 + 1) for i in range(n)],
        crs="EPSG:2154",
    )
    expected = gdf.dissolve(by="commune")[["nom", "geometry"]]
    got = dissolve(gdf, "commune", ["nom"])
    assert got.index.equals(expected.index)
    assert got.index.name == "commune"
    assert got["nom"].tolist() == expected["nom"].tolist()
    assert got.crs == expected.crs
    assert got.geometry.normalize().geom_equals_exact(expected.geometry.normalize(), 0).all()
    assert list(dissolve(gdf, "commune").columns) == ["geometry"]
