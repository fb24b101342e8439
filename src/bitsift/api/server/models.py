"""Request bodies. Field names follow the hosted product's API (namespace_name, vector_dimension,
top_k, kiosk_mode, ...).

The models check the shape of a body (a JSON object, required fields present, no unknown
fields) and nothing else: values pass through untouched to the engine, which raises the same
typed errors, with the same messages, as it does in-process. The JSON schema of each field is
still declared, so /docs shows what to send.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_NUMBERS = {"type": "array", "items": {"type": "number"}}
_IDS = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
_FILTER = {"type": "object", "additionalProperties": True}


def _field(default: Any = ..., schema: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A field typed ``Any`` (the engine validates the value) that still documents its schema."""
    return Field(default, json_schema_extra=schema, **kwargs)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateNamespace(_Body):
    namespace_name: Any = _field(schema={"type": "string"}, description="1-64 letters, digits, '_' or '-'")
    type: Any = _field("vector", {"type": "string", "enum": ["vector", "text"]})
    vector_dimension: Any = _field(None, {"type": "integer"}, description="required for vector namespaces")
    binarizer: Any = _field("mib", {"type": "string", "enum": ["mib", "sign", "centered"]})
    center: Any = _field(None, _NUMBERS, description="fixed center for binarizer='centered'")
    model: Any = _field(None, {"type": "string"}, description="embedding model of a text namespace")
    shards: Any = _field(None, {"type": "integer"},
                         description="Ray shards (bitsift serve --ray only; default one per node)")


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


class GetDocuments(Ids):
    include_vectors: bool = False


class Search(_Body):
    namespaces: Any = _field(schema={"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]})
    query: Any = _field(schema={"anyOf": [{"type": "string"}, _NUMBERS]}, description="text or a vector")
    top_k: Any = _field(10, {"type": "integer"})
    threshold: Any = _field(None, {"type": "number"}, description="drop results scoring below it (0-1)")
    kiosk_mode: bool = False
    mode: Any = _field(None, {"type": "string", "enum": ["binary", "rescore"]},
                       description="binary: bit codes only; rescore: float re-scoring of binary candidates")
    oversample: Any = _field(None, {"type": "integer"}, description="rescore: candidates per requested result")
    partial: bool = Field(False, description="sharded namespaces: answer from the live shards if some are down "
                                             "(flagged partial) instead of failing with 503")
    filter: Any = _field(None, _FILTER, description='metadata filter, e.g. {"lang": "en", "year": {"$gte": 2020}}')
    metadata: Any = _field(None, _FILTER, description="exact-match metadata filter (on-prem API spelling of filter)")
