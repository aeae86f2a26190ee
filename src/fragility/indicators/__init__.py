"""Base indicators, declared as data and computed at any level from counts.

Every indicator is registered once (:data:`REGISTRY`) with its numerator and
denominator as sums of raw INSEE columns, its source, unit, direction and minimum
denominator. :func:`compute_indicators` computes them per IRIS, or per commune, EPCI or
QPV from counts; :func:`compare_to_reference` places values in a reference
distribution; :func:`describe` and :func:`methodology_markdown` document them.

Examples
--------
>>> import fragility as fr
>>> from fragility.indicators import compute_indicators
>>> table = fr.build_iris_table(fr.Territory.demo())  # doctest: +SKIP
>>> values = compute_indicators(table)  # doctest: +SKIP
>>> values[["pop80_alone_share", "pop80_alone_share_status"]].head()  # doctest: +SKIP
"""

from fragility.indicators import census, filosofi, places  # noqa: F401  (registration)
from fragility.indicators._compute import (
    LEVELS,
    STATUS_SEPARATOR,
    STATUSES,
    VALUE_FLAGS,
    compare_to_reference,
    compute_indicators,
    has_value,
)
from fragility.indicators._describe import describe, methodology_markdown
from fragility.indicators._registry import REGISTRY, Indicator, one_of, register

__all__ = [
    "LEVELS",
    "REGISTRY",
    "STATUSES",
    "STATUS_SEPARATOR",
    "VALUE_FLAGS",
    "Indicator",
    "compare_to_reference",
    "compute_indicators",
    "describe",
    "has_value",
    "methodology_markdown",
    "one_of",
    "register",
]
