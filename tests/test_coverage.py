"""Tests of fragility.coverage on synthetic numbers: model, funnel, EB shrinkage, q-values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from esda.smoothing import Empirical_Bayes
from scipy import stats

from fragility.coverage import (
    METHODS_FR,
    NOT_ASSESSED,
    Z95,
    Z998,
    CoverageModel,
    CoverageResult,
    CoverageSettings,
    assess_coverage,
    expected_contacts,
    funnel_limits,
    gamma_prior,
    overdispersion,
)
from fragility.errors import InputError

# Second moment of a standard normal winsorised at its 10 % / 90 % quantiles: the value
# of φ expected under pure Poisson variation with the default winsorisation (not 1).
_C = stats.norm.ppf(0.9)
PHI_WINSORISED_NORMAL = 2 * ((stats.norm.cdf(_C) - 0.5) - _C * stats.norm.pdf(_C)) + 0.2 * _C**2

STANDARDISED = {"min_iris_model": 10**6}  # always the internally standardised expectation


def _codes(n: int, prefix: str = "69123") -> pd.Index:
    return pd.Index([f"{prefix}{i:04d}" for i in range(n)], name="iris")


def _simulate_nb(seed: int, n: int = 200, alpha: float = 0.2, beta=(-3.0, 0.3, -0.2)):
    """Contacts from log μ = log N + β0 + β1 x1 + β2 x2, NB(α) as a Poisson-Gamma mixture."""
    rng = np.random.default_rng(seed)
    index = _codes(n)
    population = rng.uniform(500, 4000, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    mu = population * np.exp(beta[0] + beta[1] * x1 + beta[2] * x2)
    if alpha > 0:
        mu = mu * rng.gamma(shape=1.0 / alpha, scale=alpha, size=n)
    observed = rng.poisson(mu)
    need = pd.DataFrame({"x1": x1, "x2": x2}, index=index)
    return pd.Series(observed, index=index), pd.Series(population, index=index), need


def _true_standardised(need: pd.DataFrame, beta=(-3.0, 0.3, -0.2)) -> dict:
    """True coefficients on the scale of the model (covariates standardised, ddof=0)."""
    slopes = dict(zip(["x1", "x2"], beta[1:], strict=True))
    true = {k: b * float(need[k].std(ddof=0)) for k, b in slopes.items()}
    true["const"] = beta[0] + sum(b * float(need[k].mean()) for k, b in slopes.items())
    return true


# ------------------------------------------------------------------- expected contacts


def test_few_iris_give_the_internally_standardised_expectation():
    rng = np.random.default_rng(1)
    index = _codes(12)
    population = pd.Series(rng.uniform(300, 3000, 12), index=index)
    observed = pd.Series(rng.poisson(population * 0.02), index=index)
    need = pd.DataFrame({"isolation_index": rng.uniform(0, 100, 12)}, index=index)

    expected, model = expected_contacts(observed, population, need)

    assert model.method == "standardisation_interne"
    rate = observed.sum() / population.sum()
    np.testing.assert_allclose(expected.to_numpy(), population.to_numpy() * rate, rtol=1e-12)
    assert expected.sum() == pytest.approx(observed.sum(), rel=1e-12)
    assert list(expected.index) == list(index)
    assert model.covariates == () and model.alpha == 0.0 and model.aic is None
    assert model.coefficients == {"const": pytest.approx(math.log(rate))}
    assert any("standardisation interne" in note for note in model.notes)
    assert model.observed_total == pytest.approx(model.expected_total)


def test_docstring_example_of_expected_contacts():
    expected, model = expected_contacts(pd.Series([10, 30]), pd.Series([100, 300]))
    assert expected.tolist() == [10.0, 30.0]
    assert model.method == "standardisation_interne"


def test_negative_binomial_recovers_the_simulated_model():
    observed, population, need = _simulate_nb(seed=3)
    expected, model = expected_contacts(observed, population, need)

    assert model.method == "binomiale_negative"
    assert model.converged
    assert model.covariates == ("x1", "x2")
    assert model.n_iris == 200
    true = _true_standardised(need)
    for name, value in true.items():
        z = (model.coefficients[name] - value) / model.std_errors[name]
        assert abs(z) < 3, f"{name}: estimé {model.coefficients[name]:.3f}, vrai {value:.3f}"
    assert 0.1 < model.alpha < 0.35
    # The NB likelihood equation of the intercept: Σ (O − E) / (1 + αE) = 0. (ΣE = ΣO holds
    # exactly only for Poisson: for NB the totals differ by ~2 % at α = 0.2.)
    score = ((observed - expected) / (1 + model.alpha * expected)).sum()
    assert abs(score) < 1e-4 * observed.sum()
    assert model.expected_total == pytest.approx(expected.sum())
    assert model.expected_total == pytest.approx(model.observed_total, rel=0.05)
    # Pearson dispersion of a well-specified NB is near 1.
    assert 0.7 < model.pearson_dispersion < 1.4
    assert model.aic is not None and np.isfinite(model.aic)
    assert "α = 0," in model.summary_fr()
    assert model.summary_fr().endswith(".")


def test_missing_covariate_is_imputed_and_constant_covariate_dropped():
    observed, population, need = _simulate_nb(seed=4)
    need = need.copy()
    need.loc[need.index[:15], "x1"] = np.nan
    need["constante"] = 5.0
    need["presque_vide"] = np.nan
    need.loc[need.index[:2], "presque_vide"] = 1.0

    expected, model = expected_contacts(observed, population, need)

    assert model.method == "binomiale_negative"
    assert "x1_manquant" in model.covariates
    assert "x2_manquant" not in model.covariates
    assert "constante" not in model.covariates and "presque_vide" not in model.covariates
    assert "covariable « constante » écartée (constante)" in model.notes
    assert any("« presque_vide »" in note and "moins de 3" in note for note in model.notes)
    assert set(model.coefficients) == {"const", "x1", "x1_manquant", "x2"}
    assert expected.notna().all() and (expected > 0).all()


def test_pure_poisson_data_fall_back_to_poisson():
    observed, population, need = _simulate_nb(seed=0, alpha=0.0)
    expected, model = expected_contacts(observed, population, need)

    assert model.method == "poisson"
    assert model.alpha == 0.0
    assert model.converged
    # The notes say why the negative binomial was not kept.
    assert model.notes and any("binomiale négative" in note for note in model.notes)
    assert "Poisson" in model.summary_fr()
    # Poisson with an intercept: ΣE = ΣO.
    assert expected.sum() == pytest.approx(observed.sum(), rel=1e-5)
    true = _true_standardised(need)
    for name, value in true.items():
        assert abs(model.coefficients[name] - value) < 3 * model.std_errors[name]


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(seed)
        for seed in (1, 19)
    ],
)
def test_no_absurd_overdispersion_on_pure_poisson_data(seed):
    observed, population, need = _simulate_nb(seed=seed, alpha=0.0)
    _, model = expected_contacts(observed, population, need)
    assert model.method == "poisson" or model.alpha < 0.05, (model.method, model.alpha)
    assert model.converged


@pytest.mark.parametrize(
    ("observed", "population", "words"),
    [
        ([3, -1, 4], [100, 100, 100], "manquants ou négatifs"),
        ([3, np.nan, 4], [100, 100, 100], "manquants ou négatifs"),
        ([3, 1, 4], [100, 0, 100], "population manquante ou nulle"),
        ([3, 1, 4], [100, np.nan, 100], "population manquante ou nulle"),
        ([0, 0, 0], [100, 100, 100], "aucun contact observé"),
    ],
)
def test_expected_contacts_rejects_bad_input(observed, population, words):
    index = _codes(3)
    with pytest.raises(InputError, match=words):
        expected_contacts(pd.Series(observed, index=index), pd.Series(population, index=index))


# ------------------------------------------------------------------------ overdispersion


def test_overdispersion_of_poisson_data_is_nil():
    rng = np.random.default_rng(7)
    expected = rng.uniform(10, 200, 2000)
    observed = rng.poisson(expected)

    tau2, phi = overdispersion(observed, expected)
    assert tau2 == 0.0
    # Winsorised z-scores: φ is the second moment of a winsorised normal (≈ 0.68), not 1.
    assert phi == pytest.approx(PHI_WINSORISED_NORMAL, abs=0.05)

    tau2_raw, phi_raw = overdispersion(observed, expected, winsorise=0.0)
    assert phi_raw == pytest.approx(1.0, abs=0.08)
    assert tau2_raw < 1e-3


def test_overdispersion_detects_multiplicative_heterogeneity():
    rng = np.random.default_rng(8)
    expected = rng.uniform(10, 200, 2000)
    observed = rng.poisson(expected * rng.gamma(10.0, 0.1, 2000))  # var(θ) = 0.1

    tau2, phi = overdispersion(observed, expected)
    assert phi > 2
    # var(√θ) ≈ var(θ)/4 = 0.025; winsorisation biases the estimate downwards.
    assert 0.008 < tau2 < 0.04
    tau2_raw, _ = overdispersion(observed, expected, winsorise=0.0)
    assert tau2_raw == pytest.approx(0.025, rel=0.3)


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        # Strongly heterogeneous.
        ([4, 9, 15, 22, 30, 41, 18, 60, 2, 75, 33], [10, 12, 14, 20, 25, 30, 35, 40, 8, 45, 50]),
        # Just above the threshold: (n − 1)/n < φ < 1, so τ² is small but not 0.
        ([20, 40, 32, 32, 43, 43, 22, 11, 16, 42, 50], [21, 47, 26, 38, 30, 44, 23, 9, 21, 39, 39]),
    ],
)
def test_overdispersion_matches_a_hand_computation(observed, expected):
    observed = np.array(observed, dtype=float)
    expected = np.array(expected, dtype=float)
    n = 11
    z = [2 * (math.sqrt(o) - math.sqrt(e)) for o, e in zip(observed, expected, strict=True)]
    ordered = sorted(z)
    # n = 11: the 10 % and 90 % quantiles are exactly the 2nd smallest and 2nd largest.
    low, high = ordered[1], ordered[-2]
    winsorised = [min(max(v, low), high) for v in z]
    phi = sum(v * v for v in winsorised) / n
    assert n * phi > n - 1  # heterogeneous on purpose
    w = [4 * e for e in expected]
    tau2 = (n * phi - (n - 1)) / (sum(w) - sum(v * v for v in w) / sum(w))

    got_tau2, got_phi = overdispersion(observed, expected, winsorise=0.10)
    assert got_phi == pytest.approx(phi, rel=1e-12)
    assert got_tau2 == pytest.approx(tau2, rel=1e-12)
    assert got_tau2 > 0


def test_overdispersion_with_too_few_points():
    tau2, phi = overdispersion(np.array([3.0, 4.0]), np.array([3.0, 5.0]))
    assert tau2 == 0.0 and math.isnan(phi)


# -------------------------------------------------------------------------------- funnel


def test_funnel_limits_without_overdispersion():
    expected = np.array([1.0, 4.0, 25.0, 100.0, 400.0, 1e4])
    for z in (Z95, Z998):
        low, high = funnel_limits(expected, 0.0, z)
        half = z / (2 * np.sqrt(expected))
        np.testing.assert_allclose(low, np.clip(1 - half, 0, None) ** 2, rtol=1e-12)
        np.testing.assert_allclose(high, (1 + half) ** 2, rtol=1e-12)
        assert (low >= 0).all()
        assert (np.diff(low) >= 0).all() and (np.diff(high) < 0).all()
        assert (low[expected >= 25] > 0).all()
        assert (low <= 1).all() and (high >= 1).all()
    low, _ = funnel_limits(np.array([1.0]), 0.0, Z998)
    assert low[0] == 0.0  # 1 − 3.09/2 < 0: floored, not squared back up
    assert Z95 == pytest.approx(1.959964, abs=1e-6)
    assert Z998 == pytest.approx(3.090232, abs=1e-6)


def test_funnel_limits_with_overdispersion():
    expected = np.array([10.0, 100.0, 1e6])
    tau2 = 0.01
    low, high = funnel_limits(expected, tau2, Z95)
    low0, high0 = funnel_limits(expected, 0.0, Z95)
    assert (low < low0).all() and (high > high0).all()
    half = Z95 * np.sqrt(1 / (4 * expected) + tau2)
    np.testing.assert_allclose(low, (1 - half) ** 2)
    # Large E: the limits tend to (1 ± z·τ)², not to 1.
    assert low[-1] == pytest.approx((1 - Z95 * 0.1) ** 2, rel=1e-4)
    assert high[-1] == pytest.approx((1 + Z95 * 0.1) ** 2, rel=1e-4)


# ---------------------------------------------------------------------- EB shrinkage


def _heterogeneous_zone(seed: int = 11, n: int = 40):
    rng = np.random.default_rng(seed)
    index = _codes(n)
    population = pd.Series(rng.uniform(400, 4000, n).round(), index=index)
    theta = rng.gamma(5.0, 0.2, n)  # relative coverage, var 0.2
    observed = pd.Series(rng.poisson(population * 0.015 * theta), index=index)
    return observed, population


def test_gamma_prior_by_hand_and_floor():
    observed = np.array([5.0, 12.0, 30.0, 8.0, 20.0])
    expected = np.array([8.0, 10.0, 20.0, 12.0, 15.0])
    m = observed.sum() / expected.sum()
    s2 = (expected * (observed / expected - m) ** 2).sum() / expected.sum()
    v = s2 - m / expected.mean()
    assert v > 1e-4 * m**2
    a, b = gamma_prior(observed, expected)
    assert a == pytest.approx(m**2 / v, rel=1e-12)
    assert b == pytest.approx(m / v, rel=1e-12)
    assert a / b == pytest.approx(m)

    # No heterogeneity at all: the prior variance is floored, giving strong shrinkage.
    a, b = gamma_prior(expected * 1.5, expected)
    assert a == pytest.approx(1e4) and b == pytest.approx(1e4 / 1.5)


def test_eb_ratio_matches_esda_empirical_bayes():
    # esda.smoothing.Empirical_Bayes (global EB rates, Marshall 1991) uses the same moment
    # estimator: m = ΣO/ΣN, s² = ΣN(r − m)²/ΣN, v = s² − m/N̄, weight = v/(v + m/N). With
    # E = N·m, (a + O)/(b + E)·m is the same number — as long as v is not floored here.
    observed, population = _heterogeneous_zone()
    result = assess_coverage(observed, population, settings=STANDARDISED)
    table = result.table
    assert result.model.method == "standardisation_interne"
    m = observed.sum() / population.sum()
    o, e = table["observed"].to_numpy(), table["expected"].to_numpy()
    s2 = (e * (o / e - 1) ** 2).sum() / e.sum()
    assert s2 - 1 / e.mean() > 1e-2  # well above the 1e-4 floor: same estimator as esda

    esda_rates = Empirical_Bayes(observed.to_numpy(float), population.to_numpy(float)).r
    np.testing.assert_allclose(
        table["eb_ratio"].to_numpy() * m, esda_rates.ravel(), rtol=1e-9, atol=0
    )
    a, b = result.prior
    assert a / b == pytest.approx(1.0)  # ΣE = ΣO by construction


def test_eb_interval_and_shortfall_probability():
    n = 40
    index = _codes(n)
    population = pd.Series(2000.0, index=index)
    observed = pd.Series(np.arange(n) * 2 + 10, index=index)  # same E, growing O
    result = assess_coverage(observed, population, settings=STANDARDISED)
    table = result.table
    assert (table["eb_low"] < table["eb_ratio"]).all()
    assert (table["eb_ratio"] < table["eb_high"]).all()
    p = table["p_shortfall"].to_numpy()
    assert (np.diff(p) < 0).all()
    assert ((p >= 0) & (p <= 1)).all()
    # Posterior = Gamma(a + O, b + E): check one value by hand.
    a, b = result.prior
    row = table.iloc[3]
    assert row["eb_ratio"] == pytest.approx((a + row["observed"]) / (b + row["expected"]))
    assert row["p_shortfall"] == pytest.approx(
        stats.gamma.cdf(0.8, a + row["observed"], scale=1 / (b + row["expected"]))
    )
    assert row["eb_low"] == pytest.approx(
        stats.gamma.ppf(0.05, a + row["observed"], scale=1 / (b + row["expected"]))
    )
    assert row["eb_high"] == pytest.approx(
        stats.gamma.ppf(0.95, a + row["observed"], scale=1 / (b + row["expected"]))
    )
    # Shrinkage: the EB ratio is between the raw ratio and the prior mean.
    ratio, eb, prior_mean = table["ratio"], table["eb_ratio"], a / b
    assert ((eb - ratio) * (eb - prior_mean) <= 1e-12).all()


def test_materiality_setting_is_used():
    observed, population = _heterogeneous_zone()
    strict = assess_coverage(observed, population, settings={**STANDARDISED, "materiality": 0.5})
    default = assess_coverage(observed, population, settings=STANDARDISED)
    assert (strict.table["p_shortfall"] < default.table["p_shortfall"]).all()
    with pytest.raises(InputError, match="seuil de déficit"):
        CoverageSettings(materiality=1.2)
    with pytest.raises(InputError):
        CoverageSettings(winsorise=0.6)


# ------------------------------------------------------------------------ assess_coverage


def _territory(seed: int = 5, n: int = 60, extra: int = 6):
    rng = np.random.default_rng(seed)
    index = _codes(n + extra)
    population = pd.Series(rng.uniform(500, 3000, n + extra).round(), index=index)
    need = pd.DataFrame(
        {
            "isolation_index": rng.uniform(0, 100, n + extra),
            "non_recours_index": rng.uniform(0, 100, n + extra),
        },
        index=index,
    )
    mu = population * 0.02 * np.exp(0.01 * (need["isolation_index"] - 50))
    observed = pd.Series(rng.poisson(mu * rng.gamma(20, 0.05, n + extra)), index=index)
    zone = list(index[:n])
    return observed, population, need, zone


def test_every_iris_gets_a_row_and_outside_zone_is_not_used():
    observed, population, need, zone = _territory()
    outside = population.index.difference(zone)
    observed = observed.copy()
    observed[outside] = [0, 0, 50, 200, 1, 3]

    result = assess_coverage(observed, population, need, zone=zone)
    table = result.table
    assert list(table.index) == list(population.index)
    assert table.index.name == "iris"
    assert result.model.method in ("binomiale_negative", "poisson")
    assert result.model.n_iris == len(zone)
    out = table.loc[outside]
    assert (out["not_assessed"] == "hors_zone").all()
    assert not out["assessed"].any() and not out["in_zone"].any()
    assert out["expected"].isna().all() and out["q_value"].isna().all()
    assert table.loc[zone, "in_zone"].all()

    changed = observed.copy()
    changed[outside] = [500, 1, 0, 0, 70, 9]
    again = assess_coverage(changed, population, need, zone=zone).table
    pd.testing.assert_series_equal(table.loc[zone, "expected"], again.loc[zone, "expected"])
    pd.testing.assert_series_equal(table.loc[zone, "p_shortfall"], again.loc[zone, "p_shortfall"])


def test_observed_missing_iris_count_as_zero():
    observed, population, _, _ = _territory()
    partial = observed.iloc[5:]
    table = assess_coverage(partial, population, settings=STANDARDISED).table
    assert (table["observed"].iloc[:5] == 0).all()
    assert table["observed"].iloc[5:].tolist() == partial.astype(float).tolist()


def test_iris_types_and_small_expectation_are_not_assessed():
    observed, population, need, zone = _territory()
    population = population.copy()
    population.iloc[0] = 100.0  # ≈ 2 expected contacts
    population.iloc[1] = 0.0
    iris_type = pd.Series("H", index=population.index)
    iris_type.iloc[2] = "A"
    iris_type.iloc[3] = "D"
    result = assess_coverage(observed, population, need, zone=zone, iris_type=iris_type)
    table = result.table
    codes = table["not_assessed"]
    assert codes.iloc[0] == "attendu_trop_faible"
    assert codes.iloc[1] == "population_inconnue"
    assert codes.iloc[2] == "iris_activite"
    assert codes.iloc[3] == "iris_divers"
    assert not table["assessed"].iloc[:4].any()
    assert set(codes.dropna()) <= set(NOT_ASSESSED)
    # Too-small expectation: in the fit (expected known), but not assessed nor in the q-values.
    assert 0 < table["expected"].iloc[0] < 5
    assert np.isfinite(table["eb_ratio"].iloc[0]) and np.isnan(table["q_value"].iloc[0])
    assert table["expected"].iloc[1:4].isna().all()
    assert result.model.n_iris == len(zone) - 3
    assessed = table[table["assessed"]]
    assert (assessed["expected"] >= 5).all()
    assert assessed[["ratio", "eb_ratio", "p_value", "q_value", "limit998_low"]].notna().all().all()
    assert codes[table["assessed"]].isna().all()


def test_contacts_outside_the_territory_are_an_error():
    observed, population, _, _ = _territory()
    observed = pd.concat([observed, pd.Series([4], index=["999990000"])])
    with pytest.raises(InputError, match="hors du territoire"):
        assess_coverage(observed, population)


def test_empty_zone_is_an_error():
    observed, population, _, _ = _territory()
    with pytest.raises(InputError, match="aucun IRIS habité"):
        assess_coverage(observed, population, zone=["000000000"])


def test_explicitly_missing_contacts_are_an_error():
    observed, population, _, _ = _territory()
    observed = observed.astype(object)
    observed.iloc[4] = "n/a"
    with pytest.raises(InputError):
        assess_coverage(observed, population, settings=STANDARDISED)


def test_integer_codes_are_aligned_like_population():
    observed, population, _, _ = _territory()
    integer = pd.Index([int(code) for code in population.index])
    iris_type = pd.Series("H", index=integer)
    iris_type.iloc[2] = "A"
    table = assess_coverage(
        pd.Series(observed.to_numpy(), index=integer),
        pd.Series(population.to_numpy(), index=integer),
        iris_type=iris_type,
        settings=STANDARDISED,
    ).table
    assert table["not_assessed"].iloc[2] == "iris_activite"


def test_p_values_and_benjamini_hochberg_q_values():
    observed, population, need, zone = _territory()
    result = assess_coverage(observed, population, need, zone=zone)
    table = result.table
    assessed = table[table["assessed"]]
    p = assessed["p_value"].to_numpy()
    q = assessed["q_value"].to_numpy()
    np.testing.assert_allclose(q, stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    # Independent BH: q_(i) = min_{j ≥ i} p_(j)·n/j.
    order = np.argsort(p)
    n = len(p)
    by_hand = np.minimum.accumulate((p[order] * n / np.arange(1, n + 1))[::-1])[::-1]
    expected_q = np.empty(n)
    expected_q[order] = np.minimum(by_hand, 1)
    np.testing.assert_allclose(q, expected_q, rtol=1e-12)
    assert (q >= p - 1e-15).all()
    # One-sided P(O ≤ o) under the fitted model.
    alpha = result.model.alpha
    if alpha > 0:
        size = 1 / alpha
        want = stats.nbinom.cdf(assessed["observed"], size, size / (size + assessed["expected"]))
    else:
        want = stats.poisson.cdf(assessed["observed"], assessed["expected"])
    np.testing.assert_allclose(p, want, rtol=1e-10)


def test_p_values_under_the_standardised_expectation_are_poisson():
    observed, population = _heterogeneous_zone()
    table = assess_coverage(observed, population, settings=STANDARDISED).table
    np.testing.assert_allclose(
        table["p_value"], stats.poisson.cdf(table["observed"], table["expected"]), rtol=1e-12
    )


def test_funnel_columns_of_the_table():
    observed, population = _heterogeneous_zone()
    result = assess_coverage(observed, population, settings=STANDARDISED)
    table = result.table
    low, high = funnel_limits(table["expected"].to_numpy(), result.tau2, Z998)
    np.testing.assert_allclose(table["limit998_low"], low)
    np.testing.assert_allclose(table["limit998_high"], high)
    assert (table["limit95_low"] >= table["limit998_low"]).all()
    assert (table["limit95_high"] <= table["limit998_high"]).all()
    np.testing.assert_allclose(table["ratio"], table["observed"] / table["expected"])
    tau2, phi = overdispersion(table["observed"], table["expected"])
    assert (result.tau2, result.phi) == (pytest.approx(tau2), pytest.approx(phi))
    assert result.tau2 > 0  # θ ~ Gamma with variance 0.2


def _null_zone(seed: int, n: int = 150):
    rng = np.random.default_rng(seed)
    index = _codes(n, prefix="75056")
    population = rng.uniform(500, 4000, n)
    need = rng.uniform(0, 100, n)
    observed = rng.poisson(population * 0.01 * np.exp(0.015 * (need - 50)))
    return (
        pd.Series(observed, index=index),
        pd.Series(population, index=index),
        pd.DataFrame({"isolation_index": need}, index=index),
    )


def test_null_calibration_few_false_flags():
    probable, below95 = [], []
    for seed in range(20):
        observed, population, need = _null_zone(seed)
        table = assess_coverage(observed, population, need).table
        t = table[table["assessed"]]
        probable.append(((t["ratio"] < t["limit998_low"]) & (t["p_shortfall"] >= 0.9)).mean())
        below95.append((t["ratio"] < t["limit95_low"]).mean())
    share, share95 = float(np.mean(probable)), float(np.mean(below95))
    assert share < 0.05, f"faux « sous-desservis » sous H0 : {share:.2%} en moyenne"
    # The 95 % limits are roughly calibrated (nominal 2.5 % below the lower limit).
    assert 0.005 < share95 < 0.075, f"part sous la limite basse à 95 % : {share95:.2%}"


def test_planted_shortfall_is_detected():
    observed, population, need = _null_zone(seed=100)
    observed, population = observed.copy(), population.copy()
    low = observed.index[:8]
    population[low] = 3800.0
    mu = population[low] * 0.01 * np.exp(0.015 * (need.loc[low, "isolation_index"] - 50))
    observed[low] = (0.3 * mu).round().astype(int)  # 30 % of the contacts the need predicts
    table = assess_coverage(observed, population, need).table
    flagged = (table["ratio"] < table["limit998_low"]) & (table["p_shortfall"] >= 0.9)
    assert flagged[low].sum() >= 6
    assert flagged.drop(low).sum() <= 2
    assert (table.loc[low, "q_value"] < 0.1).all()


# ------------------------------------------------------------------------ serialisation


def _no_nan(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_no_nan(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_nan(v) for v in value)
    return True


def test_to_dict_is_json_ready():
    observed, population, need, zone = _territory()
    result = assess_coverage(observed, population, need, zone=zone)
    assert isinstance(result, CoverageResult) and isinstance(result.model, CoverageModel)
    for payload in (result.to_dict(), result.model.to_dict()):
        text = json.dumps(payload, allow_nan=False)
        assert _no_nan(json.loads(text))
    out = result.to_dict()
    assert out["iris_evalues"] == int(result.table["assessed"].sum())
    assert out["iris_non_evalues"]["hors_zone"] == len(population) - len(zone)
    assert out["modele"]["method"] in METHODS_FR
    assert out["parametres"]["materiality"] == 0.8


def test_to_dict_without_nan_when_phi_is_undefined():
    index = _codes(4)
    result = assess_coverage(
        pd.Series([3, 40, 2, 1], index=index), pd.Series([50, 900, 60, 40], index=index)
    )
    assert math.isnan(result.phi)  # fewer than 3 IRIS with E ≥ 5
    payload = result.to_dict()
    json.dumps(payload, allow_nan=False)
    assert payload["surdispersion"]["phi"] is None
