"""Shard scaling on Ray (not a test): one machine vs 1, 2 and 4 shards over the same vectors.

For each configuration: ingest time, single-client latency (p50/p95, with the engine's own
scan/fetch split), and closed-loop throughput at 1/4/16 clients, in rescore (default) and
binary mode. Every sharded answer is checked against the one-machine answer (ids and
scores), so the speed figures are for identical results. The per-shard figures feed the
capacity model in README.md ("Deployment on Ray").

Usage: python -m benchmarks.shards [--n 1000000] [--queries 300] [--shards 1,2,4]
       [--json benchmarks/shards.json]
Data: the peer suite's synthetic set (benchmarks/peers/datasets.py), cached after first use.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers.base import Searcher
from benchmarks.peers.datasets import synthetic
from benchmarks.peers.measure import percentiles, throughput
from bitsift.engine.local import Engine

BATCH = 10_000
NS = "bench"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ingest(engine: Any, vectors: np.ndarray, **create: Any) -> float:
    t0 = time.perf_counter()
    engine.create_namespace(NS, dimension=vectors.shape[1], **create)
    for s in range(0, len(vectors), BATCH):
        engine.upsert(NS, [{"id": str(i), "vector": vectors[i]} for i in range(s, min(s + BATCH, len(vectors)))])
    return time.perf_counter() - t0


class _Engine(Searcher):
    """The throughput harness's view of an engine (shared, thread-safe)."""

    def __init__(self, engine: Any, mode: str) -> None:
        self.engine, self.mode = engine, mode

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.engine.search(NS, query, top_k=k, mode=self.mode)["results"]

    def client(self) -> _Engine:
        return self

    def close(self) -> None:
        pass


def measure(engine: Any, queries: np.ndarray, mode: str, reference: list[list[tuple[str, float]]] | None,
            clients: list[int], seconds: float) -> tuple[dict[str, Any], list[list[tuple[str, float]]]]:
    wall, scan, fetch, answers = [], [], [], []
    for q in queries:
        t0 = time.perf_counter()
        res = engine.search(NS, q, top_k=10, mode=mode)
        wall.append((time.perf_counter() - t0) * 1e3)
        scan.append(res["timings"]["scan_ms"])
        fetch.append(res["timings"]["fetch_ms"])
        answers.append([(r["id"], r["score"]) for r in res["results"]])
    same = None if reference is None else sum(a == b for a, b in zip(answers, reference)) / len(queries)
    out = {"latency_ms": percentiles(wall), "scan_ms": percentiles(scan), "fetch_ms": percentiles(fetch),
           "identical_to_one_machine": same, "throughput": []}
    for c in clients:
        out["throughput"].append(throughput(_Engine(engine, mode), queries, 10, c, seconds))  # type: ignore[arg-type]
        log(f"    {mode} {c} clients: {out['throughput'][-1]['qps']:.1f} searches/s")
    return out, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--shards", default="1,2,4")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/shards.json"))
    ap.add_argument("--scratch", type=Path, default=None)
    args = ap.parse_args()
    import ray

    from bitsift.distributed import ShardedEngine

    ds = synthetic(args.n, queries=args.queries, seed=0)
    clients = [int(c) for c in args.clients.split(",")]
    log(f"{ds.name}: {len(ds.vectors):,} x {ds.vectors.shape[1]}, {len(ds.queries)} queries")
    ray.init(num_cpus=2, namespace="bitsift", log_to_driver=False, include_dashboard=False)
    result: dict[str, Any] = {"dataset": ds.name, "n": len(ds.vectors), "queries": len(ds.queries),
                              "machine": {"cpus": 2, "platform": platform.platform()}, "configs": []}
    with tempfile.TemporaryDirectory(prefix="bitsift-shards-", dir=args.scratch) as tmp:
        refs: dict[str, Any] = {}
        configs: list[tuple[str, int | None]] = [("one machine (Engine, no Ray)", None)]
        configs += [(f"{s} shard{'s' * (s > 1)} (Ray)", s) for s in map(int, args.shards.split(","))]
        for label, shards in configs:
            log(f"{label}: ingesting")
            root = Path(tmp) / (f"shards-{shards}" if shards else "one")
            engine: Any = Engine(root) if shards is None else ShardedEngine(root, address="auto")
            row: dict[str, Any] = {"config": label, "shards": shards,
                                   "ingest_s": ingest(engine, ds.vectors, **({"shards": shards} if shards else {}))}
            log(f"  ingested in {row['ingest_s']:.1f} s")
            for mode in ("rescore", "binary"):
                row[mode], answers = measure(engine, ds.queries, mode, refs.get(mode), clients, args.seconds)
                refs.setdefault(mode, answers)
                log(f"  {mode}: p50 {row[mode]['latency_ms']['p50']:.2f} ms, "
                    f"identical {row[mode]['identical_to_one_machine']}")
            result["configs"].append(row)
            engine.close()
            shutil.rmtree(root, ignore_errors=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    ray.shutdown()
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
