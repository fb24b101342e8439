"""A namespace open in this process: its scan state in memory, over its folder on disk.

The folder (storage.folder) owns the files, recovery and the commit protocol; the math of a
search lives in core.candidates; this class keeps the in-memory copy in step with the
commits (its own and, by the generation check, other processes') and serves a search part:
candidates for Q queries, then the text and metadata of the winners.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.core import asymmetric, bm25, candidates, kernel, rescore
from bitsift.core.binarize import Binarizer, bit_entropy, make_binarizer
from bitsift.core.candidates import Answer, Candidates
from bitsift.core.errors import InvalidInput, KeywordIndexMissing, NamespaceGone, Renumbered, StorageCorrupt
from bitsift.core.filters import compile_filter
from bitsift.core.results import NamespaceInfo
from bitsift.core.validate import Batch, check_ids, check_items, check_metadata
from bitsift.engine.masks import MaskCache
from bitsift.engine.request import ItemChange, SearchRequest
from bitsift.storage.folder import Committed, NamespaceFolder, Row, just_created
from bitsift.storage.lock import ReadWriteLock


@dataclass
class _State:
    """Everything a search reads; replaced wholesale on reload, appended in place otherwise."""

    packed: kernel.PackedCodes  # the codes, their popcounts and corrective scalars, in scan layout
    ids: np.ndarray        # object: the id of each row, live or dead (capacity may exceed rows)
    rows: int
    generation: int
    epoch: int  # bumped by every compaction: row numbers are valid within one epoch
    tokens: np.ndarray | None = None  # int64 per row: its text's tokens (-1: not indexed); read on first use


NOT_NEAR = np.inf  # the first-stage distance of a keyword candidate the vector scan did not offer


class Namespace:
    """``read_only``: a search replica's handle. It opens, refreshes and searches without the
    writer lock and without cutting a file (storage.folder), sees only committed rows, and
    refuses writes (ReadOnly)."""

    binarizer: Binarizer

    def __init__(self, path: Path, files: NamespaceFolder | None = None, read_only: bool = False) -> None:
        self.files = files or NamespaceFolder(path, read_only=read_only)
        self.name = path.name
        self.dimension: int = self.files.manifest["dimension"]
        self.words: int = self.files.manifest["words"]
        self.masks = MaskCache(self.files.items.rows_matching, self._compile)
        self._tokens_lock = threading.Lock()
        self._rw = ReadWriteLock()  # in this process, a compaction waits for searches and vice versa
        # Separate from _rw (a refresh inside a search takes _rw for write): searches on their last
        # attempt share it, a compaction takes it alone, before the writer lock.
        self._compaction = ReadWriteLock()
        self._vectors_cache: np.ndarray | None = None
        if self.files.read_only:
            self._load(self.files.read_committed())
        else:
            with self.files.writing():
                self.files.recover()
                self._load(self.files.read_committed())

    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any]) -> Namespace:
        """A new namespace; NamespaceGone if it was created and then deleted before it opened."""
        files = NamespaceFolder.create(path, manifest)
        with just_created(path):
            return cls(path, files)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.files.manifest

    def close(self) -> None:
        self.files.close()

    # --- keeping the memory copy in step ----------------------------------------------

    def _load(self, c: Committed) -> None:
        """Bring the scan state to the committed rows ``c`` (read inside ``files.writing()``, or by
        a read-only handle). A catch-up (``c.start`` > 0: same epoch, rows added) appends the new
        rows and marks the dead ones, as a commit of this process does; anything else rebuilds."""
        scalars = c.scalars
        if scalars is None:  # older than format 4: computed here from the float16 rows, never written by a read
            scalars = self._correctives(np.asarray(self.files.vectors.read(c.rows))[c.start :], c.codes)
        state = getattr(self, "_state", None)
        params = self.manifest.get("binarizer_params")
        if c.start and state is not None and c.start == state.rows and state.epoch == c.epoch \
                and params == self.binarizer.params():
            state.ids = _put(state.ids, c.start, c.ids)
            state.packed.append(c.codes, c.dead[c.dead < c.start], scalars=scalars)
            if (c.dead >= c.start).any():
                state.packed.set_valid(c.dead[c.dead >= c.start], False)
            state.rows, state.generation = c.rows, c.generation
            return
        if c.start:  # not a continuation of this state after all: read everything
            self._load(self.files.read_committed())
            return
        self.binarizer = make_binarizer(self.manifest["binarizer"], params)
        packed = kernel.PackedCodes.from_codes(c.codes, scalars=scalars) if c.rows else kernel.PackedCodes(self.words)
        if c.dead.size:
            packed.set_valid(c.dead, False)
        ids = np.empty(len(c.ids), dtype=object)
        ids[:] = c.ids
        self._state = _State(packed, ids, c.rows, c.generation, c.epoch)
        self._vectors_cache = None

    def _catch_up(self) -> None:
        """Read what other processes committed since this state (only the new rows if no
        compaction came in between). The caller holds ``_rw`` for write."""
        state = self._state
        self._load(self.files.read_committed(since=state.rows, epoch=state.epoch))

    def _correctives(self, vectors: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Each row's corrective scalars for the asymmetric first stage (from the float16 values stored)."""
        return asymmetric.correctives(vectors, codes, self.dimension)

    def refresh_if_stale(self) -> None:
        """Pick up writes made by another process (cheap: one stat and one indexed read when
        nothing changed); raises NamespaceGone if the name now holds another incarnation."""
        if self.files.replaced():
            raise NamespaceGone(f"namespace {self.name!r} was deleted")
        if self.files.generation() == self._state.generation:
            return
        if self.files.read_only:
            with self._rw.write():
                if self.files.generation() != self._state.generation:
                    self._catch_up()
            return
        with self.files.writing():
            self._refresh_locked()

    def _refresh_locked(self, rw_held: bool = False) -> None:
        """Inside ``files.writing()``: catch up with other processes' commits."""
        if self.files.generation() == self._state.generation:
            return
        with nullcontext() if rw_held else self._rw.write():
            self.files.recover()
            self._catch_up()

    # --- writes ----------------------------------------------------------------------

    def upsert(self, items: Sequence[dict[str, Any]], parents: Sequence[str] | None = None) -> int:
        """Insert or replace items by id; durable and searchable when this returns.

        ``parents`` (one document id per item) marks items as chunks of documents: every
        earlier chunk of those documents is replaced in the same commit.
        """
        batch = check_items(items, self.dimension)
        with self.files.writing():
            self._refresh_locked()
            self.files.upgrade()
            if not self.binarizer.fitted:
                self._set_binarizer(self.binarizer.fit(batch.vectors))  # type: ignore[attr-defined]
            self._append_locked(self.binarizer.encode(batch.vectors), batch, parents)
        return len(batch.ids)

    def _append_locked(self, codes: np.ndarray, batch: Batch, parents: Sequence[str | None] | None,
                       siblings_die: bool = True) -> None:
        """Commit rows (inside ``files.writing()``) and bring the scan state up to date."""
        pops = kernel.popcount_rows(codes)
        scalars = self._correctives(batch.vectors.astype(np.float16), codes)
        state = self._state
        start = state.rows
        replaced = self.files.append(start, codes, scalars, batch, pops, state.generation + 1, parents, siblings_die)
        # The ids (a search indexes them by row) first, the codes last: a search (which takes
        # no lock against an upsert) snapshots the codes, then reads the ids, so every row it
        # can see already has its id (the mixed-load test found this); the popcounts and
        # corrective scalars are in the snapshot itself.
        state.ids = _put(state.ids, start, batch.ids)
        state.packed.append(codes, np.asarray(replaced, np.int64), scalars=scalars)
        state.rows = start + len(pops)
        state.generation += 1

    def update(self, ids: Sequence[Any], change: ItemChange) -> list[str]:
        """Change items in place of their vectors: metadata keys merged (and ``unset`` removed),
        the text replaced, each item rewritten as a new row with its old code and float16 vector
        (rows never change within an epoch: the filter masks rely on it), or with
        ``change.vector`` where the text changed and the caller re-embedded it. A document id of a
        text namespace updates every chunk of it. Returns the ids updated, in the order asked."""
        wanted = check_ids(ids)
        with self.files.writing():
            self._refresh_locked()
            self.files.upgrade()
            found = self.files.items.fetch_ids(wanted)
            seen: dict[str, tuple[int, str | None, str]] = {}
            for asked in dict.fromkeys(wanted):
                for id_, row, text, meta in found.get(asked, ()):
                    seen.setdefault(id_, (row, text, meta))
            if not seen:
                return []
            rows = [r for r, _, _ in seen.values()]
            if change.text is not None and self.manifest["type"] == "text" and len(rows) > 1:
                raise InvalidInput("a new text goes to one item at a time in a text namespace (it is embedded "
                                   "again); to change a whole document, upload it again")
            parents = self.files.items.parents_of(rows)
            texts = [change.text if change.text is not None else text for _, text, _ in seen.values()]
            metas = [check_metadata(change.applied(json.loads(meta)), f"ids[{id_!r}]")
                     for id_, (_, _, meta) in seen.items()]
            state = self._state
            self.files.codes.require(state.rows)
            codes = np.asarray(self.files.codes.read(state.rows))[rows]
            vectors = self._vector_map(state.rows)[rows].astype(np.float32)
            new_text = np.array([change.vector is not None and text != change.text for _, text, _ in seen.values()])
            if new_text.any():  # only an item whose text changed gets the new vector
                vectors[new_text] = change.vector
                codes[new_text] = self.binarizer.encode(vectors[new_text])
            batch = Batch(list(seen), vectors, texts, metas)
            self._append_locked(np.ascontiguousarray(codes), batch, [parents.get(r) for r in rows], siblings_die=False)
        return list(seen)

    def adopt_center(self, params: dict[str, Any]) -> None:
        """Take a center fitted elsewhere, unless one is already set: the shards of one
        sharded namespace must all encode with the center its first batch gave."""
        with self.files.writing():
            self._refresh_locked()
            self.files.upgrade()
            if not self.binarizer.fitted:
                self._set_binarizer(make_binarizer(self.manifest["binarizer"], params))

    def _set_binarizer(self, binarizer: Any) -> None:
        self.binarizer = binarizer
        self.files.set_manifest(dict(self.manifest, binarizer_params=binarizer.params()))

    def delete(self, ids: Sequence[Any]) -> list[str]:
        """Mark items dead (a tombstone in SQLite and the validity bitmap); returns the ids found."""
        wanted = check_ids(ids)
        with self.files.writing():
            self._refresh_locked()
            self.files.upgrade()
            matched = self._kill_locked(wanted)
        return [i for i in dict.fromkeys(wanted) if i in matched]

    def delete_matching(self, filter: dict[str, Any]) -> list[str]:
        """Delete every live item whose metadata match ``filter``, found and deleted under one
        writer lock (no write of another process lands in between); returns their ids in id order."""
        where, params = self._compile(filter)
        with self.files.writing():
            self._refresh_locked()
            self.files.upgrade()
            ids = self.files.items.matching_ids(where, params)
            if ids:
                self._kill_locked(ids)
        return ids

    def _kill_locked(self, ids: list[str]) -> set[str]:
        state = self._state
        found, matched = self.files.items.kill(ids, state.rows, state.generation + 1)
        if found:
            state.packed.set_valid(np.fromiter(found.values(), np.int64), False)
        state.generation += 1
        return matched

    def compact(self) -> dict[str, int]:
        """Rewrite the row files without dead rows; crash-safe by roll-forward. Waits for the
        searches on their last attempt (``steady``), never the other way round."""
        with self._compaction.write(), self.files.writing(), self._rw.write():
            self._refresh_locked(rw_held=True)
            self.files.upgrade()
            before = self._state.rows
            after = self.files.compact(before, self._state.generation + 1)
            self._load(self.files.read_committed())
        return {"rows_before": before, "rows_after": after}

    # --- a search part -------------------------------------------------------------------

    def candidates(self, queries: np.ndarray, request: SearchRequest) -> Answer:
        """Candidates for each query (float32[Q, D]) with their ids, and the compaction epoch
        their row numbers belong to (pass it to :meth:`fetch`). One kernel pass serves all Q."""
        k, mode = request.top_k, request.mode
        self.refresh_if_stale()
        with self._rw.read():
            state = self._state
            snap = state.packed.snapshot()
            mask = self.masks.mask(request.filter, state.epoch, snap.rows)
            qcodes = self._encode_queries(queries)
            if request.keyword_mode:
                found = self._keyword_candidates(queries, qcodes, snap, state, mask, request)
            elif mode == "rescore":
                found = candidates.rescored(queries, snap, self._vector_map(snap.rows), state.ids, mask, k,
                                            request.oversample, every_id=False)
            else:
                found = candidates.binary(qcodes, snap, snap.pops, state.ids, self.dimension, k, mask,
                                          self.binarizer.balanced)
            return Answer(found, state.epoch)

    def _compile(self, spec: dict[str, Any]) -> tuple[str, list[Any]]:
        """A filter as SQL over this file (``$text`` backed by its keyword index where it has one)."""
        return compile_filter(spec, self.files.items.keyword_table)

    # --- the keyword part of a search (core.bm25) ------------------------------------------

    def _require_keyword_index(self) -> None:
        if not self.files.items.keyword_table:
            raise KeywordIndexMissing(
                f"namespace {self.name!r} was written by an older bitsift (format "
                f"{self.manifest.get('format_version')}) and has no keyword index yet: it is built on the "
                f"namespace's next write, or now with `bitsift ns compact {self.name}`")

    def _lengths(self, state: _State, rows: int) -> np.ndarray:
        """Tokens of each of the first ``rows`` rows' texts, read from SQLite once per row."""
        with self._tokens_lock:
            have = state.tokens if state.tokens is not None else np.zeros(0, np.int64)
            if have.size < rows:
                have = state.tokens = np.concatenate([have, self.files.items.token_counts(have.size, rows)])
        return have[:rows]

    def term_stats(self, terms: Sequence[str]) -> bm25.TermStats:
        """This namespace's share of the collection's statistics for ``terms``."""
        self.refresh_if_stale()
        self._require_keyword_index()
        with self._rw.read():
            state = self._state
            lengths = self._lengths(state, state.rows)
            live = (lengths >= 0) & state.packed.valid_mask()[: state.rows]
            return bm25.TermStats(tuple(terms), int(live.sum()), int(lengths[live].sum()),
                                  tuple(self.files.items.term_frequencies(terms)))

    def _keyword_candidates(self, queries: np.ndarray, qcodes: np.ndarray, snap: kernel.PackedSnapshot,
                            state: _State, mask: np.ndarray | None, request: SearchRequest) -> Candidates:
        """Keyword and hybrid modes: each query's ``depth`` best rows by BM25 (ties whole) and, in
        hybrid mode, rescore mode's candidates for ``depth`` hits too; every candidate re-scored
        (ITS of its float16 row) and given its BM25 (0 where it holds no query term)."""
        self._require_keyword_index()
        rows, depth = snap.rows, request.depth
        lengths = self._lengths(state, rows)
        allowed = state.packed.valid_mask()[:rows] if mask is None else state.packed.valid_mask()[:rows] & mask
        keywords = request.keywords or ()
        postings = {t: self.files.items.postings(t, rows) for t in sorted({t for kq in keywords for t in kq.terms})}
        vectors = self._vector_map(rows)
        near = candidates.rescored(queries, snap, vectors, state.ids, mask, depth, request.oversample) \
            if request.mode == "hybrid" else None
        parts, fresh = [], []  # per query: (rows, first-stage distance, keyword); the rows to re-score
        for q, kq in enumerate(keywords):
            found, scores = bm25.score(kq, postings, lengths, allowed)
            top = bm25.best(found, scores, depth)
            mine = found[top]
            if near is not None:
                v = near[q]
                mine = mine[~np.isin(mine, v.rows)]
                pos = np.minimum(np.searchsorted(found, v.rows), max(found.size - 1, 0))
                held = np.zeros(v.rows.size) if not found.size else np.where(found[pos] == v.rows, scores[pos], 0.0)
                parts.append((np.concatenate([v.rows, mine]), np.concatenate([v.distance, np.full(mine.size, NOT_NEAR)]),
                              np.concatenate([held, scores[np.searchsorted(found, mine)]])))
            else:
                parts.append((mine, np.full(mine.size, NOT_NEAR), scores[top]))
            fresh.append(mine)
        offsets = np.zeros(len(fresh) + 1, np.int64)
        np.cumsum([f.size for f in fresh], out=offsets[1:])
        rho_new = kernel.correlation_f16_flat(vectors, np.concatenate(fresh) if fresh else np.zeros(0, np.int64),
                                              offsets, queries)
        per_query = []
        for q, (got, ham, kw) in enumerate(parts):
            new_rho = rho_new[offsets[q] : offsets[q + 1]]
            rho = new_rho if near is None else np.concatenate([-near[q].tiebreak, new_rho])
            per_query.append(Candidates(ham.astype(np.float64), got, rescore.its_from_correlation(rho), -rho,
                                        state.ids[got], keyword=kw))
        return Candidates.stack(per_query)

    def steady(self) -> AbstractContextManager[None]:
        """No compaction of this handle starts while held (it waits for the one running); searches
        are not held up. A search's last attempt runs inside, so it cannot race a compaction here."""
        return self._compaction.read()

    def fetch(self, rows: Sequence[int], epoch: int) -> dict[int, Row] | None:
        """row -> (text, metadata JSON) of ``rows``; None if a compaction renumbered rows since
        ``epoch`` (the search then runs again)."""
        with self._rw.read():
            return self.files.fetch(rows, epoch)

    def _encode_queries(self, queries: np.ndarray) -> np.ndarray:
        if not self.binarizer.fitted:
            return np.zeros((queries.shape[0], self.words), np.uint64)  # an empty centred namespace
        return self.binarizer.encode(queries)

    def _vector_map(self, rows: int) -> np.ndarray:
        """A memory map of the float16 rows, reopened only when the file has grown. A file shorter
        than this handle's rows is a compaction by another process since its last refresh
        (Renumbered: the search runs again) unless the epoch on disk is still this one's."""
        try:
            self.files.vectors.require(rows)
        except StorageCorrupt:
            if self.files.items.epoch() != self._state.epoch:
                raise Renumbered(f"namespace {self.name!r} was compacted by another process during the "
                                 "search; retry") from None
            raise
        cached = self._vectors_cache
        if cached is None or cached.shape[0] < rows:
            cached = self._vectors_cache = self.files.vectors.read(rows)
        return cached

    # --- reads -----------------------------------------------------------------------

    @property
    def count(self) -> int:
        self.refresh_if_stale()
        return int(self._state.packed.valid_mask().sum())

    def get(self, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        """Live items for the ids that exist, in the order asked; a document id of a text
        namespace returns all of its chunks."""
        wanted = check_ids(ids)
        self.refresh_if_stale()
        with self._rw.read():
            found = self.files.items.fetch_ids(wanted)
            vectors = self._vector_map(self._state.rows) if include_vectors else None
            out, seen = [], set()
            for asked in dict.fromkeys(wanted):
                for id_, row, text, meta in found.get(asked, ()):
                    if id_ in seen:
                        continue
                    seen.add(id_)
                    item: dict[str, Any] = {"id": id_, "text": text, "metadata": json.loads(meta)}
                    if vectors is not None:
                        item["vector"] = vectors[row].astype(np.float32).tolist()
                    out.append(item)
        return out

    def scroll(self, after: str | None, limit: int, filter: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` live items with an id above ``after``, in id order (core.cursor)."""
        where, params = self._compile(filter) if filter is not None else (None, [])
        self.refresh_if_stale()
        with self._rw.read():
            found = self.files.items.scroll(after, limit, where, params)
        return [{"id": id_, "text": text, "metadata": json.loads(meta)} for id_, text, meta in found]

    def count_matching(self, filter: dict[str, Any] | None = None) -> int:
        """Live items matching a metadata filter (all of them without one)."""
        if filter is None:
            self.refresh_if_stale()
            return self.count
        where, params = self._compile(filter)
        self.refresh_if_stale()
        with self._rw.read():
            return self.files.items.count(where, params)

    def describe(self) -> NamespaceInfo:
        return namespace_info(self.name, self.manifest, self.count)

    def diagnostics(self) -> dict[str, Any]:
        """Per-bit entropy of the stored codes: how many of the D bits carry information."""
        state = self._state
        live = state.packed.valid_mask()
        self.files.codes.require(state.rows)
        codes = np.asarray(self.files.codes.read(state.rows))[live]
        entropy = bit_entropy(codes, self.dimension)
        return {
            "rows": state.rows,
            "live": int(live.sum()),
            "bit_entropy_mean": float(entropy.mean()) if entropy.size else 0.0,
            "effective_bits": float(entropy.sum()),
            "bit_entropy": [round(float(h), 4) for h in entropy],
        }


def namespace_info(name: str, m: dict[str, Any], count: int) -> NamespaceInfo:
    """What ``describe`` answers, from a manifest and an item count."""
    return {
        "namespace_name": name,
        "type": m["type"],
        "vector_dimension": m["dimension"],
        "binarizer": m["binarizer"],
        "model": m.get("model"),
        "created_at": m["created_at"],
        "item_count": count,
        "format_version": m["format_version"],
    }


def _put(column: np.ndarray, start: int, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """``column`` with ``values`` written from row ``start``, grown (doubling) when full. A
    grown column is a new array, so a search holding the old one keeps reading valid rows."""
    end = start + len(values)
    if column.shape[0] < end:
        grown = np.empty(max(2 * column.shape[0], end), dtype=column.dtype)
        grown[:start] = column[:start]
        column = grown
    column[start:end] = values
    return column
