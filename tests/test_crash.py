"""SIGKILL a writer at random moments: every acknowledged batch survives, nothing else shows."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

import bitsift
from bitsift.storage import keywords
from crash_writer import BATCH, batch_items

pytestmark = pytest.mark.slow  # ~10 s: 24 writer processes killed at random moments

KILLS = 24
HERE = Path(__file__).parent


def run_until_killed(path: Path, first: int, delay: float) -> int | None:
    """Start a writer, let it run ``delay`` seconds after it is ready, SIGKILL it; last ACK or None."""
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), str(path), str(first)],
                            stdout=subprocess.PIPE, text=True, cwd=HERE)
    acked: list[int] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            if line.startswith("READY"):
                ready.set()
            elif line.startswith("ACK"):
                acked.append(int(line.split()[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(60)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(10)
    return acked[-1] if acked else None


def test_sigkill_never_loses_acknowledged_writes(tmp_path):
    rng = random.Random(99)
    path = tmp_path / "data"
    acked_upto = -1     # every batch <= this was acknowledged
    maybe: set[int] = set()  # batches in flight when a writer died: all or nothing
    first = 0
    for _ in range(KILLS):
        last = run_until_killed(path, first, rng.uniform(0.0, 0.25))
        if last is not None:
            acked_upto = last
        maybe.add(acked_upto + 1 if last is not None else first)
        first = max(first, acked_upto + 1) + 1  # never reuse an id that might be half-known

    with bitsift.Client(path=path) as client:
        present = set()
        for b in range(first + 1):
            ids = [f"b{b}-{i}" for i in range(BATCH)]
            got = {g["id"] for g in client.get("crash", ids)}
            expected_deleted = {f"b{b}-0"} if b % 7 == 3 else set()
            if b <= acked_upto and b not in maybe:
                assert got == set(ids) - expected_deleted, f"acknowledged batch {b} lost items"
            elif b in maybe:
                assert len(got - {f"b{b}-0"}) in (0, BATCH - 1), f"batch {b} half visible: {len(got)}"
            else:
                assert not got, f"batch {b} was never written but shows {len(got)} items"
            present |= got
            if got and b % 5 == 0:  # the keyword index holds exactly what survived, no more
                words = client.search("crash", batch_items(b)[1]["vector"].tolist(), mode="keyword",
                                      keywords=f"batch{b}", top_k=BATCH)["results"]
                assert {h["id"] for h in words} == got
        # The scan sees exactly the stored items: the best hit of a stored vector is itself.
        assert client.describe_namespace("crash")["item_count"] == len(present)
        sample = sorted(present)[:: max(1, len(present) // 5)]
        for item_id in sample:
            b, i = (int(v) for v in item_id[1:].split("-"))
            vec = batch_items(b)[i]["vector"]
            hit = client.search("crash", vec.tolist(), top_k=1)["results"][0]
            assert hit["id"] == item_id and hit["score"] == 1.0
    with closing(sqlite3.connect(path / "crash" / "items.sqlite")) as c:
        keywords.check(c)  # FTS5's own check: the index equals the live texts
    assert acked_upto > 5, "the writer never got going; the test proved nothing"
