"""The searches a replica must answer exactly as its writer does (test_replica in process,
test_serve over Ray Serve): every mode, filters, thresholds, batches and grouping, over items
with texts (so keyword and hybrid modes have something to rank), ties and deleted rows."""

from __future__ import annotations

from typing import Any

import numpy as np

DIM = 48
WORDS = ["nozzle", "heat", "shock", "wave", "plate", "flow", "drag", "lift"]
VOLATILE = {"execution_time", "timings"}  # clocks, not results


def fill(front: Any, name: str, n: int = 900, seed: int = 7) -> np.ndarray:
    """Write ``n`` items (a tie group, a replaced batch, some deleted) into the namespace ``name``
    (already created, ``DIM`` dimensions); returns the queries the cases use."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    x[200:215] = x[3]  # a tie group larger than k: ids (then parts) must decide, as on one machine
    write = getattr(front, "upload_vectors", None) or front.upsert  # a client's name, or an engine's
    for lo, hi in ((0, n // 2), (n // 2, n), (100, 160)):  # the last batch replaces rows
        write(name, [{"id": f"d{i:04d}", "vector": (x[i] * (1.5 if lo == 100 else 1.0)).tolist(),
                             "text": " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 5)),
                             "metadata": {"g": i % 4, "n": i}} for i in range(lo, hi)])
    front.delete(name, [f"d{i:04d}" for i in range(0, n, 37)])
    return np.vstack([x[3], x[10], -x[3], rng.standard_normal((3, DIM)).astype(np.float32)])


def outcomes(front: Any, name: str, queries: np.ndarray) -> list[Any]:
    """Every case's answer, clocks removed: equal lists mean equal ids, scores, order and payloads."""
    out: list[Any] = []
    for mode in ("binary", "rescore"):
        for flt in (None, {"g": 1}, {"n": {"$gte": 450}}):
            out += [front.search(name, q, top_k=10, mode=mode, filter=flt) for q in queries[:3]]
        out.append(front.search(name, queries[0], top_k=25, mode=mode, threshold=0.6))
        out.append(front.search_batch(name, queries, top_k=7, mode=mode))
    out.append(front.search(name, queries[1], top_k=40, oversample=3))
    for mode in ("keyword", "hybrid"):
        out.append(front.search(name, queries[1], mode=mode, keywords="nozzle heat", top_k=12))
        out.append(front.search_batch(name, queries[:3], mode=mode, keywords=["shock", "plate wave", "lift"],
                                      top_k=6, filter={"g": {"$in": [0, 2]}}))
    out.append(front.search(name, queries[4], top_k=3, group_by="g", group_size=2))
    return [_clean(o) for o in out]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def ids(answer: dict[str, Any]) -> list[str]:
    return [h["id"] for h in answer["results"]]
