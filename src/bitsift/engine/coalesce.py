"""Coalescing: concurrent searches that can share one kernel pass are run as one batch.

A shared pass needs the same row mask for every query in it, so searches are grouped by
namespaces and filter, and by mode and partial; top_k, threshold and oversample may differ (the
pass scans for the largest and ranks each query with its own). Within a group:

* a search that finds the group idle runs at once, in its own thread (no added latency when idle);
* searches that arrive while a pass runs wait, and the next pass takes them all (up to
  ``max_batch`` queries), run by one of the waiting threads, so the thread of a finished pass
  returns at once with its own answer;
* ``submit`` (the server's way in) queues the same way but returns a future at once; the passes
  of submitted searches run on the coalescer's pass threads, so a request costs no thread of its own;
* at most ``max_queued`` queries wait per group; one more is refused with ``NamespaceBusy`` (503,
  Retry-After) instead of the queue growing without limit.

A merged pass answers exactly what the searches would have answered one by one (the pipeline is
batch-first: a query's answer does not depend on the others in its batch). If a merged pass fails,
each search of it runs alone, so one bad query gets its own error and the others their answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from bitsift.core.errors import NamespaceBusy
from bitsift.engine.request import SearchRequest, merge_requests

MAX_BATCH_QUERIES = 256   # one pass: the kernel's batched scan gains little beyond this
MAX_QUEUED_QUERIES = 4096  # per group, waiting for the next pass
PASS_THREADS = 4  # groups whose submitted searches run at the same time (the kernel threads each pass)

T = TypeVar("T")  # what a pass answers per query: a response (engines), an Answer (Ray shards)


def group_key(request: SearchRequest) -> tuple[object, ...]:
    """Searches with equal keys can share a pass: same namespaces and mask (a top-k cannot be
    filtered afterwards), same mode (binary and rescore candidates differ) and partial flag;
    top_k, threshold and oversample may differ (``engine.request.merge_requests``), except in the
    keyword and hybrid modes, whose rankings are cut at a depth per query: there the oversample
    and the fusion are part of the key."""
    flt = None if request.filter is None else json.dumps(request.filter, sort_keys=True)
    key: tuple[object, ...] = (request.names, flt, request.mode, request.partial, request.group_by, request.group_size,
                               request.adaptive)
    if request.keyword_mode:
        key += (request.oversample, request.fusion, request.keyword_weight)
    return key


@dataclass(eq=False)
class _Waiting:
    request: SearchRequest
    done: threading.Event | None = None  # a thread blocked on this search (search())
    future: Future[list[Any]] | None = None  # or a caller that awaits it (submit())
    result: list[Any] | None = None
    error: BaseException | None = None
    lead: list[_Waiting] | None = None  # set when this (blocked) waiter must run the next pass itself


@dataclass
class _Group:
    running: bool = False
    waiting: list[_Waiting] = field(default_factory=list)
    queued: int = 0  # queries in ``waiting``


@dataclass
class CoalescerStats:
    passes: int = 0        # kernel passes run
    searches: int = 0      # search requests answered
    merged_passes: int = 0  # passes that served more than one request


class Coalescer(Generic[T]):
    """Thread-safe; one per engine. ``search`` blocks the calling thread; ``submit`` returns a
    future at once (an event loop awaits it: no thread per request), and the passes of submitted
    searches run on a few pass threads of the coalescer's own."""

    def __init__(self, run: Callable[[SearchRequest], list[T]], max_batch: int = MAX_BATCH_QUERIES, max_queued: int = MAX_QUEUED_QUERIES) -> None:
        self._run = run
        self.max_batch, self.max_queued = max_batch, max_queued
        self._groups: dict[tuple[object, ...], _Group] = {}
        self._lock = threading.Lock()
        self._passes: ThreadPoolExecutor | None = None  # started by the first submit()
        self.stats = CoalescerStats()

    @property
    def queued(self) -> int:
        """Queries waiting for a pass, over every group (the metrics' queue depth)."""
        with self._lock:
            return sum(g.queued for g in self._groups.values())

    def close(self) -> None:
        """Wait for the passes in progress; later submits start the pass threads again."""
        with self._lock:
            passes, self._passes = self._passes, None
        if passes is not None:
            passes.shutdown(wait=True)

    def search(self, request: SearchRequest) -> list[T]:
        key = group_key(request)
        me = _Waiting(request)
        if self._join(key, me):
            assert me.done is not None
            me.done.wait()
        else:
            me.lead = [me]
        while me.lead is not None:  # this thread runs a pass: its own first, or one handed to it
            batch, me.lead = me.lead, None
            self._pass(batch)
            nxt = self._next_batch(key)
            if nxt is not None:
                self._dispatch(key, nxt)
            if me.result is None and me.error is None:
                assert me.done is not None
                me.done.wait()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def submit(self, request: SearchRequest) -> Future[list[T]]:
        """The search's answer as a future; NamespaceBusy at once if its group's queue is full."""
        key = group_key(request)
        me = _Waiting(request, future=Future())
        if not self._join(key, me):
            self._dispatch(key, [me])
        assert me.future is not None
        return me.future

    def _join(self, key: tuple[object, ...], me: _Waiting) -> bool:
        """Queue ``me`` behind the pass in progress (True), or mark the group running (False:
        the caller starts the pass)."""
        with self._lock:
            group = self._groups.setdefault(key, _Group())
            if not group.running:
                group.running = True
                return False
            if group.queued + len(me.request.queries) > self.max_queued:
                raise NamespaceBusy(f"{group.queued} queries are waiting for this search; retry shortly")
            if me.future is None:
                me.done = threading.Event()
            group.waiting.append(me)
            group.queued += len(me.request.queries)
            return True

    def _dispatch(self, key: tuple[object, ...], batch: list[_Waiting]) -> None:
        """Start the next pass: a blocked waiter runs it in its own thread; a batch of submitted
        searches goes to a pass thread, which keeps running the group's passes until it is idle."""
        if batch[0].done is not None:
            batch[0].lead = batch
            batch[0].done.set()
            return
        with self._lock:
            if self._passes is None:
                self._passes = ThreadPoolExecutor(PASS_THREADS, thread_name_prefix="bitsift-pass")
            passes = self._passes
        passes.submit(self._drain, key, batch)

    def _drain(self, key: tuple[object, ...], batch: list[_Waiting]) -> None:
        nxt: list[_Waiting] | None = batch
        while nxt is not None and nxt[0].done is None:
            self._pass(nxt)
            nxt = self._next_batch(key)
        if nxt is not None:  # a blocked thread is first in line: it runs its batch itself
            self._dispatch(key, nxt)

    def _pass(self, batch: list[_Waiting]) -> None:
        """Run the searches of ``batch`` as one request; deliver every waiter's answer."""
        with self._lock:
            self.stats.passes += 1
            self.stats.searches += len(batch)
            self.stats.merged_passes += len(batch) > 1
        if len(batch) == 1:
            self._settle(batch[0], partial(self._run, batch[0].request))
            return
        merged = merge_requests([w.request for w in batch])
        try:
            responses = self._run(merged)
        except Exception:  # noqa: BLE001 - one bad query must not fail the others: each runs alone
            for w in batch:
                self._settle(w, partial(self._run, w.request))
            return
        at = 0
        for w in batch:
            n = len(w.request.queries)
            w.result, at = responses[at:at + n], at + n
            _deliver(w)

    @staticmethod
    def _settle(w: _Waiting, call: Callable[[], list[Any]]) -> None:
        try:
            w.result = call()
        except BaseException as exc:  # noqa: BLE001 - delivered to the waiting caller
            w.error = exc
        _deliver(w)

    def _next_batch(self, key: tuple[object, ...]) -> list[_Waiting] | None:
        """After a pass: the waiting searches (up to max_batch queries) for the next pass, or None
        (the group is then idle)."""
        with self._lock:
            group = self._groups[key]
            if not group.waiting:
                group.running = False
                del self._groups[key]
                return None
            batch: list[_Waiting] = []
            size = 0
            while group.waiting and (not batch or size + len(group.waiting[0].request.queries) <= self.max_batch):
                w = group.waiting.pop(0)
                batch.append(w)
                size += len(w.request.queries)
            group.queued -= size
            return batch


def _deliver(w: _Waiting) -> None:
    if w.future is not None:
        if w.error is not None:
            w.future.set_exception(w.error)
        else:
            w.future.set_result(w.result)  # type: ignore[arg-type]
    elif w.done is not None:
        w.done.set()
