"""The keyword-argument front of every in-process engine and client: the declared signatures
of ``create_namespace``, ``search``, ``search_batch`` and ``answer`` (api.protocol.ClientAPI)
turned into a parsed request, once, for ``Engine``, ``ShardedEngine`` and ``LocalClient`` alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bitsift.core.errors import InvalidInput, NamespaceExists, NamespaceNotFound
from bitsift.core.results import AnswerResponse, NamespaceInfo, SearchResponse
from bitsift.core.spec import DEFAULT_BINARIZER, DEFAULT_TOP_K
from bitsift.engine.answer import DEFAULT_ANSWER_TOP_K, answer, parse_answer
from bitsift.engine.llm import ChatCompletions
from bitsift.engine.request import NamespaceRequest, SearchRequest, namespace_differences, parse_namespace, parse_search

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
                         model: str | None = None, shards: int | None = None,
                         exist_ok: bool = False) -> NamespaceInfo:
        request = parse_namespace(name, type, dimension, binarizer, center, model, shards)
        info, existed = create_or_get(self, request, exist_ok)
        return self._announce(info, existed)

    def _announce(self, info: NamespaceInfo, existed: bool) -> NamespaceInfo:
        """What create_namespace returns (an engine: the namespace; a client adds its message)."""
        return info

    def search(self, namespaces: Sequence[str] | str, query: Query, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
               mode: str | None = None, oversample: int | None = None, partial: bool = False,
               keywords: str | None = None, fusion: str | None = None,
               keyword_weight: float | None = None, group_by: str | None = None,
               group_size: int | None = None) -> SearchResponse:
        return self._search_parsed(parse_search(namespaces, [query], top_k=top_k, threshold=threshold, filter=filter,
                                               kiosk_mode=kiosk_mode, mode=mode, oversample=oversample,
                                               partial=partial, single=True, keywords=keywords, fusion=fusion,
                                               keyword_weight=keyword_weight, group_by=group_by,
                                               group_size=group_size))[0]

    def describe_namespace(self, name: str) -> NamespaceInfo:
        raise NotImplementedError

    def answer(self, namespace: str, query: str, top_k: int = DEFAULT_ANSWER_TOP_K, threshold: float | None = None,
               kiosk_mode: bool = False, chat_history: Sequence[Mapping[str, str]] | None = None,
               header_prompt: str | None = None, footer_prompt: str | None = None, temperature: float = 0.7,
               ai_model: str | None = None, structured_response: dict[str, Any] | None = None) -> AnswerResponse:
        request = parse_answer(namespace, query, top_k, threshold, kiosk_mode, chat_history, header_prompt,
                               footer_prompt, temperature, ai_model, structured_response)
        return answer(request, lambda ns, q, k, t: self.search(ns, q, top_k=k, threshold=t),
                      lambda ns: self.describe_namespace(ns)["model"], self._llm())

    def _llm(self) -> ChatCompletions | None:
        """The LLM answers are written by (None: extractive answers)."""
        return None

    def search_batch(self, namespaces: Sequence[str] | str, queries: Sequence[Query], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
                     mode: str | None = None, oversample: int | None = None,
                     partial: bool = False, keywords: Sequence[str] | None = None, fusion: str | None = None,
                     keyword_weight: float | None = None, group_by: str | None = None,
                     group_size: int | None = None) -> list[SearchResponse]:
        return self._search_parsed(parse_search(namespaces, queries, top_k=top_k, threshold=threshold, filter=filter,
                                               kiosk_mode=kiosk_mode, mode=mode, oversample=oversample,
                                               partial=partial, single=False, keywords=keywords, fusion=fusion,
                                               keyword_weight=keyword_weight, group_by=group_by,
                                               group_size=group_size))


def create_or_get(front: ParsedFront, request: NamespaceRequest, exist_ok: bool) -> tuple[NamespaceInfo, bool]:
    """Create the namespace, or with ``exist_ok`` take the existing one of that name if it was
    made with the same parameters (409 naming the ones that differ otherwise): (info, existed)."""
    if not isinstance(exist_ok, bool):
        raise InvalidInput(f"exist_ok must be true or false, got {exist_ok!r}")
    for _ in range(2):
        try:
            return front._create_parsed(request), False
        except NamespaceExists:
            if not exist_ok:
                raise
        try:
            info = front.describe_namespace(request.name)
        except NamespaceNotFound:
            continue  # deleted in between: create it after all
        differs = namespace_differences(request, info)
        if differs:
            raise NamespaceExists(f"namespace {request.name!r} exists with other parameters ({'; '.join(differs)}): "
                                  "delete it first or use another name")
        return info, True
    raise NamespaceExists(f"namespace {request.name!r} is being created and deleted concurrently; retry")


async def search_parsed_async(engine: ParsedFront, request: SearchRequest) -> list[SearchResponse]:
    """Await a parsed search (``parse_search``) from an event loop: the server's way in, kept off
    the engines' public (client) surface."""
    return await engine._search_parsed_async(request)
