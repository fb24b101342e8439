"""The ``bitsift`` command line: a thin layer over the library (JSON on stdout, notes on stderr)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from bitsift import kernel
from bitsift.client import Client
from bitsift.errors import BitsiftError


class _Command(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BitsiftError as exc:  # domain errors become a clean message at the boundary
            raise click.ClickException(f"{exc.name}: {exc.message}") from exc


@click.group()
@click.version_option(package_name="bitsift")
def main() -> None:
    """bitsift: exact semantic search over information-theoretic binary codes."""


@main.command(cls=_Command)
def info() -> None:
    """Print the kernel paths this CPU supports, as JSON.

    Example: bitsift info
    """
    click.echo(json.dumps({"kernel": kernel.capabilities()}, indent=2))


@main.command(cls=_Command)
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-data"),
              show_default=True, help="Data directory (recreated).")
@click.option("--count", type=click.IntRange(1_000, 10_000_000), default=100_000, show_default=True)
@click.option("--dimension", type=click.IntRange(8, 3072), default=384, show_default=True)
@click.option("--batch", type=click.IntRange(1, 100_000), default=1_000, show_default=True)
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True)
def demo(path: Path, count: int, dimension: int, batch: int, top_k: int) -> None:
    """Ingest synthetic clustered embeddings, search them, print ranked results.

    Example: bitsift demo --count 100000
    """
    from bitsift.synthetic import clustered_vectors

    shutil.rmtree(path, ignore_errors=True)
    x, topic = clustered_vectors(count, dimension, seed=42)
    with Client(path=path) as client:
        client.create_namespace("demo", dimension=dimension)
        t0 = time.perf_counter()
        with click.progressbar(range(0, count, batch), label=f"ingesting {count:,} vectors", file=sys.stderr) as bar:
            for start in bar:
                end = min(start + batch, count)
                client.upload_vectors("demo", [
                    {"id": f"doc-{i}", "vector": x[i], "metadata": {"topic": int(topic[i])}} for i in range(start, end)])
        elapsed = time.perf_counter() - t0
        click.echo(f"ingested {count:,} x {dimension}-d vectors in {elapsed:.2f} s "
                   f"({count / elapsed:,.0f} vectors/s, durable commits of {batch})")
        click.echo(f"kernel path: {kernel.capabilities()['auto']}\n")
        rng = np.random.default_rng(7)
        for n, i in enumerate(rng.choice(count, size=3, replace=False)):
            q = x[i] + 0.4 * rng.standard_normal(dimension).astype(np.float32) / np.sqrt(dimension)
            res = client.search("demo", q.tolist(), top_k=top_k, filter=None if n < 2 else {"topic": int(topic[i])})
            note = "" if n < 2 else f"  filter topic={int(topic[i])}"
            click.echo(f"query {n + 1}: a noisy copy of doc-{i} (topic {int(topic[i])}){note}")
            click.echo(f"  {'rank':>4}  {'id':<12} {'score':>6}  {'label':<20} topic")
            for rank, r in enumerate(res["results"], 1):
                click.echo(f"  {rank:>4}  {r['id']:<12} {r['score']:>6.3f}  {r['label']:<20} {r['metadata']['topic']}")
            t = res["timings"]
            click.echo(f"  scan {t['scan_ms']:.2f} ms, fetch {t['fetch_ms']:.2f} ms, total {t['total_ms']:.2f} ms\n")


if __name__ == "__main__":
    main()
