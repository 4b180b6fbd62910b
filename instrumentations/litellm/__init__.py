"""LiteLLM: completion, embedding, responses and text_completion (and Router calls)."""

from .litellm import litellm_patcher

__all__ = ["litellm_patcher"]
