"""`bitsift eval` end to end on a tiny BEIR-layout collection made by the test."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bitsift.cli.main import main
from bitsift.eval.evaluate import BINARIZERS, OVERSAMPLES

TOPICS = {
    "wing": "The lift of a swept wing falls at high angles of attack because the flow separates.",
    "shock": "A normal shock wave forms ahead of a blunt body in supersonic flow.",
    "heat": "Heat conduction in composite slabs was solved with Laplace transforms.",
    "soup": "Simmer the onions slowly in butter until golden, then add the stock.",
    "bread": "Knead the dough for ten minutes and let it rise in a warm place.",
    "goal": "The striker scored in the last minute and the stadium erupted.",
}


def make_collection(root):
    (root / "qrels").mkdir(parents=True)
    docs = []
    for name, text in TOPICS.items():
        for i in range(5):
            docs.append({"_id": f"{name}-{i}", "title": "", "text": f"{text} Variant {i} of the passage."})
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": "q1", "text": "why do wings stall"}, {"_id": "q2", "text": "how to make onion soup"},
               {"_id": "q3", "text": "football match result"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    rel = {"q1": "wing", "q2": "soup", "q3": "goal"}
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{t}-{i}\t{2 if i == 0 else 1}" for q, t in rel.items() for i in range(5)]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.model
def test_eval_reports_every_mode_with_json_and_plot(tmp_path):
    make_collection(tmp_path / "tiny")
    out, plot = tmp_path / "eval.json", tmp_path / "cal.png"
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "tiny"), "--json", str(out), "--plot", str(plot),
                                       "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert {(r["mode"], r["binarizer"], r["oversample"]) for r in rows} == (
        {("float", None, None)} | {("binary", b, None) for b in BINARIZERS} | {("rescore", "mib", o) for o in OVERSAMPLES}
        | {("keyword", "mib", None), ("hybrid", "mib", None)})
    keys = {"collection", "mode", "binarizer", "oversample", "ndcg@10", "recall@100", "mrr@10", "ms_per_query"}
    assert all(set(r) == keys for r in rows)
    reference = next(r for r in rows if r["mode"] == "float")
    assert reference["ndcg@10"] > 0.8 and reference["recall@100"] == 1.0  # the topics are easy
    assert all(0 <= r["ndcg@10"] <= 1 for r in rows)
    assert "| tiny | rescore | mib | 10 |" in result.output and "| tiny | hybrid | mib | auto |" in result.output
    keyword = next(r for r in rows if r["mode"] == "keyword")
    assert keyword["ndcg@10"] > 0.5  # q1 and q2 share words (stemmed) with their topics; q3 shares none
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calibration = json.loads((tmp_path / "eval-calibration.json").read_text())
    assert sum(p["results"] for p in calibration["per_label"]) == 3 * 10
    # the embedding cache makes a rerun skip the model
    assert any((tmp_path / "cache").iterdir())
