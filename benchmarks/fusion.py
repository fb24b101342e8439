"""How the hybrid defaults were chosen: nDCG@10 of each fusion setting on the shared collections.

Every setting runs through the real engine (one namespace per collection, vectors and texts,
`mode="hybrid"`, top_k 100), beside rescore and keyword alone. RRF_K is a constant of the
engine (core.spec): this script sets it per run, as an experiment, and restores it.

Usage: python benchmarks/fusion.py [../shared/data] [--json benchmarks/fusion.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import bitsift
from bitsift.core import fusion as fusion_module
from bitsift.eval.evaluate import DEPTH, cached_embeddings, load_collection
from bitsift.eval.metrics import ndcg_at_k
from bitsift.text.embed import get_embedder

COLLECTIONS = ("cranfield", "msmarco-5k", "dbpedia-5k")
SETTINGS = [("rrf", k, w) for k in (60, 20, 10) for w in (0.5, 0.35, 0.2, 0.1)] + \
           [("weighted", None, w) for w in (0.5, 0.3, 0.2, 0.1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data", type=Path)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("fusion.json"))
    args = parser.parse_args()
    model = get_embedder(None).name
    cache = Path.home() / ".cache" / "bitsift" / "eval"
    table: dict[str, dict[str, float]] = {}
    for name in COLLECTIONS:
        col = load_collection(args.data / name)
        docs = cached_embeddings(col.doc_texts, model, cache, f"{col.name}-corpus")
        queries = cached_embeddings(col.query_texts, model, cache, f"{col.name}-queries")
        with tempfile.TemporaryDirectory() as d, bitsift.Client(path=d) as client:
            client.create_namespace("f", dimension=docs.shape[1])
            client.upload_vectors("f", [{"id": col.doc_ids[i], "vector": docs[i], "text": col.doc_texts[i]}
                                        for i in range(len(docs))])

            def ndcg(**kwargs: object) -> float:
                runs = []
                for q, words in zip(queries, col.query_texts):
                    extra = {"keywords": words} if "mode" in kwargs else {}
                    runs.append([h["id"] for h in client.search("f", q, top_k=DEPTH, **kwargs, **extra)["results"]])
                return float(np.mean([ndcg_at_k(r, col.qrels[q], 10) for q, r in zip(col.query_ids, runs)]))

            row = {"rescore": ndcg(), "keyword": ndcg(mode="keyword")}
            for fusion, k, weight in SETTINGS:
                saved = fusion_module.RRF_K
                fusion_module.RRF_K = k or saved
                try:
                    row[_label(fusion, k, weight)] = ndcg(mode="hybrid", fusion=fusion, keyword_weight=weight)
                finally:
                    fusion_module.RRF_K = saved
        table[name] = row
        print(name, json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
    args.json.write_text(json.dumps(table, indent=1) + "\n")
    print(markdown(table))


def _label(fusion: str, k: int | None, weight: float) -> str:
    return f"rrf k={k} w={weight}" if fusion == "rrf" else f"weighted w={weight}"


def markdown(table: dict[str, dict[str, float]]) -> str:
    """One row per setting; 'meets' = beats both on Cranfield and within 2% of the better elsewhere."""
    names = list(table)
    lines = ["| setting | " + " | ".join(names) + " | meets the bar |", "|---|" + "---:|" * len(names) + "---|"]
    for key in table[names[0]]:
        best = {n: max(table[n]["rescore"], table[n]["keyword"]) for n in names}
        meets = table["cranfield"][key] > best["cranfield"] and all(
            table[n][key] >= 0.98 * best[n] for n in names if n != "cranfield")
        flag = "yes" if meets and key not in ("rescore", "keyword") else ""
        lines.append(f"| {key} | " + " | ".join(f"{table[n][key]:.4f}" for n in names) + f" | {flag} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
