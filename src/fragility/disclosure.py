"""Disclosure control of aggregated tables: the gate every exported count goes through.

Reference: ``logs-and-privacy.md`` §B.2 (thresholds) and §B.6 (export gate).

What is enforced
----------------
* **Primary secret** (``secret_primaire``): a cell counting from 1 to ``k - 1`` distinct
  persons is suppressed (``k = 11`` by default, the DGFiP person-level rule and the CASD
  rule; floor 5 with a warning), and so is a cell without any identified person but with
  1 to ``k - 1`` events. A zero is published as 0.
* **Dominance** (``secret_dominance``): a cell where one person accounts for more than
  ``dominance`` (85 %) of the events is suppressed (INSEE rule adapted to persons).
* **Secondary secret** (``secret_secondaire``): cells suppressed so that no suppressed cell
  can be recomputed from published totals, see :func:`protect`.
* **Rounding** (optional): published counts rounded to base 5 after suppression.
* A **manifest** (:class:`SuppressionManifest`) records what was done, never the hidden
  counts.

:func:`regroup` is the alternative to suppression for maps: small areas are merged into
contiguous zones that each reach the threshold. :func:`check_no_small_cells` is the last
guard writers call before a file leaves the machine.

Secondary suppression algorithm
-------------------------------
The table and its margins form a *lattice*: every cell of the table, plus (when
``margins=True``) every total obtained by summing over one or several keys (the row
totals, column totals and grand total of a 2-D table; the total of a 1-D table). A
*line* is a set of cells that differ by a single key, together with their total: the
total equals the sum of the line (exactly for event counts, and for persons when a person
belongs to one cell of the line). For every line whose total is in the lattice:

1. the number of suppressed cells of the line, total included, is 0 or at least 2;
2. when the total is published, the suppressed cells of the line add up to at least
   ``k`` persons, so their aggregate (total minus published cells) is not a small count.

A line breaking a rule gets one more suppression, chosen among its non-zero published
cells: first the cell that opens the fewest new single-suppression lines elsewhere
(a cost heuristic in the spirit of τ-ARGUS *Hypercube*), then the smallest number of
persons, then the smallest event count, then key order. The line's own total is chosen
only when no cell is left. Lines are revisited until nothing changes. An **algebraic
audit** follows: for each connected group of suppressed cells, the null space of the
system of line equations tells whether a suppressed cell is exactly determined by the
published values (e.g. a "bridge" between two blocks of suppressed cells in a 2-D
table); such a cell gets an extra partner and the whole procedure starts again.
Everything is deterministic.

Limits (documented, not hidden)
-------------------------------
* Interval disclosure is not computed: an attacker combining the equations with
  non-negativity (and knowing that a suppressed cell is not 0, zeros being published) can
  bound a suppressed value. Rule 2 keeps the bound of a line at ``k`` or more, but no
  protection interval is enforced per cell as τ-ARGUS does.
* The heuristic is neither optimal nor minimal (τ-ARGUS *Optimal* / *Modular* are); it
  is meant for 1-D and 2-D tables, hierarchical ones included (one key per level, e.g.
  ``commune`` and ``iris``, absent combinations being structural zeros). Tables of 3 or
  more keys are handled by the same rules, with less testing.
* Totals computed here add the persons of the cells. That is the number of distinct
  persons only when a person is in a single cell of each line (home IRIS, age band); for
  keys such as ``registre`` a person may be counted twice. Supply the true totals as rows
  whose key holds ``total_label`` (``"Ensemble"``) to have them used instead.
* Linked tables released separately (the same counts at two geographic levels, the same
  cube sliced twice), differencing between releases over time and the "full cell"
  inference rule of §B.6 are out of scope of this module.
* The algebraic audit skips (with a warning) groups of suppressed cells spread over more
  than 2,500 lines (e.g. a national IRIS table); only the line rules hold there.
"""

from __future__ import annotations

import heapq
import json
import numbers
import os
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragility._files import atomic_write
from fragility.errors import ConfigError, FragilityWarning, InputError, PrivacyError

__all__ = [
    "DEFAULT_DOMINANCE",
    "DEFAULT_K",
    "MANIFEST_SCHEMA",
    "MIN_K",
    "STATUSES",
    "TOTAL_LABEL",
    "DisclosureError",
    "SuppressionManifest",
    "check_no_small_cells",
    "protect",
    "publishable_margins",
    "regroup",
]

#: Default threshold: minimum number of distinct persons in a published cell (§B.2).
DEFAULT_K = 11
#: Hard floor of the threshold.
MIN_K = 5
#: Default dominance share (INSEE 85 % rule).
DEFAULT_DOMINANCE = 0.85
#: Key value marking a total (margin) row.
TOTAL_LABEL = "Ensemble"
#: Version of the manifest layout.
MANIFEST_SCHEMA = "fragility-disclosure/1.0"
#: Values of the ``statut`` column.
STATUSES = ("publie", "secret_primaire", "secret_dominance", "secret_secondaire")

_PUBLISHED, _PRIMARY, _DOMINANCE, _SECONDARY = 0, 1, 2, 3
_REASONS = {_PRIMARY: "primaire", _DOMINANCE: "dominance", _SECONDARY: "secondaire"}
_TOTAL = -1  # code of a collapsed key in the lattice
_AUDIT_MAX_LINES = 2500
_AUDIT_TRIES = 12


class DisclosureError(PrivacyError, ValueError):
    """A table about to be exported holds a cell that the disclosure rules forbid."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class SuppressionManifest:
    """What the disclosure gate did to a table (never the hidden counts).

    Attributes
    ----------
    k : int
        Threshold: minimum number of distinct persons in a published cell.
    dominance : float or None
        Dominance share: a cell where one person accounts for more than this share of
        the events is suppressed. ``None`` when the rule could not be applied (no
        ``top_share`` column).
    rounding : int or None
        Rounding base of published counts (5), or ``None``.
    primary : int
        Number of cells suppressed because they count from 1 to ``k - 1`` persons.
    secondary : int
        Number of cells suppressed to protect other suppressed cells.
    dominance_suppressed : int
        Number of cells suppressed by the dominance rule.
    cells : int
        Number of cells of the table.
    suppressed_cells : list of dict
        One dict per suppressed cell: its key columns and ``motif`` (``"primaire"``,
        ``"secondaire"`` or ``"dominance"``); the original counts are not kept.
    method : str
        French description of the rules applied, for the reader of the release.
    keys : tuple of str
        Key (dimension) columns of the table.
    margins : bool
        Whether totals over each key were treated as published.
    margins_suppressed : int
        Number of totals (margins) that must not be published; :func:`publishable_margins`
        returns them with their status.
    schema : str
        Manifest layout version.
    """

    k: int
    dominance: float | None = DEFAULT_DOMINANCE
    rounding: int | None = None
    primary: int = 0
    secondary: int = 0
    dominance_suppressed: int = 0
    cells: int = 0
    suppressed_cells: list[dict] = field(default_factory=list, hash=False)
    method: str = ""
    keys: tuple[str, ...] = ()
    margins: bool = True
    margins_suppressed: int = 0
    schema: str = MANIFEST_SCHEMA

    @property
    def suppressed(self) -> int:
        """Total number of suppressed cells."""
        return self.primary + self.secondary + self.dominance_suppressed

    def to_dict(self) -> dict:
        """Return the manifest as a JSON-serialisable dict.

        Returns
        -------
        dict
            Plain Python values only (str, int, float, bool, None, list, dict).
        """
        return {
            "schema": self.schema,
            "k": int(self.k),
            "dominance": None if self.dominance is None else float(self.dominance),
            "rounding": None if self.rounding is None else int(self.rounding),
            "keys": list(self.keys),
            "margins": bool(self.margins),
            "cells": int(self.cells),
            "primary": int(self.primary),
            "secondary": int(self.secondary),
            "dominance_suppressed": int(self.dominance_suppressed),
            "margins_suppressed": int(self.margins_suppressed),
            "suppressed_cells": [
                {str(name): _json_value(value) for name, value in cell.items()}
                for cell in self.suppressed_cells
            ],
            "method": self.method,
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write the manifest as UTF-8 JSON, atomically.

        Parameters
        ----------
        path : str or os.PathLike
            Destination (``.json``).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        with atomic_write(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        return Path(path)


def _json_value(value: object) -> object:
    """Turn a key value into a JSON-serialisable one."""
    if value is None:
        return None
    if isinstance(value, (str, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- parameters


def _check_k(k: object, stacklevel: int = 3) -> int:
    """Validate the threshold; warn below 11."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ConfigError(f"le seuil k doit être un entier (reçu : {k!r}).")
    k = int(k)
    if k < MIN_K:
        raise ConfigError(
            f"seuil k = {k} refusé : le minimum est {MIN_K} personnes distinctes par cellule "
            f"(recommandé : {DEFAULT_K})."
        )
    if k < DEFAULT_K:
        warnings.warn(
            f"seuil k inférieur à {DEFAULT_K} (k = {k}) : les règles de l'Insee et du CASD "
            f"pour les personnes demandent au moins {DEFAULT_K} unités par cellule.",
            FragilityWarning,
            stacklevel=stacklevel,
        )
    return k


def _check_dominance(dominance: object) -> float:
    if (
        isinstance(dominance, bool)
        or not isinstance(dominance, numbers.Real)
        or not 0 < float(dominance) <= 1
    ):
        raise ConfigError(
            f"la part de dominance doit être comprise entre 0 (exclu) et 1 (reçu : {dominance!r})."
        )
    return float(dominance)


def _check_rounding(rounding: object) -> int | None:
    if rounding is None:
        return None
    if isinstance(rounding, bool) or rounding != 5:
        raise ConfigError(f"arrondi non pris en charge : {rounding!r} (valeurs : None ou 5).")
    return 5


def _as_names(value: str | Iterable[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    names = list(value)
    if not all(isinstance(name, Hashable) for name in names):
        raise ConfigError(f"{what} : noms de colonnes attendus.")
    return names


def _require_columns(frame: pd.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(
            f"colonne(s) absente(s) de {what} : {', '.join(map(str, missing))}.",
            field=str(missing[0]),
        )


def _counts_of(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Return a count column as int64, refusing missing, negative or fractional values."""
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise InputError("des effectifs numériques sont attendus.", field=str(column))
    if series.isna().any():
        raise InputError(
            "effectif manquant : le secret statistique ne peut pas être évalué sans lui "
            "(comptez les personnes distinctes de chaque cellule).",
            field=str(column),
        )
    values = series.to_numpy(dtype="float64")
    if (values < 0).any() or not np.all(np.isfinite(values)) or (values != np.round(values)).any():
        raise InputError("les effectifs doivent être des entiers positifs ou nuls.",
                         field=str(column))
    return values.astype(np.int64)


def _shares_of(frame: pd.DataFrame, column: str, persons: np.ndarray) -> np.ndarray:
    """Return the top-contributor shares, 0 where the cell is empty."""
    series = frame[column]
    if not pd.api.types.is_numeric_dtype(series):
        raise InputError("part numérique attendue (entre 0 et 1).", field=str(column))
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(values)
    if (missing & (persons > 0)).any():
        raise InputError(
            "part du premier contributeur manquante pour une cellule non vide : la règle de "
            "dominance ne peut pas être évaluée.",
            field=str(column),
        )
    values = np.where(missing, 0.0, values)
    if (values < 0).any() or (values > 1).any():
        raise InputError("la part du premier contributeur doit être entre 0 et 1.",
                         field=str(column))
    return values


# --------------------------------------------------------------------------- lattice


@dataclass
class _Lattice:
    """Cells of a table and of its totals, with their suppression status."""

    codes: np.ndarray  # (n, d) int64; _TOTAL where the key is collapsed
    persons: np.ndarray  # (n,) int64
    counts: np.ndarray  # (n, c) int64
    status: np.ndarray  # (n,) int8
    n_input: int  # the first n_input cells are the input rows, in input order
    categories: list[pd.Index]


def _factorise_keys(frame: pd.DataFrame, keys: list[str], total_label: str):
    """Encode each key as sorted integer codes; rows holding ``total_label`` get _TOTAL."""
    n = len(frame)
    codes = np.empty((n, len(keys)), dtype=np.int64)
    categories = []
    for j, key in enumerate(keys):
        column = frame[key]
        is_total = column.map(lambda v: isinstance(v, str) and v == total_label).to_numpy(
            dtype=bool
        )
        values = column[~is_total]
        try:
            code, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
        except TypeError:  # mixed types that do not compare: order by their text
            code, uniques = pd.factorize(values, sort=False, use_na_sentinel=False)
            rank = np.argsort(np.argsort([str(u) for u in uniques], kind="stable"))
            code = rank[code]
            uniques = pd.Index(np.asarray(uniques, dtype=object)[np.argsort(rank)],
                               dtype=object)
        full = np.full(n, _TOTAL, dtype=np.int64)
        full[~is_total] = code
        codes[:, j] = full
        categories.append(pd.Index(uniques))
    return codes, categories


def _build_lattice(table, keys, persons, counts, top_share, total_label, margins):
    """Validate the input table and build its lattice (input cells, then computed totals)."""
    if not isinstance(table, pd.DataFrame):
        raise InputError("un tableau pandas (DataFrame) agrégé est attendu.")
    if not keys:
        raise ConfigError("au moins une colonne de clé (dimension) est nécessaire.")
    if len(set(keys)) != len(keys):
        raise ConfigError("colonnes de clé en double.")
    value_columns = [persons, *counts] + ([top_share] if top_share is not None else [])
    overlap = set(keys) & set(value_columns)
    if overlap:
        raise ConfigError(f"une colonne ne peut pas être à la fois clé et effectif : {overlap}.")
    _require_columns(table, [*keys, *value_columns], "la table")
    if top_share is not None and not counts:
        raise ConfigError(
            "la règle de dominance a besoin de la colonne des événements : « counts » ne doit "
            "pas être vide quand « top_share » est donné (la part s'applique à counts[0])."
        )
    person_values = _counts_of(table, persons)
    count_values = (
        np.column_stack([_counts_of(table, c) for c in counts])
        if counts
        else np.zeros((len(table), 0), dtype=np.int64)
    )
    shares = (
        _shares_of(table, top_share, person_values)
        if top_share is not None
        else np.zeros(len(table))
    )
    codes, categories = _factorise_keys(table, keys, total_label)
    frame = pd.DataFrame(codes)
    duplicated = frame.duplicated(keep=False).to_numpy()
    if duplicated.any():
        sample = table.loc[duplicated, keys].drop_duplicates().head(3)
        shown = "; ".join(", ".join(map(str, row)) for row in sample.itertuples(index=False))
        raise InputError(f"cellules en double dans la table (mêmes clés) : {shown}.")

    events = count_values[:, 0] if counts else np.zeros(len(table), dtype=np.int64)
    top_events = shares * events
    d = len(keys)
    all_codes = [codes]
    all_persons = [person_values]
    all_counts = [count_values]
    all_shares = [shares]
    interior = (codes != _TOTAL).all(axis=1)
    if margins and interior.any():
        existing = {tuple(row) for row in codes[~interior]}
        base = pd.DataFrame(codes[interior], columns=list(range(d)))
        value_names = ["_p", *(f"_c{i}" for i in range(len(counts))), "_e", "_t"]
        base["_p"] = person_values[interior]
        for i in range(len(counts)):
            base[f"_c{i}"] = count_values[interior, i]
        base["_e"] = events[interior]
        base["_t"] = top_events[interior]
        for mask in range(1, 2**d):
            kept = [j for j in range(d) if not (mask >> j) & 1]
            if kept:
                summed = base.groupby(kept, sort=True)[value_names].sum().reset_index()
            else:
                summed = base[value_names].sum().to_frame().T
            level = np.full((len(summed), d), _TOTAL, dtype=np.int64)
            for j in kept:
                level[:, j] = summed[j].to_numpy(dtype=np.int64)
            keep = np.array([tuple(row) not in existing for row in level], dtype=bool)
            if not keep.any():
                continue
            summed = summed[keep]
            all_codes.append(level[keep])
            all_persons.append(summed["_p"].to_numpy(dtype=np.int64))
            all_counts.append(
                summed[[f"_c{i}" for i in range(len(counts))]].to_numpy(dtype=np.int64)
                if counts
                else np.zeros((len(summed), 0), dtype=np.int64)
            )
            e = summed["_e"].to_numpy(dtype="float64")
            t = summed["_t"].to_numpy(dtype="float64")
            # Upper bound of the top person's share of the total: each cell's top person
            # could be the same person.
            all_shares.append(np.divide(t, e, out=np.zeros_like(t), where=e > 0))
    lattice = _Lattice(
        codes=np.vstack(all_codes),
        persons=np.concatenate(all_persons),
        counts=np.vstack(all_counts),
        status=np.zeros(sum(len(c) for c in all_codes), dtype=np.int8),
        n_input=len(table),
        categories=categories,
    )
    return lattice, np.concatenate(all_shares)


class _Suppressor:
    """Primary, dominance and secondary suppression over a lattice."""

    def __init__(self, lattice: _Lattice, shares: np.ndarray, *, k: int,
                 dominance: float | None) -> None:
        self.lat = lattice
        self.k = k
        self.audit_skipped: set[int] = set()
        n, d = lattice.codes.shape
        self.nonzero = (lattice.persons > 0) | (lattice.counts > 0).any(axis=1)
        self.events = (
            lattice.counts[:, 0] if lattice.counts.shape[1] else np.zeros(n, dtype=np.int64)
        )
        self.is_margin = (lattice.codes == _TOTAL).any(axis=1)
        self.order = [tuple(row) for row in lattice.codes.tolist()]
        status = lattice.status
        small = (lattice.persons >= 1) & (lattice.persons <= k - 1)
        # Events without any identified person (collective contacts, missing identifiers)
        # still count: 1 to k - 1 of them is as small a cell (fails closed).
        small |= (lattice.persons == 0) & (self.events >= 1) & (self.events <= k - 1)
        status[small] = _PRIMARY
        if dominance is not None:
            dominant = (shares > dominance) & self.nonzero & ~small
            status[dominant] = _DOMINANCE
        # Lines: (varying key, other codes). Only lines with a total carry an equation.
        members: dict[tuple, list[int]] = {}
        totals: dict[tuple, int] = {}
        self.cell_lines: list[list[tuple]] = [[] for _ in range(n)]
        for i, row in enumerate(self.order):
            for j in range(d):
                line = (j, row[:j] + row[j + 1:])
                self.cell_lines[i].append(line)
                if row[j] == _TOTAL:
                    totals[line] = i
                else:
                    members.setdefault(line, []).append(i)
        self.lines = {
            line: (members.get(line, []), total) for line, total in sorted(totals.items())
        }
        self.cell_lines = [[ln for ln in lines if ln in self.lines] for lines in self.cell_lines]
        self.n_suppressed = {}
        self.suppressed_persons = {}
        for line, (cells, total) in self.lines.items():
            hidden = [c for c in cells if status[c]]
            self.n_suppressed[line] = len(hidden) + bool(status[total])
            self.suppressed_persons[line] = int(lattice.persons[hidden].sum())

    # -- bookkeeping
    def _suppress(self, cell: int) -> None:
        self.lat.status[cell] = _SECONDARY
        for line in self.cell_lines[cell]:
            self.n_suppressed[line] += 1
            if self.lines[line][1] != cell:
                self.suppressed_persons[line] += int(self.lat.persons[cell])

    def _unsuppress(self, cell: int) -> None:
        self.lat.status[cell] = _PUBLISHED
        for line in self.cell_lines[cell]:
            self.n_suppressed[line] -= 1
            if self.lines[line][1] != cell:
                self.suppressed_persons[line] -= int(self.lat.persons[cell])

    def _cost(self, cell: int, line: tuple | None) -> tuple:
        exposed = sum(
            1 for other in self.cell_lines[cell] if other != line and self.n_suppressed[other] == 0
        )
        return (exposed, int(self.lat.persons[cell]), int(self.events[cell]),
                bool(self.is_margin[cell]), self.order[cell])

    def _candidates(self, line: tuple) -> list[int]:
        cells, total = self.lines[line]
        status = self.lat.status
        found = [c for c in cells if not status[c] and self.nonzero[c]]
        if not found and not status[total]:
            found = [total]
        return found

    def _violated(self, line: tuple) -> bool:
        hidden = self.n_suppressed[line]
        if hidden == 1:
            return True
        total = self.lines[line][1]
        return bool(
            hidden and not self.lat.status[total] and self.suppressed_persons[line] < self.k
        )

    # -- rules 1 and 2
    def _fix_lines(self, dirty: set[tuple]) -> None:
        while dirty:
            batch = sorted(dirty)
            dirty.clear()
            for line in batch:
                while self._violated(line):
                    found = self._candidates(line)
                    if not found:
                        break
                    best = min(found, key=lambda c, ln=line: self._cost(c, ln))
                    self._suppress(best)
                    dirty.update(ln for ln in self.cell_lines[best] if ln != line)

    # -- algebraic audit
    def _components(self) -> list[list[int]]:
        """Groups of suppressed cells linked by shared lines."""
        status = self.lat.status
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for cell in np.flatnonzero(status).tolist():
            parent[cell] = cell
        for cells, total in self.lines.values():
            hidden = [c for c in cells if status[c]] + ([total] if status[total] else [])
            for other in hidden[1:]:
                a, b = find(hidden[0]), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        groups: dict[int, list[int]] = {}
        for cell in parent:
            groups.setdefault(find(cell), []).append(cell)
        return [sorted(g) for _, g in sorted(groups.items())]

    def _determined_in(self, group: list[int]) -> list[int] | None:
        """Cells of a group whose value follows exactly from the published values.

        Cell ``i`` is determined when the unit vector ``e_i`` lies in the row space of the
        line equations restricted to the suppressed cells, i.e. when the orthogonal
        projection onto that row space keeps it whole: ``a_i' (A A')^+ a_i = 1`` where
        ``a_i`` is the column of cell ``i``. ``A A'`` is small (one row per line), and
        each ``a_i`` has at most two non-zeros per key. ``None`` when too large to check.
        """
        status = self.lat.status
        position = {cell: i for i, cell in enumerate(group)}
        lines = sorted({ln for cell in group for ln in self.cell_lines[cell]})
        if not lines:
            return []
        if len(lines) > _AUDIT_MAX_LINES:
            return None
        row_of, col_of, value = [], [], []
        for r, line in enumerate(lines):
            cells, total = self.lines[line]
            if status[total]:
                row_of.append(r)
                col_of.append(position[total])
                value.append(1.0)
            for c in cells:
                if status[c]:
                    row_of.append(r)
                    col_of.append(position[c])
                    value.append(-1.0)
        rows = np.array(row_of, dtype=np.int64)
        cols = np.array(col_of, dtype=np.int64)
        vals = np.array(value, dtype=float)
        matrix = np.zeros((len(lines), len(group)))
        matrix[rows, cols] = vals
        gram = matrix @ matrix.T
        eigval, eigvec = np.linalg.eigh(gram)
        tol = max(eigval.max(initial=0.0), 1.0) * len(lines) * np.finfo(float).eps * 10
        keep = eigval > tol
        pinv = (eigvec[:, keep] / eigval[keep]) @ eigvec[:, keep].T
        # diag_i = sum over pairs of non-zeros (r, s) of column i: a_ri a_si pinv[r, s].
        order = np.argsort(cols, kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        starts = np.searchsorted(cols, np.arange(len(group)))
        ends = np.searchsorted(cols, np.arange(len(group)), side="right")
        width = int((ends - starts).max(initial=0))
        diag = np.zeros(len(group))
        for a in range(width):
            ia = starts + a
            has_a = ia < ends
            for b in range(width):
                ib = starts + b
                both = has_a & (ib < ends)
                ra, rb = rows[ia[both]], rows[ib[both]]
                diag[both] += vals[ia[both]] * vals[ib[both]] * pinv[ra, rb]
        return [cell for cell, d in zip(group, diag, strict=True) if d > 1 - 1e-7]

    def _determined(self) -> list[int]:
        found = []
        for group in self._components():
            cells = self._determined_in(group)
            if cells is None:
                self.audit_skipped.update(group)
                continue
            found.extend(cells)
        return sorted(found, key=lambda c: (bool(self.is_margin[c]), self.order[c]))

    def _group_of(self, cell: int) -> list[int]:
        for group in self._components():
            if cell in group:
                return group
        return [cell]

    def _break(self, cell: int) -> int | None:
        """Suppress one more cell so that ``cell`` is no longer determined."""
        ranked = {}
        for line in self.cell_lines[cell]:
            for c in self._candidates(line):
                cost = self._cost(c, line)
                ranked[c] = min(ranked.get(c, cost), cost)
        if not ranked:  # look further: any line touching the group
            for member in self._group_of(cell):
                for line in self.cell_lines[member]:
                    for c in self._candidates(line):
                        cost = self._cost(c, line)
                        ranked[c] = min(ranked.get(c, cost), cost)
        if not ranked:
            return None
        order = sorted(ranked, key=ranked.__getitem__)
        for candidate in order[:_AUDIT_TRIES]:
            self._suppress(candidate)
            still = self._determined_in(self._group_of(cell))
            if still is not None and cell not in still:
                return candidate
            self._unsuppress(candidate)
        self._suppress(order[0])
        return order[0]

    def run(self) -> None:
        self._fix_lines(set(self.lines))
        while True:
            determined = self._determined()
            if not determined:
                return
            added = self._break(determined[0])
            if added is None:  # cannot happen on consistent tables; never loop forever
                warnings.warn(
                    "secret secondaire : une cellule masquée reste calculable à partir des "
                    "totaux ; ne publiez pas les totaux de cette table.",
                    FragilityWarning,
                    stacklevel=4,
                )
                return
            self._fix_lines(set(self.cell_lines[added]))


def _run(table, *, keys, persons, counts, k, dominance, top_share, rounding, margins,
         total_label):
    keys = _as_names(keys, "keys")
    counts = _as_names(counts, "counts")
    k = _check_k(k, stacklevel=4)
    dominance = _check_dominance(dominance)
    rounding = _check_rounding(rounding)
    lattice, shares = _build_lattice(table, keys, persons, counts, top_share, total_label,
                                     margins)
    suppressor = _Suppressor(lattice, shares, k=k,
                             dominance=dominance if top_share is not None else None)
    suppressor.run()
    if suppressor.audit_skipped:
        warnings.warn(
            f"secret secondaire : vérification algébrique omise pour "
            f"{len(suppressor.audit_skipped)} "
            "cellules masquées (groupe trop grand) ; seules les règles par ligne sont garanties.",
            FragilityWarning,
            stacklevel=3,
        )
    return lattice, keys, counts, k, dominance, rounding


# --------------------------------------------------------------------------- output


def _round_base(values: np.ndarray, base: int, k: int) -> np.ndarray:
    """Round half up to ``base``; a non-zero value never rounds below the threshold."""
    rounded = np.floor(values / base + 0.5).astype(np.int64) * base
    floor = -(-k // base) * base
    return np.where((values > 0) & (rounded < floor), floor, rounded)


def _masked_counts(values: np.ndarray, hidden: np.ndarray, rounding: int | None,
                   k: int) -> pd.array:
    shown = _round_base(values, rounding, k) if rounding else values
    array = pd.array(shown, dtype="Int64")
    array[hidden] = pd.NA
    return array


def _method(k: int, dominance: float | None, rounding: int | None, margins: bool) -> str:
    parts = [
        f"Secret primaire : toute cellule comptant de 1 à {k - 1} personnes distinctes est "
        f"masquée (seuil k = {k}) ; les zéros sont publiés."
    ]
    if dominance is not None:
        parts.append(
            f"Règle de dominance : une cellule où une seule personne représente plus de "
            f"{dominance:.0%} des contacts est masquée.".replace("%", " %")
        )
    else:
        parts.append("Règle de dominance non appliquée (part du premier contributeur absente).")
    if margins:
        parts.append(
            "Secret secondaire : les totaux sur chaque dimension sont réputés publiés ; dans "
            "chaque ligne, aucune ou au moins deux cellules sont masquées, pour un total masqué "
            f"d'au moins {k} personnes, et une vérification algébrique garantit qu'aucune "
            "cellule masquée ne se recalcule exactement par différence avec les totaux "
            "(heuristique gloutonne, non optimale, sans intervalle de protection)."
        )
    else:
        parts.append(
            "Aucun total n'est réputé publié : pas de secret secondaire, ne publiez aucun "
            "total de ces cellules."
        )
    if rounding:
        parts.append(
            f"Arrondi : effectifs publiés arrondis à {rounding} près (demi vers le haut), "
            f"sans descendre sous {-(-k // rounding) * rounding} ; les totaux sont arrondis "
            "séparément et peuvent ne pas égaler la somme des cellules."
        )
    parts.append(
        "Règles de secret statistique de type Insee : elles ne valent pas à elles seules "
        "anonymisation au sens du RGPD ; l'appréciation revient au délégué à la protection "
        "des données."
    )
    return " ".join(parts)


def _manifest(lattice: _Lattice, rows: np.ndarray, key_values: pd.DataFrame, *, keys, k,
              dominance, rounding, margins, margins_suppressed) -> SuppressionManifest:
    status = lattice.status[rows]
    positions = np.flatnonzero(status)
    records = key_values.iloc[positions][list(keys)].to_dict("records")
    suppressed = [
        {**record, "motif": _REASONS[int(status[position])]}
        for record, position in zip(records, positions.tolist(), strict=True)
    ]
    return SuppressionManifest(
        k=k,
        dominance=dominance,
        rounding=rounding,
        primary=int((status == _PRIMARY).sum()),
        secondary=int((status == _SECONDARY).sum()),
        dominance_suppressed=int((status == _DOMINANCE).sum()),
        cells=len(rows),
        suppressed_cells=suppressed,
        method=_method(k, dominance, rounding, margins),
        keys=tuple(str(key) for key in keys),
        margins=margins,
        margins_suppressed=margins_suppressed,
    )


def protect(
    table: pd.DataFrame,
    *,
    keys: str | Sequence[str],
    persons: str = "persons",
    counts: str | Sequence[str] = ("contacts",),
    k: int = DEFAULT_K,
    dominance: float = DEFAULT_DOMINANCE,
    top_share: str | None = None,
    rounding: int | None = None,
    margins: bool = True,
    total_label: str = TOTAL_LABEL,
) -> tuple[pd.DataFrame, SuppressionManifest]:
    """Apply primary, dominance and secondary secret to an aggregated table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell: the key columns, the number of distinct persons and other
        counts (e.g. the output of :func:`fragility.logs.aggregate.aggregate`). Rows
        whose key holds ``total_label`` are totals supplied by the caller (with their
        true number of distinct persons); they are protected like the other cells.
    keys : str or sequence of str
        Dimension columns (e.g. ``["iris", "registre"]``). Missing combinations are
        structural zeros.
    persons : str
        Column of distinct persons in the cell, the quantity the threshold applies to.
    counts : str or sequence of str
        Other count columns (contacts, events), suppressed with their cell. ``counts[0]``
        is the event count ``top_share`` refers to.
    k : int, default 11
        Threshold. Below 5 is refused; from 5 to 10 a :class:`FragilityWarning` is issued.
    dominance : float, default 0.85
        A cell where one person accounts for more than this share of events is suppressed.
    top_share : str, optional
        Column with the share of the cell's events due to its most frequent person. The
        dominance rule applies only when it is given. The column is not published.
    rounding : {None, 5}
        Round published counts to base 5, half up, after suppression. A non-zero value
        never rounds below the threshold (11 and 12 give 15 when k = 11), so no published
        count lies between 1 and k - 1.
    margins : bool, default True
        Treat the totals over each key as published and apply secondary secret. With
        ``False`` no total may ever be published (only the primary and dominance rules
        apply).
    total_label : str, default "Ensemble"
        Key value marking a total row.

    Returns
    -------
    table : pandas.DataFrame
        Same rows, index and order; ``persons`` and ``counts`` as nullable ``Int64`` with
        ``<NA>`` in suppressed cells; other numeric columns masked too; ``top_share``
        dropped; a ``statut`` column (``publie``, ``secret_primaire``,
        ``secret_dominance``, ``secret_secondaire``).
    manifest : SuppressionManifest
        What was done, for the release.

    Raises
    ------
    ConfigError
        Threshold below 5, bad dominance share or rounding base.
    InputError
        Missing column, missing, negative or fractional count, duplicated cell.

    Notes
    -----
    The secondary-suppression heuristic and its limits are described in the module
    documentation. Totals are computed by adding cells; publish them with
    :func:`publishable_margins` (same arguments), which returns them with the status
    computed jointly with the cells.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"iris": ["A", "B", "C"], "persons": [3, 15, 40],
    ...                   "contacts": [4, 20, 90]})
    >>> out, manifest = protect(t, keys="iris")
    >>> out["statut"].tolist()
    ['secret_primaire', 'secret_secondaire', 'publie']
    """
    if "statut" in table.columns:
        raise InputError("la table a déjà une colonne « statut » : renommez-la.", field="statut")
    lattice, keys, counts, k, dominance, rounding = _run(
        table, keys=keys, persons=persons, counts=counts, k=k, dominance=dominance,
        top_share=top_share, rounding=rounding, margins=margins, total_label=total_label,
    )
    rows = np.arange(lattice.n_input)
    hidden = lattice.status[rows] != _PUBLISHED
    out = table.drop(columns=[top_share]) if top_share is not None else table.copy()
    out[persons] = _masked_counts(lattice.persons[rows], hidden, rounding, k)
    for i, column in enumerate(counts):
        out[column] = _masked_counts(lattice.counts[rows, i], hidden, rounding, k)
    for column in out.columns:
        if column in keys or column == persons or column in counts:
            continue
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            out[column] = series.astype("boolean").mask(hidden)
        elif pd.api.types.is_integer_dtype(series):
            out[column] = series.astype("Int64").mask(hidden)
        elif pd.api.types.is_numeric_dtype(series):
            out[column] = series.mask(hidden)
    out["statut"] = np.array(STATUSES, dtype=object)[lattice.status[rows]]
    margin_cells = lattice.n_input + np.arange(len(lattice.status) - lattice.n_input)
    supplied_margins = (lattice.codes[rows] == _TOTAL).any(axis=1)
    margins_suppressed = int((lattice.status[margin_cells] != _PUBLISHED).sum())
    manifest = _manifest(
        lattice, rows, table[keys].reset_index(drop=True), keys=keys, k=k,
        dominance=dominance if top_share is not None else None, rounding=rounding,
        margins=margins,
        margins_suppressed=margins_suppressed + int((hidden & supplied_margins).sum()),
    )
    return out, manifest


def publishable_margins(
    table: pd.DataFrame,
    *,
    keys: str | Sequence[str],
    persons: str = "persons",
    counts: str | Sequence[str] = ("contacts",),
    k: int = DEFAULT_K,
    dominance: float = DEFAULT_DOMINANCE,
    top_share: str | None = None,
    rounding: int | None = None,
    total_label: str = TOTAL_LABEL,
) -> tuple[pd.DataFrame, SuppressionManifest]:
    """Compute the totals of a table over each key and protect them with the cells.

    The totals are the cells of the lattice described in the module documentation: for
    a 2-D table ``iris × registre``, the total of each IRIS, of each registre and the
    grand total. Their status is computed jointly with the cells, exactly as
    :func:`protect` with ``margins=True`` does, so the two outputs can be released
    together. A total of fewer than ``k`` persons is suppressed like any cell.

    Parameters
    ----------
    table, keys, persons, counts, k, dominance, top_share, rounding, total_label
        As in :func:`protect` (same values, to get consistent releases).

    Returns
    -------
    margins : pandas.DataFrame
        One row per total: the key columns (``total_label`` where the key is summed
        over), ``persons`` and ``counts`` (nullable ``Int64``, ``<NA>`` when suppressed,
        rounded separately when ``rounding`` is set) and ``statut``. Totals supplied in
        ``table`` are included. The persons of a computed total are the sum of its cells'
        persons (see the limits in the module documentation); the dominance share of a
        computed total is bounded above by the event-weighted mean of its cells' shares.
    manifest : SuppressionManifest
        Counts and list of the suppressed totals.
    """
    lattice, keys, counts, k, dominance, rounding = _run(
        table, keys=keys, persons=persons, counts=counts, k=k, dominance=dominance,
        top_share=top_share, rounding=rounding, margins=True, total_label=total_label,
    )
    is_margin = (lattice.codes == _TOTAL).any(axis=1)
    rows = np.flatnonzero(is_margin)
    collapsed = (lattice.codes[rows] == _TOTAL).sum(axis=1)
    order = sorted(range(len(rows)), key=lambda i: (-int(collapsed[i]),
                                                    tuple(lattice.codes[rows[i]].tolist())))
    rows = rows[order] if len(rows) else rows
    columns = {}
    for j, key in enumerate(keys):
        values = [
            total_label if code == _TOTAL else lattice.categories[j][code]
            for code in lattice.codes[rows, j].tolist()
        ]
        columns[key] = pd.Series(values, dtype=object)
    out = pd.DataFrame(columns)
    hidden = lattice.status[rows] != _PUBLISHED
    out[persons] = _masked_counts(lattice.persons[rows], hidden, rounding, k)
    for i, column in enumerate(counts):
        out[column] = _masked_counts(lattice.counts[rows, i], hidden, rounding, k)
    out["statut"] = np.array(STATUSES, dtype=object)[lattice.status[rows]]
    manifest = _manifest(
        lattice, rows, out[keys], keys=keys, k=k,
        dominance=dominance if top_share is not None else None, rounding=rounding,
        margins=True, margins_suppressed=int(hidden.sum()),
    )
    return out, manifest


# --------------------------------------------------------------------------- guard


def check_no_small_cells(frame: pd.DataFrame, columns: str | Sequence[str],
                         k: int = DEFAULT_K) -> None:
    """Refuse a table holding a published count between 1 and ``k - 1``.

    The last guard writers call before a file leaves the machine: missing values
    (suppressed cells) and zeros pass; any value strictly between 0 and ``k`` fails.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table about to be written.
    columns : str or sequence of str
        Count columns to check (persons, contacts...).
    k : int, default 11
        Threshold.

    Raises
    ------
    DisclosureError
        A :class:`~fragility.errors.PrivacyError` naming the column and the number of
        offending cells (never their keys).
    InputError
        A column is missing or not numeric.
    ConfigError
        Threshold below 5.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < MIN_K:
        raise ConfigError(f"seuil k = {k!r} refusé : le minimum est {MIN_K}.")
    names = _as_names(columns, "columns")
    _require_columns(frame, names, "la table à exporter")
    for name in names:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            raise InputError("colonne d'effectifs non numérique.", field=str(name))
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        small = int(((values > 0) & (values < k)).sum())
        if small:
            raise DisclosureError(
                f"export refusé : {small} cellule(s) de la colonne « {name} » comptent entre "
                f"1 et {k - 1} ; appliquez fragility.disclosure.protect() avant d'écrire."
            )


# --------------------------------------------------------------------------- regroup


def regroup(gdf, persons: str | pd.Series | Mapping, *, k: int = DEFAULT_K,
            id_col: str | None = None) -> pd.Series:
    """Merge small contiguous areas into zones of at least ``k`` persons.

    The alternative to suppression for maps: instead of blanking an IRIS, it is merged
    with neighbours until the zone reaches the threshold. Greedy and deterministic:

    1. every area starts as its own zone, named by its lowest area id;
    2. take the zone with the fewest persons among those counting 1 to ``k - 1``
       (ties: lowest id);
    3. merge it with the contiguous zone (sharing an edge, not just a corner) of
       smallest total, non-empty zones first (ties: lowest id); a zone with no
       contiguous neighbour (an island) merges with the zone whose centroid is nearest;
    4. repeat until every zone counts 0 or at least ``k`` persons, or a single zone is
       left (a :class:`FragilityWarning` then says that it stays below ``k``).

    Zones are contiguous (their union is one polygon) except where an island had to be
    attached by distance. Areas touching only by a corner are not neighbours.

    This is an equivalent of spopt's ``MaxPHeuristic`` with a population floor
    (``threshold = k``), not the same optimisation: max-p maximises the number of
    regions with a randomised search and local improvement, whereas this is a single
    deterministic greedy pass (no spopt dependency). A zone with no person is never
    merged on its own account (0 is publishable); it is absorbed only as the last-choice
    neighbour of a small zone. A zone's total is the sum of its areas' persons: exact
    when each person belongs to one area (home IRIS); otherwise recount the persons of
    each zone from the log and pass that table through :func:`protect`.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Areas (polygons), in a projected CRS for meaningful distances.
    persons : str, pandas.Series or mapping
        Column of ``gdf``, or values indexed by area id: distinct persons per area.
    k : int, default 11
        Threshold (floor 5, warning below 11).
    id_col : str, optional
        Column of area ids; the index of ``gdf`` when omitted.

    Returns
    -------
    pandas.Series
        Index: area ids (input order); values: zone labels ``"Z01"``, ``"Z02"``... in the
        order of each zone's lowest area id; name ``"zone"``.

    Raises
    ------
    InputError
        Duplicated or missing ids, missing or empty geometries, bad counts.
    """
    import shapely

    k = _check_k(k)
    if id_col is not None:
        _require_columns(gdf, [id_col], "la couche")
        ids = pd.Index(gdf[id_col], name=id_col)
    else:
        ids = pd.Index(gdf.index)
    if ids.hasnans:
        raise InputError("identifiant de zone manquant.", field=str(id_col or ids.name))
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise InputError(f"identifiants de zones en double : {', '.join(map(str, dup))}.")
    if isinstance(persons, str):
        _require_columns(gdf, [persons], "la couche")
        values = gdf[persons].set_axis(ids)
    else:
        values = pd.Series(persons)
        missing = ids.difference(values.index)
        if len(missing):
            raise InputError(
                f"effectif absent pour {len(missing)} zone(s), par exemple "
                f"{', '.join(map(str, missing[:3]))}."
            )
        values = values.reindex(ids)
    counts = _counts_of(values.rename("persons").to_frame(), "persons")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if any(g is None for g in geoms) or shapely.is_empty(geoms).any():
        raise InputError("géométrie manquante ou vide dans la couche.")
    n = len(ids)
    try:
        rank_order = sorted(range(n), key=lambda i: ids[i])
    except TypeError:
        rank_order = sorted(range(n), key=lambda i: str(ids[i]))
    rank = np.empty(n, dtype=np.int64)
    rank[rank_order] = np.arange(n)

    # Rook contiguity: the shared part has a length (an edge or an overlap, not a point).
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.length(shapely.intersection(geoms[left], geoms[right])) > 0
    # Zones are keyed by the rank of their lowest area.
    members = {int(rank[i]): [i] for i in range(n)}
    total = {int(rank[i]): int(counts[i]) for i in range(n)}
    neighbours: dict[int, set[int]] = {z: set() for z in members}
    for a, b in zip(left[shared].tolist(), right[shared].tolist(), strict=True):
        za, zb = int(rank[a]), int(rank[b])
        neighbours[za].add(zb)
        neighbours[zb].add(za)
    heap = [(t, z) for z, t in total.items() if 0 < t < k]
    heapq.heapify(heap)
    while heap and len(members) > 1:
        size, zone = heapq.heappop(heap)
        if zone not in members or total[zone] != size:
            continue  # stale entry
        if neighbours[zone]:
            target = min(neighbours[zone], key=lambda z: (total[z] == 0, total[z], z))
        else:
            here = shapely.union_all(geoms[members[zone]]).centroid
            target = min(
                (z for z in members if z != zone),
                key=lambda z: (here.distance(shapely.union_all(geoms[members[z]]).centroid), z),
            )
        keep_zone, gone = min(zone, target), max(zone, target)
        members[keep_zone] = members[keep_zone] + members.pop(gone)
        total[keep_zone] = total[keep_zone] + total.pop(gone)
        merged = (neighbours[keep_zone] | neighbours.pop(gone)) - {keep_zone, gone}
        neighbours[keep_zone] = merged
        for z in merged:
            neighbours[z].discard(gone)
            neighbours[z].add(keep_zone)
        if 0 < total[keep_zone] < k:
            heapq.heappush(heap, (total[keep_zone], keep_zone))
    small = [z for z, t in total.items() if 0 < t < k]
    if small:
        warnings.warn(
            f"regroupement : le total des zones ({sum(total.values())} personnes) reste sous "
            f"le seuil k = {k} ; masquez cette zone.",
            FragilityWarning,
            stacklevel=2,
        )
    width = max(2, len(str(len(members))))
    label = np.empty(n, dtype=object)
    for number, zone in enumerate(sorted(members), start=1):
        label[members[zone]] = f"Z{number:0{width}d}"
    return pd.Series(label, index=ids, name="zone")
