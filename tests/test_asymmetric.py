"""core.asymmetric, the oracle of issue 19's kernels: the AND + popcount arithmetic equals the
float formula it stands for, the quantization is within half a step, and the estimate orders
neighbours better than the Hamming distance does (the prototype's finding, in small)."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import asymmetric
from bitsift.core.binarize import make_binarizer, words_for


@pytest.mark.parametrize("dims, bits", [(64, 4), (100, 2), (384, 4), (7, 1), (130, 8)])
def test_the_popcount_arithmetic_is_the_float_formula(dims, bits):
    rng = np.random.default_rng(dims + bits)
    x = rng.standard_normal((300, dims)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    codes = make_binarizer("mib").encode(x)
    q = rng.standard_normal((5, dims))
    planes = asymmetric.quantize_queries(q, bits, words_for(dims))
    alpha, m = asymmetric.corrective(x, codes, dims)
    got = asymmetric.estimate(planes, codes, alpha, m, dims)
    s = 2.0 * np.unpackbits(codes.view(np.uint8), axis=1, bitorder="little")[:, :dims] - 1.0
    q_hat = planes.lo[:, None] + planes.step[:, None] * planes.levels
    want = alpha[None, :] * (q_hat @ s.T - m[None, :] * q_hat.sum(axis=1, keepdims=True))
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(q - q_hat) <= planes.step[:, None] / 2 + 1e-12)  # within half a level
    assert planes.levels.min() >= 0 and planes.levels.max() <= 2**bits - 1
    assert np.all(alpha > 0)  # a code points the way of its vector


def test_the_estimate_finds_neighbours_better_than_hamming():
    rng = np.random.default_rng(3)
    root = rng.standard_normal((64, 64)) / np.sqrt(np.arange(1, 65))  # an anisotropic spectrum
    x = (rng.standard_normal((4000, 64)) @ root).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = (rng.standard_normal((50, 64)) @ root)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    mib = make_binarizer("mib")
    codes, qcodes = mib.encode(x), mib.encode(q.astype(np.float32))
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    alpha, m = asymmetric.corrective(x, codes, 64)
    est = asymmetric.estimate(asymmetric.quantize_queries(q, 4, 1), codes, alpha, m, 64)
    ham = asymmetric.popcount(qcodes[:, None, :] ^ codes[None, :, :])

    def recall(order: np.ndarray, pool: int) -> float:
        return float(np.mean([len(set(o[:pool]) & set(t)) / 10 for o, t in zip(order, truth)]))
    asym, sym = np.argsort(-est, axis=1), np.argsort(ham, axis=1, kind="stable")
    assert recall(asym, 100) > recall(sym, 100) + 0.05, (recall(asym, 100), recall(sym, 100))


def test_bits_are_checked():
    with pytest.raises(ValueError, match="1 to 8"):
        asymmetric.quantize_queries(np.ones((1, 4)), 9, 1)
    flat = asymmetric.quantize_queries(np.ones((1, 4)), 4, 1)  # a constant query: no division by zero
    assert np.all(flat.levels == 0) and flat.step[0] == 1.0
