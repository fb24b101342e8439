"""Lean routes: the hot POST routes (search, vector upload) without FastAPI's per-request machinery.

Measured on 2 cores, FastAPI's routing, dependency solving and stdlib JSON cost the event loop
~1 ms per search request, capping a server at ~500 searches/s whatever the engine does. A lean
route is a plain Starlette route that the Gate (the outermost layer, which has read the body
and checked the key already) answers itself, before FastAPI's middleware and router; it does only
what the request needs: read the body, parse it
with orjson, validate it with the same pydantic model, await the same handler, and encode the
answer with orjson. The FastAPI route of the same path stays declared, with the
same handler, for the OpenAPI page; errors go through the app's exception handlers either way,
so answers and error bodies are the same whichever route serves them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from bitsift.api.server.errors import domain_error_response, validation_error_response
from bitsift.core.errors import BitsiftError

# (validated body, request) -> (JSON value, status), awaited on the event loop: blocking work goes
# to a thread (the engine's futures, or run_in_threadpool).
Handler = Callable[[Any, Request], Awaitable[tuple[Any, int]]]


def json_response(value: Any, status: int = 200) -> Response:
    """orjson-encoded JSON (numpy scalars and arrays included)."""
    return Response(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no Content-Type, or application/json or application/*+json."""
    if not content_type:
        return True
    main, _, sub = content_type.split(";")[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def parse_body(raw: bytes, model: type[BaseModel], content_type: str | None = None) -> BaseModel:
    """The body as ``model``; malformed JSON or a wrong shape raise RequestValidationError,
    which the app answers with the same 400 as FastAPI's own validation."""
    if raw and not _is_json(content_type):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",),
                                       "msg": "Input should be a valid dictionary or object", "input": raw}])
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # What orjson refuses but the stdlib (FastAPI's parser) reads, NaN literals and integers
        # past 64 bits, must reach the engine's checks as before; the rest gets the stdlib's message.
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
        except UnicodeDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.start), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": "not UTF-8"}}]) from None
    if not isinstance(data, dict):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",),
                                       "msg": "Input should be a valid dictionary or object", "input": data}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def lean_route(path: str, model: type[BaseModel], handler: Handler) -> Route:
    """``POST path`` served by ``handler``; the Gate dispatches to it before the FastAPI app."""

    async def endpoint(request: Request) -> Response:
        body = parse_body(await request.body(), model, request.headers.get("content-type"))
        return json_response(*await handler(body, request))

    return Route(path, endpoint, methods=["POST"], include_in_schema=False)


async def serve_lean(routes: Sequence[Route], scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """Answer the request if a lean route matches it (False: it is the FastAPI app's). Typed and
    validation errors are answered as the app's exception handlers answer them."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        scope.update(child)
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except BitsiftError as exc:
            response = domain_error_response(exc, request.method, request.url.path)
        except RequestValidationError as exc:
            response = validation_error_response(exc)
        await response(scope, receive, send)
        return True
    return False
