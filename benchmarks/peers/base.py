"""The one interface every benchmarked system implements.

Row ``i`` of the vectors handed to :meth:`Adapter.build` has id ``i``; every search
returns those integer ids, best first, so recall and nDCG are computed the same way
for every system. Vectors are float32 and L2-normalised: inner product == cosine.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np


class Searcher(abc.ABC):
    """One client's handle: concurrency tests give each client thread its own."""

    @abc.abstractmethod
    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        """int64 ids of the k nearest rows (fewer only if the system returned fewer), best first."""

    def close(self) -> None:
        """Release this client's connection, if it has one."""


class Adapter(Searcher):
    """A system under test.

    ``name`` is unique in a report; ``kind`` is "in-process" or "server" (a separate
    process reached over a socket); ``exact`` says whether it promises exact top-k.
    Constructor keyword arguments come from the suite file and are reported verbatim.
    """

    name: str = ""
    kind: str = "in-process"
    exact: bool = False
    sweep_param: str | None = None  # the knob trading speed for recall (ef_search, oversample...)

    def __init__(self, **params: Any) -> None:
        self.params = params

    @abc.abstractmethod
    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        """Ingest ``vectors`` (float32[n, d], unit rows, id = row) and build any index.
        ``workdir`` is an empty folder this adapter may use; it is deleted afterwards."""

    # Graphs that take many minutes to build can be kept between runs (runner ``--index-cache``):
    # an adapter that can save and reload its index says so here.
    cacheable: bool = False

    def save(self, folder: Path) -> None:
        """Write the built index into ``folder`` (only where :attr:`cacheable`)."""
        raise NotImplementedError(f"{self.name} keeps no index cache")

    def load(self, folder: Path, vectors: np.ndarray, workdir: Path) -> None:
        """Instead of :meth:`build`: read the index :meth:`save` wrote for the same vectors."""
        raise NotImplementedError(f"{self.name} keeps no index cache")

    def configure(self, value: Any) -> None:
        """Set :attr:`sweep_param` for the searches that follow."""
        if self.sweep_param is not None:
            raise NotImplementedError(f"{self.name} does not implement configure()")

    def search_batch(self, queries: np.ndarray, k: int) -> np.ndarray:
        """int64[nq, k], padded with -1. Systems with a native batch call override this."""
        out = np.full((len(queries), k), -1, dtype=np.int64)
        for i, q in enumerate(queries):
            ids = self.search(q, k)
            out[i, : len(ids)] = ids
        return out

    def client(self) -> Searcher:
        """A handle for one concurrent client. In-process libraries that are thread-safe
        share themselves; servers open a new connection."""
        return self

    def server_times_ms(self, queries: np.ndarray, k: int) -> list[float] | None:
        """Server-side time of each query, where the server reports it; None otherwise."""
        return None

    def index_bytes(self) -> int:
        """Bytes the built index/collection takes (serialised, on disk, or as the system reports)."""
        return 0

    def settings(self) -> dict[str, Any]:
        """Every setting that affects the numbers, for the report."""
        return dict(self.params)

    def close(self) -> None:
        """Tear everything down (stop servers, free memory)."""
