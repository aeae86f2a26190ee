"""The indicator registry: each base indicator declared once, as data.

An :class:`Indicator` names its numerator and denominator as **sums of raw columns** of
the IRIS table (INSEE names, vintage stripped: ``P_POP80P_PSEUL``, ``C_MEN``…). That one
declaration drives the computation at IRIS level, the aggregation to communes, EPCI and
QPV from counts, the formula tests and the French methodology.

A term of a numerator or denominator is either a column name or a tuple of
*alternatives* built with :func:`one_of`: the first alternative whose columns are all
present in the table is used; any other one is a documented substitute and is recorded
as ``substitut`` in the status column.
"""

from __future__ import annotations

from dataclasses import dataclass

from fragility.errors import ConfigError

#: A term: one column, or alternatives (each a tuple of columns summed), best first.
Term = str | tuple[tuple[str, ...], ...]

UNITS = {
    "share": "part (entre 0 et 1)",
    "rate": "taux (entre 0 et 1)",
    "eur": "euros par an",
    "m": "mètres",
}
KINDS = ("ratio", "value", "complement")
_SUFFIX = {"share": ("_share",), "rate": ("_rate",), "eur": ("_eur",), "m": ("_m",)}

#: Minimum denominator (persons, households, families) under which a ratio is flagged.
DEFAULT_MIN_DENOMINATOR = 30


def one_of(*alternatives: str | tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Declare alternatives for one term, best first.

    Parameters
    ----------
    *alternatives : str or tuple of str
        Each alternative is a column or a tuple of columns that are summed.

    Returns
    -------
    tuple of tuple of str
        The normalised alternatives.

    Examples
    --------
    >>> one_of("P_NSCOL15P", ("P_NSCOL15P_DIPLMIN", "P_NSCOL15P_BEPC"))
    (('P_NSCOL15P',), ('P_NSCOL15P_DIPLMIN', 'P_NSCOL15P_BEPC'))
    """
    if not alternatives:
        raise ConfigError("one_of() demande au moins une variante.")
    return tuple((a,) if isinstance(a, str) else tuple(a) for a in alternatives)


def normalise_terms(terms) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Turn a numerator or denominator declaration into terms of alternatives.

    Parameters
    ----------
    terms : tuple
        Each item is a column name or a tuple of alternatives (see :func:`one_of`).

    Returns
    -------
    tuple
        One tuple of alternatives per term; each alternative is a tuple of columns.
    """
    out = []
    for term in terms:
        if isinstance(term, str):
            out.append(((term,),))
        else:
            out.append(tuple((a,) if isinstance(a, str) else tuple(a) for a in term))
    return tuple(out)


@dataclass(frozen=True)
class Indicator:
    """Declaration of one base indicator.

    Parameters
    ----------
    key : str
        Column name of the indicator (English, snake_case, unit suffix: ``_share``,
        ``_rate``, ``_eur``, ``_m``).
    label_fr : str
        French label used in maps, reports and the methodology.
    numerator : tuple
        Terms summed to form the numerator (``kind="ratio"``/``"complement"``) or the
        value (``kind="value"``). Each term is a raw column or alternatives
        (:func:`one_of`).
    denominator : tuple or None
        Terms summed to form the denominator; ``None`` for ``kind="value"``.
    layer : str
        Main source layer (a key of :data:`fragility.sources.LAYERS`).
    unit : {"share", "rate", "eur", "m"}
        Unit; shares and rates lie in [0, 1].
    direction : {1, -1}
        ``+1`` when a higher value means more need (or more risk), ``-1`` otherwise.
    min_denominator : float or None
        Denominator under which the value is kept but flagged ``petit_denominateur``.
    definition_fr : str
        French definition and rationale (sources, caveats).
    kind : {"ratio", "value", "complement"}
        ``ratio``: numerator / denominator; ``complement``: 1 − numerator / denominator;
        ``value``: (sum of the numerator terms) × ``scale``, a value published as such
        (Filosofi rates and medians, distances).
    scale : float
        Factor applied to a ``value`` (``0.01`` turns a Filosofi percentage into a rate).
    fallback : str or None
        Column holding the indicator's value itself, used (status ``substitut``) when a
        raw column of the formula is absent.
    fallback_note_fr : str
        French sentence describing the fallback (source, vintage, caveats).
    status_column : str or None
        Column of the table that says why a value is missing (e.g. ``qpv_status``),
        read when the coverage report does not.
    weight : tuple of str
        For ``value`` indicators, the columns tried in turn to weight IRIS values when
        aggregating to a larger level (population by default).
    """

    key: str
    label_fr: str
    numerator: tuple
    denominator: tuple | None
    layer: str
    unit: str
    direction: int
    min_denominator: float | None = DEFAULT_MIN_DENOMINATOR
    definition_fr: str = ""
    kind: str = "ratio"
    scale: float = 1.0
    fallback: str | None = None
    fallback_note_fr: str = ""
    status_column: str | None = None
    weight: tuple[str, ...] = ("population", "P_POP")

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ConfigError(f"indicateur {self.key} : unité inconnue « {self.unit} ».")
        if not self.key.endswith(_SUFFIX[self.unit]):
            raise ConfigError(
                f"indicateur {self.key} : le nom doit finir par {_SUFFIX[self.unit][0]} "
                f"(unité {self.unit})."
            )
        if self.kind not in KINDS:
            raise ConfigError(f"indicateur {self.key} : nature inconnue « {self.kind} ».")
        if self.direction not in (1, -1):
            raise ConfigError(f"indicateur {self.key} : le sens doit valoir +1 ou -1.")
        if not self.numerator:
            raise ConfigError(f"indicateur {self.key} : numérateur vide.")
        if (self.kind == "value") != (self.denominator is None):
            raise ConfigError(
                f"indicateur {self.key} : un dénominateur est requis pour un ratio, "
                "et interdit pour une valeur."
            )

    @property
    def numerator_terms(self) -> tuple[tuple[tuple[str, ...], ...], ...]:
        """Numerator as normalised terms (alternatives of column tuples)."""
        return normalise_terms(self.numerator)

    @property
    def denominator_terms(self) -> tuple[tuple[tuple[str, ...], ...], ...]:
        """Denominator as normalised terms; empty for a ``value`` indicator."""
        return normalise_terms(self.denominator or ())

    @property
    def columns(self) -> tuple[str, ...]:
        """Every raw column of the main formula (first alternatives), in order."""
        seen: dict[str, None] = {}
        for term in (*self.numerator_terms, *self.denominator_terms):
            for col in term[0]:
                seen[col] = None
        return tuple(seen)

    def formula(self, *, alternatives: bool = True) -> str:
        """The formula as text, with INSEE variable names.

        Parameters
        ----------
        alternatives : bool, default True
            Also write the documented substitutes (``à défaut : …``).

        Returns
        -------
        str
            E.g. ``"P_POP80P_PSEUL / P_POP80P"`` or ``"1 − P_RP_VOIT1P / P_RP"``.
        """
        num = _terms_text(self.numerator_terms, alternatives)
        if self.kind == "value":
            text = num
            if self.scale != 1:
                inverse = 1 / self.scale
                if abs(inverse - round(inverse)) < 1e-9:
                    text = f"{_group(num)} / {round(inverse)}"
                else:
                    text = f"{_group(num)} × {self.scale:g}"
        else:
            den = _terms_text(self.denominator_terms, alternatives)
            text = f"{_group(num)} / {_group(den)}"
            if self.kind == "complement":
                text = f"1 − {text}"
        if alternatives and self.fallback:
            text += f" [à défaut : colonne {self.fallback}]"
        return text


def _group(text: str) -> str:
    return f"({text})" if " + " in text and not text.startswith("(") else text


def _alternative_text(alt: tuple[str, ...]) -> str:
    if len(alt) > 3:
        return f"({alt[0]} + {alt[1]} + … + {alt[-1]})"
    return " + ".join(alt)


def _terms_text(terms, alternatives: bool) -> str:
    parts = []
    for term in terms:
        text = _alternative_text(term[0])
        if alternatives and len(term) > 1:
            others = " ou ".join(_alternative_text(a) for a in term[1:])
            text = f"{text} [à défaut : {others}]"
        parts.append(text)
    return " + ".join(parts)


#: Every registered indicator, by key, in registration order.
REGISTRY: dict[str, Indicator] = {}


def register(indicator: Indicator) -> Indicator:
    """Add an indicator to :data:`REGISTRY`.

    Parameters
    ----------
    indicator : Indicator
        The declaration.

    Returns
    -------
    Indicator
        The same object, so that a module can write ``X = register(Indicator(...))``.

    Raises
    ------
    ConfigError
        When the key is already registered with a different declaration.
    """
    existing = REGISTRY.get(indicator.key)
    if existing is not None and existing != indicator:
        raise ConfigError(f"indicateur déjà enregistré : {indicator.key}.")
    REGISTRY[indicator.key] = indicator
    return indicator
