"""Tests of the synthetic demo territory (fragility.demo)."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from fragility._files import sha256_of
from fragility.conventions import COMMUNE_RE, IRIS_RE, QPV_RE
from fragility.demo import (
    DEMO_DEPARTEMENT,
    DEMO_EPCI,
    DEMO_EPCI_NAME,
    DEMO_LABEL,
    DEMO_VERSION,
    demo_data_dir,
    write_demo_data,
)
from fragility.errors import ConfigError

ID_COLS = ["IRIS", "REG", "DEP", "UU2020", "COM", "LIBCOM", "TRIRIS", "GRD_QUART", "LIBIRIS",
           "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS"]
FINE = ["P20_POP0002", "P20_POP0305", "P20_POP0610", "P20_POP1117", "P20_POP1824",
        "P20_POP2539", "P20_POP4054", "P20_POP5564", "P20_POP6579", "P20_POP80P"]
COARSE = ["P20_POP0014", "P20_POP1529", "P20_POP3044", "P20_POP4559", "P20_POP6074",
          "P20_POP75P"]
CS = [f"C20_POP15P_CS{i}" for i in range(1, 9)]
BANDS = ["1519", "2024", "2539", "4054", "5564", "6579", "80P"]
HEADERS = {
    "evol-struct-pop": ["P20_POP", *FINE, *COARSE, "P20_POP0019", "P20_POP2064", "P20_POP65P",
                        "P20_POPH", "P20_POPF", "C20_POP15P", *CS, "P20_POP_FR", "P20_POP_ETR",
                        "P20_POP_IMM", "P20_PMEN", "P20_PHORMEN"],
    "couples-familles-menages": [
        "P20_POP15P", *[f"P20_POP{b}" for b in BANDS], "P20_POP15P_PSEUL",
        *[f"P20_POP{b}_PSEUL" for b in BANDS], "C20_MEN", "C20_MENPSEUL", "C20_MENHSEUL",
        "C20_MENFSEUL", "C20_MENSFAM", "C20_MENFAM", "C20_MENCOUPSENF", "C20_MENCOUPAENF",
        "C20_MENFAMMONO", "C20_PMEN", "C20_FAM", "C20_COUPAENF", "C20_FAMMONO", "C20_HMONO",
        "C20_FMONO", "C20_COUPSENF", "C20_NE24F0", "C20_NE24F1", "C20_NE24F2", "C20_NE24F3",
        "C20_NE24F4P"],
    "logement": ["P20_LOG", "P20_RP", "P20_RSECOCC", "P20_LOGVAC", "P20_MAISON", "P20_APPART",
                 "P20_RP_PROP", "P20_RP_LOC", "P20_RP_LOCHLMV", "P20_RP_GRAT", "P20_RP_VOIT1P",
                 "P20_RP_VOIT1", "P20_RP_VOIT2P", "P20_MEN", "P20_NPER_RP"],
    "diplomes-formation": ["P20_NSCOL15P", "P20_NSCOL15P_DIPLMIN", "P20_NSCOL15P_BEPC",
                           "P20_NSCOL15P_CAPBEP", "P20_NSCOL15P_BAC", "P20_NSCOL15P_SUP2",
                           "P20_NSCOL15P_SUP34", "P20_NSCOL15P_SUP5"],
    "activite-residents": ["P20_POP1564", "P20_ACT1564", "P20_ACTOCC1564", "P20_CHOM1564",
                           "P20_INACT1564", "P20_ETUD1564", "P20_RETR1564", "P20_AINACT1564"],
}
FILO_IRIS = ("IRIS;DISP_TP6020;DISP_Q120;DISP_MED20;DISP_Q320;DISP_EQ20;DISP_D120;DISP_D920;"
             "DISP_RD20;DISP_S80S2020;DISP_GI20;DISP_PACT20;DISP_PTSA20;DISP_PCHO20;DISP_PBEN20;"
             "DISP_PPEN20;DISP_PPAT20;DISP_PPSOC20;DISP_PPFAM20;DISP_PPMINI20;DISP_PPLOGT20;"
             "DISP_PIMPOT20;DISP_NOTE20")
FILO_COM = ("CODGEO;NBMENFISC20;NBPERSMENFISC20;MED20;PIMP20;TP6020;PACT20;PTSA20;PCHO20;"
            "PBEN20;PPEN20;PPAT20;PPSOC20;PPFAM20;PPMINI20;PPLOGT20;PIMPOT20;D120;D920;RD20")
FS_HEADER = ('"id_fs","insee_dep","lib_fs","adresse","complement_adresse","insee_com",'
             '"code_postal","lib_com","latitude","longitude","mail","telephone","h_lundi",'
             '"h_mardi","h_mercredi","h_jeudi","h_vendredi","h_samedi","prise_rdv","commentaire",'
             '"type_fs","format_fs","groupe_fs","labellisation_fs"')
TOL = 1e-6


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_of(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _census(folder: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(folder / "recensement" / f"base-ic-{name}-2020.CSV", sep=";",
                        dtype={c: str for c in ID_COLS}, keep_default_na=False,
                        na_values={c: [""] for c in HEADERS[name]})
    return frame.set_index("IRIS")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return write_demo_data(tmp_path_factory.mktemp("demo") / "seed0", seed=0)


@pytest.fixture(scope="module")
def iris(demo) -> gpd.GeoDataFrame:
    return gpd.read_file(demo / "iris" / "contours_iris_demo_2024.gpkg", layer="contours_iris")


@pytest.fixture(scope="module")
def qpv_share(demo, iris) -> pd.Series:
    qpv = gpd.read_file(demo / "qpv" / "QP2024_demo_WGS84.geojson").to_crs(iris.crs)
    covered = shapely.intersection(iris.geometry.values, qpv.union_all())
    return pd.Series(shapely.area(covered) / iris.area.to_numpy(), index=iris["code_iris"])


def test_same_seed_same_bytes_other_seed_differs(demo, tmp_path):
    again = _digests(write_demo_data(tmp_path / "again", seed=0))
    assert again == _digests(demo)
    assert len(again) == 13
    other = _digests(write_demo_data(tmp_path / "other", seed=1))
    assert other.keys() == again.keys()
    changed = [name for name in again if again[name] != other[name]]
    assert "iris/contours_iris_demo_2024.gpkg" in changed
    assert "recensement/base-ic-evol-struct-pop-2020.CSV" in changed


def test_geopackage_carries_no_clock_time(demo):
    # GDAL stamps gpkg_contents with the current time: two runs a second apart would differ.
    with sqlite3.connect(demo / "iris" / "contours_iris_demo_2024.gpkg") as con:
        stamps = con.execute("SELECT table_name, last_change FROM gpkg_contents").fetchall()
    assert stamps == [("contours_iris", "2024-01-01T00:00:00Z")]
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # restored


def test_counts(demo, iris):
    communes = json.loads((demo / "cog" / "communes.json").read_text(encoding="utf-8"))
    actual = [c for c in communes if c["type"] == "commune-actuelle"]
    assert 18 <= len(actual) <= 25
    assert iris["code_insee"].nunique() == len(actual)
    assert 100 <= len(iris) <= 150
    sizes = iris.groupby("code_insee").size()
    assert sizes.max() >= 45 and 3 <= (sizes.between(2, 9)).sum() <= 4
    assert (sizes == 1).sum() >= 12
    types = iris["type_iris"].value_counts()
    assert 2 <= types["A"] <= 4 and types["D"] == 1
    qpv = gpd.read_file(demo / "qpv" / "QP2024_demo_WGS84.geojson")
    assert 3 <= len(qpv) <= 5
    fs = pd.read_csv(demo / "france_services" / "liste-fs-demo.csv", dtype=str)
    assert 3 <= len(fs) <= 5


def test_iris_tile_each_commune(iris):
    assert iris.crs.to_epsg() == 2154
    assert iris.is_valid.all() and not iris.is_empty.any()
    assert (shapely.get_num_coordinates(iris.geometry.values) >= 20).all()
    for code, part in iris.groupby("code_insee"):
        union = shapely.union_all(part.geometry.values)
        assert union.area == pytest.approx(part.area.sum(), rel=1e-9), code
    territory = shapely.union_all(iris.geometry.values)
    assert territory.geom_type == "Polygon" and not territory.interiors
    x, y = territory.centroid.coords[0]
    assert 800_000 < x < 860_000 and 6_670_000 < y < 6_730_000


def test_codes_are_strings_of_the_right_width(demo, iris):
    assert all(IRIS_RE.match(c) for c in iris["code_iris"])
    assert all(COMMUNE_RE.match(c) for c in iris["code_insee"])
    assert (iris["code_iris"].str[:5] == iris["code_insee"]).all()
    assert (iris["code_iris"].str[5:] == iris["iris"]).all()
    assert set(iris["code_insee"].str[:2]) == {DEMO_DEPARTEMENT}
    z = iris[iris["type_iris"] == "Z"]
    assert (z["iris"] == "0000").all() and not z["code_insee"].duplicated().any()
    pop = _census(demo, "evol-struct-pop")
    assert sorted(pop.index) == sorted(iris["code_iris"])
    assert pop["COM"].str.len().eq(5).all() and pop["DEP"].eq(DEMO_DEPARTEMENT).all()
    assert pop["TRIRIS"].str.fullmatch(r"ZZZZZZ|\d{6}").all()
    assert (pop["GRD_QUART"].str[:5] == pop["COM"]).all() and pop["GRD_QUART"].str.len().eq(7).all()
    assert ((pop["TRIRIS"] == "ZZZZZZ") == (pop["TYP_IRIS"] == "Z")).all()
    qpv = gpd.read_file(demo / "qpv" / "QP2024_demo_WGS84.geojson")
    assert qpv.crs.to_epsg() == 4326 and (qpv.geom_type == "Polygon").all()
    assert all(QPV_RE.match(c) for c in qpv["code_qp"])
    assert qpv["insee_dep"].eq("096").all() and qpv["insee_com"].isin(iris["code_insee"]).all()


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_census_header_is_the_official_layout(demo, name):
    header = (demo / "recensement" / f"base-ic-{name}-2020.CSV").read_text(
        encoding="utf-8").splitlines()[0]
    assert header.split(";") == ID_COLS + HEADERS[name]


def test_census_identities(demo):
    pop, fam, log, dip, act = (_census(demo, n) for n in HEADERS)
    total = pop["P20_POP"]
    for group in (FINE, COARSE, ["P20_POP0019", "P20_POP2064", "P20_POP65P"],
                  ["P20_POPH", "P20_POPF"], ["P20_POP_FR", "P20_POP_ETR"],
                  ["P20_PMEN", "P20_PHORMEN"]):
        assert np.allclose(pop[group].sum(axis=1), total, rtol=0, atol=TOL), group
    assert (pop[HEADERS["evol-struct-pop"]].fillna(0) >= 0).all().all()
    assert (total % 1 != 0).mean() > 0.9  # weighted counts, as INSEE publishes them
    cs = pop.dropna(subset=CS)
    assert np.allclose(cs[CS].sum(axis=1), cs["C20_POP15P"], atol=TOL)
    assert np.allclose(fam[[f"P20_POP{b}" for b in BANDS]].sum(axis=1), fam["P20_POP15P"],
                       atol=TOL)
    for band in BANDS:
        assert (fam[f"P20_POP{band}_PSEUL"] <= fam[f"P20_POP{band}"] + TOL).all()
        assert np.allclose(fam[f"P20_POP{band}"], pop.get(f"P20_POP{band}",
                                                          fam[f"P20_POP{band}"]), atol=TOL)
    seul = [f"P20_POP{b}_PSEUL" for b in BANDS]
    assert np.allclose(fam[seul].sum(axis=1), fam["P20_POP15P_PSEUL"], atol=TOL)
    hh = fam.dropna(subset=["C20_MEN"])
    assert 2 <= fam["C20_MEN"].isna().sum() <= 3
    assert np.allclose(hh[["C20_MENPSEUL", "C20_MENSFAM", "C20_MENFAM"]].sum(axis=1),
                       hh["C20_MEN"], atol=TOL)
    assert np.allclose(hh["C20_MENHSEUL"] + hh["C20_MENFSEUL"], hh["C20_MENPSEUL"], atol=TOL)
    assert np.allclose(hh[["C20_MENCOUPSENF", "C20_MENCOUPAENF", "C20_MENFAMMONO"]].sum(axis=1),
                       hh["C20_MENFAM"], atol=TOL)
    assert np.allclose(hh[["C20_COUPAENF", "C20_FAMMONO", "C20_COUPSENF"]].sum(axis=1),
                       hh["C20_FAM"], atol=TOL)
    assert np.allclose(hh["C20_HMONO"] + hh["C20_FMONO"], hh["C20_FAMMONO"], atol=TOL)
    ne24 = ["C20_NE24F0", "C20_NE24F1", "C20_NE24F2", "C20_NE24F3", "C20_NE24F4P"]
    assert np.allclose(hh[ne24].sum(axis=1), hh["C20_FAM"], atol=TOL)
    assert (hh["C20_MEN"] <= hh["C20_PMEN"]).all() and (log["P20_MEN"] <= total).all()
    assert (log["P20_RP_LOCHLMV"] <= log["P20_RP_LOC"] + TOL).all()
    assert (log["P20_RP_LOC"] <= log["P20_RP"] + TOL).all()
    assert np.allclose(log[["P20_RP_PROP", "P20_RP_LOC", "P20_RP_GRAT"]].sum(axis=1),
                       log["P20_RP"], atol=TOL)
    assert np.allclose(log[["P20_RP", "P20_RSECOCC", "P20_LOGVAC"]].sum(axis=1), log["P20_LOG"],
                       atol=TOL)
    assert np.allclose(log["P20_RP_VOIT1"] + log["P20_RP_VOIT2P"], log["P20_RP_VOIT1P"], atol=TOL)
    assert (log["P20_RP_VOIT1P"] <= log["P20_RP"]).all()
    assert (log["P20_MAISON"] + log["P20_APPART"] <= log["P20_LOG"] + TOL).all()
    assert np.allclose(log["P20_NPER_RP"], pop["P20_PMEN"], atol=TOL)
    assert np.allclose(dip[HEADERS["diplomes-formation"][1:]].sum(axis=1), dip["P20_NSCOL15P"],
                       atol=TOL)
    assert (dip["P20_NSCOL15P"] <= fam["P20_POP15P"]).all()
    assert np.allclose(act["P20_ACTOCC1564"] + act["P20_CHOM1564"], act["P20_ACT1564"], atol=TOL)
    assert np.allclose(act["P20_ACT1564"] + act["P20_INACT1564"], act["P20_POP1564"], atol=TOL)
    assert np.allclose(act[["P20_ETUD1564", "P20_RETR1564", "P20_AINACT1564"]].sum(axis=1),
                       act["P20_INACT1564"], atol=TOL)
    assert (act[HEADERS["activite-residents"]] >= 0).all().all()


def test_known_correlations(demo, iris, qpv_share):
    fam, log = _census(demo, "couples-familles-menages"), _census(demo, "logement")
    filo = pd.read_csv(demo / "filosofi" / "BASE_TD_FILO_DISP_IRIS_2020.csv", sep=";",
                       dtype={"IRIS": str}).set_index("IRIS")
    share = qpv_share.reindex(filo.index)
    poverty = filo["DISP_TP6020"]
    assert ((share > 0) & (share < 1)).sum() >= 3
    assert poverty[share > 0.3].mean() > poverty[share < 0.01].mean() + 15
    assert 35 <= poverty[share > 0.5].min() and poverty[share > 0.5].max() <= 60
    assert 10 <= poverty[share < 0.01].mean() <= 18
    assert 19_000 <= filo["DISP_MED20"][share < 0.01].median() <= 25_000
    hlm = log["P20_RP_LOCHLMV"] / log["P20_RP"]
    assert hlm[share.index[share > 0.5]].between(0.45, 0.92).all()
    alone = fam["P20_POP80P_PSEUL"] / fam["P20_POP80P"]
    carless = 1 - log["P20_RP_VOIT1P"] / log["P20_RP"]
    z = iris.set_index("code_iris")["type_iris"] == "Z"
    assert alone[z.index[z]].mean() > alone[z.index[~z]].mean()
    assert carless[z.index[z]].mean() < 0.10 < carless[z.index[~z]].mean()
    one_person = (fam["C20_MENPSEUL"] / fam["C20_MEN"]).max()
    assert 0.5 <= one_person <= 0.75


def test_filosofi_layouts_and_secret(demo, iris):
    folder = demo / "filosofi"
    text = (folder / "BASE_TD_FILO_DISP_IRIS_2020.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == FILO_IRIS
    filo = pd.read_csv(folder / "BASE_TD_FILO_DISP_IRIS_2020.csv", sep=";", dtype={"IRIS": str})
    com_pop = _census(demo, "evol-struct-pop").groupby("COM")["P20_POP"].sum()
    large = set(com_pop.index[com_pop >= 5_000])
    assert set(filo["IRIS"].str[:5]) == large
    assert set(filo["IRIS"]) == set(iris["code_iris"][iris["code_insee"].isin(large)])
    types = iris.set_index("code_iris")["type_iris"].reindex(filo["IRIS"]).to_numpy()
    assert filo.loc[np.isin(types, ["A", "D"]), "DISP_MED20"].isna().all()
    assert filo.loc[types == "H", "DISP_MED20"].notna().all()
    assert filo.loc[types == "H", "DISP_TP6020"].isna().sum() >= 1
    shares = filo.dropna(subset=["DISP_PACT20"])
    parts = shares[["DISP_PACT20", "DISP_PPEN20", "DISP_PPAT20", "DISP_PPSOC20", "DISP_PIMPOT20"]]
    assert np.allclose(parts.sum(axis=1), 100, atol=0.051)
    com = pd.read_csv(folder / "base-cc-filosofi-2020.CSV", sep=";", dtype={"CODGEO": str})
    assert (folder / "base-cc-filosofi-2020.CSV").read_text(encoding="utf-8").startswith(
        FILO_COM + "\n")
    assert sorted(com["CODGEO"]) == sorted(com_pop.index)
    assert (com["TP6020"].isna() == (com["NBMENFISC20"] < 200)).all()
    assert com["TP6020"].isna().any() and com["MED20"].notna().all()
    city = com_pop.idxmax()
    weights = _census(demo, "evol-struct-pop")["P20_PMEN"]
    mine = filo.set_index("IRIS")["DISP_MED20"].dropna()
    expected = np.average(mine, weights=weights[mine.index]) if len(mine) else np.nan
    assert com.set_index("CODGEO").loc[city, "MED20"] == pytest.approx(expected, rel=0.05)


def test_france_services_layout(demo, iris):
    path = demo / "france_services" / "liste-fs-demo.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == FS_HEADER
    line_re = re.compile(r'^"\d+","96","France services [^"]+",.*,-?\d+\.\d+,-?\d+\.\d+,"')
    assert all(line_re.match(line) for line in lines[1:])
    rows = list(csv.DictReader(lines))
    assert all(row["insee_com"] in set(iris["code_insee"]) for row in rows)
    hours = re.compile(r"^\d\d:\d\d - \d\d:\d\d( / \d\d:\d\d - \d\d:\d\d)?$")
    assert all(hours.match(row["h_lundi"]) for row in rows)
    points = gpd.GeoSeries(gpd.points_from_xy([float(r["longitude"]) for r in rows],
                                              [float(r["latitude"]) for r in rows]),
                           crs="EPSG:4326").to_crs(iris.crs)
    territory = shapely.union_all(iris.geometry.values)
    assert points.within(territory).all()
    assert all("synthétiques" in row["commentaire"] for row in rows)


def test_france_services_header_matches_the_real_file(demo, real_data):
    real = (real_data / "france_services" / "liste-fs-20240801_dep21.csv")
    assert real.read_text(encoding="utf-8").splitlines()[0] == FS_HEADER


def test_cog_layout(demo):
    communes = json.loads((demo / "cog" / "communes.json").read_text(encoding="utf-8"))
    epci = json.loads((demo / "cog" / "epci.json").read_text(encoding="utf-8"))
    actual = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
    deleguee = [c for c in communes if c["type"] == "commune-deleguee"]
    assert len(deleguee) == 1 and deleguee[0]["chefLieu"] in actual
    assert deleguee[0]["code"] in actual[deleguee[0]["chefLieu"]]["anciensCodes"]
    for c in actual.values():
        assert c["departement"] == DEMO_DEPARTEMENT and c["zone"] == "metro"
        assert isinstance(c["population"], int) and re.fullmatch(r"\d{9}", c["siren"])
    assert len(epci) == 1
    (only,) = epci
    assert only["code"] == DEMO_EPCI and only["nom"] == DEMO_EPCI_NAME and only["type"] == "CA"
    assert {m["code"] for m in only["membres"]} == set(actual)
    assert only["populationMunicipale"] == sum(c["population"] for c in actual.values())
    census = _census(demo, "evol-struct-pop").groupby("COM")["P20_POP"].sum()
    cog_pop = pd.Series({k: c["population"] for k, c in actual.items()})
    assert np.allclose(cog_pop[census.index], census, rtol=0.03)


def test_readme_says_synthetic(demo):
    text = (demo / "LISEZMOI.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == DEMO_LABEL
    assert "graine 0" in text and "Aucune valeur n'est réelle" in text


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_refused(tmp_path, seed):
    with pytest.raises(ConfigError):
        write_demo_data(tmp_path, seed=seed)


def test_demo_data_dir_is_generated_once_in_the_data_home():
    home = Path(os.environ["FRAGILITY_DATA_DIR"])  # a temporary folder (tests/conftest.py)
    folder = demo_data_dir(seed=3)
    assert folder == home / "demo" / f"v{DEMO_VERSION}-seed3"
    assert (folder / ".complete").is_file()
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temp left
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    os.utime(folder / "LISEZMOI.md", ns=(1, 1))  # a rewrite would reset this
    again = demo_data_dir(seed=3)
    assert again == folder and (folder / "LISEZMOI.md").stat().st_mtime_ns == 1
    stamps[folder / "LISEZMOI.md"] = 1
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamps


def test_demo_data_dir_explicit_home_and_stale_folder(tmp_path):
    stale = tmp_path / "demo" / f"v{DEMO_VERSION}-seed0"
    stale.mkdir(parents=True)
    (stale / "half-written.csv").write_text("x", encoding="utf-8")
    folder = demo_data_dir(data_home=tmp_path)
    assert folder == stale and (folder / ".complete").is_file()
    assert not (folder / "half-written.csv").exists()
    assert _digests(folder).keys() - {".complete"} == _digests(
        write_demo_data(tmp_path / "direct")).keys()
