"""IGN readers: CONTOURS-IRIS (3.0 lower-case GeoPackage, 2.x upper-case shapefile/GeoJSON)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from fragility.errors import InputError
from fragility.sources import ign

# --------------------------------------------------------------------------- helpers

#: Three IRIS in Lambert-93 around Dijon: 1 km squares side by side.
X0, Y0 = 853_000, 6_694_000
IRIS_ROWS = [
    ("21231", "Dijon", "0101", "212310101", "Darcy-Victor Hugo", "H"),
    ("21231", "Dijon", "1203", "212311203", "Edouard Belin", "H"),
    ("01001", "L'Abergement-Clémenciat", "0000", "010010000", "L'Abergement-Clémenciat", "Z"),
]
FIELDS_3 = ("code_insee", "nom_commune", "iris", "code_iris", "nom_iris", "type_iris")
FIELDS_2 = ("INSEE_COM", "NOM_COM", "IRIS", "CODE_IRIS", "NOM_IRIS", "TYP_IRIS")


def squares(n: int = 3) -> list[Polygon]:
    return [box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000) for i in range(n)]


def iris_frame(fields=FIELDS_3, rows=IRIS_ROWS, geometries=None, crs="EPSG:2154"):
    """GeoDataFrame of IRIS contours with the given edition's field names (in Lambert-93)."""
    data = {name: [row[i] for row in rows] for i, name in enumerate(fields)}
    gdf = gpd.GeoDataFrame(data, geometry=geometries or squares(len(rows)), crs="EPSG:2154")
    return gdf if crs == "EPSG:2154" else gdf.to_crs(crs)


def write_gpkg_3_0(path: Path, gdf=None) -> Path:
    """CONTOURS-IRIS 3.0 GeoPackage, with an unrelated layer first (as a real pack may have)."""
    other = gpd.GeoDataFrame({"nom": ["emprise"]}, geometry=[box(X0, Y0, X0 + 3000, Y0 + 1000)],
                             crs="EPSG:2154")
    other.to_file(path, layer="emprise", driver="GPKG")
    (gdf if gdf is not None else iris_frame()).to_file(path, layer="contours_iris",
                                                        driver="GPKG")
    return path


def write_shp_2_x(path: Path, gdf=None) -> Path:
    (gdf if gdf is not None else iris_frame(FIELDS_2)).to_file(path, driver="ESRI Shapefile")
    return path


def write_geojson_4326(path: Path, fields=FIELDS_2) -> Path:
    iris_frame(fields, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return path


# ------------------------------------------------------------------------ editions


def test_gpkg_contours_iris_3_0_lower_case_fields(tmp_path):
    parsed = ign.read_iris_contours(write_gpkg_3_0(tmp_path / "iris.gpkg"))
    gdf = parsed.frame
    assert parsed.layer == "iris_contours"
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.index.name == "iris"
    assert gdf.index.tolist() == ["212310101", "212311203", "010010000"]
    assert gdf["commune"].tolist() == ["21231", "21231", "01001"]
    assert gdf["commune_name"].tolist()[2] == "L'Abergement-Clémenciat"
    assert gdf["iris_name"].tolist()[1] == "Edouard Belin"
    assert gdf["iris_type"].tolist() == ["H", "H", "Z"]
    assert set(gdf.columns) == {"commune", "commune_name", "iris_name", "iris_type", "geometry"}
    assert gdf.crs.to_epsg() == 2154
    assert gdf.geometry.area.tolist() == pytest.approx([1e6, 1e6, 1e6])
    assert parsed.layout == "officiel"
    assert parsed.notes == []


def test_shapefile_contours_iris_2_x_upper_case_fields(tmp_path):
    parsed = ign.read_iris_contours(write_shp_2_x(tmp_path / "CONTOURS-IRIS.shp"))
    gdf = parsed.frame
    assert gdf.index.tolist() == ["212310101", "212311203", "010010000"]
    assert gdf["commune"].tolist() == ["21231", "21231", "01001"]
    assert gdf["iris_type"].tolist() == ["H", "H", "Z"]
    assert "IRIS" not in gdf.columns  # the 4-character code is dropped, not confused
    assert gdf.crs.to_epsg() == 2154
    assert parsed.layout == "officiel"


def test_geojson_reprojected_on_read(tmp_path):
    path = write_geojson_4326(tmp_path / "contours_iris_2020.geojson")
    raw = ign.read_iris_contours(path)
    assert raw.frame.crs.to_epsg() == 4326
    assert raw.layout == "extrait (GeoJSON)"
    assert raw.vintage == "2020"
    parsed = ign.read_iris_contours(path, crs="EPSG:2154")
    gdf = parsed.frame
    assert gdf.crs.to_epsg() == 2154
    assert any("reprojeté de EPSG:4326 vers EPSG:2154" in n for n in parsed.notes)
    minx, miny, _, _ = gdf.loc["212310101"].geometry.bounds
    assert (minx, miny) == pytest.approx((X0, Y0), abs=0.01)
    assert gdf.geometry.area.tolist() == pytest.approx([1e6] * 3, rel=1e-6)


def test_geojson_3_0_fields(tmp_path):
    parsed = ign.read_iris_contours(write_geojson_4326(tmp_path / "iris.geojson", FIELDS_3),
                                    crs="EPSG:2154")
    assert parsed.frame.index.tolist() == ["212310101", "212311203", "010010000"]
    assert parsed.frame["iris_type"].tolist() == ["H", "H", "Z"]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_missing_crs_is_an_error(tmp_path):
    path = write_shp_2_x(tmp_path / "sans_crs.shp", iris_frame(FIELDS_2).set_crs(None,
                                                                                 allow_override=True))
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InputError, match=r"sans_crs\.shp : .*ne déclare pas de système de "
                                         r"coordonnées"):
        ign.read_iris_contours(path)


def test_bow_tie_polygon_repaired_with_note(tmp_path):
    bow_tie = Polygon([(X0, Y0), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0), (X0, Y0 + 1000)])
    assert not bow_tie.is_valid
    gdf = iris_frame(geometries=[bow_tie, *squares(3)[1:]])
    parsed = ign.read_iris_contours(write_gpkg_3_0(tmp_path / "noeud.gpkg", gdf))
    assert parsed.frame.geometry.is_valid.all()
    repaired = parsed.frame.loc["212310101"].geometry
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(500_000)  # two triangles of 250 000 m²
    assert parsed.notes == ["1 géométrie(s) invalide(s) réparée(s) (make_valid)."]


def test_missing_iris_code_field(tmp_path):
    gdf = iris_frame(FIELDS_2).drop(columns=["CODE_IRIS"])
    path = tmp_path / "sans_code.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match="champ CODE_IRIS \\(ou code_iris\\) introuvable"):
        ign.read_iris_contours(path)


def test_malformed_and_duplicated_iris_codes(tmp_path):
    rows = [IRIS_ROWS[0], (*IRIS_ROWS[1][:3], "2123112030", *IRIS_ROWS[1][4:]), IRIS_ROWS[2]]
    bad = write_gpkg_3_0(tmp_path / "mal.gpkg", iris_frame(rows=rows))
    with pytest.raises(InputError, match=r"mal\.gpkg, ligne 2, champ « CODE_IRIS » : code mal "
                                         r"formé « 2123112030 »"):
        ign.read_iris_contours(bad)
    dup = write_gpkg_3_0(tmp_path / "dup.gpkg", iris_frame(rows=[IRIS_ROWS[0], IRIS_ROWS[0]]))
    with pytest.raises(InputError, match=r"code « 212310101 » présent plusieurs fois"):
        ign.read_iris_contours(dup)


def test_iris_fields_present():
    assert ign.iris_fields_present(list(FIELDS_3))
    assert ign.iris_fields_present(list(FIELDS_2))
    assert not ign.iris_fields_present(["code", "nom"])


def test_commune_contours(tmp_path):
    gdf = gpd.GeoDataFrame({"code": ["21231", "2A004"], "nom": ["Dijon", "Ajaccio"]},
                           geometry=squares(2), crs="EPSG:2154").to_crs("EPSG:4326")
    path = tmp_path / "communes.geojson"
    gdf.to_file(path, driver="GeoJSON")
    parsed = ign.read_commune_contours(path, crs="EPSG:2154")
    assert parsed.layer == "commune_contours"
    assert parsed.frame.index.tolist() == ["21231", "2A004"]
    assert parsed.frame["commune_name"].tolist() == ["Dijon", "Ajaccio"]
    assert parsed.frame.crs.to_epsg() == 2154
    assert parsed.frame.geometry.area.tolist() == pytest.approx([1e6, 1e6], rel=1e-6)


# ---------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_contours(real_data):
    return ign.read_iris_contours(
        real_data / "iris_contours" / "contours_iris_2020_dep21.geojson", crs="EPSG:2154"
    )


@pytest.mark.real_data
def test_real_iris_contours(real_contours):
    gdf = real_contours.frame
    assert len(gdf) == 814
    assert gdf.crs.to_epsg() == 2154
    assert gdf["iris_type"].value_counts().to_dict() == {"Z": 682, "H": 117, "A": 13, "D": 2}
    assert gdf["commune"].nunique() == 698
    assert (gdf["commune"] == "21231").sum() == 66
    assert gdf.index.is_unique
    assert gdf.geometry.is_valid.all()
    assert real_contours.vintage == "2020"
    assert real_contours.layout == "extrait (GeoJSON)"
    assert real_contours.notes == ["reprojeté de EPSG:4326 vers EPSG:2154."]
    # PROVENANCE §1: summed area 8 743 km², Dijon 41.3 km² (Lambert-93 areas are ~0.5 %
    # larger here: the projection is conformal, not equal-area).
    assert gdf.geometry.area.sum() / 1e6 == pytest.approx(8743, rel=0.01)
    dijon = gdf.loc[gdf["commune"] == "21231"].geometry.area.sum() / 1e6
    assert dijon == pytest.approx(41.3, rel=0.02)
    minx, miny, maxx, maxy = gdf.total_bounds
    assert 760_000 < minx < maxx < 920_000
    assert 6_600_000 < miny < maxy < 6_800_000
    assert gdf.loc["212311203", "iris_name"] == "Édouard Belin"


@pytest.mark.real_data
def test_real_iris_contours_not_reprojected_without_crs(real_data):
    path = real_data / "iris_contours" / "contours_iris_2020_dep21.geojson"
    parsed = ign.read_iris_contours(path)
    assert parsed.frame.crs.to_epsg() == 4326
    assert parsed.notes == []


@pytest.mark.real_data
def test_real_commune_contours(real_data):
    parsed = ign.read_commune_contours(
        real_data / "communes_contours" / "communes-21-cote-d-or.geojson", crs="EPSG:2154"
    )
    assert len(parsed.frame) == 704
    assert parsed.frame.loc["21231", "commune_name"] == "Dijon"
    assert parsed.frame.crs.to_epsg() == 2154
