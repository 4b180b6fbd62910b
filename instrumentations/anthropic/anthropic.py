"""Anthropic SDK (``anthropic`` >= 2, < 3): what its requests and responses say, in GenAI terms.

Patched, sync and async, one span per model call (``chat {model}``, CLIENT):

* ``Messages.create`` / ``AsyncMessages.create`` in ``anthropic.resources.messages.messages``
  (plain, and ``stream=True``: the returned ``Stream``/``AsyncStream`` is proxied and its
  events rebuilt into the output: text, thinking, tool_use input from ``input_json_delta``);
* ``Messages.stream`` (the context-manager helper). It does not call ``create``: it builds
  the request and the manager sends it on ``__enter__``/``__aenter__``. The span starts when
  ``stream()`` is called and ends when the manager exits (or when the events are read to
  the end through the entered stream). Its output is read from the entered
  ``MessageStream``'s own snapshot, because ``text_stream``/``until_done()``/
  ``get_final_message()`` read the SDK's inner iterator, not our proxy;
* ``Messages.parse`` (posts by itself, never streams);
* the same three in ``anthropic.resources.beta.messages.messages``, and the beta
  ``Messages`` classes of Bedrock and Vertex, which copy the first-party functions into
  their own class bodies.

``AnthropicBedrock``/``AnthropicVertex`` use the first-party ``Messages``; the provider name
comes from the client (``aws.bedrock``, ``gcp.vertex_ai``, else ``anthropic``) and
``server.address``/``server.port`` from its ``base_url``.

The SDK's own OpenTelemetry spans (``anthropic._tracing``, scope ``com.anthropic.sdk.python``,
on by default whenever a TracerProvider exists). One model call must make one LLM span:

* the client's construction is observed (``BaseClient._set_open_telemetry``, and
  ``_copy_open_telemetry`` so that ``with_options`` copies inherit it): a client *chose*
  the SDK's tracing when it was given an ``open_telemetry`` option, or when the
  environment had ``ANTHROPIC_OPEN_TELEMETRY`` (or ``..._TRACES_CONTENT_MODE``) at
  construction;
* on each call the wrapper reads the client's resolved option. SDK spans off: the agent
  traces. On and chosen: the wrapper calls through untraced (one debug line per process),
  having set the agent's pipeline up so that the SDK's spans reach its TracerProvider.
  On and not chosen: the agent switches them off on that client in place (its private
  ``_set_open_telemetry`` with ``traces.enabled = False``, everything else, such as
  ``propagation``, kept) and traces the call itself.

A client built before the agent patched (no construction record) counts as having chosen
when the environment variable is set or its option differs from the defaults in a
tracing field (``tracer_provider``, ``conversation_id``, ``content_mode=content``).

Errors: ``error.type`` is the HTTP status (``"400"``, ``"529"``) when the exception has one,
the API's error type for an ``error`` event inside a 200 stream (``"overloaded_error"``),
else the class name. An SDK error leaving a ``stream()`` block (read through
``text_stream``, which bypasses our proxy) makes the span an ERROR too; an app's own
exception there does not. Raw responses (``with_raw_response``) are the app's to read: their
span has the request attributes only.

An SDK whose ``Messages``/``AsyncMessages`` lack ``create`` or ``stream`` is declined with
one debug line; optional targets that are missing are listed in one debug line.
Per call the extractors read attributes (no ``model_dump``); content is built only when
capture is on; image and document bytes never leave (placeholders with type and size).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import wrapt
from opentelemetry.trace import Status, StatusCode

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.hook.patcher import MultiPatcher, SymbolPatcher
from weave_agent.tracing.calls import wrap_with_spec
from weave_agent.tracing.genai import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Extractor,
    GenAISpec,
    Request,
    Response,
    Usage,
    server_of,
    stop_sequences,
)
from weave_agent.tracing.genai import field as _get
from weave_agent.tracing.genai import is_number as _num
from weave_agent.tracing.genai import sequence as _seq
from weave_agent.tracing.genai import text_part as _text
from weave_agent.tracing.serialize import exception_attributes
from weave_agent.tracing.streams import Accumulator

MESSAGES_MODULE = "anthropic.resources.messages.messages"
BETA_MODULE = "anthropic.resources.beta.messages.messages"
BASE_CLIENT_MODULE = "anthropic._base_client"
PLATFORM_BETA_MODULES = ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages")

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}
_CHOSEN = "_weave_agent_otel_chosen"  # on a client: whether the app chose the SDK's own tracing
_ENV_CHOICES = ("ANTHROPIC_OPEN_TELEMETRY", "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE")


class _State:
    active = False  # the patch is applied: wrappers that outlive an undo call through
    stream_classes: tuple[type, ...] | None = None


# --- small helpers ------------------------------------------------------------------





def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finish(reason: Any) -> str | None:
    if not isinstance(reason, str) or not reason:
        return None
    return _FINISH.get(reason, reason)



def _stream_classes() -> tuple[type, ...]:
    classes = _State.stream_classes
    if classes is None:
        from anthropic._streaming import AsyncStream, Stream

        classes = _State.stream_classes = (Stream, AsyncStream)
    return classes


# --- the client: provider, address, the SDK's own tracing -----------------------------

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
        provider = _provider(client)
        address, port = server_of(getattr(client, "base_url", None))
    return Request(model if isinstance(model, str) else None, attrs, content, address, port, provider)


class _Marked(dict):  # type: ignore[type-arg]
    """An ``open_telemetry`` option the agent passes to the SDK, with whether the app chose it."""

    __slots__ = ("chosen",)

    def __init__(self, options: dict[str, Any], chosen: bool) -> None:
        super().__init__(options)
        self.chosen = chosen


def _env_chosen() -> bool:
    return any(name in os.environ for name in _ENV_CHOICES)


def _inferred_choice(options: Any) -> bool:
    """For a client constructed before the agent patched: did the app choose the SDK's tracing?"""
    if _env_chosen():
        return True
    if not isinstance(options, dict):
        return False
    traces = options.get("traces")
    content_mode = traces.get("content_mode") if isinstance(traces, dict) else None
    return "tracer_provider" in options or "conversation_id" in options or content_mode == "content"


def _choice_of(option: Any) -> bool:
    if isinstance(option, _Marked):
        return option.chosen
    if option is None:
        return _env_chosen()
    return True


def _set_open_telemetry_hook(original: Any) -> Any:
    """``BaseClient._set_open_telemetry``: remember whether this client's option was a choice."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            option = args[0] if args else kwargs.get("open_telemetry")
            instance.__dict__[_CHOSEN] = _choice_of(option)
        except Exception:
            pass
        return wrapped(*args, **kwargs)

    return wrapt.FunctionWrapper(original, wrapper)


def _copy_open_telemetry_hook(original: Any) -> Any:
    """``BaseClient._copy_open_telemetry``: a copy given no option inherits the original's choice."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            option = args[0] if args else kwargs.get("open_telemetry")
            if option is None and type(result) is dict:
                chosen = instance.__dict__.get(_CHOSEN)
                if chosen is None:
                    chosen = _inferred_choice(getattr(instance, "_open_telemetry", None))
                return _Marked(result, bool(chosen))
        except Exception:
            pass
        return result

    return wrapt.FunctionWrapper(original, wrapper)


def _take_over(client: Any, options: dict[str, Any]) -> bool:
    """The client's SDK spans are on: True if the agent may trace (it switched them off)."""
    try:
        chosen = client.__dict__.get(_CHOSEN)
        if chosen is None:
            chosen = _inferred_choice(options)
        if chosen:
            # The agent's pipeline (its global TracerProvider, unless the app has one) is set
            # up by the first span; here the SDK's spans are the first.
            telemetry.tracer()
            _log.debug_once(
                "anthropic:sdk-tracing-chosen",
                "anthropic: the app chose the SDK's own OpenTelemetry spans (ANTHROPIC_OPEN_TELEMETRY or the "
                "client's open_telemetry option); the agent adds no span of its own to those clients' calls",
            )
            return False
        setter = getattr(client, "_set_open_telemetry", None)
        traces = options.get("traces")
        if setter is not None and isinstance(traces, dict):
            setter(_Marked({**options, "traces": {**traces, "enabled": False}}, False))
            if client._open_telemetry["traces"]["enabled"] is False:
                return True
    except Exception:
        pass
    _log.debug_once(
        "anthropic:sdk-tracing-kept",
        "anthropic: the SDK's own OpenTelemetry spans could not be switched off on a client; "
        "its calls keep them and the agent adds none",
    )
    return False


def _traced(resource: Any) -> bool:
    """Whether the agent records this call (one model call, one LLM span)."""
    if not _State.active:
        return False
    client = getattr(resource, "_client", None)
    try:
        options = client._open_telemetry  # type: ignore[union-attr]
        enabled = options["traces"]["enabled"]
    except Exception:
        return True  # a client without the SDK's own tracing
    if not enabled:
        return True
    return _take_over(client, options)


# --- requests -------------------------------------------------------------------------


def _media(block: Any, modality: str) -> dict[str, Any]:
    """A placeholder for an image or a document: never its base64 body."""
    source = _get(block, "source")
    kind = _get(source, "type") if source is not None else None
    if kind == "url":
        url = _get(source, "url")
        if isinstance(url, str) and not url.startswith("data:"):
            return {"type": "uri", "modality": modality, "uri": url}
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": _get(source, "file_id")}
    part: dict[str, Any] = {"type": "blob", "modality": modality}
    mime = _get(source, "media_type") if source is not None else None
    if isinstance(mime, str):
        part["mime_type"] = mime
    data = _get(source, "data") if source is not None else None
    if isinstance(data, str):
        part["size"] = len(data) * 3 // 4 if kind == "base64" else len(data)
    return part


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
        return {
            "type": "tool_call_response",
            "id": _get(block, "tool_use_id"),
            "response": _tool_result(_get(block, "content")),
        }
    return _out_part(block)


def _out_part(block: Any) -> dict[str, Any] | None:
    kind = _get(block, "type")
    if kind == "text":
        return _text(_get(block, "text"))
    if kind == "thinking":
        return {"type": "reasoning", "content": _get(block, "thinking")}
    if kind == "tool_use":
        return {
            "type": "tool_call",
            "id": _get(block, "id"),
            "name": _get(block, "name"),
            "arguments": _get(block, "input"),
        }
    if kind in ("server_tool_use", "mcp_tool_use"):
        return {
            "type": "server_tool_call",
            "id": _get(block, "id"),
            "name": _get(block, "name"),
            "arguments": _get(block, "input"),
        }
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        return {"type": "server_tool_call_response", "id": _get(block, "tool_use_id")}
    if kind == "redacted_thinking" or not isinstance(kind, str):
        return None
    return {"type": kind}


def _in_message(message: Any) -> dict[str, Any]:
    content = _get(message, "content")
    if isinstance(content, str):
        parts = [_text(content)]
    else:
        parts = [p for p in (_in_part(block) for block in _seq(content)) if p]
    return {"role": _get(message, "role"), "parts": parts}


def _tool_definition(tool: Any) -> dict[str, Any]:
    kind = _get(tool, "type")
    name = _get(tool, "name")
    if kind in (None, "custom"):
        definition: dict[str, Any] = {"type": "function", "name": name}
        description = _get(tool, "description")
        if description:
            definition["description"] = description
        schema = _get(tool, "input_schema")
        if schema is not None:
            definition["parameters"] = schema
        return definition
    return {"type": kind, "name": name}


def _request_content(inputs: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    system = inputs.get("system")
    if isinstance(system, str):
        content[SYSTEM_INSTRUCTIONS] = [_text(system)]
    else:
        parts = [_text(_get(b, "text")) for b in _seq(system) if _get(b, "type") == "text"]
        if parts:
            content[SYSTEM_INSTRUCTIONS] = parts
    messages = [_in_message(m) for m in _seq(inputs.get("messages"))]
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


# --- responses ------------------------------------------------------------------------


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


# --- streams ----------------------------------------------------------------------------


class _Acc:
    """A stream's events so far (``create(stream=True)``), or, for ``stream()``, the entered
    ``MessageStream`` whose own snapshot is read when the span ends (``source``)."""

    __slots__ = ("id", "model", "stop_reason", "usage", "blocks", "capture", "source", "delta_seen", "error")

    def __init__(self) -> None:
        self.id: Any = None
        self.model: Any = None
        self.stop_reason: Any = None
        self.usage: list[Any] = [None, None, None, None, None]  # input, output, cache read, write, thinking
        self.blocks: dict[int, list[Any]] = {}  # index -> [type, pieces, id, name, input at start]
        self.capture = telemetry.settings().capture_content != "no_content"
        self.source: Any = None
        self.delta_seen = False
        self.error: BaseException | None = None  # an SDK error that left the stream() manager's block


def _take_usage(acc: _Acc, usage: Any) -> None:
    if usage is None:
        return
    counts = acc.usage
    for i, name in enumerate(
        ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    ):
        value = getattr(usage, name, None)
        if value is not None:
            counts[i] = value
    details = getattr(usage, "output_tokens_details", None)
    if details is not None:
        thinking = getattr(details, "thinking_tokens", None)
        if thinking is not None:
            counts[4] = thinking


def _step(acc: _Acc, event: Any) -> _Acc:
    kind = event.type
    if kind == "content_block_delta":
        if acc.capture:
            block = acc.blocks.get(event.index)
            if block is not None:
                delta = event.delta
                dkind = delta.type
                if dkind == "text_delta":
                    block[1].append(delta.text)
                elif dkind == "input_json_delta":
                    block[1].append(delta.partial_json)
                elif dkind == "thinking_delta":
                    block[1].append(delta.thinking)
        return acc
    if kind == "message_start":
        message = event.message
        acc.id = message.id
        acc.model = message.model
        _take_usage(acc, message.usage)
    elif kind == "content_block_start":
        if acc.capture:
            block = event.content_block
            btype = block.type
            pieces: list[str] = []
            if btype == "text" and block.text:
                pieces.append(block.text)
            elif btype == "thinking" and block.thinking:
                pieces.append(block.thinking)
            acc.blocks[event.index] = [
                btype,
                pieces,
                getattr(block, "id", None),
                getattr(block, "name", None),
                getattr(block, "input", None),
            ]
    elif kind == "message_delta":
        acc.delta_seen = True
        stop = event.delta.stop_reason
        if stop:
            acc.stop_reason = stop
        _take_usage(acc, event.usage)
    return acc


def _arguments(pieces: list[str], initial: Any) -> Any:
    if not pieces:
        return initial
    raw = "".join(pieces)
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # cut mid-stream: what arrived


def _acc_parts(acc: _Acc) -> list[Any]:
    parts: list[Any] = []
    for index in sorted(acc.blocks):
        btype, pieces, bid, name, initial = acc.blocks[index]
        if btype == "text":
            parts.append(_text("".join(pieces)))
        elif btype == "thinking":
            parts.append({"type": "reasoning", "content": "".join(pieces)})
        elif btype == "tool_use":
            parts.append({"type": "tool_call", "id": bid, "name": name, "arguments": _arguments(pieces, initial)})
        elif btype in ("server_tool_use", "mcp_tool_use"):
            parts.append(
                {"type": "server_tool_call", "id": bid, "name": name, "arguments": _arguments(pieces, initial)}
            )
        elif btype != "redacted_thinking":
            parts.append({"type": btype})
    return parts


def _snapshot(source: Any) -> Any:
    """The message a ``MessageStream`` accumulated, or None."""
    read = getattr(source, "_current_snapshot_or_none", None)
    if read is not None:
        return read()
    if hasattr(type(source), "current_message_snapshot"):
        try:
            return source.current_message_snapshot
        except AssertionError:  # nothing received yet
            return None
    return None


def _stream_request_id(source: Any) -> Any:
    try:
        return source.response.headers.get("request-id")
    except Exception:
        return None


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
    parts = _acc_parts(acc) if capture and acc.capture else None
    request_id = _stream_request_id(source) if source is not None else None
    return _response(acc.id, acc.model, acc.stop_reason, usage, parts, request_id)


# --- the extractor and the spec -----------------------------------------------------------


class MessagesExtractor(Extractor):
    """``messages.create`` / ``stream`` / ``parse`` (first-party and beta)."""

    operation = "chat"
    provider = "anthropic"

    def __init__(self, method: str) -> None:
        self.method = method  # "create", "stream" or "parse"

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        attrs: dict[str, Any] = {}
        max_tokens = inputs.get("max_tokens")
        if _int(max_tokens):
            attrs["gen_ai.request.max_tokens"] = max_tokens
        extra = inputs.get("extra_body")
        for key in ("temperature", "top_p", "top_k"):
            value = inputs.get(key)
            if not _num(value) and isinstance(extra, dict):
                value = extra.get(key)
            if _num(value):
                attrs["gen_ai.request." + key] = value
        stop = stop_sequences(inputs.get("stop_sequences"))
        if stop:
            attrs["gen_ai.request.stop_sequences"] = stop
        if self.method == "stream":
            attrs["gen_ai.request.stream"] = True
        else:
            attrs["gen_ai.request.stream"] = self.method == "create" and inputs.get("stream") is True
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


_RAW_STREAM = Accumulator(_step, None, _Acc, batched=True)
_HELPER_STREAM = Accumulator(None, None, _Acc)  # the MessageStream accumulates; read at the end


def _make(method: str, is_async: bool) -> Any:
    """``make_new_value``: the SDK method behind a gate that decides, per call, whether the
    agent records it (see the module docstring)."""
    accumulator = {"create": _RAW_STREAM, "stream": _HELPER_STREAM}.get(method)
    spec = _Spec(MessagesExtractor(method), accumulator)
    spec.name = "anthropic.messages." + method

    def make(original: Any) -> Any:
        parent = getattr(original, "_self_parent", None)
        if parent is not None and getattr(parent, "_self_weave_gate", False):
            return original  # a class body copied our wrapper while we were patched
        # (``async def`` under the SDK's synchronous ``required_args`` decorator needs
        # nothing here: op traces the coroutine such a call returns until it completes.)
        traced = wrap_with_spec(original, spec)._self_wrapper

        def gate(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if instance is None or not _traced(instance):
                return wrapped(*args, **kwargs)
            return traced(wrapped, instance, args, kwargs)

        new = wrapt.FunctionWrapper(original, gate)
        new._self_weave_spec = spec  # type: ignore[attr-defined]
        # Marks the wrapper as ours on the wrapper itself (a copy made by a class body is
        # recognised through its parent): a registry of them would grow with every patch.
        new._self_weave_gate = True  # type: ignore[attr-defined]
        return new

    return make


# --- the patcher ------------------------------------------------------------------------------


class _Target:
    __slots__ = ("module", "path", "patcher", "required", "imports")

    def __init__(self, module: str, path: str, make: Any, required: bool, imports: bool = True) -> None:
        self.module = module
        self.path = path
        self.required = required
        # A module we do not import ourselves is patched only if already imported (if it is
        # imported later, its class body copies the patched first-party functions).
        self.imports = imports
        self.patcher = SymbolPatcher(lambda: importlib.import_module(module), path, make)

    def present(self) -> bool | None:
        """True/False; None for a module we do not import that is not (fully) imported yet."""
        if not self.imports:
            module = sys.modules.get(self.module)
            if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
                return None
        try:
            obj: Any = importlib.import_module(self.module)
            for part in self.path.split("."):
                obj = getattr(obj, sys.intern(part))  # a fresh name would stay in the type cache
        except Exception:
            return False
        return True

    def __repr__(self) -> str:
        return "%s.%s" % (self.module, self.path)


class AnthropicPatcher(MultiPatcher):
    """Every target, required or optional. Declines (one debug line) when a required one is
    missing; patches the optional ones that exist and lists the others in one debug line."""

    def __init__(self, targets: list[_Target]) -> None:
        super().__init__([t.patcher for t in targets])
        self.targets = targets

    def attempt_patch(self) -> bool:
        present = [(t, t.present()) for t in self.targets]
        missing = [t for t, ok in present if t.required and ok is not True]
        if missing:
            _log.debug("anthropic: unknown SDK structure (missing %s): not patched", ", ".join(map(repr, missing)))
            return False
        ok = True
        skipped = []
        for target, exists in present:
            if not exists:
                if exists is False:
                    skipped.append(repr(target))
                continue
            try:
                ok = target.patcher.attempt_patch() and ok
            except Exception:
                _log.error_once("patch:%r" % (target,), "anthropic: patching %r raised", target)
                ok = False
        if skipped:
            _log.debug("anthropic: not in this SDK version, left unpatched: %s", ", ".join(skipped))
        _State.active = True
        return ok

    def undo_patch(self) -> bool:
        _State.active = False
        ok = True
        for target in reversed(self.targets):
            if not target.patcher.patched:
                continue
            try:
                ok = target.patcher.undo_patch() and ok
            except Exception:
                _log.error_once("undo:%r" % (target,), "anthropic: undoing %r raised", target)
                ok = False
        return ok


def _targets() -> list[_Target]:
    targets = []
    for module, required in ((MESSAGES_MODULE, True), (BETA_MODULE, False)):
        for cls, is_async in (("Messages", False), ("AsyncMessages", True)):
            for method in ("create", "stream", "parse"):
                needed = required and method != "parse"
                targets.append(_Target(module, "%s.%s" % (cls, method), _make(method, is_async), needed))
    for module in PLATFORM_BETA_MODULES:
        for cls, is_async in (("Messages", False), ("AsyncMessages", True)):
            for method in ("create", "stream", "parse"):
                targets.append(_Target(module, "%s.%s" % (cls, method), _make(method, is_async), False, False))
    targets.append(_Target(BASE_CLIENT_MODULE, "BaseClient._set_open_telemetry", _set_open_telemetry_hook, False))
    targets.append(_Target(BASE_CLIENT_MODULE, "BaseClient._copy_open_telemetry", _copy_open_telemetry_hook, False))
    return targets


anthropic_patcher = AnthropicPatcher(_targets())
