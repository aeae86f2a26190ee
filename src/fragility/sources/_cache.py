"""Download cache of the official files: local first, SHA-256 checked, never poisoned.

:func:`pooch.retrieve` writes to a temporary file and moves it into ``data_home()/sources``
only when its SHA-256 matches. Archives: :class:`pooch.Unzip` (zip), :class:`SevenZip` (7z).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import platformdirs
import pooch
import requests

from fragility._files import atomic_write, sha256_of
from fragility.errors import SourceError
from fragility.sources._model import Source

__all__ = ["SevenZip", "cache_path", "data_home", "fetch", "pinned_hash"]

_HINT = "ou passez le fichier déjà téléchargé avec --data-dir"


def data_home(path: str | os.PathLike | None = None) -> Path:
    """Return the fragility data folder, creating it if missing.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Explicit folder. Defaults to the ``FRAGILITY_DATA_DIR`` environment variable
        (read at each call), then to ``platformdirs.user_cache_dir("fragility")``.

    Returns
    -------
    pathlib.Path
        The folder (the download cache lives in its ``sources`` sub-folder).
    """
    if path is None:
        path = os.environ.get("FRAGILITY_DATA_DIR") or platformdirs.user_cache_dir("fragility")
    home = Path(path).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _sources_dir(home: str | os.PathLike | None) -> Path:
    return data_home(home) / "sources"


def cache_path(source: Source, data_home: str | os.PathLike | None = None) -> Path:
    """Return where ``source`` is (or would be) stored in the cache.

    Parameters
    ----------
    source : Source
        Registry entry.
    data_home : str or os.PathLike, optional
        Data folder (see :func:`data_home`).

    Returns
    -------
    pathlib.Path
        ``<data_home>/sources/<source.filename>``.
    """
    if Path(source.filename).name != source.filename or source.filename in ("", ".", ".."):
        raise SourceError(
            f"Nom de fichier invalide pour la source « {source.name} » : {source.filename!r}."
        )
    return _sources_dir(data_home) / source.filename


def _read_pins(home: str | os.PathLike | None) -> dict[str, str]:
    pins = _sources_dir(home) / "pins.json"
    try:
        return json.loads(pins.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SourceError(
            f"Registre d'empreintes illisible ({pins}) : {exc} ; corrigez-le ou supprimez-le."
        ) from exc


def pinned_hash(source: Source, data_home: str | os.PathLike | None = None) -> str | None:
    """Return the SHA-256 a download of ``source`` must have, if known.

    Parameters
    ----------
    source : Source
        Registry entry.
    data_home : str or os.PathLike, optional
        Data folder (see :func:`data_home`).

    Returns
    -------
    str or None
        The registry checksum, else the one recorded in ``sources/pins.json`` by a
        first download made with ``allow_unpinned=True``, else ``None``.
    """
    if source.sha256:
        return source.sha256.lower()
    return _read_pins(data_home).get(source.name)


def _matching(names: list[str], pattern: str | None) -> list[str]:
    """Keep the archive member names matching ``pattern`` (full name or base name)."""
    safe = [n for n in names if not n.startswith("/") and ".." not in PurePosixPath(n).parts]
    return [
        n
        for n in safe
        if pattern is None or any(fnmatch.fnmatchcase(x, pattern) for x in (n, n.split("/")[-1]))
    ]


class SevenZip:
    """pooch processor extracting members of a 7z archive with ``py7zr``.

    Files go to ``<archive>.extracted/`` beside the archive. They are extracted again
    only when the archive was (re-)downloaded or when a wanted member is missing.

    Parameters
    ----------
    members : str, optional
        ``fnmatch`` pattern, tried on the member's full name and on its base name
        (``"*.gpkg"``). ``None`` extracts every file.
    """

    def __init__(self, members: str | None = None):
        self.members = members

    def __call__(self, fname: str, action: str, pooch: object) -> list[str]:
        """Extract the wanted members of archive ``fname``; return their paths (pooch API)."""
        import py7zr

        target = Path(f"{fname}.extracted")
        try:
            with py7zr.SevenZipFile(fname, mode="r") as archive:
                files = [i.filename for i in archive.list() if not i.is_directory]
                wanted = _matching(files, self.members)
                stale = action in ("download", "update") or not target.is_dir()
                if wanted and (stale or not all((target / m).is_file() for m in wanted)):
                    tmp = Path(tempfile.mkdtemp(prefix=".7z-", dir=target.parent))
                    try:
                        archive.extract(path=tmp, targets=wanted)
                        shutil.rmtree(target, ignore_errors=True)
                        os.replace(tmp, target)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
        except (py7zr.exceptions.ArchiveError, OSError, EOFError) as exc:
            raise SourceError(f"Archive 7z illisible : {fname} ({exc}).") from exc
        return [str(target / m) for m in wanted]


class _UnzipMatching:
    """pooch processor: :class:`pooch.Unzip` on the zip members matching a pattern."""

    def __init__(self, members: str | None = None):
        self.members = members

    def __call__(self, fname: str, action: str, pooch_: object) -> list[str]:
        try:
            with zipfile.ZipFile(fname) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
            wanted = _matching(names, self.members)
            if not wanted:
                return []
            found = pooch.Unzip(members=wanted)(fname, action, pooch_)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"Archive zip illisible : {fname} ({exc}).") from exc
        root = Path(f"{fname}.unzip")
        return [p for p in found if Path(p).relative_to(root).as_posix() in wanted]


class _UntarMatching:
    """pooch processor: :class:`pooch.Untar` on the tar members matching a pattern (npm .tgz)."""

    def __init__(self, members: str | None = None):
        self.members = members

    def __call__(self, fname: str, action: str, pooch_: object) -> list[str]:
        import tarfile

        try:
            with tarfile.open(fname) as archive:
                names = [m.name for m in archive.getmembers() if m.isfile()]
            wanted = _matching(names, self.members)
            if not wanted:
                return []
            found = pooch.Untar(members=wanted)(fname, action, pooch_)
        except (tarfile.TarError, OSError) as exc:
            raise SourceError(f"Archive tar illisible : {fname} ({exc}).") from exc
        root = Path(f"{fname}.untar")
        return [p for p in found if Path(p).relative_to(root).as_posix() in wanted]


def _processor(path: Path, members: str):
    name = path.name.lower()
    if name.endswith(".7z"):
        return SevenZip(members)
    if name.endswith((".tgz", ".tar.gz", ".tar")):
        return _UntarMatching(members)
    return _UnzipMatching(members)


def fetch(
    source: Source,
    *,
    data_home: str | os.PathLike | None = None,
    progress: bool = False,
    allow_unpinned: bool = False,
) -> Path:
    """Return the local path of a source file, downloading it only if needed.

    Parameters
    ----------
    source : Source
        Registry entry.
    data_home : str or os.PathLike, optional
        Data folder (see :func:`data_home`); the cache is its ``sources`` sub-folder.
    progress : bool, default False
        Show a progress bar while downloading.
    allow_unpinned : bool, default False
        Accept a source whose checksum is not pinned yet: download it unchecked and
        record its SHA-256 in ``sources/pins.json``, enforced afterwards.

    Returns
    -------
    pathlib.Path
        The cached file or, when ``source.member`` is set, the single archive member
        matching it (extracted beside the archive).

    Raises
    ------
    SourceError
        Unpinned checksum refused, checksum mismatch, network failure, unreadable
        archive, or not exactly one archive member matching ``source.member``.
    """
    path = cache_path(source, data_home)
    expected = pinned_hash(source, data_home)
    if expected is None and not allow_unpinned:
        raise SourceError(
            f"La source « {source.name} » n'a pas encore d'empreinte SHA-256 épinglée : "
            "relancez avec allow_unpinned=True (option --accepter-non-verifie en ligne de "
            "commande) pour la télécharger sans vérification et enregistrer son empreinte, "
            f"{_HINT}."
        )
    processor = None
    if source.member is not None:  # 7z, tar/tgz, otherwise zip
        processor = _processor(path, source.member)
    logger, level = pooch.get_logger(), pooch.get_logger().level
    logger.setLevel(logging.WARNING)  # pooch logs in English; our messages are the French ones
    try:
        result = pooch.retrieve(
            url=source.url,
            known_hash=None if expected is None else f"sha256:{expected}",
            fname=source.filename,
            path=path.parent,
            progressbar=progress,
            processor=processor,
        )
    except requests.RequestException as exc:
        raise SourceError(
            f"Impossible de télécharger la source « {source.name} » depuis {source.url} vers "
            f"{path} ({type(exc).__name__} : {exc}) : machine hors ligne ? Réessayez avec un "
            f"accès réseau {_HINT}."
        ) from exc
    except ValueError as exc:
        if "does not match the known hash" not in str(exc):
            raise
        corrupted = path.exists()
        path.unlink(missing_ok=True)  # a corrupted copy must not stay in the cache
        got = re.search(r"but got ([0-9a-fA-F]+)", str(exc))
        origin = "attendue (registre)" if source.sha256 else "attendue (pins.json)"
        raise SourceError(
            f"Empreinte SHA-256 inattendue pour la source « {source.name} » téléchargée depuis "
            f"{source.url} : {origin} {expected}, obtenue {got.group(1) if got else 'inconnue'} ; "
            "le fichier téléchargé a été supprimé et le cache laissé intact"
            f"{' (ancienne copie corrompue retirée)' if corrupted else ''} ; vérifiez si "
            f"l'éditeur a republié le fichier {_HINT}."
        ) from exc
    finally:
        logger.setLevel(level)
    if expected is None:
        pins = _read_pins(data_home)
        pins[source.name] = sha256_of(path)
        with atomic_write(path.parent / "pins.json", encoding="utf-8") as handle:
            json.dump(pins, handle, indent=2, sort_keys=True)
    if processor is None:
        return Path(result)
    shapefiles = [r for r in result if r.lower().endswith(".shp")]
    if len(shapefiles) == 1:  # a shapefile comes with its sidecars (.dbf, .shx, .prj...)
        return Path(shapefiles[0])
    if len(result) != 1:
        raise SourceError(
            f"L'archive {path.name} de la source « {source.name} » contient {len(result)} "
            f"fichiers correspondant à « {source.member} » au lieu d'un seul."
        )
    return Path(result[0])
