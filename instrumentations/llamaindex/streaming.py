"""LlamaIndex: which results are streams, and noticing a stream dropped unread.

``stream_chat``/``astream_chat`` (and the completion twins) return a generator that
LlamaIndex's ``llm_chat_callback`` wraps: it reports every chunk
(``LLMChatInProgressEvent``), the end (``LLMChatEndEvent``) and any exception raised
through it, ``GeneratorExit`` included, so ``break``, ``close()`` and collection after the
first chunk all come as events. A generator collected before its first ``next`` never ran
its body and reports nothing: ``on_collected`` is the only notice. A stream still open at
interpreter exit is ended by ``handlers.end_open_streams`` (``interpreter_exit``). No accumulator: the end
event carries the last response, with the whole text. Imports nothing else of this folder.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

CANCELLED = "cancelled"  # the task consuming an async stream was cancelled (ERROR, CancelledError)


def is_stream(result: Any) -> bool:
    return inspect.isgenerator(result) or inspect.isasyncgen(result)


def on_collected(stream: Any, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``stream`` is garbage-collected (it must not hold the stream)."""
    try:
        weakref.finalize(stream, callback)
    except TypeError:
        pass  # not weak-referenceable: the end and exception events still end the span
