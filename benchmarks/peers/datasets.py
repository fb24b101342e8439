"""Benchmark datasets: the real collections, and synthetic sets shaped like them.

Real: the BEIR-layout folders in ``../shared/data``, embedded with bitsift's default
model (cached by :func:`bitsift.eval.evaluate.cached_embeddings`, so reruns are quick).

Synthetic: a Gaussian with the mean and covariance of those real document embeddings,
L2-normalised. It reproduces the real eigenvalue spectrum and the shared offset
(anisotropy) that uniform noise lacks, but not the topic clusters, so nearest
neighbours are less separated than in real data: a hard case for every system alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL_COLLECTIONS = ("cranfield", "msmarco-5k", "dbpedia-5k")
CACHE = Path.home() / ".cache" / "bitsift" / "eval"


@dataclass
class Dataset:
    name: str
    vectors: np.ndarray  # float32[n, d], unit rows; the id of row i is i
    queries: np.ndarray  # float32[nq, d], unit rows
    qrels: list[dict[int, int]] | None = None  # per query: row id -> graded relevance (real sets)
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.vectors)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def real(name: str, folder: Path = SHARED_DATA, cache: Path = CACHE) -> Dataset:
    """One real collection with its judged queries; qrels keyed by row id."""
    from bitsift.eval.evaluate import cached_embeddings, load_collection
    from bitsift.text.embed import get_embedder

    col = load_collection(folder / name)
    model = get_embedder(None).name
    docs = cached_embeddings(col.doc_texts, model, cache, f"{col.name}-corpus")
    queries = cached_embeddings(col.query_texts, model, cache, f"{col.name}-queries")
    row = {d: i for i, d in enumerate(col.doc_ids)}
    qrels = [{row[d]: g for d, g in col.qrels[q].items() if d in row} for q in col.query_ids]
    return Dataset(name, _unit(docs), _unit(queries), qrels, {"source": f"shared/data/{name}", "model": model})


def real_spectrum(folder: Path = SHARED_DATA, names: tuple[str, ...] = REAL_COLLECTIONS,
                  cache: Path = CACHE) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance square root) of all real document embeddings together."""
    docs = np.concatenate([real(n, folder, cache).vectors for n in names]).astype(np.float64)
    mean = docs.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov(docs - mean, rowvar=False))
    return mean, eigvec * np.sqrt(np.clip(eigval, 0, None))


def synthetic(n: int, queries: int = 1000, seed: int = 0, folder: Path = SHARED_DATA,
              names: tuple[str, ...] = REAL_COLLECTIONS, cache: Path = CACHE) -> Dataset:
    """n vectors + queries drawn from N(mean, cov) of the real embeddings, normalised."""
    mean, root = real_spectrum(folder, names, cache)
    rng = np.random.default_rng(seed)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, len(mean)), dtype=np.float32)
        for s in range(0, count, 100_000):
            z = rng.standard_normal((min(100_000, count - s), root.shape[1]))
            out[s : s + len(z)] = _unit(mean + z @ root.T)
        return out

    name = f"synthetic-{n // 1000}k" if n % 1000 == 0 else f"synthetic-{n}"
    return Dataset(name, draw(n), draw(queries), None,
                   {"source": f"Gaussian with the mean and covariance of the document embeddings of {', '.join(names)}",
                    "seed": seed})


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ground truth: int64[nq, k] ids by exact inner product (ties -> smaller id)."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for s in range(0, len(vectors), 200_000):
        sims = queries @ vectors[s : s + 200_000].T
        take = min(k, sims.shape[1])
        part = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        best_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + s], axis=1)
    order = np.lexsort((best_i, -best_s), axis=1)
    return np.take_along_axis(best_i, order[:, :k], 1)
