"""Files -> documents ``{id, text, metadata}`` for text namespaces.

A file's document id is given by the caller (``bitsift ingest``: ``<folder name>/<path in it>``,
POSIX separators, so re-ingesting a tree replaces its documents instead of duplicating them);
records of tabular and JSON files get ``<id>#row-<n>`` or ``<id>#<their own id>``. Text keeps its
line structure (the chunker keeps it too); HTML and reStructuredText lose their markup; a PDF's
document carries ``page_offsets`` (text.documents), so each chunk gets its page.
"""

from __future__ import annotations

import csv
import html.parser
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitsift.core.errors import InvalidInput

SUPPORTED = {".txt", ".md", ".rst", ".html", ".htm", ".pdf", ".csv", ".json", ".jsonl", ".docx", ".xlsx"}


@dataclass
class Found:
    """What a walk over the paths given found: each file with its document id, and every file
    (or hidden folder) left out, with why."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def find_files(paths: Sequence[Path]) -> Found:
    """Files as given (id: the file's name), and the files under folders, recursively and sorted
    (id: ``<folder name>/<path in it>``); hidden entries and unsupported types are skipped and
    listed. A path that does not exist, or a file given by name of an unsupported type, is an error."""
    found = Found()
    for path in map(Path, paths):
        if path.is_dir():
            base = path.resolve().name
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                hidden = [i for i, part in enumerate(rel.parts) if part.startswith(".")]
                if hidden:
                    if hidden[0] == len(rel.parts) - 1:  # the hidden entry itself, not what is inside it
                        found.skipped.append((str(f), "hidden" + (" folder, with its contents" if f.is_dir() else "")))
                    continue
                if not f.is_file():
                    continue
                if f.suffix.lower() not in SUPPORTED:
                    found.skipped.append((str(f), f"unsupported type {f.suffix or '(no extension)'}"))
                    continue
                found.files.append((f, f"{base}/{rel.as_posix()}" if base else rel.as_posix()))
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                raise InvalidInput(f"{path}: unsupported file type; supported: {', '.join(sorted(SUPPORTED))}")
            found.files.append((path, path.name))
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    return found


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The files :func:`find_files` finds."""
    for path, _ in find_files(paths).files:
        yield path


def _scalars(obj: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in skip and isinstance(v, (str, int, float, bool)) and v is not None}


def _record_text(obj: dict[str, Any]) -> str:
    text = obj.get("text") or ""
    title = obj.get("title") or ""
    return f"{title}. {text}" if title and not str(text).startswith(str(title)[:30]) else str(text)


def _read_pdf(path: Path) -> tuple[str, dict[str, Any]]:
    """The pages' text, separated by blank lines, and where each page starts in it."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many kinds for damaged files
        if not isinstance(exc, (PdfReadError, ValueError, KeyError, OSError, AttributeError, TypeError)):
            raise
        raise InvalidInput(f"{path}: not a readable PDF ({exc})") from None
    offsets, at = [], 0
    for page in pages:
        offsets.append(at)
        at += len(page) + 2
    return "\n\n".join(pages), {"pages": len(pages), "page_offsets": offsets}


_BLANKS = re.compile(r"\s+")


class _HTMLText(html.parser.HTMLParser):
    """The text of an HTML page: scripts, styles and markup dropped, a line break at each block."""

    BLOCKS = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
              "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr", "dd", "dt", "main", "nav"}
    HIDDEN = {"script", "style", "noscript", "template", "head"}
    ITEMS = {"li", "tr", "dd", "dt", "br"}  # a line each: the break comes before them

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag == "title":
            self._in_title = True
        if tag in self.BLOCKS:
            self.parts.append("\n\n" if tag.startswith("h") or tag == "p" else "\n")
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and not self._hidden:
            self.parts.append("#" * int(tag[1]) + " ")  # headings kept as markdown headings

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        if tag == "title":
            self._in_title = False
        if tag in self.BLOCKS and tag not in self.ITEMS:
            self.parts.append("\n\n" if tag.startswith("h") or tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(_BLANKS.sub(" ", data))  # inline tags keep the spaces around them


def _read_html(path: Path) -> tuple[str, dict[str, Any]]:
    parser = _HTMLText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    title = " ".join("".join(parser.title).split())
    return text.strip(), ({"title": title} if title else {})


def _read_rst(path: Path) -> str:
    """reStructuredText as plain text (docutils' own parser; directives that would read other
    files or raw HTML are off, and its warnings are not printed)."""
    from docutils import nodes
    from docutils.core import publish_doctree

    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False,
                "warning_stream": False}
    try:
        tree = publish_doctree(path.read_text(encoding="utf-8", errors="replace"), settings_overrides=settings)
    except Exception as exc:  # docutils raises its own kinds on broken markup
        raise InvalidInput(f"{path}: not readable reStructuredText ({exc})") from None
    for message in list(tree.findall(nodes.system_message)):  # docutils' own complaints, not the text
        message.parent.remove(message)
    return str(tree.astext())


def _read_docx(path: Path) -> str:
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # broken zip or XML inside: python-docx raises many kinds
        raise InvalidInput(f"{path}: not a readable .docx ({exc})") from None
    return "\n".join(p.text for p in document.paragraphs)


def _read_xlsx(path: Path) -> list[dict[str, Any]]:
    """Every sheet's rows as records keyed by its first row (the header), like a CSV's."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # a broken zip or XML inside: openpyxl raises many kinds
        raise InvalidInput(f"{path}: not a readable .xlsx ({exc})") from None
    out: list[dict[str, Any]] = []
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
        header = [str(h) if h is not None else f"column {i + 1}" for i, h in enumerate(next(rows, ()))]
        for values in rows:
            row = {k: v for k, v in zip(header, values) if v is not None and str(v).strip()}
            if row:
                out.append({"sheet": sheet.title, **row})
    book.close()
    return out


def _records(path: Path, ext: str) -> list[dict[str, Any]]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    try:
        if ext == ".jsonl":
            objs = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            data = json.loads(raw)
            objs = data if isinstance(data, list) else [data]
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not all(isinstance(o, dict) for o in objs):
        raise InvalidInput(f"{path}: expected JSON objects (or a list of them)")
    return objs


def read_documents(path: Path, doc_id: str | None = None) -> list[dict[str, Any]]:
    """The documents of one file (``doc_id``: its document id, default its name); empty texts
    are skipped. Unreadable files raise InvalidInput naming the file."""
    try:
        return _read(Path(path), doc_id or Path(path).name)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read(path: Path, doc_id: str) -> list[dict[str, Any]]:
    ext = path.suffix.lower()
    base = {"source": doc_id, "type": ext.lstrip(".")}
    docs: list[dict[str, Any]] = []
    if ext in (".txt", ".md"):
        docs.append({"id": doc_id, "text": path.read_text(encoding="utf-8", errors="replace"), "metadata": base})
    elif ext in (".html", ".htm"):
        text, extra = _read_html(path)
        docs.append({"id": doc_id, "text": text, "metadata": {**base, **extra}})
    elif ext == ".rst":
        docs.append({"id": doc_id, "text": _read_rst(path), "metadata": base})
    elif ext == ".pdf":
        text, extra = _read_pdf(path)
        offsets = extra.pop("page_offsets")
        docs.append({"id": doc_id, "text": text, "metadata": {**base, **extra}, "page_offsets": offsets})
    elif ext == ".docx":
        docs.append({"id": doc_id, "text": _read_docx(path), "metadata": base})
    elif ext == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            try:
                rows = list(csv.DictReader(f))
            except csv.Error as exc:
                raise InvalidInput(f"{path}: invalid CSV ({exc})") from None
        for n, row in enumerate(rows):
            row = {k: v for k, v in row.items() if k is not None}
            text = row.get("text") or "\n".join(f"{k}: {v}" for k, v in row.items() if v)
            meta = {**_scalars(row, {"text"}), **base, "row": n}
            docs.append({"id": f"{doc_id}#row-{n}", "text": text, "metadata": meta})
    elif ext == ".xlsx":
        for n, row in enumerate(_read_xlsx(path)):
            text = str(row.get("text") or "\n".join(f"{k}: {v}" for k, v in row.items() if k != "sheet"))
            meta = {**_scalars({k: str(v) if not isinstance(v, (int, float, bool)) else v for k, v in row.items()},
                               {"text"}), **base, "row": n}
            docs.append({"id": f"{doc_id}#row-{n}", "text": text, "metadata": meta})
    elif ext in (".json", ".jsonl"):
        for n, obj in enumerate(_records(path, ext)):
            own = obj.get("id", obj.get("_id"))
            scalar = isinstance(own, (str, int)) and not isinstance(own, bool) and str(own) != ""
            rec_id = f"{doc_id}#{own}" if scalar else f"{doc_id}#{n}"
            meta = {**_scalars(obj, {"id", "_id", "text", "title"}), **base}
            if isinstance(obj.get("metadata"), dict):
                meta = {**_scalars(obj["metadata"], set()), **meta}
            docs.append({"id": rec_id, "text": _record_text(obj), "metadata": meta})
    else:
        raise InvalidInput(f"{path}: unsupported file type; supported: {', '.join(sorted(SUPPORTED))}")
    return [d for d in docs if d["text"].strip()]
