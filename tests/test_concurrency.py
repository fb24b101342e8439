"""Readers and writers across threads and clients: found by review, kept as regressions."""

from __future__ import annotations

import threading
import time

import numpy as np

import bitsift
from bitsift.engine import namespace as ns_module
from bitsift.storage.lock import writer_lock

DIMS = 16


def vectors(rng, n):
    return rng.standard_normal((n, DIMS)).astype(np.float32)


def test_a_reader_never_cuts_rows_another_writer_is_committing(tmp_path, rng):
    path = tmp_path / "d"
    x = vectors(rng, 6)
    with bitsift.Client(path=path) as a, bitsift.Client(path=path) as b:
        a.create_namespace("ns", dimension=DIMS)
        b.list_namespaces()
        a.upload_vectors("ns", [{"id": "a0", "vector": x[0]}])  # b is now stale
        folder = path / "ns"
        codes = folder / "codes.u64"
        done = threading.Event()
        with writer_lock(folder / "writer.lock"):  # a writer between its fsync and its commit
            with open(codes, "ab") as f:
                f.write(b"\\x00" * 8 * 3)
            size = codes.stat().st_size
            reader = threading.Thread(target=lambda: (b.search("ns", x[0].tolist(), top_k=1), done.set()))
            reader.start()
            time.sleep(0.3)
            assert codes.stat().st_size == size and not done.is_set()  # the reader waits, cuts nothing
        reader.join(10)
        assert done.is_set()
        assert b.search("ns", x[0].tolist(), top_k=1)["results"][0]["id"] == "a0"


def test_search_overlapping_compaction_returns_the_right_items(tmp_path, rng, monkeypatch):
    x = vectors(rng, 6)
    with bitsift.Client(path=tmp_path / "d") as c:
        c.create_namespace("ns", dimension=DIMS)
        c.upload_vectors("ns", [{"id": f"i{i}", "vector": v} for i, v in enumerate(x)])
        c.delete("ns", ["i0", "i1", "i2"])
        want = c.search("ns", x[5].tolist(), top_k=3, mode="binary")["results"]
        real_scan = ns_module.kernel.scan_topk

        def slow_scan(*args, **kwargs):
            out = real_scan(*args, **kwargs)
            time.sleep(0.5)  # compaction runs now, renumbering rows
            return out

        monkeypatch.setattr(ns_module.kernel, "scan_topk", slow_scan)
        got: list = []
        searcher = threading.Thread(target=lambda: got.append(c.search("ns", x[5].tolist(), top_k=3, mode="binary")))
        searcher.start()
        time.sleep(0.1)
        assert c.compact("ns") == {"rows_before": 6, "rows_after": 3}
        searcher.join(10)
        assert got and got[0]["results"] == want


def test_center_learned_by_another_client_is_picked_up(tmp_path, rng):
    path = tmp_path / "d"
    x = vectors(rng, 50) + 4.0
    with bitsift.Client(path=path) as a, bitsift.Client(path=path) as b:
        a.create_namespace("ns", dimension=DIMS, binarizer="centered")
        b.describe_namespace("ns")  # opened before the center exists
        a.upload_vectors("ns", [{"id": f"i{i}", "vector": v} for i, v in enumerate(x)])
        q = x[7].tolist()
        assert b.search("ns", q, top_k=3, mode="binary")["results"] == a.search("ns", q, top_k=3, mode="binary")["results"]
        assert b.search("ns", q, top_k=1, mode="binary")["results"][0]["id"] == "i7"


def test_filter_with_an_integer_beyond_64_bits_is_not_a_crash(tmp_path, rng):
    with bitsift.Client(path=tmp_path / "d") as c:
        c.create_namespace("ns", dimension=DIMS)
        c.upload_vectors("ns", [{"id": "a", "vector": vectors(rng, 1)[0], "metadata": {"x": 1}}])
        for flt in ({"x": 10**20}, {"x": {"$in": [10**20, 1]}}, {"x": {"$lt": 10**20}}):
            res = c.search("ns", [0.1] * DIMS, top_k=1, filter=flt)
            assert [r["id"] for r in res["results"]] == ([] if flt == {"x": 10**20} else ["a"])
