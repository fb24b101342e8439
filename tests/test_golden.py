"""A namespace written by every earlier format version keeps opening and answering the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bitsift
from bitsift.core.errors import KeywordIndexMissing
from bitsift.storage.jobs import JOBS_FILE
from bitsift.storage.jobs import SCHEMA_VERSION as JOBS_VERSION
from bitsift.storage.manifest import FORMAT_VERSION
from make_golden import DIMS, golden_items, keyword_searches, queries
from model import ModelNamespace, as_pairs, assert_same

DATA = Path(__file__).parent / "data"
VERSIONS = list(range(1, FORMAT_VERSION + 1))


@pytest.fixture(params=VERSIONS, ids=[f"v{v}" for v in VERSIONS])
def version(request):
    return request.param


@pytest.fixture
def golden_copy(tmp_path, version):
    shutil.copytree(DATA / f"golden-v{version}" / "data", tmp_path / "data")  # opening may write WAL files
    return tmp_path / "data"


def test_golden_files_are_present(version):
    golden = DATA / f"golden-v{version}"
    names = sorted(p.name for p in (golden / "data" / "golden").iterdir())
    assert names == sorted(["codes.u64", "items.sqlite", "manifest.json", "vectors.f16"]
                           + (["correctives.f32"] if version >= 4 else []))
    manifest = json.loads((golden / "data" / "golden" / "manifest.json").read_text())
    assert manifest["format_version"] == version and manifest["dimension"] == DIMS
    assert ("incarnation" in manifest) == (version >= 2)


def test_golden_namespace_answers_as_recorded(golden_copy, version):
    """Binary mode answers exactly as each version recorded; rescore mode as the current version
    recorded (its first stage changed in format 4; an older folder computes its corrective scalars
    when it opens, without writing them), whatever the version."""
    own = json.loads((DATA / f"golden-v{version}" / "expected.json").read_text())
    current = json.loads((DATA / f"golden-v{FORMAT_VERSION}" / "expected.json").read_text())
    expected = {name: [o if i % 2 == 0 else c for i, (o, c) in enumerate(zip(own[name], current[name]))]
                for name in own}  # runs alternate binary, rescore
    with bitsift.Client(path=golden_copy) as client:
        assert {n["namespace_name"]: n["item_count"] for n in client.list_namespaces()} == {
            "golden": 270, "golden-centered": 270}
        for name, runs in expected.items():
            got = [client.search(name, q.tolist(), top_k=8, filter=f, mode=mode)["results"]
                   for q in queries() for f in (None, {"even": True}) for mode in ("binary", "rescore")]
            # everything exact but the scores, which may move in the last bits when the float
            # arithmetic is reorganised (e.g. rescore.correlation going row by row)
            assert [[{**r, "score": None} for r in run] for run in got] == \
                [[{**r, "score": None} for r in run] for run in runs]
            assert [[r["score"] for r in run] for run in got] == \
                [pytest.approx([r["score"] for r in run], rel=1e-12, abs=1e-12) for run in runs]
    for name in expected:
        assert json.loads((golden_copy / name / "manifest.json").read_text())["format_version"] == version  # untouched
        assert (golden_copy / name / "correctives.f32").exists() == (version >= 4)  # computed, not written


def _without_scores(runs):
    return [[{k: v for k, v in r.items() if not k.endswith("score")} for r in run] for run in runs]


def _scores(runs):
    return [[(r["score"], r["keyword_score"], r.get("fusion_score", 0.0)) for r in run] for run in runs]


def test_keyword_index_is_recorded_or_built_on_the_first_write(golden_copy, version):
    """Format 3 and later answer keyword and hybrid searches as recorded; an older folder refuses them (a
    read never changes a folder) until its first write, a compaction here, builds the index
    from its texts: then it answers exactly what the version-3 golden recorded."""
    recorded = json.loads((DATA / f"golden-v{FORMAT_VERSION}" / "expected-keyword.json").read_text())
    with bitsift.Client(path=golden_copy) as client:
        for name, runs in recorded.items():
            manifest = json.loads((golden_copy / name / "manifest.json").read_text())
            if version < 3:
                with pytest.raises(KeywordIndexMissing, match="compact"):
                    client.search(name, queries()[0].tolist(), mode="keyword", keywords="item 7")
                words = client.search(name, queries()[0].tolist(), top_k=300, filter={"$text": "7"})["results"]
                assert [r["id"] for r in words] == ["g7"]  # $text needs no index
                assert json.loads((golden_copy / name / "manifest.json").read_text()) == manifest  # untouched
                client.compact(name)
            got = keyword_searches(client, name)
            assert _without_scores(got) == _without_scores(runs)
            assert _scores(got) == [[pytest.approx(s, rel=1e-12, abs=1e-12) for s in run] for run in _scores(runs)]
            # only a write migrates: the older folders compacted above, format 3 and later as they were
            assert json.loads((golden_copy / name / "manifest.json").read_text())["format_version"] == \
                (FORMAT_VERSION if version < 3 else version)


def test_golden_namespace_matches_brute_force_and_accepts_writes(golden_copy, version):
    model = ModelNamespace(DIMS)
    model.upsert(golden_items())
    model.delete([f"g{i}" for i in range(0, 300, 10)])
    with bitsift.Client(path=golden_copy) as client:
        for q in queries():
            assert_same(as_pairs(client.search("golden", q.tolist(), top_k=10, mode="binary")), model.search(q, 10))
            assert_same(as_pairs(client.search("golden", q.tolist(), top_k=10)), model.rescore(q, 10))
        extra = [{"id": "new", "vector": queries()[0].tolist()}]
        client.upload_vectors("golden", extra)
        model.upsert(extra)
        assert client.search("golden", extra[0]["vector"], top_k=1)["results"][0]["id"] == "new"
        assert client.compact("golden")["rows_after"] == 271
    # the first write migrated it: the corrective scalars are on disk, one pair per row
    folder = golden_copy / "golden"
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == FORMAT_VERSION
    assert (folder / "correctives.f32").stat().st_size == 271 * 8
    with bitsift.Client(path=golden_copy) as client:
        for q in queries():
            assert_same(as_pairs(client.search("golden", q.tolist(), top_k=10)), model.rescore(q, 10))


JOBS_VERSIONS = list(range(1, JOBS_VERSION + 1))


@pytest.mark.parametrize("jobs_version", JOBS_VERSIONS, ids=[f"jobs-v{v}" for v in JOBS_VERSIONS])
def test_a_golden_jobs_file_is_read_and_its_unfinished_job_resumed(tmp_path, jobs_version):
    from counting_embedder import NAME, register
    from make_golden import JOBS_NAMESPACE, golden_documents

    register()
    data = tmp_path / "data"
    with bitsift.Client(path=data) as client:
        client.create_namespace(JOBS_NAMESPACE, type="text", model=NAME)
    shutil.copy(DATA / f"jobs-v{jobs_version}" / JOBS_FILE, data / JOBS_FILE)
    with bitsift.Client(path=data) as client:  # opening resumes the unfinished job
        finished, older = client.jobs()
        assert older["state"] == "done" and older["documents_done"] == 1 and older["finished_at"] is not None
        waited = client._engine.ingestion.wait(finished["job_id"], timeout_s=30)
        assert waited["state"] == "done" and waited["documents_done"] == 2 and waited["chunks_done"] == 2
        stored = {i["id"]: i["text"] for i in client.scroll(JOBS_NAMESPACE)["items"]}
        assert stored == {d["id"]: d["text"] for d in golden_documents()[1:]}


def test_a_handle_opened_before_another_process_migrated_sees_the_new_row_file(tmp_path):
    """A handle that read the format-3 manifest must, before it recovers or rolls a compaction
    forward, see that another handle migrated the folder: else it would skip correctives.f32."""
    from bitsift.storage.folder import NamespaceFolder

    shutil.copytree(DATA / "golden-v3" / "data", tmp_path / "data")
    path = tmp_path / "data" / "golden"
    stale, other = NamespaceFolder(path), NamespaceFolder(path)
    assert not stale.has_correctives
    with other.writing():
        other.upgrade()
    (path / "correctives.f32.compact").write_bytes(b"")  # as a compaction that crashed would leave it
    with stale.writing():
        stale.recover()
    assert stale.has_correctives and not (path / "correctives.f32.compact").exists()
    stale.close()
    other.close()
