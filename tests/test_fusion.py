"""core.fusion: the keyword order, reciprocal rank fusion and the weighted fusion, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core.candidates import Candidates
from bitsift.core.fusion import hybrid_rank, keyword_rank
from bitsift.core.ranking import rank
from bitsift.core.spec import RRF_K

NOT_NEAR = np.inf


def part(ids, its, keyword, distance=None):
    n = len(ids)
    return Candidates(np.asarray(distance if distance is not None else np.arange(n), np.float64), np.arange(n),
                      np.asarray(its, float), -np.asarray(its, float), np.array(ids, object),
                      np.array([0, n]), np.asarray(keyword, float))


def ids_of(ranked):
    return list(ranked.ids)


def test_keyword_mode_orders_by_bm25_then_its_then_id_and_cuts_after_the_threshold():
    p = part(["a", "b", "c", "d", "e"], its=[0.9, 0.2, 0.5, 0.6, 0.7], keyword=[0.0, 3.0, 2.0, 2.0, 2.0])
    got = keyword_rank([p], k=3, depth=100, threshold=None)
    assert ids_of(got) == ["b", "e", "d"]  # "a" holds no query term; the 2.0s by ITS
    assert got.keyword.tolist() == [3.0, 2.0, 2.0] and got.scores.tolist() == [0.2, 0.7, 0.6]
    assert ids_of(keyword_rank([p], k=3, depth=100, threshold=0.55)) == ["e", "d"]  # below 0.55 dropped first
    q = part(["x", "c2"], its=[0.6, 0.6], keyword=[2.0, 2.0])
    assert ids_of(keyword_rank([p, q], k=5, depth=100, threshold=None)) == ["b", "e", "c2", "d", "x"]


def test_reciprocal_rank_fusion_by_hand():
    # vector order: a b c d (ITS); keyword order: d c e (BM25); e is a keyword-only candidate
    p = part(["a", "b", "c", "d", "e"], its=[0.9, 0.8, 0.7, 0.6, 0.1], keyword=[0, 0, 2.0, 3.0, 1.0],
             distance=[1, 2, 3, 4, NOT_NEAR])
    vector = rank([p], 4, 4)
    assert ids_of(vector) == ["a", "b", "c", "d"]
    w = 0.2
    got = hybrid_rank([p], vector, k=5, depth=100, threshold=None, fusion="rrf", weight=w)
    expected = {"a": (1 - w) / (RRF_K + 1), "b": (1 - w) / (RRF_K + 2),
                "c": (1 - w) / (RRF_K + 3) + w / (RRF_K + 2), "d": (1 - w) / (RRF_K + 4) + w / (RRF_K + 1),
                "e": w / (RRF_K + 3)}
    assert ids_of(got) == sorted(expected, key=lambda i: -expected[i])
    assert dict(zip(got.ids, got.fusion.tolist())) == pytest.approx(expected)
    its = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.1}
    assert got.final_order and got.scores.tolist() == [its[i] for i in got.ids]  # the score is still ITS
    only_keywords = hybrid_rank([p], vector, k=5, depth=100, threshold=None, fusion="rrf", weight=1.0)
    assert ids_of(only_keywords)[:3] == ["d", "c", "e"]
    cut = hybrid_rank([p], vector, k=2, depth=2, threshold=0.65, fusion="rrf", weight=w)
    assert ids_of(cut) == ["a", "b"]  # depth 2: c and e are in no ranking; the threshold drops d


def test_weighted_fusion_normalises_each_ranking():
    p = part(["a", "b", "c"], its=[0.9, 0.5, 0.4], keyword=[0.0, 1.0, 5.0])
    vector = rank([p], 3, 3)
    got = hybrid_rank([p], vector, k=3, depth=100, threshold=None, fusion="weighted", weight=0.5)
    # vector: a 1, b 0.2, c 0; keyword (b, c): b 0, c 1
    assert dict(zip(got.ids, got.fusion.tolist())) == pytest.approx({"a": 0.5, "b": 0.1, "c": 0.5})
    assert ids_of(got) == ["a", "c", "b"]  # a and c tie on fusion: the higher ITS first
