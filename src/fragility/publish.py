"""Import a mediation log for a territory and publish its disclosure-safe aggregates.

The pseudonymised event log and the rejects stay on the analyst's machine (Tier 1);
only the aggregated tables, passed through :func:`fragility.disclosure.protect`, are
meant to circulate (Tier 2).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pandas as pd

from fragility._files import atomic_write
from fragility.disclosure import TOTAL_LABEL, protect
from fragility.iris_table import build_iris_table
from fragility.logs.aggregate import LEVELS
from fragility.logs.importer import LogImport, read_log
from fragility.territory import Territory

#: Published tables: file name -> (level, crossed fields).
TABLES = {
    "contacts_iris.csv": ("iris", []),
    "contacts_commune.csv": ("commune", []),
    "contacts_commune_registre.csv": ("commune", ["registre"]),
    "contacts_epci_thematique.csv": ("epci", ["thematique"]),
}


def _with_true_totals(events, level: str, by: list[str], epci_of) -> pd.DataFrame:
    """Cells and all their margins (``Ensemble`` rows) with the true DISTINCT persons.

    A person met under two registres is one person in the commune total: summing the
    cells would overstate the margin, and a margin is published only if it truly
    reaches the threshold.
    """
    frame = events.assign(epci=events["geo_commune"].map(epci_of)) if level == "epci" else events
    column = LEVELS[level]
    keep = frame["geo_level"].eq("iris") if level == "iris" else frame[column].notna()
    frame = frame[keep].rename(columns={column: level})
    keys = [level, *by]
    parts = []
    for size in range(len(keys), -1, -1):
        for subset in itertools.combinations(keys, size):
            grouped = frame.assign(_one=1).groupby(list(subset) or ["_one"], sort=True)
            part = grouped.size().rename("contacts").to_frame()
            part["persons"] = grouped["person_key"].nunique()
            per_person = (
                frame.dropna(subset=["person_key"])
                .assign(_one=1)
                .groupby([*(list(subset) or ["_one"]), "person_key"])
                .size()
            )
            top = per_person.groupby(level=list(range(max(len(subset), 1)))).max()
            part["top_share"] = (top.reindex(part.index).fillna(0) / part["contacts"]).round(4)
            part = part.reset_index().drop(columns="_one", errors="ignore")
            for key in keys:
                if key not in subset:
                    part[key] = TOTAL_LABEL
            parts.append(part[[*keys, "contacts", "persons", "top_share"]])
    out = pd.concat(parts, ignore_index=True)
    out[["contacts", "persons"]] = out[["contacts", "persons"]].astype("Int64")
    return out


def import_and_publish(
    path: str | os.PathLike,
    territory: Territory,
    out_dir: str | os.PathLike,
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike | None = None,
    mapping: str | os.PathLike | None = None,
    k: int = 11,
) -> tuple[LogImport, list[Path]]:
    """Import a log on a territory; write the log, rejects, report and protected tables.

    Parameters
    ----------
    path : str or os.PathLike
        The export.
    territory : Territory
        Territory whose IRIS contours locate the events.
    out_dir : str or os.PathLike
        Output folder: ``evenements.parquet`` (pseudonymised, stays local),
        ``rejets.csv``, ``rapport_import.json``, and the ``contacts_*.csv`` tables with
        their ``secret_*.json`` suppression manifests.
    key, key_file : optional
        Pseudonymisation key (see :func:`fragility.logs.importer.read_log`).
    mapping : str or os.PathLike, optional
        Header/value mapping file.
    k : int, default 11
        Disclosure threshold (distinct persons per published cell).

    Returns
    -------
    tuple of (LogImport, list of pathlib.Path)
    """
    out = Path(out_dir)
    table = build_iris_table(territory)
    gdf = table.gdf
    result = read_log(path, gdf, key=key, key_file=key_file, mapping=mapping)
    paths = result.write(out)
    epci_of = gdf.drop_duplicates("commune").set_index("commune")["epci"].dropna().to_dict()
    if territory.kind == "epci" or territory.is_synthetic:
        epci_of = {c: territory.code for c in territory.communes}
    for name, (level, by) in TABLES.items():
        counts = _with_true_totals(result.events, level, by, epci_of)
        safe, manifest = protect(
            counts,
            keys=[level, *by],
            persons="persons",
            counts=("contacts",),
            top_share="top_share",
            k=k,
        )
        safe = safe.drop(columns=["top_share"], errors="ignore")
        target = out / name
        with atomic_write(target, "w", encoding="utf-8", newline="") as handle:
            safe.to_csv(handle, index=False, sep=";", lineterminator="\n")
        manifest_path = out / f"secret_{target.stem}.json"
        manifest.write(manifest_path)
        paths += [target, manifest_path]
    return result, paths
