"""``ReplicaEngine``: a search replica's engine. Searches are answered here, over read-only
handles of the namespace folders (one machine's, or every shard of a sharded namespace);
everything else goes to the one writer of the data directory.

A replica holds no state of its own: the codes it scans and the float16 rows it re-scores are
the committed files, so any number of replicas can start, answer and stop (api.server.serverless
runs them on Ray Serve). Each search checks each part's generation first (one indexed read), so a
write acknowledged by the writer is in the next search on every replica: the freshness bound is
zero. Answers equal the writer's own: the same pipeline, parts in the same order, the same
coalescing of concurrent searches.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitsift.core.errors import NamespaceGone, NamespaceNotFound
from bitsift.core.results import SearchResponse
from bitsift.core.validate import check_name
from bitsift.distributed.sharded import SHARDED, shard_fields, shard_folder
from bitsift.engine import pipeline
from bitsift.engine.coalesce import Coalescer
from bitsift.engine.front import ParsedFront
from bitsift.engine.llm import ChatCompletions, llm_from_env
from bitsift.engine.local import TRASH_PREFIX, LocalParts
from bitsift.engine.namespace import Namespace
from bitsift.engine.request import SearchRequest
from bitsift.storage.folder import CREATING_PREFIX
from bitsift.storage.manifest import MANIFEST

# What the writer answers: every method of the engine's surface (api.protocol) but the searches.
FORWARDED = ("_create_parsed", "list_namespaces", "describe_namespace", "delete_namespace", "upsert",
             "upload_documents", "jobs", "job", "cancel_job", "update", "count", "get", "scroll", "delete",
             "compact", "snapshot", "restore", "diagnostics")


@dataclass
class _Opened:
    """One namespace as this replica searches it: its parts (one, or one per shard, in shard
    order as the sharded engine merges them) and the manifest its queries are checked against."""

    name: str
    parts: list[Namespace]
    manifest: dict[str, Any]
    shards: int | None  # None: a namespace of one machine

    def close(self) -> None:
        for ns in self.parts:
            ns.close()


class ReplicaEngine(ParsedFront):
    """``writer``: the engine that owns the data directory (an ``Engine`` or ``ShardedEngine`` in
    this process, or a proxy of one on Ray); its methods in FORWARDED are this engine's too."""

    def __init__(self, path: str | Path, writer: Any, coalesce: bool = True,
                 llm: ChatCompletions | None = None) -> None:
        self.root = Path(path)
        self.writer = writer
        self.llm = llm if llm is not None else llm_from_env()
        self.coalescer: Coalescer[SearchResponse] | None = Coalescer(self._search_now) if coalesce else None
        self._open: dict[str, _Opened] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name in FORWARDED or name == "ingestion":  # file uploads: parsed here, accepted by the writer
            return getattr(self.writer, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def _llm(self) -> ChatCompletions | None:
        return self.llm

    def describe_namespace(self, name: str) -> Any:  # ParsedFront declares it: __getattr__ would not be asked
        return self.writer.describe_namespace(name)

    def _create_parsed(self, request: Any) -> Any:
        return self.writer._create_parsed(request)

    def open_all(self) -> list[str]:
        """Open every namespace under the root (a replica is ready only after this: no search
        pays an open, ~0.7 s at 1M rows); returns their names."""
        hidden = (TRASH_PREFIX, CREATING_PREFIX, ".")
        names = sorted(p.name for p in self.root.iterdir() if not p.name.startswith(hidden)
                       and ((p / MANIFEST).is_file() or (p / SHARDED).is_file())) if self.root.is_dir() else []
        for name in names:
            try:
                self._namespace(name)
            except NamespaceNotFound:  # deleted while opening
                continue
        return names

    def close(self) -> None:
        if self.coalescer is not None:
            self.coalescer.close()
        with self._lock:
            for opened in self._open.values():
                opened.close()
            self._open.clear()

    def _namespace(self, name: str) -> _Opened:
        check_name(name)
        with self._lock:
            opened = self._open.get(name)
            if opened is None:
                opened = self._open[name] = _open_read_only(self.root / name)
            return opened

    def _forget_if_gone(self, opened: _Opened) -> bool:
        """Drop a namespace whose folder (or a shard's) was deleted or re-created since it opened."""
        try:
            if all(ns.files.is_current() for ns in opened.parts):
                return False
        except Exception:
            return False
        with self._lock:
            if self._open.get(opened.name) is opened:
                del self._open[opened.name]
        opened.close()
        return True

    # --- searches ------------------------------------------------------------------

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        if self.coalescer is None:
            return self._search_now(request)
        return self.coalescer.search(request)

    async def _search_parsed_async(self, request: SearchRequest) -> list[SearchResponse]:
        if self.coalescer is None:
            return await super()._search_parsed_async(request)
        return await asyncio.wrap_future(self.coalescer.submit(request))

    def _search_now(self, request: SearchRequest) -> list[SearchResponse]:
        for attempt in range(2):
            spaces = [self._namespace(n) for n in request.names]
            try:
                return pipeline.search(request, _ReplicaParts(spaces))
            except Exception:
                gone = [o.name for o in spaces if self._forget_if_gone(o)]
                if not gone:
                    raise
                if attempt:
                    raise NamespaceNotFound(f"namespace {gone[0]!r} was deleted during the search") from None
        raise AssertionError("unreachable")


class _ReplicaParts(LocalParts):
    """Every part of every namespace searched, namespace-major and shards in order: the order
    both engines break ties in. A sharded namespace's answers carry what the sharded engine's do."""

    def __init__(self, spaces: list[_Opened]) -> None:
        super().__init__([ns for o in spaces for ns in o.parts])
        self.manifests = [o.manifest for o in spaces]
        self.namespaces = [o.name for o in spaces for _ in o.parts]
        self.shards = sum(len(o.parts) for o in spaces) if any(o.shards is not None for o in spaces) else None

    def response_fields(self, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
        return {} if self.shards is None else shard_fields(self.shards, request, missing)


def _open_read_only(folder: Path) -> _Opened:
    """A namespace folder, or a sharded namespace's shard folders, opened read-only (404 if gone)."""
    missing = NamespaceNotFound(f"namespace {folder.name!r} does not exist")
    opener: Callable[[Path], Namespace] = lambda p: Namespace(p, read_only=True)  # noqa: E731
    try:
        if (folder / SHARDED).is_file():
            manifest = json.loads((folder / SHARDED).read_text())
            parts = [opener(shard_folder(folder, i)) for i in range(manifest["shards"])]
            return _Opened(folder.name, parts, manifest, manifest["shards"])
        if (folder / MANIFEST).is_file():
            ns = opener(folder)
            return _Opened(folder.name, [ns], ns.manifest, None)
    except (NamespaceGone, FileNotFoundError):
        raise missing from None
    except Exception:
        if not (folder / MANIFEST).is_file() and not (folder / SHARDED).is_file():
            raise missing from None
        raise
    raise missing
