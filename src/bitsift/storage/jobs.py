"""jobs.sqlite: accepted document uploads, durable before they are acknowledged.

One file per data directory, beside the namespace folders, shared by every process that serves
it. A job is a row in ``jobs`` plus one row per document in ``job_documents`` (its body as JSON
until it is written, then only its state). A worker *claims* a job in one ``BEGIN IMMEDIATE``
transaction: the oldest unfinished job of a namespace, and only when no earlier job of that
namespace is unfinished, so one namespace's uploads are written in the order they were accepted,
by one worker at a time. A claim is the owner's (host, pid, token) and a heartbeat; it passes to
another worker when that process is gone or the heartbeat is older than ``LEASE_S``.

Format: ``PRAGMA user_version`` is the schema version (1); the file is created by the first
upload, so a data directory of an older bitsift gains it on its first write, never on a read.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitsift.core.errors import StorageCorrupt
from bitsift.core.results import OPEN_STATES
from bitsift.storage.disk import disk_errors
from bitsift.storage.items import connect, is_corrupt

JOBS_FILE = "jobs.sqlite"
SCHEMA_VERSION = 1
LEASE_S = 120.0  # a claim whose heartbeat is older than this passes to another worker
MAX_ERRORS_SHOWN = 100  # per-document failures a status lists (all are counted)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    namespace     TEXT    NOT NULL,
    identity      TEXT,
    source        TEXT,
    chunk_size    INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    owner         TEXT,
    heartbeat     REAL,
    created_at    REAL    NOT NULL,
    started_at    REAL,
    finished_at   REAL,
    documents     INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs(namespace, seq) WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_documents (
    job    INTEGER NOT NULL,
    pos    INTEGER NOT NULL,
    id     TEXT    NOT NULL,
    body   TEXT,
    chunks INTEGER NOT NULL,
    state  TEXT    NOT NULL,
    error  TEXT,
    PRIMARY KEY (job, pos)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds: what it needs to write the job's documents."""

    seq: int
    id: str
    namespace: str
    identity: str | None
    source: str | None
    chunk_size: int
    chunk_overlap: int


@dataclass(frozen=True)
class Pending:
    pos: int
    id: str
    body: dict[str, Any]
    chunks: int


def _owner_alive(owner: str | None) -> bool:
    """Whether the process holding a claim may still be running (same host: its pid exists)."""
    if not owner:
        return False
    host, _, rest = owner.partition("|")
    if host != socket.gethostname():
        return True  # another host's process cannot be probed: its lease decides
    try:
        os.kill(int(rest.split("|")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def new_owner() -> str:
    """A claimer's name: host, pid, and a token telling apart two workers of one process."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"


class JobStore:
    """Thread-safe: one connection per thread; every write is one fsynced transaction."""

    def __init__(self, root: Path) -> None:
        self.path = root / JOBS_FILE
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()

    def exists(self) -> bool:
        return self.path.is_file()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            try:
                with disk_errors(self.path):
                    c = connect(self.path)
                    version = c.execute("PRAGMA user_version").fetchone()[0]
                    if version == 0:
                        c.executescript(SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
                    elif version > SCHEMA_VERSION:
                        raise StorageCorrupt(f"{self.path} has schema version {version}; this bitsift reads "
                                             f"up to {SCHEMA_VERSION}: upgrade bitsift")
            except sqlite3.DatabaseError as exc:
                if is_corrupt(exc):
                    raise StorageCorrupt(f"{self.path} is not a readable SQLite database ({exc})") from exc
                raise
            self._local.conn = c
            with self._all_lock:
                self._all.append(c)
        return c

    def close(self) -> None:
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        c = self.conn()
        with disk_errors(self.path):
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    # --- accepting ------------------------------------------------------------------

    def submit(self, namespace: str, identity: str | None, documents: Sequence[dict[str, Any]],
               chunk_counts: Sequence[int], chunk_size: int, chunk_overlap: int,
               source: str | None = None) -> str:
        """Record a job and its documents; durable when this returns (then, and only then, the
        upload may be acknowledged)."""
        job_id = f"job_{uuid.uuid4().hex}"
        now = time.time()
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO jobs (id, namespace, identity, source, chunk_size, chunk_overlap, state, created_at, "
                "documents, chunks) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, namespace, identity, source, chunk_size, chunk_overlap, now, len(documents),
                 sum(chunk_counts)))
            seq = cur.lastrowid
            c.executemany("INSERT INTO job_documents (job, pos, id, body, chunks, state) VALUES (?, ?, ?, ?, ?, 'pending')",
                          ((seq, pos, str(doc["id"]), json.dumps(doc, separators=(",", ":")), n)
                           for pos, (doc, n) in enumerate(zip(documents, chunk_counts))))
        return job_id

    # --- working --------------------------------------------------------------------

    def has_open(self) -> bool:
        if not self.exists():
            return False
        return self.conn().execute("SELECT 1 FROM jobs WHERE state IN ('queued', 'running') LIMIT 1").fetchone() is not None

    def claim(self, owner: str) -> Claimed | None:
        """The next job this worker may run, now marked as its own; None if there is none."""
        if not self.exists():
            return None
        now = time.time()
        with self._write() as c:
            heads = c.execute(
                "SELECT seq, state, owner, heartbeat FROM jobs j WHERE state IN ('queued', 'running') AND NOT EXISTS "
                "(SELECT 1 FROM jobs e WHERE e.namespace = j.namespace AND e.seq < j.seq "
                "AND e.state IN ('queued', 'running')) ORDER BY seq").fetchall()
            for seq, state, holder, beat in heads:
                if state == "running" and _owner_alive(holder) and (beat or 0) > now - LEASE_S:
                    continue  # held by a live worker
                c.execute("UPDATE jobs SET state = 'running', owner = ?, heartbeat = ?, "
                          "started_at = COALESCE(started_at, ?) WHERE seq = ?", (owner, now, now, seq))
                row = c.execute("SELECT seq, id, namespace, identity, source, chunk_size, chunk_overlap FROM jobs "
                                "WHERE seq = ?", (seq,)).fetchone()
                return Claimed(*row)
        return None

    def holds(self, job: Claimed, owner: str) -> bool:
        """Renew the claim; False if it was cancelled or passed to another worker."""
        with self._write() as c:
            cur = c.execute("UPDATE jobs SET heartbeat = ? WHERE seq = ? AND owner = ? AND state = 'running'",
                            (time.time(), job.seq, owner))
            return cur.rowcount == 1

    def pending(self, job: Claimed, max_chunks: int) -> list[Pending]:
        """The next documents to write, in order: as many as fit ``max_chunks`` (at least one)."""
        out: list[Pending] = []
        total = 0
        rows = self.conn().execute("SELECT pos, id, body, chunks FROM job_documents WHERE job = ? AND state = 'pending' "
                                   "ORDER BY pos", (job.seq,))
        for pos, id_, body, chunks in rows:
            if out and total + chunks > max_chunks:
                break
            out.append(Pending(pos, id_, json.loads(body), chunks))
            total += chunks
        return out

    def settle(self, job: Claimed, positions: Sequence[int], state: str, error: dict[str, Any] | None = None) -> None:
        """Documents written (``done``) or given up (``failed``, with the error's ``to_dict``):
        their bodies are dropped."""
        if not positions:
            return
        encoded = None if error is None else json.dumps(error)
        with self._write() as c:
            marks = ",".join("?" * len(positions))
            (chunks,) = c.execute(f"SELECT COALESCE(SUM(chunks), 0) FROM job_documents WHERE job = ? "
                                  f"AND state = 'pending' AND pos IN ({marks})", (job.seq, *positions)).fetchone()
            c.execute(f"UPDATE job_documents SET state = ?, error = ?, body = NULL WHERE job = ? "
                      f"AND state = 'pending' AND pos IN ({marks})", (state, encoded, job.seq, *positions))
            if state == "done":
                c.execute("UPDATE jobs SET chunks_done = chunks_done + ?, heartbeat = ? WHERE seq = ?",
                          (chunks, time.time(), job.seq))

    def release(self, job: Claimed, owner: str) -> None:
        """Give a claim back unfinished (a worker shutting down): the next worker resumes it now,
        not after the lease."""
        with self._write() as c:
            c.execute("UPDATE jobs SET state = 'queued', owner = NULL, heartbeat = NULL "
                      "WHERE seq = ? AND owner = ? AND state = 'running'", (job.seq, owner))

    def done_ids(self, job: Claimed) -> list[str]:
        return [i for (i,) in self.conn().execute("SELECT id FROM job_documents WHERE job = ? AND state = 'done'",
                                                  (job.seq,))]

    def finish(self, job: Claimed, owner: str, error: dict[str, Any] | None = None) -> None:
        """Close a job this worker holds: failed if any document failed (or ``error``: the
        documents not written yet fail with it), else done."""
        encoded = None if error is None else json.dumps(error)
        with self._write() as c:
            c.execute("UPDATE job_documents SET state = 'failed', error = ?, body = NULL WHERE job = ? AND state = 'pending'",
                      (encoded, job.seq))
            (failed,) = c.execute("SELECT COUNT(*) FROM job_documents WHERE job = ? AND state = 'failed'",
                                  (job.seq,)).fetchone()
            c.execute("UPDATE jobs SET state = ?, error = COALESCE(?, error), finished_at = ?, owner = NULL "
                      "WHERE seq = ? AND owner = ? AND state = 'running'",
                      ("failed" if failed or error else "done", encoded, time.time(), job.seq, owner))

    # --- asking ---------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Stop a job: its documents not yet written are dropped (the batch in flight, if any,
        still lands). False if there is no such job; a finished job stays as it was."""
        with self._write() as c:
            row = c.execute("SELECT seq, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            seq, state = row
            if state in OPEN_STATES:
                c.execute("UPDATE job_documents SET state = 'cancelled', body = NULL WHERE job = ? AND state = 'pending'",
                          (seq,))
                c.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, owner = NULL WHERE seq = ?",
                          (time.time(), seq))
            return True

    def status(self, job_id: str) -> dict[str, Any] | None:
        if not self.exists():
            return None
        c = self.conn()
        row = c.execute("SELECT seq, id, namespace, state, created_at, started_at, finished_at, documents, chunks, "
                        "chunks_done, error, source FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._describe(c, row)

    def list_jobs(self, namespace: str | None, limit: int) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        c = self.conn()
        where, args = ("WHERE namespace = ?", [namespace]) if namespace is not None else ("", [])
        rows = c.execute(f"SELECT seq, id, namespace, state, created_at, started_at, finished_at, documents, chunks, "
                         f"chunks_done, error, source FROM jobs {where} ORDER BY seq DESC LIMIT ?",
                         [*args, limit]).fetchall()
        return [self._describe(c, row) for row in rows]

    @staticmethod
    def _describe(c: sqlite3.Connection, row: tuple[Any, ...]) -> dict[str, Any]:
        seq, id_, namespace, state, created, started, finished, documents, chunks, chunks_done, error, source = row
        counts = dict(c.execute("SELECT state, COUNT(*) FROM job_documents WHERE job = ? GROUP BY state", (seq,)))
        failures = [{"id": i, **json.loads(e)} for i, e in c.execute(
            "SELECT id, error FROM job_documents WHERE job = ? AND state = 'failed' ORDER BY pos LIMIT ?",
            (seq, MAX_ERRORS_SHOWN))]
        return {"job_id": id_, "namespace": namespace, "state": state, "source": source,
                "created_at": created, "started_at": started, "finished_at": finished,
                "documents": documents, "documents_done": counts.get("done", 0),
                "documents_failed": counts.get("failed", 0), "documents_cancelled": counts.get("cancelled", 0),
                "documents_pending": counts.get("pending", 0), "chunks": chunks, "chunks_done": chunks_done,
                "error": None if error is None else json.loads(error), "failures": failures}

    def purge(self, older_than_s: float, keep: int) -> int:
        """Forget finished jobs older than ``older_than_s`` and all but the newest ``keep``."""
        if not self.exists():
            return 0
        cutoff = time.time() - older_than_s
        with self._write() as c:
            old = [s for (s,) in c.execute(
                "SELECT seq FROM jobs WHERE finished_at IS NOT NULL AND (finished_at < ? OR seq NOT IN "
                "(SELECT seq FROM jobs WHERE finished_at IS NOT NULL ORDER BY seq DESC LIMIT ?))", (cutoff, keep))]
            for s in old:
                c.execute("DELETE FROM job_documents WHERE job = ?", (s,))
                c.execute("DELETE FROM jobs WHERE seq = ?", (s,))
        return len(old)
