"""Server memory under large uploads, measured on a real ``bitsift serve`` process (psutil).

    python -m benchmarks.memory [--json benchmarks/memory.json]

* **One large document**: RSS after one warm-up embedding, then after a 1,000,000-character
  document is uploaded to a text namespace (and the peak while it is embedded). The goal: the
  after-RSS within 200 MB of the warm-up RSS (memory is returned, not kept).
* **A folder through the CLI**: ``bitsift --url ... ingest`` of 128 files of six types (txt, md,
  csv, jsonl, docx, xlsx) made from the bundled Cranfield corpus; RSS after one warm-up embedding
  and after the ingest (the goal: within 300 MB), with the CLI's exit status and the chunks stored.
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
    """The peak RSS of a server, sampled every 20 ms on a thread: the process and its children
    summed (``bitsift serve`` runs one worker process per core under a supervisor)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return sum(self.each().values())

    def each(self) -> dict[int, int]:
        """RSS by pid: the supervisor and every worker."""
        out = {}
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                out[p.pid] = p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return out

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


def warm_up(http: httpx.Client, namespace: str) -> None:
    """One document embedded, then text searches on fresh connections until they have reached
    every worker process, so each has loaded the model before the baseline RSS is read."""
    http.post(f"/v1/namespaces/{namespace}/documents", params={"wait": "true"}, json={"documents": [
        {"id": "warm", "text": "A warm-up sentence so the embedding model is loaded."}]}).raise_for_status()
    for _ in range(16):
        with httpx.Client(base_url=str(http.base_url), timeout=60) as fresh:
            fresh.post("/v1/search", json={"namespaces": [namespace], "query": "warm up", "top_k": 1}).raise_for_status()


def warmed_text_namespace(url: str, pid: int, name: str) -> tuple[httpx.Client, Sampler]:
    """A new text namespace on the server, every worker warmed up, and a sampler of its RSS."""
    http = httpx.Client(base_url=url, timeout=900)
    http.post("/v1/namespaces", json={"namespace_name": name, "type": "text"}).raise_for_status()
    warm_up(http, name)
    time.sleep(1.0)
    return http, Sampler(pid)


def mixed_folder(folder: Path, files: int = 128) -> int:
    """``files`` files of six types holding the bundled Cranfield abstracts; returns how many."""
    import docx
    import openpyxl

    from bitsift.cli.demo import cranfield_documents

    docs = cranfield_documents()
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["txt", "md", "csv", "jsonl", "docx", "xlsx"]
    for f in range(files):
        part = docs[f::files]
        kind = kinds[f % len(kinds)]
        path = folder / f"file-{f:03d}.{kind}"
        if kind == "txt":
            path.write_text("\n\n".join(d["text"] for d in part))
        elif kind == "md":
            path.write_text("\n\n".join(f"# Cranfield {d['id']}\n\n{d['text']}" for d in part))
        elif kind == "csv":
            import csv

            with path.open("w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["id", "text"])
                writer.writerows([d["id"], d["text"]] for d in part)
        elif kind == "jsonl":
            path.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in part))
        elif kind == "docx":
            document = docx.Document()
            for d in part:
                document.add_paragraph(d["text"])
            document.save(str(path))
        else:
            book = openpyxl.Workbook()
            sheet = book.active
            sheet.append(["id", "text"])
            for d in part:
                sheet.append([d["id"], d["text"]])
            book.save(str(path))
    return files


def folder_ingest(url: str, pid: int) -> dict[str, object]:
    import subprocess
    import tempfile

    http, sampler = warmed_text_namespace(url, pid, "folder")
    warm, warm_each = sampler.rss(), sampler.each()
    with tempfile.TemporaryDirectory(prefix="bitsift-folder-") as tmp:
        files = mixed_folder(Path(tmp) / "docs")
        t0 = time.perf_counter()
        with sampler:
            done = subprocess.run([sys.executable, "-m", "bitsift.cli.main", "--url", url, "ingest", "folder",
                                   str(Path(tmp) / "docs")], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    time.sleep(1.0)
    after, after_each = sampler.rss(), sampler.each()
    summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return {"files": files, "exit_status": done.returncode, "cli_summary": summary, "seconds": round(seconds, 1),
            "items_stored": http.get("/v1/namespaces/folder").json()["item_count"],
            "warm_rss_mb": round(warm / MB), "peak_rss_mb": round(sampler.peak / MB),
            "after_rss_mb": round(after / MB), "after_minus_warm_mb": round((after - warm) / MB),
            "per_process_warm_mb": [round(v / MB) for v in warm_each.values()],
            "per_process_after_mb": [round(after_each.get(p, 0) / MB) for p in warm_each]}


def large_document(url: str, pid: int) -> dict[str, float]:
    http, sampler = warmed_text_namespace(url, pid, "text")
    warm = sampler.rss()
    words = np.random.default_rng(0).choice(["lift", "drag", "wing", "flow", "shock", "layer", "boundary",
                                             "pressure", "nozzle", "heat"], size=200_000)
    text = " ".join(words.tolist())[:1_000_000]
    t0 = time.perf_counter()
    with sampler:
        r = http.post("/v1/namespaces/text/documents", params={"wait": "true"},
                      json={"documents": [{"id": "big", "text": text}]})
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
    parser.add_argument("--part", choices=["all", "document", "folder", "uploads"], default="all")
    args = parser.parse_args()
    import shutil

    out: dict[str, object] = {}
    for part, run in (("document", large_document), ("folder", folder_ingest), ("uploads", concurrent_uploads)):
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
