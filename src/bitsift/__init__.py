"""bitsift: exact semantic search over information-theoretic binary codes."""

from bitsift.api.client import Client
from bitsift.api.http_client import AsyncHTTPClient, HTTPClient
from bitsift.core.errors import (
    BitsiftError,
    DimensionMismatch,
    DuplicateIds,
    EmptyBatch,
    InvalidFilter,
    InvalidInput,
    InvalidName,
    InvalidVector,
    NamespaceBusy,
    NamespaceExists,
    NamespaceLocked,
    NamespaceNotFound,
    ShardUnavailable,
)

__all__ = [
    "Client", "HTTPClient", "AsyncHTTPClient", "BitsiftError", "DimensionMismatch", "DuplicateIds", "EmptyBatch", "InvalidFilter",
    "InvalidInput", "InvalidName", "InvalidVector", "NamespaceExists", "NamespaceLocked",
    "NamespaceNotFound", "NamespaceBusy", "ShardUnavailable",
]
__version__ = "0.1.0"
