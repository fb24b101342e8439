"""Operations: Prometheus metrics, request ids with an optional JSON log line per request, CORS,
and the API docs served from the package (no CDN).

``Telemetry`` is the outermost layer of the app (around the Gate, so a 401 or a 413 is counted
and logged too): it gives every request an id (the client's ``x-request-id`` or a new one,
returned in the response), counts it by route *template* (``/v1/namespaces/{namespace_name}``,
never the raw path: the label set stays bounded) and status, and times it. With several worker
processes the metrics live in a shared folder (prometheus-client's multiprocess mode, set up by
``bitsift serve`` before the workers start), so one scrape sees every worker.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_KEY_ENV = "BITSIFT_METRICS_KEY"   # the x-api-key /metrics asks for (none: open like /health)
LOG_FORMAT_ENV = "BITSIFT_LOG_FORMAT"     # "json": one JSON line per request on stderr
CORS_ORIGINS_ENV = "BITSIFT_CORS_ORIGINS"  # comma-separated origins a browser may call the API from
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own: the shared folder of the workers
log = logging.getLogger("bitsift.requests")

_metrics: Any = None


def metrics() -> Any:
    """The process's metric objects, made on first use (after serve() set the multiprocess folder)."""
    global _metrics
    if _metrics is None:
        from prometheus_client import Counter, Gauge, Histogram

        class Metrics:
            requests = Counter("bitsift_requests_total", "HTTP requests by route template, method and status",
                               ["route", "method", "status"])
            latency = Histogram("bitsift_request_seconds", "HTTP request latency by route template",
                                ["route", "method"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10))
            scan = Histogram("bitsift_search_scan_seconds", "Search: candidates (kernel scan and float re-scoring)",
                             ["mode"], buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1))
            fetch = Histogram("bitsift_search_fetch_seconds", "Search: reading the hits' text and metadata",
                              ["mode"], buckets=(.0001, .0005, .001, .0025, .005, .01, .05, .25))
            queued = Gauge("bitsift_coalescer_queued_queries", "Queries waiting in the search coalescer",
                           multiprocess_mode="livesum")
            items = Gauge("bitsift_namespace_items", "Live items per namespace (at the last scrape)", ["namespace"],
                          multiprocess_mode="mostrecent")
        _metrics = Metrics
    return _metrics


@functools.lru_cache(maxsize=4096)  # the label sets are bounded (route templates, methods, statuses, modes)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: each call of ``labels`` checks and locks anew."""
    return metric.labels(*labels)


def observe_search(mode: str, timings: dict[str, float]) -> None:
    m = metrics()
    child(m.scan, mode).observe(timings.get("scan_ms", 0.0) / 1e3)
    child(m.fetch, mode).observe(timings.get("fetch_ms", 0.0) / 1e3)


def render(engine: Any) -> tuple[bytes, str]:
    """The exposition text of every worker (multiprocess mode) or of this process."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    m = metrics()
    for info in engine.list_namespaces():
        m.items.labels(info["namespace_name"]).set(info["item_count"])
    coalescer = getattr(engine, "coalescer", None)
    m.queued.set(getattr(coalescer, "queued", 0) if coalescer is not None else 0)
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def json_logging() -> bool:
    return os.environ.get(LOG_FORMAT_ENV, "").lower() == "json"


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def access_line(scope: Scope, status: int) -> str:
    """uvicorn's access line, without its colours, made in one format string: uvicorn's own (a log
    record, a copy of it and a formatter per request) cost ~15% of a search's server time at load."""
    client = scope.get("client")
    query = scope.get("query_string", b"")
    path = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    return (f'INFO:     {f"{client[0]}:{client[1]}" if client else "-"} - "{scope["method"]} {path} '
            f'HTTP/{scope.get("http_version", "1.1")}" {status} {_PHRASES.get(status, "")}\n')


class Telemetry:
    def __init__(self, app: ASGIApp, route_of: Any, access_log: bool = False) -> None:
        self.app = app
        self.route_of = route_of  # scope -> route template (or None)
        self.json = json_logging()
        self.access_log = access_log and not self.json  # one line per request on stderr (JSON replaces it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:128]
        request_id = given if given and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = self.route_of(scope) or "unmatched"
            m = metrics()
            child(m.requests, route, scope["method"], str(status[0])).inc()
            child(m.latency, route, scope["method"]).observe(elapsed)
            if self.json:
                print(json.dumps({"ts": time.time(), "request_id": request_id, "method": scope["method"], "route": route,
                                  "path": scope["path"], "status": status[0], "ms": round(elapsed * 1e3, 3),
                                  "worker": os.getpid()}), file=sys.stderr, flush=True)
            elif self.access_log:
                sys.stderr.write(access_line(scope, status[0]))  # stderr is line-buffered: one write


def cors_origins(given: Sequence[str] | None) -> list[str]:
    """The origins allowed (``--cors-origin``, else BITSIFT_CORS_ORIGINS); none: CORS off."""
    if given:
        return list(given)
    return [o.strip() for o in os.environ.get(CORS_ORIGINS_ENV, "").split(",") if o.strip()]


def docs_assets() -> Path:
    """Swagger UI and ReDoc, shipped by the fastapi-offline package (no CDN)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"
