"""Okapi BM25 over an inverted index's postings: pure functions, no SQLite.

score(D, Q) = sum over the distinct terms t of Q of
    IDF(t) * f(t, D) * (k1 + 1) / (f(t, D) + k1 * (1 - b + b * |D| / avgdl)),
    IDF(t) = ln((N - n(t) + 0.5) / (n(t) + 0.5)), floored at 1e-6,
with N the indexed items, n(t) those holding t, |D| the item's tokens, avgdl the mean |D|,
k1 = 1.2 and b = 0.75 (Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25
and Beyond", 2009; the constants and the IDF floor are SQLite FTS5's ``bm25()``, so one
machine's scores equal FTS5's own). The statistics N, avgdl and n(t) are the whole
collection's, summed over every part of a search before any part scores: a sharded namespace
then scores each item exactly as one machine holding all of them would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

K1, B = 1.2, 0.75
IDF_FLOOR = 1e-6  # FTS5's: a term in more than half the items still counts, a little


@dataclass(frozen=True)
class TermStats:
    """One part's (or, summed, the collection's) statistics for a set of terms."""

    terms: tuple[str, ...]
    items: int                   # N: indexed items (live, with a text)
    tokens: int                  # their tokens, summed (avgdl = tokens / items)
    frequencies: tuple[int, ...]  # n(t) of each term

    def __add__(self, other: TermStats) -> TermStats:
        if other.terms != self.terms:
            raise ValueError("term statistics of different terms cannot be summed")
        return TermStats(self.terms, self.items + other.items, self.tokens + other.tokens,
                         tuple(a + b for a, b in zip(self.frequencies, other.frequencies)))


def sum_stats(parts: Sequence[TermStats]) -> TermStats:
    """The collection's statistics from its parts'."""
    total = parts[0]
    for more in parts[1:]:
        total = total + more
    return total


@dataclass(frozen=True)
class KeywordQuery:
    """What a part needs to score one query: its terms (sorted: the order their scores are
    summed in, the same on every part) with their IDF, and the collection's avgdl."""

    terms: tuple[str, ...]
    idf: tuple[float, ...]
    avgdl: float


def idf(frequencies: np.ndarray, items: int) -> np.ndarray:
    """IDF(t) of the header formula, for each n(t)."""
    n = np.asarray(frequencies, np.float64)
    return np.maximum(np.log((items - n + 0.5) / (n + 0.5)), IDF_FLOOR)


def keyword_queries(terms: Sequence[tuple[str, ...]], stats: TermStats) -> tuple[KeywordQuery, ...]:
    """Each query's terms with the collection's statistics applied."""
    weight = dict(zip(stats.terms, idf(np.asarray(stats.frequencies), stats.items).tolist()))
    avgdl = stats.tokens / stats.items if stats.items else 1.0
    return tuple(KeywordQuery(t, tuple(weight[x] for x in t), avgdl) for t in terms)


def term_score(tf: np.ndarray, length: np.ndarray, idf_t: float, avgdl: float) -> np.ndarray:
    """One term's share of the score of each item holding it ``tf`` times in ``length`` tokens."""
    tf = np.asarray(tf, np.float64)
    return idf_t * (tf * (K1 + 1.0)) / (tf + K1 * (1.0 - B + B * np.asarray(length, np.float64) / avgdl))


Postings = Mapping[str, tuple[np.ndarray, np.ndarray]]  # term -> (rows ascending, term frequency)


def score(query: KeywordQuery, postings: Postings, lengths: np.ndarray,
          allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows ascending, BM25 score) of the items holding any term of ``query``, among the rows
    ``allowed`` (a boolean mask; None: all). Each row's terms are summed in ``query.terms``
    order, so the float result does not depend on how items are spread over parts."""
    rows_of, shares = [], []
    for term, weight in zip(query.terms, query.idf):
        rows, tf = postings[term]
        if allowed is not None and rows.size:
            keep = allowed[rows]
            rows, tf = rows[keep], tf[keep]
        rows_of.append(rows)
        shares.append(term_score(tf, lengths[rows], weight, query.avgdl))
    if not rows_of or not sum(r.size for r in rows_of):
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    rows = np.concatenate(rows_of)
    share = np.concatenate(shares)
    order = np.argsort(rows, kind="stable")  # stable: each row's shares stay in term order
    rows, share = rows[order], share[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return rows[starts], np.add.reduceat(share, starts)


def best(rows: np.ndarray, scores: np.ndarray, depth: int) -> np.ndarray:
    """Positions of the ``depth`` best scores and every score tied with the last of them (so
    that ids, not row order, settle the cut when parts are merged)."""
    if scores.size <= depth:
        return np.arange(scores.size)
    kth = np.partition(scores, scores.size - depth)[scores.size - depth]
    return np.flatnonzero(scores >= kth)
