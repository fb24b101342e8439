"""Benchmarks (not tests): each module is run with `python -m benchmarks.<name>`."""

import os

# OpenMP peers (FAISS) keep their worker threads spinning for a while after each call; on a
# 2-core machine those threads steal the cores from whatever is timed next (measured: a 16-query
# bitsift scan interleaved with an OpenMP kernel took 9.1 ms instead of 5.9). Sleeping workers are
# the fair default when systems are interleaved. Set here because the package's __init__ runs
# before any benchmark module imports FAISS, and the OpenMP runtime reads it once, at load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
