"""The export simulator: realistic, messy, need-driven, deterministic, with a planted truth."""

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from fragility.errors import InputError
from fragility.iris_table import build_iris_table
from fragility.logs.schema import IRIS_PATTERN, match_value
from fragility.logs.simulate import (
    COLUMNS,
    DEFECTS,
    SimulatedExport,
    simulate_export,
    write_export,
)
from fragility.territory import Territory

HEADERS = [
    "Date de l'intervention",
    "Registre d'intervention",
    "Thématique",
    "Code IRIS",
    "Code commune",
    "Latitude",
    "Longitude",
    "QPV",
    "Tranche d'âge",
    "Sexe",
    "Orientation vers",
    "Suivi",
    "Mode de gestion du conflit",
    "Type de non-recours",
    "Base de localisation",
    "Identifiant usager",
    "Médiateur",
    "Nom",
    "Prénom",
    "Téléphone",
    "Commentaire",
]
LOCATION = ["Code IRIS", "Code commune", "Latitude", "Longitude", "QPV"]
N = 20000
PERIOD_END = pd.Timestamp("2024-12-31")
# Metropolitan France, generously.
FRANCE = {"lat": (41.0, 51.5), "lon": (-5.5, 10.0)}


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # never the user's cache
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("demo-cache")))
        yield build_iris_table(Territory.demo())


@pytest.fixture(scope="module")
def sim(demo_table) -> SimulatedExport:
    return simulate_export(demo_table, n=N, seed=0)


@pytest.fixture(scope="module")
def planted(demo_table) -> SimulatedExport:
    return simulate_export(demo_table, n=N, seed=1, planted_under_served=5)


@pytest.fixture(scope="module")
def csv_path(sim, tmp_path_factory):
    return write_export(sim, tmp_path_factory.mktemp("export") / "export.csv")


def _number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")


def _in_france(lat: pd.Series, lon: pd.Series) -> pd.Series:
    return lat.between(*FRANCE["lat"]) & lon.between(*FRANCE["lon"])


def _nir_key_ok(nir: str) -> bool:
    compact = nir.replace(" ", "")
    body = compact[:13].replace("2A", "19").replace("2B", "18")
    return int(compact[13:]) == 97 - int(body) % 97


NIR_RE = re.compile(r"^[1-478]\d{4}(?:\d{2}|2[AB])\d{8}$")


# ---------------------------------------------------------------------------------------
# Shape, headers, encoding, determinism
# ---------------------------------------------------------------------------------------


def test_headers_exactly_as_documented(sim, csv_path):
    assert list(sim.frame.columns) == HEADERS == list(COLUMNS)
    header = csv_path.read_bytes().split(b"\r\n", 1)[0].decode("cp1252")
    assert header.split(";") == HEADERS


def test_cp1252_semicolon_crlf(sim, csv_path):
    raw = csv_path.read_bytes()
    text = raw.decode("cp1252")
    assert "Thématique" in text and "Tranche d'âge" in text and "Prénom" in text
    assert b"Th\xe9matique" in raw  # Windows-1252, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.count(b"\r\n") == N + 1 and raw.count(b"\n") == N + 1  # CRLF only
    back = pd.read_csv(csv_path, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    assert list(back.columns) == HEADERS
    assert (back.astype(object).to_numpy() == sim.frame.to_numpy()).all()


def test_same_seed_same_bytes_other_seed_differs(demo_table, tmp_path):
    paths = [
        write_export(simulate_export(demo_table, n=3000, seed=s), tmp_path / f"{i}.csv")
        for i, s in enumerate((7, 7, 8))
    ]
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


def test_xlsx_by_suffix(demo_table, tmp_path):
    small = simulate_export(demo_table, n=300, seed=2)
    path = write_export(small, tmp_path / "export.xlsx")
    back = pd.read_excel(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == HEADERS
    assert (back.astype(object).to_numpy() == small.frame.to_numpy()).all()


def test_write_accepts_a_frame_and_utf8_bom(sim, tmp_path):
    path = write_export(sim.frame.head(50), tmp_path / "x.csv", encoding="utf-8-sig", sep=",")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "Thématique" in raw.decode("utf-8-sig")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary file left behind


def test_rows_and_duplicates_accounted_for(sim):
    frame, messy = sim.frame, sim.messy_lines
    assert len(frame) == N
    assert messy["line"].is_unique and messy["line"].is_monotonic_increasing
    assert messy["line"].between(2, N + 1).all()
    assert len(messy) == round(0.03 * N)
    assert set(messy["kind"]) == set(DEFECTS)
    duplicate_lines = set(frame.index[frame.duplicated()] + 2)
    assert duplicate_lines == set(messy.loc[messy["kind"] == "doublon_exact", "line"])
    # The truth counts the contacts, not the copies.
    assert sim.truth["simulated_contacts"].sum() == N - len(duplicate_lines)


# ---------------------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------------------


def test_location_kinds_shares(sim):
    clean = sim.frame.drop(index=sim.messy_lines["line"] - 2)
    has = {
        "iris": clean["Code IRIS"] != "",
        "commune": clean["Code commune"] != "",
        "coordinates": (clean["Latitude"] != "") & (clean["Longitude"] != ""),
    }
    assert (sum(h.astype(int) for h in has.values()) == 1).all()  # one kind per row
    assert has["iris"].mean() == pytest.approx(0.60, abs=0.03)
    assert has["commune"].mean() == pytest.approx(0.15, abs=0.02)
    assert has["coordinates"].mean() == pytest.approx(0.25, abs=0.03)


def test_clean_rows_are_valid(sim, demo_table):
    """Every row not listed in messy_lines imports without a problem."""
    gdf = demo_table.gdf
    clean = sim.frame.drop(index=sim.messy_lines["line"] - 2)
    dates = pd.to_datetime(clean["Date de l'intervention"], format="%d/%m/%Y", errors="coerce")
    assert dates.notna().all()
    assert dates.between(pd.Timestamp("2024-01-01"), PERIOD_END).all()
    registres = clean["Registre d'intervention"].map(lambda v: match_value("registre", v))
    assert registres.notna().all()
    themes = clean["Thématique"].map(lambda v: match_value("thematique", v))
    assert themes.notna().all()
    iris = clean.loc[clean["Code IRIS"] != "", "Code IRIS"]
    assert iris.isin(gdf.index).all()
    communes = clean.loc[clean["Code commune"] != "", "Code commune"]
    assert communes.isin(set(gdf["commune"])).all()
    coords = clean[clean["Latitude"] != ""]
    assert _in_france(_number(coords["Latitude"]), _number(coords["Longitude"])).all()
    assert (clean[LOCATION[:4]] != "").any(axis=1).all()
    qpv = clean.loc[clean["QPV"] != "", "QPV"]
    assert len(qpv) > 0 and qpv.str.fullmatch(r"Q[NP][0-9A-Z]{6}").all()
    for column, field in [("Tranche d'âge", "age_band"), ("Sexe", "sexe"),
                          ("Suivi", "suivi_statut"), ("Type de non-recours",
                                                      "non_recours_observe"),
                          ("Base de localisation", "geo_basis")]:
        values = clean.loc[clean[column] != "", column].unique()
        assert all(match_value(field, v) is not None for v in values), column
    partners = {p for v in clean["Orientation vers"] if v for p in v.split(", ")}
    assert all(match_value("orientation_partenaire", p) is not None for p in partners)


def test_registres_written_as_people_write_them(sim):
    written = sim.frame["Registre d'intervention"]
    assert (written == "Mettre en relation avec un partenaire").any()  # official title
    assert (written == "Mise en relation").any()  # shortened
    assert (written == written.str.upper()).any()  # capitals
    assert written.str.contains("incomprehensions", regex=False).any()  # no accents
    assert written.nunique() > 30


def test_identifiers_and_repeat_visits(sim):
    frame = sim.frame
    ids = frame.loc[frame["Identifiant usager"] != "", "Identifiant usager"]
    assert ids.str.fullmatch(r"U\d{5,}").all()
    assert 0.3 * len(ids) < ids.nunique() < 0.8 * len(ids)  # distinct persons < contacts
    assert ids.value_counts().max() >= 5
    assert frame["Médiateur"].str.fullmatch(r"\w[\w-]* [A-Z]\.").all()
    # A person keeps the same name and phone from one visit to the next.
    people = frame[(frame["Nom"] != "") & (frame["Identifiant usager"] != "")]
    assert people.groupby("Identifiant usager")["Nom"].nunique().max() == 1
    phones = frame[(frame["Téléphone"] != "") & (frame["Identifiant usager"] != "")]
    assert phones.groupby("Identifiant usager")["Téléphone"].nunique().max() == 1


def test_dates_sorted_and_weekday_driven(sim):
    clean = sim.frame.drop(index=sim.messy_lines["line"] - 2)
    dates = pd.to_datetime(clean["Date de l'intervention"], format="%d/%m/%Y")
    assert dates.is_monotonic_increasing
    assert (dates.dt.day_of_week == 6).mean() < 0.01  # hardly any Sunday
    assert (dates.dt.month == 8).sum() < (dates.dt.month == 9).sum()


# ---------------------------------------------------------------------------------------
# Need, planted truth
# ---------------------------------------------------------------------------------------


def test_contacts_follow_need(sim):
    truth = sim.truth
    assert truth.index.name == "iris"
    assert {"expected_contacts", "planted_under_served", "simulated_contacts"} <= set(
        truth.columns
    )
    assert not truth["planted_under_served"].any()
    rho = truth["expected_contacts"].rank().corr(truth["simulated_contacts"].rank())
    assert rho > 0.3
    per_capita = truth["simulated_contacts"] / truth["population"].where(truth["population"] > 0)
    rho_need = truth["need"].rank().corr(per_capita.rank())
    assert rho_need > 0.3
    assert 2 <= truth["team_base"].sum() <= 3
    assert (truth["distinct_persons"] <= truth["simulated_contacts"]).all()


def test_planted_under_served(planted):
    truth = planted.truth
    flagged = truth[truth["planted_under_served"]]
    assert len(flagged) == 5
    ratio = flagged["simulated_contacts"] / flagged["expected_contacts"]
    assert (ratio < 0.4).all()
    others = truth[~truth["planted_under_served"] & (truth["expected_contacts"] > 50)]
    assert (others["simulated_contacts"] / others["expected_contacts"]).median() > 0.8
    assert (flagged["need"] >= truth["need"].median()).all()  # chosen among high need


def test_planted_choice_depends_on_seed_only(demo_table, planted):
    same = simulate_export(demo_table, n=2000, seed=1, planted_under_served=5)
    assert (same.truth["planted_under_served"] == planted.truth["planted_under_served"]).all()


# ---------------------------------------------------------------------------------------
# Planted personal data
# ---------------------------------------------------------------------------------------


def test_planted_pii_in_comments(sim, csv_path):
    text = csv_path.read_bytes().decode("cp1252")
    pii = sim.planted_pii
    assert pii == sorted(set(pii))
    assert all(s in text for s in pii)
    nirs = [s for s in pii if NIR_RE.match(s.replace(" ", ""))]
    assert len(nirs) > 100
    assert all(_nir_key_ok(s) for s in nirs)
    assert any(" " in s for s in nirs) and any(" " not in s for s in nirs)
    assert any("@example." in s for s in pii)
    assert any(s.startswith(("Mme ", "M. ")) for s in pii)
    comments = sim.frame["Commentaire"]
    with_pii = comments.map(lambda c: any(s in c for s in _COMMENT_MARKERS))
    assert with_pii.mean() == pytest.approx(0.20, abs=0.03)
    assert (comments == "Accompagnement dossier CAF").any()


_COMMENT_MARKERS = ("Rappeler au ", "Joignable au ", "Tél : ", "A rappeler au ",
                    "Envoyer les documents à ", "mail : ", "Contact par courriel ", "NIR ",
                    "N° sécu : ", "Numéro de sécurité sociale ", "RDV avec ", "Vu avec ",
                    "Venue avec ")


def test_planted_phones_are_fiction_numbers(sim):
    phones = [s for s in sim.planted_pii if re.fullmatch(r"[+\d][\d .]+", s)
              and not NIR_RE.match(s.replace(" ", ""))]
    assert phones
    digits = [re.sub(r"\D", "", p) for p in phones]
    national = ["0" + d[2:] if d.startswith("33") else d for d in digits]
    blocks = ("019900", "026191", "035301", "046571", "053649", "063998")
    assert all(len(d) == 10 and d[:6] in blocks for d in national)


# ---------------------------------------------------------------------------------------
# Coordinates
# ---------------------------------------------------------------------------------------


def test_coordinates_fall_inside_their_iris(sim, demo_table):
    frame = sim.frame.drop(index=sim.messy_lines["line"] - 2)
    rows = frame[frame["Latitude"] != ""]
    assert len(rows) > 1000
    points = gpd.GeoSeries(
        gpd.points_from_xy(_number(rows["Longitude"]), _number(rows["Latitude"])),
        index=rows.index, crs="EPSG:4326",
    ).to_crs(demo_table.gdf.crs)
    iris = sim.row_iris.loc[rows.index]
    contours = demo_table.gdf.geometry.loc[iris.to_numpy()]
    assert points.within(gpd.GeoSeries(contours.to_numpy(), index=rows.index,
                                       crs=points.crs)).all()
    # Coordinates are written with a decimal comma, six decimals.
    assert rows["Latitude"].str.fullmatch(r"\d{2},\d{6}").all()


def test_row_iris_matches_written_codes(sim):
    frame = sim.frame.drop(index=sim.messy_lines["line"] - 2)
    iris = frame["Code IRIS"] != ""
    assert (frame.loc[iris, "Code IRIS"] == sim.row_iris[frame.index[iris]]).all()
    commune = frame["Code commune"] != ""
    assert (frame.loc[commune, "Code commune"]
            == sim.row_iris[frame.index[commune]].str[:5]).all()


# ---------------------------------------------------------------------------------------
# Messy lines
# ---------------------------------------------------------------------------------------


def test_every_messy_line_has_its_defect(sim, demo_table):
    frame, gdf = sim.frame, demo_table.gdf
    communes = set(gdf["commune"])
    seen = set()
    for line, kind, column in sim.messy_lines.itertuples(index=False):
        row = frame.loc[line - 2]
        seen.add(kind)
        date = pd.to_datetime(row["Date de l'intervention"], format="%d/%m/%Y",
                              errors="coerce")
        lat, lon = _number(pd.Series([row["Latitude"], row["Longitude"]]))
        if kind == "date_impossible":
            assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", row["Date de l'intervention"])
            assert pd.isna(date), row["Date de l'intervention"]
        elif kind == "date_future":
            assert date > PERIOD_END + pd.DateOffset(years=5)
            assert date > pd.Timestamp.now()
        elif kind == "registre_inconnu":
            assert match_value("registre", row["Registre d'intervention"]) is None
        elif kind == "iris_hors_territoire":
            assert IRIS_PATTERN.match(row["Code IRIS"])
            assert row["Code IRIS"] not in gdf.index and row["Code IRIS"][:5] not in communes
        elif kind == "code_mal_forme":
            value = row[column]
            pattern = IRIS_PATTERN if column == "Code IRIS" else re.compile(
                r"^[0-9][0-9AB][0-9]{3}$")
            assert value and not pattern.match(value), value
        elif kind == "coordonnees_hors_france":
            assert not _in_france(pd.Series([lat]), pd.Series([lon])).all()
            assert not _in_france(pd.Series([lon]), pd.Series([lat])).all()  # not swapped
        elif kind == "lat_lon_inversees":
            assert not _in_france(pd.Series([lat]), pd.Series([lon])).all()
            assert _in_france(pd.Series([lon]), pd.Series([lat])).all()
        elif kind == "doublon_exact":
            assert (frame.loc[line - 2] == frame.loc[line - 3]).all()
        elif kind == "sans_localisation":
            assert (row[LOCATION] == "").all()
        else:  # pragma: no cover
            pytest.fail(f"unknown defect {kind}")
        if kind in ("iris_hors_territoire", "code_mal_forme", "coordonnees_hors_france",
                    "lat_lon_inversees"):
            # The defective location is the row's only location.
            others = [c for c in LOCATION if c not in (column, "Latitude", "Longitude")]
            assert (row[others] == "").all()
    assert seen == set(DEFECTS)


def test_no_messy_rows_when_share_is_zero(demo_table):
    clean = simulate_export(demo_table, n=1000, seed=4, messy_share=0)
    assert clean.messy_lines.empty and len(clean.frame) == 1000
    assert not clean.frame.duplicated().any()


def test_today_bounds_the_dates(demo_table):
    early = simulate_export(demo_table, n=2000, seed=5, today="2024-06-15")
    clean = early.frame.drop(index=early.messy_lines["line"] - 2)
    dates = pd.to_datetime(clean["Date de l'intervention"], format="%d/%m/%Y")
    assert dates.max() <= pd.Timestamp("2024-06-15")


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"messy_share": 0.9}, {"start": "2024-13"}, {"months": 0},
     {"planted_under_served": 10_000}, {"today": "2023-01-01"}],
)
def test_bad_arguments_are_refused(demo_table, kwargs):
    with pytest.raises(InputError):
        simulate_export(demo_table, **kwargs)


def test_accepts_the_geodataframe_too(demo_table):
    a = simulate_export(demo_table, n=500, seed=9)
    b = simulate_export(demo_table.gdf, n=500, seed=9)
    assert a.frame.equals(b.frame)
    assert np.array_equal(a.truth["simulated_contacts"], b.truth["simulated_contacts"])
