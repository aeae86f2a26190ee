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
# # 02 — Journaux de médiation : import, rejets, pseudonymisation, secret
#
# Ce carnet importe un export de logiciel de suivi. Sur le **territoire de démonstration — données synthétiques**, l'export est produit par le simulateur : en-têtes français, lignes volontairement fautives et identifiants plantés dans les commentaires.
#
# La clé de pseudonymisation vient de `FRAGILITY_PSEUDO_KEY` ou d'un fichier (`CLE_FICHIER`) ; ici, faute de clé, une clé **de démonstration** est créée dans un dossier temporaire : ne faites jamais cela avec de vraies données.

# %% tags=["parameters"]
EXPORT = None  # chemin de votre export ; None = export simulé
CLE_FICHIER = None
N = 5000
GRAINE = 1

# %%
import os
import tempfile
from pathlib import Path

import fragility as fr
from fragility import logs
from fragility.disclosure import protect

# %%
territoire = fr.Territory.demo()
table = fr.build_iris_table(territoire)
dossier = Path(tempfile.mkdtemp(prefix="fragility-journal-"))
if EXPORT is None:
    simulation = logs.simulate_export(table, n=N, seed=GRAINE)
    EXPORT = logs.write_export(simulation, dossier / "export.csv")
if CLE_FICHIER is None and not os.environ.get("FRAGILITY_PSEUDO_KEY"):
    CLE_FICHIER = dossier / "cle-demo.txt"
    CLE_FICHIER.write_text("00" * 32)
EXPORT

# %% [markdown]
# ## 1. Import : lues = acceptées + rejetées

# %%
journal = logs.read_log(EXPORT, table.gdf, key_file=CLE_FICHIER)
print(journal.summary())

# %%
journal.rejects.head(10)

# %% [markdown]
# ## 2. Le journal accepté : pseudonymes, mois, IRIS — aucun identifiant direct

# %%
journal.events[["period_month", "registre", "thematique", "geo_iris", "geo_level", "person_key"]].head()

# %% [markdown]
# ## 3. Agrégation et barrière de secret (k = 11 personnes distinctes)

# %%
par_iris = logs.aggregate(journal.events, level="iris")
publiable, manifeste = protect(par_iris, keys=["iris"], top_share="top_share", k=11)
print(manifeste.method)
publiable["statut"].value_counts()
