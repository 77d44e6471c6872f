"""The survey design: data, weights, strata, clusters, finite-population corrections, calibration
and replicate weights — one object, in the spirit of R's ``survey::svydesign`` / ``svrepdesign``.

Variance by Taylor linearisation (:meth:`SurveyDesign.linearized_variance`) follows
``survey:::svyrecvar``: with ``z`` the influence values (n × p), ``Z_hk`` their totals over PSU k
of stratum h, ``n_h`` the PSUs in stratum h and ``f_h = n_h / N_h`` the sampling fraction,

    V₁ = Σ_h (1 − f_h) · n_h / (n_h − 1) · Σ_k (Z_hk − Z̄_h)(Z_hk − Z̄_h)ᵀ.

A multistage design (``cluster=["psu", "ssu"]``, ``fpc=["N1", "N2"]``, as
``svydesign(ids=~psu+ssu, fpc=~N1+N2)``) adds, for every sampled PSU i, the same sum over its
sampled SSUs scaled by the first-stage sampling fraction: ``V = V₁ + Σ_i f_{h(i)} V₂ᵢ`` (and so on
down the stages); without a first-stage FPC the later stages add nothing (the ultimate-cluster
estimator). A stratum with one PSU is handled as ``options(survey.lonely.psu=)``: ``"fail"``
(an error), ``"certainty"`` and ``"remove"`` (it adds nothing), ``"adjust"`` (its PSU total is
centred on the grand mean of all PSU totals instead of its stratum mean), ``"average"`` (it is
left out and the variance scaled up by strata / strata with more than one PSU).

Calibrated designs first replace ``z`` by its residual from the calibration model, as R does for
``calibrate`` (weighted least squares on the calibration variables, Särndal, Swensson & Wretman
1992, §6.6) and ``rake`` (iterated post-stratum centring).

Variance from replicate weights (:meth:`SurveyDesign.replicate_variance`) follows
``survey:::svrVar``: ``V = scale · Σ_b rscale_b (θ_b − c)(θ_b − c)ᵀ`` with ``c`` the mean of the
replicates (or the full-sample estimate when ``mse=True``).

References: Lumley, T. (2010) *Complex Surveys: A Guide to Analysis Using R*; Wolter, K. (2007)
*Introduction to Variance Estimation*; Rao, J.N.K. & Wu, C.F.J. (1988) JASA 83, 231–241.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import SatisfactionError


class DesignError(SatisfactionError):
    """A design that cannot be analysed as specified (e.g. a stratum with a single PSU)."""


@dataclass(frozen=True)
class Replicates:
    """Replicate weights and how to combine them (R's ``svrepdesign`` conventions).

    ``weights`` is the n × B matrix of full replicate weights (R's ``combined.weights=TRUE``), or
    ``None`` when the replicates are held in compact form (``store``: a
    :class:`~satisfaction.survey.store.ReplicateStore` of resampling counts and calibration factors,
    drawn and re-calibrated once) or generated block by block (``block_source``: a function
    returning an iterator of ``(rows, weights of those rows)``), so that a national survey's
    replicates need never be held in memory at once. :meth:`blocks` reads any of the three.
    """

    weights: np.ndarray | None
    kind: str  # "bootstrap", "jk1", "jkn"
    scale: float
    rscales: np.ndarray
    mse: bool = False
    block_source: Callable[[], Iterator[tuple[object, np.ndarray]]] | None = field(default=None, repr=False)
    store: object | None = field(default=None, repr=False)

    @property
    def n_replicates(self) -> int:
        return len(self.rscales)

    @cached_property
    def rank(self) -> int:
        """Rank of the n × B replicate weights (R's ``qr(weights, tol=1e-5)$rank``), from the
        B × B cross-product — computed once per replicate set."""
        gram = np.zeros((self.n_replicates, self.n_replicates))
        for _, w in self.blocks():
            gram += w.T @ w
        singular = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None))
        return int((singular > 1e-5 * singular.max()).sum()) if singular.size else 0

    def blocks(self) -> Iterator[tuple[object, np.ndarray]]:
        """``(rows, n_rows × B weights)`` pairs covering every respondent once."""
        if self.weights is not None:
            yield slice(None), self.weights
        elif self.store is not None:
            yield from self.store.blocks()
        else:
            yield from self.block_source()

    def map_blocks(self, fn: Callable[[object, np.ndarray], object]) -> Iterator:
        """``fn(rows, weights of those rows)`` for every block of :meth:`blocks`, results in block
        order. A store's blocks are generated and handed to ``fn`` on a few threads at once
        (:func:`satisfaction.survey.store.ordered_map`): ``fn`` must only read shared data, and a
        consumer that adds up the results in the order given gets the same numbers whatever the
        threads."""
        if self.weights is None and self.store is not None:
            return self.store.map_blocks(fn)
        return (fn(rows, w) for rows, w in self.blocks())

    def materialize(self, n: int) -> "Replicates":
        """The same replicates as a full n × B matrix."""
        if self.weights is not None:
            return self
        if self.store is not None:
            return replace(self, weights=self.store.materialize(), store=None)
        full = np.empty((n, self.n_replicates))
        for rows, w in self.blocks():
            full[rows] = w
        return replace(self, weights=full, block_source=None)


@dataclass(frozen=True)
class Calibration:
    """What the linearised variance needs to know about a calibration step.

    ``kind`` is ``"linear"`` (GREG: ``model`` is the n × q matrix of calibration variables) or
    ``"raking"`` / ``"poststratify"`` (``margins`` holds one integer code vector per margin).
    ``weights`` are the weights after the step. ``replay(rows, W)`` applies the same calibration
    (method and population totals) to a block of replicate weights ``W`` (rows × B), so that
    replicates drawn later are re-calibrated as the full sample was.
    """

    kind: str
    weights: np.ndarray
    model: np.ndarray | None = None
    margins: tuple[np.ndarray, ...] = ()
    old_weights: np.ndarray | None = None
    replay: Callable[[object, np.ndarray], np.ndarray] | None = field(default=None, repr=False)


#: The lonely-PSU rules of R's ``options(survey.lonely.psu=)``.
LONELY_PSU = ("fail", "certainty", "remove", "adjust", "average")


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True)
class _Stage:
    """One sampling stage: ``cluster`` (per row) codes the stage's sampling units, nested in their
    stratum and in the units of the stages above; per stratum: ``stratum_of`` (per unit),
    ``n_units``, ``fraction`` (sampling fraction, 0 without FPC), ``multiplier`` (the product of
    the sampling fractions above, 1 at the first stage) and ``parent`` (the unit above it)."""

    cluster: np.ndarray
    strata: np.ndarray       # stratum of each unit
    n_units: np.ndarray
    fraction: np.ndarray
    multiplier: np.ndarray
    parent: np.ndarray
    rows_are_units: bool
    number: int = 0

    def scaled_deviations(self, z: np.ndarray, lonely_psu: str, label) -> np.ndarray:
        """Unit totals of ``z`` minus their stratum centre, times the square root of each unit's
        variance factor, so that ``devᵀ dev`` is this stage's contribution (R: ``onestage``)."""
        n_units = len(self.strata)
        totals = z if self.rows_are_units else _group_sum(self.cluster, n_units) @ z
        n_h = self.n_units.astype(float)
        k = len(n_h)
        sums = _group_sum(self.strata, k) @ totals
        center = sums / n_h[:, None]
        lonely = n_h == 1
        active = (self.multiplier > 0) & (1 - self.fraction >= 1e-7)
        stuck = lonely & active
        if stuck.any() and lonely_psu == "fail":
            h = int(np.flatnonzero(stuck)[0])
            raise DesignError(f"stratum {label(self.number, h)!r} has only one PSU at stage {self.number + 1}; its "
                              "variance cannot be estimated (choose lonely_psu='certainty', 'remove', 'adjust' "
                              "or 'average', as R's options(survey.lonely.psu=))")
        scale = np.where(lonely, 1.0, n_h / np.maximum(n_h - 1, 1)) * (1 - self.fraction)
        factor = np.where(active, self.multiplier * scale, 0.0)
        if stuck.any() and lonely_psu == "adjust":
            # centre the lonely PSU's total on the grand mean of the PSU totals in its parent unit
            n_parent = int(self.parent.max()) + 1
            parent_sum = _group_sum(self.parent, n_parent) @ sums
            parent_units = np.bincount(self.parent, weights=n_h, minlength=n_parent)
            center[stuck] = parent_sum[self.parent[stuck]] / parent_units[self.parent[stuck], None]
        if stuck.any() and lonely_psu == "average":
            n_parent = int(self.parent.max()) + 1
            strata_in = np.bincount(self.parent, minlength=n_parent).astype(float)
            ok_in = np.bincount(self.parent, weights=(~stuck).astype(float), minlength=n_parent)
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(stuck, 0.0, factor * (strata_in / np.where(ok_in == 0, 1, ok_in))[self.parent])
        dev = totals - center[self.strata]
        return dev * np.sqrt(factor[self.strata])[:, None]


def _nested_codes(parent: np.ndarray, values: pd.Series) -> np.ndarray:
    """Codes 0, 1, … of the (parent code, value) pairs, in sorted order (as
    ``MultiIndex.from_arrays([parent, values]).factorize(sort=True)``): the values factorised
    once, then the pairs as one integer."""
    codes, uniques = pd.factorize(values.to_numpy(), sort=True)
    if (codes < 0).any():                        # a missing value: keep pandas' own handling of it
        return pd.MultiIndex.from_arrays([parent, values.to_numpy()]).factorize(sort=True)[0]
    pair = parent.astype(np.int64) * max(1, len(uniques)) + codes
    return np.unique(pair, return_inverse=True)[1].ravel()


def _build_stages(data: pd.DataFrame, clusters: list, strata: list, fpcs: list) -> list[_Stage]:
    """The sampling stages of a design (R: ``svydesign``'s ``cluster``, ``strata`` and ``fpc``
    objects): one per cluster column (at least one; without clusters the rows are the units)."""
    n = len(data)
    stages: list[_Stage] = []
    n_stages = max(1, len(clusters))
    parent_rows = np.zeros(n, dtype=np.int64)
    multiplier_rows = np.ones(n)
    for k in range(n_stages):
        stratum_rows = _nested_codes(parent_rows, data[strata[k]]) if k < len(strata) else parent_rows
        if k < len(clusters):
            unit_rows = _nested_codes(stratum_rows, data[clusters[k]])
        else:
            unit_rows = np.arange(n)
        n_units = int(unit_rows.max()) + 1 if n else 0
        unit_stratum = np.zeros(n_units, dtype=np.int64)
        unit_stratum[unit_rows] = stratum_rows
        n_strata = int(unit_stratum.max()) + 1 if n_units else 0
        n_h = np.bincount(unit_stratum, minlength=n_strata)
        parent = np.zeros(n_strata, dtype=np.int64)
        parent[stratum_rows] = parent_rows
        multiplier = np.zeros(n_strata)
        multiplier[stratum_rows] = multiplier_rows
        fraction = np.zeros(n_strata)
        if k < len(fpcs):
            values = pd.Series(data[fpcs[k]].to_numpy(dtype=float)).groupby(stratum_rows).agg(["min", "max"])
            if (values["min"] != values["max"]).any():
                raise DesignError(f"fpc column {fpcs[k]!r} must be constant within each stratum")
            v = values["min"].to_numpy()
            fraction = np.where(v <= 1, v, n_h / v)
            if (fraction > 1).any() or (fraction < 0).any() or not np.isfinite(fraction).all():
                bad = int(np.flatnonzero((fraction > 1) | (fraction < 0) | ~np.isfinite(fraction))[0])
                raise DesignError(f"fpc column {fpcs[k]!r} gives a sampling fraction outside [0, 1] "
                                  f"({n_h[bad]} units sampled, value {v[bad]!r})")
        stages.append(_Stage(unit_rows, unit_stratum, n_h, fraction, multiplier, parent, k >= len(clusters), k))
        parent_rows = unit_rows
        multiplier_rows = multiplier_rows * fraction[stratum_rows]
    return stages


@dataclass
class SurveyDesign:
    """A survey design.

    Parameters
    ----------
    data : DataFrame, one row per respondent
    weights : column name or array of sampling weights (default: all 1)
    strata : column name (default ``None``: one stratum)
    cluster : column name of primary sampling units (default ``None``: each row is its own PSU)
    fpc : column name; values ≤ 1 are sampling fractions, values > 1 are population PSU counts
        per stratum (as R's ``svydesign(fpc=)``)
    replicates : optional :class:`Replicates`
    calibrations : calibration steps applied so far (set by :mod:`satisfaction.weighting`)
    """

    data: pd.DataFrame
    weights: np.ndarray | str | None = None
    strata: str | list | None = None
    cluster: str | list | None = None
    fpc: str | list | None = None
    replicates: Replicates | None = None
    calibrations: tuple[Calibration, ...] = ()
    codebook: object | None = field(default=None, repr=False)
    lonely_psu: str = "fail"
    weight_diagnostics: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self):
        self.data = self.data.reset_index(drop=True)
        n = len(self.data)
        if self.weights is None:
            w = np.ones(n)
        elif isinstance(self.weights, str):
            w = self.data[self.weights].to_numpy(dtype=float)
        else:
            w = np.asarray(self.weights, dtype=float)
        if w.shape != (n,):
            raise DesignError(f"weights must have one value per row ({n}), got shape {w.shape}")
        # Linear (GREG) calibration may legitimately produce negative weights; sampling weights may not.
        invalid = ~np.isfinite(w) | ((w < 0) if not self.calibrations else False)
        if invalid.any():
            bad = int(np.flatnonzero(invalid)[0])
            raise DesignError(f"weights must be finite and non-negative; row {bad} has {w[bad]!r}")
        self.weights = w
        if self.lonely_psu not in LONELY_PSU:
            raise DesignError(f"lonely_psu must be one of {', '.join(map(repr, LONELY_PSU))} "
                              f"(as R's options(survey.lonely.psu=)), got {self.lonely_psu!r}")
        clusters, strata, fpcs = _as_list(self.cluster), _as_list(self.strata), _as_list(self.fpc)
        for name in clusters + strata + fpcs:
            if name not in self.data.columns:
                raise DesignError(f"no column {name!r} in the data")
        if len(strata) > max(1, len(clusters)) or len(fpcs) > max(1, len(clusters)):
            raise DesignError("give at most one strata column and one fpc column per sampling stage "
                              f"({max(1, len(clusters))} stage(s) from cluster={self.cluster!r})")
        self._stages = _build_stages(self.data, clusters, strata, fpcs)
        self._strata_codes = self._stages[0].strata[self._stages[0].cluster]
        self._psu_codes = self._stages[0].cluster
        if self.replicates is not None and self.replicates.weights is not None and self.replicates.weights.shape[0] != n:
            raise DesignError("replicate weights must have one row per respondent")

    # ---- basics ------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def base_weights(self) -> np.ndarray:
        """The weights before any calibration step (what replicates are drawn from)."""
        return self.calibrations[0].old_weights if self.calibrations else self.weights

    def with_weights(self, weights: np.ndarray, calibration: Calibration | None = None,
                     replicates: Replicates | None | str = "keep") -> "SurveyDesign":
        """A copy with new weights (and, optionally, one more calibration step)."""
        cals = self.calibrations + ((calibration,) if calibration is not None else ())
        reps = self.replicates if replicates == "keep" else replicates
        return replace(self, weights=np.asarray(weights, float), calibrations=cals, replicates=reps)

    # ---- linearisation -------------------------------------------------------------------------
    def _residualize(self, z: np.ndarray) -> np.ndarray:
        """Influence values after the calibration steps, exactly as ``survey:::svyrecvar`` does:
        GREG residuals for ``calibrate``, ten rounds of margin centring for ``rake``, post-stratum
        centring for ``postStratify``."""
        for cal in self.calibrations:
            if cal.kind == "linear":
                z = _greg_residual(z, cal.model, cal.old_weights, cal.weights)
            elif cal.kind == "poststratify":
                z = _center_within(z, cal.margins[0], cal.weights)
            elif cal.kind == "raking":
                for _ in range(10):
                    for margin in cal.margins:
                        z = _center_within_unweighted(z, margin, cal.weights)
        return z

    def linearized_variance(self, z: np.ndarray, full: bool = True) -> np.ndarray:
        """Variance of the totals of the influence values ``z`` (n × p): the p × p matrix, or only
        its diagonal (p) with ``full=False``."""
        dev = self.linearized_deviations(z)
        return dev.T @ dev if full else np.einsum("ij,ij->j", dev, dev)

    def linearized_deviations(self, z: np.ndarray) -> np.ndarray:
        """The matrix ``D`` (sampling units of every stage × p) with ``V = DᵀD``: each unit's total
        of the (calibration-residualised) influence values minus its stratum centre, times the
        square root of its variance factor. Kept, ``D`` gives any covariance later without the data."""
        z = np.asarray(z, float)
        if z.ndim == 1:
            z = z[:, None]
        z = self._residualize(z)
        parts = []
        for stage in self._stages:
            if not stage.multiplier.any():
                break
            parts.append(stage.scaled_deviations(z, self.lonely_psu, self._stratum_label))
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    def _stratum_label(self, stage: int, stratum: int):
        """The data's label of a stratum (for messages)."""
        st = self._stages[stage]
        row = int(np.flatnonzero(st.strata[st.cluster] == stratum)[0])
        strata = _as_list(self.strata)
        if stage < len(strata):
            return self.data[strata[stage]].iloc[row]
        if stage == 0:
            return "(all)"
        return f"PSU {self.data[_as_list(self.cluster)[stage - 1]].iloc[row]!r}"

    # ---- replicates ----------------------------------------------------------------------------
    def replicate_variance(self, thetas: np.ndarray, full: np.ndarray | None = None, *,
                           covariance: bool = False) -> np.ndarray:
        """Variance from replicate estimates ``thetas`` (B × p) around ``full`` (p), with this
        design's ``scale``, ``rscales`` and ``mse`` (:func:`satisfaction.survey.variance.replicate_variance`):
        the p variances, or the p × p matrix with ``covariance=True``."""
        from .variance import replicate_variance

        rep = self.require_replicates()
        return replicate_variance(thetas, full, scale=rep.scale, rscales=rep.rscales, mse=rep.mse,
                                  full=covariance)

    def numeric_columns(self, columns, what: str, error: type[Exception] = None) -> list[str]:
        """``columns`` (a name or a list) checked to be numeric columns of the data; otherwise
        ``error`` (default :class:`DesignError`) names the column and says ``what`` needs numbers."""
        cols = [columns] if isinstance(columns, str) else list(columns)
        error = error or DesignError
        if not cols:
            raise error("give at least one column")
        for c in cols:
            if c not in self.data.columns:
                raise error(f"no column {c!r} in the design's data")
            if not pd.api.types.is_numeric_dtype(self.data[c]):
                raise error(f"column {c!r} is not numeric (dtype {self.data[c].dtype}); {what} need numbers")
        return cols

    def domains(self, by, error: type[Exception] = None) -> tuple[np.ndarray, pd.DataFrame]:
        """Domain code of every row and the domains' keys (one row each, sorted): ``by`` is a
        column or a list of columns (``None``: one domain). A row whose ``by`` value is missing
        belongs to no domain (code −1), as in ``svyby``. ``error``: the exception class for an
        unknown column (default :class:`DesignError`)."""
        if by is None:
            return np.zeros(self.n, dtype=np.int64), pd.DataFrame(index=range(1))
        cols = [by] if isinstance(by, str) else list(by)
        missing = [c for c in cols if c not in self.data.columns]
        if not cols or missing:
            raise (error or DesignError)(f"by= names column(s) {missing or cols!r} not in the design's data")
        grouped = self.data[cols].groupby(cols, sort=True, dropna=True, observed=True)
        codes = grouped.ngroup().to_numpy(dtype=float)
        codes = np.where(np.isnan(codes), -1, codes).astype(np.int64)
        index = grouped.size().index
        # plain values, their dtype inferred afresh (as the estimators have always keyed their output)
        keys = pd.DataFrame([v if isinstance(v, tuple) else (v,) for v in index], columns=cols)
        return codes, keys

    def method(self, method: str | None = None) -> str:
        """The variance method an estimator uses: ``"replicate"`` when the design carries replicate
        weights, else ``"linearization"`` — or the one asked for."""
        if method is None:
            return "replicate" if self.replicates is not None else "linearization"
        if method not in ("linearization", "replicate"):
            raise ValueError(f"method must be 'linearization' or 'replicate', got {method!r}")
        return method

    def degf(self, method: str | None = None) -> int:
        """Design degrees of freedom, as R's ``degf``: PSUs minus strata for linearisation; for a
        replicate design the rank of the replicate weights minus one."""
        if self.method(method) == "replicate":
            return self.require_replicates().rank - 1
        n_psu = int(self._psu_codes.max()) + 1 if self.n else 0
        n_strata = int(self._strata_codes.max()) + 1 if self.n else 0
        return n_psu - n_strata

    def require_replicates(self) -> Replicates:
        if self.replicates is None:
            raise DesignError("this design has no replicate weights; use bootstrap_weights() or jackknife_weights(), "
                              "or method='linearization'")
        return self.replicates


def _greg_residual(z: np.ndarray, x: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """R: ``qr.resid(qr(X·√d), z/a) · a`` with ``a = g·√d = w/√d`` (d old, w new weights)."""
    pos = old > 0
    root = np.sqrt(old[pos])
    a = (new[pos] / root)[:, None]
    xs = x[pos] * root[:, None]
    u = z[pos] / a
    beta = np.linalg.lstsq(xs, u, rcond=None)[0]
    out = np.zeros_like(z)
    out[pos] = (u - xs @ beta) * a
    return out


def _group_sum(codes: np.ndarray, k: int) -> sparse.csr_matrix:
    """Sparse k × n matrix that sums rows by group code."""
    return sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(k, len(codes)))


def _center_within_unweighted(z: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """R's raking step: ``z − w · ave(z / w, margin)`` (unweighted mean of z/w within each cell)."""
    k = int(codes.max()) + 1
    sums = _group_sum(codes, k) @ (z / weights[:, None])
    counts = np.bincount(codes, minlength=k).astype(float)
    means = sums / np.maximum(counts, 1)[:, None]
    return z - weights[:, None] * means[codes]


def _center_within(z: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Remove post-stratum means: ``z − w · Σ_g z / Σ_g w`` within each group g (R's postStratify
    variance step)."""
    k = int(codes.max()) + 1
    num = _group_sum(codes, k) @ z
    den = np.bincount(codes, weights=weights, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(den[:, None] > 0, num / den[:, None], 0.0)
    return z - weights[:, None] * means[codes]


# ---- replicate weights --------------------------------------------------------------------------


#: Above this many replicate weights (n × B), bootstrap replicates stay in compact form (counts and
#: calibration factors, :class:`~satisfaction.survey.store.ReplicateStore`) instead of one n × B matrix.
LAZY_THRESHOLD = 50_000_000


def bootstrap_weights(design: SurveyDesign, replicates: int = 1000, *, seed: int | None = None,
                      mse: bool = False, lazy: bool | None = None) -> SurveyDesign:
    """Rao–Wu rescaling bootstrap within strata (m_h = n_h − 1 PSUs drawn with replacement).

    Replicate weight of unit i in PSU k of stratum h: ``w_i · n_h / (n_h − 1) · r_hk`` with ``r_hk``
    the number of times PSU k was drawn (Rao & Wu 1988; R's ``as.svrepdesign(type="subbootstrap")``).
    Combined with R's bootstrap conventions: ``scale = 1 / (B − 1)``, ``rscales = 1``. On a
    calibrated design the replicates are drawn from the weights before calibration and re-calibrated
    by every recorded step (raking, linear calibration, post-stratification).

    The replicates are drawn and re-calibrated once, here, block by block (a block holds whole
    strata and whole calibration groups: with cities as strata and raking within cities, a city),
    and kept in compact form: resampling counts and calibration factors
    (:class:`~satisfaction.survey.store.ReplicateStore`), which every estimator reads. Each stratum
    draws from its own stream (seeded by ``seed`` and the stratum), so the replicates do not depend
    on the blocks. Unless ``lazy`` (by default when n × B exceeds :data:`LAZY_THRESHOLD`), the
    full n × B matrix is then built from the store — the same numbers bit for bit.
    """
    from .store import ReplicateStore, calibration_blocks

    if replicates < 2:
        raise DesignError("the bootstrap needs at least two replicates")
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
    replays = [c.replay for c in design.calibrations if c.replay is not None]
    blocks = calibration_blocks(design._strata_codes, [r.groups for r in replays])
    store = ReplicateStore.draw(blocks, design._strata_codes, design._psu_codes, design.base_weights, replicates,
                                seed, replays)
    rep = Replicates(None, "bootstrap", 1.0 / (replicates - 1), np.ones(replicates), mse, store=store)
    if lazy is None:
        lazy = design.n * replicates > LAZY_THRESHOLD
    if not lazy:
        rep = rep.materialize(design.n)
    return replace(design, replicates=rep)


def _recalibrated(design: SurveyDesign, replicates: Replicates) -> Replicates:
    """Replicates drawn from the weights before calibration, passed through the design's
    calibration steps (as the full-sample weights were)."""
    if not design.calibrations:
        return replicates
    from .weighting import apply_calibrations

    return apply_calibrations(design, replicates)


def group_blocks(codes: np.ndarray) -> list:
    """Rows of each group, as a slice where the group's rows are contiguous (the usual case: data
    sorted by city), else as an index array. Slices let the big replicate matrices be written in
    place, a block at a time."""
    if len(codes) == 0:
        return []
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(int(codes.max()) + 2))
    blocks = []
    for h in range(len(bounds) - 1):
        rows = order[bounds[h]:bounds[h + 1]]
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            blocks.append(slice(int(rows[0]), int(rows[-1]) + 1))
        else:
            blocks.append(rows)
    return blocks


def jackknife_weights(design: SurveyDesign, kind: str = "auto", *, mse: bool = False) -> SurveyDesign:
    """Delete-one-PSU jackknife replicate weights, as ``as.svrepdesign(type="JK1"|"JKn")``.

    JK1 (unstratified): replicate k drops PSU k and multiplies the others by ``n/(n−1)``;
    ``scale = (1 − f)(n−1)/n``. JKn (stratified): replicate (h, k) drops PSU k of stratum h and
    multiplies the other PSUs of h by ``n_h/(n_h−1)``; ``rscales = (1 − f_h)(n_h−1)/n_h``,
    ``scale = 1`` — ``f`` the first-stage sampling fraction (0 without FPC). As R's
    ``jknweights``: a stratum sampled completely (f = 1) gets no replicates; a stratum with one
    PSU follows the design's ``lonely_psu`` — no replicate (``"certainty"``, ``"remove"``,
    ``"average"``, the last scaling the variance by PSUs / replicates) or, for ``"adjust"``, one
    replicate that drops it and multiplies every other PSU by ``H/(H−1)`` (H strata). On a
    calibrated design the replicates are re-calibrated by every recorded step.
    """
    stage = design._stages[0]
    psu, psu_stratum = stage.cluster, stage.strata
    n_psu = int(psu.max()) + 1
    if kind == "auto":
        kind = "jkn" if design.strata else "jk1"
    if kind not in ("jk1", "jkn"):
        raise ValueError(f"kind must be 'jk1', 'jkn' or 'auto', got {kind!r}")
    n_h = stage.n_units.astype(float)
    keep = 1 - stage.fraction                                  # R's fpc correction (N − n)/N
    if kind == "jk1":
        if len(n_h) > 1:
            raise DesignError("JK1 is for unstratified designs; use kind='jkn'")
        if n_psu < 2:
            raise DesignError("the jackknife needs at least two PSUs")
        factor = np.full((n_psu, n_psu), n_psu / (n_psu - 1))
        np.fill_diagonal(factor, 0.0)
        if keep[0] == 0:                                         # the whole population: no replicates
            factor = factor[:, :0]
        scale, rscales = float(keep[0] * (n_psu - 1) / n_psu), np.ones(factor.shape[1])
    else:
        H = len(n_h)
        columns, rscales, skipped = [], [], 0
        for h in range(H):
            members = np.flatnonzero(psu_stratum == h)
            if keep[h] == 0:
                skipped += len(members)
                continue
            if len(members) == 1:
                if design.lonely_psu == "fail":
                    raise DesignError(f"stratum {design._stratum_label(0, h)!r} has only one PSU; the jackknife "
                                      "needs two (or choose lonely_psu='certainty', 'remove', 'adjust' or 'average')")
                if design.lonely_psu != "adjust":
                    skipped += 1
                    continue
                col = np.where(psu_stratum == h, 0.0, H / (H - 1))
                columns.append(col[:, None])
                rscales.append((H - 1) / H)
                continue
            block = np.ones((n_psu, len(members)))
            block[members] = n_h[h] / (n_h[h] - 1)
            block[members, np.arange(len(members))] = 0.0
            columns.append(block)
            rscales += [keep[h] * (n_h[h] - 1) / n_h[h]] * len(members)
        if not columns:
            raise DesignError("every stratum was sampled completely: the sample is the population")
        factor = np.hstack(columns)
        rscales = np.asarray(rscales, dtype=float)
        scale = 1.0
        if factor.shape[1] < n_psu and design.lonely_psu == "average":
            scale = n_psu / factor.shape[1]
    reps = design.base_weights[:, None] * factor[psu]
    return replace(design, replicates=_recalibrated(design, Replicates(reps, kind, scale, rscales, mse)))


from .replicates import brr_weights  # noqa: E402  (BRR lives with the replicate machinery)
