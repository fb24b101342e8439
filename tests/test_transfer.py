"""Export -> import round-trips ids, vectors (to float16 precision), text and metadata exactly,
in bounded pages, from the CLI and over HTTP."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

import bitsift
from bitsift.api import transfer
from bitsift.api.http_client import HTTPClient
from bitsift.cli.main import main
from bitsift.core.errors import InvalidInput

DIMS = 24


def items(n: int) -> list[dict]:
    x = np.random.default_rng(4).standard_normal((n, DIMS)).astype(np.float32)
    return [{"id": f"it-{i:04d}", "vector": x[i], **({"text": f"ünïcode text {i}\nsecond line"} if i % 3 else {}),
             "metadata": {"n": i, "tags": ["a", "b"][: i % 3], "nested": {"x": i / 7}, "none": None} if i % 4 else {}}
            for i in range(n)]


def stored(client, name: str) -> dict[str, dict]:
    ids = [f"it-{i:04d}" for i in range(1300)]
    return {g["id"]: g for g in client.get(name, ids, include_vectors=True)}


def test_export_then_import_round_trips_everything(tmp_path):
    with bitsift.Client(path=tmp_path / "data") as c:
        c.create_namespace("src", dimension=DIMS, binarizer="centered")
        c.upload_vectors("src", items(1300))  # more than two pages
        c.delete("src", ["it-0005"])
        out = io.StringIO()
        seen: list[int] = []
        assert transfer.export_namespace(c, "src", out, seen.append) == 1299
        assert max(seen) <= transfer.PAGE and sum(seen) == 1299  # page by page
        lines = out.getvalue().splitlines()
        header = json.loads(lines[0])
        assert header["items"] == 1299 and header["dimension"] == DIMS and header["binarizer"] == "centered"
        assert transfer.import_namespace(c, io.StringIO(out.getvalue()), "copy", binarizer="sign") == 1299
        before, after = stored(c, "src"), stored(c, "copy")
        assert after == before  # ids, float16 vectors, texts and metadata, exactly
        assert c.describe_namespace("copy")["binarizer"] == "sign"
        original = {it["id"]: it for it in items(1300)}
        assert np.array_equal(np.float16(after["it-0007"]["vector"]), original["it-0007"]["vector"].astype(np.float16))
        q = original["it-0042"]["vector"]
        assert c.search("copy", q, top_k=1)["results"][0]["id"] == "it-0042"


def test_cli_export_import_and_bad_files(tmp_path, live_server):
    server = live_server(data_dir=tmp_path / "served")
    with HTTPClient(server.url) as remote:
        remote.create_namespace("web", dimension=DIMS)
        remote.upload_vectors("web", items(40))
    export = tmp_path / "web.jsonl"
    done = CliRunner().invoke(main, ["--url", server.url, "export", "web", str(export)])
    assert done.exit_code == 0, done.output
    assert len(export.read_text().splitlines()) == 41
    data = str(tmp_path / "local")
    imported = CliRunner().invoke(main, ["--path", data, "import", str(export), "here"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout.splitlines()[-1]) == {"namespace_name": "here", "imported": 40}
    with bitsift.Client(path=data) as c, HTTPClient(server.url) as remote:
        assert stored(c, "here") == stored(remote, "web")
        (tmp_path / "bad.jsonl").write_text('{"not": "a header"}\n')
        with pytest.raises(InvalidInput, match="not a bitsift export"):
            transfer.import_namespace(c, (tmp_path / "bad.jsonl").open(), "nope")
        broken = export.read_text().splitlines()
        broken[3] = "{broken"
        with pytest.raises(InvalidInput, match="line 4"):
            transfer.import_namespace(c, iter(line + "\n" for line in broken), "half")
