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
# # 04 — Zones sous-desservies : le besoin est-il couvert par la médiation ?
#
# Ce carnet compare, IRIS par IRIS, les **contacts de médiation observés** (journal importé) aux **contacts attendus pour ce niveau de besoin**, puis signale les IRIS probablement sous-desservis, avec leurs motifs et une phrase en français. Il montre aussi l'accessibilité (France Services la plus proche, E2SFCA), les grappes spatiales (LISA) et les meilleurs emplacements pour de nouvelles permanences.
#
# Tout est calculé par `fragility.assessment.assess` (qui appelle `fragility.coverage`, `fragility.underserved`, `fragility.accessibility`, `fragility.spatial` et `fragility.siting`) ; le carnet n'ajoute que des tableaux et des graphiques. La méthode est décrite dans `docs/methodologie.md` (section « Couverture de la médiation et zones sous-desservies »).
#
# - Sur le **territoire de démonstration — données synthétiques** (par défaut), le journal est **simulé** avec 6 IRIS plantés sous-desservis : on peut donc vérifier ce que la méthode retrouve.
# - Sur **votre territoire** (`TERRITOIRE = "242100410"`, par exemple), donnez votre export dans `JOURNAL` et la clé de pseudonymisation (`CLE_FICHIER` ou la variable d'environnement `FRAGILITY_PSEUDO_KEY`). Sans journal, seul le **mode potentiel** (besoin × accessibilité) est calculé.
#
# ⚠️ Les tableaux de ce carnet (avant la barrière de secret) restent sur le poste de l'analyste : seules les sorties de `diagnose` (carnet 05) sont faites pour être partagées.

# %% tags=["parameters"]
import os

TERRITOIRE = "demo"  # "demo", ou le code SIREN (ou le nom) d'un EPCI, ex. "242100410"
DONNEES = os.environ.get("FRAGILITY_REAL_DATA", "../../shared/data/real")
JOURNAL = None  # chemin de votre export (CSV, XLSX, Parquet) ; None : simulé (démo) ou aucun
CLE_FICHIER = None  # fichier de la clé de pseudonymisation (sinon FRAGILITY_PSEUDO_KEY)
GRAINE = 0

# %%
import secrets
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from matplotlib.lines import Line2D

import fragility as fr
from fragility.assessment import AssessmentSettings, assess
from fragility.diagnose import with_indices
from fragility.logs import read_log, simulate_export, write_export
from fragility.underserved import FLAGS, REASONS

pd.set_option("display.max_colwidth", 200)
COULEURS = {"sous_desservi_probable": "#b2182b", "a_surveiller": "#ef8a62",
            "conforme": "#a6d96a", "sur_sollicite": "#1a9641",
            "donnees_insuffisantes": "#bdbdbd"}


def carte_categories(ax, gdf, colonne, couleurs, libelles, titre):
    """Carte d'une colonne catégorielle (affichage seulement)."""
    gdf.plot(ax=ax, color="#f0f0f0", edgecolor="white", linewidth=0.3)
    for valeur, couleur in couleurs.items():
        part = gdf[gdf[colonne] == valeur]
        if len(part):
            part.plot(ax=ax, color=couleur, edgecolor="white", linewidth=0.3)
    ax.legend(handles=[Line2D([], [], marker="s", linestyle="", color=c, markersize=9,
                              label=f"{libelles.get(v, v)} ({int((gdf[colonne] == v).sum())})")
                       for v, c in couleurs.items()],
              loc="lower left", fontsize=7, frameon=True)
    ax.set_title(titre, fontsize=10)
    ax.set_axis_off()


# %% [markdown]
# ## 1. Le territoire, ses indices et son journal
#
# Les indices de besoin (carnet 03) sont les seules covariables du modèle des contacts attendus.

# %%
if TERRITOIRE == "demo":
    territoire = fr.Territory.demo()
else:
    territoire = fr.Territory.from_epci(TERRITOIRE, data_dir=DONNEES)
table = fr.build_iris_table(territoire, progress=False)
gdf, indices = with_indices(table, seed=GRAINE)
print(territoire.label, "—", len(gdf), "IRIS")

# %% [markdown]
# Sur la démo, l'export simulé est écrit dans un dossier temporaire (au format d'un tableur français : `;`, Windows-1252, lignes fautives et identifiants plantés) puis relu par l'importeur, exactement comme un vrai fichier, avec une clé aléatoire à usage unique. Le simulateur garde la **vérité** : quels IRIS ont été plantés sous-desservis.

# %%
simulation, journal = None, None
if JOURNAL is not None:
    journal = read_log(JOURNAL, table.gdf, key_file=CLE_FICHIER)
elif territoire.is_synthetic:
    simulation = simulate_export(table, n=20_000, seed=GRAINE, planted_under_served=6)
    with tempfile.TemporaryDirectory(prefix="fragility-04-") as dossier:
        export = write_export(simulation, Path(dossier) / "journal_simule.csv")
        journal = read_log(export, table.gdf, key=secrets.token_bytes(32))
print(journal.summary() if journal is not None else
      "Pas de journal : seul le mode potentiel (besoin × accessibilité) est calculé.")

# %% [markdown]
# ## 2. L'évaluation
#
# Un seul appel : contacts par IRIS, accessibilité, contacts attendus, entonnoir, lissage bayésien, statistiques spatiales, signalements, sites proposés, puis la barrière de secret (`evaluation.published`).

# %%
reglages = AssessmentSettings()  # seuil de secret k = 11, 3 sites, rayon 3 km...
evaluation = assess(gdf, services=table.services, log_import=journal, settings=reglages,
                    seed=GRAINE)
print("\n".join(evaluation.summary_lines()))
couverture = evaluation.coverage  # None en mode potentiel
noms = gdf[["commune_name", "iris_name"]]

# %% [markdown]
# ## 3. Les contacts attendus
#
# Régression binomiale négative des contacts observés sur le **besoin seulement** (indices d'isolement et de non-recours, part en QPV ; standardisés), la population en exposition. `E` dit combien de contacts l'IRIS recevrait **s'il était couvert comme un IRIS moyen de la zone au même besoin**. L'offre et l'accessibilité ne sont jamais covariables : sinon un IRIS loin de tout « attendrait » peu de contacts et ne serait jamais signalé.
#
# À lire : les coefficients (échelle standardisée ; `const` = log des contacts par habitant à besoin moyen), la surdispersion `α`, la dispersion de Pearson (≈ 1 quand la variance est bien modélisée), et `τ²` (surdispersion résiduelle, qui élargit l'entonnoir).

# %%
if couverture is not None:
    modele = couverture.model
    print(modele.summary_fr())
    print(f"Dispersion de Pearson : {modele.pearson_dispersion:.2f} ; "
          f"τ² = {couverture.tau2:.4f} ; a priori Gamma (a, b) = "
          f"({couverture.prior[0]:.2f}, {couverture.prior[1]:.2f})")
    for note in modele.notes:
        print("-", note)
    display(pd.DataFrame({"coefficient": modele.coefficients,
                          "erreur type": modele.std_errors}).round(3))

# %% [markdown]
# ## 4. L'entonnoir
#
# Chaque point est un IRIS évalué : en abscisse les contacts attendus, en ordonnée le rapport observé / attendu. Les limites à 95 % (tirets) et 99,8 % (traits pleins) se resserrent quand `E` grandit : un petit IRIS peut avoir un rapport de 0,5 par hasard, un grand IRIS non. Un point **sous la limite basse à 99,8 %** est un déficit que le hasard explique mal. Les limites sont lues dans les colonnes `limit95_low`… de `couverture.table`.

# %%
if couverture is not None:
    t = couverture.table[couverture.table["assessed"]].sort_values("expected")
    drapeau = evaluation.frame["flag"].reindex(t.index)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for niveau, style, libelle in (("95", "--", "limites à 95 %"),
                                   ("998", "-", "limites à 99,8 %")):
        ax.plot(t["expected"], t[f"limit{niveau}_low"], style, color="grey", lw=1,
                label=libelle)
        ax.plot(t["expected"], t[f"limit{niveau}_high"], style, color="grey", lw=1)
    ax.axhline(1, color="black", lw=0.8)
    for cle, couleur in COULEURS.items():
        sel = drapeau == cle
        if sel.any():
            ax.scatter(t.loc[sel, "expected"], t.loc[sel, "ratio"], color=couleur, s=22,
                       edgecolor="black", linewidth=0.3, label=FLAGS[cle], zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("contacts attendus E (échelle log)")
    ax.set_ylabel("contacts observés / attendus")
    ax.set_title("Entonnoir de la couverture de médiation")
    ax.legend(fontsize=8)

# %% [markdown]
# ## 5. Les rapports lissés et leur intervalle
#
# Le rapport brut `O/E` d'un petit IRIS est bruité. Le **lissage bayésien empirique** le rapproche de la moyenne de la zone d'autant plus que l'IRIS est petit : c'est `coverage_ratio`, avec son intervalle à 90 % et `p_shortfall`, la probabilité a posteriori d'un déficit d'au moins 20 %. La **q-valeur** (Benjamini-Hochberg) dit combien de signalements le hasard seul donnerait.

# %%
if couverture is not None:
    t = couverture.table[couverture.table["assessed"]].sort_values("eb_ratio")
    fig, ax = plt.subplots(figsize=(12, 4))
    x = range(len(t))
    couleurs = evaluation.frame["flag"].reindex(t.index).map(COULEURS)
    ax.vlines(x, t["eb_low"], t["eb_high"], color=couleurs, lw=1.5)
    ax.scatter(x, t["eb_ratio"], color=couleurs, s=14, zorder=3, label="rapport lissé")
    ax.scatter(x, t["ratio"], marker="x", color="black", s=10, lw=0.6, label="rapport brut")
    ax.axhline(1, color="black", lw=0.8)
    ax.axhline(couverture.settings.materiality, color="grey", ls=":", lw=1,
               label="déficit de 20 %")
    ax.set_xticks([])
    ax.set_xlabel("IRIS évalués, du moins au mieux couvert")
    ax.set_ylabel("contacts observés / attendus")
    ax.legend(fontsize=8)
    colonnes = ["observed", "expected", "ratio", "eb_ratio", "eb_low", "eb_high",
                "p_shortfall", "q_value"]
    display(noms.join(t[colonnes], how="inner").sort_values("eb_ratio").head(12).round(3))

# %% [markdown]
# ## 6. Les signalements, leurs motifs et leurs phrases
#
# | signalement | règle |
# |---|---|
# | Sous-desservi probable | rapport sous la limite basse à 99,8 % **et** P(déficit ≥ 20 %) ≥ 0,9 |
# | À surveiller | sous la limite à 95 %, **ou** P(déficit ≥ 20 %) ≥ 0,75 |
# | Conforme | dans les limites |
# | Sur-sollicité | au-dessus de la limite haute à 99,8 % (pas un problème en soi) |
# | Données insuffisantes | non évalué (hors zone, IRIS d'activité, moins de 5 contacts attendus…) |
#
# « Sous-desservi » est **relatif** : moins de contacts qu'attendu pour ce besoin, comparé aux autres IRIS de la zone. Les phrases ci-dessous sont celles de la colonne `phrase` **publiée** (après la barrière de secret : pour un IRIS dont les effectifs sont secrets, le rapport est donné en tranche).

# %%
publie = evaluation.published
publie["flag"].map(FLAGS).value_counts().to_frame("IRIS")

# %%
signales = noms.join(publie[["flag", "reasons", "phrase"]], how="inner")
signales = signales[signales["flag"].isin(["sous_desservi_probable", "a_surveiller"])]
ordre = signales["flag"].map({"sous_desservi_probable": 0, "a_surveiller": 1})
signales.assign(flag=signales["flag"].map(FLAGS)).loc[ordre.sort_values(kind="stable").index]

# %%
# Signification des motifs rencontrés
motifs = {m for valeur in publie["reasons"].dropna() for m in str(valeur).split(",") if m}
pd.Series({m: REASONS[m] for m in REASONS if m in motifs}, name="motif").to_frame()

# %%
fig, ax = plt.subplots(figsize=(7, 7))
carte_categories(ax, gdf[["geometry"]].join(publie["flag"]), "flag", COULEURS, FLAGS,
                 f"Signalements ({evaluation.mode})")

# %% [markdown]
# ## 7. Grappes spatiales (LISA)
#
# L'I de Moran mesure si le besoin, ou la couverture, se ressemble entre IRIS voisins. Les LISA repèrent les **grappes** : « faible-faible » (`LL`) = un IRIS peu couvert entouré d'IRIS peu couverts — un trou de couverture plus large qu'un IRIS, ce qui est un motif de signalement (`grappe_sous_couverture`).

# %%
moran = {k.removeprefix("moran_"): v for k, v in evaluation.spatial.items()
         if k.startswith("moran_")}
display(pd.DataFrame(moran).T)
grappes = {"LL": "#2166ac", "HH": "#b2182b", "LH": "#92c5de", "HL": "#f4a582"}
libelles = {"LL": "faible-faible", "HH": "fort-fort", "LH": "faible entouré de fort",
            "HL": "fort entouré de faible"}
if evaluation.frame["lisa_coverage"].notna().any():
    fig, ax = plt.subplots(figsize=(6, 6))
    carte_categories(ax, gdf[["geometry"]].join(evaluation.frame["lisa_coverage"]),
                     "lisa_coverage", grappes, libelles, "Grappes LISA de la couverture")
else:
    print("Pas de grappes LISA (mode potentiel ou trop peu d'IRIS évalués).")

# %% [markdown]
# ## 8. Accessibilité
#
# Deux mesures depuis un point intérieur de chaque IRIS : la **distance à vol d'oiseau à la France Services la plus proche**, et l'**accessibilité E2SFCA** (points de service pour 10 000 habitants dans le bassin de 20 km, avec une décroissance gaussienne : elle tient compte de la population qui se partage chaque structure). Elles servent de **motifs** (France Services éloignée, accès dans le quintile le plus faible), jamais de covariables du modèle.

# %%
acces = evaluation.frame[["fs_distance_m", "access_2sfca"]]
display(acces.describe().round(2).T)
fig, axes = plt.subplots(1, 2, figsize=(13, 6))
carte = gdf[["geometry"]].join(acces)
carte.plot(ax=axes[0], column="fs_distance_m", cmap="YlOrRd", legend=True,
           legend_kwds={"label": "mètres", "shrink": 0.6})
carte.plot(ax=axes[1], column="access_2sfca", cmap="YlGn", legend=True,
           legend_kwds={"label": "pour 10 000 habitants", "shrink": 0.6})
if table.services is not None and len(table.services):
    boite = gdf.total_bounds
    proches = table.services.to_crs(gdf.crs).cx[boite[0]:boite[2], boite[1]:boite[3]]
    for ax in axes:
        proches.plot(ax=ax, color="black", marker="^", markersize=30)
axes[0].set_title("Distance à la France Services la plus proche (▲)", fontsize=10)
axes[1].set_title("Accessibilité E2SFCA", fontsize=10)
for ax in axes:
    ax.set_axis_off()

# %% [markdown]
# ## 9. Où ouvrir de nouvelles permanences ?
#
# Les IRIS signalés portent un **besoin non couvert** `max(E − O, 0)` (en mode potentiel : population × besoin). Un modèle de couverture maximale (programme linéaire en nombres entiers) choisit, parmi les centres des communes et les France Services, les sites qui couvrent le plus de ce besoin dans un rayon donné. L'écart d'optimalité est indiqué.

# %%
sites = evaluation.sites
if sites is not None:
    print(sites.summary_fr())
    display(sites.sites.drop(columns=["demand_covered"], errors="ignore").round(3))
    fig, ax = plt.subplots(figsize=(7, 7))
    carte_categories(ax, gdf[["geometry"]].join(publie["flag"]), "flag", COULEURS, FLAGS,
                     "Sites proposés (★) et signalements")
    ax.scatter(sites.sites["x"], sites.sites["y"], marker="*", s=300, color="gold",
               edgecolor="black", zorder=4)
    for rangee in sites.sites.itertuples():
        ax.annotate(str(rangee.rank), (rangee.x, rangee.y), xytext=(6, 6),
                    textcoords="offset points", fontsize=9, weight="bold")
else:
    print("Aucun site proposé (aucun besoin non couvert signalé).")

# %% [markdown]
# ## 10. Ce que la méthode retrouve (démo seulement)
#
# Le simulateur a planté 6 IRIS à fort besoin ne recevant qu'environ 15 % des contacts attendus. La table croise cette vérité avec les signalements : idéalement, les IRIS plantés sont « sous-desservis probables » ou « à surveiller », et les autres rarement. Un signalement d'IRIS non planté n'est pas forcément une erreur : le simulateur fait aussi varier la présence des équipes. Le banc d'essai complet est dans `bench/results_underserved.md` (`make bench`).

# %%
if simulation is not None:
    verite = simulation.truth["planted_under_served"].reindex(gdf.index).fillna(False)
    verite = verite.map({True: "planté sous-desservi", False: "non planté"})
    verite = verite.rename("vérité du simulateur")
    display(pd.crosstab(verite, evaluation.frame["flag"].map(FLAGS).rename("signalement"),
                        margins=True, margins_name="total"))
else:
    print("Pas de vérité plantée : journal réel ou absent.")

# %% [markdown]
# ## 11. Sans journal : le mode potentiel
#
# Sans journal, `assess` signale à partir du **besoin et de l'accessibilité seuls** : besoin dans le quintile le plus élevé et accessibilité dans le quintile le plus faible → « sous-desservi probable » ; l'un dans le pire quintile et l'autre dans les deux pires → « à surveiller ». Confiance **faible** : cela dit où vérifier la couverture, pas qu'elle manque. Sur la démo, on le compare au mode journal (et à la vérité plantée).

# %%
potentiel = assess(gdf, services=table.services, settings=reglages, seed=GRAINE)
print("\n".join(potentiel.summary_lines()))
comparaison = pd.DataFrame({"potentiel": potentiel.frame["flag"].map(FLAGS)})
if journal is not None:
    comparaison["journal"] = evaluation.frame["flag"].map(FLAGS)
    display(pd.crosstab(comparaison["potentiel"], comparaison["journal"], margins=True,
                        margins_name="total"))
if simulation is not None:
    display(pd.crosstab(verite, comparaison["potentiel"], margins=True, margins_name="total"))
fig, ax = plt.subplots(figsize=(6, 6))
carte_categories(ax, gdf[["geometry"]].join(potentiel.published["flag"]), "flag", COULEURS,
                 FLAGS, "Signalements en mode potentiel (confiance faible)")
