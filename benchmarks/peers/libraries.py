"""In-process vector libraries: FAISS (flat, HNSW, binary flat, binary HNSW), hnswlib, usearch.

Every HNSW uses the same graph settings unless the suite says otherwise (M = 16,
efConstruction = 64: pgvector's defaults), so the systems differ by engine, not by knob.
Binary variants quantise by sign (bit = x > 0, as pgvector's ``binary_quantize`` and
most "binary quantization" features do) and re-rank ``k * oversample`` candidates by
exact float inner product, the same two-stage plan as bitsift's rescore mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import Adapter

THREADS = os.cpu_count() or 1


def sign_codes(x: np.ndarray) -> np.ndarray:
    """uint8[n, ceil(d/8)]: bit j = x_j > 0."""
    return np.packbits(x > 0, axis=-1)


def rerank(vectors: np.ndarray, query: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The k candidates with the highest exact inner product, best first (ties -> smaller id)."""
    candidates = candidates[candidates >= 0]
    sims = vectors[candidates] @ query
    order = np.lexsort((candidates, -sims))[:k]
    return candidates[order].astype(np.int64)


class FaissFlat(Adapter):
    """``IndexFlatIP``: exact float32 inner product, the ground truth engine."""

    name, exact = "faiss-flat", True

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        faiss.omp_set_num_threads(THREADS)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query[None, :], k)[1][0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(queries, k)[1]

    def index_bytes(self) -> int:
        return self.index.ntotal * self.index.d * 4


class FaissHNSW(Adapter):
    """``IndexHNSWFlat`` with inner product."""

    name, sweep_param = "faiss-hnsw", "ef_search"

    def __init__(self, m: int = 16, ef_construction: int = 64, **params: Any) -> None:
        super().__init__(m=m, ef_construction=ef_construction, **params)
        self.ef = 64

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        faiss.omp_set_num_threads(THREADS)
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], self.params["m"], faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = self.params["ef_construction"]
        self.index.add(vectors)

    cacheable = True

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / "faiss-hnsw.index"))

    def load(self, folder: Path, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        faiss.omp_set_num_threads(THREADS)
        self.index = faiss.read_index(str(folder / "faiss-hnsw.index"))

    def configure(self, value: Any) -> None:
        self.ef = int(value)

    def _params(self, k: int) -> Any:
        import faiss

        return faiss.SearchParametersHNSW(efSearch=max(self.ef, k))

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query[None, :], k, params=self._params(k))[1][0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(queries, k, params=self._params(k))[1]

    def index_bytes(self) -> int:
        import faiss

        return faiss.serialize_index(self.index).nbytes

    def settings(self) -> dict[str, Any]:
        return {**self.params, "ef_search": self.ef}


class FaissBinary(Adapter):
    """``IndexBinaryFlat`` (exact Hamming) or ``IndexBinaryHNSW`` over sign bits, + float re-rank."""

    def __init__(self, graph: bool = False, oversample: int = 10, m: int = 16, ef_construction: int = 64,
                 **params: Any) -> None:
        super().__init__(graph=graph, oversample=oversample, m=m, ef_construction=ef_construction, **params)
        self.name = "faiss-binary-hnsw" if graph else "faiss-binary-flat"
        self.sweep_param = "oversample"  # the re-rank pool caps recall, so it is the knob; ef follows it
        self.oversample = oversample

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        faiss.omp_set_num_threads(THREADS)
        self.vectors = vectors
        bits = vectors.shape[1] + (-vectors.shape[1]) % 8
        if self.params["graph"]:
            self.index = faiss.IndexBinaryHNSW(bits, self.params["m"])
            self.index.hnsw.efConstruction = self.params["ef_construction"]
        else:
            self.index = faiss.IndexBinaryFlat(bits)
        self.index.add(sign_codes(vectors))

    def configure(self, value: Any) -> None:
        self.oversample = int(value)

    def _candidates(self, queries: np.ndarray, k: int) -> np.ndarray:
        c = k * self.oversample
        if self.params["graph"]:
            self.index.hnsw.efSearch = c  # the binary index takes no per-call params; ef < c would truncate
        return self.index.search(sign_codes(queries), c)[1]

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return rerank(self.vectors, query, self._candidates(query[None, :], k)[0], k)

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        cands = self._candidates(queries, k)
        out = np.full((len(queries), k), -1, dtype=np.int64)
        for i, (q, c) in enumerate(zip(queries, cands)):
            ids = rerank(self.vectors, q, c, k)
            out[i, : len(ids)] = ids
        return out

    def index_bytes(self) -> int:
        import faiss

        # codes (+ graph) plus the float vectors the re-rank reads
        return faiss.serialize_index_binary(self.index).nbytes + self.vectors.nbytes

    def settings(self) -> dict[str, Any]:
        return {**self.params, "oversample": self.oversample,
                **({"ef_search": "k * oversample"} if self.params["graph"] else {}),
                "quantization": "sign bits (x > 0)", "rerank": "exact float32 inner product in NumPy"}


class Hnswlib(Adapter):
    """hnswlib float HNSW, inner product."""

    name, sweep_param = "hnswlib", "ef_search"

    def __init__(self, m: int = 16, ef_construction: int = 64, **params: Any) -> None:
        super().__init__(m=m, ef_construction=ef_construction, **params)
        self.ef = 64

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import hnswlib

        self.workdir = workdir
        self.index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        self.index.init_index(max_elements=len(vectors), M=self.params["m"], ef_construction=self.params["ef_construction"])
        self.index.add_items(vectors, np.arange(len(vectors)), num_threads=THREADS)

    cacheable = True

    def save(self, folder: Path) -> None:
        self.index.save_index(str(folder / "hnswlib.bin"))

    def load(self, folder: Path, vectors: np.ndarray, workdir: Path) -> None:
        import hnswlib

        self.workdir = workdir
        self.index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        self.index.load_index(str(folder / "hnswlib.bin"), max_elements=len(vectors))

    def configure(self, value: Any) -> None:
        self.ef = int(value)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.search_batch(query[None, :], k)[0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        self.index.set_ef(max(self.ef, k))  # hnswlib keeps ef on the index, not per call
        return self.index.knn_query(queries, k=k, num_threads=1)[0].astype(np.int64)

    def index_bytes(self) -> int:
        path = self.workdir / "hnswlib.bin"
        self.index.save_index(str(path))
        size = path.stat().st_size
        path.unlink()
        return size

    def settings(self) -> dict[str, Any]:
        return {**self.params, "ef_search": self.ef}


class Usearch(Adapter):
    """usearch HNSW: float32 inner product, or packed sign bits with Hamming + float re-rank."""

    def __init__(self, binary: bool = False, oversample: int = 10, m: int = 16, ef_construction: int = 64,
                 **params: Any) -> None:
        super().__init__(binary=binary, oversample=oversample, m=m, ef_construction=ef_construction, **params)
        self.name = "usearch-binary" if binary else "usearch"
        self.sweep_param = "oversample" if binary else "ef_search"  # as FaissBinary: the pool caps recall
        self.ef, self.oversample = 0 if binary else 64, oversample

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        from usearch.index import Index

        self.vectors = vectors
        common = dict(connectivity=self.params["m"], expansion_add=self.params["ef_construction"])
        if self.params["binary"]:
            self.index = Index(ndim=vectors.shape[1] + (-vectors.shape[1]) % 8, metric="hamming", dtype="b1", **common)
            data = sign_codes(vectors)
        else:
            self.index = Index(ndim=vectors.shape[1], metric="ip", dtype="f32", **common)
            data = vectors
        self.index.add(np.arange(len(vectors), dtype=np.uint64), data, threads=THREADS)

    def configure(self, value: Any) -> None:
        if self.params["binary"]:
            self.oversample = int(value)
        else:
            self.ef = int(value)

    def _raw(self, queries: np.ndarray, count: int) -> np.ndarray:
        self.index.expansion_search = max(self.ef, count)
        data = sign_codes(queries) if self.params["binary"] else queries
        keys = self.index.search(data, count, threads=1).keys
        return np.asarray(keys, dtype=np.int64).reshape(len(queries), -1)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.search_batch(query[None, :], k)[0]

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        if not self.params["binary"]:
            return self._raw(queries, k)
        cands = self._raw(queries, k * self.oversample)
        out = np.full((len(queries), k), -1, dtype=np.int64)
        for i, (q, c) in enumerate(zip(queries, cands)):
            ids = rerank(self.vectors, q, c[c < len(self.vectors)], k)
            out[i, : len(ids)] = ids
        return out

    def index_bytes(self) -> int:
        extra = self.vectors.nbytes if self.params["binary"] else 0
        return int(self.index.serialized_length) + extra

    def settings(self) -> dict[str, Any]:
        import usearch

        return {**self.params, "ef_search": "k * oversample" if self.params["binary"] else self.ef,
                "version": usearch.__version__,
                **({"quantization": "sign bits (x > 0)", "rerank": "exact float32 inner product in NumPy"}
                   if self.params["binary"] else {})}
