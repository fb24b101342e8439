"""Durable asynchronous ingestion (engine.ingestion, storage.jobs): jobs recorded before they are
acknowledged, written in order by exactly one worker, resumed by the next, idempotent by
document id and content, cancellable, reported per document, and kept for a bounded time.
The SIGKILL campaign is tests/test_ingest_crash.py; these use the counting embedder in process."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

import bitsift
from bitsift.core import errors
from bitsift.engine.local import Engine
from bitsift.storage.jobs import JOBS_FILE
from counting_embedder import DELAY_ENV, LOG_ENV, NAME, calls, digest, register
from livesrv import live_server  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def counting(tmp_path, monkeypatch):
    register()
    log = tmp_path / "embeddings.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    return log


def _docs(n: int, start: int = 0, version: str = "a") -> list[dict]:
    return [{"id": f"d{i}", "text": f"text {version} of document {i}", "n": i} for i in range(start, start + n)]


def _embedded(log) -> list[str]:
    return [d for _, digests in calls(log) for d in digests] if log.exists() else []


def _wait_state(client, job_id: str, states: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.job(job_id)
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def test_an_upload_is_a_job_searchable_when_it_reports_done(tmp_path, counting):
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        queued = c.upload_documents("t", _docs(40), wait=False)
        assert queued["status"] == "queued" and queued["chunks"] == 40 and queued["submitted_ids"][0] == "d0"
        assert (tmp_path / "data" / JOBS_FILE).is_file()
        job = _wait_state(c, queued["job_id"], {"done"})
        assert job["documents_done"] == job["documents"] == 40 and job["chunks_done"] == 40
        assert job["failures"] == [] and job["error"] is None and job["finished_at"] >= job["created_at"]
        assert c.describe_namespace("t")["item_count"] == 40
        assert c.search("t", "text a of document 7", top_k=1)["results"][0]["id"] == "d7"
        assert [j["job_id"] for j in c.jobs("t")] == [queued["job_id"]]


def test_resending_unchanged_documents_embeds_nothing_and_a_change_only_that_document(tmp_path, counting):
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        c.upload_documents("t", _docs(30))
        first = len(_embedded(counting))
        assert first == 30
        again = c.upload_documents("t", _docs(30))
        assert again["status"] == "success" and len(_embedded(counting)) == first  # nothing embedded twice
        changed = _docs(30)
        changed[4]["text"] = "a new text of document 4"
        changed[9]["n"] = -1  # metadata counts as content too
        c.upload_documents("t", changed)
        assert _embedded(counting)[first:] == [digest(changed[4]["text"]), digest(changed[9]["text"])]
        assert c.get("t", ["d9"])[0]["metadata"]["n"] == -1


def test_two_workers_on_one_folder_run_each_job_once_and_in_order(tmp_path, counting, monkeypatch):
    monkeypatch.setenv(DELAY_ENV, "0.01")
    a, b = Engine(tmp_path / "data"), Engine(tmp_path / "data")
    try:
        a.create_namespace("t", type="text", model=NAME)
        jobs = []
        for k in range(12):  # the same ids again and again, from either worker: the last version wins
            engine = a if k % 2 else b
            jobs.append(engine.upload_documents("t", _docs(20, version=f"v{k}"), wait=False)["job_id"])
        for job_id in jobs:
            _wait_state(a, job_id, {"done"})
        texts = [t for _, digests in calls(counting) for t in digests]
        assert len(texts) == len(set(texts)) == 12 * 20  # every version embedded once, by one worker
        assert {i["text"] for i in b.get("t", [f"d{i}" for i in range(20)])} == {f"text v11 of document {i}"
                                                                                 for i in range(20)}
        finished = [a.job(j)["finished_at"] for j in jobs]
        assert finished == sorted(finished)  # one namespace's jobs run in the order accepted
    finally:
        a.close()
        b.close()


def test_a_job_left_unfinished_is_resumed_by_the_next_open(tmp_path, counting, monkeypatch):
    monkeypatch.setenv(DELAY_ENV, "0.2")
    docs = [{"id": f"d{i}", "text": ("word " * 50 + str(i)) * 9} for i in range(8)]  # 2-3 chunks each
    first = Engine(tmp_path / "data")
    first.create_namespace("t", type="text", model=NAME)
    with pytest.MonkeyPatch.context() as m:
        m.setattr("bitsift.engine.ingestion.BATCH_CHUNKS", 4)
        job_id = first.upload_documents("t", docs, wait=False)["job_id"]
        _wait_state(first, job_id, {"running"})
        time.sleep(0.3)
        first.close()  # stops after the batch in flight and gives the job back
    stopped = [len(d) for _, d in calls(counting)]
    assert 0 < sum(stopped) < 20
    second = Engine(tmp_path / "data")
    try:
        job = second.ingestion.wait(job_id, timeout_s=30)
        assert job["state"] == "done" and job["documents_done"] == 8
        texts = _embedded(counting)
        assert len(texts) == len(set(texts))  # nothing written before the stop was embedded again
        assert {i["metadata"]["document_id"] for i in second.scroll("t", 1000)["items"]} == {d["id"] for d in docs}
    finally:
        second.close()


def test_cancel_drops_what_is_not_written_and_wait_says_so(tmp_path, counting, monkeypatch):
    monkeypatch.setenv(DELAY_ENV, "0.3")
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        busy = c.upload_documents("t", _docs(5), wait=False)["job_id"]
        waiting = c.upload_documents("t", _docs(5, start=100), wait=False)["job_id"]
        cancelled = c.cancel_job(waiting)
        assert cancelled["state"] == "cancelled" and cancelled["documents_cancelled"] == 5
        with pytest.raises(errors.JobCancelled, match="0 of 5"):
            c._engine.ingestion.wait(waiting)
        assert _wait_state(c, busy, {"done"})["documents_done"] == 5
        assert c.get("t", ["d100"]) == []
        assert c.cancel_job(busy)["state"] == "done"  # a finished job stays as it was
        with pytest.raises(errors.JobNotFound):
            c.cancel_job("job_nope")


def test_a_namespace_deleted_after_the_upload_fails_the_job_and_is_not_recreated(tmp_path, counting, monkeypatch):
    monkeypatch.setenv(DELAY_ENV, "0.3")
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        c.upload_documents("t", _docs(3), wait=False)
        late = c.upload_documents("t", _docs(3, start=10), wait=False)["job_id"]
        c.delete_namespace("t")
        c.create_namespace("t", type="text", model=NAME)  # another incarnation: not the one accepted for
        job = _wait_state(c, late, {"failed"})
        assert job["error"]["error"] == "namespace_not_found" and job["documents_failed"] == 3
        assert job["failures"][0]["id"] == "d10" and job["failures"][0]["status"] == 404
        assert c.describe_namespace("t")["item_count"] == 0
        with pytest.raises(errors.NamespaceNotFound, match="deleted after the upload"):
            c._engine.ingestion.wait(late)


def test_a_bad_upload_is_refused_whole_and_records_no_job(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        with pytest.raises(errors.InvalidInput, match=r"documents\[1\]"):
            c.upload_documents("t", [{"id": "a", "text": "fine"}, {"id": "b", "text": ""}], wait=False)
        with pytest.raises(errors.InvalidInput, match="JSON"):
            c.upload_documents("t", [{"id": "a", "text": "fine", "when": object()}], wait=False)
        assert c.jobs() == []
        with pytest.raises(errors.NamespaceNotFound):
            c.upload_documents("missing", _docs(1))
        with pytest.raises(errors.InvalidInput, match="limit"):
            c.jobs(limit=0)


def test_finished_jobs_are_kept_for_the_retention_only(tmp_path, monkeypatch):
    monkeypatch.setenv("BITSIFT_JOB_RETENTION_S", "0")
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        old = c.upload_documents("t", _docs(2))["job_id"]
        new = c.upload_documents("t", _docs(2, start=5))["job_id"]  # each upload purges the expired
        with pytest.raises(errors.JobNotFound, match="kept for 0 s"):
            c.job(old)
        assert c.job(new)["state"] == "done"


def test_rest_jobs_routes_and_the_hosted_202(tmp_path, live_server):  # noqa: F811
    server = live_server(data_dir=tmp_path / "data")
    with httpx.Client(base_url=server.url, timeout=30) as http, bitsift.Client(url=server.url) as c:
        c.create_namespace("t", type="text", model=NAME)
        r = http.post("/v1/namespaces/t/documents", json={"documents": _docs(5)})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        job_id = r.json()["job_id"]
        assert _wait_state(c, job_id, {"done"})["chunks_done"] == 5
        assert http.get(f"/v1/jobs/{job_id}").json()["state"] == "done"
        assert [j["job_id"] for j in http.get("/v1/jobs", params={"namespace": "t"}).json()["jobs"]] == [job_id]
        waited = http.post("/v1/namespaces/t/documents", params={"wait": "true"}, json={"documents": _docs(2, 50)})
        assert waited.status_code == 200 and waited.json()["status"] == "success"
        assert len(c.get("t", ["d50", "d51"])) == 2
        missing = http.get("/v1/jobs/job_nope")
        assert missing.status_code == 404 and missing.json()["error"] == "job_not_found"
        assert http.post(f"/v1/jobs/{job_id}/cancel").json()["state"] == "done"
        assert c.jobs(limit=1)[0]["job_id"] == waited.json()["job_id"]


def test_a_failing_embedder_fails_its_documents_with_the_reason(tmp_path, monkeypatch):
    from counting_embedder import CountingEmbedder

    def broken(self, texts):
        if any("poison" in t for t in texts):
            raise RuntimeError("the model ran out of memory")
        return original(self, texts)

    original = CountingEmbedder.encode
    monkeypatch.setattr(CountingEmbedder, "encode", broken)
    monkeypatch.setattr("bitsift.engine.ingestion.BATCH_CHUNKS", 1)
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        docs = [{"id": "good", "text": "fine"}, {"id": "bad", "text": "poison"}, {"id": "late", "text": "also fine"}]
        with pytest.raises(errors.BitsiftError, match="out of memory"):
            c.upload_documents("t", docs)
        job = c.jobs()[0]
        assert job["state"] == "failed" and (job["documents_done"], job["documents_failed"]) == (2, 1)
        assert job["failures"] == [{"id": "bad", "error": "internal_error", "status": 500,
                                    "message": "RuntimeError: the model ran out of memory"}]
        assert {i["id"] for i in c.scroll("t")["items"]} == {"good", "late"}


def test_wait_returns_at_once_for_a_job_another_thread_finishes(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("t", type="text", model=NAME)
        results = []
        threads = [threading.Thread(target=lambda k=k: results.append(c.upload_documents("t", _docs(5, 10 * k))))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r["status"] for r in results) == ["success"] * 4
        assert c.describe_namespace("t")["item_count"] == 20
