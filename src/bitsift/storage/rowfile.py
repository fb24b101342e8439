"""Append-only files of fixed-width rows, read through a memory map.

Only rows below the committed count (kept in SQLite) exist: anything past it
is an interrupted append and is cut off on open or before the next append.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bitsift.core.errors import StorageCorrupt


class RowFile:
    def __init__(self, path: Path, dtype: np.dtype, cols: int) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.cols = cols
        self.row_bytes = self.dtype.itemsize * cols

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            raise StorageCorrupt(f"{self.path} is missing") from None

    def require(self, rows: int) -> None:
        """Raise StorageCorrupt unless the file holds ``rows`` rows: reading a memory map past the
        end of a file cut outside bitsift would kill the process with SIGBUS (one stat)."""
        size = self.size()
        if size < rows * self.row_bytes:
            raise StorageCorrupt(f"{self.path} holds {size} bytes but {rows} rows are committed")

    def truncate(self, rows: int) -> None:
        """Cut the file to ``rows`` rows (recovery after a crash mid-append)."""
        size = self.size()
        want = rows * self.row_bytes
        if size < want:
            raise StorageCorrupt(f"{self.path} holds {size} bytes but {rows} rows are committed")
        if size != want:
            with open(self.path, "r+b") as f:
                f.truncate(want)
                os.fsync(f.fileno())

    def append(self, committed_rows: int, data: np.ndarray) -> None:
        """Write rows after the committed ones and fsync; they count once SQLite commits."""
        block = np.ascontiguousarray(data, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.cols:
            raise ValueError(f"expected rows of {self.cols} values, got shape {block.shape}")
        fd = os.open(self.path, os.O_RDWR)
        try:
            offset = committed_rows * self.row_bytes
            os.ftruncate(fd, offset)
            view = block.data.cast("B")
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, rows: int) -> np.ndarray:
        """Memory-mapped view of the first ``rows`` rows (nothing is loaded until touched)."""
        if rows == 0:
            return np.zeros((0, self.cols), self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(rows, self.cols))

    def write_new(self, path: Path, data: np.ndarray) -> None:
        """Write a complete replacement file (used by compaction), fsynced."""
        with open(path, "wb") as f:
            f.write(np.ascontiguousarray(data, dtype=self.dtype).tobytes())
            f.flush()
            os.fsync(f.fileno())
