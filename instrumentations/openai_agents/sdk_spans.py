"""OpenAI Agents SDK: the SDK's own steps, followed through its span objects.

The SDK opens a span object for every step it takes (``SpanImpl`` when its tracing is on,
``NoOpSpan`` when ``OPENAI_AGENTS_DISABLE_TRACING``, ``set_tracing_disabled(True)`` or
``RunConfig(tracing_disabled=True)`` turned it off) and calls ``start``/``finish``/
``set_error`` on it from the code path of the step, whether or not anything records it.
Wrapping those methods (not registering a ``TracingProcessor``) means:

* the app's switches keep meaning exactly what the SDK documents, for the SDK's traces:
  nothing is added to, removed from or re-enabled in the SDK's tracing, and no trace goes
  anywhere it did not go before;
* our spans do not depend on them: a run with the SDK's tracing off is traced the same.

The SDK marks a step's span current with a ``contextvars`` variable of its own, in the task
that runs the step (tools run in tasks of their own; ``start`` and ``finish`` run in that
task). Our span is made the current OpenTelemetry context at the same moment, in the same
context, and detached at ``finish`` only while that context is still current (a generator
finalized from another task leaves it alone): the OpenAI SDK call an agent step makes, or
a tool's own calls, nest under it, in asyncio tasks too, since a task copies the context it
is created in.

Open spans are kept by ``id`` of the SDK span (its classes have ``__slots__``, no weak
references) with a strong reference to it, so an id is not reused while open; a span the
SDK never finishes is dropped past ``_MAX_OPEN``.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.tracing.serialize import exception_attributes

from . import extract

_MAX_OPEN = 4096


class _Open:
    __slots__ = ("sdk_span", "kind", "span", "ctx", "token", "error")

    def __init__(self, sdk_span: Any, kind: str, span: Any, ctx: Any) -> None:
        self.sdk_span = sdk_span
        self.kind = kind
        self.span = span
        self.ctx = ctx
        self.token: Any = None
        self.error: BaseException | None = None


_open: dict[int, _Open] = {}
_lock = threading.Lock()


def reset(token: Any) -> bool:
    """Undo an attach through the token's own variable: a token from another ``Context``
    is refused (nothing detached, nothing logged)."""
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            return False
        return True
    otel_context.detach(token)
    return True


def end_with_error(span: Any, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__qualname__)
    description, attributes = exception_attributes(error)  # secret shapes removed
    span.record_exception(error, attributes)
    span.set_status(Status(StatusCode.ERROR, description))


def on_start(sdk_span: Any, mark_as_current: bool) -> None:
    kind = extract.kind_of(sdk_span.span_data)
    if kind is None:
        return
    name, attrs = extract.start(kind, sdk_span.span_data)
    parent = otel_context.get_current()
    span = telemetry.tracer().start_span(name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs)
    ctx = trace.set_span_in_context(span, parent)
    record = _Open(sdk_span, kind, span, ctx)
    if mark_as_current:
        record.token = otel_context.attach(ctx)
    with _lock:
        _open[id(sdk_span)] = record
        while len(_open) > _MAX_OPEN:
            _open.pop(next(iter(_open)))


def on_error(sdk_span: Any, error: Any) -> None:
    record = _open.get(id(sdk_span))
    if record is None or record.sdk_span is not sdk_span:
        return
    record.span.set_attribute("error.type", extract.error_type(error))
    record.span.set_status(Status(StatusCode.ERROR, extract.error_message(error)))


def on_exit(sdk_span: Any, exc: BaseException | None) -> None:
    """A ``with`` block around the step ended with ``exc``: the span records it at finish."""
    if exc is None or isinstance(exc, GeneratorExit):
        return
    record = _open.get(id(sdk_span))
    if record is not None and record.sdk_span is sdk_span:
        record.error = exc


def on_finish(sdk_span: Any) -> None:
    with _lock:
        record = _open.get(id(sdk_span))
        if record is None or record.sdk_span is not sdk_span:
            return
        del _open[id(sdk_span)]
    span = record.span
    if record.token is not None and otel_context.get_current() is record.ctx:
        reset(record.token)
    name, attrs = extract.end(record.kind, sdk_span.span_data)
    if name:
        span.update_name(name)
    if attrs:
        span.set_attributes(attrs)
    if record.error is not None:
        end_with_error(span, record.error)
    span.end()


def _guard(site: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        _log.error_once("openai_agents:" + site, "recording the OpenAI Agents SDK %s failed", site)


# --- the wrappers SymbolPatcher installs on SpanImpl and NoOpSpan ------------------------


def wrap_start(original: Any) -> Any:
    def start(self: Any, mark_as_current: bool = False) -> Any:
        started = getattr(self, "started_at", None) is not None
        result = original(self, mark_as_current)
        if not started:
            _guard("step start", on_start, self, mark_as_current)
        return result

    start.__wrapped__ = original  # type: ignore[attr-defined]
    return start


def wrap_finish(original: Any) -> Any:
    def finish(self: Any, reset_current: bool = False) -> None:
        _guard("step end", on_finish, self)
        return original(self, reset_current)  # type: ignore[no-any-return]

    finish.__wrapped__ = original  # type: ignore[attr-defined]
    return finish


def wrap_set_error(original: Any) -> Any:
    def set_error(self: Any, error: Any) -> None:
        _guard("step error", on_error, self, error)
        return original(self, error)  # type: ignore[no-any-return]

    set_error.__wrapped__ = original  # type: ignore[attr-defined]
    return set_error


def wrap_exit(original: Any) -> Any:
    def __exit__(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:  # noqa: N807
        _guard("step exit", on_exit, self, exc_val)
        return original(self, exc_type, exc_val, exc_tb)

    __exit__.__wrapped__ = original  # type: ignore[attr-defined]
    return __exit__
