"""Snapshots taken while another process writes restore to namespaces that open cleanly and hold
a prefix of the acknowledged batches; over REST they live only under the server's directory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import bitsift
from bitsift.api.http_client import HTTPClient
from bitsift.core.errors import InvalidInput, InvalidName, NamespaceExists
from crash_writer import BATCH, batch_items

HERE = Path(__file__).parent


def batches_present(client, name: str, upto: int) -> list[int]:
    """Which batches the namespace holds; each must be whole (its 200 items, or 199 once the
    writer deleted its first item) or absent."""
    present = []
    for b in range(upto):
        got = {g["id"] for g in client.get(name, [f"b{b}-{i}" for i in range(BATCH)])}
        assert len(got) in (0, BATCH - 1, BATCH), f"{name}: batch {b} half there ({len(got)} items)"
        if got:
            present.append(b)
    return present


def test_snapshots_during_a_write_stream_restore_a_prefix_of_the_acknowledged_batches(tmp_path):
    data = tmp_path / "data"
    writer = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), str(data), "0"],
                              stdout=subprocess.PIPE, text=True, cwd=HERE)
    acked = [-1]

    def follow() -> None:
        for line in writer.stdout:  # type: ignore[union-attr]
            if line.startswith("ACK"):
                acked[0] = int(line.split()[1])
    assert writer.stdout.readline().strip() == "READY"  # type: ignore[union-attr]
    threading.Thread(target=follow, daemon=True).start()
    taken = []
    try:
        with bitsift.Client(path=data) as client:
            for i in range(4):
                while acked[0] < 3 * (i + 1):
                    time.sleep(0.02)
                before = acked[0]
                info = client.snapshot("crash", str(tmp_path / f"snap{i}"))
                taken.append((before, acked[0] + 1, info))  # batches acknowledged before; at most one more in flight
                if i == 1:
                    client.compact("crash")  # rows renumbered between snapshots: the next one is still whole
    finally:
        writer.kill()
        writer.wait()
    with bitsift.Client(path=tmp_path / "restored") as client:
        for i, (before, after, info) in enumerate(taken):
            restored = client.restore(str(tmp_path / f"snap{i}"), f"r{i}")
            present = batches_present(client, f"r{i}", after + 2)
            assert present == list(range(len(present))), f"snapshot {i} is not a prefix: {present}"
            assert before < len(present) <= after + 1, (before, present, after)
            assert restored["item_count"] == client.count(f"r{i}") > 0
            last = present[-1]
            vec = batch_items(last)[5]["vector"]
            assert client.search(f"r{i}", vec.tolist(), top_k=1)["results"][0]["id"] == f"b{last}-5"
            words = client.search(f"r{i}", vec, mode="keyword", keywords=f"batch{last}", top_k=BATCH)["results"]
            assert len(words) in (BATCH - 1, BATCH)  # the keyword index came along
            assert info["namespace"] == "crash" and info["rows"] >= len(present) * (BATCH - 1)
        client.upload_vectors("r0", [{"id": "new", "vector": np.ones(64, np.float32)}])  # a restored namespace is writable
        assert client.get("r0", ["new"])


def test_snapshot_and_restore_refuse_what_they_must(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as client:
        client.create_namespace("s", dimension=4)
        client.upload_vectors("s", [{"id": "a", "vector": [1.0, 0, 0, 0]}])
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("mine")
        with pytest.raises(InvalidInput, match="not an empty folder"):
            client.snapshot("s", str(tmp_path / "full"))
        assert (tmp_path / "full" / "x").read_text() == "mine"
        client.snapshot("s", str(tmp_path / "snap"))
        with pytest.raises(NamespaceExists):
            client.restore(str(tmp_path / "snap"), "s")
        with pytest.raises(InvalidInput, match="not a bitsift snapshot"):
            client.restore(str(tmp_path / "full"), "t")
        assert not (tmp_path / "data" / "t").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".snapshot-")] == []


def test_rest_snapshots_only_under_the_servers_directory(tmp_path, live_server):
    plain = live_server(data_dir=tmp_path / "a")
    with HTTPClient(plain.url) as c:
        c.create_namespace("s", dimension=4)
        r = httpx.post(f"{plain.url}/v1/namespaces/s/snapshot", json={"snapshot": "x"})
        assert r.status_code == 403 and r.json()["error"] == "snapshots_disabled"
    server = live_server(data_dir=tmp_path / "b", snapshot_dir=tmp_path / "snaps")
    with HTTPClient(server.url) as c:
        c.create_namespace("s", dimension=4)
        c.upload_vectors("s", [{"id": "a", "vector": [1.0, 0, 0, 0], "metadata": {"k": 1}}])
        info = c.snapshot("s", "nightly")
        assert info["snapshot"] == "nightly" and (tmp_path / "snaps" / "nightly" / "snapshot.json").is_file()
        assert c.restore("nightly", "copy")["item_count"] == 1
        assert c.get("copy", ["a"])[0]["metadata"] == {"k": 1}
        with pytest.raises(InvalidName):
            c.snapshot("s", "../escape")
        bad = httpx.post(f"{server.url}/v1/namespaces/s/snapshot", json={"snapshot": "../../etc"})
        assert bad.status_code == 400 and not (tmp_path / "etc").exists()
        missing = httpx.post(f"{server.url}/v1/snapshots/nothing/restore", json={"namespace_name": "z"})
        assert missing.status_code == 400 and "no snapshot" in missing.json()["message"]
