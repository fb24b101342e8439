"""Disk-full in one typed error: ENOSPC, EDQUOT and EFBIG from the OS and SQLITE_FULL from
SQLite all become :class:`DiskFull` (507), whatever layer of a write hit them."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bitsift.core.errors import DiskFull

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


@contextmanager
def disk_errors(where: Path) -> Iterator[None]:
    """Turn a disk-full failure of the enclosed write into :class:`DiskFull` naming ``where``."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_disk_full(exc):
            raise DiskFull(f"no space left for {where.name}: free disk space (or raise the file-size limit) "
                           f"and retry; nothing of this write was kept") from exc
        raise
