"""Write the golden namespace of the current format version, and the golden jobs.sqlite of the
current jobs schema, into tests/data/.

Run once per format version (python tests/make_golden.py) and commit the output;
test_golden.py then proves every later bitsift still opens it unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import bitsift
from bitsift.storage.jobs import JOBS_FILE, JobStore
from bitsift.storage.jobs import SCHEMA_VERSION as JOBS_VERSION
from bitsift.storage.manifest import FORMAT_VERSION

DIMS, N = 100, 300
OUT = Path(__file__).parent / "data" / f"golden-v{FORMAT_VERSION}"


def golden_items() -> list[dict]:
    x = np.random.default_rng(2026).standard_normal((N, DIMS)).astype(np.float32)
    return [{"id": f"g{i}", "vector": x[i].tolist(), "text": f"golden item {i}",
             "metadata": {"i": i, "even": i % 2 == 0, "name": f"n{i % 5}"}} for i in range(N)]


def queries() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((3, DIMS)).astype(np.float32)


JOBS_OUT = Path(__file__).parent / "data" / f"jobs-v{JOBS_VERSION}"
JOBS_NAMESPACE = "notes"


def golden_documents() -> list[dict]:
    return [{"id": f"note-{i}", "text": f"golden note {i} about wings and shocks", "metadata": {"i": i}}
            for i in range(3)]


def make_jobs_golden() -> None:
    """A data directory's jobs.sqlite of the current schema: one job finished, one accepted and
    never started (the namespace it names is made by the test; no incarnation is recorded)."""
    shutil.rmtree(JOBS_OUT, ignore_errors=True)
    JOBS_OUT.mkdir(parents=True)
    store = JobStore(JOBS_OUT)
    docs = golden_documents()
    done = store.submit(JOBS_NAMESPACE, None, docs[:1], [1], 1000, 200)
    claimed = store.claim("golden|0|maker")
    assert claimed is not None and claimed.id == done
    store.settle(claimed, [0], "done")
    store.finish(claimed, "golden|0|maker")
    store.submit(JOBS_NAMESPACE, None, docs[1:], [1, 1], 1000, 200)
    store.close()
    for extra in JOBS_OUT.glob(f"{JOBS_FILE}-*"):  # the WAL was checkpointed by the last close
        extra.unlink()


def keyword_searches(client, name: str) -> list:
    """Keyword and hybrid runs (format 3 on): recorded in the golden of version 3, and what every
    older golden answers once its first write (a compaction) has built its keyword index."""
    return [client.search(name, q.tolist(), top_k=8, filter=f, mode=mode, keywords=words)["results"]
            for q, words in zip(queries(), ("item 7", "golden item 42 17", "nothing matches")) for f in (None, {"even": True})
            for mode in ("keyword", "hybrid")]


def main() -> None:
    if not JOBS_OUT.exists():  # an older golden is never rewritten
        make_jobs_golden()
    shutil.rmtree(OUT, ignore_errors=True)
    data = OUT / "data"
    items = golden_items()
    with bitsift.Client(path=data) as client:
        client.create_namespace("golden", dimension=DIMS)
        client.create_namespace("golden-centered", dimension=DIMS, binarizer="centered")
        for name in ("golden", "golden-centered"):
            client.upload_vectors(name, items[:200])
            client.upload_vectors(name, items[200:])
            client.delete(name, [f"g{i}" for i in range(0, N, 10)])
        expected = {
            name: [client.search(name, q.tolist(), top_k=8, filter=f, mode=mode)["results"]
                   for q in queries() for f in (None, {"even": True}) for mode in ("binary", "rescore")]
            for name in ("golden", "golden-centered")
        }
        keyword = {name: keyword_searches(client, name) for name in ("golden", "golden-centered")}
    for lock in data.glob("*/writer.lock"):
        lock.unlink()
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    (OUT / "expected-keyword.json").write_text(json.dumps(keyword, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
