"""Brute-force model of a namespace: what search must return, computed the slow, obvious way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitsift.core import asymmetric, kernel, rescore, scoring
from bitsift.core.binarize import Binarizer, Centered, make_binarizer


@dataclass
class ModelNamespace:
    dims: int
    binarizer: str = "mib"
    items: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    encoder: Binarizer | None = None  # a centred binarizer learns its center from the first batch

    def upsert(self, batch: list[dict[str, Any]]) -> None:
        if self.encoder is None:
            self.encoder = make_binarizer(self.binarizer)
        if isinstance(self.encoder, Centered) and not self.encoder.fitted:
            self.encoder = self.encoder.fit(np.asarray([item["vector"] for item in batch], np.float32))
        for item in batch:
            self.items[item["id"]] = (np.asarray(item["vector"], np.float32), item.get("metadata") or {})

    def delete(self, ids: list[str]) -> None:
        for i in ids:
            self.items.pop(i, None)

    def search(self, query: np.ndarray, k: int, where=None, threshold=None) -> list[tuple[str, float]]:
        ids, _, codes, q = self._candidates(query, where)
        if not ids:
            return []
        ham = kernel.reference_hamming(q, codes)[0]
        score = scoring.its(ham, kernel.popcount_rows(q)[0], kernel.popcount_rows(codes), self.dims)
        order = sorted(range(len(ids)), key=lambda j: (-score[j], ham[j], ids[j]))[:k]
        hits = [(ids[j], float(score[j])) for j in order if threshold is None or score[j] >= threshold]
        return sorted(hits, key=lambda h: (-h[1], h[0]))

    def rescore(self, query: np.ndarray, k: int, oversample: int | None = None, where=None,
                threshold=None) -> list[tuple[str, float]]:
        """Rescore mode: every candidate's first-stage key (core.asymmetric's oracle, from its code
        and its float16 vector's corrective scalars); the pool is every candidate whose key is at
        least the (k * oversample)-th best, or (oversample None, the default) the shortest prefix by
        key that the bound proves (asymmetric.adaptive_cut over all candidates); each is scored
        ITS(arccos(rho)/pi) from its float16 vector (rho: the correlation with the query); ranked by
        score, then higher rho, then id."""
        ids, vecs, codes, _ = self._candidates(query, where)
        if not ids:
            return []
        stored = vecs.astype(np.float16)
        scalars = asymmetric.correctives(stored, codes, self.dims)
        key = asymmetric.keys(asymmetric.quantize(np.asarray(query, np.float32)[None, :]), codes, scalars, self.dims)[0]
        rho = rescore.correlation(np.asarray(query, np.float32), stored.astype(np.float32))
        score = rescore.its_from_correlation(rho)
        by_key = np.argsort(-key.astype(np.float64), kind="stable")
        if oversample is None:
            cut = asymmetric.adaptive_cut(key[by_key], rho[by_key], k)
            bound = key[by_key][(cut or len(ids)) - 1]
        else:
            need = k * oversample
            bound = key[by_key][need - 1] if len(ids) > need else key.min()
        pool = [j for j in range(len(ids)) if key[j] >= bound]
        order = sorted(pool, key=lambda j: (-score[j], -rho[j], ids[j]))[:k]
        hits = [(ids[j], float(score[j])) for j in order if threshold is None or score[j] >= threshold]
        return sorted(hits, key=lambda h: (-h[1], h[0]))

    def _candidates(self, query: np.ndarray, where) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(ids passing ``where``, their vectors, their codes, the query's code); nothing if none pass."""
        ids = [i for i, (_, meta) in self.items.items() if where is None or where(meta)]
        if not ids:
            return [], np.empty(0), np.empty(0), np.empty(0)
        vecs = np.stack([self.items[i][0] for i in ids])
        enc = self.encoder.encode
        return ids, vecs, enc(vecs), enc(np.asarray(query, np.float32)[None, :])


def as_pairs(response: dict[str, Any]) -> list[tuple[str, float]]:
    return [(r["id"], r["score"]) for r in response["results"]]


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [g[0] for g in got] == [w[0] for w in want], (got, want)
    np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=0, atol=1e-12)
