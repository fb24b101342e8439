"""``bitsift demo``: a real corpus end to end (and a synthetic scale demo)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import click
import numpy as np
from rich.console import Console

from bitsift.api.client import Client
from bitsift.cli.render import print_results
from bitsift.core import kernel

DEMO_QUERIES = ("1", "23", "79", "157", "225")  # Cranfield query ids, spread over the set
MARKER = ".bitsift-demo"  # written into the folder a demo makes: only such a folder is ever emptied


def fresh_folder(path: Path) -> None:
    """Empty ``path`` for a demo run, refusing a non-empty folder that a demo did not make: the
    demo must never delete someone's data because its --path was mistyped."""
    if path.exists():
        if not path.is_dir():
            raise click.UsageError(f"--path {path} is a file; give a folder for the demo's data")
        if any(path.iterdir()) and not (path / MARKER).is_file():
            raise click.UsageError(f"--path {path} is not empty and was not made by `bitsift demo`; "
                                   "give a new or empty folder (the demo replaces what it holds)")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("made by `bitsift demo`; the next demo run replaces this folder\n")


def cranfield_files() -> Path:
    return Path(str(resources.files("bitsift") / "data" / "cranfield"))


def cranfield_documents() -> list[dict[str, str]]:
    """The bundled Cranfield abstracts as documents {id, text} (title first where the abstract
    does not start with it), without the collection's few empty abstracts."""
    corpus = [json.loads(line) for line in (cranfield_files() / "corpus.jsonl").open()]
    docs = [{"id": d["_id"], "text": d["text"] if d["text"].startswith(d["title"][:20]) else f"{d['title']}. {d['text']}"}
            for d in corpus]
    return [d for d in docs if d["text"].strip(" .")]


def cranfield_queries() -> dict[str, str]:
    return {q["_id"]: q["text"] for q in map(json.loads, (cranfield_files() / "queries.jsonl").open())}


def cranfield_demo(path: Path) -> None:
    """Ingest the 1,400 Cranfield abstracts into a text namespace and run five judged queries."""
    console = Console()
    root = cranfield_files()
    queries = cranfield_queries()
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / "test.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    fresh_folder(path)
    with Client(path=path) as client:
        client.create_namespace("cranfield", type="text")
        docs = cranfield_documents()
        started = time.perf_counter()
        with click.progressbar(range(0, len(docs), 64), label=f"embedding + ingesting {len(docs):,} abstracts",
                               file=sys.stderr) as bar:
            chunks = sum(client.upload_documents("cranfield", docs[i : i + 64])["chunks"] for i in bar)
        elapsed = time.perf_counter() - started
        console.print(f"ingested {len(docs):,} documents ({chunks:,} chunks) in {elapsed:.1f} s "
                      f"({len(docs) / elapsed:.0f} documents/s, embedding included); "
                      f"kernel path: {kernel.capabilities()['auto']}\n")
        for qid in DEMO_QUERIES:  # the best passage of each document: relevance is judged per document
            res = client.search("cranfield", queries[qid], top_k=5, group_by="document_id")
            print_results(queries[qid], res, judged=qrels.get(qid, {}))


def synthetic_demo(path: Path, count: int, dimension: int) -> None:
    """Ingest synthetic clustered embeddings, search them, print ranked results."""
    from bitsift.eval.synthetic import clustered_vectors

    fresh_folder(path)
    x, topic = clustered_vectors(count, dimension, seed=42)
    with Client(path=path) as client:
        client.create_namespace("demo", dimension=dimension)
        t0 = time.perf_counter()
        with click.progressbar(range(0, count, 1000), label=f"ingesting {count:,} vectors", file=sys.stderr) as bar:
            for start in bar:
                end = min(start + 1000, count)
                client.upload_vectors("demo", [
                    {"id": f"doc-{i}", "vector": x[i], "metadata": {"topic": int(topic[i])}} for i in range(start, end)])
        elapsed = time.perf_counter() - t0
        click.echo(f"ingested {count:,} x {dimension}-d vectors in {elapsed:.2f} s "
                   f"({count / elapsed:,.0f} vectors/s, durable commits of 1000)")
        click.echo(f"kernel path: {kernel.capabilities()['auto']}\n")
        rng = np.random.default_rng(7)
        for n, i in enumerate(rng.choice(count, size=3, replace=False)):
            q = x[i] + 0.4 * rng.standard_normal(dimension).astype(np.float32) / np.sqrt(dimension)
            flt = None if n < 2 else {"topic": int(topic[i])}
            res = client.search("demo", q.tolist(), top_k=5, filter=flt)
            note = "" if flt is None else f"  filter topic={int(topic[i])}"
            click.echo(f"query {n + 1}: a noisy copy of doc-{i} (topic {int(topic[i])}){note}")
            click.echo(f"  {'rank':>4}  {'id':<12} {'score':>6}  {'label':<20} topic")
            for rank, r in enumerate(res["results"], 1):
                click.echo(f"  {rank:>4}  {r['id']:<12} {r['score']:>6.3f}  {r['label']:<20} {r['metadata']['topic']}")
            t = res["timings"]
            click.echo(f"  scan {t['scan_ms']:.2f} ms, fetch {t['fetch_ms']:.2f} ms, total {t['total_ms']:.2f} ms\n")
