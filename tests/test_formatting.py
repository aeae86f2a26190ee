"""French number formatting shared by the report, the bilan and the maps."""

import math

import numpy as np
import pandas as pd
import pytest

from fragility.formatting import MISSING, NNBSP, fr_number, fr_percent, is_missing


def test_french_number_format():
    assert fr_number(1234567.891, 2) == f"1{NNBSP}234{NNBSP}567,89"
    assert fr_number(175230.4) == f"175{NNBSP}230"
    assert fr_number(-12345.67, 1) == f"−12{NNBSP}345,7"
    assert fr_number(-0.01, 1) == "0,0"  # never "-0"
    assert fr_number(np.int64(12)) == "12"
    assert fr_percent(0.1652) == f"16,5{NNBSP}%"
    assert fr_percent(1, 0) == f"100{NNBSP}%"


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, pd.NaT, math.inf, -math.inf])
def test_missing_values_give_a_dash(value):
    assert fr_number(value) == fr_percent(value) == MISSING == "—"


def test_is_missing_never_raises():
    assert is_missing(None) and is_missing(np.nan) and is_missing(pd.NA)
    assert not is_missing(0) and not is_missing("texte") and not is_missing([1, 2])
