"""LlamaIndex: the span and event handlers added to its root dispatcher.

The steps in flight (a process-wide map keyed by LlamaIndex's span id), their parents,
attaching and detaching a step's span as the current one, and the ends of streams. See the
docstring of ``llamaindex.py`` for the rules.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from weave_agent import _log, genai, streams
from weave_agent.export import genai_metrics, telemetry
from weave_agent.tracing.serialize import exception_attributes, to_json, to_jsonable

from . import extract as ex
from .credentials import remember_keys
from .streaming import CANCELLED, is_stream, on_collected


class _Step:
    """One traced LlamaIndex step in flight."""

    __slots__ = ("span", "ctx", "token", "kind", "instance", "started", "metric_attributes", "on_event",
                 "streaming", "first_chunk")

    def __init__(self, span: Any, ctx: Any, kind: str, instance: Any) -> None:
        self.span = span
        self.ctx = ctx  # the context attached while the step runs (its span current)
        self.token: Any = None
        self.kind = kind
        self.instance = instance
        self.started = perf_counter()
        self.metric_attributes: dict[str, Any] | None = None
        self.on_event: dict[str, Any] | None = None
        self.streaming = False
        self.first_chunk = False


_steps: dict[str, _Step] = {}
_skipped: dict[str, str | None] = {}  # an untraced dispatcher span -> its parent's id
_lock = threading.Lock()
_MAX_SKIPPED = 65536


def _guard(site: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        _log.error_once("llamaindex:" + site, "recording the LlamaIndex %s failed", site)


def _parent(parent_id: str | None) -> _Step | None:
    for _ in range(256):
        if parent_id is None:
            return None
        step = _steps.get(parent_id)
        if step is not None:
            return step
        if parent_id not in _skipped:
            return None
        parent_id = _skipped[parent_id]
    return None


def _detach(step: _Step) -> None:
    """Detach the step's context if it is the current one (and, above it, any stream's whose
    first chunk has not come: an outer step ending first); otherwise leave it."""
    with _lock:
        if step.token is None:
            return
        for _ in range(64):
            current = otel_context.get_current()
            if current is step.ctx:
                _reset(step)
                return
            above = next((s for s in _steps.values() if s.ctx is current and s.token is not None and s.streaming),
                         None)
            if above is None or not _reset(above):
                return


def _reset(step: _Step) -> bool:
    token, step.token = step.token, None
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            return False  # another context's token: nothing to undo here
        return True
    if token is not None:
        otel_context.detach(token)
    return True


def _end_error(span: Any, error: BaseException) -> str:
    error_type = type(error).__qualname__
    span.set_attribute("error.type", error_type)
    description, exc_attributes = exception_attributes(error)
    span.record_exception(error, exc_attributes)
    span.set_status(Status(StatusCode.ERROR, description))
    return error_type


def _record_metrics(step: _Step, response_model: str | None, error_type: str | None,
                    usage: genai.Usage | None, duration: bool) -> None:
    instruments = telemetry.instruments()
    if not instruments.enabled:
        return
    attrs = dict(step.metric_attributes or {})
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if error_type:
        attrs["error.type"] = error_type
    counts = usage.counts() if usage is not None else None
    if duration:  # no SDK span under this step: the step is the model call
        instruments.record_call(genai_metrics.INFERENCE, perf_counter() - step.started, attrs, counts)
    else:  # the SDK span recorded the call's duration and left its usage to this step
        instruments.record_call(genai_metrics.USAGE, None, attrs, counts)


class SpanHandler:
    """Opens the agent's span for each LlamaIndex step worth one, and ends it.

    Duck-typed, not a ``BaseSpanHandler``: the dispatcher only calls these methods (its
    list of handlers is not validated), and building a pydantic model class at import
    cost ~25 ms of LlamaIndex's start-up. Nothing is kept in ``open_spans``: the steps
    are this module's."""

    def __init__(self) -> None:
        self.open_spans: dict[str, Any] = {}  # read by Dispatcher.shutdown: always empty

    def span_enter(self, id_: str, bound_args: Any, instance: Any = None, parent_id: str | None = None,
                   tags: dict[str, Any] | None = None, **kwargs: Any) -> None:
        _guard("span start", _start, id_, bound_args, instance, parent_id)

    def span_exit(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any) -> None:
        _guard("span end", _exit, id_, result)

    def span_drop(self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None,
                  **kwargs: Any) -> None:
        _guard("span error", _drop, id_, err)

    def capture_propagation_context(self) -> dict[str, Any]:
        return {}

    def restore_propagation_context(self, context: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


class EventHandler:
    """Reads the events that end a stream (and the first chunk, which detaches its span).
    Duck-typed like ``SpanHandler``."""

    def handle(self, event: Any, **kwargs: Any) -> None:
        span_id = getattr(event, "span_id", None)
        if span_id is None or span_id not in _steps:
            return
        _guard("event", _event, span_id, event)

    async def ahandle(self, event: Any, **kwargs: Any) -> None:
        self.handle(event, **kwargs)


def span_handler() -> SpanHandler:
    return SpanHandler()


def event_handler() -> EventHandler:
    return EventHandler()


# --- starting a step ---------------------------------------------------------------------


def _start(id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
    method = ex.method_of(id_)
    kind = ex.classify(instance, method)
    parent = _parent(parent_id)
    if kind in (ex.LLM, ex.EMBEDDING) and parent is not None and parent.instance is instance \
            and parent.kind == kind:
        kind = None  # the same model's public method called by another (chat -> complete)
    if kind is None:
        with _lock:
            _skipped[id_] = parent_id
            if len(_skipped) > _MAX_SKIPPED:  # a span whose exit never came
                _skipped.pop(next(iter(_skipped)))
        return
    arguments = dict(getattr(bound_args, "arguments", None) or {})
    name, span_kind, attrs, attach = _describe(kind, method, instance, arguments)
    parent_ctx = parent.ctx if parent is not None else otel_context.get_current()
    span = telemetry.tracer().start_span(name, context=parent_ctx, kind=span_kind, attributes=attrs)
    ctx = trace.set_span_in_context(span, parent_ctx)
    step = _Step(span, ctx, kind, instance)
    if kind == ex.LLM:
        step.metric_attributes = {k: attrs[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name",
                                                           "gen_ai.request.model") if k in attrs}
        _content(step, arguments, attrs)
        genai.watch_for_sdk_span(span)
    elif kind == ex.EMBEDDING:
        genai.watch_for_sdk_span(span)
    with _lock:
        _steps[id_] = step
        if attach:
            step.token = otel_context.attach(ctx)


def _describe(kind: str, method: str, instance: Any, arguments: dict[str, Any]
              ) -> tuple[str, SpanKind, dict[str, Any], bool]:
    """(span name, kind, attributes, whether the span is made current while the step runs)."""
    capture = ex.capture()
    if kind == ex.LLM:
        remember_keys(instance)
        operation = "text_completion" if "complete" in method else "chat"
        model = ex.llm_model(instance)
        attrs = ex.llm_request(instance, operation, model, "stream" in method)
        return ("%s %s" % (operation, model) if model else operation), SpanKind.CLIENT, attrs, True
    if kind == ex.EMBEDDING:
        remember_keys(instance)
        model = ex.embedding_model(instance)
        attrs = {"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": ex.provider(instance)}
        if model:
            attrs["gen_ai.request.model"] = model
        return ("embeddings %s" % model if model else "embeddings"), SpanKind.CLIENT, attrs, True
    if kind == ex.RETRIEVAL:
        attrs = {"gen_ai.operation.name": "retrieval", "llama_index.retriever.name": type(instance).__name__}
        query = arguments.get("str_or_query_bundle")
        text = getattr(query, "query_str", query)
        if capture and isinstance(text, str):
            attrs["gen_ai.retrieval.query.text"] = text
        return "retrieval", SpanKind.INTERNAL, attrs, True
    if kind == ex.TOOL:
        attrs = ex.tool_attributes(instance)
        if capture:
            call_args = {k: v for k, v in arguments.items() if k not in ("self",)}
            extra = call_args.pop("kwargs", None)
            if isinstance(extra, dict):
                call_args.update(extra)
            attrs["gen_ai.tool.call.arguments"] = to_json(call_args, ex.limit())
        return "execute_tool %s" % attrs["gen_ai.tool.name"], SpanKind.INTERNAL, attrs, True
    if kind in (ex.AGENT, ex.WORKFLOW):
        name, attrs = ex.agent_attributes(kind, instance)
        if capture:
            message = arguments.get("user_msg")
            if message is None:
                message = (arguments.get("kwargs") or {}).get("user_msg")
            if message is not None:
                attrs["input.value"] = to_json(getattr(message, "content", message), ex.limit())
        # run() returns a future, ended in its callback: never current in the caller.
        return name, SpanKind.INTERNAL, attrs, False
    name = "%s.%s" % (type(instance).__name__, method.lstrip("a") if method.startswith("a") else method)
    attrs = {"llama_index.step": name}
    if capture:
        query = arguments.get("str_or_query_bundle", arguments.get("query", arguments.get("message")))
        query = getattr(query, "query_str", query)
        if isinstance(query, str):
            attrs["input.value"] = query
    return name, SpanKind.INTERNAL, attrs, True


def _content(step: _Step, arguments: dict[str, Any], attrs: dict[str, Any]) -> None:
    on_span, on_event = ex.content_mode()
    if not (on_span or on_event):
        return
    content: dict[str, Any] = {}
    messages = ex.input_messages(arguments)
    if messages is not None:
        content[genai.INPUT_MESSAGES] = to_json(messages, ex.limit())
    tools = (arguments.get("kwargs") or {}).get("tools")
    if isinstance(tools, list) and tools:
        defs = [genai.tool_definition("function", t.get("function", {}).get("name"),
                                      t.get("function", {}).get("description"),
                                      t.get("function", {}).get("parameters"))
                for t in tools if isinstance(t, dict)]
        if defs:
            content[genai.TOOL_DEFINITIONS] = to_json(defs, ex.limit())
    if on_span:
        step.span.set_attributes(content)
    if on_event:
        step.on_event = {**attrs, **content}


# --- ending a step -----------------------------------------------------------------------


def _pop(id_: str) -> _Step | None:
    with _lock:
        step = _steps.pop(id_, None)
        if step is None:
            _skipped.pop(id_, None)
    return step


def _exit(id_: str, result: Any) -> None:
    step = _steps.get(id_)
    if step is None:
        _skipped.pop(id_, None)
        return
    if step.kind == ex.LLM and is_stream(result):
        # Returned, not consumed: the end comes as an event (see streaming.py).
        step.streaming = True
        on_collected(result, lambda: _guard("stream collected", _collected, id_))
        telemetry.before_exit(end_open_streams)
        return
    _pop(id_)
    _detach(step)
    _finish(step, result, None)


def _drop(id_: str, err: BaseException | None) -> None:
    step = _pop(id_)
    if step is None:
        return
    _detach(step)
    _finish(step, None, err)


def _collected(id_: str, reason: str = streams.GARBAGE_COLLECTED) -> None:
    step = _pop(id_)
    if step is None:
        return
    _detach(step)
    step.span.set_attributes({"weave_agent.stream.end_reason": reason, "weave_agent.stream.complete": False})
    _finish_llm(step, None, None)


def end_open_streams() -> None:
    """At interpreter exit (before the agent's last flush): end every stream still open."""
    for id_ in [i for i, s in list(_steps.items()) if s.streaming]:
        _guard("stream at exit", _collected, id_, streams.INTERPRETER_EXIT)


def _event(id_: str, event: Any) -> None:
    step = _steps.get(id_)
    if step is None or not step.streaming:
        return
    name = type(event).__name__
    if name in ("LLMChatInProgressEvent", "LLMCompletionInProgressEvent"):
        if not step.first_chunk:
            step.first_chunk = True
            # The SDK call has nested under the step by now: between chunks the consumer
            # sees its own current span again.
            _detach(step)
        return
    if name in ("LLMChatEndEvent", "LLMCompletionEndEvent"):
        if _pop(id_) is None:
            return
        _detach(step)
        step.span.set_attributes({"weave_agent.stream.end_reason": streams.EXHAUSTED,
                                  "weave_agent.stream.complete": True})
        _finish(step, getattr(event, "response", None), None)
    elif name == "ExceptionEvent":
        if _pop(id_) is None:
            return
        _detach(step)
        error = getattr(event, "exception", None)
        if isinstance(error, GeneratorExit):  # the app stopped reading: an early end
            step.span.set_attributes({"weave_agent.stream.end_reason": streams.CLOSED,
                                      "weave_agent.stream.complete": False})
            _finish_llm(step, None, None)
        elif isinstance(error, asyncio.CancelledError):  # the consuming task was cancelled
            step.span.set_attributes({"weave_agent.stream.end_reason": CANCELLED,
                                      "weave_agent.stream.complete": False})
            _finish_llm(step, None, error)
        else:
            step.span.set_attributes({"weave_agent.stream.end_reason": streams.ERROR,
                                      "weave_agent.stream.complete": False})
            _finish(step, None, error if isinstance(error, BaseException) else RuntimeError(str(error)))


def _finish(step: _Step, result: Any, err: BaseException | None) -> None:
    span = step.span
    if step.kind == ex.LLM:
        _finish_llm(step, result, err)
        return
    if err is not None:
        _end_error(span, err)
        if step.kind == ex.EMBEDDING:
            genai.sdk_span_seen(span)
        span.end()
        return
    capture = ex.capture()
    if step.kind == ex.EMBEDDING:
        genai.sdk_span_seen(span)
        vectors = result if isinstance(result, list) else []
        if vectors and isinstance(vectors[0], list):
            span.set_attribute("gen_ai.embeddings.dimension.count", len(vectors[0]))
        elif vectors and isinstance(vectors[0], float):
            span.set_attribute("gen_ai.embeddings.dimension.count", len(vectors))
    elif step.kind == ex.RETRIEVAL:
        docs = ex.documents(result)
        span.set_attribute("gen_ai.retrieval.documents.count", len(docs))
        if capture:
            span.set_attribute("gen_ai.retrieval.documents", to_json(docs, ex.limit()))
    elif step.kind == ex.TOOL:
        failed = ex.tool_error(result)
        if failed:
            span.set_attribute("error.type", failed)
            span.set_status(Status(StatusCode.ERROR, str(ex.tool_result(result))[:200]))
        if capture:
            span.set_attribute("gen_ai.tool.call.result", to_json(to_jsonable(ex.tool_result(result), ex.limit()),
                                                                  ex.limit()))
    elif capture and step.kind in (ex.AGENT, ex.WORKFLOW):
        output = getattr(result, "result", None)
        output = getattr(output, "response", output)
        output = getattr(output, "content", output)
        if output is not None:
            span.set_attribute("output.value", to_json(output, ex.limit()))
    elif capture:
        text = getattr(result, "response", None)
        if isinstance(text, str):
            span.set_attribute("output.value", text)
    span.end()


def _finish_llm(step: _Step, response: Any, err: BaseException | None) -> None:
    span = step.span
    sdk_span, sdk_usage = genai.sdk_span_seen(span)
    error_type = None
    attrs: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    response_model = None
    if err is not None:
        error_type = _end_error(span, err)
        attrs["gen_ai.response.finish_reasons"] = ["error"]
    elif response is not None:
        attrs, out, response_model = ex.response_attributes(response)
    usage = None if sdk_usage or response is None else ex.usage(response)
    if usage is not None:
        attrs.update(usage.attributes())
    on_span, on_event = ex.content_mode()
    if out and on_span:
        attrs[genai.OUTPUT_MESSAGES] = to_json(out, ex.limit())
    span.set_attributes(attrs)
    if step.on_event is not None:
        event = {**step.on_event, **{k: v for k, v in attrs.items() if k != genai.OUTPUT_MESSAGES}}
        if out:
            event[genai.OUTPUT_MESSAGES] = to_json(out, ex.limit())
        genai.emit_content_event(span, event)
    if not sdk_usage:
        _record_metrics(step, response_model, error_type, usage, duration=not sdk_span)
    span.end()
