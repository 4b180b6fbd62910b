"""CrewAI: the key an agent's ``LLM`` was given, so that no exported string carries it.

CrewAI's native providers build their SDK client from the ``LLM``'s ``api_key`` (the OpenAI
instrumentation learns that client's key too), but a provider whose SDK the agent does not
instrument, or an error CrewAI formats from the model's answer, may quote it. Read from the
fields the ``LLM`` stores, once per LLM object, when an agent's task starts. Imports nothing
else of this folder.
"""

from __future__ import annotations

from typing import Any

from weave_agent.tracing.secrets import remember_client


def credentials(llm: Any) -> list[Any]:
    """The secret strings an ``LLM`` (a CrewAI ``BaseLLM``) holds."""
    stored = getattr(llm, "__dict__", None) or {}
    return [stored.get("api_key")]


def remember(llm: Any) -> None:
    """Learn ``llm``'s key (once per LLM object)."""
    if llm is not None and not isinstance(llm, str):
        remember_client(llm, credentials)
