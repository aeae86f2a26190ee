"""Mediation coverage: observed contacts against the contacts the need predicts.

The statistics of under-served detection (reference: ``logs-and-privacy.md`` §D.2), kept
apart from the decisions and words of :mod:`fragility.underserved`:

1. **Expected contacts** ``E_i`` per IRIS of the intervention zone, from a negative
   binomial regression of the observed contacts on *need-only* covariates (isolation
   and non-recours indices, QPV share) with the population as exposure (an offset, not a
   covariate). With too few IRIS for a model, an internally standardised expectation
   ``E_i = N_i · ΣO / ΣN``. Supply and accessibility are never covariates: ``E_i`` is
   "what this IRIS would get if it were covered like an average IRIS of the zone with the
   same need".
2. **Standardised ratio** ``SR_i = O_i / E_i`` and its **funnel limits** at 95 % and
   99.8 % (Spiegelhalter 2005), on the square-root scale with an additive
   overdispersion ``τ²`` (DerSimonian-Laird, z-scores winsorised at 10 %/90 %), as
   FunnelPlotR does.
3. **Empirical-Bayes shrinkage** (Poisson-Gamma, Clayton & Kaldor 1987, moments of
   Marshall 1991): ``θ_i | O_i ~ Gamma(a + O_i, b + E_i)``, the shrunk ratio, its 90 %
   interval and the posterior probability of a material shortfall ``P(θ_i < 0.8)``.
4. One-sided p-values ``P(O ≤ o_i)`` under the fitted model and Benjamini-Hochberg
   q-values, so that analysts see how many flags chance alone would give.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from fragility.conventions import isin
from fragility.errors import InputError

#: Reasons why an IRIS is not assessed, with their French wording.
NOT_ASSESSED = {
    "hors_zone": "hors de la zone d'intervention déclarée",
    "population_inconnue": "population inconnue ou nulle",
    "iris_activite": "IRIS d'activité (peu d'habitants)",
    "iris_divers": "IRIS divers (bois, parc, zone naturelle)",
    "attendu_trop_faible": "moins de 5 contacts attendus : écart non mesurable",
}

#: Normal quantiles of the two-sided funnel limits.
Z95, Z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)

METHODS_FR = {
    "binomiale_negative": "régression binomiale négative (exposition = population)",
    "poisson": "régression de Poisson (exposition = population ; pas de surdispersion)",
    "standardisation_interne": "standardisation interne (E = population × taux moyen)",
}


@dataclass(frozen=True)
class CoverageSettings:
    """Parameters of :func:`assess_coverage` (recorded in the run manifest).

    Attributes
    ----------
    materiality : float
        Shortfall that matters: ``p_shortfall = P(θ < materiality)``. Default 0.8, a
        shortfall of at least 20 %.
    min_expected : float
        IRIS with fewer expected contacts are not assessed (``attendu_trop_faible``).
    min_iris_model : int
        Below this number of IRIS in the zone, the internally standardised expectation
        replaces the regression.
    min_population : float
        IRIS with a smaller population are not assessed (``population_inconnue``).
    winsorise : float
        Share winsorised at each end of the z-scores before estimating overdispersion.
    """

    materiality: float = 0.8
    min_expected: float = 5.0
    min_iris_model: int = 30
    min_population: float = 1.0
    winsorise: float = 0.10

    def __post_init__(self):
        if not 0 < self.materiality < 1:
            raise InputError(
                f"seuil de déficit invalide : {self.materiality} (entre 0 et 1, ex. 0,8).",
                field="materiality",
            )
        if self.min_expected < 0:
            raise InputError("nombre minimal de contacts attendus négatif.", field="min_expected")
        if not 0 <= self.winsorise < 0.5:
            raise InputError("part winsorisée invalide (0 à 0,5).", field="winsorise")


@dataclass(frozen=True)
class CoverageModel:
    """The expected-contacts model and its fit diagnostics.

    Attributes
    ----------
    method : str
        ``binomiale_negative``, ``poisson`` or ``standardisation_interne`` (a key of
        :data:`METHODS_FR`).
    covariates : tuple of str
        Covariates used (standardised; ``*_manquant`` are missing-value indicators).
    coefficients : dict
        Coefficient per covariate (``const`` = log contacts per inhabitant at average
        need), on the standardised scale.
    std_errors : dict
        Standard error per coefficient.
    alpha : float
        Negative binomial dispersion (variance = μ + α μ²); 0 for Poisson and the
        standardised expectation.
    n_iris : int
        IRIS in the fit.
    observed_total, expected_total : float
        Sums of observed and expected contacts over the fit (equal for a well-specified
        model with an intercept).
    pearson_dispersion : float
        Pearson χ² / residual degrees of freedom under the fitted model (≈ 1 when the
        variance is well modelled).
    aic : float or None
        Akaike information criterion (None for the standardised expectation).
    converged : bool
        Whether the optimiser converged.
    notes : tuple of str
        French remarks (fallbacks, dropped covariates).
    """

    method: str
    covariates: tuple[str, ...]
    coefficients: dict
    std_errors: dict
    alpha: float
    n_iris: int
    observed_total: float
    expected_total: float
    pearson_dispersion: float
    aic: float | None
    converged: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready dict (for the manifest)."""
        out = asdict(self)
        out["covariates"] = list(self.covariates)
        out["notes"] = list(self.notes)
        return _rounded(out)

    def summary_fr(self) -> str:
        """One French sentence describing the model."""
        text = f"Contacts attendus : {METHODS_FR[self.method]} sur {self.n_iris} IRIS"
        if self.covariates:
            text += " ; besoin : " + ", ".join(self.covariates)
        if self.method == "binomiale_negative":
            text += f" ; surdispersion α = {self.alpha:.3f}".replace(".", ",")
        return text + "."


@dataclass(frozen=True)
class CoverageResult:
    """Result of :func:`assess_coverage`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per IRIS (index ``iris``), every IRIS given, assessed or not:

        - ``in_zone`` (bool), ``assessed`` (bool), ``not_assessed`` (a key of
          :data:`NOT_ASSESSED`, or ``None``);
        - ``observed`` (contacts), ``population``, ``expected`` (contacts the need
          predicts; NaN outside the fit);
        - ``ratio`` (O/E), ``limit95_low``, ``limit95_high``, ``limit998_low``,
          ``limit998_high`` (funnel limits of the ratio);
        - ``eb_ratio`` (shrunk ratio), ``eb_low``, ``eb_high`` (90 % interval),
          ``p_shortfall`` (posterior P(θ < materiality));
        - ``p_value`` (one-sided P(O ≤ o) under the model), ``q_value``
          (Benjamini-Hochberg over the assessed IRIS).
    model : CoverageModel
        The expectation model and its diagnostics.
    tau2 : float
        Additive overdispersion on the square-root scale (0 when none is detected).
    phi : float
        Mean squared winsorised z-score (1 under Poisson variation).
    prior : tuple of float
        Gamma prior ``(a, b)`` of the relative coverage θ (mean ``a/b``).
    settings : CoverageSettings
        Parameters used.
    """

    table: pd.DataFrame
    model: CoverageModel
    tau2: float
    phi: float
    prior: tuple[float, float]
    settings: CoverageSettings = field(default_factory=CoverageSettings)

    def to_dict(self) -> dict:
        """Parameters and diagnostics (not the table), JSON-ready, for the manifest."""
        table = self.table
        return _rounded(
            {
                "parametres": asdict(self.settings),
                "modele": self.model.to_dict(),
                "surdispersion": {"tau2": self.tau2, "phi": self.phi},
                "a_priori_gamma": {"a": self.prior[0], "b": self.prior[1]},
                "iris_evalues": int(table["assessed"].sum()),
                "iris_non_evalues": {
                    str(k): int(v) for k, v in table["not_assessed"].value_counts().items()
                },
            }
        )


def _rounded(value):
    if isinstance(value, float):
        return None if not np.isfinite(value) else float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item())
    return value


# --------------------------------------------------------------------------------- model


def _design(need: pd.DataFrame | None, rows: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    """Standardised need covariates over the fit rows, NaN imputed with an indicator."""
    notes: list[str] = []
    design = pd.DataFrame(index=rows)
    if need is None:
        return design, notes
    for column in need.columns:
        values = pd.to_numeric(need[column], errors="coerce").reindex(rows).astype(float)
        known = values.notna()
        if known.sum() < 3:
            notes.append(f"covariable « {column} » écartée (moins de 3 IRIS renseignés)")
            continue
        sd = float(values[known].std(ddof=0))
        if not sd > 0:
            notes.append(f"covariable « {column} » écartée (constante)")
            continue
        design[column] = ((values - values[known].mean()) / sd).fillna(0.0)
        if (~known).any():
            design[f"{column}_manquant"] = (~known).astype(float)
    return design, notes


def _fit_glm(observed, exposure, design, notes):
    """Negative binomial (then Poisson) regression; None when neither fits."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

    exog = sm.add_constant(design, has_constant="add")
    attempts = (("binomiale_negative", sm.NegativeBinomial), ("poisson", sm.Poisson))
    for method, family in attempts:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            warnings.simplefilter("always", HessianInversionWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                fit = family(observed, exog, exposure=exposure).fit(
                    disp=0, maxiter=300, method="bfgs" if method == "poisson" else "newton"
                )
            except Exception as error:  # any failure means "try simpler"
                notes.append(f"{METHODS_FR[method]} impossible ({type(error).__name__})")
                continue
        params = fit.params
        converged = bool(fit.mle_retvals.get("converged", True))
        if not np.all(np.isfinite(params)):
            notes.append(f"{METHODS_FR[method]} : coefficients non finis, abandonnée")
            continue
        alpha = float(params.get("alpha", 0.0))
        if method == "binomiale_negative" and alpha < 1e-4:
            notes.append("surdispersion négligeable : régression de Poisson")
            continue
        if method == "binomiale_negative" and not converged:
            notes.append("binomiale négative non convergente : régression de Poisson")
            continue
        if caught and not converged:
            notes.append(f"{METHODS_FR[method]} : convergence incertaine")
        expected = np.asarray(fit.predict(exog, exposure=exposure), dtype=float)
        betas = params.drop("alpha", errors="ignore")
        errors = fit.bse.drop("alpha", errors="ignore")
        return method, expected, alpha, betas, errors, fit, converged
    return None


def expected_contacts(
    observed: pd.Series,
    population: pd.Series,
    need: pd.DataFrame | None = None,
    *,
    min_iris_model: int = 30,
) -> tuple[pd.Series, CoverageModel]:
    """Contacts each IRIS would get if covered like an average IRIS with the same need.

    Parameters
    ----------
    observed : pandas.Series
        Contacts per IRIS (the IRIS of the fit: in the zone, inhabited).
    population : pandas.Series
        Population per IRIS (exposure), same index.
    need : pandas.DataFrame, optional
        Need-only covariates per IRIS (e.g. ``isolation_index``, ``non_recours_index``,
        ``qpv_share``). Standardised; missing values are set to the mean with a missing
        indicator; constant columns are dropped.
    min_iris_model : int, default 30
        Fewer IRIS (or fewer than 5 per parameter) give the internally standardised
        expectation.

    Returns
    -------
    expected : pandas.Series
        Expected contacts, same index as ``observed``.
    model : CoverageModel
        Fit diagnostics.

    Examples
    --------
    >>> import pandas as pd
    >>> e, model = expected_contacts(pd.Series([10, 30]), pd.Series([100, 300]))
    >>> e.tolist(), model.method
    ([10.0, 30.0], 'standardisation_interne')
    """
    observed = pd.to_numeric(observed, errors="coerce").astype(float)
    population = pd.to_numeric(population, errors="coerce").reindex(observed.index).astype(float)
    if observed.isna().any() or (observed < 0).any():
        raise InputError("contacts observés manquants ou négatifs.", field="observed")
    if population.isna().any() or (population <= 0).any():
        raise InputError("population manquante ou nulle dans l'ajustement.", field="population")
    if observed.sum() <= 0:
        raise InputError("aucun contact observé dans la zone : couverture non évaluable.")
    design, notes = _design(need, observed.index)
    n = len(observed)
    fitted = None
    if n >= max(min_iris_model, 5 * (design.shape[1] + 1)):
        fitted = _fit_glm(observed, population, design, notes)
    elif need is not None:
        notes.append(
            f"{n} IRIS seulement : standardisation interne, sans covariable de besoin"
        )
    if fitted is None:
        rate = observed.sum() / population.sum()
        expected = population * rate
        resid = (observed - expected) / np.sqrt(expected)
        model = CoverageModel(
            method="standardisation_interne",
            covariates=(),
            coefficients={"const": float(np.log(rate))},
            std_errors={},
            alpha=0.0,
            n_iris=n,
            observed_total=float(observed.sum()),
            expected_total=float(expected.sum()),
            pearson_dispersion=float((resid**2).sum() / max(n - 1, 1)),
            aic=None,
            converged=True,
            notes=tuple(notes),
        )
        return expected.rename("expected"), model
    method, values, alpha, betas, errors, fit, converged = fitted
    expected = pd.Series(values, index=observed.index, name="expected")
    variance = expected + alpha * expected**2
    pearson = float((((observed - expected) ** 2) / variance).sum() / max(n - len(betas), 1))
    model = CoverageModel(
        method=method,
        covariates=tuple(design.columns),
        coefficients={str(k): float(v) for k, v in betas.items()},
        std_errors={str(k): float(v) for k, v in errors.items()},
        alpha=alpha,
        n_iris=n,
        observed_total=float(observed.sum()),
        expected_total=float(expected.sum()),
        pearson_dispersion=pearson,
        aic=float(fit.aic),
        converged=converged,
        notes=tuple(notes),
    )
    return expected, model


# ------------------------------------------------------------------- funnel and shrinkage


def overdispersion(
    observed: np.ndarray, expected: np.ndarray, winsorise: float = 0.10
) -> tuple[float, float]:
    """Additive overdispersion ``τ²`` of standardised ratios (DerSimonian-Laird).

    z-scores on the square-root scale ``z = 2(√O − √E)`` are winsorised; ``φ`` is their
    mean square, and ``τ² = (nφ − (n − 1)) / (Σw − Σw²/Σw)`` with ``w = 4E`` when
    ``nφ > n − 1``, else 0 (Spiegelhalter 2005; FunnelPlotR).

    Returns
    -------
    tau2, phi : float
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    n = len(observed)
    if n < 3:
        return 0.0, float("nan")
    z = 2.0 * (np.sqrt(observed) - np.sqrt(expected))
    if winsorise > 0:
        low, high = np.quantile(z, [winsorise, 1.0 - winsorise])
        z = np.clip(z, low, high)
    phi = float(np.mean(z**2))
    if n * phi <= n - 1:
        return 0.0, phi
    w = 4.0 * expected  # 1 / s², s = 1 / (2√E) on the √SR scale
    tau2 = (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum())
    return float(max(tau2, 0.0)), phi


def funnel_limits(expected: np.ndarray, tau2: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Funnel limits of the ratio O/E around 1 for a normal quantile ``z``.

    On the square-root scale: ``1 ± z·√(1/(4E) + τ²)``, squared back (the lower limit is
    floored at 0).
    """
    expected = np.asarray(expected, dtype=float)
    half = z * np.sqrt(1.0 / (4.0 * expected) + tau2)
    return np.clip(1.0 - half, 0.0, None) ** 2, (1.0 + half) ** 2


def gamma_prior(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Gamma prior ``(a, b)`` of relative coverage by Marshall's (1991) moments.

    ``m = ΣO/ΣE``, ``s² = ΣE(r − m)²/ΣE``, prior variance ``v = s² − m/Ē`` (floored at a
    small positive value: no detectable heterogeneity means strong shrinkage).
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    m = observed.sum() / expected.sum()
    ratio = observed / expected
    s2 = float((expected * (ratio - m) ** 2).sum() / expected.sum())
    v = max(s2 - m / expected.mean(), 1e-4 * m**2)
    return float(m**2 / v), float(m / v)


def _p_values(observed, expected, alpha) -> np.ndarray:
    """One-sided P(O ≤ o) under Poisson (α = 0) or negative binomial (α > 0)."""
    if alpha > 0:
        size = 1.0 / alpha
        return stats.nbinom.cdf(observed, size, size / (size + expected))
    return stats.poisson.cdf(observed, expected)


# ------------------------------------------------------------------------------ assess


def assess_coverage(
    observed: pd.Series,
    population: pd.Series,
    need: pd.DataFrame | None = None,
    *,
    zone: Iterable[str] | None = None,
    iris_type: pd.Series | None = None,
    settings: CoverageSettings | Mapping | None = None,
) -> CoverageResult:
    """Observed against expected contacts for every IRIS of a territory.

    Parameters
    ----------
    observed : pandas.Series
        Contacts per IRIS (index ``iris``). IRIS of ``population`` missing here have 0.
    population : pandas.Series
        Population per IRIS: the IRIS of the territory (every one gets a row).
    need : pandas.DataFrame, optional
        Need-only covariates (see :func:`expected_contacts`).
    zone : iterable of str, optional
        IRIS codes of the declared intervention zone; the others are ``hors_zone`` (zero
        contacts there is structural, not under-service). Default: every IRIS.
    iris_type : pandas.Series, optional
        INSEE IRIS type (``H``, ``Z``, ``A``, ``D``): activity (A) and miscellaneous (D)
        IRIS are not assessed.
    settings : CoverageSettings or mapping, optional
        Parameters (materiality, minimum expected contacts...).

    Returns
    -------
    CoverageResult

    Raises
    ------
    InputError
        No contact in the zone, or invalid settings.
    """
    if settings is None:
        settings = CoverageSettings()
    elif isinstance(settings, Mapping):
        settings = CoverageSettings(**settings)
    index = pd.Index(population.index.astype(str), name="iris")
    population = pd.Series(pd.to_numeric(population, errors="coerce").to_numpy(float),
                           index=index)
    observed = pd.to_numeric(observed, errors="coerce")
    if observed.isna().any() or (observed < 0).any():
        raise InputError("contacts observés manquants, non numériques ou négatifs.",
                         field="observed")
    observed.index = observed.index.astype(str)
    if need is not None:
        need = need.set_axis(need.index.astype(str))
    if iris_type is not None:
        iris_type = iris_type.set_axis(iris_type.index.astype(str))
    unknown = observed.index.difference(index)
    if len(unknown):
        raise InputError(
            f"{len(unknown)} IRIS de contacts hors du territoire (ex. {unknown[0]}).",
            field="observed",
        )
    observed = observed.reindex(index).fillna(0.0).astype(float)

    reason = pd.Series(None, index=index, dtype=object)
    in_zone = pd.Series(True, index=index)
    if zone is not None:
        zone = {str(code) for code in zone}
        in_zone = pd.Series(isin(index, zone), index=index)
        reason[~in_zone] = "hors_zone"
    free = reason.isna()
    small = ~(population >= settings.min_population)
    reason[free & small] = "population_inconnue"
    if iris_type is not None:
        kind = iris_type.reindex(index).astype(object)
        reason[reason.isna() & kind.eq("A")] = "iris_activite"
        reason[reason.isna() & kind.eq("D")] = "iris_divers"
    fit_rows = reason.isna()
    if fit_rows.sum() == 0:
        raise InputError("aucun IRIS habité dans la zone d'intervention : rien à évaluer.")

    expected_fit, model = expected_contacts(
        observed[fit_rows], population[fit_rows], need, min_iris_model=settings.min_iris_model
    )
    expected = pd.Series(np.nan, index=index)
    expected[fit_rows] = expected_fit.to_numpy()
    reason[fit_rows & (expected < settings.min_expected)] = "attendu_trop_faible"
    assessed = reason.isna()

    table = pd.DataFrame(
        {
            "in_zone": in_zone,
            "assessed": assessed,
            "not_assessed": reason,
            "observed": observed,
            "population": population,
            "expected": expected,
        },
        index=index,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = observed / expected
    o, e = observed[fit_rows].to_numpy(), expected[fit_rows].to_numpy()
    tau2, phi = overdispersion(o[e >= settings.min_expected], e[e >= settings.min_expected],
                               settings.winsorise)
    for name, z in (("95", Z95), ("998", Z998)):
        low, high = funnel_limits(e, tau2, z)
        table.loc[fit_rows, f"limit{name}_low"] = low
        table.loc[fit_rows, f"limit{name}_high"] = high
    a, b = gamma_prior(o, e)
    shape, rate = a + o, b + e
    table.loc[fit_rows, "eb_ratio"] = shape / rate
    table.loc[fit_rows, "eb_low"] = stats.gamma.ppf(0.05, shape, scale=1.0 / rate)
    table.loc[fit_rows, "eb_high"] = stats.gamma.ppf(0.95, shape, scale=1.0 / rate)
    table.loc[fit_rows, "p_shortfall"] = stats.gamma.cdf(
        settings.materiality, shape, scale=1.0 / rate
    )
    table.loc[fit_rows, "p_value"] = _p_values(o, e, model.alpha)
    table["q_value"] = np.nan
    if assessed.any():
        table.loc[assessed, "q_value"] = stats.false_discovery_control(
            table.loc[assessed, "p_value"].to_numpy(), method="bh"
        )
    for column in ("limit95_low", "limit95_high", "limit998_low", "limit998_high", "eb_ratio",
                   "eb_low", "eb_high", "p_shortfall", "p_value"):
        if column not in table:
            table[column] = np.nan
    return CoverageResult(
        table=table, model=model, tau2=tau2, phi=phi, prior=(a, b), settings=settings
    )
