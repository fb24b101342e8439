"""The shapes of what every client returns, declared once (TypedDicts: plain JSON-able dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from typing_extensions import NotRequired, TypedDict  # pydantic reads these on Python 3.11 too

from bitsift.core.errors import BitsiftError, JobCancelled, error_from
from bitsift.core.spec import BinarizerName, NamespaceType, SearchMode


class Hit(TypedDict):
    id: str
    score: float  # ITS in [0, 1] (rescore, keyword, hybrid modes: the expected ITS from the float vectors)
    label: str    # relevance band of the score (core.scoring.LABELS)
    text: str | None
    metadata: dict[str, Any]
    namespace: str
    keyword_score: NotRequired[float]  # keyword, hybrid modes: BM25 of the text (0: no query term)
    fusion_score: NotRequired[float]   # hybrid mode: what the order is by (core.fusion)
    group: NotRequired[Any]            # with group_by: the hit's value of that field (None: a group of its own)


class Timings(TypedDict):
    validate_ms: float
    scan_ms: float
    fetch_ms: float
    total_ms: float
    server_ms: NotRequired[float]  # over HTTP: time inside the server


class SearchResponse(TypedDict):
    results: list[Hit]  # best first: score, then id, then namespace order (keyword, hybrid: BM25, fusion score)
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
    vector_ids_processed: list[str]  # the hosted API's: every id written, in order
    errors: list[dict[str, Any]]  # the hosted API's; always empty: a batch with a bad item writes nothing (400)


class DocumentsUploaded(TypedDict):
    status: str    # "queued" (accepted, being embedded: see job_id) or "success" (written)
    uploaded: int  # documents
    chunks: int    # items the documents become (a document is split into chunks)
    submitted_ids: list[str]  # the hosted API's: the document ids, in order
    job_id: str    # the ingestion job writing them (``job``)
    job_ids: NotRequired[list[str]]  # an upload a client sent in several parts: every part's job


JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class JobFailure(TypedDict):
    id: str        # the document
    error: str     # the typed error's name (core.errors)
    message: str
    status: int


class JobStatus(TypedDict):
    """An ingestion job: documents accepted by an upload, embedded and written in order by a
    background worker (engine.ingestion); kept for ``BITSIFT_JOB_RETENTION_S`` once finished."""

    job_id: str
    namespace: str
    state: JobState
    source: str | None      # the file whose documents these are (a file upload), else None
    created_at: float       # Unix time
    started_at: float | None
    finished_at: float | None
    documents: int
    documents_done: int
    documents_failed: int
    documents_cancelled: int
    documents_pending: int
    chunks: int
    chunks_done: int        # chunks embedded and written (or found already stored) so far
    error: dict[str, Any] | None   # what stopped the job, as an error body
    failures: list[JobFailure]     # the first 100 documents that failed, with why


OPEN_STATES: tuple[JobState, ...] = ("queued", "running")
FINAL_STATES: tuple[JobState, ...] = ("done", "failed", "cancelled")


def check_finished(job: JobStatus) -> JobStatus:
    """A finished job, if it wrote every document; else the error that stopped it, raised."""
    if job["state"] == "cancelled":
        raise JobCancelled(f"job {job['job_id']} was cancelled: {job['documents_done']} of {job['documents']} "
                           "documents were written")
    if job["state"] == "failed":
        first = job["error"] or (job["failures"][0] if job["failures"] else None)
        if first is not None:
            raise error_from(dict(first))
        raise BitsiftError(f"job {job['job_id']} failed")
    return job



class JobList(TypedDict):
    jobs: list[JobStatus]


class Item(TypedDict):
    id: str
    text: str | None
    metadata: dict[str, Any]
    vector: NotRequired[list[float]]  # with include_vectors=True


class DeleteResult(TypedDict):
    status: str
    deleted: list[str]  # the ids asked for that existed
    deleted_ids: list[str]  # the hosted API's name for the same list
    requested_ids: list[str]  # every id asked for, as stored (integers become strings)
    actual_deletions: int
    errors: list[dict[str, Any]]  # always empty: an id that does not exist is simply not deleted


class NamespaceCreated(NamespaceInfo):
    message: str  # the hosted API's confirmation


class SnapshotInfo(TypedDict):
    snapshot: str          # the folder (in process) or the name under the server's snapshot directory
    snapshot_format: int
    namespace: str         # the namespace it was taken of
    rows: int              # committed rows it holds (live and deleted)
    generation: int        # the commit it holds the state after
    epoch: int
    format_version: int
    bitsift_version: str
    taken_at: str          # ISO-8601 UTC


class CompactResult(TypedDict):
    rows_before: int
    rows_after: int


class Diagnostics(TypedDict, total=False):
    rows: int
    live: int
    bit_entropy_mean: float
    effective_bits: float
    bit_entropy: list[float]  # each bit's entropy (0-1), in bit order
    shards: list[dict[str, Any]]  # sharded namespaces: each shard's own figures


class NamespaceList(TypedDict):
    namespaces: list[NamespaceInfo]
    execution_time: float  # seconds (the REST body; clients return the list itself)


class ItemList(TypedDict):
    documents: list[Item]  # the hosted API's name for items of either kind


class UpdateResult(TypedDict):
    status: str
    updated: list[str]        # the items changed (a document id: each of its chunks), as asked
    requested_ids: list[str]


class CountResult(TypedDict):
    namespace: str
    count: int


class ScrollPage(TypedDict):
    items: list[Item]  # in id order
    next_cursor: str | None  # pass it back for the next page; None: this was the last


class TextDataItem(Item):
    created_at: str | None  # not recorded per item: always null
    is_summary: bool        # always false: bitsift stores no summaries


class TextDataPagination(TypedDict):
    limit: int
    has_more: bool
    next_token: str | None


class TextDataStatistics(TypedDict):
    total_items: int        # on this page
    total_text_chunks: int  # items of this page that hold text


class TextDataPage(TypedDict):
    """The hosted API's fetch-text-data page (REST only; clients return a ScrollPage)."""

    status: str
    message: str
    namespace: str
    statistics: TextDataStatistics
    items: list[TextDataItem]
    pagination: TextDataPagination
    execution_time: float


class Citation(TypedDict):
    id: str         # the item the sentence is quoted from
    sentence: str   # exactly as it stands in the item's text
    score: float    # cosine similarity of the sentence to the query


class Source(TypedDict):
    id: str
    score: float
    label: str
    namespace: str


class AnswerResponse(TypedDict):
    """The hosted API's answer shape, plus what the answer quotes and what was retrieved."""

    answer: str
    model: str             # the model that answered (the extractive provider names itself)
    context_count: int     # retrieved passages with text
    query: str
    used_context: bool
    structured_data: dict[str, Any] | None  # with structured_response (needs an LLM)
    citations: list[Citation]
    sources: list[Source]  # every retrieved hit, best first


class FileInfo(TypedDict):
    file_name: str
    size: int            # bytes as uploaded (0 for files ingested from a folder)
    last_modified: str   # ISO 8601 UTC of the upload ("" for files ingested from a folder)


class FileList(TypedDict):
    success: bool
    namespace: str
    file_count: int
    files: list[FileInfo]


class FileDeleted(TypedDict):
    file_name: str
    status: str   # deleted | not_found
    message: str


class FilesDeleted(TypedDict):
    success: bool  # every file named was found and deleted
    message: str
    namespace: str
    results: list[FileDeleted]


class UploadUrl(TypedDict):
    upload_url: str    # PUT the file's bytes here (with the API key, as for every /v1 route)
    content_type: str
    file_name: str     # the name it will be recorded under
    expires_in: int    # seconds (the URL itself does not expire: it is the route, checked by key)


class FileStored(TypedDict):
    status: str    # as DocumentsUploaded's
    file_name: str
    file_size: int
    documents: int
    chunks: int
    job_id: str


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


# --- the result bodies built in one place, for every client and the REST routes ---------------

def upload_result(items: Sequence[Mapping[str, Any]]) -> UploadResult:
    """After a successful upsert of ``items``: their ids as stored (an integer id becomes its string)."""
    ids = [str(item["id"]) for item in items]
    return {"status": "success", "uploaded": len(ids), "vector_ids_processed": ids, "errors": []}


def documents_uploaded(ids: Sequence[str], chunks: int, job_id: str, done: bool) -> DocumentsUploaded:
    return {"status": "success" if done else "queued", "uploaded": len(ids), "chunks": chunks,
            "submitted_ids": list(ids), "job_id": job_id}


def update_result(requested: list[str], updated: list[str]) -> UpdateResult:
    return {"status": "success", "updated": updated, "requested_ids": requested}


def delete_result(requested: list[str], deleted: list[str]) -> DeleteResult:
    return {"status": "success", "deleted": deleted, "deleted_ids": deleted, "requested_ids": requested,
            "actual_deletions": len(deleted), "errors": []}


def namespace_created(info: NamespaceInfo, existed: bool = False) -> NamespaceCreated:
    done = "already exists with these parameters" if existed else "created"
    return cast(NamespaceCreated, {"message": f"Namespace {info['namespace_name']!r} {done}", **info})


def text_data_page(name: str, scrolled: ScrollPage, limit: int, seconds: float) -> TextDataPage:
    items = [cast(TextDataItem, {**item, "created_at": None, "is_summary": False}) for item in scrolled["items"]]
    return {"status": "success", "message": f"{len(items)} items", "namespace": name,
            "statistics": {"total_items": len(items), "total_text_chunks": sum(i["text"] is not None for i in items)},
            "items": items, "pagination": {"limit": limit, "has_more": scrolled["next_cursor"] is not None,
                                           "next_token": scrolled["next_cursor"]},
            "execution_time": seconds}
