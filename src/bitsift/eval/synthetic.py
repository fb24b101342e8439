"""Synthetic embeddings for the demo and benchmarks: topic clusters on the unit sphere.

Real embeddings are not uniform noise: documents gather around topics and share
a common component. Each vector here is a topic centroid plus isotropic noise
plus a shared offset, L2-normalised, so nearest neighbours are mostly same-topic.
"""

from __future__ import annotations

import numpy as np


def clustered_vectors(n: int, dims: int, topics: int = 100, noise: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (float32[n, dims] unit vectors, int topic per vector)."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((topics, dims)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    shared = rng.standard_normal(dims).astype(np.float32) * (0.5 / np.sqrt(dims))
    topic = rng.integers(0, topics, size=n)
    x = centroids[topic] + noise * rng.standard_normal((n, dims)).astype(np.float32) / np.sqrt(dims) + shared
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), topic
