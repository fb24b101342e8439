"""A search request, parsed and validated once, whatever door it came in by (Python, REST, CLI)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bitsift.core.binarize import make_binarizer
from bitsift.core.bm25 import KeywordQuery
from bitsift.core.errors import DimensionMismatch, InvalidInput
from bitsift.core.filters import both, check_filter, query_text_filter
from bitsift.core.grouping import check_grouping
from bitsift.core.spec import (
    ADAPTIVE_OVERSAMPLE,
    DEFAULT_FUSION,
    DEFAULT_KEYWORD_WEIGHT,
    DEFAULT_MODE,
    FUSION_DEPTH,
    FUSIONS,
    KEYWORD_MODES,
    MAX_BATCH_QUERIES,
    MAX_DIMENSION,
    MAX_OVERSAMPLE,
    MAX_SHARDS,
    MAX_TOP_K,
    NAMESPACE_TYPES,
    SEARCH_MODES,
    resolve_type,
)
from bitsift.core.validate import MAX_TEXT_CHARS, check_name, check_threshold, check_top_k, check_utf8, check_vectors
from bitsift.storage.folder import new_manifest
from bitsift.text.documents import RESERVED


def get_embedder(name: str | None) -> Any:  # imported on first use: vector-only users never load ONNX
    from bitsift.text.embed import get_embedder as load

    return load(name)


def embed_queries(model: str | None, texts: list[str]) -> np.ndarray:
    from bitsift.text.embed import embed_queries as embed

    return embed(model, texts)


@dataclass(frozen=True)
class QueryParams:
    """What a query asks of the ranking: how many hits, from which score, from how wide a pool."""

    top_k: int
    threshold: float | None
    oversample: int


@dataclass(frozen=True)
class SearchRequest:
    """Namespaces, Q queries and the parameters they share; ``single`` marks ``search`` (one
    query, errors name "query") as opposed to ``search_batch`` (errors name "queries[i]").

    A coalesced pass (engine.coalesce) merges searches whose ``top_k``, ``threshold`` or
    ``oversample`` differ: ``per_query`` then holds each query's own, and the shared fields are
    what the scan needs to serve them all (the largest k and pool), since a larger scan's
    candidates are a superset of a smaller one's."""

    names: tuple[str, ...]  # each once, in the order given (that order breaks ties)
    queries: tuple[Any, ...]  # as sent: a text, or a vector
    top_k: int
    threshold: float | None
    filter: dict[str, Any] | None
    mode: str
    oversample: int
    partial: bool
    single: bool
    started: float = field(default_factory=time.perf_counter, compare=False)
    per_query: tuple[QueryParams, ...] | None = None  # each query's own parameters (a merged pass)
    keyword_texts: tuple[str, ...] | None = None  # keyword and hybrid modes: each query's words
    fusion: str = DEFAULT_FUSION                # hybrid mode (core.fusion)
    keyword_weight: float = DEFAULT_KEYWORD_WEIGHT
    keywords: tuple[KeywordQuery, ...] | None = None  # keyword_texts with the collection's statistics
    group_by: str | None = None  # a metadata field: the best hits per value (core.grouping)
    group_size: int = 1

    @property
    def keyword_mode(self) -> bool:
        return self.mode in KEYWORD_MODES

    @property
    def depth(self) -> int:
        """Candidates each ranking offers: top_k, or for a fusion max(top_k, FUSION_DEPTH)."""
        return max(self.top_k, FUSION_DEPTH) if self.keyword_mode else self.top_k

    @property
    def adaptive(self) -> bool:
        """Rescore (and hybrid) mode with the pool the first stage's error bound picks (the default)."""
        return self.mode in ("rescore", "hybrid") and self.oversample == ADAPTIVE_OVERSAMPLE

    @property
    def pool(self) -> int | None:
        """Rescore (and hybrid) mode with a fixed oversample re-scores whole distance groups of at
        least this many first-stage candidates; None where there is no fixed pool."""
        if self.adaptive:
            return None
        if self.mode == "hybrid":
            return self.depth * self.oversample
        return self.top_k * self.oversample if self.mode == "rescore" else None

    def ranking(self) -> tuple[int | np.ndarray, int | np.ndarray | None, float | np.ndarray | None]:
        """(k, pool, threshold) for ``core.ranking.rank``: shared values, or per query (int64,
        int64, float64 with -inf for no threshold) for a merged pass."""
        if self.per_query is None:
            return self.top_k, self.pool, self.threshold
        ks = np.array([p.top_k for p in self.per_query], np.int64)
        pools = ks * np.array([p.oversample for p in self.per_query], np.int64) \
            if self.mode == "rescore" and not self.adaptive else None
        floors = np.array([-np.inf if p.threshold is None else p.threshold for p in self.per_query], np.float64)
        return ks, pools, floors

    def params(self) -> QueryParams:
        return QueryParams(self.top_k, self.threshold, self.oversample)

    def deeper(self, factor: int) -> SearchRequest:
        """The same search asking ``factor`` times as many hits per query (at most MAX_TOP_K): a
        grouped search reads a deeper list until its groups are settled."""
        def more(k: int) -> int:
            return min(k * factor, MAX_TOP_K)
        if self.per_query is None:
            return replace(self, top_k=more(self.top_k))
        own = tuple(replace(p, top_k=more(p.top_k)) for p in self.per_query)
        return replace(self, top_k=max(p.top_k for p in own), per_query=own)

    def own_top_k(self, i: int) -> int:
        return self.top_k if self.per_query is None else self.per_query[i].top_k

    def where(self, i: int) -> str:
        return "query" if self.single else f"queries[{i}]"


def parse_search(namespaces: Sequence[str] | str, queries: Sequence[Any], *, top_k: Any, threshold: Any,
                 filter: Any, kiosk_mode: Any, mode: Any, oversample: Any, partial: Any,
                 single: bool, keywords: Any = None, fusion: Any = None, keyword_weight: Any = None,
                 group_by: Any = None, group_size: Any = None) -> SearchRequest:
    """Validate everything that does not need the namespaces opened. ``kiosk_mode`` is accepted
    for compatibility and changes nothing: ``threshold`` gates in every mode. ``keywords`` (one
    text, or a list of one per query in a batch) are the words the keyword and hybrid modes look
    for; a text query is its own by default. ``group_by``: the best ``group_size`` hits per value of
    that metadata field, ``top_k`` groups."""
    del kiosk_mode
    names = [namespaces] if isinstance(namespaces, str) else namespaces
    if isinstance(names, (bytes, Mapping)) or not isinstance(names, Sequence) or not names:
        raise InvalidInput("namespaces must be a namespace name or a non-empty list of names")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InvalidInput(f"namespaces[{i}] must be a namespace name (a string), got {type(name).__name__}")
        check_name(name)
    k = check_top_k(top_k)
    threshold = check_threshold(threshold)
    mode = DEFAULT_MODE if mode is None else mode
    if mode not in SEARCH_MODES:
        raise InvalidInput(f"unknown search mode {mode!r}; valid: {', '.join(SEARCH_MODES)}")
    if oversample is not None and (isinstance(oversample, bool) or not isinstance(oversample, int)
                                   or not 1 <= oversample <= MAX_OVERSAMPLE):
        raise InvalidInput(f"oversample must be an integer from 1 to {MAX_OVERSAMPLE} (or omitted: as many as "
                           f"the first stage's error bound needs), got {oversample!r}")
    oversample = ADAPTIVE_OVERSAMPLE if oversample is None else oversample
    if not single:
        queries = _batch(queries)
    queries, filter = _with_text_filters(list(queries), filter)
    filter = check_filter(filter)  # a malformed filter fails here, before any scan
    texts = _keyword_texts(mode, queries, keywords, single)
    fused = _fusion(mode, fusion, keyword_weight)
    field, size = check_grouping(group_by, group_size)
    return SearchRequest(tuple(dict.fromkeys(names)), tuple(queries), k, threshold, filter, mode, oversample,
                         bool(partial), single, keyword_texts=texts, fusion=fused[0], keyword_weight=fused[1],
                         group_by=field, group_size=size)


def _keyword_texts(mode: str, queries: list[Any], keywords: Any, single: bool) -> tuple[str, ...] | None:
    """Each query's words for the keyword index: ``keywords``, or the query's own text."""
    if mode not in KEYWORD_MODES:
        if keywords is not None:
            raise InvalidInput(f"keywords apply to the {' and '.join(KEYWORD_MODES)} modes; this search is {mode!r}")
        return None
    if keywords is None:
        given: list[Any] = [None] * len(queries)
    elif single:
        given = [keywords]
    elif isinstance(keywords, (str, bytes, Mapping)) or not isinstance(keywords, Sequence) \
            or len(keywords) != len(queries):
        raise InvalidInput(f"keywords must be a list of {len(queries)} texts, one per query")
    else:
        given = list(keywords)
    out = []
    for i, (query, words) in enumerate(zip(queries, given)):
        where = "keywords" if single else f"keywords[{i}]"
        if words is None:
            if not isinstance(query, str):
                raise InvalidInput(f"mode {mode!r} looks words up in the item texts: give keywords= with a "
                                   "vector query (or search with a text query)")
            words = query
        if not isinstance(words, str):
            raise InvalidInput(f"{where} must be a text, got {type(words).__name__}")
        check_utf8(words, where)
        if len(words) > MAX_TEXT_CHARS:
            raise InvalidInput(f"{where} holds {len(words):,} characters; at most {MAX_TEXT_CHARS:,}")
        out.append(words)
    return tuple(out)


def _fusion(mode: str, fusion: Any, keyword_weight: Any) -> tuple[str, float]:
    if mode != "hybrid" and (fusion is not None or keyword_weight is not None):
        raise InvalidInput(f"fusion and keyword_weight apply to the hybrid mode; this search is {mode!r}")
    fusion = DEFAULT_FUSION if fusion is None else fusion
    if fusion not in FUSIONS:
        raise InvalidInput(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    weight = DEFAULT_KEYWORD_WEIGHT if keyword_weight is None else keyword_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise InvalidInput(f"keyword_weight must be a number from 0 to 1, got {keyword_weight!r}")
    return fusion, float(weight)


def merge_requests(requests: Sequence[SearchRequest]) -> SearchRequest:
    """One request for the queries of ``requests`` (same namespaces, filter, mode and partial):
    scanned wide enough for every one of them, ranked with each query's own parameters."""
    first = requests[0]
    queries = tuple(q for r in requests for q in r.queries)
    started = min(r.started for r in requests)
    own = [p for r in requests for p in (r.per_query or (r.params(),) * len(r.queries))]
    texts = tuple(t for r in requests for t in r.keyword_texts or ()) if first.keyword_texts is not None else None
    words = tuple(w for r in requests for w in r.keywords or ()) if first.keywords is not None else None
    first = replace(first, keyword_texts=texts, keywords=words)
    if all(p == own[0] for p in own):
        return replace(first, queries=queries, single=False, started=started)
    top_k = max(p.top_k for p in own)
    pool = max(p.top_k * p.oversample for p in own)
    return replace(first, queries=queries, single=False, started=started, top_k=top_k,
                   oversample=-(-pool // top_k), threshold=None, per_query=tuple(own))


def _with_text_filters(queries: list[Any], flt: Any) -> tuple[list[Any], Any]:
    """The hosted API's filters written at the end of a text query (core.filters.query_text_filter)
    taken off the text and ANDed with ``filter``. One pass shares one filter, so the queries of
    a batch must carry the same ones."""
    found = [query_text_filter(q) if isinstance(q, str) else (q, None) for q in queries]
    tokens = [f for _, f in found]
    if any(t != tokens[0] for t in tokens):
        raise InvalidInput("the queries of a batch carry different query-text filters (#...); send them as "
                           "separate searches, or give every query the same ones")
    if tokens[0] is not None and flt is not None and not isinstance(flt, dict):
        raise InvalidInput("filter must be a JSON object")
    return [q for q, _ in found], both(flt, tokens[0])


def _batch(queries: Any) -> list[Any]:
    if isinstance(queries, np.ndarray):
        if queries.ndim != 2:
            raise InvalidInput("queries must be a list of texts or vectors (a 2-D array of vectors)")
        queries = list(queries)
    if isinstance(queries, (str, bytes, Mapping)) or not isinstance(queries, Sequence):
        raise InvalidInput("queries must be a list of texts or vectors")
    if not 1 <= len(queries) <= MAX_BATCH_QUERIES:
        raise InvalidInput(f"queries must hold 1 to {MAX_BATCH_QUERIES} queries, got {len(queries)}")
    return list(queries)


def query_matrix(request: SearchRequest, manifests: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The queries as float32[Q, D] for namespaces with these manifests: vectors are validated
    against their common dimension, texts are embedded (in one call) with their common model."""
    dims = {m["dimension"] for m in manifests}
    if len(dims) > 1:
        raise DimensionMismatch(f"namespaces have different dimensions {sorted(dims)}; search them separately")
    dim = dims.pop()
    texts = [i for i, q in enumerate(request.queries) if isinstance(q, str)]
    if not texts and not request.single:
        whole = _whole_matrix(request.queries, dim)
        if whole is not None:
            return whole
    out = np.empty((len(request.queries), dim), np.float32)
    if texts:
        models = {m.get("model") for m in manifests}
        if any(m["type"] != "text" for m in manifests):
            raise InvalidInput(_named(request, texts[0], "a text query needs text namespaces; "
                                                         "send a vector to search vector namespaces"))
        if len(models) > 1:
            raise InvalidInput(f"namespaces use different models {sorted(models, key=str)}; search them separately")
        for i in texts:
            if not request.queries[i].strip():
                raise InvalidInput(_named(request, i, "query text is empty"))
        out[texts] = embed_queries(models.pop(), [request.queries[i] for i in texts])
    for i, query in enumerate(request.queries):
        if i in texts:
            continue
        where = request.where(i)
        q = check_vectors(query, dim, where)
        if q.shape[0] != 1:
            raise InvalidInput(f"{where} must be a single vector")
        out[i] = q[0]
    return out


def _whole_matrix(queries: Sequence[Any], dim: int) -> np.ndarray | None:
    """A batch of vectors checked in one conversion (native for lists of numbers); None if any is
    at fault, so that the query-by-query check can name it."""
    try:
        matrix = check_vectors(list(queries), dim, "queries")
    except (InvalidInput, TypeError, ValueError):
        return None
    return matrix if matrix.shape[0] == len(queries) else None


def _named(request: SearchRequest, i: int, message: str) -> str:
    return message if request.single else f"{request.where(i)}: {message}"


@dataclass(frozen=True)
class NamespaceRequest:
    """A namespace to create, checked as far as possible without the embedding model."""

    name: str
    type: str
    dimension: int | None
    binarizer: str
    center: tuple[float, ...] | None
    model: str | None
    shards: int | None


def parse_namespace(name: Any, type: Any, dimension: Any, binarizer: Any, center: Any, model: Any,
                    shards: Any) -> NamespaceRequest:
    """Apply the one type rule (spec.resolve_type) and check what needs no model."""
    check_name(name)
    ns_type = resolve_type(type, dimension)
    if ns_type not in NAMESPACE_TYPES:
        raise InvalidInput(f"unknown namespace type {ns_type!r}; valid: {', '.join(NAMESPACE_TYPES)}")
    if ns_type == "vector" and model is not None:
        raise InvalidInput("model is only meaningful for text namespaces")
    if (ns_type == "vector" or dimension is not None) and not _valid_dimension(dimension):
        raise InvalidInput(f"dimension must be an integer from 1 to {MAX_DIMENSION}, got {dimension!r}")
    bin_ = make_binarizer(binarizer)
    if center is not None and not bin_.needs_center:
        raise InvalidInput("center is only meaningful with binarizer='centered' or 'centered_mib'")
    if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS):
        raise InvalidInput(f"shards must be an integer from 1 to {MAX_SHARDS}, got {shards!r}")
    return NamespaceRequest(name, ns_type, dimension, binarizer, None if center is None else tuple(center), model,
                            shards)


@dataclass(frozen=True)
class ItemChange:
    """What ``update`` changes: metadata keys merged, keys removed, a new text (and, where the
    text is embedded, its new vector, added by the engine)."""

    metadata: dict[str, Any] | None
    unset: tuple[str, ...]
    text: str | None
    vector: np.ndarray | None = None

    def applied(self, meta: dict[str, Any]) -> dict[str, Any]:
        merged = {**meta, **(self.metadata or {})}
        for key in self.unset:
            merged.pop(key, None)
        return merged


def parse_change(metadata: Any, text: Any, unset: Any, text_namespace: bool) -> ItemChange:
    """Check an update before anything is read: something to change, of the right types, and no
    key of a text namespace's chunk bookkeeping."""
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput("metadata must be an object of the keys to set")
    if unset is None:
        unset = []
    if isinstance(unset, str) or not isinstance(unset, (list, tuple)) or not all(
            isinstance(k, str) and k for k in unset):
        raise InvalidInput("unset must be a list of metadata keys")
    if text is not None and (not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS):
        raise InvalidInput(f"text must be a non-empty string of at most {MAX_TEXT_CHARS} characters")
    if text is not None:
        check_utf8(text, "text")
    if not metadata and not unset and text is None:
        raise InvalidInput("update needs metadata, unset or text: nothing to change")
    clash = (set(metadata or {}) | set(unset)) & set(RESERVED) if text_namespace else set()
    if clash:
        raise InvalidInput(f"keys {sorted(clash)} are the chunks' bookkeeping in a text namespace")
    both_ways = set(metadata or {}) & set(unset)
    if both_ways:
        raise InvalidInput(f"keys {sorted(both_ways)} are both set and unset")
    return ItemChange(None if metadata is None else dict(metadata), tuple(unset), text)


def namespace_differences(request: NamespaceRequest, info: Mapping[str, Any]) -> list[str]:
    """How an existing namespace differs from one asked for again (create with exist_ok): every
    parameter given is compared, an omitted one (dimension, model: the default) as it resolves."""
    asked: dict[str, Any] = {"type": request.type, "binarizer": request.binarizer}
    if request.dimension is not None:
        asked["vector_dimension"] = request.dimension
    if request.type == "text":
        from bitsift.text.embed import DEFAULT_MODEL

        asked["model"] = DEFAULT_MODEL if request.model is None else request.model
    if request.shards is not None:
        asked["shards"] = request.shards
    have = {key: info.get(key, 1 if key == "shards" else None) for key in asked}  # one shard: no key
    return [f"{key} is {have[key]!r}, not {value!r}" for key, value in asked.items() if have[key] != value]


def _valid_dimension(dimension: Any) -> bool:
    return isinstance(dimension, int) and not isinstance(dimension, bool) and 1 <= dimension <= MAX_DIMENSION


def new_namespace_manifest(request: NamespaceRequest) -> dict[str, Any]:
    """The manifest of a new namespace (every shard of a sharded one holds the same)."""
    dimension, model = request.dimension, request.model
    if request.type == "text":
        embedder = get_embedder(model)
        model = embedder.name
        if dimension is not None and dimension != embedder.dimension:
            raise DimensionMismatch(f"model {model} embeds in {embedder.dimension} dimensions, not {dimension}")
        dimension = embedder.dimension
    if dimension is None:  # parse_namespace already refuses this for vector namespaces
        raise InvalidInput(f"dimension must be an integer from 1 to {MAX_DIMENSION}, got None")
    binarizer = make_binarizer(request.binarizer)
    if request.center is not None:
        binarizer = binarizer.with_center(check_vectors(request.center, dimension, "center")[0])  # type: ignore[attr-defined]
    return new_manifest(request.type, dimension, binarizer, model)
