"""Disk-full in one typed error: ENOSPC, EDQUOT and EFBIG from the OS and SQLITE_FULL from
SQLite all become :class:`DiskFull` (507), whatever layer of a write hit them."""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bitsift.core.errors import DiskFull

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


SHORT_SPACE_BYTES = 8 << 20  # below this much free space, a failed SQLite write is taken as full
_SQLITE_WRITE_ERRORS = {sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC, sqlite3.SQLITE_IOERR_TRUNCATE,
                        sqlite3.SQLITE_IOERR_SHMSIZE}


def is_disk_full(exc: BaseException, where: Path) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
            return True
        # SQLite reports EFBIG (and ENOSPC on some paths) as a plain I/O error without the
        # errno: call it full when space or the file-size limit is what ran out.
        return code in _SQLITE_WRITE_ERRORS and _space_is_short(where)
    return False


def _space_is_short(where: Path) -> bool:
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return True
    try:
        stat = os.statvfs(where if where.exists() else where.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < SHORT_SPACE_BYTES


@contextmanager
def disk_errors(where: Path, release: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Turn a disk-full failure of the enclosed write into :class:`DiskFull` naming ``where``;
    ``release`` then gives back what the failed write still holds (SQLite's WAL keeps the frames
    of a rolled-back transaction, so the space would stay used until the next checkpoint)."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_disk_full(exc, where):
            try:
                release()
            except (OSError, sqlite3.Error):
                pass  # best effort: the 507 stands either way
            raise DiskFull(f"no space left for {where.name}: free disk space (or raise the file-size limit) "
                           f"and retry; nothing of this write was kept") from exc
        raise
