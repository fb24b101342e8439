"""Brute-force model of a namespace: what search must return, computed the slow, obvious way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitsift.core import kernel, scoring
from bitsift.core.binarize import make_binarizer


@dataclass
class ModelNamespace:
    dims: int
    binarizer: str = "mib"
    items: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)

    def upsert(self, batch: list[dict[str, Any]]) -> None:
        for item in batch:
            self.items[item["id"]] = (np.asarray(item["vector"], np.float32), item.get("metadata") or {})

    def delete(self, ids: list[str]) -> None:
        for i in ids:
            self.items.pop(i, None)

    def search(self, query: np.ndarray, k: int, where=None, threshold=None) -> list[tuple[str, float]]:
        ids = [i for i, (_, meta) in self.items.items() if where is None or where(meta)]
        if not ids:
            return []
        enc = make_binarizer(self.binarizer).encode
        vecs = np.stack([self.items[i][0] for i in ids])
        codes, q = enc(vecs), enc(np.asarray(query, np.float32)[None, :])
        ham = kernel.reference_hamming(q, codes)[0]
        score = scoring.its(ham, kernel.popcount_rows(q)[0], kernel.popcount_rows(codes), self.dims)
        order = sorted(range(len(ids)), key=lambda j: (-score[j], ham[j], ids[j]))[:k]
        hits = [(ids[j], float(score[j])) for j in order if threshold is None or score[j] >= threshold]
        return sorted(hits, key=lambda h: (-h[1], h[0]))


def as_pairs(response: dict[str, Any]) -> list[tuple[str, float]]:
    return [(r["id"], r["score"]) for r in response["results"]]


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [g[0] for g in got] == [w[0] for w in want], (got, want)
    np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=0, atol=1e-12)
