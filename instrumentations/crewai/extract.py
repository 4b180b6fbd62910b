"""CrewAI: what a crew, an agent's task and a tool say in GenAI terms.

* a crew's run (``Crew.kickoff``/``akickoff``) -> ``invoke_workflow {crew name}``
  (``gen_ai.operation.name`` ``invoke_workflow``, the name as the conventions version the
  agent emits spells a workflow's), with the process (``sequential``/``hierarchical``);
* an agent working on a task (``Agent.execute_task``/``aexecute_task``) or on its own
  (``Agent.kickoff``/``kickoff_async``/``akickoff``) -> ``invoke_agent {role}`` (``gen_ai.agent.name`` the
  role, ``gen_ai.agent.id``, the model and provider of its ``LLM``; the task's description
  and the answer as ``input.value``/``output.value`` with content capture on);
* a tool run -> ``execute_tool {name}`` (``gen_ai.tool.*``; arguments and result with
  content capture on).

No span here carries ``gen_ai.usage.*``: each model call is the SDK instrumentation's span
(CrewAI's native OpenAI provider calls ``chat.completions.with_raw_response.create``).
Read by ``crewai.py``; imports nothing else of this folder.
"""

from __future__ import annotations

import json
from typing import Any

from weave_agent.export import telemetry
from weave_agent.tracing import conventions
from weave_agent.tracing.serialize import to_json

CREW_DEFAULT = "crew"  # CrewAI's Crew.name default

# CrewAI's provider names (``BaseLLM.provider``) that differ from the conventions' values.
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
}


def capture() -> bool:
    return telemetry.settings().capture_content != "no_content"


def limit() -> int:
    return telemetry.settings().max_value_size


def _text(value: Any, default: str) -> str:
    return value.strip() if isinstance(value, str) and value.strip() else default


def _truncate(text: str) -> str:
    n = limit()
    return text if n <= 0 or len(text) <= n else text[:n]


def crew(crew_obj: Any) -> tuple[str, dict[str, Any]]:
    """The span of one crew run."""
    name = _text(getattr(crew_obj, "name", None), CREW_DEFAULT)
    attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_workflow", **conventions.workflow_name_attributes(name)}
    process = getattr(getattr(crew_obj, "process", None), "value", None)
    if isinstance(process, str):
        attrs["crewai.crew.process"] = process
    crew_id = getattr(crew_obj, "id", None)
    if crew_id is not None:
        attrs["crewai.crew.id"] = str(crew_id)
    return "invoke_workflow %s" % name, attrs


def llm_of(agent: Any) -> Any:
    llm = getattr(agent, "llm", None)
    return None if isinstance(llm, str) else llm


def agent(agent_obj: Any, task: Any = None) -> tuple[str, dict[str, Any]]:
    """The span of an agent working on ``task`` (None: a standalone ``Agent.kickoff``)."""
    role = _text(getattr(agent_obj, "role", None), "agent")
    attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": role}
    agent_id = getattr(agent_obj, "id", None)
    if agent_id is not None:
        attrs["gen_ai.agent.id"] = str(agent_id)
    llm = llm_of(agent_obj)
    provider = getattr(llm, "provider", None)
    if isinstance(provider, str) and provider:
        attrs["gen_ai.provider.name"] = _PROVIDERS.get(provider, provider)
    model = getattr(llm, "model", None)
    if isinstance(model, str) and model:
        attrs["gen_ai.request.model"] = model
    if task is not None:
        task_name = getattr(task, "name", None)
        if isinstance(task_name, str) and task_name:
            attrs["crewai.task.name"] = task_name
        task_id = getattr(task, "id", None)
        if task_id is not None:
            attrs["crewai.task.id"] = str(task_id)
    if capture():
        goal = getattr(agent_obj, "goal", None)
        if isinstance(goal, str) and goal:
            attrs["gen_ai.agent.description"] = _truncate(goal)
        description = getattr(task, "description", None) if task is not None else None
        if isinstance(description, str) and description:
            attrs["input.value"] = _truncate(description)
            attrs["input.mime_type"] = "text/plain"
    return "invoke_agent %s" % role, attrs


def agent_end(result: Any) -> dict[str, Any]:
    """What an agent's answer adds (content capture on only)."""
    if not capture() or result is None:
        return {}
    raw = getattr(result, "raw", result)  # Agent.kickoff's LiteAgentOutput; execute_task's str
    text = raw if isinstance(raw, str) else to_json(raw, limit())
    return {"output.value": _truncate(text), "output.mime_type": "text/plain"}


def crew_end(result: Any) -> dict[str, Any]:
    """What a crew's output adds (content capture on only)."""
    raw = getattr(result, "raw", None)
    if not capture() or not isinstance(raw, str):
        return {}
    return {"output.value": _truncate(raw), "output.mime_type": "text/plain"}


def tool_name(tool: Any) -> str:
    return _text(getattr(tool, "name", None), "tool")


def tool(tool_obj: Any, arguments: Any) -> tuple[str, dict[str, Any]]:
    """The span of one tool run; ``arguments`` as the tool received them."""
    name = tool_name(tool_obj)
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                             "gen_ai.tool.type": "function"}
    if capture():
        description = getattr(tool_obj, "description", None)
        if isinstance(description, str) and description:
            attrs["gen_ai.tool.description"] = _truncate(description)
        if arguments is not None:
            text = arguments if isinstance(arguments, str) else to_json(arguments, limit())
            attrs["gen_ai.tool.call.arguments"] = _truncate(text)
    return "execute_tool %s" % name, attrs


def tool_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], invoke: bool) -> Any:
    """The arguments of ``BaseTool.run(*args, **kwargs)`` or ``CrewStructuredTool.invoke(input)``."""
    if invoke:
        value = kwargs.get("input", args[0] if args else None)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if args:
        return list(args) if not kwargs else {"args": list(args), **kwargs}
    return kwargs


def tool_end(result: Any) -> dict[str, Any]:
    if not capture() or result is None:
        return {}
    text = result if isinstance(result, str) else to_json(result, limit())
    return {"gen_ai.tool.call.result": _truncate(text)}
