"""A LangChain ``VectorStore`` over any bitsift client (in process, HTTP or Ray).

Two ways to hold the vectors: with a LangChain ``Embeddings`` object the store is a vector
namespace and LangChain embeds (texts and metadata stored beside the vectors); without one it
is a text namespace and bitsift embeds with its own model. Scores are bitsift's ITS, already a
relevance in [0, 1], so ``similarity_search_with_relevance_scores`` passes them through. Filters
are bitsift's (core.filters). The async methods are langchain-core's defaults (the sync ones
on a worker thread).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from bitsift.api.protocol import ClientAPI
from bitsift.core.errors import NamespaceNotFound
from bitsift.core.spec import DEFAULT_TOP_K

BOOKKEEPING = ("document_id", "chunk_index", "chunk_count")  # what a text namespace adds to each chunk


class BitsiftVectorStore(VectorStore):
    """``BitsiftVectorStore(client, "docs", embedding=...)``: the namespace is created when
    missing (a vector namespace of the embedding's dimension, or a text namespace)."""

    def __init__(self, client: ClientAPI, namespace: str, embedding: Embeddings | None = None,
                 mode: str | None = None) -> None:
        self.client, self.namespace, self._embedding, self.mode = client, namespace, embedding, mode
        try:
            info = client.describe_namespace(namespace)
        except NamespaceNotFound:
            if embedding is None:
                info = client.create_namespace(namespace, type="text")
            else:
                info = client.create_namespace(namespace, dimension=len(embedding.embed_query("dimension")))
        if (info["type"] == "text") != (embedding is None):
            raise ValueError(f"namespace {namespace!r} is a {info['type']} namespace: "
                             + ("give no embedding (bitsift embeds)" if info["type"] == "text"
                                else "give the Embeddings its vectors were made with"))

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    # --- writes --------------------------------------------------------------------------

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                  **kwargs: Any) -> list[str]:
        texts = list(texts)
        given: list[str | None] = list(ids) if ids else [None] * len(texts)
        ids = [str(i) if i is not None else uuid.uuid4().hex for i in given]
        metadatas = metadatas or [{} for _ in texts]
        if not texts:
            return []
        if self._embedding is None:
            self.client.upload_documents(self.namespace, [{"id": i, "text": t, "metadata": m}
                                                           for i, t, m in zip(ids, texts, metadatas)])
        else:
            vectors = self._embedding.embed_documents(texts)
            self.client.upload_vectors(self.namespace, [{"id": i, "vector": v, "text": t, "metadata": m}
                                                         for i, v, t, m in zip(ids, vectors, texts, metadatas)])
        return ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.pop("ids", None) or [d.id or uuid.uuid4().hex for d in documents]
        return self.add_texts([d.page_content for d in documents], [dict(d.metadata) for d in documents],
                              ids=list(ids), **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids, or with ``filter=`` every item matching it."""
        flt = kwargs.get("filter")
        if ids is None and flt is None:
            raise ValueError("delete needs ids or filter=")
        self.client.delete(self.namespace, ids=ids, filter=flt)
        return True

    # --- reads ---------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [_document(item) for item in self.client.get(self.namespace, list(ids))]

    def similarity_search(self, query: str, k: int = DEFAULT_TOP_K, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = DEFAULT_TOP_K, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """(document, ITS score) pairs, best first; ``filter``: a bitsift metadata filter;
        ``threshold``, ``mode``: as in bitsift's search."""
        if self._embedding is None:
            return self._search(query, k, filter, **kwargs)
        return self._search(self._embedding.embed_query(query), k, filter, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = DEFAULT_TOP_K, filter: dict | None = None,
                                    **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self._search(embedding, k, filter, **kwargs)]

    def _search(self, query: Any, k: int, filter: dict | None, **kwargs: Any) -> list[tuple[Document, float]]:
        options = {key: kwargs[key] for key in ("threshold", "mode", "oversample", "group_by") if key in kwargs}
        options.setdefault("mode", self.mode)
        hits = self.client.search(self.namespace, query, top_k=k, filter=filter, **options)["results"]
        return [(_document(h), float(h["score"])) for h in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda score: score  # ITS is a relevance in [0, 1] already

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings | None = None, metadatas: list[dict] | None = None,
                   *, ids: list[str] | None = None, client: ClientAPI | None = None, namespace: str = "langchain",
                   **kwargs: Any) -> BitsiftVectorStore:
        """A store over ``client`` (required) holding ``texts``."""
        if client is None:
            raise ValueError("from_texts needs client= (a bitsift client: Client(path=...) or Client(url=...))")
        store = cls(client, namespace, embedding, mode=kwargs.pop("mode", None))
        store.add_texts(texts, metadatas, ids=ids)
        return store


def _document(item: Mapping[str, Any]) -> Document:
    """A hit or an item as a LangChain document (a text namespace's chunk bookkeeping left out)."""
    metadata = {k: v for k, v in item["metadata"].items() if k not in BOOKKEEPING}
    return Document(page_content=item.get("text") or "", metadata=metadata, id=item["id"])
