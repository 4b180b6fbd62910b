"""LangChain (and LangGraph): every run of the run tree becomes an OpenTelemetry span.

``WeaveAgentTracer`` is a LangChain callback handler. Autopatching injects one instance
as an *inheritable* handler into every callback manager LangChain configures, through
LangChain's own ``register_configure_hook`` (``langchain_core.tracers.context``): a
``ContextVar`` whose default is the handler, registered with ``WeaveAgentTracer`` as the
handler class, so ``_configure`` adds it only when no ``WeaveAgentTracer`` is there yet
(a user who also passes ``callbacks=[WeaveAgentTracer()]`` gets one set of spans, not
two). ``undo_patch`` removes the hook entry again.

Spans:

* chains and runnables: INTERNAL, named for the runnable (``RunnableSequence``,
  ``ChatPromptTemplate``, ...); LangGraph nodes likewise (``langgraph.node``,
  ``langgraph.step``), and the graph that runs them becomes
  ``invoke_workflow {name}`` (``gen_ai.operation.name`` ``invoke_workflow``), or
  ``invoke_agent {name}`` (``gen_ai.agent.name``) once one of its nodes runs a tool (a
  model choosing tools in a loop: LangGraph's prebuilt ReAct agent);
* chat models and LLMs: ``chat {model}`` / ``text_completion {model}``, kind CLIENT, with
  the GenAI request and response attributes LangChain reports;
* tools: ``execute_tool {name}``, INTERNAL, ``gen_ai.tool.name``/``.call.id``/
  ``.description``, arguments and result when content capture is on;
* retrievers: ``retrieval``, the query and the documents when content capture is on.

Parents follow LangChain's run tree (``parent_run_id``), whatever thread or task a
callback runs in: every run in flight is kept in a process-wide map keyed by ``run_id``,
and a child span is started with its parent run's span given explicitly. Runs LangChain
marks hidden (``langsmith:hidden``, LangGraph's channel writes) get no span; their
children hang from the nearest traced ancestor.

Making the run's span current (so that the OpenAI/Anthropic SDK span, or a user's own
span, nests under the LangChain chat-model span): ``on_*_start`` attaches a context with
the run's span and keeps the token with the run; ``on_*_end``/``on_*_error`` detaches it
only when the current context is still exactly the one attached, and only through the
token's own ``ContextVar.reset`` (which refuses a token from another ``Context``: then
nothing is detached and nothing is logged). Callbacks run inline (``run_inline``), so
with ``ainvoke``/``abatch``/``astream`` they run in the run's own task; in thread pools
LangChain copies the context into the worker, and start and end run there.

One model call, one LLM span: a chat-model span asks ``weave_agent.genai`` to watch it
(``watch_for_sdk_span``); a GenAI SDK span the agent starts while it is current reports
back, and says whether it recorded ``gen_ai.usage.*``. At the run's end
(``sdk_span_seen``): an SDK span recorded usage, so the LangChain span sets no
``gen_ai.usage.*`` and records no token metric; an SDK span started but had no usage
(ChatAnthropic reads ``with_raw_response``, whose body the Anthropic instrumentation
leaves unread), so the LangChain span records the usage LangChain reports; no SDK span (a
model whose SDK is not instrumented), so the LangChain span records usage and both the
duration and token metrics. The duration metric is the SDK span's whenever there is one.

Streams: a run started inside a generator (``stream``/``astream``) would attach in the
context of the app iterating it, leaving its span current there between chunks. So the
root run of a stream (a chain, a graph) is not attached at all (LangChain runs its steps in
a copy of the context and names every child's parent), and a model's run is attached only
until its first chunk (``on_llm_new_token``): the SDK call has nested under it by then.
A stream the app stops reading (``GeneratorExit``) ends its run with
``weave_agent.stream.end_reason`` ``closed``, not as an error. Runs LangChain starts in a
row in one context (``RunnableSequence.batch`` starts every item's root run before running
them) are detached in reverse as the last one ends, and a run LangChain gives no parent is parented to the context outside every
LangChain run, never to a sibling whose span happens to be current.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from weave_agent import _log
from weave_agent.patcher import Patcher

from .tracer import WeaveAgentTracer


class _ConfigureHook(Patcher):
    """Registers ``WeaveAgentTracer`` with LangChain's configure hooks; undo removes it."""

    def __init__(self) -> None:
        self._entry: Any = None
        self.handler: WeaveAgentTracer | None = None

    def __repr__(self) -> str:
        return "_ConfigureHook(langchain_core.tracers.context.register_configure_hook)"

    def attempt_patch(self) -> bool:
        if self._entry is not None:
            return True
        try:
            from langchain_core.tracers import context as lc_context
        except ImportError:
            _log.debug("langchain_core.tracers.context is missing: LangChain runs are not traced")
            return False
        hooks = getattr(lc_context, "_configure_hooks", None)
        register = getattr(lc_context, "register_configure_hook", None)
        if not isinstance(hooks, list) or register is None:
            _log.debug("langchain_core has no register_configure_hook: LangChain runs are not traced")
            return False
        handler = WeaveAgentTracer()
        # A default value, not .set(): every thread and task sees it, with nothing to reset.
        var: ContextVar[WeaveAgentTracer | None] = ContextVar("weave_agent_langchain_tracer", default=handler)
        before = len(hooks)
        register(var, True, WeaveAgentTracer)
        if len(hooks) != before + 1 or hooks[-1][0] is not var:
            _log.debug("register_configure_hook did not add the entry expected: LangChain runs are not traced")
            return False
        self._entry = hooks[-1]
        self.handler = handler
        return True

    def undo_patch(self) -> bool:
        entry, self._entry = self._entry, None
        self.handler = None
        if entry is None:
            return False
        from langchain_core.tracers import context as lc_context

        hooks = lc_context._configure_hooks
        for i, existing in enumerate(hooks):
            if existing is entry:
                del hooks[i]
                return True
        return False


langchain_patcher = _ConfigureHook()
