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


def matching(spec, rows=ROWS):
    import json

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (row INTEGER, metadata TEXT)")
    db.executemany("INSERT INTO items VALUES (?, ?)", [(i, json.dumps(m)) for i, m in enumerate(rows)])
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


LISTS = [
    {"tags": ["red", "blue"], "sizes": [1, 5, 9], "owner": None},
    {"tags": ["blue"], "sizes": [3], "owner": "ann"},
    {"tags": "red", "sizes": 5},
    {"tags": [], "owner": "bob", "nested": {"tags": ["red"]}},
    {"tags": [["red"]], "flag": [True, False]},
    {},
]


@pytest.mark.parametrize(
    "spec, want",
    [
        ({"tags": "red"}, [0, 2]),  # a list matches when any element does; a scalar as before
        ({"tags": {"$in": ["blue", "green"]}}, [0, 1]),
        ({"tags": {"$nin": ["red"]}}, [1, 3, 4, 5]),
        ({"tags": {"$ne": "blue"}}, [2, 3, 4, 5]),
        ({"sizes": {"$gt": 4}}, [0, 2]),
        ({"sizes": {"$gt": 4, "$lt": 6}}, [0, 2]),  # each bound by some element (Mongo's rule too)
        ({"sizes": {"$not": {"$gt": 4}}}, [1, 3, 4, 5]),
        ({"tags": {"$contains": "red"}}, [0]),  # lists only: the scalar "red" of row 2 is not a list
        ({"tags": {"$all": ["red", "blue"]}}, [0]),
        ({"tags": {"$all": ["blue"]}}, [0, 1]),
        ({"flag": True}, [4]),
        ({"owner": None}, [0, 2, 4, 5]),  # null or missing
        ({"owner": {"$ne": None}}, [1, 3]),
        ({"owner": {"$in": [None, "ann"]}}, [0, 1, 2, 4, 5]),
        ({"owner": {"$exists": True}}, [0, 1, 3]),  # a null value exists
        ({"nested.tags": "red"}, [3]),
        ({"$or": [{"tags": {"$contains": "blue"}}, {"sizes": 5}]}, [0, 1, 2]),
        ({"tags": {"$not": {"$in": ["red", "blue"]}}}, [3, 4, 5]),
        ({"owner": {"$substring": "nn"}}, [1]),
        ({"owner": {"$isubstring": "BO"}}, [3]),
        ({"tags": {"$substring": "lu"}}, [0, 1]),  # any element of a list
        ({"$not": {"tags": "red"}}, [1, 3, 4, 5]),
        ({"$not": {"$or": [{"owner": "ann"}, {"owner": "bob"}]}}, [0, 2, 4, 5]),
    ],
)
def test_list_fields_null_and_the_new_operators(spec, want):
    assert matching(spec, LISTS) == want


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
        ({"$not": {}}, "non-empty JSON object"),
        ({"$nor": [{"a": 1}]}, "unknown operator"),
        ({"name": {"$substring": ""}}, "non-empty string"),
        ({"year": {"$in": []}}, "non-empty list"),
        ({"year": {"$in": "abc"}}, "non-empty list"),
        ({"$or": {}}, "non-empty list"),
        ({"bad field!": 1}, "invalid filter field"),
        ({"year": {"$gt": [1]}}, "number or a string"),
        ({"year": {"$exists": 1}}, "true or false"),
        ({"year": {"$eq": {"a": 1}}}, "strings, numbers, booleans or null"),
        ({"tags": {"$all": 3}}, r"\$all on 'tags' needs a non-empty list"),
        ({"tags": {"$contains": ["x"]}}, r"\$contains on 'tags' needs a string"),
        ({"tags": {"$all": [None]}}, r"\$all on 'tags' needs a list of string"),
        ({"year": {"$not": 3}}, r"\$not on 'year' needs an object"),
        ({"tags": ["x", "y"]}, r"use \$in .* or \$all"),
        ({"year": {"$lt": None}}, r"\$lt on 'year' needs a number or a string"),
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


TEXTS = ["The Wing stalls.", "wings and flaps", "a swept-wing model", None, "no match here"]


def matching_text(spec):
    import json

    from bitsift.core.filters import WORD_FUNCTION, has_word

    db = sqlite3.connect(":memory:")
    db.create_function(WORD_FUNCTION, 2, has_word, deterministic=True)
    db.execute("CREATE TABLE items (row INTEGER, text TEXT, metadata TEXT)")
    db.executemany("INSERT INTO items VALUES (?, ?, ?)",
                   [(i, t, json.dumps({"n": i})) for i, t in enumerate(TEXTS)])
    where, params = compile_filter(spec)
    return sorted(r for (r,) in db.execute(f"SELECT row FROM items WHERE {where}", params))


def test_text_filter_matches_whole_words_in_any_case():
    assert matching_text({"$text": "wing"}) == [0, 2]  # not "wings"; "swept-wing" holds the word
    assert matching_text({"$text": "WINGS"}) == [1]
    assert matching_text({"$and": [{"$text": "wing"}, {"n": {"$gt": 0}}]}) == [2]
    assert matching_text({"$text": "x' OR 1=1 --".split()[0]}) == []  # bound, never spliced
    for bad in ("", "two words", 5):
        with pytest.raises(InvalidFilter, match=r"\$text"):
            compile_filter({"$text": bad})


@pytest.mark.parametrize("query, text, flt", [
    ("wing stall", "wing stall", None),
    ("wing stall #topic:aero", "wing stall", {"topic": "aero"}),
    ("lift #year:1960", "lift", {"year": {"$in": ["1960", 1960]}}),
    ("lift #ratio:0.5", "lift", {"ratio": {"$in": ["0.5", 0.5]}}),
    ("lift #author:von-karman #stall", "lift", {"$and": [{"author": "von karman"}, {"$text": "stall"}]}),
    (r"C\# compilers #lang:c-sharp", "C# compilers", {"lang": "c sharp"}),
    (r"price \#1", "price #1", None),
    ("#mid tokens only #count at the end", "#mid tokens only #count at the end", None),
])
def test_query_text_filters_as_the_hosted_api_writes_them(query, text, flt):
    from bitsift.core.filters import query_text_filter

    assert query_text_filter(query) == (text, flt)


def test_a_malformed_query_token_is_refused():
    from bitsift.core.filters import query_text_filter

    for bad in ("lift #:x", "lift #bad-key!:x", "lift #key:"):
        with pytest.raises(InvalidFilter, match="#key:value"):
            query_text_filter(bad)
