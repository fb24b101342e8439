"""The REST server on a real uvicorn: auth, one JSON error body, limits that write nothing,
retries of the HTTP client, typed errors rebuilt on the client side, the async client."""

from __future__ import annotations

import asyncio
import email.utils
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

import bitsift
from bitsift.api.http_client import AsyncHTTPClient, HTTPClient, ServiceUnavailable
from bitsift.core import errors
from conftest import folder_digest
from livesrv import wait_healthy

DIMS = 32
KEY, OTHER_KEY = "key-one-0123456789", "key-two-0123456789"
MAX_BODY = 256 * 1024
MAX_BATCH = 50


def items(rng, n, start=0):
    x = rng.standard_normal((n, DIMS)).astype(np.float32)
    return [{"id": f"d{start + i}", "vector": x[i].tolist(), "text": f"doc {start + i}",
             "metadata": {"g": (start + i) % 3}} for i in range(n)]


def raw(srv, method, path, key=KEY, **kwargs):
    headers = {"x-api-key": key} if key else {}
    if "content" in kwargs:
        headers["content-type"] = "application/json"
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(method, srv.url + path, headers=headers, timeout=30, **kwargs)


def assert_error(response, status, name, fragment=""):
    assert response.status_code == status, response.text
    body = response.json()
    assert body == {"error": name, "message": body["message"], "status": status}
    assert isinstance(body["message"], str) and fragment in body["message"]
    return body


digest = folder_digest


@pytest.fixture(scope="module")
def shared(module_live_server):  # noqa: F811
    return module_live_server(api_keys=[KEY, OTHER_KEY], max_body_bytes=MAX_BODY, max_batch=MAX_BATCH)


@pytest.fixture
def srv(shared):
    """The module's server, emptied: every test starts with no namespaces."""
    for info in shared.engine.list_namespaces():
        shared.engine.delete_namespace(info["namespace_name"])
    return shared


@pytest.fixture
def http(srv):
    with HTTPClient(srv.url, api_key=KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def seeded(srv, http, rng):
    """A namespace "docs" with 20 items; returns a function that proves nothing changed."""
    http.create_namespace("docs", dimension=DIMS)
    http.upload_vectors("docs", items(rng, 20))
    folder = srv.engine.root / "docs"
    before = digest(folder)

    def unchanged():
        assert digest(folder) == before
        assert http.describe_namespace("docs")["item_count"] == 20
        assert http.get("docs", ["new-1"]) == []

    return unchanged


# --- auth, routes, docs ------------------------------------------------------------------

def test_health_and_docs_need_no_key(srv):
    health = httpx.get(srv.url + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "version": bitsift.__version__}
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
        assert ok.status_code == 200 and ok.json() == {"namespaces": []}
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


# --- typed errors, retries, async ----------------------------------------------------------

def test_typed_errors_are_rebuilt(http, tmp_path):
    with bitsift.Client(path=tmp_path / "local") as local:
        for c in (local, http):
            c.create_namespace("docs", dimension=4)
        calls = [
            lambda c: c.describe_namespace("ghost"),
            lambda c: c.describe_namespace("../x"),
            lambda c: c.create_namespace("docs", dimension=4),
            lambda c: c.upload_vectors("docs", [{"id": "a", "vector": [1, 2, 3, 4]}] * 2),
            lambda c: c.upload_vectors("docs", [{"id": "a", "vector": [float("nan")] * 4}]),
            lambda c: c.search("docs", [1.0] * 4, filter={"$or": 3}),
            lambda c: c.delete("docs", []),
        ]
        for call in calls:
            with pytest.raises(errors.BitsiftError) as here:
                call(local)
            with pytest.raises(errors.BitsiftError) as there:
                call(http)
            assert type(there.value) is type(here.value) and type(here.value) is not errors.BitsiftError
            assert there.value.to_dict() == here.value.to_dict()


def _flaky(script, route="/v1/namespaces"):
    """An app whose route answers each scripted failure in turn, then succeeds."""
    app = FastAPI()
    app.state.calls = []

    @app.get(route)
    async def endpoint():
        app.state.calls.append(time.monotonic())
        n = len(app.state.calls)
        if n <= len(script):
            status, headers, delay = script[n - 1]
            if delay:
                await asyncio.sleep(delay)
            if status == "text":
                return PlainTextResponse("bad gateway", status_code=502)
            if status != 200:
                return JSONResponse({"error": "unavailable", "message": "busy", "status": status},
                                    status_code=status, headers=headers)
        return {"namespaces": [{"namespace_name": "x"}]}

    return app


def test_retry_after_is_honoured(live_app):  # noqa: F811
    app = _flaky([(503, {"Retry-After": "1"}, 0)])
    with HTTPClient(live_app(app).url, max_retries=4) as c:
        c.backoff_base = 30.0  # a backoff instead of Retry-After would blow the time bound below
        t0 = time.monotonic()
        assert c.list_namespaces() == [{"namespace_name": "x"}]
    calls = app.state.calls
    assert len(calls) == 2 and 0.95 <= calls[1] - calls[0] < 5 and time.monotonic() - t0 < 5


def test_retry_after_as_http_date(live_app):  # noqa: F811
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    app = _flaky([(429, {"Retry-After": when}, 0)])
    with HTTPClient(live_app(app).url, max_retries=1) as c:
        c.backoff_base = 30.0
        assert c.list_namespaces() == [{"namespace_name": "x"}]
    assert len(app.state.calls) == 2 and app.state.calls[1] - app.state.calls[0] < 5


def test_backoff_on_retryable_statuses(live_app):  # noqa: F811
    app = _flaky([(429, {}, 0), (502, {}, 0), (504, {}, 0), (503, {}, 0)])
    with HTTPClient(live_app(app).url, max_retries=4) as c:
        c.backoff_base = 0.02
        assert c.list_namespaces() == [{"namespace_name": "x"}]
    gaps = np.diff(app.state.calls)
    assert len(app.state.calls) == 5 and gaps.min() >= 0.01 and gaps[-1] >= 0.08  # 0.02 * 2**3 / 2


def test_retries_give_up_with_the_servers_error(live_app):  # noqa: F811
    app = _flaky([(503, {}, 0)] * 10)
    with HTTPClient(live_app(app).url, max_retries=2) as c, pytest.raises(errors.BitsiftError) as exc:
        c.backoff_base = 0.01
        c.list_namespaces()
    assert len(app.state.calls) == 3 and (exc.value.status, exc.value.name) == (503, "unavailable")
    plain = _flaky([("text", {}, 0)] * 10)
    with HTTPClient(live_app(plain).url, max_retries=1) as c, pytest.raises(errors.BitsiftError) as exc:
        c.backoff_base = 0.01
        c.list_namespaces()
    assert len(plain.state.calls) == 2 and (exc.value.status, exc.value.name) == (502, "http_error")
    assert "bad gateway" in exc.value.message


def test_other_errors_are_not_retried(live_app):  # noqa: F811
    app = _flaky([(500, {}, 0), (500, {}, 0)])
    with HTTPClient(live_app(app).url, max_retries=4) as c, pytest.raises(errors.BitsiftError) as exc:
        c.list_namespaces()
    assert len(app.state.calls) == 1 and exc.value.status == 500


def test_timeouts_are_retried(live_app):  # noqa: F811
    app = _flaky([(200, {}, 0.8)])
    with HTTPClient(live_app(app).url, timeout=0.3, max_retries=2) as c:
        c.backoff_base = 0.01
        assert c.list_namespaces() == [{"namespace_name": "x"}]
    assert len(app.state.calls) == 2


def test_unreachable_server(live_app):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with HTTPClient(f"http://127.0.0.1:{port}", max_retries=2) as c, pytest.raises(ServiceUnavailable) as exc:
        c.backoff_base = 0.05
        t0 = time.monotonic()
        c.list_namespaces()
    assert time.monotonic() - t0 >= 0.075  # two backoffs of at least half their step
    assert exc.value.status == 503 and "3 attempts" in exc.value.message
    assert isinstance(exc.value, errors.BitsiftError)


def test_async_client(srv, rng, live_app):  # noqa: F811
    flaky = _flaky([(503, {"Retry-After": "0"}, 0)])
    flaky_url = live_app(flaky).url
    batch = items(rng, 30)
    for item in batch:
        item["vector"] = np.asarray(item["vector"], dtype=np.float32)

    async def flow():
        async with AsyncHTTPClient(srv.url, api_key=KEY) as c:
            assert (await c.create_namespace("docs", dimension=DIMS))["namespace_name"] == "docs"
            assert await c.upload_vectors("docs", batch) == {"status": "success", "uploaded": 30}
            found = await asyncio.gather(*(c.search("docs", batch[i]["vector"], top_k=3) for i in range(6)))
            for i, res in enumerate(found):
                assert f"d{i}" in [r["id"] for r in res["results"] if r["score"] == 1.0]
            got = await c.get("docs", ["d4", "missing"], include_vectors=True)
            assert [g["id"] for g in got] == ["d4"]
            np.testing.assert_allclose(got[0]["vector"], batch[4]["vector"], rtol=1e-3, atol=1e-3)
            assert await c.delete("docs", ["d4", "nope"]) == {"status": "success", "deleted": ["d4"]}
            assert (await c.describe_namespace("docs"))["item_count"] == 29
            assert await c.compact("docs") == {"rows_before": 30, "rows_after": 29}
            assert (await c.diagnostics("docs"))["live"] == 29
            with pytest.raises(errors.NamespaceNotFound):
                await c.search("ghost", batch[0]["vector"])
            assert await c.delete_namespace("docs") == {"namespace_name": "docs", "deleted": True}
            assert await c.list_namespaces() == []
        async with AsyncHTTPClient(flaky_url, max_retries=2) as c:
            assert await c.list_namespaces() == [{"namespace_name": "x"}]

    asyncio.run(flow())
    assert len(flaky.state.calls) == 2


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
