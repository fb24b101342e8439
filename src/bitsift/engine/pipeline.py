"""The one search pipeline, for one machine and for Ray shards alike.

A request (engine.request) reaches every *part* (a namespace, or a shard of one) once for
all its Q queries: each part answers with its candidates, ids included. Ranking is pure
(core.ranking). Then every part that holds winners is asked once, for all queries, for their
text and metadata. One consistency rule covers a concurrent compaction, in this process or
another: row numbers are valid within the epoch a part reported with its candidates; a fetch
in a later epoch is refused and the whole search runs again; the last attempt holds off
compactions where the engine can (one machine: every namespace's read lock across both steps),
and only a compaction in another process or shard can still make it fail (then 503).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Protocol, cast

import numpy as np

from bitsift.core import bm25, fusion
from bitsift.core.candidates import Answer, Candidates
from bitsift.core.errors import NamespaceBusy, Renumbered, ShardUnavailable
from bitsift.core.grouping import group_hits
from bitsift.core.ranking import Ranked, rank
from bitsift.core.results import SearchResponse
from bitsift.core.scoring import labels
from bitsift.core.spec import FUSION_DEPTH, MAX_TOP_K
from bitsift.engine.request import SearchRequest, query_matrix
from bitsift.storage.folder import Row
from bitsift.storage.keywords import TOKENIZER_OF_QUERIES

SEARCH_ATTEMPTS = 3


class Parts(Protocol):
    """Where a search runs: one part per namespace on one machine, one per shard on Ray."""

    @property
    def manifests(self) -> Sequence[Mapping[str, Any]]: ...  # of the namespaces searched
    @property
    def namespaces(self) -> Sequence[str]: ...  # the namespace of each part, parts in tie-breaking order

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> tuple[list[Answer | None], list[str]]:
        """Every part's answer (None for a part that is down, only if ``request.partial``) and
        the names of the parts that did not answer."""
        ...

    def term_stats(self, terms: Sequence[str], request: SearchRequest) -> bm25.TermStats:
        """The statistics of ``terms`` over every part, summed (keyword and hybrid modes)."""
        ...

    def fetch(self, asks: Mapping[int, tuple[list[int], int]]) -> dict[int, dict[int, Row] | None]:
        """For part i, row -> Row of ``asks[i] = (rows, epoch)``; None if its layout changed."""
        ...

    def response_fields(self, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
        """What this engine adds to each response (the shard count, partial answers)."""
        ...

    def steady(self) -> AbstractContextManager[None]:
        """Hold off compactions (where the engine can) across both steps: the last attempt."""
        ...


def search(request: SearchRequest, parts: Parts) -> list[SearchResponse]:
    """One response per query of ``request``, in query order."""
    queries = query_matrix(request, parts.manifests)
    if request.keyword_mode and request.keywords is None:
        request = with_keywords(request, parts)
    t1 = time.perf_counter()
    missing, t2, results = (_grouped if request.group_by is not None else _searched)(parts, queries, request)
    t3 = time.perf_counter()
    timings = {"validate_ms": (t1 - request.started) * 1e3, "scan_ms": (t2 - t1) * 1e3,
               "fetch_ms": (t3 - t2) * 1e3, "total_ms": (t3 - request.started) * 1e3}
    extra = parts.response_fields(request, missing)
    return [cast(SearchResponse, {"results": hits, "execution_time": t3 - request.started, "mode": request.mode,
                                  "timings": dict(timings), **extra}) for hits in results]


Found = tuple[list[str], float, list[list[dict[str, Any]]]]  # missing parts, end of the scan, hits per query


def _searched(parts: Parts, queries: np.ndarray, request: SearchRequest) -> Found:
    """Candidates, ranking and fetch, again if a compaction renumbered rows in between."""
    for attempt in range(SEARCH_ATTEMPTS):
        with parts.steady() if attempt == SEARCH_ATTEMPTS - 1 else nullcontext():
            found = _attempt(parts, queries, request)
        if found is not None:
            _, missing, t2, results = found
            return missing, t2, results
    raise NamespaceBusy("namespaces were compacted during every search attempt; try again")


GROUP_WIDEN = 4  # a grouped search reads this many hits per asked hit, then 4 times deeper


def _grouped(parts: Parts, queries: np.ndarray, request: SearchRequest) -> Found:
    """The best ``group_size`` hits of each of the ``top_k`` best groups: the mode's ranking read
    deep enough that every group is settled (core.grouping.group_hits)."""
    factor = GROUP_WIDEN * request.group_size
    field = cast(str, request.group_by)
    while True:
        deeper = request.deeper(factor)
        missing, t2, results = _searched(parts, queries, deeper)
        out, settled = [], True
        for i, hits in enumerate(results):
            asked = deeper.own_top_k(i)
            grouped, done = group_hits(hits, field, request.own_top_k(i), request.group_size,
                                       exhausted=len(hits) < asked or asked == MAX_TOP_K)
            out.append(grouped)
            settled &= done
        if settled:
            return missing, t2, out
        factor *= GROUP_WIDEN


def with_keywords(request: SearchRequest, parts: Parts) -> SearchRequest:
    """The request with each query's terms (tokenized as the index is) and the collection's
    statistics for them: every part then scores as one machine holding all items would."""
    terms = TOKENIZER_OF_QUERIES.terms(list(request.keyword_texts or ()))
    stats = parts.term_stats(sorted({t for ts in terms for t in ts}), request)
    return replace(request, keywords=bm25.keyword_queries(terms, stats))


def _rank(request: SearchRequest, found: list[Candidates]) -> Ranked:
    """The mode's ranking of every part's candidates (core.ranking, or core.fusion)."""
    k, pool, threshold = request.ranking()
    if not request.keyword_mode:
        # One part that proved its pool for every query's own k: the merged rule over the same rows
        # would find the same prefix (its first proof), so it is not applied again.
        proven = request.adaptive and len(found) == 1 and bool(np.all(np.asarray(k) == request.top_k))
        return rank(found, k, pool, threshold, adaptive=request.adaptive and not proven)
    depth = np.maximum(k, FUSION_DEPTH) if np.ndim(k) else max(int(k), FUSION_DEPTH)
    if request.mode == "keyword":
        return fusion.keyword_rank(found, k, depth, threshold)
    vector = rank(found, depth, None if request.adaptive else depth * request.oversample, adaptive=request.adaptive)
    return fusion.hybrid_rank(found, vector, k, depth, threshold, request.fusion, request.keyword_weight)


def _attempt(parts: Parts, queries: np.ndarray, request: SearchRequest
             ) -> tuple[list[Answer | None], list[str], float, list[list[dict[str, Any]]]] | None:
    """Candidates, ranking and fetch once; None if a compaction renumbered rows in between."""
    try:
        answers, missing = parts.candidates(queries, request)
    except Renumbered:
        return None
    live = [i for i, a in enumerate(answers) if a is not None]
    if not live:  # partial results need at least one part to answer
        raise ShardUnavailable(f"every shard is down: {', '.join(missing)}; retry shortly")
    t2 = time.perf_counter()
    ranked = _rank(request, [a.candidates for a in answers if a is not None])
    results = _fetch(parts, answers, live, ranked)
    return None if results is None else (answers, missing, t2, results)


def _fetch(parts: Parts, answers: Sequence[Answer | None], live: list[int],
           ranked: Ranked) -> list[list[dict[str, Any]]] | None:
    """The hits of every query, or None if a part's rows were renumbered since its answer."""
    owners = np.asarray(live, np.int64)[ranked.parts]  # the part (of all parts) of every hit
    asks = {p: (np.unique(ranked.rows[owners == p]).tolist(), cast(Answer, answers[p]).epoch)
            for p in np.unique(owners).tolist()}
    got = parts.fetch(asks)
    info = {p: rows for p, rows in got.items() if rows is not None}
    if len(info) != len(asks):
        return None
    names, loads = parts.namespaces, json.loads
    rows = [info[p][row] for p, row in zip(owners.tolist(), ranked.rows.tolist())]
    hits = [{"id": id_, "score": score, "label": name, "text": text, "metadata": {} if meta == "{}" else loads(meta),
             "namespace": names[p]}
            for score, name, p, (text, meta), id_ in zip(ranked.scores.tolist(), labels(ranked.scores),
                                                         owners.tolist(), rows, ranked.ids)]
    if ranked.keyword is not None:
        for hit, kw in zip(hits, ranked.keyword.tolist()):
            hit["keyword_score"] = kw
    if ranked.fusion is not None:
        for hit, fused in zip(hits, ranked.fusion.tolist()):
            hit["fusion_score"] = fused
    bounds = ranked.offsets.tolist()
    out = [hits[a:b] for a, b in zip(bounds, bounds[1:])]
    if ranked.final_order:
        return out
    # Display order: score, then id, then namespace. The ranking's order (score, tiebreak, ...) is
    # already that wherever no two hits of a query share a score: only those queries are sorted.
    tied = np.flatnonzero(ranked.scores[1:] == ranked.scores[:-1])
    for q in set((np.searchsorted(ranked.offsets, tied, side="right") - 1).tolist()):
        out[q].sort(key=lambda h: (-h["score"], h["id"], h["namespace"]))
    return out
