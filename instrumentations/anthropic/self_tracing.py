"""Anthropic: the SDK's own OpenTelemetry spans, switched off for the clients the agent records.

One model call, one LLM span: the SDK (2.x) can trace its calls itself. On a client where
the app did not choose that tracing (the ``ANTHROPIC_OPEN_TELEMETRY*`` variables, or the
client's ``open_telemetry`` option), the agent takes it over: it marks the client and
switches the SDK's spans off, and records the call itself. A client whose tracing the app
chose keeps the SDK's spans and gets none from the agent.
"""

from __future__ import annotations

import os
from typing import Any

import wrapt

from weave_agent import _log
from weave_agent.export import telemetry

from .streaming import _State

_CHOSEN = "_weave_agent_otel_chosen"  # on a client: whether the app chose the SDK's own tracing
_ENV_CHOICES = ("ANTHROPIC_OPEN_TELEMETRY", "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE")


# --- the SDK's own tracing: chosen by the app, or taken over -------------------------------


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
