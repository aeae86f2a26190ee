import base64
import hashlib
import hmac
import time

import numpy as np
import pandas as pd
import pytest

from fragility.errors import PseudonymisationKeyError
from fragility.logs.pseudonymise import (
    drop_direct_identifiers,
    load_key,
    pseudonym,
    pseudonymise,
)
from fragility.logs.schema import PERSON_KEY_PATTERN

HEX_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY = bytes.fromhex(HEX_KEY)
OTHER_KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch):
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY", raising=False)
    monkeypatch.delenv("FRAGILITY_PSEUDO_KEY_FILE", raising=False)


# --- load_key ----------------------------------------------------------------------------

def test_explicit_hex_base64_raw_and_bytes():
    assert load_key(HEX_KEY) == KEY
    assert load_key(HEX_KEY.upper()) == KEY
    assert load_key(f"  {HEX_KEY}\n") == KEY
    assert load_key(base64.b64encode(KEY).decode()) == KEY
    assert load_key(base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()) == b"\xfb\xff" * 16
    assert load_key("une phrase secrète assez longue") == "une phrase secrète assez longue".encode()
    assert load_key(KEY) == KEY  # bytes: raw key material, used as is
    assert load_key(HEX_KEY.encode()) == HEX_KEY.encode()


def test_env_variable_and_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY", HEX_KEY)
    assert load_key() == KEY
    key_file = tmp_path / "cle.txt"
    key_file.write_text(OTHER_KEY.hex() + "\n")
    assert load_key(key_file=key_file) == OTHER_KEY  # key_file beats the environment
    assert load_key("x" * 20, key_file=key_file) == b"x" * 20  # explicit beats all


def test_env_key_file(monkeypatch, tmp_path):
    key_file = tmp_path / "cle.txt"
    key_file.write_text(f"\n  {HEX_KEY}  \n\n", encoding="utf-8")
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY_FILE", str(key_file))
    assert load_key() == KEY
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY", "")  # empty variable counts as unset
    assert load_key() == KEY
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY", OTHER_KEY.hex())  # variable beats file variable
    assert load_key() == OTHER_KEY


def test_key_file_binary_and_base64(tmp_path):
    binary = tmp_path / "cle.bin"
    binary.write_bytes(b"\xff\xfe" + bytes(30))
    assert load_key(key_file=binary) == b"\xff\xfe" + bytes(30)
    b64 = tmp_path / "cle.b64"
    b64.write_text(base64.b64encode(OTHER_KEY).decode() + "\n")
    assert load_key(key_file=b64) == OTHER_KEY


def test_refusal_without_key_explains_how_to_create_one():
    with pytest.raises(PseudonymisationKeyError) as info:
        load_key()
    message = str(info.value)
    assert "aucune clé de pseudonymisation" in message
    assert 'python -c "import secrets; print(secrets.token_hex(32))" > cle.txt' in message
    assert "--key-file cle.txt" in message
    assert "FRAGILITY_PSEUDO_KEY" in message
    assert "hors du dépôt" in message
    assert "ne la partagez jamais" in message
    assert message.count(".") >= 1 and message.rstrip().endswith(".")


@pytest.mark.parametrize("bad", ["", "   ", b""])
def test_refuses_empty_key(bad):
    with pytest.raises(PseudonymisationKeyError, match="est vide"):
        load_key(bad)


@pytest.mark.parametrize("short", ["0011223344556677", "court-secret", b"0123456789", "QUJDRA=="])
def test_refuses_short_key_without_echoing_it(short):
    with pytest.raises(PseudonymisationKeyError, match="trop courte") as info:
        load_key(short)
    text = short.decode() if isinstance(short, bytes) else short
    assert text not in str(info.value)
    assert "token_hex(32)" in str(info.value)


def test_refuses_short_key_from_env(monkeypatch):
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY", "abcdef")
    with pytest.raises(PseudonymisationKeyError,
                       match="variable FRAGILITY_PSEUDO_KEY est trop courte"):
        load_key()


def test_unreadable_or_empty_key_file(tmp_path, monkeypatch):
    with pytest.raises(PseudonymisationKeyError, match="illisible"):
        load_key(key_file=tmp_path / "absente.txt")
    with pytest.raises(PseudonymisationKeyError, match="illisible"):
        load_key(key_file=tmp_path)  # a directory
    empty = tmp_path / "vide.txt"
    empty.write_text("\n \n")
    with pytest.raises(PseudonymisationKeyError, match="vide"):
        load_key(key_file=empty)
    monkeypatch.setenv("FRAGILITY_PSEUDO_KEY_FILE", str(tmp_path / "absente.txt"))
    with pytest.raises(PseudonymisationKeyError, match="illisible"):
        load_key()


def test_key_file_content_never_in_message(tmp_path):
    secret = "mon-secret-court"
    short = tmp_path / "cle.txt"
    short.write_text(secret[:10])
    with pytest.raises(PseudonymisationKeyError) as info:
        load_key(key_file=short)
    assert secret[:10] not in str(info.value)


# --- pseudonym ---------------------------------------------------------------------------

def _reference(value: str, key: bytes, scope: str) -> str:
    mac = hmac.new(key, f"{scope}\x1f{value}".encode(), hashlib.sha256).digest()
    bits = int.from_bytes(mac, "big") >> (256 - 130)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[(bits >> (5 * (25 - i))) & 31] for i in range(26))


def test_known_answer_first_130_bits_base32():
    out = pseudonym(pd.Series(["Dupont Jean"]), KEY)
    assert out.iloc[0] == _reference("dupont jean", KEY, "person")
    out = pseudonym(pd.Series(["M-07"]), KEY, scope="mediator")
    assert out.iloc[0] == _reference("m-07", KEY, "mediator")


def test_output_pattern_index_and_name():
    values = pd.Series([f"id{i}" for i in range(500)], index=range(1000, 1500), name="person_id")
    out = pseudonym(values, KEY)
    assert out.index.equals(values.index)
    assert out.name == "person_id"
    assert out.dtype == object
    assert out.map(lambda v: bool(PERSON_KEY_PATTERN.match(v))).all()
    assert out.nunique() == 500


def test_deterministic_and_key_separated():
    values = pd.Series(["A12", "B34", "A12", "0612345678"])
    first, again = pseudonym(values, KEY), pseudonym(values.copy(), load_key(HEX_KEY))
    assert first.tolist() == again.tolist()
    assert first.iloc[0] == first.iloc[2]
    other = pseudonym(values, OTHER_KEY)
    assert not set(first) & set(other)


def test_same_pseudonym_across_files():
    file_a = pd.Series(["x1", "x2", "x3"])
    file_b = pd.Series(["x3", "x9", "x1"], index=[7, 8, 9])
    a, b = pseudonym(file_a, KEY), pseudonym(file_b, KEY)
    assert a.iloc[0] == b.loc[9] and a.iloc[2] == b.loc[7]


def test_scope_separation():
    values = pd.Series(["M-01", "M-02"])
    persons = pseudonym(values, KEY, scope="person")
    mediators = pseudonym(values, KEY, scope="mediator")
    assert not set(persons) & set(mediators)
    with pytest.raises(ValueError):
        pseudonym(values, KEY, scope="")
    with pytest.raises(ValueError):
        pseudonym(values, KEY, scope="a\x1fb")


def test_normalisation():
    out = pseudonym(pd.Series([" Dupont  Jean", "dupont jean", "DUPONT\tJEAN\n", "dupont jeanne",
                               "Élodie", "E\u0301lodie", "élodie"]), KEY)
    assert out.iloc[0] == out.iloc[1] == out.iloc[2]
    assert out.iloc[3] != out.iloc[0]
    assert out.iloc[4] == out.iloc[5] == out.iloc[6]


def test_numbers_read_from_spreadsheets_match_text():
    out = pseudonym(pd.Series([12345, 12345.0, "12345", " 12345 "], dtype=object), KEY)
    assert out.nunique() == 1


def test_nulls_stay_null():
    values = pd.Series(["A", None, np.nan, "", "   ", pd.NA, "B"], dtype=object)
    out = pseudonym(values, KEY)
    assert out.isna().tolist() == [False, True, True, True, True, True, False]
    assert out.iloc[1] is None and out.iloc[3] is None
    as_string = pseudonym(pd.Series(["A", None], dtype="string"), KEY)
    assert as_string.iloc[0] == out.iloc[0] and as_string.iloc[1] is None


def test_pseudonym_refuses_bad_key():
    with pytest.raises(PseudonymisationKeyError, match="trop courte"):
        pseudonym(pd.Series(["a"]), b"short")
    with pytest.raises(PseudonymisationKeyError):
        pseudonym(pd.Series(["a"]), None)


def test_speed_200k_rows():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.integers(0, 100_000, 200_000)).map("P{:06d}".format)
    start = time.perf_counter()
    out = pseudonym(values, KEY)
    elapsed = time.perf_counter() - start
    print(f"\npseudonym: 200 000 lignes, ~86 000 identifiants distincts en {elapsed:.3f} s")
    assert out.notna().all() and out.nunique() == values.nunique()


# --- drop / pseudonymise -----------------------------------------------------------------

def _raw_events():
    return pd.DataFrame({
        "person_id": ["p1", "P1 ", None, "p2"],
        "mediator_id": ["m1", "m1", "m2", None],
        "nom": ["Dupont", "Dupont", "Martin", "Durand"],
        "Téléphone": ["0612345678"] * 4,
        "E-mail": ["a@b.fr"] * 4,
        "Date de naissance": ["01/02/1980"] * 4,
        "notes": ["x"] * 4,
        "registre": ["presence_active"] * 4,
        "geo_iris": ["212310101"] * 4,
    })


def test_drop_direct_identifiers():
    frame = _raw_events()
    kept, dropped = drop_direct_identifiers(frame)
    assert dropped == ["person_id", "mediator_id", "nom", "Téléphone", "E-mail",
                       "Date de naissance", "notes"]
    assert list(kept.columns) == ["registre", "geo_iris"]
    assert list(frame.columns) == list(_raw_events().columns)


def test_pseudonymise_adds_keys_and_drops_identifiers():
    frame = _raw_events()
    before = frame.copy()
    out = pseudonymise(frame, KEY)
    pd.testing.assert_frame_equal(frame, before)  # no mutation
    assert list(out.columns) == ["registre", "geo_iris", "person_key", "mediator_key"]
    assert out["person_key"].iloc[0] == out["person_key"].iloc[1]
    assert out["person_key"].iloc[2] is None
    assert out["mediator_key"].iloc[3] is None
    assert out["person_key"].iloc[0] != pseudonym(pd.Series(["p1"]), KEY, scope="mediator")[0]
    assert out["mediator_key"].iloc[0] == pseudonym(pd.Series(["m1"]), KEY, scope="mediator")[0]
    keys = pd.concat([out["person_key"], out["mediator_key"]]).dropna()
    assert keys.map(lambda v: bool(PERSON_KEY_PATTERN.match(v))).all()


def test_pseudonymise_without_id_columns():
    frame = pd.DataFrame({"registre": ["presence_active"], "adresse": ["3 rue X"]})
    out = pseudonymise(frame, KEY)
    assert list(out.columns) == ["registre"]
    with pytest.raises(PseudonymisationKeyError):
        pseudonymise(frame, b"")
