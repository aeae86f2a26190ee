"""Place indicators: QPV share and access to France services.

They read columns built upstream by :func:`fragility.build_iris_table` (``qpv_share``:
area share of the IRIS inside a QPV; ``fs_distance_m``: straight-line distance from a
point inside the IRIS to the nearest France services).
"""

from __future__ import annotations

from fragility.indicators._registry import Indicator, register

register(
    Indicator(
        key="qpv_share",
        label_fr="Part de la surface de l'IRIS en quartier prioritaire (QPV)",
        numerator=("qpv_share",),
        denominator=None,
        layer="qpv_contours",
        unit="share",
        direction=1,
        kind="value",
        min_denominator=None,
        status_column="qpv_status",
        definition_fr=(
            "Part de la surface de l'IRIS située dans un quartier prioritaire de la "
            "politique de la ville (intersection des contours IRIS et QPV). Sans les "
            "contours des QPV (liste par commune seulement), la part n'est pas calculée : "
            "le statut le dit (contours_qpv_absents, aucun_qpv_dans_la_commune)."
        ),
    )
)

register(
    Indicator(
        key="fs_distance_m",
        label_fr="Distance à la structure France services la plus proche",
        numerator=("fs_distance_m",),
        denominator=None,
        layer="france_services",
        unit="m",
        direction=1,
        kind="value",
        min_denominator=None,
        definition_fr=(
            "Distance à vol d'oiseau, en mètres, d'un point intérieur de l'IRIS à la "
            "structure labellisée France services la plus proche (liste ANCT). Le coût "
            "d'accès accroît la non-demande ; France services vise moins de 30 minutes de "
            "trajet. Agrégée au-delà de l'IRIS : moyenne pondérée par la population."
        ),
    )
)
