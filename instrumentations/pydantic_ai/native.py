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

The tracer the agent's settings hold (``tracer.py``) wraps each span only to add what
Pydantic AI leaves out or writes otherwise. It is imported with the settings, at the first
run, as is the agent's pipeline: importing Pydantic AI under the agent costs the patcher
and this module.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Final

from weave_agent import _log


def _telemetry() -> Any:
    """The agent's pipeline module, imported at the first run, not with Pydantic AI (it brings
    the tracing core along: ~10 ms a process that never runs an agent would pay)."""
    from weave_agent.export import telemetry

    return telemetry


FORMAT_VERSION: Final = 6
FALLBACK_FORMAT_VERSION: Final = 5


class _State:
    active = False  # patched (the wrappers call straight through once undone)
    user_chose = False  # the app called Agent.instrument_all
    settings: Any = None  # the agent's InstrumentationSettings, for ``settings_key``
    settings_key: Any = None
    # every settings object made here, by id (runs may outlive a remake; they are unhashable dataclasses)
    ours: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def is_ours(settings: Any) -> bool:
    return settings is not None and _State.ours.get(id(settings)) is settings


def _include_content() -> bool:
    return _telemetry().settings().capture_content in ("span_only", "span_and_event")


def agent_settings() -> Any:
    """The agent's ``InstrumentationSettings``, made again when the pipeline or the
    capture setting changed (tests switch providers)."""
    key = (_telemetry().tracer(), _include_content())
    settings = _State.settings
    if settings is not None and _State.settings_key == key:
        return settings
    import inspect

    from opentelemetry.metrics import NoOpMeterProvider
    from pydantic_ai.models.instrumented import InstrumentationSettings

    from .tracer import TracerProvider

    accepted = inspect.signature(InstrumentationSettings.__init__).parameters
    options: dict[str, Any] = {
        "tracer_provider": TracerProvider(key[1]),
        "meter_provider": NoOpMeterProvider(),
        "include_content": key[1],
        "include_binary_content": False,
        "include_model_request_parameters": key[1],  # releases without it: dropped by tracer._Span
        "use_aggregated_usage_attribute_names": True,
    }
    options = {name: value for name, value in options.items() if name in accepted}
    try:
        settings = InstrumentationSettings(**options, version=FORMAT_VERSION)
    except ValueError:  # a release before format 6: tool results under role user
        settings = InstrumentationSettings(**options, version=FALLBACK_FORMAT_VERSION)
    _State.settings, _State.settings_key = settings, key
    _State.ours[id(settings)] = settings
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
                _telemetry().tracer()  # the pipeline, before Pydantic AI's first span
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
