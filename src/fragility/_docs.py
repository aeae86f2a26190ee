"""Generate ``docs/sources.md`` from the registry (``make docs``; checked by the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

from fragility.sources import LAYERS, REGISTRY

#: Variables each layer contributes (vintage-free names), as documented to users.
VARIABLES = {
    "iris_contours": "code IRIS (CODE_IRIS / code_iris), commune (INSEE_COM / code_insee), nom "
    "et type d'IRIS (H habitat, A activité, D divers, Z commune non découpée), géométrie",
    "census_population": "P_POP et tranches d'âge (P_POP0014 … P_POP75P, P_POP80P), P_POP_IMM, "
    "P_POP_ETR, P_PMEN, P_PHORMEN, C_POP15P_CS1…CS8",
    "census_familles": "C_MEN, C_MENPSEUL, C_FAM, C_FAMMONO, P_POP80P_PSEUL, P_POP5564_PSEUL, "
    "P_POP6579_PSEUL (personnes vivant seules par âge, fichier officiel seulement)",
    "census_logement": "P_RP, P_RP_VOIT1P, P_RP_PROP, P_RP_LOC, P_RP_LOCHLMV, P_LOG, P_LOGVAC",
    "census_diplomes": "P_NSCOL15P et niveaux (P_NSCOL15P_DIPLMIN … P_NSCOL15P_SUP5)",
    "census_activite": "P_ACT1564, P_CHOM1564, P_INACT1564, P_RETR1564",
    "census_car_derived": "households_without_car_share (perc_voit, indicateur dérivé tiers)",
    "filosofi_iris": "DISP_TP60 (taux de pauvreté), DISP_MED (médiane), DISP_Q1/Q3, DISP_PPMINI "
    "(minima sociaux), DISP_PPLOGT (aides au logement), DISP_PPFAM, DISP_PPSOC, DISP_GI",
    "filosofi_commune": "mêmes variables au niveau communal (MEDyy → DISP_MED, TP60yy → "
    "DISP_TP60…), utilisées pour les IRIS hors champ de la diffusion à l'IRIS",
    "qpv_contours": "code_qp / CODE_QP, nom, communes ; part de la surface de chaque IRIS en QPV",
    "qpv_list": "code_qp par commune (sans contours)",
    "france_services": "id_fs, lib_fs, insee_com, latitude, longitude, format_fs, horaires "
    "(h_lundi … h_samedi → heures d'ouverture hebdomadaires)",
    "bpe": "DEPCOM, DCIRIS, TYPEQU, LAMBERT_X, LAMBERT_Y",
    "cog_communes": "code, nom, type (actuelle, déléguée, associée), commune de rattachement, "
    "département, population municipale (Etalab)",
    "cog_epci": "SIREN et nom de l'EPCI, communes membres",
    "commune_contours": "code, nom, géométrie",
}


def render() -> str:
    """Return the Markdown of ``docs/sources.md``."""
    lines = [
        "# Sources de données",
        "",
        "*Page générée par `make docs` à partir du registre (`fragility.sources.REGISTRY`) ; "
        "ne pas modifier à la main.*",
        "",
        "Chaque jeu de données est épinglé à un millésime. fragility lit les fichiers dans "
        "leur présentation officielle (séparateur `;`, codes gardés en texte avec zéros et "
        "2A/2B, cases vides du secret statistique lues comme manquantes, colonnes préfixées "
        "par le millésime — `P17_POP`, `DISP_TP6019` — renommées sans millésime, `P_POP`, "
        "`DISP_TP60`, le millésime étant conservé à part) ainsi que les extraits tiers "
        "courants (sous-ensembles de colonnes, extraits départementaux).",
        "",
        "Ordre de recherche d'un fichier : le dossier de l'analyste (`--data-dir`, fichiers "
        "reconnus par leur contenu, quel que soit leur nom), puis le cache "
        "(`FRAGILITY_DATA_DIR`), puis un téléchargement vérifié par empreinte SHA-256. Une "
        "source dont l'empreinte n'est pas encore épinglée n'est téléchargée qu'à la demande "
        "explicite (`fragility sources fetch NOM --accepter-non-verifie`) ; son empreinte est "
        "alors enregistrée dans le cache et vérifiée ensuite.",
        "",
        "Les adresses ont été relevées sur les pages des éditeurs ; elles n'ont pas pu être "
        "téléchargées depuis la machine de développement (sans accès à internet), d'où les "
        "empreintes non épinglées. Les empreintes épinglées sont celles de fichiers publiés "
        "identiques à ceux du jeu de données réelles du projet.",
        "",
    ]
    for layer in LAYERS.values():
        entries = [s for s in REGISTRY.values() if s.layer == layer.name]
        lines += [f"## {layer.title_fr} (`{layer.name}`)", ""]
        lines += [f"Variables : {VARIABLES.get(layer.name, '—')}.", ""]
        if not entries:
            lines += [
                "Pas de fichier épinglé au registre : placez le fichier dans `--data-dir`, "
                "il est reconnu par son contenu.",
                "",
            ]
        for s in entries:
            lines += [
                f"### `{s.name}` — {s.title_fr}",
                "",
                f"- Éditeur : {s.publisher}",
                f"- Millésime : {s.vintage}"
                + (f" ; géographie : {s.geography}" if s.geography else ""),
                f"- Licence : {s.licence}",
                f"- Adresse : {s.url or '(à fournir via --data-dir)'}",
                f"- Page : {s.homepage or '—'}",
                f"- Empreinte SHA-256 : {('`' + s.sha256 + '`') if s.sha256 else 'non épinglée'}",
            ]
            if s.member:
                lines.append(f"- Fichier pris dans l'archive : `{s.member}`")
            if s.notes_fr:
                lines.append(f"- Notes : {s.notes_fr}")
            lines.append("")
    return "\n".join(lines)


_FORMS = {
    "weighted": "moyenne pondérée des composantes normalisées, × 100",
    "gap": "100 · clip((rang du besoin − rang de la connexion + 1) / 2, 0, 1)",
    "barrier": "100 · éligibilité ^ exposant · moyenne pondérée des barrières",
}


def _composite_markdown() -> str:
    """The composite-index section, generated from the default configuration file."""
    from fragility.composite import load_config

    config = load_config()
    u, e = config.uncertainty, config.eligibility
    lines = [
        "## Indices composites",
        "",
        "Définis dans `src/fragility/defaults/diagnostic.toml` (copiez-le pour changer les "
        "poids : seul l'indice modifié change). Chaque composante est normalisée parmi les "
        "IRIS classés, pondérée puis agrégée ; un rang de 1 signale le plus fort besoin.",
        "",
        f"IRIS non classés : population inférieure à {e.min_population:g} habitants (statut "
        f"`trop_petit`), IRIS de type {', '.join(e.excluded_types)} (`iris_activite`), "
        "composantes renseignées pour moins de la part de poids requise "
        "(`donnees_insuffisantes`). Une composante absente de tout le territoire est retirée "
        "et les scores sont alors `partiel`.",
        "",
    ]
    for name, spec in config.indices.items():
        lines += [
            f"### {spec.label_fr} (`{name}`)",
            "",
            f"- Forme : {_FORMS.get(spec.form, spec.form)}.",
            f"- Normalisation : {spec.normalisation} ; pondération : {spec.weighting} ; "
            f"agrégation : {spec.aggregation} ; part de poids minimale : {spec.min_components}.",
            f"- Référence : {spec.reference or '—'}.",
            "",
            "| composante | rôle | poids | sens |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| `{c.key}` ({c.label_fr}) | {c.role} | {c.weight:g} | {c.direction:+d} |"
                  for c in spec.components]
        lines.append("")
    lines += [
        "## Incertitude et sensibilité",
        "",
        f"{u.draws} tirages Monte-Carlo (graine {u.seed}) : poids tirés selon une loi de "
        f"Dirichlet centrée sur les poids de référence (concentration {u.weight_concentration:g}),"
        f" normalisation tirée parmi {', '.join(u.normalisations)}"
        + (", et une composante retirée à tour de rôle (leave-one-out)" if u.leave_one_out
           else "") + ". Pour chaque IRIS : rang médian et intervalle de rang à "
        f"{u.interval * 100:.0f}\u00a0%, probabilité d'être dans le groupe de tête "
        f"({u.top_share * 100:.0f}\u00a0% des IRIS classés) ; « robustement en tête » au-delà "
        f"de {u.robust_share * 100:.0f}\u00a0% des tirages. "
        "Pour le territoire : part de la variance des rangs expliquée par chaque choix "
        "(indice de premier ordre, à la manière de Sobol).",
        "",
    ]
    return "\n".join(lines)


def _coverage_markdown() -> str:
    """Coverage and under-served areas: method, parameters, flags and reason codes."""
    from dataclasses import fields

    from fragility.assessment import AssessmentSettings
    from fragility.coverage import METHODS_FR, NOT_ASSESSED, CoverageSettings
    from fragility.underserved import FLAGS, REASONS, FlagSettings

    def _defaults(cls) -> list[str]:
        return [f"| `{f.name}` | `{f.default}` |" for f in fields(cls)
                if not callable(f.default_factory)]

    lines = [
        "## Couverture de la médiation et zones sous-desservies",
        "",
        "Référence : `logs-and-privacy.md` §D. Modules : `fragility.coverage` (statistiques), "
        "`fragility.underserved` (signalements, motifs, phrases), `fragility.accessibility`, "
        "`fragility.spatial`, `fragility.siting`, assemblés par `fragility.assessment`.",
        "",
        "1. **Contacts attendus** `E_i` sur les IRIS de la zone d'intervention (habités, ni "
        "d'activité ni divers) : régression binomiale négative des contacts observés sur des "
        "covariables de **besoin seulement** (indice d'isolement, indice de non-recours, part "
        "en QPV ; standardisées, valeurs manquantes imputées avec indicateur), la population "
        "en exposition. Repli : régression de Poisson, puis standardisation interne "
        "(`E = N · ΣO / ΣN`) s'il y a trop peu d'IRIS. L'offre et l'accessibilité ne sont "
        "jamais covariables : `E_i` dit combien de contacts l'IRIS recevrait s'il était "
        "couvert comme un IRIS moyen de la zone au même besoin.",
        "2. **Entonnoir** (Spiegelhalter 2005) : `SR = O/E`, limites à 95 % et 99,8 % sur "
        "l'échelle racine carrée, `1 ± z·√(1/(4E) + τ²)`, surdispersion additive `τ²` de "
        "DerSimonian-Laird sur des scores z winsorisés à 10 %/90 % (comme FunnelPlotR).",
        "3. **Lissage bayésien empirique** (Poisson-Gamma ; moments de Marshall 1991) : "
        "rapport lissé `(O + a)/(E + b)` (colonne `coverage_ratio`), intervalle à 90 % "
        "(`coverage_ratio_low`/`_high`), probabilité a posteriori d'un déficit d'au moins "
        "20 % `P(θ < 0,8)` (`p_shortfall`).",
        "4. **p-valeurs unilatérales** `P(O ≤ o)` sous le modèle et **q-valeurs** de "
        "Benjamini-Hochberg (`q_value`) : combien de signalements le hasard seul donnerait.",
        "5. **Accessibilité** : distance à vol d'oiseau à la France Services la plus proche "
        "(`fs_distance_m`) et E2SFCA à décroissance gaussienne (`access_2sfca`, points de "
        "service pour 10 000 habitants dans le bassin), depuis un point intérieur de chaque "
        "IRIS. Motif, jamais covariable du modèle.",
        "6. **Statistiques spatiales** : I de Moran du besoin et de la couverture, LISA de la "
        "couverture (graphe de contiguïté « queen », îlots reliés à leurs plus proches "
        "voisins) ; une grappe « faible-faible » est un motif.",
        "7. **Où ouvrir ?** Les IRIS signalés portent un besoin non couvert `max(E − O, 0)` ; "
        "un modèle de couverture maximale (MCLP, programme linéaire en nombres entiers HiGHS, "
        "écart d'optimalité indiqué) choisit les meilleurs sites parmi les centres des "
        "communes et les France Services (`sites_proposes.csv`).",
        "8. **Sans journal** (mode « potentiel ») : besoin (le plus élevé des deux indices) "
        "et accessibilité seuls ; confiance faible.",
        "",
        "Méthodes d'espérance :",
        "",
        *[f"- `{k}` : {v}" for k, v in METHODS_FR.items()],
        "",
        "### Signalements",
        "",
        "| signalement | règle |",
        "|---|---|",
        "| `sous_desservi_probable` | SR sous la limite basse à 99,8 % **et** "
        "P(θ < 0,8) ≥ 0,9 |",
        "| `a_surveiller` | SR sous la limite basse à 95 %, **ou** P(θ < 0,8) ≥ 0,75 |",
        "| `conforme` | dans les limites |",
        "| `sur_sollicite` | au-dessus de la limite haute à 99,8 % (pas un problème en soi) |",
        "| `donnees_insuffisantes` | non évalué (voir les motifs ci-dessous) |",
        "",
        "Libellés : " + " ; ".join(f"`{k}` « {v} »" for k, v in FLAGS.items()) + ".",
        "",
        "### Motifs (colonne `reasons`)",
        "",
        "| code | signification |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in REASONS.items()],
        "",
        "IRIS non évalués : " + " ; ".join(f"`{k}` ({v})" for k, v in NOT_ASSESSED.items())
        + ".",
        "",
        "### Paramètres par défaut",
        "",
        "| paramètre | valeur |",
        "|---|---|",
        *_defaults(AssessmentSettings),
        *_defaults(CoverageSettings),
        *_defaults(FlagSettings),
        "",
        "### Lecture",
        "",
        "- « Sous-desservi » veut dire **moins de contacts qu'attendu pour ce niveau de besoin, "
        "comparé aux autres IRIS de la zone** : c'est relatif, pas absolu.",
        "- Cela ne dit rien des personnes. Les cartes d'IRIS et de QPV peuvent stigmatiser "
        "des quartiers : diffusion restreinte aux partenaires (diagnostic partagé), "
        "publication ouverte au niveau commune ou EPCI seulement.",
        "- Secret : les effectifs de moins de k personnes distinctes (et les cases qui les "
        "trahiraient par différence) sont supprimés ; pour ces IRIS, le rapport, son "
        "intervalle, la probabilité et la q-valeur sont effacés, et la phrase donne une "
        "tranche (« entre 0,25 et 0,5 fois les contacts attendus »).",
    ]
    return "\n".join(lines)


def render_methodology() -> str:
    """Return the Markdown of ``docs/methodologie.md`` (generated from the registries)."""
    from fragility.indicators import methodology_markdown

    parts = [
        "# Méthodologie",
        "",
        "*Page générée par `make docs` à partir des registres du code ; ne pas modifier à la "
        "main.*",
        "",
        methodology_markdown().strip(),
    ]
    parts += ["", _composite_markdown(), "", _coverage_markdown()]
    return "\n".join(parts) + "\n"


def render_bilan() -> str:
    """Return the Markdown of ``docs/bilan.md`` (from :mod:`fragility.bilan`'s registry)."""
    from fragility.bilan import ACCESS_PARTNERS, INDICATORS, TABLES, TOP_NEED_SHARE
    from fragility.consolidate import CONSOLIDATION_SCHEMA

    lines = [
        "# Bilan d'activité et consolidation",
        "",
        "*Page générée par `make docs` à partir du registre de `fragility.bilan` ; ne pas "
        "modifier à la main.*",
        "",
        "`fragility bilan --logs JOURNAL --key-file CLE (--demo | --epci … --data-dir …) "
        "[--periode AAAA-MM:AAAA-MM] [--structure NOM] --out DOSSIER` écrit `bilan.html`, "
        "`bilan/*.csv` (tables protégées par le secret statistique), `bilan/indicateurs.csv`, "
        "`manifest.json` et `rejets.csv` (local). Quand `fragility diagnose` reçoit un journal, "
        "le rapport `diagnostic.html` reprend l'activité (sans les tables par zone).",
        "",
        "## Indicateurs",
        "",
        "| clé | indicateur | définition | unité | ce qu'il montre | ce qu'il ne montre pas |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for section, title in (("activite", "activité"), ("evaluation", "évaluation")):
        for spec in INDICATORS.values():
            if spec.section == section:
                lines.append(f"| `{spec.key}` | {spec.label} ({title}) | {spec.definition} | "
                             f"{spec.unit} | {spec.shows} | {spec.limits} |")
    lines += [
        "",
        f"Les IRIS « au plus fort risque » sont les {round(100 * TOP_NEED_SHARE)}\u202f% "
        "d'IRIS (arrondi) à "
        "l'indice le plus élevé parmi ceux qui en ont un. Partenaires d'accès aux droits : "
        + ", ".join(f"`{p}`" for p in ACCESS_PARTNERS) + ".",
        "",
        "## Tables (`bilan/<nom>.csv`)",
        "",
        "| fichier | titre | clés | remarque |",
        "| --- | --- | --- | --- |",
    ]
    for spec in TABLES.values():
        notes = []
        if spec.multi:
            notes.append("un contact compte sous chacun de ses codes ; la ligne Ensemble "
                         "compte les contacts avec au moins un code")
        if spec.only is not None:
            field, code = spec.only
            notes.append(f"contacts où `{field}` = `{code}`" if code
                         else f"contacts où `{field}` est renseigné")
        lines.append(f"| `{spec.name}.csv` | {spec.title} | "
                     + ", ".join(f"`{k}`" for k in spec.keys) + f" | {' ; '.join(notes)} |")
    lines += [
        "",
        "Chaque table donne `contacts`, `persons` (personnes distinctes) et `statut` "
        "(`publie`, `secret_primaire`, `secret_dominance`, `secret_secondaire`), plus les "
        "libellés en français. Les lignes `Ensemble` sont les vrais totaux (personnes "
        "distinctes recomptées, jamais additionnées).",
        "",
        "## Secret statistique",
        "",
        "- Une case est masquée quand elle compte de 1 à k − 1 personnes distinctes (k = 11 "
        "par défaut) ; une case sans aucune personne identifiée (actions collectives, veille) "
        "est jugée sur son nombre de contacts.",
        "- Dominance (une personne au-delà de 85 % des contacts d'une case) et secret "
        "secondaire : voir `fragility.disclosure`.",
        "- Les indicateurs sont lus dans les tables protégées : un nombre masqué dans une table "
        "n'est publié nulle part ailleurs. Les parts « IRIS au plus fort risque » sont "
        "masquées si la somme qu'elles révèlent permettrait de retrouver une case IRIS "
        "masquée.",
        "",
        "## Consolidation de plusieurs structures",
        "",
        "`fragility consolider DOSSIER1 DOSSIER2 … --out DOSSIER [--demo | --epci … "
        "--data-dir …]` lit les dossiers de bilan (jamais les journaux) et écrit "
        f"`consolidation/<nom>.csv`, `manifest.json` (`{CONSOLIDATION_SCHEMA}`) et, si un "
        "territoire est donné, `figures/contacts_commune.png`.",
        "",
        "- Les bilans doivent partager la version du schéma, la période et les paramètres du "
        "secret ; sinon, erreur.",
        "- `contacts` : somme des structures. Personnes : fourchette `persons_min` (la plus "
        "grande structure) à `persons_max` (la somme), car une personne peut avoir rencontré "
        "plusieurs structures et les pseudonymes de deux structures ne se comparent pas.",
        "- Une case masquée par une structure reste masquée (`secret_structure`) : chaque "
        "nombre consolidé est une somme de nombres déjà publiés, donc rien ne se retrouve par "
        "différence entre la consolidation et les bilans des structures (vérifié par algèbre "
        "linéaire dans `tests/test_consolidate.py`).",
        "- Limite : une case masquée par une seule structure masque la case consolidée, même "
        "si le total serait grand ; seul un tiers de confiance recevant les journaux pourrait "
        "faire mieux.",
    ]
    return "\n".join(lines) + "\n"


def main(directory: str = "docs") -> None:
    """Write ``sources.md``, ``methodologie.md`` and ``bilan.md``."""
    for name, text in (("sources.md", render()), ("methodologie.md", render_methodology()),
                       ("bilan.md", render_bilan())):
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8")
        print(f"écrit : {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
