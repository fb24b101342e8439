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

log = logging.getLogger("bitsift.api.server")

# Stable names for statuses that only the HTTP layer produces.
HTTP_NAMES = {
    400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
}


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BitsiftError)
    async def _domain(request: Request, exc: BitsiftError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response("invalid_input", validation_message(exc), 400)

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s raised an unexpected error", request.method, request.url.path, exc_info=exc)
        return error_response("internal_error", f"internal error ({type(exc).__name__}); see the server log", 500)
