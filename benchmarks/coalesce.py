"""In-process search throughput with many threads, coalescing on vs off (not a test).

    python -m benchmarks.coalesce [--n 100000] [--threads 1 4 16 64] [--seconds 5] [--json OUT]

One 100k x 384 vector namespace (clustered synthetic vectors, as benchmarks/batch.py), default
(rescore) mode, top_k 10, 1,000 distinct held-out queries rotated. For each thread count, the
two engines (``Engine(coalesce=True)`` and ``coalesce=False``, over the same folder) are measured
in alternating rounds; QPS is searches answered per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

from benchmarks.batch import make_data, upload
from benchmarks.machine import machine


def qps(engine, queries: list[list[float]], threads: int, seconds: float) -> float:  # noqa: ANN001
    count = [0] * threads
    stop = time.monotonic() + seconds

    def run(t: int) -> None:
        i = t
        while time.monotonic() < stop:
            engine.search("bench", queries[i % len(queries)], top_k=10)
            count[t] += 1
            i += threads

    t0 = time.monotonic()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / (time.monotonic() - t0)


def main() -> None:
    import bitsift
    from bitsift.engine.local import Engine

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    x, q = make_data(args.n, 1000)
    queries = q.tolist()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        with bitsift.Client(path=d) as client:
            upload(client, x)
        with closing(Engine(d, coalesce=True)) as on, closing(Engine(d, coalesce=False)) as off:
            for engine in (on, off):
                qps(engine, queries, 4, 1.0)  # warm-up
            for threads in args.threads:
                got: dict[str, list[float]] = {"on": [], "off": []}
                for r in range(args.rounds):
                    for name in (("on", "off") if r % 2 == 0 else ("off", "on")):
                        got[name].append(qps(on if name == "on" else off, queries, threads, args.seconds))
                row = {"threads": threads, "qps_coalesced": max(got["on"]), "qps_alone": max(got["off"])}
                row["ratio"] = row["qps_coalesced"] / row["qps_alone"]
                rows.append(row)
                print(f"{threads:>3} threads: coalesced {row['qps_coalesced']:8.0f} QPS, alone "
                      f"{row['qps_alone']:8.0f} QPS, {row['ratio']:.2f}x", flush=True)
            stats = on.coalescer.stats if on.coalescer else None
    out = {"machine": machine(), "n": args.n, "rows": rows,
           "passes_per_search": stats.passes / max(stats.searches, 1) if stats else None}
    print(json.dumps(out["machine"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
