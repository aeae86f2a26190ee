"""Data model of the source registry: official datasets, layers, and files found on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: Licence of almost every French public open dataset.
LICENCE_OUVERTE = "Licence Ouverte / Open Licence 2.0 (Etalab)"


@dataclass(frozen=True)
class Layer:
    """A kind of data the IRIS table can use (e.g. IRIS contours, census population).

    Attributes
    ----------
    name : str
        Machine name (``"iris_contours"``, ``"census_population"``...).
    title_fr : str
        French title used in reports and messages.
    key : str
        Geographic level of the parsed frame's key (``"iris"``, ``"commune"``,
        ``"qpv"``, ``"point"``, ``"epci"``).
    required : bool
        Whether the IRIS table cannot be built without it.
    """

    name: str
    title_fr: str
    key: str
    required: bool = False


@dataclass(frozen=True)
class Source:
    """One official file, pinned: publisher, vintage, licence, URL and checksum.

    Attributes
    ----------
    name : str
        Registry key (``"insee_rp2017_evol_struct_pop"``).
    layer : str
        Name of the :class:`Layer` the file feeds.
    title_fr : str
        French title of the dataset.
    publisher : str
        Producer (INSEE, IGN, ANCT, Etalab...).
    vintage : str
        Millésime as published (``"2017"``, ``"2024-08-01"``).
    licence : str
        Licence of the data.
    url : str
        Direct download URL of the file, pinned to this vintage.
    filename : str
        Name of the file in the cache.
    sha256 : str or None
        Expected SHA-256 of the downloaded file. ``None`` means the checksum has not
        been pinned yet: the first verified download records it in the cache
        (``pins.json``) and it is enforced afterwards; ``fetch`` refuses to use such a
        source unless asked explicitly.
    homepage : str
        Publisher's page describing the dataset.
    member : str or None
        Pattern (``fnmatch``) of the file to take inside an archive (zip or 7z).
    geography : str
        Geography vintage of the codes (``"IRIS 2019"``, ``"COG 2026"``).
    notes_fr : str
        French notes for ``docs/sources.md`` (variables used, caveats).
    """

    name: str
    layer: str
    title_fr: str
    publisher: str
    vintage: str
    licence: str
    url: str
    filename: str
    sha256: str | None = None
    homepage: str = ""
    member: str | None = None
    geography: str = ""
    notes_fr: str = ""


@dataclass(frozen=True)
class LocalFile:
    """A file recognised on disk (``--data-dir``, cache or explicit path).

    Attributes
    ----------
    path : pathlib.Path
        Path of the file (or of the archive member once extracted).
    layer : str
        Layer recognised from the file's content.
    vintage : str or None
        Millésime read from the content (column prefixes) or, failing that, the name.
    layout : str
        ``"officiel"`` when the file has the publisher's own layout, otherwise a short
        French description of the deviation (``"extrait tiers (colonnes réduites)"``).
    sha256 : str
        Digest of the file as read.
    source : str or None
        Name of the registry :class:`Source` whose checksum matches, if any.
    """

    path: Path
    layer: str
    vintage: str | None
    layout: str
    sha256: str
    source: str | None = None


@dataclass
class Parsed:
    """A parsed layer: the validated frame and what is known about it.

    Attributes
    ----------
    layer : str
        Layer name.
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Validated frame (codes as strings, secret blanks as NaN, vintage-free names).
    vintage : str or None
        Millésime of the values.
    path : pathlib.Path or None
        File it was read from.
    layout : str
        ``"officiel"`` or the description of the deviation.
    columns : dict
        Vintage-free column name -> column name in the file.
    secret : pandas.Series or None
        For layers keyed by IRIS: number of blank (secret or missing) value cells per
        key, to tell "statistical secret" from "absent from the file".
    notes : list of str
        French remarks gathered while reading (e.g. rows merged, duplicates dropped).
    """

    layer: str
    frame: pd.DataFrame
    vintage: str | None = None
    path: Path | None = None
    layout: str = "officiel"
    columns: dict[str, str] = field(default_factory=dict)
    secret: pd.Series | None = None
    notes: list[str] = field(default_factory=list)
