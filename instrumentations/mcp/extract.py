"""MCP: what a request, its result and its failure say in the MCP semantic conventions' terms.

Pure functions over the method name, the request's params (a dict on the wire and in the
server's middleware, a pydantic model in ``ClientSession``) and the result (a dict or the
SDK's ``CallToolResult``); nothing here imports the SDK. Used by both sides: the client
span the agent makes (``client_span.py``) and the SDK's server span it enriches
(``server_span.py``).
"""

from __future__ import annotations

from typing import Any

# The agent's telemetry and serializer are imported at the first call, not here: this module
# loads when ``mcp`` is imported, and a process that never makes an MCP call should not pay
# for them (about 10 ms).


def field(obj: Any, key: str) -> Any:
    """``key`` of a wire dict or an attribute of the SDK's model."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def to_json(value: Any, limit: int) -> str:
    from weave_agent.tracing.serialize import to_json as encode

    return encode(value, limit)

TOOLS_CALL = "tools/call"
PROMPTS_GET = "prompts/get"
# Requests whose params carry a resource URI (``mcp.resource.uri``, conditionally required).
RESOURCE_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})
TOOL_ERROR = "tool_error"  # error.type of a CallToolResult with isError (the conventions' value)
SDK_SPAN_PREFIX = "MCP send "  # the SDK's own client span names: "MCP send tools/call add"


def capture() -> bool:
    from weave_agent.export import telemetry

    return telemetry.settings().capture_content != "no_content"


def _limit() -> int:
    from weave_agent.export import telemetry

    return telemetry.settings().max_value_size


def target(method: str, params: Any) -> str | None:
    """The low-cardinality target of the span name: the tool's or the prompt's name."""
    if method != TOOLS_CALL and method != PROMPTS_GET:
        return None
    name = field(params, "name") if params is not None else None
    return name if isinstance(name, str) and name else None


def span_name(method: str, params: Any) -> str:
    """``{mcp.method.name} {target}``, or the method alone (never the resource URI)."""
    name = target(method, params)
    return "%s %s" % (method, name) if name else method


def request_attributes(method: str, params: Any) -> dict[str, Any]:
    """The attributes known before the request is sent (samplers read them at span start)."""
    attrs: dict[str, Any] = {"mcp.method.name": method}
    name = target(method, params)
    if method == TOOLS_CALL:
        attrs["gen_ai.operation.name"] = "execute_tool"
        if name:
            attrs["gen_ai.tool.name"] = name
    elif method == PROMPTS_GET and name:
        attrs["gen_ai.prompt.name"] = name
    elif method in RESOURCE_METHODS and params is not None:
        uri = field(params, "uri")
        if uri is not None:
            attrs["mcp.resource.uri"] = str(uri)
    return attrs


def arguments_attribute(method: str, params: Any) -> dict[str, Any]:
    """``gen_ai.tool.call.arguments`` (opt-in content) for a tool call, as JSON."""
    if method != TOOLS_CALL or params is None or not capture():
        return {}
    arguments = field(params, "arguments")
    if arguments is None:
        return {}
    return {"gen_ai.tool.call.arguments": to_json(arguments, _limit())}


def tool_failed(result: Any) -> bool:
    """A ``CallToolResult`` with ``isError`` (the model, or its wire form)."""
    if result is None:
        return False
    if isinstance(result, dict):
        return result.get("isError") is True
    # the model's own field name first: a miss goes through pydantic's slow __getattr__
    value = getattr(result, "is_error", None)
    if value is None:
        value = getattr(result, "isError", None)
    return value is True


def result_attribute(result: Any) -> dict[str, Any]:
    """``gen_ai.tool.call.result`` (opt-in content): the structured content when the tool
    gave one, else its content blocks, as JSON. Only for a successful call."""
    if result is None or not capture() or tool_failed(result):
        return {}
    if isinstance(result, dict):
        value = result.get("structuredContent")
        content = result.get("content")
    else:  # the SDK's model (its field names; a miss would take pydantic's slow path)
        value = getattr(result, "structured_content", None)
        content = getattr(result, "content", None)
    if value is None:
        if isinstance(content, (list, tuple)):
            value = [_block(b) for b in content]
    if value is None:
        return {}
    return {"gen_ai.tool.call.result": to_json(value, _limit())}


def _block(block: Any) -> Any:
    """One content block as plain data (the wire dict, or the SDK's model dumped by alias)."""
    if isinstance(block, dict):
        return block
    dump = getattr(block, "model_dump", None)
    if dump is not None:
        try:
            return dump(by_alias=True, mode="json", exclude_none=True)
        except Exception:
            pass
    return str(block)


def protocol_version_of(result: Any) -> str | None:
    """The version an ``initialize`` result names (before the session adopted it)."""
    value = field(result, "protocolVersion") if isinstance(result, dict) else getattr(result, "protocol_version", None)
    return value if isinstance(value, str) and value else None


def error_code(exc: BaseException) -> str | None:
    """The JSON-RPC error code of an ``MCPError`` (``"-32602"``), else None."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    return None


def error_message(exc: BaseException) -> str | None:
    message = getattr(getattr(exc, "error", None), "message", None)
    return message if isinstance(message, str) else None
