"""The fake for the MCP tests: a real MCP server made with the SDK itself.

MCP has no vendor HTTP API to record: the peer of a client is an MCP server, and the
SDK's own ``MCPServer`` is the reference implementation of one. ``build()`` makes the
server every test talks to, in process (``mcp.Client(server)``), over stdio (this file
run as a script: ``python mcp_server_app.py stdio``, a subprocess of the test) or over
streamable HTTP (``serve_http``: uvicorn on a free 127.0.0.1 port, in a daemon thread,
stopped by the test's fixture).

Tools: ``add`` (a result), ``boom`` (raises: the SDK answers with ``isError``),
``refuse`` (returns a ``CallToolResult`` with ``isError`` itself); a prompt ``review``;
a resource ``notes://today``; a prompt ``whoami`` that fails quoting the
caller's ``Authorization`` header.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent


def build() -> MCPServer:
    server = MCPServer("weave-agent-test")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def boom(x: int) -> int:
        """Always fails."""
        raise ValueError("bad x %d" % x)

    @server.tool()
    def refuse(reason: str) -> CallToolResult:
        """Answers with an error result of its own."""
        return CallToolResult(content=[TextContent(type="text", text=reason)], is_error=True)

    @server.prompt()
    def review(code: str) -> str:
        """Review some code."""
        return "Please review:\n" + code

    @server.prompt()
    def whoami(ctx: Context) -> str:
        """Fails quoting the caller's Authorization header (a server that echoes a secret)."""
        request = ctx.request_context.request
        header = request.headers.get("authorization") if request is not None else None
        raise MCPError(code=-32000, message="who is %s?" % header)

    @server.resource("notes://today")
    def today() -> str:
        return "buy milk"

    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpServer:
    """``server`` over streamable HTTP on 127.0.0.1, in a daemon thread."""

    def __init__(self, server: MCPServer) -> None:
        import uvicorn

        self.port = free_port()
        self.url = "http://127.0.0.1:%d/mcp" % self.port
        app = server.streamable_http_app()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> HttpServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the MCP HTTP server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(10)


if __name__ == "__main__":
    if sys.argv[1:] == ["stdio"]:
        build().run("stdio")
    else:
        raise SystemExit("usage: mcp_server_app.py stdio")
