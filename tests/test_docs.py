"""Docs that cannot rot: README snippets run, every CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bitsift.cli.main import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.ray  # the README's Ray snippet starts a local cluster
def test_readme_python_snippets_run(tmp_path, monkeypatch, capsys):
    snippets = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert snippets, "README has no Python snippet"
    monkeypatch.chdir(tmp_path)
    for code in snippets:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    for code in snippets:  # a script run twice on its own data works the same (exist_ok)
        if "ray=" not in code:
            exec(compile(code, "README.md", "exec"), {})
    assert "doc-3 1.0 Close Match" in capsys.readouterr().out
    assert "doc-3 1.0 Close Match" in out
    assert "doc-7 4 False" in out  # the Ray snippet: 4 shards, nothing partial


def _commands(group, prefix="bitsift"):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", cmd


def test_every_cli_command_is_documented():
    found = list(_commands(main))
    assert len(found) >= 9
    for full, cmd in found:
        assert f"`{full}" in README, f"{full} is missing from README.md"
        assert "Example:" in (cmd.help or ""), f"{full} help has no Example"


def test_architecture_names_every_on_disk_file():
    arch = (ROOT / "ARCHITECTURE.md").read_text()
    from bitsift.storage import folder as namespace
    for filename in (namespace.CODES, namespace.VECTORS, namespace.ITEMS, namespace.LOCK, "manifest.json"):
        assert f"`{filename}`" in arch or filename in arch


def test_public_names_exist():
    import bitsift

    for name in bitsift.__all__:
        assert getattr(bitsift, name) is not None
    assert "bitsift.AsyncHTTPClient" in README and hasattr(bitsift, "AsyncHTTPClient")


def test_every_environment_variable_is_in_the_readme_table():
    import re

    found = set()
    for path in (ROOT / "src" / "bitsift").rglob("*.py"):
        found |= set(re.findall(r"BITSIFT_[A-Z_]+[A-Z]", path.read_text()))
    table = README[README.index("Every environment variable"):]
    missing = sorted(v for v in found if f"`{v}`" not in table)
    assert len(found) >= 15 and not missing, missing
