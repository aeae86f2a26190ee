"""The log edge on Dask: import, location and aggregation over partitions.

Same contract and same result as the in-memory path (:func:`fragility.logs.importer.read_log`
and :func:`fragility.logs.aggregate.aggregate`), computed partition by partition so that
an export larger than one machine's memory, or a cluster, can be used. Nothing is
rewritten: each partition goes through the very functions of the in-memory path
(:func:`~fragility.logs.validate.validate_events`,
:func:`~fragility.logs.pseudonymise.pseudonymise`, :func:`~fragility.logs.pii.scan_frame`,
:func:`~fragility.logs.locate.locate`); only what is global is handled here.

What is global, and how it stays identical:

* **Exact duplicates** (same text in every column) may sit in two partitions. A first
  pass hashes every row (:func:`pandas.util.hash_pandas_object`), counts the hashes over
  the whole export and brings back only the rows whose hash occurs more than once; those
  few rows are compared exactly, with the same rule as the in-memory path, on the
  client. Each partition then rejects its extra copies as ``doublon exact de la ligne N``
  (N: the first copy, wherever it is) before validating the rest.
* **Points on IRIS contours** are joined with dask-geopandas (``sjoin``, predicate
  ``intersects``, contours broadcast to every partition); a point touching several IRIS
  goes to the lowest code, as in :mod:`fragility.logs.locate`, which then does the rest
  of the bookkeeping (commune of the IRIS, ``geo_level``, rejects) partition by partition.
* **The PII guard** scans each partition; the rows it flags are brought back and checked
  again by :func:`~fragility.logs.pii.assert_no_pii`, so the error is the same one, with
  the same counts, as in memory.
* **Distinct persons** are counted exactly: one row per (cell, person) pair, then the
  pairs are counted per cell (never an approximate ``nunique``).

A partitioned export is a directory written by :func:`to_partitioned_parquet`: Parquet
files of the export's text cells (columns renamed to field names, line number of the
source file kept in ``ligne``) and ``fragility_partitions.json`` (file name, format,
encoding, recognised, unknown and identifying headers). Direct-identifier columns (name,
phone, comments...) are **not** copied: a salted fingerprint of them, whose salt is
thrown away, is kept instead, only so that exact duplicates stay exact. The raw
``person_id`` and ``mediator_id`` stay (they are pseudonymised at import, with the key):
such a directory is Tier-1 data, as sensitive as the export itself.

The pseudonymisation key travels to the workers inside the task graph, wrapped so that
neither its value nor a hash of it appears in a task name, a ``repr`` or a log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import secrets
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import dask
import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from fragility._files import atomic_path, atomic_write, sha256_of
from fragility.conventions import CRS_WGS84, check_iris_frame, require_crs
from fragility.errors import FragilityError, InputError
from fragility.logs.aggregate import LEVELS
from fragility.logs.importer import REJECT_COLUMNS, LogImport, _reason_kinds
from fragility.logs.locate import locate
from fragility.logs.pii import assert_no_pii, scan_frame
from fragility.logs.pseudonymise import load_key, pseudonymise
from fragility.logs.read import RawExport, iter_export, read_export
from fragility.logs.schema import DIRECT_IDENTIFIERS, SCHEMA_VERSION
from fragility.logs.validate import _duplicates, validate_events

#: Description file of a partitioned export (written last: its presence means complete).
METADATA_FILE = "fragility_partitions.json"
#: Format tag written in :data:`METADATA_FILE`.
PARTITIONS_FORMAT = "fragility-partitions/1"
#: Column holding the salted fingerprint of the direct-identifier cells of a row.
FINGERPRINT_COLUMN = "_empreinte_identifiants"
#: Column holding the source line in the Parquet partitions.
LINE_COLUMN = "ligne"

_NO_STRINGS = {"dataframe.convert-string": False}  # keep object text, as in memory
_MIN_ROWS_PER_PARTITION = 10_000
_SAMPLE_ROWS = 50


# --------------------------------------------------------------------------- secrets


class _Secret:
    """The pseudonymisation key: masked in every text form, never hashed into a task name."""

    def __init__(self, value: bytes):
        self.value = value
        self._token = uuid.uuid4().hex

    def __repr__(self) -> str:
        return "<clé de pseudonymisation masquée>"

    __str__ = __repr__

    def __dask_tokenize__(self):
        return ("fragility-secret", self._token)


@dataclasses.dataclass(frozen=True, repr=False)
class _Context:
    """Everything a partition needs, shipped once to the workers (one named graph key)."""

    raw: RawExport  # the export's description; ``frame`` is an empty template
    secret: _Secret
    communes: frozenset | None
    iris: frozenset
    qpv: frozenset | None
    today: dt.date
    duplicates: Mapping[int, int]  # line of an extra copy -> line of its first copy
    events_meta: pd.DataFrame | None = None
    rejects_meta: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return f"<contexte d'import {self.raw.path.name}>"

    def __dask_tokenize__(self):
        return ("fragility-context", id(self))


def _named(value, prefix: str):
    """One graph key holding ``value`` as is: not traversed, not hashed, not copied."""
    return dask.delayed(value, name=f"{prefix}-{uuid.uuid4().hex}", traverse=False)


# --------------------------------------------------------------------------- partitions


def _fingerprint_keys() -> tuple[str, str]:
    """Two random 16-character SipHash keys, drawn once per export and never stored."""
    return secrets.token_urlsafe(12), secrets.token_urlsafe(12)


def _fingerprint_identifiers(frame: pd.DataFrame,
                             keys: tuple[str, str] | None = None) -> pd.DataFrame:
    """Replace the direct-identifier columns by one salted fingerprint of their cells.

    Two keyed 64-bit SipHash digests (:func:`pandas.util.hash_pandas_object`) with random
    keys that are never stored (:func:`_fingerprint_keys`; the same for every piece of
    one export): equal cells give equal fingerprints within this export, and nobody can
    test a guessed name or phone number against them.
    """
    columns = [c for c in frame.columns if c in DIRECT_IDENTIFIERS]
    if not columns:
        return frame
    keys = keys or _fingerprint_keys()
    cells = frame[columns].astype(object)
    digests = [pd.util.hash_pandas_object(cells, index=False, hash_key=key)
               .to_numpy(dtype=np.uint64) for key in keys]
    text = np.stack(digests, axis=1).astype(">u8").tobytes().hex()
    fingerprint = np.array([text[i:i + 32] for i in range(0, len(text), 32)], dtype=object)
    out = frame.drop(columns=columns)
    out[FINGERPRINT_COLUMN] = pd.Series(fingerprint, index=frame.index, dtype=object)
    return out


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The cells as Python strings in object columns, as :func:`read_export` gives them."""
    if all(pd.api.types.is_object_dtype(dtype) for dtype in frame.dtypes):
        return frame
    return frame.astype(object)


def _template(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns},
                        index=pd.Index([], dtype=np.int64, name=LINE_COLUMN))


def _prepare_directory(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError("ce chemin existe et n'est pas un dossier.", path=out)
    if not out.exists():
        out.mkdir(parents=True)
        return
    entries = list(out.iterdir())
    if not entries:
        return
    if not (out / METADATA_FILE).is_file():
        raise InputError("le dossier existe et n'est pas vide : choisissez un dossier neuf pour "
                         "les partitions.", path=out)
    # A previous conversion: remove it (description first, so that it is never taken
    # for complete while its files are going).
    (out / METADATA_FILE).unlink()
    for entry in out.glob("part-*.parquet"):
        entry.unlink()


def to_partitioned_parquet(path: str | os.PathLike, out_dir: str | os.PathLike, *,
                           rows_per_partition: int = 1_000_000,
                           mapping: str | os.PathLike | None = None) -> Path:
    """Convert a raw export into a directory of Parquet partitions for the Dask engine.

    The export is read piece by piece with :func:`fragility.logs.read.iter_export`
    (encoding, separator and headers recognised as :func:`~fragility.logs.read.read_export`
    does, mapping applied; a CSV is never held whole, so a ten-million-row export
    converts in the memory of one piece), and written as ``part-00000.parquet``,
    ``part-00001.parquet``... of at most ``rows_per_partition`` rows each: every cell
    as the text that was written, columns named after the fields, plus ``ligne``, the
    row's line in the source file (reject messages keep naming it).
    Direct-identifier columns are replaced by a salted fingerprint (see the module
    notes). ``fragility_partitions.json``, written last, describes the export.

    Parameters
    ----------
    path : str or os.PathLike
        The raw export (CSV, XLSX or Parquet file).
    out_dir : str or os.PathLike
        Directory to create. An existing directory must be empty or hold a previous
        conversion, which is replaced.
    rows_per_partition : int, default 1_000_000
        Rows per Parquet file.
    mapping : str or os.PathLike, optional
        YAML/TOML mapping of unusual headers and values, applied here once for all.

    Returns
    -------
    pathlib.Path
        The directory, to pass to :func:`read_log_dask` (or ``--engine dask``).

    Raises
    ------
    InputError
        Unreadable export, bad mapping, a non-empty directory that is not a previous
        conversion, or a partition size below 1.

    Examples
    --------
    >>> to_partitioned_parquet("export.csv", "export_partitions",
    ...                        rows_per_partition=250_000)  # doctest: +SKIP
    PosixPath('export_partitions')
    """
    if isinstance(rows_per_partition, bool) or not isinstance(rows_per_partition, int) \
            or rows_per_partition < 1:
        raise InputError(f"nombre de lignes par partition invalide : {rows_per_partition!r} "
                         "(entier positif attendu).", field="rows_per_partition")
    source = Path(path)
    out = Path(out_dir)
    pieces = iter_export(source, rows=rows_per_partition, mapping=mapping)
    raw = next(pieces)  # the file-level errors come before the directory is touched
    _prepare_directory(out)
    keys = _fingerprint_keys()
    names, n_rows, columns = [], 0, None
    for number, piece in enumerate(itertools.chain([raw], pieces)):
        raw = piece
        frame = _fingerprint_identifiers(piece.frame, keys)
        columns = columns or [str(c) for c in frame.columns]
        name = f"part-{number:05d}.parquet"
        with atomic_path(out / name) as tmp:
            frame.reset_index().to_parquet(tmp, index=False)
        names.append(name)
        n_rows += len(frame)
    description = {
        "format_fragility": PARTITIONS_FORMAT,
        "fichier": source.name,
        "sha256": sha256_of(source),
        "format": raw.file_format,
        "encodage": raw.encoding,
        "separateur": raw.separator,
        "colonnes_reconnues": dict(raw.columns),
        "colonnes_inconnues": list(raw.unknown_columns),
        "colonnes_identifiantes": dict(raw.identifier_columns),
        "valeurs": raw.value_synonyms,
        "colonnes": columns,
        "lignes": n_rows,
        "lignes_par_partition": rows_per_partition,
        "partitions": names,
    }
    with atomic_write(out / METADATA_FILE, "w", encoding="utf-8") as handle:
        json.dump(description, handle, ensure_ascii=False, indent=2)
    return out


def _read_partition(path: str) -> pd.DataFrame:
    frame = pd.read_parquet(path).set_index(LINE_COLUMN)
    frame.index = frame.index.astype(np.int64)
    return _as_text(frame)


def _open_partitions(directory: Path) -> tuple[RawExport, list[str]]:
    """Description of a partitioned export and its files (checked)."""
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise InputError(f"dossier sans {METADATA_FILE} : ce n'est pas un export partitionné "
                         "par fragility (ou la conversion n'est pas terminée) ; convertissez "
                         "l'export avec to_partitioned_parquet.", path=directory)
    try:
        description = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{METADATA_FILE} illisible ({type(exc).__name__}).",
                         path=directory) from None
    if not isinstance(description, dict) or \
            description.get("format_fragility") != PARTITIONS_FORMAT:
        raise InputError(f"{METADATA_FILE} : format inconnu (attendu : {PARTITIONS_FORMAT}).",
                         path=directory)
    files = [directory / name for name in description["partitions"]]
    missing = [f.name for f in files if not f.is_file()]
    if missing or not files:
        raise InputError("partitions manquantes : " + (", ".join(missing[:5]) or "aucune") +
                         " ; refaites la conversion.", path=directory)
    raw = RawExport(
        frame=_template(description["colonnes"]),
        path=Path(description["fichier"]),
        file_format=description["format"],
        encoding=description["encodage"],
        separator=description["separateur"],
        columns=dict(description["colonnes_reconnues"]),
        unknown_columns=list(description["colonnes_inconnues"]),
        identifier_columns=dict(description["colonnes_identifiantes"]),
        value_synonyms={k: dict(v) for k, v in description["valeurs"].items()},
        n_rows=int(description["lignes"]),
    )
    return raw, [os.fspath(f) for f in files]


def _first_rows(file: str, n: int) -> pd.DataFrame:
    """The first ``n`` rows of a Parquet partition, without reading the whole file."""
    batch = next(pq.ParquetFile(file).iter_batches(batch_size=n), None)
    if batch is None:
        return _read_partition(file).iloc[:0]
    frame = batch.to_pandas().set_index(LINE_COLUMN)
    frame.index = frame.index.astype(np.int64)
    return _as_text(frame)


# --------------------------------------------------------------------------- per partition


def _row_hashes(part: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(_as_text(part), index=False)


def _rows_with_hash(part: pd.DataFrame, hashes: pd.Series, wanted: np.ndarray) -> pd.DataFrame:
    return _as_text(part)[np.isin(hashes.to_numpy(), wanted)]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate, ignoring empty pieces (unless all are empty) so dtypes stay those of data."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0]
    return full[0] if len(full) == 1 else pd.concat(full)


def _import_partition(part: pd.DataFrame, ctx: _Context):
    """Validate, pseudonymise and scan one partition (duplicates decided globally)."""
    part = _as_text(part)
    lines = part.index.to_numpy(dtype=np.int64)
    copies = np.isin(lines, np.fromiter(ctx.duplicates, dtype=np.int64, count=len(ctx.duplicates)))
    copy_lines = lines[copies]
    duplicate_rejects = pd.DataFrame({
        "ligne": copy_lines,
        "champ": np.full(len(copy_lines), "ligne entière", dtype=object),
        "motif": np.array([f"doublon exact de la ligne {ctx.duplicates[int(line)]}"
                           for line in copy_lines], dtype=object),
        "valeur": np.full(len(copy_lines), "", dtype=object),
    }, columns=REJECT_COLUMNS)
    rest = part[~copies]
    if len(rest) == 0 and ctx.events_meta is not None:
        return (ctx.events_meta, _concat([ctx.rejects_meta, duplicate_rejects]),
                ctx.events_meta, len(part), len(copy_lines))
    raw = dataclasses.replace(ctx.raw, frame=rest, n_rows=len(rest))
    validation = validate_events(raw, communes=ctx.communes, iris=ctx.iris, qpv=ctx.qpv,
                                 today=ctx.today)
    events = pseudonymise(validation.accepted, ctx.secret.value)
    found = scan_frame(events)
    flagged = events.iloc[:0]
    if len(found):
        flagged = events[events.index.isin(found["ligne"].dropna().tolist())]
    rejects = _concat([validation.rejects[REJECT_COLUMNS], duplicate_rejects])
    rejects = rejects.sort_values("ligne", kind="stable")
    return (events, rejects, flagged, len(part),
            int(validation.duplicates) + len(copy_lines))


def _resolve_points(joined: pd.DataFrame) -> pd.DataFrame:
    """Per point: the lowest IRIS code it touches and how many IRIS it touches."""
    # Codes as their rank in sorted order, so that the minimum is an integer one.
    ranks, codes = pd.factorize(np.asarray(joined["_iris"], dtype=object), sort=True)
    rows = pd.Series(ranks, index=np.asarray(joined.index, dtype=np.int64))
    grouped = rows.groupby(level=0, sort=True)
    lowest = grouped.min()
    out = pd.DataFrame({"_iris": pd.Series(np.asarray(codes, dtype=object)[lowest.to_numpy()],
                                           index=lowest.index, dtype=object),
                        "_n": grouped.size()})
    out.index = out.index.astype(np.int64).rename(LINE_COLUMN)
    return out


def _points(xy: pd.DataFrame) -> gpd.GeoSeries:
    """WGS84 points of one partition (a plain function: cheap for Dask to name)."""
    return gpd.GeoSeries(gpd.points_from_xy(xy["longitude"], xy["latitude"]), index=xy.index,
                         crs=CRS_WGS84)


_RESOLVED_META = pd.DataFrame({"_iris": pd.Series(dtype=object), "_n": pd.Series(dtype=np.int64)},
                              index=pd.Index([], dtype=np.int64, name=LINE_COLUMN))


def _finish_location(events: pd.DataFrame, resolved: pd.DataFrame, iris: gpd.GeoDataFrame):
    """Put the joined points on their IRIS, then let :func:`locate` do the bookkeeping.

    ``locate`` sees the joined rows as already located; the points that touched no IRIS
    keep their coordinates, and ``locate`` rejects them with its own message.
    """
    if len(resolved):
        events = events.copy()
        events.loc[resolved.index, "geo_iris"] = resolved["_iris"]
    located = locate(events, iris)
    from_points = len(resolved) + located.from_coordinates
    boundary = int((resolved["_n"] > 1).sum()) + located.on_boundary
    return located.events, located.rejects, from_points, boundary


def _events_directory(path: str | os.PathLike) -> Path:
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("dossier des événements : choisissez un dossier neuf ou vide.",
                         path=out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_events(finished: tuple, path: str) -> tuple:
    """Write one partition's accepted events; send back only their count and levels."""
    events, rejects, from_points, boundary = finished
    if not events.index.is_monotonic_increasing:
        events = events.sort_index(kind="stable")
    with atomic_path(Path(path)) as tmp:
        events.to_parquet(tmp)
    return ((len(events), events["geo_level"].value_counts()), rejects, from_points, boundary)


# --------------------------------------------------------------------------- scheduling


def _current_client(client):
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _cores(client) -> int:
    client = _current_client(client)
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # a client being closed: fall back on the local machine
            pass
    return os.cpu_count() or 1


def _default_npartitions(n_rows: int, client=None) -> int:
    """At least one partition per core for large data; never below 10 000 rows each."""
    most = max(1, math.ceil(n_rows / _MIN_ROWS_PER_PARTITION))
    wanted = max(_cores(client), math.ceil(n_rows / 1_000_000))
    return max(1, min(most, wanted))


def _compute(*collections, client=None):
    return dask.compute(*collections, scheduler=client) if client is not None \
        else dask.compute(*collections)


def _check_npartitions(npartitions) -> None:
    if npartitions is not None and (isinstance(npartitions, bool)
                                    or not isinstance(npartitions, int) or npartitions < 1):
        raise InputError(f"nombre de partitions invalide : {npartitions!r} (entier positif "
                         "attendu).", field="npartitions")


# --------------------------------------------------------------------------- import


def read_log_dask(
    path: str | os.PathLike,
    iris: gpd.GeoDataFrame,
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike | None = None,
    mapping: str | os.PathLike | None = None,
    qpv: set[str] | None = None,
    today=None,
    client=None,
    npartitions: int | None = None,
    events_out: str | os.PathLike | None = None,
) -> LogImport:
    """Import a mediation export with Dask: same contract and result as ``read_log``.

    Validation, pseudonymisation and the PII guard run partition by partition (the
    functions of the in-memory path, unchanged); exact duplicates are found over the
    whole export; points are located with a dask-geopandas spatial join. The result is
    the one :func:`fragility.logs.importer.read_log` gives: the same accepted events
    row for row (the random ``event_id`` aside), the same rejects (line, field, reason),
    the same report, and ``read == accepted + rejected`` checked.

    Parameters
    ----------
    path : str or os.PathLike
        A raw export (CSV, XLSX or Parquet file, read on this machine then split), or a
        directory written by :func:`to_partitioned_parquet` (read by the workers: on a
        cluster, it must be reachable at the same path from every worker).
    iris : geopandas.GeoDataFrame
        IRIS contours of the territory (``IrisTable.gdf``).
    key, key_file : optional
        Pseudonymisation key, or a file holding it; otherwise ``FRAGILITY_PSEUDO_KEY``.
        Read here, before anything else; without a key the import is refused.
    mapping : str or os.PathLike, optional
        YAML/TOML header and value mapping, for a raw export only (a partitioned
        directory had it applied at conversion).
    qpv : set of str, optional
        QPV codes of the territory.
    today : datetime.date, optional
        Reference date for "future date" checks (default: today, fixed once for all
        partitions).
    client : distributed.Client, optional
        Cluster to compute on. Default: the active ``distributed`` client if there is
        one, otherwise Dask's local threaded scheduler.
    npartitions : int, optional
        Partitions to split the data into. Default: one per Parquet file for a
        directory; for a raw export, one per core (at least 10 000 rows each, at most
        1 000 000).
    events_out : str or os.PathLike, optional
        Directory where the workers write the accepted events, one Parquet file per
        partition (``part-00000.parquet``...; the directory must be new or empty), instead
        of sending them back: for exports larger than this machine's memory. The events
        are then a lazy :class:`dask.dataframe.DataFrame` read from there (for
        :func:`aggregate_dask`); rejects and report come back as usual.

    Returns
    -------
    LogImport
        Pandas frames, as :func:`~fragility.logs.importer.read_log` returns (with
        ``events_out``, ``events`` is the lazy Dask frame of the written events).

    Raises
    ------
    PseudonymisationKeyError
        No key.
    PrivacyError
        A direct identifier survived in a kept column (fails closed).
    InputError
        Unreadable export or directory, a mapping given with a directory, a bad
        ``npartitions``.
    """
    secret = load_key(key, key_file=key_file)
    _check_npartitions(npartitions)
    source = Path(path)
    client = _current_client(client)
    with dask.config.set(_NO_STRINGS):
        if source.is_dir():
            if mapping is not None:
                raise InputError("la correspondance s'applique à la conversion "
                                 "(to_partitioned_parquet) : ne la repassez pas pour un dossier "
                                 "de partitions.", path=source)
            raw, files = _open_partitions(source)
            sample = _first_rows(files[0], _SAMPLE_ROWS)
            parts = dd.from_map(_read_partition, files, meta=raw.frame, enforce_metadata=False)
            if npartitions is not None and npartitions != parts.npartitions:
                parts = parts.repartition(npartitions=npartitions)
        else:
            read = read_export(source, mapping=mapping)
            frame = _fingerprint_identifiers(read.frame)
            raw = dataclasses.replace(read, frame=frame.iloc[:0])
            sample = frame.iloc[:_SAMPLE_ROWS]
            parts = dd.from_pandas(frame, npartitions=npartitions
                                   or _default_npartitions(len(frame), client), sort=True)
        name = raw.path.name
        ctx = _Context(
            raw=raw, secret=_Secret(secret),
            communes=frozenset(iris["commune"]) if "commune" in iris else None,
            iris=frozenset(iris.index), qpv=None if qpv is None else frozenset(qpv),
            today=_today(today), duplicates={})
        # Meta of the outputs, from a few rows (this also raises the file-level errors,
        # such as a missing required column, before any work is sent out).
        events_meta, rejects_meta, *_ = _import_partition(sample, ctx)
        ctx = dataclasses.replace(ctx, events_meta=events_meta.iloc[:0],
                                  rejects_meta=rejects_meta.iloc[:0],
                                  duplicates=_global_duplicates(parts, client))
        check_iris_frame(iris, what="les contours IRIS")
        require_crs(iris, what="les contours IRIS")

        ctx_key = _named(ctx, "contexte-import")
        iris_key = _named(iris, "contours-iris")
        outputs = [tuple(dask.delayed(_import_partition, nout=5, pure=False)(part, ctx_key))
                   for part in parts.to_delayed()]
        events = dd.from_delayed([o[0] for o in outputs], meta=ctx.events_meta,
                                 verify_meta=True)
        resolved = _join_points(events, iris).to_delayed()
        if len(resolved) != len(outputs):  # the join keeps one output partition per input
            raise FragilityError("jointure spatiale Dask : partitions désalignées. "
                                 "Signalez-le aux développeurs.")
        finished = [dask.delayed(_finish_location, nout=4, pure=False)(o[0], r, iris_key)
                    for o, r in zip(outputs, resolved, strict=True)]
        if events_out is not None:
            target = _events_directory(events_out)
            finished = [dask.delayed(_write_events, pure=False)(f, os.fspath(
                target / f"part-{number:05d}.parquet")) for number, f in enumerate(finished)]
        located, imported = _compute(finished, [o[1:] for o in outputs], client=client)

    # imported: (rejects, flagged rows, rows read, duplicates) per partition;
    # located: (events, rejects, located by coordinates, on a boundary) per partition.
    flagged = _concat([part[1] for part in imported])
    assert_no_pii(flagged, what=f"journal importé depuis {name}")
    n_read = sum(part[2] for part in imported)
    n_duplicates = sum(part[3] for part in imported)
    if events_out is None:
        events = _concat([part[0] for part in located])
        if not events.index.is_monotonic_increasing:
            events = events.sort_index(kind="stable")
        n_events = len(events)
        levels = events["geo_level"].value_counts()
    else:  # each worker wrote its events and sent back their count and levels
        n_events = sum(part[0][0] for part in located)
        levels = pd.concat([part[0][1] for part in located]).groupby(level=0).sum()
        events = dd.read_parquet(os.fspath(events_out))
    rejects = pd.concat(
        [_concat([part[0] for part in imported])[REJECT_COLUMNS],
         _concat([part[1] for part in located])[REJECT_COLUMNS]], ignore_index=True,
    ).sort_values("ligne", kind="stable")
    n_rejected = rejects["ligne"].nunique()
    if n_read != n_events + n_rejected:
        raise FragilityError(
            f"comptage incohérent : {n_read} lignes lues, {n_events} "
            f"acceptées, {n_rejected} rejetées. Signalez ce fichier aux développeurs."
        )
    report = {
        "schema": SCHEMA_VERSION,
        "fichier": name,
        "format": raw.file_format,
        "encodage": raw.encoding,
        "separateur": raw.separator,
        "lues": int(n_read),
        "acceptees": int(n_events),
        "rejetees": int(n_rejected),
        "doublons": int(n_duplicates),
        "colonnes_reconnues": dict(raw.columns),
        "colonnes_inconnues": list(raw.unknown_columns),
        "colonnes_identifiantes_supprimees": sorted(set(raw.identifier_columns)),
        "localisees_par_coordonnees": int(sum(part[2] for part in located)),
        "points_sur_une_limite": int(sum(part[3] for part in located)),
        "niveaux": {
            str(k): int(v) for k, v in levels.sort_index().items()
        },
        "motifs": {str(k): int(v) for k, v in _reason_kinds(rejects).value_counts().items()},
    }
    return LogImport(events=events, rejects=rejects.reset_index(drop=True), report=report)


def _today(today) -> dt.date:
    if today is None:
        return dt.date.today()
    return today.date() if isinstance(today, dt.datetime) else today


def _global_duplicates(parts: dd.DataFrame, client) -> dict[int, int]:
    """Line of every extra copy of an exact duplicate -> line of its first copy.

    Only the rows whose hash occurs more than once come back to this machine; they are
    compared exactly (a hash collision cannot make two different rows duplicates).
    """
    hashes = parts.map_partitions(_row_hashes, meta=pd.Series(dtype=np.uint64))
    (hashes,) = dask.persist(hashes, scheduler=client) if client is not None \
        else dask.persist(hashes)  # 8 bytes a row, hashed once, used twice
    # A tree reduction for up to 15 partitions, a hash shuffle beyond (Dask's own rule
    # for groupbys): only the repeated hashes come back here, whatever the size.
    counts = hashes.value_counts(split_out=math.ceil(parts.npartitions / 15))
    (repeated,) = _compute(counts[counts > 1].index, client=client)
    if len(repeated) == 0:
        return {}
    wanted = np.asarray(repeated, dtype=np.uint64)
    candidates = parts.map_partitions(_rows_with_hash, hashes, wanted, meta=parts._meta,
                                      align_dataframes=False)
    (rows,) = _compute(candidates, client=client)
    rows = _as_text(rows).sort_index(kind="stable")
    copies, firsts = _duplicates(rows)
    lines = rows.index.to_numpy(dtype=np.int64)
    return {int(c): int(f) for c, f in zip(lines[copies], lines[firsts], strict=True)}


def _join_points(events: dd.DataFrame, iris: gpd.GeoDataFrame) -> dd.DataFrame:
    """Lowest IRIS code touched by each event located by its coordinates (dask-geopandas)."""
    has_xy = (events["latitude"].notnull() & events["longitude"].notnull()
              & events["geo_iris"].isnull())
    xy = events[has_xy][["longitude", "latitude"]]
    # (dask_geopandas.points_from_xy closes over the whole collection, which Dask then
    # pickles to name the task: with in-memory data that costs seconds.)
    geometry = xy.map_partitions(_points, meta=gpd.GeoSeries(
        [], crs=CRS_WGS84, index=pd.Index([], dtype=np.int64, name=LINE_COLUMN)))
    points = dask_geopandas.from_dask_dataframe(xy, geometry=geometry)
    points = points.set_crs(CRS_WGS84).to_crs(iris.crs)  # (the meta loses the CRS)
    contours = gpd.GeoDataFrame(
        {"_iris": pd.Series(np.asarray(iris.index, dtype=object), dtype=object)},
        geometry=np.asarray(iris.geometry.values), crs=iris.crs)
    joined = dask_geopandas.sjoin(points[["geometry"]], contours, how="inner",
                                  predicate="intersects")
    return joined.map_partitions(_resolve_points, meta=_RESOLVED_META)


# --------------------------------------------------------------------------- aggregate


def aggregate_dask(
    events,
    *,
    level: str = "iris",
    by: Sequence[str] = (),
    period: tuple[str, str] | None = None,
    epci_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Aggregate events with Dask: same table as :func:`fragility.logs.aggregate.aggregate`.

    Contacts are counted per cell; distinct persons exactly, from one row per (cell,
    person) pair, which also gives ``top_share`` (the share of the cell's events due to
    its most frequent person). Only the cells come back to this machine.

    Parameters
    ----------
    events : dask.dataframe.DataFrame or pandas.DataFrame
        Located, pseudonymised events (``geo_*``, ``period_month``, ``person_key``...),
        e.g. ``dask.dataframe.read_parquet("evenements.parquet")``. A pandas frame is
        split into partitions first.
    level : {"iris", "commune", "qpv", "epci"}
        Area level (at ``iris`` level only events located at IRIS level count).
    by : sequence of str
        Other fields to cross with.
    period : tuple of str, optional
        Inclusive range of months ``("2024-01", "2024-12")``.
    epci_of : mapping, optional
        Commune -> EPCI, required for ``level="epci"``.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the key columns, ``contacts``, ``persons`` and ``top_share``;
        ``attrs`` holds ``hors_niveau`` and ``hors_periode``.

    Raises
    ------
    InputError
        Unknown level or field, EPCI level without ``epci_of``.
    """
    if level not in LEVELS:
        raise InputError(f"niveau inconnu : « {level} » (niveaux : {', '.join(LEVELS)}).")
    with dask.config.set(_NO_STRINGS):
        frame = events
        if not isinstance(frame, dd.DataFrame):
            frame = dd.from_pandas(frame, npartitions=_default_npartitions(len(frame)),
                                   sort=False)
        outside_period = 0
        if period is not None:
            start, end = period
            keep = frame["period_month"].between(start, end)
            outside_period = (~keep).sum()
            frame = frame[keep]
        if level == "epci":
            if epci_of is None:
                raise InputError("le niveau EPCI demande la correspondance commune → EPCI.")
            frame = frame.assign(epci=frame["geo_commune"].map(dict(epci_of),
                                                               meta=("epci", object)))
        column = LEVELS[level]
        if level == "iris" and "geo_level" in frame.columns:
            located = frame["geo_level"] == "iris"
        else:
            located = frame[column].notnull()
        outside_level = (~located).sum()
        frame = frame[located]
        keys = [column, *by]
        for key in by:
            if key not in frame.columns:
                raise InputError(f"champ inconnu pour l'agrégation : « {key} ».")
        contacts = frame.groupby(keys, dropna=False).size()
        pairs = None
        if "person_key" in frame.columns:
            # Dask's groupby-nunique drops missing keys even with dropna=False: count the
            # (cell, person) pairs instead, which is exact and also gives the top person.
            with_person = frame[frame["person_key"].notnull()]
            pairs = with_person.groupby([*keys, "person_key"], dropna=False).size()
            pairs = pairs.to_frame("n").reset_index()
            pairs = pairs.groupby(keys, dropna=False)["n"].agg(["count", "max"])
        contacts, pairs, outside_level, outside_period = _compute(
            contacts, pairs, outside_level, outside_period)
    table = contacts.sort_index().rename("contacts").to_frame()
    if pairs is not None:
        table["persons"] = pairs["count"].reindex(table.index).fillna(0).astype(np.int64)
        top = pairs["max"].reindex(table.index)
        # As in memory: the top person is sought among rows whose keys are all present.
        top[_missing_key(table.index)] = np.nan
        table["top_share"] = (top.fillna(0) / table["contacts"]).round(4)
    else:
        table["persons"] = pd.NA
        table["top_share"] = pd.NA
    table = table.reset_index().rename(columns={column: level})
    for col in ("contacts", "persons"):
        table[col] = table[col].astype("Int64")
    table.attrs["hors_niveau"] = int(outside_level)
    table.attrs["hors_periode"] = int(outside_period)
    return table


def _missing_key(index: pd.Index) -> np.ndarray:
    """Cells with a missing value in one of their keys."""
    if isinstance(index, pd.MultiIndex):
        return index.to_frame(index=False).isna().any(axis=1).to_numpy()
    return np.asarray(index.isna())


__all__ = ["METADATA_FILE", "PARTITIONS_FORMAT", "aggregate_dask", "read_log_dask",
           "to_partitioned_parquet"]
