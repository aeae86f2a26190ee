"""Benchmark: uncertainty of a composite index, 1,000 draws on 50,000 synthetic IRIS.

The frame has the six components of the isolation index (random shares, 2 % of values
missing to exercise partial scores); every IRIS is eligible, so about 49,900 are ranked.
``compute_index`` is timed end to end (eligibility, normalisation, point estimate,
Monte-Carlo over weights, normalisation and leave-one-out, rank intervals, first-order
sensitivity).

Run with ``python bench/bench_composite.py [n_iris] [draws] [repeats]``. Writes
``bench/results_composite.json`` and ``bench/results_composite.md`` (its own files: the
log-import benchmark owns ``results.json`` and ``results.md``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from fragility.composite import compute_index, load_specs

HERE = Path(__file__).resolve().parent
TARGET_S = 10.0


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    keys = [c.key for c in load_specs()["isolation"].components]
    rng = np.random.default_rng(seed)
    values = rng.beta(2, 5, (n, len(keys)))
    values[rng.random(values.shape) < 0.02] = np.nan
    index = pd.Index([f"{i:09d}" for i in range(n)], name="iris")
    frame = pd.DataFrame(values, columns=keys, index=index)
    frame["population"] = rng.integers(200, 5000, n)  # every IRIS eligible
    frame["iris_type"] = "H"
    return frame


def _fr(number: int) -> str:
    """50000 -> '50 000' (narrow no-break spaces, French style)."""
    return f"{number:,}".replace(",", "\u202f")


def _machine() -> dict:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return {"coeurs": os.cpu_count(), "memoire_gio": round(mem, 1),
            "python": sys.version.split()[0], "numpy": np.__version__,
            "systeme": platform.platform()}


def main(n: int = 50_000, draws: int = 1000, repeats: int = 3) -> dict:
    """Time ``compute_index`` ``repeats`` times; write the results."""
    frame = _frame(n)
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = compute_index(frame, "isolation", draws=draws, seed=0)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    compute_index(frame, "isolation", draws=draws, seed=0)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    median = statistics.median(times)
    status = result.values["status"].value_counts().to_dict()
    out = {
        "etape": "incertitude d'un indice composite (Monte-Carlo : poids, normalisation, "
                 "retrait d'une composante ; intervalles de rang ; sensibilité)",
        "iris": n,
        "composantes": len(result.weights),
        "tirages": draws,
        "temps_s": [round(t, 2) for t in times],
        "mediane_s": round(median, 2),
        "pic_memoire_python_mo": round(peak),
        "objectif_s": TARGET_S,
        "objectif_atteint": median < TARGET_S,
        "statuts": {k: int(v) for k, v in sorted(status.items())},
        "machine": _machine(),
    }
    (HERE / "results_composite.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Banc d'essai — incertitude des indices composites",
        "",
        "*Produit par `python bench/bench_composite.py` ; ne pas modifier à la main.*",
        "",
        f"Machine : {out['machine']['coeurs']} cœurs, {out['machine']['memoire_gio']} Gio, "
        f"Python {out['machine']['python']}, NumPy {out['machine']['numpy']}.",
        "",
        "| étape | IRIS | composantes | tirages | médiane | essais | pic mémoire Python | "
        "objectif |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| indice d'isolement, IRIS synthétiques | {_fr(n)} | {out['composantes']} | "
        f"{_fr(draws)} | {median:.1f} s | {' ; '.join(f'{t:.1f}' for t in times)} s | "
        f"{out['pic_memoire_python_mo']} Mo | < {TARGET_S:.0f} s : "
        f"{'atteint' if out['objectif_atteint'] else 'NON atteint'} |",
        "",
        "Statuts : " + ", ".join(f"{k} {_fr(v)}" for k, v in out["statuts"].items()) + ".",
        "",
        "Chaque tirage tire les poids (Dirichlet), la normalisation et la composante retirée ; "
        "les rangs sont calculés par lots de tirages, sans boucle par IRIS. Le pic mémoire "
        "est mesuré par `tracemalloc` lors d'un essai supplémentaire.",
    ]
    (HERE / "results_composite.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
