"""One namespace folder on disk: its files, recovery, and the commit protocol.

Write path (nothing acknowledged is lost, nothing half-written is seen): append code and
vector rows past the committed count and fsync them, then commit one SQLite transaction
recording the rows and the new count. On open, row files are cut back to the committed
count, and an interrupted compaction is rolled forward. See ARCHITECTURE.md for the bytes.
Every method that changes a file runs inside :meth:`NamespaceFolder.writing`.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core import asymmetric
from bitsift.core.binarize import Binarizer, words_for
from bitsift.core.errors import NamespaceBusy, NamespaceExists, NamespaceGone, ReadOnly, StorageCorrupt
from bitsift.core.validate import Batch
from bitsift.storage.disk import disk_errors
from bitsift.storage.items import ItemStore
from bitsift.storage.lock import writer_lock
from bitsift.storage.manifest import FORMAT_VERSION, MANIFEST, fsync_dir, read_manifest, write_manifest
from bitsift.storage.rowfile import RowFile

CODES, VECTORS, ITEMS, LOCK = "codes.u64", "vectors.f16", "items.sqlite", "writer.lock"
CORRECTIVES = "correctives.f32"  # format 4: (alpha, sigma) per row, the asymmetric first stage's scalars
CREATING_PREFIX = ".creating-"  # a namespace being made; renamed into place when complete
Row = tuple["str | None", str]  # (text, metadata JSON) of a fetched row
_IO_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bitsift-io")


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
        "incarnation": new_incarnation(),
    }


def new_incarnation() -> str:
    """The identity of one life of a namespace: a delete + re-create of the name gets a new one."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Committed:
    """What the last commit made durable, as read back from the files."""

    codes: np.ndarray  # uint64[rows, W], read into memory
    scalars: np.ndarray | None  # float32[rows, 2]: corrective scalars (None: a folder older than format 4)
    dead: np.ndarray   # int64: rows deleted or replaced
    ids: list[str]     # id of every row
    rows: int
    generation: int    # bumped by every commit
    epoch: int         # bumped by every compaction: row numbers are valid within one epoch
    start: int = 0     # codes, scalars and ids hold rows start..rows-1 (a catch-up); dead: all of them


READ_RETRY_S = 5.0  # a read-only handle waits this long for a compaction's roll-forward, then 503


class NamespaceFolder:
    """``read_only``: a reader that never takes the writer lock, never cuts or writes a file, and
    sees only committed rows (a search replica's handle; :meth:`read_committed`)."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.read_only = read_only
        try:
            self._open(path)
        except (StorageCorrupt, sqlite3.Error, OSError):
            if not path.exists():  # not damaged: deleted (by another process) while it opened
                raise NamespaceGone(f"namespace {path.name!r} was deleted") from None
            raise

    def _open(self, path: Path) -> None:
        if not (path / MANIFEST).exists():
            raise StorageCorrupt(f"{path} is not a bitsift namespace (no {MANIFEST})")
        self.path = path
        self.manifest = read_manifest(path)
        self.incarnation: str | None = self.manifest.get("incarnation")  # None: format version 1
        dims, words = self.manifest["dimension"], self.manifest["words"]
        if not (path / ITEMS).is_file():  # never start a fresh one: the row files would be cut to 0
            raise StorageCorrupt(f"{path / ITEMS} is missing")
        self.items = ItemStore(path / ITEMS, read_only=self.read_only)
        self._items_path = str(path / ITEMS)
        stat = os.stat(self._items_path)
        self._items_inode = (stat.st_dev, stat.st_ino)  # held open, so never reused while we live
        stored = self.items.meta("incarnation")
        if self.incarnation is not None and stored != self.incarnation:
            self.items.close()
            raise StorageCorrupt(f"{path / ITEMS} belongs to incarnation {stored!r} but {path / MANIFEST} "
                                 f"to {self.incarnation!r}: files of two namespaces were mixed")
        self.codes = RowFile(path / CODES, np.dtype("<u8"), words)
        self.vectors = RowFile(path / VECTORS, np.dtype("<f2"), dims)
        self.correctives = RowFile(path / CORRECTIVES, np.dtype("<f4"), 2)
        self._write_lock = threading.Lock()

    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any]) -> NamespaceFolder:
        """A new, empty namespace folder (see :meth:`build`)."""
        def fill(staging: Path) -> None:
            for name in (CODES, VECTORS, CORRECTIVES):
                (staging / name).touch()
            write_manifest(staging, manifest)
            items = ItemStore(staging / ITEMS, create=True)
            items.set_meta("incarnation", manifest["incarnation"])
            items.close()
        return cls.build(path, fill)

    @classmethod
    def build(cls, path: Path, fill: Callable[[Path], None]) -> NamespaceFolder:
        """Make the whole folder under a hidden name (``fill`` writes its files there), then rename
        it into place: a crash or a full disk leaves no half-made namespace, and of two processes
        creating one name, one wins."""
        staging = path.parent / f"{CREATING_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
        try:
            with disk_errors(path):
                staging.mkdir(parents=True)
                fill(staging)
                fsync_dir(staging)
                try:
                    os.rename(staging, path)  # fails if a non-empty folder holds the name
                except OSError as exc:
                    if path.exists():
                        raise NamespaceExists(f"namespace {path.name!r} already exists") from exc
                    raise
                fsync_dir(path.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        with just_created(path):
            return cls(path)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The writer's side: one thread of this process and one process at a time, and only
        while this handle's incarnation is the one on disk (raises :class:`NamespaceGone`)."""
        if self.read_only:
            raise ReadOnly(f"namespace {self.path.name!r} is open read-only here; writes go to its writer")
        with self._write_lock, writer_lock(self.path / LOCK), disk_errors(self.path, self.items.release_space):
            self.check_current()
            yield

    def check_current(self) -> None:
        """Raise :class:`NamespaceGone` unless the folder at this path is still this handle's
        incarnation. Under the writer lock the answer holds until the lock is released, because
        a delete takes the lock before it renames the folder away."""
        if not self.is_current():
            raise NamespaceGone(f"namespace {self.path.name!r} was deleted")

    def replaced(self) -> bool:
        """One stat: has the folder at this path been deleted or re-created since this handle
        opened it? Cheap enough for every search (the full check is :meth:`is_current`)."""
        if self.items.closed:  # closed handles are deleted ones; their inode may be reused
            return True
        try:
            stat = os.stat(self._items_path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._items_inode

    def is_current(self) -> bool:
        if self.replaced():
            return False
        try:
            on_disk = read_manifest(self.path)
        except StorageCorrupt:
            if not (self.path / MANIFEST).exists():
                return False
            raise
        return on_disk.get("incarnation") == self.incarnation

    @property
    def has_correctives(self) -> bool:
        """Format 4 and later keep the corrective scalars on disk; older folders compute them."""
        return int(self.manifest.get("format_version", 1)) >= 4

    def _rowfiles(self) -> tuple[RowFile, ...]:
        return (self.codes, self.vectors, self.correctives) if self.has_correctives else (self.codes, self.vectors)

    def upgrade(self) -> None:
        """Migrate an older folder on its first write (inside ``writing()``): version 1 gains an
        incarnation id, versions 1 and 2 the keyword index, versions 1 to 3 the corrective scalars
        of every committed row (written whole and renamed into place), files and SQLite first and
        the manifest last, so a crash between the steps only repeats them."""
        self.manifest = read_manifest(self.path)  # another process may have migrated it already
        if self.manifest.get("format_version") == FORMAT_VERSION:
            return
        if not self.has_correctives:
            rows, _ = self.items.state()
            staged = self.correctives.path.with_name(CORRECTIVES + ".new")
            self.correctives.write_new(staged, asymmetric.correctives(self.vectors.read(rows), self.codes.read(rows),
                                                                      self.manifest["dimension"]))
            os.replace(staged, self.correctives.path)
            fsync_dir(self.path)
        incarnation = self.items.meta("incarnation") or new_incarnation()
        self.items.set_meta("incarnation", incarnation)
        self.items.add_keyword_index()
        self.set_manifest(dict(self.manifest, format_version=FORMAT_VERSION, incarnation=incarnation))
        self.incarnation = incarnation

    def close(self) -> None:
        self.items.close()

    # --- inside writing() ------------------------------------------------------------

    def recover(self) -> None:
        """Finish or undo an interrupted compaction, then cut row files to the committed count.

        Only ever called inside ``writing()``: another process's appended-but-not-yet-committed
        rows must never be cut off.
        """
        # The manifest as it is now: another process may have migrated the folder (adding a row
        # file) since this handle read it, and a roll-forward must not skip that file.
        self.manifest = read_manifest(self.path)
        pending = self.items.meta("compact_pending") == "1"
        for rowfile in self._rowfiles():
            staged = rowfile.path.with_name(rowfile.path.name + ".compact")
            if pending and staged.exists():
                os.replace(staged, rowfile.path)
            elif staged.exists():
                staged.unlink()
        if pending:
            fsync_dir(self.path)
            self.items.clear_compact_pending()
        committed, _ = self.items.state()
        for rowfile in self._rowfiles():
            rowfile.truncate(committed)

    def read_committed(self, since: int = 0, epoch: int | None = None) -> Committed:
        """The committed rows, re-reading the manifest (a centred binarizer may have learned its
        center in another process); only rows from ``since`` if the epoch is still ``epoch`` (a
        handle catching up), else all of them. Inside ``writing()`` the files are consistent.

        A read-only handle takes no lock: it reads the row count, epoch and ids in one SQLite
        read transaction, then the rows, and starts again if a compaction committed in between
        (its rewritten files replace the old ones only after its commit, so an unchanged epoch
        after the read proves the rows were that epoch's; rows below the count never change
        within one). While a compaction's roll-forward is pending it waits (up to
        READ_RETRY_S, then NamespaceBusy: 503 with Retry-After)."""
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            got = self._read_once(since, epoch)
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise NamespaceBusy(f"namespace {self.path.name!r} is being compacted; retry shortly")
            time.sleep(0.01)

    def _read_once(self, since: int, epoch: int | None) -> Committed | None:
        with self.items.one_read():
            rows, generation = self.items.state()
            now = self.items.epoch()
            pending = self.items.meta("compact_pending") == "1"
            start = since if epoch == now and since <= rows else 0
            ids, dead = self.items.ids(rows, start), self.items.dead_rows(rows)
        if pending:  # only a reader sees it: under the writer lock, recover() has finished it
            return None
        self.manifest = read_manifest(self.path)
        try:
            for rowfile in self._rowfiles():
                rowfile.require(rows)
            scalars = np.array(self.correctives.read(rows)[start:]) if self.has_correctives else None
            codes = np.array(self.codes.read(rows)[start:])
        except (StorageCorrupt, ValueError):  # files shorter than the count: compacted since (a reader)
            if self.read_only and self.items.epoch() != now:
                return None
            raise
        if self.read_only and (self.items.epoch() != now or self.items.meta("compact_pending") == "1"):
            return None
        return Committed(codes, scalars, dead, ids, rows, generation, now, start)

    def append(self, start: int, codes: np.ndarray, scalars: np.ndarray, batch: Batch, popcounts: np.ndarray,
               generation: int, parents: Sequence[str | None] | None, siblings_die: bool = True) -> list[int]:
        """Write a batch's rows (codes, corrective scalars, vectors) after row ``start``, then commit;
        returns the rows it replaced. Only on a format-4 folder (``upgrade`` first)."""
        # The files are written and fsynced on the I/O pool while SQLite stages the rows;
        # the commit waits for them (fsync releases the GIL and dominates small batches).
        pending = [_IO_POOL.submit(self.codes.append, start, codes),
                   _IO_POOL.submit(self.correctives.append, start, scalars),
                   _IO_POOL.submit(lambda: self.vectors.append(start, batch.vectors.astype(np.float16)))]

        def rows_durable() -> None:
            for p in pending:
                p.result()

        try:
            return self.items.commit_rows(start, batch.ids, batch.texts, batch.metadata_json, popcounts, generation,
                                          rows_durable=rows_durable, parents=parents, siblings_die=siblings_die)
        finally:
            wait(pending)  # never leave a file append running past the writer lock

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        write_manifest(self.path, manifest)
        self.manifest = manifest

    def compact(self, rows: int, generation: int) -> int:
        """Rewrite the row files without dead rows; crash-safe by roll-forward (see recover).
        Returns the rows kept."""
        keep = self.items.alive_rows()
        rowfiles = self._rowfiles()
        staged = [rowfile.path.with_name(rowfile.path.name + ".compact") for rowfile in rowfiles]
        try:
            for rowfile, path in zip(rowfiles, staged):
                rowfile.write_new(path, rowfile.read(rows)[keep] if keep.size else np.zeros((0, rowfile.cols)))
            fsync_dir(self.path)
            self.items.renumber_live(generation)
        except BaseException:
            if self.items.meta("compact_pending") != "1":  # not committed: the old files stay
                for path in staged:
                    path.unlink(missing_ok=True)
            raise
        self.recover()
        return int(keep.size)

    # --- any time --------------------------------------------------------------------

    def generation(self) -> int:
        """The last commit's generation (one indexed read)."""
        return self.items.state()[1]

    def fetch(self, rows: Sequence[int], epoch: int) -> dict[int, Row] | None:
        """row -> (text, metadata JSON) of ``rows``, or None if a compaction (maybe in another
        process) renumbered rows since ``epoch``. The epoch is read after the rows: epochs only
        grow, so an unchanged one proves the rows were read in that epoch."""
        info = self.items.fetch(rows)
        if self.items.epoch() != epoch or len(info) != len(set(rows)):
            return None
        return info


@contextmanager
def just_created(path: Path) -> Iterator[None]:
    """Around opening what was just created at ``path``: a failure because the folder is gone
    means another process deleted it right after it was made, so it becomes NamespaceGone and the
    caller knows the create itself took effect."""
    try:
        yield
    except Exception:
        if (path / MANIFEST).is_file():
            raise
        raise NamespaceGone(f"namespace {path.name!r} was deleted right after it was created") from None
