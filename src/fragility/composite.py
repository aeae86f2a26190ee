"""Composite indices (isolation, non-recours risk) with their uncertainty and sensitivity.

The construction follows the steps of the OECD/JRC *Handbook on Constructing Composite
Indicators* (Nardo et al., 2008): a stated framework (``defaults/diagnostic.toml``, whose
formulas and weights come from ``logs-and-privacy.md`` §C.5), explicit treatment of missing
values, normalisation, weighting, aggregation, then a Monte-Carlo uncertainty and
sensitivity analysis whose inference is the one a reader draws from a map: *is this IRIS
in the top group?*

Definitions
-----------
Normalisation (among the *scored* IRIS only, after ``direction`` is applied, so that a high
normalised value always means more need; every normalised value lies in [0, 1]):

- ``percentile``: ``r = rank / n`` (average rank for ties), as CDC SVI and §C.5;
- ``zscore``: ``z = (x - mean) / sd``, clipped to ±3 and mapped linearly to
  ``(z + 3) / 6``. Inside ±3 sd this is an affine map of the usual z-score, so the
  arithmetic aggregate orders IRIS exactly as the handbook's sum of z-scores; only
  extreme outliers are capped;
- ``minmax``: ``(x - min) / (max - min)``.

A constant component normalises to 0.5 everywhere. Aggregation within a role group is the
weighted arithmetic mean, or the weighted geometric mean (values floored at
:data:`GEOMETRIC_FLOOR`). The ``form`` combines the groups into a value in [0, 1],
multiplied by 100:

- ``weighted``: the aggregate of the ``main`` components;
- ``gap``: ``clip((need - connection + 1) / 2, 0, 1)`` (NRI-gap);
- ``barrier``: ``eligibility ** eligibility_exponent * barrier`` (NRI-barrier).

Missing values: an IRIS is scored on the components it has, re-weighted within each role
group, if the weight present reaches ``min_components`` in every group (status
``partiel``); otherwise it gets ``donnees_insuffisantes`` and no score. A component absent
from the data (or without any value) is dropped from the index with a
:class:`~fragility.errors.FragilityWarning`.

Uncertainty: each Monte-Carlo draw samples (i) weights from a Dirichlet distribution
centred on the index's weights (concentration ``weight_concentration`` times the weight,
within each role group), (ii) a normalisation among ``normalisations``, (iii) if
``leave_one_out``, one component to remove (or none, each with the same probability; only
components of groups with two or more members can be removed). All IRIS are ranked in each
draw. Per IRIS: median rank, 90 % rank interval (5th and 95th percentiles), and ``p_top``,
the share of draws in which the IRIS is in the top group. The computation is vectorised
over IRIS and over batches of draws.

Sensitivity: a Sobol-style **first-order** share of rank variance per choice (not a full
Sobol analysis: no total-order or interaction indices). For each choice, draws are grouped
by level (normalisation, component removed, or decile class of a sampled weight); the
variance of the conditional mean rank across levels is divided by the total rank variance,
both pooled over IRIS (an average over IRIS weighted by their rank variance), with the
ANOVA small-sample correction ``SSB - (L - 1) * MSW``. The sampled weights of one group sum
to 1, so their shares overlap; ``residual`` is what first-order effects leave unexplained
(interactions, overlaps), floored at 0.
"""

from __future__ import annotations

import difflib
import functools
import math
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fragility.errors import ConfigError, FragilityWarning, InputError

#: Allowed values of the configuration choices.
NORMALISATIONS = ("percentile", "zscore", "minmax")
WEIGHTINGS = ("fixed", "equal", "pca")
AGGREGATIONS = ("arithmetic", "geometric")
FORMS = ("weighted", "gap", "barrier")
#: Role groups each form needs, in order.
ROLES = {
    "weighted": ("main",),
    "gap": ("need", "connection"),
    "barrier": ("eligibility", "barrier"),
}

#: Status of an IRIS in :attr:`IndexResult.values`, with its French wording.
STATUSES = {
    "ok": "score calculé sur toutes les composantes",
    "partiel": "score partiel, re-pondéré sur les composantes renseignées",
    "donnees_insuffisantes": "trop de composantes manquantes : pas de score",
    "trop_petit": "population sous le seuil d'éligibilité : pas de score",
    "iris_activite": "IRIS d'activité ou divers (type A ou D) : pas de score",
    "population_inconnue": "population inconnue, éligibilité invérifiable : pas de score",
}
#: Component statuses (``<key>_status``, flags joined by ``+``) that make a value count as
#: missing even if a number is present. NaN values are missing whatever their status.
MISSING_STATUSES = frozenset({
    "absent", "denominateur_nul", "secret_statistique", "absent_du_fichier",
    "millesime_different", "hors_champ_filosofi_iris", "contours_qpv_absents",
    "contours_absents", "aucun_qpv_dans_la_commune", "donnee_manquante",
})
#: Floor applied to normalised values before a geometric mean.
GEOMETRIC_FLOOR = 0.01
#: Z-scores are clipped to ±ZSCORE_CLIP before being mapped to [0, 1].
ZSCORE_CLIP = 3.0
_DROP_EPS = 1e-9  # weight factor of a left-out component (keeps IRIS scored on it alone)
_BATCH_CELLS = 4_000_000  # draws x IRIS per batch
_RANK_THREADS = 2  # batches ranked at once (memory: this many batches in flight)
_TOP_SECTIONS = ("index", "uncertainty", "eligibility")
_NORM_FR = {"percentile": "rang centile", "zscore": "score z", "minmax": "min-max"}


# --------------------------------------------------------------------------- config checks


def _fail(where: str, key: str | None, reason: str) -> ConfigError:
    place = f"{where}, clé « {key} »" if key else where
    return ConfigError(f"{place} : {reason}")


def _check_keys(data: Any, allowed: Sequence[str], where: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise _fail(where, None, f"une table est attendue (lu : {data!r}).")
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (vouliez-vous dire « {close[0]} » ?)" if close else ""
            raise _fail(where, key, f"clé inconnue{hint} ; clés permises : {', '.join(allowed)}.")
    return data


def _choice(data: Mapping, key: str, choices: Sequence[str], default: str, where: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise _fail(where, key, f"valeur « {value} » invalide ; choix : {', '.join(choices)}.")
    return value


def _number(data: Mapping, key: str, default: float, where: str, *, low: float = -math.inf,
            high: float = math.inf, low_open: bool = False, allow_inf: bool = False) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _fail(where, key, f"un nombre est attendu (lu : {value!r}).")
    value = float(value)
    if math.isinf(value) and not allow_inf:
        raise _fail(where, key, "un nombre fini est attendu.")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = "strictement supérieur à" if low_open else "au moins égal à"
        span = f"{bound} {low:g}" + (f" et au plus {high:g}" if high < math.inf else "")
        raise _fail(where, key, f"la valeur doit être {span} (lu : {value:g}).")
    return value


def _integer(data: Mapping, key: str, default: int, where: str, *, low: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(where, key, f"un entier au moins égal à {low} est attendu (lu : {value!r}).")
    return value


def _text(data: Mapping, key: str, default: str | None, where: str) -> str:
    value = data.get(key, default)
    if value is None:
        raise _fail(where, key, "clé obligatoire manquante.")
    if not isinstance(value, str):
        raise _fail(where, key, f"un texte est attendu (lu : {value!r}).")
    return value


def _bool(data: Mapping, key: str, default: bool, where: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(where, key, f"true ou false attendu (lu : {value!r}).")
    return value


def _read_toml(path: str | Path | None) -> tuple[dict, str]:
    if path is None:
        text = resources.files("fragility").joinpath("defaults/diagnostic.toml")
        return tomllib.loads(text.read_text(encoding="utf-8")), "diagnostic.toml"
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), path.name
    except FileNotFoundError:
        raise ConfigError(f"{path} : fichier de configuration introuvable.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} : TOML illisible ({exc}).") from None


# --------------------------------------------------------------------------- specifications


@dataclass(frozen=True)
class Component:
    """One component of a composite index.

    Parameters
    ----------
    key : str
        Indicator column (e.g. ``"pop80_alone_share"``).
    weight : float
        Weight, > 0; renormalised to sum to 1 within its role group by
        :meth:`IndexSpec.from_dict`.
    direction : {1, -1}
        1 if a higher value means more need, -1 otherwise.
    label_fr : str
        French label.
    role : str
        Role group: ``main`` (form ``weighted``), ``need``/``connection`` (``gap``),
        ``eligibility``/``barrier`` (``barrier``).
    """

    key: str
    weight: float
    direction: int = 1
    label_fr: str = ""
    role: str = "main"


@dataclass(frozen=True)
class IndexSpec:
    """Specification of a composite index (configuration is data).

    Build it with :meth:`from_dict` or :meth:`from_toml`, which validate and renormalise;
    the constructor does no work.

    Parameters
    ----------
    name : str
        Identifier (``isolation``, ``non_recours_gap``, ``non_recours_barrier``...).
    label_fr : str
        French title.
    components : tuple of Component
        Components, weights summing to 1 within each role group.
    normalisation : {"percentile", "zscore", "minmax"}
        See the module documentation.
    weighting : {"fixed", "equal", "pca"}
        ``fixed`` uses the components' weights; ``equal`` equal weights within each group;
        ``pca`` :func:`pca_weights` within each group.
    aggregation : {"arithmetic", "geometric"}
        Weighted mean within each role group.
    form : {"weighted", "gap", "barrier"}
        How role groups combine (module documentation).
    min_components : float
        Fraction of each group's weight that must be present for a (partial) score, in (0, 1].
    eligibility_exponent : float
        Exponent of the eligibility aggregate in the ``barrier`` form.
    reference : str
        Source of the formula.
    description : str
        French description.
    """

    name: str
    label_fr: str
    components: tuple[Component, ...]
    normalisation: str = "percentile"
    weighting: str = "fixed"
    aggregation: str = "arithmetic"
    form: str = "weighted"
    min_components: float = 0.6
    eligibility_exponent: float = 0.5
    reference: str = ""
    description: str = ""

    _KEYS = ("name", "label_fr", "normalisation", "weighting", "aggregation", "form",
             "min_components", "eligibility_exponent", "reference", "description", "components")
    _COMPONENT_KEYS = ("key", "weight", "direction", "label_fr", "role")

    @classmethod
    def from_dict(cls, data: Mapping, name: str | None = None, *, where: str = "") -> IndexSpec:
        """Validate a mapping (one ``[index.<name>]`` TOML table) and build the spec.

        Parameters
        ----------
        data : Mapping
            Keys as the attributes; ``components`` is a list of tables with ``key``,
            ``weight``, ``direction``, ``label_fr``, ``role``.
        name : str, optional
            Index name; defaults to ``data["name"]``.
        where : str
            Location used in error messages (file name).

        Returns
        -------
        IndexSpec

        Raises
        ------
        ConfigError
            Unknown key, invalid value, non-positive weight, missing role group...
        """
        name = name if name is not None else data.get("name") if isinstance(data, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where or 'configuration'} : nom d'indice manquant.")
        place = f"{where + ', ' if where else ''}[index.{name}]"
        _check_keys(data, cls._KEYS, place)
        form = _choice(data, "form", FORMS, "weighted", place)
        raw = data.get("components")
        if not isinstance(raw, list) or not raw:
            raise _fail(place, "components", "au moins une composante est attendue.")
        roles = ROLES[form]
        parsed: list[Component] = []
        for i, item in enumerate(raw, start=1):
            named = item.get("key") if isinstance(item, Mapping) else None
            cplace = f"{place} composante {i}" + (f" ({named})" if isinstance(named, str) else "")
            _check_keys(item, cls._COMPONENT_KEYS, cplace)
            key = _text(item, "key", None, cplace)
            if not key:
                raise _fail(cplace, "key", "clé d'indicateur vide.")
            if any(c.key == key for c in parsed):
                raise _fail(cplace, "key", "composante en double.")
            weight = _number(item, "weight", 1.0, cplace, low=0.0, low_open=True)
            direction = item.get("direction", 1)
            if isinstance(direction, bool) or direction not in (1, -1):
                raise _fail(cplace, "direction", f"1 ou -1 attendu (lu : {direction!r}).")
            if "role" not in item and len(roles) > 1:
                raise _fail(cplace, "role", f"clé obligatoire pour la forme « {form} » "
                            f"(rôles : {', '.join(roles)}).")
            role = _choice(item, "role", roles, roles[0], cplace)
            parsed.append(Component(key, weight, int(direction),
                                    _text(item, "label_fr", "", cplace), role))
        totals = {}
        for role in roles:
            total = sum(c.weight for c in parsed if c.role == role)
            if total == 0:
                raise _fail(place, "components", f"aucune composante de rôle « {role} ».")
            totals[role] = total
        components = tuple(replace(c, weight=c.weight / totals[c.role]) for c in parsed)
        return cls(
            name=name,
            label_fr=_text(data, "label_fr", name, place),
            components=components,
            normalisation=_choice(data, "normalisation", NORMALISATIONS, "percentile", place),
            weighting=_choice(data, "weighting", WEIGHTINGS, "fixed", place),
            aggregation=_choice(data, "aggregation", AGGREGATIONS, "arithmetic", place),
            form=form,
            min_components=_number(data, "min_components", 0.6, place, low=0.0, high=1.0,
                                   low_open=True),
            eligibility_exponent=_number(data, "eligibility_exponent", 0.5, place, low=0.0,
                                         low_open=True),
            reference=_text(data, "reference", "", place),
            description=_text(data, "description", "", place),
        )

    @classmethod
    def from_toml(cls, path: str | Path | None, name: str) -> IndexSpec:
        """Read ``[index.<name>]`` from a TOML file (``None``: the packaged defaults).

        Raises
        ------
        ConfigError
            Unreadable file, missing index, or any :meth:`from_dict` error.
        """
        config = load_config(path)
        if name not in config.indices:
            raise ConfigError(f"{config.source} : indice « {name} » absent ; indices définis : "
                              f"{', '.join(config.indices)}.")
        return config.indices[name]

    def to_dict(self) -> dict:
        """Plain mapping accepted by :meth:`from_dict` (for ``manifest.json``)."""
        out = {k: getattr(self, k) for k in self._KEYS if k != "components"}
        out["components"] = [
            {"key": c.key, "weight": c.weight, "direction": c.direction, "label_fr": c.label_fr,
             "role": c.role} for c in self.components
        ]
        return out

    def label_of(self, key: str) -> str:
        """French label of a component (its key if it has none)."""
        return next((c.label_fr or c.key for c in self.components if c.key == key), key)


@dataclass(frozen=True)
class UncertaintyConfig:
    """Monte-Carlo settings (``[uncertainty]``); see the packaged TOML for each key."""

    draws: int = 1000
    weight_concentration: float = 20.0
    normalisations: tuple[str, ...] = NORMALISATIONS
    leave_one_out: bool = True
    top_share: float = 0.2
    interval: float = 0.9
    robust_share: float = 0.9
    some_share: float = 0.1
    weight_bins: int = 10
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "") -> UncertaintyConfig:
        """Validate ``[uncertainty]``; unknown keys or invalid values raise ConfigError."""
        place = f"{where + ', ' if where else ''}[uncertainty]"
        _check_keys(data, tuple(cls.__dataclass_fields__), place)
        norms = data.get("normalisations", list(NORMALISATIONS))
        if not isinstance(norms, list) or not norms or any(n not in NORMALISATIONS for n in norms):
            raise _fail(place, "normalisations", "liste non vide parmi "
                        f"{', '.join(NORMALISATIONS)} attendue (lu : {norms!r}).")
        robust = _number(data, "robust_share", 0.9, place, low=0.0, high=1.0, low_open=True)
        some = _number(data, "some_share", 0.1, place, low=0.0, high=1.0, low_open=True)
        if some > robust:
            raise _fail(place, "some_share", "doit être inférieur ou égal à robust_share.")
        return cls(
            draws=_integer(data, "draws", 1000, place),
            weight_concentration=_number(data, "weight_concentration", 20.0, place, low=0.0,
                                         low_open=True, allow_inf=True),
            normalisations=tuple(dict.fromkeys(norms)),
            leave_one_out=_bool(data, "leave_one_out", True, place),
            top_share=_number(data, "top_share", 0.2, place, low=0.0, high=1.0, low_open=True),
            interval=_number(data, "interval", 0.9, place, low=0.0, high=1.0, low_open=True),
            robust_share=robust,
            some_share=some,
            weight_bins=_integer(data, "weight_bins", 10, place, low=2),
            seed=_integer(data, "seed", 0, place),
        )


@dataclass(frozen=True)
class EligibilityConfig:
    """Which IRIS may be scored (``[eligibility]``)."""

    min_population: float = 200
    excluded_types: tuple[str, ...] = ("A", "D")

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "") -> EligibilityConfig:
        """Validate ``[eligibility]``; unknown keys or invalid values raise ConfigError."""
        place = f"{where + ', ' if where else ''}[eligibility]"
        _check_keys(data, tuple(cls.__dataclass_fields__), place)
        types = data.get("excluded_types", ["A", "D"])
        if not isinstance(types, list) or any(not isinstance(t, str) for t in types):
            raise _fail(place, "excluded_types",
                        f"liste de types d'IRIS attendue (lu : {types!r}).")
        return cls(min_population=_number(data, "min_population", 200, place, low=0.0),
                   excluded_types=tuple(t.upper() for t in types))


@dataclass(frozen=True)
class CompositeConfig:
    """The composite-index part of the diagnostic configuration.

    Attributes
    ----------
    indices : dict of str to IndexSpec
        ``[index.<name>]`` tables, in file order.
    uncertainty : UncertaintyConfig
    eligibility : EligibilityConfig
    source : str
        File the configuration was read from.
    """

    indices: Mapping[str, IndexSpec]
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    eligibility: EligibilityConfig = EligibilityConfig()
    source: str = ""

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "configuration") -> CompositeConfig:
        """Validate a whole TOML document.

        Top-level tables other than ``index``, ``uncertainty`` and ``eligibility`` belong to
        other parts of the diagnostic and are left alone, unless their name is a likely typo
        of one of these three (then ConfigError).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} : une table TOML est attendue.")
        for key in data:
            close = difflib.get_close_matches(str(key), _TOP_SECTIONS, n=1, cutoff=0.75)
            if key not in _TOP_SECTIONS and close:
                raise _fail(where, key, f"section inconnue (vouliez-vous dire « {close[0]} » ?).")
        tables = data.get("index")
        if not isinstance(tables, Mapping) or not tables:
            raise _fail(where, "index", "aucun indice défini (tables [index.<nom>]).")
        indices = {name: IndexSpec.from_dict(table, name, where=where)
                   for name, table in tables.items()}
        return cls(
            indices=indices,
            uncertainty=UncertaintyConfig.from_dict(data.get("uncertainty", {}), where=where),
            eligibility=EligibilityConfig.from_dict(data.get("eligibility", {}), where=where),
            source=where,
        )

    def to_dict(self) -> dict:
        """Plain mapping (for ``manifest.json``), accepted by :meth:`from_dict`."""
        unc = {k: getattr(self.uncertainty, k) for k in self.uncertainty.__dataclass_fields__}
        unc["normalisations"] = list(unc["normalisations"])
        return {"index": {n: {k: v for k, v in s.to_dict().items() if k != "name"}
                          for n, s in self.indices.items()},
                "uncertainty": unc,
                "eligibility": {"min_population": self.eligibility.min_population,
                                "excluded_types": list(self.eligibility.excluded_types)}}


@functools.lru_cache(maxsize=1)
def _default_config() -> CompositeConfig:
    data, name = _read_toml(None)
    return CompositeConfig.from_dict(data, where=name)


def load_config(path: str | Path | None = None) -> CompositeConfig:
    """Read the composite configuration: the packaged ``defaults/diagnostic.toml`` or a file.

    Parameters
    ----------
    path : str or Path, optional
        User TOML file; ``None`` reads the packaged defaults.

    Returns
    -------
    CompositeConfig

    Raises
    ------
    ConfigError
        Unreadable file, unknown key, invalid value (the message names the key, in French).

    Examples
    --------
    >>> from fragility.composite import load_config
    >>> sorted(load_config().indices)
    ['isolation', 'non_recours_barrier', 'non_recours_gap']
    """
    if path is None:
        return _default_config()
    data, name = _read_toml(path)
    return CompositeConfig.from_dict(data, where=name)


def load_specs(path: str | Path | None = None) -> dict[str, IndexSpec]:
    """Index specifications of a configuration file (``None``: packaged defaults).

    Examples
    --------
    >>> from fragility.composite import load_specs
    >>> [round(c.weight, 2) for c in load_specs()["isolation"].components]
    [0.3, 0.15, 0.15, 0.15, 0.15, 0.1]
    """
    return dict(load_config(path).indices)


# --------------------------------------------------------------------------- computation


def pca_weights(normalised: pd.DataFrame) -> pd.Series:
    """Weights from the first principal component of standardised components.

    Rows with a missing value are ignored; columns are standardised (correlation PCA, as
    FDep); the weights are the absolute loadings of the first component, summing to 1.
    scikit-learn's ``PCA`` is called with ``svd_solver="full"`` and ``random_state=0``.

    Parameters
    ----------
    normalised : pandas.DataFrame
        One column per component.

    Returns
    -------
    pandas.Series
        Weight per column, named ``weight``.

    Raises
    ------
    InputError
        Fewer than two complete rows.

    Examples
    --------
    >>> import pandas as pd
    >>> w = pca_weights(pd.DataFrame({"a": [0, 1, 2, 3], "b": [0, 2, 4, 7], "c": [1, 0, 1, 0]}))
    >>> bool(w["a"] > w["c"])
    True
    """
    from sklearn.decomposition import PCA

    data = normalised.dropna()
    columns = normalised.columns
    if len(columns) == 1:
        return pd.Series(1.0, index=columns, name="weight")
    if len(data) < 2:
        raise InputError("pas assez d'IRIS complets (au moins 2) pour une pondération par ACP.")
    values = data.to_numpy(dtype=float)
    sd = values.std(axis=0)
    values = (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    pca = PCA(n_components=1, svd_solver="full", random_state=0).fit(values)
    loadings = np.abs(pca.components_[0])
    if not np.isfinite(loadings).all() or loadings.sum() == 0:
        loadings = np.ones(len(columns))
    return pd.Series(loadings / loadings.sum(), index=columns, name="weight")


def _normalise(x: np.ndarray, present: np.ndarray, method: str) -> np.ndarray:
    """Normalise each column of ``x`` (NaN = missing) to [0, 1]; missing values become 0."""
    out = np.zeros_like(x)
    for j in range(x.shape[1]):
        col, ok = x[:, j], present[:, j]
        vals = col[ok]
        if vals.size == 0:
            continue
        if method == "percentile":
            res = pd.Series(vals).rank(method="average").to_numpy() / vals.size
        elif method == "zscore":
            sd = vals.std()
            z = (vals - vals.mean()) / sd if sd > 0 else np.zeros_like(vals)
            res = (np.clip(z, -ZSCORE_CLIP, ZSCORE_CLIP) + ZSCORE_CLIP) / (2 * ZSCORE_CLIP)
        else:
            span = vals.max() - vals.min()
            res = (vals - vals.min()) / span if span > 0 else np.full_like(vals, 0.5)
        out[ok, j] = res
    return out


def _aggregate(values: np.ndarray, present: np.ndarray, weights: np.ndarray,
               groups: list[np.ndarray], spec: IndexSpec) -> np.ndarray:
    """Index (0-100) for each row of ``weights`` (draws) and each IRIS: shape (draws, n)."""
    if spec.aggregation == "geometric":
        values = np.log(np.maximum(values, GEOMETRIC_FLOOR)) * present
    mask = present.astype(float)
    parts = []
    for idx in groups:
        w = weights[:, idx].T  # (k_g, draws)
        part = (values[:, idx] @ w) / (mask[:, idx] @ w)  # (n, draws)
        parts.append(np.exp(part) if spec.aggregation == "geometric" else part)
    if spec.form == "gap":
        out = np.clip((parts[0] - parts[1] + 1) / 2, 0, 1)
    elif spec.form == "barrier":
        out = parts[0] ** spec.eligibility_exponent * parts[1]
    else:
        out = parts[0]
    return 100 * out.T


def _min_ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score (0-100) along the last axis; ties share the smallest rank.

    Each score is quantised to 62 - b bits (b bits hold the column number; 1.4e-12 point
    resolution for 50,000 IRIS) and packed with its column into one int64 key: one
    vectorised integer sort then gives both the order and the tie groups, about twice as
    fast as ``argsort`` plus a gather.
    """
    scores = np.atleast_2d(scores)
    rows, n = scores.shape
    bits = max(1, (n - 1).bit_length())
    scale = 2.0 ** (62 - bits) / 100.0  # one spare bit: no overflow after rounding
    keys = np.rint((100.0 - np.clip(scores, 0.0, 100.0)) * scale).astype(np.int64)
    keys <<= bits
    keys |= np.arange(n, dtype=np.int64)
    keys.sort(axis=-1)
    order = keys & ((1 << bits) - 1)
    keys >>= bits  # quantised scores, ascending = best first
    start = np.ones((rows, n), dtype=bool)
    np.not_equal(keys[:, 1:], keys[:, :-1], out=start[:, 1:])
    if start.all():
        first = np.broadcast_to(np.arange(1, n + 1, dtype=np.int32), (rows, n))
    else:
        first = np.maximum.accumulate(np.where(start, np.arange(n, dtype=np.int32), 0), axis=-1)
        first += 1
    ranks = np.empty((rows, n), dtype=np.int32)
    np.put_along_axis(ranks, order, first, axis=-1)
    return ranks


def _first_order(centred: np.ndarray, total: float, levels: np.ndarray) -> float:
    """Pooled first-order share of variance of ``centred`` (draws, n) explained by ``levels``."""
    draws = centred.shape[0]
    between, used = 0.0, 0
    for level in np.unique(levels):
        rows = levels == level
        sums = centred[rows].sum(axis=0, dtype=np.float64)
        between += float((sums**2).sum()) / rows.sum()
        used += 1
    if used < 2 or total <= 0 or draws <= used:
        return 0.0
    corrected = between - (used - 1) * (total - between) / (draws - used)
    return float(np.clip(corrected / total, 0.0, 1.0))


def _as_float(values: pd.Series, name: str, *, coerce: bool = False) -> np.ndarray:
    """Float array (NaN for missing, nullable dtypes included); InputError if not numeric."""
    try:
        numeric = pd.to_numeric(values, errors="coerce" if coerce else "raise")
        return np.asarray(numeric.astype("Float64").to_numpy(dtype=float, na_value=np.nan))
    except (ValueError, TypeError):
        raise InputError("valeurs non numériques.", field=name) from None


def _pct(share: float) -> str:
    """0.2 -> '20 %' (French spacing)."""
    return f"{round(100 * share)} %"


def _column(frame: pd.DataFrame, name: str, given: Any, n: int) -> np.ndarray | None:
    if given is None:
        return frame[name].to_numpy() if name in frame.columns else None
    if isinstance(given, pd.Series):
        return given.reindex(frame.index).to_numpy()
    arr = np.asarray(given)
    if arr.shape != (n,):
        raise InputError(f"{n} valeurs attendues, une par IRIS (lu : forme {arr.shape}).",
                         field=name)
    return arr


@dataclass(frozen=True)
class IndexResult:
    """Result of :func:`compute_index`.

    Attributes
    ----------
    spec : IndexSpec
        The specification as applied (components dropped from the data removed, weights
        renormalised; with ``weighting="pca"`` or ``"equal"``, the weights used).
    values : pandas.DataFrame
        Indexed like the input. ``index`` (0-100, higher = more need; NaN when not
        scored), ``rank`` (1 = most in need, ties share the best rank), ``rank_median``,
        ``rank_low``, ``rank_high`` (median and bounds of the ``interval`` rank interval,
        by default 5th and 95th percentiles, observed ranks), ``p_top`` (share of draws in
        which the IRIS is in the top group), ``robust_top`` (``p_top >= robust_share``),
        ``top_some_choices`` (``some_share <= p_top < robust_share``), ``status`` (a key
        of :data:`STATUSES`), ``components_used`` and ``components_missing``
        (``;``-separated keys, missing ones with their status), ``component_flags``
        (used components whose ``<key>_status`` is not ``ok``, as ``key:status``).
    components : pandas.DataFrame
        Normalised component values (index normalisation, direction applied, in [0, 1])
        for the scored IRIS; NaN elsewhere.
    weights : pandas.Series
        Weight of each component within its role group.
    sensitivity : pandas.DataFrame
        Index ``choice`` (``normalisation``, ``leave_one_out``, ``weight:<key>``,
        ``residual``); columns ``share`` (first-order share of rank variance, in [0, 1])
        and ``label_fr``. Empty when ``draws == 0``.
    dropped_components : dict of str to str
        Components of the spec dropped for the whole territory, with the reason
        (``absente_des_donnees``: no column; ``aucune_valeur``: no value for any eligible
        IRIS). Every score is then ``partiel``.
    dropped_weight : float
        Share of the spec's weight so dropped (largest over role groups), in [0, 1].
    top_size : int
        Number of IRIS in the top group (``ceil(top_share * scored IRIS)``).
    uncertainty : UncertaintyConfig
        Monte-Carlo settings used.
    seed : int or None
        Seed given (None if a Generator was passed).
    draws : int
        Number of Monte-Carlo draws.
    """

    spec: IndexSpec
    values: pd.DataFrame
    components: pd.DataFrame
    weights: pd.Series
    sensitivity: pd.DataFrame
    dropped_components: dict[str, str]
    dropped_weight: float
    top_size: int
    uncertainty: UncertaintyConfig
    seed: int | None
    draws: int

    def summary_fr(self, max_listed: int = 15) -> str:
        """Plain-French summary: who is robustly in the top group, who only under some choices.

        Parameters
        ----------
        max_listed : int
            Codes listed per group before "… et N autres".
        """
        v, unc = self.values, self.uncertainty
        scored = v["index"].notna()
        lines = [f"{self.spec.label_fr} : {int(scored.sum())} IRIS classés sur {len(v)}."]
        unscored = v.loc[~scored, "status"].value_counts()
        for status, count in unscored.items():
            lines.append(f"- {count} non classé(s) : {STATUSES.get(status, status)}.")
        if (v["status"] == "partiel").any():
            lines.append(f"- {int((v['status'] == 'partiel').sum())} classé(s) sur un score "
                         "partiel (composantes manquantes, voir components_missing).")
        for key, reason in self.dropped_components.items():
            why = "absente des données" if reason == "absente_des_donnees" else "sans aucune valeur"
            lines.append(f"- Composante écartée pour tout le territoire : {key} ({why}).")
        if self.dropped_components:
            lines.append(f"- Poids de l'indice ainsi écarté : {_pct(self.dropped_weight)} "
                         "(le reste est re-normalisé ; lire l'indice avec prudence).")
        if self.draws == 0 or not scored.any():
            lines.append("Pas d'analyse d'incertitude (aucun tirage ou aucun IRIS classé).")
            return "\n".join(lines)
        names = set(self.sensitivity.index)
        varied = [text for test, text in (
            (any(c.startswith("weight:") for c in names), "poids"),
            ("normalisation" in names, "normalisation"),
            ("leave_one_out" in names, "retrait d'une composante"),
        ) if test]
        lines.append(
            f"Groupe de tête : les {_pct(unc.top_share)} d'IRIS classés les plus exposés, soit "
            f"{self.top_size} IRIS. Incertitude : {self.draws} tirages (choix qui varient : "
            f"{', '.join(varied) or 'aucun'}), graine {self.seed}."
        )
        order = v.loc[scored].sort_values(["p_top", "rank"], ascending=[False, True])
        groups = [
            (order["robust_top"].astype(bool),
             f"Solidement dans le groupe de tête (dans au moins {_pct(unc.robust_share)} des "
             "tirages)"),
            (order["top_some_choices"].astype(bool),
             f"Dans le groupe de tête sous certains choix seulement (entre "
             f"{_pct(unc.some_share)} et {_pct(unc.robust_share)} des tirages)"),
        ]
        for mask, title in groups:
            codes = [str(c) for c in order.index[mask.to_numpy()]]
            listed = ", ".join(codes[:max_listed])
            rest = len(codes) - max_listed
            more = f" … et {rest} autre{'s' if rest > 1 else ''}" if rest > 0 else ""
            body = f" : {listed}{more}." if codes else " : aucun."
            lines.append(f"{title} — {len(codes)} IRIS{body}")
        if not self.sensitivity.empty:
            parts = [f"{row.label_fr} {_pct(row.share)}"
                     for row in self.sensitivity.sort_values("share", ascending=False)
                     .itertuples() if row.share >= 0.005]
            lines.append("Ce qui fait varier les rangs (part de variance, premier ordre) : "
                         + (" ; ".join(parts) if parts else "presque rien") + ".")
        return "\n".join(lines)


def compute_index(
    indicators: pd.DataFrame,
    spec: str | IndexSpec = "isolation",
    *,
    population: pd.Series | Sequence[float] | None = None,
    iris_type: pd.Series | Sequence[str] | None = None,
    draws: int | None = None,
    seed: int | np.random.Generator | None = None,
    config: CompositeConfig | None = None,
) -> IndexResult:
    """Compute a composite index with its rank uncertainty and sensitivity.

    Parameters
    ----------
    indicators : pandas.DataFrame
        One row per area (indexed by ``iris`` or any unique code), one column per indicator
        key, optionally ``<key>_status`` columns (``absent`` counts as missing), and
        optionally ``population`` and ``iris_type`` columns.
    spec : str or IndexSpec
        Name of an index of ``config`` or a specification.
    population, iris_type : pandas.Series or array-like, optional
        Eligibility inputs (Series are aligned on the index). Default: the columns of the
        same name in ``indicators``; without them, the corresponding rule is not applied.
    draws : int, optional
        Monte-Carlo draws (default: the configuration's, 1000); 0 skips the analysis.
    seed : int or numpy.random.Generator, optional
        Seed for ``numpy.random.default_rng`` (default: the configuration's, 0).
    config : CompositeConfig, optional
        Default: the packaged ``defaults/diagnostic.toml``.

    Returns
    -------
    IndexResult

    Raises
    ------
    ConfigError
        Unknown index name or invalid specification.
    InputError
        Duplicated index, non-numeric component, misaligned eligibility input.

    Warns
    -----
    FragilityWarning
        When a component of the spec is absent from the data (dropped), or a role group
        has no component left (nothing can be scored).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from fragility.composite import compute_index
    >>> rng = np.random.default_rng(1)
    >>> keys = ["poverty_rate", "benefit_income_share"]
    >>> frame = pd.DataFrame(rng.random((30, 2)), columns=keys)
    >>> result = compute_index(frame, "non_recours_gap", draws=200)
    >>> bool(result.values["index"].between(0, 100).all())
    True
    """
    config = config or load_config()
    if isinstance(spec, str):
        if spec not in config.indices:
            raise ConfigError(f"indice « {spec} » inconnu ; indices définis : "
                              f"{', '.join(config.indices)}.")
        spec = config.indices[spec]
    else:
        spec = IndexSpec.from_dict(spec.to_dict())  # validates and renormalises
    unc = config.uncertainty
    if draws is not None:
        draws = int(draws) if isinstance(draws, np.integer) else draws
        unc = replace(unc, draws=_integer({"draws": draws}, "draws", 0, "compute_index"))
    seed_used = None if isinstance(seed, np.random.Generator) else (
        unc.seed if seed is None else int(seed))
    rng = np.random.default_rng(seed if isinstance(seed, np.random.Generator) else seed_used)

    if not isinstance(indicators, pd.DataFrame):
        raise InputError("un DataFrame d'indicateurs (une ligne par IRIS) est attendu.")
    if not indicators.index.is_unique:
        dup = indicators.index[indicators.index.duplicated()][0]
        raise InputError(f"code en double dans l'index des indicateurs ({dup}).")
    n = len(indicators)
    status = np.full(n, "", dtype=object)

    # --- eligibility
    itype = _column(indicators, "iris_type", iris_type, n)
    if itype is not None:
        types = pd.Series(itype, dtype=object).fillna("").astype(str).str.upper().to_numpy()
        status[np.isin(types, list(config.eligibility.excluded_types))] = "iris_activite"
    pop = _column(indicators, "population", population, n)
    if pop is not None:
        popf = _as_float(pd.Series(pop, dtype=object), "population", coerce=True)
        status[(status == "") & np.isnan(popf)] = "population_inconnue"
        status[(status == "") & (popf < config.eligibility.min_population)] = "trop_petit"
    eligible = status == ""

    # --- components present in the data
    dropped: dict[str, str] = {}
    columns, masks, kept = [], [], []
    available: dict[str, np.ndarray] = {}  # key -> value present (eligible IRIS)
    for comp in spec.components:
        if comp.key not in indicators.columns:
            dropped[comp.key] = "absente_des_donnees"
            continue
        col = _as_float(indicators[comp.key], comp.key)
        ok = np.isfinite(col)
        st_col = f"{comp.key}_status"
        if st_col in indicators.columns:
            flags = indicators[st_col].astype(object).where(indicators[st_col].notna(), "")
            flags = flags.astype(str)
            lookup = {f: any(p in MISSING_STATUSES for p in f.split("+")) for f in flags.unique()}
            ok &= ~flags.map(lookup).to_numpy(dtype=bool)
        if not (ok & eligible).any():
            dropped[comp.key] = "aucune_valeur"
            continue
        columns.append(col * comp.direction)
        masks.append(ok)
        kept.append(comp)
        available[comp.key] = ok & eligible
    roles = ROLES[spec.form]
    empty_roles = [r for r in roles if not any(c.role == r for c in kept)]
    dropped_weight = max((sum(c.weight for c in spec.components
                              if c.role == r and c.key in dropped) for r in roles), default=0.0)
    if dropped:
        why = {"absente_des_donnees": "colonne absente", "aucune_valeur": "aucune valeur"}
        lost = ", ".join(f"{key} ({why[reason]})" for key, reason in dropped.items())
        warnings.warn(f"{spec.label_fr} : composante(s) écartée(s) pour tout le territoire : "
                      f"{lost}, soit {_pct(dropped_weight)} du poids ; poids re-normalisés sur "
                      "les autres, scores marqués « partiel ».", FragilityWarning, stacklevel=2)
    if empty_roles:
        warnings.warn(f"{spec.label_fr} : plus aucune composante de rôle "
                      f"« {', '.join(empty_roles)} » ; aucun IRIS ne peut être classé.",
                      FragilityWarning, stacklevel=2)
        kept = []
    if kept:
        totals = {r: sum(c.weight for c in kept if c.role == r) for r in roles}
        kept = [replace(c, weight=c.weight / totals[c.role]) for c in kept]
    k = len(kept)
    keys = [c.key for c in kept]
    x = np.column_stack(columns) if k else np.empty((n, 0))
    present = np.column_stack(masks) if k else np.zeros((n, 0), dtype=bool)
    present = present & eligible[:, None]
    groups = [np.array([j for j, c in enumerate(kept) if c.role == r]) for r in roles]
    w0 = np.array([c.weight for c in kept])

    # --- which IRIS are scored
    scored = eligible.copy()
    if k:
        for idx in groups:
            scored &= present[:, idx] @ w0[idx] >= spec.min_components - 1e-12
    else:
        scored[:] = False
    status[eligible & ~scored] = "donnees_insuffisantes"
    # a component dropped for the whole territory makes every score partial
    full = present.all(axis=1) if k and not dropped else np.zeros(n, dtype=bool)
    status[scored & full] = "ok"
    status[scored & ~full] = "partiel"

    xs, ps = x[scored], present[scored]
    ns = int(scored.sum())
    normalised = {m: _normalise(xs, ps, m)
                  for m in dict.fromkeys((spec.normalisation, *unc.normalisations))} if ns else {}

    # --- weights
    if k and spec.weighting != "fixed":
        for idx in groups:
            if spec.weighting == "equal" or len(idx) == 1:
                w0[idx] = 1.0 / len(idx)
            else:
                base = np.where(ps[:, idx], normalised[spec.normalisation][:, idx], np.nan)
                w0[idx] = pca_weights(pd.DataFrame(base, columns=[keys[j] for j in idx])
                                      ).to_numpy()
        kept = [replace(c, weight=float(w)) for c, w in zip(kept, w0, strict=True)]
    applied = replace(spec, components=tuple(kept))

    # --- point estimate
    index = np.full(n, np.nan)
    rank = pd.array([pd.NA] * n, dtype="Int64")
    if ns:
        base_scores = _aggregate(normalised[spec.normalisation], ps, w0[None, :], groups,
                                 applied)[0]
        index[scored] = base_scores
        rank[np.flatnonzero(scored)] = _min_ranks(base_scores)[0]

    # --- Monte-Carlo
    top_size = max(1, math.ceil(unc.top_share * ns)) if ns else 0
    stats = {name: np.full(n, np.nan) for name in ("rank_median", "rank_low", "rank_high",
                                                   "p_top")}
    sensitivity = pd.DataFrame({"share": pd.Series(dtype=float),
                                "label_fr": pd.Series(dtype=object)}).rename_axis("choice")
    if unc.draws and ns:
        stats_s, sensitivity = _monte_carlo(
            normalised, ps, w0, groups, applied, unc, rng, top_size)
        for name, arr in stats_s.items():
            stats[name][scored] = arr

    values = pd.DataFrame(index=indicators.index)
    values["index"] = index
    values["rank"] = rank
    for name in ("rank_median", "rank_low", "rank_high"):
        values[name] = pd.array(np.where(np.isnan(stats[name]), pd.NA, stats[name]),
                                dtype="Int64")
    values["p_top"] = stats["p_top"]
    p_top = pd.Series(stats["p_top"], index=indicators.index)
    values["robust_top"] = (p_top >= unc.robust_share).astype("boolean").mask(p_top.isna())
    values["top_some_choices"] = (
        (p_top >= unc.some_share) & (p_top < unc.robust_share)).astype("boolean").mask(p_top.isna())
    values["status"] = status.astype(str)
    values["components_used"], values["components_missing"], values["component_flags"] = (
        _component_text(indicators, spec.components, keys, available, eligible))

    comp_frame = pd.DataFrame(np.nan, index=indicators.index, columns=keys)
    if ns:
        comp_frame.loc[scored] = np.where(ps, normalised[spec.normalisation], np.nan)
    return IndexResult(
        spec=applied, values=values, components=comp_frame,
        weights=pd.Series(w0, index=keys, name="weight", dtype=float),
        sensitivity=sensitivity, dropped_components=dropped, dropped_weight=dropped_weight,
        top_size=top_size,
        uncertainty=unc, seed=seed_used, draws=unc.draws if ns else 0,
    )


def _component_text(indicators: pd.DataFrame, components: Sequence[Component],
                    kept: list[str], available: dict[str, np.ndarray],
                    eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``components_used``, ``components_missing`` and ``component_flags`` columns.

    Components dropped for the whole territory are listed as missing for every eligible
    IRIS, with the IRIS's own status when there is one. A present component of a spec
    that cannot be scored (a role group left empty) is neither used nor missing.
    """
    n = len(indicators)
    used = np.full(n, "", dtype=object)
    missing = np.full(n, "", dtype=object)
    flags = np.full(n, "", dtype=object)
    for comp in components:
        st_col = f"{comp.key}_status"
        st = (indicators[st_col].astype(object).where(indicators[st_col].notna(), "")
              .astype(str).to_numpy() if st_col in indicators.columns else np.full(n, ""))
        has = available.get(comp.key, np.zeros(n, dtype=bool))
        if comp.key not in indicators.columns:
            reason = np.full(n, "absente des données", dtype=object)
        else:
            reason = np.where((st == "") | (st == "ok"), "valeur manquante", st)
        used = np.where(has & (comp.key in kept), used + comp.key + ";", used)
        missing = np.where(eligible & ~has, missing + comp.key + " (" + reason + ");", missing)
        flagged = has & (st != "") & (st != "ok")
        flags = np.where(flagged, flags + comp.key + ":" + st + ";", flags)
    strip = np.vectorize(lambda s: s[:-1] if s.endswith(";") else s, otypes=[object])
    return tuple(strip(a) if n else a for a in (used, missing, flags))


def _monte_carlo(normalised: dict[str, np.ndarray], present: np.ndarray, w0: np.ndarray,
                 groups: list[np.ndarray], spec: IndexSpec, unc: UncertaintyConfig,
                 rng: np.random.Generator, top_size: int) -> tuple[dict, pd.DataFrame]:
    n = present.shape[0]
    draws = unc.draws
    norms = list(unc.normalisations)
    # all random choices are drawn up front, in a fixed order
    norm_of = rng.integers(len(norms), size=draws)
    weights = np.tile(w0, (draws, 1))
    sampled = []
    for idx in groups:
        if len(idx) > 1 and math.isfinite(unc.weight_concentration):
            alpha = unc.weight_concentration * np.maximum(w0[idx], 1e-3)
            weights[:, idx] = rng.dirichlet(alpha, size=draws)
            sampled.extend(idx.tolist())
    candidates = [j for idx in groups if len(idx) > 1 for j in idx] if unc.leave_one_out else []
    left_out = (rng.integers(len(candidates) + 1, size=draws) - 1 if candidates
                else np.full(draws, -1))
    effective = weights.copy()
    rows = np.flatnonzero(left_out >= 0)
    effective[rows, np.asarray(candidates, dtype=int)[left_out[rows]]] *= _DROP_EPS

    ranks = np.empty((draws, n), dtype=np.int32)

    def rank_batch(start: int) -> None:  # writes its own rows of ``ranks`` only
        stop = min(draws, start + batch)
        scores = np.empty((stop - start, n))
        for m, name in enumerate(norms):
            sel = np.flatnonzero(norm_of[start:stop] == m)
            if sel.size:
                scores[sel] = _aggregate(normalised[name], present, effective[start + sel],
                                         groups, spec)
        ranks[start:stop] = _min_ranks(scores)

    # Batches are independent (every random choice is drawn above) and NumPy releases the
    # GIL in its sorts and array loops: two threads use both cores of a laptop, with the
    # same result as one.
    batch = max(1, _BATCH_CELLS // max(n, 1))
    starts = range(0, draws, batch)
    workers = min(_RANK_THREADS, len(starts))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(rank_batch, starts))
    else:
        for start in starts:
            rank_batch(start)

    tail = (1 - unc.interval) / 2
    # inverted CDF: each quantile is an observed rank, the k-th smallest of the draws
    kth = {name: min(draws - 1, max(0, math.ceil(q * draws - 1e-9) - 1))
           for name, q in (("rank_median", 0.5), ("rank_low", tail), ("rank_high", 1 - tail))}
    ordered = np.partition(ranks.T, sorted(set(kth.values())), axis=1)  # (n, draws)
    stats = {name: ordered[:, k].astype(float) for name, k in kth.items()}
    stats["p_top"] = (ranks <= top_size).mean(axis=0)

    # first-order sensitivity, pooled over IRIS
    centred = ranks.astype(np.float32)
    centred -= ranks.mean(axis=0, dtype=np.float64).astype(np.float32)
    total = float(np.einsum("ij,ij->", centred, centred, dtype=np.float64))
    factors: list[tuple[str, str, np.ndarray]] = []
    if len(norms) > 1:
        factors.append(("normalisation", "normalisation", norm_of))
    if candidates:
        factors.append(("leave_one_out", "retrait d'une composante", left_out))
    edges_q = np.linspace(0, 1, unc.weight_bins + 1)[1:-1]
    for j in sampled:
        edges = np.quantile(weights[:, j], edges_q)
        factors.append((f"weight:{spec.components[j].key}",
                        f"poids « {spec.components[j].label_fr or spec.components[j].key} »",
                        np.searchsorted(edges, weights[:, j], side="right")))
    shares = {name: (label, _first_order(centred, total, levels))
              for name, label, levels in factors}
    explained = sum(s for _, s in shares.values())
    shares["residual"] = ("reste (interactions, recouvrements)", max(0.0, 1.0 - explained)
                          if total > 0 else 0.0)
    sensitivity = pd.DataFrame(
        {"share": [s for _, s in shares.values()], "label_fr": [lb for lb, _ in shares.values()]},
        index=pd.Index(list(shares), name="choice"))
    return stats, sensitivity


#: Columns of an :class:`IndexResult` joined to the IRIS frame, prefixed by the index name.
INDEX_COLUMNS = ["index", "rank", "rank_low", "rank_high", "p_top", "robust_top", "status"]


def territory_indices(table, *, seed: int = 0, config: CompositeConfig | None = None):
    """Base indicators and every configured composite index of an IRIS table.

    Parameters
    ----------
    table : fragility.iris_table.IrisTable
        The territory's IRIS table.
    seed : int, default 0
        Seed of the Monte-Carlo draws.
    config : CompositeConfig, optional
        Defaults to :func:`load_config` (``defaults/diagnostic.toml``).

    Returns
    -------
    frame : pandas.DataFrame
        Indicators (with their ``_status`` and ``_denominator`` columns) and, per index
        ``name``, the columns ``{name}_index``, ``{name}_rank``... (:data:`INDEX_COLUMNS`).
    results : dict of IndexResult
    """
    import warnings

    from fragility.indicators import compute_indicators

    gdf = table.gdf
    indicators = compute_indicators(table)
    config = config or load_config()
    results, parts = {}, [indicators]
    for name in config.indices:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FragilityWarning)  # reported in the status
            result = compute_index(indicators, name, population=gdf["population"],
                                   iris_type=gdf["iris_type"], seed=seed, config=config)
        results[name] = result
        parts.append(result.values[INDEX_COLUMNS].add_prefix(f"{name}_"))
    return pd.concat(parts, axis=1), results
