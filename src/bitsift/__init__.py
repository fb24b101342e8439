"""bitsift: exact semantic search over information-theoretic binary codes.

The public API is what this module exports (README, "Public API"); every other import path
is internal and may move between releases.
"""

from bitsift.api.client import Client
from bitsift.api.http_client import AsyncHTTPClient, HTTPClient
from bitsift.api.protocol import ClientAPI
from bitsift.core.errors import (
    BitsiftError,
    DimensionMismatch,
    DiskFull,
    DuplicateIds,
    EmptyBatch,
    InvalidFilter,
    InvalidInput,
    InvalidName,
    InvalidVector,
    JobCancelled,
    JobNotFound,
    KeywordIndexMissing,
    LLMTimeout,
    LLMUnavailable,
    NamespaceBusy,
    NamespaceExists,
    NamespaceLocked,
    NamespaceNotFound,
    ShardUnavailable,
    SnapshotsDisabled,
    StorageCorrupt,
)
from bitsift.core.results import (
    AnswerResponse,
    Citation,
    CompactResult,
    DeletedNamespace,
    DeleteResult,
    Diagnostics,
    DocumentsUploaded,
    Hit,
    Item,
    JobStatus,
    NamespaceInfo,
    ScrollPage,
    SearchResponse,
    SnapshotInfo,
    Source,
    Timings,
    UploadResult,
)
from bitsift.core.spec import BINARIZERS, NAMESPACE_TYPES, SEARCH_MODES, VERSION

__all__ = [
    "Client", "ClientAPI", "HTTPClient", "AsyncHTTPClient",
    "BitsiftError", "DimensionMismatch", "DiskFull", "DuplicateIds", "EmptyBatch", "InvalidFilter", "InvalidInput",
    "InvalidName", "InvalidVector", "KeywordIndexMissing", "NamespaceBusy", "NamespaceExists", "NamespaceLocked", "NamespaceNotFound",
    "ShardUnavailable", "SnapshotsDisabled", "StorageCorrupt", "LLMUnavailable", "LLMTimeout", "JobCancelled", "JobNotFound",
    "AnswerResponse", "Citation", "Source", "ScrollPage", "CompactResult", "DeletedNamespace", "DeleteResult", "Diagnostics", "DocumentsUploaded", "Hit", "Item",
    "JobStatus", "NamespaceInfo", "SearchResponse", "SnapshotInfo", "Timings", "UploadResult",
    "BINARIZERS", "NAMESPACE_TYPES", "SEARCH_MODES",
]
__version__ = VERSION
