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
products over all replicates) and combines them as ``survey::svrVar``
(:func:`satisfaction.survey.variance.replicate_variance`). By default (``method=None``) a design
with replicate weights uses them, as R does for an ``svyrep.design``.

Every result carries the covariance of all its estimates — across domains and variables, as
``svyby(..., covmat=TRUE)`` — read with :func:`vcov`; :func:`contrast` (``svycontrast``) and
:func:`compare` (all pairs of domains, max-t / Holm / BH) use it, so differences between cities
use the real covariance rather than ``se²`` sums. It is computed when first asked for, from the
kept linearisation deviations or replicate estimates. ``deff`` is the design
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
from scipy import sparse

from .._deprecation import renamed
from .design import SurveyDesign
from .variance import confint, critical_value, replicate_variance

METHODS = ("linearization", "replicate")


class Covariance:
    """The covariance matrix of the rows of a tidy estimate table, computed on first use from what
    the estimator kept (the linearisation deviations ``D`` with ``V = DᵀD``, or the replicate
    estimates). Rows are identified by ``keys`` (the values of ``key_columns``), so that a filtered
    or re-ordered table still finds its own block. Copies of a table share one object.
    ``block(positions)``, when the estimator gives it, computes the covariance of some estimates
    alone (the index's rows of a table of every node, say), so that a national table's full
    matrix is never built for them."""

    def __init__(self, key_columns: list[str], keys: pd.MultiIndex, compute, block=None):
        self.key_columns = list(key_columns)
        self.keys = keys
        self._compute = compute
        self._block = block
        self._matrix = None

    def submatrix(self, positions: np.ndarray) -> np.ndarray:
        """The covariance of the estimates at ``positions`` (of ``keys``)."""
        if self._matrix is None and self._block is not None and len(positions) < len(self.keys):
            return np.asarray(self._block(np.asarray(positions)), dtype=float)
        return self.matrix[np.ix_(positions, positions)]

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.asarray(self._compute(), dtype=float)
            self._compute = None
        return self._matrix

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __repr__(self) -> str:
        return f"Covariance({len(self.keys)} estimates, keys {self.key_columns})"

    def renamed(self, columns: dict) -> "Covariance":
        """The same covariance for a table whose key columns were renamed (``{old: new}``)."""
        new = Covariance([columns.get(c, c) for c in self.key_columns],
                         self.keys.set_names([columns.get(c, c) for c in self.key_columns]), self._compute,
                         self._block)
        new._matrix = self._matrix
        return new


def _row_keys(frame: pd.DataFrame, key_columns: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[key_columns].astype(object))


def vcov(result: pd.DataFrame) -> pd.DataFrame:
    """The covariance matrix of the estimates in ``result`` (a table returned by :func:`mean`,
    :func:`total`, :func:`ratio`, :func:`proportion` or :func:`linear_combination`, possibly
    filtered), labelled by its key columns (the domain columns and ``variable``) — R's
    ``vcov(svyby(..., covmat=TRUE))``."""
    cov = result.attrs.get("vcov")
    if not isinstance(cov, Covariance):
        raise ValueError("this table carries no covariance: pass the table an estimator returned")
    keys = _row_keys(result, cov.key_columns)
    pos = cov.keys.get_indexer(keys)
    if (pos < 0).any():
        raise ValueError("some rows are not among the estimates this covariance belongs to")
    return pd.DataFrame(cov.submatrix(pos), index=keys, columns=keys)


def contrast(result: pd.DataFrame, coefficients, *, level: float = 0.95) -> pd.DataFrame:
    """Linear contrasts ``Σ_k c_k θ_k`` of the estimates in ``result``, with SEs from their full
    covariance, as ``survey::svycontrast``.

    ``coefficients``: a mapping ``{name: weights}`` where ``weights`` is a sequence with one value
    per row of ``result``, or a mapping from a row's key (a tuple of its domain and variable
    values; the domain alone when the table holds one variable) to its weight, e.g.
    ``{"南宁 − 柳州": {"南宁": 1, "柳州": -1}}``. Returns ``contrast, estimate, se,
    ci_low, ci_high, z, p``."""
    from scipy import stats

    v = vcov(result)
    est = result["estimate"].to_numpy(dtype=float)
    keys = list(v.index)
    names, rows = [], []
    for name, c in coefficients.items():
        if isinstance(c, dict):
            lookup = {k[0] if len(k) == 1 else k: i for i, k in enumerate(keys)}
            if len(keys[0]) > 1 and len({k[-1] for k in keys}) == 1:   # one variable: domains alone name rows
                lookup.update({k[0] if len(k) == 2 else k[:-1]: i for i, k in enumerate(keys)})
            vec = np.zeros(len(keys))
            for key, value in c.items():
                if key not in lookup:
                    raise ValueError(f"contrast {name!r}: no estimate {key!r} in the table")
                vec[lookup[key]] = value
        else:
            vec = np.asarray(c, dtype=float)
            if vec.shape != (len(keys),):
                raise ValueError(f"contrast {name!r} needs {len(keys)} coefficients, got {vec.shape}")
        names.append(name)
        rows.append(vec)
    K = np.vstack(rows)
    value = K @ est
    se = np.sqrt(np.einsum("ij,jk,ik->i", K, v.to_numpy(), K))
    low, high = confint(value, se, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = value / se
    return pd.DataFrame({"contrast": names, "estimate": value, "se": se, "ci_low": low, "ci_high": high, "z": z,
                         "p": 2 * stats.norm.sf(np.abs(z))})


def compare(result: pd.DataFrame, *, variable: str | None = None, level: float = 0.95, seed: int = 1) -> pd.DataFrame:
    """Every pair of domains for one variable: difference, SE from the full covariance, z, raw p,
    Holm and Benjamini–Hochberg adjusted p and the simultaneous (max-t, single-step) interval —
    :func:`satisfaction.ranking.pairwise` on this table's estimates and covariance (checked against
    ``svycontrast`` + ``p.adjust`` + ``multcomp::glht``)."""
    from ..ranking import pairwise

    cov = result.attrs.get("vcov")
    if not isinstance(cov, Covariance):
        raise ValueError("this table carries no covariance: pass the table an estimator returned")
    part = result
    if "variable" in result.columns:
        names = pd.unique(result["variable"])
        if variable is None and len(names) > 1:
            raise ValueError(f"the table holds several variables {list(names)}: choose one with variable=")
        part = result[result["variable"] == (variable if variable is not None else names[0])]
    domain_cols = [c for c in cov.key_columns if c != "variable"]
    labels = part[domain_cols[0]].tolist() if len(domain_cols) == 1 else list(part[domain_cols].itertuples(index=False, name=None))
    return pairwise(part["estimate"].to_numpy(), vcov(part).to_numpy(), level=level, names=labels, seed=seed)


def _domains(design: SurveyDesign, by) -> tuple[np.ndarray, pd.DataFrame, int]:
    """Domain codes, the domains' keys, and how many domains to compute: rows whose ``by`` value
    is missing belong to no published domain (as in ``svyby``) — they get one extra code, computed
    alongside and dropped, so that the design's strata and PSUs stay whole."""
    codes, keys = design.domains(by)
    D = len(keys)
    if (codes < 0).any():
        return np.where(codes < 0, D, codes), keys, D + 1
    return codes, keys, D


def _values(design: SurveyDesign, columns) -> tuple[list[str], np.ndarray]:
    cols = [columns] if isinstance(columns, str) else list(columns)
    y = design.data[cols].to_numpy(dtype=float)
    return cols, y


#: Influence values are built for this many (respondent × estimate) cells at a time.
CHUNK_CELLS = 20_000_000


def _point_parts(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None,
                 srs: bool = True):
    """Point estimates (D × p), respondents used, the SRS variance (for deff; ``None`` unless
    ``srs``) and the pieces the influence values need."""
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
        srs_var = None
        if srs:
            # weighted variance with the n/(n−1) correction, for the design effect (R's svyvar)
            dev2 = onehot @ (a * (yf - mean[domain]) ** 2)
            s2 = dev2 / a_sum * n_obs / (n_obs - 1)
            srs_var = s2 * (a_sum - n_obs) / (a_sum * n_obs)
            if kind == "total":
                srs_var = srs_var * a_sum ** 2
    parts = {"a": a, "yf": yf, "xf": xf, "est": est, "a_sum": a_sum, "ax_sum": ax_sum}
    return est, n_obs, srs_var, parts


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


def _linearized_var(design: SurveyDesign, parts, domain: np.ndarray, n_domains: int, kind: str):
    """Linearised variances (D × p), building the influence values a few domains at a time, and
    the deviation matrix ``D`` (sparse, all domains) from which any covariance follows."""
    p = parts["yf"].shape[1]
    step = max(1, CHUNK_CELLS // max(1, design.n * p))
    var = np.empty((n_domains, p))
    blocks = []
    for start in range(0, n_domains, step):
        chunk = np.arange(start, min(n_domains, start + step))
        dev = design.linearized_deviations(_influence(parts, domain, chunk, kind))
        var[chunk] = np.einsum("ij,ij->j", dev, dev).reshape(len(chunk), p)
        blocks.append(sparse.csc_matrix(dev))
    return var, sparse.hstack(blocks, format="csc")


def _replicate_estimates(design: SurveyDesign, y: np.ndarray, domain: np.ndarray, n_domains: int, kind: str, x=None):
    """Replicate estimates, B × D × p: per block of replicate weights and per domain in it, one
    matrix product over all replicates (numerators and denominators together, BLAS on one thread:
    the products are thin; blocks of a replicate store on a few threads at once)."""
    from .store import blas_threads

    rep = design.require_replicates()
    ok = ~np.isnan(y) if x is None else ~(np.isnan(y) | np.isnan(x))
    yf = np.where(ok, y, 0.0)
    base = ok if kind == "mean" else (np.where(ok, x, 0.0) if kind == "ratio" else None)
    B, p = rep.n_replicates, y.shape[1]
    q = p if base is None else 2 * p

    def sums_of(rows, w):
        dom = domain[rows]
        values = yf[rows] if base is None else np.hstack([yf[rows], base[rows]], dtype=float)
        present = np.unique(dom)
        if len(present) == 1:
            return [(present[0], values.T @ w)]
        return [(d, values[dom == d].T @ w[dom == d]) for d in present]

    sums = np.zeros((n_domains, q, B))
    with blas_threads():
        for part in rep.map_blocks(sums_of):
            for d, s in part:
                sums[d] += s
    num, den = sums[:, :p], sums[:, p:]
    if kind == "total":
        out = num
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / den
    return np.moveaxis(out, 2, 0)


def replicate_means(design: SurveyDesign, values, *, by=None) -> tuple[np.ndarray, pd.DataFrame]:
    """Weighted means of ``values`` (n × p, NaN where a respondent has no value) in every replicate
    of ``design``, per domain of ``by``: ``θ_b[d, j] = Σ_{i∈d} W_ib y_ij / Σ_{i∈d} W_ib`` over the
    respondents with a value. Returns ``(B × D × p, the domains' keys)`` — the replicate estimates
    :func:`mean` combines into its SE, for consumers that need the distribution itself."""
    y = np.asarray(values, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    domain, by_frame, n_all = _domains(design, by)
    return _replicate_estimates(design, y, domain, n_all, "mean")[:, :len(by_frame)], by_frame


def _frame(by_frame, names, est, var, n_obs, level, deff=None) -> pd.DataFrame:
    D, p = est.shape
    se = np.sqrt(var)
    low, high = confint(est, se, level)
    frame = pd.DataFrame({
        "variable": np.tile(names, D),
        "estimate": est.ravel(), "se": se.ravel(),
        "ci_low": low.ravel(), "ci_high": high.ravel(),
        "n": n_obs.ravel().astype(int),
    })
    if deff is not None:
        frame["deff"] = deff.ravel()
    if len(by_frame.columns):
        keys = by_frame.loc[by_frame.index.repeat(p)].reset_index(drop=True)
        frame = pd.concat([keys, frame], axis=1)
    return frame


def _attach(frame: pd.DataFrame, by_frame: pd.DataFrame, compute) -> pd.DataFrame:
    key_columns = list(by_frame.columns) + ["variable"]
    compute, block = compute if isinstance(compute, tuple) else (compute, None)
    frame.attrs["vcov"] = Covariance(key_columns, _row_keys(frame, key_columns), compute, block)
    return frame


def _covariance_from(design: SurveyDesign, method: str, kept, center=None):
    """Functions computing the full covariance, and that of some estimates, from what the
    estimator kept."""
    if method == "linearization":
        return (lambda: (kept.T @ kept).toarray(),
                lambda pos: (kept[:, pos].T @ kept[:, pos]).toarray())
    rep = design.require_replicates()

    def block(pos=slice(None)):
        return replicate_variance(kept[:, pos], None if center is None else center[pos], scale=rep.scale,
                                  rscales=rep.rscales, mse=rep.mse, full=True, warn=False)

    return block, block


def _estimate(design: SurveyDesign, y, cols, kind, by, method, level, x=None) -> pd.DataFrame:
    method = design.method(method)
    domain, by_frame, n_all = _domains(design, by)
    D = len(by_frame)
    est, n_obs, srs, parts = _point_parts(design, y, domain, n_all, kind, x)
    est, n_obs, srs = est[:D], n_obs[:D], srs[:D]
    if method == "linearization":
        var, kept = _linearized_var(design, parts, domain, D, kind)
        center = None
    else:
        thetas = _replicate_estimates(design, y, domain, n_all, kind, x)[:, :D]
        kept, center = thetas.reshape(thetas.shape[0], -1), est.ravel()
        var = design.replicate_variance(kept, center).reshape(est.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = var / srs
    frame = _frame(by_frame, cols, est, var, n_obs, level, deff)
    return _attach(frame, by_frame, _covariance_from(design, method, kept, center))


@renamed(ci="level")
def mean(design: SurveyDesign, column, *, by=None, method: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Weighted mean of one or more columns (``survey::svymean`` / ``svyby(…, svymean)``)."""
    cols, y = _values(design, column)
    return _estimate(design, y, cols, "mean", by, method, level)


@renamed(ci="level")
def total(design: SurveyDesign, column, *, by=None, method: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Weighted total (``survey::svytotal``)."""
    cols, y = _values(design, column)
    return _estimate(design, y, cols, "total", by, method, level)


@renamed(ci="level")
def ratio(design: SurveyDesign, numerator: str, denominator: str, *, by=None, method: str | None = None,
          level: float = 0.95) -> pd.DataFrame:
    """Ratio of totals ``Σ w y / Σ w x`` (``survey::svyratio``); ``deff`` is not defined (NaN)."""
    y = design.data[[numerator]].to_numpy(dtype=float)
    x = design.data[[denominator]].to_numpy(dtype=float)
    out = _estimate(design, y, [f"{numerator}/{denominator}"], "ratio", by, method, level, x=x)
    out["deff"] = np.nan
    return out


@renamed(ci="level")
def proportion(design: SurveyDesign, column, *, by=None, at_least: float | None = None, category=None,
               method: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Share of respondents whose answer is ``>= at_least`` (e.g. 4 on a 5-point scale, the "满意率"),
    or equal to ``category``; NaN answers are left out. Same as ``svymean(~I(x >= 4), na.rm=TRUE)``,
    with Wald intervals; :func:`satisfaction.survey.proportion.ciprop` gives ``svyciprop``'s."""
    if (at_least is None) == (category is None):
        raise ValueError("give exactly one of at_least= or category=")
    cols, y = _values(design, column)
    with np.errstate(invalid="ignore"):
        ind = np.where(np.isnan(y), np.nan, (y >= at_least) if at_least is not None else (y == category)).astype(float)
    rule = f">={at_least:g}" if at_least is not None else f"=={category}"
    return _estimate(design, ind, [f"{c}{rule}" for c in cols], "mean", by, method, level)


@renamed(ci="level")
def linear_combination(design: SurveyDesign, columns, coefficients, *, by=None,
                       method: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Linear combinations ``Σ_j c_kj ȳ_j`` of domain means, with SEs from the combined influence
    values (or replicates) — e.g. the index and its indicators as weighted sums of item means.

    ``coefficients`` is a DataFrame with one row per combination (its index names it) and one
    column per item, or a function that receives a boolean Series (which items have answers in a
    domain) and returns that DataFrame, for rules that re-normalise over the answered items.
    """
    method = design.method(method)
    cols, y = _values(design, columns)
    domain, by_frame, n_all = _domains(design, by)
    D, p = len(by_frame), len(cols)
    est, n_obs, _, parts = _point_parts(design, y, domain, n_all, "mean", srs=False)
    est, n_obs = est[:D], n_obs[:D]
    if callable(coefficients):
        # the rule depends only on which items have answers: built once per pattern (most domains
        # answered every item), not once per domain
        rule, by_pattern = coefficients, {}

        def coefficients(answered: np.ndarray) -> pd.DataFrame:
            key = answered.tobytes()
            if key not in by_pattern:
                by_pattern[key] = rule(pd.Series(answered, index=cols))
            return by_pattern[key]

        frames = [coefficients(n_obs[d] > 0) for d in range(D)]
    else:
        frames = [coefficients] * D
    names = list(frames[0].index)
    k = len(names)
    matrices = {id(f): np.nan_to_num(f.reindex(index=names, columns=cols).to_numpy(dtype=float)) for f in frames}
    coef_d = np.stack([matrices[id(f)] for f in frames])
    comb = np.einsum("dkp,dp->dk", coef_d, np.nan_to_num(est))
    center = None
    if method == "linearization":
        var = np.empty((D, k))
        blocks = []
        step = max(1, CHUNK_CELLS // max(1, design.n * p))
        for start in range(0, D, step):  # a few domains at a time: their items' influences, combined
            chunk = np.arange(start, min(D, start + step))
            z = _influence(parts, domain, chunk, "mean")
            zc = np.hstack([z[:, i * p:(i + 1) * p] @ coef_d[d].T for i, d in enumerate(chunk)])
            dev = design.linearized_deviations(zc)
            var[chunk] = np.einsum("ij,ij->j", dev, dev).reshape(len(chunk), k)
            blocks.append(sparse.csc_matrix(dev))
        kept = sparse.hstack(blocks, format="csc")
    else:
        thetas = _replicate_estimates(design, y, domain, n_all, "mean")[:, :D]       # B × D × p
        reps = np.einsum("dkp,bdp->bdk", coef_d, np.nan_to_num(thetas))
        kept, center = reps.reshape(reps.shape[0], D * k), comb.ravel()
        var = design.replicate_variance(kept, center).reshape(D, k)
    n_used = np.repeat(n_obs.max(axis=1, keepdims=True), k, axis=1)
    frame = _frame(by_frame, names, comb, var, n_used, level)
    return _attach(frame, by_frame, _covariance_from(design, method, kept, center))


# ---- planning ---------------------------------------------------------------------------------------


@renamed(confidence="level")
def sample_size(margin: float = 0.05, *, level: float = 0.95, p: float = 0.5, deff: float = 1.4,
                population: float | None = None) -> int:
    """Interviews needed for a proportion's margin of error: ``⌈z² p(1−p) deff / e²⌉``, with the
    finite-population correction ``n / (1 + (n − 1)/N)`` when ``population`` is given.

    >>> sample_size(0.05, deff=1.4)
    538
    """
    if not 0 < margin < 1 or not 0 < p < 1 or deff <= 0:
        raise ValueError("need 0 < margin < 1, 0 < p < 1 and deff > 0")
    z = critical_value(level)
    n = z ** 2 * p * (1 - p) * deff / margin ** 2
    if population is not None:
        n = n / (1 + (n - 1) / population)
    return int(math.ceil(n - 1e-9))


@renamed(confidence="level")
def margin_of_error(n: float, *, level: float = 0.95, p: float = 0.5, deff: float = 1.4,
                    population: float | None = None) -> float:
    """Half-width of the confidence interval of a proportion from ``n`` interviews:
    ``z · √(deff · p(1−p)/n · (1 − n/N))``."""
    if n <= 0:
        raise ValueError("n must be positive")
    fpc = 1.0 if population is None else max(0.0, 1 - n / population)
    return critical_value(level) * math.sqrt(deff * p * (1 - p) / n * fpc)
