"""Read-only namespace handles (a search replica's): they open, refresh and search without the
writer lock, never cut or write a file, see only committed rows, and follow the writer's
commits, compactions included."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import numpy as np
import pytest

from bitsift.core.errors import NamespaceBusy, NamespaceGone, ReadOnly
from bitsift.engine.local import Engine, LocalParts
from bitsift.engine.namespace import Namespace
from bitsift.engine.pipeline import search
from bitsift.engine.request import parse_search
from bitsift.storage import folder as folder_module
from bitsift.storage.folder import CODES, CORRECTIVES, ITEMS, LOCK, VECTORS
from bitsift.storage.lock import writer_lock

DIM = 32


def _items(rng, start, n):
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return [{"id": f"i{start + j:05d}", "vector": x[j], "text": f"t{start + j}", "metadata": {"n": start + j}}
            for j in range(n)], x


def _hits(ns, query, mode="rescore", top_k=10, flt=None):
    request = parse_search(ns.name, [query], top_k=top_k, mode=mode, filter=flt, single=True, threshold=None,
                           kiosk_mode=False, oversample=None, partial=False)
    return [(h["id"], h["score"]) for h in search(request, LocalParts([ns]))[0]["results"]]


@pytest.fixture
def written(tmp_path, rng):
    engine = Engine(tmp_path)
    engine.create_namespace("docs", dimension=DIM)
    items, x = _items(rng, 0, 500)
    engine.upsert("docs", items)
    yield engine, tmp_path / "docs", x
    engine.close()


def test_a_read_only_handle_never_takes_the_writer_lock(written, rng, monkeypatch):
    engine, path, x = written
    calls = []
    monkeypatch.setattr(folder_module, "writer_lock", lambda *a, **k: calls.append(a) or pytest.fail("locked"))
    with writer_lock(path / LOCK, timeout_s=0):  # a writer holds it the whole time (another fd: flock excludes)
        ro = Namespace(path, read_only=True)
        assert _hits(ro, x[3])[0][0] == "i00003"
        monkeypatch.undo()  # the writer may lock again; the reader still must not
        done = threading.Thread(target=engine.upsert, args=("docs", _items(rng, 500, 10)[0]))
        done.start()
        time.sleep(0.2)
        assert done.is_alive()  # the writer waits for the lock held here...
        monkeypatch.setattr(folder_module, "writer_lock", lambda *a, **k: pytest.fail("locked"))
        assert ro.count == 500  # ...while the reader opens, refreshes and searches without it
    done.join(10)
    assert ro.count == 510 and not calls
    with pytest.raises(ReadOnly):
        ro.upsert(_items(rng, 900, 1)[0])
    with pytest.raises(ReadOnly):
        ro.delete(["i00001"])
    ro.close()


def test_a_read_only_handle_sees_only_committed_rows_and_cuts_nothing(written, rng):
    engine, path, x = written
    engine.close()
    # What a writer killed mid-append leaves: rows past the committed count in every row file.
    sizes = {}
    for name, width in ((CODES, 8 * 1), (VECTORS, 2 * DIM), (CORRECTIVES, 8)):
        with open(path / name, "ab") as f:
            f.write(os.urandom(7 * width))
        sizes[name] = (path / name).stat().st_size
    items_bytes = (path / ITEMS).read_bytes()
    ro = Namespace(path, read_only=True)
    assert ro.count == 500 and ro._state.rows == 500
    assert _hits(ro, x[7], mode="binary")[0][0] == "i00007"
    assert {n: (path / n).stat().st_size for n in sizes} == sizes  # nothing cut
    assert (path / ITEMS).read_bytes() == items_bytes  # nothing written to SQLite either
    ro.close()
    Namespace(path).close()  # a writer's open cuts them back, as before
    assert (path / CODES).stat().st_size == 500 * 8


def test_a_read_only_handle_follows_writes_deletes_and_compactions(written, rng):
    engine, path, x = written
    ro = Namespace(path, read_only=True)
    writer = engine.namespace("docs")
    for mode in ("rescore", "binary"):
        for q in x[:5]:
            assert _hits(ro, q, mode) == _hits(writer, q, mode)
    packed = ro._state.packed
    items, y = _items(rng, 500, 40)
    engine.upsert("docs", items)
    assert _hits(ro, y[5])[0][0] == "i00505"
    assert ro._state.packed is packed  # caught up in place: only the 40 new rows were read
    engine.delete("docs", ["i00505", "i00003"])
    engine.upsert("docs", [{**items[6], "metadata": {"n": -1}}])  # a replacement: new row, old one dead
    assert "i00505" not in dict(_hits(ro, y[5], top_k=50))
    assert dict(_hits(ro, y[6], flt={"n": -1}))["i00506"] > 0.9
    assert ro.count == writer.count == 538
    engine.compact("docs")
    for q in (x[10], y[6], -x[2]):
        assert _hits(ro, q) == _hits(writer, q)
    assert ro._state.epoch == writer._state.epoch == 1 and ro._state.rows == 538
    engine.delete_namespace("docs")
    with pytest.raises(NamespaceGone):
        ro.refresh_if_stale()
    ro.close()


def test_a_read_only_open_waits_out_a_pending_compaction(written, monkeypatch):
    engine, path, _ = written
    engine.close()
    with sqlite3.connect(path / ITEMS) as c:  # a compaction committed, its files not yet moved in
        c.execute("INSERT OR REPLACE INTO meta VALUES ('compact_pending', '1')")
    monkeypatch.setattr(folder_module, "READ_RETRY_S", 0.2)
    with pytest.raises(NamespaceBusy):  # 503 with Retry-After: a writer's open finishes it
        Namespace(path, read_only=True)
    Namespace(path).close()
    ro = Namespace(path, read_only=True)
    assert ro.count == 500
    ro.close()


def test_searches_on_a_read_only_handle_stay_right_while_a_writer_writes_and_compacts(tmp_path):
    """Bounded (about 3 s): a writer thread upserts, deletes and compacts; a reader searches for
    the vector of an item acknowledged before the search began and must find it first."""
    rng = np.random.default_rng(3)
    engine = Engine(tmp_path)
    engine.create_namespace("docs", dimension=DIM)
    vectors = rng.standard_normal((4000, DIM)).astype(np.float32)
    acked: list[int] = []
    engine.upsert("docs", [{"id": f"i{j:05d}", "vector": vectors[j]} for j in range(200)])
    acked.extend(range(200))
    stop = threading.Event()

    def write() -> None:
        j = 200
        while not stop.is_set() and j < 4000:
            engine.upsert("docs", [{"id": f"i{k:05d}", "vector": vectors[k]} for k in range(j, j + 50)])
            acked.extend(range(j, j + 50))
            engine.delete("docs", [f"d{j}"])  # a generation bump with nothing deleted
            if j % 500 == 0:
                engine.upsert("docs", [{"id": "gone", "vector": vectors[0] * -1}])
                engine.delete("docs", ["gone"])
                engine.compact("docs")
            j += 50

    ro = Namespace(tmp_path / "docs", read_only=True)
    writer = threading.Thread(target=write)
    writer.start()
    deadline, checked = time.monotonic() + 3, 0
    try:
        while time.monotonic() < deadline:
            j = acked[int(rng.integers(len(acked)))]
            assert _hits(ro, vectors[j], top_k=1)[0][0] == f"i{j:05d}"
            checked += 1
    finally:
        stop.set()
        writer.join(30)
    assert checked > 20 and ro._state.epoch >= 1  # it searched across at least one compaction
    ro.close()
    engine.close()


@pytest.mark.parametrize("refill", [0, 120])
def test_a_compaction_between_reading_the_count_and_the_rows_is_noticed(written, rng, monkeypatch, refill):
    """The window a lock-free read has: the count and ids read, then a compaction (and, with
    ``refill``, enough new rows that the new files are no shorter), then the row files. The
    reader must notice and read again, never pair the old ids with the renumbered rows."""
    engine, path, x = written
    ro = Namespace(path, read_only=True)
    engine.delete("docs", [f"i{j:05d}" for j in range(0, 500, 5)])
    real = folder_module.read_manifest
    injected = []

    def compact_once(p):
        if not injected and threading.current_thread().name == "reader":
            injected.append(1)
            engine.compact("docs")
            if refill:
                engine.upsert("docs", _items(rng, 1000, refill)[0])
        return real(p)

    engine.upsert("docs", _items(rng, 2000, 10)[0])  # so the reader has rows to catch up on
    monkeypatch.setattr(folder_module, "read_manifest", compact_once)
    failed: list[BaseException] = []
    reader = threading.Thread(target=lambda: _capture(ro.refresh_if_stale, failed), name="reader")
    reader.start()
    reader.join(30)
    monkeypatch.undo()
    assert injected and not failed
    writer = engine.namespace("docs")
    assert ro._state.generation == writer._state.generation  # that one refresh read the compacted state
    assert ro._state.epoch == writer._state.epoch == 1
    assert list(ro._state.ids[: ro._state.rows]) == list(writer._state.ids[: writer._state.rows])
    codes = engine.namespace("docs").files.codes
    assert np.array_equal(ro._state.packed.snapshot().blocks, writer._state.packed.snapshot().blocks)
    assert codes.size() == writer._state.rows * codes.row_bytes
    for q in x[1:4]:
        assert _hits(ro, q) == _hits(writer, q)
    ro.close()


def _capture(call, failed):
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test asserts there was none
        failed.append(exc)
