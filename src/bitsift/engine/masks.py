"""The row mask of a metadata filter, cached: evaluating JSON over every row costs ~1 µs a row."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from bitsift.core.filters import compile_filter

MASKS_KEPT = 16  # filter masks kept per namespace (1 byte per row each)
RowsMatching = Callable[[str, list[Any]], np.ndarray]  # (SQL where clause, parameters) -> live rows


class MaskCache:
    """Masks keyed by (filter, committed generation, rows): a repeated filter is free until the
    next write, and a write makes every older mask unreachable."""

    def __init__(self, rows_matching: RowsMatching, kept: int = MASKS_KEPT) -> None:
        self._rows_matching = rows_matching
        self._kept = kept
        self._masks: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def mask(self, spec: dict[str, Any] | None, generation: int, rows: int) -> np.ndarray | None:
        """Boolean mask over ``rows`` rows (read-only), or None for no filter."""
        if spec is None:
            return None
        where, params = compile_filter(spec)  # validates even when cached
        key = (json.dumps(spec, sort_keys=True), generation, rows)
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        mask = np.zeros(rows, dtype=bool)
        hits = self._rows_matching(where, params)
        mask[hits[hits < rows]] = True
        mask.setflags(write=False)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > self._kept:
                self._masks.popitem(last=False)
        return mask
