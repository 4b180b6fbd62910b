"""DSPy's own steps as spans: modules and predictors, adapters, tools.

Each is a small ``OpSpec`` the patcher puts on one method of DSPy's base classes
(``Module.__call__``/``acall``, ``Adapter.__call__``/``acall``, ``Tool.__call__``/``acall``);
the call's span is current while it runs, so whatever runs inside (a predictor in a module,
the adapter in a predictor, the LM call in the adapter, a tool's own calls) nests under it.

* a module or predictor: INTERNAL, named for its class (``Predict``, ``ChainOfThought``, the
  app's own ``dspy.Module``), with ``dspy.signature`` for predictors;
* a ReAct agent (``dspy.ReAct`` and its subclasses): ``invoke_agent {class}``, the
  conventions' agent span (INTERNAL: the agent runs in the process);
* an adapter: INTERNAL, named for its class (``ChatAdapter``; the JSON adapter ChatAdapter
  falls back to after a parse error is a span of its own, after the failed one);
* a tool: ``execute_tool {name}`` (INTERNAL), its arguments and result with content capture.

Inputs and outputs (``input.value``/``output.value``, the tool's arguments and result) are
recorded only when content capture is on.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from weave_agent.export import telemetry
from weave_agent.tracing.calls import Call, OpSpec
from weave_agent.tracing.serialize import to_json

from .extract import (
    arguments_json,
    as_text,
    jsonable,
    module_name,
    provider_of,
    signature_of,
    tool_description,
    tool_name,
)

_AGENT_CLASSES = frozenset(("dspy.predict.react.ReAct",))


def _capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def _limit() -> int:
    return telemetry.settings().max_value_size


def _inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in inputs.items()}


def is_agent(module: Any) -> bool:
    """A ReAct module (or the app's subclass of one): an agent choosing tools in a loop."""
    for klass in type(module).__mro__:
        if "%s.%s" % (klass.__module__, klass.__qualname__) in _AGENT_CLASSES:
            return True
    return False


def _configured_provider() -> str | None:
    module = sys.modules.get("dspy.dsp.utils.settings")
    settings = getattr(module, "settings", None) if module is not None else None
    try:
        lm = settings.lm if settings is not None else None
    except Exception:
        return None
    return provider_of(lm) if lm is not None else None


class ModuleSpec(OpSpec):
    """``Module.__call__``/``acall``: one span per module or predictor run."""

    def __init__(self) -> None:
        super().__init__("dspy.module", SpanKind.INTERNAL)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        name = module_name(instance)
        attrs: dict[str, Any] = {"dspy.module.type": name}
        signature = signature_of(instance)
        if signature:
            attrs["dspy.signature"] = signature
        if is_agent(instance):
            attrs["gen_ai.operation.name"] = "invoke_agent"
            attrs["gen_ai.agent.name"] = name
            provider = _configured_provider()
            if provider:
                attrs["gen_ai.provider.name"] = provider
            name = "invoke_agent " + name
        if _capture():
            attrs["input.value"] = to_json(_inputs(inputs), _limit())
            attrs["input.mime_type"] = "application/json"
        return name, attrs, None

    def on_end(self, call: Call, output: Any) -> None:
        if _capture():
            call.span.set_attributes(
                {"output.value": to_json(jsonable(output), _limit()), "output.mime_type": "application/json"}
            )


class AdapterSpec(OpSpec):
    """``Adapter.__call__``/``acall``: format the prompt, call the LM, parse its answer."""

    def __init__(self) -> None:
        super().__init__("dspy.adapter", SpanKind.INTERNAL)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        name = type(instance).__name__ if instance is not None else "Adapter"
        attrs: dict[str, Any] = {"dspy.adapter.type": name}
        signature = inputs.get("signature")
        text = getattr(signature, "signature", None)
        if isinstance(text, str) and text:
            attrs["dspy.signature"] = text
        return name, attrs, None


class ToolSpec(OpSpec):
    """``Tool.__call__``/``acall``: one ``execute_tool`` span per tool run."""

    def __init__(self) -> None:
        super().__init__("dspy.tool", SpanKind.INTERNAL)

    def start(self, inputs: dict[str, Any], instance: Any = None) -> tuple[str, Mapping[str, Any] | None, Any]:
        name = tool_name(instance)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        description = tool_description(instance)
        if description:
            attrs["gen_ai.tool.description"] = description
        if _capture():
            attrs["gen_ai.tool.call.arguments"] = arguments_json(_inputs(inputs), _limit())
        return "execute_tool " + name, attrs, None

    def on_end(self, call: Call, output: Any) -> None:
        if _capture():
            call.span.set_attribute("gen_ai.tool.call.result", as_text(output, _limit()))
