"""``bitsift.Client``: one front door, in process or over HTTP, with the same methods and results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bitsift.api.protocol import ClientAPI
from bitsift.core.cursor import DEFAULT_SCROLL_LIMIT
from bitsift.core.results import (
    CompactResult,
    DeletedNamespace,
    DeleteResult,
    Diagnostics,
    DocumentsUploaded,
    Item,
    JobStatus,
    NamespaceInfo,
    ScrollPage,
    SearchResponse,
    SnapshotInfo,
    UpdateResult,
    UploadResult,
    delete_result,
    namespace_created,
    update_result,
    upload_result,
)
from bitsift.core.validate import check_ids
from bitsift.engine.front import ParsedFront
from bitsift.engine.llm import ChatCompletions
from bitsift.engine.local import Engine
from bitsift.engine.request import NamespaceRequest, SearchRequest


class Client(ClientAPI):
    """``Client(path="./data")`` opens a data directory in this process;
    ``Client(url="http://host:8080", api_key=...)`` talks to ``bitsift serve``;
    ``Client(ray="auto", path="./data")`` shards namespaces over a Ray cluster
    (``pip install 'bitsift[ray]'``; see bitsift.distributed).

    All return the same results and raise the same typed errors (tests prove it); the
    methods are declared, with their documentation, in :class:`bitsift.api.protocol.ClientAPI`.
    """

    def __new__(cls, path: str | Path | None = None, url: str | None = None, **kwargs: Any) -> Any:
        if cls is not Client:
            return super().__new__(cls)
        if (path is None) == (url is None):
            raise TypeError("Client needs exactly one of path= (a data directory) or url= (a bitsift server)")
        if url is not None and kwargs.get("ray") is not None:
            raise TypeError("ray= shards a data directory: give it with path=, or point url= at `bitsift serve --ray`")
        if url is not None:
            return HTTPClient(url, **kwargs)  # registered as a virtual subclass below
        return super().__new__(LocalClient)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalClient(ParsedFront, Client):
    """The in-process client over an :class:`~bitsift.engine.local.Engine` (or, with ``ray``,
    a :class:`~bitsift.distributed.ShardedEngine`)."""

    def __init__(self, path: str | Path | None = None, url: None = None, ray: str | None = None,
                 **engine_options: Any) -> None:
        if path is None:
            raise TypeError("LocalClient needs path= (a data directory)")
        if ray is None:
            self._engine: Any = Engine(path, **engine_options)
        else:
            from bitsift.distributed import ShardedEngine

            self._engine = ShardedEngine(path, address=ray, **engine_options)

    def close(self) -> None:
        self._engine.close()

    def _llm(self) -> ChatCompletions | None:
        return self._engine._llm()

    def _create_parsed(self, request: NamespaceRequest) -> NamespaceInfo:
        return self._engine._create_parsed(request)

    def _announce(self, info: NamespaceInfo, existed: bool) -> NamespaceInfo:
        return namespace_created(info, existed)

    def _search_parsed(self, request: SearchRequest) -> list[SearchResponse]:
        return self._engine._search_parsed(request)

    def list_namespaces(self) -> list[NamespaceInfo]:
        return self._engine.list_namespaces()

    def describe_namespace(self, name: str) -> NamespaceInfo:
        return self._engine.describe_namespace(name)

    def delete_namespace(self, name: str) -> DeletedNamespace:
        self._engine.delete_namespace(name)
        return {"namespace_name": name, "deleted": True}

    def upload_vectors(self, name: str, vectors: Sequence[Mapping[str, Any]]) -> UploadResult:
        self._engine.upsert(name, vectors)
        return upload_result(vectors)

    def upload_documents(self, name: str, documents: Sequence[Mapping[str, Any]],
                         wait: bool = True) -> DocumentsUploaded:
        return self._engine.upload_documents(name, documents, wait)

    def job(self, job_id: str) -> JobStatus:
        return self._engine.job(job_id)

    def jobs(self, namespace: str | None = None, limit: int = 100) -> list[JobStatus]:
        return self._engine.jobs(namespace, limit)

    def cancel_job(self, job_id: str) -> JobStatus:
        return self._engine.cancel_job(job_id)

    def get(self, name: str, ids: Sequence[str | int], include_vectors: bool = False) -> list[Item]:
        return self._engine.get(name, ids, include_vectors)

    def update(self, name: str, ids: Sequence[str | int], metadata: dict[str, Any] | None = None,
               text: str | None = None, unset: Sequence[str] | None = None) -> UpdateResult:
        updated = self._engine.update(name, ids, metadata, text, unset)
        return update_result(check_ids(ids), updated)

    def count(self, name: str, filter: dict[str, Any] | None = None) -> int:
        return self._engine.count(name, filter)

    def delete(self, name: str, ids: Sequence[str | int] | None = None,
               filter: dict[str, Any] | None = None) -> DeleteResult:
        deleted = self._engine.delete(name, ids, filter)
        return delete_result(deleted if ids is None else check_ids(ids), deleted)

    def scroll(self, name: str, limit: int = DEFAULT_SCROLL_LIMIT, cursor: str | None = None,
               filter: dict[str, Any] | None = None) -> ScrollPage:
        return self._engine.scroll(name, limit, cursor, filter)

    def compact(self, name: str) -> CompactResult:
        return self._engine.compact(name)

    def snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return self._engine.snapshot(name, snapshot)

    def restore(self, snapshot: str, name: str) -> NamespaceInfo:
        return self._engine.restore(snapshot, name)

    def diagnostics(self, name: str) -> Diagnostics:
        return self._engine.diagnostics(name)


from bitsift.api.http_client import HTTPClient  # noqa: E402  (after Client: no import cycle either way)

Client.register(HTTPClient)  # Client(url=...) returns one; isinstance(..., Client) holds
