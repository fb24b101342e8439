"""Metadata filters -> a parameterised SQLite WHERE clause (DESIGN §2).

Grammar: ``{"field": value}`` (equality), ``{"field": {"$op": value}}`` with
$eq $ne $in $nin $gt $gte $lt $lte $exists $contains $all $not $substring $isubstring,
``{"$and": [...]}`` / ``{"$or": [...]}`` / ``{"$not": {...}}``, and ``{"$text": "word"}``: the item's text holds the word, whole and in any
case (a function the storage layer registers on its SQLite connections, ``WORD_FUNCTION``).
Several keys in one object are ANDed. Field names and values are always bound parameters, never
spliced into the SQL text. Comparisons only match values of the same JSON kind (number with
number, string with string). A field holding a list matches when any element does (Mongo's
rule: ``{"tags": "x"}`` is membership); ``$contains`` is membership in a list field only and
``$all`` every one of several; ``null`` equals null or a missing field; $ne / $nin / $not also
match items that lack the field.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from bitsift.core.errors import InvalidFilter, InvalidInput
from bitsift.core.spec import FIELD_PATTERN, MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_FILTER_IN
from bitsift.core.validate import check_utf8

_FIELD = re.compile(FIELD_PATTERN)
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


_FLOAT_MAX = int(sys.float_info.max)
_FANOUT = 16
_KINDS = {"number": "('integer', 'real')", "text": "('text')", "bool": "('true', 'false')"}  # json_type names


def _path(field: str) -> str:
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
        raise InvalidFilter(f"invalid filter field {field!r}: use letters, digits, '_', '-' and '.' for nesting")
    return "$." + ".".join(f'"{part}"' for part in field.split("."))


class _Target:
    """Where a predicate reads a JSON value: the field itself, or one element of it (a row of
    ``json_each``). Each call appends its bound parameters in the order of the SQL text."""

    def __init__(self, path: str, element: bool) -> None:
        self.path, self.element = path, element

    def type(self, params: list[Any]) -> str:
        if self.element:
            return "e.type"
        params.append(self.path)
        return "json_type(metadata, ?)"

    def value(self, params: list[Any]) -> str:
        if self.element:
            return "e.value"
        params.append(self.path)
        return "json_extract(metadata, ?)"


Predicate = Callable[[_Target, list[Any]], str]


def _any(path: str, pred: Predicate, params: list[Any], arrays_only: bool = False) -> str:
    """True when the field's value satisfies ``pred``, or, for an array, any element does
    (Mongo's rule); never NULL (a missing field gives 0, so NOT works for $ne / $nin / $not)."""
    params.extend([path, path])
    each = pred(_Target(path, True), params)
    whole = "0" if arrays_only else pred(_Target(path, False), params)
    return (f"COALESCE(CASE json_type(metadata, ?) WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(metadata, ?) "
            f"AS e WHERE {each}) ELSE {whole} END, 0)")


def _missing(path: str, params: list[Any]) -> str:
    params.append(path)
    return "(json_type(metadata, ?) IS NULL)"


def _kind(value: Any) -> tuple[str, Any]:
    """The JSON kind of a filter value (``_KINDS``' key) and the value to bind."""
    if isinstance(value, bool):
        return "bool", int(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidFilter("filter values must be finite numbers")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            if not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                raise InvalidFilter(f"filter number {str(value)[:20]}... is beyond the range of a double")
            value = float(value)  # beyond SQLite's 64-bit integers, as its JSON functions store them
        return "number", value
    if isinstance(value, str):
        return "text", check_utf8(value, "filter value")
    raise InvalidFilter(f"filter values must be strings, numbers, booleans or null, got {json.dumps(value)[:80]}")


def _typed(value: Any, sql_op: str) -> Predicate:
    """``target <sql_op> value``, for a target of the value's JSON kind only."""
    kind, bound = _kind(value)

    def pred(t: _Target, params: list[Any]) -> str:
        sql = f"({t.type(params)} IN {_KINDS[kind]} AND {t.value(params)} {sql_op} ?)"
        params.append(bound)
        return sql
    return pred


def _is(value: Any) -> Predicate:
    """Equality with a scalar (or null), same JSON kind only."""
    if value is None:
        return lambda t, params: f"{t.type(params)} = 'null'"
    return _typed(value, "=")


def _equals(path: str, value: Any, params: list[Any]) -> str:
    """``{"f": v}`` / ``$eq``; null also matches a missing field (as in Mongo)."""
    if value is None:
        return f"({_missing(path, params)} OR {_any(path, _is(None), params)})"
    return _any(path, _is(value), params)


def _member(path: str, values: list[Any], params: list[Any]) -> str:
    """``$in``: one JSON array per kind of value, read by ``json_each``: the SQL stays the same
    size whatever the list's length (an OR per value overflows SQLite's expression depth)."""
    groups: dict[str, list[Any]] = {}
    with_null = False
    for v in values:
        if v is None:
            with_null = True
            continue
        kind, bound = _kind(v)
        groups.setdefault(kind, []).append(bound)

    def pred(t: _Target, params: list[Any]) -> str:
        parts = []
        for kind, members in groups.items():
            sql = f"({t.type(params)} IN {_KINDS[kind]} AND {t.value(params)} IN (SELECT value FROM json_each(?)))"
            params.append(json.dumps(members))
            parts.append(sql)
        if with_null:
            parts.append(_is(None)(t, params))
        return "(" + " OR ".join(parts) + ")"
    if with_null:  # the missing test's parameter comes first, as its SQL does
        return f"({_missing(path, params)} OR {_any(path, pred, params)})"
    return _any(path, pred, params)


def _compare(op: str, field: str, value: Any) -> Predicate:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidFilter(f"{op} on {field!r} needs a number or a string, got {json.dumps(value)[:40]}")
    return _typed(value, _COMPARE[op])


def _values(op: str, field: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value or len(value) > MAX_FILTER_IN:
        raise InvalidFilter(f"{op} on {field!r} needs a non-empty list of at most {MAX_FILTER_IN} values")
    return value


def _balanced(parts: list[str], joiner: str) -> str:
    """Join many terms as a shallow tree of parenthesised groups: a flat ``a OR b OR ...`` of
    more than ~1,000 terms is deeper than SQLite parses."""
    while len(parts) > _FANOUT:
        parts = ["(" + joiner.join(parts[i : i + _FANOUT]) + ")" for i in range(0, len(parts), _FANOUT)]
    return "(" + joiner.join(parts) + ")"


OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$contains", "$all", "$not",
             "$substring", "$isubstring")


def _substring(op: str, field: str, value: Any) -> Predicate:
    """A string field holding ``value`` (``$isubstring``: ignoring ASCII case, as SQLite's lower())."""
    if not isinstance(value, str) or not value:
        raise InvalidFilter(f"{op} on {field!r} needs a non-empty string, got {json.dumps(value)[:40]}")
    fold = "lower" if op == "$isubstring" else ""

    def pred(t: _Target, params: list[Any]) -> str:
        sql = f"({t.type(params)} = 'text' AND instr({fold}({t.value(params)}), {fold}(?)) > 0)"
        params.append(check_utf8(value, "filter value"))
        return sql
    return pred


def _field_clause(field: str, cond: Any, params: list[Any]) -> str:
    path = _path(field)
    if not isinstance(cond, dict):
        if isinstance(cond, list):
            raise InvalidFilter(f"{field!r}: a list is not a value to equal; use $in (any of) or $all (every one)")
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
            anyof = _member(path, _values(op, field, value), params)
            parts.append(anyof if op == "$in" else f"NOT {anyof}")
        elif op in _COMPARE:
            parts.append(_any(path, _compare(op, field, value), params))
        elif op == "$exists":
            if not isinstance(value, bool):
                raise InvalidFilter(f"$exists on {field!r} needs true or false")
            params.append(path)
            parts.append(f"(json_type(metadata, ?) IS {'NOT ' if value else ''}NULL)")
        elif op in ("$contains", "$all"):
            wanted = [value] if op == "$contains" else _values(op, field, value)
            for v in wanted:
                if isinstance(v, (list, dict)) or v is None:
                    raise InvalidFilter(f"{op} on {field!r} needs {'a' if op == '$contains' else 'a list of'} "
                                        f"string, number or boolean, got {json.dumps(value)[:40]}")
                parts.append(_any(path, _is(v), params, arrays_only=True))
        elif op in ("$substring", "$isubstring"):
            parts.append(_any(path, _substring(op, field, value), params))
        elif op == "$not":
            if not isinstance(value, dict) or not value:
                raise InvalidFilter(f"$not on {field!r} needs an object of operators, e.g. {{\"$gt\": 5}}")
            parts.append(f"NOT {_field_clause(field, value, params)}")
        else:
            raise InvalidFilter(f"unknown operator {op!r} on {field!r}; valid: {' '.join(OPERATORS)}")
    return "(" + " AND ".join(parts) + ")"


WORD_FUNCTION = "bitsift_has_word"  # SQL name of has_word(text, word)


@functools.lru_cache(maxsize=1024)
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)


def has_word(text: str | None, word: str) -> int:
    """1 if ``text`` holds ``word`` as a whole word, in any case (SQLite's boolean is an int)."""
    return int(text is not None and _word_pattern(word).search(text) is not None)


def _text_clause(word: Any, params: list[Any], index: str | None) -> str:
    """``has_word`` decides; with a keyword index (storage.keywords) its phrase query first narrows
    the rows to those holding the word's tokens, a superset of the word's whole-word matches."""
    if not isinstance(word, str) or not word.strip() or any(c.isspace() for c in word.strip()):
        raise InvalidFilter(f"$text needs one word (no spaces), got {word!r}")
    word = word.strip()
    if index is None or not any(c.isalnum() for c in word):
        params.append(word)
        return f"{WORD_FUNCTION}(text, ?)"
    params.extend(['"' + word.replace('"', '""') + '"', word])
    return f"(row IN (SELECT rowid FROM {index} WHERE {index} MATCH ?) AND {WORD_FUNCTION}(text, ?))"


def _clause(spec: Any, params: list[Any], depth: int, counter: list[int], index: str | None) -> str:
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
            parts.append(_balanced([_clause(v, params, depth + 1, counter, index) for v in value], joiner))
        elif key == "$text":
            parts.append(_text_clause(value, params, index))
            counter[0] += 1
        elif key == "$not":
            parts.append(f"NOT {_clause(value, params, depth + 1, counter, index)}")
        elif key.startswith("$"):
            raise InvalidFilter(f"unknown operator {key!r} at the top of a filter; valid: $and, $or, $not, $text")
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


def deletion_filter(ids: Any, filter: Any) -> dict[str, Any] | None:
    """What a delete asks for: exactly one of ids and a filter; the filter (checked) or None."""
    if (ids is None) == (filter is None):
        raise InvalidInput("delete needs either ids or a filter (not both)")
    return None if filter is None else check_filter(filter)


def compile_filter(spec: dict[str, Any], keyword_index: str | None = None) -> tuple[str, list[Any]]:
    """Return (SQL boolean expression over the columns ``metadata``, ``text`` and ``row``, bound
    parameters); ``keyword_index``: the FTS5 table that backs ``$text``, where the file has one."""
    params: list[Any] = []
    return _clause(spec, params, 0, [0], keyword_index), params


# --- filters written in the query text, as the hosted API reads them ------------------------

_TOKEN = re.compile(r"(?<!\\)#(\S+)$")


def query_text_filter(query: str) -> tuple[str, dict[str, Any] | None]:
    """Split the trailing ``#key:value`` and ``#word`` tokens off a text query: (the query to
    embed, their filter or None). ``#key:value``: metadata ``key`` equals ``value`` (a hyphen
    stands for a space; a numeric value also matches the number); ``#word``: the text holds
    ``word`` (``$text``); several tokens AND. ``\\#`` is a literal ``#`` and never a token."""
    words = query.split()
    conditions: list[dict[str, Any]] = []
    while words and (m := _TOKEN.fullmatch(words[-1])):
        token = m.group(1)
        key, sep, value = token.partition(":")
        if sep:
            if not re.fullmatch(FIELD_PATTERN, key) or not value:
                raise InvalidFilter(f"#{token}: write #key:value with a field name and a value")
            conditions.append({key: _token_value(value.replace("-", " "))})
        else:
            conditions.append({"$text": token})
        words.pop()
    if not conditions:
        return query.replace("\\#", "#"), None
    conditions.reverse()  # as written
    return " ".join(words).replace("\\#", "#"), conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _token_value(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    as_number: Any = int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return {"$in": [value, as_number]}


def both(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Two filters ANDed (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    return {"$and": [a, b]}
