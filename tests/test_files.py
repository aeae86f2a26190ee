"""File helpers (``fragility._files``): the fast CSV writer matches pandas byte for byte."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from fragility._files import write_csv


def _pandas(frame: pd.DataFrame) -> str:
    out = io.StringIO()
    frame.to_csv(out, index=False, sep=";", float_format="%.10g", lineterminator="\n")
    return out.getvalue()


def _ours(frame: pd.DataFrame) -> str:
    out = io.StringIO()
    write_csv(frame, out)
    return out.getvalue()


def test_write_csv_matches_pandas_on_mixed_columns():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "iris": pd.Series([f"{i:09d}" for i in range(n)], dtype="str"),
        "x": rng.normal(size=n) * 1e6,
        "small": rng.random(n) / 1e7,
        "entier": np.arange(n),
        "booleen": rng.random(n) > 0.5,
        "compte": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
        "oui": pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(n)],
                        dtype="boolean"),
        "texte": [None if i % 3 == 0 else f"a;b \"{i}\"\nc" if i % 4 == 0 else f"t{i}"
                  for i in range(n)],
        "mixte": [1.5 if i % 2 else "x" for i in range(n)],
    })
    frame.loc[::9, "x"] = np.nan
    frame.loc[3, "x"] = np.inf
    assert _ours(frame) == _pandas(frame)


def test_write_csv_hands_other_dtypes_to_pandas():
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-02-03"]),
                          "cat": pd.Categorical(["a", "b"]), "v": [1.0, np.nan]})
    assert _ours(frame) == _pandas(frame)


@pytest.mark.parametrize("value", ["", "a", ";"])
def test_write_csv_single_column(value):
    frame = pd.DataFrame({"c": [value, "b"]})
    assert _ours(frame) == _pandas(frame)
