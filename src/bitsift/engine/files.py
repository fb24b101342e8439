"""Files in a text namespace (the hosted API's upload-url, list-files, delete-file).

A file is recorded by its documents, not kept as bytes: the parsers (text.parsers) turn an
uploaded file into documents whose metadata carry ``source`` (the file name), ``file_size``
and ``uploaded_at``, so listing files is a scroll over items with a ``source``, deleting one
deletes its documents, and a namespace's files live and die with its items (no new table, no
format change). Documents from ``bitsift ingest`` carry ``source`` too and are listed alike.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from bitsift.core.errors import InvalidInput
from bitsift.core.results import FileDeleted, FileInfo, FileStored, NamespaceInfo, ScrollPage
from bitsift.engine.ingestion import Ingestion, documents_of_source, scroll_all
from bitsift.text.parsers import SUPPORTED, read_documents

CONTENT_TYPES = {
    ".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
    ".rst": "text/x-rst", ".html": "text/html", ".htm": "text/html",
    ".json": "application/json", ".jsonl": "application/x-ndjson",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
assert set(CONTENT_TYPES) == SUPPORTED  # every parsed type has its content type


class Front(Protocol):
    """What file handling needs of an engine (Engine and ShardedEngine both have it)."""

    def describe_namespace(self, name: str) -> NamespaceInfo: ...
    def scroll(self, name: str, limit: int = ..., cursor: str | None = ...,
               filter: dict[str, Any] | None = ...) -> ScrollPage: ...
    ingestion: Ingestion
    def delete(self, name: str, ids: Sequence[Any]) -> list[str]: ...


def file_name(raw: Any) -> str:
    """The name a file is recorded under: the last part of what the client sent (its SDK may
    send a whole path), with a supported extension."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("file_name must be a non-empty string")
    name = PurePosixPath(raw.replace("\\", "/")).name.strip()
    if name in ("", ".", "..") or "#" in name:
        raise InvalidInput(f"file_name {raw!r} is not a usable file name (no '#', not empty)")
    if PurePosixPath(name).suffix.lower() not in SUPPORTED:
        raise InvalidInput(f"{name}: unsupported file type; supported: {', '.join(sorted(SUPPORTED))}")
    return name


def content_type(name: str) -> str:
    return CONTENT_TYPES[PurePosixPath(name).suffix.lower()]


def require_text(front: Front, namespace: str) -> None:
    if front.describe_namespace(namespace)["type"] != "text":
        raise InvalidInput(f"namespace {namespace!r} holds vectors; files go into a text namespace")


def put_file(front: Front, namespace: str, name: str, data: bytes, wait: bool = False) -> FileStored:
    """Parse and chunk one file's documents and accept them as an ingestion job (embedded in
    the background unless ``wait``). A file of that name uploaded before is replaced: when the
    job ends, its documents that the new version lacks are deleted (after the new ones are
    written, so a crash in between leaves extra documents, never a gap)."""
    require_text(front, namespace)
    name = file_name(name)
    with tempfile.TemporaryDirectory(prefix="bitsift-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        docs = read_documents(path, name)
    if not docs:
        raise InvalidInput(f"{name}: no text in it to index")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for doc in docs:
        doc["metadata"] = {**doc["metadata"], "file_size": len(data), "uploaded_at": stamp}
    accepted = front.ingestion.upload(namespace, docs, wait, source=name)
    return {"status": accepted["status"], "file_name": name, "file_size": len(data), "documents": len(docs),
            "chunks": accepted["chunks"], "job_id": accepted["job_id"]}


def list_files(front: Front, namespace: str) -> list[FileInfo]:
    """Every file with documents in the namespace, by name."""
    found: dict[str, FileInfo] = {}
    for item in scroll_all(front, namespace, {"source": {"$exists": True}}):
        meta = item["metadata"]
        seen = found.setdefault(str(meta["source"]), {"file_name": str(meta["source"]), "size": 0, "last_modified": ""})
        if isinstance(meta.get("file_size"), int):
            seen["size"] = max(seen["size"], meta["file_size"])
        if isinstance(meta.get("uploaded_at"), str):
            seen["last_modified"] = max(seen["last_modified"], meta["uploaded_at"])
    return [found[k] for k in sorted(found)]


def delete_files(front: Front, namespace: str, names: Any) -> list[FileDeleted]:
    if isinstance(names, str) or not isinstance(names, list) or not names:
        raise InvalidInput("file_names must be a non-empty list of file names")
    out: list[FileDeleted] = []
    for raw in names:
        if not isinstance(raw, str) or not raw:
            raise InvalidInput("file_names must hold non-empty strings")
        name = PurePosixPath(raw.replace("\\", "/")).name
        ids = documents_of_source(front, namespace, name)
        deleted = front.delete(namespace, ids) if ids else []
        out.append({"file_name": name, "status": "deleted" if deleted else "not_found",
                    "message": f"{len(deleted)} documents deleted" if deleted else "no such file in this namespace"})
    return out
