"""Metadata filters -> a parameterised SQLite WHERE clause (DESIGN §2).

Grammar: ``{"field": value}`` (equality), ``{"field": {"$op": value}}`` with
$eq $ne $in $nin $gt $gte $lt $lte $exists, and ``{"$and": [...]}`` /
``{"$or": [...]}``. Several keys in one object are ANDed. Field names and values
are always bound parameters, never spliced into the SQL text. Comparisons only
match values of the same JSON kind (number with number, string with string),
and $ne / $nin also match items that lack the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from bitsift.core.errors import InvalidFilter

_FIELD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_MAX_DEPTH = 32
_MAX_IN = 1_000


def _path(field: str) -> str:
    if not isinstance(field, str) or not _FIELD.match(field):
        raise InvalidFilter(f"invalid filter field {field!r}: use letters, digits, '_', '-' and '.' for nesting")
    return "$." + ".".join(f'"{part}"' for part in field.split("."))


def _kind(value: Any) -> tuple[str, Any]:
    """SQL type test for a JSON value and the value to bind."""
    if isinstance(value, bool):
        return "json_type(metadata, ?) IN ('true', 'false')", int(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidFilter("filter values must be finite numbers")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            value = float(value)  # beyond SQLite's 64-bit integers, as its JSON functions store them
        return "json_type(metadata, ?) IN ('integer', 'real')", value
    if isinstance(value, str):
        return "json_type(metadata, ?) = 'text'", value
    raise InvalidFilter(f"filter values must be strings, numbers or booleans, got {json.dumps(value)[:80]}")


def _equals(path: str, value: Any, params: list[Any]) -> str:
    type_test, bound = _kind(value)
    params.extend([path, path, bound])
    # COALESCE: a missing field gives NULL, and NOT NULL would hide it from $ne / $nin.
    return f"COALESCE(({type_test} AND json_extract(metadata, ?) = ?), 0)"


def _field_clause(field: str, cond: Any, params: list[Any]) -> str:
    path = _path(field)
    if not isinstance(cond, dict):
        return _equals(path, cond, params)
    if not cond:
        raise InvalidFilter(f"empty condition for field {field!r}")
    parts = []
    for op, value in cond.items():
        if op == "$eq":
            parts.append(_equals(path, value, params))
        elif op == "$ne":
            parts.append(f"NOT {_equals(path, value, params)}")
        elif op in ("$in", "$nin"):
            if not isinstance(value, list) or not value or len(value) > _MAX_IN:
                raise InvalidFilter(f"{op} on {field!r} needs a non-empty list of at most {_MAX_IN} values")
            anyof = "(" + " OR ".join(_equals(path, v, params) for v in value) + ")"
            parts.append(anyof if op == "$in" else f"NOT {anyof}")
        elif op in _COMPARE:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise InvalidFilter(f"{op} on {field!r} needs a number or a string")
            type_test, bound = _kind(value)
            params.extend([path, path, bound])
            parts.append(f"({type_test} AND json_extract(metadata, ?) {_COMPARE[op]} ?)")
        elif op == "$exists":
            if not isinstance(value, bool):
                raise InvalidFilter(f"$exists on {field!r} needs true or false")
            params.append(path)
            parts.append(f"(json_type(metadata, ?) IS {'NOT ' if value else ''}NULL)")
        else:
            raise InvalidFilter(
                f"unknown operator {op!r} on {field!r}; valid: $eq $ne $in $nin $gt $gte $lt $lte $exists"
            )
    return "(" + " AND ".join(parts) + ")"


def _clause(spec: Any, params: list[Any], depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise InvalidFilter(f"filter nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(spec, dict) or not spec:
        raise InvalidFilter("a filter must be a non-empty JSON object")
    parts = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidFilter(f"{key} needs a non-empty list of filters")
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + joiner.join(_clause(v, params, depth + 1) for v in value) + ")")
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown operator {key!r} at the top of a filter; valid: $and, $or")
        else:
            parts.append(_field_clause(key, value, params))
    return "(" + " AND ".join(parts) + ")"


def compile_filter(spec: dict[str, Any]) -> tuple[str, list[Any]]:
    """Return (SQL boolean expression over column ``metadata``, bound parameters)."""
    params: list[Any] = []
    return _clause(spec, params, 0), params
