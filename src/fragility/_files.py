"""The two file helpers everyone needs: atomic writes and SHA-256 digests."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256_of(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal SHA-256 digest of a file.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    chunk_size : int, default 1 MiB
        Read size.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file beside ``path`` and move it into place on success.

    A reader never sees a half-written file: on any exception the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"w", "wb"}
        Text or binary mode.
    **kwargs
        Passed to :func:`open` (e.g. ``encoding="utf-8"``, ``newline=""``).

    Yields
    ------
    file object
        The open temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place on success.

    For writers that want a file name rather than a handle (GeoPackage, images).

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.

    Yields
    ------
    pathlib.Path
        Temporary path (same suffix as ``path``) to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(frame, handle, *, sep: str = ";", float_format: str = "%.10g") -> None:
    """Write ``frame`` (no index) as ``frame.to_csv(handle, index=False, ...)`` would.

    pandas formats a float cell through ``float_format`` with a costly path per cell,
    slow on a national IRIS table. Here every column is turned into strings
    once and written by the :mod:`csv` module pandas itself uses: same quoting, same
    bytes, several times faster. Columns of other dtypes (dates, categories…) make the
    whole frame go to pandas.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to write; the index is not written.
    handle : file object
        Text handle opened with ``newline=""``.
    sep : str, default ";"
        Field separator.
    float_format : str, default "%.10g"
        Format of float cells; missing cells are empty.
    """
    import csv

    import numpy as np
    import pandas as pd

    simple = {"float64", "int64", "int32", "bool", "object", "str", "Int64", "boolean"}
    if not all(str(dtype) in simple for dtype in frame.dtypes) or not frame.columns.is_unique:
        frame.to_csv(handle, index=False, sep=sep, float_format=float_format,
                     lineterminator="\n")
        return
    columns = []
    for name in frame.columns:
        series = frame[name]
        if str(series.dtype) == "float64":
            values = series.to_numpy()
            text = [float_format % v for v in values.tolist()]
            for i in np.flatnonzero(np.isnan(values)):
                text[i] = ""
        elif str(series.dtype) in ("int64", "int32", "bool"):
            text = [str(v) for v in series.tolist()]
        else:
            text = ["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                    for v in series.tolist()]
        columns.append(text)
    writer = csv.writer(handle, delimiter=sep, lineterminator="\n", quotechar='"',
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow([str(c) for c in frame.columns])
    writer.writerows(zip(*columns, strict=True))
