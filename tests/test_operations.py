"""Operations: /metrics after real searches (one worker and two), CORS preflights that pass before
the API key check, request ids and JSON log lines, and API docs that load nothing from outside."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

DIMS = 8


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found, name, **labels) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def fill(url: str, headers: dict | None = None) -> None:
    post = lambda path, body: httpx.post(url + path, json=body, headers=headers, timeout=30)  # noqa: E731
    assert post("/v1/namespaces", {"namespace_name": "m", "vector_dimension": DIMS}).status_code == 201
    assert post("/v1/namespaces/m/vectors", {"vectors": [{"id": f"v{i}", "vector": [float(i == j) for j in range(DIMS)]}
                                                          for i in range(DIMS)]}).status_code == 201
    for _ in range(5):
        assert post("/v1/search", {"namespaces": ["m"], "query": [1.0] * DIMS, "top_k": 3}).status_code == 200
    assert post("/v1/search/batch", {"namespaces": ["m"], "queries": [[1.0] * DIMS] * 2}).status_code == 200
    assert httpx.get(url + "/v1/namespaces/m", headers=headers).status_code == 200
    assert httpx.get(url + "/v1/namespaces/nope", headers=headers).status_code == 404


def test_metrics_count_requests_by_route_template_and_time_the_search(tmp_path, live_server):
    srv = live_server(data_dir=tmp_path / "d")
    fill(srv.url)
    page = httpx.get(srv.url + "/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    found = samples(page.text)
    assert value(found, "bitsift_requests_total", route="/v1/search", method="POST", status="200") >= 5
    assert value(found, "bitsift_requests_total", route="/v1/namespaces/{namespace_name}", status="404") >= 1
    assert not [ls for (n, ls) in found if n == "bitsift_requests_total" and ("route", "/v1/namespaces/nope") in ls]
    assert value(found, "bitsift_request_seconds_count", route="/v1/search") >= 5
    assert value(found, "bitsift_search_scan_seconds_count", mode="rescore") >= 6
    assert value(found, "bitsift_search_fetch_seconds_count", mode="rescore") >= 6
    assert value(found, "bitsift_namespace_items", namespace="m") == DIMS
    assert ("bitsift_coalescer_queued_queries", ()) in found


def test_a_metrics_key_guards_metrics_only(tmp_path, live_server):
    srv = live_server(data_dir=tmp_path / "d", metrics_key="scrape")
    assert httpx.get(srv.url + "/metrics").status_code == 401
    assert httpx.get(srv.url + "/metrics", headers={"x-api-key": "scrape"}).status_code == 200
    assert httpx.get(srv.url + "/health").status_code == 200


def test_cors_preflight_is_answered_before_the_key_check(tmp_path, live_server):
    preflight = {"origin": "http://localhost:3000", "access-control-request-method": "POST",
                 "access-control-request-headers": "x-api-key,content-type"}
    off = live_server(data_dir=tmp_path / "a", api_keys=["k"])
    refused = httpx.options(off.url + "/v1/search", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers  # off by default
    on = live_server(data_dir=tmp_path / "b", api_keys=["k"], cors_origins=["http://localhost:3000"])
    ok = httpx.options(on.url + "/v1/search", headers=preflight)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    listed = httpx.get(on.url + "/v1/namespaces", headers={"origin": "http://localhost:3000", "x-api-key": "k"})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = httpx.options(on.url + "/v1/search", headers={**preflight, "origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_request_ids_and_json_log_lines(tmp_path, live_server, monkeypatch, capfd):
    monkeypatch.setenv("BITSIFT_LOG_FORMAT", "json")
    srv = live_server(data_dir=tmp_path / "d")
    mine = httpx.get(srv.url + "/v1/namespaces", headers={"x-request-id": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    made = httpx.get(srv.url + "/v1/namespaces/nope").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith('{"ts"')]
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["trace-42"]["route"] == "/v1/namespaces" and by_id["trace-42"]["status"] == 200
    assert by_id[made]["status"] == 404 and by_id[made]["route"] == "/v1/namespaces/{namespace_name}"


def test_docs_and_redoc_load_only_the_packages_own_assets(tmp_path, live_server):
    srv = live_server(data_dir=tmp_path / "d")
    for page in ("/docs", "/redoc"):
        html = httpx.get(srv.url + page).text
        urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) + re.findall(r"url: ?['\"]([^'\"]+)['\"]", html)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
        for asset in [u for u in urls if u.startswith("/docs-assets/")]:
            got = httpx.get(srv.url + asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_metrics_add_up_over_two_worker_processes(tmp_path):
    """One scrape counts both workers; every request gets its access line (written by Telemetry,
    in uvicorn's format); the shared metrics folder goes when the server stops."""
    port = free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "bitsift.cli.main", "serve", "--path", str(tmp_path / "d"),
                             "--port", str(port), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(temp)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.3)
        workers = {httpx.get(url + "/health", headers={"connection": "close"}).json()["worker"]  # new connections:
                   for _ in range(40)}                                                       # both workers answer
        fill(url)
        found = samples(httpx.get(url + "/metrics").text)
        assert value(found, "bitsift_requests_total", route="/health") >= 40  # every worker's, in one scrape
        assert value(found, "bitsift_requests_total", route="/v1/search", status="200") == 5
        assert len(workers) == 2, "the test needs both workers to have answered"
        assert [p.name[:16] for p in temp.iterdir()] == ["bitsift-metrics-"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert err.count('"GET /health HTTP/1.1" 200 OK') >= 40 and '"POST /v1/search HTTP/1.1" 200 OK' in err
    assert not list(temp.iterdir())  # the metrics folder went with the server
