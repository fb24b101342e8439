"""Serving throughput against connections: `bitsift serve` and pgvector HNSW in one run (not a test).

    python -m benchmarks.serve [--sizes 100000 1000000] [--pg-sizes 100000] [--conns 1 4 16 64 256]
                               [--seconds 10] [--json benchmarks/serve.json] [--merge-into benchmarks/peers.json]

`make bench-serve` runs it with the defaults (and installs Debian's wrk). Per point: QPS, p50 and
p99 from the load generator, the server's CPU (its whole process tree) and recall@10 of the same
queries against exact float top-10.

* bitsift: `bitsift serve` (default workers and mode, top-10) in a subprocess, driven by wrk (C, so the
  client costs the server little CPU) with a Lua script that rotates 1,000 distinct query bodies; every
  request is a real search (nothing in bitsift caches results).
* pgvector HNSW (PostgreSQL 18 + pgvector from the peers extra, unix socket) driven by pgbench (also C)
  over its wire protocol at the same connection counts, each transaction one of the same 1,000 queries
  (`ORDER BY embedding <=> (SELECT v FROM bench_queries WHERE qid = :q)`), at the smallest ef_search whose
  recall@10 reaches bitsift's: the comparison is at equal recall, both recalls reported.
* text: a text namespace of the bundled Cranfield collection, 1,000 distinct query texts (its 225 queries
  and document openings); the embedder's own queries per second is measured in the same run.
* in process: bitsift coalesced searches from 64 threads against FAISS HNSW's batched search at equal
  recall, and (at 1M) one search_batch of 256 queries in rescore mode.
Data: the peer suite's synthetic sets (benchmarks/peers/datasets.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import bitsift
from benchmarks.machine import machine
from benchmarks.peers.datasets import SHARED_DATA, exact_top_k, synthetic
from benchmarks.peers.procs import free_port, wait_ready

K = 10
WRK_TIMEOUT = "30s"
LUA = """
local bodies = {}
for line in io.lines(os.getenv("BITSIFT_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", os.getenv("BITSIFT_ROUTE"), {["Content-Type"] = "application/json"},
                    bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BITSIFT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def log(msg: str) -> None:
    print(f"[serve] {msg}", file=sys.stderr, flush=True)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in zip(found, truth)]))


# ------------------------------------------------------------------------------------- CPU
def _busy_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of the whole machine so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@contextmanager
def server_cpu(out: dict[str, float]) -> Any:
    """Cores the server used during the block: the machine's busy time minus the load
    generator's own (a child process that has exited: RUSAGE_CHILDREN)."""
    import resource

    b0, _ = _busy_ticks()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    yield
    b1, _ = _busy_ticks()
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    busy = (b1 - b0) / os.sysconf("SC_CLK_TCK")
    out["server_cpu_cores"] = max(0.0, busy - client) / (time.monotonic() - t0)
    out["client_cpu_cores"] = client / (time.monotonic() - t0)


# ------------------------------------------------------------------------------------- bitsift
@contextmanager
def bitsift_server(folder: str, workers: int | None) -> Any:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "bitsift.cli.main", "serve", "--path", folder, "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url, proc)
        time.sleep(1.0)  # every worker up
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def wrk(url: str, route: str, bodies: Path, conns: int, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
    env = dict(os.environ, BITSIFT_BODIES=str(bodies), BITSIFT_ROUTE=route)
    cpu: dict[str, float] = {}
    with server_cpu(cpu):
        out = subprocess.run(["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{seconds:g}s", f"--timeout={WRK_TIMEOUT}",
                              "-s", f.name, url], env=env, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    res = json.loads(next(line for line in out.splitlines() if line.startswith("BITSIFT "))[8:])
    ok = res["requests"] - res["non2xx"]
    return {"connections": conns, "qps": ok / (res["duration_us"] / 1e6), "p50_ms": res["p50_us"] / 1e3,
            "p99_ms": res["p99_us"] / 1e3, **cpu, "errors": res["errors"], "non2xx": res["non2xx"]}


def build_vector_namespace(folder: str, vectors: np.ndarray) -> None:
    import bitsift

    with bitsift.Client(path=folder) as c:
        c.create_namespace("bench", dimension=vectors.shape[1])
        for s in range(0, len(vectors), 10_000):
            c.upload_vectors("bench", [{"id": str(i), "vector": vectors[i]} for i in range(s, min(s + 10_000, len(vectors)))])


def warm(url: str, body: dict[str, Any], requests: int = 24) -> None:
    """Each worker opens a namespace on its first search (1M rows: ~1 s): searches on fresh
    connections, which the kernel spreads over the workers, so none opens it during a measurement."""
    import httpx

    for _ in range(requests):
        with httpx.Client(base_url=url, timeout=120) as c:
            c.post("/v1/search", json=body).raise_for_status()


def http_recall(url: str, queries: np.ndarray, truth: np.ndarray) -> float:
    import httpx

    found = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for q in queries:
            hits = c.post("/v1/search", json={"namespaces": ["bench"], "query": q.tolist(), "top_k": K}).json()["results"]
            found.append(np.array([int(h["id"]) for h in hits] + [-1] * (K - len(hits))))
    return recall(np.array(found), truth)


def sweep_bitsift(ds: Any, truth: np.ndarray, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = str(work / f"bitsift-{ds.name}")
    t0 = time.perf_counter()
    build_vector_namespace(folder, ds.vectors)
    log(f"bitsift: {ds.name} uploaded in {time.perf_counter() - t0:.0f} s")
    bodies = work / f"bodies-{ds.name}.txt"
    bodies.write_text("".join(json.dumps({"namespaces": ["bench"], "query": [round(float(x), 7) for x in q],
                                          "top_k": K}) + "\n" for q in ds.queries))
    with bitsift_server(folder, args.workers) as url:
        warm(url, {"namespaces": ["bench"], "query": ds.queries[0].tolist(), "top_k": K})
        r = http_recall(url, ds.queries, truth)
        points = []
        for c in args.conns:
            p = wrk(url, "/v1/search", bodies, c, args.seconds) | {"recall@10": r}
            log(f"bitsift {ds.name} {c:>3} conns: {p['qps']:7.0f} QPS p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} ms "
                f"cpu {p['server_cpu_cores']:.2f}")
            points.append(p)
    return {"system": "bitsift-serve", "dataset": ds.name, "n": ds.n, "recall@10": r, "points": points,
            "settings": {"mode": "default (rescore, default pool)", "bitsift": bitsift.__version__ + " " + str(Path(bitsift.__file__).parent), "workers": args.workers or "default (one per core)",
                         "client": "wrk, 1,000 distinct bodies rotated"}, "folder": folder}


# ------------------------------------------------------------------------------------- in process
def in_process(ds: Any, truth: np.ndarray, folder: str, target: float, seconds: float) -> dict[str, Any]:
    """bitsift coalesced (64 threads) vs FAISS HNSW batched, at equal recall; 1M: search_batch 256."""
    import faiss

    from bitsift.engine.local import Engine

    queries = ds.queries.tolist()
    out: dict[str, Any] = {"dataset": ds.name}
    with closing(Engine(folder)) as engine:
        count, stop = [0] * 64, time.monotonic() + seconds

        def run(t: int) -> None:
            i = t
            while time.monotonic() < stop:
                engine.search("bench", queries[i % len(queries)], top_k=K)
                count[t] += 1
                i += 64
        t0 = time.monotonic()
        threads = [threading.Thread(target=run, args=(t,)) for t in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["bitsift_64_threads_qps"] = sum(count) / (time.monotonic() - t0)
        batch = queries[:256]
        engine.search_batch("bench", batch, top_k=K)
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            engine.search_batch("bench", batch, top_k=K)
        out["bitsift_search_batch_256_qps"] = reps * 256 / (time.perf_counter() - t0)
    if ds.n <= 200_000:  # an HNSW build at 1M takes ~6 minutes here: the peer suite has it
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(ds.vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.add(ds.vectors)
        out["faiss_build_s"] = time.perf_counter() - t0
        for ef in (16, 32, 64, 128, 256, 512, 1024):
            index.hnsw.efSearch = ef
            _, found = index.search(ds.queries, K)
            r = recall(found, truth)
            if r >= target or ef == 1024:
                break
        t0 = time.perf_counter()
        for _ in range(3):
            index.search(ds.queries, K)
        out.update(faiss_ef_search=ef, faiss_recall=r, faiss_batched_qps=3 * len(ds.queries) / (time.perf_counter() - t0))
    log(f"in process {ds.name}: {json.dumps(out)}")
    return out


# ------------------------------------------------------------------------------------- pgvector
def sweep_pgvector(ds: Any, truth: np.ndarray, target: float, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from benchmarks.peers.pgvector import PgvectorHNSW

    pg = PgvectorHNSW()
    t0 = time.perf_counter()
    pg.build(ds.vectors, work / f"pg-{ds.name}")
    log(f"pgvector: {ds.name} loaded and indexed in {time.perf_counter() - t0:.0f} s")
    try:
        ef, r = 40, 0.0
        for ef in (40, 64, 100, 160, 250, 400, 640, 1000):
            pg.configure(ef)
            r = recall(np.array([pg.search(q, K) for q in ds.queries]), truth)
            log(f"pgvector ef_search {ef}: recall@10 {r:.3f}")
            if r >= target:
                break
        conn = pg._main.conn
        conn.execute("DROP TABLE IF EXISTS bench_queries")
        conn.execute(f"CREATE TABLE bench_queries (qid int PRIMARY KEY, v vector({ds.vectors.shape[1]}))")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_queries VALUES (%s, %s::vector)",
                            [(i, "[" + ",".join(f"{x:.7g}" for x in q) + "]") for i, q in enumerate(ds.queries)])
        script = work / "pgbench.sql"
        script.write_text(f"\\set q random(0, {len(ds.queries) - 1})\n"
                          f"SELECT id FROM items ORDER BY embedding <=> (SELECT v FROM bench_queries WHERE qid = :q) "
                          f"LIMIT {K};\n")
        points = []
        for c in args.conns:
            p = pgbench(pg.pg.uri, script, c, args.seconds, ef, work) | {"recall@10": r}
            log(f"pgvector {ds.name} {c:>3} conns: {p['qps']:7.0f} QPS p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} ms "
                f"cpu {p['server_cpu_cores']:.2f}")
            points.append(p)
        return {"system": "pgvector-hnsw", "dataset": ds.name, "n": ds.n, "recall@10": r, "points": points,
                "settings": {"ef_search": ef, "m": 16, "ef_construction": 64, "client": "pgbench (C), unix socket, "
                             "one of the 1,000 queries per transaction"}}
    finally:
        pg.close()


def pgbench(uri: str, script: Path, conns: int, seconds: float, ef: int, work: Path) -> dict[str, Any]:
    logs = work / "pgbench-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    env = dict(os.environ, PGOPTIONS=f"-c hnsw.ef_search={ef}")
    cpu: dict[str, float] = {}
    with server_cpu(cpu):
        run = subprocess.run(["pgbench", "-n", "-f", str(script), "-c", str(conns), "-j", str(min(conns, 2)),
                              "-T", f"{seconds:g}", "-l", f"--log-prefix={logs / 'tx'}", uri],
                             env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"pgbench at {conns} connections failed: {run.stderr[-500:]}")
    out = run.stdout
    tps = float(next(line for line in out.splitlines() if line.startswith("tps =")).split()[2])
    lat = np.concatenate([np.loadtxt(f, usecols=2, ndmin=1) for f in logs.iterdir()]) / 1e3  # us -> ms
    return {"connections": conns, "qps": tps, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), **cpu, "errors": 0, "non2xx": 0}


# ------------------------------------------------------------------------------------- text
def text_queries(collection: Any, n: int = 1000) -> list[str]:
    """The collection's queries, then openings of its documents: n distinct texts."""
    out = list(dict.fromkeys(q.strip() for q in collection.query_texts if q.strip()))
    for text in collection.doc_texts:
        words = text.split()
        if len(words) >= 8:
            out.append(" ".join(words[:12]))
        out = list(dict.fromkeys(out))
        if len(out) >= n:
            break
    return out[:n]


def sweep_text(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import bitsift
    from bitsift.eval.evaluate import load_collection
    from bitsift.text.embed import get_embedder

    col = load_collection(SHARED_DATA / "cranfield")
    folder = str(work / "bitsift-cranfield")
    t0 = time.perf_counter()
    with bitsift.Client(path=folder) as c:
        c.create_namespace("bench", type="text")
        docs = [{"id": d, "text": t} for d, t in zip(col.doc_ids, col.doc_texts) if t.strip()]  # a few are empty
        for s in range(0, len(docs), 200):
            c.upload_documents("bench", docs[s:s + 200])
    log(f"text: cranfield embedded and uploaded in {time.perf_counter() - t0:.0f} s")
    queries = text_queries(col)
    embedder = get_embedder(None)
    embedder.encode(queries[:5])
    t0 = time.perf_counter()
    for q in queries[:300]:
        embedder.encode([q])
    embed_qps = 300 / (time.perf_counter() - t0)
    bodies = work / "bodies-text.txt"
    bodies.write_text("".join(json.dumps({"namespaces": ["bench"], "query": q, "top_k": K}) + "\n" for q in queries))
    points = []
    with bitsift_server(folder, args.workers) as url:
        warm(url, {"namespaces": ["bench"], "query": queries[0], "top_k": K})
        for c in [c for c in args.conns if c <= 64]:
            p = wrk(url, "/v1/search", bodies, c, args.seconds)
            log(f"text {c:>3} conns: {p['qps']:7.0f} QPS p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} ms")
            points.append(p)
    return {"system": "bitsift-serve", "dataset": "cranfield (text)", "queries": len(queries),
            "embedder_qps": embed_qps, "points": points}


# ------------------------------------------------------------------------------------- report
def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.4), dpi=110)
    for row in result["http"]:
        pts = row["points"]
        label = f"{row['system']}, {row['dataset']}" + (f" (recall {row['recall@10']:.2f})" if "recall@10" in row else "")
        ax.plot([p["connections"] for p in pts], [p["qps"] for p in pts], "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("connections")
    ax.set_ylabel("searches / s")
    ax.set_title(f"HTTP / wire-protocol throughput, {result['machine']['cpu']}, {result['machine']['kernel_path']}",
                 fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


MARKERS = ("<!-- serve -->", "<!-- /serve -->")


def section(result: dict[str, Any]) -> str:
    """The benchmarks/README.md section of a run: every point, the ratios at each concurrency."""
    m = result["machine"]
    lines = [f"Run {result['started']} - {result.get('finished', '?')} on {m['cpu']}, {m['cores']} cores, kernel path "
             f"`{m['kernel_path']}`; `make bench-serve` (`python -m benchmarks.serve`), {K} results per query, "
             "1,000 distinct queries rotated, every request a real search.", "",
             "| system | data | recall@10 | connections | QPS | p50 ms | p99 ms | server CPU (cores) | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["http"]:
        for p in row["points"]:
            lines.append(f"| {row['system']} | {row['dataset']} | {row['recall@10']:.3f} | {p['connections']} | "
                         f"{p['qps']:,.0f} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {p['server_cpu_cores']:.2f} | "
                         f"{p['errors'] + p['non2xx']} |")
    by = {(r["system"], r["dataset"]): r for r in result["http"]}
    for (system, data), row in by.items():
        peer = by.get(("pgvector-hnsw", data))
        if system != "bitsift-serve" or peer is None:
            continue
        ratios = ", ".join(f"{a['connections']}: {a['qps'] / b['qps']:.2f}x" for a, b in zip(row["points"], peer["points"]))
        lines += ["", f"bitsift / pgvector HNSW QPS on {data} (bitsift recall {row['recall@10']:.3f}, pgvector "
                      f"{peer['recall@10']:.3f} at ef_search {peer['settings']['ef_search']}): {ratios}."]
    for row in result["in_process"]:
        faiss = (f"; FAISS HNSW batched {row['faiss_batched_qps']:,.0f} QPS at recall {row['faiss_recall']:.3f} "
                 f"(ef_search {row['faiss_ef_search']})") if "faiss_batched_qps" in row else ""
        lines += ["", f"In process, {row['dataset']}: bitsift coalesced, 64 threads, {row['bitsift_64_threads_qps']:,.0f} "
                      f"QPS; one search_batch of 256 (rescore) {row['bitsift_search_batch_256_qps']:,.0f} QPS{faiss}."]
    text = result.get("text")
    if text:
        pts = ", ".join(f"{p['connections']}: {p['qps']:,.0f} (p99 {p['p99_ms']:.0f} ms)" for p in text["points"])
        lines += ["", f"Text, {text['dataset']}, {text['queries']} distinct query texts: the embedder alone "
                      f"{text['embedder_qps']:,.0f} queries/s in this process; over HTTP by connections {pts}."]
    lines += ["", "![throughput vs connections](serve-throughput.png)"]
    return "\n".join(lines)


def write_section(result: dict[str, Any], readme: Path) -> None:
    text = readme.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    readme.write_text(text[:start] + "\n" + section(result) + "\n" + text[end:])


def merge_into(peers_path: Path, result: dict[str, Any]) -> None:
    """Replace the connection sweep (``throughput``) of the peer report's bitsift-http and
    pgvector-hnsw rows with this run's, marked as coming from it, and rewrite the report."""
    from benchmarks.peers.report import write_report

    peers = json.loads(peers_path.read_text())
    names = {"bitsift-serve": "bitsift-http", "pgvector-hnsw": "pgvector-hnsw"}
    updated = []
    for row in result["http"]:
        target = next((r for r in peers["rows"] if r["system"] == names.get(row["system"]) and r["dataset"] == row["dataset"]),
                      None)
        if target is None:
            continue
        target["throughput"] = [{"clients": p["connections"], "qps": p["qps"], "load_p50": p["p50_ms"],
                                 "load_p99": p["p99_ms"], "recall@10": p.get("recall@10")} for p in row["points"]]
        target["throughput_source"] = (f"benchmarks/serve.py {result['started']}: {row['settings']['client']}, "
                                       f"recall@10 {row['recall@10']:.3f}, settings {json.dumps(row['settings'])}")
        updated.append(f"{target['system']} on {target['dataset']} (throughput)")
    peers.setdefault("reruns", []).append({"started": result["started"], "finished": result["finished"], "rows": updated})
    peers_path.write_text(json.dumps(peers, indent=1))
    write_report(peers, peers_path.parent / "README.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--pg-sizes", type=int, nargs="*", default=[100_000],
                    help="sizes pgvector is measured at (its HNSW build takes ~17 minutes at 1M here)")
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=None, help="bitsift serve --workers (default: its own)")
    ap.add_argument("--no-text", action="store_true")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/serve.json"))
    ap.add_argument("--plot", type=Path, default=Path("benchmarks/serve-throughput.png"))
    ap.add_argument("--merge-into", type=Path, default=None)
    ap.add_argument("--scratch", type=Path, default=None)
    ap.add_argument("--readme", type=Path, default=Path("benchmarks/README.md"))
    ap.add_argument("--report-only", action="store_true", help="only redo the plot, section and merge from --json")
    ap.add_argument("--text-only", action="store_true", help="only (re)do the text sweep, into --json")
    ap.add_argument("--http-only", action="store_true",
                    help="only bitsift over HTTP, into --json, no report (to compare two versions: run it under "
                         "each version's PYTHONPATH, one after the other)")
    args = ap.parse_args()
    if args.report_only or args.text_only:
        result = json.loads(args.json.read_text())
        if args.text_only:
            with tempfile.TemporaryDirectory(prefix="bitsift-serve-", dir=args.scratch) as d:
                result["text"] = sweep_text(args, Path(d))
            result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            args.json.write_text(json.dumps(result, indent=1) + "\n")
        report(result, args)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench-serve does)")
    result: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "http": [],
                              "in_process": [], "text": None}
    log(json.dumps(result["machine"]))
    with tempfile.TemporaryDirectory(prefix="bitsift-serve-", dir=args.scratch) as d:
        work = Path(d)
        for n in args.sizes:
            ds = synthetic(n, queries=1000)
            truth = exact_top_k(ds.vectors, ds.queries, K)
            row = sweep_bitsift(ds, truth, args, work)
            folder = row.pop("folder")
            result["http"].append(row)
            if args.http_only:
                shutil.rmtree(folder, ignore_errors=True)
                args.json.write_text(json.dumps(result, indent=1) + "\n")
                continue
            if n in args.pg_sizes:
                result["http"].append(sweep_pgvector(ds, truth, row["recall@10"], args, work))
            result["in_process"].append(in_process(ds, truth, folder, row["recall@10"], args.seconds))
            shutil.rmtree(folder, ignore_errors=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
        if not args.no_text and not args.http_only:
            result["text"] = sweep_text(args, work)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    if not args.http_only:
        report(result, args)


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    plot(result, args.plot)
    write_section(result, args.readme)
    if args.merge_into:
        merge_into(args.merge_into, result)
    log(f"wrote {args.json}, {args.plot} and the section of {args.readme}")


if __name__ == "__main__":
    main()
