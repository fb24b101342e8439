# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# While editing: `make test-fast` (no slow, Ray, model or live-server tests; ~10 s) and `make lint`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SOURCES := $(shell find src -type f) pyproject.toml CMakeLists.txt

.PHONY: demo test test-fast lint stubs bench bench-peers bench-headline bench-shards bench-serve bench-replicas eval install clean

$(STAMP): $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0"
	$(PY) -m pip install -q --no-build-isolation ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bitsift demo --path demo-data

eval: $(STAMP)
	$(VENV)/bin/bitsift eval ../shared/data/cranfield ../shared/data/msmarco-5k ../shared/data/dbpedia-5k \
	  --json benchmarks/eval.json --plot benchmarks/calibration.png

# The browser test (tests/test_playground.py) drives Debian's Chromium: installed here when missing.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "tests/test_playground.py needs Chromium: sudo apt-get install chromium"; exit 1; fi

test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -q

# The edit loop: everything but the tests marked slow, ray, model or live (pyproject.toml); CI runs `make test`.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not ray and not model and not live"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# Type stub of the native module, from the installed build; rewritten only when it changes.
stubs: $(STAMP)
	mkdir -p build
	$(PY) -m nanobind.stubgen -q -m bitsift._kernel -o build/_kernel.pyi
	cmp -s build/_kernel.pyi src/bitsift/_kernel.pyi || cp build/_kernel.pyi src/bitsift/_kernel.pyi

bench: $(STAMP)
	$(PY) -m pip install -q --no-build-isolation ".[test,bench]"
	$(PY) -m benchmarks.kernel
	$(PY) benchmarks/ingest.py
	$(PY) -m benchmarks.http_latency

# Peer benchmarks (about three hours on 2 cores): every system in benchmarks/suites/full.json,
# results in benchmarks/peers.json, tables and plots written into benchmarks/README.md.
bench-peers: $(STAMP)
	$(PY) -m pip install -q pybind11 wheel  # hnswlib builds from source, without build isolation
	$(PY) -m pip install -q --no-build-isolation ".[test,peers]"
	$(PY) -m benchmarks.peers.runner benchmarks/suites/full.json --out benchmarks/peers.json --report benchmarks/README.md

# The 1M headline again (bitsift vs FAISS HNSW, Qdrant's engine, pgvector HNSW; ~1 hour), merged
# into benchmarks/peers.json (its rows replace the same system/dataset rows; listed as a re-run).
bench-headline: $(STAMP)
	$(PY) -m pip install -q pybind11 wheel  # hnswlib builds from source, without build isolation
	$(PY) -m pip install -q --no-build-isolation ".[test,peers]"
	$(PY) -m benchmarks.peers.runner benchmarks/suites/headline.json --out benchmarks/results/headline.json \
		--merge-into benchmarks/peers.json --report benchmarks/README.md

clean:
	rm -rf $(VENV) build demo-data

# Shard scaling on a local Ray cluster (~10 minutes): one machine vs 1, 2, 4 shards at 1M vectors.
bench-shards: $(STAMP)
	$(PY) -m pip install -q pybind11 wheel  # hnswlib builds from source, without build isolation
	$(PY) -m pip install -q --no-build-isolation ".[test,peers]"
	$(PY) -m benchmarks.shards --json benchmarks/shards.json

# Serving throughput (~15 minutes): bitsift serve vs pgvector HNSW at 1-256 connections (wrk and
# pgbench, both C), text queries, in-process coalescing; rows merged into benchmarks/peers.json.
bench-replicas: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(PY) -m benchmarks.replicas --json benchmarks/replicas.json

bench-serve: $(STAMP)
	command -v wrk >/dev/null && command -v pgbench >/dev/null || \
		(apt-get update -q && apt-get install -y -q wrk postgresql-client)
	$(PY) -m pip install -q --no-build-isolation ".[test,serve-bench]"
	$(PY) -m benchmarks.serve --json benchmarks/serve.json --plot benchmarks/serve-throughput.png \
		--merge-into benchmarks/peers.json
