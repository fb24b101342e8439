"""The REST server (FastAPI + uvicorn): ``create_app(engine)`` for embedding, ``serve(path)`` to run."""

from bitsift.api.server.app import create_app, serve

__all__ = ["create_app", "serve"]
