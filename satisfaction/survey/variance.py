"""Variance from replicate estimates and confidence intervals: the one place in the package where
either is computed (R's ``survey::svrVar`` and ``confint``).

Replicate variance (Wolter 2007, ch. 3–5; R ``survey:::svrVar``): with ``θ_b`` the estimate in
replicate b, ``rscales_b`` its scale and ``scale`` the overall scale,

    V = scale · Σ_b rscales_b (θ_b − c)(θ_b − c)ᵀ,

``c`` = the mean of the replicates with ``rscales_b > 0`` (or the full-sample estimate when
``mse=True``). Replicates that give NA (a domain empty in that replicate, a model that did not
converge) are dropped with a warning, as R does, keeping the design's ``scale`` and the remaining
replicates' ``rscales``.

Intervals: ``estimate ± q · se`` with ``q`` the normal quantile (or Student's t with ``df``
degrees of freedom, as ``confint(..., df=)``) at the confidence ``level``.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["ReplicateNAWarning", "critical_value", "confint", "replicate_variance"]


class ReplicateNAWarning(UserWarning):
    """Some replicates gave NA results and were left out of a variance."""


def critical_value(level: float = 0.95, df: float | None = None) -> float:
    """Two-sided critical value ``q`` with ``P(|T| ≤ q) = level``: the normal quantile
    ``Φ⁻¹(1 − (1 − level)/2)``, or Student's t with ``df`` degrees of freedom (R: ``qnorm`` /
    ``qt`` in ``confint``).

    >>> round(critical_value(0.95), 6)
    1.959964
    """
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"the confidence level must be between 0 and 1, got {level!r}")
    p = 1 - (1 - level) / 2
    if df is None or not np.isfinite(df):
        return float(stats.norm.ppf(p))
    return float(stats.t.ppf(p, df))


def confint(estimate, se, level: float = 0.95, df: float | None = None):
    """``(estimate − q·se, estimate + q·se)`` with ``q = critical_value(level, df)``, elementwise
    (R's ``confint`` for a ``svystat``)."""
    q = critical_value(level, df)
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    return estimate - q * se, estimate + q * se


def replicate_variance(thetas, estimate=None, *, scale: float, rscales, mse: bool = False,
                       full: bool = False, warn: bool = True) -> np.ndarray:
    """Variance of estimates from their replicates, as ``survey::svrVar``.

    Parameters
    ----------
    thetas : array, B × p (or B) — the estimate recomputed with each replicate's weights
    estimate : array, p — the full-sample estimate (the centre when ``mse=True``)
    scale, rscales : the replicate design's overall scale and per-replicate scales (length B)
    mse : centre on the full-sample estimate instead of the replicates' mean
    full : return the p × p covariance matrix instead of the p variances

    A replicate that gives NA for an estimate is left out of that estimate's variance (and of its
    covariances) with a :class:`ReplicateNAWarning`; an estimate that is NA in every replicate gets
    NA.
    """
    thetas = np.asarray(thetas, dtype=float)
    vector = thetas.ndim == 1
    if vector:
        thetas = thetas[:, None]
    B, p = thetas.shape
    rscales = np.broadcast_to(np.asarray(rscales, dtype=float), (B,))
    if mse and estimate is None:
        raise ValueError("mse=True centres on the full-sample estimate: pass estimate=")
    valid = np.isfinite(thetas)
    dropped = ~valid.all(axis=1)
    if dropped.any():
        if warn:
            warnings.warn(f"{int(dropped.sum())} replicates gave NA results and were discarded.",
                          ReplicateNAWarning, stacklevel=3)
        use = valid & (rscales > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(use, thetas, 0.0).sum(axis=0) / use.sum(axis=0)
    else:
        means = thetas[rscales > 0].mean(axis=0)
    center = np.broadcast_to(np.asarray(estimate, dtype=float), (p,)) if mse else means
    dev = np.where(valid, thetas - center, 0.0) * np.sqrt(rscales)[:, None]
    none = ~valid.any(axis=0)
    if full:
        out = scale * (dev.T @ dev)
        out[none, :] = np.nan
        out[:, none] = np.nan
        return out
    out = scale * np.einsum("bj,bj->j", dev, dev)
    out[none] = np.nan
    return out[0] if vector else out
