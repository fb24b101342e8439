"""The REST server on a real uvicorn: auth, one JSON error body, limits that write nothing,
search over HTTP, and `serve` in its own process (the HTTP client: test_http_client.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import bitsift
from bitsift.api.http_client import HTTPClient
from bitsift.core import errors
from livesrv import wait_healthy
from restsrv import DIMS, KEY, MAX_BATCH, MAX_BODY, OTHER_KEY, assert_error, items, raw

pytestmark = pytest.mark.live

# --- auth, routes, docs ------------------------------------------------------------------

def test_health_and_docs_need_no_key(srv):
    health = httpx.get(srv.url + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "version": bitsift.__version__, "worker": os.getpid()}
    assert httpx.get(srv.url + "/docs").status_code == 200
    spec = httpx.get(srv.url + "/openapi.json").json()
    assert {"/v1/namespaces", "/v1/namespaces/{namespace_name}", "/v1/namespaces/{namespace_name}/vectors",
            "/v1/namespaces/{namespace_name}/documents", "/v1/namespaces/{namespace_name}/documents/get",
            "/v1/namespaces/{namespace_name}/documents/delete", "/v1/namespaces/{namespace_name}/vectors/delete",
            "/v1/search"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "x-api-key"
    assert spec["components"]["schemas"]["Search"]["properties"]["top_k"]["default"] == 10


def test_api_keys(srv):
    assert_error(raw(srv, "GET", "/v1/namespaces", key=None), 401, "unauthorized", "x-api-key")
    assert_error(raw(srv, "GET", "/v1/namespaces", key="wrong"), 403, "forbidden")
    assert_error(raw(srv, "GET", "/v1/namespaces", key=KEY[:-1]), 403, "forbidden")
    for key in (KEY, OTHER_KEY):
        ok = raw(srv, "GET", "/v1/namespaces", key=key)
        assert ok.status_code == 200 and ok.json()["namespaces"] == []
    body = {"namespace_name": "x", "vector_dimension": 4}
    assert_error(raw(srv, "POST", "/v1/namespaces", key=None, json=body), 401, "unauthorized")
    assert_error(raw(srv, "POST", "/v1/namespaces", key="wrong", json=body), 403, "forbidden")
    assert srv.engine.list_namespaces() == []
    for key, status, name in ((None, 401, "unauthorized"), ("wrong", 403, "forbidden")):
        with HTTPClient(srv.url, api_key=key, max_retries=0) as c, pytest.raises(errors.BitsiftError) as exc:
            c.list_namespaces()
        assert type(exc.value) is errors.BitsiftError
        assert (exc.value.status, exc.value.name) == (status, name)
        assert exc.value.to_dict()["status"] == status


def test_no_keys_means_open(live_server):  # noqa: F811
    srv = live_server()
    with HTTPClient(srv.url) as c:
        assert c.create_namespace("docs", dimension=4)["vector_dimension"] == 4
        assert [n["namespace_name"] for n in c.list_namespaces()] == ["docs"]


@pytest.mark.parametrize("method, path, status, name", [
    ("GET", "/v1/nope", 404, "not_found"),
    ("GET", "/nope", 404, "not_found"),
    ("POST", "/v1/namespaces/docs/nope", 404, "not_found"),
    ("PUT", "/v1/namespaces", 405, "method_not_allowed"),
    ("GET", "/v1/search", 405, "method_not_allowed"),
])
def test_unknown_routes_use_the_error_body(srv, method, path, status, name):
    assert_error(raw(srv, method, path), status, name, path)


# --- writes that must be rejected whole --------------------------------------------------

def _good(rng_seed=0):
    return {"id": "new-1", "vector": np.random.default_rng(rng_seed).standard_normal(DIMS).tolist()}


def _literal_body(value):
    """A raw JSON body with a number literal that json.dumps(allow_nan=False) would refuse."""
    good = ",".join(repr(v) for v in _good()["vector"])
    bad = ",".join([value] + ["0.5"] * (DIMS - 1))
    return (f'{{"vectors":[{{"id":"new-1","vector":[{good}]}},{{"id":"x","vector":[{bad}]}}]}}').encode()


def _chunks(total, size=32 * 1024):
    head = b'{"vectors":[{"id":"new-1","vector":[' + b",".join([b"0.5"] * DIMS) + b'],"text":"'
    yield head
    sent = len(head)
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}]}'


def _vectors(*extra):
    return {"json": {"vectors": [_good(), *extra]}}


BAD_WRITES = [
    ("dimension", "docs/vectors", _vectors({"id": "x", "vector": [1.0] * (DIMS - 1)}), 400, "dimension_mismatch",
     "expected dimension"),
    ("nan-literal", "docs/vectors", {"content": _literal_body("NaN")}, 400, "invalid_vector", "NaN"),
    ("infinity-literal", "docs/vectors", {"content": _literal_body("-Infinity")}, 400, "invalid_vector", "infinity"),
    ("overflows-float32", "docs/vectors", {"content": _literal_body("1e39")}, 400, "invalid_vector", "infinity"),
    ("overflows-float64", "docs/vectors", {"content": _literal_body("1e400")}, 400, "invalid_vector", "infinity"),
    ("beyond-float16", "docs/vectors", _vectors({"id": "x", "vector": [1e6] * DIMS}), 400, "invalid_vector",
     "float16"),
    ("not-numbers", "docs/vectors", _vectors({"id": "x", "vector": ["a"] * DIMS}), 400, "invalid_vector", "numbers"),
    ("duplicate-ids", "docs/vectors", _vectors(_good(1) | {"id": "new-1"}), 400, "duplicate_ids", "new-1"),
    ("empty-batch", "docs/vectors", {"json": {"vectors": []}}, 400, "empty_batch", "non-empty"),
    ("batch-over-max", "docs/vectors", {"json": {"vectors": [_good(i) | {"id": f"n{i}"} for i in range(51)]}},
     400, "invalid_input", "at most 50 vectors"),
    ("unknown-item-field", "docs/vectors", _vectors(_good(2) | {"id": "y", "colour": 1}), 400, "invalid_input",
     "unknown fields"),
    ("bad-metadata", "docs/vectors", _vectors(_good(3) | {"id": "y", "metadata": [1]}), 400, "invalid_input",
     "metadata"),
    ("missing-field", "docs/vectors", {"json": {"items": [_good()]}}, 400, "invalid_input", "vectors: Field required"),
    ("unknown-body-field", "docs/vectors", {"json": {"vectors": [_good()], "upsert": True}}, 400, "invalid_input",
     "upsert"),
    ("not-json", "docs/vectors", {"content": b'{"vectors": ['}, 400, "invalid_input", "not valid JSON"),
    ("not-json-content-type", "docs/vectors",
     {"content": b'{"vectors": []}', "headers": {"content-type": "text/plain"}},
     400, "invalid_input", "application/json"),
    ("json-list", "docs/vectors", {"json": [_good()]}, 400, "invalid_input", "JSON object"),
    ("body-over-max", "docs/vectors", {"json": {"vectors": [_good() | {"text": "x" * (2 * MAX_BODY)}]}}, 413,
     "payload_too_large", str(MAX_BODY)),
    ("chunked-body-over-max", "docs/vectors", {"content": _chunks(3 * MAX_BODY)}, 413, "payload_too_large",
     str(MAX_BODY)),
    ("unknown-namespace", "ghost/vectors", _vectors(), 404, "namespace_not_found", "ghost"),
    ("invalid-name", "bad%20name/vectors", _vectors(), 400, "invalid_name", "bad name"),
    ("documents-on-vector-namespace", "docs/documents", {"json": {"documents": [{"id": "new-1", "text": "hi"}]}},
     400, "invalid_input", "vector namespace"),
    ("documents-batch-over-max", "docs/documents",
     {"json": {"documents": [{"id": f"n{i}", "text": "hi"} for i in range(51)]}}, 400, "invalid_input",
     "at most 50 documents"),
    ("delete-empty", "docs/vectors/delete", {"json": {"ids": []}}, 400, "empty_batch", "ids"),
    ("delete-not-a-list", "docs/documents/delete", {"json": {"ids": "d1"}}, 400, "empty_batch", "ids"),
    ("delete-over-max", "docs/vectors/delete", {"json": {"ids": [f"d{i}" for i in range(51)]}}, 400,
     "invalid_input", "at most 50 ids"),
    ("delete-bad-id", "docs/documents/delete", {"json": {"ids": ["d1", None]}}, 400, "invalid_input", "ids[1]"),
]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("path, kwargs, status, name, fragment",
                         [case[1:] for case in BAD_WRITES], ids=[case[0] for case in BAD_WRITES])
def test_rejected_writes_change_nothing(srv, seeded, path, kwargs, status, name, fragment):
    assert_error(raw(srv, "POST", f"/v1/namespaces/{path}", **kwargs), status, name, fragment)
    seeded()


@pytest.mark.parametrize("key, status, name", [(None, 401, "unauthorized"), ("nope", 403, "forbidden")])
def test_unauthenticated_writes_change_nothing(srv, seeded, key, status, name):
    for path, body in (("docs/vectors", {"vectors": [_good()]}), ("docs/vectors/delete", {"ids": ["d1"]})):
        assert_error(raw(srv, "POST", f"/v1/namespaces/{path}", key=key, json=body), status, name)
    assert_error(raw(srv, "DELETE", "/v1/namespaces/docs", key=key), status, name)
    seeded()


def test_client_sees_413_not_a_reset(http, seeded):
    with pytest.raises(errors.BitsiftError) as exc:
        http.upload_vectors("docs", [_good() | {"text": "y" * (3 * MAX_BODY)}])
    assert (exc.value.status, exc.value.name) == (413, "payload_too_large")
    seeded()


@pytest.mark.model  # a text namespace
def test_vectors_on_a_text_namespace_are_refused(srv, http):
    info = http.create_namespace("notes", type="text")
    assert info["type"] == "text" and info["vector_dimension"] == 384
    body = {"vectors": [{"id": "v", "vector": [0.1] * 384}]}
    assert_error(raw(srv, "POST", "/v1/namespaces/notes/vectors", json=body), 400, "invalid_input", "text namespace")
    assert http.describe_namespace("notes")["item_count"] == 0
    with pytest.raises(errors.InvalidInput, match="text namespace"):
        http.upload_vectors("notes", body["vectors"])


def test_create_namespace_errors(srv, http):
    created = raw(srv, "POST", "/v1/namespaces", json={"namespace_name": "docs", "type": "vector",
                                                       "vector_dimension": 8})
    assert created.status_code == 201 and created.json()["namespace_name"] == "docs"
    post = lambda body: raw(srv, "POST", "/v1/namespaces", json=body)  # noqa: E731
    assert_error(post({"namespace_name": "docs", "vector_dimension": 8}), 409, "namespace_exists", "docs")
    assert_error(post({"namespace_name": "../x", "vector_dimension": 8}), 400, "invalid_name")
    assert_error(post({"namespace_name": "y", "vector_dimension": 0}), 400, "invalid_input", "dimension")
    assert_error(post({"namespace_name": "y", "vector_dimension": 8, "binarizer": "pca"}), 400, "invalid_input",
                 "binarizer")
    assert_error(post({"namespace_name": "y", "type": "image", "vector_dimension": 8}), 400, "invalid_input", "type")
    assert_error(post({"vector_dimension": 8}), 400, "invalid_input", "namespace_name: Field required")
    assert [n["namespace_name"] for n in http.list_namespaces()] == ["docs"]


# --- search ------------------------------------------------------------------------------

BAD_SEARCHES = [
    ("malformed-filter", {"filter": {"g": {"$bad": 1}}}, 400, "invalid_filter", "$bad"),
    ("filter-not-object", {"filter": "g=1"}, 400, "invalid_input", "filter"),
    ("filter-and-metadata", {"filter": {"g": 1}, "metadata": {"g": 1}}, 400, "invalid_input", "either"),
    ("unknown-namespace", {"namespaces": ["docs", "ghost"]}, 404, "namespace_not_found", "ghost"),
    ("no-namespaces", {"namespaces": []}, 400, "invalid_input", "namespaces"),
    ("threshold", {"threshold": 2}, 400, "invalid_input", "threshold"),
    ("top-k-zero", {"top_k": 0}, 400, "invalid_input", "top_k"),
    ("top-k-string", {"top_k": "5"}, 400, "invalid_input", "top_k"),
    ("query-dimension", {"query": [0.5] * (DIMS + 1)}, 400, "dimension_mismatch", "expected dimension"),
    ("query-text-on-vectors", {"query": "wings"}, 400, "invalid_input", "text query"),
    ("query-two-vectors", {"query": [[0.5] * DIMS] * 2}, 400, "invalid_input", "single vector"),
    ("unknown-field", {"topk": 3}, 400, "invalid_input", "topk"),
]


@pytest.mark.parametrize("change, status, name, fragment", [c[1:] for c in BAD_SEARCHES],
                         ids=[c[0] for c in BAD_SEARCHES])
def test_bad_searches(srv, seeded, change, status, name, fragment):
    body = {"namespaces": ["docs"], "query": [0.5] * DIMS, "top_k": 5} | change
    assert_error(raw(srv, "POST", "/v1/search", json=body), status, name, fragment)


def test_query_nan_literal(srv, seeded):
    query = ",".join(["NaN"] + ["0.5"] * (DIMS - 1))
    body = f'{{"namespaces":["docs"],"query":[{query}]}}'.encode()
    assert_error(raw(srv, "POST", "/v1/search", content=body), 400, "invalid_vector", "NaN")


def test_search_filters_timings_and_metadata_alias(srv, http, seeded, rng):
    q = rng.standard_normal(DIMS).astype(np.float32)
    res = http.search("docs", q, top_k=20, filter={"g": 1})
    assert res["results"] and all(r["metadata"] == {"g": 1} for r in res["results"])
    t = res["timings"]
    assert t["server_ms"] >= t["total_ms"] > 0
    alias = raw(srv, "POST", "/v1/search", json={"namespaces": ["docs"], "query": q.tolist(), "top_k": 20,
                                                "metadata": {"g": 1}, "kiosk_mode": True}).json()
    assert [(r["id"], r["score"]) for r in alias["results"]] == [(r["id"], r["score"]) for r in res["results"]]
    local = srv.engine.search("docs", q, top_k=20, filter={"g": 1})
    assert local["results"] == res["results"]


def test_concurrent_searches_agree_with_sequential(http, rng):
    http.create_namespace("big", dimension=DIMS)
    for start in range(0, 400, MAX_BATCH):
        http.upload_vectors("big", items(rng, MAX_BATCH, start))
    queries = rng.standard_normal((24, DIMS)).astype(np.float32)
    sequential = [http.search("big", q, top_k=15)["results"] for q in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda q: http.search("big", q, top_k=15)["results"], queries))
    assert parallel == sequential


def test_serve_runs_uvicorn(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code = ("import sys; from bitsift.api.server import serve; "
            "serve(sys.argv[1], port=int(sys.argv[2]), api_keys=[sys.argv[3]])")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "data"), str(port), KEY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(url, timeout=30)
        assert httpx.get(url + "/v1/namespaces").status_code == 401
        with HTTPClient(url, api_key=KEY) as c:
            c.create_namespace("docs", dimension=4)
            assert [n["namespace_name"] for n in c.list_namespaces()] == ["docs"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells of it
    assert proc.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in err.decode()
    assert (tmp_path / "data" / "docs" / "manifest.json").exists()


def test_a_write_acknowledged_by_one_worker_is_seen_by_the_next_search_on_any_worker(tmp_path):
    """bitsift serve --workers 2: two processes share the port and the data directory. Every
    request goes on a fresh connection, so the kernel hands them to either worker."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "bitsift.cli.main", "serve", "--path", str(tmp_path / "data"),
                             "--port", str(port), "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = np.random.default_rng(21)
    try:
        wait_healthy(url, timeout=60)

        def fresh(method: str, path: str, **kw) -> httpx.Response:
            with httpx.Client(base_url=url, timeout=30) as c:  # a new connection each time
                return c.request(method, path, **kw)

        assert fresh("POST", "/v1/namespaces", json={"namespace_name": "w", "vector_dimension": DIMS}).status_code == 201
        workers = set()
        for i in range(30):
            v = rng.standard_normal(DIMS).tolist()
            put = fresh("POST", "/v1/namespaces/w/vectors", json={"vectors": [{"id": f"v{i}", "vector": v}]})
            assert put.status_code == 201, put.text
            for _ in range(2):
                hits = fresh("POST", "/v1/search", json={"namespaces": ["w"], "query": v, "top_k": 1}).json()["results"]
                assert hits[0]["id"] == f"v{i}", (i, hits)
            workers.add(fresh("GET", "/health").json()["worker"])
        assert len(workers) == 2, workers  # both workers answered (and each saw every write above)
        assert fresh("GET", "/v1/namespaces/w").json()["item_count"] == 30
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]


def test_a_served_engine_opens_every_namespace_before_the_first_request(tmp_path):
    """serve()'s lifespan: no request pays a namespace's open (seconds at 1M rows)."""
    import asyncio
    from contextlib import closing

    from bitsift.api.server.app import opened
    from bitsift.engine.local import Engine

    with closing(Engine(tmp_path)) as first:
        for name in ("a", "b"):
            first.create_namespace(name, dimension=DIMS)
    engine = Engine(tmp_path)

    async def run() -> set[str]:
        async with opened(engine, close=True)(None):  # type: ignore[arg-type]
            return set(engine._open)

    assert asyncio.run(run()) == {"a", "b"}
    assert engine._open == {}  # closed at shutdown


def test_workers_share_the_servers_large_body_slots(tmp_path, monkeypatch):
    """N worker processes split the large-body slots, so the server as a whole parses no more
    ~100 MB bodies at once than one process would (the memory bound of benchmarks/memory.py)."""
    import json

    from bitsift.api.server.app import WORKER_CONFIG, large_body_slots, worker_app
    from bitsift.api.server.gate import MAX_LARGE_BODIES

    assert large_body_slots(1) == MAX_LARGE_BODIES and large_body_slots(2) == MAX_LARGE_BODIES // 2
    assert large_body_slots(64) == 1  # never none
    monkeypatch.setenv(WORKER_CONFIG, json.dumps({"path": str(tmp_path), "api_keys": [], "max_large_bodies": 1}))
    app = worker_app()
    try:
        assert app.gate_options["max_large_bodies"] == 1
    finally:
        app.state.engine.close()
