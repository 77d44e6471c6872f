"""Driver (importance–performance) analysis: which indicators move overall satisfaction, and where
each city stands on them.

*Derived importance* of predictors x_1 … x_p (second-level indicator scores) for an outcome y
(the overall-satisfaction item), from the (survey-weighted) correlations ``R_xx`` and ``r_xy``:

* **Johnson's relative weights** (Johnson 2000, *Multivariate Behav. Res.* 35(1), 1–19): with
  ``R_xx = V Λ Vᵀ`` and ``Λ* = V Λ^½ Vᵀ`` (the correlations of the x with their closest
  orthogonal counterparts z), ``β = Λ*⁻¹ r_xy`` regresses y on the z, and
  ``ε_j = Σ_k Λ*_jk² β_k²``. The ε sum to R².
* **Shapley R² decomposition** (LMG; Lindeman, Merenda & Gold 1980; Grömping 2006): each
  predictor's R² increase averaged over all orders of entry,
  ``φ_j = Σ_{S ⊆ P∖j} |S|!(p−|S|−1)!/p! · (R²(S ∪ j) − R²(S))`` with ``R²(S) = r_Sᵀ R_SS⁻¹ r_S``,
  computed over all 2^p subsets at once. The φ sum to R².

*Performance* is the indicator's score (0–100). The quadrant chart crosses importance with
performance at their means over the indicators: **concentrate here** (important, weak),
**keep up the good work** (important, strong), **low priority** (less important, weak) and
**possible overkill** (less important, strong) — the list a city uses to plan the next year.
"""
from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd

from .errors import SatisfactionError

from .report.labels import check_lang


class DriverError(SatisfactionError):
    """Data on which a driver analysis cannot run (too few complete rows, a constant predictor)."""


MAX_SHAPLEY_PREDICTORS = 20
#: Complete interviews needed per predictor before a unit's driver analysis is run (Harrell,
#: *Regression Modeling Strategies*, 2nd ed. 2015, §4.4: about 10–20 observations per parameter);
#: a unit with fewer gets no importance and the quadrant ``too_few``, never a number fitted to noise.
MIN_ROWS_PER_PREDICTOR = 10
QUADRANTS = {
    "zh": {"concentrate": "重点改进", "keep": "继续保持", "low": "次要改进", "overkill": "相对次要的优势",
           "too_few": "样本不足，未作分析"},
    "en": {"concentrate": "Concentrate here", "keep": "Keep up the good work", "low": "Low priority",
           "overkill": "Less important strength", "too_few": "Too few interviews to analyse"},
}


def _correlations(data: pd.DataFrame, predictors: list[str], outcome: str, weights) -> tuple[np.ndarray, np.ndarray, int]:
    cols = list(predictors) + [outcome]
    frame = data[cols].astype(float)
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(frame),):
        raise ValueError(f"weights need one value per row ({len(frame)}), got shape {w.shape}")
    keep = frame.notna().all(axis=1).to_numpy() & (w > 0)
    x, w = frame.to_numpy()[keep], w[keep]
    if len(x) <= len(cols):
        raise DriverError(f"only {len(x)} complete rows for {len(predictors)} predictors")
    w = w / w.sum()
    centred = x - w @ x
    cov = (centred * w[:, None]).T @ centred
    sd = np.sqrt(np.diag(cov))
    flat = sd <= 1e-12 * np.maximum(np.abs(x).max(axis=0), 1.0)
    if flat.any():
        constant = [c for c, f in zip(cols, flat) if f]
        raise DriverError(f"{constant} do not vary; importance is not defined")
    r = cov / np.outer(sd, sd)
    return r[:-1, :-1], r[:-1, -1], int(keep.sum())


def relative_weights(data: pd.DataFrame, predictors: list[str], outcome: str, *, weights=None) -> pd.DataFrame:
    """Johnson's relative weights: per predictor ``raw`` (ε_j, summing to R²) and ``share`` (ε_j/R²).
    ``attrs``: ``r2`` and ``n`` (complete rows used)."""
    rxx, rxy, n = _correlations(data, predictors, outcome, weights)
    values, vectors = np.linalg.eigh(rxx)
    lam_half = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
    beta = np.linalg.solve(lam_half, rxy)
    raw = (lam_half ** 2) @ (beta ** 2)
    r2 = float(raw.sum())
    out = pd.DataFrame({"raw": raw, "share": raw / r2}, index=pd.Index(predictors, name="predictor"))
    out.attrs.update(r2=r2, n=n)
    return out


def _subset_r2(rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """R² of every subset of predictors, indexed by bitmask (2^p values), by subset size in batches."""
    p = len(rxy)
    masks = np.arange(1 << p)
    members = (masks[:, None] >> np.arange(p)) & 1
    sizes = members.sum(axis=1)
    r2 = np.zeros(1 << p)
    for k in range(1, p + 1):
        chosen = masks[sizes == k]
        idx = np.array([np.flatnonzero(members[m]) for m in chosen])
        sub = rxx[idx[:, :, None], idx[:, None, :]]
        r = rxy[idx]
        r2[chosen] = (r * np.linalg.solve(sub, r[..., None])[..., 0]).sum(axis=1)
    return r2


def shapley_r2(data: pd.DataFrame, predictors: list[str], outcome: str, *, weights=None) -> pd.DataFrame:
    """Shapley (LMG) decomposition of R²: per predictor ``raw`` (φ_j, summing to R²) and ``share``.
    Exact over all 2^p subsets (p ≤ 20). ``attrs``: ``r2`` and ``n``."""
    p = len(predictors)
    if p > MAX_SHAPLEY_PREDICTORS:
        raise ValueError(f"exact Shapley decomposition needs ≤ {MAX_SHAPLEY_PREDICTORS} predictors, got {p}")
    rxx, rxy, n = _correlations(data, predictors, outcome, weights)
    r2 = _subset_r2(rxx, rxy)
    masks = np.arange(1 << p)
    sizes = ((masks[:, None] >> np.arange(p)) & 1).sum(axis=1)
    coef = np.array([factorial(s) * factorial(p - s - 1) / factorial(p) if s < p else 0.0 for s in range(p + 1)])
    phi = np.empty(p)
    for j in range(p):
        without = masks[(masks >> j) & 1 == 0]
        phi[j] = (coef[sizes[without]] * (r2[without | (1 << j)] - r2[without])).sum()
    total = float(r2[-1])
    out = pd.DataFrame({"raw": phi, "share": phi / total}, index=pd.Index(predictors, name="predictor"))
    out.attrs.update(r2=total, n=n)
    return out


def quadrant(importance: float, performance: float, importance_cut: float, performance_cut: float,
             lang: str = "zh") -> str:
    """The importance–performance quadrant of one indicator."""
    names = QUADRANTS[check_lang(lang)]
    if importance >= importance_cut:
        return names["keep"] if performance >= performance_cut else names["concentrate"]
    return names["overkill"] if performance >= performance_cut else names["low"]


def importance_performance(data: pd.DataFrame, codebook, *, outcome: str = "OVERALL", by: str | None = "city",
                           weights=None, method: str = "relative_weights", lang: str = "zh") -> pd.DataFrame:
    """Importance (share of explained variance of ``outcome``) and performance (weighted mean
    0–100 score) of every second-level indicator, per unit of ``by`` (or overall with
    ``by=None``), with the quadrant. Indicator scores are respondent-level (each respondent's
    answered items combined with the codebook weights).

    A unit with fewer than :data:`MIN_ROWS_PER_PREDICTOR` complete interviews per indicator gets
    no importance (NaN) and the quadrant ``QUADRANTS[lang]["too_few"]``.

    Returns ``[by,] indicator, label, dimension, importance, performance, quadrant, r2, n``."""
    from .index import rescale_items, respondent_scores

    if method not in ("relative_weights", "shapley"):
        raise ValueError("method must be 'relative_weights' or 'shapley'")
    if outcome not in data.columns:
        raise DriverError(f"outcome column {outcome!r} is not in the data")
    indicators = [ind for dim in codebook.dimensions for ind in dim.children]
    scores = respondent_scores(data, codebook)[[ind.code for ind in indicators]]
    scale = codebook.items[outcome].scale if outcome in codebook.items else None
    y = rescale_items(data[[outcome]], codebook)[outcome] if scale is not None else data[outcome].astype(float)
    frame = scores.assign(**{outcome: y.to_numpy()})
    w = pd.Series(np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float), index=data.index)
    dim_of = {ind.code: dim.label(lang) for dim in codebook.dimensions for ind in dim.children}
    fn = relative_weights if method == "relative_weights" else shapley_r2
    groups = [(None, data.index)] if by is None else list(data.groupby(by, sort=True).groups.items())
    rows = []
    needed = MIN_ROWS_PER_PREDICTOR * len(indicators)
    for key, index in groups:
        part = frame.loc[index]
        sub = part[[ind.code for ind in indicators]]
        ww = w.loc[index].to_numpy()[:, None] * sub.notna().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            perf = (sub.fillna(0.0).to_numpy() * ww).sum(axis=0) / ww.sum(axis=0)
        complete = int((part.notna().all(axis=1).to_numpy() & (w.loc[index].to_numpy() > 0)).sum())
        if complete < needed:
            share, r2 = np.full(len(indicators), np.nan), np.nan
            quadrants = [QUADRANTS[check_lang(lang)]["too_few"]] * len(indicators)
        else:
            imp = fn(part, [ind.code for ind in indicators], outcome, weights=w.loc[index].to_numpy())
            share, r2, complete = imp["share"].to_numpy(), imp.attrs["r2"], imp.attrs["n"]
            quadrants = [quadrant(share[j], perf[j], share.mean(), float(np.mean(perf)), lang) for j in range(len(indicators))]
        for j, ind in enumerate(indicators):
            row = {} if by is None else {by: key}
            row.update(indicator=ind.code, label=ind.label(lang), dimension=dim_of[ind.code],
                       importance=float(share[j]), performance=float(perf[j]), quadrant=quadrants[j], r2=r2, n=complete)
            rows.append(row)
    return pd.DataFrame(rows)


def _relative_weights_stack(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Johnson's relative-weight shares for B weightings of the same rows at once: ``x`` is n × (p+1)
    (predictors, then the outcome), ``w`` n × B. The weighted correlations of every weighting come
    from two matrix products (``Wᵀx`` and ``Wᵀ(x ⊗ x)``); then :func:`relative_weights` per layer,
    batched. Returns B × p shares (each row sums to 1)."""
    n, q = x.shape
    total = w.sum(axis=0)
    mean = (w.T @ x) / total[:, None]
    second = (w.T @ (x[:, :, None] * x[:, None, :]).reshape(n, q * q)).reshape(-1, q, q) / total[:, None, None]
    cov = second - mean[:, :, None] * mean[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bjj->bj", cov), 0, None))
    r = cov / (sd[:, :, None] * sd[:, None, :])
    rxx, rxy = r[:, :-1, :-1], r[:, :-1, -1]
    values, vectors = np.linalg.eigh(rxx)
    lam_half = (vectors * np.sqrt(np.clip(values, 0, None))[:, None, :]) @ np.transpose(vectors, (0, 2, 1))
    beta = np.linalg.solve(lam_half, rxy[..., None])[..., 0]
    raw = np.einsum("bjk,bk->bj", lam_half ** 2, beta ** 2)
    return raw / raw.sum(axis=1, keepdims=True)


def importance_intervals(design, codebook, *, outcome: str = "OVERALL", by: str = "city", level: float = 0.95,
                         lang: str = "zh") -> pd.DataFrame:
    """:func:`importance_performance` (Johnson's relative weights, the design's weights) with the
    sampling uncertainty of each importance, from the design's replicates: the shares recomputed
    under every replicate's weights (:func:`_relative_weights_stack`, the same complete interviews),
    ``se`` from the design's replicate variance and the normal interval ``share ± z·se``.

    ``priority`` is the rule the bulletins name a priority by: the indicator is in the quadrant
    "concentrate here" (importance at or above the average importance ``1/p``, performance below the
    unit's average) **and** its importance interval lies wholly above ``1/p``. An indicator in that
    quadrant whose interval reaches ``1/p`` is a candidate on thin evidence (``priority`` False,
    ``candidate`` True) and is not named.

    Returns the columns of :func:`importance_performance` plus ``se, ci_low, ci_high, candidate,
    priority``."""
    from .index import rescale_items, respondent_scores
    from .survey.variance import critical_value

    point = importance_performance(design.data, codebook, outcome=outcome, by=by, weights=design.weights, lang=lang)
    indicators = [ind.code for dim in codebook.dimensions for ind in dim.children]
    scores = respondent_scores(design.data, codebook)[indicators]
    y = rescale_items(design.data[[outcome]], codebook)[outcome] if outcome in codebook.items else design.data[outcome]
    x = np.column_stack([scores.to_numpy(dtype=float), y.to_numpy(dtype=float)])
    weights = design.require_replicates().materialize(design.n).weights
    complete = ~np.isnan(x).any(axis=1) & (design.weights > 0)
    z = critical_value(level)
    p = len(indicators)
    units = design.data[by].to_numpy()
    se = np.full(len(point), np.nan)
    for unit, part in point.groupby(by, sort=False):
        share = part["importance"].to_numpy(dtype=float)
        if np.isnan(share).all():
            continue
        rows = complete & (units == unit)
        thetas = _relative_weights_stack(x[rows], weights[rows])
        se[part.index] = np.sqrt(design.replicate_variance(thetas, share))
    out = point.copy()
    out["se"] = se
    out["ci_low"] = out["importance"] - z * se
    out["ci_high"] = out["importance"] + z * se
    concentrate = out["quadrant"] == QUADRANTS[check_lang(lang)]["concentrate"]
    out["candidate"] = concentrate
    out["priority"] = concentrate & (out["ci_low"] > 1 / p)
    return out
