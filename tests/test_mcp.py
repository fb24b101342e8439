"""`bitsift mcp` with the official SDK's own client session: over stdio on a data folder, and over
streamable HTTP in front of a live bitsift server; the read-only mode has no write tools."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import bitsift
from bitsift.api.http_client import HTTPClient

pytestmark = pytest.mark.model  # the text namespace embeds with the bundled model
DOCS = [{"id": "wing", "text": "Swept wings stall at the tips first; washout delays the tip stall."},
        {"id": "soup", "text": "Onion soup starts with slowly caramelised onions and a good stock."}]
BITSIFT = [sys.executable, "-m", "bitsift.cli.main"]


def payload(result) -> object:
    """A tool call's structured result (or its JSON text)."""
    assert not result.is_error, result
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) and set(content) == {"result"} else content
    return json.loads(result.content[0].text)


async def session_checks(session: ClientSession, writes: bool) -> None:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {"list_namespaces", "search", "answer", "get_items"} <= set(tools)
    assert ("upload_documents" in tools) == writes
    assert all(len(t.description or "") > 40 for t in tools.values())  # enough for an agent to choose
    names = [n["namespace_name"] for n in payload(await session.call_tool("list_namespaces", {}))]
    assert names == ["notes"]
    found = payload(await session.call_tool("search", {"namespace": "notes", "query": "why do wings stall?",
                                                       "top_k": 2}))
    assert found["results"][0]["id"] == "wing" and 0 <= found["results"][0]["score"] <= 1
    hybrid = payload(await session.call_tool("search", {"namespace": "notes", "query": "caramelised onions",
                                                        "mode": "hybrid", "threshold": 0.1}))
    assert hybrid["results"][0]["id"] == "soup" and hybrid["mode"] == "hybrid"
    said = payload(await session.call_tool("answer", {"namespace": "notes", "question": "How does onion soup start?"}))
    assert "soup" in {c["id"] for c in said["citations"]}
    assert payload(await session.call_tool("get_items", {"namespace": "notes", "ids": ["soup"]}))[0]["id"] == "soup"
    if writes:
        payload(await session.call_tool("upload_documents", {"namespace": "notes", "documents": [
            {"id": "shock", "text": "A normal shock forms ahead of a blunt body."}]}))
        again = payload(await session.call_tool("search", {"namespace": "notes", "query": "blunt body shock"}))
        assert again["results"][0]["id"] == "shock"


async def test_stdio_on_a_data_folder(tmp_path):
    with bitsift.Client(path=tmp_path) as c:
        c.create_namespace("notes", type="text")
        c.upload_documents("notes", DOCS)
    for read_only in (True, False):
        params = StdioServerParameters(command=BITSIFT[0], args=[*BITSIFT[1:], "--path", str(tmp_path), "mcp",
                                                                 *(["--read-only"] if read_only else [])],
                                       env=dict(os.environ))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session_checks(session, writes=not read_only)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streamable_http_in_front_of_a_server(tmp_path, live_server):
    server = live_server(data_dir=tmp_path / "served")
    with HTTPClient(server.url) as c:
        c.create_namespace("notes", type="text")
        c.upload_documents("notes", DOCS)
    port = free_port()
    proc = subprocess.Popen([*BITSIFT, "--url", server.url, "mcp", "--transport", "http", "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.2)
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
                ClientSession(read, write) as session:
            await session_checks(session, writes=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
