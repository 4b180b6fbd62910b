"""LangChain: whether a run is part of a stream.

A run started inside a generator (``Runnable.stream``/``transform``, LangGraph's
``Pregel.stream``) is attached differently (see the docstring of ``langchain.py``): the
callback tells by the first frame outside LangChain's callback managers and this
instrumentation. LangChain streams through callbacks (``on_llm_new_token``), so there is
no accumulator here: the model's run receives its output whole at its end.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _called_from_generator() -> bool:
    """Whether the code that started this callback (the first frame outside LangChain's
    callback managers and this instrumentation) is a generator: ``Runnable.stream``/``transform``,
    LangGraph's ``Pregel.stream``."""
    frame: Any = sys._getframe(1)
    for _ in range(32):
        if frame is None:
            return False
        module = frame.f_globals.get("__name__", "")
        # (the tracer's callbacks live beside this file: skip every module of the package)
        if module.rpartition(".")[0] != __package__ and not module.startswith("langchain_core.callbacks"):
            return bool(frame.f_code.co_flags & _GENERATOR_FLAGS)
        frame = frame.f_back
    return False
