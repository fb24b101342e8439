"""Candidate search: pure functions over the packed codes, the float rows and a row mask.

No folder, no lock, no SQLite: a namespace hands these functions arrays, so the widening
and proof loops are unit-tested on their own. Every function takes Q queries and makes
one kernel pass for all of them; only the queries that need a wider scan scan again.

A part's candidates for one query are its k best plus every row tied with the k-th (on
score and tiebreak), so that ids, not row order, settle ties across namespaces and shards
(see ranking.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitsift.core import asymmetric, kernel, rescore, scoring
from bitsift.core.spec import ADAPTIVE_OVERSAMPLE

TIE_MARGIN = 64  # extra rows fetched so that the tie group at the cut is whole without a rescan
_WIDEN = 4       # a scan that was not wide enough is repeated this many times wider


@dataclass(frozen=True)
class Candidates:
    """Every query's candidates in one part (a ``ranking.Part``), as flat columns: query q's are
    ``offsets[q]:offsets[q + 1]`` of each. Flat, so a batch of Q queries costs the ranking, the
    Ray transport and the fetch a few array operations, not Q objects each. ``offsets=None``
    means one query holding every row. Indexing (``c[q]``) gives one query's candidates."""

    distance: np.ndarray  # float64: the first stage's, smaller first: the Hamming distance of the
    #                       codes (binary mode), minus the asymmetric key (rescore mode, core.asymmetric)
    rows: np.ndarray      # int64: the candidate's row in its part
    scores: np.ndarray    # float64: ITS
    tiebreak: np.ndarray  # float64: Hamming distance (binary) or -rho (rescore); smaller first
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # object: each candidate's item id
    offsets: np.ndarray | None = None  # int64[Q + 1]
    keyword: np.ndarray = field(default_factory=lambda: np.zeros(0))  # float64 BM25 (keyword, hybrid modes)

    def __post_init__(self) -> None:
        if not isinstance(self.ids, np.ndarray) or self.ids.dtype != object:
            ids = np.empty(len(self.ids), object)
            ids[:] = list(self.ids)
            object.__setattr__(self, "ids", ids)
        if self.keyword.size != self.rows.size:  # vector modes: no keyword scores
            object.__setattr__(self, "keyword", np.zeros(self.rows.size))

    @property
    def bounds(self) -> np.ndarray:
        """``offsets``, or [0, rows] for a single query."""
        return np.array([0, self.rows.size], np.int64) if self.offsets is None else self.offsets

    def __len__(self) -> int:
        return 1 if self.offsets is None else len(self.offsets) - 1

    def __getitem__(self, q: int) -> Candidates:
        if not -len(self) <= q < len(self):
            raise IndexError(q)
        a, b = self.bounds[q % len(self) : q % len(self) + 2].tolist()
        return Candidates(self.distance[a:b], self.rows[a:b], self.scores[a:b], self.tiebreak[a:b], self.ids[a:b],
                          keyword=self.keyword[a:b])

    def __iter__(self) -> Iterator[Candidates]:
        return (self[q] for q in range(len(self)))

    @classmethod
    def stack(cls, per_query: Sequence[Candidates]) -> Candidates:
        """One flat part from one-query candidates, in query order."""
        offsets = np.zeros(len(per_query) + 1, np.int64)
        np.cumsum([c.rows.size for c in per_query], out=offsets[1:])

        def cat(col: str, dtype: Any) -> np.ndarray:
            return np.concatenate([getattr(c, col) for c in per_query]).astype(dtype, copy=False) \
                if per_query else np.zeros(0, dtype)
        return cls(cat("distance", np.float64), cat("rows", np.int64), cat("scores", np.float64),
                   cat("tiebreak", np.float64), cat("ids", object), offsets, cat("keyword", np.float64))


@dataclass(frozen=True)
class Answer:
    """One part's candidates, one entry per query, with the compaction epoch their row numbers
    belong to (a fetch of those rows in a later epoch is refused)."""

    candidates: Candidates  # flat: every query's
    epoch: int


Scan = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]  # (queries, k) -> (distance, rows)


def widening_scan(scan: Scan, nq: int, first: int,
                  settled: Callable[[int, np.ndarray, np.ndarray, int], bool],
                  first_pass: tuple[np.ndarray, np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, the nearest rows (distances, rows) of the narrowest scan that ``settled``
    accepts; ``settled(i, dist, rows, fetched)`` judges query i's answer to a scan of
    ``fetched`` rows; ``scan(queries, k)`` scans the listed queries (indices) for k rows each. All
    queries share each pass; unsettled ones rescan ``_WIDEN`` times wider.
    ``first_pass``: the caller's own scan of all queries at ``first`` rows, not repeated."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * nq
    todo = np.arange(nq)
    fetch = first
    while todo.size:
        if first_pass is not None:
            (dist, rows), first_pass = first_pass, None
        else:
            dist, rows = scan(todo, fetch)
        again = []
        for j, i in enumerate(todo.tolist()):
            if settled(i, dist[j], rows[j], fetch):
                out[i] = (dist[j], rows[j])
            else:
                again.append(i)
        todo = np.asarray(again, dtype=np.int64)
        fetch *= _WIDEN
    return out  # type: ignore[return-value]  # every slot is filled when todo is empty


def hamming_scan(qcodes: np.ndarray, snap: kernel.PackedSnapshot, mask: np.ndarray | None) -> Scan:
    """Binary mode's first stage: Hamming distances of the queries' codes."""
    return lambda todo, k: kernel.scan_topk(qcodes[todo], snap, k, mask=mask)


def asymmetric_scan(levels: asymmetric.QueryLevels, snap: kernel.PackedSnapshot, mask: np.ndarray | None) -> Scan:
    """Rescore mode's first stage: minus the asymmetric key (core.asymmetric), nearest first."""
    def scan(todo: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sub = asymmetric.QueryLevels(levels.levels[todo], levels.scale[todo], levels.level_sum[todo])
        key, rows = kernel.asym_topk(sub, snap, k, mask=mask)
        return -key.astype(np.float64), rows
    return scan


def binary(qcodes: np.ndarray, snap: kernel.PackedSnapshot, popcounts: np.ndarray, ids: np.ndarray, dims: int,
           k: int, mask: np.ndarray | None, balanced: bool) -> Candidates:
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

    found = widening_scan(hamming_scan(qcodes, snap, mask), len(qcodes), 2 * k + TIE_MARGIN, settled)
    out = []
    for i, (dist, rows) in enumerate(found):
        order, scores = picked[i]
        rows = rows[order]
        dist = dist[order].astype(np.float64)
        out.append(Candidates(dist, rows, scores[order], dist, ids[rows]))
    return Candidates.stack(out)


def _proven(dist: np.ndarray, kth_score: float, pop_q: int, present: list[np.ndarray], popcounts: np.ndarray,
            rows: int, dims: int) -> bool:
    """True when no row beyond the fetched ones can beat the k-th best fetched score."""
    if not present:
        present.append(np.unique(popcounts[:rows]))
    return scoring.its_upper_bound(int(dist.max()), int(pop_q), present[0], dims) < kth_score


def rescored(queries: np.ndarray, snap: kernel.PackedSnapshot, vectors: np.ndarray, ids: np.ndarray,
             mask: np.ndarray | None, k: int, oversample: int, every_id: bool = True) -> Candidates:
    """For each query (float32[Q, D]): the rows the asymmetric first stage ranks best (core.asymmetric)
    and every row tied with the last of them (so the pool never depends on row order), re-scored
    from their float16 rows by ITS(arccos(rho)/pi) (rescore.py), in first-stage order; the caller
    picks the best k after merging parts. ``oversample`` rows per result, or, with
    ``ADAPTIVE_OVERSAMPLE``, as many as the estimator's bound needs (:func:`adaptive_pool`). Only
    the candidate rows of ``vectors`` (a memory map) are read. ``every_id=False`` (the adaptive pool
    only): a candidate outside its query's k best by rho here carries None for its id, since
    core.ranking reads ids only for the k best of all parts and the ties at that cut, all of them among
    each part's k best (score rises with rho); gathering every pool row's id was ~7% of a search."""
    levels = asymmetric.quantize(queries)
    scan = asymmetric_scan(levels, snap, mask)
    if oversample == ADAPTIVE_OVERSAMPLE:
        return adaptive_pool(queries, scan, vectors, ids, k, snap.rows, every_id)
    need = k * oversample

    def settled(i: int, dist: np.ndarray, rows: np.ndarray, fetched: int) -> bool:
        return rows.size < fetched or bool(dist[-1] > dist[need - 1])

    first = 2 * need + TIE_MARGIN
    scanned = scan(np.arange(len(queries)), first)
    # Each query's pool as one flat column for all queries (query t's: offsets[t]:offsets[t+1]),
    # so the re-scoring, the scores and the ids take one call each for the whole batch.
    d2, r2 = scanned
    if r2.shape[1] < first or bool((d2[:, -1] > d2[:, need - 1]).all()):  # one pass settled every query
        keep = d2 <= d2[:, need - 1 : need] if r2.shape[1] > need else np.ones(d2.shape, bool)
        dist, rows = d2[keep], r2[keep]
        sizes = keep.sum(axis=1)
    else:
        found = widening_scan(scan, len(queries), first, settled, first_pass=scanned)
        pool = [d <= d[need - 1] if d.size > need else np.ones(d.size, bool) for d, _ in found]
        dist = np.concatenate([d[m] for (d, _), m in zip(found, pool)])
        rows = np.concatenate([r[m] for (_, r), m in zip(found, pool)])
        sizes = np.array([int(m.sum()) for m in pool], np.int64)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    rho = kernel.correlation_f16_flat(vectors, rows, offsets, queries)
    return Candidates(dist, rows, rescore.its_from_correlation(rho), -rho, ids[rows], offsets)


# Rows the adaptive first stage fetches per query before it widens: the pools it needs grow about as
# 2 sqrt(N) (measured on the peer set: p50 632 at 100k, 1,704 at 1M; p90 2.4-2.9 sqrt(N)), and a
# larger top-k costs the scan more (at 256 queries a fetch of 4,096 took 0.6 ms a query at 100k,
# where 1,024 took 0.27), so twice the typical pool, at least ADAPTIVE_SCAN.
ADAPTIVE_SCAN = 1024
_SCAN_PER_ROOT = 4


def adaptive_pool(queries: np.ndarray, scan: Scan, vectors: np.ndarray, ids: np.ndarray, k: int,
                  rows_held: int, every_id: bool = True) -> Candidates:
    """Each query's smallest first-stage prefix that the estimator's bound proves holds its k best
    by rho (``asymmetric.adaptive_cut``), re-scored: one native call for all queries
    (kernel.adaptive_pool) re-scores each query's rows in key order, each once, up to the first
    whole tie group that proves the cut; a query whose fetched rows run out first is scanned
    ``_WIDEN`` times wider (rare: p90 pools are below the first fetch) and judged again.

    A part's prefix is proven with its own rows only, so it is never shorter than the prefix the
    same rule picks over all parts' candidates merged (core.ranking applies that rule): sharded
    answers equal one machine's."""
    nq = len(queries)
    fetch = max(ADAPTIVE_SCAN, -(-int(_SCAN_PER_ROOT * np.sqrt(rows_held)) // 256) * 256)
    todo = np.arange(nq)
    # (queries, cut, kth, dist, rows, rho) of each round's settled queries
    rounds: list[tuple[np.ndarray, ...]] = []
    while todo.size:
        dist, rows = scan(todo, fetch)
        cut, rho, kth = kernel.adaptive_pool(-dist, rows, rows.shape[1] < fetch, k, vectors,
                                             queries if todo.size == nq else queries[todo])
        settled = cut >= 0
        if settled.all():
            rounds.append((todo, cut, kth, dist, rows, rho))
            break
        rounds.append((todo[settled], cut[settled], kth[settled], dist[settled], rows[settled], rho[settled]))
        todo, fetch = todo[~settled], fetch * _WIDEN
    if len(rounds) == 1:  # the usual case: every query settled by the first scan, in query order
        _, cut, kth, dist, rows, rho = rounds[0]
    else:
        order = np.argsort(np.concatenate([r[0] for r in rounds]), kind="stable")
        cut, kth = (np.concatenate([r[c] for r in rounds])[order] for c in (1, 2))
        width = max(r[3].shape[1] for r in rounds)
        dist, rows, rho = (np.concatenate([np.pad(r[c], ((0, 0), (0, width - r[c].shape[1]))) for r in rounds])[order]
                          for c in (3, 4, 5))
    width = int(cut.max()) if nq else 0  # only the columns some query takes
    taken = np.arange(width)[None, :] < cut[:, None]  # row-major: query order, key order within
    rows_flat, rho_flat = rows[:, :width][taken], rho[:, :width][taken]
    offsets = np.zeros(nq + 1, np.int64)
    np.cumsum(cut, out=offsets[1:])
    if every_id or width <= k:
        found_ids = ids[rows_flat]
    else:  # ids of each query's k best by rho (ties included) only: the ones core.ranking may read
        best = rho_flat >= np.repeat(kth, cut)  # kth: the k-th best rho of the query's pool (-inf: fewer)
        found_ids = np.full(rows_flat.size, None, object)
        found_ids[best] = ids[rows_flat[best]]
    return Candidates(dist[:, :width][taken], rows_flat, rescore.its_from_correlation(rho_flat), -rho_flat,
                      found_ids, offsets)
