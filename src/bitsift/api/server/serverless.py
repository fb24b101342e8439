"""Search replicas on Ray Serve: the REST API served by stateless replicas that scale with load
and down to zero, answers identical to one machine (README "Deployment on Ray").

Two deployments make one Serve application:

- ``SearchReplica`` (MIN..MAX replicas, Serve's autoscaling on ongoing requests): the REST app of
  ``create_app`` over a :class:`~bitsift.distributed.replica.ReplicaEngine`. It opens every
  namespace folder read-only before Serve routes it a request (its constructor is its readiness),
  answers searches itself (the same pipeline and coalescing as one machine) and sends every other
  call to the writer. It checks API keys like ``bitsift serve`` (the app's own gate).
- ``Writer`` (one replica, no CPU reserved, never scaled): the data directory's one writer, an
  ``Engine`` or a ``ShardedEngine`` (whose shard actors write). It does not scale to zero.

Storage: the data directory is read where it is (no copy to local disk), and the writer and the
replicas run on the node that deploys (its disk holds the directory): replicas take no lock and
write nothing, but SQLite's WAL index is shared memory, coherent only between processes on one host.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from ray import serve
from ray.exceptions import RayTaskError

from bitsift.api.server import telemetry
from bitsift.api.server.app import SNAPSHOT_DIR_ENV, SWITCH_INTERVAL_S, create_app
from bitsift.core.errors import BitsiftError, InvalidInput
from bitsift.core.kernel import SCAN_THREADS_ENV
from bitsift.distributed.replica import ReplicaEngine
from bitsift.engine.ingestion import RETENTION_ENV
from bitsift.engine.llm import LLM_KEY_ENV, LLM_MODEL_ENV, LLM_MODELS_ENV, LLM_URL_ENV
from bitsift.text.embed import THREADS_ENV

# Serve's HAProxy ingress: HTTP goes from HAProxy (C) straight to the replicas' own HTTP servers,
# not through Serve's Python proxy actor (100k, 64 connections, 1 replica: 686 QPS against 274).
# It is read by the cluster's processes, so it must be set where the cluster starts: deploy() sets
# it for a cluster it starts itself; an operator's `ray start` needs RAY_SERVE_ENABLE_HA_PROXY=1.
HAPROXY_ENV = "RAY_SERVE_ENABLE_HA_PROXY"
log = logging.getLogger("ray.serve")  # Serve's logger: lines land in the replica's log file
APP_NAME = "bitsift"
REPLICA_HEADER = "x-bitsift-replica"  # which replica answered (host/pid): for operators and the tests
# Passed on to every replica and the writer (Ray workers do not inherit the driver's environment).
PASSED_ENV = (LLM_URL_ENV, LLM_MODEL_ENV, LLM_MODELS_ENV, LLM_KEY_ENV, SNAPSHOT_DIR_ENV, telemetry.CORS_ORIGINS_ENV,
              telemetry.METRICS_KEY_ENV, telemetry.LOG_FORMAT_ENV, RETENTION_ENV)


@dataclass(frozen=True)
class Scaling:
    """How the replica count follows load (Ray Serve's autoscaling on ongoing requests).

    ``target_ongoing``: searches in flight per replica that the autoscaler aims for (a replica
    coalesces concurrent searches into one kernel pass, so it wants several). The delays are
    Serve's: how long load must stay above or below target before a replica is added or removed,
    and how long a deployment idles at one replica before going to zero."""

    min_replicas: int = 0
    max_replicas: int = 4
    target_ongoing: float = 16.0
    upscale_delay_s: float = 5.0
    downscale_delay_s: float = 60.0
    downscale_to_zero_delay_s: float | None = None  # default: downscale_delay_s
    metrics_interval_s: float = 2.0
    look_back_s: float = 10.0
    replica_cpus: float = 1.0  # CPUs Ray reserves per replica (fractional is fine)
    max_ongoing: int = 256  # requests one replica takes at once (the rest wait in Serve's queue)

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise InvalidInput(f"replicas must be MIN:MAX with 0 <= MIN <= MAX and MAX >= 1, got "
                               f"{self.min_replicas}:{self.max_replicas}")
        if self.replica_cpus < 0 or self.target_ongoing <= 0:
            raise InvalidInput("replica_cpus must be >= 0 and target_ongoing > 0")

    def autoscaling_config(self) -> dict[str, Any]:
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing, "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
                "downscale_to_zero_delay_s": self.downscale_to_zero_delay_s,
                "metrics_interval_s": self.metrics_interval_s, "look_back_period_s": self.look_back_s}


def parse_replicas(text: str) -> tuple[int, int]:
    """``"MIN:MAX"`` (or one number for a fixed count) as two ints."""
    lo, sep, hi = text.partition(":")
    try:
        pair = (int(lo), int(hi if sep else lo))
    except ValueError:
        raise InvalidInput(f"--replicas takes MIN:MAX (e.g. 0:4), got {text!r}") from None
    Scaling(*pair)  # the same checks as every other way in
    return pair


@dataclass(frozen=True)
class Settings:
    """What every replica needs to build its app: plain data, so Serve can ship it."""

    path: str
    api_keys: tuple[str, ...] = ()
    public_url: str | None = None
    # Set in the replica's process before it builds anything. Not a Ray runtime_env: an actor with
    # its own runtime_env needs a freshly started worker process, one without may take a
    # prestarted one (~0.x s off every cold start).
    env: dict[str, str] = field(default_factory=dict)


class RemoteWriter:
    """The writer deployment as an engine: ``writer.upsert(...)`` is one call on the Writer
    replica, its typed errors raised here as themselves (so the app answers with their status)."""

    def __init__(self, handle: Any, prefix: str = "") -> None:
        self._handle, self._prefix = handle, prefix

    @property
    def ingestion(self) -> RemoteWriter:
        return RemoteWriter(self._handle, self._prefix + "ingestion.")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                got = self._handle.call.remote(self._prefix + name, args, kwargs).result()
            except RayTaskError as err:  # a bug, not a typed error: re-raised as what it was
                cause = getattr(err, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            if isinstance(got, _Refused):
                raise got.error
            return got
        return call


@dataclass(frozen=True)
class _Refused:
    """A typed error of the writer (a 404, a 409...), returned as a value: it is an answer, not a
    failure of the replica, so Serve should not log it as one."""

    error: BitsiftError


@serve.deployment(name="Writer", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256,
                  health_check_period_s=5)
class Writer:
    """The data directory's one writer (an Engine, or a ShardedEngine coordinating shard actors)."""

    def __init__(self, path: str, sharded: bool) -> None:
        if sharded:
            from bitsift.distributed import ShardedEngine

            self.engine: Any = ShardedEngine(path, address="auto")  # inside Ray: joins this cluster
        else:
            from bitsift.engine.local import Engine

            self.engine = Engine(path)
        self.engine.list_namespaces()  # open every namespace (and recover any crash) before serving

    def call(self, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        target = self.engine
        for part in method.split("."):
            if part.startswith("__"):
                raise InvalidInput(f"not an engine method: {method!r}")
            target = getattr(target, part)
        try:
            return target(*args, **kwargs)
        except BitsiftError as exc:
            return _Refused(exc)

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()


@serve.deployment(name="SearchReplica", health_check_period_s=5)
@serve.ingress()
class SearchReplica:
    """One search replica: ready (routed requests) only once every namespace is open."""

    def __init__(self, settings: dict[str, Any], writer: Any) -> None:
        self.settings = Settings(**settings)
        os.environ.update(self.settings.env)
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # as bitsift serve: a finished pass gets the GIL back sooner
        started = time.monotonic()
        self.engine = ReplicaEngine(self.settings.path, RemoteWriter(writer))
        self.opened = self.engine.open_all()
        log.info("search replica ready: %d namespaces opened in %.2f s", len(self.opened), time.monotonic() - started)
        self.tag = f"{socket.gethostname()}/{os.getpid()}".encode()

    def __serve_build_asgi_app__(self) -> Any:
        app = create_app(self.engine, api_keys=self.settings.api_keys,  # type: ignore[arg-type]
                         public_url=self.settings.public_url)
        return _tagged(app, self.tag)

    def check_health(self) -> None:
        if not Path(self.settings.path).is_dir():
            raise RuntimeError(f"data directory {self.settings.path} is not reachable from this node")

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()


def _tagged(app: Any, tag: bytes) -> Any:
    """``app`` with a header naming the replica on every HTTP response."""
    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REPLICA_HEADER.encode(), tag)]}
            await send(message)
        await app(scope, receive, send_tagged)
    return asgi


def application(path: str | Path, scaling: Scaling = Scaling(), sharded: bool = True,
                api_keys: Sequence[str] = (), public_url: str | None = None,
                writer_node: str | None = None) -> Any:
    """The Serve application (for ``serve.run``): the writer and the autoscaled search replicas.
    ``writer_node``: the IP of the node whose disk holds ``path``: the writer and every replica run
    there (SQLite's WAL index is shared memory, coherent only on one host); None lets Ray place them."""
    keys = tuple(api_keys)
    if any(not k for k in keys):
        raise InvalidInput("API keys must be non-empty strings")
    root = str(Path(path).resolve())
    Path(root).mkdir(parents=True, exist_ok=True)
    threads = str(max(1, round(scaling.replica_cpus)))  # each replica's scans and model use its share
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    settings = asdict(Settings(root, keys, public_url, {**env, SCAN_THREADS_ENV: threads, THREADS_ENV: threads}))
    placement = {"resources": {f"node:{writer_node}": 0.001}} if writer_node else {}
    replica = cast(Any, SearchReplica).options(
        autoscaling_config=scaling.autoscaling_config(), max_ongoing_requests=scaling.max_ongoing,
        ray_actor_options={"num_cpus": scaling.replica_cpus, **placement})
    writer = cast(Any, Writer).options(ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": env},
                                                          **placement})
    return replica.bind(settings, writer.bind(root, sharded))


def deploy(path: str | Path, scaling: Scaling = Scaling(), sharded: bool = True, api_keys: Sequence[str] = (),
           host: str = "127.0.0.1", port: int = 8000, public_url: str | None = None, address: str = "auto",
           name: str = APP_NAME) -> str:
    """Run the application on the Ray cluster at ``address`` and return its URL. Serve's HTTP
    proxy listens on ``host:port``; the call returns once the writer is up (and MIN replicas).
    The writer and the replicas run on this node (where the data directory's disk is), if this
    node is in the cluster (not so for a ``ray://`` client: then Ray places them)."""
    import ray

    from bitsift.distributed import cluster

    os.environ.setdefault(HAPROXY_ENV, "1")  # a cluster this call starts gets the C ingress (see HAPROXY_ENV)
    cluster.connect(address)
    here = ray.util.get_node_ip_address()
    writer_node = here if here in cluster.node_ips() else None
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(path, scaling, sharded, api_keys, public_url, writer_node), name=name, route_prefix="/",
              blocking=False)
    return f"http://{host}:{port}"


def serve_until_stopped(path: str | Path, scaling: Scaling, sharded: bool, api_keys: Sequence[str], host: str,
                        port: int, public_url: str | None, address: str) -> None:
    """``bitsift serve --ray ADDRESS --replicas MIN:MAX``: deploy, then hold until SIGINT or
    SIGTERM, then remove the application (in-flight requests finish; the writer closes its engine)."""
    url = deploy(path, scaling, sharded, api_keys, host, port, public_url, address)
    print(f"bitsift on Ray Serve at {url}: {scaling.min_replicas}..{scaling.max_replicas} search replicas "
          f"({scaling.replica_cpus:g} CPU each), one writer; Ctrl-C to stop", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        undeploy()


def undeploy(name: str = APP_NAME) -> None:
    """Remove the application (its replicas and its writer, which closes the engine)."""
    serve.delete(name)


def replica_count(name: str = APP_NAME, running_only: bool = True) -> int:
    """Search replicas now (Serve's view): those serving (RUNNING), or with ``running_only=False``
    every replica process still there (starting, stopping, ...): zero means scaled to zero."""
    status = serve.status().applications.get(name)
    if status is None:
        return 0
    dep = status.deployments.get("SearchReplica")
    # ReplicaState is a str enum: its values equal the strings (its module is Serve's private one)
    counted = (lambda state: state == "RUNNING") if running_only else (lambda state: state != "STOPPED")
    return 0 if dep is None else sum(n for state, n in dep.replica_states.items() if counted(state))
