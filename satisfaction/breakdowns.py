"""Satisfaction rates (满意率) and breakdowns by population group and region, for the annual report.

**Satisfaction rate** of a unit (city) and a first-level dimension: with ``I_d`` the dimension's
index items on a five-point scale (scale 1–5: ``agree5``, and ``freq5`` items, which were mirrored
at ingestion so that 5 is the favourable end), respondent i's share of favourable answers

    y_i = #{j ∈ I_d answered by i : x_ij ≥ at_least} / #{j ∈ I_d answered by i}   ∈ [0, 1]

(undefined when i answered none of them), and the rate is its weighted mean over the respondents
who answered at least one item,

    r̂ = Σ w_i y_i / Σ w_i,

a domain mean (``svymean(~y, na.rm=TRUE)``) whose linearised (or replicate) SE comes from
:func:`satisfaction.survey.estimate.mean`. The ``"overall"`` row does the same over all five-point
index items. With one item, ``y_i = 1[x_i ≥ at_least]`` and ``r̂`` is the proportion of
:func:`satisfaction.survey.estimate.proportion`.

Intervals: :func:`satisfaction.survey.proportion.ciprop` (``svyciprop``) only takes a 0/1 indicator
it builds itself (``x ≥ at_least`` or ``x == category``), so it cannot take the fractional ``y_i``.
R's ``svyciprop(method="logit")`` would (``svyglm(y ~ 1, family=quasibinomial)`` accepts
fractions); by linearisation its interval is the logit-transformed Wald interval

    expit(logit r̂ ± q · se / (r̂ (1 − r̂))),

the formula used here (``interval="logit"``; it is ``svyciprop``'s ``"xlogit"``, and equal to its
``"logit"`` up to the IRLS tolerance). ``interval="mean"`` gives ``r̂ ± q·se``. As in ``svyciprop``,
``q`` is Student's t quantile on the design degrees of freedom of each domain (R's ``degf`` of the
domain's design, as ``svyby`` hands it over). With replicate weights the logit interval is the
delta method on the replicate SE (R refits the logit in every replicate). At ``r̂ = 0`` or ``1`` the
logit interval is NaN, as R's ``xlogit``.

**Province-wide figures** must be weighted by city size, not by respondents. The design's weights
are calibrated within each city to its census margins and sum to the city's adult population, so
``by=None`` (or :func:`group_scores`) weights cities by adult population (a ratio estimator over the
respondents who answered). For other sizes (retail sales) or as the published composite,
:func:`province_rates` combines the per-city rates as :func:`satisfaction.index.composite` does
scores: ``r = Σ_c a_c r̂_c``, ``a_c = size_c / Σ size``, ``SE = √(Σ a_c² SE_c²)`` (cities are
separate strata, calibrated on their own: independent), normal interval.

**Groups** (sex, age group, education, residence): the index (or any node) per category over the
whole province is :func:`satisfaction.index.weighted_scores` with ``by=group``; the test of
independence between a group and overall satisfaction is ``svychisq`` (Rao & Scott 1984, second-
order F by default) and the pairwise differences of the group's scores are ``svycontrast``
contrasts with Holm (1979) adjusted p-values (:func:`satisfaction.survey.estimate.compare`).

**Regions** (groups of cities): per region and node the size-weighted composite of its cities,
and the pairwise differences between regions, ``(s_A − s_B) / √(SE_A² + SE_B²)`` (regions hold
different cities, so they are independent), with Holm-adjusted p-values.

References: Lumley, T. (2010) *Complex Surveys*, §2.3, §6.2; R ``survey``: ``svymean``,
``svyciprop``, ``svychisq``, ``svycontrast``, ``svyby``; Rao, J.N.K. & Scott, A.J. (1984) On
chi-squared tests for multiway contingency tables with cell proportions estimated from survey
data, *Ann. Statist.* 12, 46–60; Holm, S. (1979) A simple sequentially rejective multiple test
procedure, *Scand. J. Statist.* 6, 65–70.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .codebook import Codebook
from .errors import SatisfactionError
from .index import composite, weighted_scores
from .ranking import pairwise
from .survey.estimate import Covariance, compare, mean, vcov
from .survey.proportion import _domain_degf
from .survey.tables import chisq
from .survey.variance import confint

__all__ = ["INTERVALS", "OVERALL", "OVERALL_ITEM", "ADJUSTMENTS", "GroupTests", "RegionScores", "satisfaction_rates",
           "province_rates", "group_scores", "group_tests", "overall_threshold", "region_scores"]

#: Interval methods of :func:`satisfaction_rates` (``svyciprop``'s names).
INTERVALS = ("logit", "mean")
#: The ``dimension`` value of the rate over all five-point index items.
OVERALL = "overall"
#: The overall-satisfaction question used by :func:`group_tests`.
OVERALL_ITEM = "OVERALL"
#: p-value adjustments of :func:`group_tests`: column of :func:`satisfaction.ranking.pairwise`.
ADJUSTMENTS = {"holm": "p_holm", "bh": "p_bh", "none": "p"}
#: The five-point scale ``at_least`` refers to.
FIVE_POINT = (1.0, 5.0)

_PREFIX = "rate:"


# ---- satisfaction rates ------------------------------------------------------------------------------


def _five_point_items(codebook: Codebook) -> dict[str, list[str]]:
    """Dimension code → its index items on a 1–5 scale (tree order), and ``"overall"`` → all of them.
    Dimensions without such items are left out."""
    def five(code):
        scale = codebook.items[code].scale
        return (float(scale.min), float(scale.max)) == FIVE_POINT

    groups = {dim.code: [i for ind in dim.children for i in ind.weights if five(i)] for dim in codebook.dimensions}
    groups = {d: items for d, items in groups.items() if items}
    if not groups:
        raise SatisfactionError("the codebook's index has no item on a 1–5 scale: no satisfaction rate")
    groups[OVERALL] = [i for items in groups.values() for i in items]
    return groups


def _respondent_shares(data: pd.DataFrame, groups: dict[str, list[str]], at_least: float) -> pd.DataFrame:
    """Per respondent and group of items: the share of answered items ``≥ at_least`` (NaN: none answered)."""
    out = {}
    for name, items in groups.items():
        x = data[items].to_numpy(dtype=float)
        answered = ~np.isnan(x)
        with np.errstate(invalid="ignore"):
            hits = np.where(answered, x >= at_least, False).sum(axis=1)
            k = answered.sum(axis=1)
            out[_PREFIX + name] = np.where(k > 0, hits / np.where(k > 0, k, 1), np.nan)
    return pd.DataFrame(out, index=data.index)


def _intervals(rate: np.ndarray, se: np.ndarray, df: np.ndarray, level: float, interval: str):
    """``svyciprop``-type intervals: Wald on the logit scale (delta method) or on the rate itself,
    with the t quantile on each row's ``df``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if interval == "logit":
            centre, spread = np.log(rate / (1 - rate)), se / (rate * (1 - rate))
        else:
            centre, spread = rate, se
    low, high = np.full(len(rate), np.nan), np.full(len(rate), np.nan)
    for d in np.unique(df):
        rows = df == d
        low[rows], high[rows] = confint(centre[rows], spread[rows], level, None if np.isinf(d) else d)
    if interval == "logit":
        with np.errstate(over="ignore", invalid="ignore"):
            low, high = 1 / (1 + np.exp(-low)), 1 / (1 + np.exp(-high))
    return low, high


def satisfaction_rates(design, codebook: Codebook, *, by: str | None = "city", at_least: float = 4,
                       level: float = 0.95, interval: str = "logit") -> pd.DataFrame:
    """Satisfaction rate (满意率) per unit of ``by`` and first-level dimension, and over all
    five-point index items (``dimension == "overall"``).

    A respondent's value is the share of their answered five-point items of the dimension that are
    ``≥ at_least`` (4: "satisfied" or "very satisfied"); the rate is its weighted mean over the
    respondents who answered at least one of them, with the design's SE (``svymean``) and a
    ``svyciprop``-type interval (``interval``: ``"logit"`` — ``expit(logit r̂ ± q·se/(r̂(1−r̂)))`` — or
    ``"mean"``, ``r̂ ± q·se``; q from t on the domain's design df). Formulas and why
    :func:`~satisfaction.survey.proportion.ciprop` cannot be used: the module docstring.

    ``by=None``: the whole province, respondents weighted by the design's weights (calibrated to
    each city's adult population, so cities count by adult population, not by interviews); see
    :func:`province_rates` for other city sizes.

    Returns ``[by], dimension, rate, se, ci_low, ci_high, n`` (``n``: respondents with a non-zero
    weight who answered at least one item), rates in [0, 1]. ``estimate.vcov(rates)`` gives the
    covariance of all rates (across units and dimensions).
    """
    if interval not in INTERVALS:
        raise SatisfactionError(f"interval must be one of {', '.join(map(repr, INTERVALS))}, got {interval!r}")
    if isinstance(at_least, bool) or not isinstance(at_least, numbers.Real) or not math.isfinite(at_least):
        raise SatisfactionError(f"at_least must be a number on the 1–5 scale, got {at_least!r}")
    groups = _five_point_items(codebook)
    shares = _respondent_shares(design.data, groups, at_least)
    work = replace(design, data=pd.concat([design.data.drop(columns=shares.columns, errors="ignore"), shares], axis=1))
    est = mean(work, list(shares.columns), by=by, level=level)

    domain, keys = design.domains(by)
    df = np.repeat(_domain_degf(design, design.method(None), domain, len(keys), by), len(groups))
    rate, se = est["estimate"].to_numpy(dtype=float), est["se"].to_numpy(dtype=float)
    low, high = _intervals(rate, se, df, level, interval)
    by_cols = [] if by is None else [by]
    out = est[by_cols].reset_index(drop=True)
    out["dimension"] = est["variable"].str.removeprefix(_PREFIX).to_numpy()
    out["rate"], out["se"], out["ci_low"], out["ci_high"] = rate, se, low, high
    out["n"] = est["n"].to_numpy()
    cov = est.attrs["vcov"]    # rows in the order of est, hence of out
    key_columns = by_cols + ["dimension"]
    out.attrs["vcov"] = Covariance(key_columns, pd.MultiIndex.from_frame(out[key_columns].astype(object)),
                                   lambda: cov.matrix)
    return out


def province_rates(rates: pd.DataFrame, sizes: pd.Series, *, by: str = "city", level: float = 0.95) -> pd.DataFrame:
    """Province-wide rates from per-city rates, weighted by city size (not by respondents).

    ``r = Σ_c a_c r̂_c`` with ``a_c = size_c / Σ_c size_c`` over the cities in ``rates``,
    ``SE = √(Σ_c a_c² SE_c²)`` (cities are separate strata, calibrated on their own, so their rates
    are independent) and the normal interval ``r ± z·SE`` — :func:`satisfaction.index.composite`
    applied to the rates. ``rates``: :func:`satisfaction_rates` by ``by``; ``sizes``: one size per
    city (adult population, retail sales …), indexed by city code.

    Returns ``dimension, rate, se, ci_low, ci_high, n, units`` (``n``: respondents, ``units``: cities).
    """
    if by not in rates.columns:
        raise SatisfactionError(f"the rates have no column {by!r}: pass the rates by city (or by=)")
    rows = []
    for dimension, part in rates.groupby("dimension", sort=False):
        if part[by].duplicated().any():
            raise SatisfactionError(f"dimension {dimension!r}: several rates for one {by}")
        lacking = part.loc[part["rate"].isna() | part["se"].isna(), by].tolist()
        if lacking:
            raise SatisfactionError(f"dimension {dimension!r}: no rate for {by} {lacking}; a province-wide rate "
                                    "needs every city")
        scores = part.rename(columns={"dimension": "node", "rate": "estimate"})
        c = composite(scores, sizes, node=dimension, by=by, level=level)
        rows.append({"dimension": dimension, "rate": c["estimate"], "se": c["se"], "ci_low": c["ci_low"],
                     "ci_high": c["ci_high"], "n": int(part["n"].sum()), "units": int(c["units"])})
    return pd.DataFrame(rows)


# ---- population groups -------------------------------------------------------------------------------


def _check_group(design, codebook: Codebook, group: str) -> None:
    if group not in design.data.columns:
        raise SatisfactionError(f"no column {group!r} in the design's data "
                                f"(demographics: {', '.join(codebook.demographics)})")


def group_scores(design, codebook: Codebook, group: str, *, node: str | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """The index (or ``node``) per category of a demographic ``group`` (sex, age_group, education,
    residence) over the whole province.

    The design is calibrated within each city to the city's population margins (counts from the
    census), so the weighted respondents represent the province's adults and every city counts by
    its adult population. Per category g the items' weighted means over the respondents of g who
    answered, rescaled to 0–100, are combined up the tree: ``s_g = Σ_j c_j ȳ_gj`` — exactly
    :func:`satisfaction.index.weighted_scores` with ``by=group`` (domain estimation across all
    cities; linearised or replicate SEs).

    Returns ``group, node, estimate, se, ci_low, ci_high, n`` (the first column named after
    ``group``), with the covariance of the categories' estimates attached, so that
    :func:`satisfaction.survey.estimate.contrast` and :func:`~satisfaction.survey.estimate.compare`
    work on it.
    """
    _check_group(design, codebook, group)
    node = node or codebook.tree.code
    codebook.node(node)
    scores = weighted_scores(design, codebook, by=group, level=level)
    part = scores[scores["node"] == node]
    out = part[[group, "node", "estimate", "se", "ci_low", "ci_high", "n"]].reset_index(drop=True)
    out.attrs = {}
    out.attrs["vcov"] = Covariance([group], pd.MultiIndex.from_frame(out[[group]].astype(object)),
                                   lambda: vcov(part).to_numpy())
    return out


def overall_threshold(codebook: Codebook, at_least: float = 4) -> float:
    """The answer on :data:`OVERALL_ITEM`'s scale that corresponds to ``at_least`` on the five-point
    scale: the smallest answer whose 0–100 score (the index's rescaling) reaches that of
    ``at_least``, ``⌈min + (max − min)·(at_least − 1)/4⌉`` — 8 on 1–10 for 4 ("4 or 5" ↔ 8–10)."""
    if OVERALL_ITEM not in codebook.items:
        raise SatisfactionError(f"the codebook has no item {OVERALL_ITEM!r} (overall satisfaction)")
    scale = codebook.items[OVERALL_ITEM].scale
    lo, hi = FIVE_POINT
    value = scale.min + (scale.max - scale.min) * (at_least - lo) / (hi - lo)
    return float(math.ceil(round(value, 9)))


@dataclass(frozen=True)
class GroupTests:
    """:func:`group_tests`' tables.

    ``independence``: one row — ``group, outcome`` and :meth:`ChisqTest.table`'s columns
    (``statistic, ndf, ddf, p_value, test, …``); ``pairs``: every pair of categories
    (:func:`~satisfaction.survey.estimate.compare`: ``unit_a, unit_b, difference, se, z, p, p_holm,
    p_bh, ci_low, ci_high, significant``) plus ``p_adjusted`` (the chosen adjustment);
    ``scores``: :func:`group_scores` of the index."""

    independence: pd.DataFrame
    pairs: pd.DataFrame
    scores: pd.DataFrame


def group_tests(design, codebook: Codebook, group: str, *, at_least: float = 4, adjust: str = "holm") -> GroupTests:
    """Does overall satisfaction, or the index, differ between the categories of ``group``?

    (a) Rao–Scott test of independence (``svychisq(~group + satisfied, design)``, second-order F)
    between the group and being satisfied overall: ``satisfied = OVERALL ≥ t`` with t from
    :func:`overall_threshold` (the OVERALL question is on a 1–10 scale; ``at_least=4`` of five ↔
    ``t = 8``); respondents who did not answer OVERALL are left out.

    (b) Every pairwise difference of the group's index scores (:func:`group_scores`), with SEs from
    their covariance (``svycontrast``) and p-values adjusted for the number of pairs: ``adjust``
    ``"holm"`` (Holm 1979: ``p_(i) ← max_{j≤i} min(1, (m − j + 1) p_(j))``), ``"bh"`` or ``"none"``.
    """
    if adjust not in ADJUSTMENTS:
        raise SatisfactionError(f"adjust must be one of {', '.join(map(repr, ADJUSTMENTS))}, got {adjust!r}")
    _check_group(design, codebook, group)
    threshold = overall_threshold(codebook, at_least)
    outcome = f"{OVERALL_ITEM}>={threshold:g}"
    answers = design.data[OVERALL_ITEM].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        satisfied = np.where(np.isnan(answers), np.nan, (answers >= threshold).astype(float))
    work = replace(design, data=design.data.assign(**{outcome: satisfied}))
    independence = chisq(work, group, outcome).table()
    independence.insert(0, "outcome", outcome)
    independence.insert(0, "group", group)

    scores = group_scores(design, codebook, group)
    pairs = compare(scores)
    pairs["p_adjusted"] = pairs[ADJUSTMENTS[adjust]]
    pairs.attrs["adjust"] = adjust
    return GroupTests(independence=independence, pairs=pairs, scores=scores)


# ---- regions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionScores:
    """:func:`region_scores`' tables. ``scores``: ``region, node, level, estimate, se, ci_low,
    ci_high, units`` (``units``: the region's cities); ``pairs``: per node, every pair of regions
    (``node`` and :func:`satisfaction.ranking.pairwise`'s columns ``unit_a, unit_b, difference, se,
    z, p, p_holm, p_bh, ci_low, ci_high, significant``; Holm within each node)."""

    scores: pd.DataFrame
    pairs: pd.DataFrame


def _regions(codebook: Codebook, regions) -> dict[str, list[str]]:
    """Region code → its city codes, checked: every region has cities, no city is in two regions."""
    if regions is None:
        regions = (codebook.raw or {}).get("regions")
        if not regions:
            raise SatisfactionError("no regions: pass regions= or declare a top-level 'regions:' section in the "
                                    "codebook")
    out, seen = {}, {}
    for code, entry in regions.items():
        cities = [str(c) for c in (entry.get("cities") if isinstance(entry, dict) else entry) or []]
        if not cities:
            raise SatisfactionError(f"region {code!r} has no cities")
        for city in cities:
            if city in seen:
                raise SatisfactionError(f"city {city!r} is in regions {seen[city]!r} and {code!r}; a city belongs to "
                                        "one region")
            seen[city] = code
        out[str(code)] = cities
    return out


def region_scores(node_scores: pd.DataFrame, codebook: Codebook, sizes: pd.Series, *, regions=None,
                  by: str = "city", level: float = 0.95) -> RegionScores:
    """Per region (a group of cities) the size-weighted composite of its cities' scores, for the
    index and every first-level dimension, and the pairwise differences between regions.

    ``node_scores``: :func:`satisfaction.index.weighted_scores` (or ``replicate_scores``) by city;
    ``sizes``: one size per city, indexed by city code. Per region R and node:
    ``s_R = Σ_{c∈R} a_c s_c``, ``a_c = size_c / Σ_{c∈R} size_c``, ``SE_R = √(Σ a_c² SE_c²)``, normal
    interval (:func:`satisfaction.index.composite` on the region's cities). Regions hold different
    cities, hence are independent: the difference of two regions has SE ``√(SE_A² + SE_B²)``;
    p-values are Holm-adjusted over the pairs of each node.

    ``regions``: ``{code: {"zh": …, "en": …, "cities": [city codes]}}``. Without it, the codebook's
    top-level ``regions:`` section, of the same shape::

        regions:
          north: {zh: 桂北, en: Northern Guangxi, cities: ['450300', '451100', '451200']}
          south: {zh: 桂南, en: Southern Guangxi, cities: ['450100', '450500', '450600', '450700']}
    """
    regions = _regions(codebook, regions)
    available = set(node_scores[by].astype(str))
    for code, cities in regions.items():
        lacking = [c for c in cities if c not in available]
        if lacking:
            raise SatisfactionError(f"region {code!r}: no scores for {by} {lacking}")
    nodes = [codebook.tree.code] + [d.code for d in codebook.dimensions]
    levels = {n.code: n.level for n in codebook.nodes()}
    keyed = node_scores.assign(**{by: node_scores[by].astype(str)})
    sizes = sizes.rename(index=str)
    rows = []
    for code, cities in regions.items():
        part = keyed[keyed[by].isin(cities)]
        for node in nodes:
            c = composite(part, sizes, node=node, by=by, level=level)
            rows.append({"region": code, "node": node, "level": levels[node], "estimate": c["estimate"], "se": c["se"],
                         "ci_low": c["ci_low"], "ci_high": c["ci_high"], "units": int(c["units"])})
    scores = pd.DataFrame(rows)
    pairs = []
    if len(regions) > 1:
        for node in nodes:
            part = scores[scores["node"] == node]
            table = pairwise(part["estimate"].to_numpy(), part["se"].to_numpy() ** 2, level=level,
                             names=part["region"].tolist())
            table.insert(0, "node", node)
            pairs.append(table)
    pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(
        columns=["node", "unit_a", "unit_b", "difference", "se", "z", "p", "p_holm", "p_bh", "ci_low", "ci_high",
                 "significant"])
    return RegionScores(scores=scores, pairs=pairs)
