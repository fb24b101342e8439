"""Coalescing (engine.coalesce): concurrent searches share kernel passes and answer exactly what
they would have answered alone."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import numpy as np
import pytest

from bitsift.core.errors import DimensionMismatch, NamespaceBusy
from bitsift.engine.coalesce import Coalescer
from bitsift.engine.local import Engine
from bitsift.engine.request import parse_search

DIMS, N = 32, 3000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("coalesce")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, DIMS)).astype(np.float32)
    x[N // 2:N // 2 + 200] = x[:200]  # exact duplicates: ties, broken by id
    with closing(Engine(path, coalesce=False)) as engine:
        engine.create_namespace("c", dimension=DIMS)
        engine.upsert("c", [{"id": f"i{i:04d}", "vector": x[i], "metadata": {"g": i % 3}} for i in range(N)])
    return path, x


def _params(i: int) -> dict:
    return {"top_k": (5, 10, 40)[i % 3], "mode": ("binary", "rescore")[i % 2],
            "filter": (None, {"g": 1})[(i // 2) % 2], "threshold": (None, 0.6)[(i // 3) % 2],
            "oversample": (None, 2)[(i // 5) % 2]}


def test_coalesced_answers_equal_uncoalesced_under_64_clients(folder):
    path, x = folder
    rng = np.random.default_rng(9)
    queries = np.vstack([x[:100], rng.standard_normal((200, DIMS)).astype(np.float32)])  # stored vectors tie
    with closing(Engine(path, coalesce=False)) as alone:
        expected = [alone.search("c", q, **_params(i))["results"] for i, q in enumerate(queries)]
    with closing(Engine(path)) as engine:
        got: dict[int, list] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(64)

        def client(c: int) -> None:
            start.wait()
            try:
                for i in range(c, len(queries), 64):
                    got[i] = engine.search("c", queries[i], **_params(i))["results"]
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = engine.coalescer.stats
    assert not errors, repr(errors[0])
    assert [got[i] for i in range(len(queries))] == expected
    assert stats.searches == len(queries) and stats.merged_passes > 0 and stats.passes < stats.searches, stats


def test_a_lone_search_runs_at_once_in_its_own_thread(folder):
    path, x = folder
    with closing(Engine(path)) as engine:
        seen = []
        run = engine._search_now
        engine.coalescer._run = lambda r: (seen.append(threading.get_ident()), run(r))[1]
        t0 = time.perf_counter()
        engine.search("c", x[0], top_k=3)
        assert seen == [threading.get_ident()] and time.perf_counter() - t0 < 5
        assert engine.coalescer.stats.passes == 1 and engine.coalescer.stats.merged_passes == 0


def _request(vector, **kw):
    return parse_search("c", [vector], top_k=kw.get("top_k", 5), threshold=None, filter=None, kiosk_mode=False,
                        mode=kw.get("mode"), oversample=None, partial=False, single=True)


def test_searches_that_arrive_during_a_pass_share_the_next_and_a_bad_one_fails_alone(folder):
    path, x = folder
    with closing(Engine(path, coalesce=False)) as engine:
        gate = threading.Event()
        calls: list[int] = []

        def run(request):
            calls.append(len(request.queries))
            if len(calls) == 1:
                gate.wait(10)  # hold the first pass until the others are queued
            return engine._search_now(request)

        coalescer = Coalescer(run)
        out: dict[str, object] = {}

        def submit(name, vector):
            try:
                out[name] = coalescer.search(_request(vector))[0]["results"]
            except BaseException as exc:  # noqa: BLE001
                out[name] = exc

        first = threading.Thread(target=submit, args=("first", x[0]))
        first.start()
        while not calls:
            time.sleep(0.001)
        others = [threading.Thread(target=submit, args=(f"q{i}", x[i])) for i in range(1, 6)]
        others.append(threading.Thread(target=submit, args=("bad", np.ones(DIMS + 1))))
        for t in others:
            t.start()
        while coalescer._groups[next(iter(coalescer._groups))].queued < 6:
            time.sleep(0.001)
        gate.set()
        for t in [first, *others]:
            t.join()
        assert calls[:2] == [1, 6]  # the five good ones and the bad one were merged into one pass
        assert isinstance(out["bad"], DimensionMismatch)  # ... which failed, so each ran alone
        for i in range(1, 6):
            assert out[f"q{i}"] == engine.search("c", x[i], top_k=5)["results"]


@pytest.mark.parametrize("mode", ["binary", "rescore", "rescore-adaptive"])
def test_searches_with_different_top_k_threshold_and_oversample_share_one_pass(folder, mode):
    """A merged pass scans for the largest k and pool and ranks each query with its own: each
    answer equals the search run alone (stored vectors as queries: tie groups at the cuts). In
    rescore mode fixed pools share a pass, and adaptive ones (oversample omitted) another."""
    path, x = folder
    fixed = {"binary": None, "rescore": 10, "rescore-adaptive": None}[mode]
    mode = mode.split("-")[0]
    asks = [dict(top_k=k, threshold=t, oversample=o if mode == "binary" or fixed is not None else None)
            for k, t, o in [(1, None, fixed), (3, 0.7, fixed), (40, None, 2), (7, 0.55, 9), (25, 0.99, fixed),
                            (12, None, 1)]]
    with closing(Engine(path, coalesce=False)) as engine:
        alone = [engine.search("c", x[200 + i], mode=mode, **a)["results"] for i, a in enumerate(asks)]
        calls: list[int] = []
        coalescer, gate = _held(engine, max_queued=100)
        run = coalescer._run
        coalescer._run = lambda r: (calls.append(len(r.queries)), run(r))[1]
        out: dict[int, list] = {}

        def submit(i: int) -> None:
            request = parse_search("c", [x[200 + i]], **asks[i], filter=None, kiosk_mode=False, mode=mode,
                                   partial=False, single=True)
            out[i] = coalescer.search(request)[0]["results"]

        threads = [threading.Thread(target=submit, args=(0,))]
        threads[0].start()
        while not calls:
            time.sleep(0.001)
        threads += [threading.Thread(target=submit, args=(i,)) for i in range(1, len(asks))]
        for t in threads[1:]:
            t.start()
        while coalescer._groups[next(iter(coalescer._groups))].queued < len(asks) - 1:
            time.sleep(0.001)
        gate.set()
        for t in threads:
            t.join()
    assert calls == [1, len(asks) - 1]  # every other search, whatever its parameters, in one pass
    assert [out[i] for i in range(len(asks))] == alone
    assert any(len(a) < asks[i]["top_k"] for i, a in enumerate(alone))  # some threshold did cut


def _held(engine: Engine, max_queued: int) -> tuple[Coalescer, threading.Event]:
    """A coalescer over ``engine`` whose passes wait until the event is set."""
    gate = threading.Event()

    def run(request):
        gate.wait(10)
        return engine._search_now(request)

    return Coalescer(run, max_queued=max_queued), gate


def test_a_full_queue_answers_busy(folder):
    path, x = folder
    with closing(Engine(path, coalesce=False)) as engine:
        coalescer, gate = _held(engine, max_queued=2)
        threads = [threading.Thread(target=coalescer.search, args=(_request(x[i]),)) for i in range(3)]
        for t in threads:  # one runs (held), two wait: the queue is full
            t.start()
        while not coalescer._groups or coalescer._groups[next(iter(coalescer._groups))].queued < 2:
            time.sleep(0.001)
        with pytest.raises(NamespaceBusy, match="waiting"):
            coalescer.search(_request(x[5]))
        gate.set()
        for t in threads:
            t.join()


def test_submitted_searches_from_an_event_loop_equal_uncoalesced_and_share_passes(folder):
    """The server's way in: futures awaited on one event loop (no thread per request), mixed with
    blocking searches from threads, ties and every parameter mix included."""
    import asyncio

    from bitsift.engine.front import search_parsed_async

    path, x = folder
    rng = np.random.default_rng(11)
    queries = np.vstack([x[100:160], rng.standard_normal((140, DIMS)).astype(np.float32)])
    requests = [parse_search("c", [q], kiosk_mode=False, partial=False, single=True,
                             **_params(i)) for i, q in enumerate(queries)]
    with closing(Engine(path, coalesce=False)) as alone:
        expected = [alone.search("c", q, **_params(i))["results"] for i, q in enumerate(queries)]
    with closing(Engine(path)) as engine:
        blocking: dict[int, list] = {}

        def thread_client(c: int) -> None:
            for i in range(c, len(queries), 8):
                blocking[i] = engine.search("c", queries[i], **_params(i))["results"]

        async def main() -> list:
            return await asyncio.gather(*(search_parsed_async(engine, r) for r in requests))

        threads = [threading.Thread(target=thread_client, args=(c,)) for c in range(8)]
        for t in threads:
            t.start()
        answers = asyncio.run(main())
        for t in threads:
            t.join()
        stats = engine.coalescer.stats
    assert [a[0]["results"] for a in answers] == expected
    assert [blocking[i] for i in range(len(queries))] == expected
    assert stats.merged_passes > 0 and stats.passes < stats.searches, stats


def test_a_submitted_search_with_a_full_queue_is_refused_at_once(folder):
    path, x = folder
    with closing(Engine(path, coalesce=False)) as engine:
        coalescer, gate = _held(engine, max_queued=1)
        running = coalescer.submit(_request(x[0]))  # runs on a pass thread, held
        waiting = coalescer.submit(_request(x[1]))  # queued
        with pytest.raises(NamespaceBusy, match="waiting"):
            coalescer.submit(_request(x[2]))
        gate.set()
        assert running.result(10)[0]["results"] == engine.search("c", x[0], top_k=5)["results"]
        assert waiting.result(10)[0]["results"] == engine.search("c", x[1], top_k=5)["results"]
        coalescer.close()
