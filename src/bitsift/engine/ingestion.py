"""Durable asynchronous text ingestion: an accepted upload is a job (storage.jobs) before it is
acknowledged, and a background worker embeds and writes its documents, in order, in bounded
batches.

Why it is safe to kill at any moment: a document is marked written only after its batch's commit,
and before embedding a batch the worker looks up what the namespace already holds, so documents
whose chunks are stored with the same text and metadata are not embedded again. A kill therefore
costs at most the batch in flight, a kill between a commit and its mark costs nothing, and a
re-sent upload of unchanged documents embeds nothing (idempotent by document id and content).

Several processes on one data directory each run a worker; the claim protocol of storage.jobs
makes exactly one of them run a given job, and one namespace's jobs run in the order accepted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from bitsift.core.cursor import MAX_SCROLL_LIMIT
from bitsift.core.errors import (
    BitsiftError,
    DiskFull,
    InvalidInput,
    JobNotFound,
    NamespaceBusy,
    NamespaceLocked,
    NamespaceNotFound,
    ShardUnavailable,
)
from bitsift.core.results import (
    FINAL_STATES,
    DocumentsUploaded,
    Item,
    JobStatus,
    ScrollPage,
    check_finished,
    documents_uploaded,
)
from bitsift.core.validate import check_metadata
from bitsift.storage.jobs import Claimed, JobStore, Pending, new_owner
from bitsift.text.documents import PAGE_OFFSETS, RESERVED, Chunks, chunk_documents

log = logging.getLogger("bitsift.ingestion")

BATCH_CHUNKS = 256  # chunks embedded per batch: what a kill can cost, and the memory bound
POLL_S = 1.0  # how often an idle worker looks for jobs other processes accepted
WAIT_POLL_S = 0.25  # how often a waiting caller re-reads a job another process runs
RETENTION_ENV = "BITSIFT_JOB_RETENTION_S"
DEFAULT_RETENTION_S = 24 * 3600.0
KEEP_FINISHED = 1000  # finished jobs kept at most, whatever their age
MAX_JOBS_LISTED = 1000
TRANSIENT = (NamespaceBusy, NamespaceLocked, ShardUnavailable)  # retried, not failed
MAX_RETRIES = 30
FATAL = (NamespaceNotFound, DiskFull)  # the rest of the job cannot succeed either


class Scrolls(Protocol):
    def scroll(self, name: str, limit: int = ..., cursor: str | None = ...,
               filter: dict[str, Any] | None = ...) -> ScrollPage: ...


class Writer(Scrolls, Protocol):
    """What ingestion needs of an engine (Engine and ShardedEngine)."""

    def _text_identity(self, name: str) -> str | None: ...
    def _write_chunks(self, name: str, identity: str | None, chunks: Chunks) -> None: ...
    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[Any]: ...
    def delete(self, name: str, ids: Sequence[Any]) -> list[str]: ...


def retention_s() -> float:
    raw = os.environ.get(RETENTION_ENV)
    try:
        return DEFAULT_RETENTION_S if raw is None else max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{RETENTION_ENV}={raw!r} is not a number of seconds") from None


def normalised(documents: Sequence[Mapping[str, Any]], chunks: Chunks) -> list[dict[str, Any]]:
    """The documents as they are recorded in a job: ``{id, text, metadata}`` with the id as a
    string and the metadata plain JSON (what chunking them again yields the same chunks from)."""
    fields: dict[str, dict[str, Any]] = {}
    for parent, meta in zip(chunks.parents, chunks.metadata):
        fields.setdefault(parent, meta)
    ids = list(fields)
    assert len(ids) == len(documents), "every document is at least one chunk"
    out = []
    for i, (doc_id, doc) in enumerate(zip(ids, documents)):
        # Checked once per document, with its chunks' bookkeeping keys (what each chunk stores).
        meta = json.loads(check_metadata(fields[doc_id], f"documents[{i}]"))
        entry = {"id": doc_id, "text": doc["text"], "metadata": {k: v for k, v in meta.items() if k not in RESERVED}}
        pages = doc.get(PAGE_OFFSETS, (doc.get("metadata") or {}).get(PAGE_OFFSETS))
        if pages is not None:  # each chunk's page comes from the offsets again, not from the first chunk's
            entry["metadata"].pop("page", None)
            entry[PAGE_OFFSETS] = pages
        out.append(entry)
    return out


def scroll_all(front: Scrolls, namespace: str, flt: dict[str, Any]) -> Iterator[Any]:
    """Every item matching ``flt``, page after page."""
    cursor = None
    while True:
        page = front.scroll(namespace, MAX_SCROLL_LIMIT, cursor, flt)
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return


def documents_of_source(writer: Scrolls, namespace: str, source: str) -> list[str]:
    """The ids of the documents read from one file (``source`` in their metadata)."""
    ids = {str(item["metadata"].get("document_id", item["id"])): None
           for item in scroll_all(writer, namespace, {"source": source})}
    return list(ids)


def _key(items: Sequence[tuple[str, str | None, Any]]) -> frozenset[tuple[str, str | None, str]]:
    return frozenset((i, t, json.dumps(m, sort_keys=True)) for i, t, m in items)


def already_stored(writer: Writer, namespace: str, chunks: Chunks) -> set[str]:
    """Documents of ``chunks`` whose chunks the namespace holds exactly (same ids, texts and
    metadata, no others): writing them again would change nothing."""
    wanted: dict[str, list[tuple[str, str | None, Any]]] = {}
    for id_, text, meta, parent in zip(chunks.ids, chunks.texts, chunks.metadata, chunks.parents):
        wanted.setdefault(parent, []).append((id_, text, meta))
    held: dict[str, list[tuple[str, str | None, Any]]] = {}
    item: Item
    for item in writer.get(namespace, list(wanted)):
        parent = str(item["metadata"].get("document_id", item["id"]))
        held.setdefault(parent, []).append((item["id"], item["text"], item["metadata"]))
    return {d for d, chunk_list in wanted.items() if d in held and _key(held[d]) == _key(chunk_list)}


def _subset(chunks: Chunks, keep: set[str]) -> Chunks:
    at = [i for i, p in enumerate(chunks.parents) if p in keep]
    return Chunks([chunks.ids[i] for i in at], [chunks.texts[i] for i in at], [chunks.metadata[i] for i in at],
                  [chunks.parents[i] for i in at], len(keep))


class Ingestion:
    """The jobs of one data directory and this process's worker over them. Thread-safe."""

    def __init__(self, root: Path, writer: Writer, chunk_size: int, chunk_overlap: int) -> None:
        self.store = JobStore(root)
        self.writer = writer
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.owner = new_owner()
        self._wake = threading.Condition()
        self._finished = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.retention_s = retention_s()
        if self.store.has_open():  # a restart resumes what a previous process accepted
            self._ensure_worker()

    # --- accepting ------------------------------------------------------------------

    def submit(self, name: str, documents: Sequence[Mapping[str, Any]], source: str | None = None) -> DocumentsUploaded:
        """Validate and record an upload as a job (durable on return), then wake the worker."""
        identity = self.writer._text_identity(name)
        chunks = chunk_documents(documents, self.chunk_size, self.chunk_overlap)
        docs = normalised(documents, chunks)
        per_doc = Counter(chunks.parents)
        job_id = self.store.submit(name, identity, docs, [per_doc[d["id"]] for d in docs], self.chunk_size,
                                   self.chunk_overlap, source)
        self.store.purge(self.retention_s, KEEP_FINISHED)
        self._ensure_worker()
        with self._wake:
            self._wake.notify_all()
        return documents_uploaded([d["id"] for d in docs], len(chunks.ids), job_id, done=False)

    def upload(self, name: str, documents: Sequence[Mapping[str, Any]], wait: bool,
               source: str | None = None) -> DocumentsUploaded:
        accepted = self.submit(name, documents, source)
        if wait:
            self.wait(accepted["job_id"])
            accepted["status"] = "success"
        return accepted

    # --- asking ---------------------------------------------------------------------

    def status(self, job_id: str) -> JobStatus:
        if not isinstance(job_id, str) or not job_id:
            raise InvalidInput("job_id must be a non-empty string")
        found = self.store.status(job_id)
        if found is None:
            raise JobNotFound(f"no ingestion job {job_id!r} (finished jobs are kept for {self.retention_s:.0f} s)")
        return found  # type: ignore[return-value]

    def list_jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_JOBS_LISTED:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_JOBS_LISTED}, got {limit!r}")
        return self.store.list_jobs(namespace, limit)  # type: ignore[return-value]

    def cancel(self, job_id: str) -> JobStatus:
        self.status(job_id)
        self.store.cancel(job_id)
        with self._finished:
            self._finished.notify_all()
        return self.status(job_id)

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobStatus:
        """Block until the job finishes; raise its error if it did not write every document."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.status(job_id)
            if job["state"] in FINAL_STATES:
                break
            if deadline is not None and time.monotonic() > deadline:
                return job
            with self._finished:
                self._finished.wait(WAIT_POLL_S)
        return check_finished(job)

    # --- working --------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name="bitsift-ingest", daemon=True)
                self._thread.start()

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop after the batch in flight (its documents are marked written or stay pending)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self.store.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim(self.owner)
                if job is not None:
                    self._run(job)
                    with self._finished:
                        self._finished.notify_all()
                    continue
            except Exception:  # noqa: BLE001 - the worker outlives any one failure; logged
                log.exception("ingestion worker: unexpected error; retrying in %.0f s", POLL_S)
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(POLL_S)

    def _run(self, job: Claimed) -> None:
        try:
            identity = self.writer._text_identity(job.namespace)
        except NamespaceNotFound as exc:
            self.store.finish(job, self.owner, exc.to_dict())
            return
        if job.identity is not None and identity != job.identity:
            gone = NamespaceNotFound(f"namespace {job.namespace!r} was deleted after the upload was accepted")
            self.store.finish(job, self.owner, gone.to_dict())
            return
        while not self._stop.is_set():
            batch = self.store.pending(job, BATCH_CHUNKS)
            if not batch:
                break
            if not self.store.holds(job, self.owner):
                return  # cancelled, or passed to another worker
            fatal = self._write_batch(job, batch)
            if fatal is not None:
                self.store.finish(job, self.owner, fatal.to_dict())
                return
        if self._stop.is_set():
            self.store.release(job, self.owner)  # the next worker (this folder's next open) resumes it
            return
        if job.source is not None:
            self._drop_stale(job)
        self.store.finish(job, self.owner)

    def _write_batch(self, job: Claimed, batch: list[Pending]) -> BitsiftError | None:
        """Embed and write one batch; None, or the error that ends the job."""
        positions = [p.pos for p in batch]
        chunks = chunk_documents([p.body for p in batch], job.chunk_size, job.chunk_overlap)
        for attempt in range(MAX_RETRIES + 1):
            try:
                stored = already_stored(self.writer, job.namespace, chunks)
                if len(stored) < len(batch):
                    self.writer._write_chunks(job.namespace, job.identity, _subset(chunks, set(chunks.parents) - stored))
                self.store.settle(job, positions, "done")
                return None
            except TRANSIENT as exc:
                if self._stop.is_set():
                    return None  # left pending: the next worker writes it
                if attempt == MAX_RETRIES:
                    self.store.settle(job, positions, "failed", exc.to_dict())
                    return None
                self._stop.wait(min(5.0, 0.1 * 2 ** attempt))
            except FATAL as exc:
                return exc
            except BitsiftError as exc:
                self.store.settle(job, positions, "failed", exc.to_dict())
                return None
            except Exception as exc:  # noqa: BLE001 - recorded on the documents, logged with its trace
                log.exception("ingestion of job %s: a batch failed", job.id)
                internal = BitsiftError(f"{type(exc).__name__}: {exc}")
                self.store.settle(job, positions, "failed", internal.to_dict())
                return None
        return None

    def _drop_stale(self, job: Claimed) -> None:
        """A file uploaded again replaces its earlier version: its documents the new one lacks go
        (after the new ones are written, so a crash in between leaves extras, never a gap)."""
        assert job.source is not None
        kept = set(self.store.done_ids(job))
        stale = [d for d in documents_of_source(self.writer, job.namespace, job.source) if d not in kept]
        if stale:
            self.writer.delete(job.namespace, stale)


class IngestingFront:
    """The upload and job methods of an engine with an ``ingestion`` (api.protocol.ClientAPI
    declares and documents them)."""

    ingestion: Ingestion

    def upload_documents(self, name: str, documents: Sequence[Mapping[str, Any]],
                         wait: bool = True) -> DocumentsUploaded:
        return self.ingestion.upload(name, documents, wait)

    def job(self, job_id: str) -> JobStatus:
        return self.ingestion.status(job_id)

    def jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        return self.ingestion.list_jobs(namespace, limit)

    def cancel_job(self, job_id: str) -> JobStatus:
        return self.ingestion.cancel(job_id)
