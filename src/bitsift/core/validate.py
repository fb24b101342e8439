"""Input checks for writes and queries: every bad input becomes a typed, actionable error
before anything is written."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bitsift.core import kernel
from bitsift.core.errors import DimensionMismatch, DuplicateIds, EmptyBatch, InvalidInput, InvalidName, InvalidVector
from bitsift.core.spec import (
    MAX_BATCH,
    MAX_ID_CHARS,
    MAX_METADATA_BYTES,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
    NAME_PATTERN,
)

NAME_RE = re.compile(NAME_PATTERN)
FLOAT16_MAX = 65504.0
ITEM_KEYS = {"id", "vector", "text", "metadata"}


def check_name(name: Any, what: str = "namespace") -> str:
    """A namespace's (or a snapshot's) name: also a folder name, so nothing that could leave one."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid {what} name {name!r}: 1-64 characters, letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"{where}: id must be a string or an integer, got {type(value).__name__}")
    text = str(value)
    if not text or len(text) > MAX_ID_CHARS:
        raise InvalidInput(f"{where}: id must have 1 to {MAX_ID_CHARS} characters")
    return check_utf8(text, f"{where}: id")


def check_utf8(text: str, where: str) -> str:
    """A lone UTF-16 surrogate (``"\\ud800"`` in JSON) cannot be stored or sent back as UTF-8:
    it would poison every later read of the item, so it is refused at the door."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{where} holds an unpaired UTF-16 surrogate at position {exc.start}; "
                               "send valid Unicode") from None
    return text


def check_ids(ids: Any) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) or not ids:
        raise EmptyBatch("ids must be a non-empty list")
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} ids per call, got {len(ids)}")
    return [check_id(v, f"ids[{i}]") for i, v in enumerate(ids)]


_NUMBER_KINDS = "fiu"  # numpy dtype kinds that are numbers (bool and strings are not)
_NUMBER_TYPES = frozenset({float, int} | {np.dtype(c).type for c in "efdgbhilqBHILQ"})


def _plain_numbers(values: Sequence[Any]) -> bool:
    """Every element of a flat sequence is a number (Python or numpy): numpy itself would
    silently take ``"1.5"`` and ``true`` as numbers. In C: a count of exact floats (the JSON
    case, ~20 ns a value), else the set of element types."""
    return operator.countOf(map(type, values), float) == len(values) or set(map(type, values)) <= _NUMBER_TYPES


def _numeric(value: Any) -> bool:
    """A vector, or a list of vectors, made of numbers only."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in _NUMBER_KINDS
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple, np.ndarray)):
            return all(map(_numeric, value))
        return _plain_numbers(value)
    return False


def check_vectors(raw: Any, dims: int, where: str = "vector") -> np.ndarray:
    """float32[N, dims] from nested lists or arrays of numbers; finite and within float16 range."""
    fast = kernel.floats_from_lists(raw if raw and isinstance(raw[0], list) else [raw], dims) \
        if type(raw) is list else None
    if fast is not None:
        raw = fast
    elif not _numeric(raw):
        raise InvalidVector(f"{where}: must be a list of numbers (not strings, booleans or null)")
    try:
        with np.errstate(over="ignore"):  # 1e39 -> inf, rejected below with a clear message
            x = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidVector(f"{where}: must be a list of numbers ({exc})") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidVector(f"{where}: must be a flat list of numbers")
    if x.shape[1] != dims:
        raise DimensionMismatch(f"{where}: expected dimension {dims}, got {x.shape[1]}")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(np.argwhere(~finite)[0][0])
        raise InvalidVector(f"{where}: vector {bad} contains NaN or infinity")
    if x.size and np.abs(x).max() > FLOAT16_MAX:
        raise InvalidVector(f"{where}: values must lie within +/-{FLOAT16_MAX:g} (stored as float16)")
    return x


@dataclass
class Batch:
    ids: list[str]
    vectors: np.ndarray
    texts: list[str | None]
    metadata_json: list[str]


def _numpy_scalars(value: Any) -> Any:
    if isinstance(value, np.generic):  # np.int64(3) and friends encode as plain JSON numbers
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_numpy_scalars)
_JSON_UNICODE = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_numpy_scalars, ensure_ascii=False)


def check_metadata(meta: Any, where: str) -> str:
    if not meta:
        if meta is None or meta == {}:
            return "{}"
    if not isinstance(meta, dict):
        raise InvalidInput(f"{where}: metadata must be an object")
    try:
        encoded = _JSON.encode(meta)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: metadata must be JSON ({exc})") from None
    if "\\ud" in encoded:  # escapes of surrogates: a valid pair is fine, a lone one is not
        check_utf8(_JSON_UNICODE.encode(meta), f"{where}: metadata")
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidInput(f"{where}: metadata larger than {MAX_METADATA_BYTES} bytes")
    return encoded


def _stack_vectors(raw: list[Any], dims: int) -> np.ndarray:
    """One bulk conversion; on failure, find the item at fault for the message."""
    try:
        fast = kernel.floats_from_lists(raw, dims)  # plain lists (JSON bodies): one native pass
        if fast is not None:
            return check_vectors(fast, dims, "items")
        if all(map(_numeric, raw)):
            with np.errstate(over="ignore"):
                x = np.asarray(raw, dtype=np.float32)
            if x.ndim == 2 and x.shape[1] == dims:
                return check_vectors(x, dims, "items")
    except (TypeError, ValueError, OverflowError):
        pass
    for i, vec in enumerate(raw):
        where = f"items[{i}]"
        if not _numeric(vec) or np.ndim(vec) != 1:
            raise InvalidVector(f"{where}: vector must be a flat list of numbers")
        if len(vec) != dims:
            raise DimensionMismatch(f"{where}: expected dimension {dims}, got {len(vec)}")
        check_vectors(vec, dims, where)
    raise InvalidVector("items: vectors could not be read as numbers")


def check_items(items: Any, dims: int) -> Batch:
    """Validate a whole upsert batch; nothing is written unless all of it is valid."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or not items:
        raise EmptyBatch("items must be a non-empty list")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} items per batch, got {len(items)}")
    ids, texts, metas, raw_vectors = [], [], [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item or "vector" not in item or not ITEM_KEYS.issuperset(item):
            where = f"items[{i}]"
            if not isinstance(item, dict):
                raise InvalidInput(f"{where}: each item must be an object with id and vector")
            unknown = set(item) - ITEM_KEYS
            if unknown:
                raise InvalidInput(f"{where}: unknown fields {sorted(unknown)}; allowed: {sorted(ITEM_KEYS)}")
            raise InvalidInput(f"{where}: id and vector are required")
        id_ = item["id"]
        ids.append(id_ if type(id_) is str and 0 < len(id_) <= MAX_ID_CHARS and id_.isascii()
                   else check_id(id_, f"items[{i}]"))
        text = item.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
            raise InvalidInput(f"items[{i}]: text must be a string of at most {MAX_TEXT_CHARS} characters")
        if text is not None:
            check_utf8(text, f"items[{i}]: text")
        texts.append(text)
        metas.append(check_metadata(item.get("metadata"), f"items[{i}]"))
        raw_vectors.append(item["vector"])
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dupes = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
        raise DuplicateIds(f"duplicate ids in one batch: {dupes[:5]}")
    return Batch(ids, _stack_vectors(raw_vectors, dims), texts, metas)


def check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
    return int(top_k)


def check_threshold(threshold: Any) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold must be a number from 0 to 1, got {threshold!r}")
    return float(threshold)
