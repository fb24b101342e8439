"""Every supported file type, written for real by the test, read back into documents."""

from __future__ import annotations

import pytest

from bitsift.core.errors import InvalidInput
from bitsift.text.parsers import iter_files, read_documents
from filekinds import write_all


def test_iter_files_walks_folders_and_skips_hidden_and_unsupported(tmp_path):
    files = write_all(tmp_path / "docs")
    found = list(iter_files([tmp_path / "docs"]))
    assert sorted(found) == sorted(files.values())
    with pytest.raises(InvalidInput, match="unsupported"):
        list(iter_files([tmp_path / "docs" / "image.png"]))
    with pytest.raises(InvalidInput, match="no such"):
        list(iter_files([tmp_path / "nope"]))


def test_each_type_reads(tmp_path):
    root = tmp_path / "docs"
    files = write_all(root)
    read = {kind: read_documents(path) for kind, path in files.items()}
    assert read["txt"] == [{"id": "wings.txt", "text": files["txt"].read_text(),
                            "metadata": {"source": "wings.txt", "type": "txt"}}]
    assert "normal shock" in read["md"][0]["text"]
    pdf = read["pdf"][0]
    assert "composite slabs" in pdf["text"] and "Laplace" in pdf["text"] and pdf["metadata"]["pages"] == 2
    assert read["docx"][0]["text"] == "Onion soup starts with slowly caramelised onions.\nAdd stock and simmer for forty minutes."
    rows = read["csv"]
    assert [r["id"] for r in rows] == ["matches.csv#row-0", "matches.csv#row-1"]
    assert rows[0]["text"] == "The striker scored twice in the second half." and rows[0]["metadata"]["team"] == "Rovers"
    assert rows[1]["text"] == "team: City\ngoals: 0"  # no text column value: the cells become the text
    planets = read["json"]
    assert [p["id"] for p in planets] == ["planets.json#mars", "planets.json#1"]
    assert planets[0]["text"] == "Mars. The red planet has two moons." and planets[0]["metadata"]["moons"] == 2
    birds = read["jsonl"]
    assert [b["id"] for b in birds] == ["birds.jsonl#owl", "birds.jsonl#tern"]
    assert birds[0]["metadata"]["order"] == "Strigiformes"


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", "{not json", "invalid JSON"),
    ("bad.jsonl", '{"text": "ok"}\n[1, 2]\n', "JSON objects"),
    ("bad.pdf", "%PDF-1.4 garbage", "PDF"),
    ("bad.docx", "not a zip", "docx"),
])
def test_malformed_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message) as exc:
        read_documents(path)
    assert name in exc.value.message


def test_empty_documents_are_skipped(tmp_path):
    (tmp_path / "empty.txt").write_text("   \n")
    assert read_documents(tmp_path / "empty.txt") == []


def test_unreadable_paths_and_odd_json_ids(tmp_path):
    (tmp_path / "x.txt").mkdir()
    with pytest.raises(InvalidInput, match="cannot read"):
        read_documents(tmp_path / "x.txt")
    (tmp_path / "odd.json").write_text('[{"id": {"x": 1}, "text": "a"}, {"id": true, "text": "b"}]')
    assert [d["id"] for d in read_documents(tmp_path / "odd.json")] == ["odd.json#0", "odd.json#1"]
