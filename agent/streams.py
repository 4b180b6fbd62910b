"""Stream proxies and accumulators, for instrumentations whose streams need more than ``Accumulator``.

A documented public name kept at the top of the package; the code lives in
``weave_agent.tracing.streams``.
"""

from .tracing.streams import (  # noqa: F401
    BATCH,
    CLOSED,
    ERROR,
    EXHAUSTED,
    EXITED,
    GARBAGE_COLLECTED,
    INTERPRETER_EXIT,
    Accumulator,
    AsyncGeneratorProxy,
    AsyncManagerProxy,
    AsyncStreamProxy,
    ClosingProxy,
    GeneratorProxy,
    ManagerProxy,
    StreamProxy,
    StreamState,
    attach,
    end_all_open,
    looks_like_stream,
    open_count,
    wrap,
    wrap_generator,
)

__all__ = [
    "Accumulator",
    "AsyncGeneratorProxy",
    "AsyncManagerProxy",
    "AsyncStreamProxy",
    "BATCH",
    "CLOSED",
    "ClosingProxy",
    "ERROR",
    "EXHAUSTED",
    "EXITED",
    "GARBAGE_COLLECTED",
    "GeneratorProxy",
    "INTERPRETER_EXIT",
    "ManagerProxy",
    "StreamProxy",
    "StreamState",
    "attach",
    "end_all_open",
    "looks_like_stream",
    "open_count",
    "wrap",
    "wrap_generator",
]
