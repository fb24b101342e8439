"""Files -> documents ``{id, text, metadata}`` for text namespaces.

Ids derive from the file path (relative to the folder being ingested, POSIX
separators), so re-ingesting a tree replaces its documents instead of duplicating
them. Records of tabular and JSON files get ``<path>#row-<n>`` or ``<path>#<id>``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bitsift.core.errors import InvalidInput

SUPPORTED = {".txt", ".md", ".pdf", ".csv", ".json", ".jsonl", ".docx", ".xlsx"}


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Files as given, and supported files under folders (recursive, sorted, no hidden ones)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).parts
                if f.is_file() and f.suffix.lower() in SUPPORTED and not any(p.startswith(".") for p in rel):
                    yield f
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                raise InvalidInput(f"{path}: unsupported file type; supported: {', '.join(sorted(SUPPORTED))}")
            yield path
        else:
            raise InvalidInput(f"{path}: no such file or folder")


def _doc_id(path: Path, root: Path | None) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() if root else path.as_posix()
    except ValueError:
        return path.as_posix()


def _scalars(obj: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in skip and isinstance(v, (str, int, float, bool)) and v is not None}


def _record_text(obj: dict[str, Any]) -> str:
    text = obj.get("text") or ""
    title = obj.get("title") or ""
    return f"{title}. {text}" if title and not str(text).startswith(str(title)[:30]) else str(text)


def _read_pdf(path: Path) -> tuple[str, dict[str, Any]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many kinds for damaged files
        if not isinstance(exc, (PdfReadError, ValueError, KeyError, OSError, AttributeError, TypeError)):
            raise
        raise InvalidInput(f"{path}: not a readable PDF ({exc})") from None
    return "\n\n".join(pages), {"pages": len(pages)}


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


def read_documents(path: Path, root: Path | None = None) -> list[dict[str, Any]]:
    """The documents of one file; empty texts are skipped. Unreadable files raise InvalidInput."""
    try:
        return _read(Path(path), root)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read(path: Path, root: Path | None) -> list[dict[str, Any]]:
    ext = path.suffix.lower()
    doc_id = _doc_id(path, root)
    base = {"source": doc_id, "type": ext.lstrip(".")}
    docs: list[dict[str, Any]] = []
    if ext in (".txt", ".md"):
        docs.append({"id": doc_id, "text": path.read_text(encoding="utf-8", errors="replace"), "metadata": base})
    elif ext == ".pdf":
        text, extra = _read_pdf(path)
        docs.append({"id": doc_id, "text": text, "metadata": {**base, **extra}})
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
