"""One model call, one LLM span: Pydantic AI's ``chat`` span is it.

Every model request Pydantic AI records goes through
``pydantic_ai._instrumentation.open_model_request_span`` (the agent's runs through the
``Instrumentation`` capability, ``InstrumentedModel`` and ``direct.model_request*``
through the model), which the two modules using it import by name; the agent rebinds it
there. While the span is open:

* the context says the model call is owned (``weave_agent.tracing.calls.owned_model_call``):
  the span the OpenAI, Anthropic, Groq, ... instrumentation would make for the SDK call
  underneath steps aside, so the call's tokens are on one span only (Pydantic AI's, which
  knows every provider it supports, streamed or not);
* a failure sets ``error.type`` on the span (the provider's HTTP status for a
  ``ModelHTTPError``) before Pydantic AI marks it ERROR;
* the model's client key is learned (``credentials.py``).

When the span has ended, and only when it is one of the agent's settings (``native.py``;
an app's own settings record Pydantic AI's metrics themselves), the agent's GenAI metrics
are recorded once from what the span holds: duration, token counts, ``error.type``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from weave_agent import _log

from . import extract, native
from .credentials import remember_model_client


def _record_metrics(span: Any, seconds: float, error_type: str | None) -> None:
    from weave_agent.export import genai_metrics, telemetry

    instruments = telemetry.instruments()
    if not instruments.enabled:
        return
    attributes = getattr(span, "attributes", None) or {}
    instruments.record_call(genai_metrics.INFERENCE, seconds, extract.metric_attributes(attributes, error_type),
                            extract.usage_counts(attributes))


def _owned_model_call() -> Any:
    # imported at the first model request, not with Pydantic AI (the tracing core is ~10 ms)
    from weave_agent.tracing.calls import owned_model_call

    return owned_model_call()


def _detach(token: Any) -> None:
    try:
        otel_context.detach(token)
    except Exception:
        pass


def wrap_open_model_request_span(original: Any) -> Any:
    @functools.wraps(original)
    @contextlib.contextmanager
    def open_model_request_span(settings: Any, request_context: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if not native._State.active:
            with original(settings, request_context, *args, **kwargs) as value:
                yield value
            return
        started = time.perf_counter()
        span: Any = None
        error_type: str | None = None
        try:
            with original(settings, request_context, *args, **kwargs) as value:
                span = trace.get_current_span()
                token = _owned_model_call()
                try:
                    remember_model_client(getattr(request_context, "model", None))
                except Exception:
                    _log.error_once("pydantic_ai:credentials", "reading a Pydantic AI model's client failed")
                try:
                    yield value
                except BaseException as exc:
                    error_type = _mark_error(span, exc)
                    raise
                finally:
                    _detach(token)
        finally:
            if span is not None and native.is_ours(settings):
                try:
                    _record_metrics(span, time.perf_counter() - started, error_type)
                except Exception:
                    _log.error_once("pydantic_ai:metrics", "recording the metrics of a Pydantic AI model call failed")

    return open_model_request_span


def _mark_error(span: Any, exc: BaseException) -> str | None:
    if not isinstance(exc, Exception):  # cancelled, closed: Pydantic AI records the error that caused it, if any
        return None
    try:
        error_type = extract.error_type(exc)
        if span.is_recording():
            span.set_attribute("error.type", error_type)
        return error_type
    except Exception:
        _log.error_once("pydantic_ai:error", "recording the error of a Pydantic AI model call failed")
        return None
