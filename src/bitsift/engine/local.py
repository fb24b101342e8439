"""The engine: one data directory of namespaces, and exact search across them."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from bitsift.core.bm25 import TermStats, sum_stats
from bitsift.core.candidates import Answer
from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT, check_limit, decode_cursor, page
from bitsift.core.errors import (
    BitsiftError,
    InvalidInput,
    InvalidName,
    NamespaceExists,
    NamespaceGone,
    NamespaceNotFound,
)
from bitsift.core.filters import check_filter, deletion_filter
from bitsift.core.results import NamespaceInfo, ScrollPage, SearchResponse, SnapshotInfo
from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.core.validate import check_name
from bitsift.engine import pipeline
from bitsift.engine.coalesce import Coalescer
from bitsift.engine.front import ParsedFront
from bitsift.engine.ingestion import IngestingFront, Ingestion
from bitsift.engine.llm import ChatCompletions, llm_from_env
from bitsift.engine.namespace import Namespace, namespace_info
from bitsift.engine.request import (
    ItemChange,
    NamespaceRequest,
    SearchRequest,
    get_embedder,
    new_namespace_manifest,
    parse_change,
)
from bitsift.storage import snapshot as snapshots
from bitsift.storage.folder import CREATING_PREFIX, LOCK, Row
from bitsift.storage.lock import writer_lock
from bitsift.storage.manifest import MANIFEST, fsync_dir
from bitsift.text.documents import Chunks

TRASH_PREFIX = ".trash-"
STALE_CREATE_S = 600.0  # a create in progress takes milliseconds; older staging folders are debris
T = TypeVar("T")


class Engine(IngestingFront, ParsedFront):
    """Thread-safe; namespaces open lazily and stay open until ``close()``.

    Several engines (threads or processes) may share one data directory. A namespace handle
    whose folder was deleted, or deleted and re-created, is noticed (storage.folder's identity
    check) and reopened by name once; the request then goes to the new namespace or is a 404.
    """

    def __init__(self, path: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 chunk_overlap: int = DEFAULT_CHUNK_OVERLAP, coalesce: bool = True,
                 llm: ChatCompletions | None = None) -> None:
        """``llm``: the LLM answers are written by (default: the one the environment configures,
        engine.llm; none means extractive answers)."""
        self.root = Path(path)
        self.llm = llm if llm is not None else llm_from_env()
        # Concurrent searches that can share a kernel pass run as one batch (engine.coalesce).
        self.coalescer: Coalescer[SearchResponse] | None = Coalescer(self._search_now) if coalesce else None
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Namespace] = {}
        self._lock = threading.Lock()
        _clear_leftovers(self.root)
        # Document uploads are jobs, written by a background worker (engine.ingestion).
        self.ingestion = Ingestion(self.root, self, chunk_size, chunk_overlap)

    def _llm(self) -> ChatCompletions | None:
        return self.llm

    def close(self) -> None:
        self.ingestion.close()  # after the batch in flight: its commit needs the namespaces open
        if self.coalescer is not None:
            self.coalescer.close()
        with self._lock:
            for ns in self._open.values():
                ns.close()
            self._open.clear()

    def namespace(self, name: str) -> Namespace:
        check_name(name)
        with self._lock:
            ns = self._open.get(name)
            if ns is None:
                ns = self._open[name] = _open_namespace(self.root / name)
            return ns

    def _using(self, name: str, op: Callable[[Namespace], T]) -> T:
        """``op`` on the namespace of that name; if its handle turns out to belong to a deleted
        incarnation, once more on whatever the name holds now (NamespaceNotFound if nothing)."""
        for attempt in range(2):
            ns = self.namespace(name)
            try:
                return op(ns)
            except Exception:
                if not self._forget_if_gone(ns):
                    raise
                if attempt:  # deleted again under the second try: the name is as good as gone
                    raise NamespaceNotFound(f"namespace {name!r} was deleted during the request") from None
        raise AssertionError("unreachable")

    def _forget_if_gone(self, ns: Namespace) -> bool:
        """Drop a handle whose folder was deleted or replaced; False if it is still current
        (the error it raised is then a real one)."""
        try:
            if ns.files.is_current():
                return False
        except Exception:
            return False
        with self._lock:
            if self._open.get(ns.name) is ns:
                del self._open[ns.name]
        ns.close()
        return True

    def _create_parsed(self, request: NamespaceRequest) -> NamespaceInfo:
        if request.shards not in (None, 1):
            raise InvalidInput("sharded namespaces need a Ray-backed engine: Client(ray=..., path=...) "
                               "or bitsift serve --ray ADDRESS")
        manifest = new_namespace_manifest(request)
        with self._lock:
            folder = self.root / request.name
            if (folder / MANIFEST).exists():
                raise NamespaceExists(f"namespace {request.name!r} already exists")
            _remove_half_made(folder)
            stale = self._open.pop(request.name, None)  # a handle to an incarnation deleted elsewhere
            if stale is not None:
                stale.close()
            try:
                self._open[request.name] = Namespace.create(folder, manifest)
                return self._open[request.name].describe()
            except NamespaceGone:
                # Made, then deleted by another process (a server's other worker) before it opened:
                # the create took effect first, so it is answered as done (the delete came after).
                self._open.pop(request.name, None)
                return namespace_info(request.name, manifest, 0)
            except Exception as exc:
                self._open.pop(request.name, None)
                # A typed error (disk full, exists) stands; an untyped failure of a folder that is
                # gone by now is one a concurrent delete caused.
                if isinstance(exc, BitsiftError) or (folder / MANIFEST).is_file():
                    raise
                raise NamespaceNotFound(f"namespace {request.name!r} was created, then deleted by another "
                                        "process before it could be opened") from None

    def describe_namespace(self, name: str) -> NamespaceInfo:
        return self._using(name, Namespace.describe)

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self._using(name, Namespace.diagnostics)

    def list_namespaces(self) -> list[NamespaceInfo]:
        out = []
        hidden = (TRASH_PREFIX, CREATING_PREFIX)  # being deleted or created: not namespaces yet
        for name in sorted(p.name for p in self.root.iterdir()
                           if not p.name.startswith(hidden) and (p / MANIFEST).is_file()):
            try:
                out.append(self.describe_namespace(name))
            except (NamespaceNotFound, InvalidName):  # deleted while listing; a folder not ours
                continue
        return out

    def delete_namespace(self, name: str) -> None:
        """Rename the folder away under the writer lock (so no write of any process is half-way
        through it), then remove it. The name is free at once."""
        check_name(name)
        folder = self.root / name
        with self._lock:
            if not (folder / MANIFEST).is_file():
                raise NamespaceNotFound(f"namespace {name!r} does not exist")
            trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
            try:
                with writer_lock(folder / LOCK):
                    if not (folder / MANIFEST).is_file():  # another process deleted it first
                        raise NamespaceNotFound(f"namespace {name!r} does not exist")
                    folder.rename(trash)  # atomic: the name is gone at once
                    fsync_dir(self.root)
            except NamespaceGone:
                raise NamespaceNotFound(f"namespace {name!r} does not exist") from None
            ns = self._open.pop(name, None)
            if ns is not None:
                ns.close()
        shutil.rmtree(trash, ignore_errors=True)

    def upsert(self, name: str, items: Sequence[dict[str, Any]]) -> int:
        def write(ns: Namespace) -> int:
            require_type(ns.manifest, name, "vector")
            return ns.upsert(items)
        return self._using(name, write)

    def _text_identity(self, name: str) -> str | None:
        """The incarnation of a text namespace (ingestion writes only into the one it accepted for)."""
        def identity(ns: Namespace) -> str | None:
            require_type(ns.manifest, name, "text")
            return ns.files.incarnation
        return self._using(name, identity)

    def _write_chunks(self, name: str, identity: str | None, chunks: Chunks) -> None:
        """Embed chunks and upsert them; each document's earlier chunks are replaced in the same
        commit. Only into the incarnation ``identity`` (a namespace re-created since is another)."""
        model = self.namespace(name).manifest["model"]
        items = embed_chunks(chunks, model)

        def write(ns: Namespace) -> None:
            require_type(ns.manifest, name, "text")
            if identity is not None and ns.files.incarnation != identity:
                raise NamespaceNotFound(f"namespace {name!r} was deleted after the upload was accepted")
            ns.upsert(items, parents=chunks.parents)
        self._using(name, write)

    def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
               filter: dict[str, Any] | None = None) -> ScrollPage:
        """One page of every live item in id order (core.cursor); pass ``next_cursor`` back."""
        limit, after, flt = check_limit(limit), decode_cursor(cursor), check_filter(filter)
        return page(self._using(name, lambda ns: ns.scroll(after, limit + 1, flt)), limit)

    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        flt = check_filter(filter)
        return self._using(name, lambda ns: ns.count_matching(flt))

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self._using(name, lambda ns: ns.get(ids, include_vectors))

    def update(self, name: str, ids: Sequence[Any], metadata: dict[str, Any] | None = None, text: str | None = None,
               unset: Sequence[str] | None = None) -> list[str]:
        """Merge metadata keys, remove ``unset`` ones, replace the text, vectors untouched
        (a text namespace embeds a changed text again); returns the ids updated."""
        manifest = self.namespace(name).manifest
        change = with_new_vector(self, name, manifest, parse_change(metadata, text, unset, manifest["type"] == "text"),
                                 ids)
        return self._using(name, lambda ns: ns.update(ids, change))

    def delete(self, name: str, ids: Sequence[Any] | None = None, filter: dict[str, Any] | None = None) -> list[str]:
        """Delete by ids (an id of a text namespace's document: all its chunks) or every item
        matching a metadata filter; returns the ids deleted."""
        flt = deletion_filter(ids, filter)
        if flt is not None:
            return self._using(name, lambda ns: ns.delete_matching(flt))
        return self._using(name, lambda ns: ns.delete(ids))  # type: ignore[arg-type]

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        """One response per query: the top-k over the request's namespaces, merged as if they
        were one (engine.pipeline; ranking rule in core.ranking); coalesced with concurrent
        searches of the same group."""
        if self.coalescer is None:
            return self._search_now(request)
        return self.coalescer.search(request)

    async def _search_parsed_async(self, request: SearchRequest) -> list[SearchResponse]:
        if self.coalescer is None:
            return await super()._search_parsed_async(request)
        return await asyncio.wrap_future(self.coalescer.submit(request))

    def _search_now(self, request: SearchRequest) -> list[SearchResponse]:
        for attempt in range(2):
            spaces = [self.namespace(n) for n in request.names]
            try:
                return pipeline.search(request, LocalParts(spaces))
            except Exception:
                gone = [ns.name for ns in spaces if self._forget_if_gone(ns)]
                if not gone:
                    raise
                if attempt:
                    raise NamespaceNotFound(f"namespace {gone[0]!r} was deleted during the search") from None
        raise AssertionError("unreachable")

    def compact(self, name: str) -> dict[str, int]:
        return self._using(name, Namespace.compact)

    def snapshot(self, name: str, snapshot: str | Path) -> SnapshotInfo:
        """Copy namespace ``name`` into the folder ``snapshot`` while writes continue (storage.snapshot)."""
        info = self._using(name, lambda ns: snapshots.take(ns.files, Path(snapshot)))
        return cast(SnapshotInfo, {"snapshot": str(snapshot), **info})

    def restore(self, snapshot: str | Path, name: str) -> NamespaceInfo:
        """A new namespace ``name`` from the snapshot folder ``snapshot``."""
        check_name(name)
        with self._lock:
            folder = self.root / name
            if (folder / MANIFEST).exists():
                raise NamespaceExists(f"namespace {name!r} already exists")
            _remove_half_made(folder)
            stale = self._open.pop(name, None)  # a handle to an incarnation deleted elsewhere
            if stale is not None:
                stale.close()
            snapshots.restore(Path(snapshot), folder).close()
        return self.describe_namespace(name)


def _open_namespace(folder: Path) -> Namespace:
    """Open a namespace folder; a folder that vanishes while it opens was deleted (404)."""
    missing = NamespaceNotFound(f"namespace {folder.name!r} does not exist")
    if not (folder / MANIFEST).is_file():
        raise missing
    try:
        return Namespace(folder)
    except NamespaceGone:
        raise missing from None
    except Exception:
        if not (folder / MANIFEST).is_file():
            raise missing from None
        raise


def _remove_half_made(folder: Path) -> None:
    """A folder without a manifest is not a namespace: an older bitsift's create interrupted by
    a crash or a full disk. Remove it if it holds nothing else, so the name can be used."""
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= {MANIFEST + ".tmp"}:
        shutil.rmtree(folder, ignore_errors=True)


def _clear_leftovers(root: Path) -> None:
    """Remove what a crash left: folders of deletes (renamed away, so never in use) and creates
    that stopped long enough ago that no process can still be making them."""
    now = time.time()
    for stale in root.glob(TRASH_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(CREATING_PREFIX + "*"):
        try:
            if now - stale.stat().st_mtime > STALE_CREATE_S:
                shutil.rmtree(stale, ignore_errors=True)
        except FileNotFoundError:
            continue


class LocalParts:
    """The pipeline's parts on one machine: one per namespace, answered in this thread."""

    def __init__(self, spaces: list[Namespace]) -> None:
        self.spaces = spaces
        self.manifests = [ns.manifest for ns in spaces]
        self.namespaces = [ns.name for ns in spaces]

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> tuple[list[Answer | None], list[str]]:
        return [ns.candidates(queries, request) for ns in self.spaces], []

    def term_stats(self, terms: Sequence[str], request: SearchRequest) -> TermStats:
        return sum_stats([ns.term_stats(terms) for ns in self.spaces])

    def fetch(self, asks: Mapping[int, tuple[list[int], int]]) -> dict[int, dict[int, Row] | None]:
        return {i: self.spaces[i].fetch(rows, epoch) for i, (rows, epoch) in asks.items()}

    def response_fields(self, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
        return {}  # one machine has no shards to lose: ``partial`` changes nothing

    @contextmanager
    def steady(self) -> Iterator[None]:
        """Every namespace's read lock across candidates and fetch: a compaction in this process
        waits (the locks are shared, so searches do not wait for each other)."""
        with ExitStack() as stack:
            for ns in self.spaces:
                stack.enter_context(ns.steady())
            yield


def require_type(manifest: Mapping[str, Any], name: str, wanted: str) -> None:
    """Vectors go to vector namespaces, documents to text namespaces."""
    if manifest["type"] == wanted:
        return
    if wanted == "vector":
        raise InvalidInput(f"namespace {name!r} is a text namespace: upload documents, not vectors")
    raise InvalidInput(f"namespace {name!r} is a vector namespace: upload vectors, not documents")


def with_new_vector(front: Any, name: str, manifest: Mapping[str, Any], change: ItemChange,
                    ids: Sequence[Any]) -> ItemChange:
    """In a text namespace, a change of text carries the new text's embedding, computed before
    any lock is taken, unless every item asked for holds that text already."""
    if change.text is None or manifest["type"] != "text":
        return change
    if all(item["text"] == change.text for item in front.get(name, ids)):
        return change
    return replace(change, vector=get_embedder(manifest["model"]).encode([change.text])[0])


def embed_chunks(chunks: Chunks, model: str | None) -> list[dict[str, Any]]:
    """The items of chunked documents (text.documents), embedded with the namespace's model."""
    vectors = get_embedder(model).encode(chunks.texts)
    return [{"id": i, "vector": v, "text": t, "metadata": m}
            for i, v, t, m in zip(chunks.ids, vectors, chunks.texts, chunks.metadata)]
