"""bitsift: exact semantic search over information-theoretic binary codes."""

from bitsift.client import Client
from bitsift.http_client import AsyncHTTPClient, HTTPClient
from bitsift.errors import (
    BitsiftError, DimensionMismatch, DuplicateIds, EmptyBatch, InvalidFilter, InvalidInput,
    InvalidName, InvalidVector, NamespaceBusy, NamespaceExists, NamespaceLocked, NamespaceNotFound,
    ShardUnavailable,
)

__all__ = [
    "Client", "HTTPClient", "AsyncHTTPClient", "BitsiftError", "DimensionMismatch", "DuplicateIds", "EmptyBatch", "InvalidFilter",
    "InvalidInput", "InvalidName", "InvalidVector", "NamespaceExists", "NamespaceLocked",
    "NamespaceNotFound", "NamespaceBusy", "ShardUnavailable",
]
__version__ = "0.1.0"
