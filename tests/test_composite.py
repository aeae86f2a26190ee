"""Composite indices: configuration, construction invariants, statuses, uncertainty."""

from __future__ import annotations

import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragility.composite import (
    STATUSES,
    Component,
    CompositeConfig,
    IndexSpec,
    compute_index,
    load_config,
    load_specs,
    pca_weights,
)
from fragility.errors import ConfigError, FragilityWarning, InputError

ISOLATION = [
    "pop80_alone_share",
    "pop5579_alone_share",
    "one_person_households_share",
    "households_without_car_share",
    "poverty_rate",
    "pop80_share",
]
ALL_KEYS = [
    *ISOLATION,
    "pop75_share",
    "no_diploma_share",
    "immigrant_share",
    "fs_distance_m",
    "owner_share",
    "benefit_income_share",
]
DEFAULT_TOML = resources.files("fragility").joinpath("defaults/diagnostic.toml")


def frame(n=200, keys=ALL_KEYS, seed=1, skew=False):
    rng = np.random.default_rng(seed)
    data = rng.lognormal(0, 1, (n, len(keys))) if skew else rng.random((n, len(keys)))
    index = pd.Index([f"21{i:07d}" for i in range(n)], name="iris")
    out = pd.DataFrame(data, columns=keys, index=index)
    for key in keys:
        out[f"{key}_status"] = "ok"
    return out


def spec_of(keys, weights=None, **kwargs):
    weights = weights or [1.0] * len(keys)
    comps = [{"key": k, "weight": w} for k, w in zip(keys, weights, strict=True)]
    return IndexSpec.from_dict({"label_fr": "Test", "components": comps, **kwargs}, "test")


def config_with(**uncertainty):
    base = load_config()
    data = base.to_dict()
    data["uncertainty"].update(uncertainty)
    return CompositeConfig.from_dict(data)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- configuration


def test_default_config_follows_c5():
    specs = load_specs()
    assert list(specs) == ["isolation", "non_recours_gap", "non_recours_barrier"]
    iso = specs["isolation"]
    assert [c.key for c in iso.components] == ISOLATION
    assert [round(c.weight, 6) for c in iso.components] == [0.3, 0.15, 0.15, 0.15, 0.15, 0.1]
    assert (iso.normalisation, iso.weighting, iso.aggregation, iso.form) == (
        "percentile", "fixed", "arithmetic", "weighted")
    gap = specs["non_recours_gap"]
    assert gap.form == "gap"
    assert {(c.key, c.role) for c in gap.components} == {
        ("poverty_rate", "need"), ("benefit_income_share", "connection")}
    barrier = specs["non_recours_barrier"]
    assert barrier.form == "barrier" and barrier.eligibility_exponent == 0.5
    weights = {c.key: round(c.weight, 6) for c in barrier.components if c.role == "barrier"}
    assert weights == {"pop75_share": 0.25, "no_diploma_share": 0.2, "immigrant_share": 0.15,
                       "households_without_car_share": 0.15, "fs_distance_m": 0.15,
                       "owner_share": 0.1}
    cfg = load_config()
    unc = cfg.uncertainty
    assert (unc.draws, unc.top_share, unc.seed, unc.leave_one_out) == (1000, 0.2, 0, True)
    assert unc.normalisations == ("percentile", "zscore", "minmax")
    assert cfg.eligibility.min_population == 200
    assert cfg.eligibility.excluded_types == ("A", "D")


def test_default_toml_is_package_data_and_commented_in_french():
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    assert "# Configuration par défaut du diagnostic" in text
    assert load_config(Path(str(DEFAULT_TOML))).indices == load_config().indices


def test_weights_renormalised_within_roles():
    spec = spec_of(["a", "b"], [3, 1])
    assert [c.weight for c in spec.components] == [0.75, 0.25]
    gap = IndexSpec.from_dict({"label_fr": "g", "form": "gap", "components": [
        {"key": "n1", "weight": 2, "role": "need"}, {"key": "n2", "weight": 2, "role": "need"},
        {"key": "c", "weight": 5, "role": "connection"}]}, "g")
    assert [c.weight for c in gap.components] == [0.5, 0.5, 1.0]


def test_spec_and_config_round_trip():
    cfg = load_config()
    again = CompositeConfig.from_dict(cfg.to_dict())
    assert again.indices == cfg.indices
    assert again.uncertainty == cfg.uncertainty and again.eligibility == cfg.eligibility
    spec = cfg.indices["non_recours_barrier"]
    assert IndexSpec.from_dict(spec.to_dict()) == spec
    assert IndexSpec.from_toml(None, "isolation") == cfg.indices["isolation"]


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda t: t.replace('form = "weighted"', 'form = "weighted"\npoid = 1', 1),
         r"\[index\.isolation\], clé « poid » : clé inconnue"),
        (lambda t: t.replace("weight = 0.30", "weight = 0.30\nwieght = 2", 1),
         r"composante 1 \(pop80_alone_share\), clé « wieght » : clé inconnue.*« weight »"),
        (lambda t: t.replace("weight = 0.30", "weight = -0.30", 1),
         r"pop80_alone_share\), clé « weight » : la valeur doit être strictement supérieur"),
        (lambda t: t.replace("weight = 0.30", "weight = 0", 1),
         r"clé « weight » : la valeur doit être strictement"),
        (lambda t: t.replace('\nnormalisation = "percentile"', '\nnormalisation = "rang"', 1),
         r"clé « normalisation » : valeur « rang » invalide ; choix : percentile"),
        (lambda t: t.replace('role = "need"\n', "", 1),
         r"clé « role » : clé obligatoire pour la forme « gap »"),
        (lambda t: t.replace("min_components = 0.6", "min_components = 1.5", 1),
         r"clé « min_components » : la valeur doit être"),
        (lambda t: t.replace("direction", "direction", 1).replace(
            "weight = 0.30", "weight = 0.30\ndirection = 2", 1),
         r"clé « direction » : 1 ou -1 attendu"),
        (lambda t: t.replace("draws = 1000", "draws = 1000\ntirages = 5", 1),
         r"\[uncertainty\], clé « tirages » : clé inconnue"),
        (lambda t: t.replace("[uncertainty]", "[uncertainity]", 1),
         r"clé « uncertainity » : section inconnue \(vouliez-vous dire « uncertainty » \?\)"),
        (lambda t: t.replace("top_share = 0.2", "top_share = 0", 1),
         r"clé « top_share »"),
        (lambda t: t.replace('normalisations = ["percentile", "zscore", "minmax"]',
                             'normalisations = ["rangs"]', 1),
         r"clé « normalisations » : liste non vide"),
        (lambda t: t.replace("min_population = 200", "min_population = -1", 1),
         r"\[eligibility\], clé « min_population »"),
        (lambda t: t + "\n[index.vide]\nlabel_fr = 'x'\n",
         r"\[index\.vide\], clé « components » : au moins une composante"),
        (lambda t: t.replace("[[index.isolation.components]]", "[[index.isolation.components]]"
                             '\nkey = "x"\n[[index.isolation.components]]', 1).replace(
            'key = "x"', 'key = "pop80_share"', 1),
         r"clé « key » : composante en double"),
        (lambda t: t + "\nnot toml = [",
         r"diagnostic.toml : TOML illisible"),
    ],
)
def test_toml_errors_name_the_key_in_french(tmp_path, edit, pattern):
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    path = write_toml(tmp_path / "diagnostic.toml", changed)
    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_missing_file_and_missing_index(tmp_path):
    with pytest.raises(ConfigError, match="introuvable"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="indice « nope » absent"):
        IndexSpec.from_toml(None, "nope")
    with pytest.raises(ConfigError, match="indice « nope » inconnu"):
        compute_index(frame(), "nope", draws=0)


def test_other_sections_are_left_to_other_modules(tmp_path):
    text = DEFAULT_TOML.read_text(encoding="utf-8") + "\n[typologie]\nk = 5\n"
    cfg = load_config(write_toml(tmp_path / "d.toml", text))
    assert list(cfg.indices) == list(load_config().indices)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("normalisation", ["percentile", "zscore", "minmax"])
@pytest.mark.parametrize("direction", [1, -1])
def test_one_component_rank_order_is_the_component_order(normalisation, direction):
    df = frame(150)
    spec = IndexSpec.from_dict({"label_fr": "x", "weighting": "equal",
                                "normalisation": normalisation,
                                "components": [{"key": "poverty_rate",
                                                "direction": direction}]}, "one")
    res = compute_index(df, spec, draws=0)
    expected = (direction * df["poverty_rate"]).rank(method="min", ascending=False)
    assert (res.values["rank"].astype(int) == expected.astype(int)).all()
    assert res.values["index"].between(0, 100).all()


def test_ties_share_the_best_rank():
    df = frame(60, keys=["a"])
    df["a"] = (df["a"] * 5).round()  # 6 distinct values, many ties
    res = compute_index(df, spec_of(["a"]), draws=50)
    expected = df["a"].rank(method="min", ascending=False).astype(int)
    assert (res.values["rank"].astype(int) == expected).all()
    top = df["a"] == df["a"].max()
    assert (res.values.loc[top, ["rank_low", "rank_median", "rank_high"]] == 1).all().all()


def test_equal_weights_identical_components_give_component_order():
    df = frame(100, keys=["a", "b", "c"])
    df["b"] = df["a"] * 2 + 1
    df["c"] = df["a"] ** 3
    res = compute_index(df, spec_of(["a", "b", "c"], weighting="equal"), draws=0)
    expected = df["a"].rank(method="min", ascending=False)
    assert (res.values["rank"].astype(int) == expected.astype(int)).all()
    assert res.values["rank"].astype(int).idxmin() == df["a"].idxmax()


@pytest.mark.parametrize("name", ["isolation", "non_recours_gap", "non_recours_barrier"])
@pytest.mark.parametrize("normalisation", ["percentile", "zscore", "minmax"])
@pytest.mark.parametrize("aggregation", ["arithmetic", "geometric"])
def test_monotonicity_raising_a_component_never_lowers_the_index(name, normalisation,
                                                                  aggregation):
    base_spec = load_specs()[name]
    data = base_spec.to_dict() | {"normalisation": normalisation, "aggregation": aggregation}
    spec = IndexSpec.from_dict(data)
    df = frame(80, seed=3)
    before = compute_index(df, spec, draws=0).values["index"]
    rng = np.random.default_rng(5)
    for comp in spec.components:
        for iris in rng.choice(df.index, 4, replace=False):
            bumped = df.copy()
            bumped.loc[iris, comp.key] += comp.direction * rng.uniform(0.01, 1.0)
            after = compute_index(bumped, spec, draws=0).values["index"]
            if comp.role == "connection":  # more benefit income = less non-recours
                assert after[iris] <= before[iris] + 1e-9
            else:
                assert after[iris] >= before[iris] - 1e-9, (comp.key, iris)


def test_geometric_and_arithmetic_differ():
    df = frame(120)
    arith = compute_index(df, "isolation", draws=0).values
    spec = IndexSpec.from_dict(load_specs()["isolation"].to_dict() | {"aggregation": "geometric"})
    geo = compute_index(df, spec, draws=0).values
    assert not np.allclose(arith["index"], geo["index"])
    assert (arith["rank"] != geo["rank"]).any()
    assert (geo["index"] <= arith["index"] + 1e-9).all()  # AM-GM on the same ranks


def test_zscore_and_percentile_rank_correlate_highly():
    df = frame(300, skew=False)
    p = compute_index(df, "isolation", draws=0).values["index"]
    spec = IndexSpec.from_dict(load_specs()["isolation"].to_dict() | {"normalisation": "zscore"})
    z = compute_index(df, spec, draws=0).values["index"]
    rho = p.rank().corr(z.rank())
    assert rho > 0.95
    assert not np.allclose(p, z)


def test_gap_formula_matches_c5():
    df = frame(60)
    res = compute_index(df, "non_recours_gap", draws=0)
    need = df["poverty_rate"].rank(pct=True)
    conn = df["benefit_income_share"].rank(pct=True)
    expected = 100 * ((need - conn + 1) / 2).clip(0, 1)
    np.testing.assert_allclose(res.values["index"], expected)
    barrier = compute_index(df, "non_recours_barrier", draws=0)
    spec = load_specs()["non_recours_barrier"]
    bar = sum(c.weight * df[c.key].rank(pct=True) for c in spec.components
              if c.role == "barrier")
    np.testing.assert_allclose(barrier.values["index"],
                               100 * df["poverty_rate"].rank(pct=True) ** 0.5 * bar)


def test_pca_weights():
    rng = np.random.default_rng(0)
    common = rng.normal(size=400)
    data = pd.DataFrame({"a": common + rng.normal(0, 0.3, 400),
                         "b": common + rng.normal(0, 0.3, 400),
                         "c": rng.normal(size=400)})
    w = pca_weights(data)
    assert w.sum() == pytest.approx(1.0)
    assert w["a"] > w["c"] and w["b"] > w["c"]
    assert pca_weights(data).equals(w)
    df = frame(200, keys=["a", "b", "c"])
    df[["a", "b", "c"]] = data.to_numpy()[:200]
    res = compute_index(df, spec_of(["a", "b", "c"], weighting="pca"), draws=50)
    assert res.weights.sum() == pytest.approx(1.0)
    assert res.weights["c"] < res.weights["a"]
    assert [c.weight for c in res.spec.components] == pytest.approx(res.weights.tolist())
    with pytest.raises(InputError):
        pca_weights(pd.DataFrame({"a": [1.0, np.nan], "b": [np.nan, 2.0]}))


def test_direct_spec_is_validated_and_renormalised():
    df = frame(50, keys=["a", "b"])
    spec = IndexSpec("t", "t", (Component("a", 3.0), Component("b", 1.0)))
    res = compute_index(df, spec, draws=0)
    assert res.weights.tolist() == [0.75, 0.25]
    bad = IndexSpec("t", "t", (Component("a", -1.0),))
    with pytest.raises(ConfigError, match="« weight »"):
        compute_index(df, bad, draws=0)


# --------------------------------------------------------------------------- statuses


def test_eligibility_and_missing_statuses():
    df = frame(40)
    codes = df.index
    pop = pd.Series(1000.0, index=codes)
    types = pd.Series("H", index=codes)
    pop[codes[0]] = 150  # too small
    types[codes[1]] = "A"  # activity
    types[codes[2]] = "d"  # divers (case-insensitive)
    pop[codes[3]] = np.nan  # unknown population
    df.loc[codes[4], "pop80_alone_share"] = np.nan  # 0.30 missing -> partial
    df.loc[codes[5], "pop5579_alone_share_status"] = "absent"  # number present but absent
    df.loc[codes[6], ["pop80_alone_share", "pop5579_alone_share", "poverty_rate"]] = np.nan
    df.loc[codes[7], "pop80_share_status"] = "substitut+petit_denominateur"
    shuffled = pop.sample(frac=1, random_state=0)  # Series are aligned on the index
    res = compute_index(df, "isolation", population=shuffled, iris_type=types, draws=100)
    v = res.values
    assert list(v["status"][:8]) == ["trop_petit", "iris_activite", "iris_activite",
                                     "population_inconnue", "partiel", "partiel",
                                     "donnees_insuffisantes", "ok"]
    assert set(v["status"]) <= set(STATUSES)
    unscored = v["status"].isin(["trop_petit", "iris_activite", "population_inconnue",
                                 "donnees_insuffisantes"])
    assert v.loc[unscored, "index"].isna().all()
    assert v.loc[unscored, "rank"].isna().all() and v.loc[unscored, "p_top"].isna().all()
    assert v.loc[~unscored, "index"].notna().all()
    assert v["rank"].min() == 1 and v["rank"].max() <= (~unscored).sum() == 35
    assert "pop80_alone_share (valeur manquante)" in v.loc[codes[4], "components_missing"]
    assert "pop5579_alone_share (absent)" == v.loc[codes[5], "components_missing"]
    assert "pop5579_alone_share" not in v.loc[codes[5], "components_used"].split(";")
    assert v.loc[codes[7], "component_flags"] == "pop80_share:substitut+petit_denominateur"
    assert res.components.loc[codes[0]].isna().all()
    assert np.isnan(res.components.loc[codes[4], "pop80_alone_share"])


def test_partial_score_is_reweighted_over_present_components():
    df = frame(30, keys=["a", "b"])
    df.loc[df.index[0], "b"] = np.nan
    res = compute_index(df, spec_of(["a", "b"], min_components=0.5), draws=0)
    assert res.values["status"].iloc[0] == "partiel"
    assert res.values["index"].iloc[0] == pytest.approx(100 * res.components["a"].iloc[0])
    strict = compute_index(df, spec_of(["a", "b"], min_components=0.6), draws=0)
    assert strict.values["status"].iloc[0] == "donnees_insuffisantes"


def test_population_and_type_columns_are_used_when_present():
    df = frame(30)
    df["population"] = 500
    df["iris_type"] = "H"
    df.loc[df.index[0], "population"] = 10
    df.loc[df.index[1], "iris_type"] = "A"
    v = compute_index(df, "isolation", draws=0).values
    assert list(v["status"][:3]) == ["trop_petit", "iris_activite", "ok"]


def test_normalisation_ignores_unscored_iris():
    df = frame(50)
    pop = pd.Series(1000, index=df.index)
    ref = compute_index(df, "isolation", population=pop, draws=0).values["index"]
    extra = frame(1, seed=9).rename(index={"210000000": "219999999"})
    extra[ISOLATION] = 1e6  # extreme values in an IRIS too small to be scored
    both = pd.concat([df, extra])
    pop2 = pd.concat([pop, pd.Series([12], index=extra.index)])
    for norm in ["percentile", "minmax", "zscore"]:
        spec = IndexSpec.from_dict(load_specs()["isolation"].to_dict() | {"normalisation": norm})
        a = compute_index(df, spec, population=pop, draws=0).values["index"]
        b = compute_index(both, spec, population=pop2, draws=0).values["index"]
        pd.testing.assert_series_equal(a, b.loc[df.index])
    assert ref.notna().all()


def test_component_absent_from_data_is_dropped_with_a_warning():
    df = frame(60).drop(columns=["pop5579_alone_share", "pop5579_alone_share_status"])
    with pytest.warns(FragilityWarning, match="pop5579_alone_share \\(colonne absente\\)"):
        res = compute_index(df, "isolation", draws=50)
    assert res.dropped_components == {"pop5579_alone_share": "absente_des_donnees"}
    assert "pop5579_alone_share" not in res.weights.index
    assert res.weights.sum() == pytest.approx(1.0)
    assert (res.values["status"] == "partiel").all()  # flagged, never a silent "ok"
    assert (res.values["components_missing"] == "pop5579_alone_share (absente des données)").all()
    assert res.dropped_weight == pytest.approx(0.15)
    assert "absente des données" in res.summary_fr()
    assert "Poids de l'indice ainsi écarté : 15 %" in res.summary_fr()
    df2 = frame(60)
    df2["pop80_share"] = np.nan
    with pytest.warns(FragilityWarning, match="aucune valeur"):
        res2 = compute_index(df2, "isolation", draws=0)
    assert res2.dropped_components == {"pop80_share": "aucune_valeur"}


def test_missing_role_means_no_score_never_a_made_up_one():
    df = frame(40).drop(columns=["poverty_rate"])
    with pytest.warns(FragilityWarning) as record:
        res = compute_index(df, "non_recours_gap", draws=100)
    assert any("aucun IRIS ne peut être classé" in str(w.message) for w in record)
    assert (res.values["status"] == "donnees_insuffisantes").all()
    assert res.values["index"].isna().all()
    assert (res.values["components_missing"] == "poverty_rate (absente des données)").all()
    assert "Pas d'analyse d'incertitude" in res.summary_fr()


def test_input_errors():
    df = frame(10)
    with pytest.raises(InputError, match="en double"):
        compute_index(pd.concat([df, df.iloc[:1]]), "isolation", draws=0)
    bad = df.astype({"poverty_rate": object})
    bad.loc[bad.index[0], "poverty_rate"] = "beaucoup"
    with pytest.raises(InputError, match="poverty_rate"):
        compute_index(bad, "isolation", draws=0)
    with pytest.raises(InputError, match="10 valeurs attendues"):
        compute_index(df, "isolation", population=[1, 2], draws=0)


# --------------------------------------------------------------------------- uncertainty


def test_rank_interval_and_p_top_are_coherent():
    df = frame(200, seed=4)
    df.iloc[0, : len(ALL_KEYS)] = 10.0  # dominant everywhere: always first
    res = compute_index(df, "isolation", draws=400)
    v = res.values
    assert (v["rank_low"] <= v["rank_median"]).all()
    assert (v["rank_median"] <= v["rank_high"]).all()
    assert v["p_top"].between(0, 1).all()
    k = res.top_size
    assert k == 40
    assert (v.loc[v["rank_high"] <= k, "p_top"] >= 0.95).all()
    assert (v.loc[v["rank_low"] > k, "p_top"] <= 0.05).all()
    assert (v["robust_top"] == (v["p_top"] >= 0.9)).all()
    assert (v["top_some_choices"] == ((v["p_top"] >= 0.1) & (v["p_top"] < 0.9))).all()
    first = v.iloc[0]
    assert (first["rank"], first["rank_low"], first["rank_high"], first["p_top"]) == (1, 1, 1, 1)
    assert v["robust_top"].any() and v["top_some_choices"].any()
    text = res.summary_fr()
    assert "Solidement dans le groupe de tête" in text and df.index[0] in text
    assert "sous certains choix seulement" in text
    assert re.search(r"soit 40 IRIS", text)
    assert "choix qui varient : poids, normalisation, retrait d'une composante" in text
    gap = compute_index(df, "non_recours_gap", draws=100).summary_fr()
    assert "choix qui varient : normalisation)" in gap


def test_determinism_byte_identical():
    df = frame(300, seed=7)
    pop = pd.Series(300, index=df.index)
    a = compute_index(df, "non_recours_barrier", population=pop, draws=300, seed=3)
    b = compute_index(df, "non_recours_barrier", population=pop, draws=300, seed=3)
    assert a.values.to_csv().encode() == b.values.to_csv().encode()
    assert a.sensitivity.to_csv() == b.sensitivity.to_csv()
    assert a.components.to_csv() == b.components.to_csv()
    c = compute_index(df, "non_recours_barrier", population=pop, draws=300, seed=4)
    assert c.values.to_csv() != a.values.to_csv()
    pd.testing.assert_series_equal(a.values["index"], c.values["index"])  # only draws move
    g = compute_index(df, "non_recours_barrier", population=pop, draws=300,
                      seed=np.random.default_rng(3))
    assert g.values.to_csv() == a.values.to_csv() and g.seed is None and a.seed == 3


def test_batches_on_threads_give_the_single_thread_result(monkeypatch):
    import fragility.composite as module

    df = frame(300, seed=7)
    monkeypatch.setattr(module, "_BATCH_CELLS", 300 * 7)  # 43 batches of 7 draws
    monkeypatch.setattr(module, "_RANK_THREADS", 1)
    one = compute_index(df, "isolation", draws=300, seed=3)
    monkeypatch.setattr(module, "_RANK_THREADS", 2)
    two = compute_index(df, "isolation", draws=300, seed=3)
    assert two.values.to_csv() == one.values.to_csv()
    assert two.sensitivity.to_csv() == one.sensitivity.to_csv()


def test_changing_a_weight_changes_that_index_and_nothing_else(tmp_path):
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    changed = text.replace("weight = 0.30", "weight = 0.60", 1)
    assert changed != text
    other = load_config(write_toml(tmp_path / "diag.toml", changed))
    default = load_config()
    df = frame(150, seed=11)
    for name in default.indices:
        a = compute_index(df, name, draws=200, config=default).values.to_csv()
        b = compute_index(df, name, draws=200, config=other).values.to_csv()
        assert (a == b) == (name != "isolation"), name


def test_sensitivity_shares_are_bounded_and_named():
    res = compute_index(frame(150, skew=True), "isolation", draws=400)
    s = res.sensitivity
    assert s["share"].between(0, 1).all()
    assert {"normalisation", "leave_one_out", "residual"} <= set(s.index)
    assert {f"weight:{k}" for k in ISOLATION} <= set(s.index)
    assert s.loc["normalisation", "label_fr"] == "normalisation"
    assert "Ce qui fait varier les rangs" in res.summary_fr()


def test_planted_dominant_weight_explains_most_rank_variance():
    rng = np.random.default_rng(2)
    keys = ["a", "b", "c", "d"]
    df = frame(300, keys=keys)
    shared = rng.random(300)
    for key in ["b", "c", "d"]:
        df[key] = shared  # b, c, d move together: only w_a matters
    cfg = config_with(normalisations=["percentile"], leave_one_out=False)
    res = compute_index(df, spec_of(keys, [0.5, 1 / 6, 1 / 6, 1 / 6]), draws=600, config=cfg)
    s = res.sensitivity["share"]
    assert s["weight:a"] > 0.6
    assert s["weight:a"] == s.drop("residual").max()
    assert "normalisation" not in s.index and "leave_one_out" not in s.index


@pytest.mark.parametrize(
    ("settings", "choice"),
    [
        ({"weight_concentration": float("inf"), "leave_one_out": False}, "normalisation"),
        ({"weight_concentration": float("inf"), "normalisations": ["percentile"]},
         "leave_one_out"),
    ],
)
def test_single_choice_explains_all_variance(settings, choice):
    cfg = config_with(**settings)
    res = compute_index(frame(200, skew=True), "isolation", draws=300, config=cfg)
    s = res.sensitivity["share"]
    assert list(s.index) == [choice, "residual"]
    assert s[choice] > 0.95
    v = res.values
    assert (v["rank_high"] - v["rank_low"]).median() > 2  # the choice does move ranks


def test_no_draws():
    res = compute_index(frame(30), "isolation", draws=0)
    assert res.values["rank_median"].isna().all() and res.values["p_top"].isna().all()
    assert res.sensitivity.empty and res.draws == 0
    assert "Pas d'analyse d'incertitude" in res.summary_fr()


def test_uncertainty_runs_on_many_iris_quickly():
    df = frame(5000, keys=ISOLATION, seed=12)
    res = compute_index(df, "isolation", draws=200)
    assert res.values["rank_median"].notna().all()


# --------------------------------------------------------------------------- integration


def test_demo_territory_every_iris_scored_or_explained(tmp_path):
    indicators = pytest.importorskip("fragility.indicators")
    import fragility

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path))
        table = fragility.build_iris_table(fragility.Territory.demo())
        values = indicators.compute_indicators(table)
    gdf = table.gdf
    for name in load_specs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)
            res = compute_index(values, name, population=gdf["population"],
                                iris_type=gdf["iris_type"], draws=200)
        v = res.values
        scored = v["index"].notna()
        assert (v.loc[scored, "rank_low"].notna()).all(), name
        assert v.loc[~scored, "status"].isin(list(STATUSES)).all(), name
        assert not v.loc[~scored, "status"].isin(["ok", "partiel"]).any(), name
        assert set(v.index) == set(gdf.index)


def test_top_group_boundary_is_inclusive():
    df = frame(10, keys=["a"])
    cfg = config_with(top_share=0.2, normalisations=["percentile"])
    v = compute_index(df, spec_of(["a"]), draws=20, config=cfg).values
    assert (v["p_top"] == (v["rank"] <= 2).astype(float)).all()


def test_weight_draws_are_centred_on_the_spec_weights():
    cfg = config_with(weight_concentration=1e5, normalisations=["percentile"],
                      leave_one_out=False)
    res = compute_index(frame(200, seed=8), "isolation", draws=100, config=cfg)
    v = res.values
    gap = (v["rank_median"] - v["rank"]).abs()
    assert (gap <= 1).mean() > 0.95 and gap.max() <= 5


def test_first_order_estimator_is_bias_corrected():
    from fragility.composite import _first_order

    rng = np.random.default_rng(0)
    ranks = rng.normal(size=(200, 50)).astype(np.float32)
    centred = ranks - ranks.mean(axis=0)
    total = float((centred.astype(float) ** 2).sum())
    noise_levels = rng.integers(20, size=200)
    assert _first_order(centred, total, noise_levels) < 0.03  # uncorrected: ~0.095
    driven = np.repeat(np.arange(4), 50)
    signal = centred + 5 * (driven[:, None] - 1.5)
    signal -= signal.mean(axis=0)
    total_s = float((signal.astype(float) ** 2).sum())
    assert _first_order(signal, total_s, driven) > 0.9
