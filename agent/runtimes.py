"""Pools and servers that run the app's processes their own way, and what the agent does there.

``os._exit()`` ends a process without ``atexit`` or any finalizer: spans still queued are
lost, and nothing can say so. billiard (Celery's prefork pool) ends every pool worker that
way, from ``Worker._do_exit``: after its task limit (``maxtasksperchild``,
``--max-tasks-per-child``), when the pool closes, at a warm shutdown. Its finalizers never
run, so the exit flush runs there, just before. (multiprocessing's workers run its
finalizers before their ``os._exit``: ``telemetry`` adds one that flushes.)

uWSGI ends a worker with Python's ``atexit`` only when it tears the interpreter down
(not with ``--skip-atexit-teardown``), but calls ``uwsgi.atexit`` before: the exit flush
runs there. It forks its workers without Python's fork hooks (unless ``--py-call-osafterfork``):
a pipeline set up in the master, by a traced call while the app loads (no
``--lazy-apps``), would reach the workers unaware of the fork: threads that are not
there, the master's connections, the master's exit state. Once the pipeline exists in a
uWSGI process, its post-fork hook tells ``forks`` instead. Without Python threads (uWSGI
before 2.0.27 without ``--enable-threads``) nothing exports until a worker ends: one line
says to add the option.

Nothing here imports the pool or the server: each hook arms when the app imports it
(``when_imported``) or when the pipeline is set up, and the bootstrap imports nothing but
this module.
"""

from __future__ import annotations

import sys


def watch() -> None:
    """Arm the hooks (at start; each acts when the app imports its pool)."""
    from .hook.importhook import when_imported

    when_imported("billiard.pool", _flush_before_billiard_workers_exit)
    when_imported("uwsgidecorators", _first_in_uwsgi_postfork_chain)


def pipeline_ready() -> None:
    """Called once the pipeline is set up in this process."""
    uwsgi = sys.modules.get("uwsgi")  # uWSGI's embedded module, in its processes only
    if uwsgi is None:
        return
    if not getattr(uwsgi, "has_threads", True):
        from . import _log

        _log.warn_once("uwsgi-threads", "uWSGI runs Python without threads here: spans are exported only when "
                       "a worker ends; add --enable-threads to the uwsgi options")
    exit_hook = getattr(uwsgi, "atexit", None)
    if not getattr(exit_hook, "_weave_agent_flushes", False):

        def atexit() -> None:
            flush_before_os_exit()
            if exit_hook is not None:
                exit_hook()

        atexit._weave_agent_flushes = True  # type: ignore[attr-defined]
        uwsgi.atexit = atexit  # type: ignore[attr-defined]
    decorators = sys.modules.get("uwsgidecorators")
    previous = getattr(uwsgi, "post_fork_hook", None)
    if decorators is not None and previous is getattr(decorators, "postfork_chain_hook", None):
        _first_in_uwsgi_postfork_chain(decorators)
    elif previous is None or not getattr(previous, "_weave_agent_forks", False):

        def post_fork_hook() -> None:
            _after_uwsgi_fork()
            if previous is not None:
                previous()

        post_fork_hook._weave_agent_forks = True  # type: ignore[attr-defined]
        uwsgi.post_fork_hook = post_fork_hook  # type: ignore[attr-defined]


def _after_uwsgi_fork() -> None:
    forks = sys.modules.get("weave_agent.export.forks")
    if forks is not None:
        forks.forked_without_hooks()


def _first_in_uwsgi_postfork_chain(decorators: object) -> None:
    """``uwsgidecorators`` replaces ``uwsgi.post_fork_hook`` with its chain: be first in it,
    before the app's ``@postfork`` functions (which may trace)."""
    chain = getattr(decorators, "postfork_chain", None)
    if isinstance(chain, list) and _after_uwsgi_fork not in chain:
        chain.insert(0, _after_uwsgi_fork)


def flush_before_os_exit() -> None:
    """The exit flush, now, in a process about to end with ``os._exit``: once per process,
    bounded by ``WEAVE_AGENT_EXIT_TIMEOUT``; nothing when the pipeline was never set up."""
    telemetry = sys.modules.get("weave_agent.export.telemetry")
    if telemetry is None:
        return
    try:
        telemetry._at_exit()
        sys.stderr.flush()  # its exit lines: nothing flushes buffers after os._exit
    except Exception:
        pass


def _flush_before_billiard_workers_exit(module: object) -> None:
    worker = getattr(module, "Worker", None)
    do_exit = getattr(worker, "_do_exit", None)
    if worker is None or do_exit is None or getattr(do_exit, "_weave_agent_flushes", False):
        return
    import functools

    @functools.wraps(do_exit)
    def _do_exit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        flush_before_os_exit()
        return do_exit(self, *args, **kwargs)

    _do_exit._weave_agent_flushes = True  # type: ignore[attr-defined]
    worker._do_exit = _do_exit  # type: ignore[attr-defined]
