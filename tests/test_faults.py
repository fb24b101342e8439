"""The fault campaign, bounded for ``make test`` (the long version: ``python -m benchmarks.faults``):
SIGKILLs of two writer processes on one folder across upsert, delete, compaction and namespace
delete + re-create; 32 clients of mixed load on a real ``bitsift serve``; and SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import closing

import httpx
import numpy as np
import pytest

from benchmarks.faults import kill_campaign, mixed_load, served
from bitsift.engine.local import Engine

pytestmark = pytest.mark.slow


def test_sigkills_of_two_writers_on_one_folder(tmp_path):
    report = kill_campaign(tmp_path / "data", kills=16, seed=13)
    assert report.failures() == 0, report
    # the kills landed across every kind of write, or the test proved little
    assert report.acked_batches > 20 and report.acked_compactions > 3 and report.acked_cycles > 3, report


def test_mixed_load_loses_nothing_and_never_answers_5xx(tmp_path):
    with served(tmp_path / "data") as server:
        report = mixed_load(server.url, clients=32, seconds=12.0, seed=3)
    assert report.failures() == 0, report.unexpected[:10]
    assert report.checked_items > 500 and report.statuses.get("201", 0) > 100, report
    assert report.statuses.get("404", 0) > 0  # the churn namespace was really deleted under requests


def test_sigterm_finishes_in_flight_writes_and_loses_nothing(tmp_path):
    dims = 16
    acked: list[str] = []
    lock = threading.Lock()
    with served(tmp_path / "data") as server:
        httpx.post(f"{server.url}/v1/namespaces", json={"namespace_name": "t", "vector_dimension": dims}, timeout=30)

        def write(n: int) -> None:
            rng = np.random.default_rng(n)
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for b in range(10_000):
                    ids = [f"w{n}-{b}-{i}" for i in range(50)]
                    body = {"vectors": [{"id": i, "vector": rng.standard_normal(dims).tolist()} for i in ids]}
                    try:
                        r = http.post("/v1/namespaces/t/vectors", json=body)
                    except httpx.TransportError:
                        return  # the server stopped accepting
                    if r.status_code != 201:
                        return
                    with lock:
                        acked.extend(ids)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(60)
        stopped_s = time.monotonic() - t0
        for t in threads:
            t.join(60)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it ended
    log = server.log.read_text()
    assert code in (0, -signal.SIGTERM) and stopped_s < 30, (code, stopped_s, log[-2000:])
    assert "Finished server process" in log and "Traceback" not in log
    assert len(acked) > 200
    with closing(Engine(tmp_path / "data")) as engine:
        found = {g["id"] for g in engine.get("t", acked)}
    assert found == set(acked), f"{len(set(acked) - found)} acknowledged items lost"
