import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from fragility.conventions import (
    IRIS_RE,
    check_iris_frame,
    crs_for,
    departement_of,
    isin,
    normalise_code,
    require_crs,
)
from fragility.errors import CRSMismatchError, InputError


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [(1001, 5, "01001"), ("1001.0", 5, "01001"), ("2a004", 5, "2A004"),
     (" 21231 ", 5, "21231"), (10010000, 9, "010010000"), ("", 5, None), (float("nan"), 5, None)],
)
def test_normalise_code(raw, width, expected):
    assert normalise_code(raw, width) == expected


def test_departements_and_crs():
    assert departement_of("2A004") == "2A"
    assert departement_of("97411") == "974"
    assert crs_for("21") == "EPSG:2154"
    assert crs_for("974") == "EPSG:2975"
    assert IRIS_RE.match("2B0330000") and not IRIS_RE.match("21231010")


def test_require_crs():
    gdf = gpd.GeoDataFrame(geometry=[Point(0, 0)])
    with pytest.raises(CRSMismatchError, match="pas de système de coordonnées"):
        require_crs(gdf)
    with pytest.raises(CRSMismatchError, match="to_crs\\('EPSG:2154'\\)"):
        require_crs(gdf.set_crs(4326), "EPSG:2154")


def test_check_iris_frame():
    good = pd.DataFrame({"x": [1]}, index=pd.Index(["212310101"], name="iris"))
    check_iris_frame(good)
    with pytest.raises(InputError, match="indexée par « iris »"):
        check_iris_frame(good.rename_axis("code"))
    with pytest.raises(InputError, match="mal formés"):
        check_iris_frame(pd.DataFrame({"x": [1]}, index=pd.Index([212310101], name="iris")))


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize(
    "candidates",
    [["21231", "2A004"], {"21231"}, pd.Index(["21231", "99999"]), pd.Series(["2A004"]),
     np.array(["21231"]), ["21231", None], [np.nan], [], [21231]],
)
def test_isin_matches_pandas(dtype, candidates):
    values = pd.Series(["21231", "2A004", None, "21231", "01001"], dtype=dtype)
    expected = values.isin(candidates).to_numpy()
    got = isin(values, candidates)
    assert got.dtype == bool
    assert got.tolist() == expected.tolist()
    assert isin(pd.Index(values), candidates).tolist() == expected.tolist()
