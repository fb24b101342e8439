"""A writer process for benchmarks/faults.py, killed with SIGKILL at random moments.

Usage: fault_worker.py DATA_DIR PREFIX FIRST_BATCH. It writes numbered batches of PREFIX's
items to the namespace ``crash``, deletes and compacts there, and deletes and re-creates the
namespace ``cycle``; it prints ``ACK <what> <n>`` only after the call has returned, so every
acknowledged line is a promise the files must keep. Several workers (processes) may share one
data directory, each with its own PREFIX.
"""

from __future__ import annotations

import sys

import numpy as np

BATCH, DIMS = 100, 32
CRASH, CYCLE = "crash", "cycle"


def batch_items(prefix: str, b: int) -> list[dict]:
    """Batch ``b`` of a prefix: the same vectors every time (seeded by both)."""
    seed = int.from_bytes(prefix.encode(), "little") * 100_003 + b
    x = np.random.default_rng(seed).standard_normal((BATCH, DIMS)).astype(np.float32)
    return [{"id": f"{prefix}-{b}-{i}", "vector": x[i], "metadata": {"b": b}} for i in range(BATCH)]


def deletes_in(b: int) -> bool:
    return b % 5 == 3


def compacts_after(b: int) -> bool:
    return b % 4 == 1


def cycles_after(b: int) -> bool:
    return b % 3 == 2


def main(path: str, prefix: str, first: int) -> None:
    from bitsift.core.errors import NamespaceExists, NamespaceNotFound
    from bitsift.engine.local import Engine

    engine = Engine(path)
    try:
        engine.create_namespace(CRASH, dimension=DIMS)
    except NamespaceExists:
        pass
    print("READY", flush=True)
    b = first
    while True:
        engine.upsert(CRASH, batch_items(prefix, b))
        if deletes_in(b):
            engine.delete(CRASH, [f"{prefix}-{b}-0"])
        print(f"ACK up {b}", flush=True)
        if compacts_after(b):
            engine.compact(CRASH)
            print(f"ACK compact {b}", flush=True)
        if cycles_after(b):  # delete + re-create + one batch, racing the other workers' cycles
            try:
                engine.delete_namespace(CYCLE)
            except NamespaceNotFound:
                pass
            try:
                engine.create_namespace(CYCLE, dimension=DIMS)
                engine.upsert(CYCLE, batch_items(prefix, b))
            except (NamespaceExists, NamespaceNotFound):
                pass  # another worker's cycle got there first
            print(f"ACK cycle {b}", flush=True)
        b += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
