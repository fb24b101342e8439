"""Request bodies. Field names follow the hosted product's API (namespace_name, vector_dimension,
top_k, kiosk_mode, ...).

The models check the shape of a body (a JSON object, required fields present, no unknown
fields) and nothing else: values pass through untouched to the engine, which raises the same
typed errors, with the same messages, as it does in-process. The JSON schema of each field is
still declared, so /docs shows what to send.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bitsift.core.spec import (
    BINARIZERS,
    DEFAULT_BINARIZER,
    DEFAULT_FUSION,
    DEFAULT_KEYWORD_WEIGHT,
    DEFAULT_MODE,
    DEFAULT_TOP_K,
    FUSIONS,
    MAX_BATCH_QUERIES,
    MAX_DIMENSION,
    MAX_GROUP_SIZE,
    MAX_OVERSAMPLE,
    MAX_TOP_K,
    NAME_PATTERN,
    NAMESPACE_TYPES,
    SEARCH_MODES,
)

NAME_SCHEMA = {"type": "string", "pattern": NAME_PATTERN, "examples": ["docs"]}

_NUMBERS = {"type": "array", "items": {"type": "number"}}
_IDS = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
_FILTER = {"type": "object", "additionalProperties": True}
_QUERY = {"anyOf": [{"type": "string"}, _NUMBERS]}


def _field(default: Any = ..., schema: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A field typed ``Any`` (the engine validates the value) that still documents its schema."""
    return Field(default, json_schema_extra=schema, **kwargs)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateNamespace(_Body):
    namespace_name: Any = _field(schema=NAME_SCHEMA, description="1-64 letters, digits, '_' or '-'")
    type: Any = _field(None, {"type": "string", "enum": list(NAMESPACE_TYPES)},
                       description="default: vector when vector_dimension is given, else text")
    vector_dimension: Any = _field(None, {"type": "integer", "maximum": MAX_DIMENSION},
                                   description="required for vector namespaces")
    binarizer: Any = _field(DEFAULT_BINARIZER, {"type": "string", "enum": list(BINARIZERS)})
    center: Any = _field(None, _NUMBERS, description="fixed center for a centred binarizer")
    model: Any = _field(None, {"type": "string"}, description="embedding model of a text namespace")
    shards: Any = _field(None, {"type": "integer"},
                         description="Ray shards (bitsift serve --ray only; default one per node)")
    exist_ok: Any = _field(False, {"type": "boolean"},
                           description="an existing namespace of that name and these parameters is not an error")


class UploadVectors(_Body):
    vectors: Any = _field(
        schema={"type": "array", "items": {"type": "object", "properties": {
            "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "vector": _NUMBERS,
            "text": {"type": "string"}, "metadata": {"type": "object"}}, "required": ["id", "vector"]}},
        description="items to insert or replace by id; a rejected batch writes nothing",
        examples=[[{"id": "doc-1", "vector": [0.1, -0.2, 0.3], "text": "hello", "metadata": {"lang": "en"}}]],
    )


class UploadDocuments(_Body):
    documents: Any = _field(
        schema={"type": "array", "items": {"type": "object", "properties": {
            "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "text": {"type": "string"}},
            "required": ["id", "text"], "additionalProperties": True}},
        description="documents {id, text, ...}: extra fields become metadata",
        examples=[[{"id": "doc-1", "text": "Binary codes make exact search cheap.", "source": "notes"}]],
    )


class Ids(_Body):
    ids: Any = _field(schema=_IDS)


class Update(Ids):
    metadata: Any = _field(None, {"type": "object"}, description="keys to set (merged into each item's)")
    text: Any = _field(None, {"type": "string"}, description="the new text (a text namespace embeds it)")
    unset: Any = _field(None, {"type": "array", "items": {"type": "string"}}, description="keys to remove")


class Count(_Body):
    filter: Any = _field(None, {"type": "object"}, description="a metadata filter (none: every item)")


class DeleteItems(_Body):
    ids: Any = _field(None, _IDS, description="the items (or documents) to delete")
    filter: Any = _field(None, {"type": "object"}, description="or: delete every item matching this metadata filter")


class TakeSnapshot(_Body):
    snapshot: Any = _field(schema=NAME_SCHEMA, description="the snapshot's name under the server's snapshot directory")


class RestoreSnapshot(_Body):
    namespace_name: Any = _field(schema=NAME_SCHEMA, description="the new namespace (must not exist)")


class GetDocuments(Ids):
    include_vectors: StrictBool = False


class _SearchParams(_Body):
    """What a search and a batch share."""

    namespaces: Any = _field(schema={"anyOf": [{"type": "array", "items": NAME_SCHEMA, "minItems": 1}, NAME_SCHEMA]})
    top_k: Any = _field(DEFAULT_TOP_K, {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K})
    threshold: Any = _field(None, {"type": "number"}, description="drop results scoring below it (0-1)")
    kiosk_mode: StrictBool = False
    mode: Any = _field(None, {"type": "string", "enum": list(SEARCH_MODES)},
                       description=f"binary: bit codes only; rescore: float re-scoring of binary candidates "
                                   f"(default {DEFAULT_MODE}); keyword: BM25 over the item texts; hybrid: "
                                   f"rescore fused with keyword (score stays the ITS of the vector)")
    fusion: Any = _field(None, {"type": "string", "enum": list(FUSIONS)},
                         description=f"hybrid: how the two rankings are fused (default {DEFAULT_FUSION})")
    keyword_weight: Any = _field(None, {"type": "number", "minimum": 0, "maximum": 1},
                                 description=f"hybrid: the keyword ranking's weight (default {DEFAULT_KEYWORD_WEIGHT})")
    oversample: Any = _field(None, {"type": "integer", "minimum": 1, "maximum": MAX_OVERSAMPLE},
                             description="rescore and hybrid: first-stage candidates per requested result; omitted (the "
                                         "default): as many as the first stage's error bound needs")
    group_by: Any = _field(None, {"type": "string"}, description="a metadata field (text chunks: document_id): "
                           "the best hits per value of it, top_k groups")
    group_size: Any = _field(None, {"type": "integer", "minimum": 1, "maximum": MAX_GROUP_SIZE},
                             description="with group_by: hits per group (default 1)")
    partial: StrictBool = Field(False, description="sharded namespaces: answer from the live shards if some are down "
                                             "(flagged partial) instead of failing with 503")
    filter: Any = _field(None, _FILTER, description='metadata filter, e.g. {"lang": "en", "year": {"$gte": 2020}}')
    metadata: Any = _field(None, _FILTER, description="exact-match metadata filter (on-prem API spelling of filter)")


class Search(_SearchParams):
    query: Any = _field(schema=_QUERY, description="text or a vector")
    keywords: Any = _field(None, {"type": "string"},
                           description="keyword, hybrid: the words to look for (default: a text query itself)")


class SearchBatch(_SearchParams):
    queries: Any = _field(schema={"type": "array", "items": _QUERY, "maxItems": MAX_BATCH_QUERIES},
                          description=f"1 to {MAX_BATCH_QUERIES} texts or vectors; one response each, in order")
    keywords: Any = _field(None, {"type": "array", "items": {"type": "string"}},
                           description="keyword, hybrid: each query's words (default: each text query itself)")


class Answer(_Body):
    """The hosted API's answer request (its SDK sends every field here)."""

    namespace: Any = _field(schema={"type": "string"}, description='a text namespace; "" answers without retrieval '
                                                                   "(needs an LLM)")
    query: Any = _field(schema={"type": "string"})
    top_k: Any = _field(5, {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K}, description="passages retrieved")
    threshold: Any = _field(None, {"type": "number"}, description="drop passages scoring below it (0-1)")
    kiosk_mode: StrictBool = False
    type: Any = _field(None, {"type": "string", "enum": ["text"]}, description="accepted for compatibility")
    ai_model: Any = _field(None, {"type": "string"}, description="the LLM's model where one is configured")
    chat_history: Any = _field(None, {"type": "array", "items": {"type": "object"}})
    temperature: Any = _field(0.7, {"type": "number", "minimum": 0, "maximum": 2})
    header_prompt: Any = _field(None, {"type": "string"})
    footer_prompt: Any = _field(None, {"type": "string"})
    structured_response: Any = _field(None, {"type": "object"}, description="a JSON schema for the answer (needs an LLM)")


class UploadUrlRequest(_Body):
    file_name: Any = _field(schema={"type": "string"}, description="the file's name (a path is cut to its last part)")


class DeleteFiles(_Body):
    file_names: Any = _field(schema={"type": "array", "items": {"type": "string"}, "minItems": 1})
