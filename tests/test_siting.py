"""Tests of fragility.siting: MCLP exact vs greedy vs brute force, existing sites, errors."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import OptimizeResult
from shapely.geometry import Point, box

import fragility.siting as siting
from fragility.errors import InputError
from fragility.siting import SitingResult, candidate_points, propose_sites

CRS = "EPSG:2154"


def _points(xy, crs=CRS, index=None, **columns):
    return gpd.GeoDataFrame(columns, geometry=[Point(x, y) for x, y in xy], crs=crs, index=index)


def _xy(gdf):
    return np.column_stack([gdf.geometry.x, gdf.geometry.y])


def _brute_force(demand, candidates, weight, k, radius, existing=None):
    """Best coverage over all k-subsets, with distances computed independently."""
    d = np.linalg.norm(_xy(demand)[:, None, :] - _xy(candidates)[None, :, :], axis=2)
    cover = d <= radius
    w = demand[weight].to_numpy(dtype=float).copy()
    if existing is not None:
        de = np.linalg.norm(_xy(demand)[:, None, :] - _xy(existing)[None, :, :], axis=2)
        w[(de <= radius).any(axis=1)] = 0.0
    best = max(
        w[cover[:, list(combo)].any(axis=1)].sum()
        for combo in itertools.combinations(range(len(candidates)), k)
    )
    return float(best)


@pytest.fixture
def trap():
    """Greedy takes the central site C (12) then one side (+4) = 16; the optimum is L+R = 20."""
    # Left: inner points (3 + 3) near C and L, outer points (2 + 2) near L only; right mirrored.
    # d8 and d9 are isolated, covered only by the decoys D1 and D2.
    left = [(-800, 0), (-800, 300), (-2200, 0), (-2200, 300)]
    right = [(-x, y) for x, y in left]
    demand = _points(
        [*left, *right, (0, 5000), (5000, 5000)],
        index=pd.Index([f"d{i}" for i in range(10)], name="iris"),
        need=[3.0, 3.0, 2.0, 2.0, 3.0, 3.0, 2.0, 2.0, 1.0, 0.5],
    )
    candidates = _points(
        [(0, 0), (-1600, 0), (1600, 0), (0, 5200), (5000, 5300), (-5000, -5000)],
        index=["C", "L", "R", "D1", "D2", "D3"],
        name=["centre", "gauche", "droite", "leurre 1", "leurre 2", "leurre 3"],
    )
    return demand, candidates


def _random_instance(seed, n_demand=60, n_candidates=12):
    rng = np.random.default_rng(seed)
    demand = _points(
        rng.uniform(0, 10_000, size=(n_demand, 2)),
        index=pd.Index([f"i{i:03d}" for i in range(n_demand)], name="iris"),
        need=rng.exponential(10.0, n_demand) * (rng.random(n_demand) < 0.8),
    )
    candidates = _points(
        rng.uniform(0, 10_000, size=(n_candidates, 2)),
        index=[f"c{j:02d}" for j in range(n_candidates)],
    )
    return demand, candidates


def test_trap_instance_greedy_is_suboptimal(trap):
    demand, candidates = trap
    optimum = _brute_force(demand, candidates, "need", 2, 1000)
    assert optimum == pytest.approx(20.0)

    exact = propose_sites(demand, candidates, weight="need", k=2, radius=1000)
    assert isinstance(exact, SitingResult)
    assert exact.method == "milp-highs"
    assert exact.optimal and exact.gap == 0.0
    assert exact.covered_weight == pytest.approx(optimum)
    assert set(exact.sites["candidate"]) == {"L", "R"}
    assert exact.sites["name"].tolist() == ["gauche", "droite"]  # tie L/R: candidate order

    greedy = propose_sites(demand, candidates, weight="need", k=2, radius=1000, solver="greedy")
    assert greedy.method == "glouton"
    assert greedy.sites["candidate"].tolist() == ["C", "L"]
    assert greedy.covered_weight == pytest.approx(16.0)
    assert greedy.covered_weight < exact.covered_weight
    assert not greedy.optimal
    assert greedy.bound >= optimum - 1e-9
    assert greedy.gap > 0
    assert greedy.gap == pytest.approx((greedy.bound - 16.0) / greedy.bound)
    # The LP bound is tighter than the (1 - 1/e) guarantee.
    assert greedy.bound < 16.0 / (1 - 1 / np.e)


@pytest.mark.parametrize("seed", range(6))
def test_random_instances_match_brute_force(seed):
    demand, candidates = _random_instance(seed)
    optimum = _brute_force(demand, candidates, "need", 3, 2500)
    exact = propose_sites(demand, candidates, weight="need", k=3, radius=2500)
    greedy = propose_sites(demand, candidates, weight="need", k=3, radius=2500, solver="greedy")
    assert exact.optimal
    assert exact.covered_weight == pytest.approx(optimum, rel=1e-9)
    assert greedy.covered_weight <= exact.covered_weight + 1e-9
    assert exact.covered_weight <= greedy.bound + 1e-9
    assert 0 <= greedy.gap < 1
    assert len(exact.sites) == len(greedy.sites) == 3


@pytest.mark.parametrize("solver", ["exact", "greedy"])
def test_result_is_consistent(solver):
    demand, candidates = _random_instance(42)
    result = propose_sites(demand, candidates, weight="need", k=3, radius=2500, solver=solver)
    sites = result.sites
    assert sites["rank"].tolist() == [1, 2, 3]
    assert sites["covered_weight"].sum() == pytest.approx(result.covered_weight)
    assert sites["covered_share"].sum() == pytest.approx(result.covered_share)
    assert sites["covered_weight"].is_monotonic_decreasing
    assert ((sites["covered_share"] >= 0) & (sites["covered_share"] <= 1)).all()
    assert 0 <= result.covered_share <= 1
    assert result.total_weight == pytest.approx(demand["need"].sum())
    assert result.covered_weight <= result.coverable_weight + 1e-9

    # coverage: each covered point is within the radius of its site, the best-ranked one.
    assert result.coverage.index.equals(demand.index)
    chosen = candidates.loc[sites["candidate"]]
    dist = np.linalg.norm(_xy(demand)[:, None, :] - _xy(chosen)[None, :, :], axis=2)
    labels = sites["candidate"].tolist()
    for pos, label in enumerate(result.coverage):
        within = np.flatnonzero(dist[pos] <= result.radius)
        if label is None:
            assert within.size == 0
        else:
            assert labels.index(label) == within.min()
    # demand_covered: newly covered points with a positive need, summing to covered_weight.
    for _, row in sites.iterrows():
        ids = row["demand_covered"]
        assert row["n_demand_covered"] == len(ids)
        assert (result.coverage[ids] == row["candidate"]).all()
        assert (demand.loc[ids, "need"] > 0).all()
        assert demand.loc[ids, "need"].sum() == pytest.approx(row["covered_weight"])


def test_existing_sites_are_already_covered(trap):
    demand, candidates = trap
    existing = _points([(-1600, 0)], index=["fs-existant"])
    optimum = _brute_force(demand, candidates, "need", 1, 1000, existing=existing)
    result = propose_sites(demand, candidates, weight="need", k=1, radius=1000, existing=existing)
    assert result.already_covered_weight == pytest.approx(10.0)
    assert result.already_covered.tolist() == [True] * 4 + [False] * 6
    # Left side no longer counts: C brings only its right half (6), R brings 10.
    assert result.sites["candidate"].tolist() == ["R"]
    assert result.covered_weight == pytest.approx(optimum) == pytest.approx(10.0)
    assert result.covered_weight + result.already_covered_weight <= result.total_weight
    covered_ids = result.sites["demand_covered"].iloc[0]
    assert not result.already_covered[covered_ids].any()
    assert "déjà" in result.summary_fr()

    # With k=2 the second site is C or a decoy, never counting the left side again.
    two = propose_sites(demand, candidates, weight="need", k=2, radius=1000, existing=existing)
    assert two.covered_weight == pytest.approx(11.0)  # R (10) + D1 (1)
    assert two.sites["candidate"].tolist() == ["R", "D1"]
    left = ["d0", "d1", "d2", "d3"]
    assert not set(left) & set(itertools.chain.from_iterable(two.sites["demand_covered"]))


def test_polygon_demand_and_k_larger_than_candidates(trap):
    demand, candidates = trap
    polygons = demand.copy()
    polygons["geometry"] = [box(p.x - 10, p.y - 10, p.x + 10, p.y + 10) for p in demand.geometry]
    polygons = gpd.GeoDataFrame(polygons, geometry="geometry", crs=CRS)
    result = propose_sites(polygons, candidates, weight="need", k=10, radius=1000)
    assert len(result.sites) == 6 and result.k == 10
    assert result.covered_weight == pytest.approx(21.5)
    assert result.optimal and result.gap == 0
    assert any("dépasse le nombre de sites candidats" in note for note in result.notes)


def test_sites_adding_nothing_are_filled_in_candidate_order(trap):
    demand, candidates = trap
    demand = demand.assign(need=demand["need"].where(demand.index != "d9", 0.0))
    # C, L, R, D1 cover all the need; the fifth site (D2, before D3) adds nothing.
    result = propose_sites(demand, candidates, weight="need", k=5, radius=1000)
    assert result.sites["candidate"].tolist() == ["C", "L", "R", "D1", "D2"]
    assert result.sites["covered_weight"].tolist() == [12.0, 4.0, 4.0, 1.0, 0.0]
    assert result.optimal and result.covered_weight == pytest.approx(21.0)
    assert any("n'ajoute" in note for note in result.notes)


@pytest.mark.parametrize("solver", ["exact", "greedy"])
def test_ties_are_broken_by_candidate_order(solver):
    demand = _points([(0, 0), (100, 0), (5000, 0)], need=[1.0, 1.0, 2.0])
    # b, a and c are twins at the same place; d covers the point at 5 km (weight 2).
    candidates = _points([(50, 0), (50, 0), (50, 0), (5000, 10)], index=["b", "a", "c", "d"])
    result = propose_sites(demand, candidates, weight="need", k=2, radius=1000, solver=solver)
    assert result.sites["candidate"].tolist() == ["b", "d"]
    shuffled = candidates.iloc[[2, 3, 1, 0]]
    result = propose_sites(demand, shuffled, weight="need", k=2, radius=1000, solver=solver)
    assert result.sites["candidate"].tolist() == ["c", "d"]


def test_exact_falls_back_to_greedy_without_solution(trap, monkeypatch):
    demand, candidates = trap

    def no_solution(*args, **kwargs):
        return OptimizeResult(status=1, x=None, message="Time limit reached", success=False)

    monkeypatch.setattr(siting, "milp", no_solution)
    result = propose_sites(demand, candidates, weight="need", k=2, radius=1000)
    assert result.method == "glouton"
    assert result.covered_weight == pytest.approx(16.0)
    assert result.gap > 0 and not result.optimal
    assert any("repli" in note for note in result.notes)
    assert "repli sur l'heuristique gloutonne" in result.summary_fr()


def test_exact_time_limit_reports_gap(trap, monkeypatch):
    demand, candidates = trap
    real_milp = siting.milp

    def stopped(*args, **kwargs):
        res = real_milp(*args, **kwargs)
        return OptimizeResult(
            status=1, x=res.x, message="Time limit reached", mip_dual_bound=res.fun - 5.0
        )

    monkeypatch.setattr(siting, "milp", stopped)
    result = propose_sites(demand, candidates, weight="need", k=2, radius=1000, time_limit=1)
    assert result.method == "milp-highs" and not result.optimal
    assert result.bound == pytest.approx(21.5)  # capped by the coverable need (25 > 21.5)
    assert result.gap == pytest.approx((21.5 - 20.0) / 21.5)
    assert result.time_limit == 1.0
    assert "écart à l'optimum au plus 7 %" in result.summary_fr()  # 6.98 % rounded up
    assert siting._pct_up(0.00002) == "0,1 %" and siting._pct_up(0.1234) == "13 %"


def test_summary_fr(trap):
    demand, candidates = trap
    exact = propose_sites(demand, candidates, weight="need", k=2, radius=1000)
    text = exact.summary_fr()
    assert text.startswith("2 permanences proposées couvriraient 93 % du besoin non couvert")
    assert "solution optimale" in text and "HiGHS" in text and "rayon 1 km" in text
    greedy = propose_sites(
        demand, candidates, weight="need", k=1, radius=2500, solver="greedy"
    ).summary_fr()
    assert greedy.startswith("1 permanence proposée couvrirait")
    assert "heuristique gloutonne" in greedy and "rayon 2,5 km" in greedy
    assert "%" in greedy


def test_errors_are_french_input_errors(trap):
    demand, candidates = trap
    with pytest.raises(InputError, match="coordonnées géographiques"):
        propose_sites(demand.to_crs(4326), candidates.to_crs(4326), weight="need")
    with pytest.raises(InputError, match="reprojetez avec to_crs\\('EPSG:2154'\\)"):
        propose_sites(demand, candidates.to_crs(3857), weight="need")
    with pytest.raises(InputError, match="sites existants"):
        propose_sites(demand, candidates, weight="need", existing=candidates.to_crs(3857))
    negative = demand.assign(need=demand["need"].where(demand.index != "d3", -1.0))
    with pytest.raises(InputError, match="négatif") as info:
        propose_sites(negative, candidates, weight="need")
    assert info.value.field == "need" and "« need »" in str(info.value)
    missing = demand.assign(need=demand["need"].where(demand.index != "d3"))
    with pytest.raises(InputError, match="manquante"):
        propose_sites(missing, candidates, weight="need")
    with pytest.raises(InputError, match="absente"):
        propose_sites(demand, candidates, weight="besoin")
    with pytest.raises(InputError, match="k \\(nombre de sites à proposer\\)"):
        propose_sites(demand, candidates, weight="need", k=0)
    with pytest.raises(InputError, match="rayon"):
        propose_sites(demand, candidates, weight="need", radius=0)
    with pytest.raises(InputError, match="solveur inconnu"):
        propose_sites(demand, candidates, weight="need", solver="lp")
    with pytest.raises(InputError, match="vide"):
        propose_sites(demand, candidates.iloc[:0], weight="need")


def test_candidate_points():
    communes = gpd.GeoDataFrame(
        {"commune": ["21231", "21231", "1001"], "commune_name": ["Dijon", "Dijon", "Abergement"]},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(5000, 0, 6000, 1000)],
        crs=CRS,
    )
    services = _points([(100, 100)], index=[7], name=["France services Dijon"])
    extra = _points([(3000, 3000)], index=["mairie"]).to_crs(3857)
    out = candidate_points(communes, services, extra)
    assert out.crs.equals(CRS)
    assert out.index.name == "candidate"
    assert out.index.tolist() == ["commune:21231", "commune:01001", "service:7", "extra:mairie"]
    assert out["source"].tolist() == ["commune", "commune", "service", "extra"]
    assert out.loc["commune:21231", "name"] == "Dijon"
    assert out.loc["service:7", "name"] == "France services Dijon"
    assert (out.geometry.geom_type == "Point").all()
    assert out.loc["extra:mairie"].geometry.distance(Point(3000, 3000)) < 1e-3
    dijon = out.loc["commune:21231"].geometry
    assert box(0, 0, 2000, 1000).contains(dijon)
    # usable directly as candidates
    demand = _points([(150, 150)], need=[1.0])
    assert propose_sites(demand, out, weight="need", k=1).sites["candidate"][0] == "commune:21231"
    with pytest.raises(InputError, match="aucune couche"):
        candidate_points()
    with pytest.raises(InputError, match="coordonnées géographiques"):
        candidate_points(services=services.to_crs(4326))
