"""bitsift in process (``Client(path=...)``) and through ``bitsift serve`` (``Client(url=...)``).

Both go through the whole product path (validation, scan, float re-scoring, SQLite
fetch of ids), not the bare kernel, since that is what a user gets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import bitsift
import bitsift.core.kernel

from .base import Adapter, Searcher
from .procs import folder_bytes, free_port, wait_ready

NAMESPACE = "bench"
BATCH = 10_000


def load_namespace(vectors: np.ndarray, data: Path, binarizer: str) -> None:
    with bitsift.Client(path=data) as c:
        c.create_namespace(NAMESPACE, dimension=vectors.shape[1], binarizer=binarizer)
        for s in range(0, len(vectors), BATCH):
            c.upload_vectors(NAMESPACE, [{"id": str(i), "vector": vectors[i]}
                                         for i in range(s, min(s + BATCH, len(vectors)))])


class _Search(Searcher):
    def __init__(self, client: Any, mode: str, oversample: int | None) -> None:
        self.c, self.mode, self.oversample = client, mode, oversample
        self.last_server_ms: float | None = None

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        res = self.c.search(NAMESPACE, query, top_k=k, mode=self.mode, oversample=self.oversample)
        self.last_server_ms = res["timings"].get("server_ms")
        return np.fromiter((int(r["id"]) for r in res["results"]), dtype=np.int64)

    def close(self) -> None:
        self.c.close()


class BitsiftLocal(Adapter):
    """Params: mode ("rescore" | "binary"), oversample (rescore only: an integer, or None / "auto" for
    the adaptive pool, bitsift's default), binarizer (default mib)."""

    kind = "in-process"

    def __init__(self, mode: str = "rescore", oversample: int | None = None, binarizer: str = "mib", **params: Any) -> None:
        super().__init__(mode=mode, oversample=oversample, binarizer=binarizer, **params)
        self.mode, self.oversample, self.binarizer = mode, oversample, binarizer
        self.name = f"bitsift-{mode}"
        self.sweep_param = "oversample" if mode == "rescore" else None
        self.data: Path | None = None
        self._client: Any = None

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        self.data = workdir / "data"
        load_namespace(vectors, self.data, self.binarizer)
        self._client = bitsift.Client(path=self.data)

    def configure(self, value: Any) -> None:
        if self.mode == "rescore":
            self.oversample = None if value in (None, "auto") else int(value)

    def _searcher(self) -> _Search:
        return _Search(self._client, self.mode, self.oversample if self.mode == "rescore" else None)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self._searcher().search(query, k)

    def client(self) -> Searcher:
        s = self._searcher()
        s.close = lambda: None  # the engine is shared and thread-safe
        return s

    def index_bytes(self) -> int:
        return folder_bytes(self.data) if self.data else 0

    def settings(self) -> dict[str, Any]:
        return {**self.params, "oversample": self.oversample if self.mode == "rescore" else None,
                "kernel": bitsift.core.kernel.capabilities(),
                "version": bitsift.__version__}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class BitsiftHTTP(BitsiftLocal):
    """The same namespace served by ``bitsift serve`` in a separate process on 127.0.0.1."""

    kind = "server"

    def __init__(self, mode: str = "rescore", oversample: int | None = None, binarizer: str = "mib", **params: Any) -> None:
        super().__init__(mode=mode, oversample=oversample, binarizer=binarizer, **params)
        self.name = f"bitsift-http-{mode}"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        self.data = workdir / "data"
        load_namespace(vectors, self.data, self.binarizer)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "bitsift.cli.main", "serve", "--path", str(self.data),
                                      "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.url, self.proc)
        self._client = bitsift.Client(url=self.url)

    def client(self) -> Searcher:
        return _Search(bitsift.Client(url=self.url), self.mode, self.oversample if self.mode == "rescore" else None)

    def server_times_ms(self, queries: np.ndarray, k: int) -> list[float]:
        s = self._searcher()
        times = []
        for q in queries:
            s.search(q, k)
            times.append(float(s.last_server_ms))
        return times

    def close(self) -> None:
        super().close()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
