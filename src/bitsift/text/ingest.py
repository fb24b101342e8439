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
from bitsift.core.spec import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from bitsift.text.chunking import chunk_text
from bitsift.text.parsers import iter_files, read_documents


def _common_root(paths: list[Path]) -> Path:
    """Ids are paths relative to the folder given (or the file's folder), so re-ingesting the
    same tree from elsewhere yields the same ids."""
    return Path(os.path.commonpath([(p if p.is_dir() else p.parent).resolve() for p in paths]))


def _estimated_chunks(text: str) -> int:
    return len(chunk_text(text, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)) if text.strip() else 0


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
    documents = chunks = expected = 0
    pending: list[dict[str, Any]] = []
    # The bar counts chunks embedded, the slow part: its total grows as files are read (each
    # file's chunks estimated with the default chunking), and it moves as the server answers.
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("chunks embedded"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), redirect_stdout=False) as progress:
        task = progress.add_task(f"reading files 0/{len(files)}", total=0)

        def flush() -> None:
            nonlocal documents, chunks
            if pending:
                result = client.upload_documents(name, pending)
                documents += result["uploaded"]
                chunks += result["chunks"]
                progress.update(task, completed=chunks, total=max(expected, chunks))
                pending.clear()

        for n, path in enumerate(files, 1):
            for doc in read_documents(path, root):
                pending.append(doc)
                expected += _estimated_chunks(doc["text"])
                progress.update(task, total=max(expected, chunks))
                if len(pending) >= batch:
                    flush()
            progress.update(task, description=f"reading files {n}/{len(files)}")
        flush()
        progress.update(task, description=f"{len(files)} files read", total=chunks, completed=chunks)
    elapsed = time.perf_counter() - started
    print(f"ingested {len(files)} files, {documents} documents, {chunks} chunks in {elapsed:.1f} s",
          file=sys.stderr)
    return {"namespace": name, "files": len(files), "documents": documents, "chunks": chunks,
            "seconds": round(elapsed, 3), "documents_per_second": round(documents / elapsed, 1) if elapsed else None}
