"""The gate in front of every route (pure ASGI, outermost, so it runs before any body byte is
buffered): the API key check on /v1, the request body cap, read timeout and large-body slots, the
clock for timings, the lean routes (api.server.lean), and the last line of defence: an unexpected
exception is logged once and answered with the error body, on a connection that stays usable."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.routing import Route

from bitsift.api.server.errors import error_response
from bitsift.api.server.lean import serve_lean

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROTECTED = "/v1"
# A rejected body is read and dropped up to this multiple of the cap before answering, so the
# client reads the error instead of a connection reset; past it the connection is just closed.
DRAIN_FACTOR = 4
T0_KEY = "bitsift_t0"
BODY_TIMEOUT_S = 30.0  # the longest wait for the next piece of a body (a lying Content-Length)
LARGE_BODY_BYTES = 8 << 20  # bodies above this (by Content-Length) take one of MAX_LARGE_BODIES slots
MAX_LARGE_BODIES = 2
LARGE_WAIT_S = 300.0  # how long a large body waits for a slot before a 503 with Retry-After
log = logging.getLogger("bitsift.api.server")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value
    return None


async def _drain(receive: Receive, limit: int) -> None:
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _within(step: Awaitable[Message], seconds: float) -> Message:
    """``step``, or asyncio.TimeoutError after ``seconds``; without wait_for's task per call
    where asyncio.timeout exists (3.11+): this runs for every body piece of every request."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:
        return await asyncio.wait_for(step, seconds)
    async with timeout(seconds):
        return await step


async def backstop(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The last line of defence: an unexpected exception is logged once and answered with the
    error body (500), on a connection that stays usable; after half a response, it is re-raised
    (only closing the connection is honest then)."""
    started = False

    async def tracked(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, tracked)
    except Exception as exc:  # a bug: answered in the one error shape, logged once
        log.error("%s %s raised an unexpected error", scope.get("method"), scope.get("path"), exc_info=exc)
        if started:
            raise
        text = f"internal error ({type(exc).__name__}); see the server log"
        await error_response("internal_error", text, 500)(scope, receive, send)  # type: ignore[arg-type]


class Backstop:
    """``backstop`` inside FastAPI's own middleware (whose outermost layer would answer a bare
    500 and close the connection first); the Gate applies it to the lean routes itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await backstop(self.app, scope, receive, send)


class Gate:
    def __init__(self, app: ASGIApp, api_keys: Sequence[str], max_body_bytes: int,
                 body_timeout_s: float = BODY_TIMEOUT_S, large_body_bytes: int = LARGE_BODY_BYTES,
                 max_large_bodies: int = MAX_LARGE_BODIES, large_wait_s: float = LARGE_WAIT_S,
                 lean: Sequence[Route] = ()) -> None:
        self.app = app
        self.lean = list(lean)  # answered here, with the body read: api.server.lean
        self.keys = [k.encode() for k in api_keys]
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.large_body_bytes, self.max_large_bodies, self.large_wait_s = large_body_bytes, max_large_bodies, large_wait_s
        self._large_slots = asyncio.Semaphore(max_large_bodies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[T0_KEY] = time.perf_counter()
        path = scope["path"]
        if self.keys and (path == PROTECTED or path.startswith(PROTECTED + "/")):
            given = _header(scope, b"x-api-key")
            if given is None:
                await self._reject(scope, receive, send, 401, "unauthorized", "missing x-api-key header")
                return
            if not any([hmac.compare_digest(given, key) for key in self.keys]):  # no early exit
                await self._reject(scope, receive, send, 403, "forbidden", "invalid API key")
                return
        declared = _header(scope, b"content-length")
        length = int(declared) if declared is not None and declared.isdigit() else 0
        if length > self.max_body_bytes:
            await self._too_large(scope, receive, send, drain=length <= DRAIN_FACTOR * self.max_body_bytes)
            return
        if length <= self.large_body_bytes:
            await self._serve(scope, receive, send, path)
            return
        # A large body costs several times its size once parsed: only a few at a time, the
        # others wait their turn (the memory goal: 8 concurrent 92 MiB uploads stay below 2 GB).
        try:
            await asyncio.wait_for(self._large_slots.acquire(), self.large_wait_s)
        except asyncio.TimeoutError:
            text = (f"{self.max_large_bodies} large uploads are in progress and this one waited "
                    f"{self.large_wait_s:g} s; retry")
            await self._reject(scope, receive, send, 503, "busy", text, headers={"retry-after": "5"})
            return
        try:
            await self._serve(scope, receive, send, path)
        finally:
            self._large_slots.release()

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        chunks, size = [], 0
        while True:  # read the whole body (chunked uploads too), counting as it arrives
            try:
                message = await _within(receive(), self.body_timeout_s)
            except asyncio.TimeoutError:
                text = f"the request body stopped arriving for {self.body_timeout_s:g} s ({size} bytes read)"
                await error_response("request_timeout", text, 408, {"connection": "close"})(
                    scope, receive, send)  # type: ignore[arg-type]
                return
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send, drain=message.get("more_body", False))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if not await serve_lean(self.lean, scope, receive, send):
                await self.app(scope, receive, send)

        await backstop(app, scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, drain: bool) -> None:
        message = f"request body larger than {self.max_body_bytes} bytes; send smaller batches"
        await self._reject(scope, receive, send, 413, "payload_too_large", message, drain)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, status: int, name: str,
                      message: str, drain: bool = True, headers: dict[str, str] | None = None) -> None:
        if drain:
            await _drain(receive, DRAIN_FACTOR * self.max_body_bytes)
        await error_response(name, message, status, headers)(scope, receive, send)  # type: ignore[arg-type]
