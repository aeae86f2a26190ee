"""Official open data: registry, verified downloads, and parsers of the official layouts.

The registry (:data:`REGISTRY`) lists every dataset fragility knows, each pinned to a
vintage with its publisher, licence, URL and checksum. Files can come from three places,
in this order: an explicit folder (``--data-dir``: the analyst's own copies, recognised
by their content), the download cache (``FRAGILITY_DATA_DIR``), or a verified download.

Examples
--------
>>> from fragility import sources
>>> sources.list_sources()[["publisher", "vintage"]].head()  # doctest: +SKIP
>>> catalogue = sources.discover("../shared/data/real")  # doctest: +SKIP
>>> catalogue.read("census_population").frame.head()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fragility.errors import UnknownCodeError
from fragility.sources import anct, cog, ign, insee
from fragility.sources._cache import data_home
from fragility.sources._cache import fetch as _fetch
from fragility.sources._discover import Catalogue, identify
from fragility.sources._discover import discover as _discover
from fragility.sources._model import Layer, LocalFile, Parsed, Source

#: Every official dataset fragility knows, by name.
REGISTRY: dict[str, Source] = {
    s.name: s for s in (*insee.SOURCES, *ign.SOURCES, *anct.SOURCES, *cog.SOURCES)
}
#: Every layer the IRIS table can use, by name.
LAYERS: dict[str, Layer] = {
    layer.name: layer for layer in (*ign.LAYERS, *insee.LAYERS, *anct.LAYERS, *cog.LAYERS)
}

__all__ = [
    "LAYERS",
    "REGISTRY",
    "Catalogue",
    "Layer",
    "LocalFile",
    "Parsed",
    "Source",
    "data_home",
    "describe",
    "discover",
    "fetch",
    "identify",
    "list_sources",
]


def _source(name: str) -> Source:
    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.4)
        hint = f" Vouliez-vous dire : {', '.join(close)} ?" if close else ""
        raise UnknownCodeError(f"source inconnue : « {name} ».{hint}")
    return REGISTRY[name]


def list_sources() -> pd.DataFrame:
    """Return the registry as a table (one row per official dataset).

    Returns
    -------
    pandas.DataFrame
        Indexed by source name, with layer, title, publisher, vintage, licence, URL,
        checksum and geography.
    """
    rows = [
        {
            "name": s.name,
            "layer": s.layer,
            "title_fr": s.title_fr,
            "publisher": s.publisher,
            "vintage": s.vintage,
            "licence": s.licence,
            "url": s.url,
            "sha256": s.sha256,
            "geography": s.geography,
        }
        for s in REGISTRY.values()
    ]
    return pd.DataFrame(rows).set_index("name")


def describe(name: str) -> str:
    """Return a French description of one registry source (for docs and the CLI)."""
    s = _source(name)
    lines = [
        f"{s.title_fr}",
        f"  éditeur : {s.publisher} ; millésime : {s.vintage} ; géographie : {s.geography or '—'}",
        f"  licence : {s.licence}",
        f"  adresse : {s.url or '(à fournir via --data-dir)'}",
        "  empreinte SHA-256 : "
        + (s.sha256 or "non épinglée (enregistrée au premier téléchargement)"),
    ]
    if s.notes_fr:
        lines.append(f"  notes : {s.notes_fr}")
    return "\n".join(lines)


def fetch(name: str, *, progress: bool = False, allow_unpinned: bool = False) -> Path:
    """Return the local path of a registry file, downloading and verifying it if needed.

    Parameters
    ----------
    name : str
        Registry name (see :func:`list_sources`).
    progress : bool, default False
        Show a progress bar while downloading.
    allow_unpinned : bool, default False
        Accept a source whose checksum is not pinned yet (recorded on first download).

    Returns
    -------
    pathlib.Path
        Path in the cache (``FRAGILITY_DATA_DIR``).
    """
    return _fetch(_source(name), progress=progress, allow_unpinned=allow_unpinned)


def discover(root: str | os.PathLike) -> Catalogue:
    """Recognise the layers of a data folder by content (see :class:`Catalogue`).

    Files identical to a registry source (same SHA-256) are marked with its name; 7z
    archives are extracted into the cache, never into ``root``.
    """
    known = {s.sha256: s.name for s in REGISTRY.values() if s.sha256}
    return _discover(root, known=known, extract_dir=data_home() / "extracted")
