"""Typology of IRIS: named profiles from a k-means clustering of standardised indicators.

:class:`Typology` groups IRIS into a handful of profiles with a scikit-learn pipeline
(median imputation, standardisation, k-means), measures how stable the grouping is when
k-means is re-run with other seeds, and names and describes each profile from its
centroid, in French. :func:`choose_n_profiles` helps pick the number of profiles.

Method
------
1. **Columns**: ``columns`` (default: those of :data:`DEFAULT_COLUMNS` present in the
   frame). A column without any value is dropped with a
   :class:`~fragility.errors.FragilityWarning`.
2. **Unclassified IRIS**: an IRIS missing more than half of the columns is not classified;
   its label is :data:`UNCLASSIFIED` and the reason is in ``unclassified_``. It never gets a
   made-up profile.
3. **Imputation**: the remaining gaps are filled with the column median over the
   classified IRIS (``SimpleImputer(strategy="median")``); ``imputed_`` counts the imputed
   values of each IRIS.
4. **Standardisation** (``StandardScaler``): each indicator becomes a z-score over the
   classified IRIS, so the territory mean is 0 and a centroid reads in standard deviations
   (σ) from it.
5. **k-means** (``KMeans(random_state=seed, n_init=n_init)``). Profiles are numbered by
   decreasing size, so the output does not depend on k-means' arbitrary label order.
6. **Stability**: k-means is re-fitted ``reseeds`` times with other seeds (drawn with
   ``numpy.random.default_rng(seed)``). The adjusted Rand index (ARI) of each re-fit against
   the main fit is reported, and, after matching the re-fit's labels to the profiles with
   the Hungarian algorithm (``scipy.optimize.linear_sum_assignment`` on the contingency
   table), the share of re-fits in which each IRIS stays in its profile.

k-means runs on one OpenMP thread when there are at most :data:`SINGLE_THREAD_MAX_IRIS`
classified IRIS: scikit-learn's Lloyd iterations work on chunks of 256 samples, so a
smaller frame is a single chunk and extra threads only add synchronisation, which gets
very slow (five times or more) on a busy machine. The Lloyd arithmetic is the same, so
labels, centroids and stability do not change; only a sum reduced across threads, such as
the inertia reported by :func:`choose_n_profiles`, may differ in its last digits (about
1e-13 relative), and on one thread it no longer depends on the machine's number of cores.

Naming rules
------------
Each profile's z-score centroid is scored against every rule of :data:`PROFILE_RULES`:
the weighted mean of ``direction × z`` over the rule's indicators present in the data (a
rule needs at least half of its weight present). The profile takes the name of the
best-scoring rule whose score reaches :data:`NAME_THRESHOLD` (0.5 σ), otherwise
:data:`INTERMEDIATE`. The rules, in words:

- **isolement âgé**: many people aged 75+ and 80+, many 80+ and 55-79 living alone; in
  support (half weight), few households without a car and far from France services
  (car dependence, low density);
- **précarité urbaine (QPV)**: high poverty rate, single-parent families, social housing
  and QPV share; in support, benefit income, unemployment and a low median income;
- **petits ménages urbains**: many one-person households, few owners; in support, few
  people aged 75+ and 80+ (a young population) and many households without a car;
- **aisé, propriétaire**: high median income and owner share; in support, low poverty rate
  and low benefit income.

Names are unique: when two profiles get the same name, the higher-scoring one keeps it
and the others get `` (2)``, `` (3)``… The description (``profiles_["description_fr"]``)
names the (up to) :data:`DESCRIPTION_TERMS` indicators furthest from the territory mean, at
least :data:`DESCRIPTION_THRESHOLD` σ away, e.g. "Part des 80 ans ou plus vivant seuls
élevée (+1,8 σ), part des ménages sans voiture faible (−0,9 σ)".

Examples
--------
>>> import fragility as fr
>>> from fragility.indicators import compute_indicators
>>> from fragility.typology import Typology, choose_n_profiles
>>> table = fr.build_iris_table(fr.Territory.demo())  # doctest: +SKIP
>>> indicators = compute_indicators(table)  # doctest: +SKIP
>>> choose_n_profiles(indicators)  # doctest: +SKIP
>>> typology = Typology(4, seed=0).fit(indicators)  # doctest: +SKIP
>>> typology.profiles_[["size", "description_fr"]]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragility.conventions import IRIS_INDEX, check_iris_frame
from fragility.errors import ConfigError, FragilityWarning, InputError

#: Indicators used when ``columns`` is not given (those present in the frame).
DEFAULT_COLUMNS = (
    "pop80_alone_share",
    "pop5579_alone_share",
    "one_person_households_share",
    "single_parent_share",
    "pop75_share",
    "pop80_share",
    "no_diploma_share",
    "unemployment_rate",
    "households_without_car_share",
    "owner_share",
    "social_housing_share",
    "immigrant_share",
    "poverty_rate",
    "median_income_eur",
    "benefit_income_share",
    "qpv_share",
    "fs_distance_m",
)
#: Label of an IRIS that is not classified (too many missing indicators).
UNCLASSIFIED = "non classé"
#: Name of a profile that matches no rule.
INTERMEDIATE = "intermédiaire"
#: Minimum rule score (in σ) for a profile to take the rule's name.
NAME_THRESHOLD = 0.5
#: Minimum distance (in σ) from the territory mean for an indicator to be described.
DESCRIPTION_THRESHOLD = 0.5
#: Maximum number of indicators named in a profile description.
DESCRIPTION_TERMS = 3
#: Sample size above which the silhouette is estimated on a random sample.
SILHOUETTE_SAMPLE = 5000
#: Up to this many classified IRIS (scikit-learn's chunk of samples), k-means runs on a
#: single OpenMP thread: same labels, without the threads' synchronisation cost.
SINGLE_THREAD_MAX_IRIS = 256

#: Short French label of each indicator and whether it is feminine (for the adjective).
LABELS_FR: dict[str, tuple[str, bool]] = {
    "pop80_alone_share": ("part des 80 ans ou plus vivant seuls", True),
    "pop5579_alone_share": ("part des 55-79 ans vivant seuls", True),
    "one_person_households_share": ("part des ménages d'une personne", True),
    "single_parent_share": ("part des familles monoparentales", True),
    "couples_without_children_share": ("part des couples sans enfant", True),
    "pop75_share": ("part des 75 ans ou plus", True),
    "pop80_share": ("part des 80 ans ou plus", True),
    "no_diploma_share": ("part des sans diplôme", True),
    "unemployment_rate": ("taux de chômage", False),
    "households_without_car_share": ("part des ménages sans voiture", True),
    "owner_share": ("part des propriétaires", True),
    "social_housing_share": ("part des locataires HLM", True),
    "immigrant_share": ("part des immigrés", True),
    "poverty_rate": ("taux de pauvreté", False),
    "median_income_eur": ("niveau de vie médian", False),
    "benefit_income_share": ("part des minima sociaux et aides au logement dans le revenu", True),
    "qpv_share": ("part en quartier prioritaire", True),
    "fs_distance_m": ("distance à France services", True),
}


@dataclass(frozen=True)
class ProfileRule:
    """One naming rule: a French profile name and the centroid pattern it stands for.

    Parameters
    ----------
    name : str
        French profile name.
    terms : tuple of (str, int, float)
        ``(indicator, direction, weight)``: ``direction`` is ``+1`` when the profile has a
        high value of the indicator, ``-1`` when a low one.
    """

    name: str
    terms: tuple[tuple[str, int, float], ...]

    def score(self, z: pd.Series) -> float:
        """Weighted mean of ``direction × z`` over the terms present in ``z``.

        Parameters
        ----------
        z : pandas.Series
            Centroid in z-scores, indexed by indicator.

        Returns
        -------
        float
            The score in σ, or NaN when less than half of the rule's weight is present.
        """
        total = sum(w for _, _, w in self.terms)
        present = [(d, w, z[c]) for c, d, w in self.terms if c in z.index and pd.notna(z[c])]
        weight = sum(w for _, w, _ in present)
        if weight < total / 2:
            return math.nan
        return float(sum(d * w * v for d, w, v in present) / weight)


#: The naming rules, checked in this order (ties go to the first).
PROFILE_RULES = (
    ProfileRule(
        "isolement âgé",
        (
            ("pop80_share", 1, 1.0),
            ("pop75_share", 1, 1.0),
            ("pop80_alone_share", 1, 1.0),
            ("pop5579_alone_share", 1, 1.0),
            ("households_without_car_share", -1, 0.5),
            ("fs_distance_m", 1, 0.5),
        ),
    ),
    ProfileRule(
        "précarité urbaine (QPV)",
        (
            ("poverty_rate", 1, 1.0),
            ("single_parent_share", 1, 1.0),
            ("social_housing_share", 1, 1.0),
            ("qpv_share", 1, 1.0),
            ("benefit_income_share", 1, 0.5),
            ("unemployment_rate", 1, 0.5),
            ("median_income_eur", -1, 0.5),
        ),
    ),
    ProfileRule(
        "petits ménages urbains",
        (
            ("one_person_households_share", 1, 1.0),
            ("owner_share", -1, 1.0),
            ("pop75_share", -1, 0.5),
            ("pop80_share", -1, 0.5),
            ("households_without_car_share", 1, 0.5),
        ),
    ),
    ProfileRule(
        "aisé, propriétaire",
        (
            ("median_income_eur", 1, 1.0),
            ("owner_share", 1, 1.0),
            ("poverty_rate", -1, 0.5),
            ("benefit_income_share", -1, 0.5),
        ),
    ),
)


@dataclass(frozen=True)
class Stability:
    """Stability of a typology under re-seeding of k-means.

    Attributes
    ----------
    ari_mean, ari_min : float
        Mean and minimum adjusted Rand index of the re-fits against the main fit (1 means
        identical partitions; NaN without re-fits).
    ari : pandas.Series
        Adjusted Rand index of each re-fit, indexed by its seed (index ``seed``).
    per_iris : pandas.Series
        Per IRIS (index ``iris``, every input IRIS), share in [0, 1] of the re-fits in which
        the IRIS stays in its profile after Hungarian label matching; NaN for an IRIS that
        is not classified.
    """

    ari_mean: float
    ari_min: float
    ari: pd.Series
    per_iris: pd.Series


class Typology:
    """Named profiles of IRIS from a k-means clustering of their standardised indicators.

    Parameters
    ----------
    n_profiles : int, default 5
        Number of profiles (k-means clusters), at least 2.
    columns : sequence of str, optional
        Indicators to cluster on (default: those of :data:`DEFAULT_COLUMNS` in the frame).
    seed : int or numpy.random.Generator, default 0
        Seed of the main k-means fit; the re-fit seeds are drawn from
        ``numpy.random.default_rng(seed)``. A generator is consumed once per ``fit``.
    n_init : int, default 20
        Number of k-means initialisations per fit (the best inertia is kept).
    reseeds : int, default 20
        Number of re-fits with other seeds for ``stability_`` (0 skips them).

    Attributes
    ----------
    labels_ : pandas.Series
        Profile name of each input IRIS (index ``iris``), :data:`UNCLASSIFIED` when not
        classified.
    centroids_ : pandas.DataFrame
        Profile × indicator means over the classified IRIS (imputed values included).
        Columns are a MultiIndex (``scale``, ``indicator``): ``centroids_["original"]`` in
        the indicators' units, ``centroids_["z"]`` in σ from the territory mean.
    profiles_ : pandas.DataFrame
        One row per profile (index ``profile``, by decreasing size): ``size`` (IRIS),
        ``share`` (of the classified IRIS), ``rule`` (matched rule name, or None),
        ``rule_score`` (σ), ``stability`` (mean of ``stability_.per_iris`` over its IRIS),
        ``description_fr``.
    stability_ : Stability
        Adjusted Rand indices of the re-fits and per-IRIS stability.
    columns_used_ : list of str
        Indicators actually clustered on.
    columns_dropped_ : dict
        Indicator -> French reason, for requested indicators left out (no value at all).
    imputed_ : pandas.Series
        Number of indicator values imputed for each input IRIS (``Int64``; missing for an
        IRIS that is not classified).
    unclassified_ : pandas.DataFrame
        The IRIS not classified (index ``iris``): ``n_missing``, ``n_indicators``,
        ``missing`` (comma-separated indicators) and ``reason_fr``.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted pipeline (``impute``, ``scale``, ``kmeans``); its k-means labels are
        numbered in k-means' own order, not the profile order.

    See Also
    --------
    choose_n_profiles : silhouette per number of profiles.

    Examples
    --------
    >>> from fragility.typology import Typology
    >>> typology = Typology(4, seed=0).fit(indicators)  # doctest: +SKIP
    >>> typology.labels_.value_counts()  # doctest: +SKIP
    >>> typology.stability_.ari_mean  # doctest: +SKIP
    """

    def __init__(self, n_profiles=5, *, columns=None, seed=0, n_init=20, reseeds=20):
        self.n_profiles = n_profiles
        self.columns = columns
        self.seed = seed
        self.n_init = n_init
        self.reseeds = reseeds

    def get_params(self) -> dict:
        """Return the parameters as a plain dict (for a run manifest)."""
        columns = None if self.columns is None else list(self.columns)
        return {
            "n_profiles": self.n_profiles,
            "columns": columns,
            "seed": self.seed,
            "n_init": self.n_init,
            "reseeds": self.reseeds,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Typology({args})"

    def fit(self, indicators: pd.DataFrame) -> Typology:
        """Cluster the IRIS, name the profiles and measure their stability.

        Parameters
        ----------
        indicators : pandas.DataFrame
            Indicators indexed by ``iris`` (e.g. from
            :func:`fragility.indicators.compute_indicators`); other columns are ignored.

        Returns
        -------
        Typology
            ``self``, fitted.

        Raises
        ------
        ConfigError
            Bad parameter (``n_profiles`` below 2 or above the number of classifiable IRIS).
        InputError
            Frame not indexed by ``iris``, unknown or non-numeric column, fewer than two
            usable indicators.

        Warns
        -----
        FragilityWarning
            When an indicator has no value at all and is dropped.
        """
        from scipy.optimize import linear_sum_assignment
        from sklearn.base import clone
        from sklearn.metrics import adjusted_rand_score

        _check_int(self.n_profiles, "n_profiles", 2)
        _check_int(self.n_init, "n_init", 1)
        _check_int(self.reseeds, "reseeds", 0)
        seed = _resolve_seed(self.seed)
        data = _prepare(indicators, self.columns)
        k = self.n_profiles
        _check_k(k, len(data.values))

        with _kmeans_threads(len(data.values)):
            self.pipeline_ = _pipeline(k, seed, self.n_init).fit(data.values.to_numpy())
            z = self.pipeline_[:-1].transform(data.values.to_numpy())
            raw = self.pipeline_.named_steps["impute"].transform(data.values.to_numpy())
            labels = _canonical_labels(self.pipeline_.named_steps["kmeans"].labels_, z, k)

            seeds = _other_seeds(seed, self.reseeds)
            ari, stays = [], np.zeros(len(labels))
            for other_seed in seeds:
                refit = (
                    clone(self.pipeline_.named_steps["kmeans"])
                    .set_params(random_state=other_seed)
                    .fit(z)
                    .labels_
                )
                ari.append(adjusted_rand_score(labels, refit))
                table = np.zeros((k, k))
                np.add.at(table, (refit, labels), 1)
                rows, cols = linear_sum_assignment(table, maximize=True)
                matched = np.empty(k, dtype=int)
                matched[rows] = cols
                stays += matched[refit] == labels

        z_centroids = pd.DataFrame(z, columns=data.columns).groupby(labels).mean()
        raw_centroids = pd.DataFrame(raw, columns=data.columns).groupby(labels).mean()
        names, rules, scores = _name_profiles(z_centroids)
        classified = data.values.index
        self.columns_used_ = list(data.columns)
        self.columns_dropped_ = data.dropped
        self.unclassified_ = data.unclassified
        self.labels_ = pd.Series(UNCLASSIFIED, index=data.index, name="profile", dtype=object)
        self.labels_.loc[classified] = [names[c] for c in labels]
        self.imputed_ = pd.Series(pd.NA, index=data.index, name="n_imputed", dtype="Int64")
        self.imputed_.loc[classified] = data.values.isna().sum(axis=1).to_numpy()
        per_iris = pd.Series(np.nan, index=data.index, name="stability")
        if seeds:
            per_iris.loc[classified] = stays / len(seeds)
        ari_series = pd.Series(ari, index=pd.Index(seeds, name="seed"), name="ari", dtype=float)
        self.stability_ = Stability(
            ari_mean=float(np.mean(ari)) if ari else math.nan,
            ari_min=float(np.min(ari)) if ari else math.nan,
            ari=ari_series,
            per_iris=per_iris,
        )
        profile_index = pd.Index(names, name="profile")
        self.centroids_ = pd.concat(
            {
                "original": raw_centroids.set_axis(profile_index),
                "z": z_centroids.set_axis(profile_index),
            },
            axis=1,
            names=["scale", "indicator"],
        )
        sizes = np.bincount(labels, minlength=k)
        stability = per_iris.loc[classified].groupby(labels).mean().reindex(range(k))
        self.profiles_ = pd.DataFrame(
            {
                "size": sizes,
                "share": sizes / sizes.sum(),
                "rule": rules,
                "rule_score": scores,
                "stability": stability.to_numpy(),
                "description_fr": [_describe(z_centroids.loc[c]) for c in range(k)],
            },
            index=profile_index,
        )
        return self

    def to_frame(self) -> pd.DataFrame:
        """Return the per-IRIS result, ready to join onto the IRIS table.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``iris``: ``profile``, ``profile_stability`` (share of re-fits in the
            same profile), ``profile_imputed`` (imputed values) and ``profile_status``
            (``ok``, ``valeurs_imputees`` or ``donnees_insuffisantes``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "labels_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("Typologie non ajustée : appelez d'abord fit(indicateurs).")
        status = pd.Series("ok", index=self.labels_.index, dtype=object)
        status[self.imputed_.fillna(0).to_numpy() > 0] = "valeurs_imputees"
        status[self.labels_ == UNCLASSIFIED] = "donnees_insuffisantes"
        return pd.DataFrame(
            {
                "profile": self.labels_,
                "profile_stability": self.stability_.per_iris,
                "profile_imputed": self.imputed_,
                "profile_status": status,
            }
        )


def choose_n_profiles(
    indicators: pd.DataFrame,
    candidates: Iterable[int] = range(3, 8),
    seed: int | np.random.Generator = 0,
    *,
    columns: Sequence[str] | None = None,
    n_init: int = 20,
) -> pd.DataFrame:
    """Compare numbers of profiles by their silhouette, to help choose ``n_profiles``.

    The data are prepared as in :meth:`Typology.fit` (unclassified IRIS left out, median
    imputation, standardisation), then k-means is fitted for each candidate.

    Parameters
    ----------
    indicators : pandas.DataFrame
        Indicators indexed by ``iris``.
    candidates : iterable of int, default range(3, 8)
        Numbers of profiles to try, each between 2 and the number of classified IRIS − 1.
    seed : int or numpy.random.Generator, default 0
        Seed of k-means and of the silhouette sample (``random_state``).
    columns : sequence of str, optional
        Indicators (default: those of :data:`DEFAULT_COLUMNS` in the frame).
    n_init : int, default 20
        k-means initialisations.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``n_profiles``: ``silhouette`` (mean silhouette in [-1, 1], higher is
        better; estimated on :data:`SILHOUETTE_SAMPLE` IRIS above that size), ``inertia``
        (within-profile sum of squares, in σ²), ``smallest_profile`` (IRIS) and ``best``
        (highest silhouette).

    Raises
    ------
    ConfigError
        No candidate, or a candidate out of range.

    Examples
    --------
    >>> from fragility.typology import choose_n_profiles
    >>> choose_n_profiles(indicators, range(3, 8), seed=0)  # doctest: +SKIP
    """
    from sklearn.metrics import silhouette_score

    _check_int(n_init, "n_init", 1)
    seed = _resolve_seed(seed)
    data = _prepare(indicators, columns)
    ks = list(candidates)
    if not ks:
        raise ConfigError("candidates est vide : donnez au moins un nombre de profils.")
    n = len(data.values)
    rows = []
    for k in ks:
        _check_k(k, n, maximum=n - 1, name="candidates")
        with _kmeans_threads(n):
            pipeline = _pipeline(k, seed, n_init).fit(data.values.to_numpy())
        z = pipeline[:-1].transform(data.values.to_numpy())
        labels = pipeline.named_steps["kmeans"].labels_
        sample = SILHOUETTE_SAMPLE if n > SILHOUETTE_SAMPLE else None
        rows.append(
            {
                "silhouette": float(
                    silhouette_score(z, labels, sample_size=sample, random_state=seed)
                ),
                "inertia": float(pipeline.named_steps["kmeans"].inertia_),
                "smallest_profile": int(np.bincount(labels, minlength=k).min()),
            }
        )
    result = pd.DataFrame(rows, index=pd.Index(ks, name="n_profiles"))
    result["best"] = result.index == result["silhouette"].idxmax()
    return result


# -- private helpers ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    index: pd.Index  # every input IRIS
    values: pd.DataFrame  # classified IRIS × used columns, NaN where missing
    columns: list[str]
    dropped: dict[str, str]
    unclassified: pd.DataFrame


def _prepare(indicators, columns) -> _Prepared:
    """Validate the frame, choose the columns and split off the unclassified IRIS."""
    if not isinstance(indicators, pd.DataFrame):
        raise InputError(
            f"indicators doit être un DataFrame indexé par « {IRIS_INDEX} » "
            f"(reçu : {type(indicators).__name__})."
        )
    check_iris_frame(indicators, what="la table des indicateurs")
    if columns is None:
        wanted = [c for c in DEFAULT_COLUMNS if c in indicators.columns]
    else:
        if isinstance(columns, str):
            raise ConfigError(
                f"columns doit être une liste de noms d'indicateurs, pas une chaîne ({columns!r})."
            )
        wanted = list(dict.fromkeys(columns))
        absent = [c for c in wanted if c not in indicators.columns]
        if absent:
            raise InputError(
                f"indicateur(s) absent(s) de la table : {', '.join(absent)}.", field=absent[0]
            )
    for col in wanted:
        if not pd.api.types.is_numeric_dtype(indicators[col]) or pd.api.types.is_bool_dtype(
            indicators[col]
        ):
            raise InputError(
                f"l'indicateur doit être numérique (type reçu : {indicators[col].dtype}).",
                field=col,
            )
    values = indicators[wanted].astype(float)
    if np.isinf(values.to_numpy()).any():
        col = values.columns[np.isinf(values.to_numpy()).any(axis=0)][0]
        raise InputError("valeur infinie : remplacez-la par NaN (valeur manquante).", field=col)
    dropped = {c: "aucune valeur dans la table" for c in wanted if values[c].isna().all()}
    if dropped:
        warnings.warn(
            f"Typologie : indicateur(s) écarté(s), sans aucune valeur : {', '.join(dropped)}.",
            FragilityWarning,
            stacklevel=3,
        )
    used = [c for c in wanted if c not in dropped]
    if len(used) < 2:
        raise InputError(
            "il faut au moins deux indicateurs renseignés pour la typologie "
            f"(trouvés : {', '.join(used) or 'aucun'})."
        )
    values = values[used]
    missing = values.isna()
    n_missing = missing.sum(axis=1)
    out = n_missing > len(used) / 2
    unclassified = pd.DataFrame(
        {
            "n_missing": n_missing[out].astype("Int64"),
            "n_indicators": pd.Series(len(used), index=values.index[out], dtype="Int64"),
            "missing": [", ".join(missing.columns[row]) for row in missing[out].to_numpy()],
        },
        index=values.index[out],
    )
    unclassified["reason_fr"] = [
        f"{m} indicateurs manquants sur {len(used)} (plus de la moitié) : IRIS non classé."
        for m in unclassified["n_missing"]
    ]
    kept = values[~out]
    empty = [c for c in used if kept[c].isna().all()]
    if empty:  # only unclassified IRIS had a value
        dropped.update({c: "aucune valeur parmi les IRIS classés" for c in empty})
        warnings.warn(
            f"Typologie : indicateur(s) écarté(s), sans valeur parmi les IRIS "
            f"classés : {', '.join(empty)}.",
            FragilityWarning,
            stacklevel=3,
        )
        kept = kept.drop(columns=empty)
    return _Prepared(values.index, kept, list(kept.columns), dropped, unclassified)


def _pipeline(k: int, seed: int, n_init: int):
    from sklearn.cluster import KMeans
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=k, random_state=seed, n_init=n_init)),
        ]
    )


def _kmeans_threads(n_samples: int):
    """Context limiting OpenMP to one thread for a frame of one k-means chunk.

    scikit-learn's Lloyd iterations split the samples in chunks of 256, one per thread;
    up to :data:`SINGLE_THREAD_MAX_IRIS` samples there is a single chunk, so the labels
    are the same on one thread, without the cost of synchronising idle threads (see the
    module docstring). Larger frames keep scikit-learn's default.
    """
    import contextlib

    if n_samples > SINGLE_THREAD_MAX_IRIS:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(
            f"{name} doit être un entier supérieur ou égal à {minimum} (reçu : {value!r})."
        )


def _check_k(k, n: int, *, maximum: int | None = None, name: str = "n_profiles") -> None:
    maximum = n if maximum is None else maximum
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 2 <= k <= maximum:
        raise ConfigError(
            f"{name} : {k!r} profils impossible avec {n} IRIS classables (entre 2 et {maximum})."
        )


def _resolve_seed(seed) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31 - 1))
    _check_int(seed, "seed", 0)
    return int(seed)


def _other_seeds(seed: int, count: int) -> list[int]:
    """Draw ``count`` distinct seeds, all different from ``seed``."""
    rng = np.random.default_rng(seed)
    seeds: list[int] = []
    while len(seeds) < count:
        s = int(rng.integers(2**31 - 1))
        if s != seed and s not in seeds:
            seeds.append(s)
    return seeds


def _canonical_labels(labels: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Renumber clusters by decreasing size, ties broken by centroid coordinates."""
    sizes = np.bincount(labels, minlength=k)
    centres = [
        tuple(np.round(z[labels == c].mean(axis=0), 9)) if sizes[c] else () for c in range(k)
    ]
    order = sorted(range(k), key=lambda c: (-sizes[c], centres[c]))
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return rank[labels]


def _name_profiles(z_centroids: pd.DataFrame) -> tuple[list[str], list, list[float]]:
    """Apply :data:`PROFILE_RULES` to each centroid; make the names unique."""
    rules, scores = [], []
    for _, z in z_centroids.iterrows():
        best, best_score = None, -math.inf
        for rule in PROFILE_RULES:
            score = rule.score(z)
            if not math.isnan(score) and score >= NAME_THRESHOLD and score > best_score:
                best, best_score = rule.name, score
        rules.append(best)
        scores.append(best_score if best else math.nan)
    base = [r or INTERMEDIATE for r in rules]
    names = list(base)
    for name in set(base):
        members = [i for i, b in enumerate(base) if b == name]
        members.sort(key=lambda i: -scores[i] if not math.isnan(scores[i]) else 0)
        for n, i in enumerate(members[1:], start=2):
            names[i] = f"{name} ({n})"
    return names, rules, scores


def _describe(z: pd.Series) -> str:
    """French description of a centroid: the indicators furthest from the mean."""
    far = z[z.abs() >= DESCRIPTION_THRESHOLD].dropna()
    far = far.iloc[np.argsort(-far.abs().to_numpy(), kind="stable")][:DESCRIPTION_TERMS]
    if far.empty:
        return "Proche de la moyenne du territoire sur tous les indicateurs."
    parts = []
    for col, value in far.items():
        label, feminine = LABELS_FR.get(col, (col, False))
        adjective = ("élevée" if feminine else "élevé") if value > 0 else "faible"
        sigma = f"{value:+.1f}".replace(".", ",").replace("-", "−")
        parts.append(f"{label} {adjective} ({sigma} σ)")
    text = ", ".join(parts)
    return text[0].upper() + text[1:]
