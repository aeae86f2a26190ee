"""The mediation event log: fields, closed vocabularies (French labels), schema version.

Reference: ``logs-and-privacy.md`` §A.2 (34 fields, 8 AFNOR registres). Codes are
English-free snake_case French nouns, as the field uses them; every code has a French
label, and the importer matches labels "on meaning" (accents, case, abbreviations).
"""

from __future__ import annotations

import re
import unicodedata

SCHEMA_VERSION = "fragility-log/1.0"

REGISTRES = {
    "presence_active": "Assurer une présence active de proximité",
    "levee_incomprehensions": "Lever les incompréhensions entre les personnes et les institutions",
    "information_sensibilisation_formation": "Informer, sensibiliser et/ou former",
    "gestion_conflits": "Prévenir et gérer les situations conflictuelles",
    "veille_sociale_technique": "Participer à une veille sociale et technique territoriale",
    "concertation_habitants_institutions": "Faciliter la concertation entre les habitants et "
    "les institutions",
    "mise_en_relation_partenaire": "Mettre en relation avec un partenaire",
    "projet_collectif": "Favoriser les projets collectifs, supports de la médiation sociale",
}

THEMATIQUES = {
    "acces_droits": "Accès aux droits",
    "sante": "Santé",
    "logement_habitat": "Logement, habitat",
    "emploi_insertion": "Emploi, insertion",
    "numerique": "Numérique",
    "education_scolarite": "Éducation, scolarité",
    "tranquillite_conflits": "Tranquillité, conflits",
    "isolement_lien_social": "Isolement, lien social",
    "energie_eau_budget": "Énergie, eau, budget",
    "mobilite_transport": "Mobilité, transport",
    "famille_parentalite": "Famille, parentalité",
    "autre": "Autre",
}

#: field -> {code: French label}. Multi-valued fields are listed in MULTI_FIELDS.
VOCABULARIES: dict[str, dict[str, str]] = {
    "registre": REGISTRES,
    "thematique": THEMATIQUES,
    "thematiques_secondaires": THEMATIQUES,
    "source_system": {
        "medios": "Medios",
        "tableur": "Tableur",
        "cra_cnfs": "CRA CnFS",
        "coop_mednum": "Coop de la médiation numérique",
        "autre": "Autre",
    },
    "contact_kind": {
        "individuel": "Individuel",
        "collectif": "Collectif",
        "sans_personne": "Sans personne (veille, réunion)",
    },
    "conflit_mode": {
        "prevention": "Prévention",
        "temps_reel": "Temps réel",
        "temps_differe_navette": "Temps différé (navette)",
        "temps_differe_table_ronde": "Temps différé (table ronde)",
    },
    "conflit_type": {
        "usage_espace_public": "Usage de l'espace public",
        "voisinage": "Voisinage",
        "usager_institution": "Usager / institution",
        "scolaire": "Scolaire",
        "transport": "Transport",
        "autre": "Autre",
    },
    "accord_statut": {
        "accord_obtenu": "Accord obtenu",
        "accord_partiel": "Accord partiel",
        "pas_accord": "Pas d'accord",
        "accord_respecte": "Accord respecté",
        "accord_non_respecte": "Accord non respecté",
        "inconnu": "Inconnu",
    },
    "droit_organisme": {
        "caf": "CAF",
        "cpam_ameli": "CPAM / Ameli",
        "css": "Complémentaire santé solidaire",
        "carsat_retraite": "CARSAT / retraite",
        "aspa_minimum_vieillesse": "ASPA (minimum vieillesse)",
        "msa": "MSA",
        "france_travail": "France Travail",
        "dgfip_impots": "DGFiP / impôts",
        "ants_france_titres": "ANTS / France Titres",
        "prefecture_titre_sejour": "Préfecture / titre de séjour",
        "mdph_aah": "MDPH / AAH",
        "ccas_aide_sociale": "CCAS / aide sociale",
        "departement_rsa": "Département / RSA",
        "bailleur": "Bailleur",
        "energie_eau_fournisseur": "Fournisseur d'énergie ou d'eau",
        "education_nationale": "Éducation nationale",
        "justice": "Justice",
        "autre": "Autre",
    },
    "droit_domaine": {
        "papiers_citoyennete": "Papiers, citoyenneté",
        "famille_scolarite": "Famille, scolarité",
        "social_sante": "Social, santé",
        "travail_formation": "Travail, formation",
        "logement": "Logement",
        "transports_mobilite": "Transports, mobilité",
        "argent_impots": "Argent, impôts",
        "justice": "Justice",
        "etrangers_europe": "Étrangers, Europe",
        "loisirs": "Loisirs",
    },
    "lieu_type": {
        "espace_public": "Espace public",
        "habitat_social_parties_communes": "Habitat social (parties communes)",
        "transport": "Transport",
        "etablissement_scolaire": "Établissement scolaire",
        "structure_sante": "Structure de santé",
        "france_services_pimms": "France services / PIMMS",
        "local_structure": "Local de la structure",
        "domicile": "Domicile",
        "squat_campement": "Squat, campement",
        "autre": "Autre",
    },
    "mode": {
        "aller_vers_rue": "Aller-vers (rue)",
        "permanence": "Permanence",
        "domicile": "Domicile",
        "telephone": "Téléphone",
        "visio_numerique": "Visio / numérique",
        "atelier_collectif": "Atelier collectif",
    },
    "initiative": {
        "aller_vers_mediateur": "Aller-vers du médiateur",
        "sollicitation_personne": "Sollicitation de la personne",
        "orientee_par_partenaire": "Orientée par un partenaire",
        "signalement_tiers": "Signalement d'un tiers",
    },
    "orientation_partenaire": {
        "caf": "CAF",
        "cpam": "CPAM",
        "ccas": "CCAS",
        "france_travail": "France Travail",
        "mission_locale": "Mission locale",
        "bailleur": "Bailleur",
        "france_services": "France services",
        "pimms": "PIMMS",
        "mdph": "MDPH",
        "carsat": "CARSAT",
        "msa": "MSA",
        "education_nationale": "Éducation nationale",
        "pmi": "PMI",
        "structure_sante_csapa_cmp": "Structure de santé (CSAPA, CMP)",
        "mairie": "Mairie",
        "prefecture": "Préfecture",
        "police_municipale": "Police municipale",
        "association": "Association",
        "conciliateur_justice": "Conciliateur de justice",
        "autre": "Autre",
    },
    "orientation_niveau": {
        "information_donnee": "Information donnée",
        "orientation_simple": "Orientation simple",
        "mise_en_relation_directe": "Mise en relation directe",
        "accompagnement_physique": "Accompagnement physique",
    },
    "suivi_statut": {
        "droit_ouvert_ou_demarche_finalisee": "Droit ouvert ou démarche finalisée",
        "demarche_en_cours": "Démarche en cours",
        "a_finaliser_en_autonomie": "À finaliser en autonomie",
        "doit_revenir": "Doit revenir",
        "orientee_vers_structure": "Orientée vers une structure",
        "refus_ou_abandon_personne": "Refus ou abandon de la personne",
        "perdu_de_vue": "Perdu de vue",
        "non_eligible": "Non éligible",
        "sans_objet": "Sans objet",
    },
    "non_recours_observe": {
        "non_connaissance": "Non-connaissance",
        "non_demande": "Non-demande",
        "non_reception": "Non-réception",
        "non_proposition": "Non-proposition",
    },
    "age_band": {
        "0_17": "0-17 ans",
        "18_24": "18-24 ans",
        "25_39": "25-39 ans",
        "40_59": "40-59 ans",
        "60_74": "60-74 ans",
        "75_plus": "75 ans et plus",
        "inconnu": "Inconnu",
    },
    "sexe": {"F": "Femme", "M": "Homme", "inconnu": "Inconnu"},
    "menage_type": {
        "personne_seule": "Personne seule",
        "couple_sans_enfant": "Couple sans enfant",
        "couple_avec_enfants": "Couple avec enfant(s)",
        "famille_monoparentale": "Famille monoparentale",
        "autre_ou_heberge": "Autre ou hébergé",
        "inconnu": "Inconnu",
    },
    "geo_basis": {"residence": "Lieu de résidence", "lieu_intervention": "Lieu de l'intervention"},
    "duree_band": {
        "lt30": "Moins de 30 min",
        "30_60": "30 à 60 min",
        "60_120": "1 à 2 h",
        "ge120": "2 h et plus",
        "inconnu": "Inconnu",
    },
}
MULTI_FIELDS = {"thematiques_secondaires", "droit_organisme", "orientation_partenaire"}

#: Fields of an accepted (pseudonymised) event, in order, with their French label.
FIELDS = {
    "event_id": "identifiant d'événement",
    "schema_version": "version du schéma",
    "source_line": "ligne dans le fichier importé",
    "source_system": "logiciel source",
    "structure_id": "structure",
    "team_id": "équipe / antenne",
    "mediator_key": "médiateur (pseudonyme)",
    "person_key": "personne (pseudonyme)",
    "contact_kind": "nature du contact",
    "n_participants": "nombre de participants",
    "period_month": "mois",
    "registre": "registre d'intervention",
    "conflit_mode": "mode de gestion du conflit",
    "conflit_type": "type de conflit",
    "accord_statut": "accord / suivi de l'accord",
    "thematique": "thématique principale",
    "thematiques_secondaires": "thématiques secondaires",
    "droit_organisme": "organisme / droit concerné",
    "droit_domaine": "domaine de démarche",
    "lieu_type": "type de lieu",
    "mode": "modalité",
    "initiative": "origine du contact",
    "orientation_partenaire": "partenaire de mise en relation",
    "orientation_niveau": "intensité de l'orientation",
    "suivi_statut": "résultat / suivi",
    "non_recours_observe": "type de non-recours repéré",
    "age_band": "tranche d'âge",
    "sexe": "sexe",
    "menage_type": "type de ménage",
    "barriere_langue": "barrière de langue",
    "geo_iris": "IRIS",
    "geo_basis": "base de localisation",
    "geo_qpv": "QPV",
    "geo_commune": "commune",
    "geo_level": "niveau de localisation (iris, commune, qpv)",
    "duree_band": "durée",
}
REQUIRED = ("period_month", "registre", "thematique")

#: Direct identifiers: never kept after import (names of *fields* once headers are mapped).
DIRECT_IDENTIFIERS = (
    "nom",
    "prenom",
    "telephone",
    "email",
    "adresse",
    "nir",
    "date_naissance",
    "commentaire",
    "numero_allocataire",
)
FORBIDDEN_COLUMNS_RE = re.compile(
    r"(?i)^(nom|prenom|name|surname|tel|phone|mail|email|adresse|address|nir|secu|caf_num|"
    r"num_allocataire|identifiant_ft|date_naissance|birth|commentaire|notes?)$"
)

IRIS_PATTERN = re.compile(r"^[0-9][0-9AB][0-9]{3}[0-9]{4}$")
QPV_PATTERN = re.compile(r"^Q[NP][0-9A-Z]{6}$")
PERSON_KEY_PATTERN = re.compile(r"^[A-Z2-7]{26}$")
MONTH_PATTERN = re.compile(r"^20[0-9]{2}-(0[1-9]|1[0-2])$")


def fold(text: object) -> str:
    """Fold a label for matching: no accents, lower case, words separated by single spaces."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return " ".join(text.split())


def _index(vocabulary: dict[str, str]) -> dict[str, str]:
    out = {}
    for code, label in vocabulary.items():
        out[fold(code)] = code
        out[fold(label)] = code
    return out


_INDEXES = {name: _index(voc) for name, voc in VOCABULARIES.items()}


def match_value(field: str, raw: object, extra: dict[str, str] | None = None) -> str | None:
    """Return the vocabulary code a written value means, or ``None`` if none matches.

    Matching is on meaning: the code itself, its French label, accents and case ignored,
    user synonyms (``extra``: written value -> code), and an unambiguous prefix or
    containment of the label ("Mise en relation avec un partenaire" ->
    ``mise_en_relation_partenaire``).

    Parameters
    ----------
    field : str
        Field with a closed vocabulary (a key of :data:`VOCABULARIES`).
    raw : object
        The value as written in the export.
    extra : dict, optional
        User synonyms from the mapping file.

    Returns
    -------
    str or None
    """
    key = fold(raw)
    if not key:
        return None
    if extra:
        folded = {fold(k): v for k, v in extra.items()}
        if key in folded:
            return folded[key]
    index = _INDEXES[field]
    if key in index:
        return index[key]
    words = set(key.split())
    candidates = set()
    for label, code in index.items():
        label_words = set(label.split())
        if (label.startswith(key) and len(key) >= 4) or (
            len(words) >= 2
            and len(label_words) >= 2
            and (words <= label_words or label_words <= words)
        ):
            candidates.add(code)
    return candidates.pop() if len(candidates) == 1 else None


def event_schema():
    """The pandera schema of an accepted, pseudonymised, located event log.

    Closed vocabularies, code patterns, required fields; multi-valued fields are
    ``|``-joined codes. Used as the contract at the end of the import.

    Returns
    -------
    pandera.pandas.DataFrameSchema
    """
    import pandera.pandas as pa

    def vocab(name, nullable=True):
        return pa.Column(
            str, pa.Check.isin(list(VOCABULARIES[name])), nullable=nullable, required=False
        )

    def multi(name):
        allowed = set(VOCABULARIES[name])
        return pa.Column(
            str,
            pa.Check(
                lambda s: s.str.split("|").map(lambda parts: set(parts) <= allowed),
                element_wise=False,
                name=f"vocabulaire {name}",
            ),
            nullable=True,
            required=False,
        )

    def pattern(regex, required=False):
        return pa.Column(str, pa.Check.str_matches(regex.pattern), nullable=True, required=required)

    columns = {name: vocab(name) for name in VOCABULARIES if name not in MULTI_FIELDS}
    columns.update({name: multi(name) for name in MULTI_FIELDS})
    columns["registre"] = vocab("registre", nullable=False)
    columns["thematique"] = vocab("thematique", nullable=False)
    columns.update(
        {
            "schema_version": pa.Column(str, pa.Check.eq(SCHEMA_VERSION)),
            "period_month": pa.Column(str, pa.Check.str_matches(MONTH_PATTERN.pattern)),
            "geo_iris": pattern(IRIS_PATTERN),
            "geo_qpv": pattern(QPV_PATTERN),
            "geo_commune": pattern(re.compile(r"^[0-9][0-9AB][0-9]{3}$")),
            "person_key": pattern(PERSON_KEY_PATTERN),
            "mediator_key": pattern(PERSON_KEY_PATTERN),
            "geo_level": pa.Column(str, pa.Check.isin(["iris", "commune", "qpv"]), required=False),
        }
    )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)
