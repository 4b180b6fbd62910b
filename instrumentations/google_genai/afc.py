"""Automatic function calling (AFC): the loop's spans.

When ``config.tools`` holds Python functions, one public ``generate_content`` (or
``generate_content_stream``, or ``chat.send_message``) runs a loop: call the model, run
the functions it asked for (``google.genai._extra_utils.invoke_function_from_dict_args``,
or ``..._async`` for coroutine functions), call the model again with their results. The
model calls are traced one span each where the SDK makes the request
(``google_genai.py``); this module adds

* the loop's parent: an INTERNAL span ``automatic_function_calling {model}`` around the
  public call, so that every model call and function run of the loop is in one trace, in
  order, even when the app has no span of its own. Only for a call whose tools hold a
  Python function and whose AFC is not disabled: any other call gets no extra span (the
  check reads the config, nothing else);
* ``execute_tool {name}`` (INTERNAL, ``gen_ai.tool.name``/``.type``/``.description``,
  with content capture on ``gen_ai.tool.call.arguments``/``.result``) around each
  function run. A function that raises makes the span ERROR (``error.type`` is the
  function's exception class; the SDK wraps it in ``FunctionInvocationError`` and hands
  the model the error text, as without the agent).

A sync function run by the async loop goes through ``asyncio.to_thread``, which copies
the context: its span has the loop's span as parent too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from weave_agent.export import telemetry
from weave_agent.streams import Accumulator, AsyncGeneratorProxy, StreamState
from weave_agent.tracing.calls import Call, OpSpec
from weave_agent.tracing.serialize import to_json

from .extract import _get, model_id

TOOL_TYPE = "function"


def _capture_on_span() -> bool:
    return telemetry.settings().capture_content in ("span_only", "span_and_event")


def afc_wanted(config: Any) -> bool:
    """Whether the SDK will run functions for this call: ``config.tools`` holds a Python
    callable and ``automatic_function_calling`` is not disabled (nor given 0 calls)."""
    tools = _get(config, "tools") if config is not None else None
    if not isinstance(tools, (list, tuple)) or not any(
        callable(t) and not isinstance(t, type) and not hasattr(t, "function_declarations") for t in tools
    ):
        return False
    afc = _get(config, "automatic_function_calling", "automaticFunctionCalling")
    if afc is None:
        return True
    if _get(afc, "disable") is True:
        return False
    calls = _get(afc, "maximum_remote_calls", "maximumRemoteCalls")
    return not (isinstance(calls, int) and calls <= 0)


class LoopSpec(OpSpec):
    """The parent span of one AFC loop. For the async stream (a coroutine giving an async
    generator) each step of the generator runs under it, so the model calls and function
    runs made while the app iterates are its children."""

    def __init__(self) -> None:
        super().__init__("automatic_function_calling", SpanKind.INTERNAL, Accumulator(None))

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        model = model_id(inputs.get("model"))
        attrs: dict[str, Any] = {"google_genai.automatic_function_calling": True}
        if model:
            attrs["gen_ai.request.model"] = model
        return ("%s %s" % (self.name, model) if model else self.name), attrs, None

    def is_stream(self, inputs: dict[str, Any], result: Any) -> bool:
        return hasattr(type(result), "__anext__")

    def wrap_stream(self, result: Any, call: Call) -> Any:
        st = StreamState(call, self.accumulator)
        st.ctx = trace.set_span_in_context(call.span)
        return AsyncGeneratorProxy(result, st)


class ToolSpec(OpSpec):
    """``execute_tool {name}`` around ``invoke_function_from_dict_args[_async](args,
    function_to_invoke)``."""

    def __init__(self) -> None:
        super().__init__("execute_tool", SpanKind.INTERNAL)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        fn = inputs.get("function_to_invoke")
        name = getattr(fn, "__name__", None)
        name = name if isinstance(name, str) and name else TOOL_TYPE
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": TOOL_TYPE,
        }
        doc = inspect.getdoc(fn) if fn is not None else None
        if doc:
            attrs["gen_ai.tool.description"] = doc
        if _capture_on_span():
            attrs["gen_ai.tool.call.arguments"] = to_json(inputs.get("args"), telemetry.settings().max_value_size)
        return "execute_tool %s" % name, attrs, None

    def on_end(self, call: Call, output: Any) -> None:
        if _capture_on_span():
            call.span.set_attribute("gen_ai.tool.call.result", to_json(output, telemetry.settings().max_value_size))

    def error_type(self, exc: BaseException) -> str:
        # FunctionInvocationError wraps what the function raised (raised inside its except).
        inner = exc.__cause__ or exc.__context__
        return type(inner if inner is not None else exc).__name__
