"""Run a peer-benchmark suite and write its results (JSON) and report (Markdown + PNG).

    python -m benchmarks.peers.runner benchmarks/suites/full.json

The suite file names the datasets, k, the systems (adapter class, parameters, the
sweep of the speed/recall knob) and which systems run on which dataset. Systems run
one at a time, each torn down before the next, in the same process and run. Results
are written after every system, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from . import datasets as D
from .base import Adapter
from .measure import (
    bytes_per_vector,
    choose_operating_point,
    mean_ndcg,
    percentiles,
    recall_at_k,
    single_client_latency,
    throughput,
)
from .procs import rss_bytes


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_adapter(spec: dict[str, Any], name: str | None = None) -> Adapter:
    """The suite's ``adapter`` ("module.Class" in this package) with its ``params``; the suite's
    name for the system replaces the adapter's default name."""
    module, cls = spec["adapter"].rsplit(".", 1)
    adapter = getattr(importlib.import_module(f"{__package__}.{module}"), cls)(**spec.get("params", {}))
    adapter.name = name or adapter.name
    return adapter


def load_dataset(spec: dict[str, Any]) -> D.Dataset:
    """``folder`` and ``cache`` default to ../shared/data and the eval embedding cache."""
    where = {k: Path(spec[k]) for k in ("folder", "cache") if k in spec}
    if spec["kind"] == "real":
        return D.real(spec["name"], **where)
    names = tuple(spec.get("spectrum_from", D.REAL_COLLECTIONS))
    return D.synthetic(spec["n"], queries=spec.get("queries", 1000), seed=spec.get("seed", 0), names=names, **where)


def _cache_folder(cache: Path | None, adapter: Adapter, ds: D.Dataset) -> Path | None:
    """Where a cacheable adapter's index for this dataset and these settings is kept, if anywhere:
    the key names the system, the dataset (name, size, a digest of its vectors) and the settings."""
    if cache is None or not adapter.cacheable:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(ds.vectors[:: max(1, ds.n // 1000)]).tobytes())
    digest.update(json.dumps(adapter.params, sort_keys=True, default=str).encode())
    return cache / f"{adapter.name}-{ds.name}-{ds.n}-{digest.hexdigest()[:12]}"


def _build_or_load(adapter: Adapter, ds: D.Dataset, workdir: Path, cache: Path | None, row: dict[str, Any]) -> None:
    """Build the index, or load the one cached from an earlier build of the same data and settings
    (its build time, measured then, is reported with ``build_cached``)."""
    folder = _cache_folder(cache, adapter, ds)
    meta = folder / "build.json" if folder is not None else None
    if meta is not None and meta.exists():
        log(f"{ds.name}: loading {adapter.name} from the index cache {folder}")
        adapter.load(folder, ds.vectors, workdir)
        row.update(json.loads(meta.read_text()), build_cached=True)
        return
    gc.collect()
    rss0, t0 = rss_bytes(), time.perf_counter()
    log(f"{ds.name}: building {adapter.name} ({ds.n:,} vectors)")
    adapter.build(ds.vectors, workdir)
    row["build_s"] = time.perf_counter() - t0
    row["rss_delta_bytes"] = rss_bytes() - rss0
    if folder is not None and meta is not None:
        folder.mkdir(parents=True, exist_ok=True)
        adapter.save(folder)
        meta.write_text(json.dumps({"build_s": row["build_s"], "rss_delta_bytes": row["rss_delta_bytes"],
                                    "built": time.strftime("%Y-%m-%d %H:%M:%S")}))


def run_system(name: str, spec: dict[str, Any], ds: D.Dataset, truth: np.ndarray, suite: dict[str, Any],
               scratch: Path, load: bool = True, cache: Path | None = None) -> dict[str, Any]:
    """Build (or load from ``cache``), sweep, pick the operating point, then (if ``load``) measure
    throughput under load."""
    k = suite["k"]
    limit = spec.get("max_queries", len(ds.queries))
    queries, truth = ds.queries[:limit], truth[:limit]
    lat_queries = queries[: suite.get("latency_queries", 300)]
    adapter = make_adapter(spec, name)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    row: dict[str, Any] = {"system": name, "dataset": ds.name, "n": ds.n, "dim": int(ds.vectors.shape[1]),
                           "kind": adapter.kind, "exact": adapter.exact, "queries": len(queries)}
    try:
        _build_or_load(adapter, ds, workdir, cache, row)
        row["index_bytes"] = adapter.index_bytes()
        row["bytes_per_vector"] = bytes_per_vector(row["index_bytes"], ds.n)
        log(f"  built in {row['build_s']:.1f} s, {row['bytes_per_vector']:.0f} B/vector")
        points = []
        for value in spec.get("sweep") or [None]:
            if value is not None:
                adapter.configure(value)
            t0 = time.perf_counter()
            found = adapter.search_batch(queries, k)
            batch_s = time.perf_counter() - t0
            point = {"sweep": value, "recall@10": recall_at_k(found, truth), "batch_qps": len(queries) / batch_s,
                     "latency": percentiles(single_client_latency(adapter, lat_queries, k))}
            if ds.qrels is not None:
                point["ndcg@10"] = mean_ndcg(found, ds.qrels[:limit], k)
            points.append(point)
            log(f"  {adapter.sweep_param or 'setting'}={value}: recall@10 {point['recall@10']:.3f}, "
                f"p50 {point['latency']['p50']:.2f} ms")
        row["sweep_param"], row["points"] = adapter.sweep_param, points
        op = choose_operating_point(points, suite["target_recall"])
        row["operating_point"] = op
        if op["sweep"] is not None:
            adapter.configure(op["sweep"])
        server = adapter.server_times_ms(lat_queries, k)
        if server is not None:
            row["server_latency"] = percentiles(server)
        row["throughput"] = []
        for clients in suite.get("clients", []) if load and spec.get("throughput", True) else []:
            r = throughput(adapter, queries, k, clients, suite.get("throughput_seconds", 3.0))
            row["throughput"].append(r)
            log(f"  {clients} clients: {r['qps']:.0f} searches/s")
        row["settings"] = adapter.settings()
    except Exception as exc:  # one broken system must not sink the run; the report says what failed
        row["error"] = f"{type(exc).__name__}: {exc}"[:500]  # a report line, not a dump
        log(f"  FAILED: {row['error']}\n{traceback.format_exc()}")
    finally:
        try:
            adapter.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return row


def machine() -> dict[str, Any]:
    import os

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def run_suite(suite: dict[str, Any], out: Path, scratch: Path | None = None,
              only: set[str] | None = None, cache: Path | None = None) -> dict[str, Any]:
    result = {"suite": suite, "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": [],
              "datasets": {}}
    out.parent.mkdir(parents=True, exist_ok=True)
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bitsift-peers-", dir=scratch) as tmp:
        for dspec in suite["datasets"]:
            ds = load_dataset(dspec)
            log(f"dataset {ds.name}: {ds.n:,} x {ds.vectors.shape[1]}, {len(ds.queries)} queries")
            truth = D.exact_top_k(ds.vectors, ds.queries, suite["k"])
            result["datasets"][ds.name] = {"n": ds.n, "dim": int(ds.vectors.shape[1]),
                                           "queries": len(ds.queries), **ds.notes}
            for name in dspec["systems"]:
                if only and name not in only:
                    continue
                result["rows"].append(run_system(name, suite["systems"][name], ds, truth, suite, Path(tmp),
                                                 load=dspec.get("throughput", True), cache=cache))
                result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
                out.write_text(json.dumps(result, indent=1))
            del ds, truth
            gc.collect()
    return result


def merge(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``run``'s rows replacing those of the same (system, dataset) and the run
    listed under "reruns", so a partial re-run updates a full report without hiding that it is one."""
    merged = json.loads(json.dumps(base))
    at = {(r["system"], r["dataset"]): i for i, r in enumerate(merged["rows"])}
    for row in run["rows"]:
        key = (row["system"], row["dataset"])
        if key in at:
            merged["rows"][at[key]] = row
        else:
            merged["rows"].append(row)
    merged["datasets"].update(run["datasets"])
    merged.setdefault("reruns", []).append({
        "started": run["started"], "finished": run.get("finished"),
        "rows": sorted({f"{r['system']} on {r['dataset']}" for r in run["rows"]})})
    return merged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/peers.json"), help="results JSON")
    ap.add_argument("--report", type=Path, default=None,
                    help="Markdown file whose peers section is (re)written, with plots next to it")
    ap.add_argument("--merge-into", type=Path, default=None,
                    help="an earlier results JSON: this run's rows replace its rows for the same system and "
                         "dataset, the merged file is rewritten and the report is made from it")
    ap.add_argument("--only", default=None, help="comma-separated system names to run (default: all)")
    ap.add_argument("--scratch", type=Path, default=None, help="folder for indexes (default: system temp)")
    ap.add_argument("--index-cache", type=Path, default=None,
                    help="folder keeping the graphs of cacheable systems (FAISS HNSW, hnswlib) between runs; "
                         "a cached graph's build time is the one measured when it was built")
    args = ap.parse_args(argv)
    suite = json.loads(args.suite.read_text())
    result = run_suite(suite, args.out, args.scratch, set(args.only.split(",")) if args.only else None,
                       cache=args.index_cache)
    if args.merge_into:
        base = json.loads(args.merge_into.read_text()) if args.merge_into.exists() else {**result, "rows": []}
        result = merge(base, result)
        args.merge_into.write_text(json.dumps(result, indent=1))
    if args.report:
        from .report import write_report

        write_report(result, args.report)
    failed = [f"{r['system']} on {r['dataset']}: {r['error']}" for r in result["rows"] if "error" in r]
    for f in failed:
        log(f"FAILED {f}")


if __name__ == "__main__":
    main()
