"""Registry contract and discovery of a data folder by content (never by file name)."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import py7zr
import pytest
from shapely.geometry import box

from fragility import sources
from fragility.errors import InputError, UnknownCodeError
from fragility.sources import identify

# --------------------------------------------------------------------------- registry


def test_registry_contract():
    assert sources.REGISTRY
    for name, source in sources.REGISTRY.items():
        assert source.name == name
        assert source.publisher, name
        assert re.fullmatch(r"20\d\d(-\d\d-\d\d)?", source.vintage), name
        assert "Licence Ouverte" in source.licence, name
        assert source.filename and "/" not in source.filename, name
        assert source.layer in sources.LAYERS, name
        if source.url:
            assert source.url.startswith("https://"), name
        else:
            assert "--data-dir" in source.notes_fr, name
        assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256), name
        assert source.title_fr, name


def test_registry_covers_every_publisher_module():
    layers = {s.layer for s in sources.REGISTRY.values()}
    assert {"census_population", "filosofi_iris", "iris_contours", "france_services",
            "qpv_contours", "cog_communes", "cog_epci"} <= layers
    assert sources.REGISTRY["anct_france_services_20240801"].sha256 == (
        "6eabcb0792c8681af513e65560a7dea08e15d3e72b070a14ca1fed032164efad"
    )


def test_list_sources_table():
    table = sources.list_sources()
    assert set(table.index) == set(sources.REGISTRY)
    assert table.loc["insee_rp2017_population", "publisher"] == "INSEE"
    assert table.loc["insee_rp2017_population", "layer"] == "census_population"


@pytest.mark.parametrize("name", sorted(sources.REGISTRY))
def test_describe_is_french(name):
    text = sources.describe(name)
    source = sources.REGISTRY[name]
    assert text.splitlines()[0] == source.title_fr
    assert f"éditeur : {source.publisher}" in text
    assert f"millésime : {source.vintage}" in text
    assert "licence : " in text and "empreinte SHA-256 : " in text
    if not source.url:
        assert "(à fournir via --data-dir)" in text


def test_describe_unknown_name_suggests_close_names():
    with pytest.raises(UnknownCodeError, match=r"source inconnue : « insee_rp2017_populaton ».*"
                                               r"Vouliez-vous dire : insee_rp2017_population"):
        sources.describe("insee_rp2017_populaton")
    with pytest.raises(UnknownCodeError, match=r"source inconnue : « zzz »\.$"):
        sources.describe("zzz")


# --------------------------------------------------------------------- real data pack

PACK_LAYERS = {
    "census/activite_residents_21_rp2017.csv": "census_activite",
    "census/couples_familles_menages_21_rp2017.csv": "census_familles",
    "census/diplomes_formation_21_rp2017.csv": "census_diplomes",
    "census/iris_data_perc_voit_2020_dep21.csv": "census_car_derived",
    "census/logement_21_rp2017.csv": "census_logement",
    "census/pop_21_rp2017.csv": "census_population",
    "cog/communes_dep21.json": "cog_communes",
    "cog/epci_dep21.json": "cog_epci",
    "communes_contours/communes-21-cote-d-or.geojson": "commune_contours",
    "filosofi/filosofi_iris_2019_disp_dep21_extract.csv": "filosofi_iris",
    "france_services/liste-fs-20240801.csv": "france_services",
    "france_services/liste-fs-20240801_dep21.csv": "france_services",
    "iris_contours/contours_iris_2020_dep21.geojson": "iris_contours",
    "qpv/centroide-4326_qpv_dep21.geojson": "qpv_list",
}
FS_SOURCE = "anct_france_services_20240801"


def layers_by_file(catalogue, root: Path) -> dict[str, str]:
    return {
        f.path.relative_to(root).as_posix(): layer
        for layer, files in catalogue.files.items()
        for f in files
    }


@pytest.fixture
def pack(real_data):
    # Function scope: discover() uses the cache, isolated per test by conftest.
    return sources.discover(real_data)


@pytest.mark.real_data
def test_discover_real_pack(pack, real_data):
    assert layers_by_file(pack, real_data) == PACK_LAYERS
    assert pack.ignored == []  # PROVENANCE.md is skipped, not "ignored"
    assert pack.root == real_data


@pytest.mark.real_data
def test_discover_real_pack_vintages_and_sources(pack, real_data):
    by_name = {f.path.name: f for files in pack.files.values() for f in files}
    for name in ("pop_21_rp2017.csv", "logement_21_rp2017.csv",
                 "couples_familles_menages_21_rp2017.csv", "diplomes_formation_21_rp2017.csv",
                 "activite_residents_21_rp2017.csv"):
        assert by_name[name].vintage == "2017", name
    assert by_name["filosofi_iris_2019_disp_dep21_extract.csv"].vintage == "2019"
    assert by_name["iris_data_perc_voit_2020_dep21.csv"].vintage == "2020"
    assert by_name["contours_iris_2020_dep21.geojson"].vintage == "2020"
    assert by_name["contours_iris_2020_dep21.geojson"].layout == "extrait"
    national = by_name["liste-fs-20240801.csv"]
    assert national.source == FS_SOURCE
    assert national.vintage == "2024-08-01"
    assert national.sha256 == sources.REGISTRY[FS_SOURCE].sha256
    assert by_name["liste-fs-20240801_dep21.csv"].source is None
    assert {f.source for n, f in by_name.items() if n != "liste-fs-20240801.csv"} == {None}
    assert pack.has("france_services") and not pack.has("bpe")


@pytest.mark.real_data
def test_catalogue_read_france_services_merges(pack):
    parsed = pack.read("france_services")
    assert parsed.layer == "france_services"
    assert len(parsed.frame) == 2845
    assert parsed.frame["fs_id"].is_unique
    assert parsed.vintage == "2024-08-01"
    assert "26 enregistrement(s) présents dans plusieurs fichiers, gardés une fois." in parsed.notes


@pytest.mark.real_data
def test_catalogue_read_other_real_layers(pack):
    assert len(pack.read("census_population").frame) == 816
    assert pack.read("census_population").frame["P_POP"].sum() == 533_826
    contours = pack.read("iris_contours", crs="EPSG:2154")
    assert len(contours.frame) == 814 and contours.frame.crs.to_epsg() == 2154
    assert len(pack.read("qpv_list").frame) == 6
    assert pack.read("cog_epci").frame["epci"].nunique() == 19
    assert pack.read("bpe") is None


@pytest.mark.real_data
def test_discover_renamed_files(real_data, tmp_path):
    folder = tmp_path / "donnees"
    (folder / "sous-dossier").mkdir(parents=True)
    expected = {}
    alternative = {".csv": ".txt", ".geojson": ".json"}
    for i, (relative, layer) in enumerate(sorted(PACK_LAYERS.items())):
        suffix = Path(relative).suffix
        if i % 2:  # half of them also lose their usual extension
            suffix = alternative.get(suffix, suffix)
        name = f"{'sous-dossier/' if i % 3 == 0 else ''}fichier_{i:02d}{suffix}"
        shutil.copyfile(real_data / relative, folder / name)
        expected[name] = layer
    catalogue = sources.discover(folder)
    assert layers_by_file(catalogue, folder) == expected
    assert catalogue.ignored == []
    national = [f for f in catalogue.files["france_services"] if f.source == FS_SOURCE]
    assert len(national) == 1  # recognised by checksum, whatever its name
    assert len(catalogue.read("france_services").frame) == 2845
    census = {f.path.name: f.vintage for f in catalogue.files["census_population"]}
    assert list(census.values()) == ["2017"]  # vintage read from the columns, not the name


# ------------------------------------------------------------------- synthetic folders

POP_HEADER = "IRIS;REG;DEP;COM;LIBCOM;LIBIRIS;TYP_IRIS;MODIF_IRIS;LAB_IRIS;{yy}_POP;{yy}_POP0014"
POP_ROWS = [
    "212310101;27;21;21231;Dijon;Darcy-Victor Hugo;H;00;1;{a};190",
    "010010000;84;01;01001;L'Abergement-Clémenciat;L'Abergement-Clémenciat;Z;00;5;{b};136",
]


def write_pop(path: Path, yy: str, a: float, b: float) -> Path:
    lines = [POP_HEADER.format(yy=f"P{yy}"), *(r.format(a=a, b=b) for r in POP_ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_iris_gpkg(path: Path) -> Path:
    gdf = gpd.GeoDataFrame(
        {"code_insee": ["21231", "21231"], "nom_commune": ["Dijon", "Dijon"],
         "iris": ["0101", "0102"], "code_iris": ["212310101", "212310102"],
         "nom_iris": ["Darcy-Victor Hugo", "Sainte-Anne"], "type_iris": ["H", "H"]},
        geometry=[box(853_000, 6_694_000, 854_000, 6_695_000),
                  box(854_000, 6_694_000, 855_000, 6_695_000)],
        crs="EPSG:2154",
    )
    gdf.to_file(path, layer="contours_iris", driver="GPKG")
    return path


def test_unknown_csv_is_listed_as_ignored(tmp_path):
    write_pop(tmp_path / "population.csv", "20", 2905, 767)
    (tmp_path / "inconnu.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("# notes\n", encoding="utf-8")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "cache.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    catalogue = sources.discover(tmp_path)
    assert catalogue.ignored == [(tmp_path / "inconnu.csv", "contenu non reconnu")]
    assert list(catalogue.files) == ["census_population"]


def test_two_census_vintages_most_recent_used(tmp_path):
    write_pop(tmp_path / "a.csv", "17", 2800, 770)
    write_pop(tmp_path / "b.csv", "20", 2905, 767)
    catalogue = sources.discover(tmp_path)
    assert sorted(f.vintage for f in catalogue.files["census_population"]) == ["2017", "2020"]
    parsed = catalogue.read("census_population")
    assert parsed.vintage == "2020"
    assert parsed.columns["P_POP"] == "P20_POP"
    assert parsed.frame.loc["212310101", "P_POP"] == 2905
    assert parsed.notes == ["a.csv ignoré (millésime 2017, 2020 retenu)."]
    older = catalogue.read("census_population", vintage="2017")
    assert older.frame.loc["212310101", "P_POP"] == 2800
    assert older.notes == ["b.csv ignoré (millésime 2020, 2017 retenu)."]
    with pytest.raises(InputError, match=r"aucun fichier de la couche « census_population » au "
                                         r"millésime 2015 \(millésimes trouvés : 2017, 2020\)"):
        catalogue.read("census_population", vintage="2015")


def test_seven_zip_extracted_into_cache_not_folder(tmp_path):
    folder = tmp_path / "donnees"
    folder.mkdir()
    staging = tmp_path / "staging"
    staging.mkdir()
    gpkg = write_iris_gpkg(staging / "iris.gpkg")
    archive = folder / "CONTOURS-IRIS_3-0__GPKG_LAMB93_FXX_2024-01-01.7z"
    with py7zr.SevenZipFile(archive, "w") as seven:
        seven.write(gpkg, "CONTOURS-IRIS/1_DONNEES_LIVRAISON/iris.gpkg")
    catalogue = sources.discover(folder)
    assert sorted(p.name for p in folder.rglob("*")) == [archive.name]  # folder untouched
    [found] = catalogue.files["iris_contours"]
    cache = sources.data_home()
    assert found.path.is_relative_to(cache / "extracted")
    assert found.path.name == "iris.gpkg"
    assert found.layout == "officiel"
    parsed = catalogue.read("iris_contours")
    assert parsed.frame.index.tolist() == ["212310101", "212310102"]
    assert parsed.frame.crs.to_epsg() == 2154
    # a second scan reuses the extraction
    again = sources.discover(folder)
    assert [f.path for f in again.files["iris_contours"]] == [found.path]


def test_zip_with_insee_dictionary_recognised(tmp_path):
    data = write_pop(tmp_path / "base-ic-evol-struct-pop-2020.CSV", "20", 2905, 767)
    folder = tmp_path / "donnees"
    folder.mkdir()
    with zipfile.ZipFile(folder / "base-ic-evol-struct-pop-2020_csv.zip", "w") as archive:
        archive.write(data, data.name)
        archive.writestr("meta_base-ic-evol-struct-pop-2020.CSV", "COD_VAR;LIB_VAR\n")
    assert identify(folder / "base-ic-evol-struct-pop-2020_csv.zip") == "census_population"
    catalogue = sources.discover(folder)
    parsed = catalogue.read("census_population")
    assert parsed.vintage == "2020"
    assert parsed.frame.loc["010010000", "P_POP"] == 767


@pytest.mark.parametrize(
    ("text", "layer"),
    [
        ("CODGEO;LIBGEO;NBMENFISC20;MED20;TP6020;PPMINI20\n21231;Dijon;79125;22060;17,8;3,2\n",
         "filosofi_commune"),
        ("IRIS;LIBIRIS;COM;LIBCOM;DISP_TP6020;DISP_MED20\n212310101;X;21231;Dijon;12,1;24630\n",
         "filosofi_iris"),
        ("AN;DEPCOM;DCIRIS;TYPEQU;LAMBERT_X;LAMBERT_Y\n2023;21231;21231_0101;D201;853972;6694530\n",
         "bpe"),
        ("TYPECOM;COM;REG;DEP;CTCD;ARR;TNCC;NCC;NCCENR;LIBELLE;CAN;COMPARENT\n"
         "COM;21231;27;21;21D;212;0;DIJON;Dijon;Dijon;2199;\n", "cog_communes"),
        ("CODGEO;LIBGEO;EPCI;LIBEPCI;DEP;REG\n21231;Dijon;242100410;Dijon Métropole;21;27\n",
         "cog_epci"),
        ("IRIS,perc_voit\n212310101,0.52\n", "census_car_derived"),
        ('"id_fs","lib_fs","insee_com","latitude","longitude"\n"1","FS","21231",47.3,5.0\n',
         "france_services"),
        ("a;b\n1;2\n", None),
    ],
)
def test_identify_by_header(tmp_path, text, layer):
    path = tmp_path / "fichier.csv"
    path.write_text(text, encoding="utf-8")
    assert identify(path) == layer


def test_identify_vectors_and_xlsx(tmp_path):
    gpkg = write_iris_gpkg(tmp_path / "a.gpkg")
    assert identify(gpkg) == "iris_contours"
    qpv = gpd.GeoDataFrame({"code_qp": ["QN02102M"], "lib_qp": ["Fontaine D'Ouche"],
                            "insee_com": ["21231"]},
                           geometry=[box(5.0, 47.3, 5.01, 47.31)], crs="EPSG:4326")
    qpv.to_file(tmp_path / "b.geojson", driver="GeoJSON")
    assert identify(tmp_path / "b.geojson") == "qpv_contours"
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Composition_communale"
    book.save(tmp_path / "c.xlsx")
    assert identify(tmp_path / "c.xlsx") == "cog_epci"
    (tmp_path / "d.json").write_text('{"a": 1}', encoding="utf-8")
    assert identify(tmp_path / "d.json") is None
    (tmp_path / "e.gpkg").write_bytes(b"not a geopackage")
    assert identify(tmp_path / "e.gpkg") is None


def test_discover_requires_a_folder(tmp_path):
    with pytest.raises(InputError, match="dossier de données introuvable"):
        sources.discover(tmp_path / "absent")
