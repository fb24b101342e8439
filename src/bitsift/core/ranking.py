"""The one ordering rule every search obeys, on one machine or across shards.

Candidates are ranked by ITS score (higher first), then a tiebreak (Hamming distance in
binary mode, higher correlation in rescore mode), then item id, then namespace order.
Row numbers never decide: they are write order on one machine and mean nothing across
shards, so a ranking that used them could not be reproduced by a sharded namespace.

Every part hands in the ids of its candidates; they are compared only for the candidates
tied with the k-th on (score, tiebreak): the cut is the only place an id can change which
items are returned (the display order, score then id, is applied to the fetched results).
Ranking is pure: no storage is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bitsift.core import kernel


class Part(Protocol):
    """One namespace's (or shard's) candidates for every query of a batch, as flat columns (query
    q's are ``bounds[q]:bounds[q + 1]``), each boundary tie group whole."""

    @property
    def distance(self) -> np.ndarray: ...  # float64: the first stage's distance, smaller first (candidates.py)
    @property
    def rows(self) -> np.ndarray: ...  # int64: the candidate's row in its part
    @property
    def scores(self) -> np.ndarray: ...  # float64: ITS
    @property
    def tiebreak(self) -> np.ndarray: ...  # float64: smaller first
    @property
    def ids(self) -> np.ndarray: ...  # object: the item id of each candidate
    @property
    def keyword(self) -> np.ndarray: ...  # float64: BM25 (keyword and hybrid modes; 0: no query term)
    @property
    def bounds(self) -> np.ndarray: ...  # int64[Q + 1]


@dataclass(frozen=True)
class Ranked:
    """The chosen candidates of every query, each query's best first: the i-th is ``rows[i]`` of
    part ``parts[i]``, id ``ids[i]``; query q's are ``offsets[q]:offsets[q + 1]``."""

    scores: np.ndarray
    parts: np.ndarray
    rows: np.ndarray
    ids: list[str]
    offsets: np.ndarray
    keyword: np.ndarray | None = None  # keyword and hybrid modes: each hit's BM25 (core.fusion)
    fusion: np.ndarray | None = None   # hybrid mode: each hit's fusion score

    @property
    def final_order(self) -> bool:
        """Keyword and hybrid hits are in their fused order, which is not the score order."""
        return self.keyword is not None


def rescore_pool(distance: np.ndarray, size: int) -> np.ndarray:
    """Mask of the re-scoring pool: every candidate at least as near (first-stage distance) as the
    ``size``-th nearest. Whole distance groups, so the pool does not depend on row numbering."""
    distance = np.asarray(distance, np.float64)
    return distance <= _pool_bounds(distance, np.zeros(distance.size, np.int64), 1, size)[0]


PerQuery = int | np.ndarray  # one value for every query, or one value per query (int64[Q])


def adaptive_pool(distance: np.ndarray, rho: np.ndarray, query: np.ndarray, nq: int, k: np.ndarray) -> np.ndarray:
    """Mask of each query's adaptive re-scoring pool among its candidates (grouped by ``query``):
    ``asymmetric.adaptive_cut`` over them by first-stage key (-distance), with query q's k, for all
    queries in one native call (kernel.adaptive_cuts). Candidates no vector scan offered
    (distance inf: hybrid's keyword side) take no part."""
    near = np.flatnonzero(np.isfinite(distance))
    d, q = distance[near], query[near]
    if not bool(np.all((d[1:] >= d[:-1]) | (q[1:] != q[:-1]))):  # one part's come in key order already
        near = near[np.lexsort((d, q))]
        d, q = distance[near], query[near]
    counts = np.bincount(q, minlength=nq)
    offsets = np.zeros(nq + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cut, _ = kernel.adaptive_cuts(-d, rho[near], offsets, k)
    taken = np.where(cut >= 0, cut, counts)
    keep = np.zeros(distance.size, bool)
    keep[near[np.arange(near.size) - offsets[q] < taken[q]]] = True
    return keep


def rank(parts: Sequence[Part], k: PerQuery, pool: PerQuery | None = None,
         threshold: float | np.ndarray | None = None, adaptive: bool = False) -> Ranked:
    """The exact top ``k`` of all parts together, for each query; ``pool`` (rescore mode) first
    restricts each query's candidates to :func:`rescore_pool` of that size, or ``adaptive`` to the
    prefix by first-stage key that the estimator's bound proves for that query's k over all parts'
    candidates (:func:`adaptive_pool`; each part offered at least its share); ``threshold`` then
    drops low scores (an array: per query, -inf for none). Each may be one value per query: a
    coalesced pass serves searches with different parameters, its candidates scanned for the
    largest k and pool (a superset of every smaller one's, so each query's answer is its own).
    One pass of array operations over every query's candidates, whatever Q."""
    bounds = [np.asarray(p.bounds, np.int64) for p in parts]
    nq = len(bounds[0]) - 1 if bounds else 0
    kq = np.broadcast_to(np.asarray(k, np.int64), (nq,))

    def cat(col: str, dtype: Any) -> np.ndarray:  # one part (the usual case): its own column, no copy
        columns = [np.asarray(getattr(p, col), dtype) for p in parts]
        return columns[0] if len(columns) == 1 else np.concatenate(columns) if columns else np.zeros(0, dtype)
    score, tiebreak, rows = cat("scores", np.float64), cat("tiebreak", np.float64), cat("rows", np.int64)
    ham = cat("distance", np.float64) if pool is not None or adaptive else None
    ids = cat("ids", object)
    if nq == 1:
        query = np.zeros(rows.size, np.int64)
    else:
        query = np.concatenate([np.repeat(np.arange(nq), np.diff(b)) for b in bounds]) if parts else np.zeros(0, np.int64)
    part = np.zeros(rows.size, np.int64) if len(parts) <= 1 else np.repeat(np.arange(len(parts)), [b[-1] - b[0] for b in bounds])
    if len(parts) > 1 and nq > 1:  # part-major as concatenated: the selections below need query-major
        by_query = np.argsort(query, kind="stable")
        score, tiebreak, rows, query, part, ids = (c[by_query] for c in (score, tiebreak, rows, query, part, ids))
        ham = None if ham is None else ham[by_query]
    keep = np.arange(rows.size)
    if ham is not None and adaptive:
        keep = keep[adaptive_pool(ham, -tiebreak, query, nq, kq)]
    elif ham is not None and pool is not None:
        keep = keep[ham <= _pool_bounds(ham, query, nq, pool)[query]]
    # Only candidates scoring at least their query's k-th best score can make its top k (ties
    # included): a selection per query first, so the full sort sees ~k rows per query, not all.
    keep = keep[score[keep] >= _kth_largest(score[keep], query[keep], nq, k)[query[keep]]]
    keys: list[np.ndarray] = [rows[keep], tiebreak[keep], -score[keep], query[keep]]
    if len(parts) > 1:
        keys.insert(1, part[keep])  # one part: a constant key, left out
    order = keep[np.lexsort(keys)]
    counts = np.bincount(query[order], minlength=nq)
    starts = np.cumsum(counts) - counts
    # The first k of each query, unless the cut splits a tie group on (score, tiebreak): then
    # ids decide who of the group stays (rare: those queries are settled one by one).
    take = np.minimum(counts, kq)
    chosen = order[np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take) + np.repeat(starts, take)]
    over = np.flatnonzero(counts > kq)
    last, nxt = order[starts[over] + kq[over] - 1], order[starts[over] + kq[over]]
    split = over[(score[nxt] == score[last]) & (tiebreak[nxt] == tiebreak[last])]
    if split.size:
        pieces = np.split(chosen, np.cumsum(take)[:-1])
        for q in split.tolist():
            pieces[q] = _settle_by_id(order[starts[q] : starts[q] + counts[q]], int(kq[q]), score, tiebreak, part, ids)
        chosen = np.concatenate(pieces)
    if threshold is not None:
        floor = threshold if np.ndim(threshold) == 0 else np.asarray(threshold, np.float64)[query[chosen]]
        chosen = chosen[score[chosen] >= floor]
    offsets = np.zeros(nq + 1, np.int64)
    np.cumsum(np.bincount(query[chosen], minlength=nq), out=offsets[1:])
    return Ranked(score[chosen], part[chosen], rows[chosen], ids[chosen].tolist(), offsets)


def _by_query(values: np.ndarray, query: np.ndarray, nq: int, fill: float) -> np.ndarray:
    """``values`` (grouped by ``query``, ascending) as one row per query, padded with ``fill``."""
    if nq == 1:
        return np.asarray(values, np.float64).reshape(1, -1) if values.size else np.full((1, 1), fill)
    counts = np.bincount(query, minlength=nq)
    grid = np.full((nq, max(int(counts.max(initial=0)), 1)), fill, dtype=np.float64)
    grid[query, np.arange(query.size) - np.repeat(np.cumsum(counts) - counts, counts)] = values
    return grid


def _pool_bounds(ham: np.ndarray, query: np.ndarray, nq: int, size: PerQuery) -> np.ndarray:
    """Per query, the distance of its ``size``-th nearest candidate (+inf if it has fewer):
    :func:`rescore_pool` for all queries at once, by one selection per row."""
    return _kth_smallest(_by_query(ham, query, nq, np.inf), size, np.inf)


def _kth_largest(score: np.ndarray, query: np.ndarray, nq: int, k: PerQuery) -> np.ndarray:
    """Per query, its k-th largest score (-inf if it has fewer than k candidates)."""
    return -_kth_smallest(-_by_query(score, query, nq, -np.inf), k, np.inf)


def _kth_smallest(grid: np.ndarray, k: PerQuery, fill: float) -> np.ndarray:
    """Per row of ``grid`` (padded with ``fill`` = +inf), its k-th smallest value: one selection
    when k is shared, one sort of the rows when each row has its own k."""
    if np.ndim(k) == 0:
        kk = int(k)
        return np.full(grid.shape[0], fill) if grid.shape[1] < kk else np.partition(grid, kk - 1, axis=1)[:, kk - 1]
    ks = np.asarray(k, np.int64)
    out = np.full(grid.shape[0], fill)
    fits = np.flatnonzero(ks <= grid.shape[1])
    if fits.size:
        out[fits] = np.sort(grid[fits], axis=1)[np.arange(fits.size), ks[fits] - 1]
    return out


def _settle_by_id(order: np.ndarray, k: int, score: np.ndarray, tiebreak: np.ndarray, part: np.ndarray,
                  ids: np.ndarray) -> np.ndarray:
    """The cut splits a tie group on (score, tiebreak): ids decide who stays, then part order."""
    last = order[k - 1]
    in_tie = (score[order] == score[last]) & (tiebreak[order] == tiebreak[last])
    tied, better = order[in_tie], order[:k][~in_tie[:k]]
    pick = sorted(range(tied.size), key=lambda j: (ids[tied[j]], part[tied[j]]))
    return np.concatenate([better, tied[np.asarray(pick[: k - better.size], dtype=np.int64)]])
