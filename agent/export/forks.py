"""After a fork, the child re-initializes the agent's pipeline on first use, never in the fork.

The OpenTelemetry SDK's objects each register an ``os.register_at_fork`` hook that starts
threads in the child: the batch processor's worker, the metric reader's ticker, the
resource detectors' thread pool of the providers. A child that runs Python between
``fork`` and ``exec`` (``subprocess`` under gevent) runs those hooks first, and starting a
thread there yields to the event loop: the parent's other greenlets run in the child, and
the ones that start a subprocess fork again. Ten greenlets making their first OpenAI call
(the SDK runs ``uname -p``) started a thousand processes.

So the SDK objects the agent creates are created inside ``deferring_fork_hooks()``, which
keeps their child hooks here instead of handing them to ``os``. A fork only marks the
child (``pending``); the child runs the kept hooks, after the agent's own
(``on_first_use_in_child``), the first time it uses the pipeline: a span starts or ends,
a flush (``settle``). A child that execs, or never traces, runs none of them. What runs in
the fork itself only sets flags and makes locks, which never yields.

A runtime that forks without running Python's fork hooks at all (uWSGI's workers, unless
``--py-call-osafterfork``) calls ``forked_without_hooks()`` in the child instead: it runs
the agent's own child hooks, which ``deferring_fork_hooks()`` noted as they were
registered.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import signal_mask

# The SDK's hooks, in the order they were registered (their objects are held weakly by
# the hooks themselves), and the agent's own callbacks, run before them.
_deferred: list[Callable[[], object]] = []
_first_use: list[Callable[[], object]] = []
# The other child hooks registered while the pipeline was set up (the agent's own, and
# those of modules it imported then), handed to ``os`` and noted for forked_without_hooks.
_setup_child_hooks: list[Callable[[], object]] = []

pending = False  # this process is a forked child that has not settled yet
_forked_pid = 0  # the child whose fork hook ran
_settle_lock = threading.RLock()
_capture_lock = threading.RLock()
_capturing = 0  # the thread creating SDK objects inside deferring_fork_hooks()
_settling = 0  # the thread running settle() (a hook that traces must not re-enter it)
_registered = False


def _forked() -> None:
    """In the child, inside ``fork``: only flags and fresh locks (nothing here may yield)."""
    global pending, _settle_lock, _capture_lock, _capturing, _settling, _forked_pid
    _forked_pid = os.getpid()
    pending = bool(_deferred or _first_use)
    _settle_lock = threading.RLock()
    _capture_lock = threading.RLock()
    _capturing = _settling = 0


def _register() -> None:
    global _registered
    if not _registered and hasattr(os, "register_at_fork"):
        _registered = True
        os.register_at_fork(after_in_child=_forked)


@contextmanager
def deferring_fork_hooks() -> Iterator[None]:
    """Create the pipeline's SDK objects inside this block: the after-fork hooks they
    register run at the child's first use of the pipeline instead of in the fork.

    Only what this thread registers, with ``after_in_child`` alone, from the
    OpenTelemetry SDK's modules is kept; everything else (a module imported meanwhile, an
    app's own hook, another thread) goes to ``os`` as usual (this thread's child hooks
    also noted for ``forked_without_hooks``).
    """
    global _capturing
    real = getattr(os, "register_at_fork", None)
    if real is None:
        yield
        return

    def register_at_fork(**hooks: Any) -> None:
        child = hooks.get("after_in_child")
        module = str(getattr(child, "__module__", ""))
        if threading.get_ident() == _capturing and child is not None:
            if set(hooks) == {"after_in_child"} and module.startswith("opentelemetry.sdk"):
                _deferred.append(child)
                return
            _setup_child_hooks.append(child)
        real(**hooks)

    with _capture_lock:
        _register()
        outer, outer_thread = os.register_at_fork, _capturing
        _capturing = threading.get_ident()
        os.register_at_fork = register_at_fork  # type: ignore[assignment]
        try:
            yield
        finally:
            os.register_at_fork = outer
            _capturing = outer_thread


def forked_without_hooks() -> None:
    """Called in a child that its runtime forked without Python's fork hooks (uWSGI's
    post-fork hook): run the ones registered while the pipeline was set up, once; nothing
    when Python ran them."""
    if _forked_pid == os.getpid():
        return
    _forked()
    for hook in tuple(_setup_child_hooks):
        try:
            hook()
        except Exception:
            pass


def on_first_use_in_child(callback: Callable[[], object]) -> None:
    """Have ``settle()`` call ``callback()`` in each forked child, before the SDK's hooks."""
    if callback not in _first_use:
        _first_use.append(callback)
    _register()


def settle() -> None:
    """Re-initialize what the fork left behind, once per child, before its first use of
    the pipeline (cheap when there is nothing to do: one flag)."""
    global pending, _settling
    if not pending or _settling == threading.get_ident():
        return
    with _settle_lock:
        if not pending:
            return
        _settling = threading.get_ident()
        blocked = signal_mask.block_stop_signals()  # the threads started here inherit the mask
        try:
            for callback in (*_first_use, *_deferred):
                try:
                    callback()
                except Exception:
                    pass  # one object that cannot re-initialize must not keep the others from it
        finally:
            signal_mask.unblock(blocked)
            pending = False
            _settling = 0


