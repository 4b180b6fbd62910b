"""LangChain and LangGraph: runs as spans, through a callback handler injected at configure time."""

from .langchain import langchain_patcher
from .tracer import WeaveAgentTracer

__all__ = ["WeaveAgentTracer", "langchain_patcher"]
