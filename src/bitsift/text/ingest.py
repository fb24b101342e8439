"""File ingestion: files and folders -> documents -> a text namespace, with a progress bar."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bitsift.core.errors import NamespaceNotFound
from bitsift.core.results import FINAL_STATES, check_finished
from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.text.chunking import chunk_text
from bitsift.text.parsers import iter_files, read_documents


def _common_root(paths: list[Path]) -> Path:
    """Ids are paths relative to the folder given (or the file's folder), so re-ingesting the
    same tree from elsewhere yields the same ids."""
    return Path(os.path.commonpath([(p if p.is_dir() else p.parent).resolve() for p in paths]))


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


def ingest_paths(client: Any, name: str, paths: list[Path], batch: int = 64, create: bool = True) -> dict[str, Any]:
    """Read every supported file under ``paths`` and upload its documents in batches, each an
    ingestion job: files are read while earlier batches are embedded, and the bar counts chunks
    embedded (what the jobs report), not files read.

    Returns a summary: files, documents, chunks, seconds, documents per second.
    """
    files = list(iter_files(paths))
    try:
        client.describe_namespace(name)
    except NamespaceNotFound:
        if not create:
            raise
        client.create_namespace(name, type="text")
    root = _common_root(paths)
    started = time.perf_counter()
    documents = submitted = estimated = 0
    pending: list[dict[str, Any]] = []
    jobs = _Jobs(client)
    # The total is exact for the batches sent (the server counts their chunks) plus an estimate
    # for the documents read but not sent yet (the default chunking).
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("chunks embedded"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), redirect_stdout=False) as progress:
        task = progress.add_task(f"reading files 0/{len(files)}", total=0)

        def show(force: bool = False) -> None:
            done = jobs.done(force)
            progress.update(task, completed=done, total=max(submitted + estimated, done))

        def flush() -> None:
            nonlocal documents, submitted, estimated
            if pending:
                result = client.upload_documents(name, pending, wait=False)
                documents += result["uploaded"]
                submitted += result["chunks"]
                estimated = 0
                jobs.add(result.get("job_ids", [result["job_id"]]))
                pending.clear()
            show()

        for n, path in enumerate(files, 1):
            for doc in read_documents(path, root):
                pending.append(doc)
                estimated += _estimated_chunks(doc["text"])
                if len(pending) >= batch:
                    flush()
            progress.update(task, description=f"reading files {n}/{len(files)}")
            show()
        flush()
        progress.update(task, description=f"{len(files)} files read, embedding")
        while jobs.open:
            time.sleep(POLL_S)
            show(force=True)
        progress.update(task, description=f"{len(files)} files", total=submitted, completed=jobs.done())
    for job in jobs.finished:
        check_finished(job)  # a job that failed: its error, now that the others are done
    elapsed = time.perf_counter() - started
    print(f"ingested {len(files)} files, {documents} documents, {submitted} chunks in {elapsed:.1f} s",
          file=sys.stderr)
    return {"namespace": name, "files": len(files), "documents": documents, "chunks": submitted,
            "seconds": round(elapsed, 3), "documents_per_second": round(documents / elapsed, 1) if elapsed else None}
