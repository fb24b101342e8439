"""search_batch: one response per query, each identical to search, one kernel pass per part."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import bitsift
from bitsift.core import kernel
from bitsift.core.spec import MAX_BATCH_QUERIES

DIMS = 24


def _results(res):
    return [(h["id"], h["score"], h["label"], h["text"], h["metadata"], h["namespace"]) for h in res["results"]]


@pytest.fixture
def client(tmp_path, rng):
    with bitsift.Client(path=tmp_path / "d") as c:
        for name, binarizer in (("a", "mib"), ("b", "sign"), ("c", "centered")):
            c.create_namespace(name, dimension=DIMS, binarizer=binarizer)
            x = rng.standard_normal((300, DIMS)).astype(np.float32)
            x[150:160] = x[3]  # a tie group straddling every cut
            c.upload_vectors(name, [{"id": f"{name}{i:03d}", "vector": v, "text": f"t{i}", "metadata": {"g": i % 3}}
                                    for i, v in enumerate(x)])
        c.delete("a", ["a010", "a151"])
        yield c


@pytest.mark.parametrize("names", ["a", "b", "c", ["a", "b"]])
@pytest.mark.parametrize("params", [{}, {"mode": "binary"}, {"top_k": 3, "oversample": 1},
                                    {"filter": {"g": 1}, "threshold": 0.1}, {"top_k": 40, "mode": "binary"}])
def test_each_response_is_the_single_search_response(client, rng, names, params):
    queries = rng.standard_normal((17, DIMS)).astype(np.float32)
    queries[5] = queries[2]  # duplicate queries answer alike
    batch = client.search_batch(names, queries, **params)
    assert len(batch) == len(queries)
    for q, res in zip(queries, batch):
        single = client.search(names, q.tolist(), **params)
        assert _results(res) == _results(single)
        assert res["mode"] == single["mode"]
    assert _results(batch[5]) == _results(batch[2])


def test_one_kernel_pass_serves_the_whole_batch(client, rng, monkeypatch):
    calls = []
    real_hamming, real_asymmetric = kernel.scan_topk, kernel.asym_topk

    def counting(queries, *args, **kwargs):
        calls.append(queries.shape[0])
        return real_hamming(queries, *args, **kwargs)

    def counting_asymmetric(queries, *args, **kwargs):
        calls.append(queries.levels.shape[0])
        return real_asymmetric(queries, *args, **kwargs)

    monkeypatch.setattr(kernel, "scan_topk", counting)
    monkeypatch.setattr(kernel, "asym_topk", counting_asymmetric)
    client.search_batch("a", rng.standard_normal((50, DIMS)), top_k=5, mode="binary")
    assert calls == [50]  # balanced codes: no query needed a wider rescan
    for oversample in (None, 10):  # rescore: the adaptive pool and a fixed one
        calls.clear()
        client.search_batch("a", rng.standard_normal((50, DIMS)), top_k=5, oversample=oversample)
        assert calls == [50]


def test_one_invalid_query_rejects_the_batch_and_names_it(client, rng):
    good = rng.standard_normal(DIMS).tolist()
    with pytest.raises(bitsift.DimensionMismatch, match=r"queries\[2\]: expected dimension 24, got 3"):
        client.search_batch("a", [good, good, [1.0, 2.0, 3.0], good])
    with pytest.raises(bitsift.InvalidVector, match=r"queries\[1\]"):
        client.search_batch("a", [good, [float("nan")] * DIMS])
    with pytest.raises(bitsift.InvalidInput, match=r"queries\[0\]: a text query needs text namespaces"):
        client.search_batch("a", ["hello", good])
    with pytest.raises(bitsift.InvalidInput, match="1 to 1000 queries"):
        client.search_batch("a", [good] * (MAX_BATCH_QUERIES + 1))
    with pytest.raises(bitsift.InvalidInput, match="1 to 1000 queries"):
        client.search_batch("a", [])
    with pytest.raises(bitsift.InvalidInput, match="list of texts or vectors"):
        client.search_batch("a", "hello")


def test_single_search_errors_still_name_the_query(client):
    with pytest.raises(bitsift.DimensionMismatch, match=r"^query: expected dimension 24, got 3$"):
        client.search("a", [1.0, 2.0, 3.0])


@pytest.mark.live
def test_rest_batch_and_both_http_clients_match_in_process(live_server, rng, tmp_path):
    live = live_server(tmp_path / "srv")
    queries = rng.standard_normal((9, DIMS)).astype(np.float32)
    with bitsift.Client(url=live.url) as http:
        http.create_namespace("v", dimension=DIMS)
        http.upload_vectors("v", [{"id": f"i{i}", "vector": v} for i, v in enumerate(rng.standard_normal((200, DIMS)))])
        batch = http.search_batch("v", queries, top_k=4)
        assert [_results(r) for r in batch] == [_results(http.search("v", q.tolist(), top_k=4)) for q in queries]
        assert all("server_ms" in r["timings"] for r in batch)
        with pytest.raises(bitsift.DimensionMismatch, match=r"queries\[1\]"):
            http.search_batch("v", [queries[0].tolist(), [0.5]])

    async def run():
        async with bitsift.AsyncHTTPClient(live.url) as a:
            return await a.search_batch("v", queries, top_k=4)

    assert [_results(r) for r in asyncio.run(run())] == [_results(r) for r in batch]
    local = live.engine.search_batch("v", queries, top_k=4)
    assert [_results(r) for r in local] == [_results(r) for r in batch]
