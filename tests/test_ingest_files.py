"""`bitsift ingest` never surprises: ids carry the folder's name, a clash of ids from two files is
an error unless --replace, unreadable files stop the run (or are listed with --skip-errors),
every skipped file is named, and .rst/.html, markdown structure and PDF pages come through."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import bitsift
from bitsift.cli.main import SKIPPED_ERRORS_EXIT, main
from bitsift.text.ingest import Conflict, ingest_paths
from bitsift.text.parsers import find_files, read_documents
from counting_embedder import NAME, register
from filekinds import write_all


@pytest.fixture
def client(tmp_path):
    register()  # a fast deterministic embedder: these tests are about files, not the model
    with bitsift.Client(path=tmp_path / "data", chunk_size=200, chunk_overlap=0) as c:
        c.create_namespace("kb", type="text", model=NAME)
        yield c


def readme(folder, text):
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(text)
    return folder


def test_ids_carry_the_folder_and_the_same_id_from_another_file_is_refused(tmp_path, client):
    a = readme(tmp_path / "a" / "docs", "# Alpha\n\nAlpha's readme.")
    b = readme(tmp_path / "b" / "docs", "# Beta\n\nBeta's readme.")
    with pytest.raises(Conflict, match="both become document 'docs/README.md'"):
        ingest_paths(client, "kb", [a, b])  # one run: refused before anything is written
    assert client.count("kb") == 0
    assert ingest_paths(client, "kb", [a])["documents"] == 1
    assert ingest_paths(client, "kb", [a])["documents"] == 1  # the same folder again: an update
    with pytest.raises(Conflict, match="from .*a/docs/README.md"):
        ingest_paths(client, "kb", [b])
    (got,) = client.get("kb", ["docs/README.md"])
    assert "Alpha" in got["text"] and got["metadata"]["source_path"] == str((a / "README.md").resolve())
    ingest_paths(client, "kb", [b], replace=True)
    (got,) = client.get("kb", ["docs/README.md"])
    assert "Beta" in got["text"] and got["metadata"]["source_path"] == str((b / "README.md").resolve())
    other = readme(tmp_path / "c" / "guide", "Guide.")
    ingest_paths(client, "kb", [other, other / "README.md"], replace=True)  # a file alone keeps its name
    assert {i["id"] for i in client.scroll("kb")["items"]} == {"docs/README.md", "guide/README.md", "README.md"}


def test_a_broken_pdf_stops_the_run_unless_skip_errors(tmp_path, client):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "a-good.txt").write_text("A readable note about wings.")
    (folder / "b-broken.pdf").write_text("%PDF-1.4 this is not a PDF")
    (folder / "c-late.txt").write_text("Read only when errors are skipped.")
    data = str(tmp_path / "data")
    client.close()
    stopped = CliRunner().invoke(main, ["--path", data, "ingest", "kb", str(folder)])
    assert stopped.exit_code == 1 and "b-broken.pdf" in stopped.output and "--skip-errors" in stopped.output
    with bitsift.Client(path=data) as c:
        assert {i["id"] for i in c.scroll("kb")["items"]} == {"papers/a-good.txt"}  # before it: in
    went_on = CliRunner().invoke(main, ["--path", data, "ingest", "kb", str(folder), "--skip-errors"])
    assert went_on.exit_code == SKIPPED_ERRORS_EXIT, went_on.output
    summary = json.loads(went_on.stdout)
    assert [e["path"] for e in summary["errors"]] == [str(folder / "b-broken.pdf")] and summary["files"] == 2
    assert "could not read" in went_on.stderr or "unreadable" in went_on.stderr
    with bitsift.Client(path=data) as c:
        assert {i["id"] for i in c.scroll("kb")["items"]} == {"papers/a-good.txt", "papers/c-late.txt"}


def test_every_skipped_file_is_listed_with_its_reason(tmp_path, client):
    write_all(tmp_path / "docs")
    (tmp_path / "docs" / ".git").mkdir()
    (tmp_path / "docs" / ".git" / "config").write_text("x")
    summary = ingest_paths(client, "kb", [tmp_path / "docs"])
    skipped = {s["path"].split("/")[-1]: s["reason"] for s in summary["skipped"]}
    assert skipped == {".git": "hidden folder, with its contents", ".hidden.txt": "hidden",
                       "image.png": "unsupported type .png"}
    assert summary["files"] == 7


def test_rst_and_html_lose_their_markup_and_markdown_keeps_its_structure(tmp_path, client):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "page.html").write_text(
        "<html><head><title>Wing  stall</title><style>p {color: red}</style></head><body>"
        "<h1>Stall</h1><p>The <b>flow</b> separates&nbsp;at high angles.</p><script>alert('x')</script>"
        "<ul><li>first</li><li>second</li></ul></body></html>")
    (folder / "guide.rst").write_text("Shock waves\n===========\n\nA *normal* shock forms ahead of a ``blunt`` body.\n\n"
                                      ".. note::\n\n   Supersonic only.\n\n.. raw:: html\n\n   <b>raw</b>\n")
    (folder / "notes.md").write_text("# Heading\n\nIntro line.\n\n- item one\n- item two\n  - nested item\n")
    ingest_paths(client, "kb", [folder])
    html, = client.get("kb", ["site/page.html"])
    assert html["text"] == "# Stall\n\nThe flow separates at high angles.\n\nfirst\nsecond"
    assert html["metadata"]["title"] == "Wing stall" and "alert" not in html["text"]
    rst, = client.get("kb", ["site/guide.rst"])
    assert "A normal shock forms ahead of a blunt body." in rst["text"] and "Supersonic only." in rst["text"]
    assert "*" not in rst["text"] and "``" not in rst["text"] and "<b>" not in rst["text"] and "===" not in rst["text"]
    md, = client.get("kb", ["site/notes.md"])
    assert md["text"] == "# Heading\n\nIntro line.\n\n- item one\n- item two\n  - nested item"


def test_pdf_chunks_carry_their_page(tmp_path, client):
    from fpdf import FPDF

    pdf = FPDF()
    for page in range(3):
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        for line in range(4):
            pdf.cell(0, 8, f"Page {page + 1} sentence {line} about heat in composite slabs.", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(tmp_path / "heat.pdf"))
    (doc,) = read_documents(tmp_path / "heat.pdf")
    assert doc["page_offsets"][0] == 0 and len(doc["page_offsets"]) == 3
    ingest_paths(client, "kb", [tmp_path / "heat.pdf"])
    chunks = client.get("kb", ["heat.pdf"])  # the document's chunks (chunk size 200 here)
    assert len(chunks) >= 3 and all("page_offsets" not in c["metadata"] for c in chunks)
    for c in chunks:
        assert f"Page {c['metadata']['page']} " in c["text"].split("sentence")[0]  # each starts on its page
    assert {c["metadata"]["page"] for c in chunks} == {1, 2, 3}


def test_find_files_names_each_file_by_its_folder(tmp_path, monkeypatch):
    (tmp_path / "x" / "sub").mkdir(parents=True)
    (tmp_path / "x" / "sub" / "a.md").write_text("a")
    found = find_files([tmp_path / "x", tmp_path / "x" / "sub" / "a.md"])
    assert [i for _, i in found.files] == ["x/sub/a.md", "a.md"]
    monkeypatch.chdir(tmp_path / "x")
    assert [i for _, i in find_files([tmp_path / "x" / "."]).files] == ["x/sub/a.md"]  # "." is the folder's name
