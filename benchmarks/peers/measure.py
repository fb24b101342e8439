"""What is measured for each system: recall, nDCG, latency percentiles, throughput under load."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from bitsift.eval.metrics import ndcg_at_k

from .base import Adapter


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top-k ids each system returned (found and truth: int64[nq, k])."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[f >= 0].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth)]))


def mean_ndcg(found: np.ndarray, qrels: list[dict[int, int]], k: int = 10) -> float:
    """nDCG@k with graded judgments (bitsift.eval.metrics.ndcg_at_k) over row ids."""
    return float(np.mean([ndcg_at_k([str(i) for i in f[:k] if i >= 0], {str(d): g for d, g in q.items()}, k)
                          for f, q in zip(found, qrels)]))


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


def single_client_latency(adapter: Adapter, queries: np.ndarray, k: int) -> list[float]:
    """Milliseconds of each one-query search, one after another, after one warm-up query."""
    adapter.search(queries[0], k)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        adapter.search(q, k)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def throughput(adapter: Adapter, queries: np.ndarray, k: int, clients: int, seconds: float,
               warmup: float | None = None, max_seconds: float | None = None) -> dict[str, Any]:
    """Closed loop: ``clients`` threads, each with its own handle, search back to back.

    Every thread starts at a different query and cycles through all of them. The rate is the
    searches *completed* inside the measuring window divided by its length, so a slow system
    under many clients is not undercounted (a search may have started before the window).
    The window is ``seconds`` long, stretched (up to ``max_seconds``, default 10x) until at
    least two searches per client have completed in it.
    """
    warmup = min(0.5, seconds / 2) if warmup is None else warmup
    max_seconds = 10 * seconds if max_seconds is None else max_seconds
    handles = [adapter.client() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    window = {"begin": 0.0, "end": math.inf}
    done: list[list[tuple[float, float]]] = [[] for _ in range(clients)]  # (end time, latency ms)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        h, j = handles[i], (i * 7919) % len(queries)
        start.wait()
        while time.perf_counter() < window["end"]:
            t0 = time.perf_counter()
            try:
                h.search(queries[j], k)
            except BaseException as exc:  # reported, not hidden
                errors.append(exc)
                return
            t1 = time.perf_counter()
            done[i].append((t1, (t1 - t0) * 1e3))
            j = (j + 1) % len(queries)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    begin = time.perf_counter() + warmup
    window["begin"] = begin
    start.wait()

    def completed(until: float) -> int:
        return sum(1 for d in done for t1, _ in list(d) if begin <= t1 <= until)

    end = begin + seconds
    time.sleep(max(0.0, end - time.perf_counter()))
    while completed(end) < 2 * clients and end - begin < max_seconds and not errors:
        end += seconds
        time.sleep(max(0.0, end - time.perf_counter()))
    window["end"] = end
    for t in threads:
        t.join()
    for h in handles:
        if h is not adapter:
            h.close()
    if errors:
        raise RuntimeError(f"{len(errors)} of {clients} clients failed: {errors[0]!r}")
    lat = [ms for d in done for t1, ms in d if begin <= t1 <= end]
    return {"clients": clients, "qps": len(lat) / (end - begin), "searches": len(lat), "window_s": end - begin,
            **({f"load_{key}": v for key, v in percentiles(lat).items()} if lat else {})}


def choose_operating_point(points: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The cheapest sweep point that reaches ``target`` recall (points are in sweep order,
    cheapest first); if none does, the one with the best recall, flagged."""
    for p in points:
        if p["recall@10"] >= target - 1e-9:
            return {**p, "reached_target": True}
    best = max(points, key=lambda p: (p["recall@10"], -p["latency"]["p50"]))
    return {**best, "reached_target": False}


def bytes_per_vector(total: int, n: int) -> float:
    return total / n if n else math.nan
