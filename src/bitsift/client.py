"""``bitsift.Client``: the one front door to an engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bitsift.engine import Engine


class Client:
    """In-process client over a data directory: ``Client(path="./data")``.

    Every write is durable and searchable when the call returns.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            raise TypeError("Client needs path= (a data directory)")
        self._engine = Engine(path)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.close()

    def create_namespace(
        self, name: str, type: str = "vector", dimension: int | None = None, binarizer: str = "mib",
        center: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Create a namespace; ``binarizer`` is one of mib (default), sign, centered."""
        return self._engine.create_namespace(name, type=type, dimension=dimension, binarizer=binarizer, center=center)

    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._engine.list_namespaces()

    def describe_namespace(self, name: str) -> dict[str, Any]:
        return self._engine.namespace(name).describe()

    def delete_namespace(self, name: str) -> dict[str, Any]:
        self._engine.delete_namespace(name)
        return {"namespace_name": name, "deleted": True}

    def upload_vectors(self, name: str, vectors: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Upsert ``[{id, vector, text?, metadata?}]``; a rejected batch writes nothing."""
        n = self._engine.upsert(name, vectors)
        return {"status": "success", "uploaded": n}

    def get(self, name: str, ids: Sequence[Any], include_vectors: bool = False) -> list[dict[str, Any]]:
        return self._engine.get(name, ids, include_vectors)

    def delete(self, name: str, ids: Sequence[Any]) -> dict[str, Any]:
        deleted = self._engine.delete(name, ids)
        return {"status": "success", "deleted": deleted}

    def search(
        self,
        namespaces: Sequence[str] | str,
        query: Sequence[float],
        top_k: int = 10,
        threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        kiosk_mode: bool = False,
    ) -> dict[str, Any]:
        """``{results: [{id, score, label, text, metadata, namespace}], execution_time, timings}``."""
        return self._engine.search(namespaces, query, top_k=top_k, threshold=threshold, filter=filter, kiosk_mode=kiosk_mode)

    def compact(self, name: str) -> dict[str, int]:
        """Rewrite a namespace's files without deleted rows."""
        return self._engine.compact(name)

    def diagnostics(self, name: str) -> dict[str, Any]:
        return self._engine.namespace(name).diagnostics()
