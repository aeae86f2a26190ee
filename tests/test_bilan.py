"""Activity report (bilan): every number equals a recomputation from the pseudonymised log.

The recomputations below are written independently of ``fragility.bilan`` (plain pandas
filters on the imported events); only published cells are compared, and no published
count may lie between 1 and k - 1.
"""

from __future__ import annotations

import json
import re
import secrets

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fragility import Territory
from fragility.bilan import (
    INDICATORS,
    TABLES,
    BilanSettings,
    compute_bilan,
    parse_period,
    run_bilan,
)
from fragility.cli import app
from fragility.disclosure import TOTAL_LABEL
from fragility.errors import InputError
from fragility.iris_table import build_iris_table
from fragility.logs.importer import read_log
from fragility.logs.simulate import simulate_export, write_export

K = 11
PERIOD = ("2024-04", "2024-12")  # a sub-period: persons seen before it are "déjà connues"


def _territory(name, real_data):
    if name == "demo":
        return Territory.demo()
    return Territory.from_epci("242100410", data_dir=real_data)


@pytest.fixture(scope="module", params=["demo", pytest.param("dijon", marks=pytest.mark.real_data)])
def run(request, tmp_path_factory):
    """One bilan per territory: (bilan, imported events, folder, territory table)."""
    real_data = request.getfixturevalue("real_data") if request.param == "dijon" else None
    territory = _territory(request.param, real_data)
    table = build_iris_table(territory)
    folder = tmp_path_factory.mktemp(f"bilan_{request.param}")
    export = folder / "journal.csv"
    write_export(simulate_export(table, n=6000, seed=5), export)
    key = secrets.token_bytes(32)
    (folder / "cle.txt").write_text(key.hex())
    settings = BilanSettings(period=PERIOD, structure="Médiation test", k=K)
    bilan = run_bilan(territory, folder / "sortie", logs=export, key_file=folder / "cle.txt",
                      settings=settings)
    events = read_log(export, table.gdf, key_file=folder / "cle.txt").events
    return bilan, events, folder / "sortie", table


def _in_period(events):
    return events[events["period_month"].between(*PERIOD)]


def _filled(values):
    return values.notna() & values.astype(str).ne("")


def _expected(events, name):
    """Independent recomputation of a table: {key tuple: (contacts, persons)}."""
    e = _in_period(events)
    if name == "registre":
        groups = {(r,): g for r, g in e.groupby("registre")}
        groups[(TOTAL_LABEL,)] = e
    elif name == "thematique":
        groups = {(t,): g for t, g in e.groupby("thematique")}
        groups[(TOTAL_LABEL,)] = e
    elif name == "partenaire":
        with_partner = e[_filled(e["orientation_partenaire"])]
        codes = sorted({c for v in with_partner["orientation_partenaire"] for c in v.split("|")})
        groups = {(c,): with_partner[with_partner["orientation_partenaire"]
                                     .str.split("|").map(lambda v, c=c: c in v)]
                  for c in codes}
        groups[(TOTAL_LABEL,)] = with_partner
    elif name == "age_sexe":
        age = e["age_band"].where(_filled(e["age_band"]), "non_renseigne")
        sex = e["sexe"].where(_filled(e["sexe"]), "non_renseigne")
        groups = {(a, s): e[(age == a) & (sex == s)] for a in age.unique() for s in sex.unique()}
        groups.update({(a, TOTAL_LABEL): e[age == a] for a in age.unique()})
        groups.update({(TOTAL_LABEL, s): e[sex == s] for s in sex.unique()})
        groups[(TOTAL_LABEL, TOTAL_LABEL)] = e
    elif name == "mois":
        groups = {(m,): g for m, g in e.groupby("period_month")}
        groups[(TOTAL_LABEL,)] = e
    elif name == "conflit_mode":
        c = e[e["registre"] == "gestion_conflits"]
        mode = c["conflit_mode"].where(_filled(c["conflit_mode"]), "non_renseigne")
        groups = {(m,): c[mode == m] for m in mode.unique()}
        groups[(TOTAL_LABEL,)] = c
    elif name == "non_recours":
        n = e[_filled(e["non_recours_observe"])]
        groups = {(t,): g for t, g in n.groupby("non_recours_observe")}
        groups[(TOTAL_LABEL,)] = n
    elif name == "personnes":
        before = set(events.loc[events["period_month"] < PERIOD[0], "person_key"].dropna())
        status = np.where(e["person_key"].isna(), "sans_personne",
                          np.where(e["person_key"].isin(before), "deja_connue", "nouvelle"))
        groups = {(s,): e[status == s] for s in np.unique(status)}
        groups[(TOTAL_LABEL,)] = e
    elif name == "commune":
        groups = {(c,): g for c, g in e.groupby("geo_commune")}
        groups[(TOTAL_LABEL,)] = e
    elif name == "qpv":
        q = e[_filled(e["geo_qpv"])]
        groups = {(c,): g for c, g in q.groupby("geo_qpv")}
        groups[(TOTAL_LABEL,)] = q
    elif name == "iris":
        i = e[e["geo_level"] == "iris"]
        groups = {(c, r): g for (c, r), g in i.groupby(["geo_commune", "geo_iris"])}
        groups.update({(c, TOTAL_LABEL): g for c, g in i.groupby("geo_commune")})
        groups[(TOTAL_LABEL, TOTAL_LABEL)] = i
    else:  # pragma: no cover
        raise KeyError(name)
    return {key: (len(g), g["person_key"].nunique()) for key, g in groups.items()
            if len(g) or all(k == TOTAL_LABEL for k in key)}  # the total is always there


@pytest.mark.parametrize("name", list(TABLES))
def test_every_published_cell_equals_the_log(run, name):
    _bilan, events, folder, _ = run
    spec = TABLES[name]
    expected = _expected(events, name)
    written = pd.read_csv(folder / "bilan" / f"{name}.csv", sep=";", dtype=str,
                          keep_default_na=False)
    keys = list(spec.keys)
    got = {tuple(row[k] for k in keys): row for _, row in written.iterrows()}
    # every non-empty cell of the log is in the table, and nothing else
    assert set(got) == set(expected), name
    published = 0
    for key, row in got.items():
        if row["statut"] == "publie":
            published += 1
            assert (int(row["contacts"]), int(row["persons"])) == expected[key], (name, key)
        else:
            assert row["contacts"] == "" and row["persons"] == "", (name, key)
    assert published > 0


def test_no_small_count_in_any_file(run):
    bilan, _, folder, _ = run
    for path in (folder / "bilan").glob("*.csv"):
        table = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
        for column in ("contacts", "persons", "numerator"):
            if column in table:
                values = pd.to_numeric(table[column], errors="coerce").dropna()
                assert not ((values > 0) & (values < K)).any(), (path.name, column)
    # the small cells exist in the log: the gate really had work to do
    statuses = pd.concat([t["statut"] for t in bilan.tables.values()])
    assert statuses.str.startswith("secret").any()


def test_html_counts_are_published_ones(run):
    _, _, folder, _ = run
    html = (folder / "bilan.html").read_text(encoding="utf-8")
    cells = re.findall(r'data-effectif="\w+">([^<]*)<', html)
    assert cells
    for text in cells:
        if text == "secret":
            continue
        value = int(text.replace("\u202f", ""))
        assert value == 0 or value >= K, text


def test_key_indicators_equal_the_log(run):
    bilan, events, _, _ = run
    e = _in_period(events)
    before = set(events.loc[events["period_month"] < PERIOD[0], "person_key"].dropna())
    persons = set(e["person_key"].dropna())
    assert bilan.indicator("contacts") == len(e)
    assert bilan.indicator("persons") == len(persons)
    assert bilan.indicator("persons_new") == len(persons - before)
    assert bilan.indicator("persons_returning") == len(persons & before)
    assert bilan.indicator("persons_returning") > 0
    assert bilan.indicator("handoffs") == int(_filled(e["orientation_partenaire"]).sum())
    assert bilan.indicator("conflicts") == int((e["registre"] == "gestion_conflits").sum())
    assert bilan.indicator("non_recours_detected") == int(_filled(e["non_recours_observe"]).sum())
    assert bilan.indicator("share_qpv") == pytest.approx(_filled(e["geo_qpv"]).mean())
    with_person = e["person_key"].notna().sum()
    assert bilan.indicator("contacts_per_person") == pytest.approx(with_person / len(persons))


def test_evaluation_indicators_equal_the_log(run):
    bilan, events, _folder, table = run
    from fragility.composite import territory_indices

    e = _in_period(events)
    frame, _ = territory_indices(table, seed=0)
    population = table.gdf["population"].astype(float)
    located = e[e["geo_level"] == "iris"]
    rows = bilan.indicators.set_index("key")
    for key, column in (("share_top_isolation", "isolation_index"),
                        ("share_top_non_recours", "non_recours_barrier_index")):
        index = frame[column].dropna()
        top = index.sort_values(ascending=False, kind="stable").index[
            : max(1, round(0.2 * len(index)))]
        assert rows.loc[key, "reference"] == pytest.approx(
            population[population.index.isin(top)].sum() / population.sum())
        if rows.loc[key, "statut"] == "publie":
            assert bilan.indicator(key) == pytest.approx(located["geo_iris"].isin(top).mean())
        else:
            assert np.isnan(bilan.indicator(key))
    rights = e["orientation_partenaire"].fillna("").str.split("|").map(
        lambda codes: bool({"caf", "cpam", "carsat", "msa", "mdph", "ccas", "france_travail",
                            "france_services", "pimms", "prefecture"} & set(codes)))
    n_rights = e.loc[rights, "person_key"].nunique()
    assert bilan.indicator("rights_handoffs_per_1000") == pytest.approx(
        1000 * n_rights / population.sum())
    share = table.gdf["qpv_share"]
    if share.notna().any():
        qpv_population = (population * share.fillna(0)).sum()
        assert bilan.indicator("qpv_contacts_per_1000") == pytest.approx(
            1000 * _filled(e["geo_qpv"]).sum() / qpv_population)
    else:  # the real pack has no QPV contours: said, not invented
        assert np.isnan(bilan.indicator("qpv_contacts_per_1000"))
        assert "contours" in rows.loc["qpv_contacts_per_1000", "note"]


def test_every_indicator_is_in_the_registry_and_the_files(run):
    bilan, _, folder, _ = run
    assert list(bilan.indicators["key"]) == list(INDICATORS)
    written = pd.read_csv(folder / "bilan" / "indicateurs.csv", sep=";")
    assert list(written["key"]) == list(INDICATORS)
    html = (folder / "bilan.html").read_text(encoding="utf-8")
    for spec in INDICATORS.values():
        assert spec.label.replace("'", "&#39;") in html


def test_manifest(run):
    _bilan, _, folder, _ = run
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == "fragility-bilan/1.0"
    assert manifest["periode"] == {"debut": "2024-04", "fin": "2024-12"}
    assert manifest["secret"]["k"] == K
    log = manifest["journal"]
    assert log["lues"] == log["acceptees"] + log["rejetees"]
    rejects = pd.read_csv(folder / "rejets.csv", sep=";")
    assert rejects["ligne"].nunique() == log["rejetees"]
    assert len(log["sha256"]) == 64
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    assert "person_key" not in text


def test_no_pseudonym_leaves_in_the_outputs(run):
    _, events, folder, _ = run
    keys = set(events["person_key"].dropna()) | set(events["mediator_key"].dropna())
    sample = list(keys)[:200]
    for path in [*folder.glob("bilan/*.csv"), folder / "bilan.html", folder / "manifest.json"]:
        text = path.read_text(encoding="utf-8")
        assert not any(k in text for k in sample), path.name


def test_demo_says_synthetic(run):
    bilan, _, folder, _ = run
    html = (folder / "bilan.html").read_text(encoding="utf-8")
    if bilan.territory["synthetic"]:
        assert "données synthétiques" in html
    else:
        assert "données synthétiques" not in html


@pytest.mark.browser
def test_opens_in_chromium_without_error(run, open_page):
    from browser_helpers import is_blank

    _, _, folder, _ = run
    page, errors, requests = open_page(folder / "bilan.html")
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert not is_blank(page.screenshot(full_page=True))


# ------------------------------------------------------------------------- small units


@pytest.mark.parametrize("text, expected", [
    ("2024", ("2024-01", "2024-12")),
    ("2024-03:2024-09", ("2024-03", "2024-09")),
    (" 2023-11..2024-02 ", ("2023-11", "2024-02")),
    (None, None),
])
def test_parse_period(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["2024-13:2024-12", "2024-05:2024-01", "mars", "2024-1:2024-2"])
def test_parse_period_errors(text):
    with pytest.raises(InputError, match=r"période|mois"):
        parse_period(text)


def test_period_without_events_is_a_clear_error(run):
    _, events, _, _ = run
    with pytest.raises(InputError, match="aucun contact dans la période"):
        compute_bilan(events, settings=BilanSettings(period=("2030-01", "2030-12")))


def test_cli_bilan(tmp_path):
    table = build_iris_table(Territory.demo())
    write_export(simulate_export(table, n=3000, seed=2), tmp_path / "j.csv")
    (tmp_path / "cle.txt").write_text(secrets.token_hex(32))
    result = CliRunner().invoke(app, [
        "bilan", "--demo", "--logs", str(tmp_path / "j.csv"), "--key-file",
        str(tmp_path / "cle.txt"), "--out", str(tmp_path / "b"), "--periode", "2024",
        "--structure", "Association Lien"])
    assert result.exit_code == 0, result.output
    assert "Bilan d'activité — Association Lien" in result.output
    assert "données synthétiques" in result.output
    assert (tmp_path / "b" / "bilan.html").is_file()
    assert {p.stem for p in (tmp_path / "b" / "bilan").glob("*.csv")} == {*TABLES,
                                                                          "indicateurs"}


def test_cli_bilan_without_key_refuses(tmp_path, monkeypatch):
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY", raising=False)
    table = build_iris_table(Territory.demo())
    write_export(simulate_export(table, n=200, seed=2), tmp_path / "j.csv")
    result = CliRunner().invoke(app, ["bilan", "--demo", "--logs", str(tmp_path / "j.csv"),
                                      "--out", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "clé" in result.output
    assert not (tmp_path / "b").exists()


# ------------------------------------------------------------------- diagnostic report


def test_diagnostic_report_has_the_activity_section(demo_run):
    """With a log, diagnostic.html shows the bilan (not its per-area tables)."""
    bilan = demo_run.result.bilan
    assert bilan is not None
    html = (demo_run.out / "diagnostic.html").read_text(encoding="utf-8")
    assert 'id="activite"' in html and 'href="#activite"' in html
    section = html.split('id="activite"', 1)[1].split("</section>", 1)[0]
    for name in ("registre", "thematique", "partenaire", "mois", "age_sexe"):
        assert f'data-table="activite-{name}"' in section
    for name in ("commune", "qpv", "iris"):
        assert f'data-table="activite-{name}"' not in section
    registre = bilan.tables["registre"]
    total = registre[registre["registre"] == TOTAL_LABEL].iloc[0]
    assert f"{int(total['contacts']):,}".replace(",", "\u202f") in section
    for text in re.findall(r'data-effectif="\w+">([^<]*)<', section):
        assert text == "secret" or int(text.replace("\u202f", "")) in (0,) or \
            int(text.replace("\u202f", "")) >= K
    assert "10. Note de secret statistique" in html
