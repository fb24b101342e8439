"""The REST server the server and HTTP-client tests share: one live server per test module
(keys, body and batch limits), emptied before each test, and the request helpers."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from bitsift.api.http_client import HTTPClient
from conftest import folder_digest

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
