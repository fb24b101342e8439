"""A file damaged outside bitsift, of each kind, is StorageCorrupt naming the file: never a
crash, never a silent repair that loses rows (a damaged count must not cut the row files)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import numpy as np
import pytest

from bitsift.core.errors import StorageCorrupt
from bitsift.engine.local import Engine

DIMS, N = 32, 50


@pytest.fixture
def folder(tmp_path):
    with closing(Engine(tmp_path)) as engine:
        engine.create_namespace("ns", dimension=DIMS)
        x = np.random.default_rng(0).standard_normal((N, DIMS)).astype(np.float32)
        engine.upsert("ns", [{"id": f"i{i}", "vector": x[i], "text": "t"} for i in range(N)])
    return tmp_path / "ns"


def _sql(folder, statement):
    with closing(sqlite3.connect(folder / "items.sqlite")) as c:
        c.execute(statement)
        c.commit()


def _cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


DAMAGE = {
    "manifest-garbage": ("manifest.json", lambda f: (f / "manifest.json").write_bytes(b"\x00\xffnot json")),
    "manifest-empty-object": ("manifest.json", lambda f: (f / "manifest.json").write_text("{}")),
    "manifest-future-version": ("manifest.json", lambda f: (f / "manifest.json").write_text(json.dumps(
        {**json.loads((f / "manifest.json").read_text()), "format_version": 99}))),
    "manifest-bad-dimension": ("manifest.json", lambda f: (f / "manifest.json").write_text(json.dumps(
        {**json.loads((f / "manifest.json").read_text()), "dimension": "32"}))),
    "sqlite-garbage": ("items.sqlite", lambda f: (f / "items.sqlite").write_bytes(b"garbage" * 1000)),
    "sqlite-truncated": ("items.sqlite", lambda f: _cut(f / "items.sqlite", 100)),
    "sqlite-missing": ("items.sqlite", lambda f: (f / "items.sqlite").unlink()),
    "sqlite-no-meta-table": ("items.sqlite", lambda f: _sql(f, "DROP TABLE meta")),
    "sqlite-no-row-count": ("items.sqlite", lambda f: _sql(f, "DELETE FROM meta WHERE key = 'committed_rows'")),
    "sqlite-bad-row-count": ("items.sqlite", lambda f: _sql(f, "UPDATE meta SET value = 'x' WHERE key = 'generation'")),
    "sqlite-other-incarnation": ("items.sqlite", lambda f: _sql(f, "UPDATE meta SET value = 'x' WHERE key = 'incarnation'")),
    "sqlite-rows-missing": ("items.sqlite", lambda f: _sql(f, "DELETE FROM items WHERE row = 3")),
    "codes-truncated": ("codes.u64", lambda f: _cut(f / "codes.u64", 8 * 10)),
    "codes-missing": ("codes.u64", lambda f: (f / "codes.u64").unlink()),
    "vectors-truncated": ("vectors.f16", lambda f: _cut(f / "vectors.f16", 100)),
    "vectors-missing": ("vectors.f16", lambda f: (f / "vectors.f16").unlink()),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_file_is_storage_corrupt_naming_it(folder, case):
    name, damage = DAMAGE[case]
    damage(folder)
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.suffix in (".u64", ".f16")}
    with closing(Engine(folder.parent)) as engine:
        with pytest.raises(StorageCorrupt, match=name.replace(".", r"\.")):
            engine.search("ns", np.ones(DIMS), mode="rescore")
        with pytest.raises(StorageCorrupt):
            engine.upsert("ns", [{"id": "new", "vector": np.ones(DIMS)}])
        assert {p.name: p.stat().st_size for p in folder.iterdir() if p.suffix in (".u64", ".f16")} == sizes


def test_the_server_answers_a_damaged_file_with_the_documented_500(folder, live_server):
    import httpx

    DAMAGE["codes-truncated"][1](folder)
    srv = live_server(data_dir=folder.parent)
    r = httpx.post(f"{srv.url}/v1/search", json={"namespaces": "ns", "query": [1.0] * DIMS}, timeout=30)
    assert r.status_code == 500 and r.json()["error"] == "storage_corrupt" and "codes.u64" in r.json()["message"]
    assert httpx.get(f"{srv.url}/health", timeout=30).status_code == 200  # the server lives on


CUT_WHILE_OPEN = textwrap.dedent("""
    import sys, numpy as np
    from bitsift.core.errors import StorageCorrupt
    from bitsift.engine.local import Engine
    engine = Engine(sys.argv[1])
    engine.search("ns", np.ones(32), mode="rescore")  # the vectors are memory-mapped now
    with open(sys.argv[1] + "/ns/vectors.f16", "r+b") as f:
        f.truncate(64)
    for call in (lambda: engine.search("ns", np.ones(32), mode="rescore"),
                 lambda: engine.get("ns", ["i49"], include_vectors=True)):
        try:
            call()
            print("NO ERROR")
        except StorageCorrupt as exc:
            print("CORRUPT", "vectors.f16" in str(exc))
""")


def test_a_row_file_cut_under_an_open_namespace_is_an_error_not_sigbus(folder):
    done = subprocess.run([sys.executable, "-c", CUT_WHILE_OPEN, str(folder.parent)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["CORRUPT", "True", "CORRUPT", "True"]
