"""Each REST call described once (``Call``: method, path, body, how to unwrap the reply), and
how an error reply becomes the typed exception it stands for; HTTPClient and AsyncHTTPClient
only send them."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from bitsift.core.errors import BitsiftError, InvalidInput, error_from
from bitsift.core.validate import check_name


class ServiceUnavailable(BitsiftError):
    """The server could not be reached, or kept answering 'try again later', after every retry."""

    status, name = 503, "service_unavailable"


class NoAnswer(BitsiftError):
    """The server took the request but sent no answer within the client's timeout. A call that
    is expensive to repeat (an answer written by an LLM) is not sent again: raise ``timeout``,
    or retry it yourself."""

    status, name = 504, "no_answer"


def _plain(value: Any) -> Any:
    """JSON for what the in-process client also accepts: numpy arrays, rows and scalars."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# NaN and infinity go out as JSON literals so the server rejects them with the same typed error
# as the engine does in-process, instead of failing here with a ValueError.
ENCODER = json.JSONEncoder(default=_plain, allow_nan=True, separators=(",", ":"))


def _same(body: Any) -> Any:
    return body


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    unwrap: Callable[[Any], Any] = _same
    params: Mapping[str, Any] | None = None  # the URL's query string
    expensive: bool = False  # a read timeout is not retried: the server may still be doing the work


def _ns(name: Any, *rest: str) -> str:
    """URL path of a namespace. The name is checked here, as the engine would, because a name
    such as ``../x`` cannot travel in a URL path without changing which route it reaches."""
    return "/".join(("/v1/namespaces", quote(check_name(name), safe=""), *rest))


def _job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not job_id or "/" in job_id:
        raise InvalidInput(f"job_id must be a job's id (job_...), got {job_id!r}")
    return job_id


def _take(key: str) -> Callable[[Any], Any]:
    return lambda body: body[key]


# --- the calls, described once; both clients only send them --------------------------------

class Calls:
    @staticmethod
    def create_namespace(name: str, type: str | None, dimension: int | None, binarizer: str,
                         center: Sequence[float] | None, model: str | None, shards: int | None,
                         exist_ok: bool) -> Call:
        body: dict[str, Any] = {"namespace_name": name, "vector_dimension": dimension, "binarizer": binarizer}
        if exist_ok is not False:
            body["exist_ok"] = exist_ok
        if type is not None:
            body["type"] = type
        if center is not None:
            body["center"] = center
        if model is not None:
            body["model"] = model
        if shards is not None:
            body["shards"] = shards
        return Call("POST", "/v1/namespaces", body)

    @staticmethod
    def list_namespaces() -> Call:
        return Call("GET", "/v1/namespaces", unwrap=_take("namespaces"))

    @staticmethod
    def describe_namespace(name: str) -> Call:
        return Call("GET", _ns(name))

    @staticmethod
    def delete_namespace(name: str) -> Call:
        return Call("DELETE", _ns(name))

    @staticmethod
    def upload_vectors(name: str, vectors: Sequence[Mapping[str, Any]]) -> Call:
        return Call("POST", _ns(name, "vectors"), {"vectors": vectors})

    @staticmethod
    def upload_documents(name: str, documents: Sequence[Mapping[str, Any]]) -> Call:
        # Recorded as a job and answered before any embedding: cheap to resend, and a resent
        # part embeds nothing again (ingestion is idempotent by document id and content).
        return Call("POST", _ns(name, "documents"), {"documents": documents})

    @staticmethod
    def job(job_id: str) -> Call:
        return Call("GET", f"/v1/jobs/{quote(_job_id(job_id), safe='')}")

    @staticmethod
    def jobs(namespace: str | None, limit: int) -> Call:
        params: dict[str, Any] = {"limit": limit}
        if namespace is not None:
            params["namespace"] = check_name(namespace)
        return Call("GET", "/v1/jobs", params=params, unwrap=_take("jobs"))

    @staticmethod
    def cancel_job(job_id: str) -> Call:
        return Call("POST", f"/v1/jobs/{quote(_job_id(job_id), safe='')}/cancel")

    @staticmethod
    def get(name: str, ids: Sequence[Any], include_vectors: bool) -> Call:
        body = {"ids": ids, "include_vectors": include_vectors}
        return Call("POST", _ns(name, "documents", "get"), body, _take("documents"))

    @staticmethod
    def update(name: str, ids: Sequence[Any], metadata: dict[str, Any] | None, text: str | None,
               unset: Sequence[str] | None) -> Call:
        body: dict[str, Any] = {"ids": ids}
        for key, value in (("metadata", metadata), ("text", text), ("unset", unset)):
            if value is not None:
                body[key] = value
        return Call("POST", _ns(name, "documents", "update"), body)

    @staticmethod
    def count(name: str, filter: dict[str, Any] | None) -> Call:
        return Call("POST", _ns(name, "count"), {"filter": filter}, _take("count"))

    @staticmethod
    def delete(name: str, ids: Sequence[Any] | None, filter: dict[str, Any] | None) -> Call:
        body: dict[str, Any] = {} if ids is None else {"ids": ids}
        if filter is not None:
            body["filter"] = filter
        return Call("POST", _ns(name, "documents", "delete"), body)

    @staticmethod
    def scroll(name: str, limit: int, cursor: str | None, filter: dict[str, Any] | None) -> Call:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["next_token"] = cursor
        if filter is not None:
            params["filter"] = ENCODER.encode(filter)
        return Call("GET", _ns(name, "documents", "fetch-text-data"), params=params, unwrap=_scroll_page)

    @staticmethod
    def search(namespaces: Sequence[str] | str, query: Any, top_k: int, threshold: float | None,
               filter: dict[str, Any] | None, kiosk_mode: bool, mode: str | None,
               oversample: int | None, partial: bool, keywords: str | None = None, fusion: str | None = None,
               keyword_weight: float | None = None, group_by: str | None = None,
               group_size: int | None = None) -> Call:
        body = _search_body(namespaces, top_k, threshold, filter, kiosk_mode, mode, oversample, partial,
                            keywords, fusion, keyword_weight, group_by, group_size)
        return Call("POST", "/v1/search", dict(body, query=query))

    @staticmethod
    def search_batch(namespaces: Sequence[str] | str, queries: Any, top_k: int, threshold: float | None,
                     filter: dict[str, Any] | None, kiosk_mode: bool, mode: str | None,
                     oversample: int | None, partial: bool, keywords: Sequence[str] | None = None,
                     fusion: str | None = None, keyword_weight: float | None = None,
                     group_by: str | None = None, group_size: int | None = None) -> Call:
        body = _search_body(namespaces, top_k, threshold, filter, kiosk_mode, mode, oversample, partial,
                            keywords, fusion, keyword_weight, group_by, group_size)
        return Call("POST", "/v1/search/batch", dict(body, queries=queries), _take("responses"))

    @staticmethod
    def answer(namespace: str, query: str, top_k: int, threshold: float | None, kiosk_mode: bool,
               chat_history: Sequence[Mapping[str, str]] | None, header_prompt: str | None,
               footer_prompt: str | None, temperature: float, ai_model: str | None,
               structured_response: dict[str, Any] | None) -> Call:
        body = {"namespace": namespace, "query": query, "top_k": top_k, "threshold": threshold,
                "kiosk_mode": kiosk_mode, "chat_history": chat_history,
                "header_prompt": header_prompt, "footer_prompt": footer_prompt, "temperature": temperature,
                "ai_model": ai_model, "structured_response": structured_response}
        # An LLM's answer costs the provider a generation: a read timeout is not sent again.
        return Call("POST", "/v1/answer", body, expensive=True)

    @staticmethod
    def compact(name: str) -> Call:
        return Call("POST", _ns(name, "compact"))

    @staticmethod
    def snapshot(name: str, snapshot: str) -> Call:
        return Call("POST", _ns(name, "snapshot"), {"snapshot": snapshot})

    @staticmethod
    def restore(snapshot: str, name: str) -> Call:
        return Call("POST", f"/v1/snapshots/{quote(check_name(snapshot, 'snapshot'), safe='')}/restore", {"namespace_name": name})

    @staticmethod
    def diagnostics(name: str) -> Call:
        return Call("GET", _ns(name, "diagnostics"))


# A large document upload travels as several requests of at most these (each one commit on the
# server), so that none takes longer to embed than a client's timeout: ~250 chunks, a few seconds
# of embedding on two cores.
PART_DOCUMENTS = 64
PART_CHARS = 250_000


def document_parts(documents: Sequence[Mapping[str, Any]]) -> list[Sequence[Mapping[str, Any]]]:
    """``documents`` cut into consecutive parts of at most PART_DOCUMENTS and PART_CHARS of text
    (a longer single document is a part of its own)."""
    parts: list[Sequence[Mapping[str, Any]]] = []
    start = chars = 0
    for i, doc in enumerate(documents):
        text = doc.get("text") if isinstance(doc, Mapping) else None
        size = len(text) if isinstance(text, str) else 0
        if i > start and (i - start >= PART_DOCUMENTS or chars + size > PART_CHARS):
            parts.append(documents[start:i])
            start, chars = i, 0
        chars += size
    parts.append(documents[start:])
    return parts


def merged_upload(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The result of one document upload from its parts' results (each part is a job)."""
    merged = {"status": results[-1]["status"], "uploaded": sum(r["uploaded"] for r in results),
              "chunks": sum(r["chunks"] for r in results),
              "submitted_ids": [i for r in results for i in r["submitted_ids"]], "job_id": results[-1]["job_id"]}
    if len(results) > 1:
        merged["job_ids"] = [r["job_id"] for r in results]
    return merged


def _scroll_page(body: Any) -> dict[str, Any]:
    """The hosted API's fetch-text-data page as a ScrollPage (the keys every client returns)."""
    items = [{"id": i["id"], "text": i["text"], "metadata": i["metadata"]} for i in body["items"]]
    return {"items": items, "next_cursor": body["pagination"]["next_token"]}


def _search_body(namespaces: Sequence[str] | str, top_k: int, threshold: float | None, filter: dict[str, Any] | None,
                 kiosk_mode: bool, mode: str | None, oversample: int | None, partial: bool,
                 keywords: Any = None, fusion: str | None = None, keyword_weight: float | None = None,
                 group_by: str | None = None, group_size: int | None = None) -> dict[str, Any]:
    """The parameters a search and a batch share, as the server's models name them (the keyword
    ones only when given, so a body stays what the hosted API knows)."""
    names = namespaces if isinstance(namespaces, str) else list(namespaces)
    body = {"namespaces": names, "top_k": top_k, "threshold": threshold, "filter": filter,
            "kiosk_mode": kiosk_mode, "mode": mode, "oversample": oversample}
    if partial:
        body["partial"] = True
    extra = {"keywords": None if keywords is None or isinstance(keywords, str) else list(keywords),
             "fusion": fusion, "keyword_weight": keyword_weight, "group_by": group_by, "group_size": group_size}
    if isinstance(keywords, str):
        extra["keywords"] = keywords
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def error_of(response: httpx.Response) -> BitsiftError:
    """The typed exception an error response stands for."""
    try:
        body = response.json()
        name, message = body["error"], body["message"]
    except (ValueError, KeyError, TypeError):
        exc = BitsiftError(f"HTTP {response.status_code}: {response.text[:500]}")
        exc.status, exc.name = response.status_code, "http_error"
        return exc
    return error_from({"error": name, "message": message, "status": response.status_code})


def retry_after(response: httpx.Response) -> float | None:
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
