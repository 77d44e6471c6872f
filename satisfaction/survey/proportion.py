"""Survey proportions with the confidence intervals of R's ``survey::svyciprop``, and the shares of
every category of a question at once (``svymean(~factor(x))``).

A proportion is the weighted mean of a 0/1 indicator — ``x ≥ at_least`` (the 满意率, e.g. 4 or 5
on a 5-point scale) or ``x == category`` — over the respondents who answered (R's ``na.rm=TRUE``:
they form a domain, so the design's strata and PSUs are kept whole). With ``a_i = w_i`` for a
respondent of the domain and 0 otherwise:

    p̂ = Σ a y / Σ a,      influence  z_i = a_i (y_i − p̂) / Σ a   (linearisation),

or, with replicate weights ``W`` (n × B), ``p̂_b = (Wᵀ a∘y)_b / (Wᵀ a)_b`` combined as ``svrVar``.
``se`` is the standard error of p̂ (R: ``SE(svyciprop(...))``, the ``svymean`` variance).

Intervals (``interval=``), as ``svyciprop`` in R survey 4.1.1 (``R/svyttest.R``) computes them,
with ``q = critical_value(level, df)`` and ``df = degf(design)`` (per domain, as ``svyby`` hands each
domain's design to ``svyciprop``; ``df=np.inf`` gives the normal quantile):

* ``"mean"``: ``p̂ ± q·se``.
* ``"xlogit"``: ``expit(logit p̂ ± q·se/(p̂(1−p̂)))`` (delta method, ``svycontrast``).
* ``"logit"``: ``expit(β̂ ± q·se_β)``, β̂ the intercept of ``svyglm(y ~ 1, family=quasibinomial)``
  and ``se_β`` its sandwich SE — by linearisation ``≈ se/(p̂(1−p̂))`` (then equal to ``xlogit``),
  with replicate weights the replicate SE of the refitted ``logit p̂_b``.
* ``"asin"``: ``sin²(asin √p̂ ± q·se/(2√(p̂(1−p̂))))``.
* ``"beta"`` (Korn & Graubard 1998): effective sample size ``n* = p̂(1−p̂)/se²``, scaled by
  ``(t_{n−1}/t_df)²`` (``n`` = R's ``nrow(design)``: the domain's rows, answered or not), then
  Clopper–Pearson with ``n*``: ``[B⁻¹(α/2; n*p̂, n*(1−p̂)+1), B⁻¹(1−α/2; n*p̂+1, n*(1−p̂))]``.
* ``"likelihood"``: the design-based profile likelihood interval of ``confint(svyglm, method=
  "likelihood")`` (the likelihood ratio scaled by the coefficient's design effect, Rao & Scott
  1984). With ``w̃`` the weights divided by their mean over the domain's rows, ``W̃ = Σ w̃``,
  ``ΔD(β) = 2 W̃ [p̂ log(μ̂/μ) + (1−p̂) log((1−μ̂)/(1−μ))]`` (μ = expit β), dispersion
  ``φ ≈ n/(n−1)`` (``svyvar`` of the Pearson residuals) and ``λ = se_β² · W̃ μ̂(1−μ̂)``
  (``cov.unscaled/naive.cov``), the interval is ``{β : ΔD(β)/φ ≤ q²λ}``, located as R locates it:
  ``MASS::profile.glm`` evaluates ``z(β) = ±√(ΔD/φ)`` at ``β̂ ± k·(z_max/5)·se_β`` (k = 1…9, until
  ``|z| ≥ z_max = t⁻¹(1 − α′/2; n−1)``, ``α′ = Φ(−q√λ)/2``); an FMM cubic spline through those
  points, evaluated at 3 × (number of points) equally spaced β, is interpolated linearly at
  ``z = ±q√λ`` (NaN where the profile does not reach, R's ``NA``).

``logit`` and ``likelihood`` go through R's fit, so its iterations are reproduced
(:func:`_glm_logit`: ``glm.fit``'s start, IRLS steps and stopping rule): the working weights of
its last step enter ``λ``, and at p̂ = 0 or 1 R's non-converged fit gives a point interval
``[≈1e-12, ≈1e-12]`` that we reproduce. ``estimate`` is always p̂ itself.

Where R gives no answer or a wrong one, we differ, and say so:

* ``likelihood`` at p̂ = 0 or 1: R stops ("profiling has found a better solution"); we give NaN
  (as R's ``xlogit``, ``asin`` and ``beta`` do there; ``mean`` gives ``[p̂, p̂]``).
* ``likelihood`` on replicate weights: ``summary.svrepglm`` in R 4.1.1 computes the dispersion
  with the weights normalised differently (≈ Σ w̃ ≈ n instead of ≈ 1), so the profile never
  reaches the cutoff and R returns ``NA`` (or stops, within ``svyby``). We use the dispersion of
  ``summary.svyglm``; the reference script checks this against R with that one function corrected.
* ``beta`` uses ``df`` when one is given; R's ``svyciprop`` ignores ``df`` for ``"beta"`` (always
  ``degf(design)``). The default is the same.

``deff`` is ``svymean``'s design effect: the variance over ``s² (N̂ − n)/(N̂ n)`` with
``s² = n/(n−1) · p̂(1−p̂)``.

References: Korn, E.L. & Graubard, B.I. (1998) Confidence intervals for proportions with small
expected number of positive counts estimated from survey data, *Survey Methodology* 24, 193–201;
Rao, J.N.K. & Scott, A.J. (1984) *Ann. Statist.* 12, 46–60; Lumley, T. (2010) *Complex Surveys*,
§2.3; R ``survey::svyciprop``, ``confint.svyglm``, ``svymean``, ``svyby``; Forsythe, Malcolm &
Moler (1977) *Computer Methods for Mathematical Computations* (the ``fmm`` spline of R's
``spline``).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .design import SurveyDesign
from ..errors import SatisfactionError
from .variance import confint, critical_value

__all__ = ["INTERVALS", "ProportionError", "ciprop", "categories"]

#: The interval methods of R's ``svyciprop``.
INTERVALS = ("logit", "likelihood", "asin", "beta", "mean", "xlogit")


class ProportionError(SatisfactionError):
    """Arguments that do not define a proportion (the message names the argument and the rule)."""


# ---- inputs -----------------------------------------------------------------------------------------


def _check_design(design) -> None:
    if not isinstance(design, SurveyDesign):
        raise ProportionError(f"design must be a SurveyDesign, got {type(design).__name__}")


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        raise ProportionError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def _column(design: SurveyDesign, column) -> pd.Series:
    if not isinstance(column, str):
        raise ProportionError(f"column must be one column name, got {column!r}")
    if column not in design.data.columns:
        raise ProportionError(f"no column {column!r} in the design's data")
    return design.data[column]


def _domains(design: SurveyDesign, by) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code of every row (−1: a missing ``by`` value, in no domain, as ``svyby``) and the keys."""
    return design.domains(by, ProportionError)


def _indicator(values: pd.Series, column: str, at_least, category) -> tuple[str, np.ndarray]:
    """The 0/1 indicator (NaN where the answer is missing) and its name."""
    if (at_least is None) == (category is None):
        raise ProportionError("give exactly one of at_least= (share answering at least this value) or "
                              "category= (share giving this answer)")
    missing = values.isna().to_numpy()
    if at_least is not None:
        if isinstance(at_least, bool) or not isinstance(at_least, numbers.Real) or not np.isfinite(at_least):
            raise ProportionError(f"at_least must be a finite number, got {at_least!r}")
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(numeric) & ~missing)
        if len(bad):
            raise ProportionError(f"at_least= needs numeric answers; column {column!r} row {int(bad[0])} has "
                                  f"{values.iloc[bad[0]]!r}")
        hit = numeric >= at_least
        name = f"{column}>={at_least:g}"
    else:
        hit = (values == category).to_numpy(dtype=bool, na_value=False)
        if not hit.any():
            seen = sorted(values.dropna().unique().tolist(), key=str)[:20]
            warnings.warn(f"no respondent answered {category!r} in column {column!r} (answers seen: {seen}); "
                          "its share is 0", UserWarning, stacklevel=3)
        name = f"{column}=={category}"
    return name, np.where(missing, np.nan, hit.astype(float))


def _category_levels(values: pd.Series) -> list:
    """The categories in R's ``factor(x)`` order: the observed values, in the order of a pandas
    categorical's categories, else sorted."""
    present = values.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        seen = set(present.unique().tolist())
        return [c for c in values.cat.categories if c in seen]
    return sorted(present.unique().tolist())


# ---- shares of cells (domain × answer) ----------------------------------------------------------------


class _Cells:
    """Weighted shares for C cells at once. ``member`` (n × C, sparse 0/1): the respondent answered
    and belongs to the cell's domain; ``hit`` (n × C): ... and gave the counted answer."""

    def __init__(self, design: SurveyDesign, member: sparse.csc_matrix, hit: sparse.csc_matrix):
        self.design, self.member, self.hit = design, member, hit
        w = design.weights
        self.wsum = member.T @ w                                    # Σ a
        with np.errstate(invalid="ignore", divide="ignore"):
            self.p = (hit.T @ w) / self.wsum
        self.n = member.T @ (w != 0).astype(float)                  # respondents with weight
        self.rows = np.asarray(member.sum(axis=0)).ravel()          # respondents, any weight
        self._thetas = None

    def influence(self) -> np.ndarray:
        """z (n × C): ``a (y − p̂)/Σ a`` inside the cell's domain, 0 elsewhere."""
        p = np.nan_to_num(self.p)
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(self.wsum > 0, 1.0 / self.wsum, 0.0)
        dev = (self.hit - self.member @ sparse.diags(p)) @ sparse.diags(inv)
        return np.asarray((sparse.diags(self.design.weights) @ dev).todense())

    def replicates(self) -> np.ndarray:
        """Replicate shares, B × C: one product of the n × C cell matrices with the n × B replicate
        weights (block by block when they are generated lazily)."""
        if self._thetas is not None:
            return self._thetas
        rep = self.design.require_replicates()
        num = np.zeros((self.member.shape[1], rep.n_replicates))
        den = np.zeros_like(num)
        member, hit = self.member.tocsr(), self.hit.tocsr()
        for rows, w in rep.blocks():
            num += hit[rows].T @ w
            den += member[rows].T @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            self._thetas = (num / den).T
        return self._thetas

    def variance(self, method: str, full: bool) -> np.ndarray:
        """Variance of the shares (C, or C × C with ``full``); NaN for a cell without respondents."""
        ok = self.wsum > 0
        if method == "linearization":
            v = self.design.linearized_variance(self.influence(), full=full)
        else:  # cells without respondents left out, so that they do not count as NA replicates
            thetas = self.replicates()
            v = np.full((len(ok), len(ok)) if full else len(ok), np.nan)
            part = self.design.replicate_variance(thetas[:, ok], self.p[ok], covariance=full)
            if full:
                v[np.ix_(ok, ok)] = part
            else:
                v[ok] = part
        if full:
            v[~ok, :] = np.nan
            v[:, ~ok] = np.nan
        else:
            v[~ok] = np.nan
        return v

    def deff(self, var: np.ndarray, method: str) -> np.ndarray:
        """``svymean``'s design effect: var / (s² (N̂ − n)/(N̂ n)), s² = n/(n−1) p̂(1−p̂); n counts
        the respondents with non-zero weight (``svydesign``) or all of them (``svrepdesign``)."""
        n = self.n if method == "linearization" else self.rows
        with np.errstate(invalid="ignore", divide="ignore"):
            srs = n / (n - 1) * self.p * (1 - self.p) * (self.wsum - n) / (self.wsum * n)
            return var / srs


def _cell_matrices(domain: np.ndarray, n_domains: int, answered: np.ndarray, hits: np.ndarray):
    """Sparse n × (D·K) membership and hit matrices; cell (d, k) is column d·K + k. ``answered``
    (n,) marks respondents with an answer; ``hits`` (n × K) the answers counted in each of K
    shares."""
    n, K = hits.shape
    rows = np.flatnonzero(answered & (domain >= 0))
    cols = (domain[rows][:, None] * K + np.arange(K)[None, :]).ravel()
    rr = np.repeat(rows, K)
    shape = (n, n_domains * K)
    member = sparse.csc_matrix((np.ones(len(rr)), (rr, cols)), shape=shape)
    hit = sparse.csc_matrix((hits[rows].ravel().astype(float), (rr, cols)), shape=shape)
    hit.eliminate_zeros()
    return member, hit


# ---- degrees of freedom and R's row counts per domain --------------------------------------------------


def _psu_strata(design: SurveyDesign) -> tuple[np.ndarray, np.ndarray]:
    n = design.n
    strata = pd.factorize(design.data[design.strata], sort=True)[0] if design.strata else np.zeros(n, np.int64)
    if design.cluster:
        key = pd.MultiIndex.from_arrays([strata, design.data[design.cluster].to_numpy()])
        psu = pd.factorize(key, sort=True)[0]
    else:
        psu = np.arange(n)
    return psu, strata


def _domain_degf(design: SurveyDesign, method: str, domain: np.ndarray, n_domains: int, by) -> np.ndarray:
    """R's ``degf`` of each domain's design, as ``svyby`` hands it to ``svyciprop``: PSUs minus strata
    among the domain's rows with non-zero weight (linearisation), or the rank of the domain's rows of
    the replicate weights minus one. Without ``by``: ``design.degf(method)``."""
    if by is None:
        return np.array([float(design.degf(method))])
    if method == "replicate":
        return np.array([_rank(rows) - 1 for rows in _distinct_replicate_rows(design, domain, n_domains)], float)
    psu, strata = _psu_strata(design)
    inset = (domain >= 0) & (design.weights != 0)
    d = domain[inset]
    n_psu = np.bincount(np.unique(np.stack([d, psu[inset]]), axis=1)[0], minlength=n_domains)
    n_strata = np.bincount(np.unique(np.stack([d, strata[inset]]), axis=1)[0], minlength=n_domains)
    return (n_psu - n_strata).astype(float)


def _distinct_replicate_rows(design: SurveyDesign, domain: np.ndarray, n_domains: int) -> list[np.ndarray]:
    """Per domain, its distinct rows of replicate weights, each scaled to a largest entry of 1
    (which leaves the rank unchanged). Unless the replicates were re-calibrated, the rows of one
    PSU are proportional, so a domain's thousands of respondents shrink to its PSUs. Read block by
    block, so that lazily generated replicates are never held whole."""
    rep = design.require_replicates()
    projection = np.cos(np.arange(rep.n_replicates) * 0.7 + 0.3)   # a fixed fingerprint of a row
    kept: list[list[np.ndarray]] = [[] for _ in range(n_domains)]
    for rows, w in rep.blocks():
        dom = domain[rows]
        top = np.abs(w).max(axis=1)
        use = (dom >= 0) & (top > 0)
        scaled = np.round(w[use] / top[use, None], 12)
        first = pd.DataFrame({"d": dom[use], "f": scaled @ projection}).drop_duplicates().index.to_numpy()
        for d in np.unique(dom[use][first]):
            kept[d].append(scaled[first[dom[use][first] == d]])
    out = []
    for parts in kept:
        rows = np.vstack(parts) if parts else np.zeros((0, rep.n_replicates))
        out.append(rows[np.unique(rows @ projection, return_index=True)[1]])
    return out


def _rank(rows: np.ndarray) -> int:
    """Rank with tolerance 1e-5 (R's ``degf``: ``qr(weights, tol = 1e-5)$rank``) of rows scaled to
    a largest entry of 1."""
    return int(np.linalg.matrix_rank(rows, tol=1e-5)) if len(rows) else 0


def _r_rows(design: SurveyDesign, method: str, domain: np.ndarray, n_domains: int):
    """What R's code sees of a domain's design: its number of rows (``nrow(design)``: the domain's
    rows, answered or not; all rows for a calibrated ``svydesign``, whose subsets keep every row
    with weight 0) and the sum of the weights of those rows."""
    inside = domain >= 0
    wrows = np.bincount(domain[inside], weights=design.weights[inside], minlength=n_domains)
    if method == "linearization" and design.calibrations:
        nrows = np.full(n_domains, float(design.n))
    else:
        nrows = np.bincount(domain[inside], minlength=n_domains).astype(float)
    return nrows, wrows


# ---- intervals ---------------------------------------------------------------------------------------


def _expit(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _crit(level: float, df: np.ndarray) -> np.ndarray:
    """``critical_value`` per cell (a handful of distinct df values)."""
    return np.array([critical_value(level, None if np.isinf(d) else d) if d > 0 or np.isinf(d) else np.nan
                     for d in df], dtype=float)


def _fmm_spline(x: np.ndarray, y: np.ndarray):
    """Coefficients of the Forsythe–Malcolm–Moler cubic spline (R's ``spline(method="fmm")``,
    ``fmm_spline`` in R's ``splines.c``): end conditions match the third derivatives of the cubics
    through the first and last four points. Written 1-based, as the original."""
    n = len(x)
    X, Y = np.r_[0.0, x], np.r_[0.0, y]
    b, c, d = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    if n < 3:
        b[1] = (Y[2] - Y[1]) / (X[2] - X[1])
        b[2] = b[1]
        return b[1:], c[1:], d[1:]
    nm1 = n - 1
    d[1] = X[2] - X[1]
    c[2] = (Y[2] - Y[1]) / d[1]
    for i in range(2, n):
        d[i] = X[i + 1] - X[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (Y[i + 1] - Y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[1], b[n] = -d[1], -d[nm1]
    c[1] = c[n] = 0.0
    if n > 3:
        c[1] = c[3] / (X[4] - X[2]) - c[2] / (X[3] - X[1])
        c[n] = c[nm1] / (X[n] - X[n - 2]) - c[n - 2] / (X[nm1] - X[n - 3])
        c[1] = c[1] * d[1] * d[1] / (X[4] - X[1])
        c[n] = -c[n] * d[nm1] * d[nm1] / (X[n] - X[n - 3])
    for i in range(2, n + 1):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[n] = c[n] / b[n]
    for i in range(nm1, 0, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[n] = (Y[n] - Y[n - 1]) / d[n - 1] + d[n - 1] * (c[n - 1] + 2.0 * c[n])
    for i in range(1, nm1 + 1):
        b[i] = (Y[i + 1] - Y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[n] = 3.0 * c[n]
    d[n] = d[nm1]
    return b[1:], c[1:], d[1:]


def _unique_mean(x: np.ndarray, y: np.ndarray):
    """R's ``regularize.values(x, y, ties=mean)``: sorted unique x, mean y per x."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inverse = np.unique(x, return_inverse=True)
    if len(ux) == len(x):
        return x, y
    return ux, np.bincount(inverse, weights=y) / np.bincount(inverse)


def r_spline(x, y, n: int | None = None):
    """R's ``spline(x, y, n = 3*length(x), method = "fmm")``: the spline through the points,
    evaluated at ``n`` equally spaced abscissae from ``min(x)`` to ``max(x)``. Returns ``(xout, yout)``."""
    x, y = _unique_mean(np.asarray(x, float), np.asarray(y, float))
    if n is None:
        n = 3 * len(x)
    xout = np.linspace(x[0], x[-1], n)
    if len(x) == 1:
        return xout, np.full(n, y[0])
    b, c, d = _fmm_spline(x, y)
    i = np.clip(np.searchsorted(x, xout, side="right") - 1, 0, len(x) - 1)
    dx = xout - x[i]
    return xout, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def _r_approx(x, y, xout) -> np.ndarray:
    """R's ``approx(x, y, xout)`` (linear, ``rule=1``: NaN outside the range, ties averaged)."""
    x, y = _unique_mean(np.asarray(x, float), np.asarray(y, float))
    xout = np.asarray(xout, float)
    if len(x) < 2:
        return np.full(xout.shape, np.nan)
    out = np.interp(xout, x, y)
    return np.where((xout < x[0]) | (xout > x[-1]) | np.isnan(xout), np.nan, out)


# ---- the quasibinomial intercept model behind "logit" and "likelihood" ----------------------------------

_THRESH, _EPS = 30.0, np.finfo(float).eps


def _linkinv(eta):
    """R's ``binomial()$linkinv`` for the logit link (clamped beyond |η| = 30)."""
    eta = np.asarray(eta, float)
    tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 / _EPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
    return tmp / (1 + tmp)


def _mu_eta(eta):
    """R's ``binomial()$mu.eta`` for the logit link: dμ/dη, ``DBL_EPSILON`` beyond |η| = 30."""
    eta = np.asarray(eta, float)
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    return np.where(np.abs(eta) > _THRESH, _EPS, e / (1 + e) ** 2)


def _deviance(y_sum, w_sum, mu):
    """Binomial deviance of 0/1 answers with fitted μ: ``2 Σ w (−y log μ − (1−y) log(1−μ))``, from
    ``Σ w y`` and ``Σ w``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * (y_sum * -np.log(mu) + (w_sum - y_sum) * -np.log1p(-mu))


def _glm_logit(y: np.ndarray, w: np.ndarray, maxit: int = 25, epsilon: float = 1e-8):
    """``glm.fit(y ~ 1, weights = w, family = quasibinomial)``, iteration by iteration (R's start
    ``μ = (w y + ½)/(w + 1)``, IRLS, stop when ``|ΔD|/(|D| + 0.1) < 1e-8``), so that the intercept,
    the working weights of the last iteration (``summary.glm``'s ``cov.unscaled`` is their inverse
    sum) and the fitted μ are R's, including the non-converged fit at p̂ = 0 or 1.

    Returns ``(β̂, μ̂, working weights)``."""
    y = np.where(w == 0, 0.0, y)
    y_sum, w_sum = float(w @ y), float(w.sum())
    mustart = (w * y + 0.5) / (w + 1)
    eta = np.log(mustart / (1 - mustart))
    mu = _linkinv(eta)
    dev_old = float(np.sum(np.where(y == 1, _deviance(w, w, mu), _deviance(0.0, w, mu))))
    for _ in range(maxit):  # Newton iterations, each vectorised over respondents
        me = _mu_eta(eta)
        good = (w > 0) & (me != 0)
        z = eta + (y - mu) / me
        ww = np.where(good, w * me ** 2 / (mu * (1 - mu)), 0.0)
        coef = float(np.sum(ww * np.where(good, z, 0.0)) / ww.sum())
        eta = np.full(len(y), coef)
        mu = _linkinv(eta)
        dev = float(_deviance(y_sum, w_sum, mu[0]))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            break
        dev_old = dev
    return coef, float(mu[0]), ww


def _replicate_logits(shares: np.ndarray, start: np.ndarray, maxit: int = 25, epsilon: float = 1e-8):
    """The replicate refits of ``svyglm`` on a replicate design (``glm.fit(..., weights = w_b/Σw_b,
    start = β̂)``), all replicates at once: with an intercept only, each IRLS step is
    ``η ← η + (p̂_b − μ)/μ′(η)``. ``shares`` is B × C, ``start`` C."""
    eta = np.broadcast_to(start, shares.shape).astype(float)
    mu = _linkinv(eta)
    dev_old = _deviance(shares, 1.0, mu)
    active = np.isfinite(shares)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(maxit):
            new = eta + (shares - mu) / _mu_eta(eta)
            new_mu = _linkinv(new)
            dev = _deviance(shares, 1.0, new_mu)
            eta, mu = np.where(active, new, eta), np.where(active, new_mu, mu)
            active &= ~(np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < epsilon)
            dev_old = np.where(active, dev, dev_old)
            if not active.any():
                break
    return np.where(np.isfinite(shares), eta, np.nan)


class _LogitFit:
    """``svyglm(y ~ 1, design, family = quasibinomial)`` for every cell: ``coef`` (β̂), ``mu``
    (expit β̂), ``var`` (``vcov``: sandwich by linearisation, replicate refits otherwise), ``info``
    (Σ working weights = 1/``naive.cov``), ``w_tilde`` (Σ of the weights normalised to mean 1 over
    the domain's rows, as ``svyglm`` rescales them)."""

    def __init__(self, design: SurveyDesign, method: str, cells: "_Cells", y: np.ndarray,
                 nrows: np.ndarray, wrows: np.ndarray):
        C = len(cells.p)
        w = design.weights
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = nrows / wrows
        self.w_tilde = cells.wsum * scale
        self.coef, self.mu, self.info = np.full(C, np.nan), np.full(C, np.nan), np.full(C, np.nan)
        member = cells.member.tocsc()
        z = np.zeros((design.n, C)) if method == "linearization" else None
        for c in range(C):  # one small IRLS per domain
            rows = member.indices[member.indptr[c]:member.indptr[c + 1]]
            if not len(rows) or not cells.wsum[c] > 0:
                continue
            coef, mu, ww = _glm_logit(y[rows], w[rows] * scale[c])
            self.coef[c], self.mu[c], self.info[c] = coef, mu, ww.sum()
            if z is not None:  # svy.varcoef: estimating function × inverse information
                z[rows, c] = (y[rows] - mu) / _mu_eta(coef) * ww / ww.sum()
        if z is not None:
            self.var = design.linearized_variance(z, full=False)
        else:
            ok = np.isfinite(self.coef)
            betas = _replicate_logits(cells.replicates()[:, ok], self.coef[ok])
            self.var = np.full(C, np.nan)
            self.var[ok] = design.replicate_variance(betas, self.coef[ok])


def _likelihood_interval(p: float, coef: float, mu: float, var_beta: float, info: float, w_tilde: float, phi: float,
                         n_model: float, df: float, level: float) -> tuple[float, float]:
    """``confint(svyglm(y ~ 1, quasibinomial), method = "likelihood", ddf = df)``, back-transformed:
    MASS's profile of the intercept with R survey's Rao–Scott scaling (see the module docstring)."""
    if not (df > 0) or not n_model >= 2 or not np.isfinite(var_beta) or not np.isfinite(phi) or not 0 < p < 1:
        return np.nan, np.nan  # at p̂ = 0 or 1 R stops ("profiling has found a better solution")
    with np.errstate(all="ignore"):
        return _profile(p, coef, mu, var_beta, info, w_tilde, phi, n_model, df, level)


def _profile(p, coef, mu, var_beta, info, w_tilde, phi, n_model, df, level):
    """MASS's profile points, R's spline through them, and the interpolated ends."""
    se = np.sqrt(var_beta)
    lam = var_beta * info                      # diag(cov.unscaled) / diag(naive.cov)
    q = critical_value(level, None if np.isinf(df) else df)
    alpha = stats.norm.cdf(-q * np.sqrt(lam)) / 2
    cutoff = np.array([stats.norm.ppf(2 * alpha), stats.norm.isf(2 * alpha)])  # ±q√λ, as R rounds it
    # how far MASS profiles, sqrt(qf(alpha, 1, n − 1, lower.tail = FALSE)), in steps of zmax/5 SEs;
    # computed as the t quantile it equals (scipy's F quantile overflows for tiny alpha)
    zmax = stats.t.isf(alpha / 2, n_model - 1)
    step_size = zmax / 5 * se
    y_sum = w_tilde * p                        # Σ w̃ y
    dev0 = _deviance(y_sum, w_tilde, mu)
    zs, betas = [0.0], [coef]
    for sign in (-1, 1):  # at most 9 steps each way (MASS::profile.glm, maxsteps = 10)
        z, step = 0.0, 0
        while (step := step + 1) < 10 and abs(z) < zmax:
            beta = coef + sign * step * step_size
            zz = (_deviance(y_sum, w_tilde, _linkinv(beta)) - dev0) / phi
            z = sign * np.sqrt(max(zz, 0.0))
            zs.append(z)
            betas.append(beta)
    order = np.argsort(zs, kind="stable")
    sx, sy = r_spline(np.asarray(betas)[order], np.asarray(zs)[order])
    lo, hi = _r_approx(sy, sx, cutoff)
    return float(_expit(lo)), float(_expit(hi))


def _intervals(interval: str, p, se, df, level, *, fit: _LogitFit | None = None, beta_rows=None,
               n_resp=None, n_model=None, n_pearson=None):
    """(low, high) for every cell."""
    q = _crit(level, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        if interval == "mean":
            return p - q * se, p + q * se
        if interval == "xlogit":
            beta, se_beta = np.log(p / (1 - p)), se / (p * (1 - p))
            return _expit(beta - q * se_beta), _expit(beta + q * se_beta)
        if interval == "logit":
            se_beta = np.sqrt(fit.var)
            return _expit(fit.coef - q * se_beta), _expit(fit.coef + q * se_beta)
        if interval == "asin":
            se_a = se / (2 * np.sqrt(p * (1 - p)))
            theta = np.arcsin(np.sqrt(p))
            return np.sin(theta - q * se_a) ** 2, np.sin(theta + q * se_a) ** 2
        if interval == "beta":
            alpha = 1 - level
            n_eff = p * (1 - p) / se ** 2 * (_crit(level, beta_rows - 1) / q) ** 2
            lo = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
            hi = stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
            return lo, hi
        # likelihood. The dispersion is svyvar() of the Pearson residuals, n/(n−1)·p̂(1−p̂)/(μ̂(1−μ̂))
        # times the ratio of two weight normalisations R uses (mean over the rows of the model's
        # design in the residuals, over the domain's rows in the fit).
        phi = n_resp / (n_resp - 1) * fit.w_tilde / n_pearson * p * (1 - p) / (fit.mu * (1 - fit.mu))
    out = [_likelihood_interval(*args, level) for args in
           zip(p, fit.coef, fit.mu, fit.var, fit.info, fit.w_tilde, phi, n_model, df)]
    out = np.array(out, dtype=float).reshape(-1, 2)
    return out[:, 0], out[:, 1]


# ---- public ------------------------------------------------------------------------------------------


def ciprop(design: SurveyDesign, column: str, *, by=None, at_least: float | None = None, category=None,
           interval: str = "logit", level: float = 0.95, method: str | None = None,
           df: float | None = None) -> pd.DataFrame:
    """Share of respondents answering ``column >= at_least`` (e.g. 4 on a 5-point scale, the 满意率)
    or ``column == category``, with the confidence intervals of R's ``svyciprop``.

    Same as ``svyciprop(~I(x >= 4), design, method=interval, level=level, na.rm=TRUE)``, or by
    domain ``svyby(~I(x >= 4), ~by, design, svyciprop, method=interval, na.rm=TRUE,
    vartype=c("se", "ci"))``. Missing answers are left out (domain estimation); rows with a missing
    ``by`` value belong to no domain. The formulas of every ``interval`` are in the module docstring.

    Parameters
    ----------
    design : SurveyDesign
    column : the question (one column)
    by : column name or list of names defining domains (e.g. the city)
    at_least, category : exactly one: count answers ``>= at_least``, or ``== category``
    interval : one of ``"logit"`` (default), ``"likelihood"``, ``"asin"``, ``"beta"`` (Korn–Graubard),
        ``"mean"``, ``"xlogit"``
    level : confidence level
    method : variance method, ``None`` (replicate weights when the design has them), ``"linearization"``
        or ``"replicate"``
    df : degrees of freedom of the critical value; default ``degf`` of each domain's design, as R;
        ``np.inf`` for the normal quantile

    Returns
    -------
    DataFrame with ``[by], variable, estimate, se, ci_low, ci_high, n, deff, interval``: ``n`` is the
    respondents with non-zero weight who answered, ``se`` the standard error of the share.
    """
    _check_design(design)
    if interval not in INTERVALS:
        raise ProportionError(f"interval must be one of {', '.join(map(repr, INTERVALS))}; got {interval!r}")
    level = _check_level(level)
    if df is not None and (isinstance(df, bool) or not isinstance(df, numbers.Real) or np.isnan(df)):
        raise ProportionError(f"df must be a number (np.inf for the normal quantile) or None, got {df!r}")
    method = design.method(method)
    values = _column(design, column)
    name, y = _indicator(values, column, at_least, category)
    domain, keys = _domains(design, by)
    D = len(keys)
    answered = ~np.isnan(y)
    member, hit = _cell_matrices(domain, D, answered, (np.nan_to_num(y) == 1)[:, None])
    cells = _Cells(design, member, hit)
    p = cells.p
    var = cells.variance(method, full=False)
    se = np.sqrt(var)
    deff = cells.deff(var, method)

    dfs = _domain_degf(design, method, domain, D, by) if df is None else np.full(D, float(df))
    extra = {}
    nrows, wrows = _r_rows(design, method, domain, D)
    if interval in ("logit", "likelihood"):
        extra["fit"] = _LogitFit(design, method, cells, np.nan_to_num(y), nrows, wrows)
    if interval == "beta":
        extra["beta_rows"] = nrows
    if interval == "likelihood":
        extra["n_resp"] = cells.n
        if method == "linearization" and design.calibrations:
            # a calibrated design's subsets keep every row (weight 0): the model has every answered
            # row, its design every row
            extra["n_model"] = np.full(D, float(answered.sum()))
            extra["n_pearson"] = np.full(D, float(design.n))
        else:
            extra["n_model"] = extra["n_pearson"] = cells.rows
    low, high = _intervals(interval, p, se, dfs, level, **extra)

    frame = pd.DataFrame({
        "variable": name, "estimate": p, "se": se, "ci_low": low, "ci_high": high,
        "n": cells.n.astype(int), "deff": deff, "interval": interval,
    })
    if by is not None:
        frame = pd.concat([keys, frame], axis=1)
    return frame


def categories(design: SurveyDesign, column: str, *, by=None, level: float = 0.95,
               method: str | None = None) -> pd.DataFrame:
    """Share of every answer category of ``column``, with their joint covariance, as
    ``svymean(~factor(x), design, na.rm=TRUE)`` or ``svyby(~factor(x), ~by, design, svymean,
    na.rm=TRUE, covmat=TRUE)``.

    ``p̂_dk = Σ a·1[x = k] / Σ a`` over the respondents of domain d who answered; the covariance of
    all shares (across categories and domains) comes from the joint influence values
    ``z_i,dk = a_i (1[x_i = k] − p̂_dk)/Σ a`` (:meth:`SurveyDesign.linearized_variance`, as ``svyby``
    with ``covmat=TRUE``) or from the replicate shares (``svrVar``). Intervals are Wald intervals
    ``p̂ ± z·se`` (:func:`confint`, normal quantile, as ``confint(svymean(...))``). Categories are
    the answers observed, sorted (or in the order of a pandas categorical); missing answers are
    left out.

    Returns
    -------
    DataFrame with ``[by], variable, category, estimate, se, ci_low, ci_high, n, deff`` (``n``: the
    domain's respondents with non-zero weight who answered). ``satisfaction.estimate.vcov(out)``
    gives the covariance matrix of the estimates, labelled by domain, variable and category.
    """
    _check_design(design)
    level = _check_level(level)
    method = design.method(method)
    values = _column(design, column)
    levels = _category_levels(values)
    if not levels:
        raise ProportionError(f"column {column!r} has no answers")
    domain, keys = _domains(design, by)
    D, K = len(keys), len(levels)
    answered = values.notna().to_numpy()
    codes = pd.Index(levels, dtype=object).get_indexer(values.astype(object))
    if all(isinstance(v, float) and v.is_integer() for v in levels):  # 1.0 … 5.0 read with NaN
        levels = [int(v) for v in levels]
    hits = codes[:, None] == np.arange(K)[None, :]
    member, hit = _cell_matrices(domain, D, answered, hits)
    cells = _Cells(design, member, hit)
    vcov = cells.variance(method, full=True)
    var = np.diag(vcov).copy()
    se = np.sqrt(var)
    low, high = confint(cells.p, se, level)
    frame = pd.DataFrame({
        "variable": column, "category": np.tile(np.asarray(levels, dtype=object), D),
        "estimate": cells.p, "se": se, "ci_low": low, "ci_high": high,
        "n": cells.n.astype(int), "deff": cells.deff(var, method),
    })
    if by is not None:
        frame = pd.concat([keys.loc[keys.index.repeat(K)].reset_index(drop=True), frame], axis=1)
    from .estimate import Covariance

    key_columns = list(frame.columns[:frame.columns.get_loc("category") + 1])
    frame.attrs["vcov"] = Covariance(key_columns, pd.MultiIndex.from_frame(frame[key_columns].astype(object)),
                                     lambda: vcov)
    return frame
