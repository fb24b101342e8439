"""Scrolling (core.cursor, Engine.scroll): every item in id order, a page at a time; an item
present for the whole scroll is returned exactly once, whatever is written meanwhile."""

from __future__ import annotations

import threading
from contextlib import closing

import numpy as np
import pytest

from bitsift.core import cursor
from bitsift.core.errors import InvalidFilter, InvalidInput, NamespaceNotFound
from bitsift.engine.local import Engine
from livesrv import live_server  # noqa: F401 - fixture

DIMS = 8


def _items(rng, ids, **meta):
    return [{"id": i, "vector": rng.standard_normal(DIMS).tolist(), "text": f"t {i}", "metadata": meta} for i in ids]


def test_cursor_round_trip_and_refusals():
    for last in ("a", "doc#chunk-3", "é/ü ☃", "x" * 512):
        assert cursor.decode_cursor(cursor.encode_cursor(last)) == last
    assert cursor.decode_cursor(None) is None
    for bad in ("", "***", 5, "_w"):  # "_w" decodes to a byte that is not UTF-8
        with pytest.raises(InvalidInput):
            cursor.decode_cursor(bad)
    for bad in (0, 1001, True, "5", 2.0):
        with pytest.raises(InvalidInput):
            cursor.check_limit(bad)


def test_pages_cover_every_live_item_once_in_id_order(tmp_path, rng):
    with closing(Engine(tmp_path)) as engine:
        engine.create_namespace("s", dimension=DIMS)
        ids = [f"i{n:04d}" for n in rng.permutation(523)]
        engine.upsert("s", _items(rng, ids[:300], g=0))
        engine.upsert("s", _items(rng, ids[300:], g=1))
        engine.delete("s", ids[:10])
        engine.compact("s")  # rows renumbered: cursors are ids, not rows
        seen, token, pages = [], None, 0
        while True:
            page = engine.scroll("s", limit=50, cursor=token)
            seen += [item["id"] for item in page["items"]]
            pages += 1
            token = page["next_cursor"]
            if token is None:
                break
        assert seen == sorted(ids[10:]) and pages == 11
        ones = engine.scroll("s", limit=1000, filter={"g": 1})["items"]
        assert [i["id"] for i in ones] == sorted(ids[300:]) and all(i["metadata"] == {"g": 1} for i in ones)
        assert engine.scroll("s", limit=513)["next_cursor"] is None  # exactly a full page: no empty next page
        with pytest.raises(InvalidFilter):
            engine.scroll("s", filter={"g": {"$regex": "x"}})
        with pytest.raises(NamespaceNotFound):
            engine.scroll("ghost")


def test_an_item_present_throughout_is_returned_exactly_once_under_writes(tmp_path, rng):
    with closing(Engine(tmp_path)) as engine:
        engine.create_namespace("s", dimension=DIMS)
        stable = [f"s{n:04d}" for n in range(400)]
        engine.upsert("s", _items(rng, stable))
        stop = threading.Event()

        writes: list[int] = []

        def writer() -> None:
            wrng, n = np.random.default_rng(1), 0
            while not stop.is_set():
                ids = [f"s{int(v):04d}" for v in wrng.choice(400, 20, replace=False)]
                engine.upsert("s", _items(wrng, ids, v=n))  # updates
                engine.upsert("s", _items(wrng, [f"new{n}-{j}" for j in range(5)]))  # new items, interleaved ids
                engine.delete("s", [f"new{n - 1}-0"])
                n += 1
                writes.append(n)

        t = threading.Thread(target=writer)
        t.start()
        try:
            seen, token = [], None
            while True:
                page = engine.scroll("s", limit=7, cursor=token)
                seen += [item["id"] for item in page["items"]]
                token = page["next_cursor"]
                if token is None:
                    break
        finally:
            stop.set()
            t.join()
        assert writes, "the writer wrote nothing while the scroll ran"
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        assert [i for i in seen if i.startswith("s")] == stable


def test_20k_items_scrolled_over_http_while_another_client_writes_and_deletes(tmp_path, live_server):  # noqa: F811
    """Two clients of a real server: one scrolls 20,000 items (filtered and not) while the other
    updates some of them, adds items with ids between theirs and deletes those again."""
    import bitsift

    server = live_server(data_dir=tmp_path / "data")
    stable = [f"s{n:05d}" for n in range(20_000)]
    with bitsift.Client(url=server.url) as writer_client, bitsift.Client(url=server.url) as reader:
        writer_client.create_namespace("big", dimension=DIMS)
        rng = np.random.default_rng(4)
        for i in range(0, len(stable), 5_000):
            writer_client.upload_vectors("big", _items(rng, stable[i : i + 5_000], kind="stable"))
        stop, writes, failed = threading.Event(), [0], []

        def writer() -> None:
            wrng, n = np.random.default_rng(5), 0
            try:
                while not stop.is_set():
                    picked = [stable[int(v)] for v in wrng.choice(len(stable), 50, replace=False)]
                    writer_client.upload_vectors("big", _items(wrng, picked, kind="stable", v=n))  # updates
                    between = wrng.choice(len(stable), 20, replace=False)
                    fresh = [f"s{int(v):05d}x{n}" for v in between]  # ids between the stable ones
                    writer_client.upload_vectors("big", _items(wrng, fresh, kind="new"))
                    writer_client.delete("big", fresh[:10])
                    writer_client.update("big", picked[:5], metadata={"touched": n})
                    n += 1
                    writes[0] = n
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                failed.append(exc)

        t = threading.Thread(target=writer)
        t.start()
        try:
            pages = {}
            for name, flt in (("all", None), ("stable", {"kind": "stable"})):
                seen, token = [], None
                while True:
                    page = reader.scroll("big", limit=400, cursor=token, filter=flt)
                    seen += [item["id"] for item in page["items"]]
                    token = page["next_cursor"]
                    if token is None:
                        break
                pages[name] = seen
        finally:
            stop.set()
            t.join()
    assert not failed, failed
    assert writes[0] >= 3, "the writer should have run during the scrolls"
    for seen in pages.values():
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        assert [i for i in seen if "x" not in i] == stable  # every item present throughout, once
    assert all("x" not in i for i in pages["stable"])
