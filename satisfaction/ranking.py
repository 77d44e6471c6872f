"""Ranking cities with honest uncertainty.

**Confidence sets for ranks** (Mogstad, Romano, Shaikh & Wilhelm 2024, *Rev. Econ. Stud.*; R
package csranks). With estimates θ̂ (higher = better, rank 1 = best) and their covariance Σ, every
ordered pair (j, k) gives a one-sided hypothesis ``H_jk: θ_j ≤ θ_k`` with statistic
``T_jk = (θ̂_j − θ̂_k) / σ_jk``, ``σ_jk² = Σ_jj + Σ_kk − 2Σ_jk``. Rejecting ``H_jk`` says j is
better than k. For unit j,

    lower bound = 1 + #{k : H_kj rejected},     upper bound = p − #{k : H_jk rejected}.

The critical value is the level-quantile of the maximum of the bootstrap statistics
``T*_jk = (Z_j − Z_k)/σ_jk``, ``Z ~ N(0, Σ)``, over the family of hypotheses tested: for a
*marginal* set, those involving j (row and column of j; only the column for a ``"lower"`` set,
only the row for ``"upper"``); for *simultaneous* sets (all units at once), all pairs. The
Romano–Wolf **stepdown** drops rejected hypotheses from the maximum and repeats until nothing new
is rejected — never wider than the single-step sets. Draws are processed in blocks of units, so
memory stays at a few hundred MB for 300 units.

**τ-best / τ-worst**: the units that may, with the stated confidence, be among the best (worst) τ:
those whose simultaneous ``"lower"`` (``"upper"``) bound is ≤ τ (≥ p − τ + 1).

**Pairwise comparisons**: all differences with simultaneous max-t intervals (the joint normal
distribution of the contrasts, as ``multcomp::glht`` with a design-based covariance) and Holm or
Benjamini–Hochberg adjusted p-values; a compact display of the tiers of cities that cannot be told
apart. **Change over time** between two independent surveys, rank correlations between years, and
each city against the provincial average.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ._deprecation import renamed
from .errors import SatisfactionError
from .survey.variance import critical_value

KINDS = ("two-sided", "upper", "lower")
BLOCK_ELEMENTS = 16_000_000  # draws × units × units per block (≈128 MB of doubles)


class RankingError(SatisfactionError):
    """Estimates and covariance that cannot be ranked as asked."""


def unit_column(estimates) -> str:
    """The name of the unit column in ranking output: the name of the estimates' index (``"city"``
    for a Series indexed by city, as :mod:`~satisfaction.estimate` and :mod:`~satisfaction.index`
    output is keyed), else ``"unit"`` — so that results chain without renaming."""
    name = getattr(getattr(estimates, "index", None), "name", None)
    return str(name) if name is not None else "unit"


def _inputs(estimates, cov, names=None):
    if isinstance(cov, pd.DataFrame):
        cov = cov.to_numpy()
    if isinstance(estimates, pd.Series):
        names = list(estimates.index) if names is None else names
    est = np.asarray(estimates, dtype=float)
    p = est.size
    if est.ndim != 1 or p < 2:
        raise RankingError("rank sets need a vector of at least two estimates")
    v = np.asarray(cov, dtype=float)
    if v.ndim == 1:
        v = np.diag(v)
    if v.shape != (p, p):
        raise RankingError(f"cov must be {p} × {p} (or a vector of {p} variances), got shape {v.shape}")
    if not np.isfinite(est).all() or not np.isfinite(v).all():
        raise RankingError("estimates and covariance must be finite")
    if not np.allclose(v, v.T, atol=1e-12 * max(1.0, np.abs(v).max())):
        raise RankingError("cov must be symmetric")
    pair_var = np.diag(v)[:, None] + np.diag(v)[None, :] - 2 * v
    np.fill_diagonal(pair_var, 1.0)
    if (pair_var <= 0).any():
        raise RankingError("two units have a difference with zero variance; their order cannot be assessed")
    return est, v, np.sqrt(pair_var), list(range(p)) if names is None else list(names)


def _normal_draws(cov: np.ndarray, n_draws: int, seed) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    if values.min() < -1e-9 * max(1.0, values.max()):
        raise RankingError("cov is not positive semi-definite")
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return np.random.default_rng(seed).standard_normal((n_draws, len(cov))) @ root.T


def _block(p: int, n_draws: int) -> int:
    return max(1, min(p, BLOCK_ELEMENTS // max(1, n_draws * p)))


def _pair_maxima(z: np.ndarray, se: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Per draw, the maximum of T*_jk = (Z_j − Z_k)/σ_jk over the active ordered pairs — over a
    list of the active pairs, in blocks (the active set shrinks with every stepdown step)."""
    j, k = np.nonzero(active)
    n_draws = z.shape[0]
    maxima = np.full(n_draws, -np.inf)
    step = max(1, BLOCK_ELEMENTS // 4 // n_draws)
    inv = 1.0 / se[j, k]
    for start in range(0, j.size, step):
        sl = slice(start, start + step)
        t = z[:, j[sl]]
        t -= z[:, k[sl]]
        t *= inv[sl]
        np.maximum(maxima, t.max(axis=1), out=maxima)
    return maxima


def point_ranks(estimates) -> np.ndarray:
    """1 + the number of units with a strictly higher estimate."""
    est = np.asarray(estimates, dtype=float)
    return 1 + (est[None, :] > est[:, None]).sum(axis=1)


def _rejections(est, se, z, level, kind, simultaneous, stepdown):
    """Boolean p × p matrix R with R[j, k] = "θ_j ≤ θ_k rejected" (j better than k)."""
    p, n_draws = est.size, z.shape[0]
    t_obs = (est[:, None] - est[None, :]) / se
    eye = np.eye(p, dtype=bool)
    # which one-sided hypotheses each unit's family holds: up[j, k] = H_jk, down[j, k] = H_kj
    use_up = kind in ("two-sided", "upper")
    use_down = kind in ("two-sided", "lower")
    active_up = ~eye & use_up
    active_down = ~eye & use_down
    active = ~eye  # simultaneous: one family, every ordered pair (every H_jk)
    rejected = np.zeros((p, p), dtype=bool)
    block = _block(p, n_draws)
    q = level
    while True:
        if simultaneous:
            crit = np.quantile(_pair_maxima(z, se, active), q)
            new = active & (t_obs > crit)
            if not new.any():
                break
            rejected |= new
            active &= ~new
        else:
            crit = np.empty(p)
            for start in range(0, p, block):
                rows = slice(start, start + block)
                t = (z[:, rows, None] - z[:, None, :]) / se[rows]  # T*_jk for j in the block
                up = np.where(active_up[rows], t, -np.inf).max(axis=2)
                down = np.where(active_down[rows], -t, -np.inf).max(axis=2)
                crit[rows] = np.quantile(np.maximum(up, down), q, axis=0)
            new_up = active_up & (t_obs > crit[:, None])
            new_down = active_down & (-t_obs > crit[:, None])
            if not (new_up.any() or new_down.any()):
                break
            rejected |= new_up | new_down.T
            active_up &= ~new_up
            active_down &= ~new_down
        if not stepdown:
            break
    return rejected


@renamed(coverage="level")
def rank_sets(estimates, cov, *, level: float = 0.95, simultaneous: bool = True, stepdown: bool = True,
              kind: str = "two-sided", n_draws: int = 1000, seed: int | None = None, names=None) -> pd.DataFrame:
    """Confidence sets for the ranks of units (rank 1 = highest estimate), as ``csranks::csranks``.

    Parameters
    ----------
    estimates : estimates (Series: its index names the units).
    cov : their covariance matrix, or a vector of variances when the units are independent.
    level : confidence level of the sets.
    simultaneous : sets valid for all units at once (True) or each on its own.
    stepdown : Romano–Wolf stepdown (sets no wider, same level).
    kind : ``"two-sided"``, ``"lower"`` (lower bound only: the set ends at the last rank) or
        ``"upper"`` (upper bound only: it starts at 1).
    n_draws, seed : the parametric bootstrap (N(0, cov) draws).

    Returns one row per unit: ``unit, estimate, rank, lower, upper`` (the unit column named after
    the estimates' index, e.g. ``city``; ``cov`` may be the :func:`satisfaction.estimate.vcov` of
    the table the estimates come from).
    """
    if kind not in KINDS:
        raise RankingError(f"kind must be one of {KINDS}, got {kind!r}")
    if not 0 < level < 1:
        raise RankingError(f"level must be between 0 and 1, got {level!r}")
    est, v, se, units = _inputs(estimates, cov, names)
    z = _normal_draws(v, n_draws, seed)
    rejected = _rejections(est, se, z, level, kind, simultaneous, stepdown)
    p = est.size
    lower = 1 + rejected.sum(axis=0)
    upper = p - rejected.sum(axis=1)
    if kind == "upper":
        lower = np.ones(p, dtype=int)
    if kind == "lower":
        upper = np.full(p, p)
    return pd.DataFrame({unit_column(estimates): units, "estimate": est, "rank": point_ranks(est), "lower": lower,
                         "upper": upper})


@renamed(coverage="level")
def tau_best(estimates, cov, tau: int, *, level: float = 0.95, stepdown: bool = True, n_draws: int = 1000,
             seed: int | None = None, names=None, worst: bool = False) -> pd.DataFrame:
    """The units that may be among the best τ (``worst=True``: the worst τ) with the given
    confidence (``csranks::cstaubest`` / ``cstauworst``): simultaneous one-sided rank bounds.
    Returns the :func:`rank_sets` table with a boolean column ``in_set``."""
    est = np.asarray(estimates, dtype=float)
    if not 1 <= tau <= est.size:
        raise RankingError(f"tau must be between 1 and {est.size}, got {tau}")
    out = rank_sets(estimates, cov, level=level, simultaneous=True, stepdown=stepdown,
                    kind="upper" if worst else "lower", n_draws=n_draws, seed=seed, names=names)
    out["in_set"] = out["upper"] >= est.size - tau + 1 if worst else out["lower"] <= tau
    return out


# ---- pairwise comparisons -----------------------------------------------------------------------------


@renamed(ci="level")
def max_t_critical(cov: np.ndarray, contrasts: np.ndarray, level: float = 0.95, *, seed: int = 1,
                   log2_points: int = 20) -> float:
    """The two-sided simultaneous critical value c with ``P(max_i |K_i z| / sd_i ≤ c) = level`` for
    z ~ N(0, cov) and contrasts K (multcomp's single-step adjustment with a known covariance,
    ``df = Inf``). The probability is integrated by randomised quasi-Monte Carlo in the units'
    space (2^20 scrambled Sobol points, processed in blocks), which handles the singular
    covariance of all pairwise contrasts; the error in c is about 2·10⁻⁴."""
    from scipy.stats import qmc

    p = cov.shape[0]
    sd = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, cov, contrasts))
    if contrasts.shape[0] == 1:
        return critical_value(level)
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    scaled = (contrasts / sd[:, None]) @ root  # contrasts of standard normal points
    points = qmc.Sobol(p, scramble=True, seed=seed).random_base2(log2_points)
    block = max(1024, 2 ** 24 // max(1, contrasts.shape[0]))
    maxima = np.concatenate([np.abs(stats.norm.ppf(points[s:s + block]) @ scaled.T).max(axis=1)
                             for s in range(0, len(points), block)])
    return float(np.quantile(maxima, level))


@renamed(ci="level")
def pairwise(estimates, cov, *, level: float = 0.95, names=None, seed: int = 1) -> pd.DataFrame:
    """Every pair of units: difference, SE, z, raw p, Holm and Benjamini–Hochberg adjusted p, and
    the simultaneous max-t interval (all pairs at once). Rows ordered as the units' pairs (j < k)."""
    from statsmodels.stats.multitest import multipletests

    est, v, se, units = _inputs(estimates, cov, names)
    p = est.size
    j, k = np.triu_indices(p, 1)
    contrasts = np.zeros((len(j), p))
    contrasts[np.arange(len(j)), j] = 1.0
    contrasts[np.arange(len(j)), k] = -1.0
    sd = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, v, contrasts))
    crit = max_t_critical(v, contrasts, level, seed=seed)
    diff = est[j] - est[k]
    z = diff / sd
    raw = 2 * stats.norm.sf(np.abs(z))
    out = pd.DataFrame({"unit_a": [units[i] for i in j], "unit_b": [units[i] for i in k], "difference": diff, "se": sd,
                        "z": z, "p": raw, "p_holm": multipletests(raw, method="holm")[1],
                        "p_bh": multipletests(raw, method="fdr_bh")[1],
                        "ci_low": diff - crit * sd, "ci_high": diff + crit * sd})
    out["significant"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    out.attrs["critical_value"] = crit
    return out


def tiers(estimates, pairs: pd.DataFrame, *, names=None) -> pd.Series:
    """Compact letter display for units ordered by estimate (Tukey's lines): each letter marks a
    maximal run of consecutive units (by estimate) none of which differ significantly (per the
    ``significant`` column of :func:`pairwise`); units sharing a letter cannot be told apart."""
    est = pd.Series(np.asarray(estimates, dtype=float), index=names if names is not None else
                    (estimates.index if isinstance(estimates, pd.Series) else range(len(estimates))))
    order = list(est.sort_values(ascending=False).index)
    sig = {(a, b) for a, b, s in zip(pairs["unit_a"], pairs["unit_b"], pairs["significant"]) if s}
    differ = lambda a, b: (a, b) in sig or (b, a) in sig  # noqa: E731
    runs, last_end = [], -1
    for i in range(len(order)):
        end = i
        while end + 1 < len(order) and not any(differ(order[m], order[end + 1]) for m in range(i, end + 1)):
            end += 1
        if end > last_end:
            runs.append((i, end))
            last_end = end
    letters = {u: "" for u in order}
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for n, (a, b) in enumerate(runs):
        for u in order[a:b + 1]:
            letters[u] += alphabet[n % len(alphabet)]
    return pd.Series(letters, name="tier").reindex(est.index)


# ---- change, correlation, average ---------------------------------------------------------------------


@renamed(ci="level")
def change(current: pd.DataFrame, previous: pd.DataFrame, *, level: float = 0.95, by: str | None = None) -> pd.DataFrame:
    """Each unit's change between two independent surveys: ``estimate − previous``, SE
    ``√(se² + se_prev²)``, CI, z and p. Frames: ``by, estimate, se``; ``by`` defaults to
    ``"unit"``, or else to the one non-numeric column the two frames share (``city``)."""
    if by is None:
        shared = [c for c in current.columns if c in previous.columns and c not in ("estimate", "se")
                  and not pd.api.types.is_numeric_dtype(current[c])]
        by = "unit" if "unit" in shared or len(shared) != 1 else shared[0]
    both = current[[by, "estimate", "se"]].merge(previous[[by, "estimate", "se"]], on=by, how="inner",
                                                  suffixes=("", "_previous")).set_index(by)
    d = both["estimate"] - both["estimate_previous"]
    se = np.sqrt(both["se"] ** 2 + both["se_previous"] ** 2)
    zc = critical_value(level)
    out = pd.DataFrame({"previous": both["estimate_previous"], "current": both["estimate"], "change": d, "se": se,
                        "ci_low": d - zc * se, "ci_high": d + zc * se, "z": d / se, "p": 2 * stats.norm.sf(np.abs(d / se))})
    out["significant"] = out["p"] < 1 - level
    return out.reset_index()


def rank_correlation(a, b) -> pd.Series:
    """Kendall's τ-b and Spearman's ρ between two rankings (or score vectors) of the same units."""
    a, b = pd.Series(a), pd.Series(b)
    common = a.index.intersection(b.index)
    tau, p_tau = stats.kendalltau(a[common], b[common])
    rho, p_rho = stats.spearmanr(a[common], b[common])
    return pd.Series({"kendall_tau": tau, "kendall_p": p_tau, "spearman_rho": rho, "spearman_p": p_rho,
                      "units": len(common)})


@renamed(ci="level", weights="sizes")
def versus_average(estimates, cov, *, sizes=None, level: float = 0.95, names=None) -> pd.DataFrame:
    """Each unit against the average of all units weighted by their ``sizes`` (population, retail
    sales; default equal), ``θ_j − Σ a_k θ_k`` with ``a = sizes / Σ sizes``, with its SE from the
    full covariance (the unit is part of the average), CI, p and Holm-adjusted p."""
    from statsmodels.stats.multitest import multipletests

    est, v, _, units = _inputs(estimates, cov, names)
    p = est.size
    a = np.full(p, 1 / p) if sizes is None else np.asarray(sizes, dtype=float) / np.sum(sizes)
    contrasts = np.eye(p) - a[None, :]
    diff = contrasts @ est
    se = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, v, contrasts))
    zc = critical_value(level)
    raw = 2 * stats.norm.sf(np.abs(diff / se))
    holm = multipletests(raw, method="holm")[1]
    out = pd.DataFrame({unit_column(estimates): units, "estimate": est, "average": a @ est, "difference": diff, "se": se,
                        "ci_low": diff - zc * se, "ci_high": diff + zc * se, "p": raw, "p_holm": holm})
    out["position"] = np.where(holm < 1 - level, np.where(diff > 0, "above", "below"), "not different")
    return out
