"""Code officiel géographique: communes (with former communes) and EPCI membership.

Two layouts are read:

* Etalab's ``decoupage-administratif`` JSON (``communes.json``, ``epci.json``), which
  carries the legal populations — the layout of the real data pack;
* INSEE's own files: ``v_commune_AAAA.csv`` (``TYPECOM;COM;…;LIBELLE;…;COMPARENT``) and
  the DGCL/INSEE EPCI composition (``CODGEO;LIBGEO;EPCI;LIBEPCI`` as CSV, or the
  ``Composition_communale`` sheet of the XLSX).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fragility.conventions import COMMUNE_RE, EPCI_RE, isin
from fragility.errors import InputError
from fragility.sources._model import LICENCE_OUVERTE, Layer, Parsed, Source
from fragility.sources._read import codes, read_table, vintage_from_name

LAYERS = [
    Layer("cog_communes", "Code officiel géographique — communes", "commune", required=True),
    Layer("cog_epci", "Intercommunalités (EPCI) et leurs communes membres", "epci"),
]

_INSEE_TYPES = {
    "COM": "commune-actuelle",
    "COMD": "commune-deleguee",
    "COMA": "commune-associee",
    "ARM": "arrondissement-municipal",
}


def json_kind(first: dict) -> str | None:
    """Tell the layer of an Etalab JSON list from its first object."""
    if "membres" in first and "code" in first:
        return "cog_epci"
    if "code" in first and "type" in first and str(first.get("type", "")).startswith(
        ("commune", "arrondissement")
    ):
        return "cog_communes"
    return None


def read_communes(path: str | Path) -> Parsed:
    """Read COG communes (Etalab JSON or INSEE ``v_commune`` CSV).

    Returns
    -------
    Parsed
        Frame indexed by ``commune`` with ``name``, ``type``, ``departement``,
        ``region``, ``chef_lieu`` (for former communes: the current commune they
        belong to) and ``population`` (population municipale, ``Int64``; missing in
        the INSEE layout).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        records = json.loads(path.read_text(encoding="utf-8"))
        frame = pd.DataFrame.from_records(records)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="objet")
        out = pd.DataFrame(
            {
                "commune": codes(frame["code"], 5, COMMUNE_RE, path=path, field="code"),
                "name": frame["nom"],
                "type": frame["type"],
                "departement": frame.get("departement"),
                "region": frame.get("region"),
                "chef_lieu": frame.get("chefLieu"),
                "population": pd.array(frame.get("population"), dtype="Int64")
                if "population" in frame else pd.array([pd.NA] * len(frame), dtype="Int64"),
            }
        )
        layout = "Etalab decoupage-administratif (JSON)"
    else:
        table = read_table(path)
        if "TYPECOM" not in table:
            raise InputError("colonne TYPECOM absente : ce n'est pas un fichier du COG.", path=path)
        out = pd.DataFrame(
            {
                "commune": codes(table["COM"], 5, COMMUNE_RE, path=path, field="COM"),
                "name": table["LIBELLE"],
                "type": table["TYPECOM"].map(_INSEE_TYPES).fillna(table["TYPECOM"]),
                "departement": table["DEP"].replace("", None),
                "region": table["REG"].replace("", None),
                "chef_lieu": table["COMPARENT"].replace("", None),
                "population": pd.array([pd.NA] * len(table), dtype="Int64"),
            }
        )
        layout = "officiel (INSEE v_commune)"
    # Former communes share their code with the current one in some rows (e.g. the
    # commune déléguée of a commune nouvelle's chef-lieu): keep the current commune.
    rank = (out["type"] != "commune-actuelle").astype(int)
    out = out.assign(_rank=rank).sort_values(["commune", "_rank"], kind="stable")
    former = out[out["commune"].duplicated(keep="first")]
    out = out.drop_duplicates("commune", keep="first").drop(columns="_rank")
    out = out.set_index("commune")
    # Départements of former communes are missing in the INSEE layout: inherit.
    orphan = out["chef_lieu"].notna() & out["departement"].isna()
    out.loc[orphan, "departement"] = out.loc[orphan, "chef_lieu"].map(out["departement"])
    notes = []
    if len(former):
        notes.append(
            f"{len(former)} commune(s) déléguée(s) ou associée(s) portant le code de leur "
            "commune de rattachement : la commune actuelle est retenue."
        )
    return Parsed(layer="cog_communes", frame=out, vintage=vintage_from_name(path), path=path,
                  layout=layout, notes=notes)


def read_epci(path: str | Path) -> Parsed:
    """Read EPCI membership (Etalab JSON, INSEE CSV or XLSX composition).

    Returns
    -------
    Parsed
        Long frame with one row per (``epci``, ``commune``): ``epci``, ``epci_name``,
        ``epci_type``, ``commune``.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        records = json.loads(path.read_text(encoding="utf-8"))
        rows = [
            {"epci": e["code"], "epci_name": e.get("nom"), "epci_type": e.get("type"),
             "commune": m["code"]}
            for e in records for m in e.get("membres", [])
        ]
        frame = pd.DataFrame(rows, columns=["epci", "epci_name", "epci_type", "commune"])
        layout = "Etalab decoupage-administratif (JSON)"
    else:
        if path.suffix.lower() in (".xlsx", ".xls"):
            table = _read_composition_xlsx(path)
        else:
            table = read_table(path)
        for needed in ("CODGEO", "EPCI"):
            if needed not in table:
                raise InputError(f"colonne {needed} absente de la composition des EPCI.",
                                 path=path)
        frame = pd.DataFrame(
            {"epci": table["EPCI"].astype(str).str.strip(),
             "epci_name": table.get("LIBEPCI"),
             "epci_type": table.get("NATURE_EPCI"),
             "commune": table["CODGEO"]}
        )
        frame = frame[frame["epci"].str.match(EPCI_RE.pattern)]  # "ZZZZZZZZZ": sans EPCI
        layout = "officiel (INSEE composition communale des EPCI)"
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="ligne")
    frame["commune"] = codes(frame["commune"], 5, COMMUNE_RE, path=path, field="commune")
    frame["epci"] = codes(frame["epci"], 9, EPCI_RE, path=path, field="epci")
    return Parsed(layer="cog_epci", frame=frame.reset_index(drop=True),
                  vintage=vintage_from_name(path), path=path, layout=layout)


def _read_composition_xlsx(path: Path) -> pd.DataFrame:
    sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str)
    name = next((s for s in sheets if "composition" in s.lower()), None)
    if name is None:
        raise InputError("feuille « Composition_communale » introuvable.", path=path)
    raw = sheets[name]
    header_row = next(i for i, row in raw.iterrows() if "CODGEO" in row.tolist())
    table = raw.iloc[header_row + 1:].copy()
    table.columns = raw.iloc[header_row].tolist()
    return table.fillna("")


@dataclass(frozen=True)
class Cog:
    """Communes and EPCI of the code officiel géographique, as one object.

    Attributes
    ----------
    communes : pandas.DataFrame
        Indexed by ``commune`` (current and former communes), see :func:`read_communes`.
    epci : pandas.DataFrame
        One row per (``epci``, ``commune``), see :func:`read_epci`; may be empty.
    vintage : str or None
        Millésime of the communes file when known.
    """

    communes: pd.DataFrame
    epci: pd.DataFrame
    vintage: str | None = None

    @property
    def current(self) -> pd.DataFrame:
        """Current communes only (``commune-actuelle``)."""
        return self.communes[self.communes["type"] == "commune-actuelle"]

    def current_code(self, code: str) -> str | None:
        """Current commune a (possibly former) commune code belongs to today."""
        return self.current_codes([code]).iloc[0]

    def current_codes(self, codes) -> pd.Series:
        """:meth:`current_code` for many codes at once.

        Parameters
        ----------
        codes : sequence of str
            Commune codes, current or former.

        Returns
        -------
        pandas.Series
            Indexed by position like ``codes``; the current commune of each code, or
            ``None`` when the code is unknown or its parent is.
        """
        codes = pd.Index(codes, dtype=object)
        rows = self.communes.reindex(codes.unique())
        parent = rows["chef_lieu"].where(isin(rows["chef_lieu"], self.communes.index))
        known = rows["type"].notna()
        own = pd.Series(rows.index, index=rows.index, dtype=object)
        current = own.where(rows["type"].eq("commune-actuelle"), parent).where(known)
        values = current.reindex(codes).to_numpy(dtype=object)
        return pd.Series([v if isinstance(v, str) else None for v in values], dtype=object)


SOURCES = [
    Source(
        name="etalab_decoupage_administratif_6_0_0",
        layer="cog_communes",
        title_fr="Découpage administratif (COG 2026, EPCI 2026, populations légales)",
        publisher="Etalab (DINUM), d'après INSEE et DGCL",
        vintage="2026",
        licence=LICENCE_OUVERTE + " (code du paquet : MIT)",
        url="https://registry.npmjs.org/@etalab/decoupage-administratif/-/"
        "decoupage-administratif-6.0.0.tgz",
        filename="decoupage-administratif-6.0.0.tgz",
        sha256="c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a",
        homepage="https://github.com/etalab/decoupage-administratif",
        member="package/data/communes.json",
        geography="COG 2026",
        notes_fr="Paquet npm : data/communes.json (communes actuelles, déléguées, associées, "
        "population municipale).",
    ),
    Source(
        name="etalab_decoupage_administratif_6_0_0_epci",
        layer="cog_epci",
        title_fr="Découpage administratif — EPCI 2026 et leurs communes membres",
        publisher="Etalab (DINUM), d'après DGCL",
        vintage="2026",
        licence=LICENCE_OUVERTE + " (code du paquet : MIT)",
        url="https://registry.npmjs.org/@etalab/decoupage-administratif/-/"
        "decoupage-administratif-6.0.0.tgz",
        filename="decoupage-administratif-6.0.0.tgz",
        sha256="c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a",
        homepage="https://github.com/etalab/decoupage-administratif",
        member="package/data/epci.json",
        geography="COG 2026",
    ),
    Source(
        name="insee_cog_2024_communes",
        layer="cog_communes",
        title_fr="Code officiel géographique 2024 — communes (v_commune_2024)",
        publisher="INSEE",
        vintage="2024",
        licence=LICENCE_OUVERTE,
        url="https://www.insee.fr/fr/statistiques/fichier/7766585/v_commune_2024.csv",
        filename="v_commune_2024.csv",
        homepage="https://www.insee.fr/fr/information/7766585",
        geography="COG 2024",
    ),
]
