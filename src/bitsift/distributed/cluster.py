"""Ray plumbing: joining a cluster, starting shard actors, and turning Ray's failures into
bitsift's typed errors. The only module that imports Ray (it is an optional extra)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitsift.core.errors import BitsiftError, InvalidInput, ShardUnavailable

log = logging.getLogger("bitsift.distributed")
RAY_NAMESPACE = "bitsift"


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise InvalidInput("sharded namespaces need Ray: pip install 'bitsift[ray]'") from exc
    return ray


def connect(address: str) -> None:
    """Join the Ray cluster at ``address``: "auto" (a running cluster, else a new local one),
    "local" (always a new local one) or "ray://host:port"; a no-op if Ray is already up."""
    ray = _ray()
    if ray.is_initialized():
        return
    if address == "local":
        ray.init(namespace=RAY_NAMESPACE, log_to_driver=False)
        return
    try:
        ray.init(address=address, namespace=RAY_NAMESPACE, log_to_driver=False)
    except ConnectionError:
        if address != "auto":
            raise
        log.warning("no running Ray cluster found; starting a local one")
        ray.init(namespace=RAY_NAMESPACE, log_to_driver=False)


def node_ips() -> list[str]:
    """Addresses of the cluster's live nodes, sorted: shards are spread over them in order."""
    return sorted({n["NodeManagerAddress"] for n in _ray().nodes() if n.get("Alive")})


@dataclass
class ShardRef:
    """A shard actor, how to name it in errors ("papers/2 on 10.0.0.7"), and how to start it
    again if it is gone for good (e.g. the process that owned it exited)."""

    label: str
    actor: Any
    spawn: Callable[[], Any]

    def respawn(self) -> None:
        log.warning("shard %s is gone; starting it again", self.label)
        self.actor = self.spawn()


def start_shard(root: Path, namespace: str, index: int, folder: Path, manifest: dict[str, Any],
                node_ip: str, live_nodes: Sequence[str]) -> ShardRef:
    """The actor owning ``folder``, started if it is not running (named, so every coordinator in
    this cluster shares it). It restarts forever on failure and reopens its folder; calls are
    never retried by Ray, because the coordinator decides what is safe to retry. ``live_nodes``
    is node_ips(), asked once by the caller for all the shards it starts."""
    from bitsift.distributed.shard import Shard

    ray = _ray()
    tag = hashlib.blake2b(str(root.resolve()).encode(), digest_size=6).hexdigest()
    options: dict[str, Any] = dict(
        name=f"{tag}/{namespace}/{index}", namespace=RAY_NAMESPACE, get_if_exists=True,
        max_restarts=-1, max_task_retries=0, max_concurrency=8, num_cpus=0,
    )
    if node_ip in live_nodes:
        options["resources"] = {f"node:{node_ip}": 0.001}  # the folder lives on that node
    else:
        raise ShardUnavailable(f"shard {namespace}/{index} lives on node {node_ip}, which is not in the "
                               "Ray cluster; start a node there (its folder is on that machine)")

    def spawn() -> Any:
        return ray.remote(Shard).options(**options).remote(str(folder), manifest)

    return ShardRef(f"{namespace}/{index} on {node_ip}", spawn(), spawn)


def stop_shard(shard: ShardRef) -> None:
    ray = _ray()
    try:
        ray.get(shard.actor.close.remote(), timeout=10)
    except Exception:  # noqa: BLE001 - a dead actor has nothing to close
        pass
    ray.kill(shard.actor, no_restart=True)


def _unavailable_types() -> tuple[type[BaseException], ...]:
    exc = _ray().exceptions
    return tuple(t for t in (getattr(exc, "RayActorError", None), getattr(exc, "ActorUnavailableError", None),
                             getattr(exc, "ActorDiedError", None), getattr(exc, "GetTimeoutError", None))
                 if t is not None)


def gather(shards: Sequence[ShardRef], calls: Sequence[Callable[[Any], Any]], timeout: float,
           allow_missing: bool = False) -> tuple[list[Any], list[str]]:
    """Start ``calls[i](shards[i].actor)`` (each returns an ObjectRef) on every shard at once,
    then wait for all. Returns (results, labels of the shards that were down); a down shard
    raises ShardUnavailable unless ``allow_missing`` (its result is then None). An error
    raised inside a shard is re-raised as itself."""
    ray = _ray()
    down_types = _unavailable_types()
    refs = [call(s.actor) for s, call in zip(shards, calls)]
    deadline = time.monotonic() + timeout
    out: list[Any] = []
    missing: list[str] = []
    for shard, ref in zip(shards, refs):
        try:
            out.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, BitsiftError):
                raise cause from None
            raise
        except down_types as err:
            if isinstance(err, ray.exceptions.ActorDiedError):
                # Maybe dead for good: re-resolve the name (the same actor if it is restarting,
                # a fresh one on the same folder if not), so the next call can succeed.
                shard.respawn()
            if not allow_missing:
                raise ShardUnavailable(f"shard {shard.label} is unavailable ({type(err).__name__}); "
                                       "it restarts automatically, retry shortly") from None
            out.append(None)
            missing.append(shard.label)
    return out, missing


def call_with_retry(shard: ShardRef, call: Callable[[Any], Any], within: float, timeout: float) -> Any:
    """One idempotent call (an upsert or delete by id), retried while its shard restarts."""
    deadline = time.monotonic() + within
    delay = 0.1
    while True:
        try:
            return gather([shard], [call], timeout)[0][0]
        except ShardUnavailable:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("shard %s unavailable; retrying in %.1fs", shard.label, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
