"""INSEE readers: census IRIS bases, Filosofi (IRIS and communes), BPE.

Official layouts are written as small synthetic files by the helpers below; the real
third-party extracts of the data pack are read in place (``real_data`` fixture).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from fragility.errors import InputError
from fragility.sources import insee

# --------------------------------------------------------------------------- helpers

#: Identity columns of a ``base-ic-*-2020`` file, in INSEE's order.
OFFICIAL_IDENTITY = (
    "IRIS;REG;DEP;UU2020;COM;LIBCOM;TRIRIS;GRD_QUART;LIBIRIS;TYP_IRIS;MODIF_IRIS;LAB_IRIS"
)
#: Population base, official value columns (subset), vintage 2020.
POP_VALUES = "P20_POP;P20_POP0014;P20_POP1529;P20_POP65P;C20_POP15P;C20_MENPSEUL"

#: Identity cells of four IRIS: leading zeros, both Corsican départements, Dijon.
IDENTITY_ROWS = (
    "010010000;84;01;01000;01001;L'Abergement-Clémenciat;ZZZZZZ;0100100;"
    "L'Abergement-Clémenciat (commune non irisée);Z;00;5",
    "2A0040101;94;2A;2A701;2A004;Ajaccio;2A0041;2A00401;Vieille Ville;H;00;1",
    "2B0330000;94;2B;2B701;2B033;Bastia;ZZZZZZ;2B03300;Bastia (commune non irisée);Z;00;5",
    "212310101;27;21;21701;21231;Dijon;212311;2123101;Darcy-Victor Hugo;H;00;1",
)
#: Values of the four IRIS: decimal comma, decimal point, secret blanks.
POP_ROWS = (
    "767,55;136,2;110;146,9;620;102",
    "1234.5;150.25;320;210;1000;",
    ";;;;;",
    "2905;190;1210;420;2650;1290",
)


def write_census(
    path: Path,
    header: str = f"{OFFICIAL_IDENTITY};{POP_VALUES}",
    rows: tuple[str, ...] | list[str] | None = None,
    *,
    encoding: str = "utf-8",
) -> Path:
    """Write a census IRIS base in the official layout (``;``-separated) and return it."""
    if rows is None:
        rows = [f"{ident};{values}" for ident, values in zip(IDENTITY_ROWS, POP_ROWS, strict=True)]
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def write_zip(path: Path, members: dict[str, str]) -> Path:
    """Write a zip archive holding text members (as INSEE ships its CSV files)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text.encode("utf-8"))
    return path


@pytest.fixture
def official_pop(tmp_path) -> Path:
    return write_census(tmp_path / "base-ic-evol-struct-pop-2020.CSV")


# ------------------------------------------------------------------ census, official


def test_official_census_codes_kept_as_strings(official_pop):
    parsed = insee.read_census(official_pop)
    frame = parsed.frame
    assert parsed.layer == "census_population"
    assert frame.index.name == "iris"
    assert frame.index.tolist() == ["010010000", "2A0040101", "2B0330000", "212310101"]
    assert frame["commune"].tolist() == ["01001", "2A004", "2B033", "21231"]
    assert all(isinstance(code, str) for code in frame.index)
    assert frame["iris_type"].tolist() == ["Z", "H", "Z", "H"]
    assert frame["iris_label"].tolist() == ["5", "1", "5", "1"]
    assert frame.loc["2A0040101", "iris_name"] == "Vieille Ville"


def test_official_census_decimal_comma_and_point(official_pop):
    frame = insee.read_census(official_pop).frame
    assert frame.loc["010010000", "P_POP"] == pytest.approx(767.55)
    assert frame.loc["010010000", "P_POP0014"] == pytest.approx(136.2)
    assert frame.loc["2A0040101", "P_POP"] == pytest.approx(1234.5)
    assert frame.loc["2A0040101", "P_POP0014"] == pytest.approx(150.25)
    assert frame["P_POP"].dtype == float
    assert frame["P_POP"].sum() == pytest.approx(767.55 + 1234.5 + 2905)


def test_official_census_secret_blanks_are_nan_and_counted(official_pop):
    parsed = insee.read_census(official_pop)
    frame = parsed.frame
    assert math.isnan(frame.loc["2A0040101", "C_MENPSEUL"])
    assert frame.loc["2B0330000", ["P_POP", "P_POP0014", "C_MENPSEUL"]].isna().all()
    assert parsed.secret.to_dict() == {
        "010010000": 0, "2A0040101": 1, "2B0330000": 6, "212310101": 0,
    }


def test_official_census_vintage_columns_mapped(official_pop):
    parsed = insee.read_census(official_pop)
    assert parsed.vintage == "2020"
    assert parsed.columns == {
        "P_POP": "P20_POP",
        "P_POP0014": "P20_POP0014",
        "P_POP1529": "P20_POP1529",
        "P_POP65P": "P20_POP65P",
        "C_POP15P": "C20_POP15P",
        "C_MENPSEUL": "C20_MENPSEUL",
    }
    assert {"P_POP", "C_MENPSEUL"} <= set(parsed.frame.columns)
    assert not any(c.startswith(("P20_", "C20_")) for c in parsed.frame.columns)


def test_dominant_vintage_wins_over_older_columns(tmp_path):
    header = f"{OFFICIAL_IDENTITY};P20_POP;P20_POP0014;P14_POP"
    rows = [f"{IDENTITY_ROWS[3]};2905;190;2800"]
    parsed = insee.read_census(write_census(tmp_path / "pop.csv", header, rows))
    assert parsed.vintage == "2020"
    assert parsed.columns["P_POP"] == "P20_POP"
    assert parsed.frame.loc["212310101", "P_POP"] == 2905


def test_layout_official_versus_extract(official_pop, tmp_path):
    assert insee.read_census(official_pop).layout == "officiel"
    extract = write_census(
        tmp_path / "pop_21.csv",
        "IRIS;DEP;COM;TYP_IRIS;P17_POP",
        ["212310101;21;21231;H;2905"],
    )
    parsed = insee.read_census(extract)
    assert parsed.layout.startswith("extrait tiers")
    assert "LIBIRIS" in parsed.layout and "LIBCOM" in parsed.layout
    assert parsed.vintage == "2017"


def test_census_in_zip_with_insee_dictionary(tmp_path, official_pop):
    text = official_pop.read_text(encoding="utf-8")
    archive = write_zip(
        tmp_path / "base-ic-evol-struct-pop-2020_csv.zip",
        {
            "base-ic-evol-struct-pop-2020.CSV": text,
            "meta_base-ic-evol-struct-pop-2020.CSV": "COD_VAR;LIB_VAR\nP20_POP;Population\n",
        },
    )
    parsed = insee.read_census(archive)
    assert parsed.layer == "census_population"
    assert len(parsed.frame) == 4
    assert parsed.frame.loc["2A0040101", "P_POP"] == pytest.approx(1234.5)
    explicit = insee.read_census(archive, member="base-ic-evol-struct-pop-2020.CSV")
    assert explicit.frame.equals(parsed.frame)


def test_zip_with_two_data_files_is_refused(tmp_path):
    archive = write_zip(tmp_path / "deux.zip", {"a.csv": "IRIS\n", "b.csv": "IRIS\n"})
    with pytest.raises(InputError, match=r"deux\.zip : archive zip : un seul fichier CSV attendu"):
        insee.read_census(archive)


def test_windows_1252_file(tmp_path):
    path = write_census(tmp_path / "pop_cp1252.csv", encoding="cp1252")
    assert "é".encode("cp1252") in path.read_bytes()  # really not UTF-8
    frame = insee.read_census(path).frame
    assert frame.loc["010010000", "iris_name"] == "L'Abergement-Clémenciat (commune non irisée)"
    assert frame.loc["010010000", "P_POP"] == pytest.approx(767.55)


def test_malformed_code_names_file_line_and_field(tmp_path):
    rows = [f"{IDENTITY_ROWS[0]};{POP_ROWS[0]}", f"{IDENTITY_ROWS[1]};{POP_ROWS[1]}"]
    rows[1] = rows[1].replace("2A0040101", "2A004010", 1)  # 8 characters, line 3
    path = write_census(tmp_path / "mal_forme.csv", rows=rows)
    with pytest.raises(
        InputError, match=r"mal_forme\.csv, ligne 3, champ « IRIS » : code mal formé « 2A004010 »"
    ) as info:
        insee.read_census(path)
    assert info.value.line == 3
    assert info.value.field == "IRIS"


def test_malformed_commune_code(tmp_path):
    rows = [f"{IDENTITY_ROWS[3].replace(';21231;', ';2123X;')};{POP_ROWS[3]}"]
    path = write_census(tmp_path / "commune.csv", rows=rows)
    with pytest.raises(InputError, match=r"ligne 2, champ « COM » : code mal formé « 2123X »"):
        insee.read_census(path)


def test_duplicated_iris(tmp_path):
    rows = [f"{IDENTITY_ROWS[3]};{POP_ROWS[3]}", f"{IDENTITY_ROWS[0]};{POP_ROWS[0]}",
            f"{IDENTITY_ROWS[3]};{POP_ROWS[3]}"]
    path = write_census(tmp_path / "doublon.csv", rows=rows)
    with pytest.raises(
        InputError, match=r"doublon\.csv, ligne 4, champ « IRIS » : code « 212310101 » présent "
        r"plusieurs fois"
    ):
        insee.read_census(path)


def test_non_numeric_cell(tmp_path):
    rows = [f"{IDENTITY_ROWS[0]};{POP_ROWS[0]}", f"{IDENTITY_ROWS[1]};{POP_ROWS[1]}",
            f"{IDENTITY_ROWS[3]};2905;cent;1210;420;2650;1290"]
    path = write_census(tmp_path / "texte.csv", rows=rows)
    with pytest.raises(
        InputError,
        match=r"texte\.csv, ligne 4, champ « P20_POP0014 » : valeur non numérique « cent »",
    ):
        insee.read_census(path)


def test_not_a_census_file(tmp_path):
    path = tmp_path / "autre.csv"
    path.write_text("IRIS;population\n212310101;2905\n", encoding="utf-8")
    with pytest.raises(InputError, match="structure d'une base infracommunale"):
        insee.read_census(path)


@pytest.mark.parametrize(
    ("values", "layer"),
    [
        ("P20_POP;P20_POP0014;P20_POP65P;P20_PMEN;C20_POP15P_CS3", "census_population"),
        ("P20_POP15P;P20_POP15P_MARIEE;C20_MEN;C20_MENPSEUL;C20_FAM;C20_FAMMONO",
         "census_familles"),
        ("P20_LOG;P20_RP;P20_RSECOCC;P20_MEN;P20_RP_VOIT1P;C20_RP_HSTU1P", "census_logement"),
        ("P20_POP0205;P20_SCOL0205;P20_NSCOL15P;P20_NSCOL15P_DIPLMIN;P20_NSCOL15P_SUP5",
         "census_diplomes"),
        ("P20_POP1564;P20_ACT1564;P20_CHOM1564;C20_ACT1564;C20_ACTOCC15P_VOIT",
         "census_activite"),
    ],
)
def test_census_layer_recognises_the_five_bases(values, layer):
    columns = [*OFFICIAL_IDENTITY.split(";"), *values.split(";")]
    assert insee.census_layer(columns) == layer


@pytest.mark.parametrize(
    "columns",
    [
        ["COM", "P20_POP"],  # no IRIS column
        ["IRIS", "perc_voit"],
        ["IRIS", "DISP_TP6020", "DISP_MED20"],
        ["IRIS", "P20_XYZ"],
    ],
)
def test_census_layer_rejects_other_headers(columns):
    assert insee.census_layer(columns) is None


@pytest.mark.parametrize(
    ("values", "row", "layer", "column", "expected"),
    [
        ("C20_MEN;C20_MENPSEUL;C20_FAMMONO", "820,4;310,2;50", "census_familles", "C_MENPSEUL",
         310.2),
        ("P20_LOG;P20_RP;P20_RP_VOIT1P", "1000;900,5;700", "census_logement", "P_RP", 900.5),
        ("P20_NSCOL15P;P20_NSCOL15P_DIPLMIN", "1500;300,5", "census_diplomes",
         "P_NSCOL15P_DIPLMIN", 300.5),
        ("P20_POP1564;P20_ACT1564;P20_CHOM1564", "1800;1400;200,5", "census_activite",
         "P_CHOM1564", 200.5),
    ],
)
def test_read_census_other_bases(tmp_path, values, row, layer, column, expected):
    path = write_census(
        tmp_path / "base.csv", f"{OFFICIAL_IDENTITY};{values}", [f"{IDENTITY_ROWS[1]};{row}"]
    )
    parsed = insee.read_census(path)
    assert parsed.layer == layer
    assert parsed.vintage == "2020"
    assert parsed.frame.loc["2A0040101", column] == pytest.approx(expected)


# ------------------------------------------------------------------------- Filosofi

FILO_IRIS_HEADER = (
    "IRIS;LIBIRIS;COM;LIBCOM;DISP_TP6020;DISP_Q120;DISP_MED20;DISP_Q320;DISP_EQ20;"
    "DISP_D120;DISP_D920;DISP_RD20;DISP_S80S2020;DISP_GI20;DISP_PACT20;DISP_PPMINI20"
)


def write_filosofi_iris(path: Path, header: str = FILO_IRIS_HEADER, rows=None) -> Path:
    """Write a Filosofi IRIS file (``BASE_TD_FILO_DISP_IRIS_2020`` layout)."""
    if rows is None:
        rows = [
            "212311203;Edouard Belin;21231;Dijon;55,9;8420;11240;15620;64,2;6050;24080;4,0;"
            "5,6;0,386;52,1;12,4",
            "212310101;Darcy-Victor Hugo;21231;Dijon;12,1;18510;24630;32360;56,2;12620;"
            "44850;3,6;4,1;0,301;71,2;1,5",
            "2A0040101;Vieille Ville;2A004;Ajaccio;;;19800;;;;;;;;;",
        ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_filosofi_iris_official_layout(tmp_path):
    path = write_filosofi_iris(tmp_path / "BASE_TD_FILO_DISP_IRIS_2020.csv")
    parsed = insee.read_filosofi_iris(path)
    frame = parsed.frame
    assert parsed.layer == "filosofi_iris"
    assert parsed.vintage == "2020"
    assert parsed.layout == "officiel"
    assert frame.index.tolist() == ["212311203", "212310101", "2A0040101"]
    assert parsed.columns["DISP_TP60"] == "DISP_TP6020"
    assert parsed.columns["DISP_Q1"] == "DISP_Q120"
    assert parsed.columns["DISP_S80S20"] == "DISP_S80S2020"
    assert parsed.columns["DISP_MED"] == "DISP_MED20"
    assert parsed.columns["DISP_D9"] == "DISP_D920"
    assert frame.loc["212311203", "DISP_TP60"] == pytest.approx(55.9)
    assert frame.loc["212311203", "DISP_S80S20"] == pytest.approx(5.6)
    assert frame.loc["212310101", "DISP_Q1"] == 18510
    assert frame.loc["2A0040101", "DISP_MED"] == 19800
    assert math.isnan(frame.loc["2A0040101", "DISP_TP60"])
    assert parsed.secret.to_dict() == {"212311203": 0, "212310101": 0, "2A0040101": 11}


def test_filosofi_iris_extract_layout_and_dec_kind(tmp_path):
    extract = write_filosofi_iris(
        tmp_path / "revenus.csv", "INSEE_COM;DEP;IRIS;DISP_TP6019;DISP_MED19",
        ["21231;21;212311203;55.9;11240"],
    )
    parsed = insee.read_filosofi_iris(extract)
    assert parsed.vintage == "2019"
    assert parsed.layout == "extrait tiers (colonnes ajoutées : INSEE_COM, DEP)"
    declared = write_filosofi_iris(
        tmp_path / "dec.csv", "IRIS;DEC_MED20;DEC_TP6020", ["212310101;25100;10,2"]
    )
    parsed = insee.read_filosofi_iris(declared)
    assert parsed.layer == "filosofi_iris_dec"
    assert parsed.frame.loc["212310101", "DEC_TP60"] == pytest.approx(10.2)


def test_filosofi_iris_without_filosofi_columns(tmp_path):
    path = write_filosofi_iris(tmp_path / "rien.csv", "IRIS;POP", ["212310101;12"])
    with pytest.raises(InputError, match=r"rien\.csv : aucune colonne Filosofi"):
        insee.read_filosofi_iris(path)


def test_filosofi_commune(tmp_path):
    path = tmp_path / "cc_filosofi_2020_COM.csv"
    path.write_text(
        "CODGEO;LIBGEO;NBMENFISC20;MED20;TP6020;PPMINI20\n"
        "01001;L'Abergement-Clémenciat;313;24110;;\n"
        "21231;Dijon;79125;22060;17,8;3,2\n"
        "2A004;Ajaccio;31254;21510;17.5;3.6\n",
        encoding="utf-8",
    )
    parsed = insee.read_filosofi_commune(path)
    frame = parsed.frame
    assert parsed.layer == "filosofi_commune"
    assert parsed.vintage == "2020"
    assert parsed.columns == {
        "DISP_NBMENFISC": "NBMENFISC20", "DISP_MED": "MED20", "DISP_TP60": "TP6020",
        "DISP_PPMINI": "PPMINI20",
    }
    assert frame.index.name == "commune"
    assert frame.index.tolist() == ["01001", "21231", "2A004"]
    assert frame.loc["21231", "DISP_TP60"] == pytest.approx(17.8)
    assert frame.loc["2A004", "DISP_PPMINI"] == pytest.approx(3.6)
    assert frame.loc["01001", "DISP_MED"] == 24110
    assert parsed.secret.to_dict() == {"01001": 2, "21231": 0, "2A004": 0}


def test_filosofi_commune_duplicated_code(tmp_path):
    path = tmp_path / "filo.csv"
    path.write_text("CODGEO;MED20\n21231;22060\n21231;22060\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"ligne 3, champ « CODGEO » : code « 21231 » présent"):
        insee.read_filosofi_commune(path)


# ------------------------------------------------------------------------------ BPE


def test_bpe_minimal(tmp_path):
    path = tmp_path / "BPE23.csv"
    path.write_text(
        "AN;DEPCOM;DCIRIS;TYPEQU;LAMBERT_X;LAMBERT_Y\n"
        "2023;01001;01001_0000;A101;848436,5;6563220\n"
        "2023;21231;21231_0101;D201;853972.31;6694530.7\n"
        "2023;2A004;2A004_0101;A203;;\n",
        encoding="utf-8",
    )
    parsed = insee.read_bpe(path)
    gdf = parsed.frame
    assert parsed.layer == "bpe"
    assert parsed.vintage == "2023"
    assert gdf.crs.to_epsg() == 2154
    assert gdf["commune"].tolist() == ["01001", "21231", "2A004"]
    assert gdf["iris"].tolist() == ["010010000", "212310101", "2A0040101"]
    assert gdf["typequ"].tolist() == ["A101", "D201", "A203"]
    first, second, third = gdf.geometry.tolist()
    assert (first.x, first.y) == pytest.approx((848436.5, 6563220))
    assert (second.x, second.y) == pytest.approx((853972.31, 6694530.7))
    assert third is None
    assert parsed.notes == ["1 équipement(s) sans coordonnées."]


# ---------------------------------------------------------------------- real data

CENSUS_FILES = {
    "pop_21_rp2017.csv": "census_population",
    "logement_21_rp2017.csv": "census_logement",
    "couples_familles_menages_21_rp2017.csv": "census_familles",
    "diplomes_formation_21_rp2017.csv": "census_diplomes",
    "activite_residents_21_rp2017.csv": "census_activite",
}


@pytest.mark.real_data
@pytest.mark.parametrize(("name", "layer"), sorted(CENSUS_FILES.items()))
def test_real_census_files(real_data, name, layer):
    parsed = insee.read_census(real_data / "census" / name)
    assert parsed.layer == layer
    assert len(parsed.frame) == 816
    assert parsed.vintage == "2017"
    assert parsed.frame.index.is_unique
    assert parsed.frame.index.str.fullmatch(r"21\d{7}").all()
    assert (parsed.frame["commune"] == parsed.frame.index.str[:5]).all()
    assert parsed.layout.startswith("extrait tiers")
    assert all(v.startswith(("P17_", "C17_")) for v in parsed.columns.values())
    assert parsed.frame["iris_type"].value_counts().to_dict() == {"Z": 684, "H": 117, "A": 13,
                                                                   "D": 2}


@pytest.mark.real_data
def test_real_census_population_totals(real_data):
    frame = insee.read_census(real_data / "census" / "pop_21_rp2017.csv").frame
    assert frame["P_POP"].sum() == 533_826  # PROVENANCE §8
    assert frame.loc[frame["commune"] == "21231", "P_POP"].sum() == 156_923
    assert (frame["commune"] == "21231").sum() == 66
    assert frame.loc["212130000", "P_POP"] == 807  # Crimolois, merged since
    assert frame.loc["212319804", "P_POP"] == 66


@pytest.mark.real_data
def test_real_census_cross_file_consistency(real_data):
    pop = insee.read_census(real_data / "census" / "pop_21_rp2017.csv").frame
    fam = insee.read_census(real_data / "census" / "couples_familles_menages_21_rp2017.csv").frame
    assert pop.index.tolist() == fam.index.tolist()
    assert (fam["C_MENPSEUL"] <= fam["C_MEN"]).all()
    assert fam["C_MEN"].sum() == 247_871
    assert fam["C_MENPSEUL"].sum() == 98_366


@pytest.mark.real_data
def test_real_filosofi_extract(real_data):
    parsed = insee.read_filosofi_iris(
        real_data / "filosofi" / "filosofi_iris_2019_disp_dep21_extract.csv"
    )
    frame = parsed.frame
    assert parsed.layer == "filosofi_iris"
    assert len(frame) == 86
    assert parsed.vintage == "2019"
    assert parsed.columns["DISP_TP60"] == "DISP_TP6019"
    assert frame["DISP_TP60"].isna().sum() == 25
    assert frame.loc["212311203", "DISP_TP60"] == pytest.approx(55.9)
    assert frame.loc["212311202", "DISP_TP60"] == pytest.approx(45.4)
    assert parsed.secret.loc["212311203"] == 0
    assert parsed.secret.sum() == frame.isna().sum().sum()
    assert parsed.layout.startswith("extrait tiers")
    communes = pd.Series(frame.index.str[:5]).value_counts().to_dict()
    assert communes == {"21231": 60, "21054": 9, "21166": 7, "21617": 6, "21171": 4}


@pytest.mark.real_data
def test_real_car_derived(real_data):
    parsed = insee.read_car_derived(real_data / "census" / "iris_data_perc_voit_2020_dep21.csv")
    frame = parsed.frame
    assert parsed.layer == "census_car_derived"
    assert len(frame) == 813
    assert parsed.vintage == "2020"
    assert frame["households_without_car_share"].between(0, 0.64).all()
    assert "212319804" not in frame.index  # Le Bocage, activity IRIS: no value
