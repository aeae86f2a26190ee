"""Counts of a located event log by area, registre, thématique and period.

Two counts per cell: ``contacts`` (events) and ``persons`` (distinct pseudonymous
persons, the quantity the disclosure threshold applies to), plus ``top_share``, the share
of the cell's events due to its most frequent person (for the dominance rule).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pandas as pd

from fragility.disclosure import TOTAL_LABEL
from fragility.errors import InputError

LEVELS = {"iris": "geo_iris", "commune": "geo_commune", "qpv": "geo_qpv", "epci": "epci"}


def aggregate(
    events: pd.DataFrame,
    *,
    level: str = "iris",
    by: Sequence[str] = (),
    period: tuple[str, str] | None = None,
    epci_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Aggregate events to an area level, optionally crossed with other fields.

    Parameters
    ----------
    events : pandas.DataFrame
        Located, pseudonymised events (``geo_*``, ``period_month``, ``person_key``...).
    level : {"iris", "commune", "qpv", "epci"}
        Area level. At ``iris`` level only events located at IRIS level count (a row
        known only by its commune is never pushed down); the others are reported in
        ``attrs["hors_niveau"]``.
    by : sequence of str
        Other fields to cross with (e.g. ``["registre"]``, ``["thematique",
        "period_month"]``).
    period : tuple of str, optional
        Inclusive range of months ``("2024-01", "2024-12")``.
    epci_of : mapping, optional
        Commune -> EPCI, required for ``level="epci"``.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the key columns, ``contacts``, ``persons`` and ``top_share``
        (Int64 counts). ``attrs`` holds ``hors_niveau`` and ``hors_periode``.
    """
    if level not in LEVELS:
        raise InputError(f"niveau inconnu : « {level} » (niveaux : {', '.join(LEVELS)}).")
    frame = events
    outside_period = 0
    if period is not None:
        start, end = period
        keep = frame["period_month"].between(start, end)
        outside_period = int((~keep).sum())
        frame = frame[keep]
    if level == "epci":
        if epci_of is None:
            raise InputError("le niveau EPCI demande la correspondance commune → EPCI.")
        frame = frame.assign(epci=frame["geo_commune"].map(epci_of))
    column = LEVELS[level]
    if level == "iris" and "geo_level" in frame:
        located = frame["geo_level"] == "iris"
    else:
        located = frame[column].notna()
    outside_level = int((~located).sum())
    frame = frame[located]
    keys = [column, *by]
    for key in by:
        if key not in frame:
            raise InputError(f"champ inconnu pour l'agrégation : « {key} ».")
    grouped = frame.groupby(keys, dropna=False, sort=True)
    table = grouped.size().rename("contacts").to_frame()
    if "person_key" in frame:
        table["persons"] = grouped["person_key"].nunique()
        per_person = frame.dropna(subset=["person_key"]).groupby([*keys, "person_key"]).size()
        top = per_person.groupby(level=list(range(len(keys)))).max()
        table["top_share"] = (top.reindex(table.index).fillna(0) / table["contacts"]).round(4)
    else:
        table["persons"] = pd.NA
        table["top_share"] = pd.NA
    table = table.reset_index().rename(columns={column: level})
    for col in ("contacts", "persons"):
        table[col] = table[col].astype("Int64")
    table.attrs["hors_niveau"] = outside_level
    table.attrs["hors_periode"] = outside_period
    return table


def aggregate_with_margins(
    events: pd.DataFrame,
    *,
    level: str = "iris",
    by: Sequence[str] = (),
    epci_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Cells and all their margins (``Ensemble`` rows) with the true DISTINCT persons.

    What :func:`fragility.disclosure.protect` needs for crossed tables: every margin of
    ``[level, *by]`` (down to the grand total) as rows whose missing keys read
    ``Ensemble``, with ``contacts``, ``persons`` (distinct, recounted, not summed) and
    ``top_share``.

    A person met under two registres is one person in the commune total: summing the
    cells would overstate the margin, and a margin is published only if it truly
    reaches the threshold.
    """
    by = list(by)
    if level not in LEVELS:
        raise InputError(f"niveau inconnu : « {level} » (niveaux : {', '.join(LEVELS)}).")
    if level == "epci" and epci_of is None:
        raise InputError("le niveau EPCI demande la correspondance commune → EPCI.")
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
