"""Pydantic AI (``pydantic-ai-slim`` >= 2.78, < 3): agent runs, model requests and tools, as Pydantic AI records them.

Pydantic AI traces itself with OpenTelemetry, following the GenAI conventions, once an
agent is instrumented; the agent turns that on and makes it one correct tree rather than
adding spans of its own:

* ``Agent.run``, ``run_sync``, ``run_stream``, ``iter`` (every run resolves its settings in
  ``Agent._resolve_instrumentation_settings``) -> ``invoke_agent {agent name}``, each model
  request -> ``chat {model}`` (CLIENT), each ``@agent.tool`` / toolset call ->
  ``execute_tool {tool}``: Pydantic AI's spans, through the agent's pipeline, when the
  app did not choose its own instrumentation (``native.py``);
* the SDK call under a ``chat`` span (the OpenAI SDK's ``chat.completions.create`` for
  ``OpenAIChatModel``, Anthropic's ``messages.create``, ...) makes no second LLM span:
  the ``chat`` span owns the model call and carries its usage once (``model_call.py``);
* failed spans get ``error.type``; the agent's GenAI metrics are recorded from each
  ``chat`` span.

Patched, each when its module is imported (the registry's triggers):
``pydantic_ai.agent`` (``Agent._resolve_instrumentation_settings``, ``Agent.instrument_all``),
``pydantic_ai.capabilities.instrumentation`` and ``pydantic_ai.models.instrumented``
(``open_model_request_span``, the name each imported from ``pydantic_ai._instrumentation``).
A Pydantic AI without them (another structure) is left unpatched with one debug line.
"""

from __future__ import annotations

from types import ModuleType

from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher

from . import model_call, native

AGENT_MODULE = "pydantic_ai.agent"
CAPABILITY_MODULE = "pydantic_ai.capabilities.instrumentation"
MODEL_MODULE = "pydantic_ai.models.instrumented"
TRIGGERS = (AGENT_MODULE, CAPABILITY_MODULE, MODEL_MODULE)  # the registry row's triggers (a test keeps them equal)

_AGENT_METHODS = ("_resolve_instrumentation_settings", "instrument_all")


def _agent_patchers(module: ModuleType) -> list[Patcher]:
    return [
        SymbolPatcher(lambda: module, "Agent._resolve_instrumentation_settings", native.wrap_resolve),
        SymbolPatcher(lambda: module, "Agent.instrument_all", native.wrap_instrument_all),
    ]


def _agent_missing(module: ModuleType) -> list[str]:
    agent = getattr(module, "Agent", None)
    return ["Agent.%s" % m for m in _AGENT_METHODS if agent is None or m not in vars(agent)]


def _span_patchers(module: ModuleType) -> list[Patcher]:
    return [SymbolPatcher(lambda: module, "open_model_request_span", model_call.wrap_open_model_request_span)]


def _span_missing(module: ModuleType) -> list[str]:
    return [] if callable(vars(module).get("open_model_request_span")) else ["open_model_request_span"]


class PydanticAIPatcher(MultiPatcher):
    """Every part, each applied when its module is imported; the wrappers call straight
    through once undone."""

    def attempt_patch(self) -> bool:
        native._State.active = True
        return super().attempt_patch()

    def undo_patch(self) -> bool:
        native._State.active = False
        native._State.user_chose = False
        return super().undo_patch()


pydantic_ai_patcher = PydanticAIPatcher(
    [
        ModulePatcher(AGENT_MODULE, _agent_patchers, _agent_missing),
        ModulePatcher(CAPABILITY_MODULE, _span_patchers, _span_missing),
        ModulePatcher(MODEL_MODULE, _span_patchers, _span_missing),
    ]
)

__all__ = ["pydantic_ai_patcher"]
