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
    """The chosen candidates, best first: the i-th is ``rows[i]`` of part ``parts[i]``, id ``ids[i]``."""

    scores: np.ndarray
    parts: np.ndarray
    rows: np.ndarray
    ids: list[str]


def rescore_pool(hamming: np.ndarray, size: int) -> np.ndarray:
    """Mask of the re-scoring pool: every candidate at least as near as the ``size``-th
    nearest code. Whole distance groups, so the pool does not depend on row numbering."""
    if hamming.size <= size:
        return np.ones(hamming.size, dtype=bool)
    bound = np.partition(hamming, size - 1)[size - 1]
    return hamming <= bound


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """One column over all parts (no copy for a lone part: the common case)."""
    return np.asarray(arrays[0], dtype) if len(arrays) == 1 else np.concatenate([np.asarray(a, dtype) for a in arrays])


def rank(parts: Sequence[Part], k: int, pool: int | None = None, threshold: float | None = None) -> Ranked:
    """The exact top ``k`` of all parts together; ``pool`` (rescore mode) first restricts the
    candidates to :func:`rescore_pool` of that size; ``threshold`` then drops low scores."""
    score = _joined([p.scores for p in parts], np.float64)
    tiebreak = _joined([p.tiebreak for p in parts], np.float64)
    rows = _joined([p.rows for p in parts], np.int64)
    part = _joined([np.full(len(p.rows), i, dtype=np.int64) for i, p in enumerate(parts)], np.int64)
    local = _joined([np.arange(len(p.rows), dtype=np.int64) for p in parts], np.int64)  # index within its part
    keep = np.arange(score.size)
    if pool is not None:
        keep = keep[rescore_pool(_joined([p.hamming for p in parts], np.int64), pool)]
    keys = (rows[keep], tiebreak[keep], -score[keep]) if len(parts) == 1 else \
        (rows[keep], part[keep], tiebreak[keep], -score[keep])
    order = keep[np.lexsort(keys)]
    if order.size > k:
        last = order[k - 1]
        in_tie = (score[order] == score[last]) & (tiebreak[order] == tiebreak[last])
        tied, better = order[in_tie], order[:k][~in_tie[:k]]
        if tied.size > k - better.size:  # the cut splits a tie group: ids decide who stays
            pick = sorted(range(tied.size), key=lambda j: (parts[part[tied[j]]].ids[local[tied[j]]], part[tied[j]]))
            order = np.concatenate([better, tied[np.asarray(pick[: k - better.size], dtype=np.int64)]])
        else:
            order = order[:k]
    if threshold is not None:
        order = order[score[order] >= threshold]
    return Ranked(score[order], part[order], rows[order], [parts[p].ids[i] for p, i in zip(part[order], local[order])])
