"""Search replicas on Ray Serve (api.server.serverless), on the session's local Ray cluster: the
deployment answers every search exactly as one machine, sharded and not; a write acknowledged
through the API is in the next search on every replica; API keys are checked at the ingress;
replicas are added under a burst and removed when idle, down to MIN and to zero, and a search
after scale-to-zero waits for a cold start and succeeds. Delays are short and every wait bounded."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import bitsift
from bitsift.api.http_client import HTTPClient
from bitsift.api.server import serverless
from bitsift.engine.local import Engine
from replica_cases import DIM, fill, outcomes

pytestmark = pytest.mark.ray
KEY = "serve-key"


@pytest.fixture(scope="module")
def port(ray_cluster):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    from ray import serve

    serve.start(http_options={"host": "127.0.0.1", "port": free})
    yield free
    serve.delete(serverless.APP_NAME)


def _deploy(root, port, sharded, **scaling):
    settings = dict(replica_cpus=0.25, metrics_interval_s=0.5, look_back_s=1.0, upscale_delay_s=0.5,
                    downscale_delay_s=2.0, downscale_to_zero_delay_s=2.0)
    return serverless.deploy(root, serverless.Scaling(**{**settings, **scaling}), sharded=sharded, api_keys=[KEY],
                             port=port, address="auto")


def _wait_for(what, check, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"not within {within} s: {what} (replicas now: {serverless.replica_count()})")


def _search(url, query, top_k=5, key=KEY):
    r = httpx.post(f"{url}/v1/search", json={"namespaces": ["docs"], "query": [float(v) for v in query],
                                              "top_k": top_k}, headers={"x-api-key": key} if key else {}, timeout=60)
    return r


@pytest.mark.parametrize("sharded", [False, True], ids=["one-machine-folders", "sharded"])
def test_replicas_answer_as_one_machine_and_see_every_acknowledged_write(tmp_path, port, sharded):
    url = _deploy(tmp_path / "served", port, sharded, min_replicas=2, max_replicas=2)
    one = bitsift.Client(path=tmp_path / "one")
    with HTTPClient(url, api_key=KEY) as served:
        served.create_namespace("docs", dimension=DIM, **({"shards": 3} if sharded else {}))
        one.create_namespace("docs", dimension=DIM)
        queries = fill(served, "docs")
        assert fill(one, "docs").tolist() == queries.tolist()
        _wait_for("two replicas", lambda: serverless.replica_count() == 2, 60)
        got, want = outcomes(served, "docs", queries), outcomes(one, "docs", queries)
        if sharded:  # a sharded namespace's answers also say how many shards answered
            assert {a.pop("shards") for a in _answers(got)} == {3}
        assert got == want
        assert _search(url, queries[0], key="wrong").status_code == 403  # the ingress checks keys
        assert _search(url, queries[0], key=None).status_code == 401
        # A write acknowledged through the API, then searches until both replicas have answered:
        # every answer holds it (each replica checks the generation before it searches).
        fresh = np.random.default_rng(11).standard_normal((3, DIM)).astype(np.float32)
        for round_, new in enumerate(fresh):
            served.upload_vectors("docs", [{"id": f"fresh-{round_}", "vector": new.tolist()}])
            seen: dict[str, list[str]] = {}
            with ThreadPoolExecutor(4) as pool:
                for _ in range(10):
                    for r in pool.map(lambda _: _search(url, new, top_k=3), range(8)):
                        assert r.status_code == 200, r.text
                        seen.setdefault(r.headers[serverless.REPLICA_HEADER], []).append(r.json()["results"][0]["id"])
                    if len(seen) == 2:
                        break
            assert len(seen) == 2, f"only {list(seen)} answered"
            assert {i for ids in seen.values() for i in ids} == {f"fresh-{round_}"}
    one.close()
    serverless.undeploy()


def _answers(outcome_list):
    for o in outcome_list:
        yield from (o if isinstance(o, list) else [o])


def test_replicas_scale_with_a_burst_and_back_to_min_and_to_zero(tmp_path, port):
    root = tmp_path / "served"
    writer = Engine(root)  # written before the deployment: the replicas open it at start
    writer.create_namespace("docs", dimension=DIM)
    queries = fill(writer, "docs")
    writer.close()
    url = _deploy(root, port, False, min_replicas=0, max_replicas=2, target_ongoing=1.0)
    assert serverless.replica_count(running_only=False) == 0  # MIN 0: nothing runs until the first request

    def burst_until(count):
        stop, failures = threading.Event(), []

        def client():
            while not stop.is_set():
                r = _search(url, queries[1])
                if r.status_code != 200:
                    failures.append(r.status_code)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            _wait_for(f"{count} replicas under a burst", lambda: serverless.replica_count() >= count, 60)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert not failures

    started = time.monotonic()
    first = _search(url, queries[1])  # from zero: waits for a replica to open the namespace
    cold = time.monotonic() - started
    assert first.status_code == 200 and first.json()["results"], first.text
    target = first.json()["results"][0]["id"]
    burst_until(2)
    _wait_for("back to zero when idle", lambda: serverless.replica_count(running_only=False) == 0, 60)
    again = _search(url, queries[1])  # after scale-to-zero: a cold start, then the same answer
    assert again.status_code == 200 and again.json()["results"][0]["id"] == target
    print(f"cold start to first answer: {cold:.2f} s")
    # MIN 1: the same application re-deployed; idleness takes it back to one, never to zero.
    _deploy(root, port, False, min_replicas=1, max_replicas=2, target_ongoing=1.0)
    _wait_for("one replica at MIN 1", lambda: serverless.replica_count() == 1, 60)
    burst_until(2)
    _wait_for("back to MIN when idle", lambda: serverless.replica_count(running_only=False) == 1, 60)
    time.sleep(3)  # longer than the downscale-to-zero delay
    assert serverless.replica_count(running_only=False) == 1
    assert _search(url, queries[1]).json()["results"][0]["id"] == target
    serverless.undeploy()
