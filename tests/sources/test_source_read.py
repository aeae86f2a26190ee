"""Column readers shared by the source parsers (``fragility.sources._read``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragility.conventions import COMMUNE_RE, normalise_code
from fragility.errors import InputError
from fragility.sources._read import codes, normalised_codes, to_numeric

RAW_CODES = ["01001", " 1001", "2a004", "2B004 ", "1001.0", "", None, np.nan, 1001, 1001.0,
             "abc", "12345678", "2100", "21231"]


@pytest.mark.parametrize("dtype", ["str", object])
def test_normalised_codes_is_normalise_code_on_every_cell(dtype):
    values = pd.Series(RAW_CODES if dtype is object else
                       [v for v in RAW_CODES if v is None or isinstance(v, str)], dtype=dtype)
    expected = [normalise_code(v, 5) for v in values]
    got = normalised_codes(values, 5)
    assert [None if pd.isna(v) else v for v in got] == expected


def test_codes_names_the_first_bad_line():
    values = pd.Series(["21231", "1001", "ABCDEF", "2A004"], index=pd.RangeIndex(2, 6))
    with pytest.raises(InputError, match=r"ligne 4, champ « COM » : code mal formé « ABCDEF »"):
        codes(values, 5, COMMUNE_RE, path=Path("f.csv"), field="COM")
    ok = codes(values.drop(4), 5, COMMUNE_RE, path=Path("f.csv"), field="COM")
    assert ok.tolist() == ["21231", "01001", "2A004"]


def test_to_numeric_plain_and_french_cells():
    cells = ["12", "2,5", " 3 ", "s", "", "1\u202f000", "1 000,5", "nd", "1e3", "-4.25", "secret"]
    values = pd.Series(cells, index=pd.RangeIndex(2, 2 + len(cells)), dtype="str")
    got = to_numeric(values, path=Path("f.csv"), field="P21_POP")
    expected = [12, 2.5, 3, np.nan, np.nan, 1000, 1000.5, np.nan, 1000, -4.25, np.nan]
    assert got.dtype == float
    np.testing.assert_array_equal(got.to_numpy(), np.array(expected, dtype=float))
    assert got.index.equals(values.index)


def test_to_numeric_error_names_line_and_field():
    values = pd.Series(["1", "2,5", "douze", "x1"], index=pd.RangeIndex(2, 6), dtype="str")
    with pytest.raises(InputError, match=r"ligne 4, champ « P21_POP » : valeur non numérique "
                                         r"« douze » \(2 cellule"):
        to_numeric(values, path=Path("f.csv"), field="P21_POP")


@pytest.mark.parametrize(
    "text",
    [
        'IRIS;COM;P21_POP\n"010010000";01001;12,5\n010020000;01002;\n',
        "IRIS;COM;COM\n010010000;01001;x\n",  # repeated name: pandas renames it COM.1
        "IRIS;;P21_POP\n010010000;a;1\n",  # blank name: pandas calls it Unnamed: 1
        "IRIS;COM\n010010000;01001;extra\n010020000;01002\n",  # ragged rows
    ],
)
def test_read_table_same_frame_as_the_c_engine(tmp_path, text):
    import io

    from fragility.sources._read import read_table

    path = tmp_path / "base.csv"
    path.write_text(text, encoding="utf-8")
    expected = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False,
                           na_filter=False, quotechar='"')
    got = read_table(path)
    assert list(got.columns) == [str(c).strip() for c in expected.columns]
    assert (got.to_numpy(dtype=object) == expected.to_numpy(dtype=object)).all()
    assert got.index[0] == 2  # line numbers
