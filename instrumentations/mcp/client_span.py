"""MCP client side: one CLIENT span per request, the agent's; the SDK's own client span off.

The SDK (2.x) opens a CLIENT span in ``JSONRPCDispatcher.send_raw_request`` (``MCP send
tools/call add``: not the conventions' name, no ``gen_ai.*``, not ERROR when the tool
failed) and makes none at all when ``mcp.Client(server)`` calls an in-process server
through a ``DirectDispatcher``. So the client side is the agent's:

* ``ClientSession.send_request`` (every typed request: ``tools/call``, ``tools/list``,
  ``resources/read``, ``prompts/get``, ``initialize``, ``ping``, ...) and
  ``ClientSession.send_discover`` (``server/discover``) open the span
  ``{mcp.method.name} {target}``, CLIENT, and make it current while the request runs;
* the SDK's ``otel_span`` as ``mcp.shared.jsonrpc_dispatcher`` names it is replaced: inside
  one of those requests it opens nothing and hands the SDK the agent's span, so that the
  SDK's own work still happens on it (``jsonrpc.request.id``, a JSON-RPC error's code) and
  its ``inject`` writes the agent's span into ``params._meta``. A request sent outside a
  ``ClientSession`` (a server's own request to its client: ``sampling/createMessage``,
  ``roots/list``, ``elicitation/create``) gets the agent's CLIENT span under the
  conventions' name instead of the SDK's;
* ``ClientSession.send_notification`` makes a CLIENT span ``{mcp.method.name}`` for each
  notification (``notifications/initialized``, ...), and ``JSONRPCDispatcher.notify``
  (which injects nothing in the SDK) writes its context into ``params._meta``.

The in-process ``DirectDispatcher`` (``mcp.Client(server)`` in its default mode) carries
no context and needs none: it awaits the server's handler in the caller's own context, so
the SDK's server span starts with the agent's client span current and becomes its child.
Nothing is added to what the server's handlers see there (the SDK injects nothing either);
writing ``_meta`` would cost about 90 µs a call for the same tree.

Errors: an ``MCPError`` gives ``error.type`` and ``rpc.response.status_code`` from its
JSON-RPC code and its message as the status description; any other exception its class
name; a ``CallToolResult`` with ``isError`` gives ``error.type=tool_error``. The caller
gets the very exception or result it would without the agent.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import extract, transports

# The agent's span of the ClientSession request running in this context (None outside one).
_request_span: contextvars.ContextVar[Any] = contextvars.ContextVar("weave_agent_mcp_request_span", default=None)


class _State:
    active = False  # the patch is applied: wrappers that outlive an undo call through


def _ended_with_error(span: Any, exc: BaseException) -> None:
    from weave_agent.tracing.serialize import exception_attributes, redact_text

    code = extract.error_code(exc)
    if code is not None:
        span.set_attributes({"error.type": code, "rpc.response.status_code": code})
        message = extract.error_message(exc)
        # a server may quote what the client sent (its Authorization header) in its message
        span.set_status(Status(StatusCode.ERROR, redact_text(message) if message else None))
        return
    span.set_attribute("error.type", type(exc).__qualname__)
    description, exc_attributes = exception_attributes(exc)
    span.record_exception(exc, exc_attributes)
    span.set_status(Status(StatusCode.ERROR, description))


def _session_attributes(session: Any, result: Any) -> dict[str, Any]:
    attrs = transports.attributes_of(getattr(session, "_dispatcher", None))
    version = None
    try:
        version = session.protocol_version
    except Exception:
        pass
    if not isinstance(version, str) or not version:
        version = extract.protocol_version_of(result) if result is not None else None
    if version:
        attrs["mcp.protocol.version"] = version
    return attrs


async def _traced(session: Any, method: str, params: Any, call: Any) -> Any:
    from weave_agent.export import telemetry

    attrs = extract.request_attributes(method, params)
    attrs.update(extract.arguments_attribute(method, params))
    span = telemetry.tracer().start_span(extract.span_name(method, params), kind=SpanKind.CLIENT, attributes=attrs)
    token = otel_context.attach(trace.set_span_in_context(span))
    mark = _request_span.set(span)
    result = None
    try:
        result = await call()
    except BaseException as exc:
        _ended_with_error(span, exc)
        raise
    else:
        if method == extract.TOOLS_CALL:
            if extract.tool_failed(result):
                span.set_attribute("error.type", extract.TOOL_ERROR)
                span.set_status(Status(StatusCode.ERROR))
            else:
                span.set_attributes(extract.result_attribute(result))
        return result
    finally:
        try:
            span.set_attributes(_session_attributes(session, result))
        except Exception:
            pass
        _request_span.reset(mark)
        otel_context.detach(token)
        span.end()


def send_request_hook(original: Any) -> Any:
    """``ClientSession.send_request(request, result_type, ...)``."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _State.active:
            return await wrapped(*args, **kwargs)
        request = args[0] if args else kwargs.get("request")
        method = getattr(request, "method", None)
        if not isinstance(method, str):
            return await wrapped(*args, **kwargs)
        return await _traced(instance, method, getattr(request, "params", None), lambda: wrapped(*args, **kwargs))

    return wrapt.FunctionWrapper(original, wrapper)


def send_discover_hook(original: Any) -> Any:
    """``ClientSession.send_discover(version)``: ``server/discover``, which does not go
    through ``send_request``."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _State.active:
            return await wrapped(*args, **kwargs)
        return await _traced(instance, "server/discover", None, lambda: wrapped(*args, **kwargs))

    return wrapt.FunctionWrapper(original, wrapper)


def send_notification_hook(original: Any) -> Any:
    """``ClientSession.send_notification(notification)``: a CLIENT span ``{mcp.method.name}``
    (``notifications/initialized``, ``notifications/cancelled``, ...), whose context
    ``JSONRPCDispatcher.notify`` writes into ``params._meta`` (``notify_hook``): the
    server's span of the notification is its child."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not _State.active:
            return await wrapped(*args, **kwargs)
        notification = args[0] if args else kwargs.get("notification")
        method = getattr(notification, "method", None)
        if not isinstance(method, str):
            return await wrapped(*args, **kwargs)
        return await _traced(instance, method, None, lambda: wrapped(*args, **kwargs))

    return wrapt.FunctionWrapper(original, wrapper)


def notify_hook(original: Any) -> Any:
    """``JSONRPCDispatcher.notify(method, params, opts)``: the SDK injects no context into a
    notification; inside the agent's notification span, its context goes into ``params._meta``."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if _State.active and _request_span.get() is not None:
            try:
                args, kwargs = _with_context(args, kwargs)
            except Exception:
                pass
        return await wrapped(*args, **kwargs)

    return wrapt.FunctionWrapper(original, wrapper)


def _with_context(args: Any, kwargs: Any) -> tuple[Any, Any]:
    if len(args) > 1:
        params = args[1]
    else:
        params = kwargs.get("params")
    out = dict(params) if params is not None else {}
    meta = dict(out.get("_meta") or {})
    propagate.inject(meta)
    if not meta:
        return args, kwargs
    out["_meta"] = meta
    if len(args) > 1:
        return (args[0], out, *args[2:]), kwargs
    return args, {**kwargs, "params": out}


def sdk_span_hook(original: Any) -> Any:
    """``otel_span`` in ``mcp.shared.jsonrpc_dispatcher``: the SDK's CLIENT span, replaced."""

    @contextmanager
    def otel_span(name: str, *, kind: Any, attributes: dict[str, Any] | None = None, context: Any = None,
                  record_exception: bool = True, set_status_on_exception: bool = True) -> Iterator[Any]:
        if not _State.active:
            with original(name, kind=kind, attributes=attributes, context=context,
                          record_exception=record_exception, set_status_on_exception=set_status_on_exception) as span:
                yield span
            return
        ours = _request_span.get()
        if ours is not None and ours is trace.get_current_span():
            if attributes:
                ours.set_attributes(attributes)
            yield ours
            return
        # A request outside ClientSession (a server's request to its client): the agent's span.
        from weave_agent.export import telemetry

        if name.startswith(extract.SDK_SPAN_PREFIX):
            name = name[len(extract.SDK_SPAN_PREFIX):]
        span = telemetry.tracer().start_span(name, context=context, kind=kind, attributes=attributes)
        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            try:
                yield span
            except BaseException as exc:
                _ended_with_error(span, exc)
                raise

    otel_span.__wrapped_original__ = original  # type: ignore[attr-defined]
    return otel_span
