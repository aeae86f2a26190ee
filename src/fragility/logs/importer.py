"""The whole log edge in one call: read, validate, pseudonymise, PII guard, locate.

Every input row ends either in the accepted log or in the rejects file, with its line,
field and reason in French: ``read == accepted + rejected`` is checked, never assumed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from fragility._files import atomic_path, atomic_write
from fragility.errors import ConfigError, FragilityError, InputError
from fragility.logs.locate import locate
from fragility.logs.pii import assert_no_pii
from fragility.logs.pseudonymise import load_key, pseudonymise
from fragility.logs.read import read_export
from fragility.logs.schema import SCHEMA_VERSION
from fragility.logs.validate import validate_events

REJECT_COLUMNS = ["ligne", "champ", "motif", "valeur"]


@dataclass(frozen=True)
class LogImport:
    """Result of :func:`read_log`.

    Attributes
    ----------
    events : pandas.DataFrame
        Accepted events: pseudonymised (``person_key``, ``mediator_key``), without any
        direct identifier or free text, dated by month, located (``geo_level``).
    rejects : pandas.DataFrame
        One row per rejected input row: ``ligne``, ``champ``, ``motif`` (French) and
        ``valeur`` (empty for identifying or free-text fields).
    report : dict
        File, format, encoding, separator, counts (``lues``, ``acceptees``,
        ``rejetees``, ``doublons``), recognised, unknown and dropped columns, location
        statistics.
    """

    events: pd.DataFrame
    rejects: pd.DataFrame
    report: dict = field(default_factory=dict)

    def summary(self) -> str:
        """French summary of the import (counts, encoding, columns)."""
        r = self.report
        lines = [
            f"Fichier : {r['fichier']} ({r['format']}"
            + (
                f", encodage {r['encodage']}, séparateur « {r['separateur']} »)"
                if r.get("encodage")
                else ")"
            ),
            f"Lignes lues : {r['lues']} = acceptées {r['acceptees']} + rejetées {r['rejetees']}"
            f" (dont {r['doublons']} doublon(s) exact(s))",
        ]
        if r["colonnes_inconnues"]:
            lines.append(
                "Colonnes non reconnues (ignorées) : " + ", ".join(r["colonnes_inconnues"])
            )
        if r["colonnes_identifiantes_supprimees"]:
            lines.append(
                "Colonnes identifiantes supprimées à l'import : "
                + ", ".join(r["colonnes_identifiantes_supprimees"])
            )
        if r["motifs"]:
            lines.append("Motifs de rejet :")
            lines += [f"  - {motif} : {n}" for motif, n in r["motifs"].items()]
        return "\n".join(lines)

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``evenements.parquet``, ``rejets.csv`` and ``rapport_import.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        events, rejects, report = (
            out / "evenements.parquet",
            out / "rejets.csv",
            out / "rapport_import.json",
        )
        with atomic_path(events) as tmp:
            self.events.reset_index(drop=True).to_parquet(tmp, index=False)
        with atomic_write(rejects, "w", encoding="utf-8", newline="") as handle:
            self.rejects.to_csv(handle, index=False, sep=";", lineterminator="\n")
        with atomic_write(report, "w", encoding="utf-8") as handle:
            json.dump(self.report, handle, ensure_ascii=False, indent=2)
        return [events, rejects, report]


def _reason_kinds(rejects: pd.DataFrame) -> pd.Series:
    """Reject reasons without their row-specific details (value, line of the original)."""
    motifs = rejects.drop_duplicates("ligne")["motif"].astype(str)
    motifs = motifs.str.replace(r" de la ligne \d+$", "", regex=True)
    return motifs.str.replace(r"\s*[(:«].*$", "", regex=True).str.strip()


_DASK_PACKAGES = frozenset({"dask", "distributed", "dask_geopandas", "pyarrow"})


def _dask_reader():
    """:func:`~fragility.logs.dask_engine.read_log_dask`, imported only when asked for."""
    try:
        from fragility.logs.dask_engine import read_log_dask
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in _DASK_PACKAGES:
            raise
        raise ConfigError(
            f"le moteur dask demande le paquet « {missing} », absent : installez-le avec "
            "pip install 'fragility[dask]'."
        ) from exc
    return read_log_dask


def read_log(
    path: str | os.PathLike,
    iris: gpd.GeoDataFrame,
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike | None = None,
    mapping: str | os.PathLike | None = None,
    qpv: set[str] | None = None,
    today=None,
    engine: str = "pandas",
) -> LogImport:
    """Import a mediation export: read, validate, pseudonymise, guard, locate.

    Parameters
    ----------
    path : str or os.PathLike
        CSV (any of ``;``, ``,``, tab; UTF-8, UTF-8-BOM or Windows-1252), XLSX or Parquet.
    iris : geopandas.GeoDataFrame
        IRIS contours of the territory (``IrisTable.gdf``): codes and coordinates
        outside it are rejected.
    key, key_file : optional
        Pseudonymisation key, or a file holding it; otherwise ``FRAGILITY_PSEUDO_KEY``.
        Without any key the import is refused before the file is read.
    mapping : str or os.PathLike, optional
        YAML/TOML file mapping unusual headers and values.
    qpv : set of str, optional
        QPV codes of the territory.
    today : datetime.date, optional
        Reference date for "future date" checks (default: today).
    engine : {"pandas", "dask"}, default "pandas"
        ``"pandas"``: everything in memory on this machine. ``"dask"``: partition by
        partition with :func:`fragility.logs.dask_engine.read_log_dask` (same result;
        ``path`` may then also be a directory written by
        :func:`~fragility.logs.dask_engine.to_partitioned_parquet`); needs the ``dask``
        extra (``pip install 'fragility[dask]'``).

    Returns
    -------
    LogImport

    Raises
    ------
    PseudonymisationKeyError
        No key.
    PrivacyError
        A direct identifier survived in a kept column (fails closed).
    InputError
        Unknown ``engine``.
    ConfigError
        ``engine="dask"`` without Dask installed.
    """
    if engine == "dask":
        read_log_dask = _dask_reader()
        return read_log_dask(path, iris, key=key, key_file=key_file, mapping=mapping, qpv=qpv,
                             today=today)
    if engine != "pandas":
        raise InputError(f"moteur inconnu : « {engine} » (moteurs : pandas, dask).",
                         field="engine")
    if Path(path).is_dir():
        raise InputError("ce chemin est un dossier : un export partitionné (Parquet) se lit "
                         "avec le moteur dask (engine=\"dask\", --engine dask).", path=path)
    secret = load_key(key, key_file=key_file)
    raw = read_export(path, mapping=mapping)
    communes = set(iris["commune"]) if "commune" in iris else None
    validation = validate_events(raw, communes=communes, iris=set(iris.index), qpv=qpv, today=today)
    events = pseudonymise(validation.accepted, secret)
    assert_no_pii(events, what=f"journal importé depuis {Path(path).name}")
    located = locate(events, iris)
    rejects = pd.concat(
        [validation.rejects[REJECT_COLUMNS], located.rejects[REJECT_COLUMNS]], ignore_index=True
    ).sort_values("ligne", kind="stable")
    n_rejected = rejects["ligne"].nunique()
    if validation.n_read != len(located.events) + n_rejected:
        raise FragilityError(
            f"comptage incohérent : {validation.n_read} lignes lues, {len(located.events)} "
            f"acceptées, {n_rejected} rejetées. Signalez ce fichier aux développeurs."
        )
    dropped = sorted(set(raw.identifier_columns))
    report = {
        "schema": SCHEMA_VERSION,
        "fichier": Path(path).name,
        "format": raw.file_format,
        "encodage": raw.encoding,
        "separateur": raw.separator,
        "lues": int(validation.n_read),
        "acceptees": len(located.events),
        "rejetees": int(n_rejected),
        "doublons": int(validation.duplicates),
        "colonnes_reconnues": dict(raw.columns),
        "colonnes_inconnues": list(raw.unknown_columns),
        "colonnes_identifiantes_supprimees": dropped,
        "localisees_par_coordonnees": located.from_coordinates,
        "points_sur_une_limite": located.on_boundary,
        "niveaux": {
            str(k): int(v)
            for k, v in located.events["geo_level"].value_counts().sort_index().items()
        },
        "motifs": {str(k): int(v) for k, v in _reason_kinds(rejects).value_counts().items()},
    }
    return LogImport(events=located.events, rejects=rejects.reset_index(drop=True), report=report)
