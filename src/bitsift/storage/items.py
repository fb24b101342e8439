"""items.sqlite: row -> id, text, metadata, popcount, alive; plus the committed row count.

The SQLite commit is the moment a write becomes real: row files are appended
and fsynced first, then one transaction records the rows and the new count.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core.errors import NamespaceGone, StorageCorrupt
from bitsift.core.filters import WORD_FUNCTION, has_word
from bitsift.storage import keywords

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    row      INTEGER PRIMARY KEY,
    id       TEXT    NOT NULL,
    text     TEXT,
    metadata TEXT    NOT NULL DEFAULT '{}',
    popcount INTEGER NOT NULL,
    alive    INTEGER NOT NULL DEFAULT 1,
    parent   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS items_live_id ON items(id) WHERE alive = 1;
CREATE INDEX IF NOT EXISTS items_live_parent ON items(parent) WHERE alive = 1 AND parent IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Only for a new file: on an existing one a missing count must be an error, never a 0 that
# would cut the row files back to nothing.
NEW_META = "INSERT OR IGNORE INTO meta VALUES ('committed_rows', '0'), ('generation', '0'), ('epoch', '0');"
REQUIRED_META = ("committed_rows", "generation")
_CHUNK = 900  # bound parameters per IN (...) list, well under SQLite's limit


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's own verdict that a file is damaged (not busy, not full)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in str(exc) \
        or "not a database" in str(exc)


BUSY_TIMEOUT_S = 30.0


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection to one of bitsift's SQLite files: autocommit (transactions are explicit), WAL,
    fsync on commit. Switching a new file to WAL takes an exclusive lock that SQLite does not wait
    for (the busy timeout does not cover it), so connections racing on a fresh file (the first
    uploads of a job store from several threads or workers) retry it for the same timeout.
    ``read_only``: SQLite itself refuses every write (a search replica's handle); the file is
    in WAL mode already, since only a writer creates one."""
    if read_only:
        uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    c = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            c.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                c.close()
                raise
            time.sleep(0.005)
    c.execute("PRAGMA synchronous=FULL")
    return c


def _rollback(c: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: after SQLITE_FULL, SQLite may have rolled it back
    itself, and a second ROLLBACK would raise and hide the real error."""
    if c.in_transaction:
        c.execute("ROLLBACK")


def _chunks(seq: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), _CHUNK):
        yield seq[i : i + _CHUNK]


class ItemStore:
    """Thread-safe access: one connection per thread, WAL so readers never block the writer."""

    def __init__(self, path: Path, create: bool = False, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.closed = False
        self._keyword_index: bool | None = None
        try:
            c = self.conn()
            if create:
                c.executescript(SCHEMA + keywords.SCHEMA + NEW_META)
            else:
                self._check_tables(c)
        except sqlite3.DatabaseError as exc:
            self.close()
            if is_corrupt(exc):
                raise StorageCorrupt(f"{path} is not a readable SQLite database ({exc})") from exc
            raise
        except StorageCorrupt:
            self.close()
            raise

    def _check_tables(self, c: sqlite3.Connection) -> None:
        tables = {name for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"items", "meta"} <= tables:
            raise StorageCorrupt(f"{self.path} lacks the tables items and meta (has {sorted(tables)})")
        keys = {k for (k,) in c.execute("SELECT key FROM meta")}
        if not set(REQUIRED_META) <= keys:
            raise StorageCorrupt(f"{self.path}: the meta table lacks {sorted(set(REQUIRED_META) - keys)}")

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            if self.closed:  # a connection opens by path, which may hold another namespace by now
                raise NamespaceGone(f"the handle on {self.path.parent.name!r} was closed (namespace deleted)")
            c = connect(self.path, self.read_only)
            c.create_function(WORD_FUNCTION, 2, has_word, deterministic=True)  # filters' $text
            self._local.conn = c
            with self._all_lock:
                self._all.append(c)
        return c

    def close(self) -> None:
        self.closed = True
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.ProgrammingError:
                    pass  # owned by a thread that is gone; the handle is released with it
            self._all.clear()
        self._local = threading.local()

    # --- the keyword index (format version 3; storage.keywords) ------------------------

    @property
    def keyword_index(self) -> bool:
        """Whether this file has the keyword index (a format-2 file gains it on its first write)."""
        if not self._keyword_index:
            self._keyword_index = keywords.has_index(self.conn())
        return self._keyword_index

    @property
    def keyword_table(self) -> str | None:
        """The FTS5 table behind ``$text`` filters and keyword search, None before format 3."""
        return keywords.TABLE if self.keyword_index else None

    def add_keyword_index(self) -> None:
        """Migrate to format 3: the index built over every live text, in one transaction."""
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            if not keywords.has_index(c):
                keywords.create_index(c)
            c.execute("COMMIT")
        except BaseException:
            _rollback(c)
            raise
        self._keyword_index = True

    def postings(self, term: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
        return keywords.postings(self.conn(), term, rows)

    def term_frequencies(self, terms: Sequence[str]) -> list[int]:
        return keywords.frequencies(self.conn(), terms)

    def token_counts(self, start: int, rows: int) -> np.ndarray:
        return keywords.lengths(self.conn(), start, rows)

    def release_space(self) -> None:
        """After a write failed for want of space: empty the WAL (it still holds the frames of
        the rolled-back transaction), so the space is free again for the next write."""
        self.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def meta(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def state(self) -> tuple[int, int]:
        """(committed rows, generation) in one read."""
        values = dict(self.conn().execute("SELECT key, value FROM meta WHERE key IN ('committed_rows', 'generation')"))
        try:
            return int(values["committed_rows"]), int(values["generation"])
        except (KeyError, ValueError) as exc:
            raise StorageCorrupt(f"{self.path}: the meta table lacks a valid {exc}") from None

    def epoch(self) -> int:
        """Compactions so far: row numbers mean the same thing only within one epoch."""
        return int(self.meta("epoch") or 0)

    def live_rows(self, ids: Sequence[str], parents: Sequence[str] = ()) -> dict[str, int]:
        """Live id -> row for items whose id is in ``ids`` or whose parent document is in ``parents``."""
        out: dict[str, int] = {}
        c = self.conn()
        for part in _chunks(ids):
            marks = ",".join("?" * len(part))
            out.update(c.execute(f"SELECT id, row FROM items WHERE alive = 1 AND id IN ({marks})", part))
        for part in _chunks(parents):
            marks = ",".join("?" * len(part))
            out.update(c.execute(
                f"SELECT id, row FROM items WHERE alive = 1 AND parent IS NOT NULL AND parent IN ({marks})", part))
        return out

    def commit_rows(
        self,
        start: int,
        ids: Sequence[str],
        texts: Sequence[str | None],
        metadata_json: Sequence[str],
        popcounts: np.ndarray,
        generation: int,
        rows_durable: Callable[[], None] = lambda: None,
        parents: Sequence[str | None] | None = None,
        siblings_die: bool = True,
    ) -> list[int]:
        """Record appended rows in one transaction; earlier rows of the same ids die, and with
        ``parents`` every earlier chunk of those documents too unless not ``siblings_die`` (a
        chunk rewritten alone: its document's other chunks stay).

        ``rows_durable`` is called just before COMMIT and must return only once the
        row files are fsynced (or raise, which rolls back): the statements run while
        the files sync, but the commit never precedes them. Returns the replaced rows.
        """
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            parent_ids = sorted({p for p in parents or () if p is not None}) if siblings_die else []
            replaced = list(self.live_rows(ids, parent_ids).values())
            self._mark_dead(c, replaced)
            c.executemany(
                "INSERT INTO items (row, id, text, metadata, popcount, alive, parent) VALUES (?, ?, ?, ?, ?, 1, ?)",
                zip(range(start, start + len(ids)), ids, texts, metadata_json, popcounts.tolist(),
                    parents if parents is not None else [None] * len(ids)),
            )
            if self.keyword_index:
                keywords.add_rows(c, start, start + len(ids))
            self._set_state(c, start + len(ids), generation)
            rows_durable()
            c.execute("COMMIT")
        except BaseException:
            _rollback(c)
            raise
        return replaced

    def kill(self, ids: Sequence[str], committed_rows: int, generation: int) -> tuple[dict[str, int], set[str]]:
        """Mark the live rows of ``ids`` (items, or every chunk of those documents) dead;
        returns (id -> row of what was deleted, the asked ids that matched something)."""
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            found = self.live_rows(ids, ids)
            matched = set(ids) & set(found)
            for part in _chunks(list(ids)):
                marks = ",".join("?" * len(part))
                matched.update(p for (p,) in c.execute(
                    f"SELECT DISTINCT parent FROM items WHERE alive = 1 AND parent IN ({marks})", part))
            self._mark_dead(c, list(found.values()))
            self._set_state(c, committed_rows, generation)
            c.execute("COMMIT")
        except BaseException:
            _rollback(c)
            raise
        return found, matched

    def _mark_dead(self, c: sqlite3.Connection, rows: list[int]) -> None:
        """Tombstone live rows (inside the caller's transaction), unindexing their texts first."""
        if rows and self.keyword_index:
            keywords.remove_rows(c, rows)
        for part in _chunks(rows):
            c.execute(f"UPDATE items SET alive = 0 WHERE row IN ({','.join('?' * len(part))})", part)

    @staticmethod
    def _set_state(c: sqlite3.Connection, rows: int, generation: int) -> None:
        c.execute("UPDATE meta SET value = ? WHERE key = 'committed_rows'", (str(rows),))
        c.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))

    @contextmanager
    def one_read(self) -> Iterator[None]:
        """This thread's reads inside see one committed state of the file (a read transaction):
        what a reader without the writer lock needs to read the row count and its rows together."""
        c = self.conn()
        c.execute("BEGIN")
        try:
            yield
        finally:
            c.execute("COMMIT")

    def dead_rows(self, committed_rows: int) -> np.ndarray:
        rows = self.conn().execute("SELECT row FROM items WHERE alive = 0 AND row < ?", (committed_rows,))
        return np.fromiter((r for (r,) in rows), dtype=np.int64)

    def ids(self, committed_rows: int, start: int = 0) -> list[str]:
        """The id of every committed row from ``start``, live or dead, indexed by row (rows are 0..n-1)."""
        ids = [i for (i,) in self.conn().execute("SELECT id FROM items WHERE row >= ? AND row < ? ORDER BY row",
                                                 (start, committed_rows))]
        if len(ids) != committed_rows - start:
            raise StorageCorrupt(f"{self.path} records {committed_rows} rows but holds {start + len(ids)}")
        return ids

    def alive_rows(self) -> np.ndarray:
        rows = self.conn().execute("SELECT row FROM items WHERE alive = 1 ORDER BY row")
        return np.fromiter((r for (r,) in rows), dtype=np.int64)

    def rows_matching(self, where: str, params: list[Any], start: int = 0) -> np.ndarray:
        """Live rows from row ``start`` on whose metadata satisfy a compiled filter (see filters.py);
        the range is the primary key's, so only those rows are read."""
        rows = self.conn().execute(f"SELECT row FROM items WHERE row >= ? AND alive = 1 AND {where}", [start, *params])
        return np.fromiter((r for (r,) in rows), dtype=np.int64)

    def fetch(self, rows: Sequence[int]) -> dict[int, tuple[str | None, str]]:
        """row -> (text, metadata JSON) for result rows (their ids are known from the scan), in one
        statement whatever their number (the rows travel as one JSON array: the statement's text
        never changes, so SQLite's statement cache keeps it prepared)."""
        query = "SELECT items.row, text, metadata FROM json_each(?) AS j JOIN items ON items.row = j.value"
        return {row: (text, meta) for row, text, meta in self.conn().execute(query, (json.dumps(list(rows)),))}

    def scroll(self, after: str | None, limit: int, where: str | None = None,
               params: Sequence[Any] = ()) -> list[tuple[str, str | None, str]]:
        """Up to ``limit`` live items with an id above ``after``, in id order, whose metadata
        satisfy a compiled filter if given: (id, text, metadata JSON). The live-id index serves
        the order, so a page costs its own rows, not a scan of the namespace."""
        conditions, args = ["alive = 1"], []
        if after is not None:
            conditions.append("id > ?")
            args.append(after)
        if where is not None:
            conditions.append(where)
            args.extend(params)
        query = f"SELECT id, text, metadata FROM items WHERE {' AND '.join(conditions)} ORDER BY id LIMIT ?"
        return self.conn().execute(query, [*args, limit]).fetchall()

    def count(self, where: str | None = None, params: Sequence[Any] = ()) -> int:
        """Live items, or those whose metadata satisfy a compiled filter."""
        query = "SELECT COUNT(*) FROM items WHERE alive = 1" + ("" if where is None else f" AND {where}")
        return int(self.conn().execute(query, list(params)).fetchone()[0])

    def parents_of(self, rows: Sequence[int]) -> dict[int, str | None]:
        """row -> the document a chunk belongs to (None for an item that is no chunk)."""
        out: dict[int, str | None] = {}
        for part in _chunks(list(rows)):
            marks = ",".join("?" * len(part))
            out.update(self.conn().execute(f"SELECT row, parent FROM items WHERE row IN ({marks})", part))
        return out

    def matching_ids(self, where: str, params: Sequence[Any]) -> list[str]:
        """Ids of the live items whose metadata satisfy a compiled filter, in id order."""
        query = f"SELECT id FROM items WHERE alive = 1 AND {where} ORDER BY id"
        return [i for (i,) in self.conn().execute(query, list(params))]

    def fetch_ids(self, ids: Sequence[str]) -> dict[str, list[tuple[str, int, str | None, str]]]:
        """Asked id -> live [(id, row, text, metadata JSON)]: the item itself, or every chunk of
        the document of that id, in row order."""
        out: dict[str, list[tuple[str, int, str | None, str]]] = {}
        c = self.conn()
        for part in _chunks(list(ids)):
            marks = ",".join("?" * len(part))
            query = (f"SELECT id, row, text, metadata, id AS asked FROM items WHERE alive = 1 AND id IN ({marks}) "
                     f"UNION ALL SELECT id, row, text, metadata, parent FROM items "
                     f"WHERE alive = 1 AND parent IS NOT NULL AND parent IN ({marks}) AND id NOT IN ({marks}) ORDER BY 2")
            for id_, row, text, meta, asked in c.execute(query, [*part, *part, *part]):
                out.setdefault(asked, []).append((id_, row, text, meta))
        return out

    def renumber_live(self, generation: int) -> int:
        """Compaction step: keep live rows only, numbered 0.. in their old order, and flag
        the file swap as pending. Returns the new row count."""
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("CREATE TEMP TABLE remap (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
            c.execute(
                "INSERT INTO remap SELECT row, ROW_NUMBER() OVER (ORDER BY row) - 1 FROM items WHERE alive = 1"
            )
            c.execute("DELETE FROM items WHERE alive = 0")
            c.execute("UPDATE items SET row = -1 - (SELECT new FROM remap WHERE old = items.row)")
            c.execute("UPDATE items SET row = -1 - row")
            if keywords.has_index(c):  # row numbers changed: the index is rebuilt with them
                keywords.rebuild(c)
            n = c.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            self._set_state(c, n, generation)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('compact_pending', '1')")
            c.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (str(self.epoch() + 1),))
            c.execute("DROP TABLE remap")
            c.execute("COMMIT")
        except BaseException:
            _rollback(c)
            raise
        return n

    def clear_compact_pending(self) -> None:
        self.conn().execute("DELETE FROM meta WHERE key = 'compact_pending'")
