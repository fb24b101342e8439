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
import sys
from typing import Any

from bitsift.core.errors import InvalidFilter, InvalidInput
from bitsift.core.spec import FIELD_PATTERN, MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_FILTER_IN
from bitsift.core.validate import check_utf8

_FIELD = re.compile(FIELD_PATTERN)
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


_FLOAT_MAX = int(sys.float_info.max)
_FANOUT = 16
_KINDS = {"number": "('integer', 'real')", "text": "('text')", "bool": "('true', 'false')"}


def _path(field: str) -> str:
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
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
            if not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                raise InvalidFilter(f"filter number {str(value)[:20]}... is beyond the range of a double")
            value = float(value)  # beyond SQLite's 64-bit integers, as its JSON functions store them
        return "json_type(metadata, ?) IN ('integer', 'real')", value
    if isinstance(value, str):
        return "json_type(metadata, ?) = 'text'", check_utf8(value, "filter value")
    raise InvalidFilter(f"filter values must be strings, numbers or booleans, got {json.dumps(value)[:80]}")


def _equals(path: str, value: Any, params: list[Any]) -> str:
    type_test, bound = _kind(value)
    params.extend([path, path, bound])
    # COALESCE: a missing field gives NULL, and NOT NULL would hide it from $ne / $nin.
    return f"COALESCE(({type_test} AND json_extract(metadata, ?) = ?), 0)"


def _member(path: str, values: list[Any], params: list[Any]) -> str:
    """``$in``: one JSON array per kind of value, read by ``json_each``: the SQL stays the same
    size whatever the list's length (an OR per value overflows SQLite's expression depth)."""
    groups: dict[str, list[Any]] = {}
    for v in values:
        _kind(v)  # validates the value
        kind = "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "text"
        groups.setdefault(kind, []).append(_kind(v)[1])
    parts = []
    for kind, members in groups.items():
        params.extend([path, path, json.dumps(members)])
        parts.append(f"COALESCE((json_type(metadata, ?) IN {_KINDS[kind]} AND json_extract(metadata, ?) IN "
                     f"(SELECT value FROM json_each(?))), 0)")
    return "(" + " OR ".join(parts) + ")"


def _balanced(parts: list[str], joiner: str) -> str:
    """Join many terms as a shallow tree of parenthesised groups: a flat ``a OR b OR ...`` of
    more than ~1,000 terms is deeper than SQLite parses."""
    while len(parts) > _FANOUT:
        parts = ["(" + joiner.join(parts[i : i + _FANOUT]) + ")" for i in range(0, len(parts), _FANOUT)]
    return "(" + joiner.join(parts) + ")"


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
            if not isinstance(value, list) or not value or len(value) > MAX_FILTER_IN:
                raise InvalidFilter(f"{op} on {field!r} needs a non-empty list of at most {MAX_FILTER_IN} values")
            anyof = _member(path, value, params)
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


def _clause(spec: Any, params: list[Any], depth: int, counter: list[int]) -> str:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"filter nested deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(spec, dict) or not spec:
        raise InvalidFilter("a filter must be a non-empty JSON object")
    parts = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidFilter(f"{key} needs a non-empty list of filters")
            joiner = " AND " if key == "$and" else " OR "
            parts.append(_balanced([_clause(v, params, depth + 1, counter) for v in value], joiner))
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown operator {key!r} at the top of a filter; valid: $and, $or")
        else:
            parts.append(_field_clause(key, value, params))
            counter[0] += 1
            if counter[0] > MAX_FILTER_CONDITIONS:
                raise InvalidFilter(f"a filter may hold at most {MAX_FILTER_CONDITIONS} field conditions")
    return _balanced(parts, " AND ")


def check_filter(spec: Any) -> dict[str, Any] | None:
    """A filter as given, refused (400) before any work if it is not a valid one."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidInput("filter must be a JSON object")
    compile_filter(spec)
    return spec


def compile_filter(spec: dict[str, Any]) -> tuple[str, list[Any]]:
    """Return (SQL boolean expression over column ``metadata``, bound parameters)."""
    params: list[Any] = []
    return _clause(spec, params, 0, [0]), params
