"""``ShardedEngine``: the Engine's methods over namespaces split into Ray-actor shards.

Layout: ``<root>/<name>/sharded.json`` (the namespace manifest plus ``shards`` and the node of
each shard) and ``<root>/<name>/shard-<i>/``, each an ordinary namespace folder. Items route to
``shard_of(id)`` (chunks of a text namespace: ``shard_of(document id)``, so re-uploading a
document replaces its chunks in one shard's commit). A search fans out to every shard and
merges with ``ranking.rank``, the rule one machine uses, so results are identical.
"""

from __future__ import annotations

import heapq
import json
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core.binarize import Centered, make_binarizer
from bitsift.core.bm25 import TermStats, sum_stats
from bitsift.core.candidates import Answer
from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT, check_limit, decode_cursor, page
from bitsift.core.errors import InvalidInput, NamespaceExists, NamespaceNotFound
from bitsift.core.filters import check_filter, deletion_filter
from bitsift.core.results import NamespaceInfo, ScrollPage, SearchResponse, SnapshotInfo
from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.core.validate import check_ids, check_items, check_name
from bitsift.distributed import cluster
from bitsift.distributed.routing import group_by_shard
from bitsift.engine import pipeline
from bitsift.engine.front import ParsedFront
from bitsift.engine.ingestion import IngestingFront, Ingestion
from bitsift.engine.llm import ChatCompletions, llm_from_env
from bitsift.engine.local import TRASH_PREFIX, embed_chunks, require_type, with_new_vector
from bitsift.engine.request import NamespaceRequest, SearchRequest, new_namespace_manifest, parse_change
from bitsift.storage.folder import Row
from bitsift.storage.manifest import fsync_dir, write_atomic
from bitsift.text.documents import Chunks

SHARDED = "sharded.json"


@dataclass
class _Sharded:
    name: str
    manifest: dict[str, Any]  # the namespace manifest every shard holds, plus shards and nodes
    shards: list[cluster.ShardRef]


class ShardedEngine(IngestingFront, ParsedFront):
    """Same methods as :class:`bitsift.engine.local.Engine`; every namespace under ``path`` is sharded.

    ``address``: "auto", "local" or "ray://host:port" (see ``cluster.connect``). Writes to a
    restarting shard are retried for ``write_retry_s`` (upserts and deletes by id are
    idempotent); a search never waits for a down shard: it fails, or with ``partial=True``
    answers from the live shards and says so.
    """

    def __init__(self, path: str | Path, address: str = "auto", chunk_size: int = DEFAULT_CHUNK_SIZE,
                 chunk_overlap: int = DEFAULT_CHUNK_OVERLAP, write_retry_s: float = 60.0,
                 timeout_s: float = 120.0, llm: ChatCompletions | None = None) -> None:
        cluster.connect(address)
        self.llm = llm if llm is not None else llm_from_env()
        self.root = Path(path).resolve()  # shard actors run in other processes, in other directories
        self.root.mkdir(parents=True, exist_ok=True)
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.write_retry_s, self.timeout_s = write_retry_s, timeout_s
        self._open: dict[str, _Sharded] = {}
        self._lock = threading.Lock()
        self._center_lock = threading.Lock()
        for stale in self.root.glob(TRASH_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.ingestion = Ingestion(self.root, self, chunk_size, chunk_overlap)  # document uploads are jobs

    def _llm(self) -> ChatCompletions | None:
        return self.llm

    def close(self) -> None:
        self.ingestion.close()
        with self._lock:
            for sns in self._open.values():
                for shard in sns.shards:
                    cluster.stop_shard(shard)
            self._open.clear()

    # --- namespaces ------------------------------------------------------------------

    def _namespace(self, name: str) -> _Sharded:
        check_name(name)
        with self._lock:
            sns = self._open.get(name)
            if sns is None:
                path = self.root / name / SHARDED
                if not path.exists():
                    raise NamespaceNotFound(f"namespace {name!r} does not exist")
                sns = self._open[name] = self._start(name, json.loads(path.read_text()))
            return sns

    def _start(self, name: str, manifest: dict[str, Any]) -> _Sharded:
        shard_manifest = {k: v for k, v in manifest.items() if k not in ("shards", "nodes")}
        live = cluster.node_ips()
        refs = [cluster.start_shard(self.root, name, i, self._folder(name, i), shard_manifest, manifest["nodes"][i],
                                    live) for i in range(manifest["shards"])]
        cluster.gather(refs, [lambda a: a.pid.remote()] * len(refs), self.timeout_s)  # all opened
        return _Sharded(name, manifest, refs)

    def _folder(self, name: str, index: int) -> Path:
        return shard_folder(self.root / name, index)

    def _create_parsed(self, request: NamespaceRequest) -> NamespaceInfo:
        """As ``Engine.create_namespace``; ``shards`` defaults to one per live Ray node."""
        nodes = cluster.node_ips()
        count = len(nodes) if request.shards is None else request.shards
        manifest = new_namespace_manifest(request)  # what one machine would write, held by every shard
        with self._lock:
            folder = self.root / request.name
            if folder.exists():
                raise NamespaceExists(f"namespace {request.name!r} already exists")
            folder.mkdir()
            manifest.update(shards=count, nodes=[nodes[i % len(nodes)] for i in range(count)])
            # The manifest first: shards create their folders on first start, so a crash here
            # leaves a namespace whose shards simply start (empty) on next use.
            write_atomic(folder / SHARDED, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
            fsync_dir(self.root)
            sns = self._open[request.name] = self._start(request.name, manifest)
        return self._describe(sns)

    def list_namespaces(self) -> list[NamespaceInfo]:
        names = sorted(p.parent.name for p in self.root.glob(f"*/{SHARDED}") if not p.parent.name.startswith("."))
        return [self.describe_namespace(n) for n in names]

    def describe_namespace(self, name: str) -> NamespaceInfo:
        return self._describe(self._namespace(name))

    def _describe(self, sns: _Sharded) -> NamespaceInfo:
        parts, _ = cluster.gather(sns.shards, [lambda a: a.describe.remote()] * len(sns.shards), self.timeout_s)
        first: NamespaceInfo = parts[0]
        return {**first, "namespace_name": sns.name, "item_count": sum(p["item_count"] for p in parts),
                "shards": len(sns.shards)}

    def diagnostics(self, name: str) -> dict[str, Any]:
        """Totals over the shards, and each shard's own figures (entropies do not add up)."""
        sns = self._namespace(name)
        parts, _ = cluster.gather(sns.shards, [lambda a: a.diagnostics.remote()] * len(sns.shards), self.timeout_s)
        return {"rows": sum(p["rows"] for p in parts), "live": sum(p["live"] for p in parts),
                "shards": [dict(p, shard=s.label) for s, p in zip(sns.shards, parts)]}

    def delete_namespace(self, name: str) -> None:
        sns = self._namespace(name)
        with self._lock:
            for shard in sns.shards:
                cluster.stop_shard(shard)
            self._open.pop(name, None)
            trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
            (self.root / name).rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    # --- writes ----------------------------------------------------------------------

    def upsert(self, name: str, items: Sequence[dict[str, Any]]) -> int:
        """Validated whole first (a bad batch writes nothing anywhere), then each shard's part
        is one atomic commit there. If a shard fails for good the call raises and the other
        shards' parts stay written; retrying the call is safe (upsert by id is idempotent)."""
        sns = self._namespace(name)
        require_type(sns.manifest, name, "vector")
        batch = check_items(items, sns.manifest["dimension"])
        self._fit_center(sns, batch.vectors)
        self._write(sns, items, batch.ids, None)
        return len(batch.ids)

    def _text_identity(self, name: str) -> str | None:
        sns = self._namespace(name)
        require_type(sns.manifest, name, "text")
        return sns.manifest.get("incarnation")

    def _write_chunks(self, name: str, identity: str | None, chunks: Chunks) -> None:
        sns = self._namespace(name)
        require_type(sns.manifest, name, "text")
        if identity is not None and sns.manifest.get("incarnation") != identity:
            raise NamespaceNotFound(f"namespace {name!r} was deleted after the upload was accepted")
        items = embed_chunks(chunks, sns.manifest["model"])
        self._fit_center(sns, np.stack([it["vector"] for it in items]))
        self._write(sns, items, chunks.parents, chunks.parents)

    def _write(self, sns: _Sharded, items: Sequence[dict[str, Any]], keys: Sequence[str],
               parents: Sequence[str] | None) -> None:
        groups = group_by_shard(keys, len(sns.shards))
        threads = []
        errors: list[BaseException] = []

        def send(index: int, at: list[int]) -> None:
            part = [items[i] for i in at]
            owners = None if parents is None else [parents[i] for i in at]
            try:
                cluster.call_with_retry(sns.shards[index], lambda a: a.upsert.remote(part, owners),
                                        self.write_retry_s, self.timeout_s)
            except BaseException as err:  # noqa: BLE001 - re-raised below, after the others finish
                errors.append(err)

        for index, at in groups.items():
            t = threading.Thread(target=send, args=(index, at), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _fit_center(self, sns: _Sharded, vectors: np.ndarray) -> None:
        """A centered binarizer learns its center from the first batch, as on one machine;
        every shard then adopts that center before any of them encodes a row."""
        with self._center_lock:
            binarizer = make_binarizer(sns.manifest["binarizer"], sns.manifest.get("binarizer_params"))
            if not isinstance(binarizer, Centered) or binarizer.fitted:
                return
            params = binarizer.fit(vectors).params()
            cluster.gather(sns.shards, [lambda a: a.adopt_center.remote(params)] * len(sns.shards), self.timeout_s)
            sns.manifest["binarizer_params"] = params
            write_atomic(self.root / sns.name / SHARDED,
                         (json.dumps(sns.manifest, indent=2, sort_keys=True) + "\n").encode())

    def delete(self, name: str, ids: Sequence[Any] | None = None, filter: dict[str, Any] | None = None) -> list[str]:
        """Ids go to their owners; in a text namespace a document id's chunks live with the
        document but a chunk id may be asked for too, so every shard is asked. A filter goes to
        every shard; the ids each deleted are merged in id order, as one machine returns them."""
        sns = self._namespace(name)
        flt = deletion_filter(ids, filter)
        if flt is not None:
            per_shard = [cluster.call_with_retry(shard, _remote("delete_matching", flt), self.write_retry_s,
                                                 self.timeout_s) for shard in sns.shards]
            return list(heapq.merge(*per_shard))
        wanted = check_ids(ids)
        if sns.manifest["type"] == "text":
            targets = {i: wanted for i in range(len(sns.shards))}
        else:
            targets = {i: [wanted[j] for j in at] for i, at in group_by_shard(wanted, len(sns.shards)).items()}
        matched: set[str] = set()
        for index, part in targets.items():
            found = cluster.call_with_retry(sns.shards[index], _remote("delete", part), self.write_retry_s,
                                            self.timeout_s)
            matched.update(found)
        return [i for i in dict.fromkeys(wanted) if i in matched]

    def snapshot(self, name: str, snapshot: str | Path) -> SnapshotInfo:
        raise InvalidInput("snapshots are of one machine's namespaces; a sharded namespace's shards are folders "
                           "under its data directory (README, \"Snapshots\": what a per-shard copy guarantees)")

    def restore(self, snapshot: str | Path, name: str) -> NamespaceInfo:
        raise InvalidInput("a snapshot restores on one machine (Client(path=...) or bitsift restore), not into "
                           "a sharded namespace")

    def compact(self, name: str) -> dict[str, int]:
        sns = self._namespace(name)
        parts, _ = cluster.gather(sns.shards, [lambda a: a.compact.remote()] * len(sns.shards), self.timeout_s)
        return {"rows_before": sum(p["rows_before"] for p in parts), "rows_after": sum(p["rows_after"] for p in parts)}

    # --- reads -----------------------------------------------------------------------

    def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
               filter: dict[str, Any] | None = None) -> ScrollPage:
        """As ``Engine.scroll``: every shard's next items after the cursor, merged in id order
        (ids are unique across shards), so pages equal one machine's."""
        limit, after, flt = check_limit(limit), decode_cursor(cursor), check_filter(filter)
        sns = self._namespace(name)
        per_shard, _ = cluster.gather(
            sns.shards, [lambda a: a.scroll.remote(after, limit + 1, flt)] * len(sns.shards), self.timeout_s)
        return page(list(heapq.merge(*per_shard, key=lambda item: item["id"]))[: limit + 1], limit)

    def update(self, name: str, ids: Sequence[Any], metadata: dict[str, Any] | None = None, text: str | None = None,
               unset: Sequence[str] | None = None) -> list[str]:
        """As ``Engine.update``: the coordinator embeds a changed text once; ids go to their
        owners (every shard in a text namespace, where a chunk lives with its document)."""
        sns = self._namespace(name)
        text_ns = sns.manifest["type"] == "text"
        change = with_new_vector(self, name, sns.manifest, parse_change(metadata, text, unset, text_ns), ids)
        wanted = check_ids(ids)
        if text_ns:
            targets = {i: wanted for i in range(len(sns.shards))}
        else:
            targets = {i: [wanted[j] for j in at] for i, at in group_by_shard(wanted, len(sns.shards)).items()}
        updated: set[str] = set()
        for index, part in targets.items():
            updated.update(cluster.call_with_retry(sns.shards[index], _remote("update", part, change),
                                                   self.write_retry_s, self.timeout_s))
        order: dict[str, None] = {}
        for item in self.get(name, wanted):  # the order one machine answers in: as asked, chunks by row
            if item["id"] in updated:
                order[item["id"]] = None
        return list(order)

    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        """The shards' counts summed (an id lives on one shard only)."""
        flt = check_filter(filter)
        sns = self._namespace(name)
        counts, _ = cluster.gather(sns.shards, [lambda a: a.count.remote(flt)] * len(sns.shards), self.timeout_s)
        return sum(counts)

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        sns = self._namespace(name)
        wanted = list(dict.fromkeys(check_ids(ids)))
        per_shard, _ = cluster.gather(
            sns.shards, [lambda a: a.get_each.remote(wanted, include_vectors)] * len(sns.shards), self.timeout_s)
        out, seen = [], set()
        for j in range(len(wanted)):
            for answer in per_shard:
                for item in answer[j]:
                    if item["id"] not in seen:
                        seen.add(item["id"])
                        out.append(item)
        return out

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        """As ``Engine.search``, over every shard of every namespace named. A shard that is
        down fails the search with ShardUnavailable (503) naming it, unless ``partial``: then
        the answer comes from the live shards and carries ``partial: true`` and the
        ``missing_shards``."""
        return pipeline.search(request, _ShardParts([self._namespace(n) for n in request.names], self.timeout_s))


class _ShardParts:
    """The pipeline's parts on Ray: one per shard (namespace-major: that order breaks ties),
    every shard asked at once."""

    def __init__(self, spaces: list[_Sharded], timeout_s: float) -> None:
        self.manifests = [s.manifest for s in spaces]
        self.shards = [(s, ref) for s in spaces for ref in s.shards]
        self.namespaces = [s.name for s, _ in self.shards]
        self.timeout_s = timeout_s

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> tuple[list[Answer | None], list[str]]:
        return cluster.gather([ref for _, ref in self.shards],
                              [lambda a: a.candidates.remote(queries, request)] * len(self.shards),
                              self.timeout_s, allow_missing=request.partial)

    def term_stats(self, terms: Sequence[str], request: SearchRequest) -> TermStats:
        """Every shard's statistics, summed: the collection-wide ones (DFS, as distributed search
        engines call it), so each shard's BM25 equals what one machine would compute."""
        got, _ = cluster.gather([ref for _, ref in self.shards], [_remote("term_stats", list(terms))] * len(self.shards),
                                self.timeout_s, allow_missing=request.partial)
        return sum_stats([g for g in got if g is not None])

    def fetch(self, asks: Mapping[int, tuple[list[int], int]]) -> dict[int, dict[int, Row] | None]:
        used = sorted(asks)
        answers, _ = cluster.gather([self.shards[i][1] for i in used],
                                    [_remote("fetch", *asks[i]) for i in used], self.timeout_s)
        return dict(zip(used, answers))

    def response_fields(self, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
        return shard_fields(len(self.shards), request, missing)

    def steady(self) -> AbstractContextManager[None]:
        return nullcontext()  # shard actors compact on their own; a refused fetch is retried


def shard_folder(namespace: Path, index: int) -> Path:
    """The folder of shard ``index`` of the sharded namespace at ``namespace``."""
    return namespace / f"shard-{index:03d}"


def shard_fields(shards: int, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
    """What a sharded search's response adds: the shard count and, if asked, whether it is partial."""
    out: dict[str, Any] = {"shards": shards}
    if request.partial:
        out.update(partial=bool(missing), missing_shards=missing)
    return out


def _remote(method: str, *args: Any) -> Callable[[Any], Any]:
    """The call ``actor.<method>.remote(*args)``, for cluster.gather and call_with_retry."""
    return lambda actor: getattr(actor, method).remote(*args)
