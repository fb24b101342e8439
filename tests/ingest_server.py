"""Subprocess for test_ingest_crash.py: ``bitsift serve`` (one worker) with the counting
embedder registered. Usage: ingest_server.py DATA_DIR PORT."""

import sys

from bitsift.api.server.app import serve
from counting_embedder import register

if __name__ == "__main__":
    register()
    serve(sys.argv[1], port=int(sys.argv[2]), workers=1, access_log=False)
