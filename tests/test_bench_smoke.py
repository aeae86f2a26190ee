"""Smoke test of the national benchmark suite on a tiny synthetic territory."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.setenv("FRAGILITY_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("national", "bench_national"):
        sys.modules.pop(name, None)
    import bench_national
    import national

    return national, bench_national


def _tiny(national):
    """A territory of a few hundred IRIS and logs of 2,000 and 4,000 events."""
    return national.Scale("tiny", split_iris=150, rural=120, biggest_city=40, services=12,
                          qpv=5, events=(2_000, 4_000), chunk=2_000, points=5_000)


@pytest.mark.slow
def test_suite_writes_every_row(bench, tmp_path):
    national, suite = bench
    tiny = _tiny(national)
    out = tmp_path / "resultats"
    committed = (BENCH / "results.md").read_bytes() if (BENCH / "results.md").exists() else None
    result = suite.main(repeats=1, out=out, scale=tiny, in_process=True)

    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(data["etapes"]) == list(suite.STEPS)
    markdown = (out / "results.md").read_text(encoding="utf-8")
    for step, row in data["etapes"].items():
        if step == "dask_1m" and row["erreur"] and "Dask" in row["erreur"]:
            continue  # optional engine not installed
        assert row["erreur"] is None, (step, row["erreur"])
        assert row["mediane_s"] is not None and row["lignes"] > 0, step
        assert row["pic_memoire_mo"] > 0
        if suite.STEPS[step][2]:
            assert row["pair"]["mediane_s"] is not None and row["ratio"] > 0, step
    assert markdown.count("\n| ") == len(suite.STEPS) + 2  # header, rule, one row per step
    assert data["etapes"]["2sfca"]["pair"]["verification"]["ecart_relatif_max"] < 1e-9
    assert data["etapes"]["lisa"]["pair"]["verification"]["ecart_max_i_local"] < 1e-9
    assert data["etapes"]["locate"]["pair"]["verification"]["differents"] == 0
    assert data["etapes"]["import_1m"]["pair"]["verification"]["pseudonymes_identiques"]
    large = data["etapes"]["import_10m"]
    assert large["verification"]["acceptees"] + large["verification"]["rejetees"] == 4_000
    assert result["markdown"] == out / "results.md"

    # One step rerun alone, merged: the other rows keep their measures.
    # (coverage needs an imported log: run alone, it imports one first, untimed.)
    suite.main(repeats=1, out=out, scale=tiny, in_process=True, steps=["coverage"],
               merge=True)
    merged = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(merged["etapes"]) == list(suite.STEPS)
    assert merged["etapes_relancees"] == ["coverage"]
    assert merged["etapes"]["coverage"]["erreur"] is None
    assert merged["etapes"]["coverage"]["verification"]["evenements"] == 2_000
    assert merged["etapes"]["2sfca"] == data["etapes"]["2sfca"]
    assert "relancées seules" in (out / "results.md").read_text(encoding="utf-8")
    after = (BENCH / "results.md").read_bytes() if (BENCH / "results.md").exists() else None
    assert after == committed  # the committed results are never overwritten


@pytest.mark.slow
def test_profile_writes_a_call_tree_per_step(bench, tmp_path):
    national, suite = bench
    tiny = _tiny(national)
    profile = tmp_path / "profil"
    suite.main(repeats=1, scale=tiny, in_process=True, steps=["indicators"], profile=profile)
    tree = (profile / "indicators.txt").read_text(encoding="utf-8")
    assert "compute_indicators" in tree
    assert (profile / "indicators.html").stat().st_size > 0
    assert (profile / "results.md").is_file()  # measures under the profiler stay apart
