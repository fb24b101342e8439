"""update (engine.namespace.Namespace.update): metadata merged and unset, text replaced, vectors
untouched; rows rewritten, never changed in place, so cached filter masks stay right."""

from __future__ import annotations

import numpy as np
import pytest

import bitsift
from bitsift.core import errors
from counting_embedder import LOG_ENV, NAME, calls, digest, register

DIMS = 16


@pytest.fixture
def client(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as c:
        yield c


def _vectors(c, n=50):
    x = np.random.default_rng(3).standard_normal((n, DIMS)).astype(np.float32)
    c.create_namespace("v", dimension=DIMS)
    c.upload_vectors("v", [{"id": f"i{i}", "vector": x[i], "text": f"t{i}", "metadata": {"g": i % 5, "k": i}}
                           for i in range(n)])
    return x


def test_metadata_merge_and_unset_keep_the_vector_and_the_ranking(client):
    x = _vectors(client)
    before = client.get("v", ["i3"], include_vectors=True)[0]
    ranked = client.search("v", x[3], top_k=10, mode="binary")["results"]
    assert client.search("v", x[3], top_k=50, filter={"g": 9})["results"] == []  # a mask is now cached
    got = client.update("v", ["i3", "i4", "nope"], metadata={"g": 9, "new": [1, 2]}, unset=["k"])
    assert got == {"status": "success", "updated": ["i3", "i4"], "requested_ids": ["i3", "i4", "nope"]}
    after = client.get("v", ["i3"], include_vectors=True)[0]
    assert after["vector"] == before["vector"] and after["text"] == "t3"
    assert after["metadata"] == {"g": 9, "new": [1, 2]}
    assert [(r["id"], r["score"]) for r in client.search("v", x[3], top_k=10, mode="binary")["results"]] == \
        [(r["id"], r["score"]) for r in ranked]  # the same code: the same binary ranking
    assert {r["id"] for r in client.search("v", x[3], top_k=50, filter={"g": 9})["results"]} == {"i3", "i4"}
    assert client.count("v") == 50 and client.count("v", {"new": 2}) == 2
    client.update("v", ["i3"], text="a new text")
    assert client.get("v", ["i3"])[0]["text"] == "a new text"
    client.compact("v")
    assert client.get("v", ["i3"], include_vectors=True)[0]["vector"] == before["vector"]


def test_bad_updates_are_refused_before_anything_is_written(client):
    _vectors(client, 5)
    for kwargs, message in [({}, "nothing to change"), ({"metadata": [1]}, "metadata must be an object"),
                            ({"unset": "k"}, "unset must be a list"), ({"metadata": {"a": 1}, "unset": ["a"]},
                                                                      "both set and unset"),
                            ({"text": ""}, "non-empty string"), ({"metadata": {"x": float("nan")}}, "JSON")]:
        with pytest.raises(errors.InvalidInput, match=message):
            client.update("v", ["i1"], **kwargs)
    assert client.get("v", ["i1"])[0]["metadata"] == {"g": 1, "k": 1}
    with pytest.raises(errors.NamespaceNotFound):
        client.update("ghost", ["i1"], metadata={"a": 1})


def test_text_namespace_chunks_documents_and_re_embedding_only_what_changed(client, tmp_path, monkeypatch):
    register()
    log = tmp_path / "embed.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    client.create_namespace("t", type="text", model=NAME)
    client.upload_documents("t", [{"id": "d", "text": "word " * 300 + "end", "src": "a"},
                                  {"id": "e", "text": "a short one", "src": "a"}])
    embedded = len(calls(log))
    assert client.update("t", ["d"], metadata={"src": "b"})["updated"] == ["d#chunk-0", "d#chunk-1"]
    assert client.update("t", ["d#chunk-1"], metadata={"part": 2})["updated"] == ["d#chunk-1"]
    assert client.count("t") == 3  # updating one chunk leaves its siblings
    assert [i["metadata"]["src"] for i in client.get("t", ["d"])] == ["b", "b"]
    assert client.update("t", ["e"], text="a short one")["updated"] == ["e"]  # unchanged: not embedded
    assert len(calls(log)) == embedded
    client.update("t", ["e"], text="now about shock waves")
    assert calls(log)[-1][1] == [digest("now about shock waves")]
    assert client.search("t", "now about shock waves", top_k=1)["results"][0]["id"] == "e"
    with pytest.raises(errors.InvalidInput, match="one item at a time"):
        client.update("t", ["d"], text="x")
    with pytest.raises(errors.InvalidInput, match="bookkeeping"):
        client.update("t", ["e"], unset=["document_id"])
    client.upload_documents("t", [{"id": "d", "text": "now only one chunk"}])  # still d's chunks: replaced
    assert sorted(i["id"] for i in client.scroll("t")["items"]) == ["d", "e"]
