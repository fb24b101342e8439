"""Every list of valid values and every limit, defined once.

The CLI's choices, the REST models (so the OpenAPI enums are right), the validators and the
README's tables all read them from here; tests check that the README agrees.
"""

from __future__ import annotations

from typing import Literal, get_args

VERSION = "0.1.0"

NamespaceType = Literal["vector", "text"]
SearchMode = Literal["binary", "rescore", "keyword", "hybrid"]
Fusion = Literal["rrf", "weighted"]
BinarizerName = Literal["mib", "sign", "centered", "centered_mib"]

NAMESPACE_TYPES: tuple[str, ...] = get_args(NamespaceType)
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
KEYWORD_MODES = ("keyword", "hybrid")  # ranked by the keyword index (core.bm25, core.fusion)
FUSIONS: tuple[str, ...] = get_args(Fusion)
BINARIZERS: tuple[str, ...] = get_args(BinarizerName)

DEFAULT_BINARIZER = "mib"
DEFAULT_MODE = "rescore"  # measured: 100% of exact-float nDCG@10 on all three collections (benchmarks/README.md)
# Rescore's default pool (oversample omitted): as many first-stage candidates as the asymmetric
# estimator's bound needs (core.asymmetric); an integer oversample fixes top_k x oversample instead.
ADAPTIVE_OVERSAMPLE = 0
DEFAULT_TOP_K = 10
DEFAULT_FUSION = "rrf"
# Measured on the three shared collections (benchmarks/README.md, "Keyword and hybrid"): plain RRF
# (k 60, equal weights) loses 8% of nDCG@10 on DBpedia, where keywords are weak; a sharper k and
# a keyword weight of 0.2 beat both rankings on Cranfield and stay within 2% on the other two.
DEFAULT_KEYWORD_WEIGHT = 0.2
RRF_K = 10
FUSION_DEPTH = 100  # each ranking a fusion reads: max(top_k, this)
DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP = 1000, 200  # characters of a text namespace's chunks

MAX_DIMENSION = 3072
MAX_OVERSAMPLE = 1000
MAX_TOP_K = 100_000
MAX_BATCH = 100_000           # items, ids or documents in one write call
MAX_BATCH_QUERIES = 1000      # queries in one search_batch
MAX_GROUP_SIZE = 100          # hits per group of a grouped search
MAX_ID_CHARS = 512
MAX_METADATA_BYTES = 64 * 1024
MAX_TEXT_CHARS = 1_000_000
MAX_SHARDS = 1024
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"  # matched whole (re.fullmatch): no trailing newline
FIELD_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"  # a metadata field in a filter; '.' nests
MAX_FILTER_IN = 1_000         # values in one $in / $nin
MAX_FILTER_CONDITIONS = 1_000  # field conditions in one filter (SQLite evaluates every one per row)
MAX_FILTER_DEPTH = 32


def resolve_type(ns_type: str | None, dimension: object) -> str:
    """The one rule for a namespace's type in Python, REST and CLI: an explicit type wins;
    otherwise a dimension means ``vector`` and no dimension means ``text``."""
    if ns_type is not None:
        return ns_type
    return "text" if dimension is None else "vector"
