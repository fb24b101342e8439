"""Information-theoretic score (ITS) and relevance labels.

Pure, vectorised functions; formulas from DESIGN.md §1.3, after arXiv 2601.11557.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-10

# (lower bound, label), highest first; cut points are sqrt(0.8), sqrt(0.4), ... sqrt(0.01).
LABELS: tuple[tuple[float, str], ...] = (
    (0.894, "Close Match"),
    (0.632, "Very High Relevance"),
    (0.447, "High Relevance"),
    (0.316, "Good Relevance"),
    (0.224, "Low Relevance"),
    (0.1, "Very Low Relevance"),
    (float("-inf"), "Irrelevant"),
)


def contingency(hamming: np.ndarray, pop_q: np.ndarray | int, pop_d: np.ndarray, dims: int) -> tuple[np.ndarray, ...]:
    """2x2 table of bit agreement as fractions of D (DESIGN §1.2).

    a = |q AND d|/D = (|q|+|d|-H)/(2D); b = |q|/D - a; c = |d|/D - a; d' = 1-a-b-c.
    """
    h = np.asarray(hamming, dtype=np.float64)
    pq = np.asarray(pop_q, dtype=np.float64)
    pd = np.asarray(pop_d, dtype=np.float64)
    a = (pq + pd - h) / (2.0 * dims)
    b = pq / dims - a
    c = pd / dims - a
    return a, b, c, 1.0 - a - b - c


def its(hamming: np.ndarray, pop_q: np.ndarray | int, pop_d: np.ndarray, dims: int) -> np.ndarray:
    """ITS = clip((C+ - C-) / H_d, 0, 1), natural logs, cells clamped to >= 1e-10.

    C+ = a ln(a/(p1. p.1)) + d' ln(d'/(p0. p.0)); C- = b ln(b/(p1. p.0)) + c ln(c/(p0. p.1));
    H_d = -p.1 ln p.1 - p.0 ln p.0 (entropy of the document bits); 0 when H_d <= 1e-10.
    """
    a, b, c, d = (np.maximum(x, _EPS) for x in contingency(hamming, pop_q, pop_d, dims))
    p1_, p0_ = a + b, c + d  # query marginals
    p_1, p_0 = a + c, b + d  # document marginals
    agree = a * np.log(a / (p1_ * p_1)) + d * np.log(d / (p0_ * p_0))
    disagree = b * np.log(b / (p1_ * p_0)) + c * np.log(c / (p0_ * p_1))
    h_doc = -p_1 * np.log(p_1) - p_0 * np.log(p_0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(h_doc > _EPS, (agree - disagree) / h_doc, 0.0)
    return np.clip(score, 0.0, 1.0)


def its_balanced(h: np.ndarray) -> np.ndarray:
    """Closed form of ITS for balanced codes as a function of h = H/D:
    ITS(h) = [(1-2h) ln2 + (1-h) ln(1-h) - h ln h] / ln2, clipped to [0, 1]."""
    h = np.clip(np.asarray(h, dtype=np.float64), _EPS, 1 - _EPS)
    value = ((1 - 2 * h) * np.log(2) + (1 - h) * np.log(1 - h) - h * np.log(h)) / np.log(2)
    return np.clip(np.where(h >= 0.5, 0.0, value), 0.0, 1.0)


_BOUNDS = np.array([bound for bound, _ in LABELS[-2::-1]])  # ascending, without -inf
_NAMES = [name for _, name in LABELS[::-1]]


def labels(scores: np.ndarray) -> list[str]:
    """:func:`label` of many scores at once (one search over the band bounds)."""
    return [_NAMES[i] for i in np.searchsorted(_BOUNDS, np.asarray(scores, np.float64), side="right").tolist()]


def label(score: float) -> str:
    """Human-readable relevance band of an ITS score."""
    for bound, name in LABELS:
        if score >= bound:
            return name
    return LABELS[-1][1]


def its_upper_bound(h_min: int, pop_q: int, pops: np.ndarray, dims: int) -> float:
    """Largest ITS any document with popcount in ``pops`` can reach at Hamming distance >= h_min.

    Only feasible tables count: |pop_q - p| <= H <= min(pop_q + p, 2D - pop_q - p), H and
    pop_q + p of equal parity. Lets a Hamming-ranked scan prove that no unseen row can
    outscore the results it has (exact ITS ranking for unbalanced codes).
    """
    h = np.arange(h_min, dims + 1)[:, None]
    p = np.asarray(pops, dtype=np.int64)[None, :]
    feasible = (h >= np.abs(pop_q - p)) & (h <= np.minimum(pop_q + p, 2 * dims - pop_q - p)) & ((h - pop_q - p) % 2 == 0)
    if not feasible.any():
        return 0.0
    hh, pp = np.broadcast_arrays(h, p)
    return float(its(hh[feasible], pop_q, pp[feasible], dims).max())
