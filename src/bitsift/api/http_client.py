"""``HTTPClient`` and ``AsyncHTTPClient``: the in-process ``Client`` API over a bitsift server.

Same methods, same return values, same exceptions: an error body
``{"error", "message", "status"}`` is rebuilt into the typed ``bitsift.core.errors`` class of that
name, so ``except NamespaceNotFound`` works the same locally and remotely. Requests are retried
on 429, 502, 503, 504, timeouts and connection errors, with capped exponential backoff plus
jitter, honouring ``Retry-After``.

Each call is described once (``_Call``: method, path, body, how to unwrap the reply); the two
clients differ only in how they send it.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from bitsift.core.errors import ERRORS_BY_NAME, BitsiftError
from bitsift.core.validate import check_name

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class ServiceUnavailable(BitsiftError):
    """The server could not be reached, or kept answering 'try again later', after every retry."""

    status, name = 503, "service_unavailable"


def _plain(value: Any) -> Any:
    """JSON for what the in-process client also accepts: numpy arrays, rows and scalars."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# NaN and infinity go out as JSON literals so the server rejects them with the same typed error
# as the engine does in-process, instead of failing here with a ValueError.
_ENCODER = json.JSONEncoder(default=_plain, allow_nan=True, separators=(",", ":"))


def _same(body: Any) -> Any:
    return body


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: Any = None
    unwrap: Callable[[Any], Any] = _same


def _ns(name: Any, *rest: str) -> str:
    """URL path of a namespace. The name is checked here, as the engine would, because a name
    such as ``../x`` cannot travel in a URL path without changing which route it reaches."""
    return "/".join(("/v1/namespaces", quote(check_name(name), safe=""), *rest))


def _take(key: str) -> Callable[[Any], Any]:
    return lambda body: body[key]


# --- the calls, described once; both clients only send them --------------------------------

class _Calls:
    @staticmethod
    def create_namespace(name: str, type: str, dimension: int | None, binarizer: str,
                         center: Sequence[float] | None, model: str | None, shards: int | None) -> _Call:
        body = {"namespace_name": name, "type": type, "vector_dimension": dimension, "binarizer": binarizer}
        if center is not None:
            body["center"] = center
        if model is not None:
            body["model"] = model
        if shards is not None:
            body["shards"] = shards
        return _Call("POST", "/v1/namespaces", body)

    @staticmethod
    def list_namespaces() -> _Call:
        return _Call("GET", "/v1/namespaces", unwrap=_take("namespaces"))

    @staticmethod
    def describe_namespace(name: str) -> _Call:
        return _Call("GET", _ns(name))

    @staticmethod
    def delete_namespace(name: str) -> _Call:
        return _Call("DELETE", _ns(name))

    @staticmethod
    def upload_vectors(name: str, vectors: Sequence[dict[str, Any]]) -> _Call:
        return _Call("POST", _ns(name, "vectors"), {"vectors": vectors})

    @staticmethod
    def upload_documents(name: str, documents: Sequence[dict[str, Any]]) -> _Call:
        return _Call("POST", _ns(name, "documents"), {"documents": documents})

    @staticmethod
    def get(name: str, ids: Sequence[Any], include_vectors: bool) -> _Call:
        body = {"ids": ids, "include_vectors": include_vectors}
        return _Call("POST", _ns(name, "documents", "get"), body, _take("documents"))

    @staticmethod
    def delete(name: str, ids: Sequence[Any]) -> _Call:
        return _Call("POST", _ns(name, "documents", "delete"), {"ids": ids})

    @staticmethod
    def search(namespaces: Sequence[str] | str, query: Any, top_k: int, threshold: float | None,
               filter: dict[str, Any] | None, kiosk_mode: bool, mode: str | None,
               oversample: int | None, partial: bool) -> _Call:
        names = namespaces if isinstance(namespaces, str) else list(namespaces)
        body = {"namespaces": names, "query": query, "top_k": top_k, "threshold": threshold, "filter": filter,
                "kiosk_mode": kiosk_mode, "mode": mode, "oversample": oversample}
        if partial:
            body["partial"] = True
        return _Call("POST", "/v1/search", body)

    @staticmethod
    def compact(name: str) -> _Call:
        return _Call("POST", _ns(name, "compact"))

    @staticmethod
    def diagnostics(name: str) -> _Call:
        return _Call("GET", _ns(name, "diagnostics"))


def _error(response: httpx.Response) -> BitsiftError:
    """The typed exception an error response stands for."""
    try:
        body = response.json()
        name, message = body["error"], body["message"]
    except (ValueError, KeyError, TypeError):
        exc = BitsiftError(f"HTTP {response.status_code}: {response.text[:500]}")
        exc.status, exc.name = response.status_code, "http_error"
        return exc
    cls = ERRORS_BY_NAME.get(name)
    if cls is not None and cls.status == response.status_code:
        return cls(message)
    exc = BitsiftError(message)
    exc.status, exc.name = response.status_code, name
    return exc


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
        self.max_retries = max_retries
        self._options: dict[str, Any] = {
            "base_url": self.url, "timeout": timeout,
            "headers": {"accept": "application/json", **({"x-api-key": api_key} if api_key else {})},
        }

    @staticmethod
    def _request_args(call: _Call) -> dict[str, Any]:
        args: dict[str, Any] = {"method": call.method, "url": call.path}
        if call.body is not None:
            args["content"] = _ENCODER.encode(call.body).encode()
            args["headers"] = {"content-type": "application/json"}
        return args

    def _delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retrying, or None to stop (success, a final error, or no retries left)."""
        if response is not None and response.status_code not in RETRY_STATUSES:
            return None
        if attempt >= self.max_retries:
            return None
        hinted = _retry_after(response) if response is not None else None
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        step = min(self.backoff_cap, self.backoff_base * 2**attempt)
        return step / 2 + random.uniform(0, step / 2)

    @staticmethod
    def _reply(call: _Call, response: httpx.Response) -> Any:
        if response.is_success:
            return call.unwrap(response.json())
        raise _error(response)

    def _unreachable(self, exc: Exception) -> ServiceUnavailable:
        return ServiceUnavailable(f"cannot reach {self.url} after {self.max_retries + 1} attempts: "
                                  f"{type(exc).__name__}: {exc}")


class HTTPClient(_Base):
    """``bitsift.Client`` over HTTP: ``HTTPClient("http://127.0.0.1:8080", api_key=...)``."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_retries: int = 4) -> None:
        super().__init__(url, api_key, timeout, max_retries)
        self._http = httpx.Client(**self._options)

    def _send(self, call: _Call) -> Any:
        args = self._request_args(call)
        attempt = 0
        while True:
            try:
                response = self._http.request(**args)
            except RETRY_ERRORS as exc:
                delay = self._delay(attempt, None)
                if delay is None:
                    raise self._unreachable(exc) from exc
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

    def create_namespace(
        self, name: str, type: str = "vector", dimension: int | None = None, binarizer: str = "mib",
        center: Sequence[float] | None = None, model: str | None = None, shards: int | None = None,
    ) -> dict[str, Any]:
        """Create a namespace: ``type`` "vector" (give ``dimension``) or "text" (embedded by the
        server with ``model``, its default local model if None); ``binarizer`` mib, sign, centered."""
        return self._send(_Calls.create_namespace(name, type, dimension, binarizer, center, model, shards))

    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._send(_Calls.list_namespaces())

    def describe_namespace(self, name: str) -> dict[str, Any]:
        return self._send(_Calls.describe_namespace(name))

    def delete_namespace(self, name: str) -> dict[str, Any]:
        return self._send(_Calls.delete_namespace(name))

    def upload_vectors(self, name: str, vectors: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Upsert ``[{id, vector, text?, metadata?}]``; a rejected batch writes nothing."""
        return self._send(_Calls.upload_vectors(name, vectors))

    def upload_documents(self, name: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Chunk, embed and upsert ``[{id, text, ...fields}]`` into a text namespace."""
        return self._send(_Calls.upload_documents(name, documents))

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self._send(_Calls.get(name, ids, include_vectors))

    def delete(self, name: str, ids: Sequence[Any]) -> dict[str, Any]:
        return self._send(_Calls.delete(name, ids))

    def search(
        self,
        namespaces: Sequence[str] | str,
        query: str | Sequence[float],
        top_k: int = 10,
        threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        kiosk_mode: bool = False,
        mode: str | None = None,
        oversample: int | None = None,
        partial: bool = False,
    ) -> dict[str, Any]:
        """``{results: [{id, score, label, text, metadata, namespace}], execution_time, mode, timings}``;
        ``query`` is text (text namespaces) or a vector: a list or a numpy array."""
        return self._send(_Calls.search(namespaces, query, top_k, threshold, filter, kiosk_mode, mode, oversample,
                                        partial))

    def compact(self, name: str) -> dict[str, int]:
        """Rewrite a namespace's files without deleted rows."""
        return self._send(_Calls.compact(name))

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self._send(_Calls.diagnostics(name))


class AsyncHTTPClient(_Base):
    """``HTTPClient`` for asyncio: the same methods as coroutines."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, max_retries: int = 4) -> None:
        super().__init__(url, api_key, timeout, max_retries)
        self._http = httpx.AsyncClient(**self._options)

    async def _send(self, call: _Call) -> Any:
        args = self._request_args(call)
        attempt = 0
        while True:
            try:
                response = await self._http.request(**args)
            except RETRY_ERRORS as exc:
                delay = self._delay(attempt, None)
                if delay is None:
                    raise self._unreachable(exc) from exc
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

    async def create_namespace(
        self, name: str, type: str = "vector", dimension: int | None = None, binarizer: str = "mib",
        center: Sequence[float] | None = None, model: str | None = None, shards: int | None = None,
    ) -> dict[str, Any]:
        return await self._send(_Calls.create_namespace(name, type, dimension, binarizer, center, model, shards))

    async def list_namespaces(self) -> list[dict[str, Any]]:
        return await self._send(_Calls.list_namespaces())

    async def describe_namespace(self, name: str) -> dict[str, Any]:
        return await self._send(_Calls.describe_namespace(name))

    async def delete_namespace(self, name: str) -> dict[str, Any]:
        return await self._send(_Calls.delete_namespace(name))

    async def upload_vectors(self, name: str, vectors: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return await self._send(_Calls.upload_vectors(name, vectors))

    async def upload_documents(self, name: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return await self._send(_Calls.upload_documents(name, documents))

    async def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return await self._send(_Calls.get(name, ids, include_vectors))

    async def delete(self, name: str, ids: Sequence[Any]) -> dict[str, Any]:
        return await self._send(_Calls.delete(name, ids))

    async def search(
        self,
        namespaces: Sequence[str] | str,
        query: str | Sequence[float],
        top_k: int = 10,
        threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        kiosk_mode: bool = False,
        mode: str | None = None,
        oversample: int | None = None,
        partial: bool = False,
    ) -> dict[str, Any]:
        return await self._send(_Calls.search(namespaces, query, top_k, threshold, filter, kiosk_mode, mode,
                                              oversample, partial))

    async def compact(self, name: str) -> dict[str, int]:
        return await self._send(_Calls.compact(name))

    async def diagnostics(self, name: str) -> dict[str, Any]:
        return await self._send(_Calls.diagnostics(name))
