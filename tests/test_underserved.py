"""Tests of fragility.underserved: flag rules, reason codes, French sentences, potential mode."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fragility.coverage import NOT_ASSESSED, assess_coverage
from fragility.errors import InputError
from fragility.underserved import FLAGS, REASONS, FlagSettings, flag_underserved

N = 60
RATE = 0.03
INDEX = pd.Index([f"38185{i:04d}" for i in range(N)], name="iris")
LOW, HIGH, THEM, OUT, ACT, MASK, TINY = (INDEX[i] for i in range(7))


def _number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _contains_number(text: str, number: str) -> bool:
    """Whether ``number`` (e.g. "0,6") appears as a whole number (not inside "0,65")."""
    return re.search(rf"(?<![\d,]){re.escape(number)}(?![\d])", text) is not None


@pytest.fixture(scope="module")
def data():
    """60 IRIS, standardised expectation, with planted low, high, thematic and masked IRIS."""
    rng = np.random.default_rng(2024)
    population = pd.Series(rng.uniform(1200, 3000, N).round(), index=INDEX)
    population[[LOW, HIGH, THEM]] = 3000.0
    population[TINY] = 120.0  # ≈ 4 expected contacts
    observed = pd.Series(rng.poisson(population * RATE), index=INDEX)
    observed[LOW] = round(0.05 * 3000 * RATE)  # 5 % of the contacts the need predicts
    observed[HIGH] = round(3.0 * 3000 * RATE)  # 300 %
    observed[THEM] = round(0.55 * 3000 * RATE)
    observed[MASK] = round(0.6 * population[MASK] * RATE)
    zone = [code for code in INDEX if code != OUT]
    iris_type = pd.Series("H", index=INDEX)
    iris_type[ACT] = "A"
    coverage = assess_coverage(
        observed,
        population,
        zone=zone,
        iris_type=iris_type,
        settings={"min_iris_model": 1000},
    )
    need = pd.DataFrame(
        {
            "isolation_index": rng.uniform(0, 60, N),
            "non_recours_index": rng.uniform(0, 60, N),
            "qpv_share": 0.0,
        },
        index=INDEX,
    )
    need.loc[LOW, ["isolation_index", "qpv_share"]] = [99.0, 0.8]
    need.loc[THEM, "non_recours_index"] = 95.0
    access = pd.DataFrame(
        {"fs_distance_m": rng.uniform(300, 4000, N), "access_2sfca": rng.uniform(1, 10, N)},
        index=INDEX,
    )
    access.loc[LOW, ["fs_distance_m", "access_2sfca"]] = [6200.0, 0.1]
    lisa = pd.Series("ns", index=INDEX)
    lisa[LOW] = "LL"
    lisa[THEM] = "HH"
    thematic = pd.DataFrame(
        {"access_rights_share": [0.05], "zone_share": [0.30], "contacts": [observed[THEM]]},
        index=[THEM],
    )
    return {
        "coverage": coverage,
        "need": need,
        "access": access,
        "lisa": lisa,
        "thematic": thematic,
        "observed": observed,
    }


@pytest.fixture(scope="module")
def flags(data):
    return flag_underserved(
        data["coverage"],
        data["need"],
        access=data["access"],
        lisa=data["lisa"],
        thematic=data["thematic"],
        masked=[MASK],
    )


def _reasons(flags, iris) -> list[str]:
    return flags.loc[iris, "reasons"].split(",")


# ------------------------------------------------------------------------- journal mode


def test_planted_iris_get_the_expected_flags(data, flags):
    table = data["coverage"].table
    assert table.loc[LOW, "ratio"] < 0.1 and table.loc[HIGH, "ratio"] > 2.5
    assert flags.loc[LOW, "flag"] == "sous_desservi_probable"
    assert {"contacts_sous_limite_998", "deficit_probable"} <= set(_reasons(flags, LOW))
    assert flags.loc[LOW, "confidence"] == "élevée"
    assert flags.loc[HIGH, "flag"] == "sur_sollicite"
    assert "contacts_au_dessus_limite_998" in _reasons(flags, HIGH)
    assert "permanence attractive" in flags.loc[HIGH, "phrase"]
    assert (flags["mode"] == "journal").all()
    assert (flags.loc[table.index[table["assessed"]], "confidence"] != "-").all()


@pytest.mark.parametrize(("iris", "code"), [(OUT, "hors_zone"), (ACT, "iris_activite")])
def test_not_assessed_iris_say_why(flags, iris, code):
    assert flags.loc[iris, "flag"] == "donnees_insuffisantes"
    assert flags.loc[iris, "reasons"] == code
    assert flags.loc[iris, "confidence"] == "-"
    phrase = flags.loc[iris, "phrase"]
    assert phrase.startswith("Non évalué")
    assert NOT_ASSESSED[code] in phrase


def test_small_expectation_says_how_many_were_expected(data, flags):
    expected = data["coverage"].table.loc[TINY, "expected"]
    assert expected < 5
    assert flags.loc[TINY, "reasons"] == "attendu_trop_faible"
    assert flags.loc[TINY, "phrase"].startswith("Non évalué")
    assert f"({_number(expected)} attendus)" in flags.loc[TINY, "phrase"]


def test_every_iris_has_valid_reasons_and_a_sentence(data, flags):
    assert list(flags.index) == list(data["coverage"].table.index)
    assert flags.index.name == "iris"
    assert set(flags["flag"]) <= set(FLAGS)
    for iris, row in flags.iterrows():
        assert row["reasons"], iris
        assert set(row["reasons"].split(",")) <= set(REASONS), (iris, row["reasons"])
        assert row["phrase"] and row["phrase"].endswith("."), iris
        assert not row["phrase"][0].islower(), iris
        assert ".." not in row["phrase"]
    assert "conforme" in set(flags["flag"])


def test_flags_follow_the_rules_of_the_table(data, flags):
    table = data["coverage"].table
    for iris, row in table[table["assessed"]].iterrows():
        below998 = row["ratio"] < row["limit998_low"]
        below95 = row["ratio"] < row["limit95_low"]
        p = row["p_shortfall"]
        if below998 and p >= 0.9:
            want = "sous_desservi_probable"
        elif below95 or p >= 0.75:
            want = "a_surveiller"
        elif row["ratio"] > row["limit998_high"]:
            want = "sur_sollicite"
        else:
            want = "conforme"
        assert flags.loc[iris, "flag"] == want, iris
        if want == "conforme":
            assert "dans_les_limites" in _reasons(flags, iris)
            assert "dans les limites attendues" in flags.loc[iris, "phrase"]


def test_stricter_settings_change_the_flags(data):
    lenient = flag_underserved(data["coverage"], data["need"], settings=FlagSettings(probable=1.1))
    assert lenient.loc[LOW, "flag"] == "a_surveiller"
    far = flag_underserved(
        data["coverage"], data["need"], access=data["access"], settings=FlagSettings(far_km=7)
    )
    assert "france_services_eloignee" not in _reasons(far, LOW)


def test_sentence_uses_decimal_commas_and_the_90_interval(data, flags):
    row = data["coverage"].table.loc[HIGH]
    phrase = flags.loc[HIGH, "phrase"]
    want = (
        f"{_number(row['eb_ratio'])} fois les contacts attendus "
        f"(IC 90 % {_number(row['eb_low'])}–{_number(row['eb_high'])})"
    )
    assert want in phrase
    assert "," in _number(row["eb_ratio"])
    assert not re.search(r"\d\.\d", phrase)  # no decimal point anywhere
    for iris in flags.index[flags["flag"] != "donnees_insuffisantes"]:
        if iris != MASK:
            assert "IC 90 %" in flags.loc[iris, "phrase"], iris
            assert not re.search(r"\d\.\d", flags.loc[iris, "phrase"]), iris


@pytest.mark.parametrize("iris", [MASK, LOW])
def test_masked_iris_give_a_band_not_the_ratio(data, iris):
    flagged = flag_underserved(data["coverage"], data["need"], access=data["access"], masked=[iris])
    row = data["coverage"].table.loc[iris]
    phrase = flagged.loc[iris, "phrase"]
    assert "IC 90 %" not in phrase
    assert "effectifs non diffusables" in phrase
    band = "moins de 0,25 fois" if iris == LOW else "entre 0,5 et 0,75 fois"
    assert band in phrase
    for value in (row["ratio"], row["eb_ratio"]):
        exact = _number(value)
        assert not _contains_number(band, exact)  # the data avoid the band's own edges
        assert not _contains_number(phrase, exact), (exact, phrase)
    # The flag and reasons do not depend on masking.
    unmasked = flag_underserved(data["coverage"], data["need"], access=data["access"])
    assert flagged.loc[iris, "flag"] == unmasked.loc[iris, "flag"]
    assert flagged.loc[iris, "reasons"] == unmasked.loc[iris, "reasons"]
    assert _contains_number(unmasked.loc[iris, "phrase"], _number(row["eb_ratio"]))


def test_need_reason_in_top_decile(flags):
    assert "isolement_decile_sup" in _reasons(flags, LOW)
    assert "isolement_quintile_sup" not in _reasons(flags, LOW)
    assert "décile le plus élevé" in flags.loc[LOW, "phrase"]
    assert "qpv" in _reasons(flags, LOW)
    assert "80 % de sa surface" in flags.loc[LOW, "phrase"]
    assert flags.loc[LOW, "phrase"].startswith("Besoin d'isolement")


def test_distant_france_services_reason(data, flags):
    assert "france_services_eloignee" in _reasons(flags, LOW)
    assert "6,2 km" in flags.loc[LOW, "phrase"]
    assert "acces_faible_2sfca" in _reasons(flags, LOW)
    for iris in flags.index[flags["flag"].isin(["sous_desservi_probable", "a_surveiller"])]:
        if data["access"].loc[iris, "fs_distance_m"] <= 5000:
            assert "france_services_eloignee" not in _reasons(flags, iris), iris


def test_low_low_lisa_cluster_reason(flags):
    assert "grappe_sous_couverture" in _reasons(flags, LOW)
    assert "grappe" in flags.loc[LOW, "phrase"]
    assert "grappe_sous_couverture" not in _reasons(flags, THEM)  # "HH"
    assert flags["reasons"].str.contains("grappe_sous_couverture").sum() == 1


def test_thematic_gap_reason(data, flags):
    assert flags.loc[THEM, "flag"] in ("sous_desservi_probable", "a_surveiller")
    assert "non_recours_decile_sup" in _reasons(flags, THEM)
    assert "mix_thematique_peu_acces_droits" in _reasons(flags, THEM)
    assert "accès aux droits" in flags.loc[THEM, "phrase"]
    assert flags["reasons"].str.contains("mix_thematique").sum() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"contacts": 12},  # too few contacts to judge the mix
        {"access_rights_share": 0.2},  # not below half the zone's share
    ],
)
def test_no_thematic_gap_without_evidence(data, change):
    thematic = data["thematic"].copy()
    for column, value in change.items():
        thematic[column] = value
    out = flag_underserved(data["coverage"], data["need"], thematic=thematic)
    assert "mix_thematique_peu_acces_droits" not in _reasons(out, THEM)


def test_no_thematic_gap_without_non_recours_risk(data):
    need = data["need"].copy()
    need.loc[THEM, "non_recours_index"] = 10.0
    out = flag_underserved(data["coverage"], need, thematic=data["thematic"])
    assert "mix_thematique_peu_acces_droits" not in _reasons(out, THEM)


def test_without_need_nor_access_every_row_still_has_reasons(data):
    out = flag_underserved(data["coverage"])
    assert out.loc[LOW, "flag"] == "sous_desservi_probable"
    assert (out["reasons"].str.len() > 0).all()
    assert out["phrase"].str.endswith(".").all()
    assert not out["reasons"].str.contains("decile|quintile|qpv").any()


# ------------------------------------------------------------------------ potential mode

P = 30
P_INDEX = pd.Index([f"13055{i:04d}" for i in range(P)], name="iris")
P_HIGH, P_UNKNOWN, P_OUT, P_WATCH = P_INDEX[0], P_INDEX[1], P_INDEX[2], P_INDEX[3]


@pytest.fixture(scope="module")
def potential():
    rng = np.random.default_rng(5)
    need = pd.DataFrame(
        {
            "isolation_index": rng.uniform(0, 70, P),
            "non_recours_index": rng.uniform(0, 70, P),
            "qpv_share": 0.0,
        },
        index=P_INDEX,
    )
    need.loc[P_HIGH, "isolation_index"] = 98.0
    need.loc[P_WATCH, "non_recours_index"] = 90.0
    need.loc[P_UNKNOWN, ["isolation_index", "non_recours_index"]] = np.nan
    access = pd.DataFrame(
        {"access_2sfca": rng.uniform(3, 10, P), "fs_distance_m": rng.uniform(500, 4000, P)},
        index=P_INDEX,
    )
    access.loc[P_HIGH, ["access_2sfca", "fs_distance_m"]] = [0.01, 8000.0]
    access.loc[P_WATCH, "access_2sfca"] = 2.5  # 2nd-4th lowest: worst 40 %, not worst 20 %
    access.loc[P_INDEX[4:8], "access_2sfca"] = [0.5, 0.6, 0.7, 0.8]
    zone = [code for code in P_INDEX if code != P_OUT]
    flags = flag_underserved(None, need, access=access, zone=zone, index=P_INDEX)
    return {"need": need, "access": access, "zone": zone, "flags": flags}


def test_potential_mode_labels(potential):
    flags = potential["flags"]
    assert list(flags.index) == list(P_INDEX)
    assert (flags["mode"] == "potentiel").all()
    assert (flags["confidence"] == "faible").sum() == P - 2
    assessed = flags["flag"] != "donnees_insuffisantes"
    assert (flags.loc[assessed, "confidence"] == "faible").all()
    assert (flags.loc[~assessed, "confidence"] == "-").all()
    for iris in flags.index[assessed]:
        assert _reasons(flags, iris)[0] == "potentiel_sans_journal", iris
        assert "confiance faible" in flags.loc[iris, "phrase"]
    for _, row in flags.iterrows():
        assert row["reasons"] and set(row["reasons"].split(",")) <= set(REASONS)
        assert row["phrase"].endswith(".")
        assert row["flag"] in FLAGS


def test_potential_mode_high_need_low_access(potential):
    flags = potential["flags"]
    assert flags.loc[P_HIGH, "flag"] == "sous_desservi_probable"
    reasons = _reasons(flags, P_HIGH)
    assert {
        "potentiel_sans_journal",
        "isolement_decile_sup",
        "acces_faible_2sfca",
        "france_services_eloignee",
    } <= set(reasons)
    assert "8,0 km" in flags.loc[P_HIGH, "phrase"]
    assert flags.loc[P_WATCH, "flag"] == "a_surveiller"
    assert (flags["flag"] == "sous_desservi_probable").sum() == 1


def test_potential_mode_unknown_need_and_outside_zone(potential):
    flags = potential["flags"]
    assert flags.loc[P_UNKNOWN, "flag"] == "donnees_insuffisantes"
    assert flags.loc[P_UNKNOWN, "reasons"] == "besoin_inconnu"
    assert flags.loc[P_UNKNOWN, "phrase"].startswith("Non évalué")
    assert flags.loc[P_OUT, "flag"] == "donnees_insuffisantes"
    assert flags.loc[P_OUT, "reasons"] == "hors_zone"
    assert flags.loc[P_OUT, "phrase"].startswith("Non évalué")


def test_potential_mode_with_distance_only(potential):
    access = potential["access"][["fs_distance_m"]]
    flags = flag_underserved(None, potential["need"], access=access, zone=potential["zone"])
    assert flags.loc[P_HIGH, "flag"] == "sous_desservi_probable"
    assert "france_services_eloignee" in _reasons(flags, P_HIGH)
    assert "acces_faible_2sfca" in _reasons(flags, P_HIGH)  # worst quintile of distance


def test_potential_mode_without_access_flags_nothing(potential):
    flags = flag_underserved(None, potential["need"], zone=potential["zone"])
    assert set(flags["flag"]) == {"conforme", "donnees_insuffisantes"}


def test_potential_mode_needs_need_or_index():
    with pytest.raises(InputError, match="besoin"):
        flag_underserved(None)
    flags = flag_underserved(None, index=P_INDEX)
    assert (flags["reasons"] == "besoin_inconnu").all()
