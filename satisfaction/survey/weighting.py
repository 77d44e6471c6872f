"""Survey weights: raking, post-stratification, linear calibration and trimming.

Raking (iterative proportional fitting, Deming & Stephan 1940) adjusts the weights so that the
weighted sample reproduces every population margin, within each group (city) separately::

    repeat over margins v:   w_i ← w_i · T_v[c_v(i)] / Σ_{j: c_v(j) = c_v(i)} w_j

until the largest relative margin error is below ``tol``. It gives the same weights as R's
``survey::rake`` run to convergence, and as ``calibrate(calfun="raking")``.

Linear calibration (GREG, Deville & Särndal 1992): ``w_i = d_i (1 + x_iᵀ λ)`` with λ solving
``Σ d_i (1 + x_iᵀ λ) x_i = T``, as ``calibrate(calfun="linear")``.

Margins are given as a tidy table with columns ``variable``, ``category`` and ``target`` (plus the
``by`` column when raking within groups), or as a dict ``{variable: {category: target}}``. Targets
are population counts, or shares (a variable whose targets sum to 1), which are scaled to the
group's initial weight total. Impossible margins raise :class:`WeightingError` naming the group,
variable, category and value: a category with a target but no respondents, respondents in a
category with no target or a zero target (at most :data:`NEGLIGIBLE_TARGET` of the group's
total), negative or missing targets, margins whose totals disagree, or no convergence within
``max_iter``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import sparse

from .design import Calibration, SurveyDesign
from ..errors import SatisfactionError


class WeightingError(SatisfactionError):
    """Margins or weights that cannot be used; the message names group, variable, category, value."""


TOTAL_TOLERANCE = 1e-3  # relative disagreement allowed between the totals of a group's margins
#: A target at most this share of its group's total, for a category with respondents, is refused.
NEGLIGIBLE_TARGET = 1e-6


@dataclass
class _Margin:
    variable: str
    cells: np.ndarray     # cell index of each respondent (group × category)
    targets: np.ndarray   # target per cell
    labels: list          # (group, category) per cell


def _tidy_margins(margins, by: str | None) -> pd.DataFrame:
    if isinstance(margins, pd.DataFrame):
        df = margins.copy()
        if "target" not in df.columns:
            for alt in ("count", "share", "Freq"):
                if alt in df.columns:
                    df = df.rename(columns={alt: "target"})
                    break
        needed = ["variable", "category", "target"] + ([by] if by else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise WeightingError(f"margins table lacks column(s) {missing}; expected {needed}")
        return df[needed]
    rows = []
    if by:
        for group, per_var in margins.items():
            for var, targets in per_var.items():
                rows += [(group, var, cat, t) for cat, t in dict(targets).items()]
        return pd.DataFrame(rows, columns=[by, "variable", "category", "target"])
    for var, targets in margins.items():
        rows += [(var, cat, t) for cat, t in dict(targets).items()]
    return pd.DataFrame(rows, columns=["variable", "category", "target"])


def _prepare(df: pd.DataFrame, margins, weights: np.ndarray, by: str | None,
             total_tol: float = TOTAL_TOLERANCE) -> tuple[np.ndarray, list, list[_Margin]]:
    """Validate margins against the sample; returns group codes, group labels and the margins."""
    tidy = _tidy_margins(margins, by)
    n = len(df)
    if by:
        if by not in df.columns:
            raise WeightingError(f"no column {by!r} in the data to rake within")
        groups, group_labels = pd.factorize(df[by], sort=True)
        group_labels = list(group_labels)
    else:
        groups, group_labels = np.zeros(n, dtype=np.int64), [None]
    problems: list[str] = []
    where = (lambda g: f"{by}={g!r}, " if by else "")

    target = pd.to_numeric(tidy["target"], errors="coerce")
    for i in np.flatnonzero(target.isna() | (target < 0)):
        row = tidy.iloc[i]
        problems.append(f"{where(row[by]) if by else ''}variable {row['variable']!r}, category {row['category']!r}: "
                        f"target must be a non-negative number, got {tidy['target'].iloc[i]!r}")
    if problems:
        raise WeightingError("invalid margins:\n  " + "\n  ".join(problems))
    tidy = tidy.assign(target=target.astype(float))
    if by:
        missing_groups = sorted(set(map(str, group_labels)) - set(map(str, tidy[by].unique())))
        if missing_groups:
            raise WeightingError(f"no margins for {by} {', '.join(missing_groups)}")

    variables = list(dict.fromkeys(tidy["variable"]))
    group_key = [str(g) for g in group_labels]
    base_total = np.bincount(groups, weights=weights, minlength=len(group_labels))
    out: list[_Margin] = []
    totals = np.zeros((len(variables), len(group_labels)))
    for k, var in enumerate(variables):
        if var not in df.columns:
            raise WeightingError(f"margin variable {var!r} is not a column of the data")
        values = df[var]
        if values.isna().any():
            rows = np.flatnonzero(values.isna().to_numpy())[:5].tolist()
            raise WeightingError(f"margin variable {var!r} is missing for {int(values.isna().sum())} respondent(s) "
                                 f"(rows {rows}…); impute or drop them before weighting")
        sub = tidy[tidy["variable"] == var]
        sample_codes, sample_cats = pd.factorize(values.astype(str), sort=True)
        cats = sorted(set(sample_cats) | set(sub["category"].astype(str)))
        cat_code = {c: j for j, c in enumerate(cats)}
        cells = groups * len(cats) + np.array([cat_code[c] for c in sample_cats], dtype=np.int64)[sample_codes]
        targets = np.full(len(group_labels) * len(cats), np.nan)
        sub_groups = [group_key.index(str(g)) if str(g) in group_key else -1 for g in (sub[by] if by else [None] * len(sub))]
        for gi, cat, t in zip(sub_groups, sub["category"].astype(str), sub["target"]):
            if gi >= 0:
                targets[gi * len(cats) + cat_code[cat]] = t
        counts = np.bincount(cells, minlength=len(targets))
        labels = [(group_labels[c // len(cats)], cats[c % len(cats)]) for c in range(len(targets))]
        for c in np.flatnonzero((counts > 0) & np.isnan(targets)):
            g, cat = labels[c]
            problems.append(f"{where(g)}variable {var!r}: {counts[c]} respondent(s) in category {cat!r}, which has no target")
        for c in np.flatnonzero((counts == 0) & (np.nan_to_num(targets) > 0)):
            g, cat = labels[c]
            problems.append(f"{where(g)}variable {var!r}: category {cat!r} has target {targets[c]:g} but no respondents")
        # a target of (almost) zero would weight its respondents down to (almost) nothing: refused
        group_sum = np.nansum(targets.reshape(len(group_labels), len(cats)), axis=1)
        tiny = (counts > 0) & ~np.isnan(targets) & (targets <= NEGLIGIBLE_TARGET * group_sum[np.arange(len(targets)) // len(cats)])
        for c in np.flatnonzero(tiny):
            g, cat = labels[c]
            problems.append(f"{where(g)}variable {var!r}: category {cat!r} has {counts[c]} respondent(s) but target "
                            f"{targets[c]:g} (at most {NEGLIGIBLE_TARGET:g} of the total): their weights would vanish; "
                            "correct the target or merge the category")
        targets = np.nan_to_num(targets)
        per_group = targets.reshape(len(group_labels), len(cats))
        sums = per_group.sum(axis=1)
        is_share = np.isclose(sums, 1.0, atol=1e-6)
        per_group[is_share] *= base_total[is_share, None]  # shares → the group's weight total
        totals[k] = per_group.sum(axis=1)
        out.append(_Margin(var, cells, per_group.ravel(), labels))
    if problems:
        raise WeightingError("impossible margins:\n  " + "\n  ".join(problems))
    # The totals of a group's margins must agree; small disagreements (rounded census tables) are
    # reconciled by scaling every margin to their mean.
    mean_total = totals.mean(axis=0)
    spread = np.abs(totals - mean_total).max(axis=0) / np.where(mean_total > 0, mean_total, 1)
    for g in np.flatnonzero(spread > total_tol):
        listed = ", ".join(f"{v}={t:g}" for v, t in zip(variables, totals[:, g]))
        problems.append(f"{where(group_labels[g])}margin totals disagree by {spread[g]:.2%} ({listed})")
    if problems:
        raise WeightingError("impossible margins:\n  " + "\n  ".join(problems))
    for k, m in enumerate(out):
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(totals[k] > 0, mean_total / totals[k], 1.0)
        m.targets = m.targets * np.repeat(scale, len(m.targets) // len(group_labels))
    return groups, group_labels, out


def trim_weights(weights, lower: float = -np.inf, upper: float = np.inf, *, strict: bool = True,
                 groups: np.ndarray | None = None, max_iter: int = 1000) -> np.ndarray:
    """Trim weights to ``[lower, upper]`` and hand the trimmed amount to the other units.

    As R's ``trimWeights``: weights outside the bounds are set to the bound and the total trimmed
    is added equally to the weights that were inside; with ``strict=True`` this repeats until every
    weight is within bounds. Where no weight of a group is inside the bounds (R would fail), the
    amount goes to the weights that can take it without crossing a bound. The total weight (per
    group, when ``groups`` is given) is preserved; bounds may be scalars or one value per unit.
    """
    w = np.asarray(weights, dtype=float).copy()
    groups = np.zeros(len(w), dtype=np.int64) if groups is None else np.asarray(groups)
    k = int(groups.max()) + 1 if len(groups) else 0
    lower = np.broadcast_to(np.asarray(lower, float), w.shape)
    upper = np.broadcast_to(np.asarray(upper, float), w.shape)
    if (lower > upper).any():
        raise WeightingError("trimming bounds: lower bound above upper bound")
    totals = np.bincount(groups, weights=w, minlength=k)
    if (np.bincount(groups, weights=lower, minlength=k) > totals * (1 + 1e-12)).any() or \
            (np.bincount(groups, weights=upper, minlength=k) < totals * (1 - 1e-12)).any():
        raise WeightingError("trimming bounds cannot be met: the total weight lies outside n·[lower, upper]")
    for _ in range(max_iter):
        outside = (w < lower) | (w > upper)
        if not outside.any():
            return w
        clipped = np.clip(w, lower, upper)
        residual = np.bincount(groups, weights=w - clipped, minlength=k)
        # units already at the bound the residual would push them over do not take a share
        can_take = np.where(residual[groups] > 0, clipped < upper, clipped > lower)
        receivers = ~outside & can_take
        stuck = (np.bincount(groups, weights=receivers.astype(float), minlength=k) == 0) & (residual != 0)
        receivers = np.where(stuck[groups], can_take, receivers)
        count = np.bincount(groups, weights=receivers.astype(float), minlength=k)
        w = clipped + np.where(receivers, residual[groups] / np.maximum(count[groups], 1), 0.0)
        if not strict:
            return w
    raise WeightingError(f"trimming did not settle within {max_iter} rounds")


def _aggregators(margins: list[_Margin], n: int) -> list[sparse.csr_matrix]:
    """One sparse (cells × n) summing matrix per margin."""
    return [sparse.csr_matrix((np.ones(n), (m.cells, np.arange(n))), shape=(len(m.targets), n)) for m in margins]


def _cell_targets(m: _Margin, w: np.ndarray) -> np.ndarray:
    """The margin's targets shaped for ``w``: per cell, or per cell and replicate (cells × B) when
    replicates have targets of their own (:func:`undrawn_spread`)."""
    if m.targets.ndim == 2:
        return m.targets
    return m.targets[:, None] if w.ndim == 2 else m.targets


def undrawn_spread(targets: np.ndarray, sums: np.ndarray, cell_group: np.ndarray) -> np.ndarray:
    """Targets per cell and replicate (cells × B) for replicates that drew no respondent of a category.

    A bootstrap replicate of a small city can miss a category altogether (a category held by m of
    the city's n respondents is missed with probability about e^(-m)); no weight can then reach
    its target. The documented rule: in that replicate the missed category's target is spread over
    the other categories of the same margin and group in proportion to their targets,

        T*_cb = 0 if the replicate total S_cb = 0, else T_c · Σ_{c'∈g} T_c' / Σ_{c'∈g, S_c'b>0} T_c',

    so the group (the city) still reaches its population total and its other categories keep their
    relative sizes: the cell is collapsed into its margin for that replicate only, as one collapses
    empty cells before raking. Replicates that drew every category keep the targets unchanged, so
    designs without empty cells agree with R's ``rake`` on a replicate design exactly. Returns
    ``targets`` itself (1-D) when no replicate missed a category.
    """
    empty = (sums <= 0) & (np.nan_to_num(targets) > 0)[:, None]
    if not empty.any():
        return targets
    t = np.nan_to_num(targets)
    kept = np.where(empty, 0.0, t[:, None])
    groups, inverse = np.unique(cell_group, return_inverse=True)
    to_group = sparse.csr_matrix((np.ones(len(t)), (inverse.ravel(), np.arange(len(t)))), shape=(len(groups), len(t)))
    full = to_group @ t                      # group totals
    left = to_group @ kept                   # group totals without the missed categories, per replicate
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(left > 0, full[:, None] / left, 1.0)
    return kept * scale[inverse.ravel()]


def _ipf(w: np.ndarray, margins: list[_Margin], max_iter: int, tol: float, trim_bounds=None,
         groups=None) -> tuple[np.ndarray, int, np.ndarray]:
    """Iterative proportional fitting of a weight vector (n) or of several at once (n × B)."""
    sums_of = _aggregators(margins, w.shape[0])
    err = np.inf
    first = None                                    # the first margin's sums, kept from the last check
    for iteration in range(1, max_iter + 1):
        for k, (m, agg) in enumerate(zip(margins, sums_of)):
            sums = first if k == 0 and first is not None else agg @ w
            t = _cell_targets(m, w)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(sums > 0, t / sums, 1.0)
            w = w * factor[m.cells]
        if trim_bounds is not None:
            # capped raking: clip, and let the next sweep restore the margins
            lo, hi = trim_bounds(w)
            w = np.clip(w, lo, hi)
        kept = []
        err = _margin_errors(w, margins, sums_of, kept)
        first = kept[0]
        if np.nanmax(err) < tol:
            return w, iteration, err
    return w, max_iter, err


def _margin_errors(w: np.ndarray, margins: list[_Margin], sums_of=None, kept: list | None = None) -> np.ndarray:
    """Largest relative error |Σw − T| / T over all cells (per column when ``w`` is a matrix);
    ``kept``, when given, receives each margin's sums."""
    sums_of = sums_of or _aggregators(margins, w.shape[0])
    errs = []
    for m, agg in zip(margins, sums_of):
        sums = agg @ w
        if kept is not None:
            kept.append(sums)
        t = _cell_targets(m, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            errs.append(np.nanmax(np.where(t > 0, np.abs(sums - t) / t, np.abs(sums)), axis=0))
    return np.max(np.array(errs), axis=0)


def weight_diagnostics(weights: np.ndarray, groups: np.ndarray, group_labels: list, by: str | None) -> pd.DataFrame:
    """Per group: n, total weight, min/max weight, Kish design effect ``n Σw²/(Σw)²``, effective
    sample size ``n / deff`` and weighting efficiency ``1 / deff``."""
    k = len(group_labels)
    n = np.bincount(groups, minlength=k).astype(float)
    s1 = np.bincount(groups, weights=weights, minlength=k)
    s2 = np.bincount(groups, weights=weights ** 2, minlength=k)
    deff = n * s2 / s1 ** 2
    frame = pd.DataFrame({
        "n": n.astype(int), "sum_weights": s1,
        "min_weight": pd.Series(weights).groupby(groups).min().reindex(range(k)).to_numpy(),
        "max_weight": pd.Series(weights).groupby(groups).max().reindex(range(k)).to_numpy(),
        "kish_deff": deff, "effective_n": n / deff, "efficiency": 1 / deff,
    })
    frame.insert(0, by or "group", group_labels if by else ["(all)"])
    return frame


def rake(df: pd.DataFrame, margins, *, weight=None, by: str | None = None, trim: tuple[float, float] | None = None,
         max_iter: int = 1000, tol: float = 1e-10, return_diagnostics: bool = False):
    """Rake weights to population margins (within each ``by`` group).

    Parameters
    ----------
    df : DataFrame with the margin variables (and ``by``)
    margins : tidy DataFrame (``[by,] variable, category, target``) or ``{variable: {category: target}}``
    weight : column name or array of initial weights (default 1)
    by : rake within each group of this column (e.g. ``"city"``)
    trim : ``(lower, upper)`` bounds as multiples of the group's mean weight; raking and clipping
        to the bounds alternate until both the margins and the bounds hold (capped raking)
    max_iter, tol : iteration limit and tolerance on the largest relative margin error

    Returns
    -------
    Series of weights aligned with ``df``; with ``return_diagnostics=True``, also a DataFrame per
    group (iterations, converged, max_margin_error, Kish deff, effective n, efficiency …).
    """
    base = _initial_weights(df, weight)
    groups, labels, margins_ = _prepare(df, margins, base, by)
    trim_bounds = None
    if trim is not None:
        lo, hi = trim
        if not 0 <= lo < 1 < hi:
            raise WeightingError(f"trim bounds must satisfy 0 <= lower < 1 < upper, got {trim}")
        count = np.bincount(groups).astype(float)

        def trim_bounds(w):
            mean = (np.bincount(groups, weights=w) / count)[groups]
            return lo * mean, hi * mean

    w, iterations, _ = _ipf(base, margins_, max_iter, tol, trim_bounds, groups)
    diag = weight_diagnostics(w, groups, labels, by)
    per_group_error = np.zeros(len(labels))
    for m in margins_:
        sums = np.bincount(m.cells, weights=w, minlength=len(m.targets))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(m.targets > 0, np.abs(sums - m.targets) / m.targets, 0.0)
        per_group_error = np.maximum(per_group_error, rel.reshape(len(labels), -1).max(axis=1))
    diag.insert(1, "iterations", iterations)
    diag.insert(2, "max_margin_error", per_group_error)
    diag.insert(2, "converged", per_group_error < tol)
    if not diag["converged"].all():
        worst = diag.loc[diag["max_margin_error"].idxmax()]
        raise WeightingError(
            f"raking did not converge within {max_iter} iterations: largest relative margin error "
            f"{worst['max_margin_error']:.3g}" + (f" ({by}={worst[by]!r})" if by else "")
            + ("; the trimming bounds may be incompatible with the margins" if trim else ""))
    out = pd.Series(w, index=df.index, name="weight")
    return (out, diag) if return_diagnostics else out


def _initial_weights(df: pd.DataFrame, weight) -> np.ndarray:
    if weight is None:
        return np.ones(len(df))
    w = df[weight].to_numpy(dtype=float) if isinstance(weight, str) else np.asarray(weight, dtype=float)
    if len(w) != len(df) or not np.isfinite(w).all() or (w <= 0).any():
        raise WeightingError("initial weights must be positive and finite, one per row")
    return w


def poststratify(df: pd.DataFrame, cells: str, targets, *, weight=None, by: str | None = None) -> pd.Series:
    """Post-stratify: scale weights in each cell to its population count (one-margin raking)."""
    margins = _tidy_margins({cells: targets}, None) if not isinstance(targets, pd.DataFrame) else targets
    return rake(df, margins, weight=weight, by=by, max_iter=2)


# ---- design-level weighting ---------------------------------------------------------------------
#
# Each step records a Calibration on the design with a ``replay(rows, W)`` that applies the same
# calibration (same method, same population totals) to a block of replicate weights: the design's
# replicates are calibrated now, and replicates drawn later (bootstrap_weights, jackknife_weights,
# brr_weights) are drawn from the weights before calibration and replayed through every step, as
# R does when a replicate design is calibrated (``calibrate``/``rake``/``postStratify`` on an
# ``svyrep.design``).


def _whole_groups(groups: np.ndarray, rows, what: str, sizes: np.ndarray | None = None) -> np.ndarray:
    """The groups a block of rows covers, checking that it holds each of them whole (``sizes``:
    ``np.bincount(groups)``, when the caller has it)."""
    if isinstance(rows, slice) and rows == slice(None):
        return np.unique(groups)
    present = np.unique(groups[rows])
    sizes = np.bincount(groups) if sizes is None else sizes
    if (np.bincount(groups[rows], minlength=len(sizes))[present] != sizes[present]).any():
        raise WeightingError(f"a block of replicates holds part of a {what} group; generate the replicates with "
                             "lazy=False or calibrate within groups that contain whole strata")
    return present


class _Replay:
    """A calibration step applied to blocks of replicate weights (all replicates at once).

    ``factors(rows, W)`` gives, for a block of rows holding whole ``groups`` (the step's
    calibration groups, one code per respondent) and their replicate weights ``W`` (rows × B), the
    cell of each row and the cells × B factors the step multiplies them by; calling the step
    applies them. Replicate stores keep the factors (:mod:`satisfaction.survey.store`)."""

    def __init__(self, groups: np.ndarray, factors):
        self.groups = np.asarray(groups)
        self.factors = factors

    def __call__(self, rows, weights: np.ndarray) -> np.ndarray:
        cells, factors = self.factors(rows, weights)
        return weights * factors[cells]


def _raking_replay(groups: np.ndarray, prepared: list[_Margin], max_iter: int, tol: float) -> _Replay:
    """Re-rake blocks of replicate weights (all replicates at once): respondents who share a
    category in every margin get the same factor, so the (joint cells × B) table is raked — each
    group's part on its own, so that a group stops iterating when it has converged."""
    sizes = np.bincount(groups)

    def factors(rows, weights):
        block_margins = prepared
        block_groups = groups
        if not (isinstance(rows, slice) and rows == slice(None)):
            _whole_groups(groups, rows, "raking", sizes)
            block_margins = [_restrict(m, rows) for m in prepared]
            block_groups = groups[rows]
        key = np.stack([m.cells for m in block_margins], axis=1)
        joint, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        n_rows = len(inverse)
        to_joint = sparse.csr_matrix((np.ones(n_rows), (inverse, np.arange(n_rows))), shape=(len(joint), n_rows))
        table = to_joint @ weights
        joint_group = np.empty(len(joint), dtype=np.int64)
        joint_group[inverse] = block_groups
        present = np.unique(joint_group)
        if len(present) == 1:
            raked = _rake_joint_table(table, joint, block_margins, max_iter, tol)
        else:
            raked = np.empty_like(table)
            for g in present:
                cells = np.flatnonzero(joint_group == g)
                raked[cells] = _rake_joint_table(table[cells], joint[cells], block_margins, max_iter, tol)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(table > 0, raked / table, 0.0)
        return inverse, factor
    return _Replay(groups, factors)


def _rake_joint_table(table: np.ndarray, joint: np.ndarray, margins: list[_Margin], max_iter: int,
                      tol: float) -> np.ndarray:
    """Rake a (joint cells × B) table of one group's replicate totals to the margins (``joint``:
    each joint cell's cell of every margin), with :func:`undrawn_spread` for categories a
    replicate did not draw and :func:`_rerake_unsolvable` for replicates with no solution."""
    table_margins = []
    for k, m in enumerate(margins):
        used, local = np.unique(joint[:, k], return_inverse=True)
        local = local.ravel()
        sums = sparse.csr_matrix((np.ones(len(joint)), (local, np.arange(len(joint)))),
                                 shape=(len(used), len(joint))) @ table
        labels = [m.labels[c] for c in used]
        cell_group = np.array([str(label[0]) for label in labels])
        table_margins.append(_Margin(m.variable, local, undrawn_spread(m.targets[used], sums, cell_group), labels))
    raked, _, err = _ipf(table, table_margins, max_iter, tol)
    if np.nanmax(err) >= tol:
        # some group in some replicate has no raking solution: it gets fewer margins there
        raked = _rerake_unsolvable(table, raked, err, table_margins, max_iter, tol)
    return raked


def _rerake_unsolvable(table: np.ndarray, raked: np.ndarray, err: np.ndarray, margins: list[_Margin],
                       max_iter: int, tol: float) -> np.ndarray:
    """Replicates in which some group cannot be raked to all margins: the categories a small
    replicate drew never meet across margins (every rural respondent drawn has a degree, say), so
    no weights reach every target. That group in that replicate is raked to as many margins as
    admit a solution — the largest sets first, in the codebook's order — and at least to the
    group's population total; the other groups and replicates keep their weights."""
    from itertools import combinations

    row_group = np.array([str(margins[0].labels[c][0]) for c in margins[0].cells])
    out = raked.copy()
    for b in np.flatnonzero(err >= tol):
        for g in np.unique(row_group):
            rows = row_group == g
            mine = [_column_restricted(m, rows, b) for m in margins]
            if _margin_errors(out[rows, b], mine) < tol:
                continue
            start = table[rows, b]
            for size in range(len(mine) - 1, 0, -1):
                for subset in combinations(range(len(mine)), size):
                    fitted, _, e = _ipf(start, [mine[i] for i in subset], max_iter, tol)
                    if e < tol:
                        out[rows, b] = fitted
                        break
                else:
                    continue
                break
            else:
                total = float(np.nansum(mine[0].targets))
                out[rows, b] = start * (total / start.sum()) if start.sum() > 0 else start
    return out


def _column_restricted(m: _Margin, rows: np.ndarray, b: int) -> _Margin:
    """A margin restricted to some rows (one group), with its targets for replicate ``b``."""
    targets = m.targets[:, b] if m.targets.ndim == 2 else m.targets
    used, local = np.unique(m.cells[rows], return_inverse=True)
    return _Margin(m.variable, local.ravel(), targets[used], [m.labels[c] for c in used])


def _poststratify_replay(cells: np.ndarray, targets: np.ndarray) -> _Replay:
    """Post-stratify blocks of replicate weights: each cell scaled to its population count."""
    sizes = np.bincount(cells)

    def factors(rows, weights):
        local = cells[rows]
        if not (isinstance(rows, slice) and rows == slice(None)):
            _whole_groups(cells, rows, "post-stratification", sizes)
        used, inverse = np.unique(local, return_inverse=True)
        agg = sparse.csr_matrix((np.ones(len(local)), (inverse.ravel(), np.arange(len(local)))), shape=(len(used), len(local)))
        sums = agg @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(sums > 0, targets[used][:, None] / sums, 1.0)
        return inverse.ravel(), factor
    return _Replay(cells, factors)


def _calibration_factors(x: np.ndarray, d: np.ndarray, totals: np.ndarray, method: str, max_iter: int,
                         tol: float) -> np.ndarray:
    """g-weights of linear (``1 + xᵀλ``) or raking (``exp(xᵀλ)``) calibration of the weights ``d``
    (n, or n × B: every column calibrated to the same ``totals``, all at once), as R's ``grake``."""
    from scipy.linalg import qr

    single = d.ndim == 1
    D = d[:, None] if single else d
    # margin dummies are linearly dependent (each margin's cells sum to one): keep an independent
    # set of columns — the dropped totals follow from the kept ones when the margins agree
    _, r, pivot = qr(x, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    keep = np.sort(pivot[:int((diag > 1e-9 * diag.max()).sum())]) if diag.size else pivot
    full_x, full_totals = x, totals
    x, totals = x[:, keep], totals[keep]
    lam = np.zeros((D.shape[1], x.shape[1]))
    for _ in range(1 if method == "linear" else max_iter):
        g = 1 + x @ lam.T if method == "linear" else np.exp(x @ lam.T)
        w = D * g
        resid = totals[None, :] - (x.T @ w).T                             # B × q
        # d(Σ w x)/dλ: Σ d x xᵀ (linear, at λ = 0) or Σ w x xᵀ (raking)
        A = np.einsum("ni,nb,nj->bij", x, D if method == "linear" else w, x)
        try:
            lam = lam + np.linalg.solve(A, resid[..., None])[..., 0]      # all replicates at once
        except np.linalg.LinAlgError:
            raise WeightingError("calibration is impossible: a replicate or group has no respondent (or zero "
                                 "weight) in some calibration cell") from None
        if method == "linear":
            break
        scale = np.maximum(np.abs(totals), 1.0)
        if np.max(np.abs(resid) / scale) < tol:
            break
    else:
        raise WeightingError(f"raking calibration did not converge within {max_iter} iterations")
    g = 1 + x @ lam.T if method == "linear" else np.exp(x @ lam.T)
    missed = np.abs(full_x.T @ (D * g) - full_totals[:, None]) / np.maximum(np.abs(full_totals), 1.0)[:, None]
    if np.nanmax(missed, initial=0.0) > 1e-6:
        raise WeightingError("calibration cannot reach the population totals (largest relative miss "
                             f"{np.nanmax(missed):.3g}): a replicate or group may have no respondent in a cell, "
                             "or the margins' totals disagree")
    return g[:, 0] if single else g


def _linear_replay(x: np.ndarray, totals: np.ndarray, groups: np.ndarray, method: str, max_iter: int,
                   tol: float) -> _Replay:
    """Calibrate blocks of replicate weights to the same totals, group by group (the model matrix
    is block-diagonal by group), all replicates of a group at once. The g-weights ``1 + xᵀλ_b``
    are kept per respondent."""
    columns_of = [np.flatnonzero(np.abs(x[groups == g]).sum(axis=0) > 0) for g in range(int(groups.max()) + 1)]
    sizes = np.bincount(groups)

    def factors(rows, weights):
        g_weights = np.ones(weights.shape)
        local_groups = groups[rows]
        for g in _whole_groups(groups, rows, "calibration", sizes):
            mine = np.flatnonzero(local_groups == g)
            cols = columns_of[g]
            xg = x[rows][mine][:, cols]
            g_weights[mine] = _calibration_factors(xg, weights[mine], totals[cols], method, max_iter, tol)
        return np.arange(len(g_weights)), g_weights
    return _Replay(groups, factors)


def _replayed(replicates, replay: _Replay):
    """Replicates with a calibration step applied: to the whole matrix when it is held, to every
    block of a replicate store once (its factors kept), else to every block as it is generated."""
    if replicates.weights is not None:
        return replace(replicates, weights=replay(slice(None), replicates.weights))
    if replicates.store is not None:
        return replace(replicates, store=replicates.store.calibrated(replay))
    source = replicates.block_source

    def blocks():
        for rows, w in source():
            yield rows, replay(rows, w)

    return replace(replicates, block_source=blocks)


def apply_calibrations(design: SurveyDesign, replicates) -> "Replicates":
    """Replicates (drawn from the weights before any calibration) passed through every calibration
    step recorded on the design, in order."""
    for cal in design.calibrations:
        if cal.replay is not None:
            replicates = _replayed(replicates, cal.replay)
    return replicates


def _calibrated(design: SurveyDesign, weights: np.ndarray, cal: Calibration, replicates: bool) -> SurveyDesign:
    """The design with its new weights and calibration step; its replicates (if any) calibrated the
    same way."""
    new = design.with_weights(weights, cal)
    if replicates and design.replicates is not None:
        new = new.with_weights(new.weights, replicates=_replayed(design.replicates, cal.replay))
    return new


def rake_design(design: SurveyDesign, margins, *, by: str | None = None, trim=None, max_iter: int = 1000,
                tol: float = 1e-10, replicates: bool = True) -> SurveyDesign:
    """Rake a design's weights (and, if it has them, every replicate's) to the margins, as R's
    ``rake`` on an ``svydesign`` or ``svyrep.design``.

    The linearised variance then accounts for the raking as R's ``rake`` does, and replicates drawn
    later are re-raked the same way.
    """
    weights, diagnostics = rake(design.data, margins, weight=design.weights, by=by, trim=trim, max_iter=max_iter,
                                tol=tol, return_diagnostics=True)
    groups, _, prepared = _prepare(design.data, margins, design.weights, by)
    cal = Calibration("raking", weights.to_numpy(), margins=tuple(m.cells for m in prepared), old_weights=design.weights,
                      replay=_raking_replay(groups, prepared, max_iter, tol))
    new = _calibrated(design, weights.to_numpy(), cal, replicates)
    return replace(new, weight_diagnostics=diagnostics)


def rake_replicates(design: SurveyDesign, margins, *, by: str | None = None, max_iter: int = 1000,
                    tol: float = 1e-10) -> SurveyDesign:
    """Re-rake every replicate's weights to the margins, so that replicate variances carry the
    weighting's own uncertainty (R: ``rake`` on an ``svyrep.design``).

    Respondents who share a category in every margin get the same raking factor, so it is enough to
    rake the (joint cells × B) table of replicate totals and scale the weights once at the end —
    all replicates at once. Replicates generated block by block are re-raked block by block; each
    block must then hold whole raking groups (as with strata = cities = raking groups).
    """
    rep = design.require_replicates()
    groups, _, prepared = _prepare(design.data, margins, design.weights, by)
    return design.with_weights(design.weights, replicates=_replayed(rep, _raking_replay(groups, prepared, max_iter, tol)))


def _restrict(margin: _Margin, rows) -> _Margin:
    """A margin restricted to some respondents (whole groups): only their cells are kept."""
    cells = margin.cells[rows]
    used, local = np.unique(cells, return_inverse=True)
    return _Margin(margin.variable, local.ravel(), margin.targets[used], [margin.labels[c] for c in used])


def poststratify_design(design: SurveyDesign, variable: str, targets, *, by: str | None = None,
                        replicates: bool = True) -> SurveyDesign:
    """Post-stratify a design on one variable (within ``by`` groups), as R's ``postStratify``;
    ``targets`` is a tidy table (``[by,] category, target``) or ``{category: target}``. A replicate
    design's replicates are post-stratified too."""
    if isinstance(targets, pd.DataFrame):
        margins = targets.assign(variable=variable)
    else:
        margins = {variable: targets}
    _, _, prepared = _prepare(design.data, margins, design.weights, by)
    (m,) = prepared
    sums = np.bincount(m.cells, weights=design.weights, minlength=len(m.targets))
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(sums > 0, m.targets / sums, 1.0)
    w = design.weights * factor[m.cells]
    cal = Calibration("poststratify", w, margins=(m.cells,), old_weights=design.weights,
                      replay=_poststratify_replay(m.cells, m.targets))
    return _calibrated(design, w, cal, replicates)


def margin_model_matrix(df: pd.DataFrame, margins, by: str | None = None, weights=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Dummy matrix of the margin cells (n × cells) and the vector of their targets (shares scaled
    to the group totals of ``weights``, default 1 per respondent)."""
    base = np.ones(len(df)) if weights is None else np.asarray(weights, float)
    _, _, prepared = _prepare(df, margins, base, by)
    blocks, targets, labels = [], [], []
    for m in prepared:
        used = np.flatnonzero(np.bincount(m.cells, minlength=len(m.targets)) > 0)
        x = (m.cells[:, None] == used[None, :]).astype(float)
        blocks.append(x)
        targets.append(m.targets[used])
        labels += [(m.variable, *m.labels[c]) for c in used]
    return np.hstack(blocks), np.concatenate(targets), labels


def formula_model_matrix(df: pd.DataFrame, formula: str, population) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The model matrix of an R-style formula (``"~ stype + enroll"``: treatment-coded factors,
    levels sorted, an intercept) and the population totals in its column order. ``population``
    maps column names — R's (``"(Intercept)"``, ``"stypeH"``) or patsy's (``"Intercept"``,
    ``"stype[T.H]"``) — to totals."""
    import patsy

    from .regression import plain_columns

    rhs = formula.split("~", 1)[-1]
    try:
        x = patsy.dmatrix(rhs, plain_columns(df), NA_action="raise", return_type="dataframe")
    except patsy.PatsyError as exc:
        raise WeightingError(f"calibration formula {formula!r}: {exc}") from None
    r_names = [_r_name(c) for c in x.columns]
    pop = dict(population)
    totals = []
    for patsy_name, r_name in zip(x.columns, r_names):
        if r_name in pop:
            totals.append(float(pop[r_name]))
        elif patsy_name in pop:
            totals.append(float(pop[patsy_name]))
        else:
            raise WeightingError(f"calibration formula {formula!r}: no population total for {r_name!r} "
                                 f"(totals given for {sorted(pop)})")
    unknown = set(pop) - set(r_names) - set(x.columns)
    if unknown:
        raise WeightingError(f"calibration formula {formula!r}: population totals for {sorted(unknown)} match no "
                             f"column of the model matrix {r_names}")
    return x.to_numpy(dtype=float), np.asarray(totals), r_names


def _r_name(patsy_name: str) -> str:
    """patsy's column name as R's model.matrix names it: ``Intercept`` → ``(Intercept)``,
    ``stype[T.H]`` → ``stypeH``."""
    import re

    if patsy_name == "Intercept":
        return "(Intercept)"
    return re.sub(r"(?:C\()?([^\[()]+?)\)?\[T\.([^\]]*)\]", r"\1\2", patsy_name)


CALIBRATION_METHODS = ("linear", "raking")


def calibrate_design(design: SurveyDesign, margins=None, *, by: str | None = None, method: str = "linear",
                     formula: str | None = None, population=None, max_iter: int = 100, tol: float = 1e-10,
                     replicates: bool = True) -> SurveyDesign:
    """Calibrate a design's weights to population totals, as R's ``calibrate``.

    Either to margins (a tidy margins table, dummies of each margin's cells, within ``by`` groups;
    margins given as shares are scaled to the initial weight total of their group), or to the
    totals of a model formula (``formula="~ stype + enroll"``, ``population={"(Intercept)": 6194,
    "stypeH": 755, …, "enroll": 3811472}``, continuous variables allowed).

    ``method="linear"``: GREG weights ``d (1 + xᵀλ)`` (may be negative in extreme cases);
    ``method="raking"``: ``d · exp(xᵀλ)`` (Newton's method; for margins, the raking solution by
    IPF). The linearised variance uses the residuals of the weighted regression on the calibration
    variables; a replicate design's replicates are calibrated to the same totals, each with its
    own weights.
    """
    if method not in CALIBRATION_METHODS:
        raise WeightingError(f"method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    d = design.weights
    if formula is not None:
        if margins is not None or by is not None:
            raise WeightingError("give margins (and by) or formula and population, not both")
        x, totals, _ = formula_model_matrix(design.data, formula, population)
        groups = np.zeros(design.n, dtype=np.int64)
        g = _calibration_factors(x, d, totals, method, max_iter, tol)
    else:
        if margins is None:
            raise WeightingError("calibrate_design needs margins, or formula= and population=")
        x, totals, _ = margin_model_matrix(design.data, margins, by, weights=d)
        groups = (pd.factorize(design.data[by], sort=True)[0] if by else np.zeros(design.n, dtype=np.int64))
        if method == "linear":
            g = _calibration_factors(x, d, totals, "linear", max_iter, tol)
        else:
            # The multiplicative calibration d·exp(xᵀλ) on margin dummies has the raking solution:
            # iterative proportional fitting reaches it without Newton's overflow-prone first steps.
            g = rake(design.data, margins, weight=d, by=by, max_iter=max_iter * 10, tol=tol).to_numpy() / d
    w = d * g
    cal = Calibration("linear", w, model=x, old_weights=d,
                      replay=_linear_replay(x, totals, groups, method, max_iter * 10, tol))
    return _calibrated(design, w, cal, replicates)


# ---- the survey's own weighting, as the codebook declares it ---------------------------------------


def load_margins(path) -> pd.DataFrame:
    """Read a population margins file (CSV: ``city, variable, category, count``) as a tidy table
    with string categories and a ``target`` column."""
    path = str(path)
    table = pd.read_csv(path, dtype={"city": str, "variable": str, "category": str}, encoding="utf-8-sig")
    needed = {"city", "variable", "category"}
    if not needed <= set(table.columns) or not ({"count", "target", "share"} & set(table.columns)):
        raise WeightingError(f"{path}: needs columns city, variable, category and count (or target/share)")
    return _tidy_margins(table, "city")


MARGIN_PREFIX = "margin:"


def margin_variables(data: pd.DataFrame, codebook) -> pd.DataFrame:
    """The margin variables of the codebook's ``weighting`` section, built from the demographics
    (a crossed margin such as ``sex_age`` becomes ``"1_3"``, the codes joined by ``_``). Columns are
    named ``margin:<name>`` so they never clash with the demographics they come from."""
    out = {}
    for name, parts in codebook.weighting["margins"].items():
        codes = [data[p].astype("Int64").astype(str) for p in parts]
        value = codes[0]
        for more in codes[1:]:
            value = value + "_" + more
        out[MARGIN_PREFIX + name] = value.to_numpy()
    return pd.DataFrame(out, index=data.index)


def _codebook_margins(codebook) -> pd.DataFrame:
    margins = load_margins(codebook.margins_path)
    return margins.assign(variable=MARGIN_PREFIX + margins["variable"].astype(str))


#: The value a margin variable takes for every respondent of a city that does without it.
WHOLE_CITY = "(all)"


def supported_margins(data: pd.DataFrame, margins: pd.DataFrame, by: str) -> dict:
    """Per unit of ``by``: the margin variables its sample can support — every category with a
    positive population target has at least one respondent (raking cannot give weight to an empty
    cell). Returns ``{unit: set of variables}``."""
    out = {}
    for unit, rows in data.groupby(by, sort=True, observed=True):
        mine = margins[margins[by].astype(str) == str(unit)]
        ok = set()
        for variable, targets in mine.groupby("variable"):
            present = set(rows[variable].astype(str)) if variable in rows else set()
            needed = set(targets.loc[pd.to_numeric(targets["target"]) > 0, "category"].astype(str))
            if needed <= present:
                ok.add(variable)
        out[unit] = ok
    return out


def _with_fallback(frame: pd.DataFrame, margins: pd.DataFrame, by: str, fallback: list, force=()) -> tuple:
    """The data and margins with, for each unit whose sample cannot support every margin, the
    first set of margins it supports and can be raked to: the codebook's ``weighting.fallback`` in
    order, then the margins it supports, then each of them alone, then none. A dropped margin
    becomes one cell holding the whole unit, so the unit is still weighted to its population total. Returns ``(frame, margins,
    used)`` with ``used``: unit → the margins used, for the units that fell back."""
    variables = list(dict.fromkeys(margins["variable"]))
    support = supported_margins(frame, margins, by)
    used = {}
    frame, margins = frame.copy(), margins.copy()

    def rakes(unit, chosen) -> bool:
        return _rakes_alone(frame, margins[margins["variable"].isin(chosen)], by, unit)

    for unit, ok in support.items():
        if set(variables) <= ok and unit not in force:
            continue
        options = [[MARGIN_PREFIX + str(v) for v in option] for option in fallback]
        options += [[v for v in variables if v in ok]] + [[v] for v in variables if v in ok] + [[]]
        choice = next(set(o) for o in options if set(o) <= ok and set(o) != set(variables) and rakes(unit, o))
        used[unit] = [v.removeprefix(MARGIN_PREFIX) for v in variables if v in choice]
        rows = frame[by].astype(str) == str(unit)
        for variable in variables:
            if variable in choice:
                continue
            frame.loc[rows, variable] = WHOLE_CITY
            mine = (margins[by].astype(str) == str(unit)) & (margins["variable"] == variable)
            total = float(pd.to_numeric(margins.loc[mine, "target"]).sum())
            margins = pd.concat([margins[~mine], pd.DataFrame([{by: unit, "variable": variable,
                                                                "category": WHOLE_CITY, "target": total}])],
                                ignore_index=True)
    return frame, margins, used


def _rakes_alone(frame: pd.DataFrame, margins: pd.DataFrame, by: str, unit) -> bool:
    """Whether one unit's sample can be raked to its margins (a small sample may have every
    category and still no solution, when two margins' categories never meet)."""
    rows = frame[by].astype(str) == str(unit)
    mine = margins[margins[by].astype(str) == str(unit)]
    if not len(mine):
        return True
    try:
        rake(frame.loc[rows], mine.drop(columns=by), max_iter=1000, tol=1e-8)
        return True
    except WeightingError:
        return False


def survey_design(data: pd.DataFrame, codebook, *, margins: pd.DataFrame | None = None, weighted: bool = True,
                  **options) -> SurveyDesign:
    """The design of a processed survey: stratified by city, calibrated within each city to the
    codebook's population margins by the codebook's ``weighting.method`` (raking, linear
    calibration or post-stratification), unless ``weighted=False``.

    A city whose sample cannot support every margin (a category of the population with no
    respondent, as in a city of 25 interviews) is weighted by the codebook's documented fallback
    (``weighting.fallback``: sets of margins to try in order; by default the margins its sample
    supports), still to its population total, and never blocks the other cities, whose weights are
    unchanged. ``design.weight_diagnostics`` says which margins each city was weighted to
    (``margins``) and which cities fell back (``fallback``)."""
    by = codebook.weighting.get("by", "city") if codebook.weighting else "city"
    frame = data.reset_index(drop=True)
    if weighted and codebook.weighting:
        frame = pd.concat([frame, margin_variables(frame, codebook).reset_index(drop=True)], axis=1)
    design = SurveyDesign(frame, strata=by, codebook=codebook)
    if not weighted or not codebook.weighting:
        return design
    margins = _codebook_margins(codebook) if margins is None else margins.assign(
        variable=lambda m: [v if str(v).startswith(MARGIN_PREFIX) else MARGIN_PREFIX + str(v) for v in m["variable"]])
    fallback = codebook.weighting.get("fallback", [])
    method = codebook.weighting.get("method", "raking")

    def calibrated(frame, margins):
        design = SurveyDesign(frame, strata=by, codebook=codebook)
        if method == "linear":
            return calibrate_design(design, margins, by=by, method="linear", **options)
        if method == "poststratify":
            (variable,) = margins["variable"].unique()
            cells = margins[margins["variable"] == variable].drop(columns="variable")
            return poststratify_design(design, variable, cells, by=by)
        return rake_design(design, margins, by=by, **options)

    start_frame, start_margins = frame, margins
    frame, margins, fell_back = _with_fallback(start_frame, start_margins, by, fallback)
    try:
        design = calibrated(frame, margins)
    except WeightingError:
        # every category has respondents, yet some unit cannot be raked (margins whose categories
        # never meet in a small sample): find those units and let them fall back too
        stuck = [u for u in frame[by].unique() if u not in fell_back and not _rakes_alone(frame, margins, by, u)]
        if not stuck:
            raise
        frame, margins, fell_back = _with_fallback(start_frame, start_margins, by, fallback, force=set(stuck))
        design = calibrated(frame, margins)
    if design.weight_diagnostics is not None:
        all_margins = [m.removeprefix(MARGIN_PREFIX) for m in dict.fromkeys(margins["variable"])]
        diag = design.weight_diagnostics.copy()
        diag["margins"] = [", ".join(fell_back.get(u, all_margins)) for u in diag[by]]
        diag["fallback"] = [u in fell_back for u in diag[by]]
        design = replace(design, weight_diagnostics=diag)
    return design


def replicate_design(design: SurveyDesign, codebook=None, *, replicates: int = 500, seed: int | None = None,
                     weighted: bool = True) -> SurveyDesign:
    """The design with Rao–Wu bootstrap replicates (strata = the design's strata, the codebook's
    calibration groups), each re-calibrated by every calibration step the design went through —
    the codebook's method, not an assumed one — so that replicate SEs and intervals carry the
    weighting. ``weighted=False`` keeps the replicates uncalibrated."""
    from .design import bootstrap_weights

    if not weighted:
        design = replace(design, calibrations=())
    return bootstrap_weights(design, replicates, seed=seed)
