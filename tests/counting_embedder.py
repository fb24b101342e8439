"""A small fast embedder for ingestion tests (the bundled model is too slow to kill 20 times):
deterministic unit vectors from each text's hash, and one line per ``encode`` call appended to
a log file (``BITSIFT_TEST_EMBED_LOG``) with the pid and a digest of every text, so a test
counts the embeddings from outside the process that made them, across SIGKILLs."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

import numpy as np

NAME = "counting-test"
DIMENSION = 32
LOG_ENV = "BITSIFT_TEST_EMBED_LOG"
DELAY_ENV = "BITSIFT_TEST_EMBED_DELAY_S"


def digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class CountingEmbedder:
    name, dimension = NAME, DIMENSION

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        log = os.environ.get(LOG_ENV)
        if log:  # one write(2) per call: in the file once it returns, whatever kills the process
            line = f"{os.getpid()} {' '.join(digest(t) for t in texts)}\n".encode()
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        time.sleep(float(os.environ.get(DELAY_ENV, "0")))
        seeds = [int(digest(t), 16) % 2**32 for t in texts]
        x = np.stack([np.random.default_rng(s).standard_normal(DIMENSION) for s in seeds]).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def register() -> None:
    from bitsift.text import embed

    embed.EMBEDDERS[NAME] = CountingEmbedder  # type: ignore[assignment]
    embed._cache.pop(NAME, None)


def calls(log: str | os.PathLike[str]) -> list[tuple[int, list[str]]]:
    """(pid, digests) of every logged call, in order."""
    out = []
    with open(log) as f:
        for line in f:
            pid, *digests = line.split()
            out.append((int(pid), digests))
    return out
