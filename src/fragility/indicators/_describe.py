"""Descriptions of the registry: a table, and the French methodology section."""

from __future__ import annotations

import pandas as pd

from fragility.indicators._compute import STATUSES, VALUE_FLAGS, compute_indicators, plan
from fragility.indicators._registry import REGISTRY, UNITS

_DIRECTION_FR = {1: "+1 (plus élevé = plus de besoin ou de risque)", -1: "−1 (plus élevé = moins)"}
_KIND_FR = {
    "ratio": "ratio de comptes",
    "complement": "complément d'un ratio de comptes",
    "value": "valeur publiée",
}


def _layer_title(layer: str) -> str:
    from fragility.sources import LAYERS

    return LAYERS[layer].title_fr if layer in LAYERS else layer


def describe(table=None) -> pd.DataFrame:
    """One row per registered indicator: definition, formula, source.

    Parameters
    ----------
    table : IrisTable, optional
        When given, add what this table provides: ``availability`` (``disponible``,
        ``substitut``, ``absent``), ``missing_columns``, ``original`` (the formula with
        the file's own variable names, e.g. ``C17_MENPSEUL / C17_MEN``), ``vintage``,
        ``n_values`` (IRIS with a value, out of ``n_iris``) and ``note``.

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``label_fr``, ``formula`` (INSEE names, with documented
        substitutes), ``layer``, ``layer_title``, ``unit``, ``direction``,
        ``min_denominator``, ``kind``, ``definition``.
    """
    rows = []
    for ind in REGISTRY.values():
        rows.append(
            {
                "key": ind.key,
                "label_fr": ind.label_fr,
                "formula": ind.formula(),
                "layer": ind.layer,
                "layer_title": _layer_title(ind.layer),
                "unit": ind.unit,
                "direction": ind.direction,
                "min_denominator": ind.min_denominator,
                "kind": ind.kind,
                "definition": ind.definition_fr
                + (f" Variante : {ind.fallback_note_fr}" if ind.fallback_note_fr else ""),
            }
        )
    out = pd.DataFrame(rows)
    if table is None:
        return out
    frame = table.gdf if hasattr(table, "gdf") else table
    variables = getattr(table, "variables", None)
    original = {}
    vintage = {}
    if variables is not None and len(variables):
        original = dict(zip(variables["column"], variables["original"], strict=True))
        vintage = dict(zip(variables["column"], variables["vintage"].astype(str), strict=True))
    values = compute_indicators(table)
    extra = []
    for ind in REGISTRY.values():
        p = plan(ind, frame.columns)
        used = p.columns
        if p.mode == "absent":
            availability, text = "absent", ""
        else:
            availability = "substitut" if p.substitute else "disponible"
            text = _used_formula(p, original)
        vintages = sorted({vintage[c] for c in used if c in vintage and vintage[c] != "nan"})
        extra.append(
            {
                "availability": availability,
                "missing_columns": ", ".join(p.missing),
                "original": text,
                "vintage": ", ".join(vintages),
                "n_values": int(values[ind.key].notna().sum()),
                "n_iris": len(values),
                "note": p.note_fr,
            }
        )
    return pd.concat([out, pd.DataFrame(extra)], axis=1)


def _used_formula(p, original: dict[str, str]) -> str:
    def alt(cols):
        text = " + ".join(original.get(c, c) for c in cols)
        return f"({text})" if len(cols) > 1 else text

    num = " + ".join(alt(a) for a in p.num)
    if len(p.num) > 1:
        num = f"({num})"
    if p.mode == "value":
        if p.scale == 1:
            return num
        inverse = 1 / p.scale
        if abs(inverse - round(inverse)) < 1e-9:
            return f"{num} / {round(inverse)}"
        return f"{num} × {p.scale:g}"
    den = " + ".join(alt(a) for a in p.den)
    if len(p.den) > 1:
        den = f"({den})"
    text = f"{num} / {den}"
    return f"1 − {text}" if p.mode == "complement" else text


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def methodology_markdown(table=None, *, heading_level: int = 2) -> str:
    """The French section « Indicateurs de base » of ``docs/methodologie.md``.

    Generated from :data:`REGISTRY`, so that the documentation cannot drift from the
    code.

    Parameters
    ----------
    table : IrisTable, optional
        When given, add a table of what this territory's data provides (variables as
        named in the files, vintages, substitutes, absent columns).
    heading_level : int, default 2
        Markdown level of the section title (``##``).

    Returns
    -------
    str
        Markdown text, ending with a newline.
    """
    h = "#" * heading_level
    hh = h + "#"
    lines = [
        f"{h} Indicateurs de base",
        "",
        "Chaque indicateur de base est déclaré une seule fois dans le registre "
        "`fragility.indicators.REGISTRY` : numérateur et dénominateur comme **sommes de "
        "variables brutes** (noms INSEE sans millésime : `P17_MEN` est lu `P_MEN`), source, "
        "unité, sens et dénominateur minimal. Cette section, les calculs, l'agrégation et "
        "les tests de formules en sont tirés.",
        "",
        "Unités : les parts (`_share`) et taux (`_rate`) sont entre 0 et 1 (les pourcentages "
        "n'apparaissent qu'à l'affichage), `_eur` en euros par an, `_m` en mètres. Sens : +1 "
        "quand une valeur plus élevée signale plus de besoin ou de risque, −1 sinon.",
        "",
        "| clé | libellé | formule | source | unité | sens | dénominateur minimal |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ind in REGISTRY.values():
        minimum = "—" if ind.min_denominator is None else f"{ind.min_denominator:g}"
        lines.append(
            f"| `{ind.key}` | {_cell(ind.label_fr)} | `{_cell(ind.formula(alternatives=False))}` "
            f"| {_cell(_layer_title(ind.layer))} | {UNITS[ind.unit]} | "
            f"{'+1' if ind.direction > 0 else '−1'} | {minimum} |"
        )
    lines += ["", f"{hh} Définitions", ""]
    for ind in REGISTRY.values():
        lines += [
            f"- **{ind.label_fr}** (`{ind.key}`, {_KIND_FR[ind.kind]}) : "
            f"`{ind.formula()}`. {ind.definition_fr}"
            + (f" Variante : {ind.fallback_note_fr}" if ind.fallback_note_fr else "")
        ]
    lines += [
        "",
        f"{hh} Statuts",
        "",
        "Chaque indicateur `<clé>` est accompagné de `<clé>_status` et, pour les ratios, de "
        "`<clé>_denominator`. Aucune valeur n'est remplie en silence : une valeur manquante "
        "est vide (NaN) avec sa raison ; une valeur présente porte un ou plusieurs "
        "marqueurs joints par « + » (par exemple `substitut+petit_denominateur`).",
        "",
        "| statut | valeur | signification |",
        "| --- | --- | --- |",
    ]
    for status, text in STATUSES.items():
        kind = "présente" if status in VALUE_FLAGS else "manquante"
        lines.append(f"| `{status}` | {kind} | {_cell(text)} |")
    lines += [
        "",
        "Le statut `absent` signifie qu'une variable brute de la formule manque dans les "
        "fichiers fournis (par exemple `P_POP80P_PSEUL` et `P_POP80P` dans les extraits du "
        "recensement 2017 de Côte-d'Or) ; la variable manquante est nommée dans "
        '`resultat.attrs["notes"]` et dans `describe(table)`. Les raisons `secret_statistique`, '
        "`absent_du_fichier`, `millesime_different`, `hors_champ_filosofi_iris` viennent du "
        "rapport de couverture de la table IRIS.",
        "",
        f"{hh} Agrégation aux communes, EPCI et QPV",
        "",
        "- **Ratios de comptes** : numérateurs et dénominateurs sont **additionnés** sur les "
        "IRIS du groupe, puis divisés (jamais de moyenne de taux). Un IRIS sans donnée est "
        "laissé de côté et l'agrégat est marqué `partiel` ; le seuil de petit dénominateur "
        "s'applique au dénominateur agrégé.",
        "- **Valeurs Filosofi** (taux de pauvreté, niveau de vie médian, parts de revenu) : "
        "l'INSEE ne publie pas à l'IRIS les effectifs sous-jacents (personnes pauvres, "
        "distribution des revenus). L'agrégat est une moyenne des valeurs IRIS **pondérée "
        "par la population**, marquée `approx_ponderee` : proche du vrai taux quand la "
        "population des ménages fiscaux suit la population totale, mais ce n'est pas une "
        "médiane recalculée. Une commune dont tous les IRIS portent la valeur communale de "
        "Filosofi reçoit cette valeur exacte (`valeur_communale`). Il est préférable, quand "
        "c'est possible, de lire la valeur publiée par l'INSEE au niveau voulu.",
        "- **Distance à France services et part en QPV** : moyenne pondérée par la "
        "population (`approx_ponderee`).",
        "- **QPV** : un QPV ne suit pas les limites des IRIS. Les comptes de chaque IRIS sont "
        "multipliés par sa part de surface en QPV (`qpv_share`, partagée à parts égales "
        "entre QPV quand l'IRIS en touche plusieurs), ce qui suppose la population répartie "
        "uniformément dans l'IRIS : agrégat `approx_surface`. Sans contours des QPV, la part "
        "est inconnue et l'agrégat vide (`contours_qpv_absents`).",
        "",
        f"{hh} Comparaison à une référence",
        "",
        "`compare_to_reference(valeurs, reference)` donne, pour chaque valeur, son rang "
        "centile dans la distribution de référence (par exemple tous les IRIS du "
        "département) : `(#{r < v} + #{r ≤ v}) / (2 n)`, entre 0 et 1, dans la colonne "
        "`<clé>_pct_ref`. C'est la position brute (0,9 : plus haut que 90 % de la "
        "référence), quel que soit le sens de l'indicateur.",
    ]
    if table is not None:
        d = describe(table)
        label = getattr(getattr(table, "territory", None), "label", None)
        lines += [
            "",
            f"{hh} Données du territoire" + (f" — {label}" if label else ""),
            "",
            "| clé | disponibilité | variables du fichier | millésime | IRIS avec valeur | "
            "remarque |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for _, r in d.iterrows():
            lines.append(
                f"| `{r['key']}` | {r['availability']} | "
                f"{('`' + _cell(r['original']) + '`') if r['original'] else '—'} | "
                f"{r['vintage'] or '—'} | {r['n_values']} / {r['n_iris']} | "
                f"{_cell(r['note']) or ''} |"
            )
    return "\n".join(lines) + "\n"
