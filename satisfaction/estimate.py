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
from scipy import sparse, stats

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


#: Influence values are built for this many (respondent × estimate) cells at a time.
CHUNK_CELLS = 20_000_000


def _point_parts(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None):
    """Point estimates (D × p), respondents used, the SRS variance (for deff) and the pieces the
    influence values need."""
    w = design.weights
    ok = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
    yf = np.where(ok, y, 0.0)
    xf = None if x is None else np.where(ok, x, 0.0)
    onehot = sparse.csr_matrix((np.ones(design.n), (domain, np.arange(design.n))), shape=(n_domains, design.n))
    a = w[:, None] * ok
    a_sum = onehot @ a                                   # D × p  Σ a
    ay_sum = onehot @ (a * yf)                           # D × p  Σ a y
    n_obs = onehot @ (ok & (w[:, None] != 0)).astype(float)
    ax_sum = onehot @ (a * xf) if kind == "ratio" else None
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ay_sum / a_sum
        est = {"mean": mean, "total": ay_sum, "ratio": None if ax_sum is None else ay_sum / ax_sum}[kind]
        # weighted variance with the n/(n−1) correction, for the design effect (R's svyvar)
        dev2 = onehot @ (a * (yf - mean[domain]) ** 2)
        s2 = dev2 / a_sum * n_obs / (n_obs - 1)
        srs = s2 * (a_sum - n_obs) / (a_sum * n_obs)
        if kind == "total":
            srs = srs * a_sum ** 2
    parts = {"a": a, "yf": yf, "xf": xf, "est": est, "a_sum": a_sum, "ax_sum": ax_sum}
    return est, n_obs, srs, parts


def _influence(parts, domain: np.ndarray, domains: np.ndarray, kind: str) -> np.ndarray:
    """Influence values (n × len(domains)·p) of the estimates of the given domains."""
    a, yf, est = parts["a"], parts["yf"], parts["est"]
    n, p = yf.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "mean":
            vals = a * (yf - est[domain]) / parts["a_sum"][domain]
        elif kind == "total":
            vals = a * yf
        else:
            vals = a * (yf - est[domain] * parts["xf"]) / parts["ax_sum"][domain]
    vals = np.nan_to_num(vals)
    pos = np.full(int(domain.max()) + 1 if n else 0, -1)
    pos[domains] = np.arange(len(domains))
    z = np.zeros((n, len(domains) * p))
    rows = np.flatnonzero(pos[domain] >= 0)
    cols = pos[domain[rows]][:, None] * p + np.arange(p)[None, :]
    z[rows[:, None], cols] = vals[rows]
    return z


def _linearized_var(design: SurveyDesign, parts, domain: np.ndarray, n_domains: int, kind: str) -> np.ndarray:
    """Linearised variances (D × p), building the influence values a few domains at a time."""
    p = parts["yf"].shape[1]
    step = max(1, CHUNK_CELLS // max(1, design.n * p))
    var = np.empty((n_domains, p))
    for start in range(0, n_domains, step):
        chunk = np.arange(start, min(n_domains, start + step))
        z = _influence(parts, domain, chunk, kind)
        var[chunk] = design.linearized_variance(z, full=False).reshape(len(chunk), p)
    return var


def _replicate_estimates(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None):
    """Replicate estimates, B × D × p: per block of replicate weights and per domain in it, one
    matrix product over all replicates."""
    rep = design.require_replicates()
    ok = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
    yf = np.where(ok, y, 0.0)
    base = ok.astype(float) if kind == "mean" else (np.where(ok, x, 0.0) if kind == "ratio" else None)
    B, p = rep.n_replicates, y.shape[1]
    num = np.zeros((n_domains, p, B))
    den = np.zeros((n_domains, p, B))
    for rows, w in rep.blocks():
        dom = domain[rows]
        present = np.unique(dom)
        for d in present:
            sel = dom == d if len(present) > 1 else slice(None)
            wd = w[sel]
            num[d] += yf[rows][sel].T @ wd
            if base is not None:
                den[d] += base[rows][sel].T @ wd
    if kind == "total":
        out = num
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / den
    return np.moveaxis(out, 2, 0)


def _frame(by_frame, names, est, var, n_obs, ci, deff=None) -> pd.DataFrame:
    D, p = est.shape
    se = np.sqrt(var)
    q = _z_value(ci)
    frame = pd.DataFrame({
        "variable": np.tile(names, D),
        "estimate": est.ravel(), "se": se.ravel(),
        "ci_low": (est - q * se).ravel(), "ci_high": (est + q * se).ravel(),
        "n": n_obs.ravel().astype(int),
    })
    if deff is not None:
        frame["deff"] = deff.ravel()
    if len(by_frame.columns):
        keys = by_frame.loc[by_frame.index.repeat(p)].reset_index(drop=True)
        frame = pd.concat([keys, frame], axis=1)
    return frame


def _estimate(design: SurveyDesign, y, cols, kind, by, method, ci, x=None) -> pd.DataFrame:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    domain, by_frame = _domains(design, by)
    D = len(by_frame)
    est, n_obs, srs, parts = _point_parts(design, y, domain, D, kind, x)
    if method == "linearization":
        var = _linearized_var(design, parts, domain, D, kind)
    else:
        thetas = _replicate_estimates(design, y, domain, D, kind, x)
        var = design.replicate_variance(thetas.reshape(thetas.shape[0], -1), est.ravel()).reshape(est.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = var / srs
    return _frame(by_frame, cols, est, var, n_obs, ci, deff)


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
    est, n_obs, _, parts = _point_parts(design, y, domain, D, "mean")
    frames = [coefficients(pd.Series(n_obs[d] > 0, index=cols)) if callable(coefficients) else coefficients
              for d in range(D)]
    names = list(frames[0].index)
    k = len(names)
    coef_d = np.nan_to_num(np.stack([f.reindex(index=names, columns=cols).to_numpy(dtype=float) for f in frames]))
    comb = np.einsum("dkp,dp->dk", coef_d, np.nan_to_num(est))
    if method == "linearization":
        var = np.empty((D, k))
        step = max(1, CHUNK_CELLS // max(1, design.n * p))
        for start in range(0, D, step):  # a few domains at a time: their items' influences, combined
            chunk = np.arange(start, min(D, start + step))
            z = _influence(parts, domain, chunk, "mean")
            zc = np.hstack([z[:, i * p:(i + 1) * p] @ coef_d[d].T for i, d in enumerate(chunk)])
            var[chunk] = design.linearized_variance(zc, full=False).reshape(len(chunk), k)
    elif method == "replicate":
        thetas = _replicate_estimates(design, y, domain, D, "mean")       # B × D × p
        reps = np.einsum("dkp,bdp->bdk", coef_d, np.nan_to_num(thetas))
        var = design.replicate_variance(reps.reshape(reps.shape[0], D * k), comb.ravel()).reshape(D, k)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n_used = np.repeat(n_obs.max(axis=1, keepdims=True), k, axis=1)
    return _frame(by_frame, names, comb, var, n_used, ci)


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
