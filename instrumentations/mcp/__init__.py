"""MCP (the official ``mcp`` SDK, >= 2.3, < 3): client requests as CLIENT spans, the SDK's SERVER spans enriched.

``mcp.py`` holds ``mcp_patcher``, ``extract.py`` the conventions' names and attributes,
``client_span.py`` the client span (and the SDK's own client span switched off),
``server_span.py`` the SDK's server span enriched, ``transports.py`` which transport a
session runs over, ``credentials.py`` what an HTTP client holds; ``streaming.py`` is
empty (MCP results are not streamed).
"""

from .mcp import mcp_patcher

__all__ = ["mcp_patcher"]
