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
from bitsift.text.parsers import iter_files, read_documents


def _common_root(paths: list[Path]) -> Path:
    """Ids are paths relative to the folder given (or the file's folder), so re-ingesting the
    same tree from elsewhere yields the same ids."""
    return Path(os.path.commonpath([(p if p.is_dir() else p.parent).resolve() for p in paths]))


def ingest_paths(client: Any, name: str, paths: list[Path], batch: int = 64, create: bool = True) -> dict[str, Any]:
    """Read every supported file under ``paths`` and upload its documents in batches.

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
    documents = chunks = 0
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal documents, chunks
        if pending:
            result = client.upload_documents(name, pending)
            documents += result["uploaded"]
            chunks += result["chunks"]
            pending.clear()

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), redirect_stdout=False) as progress:
        task = progress.add_task(f"ingesting into {name}", total=len(files))
        for path in files:
            for doc in read_documents(path, root):
                pending.append(doc)
                if len(pending) >= batch:
                    flush()
            progress.advance(task)
        flush()
    elapsed = time.perf_counter() - started
    print(f"ingested {len(files)} files, {documents} documents, {chunks} chunks in {elapsed:.1f} s",
          file=sys.stderr)
    return {"namespace": name, "files": len(files), "documents": documents, "chunks": chunks,
            "seconds": round(elapsed, 3), "documents_per_second": round(documents / elapsed, 1) if elapsed else None}
