"""LlamaIndex (``llama-index-core``): every step its dispatcher traces, as the agent's spans.

LlamaIndex instruments itself: ``DispatcherSpanMixin`` puts ``dispatcher.span`` on every
implementation of an abstract method (LLM classes of other distributions too:
``llama-index-llms-*``, ``-embeddings-*``), and the span and event handlers of the root
dispatcher (``llama_index.core.instrumentation.get_dispatcher()``, from the separate
distribution ``llama-index-instrumentation``) see every one of them. Autopatching adds one
span handler and one event handler there (``handlers.py``); ``undo_patch`` removes exactly
those two. Nothing of LlamaIndex is wrapped.

Spans (the dispatcher's steps that the conventions name, and a few it does not):

* ``chat``/``achat``/``stream_chat``/``astream_chat`` of an LLM: ``chat {model}``, kind
  CLIENT; ``complete`` & co: ``text_completion {model}``; an LLM method the same LLM calls
  from inside one of these (``MockLLM.chat`` calls ``complete``) gets no second span;
* the public embedding methods: ``embeddings {model}``, CLIENT;
* ``retrieve``/``aretrieve`` of a retriever: ``retrieval``;
* ``call``/``acall`` of a tool: ``execute_tool {name}``;
* ``run`` of a workflow agent (``FunctionAgent``, ``ReActAgent``, ``CodeActAgent``):
  ``invoke_agent {name}``; of ``AgentWorkflow`` or any other ``Workflow``:
  ``invoke_workflow {name}``;
* query engines, chat engines and response synthesizers: INTERNAL, named for the step
  (``RetrieverQueryEngine.query``, ``CompactAndRefine.synthesize``).

Every other dispatcher span (node parsers, private ``_query``/``_retrieve``, workflow steps,
the LLM's ``predict`` helpers) is left out, its children hang from the nearest traced
ancestor. Parents follow LlamaIndex's own span ids (``parent_span_id``), never whatever
happens to be current: ``FunctionAgent`` runs each step as a task of the workflow's runner,
and its model calls land in the agent's trace.

One model call, one LLM span (the LangChain rule, ``instrumentations/README.md`` section
7): an LLM or embedding span is current while the call runs, so the OpenAI SDK span of
``llama-index-llms-openai`` nests under it and carries the usage; the LlamaIndex span
records usage and the token metrics only when no SDK span under it did
(``watch_for_sdk_span``/``sdk_span_seen``).

Streams: the dispatcher exits ``stream_chat``/``astream_chat`` when the generator is
*returned*; the span stays open until LlamaIndex's end event (``LLMChatEndEvent``), its
exception event (an error, or ``GeneratorExit`` when the app stops reading: end reason
``closed``), or the generator's collection without ever being read (``garbage_collected``).
The model's SDK call runs inside the generator, on the first ``next``: the stream's span
stays current in the consumer until that first chunk (then it is detached), as LangChain's
model runs do. A ``run`` returning a future (workflows, agents) is never attached: its end
comes in the future's callback, in another context.

Versions: llama-index-core >= 0.14.4, as measured by the compatibility matrix. The hook
itself (the root dispatcher, ``span_id`` on events) is older; 0.13.0 fails only because
the ``llama-index-llms-openai`` that pip pairs with it (0.6.0) imports ``ThinkingBlock``,
which llama-index-core added in 0.14.x. The handlers are duck-typed: the dispatcher only
calls ``span_enter``/``span_exit``/``span_drop`` and ``handle``/``ahandle`` on them.
"""

from __future__ import annotations

from typing import Any, cast

from weave_agent import _log
from weave_agent.patcher import Patcher

from .handlers import SpanHandler, event_handler, span_handler


class _RootDispatcherHandlers(Patcher):
    """Adds the agent's span and event handlers to LlamaIndex's root dispatcher."""

    def __init__(self) -> None:
        self._dispatcher: Any = None
        self._span_handler: Any = None
        self._event_handler: Any = None

    def __repr__(self) -> str:
        return "_RootDispatcherHandlers(llama_index.core.instrumentation.get_dispatcher())"

    def attempt_patch(self) -> bool:
        if self._dispatcher is not None:
            return True
        try:
            from llama_index.core.instrumentation import get_dispatcher
        except ImportError:
            _log.debug("llama_index.core.instrumentation.get_dispatcher is missing: LlamaIndex is not traced")
            return False
        root = get_dispatcher()
        if not isinstance(getattr(root, "span_handlers", None), list) or not hasattr(root, "add_event_handler"):
            _log.debug("LlamaIndex's root dispatcher has no span handlers: LlamaIndex is not traced")
            return False
        if any(isinstance(h, SpanHandler) for h in root.span_handlers):
            return True  # another copy of the agent added them already
        spans, events = span_handler(), event_handler()
        # Duck-typed handlers (see handlers.py): the dispatcher neither validates nor checks them.
        root.add_span_handler(cast(Any, spans))
        root.add_event_handler(cast(Any, events))
        self._dispatcher, self._span_handler, self._event_handler = root, spans, events
        return True

    def undo_patch(self) -> bool:
        root, self._dispatcher = self._dispatcher, None
        if root is None:
            return False
        # The lists are replaced (``+=`` on a pydantic field), not mutated: filter them.
        root.span_handlers = [h for h in root.span_handlers if h is not self._span_handler]
        root.event_handlers = [h for h in root.event_handlers if h is not self._event_handler]
        self._span_handler = self._event_handler = None
        return True


llamaindex_patcher = _RootDispatcherHandlers()
