"""Anthropic: messages create/stream/parse (first-party, beta, Bedrock, Vertex)."""

from .anthropic import anthropic_patcher

__all__ = ["anthropic_patcher"]
