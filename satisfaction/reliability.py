"""Reliability of a scale: Cronbach's alpha, item analysis, Guttman's lambda-6, KMO and Bartlett.

All functions take a DataFrame of items (respondents × items, NaN = missing) and follow R's
``psych`` package (Revelle), against which they are tested:

* Cronbach's alpha (``psych::alpha``, raw_alpha): ``α = k/(k−1) · (1 − tr C / 1ᵀC1)`` with C the
  item covariance matrix; standardised alpha the same on the correlation matrix R, equal to the
  Spearman–Brown form ``k r̄ / (1 + (k−1) r̄)`` of the mean inter-item correlation r̄.
* Feldt's confidence interval (``psych::alpha.level``): with n respondents,
  ``1 − (1 − α) · F_{1−p/2}(n−1, (n−1)(k−1))`` … ``1 − (1 − α) · F_{p/2}(n−1, (n−1)(k−1))``.
* Guttman's lambda-6 (``G6(smc)``): ``1 − Σ_j (1 − smc_j) / 1ᵀR1`` with ``smc_j = 1 − 1/(R⁻¹)_jj``.
* Item statistics: raw.r (item–total correlation) ``(C1)_j / √(C_jj · 1ᵀC1)`` (with pairwise
  missing data, as psych: the correlation with each respondent's mean answer); r.drop (corrected
  item–total: the item against the total of the others); std.r from R; alpha if item deleted.
* Kaiser–Meyer–Olkin (``psych::KMO``): ``Σ r² / (Σ r² + Σ q²)`` over off-diagonal correlations r
  and partial correlations q (from R⁻¹); per item the same over its row.
* Bartlett's test of sphericity (``psych::cortest.bartlett``): ``χ² = −(n − 1 − (2k + 5)/6) ·
  log det R`` with ``k(k − 1)/2`` degrees of freedom.

Missing data are handled explicitly: ``missing="listwise"`` (the default) keeps respondents who
answered every item, and ``n`` is the number of respondents actually used — also in the Feldt
interval (pingouin's ``cronbach_alpha`` uses the row count before deletion). ``missing="pairwise"``
uses each pair's complete cases for the covariances, as ``psych::alpha`` does by default; the
Feldt interval then uses all rows (psych's convention). Survey weights (listwise only) give
weighted covariances.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ._deprecation import renamed
from .errors import SatisfactionError


class ReliabilityError(SatisfactionError):
    """Items whose reliability cannot be estimated: too few respondents, a factor model that does
    not fit (Heywood case) or does not converge."""


MISSING = ("listwise", "pairwise")


def _prepare(items: pd.DataFrame, weights=None, missing: str = "listwise") -> tuple[pd.DataFrame, np.ndarray | None, int]:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    if not isinstance(items, pd.DataFrame):
        items = pd.DataFrame(items)
    items = items.astype(float)
    if items.shape[1] < 2:
        raise ValueError("a scale needs at least two items")
    w = None if weights is None else np.asarray(weights, dtype=float)
    if w is not None and len(w) != len(items):
        raise ValueError("weights must have one value per respondent")
    if missing == "pairwise":
        if w is not None:
            raise ValueError("weights need missing='listwise'")
        return items, None, len(items)
    keep = items.notna().all(axis=1).to_numpy()
    if w is not None:
        keep = keep & np.isfinite(w) & (w > 0)
    return items[keep], (None if w is None else w[keep]), int(keep.sum())


def _covariance(items: pd.DataFrame, weights: np.ndarray | None) -> np.ndarray:
    """Item covariances (pairwise complete cases when items has NaN; weighted when weights given).

    Weighted covariance: ``Σ w (x − x̄)(y − ȳ) / Σ w · n/(n − 1)`` (weights only scale the
    respondents' influence; alpha does not depend on their total)."""
    if weights is None:
        return items.cov().to_numpy()
    x = items.to_numpy()
    w = weights / weights.sum()
    centred = x - w @ x
    n = len(x)
    return (centred * w[:, None]).T @ centred * n / (n - 1)


def _pearson(items: pd.DataFrame, weights: np.ndarray | None) -> np.ndarray:
    """Correlations as R's ``cor(use="pairwise")``: each pair's complete cases for its covariance
    *and* its standard deviations (unlike ``cov2cor`` of pairwise covariances, psych::alpha's R)."""
    return items.corr().to_numpy() if weights is None else _corr(_covariance(items, weights))


def _corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _alpha(cov: np.ndarray) -> float:
    k = cov.shape[0]
    return k / (k - 1) * (1 - np.trace(cov) / cov.sum())


def _lambda6(corr: np.ndarray) -> float:
    smc = 1 - 1 / np.diag(np.linalg.inv(corr))
    return 1 - (1 - smc).sum() / corr.sum()


@renamed(ci="level")
def feldt_interval(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for Cronbach's alpha (psych::alpha.level)."""
    p = 1 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1 - (1 - alpha) * stats.f.ppf(1 - p / 2, df1, df2)
    high = 1 - (1 - alpha) * stats.f.ppf(p / 2, df1, df2)
    return float(low), float(high)


@renamed(ci="level")
def cronbach_alpha(items: pd.DataFrame, *, weights=None, level: float = 0.95, missing: str = "listwise") -> pd.Series:
    """Cronbach's alpha with Feldt's confidence interval.

    Returns a Series: ``alpha`` (raw), ``std_alpha``, ``ci_low``, ``ci_high`` (Feldt), ``n`` (rows
    used), ``k`` (items), ``average_r`` (mean inter-item correlation), ``lambda6``.
    """
    data, w, n = _prepare(items, weights, missing)
    if n < 2:
        raise ReliabilityError(f"alpha needs at least two respondents; {n} answered every item")
    cov = _covariance(data, w)
    corr = _corr(cov)
    k = cov.shape[0]
    alpha = _alpha(cov)
    average_r = (corr.sum() - k) / (k * (k - 1))
    low, high = feldt_interval(alpha, n, k, level)
    return pd.Series({
        "alpha": alpha, "std_alpha": _alpha(corr), "ci_low": low, "ci_high": high, "n": n, "k": k,
        "average_r": average_r, "lambda6": _lambda6(corr),
    }, name="cronbach_alpha")


def item_analysis(items: pd.DataFrame, *, weights=None, missing: str = "listwise") -> pd.DataFrame:
    """Per item: ``n`` (answers), ``mean``, ``sd``, ``r_total`` (raw item–total correlation),
    ``r_std`` (from correlations), ``r_drop`` (corrected item–total), ``alpha_if_deleted``,
    ``std_alpha_if_deleted`` and ``lambda6_if_deleted`` — psych::alpha's item.stats and
    alpha.drop."""
    data, w, _ = _prepare(items, weights, missing)
    cov = _covariance(data, w)
    corr = _corr(cov)
    total = cov.sum()
    row = cov.sum(axis=1)
    var = np.diag(cov)
    if missing == "pairwise" and data.isna().any().any():
        # psych correlates each item with the mean of the items each respondent answered
        mean_score = data.mean(axis=1)
        r_total = data.apply(lambda col: col.corr(mean_score)).to_numpy()
    else:
        r_total = row / np.sqrt(var * total)
    r_std = corr.sum(axis=1) / np.sqrt(corr.sum())
    rest_cov = row - var
    r_drop = rest_cov / np.sqrt(var * (total - 2 * row + var))
    k = cov.shape[0]
    keep = [np.delete(np.arange(k), j) for j in range(k)]
    if w is None:
        n = data.notna().sum().to_numpy()
        mean = data.mean().to_numpy()
        sd = data.std().to_numpy()
    else:
        n = np.full(k, len(data))
        mean = np.average(data.to_numpy(), axis=0, weights=w)
        sd = np.sqrt(var)
    return pd.DataFrame({
        "n": n, "mean": mean, "sd": sd, "r_total": r_total, "r_std": r_std, "r_drop": r_drop,
        "alpha_if_deleted": [_alpha(cov[np.ix_(i, i)]) for i in keep],
        "std_alpha_if_deleted": [_alpha(corr[np.ix_(i, i)]) for i in keep],
        "lambda6_if_deleted": [_lambda6(corr[np.ix_(i, i)]) for i in keep],
    }, index=pd.Index(data.columns, name="item"))


def guttman_lambda6(items: pd.DataFrame, *, weights=None, missing: str = "listwise") -> float:
    """Guttman's lambda-6 from squared multiple correlations (psych's ``G6(smc)``)."""
    data, w, _ = _prepare(items, weights, missing)
    return float(_lambda6(_corr(_covariance(data, w))))


def kmo(items: pd.DataFrame, *, weights=None, missing: str = "pairwise") -> tuple[float, pd.Series]:
    """Kaiser–Meyer–Olkin measure of sampling adequacy: overall and per item (psych::KMO)."""
    data, w, _ = _prepare(items, weights, missing)
    r = _pearson(data, w)
    inv = np.linalg.inv(r)
    q = -inv / np.sqrt(np.outer(np.diag(inv), np.diag(inv)))
    off = ~np.eye(len(r), dtype=bool)
    r2, q2 = np.where(off, r ** 2, 0), np.where(off, q ** 2, 0)
    overall = r2.sum() / (r2.sum() + q2.sum())
    per_item = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    return float(overall), pd.Series(per_item, index=data.columns, name="kmo")


def bartlett_sphericity(items: pd.DataFrame, *, weights=None, missing: str = "pairwise", n: int | None = None) -> pd.Series:
    """Bartlett's test that the correlation matrix is the identity (psych::cortest.bartlett).

    ``n`` defaults to the number of respondents (all rows for pairwise, rows used for listwise)."""
    data, w, used = _prepare(items, weights, missing)
    r = _pearson(data, w)
    k = r.shape[0]
    n = used if n is None else n
    sign, logdet = np.linalg.slogdet(r)
    chi2 = -logdet * (n - 1 - (2 * k + 5) / 6)
    df = k * (k - 1) / 2
    return pd.Series({"chi2": chi2, "df": df, "p_value": float(stats.chi2.sf(chi2, df)), "n": n}, name="bartlett")


# ---- data quality ------------------------------------------------------------------------------------

#: Thresholds of the reliability table (the usual rules of thumb).
THRESHOLDS = {"alpha": 0.70, "r_drop": 0.30, "kmo": 0.60, "ave": 0.50, "htmt": 0.85}


def straightlining(items: pd.DataFrame, *, min_items: int = 5) -> pd.Series:
    """Respondents who gave the same answer to every item they answered (at least ``min_items``)."""
    answered = items.notna().sum(axis=1)
    same = items.nunique(axis=1) == 1
    return (same & (answered >= min_items)).rename("straightlining")


def speeding(durations: pd.Series, *, fraction: float = 0.4, threshold: float | None = None) -> pd.Series:
    """Interviews shorter than ``threshold`` seconds, or (by default) than ``fraction`` of the median
    duration. Missing durations are not flagged."""
    limit = threshold if threshold is not None else fraction * durations.median()
    return (durations < limit).fillna(False).astype(bool).rename("speeding")


def quality_flags(data: pd.DataFrame, items: list[str], *, by: str = "city", dont_know: pd.DataFrame | None = None,
                  duration: str = "duration_sec", min_items: int = 5, fraction: float = 0.4) -> pd.DataFrame:
    """Data-quality indicators per group: straight-liners, speeders (where a duration column
    exists), item non-response and don't-know rates, and the item with the most non-response."""
    frame = pd.DataFrame({
        by: data[by].to_numpy(),
        "straightlining": straightlining(data[items], min_items=min_items).to_numpy(),
        "missing": data[items].isna().mean(axis=1).to_numpy(),
    })
    if duration in data.columns:
        frame["speeding"] = speeding(data[duration], fraction=fraction).to_numpy()
    if dont_know is not None:
        frame["dont_know"] = dont_know[items].mean(axis=1).to_numpy()
    g = frame.groupby(by)
    out = pd.DataFrame({"n": g.size(), "straightlining_rate": g["straightlining"].mean()})
    if "speeding" in frame:
        out["speeding_rate"] = g["speeding"].mean()
    out["item_nonresponse_rate"] = g["missing"].mean()
    if "dont_know" in frame:
        out["dont_know_rate"] = g["dont_know"].mean()
    worst = data[items].isna().groupby(data[by].to_numpy()).mean()
    out["worst_item"] = worst.idxmax(axis=1)
    out["worst_item_nonresponse"] = worst.max(axis=1)
    return out.reset_index().rename(columns={"index": by})


@renamed(ci="level")
def reliability_table(data: pd.DataFrame, codebook, *, weights=None, lang: str = "zh", by: str | None = None,
                      replicate_weights: np.ndarray | None = None, bootstrap: int = 0, seed: int | None = None,
                      level: float = 0.95) -> pd.DataFrame:
    """Per first-level indicator: items, n, alpha with its Feldt interval and (optionally) a bootstrap
    interval, standardised alpha, lambda-6, omega total (one factor) and omega hierarchical (when the
    indicator has three or more second-level indicators and six or more items), the weakest item by
    corrected item–total correlation, KMO, AVE (first-component loadings), the largest HTMT with
    another indicator, the flags and a sentence for non-statisticians.

    Thresholds (:data:`THRESHOLDS`): alpha < 0.70, r.drop < 0.30, KMO < 0.60, AVE < 0.50 and
    HTMT > 0.85 are flagged. The bootstrap interval uses ``replicate_weights`` (n × B, e.g. a
    design's re-raked replicates, so it carries the weighting) or ``bootstrap`` resamples of the
    respondents. With ``by`` (e.g. ``"city"``), one block of rows per group."""
    if by is not None:
        w = None if weights is None else pd.Series(np.asarray(weights, float), index=data.index)
        reps = None if replicate_weights is None else np.asarray(replicate_weights, dtype=float)
        parts = []
        for key, block in data.groupby(by, sort=True):
            rows = data.index.get_indexer(block.index)
            part = reliability_table(block, codebook, weights=None if w is None else w.loc[block.index], lang=lang,
                                     replicate_weights=None if reps is None else reps[rows], bootstrap=bootstrap,
                                     seed=seed, level=level)
            part.insert(0, by, key)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)
    blocks = {dim.code: [c for ind in dim.children for c in ind.weights] for dim in codebook.dimensions}
    validity = composite_reliability(data, blocks)
    ht = htmt(data, blocks) if len(blocks) > 1 else None
    rows = []
    for dim in codebook.dimensions:
        cols = blocks[dim.code]
        a = cronbach_alpha(data[cols], weights=weights, level=level)
        table = item_analysis(data[cols], weights=weights)
        weakest = table["r_drop"].idxmin()
        overall_kmo, _ = kmo(data[cols], missing="listwise")
        boot_low = boot_high = np.nan
        if replicate_weights is not None or bootstrap:
            b = bootstrap_alpha(data[cols], replicates=bootstrap or 1000, seed=seed, weights=weights,
                                replicate_weights=replicate_weights, level=level)
            boot_low, boot_high = b["ci_low"], b["ci_high"]
        om_total = _or_nan(lambda: omega(data[cols])["omega_total"])
        om_h = np.nan
        if len(dim.children) >= 3 and len(cols) >= 6:
            h = _or_nan(lambda: omega_hierarchical(data[cols], nfactors=3))
            om_h = np.nan if not isinstance(h, pd.Series) or h["heywood"] else h["omega_h"]
        others = ht.loc[dim.code].drop(dim.code) if ht is not None else pd.Series(dtype=float)
        closest = others.idxmax() if len(others) else None
        max_htmt = others.max() if len(others) else np.nan
        ave = validity.loc[dim.code, "ave"]
        label = dim.label(lang)
        weak_label = codebook.items[weakest].label(lang)
        flags = {"alpha": a["alpha"] < THRESHOLDS["alpha"], "r_drop": table.loc[weakest, "r_drop"] < THRESHOLDS["r_drop"],
                 "kmo": overall_kmo < THRESHOLDS["kmo"], "ave": ave < THRESHOLDS["ave"],
                 "htmt": max_htmt > THRESHOLDS["htmt"]}
        closest_label = None if closest is None else next(d.label(lang) for d in codebook.dimensions if d.code == closest)
        rows.append({
            "dimension": label, "k": int(a["k"]), "n": int(a["n"]), "alpha": a["alpha"], "ci_low": a["ci_low"],
            "ci_high": a["ci_high"], "boot_low": boot_low, "boot_high": boot_high, "std_alpha": a["std_alpha"],
            "lambda6": a["lambda6"], "omega_total": om_total, "omega_h": om_h,
            "weakest_item": weak_label, "weakest_r_drop": table.loc[weakest, "r_drop"], "kmo": overall_kmo,
            "ave": ave, "max_htmt": max_htmt, "htmt_with": closest_label,
            "flags": ", ".join(f for f, bad in flags.items() if bad),
            "verdict": _verdict(label, a, weak_label, table.loc[weakest, "r_drop"], lang, max_htmt, closest_label, ave),
        })
    return pd.DataFrame(rows)


def _or_nan(compute):
    """A factor model that does not fit (Heywood case, no convergence) gives NaN in the table."""
    try:
        return compute()
    except (ValueError, np.linalg.LinAlgError):
        return np.nan


def _verdict(label: str, a: pd.Series, weakest: str, r_drop: float, lang: str, max_htmt: float = np.nan,
             closest: str | None = None, ave: float = np.nan) -> str:
    good = a["alpha"] >= THRESHOLDS["alpha"]
    overlap = bool(max_htmt > THRESHOLDS["htmt"])
    if lang == "en":
        text = (f"The {int(a['k'])} items of {label} measure one thing consistently (alpha = {a['alpha']:.2f}); "
                "their scores can be combined." if good else
                f"The items of {label} agree only weakly (alpha = {a['alpha']:.2f} < 0.70); read this score with care.")
        if r_drop < THRESHOLDS["r_drop"]:
            text += f" '{weakest}' goes its own way (r.drop = {r_drop:.2f}); review its wording."
        if ave < THRESHOLDS["ave"]:
            text += (f" Each item also carries much of its own (AVE = {ave:.2f} < 0.50): report the combined score "
                     "rather than single items.")
        if overlap:
            text += (f" It is hard to tell apart from {closest} (HTMT = {max_htmt:.2f} > 0.85): respondents may not "
                     "distinguish the two.")
        return text
    text = (f"{label}的 {int(a['k'])} 个题目测量一致（α = {a['alpha']:.2f}），可以合并为一个得分。" if good else
            f"{label}各题目之间一致性偏低（α = {a['alpha']:.2f}，低于 0.70），该得分需谨慎解读。")
    if r_drop < THRESHOLDS["r_drop"]:
        text += f"题目“{weakest}”与其他题目关联较弱（校正题总相关 {r_drop:.2f}），建议复核题目表述。"
    if ave < THRESHOLDS["ave"]:
        text += f"单个题目各自包含较多独有信息（平均提取方差 {ave:.2f}，低于 0.50），宜发布合并得分而非单题结果。"
    if overlap:
        text += f"它与{closest}区分度不足（区分效度比 {max_htmt:.2f}，高于 0.85），受访者可能并未区分二者。"
    return text


def split_half(items: pd.DataFrame, *, missing: str = "pairwise", max_splits: int = 10_000,
               seed: int | None = 0) -> pd.Series:
    """Split-half reliabilities over the splits of the items into two halves (psych::splitHalf).

    For a split (A, B) of the correlation matrix R, the Guttman / Flanagan–Rulon coefficient is
    ``4 · 1ᵀR_AB1 / 1ᵀR1``. Every distinct split with half size ⌊k/2⌋ is evaluated when there are
    at most ``max_splits`` of them (else a random sample of that many); returns the largest
    (``max``, Revelle's beta is the smallest, ``min``), the mean, the number of splits, Guttman's
    lambda-2 and lambda-6, and standardised alpha.

    For an odd number of items psych evaluates only the first half of the lexicographic list of
    splits (and divides their sum by half the count); here every split counts.
    """
    data, w, _ = _prepare(items, None, missing)
    r = _corr(_covariance(data, w))
    k = r.shape[0]
    m = k // 2
    from itertools import combinations, islice
    from math import comb

    total = comb(k, m) // (2 if 2 * m == k else 1)
    if total <= max_splits:
        # with k even, the splits holding item 1 are exactly one of each complementary pair
        combos = islice(combinations(range(k), m), total)
    else:
        rng = np.random.default_rng(seed)
        combos = (tuple(np.sort(rng.choice(k, m, replace=False))) for _ in range(max_splits))
    halves = np.zeros((min(total, max_splits), k))
    for i, c in enumerate(combos):
        halves[i, list(c)] = 1.0
    ar = halves @ r
    between = ar.sum(axis=1) - (ar * halves).sum(axis=1)  # 1ᵀR_AB1 = aᵀR1 − aᵀRa
    rab = 4 * between / r.sum()
    off = r - np.diag(np.diag(r))
    lambda2 = (off.sum() + np.sqrt((off ** 2).sum() * k / (k - 1))) / r.sum()
    return pd.Series({"max": rab.max(), "min": rab.min(), "mean": rab.mean(), "splits": len(rab),
                      "lambda2": lambda2, "lambda6": _lambda6(r), "std_alpha": _alpha(r)}, name="split_half")


# ---- bootstrap -----------------------------------------------------------------------------------------


def alpha_replicates(items: pd.DataFrame, replicate_weights: np.ndarray) -> np.ndarray:
    """Cronbach's alpha under each column of an n × B weight matrix, all at once.

    Alpha needs only the item variances and the variance of the total score,
    ``α = k/(k−1) · (1 − Σ_j var x_j / var T)``, and weighted variances need only weighted first
    and second moments — five matrix products over all replicates. Rows with a missing item are
    left out (listwise)."""
    x = items.to_numpy(dtype=float)
    keep = ~np.isnan(x).any(axis=1)
    x, w = x[keep], np.asarray(replicate_weights, dtype=float)[keep]
    k = x.shape[1]
    total = x.sum(axis=1)
    sw = w.sum(axis=0)
    m1 = x.T @ w / sw
    m2 = (x ** 2).T @ w / sw
    t1 = total @ w / sw
    t2 = (total ** 2) @ w / sw
    item_var = (m2 - m1 ** 2).sum(axis=0)
    return k / (k - 1) * (1 - item_var / (t2 - t1 ** 2))


@renamed(ci="level")
def bootstrap_alpha(items: pd.DataFrame, *, replicates: int = 1000, seed: int | None = None, weights=None,
                    replicate_weights=None, level: float = 0.95) -> pd.Series:
    """Bootstrap confidence interval for Cronbach's alpha (percentile method) and its replicate SE.

    Either resamples respondents (``replicates`` draws with replacement, multiplied by ``weights``
    when given), or reuses a design's replicate weights, so that the interval carries the survey's
    weighting: ``replicate_weights`` is an n × B matrix of bootstrap replicates, or a
    :class:`~satisfaction.design.SurveyDesign` with replicates — then its own variance conventions
    give the SE, and a jackknife or BRR design (whose replicates are not a sampling distribution)
    gets the Wald interval ``α ± q·SE`` instead of percentiles. All replicates are computed at once
    (:func:`alpha_replicates`); SEs from :func:`satisfaction.survey.variance.replicate_variance`."""
    from .survey.design import SurveyDesign
    from .survey.variance import confint, replicate_variance

    data, w, n = _prepare(items, weights, "listwise")
    keep = items.notna().all(axis=1).to_numpy()
    kind = "bootstrap"
    if replicate_weights is None:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=n * replicates).reshape(replicates, n).T
        reps = counts * (1.0 if w is None else w[:, None])
        conventions = (1.0 / (replicates - 1), np.ones(replicates), False)
    elif isinstance(replicate_weights, SurveyDesign):
        rep = replicate_weights.require_replicates().materialize(replicate_weights.n)
        reps, kind = rep.weights[keep], rep.kind
        conventions = (rep.scale, rep.rscales, rep.mse)
    else:
        reps = np.asarray(replicate_weights, dtype=float)[keep]
        conventions = (1.0 / (reps.shape[1] - 1), np.ones(reps.shape[1]), False)
    alphas = alpha_replicates(data, reps)
    point = _alpha(_covariance(data, w))
    scale, rscales, mse = conventions
    se = float(np.sqrt(replicate_variance(alphas, point, scale=scale, rscales=rscales, mse=mse)))
    if kind == "bootstrap":
        low, high = np.nanquantile(alphas, [(1 - level) / 2, 1 - (1 - level) / 2])
    else:
        low, high = confint(point, se, level)
    return pd.Series({"alpha": point, "ci_low": float(low), "ci_high": float(high), "se": se,
                      "replicates": int(np.isfinite(alphas).sum()), "n": n}, name="bootstrap_alpha")


def replicate_alpha(design, blocks: dict[str, list[str]], *, by: str | list | None = "city",
                    level: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha of every block of items (e.g. each first-level indicator) in every domain of
    ``by`` (e.g. each city), weighted by the design, with the SE and interval from the design's
    replicates — all blocks and domains from one pass over the replicates.

    For each block, respondents who answered all its items (and have a positive weight) are kept
    (listwise, as :func:`cronbach_alpha`). Under weights ``w`` alpha is
    ``k/(k−1) · (1 − Σ_j var_w x_j / var_w T)`` with ``T`` the total of the block's items and the
    weighted variances from first and second moments (:func:`alpha_replicates`). The moments of
    every block under the design's weights and under every replicate's are one matrix product per
    domain: ``Mᵀ [w W]`` with ``M`` the respondents' columns ``[1, x_j, x_j², T, T²]`` of every
    block (zero where the block is incomplete). SEs combine the replicates by the design's
    conventions (:func:`satisfaction.survey.variance.replicate_variance`, R's ``svrVar``); the
    interval is the bootstrap percentile interval for bootstrap replicates and ``α ± q·SE`` for
    jackknife or BRR, as :func:`bootstrap_alpha`, whose numbers (with the design's weights) this
    gives domain by domain; R: ``withReplicates`` with the alpha formula, ``psych::alpha`` for the
    point.

    Returns a tidy frame: ``[by], block, alpha, se, ci_low, ci_high, replicates, n``.
    """
    from .survey.store import blas_threads
    from .survey.variance import confint, replicate_variance

    rep = design.require_replicates()
    for name, items in blocks.items():
        if len(items) < 2:
            raise ValueError(f"block {name!r}: a scale needs at least two items")
    codes, keys = design.domains(by)
    D, B = len(keys), rep.n_replicates
    w = design.weights
    answers = {name: design.data[items].to_numpy(dtype=float) for name, items in blocks.items()}
    kept = {name: ~np.isnan(x).any(axis=1) & (w > 0) for name, x in answers.items()}
    layout, start = {}, 0
    for name, items in blocks.items():
        layout[name] = (start, len(items))
        start += 2 * len(items) + 3

    def moments(rows) -> np.ndarray:
        """The rows' columns [1, x_j, x_j², T, T²] of every block, zero where incomplete."""
        columns = []
        for name in blocks:
            keep = kept[name][rows]
            x = np.where(keep[:, None], answers[name][rows], 0.0)
            total = x.sum(axis=1)
            columns += [keep[:, None], x, x * x, total[:, None], (total * total)[:, None]]
        return np.hstack(columns, dtype=float)

    def sums_of(rows, weights):
        m, dom = moments(rows), codes[rows]
        out = []
        for d in np.unique(dom[dom >= 0]):
            sel = dom == d
            ms, ws, w0 = (m, weights, w[rows]) if sel.all() else (m[sel], weights[sel], w[rows][sel])
            out.append((d, ms.T @ ws, ms.T @ w0))
        return out

    sums = np.zeros((D, start, B))
    point_sums = np.zeros((D, start))
    with blas_threads():
        for part in rep.map_blocks(sums_of):
            for d, s, s0 in part:
                sums[d] += s
                point_sums[d] += s0

    def alpha_from(s: np.ndarray, name: str) -> np.ndarray:
        first, k = layout[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            sw = s[:, first]
            m1 = s[:, first + 1:first + 1 + k] / sw[:, None]
            m2 = s[:, first + 1 + k:first + 1 + 2 * k] / sw[:, None]
            t1 = s[:, first + 1 + 2 * k] / sw
            t2 = s[:, first + 2 + 2 * k] / sw
            return k / (k - 1) * (1 - (m2 - m1 ** 2).sum(axis=1) / (t2 - t1 ** 2))

    records = []
    counts = {name: np.bincount(codes[kept[name] & (codes >= 0)], minlength=D) for name in blocks}
    for name in blocks:
        points = alpha_from(point_sums, name)
        replicate_alphas = alpha_from(np.moveaxis(sums, 2, 1).reshape(D * B, start), name).reshape(D, B)
        for d in range(D):
            n = int(counts[name][d])
            point = points[d] if n > 1 else np.nan
            values = replicate_alphas[d]
            ok = np.isfinite(values)
            se = float(np.sqrt(replicate_variance(values, point, scale=rep.scale, rscales=rep.rscales, mse=rep.mse,
                                                  warn=False))) if ok.any() else np.nan
            if rep.kind == "bootstrap" and ok.any():
                low, high = np.quantile(values[ok], [(1 - level) / 2, 1 - (1 - level) / 2])
            else:
                low, high = confint(point, se, level)
            records.append((d, name, {**keys.iloc[d].to_dict(), "block": name, "alpha": float(point), "se": se,
                                      "ci_low": float(low), "ci_high": float(high), "replicates": int(ok.sum()),
                                      "n": n}))
    order = {name: i for i, name in enumerate(blocks)}
    records.sort(key=lambda r: (r[0], order[r[1]]))
    return pd.DataFrame([r[2] for r in records])


# ---- construct validity ----------------------------------------------------------------------------


def _block_data(data: pd.DataFrame, blocks: dict[str, list[str]], missing: str) -> pd.DataFrame:
    cols = [c for items in blocks.values() for c in items]
    frame, _, _ = _prepare(data[cols], None, missing)
    return frame


def htmt(data: pd.DataFrame, blocks: dict[str, list[str]], *, variant: str = "htmt", absolute: bool = True,
         missing: str = "listwise") -> pd.DataFrame:
    """Heterotrait–monotrait ratio between constructs (Henseler, Ringle & Sarstedt 2015).

    ``HTMT_ij = mean r(items of i, items of j) / √(mean r within i · mean r within j)`` over
    off-diagonal item correlations; ``variant="htmt2"`` uses geometric means (Roemer, Schuberth &
    Henseler 2021). As ``semTools::htmt``. Values above 0.85 (or 0.90) suggest the two constructs
    are not distinct. A single-item construct's monotrait correlation counts as 1 (seminr)."""
    if variant not in ("htmt", "htmt2"):
        raise ValueError("variant must be 'htmt' or 'htmt2'")
    frame = _block_data(data, blocks, missing)
    r = frame.corr()
    if absolute:
        r = r.abs()
    average = (lambda v: np.exp(np.mean(np.log(v)))) if variant == "htmt2" else np.mean
    names = list(blocks)
    mono = {}
    for name, items in blocks.items():
        sub = r.loc[items, items].to_numpy()
        mono[name] = average(sub[~np.eye(len(items), dtype=bool)]) if len(items) > 1 else 1.0
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a in range(len(names)):
        for b in range(a):
            hetero = average(r.loc[blocks[names[a]], blocks[names[b]]].to_numpy().ravel())
            out.iloc[a, b] = out.iloc[b, a] = hetero / np.sqrt(mono[names[a]] * mono[names[b]])
    return out


def composite_reliability(data: pd.DataFrame, blocks: dict[str, list[str]], *, missing: str = "listwise",
                          paths=None, **pls_options) -> pd.DataFrame:
    """Composite reliability (Dillon–Goldstein rho, rhoC) and average variance extracted per
    construct: ``rho = (Σλ)² / ((Σλ)² + Σ(1 − λ²))``, ``AVE = mean λ²``. Two conventions for the
    loadings λ, both supported:

    * ``paths=None`` (R plspm's ``unidim``): loadings on each block's first principal component,
      with the block's first two eigenvalues (unidimensional: the first above 1, the second below);
    * ``paths`` given (seminr / cSEM): loadings of the PLS path model with that structural model
      (:func:`satisfaction.pls.pls_path`, options passed on), plus Dijkstra–Henseler rhoA.
    """
    if paths is not None:
        from .pls import pls_path

        fit = pls_path(data, blocks, paths, missing="listwise" if missing == "listwise" else "mean", **pls_options)
        out = fit.reliability.rename(columns={"rhoC": "rho_c", "rhoA": "rho_a", "AVE": "ave"})
        out.insert(0, "k", [len(blocks[lv]) for lv in out.index])
        out["min_loading"] = [fit.loadings[list(blocks[lv])].min() for lv in out.index]
        return out.rename_axis("construct")
    frame = _block_data(data, blocks, missing)
    rows = []
    for name, items in blocks.items():
        values, vectors = np.linalg.eigh(frame[items].corr().to_numpy())
        loadings = np.abs(vectors[:, -1]) * np.sqrt(values[-1])
        s = loadings.sum() ** 2
        rows.append({"construct": name, "k": len(items), "rho_dg": s / (s + (1 - loadings ** 2).sum()),
                     "ave": float(np.mean(loadings ** 2)), "min_loading": float(loadings.min()),
                     "eig_1st": values[-1], "eig_2nd": values[-2] if len(items) > 1 else np.nan})
    return pd.DataFrame(rows).set_index("construct")


def fornell_larcker(data: pd.DataFrame, blocks: dict[str, list[str]], *, missing: str = "listwise") -> pd.DataFrame:
    """Fornell–Larcker matrix: √AVE on the diagonal, correlations between the constructs' first
    principal component scores below it; discriminant validity holds where each diagonal value
    exceeds the correlations in its row and column."""
    frame = _block_data(data, blocks, missing)
    scores = {}
    for name, items in blocks.items():
        z = (frame[items] - frame[items].mean()) / frame[items].std()
        vectors = np.linalg.eigh(z.corr().to_numpy())[1][:, -1]
        vectors = vectors * np.sign(vectors.sum())
        scores[name] = z.to_numpy() @ vectors
    corr = pd.DataFrame(scores).corr()
    ave = composite_reliability(data, blocks, missing=missing)["ave"]
    for name in blocks:
        corr.loc[name, name] = np.sqrt(ave[name])
    return corr


def one_factor_loadings(items: pd.DataFrame, *, missing: str = "pairwise", tol: float = 1e-12,
                        max_iter: int = 10_000) -> pd.Series:
    """Loadings of a one-factor model fitted by minimum residuals (unweighted least squares), as
    ``psych::fa(fm="minres")``: principal-axis iterations — communalities start at the squared
    multiple correlations and are replaced by the squared loadings until they settle, which is the
    least-squares fixed point."""
    data, w, _ = _prepare(items, None, missing)
    r = _pearson(data, w)
    h = 1 - 1 / np.diag(np.linalg.inv(r))
    for _ in range(max_iter):
        reduced = r.copy()
        np.fill_diagonal(reduced, h)
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
        new = loadings ** 2
        if np.max(np.abs(new - h)) < tol:
            break
        h = new
    else:
        raise ReliabilityError(f"the one-factor model did not converge in {max_iter} iterations")
    if (new >= 1).any():
        raise ReliabilityError("Heywood case: a communality reached 1; the one-factor model does not fit these items")
    return pd.Series(loadings * np.sign(loadings.sum()), index=data.columns, name="loading")


def omega(items: pd.DataFrame, *, missing: str = "pairwise", flip: bool = True) -> pd.Series:
    """McDonald's omega total from a one-factor model (``psych::omega(nfactors=1)$omega.tot``):
    ``ω_t = 1 − Σψ_j / 1ᵀR1`` with ψ = 1 − λ² the uniquenesses of the minres loadings λ and R the
    item correlations.

    As psych (``flip=TRUE``, its default), items that load negatively on the factor are reversed
    first — R becomes ``D R D`` with ``D = diag(sign λ)`` — and named in ``reversed``; a reverse-keyed
    item left as it is would lower omega (bfi's agreeableness: 0.72 keyed, 0.59 not). With
    ``flip=False`` the items are taken as they come. Returns ``omega_total``, ``k``, ``n`` (rows
    with any answer for pairwise, complete rows for listwise), the mean (absolute) loading and
    ``reversed`` (a tuple of item names)."""
    data, w, n = _prepare(items, None, missing)
    loadings = one_factor_loadings(items, missing=missing)
    r = _pearson(data, w)
    sign = np.where(loadings.to_numpy() < 0, -1.0, 1.0) if flip else np.ones(len(loadings))
    total = 1 - (1 - loadings.to_numpy() ** 2).sum() / (r * np.outer(sign, sign)).sum()
    reversed_items = tuple(loadings.index[sign < 0])
    return pd.Series({"omega_total": total, "k": len(loadings), "n": n,
                      "mean_loading": float(np.mean(np.abs(loadings)) if flip else loadings.mean()),
                      "reversed": reversed_items}, name="omega")


# ---- hierarchical omega (Schmid–Leiman) -------------------------------------------------------------


def _minres(r: np.ndarray, nfactors: int, tol: float = 1e-12, max_iter: int = 5_000) -> np.ndarray:
    """Unrotated loadings of an ``nfactors`` minimum-residual (unweighted least squares) factor
    model of the correlation matrix r: principal-axis iterations from the squared multiple
    correlations to their fixed point (``psych::fa(fm="minres")``). Raises ValueError when a
    communality reaches 1 (Heywood case) or the iterations do not settle."""
    h = 1 - 1 / np.diag(np.linalg.inv(r))
    for _ in range(max_iter):
        reduced = r.copy()
        np.fill_diagonal(reduced, h)
        values, vectors = np.linalg.eigh(reduced)
        values, vectors = values[::-1][:nfactors], vectors[:, ::-1][:, :nfactors]
        loadings = vectors * np.sqrt(np.clip(values, 0, None))
        new = (loadings ** 2).sum(axis=1)
        if np.max(np.abs(new - h)) < tol:
            break
        if (new >= 1).any():
            raise ReliabilityError(f"Heywood case: a communality of the {nfactors}-factor model reached 1")
        h = new
    else:
        raise ReliabilityError(f"the {nfactors}-factor model did not converge in {max_iter} iterations")
    return loadings * np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)


def _varimax(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Kaiser-normalised varimax rotation, as R's ``stats::varimax``."""
    sc = np.sqrt((x ** 2).sum(axis=1))
    x = x / sc[:, None]
    p, k = x.shape
    rot, d = np.eye(k), 0.0
    for _ in range(1000):
        z = x @ rot
        b = x.T @ (z ** 3 - z * (z ** 2).sum(axis=0) / p)
        u, s, vt = np.linalg.svd(b)
        rot = u @ vt
        d_past, d = d, s.sum()
        if d < d_past * (1 + eps):
            break
    return (x @ rot) * sc[:, None]


def _oblimin(a: np.ndarray, eps: float = 1e-5, max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Direct quartimin (oblimin, γ = 0) by gradient projection (Bernaards & Jennrich 2005;
    ``GPArotation::GPFoblq``). Returns the pattern loadings and the factor correlations Φ."""
    k = a.shape[1]
    off = 1.0 - np.eye(k)

    def criterion(lam):
        x = (lam ** 2) @ off
        return lam * x, (lam ** 2 * x).sum() / 4

    t = np.eye(k)
    lam = a @ np.linalg.inv(t).T
    gq, f = criterion(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    alpha = 1.0
    for _ in range(max_iter + 1):
        gp = g - t * (t * g).sum(axis=0)
        s = np.sqrt((gp ** 2).sum())
        if s < eps:
            break
        alpha *= 2
        for _ in range(11):
            x = t - alpha * gp
            t_new = x / np.sqrt((x ** 2).sum(axis=0))
            lam = a @ np.linalg.inv(t_new).T
            gq_new, f_new = criterion(lam)
            if f - f_new > 0.5 * s ** 2 * alpha:
                break
            alpha /= 2
        t, f = t_new, f_new
        g = -(lam.T @ gq_new @ np.linalg.inv(t)).T
    return lam, t.T @ t


def _heywood_gamma(phi: np.ndarray) -> np.ndarray:
    """General-factor loadings of a group-factor correlation matrix whose one-factor model is a
    Heywood case: the first principal axis with the communalities of the last admissible step
    (kept only so that the caller can report ω_h as not identified)."""
    values, vectors = np.linalg.eigh(phi)
    loadings = vectors[:, -1] * np.sqrt(values[-1])
    return np.where(loadings.sum() < 0, -loadings, loadings) / np.abs(loadings).max()


def omega_hierarchical(items: pd.DataFrame, *, nfactors: int = 3, missing: str = "pairwise",
                       correlation: bool = False) -> pd.Series:
    """McDonald's omega hierarchical and omega total from a Schmid–Leiman solution, as
    ``psych::omega(nfactors=…, fm="minres", rotate="oblimin")``.

    An ``nfactors`` minres model (varimax, then oblimin) gives group-factor patterns F and factor
    correlations Φ; a one-factor minres model of Φ gives the general factor's loadings γ on the
    group factors, so each item's general loading is ``g = F γ``. With R the item correlations
    (items keyed so that g ≥ 0) and h² the communalities,

        ω_h = (Σ g)² / 1ᵀR1,        ω_t = 1 − Σ (1 − h²) / 1ᵀR1

    ω_h is the share of total-score variance due to one general factor: how far a dimension's
    sub-indicators measure one thing. ``ecv`` is the explained common variance of g. ``heywood``
    flags a general factor loading a group factor at 1 or more (group factors correlating near 1):
    ω_h is then not identified — psych and this function give different numbers — and the
    dimension is better treated as one factor (use :func:`omega`). Needs
    three group factors or more (psych's identification). ``correlation=True``: ``items`` is
    already a correlation matrix (``n`` is then unknown)."""
    if nfactors < 3:
        raise ValueError("omega hierarchical needs nfactors ≥ 3 (psych's 'equal' option for 2 is arbitrary)")
    if correlation:
        r, n = np.asarray(items, dtype=float), np.nan
    else:
        data, w, n = _prepare(items, None, missing)
        r = _pearson(data, w)
    if r.shape[1] < 2 * nfactors:
        raise ReliabilityError(f"{r.shape[1]} items are too few for {nfactors} group factors")
    orthogonal = _minres(r, nfactors)
    pattern, phi = _oblimin(_varimax(orthogonal))
    try:
        gamma = _minres(phi, 1)[:, 0]
    except ValueError:  # the general factor loads a group factor at 1 or more: not identified
        gamma = _heywood_gamma(phi)
    g = pattern @ gamma
    key = np.where(g < 0, -1.0, 1.0)
    keyed = r * np.outer(key, key)
    g = g * key
    h2 = (orthogonal ** 2).sum(axis=1)
    total = keyed.sum()
    # group-factor loadings after the general factor is taken out (psych: sign(F)·√(F² − (Fγ)²))
    group_sq = np.clip(pattern ** 2 - (pattern * gamma) ** 2, 0, None)
    return pd.Series({"omega_h": g.sum() ** 2 / total, "omega_total": 1 - (1 - h2).sum() / total,
                      "ecv": (g ** 2).sum() / ((g ** 2).sum() + group_sq.sum()), "nfactors": nfactors,
                      "k": r.shape[1], "n": n, "heywood": bool((gamma ** 2 >= 1 - 1e-6).any() or (h2 >= 1 - 1e-6).any())},
                     name="omega_hierarchical")
