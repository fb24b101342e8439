"""Shared fixtures: seeded random codes and vectors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from bitsift.core import kernel

pytest_plugins = ["livesrv"]  # live_server / live_app fixtures: real uvicorn on 127.0.0.1


def available_paths() -> list[str]:
    caps = kernel.capabilities()
    return [p for p in ("scalar", "avx2", "avx512") if caps.get(p)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_codes(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64 - 1, size=(n, words), dtype=np.uint64, endpoint=True)


def folder_digest(path) -> str:
    """Hash of a namespace's row files and manifest: equal before and after = nothing written."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.name in ("codes.u64", "vectors.f16", "manifest.json"):
            h.update(f.read_bytes())
    return h.hexdigest()
