"""Computation of the registered indicators at IRIS level and at larger levels."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragility.conventions import IRIS_INDEX, check_iris_frame
from fragility.errors import InputError
from fragility.indicators._registry import REGISTRY, Indicator

#: Every status an indicator value can carry, with its French meaning.
#: A present value has one or several *value flags* joined by ``+``
#: (e.g. ``substitut+petit_denominateur``); a missing value (NaN) has exactly one
#: *missing reason*.
STATUSES: dict[str, str] = {
    # value present
    "ok": "valeur calculée selon la formule",
    "substitut": "valeur calculée avec la variante documentée (une colonne de la formule "
    "principale manque)",
    "valeur_communale": "valeur Filosofi de la commune, faute de valeur publiée à l'IRIS",
    "petit_denominateur": "dénominateur sous le seuil de l'indicateur : valeur gardée mais fragile",
    "hors_bornes": "part hors de [0, 1] (arrondis de la source) : valeur gardée, à vérifier",
    "approx_ponderee": "agrégat approché : moyenne des valeurs IRIS pondérée par la population",
    "approx_surface": "agrégat QPV approché : comptes des IRIS répartis selon la part de leur "
    "surface en QPV",
    "partiel": "agrégat calculé sur une partie des IRIS du groupe seulement (les autres sans "
    "donnée)",
    # value missing
    "absent": "une variable brute de la formule manque dans les données (notes : laquelle)",
    "denominateur_nul": "dénominateur nul",
    "secret_statistique": "valeur masquée par l'INSEE (secret statistique)",
    "absent_du_fichier": "IRIS absent du fichier source",
    "millesime_different": "code IRIS d'une autre géographie (millésime différent)",
    "hors_champ_filosofi_iris": "commune sous le seuil de diffusion de Filosofi à l'IRIS",
    "contours_qpv_absents": "contours des QPV absents : part en QPV non calculable",
    "contours_absents": "contours des QPV absents : part en QPV non calculable",
    "aucun_qpv_dans_la_commune": "aucun QPV dans la commune, contours des QPV absents : part "
    "non calculée",
    "donnee_manquante": "valeur vide dans les données, sans raison connue",
}

#: Statuses of a present value (the flags that may be joined by ``+``).
VALUE_FLAGS = (
    "ok",
    "substitut",
    "valeur_communale",
    "petit_denominateur",
    "hors_bornes",
    "approx_ponderee",
    "approx_surface",
    "partiel",
)
#: Separator of the flags in a status.
STATUS_SEPARATOR = "+"

#: Levels known without ``groups``.
LEVELS = ("iris", "commune", "epci", "qpv")

# Coverage reasons that explain a missing value, best first; "couche_absente" -> "absent".
_REASON_PRIORITY = (
    "secret_statistique",
    "millesime_different",
    "hors_champ_filosofi_iris",
    "absent_du_fichier",
    "contours_qpv_absents",
    "commune_absente_des_contours",
    "couche_absente",
)
_LAYER_ALIASES = {
    "qpv_contours": ("qpv_contours", "qpv", "qpv_list"),
    "filosofi_iris": ("filosofi_iris", "filosofi_commune"),
}


def has_value(status: pd.Series) -> pd.Series:
    """Whether each status belongs to a present value.

    Parameters
    ----------
    status : pandas.Series
        A ``<key>_status`` column.

    Returns
    -------
    pandas.Series of bool
    """
    first = status.astype(str).str.split(STATUS_SEPARATOR, regex=False).str[0]
    return first.isin(VALUE_FLAGS)


@dataclass(frozen=True)
class _Plan:
    """How one indicator is computed on one table (columns actually used)."""

    indicator: Indicator
    mode: str  # "ratio", "complement", "value" or "absent"
    num: tuple[tuple[str, ...], ...]
    den: tuple[tuple[str, ...], ...]
    scale: float
    substitute: bool
    missing: tuple[str, ...]
    note_fr: str

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for alt in (*self.num, *self.den) for c in alt))


def _alt_text(alt: tuple[str, ...]) -> str:
    return " + ".join(alt)


def plan(indicator: Indicator, columns: Iterable[str]) -> _Plan:
    """Choose, for one indicator, the columns of a table it will use.

    Parameters
    ----------
    indicator : Indicator
        The declaration.
    columns : iterable of str
        Columns of the table.

    Returns
    -------
    _Plan
        Mode (``ratio``, ``complement``, ``value`` or ``absent``), columns used, whether
        a substitute is used, the missing columns and a French note.
    """
    present = set(columns)
    notes: list[str] = []

    def choose(terms):
        chosen, missing, substitute = [], [], False
        for term in terms:
            for i, alt in enumerate(term):
                if all(c in present for c in alt):
                    chosen.append(alt)
                    if i:
                        substitute = True
                        gone = [c for c in term[0] if c not in present]
                        notes.append(
                            f"{', '.join(gone)} absente(s) : {_alt_text(alt)} utilisé(s) à la "
                            "place (variante documentée)."
                        )
                    break
            else:
                missing.extend(c for c in term[0] if c not in present)
                if len(term) > 1:
                    alts = " ; ".join(", ".join(c for c in a if c not in present) for a in term[1:])
                    notes.append(f"variante(s) également indisponible(s) (manque : {alts}).")
        return tuple(chosen), tuple(dict.fromkeys(missing)), substitute

    ind = indicator
    num, miss_num, sub_num = choose(ind.numerator_terms)
    den, miss_den, sub_den = choose(ind.denominator_terms)
    missing = tuple(dict.fromkeys((*miss_num, *miss_den)))
    if not missing:
        return _Plan(ind, ind.kind, num, den, ind.scale, sub_num or sub_den, (), " ".join(notes))
    absent_note = f"colonne(s) absente(s) des données : {', '.join(missing)}."
    if ind.fallback and ind.fallback in present:
        note = f"{absent_note} {ind.fallback_note_fr}".strip()
        return _Plan(ind, "value", ((ind.fallback,),), (), 1.0, True, missing, note)
    return _Plan(ind, "absent", (), (), ind.scale, False, missing, " ".join([absent_note, *notes]))


class _Context:
    """The table's frame plus what explains its missing values."""

    def __init__(self, table):
        if hasattr(table, "gdf") and hasattr(table, "coverage"):
            frame, coverage, variables = table.gdf, table.coverage, table.variables
        elif isinstance(table, pd.DataFrame):
            frame, coverage, variables = table, None, None
        else:
            raise InputError(
                "compute_indicators attend une table IRIS (IrisTable, GeoDataFrame ou "
                f"DataFrame indexé par « iris »), pas {type(table).__name__}."
            )
        check_iris_frame(frame)
        self.frame = frame
        self.layer_of: dict[str, str] = {}
        if variables is not None and len(variables):
            self.layer_of = dict(zip(variables["column"], variables["layer"], strict=True))
        self.coverage = None
        if coverage is not None and len(coverage):
            cov = coverage[coverage["reason"].isin(_REASON_PRIORITY) & (coverage["iris"] != "")]
            rank = cov["reason"].map({r: i for i, r in enumerate(_REASON_PRIORITY)})
            self.coverage = cov.assign(_rank=rank).sort_values(["_rank", "iris"], kind="stable")
        self._numeric: dict[str, pd.Series] = {}

    def column(self, name: str) -> pd.Series:
        if name not in self._numeric:
            try:
                self._numeric[name] = self.frame[name].astype("float64")
            except (TypeError, ValueError) as exc:
                raise InputError(
                    "valeurs non numériques dans la colonne (conversion impossible).", field=name
                ) from exc
        return self._numeric[name]

    def total(self, alts: tuple[tuple[str, ...], ...]) -> pd.Series:
        """Sum of every column of the chosen alternatives; NaN if any is NaN."""
        cols = [c for alt in alts for c in alt]
        values = np.column_stack([self.column(c).to_numpy() for c in cols])
        return pd.Series(values.sum(axis=1), index=self.frame.index)

    def layers(self, p: _Plan) -> set[str]:
        layers = {p.indicator.layer, *(self.layer_of.get(c, p.indicator.layer) for c in p.columns)}
        out = set()
        for layer in layers:
            out.update(_LAYER_ALIASES.get(layer, (layer,)))
        return out

    def missing_reasons(self, p: _Plan, rows: pd.Index) -> pd.Series:
        """Why the inputs of rows are missing: coverage, then status column, else unknown."""
        reasons = pd.Series(None, index=rows, dtype=object)
        if self.coverage is not None and len(rows):
            cov = self.coverage[self.coverage["layer"].isin(self.layers(p))]
            best = cov.drop_duplicates("iris").set_index("iris")["reason"]
            reasons = best.reindex(rows).astype(object)
            reasons = reasons.where(reasons != "couche_absente", "absent")
        communal = self.communal(p)
        if communal is not None:
            # Blanks of the communal Filosofi file are INSEE's statistical secret.
            masked = communal.reindex(rows).to_numpy() & reasons.isna().to_numpy()
            reasons[masked] = "secret_statistique"
        col = p.indicator.status_column
        if col and col in self.frame:
            reasons = reasons.fillna(self.frame[col].reindex(rows))
        reasons = reasons.replace({"couche_absente": "absent"})
        known = reasons.isin(list(STATUSES)) & ~reasons.isin(VALUE_FLAGS)
        return reasons.where(known, "donnee_manquante").astype(object)

    def communal(self, p: _Plan) -> pd.Series | None:
        """Rows whose Filosofi value is the commune's (None when not a Filosofi indicator)."""
        filosofi = any(
            self.layer_of.get(c, p.indicator.layer).startswith("filosofi") for c in p.columns
        )
        if not filosofi or "filosofi_level" not in self.frame:
            return None
        return (self.frame["filosofi_level"] == "commune").fillna(False).astype(bool)


def _compose(index: pd.Index, flags: list[tuple[str, np.ndarray]]) -> np.ndarray:
    out = np.full(len(index), "", dtype=object)
    for name, mask in flags:
        mask = np.asarray(mask, dtype=bool)
        out[mask] = [f"{o}{STATUS_SEPARATOR}{name}" if o else name for o in out[mask]]
    out[out == ""] = "ok"
    return out


@dataclass
class _Parts:
    value: pd.Series
    status: pd.Series
    num: pd.Series | None
    den: pd.Series | None


def _iris_parts(p: _Plan, ctx: _Context) -> _Parts:
    index = ctx.frame.index
    ind = p.indicator
    if p.mode == "absent":
        nan = pd.Series(np.nan, index=index)
        return _Parts(nan, pd.Series("absent", index=index, dtype=object), None, None)
    num = ctx.total(p.num)
    den = None
    flags: list[tuple[str, np.ndarray]] = []
    if p.mode == "value":
        value = num * p.scale
        missing = value.isna()
        zero = pd.Series(False, index=index)
    else:
        den = ctx.total(p.den)
        zero = den == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (num / den).where(~zero)
        value = 1 - ratio if p.mode == "complement" else ratio
        missing = value.isna()
    present = ~missing.to_numpy()
    if p.substitute:
        flags.append(("substitut", present))
    communal = ctx.communal(p)
    if communal is not None:
        flags.append(("valeur_communale", present & communal.to_numpy()))
    if den is not None and ind.min_denominator is not None:
        flags.append(("petit_denominateur", present & (den < ind.min_denominator).to_numpy()))
    if ind.unit in ("share", "rate"):
        out = ((value < -1e-9) | (value > 1 + 1e-9)).to_numpy()
        flags.append(("hors_bornes", present & out))
    status = pd.Series(_compose(index, flags), index=index, dtype=object)
    status[zero.to_numpy()] = "denominateur_nul"
    unexplained = missing & ~zero
    if unexplained.any():
        rows = index[unexplained.to_numpy()]
        status[rows] = ctx.missing_reasons(p, rows).to_numpy()
    return _Parts(value, status, num, den)


def _membership(ctx: _Context, level: str, groups) -> tuple[pd.DataFrame, list[str]]:
    """Rows (iris, group, weight) assigning IRIS to the groups of the level."""
    frame = ctx.frame
    if groups is not None:
        if not isinstance(groups, pd.Series):
            raise InputError("groups doit être une Series indexée par « iris » (code du groupe).")
        codes = groups.reindex(frame.index)
        unassigned = frame.index[codes.isna()].tolist()
        codes = codes.dropna()
        members = pd.DataFrame(
            {"iris": codes.index, "group": codes.astype(str).to_numpy(), "weight": 1.0}
        )
        return members, unassigned
    if level in ("commune", "epci"):
        if level not in frame:
            raise InputError(f"colonne « {level} » absente de la table : passez groups=.")
        codes = frame[level]
        unassigned = frame.index[codes.isna()].tolist()
        codes = codes.dropna()
        members = pd.DataFrame(
            {"iris": codes.index, "group": codes.astype(str).to_numpy(), "weight": 1.0}
        )
        return members, unassigned
    if level == "qpv":
        if "qpv_share" not in frame:
            raise InputError(
                "colonne « qpv_share » absente de la table : l'agrégation par QPV demande la "
                "part de chaque IRIS en QPV (contours des QPV)."
            )
        share = ctx.column("qpv_share")
        rows = []
        known_codes = frame["qpv_codes"] if "qpv_codes" in frame else None
        commune_codes = frame["qpv_commune_codes"] if "qpv_commune_codes" in frame else None
        for iris in frame.index:
            s = share[iris]
            if pd.notna(s):
                codes = [] if known_codes is None else _split(known_codes[iris])
                for code in codes:
                    rows.append((iris, code, s / len(codes)))
            elif commune_codes is not None:
                for code in _split(commune_codes[iris]):
                    rows.append((iris, code, np.nan))
        members = pd.DataFrame(rows, columns=["iris", "group", "weight"])
        return members, []
    raise InputError(
        f"niveau inconnu « {level} » (niveaux : {', '.join(LEVELS)}, ou tout nom avec groups=)."
    )


def _split(value) -> list[str]:
    if not isinstance(value, str):
        return []
    return [c for c in value.split(",") if c]


def _group_parts(
    p: _Plan, ctx: _Context, parts: _Parts, members: pd.DataFrame, level: str, index: pd.Index
) -> _Parts:
    """Aggregate one indicator's IRIS parts to groups: counts, or weighted values."""
    ind = p.indicator
    nan = pd.Series(np.nan, index=index)
    if p.mode == "absent":
        return _Parts(nan, pd.Series("absent", index=index, dtype=object), None, None)
    iris = pd.Index(members["iris"])
    weight = members["weight"].to_numpy(dtype=float)
    group = members["group"].to_numpy()
    iris_status = parts.status.reindex(iris).to_numpy()
    member_reason = np.where(np.isnan(weight), "contours_qpv_absents", iris_status)
    flags: list[tuple[str, np.ndarray]] = []
    den_out = None
    if p.mode in ("ratio", "complement"):
        num = parts.num.reindex(iris).to_numpy()
        den = parts.den.reindex(iris).to_numpy()
        complete = ~np.isnan(num) & ~np.isnan(den) & ~np.isnan(weight)
        table = pd.DataFrame(
            {
                "group": group,
                "num": np.where(complete, num * weight, 0.0),
                "den": np.where(complete, den * weight, 0.0),
                "complete": complete,
                "incomplete": ~complete,
            }
        )
        sums = table.groupby("group", sort=True)[["num", "den", "complete", "incomplete"]].sum()
        sums = sums.reindex(index)
        has = sums["complete"].fillna(0).to_numpy() > 0
        den_g = sums["den"].where(has)
        zero = has & (den_g.to_numpy() == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (sums["num"] / den_g).where(has & ~zero)
        value = 1 - ratio if p.mode == "complement" else ratio
        den_out = den_g
        if ind.min_denominator is not None:
            small = (den_g < ind.min_denominator).to_numpy()
            flags_small = ("petit_denominateur", small)
        else:
            flags_small = None
    else:
        weight_col = next((c for c in ind.weight if c in ctx.frame), None)
        if weight_col is None:
            status = pd.Series("absent", index=index, dtype=object)
            return _Parts(nan, status, None, None)
        pop = ctx.column(weight_col).reindex(iris).to_numpy() * weight
        v = parts.value.reindex(iris).to_numpy()
        complete = ~np.isnan(v) & ~np.isnan(pop)
        communal = iris_status.astype(str)
        is_communal = np.char.find(communal.astype("U"), "valeur_communale") >= 0
        commune = (
            ctx.frame["commune"].reindex(iris).to_numpy()
            if "commune" in ctx.frame
            else np.full(len(iris), None)
        )
        table = pd.DataFrame(
            {
                "group": group,
                "wv": np.where(complete, pop * v, 0.0),
                "w": np.where(complete, pop, 0.0),
                "complete": complete,
                "incomplete": ~complete,
                "communal": complete & is_communal,
                "commune": np.where(complete, commune, None),
            }
        )
        grouped = table.groupby("group", sort=True)
        sums = grouped[["wv", "w", "complete", "incomplete", "communal"]].sum()
        sums["communes"] = grouped["commune"].nunique()
        sums = sums.reindex(index)
        has = sums["complete"].fillna(0).to_numpy() > 0
        w = sums["w"].where(has)
        zero = has & (w.to_numpy() == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (sums["wv"] / w).where(has & ~zero)
        exact_communal = (
            (sums["communal"] == sums["complete"])
            & (sums["incomplete"] == 0)
            & (sums["communes"] == 1)
        ).to_numpy() & has
        flags_small = None
    present = value.notna().to_numpy()
    if p.substitute:
        flags.append(("substitut", present))
    if p.mode == "value":
        flags.append(("valeur_communale", present & (sums["communal"].to_numpy() > 0)))
        flags.append(("approx_ponderee", present & ~exact_communal))
    if level == "qpv":
        flags.append(("approx_surface", present))
    if flags_small is not None:
        flags.append((flags_small[0], present & flags_small[1]))
    if ind.unit in ("share", "rate"):
        out = ((value < -1e-9) | (value > 1 + 1e-9)).to_numpy()
        flags.append(("hors_bornes", present & out))
    flags.append(("partiel", present & (sums["incomplete"].fillna(0).to_numpy() > 0)))
    status = pd.Series(_compose(index, flags), index=index, dtype=object)
    status[zero] = "denominateur_nul"
    none = ~has
    if none.any():
        reasons = pd.Series(member_reason, index=group)
        reasons = reasons.where(~has_value(reasons), "donnee_manquante")
        status[none] = _group_mode(reasons).reindex(index[none]).fillna(
            "donnee_manquante").to_numpy()
    return _Parts(value, status, None, den_out)


def _group_mode(values: pd.Series) -> pd.Series:
    """Most frequent non-missing value of each group (index level 0), vectorised.

    Ties go to the value seen first in the group, as ``value_counts().index[0]``.
    """
    frame = pd.DataFrame({"group": values.index, "value": values.to_numpy(dtype=object),
                          "position": np.arange(len(values))}).dropna(subset=["value"])
    counts = frame.groupby(["group", "value"], sort=False)["position"].agg(["size", "min"])
    counts = counts.reset_index().sort_values(["group", "size", "min"],
                                              ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("group").set_index("group")["value"]


def select(names: Iterable[str] | str | None = None) -> list[Indicator]:
    """Registered indicators by key (all of them when ``names`` is None).

    Raises
    ------
    InputError
        For an unknown key, with the closest registered keys.
    """
    if names is None:
        return list(REGISTRY.values())
    if isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        if name not in REGISTRY:
            close = difflib.get_close_matches(name, list(REGISTRY), n=3)
            hint = f" (voulez-vous dire : {', '.join(close)} ?)" if close else ""
            raise InputError(f"indicateur inconnu : « {name} »{hint}.")
        out.append(REGISTRY[name])
    return out


def compute_indicators(
    table,
    names: Iterable[str] | str | None = None,
    *,
    level: str = "iris",
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Compute registered base indicators, at IRIS level or aggregated from counts.

    Parameters
    ----------
    table : IrisTable, geopandas.GeoDataFrame or pandas.DataFrame
        The IRIS table, indexed by ``iris``. With an :class:`~fragility.IrisTable`, its
        coverage report explains missing values (``secret_statistique``…); with a bare
        frame, unexplained gaps get ``donnee_manquante``.
    names : str or iterable of str, optional
        Indicator keys (default: every registered indicator, in registration order).
    level : {"iris", "commune", "epci", "qpv"} or str, default "iris"
        Output level. ``commune`` and ``epci`` group IRIS by the table's column of that
        name; ``qpv`` splits each IRIS's counts by its area share in QPV; any other name
        requires ``groups``.
    groups : pandas.Series, optional
        IRIS code -> group code, overriding the grouping of ``level`` (not with
        ``level="iris"``). IRIS without a group are left out and listed in
        ``result.attrs["unassigned"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``iris`` (or by the group codes, index named ``level``, with a first
        column ``n_iris``). For each indicator: ``<key>`` (float, NaN when missing),
        ``<key>_status`` (see :data:`STATUSES`) and, for ratios, ``<key>_denominator``.
        ``result.attrs["notes"]`` maps keys to a French note on absent columns,
        substitutes and approximations; ``result.attrs["level"]`` is the level.

    Raises
    ------
    InputError
        Unknown indicator or level, frame not indexed by ``iris``, non-numeric column.

    Notes
    -----
    Ratios above IRIS level are **sums of numerators over sums of denominators**
    (never means of rates). Filosofi values (rates, medians, income shares) come without
    counts: they are averaged with ``population`` weights and flagged
    ``approx_ponderee`` — except for a commune all of whose IRIS carry the commune's own
    Filosofi value, which is exact (``valeur_communale``). At QPV level the counts of
    each IRIS are multiplied by its area share in QPV (``qpv_share``, split evenly between
    QPV when it touches several), assuming population evenly spread over the IRIS
    (``approx_surface``).

    Examples
    --------
    >>> from fragility.indicators import compute_indicators
    >>> values = compute_indicators(table, ["pop75_share"])  # doctest: +SKIP
    >>> by_commune = compute_indicators(table, level="commune")  # doctest: +SKIP
    """
    ctx = _Context(table)
    indicators = select(names)
    plans = [plan(ind, ctx.frame.columns) for ind in indicators]
    iris_parts = [_iris_parts(p, ctx) for p in plans]
    columns: dict[str, pd.Series] = {}
    unassigned: list[str] = []
    if level == "iris":
        if groups is not None:
            raise InputError("groups n'a pas de sens au niveau « iris » : choisissez un niveau.")
        index = ctx.frame.index
        results = iris_parts
    else:
        members, unassigned = _membership(ctx, level, groups)
        index = pd.Index(sorted(set(members["group"])), name=level, dtype=object)
        columns["n_iris"] = (
            members.groupby("group")["iris"].nunique().reindex(index).astype("Int64")
        )
        results = [
            _group_parts(p, ctx, parts, members, level, index)
            for p, parts in zip(plans, iris_parts, strict=True)
        ]
    for p, res in zip(plans, results, strict=True):
        key = p.indicator.key
        columns[key] = res.value.astype("float64")
        columns[f"{key}_status"] = res.status
        if p.indicator.kind != "value":
            den = res.den if res.den is not None else pd.Series(np.nan, index=index)
            columns[f"{key}_denominator"] = den.astype("float64")
    out = pd.DataFrame(columns, index=index)
    out.index.name = IRIS_INDEX if level == "iris" else level
    notes = {p.indicator.key: p.note_fr for p in plans if p.note_fr}
    out.attrs = {"level": level, "notes": notes, "unassigned": unassigned}
    return out


def compare_to_reference(
    values: pd.DataFrame,
    reference,
    names: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Percentile rank of each value within a reference distribution.

    Parameters
    ----------
    values : pandas.DataFrame
        Indicator values (output of :func:`compute_indicators`, any level).
    reference : pandas.DataFrame or IrisTable
        Reference values, e.g. every IRIS of the département or of France: a frame of
        indicator values, or an IRIS table whose indicators are then computed.
    names : iterable of str, optional
        Indicator keys (default: registered keys among the columns of ``values``, in
        their order).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``values``, one column ``<key>_pct_ref`` per indicator, in [0, 1]:
        the mid-rank share of reference values below the value,
        ``(#{r < v} + #{r <= v}) / (2 n)``. It is the raw position (0.9: higher than 90 %
        of the reference), whatever the indicator's direction. NaN when the value is
        missing or the reference has no value. ``attrs["reference_size"]`` gives ``n``
        per key.
    """
    if names is None:
        keys = [c for c in values.columns if c in REGISTRY]
    else:
        keys = [ind.key for ind in select(names)]
        lacking = [k for k in keys if k not in values]
        if lacking:
            raise InputError(f"indicateur(s) absent(s) des valeurs : {', '.join(lacking)}.")
    if not isinstance(reference, pd.DataFrame) or (
        reference.index.name == IRIS_INDEX and any(k not in reference for k in keys)
    ):
        reference = compute_indicators(reference, keys)
    lacking = [k for k in keys if k not in reference]
    if lacking:
        raise InputError(f"indicateur(s) absent(s) de la référence : {', '.join(lacking)}.")
    columns = {}
    sizes = {}
    for key in keys:
        ref = np.sort(reference[key].dropna().to_numpy(dtype=float))
        v = values[key].to_numpy(dtype=float)
        n = len(ref)
        sizes[key] = n
        if n == 0:
            pct = np.full(len(v), np.nan)
        else:
            below = np.searchsorted(ref, v, side="left")
            upto = np.searchsorted(ref, v, side="right")
            pct = np.where(np.isnan(v), np.nan, (below + upto) / (2 * n))
        columns[f"{key}_pct_ref"] = pct
    out = pd.DataFrame(columns, index=values.index)
    out.attrs = {"reference_size": sizes}
    return out
