"""The keyword index (storage.keywords) holds exactly the live texts through every kind of write,
and what it is read through (postings, frequencies, token counts, the query tokenizer) is right."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing

import numpy as np
import pytest

from bitsift.core.filters import compile_filter, has_word
from bitsift.engine.local import Engine
from bitsift.storage import keywords
from bitsift.storage.items import ItemStore

DIMS = 16
WORDS = "wing shock flow heat lift drag boundary layer Mach nozzle café naïve e5-large x_y".split()


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) + ("." if i % 3 else "") for i in range(n)]


def items(n: int, seed: int, prefix: str = "d", text: bool = True) -> list[dict]:
    x = np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32)
    words = texts(n, seed)
    return [{"id": f"{prefix}{i}", "vector": x[i], **({"text": words[i]} if text and i % 5 else {}),
             "metadata": {"g": i % 3}} for i in range(n)]


def live_texts(path) -> dict[int, str]:
    with closing(sqlite3.connect(path)) as c:
        return dict(c.execute("SELECT row, text FROM items WHERE alive = 1 AND text IS NOT NULL"))


def assert_index_is_exact(path) -> None:
    """FTS5's integrity check (index == its content view) and our own reading of it."""
    with closing(sqlite3.connect(path)) as c:
        keywords.check(c)
        indexed = {r for (r,) in c.execute(f"SELECT rowid FROM {keywords.TABLE}_docsize")}
    assert indexed == set(live_texts(path))


def test_every_write_keeps_the_index_equal_to_the_live_texts(tmp_path):
    with closing(Engine(tmp_path)) as e:
        e.create_namespace("k", dimension=DIMS)
        path = tmp_path / "k" / "items.sqlite"
        e.upsert("k", items(300, 1))
        assert_index_is_exact(path)
        e.upsert("k", items(50, 2))                      # replaces d0..d49 (some lose their text)
        e.delete("k", ["d60", "d61", "missing"])
        e.delete("k", filter={"g": 2})
        e.update("k", ["d100", "d101"], metadata={"seen": True})  # rewritten rows, texts copied
        e.update("k", ["d103"], text="a new text about nozzle flow")
        assert_index_is_exact(path)
        assert e.search("k", np.ones(DIMS), mode="keyword", keywords="nozzle", top_k=300)["results"]
        before = live_texts(path)
        e.compact("k")                                    # rows renumbered: the index follows
        assert_index_is_exact(path)
        assert sorted(live_texts(path).values()) == sorted(before.values())


def test_a_rolled_back_write_leaves_no_trace_in_the_index(tmp_path):
    with closing(Engine(tmp_path)) as e:
        e.create_namespace("k", dimension=DIMS)
        e.upsert("k", items(20, 1))
    store = ItemStore(tmp_path / "k" / "items.sqlite")
    before = store.term_frequencies(["wing", "nozzl"])

    def fail() -> None:
        raise OSError("the row files did not sync")
    with pytest.raises(OSError):
        store.commit_rows(20, ["new"], ["wing nozzle wing"], ["{}"], np.array([3]), 99, rows_durable=fail)
    assert store.term_frequencies(["wing", "nozzl"]) == before
    store.close()
    assert_index_is_exact(tmp_path / "k" / "items.sqlite")


def test_postings_frequencies_and_token_counts_match_fts5s_own_tables(tmp_path):
    with closing(Engine(tmp_path)) as e:
        e.create_namespace("k", dimension=DIMS)
        e.upsert("k", items(200, 3))
        e.delete("k", ["d7", "d8"])
    store = ItemStore(tmp_path / "k" / "items.sqlite")
    c = store.conn()
    c.execute(f"CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, {keywords.TABLE}, instance)")
    occurrences = Counter(c.execute("SELECT doc FROM temp.v").fetchall())
    lengths = store.token_counts(0, 200)
    assert {r: int(n) for r, n in enumerate(lengths) if n >= 0} == {doc: n for (doc,), n in occurrences.items()}
    rows, tf = store.postings("wing", 200)
    expected = Counter(d for (d,) in c.execute("SELECT doc FROM temp.v WHERE term = 'wing'"))
    assert dict(zip(rows.tolist(), tf.tolist())) == expected and list(rows) == sorted(rows)
    assert store.term_frequencies(["wing", "nozzl", "absent"]) == [len(expected), *[
        len({d for (d,) in c.execute("SELECT doc FROM temp.v WHERE term = ?", (t,))}) for t in ("nozzl", "absent")]]
    store.close()


def test_varints_decode_like_sqlite_writes_them():
    def varint(v: int) -> bytes:  # SQLite's big-endian varint (values below 2**56)
        out = [v & 0x7F]
        v >>= 7
        while v:
            out.append(0x80 | (v & 0x7F))
            v >>= 7
        return bytes(reversed(out))
    values = [0, 1, 127, 128, 300, 16383, 16384, 2**21 - 1, 2**21, 2**28 + 5, 2**40 + 3]
    assert keywords.decode_varints([varint(v) + b"\x05" for v in values]).tolist() == values  # trailing columns ignored
    assert keywords.decode_varints([]).tolist() == []


def test_the_query_tokenizer_is_the_index_s():
    terms = keywords.TOKENIZER_OF_QUERIES.terms(["Lift-drag RATIOS of a Café wing, wings!", "???", ""])
    assert terms[0] == tuple(sorted({"lift", "drag", "ratio", "of", "a", "cafe", "wing"}))
    assert terms[1:] == [(), ()]


@pytest.mark.parametrize("seed", range(3))
def test_text_filters_backed_by_the_index_match_exactly_the_whole_word_rule(tmp_path, seed):
    """$text is decided by has_word; the index only narrows the rows first. On texts mixing words,
    punctuation, case, accents and underscores, the indexed filter equals the plain one."""
    rng = np.random.default_rng(seed)
    alphabet = list("ab cé_-.,!É") + ["wing", "Wing", "WINGS", "e5-large", "x_y", "naïve"]
    docs = ["".join(rng.choice(alphabet, size=int(rng.integers(0, 30)))) for _ in range(400)]
    with closing(Engine(tmp_path)) as e:
        e.create_namespace("k", dimension=DIMS)
        x = rng.standard_normal((len(docs), DIMS)).astype(np.float32)
        e.upsert("k", [{"id": f"t{i}", "vector": x[i], "text": t} for i, t in enumerate(docs)])
    store = ItemStore(tmp_path / "k" / "items.sqlite")
    for word in ["wing", "WING", "wings", "e5-large", "x_y", "a", "b", "cé", "É", "naive", "naïve", "ab", "-", "_", "!"]:
        spec = {"$text": word}
        plain = store.rows_matching(*compile_filter(spec), 0)
        indexed = store.rows_matching(*compile_filter(spec, keywords.TABLE), 0)
        truth = [i for i, t in enumerate(docs) if has_word(t, word)]
        assert plain.tolist() == truth and indexed.tolist() == truth, word
    store.close()
