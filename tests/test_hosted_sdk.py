"""The hosted product's own SDK (moorcheh-sdk 1.3.7 from PyPI, unchanged) against a live
``bitsift serve``: every public method, sync and async, succeeds and returns the keys its
response types declare as required."""

from __future__ import annotations

import asyncio
import io
import time
import typing
from pathlib import Path

import httpx
import numpy as np
import pytest
from moorcheh_sdk import AsyncMoorchehClient, MoorchehClient, NamespaceNotFound, types

KEY = "sdk-key"
DIMS = 16
# 150 documents: the SDK uploads them in batches of 100, so both batches must be accepted.
DOCS = [{"id": f"doc-{i}", "text": f"Note {i}: the boundary layer on a {('swept', 'delta', 'straight')[i % 3]} "
                                   f"wing separates at high angles of attack.", "metadata": {"group": i % 3}}
        for i in range(150)]
FILES = {
    "notes.md": b"# Stall\n\nA wing stalls when the flow separates from its upper surface.\n",
    "table.csv": b"topic,text\nlift,Lift grows with the angle of attack until the stall.\n"
                 b"drag,Drag rises sharply past the stall.\n",
}


def _required(tdict: type) -> set[str]:
    return set(getattr(tdict, "__required_keys__", set()))


def _has(body: dict, tdict: type) -> None:
    missing = _required(tdict) - set(body)
    assert not missing, f"{tdict.__name__} lacks {sorted(missing)}: {body}"


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["topic", "text"])
    sheet.append(["shock", "A normal shock forms ahead of a blunt body in supersonic flow."])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _vectors(n: int, start: int = 0) -> list[dict]:
    x = np.random.default_rng(start).standard_normal((n, DIMS))
    return [{"id": f"v{start + i}", "vector": x[i].tolist(), "metadata": {"n": start + i}} for i in range(n)]


def _settled(url: str, namespace: str) -> None:
    """Wait for the namespace's ingestion jobs (uploads are asynchronous, as the hosted API's)."""
    deadline = time.monotonic() + 120
    while True:
        jobs = httpx.get(f"{url}/v1/jobs", params={"namespace": namespace}, headers={"x-api-key": KEY}).json()["jobs"]
        if all(j["state"] not in ("queued", "running") for j in jobs):
            assert all(j["state"] == "done" for j in jobs), jobs
            return
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _check_sync(c: MoorchehClient, tmp: Path, suffix: str, url: str) -> None:
    text, vec = f"sdk_text_{suffix}", f"sdk_vec_{suffix}"
    _has(c.namespaces.create(text, type="text"), types.NamespaceCreateResponse)
    _has(c.namespaces.create(vec, type="vector", vector_dimension=DIMS), types.NamespaceCreateResponse)
    listed = c.namespaces.list()
    _has(listed, types.NamespaceListResponse)
    assert {text, vec} <= {n["namespace_name"] for n in listed["namespaces"]}
    for n in listed["namespaces"]:
        _has(n, types.Namespace)

    up = c.vectors.upload(vec, _vectors(30))
    _has(up, types.VectorUploadResponse)
    assert up["vector_ids_processed"] == [f"v{i}" for i in range(30)] and up["errors"] == []
    gone = c.vectors.delete(vec, ["v1", "v2", "nope"])
    _has(gone, types.VectorDeleteResponse)
    assert gone["deleted_ids"] == ["v1", "v2"]

    docs = c.documents.upload(text, DOCS)
    _has(docs, types.DocumentUploadResponse)
    assert docs["submitted_ids"] == [d["id"] for d in DOCS]  # both batches of 100
    _settled(url, text)
    got = c.documents.get(text, ["doc-3", "doc-140"])
    _has(got, types.DocumentGetResponse)
    assert {d["metadata"]["document_id"] for d in got["documents"]} == {"doc-3", "doc-140"}
    paged, token = [], None
    while True:
        page = c.documents.fetch_text_data(text, limit=40, next_token=token)
        paged += [i["id"] for i in page["items"]]
        if not page["pagination"]["has_more"]:
            break
        token = page["pagination"]["next_token"]
    assert sorted(paged) == paged and len(paged) == len(set(paged)) >= len(DOCS)

    found = c.similarity_search.query([text], "why does a swept wing stall?", top_k=5)
    _has(found, types.SearchResponse)
    assert len(found["results"]) == 5 and all(r["score"] > 0 for r in found["results"])
    for r in found["results"]:
        _has(r, types.SearchResult)
    near = c.similarity_search.query([vec], _vectors(1, start=0)[0]["vector"], top_k=3)
    assert near["results"][0]["id"] == "v0"
    kiosk = c.similarity_search.query([text], "wing stall", top_k=5, kiosk_mode=True, threshold=0.99)
    assert kiosk["results"] == []
    tokened = c.similarity_search.query([text], "boundary layer #group:1 #delta", top_k=100)["results"]
    assert tokened and all(r["metadata"]["group"] == 1 and "delta" in r["text"] for r in tokened)

    answer = c.answer.generate("what happens to the boundary layer at high angles of attack?", namespace=text)
    _has(answer, types.AnswerResponse)
    assert answer["used_context"] and answer["context_count"] == 5

    for name, data in [*FILES.items(), ("sheet.xlsx", _xlsx())]:
        path = tmp / suffix / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        stored = c.documents.upload_file(text, path)
        _has(stored, types.FileUploadResponse)
        assert stored["success"] and stored["file_name"] == name
    with (tmp / suffix / "notes.md").open("rb") as handle:  # a file object: the SDK sends its whole path
        assert c.documents.upload_file(text, handle)["success"]
    _settled(url, text)
    files = c.documents.list_files(text)
    _has(files, types.ListFilesResponse)
    assert [f["file_name"] for f in files["files"]] == ["notes.md", "sheet.xlsx", "table.csv"]
    assert all(f["size"] > 0 and f["last_modified"] for f in files["files"])
    hit = c.similarity_search.query([text], "what forms ahead of a blunt body?", top_k=1)
    assert hit["results"][0]["metadata"]["source"] == "sheet.xlsx"
    deleted = c.documents.delete_files(text, ["table.csv", "missing.txt"])
    _has(deleted, types.FileDeleteResponse)
    assert [r["status"] for r in deleted["results"]] == ["deleted", "not_found"]
    assert [f["file_name"] for f in c.documents.list_files(text)["files"]] == ["notes.md", "sheet.xlsx"]

    removed = c.documents.delete(text, ["doc-0", "doc-1"])
    _has(removed, types.DocumentDeleteResponse)
    assert removed["deleted_ids"] == ["doc-0", "doc-1"]
    c.namespaces.delete(vec)
    c.namespaces.delete(text)
    with pytest.raises(NamespaceNotFound):
        c.namespaces.delete(text)


async def _check_async(c: AsyncMoorchehClient, tmp: Path, url: str) -> None:
    text, vec = "sdk_text_async", "sdk_vec_async"
    _has(await c.namespaces.create(text, type="text"), types.NamespaceCreateResponse)
    _has(await c.namespaces.create(vec, type="vector", vector_dimension=DIMS), types.NamespaceCreateResponse)
    _has(await c.namespaces.list(), types.NamespaceListResponse)
    up = await c.vectors.upload(vec, _vectors(150))  # the async SDK batches vectors by 100
    assert up["status"] == "success" and len(up["vector_ids_processed"]) == 150
    _has(await c.vectors.delete(vec, ["v3"]), types.VectorDeleteResponse)
    docs = await c.documents.upload(text, DOCS[:120])
    assert len(docs["submitted_ids"]) == 120
    _settled(url, text)
    _has(await c.documents.get(text, ["doc-7"]), types.DocumentGetResponse)
    page = await c.documents.fetch_text_data(text, limit=100)
    assert page["pagination"]["has_more"] and len(page["items"]) == 100
    found = await c.similarity_search.query([text], "delta wing", top_k=3)
    _has(found, types.SearchResponse)
    _has(await c.answer.generate("where does the flow separate?", namespace=text, top_k=3), types.AnswerResponse)
    path = tmp / "async.md"
    path.write_bytes(FILES["notes.md"])
    assert (await c.documents.upload_file(text, path))["success"]
    _settled(url, text)
    assert (await c.documents.list_files(text))["file_count"] == 1
    assert (await c.documents.delete_files(text, ["async.md"]))["success"]
    _has(await c.documents.delete(text, ["doc-5"]), types.DocumentDeleteResponse)
    await c.namespaces.delete(text)
    await c.namespaces.delete(vec)


@pytest.mark.model
def test_every_sdk_method_sync_and_async_works_unchanged(tmp_path, live_server):
    server = live_server(data_dir=tmp_path / "data", api_keys=[KEY])
    with MoorchehClient(api_key=KEY, base_url=f"{server.url}/v1") as c:
        _check_sync(c, tmp_path, "sync", server.url)

    async def flow() -> None:
        async with AsyncMoorchehClient(api_key=KEY, base_url=f"{server.url}/v1") as c:
            await _check_async(c, tmp_path, server.url)

    asyncio.run(flow())


def test_the_checked_response_types_are_the_sdks_own():
    """The keys checked above come from the SDK's TypedDicts, so a newer SDK that declares more
    fails here rather than passing silently."""
    for name in ("NamespaceCreateResponse", "VectorUploadResponse", "DocumentUploadResponse", "SearchResponse",
                 "AnswerResponse", "ListFilesResponse", "FileDeleteResponse"):
        tdict = getattr(types, name)
        assert typing.is_typeddict(tdict) and _required(tdict), name
