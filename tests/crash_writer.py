"""Subprocess for test_crash.py: upserts numbered batches and acknowledges each on stdout
only after upload_vectors has returned. Usage: crash_writer.py DATA_DIR FIRST_BATCH."""

import sys

import numpy as np

import bitsift

BATCH, DIMS = 200, 64


def batch_items(b: int) -> list[dict]:
    x = np.random.default_rng(b).standard_normal((BATCH, DIMS)).astype(np.float32)
    return [{"id": f"b{b}-{i}", "vector": x[i], "text": f"batch{b} item{i}", "metadata": {"batch": b}}
            for i in range(BATCH)]


if __name__ == "__main__":
    path, first = sys.argv[1], int(sys.argv[2])
    client = bitsift.Client(path=path)
    if not any(n["namespace_name"] == "crash" for n in client.list_namespaces()):
        client.create_namespace("crash", dimension=DIMS)
    print("READY", flush=True)
    b = first
    while True:
        client.upload_vectors("crash", batch_items(b))
        if b % 7 == 3:  # deletes and replacements are acknowledged writes too
            client.delete("crash", [f"b{b}-0"])
        print(f"ACK {b}", flush=True)
        b += 1
