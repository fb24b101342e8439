"""Scan-kernel benchmark: bitsift vs FAISS IndexBinaryFlat vs NumPy vs a memory-read floor (not a test).

Every system answers the same seeded random queries over the same seeded random codes,
inside ONE process and interleaved round-robin within each repetition, so a noisy
neighbour or a frequency change hits all systems alike instead of whichever ran last.
Reported times are the median of --reps repetitions after one discarded warm-up.
Usage: python -m benchmarks.kernel [--n 1000000] [--reps 5] [--bits 384,1024]
                                   [--queries 1,16,256] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

import faiss
import numpy as np

from benchmarks.machine import machine as describe_machine
from bitsift import _kernel
from bitsift.core import kernel as K

TOP_K = 10
THREADS = (1, 2)
NUMPY_MAX_Q = 16  # NumPy is ~0.2 s per query at 1M codes; larger Q would dominate the run time
Result = tuple[np.ndarray, np.ndarray] | None
System = tuple[str, int, Callable[[], Result]]
_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def machine() -> dict[str, object]:
    return {**describe_machine(), "faiss": faiss.__version__}


def popcount_rows_np(x: np.ndarray) -> np.ndarray:
    """Bits set per row of a uint64 [N, W] array: np.bitwise_count (NumPy >= 2) or a byte table."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).sum(axis=1, dtype=np.uint32)
    return _POP8[x.view(np.uint8)].sum(axis=1, dtype=np.uint32)


def numpy_topk(queries: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The obvious NumPy baseline, one query at a time: a [Q, N, W] broadcast would not fit in memory."""
    dist = np.empty((queries.shape[0], k), np.uint32)
    rows = np.empty((queries.shape[0], k), np.int64)
    for i, q in enumerate(queries):
        d = popcount_rows_np(np.bitwise_xor(codes, q))
        part = np.argpartition(d, k - 1)[:k]
        order = np.lexsort((part, d[part]))
        dist[i], rows[i] = d[part[order]], part[order]
    return dist, rows


def faiss_search(index: faiss.IndexBinaryFlat, qbytes: np.ndarray, k: int, threads: int) -> Result:
    """FAISS with its OpenMP pool pinned to `threads` (set per call because the pool size is global)."""
    faiss.omp_set_num_threads(threads)
    return index.search(qbytes, k)


def run_group(systems: list[System], reps: int) -> tuple[dict[tuple[str, int], list[float]], dict[tuple[str, int], Result]]:
    """Time every system once per repetition, round-robin, rotating the start so no system always follows
    the same neighbour (cache state, clock ramp). Repetition 0 is a discarded warm-up."""
    times: dict[tuple[str, int], list[float]] = {(s, t): [] for s, t, _ in systems}
    results: dict[tuple[str, int], Result] = {}
    for rep in range(reps + 1):
        shift = rep % len(systems)
        for name, threads, fn in systems[shift:] + systems[:shift]:
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            elapsed = (time.perf_counter() - t0) * 1e3
            if rep:
                times[(name, threads)].append(elapsed)
            results[(name, threads)] = out
    return times, results


def verify(bits: int, q: int, results: dict[tuple[str, int], Result]) -> list[str]:
    """bitsift must return the exact same distances as FAISS (rows may differ only among ties)."""
    warnings: list[str] = []
    for (name, threads), out in results.items():
        if name == "bitsift" or out is None:
            continue
        ref = results[("bitsift", threads if name == "faiss" else 1)]
        assert ref is not None
        if not np.array_equal(np.sort(out[0].astype(np.int64), axis=1), ref[0].astype(np.int64)):
            warnings.append(f"WARNING: {bits} bits Q={q}: bitsift distances differ from {name} ({threads} threads)")
    return warnings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="codes in the database")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (plus one warm-up)")
    ap.add_argument("--bits", default="384,1024", help="code widths, multiples of 64")
    ap.add_argument("--queries", default="1,16,256", help="query batch sizes")
    ap.add_argument("--json", metavar="OUT", help="also write machine, rows and summary as JSON")
    args = ap.parse_args()
    bits_list = [int(b) for b in args.bits.split(",")]
    q_list = sorted(int(q) for q in args.queries.split(","))
    if any(b % 64 or b <= 0 for b in bits_list):
        raise SystemExit("--bits must be positive multiples of 64")

    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, python {mach['python']}, numpy {mach['numpy']}, "
          f"faiss {mach['faiss']}, bitsift kernel path {mach['kernel_path']} (capabilities {mach['capabilities']})")
    print(f"n={args.n:,} uniform random codes, k={TOP_K}, median of {args.reps} interleaved reps (+1 warm-up)\n")

    rows: list[dict[str, object]] = []
    warnings: list[str] = []
    rng = np.random.default_rng(20240601)
    for bits in bits_list:
        words = bits // 64
        codes = rng.integers(0, np.iinfo(np.uint64).max, size=(args.n, words), dtype=np.uint64, endpoint=True)
        queries = rng.integers(0, np.iinfo(np.uint64).max, size=(max(q_list), words), dtype=np.uint64, endpoint=True)
        snap = K.PackedCodes.from_codes(codes).snapshot()
        index = faiss.IndexBinaryFlat(bits)
        index.add(codes.view(np.uint8))
        for q in q_list:
            qs = np.ascontiguousarray(queries[:q])
            qbytes = qs.view(np.uint8)
            systems: list[System] = []
            for t in THREADS:
                systems.append(("bitsift", t, lambda t=t: K.scan_topk(qs, snap, TOP_K, threads=t)))
                systems.append(("faiss", t, lambda t=t: faiss_search(index, qbytes, TOP_K, t)))
            if q <= NUMPY_MAX_Q:
                systems.append(("numpy", 1, lambda: numpy_topk(qs, codes, TOP_K)))
            if q == q_list[0]:  # the floor does not depend on Q: measure it once per width, interleaved
                for t in THREADS:
                    systems.append(("read probe", t, lambda t=t: (_kernel.read_probe(snap.blocks, t), None)[1]))
            times, results = run_group(systems, args.reps)
            warnings += verify(bits, q, results)
            med = {key: statistics.median(v) for key, v in times.items()}
            for name, t in [(s, t) for s, t, _ in systems] + ([] if q <= NUMPY_MAX_Q else [("numpy", 1)]):
                ms = med.get((name, t))
                row: dict[str, object] = {"bits": bits, "Q": q, "system": name, "threads": t, "median_ms": ms,
                                          "qps": (q / ms * 1e3) if ms and name != "read probe" else None,
                                          "samples_ms": times.get((name, t))}
                if name == "bitsift":
                    row["vs_faiss"] = med[("faiss", t)] / ms
                    if q == 1 and ("read probe", t) in med:
                        row["vs_floor"] = ms / med[("read probe", t)]
                if name == "read probe":
                    row["Q"] = None
                    row["GB_per_s"] = snap.blocks.nbytes / ms / 1e6
                rows.append(row)
        index = snap = codes = None  # free ~GBs before the next width

    print_table(rows)
    summary = acceptance(rows, args.n)
    print("\nAcceptance (n=%s):" % f"{args.n:,}")
    for line in summary:
        print(f"- {line['what']}: {line['value']} (goal {line['goal']}) -> {line['verdict']}")
    for w in warnings:
        print(w)
    if not warnings:
        print("\nverified: bitsift distances equal FAISS (and NumPy) distances in every configuration")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args), "rows": rows, "acceptance": summary,
                       "warnings": warnings}, f, indent=1)


def print_table(rows: list[dict[str, object]]) -> None:
    """Markdown table; 'vs FAISS' is FAISS time / bitsift time (>1 = bitsift faster), 'vs floor' is
    bitsift time / time to read the packed codes once (1.0 = as fast as memory allows)."""
    print("| bits | Q | system | threads | median ms | queries/s | vs FAISS (same threads) | vs bandwidth floor |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ms, qps = r["median_ms"], r["qps"]
        name = str(r["system"])
        if name == "read probe":
            name = f"read probe (floor, {r['GB_per_s']:.1f} GB/s)"
        elif name == "numpy" and ms is None:
            name = f"numpy (run only for Q <= {NUMPY_MAX_Q})"
        cells = [str(r["bits"]), "-" if r["Q"] is None else str(r["Q"]), name, str(r["threads"]),
                 "n/a" if ms is None else f"{ms:.2f}", "-" if qps is None else f"{qps:,.0f}",
                 f"{r['vs_faiss']:.2f}x" if "vs_faiss" in r else "",
                 f"{r['vs_floor']:.2f}x" if "vs_floor" in r else ""]
        print("| " + " | ".join(cells) + " |")


def acceptance(rows: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    """The three release goals, read off the rows (defined at n = 1M, 2 threads)."""
    def find(bits: int, q: int, key: str) -> float | None:
        for r in rows:
            if r["bits"] == bits and r["Q"] == q and r["system"] == "bitsift" and r["threads"] == 2:
                return r.get(key)  # type: ignore[return-value]
        return None

    goals = [("Q=1 latency at 1024 bits vs memory-bandwidth floor, 2 threads", 1024, 1, "vs_floor", "<= 1.15x"),
             ("Q=256 throughput vs FAISS IndexBinaryFlat at 1024 bits, 2 threads", 1024, 256, "vs_faiss", ">= 3x"),
             ("Q=256 throughput vs FAISS IndexBinaryFlat at 384 bits, 2 threads", 384, 256, "vs_faiss", ">= 6x")]
    out = []
    for what, bits, q, key, goal in goals:
        v = find(bits, q, key)
        limit = float(goal.split()[1].rstrip("x"))
        ok = v is not None and (v <= limit if goal.startswith("<=") else v >= limit)
        out.append({"what": what, "value": f"{v:.2f}x" if v is not None else "not measured", "goal": goal,
                    "verdict": "not measured" if v is None else ("PASS" if ok else "FAIL"),
                    "n": n})
    return out


if __name__ == "__main__":
    main()
