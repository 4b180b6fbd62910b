"""DSPy: the caller's context in ``dspy.Parallel``'s worker threads.

``Module.batch``, ``dspy.Parallel`` and ``dspy.Evaluate`` run each item through
``ParallelExecutor._execute_parallel(function, data)`` on a ``ThreadPoolExecutor``, whose
threads start with an empty context: DSPy carries its own settings across by hand, and
without this each item's module span would start a trace of its own instead of nesting
under the module (or the app's span) that asked for the batch. The function each worker
runs is wrapped to attach the OpenTelemetry context current when ``_execute_parallel``
was called, and to detach it when the item is done.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context


def _in_context(function: Any, ctx: Any) -> Any:
    def run(item: Any) -> Any:
        token = otel_context.attach(ctx)
        try:
            return function(item)
        finally:
            otel_context.detach(token)

    return run


def wrap_execute_parallel(original: Any) -> Any:
    """``make_new_value`` for ``ParallelExecutor._execute_parallel(self, function, data)``."""
    import functools

    @functools.wraps(original)
    def execute_parallel(self: Any, function: Any, data: Any) -> Any:
        return original(self, _in_context(function, otel_context.get_current()), data)

    return execute_parallel
