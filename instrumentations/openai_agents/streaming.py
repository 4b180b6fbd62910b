"""OpenAI Agents SDK: when a streamed run ends.

``Runner.run_streamed`` returns at once a ``RunResultStreaming`` whose run loop goes on in
an asyncio task (``run_loop_task``); the app reads ``stream_events()`` meanwhile, or stops
reading (``break``, ``cancel()``, the result dropped). The run's span ends when that task
is done, however it ends: completed, failed (the error the SDK stores for
``stream_events()`` to raise, or the task's own), or cancelled. The span is never current in
the app: it is attached only while ``run_streamed`` creates the task (which copies the
context), never between events. There are no chunks to accumulate here: each model call's
stream is the OpenAI instrumentation's. Imports nothing else of this folder.
"""

from __future__ import annotations

from typing import Any

CANCELLED = "cancelled"


def run_task(result: Any) -> Any:
    """The task running a streamed run's loop, or None (an SDK that keeps it elsewhere)."""
    task = getattr(result, "run_loop_task", None)
    if task is None:
        task = getattr(result, "_run_impl_task", None)
    return task if task is not None and hasattr(task, "add_done_callback") else None


def outcome(result: Any, task: Any) -> tuple[BaseException | None, bool]:
    """(the error the run ended with, whether it was cancelled) once ``task`` is done."""
    if task.cancelled():
        return None, True
    error = task.exception()
    if error is None:
        error = getattr(result, "_stored_exception", None)
    return (error if isinstance(error, BaseException) else None), False
