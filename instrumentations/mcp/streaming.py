"""MCP: no streams to accumulate.

Every MCP request the agent traces answers with one result: there is no chunked
response to rebuild (progress notifications and a streamable HTTP response's SSE events
are the transport's, read by the SDK, and never reach the caller as a stream). The file
is here because every vendor folder has the same files; it holds nothing.
"""
