"""Search latency over HTTP vs in process, same data, same run (not a test).

Builds a 100k x 384-d vector namespace, starts `bitsift serve` on 127.0.0.1 in a
subprocess, then alternates the same top-10 searches through Client(path=...) and
Client(url=...) and reports p50/p95/p99 of client-side wall time, plus the server's
own time (timings.total_ms) for the HTTP requests.
Usage: python -m benchmarks.http_latency [--n 100000] [--dim 384] [--queries 500]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import numpy as np

import bitsift
from benchmarks.peers.procs import free_port, wait_ready
from bitsift.eval.synthetic import clustered_vectors


def pct(values: list[float]) -> str:
    a = np.asarray(values)
    return " | ".join(f"{np.percentile(a, p):.2f}" for p in (50, 95, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    x, _ = clustered_vectors(args.n, args.dim, seed=3)
    queries = clustered_vectors(args.queries, args.dim, seed=4)[0]
    with tempfile.TemporaryDirectory(prefix="bitsift-http-") as d:
        with bitsift.Client(path=d) as c:
            c.create_namespace("bench", dimension=args.dim)
            for s in range(0, args.n, 1000):
                c.upload_vectors("bench", [{"id": f"v{i}", "vector": x[i]} for i in range(s, min(s + 1000, args.n))])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "bitsift.cli.main", "serve", "--path", d, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(url, proc)
            local, remote = bitsift.Client(path=d), bitsift.Client(url=url)
            times: dict[str, list[float]] = {"in process": [], "HTTP (client side)": [], "HTTP (server side)": []}
            for i, q in enumerate(queries):
                ql = q.tolist()
                order = [("in process", local), ("HTTP (client side)", remote)]
                for name, client in (order if i % 2 else order[::-1]):
                    t0 = time.perf_counter()
                    res = client.search("bench", ql, top_k=10)
                    times[name].append((time.perf_counter() - t0) * 1e3)
                    if client is remote:
                        times["HTTP (server side)"].append(res["timings"].get("server_ms", res["timings"]["total_ms"]))
                if i == 0:
                    a, b = local.search("bench", ql, top_k=10), remote.search("bench", ql, top_k=10)
                    assert [r["id"] for r in a["results"]] == [r["id"] for r in b["results"]], "results differ"
            local.close()
            remote.close()
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{args.n:,} x {args.dim}-d vectors, top_k=10, {args.queries} queries, alternating order\n")
    print("| path | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {pct(values)} |")


if __name__ == "__main__":
    main()
