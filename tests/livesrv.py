"""Real servers for tests: uvicorn on 127.0.0.1, an ephemeral port, a background thread.

``live_server(data_dir, **create_app_kwargs)`` serves a fresh engine over ``data_dir``;
``live_app(app)`` serves any ASGI app (for fakes such as a flaky endpoint). Both wait for the
socket to listen and stop everything they started at teardown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bitsift.api.server import create_app
from bitsift.engine.local import Engine

STARTUP_TIMEOUT_S = 10.0


@dataclass
class Live:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    engine: Engine | None = None
    app: Any = None
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.should_exit = True
        self.thread.join(timeout=STARTUP_TIMEOUT_S)
        if self.engine is not None:
            self.engine.close()


def start_app(app: Any) -> Live:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Live(url=f"http://127.0.0.1:{port}", server=server, thread=thread, app=app)


def wait_healthy(url: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/health did not answer within {timeout} s")
        time.sleep(0.05)


def start_server(data_dir: Path, **app_kwargs: Any) -> Live:
    engine = Engine(data_dir)
    try:
        live = start_app(create_app(engine, **app_kwargs))
    except BaseException:
        engine.close()
        raise
    live.engine = engine
    wait_healthy(live.url)
    return live


class _Started:
    """Servers started by one fixture; all stopped together at its teardown."""

    def __init__(self, root: Path) -> None:
        self.root, self.live = root, []

    def server(self, data_dir: Path | None = None, **app_kwargs: Any) -> Live:
        live = start_server(data_dir or self.root / f"server-data-{len(self.live)}", **app_kwargs)
        self.live.append(live)
        return live

    def app(self, app: Any) -> Live:
        live = start_app(app)
        self.live.append(live)
        return live

    def stop(self) -> None:
        for live in self.live:
            live.stop()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """Factory: ``live_server(**create_app_kwargs)`` serves a new data dir under tmp_path
    (or ``data_dir=``); every server started is stopped at teardown."""
    started = _Started(tmp_path)
    yield started.server
    started.stop()


@pytest.fixture(scope="module")
def module_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Live]]:
    """``live_server`` shared by a module's tests (a server starts in ~0.3 s; a module has dozens)."""
    started = _Started(tmp_path_factory.mktemp("live"))
    yield started.server
    started.stop()


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Callable[[Any], Live]]:
    """Factory: serve any ASGI app for the test; stopped at teardown."""
    started = _Started(tmp_path)
    yield started.app
    started.stop()
