r"""Pseudonymous keys for persons and mediators: keyed hash (HMAC-SHA-256), never a plain hash.

Reference: ``logs-and-privacy.md`` §B.4. Identifier spaces (phone numbers, NIR, name +
birth date) are small enough to be enumerated, so a plain or salted hash can be reversed
by brute force; only a **secret key**, held outside the data, makes the pseudonyms
unlinkable to the identifiers.

The key is read, in this order, from an explicit argument, a key file, the environment
variable ``FRAGILITY_PSEUDO_KEY`` or a file named by ``FRAGILITY_PSEUDO_KEY_FILE``. It is
never logged, echoed or written anywhere by this module.

Pseudonym of a value ``v`` in a scope ``s`` (``"person"``, ``"mediator"``)::

    base32(HMAC-SHA-256(key, s + "\x1f" + normalise(v)))[:26]

that is the first 130 bits of the MAC as 26 characters of ``[A-Z2-7]``
(:data:`fragility.logs.schema.PERSON_KEY_PATTERN`). The same key gives the same pseudonyms
across runs and files; another key, or another scope, gives unrelated ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from fragility.errors import PseudonymisationKeyError
from fragility.logs.schema import DIRECT_IDENTIFIERS, FORBIDDEN_COLUMNS_RE, fold

#: Environment variable holding the key itself (hex, base64 or text).
KEY_ENV = "FRAGILITY_PSEUDO_KEY"
#: Environment variable holding the path of a file that contains the key.
KEY_FILE_ENV = "FRAGILITY_PSEUDO_KEY_FILE"
#: Shortest accepted key, in bytes after decoding.
MIN_KEY_BYTES = 16
#: Length of a pseudonym (26 base32 characters = 130 bits).
PSEUDONYM_LENGTH = 26
#: Raw identifier columns, dropped once pseudonymised.
RAW_ID_COLUMNS = ("person_id", "mediator_id")

_SCOPE_SEPARATOR = "\x1f"
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+={0,2}$")

_HOW_TO = (
    "créez une clé avec `python -c \"import secrets; print(secrets.token_hex(32))\" > cle.txt`, "
    "puis passez `--key-file cle.txt` ou définissez la variable d'environnement "
    f"{KEY_FILE_ENV} (chemin du fichier) ou {KEY_ENV} (la clé elle-même) ; conservez-la "
    "hors du dépôt et des données, et ne la partagez jamais"
)


def _key_error(problem: str) -> PseudonymisationKeyError:
    return PseudonymisationKeyError(f"{problem} : {_HOW_TO}.")


def _decode_text_key(text: str) -> bytes:
    """Turn the text form of a key into bytes (hex, then base64, then UTF-8 text)."""
    if len(text) % 2 == 0 and _HEX_RE.match(text):
        return bytes.fromhex(text)
    if len(text) % 4 == 0 and len(text) >= 24 and _BASE64_RE.match(text):
        altchars = b"-_" if ("-" in text or "_" in text) else None
        try:
            raw = base64.b64decode(text, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            raw = None
        # Only a canonical encoding counts as base64; anything else is a pass-phrase.
        if raw is not None and base64.b64encode(raw, altchars=altchars).decode() == text:
            return raw
    return text.encode("utf-8")


def _read_key_file(path: str | os.PathLike, origin: str) -> bytes:
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _key_error(
            f"le fichier de clé de pseudonymisation {origin}« {os.fspath(path)} » est "
            f"illisible ({reason})"
        ) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content  # binary key file (e.g. head -c 32 /dev/urandom): used as is
    return _decode_text_key(text.strip())


def _check_length(key: bytes, origin: str) -> bytes:
    if not key:
        raise _key_error(f"la clé de pseudonymisation {origin}est vide")
    if len(key) < MIN_KEY_BYTES:
        raise _key_error(
            f"la clé de pseudonymisation {origin}est trop courte ({len(key)} octets une fois "
            f"décodée, {MIN_KEY_BYTES} au minimum, 32 recommandés)"
        )
    return key


def load_key(key: bytes | str | None = None, *,
             key_file: str | os.PathLike | None = None) -> bytes:
    """Return the secret pseudonymisation key, or refuse to go on without one.

    Sources, first found wins: ``key``, ``key_file``, the environment variable
    ``FRAGILITY_PSEUDO_KEY``, the file named by ``FRAGILITY_PSEUDO_KEY_FILE``. An
    environment variable set to an empty string counts as unset.

    Text keys (argument, variable or file content, surrounding whitespace stripped) are
    decoded as:

    1. hexadecimal when made only of an even number of hex digits
       (``secrets.token_hex(32)`` -> 64 characters -> 32 bytes);
    2. base64 (standard or URL-safe alphabet) when it is a canonical encoding of at
       least 24 characters (``secrets.token_urlsafe`` output of length multiple of 4,
       ``base64.b64encode(secrets.token_bytes(32))``);
    3. otherwise the UTF-8 bytes of the text (a pass-phrase).

    A ``bytes`` argument is used as is (raw key material); so is a key file that is not
    valid UTF-8. The decoded key must be at least 16 bytes long (32 recommended).

    Parameters
    ----------
    key : bytes or str, optional
        The key itself.
    key_file : str or os.PathLike, optional
        File holding the key (keep it outside the repository and the data folder).

    Returns
    -------
    bytes
        The key, never printed nor logged.

    Raises
    ------
    PseudonymisationKeyError
        No key anywhere, an empty or too short key, or an unreadable key file. The French
        message says how to create a key; it never contains the key.
    """
    if key is not None:
        if isinstance(key, bytes | bytearray | memoryview):
            return _check_length(bytes(key), "fournie ")
        if not isinstance(key, str):
            raise PseudonymisationKeyError(
                f"la clé de pseudonymisation doit être du texte ou des octets, pas un objet "
                f"{type(key).__name__} : {_HOW_TO}."
            )
        text = key.strip()
        return _check_length(_decode_text_key(text) if text else b"", "fournie ")
    if key_file is not None:
        return _check_length(_read_key_file(key_file, ""), f"du fichier « {key_file} » ")
    env_key = os.environ.get(KEY_ENV, "").strip()
    if env_key:
        return _check_length(_decode_text_key(env_key), f"de la variable {KEY_ENV} ")
    env_file = os.environ.get(KEY_FILE_ENV, "").strip()
    if env_file:
        return _check_length(_read_key_file(env_file, f"(variable {KEY_FILE_ENV}) "),
                             f"du fichier « {env_file} » ({KEY_FILE_ENV}) ")
    raise _key_error(
        "aucune clé de pseudonymisation n'a été fournie (ni --key-file, ni variable "
        f"{KEY_ENV} ou {KEY_FILE_ENV}), l'import est refusé"
    )


def _as_key(key: bytes | str) -> bytes:
    if isinstance(key, str):
        return load_key(key)
    if not isinstance(key, bytes | bytearray | memoryview):
        raise PseudonymisationKeyError(
            f"la clé de pseudonymisation doit être des octets (voir load_key), pas un objet "
            f"{type(key).__name__} : {_HOW_TO}."
        )
    return _check_length(bytes(key), "fournie ")


def normalise_identifier(value: object) -> str | None:
    """Normalise an identifier before hashing; ``None`` for a missing or empty value.

    Unicode NFC composition, surrounding whitespace removed, case folded, inner runs of
    whitespace collapsed to one space: ``" Dupont  Jean"`` and ``"dupont jean"`` give the
    same pseudonym. Whole floats lose their ``.0`` (``12345.0`` -> ``"12345"``), so an
    identifier read as a number from a spreadsheet still matches its text form.

    Parameters
    ----------
    value : object
        Raw identifier.

    Returns
    -------
    str or None
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            value = int(value)
    text = unicodedata.normalize("NFC", str(value)).casefold()
    text = " ".join(text.split())
    return text or None


def pseudonym(values: pd.Series, key: bytes, *, scope: str = "person") -> pd.Series:
    r"""Return the keyed pseudonym of every value (26 base32 characters, or ``None``).

    ``base32(HMAC-SHA-256(key, scope + "\x1f" + normalised value))`` truncated to its
    first 130 bits. Each distinct value is hashed once, so a million rows with 100 000
    distinct identifiers take well under a second.

    Parameters
    ----------
    values : pandas.Series
        Raw identifiers (any dtype); missing or blank values give ``None``.
    key : bytes
        Secret key from :func:`load_key` (a text key is decoded by :func:`load_key`).
    scope : str, default "person"
        Domain tag: the same value gets unrelated pseudonyms in ``"person"`` and
        ``"mediator"``.

    Returns
    -------
    pandas.Series
        Object dtype, same index and name as ``values``; ``None`` where the identifier
        is missing.

    Raises
    ------
    PseudonymisationKeyError
        Missing or too short key.
    ValueError
        Empty scope, or a scope containing the separator ``\x1f``.
    """
    secret = _as_key(key)
    if not isinstance(scope, str) or not scope or _SCOPE_SEPARATOR in scope:
        raise ValueError(f"portée de pseudonymisation invalide : {scope!r}.")
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    base = hmac.new(secret, (scope + _SCOPE_SEPARATOR).encode("utf-8"), hashlib.sha256)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable cells: hash their text form
        codes, uniques = pd.factorize(values.map(str), use_na_sentinel=True)
    by_norm: dict[str, str] = {}
    table = np.empty(len(uniques) + 1, dtype=object)  # last slot: missing (code -1)
    for i, raw in enumerate(uniques):
        norm = normalise_identifier(raw)
        if norm is None:
            continue
        out = by_norm.get(norm)
        if out is None:
            mac = base.copy()
            mac.update(norm.encode("utf-8"))
            out = base64.b32encode(mac.digest()[:17]).decode("ascii")[:PSEUDONYM_LENGTH]
            by_norm[norm] = out
        table[i] = out
    return pd.Series(table[codes], index=values.index, name=values.name, dtype=object)


_STOPWORDS = {"d", "de", "du", "des", "l", "la", "le", "les"}


def _is_identifying_column(name: object) -> bool:
    text = str(name)
    words = fold(text).split()
    candidates = {text, text.strip(), "_".join(words), "".join(words),
                  "_".join(w for w in words if w not in _STOPWORDS)}
    return any(
        c in DIRECT_IDENTIFIERS or c in RAW_ID_COLUMNS or FORBIDDEN_COLUMNS_RE.match(c)
        for c in candidates
    )


def drop_direct_identifiers(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop direct-identifier columns and the raw id columns.

    A column goes when its name, as written or folded (accents, case, separators and
    articles ignored: ``"Téléphone"`` -> ``telephone``, ``"E-mail"`` -> ``email``,
    ``"Date de naissance"`` -> ``date_naissance``), is in
    :data:`~fragility.logs.schema.DIRECT_IDENTIFIERS`, matches
    :data:`~fragility.logs.schema.FORBIDDEN_COLUMNS_RE`, or is ``person_id`` /
    ``mediator_id`` (call it after :func:`pseudonymise` has derived the keys).

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table.

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        A new frame without those columns, and the names dropped (in column order).
    """
    dropped = [c for c in frame.columns if _is_identifying_column(c)]
    kept = frame.loc[:, [not _is_identifying_column(c) for c in frame.columns]].copy()
    return kept, [str(c) for c in dropped]


def pseudonymise(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Replace raw ids by keyed pseudonyms and drop every direct identifier.

    Adds ``person_key`` (from ``person_id``, scope ``"person"``) and ``mediator_key``
    (from ``mediator_id``, scope ``"mediator"``) when those columns exist, then removes
    them and every direct-identifier column (:func:`drop_direct_identifiers`).

    Parameters
    ----------
    frame : pandas.DataFrame
        Validated events, still holding ``person_id`` / ``mediator_id``.
    key : bytes
        Secret key from :func:`load_key`.

    Returns
    -------
    pandas.DataFrame
        A new frame; ``frame`` is not modified.

    Raises
    ------
    PseudonymisationKeyError
        Missing or too short key.
    """
    secret = _as_key(key)
    out = frame.copy()
    if "person_id" in frame.columns:
        out["person_key"] = pseudonym(frame["person_id"], secret, scope="person")
    if "mediator_id" in frame.columns:
        out["mediator_key"] = pseudonym(frame["mediator_id"], secret, scope="mediator")
    return drop_direct_identifiers(out)[0]
