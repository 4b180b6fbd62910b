"""DSPy (``dspy``): modules, predictors, adapters, LM calls and tools as one tree of spans."""

from .dspy import dspy_patcher

__all__ = ["dspy_patcher"]
