"""Uncertainty and sensitivity analysis of the index ranking (JRC/OECD Handbook §7; R's COINr).

The choices behind a composite index — which weight scheme, how far to trust the weights, which
aggregation, which missing-data rule — are uncertain. Each is an uncertain input; a Monte Carlo
run draws all of them, rebuilds the index for every unit and ranks the units.
:func:`joint_rank_uncertainty` adds the survey's sampling error as one more input: which
replicate's item means the index is built from.

* **Uncertainty analysis**: per unit, the distribution of its rank over the runs (mean, median,
  5th–95th percentile) and the mean absolute shift from the nominal rank.
* **Sensitivity analysis**: which choice drives the rank shifts. With Y the mean absolute rank
  shift over units, first-order ``S_i = V[E(Y|X_i)]/V(Y)`` and total ``S_Ti = E[V(Y|X_~i)]/V(Y)``
  Sobol indices by Saltelli's design (matrices A, B and A_B^(i); Saltelli et al. 2010,
  *Comput. Phys. Commun.* 181, 259–270): ``S_i ≈ mean(f(B)(f(A_B^i) − f(A)))/V`` and Jansen's
  ``S_Ti ≈ mean((f(A) − f(A_B^i))²)/(2V)``. N base draws cost N(k + 2) index builds, all done as
  one stack of weight sets (:func:`satisfaction.index.aggregate_arrays`).

Every uncertain input is a uniform U(0, 1) variable mapped to a choice: a discrete list (scheme,
aggregation, missing rule, replicate) or one of N pre-drawn weight perturbations (each weight
multiplied by U(1 − p, 1 + p), then re-normalised), as COINr does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codebook import Codebook
from .index import MIN_SHARE, aggregate_arrays, replicate_item_means  # noqa: F401  (also public here)
from .schemes import weights_for

FACTORS = ("scheme", "weights", "aggregation", "missing")


def _sobol(model, a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Saltelli first-order and Jansen total indices from the base matrices A and B (n × k)."""
    n, k = a.shape
    ab = np.repeat(a[None], k, axis=0)
    for i in range(k):
        ab[i, :, i] = b[:, i]
    y = model(np.concatenate([a, b, ab.reshape(k * n, k)]))
    ya, yb, yab = y[:n], y[n:2 * n], y[2 * n:].reshape(k, n)
    var = np.var(np.concatenate([ya, yb]))
    if var == 0:
        return pd.DataFrame({"first_order": np.full(k, np.nan), "total": np.full(k, np.nan)})
    first = (yb * (yab - ya)).mean(axis=1) / var
    total = ((ya - yab) ** 2).mean(axis=1) / (2 * var)
    return pd.DataFrame({"first_order": first, "total": total})


def sobol_indices(model, k: int, n: int, *, seed: int | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices of a vectorised model ``Y = model(U)`` with U an
    (rows × k) array of independent U(0, 1) inputs. Saltelli (2010) first-order and Jansen (1999)
    total estimators on n base rows (n(k + 2) model rows)."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((n, k)), rng.random((n, k))
    return _sobol(model, a, b)


@dataclass
class SensitivityResult:
    """``ranks``: per unit nominal rank, mean, median, p05, p95, mean_abs_shift; ``sobol``: per
    uncertain input its first-order and total index; ``choices``: what each input ranged over;
    ``rank_draws``: the ranks of the 2N independent runs (the A and B rows), units in input order;
    ``inputs``: those runs' U(0, 1) inputs (2N × factors, columns in ``sobol`` order)."""

    ranks: pd.DataFrame
    sobol: pd.DataFrame
    choices: dict
    draws: int
    rank_draws: np.ndarray = field(repr=False, default=None)
    inputs: np.ndarray = field(repr=False, default=None)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score, per row; a missing score ranks last."""
    filled = np.where(np.isnan(scores), -np.inf, scores)
    return (-filled).argsort(axis=1, kind="stable").argsort(axis=1) + 1


def _pick(u: np.ndarray, n: int) -> np.ndarray:
    """A U(0, 1) value as one of n equally likely choices 0 … n − 1."""
    return np.minimum((u * n).astype(int), n - 1)


def _method_builder(unit_item_scores: pd.DataFrame, codebook: Codebook, schemes, perturbation: float, aggregations,
                    missing_rules, n_draws: int, seed: int | None, nominal: dict | None):
    """The four method inputs (:data:`FACTORS`) shared by both analyses.

    Returns ``(index_of, nominal_rank, choices)``: ``index_of(u, x)`` is the index for each row of
    ``u`` (its first four columns: scheme, perturbation, aggregation, missing rule) from the item
    scores ``x`` (1 × units × items, or one layer per row); ``nominal_rank`` is the published
    configuration's ranking of ``unit_item_scores``. Weight sets come from ``unit_item_scores``."""
    items = codebook.index_items
    if schemes is None:
        schemes = ("fixed", "equal", "entropy", "pca") + (("ahp",) if codebook.ahp else ())
    schemes = tuple(schemes)
    sets = [weights_for(s, codebook, unit_item_scores[items]) for s in schemes]
    nominal = {"scheme": "fixed", "aggregation": "arithmetic", "min_share": MIN_SHARE, **(nominal or {})}
    rng = np.random.default_rng(seed)
    nodes = list(sets[0].weights)
    children = {n: list(sets[0].weights[n]) for n in nodes}
    base = {n: np.array([[ws.weights[n][c] for c in children[n]] for ws in sets]) for n in nodes}  # schemes × k
    noise = {n: rng.uniform(1 - perturbation, 1 + perturbation, size=(n_draws, len(children[n]))) for n in nodes}
    aggregations, missing_rules = tuple(aggregations), tuple(missing_rules)
    geometric = np.array([a == "geometric" for a in aggregations])
    shares = np.array(missing_rules, dtype=float)

    def index_of(u: np.ndarray, x: np.ndarray) -> np.ndarray:
        scheme, pert = _pick(u[:, 0], len(schemes)), _pick(u[:, 1], n_draws)
        geo, share = geometric[_pick(u[:, 2], len(aggregations))], shares[_pick(u[:, 3], len(missing_rules))]
        weights = {}
        for n in nodes:
            w = base[n][scheme] * (noise[n][pert] if perturbation > 0 else 1.0)
            w = w / w.sum(axis=1, keepdims=True)
            weights[n] = {c: w[:, j] for j, c in enumerate(children[n])}
        return aggregate_arrays(x, items, codebook, weights, geometric=geo, min_share=share)[codebook.tree.code]

    x = unit_item_scores[items].to_numpy(dtype=float)[None]
    nominal_sets = weights_for(nominal["scheme"], codebook, unit_item_scores[items])
    nominal_scores = aggregate_arrays(x, items, codebook, nominal_sets.weights,
                                      geometric=nominal["aggregation"] == "geometric",
                                      min_share=nominal["min_share"])[codebook.tree.code]
    choices = {"scheme": list(schemes), "weights": f"each weight × U({1 - perturbation:g}, {1 + perturbation:g})",
               "aggregation": list(aggregations), "missing": [f"min_share {s:g}" for s in missing_rules]}
    return index_of, _ranks(nominal_scores)[0], choices


def _rank_analysis(index_of, nominal_rank: np.ndarray, units, factors, a: np.ndarray, b: np.ndarray,
                   choices: dict) -> SensitivityResult:
    """Run the Saltelli design (A, B: n × k inputs) through ``index_of(u)`` (rows × units index
    scores), with Y the mean absolute rank shift from ``nominal_rank``; summarise the A and B runs."""
    n = len(a)
    collected: list[np.ndarray] = []

    def model(u: np.ndarray) -> np.ndarray:
        ranks = _ranks(index_of(u))
        collected.append(ranks)
        return np.abs(ranks - nominal_rank).mean(axis=1)

    sobol = _sobol(model, a, b)
    sobol.insert(0, "factor", list(factors))
    all_ranks = np.concatenate(collected)[:2 * n]  # the A and B runs: independent draws of every input
    shift = np.abs(all_ranks - nominal_rank)
    ranks = pd.DataFrame({
        "unit": units, "nominal_rank": nominal_rank, "mean_rank": all_ranks.mean(axis=0),
        "median_rank": np.median(all_ranks, axis=0), "p05": np.percentile(all_ranks, 5, axis=0),
        "p95": np.percentile(all_ranks, 95, axis=0), "mean_abs_shift": shift.mean(axis=0),
    }).sort_values("nominal_rank").reset_index(drop=True)
    return SensitivityResult(ranks, sobol, choices, n, all_ranks, np.concatenate([a, b]))


def rank_sensitivity(unit_item_scores: pd.DataFrame, codebook: Codebook, *, schemes=None, perturbation: float = 0.25,
                     aggregations=("arithmetic", "geometric"), missing_rules=(0.0, MIN_SHARE, 0.8),
                     n_draws: int = 1000, seed: int | None = None, nominal: dict | None = None) -> SensitivityResult:
    """Monte Carlo uncertainty and Sobol sensitivity of the units' ranks.

    ``unit_item_scores``: units × index items, 0–100 (e.g. :func:`satisfaction.index.unit_item_means`).
    ``schemes``: weight schemes to draw from (default fixed, equal, entropy, PCA, and AHP when the
    codebook has judgements); ``perturbation``: ±share by which each weight is perturbed;
    ``aggregations`` and ``missing_rules`` (``min_share`` values): the other choices. ``nominal``:
    the published configuration (default fixed weights, arithmetic, ``min_share`` 0.5, no
    perturbation)."""
    index_of, nominal_rank, choices = _method_builder(unit_item_scores, codebook, schemes, perturbation, aggregations,
                                                      missing_rules, n_draws, seed, nominal)
    x = unit_item_scores[codebook.index_items].to_numpy(dtype=float)[None]
    rng = np.random.default_rng(None if seed is None else seed + 1)
    a, b = rng.random((n_draws, len(FACTORS))), rng.random((n_draws, len(FACTORS)))
    return _rank_analysis(lambda u: index_of(u, x), nominal_rank, unit_item_scores.index, FACTORS, a, b, choices)


def joint_rank_uncertainty(unit_item_scores: pd.DataFrame, replicate_item_scores: np.ndarray, codebook: Codebook, *,
                           schemes=None, perturbation: float = 0.25, aggregations=("arithmetic", "geometric"),
                           missing_rules=(0.0, MIN_SHARE, 0.8), n_draws: int = 1000, seed: int | None = None,
                           nominal: dict | None = None) -> SensitivityResult:
    """Rank uncertainty and Sobol sensitivity with sampling error and method choices drawn together.

    The JRC/OECD Handbook (2008, §7) treats sampling error as one more uncertain input. A run
    draws ``U = (U_scheme, U_weights, U_aggregation, U_missing, U_sampling)``, independent
    U(0, 1); the first four choose the method exactly as in :func:`rank_sensitivity`, and
    ``U_sampling`` picks replicate ``b = ⌊B·U_sampling⌋`` of the survey, whose item means
    ``x_b`` (``replicate_item_scores[b]``, e.g. :func:`replicate_item_means`) the index is built
    from. With ``r_u`` the run's rank of unit u and ``r⁰_u`` the nominal rank (the published
    configuration on the full-sample means ``unit_item_scores``), the model output is the mean
    absolute rank shift ``Y = mean_u |r_u − r⁰_u|``, and the Sobol table (Saltelli et al. 2010;
    first-order ``S_i = V[E(Y|X_i)]/V(Y)``, total ``S_Ti = E[V(Y|X_~i)]/V(Y)``) has one row per
    input, ``FACTORS + ("sampling",)``: the total of ``sampling`` is the share of the rank
    uncertainty due to the survey, those of the others the share due to the method.

    ``replicate_item_scores``: B × units × index items, units in the order of
    ``unit_item_scores``. Data-driven weight schemes (entropy, PCA) are estimated once, from
    ``unit_item_scores``, as in :func:`rank_sensitivity`. The four method inputs use the same
    random streams as :func:`rank_sensitivity` with the same ``seed`` (the replicate choice has
    its own), so with every replicate equal to the full sample both give the same numbers and
    ``sampling`` has index 0. ``N = n_draws`` base draws cost N·7 index builds."""
    items = codebook.index_items
    reps = np.asarray(replicate_item_scores, dtype=float)
    if reps.ndim != 3 or reps.shape[1:] != (len(unit_item_scores), len(items)):
        raise ValueError(f"replicate_item_scores must be B × units × items, i.e. (B, {len(unit_item_scores)}, "
                         f"{len(items)}); got shape {reps.shape}")
    index_of, nominal_rank, choices = _method_builder(unit_item_scores, codebook, schemes, perturbation, aggregations,
                                                      missing_rules, n_draws, seed, nominal)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    a, b = rng.random((n_draws, len(FACTORS))), rng.random((n_draws, len(FACTORS)))
    sampling = np.random.default_rng(None if seed is None else [seed, 2]).random((2, n_draws, 1))
    a, b = np.hstack([a, sampling[0]]), np.hstack([b, sampling[1]])
    n_reps = len(reps)
    choices["sampling"] = f"item means of one of {n_reps} replicates"
    return _rank_analysis(lambda u: index_of(u, reps[_pick(u[:, 4], n_reps)]), nominal_rank, unit_item_scores.index,
                          FACTORS + ("sampling",), a, b, choices)


