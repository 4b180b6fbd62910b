"""SIGTERM and SIGINT kept away from the threads the agent starts.

The SDK's batch processor and metric reader, the exit flush, the event processor and
whatever an exporter starts from them are created with these signals blocked, so their
threads inherit the mask. The agent's SIGTERM handler is Python code, which runs only in
the main thread: a signal taken by another thread does not interrupt the main thread's
blocking call, and a process blocked on a lock would never end (a multiprocessing pool
worker waiting on its queue when the pool is terminated). With the signals blocked in the
agent's threads, the kernel delivers them to the main thread, as in the app without the
agent. Its own module because the fork hooks (``forks``) use it too and must not import
the pipeline.
"""

from __future__ import annotations

from typing import Any

STOP_SIGNALS = ("SIGTERM", "SIGINT")


def block_stop_signals() -> Any:
    """Block SIGTERM/SIGINT in this thread; returns what to pass to ``unblock``."""
    try:
        import signal

        wanted = {getattr(signal, name) for name in STOP_SIGNALS}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
        return wanted - set(previous)
    except (AttributeError, ValueError, OSError):
        return None  # no pthread_sigmask on this platform


def unblock(blocked: Any) -> None:
    """Undo ``block_stop_signals`` (only what it blocked)."""
    if blocked:
        try:
            import signal

            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        except (AttributeError, ValueError, OSError):
            pass
