from .groq import groq_patcher

__all__ = ["groq_patcher"]
