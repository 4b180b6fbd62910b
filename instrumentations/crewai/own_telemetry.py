"""CrewAI's own telemetry: kept out of the app's traces, and the app's traces out of it.

CrewAI sends anonymous telemetry (crew, task and tool usage) to its own collector unless the
user sets ``CREWAI_DISABLE_TELEMETRY``, ``CREWAI_DISABLE_TRACKING`` or ``OTEL_SDK_DISABLED``.
It builds a ``TracerProvider`` of its own for that (never the global one the agent installs),
so its spans never reach the app's exporter, and it never makes one of them current, so no
span of ours hangs from one of them. But it starts them with ``tracer.start_span(name)`` in
the current context: without the agent that is the app's context; with it, the agent's crew,
agent or tool span would be their parent, and CrewAI's collector would receive the app's
trace and span ids. ``Telemetry._safe_telemetry_operation`` (every telemetry call goes
through it) is run in the context outside the agent's CrewAI spans instead: CrewAI records
and sends exactly what it would without the agent. Nothing is switched on or off: the
telemetry switches keep meaning what CrewAI documents.
"""

from __future__ import annotations

from typing import Any

import wrapt
from opentelemetry import context as otel_context

OUTSIDE = otel_context.create_key("weave_agent.crewai.outside")


def outside(ctx: Any) -> Any:
    """The context outside every CrewAI span of ours that ``ctx`` holds (``ctx`` itself when it holds none)."""
    value = otel_context.get_value(OUTSIDE, ctx)
    return ctx if value is None else value


def _in_app_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    before = otel_context.get_value(OUTSIDE)
    if not isinstance(before, otel_context.Context):
        return wrapped(*args, **kwargs)
    token = otel_context.attach(before)
    try:
        return wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)


def wrap_safe_operation(original: Any) -> Any:
    return wrapt.FunctionWrapper(original, _in_app_context)
