"""Contract tests run on every registered indicator (sklearn ``parametrize_with_checks`` style)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fragility.indicators import (
    REGISTRY,
    STATUS_SEPARATOR,
    STATUSES,
    VALUE_FLAGS,
    compute_indicators,
    has_value,
)

KEYS = list(REGISTRY)
RATIOS = [k for k, ind in REGISTRY.items() if ind.kind != "value"]
VALUES = [k for k, ind in REGISTRY.items() if ind.kind == "value"]

REQUIRED = {
    "pop80_alone_share",
    "pop5579_alone_share",
    "one_person_households_share",
    "single_parent_share",
    "pop75_share",
    "pop80_share",
    "no_diploma_share",
    "unemployment_rate",
    "households_without_car_share",
    "owner_share",
    "social_housing_share",
    "immigrant_share",
    "poverty_rate",
    "median_income_eur",
    "benefit_income_share",
    "qpv_share",
    "fs_distance_m",
}


def _frame(table) -> pd.DataFrame:
    return pd.DataFrame(table.gdf.drop(columns="geometry")).copy()


def _chosen(terms, columns):
    """First alternative of each term whose columns all exist (None if one term has none)."""
    out = []
    for term in terms:
        alt = next((a for a in term if all(c in columns for c in a)), None)
        if alt is None:
            return None
        out.append(alt)
    return out


def _total(frame, alts):
    cols = [c for alt in alts for c in alt]
    return frame[cols].astype(float).sum(axis=1, min_count=len(cols))


def _by_hand(frame, ind):
    """Value of the indicator recomputed from the raw columns, as the docs state it."""
    num = _total(frame, _chosen(ind.numerator_terms, frame.columns))
    if ind.kind == "value":
        return num * ind.scale, None
    den = _total(frame, _chosen(ind.denominator_terms, frame.columns))
    ratio = (num / den).where(den != 0)
    return (1 - ratio if ind.kind == "complement" else ratio), den


@pytest.fixture(scope="module")
def demo_values(demo):
    return compute_indicators(demo)


def test_required_keys_are_registered():
    assert REQUIRED <= set(REGISTRY)


def test_output_layout(demo, demo_values):
    assert demo_values.index.equals(demo.gdf.index)
    assert demo_values.index.name == "iris"
    expected = []
    for key, ind in REGISTRY.items():
        expected += [key, f"{key}_status"] + ([f"{key}_denominator"] if ind.kind != "value" else [])
    assert list(demo_values.columns) == expected
    assert demo_values.attrs["level"] == "iris"


@pytest.mark.parametrize("key", KEYS)
def test_demo_gives_every_indicator_within_its_range(demo_values, key):
    ind = REGISTRY[key]
    values = demo_values[key]
    status = demo_values[f"{key}_status"]
    assert (status != "absent").all()
    assert values.notna().mean() > 0.8
    present = values.dropna()
    if ind.unit in ("share", "rate"):
        assert present.between(0, 1).all()
    else:
        assert (present >= 0).all()


@pytest.mark.parametrize("key", KEYS)
def test_statuses_use_the_vocabulary_and_never_fill(demo_values, key):
    values = demo_values[key]
    status = demo_values[f"{key}_status"]
    for s in status.unique():
        parts = s.split(STATUS_SEPARATOR)
        assert all(p in STATUSES for p in parts), s
        if len(parts) > 1:
            assert all(p in VALUE_FLAGS for p in parts), s
    assert (has_value(status) == values.notna()).all()


@pytest.mark.parametrize("key", KEYS)
def test_values_equal_the_formula_on_raw_columns(demo, demo_values, key):
    ind = REGISTRY[key]
    expected, den = _by_hand(_frame(demo), ind)
    pd.testing.assert_series_equal(demo_values[key], expected, check_names=False)
    if den is not None:
        pd.testing.assert_series_equal(demo_values[f"{key}_denominator"], den, check_names=False)


@pytest.mark.parametrize("key", RATIOS)
def test_zero_denominator_gives_nan_and_says_so(demo, key):
    ind = REGISTRY[key]
    frame = _frame(demo)
    iris = frame.index[0]
    for alt in _chosen(ind.denominator_terms, frame.columns):
        frame.loc[iris, list(alt)] = 0.0
    for alt in _chosen(ind.numerator_terms, frame.columns):
        frame.loc[iris, list(alt)] = 0.0
    out = compute_indicators(frame, [key])
    assert np.isnan(out.loc[iris, key])
    assert out.loc[iris, f"{key}_status"] == "denominateur_nul"
    assert out.loc[iris, f"{key}_denominator"] == 0
    assert out[key].drop(iris).notna().sum() > 0


@pytest.mark.parametrize("key", RATIOS)
def test_small_denominator_is_flagged_not_hidden(demo, key):
    ind = REGISTRY[key]
    frame = _frame(demo)
    iris = frame.index[0]
    for total, terms in ((10.0, ind.denominator_terms), (4.0, ind.numerator_terms)):
        alts = _chosen(terms, frame.columns)
        cols = [c for alt in alts for c in alt]
        frame.loc[iris, cols] = 0.0
        frame.loc[iris, cols[0]] = total
    out = compute_indicators(frame, [key])
    expected = 0.6 if ind.kind == "complement" else 0.4
    assert out.loc[iris, key] == pytest.approx(expected)
    assert "petit_denominateur" in out.loc[iris, f"{key}_status"].split(STATUS_SEPARATOR)
    assert out.loc[iris, f"{key}_denominator"] == 10
    big = out[f"{key}_denominator"] >= ind.min_denominator
    assert not out.loc[big, f"{key}_status"].str.contains("petit_denominateur").any()


@pytest.mark.parametrize("key", RATIOS)
@pytest.mark.parametrize("level", ["commune", "epci"])
def test_aggregation_sums_counts_then_divides(demo, key, level):
    ind = REGISTRY[key]
    frame = _frame(demo)
    num = _total(frame, _chosen(ind.numerator_terms, frame.columns))
    den = _total(frame, _chosen(ind.denominator_terms, frame.columns))
    complete = num.notna() & den.notna()
    sums = (
        pd.DataFrame({"g": frame[level], "num": num, "den": den})[complete]
        .groupby("g")[["num", "den"]]
        .sum()
    )
    expected = sums["num"] / sums["den"]
    if ind.kind == "complement":
        expected = 1 - expected
    out = compute_indicators(demo, [key], level=level)
    assert out.index.name == level
    assert list(out.index) == sorted(frame[level].unique())
    np.testing.assert_allclose(out[key].to_numpy(), expected.reindex(out.index).to_numpy())
    np.testing.assert_allclose(out[f"{key}_denominator"], sums["den"].reindex(out.index))
    # Never the mean of the IRIS rates.
    rates = compute_indicators(demo, [key])[key].groupby(frame[level]).mean()
    assert not np.allclose(out[key].to_numpy(), rates.reindex(out.index).to_numpy())
    partial = set(frame.loc[~complete, level])
    for group, status in out[f"{key}_status"].items():
        assert ("partiel" in status) == (group in partial)


@pytest.mark.parametrize("key", VALUES)
def test_values_aggregate_with_population_weights(demo, key):
    ind = REGISTRY[key]
    frame = _frame(demo)
    value, _ = _by_hand(frame, ind)
    pop = frame["population"]
    ok = value.notna()
    expected = (value * pop)[ok].groupby(frame["commune"]).sum() / pop[ok].groupby(
        frame["commune"]
    ).sum()
    out = compute_indicators(demo, [key], level="commune")
    np.testing.assert_allclose(out[key].to_numpy(), expected.reindex(out.index).to_numpy())
    status = out[f"{key}_status"][out[key].notna()]
    approx = status.str.contains("approx_ponderee")
    exact = status == "valeur_communale"
    assert (approx | exact).all()
    if ind.layer.startswith("filosofi"):
        # A commune whose IRIS all carry its own Filosofi value gets that exact value.
        communal = frame["filosofi_level"] == "commune"
        checked = 0
        for commune, values in value[communal].groupby(frame["commune"]):
            if values.notna().all() and (frame["commune"] == commune).sum() == len(values):
                assert out.loc[commune, f"{key}_status"] == "valeur_communale"
                assert out.loc[commune, key] == pytest.approx(values.iloc[0])
                checked += 1
        assert checked > 0


def test_input_table_is_not_mutated(demo):
    before = demo.gdf.copy()
    coverage = demo.coverage.copy()
    compute_indicators(demo, level="commune")
    compute_indicators(demo)
    pd.testing.assert_frame_equal(demo.gdf, before)
    pd.testing.assert_frame_equal(demo.coverage, coverage)


def test_same_input_same_output(demo):
    a = compute_indicators(demo)
    b = compute_indicators(demo)
    pd.testing.assert_frame_equal(a, b)
