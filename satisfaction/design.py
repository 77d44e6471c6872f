"""The survey design: data, weights, strata, clusters, finite-population corrections, calibration
and replicate weights — one object, in the spirit of R's ``survey::svydesign`` / ``svrepdesign``.

Variance by Taylor linearisation (:meth:`SurveyDesign.linearized_variance`) follows
``survey:::svyrecvar`` for a one-stage (ultimate-cluster) design: with ``z`` the influence values
(n × p), ``Z_hk`` their totals over PSU k of stratum h, ``n_h`` the PSUs in stratum h and
``f_h = n_h / N_h`` the sampling fraction,

    V = Σ_h (1 − f_h) · n_h / (n_h − 1) · Σ_k (Z_hk − Z̄_h)(Z_hk − Z̄_h)ᵀ.

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
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import SatisfactionError


class DesignError(SatisfactionError):
    """A design that cannot be analysed as specified (e.g. a stratum with a single PSU)."""


@dataclass(frozen=True)
class Replicates:
    """Replicate weights and how to combine them (R's ``svrepdesign`` conventions).

    ``weights`` is the n × B matrix of full replicate weights (R's ``combined.weights=TRUE``), or
    ``None`` when the replicates are generated block by block (``blocks``: a function returning an
    iterator of ``(rows, weights of those rows)``), so that a national survey's replicates need
    never be held in memory at once.
    """

    weights: np.ndarray | None
    kind: str  # "bootstrap", "jk1", "jkn"
    scale: float
    rscales: np.ndarray
    mse: bool = False
    block_source: Callable[[], Iterator[tuple[object, np.ndarray]]] | None = field(default=None, repr=False)

    @property
    def n_replicates(self) -> int:
        return len(self.rscales)

    def blocks(self) -> Iterator[tuple[object, np.ndarray]]:
        """``(rows, n_rows × B weights)`` pairs covering every respondent once."""
        if self.weights is not None:
            yield slice(None), self.weights
        else:
            yield from self.block_source()

    def materialize(self, n: int) -> "Replicates":
        """The same replicates as a full n × B matrix."""
        if self.weights is not None:
            return self
        full = np.empty((n, self.n_replicates))
        for rows, w in self.blocks():
            full[rows] = w
        return replace(self, weights=full, block_source=None)


@dataclass(frozen=True)
class Calibration:
    """What the linearised variance needs to know about a calibration step.

    ``kind`` is ``"linear"`` (GREG: ``model`` is the n × q matrix of calibration variables) or
    ``"raking"`` / ``"poststratify"`` (``margins`` holds one integer code vector per margin).
    ``weights`` are the weights after the step.
    """

    kind: str
    weights: np.ndarray
    model: np.ndarray | None = None
    margins: tuple[np.ndarray, ...] = ()
    old_weights: np.ndarray | None = None


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
    strata: str | None = None
    cluster: str | None = None
    fpc: str | None = None
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
        for name in (self.strata, self.cluster, self.fpc):
            if name is not None and name not in self.data.columns:
                raise DesignError(f"no column {name!r} in the data")
        self._strata_codes = (pd.factorize(self.data[self.strata], sort=True)[0] if self.strata else np.zeros(n, dtype=np.int64))
        if self.cluster:
            # PSUs are nested in strata: the same label in two strata is two PSUs (R's nest=TRUE).
            key = pd.MultiIndex.from_arrays([self._strata_codes, self.data[self.cluster].to_numpy()])
            self._psu_codes = pd.factorize(key, sort=True)[0]
        else:
            self._psu_codes = np.arange(n)
        if self.replicates is not None and self.replicates.weights is not None and self.replicates.weights.shape[0] != n:
            raise DesignError("replicate weights must have one row per respondent")

    # ---- basics ------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.data)

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
        z = np.asarray(z, float)
        if z.ndim == 1:
            z = z[:, None]
        z = self._residualize(z)
        n_psu = int(self._psu_codes.max()) + 1 if self.n else 0
        psu = sparse.csr_matrix((np.ones(self.n), (self._psu_codes, np.arange(self.n))), shape=(n_psu, self.n))
        totals = psu @ z  # PSU totals
        psu_stratum = np.zeros(n_psu, dtype=np.int64)
        psu_stratum[self._psu_codes] = self._strata_codes
        n_strata = int(psu_stratum.max()) + 1 if n_psu else 0
        n_h = np.bincount(psu_stratum, minlength=n_strata).astype(float)
        fpc = self._finite_population_correction(n_h)
        if (n_h == 1).any():
            lonely = np.flatnonzero(n_h == 1)
            if self.lonely_psu == "fail":
                names = self._stratum_names()[lonely]
                raise DesignError(f"stratum {names[0]!r} has only one PSU; variance cannot be estimated "
                                  "(set lonely_psu='certainty' to treat it as certainty PSU)")
        sums = np.zeros((n_strata, z.shape[1]))
        np.add.at(sums, psu_stratum, totals)
        means = sums / n_h[:, None]
        dev = totals - means[psu_stratum]
        factor = np.where(n_h > 1, (1 - fpc) * n_h / np.maximum(n_h - 1, 1), 0.0)
        dev = dev * np.sqrt(factor[psu_stratum])[:, None]
        return dev.T @ dev if full else np.einsum("ij,ij->j", dev, dev)

    def _stratum_names(self) -> np.ndarray:
        if not self.strata:
            return np.array(["(all)"])
        return np.array(sorted(self.data[self.strata].unique(), key=lambda v: (str(type(v)), v)), dtype=object)

    def _finite_population_correction(self, n_h: np.ndarray) -> np.ndarray:
        if not self.fpc:
            return np.zeros_like(n_h)
        values = self.data[self.fpc].to_numpy(dtype=float)
        per_stratum = pd.Series(values).groupby(self._strata_codes).agg(["min", "max"])
        if (per_stratum["min"] != per_stratum["max"]).any():
            raise DesignError(f"fpc column {self.fpc!r} must be constant within each stratum")
        v = per_stratum["min"].to_numpy()
        f = np.where(v <= 1, v, n_h / v)
        if (f > 1).any() or (f < 0).any():
            raise DesignError(f"fpc column {self.fpc!r} gives sampling fractions outside [0, 1]")
        return f

    # ---- replicates ----------------------------------------------------------------------------
    def replicate_variance(self, thetas: np.ndarray, full: np.ndarray | None = None, *,
                           covariance: bool = False) -> np.ndarray:
        """Variance from replicate estimates ``thetas`` (B × p) around ``full`` (p), with this
        design's ``scale``, ``rscales`` and ``mse`` (:func:`satisfaction.survey.variance.replicate_variance`):
        the p variances, or the p × p matrix with ``covariance=True``."""
        from .survey.variance import replicate_variance

        rep = self.require_replicates()
        return replicate_variance(thetas, full, scale=rep.scale, rscales=rep.rscales, mse=rep.mse,
                                  full=covariance)

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
            w = self.require_replicates().materialize(self.n).weights
            return int(np.linalg.matrix_rank(w, tol=1e-5 * max(1.0, float(np.abs(w).max())))) - 1
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


#: Above this many replicate weights (n × B), bootstrap replicates are generated block by block.
LAZY_THRESHOLD = 50_000_000


def bootstrap_weights(design: SurveyDesign, replicates: int = 1000, *, seed: int | None = None,
                      mse: bool = False, lazy: bool | None = None) -> SurveyDesign:
    """Rao–Wu rescaling bootstrap within strata (m_h = n_h − 1 PSUs drawn with replacement).

    Replicate weight of unit i in PSU k of stratum h: ``w_i · n_h / (n_h − 1) · r_hk`` with ``r_hk``
    the number of times PSU k was drawn (Rao & Wu 1988; R's ``as.svrepdesign(type="subbootstrap")``).
    Combined with R's bootstrap conventions: ``scale = 1 / (B − 1)``, ``rscales = 1``.

    Each stratum draws from its own stream (seeded by ``seed`` and the stratum), so the replicates
    are the same whether they are held as one n × B matrix or generated a stratum at a time
    (``lazy``; by default when n × B exceeds :data:`LAZY_THRESHOLD`). To re-rake every replicate,
    use :func:`satisfaction.weighting.rake_replicates`.
    """
    if replicates < 2:
        raise DesignError("the bootstrap needs at least two replicates")
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
    blocks = group_blocks(design._strata_codes)
    psu, weights = design._psu_codes, design.weights

    def source():
        columns = np.arange(replicates, dtype=np.int64)
        for h, rows in enumerate(blocks):
            rng = np.random.default_rng([seed, h])
            local = np.unique(psu[rows], return_inverse=True)[1].ravel()
            n_h = int(local.max()) + 1
            if n_h < 2:
                raise DesignError("the bootstrap needs at least two PSUs in every stratum")
            # n_h − 1 draws with replacement per replicate, counted per PSU: counts[k, b]
            draws = rng.integers(0, n_h, size=(n_h - 1, replicates), dtype=np.int64) * replicates + columns
            counts = np.bincount(draws.ravel(), minlength=n_h * replicates).reshape(n_h, replicates)
            yield rows, counts[local] * (weights[rows] * (n_h / (n_h - 1)))[:, None]

    rep = Replicates(None, "bootstrap", 1.0 / (replicates - 1), np.ones(replicates), mse, block_source=source)
    if lazy is None:
        lazy = design.n * replicates > LAZY_THRESHOLD
    return replace(design, replicates=rep if lazy else rep.materialize(design.n))


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
    ``scale = (n−1)/n``. JKn (stratified): replicate (h, k) drops PSU k of stratum h and multiplies
    the other PSUs of h by ``n_h/(n_h−1)``; ``rscales = (n_h−1)/n_h``, ``scale = 1``.
    """
    psu, strata = design._psu_codes, design._strata_codes
    n_psu = int(psu.max()) + 1
    psu_stratum = np.zeros(n_psu, dtype=np.int64)
    psu_stratum[psu] = strata
    if kind == "auto":
        kind = "jkn" if design.strata else "jk1"
    n_h = np.bincount(psu_stratum).astype(float)
    if (n_h < 2).any():
        raise DesignError("the jackknife needs at least two PSUs in every stratum")
    # factor[psu_j, replicate k] for replicate k deleting PSU k
    same_stratum = psu_stratum[:, None] == psu_stratum[None, :]
    factor = np.where(same_stratum, (n_h / (n_h - 1))[psu_stratum][:, None], 1.0)
    np.fill_diagonal(factor, 0.0)
    if kind == "jk1":
        if design.strata and len(n_h) > 1:
            raise DesignError("JK1 is for unstratified designs; use kind='jkn'")
        scale, rscales = (n_psu - 1) / n_psu, np.ones(n_psu)
    elif kind == "jkn":
        scale, rscales = 1.0, ((n_h - 1) / n_h)[psu_stratum]
    else:
        raise ValueError(f"kind must be 'jk1', 'jkn' or 'auto', got {kind!r}")
    reps = design.weights[:, None] * factor[psu]
    return replace(design, replicates=Replicates(reps, kind, scale, rscales, mse))
