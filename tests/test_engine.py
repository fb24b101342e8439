"""The library API end to end on real folders: writes, reads, search, errors that lose nothing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import bitsift
from bitsift.core import errors
from conftest import folder_digest
from model import ModelNamespace, as_pairs, assert_same

DIMS = 48


@pytest.fixture
def client(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as c:
        yield c


def items(rng, n, start=0, dims=DIMS, **meta):
    x = rng.standard_normal((n, dims)).astype(np.float32)
    return [{"id": f"d{start + i}", "vector": x[i].tolist(), "text": f"doc {start + i}",
             "metadata": {"g": (start + i) % 3, **meta}} for i in range(n)]


def test_namespace_lifecycle(client):
    info = client.create_namespace("docs", dimension=DIMS)
    assert info["namespace_name"] == "docs" and info["vector_dimension"] == DIMS and info["binarizer"] == "mib"
    assert [n["namespace_name"] for n in client.list_namespaces()] == ["docs"]
    with pytest.raises(errors.NamespaceExists) as exc:
        client.create_namespace("docs", dimension=DIMS)
    assert exc.value.status == 409
    client.delete_namespace("docs")
    assert client.list_namespaces() == []
    with pytest.raises(errors.NamespaceNotFound) as exc:
        client.search("docs", [0.0] * DIMS)
    assert exc.value.status == 404 and exc.value.to_dict()["error"] == "namespace_not_found"


@pytest.mark.parametrize("name", ["", "a b", "../x", "-lead", "x" * 65, 5])
def test_invalid_names(client, name):
    with pytest.raises(errors.InvalidName):
        client.create_namespace(name, dimension=4)


@pytest.mark.parametrize("kwargs, message", [
    ({"dimension": 0}, "dimension"), ({"type": "vector", "dimension": None}, "dimension"), ({"dimension": 4, "type": "image"}, "type"),
    ({"dimension": 4, "binarizer": "pca"}, "binarizer"), ({"dimension": 2, "center": [1.0, 2.0]}, "centered"),
])
def test_invalid_create_arguments(client, kwargs, message):
    with pytest.raises(errors.InvalidInput, match=message):
        client.create_namespace("x", **kwargs)


def test_upload_search_get_delete(client, rng):
    client.create_namespace("docs", dimension=DIMS)
    batch = items(rng, 300)
    assert client.upload_vectors("docs", batch)["uploaded"] == 300
    res = client.search("docs", batch[7]["vector"], top_k=3)
    top = res["results"][0]
    assert top["id"] == "d7" and top["score"] == 1.0 and top["label"] == "Close Match"
    assert top["text"] == "doc 7" and top["metadata"] == {"g": 1}
    assert set(res["timings"]) >= {"scan_ms", "total_ms"} and res["execution_time"] > 0
    got = client.get("docs", ["d7", "missing", "d1"], include_vectors=True)
    assert [g["id"] for g in got] == ["d7", "d1"]
    np.testing.assert_allclose(got[0]["vector"], batch[7]["vector"], rtol=1e-3, atol=1e-3)
    assert client.delete("docs", ["d7", "nope"])["deleted"] == ["d7"]
    assert "d7" not in [r["id"] for r in client.search("docs", batch[7]["vector"], top_k=300)["results"]]
    assert client.describe_namespace("docs")["item_count"] == 299


def test_search_equals_brute_force_with_filters_and_threshold(client, rng):
    client.create_namespace("docs", dimension=DIMS)
    model = ModelNamespace(DIMS)
    for start in range(0, 600, 150):
        batch = items(rng, 150, start)
        client.upload_vectors("docs", batch)
        model.upsert(batch)
    for q in rng.standard_normal((5, DIMS)).astype(np.float32):
        assert_same(as_pairs(client.search("docs", q.tolist(), top_k=10, mode="binary")), model.search(q, 10))
        got = client.search("docs", q.tolist(), top_k=20, filter={"g": {"$in": [0, 2]}}, mode="binary")
        assert_same(as_pairs(got), model.search(q, 20, where=lambda m: m["g"] in (0, 2)))
        got = client.search("docs", q.tolist(), top_k=50, threshold=0.2, mode="binary")
        assert_same(as_pairs(got), model.search(q, 50, threshold=0.2))
        assert all(r["score"] >= 0.2 for r in got["results"])


def test_top_k_is_not_capped_at_100(client, rng):
    client.create_namespace("docs", dimension=DIMS)
    client.upload_vectors("docs", items(rng, 500))
    assert len(client.search("docs", rng.standard_normal(DIMS).tolist(), top_k=450)["results"]) == 450
    with pytest.raises(errors.InvalidInput, match="top_k"):
        client.search("docs", rng.standard_normal(DIMS).tolist(), top_k=0)


def test_upsert_replaces_by_id(client, rng):
    client.create_namespace("docs", dimension=DIMS)
    first = items(rng, 10)
    client.upload_vectors("docs", first)
    second = items(rng, 1, start=3)
    second[0]["metadata"] = {"v": 2}
    client.upload_vectors("docs", second)
    assert client.describe_namespace("docs")["item_count"] == 10
    assert client.get("docs", ["d3"])[0]["metadata"] == {"v": 2}
    hits = client.search("docs", second[0]["vector"], top_k=10)["results"]
    assert [h["id"] for h in hits].count("d3") == 1 and hits[0]["id"] == "d3"


@pytest.mark.parametrize("mode", ["binary", "rescore"])
def test_multi_namespace_search_merges_exactly(client, rng, mode):
    client.create_namespace("a", dimension=DIMS)
    client.create_namespace("b", dimension=DIMS)
    client.create_namespace("all", dimension=DIMS)
    batch = items(rng, 400)
    client.upload_vectors("a", batch[:250])
    client.upload_vectors("b", batch[250:])
    client.upload_vectors("all", batch)
    for q in rng.standard_normal((5, DIMS)).tolist():
        merged = client.search(["a", "b"], q, top_k=15, mode=mode, oversample=3)["results"]
        single = client.search("all", q, top_k=15, mode=mode, oversample=3)["results"]
        assert [(r["id"], r["score"]) for r in merged] == [(r["id"], r["score"]) for r in single]
        assert {r["namespace"] for r in merged} <= {"a", "b"}
    client.create_namespace("other", dimension=DIMS + 1)
    with pytest.raises(errors.DimensionMismatch):
        client.search(["a", "other"], q, top_k=3)


BAD_BATCHES = [
    ([], errors.EmptyBatch, "non-empty"),
    ([{"id": "x", "vector": [1.0] * (DIMS - 1)}], errors.DimensionMismatch, "expected dimension"),
    ([{"id": "x", "vector": [math.nan] * DIMS}], errors.InvalidVector, "NaN"),
    ([{"id": "x", "vector": [math.inf] + [0.0] * (DIMS - 1)}], errors.InvalidVector, "NaN or infinity"),
    ([{"id": "x", "vector": [1e6] * DIMS}], errors.InvalidVector, "float16"),
    ([{"id": "x", "vector": ["a"] * DIMS}], errors.InvalidVector, "numbers"),
    ([{"id": "x", "vector": "abc"}], errors.InvalidVector, "flat list"),
    ([{"id": "x", "vector": [[1.0] * DIMS]}], errors.InvalidVector, "flat list"),
    ([{"id": "x"}], errors.InvalidInput, "required"),
    ([{"id": "", "vector": [1.0] * DIMS}], errors.InvalidInput, "id must"),
    ([{"id": None, "vector": [1.0] * DIMS}], errors.InvalidInput, "id must"),
    ([{"id": "x", "vector": [1.0] * DIMS, "colour": 1}], errors.InvalidInput, "unknown fields"),
    ([{"id": "x", "vector": [1.0] * DIMS, "metadata": [1]}], errors.InvalidInput, "metadata"),
    ([{"id": "x", "vector": [1.0] * DIMS, "metadata": {"a": math.nan}}], errors.InvalidInput, "JSON"),
    ([{"id": "x", "vector": [1.0] * DIMS, "metadata": {"a": "y" * 70000}}], errors.InvalidInput, "larger"),
    ([{"id": "x", "vector": [1.0] * DIMS}, {"id": "x", "vector": [2.0] * DIMS}], errors.DuplicateIds, "duplicate"),
    (["not an object"], errors.InvalidInput, "object"),
]


@pytest.mark.parametrize("batch, error, message", BAD_BATCHES)
def test_rejected_batches_write_nothing(client, rng, tmp_path, batch, error, message):
    client.create_namespace("docs", dimension=DIMS)
    good = items(rng, 20)
    client.upload_vectors("docs", good)
    before = folder_digest(tmp_path / "data" / "docs")
    # A bad item at the end of an otherwise good batch must not let the good ones in.
    mixed = [{"id": "new-1", "vector": good[0]["vector"]}] + batch if batch else batch
    with pytest.raises(error, match=message) as exc:
        client.upload_vectors("docs", mixed)
    assert exc.value.status == 400
    assert folder_digest(tmp_path / "data" / "docs") == before
    assert client.describe_namespace("docs")["item_count"] == 20
    assert client.get("docs", ["new-1"]) == []


@pytest.mark.parametrize("query, error", [
    ([0.0] * (DIMS + 1), errors.DimensionMismatch), ([math.nan] * DIMS, errors.InvalidVector),
    ("text", errors.InvalidInput), ([[0.0] * DIMS] * 2, errors.InvalidInput),
])
def test_bad_queries(client, query, error):
    client.create_namespace("docs", dimension=DIMS)
    with pytest.raises(error):
        client.search("docs", query)


def test_bad_search_arguments(client):
    client.create_namespace("docs", dimension=DIMS)
    q = [0.5] * DIMS
    with pytest.raises(errors.InvalidFilter):
        client.search("docs", q, filter={"g": {"$bad": 1}})
    with pytest.raises(errors.InvalidInput, match="threshold"):
        client.search("docs", q, threshold=2)
    with pytest.raises(errors.InvalidInput, match="namespaces"):
        client.search([], q)
    with pytest.raises(errors.InvalidInput, match="ids"):
        client.delete("docs", [])


def test_empty_namespace_and_kiosk_mode(client):
    client.create_namespace("docs", dimension=DIMS)
    res = client.search("docs", [0.1] * DIMS, top_k=5, kiosk_mode=True, threshold=0.5)
    assert res["results"] == []


def test_data_survives_reopen_and_compaction(tmp_path, rng):
    path = tmp_path / "data"
    batch = items(rng, 200)
    with bitsift.Client(path=path) as c:
        c.create_namespace("docs", dimension=DIMS)
        c.upload_vectors("docs", batch)
        c.delete("docs", [f"d{i}" for i in range(0, 200, 2)])
        q = batch[11]["vector"]
        before = c.search("docs", q, top_k=20)
    with bitsift.Client(path=path) as c:
        assert c.search("docs", q, top_k=20)["results"] == before["results"]
        assert c.compact("docs") == {"rows_before": 200, "rows_after": 100}
        assert c.search("docs", q, top_k=20)["results"] == before["results"]
        assert (path / "docs" / "codes.u64").stat().st_size == 100 * 8
    with bitsift.Client(path=path) as c:
        assert c.search("docs", q, top_k=20)["results"] == before["results"]
        assert c.describe_namespace("docs")["item_count"] == 100


def test_centered_binarizer_learns_and_keeps_its_center(tmp_path, rng):
    path = tmp_path / "data"
    x = rng.standard_normal((100, DIMS)).astype(np.float32) + 5.0
    with bitsift.Client(path=path) as c:
        c.create_namespace("docs", dimension=DIMS, binarizer="centered")
        c.upload_vectors("docs", [{"id": str(i), "vector": v.tolist()} for i, v in enumerate(x)])
        center = c.describe_namespace("docs")
        diag = c.diagnostics("docs")
        assert diag["effective_bits"] > 0.8 * DIMS  # centring balances the positions
        hits = c.search("docs", x[4].tolist(), top_k=1)["results"]
        assert hits[0]["id"] == "4"
    with bitsift.Client(path=path) as c:
        assert c.describe_namespace("docs") == center
        assert c.search("docs", x[4].tolist(), top_k=1)["results"] == hits


@pytest.mark.parametrize("binarizer", ["centered", "centered_mib"])
def test_a_given_center_is_used_from_the_first_upload(client, rng, tmp_path, binarizer):
    center = [0.5] * DIMS
    client.create_namespace("fixed", dimension=DIMS, binarizer=binarizer, center=center)
    x = rng.standard_normal((20, DIMS)).astype(np.float32) + 7.0  # far from the data's own mean
    client.upload_vectors("fixed", [{"id": str(i), "vector": v.tolist()} for i, v in enumerate(x)])
    manifest = json.loads((tmp_path / "data" / "fixed" / "manifest.json").read_text())
    assert manifest["binarizer_params"]["center"] == center  # kept, not re-learned from the data
    assert client.search("fixed", x[3].tolist(), top_k=1)["results"][0]["id"] == "3"


def test_two_clients_on_one_folder_see_each_others_writes(tmp_path, rng):
    path = tmp_path / "data"
    with bitsift.Client(path=path) as a, bitsift.Client(path=path) as b:
        a.create_namespace("docs", dimension=DIMS)
        batch = items(rng, 30)
        b.upload_vectors("docs", batch[:10])
        a.upload_vectors("docs", batch[10:])
        assert a.describe_namespace("docs")["item_count"] == 30
        assert b.search("docs", batch[25]["vector"], top_k=1)["results"][0]["id"] == "d25"
        a.delete("docs", ["d25"])
        assert b.get("docs", ["d25"]) == []


def test_cached_filter_masks_follow_writes(client, rng):
    client.create_namespace("docs", dimension=DIMS)
    batch = items(rng, 60)
    client.upload_vectors("docs", batch)
    q = batch[0]["vector"]
    flt = {"g": 1}
    first = client.search("docs", q, top_k=60, filter=flt)["results"]
    assert {r["metadata"]["g"] for r in first} == {1} and len(first) == 20
    assert client.search("docs", q, top_k=60, filter={"g": 1})["results"] == first  # served from the cache
    moved = dict(batch[3], metadata={"g": 1})  # d3 had g == 0
    client.upload_vectors("docs", [moved])
    again = client.search("docs", q, top_k=60, filter=flt)["results"]
    assert len(again) == 21 and "d3" in {r["id"] for r in again}
    client.delete("docs", ["d1"])  # d1 had g == 1
    assert "d1" not in {r["id"] for r in client.search("docs", q, top_k=60, filter=flt)["results"]}
