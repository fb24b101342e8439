"""
bitsift native scan kernel (see bitsift.core.kernel for the typed wrapper)
"""

from typing import Annotated

import numpy
from numpy.typing import NDArray


BLOCK_CODES: int = 128

MAX_WORDS: int = 48

def capabilities() -> dict:
    """Instruction-set paths this CPU can run, and the one 'auto' picks."""

def pack_rows(dst: Annotated[NDArray[numpy.uint8], dict(shape=(None, None, None), order='C', device='cpu')], codes: Annotated[NDArray[numpy.uint64], dict(shape=(None, None), order='C', device='cpu', writable=False)], start_row: int) -> None:
    """
    Write row-major codes into the block-transposed scan layout at start_row.
    """

def popcount_rows(codes: Annotated[NDArray[numpy.uint64], dict(shape=(None, None), order='C', device='cpu', writable=False)]) -> Annotated[NDArray[numpy.uint32], dict(shape=(None,))]:
    """Number of set bits of each row."""

def floats_from_lists(rows: object, dims: int) -> object:
    """
    float32[N, dims] from a list of N lists of plain numbers, or None if any is not one.
    """

def read_probe(data: Annotated[NDArray[numpy.uint8], dict(order='C', device='cpu', writable=False)], threads: int = 0) -> int:
    """
    Stream-read a buffer (memory-bandwidth probe for benchmarks); returns a checksum.
    """

def correlation_f16(vectors: Annotated[NDArray[numpy.uint16], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], query: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], path: str = 'auto') -> Annotated[NDArray[numpy.float64], dict(shape=(None,))]:
    """
    Correlation of the query with each listed float16 row (given as uint16 bits); each row computed alone, so results never depend on which rows come with it.
    """

def correlation_f16_many(vectors: Annotated[NDArray[numpy.uint16], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], offsets: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], queries: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], path: str = 'auto') -> Annotated[NDArray[numpy.float64], dict(shape=(None,))]:
    """
    correlation_f16 for many queries in one call: query t re-scores rows[offsets[t]:offsets[t+1]].
    """

def scan_topk(queries: Annotated[NDArray[numpy.uint64], dict(shape=(None, None), order='C', device='cpu', writable=False)], packed: Annotated[NDArray[numpy.uint8], dict(shape=(None, None, None), order='C', device='cpu', writable=False)], valid: Annotated[NDArray[numpy.uint64], dict(shape=(None,), order='C', device='cpu', writable=False)], k: int, threads: int = 0, path: str = 'auto') -> tuple:
    """
    Exact Hamming top-k with a fused selection; ties keep the smaller row. Returns (dist uint32[Q, k'], row int64[Q, k']) with k' = min(k, live rows).
    """

def adaptive_cuts(key: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu', writable=False)], rho: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu', writable=False)], offsets: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], k: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> tuple:
    """
    The adaptive pool's cut for many queries (core.asymmetric.adaptive_cut): (cut int64[Q], -1 where none proves it; kth float64[Q], the k-th best rho where unproven).
    """

def adaptive_pool(key: Annotated[NDArray[numpy.float64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], complete: bool, k: int, vectors: Annotated[NDArray[numpy.uint16], dict(shape=(None, None), order='C', device='cpu', writable=False)], queries: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], threads: int = 0, path: str = 'auto') -> tuple:
    """
    The adaptive pool for many queries (core.candidates): rows re-scored in key order up to the shortest prefix the bound proves. Returns (cut int64[Q], -1 where the fetched rows ran out; rho float64[Q, width], the re-scored ones filled; kth float64[Q], the k-th best rho of the cut's rows, -inf where fewer or no cut).
    """

def asym_topk(levels: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], scale: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], level_sum: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], packed: Annotated[NDArray[numpy.uint8], dict(shape=(None, None, None), order='C', device='cpu', writable=False)], valid: Annotated[NDArray[numpy.uint64], dict(shape=(None,), order='C', device='cpu', writable=False)], alpha: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], sigma: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], pop: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], eps: float, k: int, threads: int = 0, path: str = 'auto') -> tuple:
    """
    Exact top-k by the asymmetric estimator's key (largest first, ties to the smaller row). Returns (key float32[Q, k'], row int64[Q, k']) with k' = min(k, live rows).
    """
