"""``HTTPClient`` and ``AsyncHTTPClient``: the in-process ``Client`` API over a bitsift server.

Same methods, same return values, same exceptions: an error body
``{"error", "message", "status"}`` is rebuilt into the typed ``bitsift.errors`` class of that
name, so ``except NamespaceNotFound`` works the same locally and remotely. Requests are retried
on 429, 502, 503, 504, timeouts and connection errors, with capped exponential backoff plus
jitter, honouring ``Retry-After``. The calls themselves are described once, in api/calls.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bitsift.api.calls import (
    ENCODER,
    Call,
    Calls,
    NoAnswer,
    ServiceUnavailable,
    document_parts,
    error_of,
    merged_upload,
    retry_after,
)
from bitsift.api.protocol import ClientAPI
from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT
from bitsift.core.results import (
    FINAL_STATES,
    AnswerResponse,
    CompactResult,
    DeletedNamespace,
    DeleteResult,
    Diagnostics,
    DocumentsUploaded,
    Item,
    JobStatus,
    NamespaceInfo,
    ScrollPage,
    SearchResponse,
    SnapshotInfo,
    UpdateResult,
    UploadResult,
    check_finished,
)
from bitsift.core.spec import DEFAULT_BINARIZER, DEFAULT_TOP_K
from bitsift.engine.answer import DEFAULT_ANSWER_TOP_K
from bitsift.engine.front import Query

JOB_POLL_S = 0.2  # how often a waiting upload asks for its job's progress
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Base:
    """Everything the two clients share: configuration, request encoding, retry decisions and
    reply decoding."""

    backoff_base = 0.25      # seconds before the first retry (doubles each time) ...
    backoff_cap = 8.0        # ... up to this
    max_retry_after = 60.0   # a longer Retry-After is cut to this

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_retries: int = 4) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._options: dict[str, Any] = {
            "base_url": self.url, "timeout": timeout,
            "headers": {"accept": "application/json", **({"x-api-key": api_key} if api_key else {})},
        }

    @staticmethod
    def _request_args(call: Call) -> dict[str, Any]:
        args: dict[str, Any] = {"method": call.method, "url": call.path}
        if call.params is not None:
            args["params"] = dict(call.params)
        if call.body is not None:
            args["content"] = ENCODER.encode(call.body).encode()
            args["headers"] = {"content-type": "application/json"}
        return args

    def _delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retrying, or None to stop (success, a final error, or no retries left)."""
        if response is not None and response.status_code not in RETRY_STATUSES:
            return None
        if attempt >= self.max_retries:
            return None
        hinted = retry_after(response) if response is not None else None
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        step = min(self.backoff_cap, self.backoff_base * 2**attempt)
        return step / 2 + random.uniform(0, step / 2)

    @staticmethod
    def _reply(call: Call, response: httpx.Response) -> Any:
        if response.is_success:
            return call.unwrap(response.json())
        raise error_of(response)

    def _retried(self, call: Call, attempt: int, exc: Exception) -> float:
        """The delay before sending ``call`` again after ``exc``, or the error that ends it: a
        server that never answered is "cannot reach"; one that took the request and did not
        answer in time is NoAnswer, at once for a call too expensive to repeat blindly."""
        took_it = isinstance(exc, (httpx.ReadTimeout, httpx.RemoteProtocolError))
        delay = None if took_it and call.expensive else self._delay(attempt, None)
        if delay is not None:
            return delay
        if took_it:
            again = "" if call.expensive else f" ({attempt + 1} attempts)"
            raise NoAnswer(f"{self.url} took {call.method} {call.path} but sent no answer within "
                           f"{self.timeout} s{again}; it may still complete: look before sending it again, "
                           "or give the client a longer timeout") from exc
        raise ServiceUnavailable(f"cannot reach {self.url} after {attempt + 1} attempts: "
                                 f"{type(exc).__name__}: {exc}") from exc


class HTTPClient(_Base, ClientAPI):
    """``bitsift.Client`` over HTTP: ``HTTPClient("http://127.0.0.1:8080", api_key=...)``."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_retries: int = 4) -> None:
        super().__init__(url, api_key, timeout, max_retries)
        self._http = httpx.Client(**self._options)

    def _send(self, call: Call) -> Any:
        args = self._request_args(call)
        attempt = 0
        delay: float | None
        while True:
            try:
                response = self._http.request(**args)
            except RETRY_ERRORS as exc:
                delay = self._retried(call, attempt, exc)
            else:
                delay = self._delay(attempt, response)
                if delay is None:
                    return self._reply(call, response)
            time.sleep(delay)
            attempt += 1

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_namespace(self, name: str, type: str | None = None, dimension: int | None = None,
                         binarizer: str = DEFAULT_BINARIZER, center: Sequence[float] | None = None,
                         model: str | None = None, shards: int | None = None,
                         exist_ok: bool = False) -> NamespaceInfo:
        return self._send(Calls.create_namespace(name, type, dimension, binarizer, center, model, shards,
                                                  exist_ok))

    def list_namespaces(self) -> list[NamespaceInfo]:
        return self._send(Calls.list_namespaces())

    def describe_namespace(self, name: str) -> NamespaceInfo:
        return self._send(Calls.describe_namespace(name))

    def delete_namespace(self, name: str) -> DeletedNamespace:
        return self._send(Calls.delete_namespace(name))

    def upload_vectors(self, name: str, vectors: Sequence[Mapping[str, Any]]) -> UploadResult:
        return self._send(Calls.upload_vectors(name, vectors))

    def upload_documents(self, name: str, documents: Sequence[Mapping[str, Any]],
                         wait: bool = True) -> DocumentsUploaded:
        parts = document_parts(documents)  # a large upload: several bounded requests, each one job
        results = [self._send(Calls.upload_documents(name, part)) for part in parts]
        if wait:
            for result in results:
                self._wait(result["job_id"])
                result["status"] = "success"
        return merged_upload(results)  # type: ignore[return-value]

    def _wait(self, job_id: str) -> JobStatus:
        while True:
            job = self.job(job_id)
            if job["state"] in FINAL_STATES:
                return check_finished(job)
            time.sleep(JOB_POLL_S)

    def job(self, job_id: str) -> JobStatus:
        return self._send(Calls.job(job_id))

    def jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        return self._send(Calls.jobs(namespace, limit))

    def cancel_job(self, job_id: str) -> JobStatus:
        return self._send(Calls.cancel_job(job_id))

    def get(self, name: str, ids: Sequence[str | int], include_vectors: bool = False) -> list[Item]:
        return self._send(Calls.get(name, ids, include_vectors))

    def update(self, name: str, ids: Sequence[str | int], metadata: dict[str, Any] | None = None,
               text: str | None = None, unset: Sequence[str] | None = None) -> UpdateResult:
        return self._send(Calls.update(name, ids, metadata, text, unset))

    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        return self._send(Calls.count(name, filter))

    def delete(self, name: str, ids: Sequence[str | int] | None = None,
               filter: dict[str, Any] | None = None) -> DeleteResult:
        return self._send(Calls.delete(name, ids, filter))

    def search(self, namespaces: Sequence[str] | str, query: Query, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
               mode: str | None = None, oversample: int | None = None, partial: bool = False,
               keywords: str | None = None, fusion: str | None = None,
               keyword_weight: float | None = None, group_by: str | None = None,
               group_size: int | None = None) -> SearchResponse:
        return self._send(Calls.search(namespaces, query, top_k, threshold, filter, kiosk_mode, mode, oversample,
                                       partial, keywords, fusion, keyword_weight, group_by, group_size))

    def search_batch(self, namespaces: Sequence[str] | str, queries: Sequence[Query], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
                     mode: str | None = None, oversample: int | None = None,
                     partial: bool = False, keywords: Sequence[str] | None = None, fusion: str | None = None,
                     keyword_weight: float | None = None, group_by: str | None = None,
                     group_size: int | None = None) -> list[SearchResponse]:
        return self._send(Calls.search_batch(namespaces, queries, top_k, threshold, filter, kiosk_mode, mode,
                                             oversample, partial, keywords, fusion, keyword_weight,
                                             group_by, group_size))

    def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
               filter: dict[str, Any] | None = None) -> ScrollPage:
        return self._send(Calls.scroll(name, limit, cursor, filter))

    def answer(self, namespace: str, query: str, top_k: int = DEFAULT_ANSWER_TOP_K, threshold: float | None = None,
               kiosk_mode: bool = False, chat_history: Sequence[Mapping[str, str]] | None = None,
               header_prompt: str | None = None, footer_prompt: str | None = None, temperature: float = 0.7,
               ai_model: str | None = None, structured_response: dict[str, Any] | None = None) -> AnswerResponse:
        return self._send(Calls.answer(namespace, query, top_k, threshold, kiosk_mode, chat_history, header_prompt, footer_prompt,
                                       temperature, ai_model, structured_response))

    def compact(self, name: str) -> CompactResult:
        return self._send(Calls.compact(name))

    def snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return self._send(Calls.snapshot(name, snapshot))

    def restore(self, snapshot: str, name: str) -> NamespaceInfo:
        return self._send(Calls.restore(snapshot, name))

    def diagnostics(self, name: str) -> Diagnostics:
        return self._send(Calls.diagnostics(name))


class AsyncHTTPClient(_Base):
    """``HTTPClient`` for asyncio: the same methods as coroutines."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_retries: int = 4) -> None:
        super().__init__(url, api_key, timeout, max_retries)
        self._http = httpx.AsyncClient(**self._options)

    async def _send(self, call: Call) -> Any:
        args = self._request_args(call)
        attempt = 0
        delay: float | None
        while True:
            try:
                response = await self._http.request(**args)
            except RETRY_ERRORS as exc:
                delay = self._retried(call, attempt, exc)
            else:
                delay = self._delay(attempt, response)
                if delay is None:
                    return self._reply(call, response)
            await asyncio.sleep(delay)
            attempt += 1

    async def __aenter__(self) -> AsyncHTTPClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def create_namespace(self, name: str, type: str | None = None, dimension: int | None = None,
                         binarizer: str = DEFAULT_BINARIZER, center: Sequence[float] | None = None,
                         model: str | None = None, shards: int | None = None,
                         exist_ok: bool = False) -> NamespaceInfo:
        return await self._send(Calls.create_namespace(name, type, dimension, binarizer, center, model, shards,
                                                  exist_ok))

    async def list_namespaces(self) -> list[NamespaceInfo]:
        return await self._send(Calls.list_namespaces())

    async def describe_namespace(self, name: str) -> NamespaceInfo:
        return await self._send(Calls.describe_namespace(name))

    async def delete_namespace(self, name: str) -> DeletedNamespace:
        return await self._send(Calls.delete_namespace(name))

    async def upload_vectors(self, name: str, vectors: Sequence[Mapping[str, Any]]) -> UploadResult:
        return await self._send(Calls.upload_vectors(name, vectors))

    async def upload_documents(self, name: str, documents: Sequence[Mapping[str, Any]],
                               wait: bool = True) -> DocumentsUploaded:
        parts = document_parts(documents)
        results = [await self._send(Calls.upload_documents(name, part)) for part in parts]
        if wait:
            for result in results:
                await self._wait(result["job_id"])
                result["status"] = "success"
        return merged_upload(results)  # type: ignore[return-value]

    async def _wait(self, job_id: str) -> JobStatus:
        while True:
            job = await self.job(job_id)
            if job["state"] in FINAL_STATES:
                return check_finished(job)
            await asyncio.sleep(JOB_POLL_S)

    async def job(self, job_id: str) -> JobStatus:
        return await self._send(Calls.job(job_id))

    async def jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        return await self._send(Calls.jobs(namespace, limit))

    async def cancel_job(self, job_id: str) -> JobStatus:
        return await self._send(Calls.cancel_job(job_id))

    async def get(self, name: str, ids: Sequence[str | int], include_vectors: bool = False) -> list[Item]:
        return await self._send(Calls.get(name, ids, include_vectors))

    async def update(self, name: str, ids: Sequence[str | int], metadata: dict[str, Any] | None = None,
                     text: str | None = None, unset: Sequence[str] | None = None) -> UpdateResult:
        return await self._send(Calls.update(name, ids, metadata, text, unset))

    async def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        return await self._send(Calls.count(name, filter))

    async def delete(self, name: str, ids: Sequence[str | int] | None = None,
                     filter: dict[str, Any] | None = None) -> DeleteResult:
        return await self._send(Calls.delete(name, ids, filter))

    async def search(self, namespaces: Sequence[str] | str, query: Query, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
               mode: str | None = None, oversample: int | None = None, partial: bool = False,
               keywords: str | None = None, fusion: str | None = None,
               keyword_weight: float | None = None, group_by: str | None = None,
               group_size: int | None = None) -> SearchResponse:
        return await self._send(Calls.search(namespaces, query, top_k, threshold, filter, kiosk_mode, mode,
                                             oversample, partial, keywords, fusion, keyword_weight,
                                             group_by, group_size))

    async def search_batch(self, namespaces: Sequence[str] | str, queries: Sequence[Query], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
                     mode: str | None = None, oversample: int | None = None,
                     partial: bool = False, keywords: Sequence[str] | None = None, fusion: str | None = None,
                     keyword_weight: float | None = None, group_by: str | None = None,
                     group_size: int | None = None) -> list[SearchResponse]:
        return await self._send(Calls.search_batch(namespaces, queries, top_k, threshold, filter, kiosk_mode, mode,
                                             oversample, partial, keywords, fusion, keyword_weight,
                                             group_by, group_size))

    async def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
                     filter: dict[str, Any] | None = None) -> ScrollPage:
        return await self._send(Calls.scroll(name, limit, cursor, filter))

    async def answer(self, namespace: str, query: str, top_k: int = DEFAULT_ANSWER_TOP_K, threshold: float | None = None,
               kiosk_mode: bool = False, chat_history: Sequence[Mapping[str, str]] | None = None,
               header_prompt: str | None = None, footer_prompt: str | None = None, temperature: float = 0.7,
               ai_model: str | None = None, structured_response: dict[str, Any] | None = None) -> AnswerResponse:
        return await self._send(Calls.answer(namespace, query, top_k, threshold, kiosk_mode, chat_history, header_prompt, footer_prompt,
                                       temperature, ai_model, structured_response))

    async def compact(self, name: str) -> CompactResult:
        return await self._send(Calls.compact(name))

    async def snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return await self._send(Calls.snapshot(name, snapshot))

    async def restore(self, snapshot: str, name: str) -> NamespaceInfo:
        return await self._send(Calls.restore(snapshot, name))

    async def diagnostics(self, name: str) -> Diagnostics:
        return await self._send(Calls.diagnostics(name))
