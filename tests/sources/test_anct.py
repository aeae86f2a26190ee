"""ANCT readers: France services list, QPV contours (2015 and 2024) and QPV lists."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from fragility.errors import InputError
from fragility.sources import anct

# --------------------------------------------------------------------------- helpers

#: Header of the ANCT file (copied from liste-fs-20240801_dep21.csv).
FS_HEADER = (
    '"id_fs","insee_dep","lib_fs","adresse","complement_adresse","insee_com","code_postal",'
    '"lib_com","latitude","longitude","mail","telephone","h_lundi","h_mardi","h_mercredi",'
    '"h_jeudi","h_vendredi","h_samedi","prise_rdv","commentaire","type_fs","format_fs",'
    '"groupe_fs","labellisation_fs"'
)
WEEK = "09:00 - 12:00 / 13:30 - 17:00"  # 6.5 h


def fs_record(
    id_fs: str,
    insee_com: str,
    lat: str,
    lon: str,
    *,
    name: str = "France services",
    days: tuple[str, ...] = (WEEK, WEEK, WEEK, WEEK, WEEK, ""),
    comment: str = "",
    fs_type: str = "Principal",
    fs_format: str = "Fixe",
) -> str:
    """One record in the ANCT layout: text quoted, coordinates bare, empty cells bare."""

    def q(text: str) -> str:
        return f'"{text}"' if text else ""

    dep = insee_com[:3] if insee_com.startswith("97") else insee_com[:2]
    cells = [
        q(id_fs), q(dep), q(name), q("1 Place de la Mairie"), "", q(insee_com), q("00000"),
        q("Commune"), lat, lon, q("contact@example.org"), q("03 80 00 00 00"),
        *(q(d) for d in days), q("Non"), q(comment), q(fs_type), q(fs_format), "",
        q("Espace labellisé 01/01/2020"),
    ]
    return ",".join(cells)


def write_fs(path: Path, records: list[str]) -> Path:
    path.write_text("\n".join([FS_HEADER, *records]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def fs_file(tmp_path) -> Path:
    return write_fs(
        tmp_path / "liste-fs-20240801.csv",
        [
            fs_record("128", "21317", "47.5216", "5.112966", name="France services Is-sur-Tille",
                      comment="Accueil sur rendez-vous\nle samedi"),
            fs_record("2001", "01053", "46.2052", "5.2255",
                      days=(WEEK, WEEK, "09:00 - 12:00", WEEK, WEEK, "09:00 - 12:00")),
            fs_record("2002", "2A004", "41.9192", "8.7386", fs_type="Antenne",
                      fs_format="Itinérant", days=("",) * 6),
            fs_record("2003", "97411", "-20.8821", "55.4507",
                      days=("08:30 - 17:00 / 08:30 - 17:00", "", "", "", "", "")),
            fs_record("2004", "21231", "", ""),
        ],
    )


# ---------------------------------------------------------------- France services


def test_weekly_hours_of_one_row():
    row = pd.Series({day: WEEK for day in anct.FS_DAYS[:5]} | {"h_samedi": ""})
    assert anct.weekly_hours(row) == pytest.approx(5 * 6.5)
    assert anct.weekly_hours(pd.Series({"h_lundi": WEEK})) == pytest.approx(6.5)
    assert anct.weekly_hours(pd.Series({"h_lundi": "9h00 - 12h30"})) == pytest.approx(3.5)
    assert math.isnan(anct.weekly_hours(pd.Series({"h_lundi": "", "h_mardi": "fermé"})))


def test_weekly_hours_counts_repeated_slots_once():
    # Real cells of the national list repeat or overlap slots within one day.
    assert anct.weekly_hours(pd.Series({"h_lundi": "08:30 - 17:00 / 08:30 - 17:00"})) == 8.5
    overlap = "09:00 - 12:30 / 09:00 - 17:00 / 14:00 - 17:00"
    assert anct.weekly_hours(pd.Series({"h_lundi": overlap})) == 8.0


def test_read_france_services(fs_file):
    parsed = anct.read_france_services(fs_file)
    gdf = parsed.frame
    assert parsed.layer == "france_services"
    assert parsed.vintage == "2024-08-01"
    assert len(gdf) == 5  # the quoted line break does not split a record
    assert gdf["fs_id"].tolist() == ["128", "2001", "2002", "2003", "2004"]
    assert gdf["commune"].tolist() == ["21317", "01053", "2A004", "97411", "21231"]
    assert gdf["name"].iloc[0] == "France services Is-sur-Tille"
    assert gdf["fs_type"].tolist()[2] == "Antenne"
    assert gdf["format"].tolist()[2] == "Itinérant"
    hours = gdf["weekly_hours"].tolist()
    assert hours[0] == pytest.approx(32.5)
    assert hours[1] == pytest.approx(4 * 6.5 + 3 + 3)
    assert math.isnan(hours[2])
    assert hours[3] == pytest.approx(8.5)
    assert gdf.crs.to_epsg() == 4326
    assert (gdf.geometry.iloc[0].x, gdf.geometry.iloc[0].y) == pytest.approx((5.112966, 47.5216))
    assert (gdf.geometry.iloc[3].x, gdf.geometry.iloc[3].y) == pytest.approx((55.4507, -20.8821))
    assert gdf.geometry.iloc[4] is None
    assert parsed.notes == ["1 structure(s) sans coordonnées."]


def test_swapped_coordinates(tmp_path):
    path = write_fs(
        tmp_path / "inverse.csv",
        [fs_record("1", "21317", "47.5216", "5.112966"),
         fs_record("2", "21231", "5.0415", "47.3220")],  # Dijon, latitude/longitude swapped
    )
    with pytest.raises(InputError, match=r"inverse\.csv, ligne 3, champ « latitude » : "
                                         r"coordonnées hors limites"):
        anct.read_france_services(path)


def test_out_of_range_coordinates(tmp_path):
    path = write_fs(tmp_path / "hors.csv", [fs_record("1", "97411", "55.45", "-200.88")])
    with pytest.raises(InputError, match=r"hors\.csv, ligne 2, champ « latitude » : "
                                         r"coordonnées hors limites"):
        anct.read_france_services(path)


def test_missing_column(tmp_path):
    path = tmp_path / "liste.csv"
    path.write_text('"insee_com","latitude","longitude"\n"21231",47.3,5.0\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"colonne « id_fs » absente"):
        anct.read_france_services(path)


def test_non_numeric_latitude(tmp_path):
    path = write_fs(tmp_path / "texte.csv", [fs_record("1", "21231", "47°19'", "5.04")])
    with pytest.raises(InputError, match=r"ligne 2, champ « latitude » : valeur non numérique"):
        anct.read_france_services(path)


# --------------------------------------------------------------------------- QPV

L93 = "EPSG:2154"


def test_qpv_2024_contours(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"code_qp": ["QN02102M", "QN02103M"], "lib_qp": ["Fontaine D'Ouche", "Les Grésilles"],
         "insee_com": ["21231", "21231"]},
        geometry=[box(850_000, 6_690_000, 851_000, 6_691_000),
                  box(855_000, 6_694_000, 856_000, 6_695_000)],
        crs=L93,
    ).to_crs("EPSG:4326")
    path = tmp_path / "QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson"
    gdf.to_file(path, driver="GeoJSON")
    parsed = anct.read_qpv(path, crs=L93)
    frame = parsed.frame
    assert parsed.layer == "qpv_contours"
    assert parsed.vintage == "2024"
    assert frame.index.name == "qpv"
    assert frame.index.tolist() == ["QN02102M", "QN02103M"]
    assert frame["qpv_name"].tolist() == ["Fontaine D'Ouche", "Les Grésilles"]
    assert frame["communes"].tolist() == ["21231", "21231"]
    assert frame["geography"].tolist() == ["qpv_2024", "qpv_2024"]
    assert frame.crs.to_epsg() == 2154
    assert frame.geometry.area.tolist() == pytest.approx([1e6, 1e6], rel=1e-6)


def test_qpv_2015_contours(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"CODE_QP": ["QP021001", "QP021002"], "NOM_QP": ["Le Mail", "Fontaine d'Ouche"],
         "COMMUNE_QP": ["21166", "21231"]},
        geometry=[box(852_000, 6_686_000, 853_000, 6_687_000),
                  box(850_000, 6_690_000, 851_000, 6_691_000)],
        crs=L93,
    )
    path = tmp_path / "QP_METROPOLE_LB93.shp"
    gdf.to_file(path, driver="ESRI Shapefile")
    parsed = anct.read_qpv(path)
    frame = parsed.frame
    assert parsed.layer == "qpv_contours"
    assert frame.index.tolist() == ["QP021001", "QP021002"]
    assert frame["qpv_name"].tolist() == ["Le Mail", "Fontaine d'Ouche"]
    assert frame["communes"].tolist() == ["21166", "21231"]
    assert set(frame["geography"]) == {"qpv_2015"}
    assert frame.crs.to_epsg() == 2154


def test_qpv_points_give_a_list(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"insee_com": ["21231", "21166"], "lib_com": ["Dijon", "Chenôve"],
         "code_qp": ["QN02102M, QN02103M", "QN02101M"],
         "lib_qp": ["Fontaine D'Ouche, Les Grésilles", "Le Mail"]},
        geometry=[Point(5.0375, 47.3227), Point(5.0053, 47.2924)],
        crs="EPSG:4326",
    )
    path = tmp_path / "centroide-4326_qpv.geojson"
    gdf.to_file(path, driver="GeoJSON")
    parsed = anct.read_qpv(path)
    assert parsed.layer == "qpv_list"
    assert parsed.frame.to_dict("records") == [
        {"qpv": "QN02102M", "qpv_name": "Fontaine D'Ouche", "commune": "21231",
         "geography": "qpv_2024"},
        {"qpv": "QN02103M", "qpv_name": "Les Grésilles", "commune": "21231",
         "geography": "qpv_2024"},
        {"qpv": "QN02101M", "qpv_name": "Le Mail", "commune": "21166", "geography": "qpv_2024"},
    ]


def test_qpv_without_code_field(tmp_path):
    gdf = gpd.GeoDataFrame({"nom": ["x"]}, geometry=[box(0, 0, 1, 1)], crs=L93)
    path = tmp_path / "autre.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match=r"autre\.geojson : champ code_qp \(ou CODE_QP\)"):
        anct.read_qpv(path)


def test_qpv_geography_and_fields():
    assert anct.qpv_geography("QN02102M") == "qpv_2024"
    assert anct.qpv_geography("QP021001") == "qpv_2015"
    assert anct.qpv_fields_present(["CODE_QP", "NOM_QP"])
    assert not anct.qpv_fields_present(["code_iris"])


# ---------------------------------------------------------------------- real data


@pytest.mark.real_data
def test_real_france_services_national(real_data):
    parsed = anct.read_france_services(real_data / "france_services" / "liste-fs-20240801.csv")
    gdf = parsed.frame
    assert len(gdf) == 2845
    assert gdf["fs_id"].is_unique
    assert parsed.vintage == "2024-08-01"
    assert parsed.notes == []
    assert gdf.geometry.notna().all()
    assert (gdf["commune"].str.startswith("21")).sum() == 26
    # weekly hours: plausible once repeated slots are counted once
    assert gdf["weekly_hours"].notna().sum() == 2797
    assert gdf["weekly_hours"].max() <= 60
    assert gdf["weekly_hours"].median() == pytest.approx(29.0)


@pytest.mark.real_data
def test_real_france_services_dep21(real_data):
    parsed = anct.read_france_services(
        real_data / "france_services" / "liste-fs-20240801_dep21.csv"
    )
    gdf = parsed.frame.set_index("fs_id")
    assert len(gdf) == 26
    assert gdf["commune"].str.startswith("21").all()
    assert gdf.loc["128", "name"] == "France services Is-sur-Tille"
    assert gdf.loc["128", "weekly_hours"] == pytest.approx(4 * 6.5 + 6)
    assert gdf.loc["129", "weekly_hours"] == pytest.approx(3 * 8 + 2 * 3.5)
    assert gdf.loc["130", "weekly_hours"] == pytest.approx(5 * 7)
    metropole = {"21166", "21515", "21617"}
    assert metropole <= set(gdf["commune"])
    assert "21231" not in set(gdf["commune"])  # none in the commune of Dijon
    bounds = gdf.total_bounds
    assert 4.0 < bounds[0] < bounds[2] < 5.6 and 46.9 < bounds[1] < bounds[3] < 48.1


@pytest.mark.real_data
def test_real_qpv_list(real_data):
    parsed = anct.read_qpv(real_data / "qpv" / "centroide-4326_qpv_dep21.geojson")
    frame = parsed.frame
    assert parsed.layer == "qpv_list"
    assert len(frame) == 6
    assert sorted(frame["qpv"]) == [f"QN0210{i}{'N' if i == 6 else 'M'}" for i in range(1, 7)]
    assert set(frame["geography"]) == {"qpv_2024"}
    assert frame.loc[frame["commune"] == "21231", "qpv_name"].tolist() == [
        "Fontaine D'Ouche", "Les Grésilles",
    ]
    assert frame.set_index("qpv").loc["QN02106N", "commune"] == "21515"


@pytest.mark.real_data
def test_fixture_header_is_the_real_one(real_data):
    path = real_data / "france_services" / "liste-fs-20240801_dep21.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] == FS_HEADER
