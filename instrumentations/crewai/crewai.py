"""CrewAI (``crewai``): a crew's run, its agents' tasks and their tools as one tree of spans.

* ``Crew.kickoff`` (``kickoff_async`` and ``kickoff_for_each`` run it) and ``Crew.akickoff``
  (``crewai.crew``) -> ``invoke_workflow {crew name}``, the root. A crew with ``stream=True``
  is traced in the ``kickoff`` CrewAI runs in a thread for its streaming output
  (``streaming.py``);
* ``Agent.execute_task``/``aexecute_task`` (an agent working on one task of the crew) and
  ``Agent.kickoff``/``kickoff_async``/``akickoff`` (an agent on its own) (``crewai.agent.core``) ->
  ``invoke_agent {role}``. CrewAI retries a failed task by calling ``execute_task`` again
  from inside the failed one (``max_retry_limit``): the retries stay in the one span;
* ``BaseTool.run``/``arun``, ``Tool.run``/``arun`` (``crewai.tools.base_tool``: what native
  function calling calls) and ``CrewStructuredTool.invoke``/``ainvoke``
  (``crewai.tools.structured_tool``: what its ReAct text loop calls) -> ``execute_tool
  {name}``; a tool run reached through both (a structured tool over a ``BaseTool``) is one span;
* each model call -> the SDK instrumentation's span (CrewAI's native OpenAI provider calls the
  OpenAI SDK), under the agent whose step made it: one model call, one LLM span, the only
  one with ``gen_ai.usage.*``. CrewAI's ``LLM`` layer gets no span of its own.

Every span is made current while its step runs (threads CrewAI starts copy the context:
``kickoff_async``'s ``to_thread``, ``max_execution_time``'s pool, the streaming thread), so
the tree follows the calls. CrewAI's own telemetry: ``own_telemetry.py``.

Versions: the classes and methods above in those modules, and
``Telemetry._safe_telemetry_operation`` in ``crewai.telemetry.telemetry``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher
from weave_agent.tracing.serialize import exception_attributes

from . import extract, own_telemetry, streaming
from .credentials import remember

# The step whose span is current (an agent's (agent, task), a tool's name): a call CrewAI
# makes again from inside the same step (a task's retry, a structured tool over a BaseTool)
# gets no second span.
_STEP = otel_context.create_key("weave_agent.crewai.step")

# describe(instance, args, kwargs) -> (span name, attributes, step marker, end(result) -> attributes),
# or None: the call runs untraced.
Describe = Callable[[Any, Any, Any], Any]


def _start(describe: Describe, instance: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any] | None:
    """(span, context to attach, end) for a traced call, or None."""
    try:
        described = describe(instance, args, kwargs)
        if described is None:
            return None
        name, attributes, step, end = described
        parent = otel_context.get_current()
        span = telemetry.tracer().start_span(name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes)
        ctx = trace.set_span_in_context(span, parent)
        ctx = otel_context.set_value(_STEP, step, ctx)
        ctx = otel_context.set_value(own_telemetry.OUTSIDE, own_telemetry.outside(parent), ctx)
        return span, ctx, end
    except Exception:
        _log.error_once("crewai-start", "starting a CrewAI span failed; the step runs untraced")
        return None


def _finish(span: Any, end: Any, result: Any) -> None:
    try:
        span.set_attributes(end(result))
    except Exception:
        _log.error_once("crewai-end", "recording the result of a CrewAI step failed")
    span.end()


def _fail(span: Any, exc: BaseException) -> None:
    try:
        span.set_attribute("error.type", type(exc).__qualname__)
        description, attrs = exception_attributes(exc)  # secret shapes removed
        span.record_exception(exc, attrs)
        span.set_status(Status(StatusCode.ERROR, description))
    except Exception:
        _log.error_once("crewai-error", "recording the error of a CrewAI step failed")
    span.end()


async def _await(span: Any, ctx: Any, end: Any, coro: Any) -> Any:
    token = otel_context.attach(ctx)
    try:
        result = await coro
    except BaseException as exc:
        otel_context.detach(token)
        _fail(span, exc)
        raise
    otel_context.detach(token)
    _finish(span, end, result)
    return result


def _sync(describe: Describe) -> Callable[[Any], Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = _start(describe, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        span, ctx, end = started
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _fail(span, exc)
            raise
        otel_context.detach(token)
        if inspect.iscoroutine(result):  # Agent.kickoff inside a Flow hands back a coroutine
            return _await(span, ctx, end, result)
        _finish(span, end, result)
        return result

    return lambda original: wrapt.FunctionWrapper(original, wrapper)


def _async(describe: Describe) -> Callable[[Any], Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = _start(describe, instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        span, ctx, end = started
        return await _await(span, ctx, end, wrapped(*args, **kwargs))

    return lambda original: wrapt.FunctionWrapper(original, wrapper)


# --- what each step is ------------------------------------------------------------------------


def _crew(crew: Any, args: Any, kwargs: Any) -> Any:
    if crew is None or streaming.streams_to_app(crew):
        return None
    name, attrs = extract.crew(crew)
    return name, attrs, ("crew", id(crew)), extract.crew_end


def _agent_task(agent: Any, args: Any, kwargs: Any) -> Any:
    if agent is None:
        return None
    task = kwargs.get("task", args[0] if args else None)
    step = ("agent", id(agent), id(task))
    if otel_context.get_value(_STEP) == step:
        return None  # CrewAI's retry of this very task, from inside it
    remember(extract.llm_of(agent))
    name, attrs = extract.agent(agent, task)
    return name, attrs, step, extract.agent_end


def _agent_kickoff(agent: Any, args: Any, kwargs: Any) -> Any:
    if agent is None:
        return None
    step = ("agent", id(agent), None)
    if otel_context.get_value(_STEP) == step:
        return None  # kickoff_async / akickoff going through one another
    remember(extract.llm_of(agent))
    name, attrs = extract.agent(agent)
    return name, attrs, step, extract.agent_end


def _tool(invoke: bool) -> Describe:
    def describe(tool: Any, args: Any, kwargs: Any) -> Any:
        if tool is None:
            return None
        step = ("tool", extract.tool_name(tool))
        if otel_context.get_value(_STEP) == step:
            return None  # a structured tool running its BaseTool: one tool run
        name, attrs = extract.tool(tool, extract.tool_arguments(args, kwargs, invoke))
        return name, attrs, step, extract.tool_end

    return describe


# --- the patchers -----------------------------------------------------------------------------

_CREW = (("Crew.kickoff", _sync(_crew)), ("Crew.akickoff", _async(_crew)))
_AGENT = (
    ("Agent.execute_task", _sync(_agent_task)),
    ("Agent.aexecute_task", _async(_agent_task)),
    ("Agent.kickoff", _sync(_agent_kickoff)),
    ("Agent.kickoff_async", _async(_agent_kickoff)),
    ("Agent.akickoff", _async(_agent_kickoff)),
)
_BASE_TOOL = (
    ("BaseTool.run", _sync(_tool(False))),
    ("BaseTool.arun", _async(_tool(False))),
    ("Tool.run", _sync(_tool(False))),
    ("Tool.arun", _async(_tool(False))),
)
_STRUCTURED_TOOL = (
    ("CrewStructuredTool.invoke", _sync(_tool(True))),
    ("CrewStructuredTool.ainvoke", _async(_tool(True))),
)
_TELEMETRY = (("Telemetry._safe_telemetry_operation", own_telemetry.wrap_safe_operation),)


def _patchers(methods: tuple[tuple[str, Any], ...]) -> Callable[[ModuleType], list[Patcher]]:
    def make(module: ModuleType) -> list[Patcher]:
        return [SymbolPatcher(lambda: module, path, make_new) for path, make_new in methods]

    return make


def _missing(methods: tuple[tuple[str, Any], ...]) -> Callable[[ModuleType], list[str]]:
    def missing(module: ModuleType) -> list[str]:
        absent = []
        for path, _ in methods:
            cls_name, _, method = path.partition(".")
            if method not in vars(getattr(module, cls_name, object)):
                absent.append(path)
        return absent

    return missing


def _module(name: str, methods: tuple[tuple[str, Any], ...]) -> ModulePatcher:
    return ModulePatcher(name, _patchers(methods), _missing(methods))


crewai_patcher = MultiPatcher(
    [
        _module("crewai.crew", _CREW),
        _module("crewai.agent.core", _AGENT),
        _module("crewai.tools.base_tool", _BASE_TOOL),
        _module("crewai.tools.structured_tool", _STRUCTURED_TOOL),
        _module("crewai.telemetry.telemetry", _TELEMETRY),
    ]
)

__all__ = ["crewai_patcher"]
