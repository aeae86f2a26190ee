"""Benchmark: importing a 1-million-row mediation export on the demo territory.

Steps timed together: read, validate, pseudonymise, PII guard, locate.

Run with ``make bench``. Writes ``bench/results.md`` and ``bench/results.json``. The
export is generated once by the simulator and cached in ``FRAGILITY_DATA_DIR``.
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

import fragility as fr
from fragility.logs import read_log, simulate_export, write_export
from fragility.sources import data_home

HERE = Path(__file__).resolve().parent
TARGET_S = 60.0


def _export(n: int) -> tuple[Path, object]:
    table = fr.build_iris_table(fr.Territory.demo())
    path = data_home() / "bench" / f"export_demo_{n}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_export(simulate_export(table, n=n, seed=42), path)
    return path, table


def _fr(number: int) -> str:
    """1000000 -> '1 000 000' (narrow no-break spaces, French style)."""
    return f"{number:,}".replace(",", "\u202f")


def _machine() -> dict:
    cores = os.cpu_count()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return {"coeurs": cores, "memoire_gio": round(mem, 1), "python": sys.version.split()[0],
            "systeme": platform.platform()}


def main(n: int = 1_000_000, repeats: int = 3) -> dict:
    """Time ``read_log`` on an ``n``-row export, ``repeats`` times; write the results."""
    path, table = _export(n)
    times, report = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        log = read_log(path, table.gdf, key="bench-" + "0" * 40)
        times.append(time.perf_counter() - start)
        report = log.report
    tracemalloc.start()
    read_log(path, table.gdf, key="bench-" + "0" * 40)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    median = statistics.median(times)
    result = {
        "etape": "import d'un export de journal (lecture, validation, pseudonymisation, "
                 "contrôle des données identifiantes, localisation)",
        "lignes": n,
        "taille_fichier_mo": round(path.stat().st_size / 2**20, 1),
        "temps_s": [round(t, 2) for t in times],
        "mediane_s": round(median, 2),
        "lignes_par_s": round(n / median),
        "pic_memoire_python_mo": round(peak),
        "objectif_s": TARGET_S,
        "objectif_atteint": median < TARGET_S,
        "acceptees": report["acceptees"],
        "rejetees": report["rejetees"],
        "machine": _machine(),
    }
    (HERE / "results.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    lines = [
        "# Banc d'essai — import des journaux de médiation",
        "",
        "*Produit par `make bench` ; ne pas modifier à la main.*",
        "",
        f"Machine : {result['machine']['coeurs']} cœurs, {result['machine']['memoire_gio']} Gio, "
        f"Python {result['machine']['python']}.",
        "",
        "| étape | lignes | fichier | médiane | essais | lignes/s | pic mémoire Python | "
        "objectif |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| import d'un export simulé (territoire de démonstration) | {_fr(n)} | "
        f"{result['taille_fichier_mo']} Mo | {median:.1f} s | "
        f"{' ; '.join(f'{t:.1f}' for t in times)} s | {_fr(result['lignes_par_s'])} | "
        f"{result['pic_memoire_python_mo']} Mo | < {TARGET_S:.0f} s : "
        f"{'atteint' if result['objectif_atteint'] else 'NON atteint'} |",
        "",
        f"Résultat de l'import : {_fr(result['acceptees'])} lignes acceptées, "
        f"{_fr(result['rejetees'])} rejetées (lignes volontairement fautives du simulateur).",
        "",
        "Le pic mémoire est mesuré par `tracemalloc` lors d'un essai supplémentaire (allocations "
        "Python et NumPy) ; il ne compte pas la mémoire des bibliothèques C (GEOS, Arrow).",
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
