"""The shapes of what every client returns, declared once (TypedDicts: plain JSON-able dicts)."""

from __future__ import annotations

from typing import Any

from typing_extensions import NotRequired, TypedDict  # pydantic reads these on Python 3.11 too

from bitsift.core.spec import BinarizerName, NamespaceType, SearchMode


class Hit(TypedDict):
    id: str
    score: float  # ITS in [0, 1] (rescore mode: the expected ITS from the float vectors)
    label: str    # relevance band of the score (core.scoring.LABELS)
    text: str | None
    metadata: dict[str, Any]
    namespace: str


class Timings(TypedDict):
    validate_ms: float
    scan_ms: float
    fetch_ms: float
    total_ms: float
    server_ms: NotRequired[float]  # over HTTP: time inside the server


class SearchResponse(TypedDict):
    results: list[Hit]  # best first: score, then id, then namespace order
    execution_time: float  # seconds
    mode: SearchMode
    timings: Timings
    shards: NotRequired[int]  # sharded namespaces: shards visited
    partial: NotRequired[bool]  # with partial=True: some shards did not answer
    missing_shards: NotRequired[list[str]]


class NamespaceInfo(TypedDict):
    namespace_name: str
    type: NamespaceType
    vector_dimension: int
    binarizer: BinarizerName
    model: str | None
    created_at: str
    item_count: int
    format_version: int
    shards: NotRequired[int]


class DeletedNamespace(TypedDict):
    namespace_name: str
    deleted: bool


class UploadResult(TypedDict):
    status: str
    uploaded: int


class DocumentsUploaded(TypedDict):
    status: str
    uploaded: int  # documents
    chunks: int    # items written (a document is split into chunks)


class Item(TypedDict):
    id: str
    text: str | None
    metadata: dict[str, Any]
    vector: NotRequired[list[float]]  # with include_vectors=True


class DeleteResult(TypedDict):
    status: str
    deleted: list[str]  # the ids asked for that existed


class CompactResult(TypedDict):
    rows_before: int
    rows_after: int


class Diagnostics(TypedDict, total=False):
    rows: int
    live: int
    bit_entropy_mean: float
    effective_bits: float
    shards: list[dict[str, Any]]  # sharded namespaces: each shard's own figures


class NamespaceList(TypedDict):
    namespaces: list[NamespaceInfo]


class ItemList(TypedDict):
    documents: list[Item]  # the hosted API's name for items of either kind


class SearchBatchResponse(TypedDict):
    responses: list[SearchResponse]  # one per query, in order


class Health(TypedDict):
    status: str
    version: str
    worker: int  # the process id of the server worker that answered (bitsift serve --workers)


class ErrorBody(TypedDict):
    """Every error, from any route: a stable name, a message that says what to do, the status."""

    error: str
    message: str
    status: int
