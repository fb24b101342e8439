"""The command line, run for real through click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bitsift.cli.main import main


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


def test_demo_replaces_only_a_folder_it_made(tmp_path):
    args = ["demo", "--synthetic", "--count", "1000", "--dimension", "16", "--path"]
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "keep.txt").write_text("my data")
    refused = CliRunner().invoke(main, [*args, str(mine)])
    assert refused.exit_code == 2 and "not made by `bitsift demo`" in refused.output
    assert (mine / "notes" / "keep.txt").read_text() == "my data"
    for _ in range(2):  # a new folder, then the demo's own folder again
        assert CliRunner().invoke(main, [*args, str(tmp_path / "d")]).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(main, [*args, str(empty)]).exit_code == 0


def test_demo_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--count", "5"])
    assert result.exit_code != 0 and "count" in result.output


def run(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input)
    return result


def test_ns_commands(tmp_path):
    data = str(tmp_path / "data")
    created = run("--path", data, "ns", "create", "vecs", "--type", "vector", "--dimension", "8")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["vector_dimension"] == 8
    assert [n["namespace_name"] for n in json.loads(run("--path", data, "ns", "list").output)] == ["vecs"]
    info = json.loads(run("--path", data, "ns", "info", "vecs").output)
    assert info["item_count"] == 0 and "effective_bits" in info["diagnostics"]
    again = run("--path", data, "ns", "create", "vecs", "--type", "vector", "--dimension", "8")
    assert again.exit_code == 1 and "namespace_exists" in again.output
    same = run("--path", data, "ns", "create", "vecs", "--type", "vector", "--dimension", "8", "--exist-ok")
    assert same.exit_code == 0 and "already exists" in json.loads(same.output)["message"]
    other = run("--path", data, "ns", "create", "vecs", "--dimension", "9", "--exist-ok")
    assert other.exit_code == 1 and "vector_dimension is 8, not 9" in other.output
    refused = run("--path", data, "ns", "delete", "vecs", input="n\n")
    assert refused.exit_code == 1 and (tmp_path / "data" / "vecs").exists()
    assert run("--path", data, "ns", "delete", "vecs", "--yes").exit_code == 0
    assert not (tmp_path / "data" / "vecs").exists()
    missing = run("--path", data, "ns", "info", "vecs")
    assert missing.exit_code == 1 and "namespace_not_found" in missing.output


@pytest.mark.model
def test_ingest_every_file_type_then_search(tmp_path):
    from filekinds import write_all

    write_all(tmp_path / "docs")
    data = str(tmp_path / "data")
    result = run("--path", data, "ingest", "kb", str(tmp_path / "docs"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # progress and notes go to stderr
    assert summary["files"] == 7 and summary["documents"] == 10 and summary["chunks"] == 10
    table = run("--path", data, "search", "kb", "which bird hunts at night", "--top-k", "3")
    assert table.exit_code == 0 and "birds.jsonl#owl" in table.output and "Relevance" in table.output
    raw = json.loads(run("--path", data, "search", "kb", "caramelised onion soup", "--json").stdout)
    assert raw["results"][0]["id"] == "docs/soup.docx" and raw["results"][0]["metadata"]["type"] == "docx"
    only_csv = json.loads(run("--path", data, "search", "kb", "football", "--json",
                              "--filter", '{"type": "csv"}').stdout)
    assert {r["metadata"]["type"] for r in only_csv["results"]} == {"csv"}
    hybrid = run("--path", data, "search", "kb", "which bird hunts at night", "--mode", "hybrid", "--top-k", "3")
    assert hybrid.exit_code == 0 and "birds.jsonl#owl" in hybrid.output and " bm25 " in hybrid.output, hybrid.output
    words = json.loads(run("--path", data, "search", "kb", "a bird", "--mode", "keyword", "--keywords", "onion",
                           "--json").stdout)
    assert words["results"][0]["id"] == "docs/soup.docx" and words["results"][0]["keyword_score"] > 0
    # re-ingesting the same tree replaces documents instead of duplicating them
    run("--path", data, "ingest", "kb", str(tmp_path / "docs"))
    assert json.loads(run("--path", data, "ns", "info", "kb").stdout)["item_count"] == 10
    assert run("--path", data, "count", "kb").stdout.strip() == "10"
    assert run("--path", data, "count", "kb", "--filter", '{"type": "csv"}').stdout.strip() == str(len(only_csv["results"]))
    listed = run("--path", data, "jobs", "list", "--namespace", "kb").stdout.splitlines()
    assert listed and all(" kb  done " in line for line in listed)  # the ingests' jobs, finished
    job_id = listed[0].split()[0]
    assert json.loads(run("--path", data, "jobs", "show", job_id).stdout)["state"] == "done"
    assert json.loads(run("--path", data, "jobs", "cancel", job_id).stdout)["state"] == "done"
    missing = run("--path", data, "jobs", "show", "job_nope")
    assert missing.exit_code == 1 and "job_not_found" in missing.output
    updated = run("--path", data, "update", "kb", "docs/soup.docx", "--metadata", '{"reviewed": true}', "--unset", "type")
    assert updated.exit_code == 0 and json.loads(updated.stdout)["updated"] == ["docs/soup.docx"], updated.output
    assert run("--path", data, "count", "kb", "--filter", '{"reviewed": true}').stdout.strip() == "1"
    assert "type" not in json.loads(run("--path", data, "search", "kb", "onion soup", "--json").stdout)[
        "results"][0]["metadata"]
    bad = run("--path", data, "count", "kb", "--filter", "{nope")
    assert bad.exit_code == 2 and "not JSON" in bad.output


def test_search_errors_are_clean(tmp_path):
    data = str(tmp_path / "data")
    bad = run("--path", data, "search", "kb", "x", "--filter", "{nope")
    assert bad.exit_code == 2 and "not JSON" in bad.output
    missing = run("--path", data, "search", "kb", "x")
    assert missing.exit_code == 1 and "namespace_not_found" in missing.output
    assert run("--path", data, "ingest", "kb", str(tmp_path), "--no-create").exit_code == 1


def test_cli_talks_to_a_server(live_server, tmp_path):
    srv = live_server(tmp_path / "served")
    created = run("--url", srv.url, "ns", "create", "remote", "--type", "vector", "--dimension", "4")
    assert created.exit_code == 0, created.output
    assert (tmp_path / "served" / "remote" / "manifest.json").exists()
    listed = json.loads(run("--url", srv.url, "ns", "list").output)
    assert [n["namespace_name"] for n in listed] == ["remote"]


@pytest.mark.parametrize("args, message", [
    (["--replicas", "0:4"], "--replicas needs --ray"),
    (["--ray", "auto", "--replicas", "3:1"], "0 <= MIN <= MAX"),
    (["--ray", "auto", "--replicas", "many"], "MIN:MAX"),
])
def test_serve_refuses_bad_replica_settings_before_starting_anything(tmp_path, args, message):
    result = CliRunner().invoke(main, ["serve", "--path", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
