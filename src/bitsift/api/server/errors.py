"""One JSON error body everywhere: ``{"error": <stable name>, "message": <text>, "status": <int>}``.

Domain errors carry their own name and status (``BitsiftError.to_dict``); the errors below exist
only at the HTTP boundary. A client that does not know a name rebuilds a plain ``BitsiftError``
with the same name and status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bitsift.core.errors import BitsiftError
from bitsift.core.results import ErrorBody

log = logging.getLogger("bitsift.api.server")

# Stable names for statuses that only the HTTP layer produces.
HTTP_NAMES = {
    400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type", 503: "busy",
}


# Every status a /v1 route may answer besides its success, and why (the OpenAPI page lists them).
# The only 5xx are these (502 and 504 only from /v1/answer with an LLM configured): 500 only for
# a file damaged outside bitsift (or a bug).
ERROR_STATUSES = {
    400: "invalid input: the message names the field and what is valid",
    401: "no x-api-key header (the server has API keys)",
    403: "an x-api-key that is not one of the server's keys; snapshots_disabled: no --snapshot-dir",
    404: "no such namespace, or no such route",
    408: "the request body stopped arriving (the connection is then closed)",
    409: "a namespace of that name exists; or the conflict the error names (keyword_index_missing, job_cancelled)",
    413: "request body over the server's limit",
    423: "another process held the namespace's writer lock too long; retry",
    500: "storage_corrupt: a namespace file was damaged outside bitsift (the message names it)",
    502: "llm_unavailable: the configured LLM failed or did not send an answer (/v1/answer)",
    503: "busy or a shard is unavailable: retry after the Retry-After header's seconds",
    504: "llm_timeout: the configured LLM did not answer in time (/v1/answer)",
    507: "insufficient_storage: the disk is full; nothing of the write was kept",
}
RETRYABLE = {423: 1, 503: 1}  # status -> the Retry-After seconds sent with it
_EVERY_ROUTE = (400, 401, 403, 408, 413, 423, 500, 503, 507)


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the errors every /v1 route may give, plus ``statuses``."""
    return {s: {"model": ErrorBody, "description": ERROR_STATUSES[s]} for s in sorted({*_EVERY_ROUTE, *statuses})}


def truthful_openapi(app: FastAPI) -> None:
    """FastAPI documents a 422 for every route with a body; this server never sends one (its
    validation errors are 400 with the error body), so the generated page drops it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_body(name: str, message: str, status: int) -> dict[str, Any]:
    return {"error": name, "message": message, "status": status}


def error_response(name: str, message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(name, message, status), status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "request body"


def validation_message(exc: RequestValidationError) -> str:
    """Pydantic's error list as one readable line: ``vectors: Field required; top: Extra inputs ...``."""
    out = []
    for err in exc.errors():
        if err.get("type") == "model_attributes_type" and tuple(err.get("loc", ())) == ("body",):
            out.append("request body must be a JSON object, sent as Content-Type: application/json")
        elif err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            out.append(f"request body is not valid JSON ({detail} at position {err['loc'][-1]})")
        else:
            out.append(f"{_location(tuple(err.get('loc', ())))}: {err.get('msg', 'invalid')}")
    return "; ".join(out) or "invalid request"


def domain_error_response(exc: BitsiftError, method: str, path: str) -> JSONResponse:
    """A typed error's answer: its own name and status, Retry-After where retrying helps."""
    if exc.status >= 500 and exc.status not in RETRYABLE:  # an operator must act: say it once
        log.error("%s %s failed: %s", method, path, exc, exc_info=exc if exc.status == 500 else None)
    headers = {"Retry-After": str(RETRYABLE[exc.status])} if exc.status in RETRYABLE else None
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    return error_response("invalid_input", validation_message(exc), 400)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BitsiftError)
    async def _domain(request: Request, exc: BitsiftError) -> JSONResponse:
        return domain_error_response(exc, request.method, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = HTTP_NAMES.get(exc.status_code, "http_error")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}; see /docs"
        else:
            message = str(exc.detail)
        return error_response(name, message, exc.status_code, getattr(exc, "headers", None))
