"""File ingestion: files and folders -> documents -> a text namespace, with a progress bar.

Nothing surprises: every file left out is listed with why; a document id that the namespace
already holds from another file is an error unless ``replace``; an unreadable file stops the run
(naming it) unless ``skip_errors``, which lists them at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bitsift.core.errors import InvalidInput, NamespaceNotFound
from bitsift.core.results import FINAL_STATES, check_finished
from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.text.chunking import chunk_text
from bitsift.text.parsers import find_files, read_documents

SOURCE_PATH = "source_path"  # metadata: the file a document was read from (absolute)


def _estimated_chunks(text: str) -> int:
    return len(chunk_text(text, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)) if text.strip() else 0


POLL_S = 0.25  # how often the bar asks the jobs how far they are


class _Jobs:
    """The ingestion jobs of one run: submitted as files are read, followed until done."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.chunks: dict[str, int] = {}  # job -> chunks done so far
        self.open: list[str] = []
        self.finished: list[dict[str, Any]] = []
        self.asked = 0.0

    def add(self, job_ids: list[str]) -> None:
        for j in job_ids:
            self.chunks[j] = 0
            self.open.append(j)

    def done(self, force: bool = False) -> int:
        """Chunks embedded so far over every job (asks at most every POLL_S). One namespace's jobs
        run in the order accepted, so only the jobs up to the first unfinished one are asked."""
        if self.open and (force or time.monotonic() - self.asked >= POLL_S):
            self.asked = time.monotonic()
            while self.open:
                job = self.client.job(self.open[0])
                self.chunks[self.open[0]] = job["chunks_done"]
                if job["state"] not in FINAL_STATES:
                    break
                self.finished.append(job)
                self.open.pop(0)
        return sum(self.chunks.values())


class Conflict(InvalidInput):
    """A document id the namespace holds from another file (or from another client)."""


def ingest_paths(client: Any, name: str, paths: list[Path], batch: int = 64, create: bool = True,
                 replace: bool = False, skip_errors: bool = False) -> dict[str, Any]:
    """Read every supported file under ``paths`` and upload its documents in batches, each an
    ingestion job: files are read while earlier batches are embedded, and the bar counts chunks
    embedded (what the jobs report), not files read. Ids: ``<folder name>/<path in it>`` for a
    folder given, the file's name for a file given alone.

    Returns a summary: files, documents, chunks, seconds, documents per second, ``skipped``
    (files left out, with why) and ``errors`` (unreadable files, with ``skip_errors``).
    """
    found = find_files(paths)
    files = found.files
    for path, reason in found.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    origin: dict[str, Path] = {}  # within this run, id -> the file it comes from
    for path, doc_id in files:
        other = origin.setdefault(doc_id, path)
        if other != path and not replace:
            raise Conflict(f"{path} and {other} both become document {doc_id!r}; ingest them into different "
                           "namespaces, rename one folder, or pass --replace (the later one wins)")
    try:
        client.describe_namespace(name)
    except NamespaceNotFound:
        if not create:
            raise
        client.create_namespace(name, type="text")
    started = time.perf_counter()
    documents = submitted = estimated = 0
    pending: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    jobs = _Jobs(client)
    # The total is exact for the batches sent (the server counts their chunks) plus an estimate
    # for the documents read but not sent yet (the default chunking).
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("chunks embedded"), TimeRemainingColumn())
    stopped: InvalidInput | None = None
    with Progress(*columns, console=Console(stderr=True), redirect_stdout=False) as progress:
        task = progress.add_task(f"reading files 0/{len(files)}", total=0)

        def show(force: bool = False) -> None:
            done = jobs.done(force)
            progress.update(task, completed=done, total=max(submitted + estimated, done))

        def flush() -> None:
            nonlocal documents, submitted, estimated
            if pending:
                if not replace:
                    _refuse_other_sources(client, name, pending)
                result = client.upload_documents(name, pending, wait=False)
                documents += result["uploaded"]
                submitted += result["chunks"]
                estimated = 0
                jobs.add(result.get("job_ids", [result["job_id"]]))
                pending.clear()
            show()

        try:
            for n, (path, doc_id) in enumerate(files, 1):
                try:
                    docs = read_documents(path, doc_id)
                except InvalidInput as exc:
                    if not skip_errors:
                        flush()  # the files read before it are sent: "ingested up to it" is then true
                        raise InvalidInput(f"{exc.message}. Stopped there: the files before it were ingested; "
                                           "--skip-errors goes on past unreadable files and lists them") from None
                    errors.append({"path": str(path), "error": exc.message})
                    progress.console.print(f"[yellow]could not read {path}: {exc.message}[/yellow]")
                    continue
                for doc in docs:
                    doc["metadata"] = {**doc["metadata"], SOURCE_PATH: str(path.resolve())}
                    pending.append(doc)
                    estimated += _estimated_chunks(doc["text"])
                    if len(pending) >= batch:
                        flush()
                progress.update(task, description=f"reading files {n}/{len(files)}")
                show()
            flush()
        except InvalidInput as exc:
            stopped = exc  # what was accepted before is still embedded: wait for it, then report
            pending.clear()
        progress.update(task, description=f"{len(files)} files read, embedding")
        while jobs.open:
            time.sleep(POLL_S)
            show(force=True)
        progress.update(task, description=f"{len(files)} files", total=submitted, completed=jobs.done())
    for job in jobs.finished:
        check_finished(job)  # a job that failed: its error, now that the others are done
    if stopped is not None:
        raise stopped
    elapsed = time.perf_counter() - started
    print(f"ingested {len(files) - len(errors)} files, {documents} documents, {submitted} chunks in {elapsed:.1f} s"
          + (f"; {len(errors)} unreadable files skipped:" if errors else ""), file=sys.stderr)
    for e in errors:
        print(f"  {e['path']}: {e['error']}", file=sys.stderr)
    return {"namespace": name, "files": len(files) - len(errors), "documents": documents, "chunks": submitted,
            "seconds": round(elapsed, 3), "documents_per_second": round(documents / elapsed, 1) if elapsed else None,
            "skipped": [{"path": p, "reason": r} for p, r in found.skipped], "errors": errors}


def _refuse_other_sources(client: Any, name: str, docs: list[dict[str, Any]]) -> None:
    """Conflict if the namespace holds one of these document ids from another file."""
    wanted = {d["id"]: d["metadata"][SOURCE_PATH] for d in docs}
    for item in client.get(name, list(wanted)):
        doc_id = item["metadata"].get("document_id", item["id"])
        have = item["metadata"].get(SOURCE_PATH)
        if doc_id in wanted and have != wanted[doc_id]:
            where = f"from {have}" if have else "uploaded by another client"
            raise Conflict(f"document {doc_id!r} is in {name!r} {where}; {wanted[doc_id]} would replace it. "
                           "Pass --replace to replace it, or ingest into another namespace")
