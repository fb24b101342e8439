"""Qdrant's own Rust engine in process, through Qdrant Edge (PyPI ``qdrant-edge-py``).

One ``EdgeShard`` per adapter, stored under the build() workdir. Edge runs no background
services: upserts land in an appendable plain segment, and the HNSW graph (and any
quantized codes) is built only by ``EdgeShard.optimize()``, which blocks until no more
optimizations are planned — so build() calls it and then checks that every vector is
indexed. The shard is a single ``Dot`` vector (rows are unit: dot == cosine, and Qdrant
would only re-normalise for ``Cosine``). The WAL is off: the data is written once and
flushed, as the other in-process libraries are not journalled either.

Graph settings follow the suite (M = 16, ef_construct = 64); ``full_scan_threshold`` is
1 KB so an unfiltered search always walks the graph instead of falling back to brute
force. Point ids are the row numbers.
"""

from __future__ import annotations

import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from .base import Adapter

THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
BATCH = 10_000  # points per upsert call: one Rust call each, ~0.3 s per batch at 384-d


def _log(msg: str) -> None:
    print(f"[qdrant-edge] {msg}", file=sys.stderr, flush=True)


def _disk_bytes(root: Path) -> int:
    """Bytes allocated on disk (du): Qdrant pre-sizes mmap files (32 MiB payload pages,
    chunk files) sparsely, so apparent sizes would overstate the index many times."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            total += st.st_blocks * 512
    return total


class _QdrantEdge(Adapter):
    """Shared shard lifecycle; subclasses pick the index and the search params."""

    sweep_param = "ef_search"
    indexed = True  # build the HNSW graph in build()

    def __init__(self, m: int = 16, ef_construct: int = 64, segments: int | None = None,
                 max_segment_kb: int | None = None, **params: Any) -> None:
        super().__init__(m=m, ef_construct=ef_construct, segments=segments, max_segment_kb=max_segment_kb, **params)
        self.ef = 64
        self.shard: Any = None
        self.path: Path | None = None
        self.build_info: dict[str, Any] = {}

    # -- configuration -------------------------------------------------------------
    def _quantization(self) -> Any:
        """Per-vector quantization config, or None for plain float32."""
        return None

    def _search_params(self, k: int) -> Any:
        import qdrant_edge as qe

        return qe.SearchParams(hnsw_ef=max(self.ef, k))

    def _config(self, dim: int) -> Any:
        import qdrant_edge as qe

        p = self.params
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Dot, quantization_config=self._quantization()),
            hnsw_config=qe.HnswIndexConfig(m=p["m"], ef_construct=p["ef_construct"], full_scan_threshold=1,
                                           max_indexing_threads=THREADS),
            # indexing_threshold (KB): 1 = index any non-empty segment, 0 = never index
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1 if self.indexed else 0,
                                               default_segment_number=p["segments"],
                                               max_segment_size=p["max_segment_kb"]),
            wal_enabled=False,
        )

    # -- build -----------------------------------------------------------------------
    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import qdrant_edge as qe

        n, dim = vectors.shape
        self.path = workdir / "qdrant-edge"
        self.shard = qe.EdgeShard.create(str(self.path), self._config(dim))
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            rows = vectors[start:start + BATCH].tolist()  # lists convert faster than ndarray rows
            self.shard.update(qe.UpdateOperation.upsert_points(
                [qe.Point(start + i, row) for i, row in enumerate(rows)]))
            if (start // BATCH) % 20 == 19:
                _log(f"upserted {start + len(rows):,}/{n:,} ({time.perf_counter() - t0:.1f} s)")
        upsert_s = time.perf_counter() - t0
        _log(f"{self.name}: upserted {n:,} in {upsert_s:.1f} s; optimizing")
        t1, c1 = time.perf_counter(), time.process_time()
        self._optimize()
        self.shard.flush()
        optimize_s, optimize_cpu_s = time.perf_counter() - t1, time.process_time() - c1
        info = self.shard.info()
        if info.points_count != n:
            raise RuntimeError(f"{self.name}: {info.points_count} points stored, expected {n}")
        if self.indexed and info.indexed_vectors_count < n:
            raise RuntimeError(f"{self.name}: only {info.indexed_vectors_count}/{n} vectors indexed")
        self.build_info = {"upsert_s": round(upsert_s, 2), "optimize_s": round(optimize_s, 2),
                           "optimize_cpu_s": round(optimize_cpu_s, 2),  # all threads: wall time lies on shared cores
                           "segments_count": info.segments_count, "indexed_vectors": info.indexed_vectors_count}
        _log(f"{self.name}: optimized in {optimize_s:.1f} s ({optimize_cpu_s:.0f} CPU s), {info.segments_count} segments, "
             f"{info.indexed_vectors_count:,} indexed")

    # The shard is its files: a cached one is a copy of the built folder, loaded in place.
    cacheable = True

    def save(self, folder: Path) -> None:
        import shutil

        self.shard.flush()
        self.shard.close()
        shutil.copytree(self.path, folder / "qdrant-edge", dirs_exist_ok=True)
        self.load(folder, np.zeros((0, 0)), self.path.parent)

    def load(self, folder: Path, vectors: np.ndarray, workdir: Path) -> None:
        import shutil

        import qdrant_edge as qe

        self.path = workdir / "qdrant-edge"
        if self.path.exists():
            shutil.rmtree(self.path)
        shutil.copytree(folder / "qdrant-edge", self.path)
        self.shard = qe.EdgeShard.load(str(self.path))

    def _optimize(self) -> None:
        """Build every segment's index now. optimize() returns True while it changed
        something, so loop until a no-op. It holds the GIL and reports no progress (a
        heartbeat thread cannot run), and its indexing threads run at nice +9."""
        while self.shard.optimize():
            pass

    # -- search ----------------------------------------------------------------------
    def configure(self, value: Any) -> None:
        self.ef = int(value)

    def _request(self, query: np.ndarray, k: int, params: Any) -> Any:
        import qdrant_edge as qe

        return qe.QueryRequest(limit=k, query=qe.Query.Nearest(query.tolist()), params=params)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        hits = self.shard.query(self._request(query, k, self._search_params(k)))
        return np.fromiter((h.id for h in hits), dtype=np.int64, count=len(hits))

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        """``query_batch`` plans the batch as one pass over the segments (several times
        cheaper per query for exact search than one call each)."""
        import qdrant_edge as qe

        params = self._search_params(k)
        results = self.shard.query_batch(qe.QueryBatchRequest([self._request(q, k, params) for q in queries]))
        out = np.full((len(queries), k), -1, dtype=np.int64)
        for i, hits in enumerate(results):
            out[i, : len(hits)] = [h.id for h in hits]
        return out

    def client(self) -> Adapter:
        """The shard is shared and thread-safe, but in 0.9.0 ``query``/``query_batch`` hold
        the GIL for the whole search (measured: a Python thread stalls for the length of
        each call, and 2-4 client threads give the same QPS as one). Concurrent clients
        therefore serialise; that is the binding's real behaviour, so it is reported as is
        rather than hidden behind one worker process per client."""
        return self

    # -- report / teardown -----------------------------------------------------------
    def index_bytes(self) -> int:
        return _disk_bytes(self.path) if self.path is not None and self.path.exists() else 0

    def settings(self) -> dict[str, Any]:
        return {**self.params, "ef_search": self.ef if self.indexed else None, "distance": "Dot",
                "full_scan_threshold_kb": 1, "max_indexing_threads": THREADS, "wal": False,
                "package": f"qdrant-edge-py {version('qdrant-edge-py')}", **self.build_info}

    def close(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None


class QdrantHNSW(_QdrantEdge):
    """Float32 vectors, HNSW graph, ``hnsw_ef`` swept."""

    name = "qdrant-edge-hnsw"


class QdrantExact(_QdrantEdge):
    """Exact top-k: ``SearchParams(exact=True)`` over a plain (unindexed) segment; building
    a graph it never reads would only add minutes to the build."""

    name, exact, sweep_param, indexed = "qdrant-edge-exact", True, None, False

    def _search_params(self, k: int) -> Any:
        import qdrant_edge as qe

        return qe.SearchParams(exact=True)

    def configure(self, value: Any) -> None:
        Adapter.configure(self, value)


class QdrantBinary(_QdrantEdge):
    """1-bit binary quantization kept in RAM, HNSW over the codes, and the
    ``limit * oversampling`` candidates rescored with the original float vectors."""

    name = "qdrant-edge-bq-hnsw"

    def __init__(self, oversampling: float = 10.0, rescore: bool = True, query_encoding: str | None = None,
                 **params: Any) -> None:
        super().__init__(oversampling=oversampling, rescore=rescore, query_encoding=query_encoding, **params)

    def _quantization(self) -> Any:
        import qdrant_edge as qe

        enc = self.params["query_encoding"]  # None, "Binary", "Scalar4Bits", "Scalar8Bits"
        return qe.BinaryQuantizationConfig(
            always_ram=True, encoding=qe.BinaryQuantizationEncoding.OneBit,
            query_encoding=getattr(qe.BinaryQuantizationQueryEncoding, enc) if enc else None)

    def _search_params(self, k: int) -> Any:
        import qdrant_edge as qe

        return qe.SearchParams(hnsw_ef=max(self.ef, k), quantization=qe.QuantizationSearchParams(
            rescore=self.params["rescore"], oversampling=float(self.params["oversampling"])))

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "quantization": "binary 1-bit, always_ram",
                "query_encoding": self.params["query_encoding"] or "Default"}
