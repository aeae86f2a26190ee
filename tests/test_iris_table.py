import json
import shutil

import geopandas as gpd
import pandas as pd
import pytest

from fragility.iris_table import build_iris_table
from fragility.territory import Territory

pytestmark = pytest.mark.real_data

DM = "242100410"


@pytest.fixture(scope="module")
def dm(real_data):
    return build_iris_table(Territory.from_epci(DM, data_dir=real_data))


@pytest.fixture(scope="module")
def contours(real_data):
    return gpd.read_file(real_data / "iris_contours" / "contours_iris_2020_dep21.geojson")


def test_dijon_metropole_one_row_per_iris(dm, contours):
    gdf = dm.gdf
    members = set(Territory.from_epci(DM, data_dir=dm.territory.data_dir).communes)
    expected = set(contours.loc[contours["INSEE_COM"].isin(members), "CODE_IRIS"])
    assert len(gdf) == 121
    assert set(gdf.index) == expected
    assert gdf.index.name == "iris" and gdf.index.is_unique
    assert all(isinstance(c, str) and len(c) == 9 for c in gdf.index)
    assert gdf["commune"].str.len().eq(5).all()
    assert gdf["commune"].nunique() == 23
    assert gdf.crs.to_epsg() == 2154
    assert gdf.geometry.notna().all() and gdf.geometry.is_valid.all()
    assert (gdf["epci"] == DM).all()
    assert gdf.loc["212310101", "commune"] == "21231"


def test_filosofi_values_and_coverage(dm, real_data):
    raw = pd.read_csv(
        real_data / "filosofi" / "filosofi_iris_2019_disp_dep21_extract.csv",
        sep=";",
        dtype={"IRIS": str},
    )
    raw = raw.set_index("IRIS")
    gdf = dm.gdf
    covered = raw.index.intersection(gdf.index)
    assert len(covered) == 77
    pd.testing.assert_series_equal(
        gdf.loc[covered, "DISP_TP60"], raw.loc[covered, "DISP_TP6019"], check_names=False
    )
    assert gdf.loc["212311203", "DISP_TP60"] == pytest.approx(55.9)
    assert (gdf.loc[covered, "filosofi_level"] == "iris").all()
    # Every IRIS without a poverty rate is named in the coverage report, with a reason.
    without = set(gdf.index[gdf["DISP_TP60"].isna()])
    reported = dm.coverage[dm.coverage["layer"] == "filosofi_iris"]
    assert without <= set(reported["iris"])
    reasons = reported.set_index("iris")["reason"]
    # Small communes (under the 10 000 inhabitants scope of Filosofi 2019 at IRIS level)
    # are out of scope, not "missing".
    assert reasons["210030000"] == "hors_champ_filosofi_iris"  # Ahuy
    # Blank cells of the extract are statistical secret.
    blanks = raw.index[raw["DISP_TP6019"].isna()].intersection(gdf.index)
    assert len(blanks) > 0
    assert (reasons[blanks] == "secret_statistique").all()
    # Quetigny (9 800 inhabitants) is out of the 2019 scope; Dijon IRIS absent from the
    # extract are "absent du fichier".
    dijon_absent = [i for i in gdf.index[gdf["commune"] == "21231"] if i not in raw.index]
    assert dijon_absent and (reasons[dijon_absent] == "absent_du_fichier").all()
    assert "Filosofi" in dm.coverage_markdown()


def test_population_and_merged_commune(dm):
    gdf = dm.gdf
    assert (gdf["population_status"] == "recensement").all()
    assert gdf["population"].sum() == pytest.approx(253_646)  # PROVENANCE §8, with Crimolois
    assert gdf.loc["214520000", "population"] == pytest.approx(1857 + 807)
    assert any("Millésimes différents" in w for w in dm.warnings)


def test_qpv_without_contours_is_reported(dm):
    gdf = dm.gdf
    assert gdf["qpv_share"].isna().all()
    assert set(gdf.loc[gdf["commune"] == "21231", "qpv_status"]) == {"contours_absents"}
    assert "QN02102M" in gdf.loc["212311202", "qpv_commune_codes"]
    qpv_rows = dm.coverage[dm.coverage["layer"] == "qpv"]
    assert set(qpv_rows["reason"]) == {"contours_qpv_absents"}


def test_france_services_distance(dm):
    gdf = dm.gdf
    assert gdf["fs_distance_m"].notna().all()
    # Chenôve has a France services: its IRIS are close to one.
    assert gdf.loc[gdf["commune"] == "21166", "fs_distance_m"].max() < 3000
    assert gdf["fs_distance_m"].max() < 20_000


def test_write(dm, tmp_path):
    paths = dm.write(tmp_path)
    assert {p.name for p in paths} == {"iris.gpkg", "iris.csv", "couverture.md"}
    csv = pd.read_csv(tmp_path / "iris.csv", sep=";", dtype={"iris": str, "commune": str})
    assert csv.columns[0] == "iris"
    assert len(csv) == 121 and csv["iris"].str.len().eq(9).all()
    back = gpd.read_file(tmp_path / "iris.gpkg")
    assert len(back) == 121 and back.crs.to_epsg() == 2154
    text = (tmp_path / "couverture.md").read_text(encoding="utf-8")
    assert "Dijon Métropole" in text and "secret statistique" in text


def _pack_territories(real_data):
    epcis = json.loads((real_data / "cog" / "epci_dep21.json").read_text(encoding="utf-8"))
    return [e["code"] for e in epcis]


def test_every_territory_of_the_pack(real_data, contours):
    by_commune = contours.groupby("INSEE_COM")["CODE_IRIS"].apply(set)
    for code in _pack_territories(real_data):
        territory = Territory.from_epci(code, data_dir=real_data)
        table = build_iris_table(territory)
        expected = set().union(*(by_commune.get(c, set()) for c in territory.communes))
        assert set(table.gdf.index) == expected, code
        assert table.gdf.geometry.notna().all()
        assert table.gdf["population"].notna().all(), code
        absent = {c for c in territory.communes if c not in by_commune.index}
        reported = set(
            table.coverage.loc[
                table.coverage["reason"] == "commune_absente_des_contours", "commune"
            ]
        )
        assert reported == absent, code
    dep = build_iris_table(Territory.from_departement("21", data_dir=real_data))
    assert len(dep.gdf) == 814


def test_population_fallback_without_census(real_data, tmp_path):
    data = tmp_path / "donnees"
    for sub in ("iris_contours", "cog", "france_services"):
        shutil.copytree(real_data / sub, data / sub)
    table = build_iris_table(Territory.from_epci(DM, data_dir=data))
    gdf = table.gdf
    cog = json.loads((real_data / "cog" / "communes_dep21.json").read_text(encoding="utf-8"))
    pops = {c["code"]: c["population"] for c in cog if c.get("type") == "commune-actuelle"}
    assert gdf.loc["210030000", "population"] == pops["21003"]  # one-IRIS commune: exact
    assert gdf.loc["210030000", "population_status"] == "cog_commune"
    dijon = gdf[gdf["commune"] == "21231"]
    assert (dijon["population_status"] == "estimee_surface").all()
    assert dijon["population"].sum() == pytest.approx(pops["21231"])
    census_rows = table.coverage[table.coverage["layer"] == "census_population"]
    assert set(census_rows["reason"]) == {"couche_absente"}
    assert (table.coverage["reason"] == "population_estimee").sum() == 121
