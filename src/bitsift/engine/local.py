"""The engine: one data directory of namespaces, and exact search across them."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core import scoring
from bitsift.core.binarize import Centered, make_binarizer
from bitsift.core.errors import DimensionMismatch, InvalidInput, NamespaceBusy, NamespaceExists, NamespaceNotFound
from bitsift.core.filters import compile_filter
from bitsift.core.ranking import Ranked, rank
from bitsift.core.validate import check_name, check_threshold, check_top_k, check_vectors
from bitsift.engine.namespace import Namespace, check_type, new_manifest, open_namespace

TRASH_PREFIX = ".trash-"
DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP = 1000, 200
MODES = ("binary", "rescore")
DEFAULT_MODE = "rescore"  # measured: 100% of exact-float nDCG@10 on all three collections (benchmarks/README.md)
DEFAULT_OVERSAMPLE = 10


def get_embedder(name: str | None):  # imported on first use: vector-only users never load ONNX
    from bitsift.text.embed import get_embedder as load

    return load(name)


class Engine:
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
                ns = self._open[name] = open_namespace(folder)
            return ns

    def create_namespace(
        self,
        name: str,
        type: str = "vector",
        dimension: int | None = None,
        binarizer: str = "mib",
        model: str | None = None,
        center: Sequence[float] | None = None,
        shards: int | None = None,
    ) -> dict[str, Any]:
        check_name(name)
        check_type(type)
        if shards not in (None, 1):
            raise InvalidInput("sharded namespaces need a Ray-backed engine: Client(ray=..., path=...) "
                               "or bitsift serve --ray ADDRESS")
        if type == "text":
            embedder = get_embedder(model)
            model = embedder.name
            if dimension is not None and dimension != embedder.dimension:
                raise DimensionMismatch(f"model {model} embeds in {embedder.dimension} dimensions, not {dimension}")
            dimension = embedder.dimension
        elif model is not None:
            raise InvalidInput("model is only meaningful for text namespaces")
        if isinstance(dimension, bool) or not isinstance(dimension, int) or not 1 <= dimension <= 3072:
            raise InvalidInput(f"dimension must be an integer from 1 to 3072, got {dimension!r}")
        bin_ = make_binarizer(binarizer)
        if center is not None:
            if not isinstance(bin_, Centered):
                raise InvalidInput("center is only meaningful with binarizer='centered' or 'centered_mib'")
            vec = check_vectors(center, dimension, "center")[0]
            bin_ = bin_.__class__(tuple(float(v) for v in vec))  # `type` is the namespace type here
        with self._lock:
            folder = self.root / name
            if folder.exists():
                raise NamespaceExists(f"namespace {name!r} already exists")
            self._open[name] = Namespace.create(folder, new_manifest(type, dimension, bin_, model))
            return self._open[name].describe()

    def describe_namespace(self, name: str) -> dict[str, Any]:
        return self.namespace(name).describe()

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self.namespace(name).diagnostics()

    def list_namespaces(self) -> list[dict[str, Any]]:
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
        if ns.manifest["type"] == "text":
            raise InvalidInput(f"namespace {name!r} is a text namespace: upload documents, not vectors")
        return ns.upsert(items)

    def upload_documents(self, name: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Chunk, embed and upsert documents into a text namespace; re-uploading a document
        replaces all of its earlier chunks in the same commit."""
        ns = self.namespace(name)
        if ns.manifest["type"] != "text":
            raise InvalidInput(f"namespace {name!r} is a vector namespace: upload vectors, not documents")
        items, parents, count = embed_documents(documents, ns.manifest["model"], self.chunk_size, self.chunk_overlap)
        ns.upsert(items, parents=parents)
        return {"status": "success", "uploaded": count, "chunks": len(items)}

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self.namespace(name).get(ids, include_vectors)

    def delete(self, name: str, ids: Sequence[Any]) -> list[str]:
        return self.namespace(name).delete(ids)

    def search(
        self,
        namespaces: Sequence[str] | str,
        query: Any,
        top_k: int = 10,
        threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        kiosk_mode: bool = False,
        mode: str | None = None,
        oversample: int | None = None,
        partial: bool = False,
    ) -> dict[str, Any]:
        """Top-k over one or more namespaces, merged as if they were one.

        ``mode`` "binary" ranks by the ITS of the bit codes (exact, paper-faithful);
        "rescore" re-scores the ``top_k * oversample`` best binary candidates (and any tied
        with the last of them) from their float vectors, on the same ITS scale. Candidates
        are ranked by score, then a tiebreak (Hamming distance, or higher correlation), then
        id, then namespace order (ranking.py); the results are ordered by score, then id.
        ``threshold`` drops results scoring below it in every mode; ``kiosk_mode``
        is accepted for compatibility and changes nothing; so is ``partial`` (one machine
        has no shards to lose; see bitsift.distributed).
        """
        t0 = time.perf_counter()
        names = search_names(namespaces)
        k, threshold, mode, oversample = check_search(top_k, threshold, mode, oversample, filter)
        spaces = [self.namespace(n) for n in names]
        q = query_vector(query, [ns.manifest for ns in spaces])
        t1 = time.perf_counter()
        for _ in range(_LAYOUT_RETRIES):
            for ns in spaces:
                ns.refresh_if_stale()
            with ExitStack() as held:  # rows keep their numbering from scan to fetch
                states = [held.enter_context(ns.reading()) for ns in spaces]
                parts = [ns.scan(q, k, filter, mode=mode, oversample=oversample)[0] for ns in spaces]
                t2 = time.perf_counter()
                ranked = rank(parts, k, lambda i, rows: _ids(spaces[i], rows),
                              pool=k * oversample if mode == "rescore" else None, threshold=threshold)
                results = _fetch(spaces, ranked)
            if results is not None and not any(ns.layout_changed(st.epoch) for ns, st in zip(spaces, states)):
                break
        else:
            raise NamespaceBusy("namespaces were compacted during every search attempt; try again")
        results.sort(key=lambda r: (-r["score"], r["id"], r["namespace"]))
        t3 = time.perf_counter()
        return {
            "results": results,
            "execution_time": t3 - t0,
            "mode": mode,
            "timings": {
                "validate_ms": (t1 - t0) * 1e3,
                "scan_ms": (t2 - t1) * 1e3,
                "fetch_ms": (t3 - t2) * 1e3,
                "total_ms": (t3 - t0) * 1e3,
            },
        }

    def compact(self, name: str) -> dict[str, int]:
        return self.namespace(name).compact()


_LAYOUT_RETRIES = 3


def embed_documents(documents: Sequence[dict[str, Any]], model: str | None, chunk_size: int,
                    chunk_overlap: int) -> tuple[list[dict[str, Any]], list[str], int]:
    """Validate, chunk and embed documents: (items to upsert, each item's document id, documents)."""
    from bitsift.text.documents import chunk_documents

    chunks = chunk_documents(documents, chunk_size, chunk_overlap)
    vectors = get_embedder(model).encode(chunks.texts)
    items = [{"id": i, "vector": v, "text": t, "metadata": m}
             for i, v, t, m in zip(chunks.ids, vectors, chunks.texts, chunks.metadata)]
    return items, chunks.parents, chunks.documents


def search_names(namespaces: Sequence[str] | str) -> list[str]:
    """The namespaces a search names, each once, in the order given (that order breaks ties)."""
    names = [namespaces] if isinstance(namespaces, str) else list(namespaces)
    if not names:
        raise InvalidInput("namespaces must name at least one namespace")
    return list(dict.fromkeys(names))


def check_search(top_k: Any, threshold: Any, mode: Any, oversample: Any,
                 filter: Any) -> tuple[int, float | None, str, int]:
    """Validated (top_k, threshold, mode, oversample), defaults applied; shared by every engine."""
    k = check_top_k(top_k)
    threshold = check_threshold(threshold)
    mode = DEFAULT_MODE if mode is None else mode
    if mode not in MODES:
        raise InvalidInput(f"unknown search mode {mode!r}; valid: {', '.join(MODES)}")
    oversample = DEFAULT_OVERSAMPLE if oversample is None else oversample
    if isinstance(oversample, bool) or not isinstance(oversample, int) or not 1 <= oversample <= 1000:
        raise InvalidInput(f"oversample must be an integer from 1 to 1000, got {oversample!r}")
    if filter is not None:
        if not isinstance(filter, dict):
            raise InvalidInput("filter must be a JSON object")
        compile_filter(filter)  # a malformed filter fails here, before any scan
    return k, threshold, mode, oversample


def query_vector(query: Any, manifests: Sequence[dict[str, Any]]) -> np.ndarray:
    """The query as float32[1, D] for namespaces with these manifests: a vector is validated
    against their common dimension, a text is embedded with their common model."""
    dims = {m["dimension"] for m in manifests}
    if len(dims) > 1:
        raise DimensionMismatch(f"namespaces have different dimensions {sorted(dims)}; search them separately")
    if isinstance(query, str):
        models = {m.get("model") for m in manifests}
        if any(m["type"] != "text" for m in manifests):
            raise InvalidInput("a text query needs text namespaces; send a vector to search vector namespaces")
        if len(models) > 1:
            raise InvalidInput(f"namespaces use different models {sorted(models)}; search them separately")
        if not query.strip():
            raise InvalidInput("query text is empty")
        query = get_embedder(models.pop()).encode([query])
    q = check_vectors(query, dims.pop(), "query")
    if q.shape[0] != 1:
        raise InvalidInput("query must be a single vector")
    return q


def _ids(ns: Namespace, rows: np.ndarray) -> list[str]:
    info = ns.items.fetch(rows.tolist())
    return [info[int(r)][0] for r in rows]


def _fetch(spaces: list[Any], ranked: Ranked) -> list[dict[str, Any]] | None:
    """id, text and metadata of the ranked rows; None if a row vanished (renumbered elsewhere)."""
    results = []
    for i, ns in enumerate(spaces):
        picked = np.flatnonzero(ranked.parts == i)
        info = ns.items.fetch(ranked.rows[picked].tolist())
        for j in picked:
            row = int(ranked.rows[j])
            if row not in info:
                return None
            id_, text, meta = info[row]
            s = float(ranked.scores[j])
            results.append({"id": id_, "score": s, "label": scoring.label(s), "text": text,
                            "metadata": json.loads(meta), "namespace": ns.name})
    return results
