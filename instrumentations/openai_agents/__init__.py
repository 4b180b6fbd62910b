"""OpenAI Agents SDK (``agents``): runs, agents, tools, handoffs and guardrails as spans."""

from .openai_agents import openai_agents_patcher

__all__ = ["openai_agents_patcher"]
