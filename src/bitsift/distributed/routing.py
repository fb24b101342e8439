"""Which shard owns an item: a stable hash of its id (or of its document's id, for chunks)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence


def shard_of(key: str, shards: int) -> int:
    """The owning shard of ``key``: BLAKE2b-64 of its UTF-8 bytes, modulo the shard count.

    Stable across processes, machines and Python versions (unlike ``hash()``), so a restarted
    coordinator routes every id to the shard that already holds it.
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def group_by_shard(keys: Sequence[str], shards: int) -> dict[int, list[int]]:
    """Positions of ``keys`` grouped by owning shard, each group in input order."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[shard_of(key, shards)].append(i)
    return dict(groups)
