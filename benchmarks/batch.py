"""Batched search vs single searches, and single-query latency vs a previous commit (not a test).

A (--part batch): in this process, over one 100k x 384 vector namespace, interleaved reps of one
  `search_batch` of 64 queries and the same 64 `search` calls (order alternating); goal: batch time
  <= 0.35x singles time in default (rescore) mode, with identical results. mode="binary" is an extra row.
B (--part latency): single-query latency of a frozen build of this tree vs `--prev` (default cc7467d),
  each installed with pip --target under /tmp (--build) and run in its own worker process over the
  SAME data folder; the parent alternates blocks of --block queries between them over JSON-line
  pipes, so only one runs at a time. Goal: head median <= 1.10x prev median, identical results.
Usage: python -m benchmarks.batch [--part batch|latency|all] [--n 100000] [--build] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import machine

REPO = Path(__file__).resolve().parents[1]
PY = REPO / ".venv" / "bin" / "python"
DIM, TOP_K, UPLOAD = 384, 10, 10_000
SEARCH_ARGS_ENV = "BITSIFT_BENCH_SEARCH_ARGS"  # JSON keyword arguments of every timed search (part B)
BATCH_GOAL, LATENCY_GOAL = 0.35, 1.10


def make_data(n: int, held_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Topic-clustered unit vectors (bitsift.eval.synthetic); queries are held-out draws of the same set."""
    from bitsift.eval.synthetic import clustered_vectors

    x, _ = clustered_vectors(n + held_out, DIM, seed=3)
    return x[:n], x[n:]


def upload(client: Any, x: np.ndarray) -> None:
    """One vector namespace "bench", default mib binarizer, uploaded in batches of 10,000 rows."""
    client.create_namespace("bench", type="vector", dimension=DIM)
    for s in range(0, len(x), UPLOAD):
        client.upload_vectors("bench", [{"id": str(i), "vector": x[i]} for i in range(s, min(s + UPLOAD, len(x)))])


def hits(response: dict[str, Any]) -> list[tuple[str, float]]:
    """What must match between two answers: ids, scores and their order (timing fields ignored)."""
    return [(r["id"], r["score"]) for r in response["results"]]


# ---------------------------------------------------------------- A: search_batch vs single searches
def part_batch(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Interleaved reps: one search_batch vs the same queries searched one by one; rep 0 is a warm-up."""
    import bitsift

    x, q = make_data(args.n, args.batch_size)
    queries = q.tolist()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bitsift-batch-") as d, bitsift.Client(path=d) as client:
        if not hasattr(client, "search_batch"):
            raise SystemExit(f"part A needs Client.search_batch, which the installed bitsift ({bitsift.__file__}) "
                             "does not have yet: reinstall src (pip install --no-build-isolation --no-deps .)")
        upload(client, x)
        for label, mode in (("rescore (default)", None), ("binary", "binary")):
            def batch() -> list[dict[str, Any]]:
                return client.search_batch("bench", queries, top_k=TOP_K, mode=mode)

            def singles() -> list[dict[str, Any]]:
                return [client.search("bench", qq, top_k=TOP_K, mode=mode) for qq in queries]

            times: dict[str, list[float]] = {"batch": [], "singles": []}
            identical = True
            for rep in range(args.reps + 1):
                order = [("batch", batch), ("singles", singles)]
                out: dict[str, list[dict[str, Any]]] = {}
                for name, fn in order if rep % 2 else order[::-1]:
                    gc.collect()
                    t0 = time.perf_counter()
                    out[name] = fn()
                    if rep:
                        times[name].append((time.perf_counter() - t0) * 1e3)
                identical &= len(out["batch"]) == len(queries) and all(
                    hits(a) == hits(b) for a, b in zip(out["batch"], out["singles"]))
            med_b, med_s = statistics.median(times["batch"]), statistics.median(times["singles"])
            ratio = med_b / med_s  # < 1: the batch is cheaper than the same queries one by one
            rows.append({"mode": label, "queries": len(queries), "batch_ms": med_b, "singles_ms": med_s,
                         "ratio": ratio, "identical": identical,
                         "verdict": "PASS" if ratio <= BATCH_GOAL and identical else "FAIL",
                         "samples_ms": times})
    print(f"\nA. search_batch vs {args.batch_size} single searches, n={args.n:,} x {DIM}, top_k={TOP_K}, "
          f"median of {args.reps} interleaved reps (+1 warm-up); goal: ratio <= {BATCH_GOAL} (default mode)\n")
    print("| mode | batch ms | singles ms | ratio | identical results | verdict |\n|---|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['batch_ms']:.2f} | {r['singles_ms']:.2f} | {r['ratio']:.3f}x | "
              f"{'yes' if r['identical'] else 'NO'} | {r['verdict']}{' (extra row)' if r['mode'] == 'binary' else ''} |")
    return rows


# ---------------------------------------------------------------- B: latency vs a previous commit
def build_sites(args: argparse.Namespace) -> None:
    """Freeze both versions as pip --target installs: prev from a git worktree, head from a copy of the
    tree (tracked + untracked, not ignored), so edits made during the run do not leak into it."""
    pip = [str(PY), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target"]
    wt, head_src = Path(args.tmp) / "bitsift-prev", Path(args.tmp) / "bitsift-head-src"
    if not wt.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(wt), args.prev], check=True)
    else:
        subprocess.run(["git", "-C", str(wt), "checkout", "-q", "--detach", args.prev], check=True)
    files = subprocess.run(["git", "-C", args.head, "ls-files", "-co", "--exclude-standard", "-z"],
                           check=True, capture_output=True, text=True).stdout.split("\0")
    shutil.rmtree(head_src, ignore_errors=True)
    for f in filter(None, files):
        if (Path(args.head) / f).is_file():
            (head_src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(args.head) / f, head_src / f)
    for src, site in ((wt, args.prev_site), (head_src, args.head_site)):
        shutil.rmtree(site, ignore_errors=True)
        print(f"building {src} -> {site}", flush=True)
        subprocess.run(pip + [str(site), str(src)], check=True)


class Worker:
    """One bitsift version in its own process (PYTHONPATH=its site dir), driven by JSON lines."""

    def __init__(self, name: str, site: str) -> None:
        self.name = name
        env = dict(os.environ, PYTHONPATH=site)
        self.proc = subprocess.Popen([str(PY), "-m", "benchmarks.batch", "--worker"], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name} worker died (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(30)


def worker() -> None:
    """Worker side: protocol on a private copy of stdout; anything bitsift prints goes to stderr."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import bitsift

    extra = json.loads(os.environ.get(SEARCH_ARGS_ENV, "{}"))  # --oversample: the same for both versions

    try:
        from bitsift.core.kernel import capabilities  # after the layered redesign
    except ImportError:
        from bitsift.kernel import capabilities  # type: ignore  # flat layout (cc7467d)
    client: Any = None
    queries: list[list[float]] = []
    for line in sys.stdin:
        cmd = json.loads(line)
        reply: dict[str, Any] = {}
        try:
            if cmd["cmd"] == "hello":
                reply = {"file": bitsift.__file__, "kernel_path": capabilities()["auto"]}
            elif cmd["cmd"] in ("build", "open"):
                client = bitsift.Client(path=cmd["dir"])
                if cmd["cmd"] == "build":
                    upload(client, np.load(cmd["vectors"]))
                queries = np.load(cmd["queries"]).tolist()
                reply = {"count": client.describe_namespace("bench")["item_count"]}
            elif cmd["cmd"] == "run":  # per-query wall time of `search`, in ms
                gc.collect()
                ms = []
                for qq in queries[cmd["start"]:cmd["start"] + cmd["count"]]:
                    t0 = time.perf_counter()
                    client.search("bench", qq, top_k=TOP_K, **extra)
                    ms.append((time.perf_counter() - t0) * 1e3)
                reply = {"ms": ms}
            elif cmd["cmd"] == "results":
                reply = {"hits": [hits(client.search("bench", qq, top_k=TOP_K, **extra)) for qq in queries[:cmd["count"]]]}
        except Exception as e:  # reported to the parent, which decides (e.g. a format it cannot open)
            reply = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def part_latency(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up both workers, then alternate blocks of the same queries between them, first mover alternating."""
    if args.build:
        build_sites(args)
    for site in (args.prev_site, args.head_site):
        if not (Path(site) / "bitsift").is_dir():
            raise SystemExit(f"{site} has no bitsift: run with --build first")
    x, q = make_data(args.n, args.queries)
    workers = {"prev": Worker("prev", args.prev_site), "head": Worker("head", args.head_site)}
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bitsift-latency-") as d:
        data = {"vectors": f"{d}/x.npy", "queries": f"{d}/q.npy"}
        np.save(data["vectors"], x), np.save(data["queries"], q)
        try:
            for name, w in workers.items():
                info[name] = w.ask(cmd="hello")
                print(f"{name}: bitsift from {info[name]['file']}, kernel path {info[name]['kernel_path']}")
            built = workers["head"].ask(cmd="build", dir=f"{d}/data", **data)
            opened = workers["prev"].ask(cmd="open", dir=f"{d}/data", **data)
            info["shared_folder"] = "error" not in opened and opened.get("count") == args.n
            if not info["shared_folder"]:  # fall back: one folder per version, same vectors
                print(f"WARNING: prev cannot open head's folder ({opened}); building one folder per version")
                opened = workers["prev"].ask(cmd="build", dir=f"{d}/data-prev", **data)
            if built.get("count") != args.n or opened.get("count") != args.n:
                raise SystemExit(f"data folder: head {built}, prev {opened}")
            for w in workers.values():
                w.ask(cmd="run", start=0, count=min(args.warmup, args.queries))
            ms: dict[str, list[float]] = {"prev": [], "head": []}
            for i, start in enumerate(range(0, args.queries, args.block)):
                for name in ("prev", "head") if i % 2 == 0 else ("head", "prev"):
                    r = workers[name].ask(cmd="run", start=start, count=min(args.block, args.queries - start))
                    ms[name] += r["ms"]
            res = {name: w.ask(cmd="results", count=min(args.verify, args.queries))["hits"]
                   for name, w in workers.items()}
            identical = res["prev"] == res["head"]
        finally:
            for w in workers.values():
                w.close()
    stats = {name: {p: float(np.percentile(v, p)) for p in (50, 90, 99)} for name, v in ms.items()}
    ratio = stats["head"][50] / stats["prev"][50]
    verdict = "PASS" if ratio <= LATENCY_GOAL and identical else "FAIL"
    print(f"\nB. single-query latency, head ({args.head}) vs prev ({args.prev}), n={args.n:,} x {DIM}, top_k={TOP_K}, "
          f"{'oversample ' + str(args.oversample) if args.oversample else 'default mode'}, {args.queries:,} queries per version in alternating blocks of {args.block} "
          f"(after {args.warmup} warm-up), {'one shared data folder' if info['shared_folder'] else 'a data folder per version'}\n")
    print("| version | kernel path | median ms | p90 ms | p99 ms |\n|---|---|---:|---:|---:|")
    for name in ("prev", "head"):
        s = stats[name]
        print(f"| {name} | {info[name]['kernel_path']} | {s[50]:.3f} | {s[90]:.3f} | {s[99]:.3f} |")
    print(f"\nhead/prev median: {ratio:.3f}x (goal <= {LATENCY_GOAL}), identical results on "
          f"{min(args.verify, args.queries)} queries: {'yes' if identical else 'NO'} -> {verdict}")
    return {"workers": info, "stats_ms": stats, "ratio": ratio, "identical": identical, "verdict": verdict,
            "samples_ms": ms}


def main() -> None:
    if "--worker" in sys.argv:
        return worker()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("batch", "latency", "all"), default="all")
    ap.add_argument("--n", type=int, default=100_000, help="vectors in the namespace")
    ap.add_argument("--batch-size", type=int, default=64, help="A: queries per search_batch")
    ap.add_argument("--reps", type=int, default=30, help="A: timed repetitions (plus one warm-up)")
    ap.add_argument("--queries", type=int, default=2000, help="B: timed queries per version")
    ap.add_argument("--block", type=int, default=100, help="B: queries per turn of one version")
    ap.add_argument("--warmup", type=int, default=200, help="B: untimed queries per version first")
    ap.add_argument("--verify", type=int, default=200, help="B: queries whose results must be identical")
    ap.add_argument("--oversample", type=int, default=None, help="B: a fixed oversample for both versions "
                    "(default: each version's own default pool)")
    ap.add_argument("--prev", default="cc7467d", help="B: the git revision to compare against")
    ap.add_argument("--head", default=str(REPO), help="B: the source tree measured as head (frozen by --build)")
    ap.add_argument("--build", action="store_true", help="B: (re)build both site dirs first")
    ap.add_argument("--tmp", default="/tmp", help="B: where the worktree, the head copy and the site dirs go")
    ap.add_argument("--json", metavar="OUT", help="also write machine, args and results as JSON")
    args = ap.parse_args()
    if args.oversample is not None:  # read by both workers (engine.request validates it)
        os.environ[SEARCH_ARGS_ENV] = json.dumps({"oversample": args.oversample})
    args.prev_site, args.head_site = f"{args.tmp}/bitsift-prev-site", f"{args.tmp}/bitsift-head-site"
    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, python {mach['python']}, numpy {mach['numpy']}, "
          f"bitsift kernel path {mach['kernel_path']} (capabilities {mach['capabilities']})")
    result: dict[str, Any] = {"machine": mach, "args": vars(args)}
    if args.part in ("batch", "all"):
        result["batch"] = part_batch(args)
    if args.part in ("latency", "all"):
        result["latency"] = part_latency(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
