"""One namespace: its folder on disk, its in-memory scan state, and the commit protocol.

Write path (nothing acknowledged is lost, nothing half-written is seen):
append code and vector rows past the committed count and fsync them, then
commit one SQLite transaction recording the rows and the new count, then
publish the rows to the in-memory scan layout. On open, row files are cut
back to the committed count. See ARCHITECTURE.md for the bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core import kernel, rescore, scoring
from bitsift.core.binarize import Binarizer, Centered, bit_entropy, make_binarizer, words_for
from bitsift.core.errors import InvalidInput, StorageCorrupt
from bitsift.core.filters import compile_filter
from bitsift.core.validate import check_ids, check_items
from bitsift.storage.items import ItemStore
from bitsift.storage.lock import ReadWriteLock, writer_lock
from bitsift.storage.manifest import FORMAT_VERSION, fsync_dir, read_manifest, write_manifest
from bitsift.storage.rowfile import RowFile

CODES, VECTORS, ITEMS, LOCK = "codes.u64", "vectors.f16", "items.sqlite", "writer.lock"
_IO_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bitsift-io")
_MASK_CACHE = 16  # filter masks kept per namespace (1 byte per row each)
BALANCED = ("mib", "centered_mib")  # every code has floor(D/2) bits set
TYPES = ("vector", "text")
_TIE_MARGIN = 64  # extra rows fetched so that the tie group at the cut is whole without a rescan


@dataclass(frozen=True)
class Candidates:
    """Candidates of one query in one namespace (see ranking.py): the k best, plus every row
    tied with the k-th, so that ids (not row order) can settle ties across namespaces/shards."""

    hamming: np.ndarray   # uint32[k]
    rows: np.ndarray      # int64[k]
    scores: np.ndarray    # float64[k], ITS
    tiebreak: np.ndarray  # float64[k]: Hamming distance (binary) or -rho (rescore); smaller first


@dataclass
class _State:
    """Everything a search reads; replaced wholesale on reload, appended in place otherwise."""

    packed: kernel.PackedCodes
    popcounts: np.ndarray  # uint32 per row (capacity may exceed rows)
    rows: int
    generation: int
    epoch: int  # bumped by every compaction: row numbers are valid within one epoch


def new_manifest(ns_type: str, dimension: int, binarizer: Binarizer, model: str | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "type": ns_type,
        "dimension": dimension,
        "words": words_for(dimension),
        "binarizer": binarizer.name,
        "binarizer_params": binarizer.params(),
        "vector_dtype": "float16",
        "model": model,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


class Namespace:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name
        self.manifest = read_manifest(folder)
        self.dimension: int = self.manifest["dimension"]
        self.words: int = self.manifest["words"]
        self.binarizer = make_binarizer(self.manifest["binarizer"], self.manifest.get("binarizer_params"))
        self.items = ItemStore(folder / ITEMS)
        self.codes = RowFile(folder / CODES, np.dtype("<u8"), self.words)
        self.vectors = RowFile(folder / VECTORS, np.dtype("<f2"), self.dimension)
        self._write_lock = threading.Lock()
        self._rw = ReadWriteLock()
        self._vectors_cache: np.ndarray | None = None
        self._masks: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._mask_lock = threading.Lock()
        with self._write_lock, writer_lock(self.folder / LOCK):
            self._recover()
            self._reload()

    @classmethod
    def create(cls, folder: Path, manifest: dict[str, Any]) -> Namespace:
        folder.mkdir(parents=True)
        write_manifest(folder, manifest)
        fsync_dir(folder.parent)
        return cls(folder)

    # --- opening ---------------------------------------------------------------------

    def _recover(self) -> None:
        """Finish or undo an interrupted compaction, then cut row files to the committed count.

        Changes files, so only ever called while holding the cross-process writer lock:
        another process's appended-but-not-yet-committed rows must never be cut off.
        """
        pending = self.items.meta("compact_pending") == "1"
        for rowfile in (self.codes, self.vectors):
            staged = rowfile.path.with_name(rowfile.path.name + ".compact")
            if pending and staged.exists():
                os.replace(staged, rowfile.path)
            elif staged.exists():
                staged.unlink()
        if pending:
            fsync_dir(self.folder)
            self.items.clear_compact_pending()
        committed, _ = self.items.state()
        self.codes.truncate(committed)
        self.vectors.truncate(committed)

    def _load(self) -> _State:
        committed, generation = self.items.state()
        codes = np.array(self.codes.read(committed))
        packed = kernel.PackedCodes.from_codes(codes) if committed else kernel.PackedCodes(self.words)
        dead = self.items.dead_rows(committed)
        if dead.size:
            packed.set_valid(dead, False)
        pops = kernel.popcount_rows(codes) if committed else np.zeros(0, np.uint32)
        return _State(packed, pops, committed, generation, self.items.epoch())

    def _reload(self) -> None:
        """Re-read the manifest (a centered binarizer may have learned its center elsewhere)
        and the committed state. Callers hold the writer lock, so files are consistent."""
        self.manifest = read_manifest(self.folder)
        self.binarizer = make_binarizer(self.manifest["binarizer"], self.manifest.get("binarizer_params"))
        self._state = self._load()
        self._vectors_cache = None

    def refresh_if_stale(self) -> None:
        """Pick up writes made by another process (cheap: one indexed read when nothing changed).

        Never call while holding ``self._rw.read()``: a reload takes the write side.
        """
        if self.items.state()[1] == self._state.generation:
            return
        with self._write_lock, writer_lock(self.folder / LOCK):
            if self.items.state()[1] != self._state.generation:
                with self._rw.write():
                    self._recover()
                    self._reload()

    def layout_changed(self, epoch: int) -> bool:
        """True if rows were renumbered (a compaction, maybe by another process) since ``epoch``."""
        return self.items.epoch() != epoch

    @contextmanager
    def reading(self) -> Iterator[_State]:
        """A consistent view for a search: rows keep their numbering until the block ends
        (compaction in this process waits); another process's compaction is detected
        afterwards with ``layout_changed``."""
        with self._rw.read():
            yield self._state

    def close(self) -> None:
        self.items.close()

    # --- writes ----------------------------------------------------------------------

    def upsert(self, items: Sequence[dict[str, Any]], parents: Sequence[str] | None = None) -> int:
        """Insert or replace items by id; durable and searchable when this returns.

        ``parents`` (one document id per item) marks items as chunks of documents: every
        earlier chunk of those documents is replaced in the same commit.
        """
        batch = check_items(items, self.dimension)
        with self._write_lock, writer_lock(self.folder / LOCK):
            self._refresh_locked()
            if isinstance(self.binarizer, Centered) and not self.binarizer.fitted:
                self._fit_center(batch.vectors)
            codes = self.binarizer.encode(batch.vectors)
            pops = kernel.popcount_rows(codes)
            state = self._state
            start = state.rows
            # Both files are written and fsynced on the I/O pool while SQLite stages the rows;
            # the commit waits for them (fsync releases the GIL and dominates small batches).
            pending = [_IO_POOL.submit(self.codes.append, start, codes),
                       _IO_POOL.submit(lambda: self.vectors.append(start, batch.vectors.astype(np.float16)))]
            try:
                replaced = self.items.commit_rows(
                    start, batch.ids, batch.texts, batch.metadata_json, pops, state.generation + 1,
                    rows_durable=lambda: [p.result() for p in pending], parents=parents,
                )
            finally:
                wait(pending)  # never leave a file append running past the writer lock
            state.packed.append(codes)
            if replaced:
                state.packed.set_valid(np.asarray(replaced), False)
            if state.popcounts.shape[0] < start + len(pops):
                grown = np.zeros(max(2 * state.popcounts.shape[0], start + len(pops)), np.uint32)
                grown[:start] = state.popcounts[:start]
                state.popcounts = grown
            state.popcounts[start : start + len(pops)] = pops
            state.rows = start + len(pops)
            state.generation += 1
        return len(batch.ids)

    def adopt_center(self, params: dict[str, Any]) -> None:
        """Take a center fitted elsewhere, unless one is already set: the shards of one
        sharded namespace must all encode with the center its first batch gave."""
        with self._write_lock, writer_lock(self.folder / LOCK):
            self._refresh_locked()
            if isinstance(self.binarizer, Centered) and not self.binarizer.fitted:
                self.binarizer = make_binarizer(self.manifest["binarizer"], params)
                self.manifest["binarizer_params"] = self.binarizer.params()
                write_manifest(self.folder, self.manifest)

    def _fit_center(self, vectors: np.ndarray) -> None:
        self.binarizer = self.binarizer.fit(vectors)  # type: ignore[union-attr]
        self.manifest["binarizer_params"] = self.binarizer.params()
        write_manifest(self.folder, self.manifest)

    def _refresh_locked(self, rw_held: bool = False) -> None:
        """Inside a write (writer lock held): catch up with other processes' commits."""
        if self.items.state()[1] != self._state.generation:
            if rw_held:
                self._recover()
                self._reload()
            else:
                with self._rw.write():
                    self._recover()
                    self._reload()

    def delete(self, ids: Sequence[Any]) -> list[str]:
        """Mark items dead (a tombstone in SQLite and the validity bitmap); returns the ids found."""
        wanted = check_ids(ids)
        with self._write_lock, writer_lock(self.folder / LOCK):
            self._refresh_locked()
            state = self._state
            found, matched = self.items.kill(wanted, state.rows, state.generation + 1)
            if found:
                state.packed.set_valid(np.fromiter(found.values(), np.int64), False)
            state.generation += 1
        return [i for i in dict.fromkeys(wanted) if i in matched]

    def compact(self) -> dict[str, int]:
        """Rewrite the row files without dead rows; crash-safe by roll-forward (see _recover)."""
        with self._write_lock, writer_lock(self.folder / LOCK), self._rw.write():
            self._refresh_locked(rw_held=True)
            before = self._state.rows
            keep = self.items.alive_rows()
            for rowfile in (self.codes, self.vectors):
                staged = rowfile.path.with_name(rowfile.path.name + ".compact")
                rowfile.write_new(staged, rowfile.read(before)[keep] if keep.size else np.zeros((0, rowfile.cols)))
            fsync_dir(self.folder)
            self.items.renumber_live(self._state.generation + 1)
            self._recover()
            self._reload()
        return {"rows_before": before, "rows_after": int(keep.size)}

    # --- reads -----------------------------------------------------------------------

    @property
    def count(self) -> int:
        self.refresh_if_stale()
        return int(self._state.packed.valid_mask().sum())

    def get(self, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        """Live items for the ids that exist, in the order asked; a document id of a text
        namespace returns all of its chunks."""
        wanted = check_ids(ids)
        self.refresh_if_stale()
        with self._rw.read():
            found = self.items.fetch_ids(wanted)
            vectors = self.vectors.read(self._state.rows) if include_vectors else None
            out, seen = [], set()
            for asked in dict.fromkeys(wanted):
                for id_, row, text, meta in found.get(asked, ()):
                    if id_ in seen:
                        continue
                    seen.add(id_)
                    item: dict[str, Any] = {"id": id_, "text": text, "metadata": json.loads(meta)}
                    if vectors is not None:
                        item["vector"] = vectors[row].astype(np.float32).tolist()
                    out.append(item)
        return out

    def filter_mask(self, spec: dict[str, Any] | None, rows: int) -> np.ndarray | None:
        """Row mask of a metadata filter, evaluated in SQLite.

        Evaluating JSON over every row costs ~1 µs a row, so masks are cached per (filter,
        committed generation, rows): a repeated filter is free until the next write.
        """
        if spec is None:
            return None
        where, params = compile_filter(spec)  # validates even when cached
        key = (json.dumps(spec, sort_keys=True), self._state.generation, rows)
        with self._mask_lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        mask = np.zeros(rows, dtype=bool)
        hits = self.items.rows_matching(where, params)
        mask[hits[hits < rows]] = True
        mask.setflags(write=False)
        with self._mask_lock:
            self._masks[key] = mask
            while len(self._masks) > _MASK_CACHE:
                self._masks.popitem(last=False)
        return mask

    def encode_query(self, query: np.ndarray) -> np.ndarray:
        if isinstance(self.binarizer, Centered) and not self.binarizer.fitted:
            return np.zeros((query.shape[0], self.words), np.uint64)  # empty namespace
        return self.binarizer.encode(query)

    def scan(self, query: np.ndarray, k: int, filter_spec: dict[str, Any] | None = None,
             mode: str = "binary", oversample: int = 1) -> list[Candidates]:
        """Top-k for each query row (float32[Q, D]).

        ``binary``: exact ITS top-k of the codes. With MIB every code has floor(D/2) bits
        set, so ITS is a non-increasing function of the Hamming distance and one Hamming
        top-k is the ITS top-k; other binarizers give unbalanced codes, and the scan widens
        until a bound proves no unseen row scores higher.
        ``rescore``: the ``k * oversample`` nearest codes are re-scored from their float16
        vectors by ITS(arccos(rho)/pi) (see rescore.py); only those rows are read, and all
        of them are returned in scan order so that several namespaces merge exactly.
        """
        state = self._state
        snap = state.packed.snapshot()
        mask = self.filter_mask(filter_spec, snap.rows)
        qcodes = self.encode_query(query)
        if mode == "rescore":
            return [self._rescore(query[i], qcodes[i : i + 1], snap, mask, k, oversample) for i in range(len(query))]
        qpops = kernel.popcount_rows(qcodes)
        balanced = self.binarizer.name in BALANCED
        out = []
        for i in range(qcodes.shape[0]):
            fetch = 2 * k + _TIE_MARGIN  # the pass over the codes dominates; a bigger heap is cheap
            while True:
                dist, rows = kernel.scan_topk(qcodes[i : i + 1], snap, fetch, mask=mask)
                dist, rows = dist[0], rows[0]
                scores = scoring.its(dist, qpops[i], state.popcounts[rows], self.dimension)
                order = np.lexsort((rows, dist, -scores))
                everything = rows.size < fetch
                if order.size > k:
                    cut = order[k - 1]  # the k-th best: every row tied with it must be here too
                    whole = everything or dist[-1] > dist[cut]
                    if everything or (whole and (balanced or self._proven(order[:k], dist, scores, qpops[i], state, k))):
                        keep = (scores > scores[cut]) | ((scores == scores[cut]) & (dist <= dist[cut]))
                        order = order[keep[order]]
                        break
                elif everything:
                    break
                fetch *= 4
            out.append(Candidates(dist[order], rows[order], scores[order], dist[order].astype(np.float64)))
        return out

    def _rescore(self, query: np.ndarray, qcode: np.ndarray, snap: kernel.PackedSnapshot,
                 mask: np.ndarray | None, k: int, oversample: int) -> Candidates:
        """The ``k * oversample`` nearest codes and every code tied with the farthest of them
        (so the pool never depends on row order), with their re-scored ITS, in scan order;
        the caller picks the best k (after merging namespaces)."""
        need = k * oversample
        fetch = 2 * need + _TIE_MARGIN  # usually holds the boundary distance group in one pass
        while True:
            dist, rows = kernel.scan_topk(qcode, snap, fetch, mask=mask)
            dist, rows = dist[0], rows[0]
            if rows.size < fetch or dist[-1] > dist[need - 1]:
                break
            fetch *= 4
        if rows.size > need:
            keep = dist <= dist[need - 1]
            dist, rows = dist[keep], rows[keep]
        rho = kernel.correlation_f16(self._vector_map(snap.rows), rows, query)
        return Candidates(dist, rows, rescore.its_from_correlation(rho), -rho)

    def _vector_map(self, rows: int) -> np.ndarray:
        """A memory map of the float16 rows, reopened only when the file has grown."""
        cached = self._vectors_cache
        if cached is None or cached.shape[0] < rows:
            cached = self._vectors_cache = self.vectors.read(rows)
        return cached

    def _proven(self, order: np.ndarray, dist: np.ndarray, scores: np.ndarray, pop_q: int,
                state: _State, k: int) -> bool:
        """True when no row beyond the fetched ones can beat the k-th best fetched score."""
        if order.size < k:
            return False
        present = np.unique(state.popcounts[: state.rows])
        bound = scoring.its_upper_bound(int(dist.max()), int(pop_q), present, self.dimension)
        return bound < scores[order[-1]]

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "namespace_name": self.name,
            "type": m["type"],
            "vector_dimension": m["dimension"],
            "binarizer": m["binarizer"],
            "model": m.get("model"),
            "created_at": m["created_at"],
            "item_count": self.count,
            "format_version": m["format_version"],
        }

    def diagnostics(self) -> dict[str, Any]:
        """Per-bit entropy of the stored codes: how many of the D bits carry information."""
        state = self._state
        live = state.packed.valid_mask()
        codes = np.asarray(self.codes.read(state.rows))[live]
        entropy = bit_entropy(codes, self.dimension)
        return {
            "rows": state.rows,
            "live": int(live.sum()),
            "bit_entropy_mean": float(entropy.mean()) if entropy.size else 0.0,
            "effective_bits": float(entropy.sum()),
        }


def check_type(ns_type: str) -> str:
    if ns_type not in TYPES:
        raise InvalidInput(f"unknown namespace type {ns_type!r}; valid: {', '.join(TYPES)}")
    return ns_type


def open_namespace(folder: Path) -> Namespace:
    if not (folder / "manifest.json").exists():
        raise StorageCorrupt(f"{folder} is not a bitsift namespace (no manifest.json)")
    return Namespace(folder)
