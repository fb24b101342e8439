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
from typing import Protocol

import numpy as np


class Part(Protocol):
    """One namespace's (or shard's) candidates for one query, each boundary tie group whole."""

    @property
    def hamming(self) -> np.ndarray: ...  # distance of each candidate's code to the query's
    @property
    def rows(self) -> np.ndarray: ...  # int64: the candidate's row in its part
    @property
    def scores(self) -> np.ndarray: ...  # float64: ITS
    @property
    def tiebreak(self) -> np.ndarray: ...  # float64: smaller first
    @property
    def ids(self) -> Sequence[str]: ...  # the item id of each candidate


@dataclass(frozen=True)
class Ranked:
    """The chosen candidates of every query, each query's best first: the i-th is ``rows[i]`` of
    part ``parts[i]``, id ``ids[i]``; query q's are ``offsets[q]:offsets[q + 1]``."""

    scores: np.ndarray
    parts: np.ndarray
    rows: np.ndarray
    ids: list[str]
    offsets: np.ndarray


def rescore_pool(hamming: np.ndarray, size: int) -> np.ndarray:
    """Mask of the re-scoring pool: every candidate at least as near as the ``size``-th
    nearest code. Whole distance groups, so the pool does not depend on row numbering."""
    hamming = np.asarray(hamming, np.int64)
    return hamming <= _pool_bounds(hamming, np.zeros(hamming.size, np.int64), 1, size)[0]


def rank(parts: Sequence[Part], k: int, pool: int | None = None, threshold: float | None = None) -> Ranked:
    """The exact top ``k`` of all parts together; ``pool`` (rescore mode) first restricts the
    candidates to :func:`rescore_pool` of that size; ``threshold`` then drops low scores."""
    return rank_many([parts], k, pool, threshold)


def rank_many(queries: Sequence[Sequence[Part]], k: int, pool: int | None = None,
              threshold: float | None = None) -> Ranked:
    """:func:`rank` for each query's parts (every query has the same parts, in the same order),
    in one pass of sorts over all queries' candidates: a batch pays NumPy's per-call cost once."""
    flat = [p for parts in queries for p in parts]
    nparts = max(len(queries[0]), 1) if queries else 1
    sizes = np.fromiter((len(p.rows) for p in flat), np.int64, len(flat))
    score = np.concatenate([np.asarray(p.scores, np.float64) for p in flat])
    tiebreak = np.concatenate([np.asarray(p.tiebreak, np.float64) for p in flat])
    rows = np.concatenate([np.asarray(p.rows, np.int64) for p in flat])
    owner = np.repeat(np.arange(len(flat)), sizes)  # index into flat of each candidate
    local = np.arange(rows.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # index within its part
    query, part = owner // nparts, owner % nparts
    keep = np.arange(rows.size)
    if pool is not None:
        ham = np.concatenate([np.asarray(p.hamming, np.int64) for p in flat])
        keep = keep[ham <= _pool_bounds(ham, query, len(queries), pool)[query]]
    # Only candidates scoring at least their query's k-th best score can make its top k (ties
    # included): a selection per query first, so the full sort sees ~k rows per query, not all.
    keep = keep[score[keep] >= _kth_largest(score[keep], query[keep], len(queries), k)[query[keep]]]
    keys: list[np.ndarray] = [rows[keep], tiebreak[keep], -score[keep], query[keep]]
    if nparts > 1:
        keys.insert(1, part[keep])  # one part: a constant key, left out
    order = keep[np.lexsort(keys)]
    counts = np.bincount(query[order], minlength=len(queries))
    starts = np.cumsum(counts) - counts
    # The first k of each query, unless the cut splits a tie group on (score, tiebreak): then
    # ids decide who of the group stays (rare: those queries are settled one by one).
    take = np.minimum(counts, k)
    chosen = order[np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take) + np.repeat(starts, take)]
    over = np.flatnonzero(counts > k)
    last, nxt = order[starts[over] + k - 1], order[starts[over] + k]
    split = over[(score[nxt] == score[last]) & (tiebreak[nxt] == tiebreak[last])]
    if split.size:
        pieces = np.split(chosen, np.cumsum(take)[:-1])
        for q in split.tolist():
            pieces[q] = _settle_by_id(order[starts[q] : starts[q] + counts[q]], k, score, tiebreak, part, local,
                                      queries[q])
        chosen = np.concatenate(pieces)
    if threshold is not None:
        chosen = chosen[score[chosen] >= threshold]
    offsets = np.zeros(len(queries) + 1, np.int64)
    np.cumsum(np.bincount(query[chosen], minlength=len(queries)), out=offsets[1:])
    ids = np.concatenate([np.asarray(p.ids, dtype=object) for p in flat])[chosen].tolist() if flat else []
    return Ranked(score[chosen], part[chosen], rows[chosen], ids, offsets)


def _by_query(values: np.ndarray, query: np.ndarray, nq: int, fill: float) -> np.ndarray:
    """``values`` (grouped by ``query``, ascending) as one row per query, padded with ``fill``."""
    counts = np.bincount(query, minlength=nq)
    grid = np.full((nq, max(int(counts.max(initial=0)), 1)), fill, dtype=np.float64)
    grid[query, np.arange(query.size) - np.repeat(np.cumsum(counts) - counts, counts)] = values
    return grid


def _pool_bounds(ham: np.ndarray, query: np.ndarray, nq: int, size: int) -> np.ndarray:
    """Per query, the distance of its ``size``-th nearest candidate (+inf if it has fewer):
    :func:`rescore_pool` for all queries at once, by one selection per row."""
    grid = _by_query(ham, query, nq, np.inf)
    if grid.shape[1] < size:
        return np.full(nq, np.inf)
    return np.partition(grid, size - 1, axis=1)[:, size - 1]


def _kth_largest(score: np.ndarray, query: np.ndarray, nq: int, k: int) -> np.ndarray:
    """Per query, its k-th largest score (-inf if it has fewer than k candidates)."""
    grid = _by_query(score, query, nq, -np.inf)
    if grid.shape[1] < k:
        return np.full(nq, -np.inf)
    return -np.partition(-grid, k - 1, axis=1)[:, k - 1]


def _settle_by_id(order: np.ndarray, k: int, score: np.ndarray, tiebreak: np.ndarray, part: np.ndarray,
                  local: np.ndarray, parts: Sequence[Part]) -> np.ndarray:
    """The cut splits a tie group on (score, tiebreak): ids decide who stays, then part order."""
    last = order[k - 1]
    in_tie = (score[order] == score[last]) & (tiebreak[order] == tiebreak[last])
    tied, better = order[in_tie], order[:k][~in_tie[:k]]
    pick = sorted(range(tied.size), key=lambda j: (parts[part[tied[j]]].ids[local[tied[j]]], part[tied[j]]))
    return np.concatenate([better, tied[np.asarray(pick[: k - better.size], dtype=np.int64)]])
