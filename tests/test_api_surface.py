"""The public API is declared once (api.protocol.ClientAPI); every client implements exactly it."""

from __future__ import annotations

import inspect

import pytest

import bitsift
from bitsift.api.client import LocalClient
from bitsift.api.protocol import ClientAPI

DECLARED = sorted(ClientAPI.__abstractmethods__)


def _shape(fn):
    """Names, kinds and defaults of the parameters, in order."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", [LocalClient, bitsift.HTTPClient, bitsift.AsyncHTTPClient])
@pytest.mark.parametrize("name", DECLARED)
def test_every_client_matches_the_declared_signature(cls, name):
    ours, declared = getattr(cls, name), getattr(ClientAPI, name)
    assert _shape(ours) == _shape(declared), f"{cls.__name__}.{name} differs from ClientAPI.{name}"
    assert inspect.iscoroutinefunction(ours) == (cls is bitsift.AsyncHTTPClient)
    assert not getattr(ours, "__isabstractmethod__", False)


def test_the_declaration_covers_every_public_method():
    for cls in (LocalClient, bitsift.HTTPClient, bitsift.AsyncHTTPClient):
        public = {n for n, _ in inspect.getmembers(cls, callable) if not n.startswith("_")}
        assert public == set(DECLARED), cls.__name__
    assert {"search", "search_batch", "create_namespace", "close"} <= set(DECLARED)


def test_client_is_the_declared_api_for_editors_and_isinstance(tmp_path):
    assert issubclass(bitsift.Client, ClientAPI) and issubclass(bitsift.HTTPClient, ClientAPI)
    with bitsift.Client(path=tmp_path) as local:
        assert isinstance(local, bitsift.Client) and isinstance(local, ClientAPI)
    with bitsift.Client(url="http://127.0.0.1:9") as remote:
        assert isinstance(remote, bitsift.Client)
    assert inspect.signature(bitsift.Client.search) == inspect.signature(ClientAPI.search)


def test_the_package_ships_its_type_information():
    from importlib import resources

    root = resources.files("bitsift")
    assert (root / "py.typed").is_file()
    stub = (root / "_kernel.pyi").read_text()
    for fn in ("scan_topk", "correlation_f16", "correlation_f16_many", "popcount_rows", "capabilities"):
        assert f"def {fn}(" in stub
