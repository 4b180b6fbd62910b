"""Histogram points recorded off the call path.

The OpenTelemetry SDK's ``Histogram.record`` cleans, hashes and sorts the attributes of
every point (about 7 µs each); a GenAI call makes up to eight (duration, the token
counters and histograms), and a stream one more per chunk. Here ``record`` only appends
to a queue (``genai_metrics`` queues one entry per call, which becomes its points there);
the points reach the SDK's instruments when a metric reader collects (an observable
instrument's callback runs at the start of every collection, before the instruments are
read), so every export, ``flush()`` and shutdown sees them all.

Nothing is lost and memory stays bounded: past ``MAX_PENDING`` entries (a reader that
never collects, such as a Prometheus endpoint nobody scrapes) the caller that crosses the
bound records the queue itself. The exemplar filter sees the collecting thread's context,
so points carry no exemplar of the call's span (the agent's spans are the exemplars).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

MAX_PENDING = 4096

_pending: deque[tuple[Any, Any, Any]] = deque()
# Called at the end of every drain: a recorder that merged the points of a drain (counter
# increments summed per series) hands the SDK the sums then.
_after_drain: list[Callable[[], None]] = []

if hasattr(os, "register_at_fork"):
    # A forked child's queue holds its parent's calls: the parent records those.
    os.register_at_fork(after_in_child=_pending.clear)


def drain() -> None:
    """Record every queued point now (any thread; points are taken one at a time)."""
    popleft = _pending.popleft
    while True:
        try:
            histogram, value, attributes = popleft()
        except IndexError:
            break
        try:
            histogram.record(value, attributes)
        except Exception:
            pass  # one bad point must not keep the others from their histogram
    for callback in _after_drain:
        try:
            callback()
        except Exception:
            pass


def after_drain(callback: Callable[[], None]) -> None:
    """Have every drain end with ``callback()`` (registered once)."""
    if callback not in _after_drain:
        _after_drain.append(callback)


def pending() -> int:
    return len(_pending)


class DeferredHistogram:
    """``record(value, attributes)`` for one SDK histogram, queued until collection."""

    __slots__ = ("histogram",)

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram

    def record(self, value: Any, attributes: Any = None) -> None:
        _pending.append((self.histogram, value, attributes))
        if len(_pending) > MAX_PENDING:
            drain()


def _on_collect(_options: Any) -> list[Any]:
    drain()
    return []  # the callback is only the hook: it observes nothing


def watch(meter: Any) -> None:
    """Drain the queue whenever a reader of ``meter``'s provider collects."""
    meter.create_observable_gauge(
        "weave_agent.metrics.collect_hook", callbacks=[_on_collect],
        description="records the agent's queued histogram points at collection (never observes a value)",
    )
