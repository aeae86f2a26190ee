"""Benchmark: 2SFCA / E2SFCA at national scale, against PySAL ``access``.

Synthetic, deterministic (seeded) territory of about 1,000 km × 1,000 km in Lambert-93
metres: 49,000 demand points (IRIS), 40 % of them around 300 "cities" (Gaussian clusters
of Zipf-like sizes) and 60 % spread uniformly (unsplit rural communes), with log-normal
populations; 2,800 service points (France Services), half placed near demand points and
half uniformly; 20 km catchment.

Steps timed (median of ``repeats`` runs):

* ``distance_pairs``: sparse pairs within 20 km (k-d trees);
* our step 2SFCA from those pairs, and end to end (pairs included);
* our Gaussian E2SFCA end to end (``sigma`` = 10 km);
* PySAL ``access``: ``Access(...)`` construction plus ``two_stage_fca`` on **our pairs
  table** (its own ``create_euclidean_distance`` builds the dense ``n × m`` cross join,
  137 million rows here, so it is not run), without and with ``weights.gaussian``.

Results are checked equal (maximum absolute and relative differences; ``access`` leaves
points without a service in reach missing, counted here as 0).

Run with ``python bench/bench_accessibility.py [--quick]`` (``--quick``: 5,000 demand
points and 300 services, printed only). Writes ``bench/results_accessibility.json`` and
``bench/results_accessibility.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from fragility.accessibility import distance_pairs, two_step_fca

HERE = Path(__file__).resolve().parent
CRS = "EPSG:2154"
MAX_DISTANCE = 20_000.0
SIGMA = MAX_DISTANCE / 2
TARGET_S = 2.0
TARGET_RATIO = 20.0


def _territory(n: int, m: int, n_cities: int = 300, seed: int = 2154):
    """Deterministic clustered demand and supply points in a 1,000 km square."""
    rng = np.random.default_rng(seed)
    origin = np.array([100_000.0, 6_100_000.0])  # Lambert-93-like coordinates
    side = 1_000_000.0
    n_urban = int(0.4 * n)
    centres = rng.uniform(0, side, (n_cities, 2))
    size = 1.0 / np.arange(1, n_cities + 1) ** 0.9  # Zipf-like city sizes
    city = rng.choice(n_cities, n_urban, p=size / size.sum())
    spread = 2_000.0 + 10_000.0 * np.sqrt(size / size[0])  # big cities spread wider
    urban = centres[city] + rng.normal(0, 1, (n_urban, 2)) * spread[city, None]
    rural = rng.uniform(0, side, (n - n_urban, 2))
    xy = np.clip(np.vstack([urban, rural]), 0, side) + origin
    population = np.r_[rng.lognormal(7.6, 0.4, n_urban), rng.lognormal(5.8, 0.9, n - n_urban)]
    near = xy[rng.choice(n, m // 2)] + rng.normal(0, 3_000, (m // 2, 2))
    far = rng.uniform(0, side, (m - m // 2, 2)) + origin
    sxy = np.vstack([near, far])
    hours = rng.choice([24.0, 29.0, 35.0, 40.0], m)
    demand = gpd.GeoDataFrame(
        {"population": population.round()},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        index=pd.Index([f"{k:09d}" for k in range(n)], name="iris"),
        crs=CRS,
    )
    supply = gpd.GeoDataFrame(
        {"heures": hours},
        geometry=gpd.points_from_xy(sxy[:, 0], sxy[:, 1]),
        index=pd.Index([f"FS{k:05d}" for k in range(m)], name="site"),
        crs=CRS,
    )
    return demand, supply


def _fr(number: int) -> str:
    """49000 -> '49 000' (narrow no-break spaces, French style)."""
    return f"{number:,}".replace(",", "\u202f")


def _machine() -> dict:
    mem = float("nan")
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) / 2**20  # kB -> GiB
                    break
    except OSError:
        pass
    return {"coeurs": os.cpu_count(), "memoire_gio": round(mem, 1),
            "python": sys.version.split()[0], "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": version("scipy"), "access": version("access"),
            "systeme": platform.platform()}


def _timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def _diff(ours: pd.Series, theirs: pd.Series) -> tuple[float, float]:
    theirs = theirs.reindex(ours.index).fillna(0.0).to_numpy()
    gap = np.abs(ours.to_numpy() - theirs)
    return float(gap.max()), float(gap.max() / np.abs(theirs).max())


def main(quick: bool = False, repeats: int = 3) -> dict:
    """Time the steps ``repeats`` times each; write the results."""
    import logging

    import access

    logging.getLogger("access").setLevel(logging.WARNING)
    n, m = (5_000, 300) if quick else (49_000, 2_800)
    demand, supply = _territory(n, m)
    common = {"demand_value": "population", "supply_value": "heures",
              "max_distance": MAX_DISTANCE}

    t_pairs, times_pairs, pairs = _timed(
        lambda: distance_pairs(demand, supply, MAX_DISTANCE), repeats)
    t_step_p, times_step_p, step = _timed(
        lambda: two_step_fca(demand, supply, pairs=pairs, **common), repeats)
    t_step, times_step, step_full = _timed(
        lambda: two_step_fca(demand, supply, **common), repeats)
    t_gauss, times_gauss, gauss = _timed(
        lambda: two_step_fca(demand, supply, decay="gaussian", sigma=SIGMA, **common), repeats)
    assert np.array_equal(step.to_numpy(), step_full.to_numpy())

    cost = pairs.rename(columns={"destination": "dest", "distance": "cost"})
    demand_df = pd.DataFrame(demand.drop(columns="geometry"))
    supply_df = pd.DataFrame(supply.drop(columns="geometry"))

    def run_access(weight_fn=None):
        model = access.Access(demand_df=demand_df, demand_value="population",
                              supply_df=supply_df, supply_value="heures", cost_df=cost,
                              cost_origin="origin", cost_dest="dest", cost_name="cost")
        return model.two_stage_fca(name="a", max_cost=MAX_DISTANCE,
                                   weight_fn=weight_fn)["a_heures"]

    t_acc, times_acc, acc_step = _timed(run_access, repeats)
    t_acc_g, times_acc_g, acc_gauss = _timed(
        lambda: run_access(access.weights.gaussian(SIGMA)), repeats)
    diff_step, rel_step = _diff(step, acc_step)
    diff_gauss, rel_gauss = _diff(gauss, acc_gauss)

    served = int((step > 0).sum())
    rows = [
        {"etape": "paires à moins de 20 km (distance_pairs, arbres k-d)", "mediane_s": t_pairs,
         "essais_s": times_pairs, "reference_s": None, "ecart_max": None},
        {"etape": "2SFCA à seuil, à partir des paires", "mediane_s": t_step_p,
         "essais_s": times_step_p, "reference_s": t_acc, "ecart_max": diff_step,
         "ecart_relatif_max": rel_step},
        {"etape": "2SFCA à seuil, de bout en bout (paires comprises)", "mediane_s": t_step,
         "essais_s": times_step, "reference_s": t_acc, "ecart_max": diff_step,
         "ecart_relatif_max": rel_step},
        {"etape": f"E2SFCA gaussien (σ = {SIGMA / 1000:.0f} km), de bout en bout",
         "mediane_s": t_gauss, "essais_s": times_gauss, "reference_s": t_acc_g,
         "ecart_max": diff_gauss, "ecart_relatif_max": rel_gauss},
        {"etape": "access : Access(...) + two_stage_fca, sur nos paires", "mediane_s": t_acc,
         "essais_s": times_acc, "reference_s": None, "ecart_max": None},
        {"etape": "access : idem avec weights.gaussian(σ)", "mediane_s": t_acc_g,
         "essais_s": times_acc_g, "reference_s": None, "ecart_max": None},
    ]
    for row in rows:
        row["ratio_vs_access"] = (None if row["reference_s"] is None
                                  else row["reference_s"] / row["mediane_s"])
    out = {
        "etape": "accessibilité 2SFCA / E2SFCA, échelle nationale synthétique",
        "mode": "rapide" if quick else "national",
        "demande": n,
        "offre": m,
        "rayon_m": MAX_DISTANCE,
        "paires": len(pairs),
        "iris_desservis": served,
        "essais": repeats,
        "etapes": [{k: (round(v, 4) if isinstance(v, float) else
                        [round(t, 4) for t in v] if isinstance(v, list) else v)
                    for k, v in row.items()} for row in rows],
        "ecart_max_2sfca": diff_step,
        "ecart_max_e2sfca": diff_gauss,
        "objectif_s": TARGET_S,
        "objectif_ratio": TARGET_RATIO,
        "objectif_temps_atteint": t_step < TARGET_S,
        "objectif_ratio_atteint": t_acc / t_step >= TARGET_RATIO,
        "machine": _machine(),
    }

    def ratio(row):
        return "—" if row["ratio_vs_access"] is None else f"× {row['ratio_vs_access']:.1f}"

    def gap(row):
        if row["ecart_max"] is None:
            return "—"
        return f"{row['ecart_max']:.1e} (relatif {row['ecart_relatif_max']:.1e})"

    machine = out["machine"]
    lines = [
        "# Banc d'essai — accessibilité (2SFCA / E2SFCA)",
        "",
        "*Produit par `python bench/bench_accessibility.py` ; ne pas modifier à la main.*",
        "",
        f"Machine : {machine['coeurs']} cœurs, {machine['memoire_gio']} Gio, "
        f"Python {machine['python']}, NumPy {machine['numpy']}, pandas {machine['pandas']}, "
        f"SciPy {machine['scipy']}, access {machine['access']}.",
        "",
        f"Territoire synthétique (graine fixe) : {_fr(n)} points de demande (IRIS) sur "
        f"1 000 km × 1 000 km, {_fr(m)} points d'offre, rayon "
        f"{MAX_DISTANCE / 1000:.0f} km : {_fr(len(pairs))} paires, {_fr(served)} IRIS "
        "avec au moins un service à portée.",
        "",
        "| étape | temps médian | essais | ratio vs access | écart max avec access |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['etape']} | {row['mediane_s']:.3f} s | "
            f"{' ; '.join(f'{t:.3f}' for t in row['essais_s'])} s | {ratio(row)} | "
            f"{gap(row)} |"
        )
    lines += [
        "",
        f"Objectifs : 2SFCA national de bout en bout < {TARGET_S:.0f} s : "
        f"{'atteint' if out['objectif_temps_atteint'] else 'NON atteint'} "
        f"({t_step:.2f} s) ; au moins {TARGET_RATIO:.0f} fois plus rapide que access : "
        f"{'atteint' if out['objectif_ratio_atteint'] else 'NON atteint'} "
        f"(× {t_acc / t_step:.1f}).",
        "",
        "Le ratio compare access, à qui l'on fournit déjà la table des paires, à notre calcul "
        "(de bout en bout : paires comprises). access applique la pondération gaussienne "
        "ligne à ligne (`Series.apply`), d'où l'écart plus grand pour l'E2SFCA. Sa propre "
        "fonction `create_euclidean_distance` fait un produit cartésien dense "
        f"({_fr(n * m)} lignes ici) : elle n'est pas mesurée. Les IRIS sans service à portée "
        "sont manquants chez access et valent 0 ici ; ils sont comptés comme 0 dans l'écart.",
    ]
    if not quick:  # a quick run never overwrites the national results
        (HERE / "results_accessibility.json").write_text(
            json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (HERE / "results_accessibility.md").write_text("\n".join(lines) + "\n",
                                                       encoding="utf-8")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 000 points de demande et 300 services")
    parser.add_argument("--repeats", type=int, default=3, help="nombre d'essais (défaut 3)")
    args = parser.parse_args()
    main(quick=args.quick, repeats=args.repeats)
