"""LangChain: ``WeaveAgentTracer``, the callback handler that makes runs spans.

The runs in flight (a process-wide map keyed by ``run_id``), attaching and detaching a
run's span as the current one, and the handler's ``on_*`` callbacks. See the docstring of
``langchain.py`` for the rules; ``from weave_agent.instrumentations.langchain import
WeaveAgentTracer`` for manual use.
"""

from __future__ import annotations

import contextvars
import threading
from time import perf_counter
from typing import Any
from uuid import UUID

from langchain_core.callbacks.base import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from weave_agent import _log, genai, streams
from weave_agent.export import genai_metrics, telemetry
from weave_agent.tracing import conventions
from weave_agent.tracing.serialize import exception_attributes, to_json, to_jsonable

from .credentials import remember as _remember_credentials
from .extract import (
    _FINISH_REASONS,
    _capture,
    _content_mode,
    _limit,
    _message_parts,
    _name,
    _provider,
    _usage,
    tool_definitions,
)
from .streaming import _called_from_generator

HIDDEN_TAG = "langsmith:hidden"


class _Run:
    """One LangChain run in flight."""

    __slots__ = ("span", "span_id", "ctx", "outer", "token", "kind", "started", "metric_attributes", "workflow",
                 "on_event", "parent", "name")

    def __init__(self, span: Any, ctx: Any, outer: Any, kind: str, parent: _Run | None = None,
                 name: str = "") -> None:
        self.parent = parent
        self.name = name
        self.span = span
        self.span_id = span.get_span_context().span_id
        self.ctx = ctx  # the context attached while the run executes (its span current)
        self.outer = outer  # the context outside every LangChain run this one descends from
        self.token: Any = None
        self.kind = kind
        self.started = perf_counter()
        self.metric_attributes: dict[str, Any] | None = None
        self.workflow: bool | str = False  # True: a LangGraph graph; "agent": one that ran tools
        self.on_event: dict[str, str] | None = None


# Shared by every handler instance: a run is traced once even if two handlers see it.
_runs: dict[UUID, _Run] = {}
_hidden: dict[UUID, UUID | None] = {}  # a hidden run -> its parent run
_attached: dict[int, _Run] = {}  # span id -> a run whose context may still be attached somewhere
# Runs that ended while their context was not the current one (their start attached it in a
# context that moved on, e.g. RunnableSequence.batch starts every item's run in a row): by
# id of the attached context, detached when that context is current again.
_pending: dict[int, _Run] = {}
_MAX_PENDING = 1024
_lock = threading.Lock()


def _end_error(span: Any, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__qualname__)
    description, exc_attributes = exception_attributes(error)  # secret shapes removed
    span.record_exception(error, exc_attributes)
    span.set_status(Status(StatusCode.ERROR, description))


def _reset(token: Any) -> bool:
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            return False  # a copy of the context the run started in: nothing to undo here
        return True
    otel_context.detach(token)  # another runtime-context implementation
    return True


def _detach(run: _Run) -> None:
    """Detach the run's context if (and only if) it is the current one, then any ended run's
    context that this uncovers; otherwise keep the run pending (bounded)."""
    with _lock:
        if run.token is None:  # detached already (a stream handed out its first chunk)
            return
        if otel_context.get_current() is not run.ctx or not _reset(run.token):
            if run.token is not None:
                _pending[id(run.ctx)] = run
                while len(_pending) > _MAX_PENDING:
                    old = _pending.pop(next(iter(_pending)))
                    _attached.pop(old.span_id, None)
            return
        _attached.pop(run.span_id, None)
        for _ in range(_MAX_PENDING):
            current = otel_context.get_current()
            below = _pending.get(id(current))
            if below is None or below.ctx is not current:
                break
            del _pending[id(current)]
            _attached.pop(below.span_id, None)
            if not _reset(below.token):
                break


def _outer() -> Any:
    """The current context without LangChain runs: a run LangChain gives no parent is a root
    of the run tree, even when another run's span is current here."""
    ctx = otel_context.get_current()
    run = _attached.get(trace.get_current_span(ctx).get_span_context().span_id)
    return run.outer if run is not None else ctx


class WeaveAgentTracer(BaseCallbackHandler):
    """LangChain callback handler that records runs as OpenTelemetry spans.

    ``chain.invoke(x, config={"callbacks": [WeaveAgentTracer()]})`` traces one call by
    hand; with autopatching on, every run is traced without it.
    """

    run_inline = True  # async runs: call us in the run's own task, not in an executor
    raise_error = False

    # --- span bookkeeping -------------------------------------------------------------

    def _parent(self, parent_run_id: UUID | None) -> _Run | None:
        seen = 0
        while parent_run_id is not None and seen < 64:
            run = _runs.get(parent_run_id)
            if run is not None:
                return run
            if parent_run_id not in _hidden:
                return None
            parent_run_id = _hidden[parent_run_id]
            seen += 1
        return None

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: str,
        span_kind: SpanKind,
        attributes: dict[str, Any],
        attach: bool = True,
    ) -> _Run | None:
        with _lock:
            if run_id in _runs or run_id in _hidden:
                return None  # another handler instance traces it already
            parent = self._parent(parent_run_id)
            if parent is not None:
                outer = parent.outer
                parent_ctx = parent.ctx
            else:
                outer = parent_ctx = _outer()
            span = telemetry.tracer().start_span(name, context=parent_ctx, kind=span_kind, attributes=attributes)
            ctx = trace.set_span_in_context(span, parent_ctx)
            run = _Run(span, ctx, outer, kind, parent, name)
            _runs[run_id] = run
            if attach:
                _attached[run.span_id] = run
                run.token = otel_context.attach(ctx)
        return run

    def _pop(self, run_id: UUID) -> _Run | None:
        with _lock:
            run = _runs.pop(run_id, None)
            if run is None:
                _hidden.pop(run_id, None)
        if run is not None:
            _detach(run)
        return run

    def _guard(self, site: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            _log.error_once("langchain:" + site, "recording the LangChain %s failed", site)

    # --- chains, runnables, LangGraph ---------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._guard("chain start", self._chain_start, serialized, inputs, run_id, parent_run_id, tags, metadata,
                    kwargs)

    def _chain_start(self, serialized: Any, inputs: Any, run_id: UUID, parent_run_id: UUID | None,
                     tags: list[str] | None, metadata: dict[str, Any] | None, kwargs: dict[str, Any]) -> None:
        if tags and HIDDEN_TAG in tags:
            with _lock:
                _hidden[run_id] = parent_run_id
            return
        name = _name(serialized, kwargs, "chain")
        md = metadata or {}
        attrs: dict[str, Any] = {"langchain.run.type": "chain"}
        node = md.get("langgraph_node")
        is_node = node is not None and node == name
        if is_node:
            attrs["langgraph.node"] = name
            step = md.get("langgraph_step")
            if isinstance(step, int):
                attrs["langgraph.step"] = step
        if _capture():
            attrs["input.value"] = to_json(inputs, _limit())
            attrs["input.mime_type"] = "application/json"
        if is_node:
            self._mark_workflow(parent_run_id)
        # The root run of a ``stream()``/``astream()`` starts inside the generator the app
        # iterates: attaching there would leave its span current in the app between chunks.
        # LangChain runs the steps in a copy of the context and gives children their parent.
        attach = parent_run_id is not None or not _called_from_generator()
        self._start(run_id, parent_run_id, name, "chain", SpanKind.INTERNAL, attrs, attach)

    def _mark_workflow(self, graph_run_id: UUID | None) -> None:
        """The run whose children are LangGraph nodes is the graph: ``invoke_workflow``."""
        graph = self._parent(graph_run_id)
        if graph is None or graph.workflow or graph.kind != "chain":
            return
        graph.workflow = True
        name = graph.name or "LangGraph"
        graph.span.update_name("invoke_workflow %s" % name)
        # The conventions' workflow is an internal invoke_agent span (operation name
        # invoke_workflow) named by gen_ai.agent.name (gen_ai.workflow.name in v1.41).
        graph.span.set_attributes({"gen_ai.operation.name": "invoke_workflow",
                                   **conventions.workflow_name_attributes(name)})

    def _mark_agent(self, run: _Run | None) -> None:
        """A graph whose nodes run tools a model chose is an agent: ``invoke_agent {name}``."""
        for _ in range(64):
            if run is None:
                return
            if run.workflow:
                break
            run = run.parent
        if run is None or run.workflow == "agent":
            return
        run.workflow = "agent"
        name = run.name or "LangGraph"
        run.span.update_name("invoke_agent %s" % name)
        run.span.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name})

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._guard("chain end", self._chain_end, outputs, run_id)

    def _chain_end(self, outputs: Any, run_id: UUID) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        if _capture():
            run.span.set_attributes({"output.value": to_json(outputs, _limit()), "output.mime_type": "application/json"})
        run.span.end()

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None,
                       **kwargs: Any) -> None:
        self._guard("chain error", self._error, error, run_id)

    def _error(self, error: BaseException, run_id: UUID) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        error_type: str | None = type(error).__qualname__
        if isinstance(error, GeneratorExit):
            # LangChain reports a stream the app stopped reading (``break``, ``close()``, the
            # generator collected) as an error; it is an early end, as for SDK streams.
            error_type = None
            run.span.set_attributes({"weave_agent.stream.end_reason": streams.CLOSED, "weave_agent.stream.complete": False})
        else:
            _end_error(run.span, error)
        if run.kind == "llm":
            # The model's finish reason never came: the conventions report "error".
            run.span.set_attribute("gen_ai.response.finish_reasons", ["error"])
            sdk_span, sdk_usage = genai.sdk_span_seen(run.span)
            if not sdk_usage:
                self._record_metrics(run, None, error_type, duration=not sdk_span)
        run.span.end()

    # --- chat models and LLMs ----------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._guard("chat model start", self._llm_start, "chat", serialized, messages, run_id, parent_run_id,
                    metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._guard("llm start", self._llm_start, "text_completion", serialized, prompts, run_id, parent_run_id,
                    metadata, kwargs)

    def _llm_start(self, operation: str, serialized: Any, prompts: Any, run_id: UUID, parent_run_id: UUID | None,
                   metadata: dict[str, Any] | None, kwargs: dict[str, Any]) -> None:
        _remember_credentials(serialized)  # scrubbed from what is exported, should the server echo them
        md = metadata or {}
        params = kwargs.get("invocation_params") or {}
        if not isinstance(params, dict):
            params = {}
        model = md.get("ls_model_name") or params.get("model") or params.get("model_name")
        model = model if isinstance(model, str) and model else None
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": _provider(md, serialized),
        }
        if model:
            attrs["gen_ai.request.model"] = model
        metric_attrs = dict(attrs)
        for attr, value, read in (
            ("gen_ai.request.temperature", md.get("ls_temperature", params.get("temperature")), genai.as_double),
            ("gen_ai.request.max_tokens", md.get("ls_max_tokens", params.get("max_tokens")), genai.as_int),
            ("gen_ai.request.top_p", params.get("top_p"), genai.as_double),
            ("gen_ai.request.top_k", params.get("top_k"), genai.as_int),
            ("gen_ai.request.frequency_penalty", params.get("frequency_penalty"), genai.as_double),
            ("gen_ai.request.presence_penalty", params.get("presence_penalty"), genai.as_double),
            ("gen_ai.request.seed", params.get("seed"), genai.as_int),
        ):
            number = read(value)  # the conventions' types: doubles are floats even for 1
            if number is not None:
                attrs[attr] = number
        stop = md.get("ls_stop", params.get("stop"))
        if isinstance(stop, str):
            stop = [stop]
        if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
            attrs["gen_ai.request.stop_sequences"] = list(stop)
        if params.get("stream") is True:
            attrs["gen_ai.request.stream"] = True
        on_span, on_event = _content_mode()
        content: dict[str, str] = {}
        if on_span or on_event:
            limit = _limit()
            if operation == "chat" and prompts:
                # System messages stay in the history, where they were sent (the conventions'
                # gen_ai.system_instructions is for instructions given apart from it).
                content[genai.INPUT_MESSAGES] = to_json([_message_parts(m) for m in prompts[0]], limit)
            elif prompts:
                content[genai.INPUT_MESSAGES] = to_json(
                    [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts[:1]], limit
                )
            tools = tool_definitions(params.get("tools"))
            if tools:
                content[genai.TOOL_DEFINITIONS] = to_json(tools, limit)
            if on_span:
                attrs.update(content)
        name = "%s %s" % (operation, model) if model else operation
        run = self._start(run_id, parent_run_id, name, "llm", SpanKind.CLIENT, attrs)
        if run is not None:
            run.metric_attributes = metric_attrs
            # The event repeats the request's attributes; its content is decoded to structures.
            run.on_event = {**{k: v for k, v in attrs.items() if k not in content}, **content} if on_event else None
            genai.watch_for_sdk_span(run.span)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                         **kwargs: Any) -> None:
        self._guard("llm token", self._streaming, run_id)

    def _streaming(self, run_id: UUID) -> None:
        """LangChain calls this just before it yields a chunk to whoever iterates the model's
        stream. The run's context was attached at its start in that consumer's context (the
        generator runs in it), so that the SDK call nests under the run; the SDK stream is
        open now, so detach it: between chunks the consumer must see its own current span
        (its spans must not nest under ours, nor its detaches go out of order)."""
        run = _runs.get(run_id)
        if run is None or run.token is None or otel_context.get_current() is not run.ctx:
            return
        with _lock:
            if run.token is not None and _reset(run.token):
                run.token = None
                _attached.pop(run.span_id, None)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._guard("llm end", self._llm_end, response, run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None,
                     **kwargs: Any) -> None:
        self._guard("llm error", self._error, error, run_id)

    def _llm_end(self, response: Any, run_id: UUID) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        span = run.span
        generations = [g for batch in (getattr(response, "generations", None) or []) for g in batch][:1]
        llm_output = getattr(response, "llm_output", None)
        attrs: dict[str, Any] = {}
        response_model = None
        finish: list[str] = []
        out_messages: list[dict[str, Any]] = []
        for gen in generations:
            message = getattr(gen, "message", None)
            meta = getattr(message, "response_metadata", None) or {}
            info = getattr(gen, "generation_info", None) or {}
            response_model = response_model or meta.get("model_name") or meta.get("model")
            response_id = meta.get("id")
            if not response_id:
                mid = getattr(message, "id", None)
                if isinstance(mid, str) and not mid.startswith(("run-", "lc_run")):
                    response_id = mid
            if isinstance(response_id, str) and response_id:
                attrs["gen_ai.response.id"] = response_id
            reason = meta.get("finish_reason") or meta.get("stop_reason") or info.get("finish_reason")
            if isinstance(reason, str) and reason:
                finish.append(_FINISH_REASONS.get(reason, reason))
            # The output message's finish_reason (required by the conventions' schema at the
            # pin): the model's, or "unknown" for a model that reports none (a fake model, an
            # integration that drops it). The run completed, so "error" would be wrong, and
            # gen_ai.response.finish_reasons is left out rather than guessed.
            finish_reason = _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) and reason else "unknown"
            if message is not None:
                out = _message_parts(message)
                out["role"] = "assistant"
                out["finish_reason"] = finish_reason
                out_messages.append(out)
            else:
                text = getattr(gen, "text", None)
                if isinstance(text, str):
                    out_messages.append({"role": "assistant", "parts": [{"type": "text", "content": text}],
                                         "finish_reason": finish_reason})
        if not response_model and isinstance(llm_output, dict):
            response_model = llm_output.get("model_name") or llm_output.get("model")
        if isinstance(response_model, str) and response_model:
            attrs["gen_ai.response.model"] = response_model
        else:
            response_model = None
        if finish:
            attrs["gen_ai.response.finish_reasons"] = finish
        sdk_span, sdk_usage = genai.sdk_span_seen(span)
        usage = None if sdk_usage else _usage(generations, llm_output)
        if usage is not None:
            attrs.update(usage.attributes())
        on_span, on_event = _content_mode()
        event = dict(run.on_event or {})
        if out_messages and (on_span or on_event):
            encoded = to_json(out_messages, _limit())
            if on_span:
                attrs[genai.OUTPUT_MESSAGES] = encoded
            if on_event:
                event[genai.OUTPUT_MESSAGES] = encoded
        span.set_attributes(attrs)
        if run.on_event is not None:
            event.update({k: v for k, v in attrs.items() if k != genai.OUTPUT_MESSAGES})
            genai.emit_content_event(span, event)
        if not sdk_usage:
            self._record_metrics(run, response_model, None, usage, duration=not sdk_span)
        span.end()

    def _record_metrics(self, run: _Run, response_model: str | None, error_type: str | None,
                        usage: genai.Usage | None = None, duration: bool = True) -> None:
        """The GenAI metrics an instrumented SDK span under this run did not record: all of
        them without such a span, else the token usage (the SDK span saw none)."""
        instruments = telemetry.instruments()
        if not instruments.enabled:
            return
        attrs = dict(run.metric_attributes or {})
        if response_model:
            attrs["gen_ai.response.model"] = response_model
        if error_type:
            attrs["error.type"] = error_type
        counts = usage.counts() if usage is not None else None
        if duration:  # no SDK span under this run: the run is the model call
            instruments.record_call(genai_metrics.INFERENCE, perf_counter() - run.started, attrs, counts)
        else:  # the SDK span recorded the call's duration, and left its usage to this run
            instruments.record_call(genai_metrics.USAGE, None, attrs, counts)

    # --- tools --------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._guard("tool start", self._tool_start, serialized, input_str, inputs, run_id, parent_run_id, kwargs)

    def _tool_start(self, serialized: Any, input_str: Any, inputs: Any, run_id: UUID, parent_run_id: UUID | None,
                    kwargs: dict[str, Any]) -> None:
        name = _name(serialized, kwargs, "tool")
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        description = serialized.get("description") if isinstance(serialized, dict) else None
        if isinstance(description, str) and description:
            attrs["gen_ai.tool.description"] = description
        call_id = kwargs.get("tool_call_id")
        if isinstance(call_id, str) and call_id:
            attrs["gen_ai.tool.call.id"] = call_id
        if _capture():
            attrs["gen_ai.tool.call.arguments"] = to_json(inputs if inputs is not None else input_str, _limit())
        run = self._start(run_id, parent_run_id, "execute_tool %s" % name, "tool", SpanKind.INTERNAL, attrs)
        if run is not None and run.parent is not None:
            self._mark_agent(run.parent)

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._guard("tool end", self._tool_end, output, run_id)

    def _tool_end(self, output: Any, run_id: UUID) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        if _capture():
            result = getattr(output, "content", output) if getattr(output, "type", None) == "tool" else output
            run.span.set_attribute("gen_ai.tool.call.result", to_json(result, _limit()))
        run.span.end()

    def on_tool_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None,
                      **kwargs: Any) -> None:
        self._guard("tool error", self._error, error, run_id)

    # --- retrievers ---------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._guard("retriever start", self._retriever_start, serialized, query, run_id, parent_run_id, kwargs)

    def _retriever_start(self, serialized: Any, query: Any, run_id: UUID, parent_run_id: UUID | None,
                         kwargs: dict[str, Any]) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "retrieval",
            "langchain.retriever.name": _name(serialized, kwargs, "retriever"),
        }
        if _capture() and isinstance(query, str):
            attrs["gen_ai.retrieval.query.text"] = query
        self._start(run_id, parent_run_id, "retrieval", "retriever", SpanKind.INTERNAL, attrs)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                         **kwargs: Any) -> None:
        self._guard("retriever end", self._retriever_end, documents, run_id)

    def _retriever_end(self, documents: Any, run_id: UUID) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        docs = list(documents) if isinstance(documents, (list, tuple)) else []
        run.span.set_attribute("gen_ai.retrieval.documents.count", len(docs))
        if _capture():
            payload = [
                {"id": getattr(d, "id", None), "content": getattr(d, "page_content", None),
                 "metadata": to_jsonable(getattr(d, "metadata", None) or {}, _limit())}
                for d in docs
            ]
            run.span.set_attribute("gen_ai.retrieval.documents", to_json(payload, _limit()))
        run.span.end()

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None,
                           **kwargs: Any) -> None:
        self._guard("retriever error", self._error, error, run_id)
