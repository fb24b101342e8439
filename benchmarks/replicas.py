"""Search replicas on Ray Serve: cold start, throughput with 1 and 2 replicas, CPU per query and
idle cost, per corpus size (README "Deployment on Ray" turns them into a cost table).

    python -m benchmarks.replicas --sizes 100000 1000000 --conns 64 --seconds 8

Per size (the peer suite's synthetic set, 384-d, top-10, default mode): the namespace's read-only
open in process (warm page cache, and cold when the page cache can be dropped: root only); on a
local Ray cluster of this machine's cores, the time from zero replicas to the first answer (warm
and cold page cache; the replica process starts, opens every namespace, answers); wrk at
``--conns`` connections against 1 and then 2 fixed replicas and, in the same run, against plain
``bitsift serve`` (its default workers) for reference; CPU per query is the whole machine's busy
time minus wrk's, over the queries answered (every process of the serving path counts: Serve's
proxy, the replicas, Ray's own). Idle cost: the machine's busy cores and Ray's resident memory
with zero replicas, over ``--idle-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.machine import machine
from benchmarks.peers.datasets import synthetic
from benchmarks.peers.procs import free_port
from benchmarks.serve import _busy_ticks, bitsift_server, build_vector_namespace, warm, wrk


def log(msg: str) -> None:
    print(f"[replicas] {msg}", file=sys.stderr, flush=True)


def drop_page_cache() -> bool:
    """Empty the page cache (root only): a cold start then reads the files from disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def open_time(root: Path, cold: bool) -> float | None:
    from bitsift.distributed.replica import ReplicaEngine

    if cold and not drop_page_cache():
        return None
    t0 = time.perf_counter()
    engine = ReplicaEngine(root, writer=None)
    engine.open_all()
    took = time.perf_counter() - t0
    engine.close()
    return took


def search_once(url: str, body: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    r = httpx.post(f"{url}/v1/search", json=body, timeout=120)
    r.raise_for_status()
    assert r.json()["results"], r.text
    return time.perf_counter() - t0


def wait_for_count(serverless: Any, count: int, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while serverless.replica_count(running_only=count > 0) != count:  # zero: not even a stopping one
        if time.monotonic() > deadline:
            raise SystemExit(f"replicas did not reach {count} within {within} s")
        time.sleep(0.25)


def ray_memory_mb() -> float:
    import psutil

    total = 0
    for p in psutil.process_iter(["name", "cmdline", "memory_info"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["memory_info"] is not None and ("ray" in (p.info["name"] or "") or "ray/" in cmd or "ray::" in cmd):
            total += p.info["memory_info"].rss
    return total / 2**20


def measure(n: int, root: Path, args: argparse.Namespace, port: int) -> dict[str, Any]:
    from bitsift.api.server import serverless

    ds = synthetic(n, queries=1000)
    if not (root / "bench").exists():
        t0 = time.perf_counter()
        build_vector_namespace(str(root), ds.vectors)
        log(f"built {n:,} items in {time.perf_counter() - t0:.0f} s")
    body = {"namespaces": ["bench"], "query": ds.queries[0].tolist(), "top_k": 10}
    bodies = root.parent / f"bodies-{n}.jsonl"
    bodies.write_text("".join(json.dumps({"namespaces": ["bench"], "query": q.tolist(), "top_k": 10}) + "\n"
                              for q in ds.queries))
    row: dict[str, Any] = {"n": n, "dimension": int(ds.vectors.shape[1])}
    open_time(root, cold=False)
    row["open_warm_s"] = open_time(root, cold=False)
    row["open_cold_s"] = open_time(root, cold=True)
    log(f"{n:,}: open warm {row['open_warm_s']:.2f} s, cold {row['open_cold_s']}")

    def scaling(lo: int, hi: int) -> Any:
        return serverless.Scaling(lo, hi, replica_cpus=1.0, target_ongoing=32.0, upscale_delay_s=1.0,
                                  downscale_delay_s=2.0, downscale_to_zero_delay_s=2.0, metrics_interval_s=0.5,
                                  look_back_s=1.0)

    url = serverless.deploy(root, scaling(0, 2), sharded=False, port=port, address="auto")
    starts = []
    for _ in range(args.cold_starts):
        wait_for_count(serverless, 0)
        starts.append(search_once(url, body))
    row["from_zero_warm_s"] = statistics.median(starts)
    row["from_zero_warm_all_s"] = starts
    wait_for_count(serverless, 0)
    row["from_zero_cold_s"] = search_once(url, body) if drop_page_cache() else None
    log(f"{n:,}: from zero to first answer, warm page cache {row['from_zero_warm_s']:.2f} s "
        f"(all {', '.join(f'{s:.2f}' for s in starts)}), cold {row['from_zero_cold_s']}")
    wait_for_count(serverless, 0)
    b0, t0 = _busy_ticks()[0], time.monotonic()
    time.sleep(args.idle_seconds)
    row["idle_cores"] = (_busy_ticks()[0] - b0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
    row["idle_ray_memory_mb"] = ray_memory_mb()
    log(f"{n:,}: idle with zero replicas: {row['idle_cores']:.3f} cores busy, Ray {row['idle_ray_memory_mb']:.0f} MB")
    for count in (1, 2):
        serverless.deploy(root, scaling(count, count), sharded=False, port=port, address="auto")
        wait_for_count(serverless, count)
        for _ in range(4 * count):
            search_once(url, body)
        point = wrk(url, "/v1/search", bodies, args.conns, args.seconds)
        point["cpu_ms_per_query"] = 1e3 * point["server_cpu_cores"] / max(point["qps"], 1e-9)
        point["ray_memory_mb"] = ray_memory_mb()  # minus the idle figure: what the replicas hold
        row[f"replicas_{count}"] = point
        log(f"{n:,}: {count} replica(s): {point['qps']:,.0f} QPS, p50 {point['p50_ms']:.1f} ms, "
            f"{point['cpu_ms_per_query']:.2f} CPU-ms/query, non-2xx {point['non2xx']}, Ray {point['ray_memory_mb']:.0f} MB")
    serverless.undeploy()
    with bitsift_server(str(root), None) as plain:
        warm(plain, body)
        point = wrk(plain, "/v1/search", bodies, args.conns, args.seconds)
        point["cpu_ms_per_query"] = 1e3 * point["server_cpu_cores"] / max(point["qps"], 1e-9)
        row["bitsift_serve"] = point
        log(f"{n:,}: bitsift serve: {point['qps']:,.0f} QPS, p50 {point['p50_ms']:.1f} ms, "
            f"{point['cpu_ms_per_query']:.2f} CPU-ms/query")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--data", type=Path, default=None,
                    help="keep each size's data directory here (<data>/<size>) and reuse it next time")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/replicas.json"))
    args = ap.parse_args()
    import ray
    from ray import serve

    from bitsift.api.server import serverless

    os.environ.setdefault(serverless.HAPROXY_ENV, "1")  # the cluster started below gets Serve's C ingress
    result: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "sizes": []}
    log(json.dumps(result["machine"]))
    ray.init(namespace="bitsift", log_to_driver=False, include_dashboard=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    with tempfile.TemporaryDirectory(prefix="bitsift-replicas-") as scratch:
        for n in args.sizes:
            root = (args.data or Path(scratch)) / str(n)
            root.mkdir(parents=True, exist_ok=True)
            result["sizes"].append(measure(n, root, args, port))
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    serve.shutdown()
    ray.shutdown()
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.json}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
