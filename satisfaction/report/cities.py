"""What every city's bulletin reads, computed once per year: :class:`YearResults`.

The provincial report and each city's bulletin (城市通报) state the same numbers by the same
standard (:mod:`satisfaction.report.context`): intervals and tests at 95 %; a city's rank only
through simultaneous rank confidence sets; a difference called only where its Holm-adjusted
p-value is below 5 %. Everything here is in numbers; the bulletin words and rounds them.

Computed once per year and region (then pickled under ``data/interim/``, keyed by the inputs and
settings, and read by every bulletin — a batch of hundreds of bulletins never recomputes them):

* every node's score per city with its linearised SE (the provincial tables' own numbers), and the
  provincial composite;
* **city against province**, per node: ``d_c = s_c − Σ_k a_k s_k`` with ``a_k`` the official sizes.
  Cities are separate strata raked on their own, so their estimates are independent and
  ``Var(d_c) = (1 − a_c)² V_c + Σ_{k≠c} a_k² V_k``; p from the normal, Holm-adjusted within each city
  over the nodes of one level (its second-level indicators are one family, its dimensions another);
* rank confidence sets of every node (index, dimensions, indicators), and the index's tiers;
* the index's change since last year and its trend over every year with data;
* satisfaction rates (满意率) per city and for the province;
* driver importances with replicate SEs (:func:`satisfaction.drivers.importance_intervals`);
* the gap to the next tier (:func:`tier_gaps`);
* the plan targets (:func:`evaluate_targets`), from the replicate distribution of each measure.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..survey.variance import critical_value
from .context import holm

#: Bump when what YearResults holds changes, so that old caches are not read.
CACHE_VERSION = 1
#: Where the shared results are kept, relative to the project root (cookiecutter's interim data).
INTERIM = Path("data") / "interim"


@dataclass
class YearResults:
    """One year's numbers for every city, computed once and shared by all bulletins (see module)."""

    year: int
    region: str
    level: float
    settings: dict
    cities: list                  # rank order of the index (best first)
    nodes: pd.DataFrame           # city, node, level, estimate, se, ci_low, ci_high, n
    province: pd.DataFrame        # node, level, estimate, se, ci_low, ci_high, units
    versus: pd.DataFrame          # city, node, level, difference, se, ci_low, ci_high, p, p_holm, position
    node_ranks: pd.DataFrame      # city, node, rank, lower, upper, cities
    tiers: pd.Series              # city → "top" | "middle" | "bottom"
    change: pd.DataFrame | None   # city, previous, current, change, se, ci_low, ci_high, p, p_holm, significant
    previous_year: int | None
    trend: pd.DataFrame           # year, city ("province" for the composite), estimate, se, ci_low, ci_high
    rates: pd.DataFrame           # city ("province" too), dimension, rate, se, ci_low, ci_high, n
    drivers: pd.DataFrame         # city, indicator, importance, se, ci_low, ci_high, performance, quadrant, priority
    gaps: pd.DataFrame            # city, tier, next_tier, required, gap, se, probability, improvement_80
    targets: pd.DataFrame | None  # see evaluate_targets
    target_confidence: float
    precision: pd.DataFrame
    min_cell: int
    timings: dict = field(default_factory=dict)

    # ---- one city --------------------------------------------------------------------------------
    def city_nodes(self, city: str) -> pd.DataFrame:
        return self.nodes[self.nodes["city"] == city].set_index("node")

    def city_versus(self, city: str) -> pd.DataFrame:
        return self.versus[self.versus["city"] == city].set_index("node")

    def city_ranks(self, city: str) -> pd.DataFrame:
        return self.node_ranks[self.node_ranks["city"] == city].set_index("node")

    def city_targets(self, city: str) -> pd.DataFrame:
        if self.targets is None:
            return pd.DataFrame()
        return self.targets[self.targets["unit"] == city]


# ---- the computation ---------------------------------------------------------------------------------

def compute_year_results(report, targets=None, progress=None) -> YearResults:
    """Everything the bulletins need, from an :class:`~satisfaction.report.AnnualReport` (its context,
    replicate design and drivers) and a :class:`~satisfaction.targets.TargetSet` (or None).
    ``progress(step)`` is called before each step, for a progress bar."""
    from ..drivers import importance_intervals
    from ..breakdowns import province_rates, satisfaction_rates

    step = progress or (lambda name: None)
    ctx, cb = report.ctx, report.codebook
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    cities = list(ctx.scores["city"])
    nodes = _plain(ctx.node_scores)
    province = _plain(ctx.province_now)
    step("versus")
    versus = versus_province(nodes, ctx.sizes(), level=ctx.level)
    lap("versus")
    step("ranks")
    node_ranks = _node_ranks(ctx, nodes)
    lap("ranks")
    step("trend")
    change = _plain(ctx.city_change()) if ctx.previous_year is not None else None
    idx = cb.tree.code
    trend = []
    for year, scores in ctx.scores_by_year.items():
        part = scores[scores["node"] == idx]
        trend.append(_plain(part)[["city", "estimate", "se", "ci_low", "ci_high"]].assign(year=year))
    prov = ctx.province_by_year[ctx.province_by_year["node"] == idx]
    trend.append(_plain(prov)[["year", "estimate", "se", "ci_low", "ci_high"]].assign(city="province"))
    trend = pd.concat(trend, ignore_index=True)[["year", "city", "estimate", "se", "ci_low", "ci_high"]]
    lap("trend")
    step("rates")
    rates = _plain(satisfaction_rates(ctx.design, cb, by="city", level=ctx.level))
    rates = pd.concat([_plain(province_rates(rates, ctx.sizes(), level=ctx.level)).drop(columns="units").assign(city="province"),
                       rates], ignore_index=True)[["city", "dimension", "rate", "se", "ci_low", "ci_high", "n"]]
    lap("rates")
    step("replicates")
    design = report.replicate_design
    lap("replicates")
    step("drivers")
    drivers = importance_intervals(design, cb, by="city", level=ctx.level, lang="zh")
    lap("drivers")
    step("tiers")
    gaps = tier_gaps(ctx)
    lap("tiers")
    confidence = 0.95
    evaluated = None
    if targets is not None:
        step("targets")
        confidence = targets.confidence
        evaluated = evaluate_targets(targets.due(ctx.year), report, design, nodes, province, rates)
        lap("targets")
    return YearResults(year=ctx.year, region=ctx.region, level=ctx.level,
                       settings={"replicates": ctx.replicates, "seed": ctx.seed, "rank_draws": ctx.rank_draws},
                       cities=cities, nodes=nodes, province=province, versus=versus, node_ranks=node_ranks,
                       tiers=ctx.tiers.copy(), change=change, previous_year=ctx.previous_year,
                       trend=trend, rates=rates, drivers=drivers, gaps=gaps, targets=evaluated,
                       target_confidence=confidence, precision=_plain(ctx.precision), min_cell=cb.min_cell,
                       timings=timings)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy without ``attrs`` (covariance closures do not pickle, and the bulletins need none)."""
    out = frame.reset_index(drop=True).copy()
    out.attrs = {}
    return out


def versus_province(nodes: pd.DataFrame, sizes: pd.Series, *, level: float = 0.95) -> pd.DataFrame:
    """Each city against the provincial composite, per node (formula: module docstring).

    Returns ``city, node, level, difference, se, ci_low, ci_high, p, p_holm, position`` —
    ``position`` is ``"above"`` / ``"below"`` where the Holm-adjusted p (within the city, over the
    nodes of the same level) is below ``1 − level``, else ``"none"``."""
    rows = []
    z = critical_value(level)
    for node, part in nodes[nodes["estimate"].notna()].groupby("node", sort=False):
        part = part.set_index("city")
        a = sizes.reindex(part.index).astype(float)
        a = a / a.sum()
        v = part["se"].to_numpy(dtype=float) ** 2
        s = part["estimate"].to_numpy(dtype=float)
        prov = float(a @ s)
        total = float((a ** 2) @ v)
        aa = a.to_numpy()
        var = (1 - aa) ** 2 * v + (total - aa ** 2 * v)
        d = s - prov
        se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(d / se))
        for i, city in enumerate(part.index):
            rows.append({"city": city, "node": node, "level": int(part["level"].iloc[i]), "difference": d[i],
                         "se": se[i], "ci_low": d[i] - z * se[i], "ci_high": d[i] + z * se[i], "p": p[i]})
    out = pd.DataFrame(rows)
    out["p_holm"] = np.nan
    for _, index in out.groupby(["city", "level"]).groups.items():
        out.loc[index, "p_holm"] = holm(out.loc[index, "p"].to_numpy())
    signif = out["p_holm"] < 1 - level
    out["position"] = np.where(signif & (out["difference"] > 0), "above",
                               np.where(signif & (out["difference"] < 0), "below", "none"))
    return out


def _node_ranks(ctx, nodes: pd.DataFrame) -> pd.DataFrame:
    """Simultaneous rank confidence sets of the cities on every node (index, dimensions, indicators)."""
    out = []
    order = [n.code for n in ctx.codebook.nodes() if n.level <= 2]
    for node in order:
        rows = ctx.node_scores[(ctx.node_scores["node"] == node) & ctx.node_scores["estimate"].notna()]
        if len(rows) < 2:
            continue
        # the index's sets are the provincial report's own (same units, order and draws)
        sets = ctx.index_sets if node == ctx.codebook.tree.code else ctx.rank_sets(node=node)
        unit = sets.columns[0]
        out.append(pd.DataFrame({"city": sets[unit].to_numpy(), "node": node, "rank": sets["rank"].to_numpy(),
                                 "lower": sets["lower"].to_numpy(), "upper": sets["upper"].to_numpy(),
                                 "cities": len(sets)}))
    return pd.concat(out, ignore_index=True)


# ---- the next tier -----------------------------------------------------------------------------------

NEXT_TIER = {"bottom": "middle", "middle": "top"}
ORDER = {"bottom": 0, "middle": 1, "top": 2}


def _tier_of(lower: int, upper: int, p: int) -> str:
    third = int(np.ceil(p / 3))
    return "top" if upper <= third else ("bottom" if lower > p - third else "middle")


def tier_gaps(ctx, *, tol: float = 0.05) -> pd.DataFrame:
    """What it would take each city to move up a tier, at this year's precision.

    The tiers are :func:`~satisfaction.report.context.rank_tiers` of the simultaneous rank sets. For a
    city below the leading tier, ``required`` is the smallest index score at which its rank set —
    the other cities' estimates and every SE as they are this year, the same seeded draws — would
    place it in the next tier up (found by bisection to ``tol`` points; NaN when even 100 would not).
    ``gap = required − estimate``; ``probability = Φ(−gap / SE)`` is the chance that a survey of this
    year's precision would show the city there if its true score did not change; ``improvement_80 =
    gap + z₀.₈ · SE`` is the true improvement after which a survey of this precision shows it there
    four times in five."""
    from ..ranking import _inputs, _normal_draws, _pair_maxima, _rejections
    from ..survey.estimate import vcov

    rows = ctx._index_rows(ctx.node_scores).loc[list(ctx.scores["city"])]
    est, var = rows["estimate"].astype(float), vcov(rows.reset_index()).to_numpy()
    p = len(est)
    # rank_sets' own steps, its normal draws taken once: they depend on the covariance and the seed,
    # not on the estimates, so every moved score is judged against the same draws
    values, v, se_pairs, _ = _inputs(est, var)
    z = _normal_draws(v, ctx.rank_draws, ctx.seed)
    # the single-step critical value (the stepdown's first step, which depends on the covariance
    # alone): whatever single-step rejects, the stepdown rejects too, so the score at which
    # single-step sets would reach the next tier — a closed form — bounds the search from above
    single = float(np.quantile(_pair_maxima(z, se_pairs, ~np.eye(p, dtype=bool)), ctx.level))
    third = int(np.ceil(p / 3))
    tiers = ctx.tiers
    out = []
    for city in est.index:
        tier = tiers[city]
        se = float(rows.loc[city, "se"])
        if tier not in NEXT_TIER:
            out.append({"city": city, "tier": tier, "next_tier": None, "required": np.nan, "gap": np.nan, "se": se,
                        "probability": np.nan, "improvement_80": np.nan})
            continue
        goal = NEXT_TIER[tier]

        j = list(est.index).index(city)

        def reaches(score: float, j=j, goal=goal) -> bool:
            moved = values.copy()
            moved[j] = score
            rejected = _rejections(moved, se_pairs, z, ctx.level, "two-sided", True, True)
            lower, upper = 1 + int(rejected[:, j].sum()), p - int(rejected[j].sum())
            return ORDER[_tier_of(lower, upper, p)] >= ORDER[goal]

        others = np.arange(p) != j
        if goal == "top":        # better than p − third cities: above the (p − third)-th smallest bar
            bound = np.sort(values[others] + single * se_pairs[j, others])[p - third - 1]
        else:                    # at most p − third − 1 cities better: not below the (p − third)-th largest bar
            bound = np.sort(values[others] - single * se_pairs[others, j])[::-1][p - third - 1]
        low = float(est[city])
        high = min(100.0, max(float(bound) + 1e-9, low + tol))
        if not reaches(high):
            high = 100.0
        if not reaches(high):
            required = np.nan
        else:
            while high - low > tol:
                mid = (low + high) / 2
                low, high = (low, mid) if reaches(mid) else (mid, high)
            required = high
        gap = required - float(est[city])
        out.append({"city": city, "tier": tier, "next_tier": goal, "required": required, "gap": gap, "se": se,
                    "probability": float(stats.norm.sf(gap / se)) if np.isfinite(gap) else 0.0,
                    "improvement_80": gap + float(stats.norm.ppf(0.8)) * se})
    return pd.DataFrame(out)


# ---- plan targets ----------------------------------------------------------------------------------------

def replicate_spread(design, thetas: np.ndarray) -> np.ndarray:
    """The replicate estimates ``thetas`` (B × …) turned into deviations whose mean square is the
    replicate variance of the design (``scale · Σ_b rscale_b (θ_b − c)²``, ``c`` the replicates' mean,
    or the full-sample estimate when the design uses ``mse``): ``√(B · scale · rscale_b) (θ_b − c)``.
    Added to an estimate they give the replicate distribution of the estimate."""
    rep = design.require_replicates()
    thetas = np.asarray(thetas, dtype=float)
    B = thetas.shape[0]
    c = np.nanmean(thetas, axis=0)
    factor = np.sqrt(B * rep.scale * np.asarray(rep.rscales, dtype=float)).reshape((B,) + (1,) * (thetas.ndim - 1))
    return factor * (thetas - c)


def evaluate_targets(targets, report, design, nodes: pd.DataFrame, province: pd.DataFrame,
                     rates: pd.DataFrame) -> pd.DataFrame:
    """Every target with this year's estimate, SE and CI (the published ones: linearised score,
    ``svyciprop``-type rate), the probability that the true value meets the threshold — the share of
    the replicate distribution (re-raked bootstrap, :func:`replicate_spread` around the estimate) at or
    above it — the same from the normal approximation, and the verdict at the file's confidence
    (:func:`satisfaction.targets.verdict`).

    Scores are on 0–100 points, rates in percent; the province's are size-weighted composites of the
    cities' (so are their replicates)."""
    from ..breakdowns import _five_point_items, _respondent_shares
    from ..index import aggregate_arrays, replicate_item_means
    from ..schemes import fixed_weights
    from ..survey.estimate import replicate_means
    from ..targets import meet_probability, normal_probability, verdict

    ctx, cb = report.ctx, report.codebook
    cities = sorted(ctx.node_scores["city"].dropna().unique())
    sizes = ctx.sizes().reindex(cities).astype(float)
    a = (sizes / sizes.sum()).to_numpy()
    wanted = list(targets.targets)
    score_draws: dict[str, np.ndarray] = {}
    if any(t.measure == "score" for t in wanted):
        reps = replicate_item_means(design, cb, by="city")                  # B × cities × items
        score_draws = aggregate_arrays(reps, cb.index_items, cb, fixed_weights(cb).weights)
    rate_draws: dict[str, np.ndarray] = {}
    rate_points: dict[str, pd.DataFrame] = {}
    rate_names = sorted({t.of for t in wanted if t.measure == "rate"})
    if rate_names:
        five = _five_point_items(cb)
        groups = {name: five[name] if name in five else [name] for name in rate_names}
        shares = _respondent_shares(design.data, groups, 4)                  # one column per name, in order
        thetas, keys = replicate_means(design, shares.to_numpy(dtype=float), by="city")   # B × cities × names
        order = [list(keys["city"]).index(c) for c in cities]
        rate_draws = {name: 100 * thetas[:, order, j] for j, name in enumerate(groups)}
        items = [name for name in groups if name not in five]
        if items:   # an item's rate has no published row: its weighted share with the linearised SE
            from dataclasses import replace

            from ..survey.estimate import mean

            work = replace(design, data=pd.concat([design.data, shares.set_axis(list(groups), axis=1)[items]
                                                   .add_prefix("rate__")], axis=1))
            est = mean(work, [f"rate__{i}" for i in items], by="city", method="linearization", level=ctx.level)
            for i in items:
                rate_points[i] = _plain(est[est["variable"] == f"rate__{i}"]).set_index("city").reindex(cities)
    nodes_i = nodes.set_index(["city", "node"])
    prov_i = province.set_index("node")
    rates_i = rates.set_index(["city", "dimension"])
    rows = []
    z = critical_value(ctx.level)
    for t in wanted:
        if t.measure == "score":
            draws = score_draws[t.of]                                          # B × cities
            if t.unit == "province":
                est, se = float(prov_i.loc[t.of, "estimate"]), float(prov_i.loc[t.of, "se"])
                low, high = float(prov_i.loc[t.of, "ci_low"]), float(prov_i.loc[t.of, "ci_high"])
                theta = draws @ a
            else:
                r = nodes_i.loc[(t.unit, t.of)]
                est, se, low, high = (float(r[k]) for k in ("estimate", "se", "ci_low", "ci_high"))
                theta = draws[:, cities.index(t.unit)]
        else:
            theta = rate_draws[t.of] @ a if t.unit == "province" else rate_draws[t.of][:, cities.index(t.unit)]
            if t.of in rate_points:
                part = rate_points[t.of]
                if t.unit == "province":
                    est, se = float(a @ part["estimate"]), float(np.sqrt((a ** 2) @ part["se"] ** 2))
                else:
                    est, se = float(part.loc[t.unit, "estimate"]), float(part.loc[t.unit, "se"])
                est, se = 100 * est, 100 * se
                low, high = est - z * se, est + z * se
            else:
                r = rates_i.loc[(t.unit, t.of)]
                est, se = 100 * float(r["rate"]), 100 * float(r["se"])
                low, high = 100 * float(r["ci_low"]), 100 * float(r["ci_high"])
        spread = replicate_spread(design, theta)
        prob = meet_probability(est + spread, t.threshold)
        rows.append({"key": t.key, "unit": t.unit, "measure": t.measure, "of": t.of, "threshold": t.threshold,
                     "target_year": t.year, "source": t.source, "estimate": est, "se": se, "ci_low": low,
                     "ci_high": high, "probability": prob,
                     "normal_probability": normal_probability(est, se, t.threshold),
                     "verdict": verdict(prob, targets.confidence)})
    return pd.DataFrame(rows, columns=["key", "unit", "measure", "of", "threshold", "target_year", "source", "estimate",
                                       "se", "ci_low", "ci_high", "probability", "normal_probability", "verdict"])


# ---- the shared file ------------------------------------------------------------------------------------

def targets_path(codebook) -> Path:
    """The project's targets file: ``targets.yaml`` beside the codebook (``data/raw/``)."""
    return Path(codebook.path).parent / "targets.yaml"


def load_project_targets(codebook):
    """The targets file beside the codebook, validated (:func:`satisfaction.targets.load_targets`), or
    None when the project has none."""
    from ..targets import load_targets

    path = targets_path(codebook)
    return load_targets(path, codebook) if path.is_file() else None


def cache_key(codebook, processed_dir: Path, year: int, region: str, replicates: int, seed: int,
              targets=None) -> str:
    """The inputs and settings the shared results depend on, hashed: this module's version, the
    package's, the codebook, every year's processed manifest up to ``year``, the targets file,
    replicates, seed, rank draws and level."""
    from .. import __version__
    from .context import LEVEL, RANK_DRAWS, processed_years

    processed_dir = Path(processed_dir)
    manifests = {str(y): hashlib.sha256((processed_dir / str(y) / "manifest.json").read_bytes()).hexdigest()
                 for y in processed_years(processed_dir, year)}
    parts = {"version": CACHE_VERSION, "package": __version__, "codebook": codebook.sha256, "year": int(year),
             "region": region, "replicates": int(replicates), "seed": int(seed), "rank_draws": RANK_DRAWS,
             "level": LEVEL, "targets": None if targets is None else targets.sha256, "manifests": manifests}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(processed_dir: Path, year: int, region: str, key: str) -> Path:
    """``data/interim/<year>/<region>-shared-<key>.pkl`` (``data/interim`` beside ``data/processed``)."""
    return Path(processed_dir).parent / "interim" / str(year) / f"{region}-shared-{key}.pkl"


def year_results(year: int, *, processed_dir, codebook, region: str | None = None, replicates: int = 500,
                 seed: int | None = None, report=None, progress=None, store: bool = True) -> YearResults:
    """The year's shared results: read from ``data/interim/<year>/`` when computed before from the
    same inputs and settings (:func:`cache_key`), else computed (from ``report`` when given, an
    :class:`~satisfaction.report.AnnualReport` of the same year and settings, else from a new one) and,
    unless ``store`` is False (exploring, which writes nothing), written there atomically. Every
    bulletin of the year reads the same file."""
    from ..codebook import Codebook, load_codebook
    from ..ingest import atomic_write_bytes
    from ..paths import resolve

    cb = codebook if isinstance(codebook, Codebook) else load_codebook(resolve(codebook))
    region = region or cb.region["code"]
    seed = int(year) if seed is None else int(seed)
    targets = load_project_targets(cb)
    processed_dir = resolve(processed_dir)
    path = cache_path(processed_dir, year, region, cache_key(cb, processed_dir, year, region, replicates, seed, targets))
    if path.is_file():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except Exception:          # written by another version of a dependency: compute again
            pass
    if report is None:
        from .annual import AnnualReport

        report = AnnualReport(year, processed_dir=processed_dir, codebook=cb, region=region, replicates=replicates,
                              seed=seed)
    results = compute_year_results(report, targets, progress=progress)
    if not store:
        return results
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    return results
