"""manifest.json: what a namespace is (format version, type, dimension, binarizer)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bitsift.core.errors import StorageCorrupt

FORMAT_VERSION = 4  # 2: an incarnation id in manifest and SQLite; 3: the keyword index; 4: corrective
#                    scalars per row (correctives.f32) for the asymmetric first stage (ARCHITECTURE.md)
READABLE_VERSIONS = (1, 2, 3, 4)  # older versions are migrated on their first write (storage.folder)
MANIFEST = "manifest.json"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so a crash leaves either the old or the new content, never a mix."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_atomic(folder / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise StorageCorrupt(f"cannot read {folder / MANIFEST}: {exc}") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version not in READABLE_VERSIONS:
        raise StorageCorrupt(f"{folder / MANIFEST} has format version {version!r}; this bitsift reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
    missing = [k for k, kind in _REQUIRED.items() if not isinstance(manifest.get(k), kind)]
    if missing:
        raise StorageCorrupt(f"{folder / MANIFEST} lacks valid fields {missing}")
    return manifest


_REQUIRED = {"type": str, "dimension": int, "words": int, "binarizer": str}
