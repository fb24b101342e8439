"""Typed errors. Each knows its HTTP status and a stable name, so the server can
turn any of them into one JSON body and a client can rebuild the same exception."""

from __future__ import annotations


class BitsiftError(Exception):
    """Base of every error bitsift raises on purpose."""

    status: int = 500
    name: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"error": self.name, "message": self.message, "status": self.status}


class InvalidInput(BitsiftError):
    """A request that can never succeed as written (400)."""

    status, name = 400, "invalid_input"


class InvalidName(InvalidInput):
    name = "invalid_name"


class InvalidVector(InvalidInput):
    """NaN, inf, values beyond float16, wrong type or shape."""

    name = "invalid_vector"


class DimensionMismatch(InvalidInput):
    name = "dimension_mismatch"


class DuplicateIds(InvalidInput):
    name = "duplicate_ids"


class EmptyBatch(InvalidInput):
    name = "empty_batch"


class InvalidFilter(InvalidInput):
    name = "invalid_filter"


class NamespaceNotFound(BitsiftError):
    status, name = 404, "namespace_not_found"


class NamespaceGone(NamespaceNotFound):
    """A handle to a namespace incarnation that was deleted (maybe re-created under the same
    name, maybe by another process). It never writes; the engine reopens the name once, and a
    caller sees this only when the name is gone for good (a 404)."""


class JobNotFound(BitsiftError):
    """No ingestion job of that id (never made, or finished and past its retention)."""

    status, name = 404, "job_not_found"


class JobCancelled(BitsiftError):
    """The ingestion job was cancelled before all of its documents were written."""

    status, name = 409, "job_cancelled"


class NamespaceExists(BitsiftError):
    status, name = 409, "namespace_exists"


class KeywordIndexMissing(BitsiftError):
    """A namespace written by an older bitsift (format 2) has no keyword index yet: it is built
    on the namespace's next write or compaction (a read never changes a folder)."""

    status, name = 409, "keyword_index_missing"


class SnapshotsDisabled(BitsiftError):
    """The server was started without a snapshot directory (``bitsift serve --snapshot-dir``):
    over REST, snapshots are written and read only there."""

    status, name = 403, "snapshots_disabled"


class NamespaceLocked(BitsiftError):
    """Another process is writing to the namespace right now."""

    status, name = 423, "namespace_locked"


class ReadOnly(BitsiftError):
    """A write reached a read-only handle (a search replica's): writes go to the namespace's
    one writer (see README "Deployment on Ray")."""

    status, name = 409, "read_only"


class NamespaceBusy(BitsiftError):
    """A search kept racing another process's compaction; retrying is safe."""

    status, name = 503, "namespace_busy"


class Renumbered(NamespaceBusy):
    """A compaction in another process renumbered a namespace's rows while a search read them
    (its row files shrank under it): the search runs again; after every attempt, 503."""


class ShardUnavailable(BitsiftError):
    """A shard of a sharded namespace is down or restarting; retrying shortly is safe.
    The message names the shard, so an operator knows which node to look at."""

    status, name = 503, "shard_unavailable"


class DiskFull(BitsiftError):
    """The data folder's disk (or a file-size limit) is full. Nothing half-made stays behind:
    the write is rolled back and the next one succeeds once space is freed."""

    status, name = 507, "insufficient_storage"


class StorageCorrupt(BitsiftError):
    """On-disk state that the commit protocol can never produce (a file damaged or cut
    outside bitsift). The message names the file; the only 500 the server sends on purpose."""

    status, name = 500, "storage_corrupt"


class LLMUnavailable(BitsiftError):
    """The configured LLM (POST /v1/answer) failed or sent something that is not an answer."""

    status, name = 502, "llm_unavailable"


class LLMTimeout(BitsiftError):
    """The configured LLM did not answer in time."""

    status, name = 504, "llm_timeout"


ERRORS_BY_NAME: dict[str, type[BitsiftError]] = {
    cls.name: cls
    for cls in (
        BitsiftError, InvalidInput, InvalidName, InvalidVector, DimensionMismatch, DuplicateIds,
        EmptyBatch, InvalidFilter, NamespaceNotFound, JobNotFound, JobCancelled, NamespaceExists,
        KeywordIndexMissing, SnapshotsDisabled, NamespaceLocked,
        NamespaceBusy, ShardUnavailable, DiskFull, StorageCorrupt, LLMUnavailable, LLMTimeout,
    )
}


def error_from(body: dict[str, object]) -> BitsiftError:
    """The typed exception of an error body (``to_dict``), wherever it was recorded."""
    name, message, status = str(body.get("error")), str(body.get("message")), body.get("status")
    cls = ERRORS_BY_NAME.get(name)
    if cls is not None and cls.status == status:
        return cls(message)
    exc = BitsiftError(message)
    exc.status, exc.name = int(status) if isinstance(status, int) else 500, name
    return exc
