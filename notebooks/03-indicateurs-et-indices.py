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
# # 03 — Indicateurs et indices : où se concentrent les risques d'isolement et de non-recours
#
# Ce carnet suit le diagnostic pas à pas, de la table IRIS jusqu'aux indices composites :
#
# 1. la **table IRIS** du territoire (carnet 01) ;
# 2. les **indicateurs de base**, chacun avec son **statut** (valeur calculée, fragile, ou absente et pourquoi) ;
# 3. les trois **indices composites** — risque d'isolement, risque de non-recours (écart besoin / prestations, et barrières chez les éligibles probables) — avec leur **intervalle de rang** et le **groupe de tête robuste** ;
# 4. la **sensibilité** : quels choix de méthode font bouger les rangs ;
# 5. la **typologie** des IRIS (profils nommés) ;
# 6. une **carte** d'un indice.
#
# Tout est calculé par la bibliothèque (`fragility.indicators`, `fragility.composite`, `fragility.typology`, `fragility.maps`) : le carnet ne fait que l'appeler et montrer les résultats. La méthode est décrite dans `docs/methodologie.md`.
#
# Par défaut il tourne sur le **territoire de démonstration — données synthétiques**. Pour votre territoire, changez `TERRITOIRE` dans la cellule de paramètres (code SIREN ou nom de l'EPCI, par exemple `"242100410"` pour Dijon Métropole) et, au besoin, `DONNEES` (dossier des fichiers officiels : chemin absolu, ou relatif au dossier `notebooks/`).

# %% tags=["parameters"]
import os

TERRITOIRE = "demo"  # "demo", ou le code SIREN (ou le nom) d'un EPCI, ex. "242100410"
DONNEES = os.environ.get("FRAGILITY_REAL_DATA", "../../shared/data/real")
GRAINE = 0  # graine des tirages Monte-Carlo et de la typologie
PROFILS = 5  # nombre de profils de la typologie

# %%
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, display

import fragility as fr
from fragility.composite import STATUSES as STATUTS_INDICE
from fragility.composite import compute_index, load_config
from fragility.diagnose import source_line
from fragility.errors import FragilityWarning
from fragility.indicators import STATUSES as STATUTS_INDICATEUR
from fragility.indicators import compute_indicators, describe
from fragility.maps import static_map
from fragility.typology import Typology

pd.set_option("display.max_colwidth", 120)

# %% [markdown]
# ## 1. Le territoire et sa table IRIS
#
# Une ligne par IRIS, en Lambert-93, avec les variables brutes des fichiers officiels (recensement, Filosofi, QPV, France services). Le carnet 01 détaille ce qui manque et pourquoi.

# %%
if TERRITOIRE == "demo":
    territoire = fr.Territory.demo()
else:
    territoire = fr.Territory.from_epci(TERRITOIRE, data_dir=DONNEES)
table = fr.build_iris_table(territoire, progress=False)
gdf = table.gdf
print(territoire.label)
population = f"{gdf['population'].sum():,.0f}".replace(",", "\u202f")
print(f"{len(gdf)} IRIS, {gdf['commune'].nunique()} communes, population {population}")

# %% [markdown]
# ## 2. Les indicateurs de base et leurs statuts
#
# Chaque indicateur est un rapport de comptes (numérateur / dénominateur) ou une valeur publiée (Filosofi), déclaré une fois dans le registre. Le tableau ci-dessous dit, pour **ce** territoire, si l'indicateur est disponible, par quelle formule, et sur combien d'IRIS.

# %%
disponibilite = describe(table)
disponibilite[["key", "label_fr", "availability", "n_values", "n_iris", "vintage", "note"]]

# %% [markdown]
# Chaque indicateur `<clé>` est accompagné de `<clé>_status`. **Aucune valeur n'est remplie en silence** :
#
# - une valeur présente peut porter un marqueur : `petit_denominateur` (moins de 30 personnes au dénominateur : valeur gardée mais fragile, à ne pas sur-interpréter), `substitut` (variante documentée de la formule), `valeur_communale` (Filosofi de la commune faute de valeur à l'IRIS)… Les marqueurs se cumulent avec « + » ;
# - une valeur absente est vide, avec sa raison : `secret_statistique`, `hors_champ_filosofi_iris` (commune trop petite pour Filosofi à l'IRIS), `absent` (variable absente des fichiers)…
#
# Le décompte des statuts par indicateur montre d'un coup d'œil où les données sont fragiles.

# %%
indicateurs = compute_indicators(table)
statuts = indicateurs.filter(like="_status")
decompte = statuts.apply(lambda colonne: colonne.value_counts()).T.fillna(0).astype(int)
decompte.index = decompte.index.str.removesuffix("_status")
decompte

# %%
# Signification des statuts rencontrés sur ce territoire
rencontres = {marqueur for valeur in statuts.stack().unique() for marqueur in str(valeur).split("+")}
pd.Series({s: STATUTS_INDICATEUR[s] for s in STATUTS_INDICATEUR if s in rencontres},
          name="signification").to_frame()

# %%
gdf[["commune_name", "iris_name"]].join(
    indicateurs[["pop80_alone_share", "pop80_alone_share_status",
                 "pop80_alone_share_denominator", "poverty_rate", "poverty_rate_status"]]
).head(10)

# %% [markdown]
# ## 3. Les indices composites
#
# Trois indices, définis dans `src/fragility/defaults/diagnostic.toml` (poids, normalisation, agrégation) :
#
# - **isolement** : moyenne pondérée des composantes (personnes âgées seules, ménages d'une personne, sans voiture, pauvreté…) ;
# - **non-recours, écart** : un besoin (pauvreté) peu traduit en prestations (part des minima sociaux et aides au logement dans le revenu) ;
# - **non-recours, barrières** : éligibilité probable (pauvreté) × barrières (âge, diplôme, langue, mobilité, distance à France services…).
#
# Chaque indice va de 0 à 100 ; **le rang 1 signale le plus fort besoin**. Un IRIS n'est pas classé quand il a trop peu d'habitants (`trop_petit` : moins de 200 habitants, le score serait du bruit), quand c'est un IRIS d'activité ou divers (`iris_activite`), ou quand trop de composantes manquent (`donnees_insuffisantes`). Un **score partiel** (`partiel`) est calculé sur les composantes renseignées, poids re-normalisés : il est comparable aux autres, mais repose sur moins d'information (la colonne `components_missing` dit lesquelles manquent).
#
# Les choix de méthode (poids, normalisation, composantes) sont en partie arbitraires : 1 000 tirages Monte-Carlo les font varier, ce qui donne pour chaque IRIS un **intervalle de rang à 90 %** et la **probabilité d'être dans le groupe de tête** (les 20 % d'IRIS classés les plus exposés).

# %%
config = load_config()
with warnings.catch_warnings():
    # composantes absentes du territoire : dites dans le résumé et les statuts ci-dessous
    warnings.simplefilter("ignore", FragilityWarning)
    indices = {
        nom: compute_index(indicateurs, nom, population=gdf["population"],
                           iris_type=gdf["iris_type"], seed=GRAINE, config=config)
        for nom in config.indices
    }
for resultat in indices.values():
    print(resultat.summary_fr(max_listed=8))
    print()

# %%
# Statut des IRIS pour chaque indice
statuts_indices = pd.DataFrame(
    {resultat.spec.label_fr: resultat.values["status"].value_counts()
     for resultat in indices.values()}
).fillna(0).astype(int)
statuts_indices.insert(0, "signification", statuts_indices.index.map(STATUTS_INDICE))
statuts_indices

# %% [markdown]
# ### Lire un intervalle de rang
#
# Dans le tableau suivant (indice d'isolement, IRIS les mieux classés), un IRIS de **rang 3** avec un intervalle **2 – 9** s'est classé entre le 2ᵉ et le 9ᵉ rang dans 90 % des tirages. Deux IRIS dont les intervalles se chevauchent largement **ne peuvent pas être départagés** : l'ordre exact n'a pas de sens, seul le groupe compte.
#
# - `p_top` : part des tirages où l'IRIS est dans le groupe de tête ;
# - `robust_top` : vrai quand `p_top` ≥ 90 % — l'IRIS est en tête **quels que soient les choix raisonnables de méthode** ; c'est sur ce groupe qu'il est prudent de s'appuyer ;
# - entre 10 % et 90 %, l'IRIS n'est en tête que sous certains choix : à regarder de plus près, sans conclure.
#
# Sur le graphique, un indice dont les intervalles sont longs (souvent celui des barrières, qui combine beaucoup de composantes) classe de façon fragile : peu d'IRIS y sont robustement en tête, et c'est une information en soi.

# %%
colonnes = ["index", "rank", "rank_low", "rank_high", "p_top", "robust_top", "status",
            "components_missing"]
isolement = gdf[["commune_name", "iris_name", "population"]].join(
    indices["isolation"].values[colonnes])
isolement.sort_values("rank").head(15)

# %%
def intervalles(resultat, n=30, ax=None):
    """Rang (point) et intervalle de rang à 90 % (trait) des n IRIS les mieux classés."""
    v = resultat.values.dropna(subset=["rank"]).sort_values("rank").head(n)
    ax = ax or plt.gca()
    y = range(len(v))
    couleur = ["#b2182b" if robuste else "#777777" for robuste in v["robust_top"].fillna(False)]
    ax.hlines(y, v["rank_low"].astype(float), v["rank_high"].astype(float), color=couleur)
    ax.scatter(v["rank"].astype(float), y, color=couleur, zorder=3, s=12)
    ax.axvline(resultat.top_size + 0.5, color="black", linestyle=":", linewidth=1)
    ax.set_yticks(list(y), v.index, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rang (1 = plus fort besoin) et intervalle à 90 %")
    ax.set_title(resultat.spec.label_fr, fontsize=9)


fig, axes = plt.subplots(1, len(indices), figsize=(5 * len(indices), 7))
for ax, resultat in zip(axes, indices.values(), strict=True):
    intervalles(resultat, ax=ax)
fig.suptitle("En rouge : robustement dans le groupe de tête ; pointillé : limite du groupe de tête")
fig.tight_layout()

# %% [markdown]
# ## 4. Sensibilité : ce qui fait bouger les rangs
#
# Part de la variance des rangs expliquée par chaque choix de méthode (indice de premier ordre, à la manière de Sobol). Une grande part pour « retrait d'une composante » signifie que le classement dépend beaucoup d'une composante précise : il vaut alors la peine de regarder laquelle (et si ses données sont fiables). Le « reste » couvre les interactions entre choix.

# %%
sensibilite = pd.concat(
    {nom: resultat.sensitivity for nom, resultat in indices.items()}, names=["indice"]
)
sensibilite.assign(part=sensibilite["share"].map("{:.0%}".format))[["label_fr", "part"]]

# %% [markdown]
# ## 5. Typologie : des profils d'IRIS
#
# Les indices disent *combien* ; la typologie dit *quel genre* de besoin. Les IRIS sont regroupés (k-means sur les indicateurs standardisés) en profils nommés par des règles lisibles (« isolement âgé », « précarité urbaine (QPV) », « petits ménages urbains », « aisé, propriétaire », sinon « intermédiaire »). La **stabilité** dit quelle part des ré-ajustements (autres graines) garde l'IRIS dans son profil : un profil peu stable est une frontière floue, pas une catégorie. Un IRIS à qui manquent plus de la moitié des indicateurs n'est pas classé.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FragilityWarning)  # indicateurs écartés : listés ci-dessous
    typologie = Typology(n_profiles=PROFILS, seed=GRAINE).fit(indicateurs)
print(f"Stabilité au réensemencement : ARI moyen {typologie.stability_.ari_mean:.2f}, "
      f"minimum {typologie.stability_.ari_min:.2f} (1 = partition identique)")
if typologie.columns_dropped_:
    print("Indicateurs écartés :", typologie.columns_dropped_)
typologie.profiles_[["size", "share", "stability", "description_fr"]]

# %%
# Centres des profils, en écarts-types à la moyenne du territoire
typologie.centroids_["z"].round(1).T

# %%
# IRIS non classés (plus de la moitié des indicateurs manquants), avec la raison
if len(typologie.unclassified_):
    display(typologie.unclassified_)
else:
    print("Tous les IRIS sont classés.")

# %% [markdown]
# ## 6. Carte d'un indice
#
# La carte est produite par `fragility.maps.static_map` (celle du diagnostic : classes par quantiles, IRIS non classés en gris, échelle, ligne de sources) dans un dossier temporaire. Pour une carte d'un autre indice, changez `nom`.

# %%
nom = "isolation"
carte = gdf[["commune", "geometry"]].join(indices[nom].values[["index"]])
dossier = Path(tempfile.mkdtemp(prefix="fragility-03-"))
image = static_map(
    carte,
    "index",
    dossier / f"indice_{nom}.png",
    title=f"{indices[nom].spec.label_fr} — {territoire.name.split(' (')[0]}",
    subtitle=("Territoire de démonstration — données synthétiques"
              if territoire.is_synthetic else None),
    source_line=source_line(table),
    legend_title="indice (0-100)",
    cmap="OrRd",
    borders=carte.dissolve(by="commune")[["geometry"]],
)
display(Image(filename=str(image), width=650))
