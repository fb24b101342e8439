"""Keyword and hybrid search through a real engine: scores keep their meaning, filters and writes
apply, batches equal single searches, and bad requests are clear 400s."""

from __future__ import annotations

import numpy as np
import pytest

import bitsift
from bitsift.core.errors import InvalidInput

DIMS = 32
TOPICS = ["wing stall at high angle of attack", "shock wave ahead of a blunt body", "heat transfer in a nozzle",
          "boundary layer transition on a flat plate", "onion soup with butter"]


@pytest.fixture
def client(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((500, DIMS)).astype(np.float32)
    with bitsift.Client(path=tmp_path) as c:
        c.create_namespace("h", dimension=DIMS)
        c.upload_vectors("h", [{"id": f"i{i:03d}", "vector": x[i], "text": f"{TOPICS[i % 5]} (note {i})",
                                "metadata": {"topic": i % 5, "n": i}} for i in range(500)])
        c.upload_vectors("h", [{"id": "plain", "vector": x[0]}])  # no text: never a keyword hit
        yield c, x


def test_keyword_mode_ranks_by_bm25_and_scores_by_its(client):
    c, x = client
    hits = c.search("h", x[1], mode="keyword", keywords="nozzle heat", top_k=20)["results"]
    assert len(hits) == 20 and all("nozzle" in h["text"] for h in hits)
    assert [h["keyword_score"] for h in hits] == sorted((h["keyword_score"] for h in hits), reverse=True)
    rescored = {h["id"]: h["score"] for h in c.search("h", x[1], top_k=500, oversample=1)["results"]}
    assert all(h["score"] == pytest.approx(rescored[h["id"]], abs=1e-12) for h in hits)  # the ITS of the vector
    assert all("fusion_score" not in h for h in hits)
    assert c.search("h", x[1], mode="keyword", keywords="zeppelin")["results"] == []
    every = c.search("h", x[1], mode="keyword", keywords="nozzle", top_k=100)["results"]
    floor = float(np.median([h["score"] for h in every]))
    strict = c.search("h", x[1], mode="keyword", keywords="nozzle", top_k=100, threshold=floor)["results"]
    assert strict == [h for h in every if h["score"] >= floor]  # dropped by ITS, the keyword order kept


def test_hybrid_fuses_and_reports_both_scores(client):
    c, x = client
    res = c.search("h", x[3], mode="hybrid", keywords="shock wave", top_k=10)
    hits = res["results"]
    assert res["mode"] == "hybrid" and len(hits) == 10
    assert [h["fusion_score"] for h in hits] == sorted((h["fusion_score"] for h in hits), reverse=True)
    assert hits[0]["id"] == "i003"  # its own vector, and it holds the words
    assert {h["id"] for h in hits} & {h["id"] for h in c.search("h", x[3], top_k=10)["results"]}
    assert sum("shock" in h["text"] for h in hits) > sum(
        "shock" in (h["text"] or "") for h in c.search("h", x[3], top_k=10)["results"])
    weighted = c.search("h", x[3], mode="hybrid", keywords="shock wave", fusion="weighted", keyword_weight=0.9)
    assert all("shock" in h["text"] for h in weighted["results"][:5])
    vector_only = c.search("h", x[3], mode="hybrid", keywords="shock", keyword_weight=0.0, top_k=10)["results"]
    deep = c.search("h", x[3], top_k=100)["results"][:10]  # the vector ranking a fusion reads: 100 deep
    assert [h["id"] for h in vector_only] == [h["id"] for h in deep]


def test_filters_text_filters_and_writes_apply(client):
    c, x = client
    hits = c.search("h", x[2], mode="hybrid", keywords="nozzle", filter={"n": {"$lt": 100}}, top_k=50)["results"]
    assert hits and all(h["metadata"]["n"] < 100 for h in hits)
    only = c.search("h", x[2], mode="keyword", keywords="heat", filter={"$text": "plate"})["results"]
    assert only == []  # no text holds both
    c.upload_vectors("h", [{"id": "new", "vector": x[2], "text": "a zeppelin over the nozzle"}])
    assert [h["id"] for h in c.search("h", x[2], mode="keyword", keywords="zeppelin")["results"]] == ["new"]
    c.delete("h", ["new"])
    assert c.search("h", x[2], mode="keyword", keywords="zeppelin")["results"] == []
    c.update("h", ["i004"], text="a zeppelin now")
    assert [h["id"] for h in c.search("h", x[4], mode="keyword", keywords="zeppelin")["results"]] == ["i004"]
    c.compact("h")
    assert [h["id"] for h in c.search("h", x[4], mode="keyword", keywords="zeppelin")["results"]] == ["i004"]


def test_a_batch_answers_like_single_searches_and_namespaces_merge(client):
    c, x = client
    words = ["wing stall", "heat", "onion butter", "nothing at all"]
    for mode in ("keyword", "hybrid"):
        batch = c.search_batch("h", x[:4], mode=mode, keywords=words, top_k=7)
        assert batch == [{**c.search("h", x[i], mode=mode, keywords=w, top_k=7), "execution_time": batch[i]["execution_time"],
                          "timings": batch[i]["timings"]} for i, w in enumerate(words)]
    c.create_namespace("h2", dimension=DIMS)
    c.upload_vectors("h2", [{"id": "z", "vector": x[9], "text": "wing stall wing stall"}])
    merged = c.search(["h", "h2"], x[9], mode="keyword", keywords="wing stall", top_k=3)["results"]
    assert merged[0]["id"] == "z" and merged[0]["namespace"] == "h2"


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "keyword"}, "give keywords="),
    ({"mode": "rescore", "keywords": "wing"}, "keywords apply to the keyword and hybrid modes"),
    ({"mode": "keyword", "keywords": "wing", "fusion": "rrf"}, "apply to the hybrid mode"),
    ({"mode": "hybrid", "keywords": "wing", "fusion": "max"}, "unknown fusion"),
    ({"mode": "hybrid", "keywords": "wing", "keyword_weight": 1.5}, "from 0 to 1"),
    ({"mode": "hybrid", "keywords": 7}, "keywords must be a text"),
])
def test_bad_keyword_requests_are_400s(client, kwargs, message):
    c, x = client
    with pytest.raises(InvalidInput, match=message):
        c.search("h", x[0], **kwargs)
    with pytest.raises(InvalidInput, match="one per query"):
        c.search_batch("h", x[:2], mode="keyword", keywords=["a"])
