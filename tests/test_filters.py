"""Metadata filters: SQL semantics checked against a Python evaluation, and clear errors."""

from __future__ import annotations

import sqlite3

import pytest

from bitsift.core.errors import InvalidFilter
from bitsift.core.filters import compile_filter

ROWS = [
    {"genre": "sci-fi", "year": 1999, "rating": 4.5, "tags": "x", "ok": True},
    {"genre": "drama", "year": 2005, "rating": 3.0, "ok": False},
    {"genre": "sci-fi", "year": 2015},
    {"year": "2001", "nested": {"a": 1}},
    {},
]


def matching(spec):
    import json

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (row INTEGER, metadata TEXT)")
    db.executemany("INSERT INTO items VALUES (?, ?)", [(i, json.dumps(m)) for i, m in enumerate(ROWS)])
    where, params = compile_filter(spec)
    return sorted(r for (r,) in db.execute(f"SELECT row FROM items WHERE {where}", params))


@pytest.mark.parametrize(
    "spec, want",
    [
        ({"genre": "sci-fi"}, [0, 2]),
        ({"genre": {"$eq": "drama"}}, [1]),
        ({"genre": {"$ne": "sci-fi"}}, [1, 3, 4]),
        ({"year": {"$gt": 2000}}, [1, 2]),  # the string "2001" is not a number
        ({"year": {"$gte": 1999, "$lt": 2015}}, [0, 1]),
        ({"year": {"$lte": 1999}}, [0]),
        ({"genre": {"$in": ["drama", "horror"]}}, [1]),
        ({"genre": {"$nin": ["drama"]}}, [0, 2, 3, 4]),
        ({"rating": {"$exists": True}}, [0, 1]),
        ({"rating": {"$exists": False}}, [2, 3, 4]),
        ({"ok": True}, [0]),
        ({"ok": False}, [1]),
        ({"nested.a": 1}, [3]),
        ({"$or": [{"genre": "drama"}, {"year": 2015}]}, [1, 2]),
        ({"$and": [{"genre": "sci-fi"}, {"year": {"$lt": 2000}}]}, [0]),
        ({"genre": "sci-fi", "year": 2015}, [2]),
    ],
)
def test_semantics(spec, want):
    assert matching(spec) == want


def test_values_are_bound_not_spliced():
    where, params = compile_filter({"genre": "x' OR 1=1 --"})
    assert "OR 1=1" not in where and "x' OR 1=1 --" in params
    assert matching({"genre": "x' OR 1=1 --"}) == []


@pytest.mark.parametrize(
    "spec, message",
    [
        ({}, "non-empty JSON object"),
        ([], "non-empty JSON object"),
        ({"year": {"$regex": "x"}}, "unknown operator"),
        ({"$not": {}}, "unknown operator"),
        ({"year": {"$in": []}}, "non-empty list"),
        ({"year": {"$in": "abc"}}, "non-empty list"),
        ({"$or": {}}, "non-empty list"),
        ({"bad field!": 1}, "invalid filter field"),
        ({"year": {"$gt": [1]}}, "number or a string"),
        ({"year": {"$exists": 1}}, "true or false"),
        ({"year": {"$eq": {"a": 1}}}, "strings, numbers or booleans"),
        ({"year": float("nan")}, "finite"),
        ({"year": {}}, "empty condition"),
    ],
)
def test_malformed_filters(spec, message):
    with pytest.raises(InvalidFilter, match=message):
        compile_filter(spec)


def test_depth_limit():
    spec = {"year": 1}
    for _ in range(40):
        spec = {"$and": [spec]}
    with pytest.raises(InvalidFilter, match="deeper"):
        compile_filter(spec)
