"""``bitsift.Client``: one front door, in process or over HTTP, with the same methods and results."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bitsift.engine.local import Engine


class Client(abc.ABC):
    """``Client(path="./data")`` opens a data directory in this process;
    ``Client(url="http://host:8080", api_key=...)`` talks to ``bitsift serve``;
    ``Client(ray="auto", path="./data")`` shards namespaces over a Ray cluster
    (``pip install 'bitsift[ray]'``; see bitsift.distributed).

    Both return the same results and raise the same typed errors (tests prove it).
    Every write is durable and searchable when the call returns.
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


class LocalClient(Client):
    """The in-process client over an :class:`~bitsift.engine.local.Engine`."""

    def __init__(self, path: str | Path | None = None, url: None = None, ray: str | None = None,
                 **engine_options: Any) -> None:
        if ray is None:
            self._engine: Any = Engine(path, **engine_options)  # type: ignore[arg-type]
        else:
            from bitsift.distributed import ShardedEngine

            self._engine = ShardedEngine(path, address=ray, **engine_options)  # type: ignore[arg-type]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.close()

    def create_namespace(
        self, name: str, type: str = "vector", dimension: int | None = None, binarizer: str = "mib",
        center: Sequence[float] | None = None, model: str | None = None, shards: int | None = None,
    ) -> dict[str, Any]:
        """Create a namespace: ``type`` "vector" (give ``dimension``) or "text" (embedded with
        ``model``, the default local model if None); ``binarizer`` mib (default), sign, centered.
        ``shards``: how many Ray actors split it (Ray clients only; default one per node)."""
        return self._engine.create_namespace(
            name, type=type, dimension=dimension, binarizer=binarizer, center=center, model=model, shards=shards)

    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._engine.list_namespaces()

    def describe_namespace(self, name: str) -> dict[str, Any]:
        return self._engine.describe_namespace(name)

    def delete_namespace(self, name: str) -> dict[str, Any]:
        self._engine.delete_namespace(name)
        return {"namespace_name": name, "deleted": True}

    def upload_vectors(self, name: str, vectors: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Upsert ``[{id, vector, text?, metadata?}]``; a rejected batch writes nothing."""
        n = self._engine.upsert(name, vectors)
        return {"status": "success", "uploaded": n}

    def upload_documents(self, name: str, documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Upsert ``[{id, text, **fields}]`` into a text namespace: chunked, embedded locally;
        extra fields become metadata. Returns ``{status, uploaded, chunks}``."""
        return self._engine.upload_documents(name, documents)

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self._engine.get(name, ids, include_vectors)

    def delete(self, name: str, ids: Sequence[Any]) -> dict[str, Any]:
        deleted = self._engine.delete(name, ids)
        return {"status": "success", "deleted": deleted}

    def search(
        self,
        namespaces: Sequence[str] | str,
        query: str | Sequence[float],
        top_k: int = 10,
        threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        kiosk_mode: bool = False,
        mode: str | None = None,
        oversample: int | None = None,
        partial: bool = False,
    ) -> dict[str, Any]:
        """``{results: [{id, score, label, text, metadata, namespace}], execution_time, mode, timings}``.

        ``mode``: "binary" (bit codes only) or "rescore" (float re-scoring of the
        ``top_k * oversample`` best binary candidates); None takes the engine default.
        ``partial``: on a sharded namespace, answer from the live shards when some are down
        (flagged ``partial: true`` with ``missing_shards``) instead of failing with 503.
        """
        return self._engine.search(namespaces, query, top_k=top_k, threshold=threshold, filter=filter,
                                   kiosk_mode=kiosk_mode, mode=mode, oversample=oversample, partial=partial)

    def compact(self, name: str) -> dict[str, int]:
        """Rewrite a namespace's files without deleted rows."""
        return self._engine.compact(name)

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self._engine.diagnostics(name)


from bitsift.api.http_client import HTTPClient  # noqa: E402  (after Client: no import cycle either way)

Client.register(HTTPClient)  # Client(url=...) returns one; isinstance(..., Client) holds
