"""The asymmetric first-stage estimator (issue 19), as the NumPy oracle its kernels will be
tested against: pure functions, nothing stored yet.

A stored unit vector x with 1-bit code c in {0,1}^D is stood in for by s = 2c - 1 with one
corrective scalar per item, the least-squares scale ``alpha = <x, s - m> / ||s - m||^2`` (m: the
mean of s; MIB codes are balanced, so m is ~0). The query q is quantized to B bits per component,
``q ~ lo + step * u`` with u in [0, 2^B), and split into B bit planes u_b. Then

    <q_hat, s> = lo * sum(s) + step * sum_b 2^b * (2 * popcount(u_b AND c) - popcount(u_b))

(sum(s) = 2 * popcount(c) - D), i.e. B AND + popcount passes over the codes: what the kernel
computes. The estimate of <q, x> is ``alpha * (<q_hat, s> - m * sum(q_hat))``. After RaBitQ
(Gao and Long, SIGMOD 2024), with MIB codes in place of its random rotation.
benchmarks/asymmetric_proto.py measures what it buys; this module is its exact arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QueryPlanes:
    """Q queries quantized to ``bits`` bit planes, packed like the stored codes."""

    planes: np.ndarray  # uint64[Q, bits, W]: plane b holds bit b of each component's level
    lo: np.ndarray      # float64[Q]: the level 0 value
    step: np.ndarray    # float64[Q]: the value of one level
    levels: np.ndarray  # int64[Q, D]: each component's level u (the planes unpacked)


def _pack(bits01: np.ndarray, words: int) -> np.ndarray:
    """bool[..., D] -> uint64[..., W], bit i of the vector = bit i mod 64 of word i div 64."""
    d = bits01.shape[-1]
    padded = np.zeros((*bits01.shape[:-1], words * 64), np.uint8)
    padded[..., :d] = bits01
    return np.packbits(padded, axis=-1, bitorder="little").view(np.uint64)


def quantize_queries(queries: np.ndarray, bits: int, words: int) -> QueryPlanes:
    """Each query's components as levels 0..2^bits - 1 between its minimum and maximum."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be 1 to 8, got {bits}")
    q = np.asarray(queries, np.float64)
    lo, hi = q.min(axis=1), q.max(axis=1)
    step = np.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    levels = np.rint((q - lo[:, None]) / step[:, None]).astype(np.int64)
    planes = np.stack([_pack(((levels >> b) & 1).astype(bool), words) for b in range(bits)], axis=1)
    return QueryPlanes(planes, lo, step, levels)


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of uint64 words (summed over the last axis)."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def corrective(vectors: np.ndarray, codes: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item (alpha, m): the least-squares scale of s - m onto x, and the mean m of s = 2c - 1."""
    s = 2.0 * np.unpackbits(codes.view(np.uint8), axis=1, bitorder="little")[:, :dims].astype(np.float64) - 1.0
    m = s.mean(axis=1)
    centred = s - m[:, None]
    alpha = np.einsum("nd,nd->n", np.asarray(vectors, np.float64), centred) / np.einsum("nd,nd->n", centred, centred)
    return alpha, m


def estimate(query: QueryPlanes, codes: np.ndarray, alpha: np.ndarray, m: np.ndarray, dims: int) -> np.ndarray:
    """float64[Q, N]: the estimated inner product of each query with each stored item, from AND +
    popcount per plane exactly as the header's formula (the kernel's arithmetic)."""
    code_pop = popcount(codes)                                  # popcount(c) per item
    sum_s = 2 * code_pop - dims                                 # sum of s = 2c - 1
    bits = query.planes.shape[1]
    dot = np.zeros((query.planes.shape[0], codes.shape[0]), np.float64)
    for b in range(bits):  # B passes: the planes are few (2-4), the items many
        plane = query.planes[:, b, :]                           # uint64[Q, W]
        both = popcount(plane[:, None, :] & codes[None, :, :])  # popcount(u_b AND c)  [Q, N]
        dot += (2.0**b) * (2 * both - popcount(plane)[:, None])
    q_dot_s = query.lo[:, None] * sum_s[None, :] + query.step[:, None] * dot
    q_sum = query.lo * dims + query.step * query.levels.sum(axis=1)  # sum of q_hat
    return alpha[None, :] * (q_dot_s - m[None, :] * q_sum[:, None])
