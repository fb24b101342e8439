"""Bad input over the real server: every case the fault campaign found answering 500 (or taken
silently) is a clear 4xx now, and nothing is written."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from click.testing import CliRunner

from bitsift.api.server.app import api_keys_from
from bitsift.cli.main import main
from bitsift.core.errors import InvalidInput
from bitsift.text.documents import chunk_documents
from restsrv import DIMS, assert_error, raw

VEC = [0.5] * DIMS


def search(srv, **body):
    return raw(srv, "POST", "/v1/search", content=json.dumps({"query": VEC, **body}))


@pytest.mark.parametrize("namespaces", [None, 3, True, [["docs"]], [{}], {"docs": 1}, [], ["docs\n"], b"x".hex()[:0]])
def test_search_namespaces_of_the_wrong_type_are_400(seeded, srv, namespaces):
    assert search(srv, namespaces=namespaces).status_code == 400
    seeded()


@pytest.mark.parametrize("flt", [{"g": 10**400}, {"g": {"$gt": 10**400}}, {"g": {"$in": [1, -(10**400)]}}])
def test_filter_numbers_beyond_a_double_are_400(seeded, srv, flt):
    assert_error(search(srv, namespaces="docs", filter=flt), 400, "invalid_filter", "beyond the range")


def test_large_in_lists_and_or_chains_are_evaluated(seeded, srv):
    """$in with the documented 1,000 values and an $or of 1,000 terms answer correctly (they
    overflowed SQLite's expression depth); past the limits a 400 says which."""
    values = [100 + i for i in range(999)] + [1]
    hits = search(srv, namespaces="docs", top_k=50, filter={"g": {"$in": values}}).json()["results"]
    assert sorted(h["metadata"]["g"] for h in hits) == [1] * 7
    hits = search(srv, namespaces="docs", top_k=50, filter={"g": {"$nin": values}}).json()["results"]
    assert {h["metadata"]["g"] for h in hits} == {0, 2}
    ors = [{"g": 100 + i} for i in range(999)] + [{"g": 2}]
    hits = search(srv, namespaces="docs", top_k=50, filter={"$or": ors}).json()["results"]
    assert {h["metadata"]["g"] for h in hits} == {2} and len(hits) == 6
    assert_error(search(srv, namespaces="docs", filter={"g": {"$in": list(range(1001))}}), 400, "invalid_filter",
                 "at most 1000")
    assert_error(search(srv, namespaces="docs", filter={"$or": [{"g": i} for i in range(2000)]}), 400,
                 "invalid_filter", "at most 1000 field conditions")
    assert_error(search(srv, namespaces="docs", filter={f"k{i}": i for i in range(12_000)}), 400,
                 "invalid_filter", "at most 1000 field conditions")


LONE = '"\\ud800"'  # JSON for a lone UTF-16 surrogate


@pytest.mark.parametrize("where", ["id", "text", "metadata", "metadata-key"])
def test_a_lone_surrogate_is_refused_at_the_door(seeded, srv, where):
    item = {"id": "new-1", "vector": VEC, "text": "t", "metadata": {"a": "b"}}
    body = json.dumps({"vectors": [item]})
    replaced = {"id": '"new-1"', "text": '"t"', "metadata": '"b"', "metadata-key": '"a"'}[where]
    assert_error(raw(srv, "POST", "/v1/namespaces/docs/vectors", content=body.replace(replaced, LONE, 1)), 400,
                 "invalid_input", "surrogate")
    seeded()
    flt = json.dumps({"namespaces": "docs", "query": VEC, "filter": {"g": "x"}}).replace('"x"', LONE)
    assert_error(raw(srv, "POST", "/v1/search", content=flt), 400, "invalid_input", "surrogate")


def test_a_valid_surrogate_pair_is_kept(srv, http, rng):
    http.create_namespace("docs", dimension=DIMS)
    body = json.dumps({"vectors": [{"id": "e", "vector": VEC, "text": "\U0001f600", "metadata": {"m": "\U0001f600"}}]})
    assert raw(srv, "POST", "/v1/namespaces/docs/vectors", content=body).status_code == 201
    assert http.get("docs", ["e"]) == [{"id": "e", "text": "\U0001f600", "metadata": {"m": "\U0001f600"}}]


@pytest.mark.parametrize("name", ["docs\n", "a\n"])
def test_names_and_fields_with_a_trailing_newline_are_400(seeded, srv, name):
    create = raw(srv, "POST", "/v1/namespaces", content=json.dumps({"namespace_name": name, "vector_dimension": 4}))
    assert_error(create, 400, "invalid_name")
    assert_error(search(srv, namespaces="docs", filter={name: 1}), 400, "invalid_filter")


@pytest.mark.parametrize("component", ["1.5", True, None, [1.0]])
def test_vector_components_must_be_numbers(seeded, srv, component):
    vector = [component] + VEC[1:]
    body = json.dumps({"vectors": [{"id": "new-1", "vector": vector}]})
    assert_error(raw(srv, "POST", "/v1/namespaces/docs/vectors", content=body), 400, "invalid_vector")
    assert_error(search(srv, namespaces="docs", query=vector), 400, "invalid_vector")
    seeded()


@pytest.mark.parametrize("field", ["include_vectors", "kiosk_mode", "partial"])
def test_booleans_must_be_booleans(seeded, srv, field):
    if field == "include_vectors":
        response = raw(srv, "POST", "/v1/namespaces/docs/documents/get", content=json.dumps({"ids": ["d1"], field: "yes"}))
    else:
        response = search(srv, namespaces="docs", **{field: "yes"})
    assert_error(response, 400, "invalid_input", field)


def test_a_document_id_shaped_like_a_chunk_id_is_refused():
    """``x#chunk-0`` would silently replace chunk 0 of document ``x``."""
    with pytest.raises(InvalidInput, match="#chunk-"):
        chunk_documents([{"id": "x#chunk-0", "text": "hello"}], 100, 10)
    chunk_documents([{"id": "x#chunks", "text": "hello"}, {"id": "y-chunk-0", "text": "hi"}], 100, 10)


def test_an_unexpected_error_is_logged_once_and_keeps_the_connection(seeded, srv, monkeypatch, caplog):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(srv.engine, "list_namespaces", broken)
    host, port = srv.url.removeprefix("http://").split(":")
    request = (f"GET /v1/namespaces HTTP/1.1\r\nhost: x\r\nx-api-key: {raw.__defaults__[0]}\r\n\r\n").encode()
    with caplog.at_level(logging.ERROR), socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        monkeypatch.undo()
        sock.sendall(request)  # the same connection still works
        second = _read_response(sock)
    assert first[0] == 500 and b"connection: close" not in first[1].lower()
    assert json.loads(first[2]) == {"error": "internal_error", "status": 500,
                                    "message": "internal error (RuntimeError); see the server log"}
    assert second[0] == 200 and json.loads(second[2])["namespaces"][0]["namespace_name"] == "docs"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "unexpected" in logged[0].getMessage()


def _read_response(sock: socket.socket) -> tuple[int, bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), head, rest[:length]


def test_a_lying_content_length_times_out_with_408(live_server):
    srv = live_server(body_timeout_s=0.5)
    host, port = srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/namespaces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"namespace_")
        status, head, body = _read_response(sock)
    assert status == 408 and json.loads(body)["error"] == "request_timeout"
    assert srv.engine.list_namespaces() == []


@pytest.mark.parametrize("env", [" , ,", ",", " "])
def test_api_keys_that_hold_no_key_refuse_to_start(tmp_path, env):
    if env.strip():
        with pytest.raises(ValueError, match="holds no key"):
            api_keys_from([], env)
        result = CliRunner().invoke(main, ["serve", "--path", str(tmp_path)], env={"BITSIFT_API_KEYS": env})
        assert result.exit_code == 2 and "holds no key" in result.output
    else:
        assert api_keys_from([], env) == []  # set but blank: as if unset
    with pytest.raises(ValueError, match="empty key"):
        api_keys_from([" "], None)
    assert api_keys_from(["a"], " b, c ,") == ["a", "b", "c"]


def test_openapi_documents_what_the_server_sends(srv):
    doc = raw(srv, "GET", "/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            assert "422" not in codes, (method, path)
            if path.startswith("/v1"):
                assert {"400", "401", "403", "413", "500", "503", "507"} <= codes, (method, path)
                for code in codes - {"200", "201", "202"}:
                    assert op["responses"][code]["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}
            ok = next(op["responses"][c] for c in ("200", "201", "202") if c in op["responses"])
            body = ok["content"].get("application/json") or ok["content"]["text/plain"]  # /metrics: Prometheus text
            assert body["schema"], (method, path)  # not empty
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    create = schemas["CreateNamespace"]["properties"]
    assert create["namespace_name"]["pattern"] and "centered_mib" in create["binarizer"]["enum"]
    assert set(schemas["ErrorBody"]["required"]) == {"error", "message", "status"}


def test_large_bodies_take_turns_and_the_overflow_gets_503_with_retry_after(live_server):
    """Only ``max_large_bodies`` large bodies are read and parsed at once (memory is bounded);
    one that waits too long is a 503 with Retry-After, and small requests never wait."""
    import threading
    import time

    import httpx

    srv = live_server(max_large_bodies=1, large_body_bytes=1024, large_wait_s=0.3)
    url = srv.url
    httpx.post(f"{url}/v1/namespaces", json={"namespace_name": "big", "vector_dimension": 4}, timeout=30)
    body = json.dumps({"vectors": [{"id": f"i{i}", "vector": [0.1, 0.2, 0.3, 0.4]} for i in range(100)]}).encode()

    def slow_body():  # holds the one large slot for ~1 s
        for i in range(0, len(body), len(body) // 5):
            yield body[i:i + len(body) // 5]
            time.sleep(0.2)

    first: list[httpx.Response] = []
    holder = threading.Thread(target=lambda: first.append(httpx.post(
        f"{url}/v1/namespaces/big/vectors", content=slow_body(), timeout=30,
        headers={"content-type": "application/json", "content-length": str(len(body))})))
    holder.start()
    time.sleep(0.2)
    second = httpx.post(f"{url}/v1/namespaces/big/vectors", content=body, timeout=30,
                        headers={"content-type": "application/json"})
    small = httpx.get(f"{url}/v1/namespaces/big", timeout=30)
    holder.join()
    assert_error(second, 503, "busy", "retry")
    assert second.headers["retry-after"] == "5"
    assert small.status_code == 200 and first[0].status_code == 201
    retried = httpx.post(f"{url}/v1/namespaces/big/vectors", content=body, timeout=30,
                         headers={"content-type": "application/json"})
    assert retried.status_code == 201


@pytest.mark.parametrize("component", [10**400, -(10**400), 1e39], ids=["int-1e400", "int-minus-1e400", "float-1e39"])
def test_vector_components_beyond_float_range_are_400(seeded, srv, component):
    vector = VEC[:-1] + [component]
    body = json.dumps({"vectors": [{"id": "new-1", "vector": vector}, {"id": "new-2", "vector": VEC}]})
    assert_error(raw(srv, "POST", "/v1/namespaces/docs/vectors", content=body), 400, "invalid_vector")
    assert_error(search(srv, namespaces="docs", query=vector), 400, "invalid_vector")
    seeded()
