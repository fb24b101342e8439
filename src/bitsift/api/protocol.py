"""The public API, declared once: every method, its signature, its result and what it does.

``Client(path=)``, ``Client(ray=, path=)`` and ``Client(url=)`` (``HTTPClient``) implement it;
``AsyncHTTPClient`` implements the same signatures as coroutines. tests/test_api_surface.py
compares every implementation with this declaration (names, order, defaults).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT
from bitsift.core.results import (
    AnswerResponse,
    CompactResult,
    DeletedNamespace,
    DeleteResult,
    Diagnostics,
    DocumentsUploaded,
    Item,
    JobStatus,
    NamespaceInfo,
    ScrollPage,
    SearchResponse,
    SnapshotInfo,
    UpdateResult,
    UploadResult,
)
from bitsift.core.spec import DEFAULT_BINARIZER, DEFAULT_TOP_K
from bitsift.engine.answer import DEFAULT_ANSWER_TOP_K
from bitsift.engine.front import Query


class ClientAPI(abc.ABC):
    """One interface in process, over HTTP and on Ray; the same results and typed errors
    (bitsift.errors) everywhere. Every write is durable and searchable when the call returns
    (a document upload with ``wait=False``: when its job is done)."""

    @abc.abstractmethod
    def create_namespace(self, name: str, type: str | None = None, dimension: int | None = None,
                         binarizer: str = DEFAULT_BINARIZER, center: Sequence[float] | None = None,
                         model: str | None = None, shards: int | None = None,
                         exist_ok: bool = False) -> NamespaceInfo:
        """Create a namespace. ``type``: "vector" or "text"; when None, a ``dimension`` means
        vector and no dimension means text (embedded with ``model``, the bundled local model if
        None). ``binarizer``: one of ``core.spec.BINARIZERS``; ``center`` fixes the mean of a
        centred one. ``shards``: Ray actors that split it (Ray engines only; one per node).
        ``exist_ok``: a namespace of that name made with the same parameters is returned as it
        is (so a script can run twice); one made with other parameters is still a 409 naming them."""

    @abc.abstractmethod
    def list_namespaces(self) -> list[NamespaceInfo]:
        """Every namespace, by name."""

    @abc.abstractmethod
    def describe_namespace(self, name: str) -> NamespaceInfo:
        """Type, dimension, binarizer, model, item count and format version of one namespace."""

    @abc.abstractmethod
    def delete_namespace(self, name: str) -> DeletedNamespace:
        """Delete a namespace and everything in it."""

    @abc.abstractmethod
    def upload_vectors(self, name: str, vectors: Sequence[Mapping[str, Any]]) -> UploadResult:
        """Upsert ``[{id, vector, text?, metadata?}]`` into a vector namespace; a rejected batch
        writes nothing."""

    @abc.abstractmethod
    def upload_documents(self, name: str, documents: Sequence[Mapping[str, Any]],
                         wait: bool = True) -> DocumentsUploaded:
        """Upsert ``[{id, text, **fields}]`` into a text namespace: chunked and embedded; extra
        fields become metadata; re-uploading a document replaces all its chunks.

        The upload is validated whole (a bad batch is refused and nothing is kept), recorded as
        an ingestion job (``job_id``) that survives a crash, and embedded in the background. With
        ``wait`` (the default) this returns once every document is searchable, raising the error
        that stopped the job if any; with ``wait=False`` it returns at once (``status: "queued"``):
        follow the job with ``job``. Re-sending unchanged documents embeds nothing again."""

    @abc.abstractmethod
    def job(self, job_id: str) -> JobStatus:
        """Progress of an ingestion job: its state, documents and chunks done, and why any failed."""

    @abc.abstractmethod
    def jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        """Recent ingestion jobs, newest first, of one namespace or all (finished ones are kept
        for a bounded time: ``BITSIFT_JOB_RETENTION_S``, default one day)."""

    @abc.abstractmethod
    def cancel_job(self, job_id: str) -> JobStatus:
        """Stop a job: its documents not written yet are dropped (a batch being written still
        lands); a finished job is left as it was."""

    @abc.abstractmethod
    def get(self, name: str, ids: Sequence[str | int], include_vectors: bool = False) -> list[Item]:
        """Live items for the ids that exist, in the order asked (a document id: all its chunks)."""

    @abc.abstractmethod
    def update(self, name: str, ids: Sequence[str | int], metadata: dict[str, Any] | None = None,
               text: str | None = None, unset: Sequence[str] | None = None) -> UpdateResult:
        """Change items without their vectors: ``metadata`` keys merged into each item's,
        ``unset`` keys removed, ``text`` replacing the text (in a text namespace the new text is
        embedded, one item at a time; an unchanged text is not embedded again). A document id of
        a text namespace changes every chunk of it. Ids that do not exist are skipped (compare
        ``updated`` with ``requested_ids``); one commit for all."""

    @abc.abstractmethod
    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        """Live items in a namespace, or those matching a metadata ``filter`` (chunks count one
        each); the same number ``scroll`` with that filter would page through."""

    @abc.abstractmethod
    def delete(self, name: str, ids: Sequence[str | int] | None = None,
               filter: dict[str, Any] | None = None) -> DeleteResult:
        """Delete items (or every chunk of documents) by id, or every item whose metadata match
        ``filter`` (found and deleted in one commit; in a text namespace a filter matches chunks:
        ``{"document_id": ...}`` takes a whole document). Exactly one of the two."""

    @abc.abstractmethod
    def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
               filter: dict[str, Any] | None = None) -> ScrollPage:
        """One page (at most ``limit``, up to 1,000) of every live item in id order, matching
        ``filter`` if given; pass ``next_cursor`` back for the next page until it is None. An item
        present for the whole scroll is returned exactly once, whatever is written meanwhile."""

    @abc.abstractmethod
    def search(self, namespaces: Sequence[str] | str, query: Query, top_k: int = DEFAULT_TOP_K,
               threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
               mode: str | None = None, oversample: int | None = None, partial: bool = False,
               keywords: str | None = None, fusion: str | None = None,
               keyword_weight: float | None = None, group_by: str | None = None,
               group_size: int | None = None) -> SearchResponse:
        """Exact top-k over one or more namespaces, merged as if they were one.

        ``mode``: "binary" (bit codes only), "rescore" (float re-scoring of the first stage's best
        candidates: as many as its error bound needs, or ``top_k * oversample`` with an integer
        ``oversample``; the default), "keyword" (BM25 over the item
        texts) or "hybrid" (rescore fused with keyword: ``fusion`` "rrf", the default, or
        "weighted", with ``keyword_weight`` in [0, 1]). ``keywords``: the words the last two look
        for (by default a text query itself; needed with a vector query). In every mode ``score``
        is the ITS of the hit's vector; keyword and hybrid hits also carry ``keyword_score`` (and
        ``fusion_score``), which decide their order. ``group_by`` (a metadata field; for text
        chunks ``document_id``): the ``top_k`` best groups of hits sharing its value, each with its
        best ``group_size`` hits (default 1), each hit carrying ``group``; an item without the field
        is a group of its own. ``threshold`` drops results
        scoring below it in every mode; ``kiosk_mode`` is accepted for compatibility and changes
        nothing. ``filter``: a metadata filter (core.filters). ``partial``: on a sharded
        namespace, answer from the live shards when some are down (flagged ``partial: true``
        with ``missing_shards``) instead of failing with 503.
        """

    @abc.abstractmethod
    def search_batch(self, namespaces: Sequence[str] | str, queries: Sequence[Query], top_k: int = DEFAULT_TOP_K,
                     threshold: float | None = None, filter: dict[str, Any] | None = None, kiosk_mode: bool = False,
                     mode: str | None = None, oversample: int | None = None,
                     partial: bool = False, keywords: Sequence[str] | None = None, fusion: str | None = None,
                     keyword_weight: float | None = None, group_by: str | None = None,
                     group_size: int | None = None) -> list[SearchResponse]:
        """``search`` for up to ``core.spec.MAX_BATCH_QUERIES`` queries sharing the other
        parameters, in one pass over the codes: one response per query, in query order, each
        identical to what ``search`` returns for it (``keywords``: one text per query). One
        invalid query rejects the whole batch (the error names ``queries[i]``)."""

    @abc.abstractmethod
    def answer(self, namespace: str, query: str, top_k: int = DEFAULT_ANSWER_TOP_K, threshold: float | None = None,
               kiosk_mode: bool = False, chat_history: Sequence[Mapping[str, str]] | None = None,
               header_prompt: str | None = None, footer_prompt: str | None = None, temperature: float = 0.7,
               ai_model: str | None = None, structured_response: dict[str, Any] | None = None) -> AnswerResponse:
        """Retrieve the ``top_k`` best passages of a text namespace for ``query`` and answer from
        them (engine.answer): extractively unless the server has an LLM, quoting sentences with the
        id of the item each comes from (``citations``); ``sources`` lists what was retrieved."""

    @abc.abstractmethod
    def snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        """Copy a namespace, while writes continue, into a snapshot holding a prefix of its
        committed batches (never half of one). In process ``snapshot`` is a folder (new or empty);
        over HTTP a name (1-64 letters, digits, '_', '-') under the server's snapshot directory
        (``bitsift serve --snapshot-dir``). One machine's namespaces only (not sharded ones)."""

    @abc.abstractmethod
    def restore(self, snapshot: str, name: str) -> NamespaceInfo:
        """A new namespace ``name`` (409 if it exists) holding what ``snapshot`` holds."""

    @abc.abstractmethod
    def compact(self, name: str) -> CompactResult:
        """Rewrite a namespace's files without deleted rows."""

    @abc.abstractmethod
    def diagnostics(self, name: str) -> Diagnostics:
        """Per-bit entropy of the stored codes: how many of the D bits carry information."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release files, connections or actors; the client is also a context manager."""
