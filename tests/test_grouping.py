"""Grouped search: the best hit (or hits) per document, exact whatever depth it takes, the same
in process and over HTTP (Ray: test_distributed.py)."""

from __future__ import annotations

import pytest

import bitsift
from bitsift.api.http_client import HTTPClient
from bitsift.cli.demo import DEMO_QUERIES, cranfield_queries
from bitsift.core.errors import InvalidInput
from bitsift.core.grouping import group_hits
from corpus import NAMESPACE


def hit(id_, doc=None, namespace="n"):
    return {"id": id_, "namespace": namespace, "metadata": {} if doc is None else {"doc": doc}}


def test_group_hits_keeps_the_best_per_value_and_says_when_it_is_settled():
    hits = [hit("a1", "A"), hit("a2", "A"), hit("b1", "B"), hit("x"), hit("a3", "A"), hit("c1", "C"), hit("b2", "B")]
    got, settled = group_hits(hits, "doc", top_k=3, size=1, exhausted=False)
    assert [h["id"] for h in got] == ["a1", "b1", "x"] and settled  # x: no field, a group of its own
    assert [h["group"] for h in got] == ["A", "B", None]
    got, settled = group_hits(hits, "doc", top_k=2, size=2, exhausted=False)
    assert [h["id"] for h in got] == ["a1", "a2", "b1", "b2"] and settled
    got, settled = group_hits(hits, "doc", top_k=2, size=3, exhausted=False)
    assert [h["id"] for h in got] == ["a1", "a2", "a3", "b1", "b2"] and not settled  # B may have more deeper down
    assert group_hits(hits, "doc", top_k=2, size=3, exhausted=True)[1]
    assert not group_hits(hits[:2], "doc", top_k=2, size=1, exhausted=False)[1]  # one group seen of two
    nested = [{"id": "n1", "namespace": "n", "metadata": {"src": {"file": "f"}}}]
    assert group_hits(nested, "src.file", 1, 1, False)[0][0]["group"] == "f"


@pytest.mark.parametrize("kwargs, message", [({"group_by": "a b"}, "metadata field"), ({"group_size": 2}, "needs group_by"),
                                             ({"group_by": "d", "group_size": 0}, "from 1 to")])
def test_bad_grouping_is_a_400(tmp_path, kwargs, message):
    with bitsift.Client(path=tmp_path) as c:
        c.create_namespace("g", dimension=4)
        with pytest.raises(InvalidInput, match=message):
            c.search("g", [1.0, 0, 0, 0], **kwargs)


def searches():
    """The demo's queries, grouped by document, in every mode and with the options that change
    which hits are seen (filters, thresholds, several hits per group)."""
    queries = cranfield_queries()
    for qid in DEMO_QUERIES:
        text = queries[qid]
        yield dict(query=text, top_k=5, group_by="document_id")
        yield dict(query=text, top_k=4, group_by="document_id", group_size=2, mode="hybrid")
        yield dict(query=text, top_k=5, group_by="document_id", mode="binary", threshold=0.3)
        yield dict(query=text, top_k=3, group_by="document_id", mode="keyword")
        yield dict(query=text, top_k=5, group_by="document_id", filter={"chunk_index": 0})


def test_demo_queries_give_one_hit_per_document_in_process_and_over_http(cranfield, live_server):
    server = live_server(data_dir=cranfield)
    with bitsift.Client(path=cranfield) as local, HTTPClient(server.url) as remote:
        for params in searches():
            here = local.search(NAMESPACE, **params)["results"]
            assert remote.search(NAMESPACE, **params)["results"] == here
            docs = [h["metadata"]["document_id"] for h in here]
            size = params.get("group_size", 1)
            assert all(docs.count(d) <= size for d in docs) and len(set(docs)) == min(params["top_k"], len(set(docs)))
            assert [h["group"] for h in here] == docs
        # exact: the first hit of each document in a deep ungrouped ranking, read at the same depth
        text = cranfield_queries()["225"]
        grouped = local.search(NAMESPACE, text, top_k=5, group_by="document_id")["results"]
        deep = local.search(NAMESPACE, text, top_k=20)["results"]  # the depth a top-5 grouping reads first
        firsts: dict[str, str] = {}
        for h in deep:
            firsts.setdefault(h["metadata"]["document_id"], h["id"])
        assert [h["id"] for h in grouped] == list(firsts.values())[:5]
        ungrouped = [h["metadata"]["document_id"] for h in local.search(NAMESPACE, text, top_k=5)["results"]]
        assert len(set(ungrouped)) < 5  # the case: two chunks of 1188 in the plain top 5


def test_a_batch_groups_each_query(cranfield):
    queries = cranfield_queries()
    texts = [queries[q] for q in DEMO_QUERIES]
    with bitsift.Client(path=cranfield) as c:
        batch = c.search_batch(NAMESPACE, texts, top_k=5, group_by="document_id")
        assert [r["results"] for r in batch] == [c.search(NAMESPACE, t, top_k=5, group_by="document_id")["results"]
                                                 for t in texts]
