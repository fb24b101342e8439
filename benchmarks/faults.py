"""The fault campaign: random SIGKILLs of writer processes and a long mixed load on a real server.

    python -m benchmarks.faults --kills 100 --load-seconds 600 --clients 64

* **Kills**: two writer processes (benchmarks/fault_worker.py) share one data folder, upserting,
  deleting, compacting and deleting + re-creating a namespace; each round both are SIGKILLed at
  random moments. After every round the folder must open with no repair; at the end every
  acknowledged item must be there with its exact vector, no batch half visible, nothing that was
  never written visible.
* **Mixed load**: N clients against ``bitsift serve`` (a separate process) upsert, replace,
  delete, search, get and compact in one namespace, while others delete and re-create another;
  afterwards every acknowledged live item is present with its exact vector and no acknowledged
  delete is visible. Any 5xx is counted as a failure.

tests/test_faults.py runs both with small bounds in ``make test``; this is the long version.
The process exits 1 if any count that must be zero is not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np

from benchmarks.fault_worker import BATCH, CRASH, CYCLE, DIMS, batch_items, deletes_in

WORKER = Path(__file__).with_name("fault_worker.py")
ROOT = Path(__file__).resolve().parents[1]


# --- SIGKILL campaign --------------------------------------------------------------------


@dataclass
class KillReport:
    kills: int = 0
    rounds: int = 0
    acked_batches: int = 0
    acked_compactions: int = 0
    acked_cycles: int = 0
    lost_items: int = 0         # acknowledged, then missing
    half_visible: int = 0       # a batch seen in part
    phantom_items: int = 0      # never acknowledged nor in flight, yet visible
    wrong_vectors: int = 0
    cycle_incomplete: int = 0   # a batch of the re-created namespace seen in part
    open_failures: list[str] = field(default_factory=list)  # a folder that would need a human
    worker_errors: list[str] = field(default_factory=list)  # a writer that failed before its kill

    def failures(self) -> int:
        return (self.lost_items + self.half_visible + self.phantom_items + self.wrong_vectors
                + self.cycle_incomplete + len(self.open_failures) + len(self.worker_errors))


@dataclass
class _Writer:
    prefix: str
    acked_upto: int = -1                            # batches up to here were acknowledged...
    in_flight: set[int] = field(default_factory=set)  # ...except these: all or nothing
    first: int = 0


def _run_round(data: Path, writers: list[_Writer], rng: random.Random, max_delay: float,
               report: KillReport) -> None:
    procs = []
    for w in writers:
        proc = subprocess.Popen([sys.executable, str(WORKER), str(data), w.prefix, str(w.first)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())
        acks: list[tuple[str, int]] = []
        ready = threading.Event()
        reader = threading.Thread(target=_read_acks, args=(proc, acks, ready), daemon=True)
        reader.start()
        procs.append((w, proc, acks, ready, reader))
    for _, proc, _, ready, _ in procs:
        if not ready.wait(120):
            proc.kill()
            raise RuntimeError("a fault worker did not start")
    for _, proc, _, _, _ in rng.sample(procs, len(procs)):  # each dies at its own random moment
        time.sleep(rng.uniform(0.0, max_delay))
        proc.send_signal(signal.SIGKILL)
        report.kills += 1
    for w, proc, acks, _, reader in procs:
        proc.wait()
        reader.join(10)
        if proc.returncode != -signal.SIGKILL:  # it died of an error of its own: a bug
            assert proc.stderr is not None
            report.worker_errors.append(f"round {report.rounds} {w.prefix}: {proc.stderr.read()[-4000:]}")
        ups = [n for what, n in acks if what == "up"]
        report.acked_batches += len(ups)
        report.acked_compactions += sum(what == "compact" for what, _ in acks)
        report.acked_cycles += sum(what == "cycle" for what, _ in acks)
        if ups:
            w.acked_upto = ups[-1]
        w.in_flight.add(ups[-1] + 1 if ups else w.first)
        w.first = max(w.first, w.acked_upto + 1) + 1  # never reuse a batch that may be half-known
    report.rounds += 1


def _read_acks(proc: subprocess.Popen, acks: list[tuple[str, int]], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            ready.set()
        elif line.startswith("ACK"):
            _, what, n = line.split()
            acks.append((what, int(n)))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _check_opens(data: Path, report: KillReport) -> None:
    """The folder opens and answers with no repair by hand, whatever moment the kills hit."""
    from bitsift.core.errors import NamespaceNotFound
    from bitsift.engine.local import Engine

    engine = Engine(data)
    try:
        for name in (CRASH, CYCLE):
            try:
                engine.describe_namespace(name)
                engine.search(name, np.ones(DIMS, np.float32), top_k=3, mode="rescore")
            except NamespaceNotFound:
                pass
        engine.list_namespaces()
    except Exception as exc:  # noqa: BLE001 - the campaign counts every kind of failure
        report.open_failures.append(f"round {report.rounds}: {type(exc).__name__}: {exc}")
    finally:
        engine.close()


def _verify(data: Path, writers: list[_Writer], report: KillReport) -> None:
    from bitsift.core.errors import NamespaceNotFound
    from bitsift.engine.local import Engine

    engine = Engine(data)
    try:
        for w in writers:
            for b in range(w.first + 1):
                items = batch_items(w.prefix, b)
                got = {g["id"]: g["vector"] for g in engine.get(CRASH, [it["id"] for it in items], include_vectors=True)}
                head = f"{w.prefix}-{b}-0"
                full = {it["id"] for it in items}
                if b in w.in_flight:
                    if set(got) not in (set(), full, full - {head}):
                        report.half_visible += 1
                elif b <= w.acked_upto:
                    report.lost_items += len(full - set(got) - ({head} if deletes_in(b) else set()))
                else:
                    report.phantom_items += len(got)
                for it in items:
                    if it["id"] in got and not np.array_equal(
                            np.asarray(got[it["id"]], np.float32), it["vector"].astype(np.float16).astype(np.float32)):
                        report.wrong_vectors += 1
        try:
            count = engine.describe_namespace(CYCLE)["item_count"]
            hits = engine.search(CYCLE, np.ones(DIMS, np.float32), top_k=max(count, 1), mode="binary")["results"]
            groups = Counter(h["id"].rsplit("-", 1)[0] for h in hits)
            report.cycle_incomplete += sum(n != BATCH for n in groups.values())
        except NamespaceNotFound:
            pass
    finally:
        engine.close()


def kill_campaign(data: Path, kills: int, seed: int = 2026, writers: int = 2, max_delay: float = 0.4,
                  progress: bool = False) -> KillReport:
    """SIGKILL ``writers`` processes sharing ``data`` until ``kills`` kills; then verify."""
    rng = random.Random(seed)
    report = KillReport()
    state = [_Writer(f"p{i}") for i in range(writers)]
    while report.kills < kills:
        _run_round(data, state, rng, max_delay, report)
        _check_opens(data, report)
        if progress:
            print(f"  kills {report.kills}/{kills}, batches acknowledged {report.acked_batches}", file=sys.stderr)
    _verify(data, state, report)
    return report


# --- mixed load against a real server --------------------------------------------------------


@dataclass
class LoadReport:
    clients: int = 0
    seconds: float = 0.0
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0       # any 5xx
    unexpected: list[str] = field(default_factory=list)  # a 4xx or transport error on a valid request
    checked_items: int = 0
    lost_items: int = 0          # an acknowledged live item missing
    resurrected_items: int = 0   # an acknowledged delete visible
    wrong_vectors: int = 0

    def failures(self) -> int:
        return self.server_errors + len(self.unexpected) + self.lost_items + self.resurrected_items + self.wrong_vectors


LOAD, CHURN = "load", "churn"
IDS_PER_CLIENT = 60


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    log: Path


@contextmanager
def served(data: Path, api_key: str | None = None) -> Iterator[Served]:
    """``bitsift serve`` as its own process on a free port of 127.0.0.1; SIGTERM at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "bitsift.cli.main", "serve", "--path", str(data), "--port", str(port)]
    env = {**_env(), **({"BITSIFT_API_KEYS": api_key} if api_key else {})}
    data.mkdir(parents=True, exist_ok=True)
    log = open(data.parent / f"{data.name}-server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bitsift serve did not start; see {log.name}")
            time.sleep(0.05)
        yield Served(url, proc, Path(log.name))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class _Client:
    """One client's private ids, and what the server acknowledged for each."""

    def __init__(self, n: int, url: str, headers: dict[str, str], seed: int, report: LoadReport,
                 lock: threading.Lock) -> None:
        self.ids = [f"c{n}-{i}" for i in range(IDS_PER_CLIENT)]
        self.acked: dict[str, np.ndarray | None] = {}  # id -> float16 vector, or None once deleted
        self.unsure: set[str] = set()  # a write whose outcome is unknown (transport error)
        self.http = httpx.Client(base_url=url, headers=headers, timeout=120)
        self.rng = np.random.default_rng(seed)
        self.report, self.lock = report, lock

    def call(self, method: str, path: str, body: dict | None, allowed: tuple[int, ...] = ()) -> httpx.Response | None:
        try:
            r = self.http.request(method, path, json=body)
        except httpx.TransportError as exc:
            with self.lock:
                self.report.unexpected.append(f"{method} {path}: {type(exc).__name__}")
            return None
        with self.lock:
            self.report.requests += 1
            self.report.statuses[str(r.status_code)] = self.report.statuses.get(str(r.status_code), 0) + 1
            if r.status_code >= 500:
                self.report.server_errors += 1
                self.report.unexpected.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400 and r.status_code not in allowed:
                self.report.unexpected.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return r

    def step(self) -> None:
        op = self.rng.choice(["upsert", "delete", "search", "search", "get", "compact", "churn"],
                             p=[0.3, 0.1, 0.25, 0.15, 0.1, 0.02, 0.08])
        if op == "upsert":
            ids = list(self.rng.choice(self.ids, size=int(self.rng.integers(1, 20)), replace=False))
            x = self.rng.standard_normal((len(ids), DIMS)).astype(np.float32)
            body = {"vectors": [{"id": i, "vector": v.tolist(), "metadata": {"c": i.split("-")[0]}}
                                for i, v in zip(ids, x)]}
            r = self.call("POST", f"/v1/namespaces/{LOAD}/vectors", body)
            self._settle(ids, r, lambda: {i: v.astype(np.float16) for i, v in zip(ids, x)})
        elif op == "delete":
            ids = list(self.rng.choice(self.ids, size=int(self.rng.integers(1, 5)), replace=False))
            r = self.call("POST", f"/v1/namespaces/{LOAD}/vectors/delete", {"ids": ids})
            self._settle(ids, r, lambda: dict.fromkeys(ids))
        elif op == "search":
            q = self.rng.standard_normal(DIMS).tolist()
            flt = {"c": self.ids[0].split("-")[0]} if self.rng.random() < 0.3 else None
            mode = "binary" if self.rng.random() < 0.5 else "rescore"
            self.call("POST", "/v1/search", {"namespaces": LOAD, "query": q, "top_k": 10, "mode": mode, "filter": flt})
        elif op == "get":
            self.call("POST", f"/v1/namespaces/{LOAD}/documents/get", {"ids": self.ids[:10]})
        elif op == "compact":
            self.call("POST", f"/v1/namespaces/{LOAD}/compact", None)
        else:  # delete / re-create churn in another namespace: 404 and 409 are the honest answers
            which = self.rng.integers(4)
            if which == 0:
                self.call("DELETE", f"/v1/namespaces/{CHURN}", None, allowed=(404,))
            elif which == 1:
                self.call("POST", "/v1/namespaces", {"namespace_name": CHURN, "vector_dimension": DIMS},
                          allowed=(409,))
            elif which == 2:
                body = {"vectors": [{"id": "x", "vector": self.rng.standard_normal(DIMS).tolist()}]}
                self.call("POST", f"/v1/namespaces/{CHURN}/vectors", body, allowed=(404,))
            else:
                self.call("POST", "/v1/search", {"namespaces": CHURN, "query": [0.5] * DIMS}, allowed=(404,))

    def _settle(self, ids: list[str], r: httpx.Response | None, outcome) -> None:  # noqa: ANN001
        if r is not None and r.status_code < 300:
            self.acked.update(outcome())
            self.unsure.difference_update(ids)
        elif r is None or r.status_code >= 500:
            self.unsure.update(ids)  # may or may not have been written: not checked

    def verify(self) -> None:
        r = self.http.post(f"/v1/namespaces/{LOAD}/documents/get", json={"ids": self.ids, "include_vectors": True})
        r.raise_for_status()
        got = {g["id"]: g["vector"] for g in r.json()["documents"]}
        with self.lock:
            for id_, vector in self.acked.items():
                if id_ in self.unsure:
                    continue
                self.report.checked_items += 1
                if vector is None:
                    self.report.resurrected_items += id_ in got
                elif id_ not in got:
                    self.report.lost_items += 1
                elif not np.array_equal(np.asarray(got[id_], np.float32), vector.astype(np.float32)):
                    self.report.wrong_vectors += 1


def mixed_load(url: str, clients: int, seconds: float, seed: int = 7, api_key: str | None = None) -> LoadReport:
    """``clients`` threads of mixed requests for ``seconds``, then the acknowledged-state check."""
    headers = {"x-api-key": api_key} if api_key else {}
    created = httpx.post(f"{url}/v1/namespaces", json={"namespace_name": LOAD, "vector_dimension": DIMS},
                         headers=headers, timeout=60)
    if created.status_code not in (201, 409):
        raise RuntimeError(f"cannot create the load namespace: {created.text}")
    report, lock = LoadReport(clients=clients), threading.Lock()
    workers = [_Client(n, url, headers, seed * 1000 + n, report, lock) for n in range(clients)]
    stop = time.monotonic() + seconds

    def run(client: _Client) -> None:
        while time.monotonic() < stop:
            client.step()

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(c,)) for c in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.monotonic() - t0
    for c in workers:
        c.verify()
        c.http.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--load-seconds", type=float, default=600.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--data", type=Path, default=Path("/tmp/bitsift-faults"))
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.data, ignore_errors=True)
    out: dict[str, object] = {}
    if args.kills:
        print(f"SIGKILL campaign: {args.kills} kills of 2 writers on one folder", file=sys.stderr)
        t0 = time.monotonic()
        kills = kill_campaign(args.data / "kills", args.kills, progress=True)
        out["kills"] = {**asdict(kills), "wall_s": round(time.monotonic() - t0, 1)}
        print(json.dumps(out["kills"], indent=1))
    if args.load_seconds:
        print(f"mixed load: {args.clients} clients for {args.load_seconds:g} s", file=sys.stderr)
        with served(args.data / "load") as server:
            load = mixed_load(server.url, args.clients, args.load_seconds)
        out["load"] = {**asdict(load), "unexpected": load.unexpected[:20], "qps": round(load.requests / load.seconds, 1)}
        print(json.dumps(out["load"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    failed = (args.kills and kills.failures()) or (args.load_seconds and load.failures())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
