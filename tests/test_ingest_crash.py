"""SIGKILL during asynchronous ingestion: a real ``bitsift serve`` process is killed at 20 random
moments while 500 documents are uploaded. Every document acknowledged with 202 is present after
the restarts, exactly once, with all of its chunks; and the embeddings, logged by the embedder
outside the server's memory (counting_embedder), show that only a batch in flight at a kill was
ever embedded again: never a committed chunk, at most one batch per kill.

The counting embedder stands in for the bundled model (too slow to kill 20 times in a test)."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.text.documents import chunk_documents
from counting_embedder import DELAY_ENV, LOG_ENV, NAME, calls, digest

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parent
ROOT = TESTS.parent
KILLS, DOCUMENTS, PER_REQUEST = 20, 500, 10


def _documents() -> list[dict]:
    rng = random.Random(5)
    words = [f"w{i}" for i in range(3000)]
    docs = []
    for i in range(DOCUMENTS):
        size = rng.choice([300, 900, 1800, 2600])  # one to four chunks
        text = f"document {i}: " + " ".join(rng.choice(words) for _ in range(size // 5))
        docs.append({"id": f"doc-{i}", "text": text, "n": i})
    return docs


class Server:
    """``tests/ingest_server.py`` on a fixed port, killed and restarted at will."""

    def __init__(self, data: Path, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data, self.out = data, open(log.with_suffix(".server.log"), "w")  # noqa: SIM115
        self.env = {**os.environ, LOG_ENV: str(log), DELAY_ENV: "0.15",
                    "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc: subprocess.Popen | None = None
        self.up = threading.Event()

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(TESTS / "ingest_server.py"), str(self.data), str(self.port)],
                                     env=self.env, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.up.set()

    def kill(self) -> tuple[int, set[str]]:
        """SIGKILL; returns the dead server's pid and the digests of the chunk texts committed
        when it died (read from items.sqlite before anything else opens the folder)."""
        assert self.proc is not None
        self.up.clear()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        items = self.data / "crash" / "items.sqlite"
        db = sqlite3.connect(f"file:{items}?mode=ro", uri=True)
        try:
            committed = {digest(t) for (t,) in db.execute("SELECT text FROM items WHERE alive = 1")}
        finally:
            db.close()
        return self.proc.pid, committed

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.close()


def _send_all(server: Server, docs: list[dict], acked: set[str], done: threading.Event) -> None:
    """Upload in requests of PER_REQUEST documents; a request that got no 202 is sent again
    once the server is back (as a client of a crashed server would)."""
    with httpx.Client(timeout=10) as http:
        for i in range(0, len(docs), PER_REQUEST):
            part = docs[i : i + PER_REQUEST]
            while True:
                server.up.wait(60)
                try:
                    r = http.post(f"{server.url}/v1/namespaces/crash/documents", json={"documents": part})
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                assert r.status_code == 202, r.text
                acked.update(r.json()["submitted_ids"])
                time.sleep(0.05)  # spread the uploads over the kills
                break
    done.set()


def test_sigkill_during_async_ingestion_loses_nothing_and_embeds_only_the_batch_in_flight(tmp_path):
    log = tmp_path / "embeddings.log"
    server = Server(tmp_path / "data", log)
    docs = _documents()
    expected = chunk_documents(docs, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)
    chunks_of: dict[str, set[str]] = {}
    for id_, parent in zip(expected.ids, expected.parents):
        chunks_of.setdefault(parent, set()).add(id_)
    rng = random.Random(2026)
    acked: set[str] = set()
    sent = threading.Event()
    try:
        server.start()
        r = httpx.post(f"{server.url}/v1/namespaces", json={"namespace_name": "crash", "type": "text", "model": NAME},
                       timeout=30)
        assert r.status_code == 201, r.text
        sender = threading.Thread(target=_send_all, args=(server, docs, acked, sent), daemon=True)
        sender.start()
        committed_at_death: dict[int, set[str]] = {}
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 1.2))
            pid, committed = server.kill()
            committed_at_death[pid] = committed
            server.start()
        sender.join(300)
        assert sent.is_set(), "the uploads did not finish"
        with httpx.Client(base_url=server.url, timeout=30) as http:
            deadline = time.monotonic() + 240
            while True:
                jobs = http.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]
                if all(j["state"] not in ("queued", "running") for j in jobs):
                    break
                assert time.monotonic() < deadline, "jobs did not finish"
                time.sleep(0.2)
            assert {j["state"] for j in jobs} == {"done"}, [j for j in jobs if j["state"] != "done"]
            stored: dict[str, list[str]] = {}
            token = None
            while True:
                params = {"limit": 1000, **({"next_token": token} if token else {})}
                page = http.get("/v1/namespaces/crash/documents/fetch-text-data", params=params).json()
                for item in page["items"]:
                    stored.setdefault(item["metadata"]["document_id"], []).append(item["id"])
                token = page["pagination"]["next_token"]
                if token is None:
                    break
    finally:
        server.stop()

    assert len(acked) == DOCUMENTS  # the sender resent until each part was acknowledged
    for doc_id in acked:
        assert doc_id in stored, f"{doc_id} was acknowledged with 202 and is missing"
        assert sorted(stored[doc_id]) == sorted(chunks_of[doc_id]), doc_id  # every chunk, each once
    assert set(stored) <= set(chunks_of)

    # Embeddings: a text embedded again must be in the first call after a restart, in the last
    # call of the process before it (the batch the kill interrupted), and not committed when
    # that process died.
    texts = {digest(t) for t in expected.texts}
    log_calls = calls(log)
    seen: set[str] = set()
    again, previous, previous_pid = 0, [], None
    for pid, digests in log_calls:
        first_of_process = pid != previous_pid
        repeated = [d for d in digests if d in seen]
        if repeated:
            again += 1
            assert first_of_process, "a text was embedded twice by one process"
            assert set(repeated) <= set(previous), "a text was embedded again that was not in flight at a kill"
            assert previous_pid in committed_at_death
            assert not set(repeated) & committed_at_death[previous_pid], "a committed chunk was embedded again"
        seen.update(digests)
        previous, previous_pid = digests, pid
    assert seen == texts
    assert again <= KILLS
    print(f"{len(log_calls)} embed calls, {again} repeated a batch in flight at a kill, {KILLS} kills")
