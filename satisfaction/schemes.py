"""Weight schemes for the indicator tree, each with its provenance (JRC/OECD *Handbook on
Constructing Composite Indicators*, 2008, §6).

A scheme gives, for every node of the tree (the index, each first-level and each second-level
indicator), the weights of its children, summing to 1:

* ``fixed`` — the expert weights written in the codebook;
* ``equal`` — ``1/k`` for k children;
* ``ahp`` — Saaty's analytic hierarchy process: the principal right eigenvector ``w`` of a
  reciprocal pairwise-comparison matrix ``A`` (``A w = λ_max w``), with the consistency index
  ``CI = (λ_max − n)/(n − 1)`` and ratio ``CR = CI / RI_n`` against Saaty's random index
  (:data:`SAATY_RI`). Judgements with ``CR ≥ 0.1`` are refused unless overridden (Saaty 1980,
  *The Analytic Hierarchy Process*);
* ``entropy`` — from the units' (cities') scores ``x_ij`` of the children:
  ``p_ij = x_ij / Σ_i x_ij``, ``e_j = −Σ_i p_ij ln p_ij / ln m`` (m units), ``w_j ∝ 1 − e_j``:
  children on which units differ more get more weight;
* ``pca`` — the squared loadings of the children on the first principal component of their
  correlations across units, normalised to 1 (the Handbook's factor-analysis weights with one
  factor): children that move together with the rest get more weight.

Data-driven schemes (entropy, PCA) depend on the sample; :mod:`satisfaction.index` re-estimates
them in every bootstrap replicate so that their uncertainty reaches the scores' SEs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codebook import Codebook, Node
from .errors import SatisfactionError

#: Saaty's random consistency index RI_n for n = 1 … 15 (Saaty 1980, Table 1.7 extended).
SAATY_RI = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
            11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
SCHEMES = ("fixed", "equal", "ahp", "entropy", "pca")
CR_LIMIT = 0.10


class WeightSchemeError(SatisfactionError):
    """Weights that cannot be derived as asked (e.g. inconsistent AHP judgements)."""


@dataclass(frozen=True)
class TreeWeights:
    """Children's weights for every node of the tree, and where each set came from."""

    scheme: str
    weights: dict[str, dict[str, float]]
    provenance: dict[str, str] = field(default_factory=dict)

    def node(self, code: str) -> dict[str, float]:
        return self.weights[code]

    def table(self, codebook: Codebook, lang: str = "zh") -> pd.DataFrame:
        """Tidy: ``node, node_label, child, child_label, weight, scheme, provenance``."""
        rows = []
        for node in _nodes(codebook):
            for child, w in self.weights[node.code].items():
                label = codebook.items[child].label(lang) if child in codebook.items else codebook.label(child, lang)
                rows.append({"node": node.code, "node_label": node.label(lang), "child": child, "child_label": label,
                             "weight": w, "scheme": self.scheme, "provenance": self.provenance.get(node.code, "")})
        return pd.DataFrame(rows)


def _nodes(codebook: Codebook) -> list[Node]:
    """Index, first-level and second-level nodes, top-down."""
    out = [codebook.tree]
    for dim in codebook.dimensions:
        out.append(dim)
        out.extend(dim.children)
    return out


def fixed_weights(codebook: Codebook) -> TreeWeights:
    """The expert weights of the codebook."""
    return TreeWeights("fixed", {n.code: dict(n.weights) for n in _nodes(codebook)},
                       {n.code: "codebook (expert judgement)" for n in _nodes(codebook)})


def equal_weights(codebook: Codebook) -> TreeWeights:
    """``1/k`` for each of a node's k children."""
    return TreeWeights("equal", {n.code: {c: 1 / len(n.weights) for c in n.weights} for n in _nodes(codebook)},
                       {n.code: "equal" for n in _nodes(codebook)})


# ---- AHP ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AHPResult:
    weights: pd.Series
    lambda_max: float
    ci: float
    ri: float
    cr: float

    @property
    def consistent(self) -> bool:
        return self.cr < CR_LIMIT


def ahp(matrix, labels=None) -> AHPResult:
    """Priorities from a reciprocal pairwise-comparison matrix: the principal right eigenvector,
    normalised to sum 1, with λ_max, CI, Saaty's RI and CR (``CR = 0`` for n ≤ 2).

    >>> ahp([[1, 3], [1/3, 1]]).weights.round(2).tolist()
    [0.75, 0.25]
    """
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    if a.shape != (n, n) or n == 0:
        raise WeightSchemeError(f"a pairwise-comparison matrix must be square, got shape {a.shape}")
    if (a <= 0).any():
        raise WeightSchemeError("pairwise comparisons must be positive")
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    w = np.abs(vectors[:, k].real)
    w = w / w.sum()
    lam = float(values[k].real)
    ci = (lam - n) / (n - 1) if n > 2 else 0.0
    ri = SAATY_RI.get(n, 1.59)
    cr = ci / ri if ri > 0 else 0.0
    return AHPResult(pd.Series(w, index=labels if labels is not None else range(n), name="weight"), lam, ci, ri, cr)


def ahp_weights(codebook: Codebook, *, allow_inconsistent: bool = False) -> TreeWeights:
    """AHP weights for the nodes with a matrix in the codebook's ``ahp`` section; the other nodes
    keep their codebook weights (and say so). Raises :class:`WeightSchemeError` naming every matrix
    whose consistency ratio is 0.1 or more, unless ``allow_inconsistent``."""
    base = fixed_weights(codebook)
    weights, provenance, failed = dict(base.weights), dict(base.provenance), []
    for code, (order, matrix) in codebook.ahp.items():
        result = ahp(matrix, labels=list(order))
        if not result.consistent:
            failed.append(f"ahp.{code}: consistency ratio {result.cr:.3f} ≥ {CR_LIMIT} (λ_max = {result.lambda_max:.3f}, "
                          f"n = {len(order)}); revise the judgements")
        weights[code] = {c: float(result.weights[c]) for c in codebook.node(code).weights}
        provenance[code] = f"AHP (CR = {result.cr:.3f})" + ("" if result.consistent else ", inconsistent — accepted by override")
    if failed and not allow_inconsistent:
        raise WeightSchemeError("; ".join(failed))
    return TreeWeights("ahp", weights, provenance)


# ---- data-driven ------------------------------------------------------------------------------------


def entropy_weights(scores: pd.DataFrame) -> pd.Series:
    """Entropy weights of the columns of ``scores`` (units × indicators, non-negative; rows with a
    missing value are ignored): ``w_j ∝ 1 − e_j``, ``e_j = −Σ_i p_ij ln p_ij / ln m``."""
    x = scores.dropna().to_numpy(dtype=float)
    return pd.Series(_entropy(x[None])[0], index=scores.columns, name="weight")


def _entropy(x: np.ndarray) -> np.ndarray:
    """Entropy weights for a stack of unit × indicator matrices (B × m × k)."""
    if (x < 0).any():
        raise WeightSchemeError("entropy weights need non-negative scores")
    m = x.shape[1]
    if m < 2:
        raise WeightSchemeError("entropy weights need at least two units")
    p = x / x.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    d = 1 + plogp.sum(axis=1) / np.log(m)
    total = d.sum(axis=1, keepdims=True)
    k = x.shape[2]
    return np.where(total > 0, d / np.where(total > 0, total, 1), 1 / k)


def pca_weights(scores: pd.DataFrame) -> pd.Series:
    """First-principal-component weights of the columns of ``scores`` (units × indicators):
    squared loadings on the first component of their correlation matrix, normalised to 1."""
    x = scores.dropna().to_numpy(dtype=float)
    return pd.Series(_pca(x[None])[0], index=scores.columns, name="weight")


def _pca(x: np.ndarray) -> np.ndarray:
    """PCA weights for a stack of unit × indicator matrices (B × m × k)."""
    if x.shape[2] == 1:
        return np.ones(x.shape[:1] + (1,))
    centred = x - x.mean(axis=1, keepdims=True)
    cov = np.einsum("bmi,bmj->bij", centred, centred)
    sd = np.sqrt(np.einsum("bii->bi", cov))
    varies = sd > 1e-12 * np.maximum(np.abs(x).max(axis=1), 1.0)
    sd = np.where(varies, sd, 1.0)
    corr = np.where(varies[:, :, None] & varies[:, None, :], cov / sd[:, :, None] / sd[:, None, :], 0.0)
    k = x.shape[2]
    corr[:, np.arange(k), np.arange(k)] = 1.0  # a constant indicator is uncorrelated with the rest
    values, vectors = np.linalg.eigh(corr)
    loadings2 = vectors[:, :, -1] ** 2 * values[:, -1:]
    return loadings2 / loadings2.sum(axis=1, keepdims=True)


def data_weights(unit_item_scores: pd.DataFrame, codebook: Codebook, scheme: str) -> TreeWeights:
    """Entropy or PCA weights for every node, from the units' 0–100 item scores (units × index
    items, e.g. city means): each second-level indicator weighs its items, each first-level
    indicator its second-level indicators' scores (equal-weight means of their items, so that the
    weights of a level do not depend on another scheme's choices above it), and the index its
    first-level indicators likewise."""
    if scheme not in ("entropy", "pca"):
        raise WeightSchemeError(f"data-driven scheme must be 'entropy' or 'pca', got {scheme!r}")
    stacked = stack_data_weights(unit_item_scores.to_numpy(dtype=float)[None], list(unit_item_scores.columns),
                                 codebook, scheme)
    m = len(unit_item_scores)
    return TreeWeights(scheme, {code: {c: float(v[0]) for c, v in children.items()} for code, children in stacked.items()},
                       {n.code: f"{scheme} over {m} units" for n in _nodes(codebook)})


def stack_data_weights(x: np.ndarray, items: list[str], codebook: Codebook, scheme: str) -> dict[str, dict[str, np.ndarray]]:
    """Entropy or PCA weights for a stack of B unit × item score matrices (B × m × items): node →
    child → B weights. Used for the point estimate (B = 1) and for bootstrap replicates."""
    fn = _entropy if scheme == "entropy" else _pca
    col = {c: i for i, c in enumerate(items)}
    out: dict[str, dict[str, np.ndarray]] = {}

    def weigh(node: Node, child_scores: np.ndarray):
        w = fn(child_scores)
        out[node.code] = {c: w[:, j] for j, c in enumerate(node.weights)}

    dim_scores = []
    for dim in codebook.dimensions:
        ind_scores = []
        for ind in dim.children:
            block = x[:, :, [col[i] for i in ind.weights]]
            weigh(ind, block)
            ind_scores.append(block.mean(axis=2))
        block = np.stack(ind_scores, axis=2)
        weigh(dim, block)
        dim_scores.append(block.mean(axis=2))
    weigh(codebook.tree, np.stack(dim_scores, axis=2))
    return out


def weights_for(scheme: str, codebook: Codebook, unit_item_scores: pd.DataFrame | None = None, **options) -> TreeWeights:
    """The named scheme: ``fixed``, ``equal``, ``ahp`` (options: ``allow_inconsistent``),
    ``entropy`` or ``pca`` (need the units' item scores)."""
    if scheme == "fixed":
        return fixed_weights(codebook)
    if scheme == "equal":
        return equal_weights(codebook)
    if scheme == "ahp":
        return ahp_weights(codebook, **options)
    if scheme in ("entropy", "pca"):
        if unit_item_scores is None:
            raise WeightSchemeError(f"the {scheme} scheme needs the units' item scores")
        return data_weights(unit_item_scores, codebook, scheme)
    raise WeightSchemeError(f"unknown weight scheme {scheme!r}; choose one of {SCHEMES}")
