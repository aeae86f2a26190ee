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
# # 01 — Données ouvertes : la table IRIS d'un territoire
#
# Ce carnet construit la table IRIS d'un territoire à partir des fichiers officiels (INSEE, IGN, ANCT) et lit le **rapport de couverture** : ce qui manque, et pourquoi.
#
# Par défaut il tourne sur le **territoire de démonstration — données synthétiques**. Pour votre territoire, changez la cellule de paramètres (`DEMO = False`, `EPCI`, `DONNEES`).

# %% tags=["parameters"]
DEMO = True
EPCI = "242100410"
DONNEES = "../../shared/data/real"

# %%
import fragility as fr
from fragility import sources

# %% [markdown]
# ## 1. Ce que contient le dossier de données
#
# Chaque fichier est reconnu par son contenu, pas par son nom.

# %%
territoire = fr.Territory.demo() if DEMO else fr.Territory.from_epci(EPCI, data_dir=DONNEES)
catalogue = territoire.catalogue()
{couche: [f.path.name for f in fichiers] for couche, fichiers in catalogue.files.items()}

# %% [markdown]
# ## 2. Le territoire

# %%
print(territoire.label)
print(len(territoire.communes), "communes ; calculs en", territoire.crs)

# %% [markdown]
# ## 3. La table IRIS

# %%
table = fr.build_iris_table(territoire)
table.gdf[["commune_name", "iris_name", "iris_type", "population", "population_status", "DISP_TP60", "qpv_share", "fs_distance_m"]].head(10)

# %% [markdown]
# ## 4. Ce qui manque, et pourquoi
#
# Le rapport de couverture liste, couche par couche, les IRIS sans données et la raison (absent du fichier, secret statistique, hors du champ de Filosofi à l'IRIS, autre géographie…).

# %%
table.coverage.groupby(["layer", "reason"]).size()

# %%
for avertissement in table.warnings:
    print("-", avertissement)

# %% [markdown]
# ## 5. Les variables et leur millésime
#
# Les variables INSEE sont renommées sans millésime (`P17_POP` → `P_POP`) ; le millésime est gardé ici.

# %%
table.variables.head(10)

# %% [markdown]
# ## 6. Une première carte

# %%
table.gdf.plot(column="population", scheme="quantiles", k=5, cmap="Blues", legend=True, figsize=(7, 7)).set_axis_off()
