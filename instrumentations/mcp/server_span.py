"""MCP server side: the SDK's own SERVER span, kept and enriched.

``mcp.server._otel.OpenTelemetryMiddleware`` (in every ``Server.middleware`` by default)
already opens one SERVER span per inbound message as the conventions ask: named
``{mcp.method.name} {target}``, parented from ``params._meta`` (where the agent's client
span, or any other client's, wrote its context), with ``mcp.method.name``,
``mcp.protocol.version``, ``jsonrpc.request.id``, ``gen_ai.operation.name=execute_tool``
and ``gen_ai.tool.name`` for tool calls, ``gen_ai.prompt.name``, and ERROR with
``error.type`` for a JSON-RPC error, an exception or a ``CallToolResult`` with ``isError``.
A second span of the agent's would double every operation, so the agent keeps it and
adds, from inside it (the ``call_next`` the middleware awaits runs with the SDK's span
current), what it lacks:

* ``mcp.session.id`` (streamable HTTP sessions), ``network.transport`` (``pipe`` for
  stdio, ``tcp`` with ``network.protocol.name=http`` for HTTP, nothing in process),
  ``client.address``/``client.port`` of an HTTP request, ``mcp.resource.uri``;
* ``gen_ai.tool.call.arguments`` and ``gen_ai.tool.call.result`` when content capture is on.

The SDK takes its tracer from the global OpenTelemetry API, and the agent's pipeline
(its global TracerProvider) starts lazily on the first span one of its integrations
makes: spans made before that are dropped. So the wrapper starts the pipeline
(``telemetry.tracer()``, a lookup once it runs) before the SDK opens its span: the
first message a server handles is recorded with everything under it.

An app that removed the middleware from ``server.middleware`` opted out of the SDK's
server spans: the agent adds none either.
"""

from __future__ import annotations

from typing import Any

import wrapt
from opentelemetry import trace

from . import extract, transports


class _State:
    active = False  # the patch is applied: wrappers that outlive an undo call through


def _server_attributes(ctx: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    session = getattr(ctx, "session", None)
    connection = getattr(session, "_connection", None)
    session_id = getattr(connection, "session_id", None)
    if isinstance(session_id, str) and session_id:
        attrs["mcp.session.id"] = session_id
    request = getattr(ctx, "request", None)
    if request is not None and getattr(request, "scope", None) is not None:  # a Starlette request: HTTP
        attrs["network.transport"] = "tcp"
        attrs["network.protocol.name"] = "http"
        client = getattr(request, "client", None)
        host = getattr(client, "host", None)
        if isinstance(host, str) and host:
            attrs["client.address"] = host
            port = getattr(client, "port", None)
            if isinstance(port, int):
                attrs["client.port"] = port
    else:
        outbound = getattr(session, "_request_outbound", None)  # the request's dispatch context
        outbound = getattr(outbound, "_inner", outbound)  # unwrapped (2026-07-28 connections)
        dispatcher = getattr(outbound, "_dispatcher", None)
        attrs.update(transports.attributes_of(dispatcher))
    method = getattr(ctx, "method", "")
    params = getattr(ctx, "params", None)
    if method in extract.RESOURCE_METHODS:
        attrs.update({k: v for k, v in extract.request_attributes(method, params).items() if k == "mcp.resource.uri"})
    attrs.update(extract.arguments_attribute(method, params))
    return attrs


def middleware_hook(original: Any) -> Any:
    """``OpenTelemetryMiddleware.__call__(ctx, call_next)``."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _State.active or len(args) != 2 or kwargs:
            return await wrapped(*args, **kwargs)
        from weave_agent.export import telemetry

        telemetry.tracer()  # the pipeline in place before the SDK's span starts
        ctx, call_next = args

        async def enriched(inner_ctx: Any) -> Any:
            span = trace.get_current_span()
            recording = span.is_recording()
            if recording:
                try:
                    span.set_attributes(_server_attributes(inner_ctx))
                except Exception:
                    pass
            result = await call_next(inner_ctx)
            if recording and getattr(inner_ctx, "method", None) == extract.TOOLS_CALL:
                try:
                    span.set_attributes(extract.result_attribute(result))
                except Exception:
                    pass
            return result

        return await wrapped(ctx, enriched)

    return wrapt.FunctionWrapper(original, wrapper)
