"""Export and import: a namespace as JSON lines, streamed in bounded memory, over any client.

The format (``bitsift export``): a header line ``{"bitsift_export": 1, "namespace", "type",
"dimension", "binarizer", "model", "items"}``, then one ``{"id", "vector", "text", "metadata"}``
per live item in id order. Vectors are the stored float16 values written as JSON numbers (exact:
a float16 is a float). It reads pages of a scroll and the vectors of each page (``get`` with
``include_vectors``), so it works in process, over HTTP and over Ray alike, and holds one page
at a time. Import writes into a new vector namespace of any binarizer, a page per commit.
Parquet was left out: JSON lines need no dependency and stream; pyarrow would add ~100 MB.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from bitsift.api.protocol import ClientAPI
from bitsift.core.errors import InvalidInput

EXPORT_FORMAT = 1
PAGE = 500  # items per page read and per batch written

Progress = Callable[[int], None]  # called with the items done since the last call


def export_lines(client: ClientAPI, name: str, progress: Progress = lambda n: None) -> Iterator[str]:
    """The export of namespace ``name``, line by line (each ends with a newline)."""
    info = client.describe_namespace(name)
    yield json.dumps({"bitsift_export": EXPORT_FORMAT, "namespace": name, "type": info["type"],
                      "dimension": info["vector_dimension"], "binarizer": info["binarizer"], "model": info["model"],
                      "items": info["item_count"]}) + "\n"
    cursor = None
    while True:
        page = client.scroll(name, limit=PAGE, cursor=cursor)
        ids = [item["id"] for item in page["items"]]
        by_id = {item["id"]: item for item in client.get(name, ids, include_vectors=True)} if ids else {}
        for id_ in ids:
            item = by_id.get(id_)
            if item is not None:  # deleted between the two reads: left out, as a later scroll would
                yield json.dumps({"id": id_, "vector": item["vector"], "text": item["text"],
                                  "metadata": item["metadata"]}, ensure_ascii=False) + "\n"
        progress(len(ids))
        cursor = page["next_cursor"]
        if cursor is None:
            return


def export_namespace(client: ClientAPI, name: str, out: IO[str], progress: Progress = lambda n: None) -> int:
    """Write the export of ``name`` to ``out``; returns the items written."""
    count = -1
    for line in export_lines(client, name, progress):
        out.write(line)
        count += 1
    return count


def read_header(lines: Iterator[str]) -> dict[str, Any]:
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError):
        raise InvalidInput("not a bitsift export: the first line must be its JSON header") from None
    if not isinstance(header, dict) or header.get("bitsift_export") != EXPORT_FORMAT:
        raise InvalidInput(f"not a bitsift export of format {EXPORT_FORMAT}: header {str(header)[:100]}")
    return header


def import_namespace(client: ClientAPI, lines: Iterable[str], name: str, binarizer: str | None = None,
                     progress: Progress = lambda n: None) -> int:
    """A new vector namespace ``name`` (the export's binarizer unless ``binarizer``) holding the
    export's items; returns how many. A bad line is a 400 naming its line number; the pages
    before it stay written (each is a durable commit)."""
    it = iter(lines)
    header = read_header(it)
    client.create_namespace(name, type="vector", dimension=header["dimension"],
                            binarizer=binarizer or header["binarizer"])
    done, batch = 0, []
    for number, line in enumerate(it, start=2):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"line {number} of the export is not JSON ({exc}); {done} items imported") from None
        if not isinstance(item, dict) or not {"id", "vector"} <= set(item):
            raise InvalidInput(f"line {number} of the export is not an item (id, vector, text, metadata)")
        batch.append({k: v for k, v in item.items() if v is not None})
        if len(batch) == PAGE:
            done += _write(client, name, batch, progress)
            batch = []
    if batch:
        done += _write(client, name, batch, progress)
    return done


def _write(client: ClientAPI, name: str, batch: list[dict[str, Any]], progress: Progress) -> int:
    client.upload_vectors(name, batch)
    progress(len(batch))
    return len(batch)
