"""One front door, two back ends: the same operations through ``bitsift.Client(path=...)`` and
through ``HTTPClient`` (a live server on another data directory) must give the same ids, scores,
labels, texts, metadata and the same exceptions (type, name, status, message)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bitsift
from bitsift.api.client import LocalClient
from bitsift.api.http_client import AsyncHTTPClient, HTTPClient
from bitsift.core.errors import BitsiftError

DIMS = 48
KEY = "congruence-key"
VOLATILE = {"execution_time", "timings", "created_at"}  # clocks, not results
MINTED = {"job_id"}  # fresh per call: compared by shape


def _minted(value: Any) -> Any:
    return "<job id>" if isinstance(value, str) and value.startswith("job_") and len(value) > 20 else value


def test_http_clients_have_the_local_clients_methods():
    public = {n: f for n, f in inspect.getmembers(LocalClient, inspect.isfunction) if not n.startswith("_")}
    assert {"upload_documents", "search", "compact", "close"} <= set(public)
    for cls in (HTTPClient, AsyncHTTPClient):
        for name, fn in public.items():
            theirs = getattr(cls, name)
            assert inspect.signature(theirs) == inspect.signature(fn), f"{cls.__name__}.{name}"
            assert inspect.iscoroutinefunction(theirs) == (cls is AsyncHTTPClient), f"{cls.__name__}.{name}"


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _minted(v) if k in MINTED else normalise(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("ok", normalise(fn()))
    except BitsiftError as exc:
        return ("error", type(exc), exc.to_dict())


class Recorder:
    def __init__(self, client: Any) -> None:
        self.client, self.log = client, []

    def __call__(self, label: str, fn: Callable[[Any], Any]) -> None:
        self.log.append((label, outcome(lambda: fn(self.client))))


def meta(i: int) -> dict[str, Any]:
    return {"g": i % 3, "n": i, "tag": ("red", "green", "blue")[i % 3], "even": i % 2 == 0}


VOCABULARY = "wing shock flow heat lift drag boundary layer nozzle plate stall wave".split()


def words(i: int) -> str:
    """An item's text: a few words of a small vocabulary, so terms are common and rare."""
    return f"doc {i} " + " ".join(VOCABULARY[(i * k) % len(VOCABULARY)] for k in range(1, 2 + i % 4))


def vector_session(c: Any) -> list[tuple[str, Any]]:
    """Every vector-namespace operation, good and bad, in one fixed order."""
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((1000, DIMS)).astype(np.float32)
    queries = np.concatenate([x[[3, 333, 777]], rng.standard_normal((4, DIMS)).astype(np.float32)])
    op = Recorder(c)

    op("create a", lambda c: c.create_namespace("a", dimension=DIMS))
    op("create b", lambda c: c.create_namespace("b", dimension=DIMS, binarizer="sign"))
    op("create cent", lambda c: c.create_namespace("cent", dimension=DIMS, binarizer="centered"))
    op("create wide", lambda c: c.create_namespace("wide", dimension=DIMS + 1))
    op("create a again", lambda c: c.create_namespace("a", dimension=DIMS))
    op("create a again, exist_ok", lambda c: c.create_namespace("a", dimension=DIMS, exist_ok=True))
    op("create a exist_ok other binarizer", lambda c: c.create_namespace("a", dimension=DIMS, binarizer="sign",
                                                                         exist_ok=True))
    op("create a exist_ok other dimension", lambda c: c.create_namespace("a", dimension=DIMS + 2, exist_ok=True))
    op("create exist_ok not a bool", lambda c: c.create_namespace("a", dimension=DIMS, exist_ok="yes"))
    op("create new with exist_ok", lambda c: c.create_namespace("fresh", dimension=DIMS, exist_ok=True))
    op("create bad name", lambda c: c.create_namespace("a b", dimension=DIMS))
    op("create dimension 0", lambda c: c.create_namespace("z", dimension=0))
    op("create bad binarizer", lambda c: c.create_namespace("z", dimension=DIMS, binarizer="pca"))
    op("create center without centered", lambda c: c.create_namespace("z", dimension=2, center=[1.0, 2.0]))
    op("create bad type", lambda c: c.create_namespace("z", type="image", dimension=4))

    for start in range(0, 600, 150):  # numpy rows in half of the batches, plain lists in the others
        batch = [{"id": f"d{i}", "vector": x[i] if start % 300 == 0 else x[i].tolist(), "text": words(i),
                  "metadata": meta(i)} for i in range(start, start + 150)]
        op(f"upload a {start}", lambda c, batch=batch: c.upload_vectors("a", batch))
    # b shares ten ids with a (d0..d9, other vectors) so the merge order across namespaces shows
    b_items = [{"id": f"d{i - 600}" if i < 610 else f"e{i}", "vector": x[i].tolist(), "metadata": meta(i)}
               for i in range(600, 900)]
    op("upload b", lambda c: c.upload_vectors("b", b_items))
    op("upload cent", lambda c: c.upload_vectors("cent", [{"id": i, "vector": (x[i] + 3.0).tolist()}
                                                          for i in range(200)]))
    op("upsert a", lambda c: c.upload_vectors("a", [{"id": f"d{i}", "vector": x[900 + i], "metadata": {"v": 2}}
                                                    for i in range(5, 15)]))
    op("delete a", lambda c: c.delete("a", ["d1", "d2", "missing", "d1", 20]))
    op("delete b", lambda c: c.delete("b", ["e700", "e701"]))
    op("get a", lambda c: c.get("a", ["d5", "d1", "missing", "d7", 30]))
    op("get a vectors", lambda c: c.get("a", ["d7", "d300"], include_vectors=True))

    filters = [None, {"g": {"$in": [0, 2]}}, {"tag": "red", "n": {"$gte": 100}},
               {"$or": [{"even": True}, {"n": {"$lt": 50}}]}, {"v": 2}, {"n": {"$exists": False}}]

    def searches(stage: str) -> None:
        for qi, q in enumerate(queries):
            for fi, flt in enumerate(filters):
                op(f"{stage} q{qi} f{fi}", lambda c, q=q, flt=flt: c.search("a", q, top_k=25, filter=flt))
            op(f"{stage} q{qi} threshold", lambda c, q=q: c.search("a", q.tolist(), top_k=50, threshold=0.3))
            op(f"{stage} q{qi} kiosk", lambda c, q=q: c.search("a", q, top_k=10, threshold=0.5, kiosk_mode=True))
            op(f"{stage} q{qi} a+b", lambda c, q=q: c.search(["a", "b"], q, top_k=30))
            op(f"{stage} q{qi} a+b filtered", lambda c, q=q: c.search(("b", "a"), q, top_k=30, filter={"g": 1}))
            op(f"{stage} q{qi} all rows", lambda c, q=q: c.search("b", q, top_k=1000))
            op(f"{stage} q{qi} cent", lambda c, q=q: c.search("cent", q + 3.0, top_k=5))
            for mode in ("keyword", "hybrid"):
                op(f"{stage} q{qi} {mode}", lambda c, q=q, m=mode: c.search("a", q, mode=m, keywords="shock wave", top_k=15))
                op(f"{stage} q{qi} {mode} filtered", lambda c, q=q, m=mode: c.search(
                    "a", q, mode=m, keywords="nozzle stall", top_k=20, filter={"g": {"$in": [0, 2]}}, threshold=0.45))
                op(f"{stage} q{qi} {mode} a+b", lambda c, q=q, m=mode: c.search(["a", "b"], q, mode=m, keywords="heat",
                                                                                top_k=30))
            op(f"{stage} q{qi} hybrid weighted", lambda c, q=q: c.search(
                "a", q, mode="hybrid", keywords="lift drag", fusion="weighted", keyword_weight=0.6, top_k=12))
            op(f"{stage} q{qi} $text", lambda c, q=q: c.search("a", q, top_k=12, filter={"$text": "plate"}))
        op(f"{stage} keyword batch", lambda c: c.search_batch("a", queries[:3], mode="hybrid", top_k=8,
                                                              keywords=["wing", "flow layer", "nothing"]))
        op(f"{stage} keyword without words", lambda c: c.search("a", queries[0], mode="keyword"))
        op(f"{stage} keywords in rescore", lambda c: c.search("a", queries[0], keywords="wing"))
        op(f"{stage} bad keyword weight", lambda c: c.search("a", queries[0], mode="hybrid", keywords="wing",
                                                            keyword_weight=2))

    searches("before compact")

    def scroll_all(c: Any, limit: int, flt: Any = None) -> list[Any]:
        pages, cursor = [], None
        while True:
            page = c.scroll("a", limit=limit, cursor=cursor, filter=flt)
            pages.append(page)
            if page["next_cursor"] is None:
                return pages
            cursor = page["next_cursor"]

    op("update a", lambda c: c.update("a", ["d20", "d21", "ghost", 22], metadata={"g": 7, "extra": [1]}, unset=["n"]))
    op("update a text", lambda c: c.update("a", ["d20"], text="renamed"))
    op("update nothing", lambda c: c.update("a", ["d20"]))
    op("update bad unset", lambda c: c.update("a", ["d20"], unset="n"))
    op("get updated", lambda c: c.get("a", ["d20", "d21", "d22"], include_vectors=True))
    op("search updated", lambda c: c.search("a", x[20], top_k=5, filter={"g": 7}))
    op("delete b by filter", lambda c: c.delete("b", filter={"g": 2, "n": {"$lt": 700}}))
    op("delete b by filter again", lambda c: c.delete("b", filter={"g": 2, "n": {"$lt": 700}}))
    op("delete with ids and filter", lambda c: c.delete("b", ["e800"], filter={"g": 1}))
    op("delete with neither", lambda c: c.delete("b"))
    op("delete bad filter", lambda c: c.delete("b", filter={"g": {"$all": 1}}))
    op("count a", lambda c: c.count("a"))
    for fi, flt in enumerate(filters):
        op(f"count a f{fi}", lambda c, flt=flt: c.count("a", filter=flt))
    op("count bad filter", lambda c: c.count("a", filter={"g": {"$regex": "x"}}))
    op("count unknown namespace", lambda c: c.count("ghost"))
    op("scroll a by 97", lambda c: scroll_all(c, 97))
    op("scroll a filtered", lambda c: scroll_all(c, 1000, {"g": {"$in": [0, 2]}}))
    op("scroll b at once", lambda c: c.scroll("b", limit=1000))
    op("scroll bad cursor", lambda c: c.scroll("a", cursor="***"))
    op("scroll limit 0", lambda c: c.scroll("a", limit=0))
    op("scroll bad filter", lambda c: c.scroll("a", filter={"g": {"$regex": "x"}}))
    op("scroll unknown namespace", lambda c: c.scroll("ghost"))

    nan = [math.nan] + [0.0] * (DIMS - 1)
    errors = [
        ("upload wrong dimension", lambda c: c.upload_vectors("a", [{"id": "n", "vector": [1.0] * (DIMS - 1)}])),
        ("upload nan", lambda c: c.upload_vectors("a", [{"id": "n", "vector": x[0]}, {"id": "m", "vector": nan}])),
        ("upload inf", lambda c: c.upload_vectors("a", [{"id": "n", "vector": [math.inf] * DIMS}])),
        ("upload float16 overflow", lambda c: c.upload_vectors("a", [{"id": "n", "vector": [1e6] * DIMS}])),
        ("upload duplicate ids", lambda c: c.upload_vectors("a", [{"id": "n", "vector": x[0]}] * 2)),
        ("upload empty", lambda c: c.upload_vectors("a", [])),
        ("upload unknown field", lambda c: c.upload_vectors("a", [{"id": "n", "vector": x[0], "colour": 1}])),
        ("upload bad metadata", lambda c: c.upload_vectors("a", [{"id": "n", "vector": x[0], "metadata": [1]}])),
        ("upload unknown namespace", lambda c: c.upload_vectors("ghost", [{"id": "n", "vector": x[0]}])),
        ("documents on vector namespace", lambda c: c.upload_documents("a", [{"id": "n", "text": "hello"}])),
        ("search unknown namespace", lambda c: c.search(["a", "ghost"], x[0])),
        ("search malformed filter", lambda c: c.search("a", x[0], filter={"g": {"$regex": "x"}})),
        ("search filter not object", lambda c: c.search("a", x[0], filter=["g"])),
        ("search threshold", lambda c: c.search("a", x[0], threshold=2)),
        ("search top_k 0", lambda c: c.search("a", x[0], top_k=0)),
        ("search no namespaces", lambda c: c.search([], x[0])),
        ("search mixed dimensions", lambda c: c.search(["a", "wide"], x[0])),
        ("search text on vectors", lambda c: c.search("a", "wings")),
        ("search two vectors", lambda c: c.search("a", x[:2])),
        ("search nan", lambda c: c.search("a", nan)),
        ("delete empty", lambda c: c.delete("a", [])),
        ("get string ids", lambda c: c.get("a", "d5")),
        ("describe bad name", lambda c: c.describe_namespace("../a")),
        ("describe unknown", lambda c: c.describe_namespace("ghost")),
        ("compact unknown", lambda c: c.compact("ghost")),
        ("delete unknown namespace", lambda c: c.delete_namespace("ghost")),
    ]
    for label, fn in errors:
        op(label, fn)

    op("describe a", lambda c: c.describe_namespace("a"))
    op("diagnostics a", lambda c: c.diagnostics("a"))
    op("compact a", lambda c: c.compact("a"))
    op("diagnostics a after compact", lambda c: c.diagnostics("a"))
    searches("after compact")
    op("list", lambda c: c.list_namespaces())
    op("delete b", lambda c: c.delete_namespace("b"))
    op("search deleted", lambda c: c.search(["a", "b"], x[0]))
    op("list after delete", lambda c: c.list_namespaces())
    return op.log


def assert_congruent(local: list, remote: list) -> None:
    assert [label for label, _ in remote] == [label for label, _ in local]
    for (label, here), (_, there) in zip(local, remote):
        assert there == here, f"{label!r} differs:\n in-process: {here}\n over HTTP:  {there}"


def test_vector_operations_congruent(tmp_path, live_server):  # noqa: F811
    with bitsift.Client(path=tmp_path / "local") as local:
        expected = vector_session(local)
    server = live_server(data_dir=tmp_path / "remote", api_keys=[KEY])
    with HTTPClient(server.url, api_key=KEY) as remote:
        got = vector_session(remote)
    assert_congruent(expected, got)
    outcomes = [o for _, o in expected]
    errors = [o for o in outcomes if o[0] == "error"]
    # the session is meant to hit both paths: make sure it did, with several distinct error types
    assert len(errors) >= 30 and len({o[1] for o in errors}) >= 7
    hits = [o[1]["results"] for label, o in expected if label.startswith("before compact") and o[0] == "ok"
            and isinstance(o[1], dict)]
    assert sum(len(h) for h in hits) > 1000 and any(r["namespace"] == "b" for h in hits for r in h)
    fused = [o[1]["results"] for label, o in expected if label.endswith(" hybrid") and o[0] == "ok"]
    assert fused and all(h and "fusion_score" in h[0] and "keyword_score" in h[0] for h in fused)


DOCS = [
    {"id": "wing", "text": "The lift of a swept wing falls at high angles of attack as the flow separates.",
     "topic": "aero", "year": 1960},
    {"id": "soup", "text": "Simmer the onions slowly in butter until golden, then add the stock.",
     "topic": "food", "year": 2001},
    {"id": "long", "text": " ".join(f"Sentence {i} is about shock waves on wings." for i in range(80)),
     "topic": "aero", "year": 1958},
]


def text_session(c: Any) -> list[tuple[str, Any]]:
    op = Recorder(c)
    op("create notes", lambda c: c.create_namespace("notes", type="text"))
    op("upload documents", lambda c: c.upload_documents("notes", DOCS))
    op("search text", lambda c: c.search("notes", "why does a wing stall?", top_k=5))
    op("search filtered", lambda c: c.search("notes", "wings", top_k=20, filter={"topic": "aero"}))
    op("search keyword", lambda c: c.search("notes", "shock waves on wings", mode="keyword", top_k=5))
    op("search hybrid", lambda c: c.search("notes", "why does a wing stall?", mode="hybrid", top_k=5))
    op("search hybrid other words", lambda c: c.search("notes", "stall", mode="hybrid", keywords="onions", top_k=3))
    op("get by document", lambda c: c.get("notes", ["long", "soup"]))
    op("update document metadata", lambda c: c.update("notes", ["long", "soup"], metadata={"seen": True}))
    op("update a text", lambda c: c.update("notes", ["soup"], text="Onion soup, slowly simmered."))
    op("search updated", lambda c: c.search("notes", "onion soup", top_k=2, filter={"seen": True}))
    op("update a document's text", lambda c: c.update("notes", ["long"], text="no"))
    op("update bookkeeping", lambda c: c.update("notes", ["soup"], unset=["chunk_count"]))
    op("replace document", lambda c: c.upload_documents("notes", [{"id": "long", "text": "Now a short text."}]))
    op("get replaced", lambda c: c.get("notes", ["long"]))
    op("vectors on text", lambda c: c.upload_vectors("notes", [{"id": "v", "vector": [0.1] * 384}]))
    op("document without text", lambda c: c.upload_documents("notes", [{"id": "x"}]))
    op("empty query", lambda c: c.search("notes", "   "))
    op("describe", lambda c: c.describe_namespace("notes"))
    return op.log


@pytest.mark.model
def test_text_documents_congruent(tmp_path, live_server):  # noqa: F811
    with bitsift.Client(path=tmp_path / "local") as local:
        expected = text_session(local)
    server = live_server(data_dir=tmp_path / "remote")
    with HTTPClient(server.url) as remote:
        got = text_session(remote)
    assert_congruent(expected, got)
    uploaded = dict(expected)["upload documents"]
    assert uploaded[0] == "ok" and uploaded[1]["uploaded"] == 3 and uploaded[1]["chunks"] > 3
    assert dict(expected)["search text"][1]["results"][0]["metadata"]["document_id"] == "wing"
