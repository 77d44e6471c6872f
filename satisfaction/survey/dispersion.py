"""Population variance (and covariance) estimates from survey data, as R's ``survey::svyvar``.

With ``a_i = w_i`` for a respondent of the domain who answered and 0 otherwise, ``n`` the number of
those respondents (non-zero weight) and ``ȳ = Σ a y / Σ a``, the estimate of the population
variance uses Kish's ``n/(n−1)`` divisor, as ``svyvar``:

    σ̂² = n/(n−1) · Σ a (y − ȳ)² / Σ a,

and of a covariance ``n_jk/(n_jk−1) · Σ a (y_j − ȳ_j)(y_k − ȳ_k) / Σ a`` over the respondents who
answered both (with the means over those respondents).

Standard errors:

* linearisation — ``svyvar.survey.design`` computes σ̂² as the ``svymean`` of
  ``u = n/(n−1)·(y − ȳ)²`` (ȳ held fixed: its own estimation adds nothing to first order, since
  ``Σ a (y − ȳ) = 0``), so its influence values are ``z = a (u − σ̂²)/Σ a``, fed to the design's
  Taylor variance (:meth:`SurveyDesign.linearized_variance`);
* replicates — ``svyvar.svyrep.design``: σ̂²_b recomputed with each replicate's weights (its own
  mean ȳ_b, the same ``n``), combined by ``svrVar`` (:meth:`SurveyDesign.replicate_variance`), all
  replicates at once by matrix products.

Intervals are Wald intervals, ``σ̂² ± z·se`` (R's ``confint`` on a ``svystat``: normal quantile).

Missing answers: each variable uses the respondents who answered it (a domain: the design's strata
and PSUs stay whole). R's ``svyvar(na.rm=TRUE)`` counts the rows with missing answers in ``n`` (the
``n/(n−1)`` factor) and, for several variables, drops a row missing any of them; our ``n`` is the
respondents who answered, as ``svyvar`` on ``subset(design, !is.na(y))`` gives. Without missing
answers the two agree.

References: R ``survey::svyvar`` (``R/survey.R``, ``R/surveyrep.R``); Kish, L. (1965) *Survey
Sampling*; Lumley, T. (2010) *Complex Surveys*, §2.3; Wolter, K. (2007) *Introduction to Variance
Estimation*.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import sparse

from .design import SurveyDesign
from .store import blas_threads
from ..errors import SatisfactionError
from .variance import confint

__all__ = ["CovarianceFrame", "DispersionError", "var"]

#: Influence values are built for this many (respondent × estimate) cells at a time.
CHUNK_CELLS = 20_000_000


class DispersionError(SatisfactionError):
    """Arguments that do not define a survey variance (the message names the argument and the rule)."""


class CovarianceFrame(pd.DataFrame):
    """The estimated covariance matrix carried in ``var(...).attrs["cov"]``: a DataFrame, meant to
    be read, not changed. Copies of the table share it (``deepcopy`` returns it), and ``==``
    between two of them tests identity, so that pandas can concat or merge tables that carry one
    (it compares the tables' ``attrs``); operations on it give plain DataFrames."""

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other):
        if isinstance(other, CovarianceFrame):
            return self is other
        return super().__eq__(other)

    def __ne__(self, other):
        if isinstance(other, CovarianceFrame):
            return self is not other
        return super().__ne__(other)

    __hash__ = None


def _inputs(design, columns, by, level):
    if not isinstance(design, SurveyDesign):
        raise DispersionError(f"design must be a SurveyDesign, got {type(design).__name__}")
    cols = design.numeric_columns(columns, "variances", DispersionError)
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        raise DispersionError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    codes, keys = design.domains(by, DispersionError)
    return cols, codes, keys


def var(design: SurveyDesign, columns, *, by=None, level: float = 0.95, method: str | None = None) -> pd.DataFrame:
    """Estimated population variance of each column, with its SE and Wald interval — R's
    ``svyvar(~y1 + y2, design)`` (and ``svyby(~y, ~by, design, svyvar)`` with ``by=``).

    Parameters
    ----------
    design : SurveyDesign
    columns : a column name or a list of them (numeric)
    by : column(s) defining domains
    level : confidence level of the interval
    method : variance method, ``None`` (the design's: replicates if it has them),
        ``"linearization"`` or ``"replicate"``

    Returns
    -------
    DataFrame ``[by], variable, estimate, se, ci_low, ci_high, n`` (one row per domain and
    variable); ``out.attrs["cov"]`` holds the estimated covariance matrix of the columns (a
    :class:`CovarianceFrame`, i.e. a DataFrame indexed by ``[by…], variable``, one column per
    variable).
    """
    cols, domain, keys = _inputs(design, columns, by, level)
    method = design.method(method)
    D, p = len(keys), len(cols)
    y = design.data[cols].to_numpy(dtype=float)
    ok = ~np.isnan(y) & (design.weights != 0)[:, None]
    yf = np.where(ok, y, 0.0)
    onehot = sparse.csr_matrix((np.ones(int((domain >= 0).sum())), (domain[domain >= 0], np.flatnonzero(domain >= 0))),
                               shape=(D, design.n))
    w = design.weights
    a = w[:, None] * ok                                               # n × p
    a_sum = onehot @ a                                                # D × p
    n_obs = onehot @ ok.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (onehot @ (a * yf)) / a_sum                            # D × p
        factor = n_obs / (n_obs - 1)
    dom = np.maximum(domain, 0)
    inside = (domain >= 0)[:, None] & ok
    dev = np.where(inside, yf - mean[dom], 0.0)                       # y − ȳ of the row's domain
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (onehot @ (a * dev * dev)) / a_sum * factor             # D × p

    if method == "linearization":
        variance = np.empty((D, p))
        step = max(1, CHUNK_CELLS // max(1, design.n * p))
        for start in range(0, D, step):                               # a few domains at a time
            chunk = np.arange(start, min(D, start + step))
            z = np.zeros((design.n, len(chunk) * p))
            for i, d in enumerate(chunk):
                rows = domain == d
                with np.errstate(invalid="ignore", divide="ignore"):
                    u = dev[rows] ** 2 * factor[d]
                    z[rows, i * p:(i + 1) * p] = np.nan_to_num(a[rows] * (u - est[d]) / a_sum[d])
            variance[chunk] = design.linearized_variance(z, full=False).reshape(len(chunk), p)
    else:
        thetas = _replicate_variances(design, y, ok, domain, D, mean, n_obs)   # B × D × p
        variance = design.replicate_variance(thetas.reshape(thetas.shape[0], -1), est.ravel()).reshape(D, p)
    se = np.sqrt(variance)
    low, high = confint(est, se, level)
    frame = pd.DataFrame({
        "variable": np.tile(cols, D), "estimate": est.ravel(), "se": se.ravel(),
        "ci_low": low.ravel(), "ci_high": high.ravel(), "n": n_obs.ravel().astype(int),
    })
    if len(keys.columns):
        frame = pd.concat([keys.loc[keys.index.repeat(p)].reset_index(drop=True), frame], axis=1)
    frame.attrs["cov"] = _covariances(design, y, ok, domain, keys, cols)
    return frame


def _replicate_variances(design, y, ok, domain, D, mean, n_obs) -> np.ndarray:
    """σ̂²_b for every replicate b, domain and variable (B × D × p), by matrix products over all
    replicates: with ``c = y − ȳ`` (the full-sample mean, for accuracy), ``S_b = Σ W_b``,
    ``m_b = Σ W_b c / S_b`` and ``σ̂²_b = n/(n−1) (Σ W_b c² / S_b − m_b²)``."""
    rep = design.require_replicates()
    n, p = y.shape
    B = rep.n_replicates
    dom = np.maximum(domain, 0)
    c = np.where(ok & (domain >= 0)[:, None], y - mean[dom], 0.0)
    s0 = np.zeros((D, p, B)); s1 = np.zeros((D, p, B)); s2 = np.zeros((D, p, B))
    with blas_threads():                       # thin products: one BLAS thread
        for rows, wb in rep.blocks():          # blocks of respondents, all replicates at once
            dm, okb, cb = domain[rows], ok[rows], c[rows]
            for d in np.unique(dm[dm >= 0]):   # the domains in this block (a handful)
                sel = dm == d
                o, cc, W = okb[sel].astype(float), cb[sel], wb[sel]
                s0[d] += o.T @ W
                s1[d] += cc.T @ W
                s2[d] += (cc * cc).T @ W
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / s0
        out = (s2 / s0 - m * m) * (n_obs / (n_obs - 1))[:, :, None]
    return np.moveaxis(out, 2, 0)


def _covariances(design, y, ok, domain, keys, cols) -> pd.DataFrame:
    """Estimated covariance matrices per domain, each pair over the respondents who answered both:
    ``n/(n−1) Σ a (y_j − ȳ_j)(y_k − ȳ_k) / Σ a``."""
    p = len(cols)
    blocks = []
    for d in range(len(keys)):                 # a handful of domains
        rows = domain == d
        o = ok[rows].astype(float)
        w = design.weights[rows]
        yy = np.where(ok[rows], y[rows], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = (w @ (o * yy)) / (w @ o)           # centre first, for accuracy
        c = np.where(ok[rows], yy - shift, 0.0)
        s0 = (o * w[:, None]).T @ o                    # Σ a over pair-complete rows
        s1 = (c * w[:, None]).T @ o                    # [j, k]: Σ a c_j over rows with both
        s2 = (c * w[:, None]).T @ c
        n_jk = o.T @ o
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = (s2 / s0 - (s1 / s0) * (s1 / s0).T) * n_jk / (n_jk - 1)
        blocks.append(cov)
    matrix = np.vstack(blocks) if blocks else np.empty((0, p))
    index_cols = list(keys.columns)
    if index_cols:
        idx = keys.loc[keys.index.repeat(p)].reset_index(drop=True)
        idx["variable"] = np.tile(cols, len(keys))
        index = pd.MultiIndex.from_frame(idx)
    else:
        index = pd.Index(cols, name="variable")
    return CovarianceFrame(matrix, index=index, columns=pd.Index(cols, name=None))
