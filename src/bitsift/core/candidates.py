"""Candidate search: pure functions over the packed codes, the float rows and a row mask.

No folder, no lock, no SQLite: a namespace hands these functions arrays, so the widening
and proof loops are unit-tested on their own. Every function takes Q queries and makes
one kernel pass for all of them; only the queries that need a wider scan scan again.

A part's candidates for one query are its k best plus every row tied with the k-th (on
score and tiebreak), so that ids, not row order, settle ties across namespaces and shards
(see ranking.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bitsift.core import kernel, rescore, scoring

TIE_MARGIN = 64  # extra rows fetched so that the tie group at the cut is whole without a rescan
_WIDEN = 4       # a scan that was not wide enough is repeated this many times wider


@dataclass(frozen=True)
class Candidates:
    """One query's candidates in one part (a ``ranking.Part``)."""

    hamming: np.ndarray   # uint32: distance of each candidate's code to the query's
    rows: np.ndarray      # int64: the candidate's row in its part
    scores: np.ndarray    # float64: ITS
    tiebreak: np.ndarray  # float64: Hamming distance (binary) or -rho (rescore); smaller first
    ids: Sequence[str] = field(default=())  # the item id of each candidate (``ids`` arguments: object arrays by row)


@dataclass(frozen=True)
class Answer:
    """One part's candidates, one entry per query, with the compaction epoch their row numbers
    belong to (a fetch of those rows in a later epoch is refused)."""

    candidates: list[Candidates]
    epoch: int


def widening_scan(qcodes: np.ndarray, snap: kernel.PackedSnapshot, first: int, mask: np.ndarray | None,
                  settled: Callable[[int, np.ndarray, np.ndarray, int], bool],
                  first_pass: tuple[np.ndarray, np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, the nearest codes (distances, rows) of the narrowest scan that ``settled``
    accepts; ``settled(i, dist, rows, fetched)`` judges query i's answer to a scan of
    ``fetched`` rows. All queries share each pass; unsettled ones rescan ``_WIDEN`` times wider.
    ``first_pass``: the caller's own scan of all queries at ``first`` rows, not repeated."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * qcodes.shape[0]
    todo = np.arange(qcodes.shape[0])
    fetch = first
    while todo.size:
        if first_pass is not None:
            (dist, rows), first_pass = first_pass, None
        else:
            dist, rows = kernel.scan_topk(qcodes[todo], snap, fetch, mask=mask)
        again = []
        for j, i in enumerate(todo.tolist()):
            if settled(i, dist[j], rows[j], fetch):
                out[i] = (dist[j], rows[j])
            else:
                again.append(i)
        todo = np.asarray(again, dtype=np.int64)
        fetch *= _WIDEN
    return out  # type: ignore[return-value]  # every slot is filled when todo is empty


def binary(qcodes: np.ndarray, snap: kernel.PackedSnapshot, popcounts: np.ndarray, ids: np.ndarray, dims: int,
           k: int, mask: np.ndarray | None, balanced: bool) -> list[Candidates]:
    """Exact ITS top-k of the codes for each query (uint64[Q, W]).

    With balanced codes (MIB) every code has floor(D/2) bits set, so ITS is a non-increasing
    function of the Hamming distance and one Hamming top-k is the ITS top-k. Other binarizers
    give unbalanced codes: the scan widens until ``scoring.its_upper_bound`` over the
    popcounts present proves that no unseen row scores higher.
    """
    qpops = kernel.popcount_rows(qcodes)
    present: list[np.ndarray] = []  # popcounts of the stored rows, computed at most once
    picked: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # query -> (order of its candidates, their scores)

    def settled(i: int, dist: np.ndarray, rows: np.ndarray, fetched: int) -> bool:
        scores = scoring.its(dist, qpops[i], popcounts[rows], dims)
        order = np.lexsort((rows, dist, -scores))
        everything = rows.size < fetched
        if order.size <= k:
            picked[i] = order, scores
            return everything
        cut = order[k - 1]  # the k-th best: every row tied with it must be here too
        whole = everything or dist[-1] > dist[cut]
        if not everything and not (whole and (balanced or _proven(dist, scores[cut], qpops[i], present,
                                                                   popcounts, snap.rows, dims))):
            return False
        keep = (scores > scores[cut]) | ((scores == scores[cut]) & (dist <= dist[cut]))
        picked[i] = order[keep[order]], scores
        return True

    found = widening_scan(qcodes, snap, 2 * k + TIE_MARGIN, mask, settled)
    out = []
    for i, (dist, rows) in enumerate(found):
        order, scores = picked[i]
        rows = rows[order]
        out.append(Candidates(dist[order], rows, scores[order], dist[order].astype(np.float64),
                              ids[rows]))
    return out


def _proven(dist: np.ndarray, kth_score: float, pop_q: int, present: list[np.ndarray], popcounts: np.ndarray,
            rows: int, dims: int) -> bool:
    """True when no row beyond the fetched ones can beat the k-th best fetched score."""
    if not present:
        present.append(np.unique(popcounts[:rows]))
    return scoring.its_upper_bound(int(dist.max()), int(pop_q), present[0], dims) < kth_score


def rescored(queries: np.ndarray, qcodes: np.ndarray, snap: kernel.PackedSnapshot, vectors: np.ndarray,
             ids: np.ndarray, mask: np.ndarray | None, k: int, oversample: int) -> list[Candidates]:
    """For each query (float32[Q, D]): the ``k * oversample`` nearest codes and every code tied
    with the farthest of them (so the pool never depends on row order), re-scored from their
    float16 rows by ITS(arccos(rho)/pi) (rescore.py), in scan order; the caller picks the best
    k after merging parts. Only the candidate rows of ``vectors`` (a memory map) are read."""
    need = k * oversample

    def settled(i: int, dist: np.ndarray, rows: np.ndarray, fetched: int) -> bool:
        return rows.size < fetched or bool(dist[-1] > dist[need - 1])

    first = 2 * need + TIE_MARGIN
    scanned = kernel.scan_topk(qcodes, snap, first, mask=mask)
    # Each query's pool as one flat column for all queries (query t's: offsets[t]:offsets[t+1]),
    # so the re-scoring, the scores and the ids take one call each for the whole batch.
    d2, r2 = scanned
    if r2.shape[1] < first or bool((d2[:, -1] > d2[:, need - 1]).all()):  # one pass settled every query
        keep = d2 <= d2[:, need - 1 : need] if r2.shape[1] > need else np.ones(d2.shape, bool)
        dist, rows = d2[keep], r2[keep]
        sizes = keep.sum(axis=1)
    else:
        found = widening_scan(qcodes, snap, first, mask, settled, first_pass=scanned)
        pool = [d <= d[need - 1] if d.size > need else np.ones(d.size, bool) for d, _ in found]
        dist = np.concatenate([d[m] for (d, _), m in zip(found, pool)])
        rows = np.concatenate([r[m] for (_, r), m in zip(found, pool)])
        sizes = np.array([int(m.sum()) for m in pool], np.int64)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    rho = kernel.correlation_f16_flat(vectors, rows, offsets, queries)
    scores, row_ids = rescore.its_from_correlation(rho), ids[rows]
    bounds = offsets.tolist()
    return [Candidates(dist[a:b], rows[a:b], scores[a:b], -rho[a:b], row_ids[a:b]) for a, b in zip(bounds, bounds[1:])]
