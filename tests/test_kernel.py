"""The native scan against the NumPy oracle on every instruction-set path; the paths this CPU
lacks show as skipped, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import kernel
from conftest import available_paths, kernel_paths, random_codes

PATHS = available_paths()  # the paths this CPU runs
ALL_PATHS = kernel_paths()  # every path; those this CPU lacks are skipped


def check(queries, codes, k, mask=None, threads=1):
    got = kernel.scan_topk(queries, codes, k, mask=mask, threads=threads)
    want = kernel.reference_scan_topk(queries, codes, k, mask=mask)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    return got


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("words", [1, 2, 3, 4, 6, 7, 8, 12, 16, 24, 47, 48])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("queries_n", [5, 12])
def test_matches_oracle_across_widths(rng, path, words, threads, queries_n):
    """Both query counts: the AVX-512 path counts bytes for a few queries and re-lays the
    block out word-major for 8 or more, with kernels unrolled for some widths only."""
    codes = random_codes(rng, 300, words)  # not a multiple of the 128-code block
    queries = random_codes(rng, queries_n, words)
    with kernel.force_path(path):
        check(queries, codes, 10, threads=threads)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("n", [1, 2, 127, 128, 129, 255, 257, 1000])
@pytest.mark.parametrize("k", [1, 5, 128, 2000])
def test_row_counts_and_k(rng, path, n, k):
    """N around block edges; k = 1, k inside a block, and k > N (returns every row)."""
    codes = random_codes(rng, n, 4)
    queries = random_codes(rng, 3, 4)
    with kernel.force_path(path):
        dist, rows = check(queries, codes, k, threads=2)
    assert dist.shape == (3, min(k, n))


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("queries_n", [1, 3, 4, 5, 64, 65, 130])
def test_query_blocking(rng, path, queries_n):
    """Both the few-query and the buffered many-query code paths, across query groups."""
    codes = random_codes(rng, 700, 6)
    queries = random_codes(rng, queries_n, 6)
    with kernel.force_path(path):
        check(queries, codes, 7, threads=2)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("threads", [1, 2])
def test_all_tied_distances_keep_smaller_rows(rng, path, threads):
    codes = np.repeat(random_codes(rng, 1, 5), 1000, axis=0)
    queries = random_codes(rng, 2, 5)
    with kernel.force_path(path):
        dist, rows = check(queries, codes, 25, threads=threads)
    assert (rows == np.arange(25)).all()
    assert (dist == dist[:, :1]).all()


@pytest.mark.parametrize("path", ALL_PATHS)
def test_many_ties_across_thread_boundaries(rng, path):
    codes = rng.integers(0, 2, size=(5000, 1), dtype=np.uint64)  # distances take 2 values
    queries = np.zeros((3, 1), np.uint64)
    with kernel.force_path(path):
        check(queries, codes, 300, threads=2)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [1, 37, 1500, 6000])
@pytest.mark.parametrize("distinct_bits", [5, 64])
def test_large_k_with_heavy_ties_and_falling_threshold(rng, path, threads, k, distinct_bits):
    """Thousands of candidates per query: the top-k buffer is compacted many times while the
    threshold falls, and with 5 distinct bits most rows tie at the threshold (ties -> smaller row)."""
    codes = random_codes(rng, 40_000, 1)
    queries = random_codes(rng, 3, 1)
    if distinct_bits < 64:
        low = np.uint64((1 << distinct_bits) - 1)
        codes, queries = codes & low, queries & low
    codes[::7] = queries[0]  # a spread of exact matches: the threshold hits 0 for query 0
    with kernel.force_path(path):
        check(queries, codes, k, threads=threads)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("threads", [1, 2])
def test_mask_is_honoured(rng, path, threads):
    codes = random_codes(rng, 1000, 3)
    queries = codes[:4].copy()  # exact matches that the mask hides
    mask = rng.random(1000) < 0.3
    mask[:4] = False
    with kernel.force_path(path):
        dist, rows = check(queries, codes, 12, mask=mask, threads=threads)
    assert mask[rows].all()
    assert (dist > 0).all()


@pytest.mark.parametrize("path", ALL_PATHS)
def test_empty_mask_and_sparse_mask(rng, path):
    codes = random_codes(rng, 400, 2)
    queries = random_codes(rng, 2, 2)
    with kernel.force_path(path):
        dist, rows = kernel.scan_topk(queries, codes, 5, mask=np.zeros(400, bool))
        assert dist.shape == (2, 0)
        mask = np.zeros(400, bool)
        mask[[3, 399]] = True
        dist, rows = check(queries, codes, 5, mask=mask)
        assert sorted(rows[0].tolist()) == [3, 399]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_identity_distance_zero(rng, path):
    codes = random_codes(rng, 200, 8)
    with kernel.force_path(path):
        dist, rows = kernel.scan_topk(codes[50:53], codes, 1)
    assert (dist[:, 0] == 0).all()
    assert rows[:, 0].tolist() == [50, 51, 52]


def test_packed_codes_grow_and_invalidate(rng):
    codes = random_codes(rng, 1000, 4)
    packed = kernel.PackedCodes(4)
    for start in range(0, 1000, 137):
        packed.append(codes[start : start + 137])
    assert packed.rows == 1000
    dead = np.array([0, 5, 999])
    packed.set_valid(dead, False)
    mask = np.ones(1000, bool)
    mask[dead] = False
    assert (packed.valid_mask() == mask).all()
    queries = codes[[0, 5, 6]]
    got = kernel.scan_topk(queries, packed, 9)
    want = kernel.reference_scan_topk(queries, codes, 9, mask=mask)
    np.testing.assert_array_equal(got[1], want[1])


def test_snapshot_is_isolated_from_later_writes(rng):
    codes = random_codes(rng, 300, 2)
    packed = kernel.PackedCodes.from_codes(codes[:200])
    snap = packed.snapshot()
    packed.append(codes[200:])
    packed.set_valid(np.arange(10), False)
    dist, rows = kernel.scan_topk(codes[:1], snap, 1000)
    assert rows.shape[1] == 200 and rows.max() < 200 and 0 in rows


def test_popcount_rows(rng):
    codes = random_codes(rng, 50, 7)
    want = kernel.reference_hamming(codes, np.zeros((1, 7), np.uint64))[:, 0]
    np.testing.assert_array_equal(kernel.popcount_rows(codes), want)


def test_input_errors(rng):
    codes = random_codes(rng, 10, 2)
    with pytest.raises(TypeError, match="uint64"):
        kernel.scan_topk(codes.astype(np.int64), codes, 1)
    with pytest.raises(ValueError, match="words"):
        kernel.scan_topk(random_codes(rng, 1, 3), codes, 1)
    with pytest.raises(ValueError, match="k must be"):
        kernel.scan_topk(codes, codes, 0)
    with pytest.raises(ValueError, match="mask"):
        kernel.scan_topk(codes, codes, 1, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="1 to 48"):
        kernel.scan_topk(random_codes(rng, 1, 49), random_codes(rng, 2, 49), 1)


def test_capabilities_and_forcing():
    caps = kernel.capabilities()
    assert caps["scalar"] is True and caps["auto"] in PATHS
    missing = [p for p in ("avx2", "avx512") if not caps[p]]
    for path in missing:
        with pytest.raises(ValueError, match="not available"):
            with kernel.force_path(path):
                pass


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("words", [1, 6, 7, 8])
@pytest.mark.parametrize("queries_n", [6, 9])  # AVX-512: the byte and the word-major kernel
def test_zero_threshold_and_saturating_widths(rng, path, words, queries_n):
    """Many exact duplicates drive the k-th distance to 0; widths up to 63 bytes take the
    AVX2 u8 compare, whose sums saturate above 255 (7 words: distances up to 448)."""
    codes = random_codes(rng, 900, words)
    queries = codes[:queries_n].copy()
    codes[100:400] = codes[0]
    codes[500:520] = ~codes[1]  # maximal distance: saturates any byte counter
    with kernel.force_path(path):
        check(queries, codes, 5, threads=2)
        check(queries, codes, 40, threads=1)
        check(~queries, codes, 30, threads=2)


@pytest.mark.parametrize("path", kernel_paths())
def test_threads_sharing_their_bounds_never_change_the_answer(rng, path):
    """Threads drop rows beyond another thread's k-th distance; ties at that distance must stay
    (a smaller row can win them), so huge tie groups across thread ranges are the hard case."""
    for n in (300, 5000, 40000):
        codes = rng.integers(0, 4, size=(n, 2), dtype=np.uint64)  # few distinct codes: huge tie groups
        queries = rng.integers(0, 4, size=(9, 2), dtype=np.uint64)
        snap = kernel.PackedCodes.from_codes(codes).snapshot()
        for k in (1, 10, 264, 1000):
            want = kernel.reference_scan_topk(queries, codes, k)
            with kernel.force_path(path):
                for threads in (1, 2, 3, 4):
                    dist, rows = kernel.scan_topk(queries, snap, k, threads=threads)
                    assert np.array_equal(dist, want[0]) and np.array_equal(rows, want[1]), (n, k, threads)
