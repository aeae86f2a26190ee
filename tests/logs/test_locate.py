import importlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from fragility.iris_table import build_iris_table
from fragility.logs.aggregate import aggregate
from fragility.logs.locate import locate
from fragility.territory import Territory


@pytest.fixture(scope="module")
def dm_iris(real_data):
    return build_iris_table(Territory.from_epci("242100410", data_dir=real_data)).gdf


def _events(points_l93, crs, **extra):
    wgs = gpd.GeoSeries(points_l93, crs=crs).to_crs(4326)
    frame = pd.DataFrame(
        {
            "latitude": wgs.y.to_numpy(),
            "longitude": wgs.x.to_numpy(),
            "geo_iris": None,
            "geo_commune": None,
            "geo_qpv": None,
            **extra,
        }
    )
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


@pytest.mark.real_data
def test_coordinates_land_in_the_right_iris(dm_iris):
    points = dm_iris.geometry.representative_point()
    result = locate(_events(list(points), dm_iris.crs), dm_iris)
    assert result.rejects.empty
    assert list(result.events["geo_iris"]) == list(dm_iris.index)
    assert (result.events["geo_level"] == "iris").all()
    assert list(result.events["geo_commune"]) == list(dm_iris["commune"])
    assert "latitude" not in result.events and "longitude" not in result.events
    assert result.from_coordinates == len(dm_iris)


@pytest.mark.real_data
def test_points_outside_are_rejected(dm_iris):
    paris = gpd.GeoSeries([Point(2.35, 48.85)], crs=4326).to_crs(dm_iris.crs)
    inside = dm_iris.geometry.iloc[:1].representative_point()
    result = locate(_events([paris.iloc[0], inside.iloc[0]], dm_iris.crs), dm_iris)
    assert list(result.rejects["ligne"]) == [2]
    assert "hors des IRIS du territoire" in result.rejects["motif"].iloc[0]
    assert len(result.events) == 1


def test_boundary_point_goes_to_exactly_one_iris():
    # Contours in lon/lat so that the shared edge (lon = 6) is exact, with no reprojection.
    grid = gpd.GeoDataFrame(
        {"commune": ["21231", "21231"]},
        geometry=[box(5, 47, 6, 48), box(6, 47, 7, 48)],
        index=pd.Index(["212310102", "212310101"], name="iris"),
        crs="EPSG:4326",
    )
    frame = pd.DataFrame(
        {
            "latitude": [47.5, 47.5, 47.25],
            "longitude": [6.0, 6.0, 5.5],
            "geo_iris": None,
            "geo_commune": None,
            "geo_qpv": None,
        },
        index=[2, 3, 4],
    )
    result = locate(frame, grid)
    assert list(result.events["geo_iris"]) == ["212310101", "212310101", "212310102"]
    assert result.on_boundary == 2 and result.rejects.empty


def test_commune_only_rows_are_never_pushed_down():
    grid = gpd.GeoDataFrame(
        {"commune": ["21231"]},
        geometry=gpd.GeoSeries.from_xy([0], [0]).buffer(1),
        index=pd.Index(["212310101"], name="iris"),
        crs="EPSG:2154",
    )
    frame = pd.DataFrame(
        {
            "geo_iris": [None, "212310101"],
            "geo_commune": ["21166", None],
            "geo_qpv": [None, None],
            "latitude": [np.nan, np.nan],
            "longitude": [np.nan, np.nan],
        },
        index=[2, 3],
    )
    result = locate(frame, grid)
    assert list(result.events["geo_level"]) == ["commune", "iris"]
    assert pd.isna(result.events.loc[2, "geo_iris"])
    assert result.events.loc[3, "geo_commune"] == "21231"


def test_chunks_on_threads_match_one_pass_and_the_plain_sjoin(monkeypatch):
    module = importlib.import_module("fragility.logs.locate")  # the package exports the function

    # a 3 x 3 grid of squares in Lambert-93, codes not in the order of the rows
    cells = [
        box(
            800_000 + 1000 * i,
            6_700_000 + 1000 * j,
            800_000 + 1000 * (i + 1),
            6_700_000 + 1000 * (j + 1),
        )
        for i in range(3)
        for j in range(3)
    ]
    codes = [f"21231{9 - k:04d}" for k in range(9)]
    grid = gpd.GeoDataFrame(
        {"commune": "21231"}, geometry=cells, index=pd.Index(codes, name="iris"), crs="EPSG:2154"
    )
    rng = np.random.default_rng(0)
    xy = rng.uniform([799_500, 6_699_500], [803_500, 6_703_500], size=(400, 2))
    xy[:40] = np.round(xy[:40] / 1000) * 1000  # grid corners: on two or four contours
    frame = _events(list(gpd.points_from_xy(xy[:, 0], xy[:, 1])), grid.crs)
    one_pass = locate(frame, grid)
    monkeypatch.setattr(module, "_CHUNK", 7)
    pools = []

    class CountedPool(module.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(module, "ThreadPoolExecutor", CountedPool)
    chunked = locate(frame, grid)
    assert pools == [2]  # the chunked path on two threads was taken
    pd.testing.assert_frame_equal(chunked.events, one_pass.events)
    pd.testing.assert_frame_equal(chunked.rejects, one_pass.rejects)
    assert chunked.on_boundary == one_pass.on_boundary > 0
    assert chunked.events["geo_iris"].dtype == frame["geo_iris"].dtype  # kept, not inferred
    assert not chunked.rejects.empty
    # the same pairs as geopandas.sjoin, the lowest code kept where a point touches several
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(frame["longitude"], frame["latitude"]),
        index=frame.index,
        crs=4326,
    ).to_crs(grid.crs)
    joined = gpd.sjoin(points, grid[["geometry"]], predicate="intersects")
    lowest = joined.groupby(level=0)["iris"].min()
    assert chunked.events["geo_iris"].to_dict() == lowest.to_dict()
    assert set(chunked.rejects["ligne"]) == set(frame.index.difference(lowest.index))


def test_aggregate_counts_and_levels():
    events = pd.DataFrame(
        {
            "geo_iris": ["212310101", "212310101", "212310101", None],
            "geo_commune": ["21231", "21231", "21231", "21166"],
            "geo_qpv": [None, None, None, None],
            "geo_level": ["iris", "iris", "iris", "commune"],
            "period_month": ["2024-01", "2024-01", "2024-02", "2024-01"],
            "registre": [
                "presence_active",
                "presence_active",
                "gestion_conflits",
                "presence_active",
            ],
            "person_key": ["A" * 26, "A" * 26, "B" * 26, "C" * 26],
        }
    )
    by_iris = aggregate(events, level="iris")
    assert by_iris.to_dict("records") == [
        {
            "iris": "212310101",
            "contacts": 3,
            "persons": 2,
            "top_share": pytest.approx(2 / 3, abs=1e-4),
        }
    ]
    assert by_iris.attrs["hors_niveau"] == 1
    by_commune = aggregate(events, level="commune", by=["registre"])
    assert set(map(tuple, by_commune[["commune", "registre", "contacts"]].to_numpy())) == {
        ("21166", "presence_active", 1),
        ("21231", "gestion_conflits", 1),
        ("21231", "presence_active", 2),
    }
    january = aggregate(events, level="commune", period=("2024-01", "2024-01"))
    assert january["contacts"].sum() == 3 and january.attrs["hors_periode"] == 1
    epci = aggregate(events, level="epci", epci_of={"21231": "242100410", "21166": "242100410"})
    assert epci["persons"].tolist() == [3]
