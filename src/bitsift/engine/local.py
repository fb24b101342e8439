"""The engine: one data directory of namespaces, and exact search across them."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core.candidates import Answer
from bitsift.core.errors import InvalidInput, NamespaceExists, NamespaceNotFound
from bitsift.core.results import NamespaceInfo, SearchResponse
from bitsift.core.validate import check_name
from bitsift.engine import pipeline
from bitsift.engine.front import ParsedFront
from bitsift.engine.namespace import Namespace
from bitsift.engine.request import NamespaceRequest, SearchRequest, get_embedder, new_namespace_manifest
from bitsift.storage.folder import Row

TRASH_PREFIX = ".trash-"
DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP = 1000, 200


class Engine(ParsedFront):
    """Thread-safe; namespaces open lazily and stay open until ``close()``."""

    def __init__(self, path: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> None:
        self.root = Path(path)
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Namespace] = {}
        self._lock = threading.Lock()
        for stale in self.root.glob(TRASH_PREFIX + "*"):  # a delete interrupted by a crash
            shutil.rmtree(stale, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            for ns in self._open.values():
                ns.close()
            self._open.clear()

    def namespace(self, name: str) -> Namespace:
        check_name(name)
        with self._lock:
            ns = self._open.get(name)
            if ns is None:
                folder = self.root / name
                if not folder.is_dir():
                    raise NamespaceNotFound(f"namespace {name!r} does not exist")
                ns = self._open[name] = Namespace(folder)
            return ns

    def _create_parsed(self, request: NamespaceRequest) -> NamespaceInfo:
        if request.shards not in (None, 1):
            raise InvalidInput("sharded namespaces need a Ray-backed engine: Client(ray=..., path=...) "
                               "or bitsift serve --ray ADDRESS")
        manifest = new_namespace_manifest(request)
        with self._lock:
            folder = self.root / request.name
            if folder.exists():
                raise NamespaceExists(f"namespace {request.name!r} already exists")
            self._open[request.name] = Namespace.create(folder, manifest)
            return self._open[request.name].describe()

    def describe_namespace(self, name: str) -> NamespaceInfo:
        return self.namespace(name).describe()

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self.namespace(name).diagnostics()

    def list_namespaces(self) -> list[NamespaceInfo]:
        names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [self.namespace(n).describe() for n in names]

    def delete_namespace(self, name: str) -> None:
        check_name(name)
        with self._lock:
            folder = self.root / name
            if not folder.is_dir():
                raise NamespaceNotFound(f"namespace {name!r} does not exist")
            ns = self._open.pop(name, None)
            if ns is not None:
                ns.close()
            trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
            folder.rename(trash)  # atomic: the name is gone at once
        shutil.rmtree(trash, ignore_errors=True)

    def upsert(self, name: str, items: Sequence[dict[str, Any]]) -> int:
        ns = self.namespace(name)
        require_type(ns.manifest, name, "vector")
        return ns.upsert(items)

    def upload_documents(self, name: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Chunk, embed and upsert documents into a text namespace; re-uploading a document
        replaces all of its earlier chunks in the same commit."""
        ns = self.namespace(name)
        require_type(ns.manifest, name, "text")
        items, parents, count = embed_documents(documents, ns.manifest["model"], self.chunk_size, self.chunk_overlap)
        ns.upsert(items, parents=parents)
        return {"status": "success", "uploaded": count, "chunks": len(items)}

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self.namespace(name).get(ids, include_vectors)

    def delete(self, name: str, ids: Sequence[Any]) -> list[str]:
        return self.namespace(name).delete(ids)

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        """One response per query: the top-k over the request's namespaces, merged as if they
        were one (engine.pipeline; ranking rule in core.ranking)."""
        return pipeline.search(request, _LocalParts([self.namespace(n) for n in request.names]))

    def compact(self, name: str) -> dict[str, int]:
        return self.namespace(name).compact()


class _LocalParts:
    """The pipeline's parts on one machine: one per namespace, answered in this thread."""

    def __init__(self, spaces: list[Namespace]) -> None:
        self.spaces = spaces
        self.manifests = [ns.manifest for ns in spaces]
        self.namespaces = [ns.name for ns in spaces]

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> tuple[list[Answer | None], list[str]]:
        return [ns.candidates(queries, request) for ns in self.spaces], []

    def fetch(self, asks: Mapping[int, tuple[list[int], int]]) -> dict[int, dict[int, Row] | None]:
        return {i: self.spaces[i].fetch(rows, epoch) for i, (rows, epoch) in asks.items()}

    def response_fields(self, request: SearchRequest, missing: list[str]) -> dict[str, Any]:
        return {}  # one machine has no shards to lose: ``partial`` changes nothing


def require_type(manifest: Mapping[str, Any], name: str, wanted: str) -> None:
    """Vectors go to vector namespaces, documents to text namespaces."""
    if manifest["type"] == wanted:
        return
    if wanted == "vector":
        raise InvalidInput(f"namespace {name!r} is a text namespace: upload documents, not vectors")
    raise InvalidInput(f"namespace {name!r} is a vector namespace: upload vectors, not documents")


def embed_documents(documents: Sequence[dict[str, Any]], model: str | None, chunk_size: int,
                    chunk_overlap: int) -> tuple[list[dict[str, Any]], list[str], int]:
    """Validate, chunk and embed documents: (items to upsert, each item's document id, documents)."""
    from bitsift.text.documents import chunk_documents

    chunks = chunk_documents(documents, chunk_size, chunk_overlap)
    vectors = get_embedder(model).encode(chunks.texts)
    items = [{"id": i, "vector": v, "text": t, "metadata": m}
             for i, v, t, m in zip(chunks.ids, vectors, chunks.texts, chunks.metadata)]
    return items, chunks.parents, chunks.documents
