"""Binarizers: float vectors -> packed bit codes (DESIGN §1.1).

Bit i of a vector is bit (i % 64) of uint64 word i // 64 (little-endian); the
padding bits up to a multiple of 64 are always zero, so they never add to a
Hamming distance or a popcount.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from bitsift.core.errors import InvalidInput
from bitsift.core.spec import BINARIZERS


def words_for(dims: int) -> int:
    return -(-dims // 64)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool[N, D] -> uint64[N, ceil(D/64)], little-endian bit order, zero padding."""
    n, dims = bits.shape
    packed = np.packbits(bits, axis=1, bitorder="little")
    out = np.zeros((n, words_for(dims) * 8), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view("<u8").astype(np.uint64, copy=False)


def unpack_bits(codes: np.ndarray, dims: int) -> np.ndarray:
    """Inverse of pack_bits."""
    raw = np.ascontiguousarray(codes, dtype="<u8").view(np.uint8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :dims].astype(bool)


def mib_bits(x: np.ndarray) -> np.ndarray:
    """Maximally informative binarization: bit i = x_i > median(x), per vector.

    Exactly floor(D/2) bits are set in every code. Values tied at the median are
    ranked by index (a later index ranks higher), so ties never unbalance a code.
    """
    n, dims = x.shape
    ones = dims // 2
    if ones == 0:
        return np.zeros_like(x, dtype=bool)
    m = dims - ones  # index, in sorted order, of the smallest value that gets a 1
    part = np.partition(x, m, axis=1)
    below = part[:, :m].max(axis=1, keepdims=True)  # largest value that gets a 0
    above = part[:, m : m + 1]  # smallest value that gets a 1
    bits = x > below
    tied = np.flatnonzero(below[:, 0] == above[:, 0])
    if tied.size:  # rare: fall back to a stable rank for the rows with a tie at the cut
        order = np.argsort(x[tied], axis=1, kind="stable")
        fixed = np.zeros((tied.size, dims), dtype=bool)
        np.put_along_axis(fixed, order[:, m:], True, axis=1)
        bits[tied] = fixed
    return bits


class Binarizer(Protocol):
    """What the engine needs to know of a binarizer, so no caller tests names or classes."""

    @property
    def name(self) -> str: ...
    balanced: ClassVar[bool]      # every code has floor(D/2) bits set: ITS falls with Hamming distance
    needs_center: ClassVar[bool]  # learns a corpus mean (from the first batch, or given at creation)

    @property
    def fitted(self) -> bool: ...  # False only for a centred binarizer that has no center yet

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class MIB:
    """Per-vector median threshold: balanced codes, invariant to x -> a*x + c (a > 0)."""

    name: str = "mib"
    balanced: ClassVar[bool] = True
    needs_center: ClassVar[bool] = False

    @property
    def fitted(self) -> bool:
        return True

    def encode(self, x: np.ndarray) -> np.ndarray:
        return pack_bits(mib_bits(x))

    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Sign:
    """bit = x_i > 0, what the paper's public benchmark sent."""

    name: str = "sign"
    balanced: ClassVar[bool] = False
    needs_center: ClassVar[bool] = False

    @property
    def fitted(self) -> bool:
        return True

    def encode(self, x: np.ndarray) -> np.ndarray:
        return pack_bits(x > 0)

    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Centered:
    """bit = x_i > mean_i over the corpus: balances every bit position.

    The mean is learned once (from the first uploaded batch, or given at
    creation) and stored in the namespace manifest; it never changes after.
    """

    center: tuple[float, ...] | None = None
    name: str = field(default="centered")
    balanced: ClassVar[bool] = False
    needs_center: ClassVar[bool] = True

    @property
    def fitted(self) -> bool:
        return self.center is not None

    def fit(self, x: np.ndarray) -> Centered:
        """The same binarizer centred on the mean of ``x`` (float[N, D])."""
        return self.with_center(np.asarray(x, np.float64).mean(axis=0))

    def with_center(self, center: Sequence[float] | np.ndarray) -> Centered:
        return type(self)(tuple(float(v) for v in center))

    def encode(self, x: np.ndarray) -> np.ndarray:
        if self.center is None:
            raise InvalidInput("the centered binarizer has not learned its center yet")
        return pack_bits(x > np.asarray(self.center, dtype=np.float32))

    def params(self) -> dict[str, Any]:
        return {"center": list(self.center) if self.center is not None else None}


@dataclass(frozen=True)
class CenteredMIB(Centered):
    """Subtract the corpus mean, then threshold each vector at its own median: balanced
    positions (centring) and balanced codes (MIB), so ITS is again a function of distance."""

    name: str = field(default="centered_mib")
    balanced: ClassVar[bool] = True

    def encode(self, x: np.ndarray) -> np.ndarray:
        if self.center is None:
            raise InvalidInput("the centered_mib binarizer has not learned its center yet")
        return pack_bits(mib_bits(x - np.asarray(self.center, dtype=np.float32)))


_FACTORIES: dict[str, Callable[[dict[str, Any]], Binarizer]] = {
    "mib": lambda params: MIB(),
    "sign": lambda params: Sign(),
    "centered": lambda params: Centered(
        tuple(params["center"]) if params.get("center") is not None else None
    ),
    "centered_mib": lambda params: CenteredMIB(
        tuple(params["center"]) if params.get("center") is not None else None
    ),
}


def make_binarizer(name: str, params: dict[str, Any] | None = None) -> Binarizer:
    """Build a binarizer from its manifest entry."""
    try:
        factory = _FACTORIES[name] if isinstance(name, str) else None
        if factory is None:
            raise KeyError(name)
    except KeyError:
        raise InvalidInput(f"unknown binarizer {name!r}; valid: {', '.join(sorted(BINARIZERS))}") from None
    return factory(params or {})


def bit_entropy(codes: np.ndarray, dims: int) -> np.ndarray:
    """Entropy in bits of each bit position over a set of codes (1.0 = perfectly balanced).

    A position that is nearly constant across the corpus carries almost no
    information, however balanced each single code is (DESIGN §1.1).
    """
    if codes.shape[0] == 0:
        return np.zeros(dims)
    p = unpack_bits(codes, dims).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.nan_to_num(h, nan=0.0)
