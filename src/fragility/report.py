"""The diagnostic report: one self-contained French HTML page (and its PDF) per run.

:func:`write_report` turns the result of :func:`fragility.diagnose.diagnose` into
``diagnostic.html``: title page, key figures, maps, under-served areas, where to open new
permanences, typology, indicator tables per commune, QPV and IRIS, methodology, sources
and the statistical-secret note. :func:`render_report` returns the same page as a string.

Principles
----------
* **Self-contained**: no network resource at all (no CDN, no web font, no script); the
  static maps listed in ``diagnostic.files`` are embedded as base64 ``data:`` URIs and the
  CSS is inline. The page reads on screen and prints on A4 (``@page``, page breaks before
  the major sections, table headers repeated, rows never split).
* **Every number comes from the run**: the published IRIS frame (``table.gdf``), the
  published assessment frame (``assessment.published``), the index results, the
  suppression manifest and ``manifest.json`` (run timestamp). Aggregates per commune and
  QPV are computed by :func:`fragility.indicators.compute_indicators`, never by hand.
  Numbers are written the French way (narrow no-break space between thousands, decimal
  comma).
* **Statistical secret**: contacts and persons are only ever read from the *published*
  (disclosure-protected) columns; a suppressed cell reads "secret". Before rendering,
  :func:`fragility.disclosure.check_no_small_cells` refuses any count between 1 and
  ``k - 1``. Count cells carry ``class="effectif"`` and ``data-effectif`` so that tests
  (and reviewers) can find them.
* Jinja2 templates with autoescape, shipped in ``fragility/templates`` (package data).

PDF
---
WeasyPrint is not a dependency; the PDF is printed from the very same HTML by a headless
Chromium (``--print-to-pdf``), the browser the test-suite already uses (Debian package
``chromium``). The executable is ``FRAGILITY_CHROMIUM`` if set, otherwise ``chromium``
(or ``chromium-browser``) on the ``PATH``; without one, :class:`~fragility.errors.ConfigError`
says how to install it. Chromium runs with a throw-away profile, background networking
disabled, and the page itself requests nothing.

Examples
--------
>>> from fragility import Territory, diagnose
>>> from fragility.report import write_report
>>> result = diagnose(Territory.demo(), "sortie", progress=False)  # doctest: +SKIP
>>> write_report(result, "sortie/diagnostic.html", pdf=True)  # doctest: +SKIP
PosixPath('sortie/diagnostic.html')
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from fragility._files import atomic_path, atomic_write
from fragility.conventions import isin
from fragility.disclosure import DEFAULT_K, check_no_small_cells
from fragility.errors import ConfigError, InputError
from fragility.formatting import MISSING, NNBSP, fr_number, fr_percent
from fragility.formatting import is_missing as _missing
from fragility.iris_table import source_line
from fragility.underserved import FLAGS, REASONS

__all__ = ["SECRET", "find_chromium", "fr_number", "fr_percent", "render_report", "write_report"]

#: Text of a suppressed count.
SECRET = "secret"

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")

#: Order in which flags are listed.
_FLAG_ORDER = ("sous_desservi_probable", "a_surveiller", "conforme", "sur_sollicite",
               "donnees_insuffisantes")
#: Flags listed in the "zones sous-desservies" section.
_LISTED_FLAGS = ("sous_desservi_probable", "a_surveiller")

#: Short column headers of the composite indices (the full label is the cell title).
_INDEX_SHORT = {
    "isolation": "Isolement",
    "non_recours_gap": "Non-recours (écart)",
    "non_recours_barrier": "Non-recours (barrières)",
}

#: Indicators shown in the commune and QPV tables, in order, with their short header (the
#: registry's full label is given in the legend and the cell title).
_TABLE_INDICATORS = {
    "pop80_alone_share": "80 ans ou plus seuls",
    "one_person_households_share": "Ménages d'une personne",
    "single_parent_share": "Familles mono\u00adparentales",
    "no_diploma_share": "Sans diplôme",
    "unemployment_rate": "Chômage",
    "households_without_car_share": "Ménages sans voiture",
    "poverty_rate": "Taux de pauvreté",
    "median_income_eur": "Niveau de vie médian",
}

#: Captions of the static maps written by ``diagnose`` (by file stem).
_CAPTIONS = {
    "densite_population": "Densité de population par IRIS (habitants par km²).",
    "taux_pauvrete": "Taux de pauvreté au seuil de 60 % du niveau de vie médian (Filosofi) ; "
    "en gris, les IRIS sans valeur diffusée.",
    "indice_isolation": "Indice de risque d'isolement (0 à 100 ; plus l'indice est élevé, "
    "plus le besoin est fort).",
    "indice_non_recours_barrier": "Indice de risque de non-recours, variante « barrières chez "
    "les éligibles probables » (0 à 100).",
    "indice_non_recours_gap": "Indice de risque de non-recours, variante « écart besoin / "
    "prestations » (0 à 100).",
    "couverture_mediation": "Contacts de médiation observés rapportés aux contacts attendus "
    "pour le besoin de l'IRIS (rapport lissé ; 1 = autant qu'attendu) ; en gris, les IRIS "
    "non évalués ou dont l'effectif est couvert par le secret statistique.",
    "zones_sous_desservies": "Signalement de chaque IRIS : sous-desservi probable, à "
    "surveiller, conforme, sur-sollicité ou données insuffisantes.",
}

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg"}

# --------------------------------------------------------------------------- formatting


def _count(value, k: int) -> tuple[str, str]:
    """A published (protected) count: text and state (``publie``/``secret``/``vide``)."""
    if _missing(value):
        return SECRET, "secret"
    value = float(value)
    if 0 < value < k:  # never reached: check_no_small_cells ran before
        raise InputError(f"effectif entre 1 et {k - 1} : publication refusée.")
    return fr_number(value), "publie"


def _indicator_value(value, unit: str) -> str:
    if unit in ("share", "rate"):
        return fr_percent(value, 1)
    if unit == "eur":
        return MISSING if _missing(value) else f"{fr_number(value)}{NNBSP}€"
    if unit == "m":
        return MISSING if _missing(value) else f"{fr_number(float(value) / 1000, 1)}{NNBSP}km"
    return fr_number(value, 2)


def _run_date(timestamp: str | None) -> str | None:
    if not timestamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    zone = "UTC"
    try:
        from zoneinfo import ZoneInfo

        moment = moment.astimezone(ZoneInfo("Europe/Paris"))
        zone = "heure de Paris"
    except Exception:  # no tz database: keep UTC
        moment = moment.astimezone(dt.UTC)
    return (f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}, "
            f"{moment.hour:02d} h {moment.minute:02d} ({zone})")


# --------------------------------------------------------------------------- reading


def _manifest(files) -> dict:
    for path in files or []:
        path = Path(path)
        if path.name == "manifest.json" and path.is_file():
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
    return {}


def _published_counts(assessment, k: int) -> pd.DataFrame | None:
    """The published contacts/persons per IRIS, checked against the threshold."""
    if assessment is None or assessment.mode != "journal":
        return None
    counts = assessment.published[["contacts", "persons"]].apply(
        pd.to_numeric, errors="coerce")
    check_no_small_cells(counts, ["contacts", "persons"], k=k)
    return counts


def _totals(assessment, manifest: dict, k: int) -> dict | None:
    """The published ``Ensemble`` totals (contacts, persons), when the run exposes them."""
    totals = getattr(assessment, "totals", None)
    if totals is None:
        totals = (manifest.get("evaluation") or {}).get("totaux")
    if totals is None:
        return None
    out = {}
    for key in ("contacts", "persons"):
        value = totals.get(key) if isinstance(totals, dict) else getattr(totals, key, None)
        out[key] = _count(value, k)
    return out


# --------------------------------------------------------------------------- sections


def _key_figures(diagnostic, gdf, assessment, manifest, k) -> dict:
    flags = []
    if assessment is not None:
        counts = assessment.published["flag"].value_counts()
        flags = [{"code": code, "label": FLAGS[code], "n": fr_number(counts.get(code, 0))}
                 for code in _FLAG_ORDER]
    indices = []
    for name, result in (diagnostic.indices or {}).items():
        values = result.values
        indices.append({
            "name": name,
            "label": result.spec.label_fr,
            "scored": fr_number(values["index"].notna().sum()),
            "robust": fr_number(values["robust_top"].fillna(False).astype(bool).sum()),
            "top_size": fr_number(result.top_size),
        })
    log = (manifest.get("journal") or {}) if manifest else {}
    return {
        "n_iris": fr_number(len(gdf)),
        "n_communes": fr_number(gdf["commune"].nunique()),
        "population": fr_number(pd.to_numeric(gdf["population"], errors="coerce").sum()),
        "flags": flags,
        "totals": _totals(assessment, manifest, k) if assessment is not None
        and assessment.mode == "journal" else None,
        "indices": indices,
        "log_file": log.get("fichier"),
    }


def _figures(files) -> list[dict]:
    out = []
    for path in files or []:
        path = Path(path)
        if (path.parent.name != "figures" or path.suffix.lower() not in _MIME
                or not path.is_file()):
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        out.append({
            "name": path.stem,
            "src": f"data:{_MIME[path.suffix.lower()]};base64,{data}",
            "caption": _CAPTIONS.get(path.stem, path.stem.replace("_", " ").capitalize() + "."),
            "file": f"figures/{path.name}",
        })
    return out


def _reasons(text) -> list[dict]:
    if _missing(text) or not str(text).strip():
        return []
    return [{"code": code, "text": REASONS.get(code, code)}
            for code in (c.strip() for c in str(text).split(",")) if code]


def _ratio(row) -> tuple[str, str]:
    """The shrunk coverage ratio and its 90 % interval, as published."""
    ratio = row.get("coverage_ratio")
    if _missing(ratio):
        return MISSING, ""
    low, high = row.get("coverage_ratio_low"), row.get("coverage_ratio_high")
    interval = "" if _missing(low) or _missing(high) else (
        f"[{fr_number(low, 2)}–{fr_number(high, 2)}]")
    return fr_number(ratio, 2), interval


def _underserved(gdf, assessment, counts, k) -> list[dict]:
    if assessment is None:
        return []
    published = assessment.published
    listed = published[isin(published["flag"], _LISTED_FLAGS)]
    records = listed.to_dict("index")  # one dict per listed IRIS, not one .loc each
    columns = [c for c in ("iris_name", "commune", "commune_name") if c in gdf]
    places = gdf[columns].reindex(listed.index).to_dict("index")
    tallies = None if counts is None else counts[["contacts", "persons"]].reindex(
        listed.index).to_dict("index")
    rows = []
    for flag in _LISTED_FLAGS:
        for code in sorted(listed.index[listed["flag"] == flag]):
            row, place = records[code], places[code]
            contacts = _count(tallies[code]["contacts"], k) if counts is not None else None
            persons = _count(tallies[code]["persons"], k) if counts is not None else None
            rows.append({
                "iris": code,
                "iris_name": _text(place.get("iris_name", "")),
                "commune": _text(place.get("commune")),
                "commune_name": _text(place.get("commune_name", "")),
                "flag": flag,
                "flag_label": FLAGS[flag],
                "confidence": _text(row["confidence"]) or MISSING,
                "contacts": contacts,
                "persons": persons,
                "ratio": _ratio(row),
                "phrase": _text(row["phrase"]),
                "reasons": _reasons(row["reasons"]),
            })
    return rows


def _text(value) -> str:
    return "" if _missing(value) else str(value)


def _sites(assessment) -> dict | None:
    if assessment is None or assessment.sites is None:
        return None
    sites = assessment.sites.sites
    rows = []
    for _, site in sites.iterrows():
        rows.append({
            "rank": fr_number(site.get("rank")),
            "name": _text(site.get("name")),
            "candidate": _text(site.get("candidate")),
            "n_iris": fr_number(site.get("n_demand_covered")),
            "share": fr_percent(site.get("covered_share"), 0),
        })
    return {"rows": rows, "summary": assessment.sites.summary_fr()}


def _index_columns(diagnostic, gdf) -> list[dict]:
    columns = []
    for name, result in (diagnostic.indices or {}).items():
        column = f"{name}_index"
        if column in gdf:
            columns.append({"name": name, "column": column, "label": result.spec.label_fr,
                            "short": _INDEX_SHORT.get(name, result.spec.label_fr)})
    return columns


def _typology(gdf, index_columns) -> dict | None:
    if "profile" not in gdf or gdf["profile"].isna().all():
        return None
    frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
    grouped = frame.groupby("profile", dropna=True)
    sizes = grouped.size().sort_values(ascending=False, kind="stable")
    population = grouped["population"].sum()
    rows = []
    for profile, size in sizes.items():
        means = [fr_number(pd.to_numeric(grouped.get_group(profile)[c["column"]],
                                         errors="coerce").mean(), 1) for c in index_columns]
        rows.append({"profile": str(profile), "n": fr_number(size),
                     "population": fr_number(population[profile]), "means": means})
    return {"rows": rows}


def _indicator_table(table, level: str, gdf) -> dict | None:
    from fragility.indicators import REGISTRY, compute_indicators

    if level == "qpv":
        if "qpv_share" not in gdf or not (
                pd.to_numeric(gdf["qpv_share"], errors="coerce") > 0).any():
            return None
    try:
        values = compute_indicators(table, level=level)
    except InputError:
        return None
    if values.empty:
        return None
    keys = [key for key in _TABLE_INDICATORS if key in values and key in REGISTRY]
    headers = [{"key": key, "label": REGISTRY[key].label_fr, "short": _TABLE_INDICATORS[key]}
               for key in keys]
    names, population = {}, None
    if level == "commune":
        if "commune_name" in gdf:
            names = gdf.groupby("commune")["commune_name"].first().to_dict()
        population = pd.to_numeric(gdf["population"], errors="coerce").groupby(
            gdf["commune"]).sum()
    approx = False
    rows = []
    for code, row in zip(values.index, values.to_dict("records"), strict=True):
        cells = []
        for key in keys:
            status = _text(row.get(f"{key}_status"))
            marked = "approx" in status
            approx = approx or marked
            cells.append({"key": key, "text": _indicator_value(row[key], REGISTRY[key].unit),
                          "status": status, "approx": marked})
        rows.append({
            "code": str(code),
            "name": _text(names.get(code, "")),
            "n_iris": fr_number(row.get("n_iris")),
            "population": None if population is None else fr_number(population.get(code)),
            "cells": cells,
        })
    return {"level": level, "headers": headers, "rows": rows, "approx": approx,
            "with_population": population is not None}


def _iris_rows(gdf, assessment, counts, index_columns, k) -> list[dict]:
    codes = list(gdf.index)
    n = len(codes)

    def column(frame, name, default=None) -> list:
        """Values of one column in the order of ``gdf`` (``default`` when absent)."""
        if frame is None or name not in frame:
            return [default] * n
        return frame[name].reindex(gdf.index).tolist()

    commune = column(gdf, "commune")
    order = sorted(range(n), key=lambda i: (str(commune[i]), str(codes[i])))
    flags = column(None if assessment is None else assessment.published, "flag")
    names = column(gdf, "iris_name", "")
    commune_names = column(gdf, "commune_name") if "commune_name" in gdf else commune
    population = column(gdf, "population")
    indices = [column(gdf, c["column"]) for c in index_columns]
    profiles = column(gdf, "profile", "")
    contacts, persons = column(counts, "contacts"), column(counts, "persons")
    rows = []
    for i in order:
        flag = _text(flags[i]) if assessment is not None else ""
        rows.append({
            "iris": str(codes[i]),
            "name": _text(names[i]),
            "commune_name": _text(commune_names[i]),
            "population": fr_number(population[i]),
            "indices": [fr_number(values[i], 1) for values in indices],
            "profile": _text(profiles[i]),
            "flag": flag,
            "flag_label": FLAGS.get(flag, flag),
            "contacts": _count(contacts[i], k) if counts is not None else None,
            "persons": _count(persons[i], k) if counts is not None else None,
        })
    return rows


def _methodology(assessment) -> dict:
    out = {"model": None, "materiality": None, "probable": None, "watch": None,
           "spatial": [], "mode": None if assessment is None else assessment.mode}
    if assessment is None:
        return out
    settings = assessment.settings
    if assessment.coverage is not None:
        out["model"] = assessment.coverage.model.summary_fr()
    out["shortfall"] = fr_percent(1 - settings.coverage.materiality, 0)
    out["materiality"] = fr_number(settings.coverage.materiality, 1)
    out["probable"] = fr_number(settings.flags.probable, 2)
    out["watch"] = fr_number(settings.flags.watch, 2)
    out["far_km"] = fr_number(settings.flags.far_km, 1)
    labels = {"moran_isolation_index": "besoin d'isolement",
              "moran_non_recours_index": "risque de non-recours",
              "moran_coverage_ratio": "couverture (rapport lissé, en log)"}
    for key, label in labels.items():
        stats = (assessment.spatial or {}).get(key)
        if stats and stats.get("I") is not None:
            out["spatial"].append({"label": label, "I": fr_number(stats["I"], 2),
                                   "p": fr_number(stats.get("p_sim"), 3)})
    return out


def _sources(table, manifest) -> dict:
    from fragility.sources import LAYERS, REGISTRY

    synthetic = table.territory.is_synthetic
    rows = []
    for local in table.provenance:
        layer = LAYERS.get(local.layer)
        registered = REGISTRY.get(local.source) if local.source else None
        if registered is not None:
            licence, publisher = registered.licence, registered.publisher
            origin = f"registre : {registered.name}"
        elif synthetic:
            licence, publisher = "sans objet (données synthétiques)", "fragility (générateur)"
            origin = "fichier synthétique"
        else:
            licences = sorted({s.licence for s in REGISTRY.values() if s.layer == local.layer})
            publisher = ", ".join(sorted({s.publisher for s in REGISTRY.values()
                                          if s.layer == local.layer})) or MISSING
            licence = (" ; ".join(licences) + " (licence de la source officielle de la couche)"
                       if licences else "non renseignée")
            origin = "fichier local, non reconnu au registre"
        rows.append({
            "title": layer.title_fr if layer is not None else local.layer,
            "file": local.path.name,
            "vintage": local.vintage or MISSING,
            "publisher": publisher,
            "licence": licence,
            "origin": origin,
            "sha256": (local.sha256 or "")[:12],
        })
    journal = (manifest.get("journal") or None) if manifest else None
    return {"rows": rows, "line": source_line(table), "journal": journal}


def _secret(assessment, k) -> dict:
    out = {"k": fr_number(k), "k_minus": fr_number(k - 1), "manifest": None}
    if assessment is None or assessment.suppression is None:
        return out
    manifest = assessment.suppression.to_dict()
    out["manifest"] = {
        "cells": fr_number(manifest.get("cells")),
        "primary": fr_number(manifest.get("primary")),
        "secondary": fr_number(manifest.get("secondary")),
        "dominance": fr_number(manifest.get("dominance_suppressed")),
        "margins": fr_number(manifest.get("margins_suppressed")),
        "dominance_share": None if manifest.get("dominance") is None
        else fr_percent(manifest["dominance"], 0),
        "method": manifest.get("method") or "",
    }
    return out


def _activity(diagnostic) -> dict | None:
    """The activity section (bilan without its per-area tables), when there is a log."""
    bilan = getattr(diagnostic, "bilan", None)
    if bilan is None:
        return None
    from fragility.bilan import bilan_context

    return bilan_context(bilan)


def _context(diagnostic) -> dict:
    table = diagnostic.table
    gdf = table.gdf
    territory = diagnostic.territory
    assessment = diagnostic.assessment
    manifest = _manifest(diagnostic.files)
    k = int(assessment.settings.k) if assessment is not None else DEFAULT_K
    counts = _published_counts(assessment, k)
    index_columns = _index_columns(diagnostic, gdf)
    return {
        "territory": {
            "label": territory.label,
            "name": territory.name.split(" (")[0],
            "synthetic": bool(territory.is_synthetic),
            "code": territory.code,
        },
        "run_date": _run_date(manifest.get("horodatage")),
        "version": manifest.get("fragility"),
        "seed": manifest.get("graine"),
        "mode": None if assessment is None else assessment.mode,
        "key": _key_figures(diagnostic, gdf, assessment, manifest, k),
        "figures": _figures(diagnostic.files),
        "underserved": _underserved(gdf, assessment, counts, k),
        "with_counts": counts is not None,
        "sites": _sites(assessment),
        "index_columns": index_columns,
        "typology": _typology(gdf, index_columns),
        "communes": _indicator_table(table, "commune", gdf),
        "qpv": _indicator_table(table, "qpv", gdf),
        "iris": _iris_rows(gdf, assessment, counts, index_columns, k),
        "methodology": _methodology(assessment),
        "sources": _sources(table, manifest),
        "secret": _secret(assessment, k),
        "warnings": list(table.warnings),
        "activity": _activity(diagnostic),
        "shift": 1 if getattr(diagnostic, "bilan", None) is not None else 0,
    }


# --------------------------------------------------------------------------- public API


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("fragility", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(diagnostic) -> str:
    """Render the diagnostic report as one self-contained HTML page.

    Parameters
    ----------
    diagnostic : Diagnostic
        The result of :func:`fragility.diagnose.diagnose` (any object with ``territory``,
        ``table``, ``files``, ``indices`` and ``assessment``); its ``manifest.json`` and
        figures are read from ``files``.

    Returns
    -------
    str
        The HTML page (French, UTF-8, no external resource).

    Raises
    ------
    fragility.disclosure.DisclosureError
        A published contacts/persons count lies between 1 and ``k - 1`` (never expected:
        the assessment protects them).
    """
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(diagnostic))


def find_chromium() -> str | None:
    """Chromium executable: ``FRAGILITY_CHROMIUM``, else ``chromium`` on the ``PATH``.

    Returns
    -------
    str or None
        Path of the executable, or None when none is found.
    """
    explicit = os.environ.get("FRAGILITY_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _print_pdf(html: Path, pdf: Path, *, timeout: float = 180.0) -> Path:
    chromium = find_chromium()
    if chromium is None:
        raise ConfigError(
            "Chromium introuvable pour produire le PDF : installez-le (apt-get install "
            "chromium) ou indiquez son chemin dans la variable FRAGILITY_CHROMIUM."
        )
    with tempfile.TemporaryDirectory(prefix="fragility-chromium-") as profile, \
            atomic_path(pdf) as tmp:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps",
            f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={tmp}", html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ConfigError(
                f"Chromium n'a pas pu produire le PDF ({chromium}) : {error}."
            ) from error
        if not tmp.is_file() or tmp.stat().st_size == 0:
            detail = (done.stderr or "").strip().splitlines()[-1:] or [""]
            raise ConfigError(
                f"Chromium n'a pas produit le PDF (code {done.returncode}) : {detail[0]}"
            )
    return pdf


def write_report(diagnostic, path, *, pdf: bool = False) -> Path:
    """Write the diagnostic report (``diagnostic.html``, and its PDF when asked).

    Parameters
    ----------
    diagnostic : Diagnostic
        The result of :func:`fragility.diagnose.diagnose`.
    path : str or os.PathLike
        The HTML file to write (e.g. ``out / "diagnostic.html"``); an existing folder
        gets ``diagnostic.html`` inside. Written atomically.
    pdf : bool, default False
        Also print the page to PDF with headless Chromium, beside the HTML, with the
        suffix ``.pdf``.

    Returns
    -------
    pathlib.Path
        The HTML file written.

    Raises
    ------
    ConfigError
        ``pdf=True`` and no Chromium is available (or it failed).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "diagnostic.html"
    html = render_report(diagnostic)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(html)
    if pdf:
        _print_pdf(path, path.with_suffix(".pdf"))
    return path
