"""The same pipeline on the synthetic demo territory: QPV contours, Filosofi fallback, outputs."""

import json

import pandas as pd
import pytest

from fragility.demo import DEMO_LABEL
from fragility.diagnose import diagnose
from fragility.iris_table import build_iris_table
from fragility.territory import Territory


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # never the user's cache
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("demo-cache")))
        yield build_iris_table(Territory.demo())


def test_demo_territory_says_it_is_synthetic(demo_table):
    territory = demo_table.territory
    assert territory.is_synthetic and territory.kind == "demo"
    assert DEMO_LABEL in territory.label
    assert DEMO_LABEL in demo_table.coverage_markdown()


def test_demo_table_shape(demo_table):
    gdf = demo_table.gdf
    assert 100 <= len(gdf) <= 150
    assert gdf["commune"].nunique() == len(demo_table.territory.communes)
    assert gdf.crs.to_epsg() == 2154
    assert (gdf["population_status"] == "recensement").all()
    assert set(gdf["iris_type"]) >= {"H", "Z", "A"}


def test_qpv_overlap_shares(demo_table):
    gdf = demo_table.gdf
    share = gdf["qpv_share"]
    assert share.notna().all() and share.between(0, 1).all()
    partly = share[(share > 0) & (share < 1)]
    assert len(partly) >= 2
    assert (gdf.loc[share > 0, "qpv_codes"] != "").all()
    assert (gdf.loc[share == 0, "qpv_codes"] == "").all()
    # QPV IRIS are poorer (the generator's planted correlation survives the pipeline).
    qpv = gdf["qpv_share"] > 0.5
    assert gdf.loc[qpv, "DISP_TP60"].mean() > gdf.loc[~qpv, "DISP_TP60"].mean() + 10


def test_filosofi_commune_fallback(demo_table):
    gdf = demo_table.gdf
    rural = gdf[gdf["iris_type"] == "Z"]
    assert (rural["filosofi_level"] == "commune").all()
    assert (gdf.loc[gdf["iris_type"] != "Z", "filosofi_level"] == "iris").all()
    reasons = demo_table.coverage.set_index("iris")
    assert set(reasons.loc[rural.index, "reason"]) == {"valeur_communale"}


def test_diagnose_writes_outputs_and_is_reproducible(tmp_path, demo_table, demo_run):
    # The first run is the session's demo diagnostic (same territory, defaults, seed 0).
    first, a = demo_run.result, demo_run.out
    second = diagnose(demo_table.territory, tmp_path / "b", progress=False)
    names = {str(p.relative_to(a)) for p in first.files}
    assert names == {
        "iris.gpkg",
        "iris.csv",
        "couverture.md",
        "manifest.json",
        "figures/densite_population.png",
        "figures/taux_pauvrete.png",
        "figures/indice_isolation.png",
        "figures/indice_non_recours_barrier.png",
        "figures/couverture_mediation.png",
        "figures/zones_sous_desservies.png",
        "rejets.csv",
        "sites_proposes.csv",
        "carte.html",
        "diagnostic.html",
    }
    assert (a / "iris.csv").read_bytes() == (tmp_path / "b" / "iris.csv").read_bytes()
    manifest = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["territoire"]["synthetique"] is True
    assert {e["couche"] for e in manifest["entrees"]} >= {"iris_contours", "census_population"}
    assert all(len(e["sha256"]) == 64 for e in manifest["entrees"])
    csv = pd.read_csv(a / "iris.csv", sep=";", dtype={"iris": str})
    assert csv.columns[0] == "iris" and len(csv) == len(demo_table.gdf)
    assert "Territoire de démonstration" in second.summary()
