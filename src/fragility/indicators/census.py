"""Census indicators (INSEE, recensement de la population, bases infracommunales).

Age, household, family, housing, car, diploma and employment shares, each a ratio of
counts published at IRIS level. Variable names are INSEE's, vintage stripped
(``P17_MEN`` is read as ``P_MEN``); the vintage is reported by
:func:`fragility.indicators.describe` when a table is given.
"""

from __future__ import annotations

from fragility.indicators._registry import Indicator, one_of, register

#: The seven diploma levels of the non-enrolled population aged 15 or over; their sum
#: is the total ``P_NSCOL15P`` (used when a file lacks the total).
DIPLOMA_LEVELS = (
    "P_NSCOL15P_DIPLMIN",
    "P_NSCOL15P_BEPC",
    "P_NSCOL15P_CAPBEP",
    "P_NSCOL15P_BAC",
    "P_NSCOL15P_SUP2",
    "P_NSCOL15P_SUP34",
    "P_NSCOL15P_SUP5",
)

register(
    Indicator(
        key="pop80_alone_share",
        label_fr="Part des 80 ans ou plus vivant seuls",
        numerator=("P_POP80P_PSEUL",),
        denominator=("P_POP80P",),
        layer="census_familles",
        unit="share",
        direction=1,
        definition_fr=(
            "Personnes de 80 ans ou plus vivant seules dans leur logement, rapportées à la "
            "population de 80 ans ou plus (base couples-familles-ménages pour le numérateur, "
            "base population pour le dénominateur). Cœur mesurable de l'isolement des plus "
            "âgés ; le non-recours au minimum vieillesse atteint 50 % chez les personnes "
            "seules et croît avec l'âge (DREES, 2022)."
        ),
    )
)

register(
    Indicator(
        key="pop5579_alone_share",
        label_fr="Part des 55-79 ans vivant seuls",
        numerator=(one_of(("P_POP5564_PSEUL", "P_POP6579_PSEUL"), "P_POP5579_PSEUL"),),
        denominator=(one_of(("P_POP5564", "P_POP6579"), "P_POP5579"),),
        layer="census_familles",
        unit="share",
        direction=1,
        definition_fr=(
            "Personnes de 55 à 79 ans vivant seules, rapportées à la population de 55 à 79 "
            "ans : somme des tranches publiées par l'INSEE (55-64 ans et 65-79 ans). Une "
            "colonne agrégée P_POP5579(_PSEUL), si un fichier la fournit, est utilisée à "
            "défaut (statut « substitut »)."
        ),
    )
)

register(
    Indicator(
        key="one_person_households_share",
        label_fr="Part des ménages d'une personne",
        numerator=("C_MENPSEUL",),
        denominator=("C_MEN",),
        layer="census_familles",
        unit="share",
        direction=1,
        definition_fr=(
            "Ménages d'une seule personne rapportés à l'ensemble des ménages "
            "(exploitation complémentaire)."
        ),
    )
)

register(
    Indicator(
        key="single_parent_share",
        label_fr="Part des familles monoparentales",
        numerator=("C_FAMMONO",),
        denominator=("C_FAM",),
        layer="census_familles",
        unit="share",
        direction=1,
        definition_fr=(
            "Familles monoparentales rapportées à l'ensemble des familles (exploitation "
            "complémentaire). Les mères seules ont un non-recours au RSA plus faible que la "
            "moyenne (DREES, 2022) : l'indicateur mesure d'abord le besoin."
        ),
    )
)

register(
    Indicator(
        key="couples_without_children_share",
        label_fr="Part des couples sans enfant",
        numerator=("C_COUPSENF",),
        denominator=("C_FAM",),
        layer="census_familles",
        unit="share",
        direction=1,
        definition_fr=(
            "Couples sans enfant rapportés à l'ensemble des familles. Les couples sans "
            "enfant ont le non-recours au RSA le plus élevé (49 %, DREES 2022) : "
            "indicateur de « non-connexion » au système de prestations."
        ),
    )
)

register(
    Indicator(
        key="pop75_share",
        label_fr="Part des 75 ans ou plus",
        numerator=("P_POP75P",),
        denominator=("P_POP",),
        layer="census_population",
        unit="share",
        direction=1,
        definition_fr=(
            "Population de 75 ans ou plus rapportée à la population. Axe « âge » de "
            "l'indice de fragilité numérique (MedNum) : barrières numériques et "
            "administratives."
        ),
    )
)

register(
    Indicator(
        key="pop80_share",
        label_fr="Part des 80 ans ou plus",
        numerator=("P_POP80P",),
        denominator=("P_POP",),
        layer="census_population",
        unit="share",
        direction=1,
        definition_fr="Population de 80 ans ou plus rapportée à la population.",
    )
)

register(
    Indicator(
        key="no_diploma_share",
        label_fr="Part des non-scolarisés de 15 ans ou plus sans diplôme",
        numerator=("P_NSCOL15P_DIPLMIN",),
        denominator=(one_of("P_NSCOL15P", DIPLOMA_LEVELS),),
        layer="census_diplomes",
        unit="share",
        direction=1,
        definition_fr=(
            "Personnes non scolarisées de 15 ans ou plus sans diplôme (ou au plus le CEP "
            "dans les millésimes récents ; « aucun diplôme ou au plus le BEPC » dans les "
            "anciens : ne pas mélanger les millésimes), rapportées à l'ensemble des "
            "non-scolarisés de 15 ans ou plus. Quand le total P_NSCOL15P manque (extraits "
            "tiers), il est remplacé par la somme des sept niveaux de diplôme publiés "
            "(statut « substitut »), qui lui est égale par construction."
        ),
    )
)

register(
    Indicator(
        key="unemployment_rate",
        label_fr="Taux de chômage des 15-64 ans (recensement)",
        numerator=("P_CHOM1564",),
        denominator=("P_ACT1564",),
        layer="census_activite",
        unit="rate",
        direction=1,
        definition_fr=(
            "Chômeurs de 15 à 64 ans rapportés aux actifs de 15 à 64 ans, au sens du "
            "recensement (déclaratif, plus élevé que le chômage au sens du BIT)."
        ),
    )
)

register(
    Indicator(
        key="households_without_car_share",
        label_fr="Part des ménages sans voiture",
        numerator=("P_RP_VOIT1P",),
        denominator=("P_RP",),
        layer="census_logement",
        unit="share",
        direction=1,
        kind="complement",
        fallback="households_without_car_share",
        fallback_note_fr=(
            "à défaut de P_RP_VOIT1P ou P_RP, part des ménages sans voiture lue dans "
            "l'indicateur dérivé tiers (colonne households_without_car_share, formule non "
            "publiée par son auteur) : statut « substitut », millésime éventuellement "
            "différent de celui du recensement."
        ),
        weight=("P_RP", "population", "P_POP"),
        definition_fr=(
            "Un moins la part des résidences principales (ménages) disposant d'au moins une "
            "voiture. Frein de mobilité pour se rendre aux guichets."
        ),
    )
)

register(
    Indicator(
        key="owner_share",
        label_fr="Part des ménages propriétaires",
        numerator=("P_RP_PROP",),
        denominator=("P_RP",),
        layer="census_logement",
        unit="share",
        direction=1,
        definition_fr=(
            "Résidences principales occupées par leur propriétaire rapportées à l'ensemble "
            "des résidences principales. Sens retenu : risque de non-recours — les "
            "propriétaires éligibles au RSA y recourent le moins (61 % de non-recours, "
            "DREES 2022), faute de lien avec les organismes sociaux. Ce n'est pas un "
            "indicateur de besoin."
        ),
    )
)

register(
    Indicator(
        key="social_housing_share",
        label_fr="Part des ménages locataires HLM",
        numerator=("P_RP_LOCHLMV",),
        denominator=("P_RP",),
        layer="census_logement",
        unit="share",
        direction=-1,
        definition_fr=(
            "Résidences principales louées vides en HLM rapportées à l'ensemble des "
            "résidences principales. Sens retenu : risque de non-recours — les locataires "
            "HLM ont le non-recours au RSA le plus faible (15 %, DREES 2022), bailleurs, CAF "
            "et travailleurs sociaux les reliant déjà aux droits. Le besoin, lui, y est "
            "souvent élevé : à lire avec le taux de pauvreté."
        ),
    )
)

register(
    Indicator(
        key="immigrant_share",
        label_fr="Part des immigrés",
        numerator=("P_POP_IMM",),
        denominator=("P_POP",),
        layer="census_population",
        unit="share",
        direction=1,
        definition_fr=(
            "Population immigrée rapportée à la population : approche des barrières de langue "
            "et de littératie administrative (non-connaissance). Variable sensible : à "
            "publier seulement agrégée, jamais comme chiffre isolé d'un IRIS."
        ),
    )
)
