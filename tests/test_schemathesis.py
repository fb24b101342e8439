"""The whole OpenAPI, fuzzed by schemathesis against a real server with an API key: no 500,
every status and every body as documented. Bounded: a fixed seed and a few examples per
operation (``FUZZ_EXAMPLES``), so it costs seconds in ``make test``."""

from __future__ import annotations

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

pytestmark = [pytest.mark.live, pytest.mark.model]  # the fuzzer creates text namespaces and searches them

KEY = "fuzz-key-0123456789"
FUZZ_EXAMPLES = 100  # enough to find a namespaces-type 500 (tried: 60 missed it)
DIMS = 8


@pytest.fixture(scope="module")
def fuzzed_server(module_live_server):
    srv = module_live_server(api_keys=[KEY])
    engine = srv.engine
    # Namespaces under the schema's example name and others, so requests reach real code paths.
    x = np.random.default_rng(0).standard_normal((40, DIMS)).astype(np.float32)
    for name in ("docs", "v0"):
        engine.create_namespace(name, dimension=DIMS)
        engine.upsert(name, [{"id": f"d{i}", "vector": x[i], "text": f"t{i}", "metadata": {"g": i % 3}}
                             for i in range(40)])
    return srv


def _openapi() -> dict:
    """The server's own OpenAPI document, read from the app itself at collection time (the
    routes and models do not depend on the data), so each operation is its own test."""
    import tempfile

    from bitsift.api.server import create_app
    from bitsift.engine.local import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(tmp)
        try:
            return create_app(engine, api_keys=[KEY]).openapi()
        finally:
            engine.close()


schema = schemathesis.openapi.from_dict(_openapi())
# Both what the schema allows and what it forbids (wrong types, missing fields, bad patterns):
# the forbidden must be a documented 4xx, never a 500.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, fuzzed_server):
    case.call_and_validate(base_url=fuzzed_server.url, headers={"x-api-key": KEY}, timeout=60,
                           checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


def test_the_fuzzed_document_is_the_served_one(fuzzed_server):
    import httpx

    assert httpx.get(f"{fuzzed_server.url}/openapi.json").json() == _openapi()
