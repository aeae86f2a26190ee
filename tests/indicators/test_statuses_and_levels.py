"""Statuses (absent, substitute, communal value, secret) and the QPV / custom levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fragility.errors import InputError
from fragility.indicators import compute_indicators
from fragility.indicators.census import DIPLOMA_LEVELS


def _frame(table) -> pd.DataFrame:
    return pd.DataFrame(table.gdf.drop(columns="geometry")).copy()


def test_absent_column_gives_absent_with_the_column_named(demo):
    frame = _frame(demo).drop(columns=["P_POP80P_PSEUL"])
    out = compute_indicators(frame, ["pop80_alone_share", "pop80_share"])
    assert out["pop80_alone_share"].isna().all()
    assert (out["pop80_alone_share_status"] == "absent").all()
    assert "P_POP80P_PSEUL" in out.attrs["notes"]["pop80_alone_share"]
    assert out["pop80_share"].notna().all()  # P_POP80P is still there
    assert "pop80_share" not in out.attrs["notes"]


def test_missing_diploma_total_uses_the_sum_of_levels(demo):
    full = compute_indicators(demo, ["no_diploma_share"])
    frame = _frame(demo).drop(columns=["P_NSCOL15P"])
    out = compute_indicators(frame, ["no_diploma_share"])
    np.testing.assert_allclose(out["no_diploma_share"], full["no_diploma_share"])
    assert out["no_diploma_share_status"].str.startswith("substitut").all()
    assert "P_NSCOL15P" in out.attrs["notes"]["no_diploma_share"]
    assert (full["no_diploma_share_status"].str.contains("substitut")).sum() == 0
    # Without one of the levels as well, nothing can be computed.
    out = compute_indicators(frame.drop(columns=[DIPLOMA_LEVELS[3]]), ["no_diploma_share"])
    assert (out["no_diploma_share_status"] == "absent").all()
    assert DIPLOMA_LEVELS[3] in out.attrs["notes"]["no_diploma_share"]


def test_age_bands_alternative_for_55_79(demo):
    frame = _frame(demo)
    full = compute_indicators(frame, ["pop5579_alone_share"])
    alt = frame.assign(
        P_POP5579=frame["P_POP5564"] + frame["P_POP6579"],
        P_POP5579_PSEUL=frame["P_POP5564_PSEUL"] + frame["P_POP6579_PSEUL"],
    ).drop(columns=["P_POP5564", "P_POP6579_PSEUL"])
    out = compute_indicators(alt, ["pop5579_alone_share"])
    np.testing.assert_allclose(out["pop5579_alone_share"], full["pop5579_alone_share"])
    assert out["pop5579_alone_share_status"].str.contains("substitut").all()


def test_car_share_falls_back_on_the_derived_column(demo):
    frame = _frame(demo)
    derived = pd.Series(np.linspace(0.05, 0.5, len(frame)), index=frame.index)
    frame = frame.drop(columns=["P_RP_VOIT1P"]).copy().assign(households_without_car_share=derived)
    out = compute_indicators(frame, ["households_without_car_share"])
    pd.testing.assert_series_equal(out["households_without_car_share"], derived, check_names=False)
    assert (out["households_without_car_share_status"] == "substitut").all()
    note = out.attrs["notes"]["households_without_car_share"]
    assert "P_RP_VOIT1P" in note and "households_without_car_share" in note
    # With the census columns present, the ratio wins over the derived column.
    both = _frame(demo).assign(households_without_car_share=derived)
    out = compute_indicators(both, ["households_without_car_share"])
    assert (out["households_without_car_share_status"] != "substitut").all()
    by_commune = compute_indicators(frame, ["households_without_car_share"], level="commune")
    assert by_commune["households_without_car_share_status"].str.contains("substitut").all()
    assert by_commune["households_without_car_share_status"].str.contains("approx_ponderee").all()


def test_filosofi_commune_values_and_secret(demo):
    out = compute_indicators(demo, ["poverty_rate", "median_income_eur"])
    gdf = demo.gdf
    communal = gdf["filosofi_level"] == "commune"
    status = out["poverty_rate_status"]
    assert set(status[communal]) == {"valeur_communale", "secret_statistique"}
    assert (status[~communal] != "valeur_communale").all()
    # Values are the file's, never filled.
    pd.testing.assert_series_equal(out["poverty_rate"], gdf["DISP_TP60"] / 100, check_names=False)
    secret = set(demo.coverage.loc[demo.coverage["reason"] == "secret_statistique", "iris"])
    missing = out.index[out["median_income_eur"].isna()]
    assert len(missing) and set(missing) <= secret
    assert (out.loc[missing, "median_income_eur_status"] == "secret_statistique").all()


def test_bare_frame_without_coverage_says_donnee_manquante(demo):
    frame = _frame(demo)
    out = compute_indicators(frame, ["median_income_eur", "one_person_households_share"])
    missing = out["median_income_eur"].isna()
    assert missing.any()
    assert (out.loc[missing, "median_income_eur_status"] == "donnee_manquante").all()
    with_table = compute_indicators(demo, ["one_person_households_share"])
    missing = with_table["one_person_households_share"].isna()
    assert (
        with_table.loc[missing, "one_person_households_share_status"] == "secret_statistique"
    ).all()


def test_qpv_level_apportions_counts_by_area_share(demo):
    frame = _frame(demo)
    out = compute_indicators(demo, ["social_housing_share", "poverty_rate"], level="qpv")
    assert out.index.name == "qpv"
    codes = sorted({c for v in frame["qpv_codes"] for c in v.split(",") if c})
    assert list(out.index) == codes
    num, den = {}, {}
    for _, row in frame.iterrows():
        qpv = [c for c in row["qpv_codes"].split(",") if c]
        for code in qpv:
            w = row["qpv_share"] / len(qpv)
            num[code] = num.get(code, 0) + w * row["P_RP_LOCHLMV"]
            den[code] = den.get(code, 0) + w * row["P_RP"]
    expected = pd.Series(num) / pd.Series(den)
    np.testing.assert_allclose(out["social_housing_share"], expected.reindex(out.index))
    assert out["social_housing_share_status"].str.contains("approx_surface").all()
    assert out["poverty_rate_status"].str.contains("approx_ponderee").all()
    # QPV IRIS are poorer than the territory as a whole (the demo's planted pattern).
    whole = compute_indicators(demo, ["poverty_rate"], level="epci")["poverty_rate"].iloc[0]
    assert (out["poverty_rate"] > whole).all()


def test_custom_groups_and_unassigned(demo):
    frame = _frame(demo)
    groups = pd.Series(
        np.where(frame["iris_type"] == "H", "urbain", "autre"), index=frame.index
    ).where(frame["iris_type"] != "A")
    out = compute_indicators(demo, ["pop75_share"], level="zone", groups=groups)
    assert list(out.index) == ["autre", "urbain"] and out.index.name == "zone"
    assert sorted(out.attrs["unassigned"]) == sorted(frame.index[frame["iris_type"] == "A"])
    h = frame[frame["iris_type"] == "H"]
    assert out.loc["urbain", "pop75_share"] == pytest.approx(h["P_POP75P"].sum() / h["P_POP"].sum())
    assert out.loc["urbain", "n_iris"] == len(h)


def test_errors_are_french_input_errors(demo):
    with pytest.raises(InputError, match="pop80_alone_share"):
        compute_indicators(demo, ["pop80_alone_shar"])
    with pytest.raises(InputError, match="niveau inconnu"):
        compute_indicators(demo, level="canton")
    with pytest.raises(InputError, match="groups"):
        compute_indicators(demo, level="iris", groups=demo.gdf["commune"])
    with pytest.raises(InputError, match="iris"):
        compute_indicators(_frame(demo).reset_index(), ["pop75_share"])
    with pytest.raises(InputError, match="P_POP"):
        compute_indicators(_frame(demo).assign(P_POP="beaucoup"), ["pop75_share"])
    with pytest.raises(InputError):
        compute_indicators(_frame(demo).drop(columns=["qpv_share"]), level="qpv")


def test_share_above_one_is_kept_and_flagged(demo):
    frame = _frame(demo)
    iris = frame.index[0]
    frame.loc[iris, "P_RP_LOCHLMV"] = frame.loc[iris, "P_RP"] + 5
    out = compute_indicators(frame, ["social_housing_share"])
    assert out.loc[iris, "social_housing_share"] > 1
    assert out.loc[iris, "social_housing_share_status"] == "hors_bornes"
    assert (out["social_housing_share_status"].drop(iris) != "hors_bornes").all()


def test_geodataframe_and_qpv_status_without_coverage(demo):
    gdf = demo.gdf.assign(qpv_share=np.nan, qpv_status="couche_absente")
    out = compute_indicators(gdf, ["qpv_share", "pop75_share"])
    assert (out["qpv_share_status"] == "absent").all()
    assert out["pop75_share"].notna().all()


def test_group_mode_is_value_counts_first_per_group():
    import numpy as np
    import pandas as pd

    from fragility.indicators._compute import _group_mode

    rng = np.random.default_rng(1)
    groups = rng.integers(0, 300, 5_000).astype(str)
    values = pd.Series(rng.choice(["a", "b", "c", "d"], 5_000), index=groups, dtype=object)
    values.iloc[::17] = None  # missing reasons are not counted, as in value_counts
    expected = values.groupby(level=0, sort=True).agg(lambda s: s.value_counts().index[0])
    got = _group_mode(values).reindex(expected.index)
    assert got.tolist() == expected.tolist()
    tie = pd.Series(["b", "a", "a", "b", "c"], index=["g"] * 5, dtype=object)
    assert _group_mode(tie)["g"] == "b"  # a tie goes to the value seen first
