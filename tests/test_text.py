"""Text namespaces with the real local embedding model: chunking, replacement, errors."""

from __future__ import annotations

import json

import pytest

import bitsift
from bitsift.core import errors
from bitsift.text.embed import DEFAULT_MODEL

pytestmark = pytest.mark.model

LONG = " ".join(f"Sentence number {i} talks about boundary layers and shock waves on swept wings." for i in range(60))
DOCS = [
    {"id": "wing", "text": "The lift of a swept wing falls at high angles of attack because the flow separates.",
     "topic": "aero", "year": 1960},
    {"id": "soup", "text": "Simmer the onions slowly in butter until they are golden, then add the stock.",
     "topic": "food", "year": 2001},
    {"id": "heat", "text": "Heat conduction in composite slabs was solved with Laplace transforms.",
     "topic": "aero", "year": 1958},
]


@pytest.fixture
def client(tmp_path):
    with bitsift.Client(path=tmp_path / "data", chunk_size=300, chunk_overlap=60) as c:
        c.create_namespace("notes", type="text")
        yield c


def test_text_namespace_records_its_model(client, tmp_path):
    info = client.describe_namespace("notes")
    assert info["type"] == "text" and info["vector_dimension"] == 384 and info["model"] == DEFAULT_MODEL
    manifest = json.loads((tmp_path / "data" / "notes" / "manifest.json").read_text())
    assert manifest["model"] == DEFAULT_MODEL
    with pytest.raises(errors.DimensionMismatch):
        client.create_namespace("other", type="text", dimension=128)
    with pytest.raises(errors.InvalidInput, match="valid"):
        client.create_namespace("other", type="text", model="no-such-model")


def test_upload_and_search_text(client):
    uploaded = client.upload_documents("notes", DOCS)
    assert uploaded == {"status": "success", "uploaded": 3, "chunks": 3, "submitted_ids": [d["id"] for d in DOCS],
                        "job_id": uploaded["job_id"]}
    assert client.job(uploaded["job_id"])["state"] == "done"  # waited for: searchable on return
    res = client.search("notes", "why does an aircraft wing stall?", top_k=3)
    top = res["results"][0]
    assert top["id"] == "wing" and top["metadata"]["topic"] == "aero" and top["metadata"]["document_id"] == "wing"
    assert top["score"] > res["results"][-1]["score"]
    cooking = client.search("notes", "how to cook onion soup", top_k=1, filter={"topic": "food"})
    assert [r["id"] for r in cooking["results"]] == ["soup"]
    old = client.search("notes", "heat transfer in slabs", top_k=5, filter={"year": {"$lt": 1959}})
    assert [r["id"] for r in old["results"]] == ["heat"]


def test_filters_written_in_the_query_text(client):
    """The hosted API's tokens: #key:value (hyphens for spaces, numbers as numbers) and #word,
    ANDed with each other and with filter; the text embedded is the query without them."""
    client.upload_documents("notes", DOCS + [{"id": "mixed", "text": "Onions in the wind tunnel.",
                                              "topic": "food science", "year": 1960}])

    def ids(query, **kw):
        return [r["id"] for r in client.search("notes", query, top_k=10, **kw)["results"]]

    assert set(ids("anything #topic:aero")) == {"wing", "heat"}
    assert set(ids("anything #topic:food-science")) == {"mixed"}
    assert set(ids("anything #year:1960")) == {"wing", "mixed"}  # a number matches the stored number
    assert set(ids("anything #onions")) == {"soup", "mixed"}  # whole word, any case
    assert set(ids("anything #onion")) == set()
    assert set(ids("anything #year:1960 #onions")) == {"mixed"}
    assert set(ids("anything #onions", filter={"topic": "food"})) == {"soup"}
    plain = client.search("notes", "swept wing stall", top_k=10)["results"]
    tokened = client.search("notes", "swept wing stall #topic:aero", top_k=10)["results"]
    assert [r for r in plain if r["metadata"]["topic"] == "aero"] == tokened  # same text embedded
    with pytest.raises(errors.InvalidInput, match="different query-text filters"):
        client.search_batch("notes", ["wing #topic:aero", "wing"])
    assert len(client.search_batch("notes", ["wing #topic:aero", "stall #topic:aero"])) == 2


def test_long_documents_are_chunked_and_replaced_whole(client):
    result = client.upload_documents("notes", [{"id": "long", "text": LONG}])
    assert result["chunks"] > 5
    chunks = client.get("notes", ["long"])
    assert len(chunks) == result["chunks"]
    assert [c["metadata"]["chunk_index"] for c in chunks] == list(range(result["chunks"]))
    assert all(c["id"] == f"long#chunk-{c['metadata']['chunk_index']}" for c in chunks)
    assert all(len(c["text"]) <= 300 for c in chunks)
    # Re-uploading the document replaces every old chunk in the same commit.
    client.upload_documents("notes", [{"id": "long", "text": "Now a single short sentence."}])
    assert [c["id"] for c in client.get("notes", ["long"])] == ["long"]
    assert client.describe_namespace("notes")["item_count"] == 1
    assert client.delete("notes", ["long", "nope"])["deleted"] == ["long"]
    assert client.describe_namespace("notes")["item_count"] == 0


def test_chunked_delete_by_document_id(client):
    n = client.upload_documents("notes", [{"id": "long", "text": LONG}] + DOCS[:1])["chunks"]
    assert client.delete("notes", ["long"])["deleted"] == ["long"]
    assert n > 2 and client.describe_namespace("notes")["item_count"] == 1


@pytest.mark.parametrize("docs, error, message", [
    ([], errors.EmptyBatch, "non-empty"),
    ([{"id": "a"}], errors.InvalidInput, "id and text"),
    ([{"id": "a", "text": "   "}], errors.InvalidInput, "non-empty string"),
    ([{"id": "a", "text": 5}], errors.InvalidInput, "non-empty string"),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], errors.DuplicateIds, "duplicate"),
    ([{"id": "a", "text": "x", "chunk_index": 3}], errors.InvalidInput, "reserved"),
    ([{"id": "a", "text": "x", "vector": [1.0]}], errors.InvalidInput, "vector namespace"),
])
def test_bad_documents_write_nothing(client, docs, error, message):
    client.upload_documents("notes", DOCS[:1])
    with pytest.raises(error, match=message):
        client.upload_documents("notes", [{"id": "fine", "text": "A good document."}] + docs if docs else docs)
    assert client.describe_namespace("notes")["item_count"] == 1


def test_text_and_vector_namespaces_refuse_each_others_input(client):
    client.create_namespace("vecs", dimension=384)
    with pytest.raises(errors.InvalidInput, match="vector namespace"):
        client.upload_documents("vecs", DOCS)
    with pytest.raises(errors.InvalidInput, match="text namespace"):
        client.upload_vectors("notes", [{"id": "v", "vector": [0.1] * 384}])
    with pytest.raises(errors.InvalidInput, match="text query"):
        client.search("vecs", "a text query")
    with pytest.raises(errors.InvalidInput, match="empty"):
        client.search("notes", "  ")


def test_vector_query_on_text_namespace_and_multi_namespace_text_search(client):
    from bitsift.text.embed import get_embedder

    client.upload_documents("notes", DOCS)
    client.create_namespace("more", type="text")
    client.upload_documents("more", [{"id": "flutter", "text": "Wing flutter appears when aeroelastic damping vanishes."}])
    merged = client.search(["notes", "more"], "aeroelastic flutter of wings", top_k=2)["results"]
    assert merged[0]["id"] == "flutter" and merged[0]["namespace"] == "more"
    vec = get_embedder(None).encode(["why does an aircraft wing stall?"])[0]
    assert client.search("notes", vec.tolist(), top_k=1)["results"][0]["id"] == "wing"
