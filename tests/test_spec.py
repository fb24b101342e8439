"""Every list of valid values is defined once (core.spec) and everything else derives from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitsift.api.server.app import create_app
from bitsift.cli.main import main
from bitsift.core import binarize, spec
from bitsift.engine.local import Engine

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_binarizer_in_the_list_can_be_built_and_no_other():
    for name in spec.BINARIZERS:
        assert binarize.make_binarizer(name).name == name
    assert set(binarize._FACTORIES) == set(spec.BINARIZERS)


def test_openapi_enums_come_from_the_lists(tmp_path):
    schema = create_app(Engine(tmp_path)).openapi()["components"]["schemas"]
    assert schema["CreateNamespace"]["properties"]["binarizer"]["enum"] == list(spec.BINARIZERS)
    assert schema["CreateNamespace"]["properties"]["type"]["enum"] == list(spec.NAMESPACE_TYPES)
    assert schema["Search"]["properties"]["mode"]["enum"] == list(spec.SEARCH_MODES)
    assert schema["SearchBatch"]["properties"]["mode"]["enum"] == list(spec.SEARCH_MODES)


def test_cli_choices_come_from_the_lists():
    create = main.commands["ns"].commands["create"]
    choices = {p.name: getattr(p.type, "choices", None) for p in create.params}
    assert list(choices["binarizer"]) == list(spec.BINARIZERS)
    assert list(choices["ns_type"]) == list(spec.NAMESPACE_TYPES)
    assert list({p.name: getattr(p.type, "choices", None) for p in main.commands["search"].params}["mode"]) == list(
        spec.SEARCH_MODES)


def test_the_readme_names_every_value():
    for value in (*spec.BINARIZERS, *spec.SEARCH_MODES, *spec.NAMESPACE_TYPES):
        assert f"`{value}`" in README, value


@pytest.mark.parametrize("ns_type, dimension, want", [(None, 3, "vector"), (None, None, "text"), ("vector", 3, "vector"),
                                                      ("text", None, "text")])
def test_one_type_rule(ns_type, dimension, want):
    assert spec.resolve_type(ns_type, dimension) == want


def test_cli_ns_create_with_a_dimension_makes_a_vector_namespace(tmp_path):
    out = CliRunner().invoke(main, ["--path", str(tmp_path), "ns", "create", "v", "--dimension", "3"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["type"] == "vector" and info["vector_dimension"] == 3
