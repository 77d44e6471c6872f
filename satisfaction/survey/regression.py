"""Design-based regression: generalised linear models fitted to survey data, as R's
``survey::svyglm`` (Lumley 2010, ch. 5; Lumley & Scott 2017, *Statistical Science* 32, 265–278;
Binder 1983, *Int. Stat. Rev.* 51, 279–292).

Point estimates solve the weighted (quasi-)likelihood score equations

    U(β) = Σ_i w_i x_i (y_i − μ_i) μ'(η_i) / V(μ_i) = 0,      η_i = x_iᵀβ,  μ_i = g⁻¹(η_i),

by iteratively reweighted least squares (Fisher scoring; Newton's method for the canonical links
used here), with ``w`` the survey weights, iterating exactly as R's ``glm.fit`` (same start, same
deviance criterion ``|dev − dev_old|/(|dev| + 0.1) < 1e-8``, weights rescaled to mean 1 as
``svyglm`` does), so that the last iterate is R's.

Variance, by linearisation (R's ``svy.varcoef``): the sandwich

    V(β̂) = A⁻¹ V̂(Σ_i U_i) A⁻¹,    A = Σ_i w_i μ'(η_i)² / V(μ_i) x_i x_iᵀ,

computed as the design variance of the totals of the influence values ``z_i = U_iᵀ A⁻¹`` by
:meth:`SurveyDesign.linearized_variance` — so strata, clusters, finite-population corrections and
calibration (``postStratify``/``rake``/``calibrate`` residuals) enter exactly as in ``svyrecvar``.
As in R, ``A`` and the working weights in ``U_i`` are those of the last IRLS step (``glm.fit``'s
``qr`` and ``weights``, computed at the previous iterate), the working residuals those at β̂; the
difference from evaluating everything at β̂ is of the order of the convergence tolerance.
With replicate weights (``svyglm.svyrep.design``): the model is refitted with every replicate's
weights, starting from β̂ — all replicates at once, one Newton step for every replicate per
iteration (stacked normal equations) — and the replicate coefficients are combined by
:meth:`SurveyDesign.replicate_variance` (``svrVar``); a replicate whose fit is singular or does not
converge gives NA and is dropped with a warning, as R does.

Inference (``summary.svyglm``, ``confint.svyglm``): residual degrees of freedom
``df = degf(design) + 1 − p``; ``t = β̂ / se``, ``p = 2 P(T_df > |t|)``; Wald intervals
``β̂ ± t_{df, 1−(1−level)/2} · se`` (R converts the level so that ``confint.default`` uses the t
quantile with ``df``). With ``df ≤ 0`` p-values and intervals are NaN.

Dispersion: by linearisation, as ``summary.svyglm``, the design-weighted variance of the Pearson
residuals ``r_i = (y_i − μ_i)/√V(μ_i)``: ``Σ w (r − r̄)² / Σ w · n/(n − 1)`` (``svyvar``); with
replicate weights, as ``summary.svrepglm``, ``Σ w r² / Σ w``. (R's survey before 4.4-1
mis-scaled the replicate Pearson residuals, so that its replicate dispersion is n times this
value; survey 4.4-1 fixed it: "error in scaling Pearson residuals for svyrepglm". R's
dispersion is also off when rows have missing model variables — residuals rescaled by the mean
weight with and without them, or misaligned — where ours uses the respondents in the model.)

Formulas are written as in R and read with patsy: ``"api00 ~ ell + meals + stype"``; categorical
columns get treatment contrasts with the first level as reference, and terms and coefficient names
follow R (``(Intercept)``, ``stypeH``, ``ell:stypeH``; terms ordered by degree as
``terms.formula`` does). Column names with dots (``sch.wide``) may be written bare.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import special, stats

from .design import SurveyDesign
from ..errors import SatisfactionError
from .variance import critical_value

__all__ = ["FAMILIES", "ModelError", "SurveyGLMResult", "glm"]


class ModelError(SatisfactionError):
    """A model that cannot be fitted as specified: bad formula, family, outcome or subset."""


# ---- families ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """A quasi-likelihood family with its canonical link (so that ``μ'(η) = V(μ)``)."""

    name: str
    link: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    variance: Callable[[np.ndarray], np.ndarray]    # V(μ) = dμ/dη
    start: Callable[[np.ndarray, np.ndarray], np.ndarray]   # μ₀ from (y, prior weights), R's initialize
    y_rule: str
    y_ok: Callable[[np.ndarray], np.ndarray]
    deviance_constant: Callable[[np.ndarray], np.ndarray]
    unit_deviance: Callable[..., np.ndarray]        # (y, η, μ, constant) → unit deviance

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        return self.variance(self.linkinv(eta))


def _xlogx(y):
    return special.xlogy(y, y)


_GAUSSIAN = _Family("gaussian", "identity", lambda mu: mu, lambda eta: eta, np.ones_like,
                    lambda y, w: y, "a finite number", np.isfinite, np.zeros_like,
                    lambda y, eta, mu, c: (y - mu) ** 2)


def _expit(eta):
    """μ = 1/(1 + e^−η) with η clamped to ±30, as R's ``logit_linkinv``."""
    return 1 / (1 + np.exp(-np.clip(eta, -30, 30)))


# unit deviances (R's dev.resids) written so that each costs one log; binomial:
# −y log μ − (1 − y) log(1 − μ) = −log μ + (1 − y) η
_BINOMIAL = _Family("quasibinomial", "logit", special.logit, _expit, lambda mu: mu * (1 - mu),
                    lambda y, w: (w * y + 0.5) / (w + 1), "0/1 (or a proportion between 0 and 1)",
                    lambda y: (y >= 0) & (y <= 1), lambda y: _xlogx(y) + _xlogx(1 - y),
                    lambda y, eta, mu, c: 2 * (c - np.log(mu) + (1 - y) * np.clip(eta, -30, 30)))
_POISSON = _Family("quasipoisson", "log", np.log, np.exp, lambda mu: mu,
                   lambda y, w: y + 0.1, "a count (≥ 0)", lambda y: (y >= 0) & np.isfinite(y), _xlogx,
                   lambda y, eta, mu, c: 2 * (c - y * eta - y + mu))

#: The families :func:`glm` fits. ``binomial`` and ``poisson`` give the same estimates, standard
#: errors and dispersion as their quasi- versions, as they do in ``svyglm``.
FAMILIES = {"gaussian": _GAUSSIAN, "quasibinomial": _BINOMIAL, "binomial": _BINOMIAL,
            "quasipoisson": _POISSON, "poisson": _POISSON}


def _family(family) -> tuple[str, _Family]:
    key = family.lower() if isinstance(family, str) else None
    if key not in FAMILIES:
        allowed = ", ".join(repr(k) for k in FAMILIES)
        raise ModelError(f"family must be one of {allowed}; got {family!r}")
    return key, FAMILIES[key]


# ---- formula → model matrix ---------------------------------------------------------------------

_DOTTED = re.compile(r"[A-Za-z_.][\w.]*")


def _quote_columns(formula: str, columns) -> str:
    """Wrap column names that are not Python identifiers (R's ``sch.wide``) in patsy's ``Q()``."""
    names = [c for c in columns if isinstance(c, str) and not c.isidentifier() and _DOTTED.fullmatch(c)]
    for name in sorted(names, key=len, reverse=True):
        formula = re.sub(r"(?<![\w.'\"])" + re.escape(name) + r"(?![\w.'\"(])", f"Q({name!r})", formula)
    return formula


def _level(level: str) -> str:
    return {"True": "TRUE", "False": "FALSE"}.get(level, level)


def _r_name(name: str) -> str:
    """patsy's column name as R's ``model.matrix`` writes it: ``Intercept`` → ``(Intercept)``,
    ``stype[T.H]`` → ``stypeH``, ``Q('sch.wide')`` → ``sch.wide``."""
    if name == "Intercept":
        return "(Intercept)"
    name = re.sub(r"""Q\((["'])(.*?)\1\)""", r"\2", name)
    return re.sub(r"\[(?:T\.)?([^\[\]]*)\](?=:|$)", lambda m: _level(m.group(1)), name)


@dataclass(frozen=True)
class _ModelFrame:
    y: np.ndarray            # m
    X: np.ndarray            # m × p, columns in R's order
    rows: np.ndarray         # positions of the m rows in the design's data
    names: list
    design_info: object      # patsy DesignInfo of the right-hand side
    order: np.ndarray        # patsy column → R column permutation
    outcome: str


def _patsy_error(err: Exception, formula: str, data: pd.DataFrame) -> ModelError:
    text = str(err)
    m = re.search(r"name '([^']+)' is not defined|no data named '([^']+)'", text)
    if m:
        name = m.group(1) or m.group(2)
        dotted = re.search(r"(?<![\w.])" + re.escape(name) + r"(?:\.[\w.]+)?(?![\w.])", formula)
        name = dotted.group(0) if dotted else name
        close = [c for c in map(str, data.columns) if c.lower() == name.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return ModelError(f"formula {formula!r} names {name!r}, which is not a column of the data{hint}")
    return ModelError(f"cannot read formula {formula!r}: {text.splitlines()[0]}")


def plain_columns(data: pd.DataFrame) -> pd.DataFrame:
    """The data with pandas' nullable columns (``Int64``, ``Float64``, ``boolean``, ``string``) as
    NumPy ones — float with NaN, object with None — which patsy reads (it refuses the former)."""
    out = {}
    for name, col in data.items():
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(col.dtype, pd.CategoricalDtype):
            if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
                col = col.astype("float64")
            else:
                col = col.astype(object).where(col.notna(), None)
        out[name] = col
    return pd.DataFrame(out, index=data.index)


def _model_frame(formula: str, data: pd.DataFrame, family: _Family) -> _ModelFrame:
    import patsy

    data = plain_columns(data)

    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(f"formula must be a string 'outcome ~ terms', got {formula!r}")
    quoted = _quote_columns(formula, data.columns)
    env = patsy.EvalEnvironment([{"np": np}])
    try:
        y_frame, x_frame = patsy.dmatrices(quoted, data, eval_env=env, NA_action="drop", return_type="dataframe")
    except patsy.PatsyError as err:
        raise _patsy_error(err, formula, data) from None
    outcome = formula.split("~", 1)[0].strip()
    if y_frame.shape[1] == 1:
        y = y_frame.iloc[:, 0].to_numpy(dtype=float)
    elif y_frame.shape[1] == 2 and family.link == "logit":
        y = y_frame.iloc[:, 1].to_numpy(dtype=float)   # R: the first level is failure, the second success
    else:
        kind = "a categorical outcome with more than two levels" if y_frame.shape[1] > 2 else "a categorical outcome"
        raise ModelError(f"outcome {outcome!r} of formula {formula!r} is {kind} "
                         f"({list(map(str, y_frame.columns))}); family {family.name!r} needs {family.y_rule}")
    info = x_frame.design_info
    desc = patsy.ModelDesc.from_formula(quoted)
    position = {term: i for i, term in enumerate(desc.rhs_termlist)}
    terms = sorted(info.term_slices, key=lambda t: (len(t.factors), position.get(t, len(position))))
    order = np.concatenate([np.arange(info.term_slices[t].start, info.term_slices[t].stop) for t in terms]
                           or [np.zeros(0, dtype=int)]).astype(int)
    names = [_r_name(info.column_names[j]) for j in order]
    X = x_frame.to_numpy(dtype=float)[:, order]
    return _ModelFrame(y, X, x_frame.index.to_numpy(dtype=np.int64), names, info, order, outcome)


# ---- fitting -------------------------------------------------------------------------------------

#: R's ``glm.control()``: converged when ``|dev − dev_old| / (|dev| + 0.1) < EPSILON``.
EPSILON = 1e-8
MAX_ITERATIONS = 25


def _solve(H: np.ndarray, g: np.ndarray, p: int) -> np.ndarray:
    """Solve the stacked systems ``H_b β_b = g_b`` (H: p² × B, g: p × B) → B × p; NaN for a
    system that is singular (smallest eigenvalue of the Jacobi-scaled matrix below 1e-12)."""
    B = g.shape[1]
    Hs = H.T.reshape(B, p, p)
    d = np.einsum("bjj->bj", Hs)
    out = np.full((B, p), np.nan)
    ok = np.isfinite(Hs).all(axis=(1, 2)) & np.isfinite(g).all(axis=0) & (d > 0).all(axis=1)
    if not ok.any():
        return out
    s = 1 / np.sqrt(d[ok])
    Hn = Hs[ok] * s[:, :, None] * s[:, None, :]
    regular = np.linalg.eigvalsh(Hn).min(axis=1) > 1e-12
    idx = np.flatnonzero(ok)[regular]
    sr = s[regular]
    out[idx] = np.linalg.solve(Hn[regular], (g.T[idx] * sr)[..., None])[..., 0] * sr
    return out


Blocks = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray        # B × p (NaN: singular or not converged)
    previous: np.ndarray    # B × p, the iterate the last step started from (NaN: from μ₀)
    iterations: int


def _irls(X: np.ndarray, y: np.ndarray, blocks: Blocks, B: int, fam: _Family,
          start: np.ndarray | None = None, prior: np.ndarray | None = None,
          deviance_scale: np.ndarray | None = None) -> _Fit:
    """Weighted (quasi-)likelihood fits for ``B`` weight vectors at once, iterating as R's
    ``glm.fit`` does.

    ``blocks()`` yields ``(rows, W)`` pairs — model rows and their m_b × B weights — covering the
    model rows. Each iteration is one Newton (= IRLS, canonical link) step for every weight vector
    still running, from the stacked normal equations ``H_b = Σ_i W_ib V(μ_ib) x_i x_iᵀ`` and
    scores ``g_b = Σ_i W_ib (y_i − μ_ib) x_i``: ``β_b ← β_b + H_b⁻¹ g_b``. Without ``start``
    the first step is R's weighted least squares on the working response at ``μ₀`` (``prior``:
    the weights for the binomial's ``μ₀``). A fit stops when its weighted deviance (times
    ``deviance_scale``, R's weights normalisation) changes by less than ``EPSILON`` relative, as
    in ``glm.control()``; a singular step or no convergence in ``MAX_ITERATIONS`` gives NaN."""
    m, p = X.shape
    XX = (X[:, :, None] * X[:, None, :]).reshape(m, p * p)
    constant = fam.deviance_constant(y)[:, None]
    scale = np.ones(B) if deviance_scale is None else np.asarray(deviance_scale, float)

    def accumulate(beta, cols):
        """H, g and the deviance at ``beta`` (a × p) for the weight columns ``cols``; with
        ``beta=None`` at μ₀, with g the working-response right-hand side ``X'Ωz``."""
        a = len(cols)
        H, g, dev = np.zeros((p * p, a)), np.zeros((p, a)), np.zeros(a)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for rows, W in blocks():
                if a < W.shape[1]:
                    W = W[:, cols]
                yb, cb = y[rows][:, None], constant[rows]
                if beta is None:
                    mu = fam.start(y[rows], prior[rows])[:, None]
                    eta = fam.linkfun(mu)
                    v = fam.variance(mu)
                    omega = W * v
                    g += X[rows].T @ (omega * eta + W * (yb - mu))   # Ω z, z = η + (y − μ)/V
                else:
                    eta = X[rows] @ beta.T
                    mu = fam.linkinv(eta)
                    omega = W * fam.variance(mu)
                    g += X[rows].T @ (W * (yb - mu))
                H += XX[rows].T @ omega
                dev += np.einsum("ib,ib->b", W, fam.unit_deviance(yb, eta, mu, cb))
        return H, g, dev * scale[cols]

    everyone = np.arange(B)
    if start is None:
        H, g, dev_old = accumulate(None, everyone)
        beta = np.zeros((B, p))
        H_first, g_first = H, g
    else:
        beta = np.tile(np.asarray(start, float), (B, 1))
        H, g, dev_old = accumulate(beta, everyone)
    previous = np.full((B, p), np.nan)
    converged = np.zeros(B, dtype=bool)
    failed = np.zeros(B, dtype=bool)
    iterations = 0
    for _ in range(MAX_ITERATIONS):
        active = np.flatnonzero(~converged & ~failed)
        if not len(active):
            break
        if iterations == 0 and start is None:
            new = _solve(H_first, g_first, p)
        else:
            new = beta[active] + _solve(H[:, active], g[:, active], p)
            previous[active] = beta[active]
        iterations += 1
        beta[active] = new
        H_new, g_new, dev = accumulate(np.nan_to_num(new), active)
        bad = ~np.isfinite(new).all(axis=1) | ~np.isfinite(dev)
        failed[active[bad]] = True
        with np.errstate(invalid="ignore"):
            done = np.abs(dev - dev_old[active]) / (np.abs(dev) + 0.1) < EPSILON
        converged[active[done & ~bad]] = True
        H[:, active], g[:, active], dev_old[active] = H_new, g_new, dev
    beta[~converged] = np.nan
    return _Fit(beta, previous, iterations)


def _check_rank(X: np.ndarray, w: np.ndarray, names: list, formula: str) -> None:
    """R drops (NA) coefficients whose column is zero or a linear combination of the columns
    before it (pivoted QR, tolerance 1e-7 relative); we refuse such a model and name them."""
    Xw = X[w > 0] * np.sqrt(w[w > 0])[:, None]
    kept: list[int] = []
    for j in range(X.shape[1]):
        col = Xw[:, j]
        norm = np.linalg.norm(col)
        if norm == 0:
            raise ModelError(f"column {names[j]!r} of formula {formula!r} is zero for every respondent in "
                             "the model (a category absent from the data or the subset?); drop it")
        if kept:
            coef = np.linalg.lstsq(Xw[:, kept], col, rcond=None)[0]
            if np.linalg.norm(col - Xw[:, kept] @ coef) <= 1e-7 * norm:
                raise ModelError(f"column {names[j]!r} of formula {formula!r} is a linear combination of "
                                 f"{[names[k] for k in kept]} (R's svyglm would report NA for it); drop it")
        kept.append(j)


def _domain(design: SurveyDesign, subset) -> np.ndarray:
    n = design.n
    if subset is None:
        return np.ones(n, dtype=bool)
    if isinstance(subset, str):
        try:
            values = design.data.eval(subset)
        except Exception as err:  # pandas raises many kinds; report the expression
            raise ModelError(f"cannot evaluate subset {subset!r} on the design's data: {err}") from None
    else:
        values = subset
    values = pd.Series(np.asarray(values) if not isinstance(values, pd.Series) else values.to_numpy())
    if len(values) != n:
        raise ModelError(f"subset must have one value per row of the design ({n}), got {len(values)}")
    if values.isna().any():
        raise ModelError(f"subset must not contain missing values (row {int(np.flatnonzero(values.isna())[0])})")
    if not (pd.api.types.is_bool_dtype(values) or values.isin([0, 1, True, False]).all()):
        raise ModelError(f"subset must be True/False for each row, got values such as {values.iloc[0]!r}")
    mask = values.to_numpy().astype(bool)
    if not mask.any():
        raise ModelError(f"subset {subset!r} selects no respondents" if isinstance(subset, str)
                         else "subset selects no respondents")
    return mask


def _degf(design: SurveyDesign, method: str, rows: np.ndarray) -> int:
    """R's ``degf`` of the design restricted to ``rows`` (positions): for linearisation the PSUs
    minus the strata that have respondents with non-zero weight there (``degf.survey.design2``);
    for replicate weights the rank of those rows' replicate weights minus one."""
    n = design.n
    if method == "replicate":
        if len(rows) == n:
            return design.degf(method)
        w = design.require_replicates().materialize(n).weights[rows]
        tol = 1e-5 * max(1.0, float(np.abs(w).max())) if w.size else 0
        return int(np.linalg.matrix_rank(w, tol=tol)) - 1 if w.size else -1
    rows = rows[design.weights[rows] != 0]
    if len(rows) == n:
        return design.degf(method)
    return len(np.unique(design._psu_codes[rows])) - len(np.unique(design._strata_codes[rows]))


# ---- the result ----------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SurveyGLMResult:
    """A design-based GLM fit (R's ``svyglm`` object).

    Attributes: ``params`` (coefficients), ``vcov`` (their design-based covariance),
    ``se``, ``df_resid`` (``degf(design) + 1 − p``), ``dispersion`` (as ``summary.svyglm``),
    ``family``, ``formula``, ``method`` (the variance method), ``level``, ``nobs`` (respondents in
    the model), ``iterations``, ``replicate_params`` (B × p replicate coefficients, replicate
    variance only).
    """

    params: pd.Series
    vcov: pd.DataFrame
    df_resid: float
    dispersion: float
    family: str
    formula: str
    method: str
    level: float
    nobs: int
    iterations: int
    replicate_params: pd.DataFrame | None = None
    _frame: _ModelFrame | None = field(default=None, repr=False)
    _family: _Family | None = field(default=None, repr=False)
    _index: pd.Index | None = field(default=None, repr=False)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index, name="se")

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Wald intervals ``β̂ ± t_{df_resid} · se`` (R's ``confint.svyglm``); NaN when
        ``df_resid ≤ 0``."""
        level = self.level if level is None else level
        if self.df_resid > 0:
            q = critical_value(level, self.df_resid)
        else:
            critical_value(level)   # validates the level
            q = np.nan
        se = self.se.to_numpy()
        est = self.params.to_numpy()
        return pd.DataFrame({"ci_low": est - q * se, "ci_high": est + q * se}, index=self.params.index)

    def table(self, level: float | None = None) -> pd.DataFrame:
        """Coefficient table as ``summary.svyglm`` plus ``confint``: term, estimate, se,
        t = estimate/se, p_value = 2 P(T_df > |t|) with df = ``df_resid`` (NaN when df ≤ 0),
        ci_low, ci_high."""
        est, se = self.params.to_numpy(), self.se.to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            t = est / se
        p = 2 * stats.t.sf(np.abs(t), self.df_resid) if self.df_resid > 0 else np.full_like(t, np.nan)
        ci = self.confint(level)
        return pd.DataFrame({"term": list(self.params.index), "estimate": est, "se": se, "t": t,
                             "p_value": p, "ci_low": ci.ci_low.to_numpy(), "ci_high": ci.ci_high.to_numpy()})

    def predict(self, data: pd.DataFrame | None = None, *, type: str = "response", se: bool = False):
        """Fitted means ``μ̂ = g⁻¹(xᵀβ̂)`` (``type="response"``) or linear predictors
        (``type="link"``) for the respondents in the model (``data=None``, indexed by their row in
        the design's data) or for the rows of ``data`` (NaN where a covariate is missing).

        With ``se=True``, a DataFrame ``estimate, se`` with ``se² = xᵀ V x`` on the link scale
        and ``μ'(η)² xᵀ V x`` on the response scale (R's ``predict.svyglm``; note R's default
        type is ``"link"``)."""
        import patsy

        if type not in ("response", "link"):
            raise ModelError(f"type must be 'response' or 'link', got {type!r}")
        fr = self._frame
        if data is None:
            X, index = fr.X, self._index[fr.rows]
        else:
            if not isinstance(data, pd.DataFrame):
                raise ModelError(f"data must be a DataFrame, got {data.__class__.__name__}")
            try:
                (xf,) = patsy.build_design_matrices([fr.design_info], data, NA_action="drop",
                                                    return_type="dataframe")
            except patsy.PatsyError as err:
                raise _patsy_error(err, self.formula, data) from None
            X = np.full((len(data), len(self.params)), np.nan)
            X[data.index.get_indexer(xf.index)] = xf.to_numpy(dtype=float)[:, fr.order]
            index = data.index
        beta = self.params.to_numpy()
        eta = X @ beta
        fam = self._family
        value = fam.linkinv(eta) if type == "response" else eta
        if not se:
            return pd.Series(value, index=index, name="estimate")
        var = np.einsum("ij,jk,ik->i", X, self.vcov.to_numpy(), X)
        if type == "response":
            var = var * fam.mu_eta(eta) ** 2
        return pd.DataFrame({"estimate": value, "se": np.sqrt(var)}, index=index)

    def __repr__(self) -> str:
        head = (f"Survey GLM ({self.family}, {self.method} variance): {self.formula}\n"
                f"n = {self.nobs}, residual df = {self.df_resid}, dispersion = {self.dispersion:.6g}\n")
        return head + self.table().to_string(index=False)


# ---- the estimator -------------------------------------------------------------------------------


def glm(design: SurveyDesign, formula: str, *, family="gaussian", method: str | None = None,
        level: float = 0.95, subset=None) -> SurveyGLMResult:
    """Fit a generalised linear model to survey data, as R's ``svyglm``.

    Parameters
    ----------
    design : SurveyDesign
    formula : ``"outcome ~ terms"`` in R/patsy syntax; categorical columns are dummy-coded with
        the first level as reference (R's treatment contrasts). Rows with a missing value in any
        model variable are left out (R's ``na.omit``), keeping the design whole.
    family : ``"gaussian"`` (identity link), ``"quasibinomial"`` (logit; outcome 0/1 or a
        proportion, or a two-level categorical whose second level is success) or
        ``"quasipoisson"`` (log); ``"binomial"`` / ``"poisson"`` give the same fit.
    method : variance method, ``"linearization"`` or ``"replicate"`` (default: replicate when
        the design carries replicate weights)
    level : confidence level of the intervals in :meth:`SurveyGLMResult.table`
    subset : domain — a boolean mask (one value per row) or an expression evaluated on the
        design's data (``'stype == "E"'``); as ``svyglm(…, design = subset(design, …))``, the
        rest of the sample stays in the design with zero weight.

    Returns
    -------
    SurveyGLMResult — ``params``, ``vcov``, ``se``, ``df_resid``, ``dispersion``, ``table()``,
    ``confint()``, ``predict()``.

    The formulas are in the module docstring (Binder 1983; Lumley & Scott 2017; R ``svyglm``,
    ``svy.varcoef``, ``svyglm.svyrep.design``, ``summary.svyglm``, ``confint.svyglm``).
    """
    family, fam = _family(family)
    method = design.method(method)
    critical_value(level)   # reject a bad level before fitting
    domain = _domain(design, subset)
    mf = _model_frame(formula, design.data, fam)
    in_domain = domain[mf.rows]
    mf = _ModelFrame(mf.y[in_domain], mf.X[in_domain], mf.rows[in_domain], mf.names, mf.design_info,
                     mf.order, mf.outcome)
    y, X, rows = mf.y, mf.X, mf.rows
    m, p = X.shape
    infinite = ~np.isfinite(X)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise ModelError(f"term {mf.names[j]!r} of formula {formula!r} is {X[i, j]} at row {int(rows[i])} "
                         "of the design's data; model variables must be finite")
    if m == 0:
        raise ModelError(f"no respondent has all of the variables of formula {formula!r}"
                         + (" in the subset" if subset is not None else ""))
    invalid = ~fam.y_ok(y)
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        raise ModelError(f"outcome {mf.outcome!r} must be {fam.y_rule} for family {fam.name!r}; "
                         f"row {int(rows[i])} of the design's data has {y[i]:g}")
    w = design.weights[rows]
    if p == 0:
        raise ModelError(f"formula {formula!r} has no terms to estimate")
    if (w > 0).sum() < p:
        raise ModelError(f"formula {formula!r} has {p} coefficients but only {(w > 0).sum()} respondents "
                         "with positive weight")
    _check_rank(X, w, mf.names, formula)
    # R fits with the weights rescaled to mean 1 over the rows of the subset design (a calibrated
    # design keeps every row, with weight 0 outside the domain); the scale matters only for the
    # binomial's starting values and the deviance criterion's 0.1, hence for the last iterate.
    scale_rows = np.ones(design.n, bool) if (method == "linearization" and design.calibrations) else domain
    prior = w / np.where(domain, design.weights, 0.0)[scale_rows].mean()

    def one():
        yield np.arange(m), prior[:, None]

    fit = _irls(X, y, one, 1, fam, prior=prior)
    beta = fit.beta[0]
    if not np.isfinite(beta).all():
        raise ModelError(f"the fit of {formula!r} did not converge in {MAX_ITERATIONS} iterations "
                         "(separation: a covariate predicting the outcome perfectly?)")
    eta = X @ beta
    mu = fam.linkinv(eta)
    d, v = fam.mu_eta(eta), fam.variance(mu)
    resid = y - mu
    names = pd.Index(mf.names)

    replicate_params = None
    if method == "linearization":
        # As glm.fit reports them (and svy.varcoef uses them), the bread A and the working
        # weights are those the last IRLS step started from; the working residuals are at β̂.
        before = fit.previous[0] if np.isfinite(fit.previous[0]).all() else beta
        eta0 = X @ before
        omega = w * fam.mu_eta(eta0) ** 2 / fam.variance(fam.linkinv(eta0))
        A = X.T @ (X * omega[:, None])
        z = np.zeros((design.n, p))
        z[rows] = (omega * resid / d)[:, None] * np.linalg.solve(A, X.T).T
        vcov = design.linearized_variance(z, full=True)
        df = _degf(design, method, rows)
        pos = w != 0
        r = resid[pos] / np.sqrt(v[pos])
        a = w[pos]
        n_d = int(pos.sum())
        rbar = (a * r).sum() / a.sum()
        dispersion = float((a * (r - rbar) ** 2).sum() / a.sum() * n_d / (n_d - 1)) if n_d > 1 else np.nan
    else:
        rep = design.require_replicates()
        where = np.full(design.n, -1)
        where[rows] = np.arange(m)

        def model_blocks():
            for block_rows, W in rep.blocks():
                local = where[np.arange(design.n)[block_rows]]
                sel = local >= 0
                if sel.all():
                    yield local, W
                elif sel.any():
                    yield local[sel], W[sel]

        # R refits each replicate with its weights scaled to sum 1: the same fit, but its
        # deviance (hence where the iterations stop) is on that scale
        totals = sum(W.sum(axis=0) for _, W in model_blocks())
        with np.errstate(invalid="ignore", divide="ignore"):
            inverse = np.where(totals > 0, 1 / totals, np.nan)

        thetas = _irls(X, y, model_blocks, rep.n_replicates, fam, start=beta, deviance_scale=inverse).beta
        vcov = design.replicate_variance(thetas, beta, covariance=True)
        df = _degf(design, method, np.flatnonzero(domain))
        dispersion = float((w * resid ** 2 / v).sum() / w.sum())
        replicate_params = pd.DataFrame(thetas, columns=names)
    return SurveyGLMResult(
        params=pd.Series(beta, index=names, name="estimate"),
        vcov=pd.DataFrame(vcov, index=names, columns=names),
        df_resid=df + 1 - p, dispersion=dispersion, family=family,
        formula=formula, method=method, level=level, nobs=m, iterations=fit.iterations,
        replicate_params=replicate_params, _frame=mf, _family=fam, _index=design.data.index)
