"""Scale-out on a real local Ray cluster (2 CPUs, started here): a 3-shard namespace answers
exactly like one machine, and a shard killed mid-stream of writes loses nothing acknowledged."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import ray  # the test extra installs it: these tests never skip

from bitsift.api.client import Client
from bitsift.api.server import create_app
from bitsift.core.errors import InvalidFilter, InvalidInput, NamespaceExists, NamespaceNotFound, ShardUnavailable
from bitsift.distributed import ShardedEngine
from bitsift.distributed.routing import group_by_shard, shard_of
from bitsift.engine.local import Engine
from bitsift.storage.lock import writer_lock
from livesrv import start_app

pytestmark = pytest.mark.ray
DIM = 64


@pytest.fixture(autouse=True)
def cluster(ray_cluster):  # the session's one cluster (conftest)
    yield


def _pair(tmp_path, name, shards=3, **kwargs):
    one, many = Engine(tmp_path / "one"), ShardedEngine(tmp_path / "sharded", write_retry_s=60)
    one.create_namespace(name, **kwargs)
    many.create_namespace(name, shards=shards, **kwargs)
    return one, many


def _same(one, many, *args, **kwargs):
    a, b = one.search(*args, **kwargs), many.search(*args, **kwargs)
    key = [(r["id"], r["score"], r["namespace"], r["metadata"], r["text"]) for r in a["results"]]
    assert key == [(r["id"], r["score"], r["namespace"], r["metadata"], r["text"]) for r in b["results"]]
    return a["results"]


def test_routing_is_stable_and_spreads_ids():
    assert shard_of("doc-1", 7) == shard_of("doc-1", 7)  # no per-process salt (unlike hash())
    counts = np.bincount([shard_of(f"id-{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 850  # ~1000 each
    groups = group_by_shard(["a", "b", "c", "d"], 3)
    assert sorted(i for g in groups.values() for i in g) == [0, 1, 2, 3]


@pytest.mark.parametrize("binarizer", ["mib", "sign", "centered"])
def test_three_shards_answer_exactly_like_one_machine(tmp_path, binarizer):
    one, many = _pair(tmp_path, "docs", dimension=DIM, binarizer=binarizer)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1500, DIM)).astype(np.float32)
    x[200:230] = x[3]  # a tie group larger than k, spread over every shard: ids must decide
    x[400:410] = -x[3]
    batches = [range(0, 600), range(600, 1100), range(1100, 1500), range(250, 320)]  # the last replaces rows
    for b in batches:
        items = [{"id": f"d{i:04d}", "vector": x[i] * (1.5 if i >= 250 and b.start == 250 else 1.0),
                  "text": f"t{i}", "metadata": {"g": i % 4, "n": i}} for i in b]
        assert one.upsert("docs", items) == many.upsert("docs", items)
    dead = [f"d{i:04d}" for i in range(0, 1500, 37)] + ["never-written"]
    assert one.delete("docs", dead) == many.delete("docs", dead)
    queries = np.vstack([x[3], x[10], -x[3], rng.standard_normal((6, DIM)).astype(np.float32)])
    for mode in ("binary", "rescore"):
        for flt in (None, {"g": 1}, {"n": {"$gte": 700}}):
            for q in queries:
                got = _same(one, many, "docs", q, top_k=10, mode=mode, filter=flt)
                assert len(got) == 10
            _same(one, many, "docs", queries[0], top_k=25, mode=mode, filter=flt, threshold=0.6)
            _same(one, many, "docs", queries[3], top_k=7, mode=mode, filter=flt, oversample=3)
    ties = _same(one, many, "docs", x[3], top_k=12, mode="binary")
    assert [r["id"] for r in ties][:5] == sorted(r["id"] for r in ties[:5])  # equal scores: by id
    assert one.get("docs", ["d0001", "d0002", "nope"]) == many.get("docs", ["d0001", "d0002", "nope"])
    assert one.describe_namespace("docs")["item_count"] == many.describe_namespace("docs")["item_count"]
    for flt in (None, {"g": 1}, {"n": {"$gte": 700}, "g": {"$ne": 2}}):
        assert one.count("docs", flt) == many.count("docs", flt) > 0
    asked = ["d0003", "d0700", "d1499", "never-written"]
    assert one.update("docs", asked, metadata={"g": 8}, unset=["n"]) == many.update("docs", asked, metadata={"g": 8},
                                                                                     unset=["n"])
    assert one.get("docs", asked, include_vectors=True) == many.get("docs", asked, include_vectors=True)
    _same(one, many, "docs", queries[0], top_k=10, filter={"g": 8})
    gone = one.delete("docs", filter={"g": 3, "n": {"$lt": 300}})
    assert gone == many.delete("docs", filter={"g": 3, "n": {"$lt": 300}}) and gone == sorted(gone) and gone
    assert one.count("docs", {"g": 3, "n": {"$lt": 300}}) == many.count("docs", {"g": 3, "n": {"$lt": 300}}) == 0
    with pytest.raises(InvalidFilter):
        many.count("docs", {"g": {"$regex": "x"}})
    assert many.create_namespace("docs", dimension=DIM, binarizer=binarizer, exist_ok=True)["shards"] == 3
    with pytest.raises(NamespaceExists, match="binarizer"):
        many.create_namespace("docs", dimension=DIM, binarizer="sign" if binarizer != "sign" else "mib", exist_ok=True)
    for limit, flt in ((97, None), (1000, {"g": 1})):  # pages across shards equal one machine's
        token_one = token_many = None
        while True:
            page_one = one.scroll("docs", limit, token_one, flt)
            page_many = many.scroll("docs", limit, token_many, flt)
            assert page_one == page_many and page_one["items"]
            token_one, token_many = page_one["next_cursor"], page_many["next_cursor"]
            if token_one is None:
                break
    one.compact("docs"), many.compact("docs")
    _same(one, many, "docs", queries[4], top_k=10)
    many.close()


@pytest.mark.model
def test_multi_namespace_search_and_text_namespaces_match_one_machine(tmp_path):
    one, many = _pair(tmp_path, "a", shards=3, dimension=DIM)
    one.create_namespace("b", dimension=DIM)
    many.create_namespace("b", dimension=DIM, shards=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, DIM)).astype(np.float32)
    for e in (one, many):
        e.upsert("a", [{"id": f"k{i}", "vector": x[i]} for i in range(200)])
        e.upsert("b", [{"id": f"k{i - 150}", "vector": x[i]} for i in range(150, 400)])  # same ids, both sides
    for q in x[:5]:
        _same(one, many, ["a", "b"], q, top_k=15)
        _same(one, many, ["b", "a"], q, top_k=15, mode="binary")
    for e in (one, many):
        e.create_namespace("txt", type="text", **({} if e is one else {"shards": 3}))
        e.upload_documents("txt", [{"id": f"doc{i}", "text": f"Note {i} about binary codes and exact search. " * 3,
                                    "topic": i % 2} for i in range(12)])
        e.upload_documents("txt", [{"id": "doc3", "text": "Replaced: a text about rivers."}])
    _same(one, many, "txt", "exact search over binary codes", top_k=8)
    _same(one, many, "txt", "rivers", top_k=3, filter={"topic": 1})
    for mode in ("keyword", "hybrid"):  # a text query is its own keywords; statistics over 3 shards
        hits = _same_hits(one, many, "txt", "exact search over binary codes", mode=mode, top_k=8)
        assert hits and hits[0]["keyword_score"] > 0
    assert one.get("txt", ["doc3"]) == many.get("txt", ["doc3"])
    many.close()


def test_shard_count_is_recorded_and_validated(tmp_path):
    many = ShardedEngine(tmp_path)
    info = many.create_namespace("v", dimension=8, shards=4)
    assert info["shards"] == 4 and (tmp_path / "v" / "sharded.json").exists()
    assert sorted(p.name for p in (tmp_path / "v").glob("shard-*")) == [f"shard-{i:03d}" for i in range(4)]
    with pytest.raises(InvalidInput, match="shards"):
        many.create_namespace("w", dimension=8, shards=0)
    with pytest.raises(NamespaceNotFound):
        many.search("nope", [0.0] * 8)
    with pytest.raises(InvalidInput, match="Ray"):
        Engine(tmp_path / "one").create_namespace("v", dimension=8, shards=3)
    many.close()
    reopened = ShardedEngine(tmp_path)  # a new coordinator finds the shards from the manifest
    assert reopened.describe_namespace("v")["shards"] == 4
    reopened.delete_namespace("v")
    assert reopened.list_namespaces() == [] and not (tmp_path / "v").exists()
    reopened.close()


@pytest.mark.slow
def test_killed_shard_loses_no_acknowledged_write_and_searches_say_so(tmp_path):
    many = ShardedEngine(tmp_path, write_retry_s=90, timeout_s=10)
    many.create_namespace("s", dimension=DIM, shards=3)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3000, DIM)).astype(np.float32)
    acked: list[int] = []
    failed: list[range] = []
    stop = threading.Event()

    def writer() -> None:
        for start in range(0, 3000, 50):
            if stop.is_set():
                return
            rows = range(start, start + 50)
            try:
                many.upsert("s", [{"id": f"r{i}", "vector": x[i]} for i in rows])
                acked.extend(rows)
            except ShardUnavailable:
                failed.append(rows)

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acked) < 600:
        time.sleep(0.01)
    victim = many._namespace("s").shards[1]
    pid = _pid(victim)
    # Holding the shard folder's writer lock keeps the restarted actor in its constructor
    # (reopening waits for the lock), so the shard stays down while the searches are checked.
    with writer_lock(tmp_path / "s" / "shard-001" / "writer.lock"):
        os.kill(pid, signal.SIGKILL)  # mid-stream: a batch is usually in flight on that shard
        time.sleep(1.0)
        with pytest.raises(ShardUnavailable, match="s/1") as refused:
            many.search("s", x[0], top_k=5)
        flagged = many.search("s", x[0], top_k=5, partial=True)
    assert refused.value.status == 503
    assert flagged["partial"] is True and flagged["missing_shards"] == [victim.label]
    assert len(flagged["results"]) == 5 and all(shard_of(r["id"], 3) != 1 for r in flagged["results"])
    thread.join(timeout=180)
    assert not thread.is_alive() and not failed  # every batch was acknowledged after the restart
    assert _pid(victim) != pid  # the actor really restarted
    ids = [f"r{i}" for i in range(3000)]
    got = {it["id"]: it["vector"] for b in range(0, 3000, 500) for it in many.get("s", ids[b:b + 500], True)}
    assert set(got) == {f"r{i}" for i in acked} and len(acked) == 3000
    for i in range(0, 3000, 97):  # whole and correct, not half-written
        assert np.allclose(got[f"r{i}"], x[i].astype(np.float16).astype(np.float32))
        top = many.search("s", x[i], top_k=1, mode="binary")
        assert top["results"][0]["id"] == f"r{i}"
    assert many.describe_namespace("s")["item_count"] == 3000
    many.close()


@pytest.mark.slow
def test_partial_search_with_every_shard_down_is_refused_not_empty(tmp_path):
    many = ShardedEngine(tmp_path, timeout_s=5)
    many.create_namespace("d", dimension=DIM, shards=1)
    x = np.random.default_rng(4).standard_normal((20, DIM)).astype(np.float32)
    many.upsert("d", [{"id": f"d{i}", "vector": x[i]} for i in range(20)])
    only = many._namespace("d").shards[0]
    with writer_lock(tmp_path / "d" / "shard-000" / "writer.lock"):  # keeps the restart waiting
        os.kill(_pid(only), signal.SIGKILL)
        time.sleep(1.0)
        with pytest.raises(ShardUnavailable, match="d/0") as refused:
            many.search("d", x[0], top_k=5, partial=True)
    assert refused.value.status == 503
    assert _poll(lambda: _try(lambda: many.search("d", x[3], top_k=1)))["results"][0]["id"] == "d3"
    many.close()


def test_a_shard_gone_for_good_is_started_again_with_its_data(tmp_path):
    many = ShardedEngine(tmp_path, write_retry_s=60, timeout_s=30)
    many.create_namespace("g", dimension=DIM, shards=2)
    x = np.random.default_rng(2).standard_normal((100, DIM)).astype(np.float32)
    many.upsert("g", [{"id": f"g{i}", "vector": x[i]} for i in range(100)])
    gone = many._namespace("g").shards[0]
    ray.kill(gone.actor, no_restart=True)  # as when the process owning the actor exits
    res = _poll(lambda: _try(lambda: many.search("g", x[5], top_k=100, mode="binary")))
    assert res is not None and len(res["results"]) == 100 and res["results"][0]["id"] == "g5"
    many.upsert("g", [{"id": "late", "vector": x[0]}])  # and it takes writes again
    assert many.describe_namespace("g")["item_count"] == 101
    many.close()


def _try(call):
    try:
        return call()
    except ShardUnavailable:
        time.sleep(0.05)
        return None


def _poll(probe, seconds=30.0):
    """The first truthy value ``probe()`` returns within ``seconds``, else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
    return None


def _if(value, test):
    return value if test(value) else None


def _pid(shard) -> int:
    """The shard actor's process id, waiting out a restart."""
    def ask():
        try:
            return ray.get(shard.actor.pid.remote())
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            time.sleep(0.05)
            return None
    pid = _poll(ask)
    assert pid is not None
    return pid


@pytest.mark.live
def test_http_server_and_client_over_a_sharded_engine(tmp_path):
    engine = ShardedEngine(tmp_path)
    live = start_app(create_app(engine))
    try:
        with Client(url=live.url) as client:
            assert client.create_namespace("h", dimension=DIM, shards=2)["shards"] == 2
            rng = np.random.default_rng(5)
            x = rng.standard_normal((50, DIM)).astype(np.float32)
            client.upload_vectors("h", [{"id": f"h{i}", "vector": x[i].tolist()} for i in range(50)])
            res = client.search("h", x[7].tolist(), top_k=3, partial=True)
            assert res["results"][0]["id"] == "h7" and res["partial"] is False and res["shards"] == 2
            assert client.describe_namespace("h")["item_count"] == 50
    finally:
        live.stop()
        engine.close()


def test_client_refuses_ray_with_url():
    with pytest.raises(TypeError, match="ray"):
        Client(url="http://127.0.0.1:1", ray="auto")


def test_search_batch_over_shards_answers_like_one_machine_and_like_single_searches(tmp_path):
    one, many = _pair(tmp_path, "bt", dimension=DIM)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((600, DIM)).astype(np.float32)
    x[300:330] = x[7]  # a tie group spread over every shard
    items = [{"id": f"b{i:04d}", "vector": v, "metadata": {"g": i % 2}} for i, v in enumerate(x)]
    one.upsert("bt", items), many.upsert("bt", items)
    queries = np.concatenate([x[[7, 8]], rng.standard_normal((6, DIM)).astype(np.float32)])
    for params in ({}, {"mode": "binary", "top_k": 20}, {"filter": {"g": 1}, "oversample": 2}):
        a, b = one.search_batch("bt", queries, **params), many.search_batch("bt", queries, **params)
        key = [[(r["id"], r["score"]) for r in res["results"]] for res in a]
        assert key == [[(r["id"], r["score"]) for r in res["results"]] for res in b]
        assert key == [[(r["id"], r["score"]) for r in many.search("bt", q, **params)["results"]] for q in queries]
        assert all(res["shards"] == 3 for res in b)
    many.close()


def _same_hits(one, many, *args, **kwargs):
    """Every field of every hit equal, BM25 and fusion scores included (to the bit)."""
    a, b = one.search(*args, **kwargs)["results"], many.search(*args, **kwargs)["results"]
    assert a == b
    return a


def test_keyword_and_hybrid_over_shards_answer_like_one_machine(tmp_path):
    """BM25 needs collection-wide statistics: each shard alone sees other document frequencies and
    lengths, so without them the sharded scores (and orders) would differ from one machine's."""
    one, many = Client(path=tmp_path / "one"), Client(ray="auto", path=tmp_path / "sharded")  # the public clients
    one.create_namespace("kw", dimension=DIM)
    many.create_namespace("kw", dimension=DIM, shards=3)
    rng = np.random.default_rng(12)
    vocab = [f"w{i}" for i in range(30)] + ["nozzle", "shock", "wing"]
    p = 1 / np.arange(1, len(vocab) + 1)
    x = rng.standard_normal((900, DIM)).astype(np.float32)
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(1, 25)), p=p / p.sum())) for _ in range(900)]
    items = [{"id": f"k{i:03d}", "vector": x[i], "text": texts[i], "metadata": {"g": i % 3}} for i in range(900)]
    for e in (one, many):
        e.upload_vectors("kw", items)
        e.delete("kw", [f"k{i:03d}" for i in range(0, 900, 13)])
        e.update("kw", ["k005", "k006"], text="nozzle shock wing nozzle")
    queries = ("nozzle shock", "w0 w1 w2 wing", "w29", "absent words")
    for mode in ("keyword", "hybrid"):
        for words, q in zip(queries, x[[5, 100, 200, 300]]):
            hits = _same_hits(one, many, "kw", q, mode=mode, keywords=words, top_k=20)
            assert words == "absent words" or hits
            _same_hits(one, many, "kw", q, mode=mode, keywords=words, top_k=10, filter={"g": 1}, threshold=0.4)
        _same_hits(one, many, "kw", x[7], mode=mode, keywords="w3 w4", top_k=150)  # deeper than the fusion depth
    _same_hits(one, many, "kw", x[8], mode="hybrid", keywords="shock", fusion="weighted", keyword_weight=0.7)
    _same_hits(one, many, "kw", x[9], top_k=30, filter={"$text": "nozzle"})
    words = ["nozzle", "w1 w5", "wing shock"]
    a = one.search_batch("kw", x[:3], mode="hybrid", keywords=words, top_k=9)
    b = many.search_batch("kw", x[:3], mode="hybrid", keywords=words, top_k=9)
    assert [r["results"] for r in a] == [r["results"] for r in b]
    without = [[dict(h, score=None) for h in many.search("kw", x[5], mode="keyword", keywords="nozzle")["results"]]]
    assert without[0][0]["id"] in ("k005", "k006")
    one.compact("kw"), many.compact("kw")
    _same_hits(one, many, "kw", x[5], mode="hybrid", keywords="nozzle shock", top_k=20)
    one.close(), many.close()


@pytest.mark.model
def test_grouped_search_over_shards_answers_like_one_machine(tmp_path, cranfield):
    """The demo's corpus (its chunks, vectors and document ids copied from the session's embedded
    Cranfield) in one namespace and in 3 shards: grouped searches are equal, hit for hit."""
    from bitsift.cli.demo import DEMO_QUERIES, cranfield_queries
    from bitsift.text.embed import embed_queries
    from corpus import NAMESPACE

    with Client(path=cranfield) as source:
        ids, cursor = [], None
        while True:
            page = source.scroll(NAMESPACE, limit=1000, cursor=cursor)
            ids += [i["id"] for i in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        items = source.get(NAMESPACE, ids, include_vectors=True)
    one, many = Client(path=tmp_path / "one"), Client(ray="auto", path=tmp_path / "sharded")
    for c, shards in ((one, None), (many, 3)):
        c.create_namespace("g", dimension=len(items[0]["vector"]), **({"shards": shards} if shards else {}))
        c.upload_vectors("g", items)
    texts = [cranfield_queries()[q] for q in DEMO_QUERIES]
    for text, q in zip(texts, embed_queries(None, texts)):
        for params in ({}, {"mode": "binary"}, {"mode": "hybrid", "keywords": text, "group_size": 2},
                       {"mode": "keyword", "keywords": text}, {"filter": {"chunk_index": 0}, "threshold": 0.3}):
            hits = _same_hits(one, many, "g", q, top_k=5, group_by="document_id", **params)
            docs = [h["group"] for h in hits]
            assert hits and all(docs.count(d) <= params.get("group_size", 1) for d in docs)
    one.close(), many.close()
