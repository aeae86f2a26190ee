"""Recognise the layers present in a folder by their content, never by a fixed file name."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fragility._files import sha256_of
from fragility.errors import InputError
from fragility.sources import anct, cog, ign, insee
from fragility.sources._model import LocalFile, Parsed
from fragility.sources._read import read_header, vintage_from_name, zip_tables

_TABULAR = {".csv", ".txt", ".tsv"}
_VECTOR = {".gpkg", ".shp", ".geojson"}
_SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


def _identify_header(columns: list[str]) -> str | None:
    cols = set(columns)
    layer = insee.census_layer(columns)
    if layer:
        return layer
    if "IRIS" in cols and any(insee.FILOSOFI_IRIS_RE.match(c) for c in cols):
        return "filosofi_iris"
    if "CODGEO" in cols and any(c.startswith(("MED", "TP60")) for c in cols):
        return "filosofi_commune"
    if {"IRIS", "perc_voit"} <= cols:
        return "census_car_derived"
    if {"id_fs", "latitude", "longitude"} <= cols:
        return "france_services"
    if {"TYPEQU", "DEPCOM", "LAMBERT_X"} <= cols:
        return "bpe"
    if {"TYPECOM", "COM", "COMPARENT"} <= cols:
        return "cog_communes"
    if {"CODGEO", "EPCI"} <= cols:
        return "cog_epci"
    return None


def _identify_vector(path: Path) -> str | None:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        for name, geom in layers:
            fields = list(pyogrio.read_info(path, layer=name)["fields"])
            if ign.iris_fields_present(fields):
                return "iris_contours"
            if anct.qpv_fields_present(fields):
                point = str(geom).lower().endswith("point")
                return "qpv_list" if point else "qpv_contours"
            if {"code", "nom"} <= set(fields) and "polygon" in str(geom).lower():
                return "commune_contours"
    except Exception:  # unreadable vector file: reported as ignored
        return None
    return None


def _identify_json(path: Path) -> str | None:
    with open(path, encoding="utf-8") as handle:
        head = handle.read(2048).lstrip()
    if head.startswith("["):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None
        return cog.json_kind(records[0]) if records and isinstance(records[0], dict) else None
    if '"FeatureCollection"' in head or '"features"' in head:
        return _identify_vector(path)
    return None


def identify(path: str | os.PathLike) -> str | None:
    """Return the layer a file holds, recognised from its content (``None`` if unknown).

    Parameters
    ----------
    path : str or os.PathLike
        CSV / zip of CSV, JSON or GeoJSON, GeoPackage, shapefile or XLSX.

    Returns
    -------
    str or None
        Layer name (see ``fragility.sources.LAYERS``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in _TABULAR:
            return _identify_header(read_header(path))
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = zip_tables(archive.namelist())
            return _identify_header(read_header(path, members[0])) if len(members) == 1 else None
        if suffix in (".json", ".geojson"):
            return _identify_json(path)
        if suffix in (".gpkg", ".shp"):
            return _identify_vector(path)
        if suffix == ".xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            if any("composition" in s.lower() for s in book.sheetnames):
                return "cog_epci"
    except (OSError, UnicodeDecodeError, InputError, zipfile.BadZipFile, StopIteration):
        return None
    return None


def _vintage(layer: str, path: Path) -> str | None:
    if layer.startswith(
        (
            "census_population",
            "census_familles",
            "census_logement",
            "census_diplomes",
            "census_activite",
            "filosofi",
        )
    ):
        header = read_header(path, None) if path.suffix.lower() != ".zip" else None
        if header:
            pattern = (
                insee.CENSUS_RE
                if layer.startswith("census")
                else (
                    insee.FILOSOFI_IRIS_RE
                    if layer.startswith("filosofi_iris")
                    else insee.FILOSOFI_COM_RE
                )
            )
            years = [m.group("yy") for c in header if (m := pattern.match(c))]
            if years:
                return "20" + max(set(years), key=years.count)
    return vintage_from_name(path)


@dataclass
class Catalogue:
    """The files found in a data folder, grouped by layer.

    Attributes
    ----------
    root : pathlib.Path or None
        Folder that was scanned.
    files : dict
        Layer name -> list of :class:`LocalFile`.
    ignored : list of tuple
        ``(path, reason)`` for every file that was not used, with a French reason.
    """

    root: Path | None
    files: dict[str, list[LocalFile]] = field(default_factory=dict)
    ignored: list[tuple[Path, str]] = field(default_factory=list)

    def has(self, layer: str) -> bool:
        """Whether at least one file of ``layer`` was found."""
        return bool(self.files.get(layer))

    def read(
        self, layer: str, *, crs: str | None = None, vintage: str | None = None
    ) -> Parsed | None:
        """Parse every file of a layer and merge them (``None`` if the layer is absent).

        Only the files of one vintage are used: ``vintage`` if given, otherwise the most
        recent; the others are listed in the notes. Records present in several files
        (a national list and its département extract) are kept once.
        """
        found = self.files.get(layer, [])
        if not found:
            return None
        vintages = sorted({f.vintage or "" for f in found})
        chosen = vintage if vintage is not None else vintages[-1]
        used = [f for f in found if (f.vintage or "") == chosen]
        if not used:
            raise InputError(
                f"aucun fichier de la couche « {layer} » au millésime {chosen} "
                f"(millésimes trouvés : {', '.join(v or 'inconnu' for v in vintages)})."
            )
        parts = [_READERS[layer](f.path, crs) for f in used]
        notes = [n for p in parts for n in p.notes]
        for f in found:
            if f not in used:
                notes.append(f"{f.path.name} ignoré (millésime {f.vintage}, {chosen} retenu).")
        return _merge(layer, parts, notes)


def _merge(layer: str, parts: list[Parsed], notes: list[str]) -> Parsed:
    first = parts[0]
    if len(parts) == 1:
        first.notes = notes
        return first
    frame = pd.concat([p.frame for p in parts])
    before = len(frame)
    if layer == "france_services":
        frame = frame.drop_duplicates("fs_id").reset_index(drop=True)
    elif layer in ("cog_epci", "qpv_list"):
        frame = frame.drop_duplicates().reset_index(drop=True)
    else:
        frame = frame[~frame.index.duplicated(keep="first")]
    if len(frame) < before:
        notes.append(
            f"{before - len(frame)} enregistrement(s) présents dans plusieurs fichiers, "
            "gardés une fois."
        )
    secret = None
    if all(p.secret is not None for p in parts):
        secret = pd.concat([p.secret for p in parts])
        secret = secret[~secret.index.duplicated(keep="first")]
    layouts = sorted({p.layout for p in parts})
    return Parsed(
        layer=layer,
        frame=frame,
        vintage=first.vintage,
        path=first.path,
        layout=" ; ".join(layouts),
        columns=first.columns,
        secret=secret,
        notes=notes,
    )


_READERS = {
    **{name: (lambda p, crs: insee.read_census(p)) for name in insee.CENSUS_BASES},
    "census_car_derived": lambda p, crs: insee.read_car_derived(p),
    "filosofi_iris": lambda p, crs: insee.read_filosofi_iris(p),
    "filosofi_iris_dec": lambda p, crs: insee.read_filosofi_iris(p),
    "filosofi_commune": lambda p, crs: insee.read_filosofi_commune(p),
    "bpe": lambda p, crs: insee.read_bpe(p),
    "iris_contours": lambda p, crs: ign.read_iris_contours(p, crs=crs),
    "commune_contours": lambda p, crs: ign.read_commune_contours(p, crs=crs),
    "france_services": lambda p, crs: anct.read_france_services(p),
    "qpv_contours": lambda p, crs: anct.read_qpv(p, crs=crs),
    "qpv_list": lambda p, crs: anct.read_qpv(p, crs=crs),
    "cog_communes": lambda p, crs: cog.read_communes(p),
    "cog_epci": lambda p, crs: cog.read_epci(p),
}


def _extract_7z(path: Path, into: Path) -> list[Path]:
    import py7zr

    marker = into / ".complete"
    if not marker.exists():
        into.mkdir(parents=True, exist_ok=True)
        with py7zr.SevenZipFile(path) as archive:
            archive.extractall(into)
        marker.touch()
    return [p for p in into.rglob("*") if p.is_file() and p.name != ".complete"]


def discover(
    root: str | os.PathLike,
    *,
    known: dict[str, str] | None = None,
    extract_dir: str | os.PathLike | None = None,
) -> Catalogue:
    """Scan a folder (recursively) and recognise each file's layer from its content.

    Parameters
    ----------
    root : str or os.PathLike
        The analyst's data folder (``--data-dir``), read-only.
    known : dict, optional
        SHA-256 -> registry source name, to mark files identical to a pinned source.
    extract_dir : str or os.PathLike, optional
        Where 7z archives found in ``root`` are extracted (never inside ``root``).

    Returns
    -------
    Catalogue
        Files grouped by layer, and the ignored files with their reason.

    Raises
    ------
    InputError
        If ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dossier de données introuvable : {root}.")
    catalogue = Catalogue(root=root)
    known = known or {}
    candidates = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                candidates.append(Path(dirpath) / name)
    for path in candidates:
        suffix = path.suffix.lower()
        if suffix == ".7z" and extract_dir is not None:
            digest = sha256_of(path)
            for inner in _extract_7z(path, Path(extract_dir) / digest[:16]):
                _classify(catalogue, inner, known)
            continue
        if suffix in (".md", ".pdf", ".html", ".ipynb", ".py"):
            continue
        if suffix in (".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml"):
            continue  # shapefile sidecars
        _classify(catalogue, path, known)
    return catalogue


def _classify(catalogue: Catalogue, path: Path, known: dict[str, str]) -> None:
    layer = identify(path)
    if layer is None:
        catalogue.ignored.append((path, "contenu non reconnu"))
        return
    digest = sha256_of(path)
    official = {"iris_contours": path.suffix.lower() in (".gpkg", ".shp")}
    layout = "officiel" if official.get(layer, True) else "extrait"
    catalogue.files.setdefault(layer, []).append(
        LocalFile(
            path=path,
            layer=layer,
            vintage=_vintage(layer, path),
            layout=layout,
            sha256=digest,
            source=known.get(digest),
        )
    )
