"""The peer-benchmark harness end to end on tiny data, with the in-process systems only,
so that `make bench-peers` cannot rot unnoticed (PostgreSQL and Qdrant are not needed here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.peers import datasets as D
from benchmarks.peers.libraries import rerank
from benchmarks.peers.measure import choose_operating_point, recall_at_k
from benchmarks.peers.report import BEGIN, END, write_report
from benchmarks.peers.runner import make_adapter, merge, run_suite
from test_evaluate import make_collection

SUITES = Path(__file__).resolve().parents[1] / "benchmarks" / "suites"


def test_exact_top_k_matches_a_full_sort_and_breaks_ties_by_id():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 16)).astype(np.float32)
    x[500] = x[10]  # an exact tie: the smaller id must come first
    q = np.vstack([x[10], rng.standard_normal((4, 16)).astype(np.float32)])
    full = np.stack([np.lexsort((np.arange(len(x)), -(x @ v))) for v in q])[:, :7]
    assert np.array_equal(D.exact_top_k(x, q, 7), full)
    assert D.exact_top_k(x, q, 7)[0, :2].tolist() == [10, 500]


def test_recall_counts_only_the_true_ids():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    assert recall_at_k(found, truth) == pytest.approx((2 / 4 + 1) / 2)


def test_rerank_orders_candidates_by_exact_inner_product():
    v = np.eye(4, dtype=np.float32)
    q = np.array([0.1, 0.9, 0.5, 0.0], dtype=np.float32)
    assert rerank(v, q, np.array([0, 1, 2, 3, -1]), 2).tolist() == [1, 2]


def test_operating_point_is_the_cheapest_sweep_value_reaching_the_target():
    pts = [{"sweep": s, "recall@10": r, "latency": {"p50": p}} for s, r, p in [(10, 0.7, 1), (20, 0.92, 2), (40, 0.99, 4)]]
    assert choose_operating_point(pts, 0.9)["sweep"] == 20
    missed = choose_operating_point(pts, 0.995)
    assert missed["sweep"] == 40 and missed["reached_target"] is False


def test_merge_replaces_same_system_and_dataset_rows_and_records_the_rerun():
    base = {"rows": [{"system": "a", "dataset": "x", "v": 1}, {"system": "b", "dataset": "x", "v": 2}],
            "datasets": {"x": {"n": 5}}, "started": "t0"}
    run = {"rows": [{"system": "b", "dataset": "x", "v": 3}, {"system": "b", "dataset": "y", "v": 4}],
           "datasets": {"y": {"n": 7}}, "started": "t1", "finished": "t2"}
    merged = merge(base, run)
    assert [(r["system"], r["dataset"], r["v"]) for r in merged["rows"]] == [("a", "x", 1), ("b", "x", 3), ("b", "y", 4)]
    assert merged["datasets"] == {"x": {"n": 5}, "y": {"n": 7}}
    assert merged["reruns"] == [{"started": "t1", "finished": "t2", "rows": ["b on x", "b on y"]}]
    assert base["rows"][1]["v"] == 2 and "reruns" not in base  # the input is left alone


@pytest.mark.parametrize("suite_file", ["full.json", "headline.json"])
def test_every_system_in_the_committed_suites_resolves_to_an_adapter(suite_file):
    suite = json.loads((SUITES / suite_file).read_text())
    for name, spec in suite["systems"].items():
        adapter = make_adapter(spec, name)  # constructing must not need the peer's package
        assert adapter.name == name and adapter.kind in ("in-process", "server")
    for ds in suite["datasets"]:
        assert set(ds["systems"]) <= set(suite["systems"])


@pytest.mark.slow
@pytest.mark.model  # the cranfield stand-in is embedded
def test_smoke_suite_runs_end_to_end_and_writes_the_report(tmp_path):
    make_collection(tmp_path / "data" / "cranfield")  # a tiny stand-in with the same layout
    suite = json.loads((SUITES / "smoke.json").read_text())
    for ds in suite["datasets"]:
        ds.update(folder=str(tmp_path / "data"), cache=str(tmp_path / "cache"))
    result = run_suite(suite, tmp_path / "peers.json", scratch=tmp_path)
    rows = result["rows"]
    assert [r for r in rows if "error" in r] == []
    assert len(rows) == sum(len(d["systems"]) for d in suite["datasets"])
    by = {(r["dataset"], r["system"]): r for r in rows}
    for (dataset, system), r in by.items():
        op = r["operating_point"]
        assert 0.0 <= op["recall@10"] <= 1.0 and op["latency"]["p50"] > 0
        assert [t["clients"] for t in r["throughput"]] == suite["clients"]
        assert all(t["qps"] > 0 for t in r["throughput"]), (dataset, system)
        assert r["index_bytes"] > 0
    assert by[("synthetic-3k", "faiss-flat")]["operating_point"]["recall@10"] == 1.0
    assert by[("synthetic-3k", "bitsift")]["operating_point"]["recall@10"] > by[("synthetic-3k", "bitsift-binary")]["operating_point"]["recall@10"]
    assert "ndcg@10" in by[("cranfield", "bitsift")]["operating_point"]  # judged queries -> nDCG
    assert json.loads((tmp_path / "peers.json").read_text())["rows"] == json.loads(json.dumps(rows))

    report = tmp_path / "README.md"
    report.write_text("# Benchmarks\n\nhand-written method\n\n" + BEGIN + "\nold\n" + END + "\n\ntrailer\n")
    write_report(result, report)
    text = report.read_text()
    assert "hand-written method" in text and "trailer" in text and "\nold\n" not in text
    for system in {r["system"] for r in rows}:
        assert f"| {system} |" in text
    for png in ("peers-throughput.png", "peers-latency-vs-n.png", "peers-recall-vs-latency.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text
