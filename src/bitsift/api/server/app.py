"""Routes of the REST API, compatible with the hosted product's (``/v1/namespaces``, ``/v1/search``).

Every route that touches the engine is a plain ``def``: FastAPI runs it on its thread pool, so
the event loop never waits on a scan or an fsync, and concurrent searches use every core (the
kernel releases the GIL). Responses are rendered to JSON on that thread too.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from bitsift.api.server import telemetry
from bitsift.api.server.errors import errors_for, install_error_handlers, truthful_openapi
from bitsift.api.server.gate import (
    BODY_TIMEOUT_S,
    LARGE_BODY_BYTES,
    LARGE_WAIT_S,
    MAX_LARGE_BODIES,
    T0_KEY,
    Backstop,
    Gate,
)
from bitsift.api.server.lean import Handler, json_response, lean_route
from bitsift.api.server.models import (
    Answer,
    Count,
    CreateNamespace,
    DeleteFiles,
    DeleteItems,
    GetDocuments,
    RestoreSnapshot,
    Search,
    SearchBatch,
    TakeSnapshot,
    Update,
    UploadDocuments,
    UploadUrlRequest,
    UploadVectors,
)
from bitsift.api.server.pages import add_pages
from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT
from bitsift.core.errors import InvalidInput, SnapshotsDisabled
from bitsift.core.kernel import SCAN_THREADS_ENV
from bitsift.core.results import (
    AnswerResponse,
    CompactResult,
    CountResult,
    DeletedNamespace,
    DeleteResult,
    Diagnostics,
    DocumentsUploaded,
    FileList,
    FilesDeleted,
    FileStored,
    Health,
    ItemList,
    JobList,
    JobStatus,
    NamespaceCreated,
    NamespaceInfo,
    NamespaceList,
    SearchBatchResponse,
    SearchResponse,
    SnapshotInfo,
    TextDataPage,
    UpdateResult,
    UploadResult,
    UploadUrl,
    delete_result,
    namespace_created,
    text_data_page,
    update_result,
    upload_result,
)
from bitsift.core.spec import NAME_PATTERN, VERSION
from bitsift.core.validate import check_ids, check_name
from bitsift.engine import files
from bitsift.engine.front import create_or_get, search_parsed_async
from bitsift.engine.local import Engine
from bitsift.engine.request import parse_namespace, parse_search
from bitsift.text.embed import THREADS_ENV

MiB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 128 * MiB  # a 10,000 x 384-d batch is ~75 MB of JSON
DEFAULT_MAX_BATCH = 10_000
SHUTDOWN_GRACE_S = 30
SWITCH_INTERVAL_S = 0.0005  # the interpreter's default is 0.005
UPLOAD_URL_EXPIRES_S = 3600

# Declared for the OpenAPI page only ("Authorize" in /docs); the Gate enforces it before any
# body is read, so this dependency never rejects anything itself.
_API_KEY_DOC = APIKeyHeader(name="x-api-key", auto_error=False, description="required when the server has API keys")


SNAPSHOT_DIR_ENV = "BITSIFT_SNAPSHOT_DIR"  # where REST snapshots are written and read (bitsift serve --snapshot-dir)
# The engine checks the name (and answers invalid_name); the pattern is here for the OpenAPI page.
NamespaceName = Annotated[str, Path(description="1-64 letters, digits, '_' or '-'",
                                    json_schema_extra={"pattern": NAME_PATTERN, "examples": ["docs"]})]


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _check_batch(request: Request, values: Any, what: str) -> None:
    limit = request.app.state.max_batch
    if isinstance(values, list) and len(values) > limit:
        raise InvalidInput(f"at most {limit} {what} per request, got {len(values)}; split the batch")


def _search_params(body: Search | SearchBatch) -> dict[str, Any]:
    """The parameters a search and a batch share, as the engine's keywords."""
    flt = body.filter
    if body.metadata is not None:
        if flt is not None:
            raise InvalidInput("send either filter or metadata, not both")
        flt = body.metadata
    return {"top_k": body.top_k, "threshold": body.threshold, "filter": flt, "kiosk_mode": body.kiosk_mode,
            "mode": body.mode, "oversample": body.oversample, "partial": body.partial,
            "keywords": body.keywords, "fusion": body.fusion, "keyword_weight": body.keyword_weight,
            "group_by": body.group_by, "group_size": body.group_size}


def _snapshot_dir(request: Request) -> pathlib.Path:
    """Where REST snapshots live: only under the directory the server was started with."""
    folder = request.app.state.snapshot_dir
    if folder is None:
        raise SnapshotsDisabled("this server has no snapshot directory: start it with --snapshot-dir DIR "
                                f"(or {SNAPSHOT_DIR_ENV}=DIR) to take and restore snapshots over REST")
    return cast(pathlib.Path, folder)


def _json_param(value: str | None, name: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise InvalidInput(f"{name} must be JSON, got {value[:100]!r}") from None


def _server_ms(request: Request) -> float:
    return (time.perf_counter() - request.scope["state"][T0_KEY]) * 1e3


# The handlers of the hot routes, shared by their lean route (api.server.lean) and the FastAPI
# route that documents them: (validated body, request) -> (JSON value, status).
async def _search(body: Search, request: Request) -> tuple[Any, int]:
    parsed = parse_search(body.namespaces, [body.query], single=True, **_search_params(body))
    (res,) = await search_parsed_async(_engine(request), parsed)
    telemetry.observe_search(res["mode"], cast(dict[str, float], res["timings"]))
    res["timings"]["server_ms"] = _server_ms(request)
    return res, 200


async def _search_batch(body: SearchBatch, request: Request) -> tuple[Any, int]:
    parsed = parse_search(body.namespaces, body.queries, single=False, **_search_params(body))
    responses = await search_parsed_async(_engine(request), parsed)
    if responses:
        telemetry.observe_search(responses[0]["mode"], cast(dict[str, float], responses[0]["timings"]))
    server_ms = _server_ms(request)
    for res in responses:
        res["timings"]["server_ms"] = server_ms
    return {"responses": responses}, 200


async def _upload_vectors(body: UploadVectors, request: Request) -> tuple[Any, int]:
    _check_batch(request, body.vectors, "vectors")
    await run_in_threadpool(_engine(request).upsert, request.path_params["namespace_name"], body.vectors)
    return upload_result(body.vectors), 201


LEAN_ROUTES: list[tuple[str, type[BaseModel], Handler]] = [
    ("/v1/search", Search, _search), ("/v1/search/batch", SearchBatch, _search_batch),
    ("/v1/namespaces/{namespace_name}/vectors", UploadVectors, _upload_vectors),
]


def _router(secured: bool) -> APIRouter:
    deps = [Security(_API_KEY_DOC)] if secured else []
    r = APIRouter(prefix="/v1", dependencies=deps)

    @r.post("/namespaces", status_code=201, tags=["namespaces"],
            summary="Create a namespace (with exist_ok: 200 and the existing one if its parameters match)",
            response_model=NamespaceCreated, responses=errors_for(409))
    def create_namespace(body: CreateNamespace, request: Request) -> JSONResponse:
        parsed = parse_namespace(body.namespace_name, body.type, body.vector_dimension, body.binarizer, body.center,
                                 body.model, body.shards)
        info, existed = create_or_get(_engine(request), parsed, body.exist_ok)
        return JSONResponse(namespace_created(info, existed), status_code=200 if existed else 201)

    @r.get("/namespaces", tags=["namespaces"], summary="List namespaces", response_model=NamespaceList,
           responses=errors_for())
    def list_namespaces(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        found = _engine(request).list_namespaces()
        return JSONResponse({"namespaces": found, "execution_time": time.perf_counter() - t0})

    @r.get("/namespaces/{namespace_name}", tags=["namespaces"], summary="Describe a namespace",
           response_model=NamespaceInfo, responses=errors_for(404))
    def describe_namespace(namespace_name: NamespaceName, request: Request) -> JSONResponse:
        return JSONResponse(_engine(request).describe_namespace(namespace_name))

    @r.delete("/namespaces/{namespace_name}", tags=["namespaces"], summary="Delete a namespace and all its data",
              response_model=DeletedNamespace, responses=errors_for(404))
    def delete_namespace(namespace_name: NamespaceName, request: Request) -> JSONResponse:
        _engine(request).delete_namespace(namespace_name)
        return JSONResponse({"namespace_name": namespace_name, "deleted": True})

    @r.post("/namespaces/{namespace_name}/vectors", status_code=201, tags=["data"], summary="Upsert vectors",
            response_model=UploadResult, responses=errors_for(404))
    async def upload_vectors(namespace_name: NamespaceName, body: UploadVectors, request: Request) -> Response:
        return json_response(*await _upload_vectors(body, request))

    # 202, the hosted API's status for a document upload (its SDK accepts nothing else): the
    # documents are validated and recorded as a job (durable) when it is sent, and embedded
    # in the background; ?wait=true answers 200 once they are searchable instead.
    @r.post("/namespaces/{namespace_name}/documents", status_code=202, tags=["data"],
            summary="Chunk, embed and upsert text documents (an ingestion job)", response_model=DocumentsUploaded,
            responses=errors_for(404, 409))
    def upload_documents(namespace_name: NamespaceName, body: UploadDocuments, request: Request,
                         wait: Annotated[bool, Query(description="answer once the job is done")] = False,
                         ) -> JSONResponse:
        _check_batch(request, body.documents, "documents")
        accepted = _engine(request).upload_documents(namespace_name, body.documents, wait)
        return JSONResponse(accepted, status_code=200 if wait else 202)

    @r.get("/jobs", tags=["jobs"], summary="Recent ingestion jobs, newest first", response_model=JobList,
           responses=errors_for())
    def list_jobs(request: Request,
                  namespace: Annotated[str | None, Query(description="only this namespace's")] = None,
                  limit: Annotated[int, Query(description="at most this many, 1 to 1000")] = 100) -> JSONResponse:
        return JSONResponse({"jobs": _engine(request).jobs(namespace, limit)})

    @r.get("/jobs/{job_id}", tags=["jobs"], summary="Progress of an ingestion job", response_model=JobStatus,
           responses=errors_for(404))
    def job(job_id: str, request: Request) -> JSONResponse:
        return JSONResponse(_engine(request).job(job_id))

    @r.post("/jobs/{job_id}/cancel", tags=["jobs"], summary="Cancel an ingestion job", response_model=JobStatus,
            responses=errors_for(404))
    def cancel_job(job_id: str, request: Request) -> JSONResponse:
        return JSONResponse(_engine(request).cancel_job(job_id))

    @r.post("/namespaces/{namespace_name}/documents/update", tags=["data"],
            summary="Change items' metadata or text without their vectors", response_model=UpdateResult,
            responses=errors_for(404))
    def update_items(namespace_name: NamespaceName, body: Update, request: Request) -> JSONResponse:
        _check_batch(request, body.ids, "ids")
        updated = _engine(request).update(namespace_name, body.ids, body.metadata, body.text, body.unset)
        return JSONResponse(update_result(check_ids(body.ids), updated))

    @r.post("/namespaces/{namespace_name}/count", tags=["data"], summary="Count items, all or matching a filter",
            response_model=CountResult, responses=errors_for(404))
    def count(namespace_name: NamespaceName, body: Count, request: Request) -> JSONResponse:
        return JSONResponse({"namespace": namespace_name, "count": _engine(request).count(namespace_name, body.filter)})

    @r.post("/namespaces/{namespace_name}/documents/get", tags=["data"], summary="Get items by id",
            response_model=ItemList, responses=errors_for(404))
    def get_documents(namespace_name: NamespaceName, body: GetDocuments, request: Request) -> JSONResponse:
        _check_batch(request, body.ids, "ids")
        return JSONResponse({"documents": _engine(request).get(namespace_name, body.ids, body.include_vectors)})

    @r.get("/namespaces/{namespace_name}/documents/fetch-text-data", tags=["data"],
           summary="Page through every item in id order (the hosted API's scroll)", response_model=TextDataPage,
           responses=errors_for(404))
    def fetch_text_data(namespace_name: NamespaceName, request: Request,
                        limit: Annotated[int, Query(description="items per page, 1 to 1000")] = DEFAULT_SCROLL_LIMIT,
                        next_token: Annotated[str | None, Query(description="the previous page's")] = None,
                        filter: Annotated[str | None, Query(description="a metadata filter as JSON")] = None,
                        ) -> JSONResponse:
        t0 = time.perf_counter()
        flt = _json_param(filter, "filter")
        scrolled = _engine(request).scroll(namespace_name, limit, next_token, flt)
        return JSONResponse(text_data_page(namespace_name, scrolled, limit, time.perf_counter() - t0))

    def delete_items(namespace_name: NamespaceName, body: DeleteItems, request: Request) -> JSONResponse:
        _check_batch(request, body.ids, "ids")
        deleted = _engine(request).delete(namespace_name, body.ids, body.filter)
        return JSONResponse(delete_result(deleted if body.ids is None else check_ids(body.ids), deleted))

    for kind in ("documents", "vectors"):
        r.add_api_route(f"/namespaces/{{namespace_name}}/{kind}/delete", delete_items, methods=["POST"], tags=["data"],
                        summary=f"Delete {kind} by id", name=f"delete_{kind}", response_model=DeleteResult,
                        responses=errors_for(404))

    @r.post("/namespaces/{namespace_name}/compact", tags=["maintenance"], summary="Rewrite files without deleted rows",
            response_model=CompactResult, responses=errors_for(404))
    def compact(namespace_name: NamespaceName, request: Request) -> JSONResponse:
        return JSONResponse(_engine(request).compact(namespace_name))

    @r.post("/namespaces/{namespace_name}/snapshot", tags=["maintenance"], status_code=201,
            summary="Copy a namespace, while writes continue, into the server's snapshot directory",
            response_model=SnapshotInfo, responses=errors_for(400, 403, 404))
    def snapshot(namespace_name: NamespaceName, body: TakeSnapshot, request: Request) -> JSONResponse:
        name = check_name(body.snapshot, "snapshot")
        info = _engine(request).snapshot(namespace_name, str(_snapshot_dir(request) / name))
        return JSONResponse({**info, "snapshot": name}, status_code=201)

    @r.post("/snapshots/{snapshot}/restore", tags=["maintenance"], status_code=201,
            summary="A new namespace from a snapshot of the server's snapshot directory",
            response_model=NamespaceInfo, responses=errors_for(400, 403, 409))
    def restore(snapshot: Annotated[str, Path(description="a snapshot's name")], body: RestoreSnapshot,
                request: Request) -> JSONResponse:
        folder = _snapshot_dir(request) / check_name(snapshot, "snapshot")
        if not folder.is_dir():
            raise InvalidInput(f"no snapshot {snapshot!r} in the server's snapshot directory")
        return JSONResponse(_engine(request).restore(str(folder), body.namespace_name), status_code=201)

    @r.get("/namespaces/{namespace_name}/diagnostics", tags=["maintenance"],
           summary="Per-bit entropy of the stored codes", response_model=Diagnostics, responses=errors_for(404))
    def diagnostics(namespace_name: NamespaceName, request: Request) -> JSONResponse:
        return JSONResponse(_engine(request).diagnostics(namespace_name))

    @r.post("/search", tags=["search"], summary="Exact top-k search over one or more namespaces",
            response_model=SearchResponse, responses=errors_for(404))
    async def search(body: Search, request: Request) -> Response:
        return json_response(*await _search(body, request))

    @r.post("/search/batch", tags=["search"], summary="Many queries with the same parameters in one scan",
            response_model=SearchBatchResponse, responses=errors_for(404))
    async def search_batch(body: SearchBatch, request: Request) -> Response:
        return json_response(*await _search_batch(body, request))

    @r.post("/namespaces/{namespace_name}/upload-url", tags=["files"],
            summary="Where to PUT a file (pdf, docx, xlsx, json, txt, csv, md) to index it",
            response_model=UploadUrl, responses=errors_for(404))
    def upload_url(namespace_name: NamespaceName, body: UploadUrlRequest, request: Request) -> JSONResponse:
        files.require_text(_engine(request), namespace_name)
        name = files.file_name(body.file_name)
        base = request.app.state.public_url or str(request.base_url).rstrip("/")
        url = f"{base}/v1/namespaces/{quote(namespace_name, safe='')}/files/{quote(name, safe='')}"
        return JSONResponse({"upload_url": url, "content_type": files.content_type(name), "file_name": name,
                             "expires_in": UPLOAD_URL_EXPIRES_S})

    @r.put("/namespaces/{namespace_name}/files/{file_name}", tags=["files"],
           summary="Upload a file: parsed, chunked, embedded; one of that name is replaced",
           response_model=FileStored, responses=errors_for(404))
    async def put_file(namespace_name: NamespaceName, file_name: str, request: Request,
                       wait: Annotated[bool, Query(description="answer once its documents are searchable")] = False,
                       ) -> JSONResponse:
        data = await request.body()
        if not data:
            raise InvalidInput("the file is empty: PUT its bytes as the request body")
        stored = await run_in_threadpool(files.put_file, _engine(request), namespace_name, file_name, data, wait)
        return JSONResponse(stored)

    @r.get("/namespaces/{namespace_name}/list-files", tags=["files"], summary="Files indexed in a namespace",
           response_model=FileList, responses=errors_for(404))
    def list_files(namespace_name: NamespaceName, request: Request) -> JSONResponse:
        found = files.list_files(_engine(request), namespace_name)
        return JSONResponse({"success": True, "namespace": namespace_name, "file_count": len(found), "files": found})

    @r.delete("/namespaces/{namespace_name}/delete-file", tags=["files"],
              summary="Delete files and every document indexed from them", response_model=FilesDeleted,
              responses=errors_for(404))
    def delete_file(namespace_name: NamespaceName, body: DeleteFiles, request: Request) -> JSONResponse:
        results = files.delete_files(_engine(request), namespace_name, body.file_names)
        return JSONResponse({"success": all(r["status"] == "deleted" for r in results),
                             "message": "File deletion process completed.", "namespace": namespace_name,
                             "results": results})

    @r.post("/answer", tags=["search"], summary="Retrieve passages and answer from them",
            response_model=AnswerResponse, responses=errors_for(404, 502, 504))
    def answer(body: Answer, request: Request) -> JSONResponse:
        if body.type not in (None, "text"):
            raise InvalidInput(f"type must be \"text\", got {body.type!r}")
        return JSONResponse(_engine(request).answer(
            body.namespace, body.query, body.top_k, body.threshold, body.kiosk_mode, body.chat_history,
            body.header_prompt, body.footer_prompt, body.temperature, body.ai_model, body.structured_response))

    return r


def create_app(
    engine: Engine,
    api_keys: Sequence[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    body_timeout_s: float = BODY_TIMEOUT_S,
    max_large_bodies: int = MAX_LARGE_BODIES,
    large_body_bytes: int = LARGE_BODY_BYTES,
    large_wait_s: float = LARGE_WAIT_S,
    public_url: str | None = None,
    snapshot_dir: str | pathlib.Path | None = None,
    cors_origins: Sequence[str] | None = None,
    metrics_key: str | None = None,
    access_log: bool = False,
) -> FastAPI:
    """The REST app over one engine (kept on ``app.state``; the caller owns and closes it).
    ``public_url``: how clients reach this server (upload URLs are built on it; default: the
    request's own scheme and Host). ``access_log``: one line per request on stderr."""
    if isinstance(api_keys, str):
        raise TypeError("api_keys must be a sequence of keys, not one string")
    keys = [k for k in api_keys if k]
    if len(keys) != len(list(api_keys)):
        raise ValueError("API keys must be non-empty strings")
    if max_body_bytes < 1 or max_batch < 1:
        raise ValueError("max_body_bytes and max_batch must be positive")
    app = _App(
        title="bitsift", version=VERSION,
        description="Exact semantic search over information-theoretic binary codes.",
        # No OpenTelemetry here: FastAPI's checks for a configured provider cost every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None, redoc_url=None,  # served below from the package's own assets
    )
    app.state.engine = engine
    app.state.max_batch = max_batch
    app.state.public_url = None if public_url is None else public_url.rstrip("/")
    snapshots = snapshot_dir if snapshot_dir is not None else os.environ.get(SNAPSHOT_DIR_ENV)
    app.state.snapshot_dir = None if not snapshots else pathlib.Path(snapshots)
    install_error_handlers(app)

    @app.get("/health", tags=["health"], summary="Liveness (no API key needed)", response_model=Health)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": VERSION, "worker": os.getpid()}

    add_pages(app, metrics_key)

    app.include_router(_router(secured=bool(keys)))
    truthful_openapi(app)
    app.add_middleware(Backstop)
    app.gate_options = dict(api_keys=keys, max_body_bytes=max_body_bytes, body_timeout_s=body_timeout_s,
                            max_large_bodies=max_large_bodies, large_body_bytes=large_body_bytes,
                            large_wait_s=large_wait_s, lean=[lean_route(*r) for r in LEAN_ROUTES])
    app.cors_origins = telemetry.cors_origins(cors_origins)
    app.access_log = access_log
    return app


class _App(FastAPI):
    """FastAPI with the Gate outermost, ahead of FastAPI's own middleware: the key check and body
    limits come first for every route, and the lean routes (api.server.lean) skip the rest."""

    gate_options: dict[str, Any]
    cors_origins: list[str] = []
    access_log: bool = False

    def build_middleware_stack(self) -> Any:
        """Telemetry outermost (every request is counted and logged, a refused one too), then
        CORS when asked for (a browser's preflight carries no API key: it is answered before the
        Gate checks one), then the Gate."""
        inner: Any = Gate(cast(Any, super().build_middleware_stack()), **self.gate_options)
        if self.cors_origins:
            inner = CORSMiddleware(inner, allow_origins=self.cors_origins, allow_methods=["*"], allow_headers=["*"],
                                   expose_headers=["x-request-id", "retry-after"])
        return telemetry.Telemetry(inner, _route_template, access_log=self.access_log)


LEAN_PATHS = {path for path, _, _ in LEAN_ROUTES}


def _route_template(scope: Any) -> str | None:
    """The route a request matched, as its template (a bounded metrics label)."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    return scope["path"] if scope["path"] in LEAN_PATHS or scope["path"] in ("/health", "/metrics") else None


def api_keys_from(flags: Sequence[str], env: str | None) -> list[str]:
    """The keys of ``--api-key`` flags and ``BITSIFT_API_KEYS=k1,k2``. A setting that was given
    but holds no key (``" , ,"``) is refused: starting without auth would be the silent failure."""
    keys = [k.strip() for k in flags]
    if any(not k for k in keys):
        raise ValueError("--api-key was given an empty key")
    if env is not None and env.strip():
        from_env = [k.strip() for k in env.split(",") if k.strip()]
        if not from_env:
            raise ValueError(f"BITSIFT_API_KEYS={env!r} holds no key; unset it to serve without auth")
        keys += from_env
    return keys


WORKER_CONFIG = "BITSIFT_WORKER_CONFIG"  # serve() -> workers: JSON {path, api_keys, public_url, max_large_bodies}


def default_workers() -> int:
    """One worker process per core: each has its own interpreter lock, so two cores serve twice."""
    return max(1, os.cpu_count() or 1)


def large_body_slots(workers: int) -> int:
    """Each worker's share of the server's large-body slots (at least one)."""
    return max(1, MAX_LARGE_BODIES // workers)


def worker_count(ray: str | None, workers: int | None) -> int:
    """The worker processes ``serve`` runs: one with Ray (the cluster scales), else ``workers``
    or one per core."""
    n = 1 if ray is not None else (default_workers() if workers is None else workers)
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    return n


def serve(path: str, host: str = "127.0.0.1", port: int = 8080, api_keys: Sequence[str] = (),
          ray: str | None = None, workers: int | None = None, access_log: bool = True,
          public_url: str | None = None) -> None:
    """Run the server on a data directory until interrupted (``bitsift serve``); with ``ray``
    (a Ray address) every namespace is sharded over that cluster.

    ``workers`` processes (default: one per core; always one with ``ray``) share the port and the
    data directory: each opens its own engine, and the cross-process protocol of storage.folder
    makes a write acknowledged by one visible to the next search on any other. ``access_log``:
    one line per request on stderr (uvicorn's format, written by telemetry.Telemetry: uvicorn's
    own logger cost ~15% of a search's server time at full load)."""
    import uvicorn

    n = worker_count(ray, workers)
    # The pass thread of a coalesced search and the event loop share one interpreter lock: a
    # shorter switch interval hands it back to a finished kernel call sooner (measured: +5-10%).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if n > 1:
        # One scrape of /metrics answers for every worker: their metrics go to a shared folder.
        made = None  # the metrics folder this server made, removed when it stops
        if not os.environ.get(telemetry.MULTIPROC_ENV):
            import tempfile

            made = os.environ[telemetry.MULTIPROC_ENV] = tempfile.mkdtemp(prefix="bitsift-metrics-")
        # The large-body slots are the server's, not each worker's: split between them, so N
        # workers parse no more ~100 MB bodies at once than one would (the memory bound).
        os.environ[WORKER_CONFIG] = json.dumps({"path": path, "api_keys": list(api_keys), "public_url": public_url,
                                                "max_large_bodies": large_body_slots(n), "access_log": access_log})
        # Each worker's embedding model and scans get their share of the cores, not all of them each.
        share = str(max(1, default_workers() // n))
        os.environ.setdefault(THREADS_ENV, share)
        os.environ.setdefault(SCAN_THREADS_ENV, share)
        try:
            uvicorn.run("bitsift.api.server.app:worker_app", factory=True, host=host, port=port, workers=n,
                        timeout_graceful_shutdown=SHUTDOWN_GRACE_S, access_log=False)
        finally:
            if made is not None:  # every stopped server had left one behind in the temp folder
                import shutil

                shutil.rmtree(made, ignore_errors=True)
                os.environ.pop(telemetry.MULTIPROC_ENV, None)
        return
    if ray is None:
        engine: Any = Engine(path)
    else:
        from bitsift.distributed import ShardedEngine

        engine = ShardedEngine(path, address=ray)
    try:
        # SIGTERM/SIGINT: stop accepting, let in-flight requests (and their commits) finish for
        # up to SHUTDOWN_GRACE_S, then close the engine. Nothing acknowledged is lost either way.
        app = create_app(engine, api_keys=api_keys, public_url=public_url, access_log=access_log)
        app.router.lifespan_context = opened(engine, close=False)  # closed below, after uvicorn
        uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=SHUTDOWN_GRACE_S, access_log=False)
    finally:
        engine.close()


def worker_app() -> FastAPI:
    """The app of one worker process of ``serve(workers=N)``: its own engine over the shared
    data directory, every namespace opened before it accepts a request, closed at shutdown."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    config = json.loads(os.environ[WORKER_CONFIG])
    engine = Engine(config["path"])
    app = create_app(engine, api_keys=config["api_keys"], public_url=config.get("public_url"),
                     max_large_bodies=config.get("max_large_bodies", MAX_LARGE_BODIES),
                     access_log=config.get("access_log", False))
    app.router.lifespan_context = opened(engine, close=True)
    return app


def opened(engine: Any, close: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that opens every namespace at startup (a server accepts requests only after it,
    so no request pays a namespace's open: ~1 s at 1M rows), and closes the engine at shutdown
    if ``close``."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        await anyio.to_thread.run_sync(engine.list_namespaces)  # describing a namespace opens it
        try:
            yield
        finally:
            if close:
                engine.close()

    return lifespan
