"""A LlamaIndex vector store (``BasePydanticVectorStore``) over any bitsift client.

LlamaIndex embeds (its ``embed_model``); each node goes into a vector namespace as one item: the
node's id, its embedding, its text, and its metadata as LlamaIndex's own vector stores keep it
(``node_to_metadata_dict``: the node's fields at the top, so filters reach them, plus the node as
JSON to rebuild it, and ``ref_doc_id``). Metadata filters become bitsift filters (core.filters):
==, !=, >, >=, <, <=, in, nin, any, all, contains, text_match (case-sensitive substring),
text_match_insensitive, is_empty (absent or null); and / or / not, nested. A query's
``node_ids`` are kept among its top hits (bitsift filters metadata, not ids). Similarities are ITS scores in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from bitsift.api.protocol import ClientAPI
from bitsift.core.cursor import MAX_SCROLL_LIMIT
from bitsift.core.errors import InvalidInput, NamespaceNotFound

_OPS = {FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
        FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
        FilterOperator.ANY: "$in", FilterOperator.ALL: "$all", FilterOperator.CONTAINS: "$contains",
        FilterOperator.TEXT_MATCH: "$substring", FilterOperator.TEXT_MATCH_INSENSITIVE: "$isubstring"}


def to_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex's metadata filters as a bitsift filter."""
    if filters is None or not filters.filters:
        return None
    parts = [to_filter(f) if isinstance(f, MetadataFilters) else _one(f) for f in filters.filters]
    clauses = [p for p in parts if p is not None]
    if filters.condition == FilterCondition.OR:
        return {"$or": clauses}
    joined = clauses[0] if len(clauses) == 1 else {"$and": clauses}
    return {"$not": joined} if filters.condition == FilterCondition.NOT else joined


def _one(f: MetadataFilter) -> dict[str, Any]:
    if f.operator == FilterOperator.IS_EMPTY:  # absent or null (an empty list is not matched)
        return {f.key: None}
    op = _OPS.get(f.operator)
    if op is None:
        raise InvalidInput(f"filter operator {f.operator.value!r} is not supported by bitsift")
    return {f.key: {op: f.value}}


class BitsiftVectorStore(BasePydanticVectorStore):
    """``BitsiftVectorStore(client=Client(path="./data"), namespace="docs")``; the vector namespace
    is created on the first ``add`` (its dimension is the embeddings')."""

    stores_text: bool = True
    flat_metadata: bool = False
    namespace: str = "llamaindex"
    _client: ClientAPI = PrivateAttr()

    def __init__(self, client: ClientAPI, namespace: str = "llamaindex", **kwargs: Any) -> None:
        super().__init__(namespace=namespace, **kwargs)  # type: ignore[call-arg]  # a pydantic field
        self._client = client

    @property
    def client(self) -> ClientAPI:
        return self._client

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        items = [{"id": n.node_id, "vector": n.get_embedding(), "text": n.get_content(metadata_mode=MetadataMode.NONE),
                  "metadata": node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata)}
                 for n in nodes]
        try:
            self._client.upload_vectors(self.namespace, items)
        except NamespaceNotFound:  # the first add makes the namespace, of the embeddings' dimension
            self._client.create_namespace(self.namespace, dimension=len(items[0]["vector"]), exist_ok=True)
            self._client.upload_vectors(self.namespace, items)
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        with _absent_is_empty():
            self._client.delete(self.namespace, filter={"ref_doc_id": ref_doc_id})

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        flt = to_filter(filters)
        with _absent_is_empty():
            if node_ids is not None:
                ids = node_ids if flt is None else [n.node_id for n in self.get_nodes(node_ids, filters)]
                if ids:
                    self._client.delete(self.namespace, ids=ids)
            elif flt is not None:
                self._client.delete(self.namespace, filter=flt)

    def clear(self) -> None:
        with _absent_is_empty():
            self._client.delete_namespace(self.namespace)

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        flt = to_filter(filters)
        with _absent_is_empty():
            if node_ids is not None:
                items = self._client.get(self.namespace, node_ids)
                if flt is not None:  # the filter on top of the ids: asked of bitsift, ids kept in order
                    keep = {i["id"] for i in _scroll(self._client, self.namespace, flt)}
                    items = [i for i in items if i["id"] in keep]
            else:
                items = list(_scroll(self._client, self.namespace, flt))
            return [_node(i) for i in items]
        return []

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.query_embedding is None:
            raise InvalidInput("bitsift answers LlamaIndex queries by embedding (query_embedding is needed)")
        flt = to_filter(query.filters)
        if query.doc_ids:
            flt = {"$and": [f for f in (flt, {"ref_doc_id": {"$in": list(query.doc_ids)}}) if f]}
        results: list[Any] = []
        with _absent_is_empty():
            results = self._client.search(self.namespace, query.query_embedding, top_k=query.similarity_top_k,
                                          filter=flt, **{k: v for k, v in kwargs.items()
                                                         if k in ("threshold", "mode")})["results"]
        if query.node_ids:  # by id: kept among the top hits (bitsift filters metadata, not ids)
            wanted = set(query.node_ids)
            results = [h for h in results if h["id"] in wanted]
        return VectorStoreQueryResult(nodes=[_node(h) for h in results], similarities=[h["score"] for h in results],
                                      ids=[h["id"] for h in results])


@contextmanager
def _absent_is_empty() -> Iterator[None]:
    """A store whose namespace is not made yet (or was cleared) is empty: nothing to read or delete."""
    try:
        yield
    except NamespaceNotFound:
        pass


class BitsiftEmbedding(BaseEmbedding):
    """bitsift's bundled embedding model (or another of its models) as a LlamaIndex embed_model:
    no API, no network."""

    model: str | None = None

    def _embed(self, texts: list[str], query: bool) -> list[list[float]]:
        from bitsift.text.embed import embed_queries, get_embedder

        vectors = embed_queries(self.model, texts) if query else get_embedder(self.model).encode(texts)
        return [v.tolist() for v in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query], True)[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text], False)[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts, False)


def _scroll(client: ClientAPI, namespace: str, flt: dict[str, Any] | None) -> Any:
    cursor = None
    while True:
        page = client.scroll(namespace, limit=MAX_SCROLL_LIMIT, cursor=cursor, filter=flt)
        yield from page["items"]
        if (cursor := page["next_cursor"]) is None:
            return


def _node(item: Mapping[str, Any]) -> BaseNode:
    return metadata_dict_to_node(dict(item["metadata"]), text=item.get("text") or "")
