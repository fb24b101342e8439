"""The asymmetric first stage of rescore mode (issue 19): pure functions for its arithmetic, and the
NumPy oracle of the native kernel (``kernel.asym_topk``).

Rescore mode ranks by rho, the correlation of the query with a stored vector (rescore.py), i.e.
the inner product of the two mean-centred unit vectors q' and x'. The first stage estimates it from
x's 1-bit code c alone, after RaBitQ (Gao and Long, SIGMOD 2024), with MIB codes in place of its
random rotation. With s = 2c - 1 and r = s - mean(s) (so sum(r) = 0), the unbiased estimator is

    est = <q', r> / <r, x'>                                     (RaBitQ's <q, x_bar> / <x_bar, x>)

with one corrective scalar per item, ``alpha = 1 / <r, x'>``, computed at write time. The query is
quantized to 4 bits per component, q' ~ lo + step * u with levels u in 0..15, so that

    <q_hat, r> = (2 step / D) * (D * A - U * popcount(c)),  A = sum_d u_d c_d,  U = sum_d u_d

and A is a sum over the code's nibbles of a 16-entry table of the query's level sums (every kernel
path; equivalently four AND + popcount passes of its bit planes): integer arithmetic, exact on
every path.

The error of est is close to Gaussian with the scale RaBitQ derives,
``sigma = sqrt(1 - cos^2) / cos / sqrt(D - 1)``, cos = <r, x'> / ||r|| (the second corrective
scalar; measured here: the z-scores of the peer suite's and our own data have standard deviation
1.00-1.01). The first stage ranks by the upper bound ``key = est + BOUND_EPS * sigma``: an item is
above its key with probability ~2.9% (one-sided Gaussian at 1.9 sigma), which
:func:`adaptive_cut` turns into a candidate count per query.

Every key is computed in float32 as ``scale * (alpha * I) + eps * sigma`` (I = D*A - U*pop, two
products and a sum, no fused multiply-add), the same on every path and here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLANES = 4          # bits per query component (levels 0..15); the kernel's kPlanes
BOUND_EPS = 1.9     # the bound's multiple of sigma (RaBitQ's epsilon_0): ~97.1% one-sided per item
_COS_FLOOR = 0.05   # below this alignment of code and vector the estimate is not used (alpha 0)
_CHUNK_VALUES = 1 << 22  # values per pass when computing correctives: float64 temporaries of 32 MB each


@dataclass(frozen=True)
class QueryLevels:
    """Q queries quantized for the kernel: each mean-centred unit query as levels."""

    levels: np.ndarray     # uint8[Q, D], 0..15
    scale: np.ndarray      # float32[Q]: 2 * step / D
    level_sum: np.ndarray  # int32[Q]: U


def centred_unit(x: np.ndarray) -> np.ndarray:
    """Rows minus their mean, scaled to unit length (a constant row stays all zero): the vectors
    whose inner product is rho."""
    v = np.asarray(x, np.float64)
    v = v - v.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", v, v))
    return np.divide(v, norm[:, None], out=np.zeros_like(v), where=norm[:, None] > 0)


def quantize(queries: np.ndarray) -> QueryLevels:
    """Each query's centred unit vector as levels 0..15 between its smallest and largest component
    (``lo + step * u``, rounded to the nearest level)."""
    q = centred_unit(queries)
    dims = q.shape[1]
    lo, hi = q.min(axis=1), q.max(axis=1)
    step = (hi - lo) / (2**PLANES - 1)
    safe = np.where(step > 0, step, 1.0)
    levels = np.clip(np.rint((q - lo[:, None]) / safe[:, None]), 0, 2**PLANES - 1).astype(np.uint8)
    return QueryLevels(np.ascontiguousarray(levels), (2.0 * step / dims).astype(np.float32),
                       levels.sum(axis=1, dtype=np.int64).astype(np.int32))


def correctives(vectors: np.ndarray, codes: np.ndarray, dims: int) -> np.ndarray:
    """float32[N, 2]: (alpha, sigma) of each stored vector (float[N, D], as stored: float16) and its
    code (uint64[N, W]). A constant vector (rho 0 with anything) gets (0, 0): its key is exactly 0;
    a code nearly orthogonal to its vector gets (0, 1): a bound no correlation exceeds.

    Since x' sums to zero, <r, x'> = 2 <c, x'>, and ||r||^2 = D - (2 pop - D)^2 / D: one product
    of the bits with the centred vector per row, no +-1 matrix."""
    out = np.zeros((len(codes), 2), np.float32)
    chunk = max(1, _CHUNK_VALUES // max(dims, 1))
    for a in range(0, len(codes), chunk):
        raw = np.asarray(vectors[a : a + chunk], np.float32)
        v = raw.astype(np.float64)
        v -= v.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("nd,nd->n", v, v))
        bits = np.unpackbits(np.ascontiguousarray(codes[a : a + chunk]).view(np.uint8), axis=1,
                             bitorder="little")[:, :dims]
        pop = bits.sum(axis=1, dtype=np.int64)
        constant = (raw.max(axis=1) == raw.min(axis=1)) | (norm == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rx = 2.0 * np.einsum("nd,nd->n", bits, v, dtype=np.float64) / norm  # <r, x'>
            rr = np.sqrt(dims - (2.0 * pop - dims) ** 2 / dims)                  # ||r||
            cos = np.where(rr > 0, rx / rr, 0.0)
            good = ~constant & (cos >= _COS_FLOOR)
            out[a : a + len(raw), 0] = np.where(good, 1.0 / rx, 0.0)
            out[a : a + len(raw), 1] = np.where(good, np.sqrt(np.maximum(1.0 - cos * cos, 0.0)) / cos / np.sqrt(dims - 1),
                                                np.where(constant, 0.0, 1.0))
    return out


def keys(query: QueryLevels, codes: np.ndarray, scalars: np.ndarray, dims: int, eps: float = BOUND_EPS) -> np.ndarray:
    """float32[Q, N]: the kernel's key of every stored code for every query, by the module's formula
    (A from unpacked bits; float32 arithmetic op for op as the kernel): the oracle it is tested against."""
    bits01 = np.unpackbits(np.ascontiguousarray(codes).view(np.uint8), axis=1, bitorder="little")[:, :dims]
    a = query.levels.astype(np.int64) @ bits01.T.astype(np.int64)             # A  [Q, N]
    pop = bits01.sum(axis=1, dtype=np.int64)
    i = (dims * a - query.level_sum.astype(np.int64)[:, None] * pop[None, :]).astype(np.int32)
    p = scalars[:, 0].astype(np.float32)[None, :] * i.astype(np.float32)
    e = np.float32(eps) * scalars[:, 1].astype(np.float32)
    return query.scale.astype(np.float32)[:, None] * p + e[None, :]


def estimate(query: QueryLevels, codes: np.ndarray, scalars: np.ndarray, dims: int) -> np.ndarray:
    """float32[Q, N]: est = key without the bound, the estimate of rho (for measurements)."""
    return keys(query, codes, scalars, dims, eps=0.0)


def adaptive_cut(key: np.ndarray, rho: np.ndarray, k: int) -> int | None:
    """How many of a query's first-stage candidates (``key`` descending, ``rho`` their re-scored
    correlations) the bound needs: the fewest whose k best exceed the key of the last one taken,
    whole tie groups of keys (every unseen item's rho is then below its key, so below those k,
    at the bound's confidence). None if no prefix proves it (``len(key) <= k``: all of them).

    Taking the first n items (a tie group ending at n) is proven when at least k of them have rho >
    key[n - 1]; an item i counts from the first n where that holds and i is taken, so one
    search and one cumulative count over all n."""
    n = key.size
    if n <= k:
        return None  # k rows cannot both be taken and leave one to bound
    neg = -np.asarray(key, np.float64)                      # ascending
    first_below = np.searchsorted(neg, -np.asarray(rho, np.float64), side="right")  # first j: key[j] < rho
    group_start = np.searchsorted(neg, neg, side="left")     # first j of the item's own tie group
    counts = np.cumsum(np.bincount(np.maximum(first_below, group_start), minlength=n + 1))[:n]
    group_end = np.searchsorted(neg, neg, side="right")      # one past the tie group of each j
    proven = np.flatnonzero(counts >= k)
    return int(group_end[proven[0]]) if proven.size else None
