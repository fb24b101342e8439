"""Coalescing: concurrent searches that can share one kernel pass are run as one batch.

A shared pass needs the same row mask for every query in it, and the pipeline runs one set of
parameters per request, so searches are grouped by everything but their queries (namespaces,
filter, mode, top_k, threshold, oversample, partial). Within a group:

* a search that finds the group idle runs at once, in its own thread (no added latency when idle);
* searches that arrive while a pass runs wait, and the next pass takes them all (up to
  ``max_batch`` queries), run by one of the waiting threads, so the thread of a finished pass
  returns at once with its own answer;
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
from dataclasses import dataclass, field, replace
from functools import partial

from bitsift.core.errors import NamespaceBusy
from bitsift.core.results import SearchResponse
from bitsift.engine.request import SearchRequest

MAX_BATCH_QUERIES = 256   # one pass: the kernel's batched scan gains little beyond this
MAX_QUEUED_QUERIES = 4096  # per group, waiting for the next pass

Run = Callable[[SearchRequest], list[SearchResponse]]


def group_key(request: SearchRequest) -> tuple[object, ...]:
    """Searches with equal keys can share a pass: same namespaces, same mask, same parameters."""
    flt = None if request.filter is None else json.dumps(request.filter, sort_keys=True)
    return (request.names, flt, request.mode, request.top_k, request.threshold, request.oversample,
            request.partial)


@dataclass(eq=False)
class _Waiting:
    request: SearchRequest
    done: threading.Event | None = None  # only a search that waits needs one
    result: list[SearchResponse] | None = None
    error: BaseException | None = None
    lead: list[_Waiting] | None = None  # set when this waiter must run the next pass itself


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


class Coalescer:
    """Thread-safe; one per engine."""

    def __init__(self, run: Run, max_batch: int = MAX_BATCH_QUERIES, max_queued: int = MAX_QUEUED_QUERIES) -> None:
        self._run = run
        self.max_batch, self.max_queued = max_batch, max_queued
        self._groups: dict[tuple[object, ...], _Group] = {}
        self._lock = threading.Lock()
        self.stats = CoalescerStats()

    def search(self, request: SearchRequest) -> list[SearchResponse]:
        key = group_key(request)
        me = _Waiting(request)
        with self._lock:
            group = self._groups.setdefault(key, _Group())
            if group.running:
                if group.queued + len(request.queries) > self.max_queued:
                    raise NamespaceBusy(f"{group.queued} queries are waiting for this search; retry shortly")
                me.done = threading.Event()
                group.waiting.append(me)
                group.queued += len(request.queries)
            else:
                group.running = True
                me.lead = [me]
        if me.lead is None:
            assert me.done is not None
            me.done.wait()
        while me.lead is not None:  # this thread runs a pass: its own first, or one handed to it
            batch, me.lead = me.lead, None
            self._pass(batch)
            self._hand_over(key)
            if me.result is None and me.error is None:
                assert me.done is not None
                me.done.wait()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _pass(self, batch: list[_Waiting]) -> None:
        """Run the searches of ``batch`` as one request; set every waiter's answer."""
        with self._lock:
            self.stats.passes += 1
            self.stats.searches += len(batch)
            self.stats.merged_passes += len(batch) > 1
        if len(batch) == 1:
            self._settle(batch[0], partial(self._run, batch[0].request))
            return
        first = batch[0].request
        merged = replace(first, queries=tuple(q for w in batch for q in w.request.queries), single=False,
                         started=min(w.request.started for w in batch))
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
            _wake(w)

    @staticmethod
    def _settle(w: _Waiting, call: Callable[[], list[SearchResponse]]) -> None:
        try:
            w.result = call()
        except BaseException as exc:  # noqa: BLE001 - delivered to the waiting caller
            w.error = exc
        _wake(w)

    def _hand_over(self, key: tuple[object, ...]) -> None:
        """After a pass: give the waiting searches (up to max_batch queries) to one of them to run,
        or mark the group idle."""
        with self._lock:
            group = self._groups[key]
            if not group.waiting:
                group.running = False
                del self._groups[key]
                return
            batch: list[_Waiting] = []
            size = 0
            while group.waiting and (not batch or size + len(group.waiting[0].request.queries) <= self.max_batch):
                w = group.waiting.pop(0)
                batch.append(w)
                size += len(w.request.queries)
            group.queued -= size
            leader = batch[0]
            leader.lead = batch
        _wake(leader)


def _wake(w: _Waiting) -> None:
    if w.done is not None:
        w.done.set()
