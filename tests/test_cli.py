"""The command line, run for real through click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bitsift.cli import main


def test_info_reports_kernel_paths():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0
    caps = json.loads(result.output)["kernel"]
    assert caps["scalar"] is True and caps["auto"] in ("scalar", "avx2", "avx512")


def test_demo_ingests_and_prints_ranked_results(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--synthetic", "--path", str(tmp_path / "d"), "--count", "3000", "--dimension", "64"])
    assert result.exit_code == 0, result.output
    assert "ingested 3,000 x 64-d vectors" in result.output
    assert result.output.count("query ") == 3
    assert "Close Match" in result.output and "total" in result.output


def test_demo_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--count", "5"])
    assert result.exit_code != 0 and "count" in result.output
