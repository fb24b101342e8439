"""Durable ingest throughput: 100k 384-d vectors in batches of 1,000 (not a test).

Every upload_vectors call returns only after its rows are fsynced and committed,
so this is the rate at which acknowledged, crash-safe writes land.
Usage: python benchmarks/ingest.py [--n 100000] [--dim 384] [--batch 1000] [--reps 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import numpy as np

import bitsift
from bitsift.eval.synthetic import clustered_vectors


def one_run(x: np.ndarray, batch: int, as_lists: bool) -> float:
    """Vectors per second over the upload calls alone (items are built beforehand)."""
    n = x.shape[0]
    batches = [[{"id": f"v{i}", "vector": (x[i].tolist() if as_lists else x[i])} for i in range(s, min(s + batch, n))]
               for s in range(0, n, batch)]
    with tempfile.TemporaryDirectory(prefix="bitsift-ingest-") as d, bitsift.Client(path=d) as client:
        client.create_namespace("bench", dimension=x.shape[1])
        t0 = time.perf_counter()
        for b in batches:
            client.upload_vectors("bench", b)
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    x, _ = clustered_vectors(args.n, args.dim, seed=1)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| input | vectors | dim | batch | median vectors/s | runs |")
    print("|---|---:|---:|---:|---:|---|")
    for as_lists in (False, True):
        rates = [one_run(x, args.batch, as_lists) for _ in range(args.reps)]
        kind = "Python lists" if as_lists else "NumPy rows"
        print(f"| {kind} | {args.n:,} | {args.dim} | {args.batch:,} | {statistics.median(rates):,.0f} | "
              f"{', '.join(f'{r:,.0f}' for r in rates)} |")


if __name__ == "__main__":
    main()
