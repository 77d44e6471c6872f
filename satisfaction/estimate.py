"""Design-based estimates with standard errors: means, proportions, totals, ratios, by domain.

Every function takes a :class:`~satisfaction.design.SurveyDesign` and returns a tidy DataFrame:
``[by], variable, estimate, se, ci_low, ci_high, n, deff``. Missing values of the analysis variable
are left out of that variable's estimate (R's ``na.rm=TRUE``): the respondents who answered form a
domain, so the design's strata and PSUs are kept whole.

Estimators (``a_i = w_i`` inside the domain and non-missing, else 0):

* mean ``ȳ = Σ a y / Σ a``, influence ``z = a (y − ȳ) / Σ a``;
* total ``Ŷ = Σ a y``, influence ``z = a y``;
* ratio ``R = Σ a y / Σ a x``, influence ``z = a (y − R x) / Σ a x``;
* proportion: the mean of the 0/1 indicator (e.g. ``x ≥ 4``, the "满意率").

``method="linearization"`` gives the Taylor variance of the design
(:meth:`SurveyDesign.linearized_variance`, as ``survey::svymean`` / ``svyby``);
``method="replicate"`` recomputes the estimate with every replicate's weights at once (matrix
products over all replicates) and combines them as ``survey::svrVar``. ``deff`` is the design
effect against simple random sampling without replacement, as ``svymean(deff=TRUE)``: the
variance divided by ``s² (N̂ − n) / (N̂ n)`` for means (``s²`` the weighted variance with the
``n/(n−1)`` correction), ``N̂² s² (N̂ − n) / (N̂ n)`` for totals.

Sample size: ``n = z² p (1 − p) deff / e²`` (538 for ±5 % at 95 % with deff 1.4), optionally with
the finite-population correction ``n / (1 + (n − 1)/N)``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .design import SurveyDesign

METHODS = ("linearization", "replicate")


def _domains(design: SurveyDesign, by) -> tuple[np.ndarray, pd.DataFrame]:
    if by is None:
        return np.zeros(design.n, dtype=np.int64), pd.DataFrame(index=[0])
    cols = [by] if isinstance(by, str) else list(by)
    codes, uniques = pd.MultiIndex.from_frame(design.data[cols]).factorize(sort=True)
    return codes, pd.DataFrame(list(uniques), columns=cols)


def _values(design: SurveyDesign, columns) -> tuple[list[str], np.ndarray]:
    cols = [columns] if isinstance(columns, str) else list(columns)
    y = design.data[cols].to_numpy(dtype=float)
    return cols, y


def _z_value(ci: float) -> float:
    return float(stats.norm.ppf(1 - (1 - ci) / 2))


def _linear_parts(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None):
    """Estimates and influence values (n × D·p) for means / totals / ratios."""
    w = design.weights
    ok = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
    p = y.shape[1]
    yf = np.where(ok, y, 0.0)
    xf = None if x is None else np.where(ok, x, 0.0)
    onehot = np.zeros((design.n, n_domains))
    onehot[np.arange(design.n), domain] = 1.0
    a_sum = onehot.T @ (w[:, None] * ok)            # D × p  Σ a
    ay_sum = onehot.T @ (w[:, None] * yf)           # D × p  Σ a y
    n_obs = onehot.T @ (ok & (w[:, None] > 0)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "mean":
            est = ay_sum / a_sum
        elif kind == "total":
            est = ay_sum
        else:
            ax_sum = onehot.T @ (w[:, None] * xf)
            est = ay_sum / ax_sum
    # influence for every (domain, variable) pair: column d*p + j
    z = np.zeros((design.n, n_domains * p))
    cols = domain[:, None] * p + np.arange(p)[None, :]
    rows = np.repeat(np.arange(design.n)[:, None], p, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "mean":
            vals = w[:, None] * ok * (yf - est[domain]) / a_sum[domain]
        elif kind == "total":
            vals = w[:, None] * ok * yf
        else:
            vals = w[:, None] * ok * (yf - est[domain] * xf) / ax_sum[domain]
    z[rows, cols] = np.nan_to_num(vals)
    # weighted variance with n/(n-1), for the design effect (means and totals)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ay_sum / a_sum
        dev2 = onehot.T @ (w[:, None] * ok * (yf - mean[domain]) ** 2)
        s2 = dev2 / a_sum * n_obs / (n_obs - 1)
        srs = s2 * (a_sum - n_obs) / (a_sum * n_obs)
        if kind == "total":
            srs = srs * a_sum ** 2
    return est, z, n_obs, srs


def _replicate_estimates(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None):
    """Replicate estimates, B × D × p, by matrix products over all replicates (one domain at a time)."""
    rep = design.require_replicates()
    ok = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
    yf = np.where(ok, y, 0.0)
    out = np.full((rep.n_replicates, n_domains, y.shape[1]), np.nan)
    order = np.argsort(domain, kind="stable")
    bounds = np.searchsorted(domain[order], np.arange(n_domains + 1))
    for d in range(n_domains):
        rows = order[bounds[d]:bounds[d + 1]]
        wr = rep.weights[rows]                        # n_d × B
        num = yf[rows].T @ wr                         # p × B
        if kind == "total":
            out[:, d, :] = num.T
            continue
        den = (ok[rows].astype(float).T @ wr) if kind == "mean" else (np.where(ok[rows], x[rows], 0.0).T @ wr)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, d, :] = (num / den).T
    return out


def _assemble(design, method, by_frame, cols, est, n_obs, srs, ci, z=None, thetas=None) -> pd.DataFrame:
    D, p = est.shape
    if method == "linearization":
        var = design.linearized_variance(z, full=False).reshape(D, p)
    elif method == "replicate":
        var = design.replicate_variance(thetas.reshape(thetas.shape[0], D * p), est.ravel()).reshape(D, p)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    se = np.sqrt(var)
    q = _z_value(ci)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = var / srs
    frame = pd.DataFrame({
        "variable": np.tile(cols, D),
        "estimate": est.ravel(), "se": se.ravel(),
        "ci_low": (est - q * se).ravel(), "ci_high": (est + q * se).ravel(),
        "n": n_obs.ravel().astype(int), "deff": deff.ravel(),
    })
    if len(by_frame.columns):
        keys = by_frame.loc[by_frame.index.repeat(p)].reset_index(drop=True)
        frame = pd.concat([keys, frame], axis=1)
    return frame


def _estimate(design: SurveyDesign, y, cols, kind, by, method, ci, x=None) -> pd.DataFrame:
    domain, by_frame = _domains(design, by)
    D = len(by_frame)
    est, z, n_obs, srs = _linear_parts(design, y, domain, D, kind, x)
    thetas = _replicate_estimates(design, y, domain, D, kind, x) if method == "replicate" else None
    return _assemble(design, method, by_frame, cols, est, n_obs, srs, ci, z=z, thetas=thetas)


def mean(design: SurveyDesign, column, *, by=None, method: str = "linearization", ci: float = 0.95) -> pd.DataFrame:
    """Weighted mean of one or more columns (``survey::svymean`` / ``svyby(…, svymean)``)."""
    cols, y = _values(design, column)
    return _estimate(design, y, cols, "mean", by, method, ci)


def total(design: SurveyDesign, column, *, by=None, method: str = "linearization", ci: float = 0.95) -> pd.DataFrame:
    """Weighted total (``survey::svytotal``)."""
    cols, y = _values(design, column)
    return _estimate(design, y, cols, "total", by, method, ci)


def ratio(design: SurveyDesign, numerator: str, denominator: str, *, by=None, method: str = "linearization",
          ci: float = 0.95) -> pd.DataFrame:
    """Ratio of totals ``Σ w y / Σ w x`` (``survey::svyratio``); ``deff`` is not defined (NaN)."""
    y = design.data[[numerator]].to_numpy(dtype=float)
    x = design.data[[denominator]].to_numpy(dtype=float)
    out = _estimate(design, y, [f"{numerator}/{denominator}"], "ratio", by, method, ci, x=x)
    out["deff"] = np.nan
    return out


def proportion(design: SurveyDesign, column, *, by=None, at_least: float | None = None, category=None,
               method: str = "linearization", ci: float = 0.95) -> pd.DataFrame:
    """Share of respondents whose answer is ``>= at_least`` (e.g. 4 on a 5-point scale, the "满意率"),
    or equal to ``category``; NaN answers are left out. Same as ``svymean(~I(x >= 4), na.rm=TRUE)``."""
    if (at_least is None) == (category is None):
        raise ValueError("give exactly one of at_least= or category=")
    cols, y = _values(design, column)
    with np.errstate(invalid="ignore"):
        ind = np.where(np.isnan(y), np.nan, (y >= at_least) if at_least is not None else (y == category)).astype(float)
    rule = f">={at_least:g}" if at_least is not None else f"=={category}"
    return _estimate(design, ind, [f"{c}{rule}" for c in cols], "mean", by, method, ci)


def linear_combination(design: SurveyDesign, columns, coefficients, *, by=None,
                       method: str = "linearization", ci: float = 0.95) -> pd.DataFrame:
    """Linear combinations ``Σ_j c_kj ȳ_j`` of domain means, with SEs from the combined influence
    values (or replicates) — e.g. the index and its indicators as weighted sums of item means.

    ``coefficients`` is a DataFrame with one row per combination (its index names it) and one
    column per item, or a function that receives a boolean Series (which items have answers in a
    domain) and returns that DataFrame, for rules that re-normalise over the answered items.
    """
    cols, y = _values(design, columns)
    domain, by_frame = _domains(design, by)
    D, p = len(by_frame), len(cols)
    est, z, n_obs, _ = _linear_parts(design, y, domain, D, "mean")
    frames = [coefficients(pd.Series(n_obs[d] > 0, index=cols)) if callable(coefficients) else coefficients
              for d in range(D)]
    names = list(frames[0].index)
    k = len(names)
    coef_d = np.stack([f.reindex(index=names, columns=cols).to_numpy(dtype=float) for f in frames])  # D × k × p
    coef_d = np.nan_to_num(coef_d)
    comb = np.einsum("dkp,dp->dk", coef_d, np.nan_to_num(est))
    if method == "linearization":
        zc = np.zeros((design.n, D * k))
        for d in range(D):  # influence of domain d's combinations: its items' influences, combined
            zc[:, d * k:(d + 1) * k] = z[:, d * p:(d + 1) * p] @ coef_d[d].T
        var = design.linearized_variance(zc, full=False).reshape(D, k)
    elif method == "replicate":
        thetas = _replicate_estimates(design, y, domain, D, "mean")       # B × D × p
        reps = np.einsum("dkp,bdp->bdk", coef_d, np.nan_to_num(thetas))
        var = design.replicate_variance(reps.reshape(reps.shape[0], D * k), comb.ravel()).reshape(D, k)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    se = np.sqrt(var)
    q = _z_value(ci)
    frame = pd.DataFrame({
        "variable": np.tile(names, D), "estimate": comb.ravel(), "se": se.ravel(),
        "ci_low": (comb - q * se).ravel(), "ci_high": (comb + q * se).ravel(),
        "n": np.repeat(n_obs.max(axis=1), k).astype(int),
    })
    if len(by_frame.columns):
        frame = pd.concat([by_frame.loc[by_frame.index.repeat(k)].reset_index(drop=True), frame], axis=1)
    return frame


# ---- planning ---------------------------------------------------------------------------------------


def sample_size(margin: float = 0.05, *, confidence: float = 0.95, p: float = 0.5, deff: float = 1.4,
                population: float | None = None) -> int:
    """Interviews needed for a proportion's margin of error: ``⌈z² p(1−p) deff / e²⌉``, with the
    finite-population correction ``n / (1 + (n − 1)/N)`` when ``population`` is given.

    >>> sample_size(0.05, deff=1.4)
    538
    """
    if not 0 < margin < 1 or not 0 < p < 1 or deff <= 0:
        raise ValueError("need 0 < margin < 1, 0 < p < 1 and deff > 0")
    z = _z_value(confidence)
    n = z ** 2 * p * (1 - p) * deff / margin ** 2
    if population is not None:
        n = n / (1 + (n - 1) / population)
    return int(math.ceil(n - 1e-9))


def margin_of_error(n: float, *, confidence: float = 0.95, p: float = 0.5, deff: float = 1.4,
                    population: float | None = None) -> float:
    """Half-width of the confidence interval of a proportion from ``n`` interviews:
    ``z · √(deff · p(1−p)/n · (1 − n/N))``."""
    if n <= 0:
        raise ValueError("n must be positive")
    fpc = 1.0 if population is None else max(0.0, 1 - n / population)
    return _z_value(confidence) * math.sqrt(deff * p * (1 - p) / n * fpc)
