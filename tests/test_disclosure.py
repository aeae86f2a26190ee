import json
import warnings
from itertools import combinations, product

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from fragility.disclosure import (
    STATUSES,
    TOTAL_LABEL,
    DisclosureError,
    SuppressionManifest,
    check_no_small_cells,
    protect,
    publishable_margins,
    regroup,
)
from fragility.errors import ConfigError, FragilityWarning, InputError, PrivacyError

K = 11
REGISTRES = ["presence_active", "gestion_conflits", "mise_en_relation_partenaire",
             "projet_collectif"]
PROPS = settings(max_examples=100, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

person_counts = st.one_of(st.integers(0, 12), st.integers(0, 80), st.sampled_from([0, 1, 10, 11]))


@st.composite
def tables(draw, dims=2, with_share=False):
    n_iris = draw(st.integers(1, 6))
    n_reg = draw(st.integers(1, 4)) if dims == 2 else 1
    rows = []
    for i, r in product(range(n_iris), range(n_reg)):
        if dims == 2 and draw(st.integers(0, 4)) == 0:
            continue  # absent combination (structural zero)
        persons = draw(person_counts)
        contacts = persons + (draw(st.integers(0, 40)) if persons else 0)
        row = {"iris": f"21231{i:04d}", "persons": persons, "contacts": contacts}
        if dims == 2:
            row["registre"] = REGISTRES[r]
        if with_share:
            row["top_share"] = (
                draw(st.sampled_from([0.1, 0.5, 0.85, 0.86, 1.0])) if persons else np.nan
            )
        rows.append(row)
    if not rows:
        rows.append({"iris": "212310000", "registre": REGISTRES[0], "persons": 3,
                     "contacts": 3, "top_share": 0.5})
        if dims == 1:
            rows[0].pop("registre")
        if not with_share:
            rows[0].pop("top_share")
    frame = pd.DataFrame(rows)
    keys = ["iris", "registre"] if dims == 2 else ["iris"]
    return frame[[*keys, *[c for c in frame.columns if c not in keys]]]


# --------------------------------------------------------------------------- checkers


def lattice_of(table, out, margins, keys):
    """All cells (table + totals) with true persons/contacts and their published status."""
    cells = table[keys].astype(object).copy()
    cells["persons"] = table["persons"].to_numpy()
    cells["contacts"] = table["contacts"].to_numpy()
    cells["hidden"] = (out["statut"] != "publie").to_numpy()
    true_margins = true_totals(table, keys)
    m = margins[keys].astype(object).merge(true_margins, on=keys, how="left")
    m["hidden"] = (margins["statut"] != "publie").to_numpy()
    return pd.concat([cells, m], ignore_index=True)


def true_totals(table, keys):
    parts = []
    for r in range(1, len(keys) + 1):
        for collapsed in combinations(keys, r):
            kept = [k for k in keys if k not in collapsed]
            if kept:
                g = table.groupby(kept, as_index=False)[["persons", "contacts"]].sum()
            else:
                g = table[["persons", "contacts"]].sum().to_frame().T
            for c in collapsed:
                g[c] = TOTAL_LABEL
            parts.append(g[[*keys, "persons", "contacts"]])
    out = pd.concat(parts, ignore_index=True)
    out[keys] = out[keys].astype(object)
    return out


def lines_of(lattice, keys):
    """Yield (member rows, total row) for every line of the lattice."""
    for key in keys:
        others = [k for k in keys if k != key]
        groups = lattice.groupby(others, dropna=False) if others else [((), lattice)]
        for _, group in groups:
            total = group[group[key] == TOTAL_LABEL]
            members = group[group[key] != TOTAL_LABEL]
            if len(total) == 1:
                yield members, total.iloc[0]


def assert_protected(table, out, margins, keys, k=K):
    lattice = lattice_of(table, out, margins, keys)
    for members, total in lines_of(lattice, keys):
        hidden = members[members["hidden"]]
        n_hidden = len(hidden) + bool(total["hidden"])
        # Rule 1: never exactly one suppressed cell in a line (total included).
        assert n_hidden in (0,) or n_hidden >= 2
        if not total["hidden"] and len(hidden):
            # Margins never reveal a single suppressed cell...
            assert len(hidden) >= 2
            # ...which the attacker can try: total minus published cells.
            guess = total["contacts"] - members.loc[~members["hidden"], "contacts"].sum()
            assert all(guess != v for v in hidden["contacts"])
            # Rule 2: the suppressed aggregate is not a small count.
            assert hidden["persons"].sum() >= k
    assert_not_determined(lattice, keys)


def assert_not_determined(lattice, keys):
    """No suppressed cell follows exactly from the system of published totals."""
    unknown = np.flatnonzero(lattice["hidden"].to_numpy())
    if not len(unknown):
        return
    position = {cell: i for i, cell in enumerate(unknown)}
    rows = []
    for members, total in lines_of(lattice, keys):
        row = np.zeros(len(unknown))
        if total["hidden"]:
            row[position[total.name]] = 1
        for idx in members.index[members["hidden"]]:
            row[position[idx]] = -1
        if row.any():
            rows.append(row)
    if not rows:
        return
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    for i in range(len(unknown)):
        probe = np.zeros(len(unknown))
        probe[i] = 1
        assert np.linalg.matrix_rank(np.vstack([a, probe])) > rank, "cellule recalculable"


def assert_manifest_matches(out, manifest, keys):
    statut = out["statut"]
    assert set(statut) <= set(STATUSES)
    assert manifest.primary == (statut == "secret_primaire").sum()
    assert manifest.secondary == (statut == "secret_secondaire").sum()
    assert manifest.dominance_suppressed == (statut == "secret_dominance").sum()
    assert manifest.cells == len(out)
    listed = {(tuple(c[k] for k in keys), c["motif"]) for c in manifest.suppressed_cells}
    codes = {"secret_primaire": "primaire", "secret_secondaire": "secondaire",
             "secret_dominance": "dominance"}
    hidden = out[statut != "publie"]
    expected = {(tuple(r[k] for k in keys), codes[r["statut"]]) for _, r in hidden.iterrows()}
    assert listed == expected
    # The manifest never carries counts.
    for cell in manifest.suppressed_cells:
        assert set(cell) == {*keys, "motif"}
    json.dumps(manifest.to_dict())


def assert_no_small(out, k=K):
    for column in ("persons", "contacts"):
        values = out[column].dropna().astype(int)
        assert not ((values >= 1) & (values <= k - 1)).any()
    check_no_small_cells(out, ["persons"], k)


# --------------------------------------------------------------------------- properties


@PROPS
@given(tables(dims=1))
def test_property_1d(table):
    before = table.copy()
    out, manifest = protect(table, keys=["iris"])
    margins, _ = publishable_margins(table, keys=["iris"])
    pd.testing.assert_frame_equal(table, before)
    assert_no_small(out)
    assert_no_small(margins)
    assert_protected(table, out, margins, ["iris"])
    assert_manifest_matches(out, manifest, ["iris"])
    # Published values are the true ones.
    shown = out["statut"] == "publie"
    assert (out.loc[shown, "persons"].astype(int) == table.loc[shown, "persons"]).all()


@PROPS
@given(tables(dims=2))
def test_property_2d(table):
    keys = ["iris", "registre"]
    before = table.copy()
    out, manifest = protect(table, keys=keys)
    margins, margin_manifest = publishable_margins(table, keys=keys)
    pd.testing.assert_frame_equal(table, before)
    assert out.index.equals(table.index) and list(out[keys].itertuples()) == list(
        table[keys].itertuples())
    assert_no_small(out)
    assert_no_small(margins)
    assert_protected(table, out, margins, keys)
    assert_manifest_matches(out, manifest, keys)
    assert_manifest_matches(margins, margin_manifest, keys)
    assert manifest.margins_suppressed == (margins["statut"] != "publie").sum()


@PROPS
@given(tables(dims=2), st.booleans())
def test_property_rounding(table, two_d):
    keys = ["iris", "registre"] if two_d else ["iris"]
    if not two_d:
        table = table.drop_duplicates("iris").drop(columns="registre")
    out, manifest = protect(table, keys=keys, rounding=5)
    plain, _ = protect(table, keys=keys)
    assert manifest.rounding == 5
    assert (out["statut"] == plain["statut"]).all()
    for column in ("persons", "contacts"):
        values = out[column].dropna().astype(int)
        assert (values % 5 == 0).all()
        assert ((values == 0) | (values >= 15)).all()
        exact = plain[column].dropna().astype(int)
        assert ((values - exact).abs() <= np.maximum(2, 15 - exact)).all()
    assert_no_small(out)


@PROPS
@given(tables(dims=2, with_share=True))
def test_property_dominance(table):
    keys = ["iris", "registre"]
    out, manifest = protect(table, keys=keys, top_share="top_share")
    assert "top_share" not in out.columns
    dominant = (table["top_share"] > 0.85) & (table["persons"] >= K)
    assert (out.loc[dominant, "statut"] == "secret_dominance").all()
    small = table["persons"].between(1, K - 1)
    assert (out.loc[small, "statut"] == "secret_primaire").all()
    assert (out.loc[out["statut"] == "secret_dominance", "persons"].isna()).all()
    assert manifest.dominance == 0.85
    margins, _ = publishable_margins(table, keys=keys, top_share="top_share")
    assert_protected(table, out, margins, keys)
    assert_manifest_matches(out, manifest, keys)


@settings(max_examples=40, deadline=None)
@given(tables(dims=2))
def test_property_k7_threshold(table):
    with pytest.warns(FragilityWarning, match="seuil k inférieur à 11"):
        out, manifest = protect(table, keys=["iris", "registre"], k=7)
    with pytest.warns(FragilityWarning):
        margins, _ = publishable_margins(table, keys=["iris", "registre"], k=7)
    assert manifest.k == 7
    assert_no_small(out, k=7)
    assert_protected(table, out, margins, ["iris", "registre"], k=7)


# --------------------------------------------------------------------------- examples


def test_example_1d_hand_computed():
    table = pd.DataFrame({"iris": ["A", "B", "C", "D", "E"], "persons": [3, 15, 20, 0, 40],
                          "contacts": [4, 30, 25, 0, 90]})
    out, manifest = protect(table, keys="iris")
    # A (3) is primary; the line total (78) is published, so the smallest non-zero cell
    # (B, 15) is suppressed too: 3 + 15 = 18 >= 11. D (0) is published as 0.
    assert out["statut"].tolist() == ["secret_primaire", "secret_secondaire", "publie",
                                      "publie", "publie"]
    assert out["persons"].tolist() == [pd.NA, pd.NA, 20, 0, 40]
    assert out["persons"].dtype == "Int64"
    assert (manifest.primary, manifest.secondary, manifest.cells) == (1, 1, 5)
    assert manifest.suppressed_cells == [{"iris": "A", "motif": "primaire"},
                                         {"iris": "B", "motif": "secondaire"}]
    margins, _ = publishable_margins(table, keys="iris")
    assert margins.to_dict("records") == [
        {"iris": TOTAL_LABEL, "persons": 78, "contacts": 149, "statut": "publie"}]


def test_example_1d_small_aggregate_needs_more():
    # 3 + 4 = 7 < 11: two primary cells are not enough, the next smallest (12) goes too.
    table = pd.DataFrame({"iris": list("ABCD"), "persons": [3, 4, 12, 50],
                          "contacts": [3, 4, 12, 50]})
    out, _ = protect(table, keys="iris")
    assert out["statut"].tolist() == ["secret_primaire", "secret_primaire",
                                      "secret_secondaire", "publie"]


def test_example_1d_all_small_total_suppressed():
    table = pd.DataFrame({"iris": list("AB"), "persons": [3, 0], "contacts": [5, 0]})
    out, manifest = protect(table, keys="iris")
    margins, mm = publishable_margins(table, keys="iris")
    assert out["statut"].tolist() == ["secret_primaire", "publie"]
    assert margins["statut"].tolist() == ["secret_primaire"]
    assert manifest.margins_suppressed == 1 and mm.primary == 1


def test_example_2d_hand_computed():
    #            r1  r2  r3
    # A           2  30  40     A: 2 is primary
    # B          25  28  35
    # C          50  60  45
    persons = {"A": [2, 30, 40], "B": [25, 28, 35], "C": [50, 60, 45]}
    rows = [{"iris": i, "registre": r, "persons": p, "contacts": p}
            for i, ps in persons.items() for r, p in zip(["r1", "r2", "r3"], ps, strict=True)]
    table = pd.DataFrame(rows)
    out, manifest = protect(table, keys=["iris", "registre"])
    grid = out.pivot(index="iris", columns="registre", values="statut")
    # Row A: partner = smallest published cell of the row, (A, r2) = 30 (both r2 and r3
    # columns are free of suppressions). Column r1: smallest other cell (B, r1) = 25.
    # Column r2 then holds one suppression: its smallest free cell (B, r2) = 28 closes the
    # rectangle A/B x r1/r2.
    expected = pd.DataFrame(
        {"r1": ["secret_primaire", "secret_secondaire", "publie"],
         "r2": ["secret_secondaire", "secret_secondaire", "publie"],
         "r3": ["publie", "publie", "publie"]},
        index=pd.Index(["A", "B", "C"], name="iris"))
    expected.columns.name = "registre"
    pd.testing.assert_frame_equal(grid, expected, check_dtype=False)
    assert (manifest.primary, manifest.secondary) == (1, 3)
    margins, mm = publishable_margins(table, keys=["iris", "registre"])
    assert (margins["statut"] == "publie").all() and mm.suppressed == 0


def test_example_bridge_is_broken_by_the_audit():
    # Two 2x2 blocks of small cells, linked through row B: a pattern where every line holds
    # two suppressed cells can still leave a cell computable; the audit must prevent it.
    p = {"A": [3, 3, 90, 90, 90], "B": [3, 3, 3, 90, 90], "C": [90, 90, 3, 3, 90],
         "D": [90, 90, 90, 3, 3], "E": [90, 90, 90, 90, 90]}
    regs = ["r1", "r2", "r3", "r4", "r5"]
    table = pd.DataFrame([{"iris": i, "registre": r, "persons": v, "contacts": v}
                          for i, vs in p.items() for r, v in zip(regs, vs, strict=True)])
    out, _ = protect(table, keys=["iris", "registre"])
    margins, _ = publishable_margins(table, keys=["iris", "registre"])
    assert_protected(table, out, margins, ["iris", "registre"])


def test_example_sparse_table_needs_the_audit():
    # Found by hypothesis with the algebraic audit switched off: every line holds 0 or
    # >= 2 suppressed cells, yet the system of totals gave one cell exactly.
    table = pd.DataFrame({
        "iris": ["212310000", "212310002", "212310002", "212310004", "212310004"],
        "registre": ["presence_active", "gestion_conflits", "mise_en_relation_partenaire",
                     "presence_active", "mise_en_relation_partenaire"],
        "persons": [1, 2, 9, 10, 1],
        "contacts": [1, 2, 10, 10, 1],
    })
    keys = ["iris", "registre"]
    out, manifest = protect(table, keys=keys)
    margins, _ = publishable_margins(table, keys=keys)
    assert (out["statut"] == "secret_primaire").all()
    assert manifest.margins_suppressed > 0
    assert_protected(table, out, margins, keys)


def test_hierarchical_commune_iris():
    table = pd.DataFrame({
        "commune": ["21231", "21231", "21231", "21054", "21054"],
        "iris": ["212310101", "212310102", "212310103", "210540101", "210540102"],
        "persons": [4, 30, 25, 60, 14],
        "contacts": [4, 31, 25, 61, 20],
    })
    keys = ["commune", "iris"]
    out, _ = protect(table, keys=keys)
    margins, _ = publishable_margins(table, keys=keys)
    assert_no_small(out)
    assert_protected(table, out, margins, keys)
    # The IRIS totals are the IRIS cells themselves: suppressed together.
    iris_totals = margins[(margins["commune"] == TOTAL_LABEL) & (margins["iris"] != TOTAL_LABEL)]
    hidden_iris = set(out.loc[out["statut"] != "publie", "iris"])
    assert set(iris_totals.loc[iris_totals["statut"] != "publie", "iris"]) == hidden_iris
    assert "212310101" in hidden_iris


def test_supplied_totals_are_used():
    # A person may be counted under several registres: the true distinct total of IRIS A
    # is 9 (not 12 + 3), so the row total must be suppressed.
    table = pd.DataFrame({
        "iris": ["A", "A", "A", "B", "B", "B"],
        "registre": ["r1", "r2", TOTAL_LABEL, "r1", "r2", TOTAL_LABEL],
        "persons": [12, 3, 9, 40, 30, 60],
        "contacts": [20, 3, 23, 50, 40, 90],
    })
    out, manifest = protect(table, keys=["iris", "registre"])
    statut = dict(zip(zip(out["iris"], out["registre"], strict=True), out["statut"],
                      strict=True))
    assert statut[("A", TOTAL_LABEL)] == "secret_primaire"
    assert statut[("A", "r2")] == "secret_primaire"
    assert manifest.margins_suppressed >= 1
    assert_no_small(out)


def test_margins_false_only_primary():
    table = pd.DataFrame({"iris": list("ABC"), "persons": [3, 15, 40], "contacts": [3, 15, 40]})
    out, manifest = protect(table, keys="iris", margins=False)
    assert out["statut"].tolist() == ["secret_primaire", "publie", "publie"]
    assert not manifest.margins and "Aucun total" in manifest.method


def test_dominance_example_and_margin_bound():
    table = pd.DataFrame({"iris": list("ABC"), "persons": [20, 30, 40],
                          "contacts": [100, 60, 80], "top_share": [0.9, 0.2, 0.1]})
    out, manifest = protect(table, keys="iris", top_share="top_share")
    assert out["statut"].tolist() == ["secret_dominance", "secret_secondaire", "publie"]
    assert manifest.dominance_suppressed == 1 and manifest.dominance == 0.85
    assert manifest.suppressed_cells[0] == {"iris": "A", "motif": "dominance"}
    with pytest.raises(ConfigError, match="counts"):
        protect(table, keys="iris", counts=(), top_share="top_share")


def test_extra_columns_masked_and_kept():
    table = pd.DataFrame({"iris": list("ABC"), "persons": [3, 15, 40], "contacts": [3, 15, 40],
                          "taux": [0.1, 0.2, 0.3], "libelle": ["a", "b", "c"]})
    out, _ = protect(table, keys="iris")
    assert out["taux"].isna().tolist() == [True, True, False]
    assert out["libelle"].tolist() == ["a", "b", "c"]


def test_rounding_examples():
    table = pd.DataFrame({"iris": list("ABCD"), "persons": [11, 12, 13, 27],
                          "contacts": [11, 17, 18, 102]})
    out, _ = protect(table, keys="iris", rounding=5)
    assert out["persons"].tolist() == [15, 15, 15, 25]
    assert out["contacts"].tolist() == [15, 15, 20, 100]


def test_k_floor_and_warning():
    table = pd.DataFrame({"iris": ["A"], "persons": [30], "contacts": [30]})
    with pytest.raises(ConfigError, match="minimum est 5"):
        protect(table, keys="iris", k=4)
    with pytest.warns(FragilityWarning, match="seuil k inférieur à 11"):
        protect(table, keys="iris", k=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        protect(table, keys="iris", k=11)
        protect(table, keys="iris", k=20)
    with pytest.raises(ConfigError):
        protect(table, keys="iris", rounding=10)
    with pytest.raises(ConfigError):
        protect(table, keys="iris", dominance=1.5)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"iris": ["A", "A"], "persons": [1, 2], "contacts": [1, 2]}), "double"),
        (pd.DataFrame({"iris": ["A"], "persons": [pd.NA], "contacts": [1]}).astype(
            {"persons": "Int64"}), "manquant"),
        (pd.DataFrame({"iris": ["A"], "persons": [-1], "contacts": [1]}), "entiers positifs"),
        (pd.DataFrame({"iris": ["A"], "persons": [1.5], "contacts": [1]}), "entiers positifs"),
        (pd.DataFrame({"iris": ["A"], "contacts": [1]}), "absente"),
        (pd.DataFrame({"iris": ["A"], "persons": [1], "contacts": [1], "statut": ["x"]}),
         "statut"),
    ],
)
def test_bad_input(frame, match):
    with pytest.raises(InputError, match=match):
        protect(frame, keys="iris")


def test_empty_table():
    table = pd.DataFrame({"iris": pd.Series([], dtype=object),
                          "persons": pd.Series([], dtype="int64"),
                          "contacts": pd.Series([], dtype="int64")})
    out, manifest = protect(table, keys="iris")
    assert len(out) == 0 and manifest.cells == 0


def test_manifest_write_and_dict(tmp_path):
    table = pd.DataFrame({"iris": ["212310101", "212310102", "212310103"],
                          "persons": [np.int64(3), 15, 40], "contacts": [3, 15, 40]})
    _, manifest = protect(table, keys="iris", rounding=5)
    path = manifest.write(tmp_path / "sub" / "manifeste.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == manifest.to_dict()
    assert data["k"] == 11 and data["rounding"] == 5 and data["secondary"] == 1
    assert "Arrondi" in data["method"]
    assert data["suppressed_cells"] == [{"iris": "212310101", "motif": "primaire"},
                                        {"iris": "212310102", "motif": "secondaire"}]
    assert not list((tmp_path / "sub").glob(".*.tmp"))
    with pytest.raises(AttributeError):
        manifest.k = 5  # frozen
    assert isinstance(manifest, SuppressionManifest)


def test_check_no_small_cells():
    ok = pd.DataFrame({"persons": pd.array([0, 11, pd.NA, 40], dtype="Int64")})
    check_no_small_cells(ok, "persons")
    bad = pd.DataFrame({"persons": [0, 3, 40]})
    with pytest.raises(DisclosureError, match="1 cellule") as info:
        check_no_small_cells(bad, ["persons"])
    assert isinstance(info.value, PrivacyError)
    with pytest.raises(InputError):
        check_no_small_cells(bad, ["absente"])
    with pytest.raises(ConfigError):
        check_no_small_cells(bad, ["persons"], k=3)
    check_no_small_cells(pd.DataFrame({"persons": [0, 5, 40]}), ["persons"], k=5)


# --------------------------------------------------------------------------- regroup


def grid(n_rows, n_cols, persons):
    ids = [f"Q{r}{c}" for r in range(n_rows) for c in range(n_cols)]
    geoms = [box(c, r, c + 1, r + 1) for r in range(n_rows) for c in range(n_cols)]
    return gpd.GeoDataFrame({"code": ids, "persons": persons}, geometry=geoms,
                            crs="EPSG:2154").set_index("code", drop=False)


def assert_zones_ok(gdf, zones, k=K):
    assert zones.index.equals(pd.Index(gdf["code"], name="code"))
    totals = gdf.groupby(zones.to_numpy())["persons"].sum()
    if gdf["persons"].sum() >= k:
        assert ((totals == 0) | (totals >= k)).all()
    for label in totals.index:
        union = shapely.union_all(gdf.geometry[zones.to_numpy() == label].to_numpy())
        assert union.geom_type == "Polygon"


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.data())
def test_property_regroup_grid(n_rows, n_cols, data):
    persons = data.draw(st.lists(st.integers(1, 15), min_size=n_rows * n_cols,
                                 max_size=n_rows * n_cols))
    gdf = grid(n_rows, n_cols, persons)
    before = gdf.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FragilityWarning)
        zones = regroup(gdf, "persons", id_col="code")
        again = regroup(gdf.iloc[::-1], "persons", id_col="code")
    pd.testing.assert_frame_equal(gdf, before)
    assert_zones_ok(gdf, zones)
    assert again.sort_index().equals(zones.sort_index())
    labels = sorted(set(zones))
    assert labels == [f"Z{i:02d}" for i in range(1, len(labels) + 1)]


def test_regroup_strip_hand_computed():
    # 1 x 5 strip, k = 11: Q00=5 | Q01=3 | Q02=20 | Q03=4 | Q04=30.
    # Q01 (3, smallest) joins its smallest neighbour Q00 (5): zone {Q00, Q01} = 8.
    # Q03 (4) joins its smallest neighbour Q02 (20 < 30): zone {Q02, Q03} = 24.
    # {Q00, Q01} (8) joins its only neighbour {Q02, Q03}: 32. Q04 (30) stays alone.
    gdf = grid(1, 5, [5, 3, 20, 4, 30])
    zones = regroup(gdf, "persons", id_col="code")
    assert zones.tolist() == ["Z01", "Z01", "Z01", "Z01", "Z02"]


def test_regroup_series_input_island_and_zeros():
    squares = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(10, 0, 11, 1)]
    gdf = gpd.GeoDataFrame(geometry=squares, index=pd.Index(["a", "b", "c", "d"], name="id"),
                           crs="EPSG:2154")
    persons = pd.Series({"a": 20, "b": 0, "c": 15, "d": 2})
    zones = regroup(gdf, persons)
    # b (0) stays alone; the island d (2) joins the zone with the nearest centroid, c.
    assert zones.to_dict() == {"a": "Z01", "b": "Z02", "c": "Z03", "d": "Z03"}
    assert zones.name == "zone" and zones.index.name == "id"


def test_regroup_corner_is_not_contiguous():
    squares = [box(0, 0, 1, 1), box(1, 1, 2, 2), box(1, 0, 2, 1)]
    gdf = gpd.GeoDataFrame({"p": [5, 50, 40]}, geometry=squares,
                           index=pd.Index(["a", "b", "c"]))
    zones = regroup(gdf, "p")
    # a touches b only by a corner: it must merge with c (edge), even though b is not
    # smaller.
    assert zones["a"] == zones["c"] != zones["b"]


def test_regroup_cannot_reach_k_warns_and_errors():
    gdf = grid(1, 2, [2, 3])
    with pytest.warns(FragilityWarning, match="reste sous"):
        zones = regroup(gdf, "persons", id_col="code")
    assert zones.nunique() == 1
    with pytest.raises(InputError, match="double"):
        regroup(grid(1, 2, [2, 3]).assign(code=["x", "x"]), "persons", id_col="code")
    with pytest.raises(InputError, match="absent"):
        regroup(grid(1, 2, [2, 3]), pd.Series({"Q00": 20}), id_col="code")
    with pytest.raises(ConfigError):
        regroup(grid(1, 2, [2, 3]), "persons", id_col="code", k=3)
