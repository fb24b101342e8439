"""Retrieval-quality evaluation on BEIR-layout folders (``bitsift eval``).

For each collection: embed corpus and queries with the local model (cached on disk,
keyed by model and file contents, so reruns are quick), then rank every query with
exact float cosine (the reference), binary mode with each binarizer, rescore mode at several
oversample factors, keyword mode (BM25 over the texts) and hybrid mode (rescore fused with
keyword, the default fusion), through the real engine. Reports nDCG@10, Recall@100,
MRR@10 and milliseconds per query, plus label calibration of the default mode.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitsift.api.client import Client
from bitsift.core.errors import InvalidInput
from bitsift.core.scoring import LABELS, label
from bitsift.core.spec import BINARIZERS, DEFAULT_MODE, KEYWORD_MODES
from bitsift.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k

OVERSAMPLES: tuple[int | None, ...] = (None, 2, 5, 10, 20)  # None: the adaptive pool (the default)
DEPTH = 100  # ranks kept per query: Recall@100 needs 100


@dataclass
class Collection:
    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_collection(folder: Path) -> Collection:
    """corpus.jsonl, queries.jsonl and qrels/test.tsv; only judged queries are kept."""
    try:
        corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open() if line.strip()]
        queries = [json.loads(line) for line in (folder / "queries.jsonl").open() if line.strip()]
        qrels: dict[str, dict[str, int]] = {}
        with (folder / "qrels" / "test.tsv").open() as f:
            for row in csv.DictReader(f, delimiter="\t"):
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{folder} is not a BEIR-layout folder ({exc})") from None
    texts = []
    for d in corpus:
        title, text = d.get("title") or "", d.get("text") or ""
        texts.append(text if not title or text.startswith(title[:30]) else f"{title}. {text}")
    judged = [q for q in queries if q["_id"] in qrels]
    return Collection(folder.name, [str(d["_id"]) for d in corpus], texts,
                      [q["_id"] for q in judged], [q["text"] for q in judged], qrels)


def cached_embeddings(texts: list[str], model: str, cache: Path, label: str) -> np.ndarray:
    from bitsift.text.embed import get_embedder

    key = hashlib.sha256(("\\n".join(texts) + model).encode()).hexdigest()[:16]
    path = cache / f"{label}-{model}-{key}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    print(f"embedding {len(texts):,} {label} texts with {model} ...", file=sys.stderr, flush=True)
    vectors = get_embedder(model).encode(texts)
    print(f"  {len(texts) / (time.perf_counter() - started):.0f} texts/s", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _oversample(cfg: dict[str, Any]) -> str:
    """The table's oversample column: a fixed one, "auto" for the adaptive pool, "-" where none applies."""
    if cfg["oversample"] is not None:
        return str(cfg["oversample"])
    return "auto" if cfg["mode"] in ("rescore", "hybrid") else "-"


def configurations() -> Iterator[dict[str, Any]]:
    yield {"mode": "float", "binarizer": None, "oversample": None}
    for b in BINARIZERS:
        yield {"mode": "binary", "binarizer": b, "oversample": None}
    for o in OVERSAMPLES:
        yield {"mode": "rescore", "binarizer": "mib", "oversample": o}
    for mode in KEYWORD_MODES:
        yield {"mode": mode, "binarizer": "mib", "oversample": None}


def _score(col: Collection, runs: list[list[str]]) -> dict[str, float]:
    pairs = list(zip(col.query_ids, runs))
    return {
        "ndcg@10": float(np.mean([ndcg_at_k(r, col.qrels[q], 10) for q, r in pairs])),
        "recall@100": float(np.mean([recall_at_k(r, col.qrels[q], 100) for q, r in pairs])),
        "mrr@10": float(np.mean([mrr_at_k(r, col.qrels[q], 10) for q, r in pairs])),
    }


def evaluate_collection(col: Collection, docs: np.ndarray, queries: np.ndarray,
                        calibration: list[tuple[float, int]]) -> list[dict[str, Any]]:
    rows = []
    for cfg in configurations():
        started = time.perf_counter()
        if cfg["mode"] == "float":  # the reference: exact cosine over float32 embeddings
            sims = queries @ docs.T
            top = np.argsort(-sims, axis=1, kind="stable")[:, :DEPTH]
            runs = [[col.doc_ids[i] for i in row] for row in top]
            ms = (time.perf_counter() - started) * 1e3 / len(queries)
        else:
            runs, ms = _engine_runs(col, docs, queries, cfg, calibration)
        rows.append({"collection": col.name, **cfg, **_score(col, runs), "ms_per_query": round(ms, 3)})
        print(f"  {col.name:<12} {cfg['mode']:<8} {cfg['binarizer'] or '-':<13} {_oversample(cfg):>4} "
              f"nDCG@10 {rows[-1]['ndcg@10']:.3f}", file=sys.stderr)
    return rows


def _engine_runs(col: Collection, docs: np.ndarray, queries: np.ndarray, cfg: dict[str, Any],
                 calibration: list[tuple[float, int]]) -> tuple[list[list[str]], float]:
    with tempfile.TemporaryDirectory(prefix="bitsift-eval-") as d, Client(path=d) as client:
        client.create_namespace("eval", dimension=docs.shape[1], binarizer=cfg["binarizer"])
        keyed = cfg["mode"] in KEYWORD_MODES  # the texts go in only where they are searched
        for s in range(0, len(docs), 5000):
            client.upload_vectors("eval", [{"id": col.doc_ids[i], "vector": docs[i], **({"text": col.doc_texts[i]} if keyed else {})}
                                           for i in range(s, min(s + 5000, len(docs)))])
        runs, elapsed = [], 0.0
        is_default = cfg["mode"] == DEFAULT_MODE and cfg["binarizer"] == "mib" and cfg["oversample"] is None
        for qid, q, words in zip(col.query_ids, queries, col.query_texts):
            started = time.perf_counter()
            res = client.search("eval", q, top_k=DEPTH, mode=cfg["mode"], oversample=cfg["oversample"],
                                keywords=words if keyed else None)
            elapsed += time.perf_counter() - started
            runs.append([r["id"] for r in res["results"]])
            if is_default:
                for r in res["results"][:10]:
                    calibration.append((r["score"], int(col.qrels[qid].get(r["id"], 0) > 0)))
    return runs, elapsed * 1e3 / len(queries)


def evaluate(folders: list[Path], model: str | None = None, cache: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every configuration on every collection; returns (rows, calibration summary)."""
    from bitsift.text.embed import get_embedder

    model_name = get_embedder(model).name
    cache = cache or Path.home() / ".cache" / "bitsift" / "eval"
    rows: list[dict[str, Any]] = []
    calibration: list[tuple[float, int]] = []  # (score, judged relevant) of each top-10 result
    for folder in folders:
        col = load_collection(folder)
        docs = cached_embeddings(col.doc_texts, model_name, cache, f"{col.name}-corpus")
        queries = cached_embeddings(col.query_texts, model_name, cache, f"{col.name}-queries")
        rows += evaluate_collection(col, docs, queries, calibration)
    return rows, summarize_calibration(calibration)


def summarize_calibration(cal: list[tuple[float, int]]) -> dict[str, Any]:
    """Share of returned top-10 results judged relevant, per label and per score bin."""
    scores = np.asarray([c[0] for c in cal], float)
    rel = np.asarray([c[1] for c in cal], float)
    names = np.asarray([label(x) for x in scores], dtype=object)
    per_label = [{"label": name, "results": int((names == name).sum()),
                  "judged_relevant": float(rel[names == name].mean()) if (names == name).any() else None}
                 for _, name in LABELS]
    edges = np.linspace(0, 1, 11)
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (scores >= lo) & ((scores < hi) if hi < 1 else (scores <= hi))
        if sel.any():
            bins.append({"from": round(lo, 2), "to": round(hi, 2), "results": int(sel.sum()),
                         "mean_score": float(scores[sel].mean()), "judged_relevant": float(rel[sel].mean())})
    shares = [p["judged_relevant"] for p in per_label if p["judged_relevant"] is not None and p["results"] >= 20]
    return {"per_label": per_label, "bins": bins,
            "monotone": all(a >= b for a, b in zip(shares, shares[1:]))}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| collection | mode | binarizer | oversample | nDCG@10 | Recall@100 | MRR@10 | ms/query | % of float nDCG |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    ref = {r["collection"]: r["ndcg@10"] for r in rows if r["mode"] == "float"}
    for r in rows:
        share = 100 * r["ndcg@10"] / ref[r["collection"]] if ref.get(r["collection"]) else float("nan")
        lines.append(f"| {r['collection']} | {r['mode']} | {r['binarizer'] or '-'} | {_oversample(r)} | "
                     f"{r['ndcg@10']:.3f} | {r['recall@100']:.3f} | {r['mrr@10']:.3f} | {r['ms_per_query']:.2f} | {share:.1f} |")
    return "\n".join(lines)


def plot_calibration(summary: dict[str, Any], out: Path) -> None:
    """Reliability plot: mean score per bin against the share judged relevant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    bins = summary["bins"]
    ax.plot([b["mean_score"] for b in bins], [b["judged_relevant"] for b in bins], "o-", label="score bins (top-10 results)")
    for b in bins:
        ax.annotate(str(b["results"]), (b["mean_score"], b["judged_relevant"]), fontsize=7,
                    textcoords="offset points", xytext=(3, 3))
    for bound, name in LABELS[:-1]:
        ax.axvline(bound, color="0.85", lw=0.8)
        ax.text(bound, 1.01, name.replace(" Relevance", ""), rotation=90, fontsize=6, va="bottom", ha="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("ITS score")
    ax.set_ylabel("share of results judged relevant")
    ax.set_title("bitsift label calibration", fontsize=10, pad=48)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
