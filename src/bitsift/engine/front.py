"""The keyword-argument front of every in-process engine and client: the declared signatures
of ``create_namespace``, ``search`` and ``search_batch`` (api.protocol.ClientAPI) turned into a
parsed request, once, for ``Engine``, ``ShardedEngine`` and ``LocalClient`` alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bitsift.core.results import NamespaceInfo, SearchResponse
from bitsift.core.spec import DEFAULT_BINARIZER, DEFAULT_TOP_K
from bitsift.engine.request import NamespaceRequest, SearchRequest, parse_namespace, parse_search

Query = str | Sequence[float]  # a text (text namespaces) or a vector (a list or a numpy array)


class ParsedFront:
    """Subclasses implement ``_create_parsed`` and ``_search_parsed``."""

    def _create_parsed(self, request: NamespaceRequest) -> NamespaceInfo:
        raise NotImplementedError

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        raise NotImplementedError

    async def _search_parsed_async(self, request: SearchRequest) -> list[SearchResponse]:
        """A parsed search (``parse_search``) awaited from an event loop (the server). By default
        the blocking search runs on a worker thread (anyio's pool, the one the server uses); an
        engine that coalesces answers through a future instead, with no thread per request."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self._search_parsed, request)

    def create_namespace(self, name: str, type: str | None = None, dimension: int | None = None,
                         binarizer: str = DEFAULT_BINARIZER, center: Sequence[float] | None = None,
                         model: str | None = None, shards: int | None = None) -> NamespaceInfo:
        return self._create_parsed(parse_namespace(name, type, dimension, binarizer, center, model, shards))

    def search(self, namespaces: Sequence[str] | str, query: Query, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
               mode: str | None = None, oversample: int | None = None, partial: bool = False) -> SearchResponse:
        return self._search_parsed(parse_search(namespaces, [query], top_k=top_k, threshold=threshold, filter=filter,
                                               kiosk_mode=kiosk_mode, mode=mode, oversample=oversample,
                                               partial=partial, single=True))[0]

    def search_batch(self, namespaces: Sequence[str] | str, queries: Sequence[Query], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
                     mode: str | None = None, oversample: int | None = None,
                     partial: bool = False) -> list[SearchResponse]:
        return self._search_parsed(parse_search(namespaces, queries, top_k=top_k, threshold=threshold, filter=filter,
                                               kiosk_mode=kiosk_mode, mode=mode, oversample=oversample,
                                               partial=partial, single=False))


async def search_parsed_async(engine: ParsedFront, request: SearchRequest) -> list[SearchResponse]:
    """Await a parsed search (``parse_search``) from an event loop: the server's way in, kept off
    the engines' public (client) surface."""
    return await engine._search_parsed_async(request)
