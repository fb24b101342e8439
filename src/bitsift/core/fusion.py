"""Keyword and hybrid ranking: pure functions over every part's candidates, like core.ranking.

Keyword mode orders by BM25 (core.bm25). Hybrid mode fuses two rankings of depth
``max(top_k, FUSION_DEPTH)``: the vector one (rescore mode's order: ITS of the re-scored
correlation) and the keyword one. Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR
2009), weighted: fusion(d) = (1 - w) / (k + rank_vector(d)) + w / (k + rank_keyword(d)), a term
counting 0 where d is not in that ranking; or a weighted fusion of the scores, each min-max
normalised over its own ranking (relative score fusion): (1 - w) * v(d) + w * s(d).
``w`` is ``keyword_weight``. The defaults (spec: RRF, k = RRF_K, w = DEFAULT_KEYWORD_WEIGHT)
were measured on the three shared collections (benchmarks/README.md, "Keyword and hybrid").

Scores keep their meaning: a hit's ``score`` is still the ITS of its vector, and ``threshold``
applies to it; the fusion decides only the order, and is reported beside it. Ties are broken by
ITS, then id, then part order: never by row numbers, so sharded answers equal one machine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bitsift.core.ranking import Part, PerQuery, Ranked
from bitsift.core.spec import RRF_K


def _flat(parts: Sequence[Part]) -> dict[str, np.ndarray]:
    """Every part's columns end to end, with each candidate's query and part."""
    def cat(col: str, dtype: Any) -> np.ndarray:
        columns = [np.asarray(getattr(p, col), dtype) for p in parts]
        return np.concatenate(columns) if columns else np.zeros(0, dtype)
    bounds = [np.asarray(p.bounds, np.int64) for p in parts]
    return {
        "score": cat("scores", np.float64), "tiebreak": cat("tiebreak", np.float64), "rows": cat("rows", np.int64),
        "keyword": cat("keyword", np.float64), "ids": cat("ids", object),
        "query": np.concatenate([np.repeat(np.arange(len(b) - 1), np.diff(b)) for b in bounds])
        if parts else np.zeros(0, np.int64),
        "part": np.repeat(np.arange(len(parts)), [b[-1] - b[0] for b in bounds]) if parts else np.zeros(0, np.int64),
    }


def _by_query(f: dict[str, np.ndarray], nq: int) -> list[np.ndarray]:
    """Each query's candidate positions, found in one stable sort (not one scan per query)."""
    order = np.argsort(f["query"], kind="stable")
    return np.split(order, np.cumsum(np.bincount(f["query"], minlength=nq))[:-1]) if nq else []


def _order(idx: np.ndarray, primary: np.ndarray, f: dict[str, np.ndarray]) -> np.ndarray:
    """``idx`` ordered by ``primary`` (higher first), then ITS, tiebreak, id and part."""
    ids = f["ids"][idx]
    id_rank = np.unique(ids, return_inverse=True)[1] if idx.size else np.zeros(0, np.int64)
    return idx[np.lexsort((f["part"][idx], id_rank, f["tiebreak"][idx], -f["score"][idx], -primary))]


def keyword_rank(parts: Sequence[Part], k: PerQuery, depth: PerQuery, threshold: float | np.ndarray | None) -> Ranked:
    """Keyword mode: per query, the candidates holding a query term, best BM25 first; then those
    scoring (ITS) below ``threshold`` dropped, and the first ``k`` kept."""
    f = _flat(parts)
    nq = len(parts[0].bounds) - 1 if parts else 0
    chosen = []
    for q, mine in enumerate(_by_query(f, nq)):
        idx = mine[f["keyword"][mine] > 0]
        order = _order(idx, f["keyword"][idx], f)[:_at(depth, q)]
        chosen.append(_cut(order, f, q, k, threshold))
    return _ranked(f, chosen, nq, with_fusion=None)


def hybrid_rank(parts: Sequence[Part], vector: Ranked, k: PerQuery, depth: PerQuery,
                threshold: float | np.ndarray | None, fusion: str, weight: float) -> Ranked:
    """Hybrid mode: ``vector`` (core.ranking.rank's top ``depth`` of the same candidates) fused with
    the keyword ranking of depth ``depth``; then the threshold and the cut at ``k``."""
    f = _flat(parts)
    nq = len(vector.offsets) - 1
    key = f["part"] * (1 << 40) + f["rows"]  # a candidate's identity within one query
    chosen, fused_all = [], np.zeros(f["rows"].size)
    for q, mine in enumerate(_by_query(f, nq)):
        at = {int(c): int(i) for c, i in zip(key[mine], mine)}
        a, b = vector.offsets[q], vector.offsets[q + 1]
        vec = np.fromiter((at[int(p) * (1 << 40) + int(r)] for p, r in zip(vector.parts[a:b], vector.rows[a:b])),
                          np.int64, b - a)[: _at(depth, q)]
        # The vector ranking breaks ties by part and row (core.ranking); its ranks here must not:
        # a tie group is ranked by id, then part, as on one machine, whatever the sharding.
        vec = _order(vec, f["score"][vec], f)
        matched = mine[f["keyword"][mine] > 0]
        kw = _order(matched, f["keyword"][matched], f)[: _at(depth, q)]
        if fusion == "rrf":
            np.add.at(fused_all, vec, (1 - weight) / (RRF_K + 1 + np.arange(vec.size)))
            np.add.at(fused_all, kw, weight / (RRF_K + 1 + np.arange(kw.size)))
        else:
            np.add.at(fused_all, vec, (1 - weight) * _minmax(f["score"][vec]))
            np.add.at(fused_all, kw, weight * _minmax(f["keyword"][kw]))
        pool = np.union1d(vec, kw)
        chosen.append(_cut(_order(pool, fused_all[pool], f), f, q, k, threshold))
    return _ranked(f, chosen, nq, with_fusion=fused_all)


def _at(value: int | np.ndarray, q: int) -> int:
    return int(value) if np.ndim(value) == 0 else int(np.asarray(value)[q])


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min()) if x.size else 0.0
    return np.ones(x.size) if span == 0 else (x - x.min()) / span


def _cut(order: np.ndarray, f: dict[str, np.ndarray], q: int, k: PerQuery,
         threshold: float | np.ndarray | None) -> np.ndarray:
    floor = None if threshold is None else _at_float(threshold, q)
    if floor is not None:
        order = order[f["score"][order] >= floor]
    return order[: _at(k, q)]


def _at_float(value: float | np.ndarray, q: int) -> float:
    return float(value) if np.ndim(value) == 0 else float(np.asarray(value)[q])


def _ranked(f: dict[str, np.ndarray], chosen: list[np.ndarray], nq: int, with_fusion: np.ndarray | None) -> Ranked:
    idx = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    offsets = np.zeros(nq + 1, np.int64)
    np.cumsum([c.size for c in chosen], out=offsets[1:])
    return Ranked(f["score"][idx], f["part"][idx], f["rows"][idx], f["ids"][idx].tolist(), offsets,
                  keyword=f["keyword"][idx], fusion=None if with_fusion is None else with_fusion[idx])
