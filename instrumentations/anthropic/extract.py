"""Anthropic: what the SDK's requests and responses say, in GenAI terms.

Request attributes and content (the conventions' message parts, tool definitions), the
response of a call and of a finished stream, usage and finish reasons, and
``MessagesExtractor`` with the spec that pairs it with a stream accumulator. Read by
``anthropic.py``, which says where each one is patched.
"""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry.trace import Status, StatusCode

from weave_agent.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    GenAISpec,
    Request,
    Response,
    Usage,
    as_double,
    as_int,
    file_part,
    generic_part,
    media_part,
    reasoning_part,
    server_of,
    server_tool_call_part,
    server_tool_call_response_part,
    stop_sequences,
    tool_call_response_part,
    tool_definition,
    uri_part,
)
from weave_agent.genai import field as _get
from weave_agent.genai import sequence as _seq
from weave_agent.genai import text_part as _text
from weave_agent.tracing.serialize import exception_attributes

from .credentials import remember as _remember_credentials
from .streaming import _Acc, _acc_parts, _snapshot, _stream_classes, _stream_request_id

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}


# --- small helpers -------------------------------------------------------------------------


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finish(reason: Any) -> str | None:
    if not isinstance(reason, str) or not reason:
        return None
    return _FINISH.get(reason, reason)


# --- the client: provider and address ------------------------------------------------------


_providers: dict[type, str] = {}


def _provider(client: Any) -> str:
    cls = type(client)
    provider = _providers.get(cls)
    if provider is None:
        for klass in cls.__mro__:
            module = getattr(klass, "__module__", "") or ""
            if module.startswith("anthropic.lib.bedrock"):
                provider = "aws.bedrock"
                break
            if module.startswith("anthropic.lib.vertex"):
                provider = "gcp.vertex_ai"
                break
        if provider is None:
            named = getattr(cls, "_gen_ai_provider_name", None)
            provider = named if isinstance(named, str) and named else "anthropic"
        _providers[cls] = provider
    return provider


def _request(model: Any, attrs: dict[str, Any], content: dict[str, Any] | None, instance: Any) -> Request:
    client = getattr(instance, "_client", None)
    address = port = provider = None
    if client is not None:
        _remember_credentials(client)  # scrubbed from what is exported, should the server echo them
        provider = _provider(client)
        address, port = server_of(getattr(client, "base_url", None))
    return Request(model if isinstance(model, str) else None, attrs, content, address, port, provider)


# --- requests ------------------------------------------------------------------------------


def _media(block: Any, modality: str) -> dict[str, Any]:
    """An image or a document: its URL, its file id, or its data through ``media_part``
    (uploaded, or a placeholder: never the base64 body on the span)."""
    source = _get(block, "source")
    kind = _get(source, "type") if source is not None else None
    if kind == "url":
        return uri_part(_get(source, "url"), modality)
    if kind == "file":
        return file_part(_get(source, "file_id"), modality)
    mime = _get(source, "media_type") if source is not None else None
    data = _get(source, "data") if source is not None else None
    if kind == "content" or not isinstance(data, str):  # a document made of content blocks
        return generic_part(_block_type(block), modality=modality)
    return media_part(data, modality, mime, base64_encoded=kind == "base64")


def _block_type(block: Any) -> str:
    kind = _get(block, "type")
    return kind if isinstance(kind, str) and kind else "unknown"


def _tool_result(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    parts = [_in_part(block) for block in _seq(content)]
    return [p for p in parts if p]


def _in_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, str):
        return _text(block)
    kind = _get(block, "type")
    if kind == "text":
        return _text(_get(block, "text"))
    if kind == "image":
        return _media(block, "image")
    if kind == "document":
        return _media(block, "document")
    if kind == "tool_result":
        return tool_call_response_part(_get(block, "tool_use_id"), _tool_result(_get(block, "content")))
    return _out_part(block)


def _out_part(block: Any) -> dict[str, Any] | None:
    kind = _get(block, "type")
    if kind == "text":
        return _text(_get(block, "text"))
    if kind == "thinking":
        return reasoning_part(_get(block, "thinking"))
    if kind == "tool_use":
        return {
            "type": "tool_call",
            "id": _get(block, "id"),
            "name": _get(block, "name"),
            "arguments": _get(block, "input"),
        }
    if kind in ("server_tool_use", "mcp_tool_use"):
        # A tool Anthropic runs (web_search, code_execution) or an MCP server's tool: the
        # call's details keyed by the tool, as the conventions' server_tool_call holds them.
        name = _get(block, "name")
        name = name if isinstance(name, str) and name else kind
        payload: dict[str, Any] = {"type": name if kind == "server_tool_use" else kind, "input": _get(block, "input")}
        server = _get(block, "server_name")
        if isinstance(server, str):
            payload["server_name"] = server
        return server_tool_call_part(_get(block, "id"), name, payload)
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        payload = {"type": kind}
        if _get(block, "is_error") is True:
            payload["is_error"] = True
        return server_tool_call_response_part(_get(block, "tool_use_id"), payload)
    if kind == "redacted_thinking" or not isinstance(kind, str):
        return None
    return generic_part(kind)


def _in_message(message: Any) -> dict[str, Any] | None:
    role = _get(message, "role")
    if not isinstance(role, str) or not role:
        return None  # unreadable: the conventions' messages need a role
    content = _get(message, "content")
    if isinstance(content, str):
        parts = [_text(content)]
    else:
        parts = [p for p in (_in_part(block) for block in _seq(content)) if p]
    return {"role": role, "parts": parts}


def _tool_definition(tool: Any) -> dict[str, Any]:
    kind = _get(tool, "type")
    if kind in (None, "custom"):
        return tool_definition("function", _get(tool, "name"), _get(tool, "description") or None,
                               _get(tool, "input_schema"))
    return tool_definition(kind, _get(tool, "name"))


def _request_content(inputs: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    system = inputs.get("system")
    if isinstance(system, str):
        content[SYSTEM_INSTRUCTIONS] = [_text(system)]
    else:
        parts = [_text(_get(b, "text")) for b in _seq(system) if _get(b, "type") == "text"]
        if parts:
            content[SYSTEM_INSTRUCTIONS] = parts
    messages = [m for m in (_in_message(m) for m in _seq(inputs.get("messages"))) if m is not None]
    if messages:
        content[INPUT_MESSAGES] = messages
    tools = [_tool_definition(t) for t in _seq(inputs.get("tools"))]
    if tools:
        content[TOOL_DEFINITIONS] = tools
    return content


def _output_type(inputs: dict[str, Any]) -> str | None:
    if isinstance(inputs.get("output_format"), type):
        return "json"
    fmt = _get(inputs.get("output_config"), "format")
    if fmt is not None and _get(fmt, "type") == "json_schema":
        return "json"
    return None


# --- responses -----------------------------------------------------------------------------


def _usage(inp: Any, out: Any, cache_read: Any, cache_write: Any, thinking: Any) -> Usage | None:
    if not _int(inp) and not _int(out):
        return None
    total = None
    if _int(inp):
        total = inp + (cache_read if _int(cache_read) else 0) + (cache_write if _int(cache_write) else 0)
    return Usage(
        total,
        out if _int(out) else None,
        cache_read if _int(cache_read) else None,
        cache_write if _int(cache_write) else None,
        thinking if _int(thinking) else None,
    )


def _message_usage(usage: Any, complete: bool) -> Usage | None:
    if usage is None:
        return None
    details = getattr(usage, "output_tokens_details", None)
    return _usage(
        getattr(usage, "input_tokens", None),
        # A stream cut before message_delta only has message_start's placeholder count.
        getattr(usage, "output_tokens", None) if complete else None,
        getattr(usage, "cache_read_input_tokens", None),
        getattr(usage, "cache_creation_input_tokens", None),
        getattr(details, "thinking_tokens", None) if details is not None else None,
    )


def _out_message(parts: list[Any], finish: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish:
        message["finish_reason"] = finish
    return message


def _response(
    rid: Any, model: Any, stop_reason: Any, usage: Usage | None, parts: list[Any] | None, request_id: Any = None
) -> Response:
    attrs: dict[str, Any] = {}
    if isinstance(rid, str) and rid:
        attrs["gen_ai.response.id"] = rid
    if isinstance(request_id, str) and request_id:
        attrs["anthropic.request.id"] = request_id  # the `request-id` header, as the SDK's own spans name it
    finish = _finish(stop_reason)
    if finish:
        attrs["gen_ai.response.finish_reasons"] = [finish]
    content = {OUTPUT_MESSAGES: [_out_message(parts, finish)]} if parts is not None else None
    return Response(attrs, usage, model if isinstance(model, str) else None, content)


def _message_response(message: Any, capture: bool, complete: bool = True, request_id: Any = None) -> Response:
    if getattr(message, "type", None) != "message":  # e.g. a raw response (with_raw_response)
        return Response()
    if request_id is None:
        request_id = getattr(message, "_request_id", None)
    stop_reason = getattr(message, "stop_reason", None)
    complete = complete or stop_reason is not None
    parts = None
    if capture:
        parts = [p for p in (_out_part(block) for block in getattr(message, "content", None) or ()) if p]
    return _response(
        getattr(message, "id", None),
        getattr(message, "model", None),
        stop_reason,
        _message_usage(getattr(message, "usage", None), complete),
        parts,
        request_id,
    )


# --- the response of a stream, from its accumulator ----------------------------------------


def _acc_response(acc: _Acc, capture: bool) -> Response:
    source = acc.source
    if source is not None and not isinstance(source, _stream_classes()):
        snapshot = _snapshot(source)
        if snapshot is not None:
            return _message_response(snapshot, capture, complete=False, request_id=_stream_request_id(source))
        return Response()
    complete = acc.delta_seen
    counts = acc.usage
    usage = _usage(counts[0], counts[1] if complete else None, counts[2], counts[3], counts[4])
    parts = _stream_parts(acc) if capture and acc.capture else None
    request_id = _stream_request_id(source) if source is not None else None
    return _response(acc.id, acc.model, acc.stop_reason, usage, parts, request_id)


_STREAM_PARTS = frozenset(("text", "reasoning", "tool_call"))


def _stream_parts(acc: _Acc) -> list[Any]:
    """The accumulated blocks as the conventions' parts: what the accumulator knows of a
    server tool's call (its name and input) in the server_tool_call's payload, and blocks
    no part type fits as generic parts."""
    parts: list[Any] = []
    for part in _acc_parts(acc):
        kind = part.get("type")
        if kind in _STREAM_PARTS:
            parts.append(part)
        elif kind == "server_tool_call":
            name = part.get("name")
            name = name if isinstance(name, str) and name else "server_tool_use"
            parts.append(server_tool_call_part(part.get("id"), name, {"type": name, "input": part.get("arguments")}))
        elif isinstance(kind, str) and kind.endswith("_tool_result"):
            parts.append(server_tool_call_response_part(None, {"type": kind}))
        else:
            parts.append(generic_part(kind))
    return parts


# --- the extractor and the spec ------------------------------------------------------------


class MessagesExtractor(Extractor):
    """``messages.create`` / ``stream`` / ``parse`` (first-party and beta)."""

    operation = "chat"
    provider = "anthropic"

    def __init__(self, method: str) -> None:
        self.method = method  # "create", "stream" or "parse"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        max_tokens = as_int(inputs.get("max_tokens"))
        if max_tokens is not None:
            attrs["gen_ai.request.max_tokens"] = max_tokens
        extra = inputs.get("extra_body")
        for key, read in (("temperature", as_double), ("top_p", as_double), ("top_k", as_int)):
            value = read(inputs.get(key))
            if value is None and isinstance(extra, dict):
                value = read(dict.get(extra, key))
            if value is not None:
                attrs["gen_ai.request." + key] = value
        stop = stop_sequences(inputs.get("stop_sequences"))
        if stop:
            attrs["gen_ai.request.stop_sequences"] = stop
        if self.method == "stream" or (self.method == "create" and inputs.get("stream") is True):
            attrs["gen_ai.request.stream"] = True  # only when streaming: unset means it does not
        output_type = _output_type(inputs)
        if output_type:
            attrs["gen_ai.output.type"] = output_type
        content = _request_content(inputs) if capture else None
        return _request(inputs.get("model"), attrs, content, instance)

    def response(self, output: Any, capture: bool) -> Response:
        if isinstance(output, _Acc):
            return _acc_response(output, capture)
        return _message_response(output, capture)

    def error_type(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool) and not 200 <= status < 300:
            return str(status)
        kind = getattr(exc, "type", None)  # an `error` event inside a 200 stream: "overloaded_error"
        if isinstance(kind, str) and kind:
            return kind
        return type(exc).__qualname__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        if self.method == "stream":
            cls = type(result)
            return hasattr(cls, "__enter__") or hasattr(cls, "__aenter__")
        return isinstance(result, _stream_classes())


def _is_api_error(exc: BaseException) -> bool:
    from anthropic import APIError

    return isinstance(exc, APIError)


class _Spec(GenAISpec):
    def on_stream_end(self, call: Any, state: Any, reason: str) -> None:
        acc = state.state
        if isinstance(acc, _Acc):
            acc.source = state.source  # the entered MessageStream of stream(), or the raw Stream
            if reason == "exited":
                # text_stream/until_done() read the SDK's iterator, not our proxy: an error
                # event mid-stream reaches us only as the exception leaving the with block
                # (being handled while the manager's __exit__ runs).
                exc = sys.exc_info()[1]
                if exc is not None and _is_api_error(exc):
                    acc.error = exc
        super().on_stream_end(call, state, reason)

    def on_end(self, call: Any, output: Any) -> None:
        exc = output.error if isinstance(output, _Acc) else None
        if exc is None:
            super().on_end(call, output)
            return
        span = call.span
        error_type = self.error_type(exc)
        span.set_attribute("error.type", error_type)
        description, exc_attributes = exception_attributes(exc)  # secret shapes removed
        span.record_exception(exc, exc_attributes)
        span.set_status(Status(StatusCode.ERROR, description))
        self.on_error(call, exc, error_type, output)
