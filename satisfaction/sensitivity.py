"""Uncertainty and sensitivity analysis of the index ranking (JRC/OECD Handbook §7; R's COINr).

The choices behind a composite index — which weight scheme, how far to trust the weights, which
aggregation, which missing-data rule — are uncertain. Each is an uncertain input; a Monte Carlo
run draws all of them, rebuilds the index for every unit and ranks the units.

* **Uncertainty analysis**: per unit, the distribution of its rank over the runs (mean, median,
  5th–95th percentile) and the mean absolute shift from the nominal rank.
* **Sensitivity analysis**: which choice drives the rank shifts. With Y the mean absolute rank
  shift over units, first-order ``S_i = V[E(Y|X_i)]/V(Y)`` and total ``S_Ti = E[V(Y|X_~i)]/V(Y)``
  Sobol indices by Saltelli's design (matrices A, B and A_B^(i); Saltelli et al. 2010,
  *Comput. Phys. Commun.* 181, 259–270): ``S_i ≈ mean(f(B)(f(A_B^i) − f(A)))/V`` and Jansen's
  ``S_Ti ≈ mean((f(A) − f(A_B^i))²)/(2V)``. N base draws cost N(k + 2) index builds, all done as
  one stack of weight sets (:func:`satisfaction.index.aggregate_arrays`).

Every uncertain input is a uniform U(0, 1) variable mapped to a choice: a discrete list (scheme,
aggregation, missing rule) or one of N pre-drawn weight perturbations (each weight multiplied by
U(1 − p, 1 + p), then re-normalised), as COINr does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codebook import Codebook
from .index import MIN_SHARE, aggregate_arrays
from .schemes import weights_for

FACTORS = ("scheme", "weights", "aggregation", "missing")


def sobol_indices(model, k: int, n: int, *, seed: int | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices of a vectorised model ``Y = model(U)`` with U an
    (rows × k) array of independent U(0, 1) inputs. Saltelli (2010) first-order and Jansen (1999)
    total estimators on n base rows (n(k + 2) model rows)."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((n, k)), rng.random((n, k))
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


@dataclass
class SensitivityResult:
    """``ranks``: per unit nominal rank, mean, median, p05, p95, mean_abs_shift; ``sobol``: per
    uncertain input its first-order and total index; ``choices``: what each input ranged over."""

    ranks: pd.DataFrame
    sobol: pd.DataFrame
    choices: dict
    draws: int
    rank_draws: np.ndarray = field(repr=False, default=None)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score, per row; a missing score ranks last."""
    filled = np.where(np.isnan(scores), -np.inf, scores)
    return (-filled).argsort(axis=1, kind="stable").argsort(axis=1) + 1


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
    items = codebook.index_items
    x = unit_item_scores[items].to_numpy(dtype=float)[None]
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

    def build(u: np.ndarray) -> np.ndarray:
        scheme = np.minimum((u[:, 0] * len(schemes)).astype(int), len(schemes) - 1)
        pert = np.minimum((u[:, 1] * n_draws).astype(int), n_draws - 1)
        geo = np.array([a == "geometric" for a in aggregations])[np.minimum((u[:, 2] * len(aggregations)).astype(int),
                                                                               len(aggregations) - 1)]
        share = np.array(missing_rules)[np.minimum((u[:, 3] * len(missing_rules)).astype(int), len(missing_rules) - 1)]
        weights = {}
        for n in nodes:
            w = base[n][scheme] * (noise[n][pert] if perturbation > 0 else 1.0)
            w = w / w.sum(axis=1, keepdims=True)
            weights[n] = {c: w[:, j] for j, c in enumerate(children[n])}
        return aggregate_arrays(x, items, codebook, weights, geometric=geo, min_share=share)[codebook.tree.code]

    nominal_sets = weights_for(nominal["scheme"], codebook, unit_item_scores[items])
    nominal_scores = aggregate_arrays(x, items, codebook, nominal_sets.weights,
                                      geometric=nominal["aggregation"] == "geometric",
                                      min_share=nominal["min_share"])[codebook.tree.code]
    nominal_rank = _ranks(nominal_scores)[0]
    collected: list[np.ndarray] = []

    def model(u: np.ndarray) -> np.ndarray:
        ranks = _ranks(build(u))
        collected.append(ranks)
        return np.abs(ranks - nominal_rank).mean(axis=1)

    sobol = sobol_indices(model, 4, n_draws, seed=None if seed is None else seed + 1)
    sobol.insert(0, "factor", list(FACTORS))
    all_ranks = np.concatenate(collected)[:2 * n_draws]  # the A and B runs: independent draws of every input
    shift = np.abs(all_ranks - nominal_rank)
    ranks = pd.DataFrame({
        "unit": unit_item_scores.index, "nominal_rank": nominal_rank, "mean_rank": all_ranks.mean(axis=0),
        "median_rank": np.median(all_ranks, axis=0), "p05": np.percentile(all_ranks, 5, axis=0),
        "p95": np.percentile(all_ranks, 95, axis=0), "mean_abs_shift": shift.mean(axis=0),
    }).sort_values("nominal_rank").reset_index(drop=True)
    choices = {"scheme": list(schemes), "weights": f"each weight × U({1 - perturbation:g}, {1 + perturbation:g})",
               "aggregation": list(aggregations), "missing": [f"min_share {s:g}" for s in missing_rules]}
    return SensitivityResult(ranks, sobol, choices, n_draws, all_ranks)
