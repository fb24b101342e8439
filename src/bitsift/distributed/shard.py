"""One shard: an ordinary namespace folder, opened by the Ray actor that owns it.

The class is plain Python (``ray.remote`` wraps it in ``cluster.py``), so it is also usable and
testable without Ray. Everything durable is the namespace's own commit protocol: an actor that
dies and restarts reopens the folder, which cuts row files back to the last commit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core.bm25 import TermStats
from bitsift.core.candidates import Answer, Candidates
from bitsift.core.results import NamespaceInfo
from bitsift.engine.coalesce import Coalescer
from bitsift.engine.namespace import Namespace
from bitsift.engine.request import ItemChange, SearchRequest
from bitsift.storage.folder import Row
from bitsift.storage.manifest import MANIFEST


class Shard:
    """Owns ``folder``; creates it with ``manifest`` on first start, reopens it afterwards."""

    def __init__(self, folder: str, manifest: dict[str, Any]) -> None:
        path = Path(folder)
        if not (path / MANIFEST).exists():
            if path.exists():  # created, but the manifest never landed: nothing was acknowledged
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.ns = Namespace.create(path, manifest)
        else:
            self.ns = Namespace(path)
        # The actor is threaded (cluster.start_shard): concurrent searches' candidates calls of one
        # group share a kernel pass here, as searches do in an Engine.
        self._coalescer: Coalescer[Answer] = Coalescer(self._candidates_of)

    def pid(self) -> int:
        return os.getpid()

    def upsert(self, items: Sequence[dict[str, Any]], parents: Sequence[str] | None = None) -> int:
        return self.ns.upsert(items, parents=parents)

    def adopt_center(self, params: dict[str, Any]) -> None:
        self.ns.adopt_center(params)

    def delete(self, ids: Sequence[str]) -> list[str]:
        return self.ns.delete(ids)

    def update(self, ids: Sequence[str], change: ItemChange) -> list[str]:
        return self.ns.update(ids, change)

    def delete_matching(self, filter: dict[str, Any]) -> list[str]:
        return self.ns.delete_matching(filter)

    def scroll(self, after: str | None, limit: int, filter: dict[str, Any] | None) -> list[dict[str, Any]]:
        return self.ns.scroll(after, limit, filter)

    def count(self, filter: dict[str, Any] | None) -> int:
        return self.ns.count_matching(filter)

    def get_each(self, ids: Sequence[str], include_vectors: bool) -> list[list[dict[str, Any]]]:
        """What ``get`` returns for each id alone: the coordinator merges shards per asked id."""
        return [self.ns.get([i], include_vectors) for i in ids]

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> Answer:
        """This shard's part of a search (the pipeline merges every shard's), coalesced with the
        concurrent calls of the same group: one pass, each call its own queries' candidates."""
        rows = replace(request, queries=tuple(np.asarray(queries, np.float32)), single=False)
        mine = self._coalescer.search(rows)
        return Answer(Candidates.stack([a.candidates for a in mine]), mine[0].epoch)

    def _candidates_of(self, request: SearchRequest) -> list[Answer]:
        """One pass for the queries (vectors) of ``request``: one single-query Answer each."""
        answer = self.ns.candidates(np.stack(request.queries), request)
        return [Answer(c, answer.epoch) for c in answer.candidates]

    def term_stats(self, terms: Sequence[str]) -> TermStats:
        return self.ns.term_stats(terms)

    def fetch(self, rows: Sequence[int], epoch: int) -> dict[int, Row] | None:
        return self.ns.fetch(rows, epoch)

    def describe(self) -> NamespaceInfo:
        return self.ns.describe()

    def diagnostics(self) -> dict[str, Any]:
        return self.ns.diagnostics()

    def compact(self) -> dict[str, int]:
        return self.ns.compact()

    def close(self) -> None:
        self._coalescer.close()
        self.ns.close()
