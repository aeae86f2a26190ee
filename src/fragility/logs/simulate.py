"""Realistic synthetic mediation exports, with a planted truth.

:func:`simulate_export` writes what a French mediation structure's reporting tool or
spreadsheet would export for a territory: French headers, ``dd/mm/yyyy`` dates, registres
written as people write them, locations as an IRIS code, a commune code or GPS
coordinates, a share of messy rows (impossible dates, unknown registres, malformed
codes, swapped coordinates, exact duplicates...) and free-text comments in which phone
numbers, e-mails, social security numbers (NIR) and names are planted, so that the
importer's guards are exercised. Everything is fake: names are drawn from lists, phone
numbers from the blocks the Arcep reserves for fiction, e-mails from the ``example.*``
domains (RFC 2606), NIRs at random (with a valid key).

Contacts are driven by need and by where teams work. Each IRIS gets an intensity
proportional to population x need (poverty rate, QPV share, elderly people living alone,
one-person households) x team presence (the teams work from 2 or 3 bases, France services
or QPV IRIS, and their presence decays with distance). Optionally, a few high-need IRIS
are *planted* as under-served: they get about 15 % of their expected contacts. The truth
(intensity, planted IRIS, contacts drawn) is returned alongside the export, so that
under-served detection can be tested against it.

:func:`write_export` writes the export as a French spreadsheet would: Windows-1252,
``;`` separators, CRLF line ends (or an ``.xlsx`` workbook).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragility._files import atomic_path, atomic_write
from fragility.errors import InputError
from fragility.logs.schema import REGISTRES, THEMATIQUES, VOCABULARIES, fold

__all__ = [
    "COLUMNS",
    "DEFECTS",
    "LOCATION_SHARES",
    "SimulatedExport",
    "simulate_export",
    "write_export",
]

#: Headers of the simulated export, in order.
COLUMNS = (
    "Date de l'intervention",
    "Registre d'intervention",
    "Thématique",
    "Code IRIS",
    "Code commune",
    "Latitude",
    "Longitude",
    "QPV",
    "Tranche d'âge",
    "Sexe",
    "Orientation vers",
    "Suivi",
    "Mode de gestion du conflit",
    "Type de non-recours",
    "Base de localisation",
    "Identifiant usager",
    "Médiateur",
    "Nom",
    "Prénom",
    "Téléphone",
    "Commentaire",
)

#: How conflicts are handled (registre ``gestion_conflits`` only).
_CONFLICT_MODE_WEIGHTS = {"prevention": 0.35, "temps_reel": 0.40, "temps_differe_navette": 0.15,
                          "temps_differe_table_ronde": 0.10}
_CONFLICT_MODE_CODES = list(_CONFLICT_MODE_WEIGHTS)

#: Planted defects: kind -> French description.
DEFECTS = {
    "date_impossible": "date impossible (31/02, 31/04, mois 13...)",
    "date_future": "date dans le futur (année mal saisie)",
    "registre_inconnu": "registre d'intervention hors des 8 registres",
    "iris_hors_territoire": "code IRIS bien formé mais hors du territoire",
    "code_mal_forme": "code IRIS ou code commune mal formé",
    "coordonnees_hors_france": "coordonnées hors de France",
    "lat_lon_inversees": "latitude et longitude inversées",
    "doublon_exact": "doublon exact de la ligne précédente",
    "sans_localisation": "aucune localisation (ni IRIS, ni commune, ni QPV, ni coordonnées)",
}

#: Defects of the location: the row keeps no other usable location.
_LOCATION_DEFECTS = ("iris_hors_territoire", "code_mal_forme", "coordonnees_hors_france",
                     "lat_lon_inversees", "sans_localisation")

#: Share of the planted defects, by kind (of ``messy_share * n`` rows).
_DEFECT_WEIGHTS = {
    "iris_hors_territoire": 0.10,
    "code_mal_forme": 0.12,
    "coordonnees_hors_france": 0.08,
    "lat_lon_inversees": 0.08,
    "sans_localisation": 0.10,
    "date_impossible": 0.12,
    "date_future": 0.08,
    "registre_inconnu": 0.12,
    "doublon_exact": 0.20,
}

#: Fixed-date public holidays (few interventions on those days).
_FIXED_HOLIDAYS = ("01/01", "01/05", "08/05", "14/07", "15/08", "01/11", "11/11", "25/12")

#: Share of rows located by each kind of location.
LOCATION_SHARES = {"iris": 0.60, "commune": 0.15, "coordonnees": 0.25}

#: Share of the expected contacts a planted under-served IRIS gets.
UNDER_SERVED_FACTOR = 0.15

# --------------------------------------------------------------------------------------
# Vocabularies as written in exports
# --------------------------------------------------------------------------------------

_REGISTRE_CODES = list(REGISTRES)
_THEMATIQUE_CODES = list(THEMATIQUES)
_AGE_CODES = ["0_17", "18_24", "25_39", "40_59", "60_74", "75_plus", "inconnu"]
_SEX_CODES = ["F", "M", "inconnu"]
_MENAGE_CODES = ["personne_seule", "couple_sans_enfant", "couple_avec_enfants",
                 "famille_monoparentale", "autre_ou_heberge", "inconnu"]
_PARTNER_CODES = list(VOCABULARIES["orientation_partenaire"])
_SUIVI_CODES = list(VOCABULARIES["suivi_statut"])
_NON_RECOURS_CODES = list(VOCABULARIES["non_recours_observe"])
_COLLECTIVE_REGISTRES = ("veille_sociale_technique", "concertation_habitants_institutions",
                         "projet_collectif")

#: Shortened forms of the official titles, as people write them (all match on meaning).
_REGISTRE_SHORT = {
    "presence_active": ("Présence active", "Présence active de proximité"),
    "levee_incomprehensions": ("Lever les incompréhensions", "Levée des incompréhensions"),
    "information_sensibilisation_formation": ("Information, sensibilisation",
                                              "Informer, sensibiliser, former"),
    "gestion_conflits": ("Gestion des conflits", "Gestion de conflits"),
    "veille_sociale_technique": ("Veille sociale et technique", "Veille technique"),
    "concertation_habitants_institutions": ("Faciliter la concertation",
                                            "Concertation habitants / institutions"),
    "mise_en_relation_partenaire": ("Mise en relation", "Mettre en relation avec un partenaire"),
    "projet_collectif": ("Projets collectifs", "Projet collectif"),
}

#: Values written in the registre column that are none of the 8 registres.
_UNKNOWN_REGISTRES = ("Médiation familiale", "Accueil", "Divers", "Permanence", "Animation",
                      "Réunion", "?", "Accompagnement scolaire")

_THEMATIQUE_WEIGHTS = {
    "acces_droits": 0.28, "sante": 0.08, "logement_habitat": 0.10, "emploi_insertion": 0.07,
    "numerique": 0.12, "education_scolarite": 0.05, "tranquillite_conflits": 0.08,
    "isolement_lien_social": 0.06, "energie_eau_budget": 0.06, "mobilite_transport": 0.03,
    "famille_parentalite": 0.05, "autre": 0.02,
}
#: Multipliers of the thematique weights for some persons (age band or living alone).
_THEMATIQUE_TILTS = {
    "0_17": {"education_scolarite": 6, "famille_parentalite": 2, "tranquillite_conflits": 2,
             "acces_droits": 0.3, "emploi_insertion": 0.3, "isolement_lien_social": 0.5},
    "18_24": {"emploi_insertion": 2.5, "education_scolarite": 1.5},
    "60_74": {"isolement_lien_social": 2, "sante": 1.3, "emploi_insertion": 0.3,
              "education_scolarite": 0.1, "famille_parentalite": 0.3},
    "75_plus": {"isolement_lien_social": 3, "sante": 1.5, "numerique": 1.3,
                "emploi_insertion": 0.05, "education_scolarite": 0.05,
                "famille_parentalite": 0.2},
    "personne_seule": {"isolement_lien_social": 1.8},
}

_REGISTRE_WEIGHTS_DEFAULT = {
    "presence_active": 0.10, "levee_incomprehensions": 0.18,
    "information_sensibilisation_formation": 0.22, "gestion_conflits": 0.03,
    "veille_sociale_technique": 0.03, "concertation_habitants_institutions": 0.02,
    "mise_en_relation_partenaire": 0.38, "projet_collectif": 0.04,
}
_REGISTRE_WEIGHTS = {
    "tranquillite_conflits": {"gestion_conflits": 0.55, "presence_active": 0.20,
                              "veille_sociale_technique": 0.10,
                              "concertation_habitants_institutions": 0.05,
                              "levee_incomprehensions": 0.05,
                              "mise_en_relation_partenaire": 0.05},
    "isolement_lien_social": {"presence_active": 0.35, "mise_en_relation_partenaire": 0.25,
                              "information_sensibilisation_formation": 0.15,
                              "projet_collectif": 0.15, "levee_incomprehensions": 0.10},
    "numerique": {"information_sensibilisation_formation": 0.45,
                  "levee_incomprehensions": 0.20, "mise_en_relation_partenaire": 0.25,
                  "projet_collectif": 0.10},
}

_PARTNERS_BY_THEME = {
    "acces_droits": {"caf": 3, "cpam": 3, "carsat": 1.5, "france_services": 2, "ccas": 1.5,
                     "msa": 0.5, "mdph": 0.7, "prefecture": 0.8},
    "sante": {"cpam": 3, "structure_sante_csapa_cmp": 2, "pmi": 1, "mdph": 0.7},
    "logement_habitat": {"bailleur": 4, "ccas": 1.5, "caf": 1, "mairie": 1},
    "emploi_insertion": {"france_travail": 4, "mission_locale": 2.5, "association": 1},
    "numerique": {"france_services": 3, "association": 2, "mairie": 1},
    "education_scolarite": {"education_nationale": 4, "association": 1, "pmi": 0.5},
    "tranquillite_conflits": {"police_municipale": 2, "mairie": 2, "bailleur": 2,
                              "conciliateur_justice": 1.5},
    "isolement_lien_social": {"ccas": 3, "association": 3, "mairie": 1},
    "energie_eau_budget": {"ccas": 3, "pimms": 2, "association": 1},
    "mobilite_transport": {"mairie": 2, "association": 2, "france_services": 1},
    "famille_parentalite": {"caf": 3, "pmi": 2, "association": 1},
    "autre": {"autre": 3, "mairie": 1},
}

_SUIVI_WEIGHTS = {
    "mise_en_relation_partenaire": {"orientee_vers_structure": 0.35, "demarche_en_cours": 0.25,
                                    "droit_ouvert_ou_demarche_finalisee": 0.15,
                                    "doit_revenir": 0.10, "a_finaliser_en_autonomie": 0.05,
                                    "perdu_de_vue": 0.04, "refus_ou_abandon_personne": 0.03,
                                    "non_eligible": 0.03},
    "individuel": {"droit_ouvert_ou_demarche_finalisee": 0.20, "demarche_en_cours": 0.20,
                   "a_finaliser_en_autonomie": 0.20, "doit_revenir": 0.15,
                   "orientee_vers_structure": 0.10, "sans_objet": 0.10,
                   "refus_ou_abandon_personne": 0.03, "non_eligible": 0.02},
    "autre": {"sans_objet": 0.60, "doit_revenir": 0.15, "demarche_en_cours": 0.10,
              "orientee_vers_structure": 0.10, "perdu_de_vue": 0.05},
}

_NON_RECOURS_WEIGHTS = {"non_connaissance": 0.45, "non_demande": 0.30, "non_reception": 0.15,
                        "non_proposition": 0.10}

# Fake identities (every string encodable in Windows-1252).
_FEMALE = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Christine", "Monique",
    "Nadia", "Fatima", "Samira", "Aïcha", "Khadija", "Yasmina", "Leïla", "Amina", "Mariam",
    "Aminata", "Fatoumata", "Awa", "Sandrine", "Valérie", "Céline", "Sophie", "Julie",
    "Camille", "Léa", "Chloé", "Inès", "Manon", "Sarah", "Emma", "Jeanne", "Josiane",
    "Ginette", "Yvette", "Odette", "Lucienne", "Hélène", "Élodie", "Aurélie", "Stéphanie",
    "Ana", "Maria", "Rosa", "Nour", "Lina", "Yasmine", "Océane", "Mélissa",
)
_MALE = (
    "Jean", "Pierre", "Michel", "André", "Philippe", "Alain", "Bernard", "Jacques", "Daniel",
    "Patrick", "Gérard", "René", "Roger", "Marcel", "Mohamed", "Ahmed", "Karim", "Rachid",
    "Mehdi", "Youssef", "Bilal", "Hamza", "Moussa", "Mamadou", "Ibrahima", "Souleymane",
    "Thomas", "Nicolas", "Julien", "Kevin", "Lucas", "Hugo", "Théo", "Nathan", "Enzo", "Adam",
    "Rayan", "Yanis", "Sébastien", "Stéphane", "Frédéric", "Jérôme", "José", "Manuel",
    "Antonio", "Luis", "Sylvain", "Cédric", "Olivier", "François",
)
_SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Benali",
    "Bensaïd", "Haddad", "Belkacem", "Mansouri", "Cherif", "Boukhari", "Amrani", "Rahmani",
    "Zerrouki", "Diallo", "Traoré", "Koné", "Camara", "Diop", "Ndiaye", "Sow", "Cissé", "Keïta",
    "Touré", "Pereira", "Da Silva", "Ferreira", "Rodrigues", "Fernandes", "Gonçalves",
    "Yilmaz", "Kaya", "Demir", "Nguyen", "Tran", "Pham", "Boyer", "Gaillard", "Barbier",
    "Arnaud", "Brun", "Roy", "Colin", "Vidal", "Caron", "Picard", "Lemaire", "Renaud",
    "Leclerc", "Noël", "Meyer",
)
#: The six blocks of 10 000 numbers the Arcep reserves for fiction (never assigned).
_PHONE_BLOCKS = ("01 99 00", "02 61 91", "03 53 01", "04 65 71", "05 36 49", "06 39 98")
_PHONE_BLOCK_WEIGHTS = (0.06, 0.06, 0.06, 0.06, 0.06, 0.70)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
#: Birth départements written in the fake NIRs (99 = born abroad).
_NIR_DEPARTEMENTS = ("21", "25", "39", "58", "71", "89", "75", "69", "13", "59", "93", "2A",
                     "2B", "99")
#: Communes outside any plausible demo territory, for "IRIS hors territoire".
_FOREIGN_COMMUNES = ("21231", "25056", "71076", "39300", "58194", "89024", "13201", "69381",
                     "75101", "33063")

_BENIGN_COMMENTS = (
    "Accompagnement dossier CAF", "Aide à la déclaration de revenus en ligne",
    "Dossier CSS en cours", "Création du compte Ameli", "Prise de rendez-vous France Travail",
    "Demande de logement social à renouveler", "Problème de voisinage, médiation à prévoir",
    "Personne isolée, à revoir le mois prochain",
    "Facture d'énergie impayée, échéancier demandé", "Explication d'un courrier de la CAF",
    "Orientée vers le CCAS pour une aide d'urgence", "Accompagnement physique à la CPAM",
    "Aide à la prise en main du téléphone", "Tension dans le hall, présence renforcée",
    "Dossier retraite incomplet", "Rappel des pièces justificatives à fournir",
    "Atelier numérique collectif", "Signalement d'un éclairage défaillant au bailleur",
    "Inscription scolaire à finaliser", "Demande de titre de séjour, orientation préfecture",
)
#: (prefix, suffix) around a planted identifier, by kind of identifier.
_PII_TEMPLATES = {
    "phone": (("Rappeler au ", ""), ("Joignable au ", " (sa fille)"), ("Tél : ", ""),
              ("A rappeler au ", " en fin de journée")),
    "email": (("Envoyer les documents à ", ""), ("mail : ", ""),
              ("Contact par courriel ", " pour le suivi")),
    "nir": (("NIR ", " pour le dossier CSS"), ("N° sécu : ", ""),
            ("Numéro de sécurité sociale ", " (carte Vitale perdue)")),
    "name": (("RDV avec ", ""), ("Vu avec ", " au local"), ("Venue avec ", ", à rappeler")),
}
_PII_KIND_WEIGHTS = {"phone": 0.35, "email": 0.20, "nir": 0.20, "name": 0.25}
_PII_SHARE = 0.20
_BENIGN_SHARE = 0.45

_TWO = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_THREE = np.array([f"{i:03d}" for i in range(1000)], dtype=object)


@dataclass(frozen=True)
class SimulatedExport:
    """Result of :func:`simulate_export`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The export as a structure would produce it: the columns of :data:`COLUMNS`, every
        value a Python ``str`` (object dtype, ``""`` when empty), one row per line of the
        file (row ``i`` is line ``i + 2`` of the written CSV, the header being line 1).
    truth : pandas.DataFrame
        One row per IRIS of the table, indexed by ``iris``: ``population``, ``need``
        (need index, 1 = typical IRIS), ``team_presence`` (0-1), ``team_base`` (bool),
        ``expected_contacts`` (the need- and presence-driven intensity, on the scale of
        the contacts drawn), ``planted_under_served`` (bool), ``simulated_contacts``
        (contacts drawn in the IRIS, defective rows included, duplicates excluded) and
        ``distinct_persons``.
    messy_lines : pandas.DataFrame
        One row per planted defect, sorted by line: ``line`` (line number in the written
        file, header = line 1), ``kind`` (a key of :data:`DEFECTS`) and ``column`` (the
        header of the defective cell, ``""`` for a duplicate or a missing location).
    planted_pii : list of str
        Every identifier string planted in the file, exactly as written: phone numbers
        (column "Téléphone" and comments), e-mails, NIRs and names written in comments,
        mediators' names. None of them may reach an output of the importer.
    seed : int
        The seed the export was drawn with.
    row_iris : pandas.Series
        The true IRIS of every row of ``frame`` (same index), whatever the row says
        (commune code, coordinates, a defect or nothing): to check that the importer
        locates each row where it happened.
    """

    frame: pd.DataFrame
    truth: pd.DataFrame
    messy_lines: pd.DataFrame
    planted_pii: list[str] = field(repr=False)
    seed: int
    row_iris: pd.Series = field(repr=False)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _strip_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _column(gdf, name: str) -> np.ndarray:
    if name in gdf.columns:
        return pd.to_numeric(gdf[name], errors="coerce").to_numpy(dtype=float)
    return np.full(len(gdf), np.nan)


def _fill(values: np.ndarray, default: float) -> np.ndarray:
    finite = values[np.isfinite(values)]
    fill = float(np.median(finite)) if finite.size else default
    return np.where(np.isfinite(values), values, fill)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out) & (den > 0), out, np.nan)


def _relative(values: np.ndarray, default: float) -> np.ndarray:
    values = _fill(values, default)
    median = float(np.median(values))
    return values / median if median > 0 else np.ones_like(values)


def _draw(rng: np.random.Generator, weights: dict[str, float], codes: list[str],
          size: int) -> np.ndarray:
    """Indices into ``codes`` drawn with the given weights (missing codes weigh 0)."""
    p = np.array([weights.get(code, 0.0) for code in codes], dtype=float)
    return rng.choice(len(codes), size=size, p=p / p.sum())


def _draw_rows(rng: np.random.Generator, cumulative: np.ndarray, group: np.ndarray) -> np.ndarray:
    """One category per row, row ``i`` drawn from the cumulative probabilities of its group."""
    u = rng.random(len(group))
    return (u[:, None] >= cumulative[group]).sum(axis=1).clip(0, cumulative.shape[1] - 1)


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by largest remainder, at least one per kind when there are enough."""
    kinds = list(weights)
    if total >= len(kinds):
        base = {k: 1 for k in kinds}
        rest = total - len(kinds)
    else:
        base = {k: 0 for k in kinds}
        rest = total
    w = np.array([weights[k] for k in kinds])
    raw = rest * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: rest - counts.sum()]:
        counts[i] += 1
    return {k: base[k] + int(c) for k, c in zip(kinds, counts, strict=True)}


def _parse_day(value, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except (TypeError, ValueError) as exc:
        raise InputError(f"date illisible : « {value} ».", field=name) from exc


def _phone_strings(block: np.ndarray, last: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Fiction phone numbers, in four usual ways of writing them."""
    blocks = np.array(_PHONE_BLOCKS, dtype=object)[block]
    hi, lo = _TWO[last // 100], _TWO[last % 100]
    spaced = blocks + " " + hi + " " + lo
    compact = np.array([b.replace(" ", "") for b in _PHONE_BLOCKS], dtype=object)[block] + hi + lo
    dotted = np.array([b.replace(" ", ".") for b in _PHONE_BLOCKS], dtype=object)[block]
    dotted = dotted + "." + hi + "." + lo
    intl = np.array(["+33 " + b[1:] for b in _PHONE_BLOCKS], dtype=object)[block]
    intl = intl + " " + hi + " " + lo
    return np.choose(style, [spaced, compact, dotted, intl])


def _nir_strings(rng: np.random.Generator, sex: np.ndarray, age: np.ndarray,
                 year: int) -> np.ndarray:
    """Fake NIRs with a valid key (97 - number mod 97; 2A -> 19, 2B -> 18), some spaced."""
    size = len(sex)
    sex_digit = np.where(sex == 0, 2, np.where(sex == 1, 1, rng.integers(1, 3, size)))
    low = np.array([0, 18, 25, 40, 60, 75, 18])[age]
    high = np.array([17, 24, 39, 59, 74, 95, 80])[age]
    birth_year = year - rng.integers(low, high + 1)
    yy = birth_year % 100
    mm = rng.integers(1, 13, size)
    dep_idx = rng.integers(0, len(_NIR_DEPARTEMENTS), size)
    dep = np.array(_NIR_DEPARTEMENTS, dtype=object)[dep_idx]
    dep_num = np.array([19 if d == "2A" else 18 if d == "2B" else int(d)
                        for d in _NIR_DEPARTEMENTS])[dep_idx]
    commune = rng.integers(1, 991, size)
    order = rng.integers(1, 1000, size)
    number = (sex_digit.astype(np.int64) * 10**12 + yy * 10**10 + mm * 10**8 + dep_num * 10**6
              + commune * 10**3 + order)
    key = 97 - number % 97
    parts = [sex_digit.astype(str).astype(object), _TWO[yy], _TWO[mm], dep, _THREE[commune],
             _THREE[order], _TWO[key]]
    compact = parts[0] + parts[1] + parts[2] + parts[3] + parts[4] + parts[5] + parts[6]
    spaced = (parts[0] + " " + parts[1] + " " + parts[2] + " " + parts[3] + " " + parts[4]
              + " " + parts[5] + " " + parts[6])
    return np.where(rng.random(size) < 0.5, compact, spaced)


def _points_in(poly, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``k`` points drawn uniformly inside a polygon (rejection sampling, vectorised)."""
    import shapely

    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    frac = max(poly.area / max((maxx - minx) * (maxy - miny), 1e-9), 0.02)
    xs, ys, got = [], [], 0
    while got < k:
        m = int((k - got) / frac * 1.25) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:k], np.concatenate(ys)[:k]


def _row_key(frame: dict[str, np.ndarray], columns) -> np.ndarray:
    """A 64-bit hash of some columns of each row (equal rows have equal keys)."""
    key = np.zeros(len(frame[columns[0]]), dtype=np.uint64)
    for column in columns:
        key = key * np.uint64(1099511628211) ^ pd.util.hash_array(frame[column],
                                                                   categorize=False)
    return key


def _duplicated(frame: dict[str, np.ndarray], key: np.ndarray) -> np.ndarray:
    """Exact-duplicate flags of the rows (first occurrence not flagged).

    Only the rows sharing a ``key`` (hash of a few discriminating columns) with another
    row are compared on every column.
    """
    flags = np.zeros(len(key), dtype=bool)
    group = np.flatnonzero(pd.Series(key).duplicated(keep=False).to_numpy())
    if group.size:
        subset = pd.DataFrame({column: values[group] for column, values in frame.items()},
                              dtype=object)
        flags[group] = subset.duplicated().to_numpy()
    return flags


def _format_coordinates(values: np.ndarray, decimal: str) -> np.ndarray:
    if values.size == 0:
        return np.empty(0, dtype=object)
    text = np.char.mod("%.6f", values)
    if decimal != ".":
        text = np.char.replace(text, ".", decimal)
    return text.astype(object)


# --------------------------------------------------------------------------------------
# Need, team presence, expected contacts
# --------------------------------------------------------------------------------------


def _need_frame(gdf, rng: np.random.Generator) -> pd.DataFrame:
    population = np.nan_to_num(_column(gdf, "population"), nan=0.0).clip(min=0.0)
    poverty = _relative(_column(gdf, "DISP_TP60"), 15.0)
    qpv = np.nan_to_num(_column(gdf, "qpv_share"), nan=0.0).clip(0.0, 1.0)
    elderly_alone = _relative(_ratio(_column(gdf, "P_POP80P_PSEUL"), population), 0.03)
    one_person = _relative(_ratio(_column(gdf, "C_MENPSEUL"), _column(gdf, "C_MEN")), 0.35)
    need = (poverty * (1.0 + 1.5 * qpv) * (0.75 + 0.25 * elderly_alone)
            * (0.8 + 0.2 * one_person)).clip(0.2, 6.0)

    # Team bases: France services IRIS (the nearest IRIS to each structure, within 2 km)
    # and IRIS mostly in a QPV.
    points = gdf.geometry.representative_point()
    px, py = points.x.to_numpy(), points.y.to_numpy()
    candidates = set(np.flatnonzero(qpv >= 0.5).tolist())
    if "fs_distance_m" in gdf.columns and "fs_nearest" in gdf.columns:
        fs = pd.DataFrame({"d": _column(gdf, "fs_distance_m"),
                           "name": gdf["fs_nearest"].to_numpy(), "i": np.arange(len(gdf))})
        fs = fs[fs["d"].notna() & fs["name"].notna() & (fs["d"] <= 2000)]
        candidates |= set(fs.sort_values(["d", "i"]).groupby("name")["i"].first().tolist())
    candidates = sorted(c for c in candidates if population[c] > 0)
    if not candidates:
        candidates = np.argsort(-population, kind="stable")[:5].tolist()
    n_bases = min(int(rng.integers(2, 4)), len(candidates))
    score = np.array([population[c] * need[c] for c in candidates], dtype=float) + 1e-9
    bases = np.sort(rng.choice(candidates, size=n_bases, replace=False, p=score / score.sum()))

    dist = np.hypot(px[:, None] - px[bases][None, :], py[:, None] - py[bases][None, :])
    minx, miny, maxx, maxy = gdf.total_bounds
    scale = max(2000.0, 0.12 * float(np.hypot(maxx - minx, maxy - miny)))
    presence = 0.15 + 0.85 * np.exp(-dist.min(axis=1) / scale)
    return pd.DataFrame(
        {
            "population": population,
            "need": need,
            "team_presence": presence,
            "team_base": np.isin(np.arange(len(gdf)), bases),
            # Activity (A) and miscellaneous (D) IRIS are never planted: under-served
            # detection does not assess them.
            "residential": ~(gdf["iris_type"].isin(["A", "D"]).to_numpy()
                             if "iris_type" in gdf.columns else np.zeros(len(gdf), bool)),
            "nearest_base": dist.argmin(axis=1),
            "intensity": population * need * presence,
        },
        index=pd.Index(gdf.index.astype(str), name="iris"),
    )


def _plant_under_served(truth: pd.DataFrame, k: int, rng: np.random.Generator) -> np.ndarray:
    planted = np.zeros(len(truth), dtype=bool)
    if k == 0:
        return planted
    eligible = np.flatnonzero((truth["intensity"].to_numpy() > 0)
                              & ~truth["team_base"].to_numpy()
                              & truth["residential"].to_numpy())
    if k > len(eligible):
        raise InputError(
            f"impossible de planter {k} IRIS sous-desservis : seuls {len(eligible)} IRIS "
            "résidentiels habités hors des bases des équipes."
        )
    need = truth["need"].to_numpy()[eligible]
    ranked = eligible[np.argsort(-need, kind="stable")]
    pool = ranked[: max(2 * k, int(np.ceil(0.4 * len(eligible))))]
    planted[rng.choice(pool, size=k, replace=False)] = True
    return planted


# --------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------


def simulate_export(
    table,
    *,
    n: int = 20000,
    seed: int = 0,
    messy_share: float = 0.03,
    planted_under_served: int = 0,
    coverage: str = "teams",
    start: str = "2024-01",
    months: int = 12,
    today: str | dt.date | None = None,
    decimal: str = ",",
) -> SimulatedExport:
    """Simulate a mediation structure's activity export for a territory.

    Parameters
    ----------
    table : IrisTable or geopandas.GeoDataFrame
        The IRIS table of the territory (:func:`fragility.iris_table.build_iris_table`),
        or its ``gdf``: IRIS contours in a projected CRS with ``commune``,
        ``population``, ``DISP_TP60``, ``qpv_share``, ``qpv_codes``, ``fs_distance_m``...
        (missing variables fall back to neutral values).
    n : int, default 20000
        Rows of the export, planted duplicates included.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed and table give the same
        export, byte for byte once written.
    messy_share : float, default 0.03
        Share of the rows carrying a planted defect (one defect per row, see
        :data:`DEFECTS`); duplicates are extra copies of clean rows.
    planted_under_served : int, default 0
        Number of high-need IRIS given only ~15 % of their expected contacts.
    coverage : {"teams", "proportional"}, default "teams"
        How contacts spread over the IRIS. ``"teams"``: population x need x team
        presence (decaying with the distance to the teams' bases) x a gamma noise (sd
        about 30 %), as a real service would. ``"proportional"``: exactly proportional to
        population x need (no team effect, no extra noise, only the multinomial draw),
        the null case of under-served detection.
    start : str, default "2024-01"
        First month of the period (``YYYY-MM``).
    months : int, default 12
        Length of the period in months.
    today : str or datetime.date, optional
        Day the export is made: no regular date after it. Defaults to the last day of
        the period. Planted future dates are at least 10 years after it.
    decimal : str, default ","
        Decimal separator of the coordinates (a French spreadsheet writes ``,``).

    Returns
    -------
    SimulatedExport

    Raises
    ------
    InputError
        On an invalid argument or a table without any inhabited IRIS.

    Examples
    --------
    >>> table = build_iris_table(Territory.demo())  # doctest: +SKIP
    >>> sim = simulate_export(table, n=5000, seed=1, planted_under_served=3)  # doctest: +SKIP
    >>> write_export(sim, "export.csv")  # doctest: +SKIP
    """
    gdf = getattr(table, "gdf", table)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"nombre de lignes invalide : {n} (au moins 1).", field="n")
    if not 0 <= messy_share < 0.5:
        raise InputError(f"part de lignes défectueuses invalide : {messy_share} (0 à 0,5).",
                         field="messy_share")
    if not isinstance(months, (int, np.integer)) or months < 1:
        raise InputError(f"nombre de mois invalide : {months}.", field="months")
    if planted_under_served < 0:
        raise InputError("nombre d'IRIS sous-desservis négatif.", field="planted_under_served")
    if coverage not in ("teams", "proportional"):
        raise InputError(f"mode de couverture inconnu : « {coverage} » (teams, proportional).",
                         field="coverage")
    if not re.fullmatch(r"(19|20)\d{2}-(0[1-9]|1[0-2])", str(start)):
        raise InputError(f"mois de début invalide : « {start} » (attendu AAAA-MM).",
                         field="start")
    if gdf is None or len(gdf) == 0 or gdf.crs is None or not gdf.crs.is_projected:
        raise InputError("table IRIS vide ou sans système de coordonnées projeté.")
    n = int(n)
    rng = np.random.default_rng(seed)

    # Period ---------------------------------------------------------------------------
    first = pd.Timestamp(f"{start}-01")
    last = first + pd.DateOffset(months=int(months)) - pd.Timedelta(days=1)
    reference = last if today is None else _parse_day(today, "today")
    if reference < first:
        raise InputError(f"date du jour ({reference:%d/%m/%Y}) antérieure au début de la "
                         "période.", field="today")
    days = pd.date_range(first, min(last, reference), freq="D")
    day_weight = np.array([1, 1, 1, 1, 0.9, 0.25, 0.02])[days.day_of_week]
    day_weight = day_weight * np.where(days.month == 8, 0.55, 1.0)
    holiday = pd.Index(days.strftime("%d/%m")).isin(_FIXED_HOLIDAYS)
    day_weight = np.where(holiday, 0.02, day_weight)
    day_text = np.array(days.strftime("%d/%m/%Y"), dtype=object)

    # Messy rows -----------------------------------------------------------------------
    counts = _allocate(round(messy_share * n), _DEFECT_WEIGHTS)
    n_dup = min(counts.pop("doublon_exact"), n // 2)
    n_base = n - n_dup

    # Intensity per IRIS ---------------------------------------------------------------
    truth = _need_frame(gdf, rng)
    if coverage == "proportional":
        truth["team_presence"] = 1.0
        truth["intensity"] = truth["population"] * truth["need"]
    if truth["intensity"].sum() <= 0:
        raise InputError("aucun IRIS habité : impossible de simuler des contacts.")
    planted = _plant_under_served(truth, int(planted_under_served), rng)
    factor = np.where(planted, UNDER_SERVED_FACTOR, 1.0)
    intensity = truth["intensity"].to_numpy()
    expected = intensity * n_base / float((intensity * factor).sum())
    noise = rng.gamma(10.0, 0.1, len(truth)).clip(0.4, 2.5)
    if coverage == "proportional":
        noise = np.ones(len(truth))
    p = expected * factor * noise
    contacts = rng.multinomial(n_base, p / p.sum())
    k_iris = len(truth)

    # Persons: a pool per IRIS, repeat visits ---------------------------------------------
    pool = np.where(contacts > 0,
                    np.minimum(np.ceil(1.2 * contacts),
                               np.maximum(1, np.round(0.9 * truth["population"].to_numpy()))),
                    0).astype(np.int64)
    pool_start = np.concatenate([[0], np.cumsum(pool)[:-1]])
    n_persons = int(pool.sum())
    person_iris = np.repeat(np.arange(k_iris), pool)
    weight = rng.gamma(1.0, 1.0, n_persons) + 1e-6
    cum = np.cumsum(weight)
    seg_lo = np.concatenate([[0.0], cum])[pool_start]
    seg_hi = cum[np.minimum(pool_start + np.maximum(pool, 1) - 1, n_persons - 1)]

    row_iris = np.repeat(np.arange(k_iris), contacts)
    u = seg_lo[row_iris] + rng.random(n_base) * (seg_hi - seg_lo)[row_iris]
    person = np.searchsorted(cum, u, side="right")
    person = np.clip(person, pool_start[row_iris], pool_start[row_iris] + pool[row_iris] - 1)
    row_day = rng.choice(len(days), size=n_base, p=day_weight / day_weight.sum())
    order = np.lexsort((rng.random(n_base), row_day))  # exports are sorted by date
    row_iris, person, row_day = row_iris[order], person[order], row_day[order]

    persons = _persons(gdf, person_iris, rng, reference.year)

    # Contact content ------------------------------------------------------------------
    age = persons["age"][person]
    alone = persons["menage"][person] == 0
    tilt_group = np.where(alone, len(_AGE_CODES), age)
    cum_theme = []
    for g in range(len(_AGE_CODES) + 1):
        w = dict(_THEMATIQUE_WEIGHTS)
        tilts = (_THEMATIQUE_TILTS.get("personne_seule", {}) if g == len(_AGE_CODES)
                 else _THEMATIQUE_TILTS.get(_AGE_CODES[g], {}))
        for code, mult in tilts.items():
            w[code] *= mult
        p_theme = np.array([w[c] for c in _THEMATIQUE_CODES])
        cum_theme.append(np.cumsum(p_theme / p_theme.sum()))
    theme = _draw_rows(rng, np.array(cum_theme), tilt_group)

    cum_reg = []
    for code in _THEMATIQUE_CODES:
        w = _REGISTRE_WEIGHTS.get(code, _REGISTRE_WEIGHTS_DEFAULT)
        p_reg = np.array([w.get(c, 0.0) for c in _REGISTRE_CODES])
        cum_reg.append(np.cumsum(p_reg / p_reg.sum()))
    registre = _draw_rows(rng, np.array(cum_reg), theme)
    has_person = ~np.isin(registre, [_REGISTRE_CODES.index(c) for c in _COLLECTIVE_REGISTRES])

    frame = {}
    frame["Date de l'intervention"] = day_text[row_day]
    frame["Registre d'intervention"] = _write_registres(rng, registre)
    frame["Thématique"] = np.array([THEMATIQUES[c] for c in _THEMATIQUE_CODES],
                                   dtype=object)[theme]

    # Location ---------------------------------------------------------------------------
    location = rng.choice(3, size=n_base, p=list(LOCATION_SHARES.values()))
    iris_codes = truth.index.to_numpy(dtype=object)
    communes = gdf["commune"].astype(str).to_numpy(dtype=object)
    frame["Code IRIS"] = np.where(location == 0, iris_codes[row_iris], "")
    frame["Code commune"] = np.where(location == 1, communes[row_iris], "")
    lat = np.full(n_base, "", dtype=object)
    lon = np.full(n_base, "", dtype=object)
    coord_rows = np.flatnonzero(location == 2)
    if coord_rows.size:
        lat[coord_rows], lon[coord_rows] = _coordinates(gdf, row_iris[coord_rows], rng,
                                                        decimal)
    frame["Latitude"], frame["Longitude"] = lat, lon
    qpv_share = np.nan_to_num(_column(gdf, "qpv_share"), nan=0.0)
    qpv_codes = (gdf["qpv_codes"].fillna("").astype(str) if "qpv_codes" in gdf.columns
                 else pd.Series("", index=gdf.index))
    qpv_code = np.array([c.split(",")[0].strip() if s >= 0.5 else ""
                         for c, s in zip(qpv_codes, qpv_share, strict=True)], dtype=object)
    frame["QPV"] = np.where(rng.random(n_base) < 0.9, qpv_code[row_iris], "")

    # Person columns ---------------------------------------------------------------------
    age_labels = np.array([VOCABULARIES["age_band"][c] for c in _AGE_CODES], dtype=object)
    sex_labels = np.array([VOCABULARIES["sexe"][c] for c in _SEX_CODES], dtype=object)
    frame["Tranche d'âge"] = np.where(has_person, age_labels[age], "")
    frame["Sexe"] = np.where(has_person, sex_labels[persons["sex"][person]], "")
    frame["Orientation vers"] = _write_partners(rng, theme, registre)
    frame["Suivi"] = _write_suivi(rng, registre, has_person)
    # Own generator: adding this column left every other column as it was.
    conflict_rng = np.random.default_rng([seed, 7301])
    mode_labels = np.array([VOCABULARIES["conflit_mode"][c] for c in _CONFLICT_MODE_CODES],
                           dtype=object)
    mode = _draw(conflict_rng, _CONFLICT_MODE_WEIGHTS, _CONFLICT_MODE_CODES, n_base)
    frame["Mode de gestion du conflit"] = np.where(
        registre == _REGISTRE_CODES.index("gestion_conflits"), mode_labels[mode], "")
    nr_labels = np.array([VOCABULARIES["non_recours_observe"][c] for c in _NON_RECOURS_CODES],
                         dtype=object)
    nr_share = np.where(theme == _THEMATIQUE_CODES.index("acces_droits"), 0.30, 0.06)
    nr = _draw(rng, _NON_RECOURS_WEIGHTS, _NON_RECOURS_CODES, n_base)
    frame["Type de non-recours"] = np.where(has_person & (rng.random(n_base) < nr_share),
                                            nr_labels[nr], "")
    basis = rng.random(n_base) < np.where(location == 2, 0.8, 0.25)
    frame["Base de localisation"] = np.where(
        basis, VOCABULARIES["geo_basis"]["lieu_intervention"],
        VOCABULARIES["geo_basis"]["residence"])
    frame["Identifiant usager"] = np.where(has_person, persons["id"][person], "")

    mediators, team_start, team_size = _mediators(rng, int(truth["team_base"].sum()))
    base_of_row = truth["nearest_base"].to_numpy()[row_iris]
    in_team = team_start[base_of_row] + (rng.random(n_base) * team_size[base_of_row]).astype(int)
    anyone = rng.integers(0, len(mediators), n_base)
    frame["Médiateur"] = mediators[np.where(rng.random(n_base) < 0.85, in_team, anyone)]
    named = has_person & persons["gives_name"][person]
    frame["Nom"] = np.where(named, persons["last"][person], "")
    frame["Prénom"] = np.where(named, persons["first"][person], "")
    phoned = has_person & persons["gives_phone"][person]
    frame["Téléphone"] = np.where(phoned, persons["phone"][person], "")
    comment, comment_pii = _comments(rng, persons, person, has_person)
    frame["Commentaire"] = comment

    # Defects ---------------------------------------------------------------------------
    frame = {column: np.asarray(values, dtype=object) for column, values in frame.items()}
    used = np.zeros(n_base, dtype=bool)
    defects: list[tuple[np.ndarray, str, object]] = []
    carry = 0  # defects a pool could not take go to the next kind
    year_of_row = days.year.to_numpy()[row_day]
    pools = {
        "iris_hors_territoire": location == 0,
        "code_mal_forme": location <= 1,
        "coordonnees_hors_france": location == 2,
        "lat_lon_inversees": location == 2,
        "sans_localisation": np.ones(n_base, dtype=bool),
        "date_impossible": np.ones(n_base, dtype=bool),
        "date_future": np.ones(n_base, dtype=bool),
        "registre_inconnu": np.ones(n_base, dtype=bool),
    }
    for kind, eligible in pools.items():
        want = counts[kind] + carry
        free = np.flatnonzero(eligible & ~used)
        take = min(want, free.size)
        carry = want - take
        rows = np.sort(rng.choice(free, size=take, replace=False)) if take else free[:0]
        if not take:
            continue
        used[rows] = True
        if kind != "sans_localisation" and kind in _LOCATION_DEFECTS:
            frame["QPV"][rows] = ""  # the defective location is the row's only one
        column = _plant(kind, rows, frame, location, year_of_row, reference, iris_codes,
                        communes, rng, decimal)
        defects.append((rows, kind, column))

    # No accidental duplicate: only the planted copies may be exact duplicates.
    all_mediators = np.arange(len(mediators))
    static_key = _row_key(frame, ("Date de l'intervention", "Identifiant usager",
                                  "Commentaire", "Latitude"))
    for _ in range(50):
        key = static_key * np.uint64(1099511628211) ^ _row_key(frame, ("Médiateur",))
        accidental = np.flatnonzero(_duplicated(frame, key))
        if accidental.size == 0:
            break
        frame["Médiateur"][accidental] = mediators[rng.choice(all_mediators, accidental.size)]
        frame["Base de localisation"][accidental] = np.where(
            rng.random(accidental.size) < 0.5, VOCABULARIES["geo_basis"]["residence"],
            VOCABULARIES["geo_basis"]["lieu_intervention"])

    # Duplicates: exact copies of clean rows, right after their original.
    clean = np.flatnonzero(~used)
    n_dup = min(n_dup, clean.size)
    sources = np.sort(rng.choice(clean, size=n_dup, replace=False)) if n_dup else clean[:0]
    keys = np.concatenate([np.arange(n_base) * 2, sources * 2 + 1])
    take_rows = np.concatenate([np.arange(n_base), sources])[np.argsort(keys, kind="stable")]
    shift = np.searchsorted(sources, np.arange(n_base), side="left")  # copies before a row
    final = pd.DataFrame({c: frame[c][take_rows] for c in COLUMNS}, dtype=object)

    messy = [pd.DataFrame({"line": rows + shift[rows] + 2, "kind": kind, "column": column})
             for rows, kind, column in defects]
    copy_line = sources + np.arange(n_dup) + 1 + 2
    messy.append(pd.DataFrame({"line": copy_line, "kind": "doublon_exact", "column": ""}))
    messy_lines = (pd.concat(messy, ignore_index=True)
                   .astype({"line": np.int64, "kind": object, "column": object})
                   .sort_values("line", kind="stable").reset_index(drop=True))

    # Truth --------------------------------------------------------------------------------
    persons_seen = np.unique(person[has_person])
    distinct = np.bincount(person_iris[persons_seen], minlength=k_iris)
    truth_out = truth[["population", "need", "team_presence", "team_base"]].copy()
    truth_out["expected_contacts"] = expected
    truth_out["planted_under_served"] = planted
    truth_out["simulated_contacts"] = contacts.astype(np.int64)
    truth_out["distinct_persons"] = distinct.astype(np.int64)

    planted_pii = set(comment_pii)
    planted_pii.update(v for v in np.unique(frame["Téléphone"]) if v)
    planted_pii.update(mediators.tolist())
    return SimulatedExport(
        frame=final,
        truth=truth_out,
        messy_lines=messy_lines,
        planted_pii=sorted(planted_pii),
        seed=seed,
        row_iris=pd.Series(iris_codes[row_iris[take_rows]], name="iris").astype(str),
    )


def _persons(gdf, person_iris: np.ndarray, rng: np.random.Generator, year: int) -> dict:
    """Attributes and fake identities of the pool of persons (one entry per person)."""
    size = len(person_iris)
    pop = np.nan_to_num(_column(gdf, "population"), nan=0.0)

    def col(name):
        return np.nan_to_num(_column(gdf, name), nan=0.0).clip(min=0.0)

    minors = col("P_POP0002") + col("P_POP0305") + col("P_POP0610") + col("P_POP1117")
    bands = np.column_stack([minors, col("P_POP1824"), col("P_POP2539"), np.zeros_like(pop),
                             col("P_POP6074"), col("P_POP75P")])
    bands[:, 3] = (pop - bands.sum(axis=1)).clip(min=0.0)
    national = np.array([0.21, 0.08, 0.17, 0.26, 0.17, 0.11])
    bands = np.where(bands.sum(axis=1, keepdims=True) > 0, bands, national)
    usage = np.array([0.3, 1.0, 1.2, 1.2, 1.0, 1.3])  # who comes to mediators
    p_age = bands * usage
    p_age = np.column_stack([0.95 * p_age / p_age.sum(axis=1, keepdims=True),
                             np.full(len(pop), 0.05)])
    age = _draw_rows(rng, np.cumsum(p_age, axis=1), person_iris)

    sex = rng.choice(3, size=size, p=[0.58, 0.40, 0.02])

    men = np.column_stack([col("C_MENPSEUL"), col("C_MENCOUPSENF"), col("C_MENCOUPAENF"),
                           col("C_MENFAMMONO")])
    other = (col("C_MEN") - men.sum(axis=1)).clip(min=0.0)
    men = np.column_stack([men, other])
    men = np.where(men.sum(axis=1, keepdims=True) > 0, men,
                   np.array([0.38, 0.25, 0.22, 0.10, 0.05]))
    men = np.column_stack([0.9 * men / men.sum(axis=1, keepdims=True),
                           np.full(len(pop), 0.1)])
    menage = _draw_rows(rng, np.cumsum(men, axis=1), person_iris)
    elderly_alone = _fill(_ratio(col("P_POP80P_PSEUL"), col("P_POP80P")), 0.45)
    old = age == _AGE_CODES.index("75_plus")
    menage = np.where(old & (rng.random(size) < elderly_alone[person_iris]), 0, menage)

    female = np.array(_FEMALE, dtype=object)
    male = np.array(_MALE, dtype=object)
    is_female = (sex == 0) | ((sex == 2) & (rng.random(size) < 0.5))
    first_idx = rng.integers(0, max(len(female), len(male)), size)
    first = np.where(is_female, female[first_idx % len(female)], male[first_idx % len(male)])
    last_idx = rng.integers(0, len(_SURNAMES), size)
    last = np.array(_SURNAMES, dtype=object)[last_idx]

    block = rng.choice(len(_PHONE_BLOCKS), size=size, p=_PHONE_BLOCK_WEIGHTS)
    number = rng.integers(0, 10000, size)
    phone_style = rng.choice(4, size=size, p=[0.55, 0.25, 0.12, 0.08])
    phone = _phone_strings(block, number, phone_style)

    first_fold = np.array([fold(x).replace(" ", "") for x in _FEMALE + _MALE], dtype=object)
    last_fold = np.array([fold(x).replace(" ", "") for x in _SURNAMES], dtype=object)
    first_key = np.where(is_female, first_idx % len(female), len(female) + first_idx % len(male))
    suffix = np.where(rng.random(size) < 0.5, "", _TWO[rng.integers(0, 100, size)])
    domain = np.array(_EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(_EMAIL_DOMAINS), size)]
    email = first_fold[first_key] + "." + last_fold[last_idx] + suffix + "@" + domain

    width = max(5, len(str(size)))
    ids = np.array([f"U{i:0{width}d}" for i in range(1, size + 1)], dtype=object)
    ids = ids[rng.permutation(size)]

    return {
        "age": age,
        "sex": sex,
        "menage": menage,
        "first": first,
        "last": last,
        "phone": phone,
        "email": email,
        "nir": _nir_strings(rng, sex, age, year),
        "id": ids,
        "gives_name": rng.random(size) < 0.85,
        "gives_phone": rng.random(size) < 0.6,
    }


def _write_registres(rng: np.random.Generator, registre: np.ndarray) -> np.ndarray:
    """Registres as people write them: full title or shortened, capitals, no accents."""
    writings, cumulative = [], []
    for code in _REGISTRE_CODES:
        forms = (REGISTRES[code], *_REGISTRE_SHORT[code])
        variants, weights = [], []
        for form, w_form in zip(forms, (0.45, 0.30, 0.25), strict=True):
            for variant, w_case in ((form, 0.7), (form.upper(), 0.1), (form.lower(), 0.1),
                                    (_strip_accents(form), 0.1)):
                variants.append(variant)
                weights.append(w_form * w_case)
        writings.append(variants)
        cumulative.append(np.cumsum(weights) / np.sum(weights))
    choice = _draw_rows(rng, np.array(cumulative), registre)
    table = np.array(writings, dtype=object)
    return table[registre, choice]


def _write_partners(rng: np.random.Generator, theme: np.ndarray,
                    registre: np.ndarray) -> np.ndarray:
    """Partner labels (commas inside a label become " / "), several joined by ", "."""
    size = len(theme)
    labels = np.array([VOCABULARIES["orientation_partenaire"][c].replace(", ", " / ")
                       for c in _PARTNER_CODES], dtype=object)
    cumulative = []
    for code in _THEMATIQUE_CODES:
        w = _PARTNERS_BY_THEME[code]
        p = np.array([w.get(c, 0.0) for c in _PARTNER_CODES]) + 0.02
        cumulative.append(np.cumsum(p / p.sum()))
    cumulative = np.array(cumulative)
    picks = [_draw_rows(rng, cumulative, theme) for _ in range(3)]
    how_many = rng.choice([1, 2, 3], size=size, p=[0.8, 0.17, 0.03])
    text = labels[picks[0]]
    second = (how_many >= 2) & (picks[1] != picks[0])
    text = np.where(second, text + ", " + labels[picks[1]], text)
    third = (how_many >= 3) & (picks[2] != picks[0]) & (picks[2] != picks[1])
    text = np.where(third, text + ", " + labels[picks[2]], text)
    oriented = (registre == _REGISTRE_CODES.index("mise_en_relation_partenaire")) | (
        rng.random(size) < 0.2)
    return np.where(oriented, text, "")


def _write_suivi(rng: np.random.Generator, registre: np.ndarray,
                 has_person: np.ndarray) -> np.ndarray:
    size = len(registre)
    labels = np.array([VOCABULARIES["suivi_statut"][c] for c in _SUIVI_CODES], dtype=object)
    individual = [_REGISTRE_CODES.index(c) for c in ("levee_incomprehensions",
                                                     "information_sensibilisation_formation")]
    group = np.where(registre == _REGISTRE_CODES.index("mise_en_relation_partenaire"), 0,
                     np.where(np.isin(registre, individual) & has_person, 1, 2))
    cumulative = []
    for key in ("mise_en_relation_partenaire", "individuel", "autre"):
        p = np.array([_SUIVI_WEIGHTS[key].get(c, 0.0) for c in _SUIVI_CODES])
        cumulative.append(np.cumsum(p / p.sum()))
    suivi = _draw_rows(rng, np.array(cumulative), group)
    return np.where(rng.random(size) < 0.95, labels[suivi], "")


def _coordinates(gdf, iris_of_row: np.ndarray, rng: np.random.Generator,
                 decimal: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 latitude and longitude strings of points drawn inside each row's IRIS."""
    from pyproj import Transformer

    x = np.empty(len(iris_of_row))
    y = np.empty(len(iris_of_row))
    geometries = gdf.geometry.to_numpy()
    by_iris = np.argsort(iris_of_row, kind="stable")
    bounds = np.searchsorted(iris_of_row[by_iris], np.arange(len(gdf) + 1))
    for i in range(len(gdf)):
        rows = by_iris[bounds[i]:bounds[i + 1]]
        if rows.size == 0:
            continue
        poly = geometries[i]
        inner = poly.buffer(-1.0)  # 6 decimals of a degree stay inside the IRIS
        if not inner.is_empty:
            poly = inner
        x[rows], y[rows] = _points_in(poly, rows.size, rng)
    lon, lat = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return _format_coordinates(np.asarray(lat), decimal), _format_coordinates(
        np.asarray(lon), decimal)


def _mediators(rng: np.random.Generator, n_bases: int) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Mediators' names ("Karim B.") and the team (start, size) of each base."""
    team_size = rng.integers(3, 7, max(n_bases, 1))
    team_start = np.concatenate([[0], np.cumsum(team_size)[:-1]])
    total = int(team_size.sum())
    names = np.array(sorted(set(_FEMALE + _MALE)), dtype=object)
    first = names[rng.choice(len(names), size=total, replace=False)]
    initial = np.array(list("BCDFGHKLMNPRST"), dtype=object)[rng.integers(0, 14, total)]
    return first + " " + initial + ".", team_start, team_size


def _comments(rng: np.random.Generator, persons: dict, person: np.ndarray,
              has_person: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Free-text comments: some benign, ~20 % with a planted identifier."""
    size = len(person)
    n_persons = len(persons["id"])
    u = rng.random(size)
    benign = np.array(_BENIGN_COMMENTS, dtype=object)[rng.integers(0, len(_BENIGN_COMMENTS),
                                                                    size)]
    comment = np.where(u < _PII_SHARE + _BENIGN_SHARE, benign, "").astype(object)
    pii_rows = np.flatnonzero(u < _PII_SHARE)
    who = np.where(has_person[pii_rows], person[pii_rows],
                   rng.integers(0, n_persons, pii_rows.size))
    kinds = list(_PII_KIND_WEIGHTS)
    kind = _draw(rng, _PII_KIND_WEIGHTS, kinds, pii_rows.size)

    block = rng.choice(len(_PHONE_BLOCKS), size=pii_rows.size, p=_PHONE_BLOCK_WEIGHTS)
    other_phone = _phone_strings(block, rng.integers(0, 10000, pii_rows.size),
                                 rng.integers(0, 4, pii_rows.size))
    phone = np.where(rng.random(pii_rows.size) < 0.7, persons["phone"][who], other_phone)
    civil = np.where(persons["sex"][who] == 1, "M. ", "Mme ")
    name = np.where(rng.random(pii_rows.size) < 0.5, civil + persons["last"][who],
                    persons["first"][who] + " " + persons["last"][who])
    value = np.choose(kind, [phone, persons["email"][who], persons["nir"][who], name])

    text = np.empty(pii_rows.size, dtype=object)
    for k, kind_name in enumerate(kinds):
        rows = np.flatnonzero(kind == k)
        templates = _PII_TEMPLATES[kind_name]
        t = rng.integers(0, len(templates), rows.size)
        prefix = np.array([p for p, _ in templates], dtype=object)[t]
        suffix = np.array([s for _, s in templates], dtype=object)[t]
        text[rows] = prefix + value[rows] + suffix
    comment[pii_rows] = text
    return comment, sorted(set(value.tolist()))


def _plant(kind: str, rows: np.ndarray, frame: dict, location: np.ndarray,
           year_of_row: np.ndarray, reference: pd.Timestamp, iris_codes: np.ndarray,
           communes: np.ndarray, rng: np.random.Generator, decimal: str) -> str | np.ndarray:
    """Write one kind of defect into ``frame`` at ``rows``; return the defective column(s)."""
    size = rows.size
    if kind == "date_impossible":
        bad = np.array(["31/02", "30/02", "31/04", "31/06", "31/09", "31/11", "32/01",
                        "00/03", "15/13"], dtype=object)
        years = year_of_row[rows].astype(str).astype(object)
        frame["Date de l'intervention"][rows] = bad[rng.integers(0, len(bad), size)] + "/" + years
        return "Date de l'intervention"
    if kind == "date_future":
        years = year_of_row[rows]
        swapped = (years // 100) * 100 + (years % 10) * 10 + (years // 10) % 10  # 2024 -> 2042
        future = np.where(swapped >= reference.year + 10, swapped,
                          reference.year + rng.integers(10, 30, size))
        original = frame["Date de l'intervention"][rows]
        day_month = np.array([d[:6] for d in original], dtype=object)
        day_month = np.where(day_month == "29/02/", "28/02/", day_month)
        frame["Date de l'intervention"][rows] = day_month + future.astype(str).astype(object)
        return "Date de l'intervention"
    if kind == "registre_inconnu":
        unknown = np.array(_UNKNOWN_REGISTRES, dtype=object)
        frame["Registre d'intervention"][rows] = unknown[rng.integers(0, len(unknown), size)]
        return "Registre d'intervention"
    if kind == "sans_localisation":
        for column in ("Code IRIS", "Code commune", "Latitude", "Longitude", "QPV"):
            frame[column][rows] = ""
        return ""
    if kind == "iris_hors_territoire":
        territory = set(communes.tolist())
        foreign = np.array([c for c in _FOREIGN_COMMUNES if c not in territory] or ["75101"],
                           dtype=object)
        codes = foreign[rng.integers(0, len(foreign), size)] + "01" + _TWO[
            rng.integers(1, 20, size)]
        known = set(iris_codes.tolist())
        codes = np.array([c if c not in known else "751010101" for c in codes], dtype=object)
        frame["Code IRIS"][rows] = codes
        return "Code IRIS"
    if kind == "code_mal_forme":
        is_iris = location[rows] == 0
        column_values = np.where(is_iris, frame["Code IRIS"][rows], frame["Code commune"][rows])
        how = rng.integers(0, 3, size)
        letter = np.array(["O", "I"], dtype=object)[rng.integers(0, 2, size)]
        cut = pd.Series(column_values, dtype=object)
        with_letter = (cut.str[:3] + pd.Series(letter) + cut.str[4:]).to_numpy(dtype=object)
        longer = (cut + pd.Series(_TWO[rng.integers(0, 100, size)]).str[:1]).to_numpy(
            dtype=object)
        shorter = cut.str[:-2].to_numpy(dtype=object)
        bad = np.choose(how, [with_letter, longer, shorter])
        frame["Code IRIS"][rows[is_iris]] = bad[is_iris]
        frame["Code commune"][rows[~is_iris]] = bad[~is_iris]
        return np.where(is_iris, "Code IRIS", "Code commune").astype(object)
    if kind == "coordonnees_hors_france":
        lat = rng.uniform(-45.0, -20.0, size)  # South Atlantic: no French territory
        lon = rng.uniform(-35.0, -15.0, size)
        null_island = rng.random(size) < 0.2
        lat = np.where(null_island, 0.0, lat)
        lon = np.where(null_island, 0.0, lon)
        frame["Latitude"][rows] = _format_coordinates(lat, decimal)
        frame["Longitude"][rows] = _format_coordinates(lon, decimal)
        return "Latitude"
    if kind == "lat_lon_inversees":
        lat = frame["Latitude"][rows].copy()
        frame["Latitude"][rows] = frame["Longitude"][rows]
        frame["Longitude"][rows] = lat
        return "Latitude"
    raise AssertionError(kind)  # pragma: no cover


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def write_export(
    sim_or_frame: SimulatedExport | pd.DataFrame,
    path: str | os.PathLike,
    *,
    encoding: str = "cp1252",
    sep: str = ";",
) -> Path:
    """Write an export as a French structure's spreadsheet would, atomically.

    A ``.xlsx`` path gives an Excel workbook (one sheet, every cell text); any other
    suffix a CSV file with ``sep`` separators and CRLF line ends.

    Parameters
    ----------
    sim_or_frame : SimulatedExport or pandas.DataFrame
        The export (its ``frame``) to write.
    path : str or os.PathLike
        Destination; the file appears only once fully written.
    encoding : str, default "cp1252"
        Text encoding of a CSV (Windows-1252, as Excel writes it in France;
        ``"utf-8-sig"`` for UTF-8 with a byte-order mark).
    sep : str, default ";"
        Field separator of a CSV.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InputError
        When a value cannot be encoded, or too many rows for a workbook.
    """
    frame = sim_or_frame.frame if isinstance(sim_or_frame, SimulatedExport) else sim_or_frame
    target = Path(path)
    if target.suffix.lower() == ".xlsx":
        if len(frame) > 1_048_575:
            raise InputError(f"{len(frame)} lignes : trop pour un classeur Excel "
                             "(1 048 575 au plus).", path=target)
        with atomic_path(target) as tmp:
            frame.to_excel(tmp, index=False, sheet_name="Export", engine="openpyxl")
        return target
    try:
        with atomic_write(target, "w", encoding=encoding, newline="") as handle:
            frame.to_csv(handle, sep=sep, index=False, lineterminator="\r\n")
    except UnicodeEncodeError as exc:
        raise InputError(f"valeur impossible à écrire en {encoding} : "
                         f"« {exc.object[exc.start:exc.end]} ».", path=target) from exc
    return target
