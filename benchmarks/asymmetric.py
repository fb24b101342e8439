"""The asymmetric first stage (issue 19), measured: its scan cost against the Hamming scan, and what
rescore mode's default (the adaptive pool) gives on the peer suite's set and on our own two.

    python -m benchmarks.asymmetric [--n 100000] [--queries 300] [--scan-n 1000000] [--json benchmarks/asymmetric.json]

* scan: ``kernel.asym_topk`` against ``kernel.scan_topk`` over the same 1M x 384 codes, Q = 1 (median of
  30 runs) and Q = 256 (median of 3), top 1,000, the CPU's own kernel path and both threads.
* default settings: a vector namespace per dataset (``Client(path=...)``, MIB codes), top_k 10 and nothing
  else set; recall@10 against the exact float inner-product top 10 (the peer suite's definition) and
  against the exact top 10 by rho (what re-scoring every row would return: the first stage's own
  recall), the recall of that exhaustive re-scoring itself (rho is the mean-centred cosine, which
  differs from the inner product where vectors share an offset), and the bound's miss rate: the
  share of queries whose 10 hits are not exactly the top 10 by rho. Pool sizes from ``core.candidates.rescored`` on the same data.
  Datasets (``benchmarks.asymmetric_proto``): the peer suite's synthetic set, topic clusters, heavy tails.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import bitsift
from benchmarks.asymmetric_proto import datasets
from benchmarks.peers.datasets import exact_top_k
from bitsift.core import asymmetric, candidates, kernel, rescore
from bitsift.core.binarize import make_binarizer
from bitsift.core.spec import ADAPTIVE_OVERSAMPLE

K = 10


def scan_cost(n: int, reps: int = 30) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 384)).astype(np.float32)
    codes = make_binarizer("mib").encode(x)
    scalars = asymmetric.correctives(x.astype(np.float16), codes, 384)
    del x
    snap = kernel.PackedCodes.from_codes(codes, scalars=scalars).snapshot()
    out = {"n": n, "dims": 384, "k": 1000, "path": kernel.capabilities()["auto"]}
    for q in (1, 256):
        queries = rng.standard_normal((q, 384)).astype(np.float32)
        levels = asymmetric.quantize(queries)
        qcodes = make_binarizer("mib").encode(queries)
        runs = reps if q == 1 else 3
        asym, ham = [], []
        for _ in range(runs):  # interleaved, so both see the same machine
            t = time.perf_counter()
            kernel.asym_topk(levels, snap, 1000)
            asym.append(time.perf_counter() - t)
            t = time.perf_counter()
            kernel.scan_topk(qcodes, snap, 1000)
            ham.append(time.perf_counter() - t)
        out[f"q{q}"] = {"asymmetric_ms": float(np.median(asym)) * 1e3, "hamming_ms": float(np.median(ham)) * 1e3,
                        "ratio": float(np.median(asym) / np.median(ham))}
        print(f"scan {n:,} x 384, Q={q}: asymmetric {out[f'q{q}']['asymmetric_ms']:.2f} ms, "
              f"Hamming {out[f'q{q}']['hamming_ms']:.2f} ms ({out[f'q{q}']['ratio']:.2f}x)", flush=True)
    return out


def defaults(name: str, x: np.ndarray, q: np.ndarray) -> dict:
    truth = exact_top_k(x, q, K)
    with tempfile.TemporaryDirectory() as tmp, bitsift.Client(path=Path(tmp)) as client:
        client.create_namespace("bench", type="vector", dimension=x.shape[1])
        for a in range(0, len(x), 10_000):
            client.upload_vectors("bench", [{"id": str(a + i), "vector": v} for i, v in enumerate(x[a : a + 10_000])])
        for v in q[:20]:  # warm-up
            client.search("bench", v, top_k=K)
        hits, times = [], []
        for v in q:
            t = time.perf_counter()
            res = client.search("bench", v, top_k=K)["results"]
            times.append(time.perf_counter() - t)
            hits.append([int(r["id"]) for r in res])
    recall = float(np.mean([len(set(h) & set(t)) / K for h, t in zip(hits, truth)]))
    # pool sizes and the bound's misses, on the kernel and candidate functions directly
    codes = make_binarizer("mib").encode(x)
    vectors = x.astype(np.float16)
    snap = kernel.PackedCodes.from_codes(codes, scalars=asymmetric.correctives(vectors, codes, x.shape[1])).snapshot()
    ids = np.arange(len(x)).astype(object)
    found = candidates.rescored(q, snap, vectors, ids, None, K, ADAPTIVE_OVERSAMPLE)
    pools = np.diff(found.bounds)
    misses, by_rho, ceiling = 0, [], []
    floats = vectors.astype(np.float32)
    for i, c in enumerate(found):
        got = set(c.rows[np.lexsort((c.rows, c.tiebreak))[:K]].tolist())
        exact = set(np.argsort(-rescore.correlation(q[i], floats), kind="stable")[:K].tolist())
        misses += got != exact
        by_rho.append(len(set(hits[i]) & exact) / K)
        ceiling.append(len(exact & set(truth[i].tolist())) / K)
    row = {"dataset": name, "n": len(x), "queries": len(q), "recall@10": recall,
           "recall@10_vs_exact_rho": float(np.mean(by_rho)), "exact_rho_recall@10": float(np.mean(ceiling)),
           "p50_ms": float(np.median(times)) * 1e3, "p99_ms": float(np.percentile(times, 99)) * 1e3,
           "pool_p50": int(np.median(pools)), "pool_p90": int(np.percentile(pools, 90)), "pool_max": int(pools.max()),
           "miss_rate": misses / len(q)}
    print(f"{name}: recall@10 {recall:.3f} (against exact rho {row['recall@10_vs_exact_rho']:.3f}; exhaustive "
          f"re-scoring's own {row['exact_rho_recall@10']:.3f}), p50 {row['p50_ms']:.2f} ms, pool p50 {row['pool_p50']} "
          f"p90 {row['pool_p90']} max {row['pool_max']}, queries not exact {row['miss_rate']:.3f}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--scan-n", type=int, default=1_000_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    result = {"machine": kernel.capabilities(), "scan": scan_cost(args.scan_n),
              "defaults": [defaults(name, x, q) for name, (x, q) in datasets(args.n, args.queries).items()]}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
