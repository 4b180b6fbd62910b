"""GenAI semantic conventions: the part of every LLM span that is not vendor knowledge.

A vendor instrumentation writes an ``Extractor`` (what the request and the response of its
SDK say); this module turns that into a span that follows the OpenTelemetry GenAI
semantic conventions of ``open-telemetry/semantic-conventions-genai`` at commit
``fe5608e249d64bc5961329a82f8915fe95ced51a``, plus the later changelog fragments
``conventions`` lists (``WEAVE_AGENT_GENAI_CONVENTIONS=v1.41`` emits the names of the last
core release instead, ``both`` both), and into the GenAI metrics:

* span ``"{gen_ai.operation.name} {gen_ai.request.model}"``, kind CLIENT, with operation,
  provider, request model, ``server.address``/``server.port`` set at start (samplers read
  them);
* response id/model/finish reasons and ``gen_ai.usage.*`` (``cache_write``, was
  ``cache_creation``) when the call (or the stream) ends; ``error.type`` and status ERROR
  on failure;
* content (``gen_ai.input.messages``, ``gen_ai.output.messages``,
  ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``) only when capture is on:
  as JSON strings on the span (``SPAN_ONLY``), and/or (``EVENT_ONLY``, ``SPAN_AND_EVENT``)
  on the conventions' event ``gen_ai.client.inference.operation.details``, an
  OpenTelemetry log record carrying the operation's attributes and the content in
  structured form, correlated with the span (``export.events``);
* the metrics (``export.genai_metrics``): ``gen_ai.client.inference.duration``, the
  token-usage counters (every inference, 0 when not reported) and per-operation
  histograms, the embeddings' own; for streams time to first chunk and one
  ``time_per_output_chunk`` point per chunk gap, with the response model (chunk times are
  kept by the stream, one clock read per chunk, and become points after it ends).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .. import faults
from ..export import events as export_events
from ..export import genai_metrics, telemetry
from . import conventions, media, streams
from .calls import Call, OpSpec, wrap_with_spec
from .serialize import to_json, to_jsonable

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"


# Framework spans (a LangChain chat-model run, ...) that wait to learn what a GenAI SDK span
# started directly under them did: span_id -> 0 nothing yet, 1 an SDK span started, 2 it
# recorded gen_ai.usage.*. "One model call, one LLM span": the usage and the token metric
# are the SDK span's when it has them, the framework span's only otherwise.
_watched: dict[int, int] = {}


def watch_for_sdk_span(span: Any) -> None:
    """Note that ``span`` (a framework's LLM span) wants to know if a GenAI SDK span starts under it."""
    _watched[span.get_span_context().span_id] = 0


def sdk_span_seen(span: Any) -> tuple[bool, bool]:
    """(a GenAI SDK span started while ``span`` was current, that span recorded usage); stops
    watching ``span``."""
    state = _watched.pop(span.get_span_context().span_id, 0)
    return state >= 1, state >= 2


def _note_sdk_span() -> int:
    if _watched:
        span_id = trace.get_current_span().get_span_context().span_id
        if span_id in _watched:
            _watched[span_id] = max(_watched[span_id], 1)
            return span_id
    return 0


class Usage:
    """Token counts as the provider reported them (None: not reported)."""

    __slots__ = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                 "reasoning_output_tokens")

    def __init__(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_input_tokens = cache_read_input_tokens
        self.cache_creation_input_tokens = cache_creation_input_tokens
        self.reasoning_output_tokens = reasoning_output_tokens

    @property
    def cache_write_input_tokens(self) -> int | None:
        """The conventions' newest name for the tokens written to the provider's cache."""
        return self.cache_creation_input_tokens

    def counts(self) -> tuple[Any, Any, Any, Any, Any]:
        """(input, output, cache read, cache write, reasoning), as reported."""
        return (self.input_tokens, self.output_tokens, self.cache_read_input_tokens,
                self.cache_creation_input_tokens, self.reasoning_output_tokens)

    def attributes(self) -> dict[str, int]:
        """``gen_ai.usage.*`` under the names ``WEAVE_AGENT_GENAI_CONVENTIONS`` chooses."""
        out = {}
        counts = self.counts()
        for attr, index in conventions.usage_attributes():
            value = counts[index]
            if isinstance(value, int) and not isinstance(value, bool):
                out[attr] = value
        return out


class Request:
    """What the extractor read from the call's inputs."""

    __slots__ = ("model", "attributes", "content", "server_address", "server_port", "provider")

    def __init__(
        self,
        model: str | None,
        attributes: Mapping[str, Any] | None = None,
        content: Mapping[str, Any] | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        provider: str | None = None,
    ) -> None:
        self.model = model
        self.attributes = attributes
        self.content = content  # attribute name -> JSON-able value (messages, instructions, tools)
        self.server_address = server_address
        self.server_port = server_port
        self.provider = provider  # overrides the extractor's provider (Azure, Bedrock, ...)


class Response:
    """What the extractor read from the output (for a stream: the accumulated output)."""

    __slots__ = ("attributes", "usage", "model", "content")

    def __init__(
        self,
        attributes: Mapping[str, Any] | None = None,
        usage: Usage | None = None,
        model: str | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> None:
        self.attributes = attributes
        self.usage = usage
        self.model = model
        self.content = content


class Extractor:
    """Vendor knowledge for one SDK method. Override ``request`` and ``response``.

    ``capture`` says whether content is wanted: build message structures only then.
    """

    operation = "chat"
    provider = "_OTHER"
    # Response attributes the metric points repeat (the provider's own, such as OpenAI's
    # service tier and system fingerprint), read from ``Response.attributes``.
    metric_attributes: tuple[str, ...] = ()

    def request(self, inputs: dict[str, Any], instance: Any, capture: bool) -> Request:
        raise NotImplementedError

    def response(self, output: Any, capture: bool) -> Response:
        raise NotImplementedError

    def error_type(self, exc: BaseException) -> str:
        return type(exc).__qualname__

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return bool(inputs.get("stream"))

    def wrap_stream(self, result: Any, call: Call, accumulator: Any) -> Any:
        """What the caller gets for a result ``is_stream`` accepted; override for SDK objects
        that only hand out their stream later (a raw HTTP response whose ``parse()`` does)."""
        return streams.wrap(result, call, accumulator)

    def partial_response(self, output: Any, capture: bool) -> Response | None:
        """What a stream that failed or ended early produced; default: as a full response."""
        return self.response(output, capture) if output is not None else None


def _encode(content: Mapping[str, Any]) -> dict[str, str]:
    limit = telemetry.settings().max_value_size
    return {k: v if isinstance(v, str) else to_json(v, limit) for k, v in content.items() if v}


def _content_mode() -> tuple[bool, bool]:
    """(on the span, on an event), from the content-capture setting."""
    mode = telemetry.settings().capture_content
    return mode in ("span_only", "span_and_event"), mode in ("event_only", "span_and_event")


class _Meta:
    """Per call: the attributes the metrics repeat, the request's attributes and content
    held for the event (None: no event), and what the stream measured."""

    __slots__ = ("metric_attributes", "event_content", "watcher", "stream")

    def __init__(self, metric_attributes: dict[str, Any], event_content: dict[str, Any] | None,
                 watcher: int = 0) -> None:
        self.metric_attributes = metric_attributes
        self.event_content = event_content
        self.watcher = watcher  # the framework span watching this call (see watch_for_sdk_span)
        self.stream: tuple[float, Any] | None = None  # (time to first chunk, chunk times)


def _structured(content: Mapping[str, Any]) -> dict[str, Any]:
    """Content as the event carries it: JSON-ready maps and lists (secrets removed, long
    strings cut), not JSON strings; a value an extractor encoded itself is decoded."""
    limit = telemetry.settings().max_value_size
    out: dict[str, Any] = {}
    for key, value in content.items():
        if not value:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                out[key] = value
                continue
        out[key] = to_jsonable(value, limit)
    return out


_CONTENT_ATTRIBUTES = (INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS, TOOL_DEFINITIONS)


def emit_content_event(span: Any, attributes: dict[str, Any]) -> None:
    """The conventions' ``gen_ai.client.inference.operation.details`` event, as a log record
    correlated with ``span``. ``attributes``: the operation's request and response
    attributes and its content; content given as JSON strings (as on a span) is decoded:
    the event carries it in structured form."""
    try:
        encoded = {k: attributes[k] for k in _CONTENT_ATTRIBUTES if isinstance(attributes.get(k), str)}
        if encoded:
            attributes = {**attributes, **_structured(encoded)}
        export_events.emit(CONTENT_EVENT, attributes, span)
    except Exception:
        from .. import _log

        _log.error_once("genai-event", "emitting the GenAI content event failed")


# Operations whose output has a finish reason.
_GENERATING = frozenset(("chat", "text_completion", "generate_content"))
FINISH_REASONS = "gen_ai.response.finish_reasons"

# Calls whose stream ended before it was exhausted (closed, left, collected, at exit),
# between ``on_stream_end`` and the ``on_end`` that follows it.
_cut_short: set[int] = set()


def _finish_with_error(response: Response | None, operation: str) -> Response | None:
    """A failed call or a stream cut short, whose model never said why it stopped: the
    conventions report ``error`` in each position of ``gen_ai.response.finish_reasons`` (and
    on each output message) whose reason is missing. Reasons that did arrive stay."""
    if operation not in _GENERATING:
        return response
    if response is None:
        response = Response()
    attrs = dict(response.attributes or {})
    content = dict(response.content) if response.content else None
    messages = content.get(OUTPUT_MESSAGES) if content is not None else None
    if isinstance(messages, list) and messages:
        fixed = [{**m, "finish_reason": "error"} if isinstance(m, dict) and not m.get("finish_reason") else m
                 for m in messages]
        assert content is not None
        content[OUTPUT_MESSAGES] = fixed
        reasons = [m.get("finish_reason") if isinstance(m, dict) else "error" for m in fixed]
        given = attrs.get(FINISH_REASONS)
        if not given or len(given) < len(reasons):
            attrs[FINISH_REASONS] = reasons
    elif not attrs.get(FINISH_REASONS):
        attrs[FINISH_REASONS] = ["error"]
    return Response(attrs, response.usage, response.model, content)


UNKNOWN_FINISH = "unknown"


def _finish_unknown(response: Response | None) -> Response | None:
    """A call that ended well but whose model said no reason for stopping (an
    OpenAI-compatible server that sends ``finish_reason: null``, an object the SDK did not
    fill): its output messages say ``unknown``, since the conventions require a reason on
    each (an open string) and ``stop`` or ``error`` would be a guess.
    ``gen_ai.response.finish_reasons`` stays as the model gave it."""
    content = response.content if response is not None else None
    messages = content.get(OUTPUT_MESSAGES) if content else None
    if not isinstance(messages, list) or all(
        not isinstance(m, dict) or m.get("finish_reason") for m in messages
    ):
        return response
    assert response is not None and content is not None
    fixed = [{**m, "finish_reason": UNKNOWN_FINISH} if isinstance(m, dict) and not m.get("finish_reason") else m
             for m in messages]
    return Response(response.attributes, response.usage, response.model, {**content, OUTPUT_MESSAGES: fixed})


class GenAISpec(OpSpec):
    """An ``OpSpec`` that records one GenAI operation through an ``Extractor``."""

    # Inside a gateway's model call (LiteLLM calling the OpenAI SDK) the gateway's span is
    # the one LLM span: this SDK span steps aside (``calls.MODEL_CALL_OWNED``).
    yields_to_owner = True

    def __init__(self, extractor: Extractor, accumulator: Any = None, name: str | None = None) -> None:
        super().__init__(name or "%s.%s" % (extractor.provider, extractor.operation), SpanKind.CLIENT, accumulator)
        self.extractor = extractor

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        ex = self.extractor
        watcher = _note_sdk_span()
        on_span, on_event = _content_mode()
        if faults.ON:
            faults.fire("extractor.request")
        req = ex.request(inputs, instance, on_span or on_event)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": ex.operation,
            "gen_ai.provider.name": req.provider or ex.provider,
        }
        if req.model:
            attrs["gen_ai.request.model"] = req.model
        if req.server_address:
            attrs["server.address"] = req.server_address
            if req.server_port:
                attrs["server.port"] = req.server_port
        metric_attrs = dict(attrs)
        if req.attributes:
            attrs.update(req.attributes)
        event_content = dict(attrs) if on_event else None  # the request's attributes, then content
        if req.content and (on_span or on_event):
            if on_span:
                attrs.update(_encode(req.content))
            if event_content is not None:
                event_content.update(_structured(req.content))
        name = "%s %s" % (ex.operation, req.model) if req.model else ex.operation
        return name, attrs, _Meta(metric_attrs, event_content, watcher)

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        if faults.ON:
            faults.fire("extractor.is_stream")
        return self.extractor.is_stream(inputs, result)

    def error_type(self, exc: BaseException) -> str:
        if faults.ON:
            faults.fire("extractor.error_type")
        return self.extractor.error_type(exc)

    def wrap_stream(self, result: Any, call: Call) -> Any:
        if faults.ON:
            faults.fire("extractor.wrap_stream")
        return self.extractor.wrap_stream(result, call, self.accumulator)

    def on_end(self, call: Call, output: Any) -> None:
        if faults.ON:
            faults.fire("extractor.response")
        cut_short = id(call) in _cut_short
        if cut_short:
            _cut_short.discard(id(call))
        response: Response | None = self.extractor.response(output, self._capture())
        if cut_short:
            response = _finish_with_error(response, self.extractor.operation)
        else:
            response = _finish_unknown(response)
        self._record(call, response, None)

    def on_error(self, call: Call, exc: BaseException, error_type: str, output: Any) -> None:
        _cut_short.discard(id(call))
        response = None
        if output is not None:
            if faults.ON:
                faults.fire("extractor.partial_response")
            response = self.extractor.partial_response(output, self._capture())
        self._record(call, _finish_with_error(response, self.extractor.operation), error_type)

    def on_stream_end(self, call: Call, state: Any, reason: str) -> None:
        if reason != streams.EXHAUSTED:
            _cut_short.add(id(call))  # on_end (called next, by the same StreamState.end) reads it
        if not state.n:
            return
        ttfc = state.first - call.started
        call.span.set_attribute("gen_ai.response.time_to_first_chunk", ttfc)
        meta: _Meta | None = call.meta
        if meta is not None:
            # Recorded by ``_record`` (called next), with the response's model: one point per
            # chunk gap, from the chunk times the stream kept.
            meta.stream = (ttfc, state.times)

    @property
    def chunk_times(self) -> bool:
        """Whether a stream of this call keeps its chunk times (with metrics on)."""
        return telemetry.instruments().enabled

    def _capture(self) -> bool:
        on_span, on_event = _content_mode()
        return on_span or on_event

    def _record(self, call: Call, response: Response | None, error_type: str | None) -> None:
        span = call.span
        meta: _Meta | None = call.meta
        usage = None
        response_model = None
        response_attrs: Mapping[str, Any] | None = None
        event = dict(meta.event_content) if meta is not None and meta.event_content is not None else None
        if response is not None:
            attrs: dict[str, Any] = dict(response.attributes or {})
            response_attrs = response.attributes
            usage = response.usage
            response_model = response.model
            if response_model:
                attrs["gen_ai.response.model"] = response_model
            if usage is not None:
                usage_attrs = usage.attributes()
                attrs.update(usage_attrs)
                if usage_attrs and meta is not None and meta.watcher in _watched:
                    _watched[meta.watcher] = 2
            if event is not None:
                event.update(attrs)  # the response's attributes (the content follows, structured)
            if response.content:
                on_span, on_event = _content_mode()
                if on_span:
                    attrs.update(_encode(response.content))
                if event is not None:
                    event.update(_structured(response.content))
            span.set_attributes(attrs)
        if event is not None and self.extractor.operation != "embeddings":
            if error_type:
                event["error.type"] = error_type
            emit_content_event(span, event)
        instruments = telemetry.instruments()
        if not instruments.enabled:
            return
        metric_attrs = self._metric_attributes(call, response_model, error_type)
        if response_attrs:
            for key in self.extractor.metric_attributes:
                value = response_attrs.get(key)
                if value is not None:
                    metric_attrs[key] = value
        kind = genai_metrics.EMBEDDINGS if self.extractor.operation == "embeddings" else genai_metrics.INFERENCE
        if kind == genai_metrics.INFERENCE and meta is not None and meta.watcher and _watched.get(meta.watcher) == 1:
            kind = genai_metrics.DURATION  # no usage here: the framework's span around it records it
        instruments.record_call(kind, perf_counter() - call.started, metric_attrs,
                                usage.counts() if usage is not None else None)
        stream = meta.stream if meta is not None else None
        if stream is not None:
            instruments.record_stream(metric_attrs, stream[0], stream[1])

    def _metric_attributes(self, call: Call, response_model: str | None, error_type: str | None) -> dict[str, Any]:
        meta: _Meta | None = call.meta
        attrs = dict(meta.metric_attributes) if meta is not None else {}
        if response_model:
            attrs["gen_ai.response.model"] = response_model
        if error_type:
            attrs["error.type"] = error_type
        return attrs


def genai_op(extractor: Extractor, accumulator: Any = None) -> Callable[[Any], Any]:
    """``make_new_value`` for a ``SymbolPatcher``: trace an SDK method as one GenAI span."""
    spec = GenAISpec(extractor, accumulator)

    def make(original: Any) -> Any:
        return wrap_with_spec(original, spec)

    return make


# --- helpers for extractors -----------------------------------------------------------


def field(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a request dict or of an SDK response model, alike. A user's dict subclass
    is read with the builtin ``dict.get``, and a property or ``__getattr__`` that raises
    reads as missing: odd request objects must not cost the call its span."""
    if isinstance(obj, dict):
        return dict.get(obj, key, default)
    try:
        return getattr(obj, key, default)
    except Exception:
        return default


def sequence(value: Any) -> list[Any] | tuple[Any, ...]:
    """A request sequence, only when it is a list or tuple: never consume a user's iterator
    (a subclass is copied with the builtin slice: its ``__iter__`` may raise or never end)."""
    t = type(value)
    if t is list or t is tuple:
        return value  # type: ignore[no-any-return]
    if isinstance(value, list):
        return list.__getitem__(value, slice(None))
    if isinstance(value, tuple):
        return tuple.__getitem__(value, slice(None))
    return ()


def server_of(url: Any) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of the URL a call goes to: a URL string or
    an httpx-style URL object (``.host``/``.port``/``.scheme``); the scheme's default port
    when none is written."""
    if isinstance(url, str):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host, port, scheme = parts.hostname, parts.port, parts.scheme
        except ValueError:
            return None, None
    else:
        host, port, scheme = getattr(url, "host", None), getattr(url, "port", None), getattr(url, "scheme", "https")
    if not host:
        return None, None
    return host, port or {"https": 443, "http": 80}.get(scheme or "https")


def stop_sequences(value: Any) -> list[str] | None:
    """``gen_ai.request.stop_sequences`` from a request's stop value: one string or a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value:
        return [str(s) for s in value]
    return None


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (``True`` is no temperature)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- the conventions' message parts -----------------------------------------------------


def text_part(content: Any) -> dict[str, Any]:
    return {"type": "text", "content": content}


def parse_arguments(arguments: Any) -> Any:
    """Tool-call arguments as the JSON object they encode; the string itself if they do not."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "id": call_id, "name": name}
    if arguments is not None:
        part["arguments"] = parse_arguments(arguments)
    return part


def as_double(value: Any) -> float | None:
    """A request's number as the conventions' double (``temperature=1`` is ``1.0``); None
    for anything that is not a number (bools included)."""
    t = type(value)
    if t is float:  # the usual cases first: this runs for every sampling key of every call
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    return float(value) if is_number(value) else None


def as_int(value: Any) -> int | None:
    """A request's count as the conventions' int: an int, or a float with no fraction
    (``max_tokens=256.0``); None otherwise."""
    t = type(value)
    if t is int or value is None:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def reasoning_part(content: Any) -> dict[str, Any]:
    return {"type": "reasoning", "content": content if isinstance(content, str) else ""}


def tool_call_response_part(call_id: Any, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": call_id if isinstance(call_id, str) else None, "response": response}


def generic_part(kind: Any, **fields: Any) -> dict[str, Any]:
    """A block no part type of the conventions fits: ``{"type": "generic", "generic_type":
    <the provider's type>, ...}`` with the fields worth keeping."""
    return {"type": "generic", "generic_type": str(kind), **fields}


def server_tool_call_part(call_id: Any, name: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A tool the provider ran itself (web search, code execution): ``name`` is the tool and
    ``payload`` its details, with a ``type`` naming the kind of call."""
    return {
        "type": "server_tool_call",
        "id": call_id if isinstance(call_id, str) else None,
        "name": str(name),
        "server_tool_call": dict(payload),
    }


def server_tool_call_response_part(call_id: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "server_tool_call_response",
        "id": call_id if isinstance(call_id, str) else None,
        "server_tool_call_response": dict(payload),
    }


def file_part(file_id: Any, modality: str, mime_type: Any = None, **extra: Any) -> dict[str, Any]:
    """A file uploaded to the provider beforehand, by its id; a generic part when the id is
    unreadable (the conventions' file part needs one)."""
    if not isinstance(file_id, str) or not file_id:
        return generic_part("file", modality=modality, **extra)
    part: dict[str, Any] = {"type": "file", "modality": modality, "file_id": file_id}
    if isinstance(mime_type, str) and mime_type:
        part["mime_type"] = mime_type
    part.update(extra)
    return part


def uri_part(uri: Any, modality: str, mime_type: Any = None) -> dict[str, Any]:
    """Media by URL; a ``data:`` URL is inline media and goes through ``media_part``
    (never the bytes on the span)."""
    if isinstance(uri, str) and uri.startswith("data:"):
        return media.data_url_part(uri, modality)
    if not isinstance(uri, str) or not uri:
        return generic_part("uri", modality=modality)
    part: dict[str, Any] = {"type": "uri", "modality": modality, "uri": uri}
    if isinstance(mime_type, str) and mime_type:
        part["mime_type"] = mime_type
    return part


def media_part(data: Any, modality: str, mime_type: Any = None, base64_encoded: bool = True,
               **extra: Any) -> dict[str, Any]:
    """Inline media (base64 by default): a ``uri`` part when uploads are configured
    (``OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH``), else a placeholder without the bytes
    (see ``weave_agent.tracing.media``)."""
    return media.media_part(data, modality, mime_type if isinstance(mime_type, str) else None, base64_encoded,
                            **extra)


def tool_definition(kind: Any, name: Any, description: Any = None, parameters: Any = None) -> dict[str, Any]:
    """An entry of ``gen_ai.tool.definitions``. A provider's built-in tool without a name
    of its own (OpenAI's ``{"type": "web_search"}``) is named for its type: the
    conventions require a name, and the type is what names that tool."""
    kind = kind if isinstance(kind, str) and kind else "function"
    entry: dict[str, Any] = {"type": kind, "name": name if isinstance(name, str) and name else kind}
    if isinstance(description, str):
        entry["description"] = description
    if isinstance(parameters, (Mapping, bool)):
        entry["parameters"] = parameters
    return entry
