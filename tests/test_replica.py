"""``ReplicaEngine`` in process (no Ray): searches over read-only handles equal the writer's,
everything else is the writer's, and a write acknowledged by the writer is in the replica's
next search. The Ray Serve deployment of the same class is tested in test_serve."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core.errors import NamespaceNotFound
from bitsift.distributed.replica import FORWARDED, ReplicaEngine
from bitsift.engine.local import Engine
from bitsift.storage import folder as folder_module
from replica_cases import DIM, fill, ids, outcomes


@pytest.fixture
def pair(tmp_path):
    writer = Engine(tmp_path)
    replica = ReplicaEngine(tmp_path, writer)
    yield writer, replica
    replica.close()
    writer.close()


def test_a_replica_answers_every_search_as_its_writer(pair, monkeypatch):
    writer, replica = pair
    writer.create_namespace("docs", dimension=DIM)
    queries = fill(writer, "docs")
    monkeypatch.setattr(folder_module, "writer_lock", lambda *a, **k: pytest.fail("a replica took the writer lock"))
    assert replica.open_all() == ["docs"]
    assert outcomes(replica, "docs", queries) == outcomes(writer, "docs", queries)


def test_a_replica_sends_everything_but_searches_to_its_writer(pair):
    writer, replica = pair
    info = replica.create_namespace("docs", dimension=DIM)
    assert info == writer.describe_namespace("docs")
    x = np.random.default_rng(1).standard_normal((20, DIM)).astype(np.float32)
    assert replica.upsert("docs", [{"id": f"i{j}", "vector": x[j]} for j in range(20)]) == 20
    assert ids(replica.search("docs", x[4], top_k=1)) == ["i4"]  # the next search sees the write
    assert replica.delete("docs", ["i4"]) == ["i4"]
    assert "i4" not in ids(replica.search("docs", x[4], top_k=20))
    assert replica.count("docs") == writer.count("docs") == 19
    assert replica.list_namespaces() == writer.list_namespaces()
    looked_up = [n for n in FORWARDED if n not in vars(ReplicaEngine)]  # the rest are written out, forwarding too
    assert {n: getattr(replica, n) for n in looked_up} == {n: getattr(writer, n) for n in looked_up}
    with pytest.raises(AttributeError):
        replica.not_a_method  # noqa: B018
    replica.delete_namespace("docs")
    with pytest.raises(NamespaceNotFound):  # the replica's handle notices the delete
        replica.search("docs", x[0])
    replica.create_namespace("docs", dimension=DIM)  # and a re-created name is the new namespace
    replica.upsert("docs", [{"id": "new", "vector": x[0]}])
    assert ids(replica.search("docs", x[0], top_k=5)) == ["new"]


def test_a_replica_searches_a_sharded_namespaces_shards_as_the_sharded_engine_merges_them(tmp_path):
    """Without Ray: the shard folders written by three one-machine engines in the sharded layout
    (test_serve checks the same against a real ShardedEngine on Ray)."""
    import json

    from bitsift.distributed.routing import group_by_shard
    from bitsift.distributed.sharded import SHARDED, shard_folder
    from bitsift.engine.namespace import Namespace
    from bitsift.engine.request import new_namespace_manifest, parse_namespace

    manifest = new_namespace_manifest(parse_namespace("docs", None, DIM, "mib", None, None, 3))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / SHARDED).write_text(json.dumps({**manifest, "shards": 3, "nodes": ["x"] * 3}))
    shards = [Namespace.create(shard_folder(tmp_path / "docs", i), manifest) for i in range(3)]
    one = Engine(tmp_path / "one")
    one.create_namespace("docs", dimension=DIM)
    x = np.random.default_rng(2).standard_normal((300, DIM)).astype(np.float32)
    x[50:70] = x[3]  # ties across shards
    items = [{"id": f"d{i:03d}", "vector": x[i], "metadata": {"g": i % 3}, "text": ("heat " * (i % 4)) + "flow"}
             for i in range(300)]
    one.upsert("docs", items)
    for shard, rows in group_by_shard([it["id"] for it in items], 3).items():
        shards[shard].upsert([items[r] for r in rows])
    replica = ReplicaEngine(tmp_path, writer=None)
    for q in (x[3], x[9], -x[3]):
        for mode in ("binary", "rescore"):
            mine, theirs = replica.search("docs", q, top_k=30, mode=mode), one.search("docs", q, top_k=30, mode=mode)
            assert [(h["id"], h["score"]) for h in mine["results"]] == [(h["id"], h["score"]) for h in theirs["results"]]
            assert mine["shards"] == 3
    for q in (x[3], x[9]):  # hybrid: the vector ranking's ties (d050..d069 and d003) ranked by id, not by row
        mine, theirs = (e.search("docs", q, top_k=30, mode="hybrid", keywords="heat") for e in (replica, one))
        assert [(h["id"], h["fusion_score"]) for h in mine["results"]] == \
            [(h["id"], h["fusion_score"]) for h in theirs["results"]]
    assert replica.search("docs", x[3], partial=True)["missing_shards"] == []
    replica.close()
    one.close()
    for shard in shards:
        shard.close()
