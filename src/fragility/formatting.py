"""French number formatting for every page fragility writes (report, bilan, maps).

One place for the typographic rules: narrow no-break space between thousands and before
``%``, decimal comma, true minus sign, an em dash for a missing value.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["MISSING", "NNBSP", "fr_number", "fr_percent", "is_missing"]

#: Narrow no-break space (French thousands separator, and before ``%``).
NNBSP = "\u202f"
#: Text of a missing value.
MISSING = "—"


def is_missing(value) -> bool:
    """``True`` for ``None``, NaN, ``pd.NA`` and ``pd.NaT`` (never raises)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fr_number(value, digits: int = 0) -> str:
    """Format a number the French way.

    Parameters
    ----------
    value : float, int or None
        The number (``None``, NaN, infinities and ``pd.NA`` give "—").
    digits : int, default 0
        Decimals.

    Returns
    -------
    str
        Narrow no-break space between thousands, decimal comma, true minus sign
        (``fr_number(-12345.678, 1)`` gives ``"−12 345,7"``).
    """
    if is_missing(value):
        return MISSING
    value = float(value)
    if not math.isfinite(value):
        return MISSING
    text = f"{value:,.{digits}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")  # no "-0"
    text = text.replace(",", NNBSP).replace(".", ",")
    return "−" + text[1:] if text.startswith("-") else text


def fr_percent(share, digits: int = 1) -> str:
    """Format a share in [0, 1] as a French percentage (``0.165`` gives ``"16,5 %"``)."""
    if is_missing(share) or not math.isfinite(float(share)):
        return MISSING
    return f"{fr_number(100 * float(share), digits)}{NNBSP}%"
