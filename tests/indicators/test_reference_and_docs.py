"""Comparison to a reference distribution; the registry's description and methodology."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fragility.errors import ConfigError
from fragility.indicators import (
    REGISTRY,
    STATUSES,
    Indicator,
    compare_to_reference,
    compute_indicators,
    describe,
    methodology_markdown,
    one_of,
    register,
)


def test_percentile_rank_against_reference():
    ref = pd.DataFrame({"pop75_share": [0.1, 0.2, 0.2, 0.3, np.nan]})
    values = pd.DataFrame({"pop75_share": [0.05, 0.2, 0.35, np.nan, 0.1]}, index=list("abcde"))
    out = compare_to_reference(values, ref)
    assert list(out.columns) == ["pop75_share_pct_ref"]
    expected = [0.0, 0.5, 1.0, np.nan, 0.125]
    np.testing.assert_allclose(out["pop75_share_pct_ref"], expected)
    assert out.attrs["reference_size"] == {"pop75_share": 4}


def test_reference_can_be_an_iris_table(demo):
    values = compute_indicators(demo, ["poverty_rate", "pop75_share"], level="commune")
    out = compare_to_reference(values, demo)
    assert list(out.columns) == ["poverty_rate_pct_ref", "pop75_share_pct_ref"]
    assert out.index.equals(values.index)
    present = out["pop75_share_pct_ref"]
    assert present.between(0, 1).all()
    # Against itself, the IRIS ranks are a permutation of mid-ranks.
    iris = compute_indicators(demo, ["pop75_share"])
    pct = compare_to_reference(iris, iris)["pop75_share_pct_ref"]
    n = len(iris)
    np.testing.assert_allclose(np.sort(pct), (np.arange(n) + 0.5) / n)


def test_describe_lists_every_indicator_with_its_formula():
    d = describe()
    assert list(d["key"]) == list(REGISTRY)
    assert {
        "key",
        "label_fr",
        "formula",
        "layer",
        "unit",
        "direction",
        "min_denominator",
        "definition",
    } <= set(d.columns)
    f = d.set_index("key")["formula"]
    assert f["pop80_alone_share"] == "P_POP80P_PSEUL / P_POP80P"
    assert f["one_person_households_share"] == "C_MENPSEUL / C_MEN"
    assert f["households_without_car_share"].startswith("1 − P_RP_VOIT1P / P_RP")
    assert f["poverty_rate"] == "DISP_TP60 / 100"
    assert f["benefit_income_share"] == "(DISP_PPMINI + DISP_PPLOGT) / 100"
    assert "P_NSCOL15P_DIPLMIN + P_NSCOL15P_BEPC" in f["no_diploma_share"]
    assert d.set_index("key").loc["median_income_eur", "direction"] == -1
    assert d.set_index("key").loc["fs_distance_m", "direction"] == 1


def test_methodology_is_generated_from_the_registry():
    md = methodology_markdown()
    assert md.startswith("## Indicateurs de base\n")
    for ind in REGISTRY.values():
        assert f"`{ind.key}`" in md
        assert ind.label_fr in md
        assert ind.formula(alternatives=False) in md
    for status in STATUSES:
        assert f"`{status}`" in md
    assert "approx_ponderee" in md and "jamais de moyenne de taux" in md


def test_methodology_with_a_table_reports_the_data(demo):
    md = methodology_markdown(demo)
    assert "Données du territoire" in md
    assert "P20_POP80P_PSEUL / P20_POP80P" in md


def test_indicator_declarations_are_checked():
    with pytest.raises(ConfigError, match="_share"):
        Indicator("pop75", "x", ("P_POP75P",), ("P_POP",), "census_population", "share", 1)
    with pytest.raises(ConfigError, match="sens"):
        Indicator("a_share", "x", ("A",), ("B",), "census_population", "share", 2)
    with pytest.raises(ConfigError, match="dénominateur"):
        Indicator("a_share", "x", ("A",), None, "census_population", "share", 1)
    with pytest.raises(ConfigError):
        one_of()
    assert one_of("A", ("B", "C")) == (("A",), ("B", "C"))


def test_register_refuses_a_conflicting_key():
    existing = REGISTRY["pop75_share"]
    assert register(existing) is existing  # idempotent
    clash = Indicator(
        "pop75_share", "x", ("P_POP75P",), ("P_POP",), "census_population", "share", -1
    )
    with pytest.raises(ConfigError, match="pop75_share"):
        register(clash)
    new = Indicator("test_only_share", "x", ("A",), ("B",), "census_population", "share", 1)
    try:
        register(new)
        frame = pd.DataFrame(
            {"A": [1.0, 2.0], "B": [4.0, 0.0]},
            index=pd.Index(["210010000", "210020000"], name="iris"),
        )
        out = compute_indicators(frame, ["test_only_share"])
        assert out["test_only_share"].iloc[0] == 0.25
        assert list(out["test_only_share_status"]) == ["petit_denominateur", "denominateur_nul"]
    finally:
        REGISTRY.pop("test_only_share", None)
