"""The LangChain integration passes langchain-tests' standard vector-store suites, sync and
async: over a vector namespace with LangChain's own (deterministic fake) Embeddings, and over a
text namespace with bitsift's embedding; plus what those suites do not cover (scores, filters,
the retriever, from_texts, HTTP)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import bitsift
from bitsift.api.http_client import HTTPClient
from bitsift.integrations.langchain import BitsiftVectorStore
from counting_embedder import NAME, register


class TestVectorNamespace(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path):  # type: ignore[override]
        with bitsift.Client(path=tmp_path) as client:
            yield BitsiftVectorStore(client, "lc", embedding=self.get_embeddings())


class TestTextNamespace(VectorStoreIntegrationTests):
    """bitsift embeds (a fast deterministic test model; the bundled one is the default)."""

    @pytest.fixture()
    def vectorstore(self, tmp_path):  # type: ignore[override]
        register()
        with bitsift.Client(path=tmp_path) as client:
            client.create_namespace("lc", type="text", model=NAME)
            yield BitsiftVectorStore(client, "lc")


def test_scores_filters_retriever_and_http(tmp_path, live_server):
    embedding = VectorStoreIntegrationTests.get_embeddings()
    server = live_server(data_dir=tmp_path / "served")
    with HTTPClient(server.url) as client:
        store = BitsiftVectorStore.from_texts(["wing stall", "shock wave", "heat flux"], embedding,
                                              [{"topic": "aero"}, {"topic": "aero"}, {"topic": "heat"}],
                                              ids=["a", "b", "c"], client=client, namespace="web")
        scored = store.similarity_search_with_relevance_scores("shock wave", k=3)
        assert scored[0][0].id == "b" and scored[0][1] == pytest.approx(1.0) and all(0 <= s <= 1 for _, s in scored)
        assert [d.id for d in store.similarity_search("heat flux", k=3, filter={"topic": "aero"})] in (["a", "b"], ["b", "a"])
        assert store.as_retriever(search_kwargs={"k": 1}).invoke("wing stall") == [
            Document(id="a", page_content="wing stall", metadata={"topic": "aero"})]
        store.delete(filter={"topic": "heat"})
        assert store.get_by_ids(["c", "a"]) == [Document(id="a", page_content="wing stall", metadata={"topic": "aero"})]
    with pytest.raises(ValueError, match="client="):
        BitsiftVectorStore.from_texts(["x"], embedding)
    register()
    with bitsift.Client(path=tmp_path / "local") as client:
        client.create_namespace("t", type="text", model=NAME)
        with pytest.raises(ValueError, match="text namespace"):
            BitsiftVectorStore(client, "t", embedding=embedding)
