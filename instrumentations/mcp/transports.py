"""MCP: which transport a client session runs over (``network.transport``, ``mcp.session.id``).

A ``ClientSession`` talks to a ``Dispatcher``: a ``DirectDispatcher`` calls an in-process
server with no transport at all (``mcp.Client(server)`` in its default mode), a
``JSONRPCDispatcher`` writes JSON-RPC to a pair of streams whose other end the session does
not know. The transports that make those streams are marked here, keyed by the write
stream they hand out (the ``JSONRPCDispatcher``'s ``_write_stream``), for as long as the
transport is open:

* ``stdio_client`` (a subprocess's stdin/stdout): ``network.transport=pipe``;
* ``streamable_http_client``: its ``StreamableHTTPTransport`` (wrapped at ``post_writer``,
  which receives that write stream and runs while the connection lasts) gives
  ``network.transport=tcp``, ``network.protocol.name=http``, ``server.address``/``port``
  from the URL, and ``mcp.session.id`` from the ``Mcp-Session-Id`` the server assigned.

Streams are keyed by ``id`` (the SDK's context streams have ``__slots__`` and take no weak
reference); every key is removed when its transport closes, so an id is never reused
while it is in the map. Unmarked streams (the SDK's in-memory transport, a user's own
streams) get no network attributes.

The server side marks its streams the same way (``stdio_server``: ``pipe``); its HTTP
requests are known from the request the transport attached (``server_span.py``).

``stdio_client`` and ``stdio_server`` are module-level functions that ``mcp`` and a few
of its modules import by name: ``Rebinder`` replaces each in its module and in those
importers that already hold the original (the package imported before the agent
patched), and puts the originals back on undo.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import wrapt

from weave_agent.patcher import Patcher

from .credentials import remember

_open: dict[int, Any] = {}  # id(write stream) -> "pipe" or the StreamableHTTPTransport


def _http_attributes(transport: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {"network.transport": "tcp", "network.protocol.name": "http"}
    try:
        url = urlsplit(str(transport.url))
        if url.hostname:
            attrs["server.address"] = url.hostname
            attrs["server.port"] = url.port or (443 if url.scheme == "https" else 80)
    except Exception:
        pass
    session_id = getattr(transport, "session_id", None)
    if isinstance(session_id, str) and session_id:
        attrs["mcp.session.id"] = session_id
    return attrs


def attributes_of(dispatcher: Any) -> dict[str, Any]:
    """The transport attributes of a session's dispatcher (empty when unknown)."""
    stream = getattr(dispatcher, "_write_stream", None)
    if stream is None:
        return {}
    found = _open.get(id(stream))
    if found is None:
        return {}
    if isinstance(found, str):
        return {"network.transport": "pipe"}
    return _http_attributes(found)


# --- streamable HTTP: StreamableHTTPTransport.post_writer ------------------------------------


def post_writer_hook(original: Any) -> Any:
    """``post_writer(client, write_stream_reader, read_stream_writer, write_stream, ...)``:
    the client's write stream belongs to this transport while the writer runs."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        stream = args[3] if len(args) > 3 else kwargs.get("write_stream")
        key = id(stream) if stream is not None else None
        if key is not None:
            _open[key] = instance
        try:
            remember(args[0] if args else kwargs.get("client"), getattr(instance, "url", None))
        except Exception:
            pass
        try:
            return await wrapped(*args, **kwargs)
        finally:
            if key is not None and _open.get(key) is instance:
                del _open[key]

    return wrapt.FunctionWrapper(original, wrapper)


# --- stdio: stdio_client (client) and stdio_server (server) -----------------------------------


def stdio_hook(original: Any) -> Any:
    """A stdio transport's context manager: the write stream it yields is a pipe."""

    @functools.wraps(original)
    @asynccontextmanager
    async def stdio(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with original(*args, **kwargs) as streams:
            key = None
            try:
                key = id(streams[1])
                _open[key] = "pipe"
            except Exception:
                pass
            try:
                yield streams
            finally:
                if key is not None:
                    _open.pop(key, None)

    return stdio


class Rebinder(Patcher):
    """A module-level function replaced in its module and in the modules that imported it
    by name before the patch (those that import it later get the replacement)."""

    def __init__(self, module: str, attr: str, importers: tuple[str, ...], make: Any) -> None:
        self.module, self.attr, self.importers, self._make = module, attr, importers, make
        self._done: list[tuple[Any, Any, Any]] = []  # (module, original, replacement)

    def __repr__(self) -> str:
        return "Rebinder(%s.%s)" % (self.module, self.attr)

    @property
    def patched(self) -> bool:
        return bool(self._done)

    def attempt_patch(self) -> bool:
        if self._done:
            return True
        home = sys.modules.get(self.module)
        original = vars(home).get(self.attr) if home is not None else None
        if original is None:
            return False
        new = self._make(original)
        for name in (self.module, *self.importers):
            importer = sys.modules.get(name)
            if importer is not None and vars(importer).get(self.attr) is original:
                setattr(importer, self.attr, new)
                self._done.append((importer, original, new))
        return True

    def undo_patch(self) -> bool:
        ok = bool(self._done)
        for module, original, new in reversed(self._done):
            if vars(module).get(self.attr) is new:
                setattr(module, self.attr, original)
            else:
                ok = False
        self._done = []
        return ok


CLIENT_STDIO = ("mcp.client.stdio", "stdio_client", ("mcp.client.client", "mcp.client", "mcp"))
SERVER_STDIO = ("mcp.server.stdio", "stdio_server", ("mcp.server.mcpserver.server", "mcp.server", "mcp"))
