"""OpenAI Agents SDK (``openai-agents``, import ``agents``): runs as one tree of spans.

* ``Runner.run``, ``run_sync`` (which runs ``run`` in a task) and ``run_streamed``
  (``AgentRunner.run``/``run_streamed`` in ``agents.run``) -> ``invoke_workflow {workflow
  name}`` (``RunConfig.workflow_name``, the SDK's ``Agent workflow`` by default), INTERNAL:
  the run, which may pass through several agents;
* each agent the run passes through -> ``invoke_agent {agent name}``, each function tool
  -> ``execute_tool {tool}``, each handoff and guardrail -> ``handoff {agent}`` /
  ``guardrail {name}`` (``sdk_spans.py``, from the SDK's own span objects);
* each model call -> the OpenAI instrumentation's ``chat``/``responses`` span (the SDK
  calls ``AsyncOpenAI.responses.create`` or ``chat.completions.create``), under the agent
  whose step made it: one model call, one LLM span, and the only span with
  ``gen_ai.usage.*``. The SDK's response and generation spans are never turned into spans.

The SDK's own tracing (exported to OpenAI by default) is left exactly as the app set it:
no ``TracingProcessor`` is registered, nothing is switched on or off. See
``sdk_spans.py``.

Versions: ``SpanImpl``/``NoOpSpan`` with ``start``/``finish``/``set_error``/``__exit__`` in
``agents.tracing.spans`` and ``AgentRunner`` in ``agents.run`` with ``run`` and
``run_streamed``; ``RunResultStreaming.run_loop_task`` (``_run_impl_task`` before it).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from weave_agent import _log
from weave_agent.export import telemetry
from weave_agent.patcher import ModulePatcher, MultiPatcher, Patcher, SymbolPatcher

from . import extract, sdk_spans, streaming
from .credentials import remember_exporter_key

_SPAN_CLASSES = ("SpanImpl", "NoOpSpan")
_SPAN_METHODS = (
    ("start", sdk_spans.wrap_start),
    ("finish", sdk_spans.wrap_finish),
    ("set_error", sdk_spans.wrap_set_error),
    ("__exit__", sdk_spans.wrap_exit),
)


def _start_run(run_config: Any, starting_agent: Any) -> tuple[Any, Any]:
    remember_exporter_key()
    name, attrs = extract.workflow(run_config)
    agent_name = extract.starting_agent_name(starting_agent)
    if agent_name:
        attrs["openai_agents.starting_agent"] = agent_name
    parent = otel_context.get_current()
    span = telemetry.tracer().start_span(name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs)
    return span, trace.set_span_in_context(span, parent)


def _safe_start(run_config: Any, starting_agent: Any) -> tuple[Any, Any]:
    try:
        return _start_run(run_config, starting_agent)
    except Exception:
        _log.error_once("openai_agents:run start", "recording the OpenAI Agents SDK run failed")
        return None, None


def _starting_agent(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("starting_agent")


def wrap_run(original: Any) -> Any:
    @functools.wraps(original)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        span, ctx = _safe_start(kwargs.get("run_config"), _starting_agent(args, kwargs))
        if span is None:
            return await original(self, *args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            return await original(self, *args, **kwargs)
        except BaseException as error:
            sdk_spans.end_with_error(span, error)
            raise
        finally:
            if otel_context.get_current() is ctx:
                sdk_spans.reset(token)
            span.end()

    return run


def _end_streamed(span: Any, result: Any, task: Any) -> None:
    try:
        error, cancelled = streaming.outcome(result, task)
        if cancelled:
            span.set_attribute("weave_agent.stream.end_reason", streaming.CANCELLED)
        elif error is not None:
            sdk_spans.end_with_error(span, error)
    except Exception:
        _log.error_once("openai_agents:stream end", "recording the end of a streamed run failed")
    span.end()


def wrap_run_streamed(original: Any) -> Any:
    @functools.wraps(original)
    def run_streamed(self: Any, *args: Any, **kwargs: Any) -> Any:
        span, ctx = _safe_start(kwargs.get("run_config"), _starting_agent(args, kwargs))
        if span is None:
            return original(self, *args, **kwargs)
        # Current only while the SDK creates the run's task (which copies the context).
        token = otel_context.attach(ctx)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as error:
            sdk_spans.end_with_error(span, error)
            span.end()
            raise
        finally:
            if otel_context.get_current() is ctx:
                sdk_spans.reset(token)
        task = streaming.run_task(result)
        if task is None:
            span.end()
        else:
            task.add_done_callback(functools.partial(_end_streamed, span, result))
        return result

    return run_streamed


def _span_patchers(module: ModuleType) -> list[Patcher]:
    return [
        SymbolPatcher(lambda: module, "%s.%s" % (cls, method), wrap)
        for cls in _SPAN_CLASSES
        for method, wrap in _SPAN_METHODS
    ]


def _span_missing(module: ModuleType) -> list[str]:
    return [
        "%s.%s" % (cls, method)
        for cls in _SPAN_CLASSES
        for method, _ in _SPAN_METHODS
        if method not in vars(getattr(module, cls, object))
    ]


def _runner_patchers(module: ModuleType) -> list[Patcher]:
    return [
        SymbolPatcher(lambda: module, "AgentRunner.run", wrap_run),
        SymbolPatcher(lambda: module, "AgentRunner.run_streamed", wrap_run_streamed),
    ]


def _runner_missing(module: ModuleType) -> list[str]:
    runner = getattr(module, "AgentRunner", None)
    return [m for m in ("run", "run_streamed") if runner is None or m not in vars(runner)]


openai_agents_patcher = MultiPatcher(
    [
        ModulePatcher("agents.tracing.spans", _span_patchers, _span_missing),
        ModulePatcher("agents.run", _runner_patchers, _runner_missing),
    ]
)

__all__ = ["openai_agents_patcher"]
