"""LangChain and LangGraph: runs as spans, through a callback handler injected at configure time."""

from .langchain import WeaveAgentTracer, langchain_patcher

__all__ = ["WeaveAgentTracer", "langchain_patcher"]
