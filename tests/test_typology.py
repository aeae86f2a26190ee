"""Tests of fragility.typology: planted clusters, naming rules, stability, missing data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from fragility.errors import ConfigError, FragilityWarning, InputError
from fragility.typology import (
    DEFAULT_COLUMNS,
    INTERMEDIATE,
    PROFILE_RULES,
    UNCLASSIFIED,
    Stability,
    Typology,
    _name_profiles,
    choose_n_profiles,
)

# Planted centroids, in the indicators' own units.
PLANTED = {
    "elderly": {
        "pop80_alone_share": 0.62,
        "pop5579_alone_share": 0.30,
        "one_person_households_share": 0.38,
        "single_parent_share": 0.08,
        "pop75_share": 0.20,
        "pop80_share": 0.12,
        "no_diploma_share": 0.30,
        "unemployment_rate": 0.08,
        "households_without_car_share": 0.05,
        "owner_share": 0.78,
        "social_housing_share": 0.04,
        "immigrant_share": 0.03,
        "poverty_rate": 0.13,
        "median_income_eur": 20500.0,
        "benefit_income_share": 0.03,
        "qpv_share": 0.0,
        "fs_distance_m": 14000.0,
    },
    "precarity": {
        "pop80_alone_share": 0.45,
        "pop5579_alone_share": 0.22,
        "one_person_households_share": 0.40,
        "single_parent_share": 0.32,
        "pop75_share": 0.05,
        "pop80_share": 0.03,
        "no_diploma_share": 0.42,
        "unemployment_rate": 0.28,
        "households_without_car_share": 0.45,
        "owner_share": 0.12,
        "social_housing_share": 0.65,
        "immigrant_share": 0.28,
        "poverty_rate": 0.42,
        "median_income_eur": 13500.0,
        "benefit_income_share": 0.16,
        "qpv_share": 0.85,
        "fs_distance_m": 900.0,
    },
    "affluent": {
        "pop80_alone_share": 0.35,
        "pop5579_alone_share": 0.12,
        "one_person_households_share": 0.25,
        "single_parent_share": 0.10,
        "pop75_share": 0.09,
        "pop80_share": 0.05,
        "no_diploma_share": 0.10,
        "unemployment_rate": 0.06,
        "households_without_car_share": 0.07,
        "owner_share": 0.86,
        "social_housing_share": 0.03,
        "immigrant_share": 0.06,
        "poverty_rate": 0.04,
        "median_income_eur": 33000.0,
        "benefit_income_share": 0.01,
        "qpv_share": 0.0,
        "fs_distance_m": 4000.0,
    },
}
EXPECTED_NAMES = {
    "elderly": "isolement âgé",
    "precarity": "précarité urbaine (QPV)",
    "affluent": "aisé, propriétaire",
}
SIZES = {"elderly": 30, "precarity": 20, "affluent": 40}


def planted(seed: int = 0, noise: float = 0.04) -> tuple[pd.DataFrame, pd.Series]:
    """Three well-separated clusters; noise is a fraction of each indicator's spread."""
    rng = np.random.default_rng(seed)
    centres = pd.DataFrame(PLANTED).T[list(DEFAULT_COLUMNS)]
    spread = centres.max() - centres.min()
    rows, truth = [], []
    for group, size in SIZES.items():
        values = centres.loc[group].to_numpy() + rng.normal(0, 1, (size, len(spread))) * (
            noise * spread.to_numpy()
        )
        rows.append(values)
        truth += [group] * size
    index = pd.Index([f"96001{i:04d}" for i in range(len(truth))], name="iris")
    frame = pd.DataFrame(np.vstack(rows), index=index, columns=centres.columns)
    # interleave the groups so that row order says nothing
    order = rng.permutation(len(frame))
    frame = frame.iloc[order]
    truth = pd.Series(np.array(truth)[order], index=frame.index, name="truth")
    return frame, truth


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    frame, _ = data
    return Typology(3, seed=0).fit(frame)


def test_recovers_planted_clusters(data, fitted):
    _, truth = data
    assert adjusted_rand_score(truth, fitted.labels_) > 0.9
    assert fitted.labels_.index.equals(truth.index)
    assert fitted.columns_used_ == list(DEFAULT_COLUMNS)
    assert fitted.unclassified_.empty
    assert (fitted.imputed_ == 0).all()


def test_stable_under_reseeding(fitted):
    stability = fitted.stability_
    assert isinstance(stability, Stability)
    assert stability.ari_mean > 0.9
    assert stability.ari_min <= stability.ari_mean <= 1
    assert len(stability.ari) == 20 and stability.ari.index.is_unique
    assert 0 not in stability.ari.index  # re-fits use other seeds than the main one
    # Hungarian matching: every IRIS stays in its profile although k-means numbers the
    # clusters differently from one seed to the next
    assert stability.per_iris.between(0, 1).all()
    assert stability.per_iris.min() == 1.0
    assert (fitted.profiles_["stability"] == 1.0).all()


def test_names_follow_rules_on_planted_centroids(data, fitted):
    _, truth = data
    for group, name in EXPECTED_NAMES.items():
        assert fitted.labels_[truth == group].mode()[0] == name
    profiles = fitted.profiles_
    assert list(profiles.index) == [
        "aisé, propriétaire",
        "isolement âgé",
        "précarité urbaine (QPV)",
    ]  # by decreasing size
    assert profiles["size"].tolist() == [40, 30, 20]
    assert profiles["share"].sum() == pytest.approx(1)
    assert (profiles["rule_score"] >= 0.5).all()
    elderly = profiles.loc["isolement âgé", "description_fr"]
    assert elderly[0].isupper() and "élevée (+" in elderly and " σ)" in elderly
    assert 1 <= elderly.count("σ") <= 3
    assert "," in elderly.split("(")[1]  # French decimal comma
    poor = profiles.loc["précarité urbaine (QPV)", "description_fr"]
    assert "faible (−" in poor or "élevée (+" in poor


def test_name_rules_unit():
    columns = list(DEFAULT_COLUMNS)
    z = pd.DataFrame(0.0, index=range(4), columns=columns)
    z.loc[0, ["one_person_households_share", "households_without_car_share"]] = 1.5
    z.loc[0, ["owner_share", "pop75_share", "pop80_share"]] = -1.2
    z.loc[1, ["pop80_share", "pop75_share", "pop80_alone_share", "pop5579_alone_share"]] = 2.0
    z.loc[2, ["pop80_share", "pop75_share", "pop80_alone_share", "pop5579_alone_share"]] = 1.0
    z.loc[3, "immigrant_share"] = 0.4  # matches no rule
    names, rules, scores = _name_profiles(z)
    assert names == ["petits ménages urbains", "isolement âgé", "isolement âgé (2)", INTERMEDIATE]
    assert rules[3] is None and np.isnan(scores[3])
    assert scores[1] > scores[2] >= 0.5
    # a rule needs half of its weight present
    rule = next(r for r in PROFILE_RULES if r.name == "aisé, propriétaire")
    assert np.isnan(rule.score(pd.Series({"poverty_rate": -2.0})))
    assert rule.score(pd.Series({"median_income_eur": 1.0, "owner_share": 2.0})) == 1.5
    # two intermediate profiles get unique names too
    names, _, _ = _name_profiles(pd.DataFrame(0.0, index=range(2), columns=columns))
    assert names == [INTERMEDIATE, f"{INTERMEDIATE} (2)"]


def test_unclassified_and_imputed(data):
    frame, truth = data
    frame = frame.copy()
    n = len(DEFAULT_COLUMNS)
    too_many, half = frame.index[:3], frame.index[3]
    frame.loc[too_many, list(DEFAULT_COLUMNS[: n // 2 + 1])] = np.nan  # 9 of 17 missing
    frame.loc[half, list(DEFAULT_COLUMNS[: n // 2])] = np.nan  # 8 of 17: still classified
    typology = Typology(3, seed=0, reseeds=5).fit(frame)
    labels = typology.labels_
    assert (labels[too_many] == UNCLASSIFIED).all()
    assert labels[half] != UNCLASSIFIED
    classified = labels != UNCLASSIFIED
    assert adjusted_rand_score(truth[classified], labels[classified]) > 0.9
    unclassified = typology.unclassified_
    assert list(unclassified.index) == list(too_many)
    assert (unclassified["n_missing"] == n // 2 + 1).all()
    assert (unclassified["n_indicators"] == n).all()
    assert unclassified["reason_fr"].str.contains("plus de la moitié").all()
    assert unclassified["missing"].str.startswith("pop80_alone_share").all()
    assert typology.imputed_[too_many].isna().all()
    assert typology.imputed_[half] == n // 2
    assert typology.imputed_[classified].drop(half).eq(0).all()
    assert typology.stability_.per_iris[too_many].isna().all()
    assert typology.profiles_["size"].sum() == classified.sum()
    table = typology.to_frame()
    assert table.loc[too_many, "profile_status"].eq("donnees_insuffisantes").all()
    assert table.loc[half, "profile_status"] == "valeurs_imputees"
    assert table["profile_status"].value_counts()["ok"] == len(frame) - 4
    assert table.index.equals(frame.index)


def test_same_seed_same_result(data):
    frame, _ = data
    first = Typology(3, seed=7, reseeds=5).fit(frame)
    second = Typology(3, seed=7, reseeds=5).fit(frame)
    pd.testing.assert_series_equal(first.labels_, second.labels_)
    pd.testing.assert_frame_equal(first.centroids_, second.centroids_)
    pd.testing.assert_frame_equal(first.profiles_, second.profiles_)
    pd.testing.assert_series_equal(first.stability_.ari, second.stability_.ari)
    # a generator is accepted as seed (rule: seed is an int or a numpy Generator)
    other = Typology(3, seed=np.random.default_rng(3), reseeds=2).fit(frame)
    assert adjusted_rand_score(first.labels_, other.labels_) > 0.9


def test_centroids_in_original_units_are_group_means(data, fitted):
    frame, _ = data
    means = frame.groupby(fitted.labels_).mean()
    original = fitted.centroids_["original"]
    pd.testing.assert_frame_equal(
        original.sort_index(), means.sort_index(), check_names=False, rtol=1e-9
    )
    z = (frame - frame.mean()) / frame.std(ddof=0)
    pd.testing.assert_frame_equal(
        fitted.centroids_["z"].sort_index(),
        z.groupby(fitted.labels_).mean().sort_index(),
        check_names=False,
        rtol=1e-9,
    )
    assert fitted.centroids_.columns.names == ["scale", "indicator"]
    assert list(fitted.centroids_.index) == list(fitted.profiles_.index)


def test_choose_n_profiles(data):
    frame, _ = data
    scores = choose_n_profiles(frame, range(2, 6), seed=0)
    assert list(scores.index) == [2, 3, 4, 5] and scores.index.name == "n_profiles"
    assert scores["silhouette"].between(-1, 1).all()
    assert scores["silhouette"].idxmax() == 3 and scores.loc[3, "best"]
    assert scores["best"].sum() == 1
    assert scores["inertia"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(scores, choose_n_profiles(frame, range(2, 6), seed=0))
    with pytest.raises(ConfigError, match="entre 2 et"):
        choose_n_profiles(frame, [1, 3])


def test_input_and_parameter_errors(data):
    frame, _ = data
    with pytest.raises(InputError, match="indexée par « iris »"):
        Typology(3).fit(frame.reset_index(drop=True))
    with pytest.raises(InputError, match="absent"):
        Typology(3, columns=["poverty_rate", "unknown_share"]).fit(frame)
    with pytest.raises(ConfigError, match="n_profiles"):
        Typology(1).fit(frame)
    with pytest.raises(ConfigError, match="n_profiles"):
        Typology(len(frame) + 1).fit(frame)
    with pytest.raises(ConfigError, match="seed"):
        Typology(3, seed=-1).fit(frame)
    with pytest.raises(InputError, match="deux indicateurs"):
        Typology(3, columns=["poverty_rate"]).fit(frame)
    text = frame.assign(poverty_rate="x")
    with pytest.raises(InputError, match="numérique"):
        Typology(3).fit(text)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="non ajustée"):
        Typology(3).to_frame()


def test_columns_and_empty_indicator(data):
    frame, truth = data
    extra = frame.assign(qpv_share=np.nan, poverty_rate_status="ok", other_column=1.0)
    with pytest.warns(FragilityWarning, match="qpv_share"):
        typology = Typology(3, seed=0, reseeds=2).fit(extra)
    assert "qpv_share" not in typology.columns_used_
    assert "other_column" not in typology.columns_used_
    assert typology.columns_dropped_ == {"qpv_share": "aucune valeur dans la table"}
    assert adjusted_rand_score(truth, typology.labels_) > 0.9
    chosen = ["pop80_share", "poverty_rate", "median_income_eur"]
    subset = Typology(3, columns=chosen, seed=0, reseeds=0).fit(frame)
    assert subset.columns_used_ == chosen
    assert np.isnan(subset.stability_.ari_mean) and subset.stability_.per_iris.isna().all()
    assert Typology(3, columns=chosen).get_params() == {
        "n_profiles": 3,
        "columns": chosen,
        "seed": 0,
        "n_init": 20,
        "reseeds": 20,
    }


def test_demo_territory(tmp_path):
    pytest.importorskip("fragility.indicators")
    import fragility
    import fragility.indicators

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path))
        table = fragility.build_iris_table(fragility.Territory.demo())
        indicators = fragility.indicators.compute_indicators(table.gdf)
    typology = Typology(4, seed=0, reseeds=5).fit(indicators)
    labels = typology.labels_
    assert labels.index.equals(indicators.index) and labels.notna().all()
    names = typology.profiles_.index
    assert names.is_unique and len(names) == 4
    assert set(labels) <= set(names) | {UNCLASSIFIED}
    classified = labels != UNCLASSIFIED
    assert typology.profiles_["size"].sum() == classified.sum()
    assert set(typology.unclassified_.index) == set(labels.index[~classified])
    assert typology.profiles_["description_fr"].str.len().gt(0).all()
    assert 0 <= typology.stability_.ari_min <= typology.stability_.ari_mean <= 1
    assert set(typology.columns_used_) <= set(DEFAULT_COLUMNS)
    again = Typology(4, seed=0, reseeds=5).fit(indicators)
    pd.testing.assert_series_equal(labels, again.labels_)
    scores = choose_n_profiles(indicators, range(3, 6))
    assert scores["best"].sum() == 1
