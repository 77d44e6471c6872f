"""Bootstrap replicate weights held as what they are made of: drawn once, re-calibrated once,
read by every consumer.

A re-raked Rao–Wu bootstrap replicate weight is a product of three small things (Rao & Wu 1988;
Lumley 2010, §2.3 and §7.4):

    W[i, b] = r[k(i), b] · d_i · n_h / (n_h − 1) · Π_s F_s[c_s(i), b]

* ``r[k, b]``: how many times PSU k was drawn in replicate b — a small integer (n_h − 1 draws
  among n_h PSUs: about Poisson(1)), held in one byte;
* ``d_i · n_h / (n_h − 1)``: the respondent's weight before calibration, rescaled;
* ``F_s[c, b]``: the factor calibration step s gave cell c in replicate b. Raking multiplies every
  respondent of a joint cell (a category of every margin) by the same factor, and so does
  post-stratification; a linear calibration's ``g = 1 + xᵀλ`` is kept per respondent.

For 100 cities × 2,000 respondents × 1,000 replicates that is 200 MB of counts and 64 MB of raking
factors instead of 1.6 GB of weights. The store is built once, a block of rows at a time (a block
holds whole strata and whole calibration groups, so each block is drawn and calibrated on its
own: a city's raking converges when the city does), and :meth:`ReplicateStore.blocks` hands every
consumer the full weights of one block at a time, products of the same numbers in the same order,
so that the weights are the same bit for bit however often, and in whatever layout, they are read.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["ReplicateStore", "blas_threads", "calibration_blocks", "draw_counts", "ordered_map"]

#: At most this many threads draw, calibrate and generate blocks of replicates at once.
MAX_WORKERS = 4


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                      # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def ordered_map(fn: Callable, items: Iterable, workers: int | None = None) -> Iterator:
    """``fn(item)`` for every item, in the items' order, computed on a few threads with at most
    ``workers`` results waiting (so that blocks of replicate weights never pile up in memory).
    NumPy releases the interpreter lock in its array work, so blocks are drawn, calibrated and
    generated on every core; each result is computed as it would be alone, so the numbers do not
    depend on the threads."""
    workers = _workers() if workers is None else workers
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class _Block:
    """One block of rows: ``rows`` in the design, ``psu`` (per row: its row of ``counts``; ``None``
    when every row is its own PSU), ``counts`` (PSUs × B draws), ``base`` (per row:
    ``d_i n_h / (n_h − 1)``) and ``steps`` (per calibration step: the cell of each row and the
    cells × B factors). ``folded``: ``base`` is one number for the whole block (equal weights within
    a city) and is already multiplied into the first step's factors, so that generating the block
    is one gather and one product."""

    rows: slice | np.ndarray
    psu: np.ndarray | None
    counts: np.ndarray
    base: np.ndarray
    steps: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    folded: bool = False

    def _counts(self) -> np.ndarray:
        return self.counts if self.psu is None else self.counts[self.psu]

    def drawn(self) -> np.ndarray:
        """The block's replicate weights before calibration (rows × B)."""
        return self._counts() * self.base[:, None]

    def weights(self) -> np.ndarray:
        """The block's replicate weights after every calibration step (rows × B)."""
        if self.folded:
            cells, factors = self.steps[0]
            w = factors[cells]
            w *= self._counts()
            rest = self.steps[1:]
        else:
            w = self.drawn()
            rest = self.steps
        for cells, factors in rest:
            w *= factors[cells]
        return w

    def with_step(self, cells: np.ndarray, factors: np.ndarray) -> "_Block":
        """The block with one more calibration step (the base folded into it when it is the first
        and the base is one number)."""
        if not self.steps and len(self.base) and (self.base == self.base[0]).all():
            return _Block(self.rows, self.psu, self.counts, self.base, ((cells, factors * self.base[0]),), True)
        return _Block(self.rows, self.psu, self.counts, self.base, self.steps + ((cells, factors),), self.folded)

    @property
    def nbytes(self) -> int:
        return self.counts.nbytes + self.base.nbytes + sum(c.nbytes + f.nbytes for c, f in self.steps)


@dataclass(frozen=True)
class ReplicateStore:
    """Bootstrap replicates of a design in compact form (module docstring): per block of rows, the
    resampling counts, the rescaled weights before calibration and the calibration factors."""

    n: int
    n_replicates: int
    parts: tuple[_Block, ...]

    def blocks(self) -> Iterator[tuple[slice | np.ndarray, np.ndarray]]:
        """``(rows, rows × B weights)`` for every block, covering every respondent once."""
        yield from ordered_map(lambda part: (part.rows, part.weights()), self.parts)

    def map_blocks(self, fn: Callable[[object, np.ndarray], object]) -> Iterator:
        """``fn(rows, rows × B weights)`` for every block, generated and computed on a few threads
        (:func:`ordered_map`), results in block order."""
        return ordered_map(lambda part: fn(part.rows, part.weights()), self.parts)

    def materialize(self) -> np.ndarray:
        """The n × B matrix of replicate weights."""
        out = np.empty((self.n, self.n_replicates))
        for rows, w in self.blocks():
            out[rows] = w
        return out

    def calibrated(self, replay: Callable) -> "ReplicateStore":
        """The store with one more calibration step: ``replay.factors(rows, W)`` gives, for each
        block's current weights, the cell of each row and the cells × B factors."""
        def step(part: _Block) -> _Block:
            return part.with_step(*replay.factors(part.rows, part.weights()))

        return ReplicateStore(self.n, self.n_replicates, tuple(ordered_map(step, self.parts)))

    @property
    def nbytes(self) -> int:
        """Memory held by the store."""
        return sum(p.nbytes for p in self.parts)

    @classmethod
    def draw(cls, blocks: Sequence[slice | np.ndarray], strata: np.ndarray, psu: np.ndarray, weights: np.ndarray,
             replicates: int, seed: int, replays: Sequence[Callable] = ()) -> "ReplicateStore":
        """Draw the Rao–Wu bootstrap (each stratum from its own stream, seeded by ``seed`` and the
        stratum) block by block and pass each block through the calibration ``replays`` in order."""
        def build(rows) -> _Block:
            part = _drawn_block(rows, strata, psu, weights, replicates, seed)
            if not replays:
                return part
            w = part.drawn()
            for k, replay in enumerate(replays):
                cells, factors = replay.factors(rows, w)
                part = part.with_step(cells, factors)
                if k < len(replays) - 1:
                    w *= factors[cells]
            return part

        parts = list(ordered_map(build, blocks))
        return cls(len(strata), int(replicates), tuple(parts))


#: Replicates counted at a time: their counters (PSUs × chunk) stay in the processor's cache.
COUNT_CHUNK = 128


def draw_counts(rng: np.random.Generator, n_psu: int, replicates: int) -> np.ndarray:
    """How many times each of ``n_psu`` PSUs is drawn in each replicate, ``n_psu − 1`` draws with
    replacement per replicate (Rao–Wu's m_h = n_h − 1): an ``n_psu × replicates`` array of small
    unsigned integers (one byte unless some count exceeds 255). The draws are ``rng.integers(0, n_psu, (n_psu − 1, replicates))``."""
    draws = rng.integers(0, n_psu, size=(n_psu - 1, replicates), dtype=np.int64)
    dtype = np.uint8 if n_psu <= np.iinfo(np.uint8).max + 1 else np.uint16 if n_psu <= 65_536 else np.uint32
    counts = np.empty((n_psu, replicates), dtype=dtype)
    columns = np.arange(COUNT_CHUNK, dtype=np.int64)
    for start in range(0, replicates, COUNT_CHUNK):
        chunk = draws[:, start:start + COUNT_CHUNK]
        width = chunk.shape[1]
        # counter of PSU k in the chunk's replicate c: k · width + c
        counted = np.bincount((chunk * width + columns[:width]).ravel(), minlength=n_psu * width)
        counts[:, start:start + width] = counted.reshape(n_psu, width)
    if counts.dtype != np.uint8 and counts.max(initial=0) <= np.iinfo(np.uint8).max:
        counts = counts.astype(np.uint8)          # about Poisson(1): one byte almost always holds it
    return counts


def _drawn_block(rows, strata: np.ndarray, psu: np.ndarray, weights: np.ndarray, replicates: int,
                 seed: int) -> _Block:
    from .design import DesignError

    index = np.arange(rows.start or 0, rows.stop) if isinstance(rows, slice) and rows.stop is not None \
        else np.arange(len(strata))[rows]
    block_strata = strata[rows]
    present = np.unique(block_strata)
    base = np.empty(len(index))
    if len(present) == 1:
        pieces = [(int(present[0]), slice(None))]
    else:
        pieces = [(int(h), np.flatnonzero(block_strata == h)) for h in present]
    counts, local_psu, offset = [], np.empty(len(index), dtype=np.int64), 0
    for h, where in pieces:
        rng = np.random.default_rng([seed, h])
        local = np.unique(psu[index[where]], return_inverse=True)[1].ravel()
        n_h = int(local.max()) + 1
        if n_h < 2:
            raise DesignError("the bootstrap needs at least two PSUs in every stratum")
        counts.append(draw_counts(rng, n_h, replicates))
        local_psu[where] = local + offset
        offset += n_h
        base[where] = weights[index[where]] * (n_h / (n_h - 1))
    counts = counts[0] if len(counts) == 1 else np.vstack(counts)
    identity = len(local_psu) == counts.shape[0] and (local_psu == np.arange(len(local_psu))).all()
    return _Block(rows, None if identity else local_psu, counts, base)


def calibration_blocks(strata: np.ndarray, groups: Sequence[np.ndarray]) -> list:
    """Blocks of rows that hold whole strata and whole groups of every calibration step: the
    connected components of the graph joining each row's stratum to its calibration groups (with
    cities as strata and raking within cities: the cities). As
    :func:`satisfaction.survey.design.group_blocks`, slices where a block's rows are contiguous."""
    from .design import group_blocks

    codes = np.asarray(strata, dtype=np.int64)
    for g in groups:
        g = np.asarray(g, dtype=np.int64)
        k, m = int(codes.max()) + 1, int(g.max()) + 1
        # nodes: current blocks, then this step's groups; an edge for every row
        graph = sparse.coo_matrix((np.ones(len(codes)), (codes, k + g)), shape=(k + m, k + m))
        _, labels = connected_components(graph, directed=False)
        codes = np.unique(labels[codes], return_inverse=True)[1].ravel()
    return group_blocks(codes)


class blas_threads:
    """Context manager: BLAS on ``limit`` threads (default 1) for the thin products over replicate
    blocks (a few dozen columns of values against the replicates): there a second thread costs
    more in synchronisation than it gains, and on a shared machine it waits for a busy core
    (threadpoolctl; the process's setting is restored on exit)."""

    _controller = None

    def __init__(self, limit: int = 1):
        self.limit = limit
        self._context = None

    def __enter__(self):
        try:
            if blas_threads._controller is None:
                from threadpoolctl import ThreadpoolController

                blas_threads._controller = ThreadpoolController()
            self._context = blas_threads._controller.limit(limits=self.limit, user_api="blas")
            self._context.__enter__()
        except ImportError:                     # threadpoolctl is a dependency; without it, BLAS's default
            self._context = None
        return self

    def __exit__(self, *exc):
        if self._context is not None:
            self._context.__exit__(*exc)
        return False
