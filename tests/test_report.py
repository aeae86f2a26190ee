"""The diagnostic report (``diagnostic.html`` / ``.pdf``) of the demo territory.

One ``diagnose`` run per mode (journal simulated on the demo: the session's shared run,
see ``demo_run`` in ``conftest.py``; then potential mode); the report ``diagnose`` wrote
is checked against the run's own tables: every figure read back from the HTML
must equal the published frame, the suppression manifest or
``compute_indicators(..., level="commune")``; no count between 1 and k − 1 may appear.
The browser tests open the page offline in Debian's Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from fragility.assessment import AssessmentSettings
from fragility.diagnose import diagnose
from fragility.errors import ConfigError
from fragility.indicators import REGISTRY, compute_indicators
from fragility.report import NNBSP, SECRET, fr_number, fr_percent, render_report, write_report
from fragility.territory import Territory
from fragility.underserved import FLAGS, REASONS

BANNER = "Territoire de démonstration — données synthétiques : aucune valeur n'est réelle"
FAST = AssessmentSettings(permutations=99)


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


def _run(tmp_path_factory, name: str, **kwargs):
    out = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
        result = diagnose(Territory.demo(), out, progress=False, settings=FAST, **kwargs)
    path = write_report(result, out / "diagnostic.html")
    return result, path, Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def journal(demo_run):
    """The session's demo diagnostic (conftest; simulated journal): its own report."""
    path = demo_run.out / "diagnostic.html"
    return demo_run.result, path, Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def potential(tmp_path_factory):
    return _run(tmp_path_factory, "potentiel", simulate=False)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


class Page(HTMLParser):
    """Every element of the page with its attributes and its text (descendants included)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.source = text
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "parts": []}
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for element in self._open:
            element["parts"].append(data)

    @staticmethod
    def text(element) -> str:
        return " ".join("".join(element["parts"]).split())

    def find(self, attr: str, value: str | None = None) -> list[dict]:
        return [e for e in self.elements
                if attr in e["attrs"] and (value is None or e["attrs"][attr] == value)]

    def one(self, attr: str, value: str) -> str:
        found = self.find(attr, value)
        assert len(found) == 1, f"{attr}={value!r} : {len(found)} élément(s)"
        return self.text(found[0])

    @property
    def body_text(self) -> str:
        body = next(e for e in self.elements if e["tag"] == "body")
        return self.text(body)


def parse_fr(text: str) -> float:
    """Read back a French number ("97 551", "45,1 %", "21 023 €", "−3,5")."""
    cleaned = (text.replace(NNBSP, "").replace("\u00a0", "").replace(" ", "")
               .replace("%", "").replace("€", "").replace("km", "").replace("−", "-")
               .replace(",", "."))
    return float(cleaned)


def rows_of(page: Page, attr: str) -> list[tuple[str, dict]]:
    return [(e["attrs"][attr], e) for e in page.find(attr) if e["tag"] == "tr"]


def cells(page: Page, row: dict) -> list[dict]:
    """The ``td`` elements of a table row, in order."""
    start = page.elements.index(row)
    out = []
    for element in page.elements[start + 1:]:
        if element["tag"] == "tr":
            break
        if element["tag"] == "td":
            out.append(element)
    return out


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


def test_the_report_formats_with_the_shared_french_rules():
    from fragility import formatting

    assert (fr_number, fr_percent) == (formatting.fr_number, formatting.fr_percent)


# --------------------------------------------------------------------------------------
# Content against the run's tables (journal mode)
# --------------------------------------------------------------------------------------


def test_self_contained(journal):
    result, _, page = journal
    for element in page.elements:
        for attr in ("src", "href"):
            value = element["attrs"].get(attr)
            if value is not None:
                assert value.startswith(("data:", "#")), f"ressource externe : {value[:60]}"
    assert not re.search(r"url\((?!['\"]?data:)", page.source)
    assert "@import" not in page.source and "@font-face" not in page.source
    images = [e for e in page.elements if e["tag"] == "img"]
    figures = [p for p in result.files if p.parent.name == "figures" and p.suffix == ".png"]
    chart = 1 if result.bilan is not None else 0  # monthly activity chart (bilan)
    assert len(images) == len(figures) + chart and len(figures) >= 5
    assert all(e["attrs"]["src"].startswith("data:image/png;base64,") for e in images)
    assert {e["attrs"]["data-figure"] for e in page.find("data-figure")} == {
        p.stem for p in figures}


def test_header_and_run_date(journal):
    result, path, page = journal
    assert BANNER in page.body_text
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    stamp = pd.Timestamp(manifest["horodatage"]).tz_convert("Europe/Paris")
    date = page.one("data-cle", "date")
    assert str(stamp.year) in date and date.startswith(f"{stamp.day} ")
    assert result.territory.name.split(" (")[0] in page.text(
        next(e for e in page.elements if e["tag"] == "h1"))


def test_key_figures_equal_the_run(journal):
    result, _, page = journal
    gdf = result.table.gdf
    assert parse_fr(page.one("data-cle", "n_iris")) == len(gdf)
    assert parse_fr(page.one("data-cle", "n_communes")) == gdf["commune"].nunique()
    assert parse_fr(page.one("data-cle", "population")) == round(gdf["population"].sum())
    counts = result.assessment.published["flag"].value_counts()
    for flag in FLAGS:
        assert parse_fr(page.one("data-cle", f"flag-{flag}")) == counts.get(flag, 0), flag
    for name, index in result.indices.items():
        robust = int(index.values["robust_top"].fillna(False).astype(bool).sum())
        assert parse_fr(page.one("data-cle", f"robust-{name}")) == robust, name


def test_totals_only_when_published(journal):
    result, _, page = journal
    totals = getattr(result.assessment, "totals", None)
    if totals is None:
        assert page.one("data-cle", "total_contacts") == "non disponible"
        assert not page.find("data-cle", "total_persons")
        return
    for key in ("contacts", "persons"):
        text = page.one("data-cle", f"total_{key}")
        value = totals.get(key) if isinstance(totals, dict) else getattr(totals, key)
        assert text == SECRET if pd.isna(value) else parse_fr(text) == value


def test_underserved_table_equals_published_frame(journal):
    result, _, page = journal
    published = result.assessment.published
    expected = [code for flag in ("sous_desservi_probable", "a_surveiller")
                for code in sorted(published.index[published["flag"] == flag])]
    rows = rows_of(page, "data-iris")
    assert [code for code, _ in rows] == expected
    assert expected, "la démo doit signaler des IRIS"
    gdf = result.table.gdf
    for code, row in rows:
        tds = cells(page, row)
        phrase = next(td for td in tds if td["attrs"].get("class") == "phrase")
        assert page.text(phrase) == " ".join(str(published.at[code, "phrase"]).split())
        assert row["attrs"]["data-flag"] == published.at[code, "flag"]
        assert FLAGS[published.at[code, "flag"]] in page.text(row)
        assert gdf.at[code, "iris_name"] in page.text(row)
        motifs = page.text(page.find("data-motifs", code)[0])
        for reason in str(published.at[code, "reasons"]).split(","):
            assert reason in motifs and REASONS[reason] in motifs
        for td in tds:
            column = td["attrs"].get("data-effectif")
            if column:
                value = published.at[code, column]
                assert (page.text(td) == SECRET) if pd.isna(value) else (
                    parse_fr(page.text(td)) == value)


def test_no_small_count_anywhere(journal):
    result, _, page = journal
    k = result.assessment.settings.k
    marked = page.find("data-effectif")
    assert len(marked) > len(result.table.gdf)  # IRIS table + under-served table
    for element in marked:
        text = page.text(element)
        if text == SECRET:
            continue
        value = parse_fr(text)
        assert value == 0 or value >= k, f"effectif publié sous le seuil : {text}"
    suppressed = result.assessment.published.index[
        result.assessment.published["counts_status"] != "publie"]
    assert len(suppressed) > 0
    iris_rows = dict(rows_of(page, "data-iris-ligne"))
    for code in suppressed:
        counts = [td for td in cells(page, iris_rows[code]) if "data-effectif" in td["attrs"]]
        assert [page.text(td) for td in counts] == [SECRET, SECRET]


def test_commune_table_equals_compute_indicators(journal):
    result, _, page = journal
    expected = compute_indicators(result.table, level="commune")
    rows = dict(rows_of(page, "data-commune"))
    assert sorted(rows) == sorted(expected.index)
    population = result.table.gdf.groupby("commune")["population"].sum()
    for commune in (expected.index[0], expected.index[-1]):
        checked = 0
        for td in cells(page, rows[commune]):
            key = td["attrs"].get("data-indicateur")
            if key is None:
                continue
            text = page.text(td)
            if key == "population":
                assert parse_fr(text) == round(population[commune])
                continue
            value = expected.at[commune, key]
            if pd.isna(value):
                assert text == "—"
            elif REGISTRY[key].unit == "eur":
                assert abs(parse_fr(text) - value) <= 0.5
            else:
                assert abs(parse_fr(text) / 100 - value) <= 0.0005 + 1e-9, (commune, key)
            checked += 1
        assert checked >= 6


def test_qpv_and_iris_tables(journal):
    result, _, page = journal
    qpv = compute_indicators(result.table, level="qpv")
    assert sorted(code for code, _ in rows_of(page, "data-qpv")) == sorted(qpv.index)
    gdf = result.table.gdf
    iris_rows = dict(rows_of(page, "data-iris-ligne"))
    assert sorted(iris_rows) == sorted(gdf.index)
    for code in gdf.index[:10]:
        population = next(td for td in cells(page, iris_rows[code])
                          if td["attrs"].get("data-indicateur") == "population")
        assert parse_fr(page.text(population)) == round(gdf.at[code, "population"])


def test_sites_typology_method_sources_secret(journal):
    result, _, page = journal
    assessment = result.assessment
    assert page.one("data-cle", "resume-sites") == assessment.sites.summary_fr()
    assert len(rows_of(page, "data-site")) == len(assessment.sites.sites)
    profiles = result.table.gdf["profile"].value_counts()
    typology = dict(rows_of(page, "data-profil"))
    assert sorted(typology) == sorted(profiles.index)
    for profile, row in typology.items():
        assert parse_fr(page.text(cells(page, row)[1])) == profiles[profile]
    assert page.one("data-cle", "modele") == assessment.coverage.model.summary_fr()
    assert "docs/methodologie.md" in page.body_text
    assert page.one("data-cle", "source-ligne").startswith("Sources : ")
    for local in result.table.provenance:
        assert local.path.name in page.body_text
    manifest = assessment.suppression.to_dict()
    assert page.one("data-cle", "k") == f"k = {manifest['k']}"
    assert parse_fr(page.one("data-cle", "primary")) == manifest["primary"]
    assert parse_fr(page.one("data-cle", "secondary")) == manifest["secondary"]
    assert "laissés vides" in page.body_text  # derived values of a masked count


def test_write_report_into_a_folder(journal, tmp_path):
    result, _, _ = journal
    path = write_report(result, tmp_path)
    assert path == tmp_path / "diagnostic.html" and path.stat().st_size > 100_000


def test_pdf_without_chromium_is_a_clear_error(journal, tmp_path, monkeypatch):
    result, _, _ = journal
    monkeypatch.delenv("FRAGILITY_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(ConfigError, match="Chromium introuvable"):
        write_report(result, tmp_path / "diagnostic.html", pdf=True)
    monkeypatch.setenv("FRAGILITY_CHROMIUM", str(tmp_path / "pas-de-chromium"))
    with pytest.raises(ConfigError, match="Chromium"):
        write_report(result, tmp_path / "diagnostic.html", pdf=True)


# --------------------------------------------------------------------------------------
# Potential mode
# --------------------------------------------------------------------------------------


def test_potential_mode_says_so(potential):
    result, _, page = potential
    assert result.assessment.mode == "potentiel"
    text = page.body_text
    assert "potentiel" in page.one("data-cle", "mode")
    assert "pas été observée" in page.one("data-cle", "alerte-potentiel")
    assert "Confiance faible" in text and "confiance faible" in text
    assert not page.find("data-effectif")  # no count at all without a log
    rows = rows_of(page, "data-iris")
    assert rows and all(page.text(cells(page, row)[2]) == "faible" for _, row in rows)
    assert "pas de journal de médiation" in text
    assert render_report(result) == page.source


# --------------------------------------------------------------------------------------
# In a real browser, offline
# --------------------------------------------------------------------------------------


@pytest.mark.browser
def test_opens_offline_without_error(journal, open_page):
    from browser_helpers import is_blank

    _, path, _ = journal
    page, errors, requests = open_page(path)
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert page.get_by_text(BANNER, exact=True).first.is_visible()
    assert page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert not is_blank(page.screenshot(full_page=True))


@pytest.mark.browser
def test_pdf(journal, tmp_path, browser):
    result, _, _ = journal
    path = write_report(result, tmp_path / "diagnostic.html", pdf=True)
    pdf = path.with_suffix(".pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000
    assert Path(path).is_file()
