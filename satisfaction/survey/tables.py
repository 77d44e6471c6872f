"""Weighted cross-tables, their proportions with standard errors, and design-based tests of
independence (R ``survey``: ``svytable``, ``svymean(~interaction(a, b))``, ``svyby(~b, ~a, svymean)``,
``svychisq``).

Notation: ``T_rc = Σ_i w_i 1[a_i = r, b_i = c]`` the weighted count of cell (r, c) over the
respondents who answered both questions, ``T_r·``, ``T_·c`` and ``T`` its margins and total,
``p_rc = T_rc / T`` the cell proportions and ``N`` the number of respondents (rows) in the design.

Variances come from the covariance ``V_T`` of the cell totals, whose influence values are
``w_i 1[cell_i = k]``: by linearisation (:meth:`SurveyDesign.linearized_variance`, R's
``svyrecvar``) or from replicate weights (:meth:`SurveyDesign.replicate_variance`, R's
``svrVar``, the estimate recomputed with every replicate's weights by one matrix product).
Linearised, every statistic below is a smooth function of the cell totals, so its covariance is
``G V_T Gᵀ`` with ``G`` its Jacobian; replicated, the statistic itself is recomputed per replicate,
as R does.

Tests of independence (Rao & Scott 1981, 1984; Koch, Freeman & Freeman 1975; Lumley 2010, §6.2),
as ``survey::svychisq`` 4.1.1 (R/surveychisq.R):

* Pearson's ``X² = Σ (O − E)² / E`` on the weighted table rescaled to ``N`` (``O = N p``,
  ``E = N p_r· p_·c``), which does not have a χ² distribution under a complex design;
* the design-effect matrix ``Δ = (Cᵀ D⁻¹ C / N)⁻¹ (Cᵀ D⁻¹ V_p D⁻¹ C)``, with ``D = diag(p)``,
  ``V_p`` the covariance of ``p`` and ``C`` the interaction contrasts residualised on the main
  effects; its eigenvalues ``δ_j`` are the generalised design effects;
* ``statistic="F"`` (second-order Rao–Scott, R's default): ``F = X² / tr Δ`` on
  ``d₀ = (tr Δ)² / tr Δ²`` and ``d₀ ν`` degrees of freedom, ``ν`` the design degrees of freedom;
* ``"Chisq"`` (first-order): ``X² / δ̄`` against χ² with ``(r − 1)(c − 1)`` degrees of freedom;
* ``"Wald"``: with ``Y_rc = T_rc − T_r· T_·c / T`` for r, c beyond the first level, ``W = Yᵀ V_Y⁻¹ Y``
  and ``F = W / ((r − 1)(c − 1))`` on ``((r − 1)(c − 1), ν)`` df; ``"adjWald"``:
  ``F = W (ν − k + 1) / (k ν)`` on ``(k, ν − k + 1)``, ``k = (r − 1)(c − 1)``;
* ``"saddlepoint"``: ``X²`` against ``Σ δ_j χ²₁`` (with ``ν d₀`` denominator df when linearised)
  by Kuonen's (1999) saddlepoint approximation, as R's ``pFsum``/``pchisqsum``; ``"lincom"``: the
  same distribution by Imhof's (1961) numerical inversion (R uses Davies' algorithm from
  CompQuadForm, and the saddlepoint approximation when that package is missing).

Respondents with a missing answer to either question are left out of the table (R's
``na.rm=TRUE``), but ``N`` counts every row, as ``svychisq`` does.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, optimize, sparse, stats

from .design import SurveyDesign
from ..errors import SatisfactionError
from .variance import confint

__all__ = ["CrosstabError", "ChisqTest", "STATISTICS", "WITHIN", "table", "crosstab", "chisq", "as_matrix"]

#: The tests :func:`chisq` knows (R ``svychisq``'s ``statistic``).
STATISTICS = ("F", "Chisq", "Wald", "adjWald", "saddlepoint", "lincom")
#: What :func:`crosstab` proportions are taken within.
WITHIN = ("table", "row", "column")
#: Influence values are built for at most this many (respondent × cell) entries at a time.
CHUNK_CELLS = 20_000_000

_DESCRIPTION = {
    "F": "Pearson's X^2: Rao & Scott adjustment",
    "Chisq": "Pearson's X^2: Rao & Scott adjustment",
    "Wald": "Design-based Wald test of association",
    "adjWald": "Design-based Wald test of association",
    "saddlepoint": "Pearson's X^2: saddlepoint approximation",
    "lincom": "Pearson's X^2: asymptotic exact distribution",
}


class CrosstabError(SatisfactionError):
    """A cross-table or test that cannot be computed as asked (unknown column or statistic, a
    question with a single answer category)."""


# ---- preparing the categories ---------------------------------------------------------------------


def _check_column(design: SurveyDesign, name, role: str) -> None:
    if not isinstance(name, str) or name not in design.data.columns:
        raise CrosstabError(f"{role} {name!r} is not a column of the design's data")


def _categories(values: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (−1 for a missing answer) and the categories: a categorical column's own
    categories in their order (R's factor levels), otherwise the sorted distinct values."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    return cat.cat.codes.to_numpy(dtype=np.int64), list(cat.cat.categories)


def _domains(design: SurveyDesign, by) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code per row (−1 where a ``by`` value is missing) and the domains' keys, sorted."""
    if by is not None:
        for c in [by] if isinstance(by, str) else list(by):
            _check_column(design, c, "by column")
    return design.domains(by, CrosstabError)


def _domain_label(keys: pd.DataFrame, d: int) -> str:
    if not len(keys.columns):
        return ""
    return " in domain " + ", ".join(f"{c}={keys.iloc[d][c]!r}" for c in keys.columns)


@dataclass
class _Grid:
    """The two questions as codes on the full grid of their categories: cell ``k = r + R·c`` (the
    row category varies fastest, as R's ``interaction(a, b)``)."""

    row: str
    column: str
    r: np.ndarray
    c: np.ndarray
    row_levels: list
    col_levels: list
    dom: np.ndarray
    keys: pd.DataFrame
    complete: np.ndarray = field(init=False)
    cell: np.ndarray = field(init=False)

    def __post_init__(self):
        self.complete = (self.r >= 0) & (self.c >= 0) & (self.dom >= 0)
        self.cell = np.where(self.complete, self.r + self.R * self.c, -1)

    @property
    def R(self) -> int:
        return len(self.row_levels)

    @property
    def C(self) -> int:
        return len(self.col_levels)

    @property
    def K(self) -> int:
        return self.R * self.C

    @property
    def D(self) -> int:
        return len(self.keys)


def _grid(design: SurveyDesign, row, column, by) -> _Grid:
    _check_column(design, row, "row variable")
    _check_column(design, column, "column variable")
    if row == column:
        raise CrosstabError(f"row and column variables must differ, got {row!r} twice")
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if row in by_cols or column in by_cols:
        raise CrosstabError(f"the by columns {by_cols!r} must not include the row or column variable")
    r, row_levels = _categories(design.data[row])
    c, col_levels = _categories(design.data[column])
    dom, keys = _domains(design, by)
    return _Grid(row, column, r, c, row_levels, col_levels, dom, keys)


def _cell_totals(design: SurveyDesign, g: _Grid) -> np.ndarray:
    """Weighted counts T (D × K)."""
    idx = np.flatnonzero(g.complete)
    return np.bincount(g.dom[idx] * g.K + g.cell[idx], weights=design.weights[idx],
                       minlength=g.D * g.K).reshape(g.D, g.K)


def _cell_counts(design: SurveyDesign, g: _Grid) -> np.ndarray:
    """Respondents with a non-zero weight per cell (D × K)."""
    idx = np.flatnonzero(g.complete & (design.weights != 0))
    return np.bincount(g.dom[idx] * g.K + g.cell[idx], minlength=g.D * g.K).reshape(g.D, g.K).astype(float)


def _linearized_total_cov(design: SurveyDesign, g: _Grid) -> np.ndarray:
    """Linearised covariance of each domain's cell totals, D × K × K, from the influence values
    ``w_i 1[cell_i = k]`` of a few domains at a time (the blocks of ``DᵀD``, ``D`` the design's
    scaled PSU deviations)."""
    D, K = g.D, g.K
    out = np.empty((D, K, K))
    step = max(1, CHUNK_CELLS // max(1, design.n * K))
    for start in range(0, D, step):
        m = min(D, start + step) - start
        idx = np.flatnonzero(g.complete & (g.dom >= start) & (g.dom < start + m))
        z = np.zeros((design.n, m * K))
        z[idx, (g.dom[idx] - start) * K + g.cell[idx]] = design.weights[idx]
        dev = design.linearized_deviations(z).reshape(-1, m, K)
        out[start:start + m] = np.einsum("umk,uml->mkl", dev, dev)
    return out


def _replicate_totals(design: SurveyDesign, g: _Grid) -> np.ndarray:
    """Cell totals under every replicate's weights, B × D × K: one sparse-by-dense product per
    block of replicate weights."""
    rep = design.require_replicates()
    idx = np.flatnonzero(g.complete)
    onehot = sparse.csc_matrix((np.ones(len(idx)), (g.dom[idx] * g.K + g.cell[idx], idx)),
                               shape=(g.D * g.K, design.n))
    out = np.zeros((g.D * g.K, rep.n_replicates))
    for rows, w in rep.blocks():
        out += onehot[:, rows] @ w
    return out.T.reshape(rep.n_replicates, g.D, g.K)


# ---- table ------------------------------------------------------------------------------------------


def table(design: SurveyDesign, row, column=None, *, by=None, total: float | None = None) -> pd.DataFrame:
    """Weighted counts ``Σ_i w_i 1[a_i = r, b_i = c]`` of every combination of categories, as R's
    ``svytable(~a + b, design)``.

    Tidy: one row per cell — the ``by`` columns, the row (and column) variable, ``count`` — with
    every combination of categories, empty ones included (a categorical column contributes all
    its categories, as ``xtabs`` does with factor levels). Respondents with a missing answer are
    left out. ``total`` rescales the counts to sum to it (``svytable(Ntotal=)``); note that R's
    ``svytable`` on a replicate design defaults to ``Ntotal`` = the sum of all weights, which
    spreads the respondents with a missing answer over the cells: pass
    ``total=design.weights.sum()`` to reproduce it.

    The r × c matrix: :func:`as_matrix` (``tbl.pivot(index=row, columns=column, values="count")``).
    """
    _check_column(design, row, "row variable")
    r, row_levels = _categories(design.data[row])
    if column is None:
        c, col_levels = np.zeros(design.n, dtype=np.int64), [None]
    else:
        _check_column(design, column, "column variable")
        if column == row:
            raise CrosstabError(f"row and column variables must differ, got {row!r} twice")
        c, col_levels = _categories(design.data[column])
    dom, keys = _domains(design, by)
    g = _Grid(row, column or "", r, c, row_levels, col_levels, dom, keys)
    counts = _cell_totals(design, g)
    if total is not None:
        counts = counts * (float(total) / counts.sum())
    # rows ordered by domain, then row category, then column category
    ordered = counts.reshape(g.D, g.C, g.R).transpose(0, 2, 1).ravel()
    frame = pd.DataFrame({row: np.tile(np.repeat(np.array(row_levels, dtype=object), g.C), g.D)})
    if column is not None:
        frame[column] = np.tile(np.array(col_levels, dtype=object), g.D * g.R)
    frame["count"] = ordered
    if len(keys.columns):
        frame = pd.concat([keys.loc[keys.index.repeat(g.R * g.C)].reset_index(drop=True), frame], axis=1)
    return frame


def as_matrix(frame: pd.DataFrame, row: str, column: str, value: str = "count") -> pd.DataFrame:
    """The r × c matrix of a tidy table (one value per row category × column category)."""
    return frame.pivot(index=row, columns=column, values=value)


# ---- proportions -----------------------------------------------------------------------------------


def crosstab(design: SurveyDesign, row, column, *, within: str = "table", by=None, level: float = 0.95,
             method: str | None = None) -> pd.DataFrame:
    """Proportions of a two-way table with standard errors and Wald intervals.

    ``within`` says which proportion:

    * ``"table"``: the cell's share of everyone who answered both, ``p_rc = T_rc / T`` — R's
      ``svymean(~interaction(a, b), design, na.rm=TRUE)``;
    * ``"row"``: the share of column category c within row category r, ``T_rc / T_r·`` — R's
      ``svyby(~b, ~a, design, svymean, na.rm=TRUE)`` (rows of the table with no respondents are
      left out);
    * ``"column"``: the share of row category r within column category c, ``T_rc / T_·c`` — R's
      ``svyby(~a, ~b, design, svymean, na.rm=TRUE)``.

    Linearised influence values ``z_i = w_i (1[cell_i = rc] − p) / T_g`` over the respondents of
    the denominator group g; replicate variances recompute the proportion with each replicate's
    weights. Tidy: ``[by], row, column, estimate, se, ci_low, ci_high, n, n_base, deff`` — ``n``
    the respondents in the cell, ``n_base`` those in the denominator, ``deff`` the design effect
    against simple random sampling without replacement, ``V / (p(1 − p) · n/(n − 1) · (N̂ − n)/(N̂ n))``
    with ``n = n_base`` and ``N̂`` its weighted count, as ``svymean(deff=TRUE)``. Intervals are
    ``confint`` (normal).
    """
    if within not in WITHIN:
        raise CrosstabError(f"within must be one of {', '.join(map(repr, WITHIN))}, got {within!r}")
    method = design.method(method)
    g = _grid(design, row, column, by)
    T = _cell_totals(design, g)
    n_cell = _cell_counts(design, g)
    R, C = g.R, g.C
    rk, ck = np.arange(g.K) % R, np.arange(g.K) // R
    if within == "table":
        group = np.zeros(g.K, dtype=np.int64)           # group of each cell: the whole table
        n_groups = 1
    elif within == "row":
        group, n_groups = rk, R
    else:
        group, n_groups = ck, C
    member = (group[:, None] == np.arange(n_groups)[None, :]).astype(float)    # K × groups
    denom = (T @ member)[:, group]                                              # D × K
    base = (n_cell @ member)[:, group]
    with np.errstate(invalid="ignore", divide="ignore"):
        est = T / denom
    if method == "linearization":
        VT = _linearized_total_cov(design, g)
        # Jacobian of p_k = T_k / T_g(k): (1[k = k'] − p_k) / T_g for k' in the same group
        same = (group[:, None] == group[None, :]).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            G = (np.eye(g.K)[None] - est[:, :, None]) * same[None] / denom[:, :, None]
        var = np.einsum("dij,djk,dik->di", G, VT, G)
    else:
        Tb = _replicate_totals(design, g)
        with np.errstate(invalid="ignore", divide="ignore"):
            thetas = Tb / (Tb @ member)[:, :, group]
        var = design.replicate_variance(thetas.reshape(len(Tb), -1), est.ravel()).reshape(g.D, g.K)
    var = np.where(np.isnan(est), np.nan, np.maximum(var, 0.0))
    se = np.sqrt(var)
    low, high = confint(est, se, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        srs = est * (1 - est) * base / (base - 1) * (denom - base) / (denom * base)
        deff = var / srs
    order = (np.arange(g.K).reshape(C, R).T.ravel())    # row category, then column category
    frame = pd.DataFrame({
        row: np.tile(np.repeat(np.array(g.row_levels, dtype=object), C), g.D),
        column: np.tile(np.array(g.col_levels, dtype=object), g.D * R),
        "estimate": est[:, order].ravel(), "se": se[:, order].ravel(),
        "ci_low": low[:, order].ravel(), "ci_high": high[:, order].ravel(),
        "n": n_cell[:, order].ravel().astype(int), "n_base": base[:, order].ravel().astype(int),
        "deff": deff[:, order].ravel(),
    })
    if len(g.keys.columns):
        frame = pd.concat([g.keys.loc[g.keys.index.repeat(g.K)].reset_index(drop=True), frame], axis=1)
    if within != "table":
        frame = frame[frame["n_base"] > 0].reset_index(drop=True)
    return frame


# ---- tests of independence -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChisqTest:
    """A design-based test of independence of a two-way table (R: the ``htest`` of ``svychisq``).

    ``statistic`` is F for ``"F"``, ``"Wald"`` and ``"adjWald"`` (``ndf``, ``ddf`` its degrees of
    freedom) and Pearson's X² for ``"Chisq"`` (``ndf`` the χ² df; ``ddf`` NaN), ``"saddlepoint"``
    and ``"lincom"`` (no df; NaN). ``pearson`` is the unadjusted X² on the table rescaled to ``n``
    rows, with its naive χ² p-value ``pearson_p``; ``eigenvalues`` are those of the Rao–Scott
    design-effect matrix Δ (generalised design effects; their mean is the first-order correction);
    ``df_design`` is ν, the design degrees of freedom.
    """

    row: str
    column: str
    kind: str
    statistic: float
    ndf: float
    ddf: float
    p_value: float
    pearson: float
    pearson_df: int
    pearson_p: float
    eigenvalues: np.ndarray
    df_design: float
    n: int
    description: str

    @property
    def statistic_name(self) -> str:
        return "F" if self.kind in ("F", "Wald", "adjWald") else "X-squared"

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "ndf": self.ndf, "ddf": self.ddf, "p_value": self.p_value,
                "test": self.kind, "pearson": self.pearson, "pearson_df": self.pearson_df,
                "pearson_p": self.pearson_p, "mean_deff": float(np.mean(self.eigenvalues)),
                "eigenvalues": tuple(float(v) for v in self.eigenvalues), "df_design": self.df_design,
                "n": self.n}

    def table(self) -> pd.DataFrame:
        """One tidy row: statistic, ndf, ddf, p_value, test, pearson, pearson_df, pearson_p,
        mean_deff, eigenvalues, df_design, n."""
        return pd.DataFrame([self.as_dict()])

    def __str__(self) -> str:
        dfs = "" if np.isnan(self.ndf) else (
            f", df = {self.ndf:.6g}" if np.isnan(self.ddf) else f", ndf = {self.ndf:.6g}, ddf = {self.ddf:.6g}")
        return (f"{self.description}\n{self.row} × {self.column}: {self.statistic_name} = {self.statistic:.6g}"
                f"{dfs}, p-value = {self.p_value:.4g}")


def chisq(design: SurveyDesign, row, column, *, statistic: str = "F", by=None, method: str | None = None):
    """Design-based test of independence of two questions, as R's ``svychisq(~a + b, design,
    statistic=)`` (survey 4.1.1; formulas in the module docstring).

    Returns a :class:`ChisqTest` (``.table()`` gives one tidy row); with ``by=``, one test per
    domain as a DataFrame with the ``by`` columns and the columns of ``ChisqTest.table()`` — the
    same numbers as ``svychisq`` on ``subset(design, domain)``: within a domain, ``N`` and the
    categories are those of its respondents and ν is its own (PSUs minus strata with respondents
    in the domain; for a replicate design the rank of the domain's replicate weights minus one).
    A calibrated design keeps every row in R's subset (with zero weight), so there ``N``, ν and
    the categories counted are the whole design's, as R has them.

    ``method`` is the variance method (``None``: replicate weights when the design has them, else
    linearisation).
    """
    if statistic not in STATISTICS:
        raise CrosstabError(f"statistic must be one of {', '.join(map(repr, STATISTICS))}, got {statistic!r}")
    method = design.method(method)
    g = _grid(design, row, column, by)
    T = _cell_totals(design, g)
    replicated = method == "replicate"
    if replicated:
        Tb = _replicate_totals(design, g)
    else:
        VT = _linearized_total_cov(design, g)
    N, nu = _domain_sizes(design, g, replicated)
    seen_r, seen_c = _categories_seen(design, g, replicated)
    tests = []
    for d in range(g.D):
        present_r, present_c = np.flatnonzero(seen_r[d]), np.flatnonzero(seen_c[d])
        where = _domain_label(g.keys, d)
        for name, present in ((row, present_r), (column, present_c)):
            if len(present) < 2:
                raise CrosstabError(f"column {name!r} has {len(present)} answer categor"
                                    f"{'y' if len(present) == 1 else 'ies'}{where}; a test of independence "
                                    "needs at least two")
        cells = (present_r[:, None] + g.R * present_c[None, :]).T.ravel()    # row category fastest
        nr, nc = len(present_r), len(present_c)
        if replicated:
            Tb_d = Tb[:, d][:, cells]
            VT_d = design.replicate_variance(Tb_d, T[d, cells], covariance=True)
        else:
            VT_d = VT[d][np.ix_(cells, cells)]
        T_d = T[d, cells]
        if T_d.sum() <= 0:
            raise CrosstabError(f"no respondent with a positive weight answered both {row!r} and {column!r}{where}")
        p = T_d / T_d.sum()
        if replicated:
            with np.errstate(invalid="ignore", divide="ignore"):
                pb = Tb_d / Tb_d.sum(axis=1, keepdims=True)
            Vp = design.replicate_variance(pb, p, covariance=True)
        else:
            Gp = (np.eye(len(cells)) - p[:, None]) / T_d.sum()
            Vp = Gp @ VT_d @ Gp.T
        tests.append(_test(statistic, row, column, p, Vp, T_d, VT_d, nr, nc, N[d], nu[d], replicated))
    if by is None:
        return tests[0]
    return pd.concat([g.keys, pd.DataFrame([t.as_dict() for t in tests])], axis=1)


def _categories_seen(design: SurveyDesign, g: _Grid, replicated: bool) -> tuple[np.ndarray, np.ndarray]:
    """Which categories of each question occur (D × R, D × C), as ``svychisq`` counts them: among
    all rows of the (subset) design, whatever the weight or the answer to the other question."""
    whole = not len(g.keys.columns) or (design.calibrations and not replicated)
    dom = np.zeros(design.n, dtype=np.int64) if whole else g.dom
    out = []
    for codes, k in ((g.r, g.R), (g.c, g.C)):
        ok = (codes >= 0) & (dom >= 0)
        seen = np.bincount(dom[ok] * k + codes[ok], minlength=(1 if whole else g.D) * k).reshape(-1, k) > 0
        out.append(np.broadcast_to(seen, (g.D, k)) if whole else seen)
    return out[0], out[1]


def _domain_sizes(design: SurveyDesign, g: _Grid, replicated: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows N and design degrees of freedom ν per domain, as ``svychisq`` on ``subset(design, …)``
    sees them."""
    if not len(g.keys.columns) or (design.calibrations and not replicated):
        N = np.full(g.D, design.n)
        nu = np.full(g.D, float(design.degf("replicate" if replicated else "linearization")))
        return N, nu
    N = np.bincount(g.dom[g.dom >= 0], minlength=g.D)
    if replicated:
        w = design.require_replicates().materialize(design.n).weights
        nu = np.empty(g.D)
        for d in range(g.D):     # R: qr(weights(subset, "analysis"), tol = 1e-5)$rank - 1
            wd = np.unique(w[g.dom == d], axis=1)
            nu[d] = np.linalg.matrix_rank(wd, tol=1e-5 * max(1.0, float(np.abs(wd).max(initial=0)))) - 1
        return N, nu
    # R: unique first-stage clusters minus unique strata among the domain's rows
    strata = design.strata[0] if isinstance(design.strata, (list, tuple)) else design.strata
    cluster = design.cluster[0] if isinstance(design.cluster, (list, tuple)) else design.cluster
    s = pd.factorize(design.data[strata])[0] if strata else np.zeros(design.n, dtype=np.int64)
    if cluster:
        cl = pd.factorize(design.data[cluster])[0]
        psu = s * (int(cl.max()) + 1) + cl       # PSUs nested in strata
    else:
        psu = np.arange(design.n)
    ok = g.dom >= 0
    counts = []
    for unit in (psu, s):
        m = int(unit.max()) + 1
        pairs = np.unique(g.dom[ok] * m + unit[ok])
        counts.append(np.bincount(pairs // m, minlength=g.D))
    return N, (counts[0] - counts[1]).astype(float)


def _interaction_contrasts(nr: int, nc: int) -> np.ndarray:
    """R: ``qr.resid(qr(X1), X12[, -(1:(nr + nc - 1))])`` — the row × column interaction dummies
    of the ``expand.grid(rows, cols)`` layout, residualised on the intercept and main effects."""
    rows, cols = np.tile(np.arange(nr), nc), np.repeat(np.arange(nc), nr)
    R_ = (rows[:, None] == np.arange(1, nr)[None, :]).astype(float)
    C_ = (cols[:, None] == np.arange(1, nc)[None, :]).astype(float)
    X1 = np.hstack([np.ones((nr * nc, 1)), R_, C_])
    X12 = (R_[:, :, None] * C_[:, None, :]).transpose(0, 2, 1).reshape(nr * nc, -1)
    beta = np.linalg.lstsq(X1, X12, rcond=None)[0]
    return X12 - X1 @ beta


def _test(kind, row, column, p, Vp, T, VT, nr, nc, N, nu, replicated) -> ChisqTest:
    k = (nr - 1) * (nc - 1)
    # Pearson's X² on the table rescaled to N (R: chisq.test(svytable(..., Ntotal = N)))
    obs = (p * N).reshape(nc, nr).T
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / obs.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = float(np.sum((obs - expected) ** 2 / expected))
    pearson_p = float(stats.chi2.sf(pearson, k))
    Cm = _interaction_contrasts(nr, nc)
    with np.errstate(divide="ignore"):
        inv_p = np.where(p == 0, 0.0, 1 / p)
    denom = Cm.T @ (inv_p[:, None] * Cm) / N
    numr = Cm.T @ (inv_p[:, None] * Vp * inv_p[None, :]) @ Cm
    delta = np.linalg.solve(denom, numr)
    tr, tr2 = np.trace(delta), np.trace(delta @ delta)
    d0 = tr ** 2 / tr2
    eig = np.sort(np.linalg.eigvals(delta).real)[::-1]
    ndf = ddf = np.nan
    if kind == "F":
        statistic, ndf, ddf = pearson / tr, d0, d0 * nu
        p_value = stats.f.sf(statistic, ndf, ddf)
    elif kind == "Chisq":
        statistic, ndf = pearson, float(k)
        p_value = stats.chi2.sf(pearson / np.mean(np.diag(delta)), k)
    elif kind in ("Wald", "adjWald"):
        statistic, ndf, ddf = _wald(T, VT, nr, nc, nu, kind)
        p_value = stats.f.sf(statistic, ndf, ddf)
    elif kind == "saddlepoint":
        statistic = pearson
        p_value = (_pchisqsum_saddle(pearson, eig) if replicated
                   else _pfsum_saddle(pearson, eig, d0 * nu))
    else:  # lincom
        statistic = pearson
        if replicated:
            p_value = _imhof(np.asarray(eig), np.ones(len(eig)), pearson)
        else:
            ddf_ = d0 * nu
            p_value = _imhof(np.r_[eig, -pearson / ddf_], np.r_[np.ones(len(eig)), ddf_], 0.0)
    return ChisqTest(row, column, kind, float(statistic), float(ndf), float(ddf), float(p_value), pearson, k,
                     pearson_p, eig, float(nu), int(N), _DESCRIPTION[kind])


def _wald(T, VT, nr, nc, nu, kind):
    """Koch et al.'s Wald test on ``Y_rc = T_rc − T_r· T_·c / T`` (R: svychisq's ``Jcb``)."""
    Tm = T.reshape(nc, nr).T
    Tr, Tc, Tt = Tm.sum(axis=1), Tm.sum(axis=0), Tm.sum()
    rk, ck = np.tile(np.arange(nr), nc), np.repeat(np.arange(nc), nr)
    Y = T - Tr[rk] * Tc[ck] / Tt
    # dY_k / dT_k' = 1[k = k'] − 1[r' = r] T_·c / T − 1[c' = c] T_r· / T + T_r· T_·c / T²
    A = (np.eye(len(T)) - (rk[:, None] == rk[None, :]) * (Tc[ck] / Tt)[:, None]
         - (ck[:, None] == ck[None, :]) * (Tr[rk] / Tt)[:, None] + (Tr[rk] * Tc[ck] / Tt ** 2)[:, None])
    VY = A @ VT @ A.T
    use = np.flatnonzero((rk > 0) & (ck > 0))
    W = float(Y[use] @ np.linalg.solve(VY[np.ix_(use, use)], Y[use]))
    k = (nr - 1) * (nc - 1)
    if kind == "Wald":
        return W / k, float(k), float(nu)
    ddf = nu - k + 1
    return W * ddf / (k * nu), float(k), float(ddf)


# ---- distributions of Σ δ_j χ²₁ ------------------------------------------------------------------------


def _saddle(x: float, lam: np.ndarray, mult: np.ndarray) -> float:
    """Kuonen's saddlepoint approximation to ``P(Σ_j m_j λ_j χ²₁ > x)`` (R: ``survey:::saddle``,
    with λ_j repeated m_j times); NaN where R returns NA (saddlepoint too close to 0)."""
    d = lam.max()
    lam, x = lam / d, x / d
    k0 = lambda z: -np.sum(mult * np.log(1 - 2 * z * lam)) / 2
    k1 = lambda z: np.sum(mult * lam / (1 - 2 * z * lam))
    k2 = lambda z: 2 * np.sum(mult * lam ** 2 / (1 - 2 * z * lam) ** 2)
    if (lam < 0).any():
        lmin = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > np.sum(mult * lam):
        lmin = -0.01
    else:
        lmin = -mult.sum() / (2 * x)
    lmax = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    # R's uniroot(tol = 1e-8) is Brent's zeroin; brentq with the same tolerances takes the same steps
    zeta = optimize.brentq(lambda z: k1(z) - x, lmin, lmax, xtol=1e-8, rtol=4 * np.finfo(float).eps)
    if abs(zeta) < 1e-4:
        return np.nan
    w = np.sign(zeta) * np.sqrt(2 * (zeta * x - k0(zeta)))
    v = zeta * np.sqrt(k2(zeta))
    return float(stats.norm.sf(w + np.log(v / w) / w))


def _satterthwaite(a: np.ndarray) -> tuple[float, float]:
    tr = np.mean(a)
    tr2 = np.mean(a ** 2) / tr ** 2
    return tr * tr2, len(a) / tr2


def _pchisqsum_saddle(x: float, a: np.ndarray) -> float:
    """``P(Σ a_j χ²₁ > x)``, R's ``pchisqsum(method = "saddlepoint", lower.tail = FALSE)``."""
    scale, df = _satterthwaite(a)
    s = _saddle(x, a, np.ones(len(a)))
    return float(stats.chi2.sf(x / scale, df)) if np.isnan(s) else s


def _pfsum_saddle(x: float, a: np.ndarray, ddf: float) -> float:
    """``P(Σ a_j χ²₁ / (χ²_ddf / ddf) > x)``, R's ``pFsum(method = "saddlepoint", lower.tail =
    FALSE)``: ``P(Σ a_j χ²₁ − (x/ddf) χ²_ddf > 0)``, the χ²_ddf written (as R's ``rep`` does) as
    ⌊ddf⌋ copies of χ²₁."""
    if not np.isfinite(ddf):
        return _pchisqsum_saddle(x, a)
    scale, ndf = _satterthwaite(a)
    rval = float(stats.f.sf(x / ndf / scale, ndf, ddf))
    mult = np.r_[np.ones(len(a)), np.floor(ddf) if ddf > 1 else 1.0]
    s = _saddle(0.0, np.r_[a, -x / ddf], mult)
    return rval if np.isnan(s) else s


def _imhof(lam: np.ndarray, h: np.ndarray, x: float) -> float:
    """``P(Σ_j λ_j χ²_{h_j} > x)`` by Imhof's (1961) inversion formula:
    ``½ + (1/π) ∫₀^∞ sin θ(u) / (u ρ(u)) du``, ``θ(u) = ½ Σ h_j atan(λ_j u) − ½ x u``,
    ``ρ(u) = Π (1 + λ_j² u²)^{h_j/4}``. For ``x > 0`` the tail beyond ``u₀ = 1 / max|λ|`` is
    integrated as a Fourier integral in ``x u / 2`` (QUADPACK's QAWF), which the slowly decaying,
    oscillating integrand needs. Absolute accuracy about 1e-11 (so tiny p-values are rough)."""
    lam, h = np.asarray(lam, float), np.asarray(h, float)

    def phase(u):
        return 0.5 * np.sum(h * np.arctan(lam * u))

    def amplitude(u):
        return 1.0 / (u * np.exp(0.25 * np.sum(h * np.log1p((lam * u) ** 2))))

    def integrand(u):
        if u == 0:
            return 0.5 * (np.sum(h * lam) - x)
        return np.sin(phase(u) - 0.5 * x * u) * amplitude(u)

    opts = dict(limit=500, epsabs=1e-13, epsrel=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        if x == 0:
            value = integrate.quad(integrand, 0, np.inf, **opts)[0]
        else:
            u0 = 1.0 / np.max(np.abs(lam))
            omega = 0.5 * x
            value = integrate.quad(integrand, 0, u0, **opts)[0]
            # sin(φ − ωu) = sin φ cos ωu − cos φ sin ωu
            value += integrate.quad(lambda u: np.sin(phase(u)) * amplitude(u), u0, np.inf, weight="cos",
                                    wvar=omega, limlst=200)[0]
            value -= integrate.quad(lambda u: np.cos(phase(u)) * amplitude(u), u0, np.inf, weight="sin",
                                    wvar=omega, limlst=200)[0]
    return float(min(1.0, max(0.0, 0.5 + value / np.pi)))
