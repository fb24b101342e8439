"""Snapshots of one namespace folder, taken while writes continue, and their restore.

A snapshot holds a prefix of the committed batches, never half of one. The SQLite database is
copied with its online backup API in one step (one read transaction: a consistent state, with
its committed row count N, while writers carry on in WAL mode). The row files are appended and
cut back in place, so they are never hard-linked: their first N rows are copied from file
descriptors opened before the backup. Those rows cannot change while the descriptors are open
(rows below the committed count are never rewritten; a compaction writes new files and renames
them over the old ones, which the descriptors keep). A compaction between opening the files and
the backup shows as another epoch (or a pending compaction) in the copy: the snapshot then
starts again.

The snapshot folder: ``manifest.json``, ``codes.u64``, ``vectors.f16``, ``items.sqlite`` (a
namespace folder, so it can be inspected with SQLite) and ``snapshot.json``. It is written under
a hidden name and renamed into place, so a crash leaves no half snapshot at the path.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sqlite3
import uuid
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, BinaryIO

from bitsift.core.errors import InvalidInput, NamespaceBusy, StorageCorrupt
from bitsift.core.spec import VERSION
from bitsift.storage.folder import CODES, CORRECTIVES, ITEMS, VECTORS, NamespaceFolder, new_incarnation
from bitsift.storage.manifest import fsync_dir, read_manifest, write_atomic, write_manifest

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_FORMAT = 1
ATTEMPTS = 5  # compactions racing a snapshot make it start again, at most this often
_COPY_BYTES = 8 << 20  # the row files are copied in blocks of this size: bounded memory


def take(folder: NamespaceFolder, target: Path) -> dict[str, Any]:
    """Snapshot ``folder`` into the new (or empty) folder ``target``; returns what snapshot.json holds."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(f"snapshot path {target} exists and is not an empty folder")
    staging = target.parent / f".snapshot-{target.name}-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        for _ in range(ATTEMPTS):
            info = _copy(folder, staging)
            if info is not None:
                break
            for leftover in staging.iterdir():
                leftover.unlink()
        else:
            raise NamespaceBusy(f"namespace {folder.path.name!r} was compacted during every snapshot attempt; retry")
        write_atomic(staging / SNAPSHOT_FILE, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
        fsync_dir(staging)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.rename(staging, target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def _copy(folder: NamespaceFolder, staging: Path) -> dict[str, Any] | None:
    """One attempt; None if a compaction got in the way."""
    epoch = folder.items.epoch()
    manifest = read_manifest(folder.path)
    # The row files of the manifest's format: an upgrade to format 4 meanwhile adds a file the
    # copied (older) manifest does not name, so the copy is a consistent older folder.
    files = {CODES: folder.codes, VECTORS: folder.vectors}
    if int(manifest.get("format_version", 1)) >= 4:
        files[CORRECTIVES] = folder.correctives
    with ExitStack() as stack:
        sources = {name: stack.enter_context(open(folder.path / name, "rb")) for name in files}
        with closing(sqlite3.connect(staging / ITEMS)) as copy:
            folder.items.conn().backup(copy)  # pages=-1: the whole database in one read transaction
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            meta = dict(copy.execute("SELECT key, value FROM meta"))
        if int(meta.get("epoch", 0)) != epoch or meta.get("compact_pending") == "1":
            return None
        rows = int(meta["committed_rows"])
        for name, rowfile in files.items():
            _copy_prefix(sources[name], staging / name, rows * rowfile.row_bytes)
    write_manifest(staging, manifest)
    return {"snapshot_format": SNAPSHOT_FORMAT, "namespace": folder.path.name, "rows": rows,
            "generation": int(meta["generation"]), "epoch": epoch, "format_version": manifest["format_version"],
            "bitsift_version": VERSION, "taken_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def _copy_prefix(source: BinaryIO, target: Path, size: int) -> None:
    source.seek(0)
    with open(target, "wb") as out:
        left = size
        while left:
            block = source.read(min(left, _COPY_BYTES))
            if not block:
                raise StorageCorrupt(f"{source.name} is shorter than its committed rows")
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())


def read_info(source: Path) -> dict[str, Any]:
    """snapshot.json of a snapshot folder, checked."""
    try:
        info = json.loads((source / SNAPSHOT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a bitsift snapshot (no readable {SNAPSHOT_FILE}: {exc})") from None
    if not isinstance(info, dict) or info.get("snapshot_format") != SNAPSHOT_FORMAT:
        raise InvalidInput(f"{source / SNAPSHOT_FILE}: unknown snapshot format {info!r:.80}")
    return info


def restore(source: Path, target: Path) -> NamespaceFolder:
    """A new namespace at ``target`` from the snapshot at ``source``, with a new incarnation (it is
    another namespace than the one snapshotted, which may still exist)."""
    read_info(source)
    manifest = dict(read_manifest(source), incarnation=new_incarnation())

    def fill(staging: Path) -> None:
        for name in (CODES, VECTORS, ITEMS, CORRECTIVES):
            if name == CORRECTIVES and not (source / name).exists():  # a snapshot of an older format
                continue
            shutil.copyfile(source / name, staging / name)
            with open(staging / name, "rb+") as f:
                os.fsync(f.fileno())
        with closing(sqlite3.connect(staging / ITEMS)) as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('incarnation', ?)", (manifest["incarnation"],))
            c.commit()
        write_manifest(staging, manifest)
    return NamespaceFolder.build(target, fill)
