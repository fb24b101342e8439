"""LlamaIndex end to end: a VectorStoreIndex over part of the bundled Cranfield corpus in a
bitsift namespace, retrieved with metadata filters, with the embedding model (bitsift's bundled
one, through BitsiftEmbedding) and the LLM (LlamaIndex's MockLLM: no LLM can run here, and the
test is about retrieval) set explicitly, so nothing reaches for OpenAI or downloads NLTK data."""

from __future__ import annotations

import asyncio
import csv

import pytest
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

import bitsift
from bitsift.cli.demo import cranfield_documents, cranfield_files, cranfield_queries
from bitsift.integrations.llamaindex import BitsiftEmbedding, BitsiftVectorStore

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    Settings.llm = MockLLM()
    Settings.embed_model = BitsiftEmbedding()
    docs = [Document(text=d["text"], doc_id=d["id"], metadata={"n": int(d["id"]), "parity": ["even", "odd"][int(d["id"]) % 2],
                                                                 "tags": ["all", f"group{int(d['id']) % 3}"]})
            for d in cranfield_documents()[:300]]
    client = bitsift.Client(path=tmp_path_factory.mktemp("li"))
    store = BitsiftVectorStore(client, "cranfield")
    built = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    yield built, store
    client.close()


def f(key, op, value):
    return MetadataFilter(key=key, operator=op, value=value)


CASES = [
    (MetadataFilters(filters=[f("parity", FilterOperator.EQ, "odd")]), lambda m: m["parity"] == "odd"),
    (MetadataFilters(filters=[f("parity", FilterOperator.NE, "odd")]), lambda m: m["parity"] != "odd"),
    (MetadataFilters(filters=[f("n", FilterOperator.GT, 150)]), lambda m: m["n"] > 150),
    (MetadataFilters(filters=[f("n", FilterOperator.GTE, 150), f("n", FilterOperator.LT, 200)]),
     lambda m: 150 <= m["n"] < 200),
    (MetadataFilters(filters=[f("n", FilterOperator.LTE, 20)]), lambda m: m["n"] <= 20),
    (MetadataFilters(filters=[f("n", FilterOperator.IN, [3, 5, 7])]), lambda m: m["n"] in (3, 5, 7)),
    (MetadataFilters(filters=[f("n", FilterOperator.NIN, [3, 5, 7])]), lambda m: m["n"] not in (3, 5, 7)),
    (MetadataFilters(filters=[f("tags", FilterOperator.CONTAINS, "group1")]), lambda m: "group1" in m["tags"]),
    (MetadataFilters(filters=[f("tags", FilterOperator.ANY, ["group1", "group2"])]),
     lambda m: bool({"group1", "group2"} & set(m["tags"]))),
    (MetadataFilters(filters=[f("tags", FilterOperator.ALL, ["all", "group0"])]), lambda m: "group0" in m["tags"]),
    (MetadataFilters(filters=[f("parity", FilterOperator.TEXT_MATCH, "dd")]), lambda m: "dd" in m["parity"]),
    (MetadataFilters(filters=[f("parity", FilterOperator.TEXT_MATCH_INSENSITIVE, "EV")]), lambda m: m["parity"] == "even"),
    (MetadataFilters(filters=[f("n", FilterOperator.LT, 10), f("n", FilterOperator.GT, 290)], condition=FilterCondition.OR),
     lambda m: m["n"] < 10 or m["n"] > 290),
    (MetadataFilters(filters=[f("parity", FilterOperator.EQ, "odd")], condition=FilterCondition.NOT),
     lambda m: m["parity"] != "odd"),
    (MetadataFilters(filters=[MetadataFilters(filters=[f("n", FilterOperator.LT, 50)]), f("parity", FilterOperator.EQ, "even")]),
     lambda m: m["n"] < 50 and m["parity"] == "even"),
    (MetadataFilters(filters=[f("missing", FilterOperator.IS_EMPTY, None)]), lambda m: True),
]


def test_a_retriever_finds_the_judged_documents(index):
    built, _ = index
    queries = cranfield_queries()
    hits = built.as_retriever(similarity_top_k=5).retrieve(queries["1"])
    assert len(hits) == 5 and all(0 <= h.score <= 1 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with (cranfield_files() / "qrels" / "test.tsv").open() as qrels:
        judged = {row["corpus-id"] for row in csv.DictReader(qrels, delimiter="\t") if row["query-id"] == "1"}
    assert hits[0].node.ref_doc_id in judged and sum(h.node.ref_doc_id in judged for h in hits) >= 3
    answer = built.as_query_engine(similarity_top_k=3).query(queries["1"])  # MockLLM: the pipeline runs, offline
    assert len(answer.source_nodes) == 3


@pytest.mark.parametrize("filters, wanted", CASES)
def test_every_filter_operator_and_condition(index, filters, wanted):
    built, store = index
    got = store.get_nodes(filters=filters)
    every = store.get_nodes()
    assert len(every) >= 300 and {n.node_id for n in got} == {n.node_id for n in every if wanted(n.metadata)}
    hits = built.as_retriever(similarity_top_k=8, filters=filters).retrieve("supersonic flow over a wing")
    assert all(wanted(h.node.metadata) for h in hits) and len(hits) == min(8, len(got))


def test_delete_get_nodes_delete_nodes_clear_and_async(tmp_path):
    embed = BitsiftEmbedding()
    with bitsift.Client(path=tmp_path) as client:
        store = BitsiftVectorStore(client, "small")
        docs = [Document(text=t, doc_id=f"d{i}", metadata={"i": i}) for i, t in
                enumerate(["wing stall at high angle", "shock waves ahead of a body", "heat flux in a nozzle"])]
        built = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                                embed_model=embed)
        assert len(store.get_nodes()) == 3
        store.delete("d0")
        assert {n.ref_doc_id for n in store.get_nodes()} == {"d1", "d2"}
        one = store.get_nodes()[0].node_id
        assert [n.node_id for n in store.get_nodes([one])] == [one]
        store.delete_nodes([one])
        assert len(store.get_nodes()) == 1
        hits = asyncio.run(built.as_retriever(similarity_top_k=2).aretrieve("nozzle heat"))
        assert [h.node.ref_doc_id for h in hits] == [n.ref_doc_id for n in store.get_nodes()]
        asyncio.run(store.adelete_nodes(filters=MetadataFilters(filters=[f("i", FilterOperator.GTE, 0)])))
        assert store.get_nodes() == []
        store.clear()
        assert client.list_namespaces() == [] and store.get_nodes() == []
