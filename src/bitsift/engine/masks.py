"""The row mask of a metadata filter, cached and kept up to date incrementally: evaluating JSON
over every row costs ~1 µs a row, so a filtered search under a stream of writes must not pay it
for every row after every write."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MASKS_KEPT = 16  # filter masks kept per namespace (1 byte per row each)
# (SQL where clause, parameters, first row) -> the live rows from that row on that match
RowsMatching = Callable[[str, list[Any], int], np.ndarray]
Compile = Callable[[dict[str, Any]], tuple[str, list[Any]]]  # a filter -> (SQL where clause, parameters)


@dataclass(frozen=True)
class _Mask:
    epoch: int
    rows: int
    mask: np.ndarray  # read-only, ``rows`` long


class MaskCache:
    """One mask per filter, valid within a compaction epoch. Rows are immutable within an epoch
    (an upsert appends a new row and kills the old one; a delete kills): so a mask for the first
    ``r`` rows stays right for them, and a later search only evaluates the filter on the rows
    appended since. Rows killed since are not cleared here: the scan's validity bitmap already
    excludes them. A compaction (new epoch) renumbers rows: the mask is then built again."""

    def __init__(self, rows_matching: RowsMatching, compile: Compile, kept: int = MASKS_KEPT) -> None:
        self._rows_matching = rows_matching
        self._compile = compile
        self._kept = kept
        self._masks: OrderedDict[str, _Mask] = OrderedDict()
        self._lock = threading.Lock()

    def mask(self, spec: dict[str, Any] | None, epoch: int, rows: int) -> np.ndarray | None:
        """Boolean mask over ``rows`` rows (read-only), or None for no filter."""
        if spec is None:
            return None
        where, params = self._compile(spec)  # validates even when cached
        key = json.dumps(spec, sort_keys=True)
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
        if cached is not None and cached.epoch == epoch and cached.rows == rows:
            return cached.mask
        known = cached.rows if cached is not None and cached.epoch == epoch and cached.rows < rows else 0
        mask = np.zeros(rows, dtype=bool)
        if known:
            mask[:known] = cached.mask  # type: ignore[union-attr]
        hits = self._rows_matching(where, params, known)
        mask[hits[hits < rows]] = True
        mask.setflags(write=False)
        with self._lock:
            current = self._masks.get(key)
            if current is None or current.epoch != epoch or current.rows <= rows:
                self._masks[key] = _Mask(epoch, rows, mask)
            while len(self._masks) > self._kept:
                self._masks.popitem(last=False)
        return mask
