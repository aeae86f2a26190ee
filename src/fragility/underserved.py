"""Under-served areas: a flag, its reasons and a French sentence for every IRIS.

The statistics come from :mod:`fragility.coverage`; this module only decides and words
(reference: ``logs-and-privacy.md`` §D.2 step 4, §D.3, §D.4). Flags:

==========================  ============================================================
``sous_desservi_probable``  ratio below the 99.8 % funnel limit **and** P(θ < 0.8) ≥ 0.9
``a_surveiller``            ratio below the 95 % limit, **or** P(θ < 0.8) ≥ 0.75
``conforme``                within the limits
``sur_sollicite``           above the 99.8 % upper limit (not a problem in itself)
``donnees_insuffisantes``   not assessed: outside the zone, no population, activity IRIS,
                            fewer than 5 expected contacts, no need index
==========================  ============================================================

Without logs (``coverage=None``), the **potential** mode flags from need and accessibility
alone: need in the top quintile of the zone and accessibility in the bottom quintile →
``sous_desservi_probable``; one of them in the worst quintile and the other in the worst
two → ``a_surveiller``. It is labelled ``mode = "potentiel"`` and ``confidence = "faible"``:
it says where coverage *should* be checked, not that it is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragility.conventions import isin
from fragility.coverage import NOT_ASSESSED, CoverageResult
from fragility.errors import InputError

FLAGS = {
    "sous_desservi_probable": "Sous-desservi probable",
    "a_surveiller": "À surveiller",
    "conforme": "Conforme",
    "sur_sollicite": "Sur-sollicité",
    "donnees_insuffisantes": "Données insuffisantes",
}

#: Reason codes and their meaning (French).
REASONS = {
    "isolement_decile_sup": "besoin d'isolement dans le décile le plus élevé de la zone",
    "isolement_quintile_sup": "besoin d'isolement parmi les 20 % les plus élevés de la zone",
    "non_recours_decile_sup": "risque de non-recours dans le décile le plus élevé de la zone",
    "non_recours_quintile_sup": "risque de non-recours parmi les 20 % les plus élevés de la zone",
    "qpv": "IRIS en quartier prioritaire de la politique de la ville",
    "contacts_sous_limite_998": "contacts sous la limite basse à 99,8 % de l'entonnoir",
    "contacts_sous_limite_95": "contacts sous la limite basse à 95 % de l'entonnoir",
    "deficit_probable": "probabilité a posteriori d'un déficit d'au moins 20 % ≥ 0,9",
    "deficit_possible": "probabilité a posteriori d'un déficit d'au moins 20 % ≥ 0,75",
    "contacts_au_dessus_limite_998": "contacts au-dessus de la limite haute à 99,8 %",
    "dans_les_limites": "contacts dans les limites attendues pour ce besoin",
    "france_services_eloignee": "France Services la plus proche au-delà du seuil de distance",
    "acces_faible_2sfca": "accessibilité (2SFCA) dans le quintile le plus faible de la zone",
    "grappe_sous_couverture": "dans une grappe d'IRIS sous-couverts (LISA faible-faible)",
    "mix_thematique_peu_acces_droits": "peu de contacts d'accès aux droits pour ce risque "
    "de non-recours",
    "potentiel_sans_journal": "évaluation potentielle, sans journal de médiation",
    "besoin_inconnu": "aucun indice de besoin calculable",
    **NOT_ASSESSED,
}

NEED_COLUMNS = {"isolation_index": "isolement", "non_recours_index": "non_recours"}


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the flag rules (recorded in the run manifest).

    Attributes
    ----------
    probable : float
        P(θ < materiality) needed with the 99.8 % limit for ``sous_desservi_probable``.
    watch : float
        P(θ < materiality) enough for ``a_surveiller``.
    far_km : float
        Distance to the nearest France Services above which it is a reason (km).
    """

    probable: float = 0.9
    watch: float = 0.75
    far_km: float = 5.0


def _number(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _band(ratio: float) -> str:
    edges = [(0.25, "moins de 0,25 fois"), (0.5, "entre 0,25 et 0,5 fois"),
             (0.75, "entre 0,5 et 0,75 fois"), (1.0, "entre 0,75 et 1 fois"),
             (1.5, "entre 1 et 1,5 fois"), (2.0, "entre 1,5 et 2 fois")]
    for edge, text in edges:
        if ratio < edge:
            return text
    return "plus de 2 fois"


def _need_levels(need: pd.DataFrame | None, rows: pd.Series) -> pd.DataFrame:
    """Per need index: "decile"/"quintile"/None, ranked among the ``rows`` IRIS."""
    levels = pd.DataFrame(index=rows.index)
    if need is None:
        return levels
    for column, short in NEED_COLUMNS.items():
        if column not in need:
            continue
        values = pd.to_numeric(need[column], errors="coerce").reindex(rows.index)
        pct = values[rows].rank(pct=True, method="average")
        level = pd.Series(None, index=rows.index, dtype=object)
        level[pct.index[pct > 0.8]] = "quintile"
        level[pct.index[pct > 0.9]] = "decile"
        levels[short] = level
        levels[f"{short}_pct"] = pct.reindex(rows.index)
    return levels


def _need_parts(row_levels: pd.Series, qpv: float) -> tuple[list[str], list[str]]:
    codes, words = [], []
    for short, label in (("isolement", "d'isolement"), ("non_recours", "de non-recours")):
        level = row_levels.get(short)
        if level == "decile":
            codes.append(f"{short}_decile_sup")
            words.append(f"besoin {label} dans le décile le plus élevé de la zone")
        elif level == "quintile":
            codes.append(f"{short}_quintile_sup")
            words.append(f"besoin {label} parmi les 20 % les plus élevés de la zone")
    if qpv is not None and np.isfinite(qpv) and qpv >= 0.5:
        codes.append("qpv")
        words.append(f"IRIS en quartier prioritaire ({round(100 * qpv)} % de sa surface)")
    return codes, words


def _access_parts(row, far_m: float, low_access: bool) -> tuple[list[str], list[str]]:
    codes, words = [], []
    distance = row.get("fs_distance_m")
    if distance is not None and np.isfinite(distance) and distance > far_m:
        codes.append("france_services_eloignee")
        words.append(f"France Services la plus proche à {_number(distance / 1000)} km")
    if low_access:
        codes.append("acces_faible_2sfca")
        words.append("accessibilité aux services parmi les 20 % les plus faibles de la zone")
    return codes, words


def _sentence(parts: list[str]) -> str:
    text = " ; ".join(p for p in parts if p)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def flag_underserved(
    coverage: CoverageResult | None,
    need: pd.DataFrame | None = None,
    *,
    access: pd.DataFrame | None = None,
    lisa: pd.Series | None = None,
    thematic: pd.DataFrame | None = None,
    zone: Iterable[str] | None = None,
    masked: Iterable[str] = (),
    settings: FlagSettings | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Flag every IRIS, with reason codes, a confidence and a French sentence.

    Parameters
    ----------
    coverage : CoverageResult or None
        Observed vs expected contacts; ``None`` gives the potential mode (need ×
        accessibility, lower confidence).
    need : pandas.DataFrame, optional
        ``isolation_index``, ``non_recours_index`` (0-100) and ``qpv_share`` per IRIS.
    access : pandas.DataFrame, optional
        ``fs_distance_m`` (metres to the nearest France Services) and ``access_2sfca``.
    lisa : pandas.Series, optional
        LISA cluster code of coverage per IRIS (``LL`` marks a cluster of low coverage).
    thematic : pandas.DataFrame, optional
        ``access_rights_share`` (share of the IRIS's contacts about access to rights) and
        ``zone_share`` (the same over the zone) per IRIS.
    zone : iterable of str, optional
        IRIS of the intervention zone (potential mode only; with logs the zone is in
        ``coverage``).
    masked : iterable of str
        IRIS whose counts are not publishable (disclosure): their sentence gives the
        ratio as a band, never the exact value.
    settings : FlagSettings, optional
        Thresholds.
    index : pandas.Index, optional
        IRIS to flag (potential mode); default: the coverage table's or ``need``'s.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``iris``: ``flag``, ``mode`` (``journal``/``potentiel``),
        ``confidence`` (``élevée``, ``moyenne``, ``faible``, or ``-`` when not assessed),
        ``reasons`` (codes of :data:`REASONS`, comma-separated, never empty) and
        ``phrase`` (a French sentence, never empty).
    """
    settings = settings or FlagSettings()
    if coverage is None:
        if index is None:
            if need is None:
                raise InputError("mode potentiel : indices de besoin requis.")
            index = need.index
        return _potential(pd.Index(index.astype(str), name="iris"), need, access, zone,
                          settings)
    table = coverage.table
    masked = {str(code) for code in masked}
    levels = _need_levels(need, table["assessed"])
    low_access = _low_access(access, table["assessed"])
    rows = []
    # One dict per row up front: iterrows and .loc build a Series per IRIS (slow at
    # national scale).
    infos = {} if access is None else access.to_dict("index")
    shares = None if need is None or "qpv_share" not in need else need["qpv_share"].to_dict()
    for iris, row in zip(table.index, table.to_dict("records"), strict=True):
        info = infos.get(iris, {})
        qpv = np.nan if shares is None else shares.get(iris)
        if not row["assessed"]:
            code = row["not_assessed"]
            words = [f"Non évalué : {NOT_ASSESSED[code]}"]
            if code == "attendu_trop_faible":
                words[0] += f" ({_number(row['expected'])} attendus)"
            rows.append((iris, "donnees_insuffisantes", "-", code, _sentence(words)))
            continue
        ratio, low, high = row["eb_ratio"], row["eb_low"], row["eb_high"]
        below998 = row["ratio"] < row["limit998_low"]
        below95 = row["ratio"] < row["limit95_low"]
        above998 = row["ratio"] > row["limit998_high"]
        p = row["p_shortfall"]
        if below998 and p >= settings.probable:
            flag = "sous_desservi_probable"
        elif below95 or p >= settings.watch:
            flag = "a_surveiller"
        elif above998:
            flag = "sur_sollicite"
        else:
            flag = "conforme"
        codes, words = [], []
        if flag in ("sous_desservi_probable", "a_surveiller"):
            need_codes, need_words = _need_parts(levels.loc[iris], qpv)
            codes += need_codes
            words += need_words
        if iris in masked:
            words.append(f"{_band(ratio)} les contacts attendus (effectifs non diffusables)")
        else:
            words.append(
                f"{_number(ratio)} fois les contacts attendus "
                f"(IC 90 % {_number(low)}–{_number(high)})"
            )
        if below998:
            codes.append("contacts_sous_limite_998")
        elif below95:
            codes.append("contacts_sous_limite_95")
        if p >= settings.probable:
            codes.append("deficit_probable")
        elif p >= settings.watch:
            codes.append("deficit_possible")
        if above998:
            codes.append("contacts_au_dessus_limite_998")
        if flag == "conforme":
            codes.append("dans_les_limites")
            words.append("dans les limites attendues pour ce besoin")
        if flag in ("sous_desservi_probable", "a_surveiller"):
            access_codes, access_words = _access_parts(
                info, 1000 * settings.far_km, bool(low_access.get(iris, False))
            )
            codes += access_codes
            words += access_words
            if lisa is not None and lisa.get(iris) == "LL":
                codes.append("grappe_sous_couverture")
                words.append("au sein d'une grappe d'IRIS voisins eux aussi sous-couverts")
            if _thematic_gap(thematic, iris, levels.loc[iris]):
                codes.append("mix_thematique_peu_acces_droits")
                words.append("peu de contacts d'accès aux droits malgré le risque de non-recours")
        if flag == "sur_sollicite":
            words.append("au-delà de la limite haute : permanence attractive ou report possible")
        confidence = "élevée" if flag == "sous_desservi_probable" else (
            "moyenne" if flag == "a_surveiller" else "-")
        if flag in ("conforme", "sur_sollicite"):
            confidence = "élevée" if (not below95 and p < 0.5) or above998 else "moyenne"
        rows.append((iris, flag, confidence, ",".join(codes), _sentence(words)))
    out = pd.DataFrame(rows, columns=["iris", "flag", "confidence", "reasons", "phrase"])
    out = out.set_index("iris")
    out.insert(1, "mode", "journal")
    return out


def _low_access(access: pd.DataFrame | None, rows: pd.Series) -> pd.Series:
    if access is None or "access_2sfca" not in access:
        return pd.Series(False, index=rows.index)
    values = pd.to_numeric(access["access_2sfca"], errors="coerce").reindex(rows.index)
    pct = values[rows.astype(bool)].rank(pct=True, method="average")
    return (pct <= 0.2).reindex(rows.index, fill_value=False)


def _thematic_gap(thematic: pd.DataFrame | None, iris: str, levels: pd.Series) -> bool:
    if thematic is None or iris not in thematic.index:
        return False
    if levels.get("non_recours") not in ("decile", "quintile"):
        return False
    row = thematic.loc[iris]
    share, zone_share = row.get("access_rights_share"), row.get("zone_share")
    contacts = row.get("contacts", np.nan)
    return bool(
        np.isfinite(share) and np.isfinite(zone_share) and contacts >= 20
        and share < 0.5 * zone_share
    )


def _potential(index, need, access, zone, settings) -> pd.DataFrame:
    """Flags from need × accessibility alone (no logs): lower confidence."""
    in_zone = pd.Series(True, index=index) if zone is None else pd.Series(
        isin(index, [str(z) for z in zone]), index=index)
    need = need.reindex(index) if need is not None else pd.DataFrame(index=index)
    columns = [c for c in NEED_COLUMNS if c in need]
    if columns:
        score = need[columns].apply(pd.to_numeric, errors="coerce").max(axis=1)
    else:
        score = pd.Series(np.nan, index=index)
    rows_mask = in_zone & score.notna()
    need_pct = score[rows_mask].rank(pct=True).reindex(index)
    levels = _need_levels(need, rows_mask)
    if access is not None and "access_2sfca" in access:
        acc = pd.to_numeric(access["access_2sfca"], errors="coerce").reindex(index)
        acc_pct = acc[rows_mask].rank(pct=True).reindex(index)
    elif access is not None and "fs_distance_m" in access:
        acc = -pd.to_numeric(access["fs_distance_m"], errors="coerce").reindex(index)
        acc_pct = acc[rows_mask].rank(pct=True).reindex(index)
    else:
        acc_pct = pd.Series(np.nan, index=index)
    rows = []
    for iris in index:
        if not in_zone[iris]:
            rows.append((iris, "donnees_insuffisantes", "-", "hors_zone",
                         _sentence([f"Non évalué : {NOT_ASSESSED['hors_zone']}"])))
            continue
        if not np.isfinite(need_pct.get(iris, np.nan)):
            rows.append((iris, "donnees_insuffisantes", "-", "besoin_inconnu",
                         _sentence(["Non évalué : aucun indice de besoin calculable"])))
            continue
        n_pct, a_pct = need_pct[iris], acc_pct.get(iris, np.nan)
        high_need, fairly_high = n_pct > 0.8, n_pct > 0.6
        low_acc = np.isfinite(a_pct) and a_pct <= 0.2
        fairly_low = np.isfinite(a_pct) and a_pct <= 0.4
        if high_need and low_acc:
            flag = "sous_desservi_probable"
        elif (high_need and fairly_low) or (fairly_high and low_acc):
            flag = "a_surveiller"
        else:
            flag = "conforme"
        qpv = need["qpv_share"].get(iris) if "qpv_share" in need else np.nan
        codes, words = ["potentiel_sans_journal"], []
        if flag != "conforme":
            need_codes, need_words = _need_parts(levels.loc[iris], qpv)
            codes += need_codes
            words += need_words
            info = {} if access is None or iris not in access.index else access.loc[iris]
            access_codes, access_words = _access_parts(dict(info), 1000 * settings.far_km,
                                                       bool(low_acc))
            codes += access_codes
            words += access_words
            if not access_codes:
                words.append("accessibilité aux services dans les 40 % les plus faibles")
        else:
            words.append("besoin et accessibilité sans écart marqué")
        words.append("évaluation potentielle sans journal de médiation (confiance faible)")
        rows.append((iris, flag, "faible", ",".join(codes), _sentence(words)))
    out = pd.DataFrame(rows, columns=["iris", "flag", "confidence", "reasons", "phrase"])
    out = out.set_index("iris")
    out.insert(1, "mode", "potentiel")
    return out
