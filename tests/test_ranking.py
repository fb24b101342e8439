"""The ordering rule (core.ranking.rank): pure, ids settle a tie group split at the cut."""

from __future__ import annotations

import numpy as np

from bitsift.core.candidates import Candidates
from bitsift.core.ranking import rank, rescore_pool


def part(scores, ids, tiebreak=None, distance=None, rows=None):
    n = len(scores)
    return Candidates(np.asarray(distance if distance is not None else [0] * n, np.float64),
                      np.asarray(rows if rows is not None else range(n), np.int64), np.asarray(scores, np.float64),
                      np.asarray(tiebreak if tiebreak is not None else [0.0] * n, np.float64), list(ids))


def test_a_tie_group_split_at_the_cut_across_parts_keeps_the_smallest_ids():
    # Rows (write order) say the opposite of the ids: only ids may decide.
    a = part([0.9, 0.5, 0.5, 0.5], ["a-best", "z", "m", "c"], rows=[7, 0, 1, 2])
    b = part([0.5, 0.5, 0.1], ["b", "y", "q"], rows=[0, 1, 2])
    got = rank([a, b], k=3)
    assert got.ids == ["a-best", "b", "c"]
    assert got.parts.tolist() == [0, 1, 0] and got.rows.tolist() == [7, 0, 2]
    # the same candidates in another part order give the same items
    swapped = rank([b, a], k=3)
    assert sorted(swapped.ids) == sorted(got.ids)


def test_equal_ids_in_two_parts_fall_back_to_part_order():
    a, b = part([0.5, 0.5], ["x", "w"]), part([0.5], ["x"])
    got = rank([a, b], k=2)
    assert got.ids == ["w", "x"] and got.parts.tolist() == [0, 0]


def test_the_tiebreak_orders_equal_scores_before_ids():
    a = part([0.5, 0.5], ["a", "b"], tiebreak=[2.0, 1.0])
    assert rank([a], k=1).ids == ["b"]


def test_no_tie_at_the_cut_needs_no_id_and_order_is_by_score():
    a = part([0.2, 0.8, 0.5], ["p", "q", "r"])
    got = rank([a], k=2)
    assert got.ids == ["q", "r"] and got.scores.tolist() == [0.8, 0.5]


def test_threshold_drops_low_scores_after_the_cut():
    a = part([0.9, 0.4, 0.3], ["a", "b", "c"])
    assert rank([a], k=3, threshold=0.35).ids == ["a", "b"]
    assert rank([a], k=3, threshold=0.95).ids == []


def test_rescore_pool_takes_whole_distance_groups_across_parts():
    a = part([0.1, 0.9, 0.8], ["a0", "a1", "a2"], distance=[1, 5, 5])
    b = part([0.7, 0.95], ["b0", "b1"], distance=[5, 9])
    got = rank([a, b], k=2, pool=2)  # the 2nd nearest is at distance 5: the whole group of 5 counts, 9 does not
    assert got.ids == ["a1", "a2"]
    assert rescore_pool(np.array([3, 1, 3, 2]), 2).tolist() == [False, True, False, True]
    assert rescore_pool(np.array([3, 1]), 5).all()


def test_fewer_candidates_than_k_returns_them_all_best_first():
    got = rank([part([0.3], ["x"]), part([], [])], k=10)
    assert got.ids == ["x"]


def _oracle(parts, k, pool, threshold):
    """The rule written out plainly: pool by distance, then score, tiebreak, id, part order."""
    cands = [(float(p.scores[i]), float(p.tiebreak[i]), p.ids[i], j, int(p.distance[i]))
             for j, p in enumerate(parts) for i in range(len(p.rows))]
    if pool is not None and len(cands) > pool:
        bound = sorted(c[4] for c in cands)[pool - 1]
        cands = [c for c in cands if c[4] <= bound]
    best = sorted(cands, key=lambda c: (-c[0], c[1], c[2], c[3]))[:k]
    return [(c[2], c[3]) for c in best if threshold is None or c[0] >= threshold]


def _random_queries(rng, nq, nparts):
    """Per query, one part per namespace of random candidates: few distinct scores, tiebreaks
    and distances, so ties at every cut; ids unique within a part."""
    queries = []
    for _ in range(nq):
        parts = []
        for _ in range(nparts):
            n = int(rng.integers(0, 25))
            ids = [f"i{int(v)}" for v in rng.choice(60, size=n, replace=False)]
            parts.append(part(rng.integers(0, 4, n) / 4, ids, tiebreak=rng.integers(0, 2, n).astype(float),
                              distance=rng.integers(0, 6, n), rows=rng.permutation(n)))
        queries.append(parts)
    return queries


def test_a_batch_ranks_every_query_as_the_rule_says(rng):
    for trial in range(40):
        nparts, nq = int(rng.integers(1, 4)), int(rng.integers(1, 9))
        k, pool = int(rng.integers(1, 12)), [None, int(rng.integers(1, 30))][trial % 2]
        threshold = [None, 0.5][trial % 3 == 0]
        queries = _random_queries(rng, nq, nparts)
        # one flat part per namespace, holding every query's candidates
        got = rank([Candidates.stack([queries[q][j] for q in range(nq)]) for j in range(nparts)], k, pool, threshold)
        for q, parts in enumerate(queries):
            a, b = got.offsets[q], got.offsets[q + 1]
            # the same items (best first by score; the display order by id is the pipeline's)
            assert sorted(zip(got.ids[a:b], got.parts[a:b].tolist())) == sorted(_oracle(parts, k, pool, threshold))
            assert list(got.scores[a:b]) == sorted(got.scores[a:b], reverse=True)


def test_each_query_may_have_its_own_k_pool_and_threshold(rng):
    """A coalesced pass ranks every query with its own parameters in one call."""
    for trial in range(40):
        nparts, nq = int(rng.integers(1, 4)), int(rng.integers(1, 9))
        ks = rng.integers(1, 12, nq)
        pools = None if trial % 2 else rng.integers(1, 30, nq)
        floors = np.where(rng.random(nq) < 0.5, -np.inf, 0.5)
        queries = _random_queries(rng, nq, nparts)
        got = rank([Candidates.stack([queries[q][j] for q in range(nq)]) for j in range(nparts)], ks, pools, floors)
        for q, parts in enumerate(queries):
            a, b = got.offsets[q], got.offsets[q + 1]
            want = _oracle(parts, int(ks[q]), None if pools is None else int(pools[q]),
                           None if floors[q] == -np.inf else float(floors[q]))
            assert sorted(zip(got.ids[a:b], got.parts[a:b].tolist())) == sorted(want)
