"""Server memory under large uploads, measured on a real ``bitsift serve`` process (psutil).

    python -m benchmarks.memory [--json benchmarks/memory.json]

* **One large document**: RSS after one warm-up embedding, then after a 1,000,000-character
  document is uploaded to a text namespace (and the peak while it is embedded). The goal: the
  after-RSS within 200 MB of the warm-up RSS (memory is returned, not kept).
* **Concurrent large vector uploads**: 8 clients each POST a ~92 MiB JSON batch at once; the peak
  RSS of the server during them. The goal: below 2 GB, with the uploads past the server's
  concurrency limit waiting (or answered 503 with Retry-After), none lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from benchmarks.faults import served

MB = 1 << 20


class Sampler:
    """The peak RSS of a process, sampled every 20 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self.proc.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def large_document(url: str, pid: int) -> dict[str, float]:
    http = httpx.Client(base_url=url, timeout=900)
    http.post("/v1/namespaces", json={"namespace_name": "text", "type": "text"}).raise_for_status()
    http.post("/v1/namespaces/text/documents", json={"documents": [
        {"id": "warm", "text": "A warm-up sentence so the embedding model is loaded."}]}).raise_for_status()
    time.sleep(1.0)
    sampler = Sampler(pid)
    warm = sampler.rss()
    words = np.random.default_rng(0).choice(["lift", "drag", "wing", "flow", "shock", "layer", "boundary",
                                             "pressure", "nozzle", "heat"], size=200_000)
    text = " ".join(words.tolist())[:1_000_000]
    t0 = time.perf_counter()
    with sampler:
        r = http.post("/v1/namespaces/text/documents", json={"documents": [{"id": "big", "text": text}]})
    r.raise_for_status()
    seconds = time.perf_counter() - t0
    time.sleep(1.0)
    after = sampler.rss()
    return {"chars": len(text), "chunks": r.json()["chunks"], "seconds": round(seconds, 1),
            "warm_rss_mb": round(warm / MB), "peak_rss_mb": round(sampler.peak / MB),
            "after_rss_mb": round(after / MB), "after_minus_warm_mb": round((after - warm) / MB)}


def concurrent_uploads(url: str, pid: int, clients: int = 8, dims: int = 384) -> dict[str, object]:
    http = httpx.Client(base_url=url, timeout=900)
    http.post("/v1/namespaces", json={"namespace_name": "big", "vector_dimension": dims}).raise_for_status()
    rows = 10_000  # the server's batch limit; ~92 MiB of JSON at 384-d with 17 significant digits
    x = np.random.default_rng(1).standard_normal((rows, dims)) * 1e-5
    bodies = []
    for c in range(clients):
        body = json.dumps({"vectors": [{"id": f"c{c}-{i}", "vector": v} for i, v in enumerate(x.tolist())]})
        bodies.append(body.encode())
    size_mb = len(bodies[0]) / MB
    statuses: list[int] = []
    lock = threading.Lock()

    def post(body: bytes) -> None:
        with httpx.Client(base_url=url, timeout=900) as c:
            for _ in range(20):  # a 503 says when to retry
                r = c.post("/v1/namespaces/big/vectors", content=body, headers={"content-type": "application/json"})
                with lock:
                    statuses.append(r.status_code)
                if r.status_code != 503:
                    return
                time.sleep(float(r.headers.get("retry-after", "1")))

    sampler = Sampler(pid)
    before = sampler.rss()
    t0 = time.perf_counter()
    with sampler:
        threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    count = http.get("/v1/namespaces/big").json()["item_count"]
    return {"clients": clients, "body_mib": round(size_mb, 1), "seconds": round(time.perf_counter() - t0, 1),
            "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "items_stored": count, "items_sent": clients * rows,
            "before_rss_mb": round(before / MB), "peak_rss_mb": round(sampler.peak / MB)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bitsift-memory"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--part", choices=["all", "document", "uploads"], default="all")
    args = parser.parse_args()
    import shutil

    out: dict[str, object] = {}
    for part, run in (("document", large_document), ("uploads", concurrent_uploads)):
        if args.part not in ("all", part):
            continue
        shutil.rmtree(args.data / part, ignore_errors=True)
        with served(args.data / part) as server:  # a fresh server for each: its own RSS story
            out[part] = run(server.url, server.proc.pid)
        print(part, json.dumps(out[part]), file=sys.stderr)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
