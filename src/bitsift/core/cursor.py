"""Scroll cursors: where a page of items in id order ended, as an opaque token.

A cursor is the last id returned (base64url), and the next page is the live items with a
larger id. So an item present for the whole scroll is returned exactly once whatever is
written meanwhile (an upsert keeps its id; a compaction renumbers rows, not ids), and the
same cursor means the same place on one machine and across shards.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bitsift.core.errors import InvalidInput
from bitsift.core.results import ScrollPage

DEFAULT_SCROLL_LIMIT = 100  # the hosted API's page size
MAX_SCROLL_LIMIT = 1000


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(token: Any) -> str | None:
    """The id a page starts after; None for the first page."""
    if token is None:
        return None
    if not isinstance(token, str) or not token:
        raise InvalidInput("cursor must be the next_token (a string) of the previous page")
    try:
        last = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last = ""
    if not last:
        raise InvalidInput("cursor is not a next_token this server gave out")
    return last


def page(items: list[Any], limit: int) -> ScrollPage:
    """A ``ScrollPage`` from up to ``limit + 1`` items in id order: one more than the page says
    whether another page follows."""
    if len(items) <= limit:
        return {"items": items, "next_cursor": None}
    return {"items": items[:limit], "next_cursor": encode_cursor(items[limit - 1]["id"])}


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SCROLL_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_SCROLL_LIMIT}, got {limit!r}")
    return limit
