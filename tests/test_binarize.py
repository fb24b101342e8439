"""Binarizers: balance, ties, invariances, bit layout."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import binarize, kernel
from bitsift.core.errors import InvalidInput


@pytest.mark.parametrize("dims", [1, 2, 7, 64, 65, 384, 1023])
def test_mib_sets_half_the_bits(rng, dims):
    x = rng.standard_normal((20, dims)).astype(np.float32)
    codes = binarize.MIB().encode(x)
    assert codes.shape == (20, binarize.words_for(dims))
    assert (kernel.popcount_rows(codes) == dims // 2).all()


def test_mib_matches_median_rule_without_ties(rng):
    x = rng.standard_normal((10, 100)).astype(np.float32)
    bits = binarize.unpack_bits(binarize.MIB().encode(x), 100)
    assert (bits == (x > np.median(x, axis=1, keepdims=True))).all()


def test_mib_ties_are_broken_by_index_and_stay_balanced():
    x = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [5, 1, 1, 1, 1, 0]], np.float32)
    bits = binarize.unpack_bits(binarize.MIB().encode(x), 6).astype(int)
    assert bits.tolist() == [[0, 0, 0, 1, 1, 1], [1, 1, 0, 0, 0, 1], [1, 0, 0, 1, 1, 0]]


def test_mib_is_invariant_to_positive_affine_maps(rng):
    x = rng.standard_normal((5, 384)).astype(np.float32)
    enc = binarize.MIB().encode
    assert (enc(x) == enc(3.0 * x + 7.0)).all()


def test_bit_layout_is_little_endian_with_zero_padding():
    bits = np.zeros((1, 70), bool)
    bits[0, [0, 63, 64, 69]] = True
    codes = binarize.pack_bits(bits)
    assert codes.tolist() == [[1 | (1 << 63), 1 | (1 << 5)]]
    assert (binarize.unpack_bits(codes, 70) == bits).all()


def test_sign_and_centered(rng):
    x = rng.standard_normal((50, 16)).astype(np.float32) + 3.0
    assert kernel.popcount_rows(binarize.Sign().encode(x)).mean() > 14  # sign codes lose balance
    centered = binarize.Centered().fit(x)
    bits = binarize.unpack_bits(centered.encode(x), 16)
    assert abs(bits.mean() - 0.5) < 0.1
    with pytest.raises(InvalidInput, match="center"):
        binarize.Centered().encode(x)


def test_registry_errors_list_valid_names():
    with pytest.raises(InvalidInput, match="centered, centered_mib, mib, sign"):
        binarize.make_binarizer("nope")
    assert binarize.make_binarizer("centered", {"center": [1.0, 2.0]}).center == (1.0, 2.0)


def test_bit_entropy(rng):
    x = rng.standard_normal((2000, 64)).astype(np.float32)
    x[:, 0] = 10.0  # constant position after sign
    ent = binarize.bit_entropy(binarize.Sign().encode(x), 64)
    assert ent[0] == 0.0 and ent[1:].min() > 0.95


def test_centered_mib_is_balanced_per_code_and_per_position(rng):
    x = rng.standard_normal((400, 64)).astype(np.float32) + np.linspace(-3, 3, 64).astype(np.float32)
    b = binarize.CenteredMIB().fit(x)
    codes = b.encode(x)
    assert (kernel.popcount_rows(codes) == 32).all()
    assert binarize.bit_entropy(codes, 64).min() > 0.8  # raw MIB would leave the ramp's ends constant
    assert binarize.bit_entropy(binarize.MIB().encode(x), 64).min() < 0.2
    assert binarize.make_binarizer("centered_mib", b.params()) == b
