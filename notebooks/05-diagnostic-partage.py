# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 — Le diagnostic partagé, en un appel
#
# Les carnets 01 à 04 détaillent chaque étape. Ici, tout le travail tient en **un appel** : `fragility.diagnose(territoire, dossier, ...)` — celui de `fragility diagnose` en ligne de commande et de `make demo`. Il écrit dans le dossier :
#
# - `iris.csv` et `iris.gpkg` : une ligne par IRIS (indicateurs, indices et leur incertitude, typologie, couverture de la médiation, signalement, motifs et phrase), **après la barrière de secret** ;
# - `couverture.md` (données manquantes et pourquoi), `rejets.csv` (lignes du journal rejetées), `sites_proposes.csv`, `figures/*.png` ;
# - `manifest.json` : fichiers lus avec leur empreinte SHA-256, paramètres, graine, versions, diagnostics du modèle — de quoi refaire exactement le même diagnostic.
#
# Par défaut : **territoire de démonstration — données synthétiques**, avec un journal simulé. Pour votre territoire, changez `TERRITOIRE` (code SIREN ou nom de l'EPCI), donnez votre export dans `JOURNAL` et sa clé (`CLE_FICHIER` ou `FRAGILITY_PSEUDO_KEY`) ; sans journal, le diagnostic est en **mode potentiel**. Les résultats vont dans `out/` à la racine du dépôt (ignoré par git) ou dans `SORTIE`.

# %% tags=["parameters"]
import os

TERRITOIRE = "demo"  # "demo", ou le code SIREN (ou le nom) d'un EPCI, ex. "242100410"
DONNEES = os.environ.get("FRAGILITY_REAL_DATA", "../../shared/data/real")
JOURNAL = None  # chemin de votre export ; None : simulé (démo) ou mode potentiel
CLE_FICHIER = None  # fichier de la clé de pseudonymisation (sinon FRAGILITY_PSEUDO_KEY)
SORTIE = None  # dossier des résultats ; None : out/diagnostic-<TERRITOIRE> (ignoré par git)
GRAINE = 0

# %%
import importlib.util
import json
from pathlib import Path

import pandas as pd
from IPython.display import FileLink, Image, Markdown, display

import fragility as fr
from fragility import maps
from fragility.diagnose import source_line

pd.set_option("display.max_colwidth", 160)

# %% [markdown]
# ## 1. Le diagnostic

# %%
if TERRITOIRE == "demo":
    territoire = fr.Territory.demo()
else:
    territoire = fr.Territory.from_epci(TERRITOIRE, data_dir=DONNEES)
sortie = Path(SORTIE) if SORTIE else Path("..") / "out" / f"diagnostic-{TERRITOIRE}"
diagnostic = fr.diagnose(territoire, sortie, logs=JOURNAL, key_file=CLE_FICHIER,
                         progress=False, seed=GRAINE)
print(diagnostic.summary())

# %% [markdown]
# ## 2. Les fichiers écrits

# %%
pd.DataFrame(
    [{"fichier": str(p.relative_to(sortie)), "octets": p.stat().st_size}
     for p in diagnostic.files]
)

# %% [markdown]
# ## 3. `iris.csv` : une ligne par IRIS
#
# Séparateur `;`, codes IRIS en texte. Quelques colonnes parmi plus de 200 : l'indice et son intervalle de rang, la couverture (contacts publiés, attendus, rapport lissé et son intervalle), le signalement et sa phrase.

# %%
iris = pd.read_csv(sortie / "iris.csv", sep=";", dtype={"iris": str, "commune": str})
print(len(iris), "lignes,", len(iris.columns), "colonnes")
colonnes = ["iris", "commune_name", "iris_name", "isolation_index", "isolation_rank_low",
            "isolation_rank_high", "non_recours_index", "contacts", "persons",
            "counts_status", "expected_contacts", "coverage_ratio", "coverage_ratio_low",
            "coverage_ratio_high", "flag", "phrase"]
iris[[c for c in colonnes if c in iris.columns]].head(10)

# %%
# Les IRIS signalés, avec leur phrase
signales = iris[iris["flag"].isin(["sous_desservi_probable", "a_surveiller"])]
signales[["iris", "commune_name", "iris_name", "flag", "phrase"]].sort_values("flag",
                                                                             ascending=False)

# %% [markdown]
# ## 4. `manifest.json` : de quoi refaire le même diagnostic
#
# Les fichiers d'entrée et leur empreinte, le journal (nom et empreinte, jamais son contenu), la graine, la configuration des indices, les paramètres et diagnostics de l'évaluation, les versions des bibliothèques et un horodatage.

# %%
manifeste = json.loads((sortie / "manifest.json").read_text(encoding="utf-8"))
print("Clés :", ", ".join(manifeste))
print("Territoire :", manifeste["territoire"]["nom"], "— synthétique :",
      manifeste["territoire"]["synthetique"])
print("Journal :", manifeste["journal"])
print("Graine :", manifeste["graine"], "— horodatage :", manifeste["horodatage"])
print("Signalements :", manifeste["evaluation"]["signalements"])
pd.DataFrame(manifeste["entrees"])

# %%
# Les figures du diagnostic (cartes statiques, prêtes à imprimer)
for figure in diagnostic.files:
    if figure.suffix == ".png" and figure.stem in ("indice_isolation", "zones_sous_desservies"):
        display(Image(filename=str(figure), width=520))

# %% [markdown]
# ## 5. Le rapport
#
# Quand le module `fragility.report` est disponible, le diagnostic se lit aussi en une page HTML autonome (`diagnostic.html` : chiffres clés, cartes, zones sous-desservies, sites proposés, typologie, méthode, sources et note de secret), à ouvrir dans un navigateur ou à imprimer.

# %%
rapport = next((p for p in diagnostic.files if p.name == "diagnostic.html"), None)
if rapport is None and importlib.util.find_spec("fragility.report") is not None:
    from fragility import report

    if hasattr(report, "write_report"):
        rapport = report.write_report(diagnostic, sortie / "diagnostic.html")
if rapport is not None:
    print("Rapport :", Path(rapport).resolve())
    display(FileLink(os.path.relpath(rapport)))
else:
    print("Pas de rapport HTML dans cette version de fragility.")

# %%
# Carte interactive (si cette version de fragility la propose)
if hasattr(maps, "interactive_map"):
    sites = diagnostic.assessment.sites
    carte = maps.interactive_map(
        diagnostic.table.gdf,
        services=diagnostic.table.services,
        sites=None if sites is None else sites.sites,
        title=f"Diagnostic — {territoire.name}",
        source_line=source_line(diagnostic.table),
        synthetic=territoire.is_synthetic,
    )
    display(carte)

# %% [markdown]
# ## 6. Le secret : ce qui peut être partagé
#
# Les journaux de médiation parlent de personnes. Avant d'écrire quoi que ce soit, `diagnose` fait passer les effectifs par une **barrière de secret** :
#
# - une case (un IRIS) qui compte **moins de k = 11 personnes distinctes** n'est pas publiée (secret **primaire**) ;
# - des cases supplémentaires sont masquées quand elles permettraient de retrouver une case secrète **par différence** avec un total (secret **secondaire**) ;
# - une case où **une seule personne** fait l'essentiel des contacts est masquée (**dominance**) ;
# - pour un IRIS masqué, tout ce qui dérive de ses effectifs est effacé (rapport, intervalle, probabilité, q-valeur), et la phrase ne donne qu'une **tranche** (« entre 0,25 et 0,5 fois les contacts attendus ») ;
# - le journal lui-même n'est jamais recopié : identifiants directs et texte libre supprimés à l'import, personnes pseudonymisées (HMAC, clé hors du dépôt), mois seulement.
#
# « Sous-desservi » est **relatif** (moins de contacts qu'attendu pour ce besoin, comparé au reste de la zone) et ne dit rien des personnes. Les cartes à l'IRIS et au QPV peuvent stigmatiser des quartiers : diffusion restreinte aux partenaires du diagnostic partagé ; publication ouverte à la commune ou à l'EPCI seulement.

# %%
secret = diagnostic.assessment.suppression
if secret is not None:
    display(Markdown(f"**Règles appliquées :** {secret.method}"))
    print(f"{secret.cells} cases ; masquées : {secret.primary} (primaire), "
          f"{secret.secondary} (secondaire), {secret.dominance_suppressed} (dominance)")
    display(iris["counts_status"].value_counts(dropna=False).to_frame("IRIS"))
else:
    print("Mode potentiel : aucun effectif de journal publié, rien à masquer.")
