"""Second stage: exact scores for binary candidates from their stored float vectors.

MIB thresholds each vector at its own median, so the D components of a (query,
document) pair behave like samples of two correlated variables; by Sheppard's
formula the expected fraction of disagreeing bits is h = arccos(rho) / pi, rho being
the correlation of the components (cosine of the mean-centred vectors). Reporting
ITS(arccos(rho) / pi) keeps the score on the ITS scale, so labels and thresholds mean
the same in both modes, without the noise of 1-bit codes (DESIGN §2).
"""

from __future__ import annotations

import numpy as np

from bitsift.core.scoring import its_balanced


def correlation(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """rho between one query (float[D]) and each row of ``vectors`` (float[N, D]); 0 for constant rows.

    The reference formula; searches use its native twin, kernel.correlation_f16, which reads
    only the candidate rows of the float16 file and converts them on the fly."""
    q = np.asarray(query, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    q = q - q.mean()
    v = v - v.mean(axis=1, keepdims=True)
    # Row by row, never BLAS: a matrix-vector product's rounding depends on how many rows it
    # gets, and a shard re-scores fewer rows than one machine would (scores must match to the bit).
    denom = np.sqrt(np.einsum("ij,ij->i", v, v)) * np.sqrt(q @ q)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(denom > 0, np.einsum("ij,j->i", v, q) / denom, 0.0)
    return np.clip(rho, -1.0, 1.0)


def its_from_correlation(rho: np.ndarray) -> np.ndarray:
    """Expected ITS of MIB codes at correlation rho: ITS(arccos(rho) / pi)."""
    return its_balanced(np.arccos(np.clip(rho, -1.0, 1.0)) / np.pi)
