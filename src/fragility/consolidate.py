"""Consolidation of several structures' bilans into one territorial picture.

Each structure keeps its event log; what circulates is its bilan folder (Tier 2:
``bilan/*.csv`` already through the disclosure gate, and ``manifest.json``).
:func:`consolidate` reads only those folders, never a log.

Rules
-----
* **Same frame**: every bilan must share the layout version (:data:`fragility.bilan.SCHEMA`),
  the log schema version, the period and the disclosure settings (threshold, dominance,
  rounding); otherwise a French error names the folder and the difference.
* **Contacts add up**: a consolidated cell is the sum of the structures' published cells
  (a cell absent from a structure's table is a zero: tables list every non-empty cell).
* **Persons do not**: one person may meet two structures, and each structure's pseudonyms
  are keyed by its own secret, so persons cannot be de-duplicated. A consolidated cell
  gives a labelled range, ``persons_min`` (the largest structure's count: at least that
  many distinct persons) to ``persons_max`` (the sum: at most that many).
* **Suppressed stays suppressed**: a cell suppressed by any structure is suppressed in
  the consolidation (``statut = secret_structure``). Every consolidated number is a sum
  of published numbers, so the consolidated tables, put together with the structures'
  own tables, hold no information beyond the published cells: no suppressed cell can
  be recovered by differencing (checked by linear algebra in the tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragility._files import atomic_write, sha256_of
from fragility.bilan import SCHEMA, TABLES, TOTAL_LABEL, label_of
from fragility.errors import InputError
from fragility.formatting import fr_number
from fragility.geometry import dissolve

__all__ = ["CONSOLIDATION_SCHEMA", "BilanRelease", "Consolidation", "consolidate",
           "read_release"]

#: Layout version of a consolidation folder.
CONSOLIDATION_SCHEMA = "fragility-consolidation/1.0"


@dataclass(frozen=True)
class BilanRelease:
    """One structure's published bilan, as read from its folder.

    Attributes
    ----------
    folder : pathlib.Path
    manifest : dict
        Its ``manifest.json``.
    tables : dict of pandas.DataFrame
        ``bilan/<name>.csv`` by name: key columns (text), ``contacts``, ``persons``
        (``Int64``, ``<NA>`` when suppressed), ``statut``.
    """

    folder: Path
    manifest: dict
    tables: dict[str, pd.DataFrame]

    @property
    def structure(self) -> str:
        """The structure's name."""
        return str(self.manifest.get("structure", self.folder.name))


def read_release(folder: str | os.PathLike) -> BilanRelease:
    """Read a bilan folder (``manifest.json`` and ``bilan/*.csv``).

    Raises
    ------
    InputError
        Missing or unreadable manifest, another layout, or a missing table (French
        message naming the file).
    """
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise InputError("pas de manifest.json : ce dossier n'est pas un bilan fragility.",
                         path=folder)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"manifeste illisible : {error}.", path=path) from error
    if manifest.get("schema") != SCHEMA:
        raise InputError(f"ce dossier n'est pas un bilan au format {SCHEMA} (lu : "
                         f"« {manifest.get('schema')} »).", path=path)
    tables = {}
    for name, spec in TABLES.items():
        file = folder / "bilan" / f"{name}.csv"
        if not file.is_file():
            raise InputError(f"table « {name} » absente du bilan.", path=file)
        table = pd.read_csv(file, sep=";", dtype={key: str for key in spec.keys},
                            keep_default_na=False, na_values={"contacts": [""],
                                                               "persons": [""]})
        missing = [c for c in (*spec.keys, "contacts", "persons", "statut")
                   if c not in table]
        if missing:
            raise InputError(f"colonnes absentes : {', '.join(missing)}.", path=file)
        for column in ("contacts", "persons"):
            table[column] = pd.to_numeric(table[column], errors="raise").astype("Int64")
        tables[name] = table[[*spec.keys, "contacts", "persons", "statut"]]
    return BilanRelease(folder=folder, manifest=manifest, tables=tables)


def _check_same(releases: list[BilanRelease]) -> dict:
    """The shared frame of the releases; a French error on the first difference."""
    first = releases[0]
    checks = {
        "schema_journal": "version du schéma des journaux",
        "periode": "période",
        "secret": "paramètres du secret statistique",
    }
    for release in releases[1:]:
        for key, what in checks.items():
            if release.manifest.get(key) != first.manifest.get(key):
                raise InputError(
                    f"bilan « {release.folder} » : {what} différente de celle du bilan "
                    f"« {first.folder} » ({release.manifest.get(key)} au lieu de "
                    f"{first.manifest.get(key)}). Les bilans consolidés doivent partager "
                    "schéma, période et secret.")
    names = [r.structure for r in releases]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"structure présente deux fois : {', '.join(twice)} (un même bilan "
                         "compté deux fois doublerait ses contacts).")
    return {key: first.manifest.get(key) for key in checks}


def _merge(name: str, releases: list[BilanRelease]) -> pd.DataFrame:
    """One consolidated table: contacts summed, persons as a range, secrets kept."""
    keys = list(TABLES[name].keys)
    parts = []
    for i, release in enumerate(releases):
        table = release.tables[name].copy()
        table["_s"] = i
        parts.append(table)
    long = pd.concat(parts, ignore_index=True)
    hidden = long["statut"].ne("publie")
    grouped = long.assign(
        _hidden=hidden,
        _present=hidden | long["contacts"].fillna(0).gt(0),
        _contacts=long["contacts"].astype("Float64"),
        _persons=long["persons"].astype("Float64"),
    ).groupby(keys, sort=False)
    out = grouped.agg(
        contacts=("_contacts", "sum"),
        persons_min=("_persons", "max"),
        persons_max=("_persons", "sum"),
        structures=("_present", "sum"),
        secret=("_hidden", "any"),
    ).reset_index()
    for column in ("contacts", "persons_min", "persons_max"):
        out[column] = out[column].round().astype("Int64").mask(out["secret"])
    out["structures"] = out["structures"].astype(int)
    out["statut"] = np.where(out["secret"], "secret_structure", "publie")
    out = out.drop(columns="secret")
    # totals last, cells in key order
    is_total = out[keys].eq(TOTAL_LABEL).any(axis=1)
    out = pd.concat([out[~is_total].sort_values(keys), out[is_total].sort_values(keys)])
    return out.reset_index(drop=True)


@dataclass
class Consolidation:
    """Consolidated tables of several structures.

    Attributes
    ----------
    releases : list of BilanRelease
    tables : dict of pandas.DataFrame
        By table name: key columns, ``contacts``, ``persons_min``, ``persons_max``,
        ``structures`` (structures with activity in the cell), ``statut``.
    frame : dict
        Shared schema, period and disclosure settings.
    files : list of pathlib.Path
    """

    releases: list[BilanRelease]
    tables: dict[str, pd.DataFrame]
    frame: dict
    files: list[Path] = field(default_factory=list)

    def total(self) -> dict:
        """Consolidated totals: contacts, and the persons range (from the registre table)."""
        row = self.tables["registre"].set_index("registre").loc[TOTAL_LABEL]
        return {key: (None if pd.isna(row[key]) else int(row[key]))
                for key in ("contacts", "persons_min", "persons_max")}

    def summary(self) -> str:
        """French summary of the consolidation."""
        total = self.total()
        period = self.frame.get("periode") or {}

        def n(value):
            return "secret" if value is None else fr_number(value)

        lines = [
            f"Consolidation de {len(self.releases)} structures "
            f"({', '.join(r.structure for r in self.releases)}), période "
            f"{period.get('debut')} – {period.get('fin')}.",
            f"Contacts : {n(total['contacts'])} (somme des structures).",
            f"Personnes distinctes : entre {n(total['persons_min'])} et "
            f"{n(total['persons_max'])} (une personne peut avoir rencontré plusieurs "
            "structures : le nombre exact n'est pas connu).",
        ]
        secret = sum(int(t["statut"].ne("publie").sum()) for t in self.tables.values())
        lines.append(f"Cases masquées par au moins une structure : {secret}.")
        if self.files:
            lines.append(f"Fichiers écrits dans {self.files[0].parent.parent}")
        return "\n".join(lines)


def consolidate(
    folders: Iterable[str | os.PathLike],
    out: str | os.PathLike | None = None,
    *,
    territory=None,
) -> Consolidation:
    """Consolidate several structures' bilan folders.

    Parameters
    ----------
    folders : iterable of path
        Bilan folders written by :func:`fragility.bilan.run_bilan` (``fragility bilan``).
    out : path, optional
        Output folder: ``consolidation/<table>.csv``, ``manifest.json`` and, when a
        ``territory`` is given, ``figures/contacts_commune.png``.
    territory : fragility.territory.Territory, optional
        Territory whose commune contours carry the map.

    Returns
    -------
    Consolidation

    Raises
    ------
    InputError
        Fewer than two folders, a folder that is not a bilan, or bilans that do not share
        their schema, period and disclosure settings.
    """
    folders = [Path(f) for f in folders]
    if len(folders) < 2:
        raise InputError("indiquez au moins deux dossiers de bilan à consolider.")
    releases = [read_release(f) for f in folders]
    frame = _check_same(releases)
    tables = {name: _merge(name, releases) for name in TABLES}
    result = Consolidation(releases=releases, tables=tables, frame=frame)
    if out is not None:
        result.files = _write(result, Path(out), territory)
    return result


def _write(result: Consolidation, out: Path, territory) -> list[Path]:
    (out / "consolidation").mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in result.tables.items():
        labelled = table.copy()
        for key in TABLES[name].keys:
            labelled[f"{key}_libelle"] = [label_of(key, c) for c in table[key]]
        path = out / "consolidation" / f"{name}.csv"
        with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
            labelled.to_csv(handle, index=False, sep=";", lineterminator="\n")
        files.append(path)
    if territory is not None:
        files.append(_map(result, territory, out / "figures" / "contacts_commune.png"))
    manifest = {
        "schema": CONSOLIDATION_SCHEMA,
        **result.frame,
        "structures": [
            {"nom": r.structure, "dossier": r.folder.name,
             "manifeste_sha256": sha256_of(r.folder / "manifest.json")}
            for r in result.releases
        ],
        "personnes": "fourchette : persons_min (au moins) à persons_max (au plus) ; une "
                     "personne peut avoir rencontré plusieurs structures",
        "tables": {name: f"consolidation/{name}.csv" for name in result.tables},
    }
    path = out / "manifest.json"
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=2)
    files.append(path)
    return files


def _map(result: Consolidation, territory, path: Path) -> Path:
    """Static map of the consolidated contacts per commune (secret communes hatched)."""
    from fragility.iris_table import build_iris_table
    from fragility.maps import static_map

    gdf = build_iris_table(territory).gdf
    communes = dissolve(gdf, "commune")
    table = result.tables["commune"].set_index("commune")
    communes["contacts"] = pd.to_numeric(table["contacts"], errors="coerce").reindex(
        communes.index).astype(float)
    subtitle = ("Territoire de démonstration — données synthétiques"
                if territory.is_synthetic else None)
    return static_map(
        communes, "contacts", path,
        title=f"Contacts de médiation consolidés ({len(result.releases)} structures)",
        legend_title="contacts", subtitle=subtitle, cmap="Purples",
        source_line="Sources : bilans d'activité des structures (cases protégées), fragility",
    )
