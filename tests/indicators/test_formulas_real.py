"""Each base indicator equals its documented formula on the RAW real files (Dijon Métropole).

The raw INSEE files are read here with pandas directly (codes as strings), independently
of the library's parsers, and the formulas recomputed with the published variable names
(``C17_MENPSEUL``…).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fragility.indicators import compute_indicators, describe

pytestmark = pytest.mark.real_data

CODES = {c: str for c in ("IRIS", "COM", "DEP", "REG", "UU2010", "TRIRIS", "GRD_QUART")}
MERGED = {"214520000": "212130000"}  # IRIS of today <- IRIS of a commune merged into it
SAMPLE = ["212311203", "212311202", "211660101", "216170104", "212310101", "214520000"]


def _raw(real_data, name):
    frame = pd.read_csv(real_data / "census" / name, sep=";", dtype=CODES)
    return frame.set_index("IRIS")


@pytest.fixture(scope="module")
def raw(real_data):
    out = {}
    for name, file in {
        "fam": "couples_familles_menages_21_rp2017.csv",
        "log": "logement_21_rp2017.csv",
        "act": "activite_residents_21_rp2017.csv",
        "pop": "pop_21_rp2017.csv",
        "dip": "diplomes_formation_21_rp2017.csv",
    }.items():
        frame = _raw(real_data, file)
        for target, former in MERGED.items():
            numeric = frame.select_dtypes("number").columns
            frame.loc[target, numeric] = frame.loc[[target, former], numeric].sum()
        out[name] = frame
    filo = pd.read_csv(
        real_data / "filosofi" / "filosofi_iris_2019_disp_dep21_extract.csv",
        sep=";",
        dtype={"IRIS": str, "INSEE_COM": str, "DEP": str},
    )
    out["filo"] = filo.set_index("IRIS")
    return out


@pytest.fixture(scope="module")
def values(real_dm):
    return compute_indicators(real_dm)


def _check(values, key, expected, iris):
    np.testing.assert_allclose(
        values.loc[iris, key].to_numpy(dtype=float), expected.loc[iris].to_numpy(dtype=float)
    )


def test_named_iris_by_hand(values):
    # 212311203 (Dijon, Fontaine d'Ouche / Édouard Belin): C17_MEN 1018, C17_MENPSEUL 308.
    row = values.loc["212311203"]
    assert row["one_person_households_share"] == pytest.approx(308 / 1018)
    assert row["one_person_households_share_denominator"] == 1018
    assert row["social_housing_share"] == pytest.approx(977 / 1018)
    assert row["unemployment_rate"] == pytest.approx(368 / 997)
    assert row["poverty_rate"] == pytest.approx(0.559)
    assert row["one_person_households_share_status"] == "ok"


def test_census_ratios_equal_raw_formulas(values, raw):
    iris = pd.Index(SAMPLE)
    fam, log, act, pop, dip = (raw[k] for k in ("fam", "log", "act", "pop", "dip"))
    _check(values, "one_person_households_share", fam["C17_MENPSEUL"] / fam["C17_MEN"], iris)
    _check(values, "single_parent_share", fam["C17_FAMMONO"] / fam["C17_FAM"], iris)
    _check(values, "unemployment_rate", act["P17_CHOM1564"] / act["P17_ACT1564"], iris)
    _check(values, "social_housing_share", log["P17_RP_LOCHLMV"] / log["P17_RP"], iris)
    _check(values, "owner_share", log["P17_RP_PROP"] / log["P17_RP"], iris)
    _check(values, "households_without_car_share", 1 - log["P17_RP_VOIT1P"] / log["P17_RP"], iris)
    _check(values, "pop75_share", pop["P17_POP75P"] / pop["P17_POP"], iris)
    _check(values, "immigrant_share", pop["P17_POP_IMM"] / pop["P17_POP"], iris)
    levels = [c for c in dip.columns if c.startswith("P17_NSCOL15P_")]
    assert len(levels) == 7
    _check(values, "no_diploma_share", dip["P17_NSCOL15P_DIPLMIN"] / dip[levels].sum(axis=1), iris)


def test_every_iris_matches_the_raw_file(values, raw):
    """Not only a sample: every IRIS of the territory present in the raw file."""
    fam = raw["fam"]
    iris = values.index.intersection(fam.index)
    assert len(iris) == len(values)
    expected = (fam["C17_MENPSEUL"] / fam["C17_MEN"]).where(fam["C17_MEN"] > 0)
    np.testing.assert_allclose(values.loc[iris, "one_person_households_share"], expected.loc[iris])
    zero = iris[fam.loc[iris, "C17_MEN"] == 0]
    assert (values.loc[zero, "one_person_households_share_status"] == "denominateur_nul").all()
    small = iris[(fam.loc[iris, "C17_MEN"] > 0) & (fam.loc[iris, "C17_MEN"] < 30)]
    assert len(small) > 0
    assert values.loc[small, "one_person_households_share_status"].eq("petit_denominateur").all()


def test_filosofi_values_equal_raw_file(values, raw):
    filo = raw["filo"]
    iris = values.index.intersection(filo.index)
    assert len(iris) == 77
    pd.testing.assert_series_equal(
        values.loc[iris, "poverty_rate"], filo.loc[iris, "DISP_TP6019"] / 100, check_names=False
    )
    pd.testing.assert_series_equal(
        values.loc[iris, "median_income_eur"],
        filo.loc[iris, "DISP_MED19"],
        check_names=False,
        check_dtype=False,
    )
    expected = (filo["DISP_PPMINI19"] + filo["DISP_PPLOGT19"]) / 100
    pd.testing.assert_series_equal(
        values.loc[iris, "benefit_income_share"], expected.loc[iris], check_names=False
    )
    blank = iris[filo.loc[iris, "DISP_TP6019"].isna()]
    assert len(blank) > 0
    assert (values.loc[blank, "poverty_rate_status"] == "secret_statistique").all()
    outside = values.index.difference(filo.index)
    assert values.loc[outside, "poverty_rate"].isna().all()
    assert set(values.loc[outside, "poverty_rate_status"]) <= {
        "hors_champ_filosofi_iris",
        "absent_du_fichier",
    }


def test_real_pack_states_what_it_cannot_compute(values, real_dm):
    for key in ("pop80_alone_share", "pop5579_alone_share", "pop80_share"):
        assert values[key].isna().all()
        assert (values[f"{key}_status"] == "absent").all()
    assert "P_POP80P_PSEUL" in values.attrs["notes"]["pop80_alone_share"]
    assert values["no_diploma_share_status"].str.startswith("substitut").all()
    assert "P_NSCOL15P" in values.attrs["notes"]["no_diploma_share"]
    # No QPV contours in the pack: the share is not computed, and the status says why.
    assert values["qpv_share"].isna().all()
    assert set(values["qpv_share_status"]) == {"contours_qpv_absents", "aucun_qpv_dans_la_commune"}
    d = describe(real_dm).set_index("key")
    assert d.loc["pop80_alone_share", "availability"] == "absent"
    assert "P_POP80P_PSEUL" in d.loc["pop80_alone_share", "missing_columns"]
    assert d.loc["no_diploma_share", "availability"] == "substitut"
    assert d.loc["one_person_households_share", "original"] == "C17_MENPSEUL / C17_MEN"
    assert d.loc["one_person_households_share", "vintage"] == "2017"
    assert d.loc["poverty_rate", "original"] == "DISP_TP6019 / 100"
    assert d.loc["qpv_share", "n_values"] == 0
    assert (
        d.loc["one_person_households_share", "n_values"]
        == values["one_person_households_share"].notna().sum()
    )
    assert (d["n_iris"] == 121).all()


def test_commune_level_from_raw_counts(values, raw, real_dm):
    fam = raw["fam"]
    iris = real_dm.gdf.index
    commune = real_dm.gdf["commune"]
    num = fam.loc[iris, "C17_MENPSEUL"].groupby(commune.to_numpy()).sum()
    den = fam.loc[iris, "C17_MEN"].groupby(commune.to_numpy()).sum()
    out = compute_indicators(real_dm, ["one_person_households_share"], level="commune")
    np.testing.assert_allclose(out["one_person_households_share"], (num / den).loc[out.index])
    epci = compute_indicators(real_dm, ["one_person_households_share"], level="epci")
    assert epci.loc["242100410", "one_person_households_share"] == pytest.approx(
        num.sum() / den.sum()
    )
    qpv = compute_indicators(real_dm, ["one_person_households_share"], level="qpv")
    assert qpv["one_person_households_share"].isna().all()
    assert (qpv["one_person_households_share_status"] == "contours_qpv_absents").all()
