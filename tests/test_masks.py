"""engine.masks: a filter's row mask follows writes incrementally (only new rows are evaluated)
and always answers what a fresh evaluation would."""

from __future__ import annotations

from contextlib import closing

import numpy as np

from bitsift.engine.local import Engine

DIMS = 16


def _items(rng, start, n):
    return [{"id": f"i{i}", "vector": rng.standard_normal(DIMS), "metadata": {"g": i % 3}} for i in range(start, start + n)]


def test_a_filtered_search_under_writes_evaluates_only_the_new_rows(tmp_path):
    rng = np.random.default_rng(3)
    flt = {"g": 1}
    query = rng.standard_normal(DIMS)
    with closing(Engine(tmp_path, coalesce=False)) as engine:
        engine.create_namespace("m", dimension=DIMS)
        engine.upsert("m", _items(rng, 0, 300))
        ns = engine.namespace("m")
        starts: list[int] = []
        evaluate = ns.masks._rows_matching
        ns.masks._rows_matching = lambda where, params, start: (starts.append(start), evaluate(where, params, start))[1]

        def fresh() -> list:
            with closing(Engine(tmp_path, coalesce=False)) as other:
                return other.search("m", query, top_k=50, filter=flt)["results"]

        def search() -> list:
            return engine.search("m", query, top_k=50, filter=flt)["results"]

        assert search() == fresh() and starts == [0]
        engine.upsert("m", _items(rng, 300, 30))  # new rows, 10 of them matching
        assert search() == fresh() and starts == [0, 300]
        engine.upsert("m", [{"id": "i1", "vector": query, "metadata": {"g": 1}}])  # a replaced item: kill + append
        got = search()
        assert got == fresh() and starts == [0, 300, 330] and got[0]["id"] == "i1"
        engine.delete("m", ["i1", "i4"])  # kills only: the validity bitmap has them, no evaluation
        got = search()
        assert got == fresh() and starts == [0, 300, 330] and {"i1", "i4"}.isdisjoint(h["id"] for h in got)
        assert all(h["metadata"]["g"] == 1 for h in got)
        engine.compact("m")  # rows renumbered: a new epoch, evaluated from scratch
        assert search() == fresh() and starts[-1] == 0
