"""Pydantic AI's own instrumentation, turned on for the app's agents and sent to the agent's pipeline.

Pydantic AI records agent runs (``invoke_agent {agent}``), model requests (``chat {model}``)
and tool calls (``execute_tool {tool}``) with OpenTelemetry itself when an agent is
instrumented (``Agent(instrument=...)``, ``Agent.instrument_all()``, an ``Instrumentation``
capability, an ``InstrumentedModel``). Each run resolves its settings through
``Agent._resolve_instrumentation_settings``, which the agent wraps:

* **the user did not choose** (the agent's ``instrument`` left at ``None`` and
  ``Agent.instrument_all`` never called): the run gets the agent's settings, made here:
  a tracer of the agent's pipeline, no meter (the agent records its own GenAI metrics from
  the ``chat`` span, ``model_call.py``), content included when the agent's capture setting
  puts content on spans, Pydantic AI's data format 6 (tool results under ``role: tool``, as
  the conventions pair them; 5 on releases before it), run totals under ``gen_ai.aggregated_usage.*`` (never
  ``gen_ai.usage.*``: the ``chat`` spans carry each call's usage once);
* **the user chose** (``instrument=False``, ``instrument=True``, their own
  ``InstrumentationSettings``, ``instrument_all(...)`` with anything): what they chose,
  untouched. An explicit ``Instrumentation`` capability or ``InstrumentedModel`` never
  reaches this method's answer (Pydantic AI prefers them).

Either way the pipeline is set up there, before Pydantic AI opens its first span: spans
made through the global API before the agent's provider exists would be dropped. A
process that imports Pydantic AI and never runs an agent pays nothing.

The tracer the agent's settings hold wraps each span (``_Span``) only to add what Pydantic
AI leaves out or writes otherwise: ``error.type`` on a span it marks ERROR, the agent's
redaction of exception messages and status descriptions, the messages in the conventions'
schema (``content.py``), and no message structure at all with capture off.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.tracing.secrets import scrub
from weave_agent.tracing.serialize import exception_attributes

from . import content, extract

FORMAT_VERSION: Final = 6
FALLBACK_FORMAT_VERSION: Final = 5


class _State:
    active = False  # patched (the wrappers call straight through once undone)
    user_chose = False  # the app called Agent.instrument_all
    settings: Any = None  # the agent's InstrumentationSettings, for ``settings_key``
    settings_key: Any = None


def is_ours(settings: Any) -> bool:
    return settings is not None and settings is _State.settings


class _Span(Span):
    """A span of Pydantic AI's, with ``error.type`` set when it goes ERROR."""

    __slots__ = ("_span", "_error_type", "_content", "_answer")

    def __init__(self, span: Span, include_content: bool) -> None:
        self._span = span
        self._error_type: str | None = None
        self._content = include_content
        self._answer: str | None = None  # the output messages Pydantic AI wrote, before any rewriting

    def _note(self, key: str, value: Any) -> None:
        if key == content.OUTPUT_MESSAGES and isinstance(value, str):
            self._answer = value

    def __getattr__(self, name: str) -> Any:  # attributes, name, ...: the SDK span's
        return getattr(self._span, name)

    def end(self, end_time: int | None = None) -> None:
        try:
            attributes = getattr(self._span, "attributes", None) or {}
            if (attributes.get("gen_ai.operation.name") == "chat" and content.FINISH_REASONS not in attributes
                    and (self._answer is None or '"finish_reason"' not in self._answer)):
                # no answer, or a stream cut short: the model never said why it stopped
                self._span.set_attribute(content.FINISH_REASONS, ["error"])
        except Exception:
            _log.error_once("pydantic_ai:end", "completing a Pydantic AI span failed")
        self._span.end(end_time)

    def get_span_context(self) -> Any:
        return self._span.get_span_context()

    def set_attributes(self, attributes: Any) -> None:
        if attributes and content.OUTPUT_MESSAGES in attributes:
            self._note(content.OUTPUT_MESSAGES, attributes[content.OUTPUT_MESSAGES])
        self._span.set_attributes(conform(attributes, self._content))

    def set_attribute(self, key: str, value: Any) -> None:
        if key in content.CONTENT:
            self._note(key, value)
            if not self._content:
                return
            if key in content.MESSAGE_ATTRIBUTES:
                value = content.conventional(value, key == content.OUTPUT_MESSAGES)
        self._span.set_attribute(key, value)

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        if name == "exception":
            self._error_type = extract.error_type_from_event(attributes) or self._error_type
        self._span.add_event(name, attributes, timestamp)

    def add_link(self, context: Any, attributes: Any = None) -> None:
        self._span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self._span.update_name(name)

    def is_recording(self) -> bool:
        return self._span.is_recording()

    def set_status(self, status: Any, description: str | None = None) -> None:
        try:
            code = status.status_code if isinstance(status, Status) else status
            if code is StatusCode.ERROR and self._span.is_recording():
                if isinstance(status, Status) and status.description:
                    status = Status(StatusCode.ERROR, scrub(status.description))
                elif description:
                    description = scrub(description)
                if "error.type" not in (getattr(self._span, "attributes", None) or {}):
                    self._span.set_attribute("error.type", self._error_type or "_OTHER")
        except Exception:
            _log.error_once("pydantic_ai:status", "adding error.type to a Pydantic AI span failed")
        self._span.set_status(status, description)

    def record_exception(self, exception: BaseException, attributes: Any = None, timestamp: int | None = None,
                         escaped: bool = False) -> None:
        self._error_type = type(exception).__name__
        extra: dict[str, Any] = {}
        try:
            extra = exception_attributes(exception)[1]  # message and stack with secrets removed
        except Exception:
            _log.error_once("pydantic_ai:exception", "redacting a Pydantic AI exception failed")
        if attributes:
            extra.update(attributes)
        self._span.record_exception(exception, extra, timestamp, escaped)


def conform(attributes: Any, include_content: bool) -> Any:
    """``attributes`` without content (capture off) or with its messages conventional."""
    if not attributes or content.CONTENT.isdisjoint(attributes):
        return attributes
    if not include_content:
        return {k: v for k, v in attributes.items() if k not in content.CONTENT}
    return {k: content.conventional(v, k == content.OUTPUT_MESSAGES) if k in content.MESSAGE_ATTRIBUTES else v
            for k, v in attributes.items()}


class _Tracer(trace.Tracer):
    """The agent's tracer, handing Pydantic AI ``_Span``s."""

    def __init__(self, tracer: trace.Tracer, include_content: bool) -> None:
        self._tracer = tracer
        self._content = include_content

    def start_span(self, name: str, context: Any = None, kind: Any = trace.SpanKind.INTERNAL, attributes: Any = None,
                   links: Any = None, start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> Span:
        attributes = conform(attributes, self._content)
        return _Span(self._tracer.start_span(name, context, kind, attributes, links, start_time,
                                             record_exception, set_status_on_exception), self._content)

    # The API's own context-manager decorator is private: a plain one, hence the ignore.
    @contextlib.contextmanager
    def start_as_current_span(self, name: str, context: Any = None, kind: Any = trace.SpanKind.INTERNAL,  # type: ignore[override]
                              attributes: Any = None, links: Any = None, start_time: int | None = None,
                              record_exception: bool = True, set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time,
                               record_exception, set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


class _TracerProvider(trace.TracerProvider):
    """What ``InstrumentationSettings(tracer_provider=...)`` asks its tracer of."""

    def __init__(self, include_content: bool) -> None:
        self._content = include_content

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _Tracer(telemetry.tracer(), self._content)


def _include_content() -> bool:
    return telemetry.settings().capture_content in ("span_only", "span_and_event")


def agent_settings() -> Any:
    """The agent's ``InstrumentationSettings``, made again when the pipeline or the
    capture setting changed (tests switch providers)."""
    key = (telemetry.tracer(), _include_content())
    settings = _State.settings
    if settings is not None and _State.settings_key == key:
        return settings
    import inspect

    from opentelemetry.metrics import NoOpMeterProvider
    from pydantic_ai.models.instrumented import InstrumentationSettings

    accepted = inspect.signature(InstrumentationSettings.__init__).parameters
    options: dict[str, Any] = {
        "tracer_provider": _TracerProvider(key[1]),
        "meter_provider": NoOpMeterProvider(),
        "include_content": key[1],
        "include_binary_content": False,
        "include_model_request_parameters": key[1],  # 2.x releases before it always record it: dropped by _Span
        "use_aggregated_usage_attribute_names": True,
    }
    options = {name: value for name, value in options.items() if name in accepted}
    try:
        settings = InstrumentationSettings(**options, version=FORMAT_VERSION)
    except ValueError:  # a release before format 6: tool results under role user
        settings = InstrumentationSettings(**options, version=FALLBACK_FORMAT_VERSION)
    _State.settings, _State.settings_key = settings, key
    return settings


def _user_chose(agent: Any) -> bool:
    if _State.user_chose or getattr(agent, "_instrument", None) is not None:
        return True
    return getattr(type(agent), "_instrument_default", False) is not False


def wrap_resolve(original: Any) -> Any:
    @functools.wraps(original)
    def _resolve_instrumentation_settings(self: Any) -> Any:
        if _State.active:
            try:
                telemetry.tracer()  # the pipeline, before Pydantic AI's first span
                if not _user_chose(self):
                    return agent_settings()
            except Exception:
                _log.error_once("pydantic_ai:settings", "turning Pydantic AI's instrumentation on failed")
        return original(self)

    return _resolve_instrumentation_settings


def wrap_instrument_all(original: Any) -> Any:
    function = original.__func__ if isinstance(original, staticmethod) else original

    @functools.wraps(function)
    def instrument_all(*args: Any, **kwargs: Any) -> Any:
        if _State.active:
            _State.user_chose = True
            _log.debug_once("pydantic_ai:instrument_all", "pydantic_ai: the app called Agent.instrument_all: "
                            "its agents keep the instrumentation it chose")
        return function(*args, **kwargs)

    return staticmethod(instrument_all) if isinstance(original, staticmethod) else instrument_all
