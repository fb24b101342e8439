"""Where RAG developers already are: LangChain, LlamaIndex and MCP over any bitsift client.

Each module needs its extra (``pip install 'bitsift[langchain]'``, ``[llamaindex]``, ``[mcp]``)
and is imported only by whoever uses it.
"""
