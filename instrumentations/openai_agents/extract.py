"""OpenAI Agents SDK: what its span data says, in GenAI terms.

The SDK describes each step it takes with a span-data object (``agents.tracing.span_data``);
it exists even when the SDK's tracing is off (a ``NoOpSpan`` keeps it), so these readers
work whatever the app chose for the SDK's own traces. Which step becomes which span:

* ``AgentSpanData`` -> ``invoke_agent {name}`` (``gen_ai.agent.name``, the tools and
  handoffs the agent offered);
* ``FunctionSpanData`` -> ``execute_tool {name}`` (arguments and result with content
  capture on; a tool served over MCP is left to the MCP instrumentation's span);
* ``HandoffSpanData`` -> ``handoff {to agent}``, ``GuardrailSpanData`` -> ``guardrail
  {name}``: INTERNAL steps of the SDK that the conventions do not name;
* everything else (the SDK's task, turn, response and generation spans, custom spans) gets
  no span: the model call is the OpenAI instrumentation's ``chat`` span, and a turn is the
  time between two of them.

Read by ``sdk_spans.py``; imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.export import telemetry
from weave_agent.tracing import conventions
from weave_agent.tracing.serialize import to_json

AGENT = "agent"
TOOL = "function"
HANDOFF = "handoff"
GUARDRAIL = "guardrail"
TRACED = (AGENT, TOOL, HANDOFF, GUARDRAIL)

WORKFLOW_DEFAULT = "Agent workflow"  # the SDK's RunConfig.workflow_name default


def capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def limit() -> int:
    return telemetry.settings().max_value_size


def kind_of(span_data: Any) -> str | None:
    """The step this span data describes, or None when it gets no span of ours."""
    try:
        kind = span_data.type
    except Exception:
        return None
    if kind not in TRACED:
        return None
    if kind == TOOL and getattr(span_data, "mcp_data", None):
        return None  # a tool served over MCP: the MCP instrumentation's execute_tool span
    return kind


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def start(kind: str, span_data: Any) -> tuple[str, dict[str, Any]]:
    """The span name and the attributes known when the step starts."""
    if kind == AGENT:
        name = _text(span_data.name, "agent")
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.agent.name": name,
        }
        return "invoke_agent %s" % name, attrs
    if kind == TOOL:
        name = _text(span_data.name, "tool")
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function"}
        return "execute_tool %s" % name, attrs
    if kind == HANDOFF:
        attrs = {}
        source = getattr(span_data, "from_agent", None)
        if isinstance(source, str) and source:
            attrs["openai_agents.handoff.from_agent"] = source
        return "handoff", attrs
    name = _text(getattr(span_data, "name", None), "guardrail")
    return "guardrail %s" % name, {"openai_agents.guardrail.name": name}


def end(kind: str, span_data: Any) -> tuple[str | None, dict[str, Any]]:
    """A new span name (the handoff's target is known at its end only) and the attributes
    the step's end adds."""
    attrs: dict[str, Any] = {}
    if kind == AGENT:
        tools = _strings(getattr(span_data, "tools", None))
        if tools:
            attrs["openai_agents.agent.tools"] = tools
        handoffs = _strings(getattr(span_data, "handoffs", None))
        if handoffs:
            attrs["openai_agents.agent.handoffs"] = handoffs
        output_type = getattr(span_data, "output_type", None)
        if isinstance(output_type, str) and output_type:
            attrs["openai_agents.agent.output_type"] = output_type
        return None, attrs
    if kind == TOOL:
        if capture():
            arguments = getattr(span_data, "input", None)
            if isinstance(arguments, str) and arguments:
                attrs["gen_ai.tool.call.arguments"] = _truncate(arguments)
            result = getattr(span_data, "output", None)
            if result is not None:
                attrs["gen_ai.tool.call.result"] = result if isinstance(result, str) else to_json(result, limit())
                attrs["gen_ai.tool.call.result"] = _truncate(attrs["gen_ai.tool.call.result"])
        return None, attrs
    if kind == HANDOFF:
        target = getattr(span_data, "to_agent", None)
        if isinstance(target, str) and target:
            attrs["openai_agents.handoff.to_agent"] = target
            return "handoff %s" % target, attrs
        return None, attrs
    triggered = getattr(span_data, "triggered", None)
    if isinstance(triggered, bool):
        attrs["openai_agents.guardrail.triggered"] = triggered
    return None, attrs


def workflow(run_config: Any) -> tuple[str, dict[str, Any]]:
    """The span of one ``Runner`` run: ``invoke_workflow {workflow name}``."""
    name = _text(getattr(run_config, "workflow_name", None), WORKFLOW_DEFAULT)
    attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.provider.name": "openai",
                             **conventions.workflow_name_attributes(name)}
    group = getattr(run_config, "group_id", None)
    if isinstance(group, str) and group:
        attrs["gen_ai.conversation.id"] = group
    return "invoke_workflow %s" % name, attrs


def starting_agent_name(agent: Any) -> str | None:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else None


def error_type(error: Any) -> str:
    """A low-cardinality ``error.type`` for an error the SDK recorded on a step without an
    exception (a tool whose failure was returned to the model, a rejected approval)."""
    return "_OTHER"


def error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def _strings(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return []
    return [v for v in value if isinstance(v, str)]


def _truncate(text: str) -> str:
    n = limit()
    return text if n <= 0 or len(text) <= n else text[:n]
