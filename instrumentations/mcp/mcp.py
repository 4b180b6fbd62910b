"""MCP (the official ``mcp`` SDK, ``mcp`` >= 2.3, < 3): one span per MCP operation, client and server in one trace.

Client side (the agent's spans, ``client_span.py``): ``ClientSession.send_request`` and
``send_discover`` in ``mcp.client.session`` make one CLIENT span per request,
``{mcp.method.name} {target}`` (``tools/call add``, ``prompts/get review``,
``resources/read``, ``tools/list``, ``initialize``, ``server/discover``, and each
notification the client sends, ``notifications/initialized``), with
``mcp.method.name``, ``gen_ai.operation.name=execute_tool`` and ``gen_ai.tool.name`` for
tool calls, ``gen_ai.prompt.name``, ``mcp.resource.uri``, ``mcp.protocol.version``,
``jsonrpc.request.id`` (JSON-RPC transports), ``mcp.session.id``, ``network.transport``
and ``server.address``/``port`` (``transports.py``), and with content capture on
``gen_ai.tool.call.arguments``/``result``. ``mcp.Client`` delegates to ``ClientSession``,
including its in-process mode (``mcp.Client(server)``: a ``DirectDispatcher``, no
JSON-RPC, the server's handler awaited in the caller's own context, so the server span is
the client span's child without a ``_meta`` carrier). The SDK's own client span
(``otel_span`` in ``mcp.shared.jsonrpc_dispatcher``) is switched off inside those
requests, its context injection kept on the agent's span.

Server side (the SDK's spans, ``server_span.py``): the SDK's ``OpenTelemetryMiddleware``
SERVER span follows the conventions and is parented from ``params._meta``; the agent
keeps it, adds what it lacks, and starts its pipeline before the SDK's first span.

Never two spans for one operation: the client span exists only as the agent's (the
SDK's is off, or was never made), the server span only as the SDK's. On an SDK whose
structure differs (``otel_span`` or the session's methods not where they are looked for)
the client side is left unpatched, with one debug line.

Registry triggers: the modules that define what is patched, each patched when it is
imported (``ModulePatcher``): a process that only serves patches no client module and
the reverse.
"""

from __future__ import annotations

import sys
from types import ModuleType

from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher

from . import client_span, server_span, transports

SESSION_MODULE = "mcp.client.session"
JSONRPC_MODULE = "mcp.shared.jsonrpc_dispatcher"
SERVER_OTEL_MODULE = "mcp.server._otel"
HTTP_CLIENT_MODULE = "mcp.client.streamable_http"
TRIGGERS = (
    SESSION_MODULE,
    JSONRPC_MODULE,
    SERVER_OTEL_MODULE,
    HTTP_CLIENT_MODULE,
    transports.CLIENT_STDIO[0],
    transports.SERVER_STDIO[0],
)  # the registry row's triggers (a test keeps them equal)


def _session_missing(module: ModuleType) -> list[str]:
    """The client span replaces the SDK's: without the SDK's ``otel_span`` where it is
    looked for, patching the session would make two spans per request."""
    missing = []
    session = getattr(module, "ClientSession", None)
    for method in ("send_request", "send_discover", "send_notification"):
        if session is None or method not in vars(session):
            missing.append("ClientSession.%s" % method)
    jsonrpc = sys.modules.get(JSONRPC_MODULE)
    if jsonrpc is None or not callable(vars(jsonrpc).get("otel_span")):
        missing.append("%s.otel_span" % JSONRPC_MODULE)
    return missing


def _session_patchers(module: ModuleType) -> list[Patcher]:
    return [
        SymbolPatcher(lambda: module, "ClientSession.send_request", client_span.send_request_hook),
        SymbolPatcher(lambda: module, "ClientSession.send_discover", client_span.send_discover_hook),
        SymbolPatcher(lambda: module, "ClientSession.send_notification", client_span.send_notification_hook),
    ]


def _rebinder(spec: tuple[str, str, tuple[str, ...]]) -> ModulePatcher:
    module, attr, importers = spec
    return ModulePatcher(module, lambda _m: [transports.Rebinder(module, attr, importers, transports.stdio_hook)])


class McpPatcher(MultiPatcher):
    """Every part, each applied when its module is imported; the wrappers call straight
    through once undone."""

    def attempt_patch(self) -> bool:
        client_span._State.active = server_span._State.active = True
        return super().attempt_patch()

    def undo_patch(self) -> bool:
        client_span._State.active = server_span._State.active = False
        return super().undo_patch()


mcp_patcher = McpPatcher(
        [
            ModulePatcher(
                JSONRPC_MODULE, lambda m: [SymbolPatcher(lambda: m, "otel_span", client_span.sdk_span_hook),
                                           SymbolPatcher(lambda: m, "JSONRPCDispatcher.notify", client_span.notify_hook)],
                lambda m: [] if callable(vars(m).get("otel_span")) else ["otel_span"],
            ),
            ModulePatcher(SESSION_MODULE, _session_patchers, _session_missing),
            ModulePatcher(
                SERVER_OTEL_MODULE, lambda m: [SymbolPatcher(lambda: m, "OpenTelemetryMiddleware.__call__",
                                                             server_span.middleware_hook)],
            ),
            ModulePatcher(
                HTTP_CLIENT_MODULE, lambda m: [SymbolPatcher(lambda: m, "StreamableHTTPTransport.post_writer",
                                                             transports.post_writer_hook)],
            ),
            _rebinder(transports.CLIENT_STDIO),
            _rebinder(transports.SERVER_STDIO),
        ]
)
