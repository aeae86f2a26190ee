"""Import a mediation log for a territory and publish its disclosure-safe aggregates.

The pseudonymised event log and the rejects stay on the analyst's machine (Tier 1);
only the aggregated tables, passed through :func:`fragility.disclosure.protect`, are
meant to circulate (Tier 2).
"""

from __future__ import annotations

import os
from pathlib import Path

from fragility._files import atomic_write
from fragility.disclosure import protect
from fragility.iris_table import build_iris_table
from fragility.logs.aggregate import aggregate_with_margins
from fragility.logs.importer import LogImport, read_log
from fragility.territory import Territory

#: Published tables: file name -> (level, crossed fields).
TABLES = {
    "contacts_iris.csv": ("iris", []),
    "contacts_commune.csv": ("commune", []),
    "contacts_commune_registre.csv": ("commune", ["registre"]),
    "contacts_epci_thematique.csv": ("epci", ["thematique"]),
}


def import_and_publish(
    path: str | os.PathLike,
    territory: Territory,
    out_dir: str | os.PathLike,
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike | None = None,
    mapping: str | os.PathLike | None = None,
    k: int = 11,
    engine: str = "pandas",
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
    engine : {"pandas", "dask"}, default "pandas"
        Import engine (see :func:`fragility.logs.importer.read_log`).

    Returns
    -------
    tuple of (LogImport, list of pathlib.Path)
    """
    out = Path(out_dir)
    table = build_iris_table(territory)
    gdf = table.gdf
    result = read_log(path, gdf, key=key, key_file=key_file, mapping=mapping, engine=engine)
    paths = result.write(out)
    epci_of = gdf.drop_duplicates("commune").set_index("commune")["epci"].dropna().to_dict()
    if territory.kind == "epci" or territory.is_synthetic:
        epci_of = {c: territory.code for c in territory.communes}
    for name, (level, by) in TABLES.items():
        counts = aggregate_with_margins(result.events, level=level, by=by, epci_of=epci_of)
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
