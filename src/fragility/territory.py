"""Territories: an EPCI, a list of communes, a département, or the synthetic demo.

A :class:`Territory` is resolved through the code officiel géographique (COG) found in
the data folder (or downloaded from the registry): every commune code is checked, an
unknown code gets an error listing the closest matches.
"""

from __future__ import annotations

import difflib
import functools
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fragility.conventions import (
    COMMUNE_RE,
    DEPARTEMENT_RE,
    EPCI_RE,
    crs_for,
    departement_of,
    normalise_code,
)
from fragility.errors import InputError, UnknownCodeError
from fragility.sources import REGISTRY, Catalogue, discover, fetch
from fragility.sources.cog import Cog, read_communes, read_epci


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join(text.lower().replace("-", " ").replace("'", " ").split())


@functools.lru_cache(maxsize=8)
def _catalogue(data_dir: str, mtime: float) -> Catalogue:
    return discover(data_dir)


def catalogue_for(data_dir: str | os.PathLike) -> Catalogue:
    """Return the (cached) catalogue of a data folder; rescanned when the folder changes."""
    path = Path(data_dir).resolve()
    if not path.is_dir():
        raise InputError(f"dossier de données introuvable : {data_dir}.")
    return _catalogue(str(path), path.stat().st_mtime)


def load_cog(data_dir: str | os.PathLike | None = None) -> Cog:
    """Load the COG (communes and EPCI) from a data folder, or from the registry.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder holding a COG file (Etalab JSON or INSEE CSV). Without it, Etalab's
        ``decoupage-administratif`` package is taken from the cache or downloaded.

    Returns
    -------
    fragility.sources.cog.Cog
    """
    if data_dir is not None:
        catalogue = catalogue_for(data_dir)
        communes = catalogue.read("cog_communes")
        if communes is None:
            raise InputError(
                f"aucun fichier du code officiel géographique (communes) dans {data_dir} : "
                "ajoutez v_commune_AAAA.csv (INSEE) ou communes.json (Etalab)."
            )
        epci = catalogue.read("cog_epci")
        epci_frame = (
            epci.frame
            if epci is not None
            else pd.DataFrame(columns=["epci", "epci_name", "epci_type", "commune"])
        )
        return Cog(communes.frame, epci_frame, communes.vintage)
    communes = read_communes(fetch("etalab_decoupage_administratif_6_0_0"))
    epci = read_epci(fetch("etalab_decoupage_administratif_6_0_0_epci"))
    return Cog(communes.frame, epci.frame, REGISTRY["etalab_decoupage_administratif_6_0_0"].vintage)


def _closest(query: str, choices: dict[str, str], n: int = 3) -> str:
    """French hint listing the closest codes/names (``choices``: code -> label)."""
    labels = {f"{code} {label}": code for code, label in choices.items()}
    folded = {_fold(k): k for k in labels}
    hits = difflib.get_close_matches(_fold(query), list(folded), n=n, cutoff=0.3)
    if not hits:
        return ""
    return " Codes proches : " + ", ".join(folded[h] for h in hits) + "."


@dataclass(frozen=True)
class Territory:
    """A study area: the communes it covers and where its data come from.

    Use the alternative constructors (:meth:`from_epci`, :meth:`from_communes`,
    :meth:`from_departement`, :meth:`demo`) rather than ``__init__``.

    Attributes
    ----------
    name : str
        French name (``"Dijon Métropole"``).
    kind : {"epci", "communes", "departement", "demo"}
        How the territory was defined.
    code : str or None
        EPCI SIREN or département code, when relevant.
    communes : tuple of str
        Current commune codes (5 characters), sorted.
    departements : tuple of str
        Départements the communes belong to.
    data_dir : pathlib.Path or None
        Folder of local source files, or ``None`` for the registry/cache.
    is_synthetic : bool
        True for the demo territory: every output then says so.
    """

    name: str
    kind: str
    code: str | None
    communes: tuple[str, ...]
    departements: tuple[str, ...]
    data_dir: Path | None = None
    is_synthetic: bool = False

    @property
    def crs(self) -> str:
        """Projected computation CRS (Lambert-93 in metropolitan France)."""
        crss = {crs_for(d) for d in self.departements}
        if len(crss) > 1:
            raise InputError(
                "ce territoire s'étend sur plusieurs systèmes de coordonnées "
                f"({', '.join(sorted(crss))}) : traitez chaque partie séparément."
            )
        return crss.pop()

    @property
    def label(self) -> str:
        """Name as printed on every output (says "synthetic" for the demo)."""
        if self.is_synthetic:
            from fragility.demo import DEMO_LABEL

            return f"{self.name.split(' (')[0]} — {DEMO_LABEL}"
        return self.name

    def catalogue(self) -> Catalogue | None:
        """Files recognised in :attr:`data_dir` (``None`` without a data folder)."""
        return None if self.data_dir is None else catalogue_for(self.data_dir)

    def cog(self) -> Cog:
        """The COG used to resolve this territory."""
        return load_cog(self.data_dir)

    @classmethod
    def from_epci(cls, code: str, *, data_dir: str | os.PathLike | None = None) -> Territory:
        """Territory of an EPCI, given its SIREN code or its name.

        Parameters
        ----------
        code : str
            SIREN (``"242100410"``) or name (``"Dijon Métropole"``, accents and case free).
        data_dir : str or os.PathLike, optional
            Folder of local source files.

        Returns
        -------
        Territory

        Raises
        ------
        UnknownCodeError
            Unknown EPCI, with the closest codes and names.

        Examples
        --------
        >>> Territory.from_epci("242100410", data_dir="../shared/data/real")  # doctest: +SKIP
        """
        cog = load_cog(data_dir)
        members = cog.epci
        names = members.drop_duplicates("epci").set_index("epci")["epci_name"].to_dict()
        query = str(code).strip()
        if EPCI_RE.match(query):
            siren = query
        else:
            matches = [c for c, n in names.items() if _fold(n) == _fold(query)]
            if not matches:
                matches = [c for c, n in names.items() if _fold(query) in _fold(n)]
            if len(matches) > 1:
                listed = ", ".join(f"{c} {names[c]}" for c in matches[:5])
                raise UnknownCodeError(f"nom d'EPCI ambigu « {query} » : {listed}.")
            siren = matches[0] if matches else query
        if siren not in names:
            raise UnknownCodeError(f"EPCI inconnu : « {query} ».{_closest(query, names)}")
        communes = tuple(sorted(members.loc[members["epci"] == siren, "commune"].unique()))
        return cls(
            name=str(names[siren]),
            kind="epci",
            code=siren,
            communes=communes,
            departements=tuple(sorted({departement_of(c) for c in communes})),
            data_dir=None if data_dir is None else Path(data_dir),
        )

    @classmethod
    def from_communes(
        cls,
        codes: Iterable[str],
        *,
        name: str | None = None,
        data_dir: str | os.PathLike | None = None,
    ) -> Territory:
        """Territory made of a list of communes (current COG codes).

        A former commune (commune déléguée or associée) is refused with the code of the
        commune it now belongs to.

        Raises
        ------
        UnknownCodeError
            For a malformed or unknown code, with the closest matches.
        """
        cog = load_cog(data_dir)
        current = cog.current["name"].to_dict()
        resolved = []
        for raw in codes:
            code = normalise_code(raw, 5)
            if code is None or not COMMUNE_RE.match(code):
                raise UnknownCodeError(
                    f"code commune mal formé : « {raw} » (5 caractères attendus, ex. 21231 "
                    "ou 2A004)."
                )
            if code not in current:
                parent = cog.current_code(code)
                if parent is not None:
                    raise UnknownCodeError(
                        f"la commune {code} ({cog.communes.loc[code, 'name']}) n'existe plus : "
                        f"elle fait partie de {parent} ({current[parent]})."
                    )
                raise UnknownCodeError(f"commune inconnue : « {code} ».{_closest(code, current)}")
            resolved.append(code)
        if not resolved:
            raise InputError("aucune commune donnée.")
        communes = tuple(sorted(set(resolved)))
        if name is None:
            first = current[communes[0]]
            name = (
                first
                if len(communes) == 1
                else f"{first} et {len(communes) - 1} autre(s) commune(s)"
            )
        return cls(
            name=name,
            kind="communes",
            code=None,
            communes=communes,
            departements=tuple(sorted({departement_of(c) for c in communes})),
            data_dir=None if data_dir is None else Path(data_dir),
        )

    @classmethod
    def from_departement(cls, code: str, *, data_dir: str | os.PathLike | None = None) -> Territory:
        """Territory of a whole département (its current communes)."""
        dep = normalise_code(code, 2) or ""
        if not DEPARTEMENT_RE.match(dep):
            raise UnknownCodeError(f"code de département mal formé : « {code} ».")
        cog = load_cog(data_dir)
        current = cog.current
        communes = tuple(sorted(current.index[current["departement"] == dep]))
        if not communes:
            known = sorted(current["departement"].dropna().unique())
            raise UnknownCodeError(
                f"département {dep} absent du code officiel géographique disponible "
                f"(départements présents : {', '.join(known)})."
            )
        return cls(
            name=f"Département {dep}",
            kind="departement",
            code=dep,
            communes=communes,
            departements=(dep,),
            data_dir=None if data_dir is None else Path(data_dir),
        )

    @classmethod
    def demo(cls, *, seed: int = 0) -> Territory:
        """The synthetic demonstration intercommunality (generated once, then cached).

        Every output built on it says "Territoire de démonstration — données synthétiques".
        """
        from fragility.demo import DEMO_EPCI, demo_data_dir

        base = cls.from_epci(DEMO_EPCI, data_dir=demo_data_dir(seed=seed))
        return cls(
            name=base.name,
            kind="demo",
            code=base.code,
            communes=base.communes,
            departements=base.departements,
            data_dir=base.data_dir,
            is_synthetic=True,
        )
