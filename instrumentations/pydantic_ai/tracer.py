"""The tracer the agent's Pydantic AI settings hold: the agent's, handing Pydantic AI thin span wrappers.

Pydantic AI's spans go through the agent's pipeline unchanged but for what it leaves out or
writes otherwise:

* ``error.type`` on a span it marks ERROR (it sets none): the class name of the exception
  it recorded (``model_call.py`` puts the provider's HTTP status on a ``chat`` span first);
* exception messages, stack traces and status descriptions redacted like the agent's own
  spans (``weave_agent.tracing.serialize.exception_attributes``, ``secrets.scrub``);
* the messages in the conventions' schema (``content.py``), and with the agent's content
  capture off no message structure at all;
* ``gen_ai.response.finish_reasons: [error]`` on a ``chat`` span whose model never said why
  it stopped (no answer, or a stream cut short).

Imported at the first run (``native.agent_settings``), not with Pydantic AI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.tracing.secrets import scrub
from weave_agent.tracing.serialize import exception_attributes

from . import content, extract


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


class TracerProvider(trace.TracerProvider):
    """What ``InstrumentationSettings(tracer_provider=...)`` asks its tracer of."""

    def __init__(self, include_content: bool) -> None:
        self._content = include_content

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _Tracer(telemetry.tracer(), self._content)
