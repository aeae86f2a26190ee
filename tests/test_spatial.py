"""Tests of fragility.spatial: weights with island repair, seeded Moran and LISA."""

from __future__ import annotations

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

from fragility import spatial
from fragility.errors import FragilityWarning, InputError

X0, Y0, SIDE = 850_000.0, 6_680_000.0, 1_000.0  # Lambert-93, near Dijon


def code(row: int, col: int, size: int = 5) -> str:
    return f"21{row * size + col + 1:07d}"


def square(row: int, col: int) -> shapely.Polygon:
    x, y = X0 + col * SIDE, Y0 + row * SIDE
    return shapely.box(x, y, x + SIDE, y + SIDE)


def grid(size: int = 5, crs: str = "EPSG:2154") -> gpd.GeoDataFrame:
    cells = [(r, c) for r in range(size) for c in range(size)]
    index = pd.Index([code(r, c, size) for r, c in cells], name="iris")
    return gpd.GeoDataFrame(geometry=[square(r, c) for r, c in cells], index=index, crs=crs)


def with_rows(gdf: gpd.GeoDataFrame, rows: dict[str, shapely.Geometry]) -> gpd.GeoDataFrame:
    extra = gpd.GeoDataFrame(
        geometry=list(rows.values()), index=pd.Index(list(rows), name="iris"), crs=gdf.crs
    )
    return pd.concat([gdf, extra])


def neighbours(w: Graph, ident: str) -> set[str]:
    return set(w[ident].index)


# --------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------


def test_grid_codes_are_nine_character_strings():
    index = grid().index
    assert index[0] == "210000001" and index[-1] == "210000025"
    assert all(isinstance(c, str) and len(c) == 9 for c in index)


def test_queen_neighbours_of_centre_and_corner():
    w = spatial.weights(grid(), kind="queen")
    assert isinstance(w, Graph)
    assert w.cardinalities[code(2, 2)] == 8
    assert w.cardinalities[code(0, 0)] == 3
    assert w.cardinalities[code(0, 2)] == 5
    assert neighbours(w, code(0, 0)) == {code(0, 1), code(1, 0), code(1, 1)}
    assert list(w.unique_ids) == list(grid().index)


def test_rook_neighbours_of_centre_and_corner():
    w = spatial.weights(grid(), kind="rook")
    assert w.cardinalities[code(2, 2)] == 4
    assert w.cardinalities[code(0, 0)] == 2
    assert neighbours(w, code(2, 2)) == {code(1, 2), code(3, 2), code(2, 1), code(2, 3)}


def test_weights_are_row_standardised():
    w = spatial.weights(grid(), kind="queen")
    sums = w.adjacency.groupby(level="focal").sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert w[code(2, 2)].tolist() == [0.125] * 8


def test_far_island_is_linked_to_its_nearest_neighbours():
    far = shapely.box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1_000)
    gdf = with_rows(grid(), {"210000099": far})
    w = spatial.weights(gdf, kind="queen", k=4)
    linked = neighbours(w, "210000099")
    assert len(linked) == 4
    # the nearest cells are those of the last column (col 4), nearest to the island
    assert linked <= {code(r, 4) for r in range(5)}
    for other in linked:  # linked both ways
        assert "210000099" in neighbours(w, other)
    summary = spatial.graph_summary(w)
    assert summary["islands_repaired"] == 1
    assert summary["repaired_islands"] == ["210000099"]
    assert summary["components"] == 1
    assert summary["islands"] == 0
    assert summary["n"] == 26


def test_grid_without_island_reports_no_repair():
    summary = spatial.graph_summary(spatial.weights(grid(), kind="queen"))
    assert summary["islands_repaired"] == 0
    assert summary["components_linked"] == 0
    assert summary["components"] == 1
    assert summary["mean_neighbours"] == pytest.approx((4 * 3 + 12 * 5 + 9 * 8) / 25)
    assert summary["min_neighbours"] == 3 and summary["max_neighbours"] == 8


def test_disconnected_components_are_linked():
    block = {code(r, c): square(r, c) for r in range(2) for c in range(2)}
    far = {
        f"2100001{r}{c}": shapely.box(
            X0 + 20_000 + c * SIDE, Y0 + r * SIDE, X0 + 21_000 + c * SIDE, Y0 + (r + 1) * SIDE
        )
        for r in range(2)
        for c in range(2)
    }
    gdf = with_rows(with_rows(grid().iloc[:0], block), far)
    raw = Graph.build_contiguity(gdf, rook=False)
    assert raw.n_components == 2  # the test really has two components
    w = spatial.weights(gdf, kind="queen")
    summary = spatial.graph_summary(w)
    assert summary["islands_repaired"] == 0
    assert summary["components_linked"] == 1
    assert summary["components"] == 1
    # the shortest link joins facing cells (tie between two pairs: the first one wins)
    assert neighbours(w, code(0, 1)) == {code(0, 0), code(1, 0), code(1, 1), "210000100"}
    assert code(0, 1) in neighbours(w, "210000100")


def test_multipart_iris_gets_the_neighbours_of_both_parts():
    gdf = grid()
    merged = shapely.MultiPolygon([square(0, 0), square(4, 4)])
    gdf = gdf.drop(index=[code(0, 0), code(4, 4)])
    gdf = with_rows(gdf, {"210000099": merged})
    w = spatial.weights(gdf, kind="queen")
    assert neighbours(w, "210000099") == {
        code(0, 1),
        code(1, 0),
        code(1, 1),
        code(3, 3),
        code(3, 4),
        code(4, 3),
    }
    assert spatial.graph_summary(w)["islands_repaired"] == 0


def test_knn_and_distance_band():
    gdf = grid()
    knn = spatial.weights(gdf, kind="knn", k=3)
    assert (knn.cardinalities == 3).all()
    band = spatial.weights(gdf, kind="distance", distance=1_000.0)  # centres 1 km apart
    assert band.cardinalities[code(2, 2)] == 4
    far = shapely.box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1_000)
    band = spatial.weights(with_rows(gdf, {"210000099": far}), kind="distance", distance=1_000)
    assert band.cardinalities["210000099"] == 1
    assert spatial.graph_summary(band)["islands_repaired"] == 1


def test_weights_are_deterministic():
    far = shapely.box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1_000)
    gdf = with_rows(grid(), {"210000099": far})
    first, second = spatial.weights(gdf), spatial.weights(gdf)
    pd.testing.assert_series_equal(first.adjacency, second.adjacency)


@pytest.mark.parametrize("crs", ["EPSG:4326", None])
def test_geographic_or_missing_crs_raises(crs):
    gdf = grid()
    gdf = gdf.to_crs("EPSG:4326") if crs else gdf.set_crs(None, allow_override=True)
    with pytest.raises(InputError, match=r"to_crs|set_crs"):
        spatial.weights(gdf)


def test_bad_arguments_raise():
    gdf = grid()
    with pytest.raises(InputError, match="distance"):
        spatial.weights(gdf, kind="distance")
    with pytest.raises(InputError, match="inconnu"):
        spatial.weights(gdf, kind="bishop")
    with pytest.raises(InputError, match="k = 30"):
        spatial.weights(gdf, kind="knn", k=30)
    with pytest.raises(InputError, match="double"):
        spatial.weights(pd.concat([gdf, gdf.iloc[:1]]))


# --------------------------------------------------------------------------------------
# moran
# --------------------------------------------------------------------------------------


def grid_values(func, size: int = 5) -> pd.Series:
    values = {code(r, c, size): func(r, c) for r in range(size) for c in range(size)}
    return pd.Series(values, name="x", dtype=float).rename_axis("iris")


def test_moran_checkerboard_is_strongly_negative():
    w = spatial.weights(grid(), kind="rook")
    result = spatial.moran(grid_values(lambda r, c: (r + c) % 2), w, permutations=199)
    assert result.I < -0.95
    assert result.expected_I == pytest.approx(-1 / 24)
    assert result.z < -4
    assert result.p_sim == pytest.approx(1 / 200)


def test_moran_gradient_is_strongly_positive():
    w = spatial.weights(grid(), kind="queen")
    result = spatial.moran(grid_values(lambda r, c: r + c), w)
    assert result.I > 0.5
    assert result.p_sim < 0.01
    assert result.p_norm < 0.01
    assert result.n == 25 and result.permutations == 999 and result.n_missing == 0


def noise(seed: int = 3) -> pd.Series:
    """Values without spatial structure: the permutation p-value is far from its minimum."""
    rng = np.random.default_rng(seed)
    return grid_values(lambda r, c: rng.normal())


def test_moran_equals_esda_on_the_same_graph():
    w = spatial.weights(grid(), kind="queen")
    values = noise()
    ours = spatial.moran(values, w, permutations=199, seed=7)
    assert 0.05 < ours.p_sim < 0.95  # the comparison of p_sim below is informative
    np.random.seed(7)
    ref = esda.Moran(values.to_numpy(), w, permutations=199)
    assert abs(ours.I - ref.I) < 1e-12
    assert ours.z == pytest.approx(ref.z_norm, abs=1e-12)
    assert ours.p_norm == pytest.approx(ref.p_norm, abs=1e-12)
    assert ours.p_sim == ref.p_sim
    # and on the legacy W built directly from the same neighbours
    ref_w = esda.Moran(values.to_numpy(), w.to_W(), permutations=0)
    assert abs(ours.I - ref_w.I) < 1e-12


def test_moran_is_seeded_and_leaves_the_global_generator_alone():
    w = spatial.weights(grid(), kind="queen")
    values = noise()
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    first = spatial.moran(values, w, permutations=199, seed=1)
    np.random.random()  # moves the global generator between the two calls
    again = spatial.moran(values, w, permutations=199, seed=1)
    assert again == first
    np.random.seed(123)
    spatial.moran(values, w, permutations=199, seed=1)
    assert np.array_equal(np.random.random(3), expected)  # global state restored
    others = {spatial.moran(values, w, permutations=199, seed=s).p_sim for s in range(2, 6)}
    assert others != {first.p_sim}  # the seed does change the permutations


def test_moran_values_order_does_not_matter():
    w = spatial.weights(grid(), kind="queen")
    values = grid_values(lambda r, c: r + c * c)
    shuffled = values.sample(frac=1, random_state=0)
    assert spatial.moran(shuffled, w, permutations=99) == spatial.moran(values, w, permutations=99)


def test_moran_drops_missing_values_and_uses_the_subgraph():
    w = spatial.weights(grid(), kind="queen")
    values = grid_values(lambda r, c: r + c)
    values[[code(2, 2), code(0, 4)]] = np.nan
    result = spatial.moran(values, w, permutations=99)
    assert result.n == 23 and result.n_missing == 2 and result.n_isolated == 0
    kept = values.dropna()
    sub = w.subgraph(list(kept.index)).transform("r")
    ref = esda.Moran(kept.to_numpy(), sub, permutations=0)
    assert abs(result.I - ref.I) < 1e-12


def test_moran_input_errors():
    w = spatial.weights(grid(), kind="queen")
    values = grid_values(lambda r, c: r + c)
    with pytest.raises(InputError, match="sans ligne"):
        spatial.moran(values.iloc[1:], w)
    with pytest.raises(InputError, match="absents du graphe"):
        spatial.moran(pd.concat([values, pd.Series({"210000099": 1.0})]), w)
    with pytest.raises(InputError, match="toutes égales"):
        spatial.moran(values * 0 + 1, w)
    with pytest.raises(InputError, match="graine"):
        spatial.moran(values, w, seed=None)
    with pytest.raises(InputError, match="Series"):
        spatial.moran(values.to_numpy(), w)


def test_legacy_w_is_accepted_and_not_modified():
    graph = spatial.weights(grid(), kind="queen")
    legacy = graph.transform("b").to_W()
    legacy.transform = "b"
    values = grid_values(lambda r, c: r + c)
    assert spatial.moran(values, legacy, permutations=99).I == pytest.approx(
        spatial.moran(values, graph, permutations=99).I, abs=1e-12
    )
    assert legacy.transform == "B"


# --------------------------------------------------------------------------------------
# lisa
# --------------------------------------------------------------------------------------

BLOCK = [code(r, c, 10) for r in (0, 1) for c in (0, 1)]


@pytest.fixture(scope="module")
def planted():
    """10x10 grid, high values in the 2x2 block of one corner, seeded noise elsewhere."""
    w = spatial.weights(grid(10), kind="queen")
    rng = np.random.default_rng(42)
    values = pd.Series(rng.normal(0, 1, 100), index=w.unique_ids.astype(object), name="x")
    values[BLOCK] += 10
    return values, w


def test_lisa_finds_the_planted_high_high_cluster(planted):
    values, w = planted
    out = spatial.lisa(values, w, permutations=999, seed=0)
    assert list(out.columns) == [
        "lisa_i",
        "lisa_p",
        "lisa_q",
        "lisa_cluster",
        "lisa_cluster_code",
    ]
    assert out.loc[BLOCK, "lisa_cluster"].tolist() == ["élevé-élevé"] * 4
    assert out.loc[BLOCK, "lisa_cluster_code"].tolist() == ["HH"] * 4
    assert (out.loc[BLOCK, "lisa_q"] == 1).all()
    elsewhere = out.drop(index=BLOCK)
    assert (elsewhere["lisa_cluster_code"] == "HH").sum() <= 2
    assert (elsewhere["lisa_cluster"] == "non significatif").mean() > 0.8
    # the cells around the block are low among high neighbours
    assert out.loc[code(2, 0, 10), "lisa_q"] == 2
    assert set(out["lisa_cluster"]) <= set(spatial.CLUSTER_LABELS.values())


def test_lisa_labels_follow_quadrant_and_significance(planted):
    values, w = planted
    out = spatial.lisa(values, w, permutations=199, seed=0, alpha=0.05)
    significant = out["lisa_p"] < 0.05
    assert (out.loc[~significant, "lisa_cluster_code"] == "ns").all()
    expected = out.loc[significant, "lisa_q"].map({1: "HH", 2: "LH", 3: "LL", 4: "HL"})
    assert (out.loc[significant, "lisa_cluster_code"] == expected).all()
    labels = out["lisa_cluster_code"].map(spatial.CLUSTER_LABELS)
    assert (out["lisa_cluster"] == labels).all()


@pytest.mark.filterwarnings("ignore:The alternative hypothesis:DeprecationWarning")
def test_lisa_equals_esda_moran_local(planted):
    values, w = planted
    out = spatial.lisa(values, w, permutations=199, seed=5)
    ref = esda.Moran_Local(values.to_numpy(), w, permutations=199, seed=5)
    np.testing.assert_allclose(out["lisa_i"].to_numpy(), ref.Is, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["lisa_p"].to_numpy(), ref.p_sim, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["lisa_q"].to_numpy(dtype=int), ref.q)


def test_lisa_is_seeded(planted):
    values, w = planted
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    first = spatial.lisa(values, w, permutations=199, seed=11)
    assert np.array_equal(np.random.random(3), expected)  # global state restored
    again = spatial.lisa(values, w, permutations=199, seed=11)
    other = spatial.lisa(values, w, permutations=199, seed=12)
    pd.testing.assert_frame_equal(first, again)
    assert not np.array_equal(first["lisa_p"].to_numpy(), other["lisa_p"].to_numpy())
    pd.testing.assert_series_equal(first["lisa_i"], other["lisa_i"])  # I does not depend


def test_lisa_fdr_is_stricter(planted):
    values, w = planted
    plain = spatial.lisa(values, w, permutations=999, seed=0)
    strict = spatial.lisa(values, w, permutations=999, seed=0, fdr=True)
    threshold = esda.fdr(plain["lisa_p"].to_numpy(), 0.05)
    assert strict.attrs["threshold"] == pytest.approx(threshold)
    assert strict.attrs["threshold"] < 0.05
    assert (strict["lisa_cluster_code"] != "ns").sum() <= (plain["lisa_cluster_code"] != "ns").sum()
    significant = strict["lisa_p"] < threshold
    assert (strict.loc[~significant, "lisa_cluster_code"] == "ns").all()
    assert (strict.loc[significant, "lisa_cluster_code"] != "ns").all()


def test_lisa_missing_values_are_not_evaluated(planted):
    values, w = planted
    values = values.copy()
    values[[code(5, 5, 10), code(7, 2, 10)]] = np.nan
    out = spatial.lisa(values, w, permutations=199)
    missing = out.loc[[code(5, 5, 10), code(7, 2, 10)]]
    assert missing["lisa_cluster"].tolist() == ["non évalué"] * 2
    assert missing["lisa_cluster_code"].tolist() == ["na"] * 2
    assert missing["lisa_i"].isna().all() and missing["lisa_p"].isna().all()
    assert missing["lisa_q"].isna().all()
    assert out.drop(index=missing.index)["lisa_i"].notna().all()
    assert out.attrs["n_missing"] == 2 and out.attrs["n"] == 98
    assert out.loc[BLOCK, "lisa_cluster_code"].tolist() == ["HH"] * 4


def test_lisa_observation_isolated_by_missing_values_is_not_evaluated():
    w = spatial.weights(grid(), kind="queen")
    values = grid_values(lambda r, c: r * 2 + c + (r * c) % 3)
    values[[code(0, 1), code(1, 0), code(1, 1)]] = np.nan  # every neighbour of (0, 0)
    with pytest.warns(FragilityWarning, match="1 zone"):
        out = spatial.lisa(values, w, permutations=99)
    assert out.loc[code(0, 0), "lisa_cluster"] == "non évalué"
    assert out.attrs["n_isolated"] == 1 and out.attrs["n_missing"] == 3
    with pytest.warns(FragilityWarning):
        assert spatial.moran(values, w, permutations=0).n == 21


def test_lisa_keeps_the_order_of_the_values(planted):
    values, w = planted
    shuffled = values.sample(frac=1, random_state=1)
    out = spatial.lisa(shuffled, w, permutations=99, seed=0)
    assert list(out.index) == list(shuffled.index)
    ref = spatial.lisa(values, w, permutations=99, seed=0)
    pd.testing.assert_frame_equal(out.loc[values.index], ref)


def test_lisa_bad_arguments(planted):
    values, w = planted
    with pytest.raises(InputError, match="alpha"):
        spatial.lisa(values, w, alpha=1.5)
    with pytest.raises(InputError, match="permutations"):
        spatial.lisa(values, w, permutations=0)
