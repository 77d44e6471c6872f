"""PLS path modelling: the structural-equation index of the ACSI / China Customer Satisfaction
Index (GB/T 19038) family.

Lohmöller's algorithm as R's ``plspm`` runs it (Tenenhaus, Esposito Vinzi, Chatelin & Lauro 2005,
*Comput. Stat. Data Anal.* 48, 159–205), computed entirely from the (weighted) covariance matrix
``S`` of the manifest variables. With outer weights ``W`` (p × L, block-diagonal), latent-variable
(LV) proxies ``Y = X W`` scaled to unit variance and inner weights ``E``:

* inner estimation ``Z = Y E`` — ``E`` is ``sign(cor Y)`` on adjacent LVs (centroid scheme),
  ``cor Y`` (factorial) or, for the path scheme, the regression coefficients of an LV on its
  predecessors and its correlations with its successors;
* outer estimation — Mode A (reflective): ``w_k = cov(X_k, Z_k)``; Mode B (formative):
  ``w_k = S_kk⁻¹ cov(X_k, Z_k)``;
* repeated until ``Σ (|w_old| − |w_new|)² < tol`` (plspm's criterion), then ``W`` is rescaled so
  every LV has unit variance, and an LV whose indicators mostly correlate negatively with it is
  turned round (plspm's ``get_scores``).

Everything the algorithm needs — ``cov(X, Z) = S W D E`` with ``D`` the LV scaling — is a product
of p × p and p × L matrices, so one fit costs microseconds once ``S`` is known, and a thousand
bootstrap replicates are a thousand covariance matrices (one matrix product over respondents) run
through the same iterations as a stack. Survey weights enter through the weighted moments.

Reported, as plspm / seminr do: outer weights (on the treated data: standardised when
``scaled=True``, centred otherwise), loadings and cross-loadings (correlations of items with
LVs), communalities (λ²), redundancies (λ² R²), path coefficients (OLS on the LV scores) with R²,
direct, indirect and total effects, block communality / AVE, the Goodness-of-Fit
``GoF = √(mean communality × mean R²)`` (Tenenhaus et al. 2004), and seminr's reliability table
(alpha, Dijkstra–Henseler rhoA, composite reliability rhoC and AVE from the *PLS* loadings).

The published index (Fornell et al. 1996, *J. Marketing* 60(4), 7–18) uses the *unstandardised*
outer weights ``u_j = w_j / s_j`` (``= w_j`` for unscaled data), normalised within the block:

    index_k = 100 · Σ_j u_j (x̄_j − min_j) / Σ_j u_j (max_j − min_j)

with ``min_j, max_j`` the ends of item j's scale, so a block answered at the top of every scale
scores 100.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ._deprecation import renamed
from .errors import SatisfactionError
from .survey.variance import confint, replicate_variance

SCHEMES = ("centroid", "factorial", "path")
MODES = ("A", "B")
MISSING = ("mean", "listwise")
ROW_CHUNK = 8192


class PLSError(SatisfactionError):
    """A PLS path model that cannot be estimated as specified."""


# ---- specification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PLSModel:
    """Measurement model (``blocks``: LV → items; ``modes``: LV → "A" or "B") and structural model
    (``paths``: target LV → the LVs with an arrow into it)."""

    blocks: dict[str, tuple[str, ...]]
    paths: dict[str, tuple[str, ...]]
    modes: dict[str, str]

    @classmethod
    def specify(cls, blocks, paths, modes=None) -> "PLSModel":
        blocks = {str(k): tuple(v) for k, v in dict(blocks).items()}
        problems = []
        if not blocks:
            raise PLSError("a PLS model needs at least one block of items")
        seen: dict[str, str] = {}
        for lv, items in blocks.items():
            if not items:
                problems.append(f"block {lv!r} has no items")
            for item in items:
                if item in seen:
                    problems.append(f"item {item!r} is in blocks {seen[item]!r} and {lv!r}; an item measures one LV")
                seen[item] = lv
        if isinstance(paths, pd.DataFrame):  # plspm's path matrix: row = target, column = source
            paths = {t: [s for s in paths.columns if paths.loc[t, s]] for t in paths.index}
        elif not isinstance(paths, dict):  # pairs (source, target)
            pairs = list(paths)
            paths = {}
            for source, target in pairs:
                paths.setdefault(target, []).append(source)
        paths = {str(t): tuple(s) for t, s in paths.items() if len(s)}
        for target, sources in paths.items():
            for lv in (target, *sources):
                if lv not in blocks:
                    problems.append(f"path {sources} → {target!r} names {lv!r}, which has no block of items")
            if target in sources:
                problems.append(f"LV {target!r} cannot point to itself")
        if not paths:
            problems.append("the structural model has no paths")
        if modes is None:
            modes = {}
        elif isinstance(modes, str):
            modes = {lv: modes for lv in blocks}
        modes = {lv: str(modes.get(lv, "A")).upper() for lv in blocks}
        for lv, mode in modes.items():
            if mode not in MODES:
                problems.append(f"mode {mode!r} of block {lv!r} is not one of {MODES}")
        if problems:
            raise PLSError("; ".join(problems))
        model = cls(blocks, paths, modes)
        model.order  # raises on a cycle
        return model

    @property
    def lvs(self) -> list[str]:
        return list(self.blocks)

    @property
    def items(self) -> list[str]:
        return [i for items in self.blocks.values() for i in items]

    @cached_property
    def adjacency(self) -> np.ndarray:
        """L × L matrix with ``[j, k] = 1`` when LV j points to LV k."""
        pos = {lv: i for i, lv in enumerate(self.lvs)}
        a = np.zeros((len(pos), len(pos)))
        for target, sources in self.paths.items():
            for s in sources:
                a[pos[s], pos[target]] = 1.0
        return a

    @cached_property
    def order(self) -> list[str]:
        """LVs in causal order (sources first); a PLS path model must be recursive."""
        a, done, out = self.adjacency, set(), []
        while len(out) < len(self.lvs):
            ready = [k for k in range(len(self.lvs)) if k not in done and all(j in done for j in np.flatnonzero(a[:, k]))]
            if not ready:
                cycle = [self.lvs[k] for k in range(len(self.lvs)) if k not in done]
                raise PLSError(f"the structural model has a cycle among {cycle}; PLS path models must be recursive")
            done.update(ready)
            out += [self.lvs[k] for k in ready]
        return out

    @cached_property
    def neighbours(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per LV: indices of its predecessors and of its successors."""
        a = self.adjacency
        return [(np.flatnonzero(a[:, k]), np.flatnonzero(a[k])) for k in range(a.shape[0])]

    @cached_property
    def membership(self) -> np.ndarray:
        """p × L outer design matrix (1 where item j belongs to LV k)."""
        m = np.zeros((len(self.items), len(self.blocks)))
        row = 0
        for k, items in enumerate(self.blocks.values()):
            m[row:row + len(items), k] = 1.0
            row += len(items)
        return m

    @cached_property
    def block_slices(self) -> list[slice]:
        out, row = [], 0
        for items in self.blocks.values():
            out.append(slice(row, row + len(items)))
            row += len(items)
        return out


# ---- the algorithm, on a stack of covariance matrices ----------------------------------------------


def _lv_correlation(S: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LV covariance ``Wᵀ S W`` turned into correlations; returns (correlations, 1/sd)."""
    V = np.einsum("bpk,bpq,bql->bkl", W, S, W)
    d = 1.0 / np.sqrt(np.einsum("bkk->bk", V))
    return V * d[:, :, None] * d[:, None, :], d


def _inner_weights(R: np.ndarray, model: PLSModel, scheme: str) -> np.ndarray:
    a = model.adjacency
    both = a + a.T
    if scheme == "centroid":
        return np.sign(R) * both
    if scheme == "factorial":
        return R * both
    E = np.zeros_like(R)
    for k, (pred, succ) in enumerate(model.neighbours):
        if pred.size == 1:
            E[:, pred[0], k] = R[:, pred[0], k]
        elif pred.size:
            E[:, pred, k] = np.linalg.solve(R[:, pred[:, None], pred], R[:, pred, k][..., None])[..., 0]
        if succ.size:
            E[:, succ, k] = R[:, k, succ]
    return E


def _outer_update(S: np.ndarray, W: np.ndarray, d: np.ndarray, E: np.ndarray, model: PLSModel) -> np.ndarray:
    G = S @ (W * d[:, None, :]) @ E  # cov(X, Z) for every item and LV
    new = G * model.membership
    for k, (rows, mode) in enumerate(zip(model.block_slices, model.modes.values())):
        if mode == "B":
            new[:, rows, k] = np.linalg.solve(S[:, rows, rows], G[:, rows, k][..., None])[..., 0]
    return new


def _lohmoeller(S: np.ndarray, model: PLSModel, scheme: str, tol: float, max_iter: int):
    """Outer weights (B × p × L, unit LV variance) for a stack of B covariance matrices, plus the
    iterations used and which fits converged (plspm's ``get_weights``)."""
    M = model.membership
    start = np.einsum("pk,bpq,qk->bk", M, S, M)
    W = M[None] / np.sqrt(start)[:, None, :]
    w_old = W.sum(axis=2)
    active = np.ones(S.shape[0], dtype=bool)
    iterations = np.zeros(S.shape[0], dtype=int)
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        Sa, Wa = S[idx], W[idx]
        R, d = _lv_correlation(Sa, Wa)
        Wn = _outer_update(Sa, Wa, d, _inner_weights(R, model, scheme), model)
        w_new = Wn.sum(axis=2)
        change = ((np.abs(w_old[idx]) - np.abs(w_new)) ** 2).sum(axis=1)
        W[idx], w_old[idx] = Wn, w_new
        iterations[idx] = it
        active[idx[change < tol]] = False
        if not active.any():
            break
    converged = ~active
    V = np.einsum("bpk,bpq,bqk->bk", W, S, W)
    return W / np.sqrt(V)[:, None, :], iterations, converged


def _orient(S: np.ndarray, W: np.ndarray, model: PLSModel) -> np.ndarray:
    """Turn round each LV whose items mostly correlate negatively with it (plspm's ``get_scores``).
    Returns the sign (B × L) applied to the LVs."""
    cross = (S @ W) * model.membership[None]
    votes = np.sign(cross).sum(axis=1)
    return np.where(votes < 0, -1.0, 1.0)


@dataclass
class _Fit:
    """Raw results of one or many fits (leading axis B)."""

    W: np.ndarray          # outer weights on the treated data, oriented (B × p × L)
    sign: np.ndarray       # orientation applied (B × L)
    R: np.ndarray          # LV correlations (B × L × L)
    loadings: np.ndarray   # item–LV correlations (B × p × L)
    paths: np.ndarray      # path coefficients, [j, k] for j → k (B × L × L)
    r2: np.ndarray         # (B × L), 0 for exogenous LVs
    iterations: np.ndarray
    converged: np.ndarray


def _fit(S: np.ndarray, model: PLSModel, scheme: str, tol: float, max_iter: int) -> _Fit:
    W, iterations, converged = _lohmoeller(S, model, scheme, tol, max_iter)
    sign = _orient(S, W, model)
    W = W * sign[:, None, :]
    R, _ = _lv_correlation(S, W)
    sd = np.sqrt(np.einsum("bpp->bp", S))
    loadings = (S @ W) / sd[:, :, None]
    paths = np.zeros_like(R)
    r2 = np.zeros(R.shape[:2])
    for k, (pred, _) in enumerate(model.neighbours):
        if pred.size:
            beta = np.linalg.solve(R[:, pred[:, None], pred], R[:, pred, k][..., None])[..., 0]
            paths[:, pred, k] = beta
            r2[:, k] = (beta * R[:, pred, k]).sum(axis=1)
    return _Fit(W, sign, R, loadings, paths, r2, iterations, converged)


# ---- data preparation -----------------------------------------------------------------------------


def _prepare(data: pd.DataFrame, model: PLSModel, weights, missing: str):
    """Numeric item matrix, respondent weights and the rows used."""
    if missing not in MISSING:
        raise PLSError(f"missing must be one of {MISSING}, got {missing!r}")
    absent = [c for c in model.items if c not in data.columns]
    if absent:
        raise PLSError(f"items {absent} are not columns of the data")
    frame = data[model.items]
    bad = [c for c, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if bad:
        raise PLSError(f"items {bad} are not numeric")
    if isinstance(weights, str):
        weights = data[weights]
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(frame),):
        raise PLSError(f"weights need one value per respondent ({len(frame)}), got shape {w.shape}")
    if (~np.isfinite(w)).any() or (w < 0).any():
        raise PLSError("weights must be finite and non-negative")
    X = frame.to_numpy(dtype=float)
    keep = w > 0
    if missing == "listwise":
        keep &= ~np.isnan(X).any(axis=1)
    X, w = X[keep], w[keep]
    if np.isnan(X).all(axis=0).any():
        raise PLSError(f"items {list(np.array(model.items)[np.isnan(X).all(axis=0)])} have no answers")
    if np.isnan(X).any():  # mean replacement (seminr's default), with the weighted item means
        means = np.nansum(X * w[:, None], axis=0) / ((~np.isnan(X)) * w[:, None]).sum(axis=0)
        X = np.where(np.isnan(X), means, X)
    if len(X) < 3:
        raise PLSError(f"only {len(X)} usable respondents")
    return X, w, frame.index[keep]


def _moments(X: np.ndarray, weights: np.ndarray, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means (B × p) and population covariance matrices (B × p × p) of X under each
    column of ``weights`` (n × B), by one matrix product over respondents (in row chunks)."""
    n, p = X.shape
    Xc = X - center
    m1 = np.zeros((weights.shape[1], p))
    m2 = np.zeros((weights.shape[1], p * p))
    for start in range(0, n, ROW_CHUNK):
        rows = slice(start, start + ROW_CHUNK)
        x, w = Xc[rows], weights[rows]
        m1 += w.T @ x
        m2 += w.T @ (x[:, :, None] * x[:, None, :]).reshape(len(x), p * p)
    total = weights.sum(axis=0)[:, None]
    m1 /= total
    S = (m2 / total).reshape(-1, p, p) - m1[:, :, None] * m1[:, None, :]
    return m1 + center, S


def _treated(S: np.ndarray, scaled: bool) -> np.ndarray:
    if not scaled:
        return S
    sd = np.sqrt(np.einsum("bpp->bp", S))
    if (sd <= 0).any():
        raise PLSError("an item has no variance; it cannot be standardised")
    return S / sd[:, :, None] / sd[:, None, :]


# ---- results --------------------------------------------------------------------------------------


@dataclass
class PLSResult:
    """An estimated PLS path model. Tables are pandas objects labelled by LV and item names."""

    model: PLSModel
    scheme: str
    scaled: bool
    n: int
    weighted: bool
    means: pd.Series
    sds: pd.Series
    item_min: pd.Series
    item_max: pd.Series
    iterations: int
    _fit: _Fit = field(repr=False)
    _X: np.ndarray = field(repr=False)
    _w: np.ndarray = field(repr=False)
    _rows: pd.Index = field(repr=False)
    _settings: dict = field(repr=False, default_factory=dict)

    # -- outer model
    @property
    def outer_weights(self) -> pd.Series:
        """Outer weights on the treated items (standardised if ``scaled``, centred otherwise),
        scaled so that every LV has unit variance."""
        return pd.Series((self._fit.W[0] * self.model.membership).sum(axis=1), index=self.model.items, name="weight")

    @property
    def crossloadings(self) -> pd.DataFrame:
        """Correlation of every item with every LV."""
        return pd.DataFrame(self._fit.loadings[0], index=self.model.items, columns=self.model.lvs)

    @property
    def loadings(self) -> pd.Series:
        """Correlation of each item with its own LV."""
        return pd.Series((self._fit.loadings[0] * self.model.membership).sum(axis=1), index=self.model.items, name="loading")

    @property
    def outer_model(self) -> pd.DataFrame:
        """plspm's ``outer_model``: block, weight, loading, communality (λ²), redundancy (λ² R²)."""
        block = pd.Series({i: lv for lv, items in self.model.blocks.items() for i in items})
        lam = self.loadings
        r2 = self.r2.reindex(self.model.lvs, fill_value=0.0)
        return pd.DataFrame({"block": block, "weight": self.outer_weights, "loading": lam, "communality": lam ** 2,
                             "redundancy": lam ** 2 * block.map(r2)})

    # -- inner model
    @property
    def path_matrix(self) -> pd.DataFrame:
        """Path coefficients, rows = source, columns = target (seminr's layout)."""
        return pd.DataFrame(self._fit.paths[0], index=self.model.lvs, columns=self.model.lvs)

    @property
    def path_coefficients(self) -> pd.DataFrame:
        """One row per arrow: ``from, to, estimate, se, t, p`` — OLS of the target's scores on its
        predecessors' (plspm's ``inner_model``). The OLS standard errors assume simple random
        sampling and are left empty for weighted data: use :meth:`bootstrap`."""
        rows = []
        R = self._fit.R[0]
        for k, target in enumerate(self.model.lvs):
            pred = np.flatnonzero(self.model.adjacency[:, k])
            if not pred.size:
                continue
            r2 = self._fit.r2[0, k]
            df = self.n - pred.size - 1
            inv = np.diag(np.linalg.inv(R[np.ix_(pred, pred)]))
            se = np.sqrt((1 - r2) / df * inv) if not self.weighted else np.full(pred.size, np.nan)
            for j, s in zip(pred, se):
                est = self._fit.paths[0, j, k]
                t = est / s
                rows.append({"from": self.model.lvs[j], "to": target, "estimate": est, "se": s, "t": t,
                             "p": 2 * stats.t.sf(abs(t), df) if np.isfinite(t) else np.nan})
        return pd.DataFrame(rows)

    @property
    def r2(self) -> pd.Series:
        """R² of each endogenous LV."""
        endo = self.model.adjacency.sum(axis=0) > 0
        return pd.Series(self._fit.r2[0][endo], index=np.array(self.model.lvs)[endo], name="r2")

    @property
    def effects(self) -> pd.DataFrame:
        """Direct, indirect and total effects for every pair joined by a directed path."""
        return _effects_table(self._fit.paths[0], self.model)

    @property
    def inner_summary(self) -> pd.DataFrame:
        """Per LV: type, mode, items, R², block communality, mean redundancy, AVE (plspm)."""
        om = self.outer_model
        endo = self.model.adjacency.sum(axis=0) > 0
        out = om.groupby("block", sort=False).agg(block_communality=("communality", "mean"),
                                                   mean_redundancy=("redundancy", "mean"), k=("weight", "size"))
        out.insert(0, "type", np.where(endo, "Endogenous", "Exogenous"))
        out.insert(1, "mode", list(self.model.modes.values()))
        out.insert(3, "r_squared", self._fit.r2[0])
        out["ave"] = np.where(out["mode"] == "A", out["block_communality"], np.nan)
        return out.rename_axis("lv")

    @property
    def gof(self) -> float:
        """Goodness of fit: √(mean communality of items in multi-item blocks × mean R² of the
        endogenous LVs) (plspm's ``gof``)."""
        om = self.outer_model
        sizes = om.groupby("block")["weight"].transform("size")
        comm = om.loc[sizes > 1, "communality"].mean()
        return float(np.sqrt(comm * self.r2.mean()))

    # -- scores and index
    @property
    def scores(self) -> pd.DataFrame:
        """LV scores of the respondents used (unit weighted variance, mean 0)."""
        Xt = (self._X - self.means.to_numpy())
        if self.scaled:
            Xt = Xt / self.sds.to_numpy()
        return pd.DataFrame(Xt @ self._fit.W[0], index=self._rows, columns=self.model.lvs)

    @property
    def unstandardized_weights(self) -> pd.Series:
        """Outer weights on the items' own scales (``w_j / s_j`` for scaled data), normalised to
        sum to 1 within each block — the weights ACSI publishes."""
        return _raw_weights(self._fit.W, self.model, self.sds.to_numpy()[None] if self.scaled else None)[0]

    def rescaled_scores(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Respondents' LV scores on the 0–100 index scale, from the unstandardised weights."""
        X = self._X if data is None else data[self.model.items].to_numpy(dtype=float)
        rows = self._rows if data is None else data.index
        v = self.unstandardized_weights.to_numpy()
        lo, span = self.item_min.to_numpy(), (self.item_max - self.item_min).to_numpy()
        num = ((X - lo) * v) @ self.model.membership
        den = (span * v) @ self.model.membership
        return pd.DataFrame(100 * num / den, index=rows, columns=self.model.lvs)

    @property
    def index(self) -> pd.Series:
        """The 0–100 index of every LV (ACSI rescaling of the weighted item means)."""
        if (self.unstandardized_weights < 0).any():
            negative = list(self.unstandardized_weights.index[self.unstandardized_weights < 0])
            warnings.warn(f"negative outer weights for {negative}: the 0–100 index is not a weighted mean of the "
                          "items there", stacklevel=2)
        return _index(self.unstandardized_weights.to_numpy()[None], self.means.to_numpy()[None], self.item_min.to_numpy(),
                      self.item_max.to_numpy(), self.model)[0].rename("index")

    # -- reliability (seminr conventions)
    @property
    def reliability(self) -> pd.DataFrame:
        """seminr's reliability table per LV: Cronbach's alpha, rhoA (Dijkstra & Henseler 2015),
        rhoC and AVE from the PLS loadings. Single-item blocks get 1; Mode B blocks rhoA = 1."""
        Rx = _treated(self._S, True)[0]
        W = self._fit.W[0]
        lam = self.loadings
        rows = []
        for k, (lv, items) in enumerate(self.model.blocks.items()):
            s = self.model.block_slices[k]
            if len(items) == 1:
                rows.append({"lv": lv, "alpha": 1.0, "rhoA": 1.0, "rhoC": 1.0, "AVE": 1.0})
                continue
            r = Rx[s, s]
            kk = len(items)
            alpha = kk / (kk - 1) * (1 - kk / r.sum())
            if self.model.modes[lv] == "B":
                rho_a = 1.0
            else:
                w = W[s, k] * (self.sds.to_numpy()[s] if not self.scaled else 1.0)
                w = w / np.sqrt(w @ r @ w)
                off = r - np.diag(np.diag(r))
                ww = np.outer(w, w)
                rho_a = (w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w)
            l = lam[list(items)].to_numpy()
            rho_c = l.sum() ** 2 / (l.sum() ** 2 + (1 - l ** 2).sum())
            rows.append({"lv": lv, "alpha": alpha, "rhoA": rho_a, "rhoC": rho_c, "AVE": float(np.mean(l ** 2))})
        return pd.DataFrame(rows).set_index("lv")

    @property
    def _S(self) -> np.ndarray:
        return self._settings["S_raw"]

    # -- uncertainty
    @renamed(ci="level")
    def bootstrap(self, replicates=1000, *, seed: int | None = None, level: float = 0.95) -> "PLSBootstrap":
        """Bootstrap the model: ``replicates`` resamples of respondents (multiplied by the survey
        weights), or a design's replicate weights (a :class:`~satisfaction.design.SurveyDesign`
        with replicates, a :class:`~satisfaction.design.Replicates`, or an n × B matrix) so that the
        intervals carry the sampling design and the raking. Every replicate re-estimates the
        weights; all replicates run as one stack. SE: the replicate standard deviation with the
        replicate set's scale; CI: percentile."""
        return _bootstrap(self, replicates, seed, level)

    @renamed(ci="level")
    def group_index(self, groups, *, replicates=None, seed: int | None = None, level: float = 0.95) -> pd.DataFrame:
        """The 0–100 index of every LV per group (e.g. city) with the model's weights applied to
        each group's weighted item means — how ACSI scores firms from one national model. With
        ``replicates`` (as in :meth:`bootstrap`) the model is re-estimated in every replicate and
        the SEs and normal-theory CIs include the uncertainty of the weights. ``groups``: a Series
        aligned with the data, or one label per respondent used. Tidy: ``group, lv, estimate, se,
        ci_low, ci_high, n``."""
        return _group_index(self, groups, replicates, seed, level)


def _effects_table(B: np.ndarray, model: PLSModel) -> pd.DataFrame:
    total = _total_effects(B[None])[0]
    rows = []
    for j, source in enumerate(model.lvs):
        for k, target in enumerate(model.lvs):
            if total[j, k] != 0 or B[j, k] != 0:
                rows.append({"from": source, "to": target, "direct": B[j, k], "indirect": total[j, k] - B[j, k],
                             "total": total[j, k]})
    return pd.DataFrame(rows)


def _raw_weights(W: np.ndarray, model: PLSModel, sds: np.ndarray | None) -> list[pd.Series]:
    w = (W * model.membership).sum(axis=2)
    if sds is not None:
        w = w / sds
    sums = w @ model.membership @ model.membership.T
    return [pd.Series(row, index=model.items, name="unstandardized_weight") for row in w / sums]


def _index(v: np.ndarray, means: np.ndarray, lo: np.ndarray, hi: np.ndarray, model: PLSModel) -> list[pd.Series]:
    num = ((means - lo) * v) @ model.membership
    den = ((hi - lo) * v) @ model.membership
    return [pd.Series(row, index=model.lvs) for row in 100 * num / den]


def pls_path(data: pd.DataFrame, blocks, paths, *, scheme: str = "path", scaled: bool = True, modes=None,
             weights=None, missing: str = "mean", tol: float = 1e-7, max_iter: int = 300,
             item_range=None) -> PLSResult:
    """Estimate a PLS path model (Lohmöller's algorithm, as R's ``plspm`` and ``seminr``).

    Parameters
    ----------
    data : DataFrame with the items as columns.
    blocks : dict LV → list of item columns (the measurement model).
    paths : dict target LV → list of source LVs, a list of ``(source, target)`` pairs, or plspm's
        0/1 path matrix (row = target, column = source). The model must be recursive.
    scheme : inner weighting, ``"path"`` (seminr's default), ``"centroid"`` (plspm's default) or
        ``"factorial"``.
    scaled : standardise the items (True) or only centre them (False, plspm's ``scaled=FALSE``:
        items on a common scale keep their own variances).
    modes : ``"A"`` (reflective, default) / ``"B"`` (formative), one for all or a dict per LV.
    weights : survey weights (array, Series or column name); moments are weighted.
    missing : ``"mean"`` replaces a missing answer by the item's (weighted) mean, as seminr does;
        ``"listwise"`` uses complete respondents only.
    tol, max_iter : stop when ``Σ(|w_old| − |w_new|)² < tol`` (plspm: 1e-6 and 100).
    item_range : ends of the items' scales for the 0–100 index: ``(min, max)`` for all items, a
        dict item → (min, max), or None for the observed minimum and maximum.

    Returns
    -------
    :class:`PLSResult` with ``path_coefficients``, ``r2``, ``outer_weights``, ``loadings``,
    ``outer_model``, ``inner_summary``, ``effects``, ``gof``, ``scores``, ``index`` (0–100),
    ``reliability`` and :meth:`PLSResult.bootstrap`.

    Examples
    --------
    >>> fit = pls_path(df, {"QUAL": ["q1", "q2"], "SAT": ["s1", "s2"]}, {"SAT": ["QUAL"]})  # doctest: +SKIP
    >>> fit.path_coefficients                                                               # doctest: +SKIP
    """
    if scheme not in SCHEMES:
        raise PLSError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    model = PLSModel.specify(blocks, paths, modes)
    X, w, rows = _prepare(data, model, weights, missing)
    means, S_raw = _moments(X, w[:, None], np.average(X, axis=0, weights=w))
    S = _treated(S_raw, scaled)
    fit = _fit(S, model, scheme, tol, max_iter)
    if not fit.converged[0]:
        raise PLSError(f"the PLS iterations did not converge in {max_iter} iterations (tol={tol}); "
                       "check for blocks whose items are unrelated, or raise max_iter")
    items = model.items
    if item_range is None:
        lo, hi = X.min(axis=0), X.max(axis=0)
    elif isinstance(item_range, dict):
        missing_range = [i for i in items if i not in item_range]
        if missing_range:
            raise PLSError(f"item_range has no (min, max) for {missing_range}")
        lo = np.array([item_range[i][0] for i in items], dtype=float)
        hi = np.array([item_range[i][1] for i in items], dtype=float)
    else:
        lo, hi = np.full(len(items), float(item_range[0])), np.full(len(items), float(item_range[1]))
    return PLSResult(model, scheme, scaled, len(X), weights is not None, pd.Series(means[0], index=items),
                     pd.Series(np.sqrt(np.diag(S_raw[0])), index=items), pd.Series(lo, index=items),
                     pd.Series(hi, index=items), int(fit.iterations[0]), fit, X, w, rows,
                     {"tol": tol, "max_iter": max_iter, "S_raw": S_raw})


# ---- bootstrap --------------------------------------------------------------------------------------


@dataclass
class PLSBootstrap:
    """Bootstrap results: one tidy table per quantity with ``estimate, boot_mean, se, t, ci_low,
    ci_high``, plus the replicate values (``draws``: quantity → B × … array)."""

    paths: pd.DataFrame
    total_effects: pd.DataFrame
    r2: pd.DataFrame
    weights: pd.DataFrame
    loadings: pd.DataFrame
    index: pd.DataFrame
    replicates: int
    failed: int
    draws: dict = field(repr=False, default_factory=dict)


def _replicate_weights(result: PLSResult, replicates, seed):
    """n_used × B replicate weights and the variance conventions ``(scale, rscales, mse)``."""
    from .survey.design import Replicates, SurveyDesign

    n = len(result._rows)
    if isinstance(replicates, (int, np.integer)):
        if replicates < 2:
            raise PLSError("the bootstrap needs at least two replicates")
        rng = np.random.default_rng(seed)
        counts = np.zeros((n, int(replicates)))
        for b in range(0, int(replicates), 256):  # counts in blocks of replicates, vectorised within
            m = min(256, int(replicates) - b)
            draws = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
            counts[:, b:b + m] = np.bincount(draws.ravel(), minlength=n * m).reshape(m, n).T
        return counts * result._w[:, None], (1.0 / (int(replicates) - 1), np.ones(int(replicates)), False)
    if isinstance(replicates, SurveyDesign):
        full_index = replicates.data.index
        replicates = replicates.require_replicates().materialize(len(full_index))
        weights = pd.DataFrame(replicates.weights, index=full_index).loc[result._rows].to_numpy()
        return weights, (replicates.scale, replicates.rscales, replicates.mse)
    if isinstance(replicates, Replicates):
        replicates = replicates.materialize(len(result._rows))
        return replicates.weights, (replicates.scale, replicates.rscales, replicates.mse)
    weights = np.asarray(replicates, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != n:
        raise PLSError(f"replicate weights must be n × B with n = {n} respondents used")
    return weights, (1.0 / (weights.shape[1] - 1), np.ones(weights.shape[1]), False)


def _replicate_se(draws: np.ndarray, estimate, conventions, converged: np.ndarray) -> np.ndarray:
    """SEs from the replicate draws (B × p), replicates that did not converge left out (as NA)."""
    scale, rscales, mse = conventions
    draws = np.where(converged[:, None], draws, np.nan)
    return np.sqrt(replicate_variance(draws, estimate, scale=scale, rscales=rscales, mse=mse, warn=False))


def _replicate_fit(result: PLSResult, replicates, seed):
    """Replicate weights, their variance conventions, the replicate means and the stack of fits."""
    F, conventions = _replicate_weights(result, replicates, seed)
    means, S_raw = _moments(result._X, F, result.means.to_numpy())
    S = _treated(S_raw, result.scaled)
    fit = _fit(S, result.model, result.scheme, result._settings["tol"], result._settings["max_iter"])
    sds = np.sqrt(np.einsum("bpp->bp", S_raw))
    v = np.stack([s.to_numpy() for s in _raw_weights(fit.W, result.model, sds if result.scaled else None)])
    return F, conventions, means, fit, v


def _group_index(result: PLSResult, groups, replicates, seed, level) -> pd.DataFrame:
    model = result.model
    labels = groups.loc[result._rows].to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups)
    if len(labels) != len(result._rows):
        raise PLSError(f"groups need one label per respondent used ({len(result._rows)})")
    lo, hi = result.item_min.to_numpy(), result.item_max.to_numpy()
    point_v = result.unstandardized_weights.to_numpy()[None]
    reps = _replicate_fit(result, replicates, seed) if replicates is not None else None
    rows = []
    for g in pd.unique(labels):
        mask = labels == g
        w = result._w[mask]
        means = (w @ result._X[mask]) / w.sum()
        est = _index(point_v, means[None], lo, hi, model)[0]
        se = pd.Series(np.nan, index=model.lvs)
        if reps is not None:
            F, conventions, _, fit, v = reps
            Fg = F[mask]
            rep_means = (Fg.T @ result._X[mask]) / Fg.sum(axis=0)[:, None]
            draws = np.stack([s.to_numpy() for s in _index(v, rep_means, lo, hi, model)])
            se = pd.Series(_replicate_se(draws, est.to_numpy(), conventions, fit.converged), index=model.lvs)
        low, high = confint(est.to_numpy(), se.reindex(est.index).to_numpy(), level)
        for i, lv in enumerate(est.index):
            rows.append({"group": g, "lv": lv, "estimate": est[lv], "se": se[lv], "ci_low": low[i],
                         "ci_high": high[i], "n": int(mask.sum())})
    return pd.DataFrame(rows)


def _bootstrap(result: PLSResult, replicates, seed, level) -> PLSBootstrap:
    model = result.model
    F, conventions, means, fit, v = _replicate_fit(result, replicates, seed)
    ok = fit.converged
    index = np.stack([s.to_numpy() for s in _index(v, means, result.item_min.to_numpy(), result.item_max.to_numpy(), model)])
    point = result._fit
    lvs, items, a = model.lvs, model.items, model.adjacency
    arrows = [(j, k) for j in range(len(lvs)) for k in range(len(lvs)) if a[j, k]]
    endo = [k for k in range(len(lvs)) if a[:, k].any()]
    total_b = _total_effects(fit.paths)
    total_p = _total_effects(point.paths)[0]
    reach = [(j, k) for j in range(len(lvs)) for k in range(len(lvs)) if total_p[j, k] != 0]
    own = model.membership.astype(bool)
    p_idx, l_idx = np.nonzero(own)

    def table(draws, estimate, labels, names):
        se = _replicate_se(draws, estimate, conventions, ok)
        draws = draws[ok]
        lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
        frame = pd.DataFrame(labels, columns=names)
        frame["estimate"] = estimate
        frame["boot_mean"] = draws.mean(axis=0)
        frame["se"] = se
        frame["t"] = estimate / se
        frame["ci_low"], frame["ci_high"] = lo, hi
        return frame

    point_v = result.unstandardized_weights.to_numpy()
    out = PLSBootstrap(
        paths=table(np.stack([fit.paths[:, j, k] for j, k in arrows], axis=1), np.array([point.paths[0, j, k] for j, k in arrows]),
                    [(lvs[j], lvs[k]) for j, k in arrows], ["from", "to"]),
        total_effects=table(np.stack([total_b[:, j, k] for j, k in reach], axis=1), np.array([total_p[j, k] for j, k in reach]),
                            [(lvs[j], lvs[k]) for j, k in reach], ["from", "to"]),
        r2=table(fit.r2[:, endo], point.r2[0, endo], [(lvs[k],) for k in endo], ["lv"]),
        weights=table(fit.W[:, p_idx, l_idx], point.W[0, p_idx, l_idx], [(lvs[l], items[p]) for p, l in zip(p_idx, l_idx)],
                      ["lv", "item"]),
        loadings=table(fit.loadings[:, p_idx, l_idx], point.loadings[0, p_idx, l_idx],
                       [(lvs[l], items[p]) for p, l in zip(p_idx, l_idx)], ["lv", "item"]),
        index=table(index, _index(point_v[None], result.means.to_numpy()[None], result.item_min.to_numpy(),
                                  result.item_max.to_numpy(), model)[0].to_numpy(), [(lv,) for lv in lvs], ["lv"]),
        replicates=int(ok.sum()), failed=int((~ok).sum()),
        draws={"paths": fit.paths, "r2": fit.r2, "index": index, "weights": fit.W},
    )
    if out.failed:
        warnings.warn(f"{out.failed} of {len(ok)} bootstrap replicates did not converge and were left out", stacklevel=3)
    return out


def _total_effects(B: np.ndarray) -> np.ndarray:
    """Total effects ``Σ_{m ≥ 1} Bᵐ`` (direct plus all indirect paths) for a stack of path matrices."""
    total, power = np.zeros_like(B), np.broadcast_to(np.eye(B.shape[-1]), B.shape)
    for _ in range(B.shape[-1]):
        power = power @ B
        total = total + power
    return total
