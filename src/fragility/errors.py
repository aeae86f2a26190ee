"""Error and warning hierarchy of fragility.

Every error carries a one-sentence French message meant for the end user (analyst,
project designer). Each class also subclasses the matching built-in exception, as
scikit-learn's ``NotFittedError`` does, so that a generic ``except ValueError`` still
catches an input problem.
"""

from __future__ import annotations

import os


class FragilityError(Exception):
    """Base class of every error raised on purpose by fragility."""


class InputError(FragilityError, ValueError):
    """Bad input: a file, a line, a field or a value that cannot be used.

    Parameters
    ----------
    reason : str
        French sentence saying what is wrong and, where possible, how to fix it.
    path : str or os.PathLike, optional
        File in which the problem was found.
    line : int, optional
        1-based line number in that file (header = line 1).
    field : str, optional
        Column or field name.
    value : object, optional
        The offending value (never an identifying one).
    """

    def __init__(self, reason, *, path=None, line=None, field=None, value=None):
        self.reason = reason
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.field = field
        self.value = value
        parts = []
        if self.path is not None:
            parts.append(os.path.basename(self.path))
        if line is not None:
            parts.append(f"ligne {line}")
        if field is not None:
            parts.append(f"champ « {field} »")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix} : {reason}" if prefix else reason)


class SourceError(FragilityError, OSError):
    """Download, checksum, cache or offline failure for an open-data source."""


class CRSMismatchError(FragilityError, ValueError):
    """Missing or mismatched coordinate reference system."""


class UnknownCodeError(FragilityError, KeyError):
    """Unknown commune, EPCI, département or IRIS code (message lists close matches)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(FragilityError, ValueError):
    """Bad configuration value."""


class FragilityWarning(UserWarning):
    """A choice that stays legal but is weak (e.g. a vintage mismatch between layers)."""


class PseudonymisationKeyError(FragilityError):
    """No usable pseudonymisation key (environment variable or key file)."""


class PrivacyError(FragilityError):
    """The PII guard found a direct identifier where none may be (fails closed)."""
