"""Shared fixtures: seeded random codes and vectors; the markers a test gets from its fixtures."""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np
import pytest

from bitsift.core import kernel

pytest_plugins = ["livesrv", "restsrv", "corpus"]  # live_server / live_app: real uvicorn on 127.0.0.1; srv / http: the REST one

KERNEL_PATHS = ("scalar", "avx2", "avx512")
_NEEDS = {"scalar": "nothing", "avx2": "AVX2", "avx512": "AVX-512 BW, VPOPCNTDQ and BITALG"}
# A test using any of these fixtures gets the marker (`make test-fast` deselects it).
MARKED_BY_FIXTURE = {
    "live": {"live_server", "module_live_server", "live_app"},
    "model": {"cranfield"},
    "ray": {"ray_cluster"},
}


def available_paths() -> list[str]:
    caps = kernel.capabilities()
    return [p for p in KERNEL_PATHS if caps.get(p)]


def kernel_paths() -> list:
    """Every instruction-set path as a parameter; a path this CPU lacks is SKIPPED with the
    reason, so a run on a smaller CPU says what it did not test instead of dropping it."""
    caps = kernel.capabilities()
    return [pytest.param(p, id=p, marks=() if caps.get(p) else pytest.mark.skip(
        reason=f"CPU lacks {p}: needs {_NEEDS[p]} (kernel.capabilities() = {caps})")) for p in KERNEL_PATHS]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, fixtures in MARKED_BY_FIXTURE.items():
            if fixtures & set(getattr(item, "fixturenames", ())):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def _unmarked_tests_stay_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a run deselects ``model`` or ``ray`` (``make test-fast``), a test that is not marked
    so but loads the embedding model or starts Ray fails and says which marker it lacks."""
    expr = request.config.option.markexpr or ""

    def refuse(what: str, marker: str):
        def refused(*args, **kwargs):
            raise RuntimeError(f"{request.node.nodeid} {what} but is not marked @pytest.mark.{marker}")
        return refused

    if "not model" in expr and request.node.get_closest_marker("model") is None:
        from bitsift.text import embed
        monkeypatch.setattr(embed.OnnxMiniLM, "_load", refuse("loads the embedding model", "model"))
    if "not ray" in expr and request.node.get_closest_marker("ray") is None and "ray" in sys.modules:
        monkeypatch.setattr(sys.modules["ray"], "init", refuse("starts Ray", "ray"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_codes(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, size=(n, words), dtype=np.uint64, endpoint=True)


def folder_digest(path) -> str:
    """Hash of a namespace's row files and manifest: equal before and after = nothing written."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.name in ("codes.u64", "vectors.f16", "manifest.json"):
            h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for every Ray test of the session, Serve's apps included."""
    import ray

    from bitsift.api.server.serverless import HAPROXY_ENV

    started = not ray.is_initialized()
    if started:
        os.environ.setdefault(HAPROXY_ENV, "1")  # as a cluster serverless.deploy starts (test_serve)
        # A removed replica stays reachable this long so HAProxy can deregister it (Serve's default
        # 30 s): short here, like the tests' scaling delays, so scaling down settles in seconds.
        os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
        ray.init(num_cpus=2, namespace="bitsift", log_to_driver=False, include_dashboard=False)
    yield ray
    if started:
        if "ray.serve" in sys.modules:
            sys.modules["ray.serve"].shutdown()
        ray.shutdown()
