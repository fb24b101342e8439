"""Typed wrapper over the native scan kernel, plus the NumPy reference it is tested against.

The native module works on a block-transposed copy of the codes (``PackedCodes``);
this module owns that copy, its validity bitmap and all input checks, so the
C++ side can trust its arguments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bitsift import _kernel
from bitsift.core import asymmetric

BLOCK_CODES: int = _kernel.BLOCK_CODES
MAX_WORDS: int = _kernel.MAX_WORDS
KernelPath = Literal["auto", "scalar", "avx2", "avx512"]
_forced_path: KernelPath = "auto"
# Threads of a scan asked for 0 (auto). A server with one worker process per core sets 1: its
# workers already keep every core busy, and a second thread per scan only adds switching.
SCAN_THREADS_ENV = "BITSIFT_SCAN_THREADS"


def capabilities() -> dict[str, object]:
    """Which instruction-set paths this CPU runs, and which one ``auto`` picks."""
    return dict(_kernel.capabilities())


@contextmanager
def force_path(path: KernelPath) -> Iterator[None]:
    """Run every scan in the block on one instruction-set path (for tests and benchmarks)."""
    global _forced_path
    if path != "auto" and not capabilities().get(path, False):
        raise ValueError(f"kernel path {path!r} is not available on this CPU: {capabilities()}")
    previous, _forced_path = _forced_path, path
    try:
        yield
    finally:
        _forced_path = previous


def _as_codes(codes: np.ndarray, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(codes)
    if arr.dtype != np.uint64 or arr.ndim != 2:
        raise TypeError(f"{name} must be a uint64 array of shape [N, W], got {arr.dtype} {arr.shape}")
    if not 1 <= arr.shape[1] <= MAX_WORDS:
        raise ValueError(f"{name} must have 1 to {MAX_WORDS} words per code, got {arr.shape[1]}")
    return arr


def _blocks_for(rows: int) -> int:
    return -(-rows // BLOCK_CODES)


# For t rows of a block: the validity words with bits 0..t-1 set (snapshot's tail guard).
_TAIL_MASKS = np.stack([np.packbits(np.arange(BLOCK_CODES) < t, bitorder="little").view(np.uint64)
                        for t in range(BLOCK_CODES)])


class PackedCodes:
    """Growable scan layout of codes with a validity bit per row.

    Appends are amortised O(1) (capacity doubles); readers take ``snapshot()``
    so a concurrent append or delete never changes a scan in flight.
    """

    def __init__(self, words: int, capacity: int = 0) -> None:
        if not 1 <= words <= MAX_WORDS:
            raise ValueError(f"codes must have 1 to {MAX_WORDS} words, got {words}")
        self.words = words
        self.rows = 0
        self._blocks = np.zeros((_blocks_for(max(capacity, 1)), words * 8, BLOCK_CODES), np.uint8)
        self._valid = np.zeros(self._blocks.shape[0] * 2, np.uint64)
        # Per row, for the asymmetric first stage (core.asymmetric): the corrective scalars
        # (alpha, sigma) and the code's popcount, padded to whole blocks as the kernel reads them.
        self._scalars = np.zeros((2, self._blocks.shape[0] * BLOCK_CODES), np.float32)
        self._pops = np.zeros(self._blocks.shape[0] * BLOCK_CODES, np.int32)

    @classmethod
    def from_codes(cls, codes: np.ndarray, valid: np.ndarray | None = None,
                   scalars: np.ndarray | None = None) -> PackedCodes:
        codes = _as_codes(codes, "codes")
        packed = cls(codes.shape[1], capacity=codes.shape[0])
        packed.append(codes, scalars=scalars)
        if valid is not None:
            packed.set_valid(np.flatnonzero(~np.asarray(valid, dtype=bool)), False)
        return packed

    def _reserve(self, rows: int) -> None:
        need = _blocks_for(rows)
        if need <= self._blocks.shape[0]:
            return
        grown = max(need, self._blocks.shape[0] * 2)
        blocks = np.zeros((grown, self.words * 8, BLOCK_CODES), np.uint8)
        blocks[: self._blocks.shape[0]] = self._blocks
        valid = np.zeros(grown * 2, np.uint64)
        valid[: self._valid.shape[0]] = self._valid
        scalars = np.zeros((2, grown * BLOCK_CODES), np.float32)
        scalars[:, : self._scalars.shape[1]] = self._scalars
        pops = np.zeros(grown * BLOCK_CODES, np.int32)
        pops[: self._pops.shape[0]] = self._pops
        self._blocks, self._valid, self._scalars, self._pops = blocks, valid, scalars, pops

    def append(self, codes: np.ndarray, replaced: np.ndarray | None = None, scalars: np.ndarray | None = None) -> None:
        """Append rows (all valid) and mark ``replaced`` rows dead in the same step: a snapshot
        taken afterwards sees the new rows without the ones they replace, one taken before sees
        neither change (never an id twice). ``scalars``: float32[N, 2], each row's corrective
        (alpha, sigma) for the asymmetric scan (without them: (0, 1), a bound that proves nothing)."""
        codes = _as_codes(codes, "codes")
        if codes.shape[1] != self.words:
            raise ValueError(f"expected {self.words} words per code, got {codes.shape[1]}")
        if scalars is not None and (scalars.shape != (codes.shape[0], 2) or not np.isfinite(scalars).all()):
            raise ValueError(f"scalars must be finite float32[{codes.shape[0]}, 2], got {scalars.dtype} {scalars.shape}")
        start = self.rows
        self._reserve(start + codes.shape[0])
        # the per-row columns before the codes and the row count: a snapshot sees whole rows
        self._scalars[:, start : start + codes.shape[0]] = np.array([[0.0], [1.0]]) if scalars is None else scalars.T
        self._pops[start : start + codes.shape[0]] = _kernel.popcount_rows(codes)
        _kernel.pack_rows(self._blocks, codes, start)
        dead = np.zeros(0, np.int64) if replaced is None else np.asarray(replaced, np.int64)
        if dead.size and (dead.min() < 0 or dead.max() >= start):
            raise IndexError("row out of range")
        self._publish_valid(np.arange(start, start + codes.shape[0]), dead)
        self.rows = start + codes.shape[0]

    def set_valid(self, rows: np.ndarray, value: bool) -> None:
        """Mark rows live or dead. Copy-on-write, so snapshots never change."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError("row out of range")
        empty = np.zeros(0, np.int64)
        self._publish_valid(rows if value else empty, empty if value else rows)

    def _publish_valid(self, live: np.ndarray, dead: np.ndarray) -> None:
        bits = np.unpackbits(self._valid.view(np.uint8), bitorder="little").astype(bool)
        bits[live] = True
        bits[dead] = False
        self._valid = np.packbits(bits, bitorder="little").view(np.uint64).copy()

    def valid_mask(self) -> np.ndarray:
        """Boolean live flag per row."""
        bits = np.unpackbits(self._valid.view(np.uint8), bitorder="little").astype(bool)
        return bits[: self.rows]

    def snapshot(self) -> PackedSnapshot:
        """The rows as of now, safe against an append in another thread: the row count first, then
        the validity bitmap (published after the appended rows' codes and columns, so at least as
        new), then the arrays it points into; bits of rows past the count (an append racing this
        read) are cleared, so a search never returns a row its other columns may not cover."""
        rows = self.rows
        nblocks = _blocks_for(rows)
        valid = self._valid[: nblocks * 2]
        if rows % BLOCK_CODES:  # the last block is partial: an append since may have set bits past rows
            keep = _TAIL_MASKS[rows % BLOCK_CODES]
            if np.any(valid[-2:] & ~keep):  # only then a copy (rare: a search racing an append)
                valid = valid.copy()
                valid[-2:] &= keep
        return PackedSnapshot(self._blocks[:nblocks], valid, rows, self.words,
                              self._scalars[:, : nblocks * BLOCK_CODES], self._pops[: nblocks * BLOCK_CODES])


@dataclass(frozen=True)
class PackedSnapshot:
    blocks: np.ndarray  # uint8 [nblocks, W*8, BLOCK_CODES]
    valid: np.ndarray   # uint64 [nblocks*2], bit per row
    rows: int
    words: int
    scalars: np.ndarray  # float32 [2, nblocks*BLOCK_CODES]: alpha and sigma of each row (each contiguous)
    pops: np.ndarray     # int32 [nblocks*BLOCK_CODES]: popcount per row


def _mask_words(mask: np.ndarray, rows: int, nblocks: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (rows,):
        raise ValueError(f"mask must be a boolean array of shape ({rows},), got {mask.dtype} {mask.shape}")
    padded = np.zeros(nblocks * BLOCK_CODES, dtype=bool)
    padded[:rows] = mask
    return np.packbits(padded, bitorder="little").view(np.uint64)


def scan_topk(
    queries: np.ndarray,
    codes: np.ndarray | PackedCodes | PackedSnapshot,
    k: int,
    mask: np.ndarray | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows by Hamming distance for each query.

    Returns ``(dist uint32[Q, k'], row int64[Q, k'])`` with ``k' = min(k, live rows)``,
    ordered by distance then row. ``mask`` (bool per row) excludes rows; rows
    already dead in a ``PackedCodes`` stay excluded. Row-major ``codes`` are
    packed on the fly, which costs one extra pass: keep a ``PackedCodes`` for
    repeated scans.
    """
    queries = _as_codes(queries, "queries")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if threads < 0:
        raise ValueError("threads must be >= 0 (0 = as many cores as the scan is big enough for)")
    if isinstance(codes, np.ndarray):
        codes = PackedCodes.from_codes(codes)
    snap = codes.snapshot() if isinstance(codes, PackedCodes) else codes
    if snap.words != queries.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} words per code, codes have {snap.words}")
    valid = snap.valid
    if mask is not None:
        valid = valid & _mask_words(mask, snap.rows, snap.blocks.shape[0])
    if snap.rows == 0:
        return np.zeros((queries.shape[0], 0), np.uint32), np.zeros((queries.shape[0], 0), np.int64)
    if threads == 0:
        threads = _default_scan_threads()
    return _kernel.scan_topk(queries, snap.blocks, valid, int(k), int(threads), _forced_path)


def asym_topk(query: asymmetric.QueryLevels, codes: PackedCodes | PackedSnapshot, k: int,
              mask: np.ndarray | None = None, threads: int = 0,
              eps: float = asymmetric.BOUND_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows by the asymmetric first stage's key (core.asymmetric) for each query.

    Returns ``(key float32[Q, k'], row int64[Q, k'])`` with ``k' = min(k, live rows)``, ordered by
    key (largest first) then row; ``mask`` and dead rows as in :func:`scan_topk`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    snap = codes.snapshot() if isinstance(codes, PackedCodes) else codes
    nq, dims = query.levels.shape
    if not 1 <= dims <= snap.words * 64:
        raise ValueError(f"queries have {dims} components, codes hold {snap.words * 64} bits")
    if snap.rows == 0:
        return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
    valid = snap.valid if mask is None else snap.valid & _mask_words(mask, snap.rows, snap.blocks.shape[0])
    alpha, sigma = snap.scalars  # each row of a C-contiguous array: no copy
    return _kernel.asym_topk(np.ascontiguousarray(query.levels, np.uint8), np.ascontiguousarray(query.scale, np.float32),
                             np.ascontiguousarray(query.level_sum, np.int32), snap.blocks, valid,
                             alpha, sigma, snap.pops,
                             float(eps), int(k), int(threads or _default_scan_threads()), _forced_path)


def adaptive_cuts(key: np.ndarray, rho: np.ndarray, offsets: np.ndarray, k: int | np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``asymmetric.adaptive_cut`` (its NumPy oracle) for many queries in one native call: query t's
    candidates are ``key[offsets[t]:offsets[t + 1]]`` (descending) with their re-scored ``rho``.
    Returns ``(cut int64[Q], -1 where no prefix proves it; kth float64[Q])``, kth being, where
    unproven, the k-th best rho of the query's candidates (-inf with fewer than k): a row whose key
    is below it would prove the cut, so it says how much further to read."""
    offsets = np.ascontiguousarray(offsets, np.int64)
    ks = np.ascontiguousarray(np.broadcast_to(np.asarray(k, np.int64), (offsets.size - 1,)))
    return _kernel.adaptive_cuts(np.ascontiguousarray(key, np.float64), np.ascontiguousarray(rho, np.float64),
                                 offsets, ks)


def adaptive_pool(key: np.ndarray, rows: np.ndarray, complete: bool, k: int, vectors: np.ndarray,
                  queries: np.ndarray, threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's adaptive pool in one native call (core.candidates.adaptive_pool): its candidates
    ``key[q]`` (float64, descending, every query as many) and ``rows[q]``, re-scored against the
    float16 ``vectors`` in key order up to the first whole tie group that ``asymmetric.adaptive_cut``
    proves; ``complete``: the candidates are every live row. Returns ``(cut int64[Q], rho
    float64[Q, width], kth float64[Q])``: cut -1 where the fetched rows ran out before a proof (scan
    wider), the width where complete and nothing proves it; rho filled for the re-scored rows; kth
    the k-th best rho among the cut's rows (-inf where fewer than k, or no cut)."""
    if vectors.dtype != np.float16 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
        raise ValueError("vectors must be a C-contiguous float16 matrix")
    q = np.ascontiguousarray(queries, dtype=np.float32).reshape(len(key), -1)
    return _kernel.adaptive_pool(np.ascontiguousarray(key, np.float64), np.ascontiguousarray(rows, np.int64),
                                 bool(complete), int(k), vectors.view(np.uint16), q,
                                 int(threads or _default_scan_threads()), _forced_path)


def _default_scan_threads() -> int:
    value = os.environ.get(SCAN_THREADS_ENV, "")
    return int(value) if value.isdigit() else 0


def correlation_f16(vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """rho between ``query`` (float[D]) and ``vectors[rows]`` (float16[N, D], e.g. a memory map),
    float64[len(rows)]: rescore.correlation's formula, in native code reading only those rows.

    Each row is computed alone in a fixed order, so its value never depends on the other rows
    (the NumPy reference, rescore.correlation, agrees to ~1e-15)."""
    if vectors.dtype != np.float16 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
        raise ValueError("vectors must be a C-contiguous float16 matrix")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    return _kernel.correlation_f16(vectors.view(np.uint16), rows, query, _forced_path)


def correlation_f16_many(vectors: np.ndarray, rows: list[np.ndarray], queries: np.ndarray) -> list[np.ndarray]:
    """``correlation_f16(vectors, rows[t], queries[t])`` for every query t, in one native call
    (threads over all the rows; every value identical to the one-query call's)."""
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([r.size for r in rows], out=offsets[1:])
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return np.split(correlation_f16_flat(vectors, flat, offsets, queries), offsets[1:-1])


def correlation_f16_flat(vectors: np.ndarray, rows: np.ndarray, offsets: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """:func:`correlation_f16_many` with the rows as one column: query t's are
    ``rows[offsets[t]:offsets[t + 1]]``; returns rho in the same layout."""
    if vectors.dtype != np.float16 or vectors.ndim != 2 or not vectors.flags.c_contiguous:
        raise ValueError("vectors must be a C-contiguous float16 matrix")
    q = np.ascontiguousarray(queries, dtype=np.float32).reshape(len(offsets) - 1, -1)
    return _kernel.correlation_f16_many(vectors.view(np.uint16), np.ascontiguousarray(rows, dtype=np.int64),
                                        np.ascontiguousarray(offsets, dtype=np.int64), q, _forced_path)


def floats_from_lists(rows: object, dims: int) -> np.ndarray | None:
    """float32[N, dims] from N lists of plain Python numbers in one native pass (the shape a JSON
    body decodes to), or None if ``rows`` is anything else: a string, a bool, None or a ragged row
    is for the caller's slower path to name."""
    out = _kernel.floats_from_lists(rows, dims)
    return out if isinstance(out, np.ndarray) else None


def popcount_rows(codes: np.ndarray) -> np.ndarray:
    """Set bits per code row (uint32[N])."""
    return _kernel.popcount_rows(_as_codes(codes, "codes"))


# --- NumPy reference (the test oracle) -------------------------------------------------

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint32)


def reference_hamming(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """All-pairs Hamming distances uint32[Q, N] by XOR and a byte popcount table."""
    x = np.bitwise_xor(queries[:, None, :], codes[None, :, :])
    return _POP8[x.view(np.uint8)].reshape(x.shape[0], x.shape[1], -1).sum(axis=2, dtype=np.uint32)


def reference_scan_topk(
    queries: np.ndarray, codes: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k with the kernel's ordering: distance, then row."""
    dist = reference_hamming(queries, codes)
    rows = np.arange(codes.shape[0]) if mask is None else np.flatnonzero(mask)
    dist = dist[:, rows]
    kk = min(k, rows.size)
    order = np.lexsort((np.broadcast_to(rows, dist.shape), dist), axis=1)[:, :kk]
    return np.take_along_axis(dist, order, axis=1), rows[order].astype(np.int64)
