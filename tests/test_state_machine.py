"""Random upserts, deletes, reopens and compactions against a dict model.

Invariant after every step: search returns exactly what brute force over the
model returns, ties included (ties in score and distance are broken by id), in
binary mode and in rescore mode (the default), for balanced, unbalanced and
centred binarizers.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import bitsift
from bitsift.core import rescore
from model import ModelNamespace, as_pairs, assert_same

pytestmark = pytest.mark.slow  # four machines, 25 runs of 25 steps each: ~20 s on 2 cores

DIMS = 20
IDS = st.sampled_from([f"id{i}" for i in range(40)])
# Few distinct vectors, so equal codes and tied distances are common.
PALETTE = np.random.default_rng(7).integers(-2, 3, size=(12, DIMS)).astype(np.float32)
QUERIES = [PALETTE[p] + 0.25 * PALETTE[(p + 1) % 12] for p in (0, 5)]


class NamespaceMachine(RuleBasedStateMachine):
    binarizer = "mib"

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="bitsift-sm-"))
        self.client = bitsift.Client(path=self.dir)
        self.client.create_namespace("ns", dimension=DIMS, binarizer=self.binarizer)
        self.model = ModelNamespace(DIMS, self.binarizer)

    def teardown(self) -> None:
        self.client.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(ids=st.lists(IDS, min_size=1, max_size=8, unique=True), picks=st.lists(st.integers(0, 11), min_size=8, max_size=8), group=st.integers(0, 2))
    def upsert(self, ids, picks, group):
        batch = [{"id": i, "vector": PALETTE[p].tolist(), "metadata": {"g": group}} for i, p in zip(ids, picks)]
        self.client.upload_vectors("ns", batch)
        self.model.upsert(batch)

    @rule(ids=st.lists(IDS, min_size=1, max_size=5))
    def delete(self, ids):
        self.client.delete("ns", ids)
        self.model.delete(ids)

    @rule()
    def reopen(self):
        self.client.close()
        self.client = bitsift.Client(path=self.dir)

    @precondition(lambda self: self.model.items)
    @rule()
    def compact(self):
        self.client.compact("ns")

    @invariant()
    def search_equals_brute_force(self):
        for p in (0, 5):
            q = PALETTE[p] + 0.25 * PALETTE[(p + 1) % 12]
            assert_same(as_pairs(self.client.search("ns", q.tolist(), top_k=6, mode="binary")), self.model.search(q, 6))
            got = self.client.search("ns", q.tolist(), top_k=4, filter={"g": {"$ne": 1}}, mode="binary")
            assert_same(as_pairs(got), self.model.search(q, 4, where=lambda m: m["g"] != 1))
        assert self.client.describe_namespace("ns")["item_count"] == len(self.model.items)

    @invariant()
    def rescore_equals_brute_force(self):
        """The default mode (rescore, oversample 10: the pool is every item here) and a pool of
        exactly top_k, whose cut falls inside groups of equal codes."""
        for q in QUERIES:
            assert_same(as_pairs(self.client.search("ns", q.tolist(), top_k=6)), self.model.rescore(q, 6))
            got = self.client.search("ns", q.tolist(), top_k=3, mode="rescore", oversample=1)
            assert_same(as_pairs(got), self.model.rescore(q, 3, oversample=1))
            got = self.client.search("ns", q.tolist(), top_k=4, filter={"g": {"$ne": 1}}, mode="rescore", oversample=2)
            assert_same(as_pairs(got), self.model.rescore(q, 4, oversample=2, where=lambda m: m["g"] != 1))


class SignNamespaceMachine(NamespaceMachine):
    binarizer = "sign"  # unbalanced codes: ITS is not a function of distance alone


class CenteredNamespaceMachine(NamespaceMachine):
    binarizer = "centered"  # unbalanced, and the center is learned from the first batch


class CenteredMIBNamespaceMachine(NamespaceMachine):
    binarizer = "centered_mib"  # balanced again, around the learned center


def test_palette_correlations_are_far_apart():
    """The oracle's rho (rescore.correlation) may differ from the engine's native one in the last
    bit; ranking by rho is still the same when distinct palette vectors are far apart in rho."""
    stored = PALETTE.astype(np.float16).astype(np.float32)
    for q in QUERIES:
        assert np.diff(np.unique(rescore.correlation(q, stored))).min() > 1e-9


SETTINGS = settings(max_examples=25, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
TestNamespaceMachine = NamespaceMachine.TestCase
TestNamespaceMachine.settings = SETTINGS
TestSignNamespaceMachine = SignNamespaceMachine.TestCase
TestSignNamespaceMachine.settings = SETTINGS
TestCenteredNamespaceMachine = CenteredNamespaceMachine.TestCase
TestCenteredNamespaceMachine.settings = SETTINGS
TestCenteredMIBNamespaceMachine = CenteredMIBNamespaceMachine.TestCase
TestCenteredMIBNamespaceMachine.settings = SETTINGS
