"""One writer per namespace across processes (flock), many readers."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bitsift.core.errors import NamespaceGone, NamespaceLocked


@contextmanager
def writer_lock(path: Path, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` for the duration of one write."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise NamespaceGone(f"namespace {path.parent.name!r} was deleted") from None
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= timeout_s:
                    raise NamespaceLocked(f"another process is writing to {path.parent.name}") from None
                threading.Event().wait(0.01)
                waited += 0.01
        yield
    finally:
        os.close(fd)  # closing releases the lock


class ReadWriteLock:
    """Many concurrent searches, or one operation that renumbers rows (compaction)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
