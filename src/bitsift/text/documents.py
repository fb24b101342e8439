"""Text documents -> chunk items for a text namespace (before embedding).

A document ``{id, text, **fields}`` becomes one item per chunk: the item id is the
document id when the text fits one chunk, else ``<id>#chunk-<i>`` (so ``#chunk-`` is refused in
document ids); metadata holds the
document's extra fields plus ``document_id``, ``chunk_index`` and ``chunk_count``, so a
search hit names its parent document and position.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bitsift.core.errors import DuplicateIds, EmptyBatch, InvalidInput
from bitsift.core.validate import MAX_BATCH, MAX_TEXT_CHARS, check_id, check_utf8
from bitsift.text.chunking import chunk_spans

RESERVED = ("document_id", "chunk_index", "chunk_count")
# A document field (not stored): the offset in its text where each page starts, ascending from 0;
# each chunk then gets ``page``, the 1-based page its text starts on (the ingested PDFs send it).
PAGE_OFFSETS = "page_offsets"


def _page_offsets(value: Any, length: int, where: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or value[0] != 0 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= length for v in value) \
            or any(a > b for a, b in zip(value, value[1:])):
        raise InvalidInput(f"{where}: {PAGE_OFFSETS} must be ascending character offsets into the text, from 0")
    return value
CHUNK_MARK = "#chunk-"  # reserved in document ids: ``a#chunk-0`` would replace a chunk of ``a``


@dataclass
class Chunks:
    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]
    parents: list[str]
    documents: int


def chunk_documents(documents: Any, size: int, overlap: int) -> Chunks:
    """Validate a batch of documents and split each into chunks; nothing is written here."""
    if not isinstance(documents, Sequence) or isinstance(documents, (str, bytes)) or not documents:
        raise EmptyBatch("documents must be a non-empty list")
    if len(documents) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} documents per batch, got {len(documents)}")
    out = Chunks([], [], [], [], len(documents))
    seen: set[str] = set()
    for i, doc in enumerate(documents):
        where = f"documents[{i}]"
        if not isinstance(doc, dict) or "id" not in doc or "text" not in doc:
            raise InvalidInput(f"{where}: each document must be an object with id and text")
        doc_id = check_id(doc["id"], where)
        if CHUNK_MARK in doc_id:
            raise InvalidInput(f"{where}: a document id may not contain {CHUNK_MARK!r} (reserved for chunk ids)")
        if doc_id in seen:
            raise DuplicateIds(f"duplicate ids in one batch: ['{doc_id}']")
        seen.add(doc_id)
        text = doc["text"]
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"{where}: text must be a non-empty string of at most {MAX_TEXT_CHARS} characters")
        check_utf8(text, f"{where}: text")
        if "vector" in doc:
            raise InvalidInput(f"{where}: a text namespace embeds documents itself; upload vectors to a vector namespace")
        fields = {k: v for k, v in doc.items() if k not in ("id", "text", "metadata")}
        if isinstance(doc.get("metadata"), dict):
            fields = {**doc["metadata"], **fields}
        elif doc.get("metadata") is not None:
            raise InvalidInput(f"{where}: metadata must be an object")
        clash = [k for k in RESERVED if k in fields]
        if clash:
            raise InvalidInput(f"{where}: fields {clash} are reserved for chunk bookkeeping")
        pages = _page_offsets(fields.pop(PAGE_OFFSETS, None), len(text), where)
        pieces = chunk_spans(text, size=size, overlap=overlap)
        for j, (piece, at) in enumerate(pieces):
            out.ids.append(doc_id if len(pieces) == 1 else f"{doc_id}#chunk-{j}")
            out.texts.append(piece)
            page = {} if pages is None else {"page": bisect.bisect_right(pages, at)}
            out.metadata.append({**fields, **page, "document_id": doc_id, "chunk_index": j, "chunk_count": len(pieces)})
            out.parents.append(doc_id)
    return out
