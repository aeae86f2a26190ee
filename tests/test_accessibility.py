"""Tests of fragility.accessibility: invariants, brute force, and PySAL access as oracle."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon, box

from fragility.accessibility import (
    demand_points,
    distance_pairs,
    nearest_distance,
    two_step_fca,
)
from fragility.errors import InputError

L93 = "EPSG:2154"


def _points(xy, index=None, crs=L93, **columns) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                            index=index, crs=crs)


def _scene(seed: int, n: int = 300, m: int = 30, *, grid: bool = False, span: float = 60_000):
    """Random demand and supply; on a 1 km lattice when ``grid`` (exact cutoff ties)."""
    rng = np.random.default_rng(seed)
    if grid:
        xy_d = rng.integers(0, int(span // 1000), (n, 2)) * 1000.0
        xy_s = rng.integers(0, int(span // 1000), (m, 2)) * 1000.0
    else:
        xy_d = rng.uniform(0, span, (n, 2))
        xy_s = rng.uniform(0, span, (m, 2))
    demand = _points(xy_d, index=pd.Index([f"{k:09d}" for k in range(n)], name="iris"),
                     pop=rng.integers(50, 5000, n).astype(float))
    supply = _points(xy_s, index=pd.Index([f"fs{k:03d}" for k in range(m)], name="site"),
                     heures=rng.uniform(8, 45, m).round(1))
    return demand, supply


def _brute_distances(xy_o, xy_d):
    xy_o, xy_d = np.asarray(xy_o, float), np.asarray(xy_d, float)
    return np.hypot(xy_o[:, None, 0] - xy_d[None, :, 0], xy_o[:, None, 1] - xy_d[None, :, 1])


def _xy(gdf):
    return np.column_stack([gdf.geometry.x, gdf.geometry.y])


# --------------------------------------------------------------------------- invariants


def test_equidistant_equal_demand_gets_equal_access():
    demand = _points([[-3000, 0], [3000, 0]], pop=[500.0, 500.0])
    supply = _points([[0, 0]], heures=[30.0])
    result = two_step_fca(demand, supply, demand_value="pop", supply_value="heures")
    assert result.name == "access_2sfca"
    assert result.iloc[0] == pytest.approx(result.iloc[1])
    assert result.iloc[0] == pytest.approx(30.0 / 1000.0)


@pytest.mark.parametrize("decay", ["step", "gaussian"])
def test_doubling_capacity_doubles_access(decay):
    demand, supply = _scene(1)
    base = two_step_fca(demand, supply, demand_value="pop", supply_value="heures", decay=decay)
    supply2 = supply.assign(heures=supply["heures"] * 2)
    double = two_step_fca(demand, supply2, demand_value="pop", supply_value="heures",
                          decay=decay)
    assert (base > 0).sum() > 100
    np.testing.assert_allclose(double.to_numpy(), 2 * base.to_numpy(), rtol=1e-12)


def test_demand_out_of_every_catchment_gets_zero():
    demand = _points([[0, 0], [1000, 0], [80_000, 0]], pop=[100.0, 100.0, 100.0])
    supply = _points([[500, 0]])
    result = two_step_fca(demand, supply, demand_value="pop", max_distance=20_000)
    assert result.iloc[2] == 0.0
    assert result.iloc[0] > 0 and result.iloc[1] > 0
    gauss = two_step_fca(demand, supply, demand_value="pop", decay="gaussian")
    assert gauss.name == "access_e2sfca"
    assert gauss.iloc[2] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_step_2sfca_conserves_served_supply(seed):
    demand, supply = _scene(seed, span=150_000)
    # One service far from everyone: no demand in reach, R_j = 0, not counted.
    supply.loc["isole"] = {"heures": 99.0, "geometry": Point(10_000_000, 0)}
    result = two_step_fca(demand, supply, demand_value="pop", supply_value="heures")
    pairs = distance_pairs(demand, supply, 20_000)
    served = supply.index.isin(pairs["destination"].unique())
    assert not served.all()
    assert (demand["pop"] * result).sum() == pytest.approx(
        supply.loc[served, "heures"].sum(), rel=1e-12)
    assert not (supply.loc[served, "heures"].sum() == pytest.approx(supply["heures"].sum()))


def test_zero_demand_catchment_gives_zero_ratio():
    demand = _points([[0, 0], [100_000, 0]], pop=[0.0, 100.0])
    supply = _points([[0, 10], [100_000, 10]], heures=[10.0, 20.0])
    result = two_step_fca(demand, supply, demand_value="pop", supply_value="heures")
    assert result.tolist() == [0.0, pytest.approx(0.2)]


def test_supply_count_when_no_capacity_column():
    demand = _points([[0, 0]], pop=[200.0])
    supply = _points([[100, 0], [0, 100], [50_000, 0]])
    assert two_step_fca(demand, supply, demand_value="pop").iloc[0] == pytest.approx(2 / 200)


def test_polygon_demand_goes_through_demand_points():
    demand = gpd.GeoDataFrame({"pop": [100.0]}, geometry=[box(0, 0, 2000, 2000)], crs=L93)
    supply = _points([[1000, 1000 + 20_000]])
    # The centroid is at exactly 20 km: inside the catchment.
    assert two_step_fca(demand, supply, demand_value="pop").iloc[0] == pytest.approx(0.01)
    assert two_step_fca(demand, supply, demand_value="pop",
                        max_distance=19_999).iloc[0] == 0.0


def test_result_indexed_like_demand_and_normalize_gives_mean_one():
    demand, supply = _scene(3, span=200_000)
    raw = two_step_fca(demand, supply, demand_value="pop", supply_value="heures")
    assert raw.index.equals(demand.index)
    assert (raw == 0).any() and (raw > 0).any()
    norm = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                        normalize=True)
    assert (demand["pop"] * norm).sum() / demand["pop"].sum() == pytest.approx(1.0)
    mean = (demand["pop"] * raw).sum() / demand["pop"].sum()
    np.testing.assert_allclose(norm.to_numpy(), raw.to_numpy() / mean, rtol=1e-12)
    assert (norm[raw == 0] == 0).all()


def test_precomputed_pairs_are_reused_and_cut_at_max_distance():
    demand, supply = _scene(4)
    wide = distance_pairs(demand, supply, 30_000)
    for decay in ("step", "gaussian"):
        direct = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                              max_distance=15_000, decay=decay)
        reused = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                              max_distance=15_000, decay=decay, pairs=wide)
        pd.testing.assert_series_equal(direct, reused, rtol=1e-13)
    with pytest.raises(InputError, match="recalculez"):
        two_step_fca(demand, supply, demand_value="pop", max_distance=40_000, pairs=wide)
    other = wide.assign(origin="inconnu")
    with pytest.raises(InputError, match="origines absentes"):
        two_step_fca(demand, supply, demand_value="pop", pairs=other)


# --------------------------------------------------------------------------- PySAL access


def _access(demand, supply, cost, supply_value="heures"):
    access = pytest.importorskip("access")
    return access, access.Access(
        demand_df=pd.DataFrame(demand.drop(columns="geometry")),
        demand_index=True,
        demand_value="pop",
        supply_df=pd.DataFrame(supply.drop(columns="geometry")),
        supply_index=True,
        supply_value=supply_value,
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )


def _dense_cost(demand, supply):
    """Full cost table (every pair, no cutoff): access alone applies max_cost."""
    d = _brute_distances(_xy(demand), _xy(supply))
    o, j = np.meshgrid(np.arange(len(demand)), np.arange(len(supply)), indexing="ij")
    return pd.DataFrame({"origin": demand.index.take(o.ravel()),
                         "dest": supply.index.take(j.ravel()), "cost": d.ravel()})


def _compare(ours: pd.Series, theirs: pd.Series):
    theirs = theirs.reindex(ours.index)
    # access leaves demand points without any service in reach missing; we give 0.
    assert (theirs.isna() == (ours == 0)).all()
    theirs = theirs.fillna(0.0)
    assert (ours > 0).sum() > 10
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-9)
    scale = np.abs(theirs.to_numpy()).max()
    assert np.abs(ours.to_numpy() - theirs.to_numpy()).max() <= 1e-9 * scale


@pytest.mark.parametrize("grid", [False, True], ids=["continu", "grille-1km"])
@pytest.mark.parametrize("seed", [0, 7])
def test_step_2sfca_equals_access(seed, grid):
    demand, supply = _scene(seed, n=400, m=30, grid=grid)
    cost = _dense_cost(demand, supply)
    if grid:  # the 1 km lattice puts pairs at exactly 10 km (10-0, 6-8): the cutoff matters
        assert (cost["cost"] == 10_000).sum() > 20
    _, model = _access(demand, supply, cost)
    theirs = model.two_stage_fca(name="a", max_cost=10_000)["a_heures"]
    ours = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                        max_distance=10_000)
    _compare(ours, theirs)
    # The same with our sparse pairs as access' cost table.
    pairs = distance_pairs(demand, supply, 10_000).rename(
        columns={"destination": "dest", "distance": "cost"})
    _, model = _access(demand, supply, pairs)
    _compare(ours, model.two_stage_fca(name="b", max_cost=10_000)["b_heures"])


@pytest.mark.parametrize("grid", [False, True], ids=["continu", "grille-1km"])
@pytest.mark.parametrize("sigma", [None, 3_000.0])
def test_gaussian_e2sfca_equals_access(sigma, grid):
    demand, supply = _scene(11, n=400, m=30, grid=grid)
    access, model = _access(demand, supply, _dense_cost(demand, supply))
    width = 5_000.0 if sigma is None else sigma  # our default: max_distance / 2
    ours = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                        max_distance=10_000, decay="gaussian", sigma=sigma)
    gauss = access.weights.gaussian(width)
    _compare(ours, model.two_stage_fca(name="g", max_cost=10_000, weight_fn=gauss)["g_heures"])
    # enhanced_two_stage_fca is the same call once given the weight function...
    _compare(ours, model.enhanced_two_stage_fca(name="e", max_cost=10_000,
                                                weight_fn=gauss)["e_heures"])
    # ... but its default weight (step 10/20/30, in minutes) is not a Gaussian.
    default = model.enhanced_two_stage_fca(name="d", max_cost=10_000)["d_heures"]
    assert not np.allclose(default.reindex(ours.index).fillna(0), ours)


def test_normalize_equals_access_normalize():
    demand, supply = _scene(5, n=300, m=25)
    access, model = _access(demand, supply, _dense_cost(demand, supply))
    for decay, weight_fn in (("step", None), ("gaussian", access.weights.gaussian(6_000))):
        theirs = model.two_stage_fca(name=f"n{decay}", max_cost=12_000, weight_fn=weight_fn,
                                     normalize=True)[f"n{decay}_heures"]
        ours = two_step_fca(demand, supply, demand_value="pop", supply_value="heures",
                            max_distance=12_000, decay=decay,
                            sigma=6_000 if decay == "gaussian" else None, normalize=True)
        _compare(ours, theirs)


def test_unit_supply_equals_access_with_column_of_ones():
    demand, supply = _scene(6, n=200, m=20)
    supply = supply.assign(un=1)
    _, model = _access(demand, supply, _dense_cost(demand, supply), supply_value="un")
    ours = two_step_fca(demand, supply, demand_value="pop", max_distance=10_000)
    _compare(ours, model.two_stage_fca(name="u", max_cost=10_000)["u_un"])


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("grid", [False, True])
def test_distance_pairs_equals_brute_force(seed, grid):
    rng = np.random.default_rng(seed)
    if grid:
        xy_o = rng.integers(0, 30, (150, 2)) * 1000.0
        xy_d = rng.integers(0, 30, (40, 2)) * 1000.0
    else:
        xy_o = rng.uniform(0, 30_000, (150, 2))
        xy_d = rng.uniform(0, 30_000, (40, 2))
    dense = _brute_distances(xy_o, xy_d)
    oi, dj = np.nonzero(dense <= 5_000)  # row-major: sorted by origin then destination
    expected = pd.DataFrame({"origin": oi, "destination": dj, "distance": dense[oi, dj]})
    got = distance_pairs(xy_o, xy_d, 5_000)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    if grid:
        assert (got["distance"] == 5_000).any()
    assert got.attrs["max_distance"] == 5_000

    origins = _points(xy_o, index=pd.Index([f"o{k}" for k in range(150)], name="iris"))
    destinations = _points(xy_d, index=pd.Index([f"d{k}" for k in range(40)]))
    labelled = distance_pairs(origins, destinations.geometry, 5_000)
    assert labelled["origin"].tolist() == [f"o{k}" for k in oi]
    assert labelled["destination"].tolist() == [f"d{k}" for k in dj]
    np.testing.assert_array_equal(labelled["distance"].to_numpy(), dense[oi, dj])


def test_distance_pairs_empty_inputs():
    assert distance_pairs(np.empty((0, 2)), np.array([[0.0, 0.0]]), 100).empty
    got = distance_pairs(np.array([[0.0, 0.0]]), np.empty((0, 2)), 100)
    assert list(got.columns) == ["origin", "destination", "distance"] and got.empty


def _brute_nearest(xy_o, xy_d, rank, max_distance=None):
    dense = _brute_distances(xy_o, xy_d)
    if max_distance is not None:
        dense = np.where(dense <= max_distance, dense, np.inf)
    dmin = dense.min(axis=1)
    key = np.where(dense == dmin[:, None], rank[None, :], len(rank))
    best = key.argmin(axis=1)
    return np.where(np.isfinite(dmin), dmin, np.nan), np.where(np.isfinite(dmin), best, -1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_distance", [None, 400.0])
def test_nearest_distance_equals_brute_force(seed, max_distance):
    rng = np.random.default_rng(seed)
    # A coarse 100 m lattice makes many exact ties; six services share one address
    # (more than the first k-d tree query returns).
    xy_o = rng.integers(0, 40, (300, 2)) * 100.0
    xy_d = np.vstack([rng.integers(0, 40, (25, 2)) * 100.0, np.full((6, 2), 2000.0)])
    xy_o[:5] = 2000.0
    xy_o[5] = [2300.0, 2400.0]
    # Shuffled labels: ties must go to the lowest label, not to the first position.
    labels = rng.permutation(len(xy_d)) + 100
    destinations = pd.Series(labels)  # position -> label
    rank = np.argsort(np.argsort(labels))
    dist, best = _brute_nearest(xy_o, xy_d, rank, max_distance)

    got = nearest_distance(xy_o, xy_d, max_distance=max_distance)
    np.testing.assert_array_equal(got["distance"].to_numpy(dtype=float), dist)
    np.testing.assert_array_equal(got["nearest"].fillna(-1).to_numpy(dtype=int),
                                  _brute_nearest(xy_o, xy_d, np.arange(len(xy_d)),
                                                 max_distance)[1])

    dest = _points(xy_d, index=pd.Index(labels))
    got = nearest_distance(_points(xy_o), dest, max_distance=max_distance)
    np.testing.assert_array_equal(got["distance"].to_numpy(dtype=float), dist)
    expected = np.where(best >= 0, destinations.reindex(best).to_numpy(), -1)
    np.testing.assert_array_equal(got["nearest"].fillna(-1).to_numpy(dtype=int), expected)
    assert got["nearest"].iloc[0] == destinations.iloc[25:].min()  # shared address
    if max_distance is not None:
        assert got["distance"].isna().any() and got["nearest"].isna().any()


def test_nearest_distance_without_destinations_and_labels():
    origins = _points([[0, 0], [10, 10]], index=pd.Index(["a", "b"], name="iris"))
    none = nearest_distance(origins, _points(np.empty((0, 2))))
    assert none.index.equals(origins.index)
    assert none["distance"].isna().all() and none["nearest"].isna().all()
    some = nearest_distance(origins, _points([[0, 30], [0, -30], [10, 40]],
                                             index=pd.Index(["z", "y", "x"])))
    assert some["nearest"].tolist() == ["y", "z"]  # a: tie between z and y
    assert some["distance"].tolist() == [30.0, pytest.approx(500**0.5)]


# --------------------------------------------------------------------------- CRS and inputs


def test_geographic_crs_is_refused_in_french():
    wgs = _points([[5.04, 47.32]], crs="EPSG:4326", pop=[10.0])
    l93 = _points([[850_000, 6_690_000]], pop=[10.0])
    calls = [
        lambda: demand_points(wgs),
        lambda: distance_pairs(wgs, l93, 1_000),
        lambda: distance_pairs(l93, wgs, 1_000),
        lambda: nearest_distance(wgs, l93),
        lambda: two_step_fca(wgs, l93, demand_value="pop"),
        lambda: two_step_fca(l93, wgs, demand_value="pop"),
    ]
    for call in calls:
        with pytest.raises(InputError, match=r"coordonnées géographiques.*to_crs"):
            call()
    with pytest.raises(InputError, match="pas de système de coordonnées"):
        distance_pairs(_points([[0, 0]], crs=None), l93, 1_000)
    with pytest.raises(InputError, match="même système de coordonnées"):
        distance_pairs(l93, _points([[0, 0]], crs="EPSG:2975"), 1_000)


def test_bad_arguments_raise_input_error():
    demand, supply = _scene(0, n=20, m=3)
    with pytest.raises(InputError, match="decay"):
        two_step_fca(demand, supply, demand_value="pop", decay="gravity")
    with pytest.raises(InputError, match="sigma"):
        two_step_fca(demand, supply, demand_value="pop", sigma=1000)
    with pytest.raises(InputError, match="max_distance"):
        two_step_fca(demand, supply, demand_value="pop", max_distance=0)
    with pytest.raises(InputError, match="« habitants »"):
        two_step_fca(demand, supply, demand_value="habitants")
    with pytest.raises(InputError, match="négative"):
        two_step_fca(demand.assign(pop=-1.0), supply, demand_value="pop")
    with pytest.raises(InputError, match="manquante"):
        two_step_fca(demand, supply.assign(heures=np.nan), demand_value="pop",
                     supply_value="heures")
    with pytest.raises(InputError, match="max_distance"):
        distance_pairs(np.zeros((2, 2)), np.zeros((2, 2)), np.inf)
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        distance_pairs(np.zeros(3), np.zeros((2, 2)), 10)
    with pytest.raises(InputError, match="des points"):
        distance_pairs(gpd.GeoSeries([box(0, 0, 1, 1)], crs=L93), np.zeros((1, 2)), 10)


# --------------------------------------------------------------------------- demand points


U_SHAPE = Polygon([(0, 0), (3000, 0), (3000, 3000), (2000, 3000), (2000, 1000),
                   (1000, 1000), (1000, 3000), (0, 3000)])


def test_demand_points_square_centroid_and_u_shape_inside():
    iris = gpd.GeoDataFrame(geometry=[box(0, 0, 2000, 2000), U_SHAPE], crs=L93,
                            index=pd.Index(["210010000", "210020000"], name="iris"))
    assert not U_SHAPE.contains(U_SHAPE.centroid)  # the test case is what it claims
    points = demand_points(iris)
    assert points.index.equals(iris.index) and points.crs == iris.crs
    assert points.iloc[0].equals(Point(1000, 1000))
    assert U_SHAPE.contains(points.iloc[1])


def test_demand_points_population_weighted_mean_of_grid():
    polygons = [U_SHAPE, box(5000, 0, 6000, 1000), box(0, 5000, 10, 5010),
                box(3000, 0, 4000, 3000)]  # the last one shares the U's right edge
    iris = gpd.GeoDataFrame(geometry=polygons, crs=L93,
                            index=pd.Index(["a", "b", "c", "d"], name="iris"))
    grid = _points([[500, 2500], [2500, 2500], [2500, 500], [5500, 500], [5900, 900],
                    [3000, 1500], [9e5, 9e5]],
                   population=[100.0, 300.0, 0.0, 10.0, 0.0, 50.0, 1000.0])
    points = demand_points(iris, grid=grid)
    # [3000, 1500] lies on the edge shared by "a" and "d": it counts once, for "a".
    expected_x = (500 * 100 + 2500 * 300 + 3000 * 50) / 450
    expected_y = (2500 * 100 + 2500 * 300 + 1500 * 50) / 450
    assert points.iloc[0].x == pytest.approx(expected_x)
    assert points.iloc[0].y == pytest.approx(expected_y)
    assert points.iloc[1].equals(Point(5500, 500))  # zero-population cell ignored
    assert points.iloc[2].equals(Point(5, 5005))  # no grid point: centroid fallback
    assert points.iloc[3].equals(Point(3500, 1500))  # boundary cell went to "a"
    with pytest.raises(InputError, match="« pop »"):
        demand_points(iris, grid=grid, weight="pop")
    with pytest.raises(InputError, match="même système"):
        demand_points(iris, grid=grid.set_crs("EPSG:2975", allow_override=True))


# ------------------------------------------------------------------- user service lists


def test_read_service_points_csv(tmp_path):
    from fragility.accessibility import read_service_points

    path = tmp_path / "permanences.csv"
    path.write_text(
        "nom;lon;lat;heures_hebdo\nPermanence Grésilles;5,0567;47,3360;12\n"
        "Maison de quartier;5,0200;47,3100;6,5\n",
        encoding="cp1252",
    )
    points = read_service_points(path, crs="EPSG:2154")
    assert points.crs.to_epsg() == 2154
    assert points["name"].tolist() == ["Permanence Grésilles", "Maison de quartier"]
    assert points["hours"].tolist() == [12.0, 6.5]
    # Dijon is around x = 855 km, y = 6 697 km in Lambert-93.
    assert points.geometry.x.between(850_000, 860_000).all()
    assert points.geometry.y.between(6_690_000, 6_700_000).all()


def test_read_service_points_errors_name_line_and_field(tmp_path):
    from fragility.accessibility import read_service_points

    path = tmp_path / "points.csv"
    path.write_text("nom,lon,lat\nA,5.0,47.3\nB,cinq,47.3\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_service_points(path, crs="EPSG:2154")
    assert error.value.line == 3 and error.value.field == "lon" and "points.csv" in str(error.value)
    path.write_text("nom;lat;lon\nA;5.0;47.3\n", encoding="utf-8")  # swapped columns
    with pytest.raises(InputError, match="inversées"):
        read_service_points(path, crs="EPSG:2154")
    path.write_text("nom;adresse\nA;rue\n", encoding="utf-8")
    with pytest.raises(InputError, match="coordonnées"):
        read_service_points(path, crs="EPSG:2154")
