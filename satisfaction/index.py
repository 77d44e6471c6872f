"""The satisfaction index: items rescaled to 0–100 and aggregated up the indicator tree.

Rescaling (each item from its own scale)::

    score = 100 · (x − min) / (max − min)

so 1–5 and 1–10 items both run 0–100 (reverse-coded items were mirrored at ingestion).

Aggregation (weighted arithmetic mean, JRC/OECD Handbook on Constructing Composite Indicators,
2008, §6): with w_j the codebook weights of a node's children and s_j their scores,

    s_node = Σ_j w_j s_j / Σ_{j answered} w_j

i.e. weights are re-normalised over the children that have a score, provided the answered
children carry at least ``min_share`` of the node's weight (default 0.5; below it the node is
missing). The geometric alternative ``s_node = Π_j s_j^(w_j / Σ w)`` (``aggregation="geometric"``) is
less compensatory: a low child cannot be made up by a high one, and a child at 0 sets its node to
0. For positive scores geometric ≤ arithmetic (weighted AM–GM).

*Mean-level* aggregation (:func:`unit_scores`, and the published city scores) first averages each
item over the respondents of a unit (city), then combines the item means up the tree — every
answered item counts, whatever else a respondent skipped. *Respondent-level* aggregation
(:func:`respondent_scores`) combines each respondent's own answers first and then averages: with
skipped items the two differ (a respondent's answered items stand in for the skipped ones), and
with geometric aggregation they differ even without gaps (the mean of geometric means is below
the geometric mean of the means).

The weights: the codebook's by default, or any :class:`satisfaction.schemes.TreeWeights` (equal,
AHP, entropy, PCA — see :mod:`satisfaction.schemes`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._deprecation import renamed
from .codebook import Codebook
from .errors import SatisfactionError
from .survey.estimate import Covariance
from .survey.variance import confint


def rescale_items(items: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Rescale each item column to 0–100 from its scale's ``[min, max]`` (NaN stays NaN)."""
    lo = np.array([codebook.items[c].scale.min for c in items.columns], dtype=float)
    hi = np.array([codebook.items[c].scale.max for c in items.columns], dtype=float)
    values = items.to_numpy(dtype=float, na_value=np.nan)
    return pd.DataFrame((values - lo) / (hi - lo) * 100.0, index=items.index, columns=items.columns)


METHODS = ("arithmetic", "geometric")
MIN_SHARE = 0.5


def _weighted_mean(scores: pd.DataFrame, weights: dict[str, float], aggregation: str = "arithmetic",
                   min_share: float = MIN_SHARE) -> pd.Series:
    w = pd.Series(weights, dtype=float)
    values = scores[list(w.index)]
    answered = values.notna()
    den = (answered * w).sum(axis=1)
    if aggregation == "geometric":
        with np.errstate(divide="ignore"):
            logs = np.log(values.clip(lower=0.0))
        out = np.exp((logs.fillna(0.0) * w).sum(axis=1) / den.where(den > 0))
    else:
        out = (values.fillna(0.0) * w).sum(axis=1) / den.where(den > 0)
    return out.where((den > 0) & (den >= min_share * w.sum() - 1e-12))


@renamed(method="aggregation", weights="tree_weights")
def aggregate_tree(item_scores: pd.DataFrame, codebook: Codebook, *, tree_weights=None, aggregation: str = "arithmetic",
                   min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Combine 0–100 item scores up the tree.

    ``item_scores`` has one row per unit (respondent or city) and one column per index item.
    ``tree_weights``: a :class:`~satisfaction.schemes.TreeWeights` (default: the codebook's);
    ``aggregation``: ``"arithmetic"`` or ``"geometric"``; ``min_share``: the share of a node's weight
    that must be answered for the node to have a score. Returns one column per second-level
    indicator, first-level indicator and the index, in tree order top-down (index first).
    """
    if aggregation not in METHODS:
        raise ValueError(f"aggregation must be one of {METHODS}, got {aggregation!r}")
    if not 0 <= min_share <= 1:
        raise ValueError(f"min_share must be between 0 and 1, got {min_share!r}")
    node_weights = (lambda n: n.weights) if tree_weights is None else (lambda n: tree_weights.node(n.code))
    out: dict[str, pd.Series] = {}
    for dim in codebook.dimensions:
        for ind in dim.children:
            out[ind.code] = _weighted_mean(item_scores, node_weights(ind), aggregation, min_share)
    level2 = pd.DataFrame(out, index=item_scores.index)
    level1 = pd.DataFrame({dim.code: _weighted_mean(level2, node_weights(dim), aggregation, min_share)
                           for dim in codebook.dimensions}, index=item_scores.index)
    index = _weighted_mean(level1, node_weights(codebook.tree), aggregation, min_share).rename(codebook.tree.code)
    return pd.concat([index, level1, level2], axis=1)


def unit_item_means(data: pd.DataFrame, codebook: Codebook, *, by: str = "city", weights=None) -> pd.DataFrame:
    """Units × index items: the (weighted) mean 0–100 score of each item in each unit."""
    items = codebook.index_items
    scores = rescale_items(data[items], codebook)
    w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float)
    answered = scores.notna().to_numpy() * w[:, None]
    num = pd.DataFrame(scores.fillna(0.0).to_numpy() * w[:, None], columns=items).groupby(data[by].to_numpy(), sort=True).sum()
    den = pd.DataFrame(answered, columns=items).groupby(data[by].to_numpy(), sort=True).sum()
    return (num / den.where(den > 0)).rename_axis(by)


@renamed(method="aggregation", weights="tree_weights")
def unit_scores(data: pd.DataFrame, codebook: Codebook, *, by: str = "city", tree_weights=None,
                aggregation: str = "arithmetic", min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Index, first- and second-level scores per unit (mean-level aggregation, unweighted).

    Returns one row per unit with ``n`` (respondents), the index, each first-level and second-level
    indicator score (0–100) and ``rank`` (1 = highest index; ties share the better rank), sorted by
    rank. ``tree_weights``/``aggregation``/``min_share`` as in :func:`aggregate_tree`.
    """
    means = unit_item_means(data, codebook, by=by)
    tree = aggregate_tree(means, codebook, tree_weights=tree_weights, aggregation=aggregation, min_share=min_share)
    n = data.groupby(by, sort=True).size().rename("n")
    out = pd.concat([n, tree], axis=1)
    out.insert(0, "rank", out[codebook.tree.code].rank(ascending=False, method="min").astype("Int64"))
    return out.sort_values(["rank", codebook.tree.code], ascending=[True, False]).reset_index().rename(columns={"index": by})


@renamed(method="aggregation", weights="tree_weights")
def respondent_scores(data: pd.DataFrame, codebook: Codebook, *, tree_weights=None, aggregation: str = "arithmetic",
                      min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Respondent-level scores: each respondent's items combined up the tree (re-normalising over
    the items they answered, when they answered at least ``min_share`` of each node's weight). The
    mean of these differs from :func:`unit_scores` when respondents skip items, because each
    respondent's own answers are weighted up to fill the gaps."""
    return aggregate_tree(rescale_items(data[codebook.index_items], codebook), codebook, tree_weights=tree_weights,
                          aggregation=aggregation, min_share=min_share)


def sample_sizes(data: pd.DataFrame, codebook: Codebook, *, by: str = "city") -> pd.DataFrame:
    """Interviews per unit against the codebook's minimum (``min_valid_per_city``)."""
    n = data.groupby(by).size().rename("n")
    out = n.reindex(list(codebook.cities), fill_value=0).to_frame() if by == "city" else n.to_frame()
    out["minimum"] = codebook.min_valid_per_city
    out["meets_minimum"] = out["n"] >= out["minimum"]
    return out.reset_index().rename(columns={"index": by})


def city_flags(data: pd.DataFrame, design, codebook: Codebook, *, lang: str = "zh") -> pd.DataFrame:
    """Per city, what a reader must know before comparing it: a sample below the codebook's
    minimum (``min_valid_per_city``) and weights from the codebook's documented fallback
    (``weighting.fallback``: fewer margins, still to the city's population total).

    Returns one row per city of the codebook with ``n``, ``below_minimum``, ``fallback``,
    ``margins`` (those the city was weighted to) and ``flag`` (the words, empty when there is
    nothing to say), in ``lang``.
    """
    from .report.labels import t

    sizes = sample_sizes(data, codebook).set_index("city")
    diag = getattr(design, "weight_diagnostics", None)
    fell_back = {} if diag is None or "fallback" not in diag else \
        {c: m for c, m, f in zip(diag["city"], diag["margins"], diag["fallback"]) if f}
    names = {m: "×".join(codebook.label(c, lang) for c in cols)
             for m, cols in (codebook.weighting or {}).get("margins", {}).items()}
    sep = "、" if lang == "zh" else ", "
    rows = []
    for city, n in sizes["n"].items():
        notes = []
        if n < codebook.min_valid_per_city:
            notes.append(t("flag_below_minimum", lang, n=int(n), minimum=codebook.min_valid_per_city))
        margins = fell_back.get(city)
        if margins is not None:
            used = [names.get(m.strip(), m.strip()) for m in margins.split(",") if m.strip()]
            notes.append(t("flag_fallback", lang, margins=sep.join(used) if used else t("flag_total_only", lang)))
        rows.append({"city": city, "n": int(n), "below_minimum": bool(n < codebook.min_valid_per_city),
                     "fallback": margins is not None, "margins": margins,
                     "flag": ("；" if lang == "zh" else "; ").join(notes)})
    return pd.DataFrame(rows)



# ---- weighted scores with standard errors ---------------------------------------------------------


@renamed(weights="tree_weights")
def tree_coefficients(codebook: Codebook, available: pd.Series | None = None, *, tree_weights=None,
                      min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Coefficients ``c[node, item]`` with ``score(node) = Σ_item c · score(item)``.

    Arithmetic aggregation with fixed weights is linear in the item scores, so the coefficients are
    the tree applied to unit vectors. ``available`` (bool per item) drops items with no answers and
    re-normalises the weights at each level, as :func:`aggregate_tree` does. Rows: the index, the
    first-level and the second-level indicators; columns: index items.
    """
    items = codebook.index_items
    unit = pd.DataFrame(np.eye(len(items)), columns=items)
    if available is not None:
        unit.loc[:, ~available.reindex(items, fill_value=False).to_numpy()] = np.nan
    coef = aggregate_tree(unit, codebook, tree_weights=tree_weights, min_share=min_share).T
    coef.columns = items
    return coef.fillna(0.0)


@renamed(ci="level", weights="tree_weights")
def weighted_scores(design, codebook: Codebook, *, by: str = "city", method: str = "linearization",
                    level: float = 0.95, tree_weights=None, min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Every node of the tree per unit, from the design's weights, with SE and confidence interval.

    Node scores are linear combinations of the units' weighted item means (rescaled to 0–100), so
    their SEs come from the combined influence values (Taylor linearisation, accounting for the
    raking) or from the replicate weights (``method="replicate"``). ``tree_weights``: fixed tree
    weights (:class:`~satisfaction.schemes.TreeWeights`; default the codebook's). For weights
    estimated from the same data (entropy, PCA) use :func:`replicate_scores`, which re-estimates
    them in every replicate.

    Returns a tidy frame: ``by, node, level, estimate, se, ci_low, ci_high, n``.
    """
    from dataclasses import replace

    from .survey.estimate import linear_combination

    items = codebook.index_items
    scored = rescale_items(design.data[items], codebook).add_prefix("score:")
    work = replace(design, data=pd.concat([design.data.drop(columns=scored.columns, errors="ignore"), scored], axis=1))

    def coefficients(available: pd.Series) -> pd.DataFrame:
        coef = tree_coefficients(codebook, available.rename(lambda c: c.removeprefix("score:")), tree_weights=tree_weights,
                                 min_share=min_share)
        return coef.add_prefix("score:")

    out = linear_combination(work, list(scored.columns), coefficients, by=by, method=method, level=level)
    cov = out.attrs["vcov"].renamed({"variable": "node"})
    out = out.rename(columns={"variable": "node"})
    out.attrs["vcov"] = cov
    levels = {n.code: n.level for n in codebook.nodes()}
    out.insert(out.columns.get_loc("node") + 1, "level", out["node"].map(levels))
    return out


def score_table(scores: pd.DataFrame, codebook: Codebook, *, by: str = "city") -> pd.DataFrame:
    """One row per unit: the index with SE and CI, each first-level indicator, and the rank
    (1 = highest index), sorted by rank."""
    idx = codebook.tree.code
    wide = scores.pivot(index=by, columns="node", values="estimate")
    head = scores[scores.node == idx].set_index(by)[["se", "ci_low", "ci_high", "n"]]
    out = pd.concat([wide[[idx]], head, wide[[d.code for d in codebook.dimensions]]], axis=1)
    out.insert(0, "rank", out[idx].rank(ascending=False, method="min").astype("Int64"))
    return out.sort_values(["rank", idx], ascending=[True, False]).reset_index()



# ---- stacks of unit scores (replicates, Monte Carlo draws) ----------------------------------------


def aggregate_arrays(x: np.ndarray, items: list[str], codebook: Codebook, node_weights: dict, *,
                     geometric=False, min_share=MIN_SHARE) -> dict[str, np.ndarray]:
    """:func:`aggregate_tree` for a stack of B unit × item score matrices at once.

    ``x``: B × m × items (or 1 × m × items, shared); ``node_weights``: node code → child code →
    weight (a number, or B numbers: one per layer of the stack); ``geometric`` and ``min_share``:
    one value or B values. Returns node code → B × m scores.
    """
    col = {c: i for i, c in enumerate(items)}
    B = max(x.shape[0], *(np.size(w) for ws in node_weights.values() for w in ws.values()),
            np.size(geometric), np.size(min_share))
    geo = np.broadcast_to(np.asarray(geometric, dtype=bool), (B,))[:, None]
    share = np.broadcast_to(np.asarray(min_share, dtype=float), (B,))[:, None]

    def combine(values: list[np.ndarray], weights: dict) -> np.ndarray:
        v = np.stack(np.broadcast_arrays(*values), axis=-1)
        w = np.stack([np.broadcast_to(np.asarray(weights[c], dtype=float), (B,)) for c in weights], axis=-1)[:, None, :]
        answered = ~np.isnan(v)
        den = (answered * w).sum(axis=-1)
        safe = np.where(den > 0, den, 1.0)
        arith = (np.where(answered, v, 0.0) * w).sum(axis=-1) / safe
        logs = np.log(np.maximum(np.where(answered, v, 1.0), 1e-300))
        geom = np.exp((logs * w).sum(axis=-1) / safe)
        out = np.where(geo, geom, arith)
        ok = (den > 0) & (den >= share * w.sum(axis=-1) - 1e-12)
        return np.where(ok, out, np.nan)

    out: dict[str, np.ndarray] = {}
    dims = []
    for dim in codebook.dimensions:
        inds = []
        for ind in dim.children:
            w = node_weights[ind.code]
            out[ind.code] = combine([x[:, :, col[i]] for i in w], w)
            inds.append(out[ind.code])
        w = node_weights[dim.code]
        out[dim.code] = combine([out[c] for c in w], w)
    w = node_weights[codebook.tree.code]
    out[codebook.tree.code] = combine([out[c] for c in w], w)
    return out


def replicate_item_means(design, codebook: Codebook, *, by: str = "city") -> np.ndarray:
    """Units × items weighted item means, 0–100, of every replicate of ``design``: B × units × items.

    As :func:`satisfaction.index.unit_item_means` with ``weights=W[:, b]``: with ``s_ij`` the
    rescaled answer of respondent i to item j and ``a_ij`` = 1 when answered,

        x_b[u, j] = Σ_{i∈u} W_ib a_ij s_ij / Σ_{i∈u} W_ib a_ij     (NaN when the denominator is 0),

    units sorted as there (:func:`satisfaction.survey.estimate.replicate_means`: both sums for all
    replicates are one product per unit, block by block of the design's replicates)."""
    from .survey.estimate import replicate_means

    scores = rescale_items(design.data[codebook.index_items], codebook).to_numpy(dtype=float)
    means, _ = replicate_means(design, scores, by=by)
    return means


def _replicate_unit_means(design, codebook: Codebook, by: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Point (1 × m × items) and replicate (B × m × items) weighted unit item means."""
    items = codebook.index_items
    x = rescale_items(design.data[items], codebook).to_numpy(dtype=float)
    answered = ~np.isnan(x)
    filled = np.where(answered, x, 0.0)
    units, codes = np.unique(design.data[by].to_numpy(), return_inverse=True)
    point = np.empty((1, len(units), len(items)))
    for u in range(len(units)):
        rows = codes == u
        w = design.weights[rows]
        point[0, u] = (w @ filled[rows]) / np.where((w @ answered[rows]) > 0, w @ answered[rows], np.nan)
    return point, replicate_item_means(design, codebook, by=by), list(units)


@renamed(ci="level")
def replicate_scores(design, codebook: Codebook, *, scheme: str = "fixed", by: str = "city",
                     aggregation: str = "arithmetic", min_share: float = MIN_SHARE, level: float = 0.95,
                     **scheme_options) -> pd.DataFrame:
    """Every node per unit with SE and CI from the design's replicate weights, for any weight
    scheme and aggregation. Data-driven weights (``entropy``, ``pca``) are re-estimated from each
    replicate's unit means, so their sampling uncertainty is in the SEs.

    Returns the tidy frame of :func:`weighted_scores` plus the weights used (``.attrs["weights"]``:
    the point estimate's :class:`~satisfaction.schemes.TreeWeights`)."""
    from .schemes import stack_data_weights, weights_for

    if aggregation not in METHODS:
        raise ValueError(f"aggregation must be one of {METHODS}, got {aggregation!r}")
    if not 0 <= min_share <= 1:
        raise ValueError(f"min_share must be between 0 and 1, got {min_share!r}")
    items = codebook.index_items
    point, reps, units = _replicate_unit_means(design, codebook, by)
    if scheme in ("entropy", "pca"):
        point_w = stack_data_weights(point, items, codebook, scheme)
        rep_w = stack_data_weights(reps, items, codebook, scheme)
        tree_w = weights_for(scheme, codebook, pd.DataFrame(point[0], columns=items))
    else:
        tree_w = weights_for(scheme, codebook, **scheme_options)
        point_w = rep_w = tree_w.weights
    geo = aggregation == "geometric"
    est = aggregate_arrays(point, items, codebook, point_w, geometric=geo, min_share=min_share)
    draws = aggregate_arrays(reps, items, codebook, rep_w, geometric=geo, min_share=min_share)
    answered = design.data[items].notna() & (pd.Series(design.weights, index=design.data.index) != 0).to_numpy()[:, None]
    counts = answered.groupby(design.data[by].to_numpy()).sum().max(axis=1)  # as weighted_scores: the best-answered item
    levels = {n.code: n.level for n in codebook.nodes()}
    rows = []
    for node, values in est.items():
        se = np.sqrt(design.replicate_variance(draws[node], values[0]))
        low, high = confint(values[0], se, level)
        for u, unit in enumerate(units):
            rows.append({by: unit, "node": node, "level": levels[node], "estimate": values[0, u], "se": float(se[u]),
                         "ci_low": low[u], "ci_high": high[u], "n": int(counts[unit])})
    out = pd.DataFrame(rows)
    out.attrs["weights"] = tree_w
    # the covariance of every (unit, node) estimate, from the same replicates (for contrasts, rank sets)
    stacked = np.hstack([draws[node] for node in est])
    center = np.concatenate([values[0] for values in est.values()])
    keys = pd.MultiIndex.from_frame(out[[by, "node"]].astype(object))
    out.attrs["vcov"] = Covariance([by, "node"], keys,
                                   lambda: design.replicate_variance(stacked, center, covariance=True),
                                   lambda pos: design.replicate_variance(stacked[:, pos], center[pos], covariance=True))
    return out


@renamed(ci="level")
def composite(scores: pd.DataFrame, sizes: pd.Series, *, node: str | None = None, by: str = "city",
              level: float = 0.95) -> pd.Series:
    """The provincial (or national) composite: units' scores weighted by their size (adult
    population, retail sales …), ``Σ_c a_c s_c`` with ``a_c = size_c / Σ size``. Units are
    separate strata raked on their own, so their estimates are independent and
    ``SE = √(Σ a_c² SE_c²)``. ``scores``: the tidy output of :func:`weighted_scores` /
    :func:`replicate_scores`; ``node`` defaults to the index."""
    node = node or scores.loc[scores["level"] == 0, "node"].iloc[0]
    part = scores[scores["node"] == node].set_index(by)
    missing = [u for u in part.index if u not in sizes.index]
    if missing:
        raise SatisfactionError(f"no size for units {missing} in the composite's sizes file")
    if part["estimate"].isna().any():
        # a missing unit would count in the sizes but not in the sum, pulling the composite down
        raise SatisfactionError(f"no {node} estimate for units {list(part.index[part['estimate'].isna()])}: "
                                "leave them out of `scores` (their sizes are then left out too)")
    a = sizes.reindex(part.index).astype(float)
    a = a / a.sum()
    est = float((a * part["estimate"]).sum())
    se = float(np.sqrt((a ** 2 * part["se"] ** 2).sum()))
    low, high = confint(est, se, level)
    return pd.Series({"node": node, "estimate": est, "se": se, "ci_low": float(low), "ci_high": float(high),
                      "units": len(part)}, name="composite")


@renamed(ci="level")
def pls_index(design, codebook: Codebook, *, by: str | None = "city", level: float = 0.95):
    """The codebook's structural model (``structural_model``) fitted by PLS on the design's
    weighted respondents, items on their own scales (0–100 index from each scale's ends).

    Returns ``(fit, table)``: the :class:`~satisfaction.pls.PLSResult` and, per unit of ``by``, the
    0–100 index of every block with SE and CI — from the design's replicates when it has them
    (the model re-estimated in each), else without SE."""
    from .pls import pls_path

    spec = codebook.structural
    if not spec:
        raise SatisfactionError("the codebook has no 'structural_model' section")
    ranges = {i: (codebook.items[i].scale.min, codebook.items[i].scale.max) for b in spec["blocks"].values() for i in b}
    fit = pls_path(design.data, spec["blocks"], spec["paths"], scheme=spec["scheme"], modes=spec["modes"],
                   weights=design.weights, item_range=ranges)
    if by is None:
        return fit, None
    table = fit.group_index(design.data[by], replicates=design if design.replicates is not None else None, level=level)
    return fit, table.rename(columns={"group": by})


from .pls import PLSResult, pls_path  # noqa: E402  (the structural-model index lives in its own module)
