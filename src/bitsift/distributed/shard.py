"""One shard: an ordinary namespace folder, opened by the Ray actor that owns it.

The class is plain Python (``ray.remote`` wraps it in ``cluster.py``), so it is also usable and
testable without Ray. Everything durable is the namespace's own commit protocol: an actor that
dies and restarts reopens the folder, which cuts row files back to the last commit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.engine.namespace import Namespace, open_namespace
from bitsift.storage.manifest import MANIFEST


@dataclass(frozen=True)
class ShardPart:
    """One shard's candidates for one query (a ``ranking.Part``) with their ids, so the
    coordinator can settle ties by id without another round trip."""

    hamming: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    tiebreak: np.ndarray
    ids: list[str]
    epoch: int  # rows are only meaningful within this compaction epoch (see fetch)


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
            self.ns = open_namespace(path)

    def pid(self) -> int:
        return os.getpid()

    def upsert(self, items: Sequence[dict[str, Any]], parents: Sequence[str] | None = None) -> int:
        return self.ns.upsert(items, parents=parents)

    def adopt_center(self, params: dict[str, Any]) -> None:
        self.ns.adopt_center(params)

    def delete(self, ids: Sequence[str]) -> list[str]:
        return self.ns.delete(ids)

    def get_each(self, ids: Sequence[str], include_vectors: bool) -> list[list[dict[str, Any]]]:
        """What ``get`` returns for each id alone: the coordinator merges shards per asked id."""
        return [self.ns.get([i], include_vectors) for i in ids]

    def search_part(self, query: np.ndarray, k: int, filter_spec: dict[str, Any] | None, mode: str,
                    oversample: int) -> ShardPart:
        ns = self.ns
        ns.refresh_if_stale()
        with ns.reading() as state:
            c = ns.scan(query, k, filter_spec, mode=mode, oversample=oversample)[0]
            info = ns.items.fetch(c.rows.tolist())
            ids = [info[int(r)][0] for r in c.rows]
        return ShardPart(c.hamming, c.rows, c.scores, c.tiebreak, ids, state.epoch)

    def fetch(self, rows: Sequence[int], epoch: int) -> list[tuple[str, str | None, str]] | None:
        """(id, text, metadata JSON) of ``rows``; None if a compaction renumbered rows since
        ``epoch`` (the coordinator then searches again)."""
        ns = self.ns
        with ns.reading():
            if ns.layout_changed(epoch):
                return None
            info = ns.items.fetch(list(rows))
        if any(int(r) not in info for r in rows):
            return None
        return [info[int(r)] for r in rows]

    def describe(self) -> dict[str, Any]:
        return self.ns.describe()

    def diagnostics(self) -> dict[str, Any]:
        return self.ns.diagnostics()

    def compact(self) -> dict[str, int]:
        return self.ns.compact()

    def close(self) -> None:
        self.ns.close()
