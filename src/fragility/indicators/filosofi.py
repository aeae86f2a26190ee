"""Filosofi indicators (INSEE, revenus disponibles localisés).

Filosofi publishes rates, medians and income shares, not the counts behind them: these
indicators are ``value`` indicators. Where INSEE publishes no IRIS value (commune under
the IRIS threshold), the IRIS table may carry the commune's value
(``filosofi_level == "commune"``): such values get the status ``valeur_communale``.
"""

from __future__ import annotations

from fragility.indicators._registry import Indicator, register

register(
    Indicator(
        key="poverty_rate",
        label_fr="Taux de pauvreté (seuil à 60 % du niveau de vie médian)",
        numerator=("DISP_TP60",),
        denominator=None,
        layer="filosofi_iris",
        unit="rate",
        direction=1,
        kind="value",
        scale=0.01,
        min_denominator=None,
        definition_fr=(
            "Part des personnes des ménages fiscaux dont le niveau de vie est sous 60 % du "
            "niveau de vie médian de France métropolitaine (Filosofi, revenus disponibles), "
            "publiée en pourcentage et ramenée ici entre 0 et 1. Valeur masquée par l'INSEE "
            "(secret statistique) quand l'IRIS compte trop peu de ménages fiscaux."
        ),
    )
)

register(
    Indicator(
        key="median_income_eur",
        label_fr="Niveau de vie médian (revenu disponible par unité de consommation)",
        numerator=("DISP_MED",),
        denominator=None,
        layer="filosofi_iris",
        unit="eur",
        direction=-1,
        kind="value",
        min_denominator=None,
        definition_fr=(
            "Médiane du revenu disponible par unité de consommation, en euros par an "
            "(Filosofi). Agrégée au-delà de l'IRIS, c'est une moyenne de médianes pondérée "
            "par la population, pas la médiane du groupe."
        ),
    )
)

register(
    Indicator(
        key="benefit_income_share",
        label_fr="Part des minima sociaux et des aides au logement dans le revenu disponible",
        numerator=("DISP_PPMINI", "DISP_PPLOGT"),
        denominator=None,
        layer="filosofi_iris",
        unit="share",
        direction=-1,
        kind="value",
        scale=0.01,
        min_denominator=None,
        definition_fr=(
            "Part des minima sociaux (RSA, minimum vieillesse, AAH…) et des aides au "
            "logement dans le revenu disponible des ménages (Filosofi, en pourcentage, "
            "ramenée entre 0 et 1). Sens retenu : risque de non-recours — à pauvreté égale, "
            "une part plus faible suggère une pauvreté moins traduite en prestations "
            "(« connexion » au système, variante « écart » de l'indice de non-recours). "
            "Ce sont des euros de revenu, pas des effectifs d'allocataires."
        ),
    )
)
