"""The package tree shows the layers, and no module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import bitsift

PACKAGE = Path(bitsift.__file__).parent
# Lower first; a module may import from its own layer and the ones before it (ARCHITECTURE.md).
LAYERS = [{"core", "_kernel"}, {"storage", "text"}, {"engine"}, {"distributed"}, {"api"}, {"integrations", "eval"}, {"cli"}]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _layer(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "bitsift"
    return parts[1] if len(parts) > 1 else "bitsift"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "bitsift"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bitsift":
            if node.module == "bitsift":  # from bitsift import core, _kernel
                out += [f"bitsift.{a.name}" for a in node.names]
            else:
                out.append(node.module)
    return out


def test_every_module_lives_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue  # the public facade re-exports from every layer
        assert rel.parts[0] in RANK, f"{rel} is outside every layer of {LAYERS}"


def test_no_module_imports_from_a_layer_above_it():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue
        own = RANK[rel.parts[0]]
        for module in _imports(path):
            target = _layer(module)
            if target == "bitsift" or RANK.get(target, -1) > own:
                bad.append(f"{rel} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_rule_would_catch_a_violation(tmp_path):
    (tmp_path / "x.py").write_text("from bitsift.api.client import Client\nimport bitsift.cli.main\n")
    assert _imports(tmp_path / "x.py") == ["bitsift.api.client", "bitsift.cli.main"]
    assert RANK["api"] > RANK["engine"] and RANK["cli"] > RANK["api"]
