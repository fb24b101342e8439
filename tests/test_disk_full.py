"""Disk full is one typed error (507 insufficient_storage), leaves nothing half-made and clears
itself once space returns. Two real ways to fill a disk: a small tmpfs (as root, where mount
works) under a live server, and RLIMIT_FSIZE (EFBIG) in a subprocess, which runs anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

DIMS = 64
TMPFS_BYTES = 3 << 20


def batch(b: int, n: int = 200) -> list[dict]:
    x = np.random.default_rng(b).standard_normal((n, DIMS)).astype(np.float32)
    return [{"id": f"b{b}-{i}", "vector": x[i].tolist(), "text": "t" * 200, "metadata": {"b": b}} for i in range(n)]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a tmpfs needs root; test_file_size_limit_is_disk_full covers EFBIG without it")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the RLIMIT_FSIZE test covers EFBIG")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_gives_507_and_recovers(small_disk, live_server):
    ballast = small_disk / "ballast"
    srv = live_server(data_dir=small_disk / "data")
    url, acked = srv.url, {}

    def post(path, body):
        return httpx.post(url + path, json=body, timeout=60)

    assert post("/v1/namespaces", {"namespace_name": "full", "vector_dimension": DIMS}).status_code == 201
    for b in range(200):  # fill the disk with acknowledged batches until a write is refused
        r = post("/v1/namespaces/full/vectors", {"vectors": batch(b)})
        if r.status_code != 201:
            break
        acked[b] = batch(b)
    assert r.status_code == 507, r.text
    assert r.json()["error"] == "insufficient_storage" and "free disk space" in r.json()["message"]
    assert acked, "the disk filled before the first batch"
    # Every other kind of write on the full disk is a 507 too, and leaves nothing behind.
    delete_ids = [f"b{b}-{i}" for b in acked for i in range(200)]
    for what, attempt in (("create", lambda: post("/v1/namespaces", {"namespace_name": "other",
                                                                     "vector_dimension": DIMS})),
                          ("compact", lambda: post("/v1/namespaces/full/compact", {})),
                          ("delete", lambda: post("/v1/namespaces/full/vectors/delete", {"ids": delete_ids}))):
        _fill(ballast)
        r = attempt()
        ballast.unlink()
        if what == "delete" and r.status_code == 200:  # a tombstone may fit in SQLite's free pages
            acked.clear()
            continue
        assert r.status_code == 507 and r.json()["error"] == "insufficient_storage", (what, r.text)
    names = [p.name for p in (small_disk / "data").iterdir()]
    assert not [n for n in names if n.startswith(".creating-") or n == "other"], names
    assert not list((small_disk / "data" / "full").glob("*.compact"))
    assert httpx.get(url + "/v1/namespaces", timeout=30).status_code == 200

    # Space returns (the disk grows, as when an operator frees space: the ballast alone gives back
    # only the few bytes the last refused write could not use, less than a commit with its
    # keyword-index pages needs): the next write succeeds, and acknowledged data is intact.
    ballast.unlink(missing_ok=True)
    subprocess.run(["mount", "-o", f"remount,size={2 * TMPFS_BYTES}", str(small_disk)], check=True)
    assert post("/v1/namespaces/full/vectors", {"vectors": batch(999, 10)}).status_code == 201
    _assert_intact(url, acked)
    srv.stop()
    again = live_server(data_dir=small_disk / "data")  # and after a restart
    _assert_intact(again.url, acked)


def _fill(ballast: Path) -> None:
    with open(ballast, "ab") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def _assert_intact(url: str, acked: dict[int, list[dict]]) -> None:
    for items in list(acked.values())[:5] + list(acked.values())[-2:]:
        ids = [it["id"] for it in items]
        got = httpx.post(f"{url}/v1/namespaces/full/documents/get", json={"ids": ids, "include_vectors": True},
                         timeout=60).json()["documents"]
        assert [g["id"] for g in got] == ids
        want = np.asarray([it["vector"] for it in items], np.float16).astype(np.float32)
        assert np.array_equal(np.asarray([g["vector"] for g in got], np.float32), want)


LIMITED_WRITER = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from bitsift.engine.local import Engine
    from bitsift.core.errors import DiskFull
    path, limit = sys.argv[1], int(sys.argv[2])
    engine = Engine(path)
    engine.create_namespace("full", dimension=64)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    acked, error = [], None
    for b in range(100):
        x = np.random.default_rng(b).standard_normal((200, 64)).astype(np.float32)
        try:
            engine.upsert("full", [{"id": f"b{b}-{i}", "vector": x[i]} for i in range(200)])
        except DiskFull as exc:
            error = exc.to_dict()
            break
        acked.append(b)
    try:
        engine.compact("full")
    except DiskFull:
        pass
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    x = np.ones((1, 64), np.float32)
    engine.upsert("full", [{"id": "after", "vector": x[0]}])  # the limit is lifted: writes work again
    print(json.dumps({"acked": acked, "error": error}))
""")


def test_file_size_limit_is_disk_full(tmp_path):
    """EFBIG from RLIMIT_FSIZE (a row file outgrows 400 KB after ~12 batches): the same typed
    error, nothing committed of the refused batch, and the next write succeeds."""
    data = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
    done = subprocess.run([sys.executable, "-c", LIMITED_WRITER, str(data), str(400_000)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"]["status"] == 507 and result["error"]["error"] == "insufficient_storage"
    assert 0 < len(result["acked"]) < 100
    from bitsift.engine.local import Engine

    engine = Engine(data)
    try:
        assert engine.describe_namespace("full")["item_count"] == 200 * len(result["acked"]) + 1
        last = result["acked"][-1]
        x = np.random.default_rng(last).standard_normal((200, DIMS)).astype(np.float32)
        got = engine.get("full", [f"b{last}-{i}" for i in range(200)], include_vectors=True)
        assert np.array_equal(np.asarray([g["vector"] for g in got], np.float32), x.astype(np.float16).astype(np.float32))
        assert not list((data / "full").glob("*.compact"))
        refused = result["acked"][-1] + 1
        assert engine.get("full", [f"b{refused}-0"]) == []
    finally:
        engine.close()


def test_a_half_made_folder_of_an_older_create_is_ignored_and_replaced(tmp_path):
    """An older bitsift's create interrupted by a full disk left a folder holding only
    manifest.json.tmp, and GET /v1/namespaces was a 500 until someone removed it by hand."""
    from bitsift.engine.local import Engine

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "manifest.json.tmp").write_text('{"format_ver')
    engine = Engine(tmp_path)
    try:
        assert engine.list_namespaces() == []
        engine.create_namespace("half", dimension=DIMS)
        assert [n["namespace_name"] for n in engine.list_namespaces()] == ["half"]
    finally:
        engine.close()
