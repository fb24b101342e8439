"""Grouped results: the best hits per value of a metadata field (for text chunks, ``document_id``).

Pure: a ranked list of hits in, the first ``top_k`` groups out, each with its best ``size`` hits,
groups ordered by their best hit (so the order is the mode's own). An item without the field (or
with null) is a group of its own. The pipeline asks for a deeper list until the answer is
settled (:func:`group_hits` says when), so grouping is exact whatever the depth needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bitsift.core.errors import InvalidInput
from bitsift.core.spec import FIELD_PATTERN, MAX_GROUP_SIZE

_FIELD = re.compile(FIELD_PATTERN)
_ABSENT = object()


def check_grouping(group_by: Any, group_size: Any) -> tuple[str | None, int]:
    """(field or None, hits per group), refused (400) when malformed."""
    if group_by is None:
        if group_size not in (None, 1):
            raise InvalidInput("group_size needs group_by (the metadata field to group hits by)")
        return None, 1
    if not isinstance(group_by, str) or not _FIELD.fullmatch(group_by):
        raise InvalidInput(f"group_by must be a metadata field name (letters, digits, '_', '-', '.' to nest), "
                           f"got {group_by!r}")
    size = 1 if group_size is None else group_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_GROUP_SIZE:
        raise InvalidInput(f"group_size must be an integer from 1 to {MAX_GROUP_SIZE}, got {group_size!r}")
    return group_by, size


def group_value(metadata: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted field of a hit's metadata, or None when absent."""
    value: Any = metadata
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def group_hits(hits: Sequence[dict[str, Any]], field: str, top_k: int, size: int,
               exhausted: bool) -> tuple[list[dict[str, Any]], bool]:
    """(the grouped hits, each carrying ``group``; whether the answer is settled). ``hits`` is a
    ranked list; ``exhausted``: it holds every hit there is. Unless exhausted, the answer is
    settled when ``top_k`` groups are seen and each of them has ``size`` hits: any group not seen
    has its best hit below every seen one, and a seen group's missing hits could only be deeper."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for hit in hits:
        value = group_value(hit["metadata"], field)
        key = ("item", hit["namespace"], hit["id"]) if value is None else \
            ("value", json.dumps(value, sort_keys=True))
        members = groups.get(key)
        if members is None:
            if len(groups) == top_k:
                continue  # below the k-th group's best hit: only deeper members of seen groups count
            members = groups[key] = []
        if len(members) < size:
            members.append({**hit, "group": value})
    settled = exhausted or (len(groups) == top_k and all(len(m) == size for m in groups.values()))
    return [h for members in groups.values() for h in members], settled
