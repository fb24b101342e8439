"""Retrieval metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from bitsift.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k

GRADES = {"a": 3, "b": 1, "c": 0, "d": 2}


def test_ndcg_by_hand():
    ranked = ["c", "a", "x", "b"]
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, GRADES, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "d", "b"], GRADES, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {}, 10) == 0.0


def test_recall_and_mrr():
    assert recall_at_k(["a", "c", "x"], GRADES, 100) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "d"], GRADES, 2) == pytest.approx(2 / 3)
    assert mrr_at_k(["c", "x", "d"], GRADES, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["c", "x"], GRADES, 10) == 0.0
