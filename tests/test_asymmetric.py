"""core.asymmetric and its kernel: the integer arithmetic equals the float formula it stands for,
every kernel path returns the oracle's keys and rows bit for bit, the error scale is calibrated,
the adaptive cut is the brute-force rule, and the estimate orders neighbours better than Hamming."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import asymmetric, kernel, rescore
from bitsift.core.binarize import make_binarizer
from conftest import kernel_paths


def _data(rng, n, dims, binarizer="mib"):
    x = rng.standard_normal((n, dims)).astype(np.float32)
    b = make_binarizer(binarizer)
    b = b.fit(x) if b.needs_center else b
    codes = b.encode(x)
    return x.astype(np.float16), codes, asymmetric.correctives(x.astype(np.float16), codes, dims)


@pytest.mark.parametrize("dims", [7, 64, 100, 384])
def test_the_keys_are_the_estimator_plus_its_bound(dims):
    """key = <q_hat', r> / <r, x'> + eps * sigma, where q_hat is the query's levels: the integer
    popcount arithmetic (D*A - U*pop) is that float formula."""
    rng = np.random.default_rng(dims)
    vectors, codes, scalars = _data(rng, 300, dims)
    q = rng.standard_normal((5, dims))
    levels = asymmetric.quantize(q)
    qc = asymmetric.centred_unit(q)
    lo = qc.min(axis=1)
    step = (qc.max(axis=1) - lo) / 15
    assert np.all(np.abs(qc - (lo[:, None] + step[:, None] * levels.levels)) <= step[:, None] / 2 + 1e-12)
    assert levels.levels.max() <= 15 and np.array_equal(levels.level_sum, levels.levels.sum(axis=1))
    s = 2.0 * np.unpackbits(codes.view(np.uint8), axis=1, bitorder="little")[:, :dims] - 1.0
    r = s - s.mean(axis=1, keepdims=True)
    x = asymmetric.centred_unit(vectors.astype(np.float32))
    q_hat = lo[:, None] + step[:, None] * levels.levels
    cos = np.einsum("nd,nd->n", r, x) / np.linalg.norm(r, axis=1)
    want = (q_hat @ r.T) / np.einsum("nd,nd->n", r, x)[None, :] \
        + asymmetric.BOUND_EPS * np.sqrt(1 - cos**2) / cos / np.sqrt(dims - 1)
    assert np.allclose(asymmetric.keys(levels, codes, scalars, dims), want, rtol=1e-5, atol=1e-6)
    assert np.all(scalars[:, 0] > 0)  # an MIB code points the way of its vector


def test_degenerate_vectors_get_exact_or_uninformative_scalars():
    dims = 32
    x = np.zeros((2, dims), np.float16)
    x[0] = 3.0  # constant: rho 0 with anything, and its key is exactly 0
    x[1, 0] = 1.0  # one spike, but a code with every bit set: the estimate cannot be used
    codes = np.array([[0], [np.iinfo(np.uint64).max >> 32]], np.uint64)
    scalars = asymmetric.correctives(x, codes, dims)
    assert scalars.tolist() == [[0.0, 0.0], [0.0, 1.0]]


def test_the_error_scale_is_calibrated(rng):
    """(rho - est) / sigma has unit spread (RaBitQ's scale holds for MIB codes: measured 1.00-1.01
    on the peer suite's data and ours, benchmarks/README.md), so the bound's confidence means what it says."""
    vectors, codes, scalars = _data(rng, 4000, 256)
    q = rng.standard_normal((20, 256)).astype(np.float32)
    est = asymmetric.estimate(asymmetric.quantize(q), codes, scalars, 256).astype(np.float64)
    rho = np.stack([rescore.correlation(qi, vectors.astype(np.float32)) for qi in q])
    z = (rho - est) / scalars[:, 1].astype(np.float64)[None, :]
    assert 0.9 < z.std() < 1.1 and abs(z.mean()) < 0.05
    assert np.mean(z > asymmetric.BOUND_EPS) < 0.05  # one-sided, ~2.9% for a Gaussian


@pytest.mark.parametrize("path", kernel_paths())
@pytest.mark.parametrize("dims, binarizer", [(7, "mib"), (64, "sign"), (100, "mib"), (384, "centered"), (385, "mib"),
                                             (3072, "sign")])  # the widest code: level sums near the u16 limit
def test_the_kernel_returns_the_oracle_to_the_bit_on_every_path(rng, path, dims, binarizer):
    vectors, codes, scalars = _data(rng, 1000, dims, binarizer)
    vectors[500:540] = vectors[3]  # a tie group of keys
    scalars = asymmetric.correctives(vectors, codes, dims)
    codes[500:540] = codes[3]
    scalars[500:540] = scalars[3]
    packed = kernel.PackedCodes.from_codes(codes, scalars=scalars)
    mask = rng.random(1000) < 0.8
    packed.set_valid(np.array([7, 3, 999]), False)
    q = np.concatenate([vectors[[3]].astype(np.float32), rng.standard_normal((9, dims)).astype(np.float32)])
    levels = asymmetric.quantize(q)
    want = asymmetric.keys(levels, codes, scalars, dims)
    live = mask.copy()
    live[[7, 3, 999]] = False
    rows = np.flatnonzero(live)
    with kernel.force_path(path):
        for k, threads in ((1, 1), (37, 2), (600, 2), (5000, 1)):
            key, got = kernel.asym_topk(levels, packed, k, mask=mask, threads=threads)
            order = np.lexsort((np.broadcast_to(rows, (10, rows.size)), -want[:, rows]), axis=1)[:, :k]
            assert np.array_equal(got, rows[order])
            assert np.array_equal(key, np.take_along_axis(want[:, rows], order, axis=1))


@pytest.mark.parametrize("path", kernel_paths())
def test_a_large_top_k_with_a_sampled_floor_is_still_the_oracles(rng, path):
    """k >= 64 over 16k+ rows a thread: the scan reads every 8th block first for a floor (kernel,
    asym_scan.cpp). Still the oracle's rows to the bit: a tie group of 300 copies spread over
    sampled and other blocks (offered out of row order), and a query whose best rows all sit in
    sampled blocks (its floor lets fewer than k through: it is scanned again without one)."""
    n, dims = 40_000, 64
    vectors, codes, scalars = _data(rng, n, dims)
    copies = rng.choice(n, 300, replace=False)
    vectors[copies], codes[copies], scalars[copies] = vectors[0], codes[0], scalars[0]
    sampled = np.flatnonzero((np.arange(n) // kernel.BLOCK_CODES) % 8 == 0)[:2000]
    near = rng.standard_normal(dims).astype(np.float32)
    vectors[sampled] = (near + 0.05 * rng.standard_normal((sampled.size, dims))).astype(np.float16)
    scalars = asymmetric.correctives(vectors, codes := _data_codes(vectors, dims), dims)
    packed = kernel.PackedCodes.from_codes(codes, scalars=scalars)
    q = np.stack([vectors[0].astype(np.float32), near, *rng.standard_normal((2, dims)).astype(np.float32)])
    levels = asymmetric.quantize(q)
    want = asymmetric.keys(levels, codes, scalars, dims)
    rows = np.arange(n)
    with kernel.force_path(path):
        for k, threads in ((64, 1), (300, 2), (2500, 1), (2500, 2)):
            key, got = kernel.asym_topk(levels, packed, k, threads=threads)
            order = np.lexsort((np.broadcast_to(rows, (4, n)), -want), axis=1)[:, :k]
            assert np.array_equal(got, order)
            assert np.array_equal(key, np.take_along_axis(want, order, axis=1))
    # A tie group whose sampled members (offered first) have the largest rows, among 3,000 rows
    # near it that keep the floor rising: the group's members met later with smaller rows win.
    block, row = np.arange(n) // kernel.BLOCK_CODES, np.arange(n)
    plain = np.flatnonzero((block % 8 != 0) & (row < 30_000))
    pick = rng.choice(plain, 330 + 3000, replace=False)
    late = rng.choice(np.flatnonzero((block % 8 == 0) & (row >= 35_000)), 60, replace=False)
    vectors, _, _ = _data(rng, n, dims)
    vectors[pick[330:]] = (vectors[0] + 0.3 * rng.standard_normal((3000, dims))).astype(np.float16)
    vectors[pick[:330]] = vectors[late] = vectors[0]
    codes = _data_codes(vectors, dims)
    scalars = asymmetric.correctives(vectors, codes, dims)
    levels = asymmetric.quantize(vectors[[0]].astype(np.float32))
    want = asymmetric.keys(levels, codes, scalars, dims)[0]
    with kernel.force_path(path):
        key, got = kernel.asym_topk(levels, kernel.PackedCodes.from_codes(codes, scalars=scalars), 300, threads=1)
    assert np.array_equal(got[0], np.lexsort((row, -want))[:300])


def _data_codes(vectors, dims):
    return make_binarizer("mib").encode(vectors.astype(np.float32))


def test_bad_kernel_arguments_are_refused(rng):
    vectors, codes, scalars = _data(rng, 10, 64)
    packed = kernel.PackedCodes.from_codes(codes, scalars=scalars)
    levels = asymmetric.quantize(rng.standard_normal((1, 64)))
    with pytest.raises(ValueError, match="positive integer"):
        kernel.asym_topk(levels, packed, 0)
    with pytest.raises(ValueError, match="components"):
        kernel.asym_topk(asymmetric.quantize(rng.standard_normal((1, 65))), packed, 3)
    bad = asymmetric.QueryLevels(levels.levels + 16, levels.scale, levels.level_sum)
    with pytest.raises(ValueError, match="0 to 15"):
        kernel.asym_topk(bad, packed, 3)
    with pytest.raises(ValueError, match="finite"):
        kernel.PackedCodes.from_codes(codes, scalars=np.full((10, 2), np.nan, np.float32))


def _brute_cut(key, rho, k):
    """The smallest n (ending a tie group of keys) whose first n hold k with rho > key[n - 1]."""
    if key.size <= k:
        return None
    for n in range(1, key.size + 1):
        if n < key.size and key[n] == key[n - 1]:
            continue
        if np.sum(rho[:n] > key[n - 1]) >= k:
            return n
    return None


@pytest.mark.parametrize("seed", range(30))
def test_the_adaptive_cut_is_the_brute_force_rule(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    key = np.sort(np.round(rng.random(n), 1))[::-1]  # ties
    rho = key - rng.random(n) * 0.3
    k = int(rng.integers(1, 6))
    assert asymmetric.adaptive_cut(key, rho, k) == _brute_cut(key, rho, k)


def test_the_native_cuts_of_many_queries_are_the_oracles(rng):
    """kernel.adaptive_cuts over one flat column of 300 queries (ties, empty ones, k from 1 to more
    than a query holds) gives each query the oracle's cut, and where none proves it the k-th best
    rho of its candidates."""
    keys, rhos, ks = [], [], []
    for _ in range(300):
        n = int(rng.integers(0, 50))
        keys.append(np.sort(np.round(rng.normal(size=n), int(rng.integers(0, 3))))[::-1])
        rhos.append(np.round(rng.normal(size=n) - 0.5, int(rng.integers(0, 3))))
        ks.append(int(rng.integers(1, 12)))
    offsets = np.concatenate([[0], np.cumsum([k.size for k in keys])])
    cut, kth = kernel.adaptive_cuts(np.concatenate(keys), np.concatenate(rhos), offsets, np.array(ks))
    for t, (key, rho, k) in enumerate(zip(keys, rhos, ks)):
        want = asymmetric.adaptive_cut(key, rho, k)
        assert (None if cut[t] < 0 else int(cut[t])) == want == _brute_cut(key, rho, k)
        if want is None:
            assert kth[t] == (np.sort(rho)[-k] if rho.size >= k else -np.inf)
    with pytest.raises(ValueError, match="positive"):
        kernel.adaptive_cuts(np.zeros(2), np.zeros(2), np.array([0, 2]), 0)


@pytest.mark.parametrize("complete", [True, False])
def test_the_native_pool_cuts_as_the_oracle_and_gives_the_pools_kth_best(rng, complete):
    """kernel.adaptive_pool (rows re-scored in key order inside) cuts each query where
    asymmetric.adaptive_cut does over the same keys and re-scored rho, and returns the k-th best
    rho of the rows it took (-inf with fewer than k): what core.candidates keeps ids for."""
    n, dims, width = 400, 64, 60
    vectors = rng.standard_normal((n, dims)).astype(np.float16)
    queries = rng.standard_normal((40, dims)).astype(np.float32)
    rows = np.stack([rng.choice(n, width, replace=False) for _ in queries])
    rho = np.stack([rescore.correlation(q, vectors[r].astype(np.float32)) for q, r in zip(queries, rows)])
    noisy = np.round(rho + rng.normal(0, 0.3, rho.shape), 1)  # an estimate of rho, ties included
    order = np.argsort(-noisy, axis=1, kind="stable")
    key, rows, rho = (np.take_along_axis(a, order, axis=1) for a in (noisy, rows, rho))
    for k in (1, 5, 59, 60, 70):
        cut, got_rho, kth = kernel.adaptive_pool(key, rows, complete, k, vectors, queries)
        for t in range(len(queries)):
            want = asymmetric.adaptive_cut(key[t], rho[t], k)
            known = width if complete else int(np.sum(key[t] != key[t, -1]))  # the last tie group may go on
            if want is None or want > known:
                want = width if complete else -1
            assert cut[t] == want
            if cut[t] < 0:
                continue
            taken = rho[t, : cut[t]]
            assert np.allclose(got_rho[t, : cut[t]], taken, atol=1e-12)
            assert kth[t] == (np.sort(got_rho[t, : cut[t]])[-k] if cut[t] >= k else -np.inf)


def test_the_estimate_finds_neighbours_better_than_hamming(rng):
    """The prototype's finding, in small: re-scoring the first 50 of 5,000 by the asymmetric key
    recovers more of the true top 10 (by rho) than the first 50 by Hamming distance."""
    vectors, codes, scalars = _data(rng, 5000, 128)
    q = rng.standard_normal((20, 128)).astype(np.float32)
    key = asymmetric.keys(asymmetric.quantize(q), codes, scalars, 128)
    ham = kernel.reference_hamming(make_binarizer("mib").encode(q), codes)
    rho = np.stack([rescore.correlation(qi, vectors.astype(np.float32)) for qi in q])
    truth = np.argsort(-rho, axis=1)[:, :10]

    def recall(order):
        return np.mean([len(set(o[:50]) & set(t)) / 10 for o, t in zip(order, truth)])
    assert recall(np.argsort(-key, axis=1)) > recall(np.argsort(ham, axis=1)) + 0.1
