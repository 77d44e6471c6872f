"""Replicate weights of the balanced repeated replication family: BRR and Fay's BRR for designs
with two PSUs per stratum, on R's Hadamard matrices (``survey::brrweights``, ``hadamard``,
``paley``).

Replicate r multiplies the weights of one PSU of each stratum pair by ``2 − ρ`` and of the other
by ``ρ`` (ρ = 0: plain BRR), which PSU by the sign of the pair's row in a Hadamard matrix of order
≥ pairs + 1. ``scale = 1 / (R (1 − ρ)²)``, ``rscales = 1`` (Wolter 2007, ch. 3; Judkins 1990).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .design import DesignError, Replicates, SurveyDesign, _recalibrated

__all__ = ["brr_weights", "hadamard", "paley"]

#: R survey's pre-computed Hadamard matrices (orders 4, 16, 28 and 36; 0/1 coded), as ``survey:::hadamard.list``.
_PRECOOKED = (
    (
        "1111",
        "1010",
        "1100",
        "1001",
    ),
    (
        "1111111111111111",
        "1010101010101010",
        "1100110011001100",
        "1001100110011001",
        "1111000011110000",
        "1010010110100101",
        "1100001111000011",
        "1001011010010110",
        "1111111100000000",
        "1010101001010101",
        "1100110000110011",
        "1001100101100110",
        "1111000000001111",
        "1010010101011010",
        "1100001100111100",
        "1001011001101001",
    ),
    (
        "1111111111111111111111111111",
        "1001110001110001110001111000",
        "1000001111001101001101111000",
        "1000001110110010111001100110",
        "1001101000001111100011010110",
        "1001010100101100010110101110",
        "1000110011010010001110011110",
        "0101100010101010011111110000",
        "0100010110110101100111010100",
        "0100011011001011110010101100",
        "0101011000010111011101001010",
        "0100101101100100111010011010",
        "0101100101011001101100100110",
        "0010110100011110101011101000",
        "0011011001100110101100110100",
        "0010101100111011010100011100",
        "0011000111010111010010110010",
        "0011001011111000100111001010",
        "0010110011101101011001000110",
        "1110101001010100010111100100",
        "1111000101100011001011001100",
        "1111000010011100111000011100",
        "1110010101001010110101010010",
        "1110011000111001001010110010",
        "1110100010100111100100101010",
        "1101111111111110000000000000",
        "1011111110000001111110000000",
        "0111111110000000000001111110",
    ),
    (
        "111111111111111111111111111111111111",
        "010111000111110111001000010101100100",
        "101110001111101110010000101011001000",
        "011100011111011100100001010110010010",
        "111000111110111001000010101100100100",
        "110001111101110010000101011001001010",
        "100011111011100100001010110010010110",
        "000111110111001000010101100100101110",
        "001111101110010000101011001001011100",
        "011111011100100001010110010010111000",
        "111110111001000010101100100101110000",
        "111101110010000101011001001011100010",
        "111011100100001010110010010111000110",
        "110111001000010101100100101110001110",
        "101110010000101011001001011100011110",
        "011100100001010110010010111000111110",
        "111001000010101100100101110001111100",
        "110010000101011001001011100011111010",
        "100100001010110010010111000111110110",
        "001000010101100100101110001111101110",
        "010000101011001001011100011111011100",
        "100001010110010010111000111110111000",
        "000010101100100101110001111101110010",
        "000101011001001011100011111011100100",
        "001010110010010111000111110111001000",
        "010101100100101110001111101110010000",
        "101011001001011100011111011100100000",
        "010110010010111000111110111001000010",
        "101100100101110001111101110010000100",
        "011001001011100011111011100100001010",
        "110010010111000111110111001000010100",
        "100100101110001111101110010000101010",
        "001001011100011111011100100001010110",
        "010010111000111110111001000010101100",
        "100101110001111101110010000101011000",
        "001011100011111011100100001010110010",
    ),
)
_SIZES = np.array([4, 16, 28, 36])


def _precooked(i: int) -> np.ndarray:
    return np.array([[int(c) for c in row] for row in _PRECOOKED[i]], dtype=np.int8)


def _double(h: np.ndarray) -> np.ndarray:
    return np.block([[h, h], [h, 1 - h]])


def _primes_3_mod_4(limit: int = 7919) -> np.ndarray:
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for k in range(2, int(limit ** 0.5) + 1):
        if sieve[k]:
            sieve[k * k::k] = False
    p = np.flatnonzero(sieve)
    return p[(p + 1) % 4 == 0]


def paley(n: int, nmax: int | None = None, prime: int | None = None) -> np.ndarray | None:
    """Paley's construction of a 0/1 Hadamard matrix of order p + 1 from the quadratic residues
    of a prime p ≡ 3 (mod 4) — exactly R's ``survey::paley`` (``None`` where it gives ``NULL``)."""
    small = _primes_3_mod_4()
    nmax = 2 * n if nmax is None else nmax
    if prime is None:
        nceil = nn = n + 4 - (n % 4)
        if (n % 4) + 4 == (n % 8):
            while not nn % 8:
                nn //= 2
            if nn - 1 in small:
                m = paley(nn - 1, prime=nn - 1)
                while nn < nceil:
                    m = _double(m)
                    nn *= 2
                return m
        if n > small.max():
            return None
        p = int(small[small >= n].min())
        if p + 1 > nceil + 4 and nceil + 4 < nmax:
            return paley(nceil + 3)
        if p > nmax:
            return None
    else:
        p = int(prime)
    m = np.add.outer(np.arange(p), np.arange(p)) % p
    residues = {0, 1} | {(i * i) % p for i in range(2, (p - 1) // 2 + 1)}
    m = np.where(np.isin(m, list(residues)), 0, 1)
    out = np.ones((p + 1, p + 1), dtype=np.int8)
    out[1:, 1:] = m
    return out


def hadamard(n: int) -> np.ndarray:
    """A 0/1 Hadamard matrix with at least ``n + 1`` rows, the one R's ``survey:::hadamard(n)``
    returns (so that BRR replicates agree with R's column for column)."""
    m = n - n % 4
    fits = np.flatnonzero((m < _SIZES) & (m + 4 >= _SIZES))
    if len(fits):
        return _precooked(int(fits.min()))
    if (m < _SIZES).all():
        return _precooked(0)
    sizes = _SIZES * 2 ** np.maximum(0, np.ceil(np.log2((n + 1) / _SIZES))).astype(int)
    best = int(np.argmin(sizes - n))
    h = None
    if sizes[best] - n > 4:
        h = paley(n, int(sizes[best]))
    if h is None:
        h = _precooked(best)
        for _ in range(int(np.ceil(np.log2(sizes[best] / _SIZES[best])))):
            h = _double(h)
    return h


def brr_weights(design: SurveyDesign, *, fay_rho: float = 0.0, hadamard_matrix=None,
                mse: bool = False) -> SurveyDesign:
    """Balanced repeated replication (``fay_rho=0``) or Fay's BRR, as
    ``as.svrepdesign(design, type="BRR")`` / ``type="Fay", fay.rho=``.

    Every stratum must hold exactly two PSUs, or an even number (split into pairs in the order the
    PSUs appear, as R's ``large="split"``). An FPC is dropped, as R does. On a calibrated design
    the replicates are re-calibrated by every recorded step. The Hadamard matrix is R's
    (:func:`hadamard`) unless ``hadamard_matrix`` (0/1 or ±1, at least pairs + 1 rows) is given.
    """
    if not 0 <= fay_rho < 1:
        raise DesignError(f"fay_rho must be in [0, 1), got {fay_rho!r}")
    psu, strata = design._psu_codes, design._strata_codes
    n_psu = int(psu.max()) + 1
    first_row = np.full(n_psu, design.n)
    np.minimum.at(first_row, psu, np.arange(design.n))
    psu_stratum = strata[first_row]
    sizes = np.bincount(psu_stratum)
    if (sizes < 2).any() or (sizes % 2).any():
        h = int(np.flatnonzero((sizes < 2) | (sizes % 2 == 1))[0])
        raise DesignError(f"BRR needs two PSUs in every stratum (or an even number, split into pairs); stratum "
                          f"{design._stratum_label(0, h)!r} has {sizes[h]}")
    # PSUs ordered by stratum, then by first appearance in the data (R's order(strata, match))
    order = np.lexsort((first_row, psu_stratum))
    position = np.empty(n_psu, dtype=np.int64)
    position[order] = np.arange(n_psu)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = position - start[psu_stratum]
    pair_offset = np.concatenate([[0], np.cumsum(sizes // 2)[:-1]])
    pair = pair_offset[psu_stratum] + within // 2          # 0-based pair index, R's weightstrata − 1
    first = within % 2 == 0                                  # R's weights[, 1] == 1
    n_pairs = int(pair.max()) + 1
    if hadamard_matrix is None:
        H = hadamard(n_pairs)
    else:
        H = np.asarray(hadamard_matrix)
        values = np.unique(H)
        if H.ndim != 2 or H.shape[0] < n_pairs + 1 or len(values) != 2:
            raise DesignError(f"hadamard_matrix must be a two-valued matrix with at least {n_pairs + 1} rows")
        H = (H != values[0]).astype(np.int8)
    # replicate r: H[1 + pair, r] == 1 → the pair's first PSU gets 2 − ρ and the second ρ; 0 → the reverse
    pick_first = H[1 + pair, :] == 1                           # n_psu × R
    take = np.where(first[:, None] == pick_first, 2 - fay_rho, fay_rho)
    R = H.shape[1]
    reps = design.base_weights[:, None] * take[psu]
    kind = "brr" if fay_rho == 0 else "fay"
    rep = _recalibrated(design, Replicates(reps, kind, 1.0 / (R * (1 - fay_rho) ** 2), np.ones(R), mse))
    return replace(design, replicates=rep)
