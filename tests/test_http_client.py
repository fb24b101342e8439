"""The HTTP clients against real servers: typed errors rebuilt on the client side, retries
(Retry-After, backoff, timeouts, giving up) on a scripted flaky app, the async client."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

import bitsift
from bitsift.api.http_client import AsyncHTTPClient, HTTPClient, ServiceUnavailable
from bitsift.core import errors
from restsrv import DIMS, KEY, items

pytestmark = pytest.mark.live

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
            assert await c.upload_vectors("docs", batch) == {"status": "success", "uploaded": 30, "errors": [],
                                                             "vector_ids_processed": [b["id"] for b in batch]}
            found = await asyncio.gather(*(c.search("docs", batch[i]["vector"], top_k=3) for i in range(6)))
            for i, res in enumerate(found):
                assert f"d{i}" in [r["id"] for r in res["results"] if r["score"] == 1.0]
            got = await c.get("docs", ["d4", "missing"], include_vectors=True)
            assert [g["id"] for g in got] == ["d4"]
            np.testing.assert_allclose(got[0]["vector"], batch[4]["vector"], rtol=1e-3, atol=1e-3)
            assert await c.delete("docs", ["d4", "nope"]) == {
                "status": "success", "deleted": ["d4"], "deleted_ids": ["d4"], "requested_ids": ["d4", "nope"],
                "actual_deletions": 1, "errors": []}
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


# --- uploads in bounded requests; expensive calls never resent blindly ---------------------

def _documents_app(slow_s: float = 0.0):
    """A stand-in server for the document and job routes (no model needed): records each
    upload's size and answers as bitsift does (a job per upload, done when asked about);
    its answer route takes ``slow_s``."""
    app, sizes = FastAPI(), []
    jobs: dict[str, int] = {}

    @app.post("/v1/namespaces/{name}/documents")
    async def upload(name: str, body: dict):
        sizes.append(len(body["documents"]))
        ids = [str(d["id"]) for d in body["documents"]]
        job_id = f"job_{len(jobs):032d}"
        jobs[job_id] = len(ids)
        return JSONResponse({"status": "queued", "uploaded": len(ids), "chunks": 2 * len(ids), "submitted_ids": ids,
                             "job_id": job_id}, status_code=202)

    @app.get("/v1/jobs/{job_id}")
    async def job(job_id: str):
        n = jobs[job_id]
        return {"job_id": job_id, "namespace": "n", "state": "done", "documents": n, "documents_done": n,
                "chunks": 2 * n, "chunks_done": 2 * n, "error": None, "failures": []}

    @app.post("/v1/answer")
    async def answer():
        await asyncio.sleep(slow_s)
        return JSONResponse({"answer": "late"})

    @app.post("/v1/search")
    async def search():
        await asyncio.sleep(slow_s)
        return JSONResponse({"results": []})

    return app, sizes


def test_a_large_document_upload_travels_as_bounded_requests(live_app):
    from bitsift.api.calls import PART_CHARS, PART_DOCUMENTS

    app, sizes = _documents_app()
    server = live_app(app)
    docs = [{"id": i, "text": "short"} for i in range(150)] + [{"id": "big", "text": "x" * (PART_CHARS + 1)}]
    with HTTPClient(server.url) as c:
        got = c.upload_documents("n", docs)
        queued = c.upload_documents("n", docs[:3], wait=False)
    assert sizes == [PART_DOCUMENTS, PART_DOCUMENTS, 150 - 2 * PART_DOCUMENTS, 1, 3]  # the long one alone
    parts = [f"job_{i:032d}" for i in range(4)]
    assert got == {"status": "success", "uploaded": 151, "chunks": 302, "submitted_ids": [str(d["id"]) for d in docs],
                   "job_id": parts[-1], "job_ids": parts}
    assert queued["status"] == "queued" and "job_ids" not in queued

    async def flow():
        async with AsyncHTTPClient(server.url) as a:
            return await a.upload_documents("n", docs[:70])

    assert asyncio.run(flow())["uploaded"] == 70 and sizes[-2:] == [PART_DOCUMENTS, 70 - PART_DOCUMENTS]


def test_an_answer_without_a_reply_is_not_sent_again_and_says_so(live_app):
    from bitsift.api.calls import NoAnswer

    app, sizes = _documents_app(slow_s=1.0)
    server = live_app(app)
    with HTTPClient(server.url, timeout=0.3, max_retries=3) as c:
        with pytest.raises(NoAnswer, match="may still complete") as caught:
            c.answer("n", "why?")
        assert "cannot reach" not in str(caught.value)
        with pytest.raises(NoAnswer, match=r"\(4 attempts\)"):  # a search is cheap: retried, then the same words
            c.search("n", [0.0], top_k=1)
    with HTTPClient(f"http://127.0.0.1:{_free_port()}", timeout=0.3, max_retries=1) as c:
        with pytest.raises(ServiceUnavailable, match="cannot reach"):
            c.upload_documents("n", [{"id": "a", "text": "hello"}])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
