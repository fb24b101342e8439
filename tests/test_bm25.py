"""core.bm25: the scores equal SQLite FTS5's own bm25() on one machine, and a collection split
into parts scores every item exactly (to the bit) as the whole collection does."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pytest

from bitsift.core import bm25
from bitsift.storage import keywords

VOCAB = [f"w{i}" for i in range(40)]


def corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, len(VOCAB) + 1)  # Zipf: common and rare terms, repeated within a text
    return [" ".join(rng.choice(VOCAB, size=int(rng.integers(1, 40)), p=p / p.sum())) for _ in range(n)]


def index(texts: list[str]) -> sqlite3.Connection:
    c = sqlite3.connect(":memory:", isolation_level=None)
    c.execute("CREATE TABLE items (row INTEGER PRIMARY KEY, id TEXT, text TEXT, alive INTEGER DEFAULT 1)")
    for statement in keywords._statements(keywords.SCHEMA):
        c.execute(statement)
    c.executemany("INSERT INTO items (row, id, text) VALUES (?, ?, ?)", [(i, f"i{i}", t) for i, t in enumerate(texts)])
    return c


def stats_of(c: sqlite3.Connection, rows: int, terms: tuple[str, ...]) -> tuple[bm25.TermStats, np.ndarray]:
    lengths = keywords.lengths(c, 0, rows)
    live = lengths >= 0
    return bm25.TermStats(terms, int(live.sum()), int(lengths[live].sum()), tuple(keywords.frequencies(c, terms))), lengths


@pytest.mark.parametrize("seed", range(4))
def test_scores_equal_fts5s_bm25(seed):
    texts = corpus(300, seed)
    with closing(index(texts)) as c:
        for query in ("w0 w3 w17", "w39", "w1 w1 w2 w25 w30", "absent w5"):
            (terms,) = keywords.TOKENIZER_OF_QUERIES.terms([query])
            stats, lengths = stats_of(c, len(texts), terms)
            (kq,) = bm25.keyword_queries([terms], stats)
            rows, scores = bm25.score(kq, {t: keywords.postings(c, t, len(texts)) for t in terms}, lengths, None)
            match = " OR ".join(f'"{t}"' for t in terms)
            fts = dict(c.execute(f"SELECT rowid, -bm25({keywords.TABLE}) FROM {keywords.TABLE} "
                                 f"WHERE {keywords.TABLE} MATCH ?", (match,)))
            assert dict(zip(rows.tolist(), scores.tolist())) == pytest.approx(fts, rel=1e-12)


def test_parts_with_collection_statistics_score_like_the_whole():
    texts = corpus(600, 9)
    rng = np.random.default_rng(1)
    owner = rng.integers(0, 3, len(texts))  # three shards, unevenly filled
    whole = index(texts)
    parts = [(index([texts[i] for i in np.flatnonzero(owner == p)]), np.flatnonzero(owner == p)) for p in range(3)]
    for query in ("w0 w2 w7 w30", "w11 w12"):
        (terms,) = keywords.TOKENIZER_OF_QUERIES.terms([query])
        stats, lengths = stats_of(whole, len(texts), terms)
        shares = [stats_of(c, len(rows), terms)[0] for c, rows in parts]
        assert bm25.sum_stats(shares) == stats
        (kq,) = bm25.keyword_queries([terms], stats)
        rows, expected = bm25.score(kq, {t: keywords.postings(whole, t, len(texts)) for t in terms}, lengths, None)
        got = {}
        for c, members in parts:
            part_rows, part_scores = bm25.score(kq, {t: keywords.postings(c, t, len(members)) for t in terms},
                                                keywords.lengths(c, 0, len(members)), None)
            got.update(zip(members[part_rows].tolist(), part_scores.tolist()))
        assert got == dict(zip(rows.tolist(), expected.tolist()))  # equal floats, not approximately
    allowed = np.zeros(len(texts), bool)
    allowed[::2] = True
    only, _ = bm25.score(kq, {t: keywords.postings(whole, t, len(texts)) for t in terms}, lengths, allowed)
    assert set(only.tolist()) == set(rows.tolist()) & set(np.flatnonzero(allowed).tolist())


def test_idf_is_floored_and_best_keeps_the_tie_group():
    assert bm25.idf(np.array([0, 5, 9, 10]), 10).tolist() == pytest.approx(
        [np.log(10.5 / 0.5), np.log(5.5 / 5.5) or 1e-6, 1e-6, 1e-6])
    scores = np.array([1.0, 3.0, 2.0, 2.0, 0.5])
    assert sorted(bm25.best(np.arange(5), scores, 2).tolist()) == [1, 2, 3]  # the tie at the cut stays whole
    assert sorted(bm25.best(np.arange(5), scores, 9).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        bm25.TermStats(("a",), 1, 1, (1,)) + bm25.TermStats(("b",), 1, 1, (1,))
