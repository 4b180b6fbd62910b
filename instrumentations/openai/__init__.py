"""OpenAI: chat completions, the Responses API, embeddings and legacy completions."""

from .openai import openai_patcher

__all__ = ["openai_patcher"]
