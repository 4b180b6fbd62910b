"""The telemetry pipeline: providers, exporter, flush and exit, set up on first need.

Nothing here runs at bootstrap: the first span (a patched call, an ``@op``) calls
``tracer()``, which builds the pipeline once. An app that already registered its own
global ``TracerProvider``/``MeterProvider`` keeps it and the agent's spans go there;
otherwise the agent registers its own, so the app's manual OpenTelemetry spans and the
agent's share one trace, until the app sets its own: from then on everything goes there
(``handoff``).

Exit is bounded: the SDK's own atexit shutdown is off, and ours flushes on a daemon
thread joined for at most ``WEAVE_AGENT_EXIT_TIMEOUT`` seconds, so a dead trace server
never holds an exiting app longer than that.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace

from .. import _log, faults
from .._version import __version__
from ..lifecycle import current_settings
from ..settings import Settings
from . import events, forks, signal_mask

SCOPE = "weave_agent"

# The GenAI metrics' bucket boundaries (the conventions' advice), where they always were.
from .genai_metrics import DURATION_BUCKETS, TOKEN_BUCKETS  # noqa: E402,F401


class Instruments:
    """The GenAI client metrics of one meter, under the names ``WEAVE_AGENT_GENAI_CONVENTIONS``
    chooses (``genai_metrics``). With metrics on, a call's points are queued as one entry
    and recorded when the reader collects (``metric_queue``), off the call path."""

    __slots__ = ("enabled", "conventions", "recorder", "_queue")

    def __init__(self, meter: metrics.Meter, enabled: bool, conventions: str | None = None) -> None:
        from . import genai_metrics

        if conventions is None:
            s = _state.settings
            conventions = s.genai_conventions if s is not None else genai_metrics.NEWEST
        self.enabled = enabled
        self.conventions = conventions
        self.recorder: Any = None
        self._queue: Any = None
        if enabled:
            from . import metric_queue

            self.recorder = genai_metrics.Recorder(meter, conventions)
            self._queue = metric_queue.DeferredHistogram(self.recorder).record
            metric_queue.after_drain(genai_metrics.flush_pending)
            metric_queue.watch(meter)

    def record_call(self, kind: str, seconds: float | None, attributes: dict[str, Any], usage: Any = None) -> None:
        """One model call: ``kind`` is ``genai_metrics.INFERENCE``, ``EMBEDDINGS``, ``DURATION``
        (its usage recorded by another span) or ``USAGE`` (that other span's part), ``seconds``
        its duration (None: recorded elsewhere), ``usage`` the provider's counts as
        ``Usage.counts()`` gives them (None: not reported)."""
        if self.enabled:
            self._queue((kind, seconds, usage), attributes)

    def record_stream(self, attributes: dict[str, Any], time_to_first_chunk: float, chunk_times: Any) -> None:
        """A stream that yielded chunks: the time to the first, and the arrival time of
        each (``perf_counter``; None when not kept): one point per gap."""
        if self.enabled:
            self._queue(("stream", time_to_first_chunk, chunk_times), attributes)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracer: trace.Tracer | None = None
        self.instruments: Instruments | None = None
        self.instruments_for: Any = None  # the global MeterProvider they were made for (None: do not follow)
        self.tracer_provider: Any = None  # ours, when we made one
        self.meter_provider: Any = None
        self.span_exporter: Any = None
        self.exporter_name = "none"
        self.settings: Settings | None = None
        self.atexit_registered = False
        self.exited_pid = 0  # the process whose exit flush ran (a forked child has its own)
        self.mp_hooked = False
        self.exit_done: threading.Event | None = None  # set when the last shutdown()'s flush ended
        self.exit_timeout = 0.0  # the timeout it was given (for the exit line)
        self.meter_stopping = False  # the meter provider's shutdown was started
        self.exiting_thread = 0  # the thread running the exit flush, while it runs
        self.deferred_signal = 0  # a SIGTERM that arrived during it (defer_signal)
        self.flush_thread: threading.Thread | None = None
        self.processor: Any = None  # export_health.CountingBatchSpanProcessor, when we made one
        self.metric_endpoint = ""
        self.metric_exporter: Any = None  # ours, when we made one (its HTTP session, after a fork)
        self.metric_guard: Any = None  # export_health.GuardedMetricExporter around it
        self.metrics_cut = ""  # why the exit's final metric export did not run, if it did not
        self.setup_thread = 0  # the thread inside _setup, while it runs (setting_up)


_state = _State()


def setting_up() -> bool:
    """Whether this thread is inside the pipeline's set-up. A post-import hook that the
    set-up's own imports fire (the OTLP exporter imports ``requests``, which arms an
    OpenTelemetry instrumentor) must not ask for the tracer: that would build a second
    pipeline inside the first. The pipeline is in place when the set-up returns."""
    return _state.setup_thread == threading.get_ident()


def tracer() -> trace.Tracer:
    """The agent's tracer; the first call sets the pipeline up."""
    if forks.pending:
        forks.settle()  # a forked child's first span: its pipeline (and resource) made its own first
    t = _state.tracer
    if t is None:
        t = _setup()
    return t


def instruments() -> Instruments:
    if forks.pending:
        forks.settle()  # a forked child's first metric point is a first use too (its own metrics file)
    i = _state.instruments
    if i is None:
        tracer()
        i = _state.instruments
        assert i is not None
    following = _state.instruments_for
    if following is not None and metrics.get_meter_provider() is not following:
        i = _follow_meter_provider()
    return i


def _follow_meter_provider() -> Instruments:
    """The app set its own MeterProvider since the agent's instruments were made: the
    agent's metrics go there from now on (points already recorded stay with ours)."""
    with _state.lock:
        provider = metrics.get_meter_provider()
        i = _state.instruments
        if provider is not _state.instruments_for or i is None:
            i = _state.instruments = Instruments(provider.get_meter(SCOPE, __version__), enabled=True)
            _state.instruments_for = provider
            _log.debug("metrics: the app set its own MeterProvider %r: the agent's metrics go there from now on",
                       provider)
        return i


def settings() -> Settings:
    s = _state.settings
    if s is None:
        tracer()
        s = _state.settings
        assert s is not None
    return s


def _service_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) and spec.name != "__main__":
        name = spec.name
        return name[: -len(".__main__")] if name.endswith(".__main__") else name
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if argv0 in ("", "-c", "-"):
        return "python"
    base = os.path.basename(argv0)
    return base[:-3] if base.endswith(".py") else base


def _resource() -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    attrs: dict[str, Any] = {"telemetry.distro.name": "weave-agent", "telemetry.distro.version": __version__}
    declared = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    s = _state.settings
    if s is not None and s.service_name:
        attrs[SERVICE_NAME] = s.service_name
    elif not declared:
        attrs[SERVICE_NAME] = _service_name()
    if s is not None and s.resolved_exporter() == "weave":
        from .destinations import weave_resource_attributes

        attrs.update(weave_resource_attributes(s))
    return Resource.create(attrs)


def build_span_exporter(s: Settings) -> tuple[str, Any]:
    """The exporter the settings choose, as ``(name, exporter or None)``."""
    name = s.resolved_exporter()
    if name == "otlp":
        if s.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            kwargs: dict[str, Any] = {}
            if s.traces_endpoint or s.endpoint:
                kwargs["endpoint"] = s.traces_endpoint or s.endpoint
            if s.headers:
                kwargs["headers"] = s.headers
            return name, GrpcExporter(**kwargs)
        # What ``requests`` imports on its first request, imported here rather than on the
        # batch processor's thread: see ``OTLPJsonFileExporter.__init__`` for the fork trap.
        import netrc  # noqa: F401
        import shlex  # noqa: F401

        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        kwargs = {}
        if s.traces_endpoint:
            kwargs["endpoint"] = s.traces_endpoint
        elif s.endpoint:
            kwargs["endpoint"] = s.endpoint.rstrip("/") + "/v1/traces"
        if s.headers:
            kwargs["headers"] = s.headers
        return name, HttpExporter(**kwargs)
    if name == "file":
        from .otlp_json import OTLPJsonFileExporter

        return name, OTLPJsonFileExporter(os.path.abspath(s.traces_dir), max_bytes=s.traces_max_bytes,
                                          folder_max_bytes=s.traces_dir_max_bytes,
                                          min_free_bytes=s.traces_min_free_bytes)
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr, not the SDK's default stdout: the app's own output (often a pipe that a
        # program reads) must stay the app's.
        return name, ConsoleSpanExporter(out=sys.stderr)
    if name == "weave":
        from .destinations import weave_exporter

        return name, weave_exporter(s)
    return "none", None


def _sampler(s: Settings) -> Any:
    if s.sample_ratio is None:
        return None  # the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    return ParentBased(TraceIdRatioBased(s.sample_ratio))


def _setup() -> trace.Tracer:
    with _state.lock:
        if _state.tracer is not None:
            return _state.tracer
        s = current_settings()
        _state.settings = s
        faults.configure(s.fault_injection)
        blocked = signal_mask.block_stop_signals()  # the SDK's threads start here: they inherit the mask
        _state.setup_thread = threading.get_ident()
        try:
            with forks.deferring_fork_hooks():  # a forked child re-initializes them on first use
                t = _setup_providers(s)
        except Exception:
            _log.error_once("telemetry-setup", "the telemetry pipeline could not be set up; spans are dropped")
            t = trace.NoOpTracer()
            _state.instruments = Instruments(metrics.NoOpMeter(SCOPE), enabled=False)
        finally:
            _state.setup_thread = 0
            signal_mask.unblock(blocked)
        _state.tracer = t
        return t


# The signal mask a fork hook set before the fork, for the hooks after it.
_fork_blocked = threading.local()


def _setup_providers(s: Settings) -> trace.Tracer:
    from opentelemetry.trace import ProxyTracerProvider

    if not s.enabled:
        _state.instruments = Instruments(metrics.NoOpMeter(SCOPE), enabled=False)
        return trace.NoOpTracer()

    provider = trace.get_tracer_provider()
    if isinstance(provider, ProxyTracerProvider):
        from . import health as export_health
        from .handoff import FollowingTracerProvider, install_tracer_provider

        # Ours holds the global place until the app sets its own provider (``handoff``).
        provider = FollowingTracerProvider(resource=_resource(), sampler=_sampler(s), shutdown_on_exit=False)
        name, exporter = build_span_exporter(s)
        if exporter is not None:
            # Export failures are logged once per kind, an exporter that raises is
            # contained, and spans lost to a full queue are counted (export_health).
            # The model calls' cost is added on the exporting thread (``cost``).
            inner = exporter
            if s.pricing:
                from .cost import PricingSpanExporter

                inner = PricingSpanExporter(exporter)
            guarded = export_health.GuardedSpanExporter(inner, _describe(exporter).strip(" ()") or name)
            _state.processor = export_health.CountingBatchSpanProcessor(guarded)
            provider.add_span_processor(_state.processor)
        _state.tracer_provider, _state.span_exporter, _state.exporter_name = provider, exporter, name
        if install_tracer_provider(provider):
            _log.debug("tracing: exporter %s%s", name, _describe(exporter))
        else:  # the app set its own meanwhile (another thread): ours never served
            provider.shutdown()
            _state.tracer_provider = _state.span_exporter = _state.processor = None
            _state.exporter_name = "none"
            provider = trace.get_tracer_provider()
    if _state.tracer_provider is None:
        _log.debug("tracing: the app's own TracerProvider %r receives the spans", provider)

    meter_provider: Any = metrics.get_meter_provider()
    metrics_on = True
    if type(meter_provider).__name__ == "_ProxyMeterProvider":
        from .handoff import install_meter_provider

        ours = _own_meter_provider(s)
        if ours is None:
            metrics_on, meter_provider = False, None
        elif install_meter_provider(ours):
            _state.meter_provider = meter_provider = ours
        else:  # the app set its own meanwhile
            ours.shutdown()
            _state.metric_exporter = _state.metric_guard = None
            meter_provider = metrics.get_meter_provider()
    meter = meter_provider.get_meter(SCOPE, __version__) if meter_provider is not None else metrics.NoOpMeter(SCOPE)
    _state.instruments = Instruments(meter, enabled=metrics_on)
    # The global MeterProvider the instruments were made for: one the app sets later
    # takes the agent's metrics from then on (``instruments()``).
    _state.instruments_for = metrics.get_meter_provider()
    if _state.processor is not None:
        from . import health as export_health

        _state.processor.use_meter(meter)
        export_health.install_log_filter(
            {"trace": _describe(_state.span_exporter).strip(" ()"), "metric": _state.metric_endpoint}
        )
    _register_exit()
    return provider.get_tracer(SCOPE, __version__)


def _describe(exporter: Any) -> str:
    endpoint = getattr(exporter, "_endpoint", None) or getattr(exporter, "directory", None)
    return " (%s)" % endpoint if endpoint else ""


def _own_meter_provider(s: Settings) -> Any:
    """Metrics go where spans go when that is OTLP, the console or the local files
    (``metrics-<time>-<pid>.jsonl`` beside the traces file); elsewhere they are off."""
    name = s.resolved_exporter()
    if name not in ("otlp", "console", "file"):
        return None
    if os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
        return None  # the standard switch, for trace servers that take no metrics (Phoenix)
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if name == "file":
        from .metrics_file import OTLPJsonMetricExporter

        exporter: Any = OTLPJsonMetricExporter(os.path.abspath(s.traces_dir), max_bytes=s.traces_max_bytes,
                                               folder_max_bytes=s.traces_dir_max_bytes,
                                               min_free_bytes=s.traces_min_free_bytes)
    elif name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        exporter = ConsoleMetricExporter(out=sys.stderr)
    elif s.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        exporter = GrpcMetricExporter(endpoint=s.endpoint, headers=s.headers) if s.endpoint else GrpcMetricExporter(headers=s.headers)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

        kwargs: dict[str, Any] = {"headers": s.headers} if s.headers else {}
        if s.endpoint:
            kwargs["endpoint"] = s.endpoint.rstrip("/") + "/v1/metrics"
        exporter = HttpMetricExporter(**kwargs)
    _state.metric_endpoint = str(getattr(exporter, "_endpoint", "") or "")
    _state.metric_exporter = exporter
    from .health import GuardedMetricExporter

    _state.metric_guard = GuardedMetricExporter(exporter, _state.metric_endpoint or name)
    reader = PeriodicExportingMetricReader(_state.metric_guard)
    return MeterProvider(resource=_resource(), metric_readers=[reader], shutdown_on_exit=False)


def use_providers(tracer_provider: Any, meter_provider: Any = None, logger_provider: Any = None) -> None:
    """Send the agent's spans (and metrics, and GenAI events) to these providers from now on
    (tests, embedding); without a logger provider, GenAI events go nowhere."""
    with _state.lock:
        if _state.settings is None:
            _state.settings = current_settings()
        faults.configure(_state.settings.fault_injection)
        _state.tracer = tracer_provider.get_tracer(SCOPE, __version__)
        meter = meter_provider.get_meter(SCOPE, __version__) if meter_provider is not None else metrics.NoOpMeter(SCOPE)
        _state.instruments = Instruments(meter, enabled=meter_provider is not None)
        _state.instruments_for = None  # these, whatever the global provider
        events.use(logger_provider)


def reset() -> None:
    """Forget the pipeline (tests): the next span sets it up again."""
    with _state.lock:
        _state.tracer = None
        _state.instruments = None
        _state.instruments_for = None
        _state.settings = None
        faults.configure(False)
    events.reset()


# --- flush, shutdown and exit ----------------------------------------------------------


def _providers() -> list[Any]:
    """The agent's own providers and the global ones (the app's, set before or after ours)."""
    found = []
    for p in (_state.tracer_provider, trace.get_tracer_provider(), _state.meter_provider, metrics.get_meter_provider(),
              events.provider()):
        if p is not None and hasattr(p, "force_flush") and p not in found:
            found.append(p)
    return found


def flush(timeout: float = 5.0) -> bool:
    """Export every finished span now; True if it all went out within ``timeout`` seconds."""
    ok = True
    deadline = time.monotonic() + timeout
    forks.settle()
    for p in _providers():
        remaining = max(0.0, deadline - time.monotonic())
        try:
            ok = bool(p.force_flush(int(remaining * 1000))) and ok
        except Exception:
            _log.warn_once("flush", "flush failed", exc_info=True)
            ok = False
    return ok


def flush_spans() -> None:
    """Export the finished spans of the agent's own provider now (a multiprocessing pool
    worker, before it sends a result), holding the caller at most the exit timeout."""
    provider = _state.tracer_provider
    if provider is None or forks.pending:
        return  # (a forked child that made no span has none to flush)
    previous = _state.flush_thread
    if previous is not None and previous.is_alive():
        return  # a slow exporter is still at it: do not stack flushes
    worker = threading.Thread(target=provider.force_flush, name="weave-agent-flush", daemon=True)
    _state.flush_thread = worker
    blocked = signal_mask.block_stop_signals()
    try:
        worker.start()
    finally:
        signal_mask.unblock(blocked)
    worker.join((_state.settings or current_settings()).exit_timeout)


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop the agent's own providers, holding the caller at most ``timeout``
    seconds (default ``WEAVE_AGENT_EXIT_TIMEOUT``). The app's own providers are left alone.

    Runs on the calling thread and starts none: CPython 3.12+ refuses to start a thread
    once the interpreter is shutting down (``atexit``), and a flush that needed one lost
    every span there. The exports themselves run on the threads the SDK started with the
    pipeline (the batch processor's worker, the metric reader's); this thread wakes them
    and waits, each wait bounded by what is left of one deadline. True when every span
    was delivered.
    """
    if timeout is None:
        timeout = (_state.settings or current_settings()).exit_timeout
    deadline = time.monotonic() + max(0.0, timeout)
    done = threading.Event()
    _state.exit_done, _state.exit_timeout = done, timeout
    try:
        return _stop_exporting(deadline)
    finally:
        done.set()


def _stop_exporting(deadline: float) -> bool:
    """Wake the exporting threads and wait for them until ``deadline``; True when every
    span was delivered. (A SIGTERM during this wait is held until it ends: see
    ``defer_signal``.)
    """
    ok = True
    processor = _state.processor
    if processor is not None:
        processor.shutdown(timeout_millis=_millis_left(deadline))
        ok = not any(t.is_alive() for t in processor.worker_threads()) and processor.undelivered() == 0
    provider = _state.tracer_provider
    if provider is not None:
        try:
            provider.shutdown()  # its processor is shut down already: returns at once
        except Exception as exc:
            ok = False
            _log.warning("shutting down the %s failed: %s: %s", type(provider).__name__, type(exc).__name__, exc)
    meter_provider = _state.meter_provider
    if meter_provider is not None and not _state.meter_stopping:
        _state.meter_stopping = True
        try:
            meter_provider.shutdown(timeout_millis=_millis_left(deadline))
        except Exception as exc:
            # The SDK raises when the final collection could not run in time: the
            # points since the last export are lost (said by the exit line).
            ok = False
            _state.metrics_cut = "the final export did not run within %.1f s (WEAVE_AGENT_EXIT_TIMEOUT)" % (
                _state.exit_timeout)
            _log.debug("meter provider shutdown: %s", exc)
    events.shutdown(_millis_left(deadline))  # GenAI event records (not counted by the exit line)
    return ok


def _millis_left(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


def _register_exit() -> None:
    if not _state.atexit_registered:
        _state.atexit_registered = True
        atexit.register(_at_exit)
        if hasattr(os, "register_at_fork"):
            # Stop signals are blocked across the fork: one that arrives meanwhile waits
            # until the child is consistent. Nothing else happens in the fork: the child
            # re-initializes the pipeline at its first use of it (``forks``).
            os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
            forks.on_first_use_in_child(_own_http_connections)
        _hook_multiprocessing()
        from .. import runtimes

        runtimes.pipeline_ready()  # a server that forks its own way (uWSGI)
    _flush_at_worker_end()


# multiprocessing's fork and forkserver workers end with ``os._exit()``: ``atexit`` never
# runs there. Each worker runs multiprocessing's own finalizers as it ends (its
# ``Process._bootstrap`` calls ``util._exit_function()``) after clearing the inherited ones
# and calling its after-fork hooks; the hooks below add a finalizer that flushes. Nothing
# is imported: they act only where multiprocessing already is.


def _before_fork() -> None:
    _fork_blocked.signals = signal_mask.block_stop_signals()


def _after_fork_in_parent() -> None:
    signal_mask.unblock(getattr(_fork_blocked, "signals", None))
    _fork_blocked.signals = None


def _after_fork_in_child() -> None:
    """Inside ``fork``, in the child: nothing that may yield to an event loop (gevent runs
    other greenlets in a child that has not exec'd yet, and they fork again), so no thread
    starts and no I/O; the rest waits for the child's first use (``forks.settle``)."""
    _after_fork_in_parent()
    _hook_multiprocessing()


def _own_http_connections() -> None:
    """A forked child must not export over the keep-alive connections it inherited: parent
    and child would write requests on one socket and read each other's answers, and one
    request left hanging (a child killed mid-export) would hold the other's up to its
    timeout. The child gets copies of the OTLP/HTTP sessions with fresh connection pools
    (``copy`` of a ``requests`` adapter rebuilds its pool, taking no lock a thread of the
    parent may have held); the inherited sockets stay the parent's."""
    import copy

    for exporter in (_state.span_exporter, _state.metric_exporter):
        # ``exporter._session`` in older SDKs, ``exporter._client._transport._session`` in newer ones.
        holders: tuple[Any, ...] = (exporter, getattr(getattr(exporter, "_client", None), "_transport", None))
        for holder in holders:
            session: Any = getattr(holder, "_session", None)
            adapters = getattr(session, "adapters", None)
            if not isinstance(adapters, dict):
                continue
            try:
                fresh = copy.copy(session)
                fresh.adapters = type(adapters)((prefix, copy.copy(a)) for prefix, a in adapters.items())
                holder._session = fresh
            except Exception:
                pass


def _hook_multiprocessing() -> None:
    """Every multiprocessing worker started from here on flushes as it ends."""
    util = sys.modules.get("multiprocessing.util")
    if util is None or _state.mp_hooked:
        return
    try:
        util.register_after_fork(_state, _worker_started)
        _state.mp_hooked = True
    except Exception:
        pass


def _worker_started(_obj: object = None) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        try:
            # Lowest priority: after the worker's own finalizers and its children joined.
            util.Finalize(None, _at_exit, exitpriority=-1000)
        except Exception:
            pass


def _flush_at_worker_end() -> None:
    """The pipeline was set up inside a running multiprocessing worker."""
    process = sys.modules.get("multiprocessing.process")
    try:
        if process is not None and process.parent_process() is not None:
            _worker_started()
    except Exception:
        pass


# Run by the exit flush before the providers shut down. A stage that holds spans open
# (the stream proxies: a stream still open at exit ends with what it had) registers how
# to end them here, so that the pipeline never imports the stages that feed it.
_before_exit: list[Callable[[], object]] = []


def before_exit(callback: Callable[[], object]) -> None:
    """Have the exit flush call ``callback()`` first, once per registration."""
    if callback not in _before_exit:
        _before_exit.append(callback)


def _at_exit() -> None:
    """The exit flush: once per process (a worker's finalizer, then ``atexit``)."""
    if forks.pending:
        return  # a forked child that never used the pipeline: what it inherited is its parent's
    pid = os.getpid()
    if _state.exited_pid == pid and _state.exit_done is not None:
        return  # a second call (a worker's finalizer, then atexit): once is enough
    _state.exiting_thread = threading.get_ident()
    if _state.exited_pid != pid:
        _state.exited_pid = pid
        _state.exit_done = None  # (one inherited through fork is the parent's)
        _state.meter_stopping = False
    try:
        for callback in tuple(_before_exit):
            callback()  # e.g. streams still open at exit end with what they had
        shutdown()
        from .health import report_drops

        report_drops(_state.processor)
        _summary()
        _keep_ctrl_c_exit_status()
    except Exception as exc:
        # The interpreter is going away: one line, never a traceback (debug adds it).
        _log.warning("the exit flush failed (%s: %s); spans not yet exported are lost", type(exc).__name__, exc)
        if _log.debug_enabled():
            import traceback

            traceback.print_exc()
    finally:
        _state.exiting_thread = 0
        signum, _state.deferred_signal = _state.deferred_signal, 0
        if signum:
            _raise_deferred(signum)


def defer_signal(signum: int) -> bool:
    """Called by the agent's SIGTERM handler: True when this thread is in the middle of
    the exit flush, which then takes the signal's default action itself once it is done.

    The handler runs on the thread it interrupts. Waiting there for the flush it
    interrupted would wait on itself (a ``join()`` cut short holds the lock a second
    ``join()`` needs; an event being set holds its condition): so the handler returns at
    once, the interrupted flush goes on within its deadline, and the signal is raised
    again after it, keeping the exit status "terminated by SIGTERM".
    """
    if _state.exiting_thread != threading.get_ident() or _state.exited_pid != os.getpid():
        return False
    _state.deferred_signal = signum
    return True


def _raise_deferred(signum: int) -> None:
    import signal

    try:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def _keep_ctrl_c_exit_status() -> None:
    """An app ended by an unhandled Ctrl-C exits "killed by SIGINT". CPython before 3.14
    (gh-128130) forgets that whenever a string is ``eval``'d/``exec``'d during exit, as the
    lazy imports of a first export do (``namedtuple``), and the app would exit 1. Remember
    it again the only way there is: an ``eval`` that ends in ``KeyboardInterrupt``."""
    if getattr(sys, "last_type", None) is not KeyboardInterrupt or hasattr(sys, "ps1"):
        return  # not ending on Ctrl-C (or an interactive session, whose last_* are older)
    try:
        eval("_raise()", {"_raise": _raise_keyboard_interrupt})
    except KeyboardInterrupt:
        pass


def _plural(n: int, word: str) -> str:
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def _summary() -> None:
    """The exit lines: where the spans went, and what could not be delivered and why.

    Success is one line, silenced by ``WEAVE_AGENT_QUIET``; a loss is a warning, never
    silenced. The console exporter prints the spans themselves and says nothing more.
    """
    s = _state.settings
    processor = _state.processor
    if s is None or processor is None or _state.exporter_name == "console":
        return
    exporter = getattr(processor, "_batch_processor", None)
    guarded = getattr(exporter, "_exporter", None)
    delivered = int(getattr(guarded, "delivered", 0))
    lost = processor.undelivered()
    if _state.exporter_name == "file":
        inner = _state.span_exporter
        written = int(getattr(inner, "spans_written", 0))
        if written and not s.quiet:
            paths = inner.paths
            where = paths[-1] if len(paths) == 1 else inner.directory
            rel = os.path.relpath(where)
            where = where if rel.startswith("..") else rel
            import shlex

            sys.stderr.write(
                "weave-agent: %s written to %s; view them with: weave-run show %s\n"
                % (_plural(written, "span"), where, shlex.quote(where))
            )
        destination = "the traces folder %s" % getattr(inner, "directory", s.traces_dir)
    else:
        destination = getattr(guarded, "endpoint", "") or _state.exporter_name
        if delivered and not lost and not s.quiet:
            sys.stderr.write("weave-agent: %s sent to %s\n" % (_plural(delivered, "span"), destination))
    what = ["%d of %s" % (lost, _plural(lost + delivered, "span"))] if lost else []
    reasons = []
    if lost:
        from .health import installed_filter

        flt = installed_filter()
        reason = getattr(guarded, "last_failure", "") or (flt.last.get("trace", "") if flt is not None else "")
        if any(t.is_alive() for t in processor.worker_threads()):
            reason = "the export did not finish within %.1f s (WEAVE_AGENT_EXIT_TIMEOUT)%s" % (
                s.exit_timeout, "; last failure: " + reason if reason else "")
        reasons.append(reason or "the exporter reported a failure")
    guard = _state.metric_guard
    if guard is not None and (guard.failed or _state.metrics_cut):
        # Metric points lost: counted when an export failed, uncounted when the final
        # collection never ran (the SDK does not say how many points it held).
        if guard.failed:
            what.append(_plural(int(guard.failed), "metric point"))
            if guard.last_failure and guard.last_failure not in " ".join(reasons):
                reasons.append("metrics: " + guard.last_failure)
        if _state.metrics_cut:
            what.append("the metric points recorded since the last export")
            if not lost:
                reasons.append(_state.metrics_cut)
    if what:
        _log.warning("%s could not be delivered to %s: %s", " and ".join(what), destination, "; ".join(reasons))
