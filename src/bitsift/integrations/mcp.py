"""``bitsift mcp``: the Model Context Protocol server (the official ``mcp`` SDK) over any client.

An agent gets tools to list namespaces, search (with threshold, filter and mode), answer, get
items and, unless read-only, upload documents; each description says when to use it and what
the scores mean. It serves over stdio (an agent starts it as a subprocess) or streamable HTTP,
against a data folder (``--path``) or a bitsift server (``--url``).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from bitsift.api.protocol import ClientAPI
from bitsift.core.spec import DEFAULT_TOP_K, SEARCH_MODES

INSTRUCTIONS = (
    "bitsift is a semantic search engine. Call list_namespaces first to see the collections. search "
    "returns the passages most relevant to a query, each with a score in [0, 1] and a label (Close Match, "
    "Very High Relevance, ... Irrelevant); answer writes a short answer with citations from the best passages.")


def build_server(client: ClientAPI, read_only: bool = False) -> MCPServer:
    """The MCP server over ``client``; ``read_only`` leaves out the tools that write."""
    server: MCPServer = MCPServer(name="bitsift", instructions=INSTRUCTIONS)

    @server.tool(description="List the namespaces (collections) to search: name, type (text or vector), "
                             "item count and embedding model. Call this before search when unsure of the name.")
    def list_namespaces() -> list[dict[str, Any]]:
        return [dict(n) for n in client.list_namespaces()]

    @server.tool(description=f"Search a text namespace for the passages most relevant to a natural-language "
                             f"query. Returns up to top_k hits, best first, each with id, score (0-1, higher is "
                             f"more relevant), label, text and metadata. threshold (0-1) drops weaker hits; filter "
                             f"is a metadata filter such as {{\"year\": {{\"$gte\": 2020}}}}; mode is one of "
                             f"{', '.join(SEARCH_MODES)} (hybrid adds keyword matching, good for names and codes).")
    def search(namespace: str, query: str, top_k: int = DEFAULT_TOP_K, threshold: float | None = None,
               filter: dict[str, Any] | None = None, mode: str | None = None) -> dict[str, Any]:
        res = client.search(namespace, query, top_k=top_k, threshold=threshold, filter=filter, mode=mode)
        return {"results": [dict(h) for h in res["results"]], "mode": res["mode"]}

    @server.tool(description="Answer a question from a text namespace: retrieves the top_k best passages and "
                             "returns an answer with citations (the ids of the passages quoted) and the sources.")
    def answer(namespace: str, question: str, top_k: int = 5) -> dict[str, Any]:
        return dict(client.answer(namespace, question, top_k=top_k))

    @server.tool(description="Get items by id (a document id returns all of its chunks): text and metadata.")
    def get_items(namespace: str, ids: list[str]) -> list[dict[str, Any]]:
        return [dict(i) for i in client.get(namespace, ids)]

    if not read_only:
        @server.tool(description="Add or replace documents in a text namespace: each {id, text, metadata?}. "
                                 "They are chunked and embedded, and searchable when this returns.")
        def upload_documents(namespace: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
            return dict(client.upload_documents(namespace, documents))

    return server
