"""Starting the agent once: ``init()`` from code and ``bootstrap()`` from the shim.

Both paths end in the same place, guarded by one flag, so the launcher plus an explicit
``weave_agent.init()`` (or a nested ``weave-run``) is a no-op the second time rather than a
second pipeline.
"""

from __future__ import annotations

import sys
from _thread import allocate_lock

from . import _log

if False:  # typing only
    from .settings import Settings

_lock = allocate_lock()
_settings: Settings | None = None


def current_settings() -> Settings:
    """The settings the agent started with, or the environment's if it has not started."""
    if _settings is not None:
        return _settings
    from .settings import Settings

    return Settings.load()


def started() -> bool:
    return _settings is not None


def init(**settings: object) -> bool:
    """Start the agent in this process: install the import hook and arm every enabled
    instrumentation. Keyword arguments override the environment (see ``weave-run --help``
    for the names). Returns False when it was already started or is disabled."""
    return _start(settings, include_entry_points=True)


def bootstrap(shim_dir: str | None = None) -> bool:
    """Called by the ``sitecustomize`` shim: like ``init()`` with the environment only.

    Entry points are not scanned here (milliseconds on every process start); ``weave-run``
    scans them before it starts the app and passes the rows in
    ``WEAVE_AGENT_ENTRY_POINTS``. With ``WEAVE_AGENT_CHILDREN=false`` the shim folder is
    taken off ``PYTHONPATH`` so that child processes start without the agent.
    """
    import os

    if shim_dir is not None and os.environ.get("WEAVE_AGENT_CHILDREN", "").strip().lower() in ("0", "false", "no", "off"):
        parts = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        kept = [p for p in parts if not (p and os.path.abspath(p) == shim_dir)]  # the user's "" entries stay
        if any(kept):
            os.environ["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            os.environ.pop("PYTHONPATH", None)
    _register_entry_point_rows(os.environ.get("WEAVE_AGENT_ENTRY_POINTS", ""))
    return _start({}, include_entry_points=False)


def _register_entry_point_rows(encoded: str) -> None:
    """Rows scanned by ``weave-run``: ``name|triggers|module|patcher|distribution|versions;...``."""
    if not encoded:
        return
    from .hook.arming import register
    from .hook.registry import Instrumentation

    for item in encoded.split(";"):
        fields = item.split("|")
        if len(fields) != 6:
            _log.warn_once("ep-env:" + item, "ignored a malformed WEAVE_AGENT_ENTRY_POINTS row %r", item)
            continue
        name, triggers, module, patcher, distribution, versions = fields
        try:
            register(Instrumentation(name, triggers.split(","), module, distribution or None, versions or None,
                                     patcher=patcher, source="entry point"))
        except ValueError as exc:
            _log.warn_once("ep-env:" + item, "ignored WEAVE_AGENT_ENTRY_POINTS row %r: %s", item, exc)


def _start(overrides: dict[str, object], include_entry_points: bool) -> bool:
    global _settings
    from .settings import Settings

    with _lock:
        if _settings is not None:
            _log.debug("already started: this start is a no-op")
            return False
        settings = Settings.load(None, **overrides)
        if settings.debug:
            _log.set_debug(True)
        _settings = settings
    if not settings.enabled:
        _log.debug("disabled by WEAVE_AGENT_ENABLED/OTEL_SDK_DISABLED: nothing patched")
        return False
    watch_process()
    from .hook.arming import autopatch

    names = autopatch(settings, include_entry_points=include_entry_points)
    _log.debug("started; armed: %s", ", ".join(names) or "(none)")
    if settings.otel_instrumentors:
        _arm_otel_instrumentors(settings, scan=include_entry_points)
    return True


def _pipeline_for_instrumentors() -> None:
    """Before an OpenTelemetry instrumentor's ``instrument()``: the agent's pipeline in the
    global place, so that its first span is recorded. Not from inside the pipeline's own
    set-up (the OTLP exporter imports ``requests``, whose instrumentor this arms): that
    set-up is about to put it there."""
    from .export import telemetry

    if not telemetry.setting_up():
        telemetry.tracer()


_watching = False


def watch_process() -> None:
    """Once per process, whichever way the agent started (``init``, the shim, or an
    OpenTelemetry instrumentor of ours under ``opentelemetry-instrument``): the exit flush
    on SIGTERM and the runtime hooks (Celery/billiard, uWSGI) that flush before a worker's
    ``os._exit``."""
    global _watching
    with _lock:
        if _watching:
            return
        _watching = True
    _flush_on_sigterm()
    from . import runtimes

    runtimes.watch()


def _arm_otel_instrumentors(settings: Settings, scan: bool) -> None:
    """The installed OpenTelemetry instrumentors, each armed on the import of its library:
    found by ``weave-run`` (the rows it passed) or, from ``init()``, by a scan here."""
    import os

    from .hook import otel_instrumentors

    try:
        encoded = os.environ.get(otel_instrumentors.ROWS_ENV, "")
        if scan and not encoded:
            encoded = otel_instrumentors.encode(otel_instrumentors.discover(settings))
        if encoded:
            names = otel_instrumentors.arm_encoded(encoded, _pipeline_for_instrumentors)
            _log.debug("OpenTelemetry instrumentors armed: %s", ", ".join(names))
    except Exception:
        _log.error_once("otel-instrumentors", "the OpenTelemetry instrumentors could not be armed; the app runs without them")


def _flush_on_sigterm() -> None:
    """A process killed by the default SIGTERM action never runs ``atexit``: flush first.

    Installed only where SIGTERM still has its default action (an app's own handler is
    left alone, and one it installs later replaces this), from the main thread. Uses
    ``_signal`` (builtin) so that the bootstrap does not import ``signal``/``enum``. After
    the flush the default action is restored and the signal raised again, so the exit
    status stays "terminated by SIGTERM".
    """
    try:
        import _signal

        if _signal.getsignal(_signal.SIGTERM) != _signal.SIG_DFL:
            return
        _signal.signal(_signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        return  # not the main thread, or no SIGTERM on this platform
    from .hook.importhook import when_imported

    when_imported("multiprocessing.util", _watch_pool_workers)


def _on_sigterm(signum, frame):  # type: ignore[no-untyped-def]
    import _signal
    import os

    telemetry = sys.modules.get("weave_agent.export.telemetry")
    if telemetry is not None and telemetry.defer_signal(signum):
        return  # the exit flush this interrupted raises the signal again when it is done
    try:
        if telemetry is not None:
            telemetry._at_exit()
    finally:
        _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTERM)


def _watch_pool_workers(util: object) -> None:
    util.register_after_fork(_in_pool_worker, _in_pool_worker)  # type: ignore[attr-defined]


def _in_pool_worker(_obj: object = None) -> None:
    """Run by multiprocessing as each of its processes starts; acts in pool workers only.

    ``Pool.terminate()`` (leaving a ``with Pool`` block) SIGTERMs workers that may be
    blocked on the task queue's lock, which the pool holds. A Python-level handler misses a
    signal that lands just before such a wait (the C code looks again only on EINTR): the
    worker, and the pool's ``join()``, would hang forever. So a pool worker gets the
    default action back, as without the agent, and sends no result before the spans of its
    task are exported: a terminated worker has nothing left to lose.
    """
    try:
        import _signal

        pool = sys.modules.get("multiprocessing.pool")
        process = sys.modules["multiprocessing.process"].current_process()  # type: ignore[attr-defined]
        if pool is None or getattr(process, "_target", None) is not getattr(pool, "worker", None):
            return
        if _signal.getsignal(_signal.SIGTERM) is _on_sigterm:
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
        outqueue = process._args[1]  # Process(target=worker, args=(inqueue, outqueue, ...))
        put = outqueue.put

        def put_after_flush(obj):  # type: ignore[no-untyped-def]
            telemetry = sys.modules.get("weave_agent.export.telemetry")
            if telemetry is not None:
                telemetry.flush_spans()
            return put(obj)

        outqueue.put = put_after_flush
    except Exception:
        pass


def _reset_for_tests() -> None:
    global _settings
    with _lock:
        _settings = None
