"""Shared conventions: CRS, code formats, index name, and the checks that enforce them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fragility.errors import CRSMismatchError, InputError

#: Lambert-93, the computation CRS of metropolitan France.
CRS_L93 = "EPSG:2154"
#: WGS84 longitude/latitude, used only at the web-map boundary.
CRS_WGS84 = "EPSG:4326"
#: IGN delivery CRS of the overseas départements (computation CRS there).
CRS_DROM = {
    "971": "EPSG:5490",  # Guadeloupe, RGAF09 / UTM 20N
    "972": "EPSG:5490",  # Martinique
    "973": "EPSG:2972",  # Guyane, RGFG95 / UTM 22N
    "974": "EPSG:2975",  # La Réunion, RGR92 / UTM 40S
    "976": "EPSG:4471",  # Mayotte, RGM04 / UTM 38S
}

#: Name of the index of every IRIS-level frame.
IRIS_INDEX = "iris"

IRIS_RE = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")
COMMUNE_RE = re.compile(r"^(?:\d{2}|2[AB])\d{3}$")
EPCI_RE = re.compile(r"^\d{9}$")
DEPARTEMENT_RE = re.compile(r"^(?:\d{2}|2[AB]|97\d)$")
QPV_RE = re.compile(r"^Q[NP]\d{6}[A-Z]?$|^QP\d{3}\d{3}$|^QN\d{3}\d{2}[MN]$")


def departement_of(commune: str) -> str:
    """Return the département code of a commune code (3 characters overseas).

    Parameters
    ----------
    commune : str
        Five-character commune code (``"21231"``, ``"2A004"``, ``"97411"``).

    Returns
    -------
    str
        ``"21"``, ``"2A"``, ``"974"``...
    """
    return commune[:3] if commune.startswith("97") else commune[:2]


def crs_for(departement: str) -> str:
    """Return the projected computation CRS of a département.

    Parameters
    ----------
    departement : str
        Département code.

    Returns
    -------
    str
        An ``"EPSG:nnnn"`` string: Lambert-93 in metropolitan France, the IGN UTM
        projection overseas.
    """
    return CRS_DROM.get(departement, CRS_L93)


def normalise_code(value: object, width: int) -> str | None:
    """Turn a code read from a file into a string of ``width`` characters.

    Numbers that lost their leading zeros (``1001`` read from a spreadsheet) get them
    back; Corsican codes keep their letter. Missing values give ``None``.

    Parameters
    ----------
    value : object
        Raw value.
    width : int
        Expected width (9 for IRIS, 5 for communes).

    Returns
    -------
    str or None
        The normalised code, or ``None`` when the value is missing.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if text.isdigit() and len(text) < width:
        text = text.zfill(width)
    return text.upper()


def require_crs(gdf, expected: str | None = None, *, what: str = "la couche") -> None:
    """Raise if a GeoDataFrame has no CRS or not the expected one.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Frame to check.
    expected : str, optional
        CRS it must have (e.g. ``"EPSG:2154"``).
    what : str
        French description used in the message.

    Raises
    ------
    CRSMismatchError
        With both CRSs and the fix (``to_crs``).
    """
    if gdf.crs is None:
        raise CRSMismatchError(
            f"{what} n'a pas de système de coordonnées (CRS) : déclarez-le avec set_crs()."
        )
    if expected is not None and not gdf.crs.equals(expected):
        raise CRSMismatchError(
            f"{what} est en {gdf.crs.to_string()} alors que {expected} est attendu : "
            f"reprojetez avec to_crs('{expected}')."
        )


def check_iris_frame(frame: pd.DataFrame, *, what: str = "la table IRIS") -> None:
    """Check the IRIS-frame contract: unique string index named ``iris`` of valid codes.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to check.
    what : str
        French description used in the message.

    Raises
    ------
    InputError
        When the index is misnamed, duplicated or holds a malformed code.
    """
    index = frame.index
    if index.name != IRIS_INDEX:
        raise InputError(f"{what} doit être indexée par « iris » (index actuel : {index.name!r}).")
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise InputError(f"{what} contient des codes IRIS en double : {', '.join(map(str, dup))}.")
    bad = [c for c in index if not isinstance(c, str) or not IRIS_RE.match(c)]
    if bad:
        raise InputError(
            f"{what} contient des codes IRIS mal formés (9 caractères attendus) : "
            f"{', '.join(map(str, bad[:5]))}."
        )


def isin(values: pd.Series | pd.Index, candidates) -> np.ndarray:
    """Which of ``values`` are among ``candidates``: ``values.isin(candidates)``, fast.

    pandas 3.1 builds the lookup set of a pyarrow string column one pyarrow scalar at a
    time, whatever the length of ``values``: slow against the IRIS codes of all France.
    This hands the whole set to
    ``pyarrow.compute.is_in`` at once; other dtypes go to pandas unchanged.

    Parameters
    ----------
    values : pandas.Series or pandas.Index
        Codes (or any values) to test.
    candidates : iterable
        Allowed values (list, set, Index, Series, array).

    Returns
    -------
    numpy.ndarray
        Boolean mask, aligned on ``values`` by position.
    """
    array = values.array
    if not isinstance(array, pd.arrays.ArrowStringArray):
        return np.asarray(values.isin(candidates), dtype=bool)
    if isinstance(candidates, pd.Series | pd.Index):
        candidates = candidates.to_numpy(dtype=object)
    items = list(candidates)
    strings = [item for item in items if isinstance(item, str)]
    others = (item for item in items if not isinstance(item, str))
    if any(pd.api.types.is_scalar(item) and pd.isna(item) for item in others):
        strings.append(None)  # a missing candidate matches the missing values, as in pandas
    chunked = array.__arrow_array__()
    found = pc.is_in(chunked, value_set=pa.array(strings, type=chunked.type))
    return np.asarray(found.fill_null(False), dtype=bool)
