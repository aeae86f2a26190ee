"""Maps: the interactive carte.html (layers, tooltips, legend, disclosure, offline) and the
static PNG/SVG maps."""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from fragility import maps
from fragility.errors import InputError
from fragility.territory import catalogue_for
from fragility.underserved import FLAGS

FRENCH_LAYERS = [
    "Indice de risque d'isolement",
    "Indice de risque de non-recours (barrières)",
    "Couverture de la médiation (contacts observés / attendus)",
    "Zones sous-desservies (signalements)",
]
TILES = ("tile.openstreetmap", "openstreetmap")


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_run):
    """The session's demo diagnostic (conftest): published IRIS frame, services, QPV, sites."""
    result = demo_run.result
    gdf = result.table.gdf
    qpv = catalogue_for(result.territory.data_dir).read("qpv_contours", crs=str(gdf.crs)).frame
    return {
        "gdf": gdf,
        "services": result.table.services,
        "qpv": qpv,
        "sites": result.assessment.sites.sites,
        "kwargs": {
            "services": result.table.services,
            "qpv": qpv,
            "sites": result.assessment.sites.sites,
            "title": "Diagnostic — territoire de démonstration",
            "source_line": "Sources : données synthétiques générées par fragility",
            "synthetic": True,
        },
    }


@pytest.fixture(scope="module")
def demo_html(demo, tmp_path_factory):
    path = maps.write_interactive_map(demo["gdf"], tmp_path_factory.mktemp("carte"),
                                      **demo["kwargs"])
    return path, path.read_text(encoding="utf-8")


def small_frame() -> gpd.GeoDataFrame:
    """Six square IRIS near Paris (Lambert-93); the third one has suppressed counts."""
    squares = [box(650_000 + 1000 * i, 6_860_000, 651_000 + 1000 * i, 6_861_000)
               for i in range(6)]
    frame = gpd.GeoDataFrame(
        {
            "iris_name": ["Les Tilleuls", "Centre", "Le Moulin", "Gare", "Bois-Joli", "Hameau"],
            "commune": ["75001"] * 3 + ["75002"] * 3,
            "commune_name": ["Alpha"] * 3 + ["Bêta"] * 3,
            "isolation_index": [80.0, 55.5, 40.25, 12.0, np.nan, 66.0],
            "isolation_rank": [1, 3, 4, 5, np.nan, 2],
            "isolation_rank_low": [1, 2, 3, 4, np.nan, 1],
            "isolation_rank_high": [2, 4, 5, 5, np.nan, 3],
            "non_recours_index": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "non_recours_barrier_rank": [6, 5, 4, 3, 2, 1],
            "non_recours_barrier_rank_low": [5, 4, 3, 2, 1, 1],
            "non_recours_barrier_rank_high": [6, 6, 5, 4, 3, 2],
            "contacts": pd.array([1520, 230, pd.NA, 0, 45, 12], dtype="Int64"),
            "persons": pd.array([800, 150, pd.NA, 0, 30, 11], dtype="Int64"),
            "counts_status": ["publie", "publie", "secret_primaire", "publie", "publie",
                              "publie"],
            "expected_contacts": [1200.0, 300.0, 40.0, 25.0, 50.0, 30.0],
            "coverage_ratio": [1.25, 0.77, np.nan, 0.1, 0.9, 0.4],
            "coverage_ratio_low": [1.1, 0.7, np.nan, 0.05, 0.8, 0.3],
            "coverage_ratio_high": [1.4, 0.85, np.nan, 0.2, 1.0, 0.5],
            "flag": ["sur_sollicite", "a_surveiller", "a_surveiller",
                     "sous_desservi_probable", "conforme", "donnees_insuffisantes"],
            "confidence": ["élevée", "moyenne", "moyenne", "élevée", "élevée", "-"],
            "mode": ["journal"] * 6,
            "phrase": [
                "1,2 fois les contacts attendus (IC 90 % 1,1–1,4).",
                "0,8 fois les contacts attendus (IC 90 % 0,7–0,9).",
                "Entre 0,25 et 0,5 fois les contacts attendus (effectifs non diffusables).",
                "0,1 fois les contacts attendus (IC 90 % 0,1–0,2).",
                "Dans les limites attendues pour ce besoin.",
                "Non évalué : moins de 5 contacts attendus.",
            ],
            "fs_distance_m": [1200.0, 3400.0, 5600.0, 7800.0, 900.0, 15000.0],
            "qpv_codes": ["", "QN07501M", "", "", "", ""],
            "qpv_share": [0.0, 0.6, 0.0, 0.0, 0.0, 0.0],
        },
        geometry=squares,
        crs="EPSG:2154",
        index=pd.Index([f"75101{i:04d}" for i in range(6)], name="iris"),
    )
    return frame


def features(text: str, prefix: str = "fragility_iris") -> list[dict]:
    """The shared IRIS FeatureCollection embedded in the HTML."""
    match = re.search(rf"^\s*var {prefix}_\w+ = (.*);$", text, re.M)
    assert match, "données IRIS absentes du HTML"
    return json.loads(match.group(1))["features"]


def tooltips(text: str) -> dict[str, str]:
    return {f["properties"]["id"]: f["properties"]["t"] for f in features(text)}


def render(m) -> str:
    return m.get_root().render()


def cell(tip: str, header: str) -> str | None:
    match = re.search(rf"<th>{re.escape(header)}</th><td>([^<]*)</td>", tip)
    return None if match is None else html.unescape(match.group(1))


# --------------------------------------------------------------------------------------
# Unit tests (no browser)
# --------------------------------------------------------------------------------------


def test_layers_have_french_names():
    frame = small_frame()
    qpv = gpd.GeoDataFrame({"qpv_name": ["Les Hauts"]}, geometry=[box(651_100, 6_860_100,
                                                                      651_900, 6_860_900)],
                           crs="EPSG:2154", index=pd.Index(["QN07501M"], name="qpv"))
    services = gpd.GeoDataFrame({"name": ["France services Alpha"], "commune": ["75001"]},
                                geometry=gpd.points_from_xy([650_500], [6_860_500]),
                                crs="EPSG:2154")
    m = maps.interactive_map(frame, qpv=qpv, services=services)
    names = list(m.fragility_layers.values())
    assert names[:4] == FRENCH_LAYERS
    assert {"Quartiers prioritaires (QPV)", "France Services",
            "Limites des communes"} <= set(names)
    text = render(m)
    assert '"Fond de carte OpenStreetMap"' in text  # layer control entries (see browser)
    assert "France services Alpha" in text and "QPV QN07501M — Les Hauts" in text


def test_tooltips_have_name_code_commune_rank_interval_and_phrase(demo, demo_html):
    gdf = demo["gdf"]
    tips = tooltips(demo_html[1])
    assert set(tips) == set(gdf.index)
    for code, row in gdf.iterrows():
        tip = tips[code]
        assert html.escape(row["iris_name"]) in tip and code in tip
        assert html.escape(row["commune_name"]) in tip
        assert html.escape(row["phrase"]) in tip
        assert FLAGS[row["flag"]] in html.unescape(tip)
        if pd.notna(row["isolation_rank_low"]):
            expected = (f"rang {int(row['isolation_rank'])} [{int(row['isolation_rank_low'])}"
                        f"–{int(row['isolation_rank_high'])}]")
            assert expected in tip
        if pd.notna(row["non_recours_barrier_rank_low"]):
            assert (f"[{int(row['non_recours_barrier_rank_low'])}–"
                    f"{int(row['non_recours_barrier_rank_high'])}]") in tip


def test_tooltip_numbers_are_french():
    tip = tooltips(render(maps.interactive_map(small_frame())))["751010000"]
    assert "80,0 · rang 1 [1–2]" in tip
    assert cell(tip, "Contacts (attendus)") == "1\u202f520 (1\u202f200,0)"
    assert cell(tip, "Contacts observés / attendus") == "1,25 [1,10–1,40]"
    assert cell(tip, "France Services la plus proche") == "1,2 km"
    assert maps.rank_text(12, 8, 17) == "rang 12 [8–17]"
    assert maps.format_fr(float("nan")) == "—"


def test_suppressed_counts_are_secret_and_no_small_count_is_shown():
    frame = small_frame()
    # a published count under the threshold (should never happen) is still hidden
    frame.loc["751010005", ["contacts", "persons"]] = [7, 4]
    tips = tooltips(render(maps.interactive_map(frame)))
    assert cell(tips["751010002"], "Contacts (attendus)") == "secret (40,0)"
    assert cell(tips["751010002"], "Personnes distinctes") == "secret"
    assert cell(tips["751010005"], "Personnes distinctes") == "secret"
    assert cell(tips["751010003"], "Contacts (attendus)").startswith("0 ")
    for tip in tips.values():
        for header in ("Contacts (attendus)", "Personnes distinctes"):
            value = cell(tip, header).split(" (")[0]
            assert value == "secret" or int(value.replace("\u202f", "")) == 0 or int(
                value.replace("\u202f", "")) >= 11


def test_demo_counts_are_the_published_columns(demo, demo_html):
    gdf = demo["gdf"]
    tips = tooltips(demo_html[1])
    suppressed = gdf.index[gdf["counts_status"] != "publie"]
    assert len(suppressed) > 0
    for code, row in gdf.iterrows():
        persons = cell(tips[code], "Personnes distinctes")
        if code in suppressed:
            assert persons == "secret"
        else:
            assert persons == maps.format_fr(row["persons"], 0)
            assert int(persons.replace("\u202f", "")) == 0 or row["persons"] >= 11


def test_potential_mode_says_without_log():
    frame = small_frame()
    frame[["contacts", "persons"]] = pd.NA
    frame["counts_status"] = np.nan
    frame["mode"] = "potentiel"
    frame["coverage_ratio"] = np.nan
    m = maps.interactive_map(frame)
    assert "coverage" not in m.fragility_layers  # empty layer left out
    assert m.fragility_layers["flag"].endswith("mode potentiel")
    tip = tooltips(render(m))["751010000"]
    assert cell(tip, "Personnes distinctes") == "sans journal"


def test_quantile_classes_match_mapclassify(demo, demo_html):
    gdf = demo["gdf"]
    values = gdf["isolation_index"].dropna()
    expected = mapclassify.Quantiles(values.to_numpy(), k=5)
    m = maps.interactive_map(gdf, layers=("isolation",), communes=False, tiles=False)
    np.testing.assert_allclose(m.fragility_classes["isolation"].bins, expected.bins)
    colours = {f["properties"]["id"]: f["properties"]["c"].get("isolation")
               for f in features(demo_html[1])}
    by_class: dict[int, set] = {}
    for code, cls in zip(values.index, expected.yb, strict=True):
        by_class.setdefault(int(cls), set()).add(colours[code])
    assert all(len(c) == 1 for c in by_class.values())  # one colour per class
    assert len(set.union(*by_class.values())) == len(expected.bins)  # distinct colours
    assert all(colours[c] is None for c in gdf.index[gdf["isolation_index"].isna()])


@pytest.mark.filterwarnings("ignore:Numba not installed")
def test_fisher_jenks_on_request():
    frame = small_frame()
    m = maps.interactive_map(frame, scheme="FisherJenks", k=3, layers=("non_recours",))
    expected = mapclassify.FisherJenks(frame["non_recours_index"].to_numpy(), k=3)
    np.testing.assert_allclose(m.fragility_classes["non_recours"].bins, expected.bins)
    assert "seuils naturels (Fisher-Jenks)" in render(m)


def legend(text: str) -> str:
    """The legend's HTML (a JSON string in the page script), as plain text."""
    match = re.search(r'div\.innerHTML = ("(?:[^"\\]|\\.)*");', text)
    assert match, "légende absente du HTML"
    return html.unescape(re.sub(r"<[^>]+>", " ", json.loads(match.group(1))))


def test_legend_is_french(demo_html):
    text = legend(demo_html[1])
    for fragment in ("Classes : quantiles", "donnée manquante ou secret", "de 1", " à ",
                     "indice (0-100)", "rapport lissé (1 = attendu)",
                     "Sous-desservi probable (", "À surveiller (", "Conforme (",
                     "contour d'un QPV", "limite de commune", "« secret » : effectif non "
                     "diffusable"):
        assert fragment in text, fragment
    assert re.search(r"de \d+,\d à \d+,\d \(\d+\)", text)


def test_web_geometry_is_wgs84_and_rounded(demo, demo_html):
    gdf = demo["gdf"]
    assert gdf.crs.to_epsg() == 2154  # the computation frame is left alone
    coordinates = []
    for feature in features(demo_html[1]):
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [
            geometry["coordinates"]]
        for polygon in polygons:
            for ring in polygon:
                coordinates.extend(ring)
    xy = np.asarray(coordinates)
    assert xy[:, 0].min() > -5.5 and xy[:, 0].max() < 10.0  # longitudes of France
    assert xy[:, 1].min() > 41.0 and xy[:, 1].max() < 51.5  # latitudes
    assert np.allclose(xy, np.round(xy, 6))


def test_html_is_self_contained_small_and_reproducible(demo, demo_html, tmp_path):
    path, text = demo_html
    assert path.name == "carte.html"
    assert '<html lang="fr">' in text
    assert "Leaflet 1.9.4" in text
    assert not re.search(r"<(script|link)[^>]+(src|href)=", text)  # everything inline
    for library in ("jquery", "bootstrap", "awesome-markers", "font-awesome"):
        assert library not in text.lower()
    assert maps.SYNTHETIC_BANNER in text
    assert path.stat().st_size < 1_500_000
    again = maps.write_interactive_map(demo["gdf"], tmp_path / "carte.html", **demo["kwargs"])
    assert again.read_text(encoding="utf-8") == text
    assert not list(tmp_path.glob(".carte*"))  # no temporary file left


def test_no_banner_on_real_territory_and_bad_arguments():
    frame = small_frame()
    assert maps.SYNTHETIC_BANNER not in render(maps.interactive_map(frame))
    with pytest.raises(InputError, match="couche inconnue"):
        maps.interactive_map(frame, layers=("isolement",))
    with pytest.raises(InputError, match="méthode de classement"):
        maps.interactive_map(frame, scheme="natural_breaks")


# --------------------------------------------------------------------------------------
# In a real browser, offline
# --------------------------------------------------------------------------------------


def _count(page, selector: str) -> int:
    return page.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length")


@pytest.mark.browser
@pytest.mark.slow
def test_carte_renders_offline_in_chromium(demo, demo_html, open_page):
    from browser_helpers import is_blank

    path, _ = demo_html
    gdf = demo["gdf"]
    page, errors, requests = open_page(path, allow_failing=TILES)
    assert errors == []
    assert all(url.startswith(("file:", "data:")) or any(t in url for t in TILES)
               for url in requests), requests
    assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.4"
    assert _count(page, ".leaflet-container") == 1
    interactive = _count(page, "path.leaflet-interactive")
    assert interactive >= len(gdf)  # every IRIS polygon is drawn

    labels = page.evaluate("Array.from(document.querySelectorAll("
                           "'.leaflet-control-layers label')).map(l => l.textContent.trim())")
    for name in [*FRENCH_LAYERS, "Quartiers prioritaires (QPV)", "France Services",
                 "Limites des communes", "Fond de carte OpenStreetMap"]:
        assert name in labels

    def toggle(name):
        page.locator(".leaflet-control-layers label", has_text=name).locator(
            "input").click()
        page.wait_for_timeout(100)

    toggle("Quartiers prioritaires (QPV)")
    assert _count(page, "path.leaflet-interactive") == interactive - len(demo["qpv"])
    toggle("Quartiers prioritaires (QPV)")
    assert _count(page, "path.leaflet-interactive") == interactive
    paths = _count(page, "path")
    toggle("Limites des communes")
    assert _count(page, "path") == paths - gdf["commune"].nunique()

    # choropleths are exclusive; the legend follows the layer shown
    legend = page.locator(".fragility-legend")
    assert "Sous-desservi probable" not in legend.inner_text()
    toggle("Zones sous-desservies (signalements)")
    assert "Sous-desservi probable" in legend.inner_text()
    assert _count(page, "path.leaflet-interactive") == interactive

    # hovering an IRIS shows its tooltip
    shown = False
    for i in range(min(20, len(gdf))):
        box_ = page.locator("path.leaflet-interactive").nth(i).bounding_box()
        page.mouse.move(box_["x"] + box_["width"] / 2, box_["y"] + box_["height"] / 2)
        page.wait_for_timeout(50)
        tip = page.locator(".leaflet-tooltip.fragility-tip")
        if tip.count() and "IRIS" in tip.first.inner_text():
            shown = "rang" in tip.first.inner_text()
            break
    assert shown
    assert not is_blank(page.screenshot())
    assert errors == []


@pytest.mark.browser
def test_carte_without_tiles_makes_no_request(open_page, tmp_path):
    path = maps.write_interactive_map(small_frame(), tmp_path, tiles=False,
                                      title="Essai", synthetic=True)
    page, errors, requests = open_page(path)
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert _count(page, "path.leaflet-interactive") == 6
    assert maps.SYNTHETIC_BANNER in page.inner_text(".fragility-title")


# --------------------------------------------------------------------------------------
# Static maps
# --------------------------------------------------------------------------------------


def test_static_map_png_and_svg(demo, tmp_path):
    from browser_helpers import is_blank

    gdf = demo["gdf"]
    common = {"title": "Indice de risque d'isolement", "source_line": "Sources : essai",
              "legend_title": "indice (0-100)", "subtitle": maps.SYNTHETIC_BANNER,
              "borders": gdf.dissolve(by="commune")[["geometry"]]}
    png = maps.static_map(gdf, "isolation_index", tmp_path / "a.png", **common)
    svg = maps.static_map(gdf, "isolation_index", tmp_path / "a.svg", **common)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not is_blank(png.read_bytes())
    assert "<svg" in svg.read_text(encoding="utf-8")[:1000]
    again_png = maps.static_map(gdf, "isolation_index", tmp_path / "b.png", **common)
    again_svg = maps.static_map(gdf, "isolation_index", tmp_path / "b.svg", **common)
    assert again_png.read_bytes() == png.read_bytes()  # deterministic
    assert again_svg.read_bytes() == svg.read_bytes()
    flags = maps.static_map(
        gdf, "flag", tmp_path / "flags.svg", title="Zones sous-desservies",
        source_line="Sources : essai",
        categories={k: (FLAGS[k], c) for k, c in maps.FLAG_COLOURS.items()})
    assert flags.stat().st_size > 0
