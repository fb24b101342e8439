"""Issue 19's first step, a NumPy prototype: how many candidates must the first stage pass to the
float re-scoring for recall@10 >= 0.95, with today's symmetric first stage (Hamming distance of
the query's MIB code to the stored MIB codes) and with an asymmetric one (the query as B-bit
planes against the stored 1-bit codes, per-item corrective scalars)?

The asymmetric estimator (after RaBitQ, Gao and Long 2024): a stored vector x (unit) with MIB code
c in {0,1}^D is stood in for by s = 2c - 1 scaled per item: x ~ alpha * (s - m), where m is the
code's mean (MIB codes are balanced: m ~ 0) and alpha = <x, s - m> / ||s - m||^2 is the least-
squares scale (a corrective scalar stored with the code). A query q is quantized to B bits per
component, q ~ lo + step * u with u in [0, 2^B), so <q, s> = lo*sum(s) + step * sum_b 2^b * (2 *
popcount(u_b AND c) - popcount(u_b)): B popcounts of AND per item, as the kernel would do.
Estimated <q, x> = alpha * (<q, s> - m * sum(q)).

Usage: python benchmarks/asymmetric_proto.py [--n 100000] [--queries 200] [--json out.json]
Data: the peer suite's synthetic set (Gaussian with the real embeddings' mean and covariance) and
two of our own: topic clusters (bitsift.eval.synthetic: 100 topics, isotropic noise, a shared
offset) and heavy-tailed (Student-t with 3 degrees of freedom per component, scaled by a power-law
spectrum 1/sqrt(i), in a random orthogonal basis, normalised). Queries are independent draws of
the same distribution.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.peers.datasets import exact_top_k, synthetic
from bitsift.core.binarize import make_binarizer
from bitsift.eval.synthetic import clustered_vectors

K = 10
POOLS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def datasets(n: int, nq: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    peer = synthetic(n, nq, seed=0)
    clusters, _ = clustered_vectors(n + nq, 384, seed=5)
    rng = np.random.default_rng(9)  # heavy tails on a power-law spectrum, in a random basis
    basis, _ = np.linalg.qr(rng.standard_normal((384, 384)))
    spectrum = (1.0 / np.sqrt(np.arange(1, 385))).astype(np.float32)
    tails = unit((rng.standard_t(3, size=(n + nq, 384)).astype(np.float32) * spectrum) @ basis.T.astype(np.float32))
    return {"peer-synthetic": (peer.vectors, peer.queries), "clusters": (clusters[:n], clusters[n:]),
            "heavy-tailed": (tails[:n], tails[n:])}


def bits(codes_u64: np.ndarray, dims: int) -> np.ndarray:
    """uint64[N, W] codes as a float32 {0,1}[N, D] matrix."""
    raw = np.unpackbits(codes_u64.view(np.uint8), axis=1, bitorder="little")[:, :dims]
    return raw.astype(np.float32)


def recall_at(order: np.ndarray, sims: np.ndarray, truth: np.ndarray, pool: int) -> float:
    """Recall@10 when the first ``pool`` candidates of ``order`` are re-scored exactly (``sims``:
    every query's exact inner products)."""
    cand = order[:, :pool]
    exact = np.take_along_axis(sims, cand, 1)
    best = np.take_along_axis(cand, np.argsort(-exact, axis=1)[:, :K], 1)
    return float(np.mean([len(set(b) & set(t)) / K for b, t in zip(best, truth)]))


def run(name: str, x: np.ndarray, q: np.ndarray, planes: int) -> dict:
    binarizer = make_binarizer("mib")
    codes = bits(binarizer.encode(x), x.shape[1])
    qcodes = bits(binarizer.encode(q), x.shape[1])
    truth = exact_top_k(x, q, K)
    # symmetric: Hamming distance (smaller first) = D - <qc, c> - <1-qc, 1-c>
    ham = (qcodes @ (1 - codes).T) + ((1 - qcodes) @ codes.T)
    sym = np.argsort(ham, axis=1, kind="stable")
    # asymmetric: the query quantized to `planes` bits, codes as +-1 with a per-item scale
    s = 2 * codes - 1
    m = s.mean(axis=1, keepdims=True)
    alpha = np.einsum("nd,nd->n", x, s - m) / np.einsum("nd,nd->n", s - m, s - m)
    lo, hi = q.min(axis=1, keepdims=True), q.max(axis=1, keepdims=True)
    step = (hi - lo) / (2**planes - 1)
    u = np.rint((q - lo) / step)
    qhat = lo + step * u  # what B bit planes represent exactly
    est = alpha[None, :] * (qhat @ s.T - m[:, 0][None, :] * qhat.sum(axis=1, keepdims=True))
    asym = np.argsort(-est, axis=1, kind="stable")
    sims = q @ x.T
    out = {"dataset": name, "n": len(x), "planes": planes, "symmetric": {}, "asymmetric": {}}
    for pool in POOLS:
        out["symmetric"][pool] = recall_at(sym, sims, truth, pool)
        out["asymmetric"][pool] = recall_at(asym, sims, truth, pool)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--planes", type=int, nargs="+", default=[4])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name, (x, q) in datasets(args.n, args.queries).items():
        for planes in args.planes:
            t0 = time.perf_counter()
            row = run(name, x, q, planes)
            rows.append(row)
            need = {kind: next((p for p in POOLS if row[kind][p] >= 0.95), None) for kind in ("symmetric", "asymmetric")}
            print(f"{name:15s} B={planes} pool for recall@10 >= 0.95: symmetric {need['symmetric']}, "
                  f"asymmetric {need['asymmetric']}  ({time.perf_counter() - t0:.0f} s)", flush=True)
            print("   pool      " + " ".join(f"{p:>6d}" for p in POOLS))
            for kind in ("symmetric", "asymmetric"):
                print(f"   {kind:10s}" + " ".join(f"{row[kind][p]:6.3f}" for p in POOLS))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
