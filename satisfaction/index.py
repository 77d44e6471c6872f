"""The satisfaction index: items rescaled to 0–100 and aggregated up the indicator tree.

Rescaling (each item from its own scale)::

    score = 100 · (x − min) / (max − min)

so 1–5 and 1–10 items both run 0–100 (reverse-coded items were mirrored at ingestion).

Aggregation (weighted arithmetic mean, JRC/OECD Handbook on Constructing Composite Indicators,
2008, §6): with w_j the codebook weights of a node's children and s_j their scores,

    s_node = Σ_j w_j s_j / Σ_{j answered} w_j

i.e. weights are re-normalised over the children that have a score. :func:`unit_scores` is
*mean-level* aggregation: item scores are first averaged over the respondents of a unit (city),
then combined up the tree — every answered item counts, whatever else a respondent skipped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .codebook import Codebook


def rescale_items(items: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Rescale each item column to 0–100 from its scale's ``[min, max]`` (NaN stays NaN)."""
    lo = pd.Series({c: codebook.items[c].scale.min for c in items.columns})
    hi = pd.Series({c: codebook.items[c].scale.max for c in items.columns})
    return (items - lo) / (hi - lo) * 100.0


def _weighted_mean(scores: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    w = pd.Series(weights, dtype=float)
    values = scores[list(w.index)]
    answered = values.notna()
    num = (values.fillna(0.0) * w).sum(axis=1)
    den = (answered * w).sum(axis=1)
    return (num / den).where(den > 0)


def aggregate_tree(item_scores: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Combine 0–100 item scores up the tree with the codebook's fixed weights.

    ``item_scores`` has one row per unit (respondent or city) and one column per index item.
    Returns one column per second-level indicator, first-level indicator and the index, in tree
    order top-down (index first).
    """
    out: dict[str, pd.Series] = {}
    for dim in codebook.dimensions:
        for ind in dim.children:
            out[ind.code] = _weighted_mean(item_scores, ind.weights)
    level2 = pd.DataFrame(out, index=item_scores.index)
    level1 = pd.DataFrame({dim.code: _weighted_mean(level2, dim.weights) for dim in codebook.dimensions}, index=item_scores.index)
    index = _weighted_mean(level1, codebook.tree.weights).rename(codebook.tree.code)
    return pd.concat([index, level1, level2], axis=1)


def unit_scores(data: pd.DataFrame, codebook: Codebook, *, by: str = "city") -> pd.DataFrame:
    """Index, first- and second-level scores per unit (mean-level aggregation, unweighted).

    Returns one row per unit with ``n`` (respondents), the index, each first-level and second-level
    indicator score (0–100) and ``rank`` (1 = highest index; ties share the better rank), sorted by
    rank.
    """
    items = codebook.index_items
    scores = rescale_items(data[items], codebook)
    scores[by] = data[by].to_numpy()
    means = scores.groupby(by, sort=True)[items].mean()
    tree = aggregate_tree(means, codebook)
    n = data.groupby(by, sort=True).size().rename("n")
    out = pd.concat([n, tree], axis=1)
    out.insert(0, "rank", out[codebook.tree.code].rank(ascending=False, method="min").astype("Int64"))
    return out.sort_values(["rank", codebook.tree.code], ascending=[True, False]).reset_index().rename(columns={"index": by})


def respondent_scores(data: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Respondent-level scores: each respondent's items combined up the tree (re-normalising over
    the items they answered). The mean of these differs from :func:`unit_scores` when respondents
    skip items, because each respondent's own answers are weighted up to fill the gaps."""
    return aggregate_tree(rescale_items(data[codebook.index_items], codebook), codebook)


def sample_sizes(data: pd.DataFrame, codebook: Codebook, *, by: str = "city") -> pd.DataFrame:
    """Interviews per unit against the codebook's minimum (``min_valid_per_city``)."""
    n = data.groupby(by).size().rename("n")
    out = n.reindex(list(codebook.cities), fill_value=0).to_frame() if by == "city" else n.to_frame()
    out["minimum"] = codebook.min_valid_per_city
    out["meets_minimum"] = out["n"] >= out["minimum"]
    return out.reset_index().rename(columns={"index": by})



# ---- weighted scores with standard errors ---------------------------------------------------------


def tree_coefficients(codebook: Codebook, available: pd.Series | None = None) -> pd.DataFrame:
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
    coef = aggregate_tree(unit, codebook).T
    coef.columns = items
    return coef.fillna(0.0)


def weighted_scores(design, codebook: Codebook, *, by: str = "city", method: str = "linearization",
                    ci: float = 0.95) -> pd.DataFrame:
    """Every node of the tree per unit, from the design's weights, with SE and confidence interval.

    Node scores are linear combinations of the units' weighted item means (rescaled to 0–100), so
    their SEs come from the combined influence values (Taylor linearisation, accounting for the
    raking) or from the replicate weights (``method="replicate"``).

    Returns a tidy frame: ``by, node, level, estimate, se, ci_low, ci_high, n``.
    """
    from dataclasses import replace

    from .estimate import linear_combination

    items = codebook.index_items
    scored = rescale_items(design.data[items], codebook).add_prefix("score:")
    work = replace(design, data=pd.concat([design.data.drop(columns=scored.columns, errors="ignore"), scored], axis=1))

    def coefficients(available: pd.Series) -> pd.DataFrame:
        coef = tree_coefficients(codebook, available.rename(lambda c: c.removeprefix("score:")))
        return coef.add_prefix("score:")

    out = linear_combination(work, list(scored.columns), coefficients, by=by, method=method, ci=ci)
    out = out.rename(columns={"variable": "node"})
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


from .pls import PLSResult, pls_path  # noqa: E402  (the structural-model index lives in its own module)
