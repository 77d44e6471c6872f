"""Quantiles and medians of survey data with their confidence intervals, as R survey 4.1's
``svyquantile`` (the implementation in ``R/newsvyquantile.R`` and ``R/qrule.R``).

**The estimate** ``q̂_p`` is a quantile of the weighted empirical distribution of the respondents who
answered (R's ``na.rm=TRUE``), computed by a *quantile rule* (``qrule=``). With the answers sorted,
``x₍₁₎ ≤ … ≤ x₍ₙ₎``, their weights ``w₍ᵢ₎`` (zero weights left out), ``C_k = Σ_{i≤k} w₍ᵢ₎`` and
``S = C_n``; ``k`` the last position with ``C_k ≤ pS`` (1 if none), ``lo = x₍ₖ₎``, ``hi = x₍ₖ₊₁₎``,
``w_lo = p − C_k/S``, ``w_hi = C_{k+1}/S − p``:

* ``"math"`` (= ``"hf1"``, the inverse of the weighted CDF): ``lo`` if ``w_lo = 0`` else ``hi``;
* ``"school"`` (= ``"hf2"``): ``(lo + hi)/2`` if ``w_lo = 0`` else ``hi``;
* ``"hf3"``: on the distinct values, ``lo`` if ``w_lo = 0`` and k is even, else ``hi``;
* ``"hf4"``: ``lo(1 − γ) + hi·γ``, ``γ = w_lo/(w_lo + w_hi)``;
* ``"hf5"`` … ``"hf9"``: linear interpolation of ``x₍ᵢ₎`` against the plotting positions
  ``(C_i − w_i/2)/S`` (hf5), ``C_i/(S + w_n)`` (hf6), ``C_{i−1}/C_{n−1}`` (hf7),
  ``(C_{i−1}/3 + 2C_i/3)/(S + w_n/3)`` (hf8), ``(3C_{i−1}/8 + 5C_i/8)/(S + w_n/4)`` (hf9).

These are the weighted versions of Hyndman & Fan's (1996) types 1–9. The rules are evaluated for
many weight vectors at once (domains, replicates) on an n × m matrix. Ties — ``C_k = pS`` exactly,
common with equal weights — are decided by floating-point arithmetic, in R as here; we repeat R's
(sums and cumulative sums in extended precision, in R's order; ``rowsum`` for hf3; ``approx``'s
formula) so that they fall on the same side.

**Intervals** (``interval=``), with ``α = 1 − level``, ``t = critical_value(level, df)`` and
``df = degf(design)`` by default (per domain: PSUs minus strata among the domain's respondents, or
the rank of their replicate weights minus one — what ``svyby`` hands ``svyquantile``; ``df=np.inf``
gives the normal quantile):

* Woodruff (1952) — ``"mean"``, ``"beta"``, ``"xlogit"``, ``"asin"``: estimate the CDF at the
  quantile, ``F̂ = F̂(q̂_p) = Σ_{x ≤ q̂} w / Σ w`` with its design-based SE (the ``svymean`` of the
  indicator: linearisation or replicates), form an interval ``[p_L, p_U]`` for it and map it back
  through the same quantile rule: ``[Q(p_L), Q(p_U)]`` (NaN where ``p_L < 0`` or ``p_U > 1``).
  ``"mean"``: ``F̂ ± t·se``; ``"xlogit"``: ``expit(logit F̂ ± t·se/(F̂(1−F̂)))``; ``"asin"``:
  ``sin²(asin √F̂ ± t·se/(2√(F̂(1−F̂))))``; ``"beta"`` (Korn & Graubard 1998): ``n* = F̂(1−F̂)/se²``
  scaled by ``(t_{n−1}/t_{degf})²`` (n the domain's respondents), then
  ``[Beta⁻¹(α/2; n*F̂, n*(1−F̂)+1), Beta⁻¹(1−α/2; n*F̂+1, n*(1−F̂))]``.
* ``"score"`` (linearisation only; Francisco & Fuller 1991): the θ where the score statistic
  ``(p − F̂(θ))/se(F̂(θ))`` equals ``±t``, found as R's ``uniroot`` finds it (Brent's method, the
  same iterates) on ``[min x + IQR/100, max x − IQR/100]`` with tolerance ``1/(100√n)``; each root
  is mapped back to the data as ``Q(F̂(root))``.
* ``"quantile"`` (replicate designs only): the quantile recomputed with every replicate's weights,
  ``se² = svrVar(q̂_b)``, interval ``q̂ ± t·se``. R warns that jackknife replicates may not give
  valid SEs for quantiles; so do we (:class:`QuantileWarning`).

``se`` is what R reports: for the Woodruff and score intervals the interval's width over ``2t``
(Francisco & Fuller 1991), for ``"quantile"`` the replicate SE.

Where we differ from R survey 4.1.1, on purpose:

* ``p`` below the first weight share (``C_1 > pS``; e.g. ``p = 0``, or the lower end of a Woodruff
  interval in a small domain): ``"math"``/``"school"`` give the smallest value; 4.1.1 falls back
  to position 1 with ``w_lo < 0`` and so returns the *second* smallest (survey 4.2 fixed it).
* replicate designs honour ``interval="beta"|"xlogit"|"asin"``; 4.1.1 silently uses ``"mean"``
  (fixed in survey 4.5).
* ``"score"`` maps the roots back with the *weighted* CDF; 4.1.1's ``ffullerCI`` uses the
  unweighted ``mean(x <= root)`` under the weighted rule, which with unequal weights returns a
  data value away from the root (apistrat's 10th percentile: root 477.0, R's bound 485). With
  equal weights both agree (up to how ties fall).
* a score root that cannot be bracketed gives a NaN bound with a warning (R stops with an error).
* several variables are handled one at a time, each over its own respondents (R's ``na.rm=TRUE``
  drops a row missing any of the variables).
* ``qrule="shahvaish"`` is not offered: R's version mixes normalised and raw weights
  (``(Σ w̄ + 0.5 − w/2)/(n+1)``), which gives non-monotone positions with unequal weights.

References: Woodruff, R.S. (1952) JASA 47, 635–646; Francisco, C.A. & Fuller, W.A. (1991) Ann.
Statist. 19, 454–469; Korn, E.L. & Graubard, B.I. (1998) Survey Methodology 24, 193–201; Hyndman,
R.J. & Fan, Y. (1996) Amer. Statist. 50, 361–365; Dorfman, A. & Valliant, R. (1993) Proc. Survey
Research Methods Section, ASA; Lumley, T. (2010) *Complex Surveys*, §2.4; Brent, R.P. (1973)
*Algorithms for Minimization without Derivatives* (R's ``zeroin``); R ``survey::svyquantile``,
``svyby``.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .design import SurveyDesign
from ..errors import SatisfactionError
from .variance import confint, critical_value

__all__ = ["QRULES", "INTERVALS", "QuantileError", "QuantileWarning", "quantile", "median"]

#: Quantile rules (R's ``qrule=``); ``hf1``/``hf2`` are the same rules as ``math``/``school``.
QRULES = ("math", "school", "hf1", "hf2", "hf3", "hf4", "hf5", "hf6", "hf7", "hf8", "hf9")

#: Interval types by variance method (R's ``interval.type=`` for ``survey.design`` / ``svyrep.design``).
INTERVALS = {"linearization": ("mean", "beta", "xlogit", "asin", "score"),
             "replicate": ("mean", "beta", "xlogit", "asin", "quantile")}


class QuantileError(SatisfactionError):
    """Arguments that do not define a survey quantile (the message names the argument and the rule)."""


class QuantileWarning(UserWarning):
    """A quantile's interval could not be computed as asked, or may not be valid."""


# ---- quantile rules, vectorised over weight columns ----------------------------------------------


def _cumsum(w: np.ndarray) -> np.ndarray:
    """Cumulative sums down the rows, accumulated in extended precision and rounded to double (R's
    ``cumsum``), so that ``C_k = p·S`` ties are decided as in R."""
    return np.cumsum(w, axis=0, dtype=np.longdouble).astype(float)


def _rsum(a: np.ndarray) -> np.ndarray:
    """Sums down the rows in row order, in extended precision (R's ``sum`` and ``colSums``)."""
    a = np.asarray(a, dtype=float)
    if a.shape[0] == 0:
        return np.zeros(a.shape[1:])
    return np.cumsum(a, axis=0, dtype=np.longdouble)[-1].astype(float)


def _gather(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return a[rows, np.arange(a.shape[1])]


def _approx(pk: np.ndarray, X: np.ndarray, nz: np.ndarray, v: np.ndarray) -> np.ndarray:
    """R's ``approx(pk, x, v, rule=2)`` per column, on the first ``nz`` rows of each column
    (``pk`` increasing): linear interpolation with R's arithmetic, the end values outside."""
    n, m = pk.shape
    valid = np.arange(n)[:, None] < nz[None, :]
    last = np.maximum(nz - 1, 0)
    count = ((pk <= v[None, :]) & valid).sum(axis=0)
    i = np.clip(count - 1, 0, np.maximum(nz - 2, 0))
    j = np.minimum(i + 1, last)
    pi, pj, xi, xj = _gather(pk, i), _gather(pk, j), _gather(X, i), _gather(X, j)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = xi + (xj - xi) * ((v - pi) / (pj - pi))
    out = np.where(v == pj, xj, np.where(v == pi, xi, inner))
    out = np.where(v < _gather(pk, np.zeros(m, dtype=np.int64)), X[0], out)
    out = np.where(v > _gather(pk, last), _gather(X, last), out)
    out = np.where(nz == 1, X[0], out)
    return np.where(nz == 0, np.nan, out)


def _qs(X: np.ndarray, cumw: np.ndarray, nz: np.ndarray, p: np.ndarray, S: np.ndarray):
    """R's ``qs``: the order statistics either side of the p-th quantile and the weight gaps."""
    n, m = cumw.shape
    valid = np.arange(n)[:, None] < nz[None, :]
    last = np.maximum(nz - 1, 0)
    count = ((cumw <= p * S) & valid).sum(axis=0)
    pos = np.maximum(count, 1) - 1
    nxt = np.minimum(pos + 1, last)
    c_lo, c_hi = _gather(cumw, pos), _gather(cumw, nxt)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _gather(X, pos), _gather(X, nxt), pos, p - c_lo / S, c_hi / S - p, count == 0


def _compress(X: np.ndarray, W: np.ndarray, keep: np.ndarray):
    """Move the rows to keep to the top of each column (order kept); returns X, W and the counts."""
    if keep.all():
        return X, W, np.full(W.shape[1], W.shape[0])
    order = np.argsort(~keep, axis=0, kind="stable")
    return (np.take_along_axis(X, order, axis=0), np.take_along_axis(W, order, axis=0) * 1.0,
            keep.sum(axis=0))


def _apply_rule(rule: str, xs: np.ndarray, W: np.ndarray, p, totals=None) -> np.ndarray:
    """Quantiles of the sorted values ``xs`` (n) under each weight column of ``W`` (n × m, rows in
    the order of ``xs``). ``p``: one probability, one per column (m), or k × m / k × 1 (k
    probabilities for every column: the sorting and cumulating is done once); returns m values,
    or k × m. ``totals``: the weight totals as R sums them (in the data's order)."""
    W = np.asarray(W, dtype=float)
    if W.ndim == 1:
        W = W[:, None]
    n, m = W.shape
    p = np.asarray(p, dtype=float)
    P = np.broadcast_to(p if p.ndim == 2 else np.atleast_1d(p)[None, :], (p.shape[0] if p.ndim == 2 else 1, m))
    if n == 0:
        out = np.full(P.shape, np.nan)
        return out if p.ndim == 2 else out[0]
    S = np.broadcast_to(_rsum(W) if totals is None else np.asarray(totals, float), (m,))
    X = np.broadcast_to(np.asarray(xs, dtype=float)[:, None], (n, m))
    X, W, nz = _compress(X, W, W != 0)       # R drops zero weights first
    X = np.ascontiguousarray(X)
    empty = nz == 0
    if rule == "hf3":
        final = _hf3(X, W, nz)
    elif rule in ("math", "hf1", "school", "hf2", "hf4"):
        cumw = _cumsum(W)

        def final(prob):
            lo, hi, _, w_lo, w_hi, below = _qs(X, cumw, nz, prob, S)
            if rule in ("math", "hf1"):
                return np.where(below | (w_lo == 0), lo, hi)
            if rule in ("school", "hf2"):
                return np.where(below, lo, np.where(w_lo == 0, (lo + hi) / 2, hi))
            with np.errstate(invalid="ignore", divide="ignore"):
                gamma = w_lo / (w_hi + w_lo)
            return lo * (1 - gamma) + hi * gamma
    else:
        cumw = _cumsum(W)
        last = np.maximum(nz - 1, 0)
        total = _gather(cumw, last)               # these rules use cumw[n], not sum(w)
        w_n = _gather(W, last)
        prev = np.vstack([np.zeros((1, m)), cumw[:-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            if rule == "hf5":
                pk = (cumw - W / 2) / total
            elif rule == "hf6":
                pk = cumw / (total + w_n)
            elif rule == "hf7":
                pk = prev / _gather(cumw, np.maximum(nz - 2, 0))
            elif rule == "hf8":
                pk = (prev * 1 / 3 + cumw * 2 / 3) / (total + w_n / 3)
            elif rule == "hf9":
                pk = (prev * 3 / 8 + cumw * 5 / 8) / (total + w_n / 4)
            else:  # pragma: no cover - validated by the caller
                raise QuantileError(f"unknown qrule {rule!r}")

        def final(prob):
            return _approx(pk, X, nz, prob)
    out = np.stack([np.where(empty, np.nan, final(row)) for row in P])   # k probabilities
    return out if p.ndim == 2 else out[0]


def _hf3(X: np.ndarray, W: np.ndarray, nz: np.ndarray):
    """Hyndman–Fan type 3 on the distinct values: their weights summed as R's ``rowsum`` does (in
    double precision, in the data's order — ``np.bincount`` adds in input order), cumulated as
    ``cumsum``; ``lo`` when ``w_lo = 0`` and its position is even, else ``hi``. Returns the rule
    as a function of the probabilities."""
    n, m = W.shape
    rows = np.arange(n)[:, None]
    valid = rows < nz[None, :]
    starts = valid & np.vstack([np.ones((1, m), bool), X[1:] != X[:-1]])
    group = np.cumsum(starts, axis=0) - 1                      # distinct value's position, per column
    ids = (np.arange(m)[None, :] * n + group).ravel(order="F")
    keep = valid.ravel(order="F")
    sums = np.bincount(ids[keep], weights=W.ravel(order="F")[keep], minlength=n * m).reshape(m, n).T
    Xu, _, nu = _compress(X, W, starts)
    cum = _cumsum(sums)
    S = _gather(cum, np.maximum(nu - 1, 0))                   # qs sums the grouped weights

    def rule(prob):
        lo, hi, pos, w_lo, _, _ = _qs(Xu, cum, nu, prob, S)
        return np.where((w_lo == 0) & ((pos + 1) % 2 == 0), lo, hi)
    return rule


# ---- inputs ------------------------------------------------------------------------------------


def _check_inputs(design, columns, quantiles, interval, qrule, level, method):
    if not isinstance(design, SurveyDesign):
        raise QuantileError(f"design must be a SurveyDesign, got {type(design).__name__}")
    cols = design.numeric_columns(columns, "quantiles", QuantileError)
    probs = np.atleast_1d(np.asarray(quantiles, dtype=object))
    if probs.ndim != 1 or probs.size == 0:
        raise QuantileError(f"quantiles must be one or more probabilities in [0, 1], got {quantiles!r}")
    for q in probs:
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 <= float(q) <= 1:
            raise QuantileError(f"quantiles must be probabilities in [0, 1], got {q!r}")
    if qrule not in QRULES:
        raise QuantileError(f"qrule must be one of {', '.join(map(repr, QRULES))}, got {qrule!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        raise QuantileError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    method = design.method(method)
    allowed = INTERVALS[method]
    if interval not in allowed:
        other = [m for m, ok in INTERVALS.items() if interval in ok]
        hint = f" ({interval!r} is for {other[0]} variance)" if other else ""
        raise QuantileError(f"interval must be one of {', '.join(map(repr, allowed))} with {method} variance, "
                            f"got {interval!r}{hint}")
    return cols, probs.astype(float), method


def _domains(design: SurveyDesign, by) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code of every row (−1: a missing ``by`` value, in no domain, as ``svyby``) and the keys."""
    return design.domains(by, QuantileError)


def _degf(design: SurveyDesign, method: str, rows: np.ndarray, reps: np.ndarray | None) -> float:
    """R's ``degf`` of the design restricted to ``rows`` (the respondents of a domain): PSUs minus
    strata among them, or the rank of their replicate weights minus one (``qr(..., tol=1e-5)``)."""
    if method == "replicate":
        return float(_replicate_rank(reps[rows], design.weights[rows]) - 1)
    # (linearisation) R's degf.survey.design2
    inset = rows & (design.weights != 0)
    return float(len(np.unique(design._psu_codes[inset])) - len(np.unique(design._strata_codes[inset])))


def _replicate_rank(W: np.ndarray, w: np.ndarray) -> int:
    """Rank of replicate weights (rows × B), as ``qr(W, tol=1e-5)$rank``. Dividing each row by its
    full-sample weight and dropping repeated rows keeps the rank and leaves, for bootstrap and
    jackknife weights, one row per PSU; the rank is then read from the eigenvalues of the smaller
    Gram matrix (singular values above 1e-5 of the largest)."""
    if not W.size:
        return 0
    pos = w > 0
    U = np.unique(np.vstack([np.round(W[pos] / w[pos, None], 12), W[~pos]]), axis=0)
    gram = U @ U.T if U.shape[0] <= U.shape[1] else U.T @ U
    ev = np.linalg.eigvalsh(gram)
    return int((ev > 1e-10 * ev.max()).sum()) if ev.max() > 0 else 0


# ---- intervals ---------------------------------------------------------------------------------


def _crit(level: float, df: float) -> float:
    if np.isnan(df) or (np.isfinite(df) and df <= 0):
        return np.nan
    return critical_value(level, None if np.isinf(df) else df)


def _cdf_intervals(interval: str, F: np.ndarray, se: np.ndarray, level: float, df: float,
                   degf: float, nrow: float):
    """Interval ``[p_L, p_U]`` for the CDF at the quantile (R's ``woodruffCI``)."""
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        if interval == "mean":
            return confint(F, se, level, df)
        if interval == "xlogit":
            lo, hi = confint(np.log(F / (1 - F)), se / (F * (1 - F)), level, df)
            return 1 / (1 + np.exp(-lo)), 1 / (1 + np.exp(-hi))
        if interval == "asin":
            lo, hi = confint(np.arcsin(np.sqrt(F)), se / (2 * np.sqrt(F * (1 - F))), level, df)
            return np.sin(lo) ** 2, np.sin(hi) ** 2
        # beta (Korn & Graubard): R uses the design's degf here, whatever df= says
        n_eff = F * (1 - F) / se ** 2 * (_crit(level, nrow - 1) / _crit(level, degf)) ** 2
        lo = stats.beta.ppf(alpha / 2, n_eff * F, n_eff * (1 - F) + 1)
        hi = stats.beta.ppf(1 - alpha / 2, n_eff * F + 1, n_eff * (1 - F))
        return lo, hi


def _map_back(qrule: str, xs: np.ndarray, ws: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float):
    """Bounds ``Q(p_L)``, ``Q(p_U)``; NaN where ``p_L`` < 0 or ``p_U`` > 1 (or NaN), as R."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    ok_lo = np.isfinite(lo) & (lo >= 0)
    ok_hi = np.isfinite(hi) & (hi <= 1)
    k = len(lo)
    probs = np.concatenate([np.where(ok_lo, lo, 0.5), np.where(ok_hi, hi, 0.5)])
    vals = _apply_rule(qrule, xs, ws[:, None], probs[:, None], total)[:, 0]
    return np.where(ok_lo, vals[:k], np.nan), np.where(ok_hi, vals[k:], np.nan)


def _zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int = 1000) -> float:
    """Brent's root finder exactly as R's ``R_zeroin2`` (``uniroot``): the same iterates, so that
    on a step function it stops on the same side of the step as R."""
    eps = np.finfo(float).eps
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):  # Newton-like iterations, not data
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    warnings.warn("the score interval's root search did not converge", QuantileWarning, stacklevel=4)
    return b


def _r_quantile7(x: np.ndarray, prob: float) -> float:
    """R's ``quantile(x, prob)`` (type 7), arithmetic as R."""
    xs = np.sort(x)
    index = 1 + (len(xs) - 1) * prob
    lo, hi = math.floor(index), math.ceil(index)
    q = xs[lo - 1]
    h = index - lo
    if index > lo and xs[hi - 1] != q:
        q = (1 - h) * q + h * xs[hi - 1]
    return float(q)


def _score_interval(design, rows, y, xs, ws, p, qrule, level, df, nrow, label, S):
    """Francisco–Fuller score interval (R's ``ffullerCI``), roots mapped back by the weighted CDF."""
    a = np.where(rows, design.weights, 0.0)
    total = float(_rsum(a))
    yv = np.where(rows, y, 0.0)
    x = y[rows]
    q = _crit(level, df)

    def score(theta, limit):
        u = np.where(rows, (yv > theta) - (1 - p), 0.0)
        umean = float(_rsum(u * a / total))                          # svymean's arithmetic
        z = (u - umean) * a / total
        se = math.sqrt(float(design.linearized_variance(z[:, None], full=False)[0]))
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.float64(umean) / np.float64(se) - limit
        return float(np.clip(value, -np.finfo(float).max, np.finfo(float).max)) if not np.isnan(value) else value

    iqr = _r_quantile7(x, 0.75) - _r_quantile7(x, 0.25)
    lower, upper = float(x.min()) + iqr / 100, float(x.max()) - iqr / 100
    tol = 1 / (100 * math.sqrt(nrow))
    roots = []
    for limit in (q, -q):
        if not np.isfinite(limit) or lower >= upper:
            roots.append(np.nan)
            continue
        f_lo, f_hi = score(lower, limit), score(upper, limit)
        if np.isnan(f_lo) or np.isnan(f_hi) or np.sign(f_lo) * np.sign(f_hi) > 0:
            warnings.warn(f"{label}: the score statistic does not change sign between {lower:g} and {upper:g}; "
                          "this bound of the score interval is NaN (R stops with an error)",
                          QuantileWarning, stacklevel=3)
            roots.append(np.nan)
            continue
        roots.append(_zeroin(lambda t: score(t, limit), lower, upper, f_lo, f_hi, tol))
    x_data, w_data = y[rows], design.weights[rows]                  # the data's order, as R sums
    probs = [float(_rsum(np.where(x_data <= r, w_data, 0.0))) / S if np.isfinite(r) else np.nan for r in roots]
    return _map_back(qrule, xs, ws, np.array(probs[:1]), np.array(probs[1:]), S)


# ---- the estimator -------------------------------------------------------------------------------


def quantile(design: SurveyDesign, column, quantiles=(0.5,), *, by=None, interval: str = "mean",
             qrule: str = "math", level: float = 0.95, method: str | None = None, df: float | None = None
             ) -> pd.DataFrame:
    """Quantiles of one or more columns with confidence intervals, as R's
    ``svyquantile(~x, design, quantiles, ci=TRUE, na.rm=TRUE, interval.type=, qrule=, alpha=1-level,
    df=)`` (and ``svyby(~x, ~by, design, svyquantile, ...)`` with ``by=``).

    Parameters
    ----------
    design : SurveyDesign
    column : a column name or a list of them (numeric)
    quantiles : probabilities in [0, 1]
    by : column(s) defining domains
    interval : ``"mean"`` (Woodruff, default), ``"beta"``, ``"xlogit"``, ``"asin"``, and
        ``"score"`` (linearisation) or ``"quantile"`` (replicate designs) — see the module docstring
    qrule : ``"math"`` (default), ``"school"``, ``"hf1"`` … ``"hf9"``
    level : confidence level
    method : variance method, ``None`` (the design's: replicates if it has them), ``"linearization"``
        or ``"replicate"``
    df : degrees of freedom of the critical value; default R's ``degf`` of each domain's design;
        ``np.inf`` for the normal quantile

    Returns
    -------
    DataFrame with ``[by], variable, quantile, estimate, se, ci_low, ci_high, n`` (``n``: the
    respondents used: in the domain, answered, non-zero weight), one row per domain, variable and
    probability in that order.
    """
    cols, probs, method = _check_inputs(design, column, quantiles, interval, qrule, level, method)
    level = float(level)
    domain, keys = _domains(design, by)
    reps = None
    if method == "replicate":
        rep = design.require_replicates()
        reps = rep.materialize(design.n).weights
        if interval == "quantile" and rep.kind in ("jk1", "jkn"):
            warnings.warn("jackknife replicate weights may not give valid standard errors for quantiles "
                          "(as R warns)", QuantileWarning, stacklevel=2)
    w = design.weights
    nrow_all = design.n if (method == "linearization" and design.calibrations) else None
    records = []
    for d in range(len(keys)):          # a handful of domains
        for c in cols:
            y = design.data[c].to_numpy(dtype=float)
            rows = (domain == d) & ~np.isnan(y)
            used = rows & (w != 0)
            k = len(probs)
            est = se = low = high = np.full(k, np.nan)
            if used.any():
                est, se, low, high = _one(design, method, reps, rows, used, y, probs, interval, qrule, level, df,
                                          nrow_all if nrow_all is not None else int(rows.sum()),
                                          _label(keys, d, c))
            for i in range(k):
                records.append((d, c, probs[i], est[i], se[i], low[i], high[i], int(used.sum())))
    frame = pd.DataFrame(records, columns=["_d", "variable", "quantile", "estimate", "se", "ci_low", "ci_high", "n"])
    if len(keys.columns):
        frame = pd.concat([keys.iloc[frame["_d"].to_numpy()].reset_index(drop=True), frame], axis=1)
    return frame.drop(columns="_d")


def _label(keys: pd.DataFrame, d: int, column: str) -> str:
    if not len(keys.columns):
        return f"column {column!r}"
    where = ", ".join(f"{k}={v!r}" for k, v in keys.iloc[d].items())
    return f"column {column!r} ({where})"


def _one(design, method, reps, rows, used, y, probs, interval, qrule, level, df, nrow, label):
    """Estimates, SEs and intervals of one variable in one domain, for every probability."""
    x, w = y[used], design.weights[used]
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    S = float(_rsum(w))
    est = _apply_rule(qrule, xs, ws[:, None], probs[:, None], S)[:, 0]
    degf = _degf(design, method, rows, reps)
    df_used = degf if df is None else float(df)
    q = _crit(level, df_used)
    if interval == "quantile":
        W = reps[used]
        totals = _rsum(W)
        W = W[order]
        thetas = _apply_rule(qrule, xs, W, probs[:, None], totals).T                        # B × k
        se = np.sqrt(design.replicate_variance(thetas, est))
        low, high = est - q * se, est + q * se
        return est, se, low, high
    if interval == "score":
        low, high = np.empty(len(probs)), np.empty(len(probs))
        for i, p in enumerate(probs):
            low[i], high[i] = (v[0] for v in _score_interval(design, used, y, xs, ws, p, qrule, level,
                                                             df_used, nrow, f"{label}, quantile {p:g}", S))
        return est, (high - low) / (2 * q), low, high
    # Woodruff: the CDF at each estimate and its SE (svymean of the indicator)
    a = np.where(used, design.weights, 0.0)
    total = float(_rsum(a))
    ind = (np.where(used, y, np.inf)[:, None] <= est[None, :]).astype(float)      # n × k
    F = _rsum(ind * a[:, None] / total)
    if method == "linearization":
        z = (ind - F[None, :]) * a[:, None] / total
        var = design.linearized_variance(z, full=False)
    else:
        W = reps[used]
        thetas = (ind[used].T @ W / W.sum(axis=0)).T                                # B × k
        var = design.replicate_variance(thetas, F)
    p_lo, p_hi = _cdf_intervals(interval, F, np.sqrt(var), level, df_used, degf, nrow)
    low, high = _map_back(qrule, xs, ws, p_lo, p_hi, S)
    return est, (high - low) / (2 * q), low, high


def median(design: SurveyDesign, column, **kw) -> pd.DataFrame:
    """The median (``quantile(design, column, (0.5,), **kw)``; R: ``svyquantile(~x, design, 0.5)``)."""
    if "quantiles" in kw:
        raise QuantileError("median() is the 0.5 quantile; use quantile() for other probabilities")
    return quantile(design, column, (0.5,), **kw)
