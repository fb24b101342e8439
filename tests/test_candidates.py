"""core.candidates: the pure candidate search, tested on arrays alone (no folder, no SQLite)."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import asymmetric, candidates, kernel, rescore, scoring
from bitsift.core.binarize import make_binarizer
from bitsift.core.spec import ADAPTIVE_OVERSAMPLE
from conftest import kernel_paths

DIMS = 128


def _setup(rng, n, binarizer):
    x = rng.standard_normal((n, DIMS)).astype(np.float32)
    x[n // 2 : n // 2 + 20] = x[1]  # a whole tie group
    b = make_binarizer(binarizer)
    if b.needs_center:
        b = b.fit(x)
    codes = b.encode(x)
    ids = np.empty(n, dtype=object)
    ids[:] = [f"r{i}" for i in range(n)]
    return x, b, codes, ids


def _packed(codes, x):
    """The scan layout with each row's corrective scalars, as a namespace holds it."""
    return kernel.PackedCodes.from_codes(codes, scalars=asymmetric.correctives(x.astype(np.float16), codes, DIMS))


@pytest.mark.parametrize("path", kernel_paths())
@pytest.mark.parametrize("binarizer", ["mib", "sign", "centered"])
def test_binary_candidates_hold_the_exact_its_top_k_and_its_whole_tie_group(rng, path, binarizer):
    x, b, codes, ids = _setup(rng, 700, binarizer)
    snap = kernel.PackedCodes.from_codes(codes).snapshot()
    pops = kernel.popcount_rows(codes)
    mask = np.ones(700, bool)
    mask[::7] = False
    queries = np.concatenate([x[[1, 2]], rng.standard_normal((4, DIMS)).astype(np.float32)])
    qcodes = b.encode(queries)
    k = 9
    with kernel.force_path(path):
        found = candidates.binary(qcodes, snap, pops, ids, DIMS, k, mask, b.balanced)
    for i, c in enumerate(found):
        ham = kernel.reference_hamming(qcodes[i : i + 1], codes)[0]
        its = scoring.its(ham, kernel.popcount_rows(qcodes[i : i + 1])[0], pops, DIMS)
        live = np.flatnonzero(mask)
        best = live[np.lexsort((live, ham[live], -its[live]))]
        kth = best[k - 1]
        # every row scoring better than the k-th, or tied with it on (score, distance), and nothing else
        want = {int(r) for r in best if its[r] > its[kth] or (its[r] == its[kth] and ham[r] <= ham[kth])}
        assert set(c.rows.tolist()) == want
        assert np.array_equal(c.scores, its[c.rows]) and list(c.ids) == [f"r{r}" for r in c.rows]


def test_a_batch_answers_like_its_queries_one_by_one(rng):
    x, b, codes, ids = _setup(rng, 500, "sign")
    snap = _packed(codes, x).snapshot()
    pops = kernel.popcount_rows(codes)
    queries = rng.standard_normal((12, DIMS)).astype(np.float32)
    qcodes = b.encode(queries)
    vectors = x.astype(np.float16)
    for k in (1, 5, 60):
        together = candidates.binary(qcodes, snap, pops, ids, DIMS, k, None, b.balanced)
        for oversample in (3, ADAPTIVE_OVERSAMPLE):
            pooled = candidates.rescored(queries, snap, vectors, ids, None, k, oversample)
            for i in range(len(queries)):
                one = candidates.rescored(queries[i : i + 1], snap, vectors, ids, None, k, oversample)[0]
                assert np.array_equal(pooled[i].rows, one.rows) and np.array_equal(pooled[i].scores, one.scores)
        for i in range(len(queries)):
            alone = candidates.binary(qcodes[i : i + 1], snap, pops, ids, DIMS, k, None, b.balanced)[0]
            assert np.array_equal(together[i].rows, alone.rows) and np.array_equal(together[i].scores, alone.scores)


def _oracle_keys(x, codes, q):
    vectors = x.astype(np.float16)
    return asymmetric.keys(asymmetric.quantize(q), codes, asymmetric.correctives(vectors, codes, DIMS), DIMS)[0]


def test_rescored_pool_is_whole_key_groups_scored_from_the_floats(rng):
    x, b, codes, ids = _setup(rng, 400, "mib")
    snap = _packed(codes, x).snapshot()
    vectors = x.astype(np.float16)
    q = x[1:2]  # x[1] has 20 copies: a tie group of keys at the top
    for k, oversample in ((4, 2), (30, 1)):
        (c,) = candidates.rescored(q, snap, vectors, ids, None, k, oversample)
        key = _oracle_keys(x, codes, q)
        bound = np.sort(key)[::-1][k * oversample - 1]  # the (k * oversample)-th best key
        assert set(c.rows.tolist()) == set(np.flatnonzero(key >= bound).tolist())
        assert np.array_equal(-c.distance, key[c.rows].astype(np.float64))
    rho = rescore.correlation(q[0], vectors[c.rows].astype(np.float32))
    assert np.allclose(c.scores, rescore.its_from_correlation(rho), atol=1e-12)
    assert np.array_equal(c.tiebreak, -kernel.correlation_f16(vectors, c.rows, q[0]))


def test_many_query_correlation_equals_the_one_query_call_to_the_bit(rng):
    vectors = rng.standard_normal((300, 50)).astype(np.float16)
    queries = rng.standard_normal((6, 50)).astype(np.float32)
    rows = [rng.integers(0, 300, size=n) for n in (0, 1, 7, 40, 300, 3)]
    together = kernel.correlation_f16_many(vectors, rows, queries)
    for t, r in enumerate(rows):
        assert np.array_equal(together[t], kernel.correlation_f16(vectors, r, queries[t]))


def test_an_empty_part_has_no_candidates(rng):
    b = make_binarizer("mib")
    snap = kernel.PackedCodes(2).snapshot()
    ids = np.empty(0, dtype=object)
    q = rng.standard_normal((3, DIMS)).astype(np.float32)
    assert [c.rows.size for c in candidates.binary(b.encode(q), snap, np.zeros(0, np.uint32), ids, DIMS, 5, None,
                                                   True)] == [0, 0, 0]
    for oversample in (2, ADAPTIVE_OVERSAMPLE):
        assert [c.rows.size for c in candidates.rescored(q, snap, np.zeros((0, DIMS), np.float16), ids, None,
                                                         5, oversample)] == [0, 0, 0]


@pytest.mark.parametrize("path", kernel_paths())
@pytest.mark.parametrize("dims", [1, 3, 7, 50, 384, 385])
def test_correlation_is_the_same_to_the_bit_on_every_path(rng, path, dims):
    scale = rng.choice([1e-6, 1.0, 100.0], size=(400, 1))  # float16 subnormals included
    vectors = (rng.standard_normal((400, dims)) * scale).astype(np.float16)
    query = rng.standard_normal(dims).astype(np.float32)
    rows = rng.integers(0, 400, size=250)
    with kernel.force_path("scalar"):
        want = kernel.correlation_f16(vectors, rows, query)
    with kernel.force_path(path):
        assert np.array_equal(kernel.correlation_f16(vectors, rows, query), want)
        assert np.array_equal(kernel.correlation_f16_many(vectors, [rows, rows[:9]], np.stack([query, query]))[0], want)
    assert np.allclose(want, rescore.correlation(query, vectors[rows].astype(np.float32)), atol=1e-12)


@pytest.mark.parametrize("path", kernel_paths())
def test_one_pass_correlation_gives_constant_rows_zero_and_offset_rows_their_pearson(rng, path):
    """rho from the row's sums in one pass (sum(v^2) - m sum(v)) must not turn a constant row's exact zero
    spread into noise, nor lose a small spread on a large offset to cancellation."""
    dims = 384
    query = rng.standard_normal(dims).astype(np.float32)
    offset = (1000.0 + rng.standard_normal((3, dims))).astype(np.float16)  # spread ~1 on an offset of 1,000
    vectors = np.vstack([np.full((1, dims), 3.5), np.full((1, dims), -60000.0), offset]).astype(np.float16)
    with kernel.force_path(path):
        got = kernel.correlation_f16(vectors, np.arange(5), query)
    assert got[0] == 0.0 and got[1] == 0.0
    assert np.allclose(got[2:], rescore.correlation(query, vectors[2:].astype(np.float32)), atol=1e-9)


def test_a_tie_group_wider_than_the_first_pass_widens_only_its_query(rng, monkeypatch):
    x = rng.standard_normal((900, DIMS)).astype(np.float32)
    x[100:700] = x[0]  # 601 rows at distance 0 from x[0]: no first pass of 2*4+64 rows holds them
    b = make_binarizer("mib")
    codes = b.encode(x)
    snap = _packed(codes, x).snapshot()
    ids = np.empty(900, dtype=object)
    ids[:] = [f"r{i}" for i in range(900)]
    queries = x[[0, 800]]
    widths = []
    real = kernel.asym_topk
    monkeypatch.setattr(kernel, "asym_topk", lambda q, *a, **kw: widths.append((q.levels.shape[0], a[1])) or real(q, *a, **kw))
    both = candidates.rescored(queries, snap, x.astype(np.float16), ids, None, 2, 2)
    assert widths[0] == (2, 72) and all(n == 1 for n, _ in widths[1:])  # only the tied query rescans
    assert set(both[0].rows.tolist()) >= {0, *range(100, 700)}
    for i in range(2):
        alone = candidates.rescored(queries[i : i + 1], snap, x.astype(np.float16), ids, None, 2, 2)[0]
        assert np.array_equal(alone.rows, both[i].rows) and np.array_equal(alone.scores, both[i].scores)


@pytest.mark.parametrize("n", [7, 50, 3000, 20_000])  # 7: fewer rows than k, all taken
def test_the_adaptive_pool_is_the_shortest_prefix_the_bound_proves(rng, n, monkeypatch):
    """Whatever widening it took (a small first fetch forced here), the pool
    is asymmetric.adaptive_cut over every row by key: the brute-force rule."""
    monkeypatch.setattr(candidates, "ADAPTIVE_SCAN", 64)
    monkeypatch.setattr(candidates, "_SCAN_PER_ROOT", 0)
    x = rng.standard_normal((n, DIMS)).astype(np.float32)
    x[5:30] = x[4]  # a tie group of keys
    codes = make_binarizer("mib").encode(x)
    ids = np.empty(n, dtype=object)
    ids[:] = [f"r{i}" for i in range(n)]
    vectors = x.astype(np.float16)
    queries = np.concatenate([x[[4]], rng.standard_normal((5, DIMS)).astype(np.float32)])
    got = candidates.rescored(queries, _packed(codes, x).snapshot(), vectors, ids, None, 10, ADAPTIVE_OVERSAMPLE)
    for i, q in enumerate(queries):
        key = _oracle_keys(x, codes, q[None, :]).astype(np.float64)
        rho = rescore.correlation(q, vectors.astype(np.float32))
        order = np.lexsort((np.arange(n), -key))
        cut = asymmetric.adaptive_cut(key[order], rho[order], 10)
        want = order[: n if cut is None else cut]
        assert set(got[i].rows.tolist()) == set(want.tolist()) and got[i].rows.size == want.size
        assert np.allclose(-got[i].tiebreak, rho[got[i].rows], atol=1e-12)


def test_a_pool_without_every_id_ranks_as_the_full_one(rng):
    """every_id=False (plain vector search): only each query's k best by rho carry their ids, and
    core.ranking gives the same answer as over the pool with every id, ties settled by id included
    (25 copies of one vector here, the query among them)."""
    from bitsift.core import ranking

    n = 3000
    x = rng.standard_normal((n, DIMS)).astype(np.float32)
    x[5:30] = x[4]
    codes = make_binarizer("mib").encode(x)
    ids = np.empty(n, dtype=object)
    ids[:] = [f"r{(i * 7919) % n}" for i in range(n)]  # id order unlike row order
    queries = np.concatenate([x[[4]], rng.standard_normal((5, DIMS)).astype(np.float32)])
    snap = _packed(codes, x).snapshot()
    full = candidates.rescored(queries, snap, x.astype(np.float16), ids, None, 10, ADAPTIVE_OVERSAMPLE)
    lean = candidates.rescored(queries, snap, x.astype(np.float16), ids, None, 10, ADAPTIVE_OVERSAMPLE,
                               every_id=False)
    assert np.array_equal(full.rows, lean.rows) and np.array_equal(full.scores, lean.scores)
    assert sum(i is None for i in lean.ids) > len(lean.ids) / 2  # most pool rows go without
    for q in range(len(queries)):
        rho = -lean[q].tiebreak
        has = np.array([i is not None for i in lean[q].ids])
        assert np.array_equal(has, rho >= np.sort(rho)[-10])
        assert list(lean[q].ids[has]) == list(full[q].ids[has])
    for k in (1, 3, 10):
        a, b = ranking.rank([full], k, adaptive=True), ranking.rank([lean], k, adaptive=True)
        assert a.ids == b.ids and np.array_equal(a.rows, b.rows) and np.array_equal(a.scores, b.scores)
