"""The GenAI convention names the spans carry, under ``WEAVE_AGENT_GENAI_CONVENTIONS``.

The GenAI semantic conventions left the core repository after v1.41 and live in
``open-telemetry/semantic-conventions-genai``. The agent follows its ``main`` at
``COMMIT`` plus the later changelog fragments that touch what it emits:

* #440: ``gen_ai.usage.cache_creation.input_tokens`` is now
  ``gen_ai.usage.cache_write.input_tokens``;
* the inference metrics are ``gen_ai.client.inference.*``, token usage is per-direction
  counters and per-operation histograms (#374), embeddings have their own metrics
  (``export.genai_metrics`` holds the metric names);
* #217: ``gen_ai.request.top_k`` is an int;
* #363: ``gen_ai.output.messages[].finish_reason`` is deprecated in favour of
  ``gen_ai.response.finish_reasons`` (the agent sets both: the pinned schema still
  requires the field, the newest allows it);
* #126/#354/#410/#571: the ``invoke_workflow`` span is an internal ``invoke_agent`` span
  (``gen_ai.operation.name`` stays ``invoke_workflow``) and ``gen_ai.workflow.name`` is
  ``gen_ai.agent.name``.

``newest`` (the default) emits these names, ``v1.41`` the names of the last core release
(for dashboards that read them), ``both`` every one of them during a migration.
"""

from __future__ import annotations

from typing import Any

from ..export import telemetry

REPOSITORY = "open-telemetry/semantic-conventions-genai"
COMMIT = "fe5608e249d64bc5961329a82f8915fe95ced51a"

NEWEST, V1_41, BOTH = "newest", "v1.41", "both"

# ``Usage`` slot index -> attribute name(s), per setting.
_USAGE_NEWEST = (
    ("gen_ai.usage.input_tokens", 0),
    ("gen_ai.usage.output_tokens", 1),
    ("gen_ai.usage.cache_read.input_tokens", 2),
    ("gen_ai.usage.cache_write.input_tokens", 3),
    ("gen_ai.usage.reasoning.output_tokens", 4),
)
_USAGE_V1_41 = (
    ("gen_ai.usage.input_tokens", 0),
    ("gen_ai.usage.output_tokens", 1),
    ("gen_ai.usage.cache_read.input_tokens", 2),
    ("gen_ai.usage.cache_creation.input_tokens", 3),
    ("gen_ai.usage.reasoning.output_tokens", 4),
)
USAGE_ATTRIBUTES = {
    NEWEST: _USAGE_NEWEST,
    V1_41: _USAGE_V1_41,
    BOTH: _USAGE_NEWEST + (("gen_ai.usage.cache_creation.input_tokens", 3),),
}

_AGENT_NAME = {NEWEST: ("gen_ai.agent.name",), V1_41: ("gen_ai.workflow.name",),
               BOTH: ("gen_ai.agent.name", "gen_ai.workflow.name")}


def mode() -> str:
    """The setting of this pipeline (read once with the other settings)."""
    return telemetry.settings().genai_conventions


def usage_attributes() -> tuple[tuple[str, int], ...]:
    """``(attribute, Usage.counts() index)`` pairs for this setting."""
    return USAGE_ATTRIBUTES.get(mode(), _USAGE_NEWEST)


def workflow_name_attributes(name: str) -> dict[str, Any]:
    """The attributes that name a workflow (a LangGraph graph): ``gen_ai.agent.name`` now,
    ``gen_ai.workflow.name`` in v1.41."""
    return {key: name for key in _AGENT_NAME.get(mode(), _AGENT_NAME[NEWEST])}
